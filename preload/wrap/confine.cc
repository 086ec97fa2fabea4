// The confinement of system calls that bypass libc (core/confine.h): the
// library's start installs the filter (or finds it inherited) and the
// SIGSYS handler that serves the trapped calls through the table's doors
// (syscall_door), exactly as the libc wrappers and syscall() do.
#include <link.h>
#include <signal.h>
#include <stdlib.h>
#include <linux/futex.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <time.h>
#include <ucontext.h>

#include <atomic>
#include <cstring>

#include "../core/confine.h"
#include "../core/exec.h"
#include "doors.h"

namespace cr::wrap {

CR_TLS int t_pass;
CR_TLS const char* t_passed[kPassedMax];
CR_TLS int t_npassed;

#if defined(__x86_64__)
namespace {

using confine::KSigaction;
using confine::kSaRestorer;
using confine::kSigsysBit;
using confine::kUnblockable;

// The program's own SIGSYS disposition, as it believes it set it: it gets
// the SIGSYS signals that are not our traps.
KSigaction g_program_sigsys{};
std::atomic<int> g_sigsys_lock{0};

struct Range {
  uintptr_t lo = 0, hi = 0;
  bool has(uintptr_t a) const { return a >= lo && a < hi; }
};
// The code of libc and of the dynamic loader: calls made from there while
// a wrapper runs libc's own function on the program's behalf pass. Before
// glibc 2.34, libpthread is a library of its own that defines read, open,
// write, close … over libc's (a threaded program's real `open` is its), so
// its code passes too.
Range g_libc, g_ldso, g_libpthread;

extern "C" void cr_sigreturn();
extern "C" void cr_gate_local();
// The bytes of glibc's __restore_rt (mov $15, %rax; syscall): unwinders
// recognise a signal frame by them.
asm(".text\n.p2align 4\n.hidden cr_sigreturn\n.type cr_sigreturn,@function\ncr_sigreturn:\n"
    " .byte 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00\n syscall\n hlt\n");

// The handler's own stacks. A trapped call may run the exec path or break
// a large file's link (100 KiB of stack and more), far beyond the 32 KiB of
// signal stack Go gives a thread: every trap runs on one of these, claimed
// for the call. Reserved on the first trap, touched as needed.
constexpr size_t kStackSize = 256 * 1024;
constexpr int kStacks = 64;
std::atomic<char*> g_stacks{nullptr};
std::atomic<uint64_t> g_busy{0};
std::atomic<long> g_owner[kStacks];  // the thread that execs on it, if one does

// A vfork child that execs in the handler never gives its stack back (the
// one trapped call that does not return): a slot whose exec'ing thread no
// longer shares this address space (kcmp) is free.
void reclaim() {
  for (int i = 0; i < kStacks; i++) {
    long t = g_owner[i].load(std::memory_order_relaxed);
    if (t > 0 && sys::memory_elsewhere(t) != 0) {  // (never a thread of this process)
      g_owner[i].store(0, std::memory_order_relaxed);
      g_busy.fetch_and(~(1ull << i), std::memory_order_release);
    }
  }
}

char* claim_stack(int* slot) {
  char* base = g_stacks.load(std::memory_order_acquire);
  if (!base) {
    long m = sys::raw(SYS_mmap, 0, (long)(kStackSize * kStacks), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m < 0 && m > -4096) return nullptr;
    char* expected = nullptr;
    if (g_stacks.compare_exchange_strong(expected, reinterpret_cast<char*>(m))) {
      base = reinterpret_cast<char*>(m);
    } else {
      sys::raw(SYS_munmap, m, (long)(kStackSize * kStacks));
      base = expected;
    }
  }
  for (int round = 0; round < 2; round++) {
    uint64_t busy = g_busy.load(std::memory_order_relaxed);
    while (busy != ~0ull) {
      int i = __builtin_ctzll(~busy);
      if (g_busy.compare_exchange_weak(busy, busy | (1ull << i), std::memory_order_acquire)) {
        *slot = i;
        return base + (size_t)(i + 1) * kStackSize;
      }
    }
    reclaim();
  }
  return nullptr;
}

void release_stack(int slot) {
  g_owner[slot].store(0, std::memory_order_relaxed);
  g_busy.fetch_and(~(1ull << slot), std::memory_order_release);
}

// Calls fn(sig, si, uc) with its stack at `top` (exec.h's trampoline).
void cr_on_stack(char* top, void (*fn)(int, siginfo_t*, void*), int sig, siginfo_t* si, void* uc) {
  struct Call {
    void (*fn)(int, siginfo_t*, void*);
    int sig;
    siginfo_t* si;
    void* uc;
  } c{fn, sig, si, uc};
  cr_call_on_stack(
      top,
      [](void* a) -> long {
        auto* c = static_cast<Call*>(a);
        c->fn(c->sig, c->si, c->uc);
        return 0;
      },
      &c);
}

long call(long nr, const long* a) { return sys::raw(nr, a[0], a[1], a[2], a[3], a[4], a[5]); }

// A copy of a signal set without SIGSYS, for the calls that take one.
// (A wait with the program's mask, which lets its handlers run: in a
// borrowing trap, with its own thread pointer and the lock let go.)
long with_mask_stripped(long nr, long* a, int arg) {
  auto call = [nr](const long* b) { return confine::waiting([] { return true; }, [&] { return ::cr::wrap::call(nr, b); }); };
  if (!a[arg]) return call(a);
  uint64_t copy;
  if (nr == SYS_pselect6) {
    // pselect6's last argument: {const sigset_t*, size_t}
    auto* in = reinterpret_cast<const long*>(a[arg]);
    if (!in[0]) return call(a);
    copy = *reinterpret_cast<const uint64_t*>(in[0]) & ~kSigsysBit;
    long pair[2] = {(long)&copy, in[1]};
    long b[6] = {a[0], a[1], a[2], a[3], a[4], (long)pair};
    return call(b);
  }
  copy = *reinterpret_cast<const uint64_t*>(a[arg]) & ~kSigsysBit;
  long b[6] = {a[0], a[1], a[2], a[3], a[4], a[5]};
  b[arg] = (long)&copy;
  return call(b);
}

long sigaction_call(long* a, bool passing) {
  int sig = (int)a[0];
  auto* act = reinterpret_cast<const KSigaction*>(a[1]);
  auto* old = reinterpret_cast<KSigaction*>(a[2]);
  if (sig == SIGSYS) {
    // Ours stays; the program's is kept aside. (A vfork child of libc's
    // own, resetting handlers before its exec, changes nothing.)
    while (g_sigsys_lock.exchange(1, std::memory_order_acquire)) {
    }
    KSigaction prev = g_program_sigsys;
    if (act && !passing) g_program_sigsys = *act;
    g_sigsys_lock.store(0, std::memory_order_release);
    if (old) *old = prev;
    return 0;
  }
  if (!act) return call(SYS_rt_sigaction, a);
  KSigaction copy = *act;
  copy.mask &= ~kSigsysBit;  // a handler that runs with SIGSYS blocked could not make a trapped call
  long b[6] = {a[0], (long)&copy, a[2], a[3], 0, 0};
  return call(SYS_rt_sigaction, b);
}

// rt_sigprocmask, emulated: the mask the program returns to is the one in
// the signal frame, and SIGSYS stays out of it.
long sigprocmask_call(const long* a, ucontext_t* uc) {
  auto* mask = reinterpret_cast<uint64_t*>(&uc->uc_sigmask);
  uint64_t cur = *mask;
  if (a[1]) {
    uint64_t set = *reinterpret_cast<const uint64_t*>(a[1]);
    if (a[0] == SIG_BLOCK) cur |= set;
    else if (a[0] == SIG_UNBLOCK) cur &= ~set;
    else if (a[0] == SIG_SETMASK) cur = set;
    else return -EINVAL;
  }
  if (a[2]) *reinterpret_cast<uint64_t*>(a[2]) = *mask;
  *mask = cur & ~(kSigsysBit | kUnblockable);
  return 0;
}

// A SIGSYS that is not our trap (another filter's, or a kill): the
// program's handler, or the default action.
void foreign(int sig, siginfo_t* si, void* uc) {
  KSigaction h = g_program_sigsys;
  if (h.handler == reinterpret_cast<void*>(SIG_IGN)) return;
  if (h.handler == reinterpret_cast<void*>(SIG_DFL)) {
    KSigaction dfl{};
    sys::raw(SYS_rt_sigaction, SIGSYS, (long)&dfl, 0, 8);
    sys::raw(SYS_tgkill, sys::raw(SYS_getpid), sys::raw(SYS_gettid), SIGSYS);
    return;
  }
  if (h.flags & SA_RESETHAND) g_program_sigsys.handler = reinterpret_cast<void*>(SIG_DFL);
  if (h.flags & SA_SIGINFO) reinterpret_cast<void (*)(int, siginfo_t*, void*)>(h.handler)(sig, si, uc);
  else reinterpret_cast<void (*)(int)>(h.handler)(sig);
}

// The process a pidfd refers to (/proc/self/fdinfo/N's "Pid:"), or 0.
long pidfd_pid(int fd) {
  char path[48];
  sys::proc_fd_path(fd, path, "fdinfo");
  long f = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return 0;
  char buf[512];
  long n = sys::raw(SYS_read, f, (long)buf, sizeof buf - 1);
  sys::raw(SYS_close, f);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = strstr(buf, "\nPid:\t");
  return p ? strtol(p + 6, nullptr, 10) : 0;
}

// A call that acts on another process (a tracer's attach, its memory, its
// descriptors), in a root: refused for a process outside the session, as
// the kernel refuses one we may not trace (EPERM). What is outside acts
// on the host.
// (The kernel takes a pid or a descriptor as 32 bits: so does the check.)
long on_process(long nr, const long* a) {
  if (g_root.active) {
    long pid = nr == SYS_ptrace ? ((a[0] == 16 || a[0] == 0x4206) ? (int)a[1] : 0)  // ATTACH, SEIZE
               : nr == SYS_pidfd_getfd ? pidfd_pid((int)a[0])
                                       : (int)a[0];
    if (nr == SYS_pidfd_getfd && !pid) return -EBADF;  // not a pidfd (or none we can read)
    if (pid && foreign_pid(pid)) return -EPERM;
  }
  return call(nr, a);
}

// Served calls that may wait for another thread of the program: a fifo's
// open waits for its other end, a blocking socket for its peer.
bool may_wait(long nr) {
  switch (nr) {
    case SYS_open: case SYS_openat: case SYS_creat:
    case SYS_connect: case SYS_accept: case SYS_accept4:
    case SYS_sendto: case SYS_sendmsg: case SYS_sendmmsg:
    case SYS_recvfrom: case SYS_recvmsg: case SYS_recvmmsg:
      return true;
    default:
      return false;
  }
}
// Whether such a call may wait long (confine::waiting: signals come in).
bool waits_long(long nr, const long* a) {
  switch (nr) {
    case SYS_open: return confine::open_may_wait(AT_FDCWD, (const char*)a[0], (int)a[1]);
    case SYS_openat: return confine::open_may_wait((int)a[0], (const char*)a[1], (int)a[2]);
    case SYS_creat: return confine::open_may_wait(AT_FDCWD, (const char*)a[0], O_CREAT | O_WRONLY | O_TRUNC);
    case SYS_sendto: case SYS_recvfrom: case SYS_sendmmsg: case SYS_recvmmsg:
      return confine::socket_may_wait((int)a[0], (int)a[3]);
    case SYS_sendmsg: case SYS_recvmsg: return confine::socket_may_wait((int)a[0], (int)a[2]);
    default: return confine::socket_may_wait((int)a[0], 0);
  }
}

// The arguments of a call that are paths (at most two): their indices.
int path_args(long nr, int idx[2]) {
  switch (nr) {
    case SYS_open: case SYS_creat: case SYS_stat: case SYS_lstat: case SYS_access: case SYS_unlink:
    case SYS_mkdir: case SYS_rmdir: case SYS_chmod: case SYS_chown: case SYS_lchown: case SYS_truncate:
    case SYS_readlink: case SYS_chdir: case SYS_mknod: case SYS_statfs: case SYS_chroot: case SYS_utime:
    case SYS_utimes: case SYS_setxattr: case SYS_lsetxattr: case SYS_getxattr: case SYS_lgetxattr:
    case SYS_listxattr: case SYS_llistxattr: case SYS_removexattr: case SYS_lremovexattr:
      idx[0] = 0;
      return 1;
    case SYS_openat: case SYS_newfstatat: case SYS_statx: case SYS_faccessat: case SYS_unlinkat:
    case SYS_mkdirat: case SYS_fchmodat: case SYS_fchownat: case SYS_readlinkat: case SYS_mknodat:
    case SYS_utimensat: case SYS_futimesat: case SYS_inotify_add_watch:
#ifdef SYS_faccessat2
    case SYS_faccessat2:
#endif
#ifdef SYS_openat2
    case SYS_openat2:
#endif
#ifdef SYS_fchmodat2
    case SYS_fchmodat2:
#endif
      idx[0] = 1;
      return 1;
    case SYS_rename: case SYS_link: idx[0] = 0; idx[1] = 1; return 2;
    case SYS_symlink: idx[0] = 1; return 1;  // the target is the link's content
    case SYS_renameat: case SYS_renameat2: case SYS_linkat: idx[0] = 1; idx[1] = 3; return 2;
    case SYS_symlinkat: idx[0] = 2; return 1;
    case SYS_fanotify_mark: idx[0] = 4; return 1;
    default: return 0;
  }
}

// While a wrapper runs libc's function, libc's calls carry the paths the
// wrapper translated (t_passed, by address): those pass as they are. Code
// of the program's can run meanwhile on the same thread (a library's
// constructor in dlopen, a signal handler while a wrapped call blocks, a
// scandir callback) and call libc with paths of its own, which the kernel
// must not walk: a link in the root to a host directory would be followed
// on the host. So, besides the wrapper's own strings, only empty paths
// and the loader's links pass as they are; any other host path of the
// root (one libc made from the wrapper's: nftw's, glob's) is served as the
// inside path it names (its links then followed in the root), and any
// other path as the program's. True when the call may pass as it is.
bool passes_as_is(long nr, long* a, PathBuf* inside) {
  if (!g_root.active) return true;
  int idx[2];
  int n = path_args(nr, idx);
  bool as_is = true;
  for (int i = 0; i < n; i++) {
    const char* p = reinterpret_cast<const char*>(a[idx[i]]);
    if (!p || !*p) continue;
    bool given = false;
    for (int k = 0; k < t_npassed && k < kPassedMax && !given; k++) given = t_passed[k] == p;
    if (given) continue;
    if (p[0] == '/' && loader_links_path(p)) continue;
    as_is = false;
    if (p[0] == '/' && root_host_path(p) && to_inside(p, inside[i], sizeof inside[i])) a[idx[i]] = (long)inside[i];
  }
  return as_is;
}

long serve(long nr, long* a, ucontext_t* uc, uintptr_t ip) {
  bool from_libc = g_libc.has(ip) || g_ldso.has(ip) || g_libpthread.has(ip);
  bool passing = from_libc && t_pass > 0;
  switch (nr) {
    case SYS_rt_sigaction: return sigaction_call(a, passing);
    case SYS_rt_sigprocmask: return sigprocmask_call(a, uc);
    case SYS_ptrace:
      // PTRACE_TRACEME made by the program's own code (a static program,
      // Go: os.StartProcess with SysProcAttr.Ptrace, delve): its tracer
      // makes raw calls too, whose wait this library cannot hold back, and
      // would take the confinement's first trap in the child (its exec)
      // for a stop and wait for ever. Refused in one line (libc's ptrace,
      // a debugger's child's, is served as ever).
      if (a[0] == PTRACE_TRACEME && !from_libc) {
        errline(g_root.exe[0] ? g_root.exe : "a program",
                ": PTRACE_TRACEME by a program that makes its own system calls: its tracer would wait for ever on "
                "the confinement's traps: refused");
        return -EPERM;
      }
      return on_process(nr, a);
    case SYS_process_vm_readv:
    case SYS_process_vm_writev:
    case SYS_pidfd_getfd: return on_process(nr, a);
    case SYS_rt_sigsuspend: return with_mask_stripped(nr, a, 0);
    case SYS_ioctl:  // trapped only for the inode-flags requests (core/confine.cc)
      if (ops::is_inode_flags_request((unsigned)a[1]))
        return kernel_result(ops::set_inode_flags((int)a[0], (unsigned)a[1], reinterpret_cast<void*>(a[2])));
      return call(nr, a);
    case SYS_ppoll: return with_mask_stripped(nr, a, 3);
    case SYS_pselect6: return with_mask_stripped(nr, a, 5);
    case SYS_epoll_pwait:
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2:
#endif
      return with_mask_stripped(nr, a, 4);
    default: break;
  }
  // libc's own open of its gconv cache or configuration (gconv.cc): by the
  // inside name it was built with, also while a wrapper runs libc's
  // function (an fopen with ",ccs=", a library's constructor in dlopen),
  // whose own paths are host paths of the root already.
  if (from_libc && (nr == SYS_openat || nr == SYS_open)) {
    bool at = nr == SYS_openat;
    const char* p = reinterpret_cast<const char*>(a[at ? 1 : 0]);
    if ((!at || (int)a[0] == AT_FDCWD) && p &&
        !(passing && g_root.top_len && strncmp(p, g_root.top, g_root.top_len) == 0))
      if (long fd = gconv_open(p, (int)a[at ? 2 : 1]); fd >= 0) return fd;
  }
  // libc's own function, run by a wrapper with paths resolved already
  // (one that may wait: its socket calls, an open).
  PathBuf inside[2];
  if (passing && !passes_as_is(nr, a, inside)) passing = false;
  if (passing) {
    if (!may_wait(nr)) return call(nr, a);
    return confine::waiting([&] { return waits_long(nr, a); }, [&] { return call(nr, a); });
  }
  bool served;
  long r = syscall_door(nr, a, &served);
  return served ? r : call(nr, a);
}

void trapped(int, siginfo_t*, void* ucv) {
  auto* uc = static_cast<ucontext_t*>(ucv);
  greg_t* g = uc->uc_mcontext.gregs;
  int saved = errno;
  long a[6] = {g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8], g[REG_R9]};
  vm_check();
  g[REG_RAX] = serve(g[REG_RAX], a, uc, (uintptr_t)g[REG_RIP]);
  errno = saved;
}

// trapped, on a stack of the pool, when the thread has an alternate signal
// stack (Go's threads do). The kernel puts a signal that arrives meanwhile
// (Go preempts and collects with signals; a nested trap) at the top of
// that stack when the interrupted code is not on it: over this handler's
// frame and the trapped call's context, which are there (the program
// jumped to address 0). So while the trap is served the pool's stack is
// the thread's signal stack: such a signal goes on it, below (Go's runtime
// takes a signal stack that C code set, as with cgo, and throws when there
// is none). The program's is put back by on_sigsys, off this one: the
// kernel refuses to change the stack a thread is on. It can be changed
// only from the pool's stack, so in between, the handler off the
// program's signal stack and that stack still the signal stack, a signal
// would go at its top all the same (one run in 25 of a cgo program that
// starts 100: "PC=0x0", "split stack overflow"): signals are blocked from
// before the move (on_sigsys) until the pool's stack is the signal stack,
// then the mask the handler started with is back for the call (a long
// wait lets the program's handlers run).
struct KStack {
  void* sp;
  int flags;
  size_t size;
};
uint64_t g_slot_mask[kStacks];  // the mask each slot's handler started with
bool g_slot_blocked[kStacks];    // whether on_sigsys blocked them to move
void trapped_on_pool_stack(int sig, siginfo_t* si, void* uc) {
  char here;
  char* base = g_stacks.load(std::memory_order_relaxed);
  size_t slot = (size_t)(&here - base) / kStackSize;
  KStack pool{base + slot * kStackSize, 0, kStackSize};
  sys::raw(SYS_sigaltstack, (long)&pool, 0);
  if (g_slot_blocked[slot]) sys::raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&g_slot_mask[slot], 0, 8);
  trapped(sig, si, uc);
}

