// The fake-identity state of one root: ownership, modes, device numbers and
// extended attributes keyed by (dev, ino).
//
// It lives in two files of a state directory, mapped MAP_SHARED by every
// process of the session:
//   table  - open-addressing hash table of fixed 64-byte slots
//   xattr  - append-only heap of extended-attribute records
// Readers never lock and never make a system call: each slot carries a
// sequence counter (seqlock). Writers take a process-shared lock in the table
// header that a dead holder cannot wedge (proclock.h) and write an undo
// record before touching a slot, so a writer killed at any instruction
// leaves the table repairable and nothing that was acknowledged (a wrapper
// that returned) can be lost, whoever dies.
// See docs/design.md for why writers do not round-trip through the daemon.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "path.h"

namespace cr {

struct Key {
  uint64_t dev = 0, ino = 0;
  bool operator==(const Key& o) const { return dev == o.dev && ino == o.ino; }
};

// Birth time of an inode: detects that an entry belongs to a deleted file
// whose inode number was reused. {0,0} means unknown (matches anything).
struct Birth {
  int64_t sec = 0;
  uint32_t nsec = 0;
  bool known() const { return sec != 0 || nsec != 0; }
  bool operator==(const Birth& o) const { return sec == o.sec && nsec == o.nsec; }
};

// What a process sees of an inode, as far as identity goes.
struct Meta {
  uint32_t mode = 0;  // type and permission bits (st_mode)
  uint32_t uid = 0, gid = 0;
  uint64_t rdev = 0;
  Birth birth;
  uint64_t xattrs = 0;  // offset of the newest xattr record, 0 = none
};

// Fields an update() sets.
enum UpdateMask : uint32_t {
  kSetUid = 1u << 0,
  kSetGid = 1u << 1,
  kSetPerm = 1u << 2,   // permission bits (07777) of mode
  kSetType = 1u << 3,   // file type bits of mode
  kSetRdev = 1u << 4,
  kChownRule = 1u << 5, // clear setuid, and setgid if group-exec, as Linux chown does
  kSetBirth = 1u << 6,
};

struct Slot;
struct TableHeader;
struct HeapHeader;

class State {
 public:
  constexpr State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  // Mappings outlive the object unless close() is called: the process's
  // own state is never unmapped (exit does it without the TLB flushes).

  // Opens the state in directory `dir` (created with its files when
  // `create`). Returns 0 or -errno. Never allocates. `lazy_heap`: the
  // attribute heap is mapped (and checked) when first needed, not here:
  // most programs never read an extended attribute, and every program of a
  // session opens the state (an open, a mapping and a page fault saved per
  // start). Its corruption then shows as EIO on the call that needs it;
  // whoever starts a session checks it first (ensure_heap).
  int open(const char* dir, bool create, bool lazy_heap = false);
  // Maps the attribute heap of the open state now, if it is not yet. 0 or
  // -errno (EBADMSG: it is corrupt).
  int ensure_heap();
  // The check whoever starts a session makes (open does it unless
  // `lazy_heap`): under the lock (a writer killed mid-write is repaired
  // first, as the next writer would, so its one half-written slot is no
  // damage), every slot's counter even and its state known, the live and
  // used counts what the slots say, each live entry's attributes inside
  // the heap. One pass over the table, no system call: about a
  // millisecond for an image's. 0, or -EBADMSG with damage() saying what.
  int check();
  // After open, ensure_heap or check gave -EBADMSG: the file found damaged
  // ("table" or "xattr") and what is wrong with it, in a few words (static
  // or this object's; never null).
  const char* damaged_file() const { return damaged_file_; }
  const char* damage() const { return damage_; }
  void close();
  bool is_open() const { return hdr_ != nullptr; }
  const char* dir() const { return dir_; }

  // Lock-free read. True when an entry for `k` exists.
  bool lookup(const Key& k, Meta* out);
  // Whether any entry may be a character or block device (one ever was, or
  // the table is an older build's, which does not say): readdir's check of
  // each regular file's entry is skipped otherwise.
  bool may_hold_devices() const;

