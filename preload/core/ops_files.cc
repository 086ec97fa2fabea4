// The core operations on files and names: the stat family, owners and
// modes, creating and removing names, open, access, and the writes that only
// need the copy-on-write step first (truncate, times, inode flags).
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

#include "confine.h"
#include "ops.h"
#include "ops_impl.h"
#include "procfs.h"

namespace cr::ops {

int note_created(int dirfd, const char* path, int stat_flags, bool set_perm, mode_t perm, const NewOwner& o) {
  bool owner = owner_entry_needed(o);
  if (!set_perm && !owner) return 0;
  struct statx sx;
  long r = real_statx(dirfd, path, stat_flags, &sx);
  if (r < 0) return (int)r;
  Meta base = view(sx), v;
  uint32_t mask = 0;
  if (set_perm) {
    mask |= kSetPerm;
    v.mode = perm;
  }
  if (owner) {
    mask |= kSetUid | kSetGid;
    v.uid = o.uid;
    v.gid = o.gid;
  }
  if (int e = g_state.update(key_of(sx), base, mask, v)) return e;
  if (!o.acl) return 0;
  Meta now = base;
  now.mode = (base.mode & S_IFMT) | ((mask & kSetPerm) ? perm : base.mode & 07777);
  return inherit_acl(key_of(sx), now, now.mode & 07777, S_ISDIR(sx.stx_mode), o);
}

int parent_view(const Resolved& r, Meta* out) {
  Key k;
  Meta real;
  if (int e = resolved_parent(r, &k, &real)) return e;
  *out = view_of(k, real);
  return 0;
}

namespace {

// The check before making a name in the directory `parent` (null: not
// known): 0, or what the kernel says, in its order: EEXIST for a name that
// is there already (its lookup comes first), else EACCES.
int check_create(const Resolved& r, int dirfd, const char* path, const Meta* parent, const Cred& c) {
  if (dac_free(c) || r.passthrough || !parent || may_create(*parent, c) == 0) return 0;
  struct statx sx;
  return real_statx(dirfd, path, AT_SYMLINK_NOFOLLOW, &sx) == 0 ? -EEXIST : -EACCES;
}

}  // namespace

namespace {

void fill_stat(const struct statx& x, const Meta& m, struct stat* st) {
  memset(st, 0, sizeof *st);
  st->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
  st->st_ino = x.stx_ino;
  st->st_nlink = cow_nlink(st->st_dev, x.stx_ino, x.stx_nlink);
  st->st_mode = m.mode;
  st->st_uid = m.uid;
  st->st_gid = m.gid;
  st->st_rdev = (S_ISCHR(m.mode) || S_ISBLK(m.mode)) ? m.rdev : 0;
  st->st_size = x.stx_size;
  st->st_blksize = x.stx_blksize;
  st->st_blocks = x.stx_blocks;
  st->st_atim.tv_sec = x.stx_atime.tv_sec;
  st->st_atim.tv_nsec = x.stx_atime.tv_nsec;
  st->st_mtim.tv_sec = x.stx_mtime.tv_sec;
  st->st_mtim.tv_nsec = x.stx_mtime.tv_nsec;
  st->st_ctim.tv_sec = x.stx_ctime.tv_sec;
  st->st_ctim.tv_nsec = x.stx_ctime.tv_nsec;
}

}  // namespace

void overlay_stat(struct stat* st) {
  Meta real;
  real.mode = st->st_mode;
  real.uid = st->st_uid;
  real.gid = st->st_gid;
  real.rdev = st->st_rdev;
  st->st_nlink = cow_nlink(st->st_dev, st->st_ino, st->st_nlink);
  Meta e;
  if (g_state.lookup(Key{st->st_dev, st->st_ino}, &e) && !entry_stale(e, real)) {
    st->st_mode = e.mode;
    st->st_uid = e.uid;
    st->st_gid = e.gid;
    st->st_rdev = (S_ISCHR(e.mode) || S_ISBLK(e.mode)) ? e.rdev : 0;
  } else if (!g_session.unknown_real) {
    st->st_uid = st->st_gid = 0;
  }
}

// statx with the last component left unfollowed first: one system call
// when it is not a symlink, which is nearly always.
static long statx_in_root(int dirfd, const char* path, int flags, unsigned mask, struct statx* sx) {
  if (!g_root.active || !path || !*path)
    return sys::raw(SYS_statx, dirfd, (long)path, flags, mask, (long)sx);
  bool follow = !(flags & AT_SYMLINK_NOFOLLOW);
  Resolved r;
  if (int e = resolve(dirfd, path, follow ? kFollow | kLazyFinal : 0, &r)) return e;
  long rc = sys::raw(SYS_statx, r.dirfd, (long)r.path, flags | AT_SYMLINK_NOFOLLOW, mask, (long)sx);
  if (rc < 0 || !follow || !S_ISLNK(sx->stx_mode)) return rc;
  if (int e = resolve(dirfd, path, kFollow, &r)) return e;
  return sys::raw(SYS_statx, r.dirfd, (long)r.path, flags, mask, (long)sx);
}

// Whether sx is of /proc's own file system (a process's entries), not a
// file a /proc link leads to (/proc/self/fd/N, /proc/self/cwd/NAME: the
// root's own, with their fake owners).
static bool on_procfs(const struct statx& sx) {
  static uint32_t major_ = ~0u, minor_ = ~0u;
  if (major_ == ~0u) {
    struct statx p;
    if (sys::raw(SYS_statx, AT_FDCWD, (long)"/proc", 0, STATX_TYPE, (long)&p) < 0) return true;
    minor_ = p.stx_dev_minor;
    __atomic_store_n(&major_, p.stx_dev_major, __ATOMIC_RELEASE);
  }
  return sx.stx_dev_major == __atomic_load_n(&major_, __ATOMIC_ACQUIRE) && sx.stx_dev_minor == minor_;
}

// A process's directory in /proc belongs to its (fake) effective ids
// (procfs.h); /proc/self and /proc/thread-self themselves are root's links.
static Meta view_at(const char* path, const struct statx& sx) {
  Meta m = view(sx);
  if (path && path[0] == '/' && path[1] == 'p' && strncmp(path, "/proc/", 6) == 0 &&
      !(S_ISLNK(sx.stx_mode) && (!strcmp(path, "/proc/self") || !strcmp(path, "/proc/thread-self"))) &&
      on_procfs(sx))
    proc_owner(path, sx.stx_uid, &m.uid, &m.gid);
  return m;
}

int stat_at(int dirfd, const char* path, struct stat* st, int flags) {
  struct statx sx;
  flags &= AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
  long r = statx_in_root(dirfd, path, flags, kStatxMask, &sx);
  if (r < 0) return fail(r);
  fill_stat(sx, view_at(path, sx), st);
  return 0;
}

int statx_at(int dirfd, const char* path, int flags, unsigned mask, struct statx* stx) {
  long r = statx_in_root(dirfd, path, flags, mask | kStatxMask, stx);
  if (r < 0) return fail(r);
  Meta m = view_at(path, *stx);
  stx->stx_nlink = cow_nlink(makedev(stx->stx_dev_major, stx->stx_dev_minor), stx->stx_ino, stx->stx_nlink);
  stx->stx_mode = (uint16_t)m.mode;
  stx->stx_uid = m.uid;
  stx->stx_gid = m.gid;
  if (S_ISCHR(m.mode) || S_ISBLK(m.mode)) {
    stx->stx_rdev_major = major(m.rdev);
    stx->stx_rdev_minor = minor(m.rdev);
  }
  return 0;
}

// Under --cow (one state for every tree of hard links), fake ownership and
// modes are kept by inode: a file shared with another tree gets its own
// copy before they change, as cow-shell does. (A clone has a state of its
// own, so there they stay in the clone's state without copying; but a
// descriptor of a file copied already leads to the copy.)
static int cow_before_metadata(int& dirfd, const char*& path, int& flags, PathBuf& broke) {
  if (!g_cow.dir_len) return follow_copy(&dirfd, &path, &flags, broke);
  return prepare_write(&dirfd, &path, &flags, !(flags & AT_SYMLINK_NOFOLLOW), CowWhat::kMeta, broke);
}

int chown_at(int dirfd, const char* path, uid_t uid, gid_t gid, int flags) {
  RESOLVE(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : kFollow);
  PathBuf broke;
  if (int e = cow_before_metadata(dirfd, path, flags, broke)) return fail(e);
  struct statx sx;
  long r = real_statx(dirfd, path, flags, &sx);
  if (r < 0) return fail(r);
  Meta cur = view(sx);
  Cred c = fs_cred();
  if (!(c.caps & cap_bit(CAP_CHOWN))) {
    // Without CAP_CHOWN, the kernel's rules: the owner may give the file to
    // a group of its own, and to nobody else.
    if ((uid != kNoId && uid != cur.uid) || ((uid != kNoId || gid != kNoId) && cur.uid != c.uid) ||
        (gid != kNoId && gid != cur.gid && !in_group(gid, c)))
      return fail(-EPERM);
  }
  Meta v;
  v.uid = uid;
  v.gid = gid;
  uint32_t mask = (uid != kNoId ? (uint32_t)kSetUid : 0u) | (gid != kNoId ? (uint32_t)kSetGid : 0u) | kChownRule;
  if (int e = g_state.update(key_of(sx), cur, mask, v)) return fail(e);
  // Like the kernel, a change of owner drops file capabilities.
  if ((mask & (kSetUid | kSetGid)) && !S_ISDIR(cur.mode) && cur.xattrs &&
      g_state.xattr_get(cur, "security.capability", nullptr, 0) >= 0)
    g_state.xattr_set(key_of(sx), cur, "security.capability", nullptr, 0, 0);
  return 0;
}

int chmod_at(int dirfd, const char* path, mode_t mode, int flags) {
  RESOLVE(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : kFollow);
  PathBuf broke0;
  if (int e = cow_before_metadata(dirfd, path, flags, broke0)) return fail(e);
  struct statx sx;
  long r = real_statx(dirfd, path, flags, &sx);
  if (r < 0) return fail(r);
  if (S_ISLNK(sx.stx_mode)) return fail(-EOPNOTSUPP);  // as fchmodat(AT_SYMLINK_NOFOLLOW) does
  bool has_entry;
  Meta cur = view(sx, &has_entry);
  Cred c = fs_cred();
  if (!owner_or_capable(cur, c)) return fail(-EPERM);
  mode_t perm = mode & 07777;
  // setgid for a group the caller is not in is dropped, as the kernel does.
  if ((perm & S_ISGID) && !in_group(cur.gid, c) && !(c.caps & cap_bit(CAP_FSETID))) perm &= ~S_ISGID;
  bool dir = S_ISDIR(sx.stx_mode);
  mode_t disk = disk_perm(perm, dir);
  // Faked device nodes are regular files: their disk mode stays private.
  if (S_ISCHR(cur.mode) || S_ISBLK(cur.mode)) disk = 0600;
  PathBuf broke;
  if (disk != (sx.stx_mode & 07777) && cow_may_share(sx, CowWhat::kMeta)) {
    // (resolved and followed already: the break takes the name as it is)
    int bflags = flags | AT_SYMLINK_NOFOLLOW;
    if (int e = prepare_write(&dirfd, &path, &bflags, false, CowWhat::kMeta, broke)) return fail(e);
    flags = bflags;
    // The file may be a new inode now: its key is what the entry goes to.
    long q = real_statx(dirfd, path, flags, &sx);
    if (q < 0) return fail(q);
    cur = view(sx, &has_entry);
  }
  if (disk == (sx.stx_mode & 07777)) {
    r = 0;  // nothing to change on disk (and a shared inode stays untouched)
  } else if (!by_fd(path, flags)) {
    r = sys::raw(SYS_fchmodat, dirfd, (long)path, disk);
  } else {
    r = sys::raw(SYS_fchmod, dirfd, disk);
    if (r == -EBADF) {
      // An O_PATH descriptor (fchmodat2's AT_EMPTY_PATH takes one, as
      // systemd-tmpfiles gives it): through its /proc/self/fd link.
      char link[32];
      sys::proc_fd_path(dirfd, link);
      r = sys::raw(SYS_fchmodat, AT_FDCWD, (long)link, disk);
    }
  }
  if (r < 0 && r != -EPERM) return fail(r);
  if (!by_fd(path, flags) && r == 0 && disk != (sx.stx_mode & 07777)) cow_note(dirfd, path);
  // A directory's new mode always goes into its entry: the walk's cache
  // remembers real modes, and the fake view must not depend on them.
  if (has_entry || disk != perm || r == -EPERM || (dir && perm != (sx.stx_mode & 07777))) {
    Meta v;
    v.mode = perm;
    if (int e = g_state.update(key_of(sx), cur, kSetPerm, v)) return fail(e);
  }
  return 0;
}

int mknod_at(int dirfd, const char* path, mode_t mode, dev_t dev) {
  RESOLVE(dirfd, path, 0);
  mode_t type = mode & S_IFMT;
  Meta parent;
  bool have_parent = parent_view(rs_path, &parent) == 0;
  Cred c = fs_cred();
  if (int e = check_create(rs_path, dirfd, path, have_parent ? &parent : nullptr, c)) return fail(e);
  if ((type == S_IFCHR || type == S_IFBLK) && !(c.caps & cap_bit(CAP_MKNOD))) return fail(-EPERM);
  NewOwner o = new_owner(have_parent ? &parent : nullptr);
  mode_t perm = new_perm(create_mode(mode & 07777, o), false, o);
  if (type == S_IFCHR || type == S_IFBLK) {
    // Device nodes are the one thing faked: a private regular file on disk.
    long fd = sys::raw(SYS_openat, dirfd, (long)path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return fail(fd);
    struct statx sx;
    long r = real_statx((int)fd, "", AT_EMPTY_PATH, &sx);
    sys::raw(SYS_close, fd);
    if (r == 0) {
      Meta base = view(sx), v;
      v.mode = type | perm;
      v.rdev = dev;
      v.uid = o.uid;
      v.gid = o.gid;
      r = g_state.update(key_of(sx), base, kSetType | kSetPerm | kSetRdev | kSetUid | kSetGid, v);
    }
    if (r < 0) {
      sys::raw(SYS_unlinkat, dirfd, (long)path, 0);
      return fail(r);
    }
    cow_note(dirfd, path);
    return 0;
  }
  if (type != 0 && type != S_IFREG && type != S_IFIFO && type != S_IFSOCK) return fail(-EINVAL);
  mode_t disk = disk_perm(perm, false);
  long r = sys::raw(SYS_mknodat, dirfd, (long)path, type | disk, dev);
  if (r < 0) return fail(r);
  cow_note(dirfd, path);
  if (int e = note_created(dirfd, path, AT_SYMLINK_NOFOLLOW, disk != perm, perm, o)) return fail(e);
  return 0;
}

int mkdir_at(int dirfd, const char* path, mode_t mode) {
  RESOLVE(dirfd, path, 0);
  // The parent: may a name be made there, and is it setgid (its group and
  // its setgid bit go to the new directory)?
  Meta parent;
  bool have_parent = parent_view(rs_path, &parent) == 0;
  if (int e = check_create(rs_path, dirfd, path, have_parent ? &parent : nullptr, fs_cred())) return fail(e);
  NewOwner o = new_owner(have_parent ? &parent : nullptr);
  // mkdir takes the permission bits and the sticky bit of its mode, never
  // setuid or setgid (vfs_mkdir): setgid comes from a setgid parent only.
  mode_t perm = new_perm(create_mode(mode & 01777, o), true, o);
  mode_t disk = disk_perm(perm, true);
  long r = sys::raw(SYS_mkdirat, dirfd, (long)path, disk);
  if (r < 0) return fail(r);
  cow_note(dirfd, path);
  if (int e = note_created(dirfd, path, AT_SYMLINK_NOFOLLOW, disk != perm, perm, o)) return fail(e);
  return 0;
}

static int open_resolved(int dirfd, const char* path, int flags, mode_t mode, const Resolved& r);

static bool writes(int flags) {
  return (flags & (O_WRONLY | O_RDWR | O_TRUNC | O_APPEND)) && !((flags & O_CREAT) && (flags & O_EXCL)) &&
         (flags & O_TMPFILE) != O_TMPFILE;
}

int open_at(int dirfd, const char* path, int flags, mode_t mode) {
  if (g_cow.active && writes(flags) && path && *path) {
    // A write to a file shared with the base: the clone's own copy first.
    Resolved r;
    if (int e = resolve(dirfd, path, (flags & O_NOFOLLOW) ? 0 : kFollow, &r)) return fail(e);
    PathBuf copy;
    if (int e = prepare_write(&r.dirfd, &r.path, nullptr, !(flags & O_NOFOLLOW), CowWhat::kContent, copy))
      return fail(e);
    return open_resolved(r.dirfd, r.path, flags, mode, r);
  }
  bool excl_create = (flags & O_CREAT) && (flags & O_EXCL);
  if (g_root.active && path && *path) {
    // A checked user's open looks at the file first: it is resolved whole.
    if ((flags & O_NOFOLLOW) || excl_create || (flags & O_PATH) || !dac_free(fs_cred())) {
      Resolved r;
      if (int e = resolve(dirfd, path, (flags & (O_NOFOLLOW)) || excl_create ? 0 : kFollow, &r)) return fail(e);
      return open_resolved(r.dirfd, r.path, flags, mode, r);
    }
    // Try with the last component unfollowed; a symlink there says ELOOP
    // (ENOTDIR with O_DIRECTORY: the kernel checks that first).
    Resolved r;
    if (int e = resolve(dirfd, path, kFollow | kLazyFinal, &r)) return fail(e);
    int fd = open_resolved(r.dirfd, r.path, flags | O_NOFOLLOW, mode, r);
    if (fd >= 0 || (errno != ELOOP && !(errno == ENOTDIR && (flags & O_DIRECTORY)))) return fd;
    if (int e = resolve(dirfd, path, kFollow, &r)) return fail(e);
    return open_resolved(r.dirfd, r.path, flags, mode, r);
  }
  // Confined, the kernel's /proc/self/exe names cowroot-stub: opened to be
  // read, it is the program's own file, as readlink says (in a root,
  // resolve does it). (Written, the kernel's: a running program's file is
  // busy.)
  PathBuf exe;
  if (g_confine.active && path && path[0] == '/' && path[1] == 'p' && !(flags & O_NOFOLLOW) &&
      (flags & O_ACCMODE) == O_RDONLY && proc_exe_inside(path, exe, sizeof exe) && exe[0] == '/')
    path = exe;
  Resolved r;  // no root: the path as it is (and, for a checked user, search permission along it)
  if (int e = resolve(dirfd, path, 0, &r)) return fail(e);
  return open_resolved(dirfd, path, flags, mode, r);
}

namespace {

// A write's loss of setuid and setgid (setid_after_write), recorded when the
// open for writing succeeds: the bits go at the open, not at the first write.
struct SetidDrop {
  bool on = false;
  Key key;
  Meta cur;
  mode_t mode;
};

// may_open(): what opening an existing file takes, checked against its fake
// view for a user without CAP_DAC_OVERRIDE (and O_NOATIME's owner rule), and
// the sticky directory rules (may_open_in_sticky).
int check_open(int dirfd, const char* path, int flags, const Resolved& r, const Cred& c, SetidDrop* drop) {
  bool tmpfile = (flags & O_TMPFILE) == O_TMPFILE;
  if ((flags & O_PATH) || r.passthrough) return 0;
  struct statx sx;
  bool nofollow = (flags & O_NOFOLLOW) || ((flags & O_CREAT) && (flags & O_EXCL));
  long e = real_statx(dirfd, path, nofollow ? AT_SYMLINK_NOFOLLOW : 0, &sx);
  if (e == -ENOENT && (flags & O_CREAT)) {
    Meta parent;
    return parent_view(r, &parent) == 0 ? check_create(r, dirfd, path, &parent, c) : 0;
  }
  if (e < 0 || ((flags & O_CREAT) && (flags & O_EXCL))) return 0;  // the kernel's error
  Meta m = view(sx);
  if (real_checks_only(real_meta(sx))) return 0;
  if (tmpfile) return may_create(m, c);  // an unnamed file in the directory
  int acc = 0;
  switch (flags & O_ACCMODE) {
    case O_RDONLY: acc = kMayRead; break;
    case O_WRONLY: acc = kMayWrite; break;
    case O_RDWR: acc = kMayRead | kMayWrite; break;
  }
  if (flags & O_TRUNC) acc |= kMayWrite;
  if (!S_ISLNK(m.mode))
    if (int err = may(m, acc, c)) return err;
  if ((flags & O_NOATIME) && !owner_or_capable(m, c)) return -EPERM;
  if ((flags & O_CREAT) && sticky_create_rules()) {
    Meta parent;
    if (parent_view(r, &parent) == 0)
      if (int err = may_open_in_sticky(parent, m, c)) return err;
  }
  if ((acc & kMayWrite) && setid_after_write(m, c) != m.mode) {
    drop->on = true;
    drop->key = key_of(sx);
    drop->cur = m;
    drop->mode = setid_after_write(m, c);
  }
  return 0;
}

// Root's side of the sticky rules: checked only when the file is found to
// exist (an O_CREAT|O_EXCL open failed), so a new file costs nothing more.
int check_sticky_existing(int dirfd, const char* path, int flags, const Resolved& r, const Cred& c) {
  struct statx sx;
  if (r.passthrough || real_statx(dirfd, path, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0, &sx) < 0) return 0;
  Meta m = view(sx);
  if (!S_ISREG(m.mode) && !S_ISFIFO(m.mode)) return 0;
  Meta parent;
  return parent_view(r, &parent) == 0 ? may_open_in_sticky(parent, m, c) : 0;
}

void drop_setid(const SetidDrop& d) {
  if (!d.on) return;
  Meta v;
  v.mode = d.mode;
  g_state.update(d.key, d.cur, kSetPerm, v);
}

}  // namespace

// A file `name` named relative to its /proc/PID directory (procps-ng
// 4.0.7 opens "status" from a descriptor of /proc/PID; a shell in /proc/PID
// reads ./status): its full name into out, for proc_open_status. Only a
// path whose last name is `name` costs the look at where it is relative to.
static bool proc_full(int dirfd, const char* path, const char* name, char* out, size_t n) {
  size_t l = strlen(path), nl = strlen(name);
  if (path[0] == '/' || l < nl || strcmp(path + l - nl, name) != 0 || (l > nl && path[l - nl - 1] != '/'))
    return false;
  PathBuf dir;
  if (dirfd == AT_FDCWD ? sys::raw(SYS_getcwd, (long)dir, sizeof dir) <= 0 : !fd_host_path(dirfd, dir, sizeof dir))
    return false;
  size_t dl = strlen(dir);
  if (strncmp(dir, "/proc/", 6) != 0 || dl + 1 + l + 1 > n) return false;
  memcpy(out, dir, dl);
  out[dl] = '/';
  memcpy(out + dl + 1, path, l + 1);
  return true;
}

// The kernel's open, which may wait (a fifo's other end, a terminal): a
// borrowing trap lets its lock go meanwhile (confine.h). -errno on failure.
static long kernel_open(int dirfd, const char* path, int flags, mode_t mode) {
  return confine::waiting([&] { return confine::open_may_wait(dirfd, path, flags); },
                          [&] { return sys::raw(SYS_openat, dirfd, (long)path, flags, mode); });
}
static int open_result(long fd) {
  if (fd < 0) return fail(fd);
  return (int)fd;
}

// /proc/PID/mem (or task/TID/mem) of a process outside the session, in a
// root: its memory is the host's to change (a debugger's way in). Refused
// as for a process one may not trace.
static bool foreign_memory(const char* full) {
  size_t l = strlen(full);
  return g_root.active && l > 4 && strcmp(full + l - 4, "/mem") == 0 && foreign_process(full);
}

static int open_resolved(int dirfd, const char* path, int flags, mode_t mode, const Resolved& r) {
  if (dirfd == AT_FDCWD && path[0] == '/' && path[1] == 'p' && strncmp(path, "/proc/", 6) == 0) {
    if (foreign_memory(path)) return fail(-EACCES);
    if (int e = proc_environ_denied(path)) return fail(e);
    int fd = proc_open_status(path, flags);
    if (fd == kNotProc) fd = proc_open_maps(path, flags);
    if (fd == kNotProc) fd = proc_open_mounts(path, flags);
    if (fd != kNotProc) return fd < 0 ? fail(fd) : fd;
  } else if (path[0] != '/') {
    PathBuf full;
    if (proc_full(dirfd, path, "status", full, sizeof full)) {
      int fd = proc_open_status(full, flags);
      if (fd != kNotProc) return fd < 0 ? fail(fd) : fd;
    } else if (proc_full(dirfd, path, "mem", full, sizeof full) && foreign_memory(full)) {
      return fail(-EACCES);
    } else if (proc_full(dirfd, path, "environ", full, sizeof full)) {
      if (int e = proc_environ_denied(full)) return fail(e);
    }
  }
  if (g_cow.sidecar[0] && ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)) cow_note(dirfd, path);
  bool tmpfile = (flags & O_TMPFILE) == O_TMPFILE;
  bool creates = (flags & O_CREAT) || tmpfile;
  Cred c = fs_cred();
  SetidDrop drop;
  bool checked = !dac_free(c) || ((flags & O_NOATIME) && !(c.caps & cap_bit(CAP_FOWNER)));
  if (checked)
    if (int e = check_open(dirfd, path, flags, r, c, &drop)) return fail(e);
  if (!creates) {
    long fd = kernel_open(dirfd, path, flags, mode);
    if (fd >= 0) drop_setid(drop);
    return open_result(fd);
  }
  // Root meets the sticky rules only where a file exists already.
  bool sticky = !checked && !tmpfile && !(flags & O_EXCL) && sticky_create_rules();
  // Who owns a new file: the fsuid, and the fsgid or a setgid directory's
  // group. (For O_TMPFILE the name is the directory itself.)
  Meta parent;
  bool have_parent;
  if (tmpfile) {
    struct statx dx;
    have_parent = real_statx(dirfd, path, 0, &dx) == 0;
    if (have_parent) parent = view(dx);
  } else {
    have_parent = parent_view(r, &parent) == 0;
  }
  NewOwner o = new_owner(have_parent ? &parent : nullptr);
  mode_t perm = new_perm(create_mode(mode & 07777, o), false, o);
  mode_t disk = disk_perm(perm, false);
  if (disk == perm && !owner_entry_needed(o) && !sticky && !drop.on) return open_result(kernel_open(dirfd, path, flags, mode));
  // The file may be created with other permissions than asked: find out
  // whether this call creates it, so that only a new file gets the entry.
  long fd;
  bool created;
  if (tmpfile || (flags & O_EXCL)) {
    fd = sys::raw(SYS_openat, dirfd, (long)path, flags, disk);
    created = true;
  } else {
    for (int tries = 0;; tries++) {
      fd = sys::raw(SYS_openat, dirfd, (long)path, flags | O_EXCL, disk);
      created = true;
      if (fd != -EEXIST) break;
      if (sticky)
        if (int e = check_sticky_existing(dirfd, path, flags, r, c)) return fail(e);
      fd = kernel_open(dirfd, path, flags & ~O_CREAT, mode);
      created = false;
      if (fd != -ENOENT) break;
      if (tries == 3) {  // a dangling symlink: let the kernel create its target
        fd = kernel_open(dirfd, path, flags, disk);
        created = true;
        break;
      }
    }
  }
  if (fd < 0) return fail(fd);
  if (!created) drop_setid(drop);
  if (created) {
    if (int e = note_created((int)fd, "", AT_EMPTY_PATH, disk != perm, perm, o)) {
      sys::raw(SYS_close, fd);
      return fail(e);
    }
  }
  return (int)fd;
}

int symlink_at(const char* target, int dirfd, const char* path) {
  RESOLVE(dirfd, path, 0);  // the target is stored exactly as given
  Meta parent;
  bool have_parent = parent_view(rs_path, &parent) == 0;
  if (int e = check_create(rs_path, dirfd, path, have_parent ? &parent : nullptr, fs_cred())) return fail(e);
  long r = sys::raw(SYS_symlinkat, (long)target, dirfd, (long)path);
  if (r < 0) return fail(r);
  cow_note(dirfd, path);
  if (int e = note_created(dirfd, path, AT_SYMLINK_NOFOLLOW, false, 0, new_owner(have_parent ? &parent : nullptr)))
    return fail(e);
  return 0;
}

int link_at(int olddirfd, const char* oldpath, int newdirfd, const char* newpath, int flags) {
  RESOLVE(olddirfd, oldpath, (flags & AT_SYMLINK_FOLLOW) ? kFollow : 0);
  RESOLVE(newdirfd, newpath, 0);
  Cred c = fs_cred();
  if (!dac_free(c) || !(c.caps & cap_bit(CAP_FOWNER))) {
    // fs.protected_hardlinks: a file of someone else's only when it is a
    // plain file its linker may read and write; then the directory's rule.
    struct statx sx;
    if (real_statx(olddirfd, oldpath, (flags & AT_SYMLINK_FOLLOW) ? 0 : AT_SYMLINK_NOFOLLOW, &sx) == 0 &&
        !rs_oldpath.passthrough) {
      Meta m = view(sx);
      bool safe = S_ISREG(m.mode) && !(m.mode & S_ISUID) && (m.mode & (S_ISGID | S_IXGRP)) != (S_ISGID | S_IXGRP) &&
                  may(m, kMayRead | kMayWrite, c) == 0;
      if (!safe && !owner_or_capable(m, c)) return fail(-EPERM);
    }
    Meta parent;
    if (parent_view(rs_newpath, &parent) == 0)
      if (int e = check_create(rs_newpath, newdirfd, newpath, &parent, c)) return fail(e);
  }
  // A new name for a file shared with the base would be one more name of
  // the base's inode: the clone's own copy gets it.
  PathBuf copy;
  if (int e = prepare_write(&olddirfd, &oldpath, nullptr, flags & AT_SYMLINK_FOLLOW, CowWhat::kMeta, copy))
    return fail(e);
  long r = sys::raw(SYS_linkat, olddirfd, (long)oldpath, newdirfd, (long)newpath, flags);
  if (r < 0) return fail(r);
  cow_note(newdirfd, newpath);
  return 0;
}

// Forgets the entry of an inode whose last name is going away, so that a new
// file on the same inode number starts clean (the birth time check is the
// second line of defence, for deletions the library never sees).
static void forget_if_last(const struct statx& sx) {
  if (sx.stx_nlink > 1 && !S_ISDIR(sx.stx_mode)) return;
  Meta e;
  if (g_state.lookup(key_of(sx), &e)) g_state.remove(key_of(sx));
}

// may_delete() for a user without CAP_DAC_OVERRIDE (or, in a sticky
// directory, CAP_FOWNER): the victim's fake view and its directory's.
static int check_delete(const Resolved& r, const struct statx& victim, const Cred& c) {
  if (r.passthrough) return 0;
  Meta parent;
  if (parent_view(r, &parent) < 0) return 0;
  if (dac_free(c) && (!(parent.mode & S_ISVTX) || (c.caps & cap_bit(CAP_FOWNER)))) return 0;
  return may_delete(parent, view(victim), c);
}

int unlink_at(int dirfd, const char* path, int flags) {
  RESOLVE(dirfd, path, 0);
  struct statx sx;
  bool known = real_statx(dirfd, path, AT_SYMLINK_NOFOLLOW, &sx) == 0;
  Cred c = fs_cred();
  if (known && (!dac_free(c) || !(c.caps & cap_bit(CAP_FOWNER))))
    if (int e = check_delete(rs_path, sx, c)) return fail(e);
  if (g_cow.sidecar[0]) cow_note(dirfd, path);  // before: a relative name needs its directory
  long r = sys::raw(SYS_unlinkat, dirfd, (long)path, flags);
  if (r < 0) return fail(r);
  if (flags & AT_REMOVEDIR) g_state.bump_namegen();  // resolvers forget the directory
  if (known) forget_if_last(sx);
  return 0;
}

// The kernel's checks of a rename: the source leaves its directory (and
// the target its own, when replaced or exchanged), a name is made in the
// target directory, and a directory that moves to another parent is
// written (its ".." changes).
static int check_rename(const Resolved& ro, const struct statx& from, const Resolved& rn, const struct statx* to,
                        unsigned flags, const Cred& c) {
  if (ro.passthrough || rn.passthrough) return 0;
  Key ko, kn;
  Meta op, np;
  if (resolved_parent(ro, &ko, &op) < 0 || resolved_parent(rn, &kn, &np) < 0) return 0;
  op = view_of(ko, op);
  np = view_of(kn, np);
  bool check_dac = !dac_free(c);
  Meta mf = view(from);
  if (check_dac || ((op.mode & S_ISVTX) && !(c.caps & cap_bit(CAP_FOWNER))))
    if (int e = may_delete(op, mf, c)) return e;
  Meta mt;
  if (to) {
    mt = view(*to);
    if (check_dac || ((np.mode & S_ISVTX) && !(c.caps & cap_bit(CAP_FOWNER))))
      if (int e = may_delete(np, mt, c)) return e;
  } else if (check_dac) {
    if (int e = may_create(np, c)) return e;
  }
  if (check_dac && !(ko == kn)) {
    if (S_ISDIR(mf.mode))
      if (int e = may(mf, kMayWrite, c)) return e;
    if (to && (flags & RENAME_EXCHANGE) && S_ISDIR(mt.mode))
      if (int e = may(mt, kMayWrite, c)) return e;
  }
  return 0;
}

int rename_at(int olddirfd, const char* oldpath, int newdirfd, const char* newpath, unsigned flags) {
  RESOLVE(olddirfd, oldpath, 0);
  RESOLVE(newdirfd, newpath, 0);
  struct statx from, to;
  bool have_to = real_statx(newdirfd, newpath, AT_SYMLINK_NOFOLLOW, &to) == 0;
  bool have_from = real_statx(olddirfd, oldpath, AT_SYMLINK_NOFOLLOW, &from) == 0;
  bool replaced = !(flags & (RENAME_EXCHANGE | RENAME_NOREPLACE)) && have_to && have_from &&
                  !(key_of(from) == key_of(to));
  Cred c = fs_cred();
  if (have_from && (!dac_free(c) || !(c.caps & cap_bit(CAP_FOWNER))))
    if (int e = check_rename(rs_oldpath, from, rs_newpath, have_to ? &to : nullptr, flags, c)) return fail(e);
  if (g_cow.sidecar[0]) {
    cow_note(olddirfd, oldpath);
    cow_note(newdirfd, newpath);
  }
  long r = sys::raw(SYS_renameat2, olddirfd, (long)oldpath, newdirfd, (long)newpath, flags);
  if (r < 0) return fail(r);
  if ((have_from && S_ISDIR(from.stx_mode)) || (have_to && S_ISDIR(to.stx_mode))) g_state.bump_namegen();
  if (replaced) forget_if_last(to);
  return 0;
}

// access(2) and faccessat: the fake mode against the real ids (or, with
// AT_EACCESS, the effective ones), with the capabilities the kernel grants
// them: root reads and writes anything and executes what has an x bit.
int access_at(int dirfd, const char* path, int mode, int flags) {
  bool eff = flags & AT_EACCESS;
  RESOLVE(dirfd, path, ((flags & AT_SYMLINK_NOFOLLOW) ? 0 : kFollow) | (eff ? 0 : kRealIds));
  if (mode & ~(R_OK | W_OK | X_OK)) return fail(-EINVAL);
  struct statx sx;
  long r = real_statx(dirfd, path, flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), &sx);
  if (r < 0) return fail(r);
  if (mode == F_OK) return 0;
  if (rs_path.passthrough || real_checks_only(real_meta(sx)))
    return (int)sys::call(SYS_faccessat2, dirfd, (long)path, mode, flags & ~AT_EACCESS);
  if (int e = may(view(sx), mode, eff ? fs_cred() : real_cred())) return fail(e);
  if (mode & W_OK) {
    r = sys::raw(SYS_faccessat2, dirfd, (long)path, W_OK, flags & ~AT_EACCESS);
    if (r == -EROFS || r == -ETXTBSY) return fail(r);
  }
  return 0;
}

