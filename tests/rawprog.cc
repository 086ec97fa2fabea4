// rawprog: a program that bypasses libc. Every file system and identity
// call below is an inline `syscall` instruction (or `int 0x80`), the way
// Go's runtime, static programs and glibc's internal calls reach the
// kernel: no wrapper of libcowroot.so sees them. tests/confine_tests.cc
// runs it inside roots.
//   rawprog MODE [ARG...]
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "../preload/core/direct.h"
#include "deny_call.h"

namespace {

// Its own `syscall` instructions, as a program that bypasses libc has.
using cr::direct::sc;

// The file's content (up to a line), or "ERR<errno>".
const char* slurp(long dirfd, const char* path) {
  static char buf[4][256];
  static int k;
  char* b = buf[k++ % 4];
  long fd = sc(SYS_openat, dirfd, (long)path, O_RDONLY);
  if (fd < 0) {
    snprintf(b, 256, "ERR%ld", -fd);
    return b;
  }
  long n = sc(SYS_read, fd, (long)b, 255);
  sc(SYS_close, fd);
  if (n < 0) n = 0;
  b[n] = 0;
  if (char* nl = strchr(b, '\n')) *nl = 0;
  return b;
}

int basic(const char* out) {
  printf("marker %s\n", slurp(AT_FDCWD, "/etc/marker"));
  long fd = sc(SYS_openat, AT_FDCWD, (long)out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return printf("create %s: %ld\n", out, fd), 1;
  sc(SYS_write, fd, (long)"written raw\n", 12);
  sc(SYS_close, fd);
  long c = sc(SYS_fchownat, AT_FDCWD, (long)out, 123, 456, 0);
  long m = sc(SYS_fchmodat, AT_FDCWD, (long)out, 04711);
  struct stat st;
  long s = sc(SYS_newfstatat, AT_FDCWD, (long)out, (long)&st, 0);
  printf("chown %ld chmod %ld stat %ld owner %u:%u mode %o\n", c, m, s, st.st_uid, st.st_gid, st.st_mode & 07777);
  printf("uid %ld euid %ld gid %ld\n", sc(SYS_getuid), sc(SYS_geteuid), sc(SYS_getgid));
  char cwd[256];
  sc(SYS_chdir, (long)"/usr");
  long n = sc(SYS_getcwd, (long)cwd, sizeof cwd);
  printf("cwd %s\n", n > 0 ? cwd : "?");
  return 0;
}

// The classic ways out of a chroot, each made with raw calls.
int escapes(const char* fd_arg) {
  // chroot into a directory, then climb.
  sc(SYS_mkdirat, AT_FDCWD, (long)"/tmp/jail", 0755);
  long r = sc(SYS_chroot, (long)"/tmp/jail");
  for (int i = 0; i < 30; i++) sc(SYS_chdir, (long)"..");
  printf("chroot %ld climbed %s\n", r, slurp(AT_FDCWD, "etc/marker"));
  sc(SYS_chroot, (long)".");
  printf("after-climb %s\n", slurp(AT_FDCWD, "/etc/marker"));
  // An absolute symlink to a host directory.
  sc(SYS_symlinkat, (long)"/etc", AT_FDCWD, (long)"/tmp/etclink");
  printf("symlink %s\n", slurp(AT_FDCWD, "/tmp/etclink/marker"));
  // /proc/self/root.
  char link[256];
  long n = sc(SYS_readlinkat, AT_FDCWD, (long)"/proc/self/root", (long)link, sizeof link - 1);
  link[n > 0 ? n : 0] = 0;
  printf("proc-root %s %s\n", link, slurp(AT_FDCWD, "/proc/self/root/etc/marker"));
  // A descriptor from outside: the kernel's rules, as through libc.
  if (fd_arg) {
    int fd = atoi(fd_arg);
    char viaLibc[256] = "";
    int lfd = openat(fd, "marker", O_RDONLY);
    if (lfd >= 0) {
      ssize_t k = read(lfd, viaLibc, sizeof viaLibc - 1);
      viaLibc[k > 0 ? k : 0] = 0;
      if (char* nl = strchr(viaLibc, '\n')) *nl = 0;
      close(lfd);
    }
    printf("outside-fd raw=%s libc=%s\n", slurp(fd, "marker"), viaLibc);
  }
  // i386 numbers through int 0x80 from a 64-bit process: 5 is open. A
  // kernel without the 32-bit entry (ia32_emulation off, some hypervisors')
  // kills the caller with SIGSEGV, confined or not: so in a child.
  fflush(stdout);
  pid_t child = fork();
  if (child == 0) {
    long i386;
    asm volatile("int $0x80" : "=a"(i386) : "a"(5), "b"("/etc/marker"), "c"(O_RDONLY), "d"(0) : "memory");
    printf("int80 %ld\n", i386);
    fflush(stdout);
    _exit(0);
  }
  int st = 0;
  if (child > 0 && waitpid(child, &st, 0) == child && WIFSIGNALED(st)) printf("int80 signal %d\n", WTERMSIG(st));
  printf("io_uring %ld clone3 %ld\n", sc(SYS_io_uring_setup, 8, 0), sc(SYS_clone3, 0, 0));
  // The mount API opens a host path as openat would (no privilege needed
  // for open_tree without OPEN_TREE_CLONE): said absent, like pivot_root.
  long tree = sc(SYS_open_tree, AT_FDCWD, (long)"/etc", 0);
  printf("open_tree %ld %s fspick %ld pivot_root %ld\n", tree, tree >= 0 ? slurp((int)tree, "marker") : "-",
         sc(SYS_fspick, AT_FDCWD, (long)"/", 0), sc(SYS_pivot_root, (long)"/tmp", (long)"/tmp/jail"));
  return 0;
}

void* thread_read(void* arg) {
  const char* got = slurp(AT_FDCWD, "/etc/marker");
  *static_cast<int*>(arg) = strcmp(got, "in the root") == 0;
  return nullptr;
}

// fork, vfork, threads and exec, all raw.
int processes() {
  long pid = sc(SYS_fork);
  if (pid == 0) {
    printf("fork-child %s\n", slurp(AT_FDCWD, "/etc/marker"));
    fflush(stdout);
    sc(SYS_exit_group, 0);
  }
  int st;
  sc(SYS_wait4, pid, (long)&st, 0, 0);
  fflush(stdout);
  const char* argv[] = {"cat", "/etc/marker", nullptr};
  const char* envp[] = {"PATH=/bin", nullptr};
  pid = sc(SYS_vfork);
  if (pid == 0) {
    sc(SYS_execve, (long)"/bin/cat", (long)argv, (long)envp);
    sc(SYS_exit_group, 127);
  }
  sc(SYS_wait4, pid, (long)&st, 0, 0);
  printf("vfork-exec status %d\n", WEXITSTATUS(st));
  pthread_t t[4];
  int ok[4] = {};
  for (int i = 0; i < 4; i++) pthread_create(&t[i], nullptr, thread_read, &ok[i]);
  for (int i = 0; i < 4; i++) pthread_join(t[i], nullptr);
  printf("threads %d\n", ok[0] + ok[1] + ok[2] + ok[3]);
  fflush(stdout);
  // Exec of a dynamic program: it runs in the session (one filter, not two).
  const char* sh[] = {"sh", "-c", "grep Seccomp_filters /proc/self/status; cat /etc/marker; id -u", nullptr};
  sc(SYS_execve, (long)"/bin/sh", (long)sh, (long)envp);
  printf("exec failed\n");
  return 1;
}

// fork while another thread is in the middle of trapped calls: the child
// must not inherit a handler's lock that nobody in it will let go.
volatile bool g_busy_stop;
void* busy(void*) {
  struct stat st;
  while (!g_busy_stop) sc(SYS_newfstatat, AT_FDCWD, (long)"/etc/marker", (long)&st, 0);
  return nullptr;
}
int fork_busy() {
  pthread_t t;
  pthread_create(&t, nullptr, busy, nullptr);
  int ok = 0;
  for (int i = 0; i < 40; i++) {
    long pid = sc(SYS_fork);
    if (pid == 0) {
      alarm(10);  // a child stuck on a lock dies of SIGALRM
      struct stat st;
      sc(SYS_exit_group, sc(SYS_newfstatat, AT_FDCWD, (long)"/etc/marker", (long)&st, 0) == 0 ? 0 : 1);
    }
    int status;
    sc(SYS_wait4, pid, (long)&status, 0, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ok++;
  }
  g_busy_stop = true;
  pthread_join(t, nullptr);
  printf("fork-busy %d of 40\n", ok);
  return 0;
}

// Both ends of a fifo opened by two threads (each open waits for the
// other end): a trapped open that blocks must not hold the other thread's.
const char* g_fifo;
void* fifo_writer(void*) {
  long fd = sc(SYS_openat, AT_FDCWD, (long)g_fifo, O_WRONLY);
  if (fd >= 0) {
    sc(SYS_write, fd, (long)"through the fifo", 16);
    sc(SYS_close, fd);
  }
  return nullptr;
}
// A datagram's receiver (with an address buffer: a trapped call) that
// waits for another thread's message, sent after a trapped call of its own.
int g_pair[2];
void* receiver(void*) {
  static char buf[64];
  struct sockaddr_un from {};
  socklen_t fl = sizeof from;
  long n = sc(SYS_recvfrom, g_pair[0], (long)buf, sizeof buf - 1, 0, (long)&from, (long)&fl);
  if (n >= 0) buf[n] = 0;
  return n >= 0 ? buf : nullptr;
}
// Waits in a trapped recvfrom for a datagram that never comes: a signal
// must end it.
int wait_recv() {
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, g_pair) != 0) return perror("socketpair"), 1;
  receiver(nullptr);
  return 0;
}
int fifo(const char* path) {
  alarm(20);  // stuck: dies of SIGALRM (its handler waits too, not SIGKILL)
  g_fifo = path;
  unlink(path);
  if (sc(SYS_mknodat, AT_FDCWD, (long)path, S_IFIFO | 0600, 0) < 0) return perror("mknod"), 1;
  pthread_t t;
  pthread_create(&t, nullptr, fifo_writer, nullptr);
  printf("fifo %s\n", slurp(AT_FDCWD, path));
  pthread_join(t, nullptr);
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, g_pair) != 0) return perror("socketpair"), 1;
  pthread_create(&t, nullptr, receiver, nullptr);
  usleep(100 * 1000);  // the receiver waits in its call by now
  const char* seen = slurp(AT_FDCWD, "/etc/marker");
  sc(SYS_sendto, g_pair[1], (long)seen, (long)strlen(seen), 0, 0, 0);
  void* got;
  pthread_join(t, &got);
  printf("datagram %s\n", got ? static_cast<char*>(got) : "failed");
  return 0;
}

