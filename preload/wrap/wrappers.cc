// The interposed functions of libcowroot.so. Each one is a single call into
// the core (preload/core): the core holds the pipeline and makes its system
// calls directly, so no wrapper reaches another wrapper.
//
// Everything here has C linkage and default visibility; every other symbol
// of the library is hidden (the export map is generated from this object).
#include <sys/prctl.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include "../core/cow.h"
#include "../core/exec.h"
#include "../core/ops.h"
#include "../core/resolve.h"
#include "../core/session.h"
#include "../core/sys.h"
#include "wrap.h"

using namespace cr;
using cr::wrap::ensure;
using cr::wrap::real;

extern char** environ;

namespace cr::wrap {

bool g_ready = false;

void init_once() {
  static std::atomic<int> state{0};  // 0 new, 1 running, 2 done
  int expected = 0;
  if (state.compare_exchange_strong(expected, 1)) {
    Dl_info info{};
    dladdr(reinterpret_cast<void*>(&init_once), &info);
    session_init(info.dli_fname);
    // Started through the root's loader: take the name the kernel would
    // have given (see plan_exec).
    // Then it goes from the environment: a child started behind the
    // wrappers' back (a raw execve) must not take this name too.
    if (const char* comm = getenv("COWROOT_COMM")) {
      prctl(PR_SET_NAME, comm, 0, 0, 0);
      unsetenv("COWROOT_COMM");
    }
    state.store(2);
    g_ready = true;
  }
}

}  // namespace cr::wrap

namespace {

__attribute__((constructor)) void cowroot_constructor() { ensure(); }

int exec_with_session(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  return exec_program(dirfd, path, argv, envp, flags);
}

// execvp's search of PATH, without allocation (usable in a vfork child).
int exec_search(const char* file, char* const argv[], char* const envp[]) {
  if (!*file) {
    errno = ENOENT;
    return -1;
  }
  if (strchr(file, '/')) return exec_with_session(AT_FDCWD, file, argv, envp, 0);
  const char* path = getenv("PATH");
  if (!path) path = "/bin:/usr/bin";
  size_t fl = strlen(file);
  bool eacces = false;
  for (const char* p = path;; p++) {
    const char* q = p;
    while (*q && *q != ':') q++;
    char full[kPathMax];
    size_t dl = q - p;
    if (dl == 0) {
      full[0] = '.';
      dl = 1;
    } else if (dl < kPathMax) {
      memcpy(full, p, dl);
    }
    if (dl + fl + 2 <= sizeof full) {
      full[dl] = '/';
      memcpy(full + dl + 1, file, fl + 1);
      exec_with_session(AT_FDCWD, full, argv, envp, 0);
      if (errno == ENOEXEC) {
        // Not an executable format: run it as a shell script, as execvp does.
        size_t argc = 0;
        while (argv[argc]) argc++;
        char** sh = static_cast<char**>(__builtin_alloca((argc + 2) * sizeof(char*)));
        sh[0] = const_cast<char*>("/bin/sh");
        sh[1] = full;
        for (size_t i = 1; i <= argc; i++) sh[i + 1] = argv[i];
        return exec_with_session(AT_FDCWD, "/bin/sh", sh, envp, 0);
      }
      if (errno == EACCES) eacces = true;
      else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV && errno != ETIMEDOUT)
        return -1;
    }
    if (!*q) break;
    p = q;
  }
  errno = eacces ? EACCES : ENOENT;
  return -1;
}

// Collects the arguments of an execl-style call into a stack array.
#define COLLECT_ARGS(arg0, ap, argv, extra)                                      \
  size_t argc_ = 1;                                                             \
  {                                                                             \
    va_list c_;                                                                 \
    va_copy(c_, ap);                                                            \
    while (va_arg(c_, char*)) argc_++;                                          \
    va_end(c_);                                                                 \
  }                                                                             \
  char** argv = static_cast<char**>(__builtin_alloca((argc_ + 1) * sizeof(char*))); \
  argv[0] = const_cast<char*>(arg0);                                            \
  for (size_t i_ = 1; i_ <= argc_; i_++) argv[i_] = va_arg(ap, char*);          \
  extra

