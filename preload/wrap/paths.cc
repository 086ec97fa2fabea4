// Wrappers whose only business is the path: resolve it inside the root and
// hand the host path to the kernel (or to libc, where libc's own code would
// otherwise open the file behind our back), and turn host paths handed back
// into inside paths. Without a root, resolve() passes everything through.
#include <dirent.h>
#include <dlfcn.h>
#include <ftw.h>
#include <link.h>
#include <glob.h>
#include <pwd.h>
#include <linux/openat2.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <mntent.h>
#include <utmp.h>
#include <utmpx.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utime.h>
#include <time.h>

#include <algorithm>
#include <cstdarg>
#include <cstddef>
#include <cstring>

#include "../core/cow.h"
#include "../core/hash.h"
#include "../core/ops.h"
#include "../core/resolve.h"
#include "../core/session.h"
#include "../core/sys.h"
#include "wrap.h"

using namespace cr;
using cr::wrap::ensure;
using cr::wrap::real;

extern char** environ;
// glibc's "*** buffer overflow detected ***" exit of the _chk variants.
extern "C" [[noreturn]] void __chk_fail(void);

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


ssize_t readlink_in_root(int dirfd, const char* path, char* buf, size_t size) {
  if (!g_root.active) return sys::call(SYS_readlinkat, dirfd, (long)path, (long)buf, size);
  RESOLVE_OR(-1, dirfd, path, 0, r);
  char exe[PATH_MAX];
  if (r.path[0] == '/' && proc_exe_inside(r.path, exe, sizeof exe)) {
    size_t l = strlen(exe);
    if (l > size) l = size;
    memcpy(buf, exe, l);
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
EXPORT char* __getwd_chk(char* buf, size_t buflen) {
  if (buflen < PATH_MAX) __chk_fail();
  ensure();
  return getcwd_in_root(buf, PATH_MAX);
}
EXPORT char* __getcwd_chk(char* buf, size_t size, size_t buflen) {
  if (size > buflen) __chk_fail();
  return getcwd(buf, size);
}

// ---- names handed back ---------------------------------------------------
EXPORT ssize_t readlink(const char* p, char* b, size_t n) { ensure(); return readlink_in_root(AT_FDCWD, p, b, n); }
EXPORT ssize_t readlinkat(int d, const char* p, char* b, size_t n) { ensure(); return readlink_in_root(d, p, b, n); }
EXPORT ssize_t __readlink_chk(const char* p, char* b, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  return readlink(p, b, n);
}
EXPORT ssize_t __readlinkat_chk(int d, const char* p, char* b, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
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
  if (buflen < PATH_MAX) __chk_fail();
  return realpath(p, out);
}
EXPORT char* canonicalize_file_name(const char* p) { return realpath(p, nullptr); }

// ---- calls that only need the path translated ----------------------------
EXPORT int truncate(const char* p, off_t len) {
  ensure();
  RESOLVE_OR(-1, AT_FDCWD, p, kFollow, r);
  char copy[4200];
  if (int e = cow_prepare(&r.dirfd, &r.path, !g_root.active, CowWhat::kContent, copy, sizeof copy)) return fail(-e);
  return (int)sys::call(SYS_truncate, (long)r.path, (long)len);
}
EXPORT int truncate64(const char* p, off64_t len) { return truncate(p, (off_t)len); }

// utimensat with a null path is futimens (glibc's header calls it non-null).
static int utimens_any(int d, const char* p, const struct timespec t[2], int f) {
  ensure();
  if (!nonnull_path(p)) {
    char broke[4200];
    int e = cow_prepare_fd(d, broke, sizeof broke, CowWhat::kMeta);
    if (e < 0) return fail(-e);
    if (e == 1) return (int)sys::call(SYS_utimensat, AT_FDCWD, (long)broke, (long)t, AT_SYMLINK_NOFOLLOW);
    return (int)sys::call(SYS_utimensat, d, 0, (long)t, f);
  }
  RESOLVE_OR(-1, d, p, (f & AT_SYMLINK_NOFOLLOW) ? 0 : kFollow, r);
  char copy[4200];
  if (int e = cow_prepare(&r.dirfd, &r.path, !(f & AT_SYMLINK_NOFOLLOW) && !g_root.active, CowWhat::kMeta, copy,
                          sizeof copy))
    return fail(-e);
  if (r.path == copy) f = (f & ~AT_EMPTY_PATH) | AT_SYMLINK_NOFOLLOW;
  cow_note(r.dirfd, r.path);
  return (int)sys::call(SYS_utimensat, r.dirfd, (long)r.path, (long)t, f);
}
EXPORT int utimensat(int d, const char* p, const struct timespec t[2], int f) { return utimens_any(d, p, t, f); }
static int utimes_at(int d, const char* p, const struct timeval* tv, int f) {
  if (!tv) return utimens_any(d, p, nullptr, f);
  struct timespec ts[2] = {{tv[0].tv_sec, tv[0].tv_usec * 1000}, {tv[1].tv_sec, tv[1].tv_usec * 1000}};
  return utimens_any(d, p, ts, f);
}
EXPORT int utimes(const char* p, const struct timeval tv[2]) { return utimes_at(AT_FDCWD, p, tv, 0); }
EXPORT int lutimes(const char* p, const struct timeval tv[2]) { return utimes_at(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW); }
EXPORT int futimens(int fd, const struct timespec t[2]) { return utimens_any(fd, nullptr, t, 0); }
EXPORT int futimes(int fd, const struct timeval tv[2]) {
  if (!tv) return utimens_any(fd, nullptr, nullptr, 0);
  struct timespec ts[2] = {{tv[0].tv_sec, tv[0].tv_usec * 1000}, {tv[1].tv_sec, tv[1].tv_usec * 1000}};
  return utimens_any(fd, nullptr, ts, 0);
}
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
// fopen and freopen open through glibc's internal open: resolution and the
// copy-on-write step happen here.
// The open(2) flags of an fopen mode, as glibc reads it; false for modes it
// would refuse or whose extras (",ccs=") only glibc's fopen handles.
bool fopen_flags(const char* m, int* flags) {
  int acc, extra;
  switch (m ? m[0] : 0) {
    case 'r': acc = O_RDONLY; extra = 0; break;
    case 'w': acc = O_WRONLY; extra = O_CREAT | O_TRUNC; break;
    case 'a': acc = O_WRONLY; extra = O_CREAT | O_APPEND; break;
    default: return false;
  }
  for (const char* c = m + 1; *c && *c != ','; c++) {
    if (*c == '+') acc = O_RDWR;
    else if (*c == 'x') extra |= O_EXCL;
    else if (*c == 'e') extra |= O_CLOEXEC;
  }
  if (strchr(m, ',')) return false;
  *flags = acc | extra;
  return true;
}

// fopen opens with glibc's internal open, which no wrapper sees: here the
// file is opened through the pipeline (inside path, copy-on-write, the
// creating fake user as owner, the clone's journal) and handed to fdopen.
// freopen keeps glibc's own reopening; what it would miss is done around it.
EXPORT FILE* fopen(const char* p, const char* m) {
  ensure();
  using fn_t = FILE* (*)(const char*, const char*);
  static fn_t fn = real<fn_t>("fopen");
  int flags;
  if (!nonnull_path(p) || !fopen_flags(m, &flags)) return fn(p, m);
  int fd = ops::open_at(AT_FDCWD, p, flags, 0666);
  if (fd < 0) return nullptr;
  FILE* f = fdopen(fd, m);
  if (!f) {
    int e = errno;
    sys::raw(SYS_close, fd);
    errno = e;
  }
  return f;
}
EXPORT FILE* fopen64(const char* p, const char* m) { return fopen(p, m); }

template <typename Fn>
FILE* freopen_like(Fn fn, const char* p, const char* m, FILE* stream) {
  if (!nonnull_path(p)) {
    // freopen(NULL, mode, f) reopens f's own file (by /proc/self/fd/N): for
    // writing, a file shared with the base gets its copy, reopened by name.
    bool w = m && (strchr(m, 'w') || strchr(m, 'a') || strchr(m, '+'));
    char copy[4200];
    if (w && stream) {
      int e = cow_prepare_fd(fileno(stream), copy, sizeof copy, CowWhat::kContent);
      if (e < 0) {
        errno = -e;
        return nullptr;
      }
      if (e == 1) return fn(copy, m, stream);
    }
    return fn(p, m, stream);
  }
  if (!g_root.active && !g_cow.active && !ops::creation_owner_needed()) return fn(p, m, stream);
  Resolved r;
  if (int e = resolve(AT_FDCWD, p, kFollow, &r)) {
    errno = -e;
    return nullptr;
  }
  bool w = m && (strchr(m, 'w') || strchr(m, 'a') || strchr(m, '+'));
  bool excl = m && strchr(m, 'x');
  char copy[4200];
  if (w && !excl) {
    if (int e = cow_prepare(&r.dirfd, &r.path, !g_root.active, CowWhat::kContent, copy, sizeof copy)) {
      errno = -e;
      return nullptr;
    }
  }
  struct statx before;
  bool existed = sys::raw(SYS_statx, AT_FDCWD, (long)r.path, 0, STATX_TYPE, (long)&before) == 0;
  if (w) cow_note(r.dirfd, r.path);
  FILE* f = fn(r.path, m, stream);
  if (f && w && !existed) ops::note_new_file(fileno(f));
  return f;
}
EXPORT FILE* freopen(const char* p, const char* m, FILE* f) {
  ensure();
  using fn_t = FILE* (*)(const char*, const char*, FILE*);
  static fn_t fn = real<fn_t>("freopen");
  return freopen_like(fn, p, m, f);
}
EXPORT FILE* freopen64(const char* p, const char* m, FILE* f) {
  ensure();
  using fn_t = FILE* (*)(const char*, const char*, FILE*);
  static fn_t fn = real<fn_t>("freopen64");
  return freopen_like(fn, p, m, f);
}
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
// glibc's mkstemp family creates its file with an internal open no wrapper
// sees: the file would miss the pipeline (the inside path, the creating
// fake user as owner, the clone's journal). So the names are made here and
// each try is the wrapped open or mkdir.
namespace {

enum class Temp { kFile, kDir, kName };

int make_temp(char* tmpl, int suffixlen, int flags, Temp kind) {
  size_t len = strlen(tmpl);
  if (suffixlen < 0 || len < 6 + (size_t)suffixlen || memcmp(tmpl + len - suffixlen - 6, "XXXXXX", 6) != 0)
    return fail(EINVAL);
  char* x = tmpl + len - suffixlen - 6;
  static const char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  int saved = errno;
  for (int attempt = 0; attempt < 62 * 62 * 62; attempt++) {
    uint64_t v = 0;
    if (sys::raw(SYS_getrandom, (long)&v, sizeof v, GRND_NONBLOCK) != (long)sizeof v) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      v = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)sys::raw(SYS_getpid) ^ ((uint64_t)attempt << 40);
    }
    for (int i = 0; i < 6; i++, v /= 62) x[i] = kLetters[v % 62];
    int r;
    if (kind == Temp::kFile) {
      r = ops::open_at(AT_FDCWD, tmpl, (flags & ~O_ACCMODE) | O_RDWR | O_CREAT | O_EXCL, 0600);
    } else if (kind == Temp::kDir) {
      r = ops::mkdir_at(AT_FDCWD, tmpl, 0700);
    } else {
      struct stat st;
      r = ops::stat_at(AT_FDCWD, tmpl, &st, AT_SYMLINK_NOFOLLOW);
      if (r < 0 && errno == ENOENT) {
        errno = saved;
        return 0;
      }
      if (r < 0) return -1;
      errno = EEXIST;
      r = -1;
    }
    if (r >= 0) {
      errno = saved;
      return r;
    }
    if (errno != EEXIST) return -1;
  }
  return fail(EEXIST);
}

}  // namespace