// Calls that act on another process: attach a tracer, read its memory,
// take its descriptor, open its /proc/PID/mem. Each one's result (0 or
// -errno) for `pid`.
// `high`: the upper 32 bits of the pid and the pidfd set, which the
// kernel does not look at.
// `via_libc`: through libc's syscall() (the library's, in a session),
// not an instruction of the program's.
long g_word = 42;
bool g_via_libc;
long call6(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  if (!g_via_libc) return sc(n, a, b, c, d, e, f);
  long r = syscall(n, a, b, c, d, e, f);
  return r == -1 ? -errno : r;
}
void on_process(const char* who, long pid, long high = 0) {
  long attach = call6(SYS_ptrace, 16 /* PTRACE_ATTACH */, pid | high, 0, 0);
  if (attach == 0) {
    int st;
    sc(SYS_wait4, pid, (long)&st, __WALL, 0);
    sc(SYS_ptrace, 17 /* PTRACE_DETACH */, pid, 0, 0);
  }
  long word = 0;
  struct iovec local {&word, sizeof word}, remote{&g_word, sizeof g_word};
  long vm = call6(SYS_process_vm_readv, pid | high, (long)&local, 1, (long)&remote, 1, 0);
  long pidfd = sc(SYS_pidfd_open, pid, 0);
  long getfd = pidfd < 0 ? pidfd : call6(SYS_pidfd_getfd, pidfd | high, 0, 0);
  char mem[64];
  snprintf(mem, sizeof mem, "/proc/%ld/mem", pid);
  long m = sc(SYS_openat, AT_FDCWD, (long)mem, O_RDONLY);
  for (long fd : {pidfd, getfd, m})
    if (fd >= 0) sc(SYS_close, fd);
  printf("%s: attach %ld vm %ld getfd %ld mem %ld\n", who, attach, vm < 0 ? vm : 0, getfd < 0 ? getfd : 0, m < 0 ? m : 0);
}
int others(long outside) {
  long child = sc(SYS_fork);
  if (child == 0) {
    for (;;) pause();
  }
  on_process("child", child);
  kill((pid_t)child, SIGKILL);
  sc(SYS_wait4, child, 0, 0, 0);
  on_process("outside", outside);
  on_process("outside-high", outside, 0xffffffff00000000l);
  g_via_libc = true;
  on_process("outside-syscall()", outside);
  return 0;
}

