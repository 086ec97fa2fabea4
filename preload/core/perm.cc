// The kernel's permission rules against the fake identity (perm.h).
#include "perm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "ops.h"
#include "sys.h"

namespace cr {

bool in_group(uint32_t gid, const Cred& c) {
  if (gid == c.gid) return true;
  // Sorted (setgroups keeps them so): a short scan that stops early.
  for (int i = 0; i < g_session.ngroups; i++) {
    if (g_session.groups[i] == gid) return true;
    if (g_session.groups[i] > gid) break;
  }
  return false;
}

bool kernel_drops_nonmember_sgid() {
  static int v = -1;  // (a race computes it twice, the same)
  if (v < 0) {
    struct {
      char sysname[65], nodename[65], release[65], version[65], machine[65], domain[65];
    } u;
    int major = 0, minor = 0;
    if (sys::raw(SYS_uname, (long)&u) == 0) {
      const char* p = u.release;
      while (*p >= '0' && *p <= '9') major = major * 10 + (*p++ - '0');
      if (*p == '.') p++;
      while (*p >= '0' && *p <= '9') minor = minor * 10 + (*p++ - '0');
    }
    v = major > 6 || (major == 6 && minor >= 2);
  }
  return v;
}

namespace {

// posix_acl_permission() for someone who does not own the file, from the
// copy of its access ACL the state keeps (acl_noted): 1 granted, 0 not
// granted, -1 no ACL with named entries (the mode decides). The owner's,
// the mask's and the others' bits are the fake mode's: the kernel keeps
// the mode's group bits equal to the mask (chmod writes both).
int acl_check(const Meta& m, int want, const Cred& c) {
  uint32_t buf[1 + 2 * 128];
  long n = g_state.xattr_get(m, kAclAccess, buf, sizeof buf);
  if (n < 4 || (n - 4) % 8 || buf[0] != kAclVersion) return -1;
  size_t count = (n - 4) / 8;
  bool named = false;
  for (size_t i = 0; i < count; i++) {
    uint16_t tag = (uint16_t)(buf[1 + 2 * i] & 0xffff);
    named = named || tag == kAclUser || tag == kAclGroup;
  }
  if (!named) return -1;
  uint32_t mask_bits = (m.mode >> 3) & 7;
  // Named users first (the kernel's entries are sorted by tag), then the
  // owning group and named groups, any of which must grant; else others.
  for (size_t i = 0; i < count; i++) {
    uint16_t tag = (uint16_t)(buf[1 + 2 * i] & 0xffff), perm = (uint16_t)(buf[1 + 2 * i] >> 16);
    if (tag == kAclUser && buf[2 + 2 * i] == c.uid) return (perm & mask_bits & want) == (uint32_t)want;
  }
  bool found = false;
  for (size_t i = 0; i < count; i++) {
    uint16_t tag = (uint16_t)(buf[1 + 2 * i] & 0xffff), perm = (uint16_t)(buf[1 + 2 * i] >> 16);
    bool member = (tag == kAclGroupObj && in_group(m.gid, c)) || (tag == kAclGroup && in_group(buf[2 + 2 * i], c));
    if (!member) continue;
    found = true;
    if ((perm & want) == want) return (perm & mask_bits & want) == (uint32_t)want;
  }
  if (found) return 0;
  return (m.mode & 7 & want) == (uint32_t)want;
}

}  // namespace

int may(const Meta& m, int mask, const Cred& c) {
  mask &= 7;
  uint32_t bits = m.mode;
  int acl = -1;
  if (c.uid == m.uid) bits >>= 6;
  else if (m.xattrs && (acl = acl_check(m, mask, c)) >= 0) bits = acl ? 7 : 0;
  else if (in_group(m.gid, c)) bits >>= 3;
  if ((mask & ~bits & 7) == 0) return 0;
  if (S_ISDIR(m.mode)) {
    // Directories: reading and searching with CAP_DAC_READ_SEARCH,
    // everything with CAP_DAC_OVERRIDE.
    if (!(mask & kMayWrite) && (c.caps & cap_bit(CAP_DAC_READ_SEARCH))) return 0;
    return (c.caps & cap_bit(CAP_DAC_OVERRIDE)) ? 0 : -EACCES;
  }
  if (mask == kMayRead && (c.caps & cap_bit(CAP_DAC_READ_SEARCH))) return 0;
  // Execute is overridden only where some execute bit is set.
  if ((!(mask & kMayExec) || (m.mode & 0111)) && (c.caps & cap_bit(CAP_DAC_OVERRIDE))) return 0;
  return -EACCES;
}

int may_delete(const Meta& dir, const Meta& victim, const Cred& c) {
  if (int e = may(dir, kMayWrite | kMayExec, c)) return e;
  if ((dir.mode & S_ISVTX) && c.uid != victim.uid && c.uid != dir.uid && !(c.caps & cap_bit(CAP_FOWNER)))
    return -EPERM;
  return 0;
}

namespace {

// -1 until read: a level from the environment, else from the kernel.
int g_protected[3] = {-1, -1, -1};

int protected_level(int which) {
  int& v = g_protected[which];
  if (v >= 0) return v;
  static const char* const env[] = {"COWROOT_PROTECTED_REGULAR", "COWROOT_PROTECTED_FIFOS",
                                    "COWROOT_PROTECTED_SYMLINKS"};
  static const char* const file[] = {"/proc/sys/fs/protected_regular", "/proc/sys/fs/protected_fifos",
                                     "/proc/sys/fs/protected_symlinks"};
  int level = 0;
  if (const char* e = getenv(env[which]); e && *e >= '0' && *e <= '9') {
    level = *e - '0';
  } else {
    long fd = sys::raw(SYS_openat, AT_FDCWD, (long)file[which], O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char b[4] = {};
      if (sys::raw(SYS_read, fd, (long)b, sizeof b - 1) > 0 && b[0] >= '0' && b[0] <= '9') level = b[0] - '0';
      sys::raw(SYS_close, fd);
    }
  }
  v = level;
  return v;
}

}  // namespace

bool sticky_create_rules() { return protected_level(0) > 0 || protected_level(1) > 0; }

bool symlinks_protected() { return protected_level(2) > 0; }

int may_follow_link(const Meta& dir, const Meta& link, const Cred& c) {
  if (c.uid == link.uid) return 0;
  if ((dir.mode & (S_ISVTX | S_IWOTH)) != (S_ISVTX | S_IWOTH)) return 0;
  if (dir.uid == link.uid) return 0;
  return -EACCES;
}

int may_open_in_sticky(const Meta& dir, const Meta& file, const Cred& c) {
  if (!(dir.mode & S_ISVTX)) return 0;
  int level = S_ISREG(file.mode) ? protected_level(0) : S_ISFIFO(file.mode) ? protected_level(1) : 0;
  if (level == 0 || file.uid == dir.uid || file.uid == c.uid) return 0;
  if ((dir.mode & 0002) || (level >= 2 && (dir.mode & 0020))) return -EACCES;
  return 0;
}

namespace {

// The parent's default ACL, entries as in acl_check; its byte length or -1.
long default_acl(const NewOwner& o, uint32_t* buf, size_t size) {
  if (!o.parent.xattrs) return -1;
  long n = g_state.xattr_get(o.parent, kAclDefault, buf, size);
  if (n < 4 || (n - 4) % 8 || buf[0] != kAclVersion) return -1;
  return n;
}

// posix_acl_create_masq: the owner's, the group class's (the mask, or the
// owning group without one) and the others' entries masked by `mode`; the
// resulting permission bits.
mode_t acl_masq(uint32_t* buf, long n, mode_t mode) {
  size_t count = (n - 4) / 8;
  bool has_mask = false;
  for (size_t i = 0; i < count; i++) has_mask = has_mask || (buf[1 + 2 * i] & 0xffff) == kAclMask;
  mode_t out = mode & ~0777;
  for (size_t i = 0; i < count; i++) {
    uint16_t tag = (uint16_t)(buf[1 + 2 * i] & 0xffff);
    uint32_t perm = buf[1 + 2 * i] >> 16;
    int shift = tag == kAclUserObj ? 6 : tag == kAclOther ? 0
              : (tag == kAclMask || (tag == kAclGroupObj && !has_mask)) ? 3 : -1;
    if (shift < 0) continue;
    perm &= (mode >> shift) & 7;
    buf[1 + 2 * i] = (buf[1 + 2 * i] & 0xffff) | (perm << 16);
    out |= perm << shift;
  }
  return out;
}

}  // namespace

mode_t create_mode(mode_t mode, NewOwner& o) {
  uint32_t buf[1 + 2 * 128];
  long n = default_acl(o, buf, sizeof buf);
  if (n < 0) return mode & ~g_session.umask;
  o.acl = true;
  return acl_masq(buf, n, mode);
}

int inherit_acl(const Key& k, const Meta& base, mode_t perm, bool dir, const NewOwner& o) {
  uint32_t buf[1 + 2 * 128];
  long n = default_acl(o, buf, sizeof buf);
  if (n < 0) return 0;
  if (dir)
    if (int e = g_state.xattr_set(k, base, kAclDefault, buf, (size_t)n, 0)) return e;
  acl_masq(buf, n, perm);
  // A minimal ACL (owner, group, others) is the mode itself: none is kept.
  if (n == 4 + 3 * 8) return 0;
  Meta now;
  if (!g_state.lookup(k, &now)) now = base;
  return g_state.xattr_set(k, now, kAclAccess, buf, (size_t)n, 0);
}

mode_t new_perm(mode_t perm, bool dir, const NewOwner& o) {
  if (o.setgid_dir && dir) return perm | S_ISGID;
  if (!dir && (perm & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && !in_group(o.gid, fs_cred()) &&
      !has_cap(CAP_FSETID))
    perm &= ~S_ISGID;
  return perm;
}

namespace {

// security.capability of the file (struct vfs_cap_data, any revision):
// false when it has none.
bool file_caps(const Meta& m, uint64_t* perm, uint64_t* inh, bool* eff) {
  if (!m.xattrs) return false;
  uint32_t d[6] = {};
  long n = g_state.xattr_get(m, "security.capability", d, sizeof d);
  if (n < 8) return false;
  uint32_t rev = d[0] & VFS_CAP_REVISION_MASK;
  if (rev == VFS_CAP_REVISION_1) {
    *perm = d[1];
    *inh = d[2];
  } else if ((rev == VFS_CAP_REVISION_2 || rev == VFS_CAP_REVISION_3) && n >= 20) {
    *perm = d[1] | (uint64_t(d[3]) << 32);
    *inh = d[2] | (uint64_t(d[4]) << 32);
  } else {
    return false;
  }
  *eff = d[0] & VFS_CAP_FLAGS_EFFECTIVE;
  return true;
}

}  // namespace

void exec_creds(const Meta& m, ExecCreds* out) {
  const Session& s = g_session;
  Caps old = caps_now();
  out->uid = s.uid;
  out->gid = s.gid;
  uint64_t fperm = 0, finh = 0;
  bool feff = false;
  bool has_fcap = S_ISREG(m.mode) && file_caps(m, &fperm, &finh, &feff);
  bool setid_mode = (m.mode & S_ISUID) || (m.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP);
  // PR_SET_NO_NEW_PRIVS forbids every raise: the program's own (the real
  // flag of a confined process is the confinement's, set for all of them).
  bool nnp = (setid_mode || has_fcap) && ops::no_new_privs();
  if (!nnp) {
    if (m.mode & S_ISUID) out->uid.e = m.uid;
    if ((m.mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) out->gid.e = m.gid;
  }
  Caps c;
  c.set = true;
  c.inh = old.inh;
  c.bset = old.bset;
  bool effective = false;
  if (has_fcap) {
    c.perm = (fperm & old.bset) | (finh & old.inh);
    effective = feff;
  }
  // Root: the bounding set (and the inheritable one) fill the permitted
  // set, and an effective uid 0 makes it effective; a setuid-root program
  // with file capabilities gets only those.
  bool suid_root = out->uid.e == 0 && s.uid.r != 0;
  if (!(has_fcap && suid_root)) {
    if (out->uid.e == 0 || out->uid.r == 0) c.perm = old.bset | old.inh;
    if (out->uid.e == 0) effective = true;
  }
  bool setid = out->uid.e != s.uid.r || out->gid.e != s.gid.r;
  if (nnp && ((c.perm & ~old.perm) || setid)) {
    out->uid.e = s.uid.r;
    out->gid.e = s.gid.r;
    c.perm &= old.perm;
  }
  c.eff = effective ? c.perm : 0;
  out->uid.s = out->uid.f = out->uid.e;
  out->gid.s = out->gid.f = out->gid.e;
  out->caps = c;
}

void root_exec_creds(ExecCreds* out) {
  Caps old = caps_now();
  out->uid = Ids{};
  out->gid = Ids{};
  Caps c;
  c.set = true;
  c.inh = old.inh;
  c.bset = old.bset;
  c.perm = c.eff = old.bset | old.inh;
  out->caps = c;
}

}  // namespace cr