  // Sets the fields in `mask` from `v`. When no entry exists, or the existing
  // one belongs to another file (birth differs), `base` (the caller's current
  // view of the file) is the starting point. Returns 0 or -errno.
  int update(const Key& k, const Meta& base, uint32_t mask, const Meta& v);
  // Replaces the whole entry (used by load and by copy-on-write).
  int put(const Key& k, const Meta& m);
  int remove(const Key& k);

  // Extended attributes. get returns value length (copying at most `size`
  // bytes when size > 0) or -errno (-ENODATA when absent, -ERANGE).
  long xattr_get(const Meta& m, const char* name, void* value, size_t size);
  // Walks names of `m` (newest first, each once); f(name) returns false to stop.
  template <typename F>
  void xattr_names(const Meta& m, F&& f);
  // Sets (value != nullptr) or removes an attribute of entry `k`, creating the
  // entry from `base` when needed. flags: XATTR_CREATE / XATTR_REPLACE.
  int xattr_set(const Key& k, const Meta& base, const char* name, const void* value,
                size_t size, int flags);

  // Calls f(key, meta) for every live entry (readers' view, no lock).
  template <typename F>
  void for_each(F&& f);
  // Walks the whole table under the lock (repairing first what a writer
  // killed mid-write left, as the next writer would): every slot's counter
  // even, its state known, the live and used counts what the slots say,
  // each live entry found where a lookup probes for it (so no key twice),
  // its attribute chain inside the heap. Returns the number of problems,
  // the first described in err. For tests and tools.
  int verify(char* err, size_t errlen);
  uint64_t changes();  // bumped by every write; lets a saver skip a no-op save
  uint64_t count();
  // Generation of the directory tree's shape (see resolve.h).
  uint64_t namegen();
  void bump_namegen();

 private:
  bool remap_if_needed();
  Slot* current_slots(uint64_t* cap);
  int map_table();
  int map_heap(HeapHeader** out);
  int create_files();
  HeapHeader* heap();
  // The lock of the current table; *locked receives the header locked,
  // which unlock() must be given (another thread may map a newer table
  // meanwhile: hdr_ then names one this thread does not hold).
  int lock(TableHeader** locked);
  void unlock(TableHeader* locked);
  void repair(TableHeader* h);
  // A slot's counter odd for too long: under the lock (a dead writer's slot
  // repaired first) a counter still odd is a damaged file's, made even.
  // False when `h` is no longer the current table (a growth replaced it).
  bool settle(Slot* s, TableHeader* h);
  int bad(const char* file, const char* what, uint64_t slot = UINT64_MAX);
  int grow_locked();
  uint64_t find_locked(const Key& k, bool* found);
  template <typename F>
  int with_slot(const Key& k, F&& f);
  void write_slot_locked(uint64_t idx, const Key& k, const Meta& m, bool live);
  int heap_append_locked(uint64_t next, const char* name, const void* value, size_t size,
                         bool tomb, uint64_t* off);
  const void* heap_at(uint64_t off, uint64_t len);