// Writes over its environment (as a daemon setting its title does) and
// waits to be killed: a process of the session all the same.
int clobber(char** envp) {
  for (char** e = envp; *e; e++) memset(*e, 'x', strlen(*e));
  printf("clobbered\n");
  fflush(stdout);
  for (;;) pause();
}

// A descriptor on a symlink (O_PATH | O_NOFOLLOW) as the directory of
// openat: the kernel says ENOTDIR, whatever the link leads to.
int opath(const char* link, const char* name) {
  long d = sc(SYS_openat, AT_FDCWD, (long)link, O_PATH | O_NOFOLLOW);
  if (d < 0) return printf("opath ERR%ld\n", -d), 0;
  printf("opath %s\n", slurp(d, name));
  return 0;
}

// A thread waiting in rt_sigsuspend (trapped: SIGSYS is taken out of its
// mask) lets the other threads' traps run, and the handler the signal
// runs finds its own thread-local data.
__thread long t_mine = 12345;
long g_seen = -1;
long g_main_tid;
void on_usr2(int) { g_seen = t_mine; }
void* poker(void*) {
  usleep(100 * 1000);
  printf("poker %s\n", slurp(AT_FDCWD, "/etc/marker"));
  fflush(stdout);
  sc(SYS_tgkill, getpid(), g_main_tid, SIGUSR2);
  return nullptr;
}
int suspend() {
  alarm(30);
  g_main_tid = sc(SYS_gettid);
  struct sigaction sa {};
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, nullptr);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  sigprocmask(SIG_BLOCK, &block, nullptr);
  pthread_t t;
  pthread_create(&t, nullptr, poker, nullptr);
  unsigned long none = 0;
  long r = sc(SYS_rt_sigsuspend, (long)&none, 8);
  pthread_join(t, nullptr);
  printf("suspend %ld handler saw %ld\n", r, g_seen);
  return 0;
}

