// Wrappers whose only business is the path: resolve it inside the root and
// hand the host path to the kernel (or to libc, where libc's own code would
// otherwise open the file behind our back), and turn host paths handed back
// into inside paths. Without a root, resolve() passes everything through.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>

#include <cstring>

#include "../core/resolve.h"
#include "../core/session.h"
#include "../core/sys.h"
#include "wrap.h"

using namespace cr;
using cr::wrap::ensure;
using cr::wrap::real;

extern char** environ;

namespace {

// utimensat(fd, NULL, …) is futimens: glibc's header says otherwise.
__attribute__((noinline)) bool nonnull_path(const char* p) { return p != nullptr; }

int fail(int e) {
  errno = e;
  return -1;
}

// Resolves or returns from the wrapper with -1/errno (or `bad` for wrappers
// returning pointers).
#define RESOLVE_OR(ret, dirfd, path, flags, out)            \
  Resolved out;                                             \
  if (int e_ = resolve(dirfd, path, flags, &out)) {         \
    errno = -e_;                                            \
    return ret;                                             \
  }

// /proc links whose targets are host paths: readlink shows them inside.
bool proc_link(const char* host) {
  if (strncmp(host, "/proc/", 6) != 0) return false;
  const char* last = strrchr(host, '/');
  if (!last) return false;
  if (!strcmp(last, "/exe") || !strcmp(last, "/cwd") || !strcmp(last, "/root")) return true;
  const char* parent = last;
  while (parent > host && parent[-1] != '/') parent--;
  return (last - parent == 2 && !memcmp(parent, "fd", 2)) || (last - parent == 9 && !memcmp(parent, "map_files", 9));
}

bool is_self_exe(const char* host) {
  if (!strcmp(host, "/proc/self/exe") || !strcmp(host, "/proc/thread-self/exe")) return true;
  char mine[48];
  snprintf(mine, sizeof mine, "/proc/%ld/exe", (long)sys::raw(SYS_getpid));
  return !strcmp(host, mine);
}

ssize_t readlink_in_root(int dirfd, const char* path, char* buf, size_t size) {
  if (!g_root.active) return sys::call(SYS_readlinkat, dirfd, (long)path, (long)buf, size);
  RESOLVE_OR(-1, dirfd, path, 0, r);
  if (r.path[0] == '/' && is_self_exe(r.path) && g_root.exe[0]) {
    size_t l = strlen(g_root.exe);
    if (l > size) l = size;
    memcpy(buf, g_root.exe, l);
    return (ssize_t)l;
  }
  char tmp[PATH_MAX];
  long n = sys::raw(SYS_readlinkat, r.dirfd, (long)r.path, (long)tmp, sizeof tmp - 1);
  if (n < 0) return fail((int)-n);
  tmp[n] = 0;
  const char* out = tmp;
  char inside[PATH_MAX];
  if (r.path[0] == '/' && proc_link(r.path) && tmp[0] == '/') {
    to_inside(tmp, inside, sizeof inside);
    out = inside;
  }
  size_t l = strlen(out);
  if (l > size) l = size;
  memcpy(buf, out, l);
  return (ssize_t)l;
}

char* getcwd_in_root(char* buf, size_t size) {
  char host[PATH_MAX];
  long n = sys::raw(SYS_getcwd, (long)host, sizeof host);
  if (n < 0) {
    errno = (int)-n;
    return nullptr;
  }
  char inside[PATH_MAX];
  const char* out = host;
  if (g_root.active) {
    to_inside(host, inside, sizeof inside);
    out = inside;
  }
  size_t l = strlen(out) + 1;
  if (!buf) {
    size_t cap = size > l ? size : l;
    if (size && size < l) {
      errno = ERANGE;
      return nullptr;
    }
    buf = static_cast<char*>(malloc(cap));
    if (!buf) return nullptr;
  } else if (size < l) {
    errno = size ? ERANGE : EINVAL;
    return nullptr;
  }
  memcpy(buf, out, l);
  return buf;
}

char* realpath_in_root(const char* path, char* resolved) {
  if (!path) {
    errno = EINVAL;
    return nullptr;
  }
  char out[PATH_MAX];
  if (int e = inside_realpath(AT_FDCWD, path, out, sizeof out)) {
    errno = -e;
    return nullptr;
  }
  if (!resolved) return strdup(out);
  memcpy(resolved, out, strlen(out) + 1);
  return resolved;
}

// mkstemp and friends fill in the template's Xs: the name part is the same
// on both sides, so it is copied back from the host template.
template <typename F>
auto with_template(char* tmpl, F&& f) -> decltype(f(tmpl)) {
  if (!g_root.active) return f(tmpl);
  Resolved r;
  if (int e = resolve(AT_FDCWD, tmpl, 0, &r)) {
    errno = -e;
    return decltype(f(tmpl))(-1);
  }
  if (r.path == tmpl) return f(tmpl);
  char host[sizeof r.buf];
  memcpy(host, r.path, strlen(r.path) + 1);
  auto ret = f(host);
  const char* hb = strrchr(host, '/');
  const char* tb = strrchr(tmpl, '/');
  hb = hb ? hb + 1 : host;
  tb = tb ? tb + 1 : tmpl;
  if (strlen(hb) == strlen(tb)) memcpy(const_cast<char*>(tb), hb, strlen(hb));
  return ret;
}

}  // namespace