bool is_live_fd(int fd) { return g_session.live_fd >= 0 && fd == g_session.live_fd; }

// Moves the session's connection away from `fd` before the program takes it.
void vacate(int fd) {
  if (!is_live_fd(fd)) return;
  long moved = sys::raw(SYS_fcntl, fd, F_DUPFD, fd + 1);
  g_session.live_fd = moved >= 0 ? (int)moved : -1;
}

}  // namespace


// ---- stat family ---------------------------------------------------------
EXPORT int stat(const char* p, struct stat* b) { ensure(); return ops::stat_at(AT_FDCWD, p, b, 0); }
EXPORT int stat64(const char* p, struct stat64* b) { return stat(p, reinterpret_cast<struct stat*>(b)); }
EXPORT int lstat(const char* p, struct stat* b) { ensure(); return ops::stat_at(AT_FDCWD, p, b, AT_SYMLINK_NOFOLLOW); }
EXPORT int lstat64(const char* p, struct stat64* b) { return lstat(p, reinterpret_cast<struct stat*>(b)); }
EXPORT int fstat(int fd, struct stat* b) { ensure(); return ops::stat_at(fd, "", b, AT_EMPTY_PATH); }
EXPORT int fstat64(int fd, struct stat64* b) { return fstat(fd, reinterpret_cast<struct stat*>(b)); }
EXPORT int fstatat(int d, const char* p, struct stat* b, int f) { ensure(); return ops::stat_at(d, p, b, f); }
EXPORT int fstatat64(int d, const char* p, struct stat64* b, int f) { return fstatat(d, p, reinterpret_cast<struct stat*>(b), f); }
EXPORT int __xstat(int, const char* p, struct stat* b) { return stat(p, b); }
EXPORT int __xstat64(int, const char* p, struct stat64* b) { return stat64(p, b); }
EXPORT int __lxstat(int, const char* p, struct stat* b) { return lstat(p, b); }
EXPORT int __lxstat64(int, const char* p, struct stat64* b) { return lstat64(p, b); }
EXPORT int __fxstat(int, int fd, struct stat* b) { return fstat(fd, b); }
EXPORT int __fxstat64(int, int fd, struct stat64* b) { return fstat64(fd, b); }
EXPORT int __fxstatat(int, int d, const char* p, struct stat* b, int f) { return fstatat(d, p, b, f); }
EXPORT int __fxstatat64(int, int d, const char* p, struct stat64* b, int f) { return fstatat64(d, p, b, f); }
EXPORT int statx(int d, const char* p, int f, unsigned m, struct statx* b) { ensure(); return ops::statx_at(d, p, f, m, b); }

// ---- ownership and modes -------------------------------------------------
EXPORT int chown(const char* p, uid_t u, gid_t g) { ensure(); return ops::chown_at(AT_FDCWD, p, u, g, 0); }
EXPORT int lchown(const char* p, uid_t u, gid_t g) { ensure(); return ops::chown_at(AT_FDCWD, p, u, g, AT_SYMLINK_NOFOLLOW); }
EXPORT int fchown(int fd, uid_t u, gid_t g) { ensure(); return ops::chown_at(fd, "", u, g, AT_EMPTY_PATH); }
EXPORT int fchownat(int d, const char* p, uid_t u, gid_t g, int f) { ensure(); return ops::chown_at(d, p, u, g, f); }
EXPORT int chmod(const char* p, mode_t m) { ensure(); return ops::chmod_at(AT_FDCWD, p, m, 0); }
EXPORT int lchmod(const char* p, mode_t m) { ensure(); return ops::chmod_at(AT_FDCWD, p, m, AT_SYMLINK_NOFOLLOW); }
EXPORT int fchmod(int fd, mode_t m) { ensure(); return ops::chmod_at(fd, nullptr, m, 0); }
EXPORT int fchmodat(int d, const char* p, mode_t m, int f) { ensure(); return ops::chmod_at(d, p, m, f); }
EXPORT mode_t umask(mode_t m) { ensure(); return ops::umask(m); }