void on_usr1(int) {
  const char* got = slurp(AT_FDCWD, "/etc/marker");
  sc(SYS_write, 1, (long)"handler ", 8);
  sc(SYS_write, 1, (long)got, (long)strlen(got));
  sc(SYS_write, 1, (long)"\n", 1);
}

int seen_sigsys;
void on_sigsys(int) { seen_sigsys++; }

// Signal masks and handlers: a blocked SIGSYS would end the process at
// the next trapped call.
int signals() {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, nullptr);
  printf("blocked-libc %s\n", slurp(AT_FDCWD, "/etc/marker"));
  unsigned long raw_all = ~0ul;
  sc(SYS_rt_sigprocmask, SIG_SETMASK, (long)&raw_all, 0, 8);
  printf("blocked-raw %s\n", slurp(AT_FDCWD, "/etc/marker"));
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // BSD's calls (dash uses them around every program it starts).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const int usr1 = 1 << (SIGUSR1 - 1), usr2 = 1 << (SIGUSR2 - 1);
  int bsd_old = sigsetmask(~0 & ~usr2);
  int bsd_now = sigblock(0);
  int bsd_before = sigblock(usr2);
  int bsd_after = sigblock(0);
  printf("blocked-bsd %s old %x usr1 %d usr2 %d then %d\n", slurp(AT_FDCWD, "/etc/marker"), (unsigned)bsd_old,
         (bsd_now & usr1) != 0, (bsd_before & usr2) != 0, (bsd_after & usr2) != 0);
  sigsetmask(0);
