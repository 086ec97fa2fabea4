// The path resolver (preload/core/resolve.cc), the security boundary, on its
// own in this process: no shell, no preload. A small root tree, a bind
// directory outside it, and tables of cases, one row a case, read as a spec.
//
// Every row is checked twice. First against what it says the resolver hands
// the kernel, and what the kernel then answers (statx on it). Then against
// the kernel's own chroot: a child in new user and mount namespaces mounts
// the same binds into the same tree, pivots into it (so that, as in a
// session, nothing lies above the root, not even after a nested chroot's
// escape), chroots where the row says and makes the same call with the path
// as given. Both must reach the same file (device and inode; for /proc's
// per-process entries, the same type) or fail with the same errno. Where user
// namespaces are refused, the kernel's side is skipped and the suite says so.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "../preload/core/resolve.h"
#include "common.h"

using namespace test;

namespace {

constexpr int kFd = 100;  // a row's directory descriptor: the same number on both sides

const std::string kName255(255, 'y');
const std::string kName256(256, 'x');

// "/./././…//f", exactly `len` bytes long: it names /f.
std::string padded(size_t len) {
  std::string p = "/";
  while (p.size() + 3 <= len) p += "./";
  while (p.size() + 1 < len) p += "/";
  return p + "f";
}

// ---- the tree --------------------------------------------------------------
// T/root is the root, T/bind the host directory bound at /mnt/b (and, under a
// nested root /n, at /n/mnt/b), T/out a directory outside both, and
// T/rootx a sibling whose name starts like the root's.
//
//   /f /a/f /etc/passwd /n/f                  files
//   /a/b /mnt/b /n/etc /proc /dev /sys ...    directories (and mount points)
//   "/a/x (deleted)"                          a live directory, named as /proc names a removed one
//   /abs -> /etc            /absf -> /etc/passwd       /lroot -> /
//   /a/b/up -> ../../../../../../etc (climbs out)      /dotdot -> ..
//   /ldir -> a/b            /lfile -> f         /lfslash -> f/
//   /dangling -> missing    /lbind -> /mnt/b/x  /lmnt -> mnt  /lcwd -> /proc/self/cwd
//   /chain1 -> chain2 -> /a/chain3 -> ../f
//   /loop1 -> loop2 -> loop1      /self -> self
//   /c0 -> c1 -> ... -> c40 -> f  (41 links from c0, 40 from c1)
//   /n/abs -> /f   /n/up -> ../../../f   (in /n as root: its own /f)
//   bind: x, d/, out -> ../../f, absl -> /a
struct Tree {
  TempDir tmp;
  std::string T, R, B, O;
  Tree() {
    char real[PATH_MAX];
    REQUIRE(realpath(tmp.path.c_str(), real));
    T = real;
    R = T + "/root";
    B = T + "/bind";
    O = T + "/out";
    for (const char* d : {"/root", "/bind", "/out", "/rootx", "/bind/d"}) REQUIRE(mkdir((T + d).c_str(), 0755) == 0);
    for (const char* d : {"/a", "/a/b", "/a/x (deleted)", "/etc", "/mnt", "/mnt/b", "/proc", "/dev", "/sys", "/n", "/n/etc", "/n/mnt",
                          "/n/mnt/b", "/n/proc", "/n/dev", "/n/sys"})
      REQUIRE(mkdir((R + d).c_str(), 0755) == 0);
    for (const char* f : {"/f", "/a/f", "/etc/passwd", "/n/f"}) write_file(R + f, f);
    write_file(B + "/x", "x");
    write_file(T + "/rootx/f", "f");
    const char* links[][2] = {
        {"/abs", "/etc"},       {"/absf", "/etc/passwd"}, {"/lroot", "/"},
        {"/a/b/up", "../../../../../../etc"},             {"/dotdot", ".."},
        {"/ldir", "a/b"},       {"/lfile", "f"},          {"/lfslash", "f/"},
        {"/dangling", "missing"}, {"/lbind", "/mnt/b/x"}, {"/chain1", "chain2"},
        {"/chain2", "/a/chain3"}, {"/a/chain3", "../f"},  {"/loop1", "loop2"},
        {"/loop2", "loop1"},    {"/self", "self"},        {"/n/abs", "/f"},
        {"/n/up", "../../../f"},  {"/lmnt", "mnt"},        {"/lcwd", "/proc/self/cwd"}};
    for (auto& l : links) REQUIRE(symlink(l[1], (R + l[0]).c_str()) == 0);
    REQUIRE(symlink("../../f", (B + "/out").c_str()) == 0);
    REQUIRE(symlink("/a", (B + "/absl").c_str()) == 0);
    for (int i = 0; i <= 40; i++) {
      std::string to = i == 40 ? "f" : "c" + std::to_string(i + 1);
      REQUIRE(symlink(to.c_str(), (R + "/c" + std::to_string(i)).c_str()) == 0);
    }
  }
  // The host directory of a top-inside path of the tree (or "!out": T/out).
  std::string host(const std::string& in) const {
    if (in == "!out") return O;
    for (std::string m : {"/mnt/b", "/n/mnt/b"})
      if (in.compare(0, m.size(), m) == 0 && (in.size() == m.size() || in[m.size()] == '/'))
        return B + in.substr(m.size());
    return in == "/" ? R : R + in;
  }
  // A row's host path: R… and B… for the root and the bind, {pid}, {fd}.
  std::string expand(std::string s) const {
    if (s[0] == 'R' && (s.size() == 1 || s[1] == '/')) s = R + s.substr(1);
    else if (s[0] == 'B' && (s.size() == 1 || s[1] == '/')) s = B + s.substr(1);
    else if (s.compare(0, 3, "Rx/") == 0) s = T + "/rootx" + s.substr(2);
    for (size_t at; (at = s.find("{pid}")) != std::string::npos;) s.replace(at, 5, std::to_string(getpid()));
    for (size_t at; (at = s.find("{fd}")) != std::string::npos;) s.replace(at, 4, std::to_string(kFd));
    return s;
  }
};

// The resolver bound to the tree the way root_init binds it in a new program
// (COWROOT_ROOT, COWROOT_CHROOT, COWROOT_BINDS); all put back after.
class Bound {
 public:
  explicit Bound(const Tree& t, const char* croot = "/") : saved_(new cr::RootConfig(cr::g_root)) {
    REQUIRE(getenv("COWROOT_ROOT") == nullptr);
    cwd_ = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(cwd_ >= 0);
    REQUIRE(chdir(t.R.c_str()) == 0);
    setenv("COWROOT_ROOT", t.R.c_str(), 1);
    setenv("COWROOT_CHROOT", croot, 1);
    setenv("COWROOT_BINDS", ("/mnt/b=" + t.B).c_str(), 1);
    cr::g_root = cr::RootConfig{};
    cr::root_init();
    for (const char* v : {"COWROOT_ROOT", "COWROOT_CHROOT", "COWROOT_BINDS"}) unsetenv(v);
    REQUIRE(cr::g_root.active);
  }
  ~Bound() {
    cr::g_root = *saved_;
    cr::root_forget_cache();
    if (fchdir(cwd_) != 0) perror("resolve_tests: back to the working directory");
    close(cwd_);
    close(kFd);
    delete saved_;
  }
  Bound(const Bound&) = delete;
  Bound& operator=(const Bound&) = delete;

