// What the fixture's doctest suites share: the installed cowroot, an image
// cache of the run's own, a small base (tests/mkroot.sh) and cached images
// made from it without debootstrap.
#pragma once
#include <cowroot/fixture.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "common.h"

namespace fx {

using namespace test;

// Before any test: the installed cowroot, and an image cache of the run's own.
inline const bool configured = [] {
  if (const char* p = getenv("COWROOT_TEST_PREFIX")) cowroot::set_prefix(p);
  if (const char* t = getenv("TMPDIR"); t && !getenv("XDG_CACHE_HOME"))
    setenv("XDG_CACHE_HOME", (std::string(t) + "/fixture-cache").c_str(), 1);
  return true;
}();

inline std::string cowroot_cmd() { return test::cowroot(); }

inline bool quick() {
  const char* on = getenv("COWROOT_TEST_DEBOOTSTRAP");
  return on && std::string(on) == "0";
}

// The small base tests/mkroot.sh makes (the host's programs, no network).
inline std::string base() {
  static TempDir* d = [] {
    auto* t = new TempDir;
    const char* script = getenv("COWROOT_TEST_MKROOT");
    REQUIRE(script);
    auto r = sh("sh " + q(script) + " " + q(t->path + "/base") + " 2>&1");
    REQUIRE_MESSAGE(r.status == 0, r.out);
    return t;
  }();
  return d->path + "/base";
}

inline std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string image_cache() { return std::string(getenv("XDG_CACHE_HOME")) + "/cowroot/images"; }

// A cached image named `name` made from the small base: sealed, with the
// build record `cowroot image` reads (suite = the name), as a build would
// leave it. Made once per run.
inline cowroot::ImageOptions small_image(const std::string& name = "small") {
  std::string dir = image_cache() + "/" + name;
  if (!exists(dir + "/root")) {
    auto r = sh("mkdir -p " + q(dir) + " && cp -a " + q(base()) + " " + q(dir + "/root") + " && : > " +
                q(dir + "/empty.state") + " && " + cowroot_cmd() + " seal -i " + q(dir + "/empty.state") + " " +
                q(dir + "/root") + " 2>&1 && rm " + q(dir + "/empty.state"));
    REQUIRE_MESSAGE(r.status == 0, r.out);
    write_file(dir + "/info", "suite=" + name + "\nvariant=minbase\ninclude=\nmirror=http://mirror.invalid/debian\nbuilt=" +
                                  std::to_string(time(nullptr)) + "\n");
  }
  cowroot::ImageOptions o;
  o.name = name;
  return o;
}

// A process that has not ended (a zombie has).
inline bool alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) < 0) return false;
  std::string st = slurp("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = st.rfind(')');
  return paren != std::string::npos && paren + 2 < st.size() && st[paren + 2] != 'Z';
}

// Waits up to `ms` for a process to end.
inline bool ends_within(pid_t pid, int ms) {
  for (int i = 0; i < ms / 10 && alive(pid); i++) usleep(10000);
  return !alive(pid);
}

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The working directory for a while.
struct InDir {
  std::string old;
  explicit InDir(const std::string& d) {
    char buf[4096];
    REQUIRE(getcwd(buf, sizeof buf));
    old = buf;
    REQUIRE(chdir(d.c_str()) == 0);
  }
  ~InDir() {
    if (chdir(old.c_str()) != 0) { /* best effort */ }
  }
};

}  // namespace fx