int unix_bind_check(const Resolved& r) {
  Cred c = fs_cred();
  if (dac_free(c) || r.passthrough) return 0;
  Meta parent;
  if (parent_view(r, &parent) < 0 || may_create(parent, c) == 0) return 0;
  struct statx sx;
  return real_statx(r.dirfd, r.path, AT_SYMLINK_NOFOLLOW, &sx) == 0 ? -EADDRINUSE : -EACCES;
}

int unix_bound(const Resolved& r) {
  Meta parent;
  bool have_parent = parent_view(r, &parent) == 0;
  return note_created(r.dirfd, r.path, AT_SYMLINK_NOFOLLOW, false, 0, new_owner(have_parent ? &parent : nullptr));
}

int unix_connect_check(const Resolved& r) {
  Cred c = fs_cred();
  if (dac_free(c) || r.passthrough) return 0;
  struct statx sx;
  if (real_statx(r.dirfd, r.path, 0, &sx) < 0 || !S_ISSOCK(sx.stx_mode)) return 0;
  return may(view(sx), kMayWrite, c);
}

bool creation_owner_needed() { return owner_entry_needed(new_owner(nullptr)); }

int note_new_file(int fd) { return note_created(fd, "", AT_EMPTY_PATH, false, 0, new_owner(nullptr)); }

