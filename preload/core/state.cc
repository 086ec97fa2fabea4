#include "state.h"

#include <fcntl.h>
#include <pthread.h>  // the size of the mutex an older build kept where the lock is
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "proclock.h"
#include "sys.h"

namespace cr {

namespace {

constexpr char kTableMagic[8] = {'C', 'R', 'T', 'A', 'B', 'L', 'E', '1'};
constexpr char kHeapMagic[8] = {'C', 'R', 'X', 'A', 'T', 'T', 'R', '1'};
constexpr uint64_t kHeaderSize = 4096;
constexpr uint64_t kMinCap = 1024;
constexpr uint64_t kHeapReserve = 64ull << 20;  // virtual space reserved for xattrs
constexpr uint64_t kHeapStart = 64;

inline uint64_t hash(const Key& k) {
  uint64_t h = k.ino * 0x9E3779B97F4A7C15ull ^ (k.dev + 0x632BE59BD9B4E019ull);
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return h;
}

inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

size_t cat_path(char* out, size_t n, const char* dir, const char* name) {
  size_t a = strlen(dir), b = strlen(name);
  if (a + 1 + b + 1 > n) return 0;
  memcpy(out, dir, a);
  out[a] = '/';
  memcpy(out + a + 1, name, b + 1);
  return a + 1 + b;
}

void* map_file(int fd, size_t len) {
  long p = sys::raw(SYS_mmap, 0, (long)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p < 0 && p > -4096) return nullptr;
  return reinterpret_cast<void*>(p);
}
void unmap(const void* p, size_t len) { sys::raw(SYS_munmap, (long)p, (long)len); }

}  // namespace

constexpr uint32_t kTracksDevices = 1, kHasDevices = 2;  // TableHeader::flags

struct TableHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t cap;
  uint64_t self_ino;               // inode of this file: detects a replaced table
  std::atomic<uint32_t> superseded;  // set once a larger table has replaced this one
  // kTracksDevices: this table says (kHasDevices) whether any entry was
  // ever a device (a table of an older build says nothing: 0).
  uint32_t flags;
  uint64_t live, used;             // live entries; live + tombstones
  std::atomic<uint64_t> changes;
  // The writers' lock (proclock.h), where a glibc robust mutex used to be:
  // a state written by an older build opens as it is (its mutex, unlocked,
  // has a zero first word; one its holder died with is taken over).
  union {
    std::atomic<uint32_t> lock;
    char lock_area[sizeof(pthread_mutex_t)];
  };
  struct {
    uint32_t valid;
    uint32_t pad;
    uint64_t idx;
    uint64_t live, used;
    unsigned char old[64];
  } undo;
  // Bumped when a directory is renamed or removed (or a root changes): the
  // path resolvers of all processes drop what they cached about directories.
  std::atomic<uint64_t> namegen;
};
static_assert(sizeof(TableHeader) <= kHeaderSize);
static_assert(offsetof(TableHeader, lock) == 64, "tests/unit_tests.cc takes the lock at offset 64");

struct HeapHeader {
  char magic[8];
  std::atomic<uint64_t> used;  // bytes in use, records are immutable below it
  uint64_t cap;                // file size
};

static Slot* slots_of(TableHeader* h) {
  return reinterpret_cast<Slot*>(reinterpret_cast<char*>(h) + kHeaderSize);
}

void State::close() {
  // Mappings are process-lifetime by design (another thread may still read
  // an old one); explicit close is for tests and tools.
  if (hdr_) unmap(hdr_, maplen_);
  if (heap_) unmap(heap_, kHeapReserve);
  hdr_ = nullptr;
  heap_ = nullptr;
  slots_ = nullptr;
  cap_ = 0;
}

// Gives fd's file real blocks for [from, to): writes through a mapping
// into a sparse file on a full disk would be SIGBUS in whatever program
// made them. Past `ulimit -f`, EFBIG rather than SIGXFSZ. 0 or -errno.
static long allocate(int fd, uint64_t from, uint64_t to) {
  if (!sys::fits_file_limit(to)) return -EFBIG;
  long r = sys::raw(SYS_fallocate, fd, 0, (long)from, (long)(to - from));
  return r == -EOPNOTSUPP ? sys::raw(SYS_ftruncate, fd, (long)to) : r;
}