  int dirfd_ = -1;
  TableHeader* hdr_ = nullptr;
  Slot* slots_ = nullptr;
  uint64_t cap_ = 0;
  size_t maplen_ = 0;
  HeapHeader* heap_ = nullptr;  // published with a compare-and-swap (heap())
  size_t heaplen_ = 0;
  int heapfd_ = -1;
  std::atomic<int> remap_lock_{0};
  const char* damaged_file_ = "table";
  const char* damage_ = "";
  char damage_buf_[96] = {};
  char dir_[kPathMax] = {};  // last: its first bytes share a page with the fields above
};

// A State unmapped when it goes: for a state opened for a while and left
// again (making, resetting or sealing a clone; the fixture), never the
// process's own session state (g_state).
class ScopedState : public State {
 public:
  ScopedState() = default;
  ~ScopedState() { close(); }
};

// The state's name-value records, as stored in the heap.
struct XattrRec {
  uint32_t total;   // bytes of this record, 8-aligned
  uint32_t flags;   // 1 = tombstone (attribute removed)
  uint64_t next;    // older record of the same inode, 0 = end
  uint32_t name_len;
  uint32_t value_len;
  // name bytes, then value bytes
  const char* name() const { return reinterpret_cast<const char*>(this + 1); }
  const void* value() const { return name() + name_len; }
};

template <typename F>
void State::xattr_names(const Meta& m, F&& f) {
  // A name is live when its newest record is not a tombstone; names seen once
  // are skipped further down the chain (chains are short: a few attributes).
  const char* seen[64];
  uint32_t seen_len[64];
  int nseen = 0;
  for (uint64_t off = m.xattrs; off != 0;) {
    auto* r = static_cast<const XattrRec*>(heap_at(off, sizeof(XattrRec)));
    if (!r) return;
    r = static_cast<const XattrRec*>(heap_at(off, r->total));
    if (!r) return;
    bool dup = false;
    for (int i = 0; i < nseen && !dup; i++)
      dup = seen_len[i] == r->name_len && __builtin_memcmp(seen[i], r->name(), r->name_len) == 0;
    if (!dup) {
      if (nseen < 64) {
        seen[nseen] = r->name();
        seen_len[nseen++] = r->name_len;
      }
      if (!(r->flags & 1) && !f(r->name(), r->name_len)) return;
    }
    off = r->next;
  }
}

// On-disk slot: 64 bytes, one cache line.
struct Slot {
  std::atomic<uint32_t> seq;  // odd while a writer changes the slot
  uint32_t state;             // 0 empty, 1 live, 2 removed (tombstone)
  uint64_t dev, ino;
  int64_t bsec;
  uint32_t bnsec;
  uint32_t mode;
  uint32_t uid, gid;
  uint64_t rdev;
  uint64_t xattrs;
};
static_assert(sizeof(Slot) == 64);

template <typename F>
void State::for_each(F&& f) {
  remap_if_needed();
  // Slots and capacity from one published header: another thread may map a
  // newer table (and change slots_ and cap_) meanwhile.
  uint64_t cap;
  Slot* slots = current_slots(&cap);
  for (uint64_t i = 0; i < cap; i++) {
    Slot& s = slots[i];
    for (unsigned spins = 0;;) {
      uint32_t q = s.seq.load(std::memory_order_acquire);
      if (q & 1) {
        // A writer takes nanoseconds; a counter odd for longer is a dead
        // writer's (repaired under the lock) or a damaged file's (made even).
        if (++spins > (1u << 12)) {
          settle(&s, nullptr);
          spins = 0;
        }
        continue;
      }
      uint32_t st = __atomic_load_n(&s.state, __ATOMIC_RELAXED);
      Key k{__atomic_load_n(&s.dev, __ATOMIC_RELAXED), __atomic_load_n(&s.ino, __ATOMIC_RELAXED)};
      Meta m;
      m.mode = __atomic_load_n(&s.mode, __ATOMIC_RELAXED);
      m.uid = __atomic_load_n(&s.uid, __ATOMIC_RELAXED);
      m.gid = __atomic_load_n(&s.gid, __ATOMIC_RELAXED);
      m.rdev = __atomic_load_n(&s.rdev, __ATOMIC_RELAXED);
      m.birth.sec = __atomic_load_n(&s.bsec, __ATOMIC_RELAXED);
      m.birth.nsec = __atomic_load_n(&s.bnsec, __ATOMIC_RELAXED);
      m.xattrs = __atomic_load_n(&s.xattrs, __ATOMIC_RELAXED);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.seq.load(std::memory_order_relaxed) != q) continue;
      if (st == 1) f(k, m);
      break;
    }
  }
}

// True when `entry` cannot describe the file whose real attributes are
// `real`: another birth time (inode reused) or another file type (except a
// faked device node, which is a regular file on disk).
inline bool entry_stale(const Meta& entry, const Meta& real) {
  if (entry.birth.known() && real.birth.known() && !(entry.birth == real.birth)) return true;
  uint32_t et = entry.mode & 0170000, rt = real.mode & 0170000;
  if (et == rt) return false;
  return !(rt == 0100000 && (et == 0020000 || et == 0060000));
}

// Save/load in fakeroot's text format (one `dev=…,ino=…,mode=…` line per
// entry, readable by `fakeroot -i`), followed by a `# cowroot` section with
// what fakeroot's format cannot hold: birth times and extended attributes.
// Both write a one-line reason into err on failure and return -1.
// save is atomic (temporary file + rename); load validates the whole file
// before it changes anything.
int save_state(State& st, const char* path, char* err, size_t errlen);
int load_state(State& st, const char* path, char* err, size_t errlen);

}  // namespace cr
