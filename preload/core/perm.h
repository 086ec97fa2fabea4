// The kernel's permission checks, made against the fake identity: a file's
// fake owner, group and mode (its entry, or its real attributes with root
// as owner) and the process's fake credentials and capabilities. The real
// disk keeps the safe modes of docs/design.md whatever the fake ones say,
// so these checks are emulated, never delegated to the kernel.
//
// Fake uid 0 passes them as the kernel's root does: through CAP_DAC_OVERRIDE,
// CAP_DAC_READ_SEARCH and CAP_FOWNER in its fake effective set. A process
// whose set holds CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (root, unless it
// dropped them) takes no path of this file but the checks that bind root
// too (an execute bit for exec, the sticky bit without CAP_FOWNER): that
// is the fast path, a load and a test per call. Internal to the core.
#pragma once
#include <linux/capability.h>
#include <sys/stat.h>

#include <cstdint>

#include "session.h"
#include "state.h"

namespace cr {

constexpr uint64_t kAllCaps = (uint64_t(1) << (CAP_LAST_CAP + 1)) - 1;
constexpr uint64_t cap_bit(int c) { return uint64_t(1) << c; }
constexpr uint64_t kDacCaps = cap_bit(CAP_DAC_OVERRIDE) | cap_bit(CAP_DAC_READ_SEARCH);
// What the kernel drops from the effective set when the fsuid leaves 0
// (and raises again from the permitted set when it comes back).
constexpr uint64_t kFsCaps = cap_bit(CAP_CHOWN) | cap_bit(CAP_DAC_OVERRIDE) | cap_bit(CAP_DAC_READ_SEARCH) |
                             cap_bit(CAP_FOWNER) | cap_bit(CAP_FSETID) | cap_bit(CAP_LINUX_IMMUTABLE) |
                             cap_bit(CAP_MAC_OVERRIDE) | cap_bit(CAP_MKNOD);

// The capability sets a program gets without file capabilities, for its
// effective uid: all for 0, none otherwise.
inline Caps default_caps(uint32_t euid) {
  Caps c;
  c.bset = kAllCaps;
  if (euid == 0) c.eff = c.perm = kAllCaps;
  return c;
}

inline Caps caps_now() { return g_session.caps.set ? g_session.caps : default_caps(g_session.uid.e); }

inline bool has_cap(int c) { return caps_now().eff & cap_bit(c); }

// Whom a file access is checked as.
struct Cred {
  uint32_t uid, gid;  // fsuid and fsgid, or the real ids for access(2)
  uint64_t caps;      // the effective set that applies
};

inline Cred fs_cred() { return {g_session.uid.f, g_session.gid.f, caps_now().eff}; }

// access(2) and faccessat without AT_EACCESS: the real ids, and the
// capabilities the kernel grants for them (the permitted set for real uid
// 0, none otherwise).
inline Cred real_cred() {
  return {g_session.uid.r, g_session.gid.r, g_session.uid.r == 0 ? caps_now().perm : 0};
}

// Searching every directory is free (the walk makes no check).
inline bool searches_freely(const Cred& c) { return c.caps & kDacCaps; }
// Reading and writing every file and directory is free.
inline bool dac_free(const Cred& c) { return c.caps & cap_bit(CAP_DAC_OVERRIDE); }

enum : int { kMayExec = 1, kMayWrite = 2, kMayRead = 4 };

// POSIX ACLs as the kernel stores them in system.posix_acl_access and
// system.posix_acl_default: a version, then (tag, perm, id) entries.
constexpr const char* kAclAccess = "system.posix_acl_access";
constexpr const char* kAclDefault = "system.posix_acl_default";
constexpr uint32_t kAclVersion = 2;
enum : uint16_t { kAclUserObj = 1, kAclUser = 2, kAclGroupObj = 4, kAclGroup = 8, kAclMask = 0x10, kAclOther = 0x20 };

// The fsgid or one of the supplementary groups (the kernel's in_group_p).
bool in_group(uint32_t gid, const Cred& c);

// Whether the host kernel is Linux 6.2 or later, whose writes drop setgid
// without group execute for a writer outside the file's group (earlier
// ones kept it, the mark of mandatory locking). Asked once.
bool kernel_drops_nonmember_sgid();

// generic_permission(): the owner, group or other bits of `m`, then
// CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE as the kernel applies them.
// 0 or -EACCES.
int may(const Meta& m, int mask, const Cred& c);

// inode_owner_or_capable(): the fsuid owns the file, or CAP_FOWNER.
inline bool owner_or_capable(const Meta& m, const Cred& c) {
  return c.uid == m.uid || (c.caps & cap_bit(CAP_FOWNER));
}

// Making a name in `dir`: write and search. 0 or -EACCES.
inline int may_create(const Meta& dir, const Cred& c) { return may(dir, kMayWrite | kMayExec, c); }

// Removing (or renaming away) `victim` from `dir`: write and search on the
// directory, and in a sticky one the file's or the directory's owner (or
// CAP_FOWNER). 0, -EACCES or -EPERM.
int may_delete(const Meta& dir, const Meta& victim, const Cred& c);

// fs.protected_regular and fs.protected_fifos (the kernel's
// may_create_in_sticky): an O_CREAT open of an existing regular file or
// fifo in a sticky directory that is world-writable (level 1) or
// group-writable (level 2), when neither the opener (fsuid) nor the
// directory's owner owns the file, is refused with EACCES, root included.
// The levels are the host kernel's (/proc/sys/fs), or COWROOT_PROTECTED_REGULAR
// and COWROOT_PROTECTED_FIFOS. 0 or -EACCES.
bool sticky_create_rules();  // either level above 0
int may_open_in_sticky(const Meta& dir, const Meta& file, const Cred& c);

// fs.protected_symlinks (the kernel's may_follow_link): a symlink in a
// sticky world-writable directory is followed only by its owner (fsuid),
// or when the directory's owner owns it too; root included, or EACCES.
// On when the host kernel's level is (/proc/sys/fs/protected_symlinks), or
// COWROOT_PROTECTED_SYMLINKS says so.
bool symlinks_protected();
int may_follow_link(const Meta& dir, const Meta& link, const Cred& c);

// Whether a write by `c` to a file `m` drops its setuid and setgid bits
// (setattr_should_drop_suidgid: without CAP_FSETID, setuid; setgid with
// group execute, or, from Linux 6.2 on, without it when the writer is not
// in the file's group); the mode that stays.
inline mode_t setid_after_write(const Meta& m, const Cred& c) {
  mode_t mode = m.mode;
  if (c.caps & cap_bit(CAP_FSETID)) return mode;
  if (!S_ISREG(mode)) return mode;
  mode &= ~S_ISUID;
  if ((mode & S_ISGID) && ((mode & S_IXGRP) || (!in_group(m.gid, c) && kernel_drops_nonmember_sgid())))
    mode &= ~S_ISGID;
  return mode;
}

// The fake view of a file from its key and real attributes: its entry, or
// the real attributes with root as owner (unless -u).
inline Meta view_of(const Key& k, const Meta& real, bool* has_entry = nullptr) {
  Meta e;
  if (g_state.lookup(k, &e) && !entry_stale(e, real)) {
    if (has_entry) *has_entry = true;
    return e;
  }
  if (has_entry) *has_entry = false;
  Meta v = real;
  if (!g_session.unknown_real) v.uid = v.gid = 0;
  return v;
}

// Files whose real permissions hold as they are: real device nodes (a
// terminal, /dev/null; faked ones are regular files on disk). Their fake
// owner is a fiction, so no fake check is made on them.
inline bool real_checks_only(const Meta& real) { return S_ISCHR(real.mode) || S_ISBLK(real.mode); }

// Who owns a new file: the fsuid, and the fsgid or, in a setgid directory,
// the directory's group (inode_init_owner). A directory made in a setgid
// directory is setgid too.
struct NewOwner {
  uint32_t uid, gid;
  bool setgid_dir;  // the parent is setgid
  Meta parent;      // when the parent has attributes of its own (a default ACL?)
  bool acl = false; // create_mode found the parent's default ACL: the file inherits it
};
inline NewOwner new_owner(const Meta* parent) {
  NewOwner o{g_session.uid.f, g_session.gid.f, false, Meta{}};
  if (parent && (parent->mode & S_ISGID)) {
    o.gid = parent->gid;
    o.setgid_dir = true;
  }
  if (parent && parent->xattrs) o.parent = *parent;
  return o;
}
// Whether a new file needs an entry for its owner at all (else it shows
// root:root, as every file without one does).
inline bool owner_entry_needed(const NewOwner& o) {
  return o.uid != 0 || o.gid != 0 || g_session.unknown_real || o.acl;
}
// The permission bits a new file starts from (posix_acl_create): the mode
// asked less the umask; or, in a directory with a default ACL, the mode
// asked masked by that ACL, the umask not applied (o.acl is then set, and
// note_created gives the file the ACL it inherits).
mode_t create_mode(mode_t mode, NewOwner& o);
// The access ACL (and, for a directory, the default ACL) a new file of
// permission bits `perm` inherits from o.parent's default ACL, into the
// state's copy of its attributes. 0 or -errno.
int inherit_acl(const Key& k, const Meta& base, mode_t perm, bool dir, const NewOwner& o);
// The permission bits a new file gets, from those asked (umask applied):
// setgid for a directory in a setgid one; a group-executable setgid file
// of a group its maker is not in loses setgid (without CAP_FSETID).
mode_t new_perm(mode_t perm, bool dir, const NewOwner& o);

// The credentials a program runs with after exec of a file whose fake view
// is `m` (bprm_fill_uid and the capability rules of capabilities(7)): a
// setuid or setgid mode changes the effective and saved ids, file
// capabilities (a faked security.capability) and uid 0 fill the sets.
// Nothing is raised under PR_SET_NO_NEW_PRIVS.
void exec_creds(const Meta& m, ExecCreds* out);
// What `fakeroot CMD` gives CMD inside a session, whoever runs it: every
// id 0 and root's capabilities (the bounding set), as fakeroot's daemon
// starts it.
void root_exec_creds(ExecCreds* out);

}  // namespace cr
