#include "proclock.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <time.h>

#include <cstring>

#include "procfs.h"
#include "sys.h"

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

namespace cr {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// The page that holds this process's id: wiped by the kernel in a fork's
// child. nullptr until the first lock; (void*)-1 where the kernel cannot
// wipe (before Linux 4.14): then every lock asks for the id.
std::atomic<uint32_t*> g_pid_page{nullptr};

}  // namespace

uint32_t self_pid() {
  uint32_t* page = g_pid_page.load(std::memory_order_acquire);
  if (__builtin_expect(page != nullptr && page != reinterpret_cast<uint32_t*>(-1L), 1)) {
    uint32_t pid = __atomic_load_n(page, __ATOMIC_RELAXED);
    if (__builtin_expect(pid != 0, 1)) return pid;
  }
  uint32_t pid = (uint32_t)sys::raw(SYS_getpid);
  if (page == nullptr) {
    long p = sys::raw(SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0 && p > -4096) return pid;
    if (sys::raw(SYS_madvise, p, 4096, MADV_WIPEONFORK) < 0) {
      sys::raw(SYS_munmap, p, 4096);
      p = -1;
    }
    uint32_t* expected = nullptr;
    if (!g_pid_page.compare_exchange_strong(expected, reinterpret_cast<uint32_t*>(p), std::memory_order_acq_rel)) {
      if (p != -1) sys::raw(SYS_munmap, p, 4096);  // another thread made one first
      page = expected;
    } else {
      page = reinterpret_cast<uint32_t*>(p);
    }
  }
  if (page != reinterpret_cast<uint32_t*>(-1L)) __atomic_store_n(page, pid, __ATOMIC_RELAXED);
  return pid;
}

bool pid_runs(uint32_t pid) {
  if (pid == 0 || pid > (1u << 22)) return false;  // no process has such an id (pid_max's limit)
  if (sys::raw(SYS_kill, pid, 0) == -ESRCH) return false;
  // It exists (EPERM: another user's). A zombie keeps its id until it is
  // reaped, which may take long (its parent may be the one waiting here).
  char path[48];
  proc_file(pid, "stat", path);
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fd != -ENOENT;  // no /proc: what kill said
  char buf[512];
  long got = sys::raw(SYS_read, fd, (long)buf, sizeof buf - 1);
  sys::raw(SYS_close, fd);
  if (got <= 0) return true;
  buf[got] = 0;
  const char* paren = strrchr(buf, ')');
  if (!paren || paren[1] != ' ') return true;
  char state = paren[2];
  return state != 'Z' && state != 'X' && state != 'x';
}

namespace {

// "LO-HI PERMS OFFSET MAJ:MIN INODE PATH": the file of a mapping (its
// device field as written, up to the inode's end), for comparison.
bool map_file(const char* line, uint64_t* lo, uint64_t* hi, const char** file, size_t* fl) {
  const char* p = line;
  if (!map_range(&p, lo, hi)) return false;
  MapRest m;
  map_rest(p, &m);
  *file = m.id;
  *fl = m.idl;
  return *fl > 0;
}

// A holder that runs but is no process of the session: after a reboot, or
// a crash whose process id was reused, the lock word names a process that
// has nothing of the lock's file mapped (or is another user's: a session's
// processes are one user's). -1 when that cannot be told (a process that
// made itself undumpable: its maps are closed to its own user too).
int holder_is_stranger(uint32_t holder, const void* word) {
  if (sys::raw(SYS_kill, holder, 0) == -EPERM) return 1;
  char mine[64];
  size_t ml = 0;
  uint64_t at = (uint64_t)(uintptr_t)word;
  char path[48], line[256];
  proc_file(self_pid(), "maps", path);
  if (each_line(path, line, sizeof line, [&](const char* l) {
        uint64_t lo, hi;
        const char* f;
        size_t fl;
        if (!map_file(l, &lo, &hi, &f, &fl) || at < lo || at >= hi || fl >= sizeof mine) return false;
        memcpy(mine, f, fl);
        ml = fl;
        return true;
      }) != 1)
    return -1;
  // An anonymous mapping (no file, inode 0) tells nothing.
  if (ml < 2 || (mine[ml - 1] == '0' && mine[ml - 2] == ' ')) return -1;
  proc_file(holder, "maps", path);
  int r = each_line(path, line, sizeof line, [&](const char* l) {
    uint64_t lo, hi;
    const char* f;
    size_t fl;
    return map_file(l, &lo, &hi, &f, &fl) && fl == ml && memcmp(f, mine, ml) == 0;
  });
  return r < 0 ? -1 : r == 0;
}

}  // namespace

int proc_lock(std::atomic<uint32_t>* w) {
  uint32_t me = self_pid();
  uint32_t c = 0;
  if (__builtin_expect(w->compare_exchange_strong(c, me, std::memory_order_acquire, std::memory_order_relaxed), 1))
    return 0;
  // A holder is usually out within microseconds: spin first.
  for (int i = 0; i < 200; i++) {
    cpu_relax();
    c = w->load(std::memory_order_relaxed);
    if (c == 0 && w->compare_exchange_strong(c, me, std::memory_order_acquire, std::memory_order_relaxed)) return 0;
  }
  // Then sleep, in slices: after each one in which the holder has not let
  // go, look whether it still runs.
  int waits = 0;
  for (;;) {
    c = w->load(std::memory_order_relaxed);
    if (c == 0) {
      // Others may sleep too: whoever takes it from here wakes one on unlock.
      if (w->compare_exchange_strong(c, me | kLockWaiters, std::memory_order_acquire, std::memory_order_relaxed))
        return 0;
      continue;
    }
    if (!(c & kLockWaiters)) {
      if (!w->compare_exchange_strong(c, c | kLockWaiters, std::memory_order_relaxed)) continue;
      c |= kLockWaiters;
    }
    // A holder that died holding it wakes nobody: asked at once on the
    // first wait (a writer killed mid-write is the case this lock exists
    // for), then after waits that grow from 1 ms to 20 ms.
    uint32_t holder = c & ~kLockWaiters;
    if (waits++ == 0 && holder != me && !pid_runs(holder)) {
      if (w->compare_exchange_strong(c, me | kLockWaiters, std::memory_order_acquire, std::memory_order_relaxed)) return 1;
      continue;
    }
    long ms = waits < 5 ? (1L << (waits - 1)) : 20;
    struct timespec slice = {0, ms * 1000 * 1000};
    long r = sys::raw(SYS_futex, (long)w, FUTEX_WAIT, c, (long)&slice);
    if (r != -ETIMEDOUT) continue;
    if (w->load(std::memory_order_relaxed) != c || holder == me) continue;
    // A holder that runs is asked, about every second, whether it is one
    // of the session's at all.
    if (pid_runs(holder) && (waits % 50 != 49 || holder_is_stranger(holder, w) != 1)) continue;
    // The holder died holding it: take it over (one taker wins).
    if (w->compare_exchange_strong(c, me | kLockWaiters, std::memory_order_acquire, std::memory_order_relaxed)) return 1;
  }
}

void proc_unlock(std::atomic<uint32_t>* w) {
  uint32_t c = w->exchange(0, std::memory_order_release);
  if (c & kLockWaiters) sys::raw(SYS_futex, (long)w, FUTEX_WAKE, 1);
}

}  // namespace cr
