// The command line's side of copy-on-write (libcowroot-clone.a): making,
// resetting and pooling clones, sealing and verifying bases, removing
// trees. Used by `cowroot` and the test fixture, never by the preload
// library (preload/core/cow.h is the library's side: what is shared, and
// breaking a link). Each call allocates freely and says why it failed in
// one line in `err` (errlen bytes).
#pragma once
#include <csignal>
#include <cstddef>

namespace cr {

// Makes DEST, a copy-on-write clone of SRC (with DEST.cowroot beside it).
// Writes a one-line reason into err on failure and leaves nothing behind.
// What a clone to DEST killed before its end left (DEST.cowroot-new-PID
// and its .side, PID gone) is removed first.
int cow_clone(const char* src, const char* dest, char* err, size_t errlen);

// Set from a signal handler to stop the cow_clone under way: it fails
// (EINTR) and removes what it made. It stays set: later clones fail too.
extern volatile sig_atomic_t clone_stop;

// Puts a clone back to its base by undoing what its journal lists, with
// every change confined to the clone (no symlink followed, no mount
// entered). Returns 0 when done, 1 when a full re-clone is needed (the
// clone changed behind the library's back, the base is another one than
// the clone was made from, or the journal cannot be trusted), -1 on error
// with nothing changed (err says why: the clone is in use, or a mount is
// inside it).
int cow_reset_fast(const char* clone, char* err, size_t errlen);
// cow_reset_fast, then the full re-clone when that says so: 0 or -1.
int cow_reset(const char* clone, char* err, size_t errlen);

// True when CLONE.cowroot/shared, the record of what the clone shares with
// its base, is there and well formed.
bool cow_record_readable(const char* clone);

// Why the fake state in `dir` could not be opened (`e`, what State::open
// returned, `st` the State it was opened with), in a few words naming the
// file: "DIR/table: damaged (WHAT)", "DIR/xattr: missing", "DIR: ERROR".
class State;
void say_state_error(const char* dir, int e, const State& st, char* err, size_t errlen);

// Seals a base: no write bit on disk for its files (the apparent modes move
// into its fake state), and a manifest that verify() compares against.
int cow_seal(const char* base, char* err, size_t errlen);
// Lists changes to a sealed base since it was sealed; returns the count or -1.
long cow_verify(const char* base, char* err, size_t errlen, void (*report)(const char* line, void* ctx), void* ctx);

// `cowroot --cow DIR` (cow-shell): records in set_path (a `shared` file) the
// inodes under DIR that have more than one link now, as cow-shell's inode
// list does at its start.
int cow_scan(const char* dir, const char* set_path, char* err, size_t errlen);

// A pool of ready clones of one base, kept in the directory `runs`: a
// clone is claimed with one rename (runs/ready-* -> runs/run-ID), or made
// when none is ready; it comes back reset, while the pool holds fewer ready
// ones than are in use at that moment (runs/run-*), or than `keep` (at
// most kPoolMax): the pool grows with the number of its concurrent users.
// A slot is runs/run-ID holding `root` and `root.cowroot`. pool_take fills
// slot and root (host paths, n bytes each).
constexpr int kPoolMax = 64;
int pool_take(const char* base, const char* runs, const char* id, char* slot, char* root, size_t n, char* err,
              size_t errlen);
// Puts the slot's clone back ready, reset (a reset that cannot be the fast
// one, or a full pool, removes it instead). Returns 0, or -1 with err set.
int pool_give_back(const char* runs, const char* slot, const char* id, int keep, char* err, size_t errlen);

// Removes a tree without following symlinks or entering mounts (bind
// mounts of the same file system included): a mount inside stops it, with
// the mount point named in err.
int remove_tree(const char* path, char* err, size_t errlen);

}  // namespace cr