// A static program (static.cc) owns the thread pointer: the handler runs
// libc's code, which finds its thread-local data through it (errno, the
// robust mutex list). So each trap borrows the one glibc thread of the
// process, the main one the loader made: its thread pointer is put in
// place and the trap is served under a lock (one at a time), with every
// other signal blocked (a program's handler must not run with ours).
bool g_static;
bool g_fsgsbase;
uint64_t g_main_fs;
std::atomic<uint32_t> g_static_lock{0};  // 0 free, else its taker (static_lock)

uint64_t read_fs() {
  uint64_t v = 0;
  if (g_fsgsbase) asm volatile("rdfsbase %0" : "=r"(v));
  else sys::raw(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, (long)&v);
  return v;
}
void write_fs(uint64_t v) {
  if (g_fsgsbase) asm volatile("wrfsbase %0" : : "r"(v) : "memory");
  else sys::raw(SYS_arch_prctl, 0x1002 /* ARCH_SET_FS */, (long)v);
}
// The lock word holds its taker's thread id (and kWaiters when someone
// waits): a fork's child inherits the lock as it was, and if another thread
// held it then, nobody in the child would ever let it go. A waiter takes it
// over from a taker that does not share its memory (kcmp: the parent of a
// fork, a thread gone); a vfork child does share it.
constexpr uint32_t kWaiters = 1u << 31;

