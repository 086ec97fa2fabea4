// cowroot: start a session and run a command in it.
//
//   cowroot [-s FILE] [-i FILE] [-u] [-r DIR] [--cow DIR] [--] [COMMAND [ARG...]]
//   cowroot clone SRC|IMAGE DEST
//
// Accepts fakeroot's options too (-l/--lib, -f/--faked, -b, --unknown-is-real,
// --save-file?) so that scripts and fakeroot's own test suite can use it as
// their launcher.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sanitizer_log.h"
#include "../preload/core/cow.h"
#include "clone/clone.h"
#include "../preload/core/confine.h"
#include "../preload/core/exec.h"
#include "../preload/core/proto.h"
#include "../preload/core/resolve.h"
#include "images.h"
#include "launch.h"
#include "procs.h"
#include "roots.h"
#include "slots.h"
#include "../preload/core/session.h"
#include "../preload/core/session_end.h"
#include "../preload/core/state.h"

extern char** environ;

namespace cli::launch {

const char* const kVersion = "cowroot 0.1";

void usage(FILE* f) {
  fprintf(f,
          "usage: cowroot [OPTION...] [--] [COMMAND [ARG...]]   run COMMAND (default $SHELL) as fake root\n"
          "       cowroot clone SRC|IMAGE DEST                    copy-on-write clone of a tree or a cached image\n"
          "       cowroot reset [--kill] CLONE                    put a clone back to its base (--kill: first end\n"
          "                                                       what a session left running in it)\n"
          "       cowroot run [--image NAME | --base DIR] [--keep DIR] [--] CMD\n"
          "                          run CMD as root in a throwaway clone of an image (default: bookworm,\n"
          "                          built on first use) or of DIR\n"
          "       cowroot image build|refresh|path|list|rm|export|import  the image cache (cowroot image --help)\n"
          "       cowroot seal [-i STATE] DIR | verify DIR        protect a base or image (with the fake ownership saved\n"
          "                                                       in STATE) / report changes to it\n"
          "\n"
          "  -s, --save-file FILE   save the fake ownership and modes to FILE when the command ends\n"
          "  -i, --load FILE        load them from FILE first (a missing or corrupt FILE is an error)\n"
          "  -u, --unknown-is-real  files cowroot has no record of show their real owner, not root\n"
          "  -r, --root DIR         run inside DIR as if chroot'ed into it\n"
          "      --bind HOST[:INSIDE]  with -r: pass the host directory HOST through at INSIDE\n"
          "                         (default INSIDE = HOST; /dev, /proc and /sys always are; more\n"
          "                         from COWROOT_BINDS, ':'-separated PATH or INSIDE=HOST entries)\n"
          "      --cow DIR          hard-linked files under DIR are copy-on-write\n"
          "      --fakechroot       behave as `fakechroot fakeroot`: announce FAKECHROOT=true and honour\n"
          "                         FAKECHROOT_EXCLUDE_PATH, _CMD_SUBST, _ELFLOADER and _AF_UNIX_PATH\n"
          "      --timeout SECONDS  kill the command and what it started after SECONDS (exit status 124)\n"
          "      --kill-on-term     a SIGTERM to cowroot kills the command and what it started (exit\n"
          "                         status 143), instead of being passed on to the command\n"
          "  -l, --lib LIB, -f, --faked BIN, -b FD\n"
          "                         accepted for fakeroot compatibility (cowroot uses its own)\n"
          "  -h, --help             this text\n"
          "  -v, --version          the version\n");
}

long parse_timeout(const std::string& v) {
  char* end = nullptr;
  errno = 0;
  double d = strtod(v.c_str(), &end);
  if (v.empty() || *end || errno || !(d > 0) || d > 1e8)
    die("--timeout " + v + ": not a number of seconds greater than 0", 2);
  long ms = (long)(d * 1000 + 0.5);
  return ms > 0 ? ms : 1;
}

// The command's fake credentials: root, unless the environment gives
// others the way a session hands them to a new program (FAKEROOTUID,
// FAKEROOTEUID, …, FAKEROOTGID, …, COWROOT_GROUPS): the test fixture's
// RunOptions::user runs a program as another user of the root so.
Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      size_t eq = a.find('=');
      if (a.rfind("--", 0) == 0 && eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) die("option " + a + " needs a value (see cowroot --help)", 2);
      return argv[++i];
    };
    auto is = [&](const char* s, const char* l = nullptr) {
      if (a == s) return true;
      if (!l) return false;
      return a == l || a.rfind(std::string(l) + "=", 0) == 0;
    };
    if (a == "--") {
      i++;
      break;
    }
    if (a.empty() || a[0] != '-') break;
    if (is("-s", "--save-file")) o.save = value();
    else if (is("-i", "--load")) o.load = value();
    else if (is("-u", "--unknown-is-real")) o.unknown_real = true;
    else if (is("-r", "--root")) o.root = value();
    else if (is("--cow", "--cow")) o.cow = value();
    else if (is("--bind", "--bind")) o.binds.push_back(value());
    else if (is("--fakechroot")) o.fakechroot = true;
    else if (is("--timeout", "--timeout")) o.timeout_ms = parse_timeout(value());
    else if (is("--kill-on-term")) o.kill_on_term = true;
    else if (is("-l", "--lib") || is("-f", "--faked") || is("-b", "--fd-base")) value();
    else if (is("-h", "--help")) {
      usage(stdout);
      exit(0);
    } else if (is("-v", "--version")) {
      printf("%s\n", kVersion);
      exit(0);
    } else {
      fprintf(stderr, "cowroot: unknown option %s\n", a.c_str());
      usage(stderr);
      exit(2);
    }
  }
  for (; i < argc; i++) o.command.push_back(argv[i]);
  return o;
}

}  // namespace cli::launch