// ---- creating and removing names -----------------------------------------
EXPORT int mknod(const char* p, mode_t m, dev_t d) { ensure(); return ops::mknod_at(AT_FDCWD, p, m, d); }
EXPORT int mknodat(int dfd, const char* p, mode_t m, dev_t d) { ensure(); return ops::mknod_at(dfd, p, m, d); }
EXPORT int __xmknod(int, const char* p, mode_t m, dev_t* d) { return mknod(p, m, *d); }
EXPORT int __xmknodat(int, int dfd, const char* p, mode_t m, dev_t* d) { return mknodat(dfd, p, m, *d); }
EXPORT int mkfifo(const char* p, mode_t m) { return mknod(p, (m & 07777) | S_IFIFO, 0); }
EXPORT int mkfifoat(int dfd, const char* p, mode_t m) { return mknodat(dfd, p, (m & 07777) | S_IFIFO, 0); }
EXPORT int mkdir(const char* p, mode_t m) { ensure(); return ops::mkdir_at(AT_FDCWD, p, m); }
EXPORT int mkdirat(int d, const char* p, mode_t m) { ensure(); return ops::mkdir_at(d, p, m); }
EXPORT int symlink(const char* t, const char* p) { ensure(); return ops::symlink_at(t, AT_FDCWD, p); }
EXPORT int symlinkat(const char* t, int d, const char* p) { ensure(); return ops::symlink_at(t, d, p); }
EXPORT int link(const char* a, const char* b) { ensure(); return ops::link_at(AT_FDCWD, a, AT_FDCWD, b, 0); }
EXPORT int linkat(int da, const char* a, int db, const char* b, int f) { ensure(); return ops::link_at(da, a, db, b, f); }
EXPORT int unlink(const char* p) { ensure(); return ops::unlink_at(AT_FDCWD, p, 0); }
EXPORT int unlinkat(int d, const char* p, int f) { ensure(); return ops::unlink_at(d, p, f); }
EXPORT int rmdir(const char* p) { ensure(); return ops::unlink_at(AT_FDCWD, p, AT_REMOVEDIR); }
EXPORT int remove(const char* p) {
  ensure();
  int r = ops::unlink_at(AT_FDCWD, p, 0);
  if (r < 0 && errno == EISDIR) r = ops::unlink_at(AT_FDCWD, p, AT_REMOVEDIR);
  return r;
}
EXPORT int rename(const char* a, const char* b) { ensure(); return ops::rename_at(AT_FDCWD, a, AT_FDCWD, b, 0); }
EXPORT int renameat(int da, const char* a, int db, const char* b) { ensure(); return ops::rename_at(da, a, db, b, 0); }
EXPORT int renameat2(int da, const char* a, int db, const char* b, unsigned f) { ensure(); return ops::rename_at(da, a, db, b, f); }

// ---- open ----------------------------------------------------------------
static mode_t mode_arg(int flags, va_list ap) {
  return ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? va_arg(ap, mode_t) : 0;
}
EXPORT int open(const char* p, int f, ...) {
  va_list ap;
  va_start(ap, f);
  mode_t m = mode_arg(f, ap);
  va_end(ap);
  ensure();
  return ops::open_at(AT_FDCWD, p, f, m);
}
EXPORT int open64(const char* p, int f, ...) {
  va_list ap;
  va_start(ap, f);
  mode_t m = mode_arg(f, ap);
  va_end(ap);
  ensure();
  return ops::open_at(AT_FDCWD, p, f | O_LARGEFILE, m);
}
EXPORT int openat(int d, const char* p, int f, ...) {
  va_list ap;
  va_start(ap, f);
  mode_t m = mode_arg(f, ap);
  va_end(ap);
  ensure();
  return ops::open_at(d, p, f, m);
}
EXPORT int openat64(int d, const char* p, int f, ...) {
  va_list ap;
  va_start(ap, f);
  mode_t m = mode_arg(f, ap);
  va_end(ap);
  ensure();
  return ops::open_at(d, p, f | O_LARGEFILE, m);
}
EXPORT int __open_2(const char* p, int f) { ensure(); return ops::open_at(AT_FDCWD, p, f, 0); }
EXPORT int __open64_2(const char* p, int f) { ensure(); return ops::open_at(AT_FDCWD, p, f | O_LARGEFILE, 0); }
EXPORT int __openat_2(int d, const char* p, int f) { ensure(); return ops::open_at(d, p, f, 0); }
EXPORT int __openat64_2(int d, const char* p, int f) { ensure(); return ops::open_at(d, p, f | O_LARGEFILE, 0); }
EXPORT int creat(const char* p, mode_t m) { ensure(); return ops::open_at(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m); }
EXPORT int creat64(const char* p, mode_t m) { ensure(); return ops::open_at(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC | O_LARGEFILE, m); }