 private:
  cr::RootConfig* saved_;
  int cwd_;
};

// ---- outcomes ---------------------------------------------------------------
struct Outcome {
  int err = 0;  // 0: found
  uint32_t major = 0, minor = 0;
  uint64_t ino = 0;
  uint16_t mode = 0;
  char text[PATH_MAX] = {};  // a path, for realpath
};

Outcome stat_of(int dirfd, const char* path, int atflags) {
  Outcome o;
  struct statx sx;
  if (statx(dirfd, path, atflags, STATX_TYPE | STATX_INO, &sx) < 0) {
    o.err = errno;
    return o;
  }
  o.major = sx.stx_dev_major;
  o.minor = sx.stx_dev_minor;
  o.ino = sx.stx_ino;
  o.mode = sx.stx_mode;
  return o;
}

std::string errname(int e) {
  if (e == 0) return "found";
  const char* n = strerrorname_np(e);
  return n ? n : std::to_string(e);
}

std::string show(const Outcome& o) {
  if (o.err) return errname(o.err);
  return "inode " + std::to_string(o.major) + ":" + std::to_string(o.minor) + ":" + std::to_string(o.ino);
}

// The same file: /proc's entries under self are another process's on the
// other side (other inode numbers), so there only the type has to agree.
bool same(const Outcome& a, const Outcome& b) {
  if (a.err || b.err) return a.err == b.err;
  static const Outcome proc = stat_of(AT_FDCWD, "/proc/self", 0);
  if (a.major == proc.major && a.minor == proc.minor && b.major == proc.major && b.minor == proc.minor)
    return (a.mode & S_IFMT) == (b.mode & S_IFMT);
  return a.major == b.major && a.minor == b.minor && a.ino == b.ino;
}

// ---- where a row starts ------------------------------------------------------
// A row's `at`, a top-inside path of the tree: "/a/b" the working directory;
// "fd /a" descriptor kFd on it (the working directory then the top); "rm /a/x"
// a working directory made there and removed; "fdrm /a/x" a descriptor on one.
struct At {
  bool fd = false, removed = false;
  std::string in;
  explicit At(const std::string& s) {
    size_t sp = s.find(' ');
    std::string kind = sp == std::string::npos ? "" : s.substr(0, sp);
    in = sp == std::string::npos ? s : s.substr(sp + 1);
    fd = kind == "fd" || kind == "fdrm";
    removed = kind == "rm" || kind == "fdrm";
  }
  int dirfd() const { return fd ? kFd : AT_FDCWD; }
};

// Puts this process where the row starts. A removed directory is made here
// and removed by settle(): after the kernel's side, which removes it first
// (so that both sides stand in the same removed directory).
void enter(const Tree& t, const At& at) {
  std::string h = t.host(at.in);
  if (at.removed) REQUIRE(mkdir(h.c_str(), 0755) == 0);
  if (at.fd) {
    int fd = open(h.c_str(), O_PATH | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(dup2(fd, kFd) == kFd);
    close(fd);
    REQUIRE(chdir(t.R.c_str()) == 0);
  } else {
    REQUIRE(chdir(h.c_str()) == 0);
  }
}

// The resolver told, as a new program's start or a chdir tells it.
void settle(const Tree& t, const At& at) {
  if (at.removed) {
    if (rmdir(t.host(at.in).c_str()) != 0) REQUIRE(errno == ENOENT);
    cr::root_forget_cache();  // a session's rmdir bumps its namegen
  }
  cr::root_cwd_changed();
}

void place(const Tree& t, const At& at) {
  enter(t, at);
  settle(t, at);
}

// ---- the kernel's answer ---------------------------------------------------------
// In a child: new user (unless root) and mount namespaces, the tree bind-mounted
// on itself with /dev, /proc, /sys and /mnt/b mounted in it (and under croot),
// pivot_root into it, the row's start (`at`, top-inside; a removed directory
// is the one enter() made, removed here), then chroot(croot).
class Kernel {
 public:
  static bool refused() { return refused_; }

  template <typename Fn>
  static bool run(const Tree& t, const std::string& croot, const At& at, Fn fn, Outcome* out) {
    if (refused_) return false;
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    uid_t uid = geteuid();
    gid_t gid = getegid();
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      Answer a;
      a.step = enter(t, croot, at, uid, gid);
      a.err = errno;
      if (a.step == 0) a.o = fn();
      if (write(p[1], &a, sizeof a) != (ssize_t)sizeof a) _exit(1);
      _exit(0);
    }
    close(p[1]);
    Answer a;
    size_t got = 0;
    for (ssize_t n; got < sizeof a && (n = read(p[0], (char*)&a + got, sizeof a - got)) > 0;) got += n;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    REQUIRE_MESSAGE(got == sizeof a, "the kernel's side died");
    if (a.step == 1 && (a.err == EPERM || a.err == EINVAL || a.err == ENOSPC || a.err == ENOSYS)) {
      refused_ = true;
      MESSAGE("user namespaces refused (", errname(a.err), "): the kernel's side of the tables is skipped");
      return false;
    }
    REQUIRE_MESSAGE(a.step == 0, "the kernel's side could not be set up: step ", a.step, ": ", errname(a.err));
    *out = a.o;
    return true;
  }

 private:
  struct Answer {
    int step = 0, err = 0;
    Outcome o;
  };
  static inline bool refused_ = false;

  static bool put(const char* file, const std::string& s) {
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = write(fd, s.data(), s.size()) == (ssize_t)s.size();
    close(fd);
    return ok;
  }
  // 0, or the number of the step that failed (errno says why).
  static int enter(const Tree& t, const std::string& croot, const At& at, uid_t uid, gid_t gid) {
    if (uid != 0) {
      // A process that dropped root is not dumpable: its /proc files,
      // uid_map among them, would stay root's.
      if (prctl(PR_SET_DUMPABLE, 1) != 0) return 1;
      if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return 1;
      if (!put("/proc/self/setgroups", "deny") || !put("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
          !put("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
        return 2;
    } else if (unshare(CLONE_NEWNS) != 0) {
      return 1;
    }
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 3;
    if (mount(t.R.c_str(), t.R.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return 4;
    std::vector<std::string> levels = {""};
    if (croot != "/") levels.push_back(croot);
    for (const std::string& l : levels)
      for (auto [in, host] : {std::pair<std::string, std::string>{"/dev", "/dev"}, {"/proc", "/proc"},
                              {"/sys", "/sys"}, {"/mnt/b", t.B}})
        if (mount(host.c_str(), (t.R + l + in).c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) return 5;
    if (chdir(t.R.c_str()) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 || umount2(".", MNT_DETACH) != 0) return 6;
    if (at.fd) {
      int fd = at.in == "!out" ? -1 : open(at.in.c_str(), O_PATH | O_CLOEXEC);
      if (fd < 0 || dup2(fd, kFd) != kFd || chdir("/") != 0) return 7;
      close(fd);
    } else if (chdir(at.in.c_str()) != 0) {
      return 7;
    }
    if (at.removed && rmdir(at.in.c_str()) != 0) return 7;
    if (croot != "/" && chroot(croot.c_str()) != 0) return 8;
    return 0;
  }
};

// ---- the path table ---------------------------------------------------------------
enum How { F, N, L, E };  // follow; no follow; follow lazily (kLazyFinal); by descriptor (AT_EMPTY_PATH)
enum Check { Same, None };  // None: the kernel is not asked (`why` says why)

struct Row {
  std::string at;    // see At
  std::string path;  // {fd} is kFd
  How how;
  std::string host;  // what resolve hands the kernel (see Tree::expand); "=" the arguments as given; "-" refused
  int err;           // what statx answers on it (or, with "-", resolve); 0 found
  Check kernel = Same;
  const char* why = "";
};

void check(const Tree& t, const char* croot, const Row& r) {
  std::string path = t.expand(r.path);
  std::string shown = path.size() > 70 ? path.substr(0, 30) + "…(" + std::to_string(path.size()) + " bytes)" : path;
  std::string what = "at " + r.at + ", " + shown + " " + "FNLE"[r.how] + " (root " + croot + ")";
  INFO(what);
  At at(r.at);
  int flags = r.how == N ? 0 : r.how == L ? cr::kFollow | cr::kLazyFinal : cr::kFollow;
  int atflags = r.how == F ? 0 : r.how == E ? AT_EMPTY_PATH : AT_SYMLINK_NOFOLLOW;
  enter(t, at);
  Outcome theirs;
  bool asked = r.kernel != None &&
               Kernel::run(t, croot, at, [&] { return stat_of(at.dirfd(), path.c_str(), atflags); }, &theirs);
  settle(t, at);
  cr::Resolved out;
  int rc = cr::resolve(at.dirfd(), path.c_str(), flags, &out);
  Outcome mine;
  if (r.host == "-") {
    CHECK_MESSAGE(rc == -r.err, "resolve said ", errname(-rc), ", not ", errname(r.err));
    mine.err = rc < 0 ? -rc : 0;
  } else {
    REQUIRE_MESSAGE(rc == 0, "resolve said ", errname(-rc));
    if (r.host == "=") {
      CHECK_MESSAGE((out.dirfd == at.dirfd() && out.path == path.c_str()), "not as given: ", out.path);
    } else {
      CHECK(out.dirfd == AT_FDCWD);
      CHECK(std::string(out.path) == t.expand(r.host));
    }
    mine = stat_of(out.dirfd, out.path, atflags);
    CHECK_MESSAGE(mine.err == r.err, "statx said ", errname(mine.err), ", not ", errname(r.err));
  }
  if (!asked) return;
  CHECK_MESSAGE(same(mine, theirs), "the kernel's chroot: ", show(theirs), "; here: ", show(mine));
}

// clang-format off
const std::vector<Row> kPaths = {
  // at          path                              how host                        err
  // `..` stops at the root
  {"/",          "/",                              F, "R",                         0},
  {"/",          "/..",                            F, "R",                         0},
  {"/",          "/../../..",                      F, "R",                         0},
  {"/",          "..",                             N, "R",                         0},
  {"/",          "../etc/..//../f",                N, "R/f",                       0},
  {"/",          "/a/../../etc",                   F, "R/etc",                     0},
  {"/",          "/a/../../etc/passwd",            N, "R/etc/passwd",              0},
  {"/a/b",       "../../..",                       F, "R",                         0},
  {"/a/b",       "../../../etc/passwd",            N, "R/etc/passwd",              0},
  {"/a/b",       ".",                              F, "R/a/b",                     0},
  // symlinks: absolute ones start again at the root, relative ones climb no higher
  {"/",          "/abs",                           F, "R/etc",                     0},
  {"/",          "/abs/passwd",                    N, "R/etc/passwd",              0},
  {"/",          "/absf",                          F, "R/etc/passwd",              0},
  {"/",          "/a/b/up",                        F, "R/etc",                     0},
  {"/",          "/a/b/up/passwd",                 F, "R/etc/passwd",              0},
  {"/a/b",       "up/../f",                        F, "R/f",                       0},
  {"/a/b",       "up",                             F, "R/etc",                     0},
  {"/",          "/lroot/../../f",                 F, "R/f",                       0},
  {"/",          "/dotdot/dotdot/f",               F, "R/f",                       0},
  {"/",          "/ldir/..",                       F, "R/a",                       0},
  {"/",          "/chain1",                        F, "R/f",                       0},
  {"/",          "/c1",                            F, "R/f",                       0},
  {"/",          "/c0",                            F, "-",                         ELOOP},
  {"/",          "/loop1",                         F, "-",                         ELOOP},
  {"/",          "/loop1/x",                       N, "-",                         ELOOP},
  {"/",          "/self",                          F, "-",                         ELOOP},
  // the last component is left as it is unless followed
  {"/",          "/abs",                           N, "R/abs",                     0},
  {"/",          "/loop1",                         N, "R/loop1",                   0},
  {"/",          "/ldir/up",                       N, "R/a/b/up",                  0},
  {"/",          "/abs",                           L, "R/abs",                     0},
  {"/",          "/ldir/up/passwd",                L, "R/etc/passwd",              0},
  {"/a/b",       "up",                             N, "=",                         0},
  {"/a/b",       "up",                             L, "=",                         0},
  // trailing slashes: a directory is wanted, and a symlink is followed to it
  {"/",          "/f/",                            F, "R/f/",                      ENOTDIR},
  {"/",          "/f/",                            N, "R/f/",                      ENOTDIR},
  {"/",          "/f/.",                           F, "R/f/.",                     ENOTDIR},
  {"/",          "/f/..",                          F, "R/f/..",                    ENOTDIR},
  {"/",          "/a/",                            N, "R/a/",                      0},
  {"/",          "/a//b//",                        N, "R/a/b/",                    0},
  {"/",          "/a/b/.",                         N, "R/a/b",                     0},
  {"/",          "/ldir/",                         N, "R/a/b/",                    0},
  {"/",          "/ldir",                          N, "R/ldir",                    0},
  {"/",          "/lfile/",                        N, "R/f/",                      ENOTDIR},
  {"/",          "/lfslash",                       F, "R/f/",                      ENOTDIR},
  {"/",          "/dangling",                      F, "R/missing",                 ENOENT},
  {"/",          "/dangling/",                     N, "R/missing/",                ENOENT},
  {"/",          "/missing/../f",                  F, "R/missing/../f",            ENOENT},
  // binds: under one, the bind's host directory; `..` out of one, back in the root
  {"/",          "/mnt/b",                         N, "B",                         0},
  {"/",          "/mnt/b/x",                       N, "B/x",                       0},
  {"/",          "/mnt/b/",                        N, "B/",                        0},
  {"/",          "/mnt/b/..",                      F, "R/mnt",                     0},
  {"/",          "/mnt/b/d/../../../f",            F, "R/f",                       0},
  {"/",          "/mnt/b/out",                     F, "R/f",                       0},
  {"/",          "/mnt/b/absl/f",                  F, "R/a/f",                     0},
  {"/",          "/lbind",                         F, "B/x",                       0},
  {"/",          "/lmnt/b/x",                      N, "B/x",                       0},
  {"/",          "/mnt/b/x/",                      N, "B/x/",                      ENOTDIR},
  {"/mnt",       "b",                              N, "B",                         0},
  {"/mnt/b",     "../../f",                        F, "R/f",                       0},
  {"/mnt/b/d",   "../x",                           N, "B/x",                       0},
  {"fd /mnt/b",  "x",                              N, "=",                         0},
  {"fd /mnt/b",  "../../f",                        F, "R/f",                       0},
  // /proc's magic links: the kernel's to follow when last, ours in the middle
  {"fd /a",      "/proc/self/fd/{fd}",             F, "/proc/{pid}/fd/{fd}",       0},
  {"fd /a",      "/proc/self/fd/{fd}",             N, "/proc/{pid}/fd/{fd}",       0},
  {"fd /a",      "/proc/self/fd/{fd}/",            N, "/proc/{pid}/fd/{fd}/",      0},
  {"fd /a",      "/proc/self/fd/{fd}/../f",        F, "R/f",                       0},
  {"fd /a",      "/proc/self/fd/{fd}/b/up",        F, "R/etc",                     0},
  {"fd /a",      "/dev/fd/{fd}/../etc",            F, "R/etc",                     0},
  {"fd /mnt/b",  "/proc/self/fd/{fd}/out",         F, "R/f",                       0},
  {"fd /mnt/b",  "/proc/self/fd/{fd}/../..",       F, "R",                         0},
  {"/a/b",       "/proc/self/cwd",                 F, "/proc/{pid}/cwd",           0},
  {"/a/b",       "/proc/self/cwd/../f",            F, "R/a/f",                     0},
  {"/a/b",       "/proc/self/cwd/../../../..",     F, "R",                         0},
  {"/a/b",       "/lcwd/../f",                     F, "R/a/f",                     0},
  {"fd /",       "/proc/self/fd/{fd}/../../f",     F, "R/f",                       0},
  {"/",          "/proc/self/root",                F, "R",                         0},
  {"/",          "/proc/self/root",                N, "/proc/{pid}/root",          0},
  {"/",          "/proc/self/root/../../etc",      F, "R/etc",                     0},
  {"/",          "/proc/self/ns/net",              F, "/proc/{pid}/ns/net",        0},
  {"/",          "/proc/thread-self/ns/uts",       F, "/proc/{pid}/task/{pid}/ns/uts", 0},
  {"/",          "/proc/self/ns/net/x",            F, "/proc/{pid}/ns/net/x",      ENOTDIR},
  // descriptors opened inside
  {"fd /a",      "b/up",                           F, "R/etc",                     0},
  {"fd /a",      "../../../f",                     F, "R/f",                       0},
  {"fd /a",      "f",                              N, "=",                         0},
  {"fd /a",      "..",                             N, "R",                         0},
  {"fd /",       "..",                             N, "R",                         0},
  {"fd /",       "../a/./b/up/..",                 F, "R",                         0},
  {"fd /a",      "",                               E, "=",                         0},
  {"fd /a",      "",                               N, "=",                         ENOENT},
  {"/",          "",                               F, "=",                         ENOENT},
  {"fd /f",      "x",                              N, "=",                         ENOTDIR},
  {"fd /f",      "x/..",                           N, "=",                         ENOTDIR},
  {"fd /f",      "..",                             N, "=",                         ENOTDIR},
  {"fd /f",      "../f",                           F, "=",                         ENOTDIR},
  {"fd /f",      ".",                              F, "=",                         ENOTDIR},
  {"fd /f",      "/proc/self/fd/{fd}",             F, "/proc/{pid}/fd/{fd}",       0},
  {"fd /f",      "/proc/self/fd/{fd}/..",          F, "/proc/{pid}/fd/{fd}/..",    ENOTDIR},
  {"fd /f",      "/proc/self/fd/{fd}/../etc",      N, "/proc/{pid}/fd/{fd}/../etc", ENOTDIR},
  {"fd !out",    "f",                              F, "=",                         ENOENT,
   None, "a directory outside the root is the kernel's: chroot(2) does not move it either"},
  // removed directories: no name is found in one, `..` climbs from where it was
  {"rm /a/gone", "../../../../../../../../../etc/passwd", N, "R/etc/passwd",       0},
  {"rm /a/gone", "./../f",                         N, "R/a/f",                     0},
  {"rm /a/gone", "..",                             N, "R/a",                       0},
  {"rm /a/gone", "x",                              N, "=",                         ENOENT},
  {"rm /a/gone", ".",                              F, "=",                         0},
  {"rm /a/gone", "./",                             F, "=",                         0},
  {"rm /a/gone", "x/../../f",                      F, "=",                         ENOENT},
  {"rm /a/gone", "...",                            F, "=",                         ENOENT},
  {"fdrm /a/gone", "../../../../../../../../../etc/passwd", N, "R/etc/passwd",     0},
  {"fdrm /a/gone", ".",                            F, "=",                         0},
  {"fdrm /a/gone", "",                             E, "=",                         0},
  {"rm /a/gone", "/proc/self/cwd/../../../../../../../../../etc/passwd", N, "R/etc/passwd", 0},
  {"rm /a/gone", "/proc/self/cwd/./..",            F, "R/a",                       0},
  {"rm /a/gone", "/proc/self/cwd/.",               F, "/proc/{pid}/cwd/.",         0},
  {"fdrm /a/gone", "/proc/self/fd/{fd}/../../../../../../../../../etc/passwd", N, "R/etc/passwd", 0},
  {"fdrm /a/gone", "/proc/self/fd/{fd}/x",         N, "/proc/{pid}/fd/{fd}/x",     ENOENT},
  {"fd /a/x (deleted)", "../f",                    F, "R/a/f",                     0},  // a live one so named
  {"fd /a/x (deleted)", ".",                       F, "R/a/x (deleted)",           0},
  // names and paths too long
  {"/",          "/" + kName255,                   N, "R/" + kName255,             ENOENT},
  {"/",          "/" + kName256,                   N, "R/" + kName256,             ENAMETOOLONG},
  {"/",          "/" + kName256 + "/../f",         F, "R/" + kName256 + "/../f",   ENAMETOOLONG},
  {"/",          padded(PATH_MAX - 1),             F, "R/f",                       0},
  {"/",          padded(PATH_MAX),                 F, "-",                         ENAMETOOLONG},
  {"/",          padded(PATH_MAX),                 N, "-",                         ENAMETOOLONG},
  {"/",          std::string(PATH_MAX, 'z'),       N, "=",                         ENAMETOOLONG},
};

// The same root after chroot("/n") (COWROOT_CHROOT=/n): `at` is still a
// top-inside path, so "/" is a working directory outside the new root.
const std::vector<Row> kNested = {
  // at          path                              how host                        err
  {"/n",         "/",                              F, "R/n",                       0},
  {"/n",         "/..",                            F, "R/n",                       0},
  {"/n/etc",     "../../../f",                     F, "R/n/f",                     0},
  {"/n",         "/abs",                           F, "R/n/f",                     0},
  {"/n",         "/up",                            F, "R/n/f",                     0},
  {"/n",         "/etc/../../../abs",              N, "R/n/abs",                   0},
  {"/n",         "/proc/self/root",                F, "R/n",                       0},
  {"/n",         "/proc/self/root/../f",           F, "R/n/f",                     0},
  {"/n",         "/mnt/b/x",                       N, "B/x",                       0},
  {"/n",         "/mnt/b/out",                     F, "R/n/f",                     0},
  {"/n",         "/mnt/b/absl",                    F, "R/n/a",                     ENOENT},
  {"/n",         "/mnt/b/../..",                   F, "R/n",                       0},
  {"fd /n/mnt/b", "../../f",                       F, "R/n/f",                     0},
  // a working directory left outside the new root: relative paths start
  // there, `..` climbs to the top and no further, absolute paths are in /n
  {"/",          "a/f",                            N, "R/a/f",                     0},
  {"/",          "../../n/f",                      N, "R/n/f",                     0},
  {"/a",         "../../f",                        F, "R/f",                       0},
  {"/a",         "/f",                             F, "R/n/f",                     0},
  {"/",          "abs",                            F, "R/n/etc",                   0},
  {"fd /a",      "/proc/self/fd/{fd}/../f",        F, "R/f",                       0},
};
// clang-format on

// ---- the limits of resolving to a path string ----------------------------------
// A deep directory, `len` bytes of top-inside path, made with relative mkdirs.
std::string deep_dir(const Tree& t, size_t len) {
  std::string in;
  int dfd = open(t.R.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(dfd >= 0);
  while (in.size() < len) {
    size_t left = len - in.size() - 1;
    std::string name(left > 200 ? 200 : left, 'd');
    REQUIRE(mkdirat(dfd, name.c_str(), 0755) == 0);
    int next = openat(dfd, name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(next >= 0);
    close(dfd);
    dfd = next;
    in += "/" + name;
  }
  close(dfd);
  REQUIRE(in.size() == len);
  return in;
}

}  // namespace

TEST_CASE("resolve: the path table, in the root and in the kernel's chroot") {
  Tree t;
  Bound b(t);
  for (const Row& r : kPaths) check(t, "/", r);
}

TEST_CASE("resolve: the path table after a nested chroot") {
  Tree t;
  Bound b(t, "/n");
  REQUIRE(std::string(cr::g_root.croot) == "/n");
  for (const Row& r : kNested) check(t, "/n", r);
}

TEST_CASE("resolve: where a path string is the limit (the kernel, walking by directory, goes further)") {
  Tree t;
  Bound b(t);
  At top("/");
  // An inside path the kernel takes (under PATH_MAX) whose host path is over it.
  std::string deep = deep_dir(t, PATH_MAX - 16);
  REQUIRE(t.R.size() > 16);
  // A symlink's target and what follows it are joined in one buffer of
  // kHostPathMax bytes (PATH_MAX + 128): a long target and a long rest do not fit.
  REQUIRE(symlink(("a" + std::string(1000, '/')).c_str(), (t.R + "/longlink").c_str()) == 0);
  std::string rest = "/longlink";
  while (rest.size() < 3500) rest += "/.";
  rest += "/f";
  for (const std::string& p : {deep, rest}) {
    INFO(p.substr(0, 30), "… (", p.size(), " bytes)");
    place(t, top);
    cr::Resolved out;
    int rc = cr::resolve(AT_FDCWD, p.c_str(), cr::kFollow, &out);
    int e = rc < 0 ? -rc : stat_of(out.dirfd, out.path, 0).err;
    CHECK(e == ENAMETOOLONG);
    Outcome theirs;
    if (Kernel::run(t, "/", top, [&] { return stat_of(AT_FDCWD, p.c_str(), 0); }, &theirs))
      CHECK_MESSAGE(theirs.err == 0, "the kernel: ", show(theirs));
  }
}

TEST_CASE("to_inside: host paths back to the program's view") {
  Tree t;
  struct Case {
    const char* croot;
    std::string host;  // R…, B…, Rx… as in Tree::expand
    std::string inside;
    bool in;
  };
  // clang-format off
  const std::vector<Case> cases = {
    // croot host               inside          inside the root?
    {"/",    "R",               "/",            true},
    {"/",    "R/",              "/",            true},
    {"/",    "R/a/f",           "/a/f",         true},
    {"/",    "B",               "/mnt/b",       true},
    {"/",    "B/d",             "/mnt/b/d",     true},
    {"/",    "/proc/1/status",  "/proc/1/status", true},
    {"/",    "Rx/f",            "",             false},  // a sibling whose name starts like the root's
    {"/",    "/etc/passwd",     "/etc/passwd",  false},
    {"/n",   "R/n",             "/",            true},
    {"/n",   "R/n/f",           "/f",           true},
    {"/n",   "B/x",             "/mnt/b/x",     true},
    {"/n",   "R/a/f",           "/a/f",         true},   // above the nested root: the top's view
  };
  // clang-format on
  for (const Case& c : cases) {
    Bound b(t, c.croot);
    std::string host = t.expand(c.host);
    std::string what = "croot " + std::string(c.croot) + ", " + host;
    INFO(what);
    char out[PATH_MAX];
    CHECK(cr::to_inside(host.c_str(), out, sizeof out) == c.in);
    CHECK(std::string(out) == (c.in ? c.inside : host));  // outside: copied as it is
  }
}

TEST_CASE("inside_realpath: every symlink followed, in the program's view, as realpath(3) in a chroot says") {
  Tree t;
  struct Case {
    const char* croot;
    const char* at;
    const char* path;
    const char* inside;  // or nullptr, and err
    int err;
  };
  // clang-format off
  const std::vector<Case> cases = {
    // croot at        path                   inside        err
    {"/",   "/",       "/abs",                "/etc",       0},
    {"/",   "/",       "/a/b/up",             "/etc",       0},
    {"/",   "/a/b",    "up/../..",            "/",          0},
    {"/",   "/",       "/ldir/..",            "/a",         0},
    {"/",   "/",       "/chain1",             "/f",         0},
    {"/",   "/",       "/mnt/b/x",            "/mnt/b/x",   0},
    {"/",   "/",       "/mnt/b/out",          "/f",         0},
    {"/",   "/mnt/b",  "absl",                "/a",         0},
    {"/",   "/a/b",    "/proc/self/cwd",      "/a/b",       0},
    {"/",   "fd /a",   "/proc/self/fd/{fd}",  "/a",         0},
    {"/",   "/a/b",    ".",                   "/a/b",       0},
    {"/",   "/",       "/f/",                 nullptr,      ENOTDIR},
    {"/",   "/",       "/missing",            nullptr,      ENOENT},
    {"/",   "/",       "/dangling",           nullptr,      ENOENT},
    {"/",   "/",       "",                    nullptr,      ENOENT},
    {"/",   "/",       "/loop1",              nullptr,      ELOOP},
    {"/n",  "/n",      "/up",                 "/f",         0},
    {"/n",  "/n",      "/proc/self/root/..",  "/",          0},
    {"/n",  "/n",      "/mnt/b/out",          "/f",         0},
  };
  // clang-format on
  for (const Case& c : cases) {
    Bound b(t, c.croot);
    std::string path = t.expand(c.path);
    std::string what = "croot " + std::string(c.croot) + ", at " + c.at + ", " + path;
    INFO(what);
    At at(c.at);
    place(t, at);
    char out[PATH_MAX];
    int rc = cr::inside_realpath(at.dirfd(), path.c_str(), out, sizeof out);
    if (c.inside) {
      CHECK_MESSAGE(rc == 0, errname(-rc));
      if (rc == 0) CHECK(std::string(out) == c.inside);
    } else {
      CHECK_MESSAGE(rc == -c.err, errname(-rc));
    }
    Outcome theirs;
    auto real = [&] {
      Outcome o;
      char buf[PATH_MAX];
      if (at.fd && fchdir(kFd) != 0) o.err = errno;
      else if (!realpath(path.c_str(), buf)) o.err = errno;
      else memcpy(o.text, buf, strlen(buf) + 1);
      return o;
    };
    if (Kernel::run(t, c.croot, at, real, &theirs)) {
      if (c.inside) CHECK_MESSAGE(std::string(theirs.text) == c.inside, "realpath in the chroot: ", errname(theirs.err), " ", theirs.text);
      else CHECK_MESSAGE(theirs.err == c.err, "realpath in the chroot: ", errname(theirs.err), " ", theirs.text);
    }
  }
}

TEST_CASE("root_chroot: the new root is the directory the path names, every symlink followed") {
  Tree t;
  struct Case {
    const char* croot;   // before
    std::string path;
    const char* after;   // top-inside, or nullptr and err
    int err;
  };
  // clang-format off
  const std::vector<Case> cases = {
    // before path              after       err
    {"/",   "/n",               "/n",       0},
    {"/",   "n/",               "/n",       0},
    {"/",   "/ldir",            "/a/b",     0},
    {"/",   "/a/b/up/..",       "/",        0},
    {"/",   "/mnt/b/d",         "/mnt/b/d", 0},
    {"/n",  "/etc",             "/n/etc",   0},
    {"/n",  "/..",              "/n",       0},
    {"/n",  "/abs/..",          nullptr,    ENOTDIR},  // /abs is /f in /n: a file
    {"/",   "/f",               nullptr,    ENOTDIR},
    {"/",   "/missing",         nullptr,    ENOENT},
    {"/",   "/loop1",           nullptr,    ELOOP},
    {"/",   std::string(PATH_MAX - 2, '/') + "n",  "/n",     0},            // PATH_MAX - 1 bytes
    {"/",   std::string(PATH_MAX - 1, '/') + "n",  nullptr,  ENAMETOOLONG}, // PATH_MAX bytes
  };
  // clang-format on
  for (const Case& c : cases) {
    Bound b(t, c.croot);
    std::string what = "croot " + std::string(c.croot) + ", chroot(" + c.path.substr(0, 40) + ")";
    INFO(what);
    At top("/");
    place(t, top);
    int rc = cr::root_chroot(c.path.c_str());
    if (c.after) {
      CHECK_MESSAGE(rc == 0, errname(-rc));
      CHECK(std::string(cr::g_root.croot) == c.after);
    } else {
      CHECK_MESSAGE(rc == -c.err, errname(-rc));
      CHECK(std::string(cr::g_root.croot) == c.croot);
    }
    // The kernel: its chroot(2) from the same place, then its "/".
    Outcome theirs;
    auto in_kernel = [&] {
      Outcome o;
      if (chroot(c.path.c_str()) != 0) o.err = errno;
      else o = stat_of(AT_FDCWD, "/", 0);
      return o;
    };
    if (Kernel::run(t, c.croot, top, in_kernel, &theirs)) {
      Outcome mine;
      if (c.after) mine = stat_of(AT_FDCWD, t.host(c.after).c_str(), 0);
      else mine.err = c.err;
      CHECK_MESSAGE(same(mine, theirs), "the kernel's chroot: ", show(theirs), "; here: ", show(mine));
    }
  }
}
