#include "ops.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <linux/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include "cow.h"
#include "resolve.h"
#include "session.h"
#include "sys.h"

namespace cr::ops {

namespace {

constexpr unsigned kStatxMask = STATX_BASIC_STATS | STATX_BTIME;
constexpr uint32_t kNoId = static_cast<uint32_t>(-1);

int fail(long r) {
  errno = static_cast<int>(-r);
  return -1;
}

// The first step of every path operation: the path as the kernel must see it.
#define RESOLVE(D, P, F)                                     \
  Resolved rs_##P;                                           \
  if (int e_ = resolve(D, P, F, &rs_##P)) return fail(e_);   \
  D = rs_##P.dirfd;                                          \
  P = rs_##P.path

// Real statx of (dirfd, path) or of fd when path is null.
long real_statx(int dirfd, const char* path, int flags, struct statx* sx) {
  if (!path) return sys::raw(SYS_statx, dirfd, (long)"", AT_EMPTY_PATH, kStatxMask, (long)sx);
  flags &= AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
  return sys::raw(SYS_statx, dirfd, (long)path, flags, kStatxMask, (long)sx);
}

Key key_of(const struct statx& x) { return {makedev(x.stx_dev_major, x.stx_dev_minor), x.stx_ino}; }

Meta real_meta(const struct statx& x) {
  Meta m;
  m.mode = x.stx_mode;
  m.uid = x.stx_uid;
  m.gid = x.stx_gid;
  m.rdev = makedev(x.stx_rdev_major, x.stx_rdev_minor);
  if (x.stx_mask & STATX_BTIME) m.birth = {x.stx_btime.tv_sec, x.stx_btime.tv_nsec};
  return m;
}

// What the session shows for a file: its entry, or the real attributes with
// root as owner (unless -u).
Meta view(const struct statx& x, bool* has_entry = nullptr) {
  Meta real = real_meta(x), e;
  if (g_state.lookup(key_of(x), &e) && !entry_stale(e, real)) {
    if (has_entry) *has_entry = true;
    return e;
  }
  if (has_entry) *has_entry = false;
  if (!g_session.unknown_real) real.uid = real.gid = 0;
  return real;
}

// Disk permissions for a fake mode: never setuid, setgid, sticky or
// world-writable, and always usable by the real owner (root's bypass of
// permission bits is emulated instead of granted on disk).
mode_t disk_perm(mode_t perm, bool dir) {
  mode_t m = (perm & 0775) | (dir ? 0700 : 0600);
  if (!dir && (perm & 0111)) m |= 0100;
  return m;
}


// Records the fake permissions and/or owner of a file just created.
int note_created(int dirfd, const char* path, int stat_flags, bool set_perm, mode_t perm) {
  bool owner = creation_owner_needed();
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
    v.uid = g_session.uid.f;
    v.gid = g_session.gid.f;
  }
  return g_state.update(key_of(sx), base, mask, v);
}

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

bool in_set(uint32_t x, const Ids& ids) { return x == ids.r || x == ids.e || x == ids.s; }

bool faked_xattr_name(const char* name) {
  return strncmp(name, "security.", 9) == 0 || strncmp(name, "trusted.", 8) == 0;
}

long target_statx(const Target& t, struct statx* sx) {
  if (!t.path) return real_statx(t.fd, nullptr, 0, sx);
  return real_statx(AT_FDCWD, t.path, t.follow ? 0 : AT_SYMLINK_NOFOLLOW, sx);
}

// An access ACL written for real (cp -a, setfacl) sets the permission bits
// of the file: carry them into the entry, keep the special bits the entry
// holds, and put a safe mode back on disk.
int acl_changed_mode(const Target& t) {
  struct statx sx;
  long r = target_statx(t, &sx);
  if (r < 0) return 0;  // the attribute is set; nothing to carry over
  bool has_entry;
  Meta cur = view(sx, &has_entry);
  mode_t perm = (cur.mode & 07000) | (sx.stx_mode & 0777);
  mode_t disk = disk_perm(perm, S_ISDIR(sx.stx_mode));
  if (has_entry || disk != perm) {
    Meta v;
    v.mode = perm;
    if (int e = g_state.update(key_of(sx), cur, kSetPerm, v)) return fail(e);
  }
  if (disk != (sx.stx_mode & 07777)) {
    if (t.path) sys::raw(SYS_fchmodat, AT_FDCWD, (long)t.path, disk);
    else sys::raw(SYS_fchmod, t.fd, disk);
  }
  return 0;
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

int stat_at(int dirfd, const char* path, struct stat* st, int flags) {
  struct statx sx;
  flags &= AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
  long r = statx_in_root(dirfd, path, flags, kStatxMask, &sx);
  if (r < 0) return fail(r);
  fill_stat(sx, view(sx), st);
  return 0;
}

int statx_at(int dirfd, const char* path, int flags, unsigned mask, struct statx* stx) {
  long r = statx_in_root(dirfd, path, flags, mask | kStatxMask, stx);
  if (r < 0) return fail(r);
  Meta m = view(*stx);
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
// own, so there they stay in the clone's state without copying.)
static int cow_before_metadata(int& dirfd, const char*& path, bool follow, char* broke, size_t n) {
  if (!g_cow.dir_len) return 0;
  if (path) return cow_prepare(&dirfd, &path, follow && !g_root.active, CowWhat::kMeta, broke, n);
  int e = cow_prepare_fd(dirfd, broke, n, CowWhat::kMeta);
  if (e == 1) {
    dirfd = AT_FDCWD;
    path = broke;
  }
  return e < 0 ? e : 0;
}

int chown_at(int dirfd, const char* path, uid_t uid, gid_t gid, int flags) {
  RESOLVE(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : kFollow);
  char broke[4200];
  if (int e = cow_before_metadata(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), broke, sizeof broke)) return fail(e);
  if (path == broke) flags = (flags & ~AT_EMPTY_PATH) | AT_SYMLINK_NOFOLLOW;
  struct statx sx;
  long r = real_statx(dirfd, path, flags, &sx);
  if (r < 0) return fail(r);
  Meta cur = view(sx);
  if (g_session.uid.e != 0) {
    // An unprivileged (fake) user: the kernel's rules for chown.
    bool member = gid == g_session.gid.e;
    for (int i = 0; i < g_session.ngroups && !member; i++) member = g_session.groups[i] == gid;
    if ((uid != kNoId && uid != cur.uid) || ((uid != kNoId || gid != kNoId) && cur.uid != g_session.uid.e) ||
        (gid != kNoId && gid != cur.gid && !member))
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
  char broke0[4200];
  if (int e = cow_before_metadata(dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW), broke0, sizeof broke0)) return fail(e);
  struct statx sx;
  long r = real_statx(dirfd, path, flags, &sx);
  if (r < 0) return fail(r);
  if (S_ISLNK(sx.stx_mode)) return fail(-EOPNOTSUPP);  // as fchmodat(AT_SYMLINK_NOFOLLOW) does
  bool has_entry;
  Meta cur = view(sx, &has_entry);
  if (g_session.uid.e != 0 && cur.uid != g_session.uid.e) return fail(-EPERM);
  mode_t perm = mode & 07777;
  bool dir = S_ISDIR(sx.stx_mode);
  mode_t disk = disk_perm(perm, dir);
  // Faked device nodes are regular files: their disk mode stays private.
  if (S_ISCHR(cur.mode) || S_ISBLK(cur.mode)) disk = 0600;
  char broke[4200];
  if (disk != (sx.stx_mode & 07777) && cow_may_share(sx, CowWhat::kMeta)) {
    if (path) {
      if (int e = cow_prepare(&dirfd, &path, false, CowWhat::kMeta, broke, sizeof broke)) return fail(e);
    } else {
      int e = cow_prepare_fd(dirfd, broke, sizeof broke, CowWhat::kMeta);
      if (e < 0) return fail(e);
      if (e == 1) {  // the descriptor still names the base's inode: go by name
        dirfd = AT_FDCWD;
        path = broke;
      }
    }
    // The file may be a new inode now: its key is what the entry goes to.
    long q = real_statx(dirfd, path, AT_SYMLINK_NOFOLLOW, &sx);
    if (q < 0) return fail(q);
    cur = view(sx, &has_entry);
  }
  if (disk == (sx.stx_mode & 07777)) {
    r = 0;  // nothing to change on disk (and a shared inode stays untouched)
  } else if (path) {
    r = sys::raw(SYS_fchmodat, dirfd, (long)path, disk);
  } else {
    r = sys::raw(SYS_fchmod, dirfd, disk);
  }
  if (r < 0 && r != -EPERM) return fail(r);
  if (path && r == 0 && disk != (sx.stx_mode & 07777)) cow_note(dirfd, path);
  if (has_entry || disk != perm || r == -EPERM) {
    Meta v;
    v.mode = perm;
    if (int e = g_state.update(key_of(sx), cur, kSetPerm, v)) return fail(e);
  }
  return 0;
}

int mknod_at(int dirfd, const char* path, mode_t mode, dev_t dev) {
  RESOLVE(dirfd, path, 0);
  mode_t type = mode & S_IFMT;
  mode_t perm = mode & 07777 & ~g_session.umask;
  if (type == S_IFCHR || type == S_IFBLK) {
    // Device nodes are the one thing faked: a private regular file on disk.
    long fd = sys::raw(SYS_openat, dirfd, (long)path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return fail(fd);
    struct statx sx;
    long r = real_statx((int)fd, nullptr, 0, &sx);
    sys::raw(SYS_close, fd);
    if (r == 0) {
      Meta base = view(sx), v;
      v.mode = type | perm;
      v.rdev = dev;
      v.uid = g_session.uid.f;
      v.gid = g_session.gid.f;
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
  if (int e = note_created(dirfd, path, AT_SYMLINK_NOFOLLOW, disk != perm, perm)) return fail(e);
  return 0;
}

int mkdir_at(int dirfd, const char* path, mode_t mode) {
  RESOLVE(dirfd, path, 0);
  mode_t perm = mode & 07777 & ~g_session.umask;
  mode_t disk = disk_perm(perm, true);
  long r = sys::raw(SYS_mkdirat, dirfd, (long)path, disk);
  if (r < 0) return fail(r);
  cow_note(dirfd, path);
  if (int e = note_created(dirfd, path, AT_SYMLINK_NOFOLLOW, disk != perm, perm)) return fail(e);
  return 0;
}

static int open_resolved(int dirfd, const char* path, int flags, mode_t mode);

static bool writes(int flags) {
  return (flags & (O_WRONLY | O_RDWR | O_TRUNC | O_APPEND)) && !((flags & O_CREAT) && (flags & O_EXCL)) &&
         (flags & O_TMPFILE) != O_TMPFILE;
}

int open_at(int dirfd, const char* path, int flags, mode_t mode) {
  if (g_cow.active && writes(flags) && path && *path) {
    // A write to a file shared with the base: the clone's own copy first.
    Resolved r;
    if (int e = resolve(dirfd, path, (flags & O_NOFOLLOW) ? 0 : kFollow, &r)) return fail(e);
    char copy[4200];
    if (int e = cow_prepare(&r.dirfd, &r.path, !(flags & O_NOFOLLOW) && !g_root.active, CowWhat::kContent, copy,
                            sizeof copy))
      return fail(e);
    return open_resolved(r.dirfd, r.path, flags, mode);
  }
  if (g_root.active && path && *path) {
    bool excl_create = (flags & O_CREAT) && (flags & O_EXCL);
    if ((flags & O_NOFOLLOW) || excl_create || (flags & O_PATH)) {
      Resolved r;
      if (int e = resolve(dirfd, path, (flags & (O_NOFOLLOW)) || excl_create ? 0 : kFollow, &r)) return fail(e);
      return open_resolved(r.dirfd, r.path, flags, mode);
    }
    // Try with the last component unfollowed; a symlink there says ELOOP
    // (ENOTDIR with O_DIRECTORY: the kernel checks that first).
    Resolved r;
    if (int e = resolve(dirfd, path, kFollow | kLazyFinal, &r)) return fail(e);
    int fd = open_resolved(r.dirfd, r.path, flags | O_NOFOLLOW, mode);
    if (fd >= 0 || (errno != ELOOP && !(errno == ENOTDIR && (flags & O_DIRECTORY)))) return fd;
    if (int e = resolve(dirfd, path, kFollow, &r)) return fail(e);
    return open_resolved(r.dirfd, r.path, flags, mode);
  }
  return open_resolved(dirfd, path, flags, mode);
}

static int open_resolved(int dirfd, const char* path, int flags, mode_t mode) {
  if (g_cow.sidecar[0] && ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)) cow_note(dirfd, path);
  bool creates = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  mode_t perm = mode & 07777 & ~g_session.umask;
  mode_t disk = disk_perm(perm, false);
  if (!creates || (disk == perm && !creation_owner_needed()))
    return (int)sys::call(SYS_openat, dirfd, (long)path, flags, mode);
  // The file may be created with other permissions than asked: find out
  // whether this call creates it, so that only a new file gets the entry.
  long fd;
  bool created;
  if ((flags & O_TMPFILE) == O_TMPFILE || (flags & O_EXCL)) {
    fd = sys::raw(SYS_openat, dirfd, (long)path, flags, disk);
    created = true;
  } else {
    for (int tries = 0;; tries++) {
      fd = sys::raw(SYS_openat, dirfd, (long)path, flags | O_EXCL, disk);
      created = true;
      if (fd != -EEXIST) break;
      fd = sys::raw(SYS_openat, dirfd, (long)path, flags & ~O_CREAT, mode);
      created = false;
      if (fd != -ENOENT) break;
      if (tries == 3) {  // a dangling symlink: let the kernel create its target
        fd = sys::raw(SYS_openat, dirfd, (long)path, flags, disk);
        created = true;
        break;
      }
    }
  }
  if (fd < 0) return fail(fd);
  if (created) {
    if (int e = note_created((int)fd, nullptr, 0, disk != perm, perm)) {
      sys::raw(SYS_close, fd);
      return fail(e);
    }
  }
  return (int)fd;
}

int symlink_at(const char* target, int dirfd, const char* path) {
  RESOLVE(dirfd, path, 0);  // the target is stored exactly as given
  long r = sys::raw(SYS_symlinkat, (long)target, dirfd, (long)path);
  if (r < 0) return fail(r);
  cow_note(dirfd, path);
  if (int e = note_created(dirfd, path, AT_SYMLINK_NOFOLLOW, false, 0)) return fail(e);
  return 0;
}

int link_at(int olddirfd, const char* oldpath, int newdirfd, const char* newpath, int flags) {
  RESOLVE(olddirfd, oldpath, (flags & AT_SYMLINK_FOLLOW) ? kFollow : 0);
  RESOLVE(newdirfd, newpath, 0);
  // A new name for a file shared with the base would be one more name of
  // the base's inode: the clone's own copy gets it.
  char copy[4200];
  if (int e = cow_prepare(&olddirfd, &oldpath, (flags & AT_SYMLINK_FOLLOW) && !g_root.active, CowWhat::kMeta, copy,
                          sizeof copy))
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

int unlink_at(int dirfd, const char* path, int flags) {
  RESOLVE(dirfd, path, 0);
  struct statx sx;
  bool known = real_statx(dirfd, path, AT_SYMLINK_NOFOLLOW, &sx) == 0;
  if (g_cow.sidecar[0]) cow_note(dirfd, path);  // before: a relative name needs its directory
  long r = sys::raw(SYS_unlinkat, dirfd, (long)path, flags);
  if (r < 0) return fail(r);
  if (flags & AT_REMOVEDIR) g_state.bump_namegen();  // resolvers forget the directory
  if (known) forget_if_last(sx);
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

int access_at(int dirfd, const char* path, int mode, int flags) {
  RESOLVE(dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : kFollow);
  uint32_t uid = (flags & AT_EACCESS) ? g_session.uid.e : g_session.uid.r;
  if (uid != 0) return (int)sys::call(SYS_faccessat2, dirfd, (long)path, mode, flags);
  // Root: read and write are granted, execute needs an x bit somewhere.
  struct statx sx;
  long r = real_statx(dirfd, path, flags & AT_SYMLINK_NOFOLLOW, &sx);
  if (r < 0) return fail(r);
  if ((mode & X_OK) && !S_ISDIR(sx.stx_mode) && !(view(sx).mode & 0111)) return fail(-EACCES);
  if (mode & W_OK) {
    r = sys::raw(SYS_faccessat2, dirfd, (long)path, W_OK, flags & ~AT_EACCESS);
    if (r == -EROFS || r == -ETXTBSY) return fail(r);
  }
  return 0;
}

// Resolves a path target of an xattr call.
#define RESOLVE_TARGET(t)                                                                \
  Resolved rt_;                                                                          \
  if (t.path) {                                                                          \
    if (int e_ = resolve(AT_FDCWD, t.path, t.follow ? kFollow : 0, &rt_)) return fail(e_); \
    t.path = rt_.path;                                                                   \
  }

// The copy-on-write step before a real xattr write. After a break of a
// descriptor's file, the target becomes the copy's path (in `broke`).
static int cow_prepare_target(Target* t, char* broke, size_t n) {
  if (t->path) {
    int d = AT_FDCWD;
    int e = cow_prepare(&d, &t->path, t->follow && !g_root.active, CowWhat::kMeta, broke, n);
    if (t->path == broke) t->follow = false;
    return e;
  }
  int e = cow_prepare_fd(t->fd, broke, n, CowWhat::kMeta);
  if (e == 1) {
    t->path = broke;
    t->follow = false;
  }
  return e < 0 ? e : 0;
}

ssize_t getxattr(Target t, const char* name, void* value, size_t size) {
  RESOLVE_TARGET(t);
  if (!faked_xattr_name(name)) {
    long r = t.path ? sys::raw(t.follow ? SYS_getxattr : SYS_lgetxattr, (long)t.path, (long)name, (long)value, size)
                    : sys::raw(SYS_fgetxattr, t.fd, (long)name, (long)value, size);
    if (r >= 0 || (r != -ENODATA && r != -ENOTSUP && r != -EOPNOTSUPP)) return r < 0 ? fail(r) : r;
  }
  struct statx sx;
  long r = target_statx(t, &sx);
  if (r < 0) return fail(r);
  bool has_entry;
  Meta m = view(sx, &has_entry);
  if (!has_entry) return fail(-ENODATA);
  long n = g_state.xattr_get(m, name, value, size);
  return n < 0 ? fail(n) : n;
}

int setxattr(Target t, const char* name, const void* value, size_t size, int flags) {
  RESOLVE_TARGET(t);
  if (!faked_xattr_name(name)) {
    char broke[4200];
    if (int e = cow_prepare_target(&t, broke, sizeof broke)) return fail(e);
    long r = t.path ? sys::raw(t.follow ? SYS_setxattr : SYS_lsetxattr, (long)t.path, (long)name, (long)value,
                               size, flags)
                    : sys::raw(SYS_fsetxattr, t.fd, (long)name, (long)value, size, flags);
    if (r == 0) cow_note(t.path ? AT_FDCWD : t.fd, t.path ? t.path : "");  // for a clone's reset
    if (r == 0 && strcmp(name, "system.posix_acl_access") == 0) return acl_changed_mode(t);
    if (r == 0 || (r != -EPERM && r != -ENOTSUP && r != -EOPNOTSUPP)) return r < 0 ? fail(r) : 0;
  }
  struct statx sx;
  long r = target_statx(t, &sx);
  if (r < 0) return fail(r);
  Meta cur = view(sx);
  if (g_session.uid.e != 0 && (strncmp(name, "trusted.", 8) == 0 || cur.uid != g_session.uid.e))
    return fail(-EPERM);
  int e = g_state.xattr_set(key_of(sx), cur, name, value ? value : "", size, flags);
  return e ? fail(e) : 0;
}

int removexattr(Target t, const char* name) {
  RESOLVE_TARGET(t);
  if (!faked_xattr_name(name)) {
    char broke[4200];
    if (int e = cow_prepare_target(&t, broke, sizeof broke)) return fail(e);
    long r = t.path ? sys::raw(t.follow ? SYS_removexattr : SYS_lremovexattr, (long)t.path, (long)name)
                    : sys::raw(SYS_fremovexattr, t.fd, (long)name);
    if (r == 0) cow_note(t.path ? AT_FDCWD : t.fd, t.path ? t.path : "");
    if (r == 0 || (r != -ENODATA && r != -ENOTSUP && r != -EOPNOTSUPP && r != -EPERM)) return r < 0 ? fail(r) : 0;
  }
  struct statx sx;
  long r = target_statx(t, &sx);
  if (r < 0) return fail(r);
  bool has_entry;
  Meta cur = view(sx, &has_entry);
  if (!has_entry) return fail(-ENODATA);
  int e = g_state.xattr_set(key_of(sx), cur, name, nullptr, 0, 0);
  return e ? fail(e) : 0;
}

ssize_t listxattr(Target t, char* list, size_t size) {
  RESOLVE_TARGET(t);
  long n = t.path ? sys::raw(t.follow ? SYS_listxattr : SYS_llistxattr, (long)t.path, (long)list, size)
                  : sys::raw(SYS_flistxattr, t.fd, (long)list, size);
  if (n == -ERANGE) {  // the caller's buffer is too small even for the real names
    return fail(n);
  }
  if (n < 0 && n != -ENOTSUP && n != -EOPNOTSUPP) return fail(n);
  if (n < 0) n = 0;
  struct statx sx;
  bool has_entry = false;
  Meta m;
  if (target_statx(t, &sx) == 0) m = view(sx, &has_entry);
  if (!has_entry || !m.xattrs) return n;
  // Append faked names not already among the real ones.
  size_t total = (size_t)n;
  bool too_small = false;
  size_t real_end = (size_t)n;
  g_state.xattr_names(m, [&](const char* name, uint32_t len) {
    if (size > 0) {
      for (size_t i = 0; i < real_end;) {
        size_t l = strlen(list + i);
        if (l == len && memcmp(list + i, name, len) == 0) return true;
        i += l + 1;
      }
    }
    if (size > 0) {
      if (total + len + 1 > size) {
        too_small = true;
        return false;
      }
      memcpy(list + total, name, len);
      list[total + len] = 0;
    }
    total += len + 1;
    return true;
  });
  if (too_small) return fail(-ERANGE);
  return (ssize_t)total;
}

bool creation_owner_needed() {
  return g_session.uid.f != 0 || g_session.gid.f != 0 || g_session.unknown_real;
}

int note_new_file(int fd) { return note_created(fd, nullptr, 0, false, 0); }

mode_t umask(mode_t mask) {
  mode_t old = (mode_t)sys::raw(SYS_umask, mask);
  g_session.umask = mask & 0777;
  return old;
}

uid_t getuid() { return g_session.uid.r; }
uid_t geteuid() { return g_session.uid.e; }
gid_t getgid() { return g_session.gid.r; }
gid_t getegid() { return g_session.gid.e; }

int getresuid(uid_t* r, uid_t* e, uid_t* s) {
  *r = g_session.uid.r;
  *e = g_session.uid.e;
  *s = g_session.uid.s;
  return 0;
}

int getresgid(gid_t* r, gid_t* e, gid_t* s) {
  *r = g_session.gid.r;
  *e = g_session.gid.e;
  *s = g_session.gid.s;
  return 0;
}

// The process's capability sets: all of them while the fake effective uid is
// 0 (as for real root), none otherwise; capset follows the kernel's subset
// rules. Kept in the process only, as a process's capabilities are.
namespace {
constexpr uint64_t kAllCaps = (uint64_t(1) << (CAP_LAST_CAP + 1)) - 1;
struct Caps {
  bool set = false;
  uint64_t eff = 0, perm = 0, inh = 0;
};
Caps g_caps;
Caps current_caps() {
  if (g_caps.set) return g_caps;
  Caps c;
  if (g_session.uid.e == 0) c.eff = c.perm = kAllCaps;
  return c;
}
int cap_words(__user_cap_header_struct* h) {
  switch (h->version) {
    case _LINUX_CAPABILITY_VERSION_1: return 1;
    case _LINUX_CAPABILITY_VERSION_2:
    case _LINUX_CAPABILITY_VERSION_3: return 2;
  }
  h->version = _LINUX_CAPABILITY_VERSION_3;
  return 0;
}
}  // namespace

// The set*id family with the kernel's rules: changing ids freely takes
// CAP_SETUID (uids) or CAP_SETGID (gids and groups) in the effective set.
static bool privileged(const Ids& ids) {
  return current_caps().eff & (uint64_t(1) << (&ids == &g_session.uid ? CAP_SETUID : CAP_SETGID));
}

// After a change of uids, the capability sets follow the kernel's rules
// (capabilities(7), "Effect of user ID changes on capabilities"): leaving
// uid 0 everywhere clears them unless PR_SET_KEEPCAPS, leaving euid 0 clears
// the effective set, coming back to euid 0 restores it from the permitted.
static void uid_changed(const Ids& old, Caps c) {
  const Ids& now = g_session.uid;
  bool was_root = old.r == 0 || old.e == 0 || old.s == 0;
  bool none_root = now.r != 0 && now.e != 0 && now.s != 0;
  c.set = true;
  long keep = sys::raw(SYS_prctl, PR_GET_KEEPCAPS, 0, 0, 0, 0);
  if (was_root && none_root && keep <= 0) c.perm = c.eff = 0;
  if (old.e == 0 && now.e != 0) c.eff = 0;
  if (old.e != 0 && now.e == 0) c.eff = c.perm;
  g_caps = c;
}

static int set_res(Ids& ids, uint32_t r, uint32_t e, uint32_t s) {
  if (!privileged(ids))
    for (uint32_t x : {r, e, s})
      if (x != kNoId && !in_set(x, ids)) return fail(-EPERM);
  if (r != kNoId) ids.r = r;
  if (e != kNoId) ids.e = e;
  if (s != kNoId) ids.s = s;
  ids.f = ids.e;
  return 0;
}

static int set_re(Ids& ids, uint32_t r, uint32_t e) {
  if (!privileged(ids)) {
    if (r != kNoId && r != ids.r && r != ids.e) return fail(-EPERM);
    if (e != kNoId && !in_set(e, ids)) return fail(-EPERM);
  }
  uint32_t old_r = ids.r;
  if (r != kNoId) ids.r = r;
  if (e != kNoId) ids.e = e;
  if (r != kNoId || (e != kNoId && e != old_r)) ids.s = ids.e;
  ids.f = ids.e;
  return 0;
}

static int set_one(Ids& ids, uint32_t x) {
  if (x == kNoId) return fail(-EINVAL);
  if (privileged(ids)) {
    ids.r = ids.e = ids.s = ids.f = x;
    return 0;
  }
  if (x != ids.r && x != ids.s) return fail(-EPERM);
  ids.e = ids.f = x;
  return 0;
}

static int set_fs(Ids& ids, uint32_t x) {
  uint32_t old = ids.f;
  if (x != kNoId && (privileged(ids) || in_set(x, ids) || x == ids.f)) ids.f = x;
  return (int)old;
}

// The uid setters, with the capability rules applied after a change.
template <typename F>
static int uid_change(F&& f) {
  Ids old = g_session.uid;
  Caps before = current_caps();  // (derived from the euid until first set: taken before it changes)
  int r = f();
  if (r == 0) uid_changed(old, before);
  return r;
}

int setuid(uid_t u) { return uid_change([&] { return set_one(g_session.uid, u); }); }
int setgid(gid_t g) { return set_one(g_session.gid, g); }
int seteuid(uid_t u) {
  return u == kNoId ? fail(-EINVAL) : uid_change([&] { return set_res(g_session.uid, kNoId, u, kNoId); });
}
int setegid(gid_t g) { return g == kNoId ? fail(-EINVAL) : set_res(g_session.gid, kNoId, g, kNoId); }
int setreuid(uid_t r, uid_t e) { return uid_change([&] { return set_re(g_session.uid, r, e); }); }
int setregid(gid_t r, gid_t e) { return set_re(g_session.gid, r, e); }
int setresuid(uid_t r, uid_t e, uid_t s) { return uid_change([&] { return set_res(g_session.uid, r, e, s); }); }
int setresgid(gid_t r, gid_t e, gid_t s) { return set_res(g_session.gid, r, e, s); }
int setfsuid(uid_t u) { return set_fs(g_session.uid, u); }
int setfsgid(gid_t g) { return set_fs(g_session.gid, g); }

int getgroups(int size, gid_t* list) {
  if (size < 0) return fail(-EINVAL);
  if (size == 0) return g_session.ngroups;
  if (size < g_session.ngroups) return fail(-EINVAL);
  for (int i = 0; i < g_session.ngroups; i++) list[i] = g_session.groups[i];
  return g_session.ngroups;
}

int setgroups(size_t size, const gid_t* list) {
  if (!privileged(g_session.gid)) return fail(-EPERM);
  if (size > (size_t)kMaxGroups) return fail(-EINVAL);
  for (size_t i = 0; i < size; i++) g_session.groups[i] = list[i];
  g_session.ngroups = (int)size;
  return 0;
}

int capget(void* header, void* data) {
  auto* h = static_cast<__user_cap_header_struct*>(header);
  int words = cap_words(h);
  if (!words) return data ? fail(-EINVAL) : 0;
  if (!data) return 0;
  if (h->pid != 0 && h->pid != (int)sys::raw(SYS_getpid)) return (int)sys::call(SYS_capget, (long)header, (long)data);
  auto* d = static_cast<__user_cap_data_struct*>(data);
  Caps c = current_caps();
  for (int i = 0; i < words; i++) {
    d[i].effective = (uint32_t)(c.eff >> (32 * i));
    d[i].permitted = (uint32_t)(c.perm >> (32 * i));
    d[i].inheritable = (uint32_t)(c.inh >> (32 * i));
  }
  return 0;
}

int capset(void* header, const void* data) {
  auto* h = static_cast<__user_cap_header_struct*>(header);
  int words = cap_words(h);
  if (!words) return fail(-EINVAL);
  if (h->pid != 0 && h->pid != (int)sys::raw(SYS_getpid)) return fail(-EPERM);
  auto* d = static_cast<const __user_cap_data_struct*>(data);
  Caps n;
  n.set = true;
  for (int i = 0; i < words; i++) {
    n.eff |= uint64_t(d[i].effective) << (32 * i);
    n.perm |= uint64_t(d[i].permitted) << (32 * i);
    n.inh |= uint64_t(d[i].inheritable) << (32 * i);
  }
  Caps c = current_caps();
  if ((n.perm & ~c.perm) || (n.eff & ~n.perm)) return fail(-EPERM);
  g_caps = n;
  return 0;
}

}  // namespace cr::ops