mode_t umask(mode_t mask) {
  if ((mask & 0777) != g_session.umask) vm_child_changing();
  mode_t old = (mode_t)sys::raw(SYS_umask, mask);
  g_session.umask = mask & 0777;
  return old;
}

}  // namespace cr::ops

namespace cr::ops {

int truncate_at(int dirfd, const char* path, off_t length) {
  RESOLVE(dirfd, path, kFollow);
  Cred c = fs_cred();
  SetidDrop drop;
  if (!dac_free(c) && !rs_path.passthrough) {
    struct statx sx;
    if (real_statx(dirfd, path, 0, &sx) == 0 && !S_ISDIR(sx.stx_mode) && !real_checks_only(real_meta(sx))) {
      Meta m = view(sx);
      if (int e = may(m, kMayWrite, c)) return fail(e);
      drop.on = setid_after_write(m, c) != m.mode;
      drop.key = key_of(sx);
      drop.cur = m;
      drop.mode = setid_after_write(m, c);
    }
  }
  PathBuf copy;
  if (int e = prepare_write(&dirfd, &path, nullptr, true, CowWhat::kContent, copy)) return fail(e);
  // truncate(2) takes no directory: a name relative to one goes through it.
  PathBuf through;
  if (dirfd != AT_FDCWD && path[0] != '/') {
    size_t l = sys::proc_fd_path(dirfd, through);
    size_t pl = strlen(path);
    if (l + 1 + pl + 1 > sizeof through) return fail(-ENAMETOOLONG);
    through[l] = '/';
    memcpy(through + l + 1, path, pl + 1);
    path = through;
  }
  long r = sys::call(SYS_truncate, (long)path, (long)length);
  if (r == 0) drop_setid(drop);
  return (int)r;
}

// Setting times: the owner (or CAP_FOWNER) sets any; "now" (no times, or
// UTIME_NOW for both) is for anyone who may write the file too.
static int check_times(int dirfd, const char* path, int flags, const struct timespec times[2], const Cred& c) {
  bool touch = !times || (times[0].tv_nsec == UTIME_NOW && times[1].tv_nsec == UTIME_NOW);
  if (times && times[0].tv_nsec == UTIME_OMIT && times[1].tv_nsec == UTIME_OMIT) return 0;
  struct statx sx;
  if (real_statx(dirfd, path, flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), &sx) < 0) return 0;
  if (real_checks_only(real_meta(sx))) return 0;
  Meta m = view(sx);
  if (owner_or_capable(m, c)) return 0;
  if (!touch) return -EPERM;
  return may(m, kMayWrite, c);
}