EXPORT int mkstemp(char* t) { ensure(); return make_temp(t, 0, 0, Temp::kFile); }
EXPORT int mkstemp64(char* t) { ensure(); return make_temp(t, 0, 0, Temp::kFile); }
EXPORT int mkostemp(char* t, int f) { ensure(); return make_temp(t, 0, f, Temp::kFile); }
EXPORT int mkostemp64(char* t, int f) { ensure(); return make_temp(t, 0, f, Temp::kFile); }
EXPORT int mkstemps(char* t, int s) { ensure(); return make_temp(t, s, 0, Temp::kFile); }
EXPORT int mkstemps64(char* t, int s) { ensure(); return make_temp(t, s, 0, Temp::kFile); }
EXPORT int mkostemps(char* t, int s, int f) { ensure(); return make_temp(t, s, f, Temp::kFile); }
EXPORT int mkostemps64(char* t, int s, int f) { ensure(); return make_temp(t, s, f, Temp::kFile); }
EXPORT char* mktemp(char* t) {
  ensure();
  if (make_temp(t, 0, 0, Temp::kName) < 0) t[0] = 0;  // glibc's contract: an empty string on failure
  return t;
}
EXPORT char* mkdtemp(char* t) {
  ensure();
  return make_temp(t, 0, 0, Temp::kDir) < 0 ? nullptr : t;
}
// An unnamed file in the root's /tmp (glibc's tmpfile ignores TMPDIR too),
// through the wrapped open so that it is the creating fake user's.
EXPORT FILE* tmpfile() {
  ensure();
  int fd = ops::open_at(AT_FDCWD, "/tmp", O_TMPFILE | O_RDWR, 0600);
  if (fd < 0) {
    // No O_TMPFILE here: a named file, removed at once.
    char name[] = "/tmp/tmpfXXXXXX";
    fd = make_temp(name, 0, 0, Temp::kFile);
    if (fd < 0) return nullptr;
    ops::unlink_at(AT_FDCWD, name, 0);
  }
  FILE* f = fdopen(fd, "w+");
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

// ---- raw syscall(): libuv, coreutils and others call some system calls
// through it; the ones that take paths or identity go through the same
// operations as their libc functions.
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
EXPORT long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  ensure();
  auto ret = [](long r) -> long { return r; };
  switch (n) {
    case SYS_statx:
      return ret(ops::statx_at((int)a[0], (const char*)a[1], (int)a[2], (unsigned)a[3], (struct statx*)a[4]));
    case SYS_newfstatat:
      return ret(ops::stat_at((int)a[0], (const char*)a[1], (struct stat*)a[2], (int)a[3]));
    case SYS_renameat2:
      return ret(ops::rename_at((int)a[0], (const char*)a[1], (int)a[2], (const char*)a[3], (unsigned)a[4]));
    case SYS_fchmodat2:
    case SYS_fchmodat:
      return ret(ops::chmod_at((int)a[0], (const char*)a[1], (mode_t)a[2], n == SYS_fchmodat ? 0 : (int)a[3]));
    case SYS_fchownat:
      return ret(ops::chown_at((int)a[0], (const char*)a[1], (uid_t)a[2], (gid_t)a[3], (int)a[4]));
    case SYS_faccessat2:
      return ret(ops::access_at((int)a[0], (const char*)a[1], (int)a[2], (int)a[3]));
    case SYS_openat:
      return ret(ops::open_at((int)a[0], (const char*)a[1], (int)a[2], (mode_t)a[3]));
    case SYS_mkdirat:
      return ret(ops::mkdir_at((int)a[0], (const char*)a[1], (mode_t)a[2]));
    case SYS_unlinkat:
      return ret(ops::unlink_at((int)a[0], (const char*)a[1], (int)a[2]));
    case SYS_mount:
      return ret(mount((const char*)a[0], (const char*)a[1], (const char*)a[2], (unsigned long)a[3], (const void*)a[4]));
    case SYS_umount2:
      return ret(umount2((const char*)a[0], (int)a[1]));
    case SYS_chroot:
      return ret(chroot((const char*)a[0]));
    // The older calls and the rest of the path-taking ones, for programs
    // that make them with syscall() (libuv, Go's and Rust's runtimes do).
    case SYS_openat2: {
      auto* how = (const struct open_how*)a[2];
      if (!how || (size_t)a[3] < sizeof(uint64_t) * 3) return sys::call(n, a[0], a[1], a[2], a[3]);
      // Confined to dirfd (a directory inside): the kernel's own rules hold.
      if (how->resolve & (RESOLVE_IN_ROOT | RESOLVE_BENEATH)) return sys::call(n, a[0], a[1], a[2], a[3]);
      if (how->flags >> 32) return fail(EINVAL);
      // The walk inside does not keep openat2's other promises (no symlinks,
      // no magic links, no mount crossed, cached only): say the call is not
      // there, as an old kernel would, and callers use openat instead.
      if (how->resolve) return fail(ENOSYS);
      return ret(ops::open_at((int)a[0], (const char*)a[1], (int)how->flags, (mode_t)how->mode));
    }
    case SYS_open: return ret(ops::open_at(AT_FDCWD, (const char*)a[0], (int)a[1], (mode_t)a[2]));
    case SYS_creat: return ret(ops::open_at(AT_FDCWD, (const char*)a[0], O_CREAT | O_WRONLY | O_TRUNC, (mode_t)a[1]));
    case SYS_stat: return ret(ops::stat_at(AT_FDCWD, (const char*)a[0], (struct stat*)a[1], 0));
    case SYS_lstat: return ret(ops::stat_at(AT_FDCWD, (const char*)a[0], (struct stat*)a[1], AT_SYMLINK_NOFOLLOW));
    case SYS_fstat: return ret(ops::stat_at((int)a[0], "", (struct stat*)a[1], AT_EMPTY_PATH));
    case SYS_access: return ret(ops::access_at(AT_FDCWD, (const char*)a[0], (int)a[1], 0));
    case SYS_faccessat: return ret(ops::access_at((int)a[0], (const char*)a[1], (int)a[2], 0));
    case SYS_readlink: return readlink((const char*)a[0], (char*)a[1], (size_t)a[2]);
    case SYS_readlinkat: return readlinkat((int)a[0], (const char*)a[1], (char*)a[2], (size_t)a[3]);
    case SYS_chdir: return chdir((const char*)a[0]);
    case SYS_fchdir: return fchdir((int)a[0]);
    case SYS_getcwd: {
      // The kernel's convention: the length with its NUL.
      char* r = getcwd((char*)a[0], (size_t)a[1]);
      return r ? (long)strlen(r) + 1 : -1;
    }
    case SYS_utimensat:
      return utimensat((int)a[0], (const char*)a[1], (const struct timespec*)a[2], (int)a[3]);
    case SYS_utimes: return utimes((const char*)a[0], (const struct timeval*)a[1]);
    case SYS_futimesat: return futimesat((int)a[0], (const char*)a[1], (const struct timeval*)a[2]);
    case SYS_utime: return utime((const char*)a[0], (const struct utimbuf*)a[1]);
    case SYS_symlink: return ret(ops::symlink_at((const char*)a[0], AT_FDCWD, (const char*)a[1]));
    case SYS_symlinkat: return ret(ops::symlink_at((const char*)a[0], (int)a[1], (const char*)a[2]));
    case SYS_link: return ret(ops::link_at(AT_FDCWD, (const char*)a[0], AT_FDCWD, (const char*)a[1], 0));
    case SYS_linkat:
      return ret(ops::link_at((int)a[0], (const char*)a[1], (int)a[2], (const char*)a[3], (int)a[4]));
    case SYS_rename: return ret(ops::rename_at(AT_FDCWD, (const char*)a[0], AT_FDCWD, (const char*)a[1], 0));
    case SYS_renameat: return ret(ops::rename_at((int)a[0], (const char*)a[1], (int)a[2], (const char*)a[3], 0));
    case SYS_unlink: return ret(ops::unlink_at(AT_FDCWD, (const char*)a[0], 0));
    case SYS_rmdir: return ret(ops::unlink_at(AT_FDCWD, (const char*)a[0], AT_REMOVEDIR));
    case SYS_mkdir: return ret(ops::mkdir_at(AT_FDCWD, (const char*)a[0], (mode_t)a[1]));
    case SYS_mknod: return ret(ops::mknod_at(AT_FDCWD, (const char*)a[0], (mode_t)a[1], (dev_t)a[2]));
    case SYS_mknodat: return ret(ops::mknod_at((int)a[0], (const char*)a[1], (mode_t)a[2], (dev_t)a[3]));
    case SYS_chmod: return ret(ops::chmod_at(AT_FDCWD, (const char*)a[0], (mode_t)a[1], 0));
    case SYS_fchmod: return fchmod((int)a[0], (mode_t)a[1]);
    case SYS_chown: return ret(ops::chown_at(AT_FDCWD, (const char*)a[0], (uid_t)a[1], (gid_t)a[2], 0));
    case SYS_lchown:
      return ret(ops::chown_at(AT_FDCWD, (const char*)a[0], (uid_t)a[1], (gid_t)a[2], AT_SYMLINK_NOFOLLOW));
    case SYS_fchown: return fchown((int)a[0], (uid_t)a[1], (gid_t)a[2]);
    case SYS_truncate: return truncate((const char*)a[0], (off_t)a[1]);
    case SYS_setxattr:
      return setxattr((const char*)a[0], (const char*)a[1], (const void*)a[2], (size_t)a[3], (int)a[4]);
    case SYS_lsetxattr:
      return lsetxattr((const char*)a[0], (const char*)a[1], (const void*)a[2], (size_t)a[3], (int)a[4]);
    case SYS_fsetxattr: return fsetxattr((int)a[0], (const char*)a[1], (const void*)a[2], (size_t)a[3], (int)a[4]);
    case SYS_getxattr: return getxattr((const char*)a[0], (const char*)a[1], (void*)a[2], (size_t)a[3]);
    case SYS_lgetxattr: return lgetxattr((const char*)a[0], (const char*)a[1], (void*)a[2], (size_t)a[3]);
    case SYS_fgetxattr: return fgetxattr((int)a[0], (const char*)a[1], (void*)a[2], (size_t)a[3]);
    case SYS_listxattr: return listxattr((const char*)a[0], (char*)a[1], (size_t)a[2]);
    case SYS_llistxattr: return llistxattr((const char*)a[0], (char*)a[1], (size_t)a[2]);
    case SYS_flistxattr: return flistxattr((int)a[0], (char*)a[1], (size_t)a[2]);
    case SYS_removexattr: return removexattr((const char*)a[0], (const char*)a[1]);
    case SYS_lremovexattr: return lremovexattr((const char*)a[0], (const char*)a[1]);
    case SYS_fremovexattr: return fremovexattr((int)a[0], (const char*)a[1]);
    case SYS_statfs: return statfs((const char*)a[0], (struct statfs*)a[1]);
    case SYS_execve: return execve((const char*)a[0], (char* const*)a[1], (char* const*)a[2]);
    case SYS_execveat:
      return execveat((int)a[0], (const char*)a[1], (char* const*)a[2], (char* const*)a[3], (int)a[4]);
    case SYS_getresuid: return ops::getresuid((uid_t*)a[0], (uid_t*)a[1], (uid_t*)a[2]);
    case SYS_getresgid: return ops::getresgid((gid_t*)a[0], (gid_t*)a[1], (gid_t*)a[2]);
    case SYS_setreuid: return ops::setreuid((uid_t)a[0], (uid_t)a[1]);
    case SYS_setregid: return ops::setregid((gid_t)a[0], (gid_t)a[1]);
    case SYS_setfsuid: return ops::setfsuid((uid_t)a[0]);
    case SYS_setfsgid: return ops::setfsgid((gid_t)a[0]);
    case SYS_getgroups: return ops::getgroups((int)a[0], (gid_t*)a[1]);
    case SYS_setgroups: return ops::setgroups((size_t)a[0], (const gid_t*)a[1]);
    case SYS_getuid: return ops::getuid();
    case SYS_geteuid: return ops::geteuid();
    case SYS_getgid: return ops::getgid();
    case SYS_getegid: return ops::getegid();
    case SYS_setuid: return ops::setuid((uid_t)a[0]);
    case SYS_setgid: return ops::setgid((gid_t)a[0]);
    case SYS_setresuid: return ops::setresuid((uid_t)a[0], (uid_t)a[1], (uid_t)a[2]);
    case SYS_setresgid: return ops::setresgid((gid_t)a[0], (gid_t)a[1], (gid_t)a[2]);
    case SYS_capget: return ops::capget((void*)a[0], (void*)a[1]);
    case SYS_capset: return ops::capset((void*)a[0], (const void*)a[1]);
  }
  return sys::call(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}

// ---- walkers glibc runs with its internal stat and opendir ---------------
// nftw/ftw: the host walk runs under a thunk that turns each path back into
// an inside path and puts the fake owner and mode on each stat buffer.
namespace {
using nftw_cb = int (*)(const char*, const struct stat*, int, struct FTW*);
using nftw64_cb = int (*)(const char*, const struct stat64*, int, struct FTW*);
using ftw_cb = int (*)(const char*, const struct stat*, int);
// initial-exec: a general-dynamic access would make the library need
// ld.so's __tls_get_addr (a second run-time dependency besides libc).
#define CR_TLS thread_local __attribute__((tls_model("initial-exec")))
CR_TLS void* t_walk_cb;
// The walk's top as the program named it (its own string, alive for the
// walk) and as the host names it, both without trailing slashes, as glibc
// reports the top.
CR_TLS const char* t_inside;
CR_TLS size_t t_inside_len, t_host_len;

size_t trimmed_len(const char* p) {
  size_t l = strlen(p);
  while (l > 1 && p[l - 1] == '/') l--;
  return l;
}

// The path the program should see: its own top, then the walk's tail.
// glibc builds every path from the top we passed it (the host's).
const char* walk_path(const char* host, char* out, size_t n) {
  if (!g_root.active || !t_inside) return host;
  size_t hl = strlen(host);
  if (hl < t_host_len) return host;
  const char* tail = host + (t_host_len == 1 && host[0] == '/' ? 0 : t_host_len);
  size_t tl = strlen(tail);
  size_t il = (tl && t_inside_len == 1 && t_inside[0] == '/') ? 0 : t_inside_len;
  if (il + tl + 1 > n) return host;
  memcpy(out, t_inside, il);
  memcpy(out + il, tail, tl + 1);
  return out;
}

int nftw_thunk(const char* p, const struct stat* sb, int flag, struct FTW* f) {
  char buf[PATH_MAX];
  const char* in = walk_path(p, buf, sizeof buf);
  struct stat st = *sb;
  if (flag != FTW_NS) ops::overlay_stat(&st);
  struct FTW f2 = *f;
  f2.base -= (int)(strlen(p) - strlen(in));
  return reinterpret_cast<nftw_cb>(t_walk_cb)(in, &st, flag, &f2);
}
int ftw_thunk(const char* p, const struct stat* sb, int flag) {
  char buf[PATH_MAX];
  const char* in = walk_path(p, buf, sizeof buf);
  struct stat st = *sb;
  if (flag != FTW_NS) ops::overlay_stat(&st);
  return reinterpret_cast<ftw_cb>(t_walk_cb)(in, &st, flag);
}

template <typename F>
int walk_in_root(const char* dir, void* cb, F&& run) {
  void* saved_cb = t_walk_cb;
  const char* saved_inside = t_inside;
  size_t saved_h = t_host_len, saved_i = t_inside_len;
  const char* host = dir;
  char hostbuf[PATH_MAX];
  if (g_root.active && dir && *dir) {
    Resolved r;
    if (int e = resolve(AT_FDCWD, dir, kFollow, &r)) return fail(-e);
    size_t hl = trimmed_len(r.path);
    if (hl >= sizeof hostbuf) return fail(ENAMETOOLONG);
    memcpy(hostbuf, r.path, hl);
    hostbuf[hl] = 0;
    host = hostbuf;
    t_host_len = hl;
    t_inside = dir;
    t_inside_len = trimmed_len(dir);
  } else {
    t_inside = nullptr;
  }
  t_walk_cb = cb;
  int ret = run(host);
  t_walk_cb = saved_cb;
  t_inside = saved_inside;
  t_host_len = saved_h;
  t_inside_len = saved_i;
  return ret;
}
}  // namespace

EXPORT int nftw(const char* dir, nftw_cb fn, int nopen, int flags) {
  ensure();
  using real_t = int (*)(const char*, nftw_cb, int, int);
  static real_t rf = real<real_t>("nftw");
  return walk_in_root(dir, (void*)fn, [&](const char* host) { return rf(host, nftw_thunk, nopen, flags); });
}
EXPORT int nftw64(const char* dir, nftw64_cb fn, int nopen, int flags) {
  return nftw(dir, reinterpret_cast<nftw_cb>(fn), nopen, flags);  // one layout on 64-bit
}
EXPORT int ftw(const char* dir, ftw_cb fn, int nopen) {
  ensure();
  using real_t = int (*)(const char*, ftw_cb, int);
  static real_t rf = real<real_t>("ftw");
  return walk_in_root(dir, (void*)fn, [&](const char* host) { return rf(host, ftw_thunk, nopen); });
}
EXPORT int ftw64(const char* dir, int (*fn)(const char*, const struct stat64*, int), int nopen) {
  return ftw(dir, reinterpret_cast<ftw_cb>(fn), nopen);
}

// glob: glibc's own directory reading would see the host; with
// GLOB_ALTDIRFUNC it calls our opendir/readdir/lstat/stat instead.
EXPORT int glob(const char* pat, int flags, int (*errfn)(const char*, int), glob_t* g) {
  ensure();
  using fn_t = int (*)(const char*, int, int (*)(const char*, int), glob_t*);
  static fn_t fn = real<fn_t>("glob");
  if (!g_root.active || (flags & GLOB_ALTDIRFUNC)) return fn(pat, flags, errfn, g);
  // ~ and ~user: glibc looks users up with internal calls (the host's
  // passwd); the root's are looked up here, and the pattern is given with
  // the home directory in place.
  char expanded[PATH_MAX];
  if ((flags & (GLOB_TILDE | GLOB_TILDE_CHECK)) && pat && pat[0] == '~') {
    const char* rest = strchr(pat, '/');
    size_t nl = rest ? (size_t)(rest - pat - 1) : strlen(pat + 1);
    const char* home = nullptr;
    char user[256], buf[4096];
    passwd pw, *res = nullptr;
    if (nl == 0) {
      home = getenv("HOME");
      if ((!home || !*home) && getpwuid_r(ops::getuid(), &pw, buf, sizeof buf, &res) == 0 && res) home = pw.pw_dir;
    } else if (nl < sizeof user) {
      memcpy(user, pat + 1, nl);
      user[nl] = 0;
      if (getpwnam_r(user, &pw, buf, sizeof buf, &res) == 0 && res) home = pw.pw_dir;
    }
    if (!home && (flags & GLOB_TILDE_CHECK)) return GLOB_NOMATCH;
    if (home && snprintf(expanded, sizeof expanded, "%s%s", home, rest ? rest : "") < (int)sizeof expanded) {
      pat = expanded;
      flags &= ~(GLOB_TILDE | GLOB_TILDE_CHECK);
    }
  }
  g->gl_opendir = reinterpret_cast<void* (*)(const char*)>(&opendir);
  g->gl_readdir = reinterpret_cast<struct dirent* (*)(void*)>(&readdir);
  g->gl_closedir = [](void* d) { closedir(static_cast<DIR*>(d)); };
  g->gl_lstat = reinterpret_cast<int (*)(const char*, struct stat*)>(&lstat);
  g->gl_stat = reinterpret_cast<int (*)(const char*, struct stat*)>(&stat);
  return fn(pat, flags | GLOB_ALTDIRFUNC, errfn, g);
}
EXPORT int glob64(const char* pat, int flags, int (*errfn)(const char*, int), glob64_t* g) {
  return glob(pat, flags, errfn, reinterpret_cast<glob_t*>(g));
}

// ---- the rest of glibc's path-taking functions ---------------------------
EXPORT int scandirat(int d, const char* p, struct dirent*** l, int (*s)(const struct dirent*),
                     int (*c)(const struct dirent**, const struct dirent**)) {
  ensure();
  using fn_t = int (*)(int, const char*, struct dirent***, int (*)(const struct dirent*),
                       int (*)(const struct dirent**, const struct dirent**));
  static fn_t fn = real<fn_t>("scandirat");
  RESOLVE_OR(-1, d, p, kFollow, r);
  return fn(r.dirfd, r.path, l, s, c);
}
EXPORT int scandirat64(int d, const char* p, struct dirent64*** l, int (*s)(const struct dirent64*),
                       int (*c)(const struct dirent64**, const struct dirent64**)) {
  return scandirat(d, p, reinterpret_cast<struct dirent***>(l), reinterpret_cast<int (*)(const struct dirent*)>(s),
                   reinterpret_cast<int (*)(const struct dirent**, const struct dirent**)>(c));
}
EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t* fa, int fd, const char* p, int oflag,
                                            mode_t mode) {
  ensure();
  using fn_t = int (*)(posix_spawn_file_actions_t*, int, const char*, int, mode_t);
  static fn_t fn = real<fn_t>("posix_spawn_file_actions_addopen");
  Resolved r;  // glibc keeps a copy of the path
  if (int e = resolve(AT_FDCWD, p, (oflag & O_NOFOLLOW) ? 0 : kFollow, &r)) return -e;
  return fn(fa, fd, r.path, oflag, mode);
}
EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t* fa, const char* p) {
  ensure();
  using fn_t = int (*)(posix_spawn_file_actions_t*, const char*);
  static fn_t fn = real<fn_t>("posix_spawn_file_actions_addchdir_np");
  Resolved r;
  if (int e = resolve(AT_FDCWD, p, kFollow, &r)) return -e;
  return fn(fa, r.path);
}
EXPORT int inotify_add_watch(int fd, const char* p, uint32_t mask) {
  ensure();
  RESOLVE_OR(-1, AT_FDCWD, p, (mask & IN_DONT_FOLLOW) ? 0 : kFollow, r);
  return (int)sys::call(SYS_inotify_add_watch, fd, (long)r.path, mask);
}
EXPORT int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int d, const char* p) {
  ensure();
  if (!nonnull_path(p)) return (int)sys::call(SYS_fanotify_mark, fd, flags, (long)mask, d, 0);
  RESOLVE_OR(-1, d, p, (flags & FAN_MARK_DONT_FOLLOW) ? 0 : kFollow, r);
  return (int)sys::call(SYS_fanotify_mark, fd, flags, (long)mask, r.dirfd, (long)r.path);
}
EXPORT int name_to_handle_at(int d, const char* p, struct file_handle* h, int* mnt, int flags) {
  ensure();
  RESOLVE_OR(-1, d, p, (flags & AT_SYMLINK_FOLLOW) ? kFollow : 0, r);
  return (int)sys::call(SYS_name_to_handle_at, r.dirfd, (long)r.path, (long)h, (long)mnt, flags);
}
EXPORT void* dlmopen(Lmid_t lm, const char* p, int f) {
  ensure();
  using fn_t = void* (*)(Lmid_t, const char*, int);
  static fn_t fn = real<fn_t>("dlmopen");
  if (!g_root.active || !p || !strchr(p, '/')) return fn(lm, p, f);
  Resolved r;
  if (resolve(AT_FDCWD, p, kFollow, &r)) return fn(lm, p, f);
  return fn(lm, r.path, f);
}
PATH_PASS(FILE*, setmntent, (const char* p, const char* t), kFollow, (p, t))
PATH_PASS_INT(utmpname, (const char* p), kFollow, (p))
PATH_PASS_INT(utmpxname, (const char* p), kFollow, (p))
PATH_PASS_INT(revoke, (const char* p), kFollow, (p))
EXPORT int acct(const char* p) {
  ensure();
  if (g_session.uid.e != 0) return fail(EPERM);
  return 0;  // process accounting is root's: accepted, and nothing is recorded
}