using namespace cli::launch;

int main(int argc, char** argv) {
  // Under `ulimit -f` a write of ours past the limit fails with EFBIG, said
  // in one line, instead of killing cowroot halfway with SIGXFSZ; the
  // command gets the signal's disposition back (run_session).
  cli::launch::ignore_xfsz();
  if (argc >= 2 && strcmp(argv[1], "clone") == 0) return cmd_clone(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "reset") == 0) return cmd_reset(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "seal") == 0) return cmd_seal(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "verify") == 0) return cmd_verify(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "run") == 0) return cmd_run(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "image") == 0) return cli::cmd_image(argc, argv);
  Options o = parse(argc, argv);
  if (getenv(cr::kEnvState) && getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "libcowroot")) {
    // Already inside a session: the command joins it, as a nested fakeroot would wish to.
    if (!o.save.empty() || !o.load.empty()) die("-s and -i cannot be used inside a cowroot session", 2);
    if (!o.binds.empty() || !o.cow.empty() || o.timeout_ms || o.fakechroot)
      die("--bind, --cow, --timeout and --fakechroot cannot be used inside a cowroot session", 2);
    // -r DIR: as chroot DIR would (the session's chroot, into DIR as this
    // process sees it: inside the session's root, when it has one).
    if (!o.root.empty()) {
      struct stat st;
      if (stat(o.root.c_str(), &st) < 0) die(o.root + ": " + strerror(errno));
      if (!S_ISDIR(st.st_mode)) die(o.root + ": not a directory");
      if (chroot(o.root.c_str()) < 0) die("cannot enter " + o.root + ": " + strerror(errno));
      if (chdir("/") < 0) die("cannot enter " + o.root + ": " + strerror(errno));
    }
    std::vector<char*> argv2;
    for (auto& a : o.command) argv2.push_back(const_cast<char*>(a.c_str()));
    if (argv2.empty()) argv2.push_back(const_cast<char*>(getenv("SHELL") ? getenv("SHELL") : "/bin/sh"));
    argv2.push_back(nullptr);
    execvp(argv2[0], argv2.data());
    die(std::string(argv2[0]) + ": " + strerror(errno), errno == ENOENT ? 127 : 126);
  }
  return run_session(o);
}