// ---- working directory --------------------------------------------------
EXPORT int chdir(const char* p) {
  ensure();
  RESOLVE_OR(-1, AT_FDCWD, p, kFollow, r);
  long rc = sys::raw(SYS_chdir, (long)r.path);
  if (rc < 0) return fail((int)-rc);
  root_cwd_changed();
  return 0;
}
EXPORT int fchdir(int fd) {
  ensure();
  long rc = sys::raw(SYS_fchdir, fd);
  if (rc < 0) return fail((int)-rc);
  root_cwd_changed();
  return 0;
}
EXPORT char* getcwd(char* buf, size_t size) { ensure(); return getcwd_in_root(buf, size); }
EXPORT char* get_current_dir_name() { ensure(); return getcwd_in_root(nullptr, 0); }
EXPORT char* getwd(char* buf) { ensure(); return getcwd_in_root(buf, PATH_MAX); }
EXPORT char* __getcwd_chk(char* buf, size_t size, size_t buflen) {
  if (size > buflen) abort();
  return getcwd(buf, size);
}

// ---- names handed back ---------------------------------------------------
EXPORT ssize_t readlink(const char* p, char* b, size_t n) { ensure(); return readlink_in_root(AT_FDCWD, p, b, n); }
EXPORT ssize_t readlinkat(int d, const char* p, char* b, size_t n) { ensure(); return readlink_in_root(d, p, b, n); }
EXPORT ssize_t __readlink_chk(const char* p, char* b, size_t n, size_t buflen) {
  if (n > buflen) abort();
  return readlink(p, b, n);
}
EXPORT ssize_t __readlinkat_chk(int d, const char* p, char* b, size_t n, size_t buflen) {
  if (n > buflen) abort();
  return readlinkat(d, p, b, n);
}
using realpath_fn = char* (*)(const char*, char*);
EXPORT char* realpath(const char* p, char* out) {
  ensure();
  if (!g_root.active) {
    static realpath_fn fn = real<realpath_fn>("realpath");
    return fn(p, out);
  }
  return realpath_in_root(p, out);
}
EXPORT char* __realpath_chk(const char* p, char* out, size_t buflen) {
  if (buflen < PATH_MAX) abort();
  return realpath(p, out);
}
EXPORT char* canonicalize_file_name(const char* p) { return realpath(p, nullptr); }