// ---- Unix sockets: names are inside paths ---------------------------------
// A name going in (bind, connect, sendto, sendmsg, sendmmsg) is resolved
// inside the root; a name coming back (getsockname, getpeername, accept,
// recvfrom, recvmsg, recvmmsg) is turned back into the inside path. Only
// AF_UNIX path names are touched. Abstract names, unnamed sockets and every
// other family pass as they are, and for them no system call is added: the
// family is checked first on the way in, and on the way out it is only
// known after the call, so a name buffer too small for any Unix name is
// swapped for ours during the call and copied back, the way the kernel
// truncates it.
//
// A host path past sun_path's 108 bytes is reached through
// /proc/self/fd/N/NAME, N a descriptor of its directory. But the kernel
// keeps a bound name as it was given and reports that string to every peer,
// in any process, long after N is closed. So bind goes through a link
// instead: /proc/self/fd/N/K/NAME, N the session's link directory
// (STATE/un), K a link there to the socket's directory, named after its
// hash. Any process of the session reads K back (one readlink, only for
// such names); the daemon removes the links when the session is over.
//
// The send and receive calls go to libc's own functions rather than to raw
// system calls: they are cancellation points, and programs rely on that.
//
// Under --fakechroot, FAKECHROOT_AF_UNIX_PATH=DIR places a name, as
// fakechroot does, at DIR/NAME on the host without resolving it in the
// root; it comes back without DIR.
namespace {
constexpr socklen_t kSunOff = offsetof(sockaddr_un, sun_path);
constexpr size_t kSunPath = sizeof(sockaddr_un::sun_path);
constexpr size_t kLinkNameMax = 10;
constexpr char kLinkChars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

// A Unix name that is a path: the only kind translated.
inline bool unix_path(const void* a, socklen_t l) {
  return a && l > kSunOff && static_cast<const sockaddr*>(a)->sa_family == AF_UNIX &&
         static_cast<const sockaddr_un*>(a)->sun_path[0] != 0;
}

const char* af_unix_dir() {
  if (!g_session.fakechroot) return nullptr;
  const char* p = getenv("FAKECHROOT_AF_UNIX_PATH");
  return p && *p ? p : nullptr;
}

// Whether a name handed back may need translating (checked before the call).
inline bool names_translated() { return g_root.active || g_session.fakechroot; }

// The session's directory of links for long bound names, STATE/un (made on
// first use): an O_PATH descriptor, or -errno.
int open_link_dir() {
  char p[PATH_MAX];
  if (!g_session.state_dir[0] || (size_t)snprintf(p, sizeof p, "%s/un", g_session.state_dir) >= sizeof p)
    return -ENOENT;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)p, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd == -ENOENT) {
    long r = sys::raw(SYS_mkdirat, AT_FDCWD, (long)p, 0700);
    if (r < 0 && r != -EEXIST) return (int)r;
    fd = sys::raw(SYS_openat, AT_FDCWD, (long)p, O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  return (int)fd;
}

// Finds or makes, in the link directory `ld`, the link to `dir`, its name
// (into k) at most `room` characters, from dir's hash: every process finds
// the same one. A name taken by another directory moves on to the next.
bool dir_link(int ld, const char* dir, size_t room, char k[kLinkNameMax + 1]) {
  size_t kl = room < kLinkNameMax ? room : kLinkNameMax;
  size_t dl = strlen(dir);
  if (kl == 0) return false;
  uint64_t h = fnv1a(dir, dl);
  for (int probe = 0; probe < 64; probe++) {
    uint64_t v = fnv1a(&probe, sizeof probe, h);
    for (size_t i = 0; i < kl; i++, v /= 62) k[i] = kLinkChars[v % 62];
    k[kl] = 0;
    for (int tries = 0; tries < 2; tries++) {
      char cur[PATH_MAX];
      long n = sys::raw(SYS_readlinkat, ld, (long)k, (long)cur, sizeof cur);
      if (n >= 0) {
        if ((size_t)n == dl && memcmp(cur, dir, dl) == 0) return true;
        break;
      }
      if (n != -ENOENT) return false;
      long r = sys::raw(SYS_symlinkat, (long)dir, ld, (long)k);
      if (r == 0) return true;
      if (r != -EEXIST) return false;
      // Another process made it meanwhile: read it again.
    }
  }
  return false;
}

// An AF_UNIX address as the kernel must see it; the descriptor its name
// goes through, if any, is closed with it.
struct HostAddr {
  sockaddr_un un;
  socklen_t len = 0;
  int fd = -1;
  char made[PATH_MAX];  // binding: the host path of the socket file
  HostAddr() { made[0] = 0; }
  HostAddr(const HostAddr&) = delete;
  HostAddr& operator=(const HostAddr&) = delete;
  ~HostAddr() {
    if (fd >= 0) sys::raw(SYS_close, fd);
  }
};

// The path name in the first `len` bytes of a Unix address (which need not
// end in a NUL), into out (kSunPath + 1 bytes), NUL-terminated.
void sun_path_of(const sockaddr* a, socklen_t len, char* out) {
  auto* un = reinterpret_cast<const sockaddr_un*>(a);
  size_t n = strnlen(un->sun_path, std::min<size_t>(len - kSunOff, kSunPath));
  memcpy(out, un->sun_path, n);
  out[n] = 0;
}

// The host address for the program's path name (a, l). `binding`: the name
// is being made, so its last component is not followed, and a long one
// goes through a link any process can read back. Returns 0 or -errno.
int host_addr(const sockaddr* a, socklen_t l, bool binding, HostAddr* h) {
  char inside[kSunPath + 1];
  sun_path_of(a, l, inside);
  char host[PATH_MAX];
  size_t hl;
  if (const char* afp = af_unix_dir()) {
    hl = (size_t)snprintf(host, sizeof host, "%s/%s", afp, inside);
  } else {
    Resolved r;
    if (int e = resolve(AT_FDCWD, inside, binding ? 0 : kFollow, &r)) return e;
    hl = (size_t)snprintf(host, sizeof host, "%s", r.path);
  }
  if (hl >= sizeof host) return -ENAMETOOLONG;
  if (binding) memcpy(h->made, host, hl + 1);
  h->un.sun_family = AF_UNIX;
  if (hl <= kSunPath) {  // 108 bytes without a NUL is a name the kernel takes
    memcpy(h->un.sun_path, host, hl);
    if (hl < kSunPath) h->un.sun_path[hl] = 0;
    h->len = (socklen_t)(kSunOff + hl + (hl < kSunPath ? 1 : 0));
    return 0;
  }
  char* slash = strrchr(host, '/');
  if (!slash) return -ENAMETOOLONG;
  *slash = 0;
  const char* dir = slash == host ? "/" : host;
  const char* name = slash + 1;
  size_t nl = hl - (size_t)(name - host);
  char fdp[32];
  if (binding) {
    int ld = open_link_dir();
    if (ld >= 0) {
      size_t pl = sys::proc_fd_path(ld, fdp);
      char k[kLinkNameMax + 1];
      // "/proc/self/fd/N/K/NAME" and its NUL in sun_path
      if (pl + nl + 3 < kSunPath && dir_link(ld, dir, kSunPath - (pl + nl + 3), k)) {
        h->fd = ld;
        int n = snprintf(h->un.sun_path, kSunPath, "%s/%s/%s", fdp, k, name);
        h->len = (socklen_t)(kSunOff + n + 1);
        return 0;
      }
      sys::raw(SYS_close, ld);
    }
    // No link (no session directory, no room): bind works, but peers see
    // the /proc name.
  }
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return (int)fd;
  h->fd = (int)fd;
  size_t pl = sys::proc_fd_path(h->fd, fdp);
  if (pl + 1 + nl >= kSunPath) return -ENAMETOOLONG;
  int n = snprintf(h->un.sun_path, kSunPath, "%s/%s", fdp, name);
  h->len = (socklen_t)(kSunOff + n + 1);
  return 0;
}

// Calls f(addr, len) with the address as the kernel must see it.
template <typename F>
long with_name_in(const sockaddr* a, socklen_t l, bool binding, F&& f) {
  if (!unix_path(a, l)) return f(a, l);
  ensure();
  if (!g_root.active && !af_unix_dir()) return f(a, l);
  HostAddr h;
  if (int e = host_addr(a, l, binding, &h)) return fail(-e);
  long r = f(reinterpret_cast<const sockaddr*>(&h.un), h.len);
  if (r == 0 && h.made[0] == '/') cow_note(AT_FDCWD, h.made);  // a new file in a clone, for its reset
  return r;
}

// A name bind made through a link, "/proc/self/fd/N/K/NAME": the host path
// it stands for, read through the session's link K, into out.
bool linked_host(const char* s, char* out, size_t n) {
  static const char kPre[] = "/proc/self/fd/";
  if (strncmp(s, kPre, sizeof kPre - 1) != 0) return false;
  const char* p = s + sizeof kPre - 1;
  const char* digits = p;
  while (*p >= '0' && *p <= '9') p++;
  if (p == digits || *p != '/') return false;
  const char* k = ++p;
  while (*p && memchr(kLinkChars, *p, sizeof kLinkChars - 1)) p++;
  size_t kl = (size_t)(p - k);
  if (kl == 0 || kl > kLinkNameMax || *p != '/' || !p[1] || strchr(p + 1, '/')) return false;
  char link[PATH_MAX];
  if (!g_session.state_dir[0] ||
      (size_t)snprintf(link, sizeof link, "%s/un/%.*s", g_session.state_dir, (int)kl, k) >= sizeof link)
    return false;
  long dl = sys::raw(SYS_readlinkat, AT_FDCWD, (long)link, (long)out, n);
  if (dl <= 0 || (size_t)dl >= n) return false;
  if (dl == 1) dl = 0;  // the directory "/" (another trailing slash is the name's: fakechroot's DIR//NAME)
  size_t rest = strlen(p);       // "/NAME"
  if ((size_t)dl + rest + 1 > n) return false;
  memcpy(out + dl, p, rest + 1);
  return true;
}

// The program's view of a path name the kernel handed back, into out.
// False: the name is to stay as it is.
bool inside_sock_name(const char* name, char* out, size_t n) {
  char linked[PATH_MAX];
  const char* host = linked_host(name, linked, sizeof linked) ? linked : name;
  if (const char* afp = af_unix_dir()) {
    size_t al = strlen(afp);
    if (strncmp(host, afp, al) == 0 && host[al] == '/') {
      snprintf(out, n, "%s", host + al + 1);
      return true;
    }
  }
  if (g_root.active && to_inside(host, out, n)) return true;
  if (host != linked) return false;
  snprintf(out, n, "%s", linked);
  return true;
}

// Hands the program the name the kernel wrote at k (kl its whole length,
// `have` bytes of it at k) in its own buffer `user` of `cap` bytes (k may
// be user itself, which then holds any Unix name), translated; *ulen gets
// the whole length, and what does not fit is cut, as the kernel does.
void name_back(const sockaddr* k, socklen_t kl, socklen_t have, sockaddr* user, socklen_t cap, socklen_t* ulen) {
  if (have > kl) have = kl;
  if (have > kSunOff && k->sa_family == AF_UNIX && reinterpret_cast<const sockaddr_un*>(k)->sun_path[0]) {
    char host[kSunPath + 1];
    sun_path_of(k, have, host);
    char inside[PATH_MAX];
    if (inside_sock_name(host, inside, sizeof inside)) {
      sockaddr_un t;
      t.sun_family = AF_UNIX;
      size_t il = std::min(strlen(inside), kSunPath);
      memcpy(t.sun_path, inside, il);
      if (il < kSunPath) t.sun_path[il] = 0;
      socklen_t tl = (socklen_t)(kSunOff + il + (il < kSunPath ? 1 : 0));
      memcpy(user, &t, std::min(tl, cap));
      *ulen = tl;
      return;
    }
  }
  if (k != user) memcpy(user, k, std::min(have, cap));
  *ulen = kl;
}

// Calls f(addr, len) where the kernel is to write a name for (a, l), and
// hands the program that name translated. Returns f's result.
template <typename F>
long with_name_out(sockaddr* a, socklen_t* l, F&& f) {
  if (!a || !l || !names_translated()) return f(a, l);
  socklen_t cap = *l;
  if (cap >= sizeof(sockaddr_un)) {
    long r = f(a, l);
    if (r >= 0) name_back(a, *l, std::min(*l, cap), a, cap, l);
    return r;
  }
  // The program's buffer holds less than a Unix name: whatever the family,
  // ours holds all of what the program can be shown.
  sockaddr_un mine;
  socklen_t ml = sizeof mine;
  long r = f(reinterpret_cast<sockaddr*>(&mine), &ml);
  if (r >= 0) name_back(reinterpret_cast<sockaddr*>(&mine), ml, (socklen_t)sizeof mine, a, cap, l);
  return r;
}
}  // namespace

