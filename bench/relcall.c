// relcall: the cost of a stat and of a fork+exec+wait, from inside a root
// of any Debian release (bench/releases.sh).
//
//   relcall PATH PROGRAM [N]   prints "stat NS" and "fork_exec NS" (median of 5 rounds)
//
// It must run against every root's own glibc, from 2.17 on: built on this
// host a program needs __libc_start_main@GLIBC_2.34 and stat@GLIBC_2.33. So it
// has no start files (its own _start) and pins every symbol it uses to the
// oldest version that has it, as mk/check-glibc.sh checks of libcowroot.so.
// Plain C, libc only.
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define BASE "GLIBC_2.17"
#endif
__asm__(".symver __xstat, __xstat@" BASE);
__asm__(".symver fork, fork@" BASE);
__asm__(".symver execve, execve@" BASE);
__asm__(".symver waitpid, waitpid@" BASE);
__asm__(".symver _exit, _exit@" BASE);
__asm__(".symver exit, exit@" BASE);
__asm__(".symver write, write@" BASE);
__asm__(".symver clock_gettime, clock_gettime@GLIBC_2.17");
extern int __xstat(int, const char*, struct stat*);

static char** g_env;

static unsigned long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

static void put(const char* name, unsigned long long v) {
  char buf[64];
  int n = 0;
  while (name[n]) buf[n] = name[n], n++;
  buf[n++] = ' ';
  char d[24];
  int k = 0;
  do d[k++] = (char)('0' + v % 10); while (v /= 10);
  while (k) buf[n++] = d[--k];
  buf[n++] = '\n';
  if (write(1, buf, (size_t)n) != n) _exit(1);
}

static unsigned long long median5(unsigned long long* v) {
  for (int i = 1; i < 5; i++)
    for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
      unsigned long long t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
  return v[2];
}

static int run(int argc, char** argv) {
  if (argc < 3) {
    static const char usage[] = "usage: relcall PATH PROGRAM [N]\n";
    if (write(2, usage, sizeof usage - 1)) _exit(2);
    return 2;
  }
  long n = 0;
  for (const char* p = argc > 3 ? argv[3] : "4000"; *p; p++) n = n * 10 + (*p - '0');
  unsigned long long r[5];
  struct stat st;
  for (int round = -1; round < 5; round++) {  // one round to warm up
    unsigned long long t0 = now_ns();
    for (long i = 0; i < n; i++)
      if (__xstat(1, argv[1], &st) != 0) return 1;
    if (round >= 0) r[round] = (now_ns() - t0) / (unsigned long long)n;
  }
  put("stat", median5(r));
  long m = n / 100 > 10 ? n / 100 : 10;
  char* child_argv[] = {argv[2], 0};
  for (int round = -1; round < 5; round++) {
    unsigned long long t0 = now_ns();
    for (long i = 0; i < m; i++) {
      pid_t p = fork();
      if (p == 0) {
        execve(argv[2], child_argv, g_env);
        _exit(127);
      }
      int status;
      if (p < 0 || waitpid(p, &status, 0) != p || status != 0) return 1;
    }
    if (round >= 0) r[round] = (now_ns() - t0) / (unsigned long long)m;
  }
  put("fork_exec", median5(r));
  return 0;
}

// The kernel's initial stack: argc, argv..., 0, envp..., 0.
__attribute__((used)) static void start_c(long* sp) {
  int argc = (int)sp[0];
  char** argv = (char**)(sp + 1);
  g_env = argv + argc + 1;
  exit(run(argc, argv));
}

#if defined(__x86_64__)
__asm__(".text\n.global _start\n_start:\n xor %ebp, %ebp\n mov %rsp, %rdi\n and $-16, %rsp\n call start_c\n hlt\n");
#elif defined(__aarch64__)
__asm__(".text\n.global _start\n_start:\n mov x29, #0\n mov x30, #0\n mov x0, sp\n bl start_c\n");
#endif