static int create_table_file(const char* dir, const char* tmpname, uint64_t cap, int* fd_out) {
  PathBuf path;
  if (!cat_path(path, sizeof path, dir, tmpname)) return -ENAMETOOLONG;
  int fd = (int)sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fd;
  size_t len = kHeaderSize + cap * sizeof(Slot);
  long r = allocate(fd, 0, len);
  if (r < 0) {
    sys::raw(SYS_close, fd);
    sys::raw(SYS_unlinkat, AT_FDCWD, (long)path, 0);
    return (int)r;
  }
  void* p = map_file(fd, len);
  if (!p) {
    sys::raw(SYS_close, fd);
    sys::raw(SYS_unlinkat, AT_FDCWD, (long)path, 0);
    return -ENOMEM;
  }
  auto* h = static_cast<TableHeader*>(p);
  memcpy(h->magic, kTableMagic, 8);
  h->version = 1;
  h->header_size = kHeaderSize;
  h->cap = cap;
  h->flags = kTracksDevices;
  struct stat st;
  sys::raw(SYS_fstat, fd, (long)&st);
  h->self_ino = st.st_ino;
  h->lock.store(0, std::memory_order_relaxed);  // free (the file is new: all zero already)
  unmap(p, len);
  *fd_out = fd;
  return 0;
}

// A table file says how many slots it has: believed only when the file is
// exactly that long (checked without overflow: a capacity of 2^58 slots
// times 64 bytes wraps to 0), and the counts fit in it. Null, or what is
// wrong with it.
static const char* validate_table(TableHeader* h, size_t len) {
  if (len < kHeaderSize) return "shorter than its header";
  if (memcmp(h->magic, kTableMagic, 8) != 0 || h->version != 1 || h->header_size != kHeaderSize)
    return "no table's header";
  if (h->cap < kMinCap || (h->cap & (h->cap - 1)) != 0 || h->cap != (len - kHeaderSize) / sizeof(Slot) ||
      (len - kHeaderSize) % sizeof(Slot) != 0)
    return "its size is not what its header says";
  if (h->live > h->cap || h->used > h->cap || (h->undo.valid && h->undo.idx >= h->cap))
    return "its header's counts are past its end";
  return nullptr;
}

int State::map_table() {
  PathBuf path;
  if (!cat_path(path, sizeof path, dir_, "table")) return -ENAMETOOLONG;
  int fd = (int)sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  struct stat st;
  long r = sys::raw(SYS_fstat, fd, (long)&st);
  if (r < 0) {
    sys::raw(SYS_close, fd);
    return (int)r;
  }
  void* p = (size_t)st.st_size >= kHeaderSize ? map_file(fd, st.st_size) : nullptr;
  sys::raw(SYS_close, fd);
  if (!p) return (size_t)st.st_size >= kHeaderSize ? -ENOMEM : bad("table", "shorter than its header");
  auto* h = static_cast<TableHeader*>(p);
  if (const char* why = validate_table(h, st.st_size)) {
    unmap(p, st.st_size);
    return bad("table", why);
  }
  // A table copied from another (a clone's, a reset's) still names the
  // inode it was copied from; the file found by name is the current table,
  // so it is this one. (Left as it was, repair() would take it for replaced.)
  if (h->self_ino != st.st_ino && !h->superseded.load(std::memory_order_acquire)) h->self_ino = st.st_ino;
  // Publish: readers derive slots and capacity from the header pointer alone.
  maplen_ = st.st_size;
  cap_ = h->cap;
  slots_ = slots_of(h);
  __atomic_store_n(&hdr_, h, __ATOMIC_RELEASE);
  return 0;
}

int State::map_heap(HeapHeader** out) {
  PathBuf path;
  if (!cat_path(path, sizeof path, dir_, "xattr")) return -ENAMETOOLONG;
  int fd = (int)sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return fd;
  struct stat st;
  long sr = sys::raw(SYS_fstat, fd, (long)&st);
  void* p = sr == 0 && (uint64_t)st.st_size >= sizeof(HeapHeader) ? map_file(fd, kHeapReserve) : nullptr;
  if (!p) {
    sys::raw(SYS_close, fd);
    return sr < 0 ? (int)sr : (uint64_t)st.st_size < sizeof(HeapHeader) ? bad("xattr", "shorter than its header") : -ENOMEM;
  }
  auto* h = static_cast<HeapHeader*>(p);
  // Records are read up to `used`: past the file's end that would be SIGBUS.
  uint64_t used = h->used.load(std::memory_order_acquire);
  uint64_t cap = h->cap;
  // A writer grows the file before it raises cap: a cap past the size seen
  // above may be a growth since, which a second look shows.
  if (cap > (uint64_t)st.st_size && cap <= kHeapReserve && sys::raw(SYS_fstat, fd, (long)&st) < 0) st.st_size = 0;
  sys::raw(SYS_close, fd);
  if (memcmp(h->magic, kHeapMagic, 8) != 0 || used < kHeapStart || used > cap || cap > kHeapReserve ||
      cap > (uint64_t)st.st_size) {
    bool magic = memcmp(h->magic, kHeapMagic, 8) == 0;
    unmap(p, kHeapReserve);
    return bad("xattr", magic ? "its header claims more than the file holds" : "no attribute heap's header");
  }
  *out = h;
  return 0;
}