EXPORT int bind(int fd, const struct sockaddr* a, socklen_t l) {
  ensure();
  return (int)with_name_in(a, l, true, [&](const sockaddr* x, socklen_t xl) {
    return sys::call(SYS_bind, fd, (long)x, xl);
  });
}
EXPORT int connect(int fd, const struct sockaddr* a, socklen_t l) {
  ensure();
  return (int)with_name_in(a, l, false, [&](const sockaddr* x, socklen_t xl) {
    return sys::call(SYS_connect, fd, (long)x, xl);
  });
}
EXPORT int getsockname(int fd, struct sockaddr* a, socklen_t* l) {
  ensure();
  return (int)with_name_out(a, l, [&](sockaddr* x, socklen_t* xl) {
    return sys::call(SYS_getsockname, fd, (long)x, (long)xl);
  });
}
EXPORT int getpeername(int fd, struct sockaddr* a, socklen_t* l) {
  ensure();
  return (int)with_name_out(a, l, [&](sockaddr* x, socklen_t* xl) {
    return sys::call(SYS_getpeername, fd, (long)x, (long)xl);
  });
}
EXPORT int accept4(int fd, struct sockaddr* a, socklen_t* l, int flags) {
  ensure();
  return (int)with_name_out(a, l, [&](sockaddr* x, socklen_t* xl) {
    return sys::call(SYS_accept4, fd, (long)x, (long)xl, flags);
  });
}
EXPORT int accept(int fd, struct sockaddr* a, socklen_t* l) { return accept4(fd, a, l, 0); }

