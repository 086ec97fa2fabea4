// What the core's operation files share (ops_files.cc, ops_xattr.cc,
// ops_names.cc, ops_ids.cc): the real attributes of a file, the session's
// view of them, and the first step of every path operation. Internal to
// the core: the rest of the code calls the operations in ops.h.
#pragma once
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cow.h"
#include "resolve.h"
#include "session.h"
#include "state.h"
#include "sys.h"

namespace cr::ops {

constexpr unsigned kStatxMask = STATX_BASIC_STATS | STATX_BTIME;
constexpr uint32_t kNoId = static_cast<uint32_t>(-1);

// -errno into libc's convention.
inline int fail(long r) {
  errno = static_cast<int>(-r);
  return -1;
}

// The first step of every path operation: the path as the kernel must see it.
#define RESOLVE(D, P, F)                                     \
  Resolved rs_##P;                                           \
  if (int e_ = resolve(D, P, F, &rs_##P)) return fail(e_);   \
  D = rs_##P.dirfd;                                          \
  P = rs_##P.path

// A descriptor operation, in the kernel's convention: an empty path with
// AT_EMPTY_PATH. Every core operation takes "by descriptor" this one way.
inline bool by_fd(const char* path, int flags) { return !*path && (flags & AT_EMPTY_PATH); }

// Real statx of (dirfd, path); by descriptor as above.
inline long real_statx(int dirfd, const char* path, int flags, struct statx* sx) {
  flags &= AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE;
  return sys::raw(SYS_statx, dirfd, (long)path, flags, kStatxMask, (long)sx);
}

inline Key key_of(const struct statx& x) { return {makedev(x.stx_dev_major, x.stx_dev_minor), x.stx_ino}; }

inline Meta real_meta(const struct statx& x) {
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
inline Meta view(const struct statx& x, bool* has_entry = nullptr) {
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
inline mode_t disk_perm(mode_t perm, bool dir) {
  mode_t m = (perm & 0775) | (dir ? 0700 : 0600);
  if (!dir && (perm & 0111)) m |= 0100;
  return m;
}

// Records the fake permissions and/or owner of a file just created.
int note_created(int dirfd, const char* path, int stat_flags, bool set_perm, mode_t perm);

}  // namespace cr::ops
