// Building an image of the cache so that nothing half-made is ever left
// (build.cc): the command that makes it runs under a guard that stops it
// and removes its directory however the builder dies (kill -9 too), builders
// of one image take turns on its lock, and the image goes into place with
// one rename. debootstrap's builds (images.cc), layers (layers.cc) and
// imports (archive.cc) are all such builds.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace cli {

// Takes the image's lock NAME.lock, waiting for it (saying so) or not:
// the descriptor, -2 when it is held and `wait` is false, or -1 with err.
// A holder removes the file before letting go: the lock of a file that is
// gone when this one gets it is no lock, and is taken again. `waited`, when
// given, says whether it had to wait.
int take_lock(const std::string& path, const std::string& name, bool wait, std::string* err, bool* waited = nullptr);

struct Build {
  std::string name;  // the image (a valid name)
  // Under the lock, before anything is made: true when there is nothing to
  // build (another builder made it meanwhile, or it is current).
  std::function<bool()> current;
  // Before the command, WORK made (optional): "" or the one-line error
  // that ends the build.
  std::function<std::string(const std::string& work)> prepare;
  // The command that makes WORK/root (WORK is NAME.build-PID in the cache,
  // made empty): run under the guard with stdin /dev/null and its output
  // on this process's stderr, /usr/sbin on its PATH.
  std::function<std::vector<std::string>(const std::string& work)> command;
  std::string banner;  // said on stderr first (without "cowroot: ")
  // Lines of the command's output that start with this are held back, not
  // shown: `failed` gets the last three (debootstrap's "E: " lines). "*":
  // every line.
  std::string held;
  // The command failed (its wait status): the one-line error.
  std::function<std::string(int status, const std::string& held_lines, const std::string& work)> failed;
  // The command succeeded: makes WORK an image (WORK/root sealed with its
  // fake state, WORK/info). "" or the one-line error.
  std::function<std::string(const std::string& work)> finish;
  std::string done;  // said on stderr at the end (without "cowroot: "); empty: nothing
  // A builder that waited for another build of the image takes that
  // build's end as its own: `done` is said when it made the image current,
  // and when there was no image and it made none (it failed or was
  // stopped, and said why), this one fails in one line instead of trying
  // again. Not for an import, which brings its own image.
  bool share_result = false;
};

// Runs the build: 0 (built, or nothing to build), or -1 with err set and
// nothing of it left. SIGINT, SIGTERM and SIGHUP stop it (nothing left) and
// then take their normal course.
int run_build(const Build& b, std::string* err);

// Removes what builds of `name` left (NAME.build-*, NAME.old-*: their
// lock is free, so none of them runs), and puts an image a refresh left
// aside back. For a holder of the image's lock.
void clear_stale_builds(const std::string& name);

// The program itself (/proc/self/exe).
std::string self_exe();

}  // namespace cli