EXPORT ssize_t sendto(int fd, const void* buf, size_t n, int flags, const struct sockaddr* a, socklen_t l) {
  using fn_t = ssize_t (*)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
  static fn_t fn = real<fn_t>("sendto");
  return with_name_in(a, l, false, [&](const sockaddr* x, socklen_t xl) { return fn(fd, buf, n, flags, x, xl); });
}
EXPORT ssize_t sendmsg(int fd, const struct msghdr* m, int flags) {
  using fn_t = ssize_t (*)(int, const struct msghdr*, int);
  static fn_t fn = real<fn_t>("sendmsg");
  if (!m || !unix_path(m->msg_name, m->msg_namelen)) return fn(fd, m, flags);
  return with_name_in(static_cast<const sockaddr*>(m->msg_name), m->msg_namelen, false,
                      [&](const sockaddr* x, socklen_t xl) {
                        if (x == m->msg_name) return fn(fd, m, flags);
                        msghdr c = *m;
                        c.msg_name = const_cast<sockaddr*>(x);
                        c.msg_namelen = xl;
                        return fn(fd, &c, flags);
                      });
}
EXPORT int sendmmsg(int fd, struct mmsghdr* v, unsigned int n, int flags) {
  using fn_t = int (*)(int, struct mmsghdr*, unsigned int, int);
  static fn_t fn = real<fn_t>("sendmmsg");
  unsigned first = 0;
  while (v && first < n && !unix_path(v[first].msg_hdr.msg_name, v[first].msg_hdr.msg_namelen)) first++;
  if (!v || first == n) return fn(fd, v, n, flags);
  ensure();
  if (!g_root.active && !af_unix_dir()) return fn(fd, v, n, flags);
  // In chunks, through copies of the headers with the names translated
  // (a name the message before had too is translated once).
  constexpr unsigned kChunk = 8;
  unsigned sent = 0;
  while (sent < n) {
    unsigned c = std::min(kChunk, n - sent);
    mmsghdr copy[kChunk];
    HostAddr h[kChunk];
    int err = 0;
    for (unsigned j = 0; j < c; j++) {
      copy[j] = v[sent + j];
      msghdr& m = copy[j].msg_hdr;
      if (!unix_path(m.msg_name, m.msg_namelen)) continue;
      const msghdr& prev = v[sent + j - (j ? 1 : 0)].msg_hdr;
      if (j && prev.msg_name && prev.msg_namelen == m.msg_namelen &&
          memcmp(prev.msg_name, m.msg_name, m.msg_namelen) == 0) {
        m.msg_name = copy[j - 1].msg_hdr.msg_name;
        m.msg_namelen = copy[j - 1].msg_hdr.msg_namelen;
        continue;
      }
      if (int e = host_addr(static_cast<const sockaddr*>(m.msg_name), m.msg_namelen, false, &h[j])) {
        err = -e;
        c = j;
        break;
      }
      m.msg_name = &h[j].un;
      m.msg_namelen = h[j].len;
    }
    if (c == 0) {
      if (sent) return (int)sent;
      errno = err;
      return -1;
    }
    int r = fn(fd, copy, c, flags);
    if (r < 0) return sent ? (int)sent : -1;
    for (int j = 0; j < r; j++) v[sent + j].msg_len = copy[j].msg_len;
    sent += (unsigned)r;
    // Fewer than asked, or a name that failed next: the program's next
    // call starts there and learns why.
    if ((unsigned)r < c || err) return (int)sent;
  }
  return (int)sent;
}

