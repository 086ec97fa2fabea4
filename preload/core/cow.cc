// The library's side of copy-on-write: is this inode shared, and breaking it.
// Raw system calls only; no allocation.
#include "cow.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cow_format.h"
#include "hash.h"
#include "resolve.h"
#include "session.h"
#include "sys.h"

namespace cr {

constinit CowConfig g_cow;

namespace {

bool copy_str(char* out, size_t n, const char* s) {
  size_t l = strlen(s);
  if (l + 1 > n) return false;
  memcpy(out, s, l + 1);
  return true;
}

const SharedSlot* find_slot(uint64_t ino) {
  const SharedSet* s = g_cow.set;
  return s ? shared_find(s, ino) : nullptr;
}

// Calls f(host path) for each name the recorded inode `ino` had in the base
// (when it had several) that still names it in the clone.
template <typename F>
void each_alias(uint64_t ino, F&& f) {
  const SharedSlot* slot = find_slot(ino);
  shared_each_name(g_cow.set, g_cow.set_len, slot, [&](const char* n, size_t nl) {
    PathBuf full;
    size_t rl = g_cow.clone_root_len;
    if (rl + 1 + nl + 1 > sizeof full) return;
    memcpy(full, g_cow.clone_root, rl);
    full[rl] = '/';
    memcpy(full + rl + 1, n, nl);
    full[rl + 1 + nl] = 0;
    struct statx ax;
    if (sys::raw(SYS_statx, AT_FDCWD, (long)full, AT_SYMLINK_NOFOLLOW, STATX_INO, (long)&ax) == 0 && ax.stx_ino == ino)
      f(full);
  });
}

std::atomic<unsigned> g_counter{0};

// ".cowroot-break-PID-N" into out.
void temp_name(char* out, size_t n) {
  char digits[48];
  int nd = 0;
  unsigned long v = (unsigned long)sys::raw(SYS_getpid) * 100000ul + g_counter.fetch_add(1) % 100000;
  do digits[nd++] = char('0' + v % 10); while ((v /= 10) > 0);
  const char* prefix = ".cowroot-break-";
  size_t l = strlen(prefix);
  if (l + nd + 1 > n) nd = (int)(n - l - 1);
  memcpy(out, prefix, l);
  for (int i = 0; i < nd; i++) out[l + i] = digits[nd - 1 - i];
  out[l + nd] = 0;
}

using sys::proc_fd_path;

// Content with holes kept: FICLONE where the file system shares extents,
// else copy_file_range over the data regions (read/write as a last resort).
long copy_content(int src, int dst, uint64_t size) {
  if (!sys::fits_file_limit(size)) return -EFBIG;  // ulimit -f: failed, not killed
  if (sys::raw(SYS_ioctl, dst, FICLONE, src) == 0) return 0;
  int64_t off = 0;
  while ((uint64_t)off < size) {
    long data = sys::raw(SYS_lseek, src, off, SEEK_DATA);
    if (data == -ENXIO) break;
    if (data < 0) data = off;  // no SEEK_DATA: all of it is data
    long hole = sys::raw(SYS_lseek, src, data, SEEK_HOLE);
    if (hole < 0) hole = (long)size;
    int64_t in = data, out = data;
    while (in < hole) {
      long n = sys::raw(SYS_copy_file_range, src, (long)&in, dst, (long)&out, hole - in, 0);
      if (n == 0) break;
      if (n < 0) {
        if (n != -EXDEV && n != -ENOSYS && n != -EINVAL && n != -EOPNOTSUPP) return n;
        char buf[65536];
        long r = sys::raw(SYS_pread64, src, (long)buf, sizeof buf < (size_t)(hole - in) ? sizeof buf : hole - in, in);
        if (r <= 0) return r < 0 ? r : -EIO;
        for (long w = 0; w < r;) {
          long x = sys::raw(SYS_pwrite64, dst, (long)(buf + w), r - w, out + w);
          if (x < 0) return x;
          w += x;
        }
        in += r;
        out += r;
      }
    }
    off = hole;
  }
  return sys::raw(SYS_ftruncate, dst, (long)size);
}

long copy_xattrs(int src, int dst) {
  char names[8192];
  long n = sys::raw(SYS_flistxattr, src, (long)names, sizeof names);
  if (n <= 0) return 0;
  for (long i = 0; i < n;) {
    const char* name = names + i;
    char value[8192];
    long vl = sys::raw(SYS_fgetxattr, src, (long)name, (long)value, sizeof value);
    if (vl >= 0) {
      long r = sys::raw(SYS_fsetxattr, dst, (long)name, (long)value, vl, 0);
      if (r < 0 && r != -EPERM && r != -ENOTSUP && r != -EOPNOTSUPP) return r;
    }
    i += strlen(name) + 1;
  }
  return 0;
}

// Puts the file behind fd `tmp` at parentfd/name, replacing what is there.
long link_over(int tmp, int parentfd, const char* name) {
  char src[32];
  proc_fd_path(tmp, src);
  char tn[64];
  temp_name(tn, sizeof tn);
  long r = sys::raw(SYS_linkat, AT_FDCWD, (long)src, parentfd, (long)tn, AT_SYMLINK_FOLLOW);
  if (r < 0) return r;
  r = sys::raw(SYS_renameat, parentfd, (long)tn, parentfd, (long)name);
  if (r < 0) sys::raw(SYS_unlinkat, parentfd, (long)tn, 0);
  return r;
}

}  // namespace

namespace {

// Maps a `shared` file read-only; false when it is missing or not one.
bool map_set(const char* path) {
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  if (sys::raw(SYS_fstat, fd, (long)&st) == 0 && (size_t)st.st_size >= sizeof(SharedSet)) {
    long p = sys::raw(SYS_mmap, 0, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (p > 0 || p < -4096) {
      auto* s = reinterpret_cast<const SharedSet*>(p);
      if (shared_valid(s, st.st_size)) {
        g_cow.set = s;
        g_cow.set_len = st.st_size;
      }
    }
  }
  sys::raw(SYS_close, fd);
  return g_cow.set != nullptr;
}

}  // namespace

void cow_init() {
  g_cow.note_salt = ++g_session.cow_inits * 0x9E3779B97F4A7C15ull;
  const char* side = getenv("COWROOT_COW");
  if (side && *side == '/' && copy_str(g_cow.sidecar, sizeof g_cow.sidecar, side)) {
    PathBuf path;
    size_t l = strlen(side);
    memcpy(path, side, l);
    memcpy(path + l, "/shared", 8);
    map_set(path);
    // The clone is the sidecar's name without ".cowroot".
    if (l > 8 && strcmp(side + l - 8, ".cowroot") == 0 && l - 8 < sizeof g_cow.clone_root) {
      memcpy(g_cow.clone_root, side, l - 8);
      g_cow.clone_root[l - 8] = 0;
      g_cow.clone_root_len = l - 8;
    }
    // A clone's record damaged or removed behind the launcher's back (it
    // refuses such a clone): an inode of more than one name may be the
    // base's, and is taken as shared. Writing through to the base is what
    // must never happen; a link the program made itself loses its link
    // semantics on a write instead.
    g_cow.damaged = !g_cow.set && g_cow.clone_root_len;
    g_cow.active = g_cow.set != nullptr || g_cow.damaged;
  }
  const char* dir = getenv("COWROOT_COW_DIR");
  if (dir && *dir == '/' && copy_str(g_cow.dir, sizeof g_cow.dir, dir)) {
    g_cow.dir_len = strlen(g_cow.dir);
    while (g_cow.dir_len > 1 && g_cow.dir[g_cow.dir_len - 1] == '/') g_cow.dir[--g_cow.dir_len] = 0;
    g_cow.active = true;
    // cow-shell's record of what was shared at the start (cow_scan): names
    // in it are relative to DIR.
    const char* set = getenv("COWROOT_COW_SET");
    if (!g_cow.set && set && *set == '/' && copy_str(g_cow.cow_set_path, sizeof g_cow.cow_set_path, set) &&
        map_set(set)) {
      memcpy(g_cow.clone_root, g_cow.dir, g_cow.dir_len + 1);
      g_cow.clone_root_len = g_cow.dir_len;
    }
  }
}

namespace {

// Regular files share content; any non-directory shares metadata.
bool may_carry(const struct statx& sx, CowWhat what) {
  if (S_ISDIR(sx.stx_mode)) return false;
  return what == CowWhat::kMeta || S_ISREG(sx.stx_mode);
}

}  // namespace

bool cow_shared(const struct statx& sx, const char* host, CowWhat what) {
  if (!g_cow.active || !may_carry(sx, what)) return false;
  if (g_cow.set) {
    if (makedev(sx.stx_dev_major, sx.stx_dev_minor) != g_cow.set->dev) return false;
    if (find_slot(sx.stx_ino)) return true;
  }
  if (g_cow.damaged)
    return sx.stx_nlink > 1 && host && strncmp(host, g_cow.clone_root, g_cow.clone_root_len) == 0 &&
           host[g_cow.clone_root_len] == '/';
  if (g_cow.dir_len && !g_cow.set && S_ISREG(sx.stx_mode) && sx.stx_nlink > 1 && host && host[0] == '/') {
    size_t l = g_cow.dir_len;
    return strncmp(host, g_cow.dir, l) == 0 && (host[l] == '/' || l == 1);
  }
  return false;
}

namespace {

// The permission bits a process sees on the base's inode, and the disk
// bits a private copy gets from them (never setuid/setgid/sticky or
// world-writable, always usable by the real owner).
mode_t apparent_perm(const struct statx& sx) {
  Meta real, entry;
  real.mode = sx.stx_mode;
  if (sx.stx_mask & STATX_BTIME) real.birth = {sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec};
  bool has_entry = g_state.lookup(Key{makedev(sx.stx_dev_major, sx.stx_dev_minor), sx.stx_ino}, &entry) &&
                   !entry_stale(entry, real);
  return (has_entry ? entry.mode : sx.stx_mode) & 07777;
}

mode_t private_disk_perm(mode_t perm) { return (perm & 0775) | 0600 | ((perm & 0111) ? 0100 : 0); }

// The fake entry of the base's inode, moved to the clone's new inode `nx`.
// `disk` is the new inode's disk permission bits.
long move_entry(const struct statx& sx, const struct statx& nx, mode_t disk) {
  Key old_key{makedev(sx.stx_dev_major, sx.stx_dev_minor), sx.stx_ino};
  Meta real;
  real.mode = sx.stx_mode;
  real.uid = sx.stx_uid;
  real.gid = sx.stx_gid;
  if (sx.stx_mask & STATX_BTIME) real.birth = {sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec};
  Meta entry;
  bool has_entry = g_state.lookup(old_key, &entry) && !entry_stale(entry, real);
  if (!has_entry && disk == (sx.stx_mode & 07777)) return 0;
  Meta m = has_entry ? entry : real;
  if (!has_entry && !g_session.unknown_real) m.uid = m.gid = 0;
  if (!has_entry) m.mode = sx.stx_mode;
  m.birth = (nx.stx_mask & STATX_BTIME) ? Birth{nx.stx_btime.tv_sec, nx.stx_btime.tv_nsec} : Birth{};
  return g_state.put(Key{makedev(nx.stx_dev_major, nx.stx_dev_minor), nx.stx_ino}, m);
}

// A symlink, fifo, socket or (real) device node shared with the base: a new
// one of the same kind under a temporary name, with the same times and the
// fake entry, renamed over the name.
int break_special(int pfd, const char* name, const char* host, const struct statx& sx) {
  char tn[64];
  temp_name(tn, sizeof tn);
  long r;
  mode_t disk = S_ISLNK(sx.stx_mode) ? 0777 : private_disk_perm(apparent_perm(sx));
  if (S_ISLNK(sx.stx_mode)) {
    char target[4097];
    long n = sys::raw(SYS_readlinkat, pfd, (long)name, (long)target, sizeof target - 1);
    if (n < 0) return (int)n;
    target[n] = 0;
    r = sys::raw(SYS_symlinkat, (long)target, pfd, (long)tn);
  } else {
    r = sys::raw(SYS_mknodat, pfd, (long)tn, (sx.stx_mode & S_IFMT) | disk,
                 makedev(sx.stx_rdev_major, sx.stx_rdev_minor));
    if (r == 0) r = sys::raw(SYS_fchmodat, pfd, (long)tn, disk);  // past the umask
  }
  if (r < 0) return (int)r;
  struct timespec ts[2] = {{sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec}, {sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec}};
  r = sys::raw(SYS_utimensat, pfd, (long)tn, (long)ts, AT_SYMLINK_NOFOLLOW);
  struct statx nx;
  if (!r) r = sys::raw(SYS_statx, pfd, (long)tn, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, (long)&nx);
  if (!r) r = move_entry(sx, nx, disk);
  if (!r) r = sys::raw(SYS_renameat, pfd, (long)tn, pfd, (long)name);
  if (r < 0) {
    sys::raw(SYS_unlinkat, pfd, (long)tn, 0);
    return (int)r;
  }
  cow_note(AT_FDCWD, host);
  return 0;
}

}  // namespace

int cow_break(const char* host, const struct statx& sx) {
  // The parent directory and the last name.
  PathBuf parent;
  const char* slash = strrchr(host, '/');
  if (!slash) return -EINVAL;
  size_t pl = slash == host ? 1 : (size_t)(slash - host);
  if (pl + 1 > sizeof parent) return -ENAMETOOLONG;
  memcpy(parent, host, pl);
  parent[pl] = 0;
  const char* name = slash + 1;
  long pfd = sys::raw(SYS_openat, AT_FDCWD, (long)parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) return (int)pfd;
  if (!S_ISREG(sx.stx_mode)) {
    int e = break_special((int)pfd, name, host, sx);
    sys::raw(SYS_close, pfd);
    return e;
  }
  long src = sys::raw(SYS_openat, pfd, (long)name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0) {
    sys::raw(SYS_close, pfd);
    return (int)src;
  }
  long tmp = sys::raw(SYS_openat, pfd, (long)".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  long r = tmp < 0 ? tmp : 0;
  // The copy gets a safe disk mode; the entry (fake owner, mode, xattrs)
  // moves to the new inode.
  mode_t disk = private_disk_perm(apparent_perm(sx));
  if (!r) r = copy_content((int)src, (int)tmp, sx.stx_size);
  if (!r) r = copy_xattrs((int)src, (int)tmp);
  if (!r) r = sys::raw(SYS_fchmod, tmp, disk);
  if (!r) {
    struct timespec ts[2] = {{sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec}, {sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec}};
    r = sys::raw(SYS_utimensat, tmp, 0, (long)ts, 0);
  }
  struct statx nx;
  if (!r) r = sys::raw(SYS_statx, tmp, (long)"", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, (long)&nx);
  if (!r) r = move_entry(sx, nx, disk);
  if (!r) r = link_over((int)tmp, (int)pfd, name);
  if (!r) cow_note(AT_FDCWD, host);
  if (!r && g_cow.set) {
    // The other names the inode had in the base (perl, perl5.36.0) follow.
    each_alias(sx.stx_ino, [&](char* full) {
      if (strcmp(full, host) == 0) return;
      char* s2 = strrchr(full, '/');
      *s2 = 0;
      long afd = sys::raw(SYS_openat, AT_FDCWD, (long)full, O_PATH | O_DIRECTORY | O_CLOEXEC);
      *s2 = '/';
      if (afd < 0) return;
      link_over((int)tmp, (int)afd, s2 + 1);
      sys::raw(SYS_close, afd);
      cow_note(AT_FDCWD, full);
    });
  }
  if (tmp >= 0) sys::raw(SYS_close, tmp);
  sys::raw(SYS_close, src);
  sys::raw(SYS_close, pfd);
  return (int)r;
}

void cow_note(int dirfd, const char* path) {
  if (!g_cow.sidecar[0] || !g_cow.clone_root_len || !path) return;
  PathBuf full;
  size_t fl = 0;
  if (path[0] != '/') {
    long n;
    if (dirfd == AT_FDCWD) {
      n = sys::raw(SYS_getcwd, (long)full, sizeof full - 2);
      if (n > 0) n = (long)strlen(full);
    } else {
      char link[32];
      proc_fd_path(dirfd, link);
      n = sys::raw(SYS_readlinkat, AT_FDCWD, (long)link, (long)full, sizeof full - 2);
    }
    if (n <= 0) return;
    fl = (size_t)n;
    if (full[fl - 1] != '/') full[fl++] = '/';
  }
  size_t pl = strlen(path);
  if (fl + pl + 2 > sizeof full) return;
  memcpy(full + fl, path, pl + 1);
  fl += pl;
  size_t rl = g_cow.clone_root_len;
  if (strncmp(full, g_cow.clone_root, rl) != 0 || (full[rl] != '/' && full[rl] != 0)) return;
  while (fl > rl + 1 && full[fl - 1] == '/') full[--fl] = 0;
  full[fl++] = '\n';
  const char* rel = full[rl] ? full + rl + 1 : "\n";
  // A name this process has journaled already needs no second line: the
  // journal only grows while a session holds the clone (reset refuses
  // then), so what was written stays written. One slot per hash bucket.
  // Salted per configuration: the fixture binds the core to one clone after
  // another in one process.
  uint64_t h = fnv1a(rel, full + fl - rel, kFnvSeed ^ g_cow.note_salt) | 1;  // 0 marks an empty slot
  static constinit uint64_t noted[512] = {};
  uint64_t* slot = &noted[(h >> 7) & 511];
  if (__atomic_load_n(slot, __ATOMIC_RELAXED) == h) return;
  PathBuf jp;
  size_t sl = strlen(g_cow.sidecar);
  if (sl + 9 > sizeof jp) return;
  memcpy(jp, g_cow.sidecar, sl);
  memcpy(jp + sl, "/journal", 9);
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)jp, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  // Past `ulimit -f` the line is left out rather than the program killed:
  // reset then sees the change by its directory and re-clones.
  struct stat jst;
  if (uint64_t limit = sys::file_limit(); limit != UINT64_MAX && sys::raw(SYS_fstat, fd, (long)&jst) == 0 &&
                                          (uint64_t)jst.st_size + (uint64_t)(full + fl - rel) > limit) {
    sys::raw(SYS_close, fd);
    return;
  }
  if (sys::raw(SYS_write, fd, (long)rel, (long)(full + fl - rel)) == (long)(full + fl - rel))
    __atomic_store_n(slot, h, __ATOMIC_RELAXED);
  sys::raw(SYS_close, fd);
}

uint32_t cow_nlink(uint64_t dev, uint64_t ino, uint32_t nlink) {
  const SharedSet* set = g_cow.set;
  if (!set || nlink <= 1 || dev != set->dev || g_cow.dir_len) return nlink;
  const SharedSlot* slot = find_slot(ino);
  if (!slot) return nlink;
  if (!slot->names) return 1;  // a shared inode gains no name in the clone: link() breaks it first
  uint32_t count = 0;
  each_alias(ino, [&](char*) { count++; });
  return count ? count : 1;
}

bool cow_may_share(const struct statx& sx, CowWhat what) {
  if (!g_cow.active || !may_carry(sx, what)) return false;
  // The shared test by inode needs no name; the link-count rule and the
  // break need the file's host path.
  if (g_cow.set) return makedev(sx.stx_dev_major, sx.stx_dev_minor) == g_cow.set->dev && find_slot(sx.stx_ino);
  return (g_cow.damaged || S_ISREG(sx.stx_mode)) && sx.stx_nlink > 1;
}

namespace {

// A path that reaches its file through a descriptor, not a name: after a
// break it still holds the base's inode.
bool through_descriptor(const char* path) {
  return !*path || (strncmp(path, "/proc/", 6) == 0 && strchr(path + 6, '/'));
}

}  // namespace

namespace {

int prepare(int* dirfd, const char** path, bool follow, CowWhat what, char* buf, size_t n, bool may_break) {
  const char* p = *path;
  if (!g_cow.active || !p) return 0;
  // A /proc magic link is not the file: the write goes where it points.
  if (through_descriptor(p)) follow = true;
  struct statx sx;
  long r = *p ? sys::raw(SYS_statx, *dirfd, (long)p, follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME,
                         (long)&sx)
              : sys::raw(SYS_statx, *dirfd, (long)"", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, (long)&sx);
  if (r < 0 || !cow_may_share(sx, what)) return 0;  // nothing to protect: let the call say what is wrong
  long fd = *p ? sys::raw(SYS_openat, *dirfd, (long)p, O_PATH | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)) : *dirfd;
  if (fd < 0) return 0;
  int e = cow_prepare_fd((int)fd, buf, n, what, may_break);
  if (*p) sys::raw(SYS_close, fd);
  if (e < 0) return e;
  if (e == 1) {
    // Does the name reach the copy now? Not when it goes through a
    // descriptor (AT_EMPTY_PATH, /proc/self/fd/N, /dev/fd/N, /dev/stdout…),
    // which still holds the base's inode: then the write goes to the copy
    // by its name.
    struct statx now;
    bool same = !*p || sys::raw(SYS_statx, *dirfd, (long)p, follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX_INO, (long)&now) < 0 ||
                now.stx_ino == sx.stx_ino;
    if (same) {
      *dirfd = AT_FDCWD;
      *path = buf;
    }
  }
  return 0;
}

}  // namespace

int cow_prepare(int* dirfd, const char** path, bool follow, CowWhat what, char* buf, size_t n) {
  return prepare(dirfd, path, follow, what, buf, n, true);
}

int prepare_write(int* dirfd, const char** path, int* flags, bool follow, CowWhat what, PathBuf& copy) {
  if (!g_cow.active) return 0;
  int e = cow_prepare(dirfd, path, follow && !g_root.active, what, copy, sizeof copy);
  if (e == 0 && *path == copy && flags) *flags = (*flags & ~AT_EMPTY_PATH) | AT_SYMLINK_NOFOLLOW;
  return e;
}

int follow_copy(int* dirfd, const char** path, int* flags, PathBuf& copy) {
  if (!g_cow.active || !*path || !through_descriptor(*path)) return 0;
  int e = prepare(dirfd, path, true, CowWhat::kMeta, copy, sizeof copy, false);
  if (e == 0 && *path == copy && flags) *flags = (*flags & ~AT_EMPTY_PATH) | AT_SYMLINK_NOFOLLOW;
  return e;
}

int cow_prepare_fd(int fd, char* path, size_t pn, CowWhat what, bool may_break) {
  if (!g_cow.active) return 0;
  struct statx sx;
  if (sys::raw(SYS_statx, fd, (long)"", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, (long)&sx) < 0) return 0;
  if (!may_carry(sx, what)) return 0;
  char link[32];
  PathBuf host;
  proc_fd_path(fd, link);
  long n = sys::raw(SYS_readlinkat, AT_FDCWD, (long)link, (long)host, sizeof host - 1);
  if (n <= 0) return 0;
  host[n] = 0;
  if (host[0] != '/' || !cow_shared(sx, host, what)) return 0;
  // A descriptor whose file broke already: its name, replaced by the copy,
  // reads "NAME (deleted)". The copy is where the operation goes.
  if (n > 10 && strcmp(host + n - 10, " (deleted)") == 0) {
    n -= 10;
    host[n] = 0;
    struct statx cx;
    if (sys::raw(SYS_statx, AT_FDCWD, (long)host, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, (long)&cx) < 0 ||
        cx.stx_ino == sx.stx_ino)
      return -ENOENT;  // gone, or the base's inode again under that name: nothing safe to write
    if (cow_shared(cx, host, what)) return -ENOENT;
    if (path && pn > (size_t)n) memcpy(path, host, n + 1);
    return 1;
  }
  if (!may_break) return 0;
  int e = cow_break(host, sx);
  if (e < 0) return e;
  if (path && pn > (size_t)n) memcpy(path, host, n + 1);
  return 1;
}

}  // namespace cr