// ---- calls that only need the path translated ----------------------------
EXPORT int truncate(const char* p, off_t len) {
  ensure();
  RESOLVE_OR(-1, AT_FDCWD, p, kFollow, r);
  return (int)sys::call(SYS_truncate, (long)r.path, (long)len);
}
EXPORT int truncate64(const char* p, off64_t len) { return truncate(p, (off_t)len); }

EXPORT int utimensat(int d, const char* p, const struct timespec t[2], int f) {
  ensure();
  if (!nonnull_path(p)) return (int)sys::call(SYS_utimensat, d, 0, (long)t, f);
  RESOLVE_OR(-1, d, p, (f & AT_SYMLINK_NOFOLLOW) ? 0 : kFollow, r);
  return (int)sys::call(SYS_utimensat, r.dirfd, (long)r.path, (long)t, f);
}
static int utimes_at(int d, const char* p, const struct timeval* tv, int f) {
  if (!tv) return utimensat(d, p, nullptr, f);
  struct timespec ts[2] = {{tv[0].tv_sec, tv[0].tv_usec * 1000}, {tv[1].tv_sec, tv[1].tv_usec * 1000}};
  return utimensat(d, p, ts, f);
}
EXPORT int utimes(const char* p, const struct timeval tv[2]) { return utimes_at(AT_FDCWD, p, tv, 0); }
EXPORT int lutimes(const char* p, const struct timeval tv[2]) { return utimes_at(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW); }
EXPORT int futimesat(int d, const char* p, const struct timeval tv[2]) { return utimes_at(d, p, tv, 0); }
EXPORT int utime(const char* p, const struct utimbuf* b) {
  if (!b) return utimensat(AT_FDCWD, p, nullptr, 0);
  struct timespec ts[2] = {{b->actime, 0}, {b->modtime, 0}};
  return utimensat(AT_FDCWD, p, ts, 0);
}