// ---- access --------------------------------------------------------------
EXPORT int access(const char* p, int m) { ensure(); return ops::access_at(AT_FDCWD, p, m, 0); }
EXPORT int faccessat(int d, const char* p, int m, int f) { ensure(); return ops::access_at(d, p, m, f); }
EXPORT int eaccess(const char* p, int m) { ensure(); return ops::access_at(AT_FDCWD, p, m, AT_EACCESS); }
EXPORT int euidaccess(const char* p, int m) { return eaccess(p, m); }

// ---- extended attributes -------------------------------------------------
EXPORT ssize_t getxattr(const char* p, const char* n, void* v, size_t s) { ensure(); return ops::getxattr({-1, p, true}, n, v, s); }
EXPORT ssize_t lgetxattr(const char* p, const char* n, void* v, size_t s) { ensure(); return ops::getxattr({-1, p, false}, n, v, s); }
EXPORT ssize_t fgetxattr(int fd, const char* n, void* v, size_t s) { ensure(); return ops::getxattr({fd, nullptr, true}, n, v, s); }
EXPORT int setxattr(const char* p, const char* n, const void* v, size_t s, int f) { ensure(); return ops::setxattr({-1, p, true}, n, v, s, f); }
EXPORT int lsetxattr(const char* p, const char* n, const void* v, size_t s, int f) { ensure(); return ops::setxattr({-1, p, false}, n, v, s, f); }
EXPORT int fsetxattr(int fd, const char* n, const void* v, size_t s, int f) { ensure(); return ops::setxattr({fd, nullptr, true}, n, v, s, f); }
EXPORT ssize_t listxattr(const char* p, char* l, size_t s) { ensure(); return ops::listxattr({-1, p, true}, l, s); }
EXPORT ssize_t llistxattr(const char* p, char* l, size_t s) { ensure(); return ops::listxattr({-1, p, false}, l, s); }
EXPORT ssize_t flistxattr(int fd, char* l, size_t s) { ensure(); return ops::listxattr({fd, nullptr, true}, l, s); }
EXPORT int removexattr(const char* p, const char* n) { ensure(); return ops::removexattr({-1, p, true}, n); }
EXPORT int lremovexattr(const char* p, const char* n) { ensure(); return ops::removexattr({-1, p, false}, n); }
EXPORT int fremovexattr(int fd, const char* n) { ensure(); return ops::removexattr({fd, nullptr, true}, n); }

// ---- credentials ---------------------------------------------------------
EXPORT uid_t getuid() { ensure(); return ops::getuid(); }
EXPORT uid_t geteuid() { ensure(); return ops::geteuid(); }
EXPORT gid_t getgid() { ensure(); return ops::getgid(); }
EXPORT gid_t getegid() { ensure(); return ops::getegid(); }
EXPORT int getresuid(uid_t* r, uid_t* e, uid_t* s) { ensure(); return ops::getresuid(r, e, s); }
EXPORT int getresgid(gid_t* r, gid_t* e, gid_t* s) { ensure(); return ops::getresgid(r, e, s); }
EXPORT int setuid(uid_t u) { ensure(); return ops::setuid(u); }
EXPORT int setgid(gid_t g) { ensure(); return ops::setgid(g); }
EXPORT int seteuid(uid_t u) { ensure(); return ops::seteuid(u); }
EXPORT int setegid(gid_t g) { ensure(); return ops::setegid(g); }
EXPORT int setreuid(uid_t r, uid_t e) { ensure(); return ops::setreuid(r, e); }
EXPORT int setregid(gid_t r, gid_t e) { ensure(); return ops::setregid(r, e); }
EXPORT int setresuid(uid_t r, uid_t e, uid_t s) { ensure(); return ops::setresuid(r, e, s); }
EXPORT int setresgid(gid_t r, gid_t e, gid_t s) { ensure(); return ops::setresgid(r, e, s); }
EXPORT int setfsuid(uid_t u) { ensure(); return ops::setfsuid(u); }
EXPORT int setfsgid(gid_t g) { ensure(); return ops::setfsgid(g); }
EXPORT int getgroups(int n, gid_t* l) { ensure(); return ops::getgroups(n, l); }
EXPORT int setgroups(size_t n, const gid_t* l) { ensure(); return ops::setgroups(n, l); }
EXPORT int initgroups(const char* user, gid_t group) {
  ensure();
  // glibc's initgroups calls setgroups internally, out of our reach: compute
  // the list with getgrouplist and set it through the fake setgroups.
  gid_t groups[kMaxGroups];
  int n = kMaxGroups;
  if (getgrouplist(user, group, groups, &n) < 0) n = kMaxGroups;
  return ops::setgroups((size_t)n, groups);
}

