// A system call made from the caller's own code: no libc and no gate, for
// the code that runs before the library does (cowroot-stub, inside the
// filter's window; cowroot-audit.so, in the root's loader). x86_64 only,
// as both are.
#pragma once

namespace cr::direct {

#if defined(__x86_64__)
inline long sc(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  asm volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9) : "rcx", "r11", "memory");
  return ret;
}
#else
#error "cr::direct: x86_64 only so far"
#endif

}  // namespace cr::direct