EXPORT ssize_t recvfrom(int fd, void* buf, size_t n, int flags, struct sockaddr* a, socklen_t* l) {
  using fn_t = ssize_t (*)(int, void*, size_t, int, struct sockaddr*, socklen_t*);
  static fn_t fn = real<fn_t>("recvfrom");
  ensure();
  return with_name_out(a, l, [&](sockaddr* x, socklen_t* xl) { return fn(fd, buf, n, flags, x, xl); });
}
EXPORT ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, struct sockaddr* a,
                              socklen_t* l) {
  if (n > buflen) __chk_fail();
  return recvfrom(fd, buf, n, flags, a, l);
}
EXPORT ssize_t recvmsg(int fd, struct msghdr* m, int flags) {
  using fn_t = ssize_t (*)(int, struct msghdr*, int);
  static fn_t fn = real<fn_t>("recvmsg");
  ensure();
  if (!m || !m->msg_name) return fn(fd, m, flags);
  return with_name_out(static_cast<sockaddr*>(m->msg_name), &m->msg_namelen, [&](sockaddr* x, socklen_t* xl) {
    if (x == m->msg_name) return fn(fd, m, flags);
    // Our name buffer: the rest of what the kernel writes goes back too.
    msghdr c = *m;
    c.msg_name = x;
    c.msg_namelen = *xl;
    ssize_t r = fn(fd, &c, flags);
    if (r >= 0) {
      *xl = c.msg_namelen;
      m->msg_controllen = c.msg_controllen;
      m->msg_flags = c.msg_flags;
    }
    return r;
  });
}
EXPORT int recvmmsg(int fd, struct mmsghdr* v, unsigned int n, int flags, struct timespec* t) {
  using fn_t = int (*)(int, struct mmsghdr*, unsigned int, int, struct timespec*);
  static fn_t fn = real<fn_t>("recvmmsg");
  ensure();
  if (!v || !names_translated()) return fn(fd, v, n, flags, t);
  // Name buffers too small for a Unix name get ours for the call, in the
  // program's own vector; up to kSwap of them, and the call asks for no
  // more messages than that allows (it may always return fewer).
  constexpr unsigned kSwap = 32;
  sockaddr_un mine[kSwap];
  unsigned at[kSwap];
  void* theirs[kSwap];
  socklen_t caps[kSwap];
  unsigned ns = 0, count = n;
  for (unsigned i = 0; i < n; i++) {
    msghdr& h = v[i].msg_hdr;
    if (!h.msg_name || h.msg_namelen >= sizeof(sockaddr_un)) continue;
    if (ns == kSwap) {
      count = i;
      break;
    }
    at[ns] = i;
    theirs[ns] = h.msg_name;
    caps[ns] = h.msg_namelen;
    h.msg_name = &mine[ns];
    h.msg_namelen = sizeof mine[ns];
    ns++;
  }
  int r = fn(fd, v, count, flags, t);
  unsigned s = 0;
  for (unsigned i = 0; i < count; i++) {
    msghdr& h = v[i].msg_hdr;
    bool ours = s < ns && at[s] == i;
    bool got = r > 0 && i < (unsigned)r;
    if (ours) {
      h.msg_name = theirs[s];
      if (got) name_back(reinterpret_cast<sockaddr*>(&mine[s]), h.msg_namelen, (socklen_t)sizeof mine[s],
                         static_cast<sockaddr*>(h.msg_name), caps[s], &h.msg_namelen);
      else h.msg_namelen = caps[s];
      s++;
    } else if (got && h.msg_name) {
      name_back(static_cast<sockaddr*>(h.msg_name), h.msg_namelen, h.msg_namelen, static_cast<sockaddr*>(h.msg_name),
                (socklen_t)sizeof(sockaddr_un), &h.msg_namelen);
    }
  }
  return r;
}