int utimens_at(int dirfd, const char* path, const struct timespec times[2], int flags) {
  bool follow = !(flags & AT_SYMLINK_NOFOLLOW);
  RESOLVE(dirfd, path, follow ? kFollow : 0);
  Cred c = fs_cred();
  if (!(c.caps & cap_bit(CAP_FOWNER)) && !rs_path.passthrough)
    if (int e = check_times(dirfd, path, flags, times, c)) return fail(e);
  PathBuf copy;
  if (int e = prepare_write(&dirfd, &path, &flags, follow, CowWhat::kMeta, copy)) return fail(e);
  // By descriptor, the kernel's oldest form (a null path) works on every kernel.
  if (by_fd(path, flags)) return (int)sys::call(SYS_utimensat, dirfd, 0, (long)times, flags & ~AT_EMPTY_PATH);
  cow_note(dirfd, path);
  return (int)sys::call(SYS_utimensat, dirfd, (long)path, (long)times, flags);
}

bool is_inode_flags_request(unsigned long request) {
  return request == FS_IOC_SETFLAGS || request == FS_IOC32_SETFLAGS || request == FS_IOC_FSSETXATTR ||
         request == FS_IOC_SETVERSION || request == FS_IOC32_SETVERSION;
}

// chattr opens the file read-only: the descriptor alone says nothing of a
// write, so the break happens here, and the flags go to the clone's copy.
// The kernel lets only the file's owner (or CAP_FOWNER) set them: the fake
// owner, here (the real one owns every file of the clone).
int set_inode_flags(int fd, unsigned long request, void* arg) {
  struct statx sx;
  if (long r = real_statx(fd, "", AT_EMPTY_PATH, &sx); r < 0) return fail(r);
  if (!owner_or_capable(view(sx), fs_cred())) return fail(-EPERM);
  int dirfd = fd, flags = AT_EMPTY_PATH;
  const char* path = "";
  PathBuf copy;
  if (int e = prepare_write(&dirfd, &path, &flags, true, CowWhat::kContent, copy)) return fail(e);
  if (by_fd(path, flags)) return (int)sys::call(SYS_ioctl, fd, request, (long)arg);
  long nfd = sys::raw(SYS_openat, dirfd, (long)path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
  if (nfd < 0) return fail(nfd);
  long r = sys::raw(SYS_ioctl, nfd, request, (long)arg);
  sys::raw(SYS_close, nfd);
  return r < 0 ? fail(r) : (int)r;
}

unsigned char faked_entry_type(int dfd, uint64_t dev, uint64_t ino, const char* name) {
  Meta m;
  if (!g_session.active || !g_state.may_hold_devices() || !g_state.lookup(Key{dev, ino}, &m) ||
      !(S_ISCHR(m.mode) || S_ISBLK(m.mode)))
    return 0;
  // An entry of an inode whose number a new file took since: the file's own
  // view says (rare: only entries recorded as devices get here).
  struct statx sx;
  if (real_statx(dfd, name, AT_SYMLINK_NOFOLLOW, &sx) != 0 || !S_ISREG(sx.stx_mode)) return 0;
  Meta v = view(sx);
  return S_ISCHR(v.mode) ? DT_CHR : S_ISBLK(v.mode) ? DT_BLK : 0;
}

}  // namespace cr::ops
