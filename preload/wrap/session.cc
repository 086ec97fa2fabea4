// Hand-written doors that keep the session alive through a program's
// clean-ups (close, dup2, clearenv), chattr's ioctl, syscall() (whose
// dispatch is generated from preload/ops.tbl), and the adapters the
// table's expressions name.
#include <grp.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>

#include "../core/direct.h"
#include "doors.h"

namespace {
bool is_live_fd(int fd) { return g_session.live_fd >= 0 && fd == g_session.live_fd; }

// Moves the session's connection away from `fd` before the program takes it.
void vacate(int fd) {
  if (!is_live_fd(fd)) return;
  long moved = sys::raw(SYS_fcntl, fd, F_DUPFD, fd + 1);
  g_session.live_fd = moved >= 0 ? (int)moved : -1;
}

}  // namespace

// ---- the session's own descriptor survives the program's clean-ups -------
// Under --fakechroot, clearenv keeps fakechroot's own variables, as
// fakechroot's does: a program still knows where it is afterwards.
EXPORT int clearenv() {
  ensure();
  using fn_t = int (*)();
  static auto fn = real<fn_t>("clearenv");
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
  // No close_range in this kernel (before 5.9): close every descriptor up
  // to the process's limit, as glibc's own fallback does.
  struct rlimit lim;
  long top = sys::raw(SYS_getrlimit, RLIMIT_NOFILE, (long)&lim) == 0 && lim.rlim_cur < 1048576 ? (long)lim.rlim_cur : 65536;
  for (long fd = low; fd < top; fd++)
    if (!is_live_fd((int)fd)) sys::raw(SYS_close, fd);
}
EXPORT int dup2(int a, int b) {
  if (a != b) vacate(b);
  return (int)sys::call(SYS_dup2, a, b);
}
EXPORT int dup3(int a, int b, int f) {
  vacate(b);
  return (int)sys::call(SYS_dup3, a, b, f);
}


// chattr: inode flags set through a descriptor (opened read-only) must not
// reach a file shared with the base; the clone's copy gets them.
EXPORT int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if (__builtin_expect(ops::is_inode_flags_request(req), 0)) {
    ensure();
    return ops::set_inode_flags(fd, req, arg);
  }
  return (int)sys::call(SYS_ioctl, fd, req, (long)arg);
}

// ---- raw syscall(): libuv, coreutils, Go's and Rust's runtimes call some
// system calls through it; the ones the table lists go through the same
// operations as their libc functions, the rest straight to the kernel.
EXPORT long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  ensure();
  bool served;
  long r = cr::wrap::syscall_door(n, a, &served);
#if defined(__x86_64__)
  // The rest as the program's own: from this code, not the gate, so that
  // the filter sees it as it sees libc's call of the same number (a
  // tracer's attach, a SIGSYS action or mask, io_uring, the mount API:
  // served, checked or refused there; through the gate they passed).
  if (!served) r = cr::direct::sc(n, a[0], a[1], a[2], a[3], a[4], a[5]);
#else
  if (!served) return sys::call(n, a[0], a[1], a[2], a[3], a[4], a[5]);
#endif
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

// ---- adapters named by the table's expressions ---------------------------
namespace cr::wrap {

__attribute__((noinline)) const char* or_empty(const char* path) { return path ? path : ""; }
__attribute__((noinline)) int empty_flags(const char* path, int flags) { return path ? flags : flags | AT_EMPTY_PATH; }

DIR* open_dir(const char* path) {
  int fd = ops::open_at(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  using fn_t = DIR* (*)(int);
  static auto fn = real<fn_t>("fdopendir");
  DIR* d = fn(fd);
  if (!d) {
    int e = errno;
    sys::raw(SYS_close, fd);
    errno = e;
  }
  return d;
}

int remove_name(const char* path) {
  int r = ops::unlink_at(AT_FDCWD, path, 0);
  if (r < 0 && errno == EISDIR) r = ops::unlink_at(AT_FDCWD, path, AT_REMOVEDIR);
  return r;
}

int init_groups(const char* user, gid_t group) {
  // glibc's initgroups calls setgroups internally, out of our reach: compute
  // the list with getgrouplist and set it through the fake setgroups.
  gid_t groups[kMaxGroups];
  int n = kMaxGroups;
  if (getgrouplist(user, group, groups, &n) < 0) n = kMaxGroups;
  return ops::setgroups((size_t)n, groups);
}

long prctl_door(int option, unsigned long a, unsigned long b, unsigned long c, unsigned long d) {
  bool served;
  long r = ops::prctl_caps(option, a, &served);
  return served ? r : sys::raw(SYS_prctl, option, (long)a, (long)b, (long)c, (long)d);
}

long openat2_door(int dirfd, const char* path, const void* howp, size_t size) {
  auto* how = static_cast<const struct open_how*>(howp);
  if (!how || size < sizeof(uint64_t) * 3) return sys::raw(SYS_openat2, dirfd, (long)path, (long)how, size);
  // Confined to dirfd (a directory inside): the kernel's own rules hold.
  if (how->resolve & (RESOLVE_IN_ROOT | RESOLVE_BENEATH))
    return sys::raw(SYS_openat2, dirfd, (long)path, (long)how, size);
  if (how->flags >> 32) return -EINVAL;
  // The walk inside does not keep openat2's other promises (no symlinks,
  // no magic links, no mount crossed, cached only): say the call is not
  // there, as an old kernel would, and callers use openat instead.
  if (how->resolve) return -ENOSYS;
  return kernel_result(ops::open_at(dirfd, path, (int)how->flags, (mode_t)how->mode));
}

}  // namespace cr::wrap