bool owner_gone(uint32_t word) {
  long t = (long)(word & ~kWaiters);
  // (Where kcmp is refused: a thread of this process is never taken over
  // from; any other taker is, as a fork's parent's must be.)
  return t > 0 && sys::memory_elsewhere(t) != 0;
}

void static_lock() {
  uint32_t me = (uint32_t)sys::raw(SYS_gettid);
  uint32_t c = 0;
  while (!g_static_lock.compare_exchange_strong(c, me, std::memory_order_acquire)) {
    if (!(c & kWaiters) && !g_static_lock.compare_exchange_strong(c, c | kWaiters, std::memory_order_relaxed))
      continue;  // changed meanwhile: look again
    c |= kWaiters;
    timespec wait{0, 50 * 1000 * 1000};
    if (sys::raw(SYS_futex, (long)&g_static_lock, FUTEX_WAIT_PRIVATE, (long)c, (long)&wait) == -ETIMEDOUT &&
        owner_gone(c) && g_static_lock.compare_exchange_strong(c, me | kWaiters, std::memory_order_acquire))
      return;  // taken over
    c = 0;
  }
}
void static_unlock() {
  if (g_static_lock.exchange(0, std::memory_order_release) & kWaiters)
    sys::raw(SYS_futex, (long)&g_static_lock, FUTEX_WAKE_PRIVATE, 1);
}