// ---- the loader's names of loaded objects are host paths ------------------
// dladdr and dl_iterate_phdr report where objects were loaded from: inside
// a root those are translated (the JVM finds its home through them). The
// translated names are kept for the life of the process, as the loader's own.
namespace {
struct Interned {
  const char* host;
  const char* inside;
};
Interned g_interned[256];
// The names themselves, without malloc: LeakSanitizer walks the objects
// from a thread that stopped all others (one may hold the allocator's
// lock), and a malloc there hung the program at its exit.
constinit char g_intern_names[64 * 1024] = {};
size_t g_intern_used = 0;
std::atomic<int> g_intern_lock{0};

const char* inside_name(const char* host) {
  if (!g_root.active || !host || host[0] != '/') return host;
  // Not for ever either: the holder may be a thread stopped by such a walk.
  for (int spins = 0; g_intern_lock.exchange(1, std::memory_order_acquire); spins++) {
    if (spins > 1000) return host;
    sched_yield();
  }
  const char* out = host;
  for (auto& e : g_interned) {
    if (e.host == host) {
      out = e.inside;
      break;
    }
    if (!e.host) {
      char buf[PATH_MAX];
      size_t l;
      if (to_inside(host, buf, sizeof buf) && (l = strlen(buf)) + 1 <= sizeof g_intern_names - g_intern_used) {
        char* at = g_intern_names + g_intern_used;
        memcpy(at, buf, l + 1);
        g_intern_used += l + 1;
        e.inside = at;
        e.host = host;
        out = at;
      }
      break;
    }
  }
  g_intern_lock.store(0, std::memory_order_release);
  return out;
}

CR_TLS int (*t_phdr_cb)(struct dl_phdr_info*, size_t, void*);
int phdr_thunk(struct dl_phdr_info* info, size_t size, void* data) {
  struct dl_phdr_info copy = *info;
  copy.dlpi_name = inside_name(info->dlpi_name);
  return t_phdr_cb(&copy, size < sizeof copy ? size : sizeof copy, data);
}
}  // namespace