#pragma GCC diagnostic pop
  struct sigaction sa {};
  sa.sa_handler = on_usr1;
  sigfillset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, nullptr);
  fflush(stdout);
  raise(SIGUSR1);
  // The program's own SIGSYS handler: it gets the SIGSYS that are not
  // the confinement's, and reads back as set.
  struct sigaction mine {}, back{};
  mine.sa_handler = on_sigsys;
  sigaction(SIGSYS, &mine, nullptr);
  sigaction(SIGSYS, nullptr, &back);
  kill(getpid(), SIGSYS);
  printf("own-sigsys %s seen %d still %s\n", back.sa_handler == on_sigsys ? "kept" : "lost", seen_sigsys,
         slurp(AT_FDCWD, "/etc/marker"));
  return 0;
}

// A thread with an alternate signal stack (as each of Go's has) whose raw
// calls are trapped while another thread sends it signals without pause
// (as Go's preemption and SIGCHLD do): a signal that came as the trap's
// handler moved off that stack was put at its top, over the trap's frame,
// and the call returned to garbage (Go: "PC=0x0", "split stack overflow").
volatile sig_atomic_t g_storm_seen;
std::atomic<bool> g_storm_stop{false};
void on_storm(int) { g_storm_seen = g_storm_seen + 1; }

int altstack(long rounds) {
  static char stack[64 * 1024];
  stack_t ss{};
  ss.ss_sp = stack;
  ss.ss_size = sizeof stack;
  if (sigaltstack(&ss, nullptr)) return perror("rawprog: sigaltstack"), 1;
  struct sigaction sa {};
  sa.sa_handler = on_storm;
  sa.sa_flags = SA_ONSTACK | SA_RESTART;
  sigaction(SIGUSR2, &sa, nullptr);
  static long target;
  target = sc(SYS_gettid);
  pthread_t t;
  pthread_create(
      &t, nullptr,
      [](void*) -> void* {
        long pid = sc(SYS_getpid);
        while (!g_storm_stop.load(std::memory_order_relaxed)) sc(SYS_tgkill, pid, target, SIGUSR2);
        return nullptr;
      },
      nullptr);
  char first[256];
  snprintf(first, sizeof first, "%s", slurp(AT_FDCWD, "/etc/marker"));
  long bad = 0;
  for (long i = 0; i < rounds; i++)
    if (strcmp(slurp(AT_FDCWD, "/etc/marker"), first)) bad++;
  g_storm_stop = true;
  pthread_join(t, nullptr);
  printf("altstack %s bad %ld signalled %s\n", first, bad, g_storm_seen > 0 ? "yes" : "no");
  return 0;
}