// What the borrowing trap that holds the lock took away: the program's
// thread pointer and the mask of its frame (given back before an exec).
uint64_t g_borrow_fs, g_borrow_mask;
std::atomic<bool> g_dynamic_borrowed{false};  // a dynamic program's trap borrowed once: the exec hook looks
// Set in the borrowed thread's data while a trap holds it (never in a glibc
// thread's own: those do not borrow).
CR_TLS bool t_borrowed;

void block_all_but_sigsys() {
  uint64_t all = ~kSigsysBit;
  sys::raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, 0, 8);
}

// Takes the lock and the main thread's thread pointer, keeping what the
// program had (give_back is the other way).
void lend(uint64_t fs, uint64_t mask) {
  static_lock();
  g_borrow_fs = fs;
  g_borrow_mask = mask;
  write_fs(g_main_fs);
  t_borrowed = true;
}

// A dynamic program's code may set a thread pointer of its own too: Go
// built as a PIE without cgo is loaded by the loader (so this library is
// in it) but its runtime makes its threads and their thread-local storage
// itself, and never calls libc. Its traps borrow the main thread's glibc
// thread pointer the same way (g_main_fs, taken when the library started).
// A glibc thread pointer points at the thread's control block, which
// starts with a pointer to itself (tcbhead_t.tcb), again at offset 16
// (self): anything else is a program's own.
bool own_thread_pointer(uint64_t* fs) {
  uint64_t head, self;
  if (g_fsgsbase) {
    asm volatile("rdfsbase %0" : "=r"(*fs));
    if (!*fs) return true;
    asm volatile("movq %%fs:0, %0" : "=r"(head));
    return head != *fs;
  }
  asm volatile("movq %%fs:0, %0" : "=r"(head));
  asm volatile("movq %%fs:16, %0" : "=r"(self));
  if (head && head == self) return false;
  *fs = read_fs();
  return true;
}

