// Helpers shared by the suites: temporary directories, running commands,
// reading files.
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

namespace test {

struct Result {
  int status = -1;
  std::string out;  // stdout and stderr together
};

// Runs `sh -c script` and collects its output.
// `out` without the lines that are one of `notices` (a shell's notices of
// its jobs' ends, "Terminated", "Killed", which come when they come).
inline std::string without_lines(const std::string& out, std::initializer_list<const char*> notices) {
  std::string kept;
  for (size_t i = 0; i < out.size();) {
    size_t end = out.find('\n', i);
    std::string line = out.substr(i, end == std::string::npos ? std::string::npos : end - i);
    i = end == std::string::npos ? out.size() : end + 1;
    bool drop = false;
    for (const char* n : notices) drop = drop || line == n;
    if (!drop) kept += line + "\n";
  }
  return kept;
}

inline Result sh(const std::string& script) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    execl("/bin/sh", "sh", "-c", script.c_str(), (char*)nullptr);
    _exit(127);
  }
  close(p[1]);
  Result r;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) r.out.append(buf, n);
  close(p[0]);
  int st;
  waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

inline std::string prefix() {
  const char* p = getenv("COWROOT_TEST_PREFIX");
  REQUIRE_MESSAGE(p, "COWROOT_TEST_PREFIX must name an installed cowroot (run through `make test`)");
  return p;
}

inline std::string cowroot() { return prefix() + "/bin/cowroot"; }

// Single-quotes a string for the shell.
inline std::string q(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

struct TempDir {
  std::string path;
  TempDir() {
    const char* t = getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/t.XXXXXX";
    std::vector<char> b(tmpl.begin(), tmpl.end());
    b.push_back(0);
    REQUIRE(mkdtemp(b.data()));
    path = b.data();
  }
  ~TempDir() {
    // Modes inside may be anything the test set: make them removable first.
    // Directories only: a file here may be a hard link into a base (a
    // clone's), whose mode is the base's too.
    std::string cmd = "find " + q(path) + " -type d ! -perm -u=rwx -exec chmod u+rwx {} \\; 2>/dev/null; rm -rf " + q(path);
    if (system(cmd.c_str()) != 0) { /* best effort */ }
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

// Runs a script as fake root in `dir` with extra cowroot options.
inline Result in_session(const TempDir& dir, const std::string& script, const std::string& opts = "") {
  return sh("cd " + q(dir.path) + " && " + cowroot() + " " + opts + " -- sh -c " + q(script));
}

// Whether this run's install is built with a sanitizer (make test-asan):
// its programs need the runtime and its shadow memory.
inline bool sanitizer_build() {
  const char* link = getenv("COWROOT_TEST_LINK_FLAGS");
  return link && std::string(link).find("sanitize") != std::string::npos;
}

inline struct stat real_stat(const std::string& p) {
  struct stat st{};
  REQUIRE_MESSAGE(lstat(p.c_str(), &st) == 0, p);
  return st;
}

inline bool exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

inline void write_file(const std::string& p, const std::string& s) {
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, s.data(), s.size()) == (ssize_t)s.size());
  close(fd);
}

// One small root for a whole test program, from tests/mkroot.sh (the host's
// programs and libraries) with the test helper in /usr/bin: building it
// copies ~10 MB, so it is made once.
inline const TempDir& small_root() {
  static TempDir* d = [] {
    auto* t = new TempDir;
    const char* script = getenv("COWROOT_TEST_MKROOT");
    REQUIRE_MESSAGE(script, "COWROOT_TEST_MKROOT must name tests/mkroot.sh (run through `make test`)");
    auto r = sh("sh " + q(script) + " " + q(t->path + "/root") + " 2>&1");
    REQUIRE_MESSAGE(r.status == 0, r.out);
    std::string helper = std::string(script).substr(0, std::string(script).rfind('/')) + "/helper";
    REQUIRE(sh("cp " + q(helper) + " " + q(t->path + "/root/usr/bin/helper")).status == 0);
    return t;
  }();
  return *d;
}

// A suite that needs the Debian archive is skipped, saying so, under
// COWROOT_TEST_DEBOOTSTRAP=0 (make test-quick, make test-asan).
inline bool archive_skipped() {
  const char* on = getenv("COWROOT_TEST_DEBOOTSTRAP");
  if (on && std::string(on) == "0") {
    MESSAGE("skipped: COWROOT_TEST_DEBOOTSTRAP=0 (needs the Debian archive)");
    return true;
  }
  return false;
}

// A small file system to fill (tests/run.sh mounts a 40 MiB tmpfs when it
// starts as root), or "" (the test says it was skipped).
inline std::string small_fs() {
  const char* fs = getenv("COWROOT_TEST_SMALLFS");
  if (!fs || !*fs) {
    MESSAGE("skipped: no small file system to fill (tests/run.sh mounts one when started as root)");
    return "";
  }
  return fs;
}

// Fills `fs` until at most `leave` bytes are free; the filler is `path`
// (grown again once: space a process still held may come free meanwhile).
inline void fill_fs(const std::string& fs, const std::string& path, long leave) {
  for (int round = 0; round < 2; round++) {
    if (round) std::this_thread::sleep_for(std::chrono::milliseconds(300));
    struct statvfs v;
    REQUIRE(statvfs(fs.c_str(), &v) == 0);
    long avail = (long)(v.f_bavail * v.f_frsize);
    struct stat st;
    long have = stat(path.c_str(), &st) == 0 ? (long)st.st_size : 0;
    if (avail > leave)
      REQUIRE(sh("fallocate -l " + std::to_string(have + avail - leave) + " " + q(path)).status == 0);
  }
}

// A shell function for scripts run in roots: `wait_for 'TEST'` evaluates
// TEST until it holds, 10 s at most (then fails): a program started in the
// background is waited for by what it shows, not by a sleep.
inline const char* const kWaitFor =
    "wait_for() { i=0; until eval \"$1\"; do [ $i -ge 1000 ] && return 1; sleep 0.01; i=$((i+1)); done; }; ";

// Waits up to `ms` for cond(): what a test waits for is a state, not a
// time (the machine may be slow).
template <typename F>
bool eventually(F cond, int ms = 5000) {
  for (int i = 0; i < ms / 20; i++) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

}  // namespace test