// What a trap costs a thread with a signal stack (a Go thread's case):
// N raw stats of /etc/marker, the mean in ns (bench/confine.sh's dynamic
// row; with `plain`, no signal stack).
int trapcost(long rounds, bool with_stack) {
  static char stack[64 * 1024];
  if (with_stack) {
    stack_t ss{};
    ss.ss_sp = stack;
    ss.ss_size = sizeof stack;
    sigaltstack(&ss, nullptr);
  }
  struct stat st;
  timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < rounds; i++) sc(SYS_newfstatat, AT_FDCWD, (long)"/etc/marker", (long)&st, 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("trapcost %s %.0f ns\n", with_stack ? "altstack" : "plain",
         ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / rounds);
  return 0;
}

}  // namespace

// The program's own umask with modes that carry setuid, setgid and sticky
// bits (Go's os.Mkdir(p, ModeSticky|0755) under syscall.Umask(077)), and
// mkdir's mode, which never takes setgid: the modes made in DIR.
int umask_modes(const char* dir) {
  sc(SYS_umask, 077);
  char p[4][512];
  const char* names[] = {"d-sticky", "f-setuid", "p-sticky", "d-setgid"};
  for (int i = 0; i < 4; i++) snprintf(p[i], sizeof p[i], "%s/%s", dir, names[i]);
  sc(SYS_mkdirat, AT_FDCWD, (long)p[0], 01755);
  long fd = sc(SYS_openat, AT_FDCWD, (long)p[1], O_WRONLY | O_CREAT, 04755);
  if (fd >= 0) sc(SYS_close, fd);
  sc(SYS_mknodat, AT_FDCWD, (long)p[2], S_IFIFO | 01666, 0);
  sc(SYS_mkdirat, AT_FDCWD, (long)p[3], 02775);
  for (int i = 0; i < 4; i++) {
    struct stat st;
    long r = sc(SYS_newfstatat, AT_FDCWD, (long)p[i], (long)&st, AT_SYMLINK_NOFOLLOW);
    printf("%s %lo\n", names[i], r < 0 ? 0ul : (unsigned long)(st.st_mode & 07777));
  }
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const char* mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "basic")) return basic(argc > 2 ? argv[2] : "/tmp/out");
  if (!strcmp(mode, "escapes")) return escapes(argc > 2 ? argv[2] : nullptr);
  if (!strcmp(mode, "processes")) return processes();
  if (!strcmp(mode, "signals")) return signals();
  if (!strcmp(mode, "fork-busy")) return fork_busy();
  if (!strcmp(mode, "fifo")) return fifo(argc > 2 ? argv[2] : "/tmp/fifo");
  if (!strcmp(mode, "others") && argc > 2) return others(atol(argv[2]));
  if (!strcmp(mode, "wait-recv")) return wait_recv();
  if (!strcmp(mode, "clobber")) return clobber(environ);
  if (!strcmp(mode, "opath") && argc > 3) return opath(argv[2], argv[3]);
  if (!strcmp(mode, "suspend")) return suspend();
  // CMD where seccomp filters cannot be installed (a container whose
  // profile forbids them): seccomp() fails with EPERM.
  if (!strcmp(mode, "deny-seccomp") && argc > 2) return run_denying(SYS_seccomp, argv + 2);
  if (!strcmp(mode, "altstack")) return altstack(argc > 2 ? atol(argv[2]) : 20000);
  if (!strcmp(mode, "trapcost")) return trapcost(argc > 2 ? atol(argv[2]) : 100000, !(argc > 3 && !strcmp(argv[3], "plain")));
  if (!strcmp(mode, "umask") && argc > 2) return umask_modes(argv[2]);
  fprintf(stderr, "usage: rawprog basic|escapes|processes|signals|fork-busy | rawprog fifo PATH | rawprog others PID | rawprog wait-recv | rawprog clobber | rawprog opath LINK NAME | rawprog suspend | rawprog deny-seccomp CMD... | rawprog umask DIR\n");
  return 2;
}
