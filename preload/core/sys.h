// Raw system calls for the core: they never go through libc's (possibly
// interposed) wrappers, never touch errno unless asked, and are safe in a
// vfork child or a signal handler.
#pragma once
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <sys/syscall.h>

// System calls newer than this glibc's headers (the same number on every
// architecture).
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

namespace cr::sys {

#if defined(__x86_64__)
// Where raw() makes its system call: a `syscall; ret` of the core's own,
// or, in a confined process, the gate at the filter's fixed window (see
// confine.h): the filter lets through only calls made from there.
extern void* g_gate;

inline long raw_asm(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  // The call's return address must not land in the caller's red zone.
  asm volatile("lea -128(%%rsp), %%rsp\n\tcall *%[gate]\n\tlea 128(%%rsp), %%rsp"
               : "=a"(ret)
               : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9), [gate] "m"(g_gate)
               : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
inline long raw_asm(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  register long x8 asm("x8") = n;
  register long x0 asm("x0") = a;
  register long x1 asm("x1") = b;
  register long x2 asm("x2") = c;
  register long x3 asm("x3") = d;
  register long x4 asm("x4") = e;
  register long x5 asm("x5") = f;
  asm volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#else
#error "cowroot: raw system calls are implemented for x86_64 and aarch64 only"
#endif

#if defined(__SANITIZE_THREAD__)
}  // namespace cr::sys
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
namespace cr::sys {
// make test-tsan only: ThreadSanitizer follows descriptors and mappings
// through libc's calls, which it intercepts; descriptors opened and closed
// behind its back (the same number reused by another thread) look like
// races. Those calls go through libc in that build; the others stay raw.
inline long raw(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long r;
  switch (n) {
    case SYS_openat: r = ::openat((int)a, (const char*)b, (int)c, (mode_t)d); break;
    case SYS_close: r = ::close((int)a); break;
    case SYS_mmap: {
      void* p = ::mmap((void*)a, (size_t)b, (int)c, (int)d, (int)e, (off_t)f);
      return p == MAP_FAILED ? -errno : (long)p;
    }
    case SYS_munmap: r = ::munmap((void*)a, (size_t)b); break;
    case SYS_dup3: r = ::dup3((int)a, (int)b, (int)c); break;
    default: return raw_asm(n, a, b, c, d, e, f);
  }
  return r < 0 ? -errno : r;
}
#else
inline long raw(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  return raw_asm(n, a, b, c, d, e, f);
}
#endif

// How far a file this process writes may reach (UINT64_MAX: no limit):
// RLIMIT_FSIZE (`ulimit -f`) sends SIGXFSZ for a write past it, which would
// kill the program for a write the library makes on its behalf (a clone's
// copy, the state's growth, the journal). Asked where such writes are
// made, which are rare: one system call.
inline uint64_t file_limit() {
  struct {
    uint64_t cur, max;
  } l;
  return raw(SYS_prlimit64, 0, 1 /* RLIMIT_FSIZE */, 0, (long)&l) != 0 ? UINT64_MAX : l.cur;
}
inline bool fits_file_limit(uint64_t end) { return end <= file_limit(); }

// Like raw(), but in libc's convention: -1 with errno set on failure.
template <typename... A>
inline long call(long n, A... args) {
  long r = raw(n, (long)args...);
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

// Makes the pages of [from, to) present and written in one system call
// (MADV_POPULATE_WRITE, Linux 5.14). A new program's first write to each
// page of the library's start-up state is otherwise a page fault of its
// own, and a fault costs more than a system call (in a virtual machine,
// several times more): an exec writes that state over about 15 pages. A
// kernel without it (EINVAL) leaves them to fault, as before.
inline void prefault(const void* from, const void* to) {
  constexpr uintptr_t kPage = 4096;
  constexpr long kPopulateWrite = 23;  // MADV_POPULATE_WRITE
  uintptr_t a = (uintptr_t)from & ~(kPage - 1);
  uintptr_t b = ((uintptr_t)to + kPage - 1) & ~(kPage - 1);
  if (b > a) raw(SYS_madvise, (long)a, (long)(b - a), kPopulateWrite);
}

// Whether thread `t` (a lock's or a stack's taker) no longer shares this
// process's memory: 1 it does not (kcmp says another memory, or there is
// no such thread), 0 it does, -1 not known: kcmp is refused (Docker's
// default seccomp profile; a kernel without it) and `t` is no thread of
// this process (/proc/self/task): a fork's parent, one gone, or a vfork
// child of ours.
int memory_elsewhere(long t);

// "/proc/self/fd/N" (or /proc/self/DIR/N) into out (at least 32 bytes);
// returns its length.
inline size_t proc_fd_path(int fd, char* out, const char* dir = "fd") {
  static const char prefix[] = "/proc/self/";
  size_t l = sizeof prefix - 1;
  for (size_t i = 0; i < l; i++) out[i] = prefix[i];
  while (*dir) out[l++] = *dir++;
  out[l++] = '/';
  char d[16];
  int nd = 0;
  unsigned v = (unsigned)fd;
  do d[nd++] = char('0' + v % 10); while ((v /= 10) > 0);
  while (nd) out[l++] = d[--nd];
  out[l] = 0;
  return l;
}

// A /proc/PID/stat's numbers: f[N] is proc(5)'s field N, for N from 3 to
// 52 (the state letter reads as 0, a sign is dropped). False when it
// cannot be read, or does not parse.
inline bool stat_fields(const char* path, uint64_t (&f)[53]) {
  char buf[1024];
  long fd = raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  long n = raw(SYS_read, fd, (long)buf, sizeof buf - 1);
  raw(SYS_close, fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char* p = nullptr;  // the name may hold ')': the last one ends it
  for (const char* q = buf; *q; q++)
    if (*q == ')') p = q;
  if (!p || p[1] != ' ') return false;
  p += 2;
  for (int i = 0; i < 53; i++) f[i] = 0;
  for (int i = 3; i <= 52 && *p; i++) {
    if (*p == '-') p++;
    if (*p >= 'A' && *p <= 'Z') {  // the state letter
      p++;
    } else {
      uint64_t v = 0;
      while (*p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
      f[i] = v;
    }
    if (*p == ' ') p++;
    else if (*p != '\n' && *p) return false;
  }
  return true;
}
inline bool self_stat_fields(uint64_t (&f)[53]) { return stat_fields("/proc/self/stat", f); }

// A record of getdents64.
struct Dirent64 {
  uint64_t ino;
  int64_t off;
  unsigned short reclen;
  unsigned char type;
  char name[1];
};

inline int memory_elsewhere(long t) {
  long r = raw(SYS_kcmp, raw(SYS_getpid), t, 1 /* KCMP_VM */, 0, 0);
  if (r == 1 || r == 2 || r == -ESRCH) return 1;
  if (r == 0) return 0;
  char path[40];
  proc_fd_path((int)t, path, "task");
  return raw(SYS_faccessat, AT_FDCWD, (long)path, 0 /* F_OK */) == 0 ? 0 : -1;
}

}  // namespace cr::sys
