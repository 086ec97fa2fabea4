// The core operations on names a program is handed back (readlink,
// getcwd) and on where it stands (chdir, chroot, mount): inside a root,
// every name a program sees is an inside path.
#include <sys/mount.h>

#include <cstring>

#include "confine.h"
#include "ops.h"
#include "ops_impl.h"

namespace cr::ops {

namespace {

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

ssize_t copy_out(const char* s, char* buf, size_t size) {
  size_t l = strlen(s);
  if (l > size) l = size;
  memcpy(buf, s, l);
  return (ssize_t)l;
}

}  // namespace

ssize_t readlink_at(int dirfd, const char* path, char* buf, size_t size) {
  if (!g_root.active) {
    // Confined, /proc/self/exe names cowroot-stub: the program's own file instead.
    PathBuf exe;
    if (g_confine.active && path && path[0] == '/' && proc_exe_inside(path, exe, sizeof exe))
      return copy_out(exe, buf, size);
    return sys::call(SYS_readlinkat, dirfd, (long)path, (long)buf, size);
  }
  RESOLVE(dirfd, path, 0);
  // /proc's links are known by their full name: one relative to a
  // descriptor of /proc/self or /proc/self/fd (find's readlinkat), or the
  // link's own O_PATH descriptor with an empty name, is named in full.
  const char* name = path;
  PathBuf full;
  if (path[0] != '/' && dirfd != AT_FDCWD && fd_host_path(dirfd, full, sizeof full) &&
      strncmp(full, "/proc/", 6) == 0) {
    size_t fl = strlen(full), pl = strlen(path);
    if (!pl) {
      name = full;
    } else if (fl + 1 + pl < sizeof full) {
      full[fl] = '/';
      memcpy(full + fl + 1, path, pl + 1);
      name = full;
    }
  } else if (path[0] != '/' && dirfd == AT_FDCWD && g_root.cwd_known && strncmp(g_root.cwd, "/proc/", 6) == 0) {
    size_t cl = strlen(g_root.cwd), pl = strlen(path);
    if (cl + 1 + pl < sizeof full) {
      memcpy(full, g_root.cwd, cl);
      full[cl] = '/';
      memcpy(full + cl + 1, path, pl + 1);
      name = full;
    }
  }
  PathBuf exe;
  if (name[0] == '/' && proc_exe_inside(name, exe, sizeof exe)) return copy_out(exe, buf, size);
  PathBuf target;
  long n = sys::raw(SYS_readlinkat, dirfd, (long)path, (long)target, sizeof target - 1);
  if (n < 0) return fail(n);
  target[n] = 0;
  if (name[0] == '/' && proc_link(name) && target[0] == '/') {
    path = name;
    PathBuf inside;
    // A process outside the session: where its program, files and working
    // directory are outside the root is not for a program inside to see
    // (nor to follow, resolve.cc): refused as for a process one may not
    // trace. (start-stop-daemon and killall would take a host program of
    // the same path for the root's.) Its root reads as the root's.
    size_t pl = strlen(path);
    bool root_link = pl >= 5 && strcmp(path + pl - 5, "/root") == 0;
    if (!to_inside(target, inside, sizeof inside) && !root_link && foreign_process(path)) return fail(-EACCES);
    return copy_out(inside, buf, size);
  }
  return copy_out(target, buf, size);
}

long getcwd_inside(char* buf, size_t size) {
  PathBuf host;
  long n = sys::raw(SYS_getcwd, (long)host, sizeof host);
  if (n < 0) return fail(n);
  const char* out = host;
  PathBuf inside;
  if (g_root.active) {
    // Where the current root does not reach (a chroot() left the working
    // directory outside it), the kernel's answer: "(unreachable)/usr".
    PathBuf away;
    if (unreachable_inside(host, away, sizeof away)) {
      size_t al = strlen(away);
      if (al + 14 > sizeof inside) return fail(-ENAMETOOLONG);
      memcpy(inside, "(unreachable)", 13);
      memcpy(inside + 13, away, al + 1);
    } else {
      to_inside(host, inside, sizeof inside);
    }
    out = inside;
  }
  size_t l = strlen(out) + 1;
  if (size < l) return fail(-ERANGE);
  memcpy(buf, out, l);
  return (long)l;
}

// chdir takes search permission on the directory itself.
static int check_chdir(int dirfd, const char* path, int flags, bool passthrough) {
  Cred c = fs_cred();
  if (searches_freely(c) || passthrough) return 0;
  struct statx sx;
  if (real_statx(dirfd, path, flags & AT_EMPTY_PATH, &sx) < 0 || !S_ISDIR(sx.stx_mode)) return 0;
  return may(view(sx), kMayExec, c);
}

int chdir_at(int dirfd, const char* path, int flags) {
  vm_child_changing();
  long r;
  if (by_fd(path, flags)) {
    if (int e = check_chdir(dirfd, path, flags, false)) return fail(e);
    r = sys::raw(SYS_fchdir, dirfd);
  } else {
    RESOLVE(dirfd, path, kFollow);
    if (int e = check_chdir(dirfd, path, 0, rs_path.passthrough)) return fail(e);
    if (dirfd == AT_FDCWD || path[0] == '/') {
      r = sys::raw(SYS_chdir, (long)path);
    } else {  // relative to a directory descriptor: open it there first
      long fd = sys::raw(SYS_openat, dirfd, (long)path, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return fail(fd);
      r = sys::raw(SYS_fchdir, fd);
      sys::raw(SYS_close, fd);
    }
  }
  if (r < 0) return fail(r);
  root_cwd_changed();
  return 0;
}

int chroot_at(const char* path) {
  if (!has_cap(CAP_SYS_CHROOT)) return fail(-EPERM);
  vm_child_changing();
  if (int e = root_chroot(path)) return fail(e);
  return 0;
}

// Mounting what a root already passes through (proc, sysfs, devpts, a bind
// of /dev…) succeeds and changes nothing: debootstrap and package scripts go on.
int mount(const char* source, const char* target, const char* type, unsigned long flags, const void* data) {
  if (!has_cap(CAP_SYS_ADMIN)) return fail(-EPERM);
  static const char* const passed[] = {"proc", "sysfs", "devpts", "tmpfs", "devtmpfs", "binfmt_misc", "cgroup",
                                       "cgroup2", "securityfs", "mqueue", "debugfs", "tracefs", "pstore"};
  constexpr unsigned long kChanges = MS_BIND | MS_REMOUNT | MS_PRIVATE | MS_SLAVE | MS_SHARED | MS_REC;
  bool noop = (flags & kChanges) != 0;
  for (const char* t : passed) noop = noop || (type && !strcmp(type, t));
  if (noop) {
    // The mount point must be there, as the kernel asks: a directory, but
    // for a bind (of a file, onto a file) or a change of an existing mount.
    if (g_root.active && target) {
      struct statx sx;
      if (statx_at(AT_FDCWD, target, 0, STATX_TYPE, &sx) < 0) return -1;  // (errno: the lookup's)
      if (!(flags & kChanges) && !S_ISDIR(sx.stx_mode)) return fail(-ENOTDIR);
    }
    return 0;
  }
  // Any other mount in a root is refused as the kernel refuses it without
  // privilege: its source, its target and its options (an overlay's
  // lowerdir=, upperdir=) are paths the kernel would take as the host's,
  // and in a user namespace of the program's own it would allow them.
  if (g_root.active) return fail(-EPERM);
  return (int)sys::call(SYS_mount, (long)source, (long)target, (long)type, flags, (long)data);
}

int umount(const char* target, int flags) {
  if (!has_cap(CAP_SYS_ADMIN)) return fail(-EPERM);
  // What is not there is no mount point (ENOENT, as the kernel says).
  struct statx sx;
  if (g_root.active && target && statx_at(AT_FDCWD, target, 0, STATX_TYPE, &sx) < 0) return -1;
  return 0;
}

}  // namespace cr::ops

namespace cr::ops {

// Process accounting is root's: accepted, and nothing is recorded.
int acct(const char* path) { return has_cap(CAP_SYS_PACCT) ? 0 : fail(-EPERM); }

}  // namespace cr::ops