void on_sigsys(int sig, siginfo_t* si, void* uc) {
  if (si->si_code != 1 /* SYS_SECCOMP */ || si->si_errno != confine::kTrapData) return foreign(sig, si, uc);
  // In a static program, a trap made while the handler already runs
  // libc's code (a door's own call) has the borrowed thread pointer.
  uint64_t fs = 0;
  bool borrow = g_static ? (fs = read_fs()) != g_main_fs : g_main_fs && own_thread_pointer(&fs);
  if (borrow) {
    if (!g_static) {
      // As a static program's handler has them blocked by its sigaction:
      // a program's handler (Go's, which finds its own data through the
      // thread pointer) must not run on the borrowed one. The frame's mask
      // comes back with sigreturn.
      block_all_but_sigsys();
      g_dynamic_borrowed.store(true, std::memory_order_relaxed);
    }
    lend(fs, *reinterpret_cast<uint64_t*>(&static_cast<ucontext_t*>(uc)->uc_sigmask) & ~kSigsysBit);
    // Nobody else's trap is under way on it (one that waits keeps its own
    // aside), whatever a handler that jumped out of a wait left.
    t_pass = 0;
  }
  int slot;
  if (char* top = claim_stack(&slot)) {
    auto* u = static_cast<ucontext_t*>(uc);
    long nr = u->uc_mcontext.gregs[REG_RAX];
    if (nr == SYS_execve || nr == SYS_execveat) g_owner[slot].store(sys::raw(SYS_gettid), std::memory_order_relaxed);
    // (The kernel saves the thread's stack there, but not always the
    // SS_DISABLE of none: a size of 0 is none.)
    if (u->uc_stack.ss_size == 0 || (u->uc_stack.ss_flags & SS_DISABLE)) {
      cr_on_stack(top, &trapped, sig, si, uc);  // a signal goes on the current stack: this one
    } else {
      // (A static program's handler and a borrowing trap have them
      // blocked already.)
      g_slot_blocked[slot] = !g_static && !borrow;
      if (g_slot_blocked[slot]) {
        uint64_t all = ~kSigsysBit;
        sys::raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&all, (long)&g_slot_mask[slot], 8);
      }
      cr_on_stack(top, &trapped_on_pool_stack, sig, si, uc);
      KStack back{u->uc_stack.ss_sp, 0, u->uc_stack.ss_size};
      sys::raw(SYS_sigaltstack, (long)&back, 0);
    }
    release_stack(slot);
  } else {
    trapped(sig, si, uc);  // 64 at once: on the thread's own stack
  }
  if (borrow) {
    t_borrowed = false;
    write_fs(fs);
    static_unlock();
  }
}

