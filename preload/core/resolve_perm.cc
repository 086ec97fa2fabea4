// What the permission checks need of a resolved name (resolve.h): search
// permission along a path outside a root, where no walk of ours looks at
// the directories, and the directory that holds a name's last component.
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>

#include "perm.h"
#include "resolve.h"
#include "resolve_impl.h"
#include "sys.h"

namespace cr {

namespace {

constexpr unsigned kMask = STATX_BASIC_STATS | STATX_BTIME;

Key key_from(const struct statx& x) { return {makedev(x.stx_dev_major, x.stx_dev_minor), x.stx_ino}; }

Meta real_from(const struct statx& x) {
  Meta m;
  m.mode = x.stx_mode;
  m.uid = x.stx_uid;
  m.gid = x.stx_gid;
  if (x.stx_mask & STATX_BTIME) m.birth = {x.stx_btime.tv_sec, x.stx_btime.tv_nsec};
  return m;
}

bool under(const char* path, const char* prefix) {
  size_t l = strlen(prefix);
  return strncmp(path, prefix, l) == 0 && (path[l] == 0 || path[l] == '/');
}

}  // namespace

namespace walker {

// Outside a root the kernel walks the host's names as the real user, who
// may search every directory the session made: search permission is
// checked here against the fake view of each directory the name goes
// through, as stat() reaches them (the directories inside a symlink's
// target are not looked at). /dev, /proc and /sys keep the kernel's rules.
// The directory holding the last component is reported in `out`.
int host_search(int dirfd, const char* path, const Cred& c, Resolved* out) {
  if (path[0] == '/')
    for (const char* b : {"/dev", "/proc", "/sys"})
      if (under(path, b)) {
        out->passthrough = true;
        return 0;
      }
  bool search = !searches_freely(c);
  PathBuf part;
  size_t pl = strlen(path);
  if (pl >= sizeof part) return 0;  // the kernel's ENAMETOOLONG
  memcpy(part, path, pl + 1);
  size_t end = pl;
  while (end > 1 && part[end - 1] == '/') end--;
  size_t lastc = end;
  while (lastc > 0 && part[lastc - 1] != '/') lastc--;
  struct statx sx;
  constexpr unsigned mask = kMask;
  long r = path[0] == '/'        ? sys::raw(SYS_statx, AT_FDCWD, (long)"/", 0, mask, (long)&sx)
           : dirfd == AT_FDCWD ? sys::raw(SYS_statx, AT_FDCWD, (long)".", 0, mask, (long)&sx)
                                 : sys::raw(SYS_statx, dirfd, (long)"", AT_EMPTY_PATH, mask, (long)&sx);
  if (r < 0 || !S_ISDIR(sx.stx_mode)) return 0;
  Key dk = key_from(sx);
  Meta dr = real_from(sx);
  for (size_t i = 1; i < lastc; i++) {
    if (part[i] != '/' || part[i - 1] == '/') continue;
    if (search && may(view_of(dk, dr), kMayExec, c)) return -EACCES;
    part[i] = 0;
    r = sys::raw(SYS_statx, dirfd, (long)part, 0, mask, (long)&sx);
    part[i] = '/';
    if (r < 0 || !S_ISDIR(sx.stx_mode)) return 0;  // the kernel's error, on the call itself
    dk = key_from(sx);
    dr = real_from(sx);
  }
  if (search && may(view_of(dk, dr), kMayExec, c)) return -EACCES;
  out->parent_known = true;
  out->pkey = dk;
  out->preal = dr;
  return 0;
}

}  // namespace walker

int resolved_parent(const Resolved& r, Key* key, Meta* real) {
  if (r.parent_known) {
    *key = r.pkey;
    *real = r.preal;
    return 0;
  }
  const char* p = r.path;
  size_t end = strlen(p);
  while (end > 1 && p[end - 1] == '/') end--;
  size_t lc = end;
  while (lc > 0 && p[lc - 1] != '/') lc--;
  constexpr unsigned mask = kMask;
  struct statx sx;
  long rc;
  if (lc > 0) {
    PathBuf d;
    size_t dl = lc - 1;
    while (dl > 1 && p[dl - 1] == '/') dl--;
    if (dl == 0) dl = 1;  // "/name": the directory is "/"
    memcpy(d, p, dl);
    d[dl] = 0;
    rc = sys::raw(SYS_statx, r.dirfd, (long)d, 0, mask, (long)&sx);
  } else if (r.dirfd != AT_FDCWD) {
    rc = sys::raw(SYS_statx, r.dirfd, (long)"", AT_EMPTY_PATH, mask, (long)&sx);
  } else {
    return walker::cwd_dir(key, real);
  }
  if (rc < 0) return (int)rc;
  *key = key_from(sx);
  *real = real_from(sx);
  return 0;
}

}  // namespace cr