EXPORT int dladdr(const void* addr, Dl_info* info) {
  ensure();
  using fn_t = int (*)(const void*, Dl_info*);
  static fn_t fn = real<fn_t>("dladdr");
  int r = fn(addr, info);
  if (r) info->dli_fname = inside_name(info->dli_fname);
  return r;
}
EXPORT int dladdr1(const void* addr, Dl_info* info, void** extra, int flags) {
  ensure();
  using fn_t = int (*)(const void*, Dl_info*, void**, int);
  static fn_t fn = real<fn_t>("dladdr1");
  int r = fn(addr, info, extra, flags);
  if (r) info->dli_fname = inside_name(info->dli_fname);
  return r;
}
EXPORT int dl_iterate_phdr(int (*cb)(struct dl_phdr_info*, size_t, void*), void* data) {
  using fn_t = int (*)(int (*)(struct dl_phdr_info*, size_t, void*), void*);
  static fn_t fn = real<fn_t>("dl_iterate_phdr");
  // Another runtime's start-up (a sanitizer's, before ours ran) walks the
  // loaded objects: it gets them as they are, and our start-up waits.
  if (!cr::wrap::g_ready || !g_root.active) return fn(cb, data);
  auto saved = t_phdr_cb;
  t_phdr_cb = cb;
  int r = fn(phdr_thunk, data);
  t_phdr_cb = saved;
  return r;
}