// Capabilities: fake root holds them all, as real root does; tools such as
// setcap raise CAP_SETFCAP before they write security.capability.
EXPORT int capget(cap_user_header_t h, cap_user_data_t d) {
  ensure();
  return ops::capget(h, d);
}
EXPORT int capset(cap_user_header_t h, const cap_user_data_t d) {
  ensure();
  return ops::capset(h, d);
}

// ---- exec: the session follows every program started --------------------
EXPORT int execve(const char* p, char* const a[], char* const e[]) { ensure(); return exec_with_session(AT_FDCWD, p, a, e, 0); }
EXPORT int execveat(int d, const char* p, char* const a[], char* const e[], int f) { ensure(); return exec_with_session(d, p, a, e, f); }
EXPORT int fexecve(int fd, char* const a[], char* const e[]) { ensure(); return exec_with_session(fd, "", a, e, AT_EMPTY_PATH); }
EXPORT int execv(const char* p, char* const a[]) { return execve(p, a, environ); }
EXPORT int execvp(const char* f, char* const a[]) { ensure(); return exec_search(f, a, environ); }
EXPORT int execvpe(const char* f, char* const a[], char* const e[]) { ensure(); return exec_search(f, a, e); }
EXPORT int execl(const char* p, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  COLLECT_ARGS(arg, ap, argv, va_end(ap));
  return execve(p, argv, environ);
}
EXPORT int execlp(const char* f, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  COLLECT_ARGS(arg, ap, argv, va_end(ap));
  return execvp(f, argv);
}
EXPORT int execle(const char* p, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  COLLECT_ARGS(arg, ap, argv, );
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return execve(p, argv, envp);
}

using spawn_fn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                         char* const[], char* const[]);
// posix_spawn goes through glibc's own exec, out of reach: plan the exec
// here (environment, and inside a root the root's loader) and hand glibc
// the result.
static int spawn_planned(spawn_fn fn, pid_t* pid, const char* p, const posix_spawn_file_actions_t* fa,
                         const posix_spawnattr_t* at, char* const a[], char* const e[]) {
  long r = with_plan(AT_FDCWD, p, a, e, 0, [&](Plan& plan) -> long {
    return fn(pid, plan.path, fa, at, plan.argv, plan.envp);  // 0 or an error number
  });
  return (int)(r < 0 ? -r : r);
}
EXPORT int posix_spawn(pid_t* pid, const char* p, const posix_spawn_file_actions_t* fa, const posix_spawnattr_t* at,
                       char* const a[], char* const e[]) {
  ensure();
  static spawn_fn fn = real<spawn_fn>("posix_spawn");
  return spawn_planned(fn, pid, p, fa, at, a, e);
}
EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* fa,
                        const posix_spawnattr_t* at, char* const a[], char* const e[]) {
  ensure();
  static spawn_fn fn = real<spawn_fn>("posix_spawn");
  if (strchr(file, '/')) return spawn_planned(fn, pid, file, fa, at, a, e);
  // Search PATH inside the session's view of the file system.
  const char* path = getenv("PATH");
  if (!path) path = "/bin:/usr/bin";
  int err = ENOENT;
  for (const char* q = path;; q++) {
    const char* c = q;
    while (*c && *c != ':') c++;
    char full[kPathMax];
    size_t dl = c - q, fl = strlen(file);
    if (dl + fl + 2 < sizeof full) {
      if (dl) memcpy(full, q, dl);
      else full[dl++] = '.';
      full[dl] = '/';
      memcpy(full + dl + 1, file, fl + 1);
      int r = spawn_planned(fn, pid, full, fa, at, a, e);
      if (r == 0) return 0;
      if (r == EACCES) err = EACCES;
      else if (r != ENOENT && r != ENOTDIR) return r;
    }
    if (!*c) break;
    q = c;
  }
  return err;
}