// confine::waiting's hooks (confine.h). Declared here, after give_back.
bool borrowed() { return t_borrowed; }
int let_go(bool signals, confine::ExecSaved* saved);
void take_again(int how, const confine::ExecSaved* saved);

// exec_program's hooks for an exec made from a borrowing trap. The lock is
// not held across a successful exec (a vfork child's exec would leave it
// taken for good), and the program's thread pointer and signal mask go
// back first: the kernel keeps the mask across exec, and with every signal
// blocked the program started (and all it starts) would ignore Ctrl-C and
// SIGTERM. From here on only the exec's own system call runs (a signal that
// comes meanwhile finds the program's thread pointer, as it expects).
bool give_back(confine::ExecSaved* saved) {
  saved->fs = g_borrow_fs;
  saved->mask = g_borrow_mask;
  saved->pass = t_pass;
  t_borrowed = false;
  static_unlock();
  write_fs(saved->fs);
  sys::raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&saved->mask, 0, 8);
  return true;
}
void static_exec_failed(bool released, const confine::ExecSaved* saved) {
  if (!released) return;
  block_all_but_sigsys();
  lend(saved->fs, saved->mask);
  t_pass = saved->pass;
}
// A call that may wait: the lock alone (1), or with the program's thread
// pointer and mask (2). What the trap holds in the borrowed thread's data
// and beside the lock (t_pass, the program's thread pointer and mask) is
// kept here meanwhile: another thread's trap borrows and sets them.
int let_go(bool signals, confine::ExecSaved* saved) {
  if (signals) return give_back(saved) ? 2 : 0;
  saved->fs = g_borrow_fs;
  saved->mask = g_borrow_mask;
  saved->pass = t_pass;
  static_unlock();
  return 1;
}
void take_again(int how, const confine::ExecSaved* saved) {
  if (how == 2) return static_exec_failed(true, saved);
  static_lock();
  g_borrow_fs = saved->fs;
  g_borrow_mask = saved->mask;
  t_pass = saved->pass;
  t_borrowed = true;
}

// In a static program, a trap runs on the borrowed thread pointer.
bool static_before_exec(confine::ExecSaved* saved) { return read_fs() == g_main_fs && give_back(saved); }
// In a dynamic program, whose threads of libc's own have their own thread
// pointers: a trap of this thread's borrowed if the lock's taker is it.
bool dynamic_before_exec(confine::ExecSaved* saved) {
  if (!g_dynamic_borrowed.load(std::memory_order_relaxed)) return false;
  uint32_t me = (uint32_t)sys::raw(SYS_gettid);
  if ((g_static_lock.load(std::memory_order_acquire) & ~kWaiters) != me) return false;
  return give_back(saved);
}

// One walk over the loaded objects: the executable segments of libc, of
// the dynamic loader and of libpthread (if it is one of its own), and
// whether a sanitizer's runtime is among them.
struct Loaded {
  uintptr_t libc_addr, ldso_addr, libpthread_addr;
  Range libc, ldso, libpthread;
  bool sanitizer;
};

Loaded loaded_objects() {
  // (next_symbol, not dlsym: dlsym is libdl's before glibc 2.34; the loader
  // comes after this library in the list of loaded objects.)
  // libc by a function libpthread never defines (`read` is libpthread's
  // first in a threaded program before glibc 2.34).
  Loaded l{(uintptr_t)next_symbol("__libc_start_main"), (uintptr_t)next_symbol("_dl_debug_state"),
           (uintptr_t)next_symbol("pthread_create"), {}, {}, {}, false};
  using iter_fn = int (*)(int (*)(struct dl_phdr_info*, size_t, void*), void*);
  static iter_fn iter = next<iter_fn>("dl_iterate_phdr");
  if (!iter) return l;
  iter(
      [](struct dl_phdr_info* info, size_t, void* data) -> int {
        auto* l = static_cast<Loaded*>(data);
        if (info->dlpi_name && is_sanitizer_runtime(info->dlpi_name, strlen(info->dlpi_name))) l->sanitizer = true;
        for (int i = 0; i < info->dlpi_phnum; i++) {
          const ElfW(Phdr)& p = info->dlpi_phdr[i];
          if (p.p_type != PT_LOAD || !(p.p_flags & PF_X)) continue;
          Range r{info->dlpi_addr + p.p_vaddr, info->dlpi_addr + p.p_vaddr + p.p_memsz};
          if (r.has(l->libc_addr)) l->libc = r;
          if (r.has(l->ldso_addr)) l->ldso = r;
          if (r.has(l->libpthread_addr)) l->libpthread = r;
        }
        return 0;
      },
      &l);
  return l;
}

}  // namespace
#endif