int State::ensure_heap() {
  if (__atomic_load_n(&heap_, __ATOMIC_ACQUIRE)) return 0;
  if (!hdr_) return -EBADF;
  HeapHeader* mine = nullptr;
  if (int e = map_heap(&mine)) return e;
  HeapHeader* none = nullptr;
  if (!__atomic_compare_exchange_n(&heap_, &none, mine, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
    unmap(mine, kHeapReserve);
  return 0;
}

// The heap, mapped now if it was left for later (open's lazy_heap); null
// when it cannot be. Two threads mapping at once: one mapping is kept.
HeapHeader* State::heap() {
  HeapHeader* h = __atomic_load_n(&heap_, __ATOMIC_ACQUIRE);
  if (h || ensure_heap() < 0) return h;
  return __atomic_load_n(&heap_, __ATOMIC_ACQUIRE);
}

// A new state's files (open's `create`), apart: its path buffers would
// otherwise be in open's frame, and push the map_table every program start
// makes onto a stack page of its own.
[[gnu::noinline]] int State::create_files() {
  int r;
  // Build the table under a private name and link it into place: two
  // processes creating at once end up sharing whichever linked first.
  char tmp[64] = "table.new.";
  long pid = sys::raw(SYS_getpid);
  char digits[24];
  int nd = 0;
  do digits[nd++] = char('0' + pid % 10); while ((pid /= 10) > 0);
  size_t tl = strlen(tmp);
  while (nd) tmp[tl++] = digits[--nd];
  tmp[tl] = 0;
  int fd;
  r = create_table_file(dir_, tmp, kMinCap, &fd);
  if (r < 0) return r;
  sys::raw(SYS_close, fd);
  PathBuf from, to;
  cat_path(from, sizeof from, dir_, tmp);
  cat_path(to, sizeof to, dir_, "table");
  // The heap first: a table's presence means the state is complete.
  PathBuf hp;
  cat_path(hp, sizeof hp, dir_, "xattr");
  int hfd = (int)sys::raw(SYS_openat, AT_FDCWD, (long)hp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (hfd < 0 && hfd != -EEXIST) {  // (EEXIST: another process made it first)
    sys::raw(SYS_unlinkat, AT_FDCWD, (long)from, 0);
    return hfd;
  }
  if (hfd >= 0) {
    HeapHeader h0{};
    memcpy(h0.magic, kHeapMagic, 8);
    h0.used.store(kHeapStart);
    h0.cap = 1 << 16;
    long a = allocate(hfd, 0, h0.cap);
    if (a < 0 ||
        sys::raw(SYS_pwrite64, hfd, (long)&h0, sizeof h0, 0) != (long)sizeof h0) {
      r = -ENOSPC;
      sys::raw(SYS_close, hfd);
      sys::raw(SYS_unlinkat, AT_FDCWD, (long)hp, 0);
      sys::raw(SYS_unlinkat, AT_FDCWD, (long)from, 0);
      return r;
    }
    sys::raw(SYS_close, hfd);
  }
  r = (int)sys::raw(SYS_linkat, AT_FDCWD, (long)from, AT_FDCWD, (long)to, 0);
  sys::raw(SYS_unlinkat, AT_FDCWD, (long)from, 0);
  if (r < 0 && r != -EEXIST) return r;
  return map_table();
}

int State::open(const char* dir, bool create, bool lazy_heap) {
  close();
  size_t n = strlen(dir);
  if (n + 16 >= sizeof dir_) return -ENAMETOOLONG;
  memcpy(dir_, dir, n + 1);
  int r = map_table();
  if (r == -ENOENT && create) r = create_files();
  if (r < 0) return r;
  heaplen_ = kHeapReserve;
  if (lazy_heap) return 0;
  r = ensure_heap();
  if (r == 0) r = check();
  if (r < 0) close();
  return r;
}

int State::bad(const char* file, const char* what, uint64_t slot) {
  damaged_file_ = file;
  if (slot == UINT64_MAX) {
    damage_ = what;
    return -EBADMSG;
  }
  // "slot N: what", without stdio (this file is in the preload library).
  char num[24];
  int nd = 0;
  do num[nd++] = char('0' + slot % 10); while ((slot /= 10) > 0);
  size_t at = 0, n = sizeof damage_buf_;
  for (const char* p = "slot "; *p && at + 1 < n; p++) damage_buf_[at++] = *p;
  while (nd && at + 1 < n) damage_buf_[at++] = num[--nd];
  for (const char* p = ": "; *p && at + 1 < n; p++) damage_buf_[at++] = *p;
  for (const char* p = what; *p && at + 1 < n; p++) damage_buf_[at++] = *p;
  damage_buf_[at] = 0;
  damage_ = damage_buf_;
  return -EBADMSG;
}

int State::check() {
  TableHeader* h;
  if (int r = lock(&h)) return r;
  // Taken: a writer killed mid-write was repaired (its undo record put
  // back), and no other write is under way. What is odd now is damage.
  Slot* slots = slots_of(h);
  uint64_t cap = h->cap, live = 0, used = 0;
  HeapHeader* heap = __atomic_load_n(&heap_, __ATOMIC_ACQUIRE);
  uint64_t heap_used = heap ? heap->used.load(std::memory_order_acquire) : 0;
  int r = 0;
  for (uint64_t i = 0; i < cap && r == 0; i++) {
    const Slot& sl = slots[i];
    uint32_t st = sl.state;
    if (sl.seq.load(std::memory_order_relaxed) & 1) r = bad("table", "a counter odd with no write under way", i);
    else if (st > 2) r = bad("table", "a slot of no known kind", i);
    else if (st == 1 && heap && sl.xattrs != 0 && (sl.xattrs < kHeapStart || sl.xattrs >= heap_used || (sl.xattrs & 7)))
      r = bad("table", "attributes outside the heap", i);
    live += st == 1;
    used += st != 0;
  }
  if (r == 0 && h->undo.valid) r = bad("table", "an undo record left after its repair");
  if (r == 0 && (live != h->live || used != h->used)) r = bad("table", "its counts are not what its slots hold");
  unlock(h);
  return r;
}

bool State::remap_if_needed() {
  TableHeader* h = __atomic_load_n(&hdr_, __ATOMIC_ACQUIRE);
  if (!h) return false;
  if (!h->superseded.load(std::memory_order_acquire)) return true;
  int expected = 0;
  while (!remap_lock_.compare_exchange_weak(expected, 1, std::memory_order_acquire)) {
    expected = 0;
    cpu_relax();
  }
  if (__atomic_load_n(&hdr_, __ATOMIC_ACQUIRE) == h) map_table();  // the old mapping is kept: other threads may read it
  remap_lock_.store(0, std::memory_order_release);
  return true;
}

Slot* State::current_slots(uint64_t* cap) {
  TableHeader* h = __atomic_load_n(&hdr_, __ATOMIC_ACQUIRE);
  *cap = h ? h->cap : 0;
  return h ? slots_of(h) : nullptr;
}

bool State::lookup(const Key& k, Meta* out) {
  // A writer keeps a slot's counter odd for nanoseconds: one odd for longer
  // is a preempted writer's, a dead one's or a damaged file's. The lock
  // tells them apart (settle): it waits for a live writer, repairs a dead
  // one's slot, and makes a damaged one's even. Spins are counted per call,
  // and after one settle the next odd slot is settled at once: no damage
  // keeps a call for more than a moment.
  unsigned spin_limit = 1u << 14;
  int restarts = 0;
again:
  if (!remap_if_needed()) return false;
  TableHeader* h = __atomic_load_n(&hdr_, __ATOMIC_ACQUIRE);
  Slot* slots = slots_of(h);
  uint64_t mask = h->cap - 1;
  uint64_t i = hash(k) & mask;
  for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
    Slot& s = slots[i];
    uint32_t st;
    bool match;
    unsigned spins = 0;
    for (;;) {
      uint32_t q = s.seq.load(std::memory_order_acquire);
      if (q & 1) {
        if (++spins > spin_limit) {
          spin_limit = 64;
          spins = 0;
          // Replaced by a larger table meanwhile: the lookup goes there (a
          // few times at most; then this one is read as it is).
          if (!settle(&s, h) && restarts++ < 4) goto again;
          if (s.seq.load(std::memory_order_acquire) & 1) {
            q &= ~1u;  // still odd (a replaced table's): read as it is
            st = __atomic_load_n(&s.state, __ATOMIC_RELAXED);
            match = false;
            break;
          }
        }
        cpu_relax();
        continue;
      }
      st = __atomic_load_n(&s.state, __ATOMIC_RELAXED);
      match = st == 1 && __atomic_load_n(&s.dev, __ATOMIC_RELAXED) == k.dev &&
              __atomic_load_n(&s.ino, __ATOMIC_RELAXED) == k.ino;
      if (match) {
        out->mode = __atomic_load_n(&s.mode, __ATOMIC_RELAXED);
        out->uid = __atomic_load_n(&s.uid, __ATOMIC_RELAXED);
        out->gid = __atomic_load_n(&s.gid, __ATOMIC_RELAXED);
        out->rdev = __atomic_load_n(&s.rdev, __ATOMIC_RELAXED);
        out->birth.sec = __atomic_load_n(&s.bsec, __ATOMIC_RELAXED);
        out->birth.nsec = __atomic_load_n(&s.bnsec, __ATOMIC_RELAXED);
        out->xattrs = __atomic_load_n(&s.xattrs, __ATOMIC_RELAXED);
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      if (s.seq.load(std::memory_order_relaxed) == q) break;
    }
    if (st == 0) return false;
    if (match) return true;
  }
  return false;
}

bool State::settle(Slot* s, TableHeader* h) {
  TableHeader* held;
  if (lock(&held) != 0) return true;
  // Under the lock no write is under way (a dead writer's slot was just
  // put back from its undo record): a counter still odd is a damaged
  // file's, made even so that no reader waits for ever (what the slot
  // holds is then what it reads). A slot of a table replaced since is
  // written by nobody any more: the same holds there.
  uint32_t now = s->seq.load(std::memory_order_relaxed);
  if (now & 1) s->seq.store(now + 1, std::memory_order_release);
  unlock(held);
  return h == nullptr || held == h;
}

int State::lock(TableHeader** locked) {
  for (;;) {
    TableHeader* h = __atomic_load_n(&hdr_, __ATOMIC_ACQUIRE);
    if (!h) return -EBADF;
    if (proc_lock(&h->lock) == 1) repair(h);  // its holder died: undo what it left half done
    if (!h->superseded.load(std::memory_order_acquire)) {
      *locked = h;
      return 0;
    }
    proc_unlock(&h->lock);
    remap_if_needed();
  }
}

void State::unlock(TableHeader* locked) { proc_unlock(&locked->lock); }

// Called with the lock of a writer that died: undo its half-done slot write
// and notice a growth that replaced the file but had not yet said so.
void State::repair(TableHeader* h) {
  if (h->undo.valid) {
    Slot& s = slots_of(h)[h->undo.idx];
    uint32_t q = s.seq.load(std::memory_order_relaxed);
    memcpy(reinterpret_cast<char*>(&s) + 4, h->undo.old + 4, 60);
    s.seq.store((q | 1) + 1, std::memory_order_release);
    h->live = h->undo.live;
    h->used = h->undo.used;
    h->undo.valid = 0;
  }
  PathBuf path;
  struct stat st;
  if (cat_path(path, sizeof path, dir_, "table") &&
      sys::raw(SYS_newfstatat, AT_FDCWD, (long)path, (long)&st, 0) == 0 && st.st_ino != h->self_ino)
    h->superseded.store(1, std::memory_order_release);
}

uint64_t State::find_locked(const Key& k, bool* found) {
  Slot* slots = slots_;
  uint64_t mask = cap_ - 1;
  uint64_t i = hash(k) & mask;
  uint64_t tomb = UINT64_MAX;
  for (uint64_t n = 0; n <= mask; n++, i = (i + 1) & mask) {
    Slot& s = slots[i];
    if (s.state == 0) {
      *found = false;
      return tomb != UINT64_MAX ? tomb : i;
    }
    if (s.state == 1 && s.dev == k.dev && s.ino == k.ino) {
      *found = true;
      return i;
    }
    if (s.state == 2 && tomb == UINT64_MAX) tomb = i;
  }
  *found = false;
  return tomb;
}

void State::write_slot_locked(uint64_t idx, const Key& k, const Meta& m, bool live) {
  TableHeader* h = hdr_;
  Slot& s = slots_[idx];
  uint32_t old_state = s.state;
  memcpy(h->undo.old, &s, 64);
  h->undo.idx = idx;
  h->undo.live = h->live;
  h->undo.used = h->used;
  std::atomic_thread_fence(std::memory_order_release);
  __atomic_store_n(&h->undo.valid, 1, __ATOMIC_RELEASE);

  // Odd while it changes, even after, whatever a damaged file left in it.
  uint32_t q = s.seq.load(std::memory_order_relaxed) | 1;
  s.seq.store(q, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  __atomic_store_n(&s.state, live ? 1u : 2u, __ATOMIC_RELAXED);
  __atomic_store_n(&s.dev, k.dev, __ATOMIC_RELAXED);
  __atomic_store_n(&s.ino, k.ino, __ATOMIC_RELAXED);
  __atomic_store_n(&s.bsec, m.birth.sec, __ATOMIC_RELAXED);
  __atomic_store_n(&s.bnsec, m.birth.nsec, __ATOMIC_RELAXED);
  __atomic_store_n(&s.mode, m.mode, __ATOMIC_RELAXED);
  __atomic_store_n(&s.uid, m.uid, __ATOMIC_RELAXED);
  __atomic_store_n(&s.gid, m.gid, __ATOMIC_RELAXED);
  __atomic_store_n(&s.rdev, m.rdev, __ATOMIC_RELAXED);
  __atomic_store_n(&s.xattrs, m.xattrs, __ATOMIC_RELAXED);
  s.seq.store(q + 1, std::memory_order_release);
  if (live && (S_ISCHR(m.mode) || S_ISBLK(m.mode)) && !(h->flags & kHasDevices))
    __atomic_fetch_or(&h->flags, kHasDevices, __ATOMIC_RELEASE);

  if (old_state != 1 && live) h->live++;
  if (old_state == 1 && !live) h->live--;
  if (old_state == 0) h->used++;
  h->changes.fetch_add(1, std::memory_order_release);
  __atomic_store_n(&h->undo.valid, 0, __ATOMIC_RELEASE);
}

// Rebuilds the table at twice the size (or the same size when it is mostly
// tombstones) under a new inode, then marks the old one superseded.
int State::grow_locked() {
  TableHeader* h = hdr_;
  uint64_t ncap = h->live * 2 + 2 > h->cap / 2 ? h->cap * 2 : h->cap;
  char tmp[] = "table.grow";
  int fd;
  int r = create_table_file(dir_, tmp, ncap, &fd);
  if (r < 0) return r;
  size_t len = kHeaderSize + ncap * sizeof(Slot);
  void* p = map_file(fd, len);
  sys::raw(SYS_close, fd);
  PathBuf from, to;
  cat_path(from, sizeof from, dir_, tmp);
  cat_path(to, sizeof to, dir_, "table");
  if (!p) {
    sys::raw(SYS_unlinkat, AT_FDCWD, (long)from, 0);
    return -ENOMEM;
  }
  auto* nh = static_cast<TableHeader*>(p);
  Slot* ns = slots_of(nh);
  uint64_t nmask = ncap - 1;
  for (uint64_t i = 0; i < cap_; i++) {
    const Slot& s = slots_[i];
    if (s.state != 1) continue;
    uint64_t j = hash(Key{s.dev, s.ino}) & nmask;
    while (ns[j].state != 0) j = (j + 1) & nmask;
    memcpy(reinterpret_cast<char*>(&ns[j]) + 4, reinterpret_cast<const char*>(&s) + 4, 60);
    ns[j].seq.store(0, std::memory_order_relaxed);
    nh->live++;
    nh->used++;
  }
  nh->changes.store(h->changes.load() + 1);
  nh->namegen.store(h->namegen.load() + 1);
  // (An older build's table said nothing: the new one has every entry.)
  nh->flags = (h->flags & kTracksDevices) ? h->flags : kTracksDevices | kHasDevices;
  unmap(p, len);
  r = (int)sys::raw(SYS_renameat, AT_FDCWD, (long)from, AT_FDCWD, (long)to);
  if (r < 0) {
    sys::raw(SYS_unlinkat, AT_FDCWD, (long)from, 0);
    return r;
  }
  h->superseded.store(1, std::memory_order_release);
  return 0;
}

static bool stale(const Meta& e, const Meta& real) { return entry_stale(e, real); }

static void read_slot(const Slot& s, Meta* m) {
  m->mode = s.mode;
  m->uid = s.uid;
  m->gid = s.gid;
  m->rdev = s.rdev;
  m->birth.sec = s.bsec;
  m->birth.nsec = s.bnsec;
  m->xattrs = s.xattrs;
}

// Runs f(idx, found) with the lock held and a slot for `k` available
// (growing the table first when it is too full); returns what f returns.
template <typename F>
int State::with_slot(const Key& k, F&& f) {
  for (;;) {
    TableHeader* held;
    if (int r = lock(&held)) return r;
    bool found;
    uint64_t idx = find_locked(k, &found);
    if (!found && hdr_->used + 1 > cap_ * 3 / 4) {
      int r = grow_locked();
      unlock(held);
      if (r) return r;
      remap_if_needed();
      continue;
    }
    int r = f(idx, found);
    unlock(held);
    return r;
  }
}

int State::update(const Key& k, const Meta& base, uint32_t mask, const Meta& v) {
  return with_slot(k, [&](uint64_t idx, bool found) {
    Meta cur = base;
    if (found) {
      Meta e;
      read_slot(slots_[idx], &e);
      if (!stale(e, base)) cur = e;
    }
    if (!cur.birth.known()) cur.birth = base.birth;
    if (mask & kSetType) cur.mode = (cur.mode & 07777) | (v.mode & S_IFMT);
    if (mask & kSetPerm) cur.mode = (cur.mode & S_IFMT) | (v.mode & 07777);
    if (mask & kSetUid) cur.uid = v.uid;
    if (mask & kSetGid) cur.gid = v.gid;
    if (mask & kSetRdev) cur.rdev = v.rdev;
    if (mask & kSetBirth) cur.birth = v.birth;
    if ((mask & kChownRule) && (mask & (kSetUid | kSetGid)) && !S_ISDIR(cur.mode)) {
      cur.mode &= ~S_ISUID;
      if (cur.mode & S_IXGRP) cur.mode &= ~S_ISGID;
    }
    write_slot_locked(idx, k, cur, true);
    return 0;
  });
}

bool State::may_hold_devices() const {
  if (!hdr_) return false;
  // (A table replaced by a larger one since: this mapping's word is old.)
  if (hdr_->superseded.load(std::memory_order_acquire)) return true;
  uint32_t f = __atomic_load_n(&hdr_->flags, __ATOMIC_ACQUIRE);
  return !(f & kTracksDevices) || (f & kHasDevices);
}

int State::put(const Key& k, const Meta& m) {
  return with_slot(k, [&](uint64_t idx, bool) {
    write_slot_locked(idx, k, m, true);
    return 0;
  });
}

int State::remove(const Key& k) {
  TableHeader* held;
  if (int r = lock(&held)) return r;
  bool found;
  uint64_t idx = find_locked(k, &found);
  if (found) write_slot_locked(idx, k, Meta{}, false);
  unlock(held);
  return found ? 0 : -ENOENT;
}

int State::verify(char* err, size_t errlen) {
  int problems = 0;
  auto bad = [&](const char* what, uint64_t idx) {
    if (problems++ == 0 && errlen) {
      // "slot N: what" without stdio (this file is in the preload library).
      char num[24];
      int nd = 0;
      do num[nd++] = char('0' + idx % 10); while ((idx /= 10) > 0);
      size_t at = 0;
      for (const char* p = "slot "; *p && at + 1 < errlen; p++) err[at++] = *p;
      while (nd && at + 1 < errlen) err[at++] = num[--nd];
      for (const char* p = ": "; *p && at + 1 < errlen; p++) err[at++] = *p;
      for (const char* p = what; *p && at + 1 < errlen; p++) err[at++] = *p;
      err[at] = 0;
    }
  };
  TableHeader* held;
  if (lock(&held) != 0) {
    bad("cannot take the lock", 0);
    return 1;
  }
  TableHeader* h = held;
  if (h->undo.valid) bad("an undo record left valid", h->undo.idx);
  uint64_t live = 0, used = 0;
  for (uint64_t i = 0; i < cap_; i++) {
    const Slot& sl = slots_[i];
    if (sl.seq.load(std::memory_order_relaxed) & 1) bad("sequence counter odd (a write never finished)", i);
    if (sl.state > 2) bad("unknown state", i);
    if (sl.state != 0) used++;
    if (sl.state != 1) continue;
    live++;
    bool found;
    uint64_t at = find_locked(Key{sl.dev, sl.ino}, &found);
    if (!found || at != i) bad("a live entry a lookup does not reach (or its key twice)", i);
    int hops = 0;
    for (uint64_t off = sl.xattrs; off != 0 && hops < 100000; hops++) {
      auto* r = static_cast<const XattrRec*>(heap_at(off, sizeof(XattrRec)));
      if (!r || r->total < sizeof(XattrRec) || !heap_at(off, r->total) ||
          sizeof(XattrRec) + (uint64_t)r->name_len + r->value_len > r->total || r->next >= off) {
        bad("an attribute record outside the heap", i);
        break;
      }
      off = r->next;
    }
  }
  if (live != h->live) bad("the live count differs from the slots", live);
  if (used != h->used) bad("the used count differs from the slots", used);
  if (h->superseded.load(std::memory_order_acquire)) bad("the table is superseded", 0);
  unlock(held);
  return problems;
}

uint64_t State::changes() {
  remap_if_needed();
  TableHeader* h = __atomic_load_n(&hdr_, __ATOMIC_ACQUIRE);
  return h ? h->changes.load(std::memory_order_acquire) : 0;
}

uint64_t State::count() {
  remap_if_needed();
  TableHeader* h = __atomic_load_n(&hdr_, __ATOMIC_ACQUIRE);
  return h ? __atomic_load_n(&h->live, __ATOMIC_RELAXED) : 0;
}

uint64_t State::namegen() {
  TableHeader* h = __atomic_load_n(&hdr_, __ATOMIC_ACQUIRE);
  return h ? h->namegen.load(std::memory_order_acquire) : 0;
}

void State::bump_namegen() {
  remap_if_needed();
  TableHeader* h = __atomic_load_n(&hdr_, __ATOMIC_ACQUIRE);
  if (h) h->namegen.fetch_add(1, std::memory_order_acq_rel);
}

const void* State::heap_at(uint64_t off, uint64_t len) {
  HeapHeader* h = heap();
  if (!h || off < kHeapStart || off + len < off || off + len > h->used.load(std::memory_order_acquire) ||
      off + len > heaplen_)
    return nullptr;
  return reinterpret_cast<const char*>(h) + off;
}

long State::xattr_get(const Meta& m, const char* name, void* value, size_t size) {
  size_t nl = strlen(name);
  for (uint64_t off = m.xattrs; off != 0;) {
    auto* r = static_cast<const XattrRec*>(heap_at(off, sizeof(XattrRec)));
    if (!r || !heap_at(off, r->total)) return -EIO;
    if (r->name_len == nl && memcmp(r->name(), name, nl) == 0) {
      if (r->flags & 1) return -ENODATA;
      if (size > 0) {
        if (size < r->value_len) return -ERANGE;
        memcpy(value, r->value(), r->value_len);
      }
      return r->value_len;
    }
    off = r->next;
  }
  return -ENODATA;
}

int State::heap_append_locked(uint64_t next, const char* name, const void* value, size_t size,
                              bool tomb, uint64_t* off) {
  HeapHeader* h = heap();
  if (!h) return -EIO;
  size_t nl = strlen(name);
  uint64_t total = (sizeof(XattrRec) + nl + size + 7) & ~7ull;
  uint64_t at = h->used.load(std::memory_order_relaxed);
  if (at + total > heaplen_) return -ENOSPC;
  if (at + total > h->cap) {
    uint64_t ncap = h->cap;
    while (at + total > ncap) ncap *= 2;
    if (ncap > heaplen_) ncap = heaplen_;
    PathBuf path;
    cat_path(path, sizeof path, dir_, "xattr");
    int fd = (int)sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    long r = allocate(fd, h->cap, ncap);
    sys::raw(SYS_close, fd);
    if (r < 0) return (int)r;
    h->cap = ncap;
  }
  auto* rec = reinterpret_cast<XattrRec*>(reinterpret_cast<char*>(h) + at);
  rec->total = (uint32_t)total;
  rec->flags = tomb ? 1 : 0;
  rec->next = next;
  rec->name_len = (uint32_t)nl;
  rec->value_len = (uint32_t)size;
  memcpy(reinterpret_cast<char*>(rec + 1), name, nl);
  if (size) memcpy(reinterpret_cast<char*>(rec + 1) + nl, value, size);
  h->used.store(at + total, std::memory_order_release);
  *off = at;
  return 0;
}

int State::xattr_set(const Key& k, const Meta& base, const char* name, const void* value, size_t size,
                     int flags) {
  if (strlen(name) > 255) return -ERANGE;
  if (size > 65536) return -E2BIG;
  return with_slot(k, [&](uint64_t idx, bool found) {
    Meta cur = base;
    if (found) {
      Meta e;
      read_slot(slots_[idx], &e);
      if (!stale(e, base)) cur = e;
    }
    if (!cur.birth.known()) cur.birth = base.birth;
    bool exists = xattr_get(cur, name, nullptr, 0) >= 0;
    int r = 0;
    if (value && (flags & XATTR_CREATE) && exists) r = -EEXIST;
    else if ((value && (flags & XATTR_REPLACE) && !exists) || (!value && !exists)) r = -ENODATA;
    uint64_t off = 0;
    if (!r) r = heap_append_locked(cur.xattrs, name, value, value ? size : 0, !value, &off);
    if (!r) {
      cur.xattrs = off;
      write_slot_locked(idx, k, cur, true);
    }
    return r;
  });
}

}  // namespace cr
