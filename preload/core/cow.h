// Copy-on-write roots.
//
// A clone is a hard-link farm of a base: new directories, and one more name
// for every other inode. Its metadata sits beside it, in CLONE.cowroot/:
//   state/   the clone's own fake identity (a copy of the base's at clone time)
//   shared   the inodes the clone shares with its base, recorded when it was
//            made (a read-only hash set every process maps), with the names
//            an inode had in the base when it had several (perl, perl5.36.0)
//   base     the base's path, for `cowroot reset`, and the base's identity
//            when the clone was made (reset re-clones from another base)
//   dirs     the clone's directories as made or last reset (inode, times,
//            mode): what tells reset of a change behind the library's back
//   journal  the names the library changed, for reset
// Before anything writes to a shared inode, break() gives the clone a copy
// of its own under every name the inode has in the clone, keeping content,
// holes, mode, times, xattrs and fake identity. Which inodes are shared is a
// recorded fact, not a guess from the link count, so links the program
// makes between its own files keep real link semantics.
//
// `cowroot --cow DIR` (cow-shell) records at its start, as cow-shell does,
// which files under DIR have more than one link (cow_scan); without that
// record (COWROOT_COW_DIR alone) any such file is shared.
//
// This is the library's side. Making, resetting and sealing clones is the
// command line's (cli/clone/clone.h, libcowroot-clone.a).
#pragma once
#include <linux/stat.h>

#include <cstddef>
#include <cstdint>

#include "state.h"

namespace cr {

struct SharedSet;

// Small fields first, with the two paths a clone's programs write at start
// right after them (a page each; see RootConfig).
struct CowConfig {
  bool active = false;
  bool damaged = false;    // a sidecar whose `shared` could not be read: every inode of more than one name is shared
  uint64_t note_salt = 0;  // new with each cow_init: the journal's "written already" memory
  const SharedSet* set = nullptr;
  size_t set_len = 0;
  size_t clone_root_len = 0;
  size_t dir_len = 0;
  char sidecar[kPathMax] = {};  // CLONE.cowroot, when the clone has a record
  char clone_root[kPathMax] = {};  // host path of the clone (names in `shared` are relative to it)
  char dir[kPathMax] = {};  // --cow DIR: cow-shell's rules under this host directory
  char cow_set_path[kPathMax] = {};  // --cow: the record of what was shared at the start (COWROOT_COW_SET)
};

extern CowConfig g_cow;

// Reads COWROOT_COW (a sidecar) or COWROOT_COW_DIR. No allocation.
void cow_init();

// What a write changes. Only regular files have content to share; any
// non-directory (a symlink's times, a fifo's mode) has metadata on disk.
enum class CowWhat { kContent, kMeta };

// True when writing to the inode of `sx` (found at host path `host`) would
// change the base or a sibling.
bool cow_shared(const struct statx& sx, const char* host, CowWhat what = CowWhat::kContent);

// What cow_prepare checks first, on a statx the caller already has: false
// when the inode cannot be shared (no break needed, no second statx).
bool cow_may_share(const struct statx& sx, CowWhat what = CowWhat::kContent);

// Gives the clone its own copy of the file at `host` (every name of it in
// the clone). Returns 0 or -errno; on failure the original is untouched.
int cow_break(const char* host, const struct statx& sx);

// The step before any write to (*dirfd, *path): breaks the file if it is
// shared. Afterwards the name reaches the clone's copy, except through a
// descriptor (an empty path, as with AT_EMPTY_PATH, or a /proc/PID/fd/N
// link), which still holds the base's inode: then *dirfd and *path are
// moved to the copy's host path, kept in `buf` (n bytes).
// `follow`: the last component is followed. Returns 0 or -errno.
int cow_prepare(int* dirfd, const char** path, bool follow, CowWhat what, char* buf, size_t n);
// The same for a descriptor (fchmod, futimens, fsetxattr on a file opened
// read-only): breaks its file by name. The descriptor still refers to the
// base's inode afterwards, so when it broke (returns 1) `path` receives the
// host path of the clone's copy, which the operation must use instead.
// Returns 0 (nothing to do), 1 (broken) or -errno.
// `may_break` false: only a file broken already leads to its copy (1).
int cow_prepare_fd(int fd, char* path = nullptr, size_t n = 0, CowWhat what = CowWhat::kContent,
                   bool may_break = true);

// The one step before every write, and the owner of its rules: breaks the
// file at (*dirfd, *path) if it is shared with the base (by descriptor: an
// empty path with AT_EMPTY_PATH in *flags). When the name no longer reaches
// the clone's copy (a descriptor, a /proc/self/fd/N link), (*dirfd, *path)
// move to the copy's host path, kept in `copy`, and *flags drop
// AT_EMPTY_PATH and gain AT_SYMLINK_NOFOLLOW (flags may be null).
// `follow`: the operation follows a symlink in its last component. Inside a
// root, resolve() has followed it already; outside one, the break must.
// Returns 0 or -errno; on failure nothing was changed.
int prepare_write(int* dirfd, const char** path, int* flags, bool follow, CowWhat what, PathBuf& copy);

// Before a change a clone keeps in its state, by inode (an owner, a mode):
// a descriptor (AT_EMPTY_PATH, a /proc/PID/fd/N link) whose file the clone
// has copied already still holds the base's inode, so the change goes to
// the copy instead, as prepare_write moves it. Nothing is broken here.
// Returns 0 or -errno.
int follow_copy(int* dirfd, const char** path, int* flags, PathBuf& copy);

// The link count a process of the clone sees for an inode whose real count
// is `nlink`: an inode shared with the base counts only its names in the
// clone (the base and every sibling hold names of it too).
uint32_t cow_nlink(uint64_t dev, uint64_t ino, uint32_t nlink);

// Records in the clone's change journal (CLONE.cowroot/journal) that the
// name (dirfd, path) changed, for `cowroot reset`. Nothing outside a clone.
void cow_note(int dirfd, const char* path);

}  // namespace cr