#define PATH_PASS(ret, name, params, follow, call_args)                  \
  EXPORT ret name params {                                               \
    ensure();                                                            \
    using fn_t = ret(*) params;                                          \
    static fn_t fn = real<fn_t>(#name);                                  \
    if (!g_root.active) return fn call_args;                       \
    Resolved r;                                                          \
    if (int e = resolve(AT_FDCWD, p, follow, &r)) {                      \
      errno = -e;                                                        \
      return (ret)0;                                                     \
    }                                                                    \
    p = r.path;                                                          \
    return fn call_args;                                                 \
  }

// The ones returning int give -1 on a resolution error.
#define PATH_PASS_INT(name, params, follow, call_args)                   \
  EXPORT int name params {                                               \
    ensure();                                                            \
    using fn_t = int(*) params;                                          \
    static fn_t fn = real<fn_t>(#name);                                  \
    if (!g_root.active) return fn call_args;                       \
    Resolved r;                                                          \
    if (int e = resolve(AT_FDCWD, p, follow, &r)) return fail(-e);       \
    p = r.path;                                                          \
    return fn call_args;                                                 \
  }

PATH_PASS_INT(statfs, (const char* p, struct statfs* b), kFollow, (p, b))
PATH_PASS_INT(statfs64, (const char* p, struct statfs64* b), kFollow, (p, b))
PATH_PASS_INT(statvfs, (const char* p, struct statvfs* b), kFollow, (p, b))
PATH_PASS_INT(statvfs64, (const char* p, struct statvfs64* b), kFollow, (p, b))
PATH_PASS(long, pathconf, (const char* p, int n), kFollow, (p, n))
PATH_PASS(DIR*, opendir, (const char* p), kFollow, (p))
PATH_PASS(FILE*, fopen, (const char* p, const char* m), kFollow, (p, m))
PATH_PASS(FILE*, fopen64, (const char* p, const char* m), kFollow, (p, m))
PATH_PASS(FILE*, freopen, (const char* p, const char* m, FILE* f), kFollow, (p, m, f))
PATH_PASS(FILE*, freopen64, (const char* p, const char* m, FILE* f), kFollow, (p, m, f))
PATH_PASS_INT(scandir, (const char* p, struct dirent*** l, int (*s)(const struct dirent*),
                        int (*c)(const struct dirent**, const struct dirent**)), kFollow, (p, l, s, c))
PATH_PASS_INT(scandir64, (const char* p, struct dirent64*** l, int (*s)(const struct dirent64*),
                          int (*c)(const struct dirent64**, const struct dirent64**)), kFollow, (p, l, s, c))
EXPORT void* dlopen(const char* p, int f) {
  ensure();
  using fn_t = void* (*)(const char*, int);
  static fn_t fn = real<fn_t>("dlopen");
  // A bare name is found by the loader in the root's library path; a path
  // is an inside path.
  if (!g_root.active || !p || !strchr(p, '/')) return fn(p, f);
  Resolved r;
  if (resolve(AT_FDCWD, p, kFollow, &r)) return fn(p, f);
  return fn(r.path, f);
}

// ---- temporary files -----------------------------------------------------
#define TEMPLATE(ret, name, params, args)                                \
  EXPORT ret name params {                                               \
    ensure();                                                            \
    using fn_t = ret(*) params;                                          \
    static fn_t fn = real<fn_t>(#name);                                  \
    return with_template(t, [&](char* t) { return fn args; });          \
  }
TEMPLATE(int, mkstemp, (char* t), (t))
TEMPLATE(int, mkstemp64, (char* t), (t))
TEMPLATE(int, mkostemp, (char* t, int f), (t, f))
TEMPLATE(int, mkostemp64, (char* t, int f), (t, f))
TEMPLATE(int, mkstemps, (char* t, int s), (t, s))
TEMPLATE(int, mkstemps64, (char* t, int s), (t, s))
TEMPLATE(int, mkostemps, (char* t, int s, int f), (t, s, f))
TEMPLATE(int, mkostemps64, (char* t, int s, int f), (t, s, f))
EXPORT char* mkdtemp(char* t) {
  ensure();
  using fn_t = char* (*)(char*);
  static fn_t fn = real<fn_t>("mkdtemp");
  if (!g_root.active) return fn(t);
  int r = with_template(t, [&](char* h) { return fn(h) ? 0 : -1; });
  return r == 0 ? t : nullptr;
}
EXPORT FILE* tmpfile() {
  ensure();
  using fn_t = FILE* (*)();
  static fn_t fn = real<fn_t>("tmpfile");
  if (!g_root.active) return fn();
  const char* dir = getenv("TMPDIR");
  Resolved r;
  if (resolve(AT_FDCWD, dir && *dir == '/' ? dir : "/tmp", kFollow, &r)) return fn();
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)r.path, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return fn();
  sys::raw(SYS_fcntl, fd, F_SETFD, 0);
  FILE* f = fdopen((int)fd, "w+");
  if (!f) sys::raw(SYS_close, fd);
  return f;
}
EXPORT FILE* tmpfile64() { return tmpfile(); }

// ---- chroot and mount ----------------------------------------------------
EXPORT int chroot(const char* p) {
  ensure();
  if (g_session.uid.e != 0) return fail(EPERM);
  if (int e = root_chroot(p)) return fail(-e);
  return 0;
}

// Mounting what a root already passes through (proc, sysfs, devpts, a bind
// of /dev…) succeeds and changes nothing: debootstrap and package scripts go on.
EXPORT int mount(const char* src, const char* target, const char* type, unsigned long flags, const void* data) {
  ensure();
  if (g_session.uid.e != 0) return fail(EPERM);
  static const char* const passed[] = {"proc", "sysfs", "devpts", "tmpfs", "devtmpfs", "binfmt_misc", "cgroup",
                                       "cgroup2", "securityfs", "mqueue", "debugfs", "tracefs", "pstore"};
  if (type)
    for (const char* t : passed)
      if (!strcmp(type, t)) return 0;
  if (flags & (MS_BIND | MS_REMOUNT | MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_REC)) return 0;
  return (int)sys::call(SYS_mount, (long)src, (long)target, (long)type, flags, (long)data);
}
EXPORT int umount(const char* target) { ensure(); return g_session.uid.e == 0 ? 0 : fail(EPERM); }
EXPORT int umount2(const char* target, int flags) { ensure(); return g_session.uid.e == 0 ? 0 : fail(EPERM); }

// ---- system and popen: glibc spawns /bin/sh through its internal exec ----
EXPORT int system(const char* cmd) {
  ensure();
  if (!cmd) return 1;  // a shell is available
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigprocmask(SIG_BLOCK, &block, &old);
  struct sigaction ign{}, oint, oquit;
  ign.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ign, &oint);
  sigaction(SIGQUIT, &ign, &oquit);
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t def;
  sigemptyset(&def);
  if (oint.sa_handler != SIG_IGN) sigaddset(&def, SIGINT);
  if (oquit.sa_handler != SIG_IGN) sigaddset(&def, SIGQUIT);
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setsigmask(&at, &old);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  const char* argv[] = {"sh", "-c", cmd, nullptr};
  pid_t pid;
  int r = posix_spawn(&pid, "/bin/sh", nullptr, &at, const_cast<char* const*>(argv), environ);
  posix_spawnattr_destroy(&at);
  int status = -1;
  if (r == 0) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  } else {
    status = 127 << 8;
  }
  sigaction(SIGINT, &oint, nullptr);
  sigaction(SIGQUIT, &oquit, nullptr);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return status;
}