// ---- the session's own descriptor survives the program's clean-ups -------
// Under --fakechroot, clearenv keeps fakechroot's own variables, as
// fakechroot's does: a program still knows where it is afterwards.
EXPORT int clearenv() {
  ensure();
  using fn_t = int (*)();
  static fn_t fn = real<fn_t>("clearenv");
  if (!g_session.fakechroot) return fn();
  char keep[8192];
  size_t used = 0;
  auto save = [&](const char* name) {
    const char* v = getenv(name);
    size_t nl = strlen(name), vl = v ? strlen(v) : 0;
    if (!v || used + nl + vl + 2 > sizeof keep) return;
    memcpy(keep + used, name, nl + 1);
    memcpy(keep + used + nl + 1, v, vl + 1);
    used += nl + vl + 2;
  };
  for (const char* name : {"FAKECHROOT_VERSION", "FAKECHROOT_BASE"}) save(name);
  for (const char* name : kFakechrootSettings) save(name);
  int r = fn();
  setenv("FAKECHROOT", "true", 1);
  for (size_t i = 0; i < used;) {
    const char* name = keep + i;
    const char* value = name + strlen(name) + 1;
    setenv(name, value, 1);
    i = (size_t)(value - keep) + strlen(value) + 1;
  }
  return r;
}

// chattr: inode flags set through a descriptor (opened read-only) must not
// reach a file shared with the base; the clone's copy gets them.
EXPORT int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (__builtin_expect(req == FS_IOC_SETFLAGS || req == FS_IOC32_SETFLAGS || req == FS_IOC_FSSETXATTR, 0)) {
    ensure();
    char copy[4200];
    int e = cow_prepare_fd(fd, copy, sizeof copy, CowWhat::kContent);
    if (e < 0) {
      errno = -e;
      return -1;
    }
    if (e == 1) {
      long nfd = sys::raw(SYS_openat, AT_FDCWD, (long)copy, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
      if (nfd < 0) {
        errno = (int)-nfd;
        return -1;
      }
      long r = sys::call(SYS_ioctl, nfd, req, (long)arg);
      int saved = errno;
      sys::raw(SYS_close, nfd);
      errno = saved;
      return (int)r;
    }
  }
  return (int)sys::call(SYS_ioctl, fd, req, (long)arg);
}

EXPORT int close(int fd) {
  if (is_live_fd(fd)) return 0;
  return (int)sys::call(SYS_close, fd);
}
EXPORT int close_range(unsigned first, unsigned last, int flags) {
  int live = g_session.live_fd;
  if (live >= 0 && (unsigned)live >= first && (unsigned)live <= last && !(flags & CLOSE_RANGE_CLOEXEC)) {
    long r = 0;
    if ((unsigned)live > first) r = sys::call(SYS_close_range, first, live - 1, flags);
    if (r == 0 && (unsigned)live < last) r = sys::call(SYS_close_range, live + 1, last, flags);
    return (int)r;
  }
  return (int)sys::call(SYS_close_range, first, last, flags);
}
EXPORT void closefrom(int low) {
  if (low < 0) low = 0;
  if (close_range((unsigned)low, ~0u, 0) == 0) return;
  // No close_range in this kernel: close what /proc says is open.
  for (int fd = low; fd < 65536; fd++)
    if (!is_live_fd(fd)) sys::raw(SYS_close, fd);
}
EXPORT int dup2(int a, int b) {
  if (a != b) vacate(b);
  return (int)sys::call(SYS_dup2, a, b);
}
EXPORT int dup3(int a, int b, int f) {
  vacate(b);
  return (int)sys::call(SYS_dup3, a, b, f);
}
