// Extended attributes: security.* and trusted.* are faked in the state;
// the other namespaces are real, faked where the file system refuses them.
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>

#include "ops.h"
#include "ops_impl.h"

namespace cr::ops {

namespace {

// The file an xattr call is about: a path (followed or not) or a descriptor.
// The path forms have no directory descriptor in the kernel: their dirfd is
// AT_FDCWD.
struct Target {
  int fd;            // when path is null
  const char* path;  // otherwise
  bool follow;
};

Target target_of(int dirfd, const char* path, int flags) {
  if (by_fd(path, flags)) return {dirfd, nullptr, true};
  return {dirfd, path, !(flags & AT_SYMLINK_NOFOLLOW)};
}

bool faked_xattr_name(const char* name) {
  return strncmp(name, "security.", 9) == 0 || strncmp(name, "trusted.", 8) == 0;
}

long target_statx(const Target& t, struct statx* sx) {
  if (!t.path) return real_statx(t.fd, "", AT_EMPTY_PATH, sx);
  return real_statx(AT_FDCWD, t.path, t.follow ? 0 : AT_SYMLINK_NOFOLLOW, sx);
}

bool prefixed(const char* name, const char* p) { return strncmp(name, p, strlen(p)) == 0; }

// The kernel's xattr_permission() and the capability module's rules, against
// the fake view of the file: trusted.* takes CAP_SYS_ADMIN; user.* exists
// only on regular files and directories, is read and written with read and
// write permission, and a sticky directory's only by its owner;
// security.capability is set or removed with CAP_SETFCAP by the owner,
// other security.* names with CAP_SYS_ADMIN; the access ACL by the owner.
// 0 or -errno.
int xattr_permission(const Target& t, const char* name, bool write, bool passthrough) {
  Cred c = fs_cred();
  bool trusted = prefixed(name, "trusted."), user = prefixed(name, "user."), security = prefixed(name, "security."),
       system = prefixed(name, "system.");
  if (trusted) return (c.caps & cap_bit(CAP_SYS_ADMIN)) ? 0 : write ? -EPERM : -ENODATA;
  if (!write && (security || system)) return 0;
  // Root's fast path: nothing left that it could be refused.
  if (dac_free(c) && (c.caps & cap_bit(CAP_FOWNER)) && (c.caps & cap_bit(CAP_SYS_ADMIN)) &&
      (c.caps & cap_bit(CAP_SETFCAP)))
    return 0;
  if (passthrough) return 0;
  struct statx sx;
  if (target_statx(t, &sx) < 0) return 0;  // the real call says why
  Meta m = view(sx);
  if (security) {
    if (strcmp(name, "security.capability") == 0)
      return owner_or_capable(m, c) && (c.caps & cap_bit(CAP_SETFCAP)) ? 0 : -EPERM;
    return (c.caps & cap_bit(CAP_SYS_ADMIN)) ? 0 : -EPERM;
  }
  if (system) return owner_or_capable(m, c) ? 0 : -EPERM;
  if (user) {
    if (!S_ISREG(m.mode) && !S_ISDIR(m.mode)) return write ? -EPERM : -ENODATA;
    if (write && S_ISDIR(m.mode) && (m.mode & S_ISVTX) && !owner_or_capable(m, c)) return -EPERM;
  }
  if (real_checks_only(real_meta(sx))) return 0;
  return may(m, write ? kMayWrite : kMayRead, c);
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
  if (has_entry || disk != perm || S_ISDIR(sx.stx_mode)) {  // (a directory's mode: see chmod_at)
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

// An access ACL that says no more than the mode (its owner's, group's and
// others' entries only): the kernel sets the mode from it and keeps no
// attribute (posix_acl_equiv_mode). The value is the kernel's xattr form: a
// 4-byte version, then 8-byte entries (tag, perm, id).
bool acl_is_mode(const void* value, size_t size) {
  if (size < 4 || (size - 4) % 8) return false;
  const auto* b = static_cast<const unsigned char*>(value);
  for (size_t at = 4; at < size; at += 8) {
    unsigned tag = b[at] | (unsigned)b[at + 1] << 8;
    if (tag != 0x01 && tag != 0x04 && tag != 0x20) return false;  // ACL_USER_OBJ, ACL_GROUP_OBJ, ACL_OTHER
  }
  return true;
}

// The state keeps a copy of a file's ACLs written for real (or removes it),
// for the permission checks (perm.cc: named users and groups) and for the
// files made in a directory with a default ACL. Only what succeeded, and
// only what the kernel keeps: an access ACL equal to the mode removes it.
void acl_noted(const Target& t, const char* name, const void* value, size_t size) {
  if (strcmp(name, kAclAccess) != 0 && strcmp(name, kAclDefault) != 0) return;
  if (value && strcmp(name, kAclAccess) == 0 && acl_is_mode(value, size)) value = nullptr, size = 0;
  struct statx sx;
  if (target_statx(t, &sx) < 0) return;
  bool has_entry;
  Meta cur = view(sx, &has_entry);
  if (!value && (!has_entry || !cur.xattrs)) return;
  g_state.xattr_set(key_of(sx), cur, name, value, size, 0);
}

}  // namespace

// Resolves a path target of an xattr call.
#define RESOLVE_TARGET(t)                                                                \
  Resolved rt_;                                                                          \
  rt_.passthrough = false;                                                               \
  if (t.path) {                                                                          \
    if (int e_ = resolve(t.fd, t.path, t.follow ? kFollow : 0, &rt_)) return fail(e_);    \
    t.path = rt_.path;                                                                   \
  }

// The copy-on-write step before a real xattr write. After a break of a
// descriptor's file, the target becomes the copy's path (in `broke`).
static int cow_prepare_target(Target* t, PathBuf& broke) {
  int d = t->path ? AT_FDCWD : t->fd;
  const char* p = t->path ? t->path : "";
  int flags = t->path ? (t->follow ? 0 : AT_SYMLINK_NOFOLLOW) : AT_EMPTY_PATH;
  if (int e = prepare_write(&d, &p, &flags, t->follow, CowWhat::kMeta, broke)) return e;
  if (p == broke) {
    t->path = broke;
    t->follow = false;
  }
  return 0;
}

ssize_t getxattr_at(int dirfd, const char* path, int flags, const char* name, void* value, size_t size) {
  Target t = target_of(dirfd, path, flags);
  RESOLVE_TARGET(t);
  if (int e = xattr_permission(t, name, false, rt_.passthrough)) return fail(e);
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

int setxattr_at(int dirfd, const char* path, int tflags, const char* name, const void* value, size_t size,
                int flags) {
  Target t = target_of(dirfd, path, tflags);
  RESOLVE_TARGET(t);
  if (int e = xattr_permission(t, name, true, rt_.passthrough)) return fail(e);
  if (!faked_xattr_name(name)) {
    PathBuf broke;
    if (int e = cow_prepare_target(&t, broke)) return fail(e);
    long r = t.path ? sys::raw(t.follow ? SYS_setxattr : SYS_lsetxattr, (long)t.path, (long)name, (long)value,
                               size, flags)
                    : sys::raw(SYS_fsetxattr, t.fd, (long)name, (long)value, size, flags);
    if (r == 0) cow_note(t.path ? AT_FDCWD : t.fd, t.path ? t.path : "");  // for a clone's reset
    if (r == 0) acl_noted(t, name, value ? value : "", size);
    if (r == 0 && strcmp(name, kAclAccess) == 0) return acl_changed_mode(t);
    // user.* refused with EPERM is the kernel's rule (a fifo, a symlink), not a file system without them.
    bool user_rule = r == -EPERM && strncmp(name, "user.", 5) == 0;
    if (r == 0 || user_rule || (r != -EPERM && r != -ENOTSUP && r != -EOPNOTSUPP)) return r < 0 ? fail(r) : 0;
  }
  struct statx sx;
  long r = target_statx(t, &sx);
  if (r < 0) return fail(r);
  Meta cur = view(sx);
  int e = g_state.xattr_set(key_of(sx), cur, name, value ? value : "", size, flags);
  return e ? fail(e) : 0;
}

int removexattr_at(int dirfd, const char* path, int flags, const char* name) {
  Target t = target_of(dirfd, path, flags);
  RESOLVE_TARGET(t);
  if (int e = xattr_permission(t, name, true, rt_.passthrough)) return fail(e);
  if (!faked_xattr_name(name)) {
    PathBuf broke;
    if (int e = cow_prepare_target(&t, broke)) return fail(e);
    long r = t.path ? sys::raw(t.follow ? SYS_removexattr : SYS_lremovexattr, (long)t.path, (long)name)
                    : sys::raw(SYS_fremovexattr, t.fd, (long)name);
    if (r == 0) cow_note(t.path ? AT_FDCWD : t.fd, t.path ? t.path : "");
    if (r == 0) acl_noted(t, name, nullptr, 0);
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

ssize_t listxattr_at(int dirfd, const char* path, int flags, char* list, size_t size) {
  Target t = target_of(dirfd, path, flags);
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
  bool see_trusted = has_cap(CAP_SYS_ADMIN);  // the kernel lists trusted.* only to CAP_SYS_ADMIN
  g_state.xattr_names(m, [&](const char* name, uint32_t len) {
    if (!see_trusted && len >= 8 && memcmp(name, "trusted.", 8) == 0) return true;
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


}  // namespace cr::ops