bool confine_static() {
#if defined(__x86_64__)
  if (!g_confine.active || !g_libc.hi) return false;  // not our handler
  g_fsgsbase = getauxval(AT_HWCAP2) & 2;  // HWCAP2_FSGSBASE: the kernel lets user space use it
  g_main_fs = read_fs();
  KSigaction sa{};
  sa.handler = reinterpret_cast<void*>(&on_sigsys);
  sa.flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | kSaRestorer;
  sa.restorer = reinterpret_cast<void*>(&cr_sigreturn);
  sa.mask = ~kSigsysBit;
  if (sys::raw(SYS_rt_sigaction, SIGSYS, (long)&sa, 0, 8) != 0) return false;
  g_static = true;
  confine::g_before_exec = &static_before_exec;
  confine::g_exec_failed = &static_exec_failed;
  confine::g_borrowed = &borrowed;
  confine::g_let_go = &let_go;
  confine::g_take_again = &take_again;
  return true;
#else
  return false;
#endif
}

#if defined(__x86_64__)
// What confine_early found (nothing between it and confine_start installs
// a filter or maps the gate): asked once, not twice.
static bool g_early_asked, g_early_inherited, g_early_gate;
#endif

#if defined(__x86_64__)
namespace {
// The value of the environment's variable NAME= (NAME with its '='), or
// null. By hand: a sanitizer's runtime intercepts the string functions,
// and ThreadSanitizer starts itself from the first of them called.
const char* env_value(const char* name) {
  if (!environ) return nullptr;
  for (char** e = environ; *e; e++) {
    size_t i = 0;
    while (name[i] && (*e)[i] == name[i]) i++;
    if (!name[i]) return *e + i;
  }
  return nullptr;
}

// Whether LD_PRELOAD names a sanitizer's runtime (the exec planner puts a
// program's first; a user may preload one).
bool sanitizer_preloaded() {
  const char* v = env_value("LD_PRELOAD=");
  while (v && *v) {
    while (*v == ':' || *v == ' ') v++;
    size_t n = 0;
    while (v[n] && v[n] != ':' && v[n] != ' ') n++;
    if (n && is_sanitizer_runtime(v, n)) return true;
    v += n;
  }
  return false;
}
}  // namespace
#endif

void confine_early() {
#if defined(__x86_64__)
  // Started through the stub: the session's own start already makes its
  // calls from the gate (each would be a trap).
  g_early_inherited = confine::probe();
  g_early_gate = g_early_inherited && confine::gate_mapped();
  g_early_asked = true;
  if (g_early_gate) sys::g_gate = reinterpret_cast<void*>(confine::kGate);
  // A sanitizer's runtime loaded before this library may start during this
  // library's own start (ThreadSanitizer does, from the first call of ours
  // it intercepts) and make system calls of its own (its
  // /tmp/tsan.rodata.PID) before confine_start: the stub's handler lets
  // them pass from now on, as confine_start leaves it for such a process,
  // and answers its readlink of /proc/self/exe (the name its reports give
  // the program, read once at its start) with the program's, as the
  // exec gave it (COWROOT_EXE: the inside path in a root).
  if (g_early_gate && sanitizer_preloaded())
    if (const confine::StubInfo* info = confine::stub_info()) {
      auto* w = const_cast<confine::StubInfo*>(info);
      w->pass = 1;
      const char* exe = env_value("COWROOT_EXE=");
      size_t n = 0;
      while (exe && exe[n] && n + 1 < sizeof w->exe) n++;
      if (exe && !exe[n]) {
        for (size_t i = 0; i < n; i++) w->exe[i] = exe[i];
        w->exe[n] = 0;
      }
    }
#endif
}

void confine_start() {
#if defined(__x86_64__)
  if (!g_session.active) return;
  const char* opt = getenv("COWROOT_CONFINE");
  bool inherited = g_early_asked ? g_early_inherited : confine::probe();
  if (!inherited && opt && strcmp(opt, "0") == 0) return;
  // cowroot-stub, beside the daemon: every exec of a confined process runs it.
  bool have = beside_daemon("cowroot-stub", g_confine.stub, sizeof g_confine.stub);
  if (!inherited && (!have || sys::raw(SYS_faccessat, AT_FDCWD, (long)g_confine.stub, X_OK) != 0)) return;
  if (inherited) {
    // Started through the stub: its gate is in place.
    if (!(g_early_asked ? g_early_gate : confine::gate_mapped())) {
      errline("confinement inherited without its gate: cannot run here");
      sys::raw(SYS_exit_group, 126);
    }
    sys::g_gate = reinterpret_cast<void*>(confine::kGate);
    g_confine.active = true;
    const confine::StubInfo* info = confine::stub_info();
    if (info && info->mode == 'H') {
      // One of cowroot's own programs: its calls pass, as the stub lets
      // them; the programs it starts are planned as ever.
      const_cast<confine::StubInfo*>(info)->pass = 1;
      return;
    }
  }
  Loaded objects = loaded_objects();
  if (objects.sanitizer) {
    // A sanitizer's runtime makes raw calls of its own, from its start-up
    // on (reading /proc/self/maps), and intercepts the string functions the
    // handler would call while it is not ready: such a process is not
    // confined (inherited, the stub's handler lets its calls through).
    if (const confine::StubInfo* info = inherited ? confine::stub_info() : nullptr)
      const_cast<confine::StubInfo*>(info)->pass = 1;
    // Not silently, in a root: what it makes outside libc acts on the host.
    if (g_root.active)
      errline(g_root.exe[0] ? g_root.exe : "a program",
              ": a sanitizer's runtime is loaded: its system calls outside libc are not confined (they act on the host)");
    return;
  }
  if (!inherited) {
    // A session's first program started through the stub (unconfined, by
    // the launcher) has the stub's gate in place already; any other
    // process maps its own.
    bool stub_gate = confine::gate_mapped() && confine::stub_info();
    if (!stub_gate && confine::map_gate() != 0) return;
    sys::g_gate = reinterpret_cast<void*>(confine::kGate);
  }
  g_libc = objects.libc;
  g_ldso = objects.ldso;
  g_libpthread = objects.libpthread;
  KSigaction sa{};
  sa.handler = reinterpret_cast<void*>(&on_sigsys);
  sa.flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | kSaRestorer;
  sa.restorer = reinterpret_cast<void*>(&cr_sigreturn);
  if (sys::raw(SYS_rt_sigaction, SIGSYS, (long)&sa, 0, 8) != 0) {
    if (inherited) sys::raw(SYS_exit_group, 126);
    return;
  }
  // For a trap made on a thread pointer of the program's own.
  g_fsgsbase = getauxval(AT_HWCAP2) & 2;
  g_main_fs = read_fs();
  confine::g_before_exec = &dynamic_before_exec;
  confine::g_exec_failed = &static_exec_failed;
  confine::g_borrowed = &borrowed;
  confine::g_let_go = &let_go;
  confine::g_take_again = &take_again;
  if (!inherited) {
    if (int e = confine::install_filter(); e < 0) {
      // No seccomp here: programs that bypass libc cannot be confined
      // (static ones are refused, as without confinement).
      KSigaction dfl{};
      sys::raw(SYS_rt_sigaction, SIGSYS, (long)&dfl, 0, 8);
      sys::g_gate = reinterpret_cast<void*>(&cr_gate_local);
      return;
    }
  }
  // Outside a root, /proc/self/exe names the stub: the program's own name
  // came in COWROOT_EXE (the stub puts it there).
  if (!g_root.active)
    if (const char* exe = getenv("COWROOT_EXE"); exe && strlen(exe) < sizeof g_root.exe)
      memcpy(g_root.exe, exe, strlen(exe) + 1);
  g_confine.active = true;
#endif
}

}  // namespace cr::wrap