namespace {
struct PopenEntry {
  FILE* f;
  pid_t pid;
};
PopenEntry g_popen[64];
std::atomic<int> g_popen_lock{0};
void popen_lock() {
  while (g_popen_lock.exchange(1, std::memory_order_acquire)) sched_yield();
}
void popen_unlock() { g_popen_lock.store(0, std::memory_order_release); }
}  // namespace

EXPORT FILE* popen(const char* cmd, const char* mode) {
  ensure();
  bool rd = mode[0] == 'r', cloexec = strchr(mode, 'e') != nullptr;
  if ((mode[0] != 'r' && mode[0] != 'w')) {
    errno = EINVAL;
    return nullptr;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return nullptr;
  int mine = rd ? fds[0] : fds[1], theirs = rd ? fds[1] : fds[0];
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, theirs, rd ? 1 : 0);
  popen_lock();
  // Streams of earlier popen calls must not leak into this child (POSIX).
  for (auto& e : g_popen)
    if (e.f) posix_spawn_file_actions_addclose(&fa, fileno(e.f));
  popen_unlock();
  const char* argv[] = {"sh", "-c", cmd, nullptr};
  pid_t pid;
  int r = posix_spawn(&pid, "/bin/sh", &fa, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(theirs);
  if (r != 0) {
    close(mine);
    errno = r;
    return nullptr;
  }
  if (!cloexec) fcntl(mine, F_SETFD, 0);
  FILE* f = fdopen(mine, rd ? "r" : "w");
  if (!f) {
    close(mine);
    return nullptr;
  }
  popen_lock();
  for (auto& e : g_popen)
    if (!e.f) {
      e = {f, pid};
      break;
    }
  popen_unlock();
  return f;
}

EXPORT int pclose(FILE* f) {
  ensure();
  pid_t pid = -1;
  popen_lock();
  for (auto& e : g_popen)
    if (e.f == f) {
      pid = e.pid;
      e = {nullptr, 0};
      break;
    }
  popen_unlock();
  if (pid < 0) {
    using fn_t = int (*)(FILE*);
    static fn_t fn = real<fn_t>("pclose");
    return fn(f);
  }
  fclose(f);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return status;
}