// ---- sigaction, sigprocmask, pthread_sigmask -----------------------------
// glibc's own functions make these system calls from its code: in a confined
// process each would be a trap. Served here as the handler serves the
// trapped ones (SIGSYS kept aside, never blocked), with glibc's checks.
namespace {
using namespace cr::wrap;
constexpr int kSigcancel = 32, kSigsetxid = 33;  // glibc's own signals

#if defined(__x86_64__)
bool handled_here() { return g_confine.active && g_libc.hi; }
#else
bool handled_here() { return false; }
#endif

uint64_t user_mask(const sigset_t* s) {
  uint64_t m;
  memcpy(&m, s, sizeof m);
  return m & ~((1ull << (kSigcancel - 1)) | (1ull << (kSigsetxid - 1)));
}
}  // namespace

EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  using fn_t = int (*)(int, const struct sigaction*, struct sigaction*);
  static fn_t fn = cr::wrap::next<fn_t>("sigaction");
  if (!handled_here()) return fn(sig, act, old);
#if defined(__x86_64__)
  if (sig <= 0 || sig >= 65 || sig == kSigcancel || sig == kSigsetxid) return fail(EINVAL);
  KSigaction k{}, ko{};
  if (act) {
    k.handler = reinterpret_cast<void*>(act->sa_handler);
    k.flags = (unsigned long)act->sa_flags | kSaRestorer;
    k.restorer = reinterpret_cast<void*>(&cr_sigreturn);
    memcpy(&k.mask, &act->sa_mask, sizeof k.mask);
  }
  long a[6] = {sig, act ? (long)&k : 0, old ? (long)&ko : 0, 8, 0, 0};
  long r = sigaction_call(a, false);
  if (r < 0) return fail((int)-r);
  if (old) {
    memset(old, 0, sizeof *old);
    old->sa_handler = reinterpret_cast<void (*)(int)>(ko.handler);
    old->sa_flags = (int)ko.flags;
    old->sa_restorer = reinterpret_cast<void (*)()>(ko.restorer);
    memcpy(&old->sa_mask, &ko.mask, sizeof ko.mask);
  }
#endif
  return 0;
}

EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  using fn_t = int (*)(int, const sigset_t*, sigset_t*);
  static fn_t fn = cr::wrap::next<fn_t>("pthread_sigmask");
  if (!handled_here()) return fn(how, set, old);
#if defined(__x86_64__)
  uint64_t m = 0, o = 0;
  if (set) m = user_mask(set) & ~kSigsysBit;
  long r = sys::raw(SYS_rt_sigprocmask, how, set ? (long)&m : 0, old ? (long)&o : 0, 8);
  if (r < 0) return (int)-r;
  if (old) {
    memset(old, 0, sizeof *old);
    memcpy(old, &o, sizeof o);
  }
#endif
  return 0;
}

EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  int e = pthread_sigmask(how, set, old);
  return e ? fail(e) : 0;
}

// BSD's masks: the first 32 signals as bits of an int, as glibc has them
// (its sigset-cvt-mask.h). Through pthread_sigmask above, as sigprocmask.
namespace {
int bsd_mask(int how, int mask) {
  sigset_t s, o;
  sigemptyset(&s);
  s.__val[0] = (unsigned int)mask;
  int e = pthread_sigmask(how, &s, &o);
  if (e) return fail(e);
  return (int)(unsigned int)o.__val[0];
}
}  // namespace

EXPORT int sigblock(int mask) { return bsd_mask(SIG_BLOCK, mask); }
EXPORT int sigsetmask(int mask) { return bsd_mask(SIG_SETMASK, mask); }

