// The confinement's filter, built from the table of system call doors, and
// the gate the core's own calls go through (see confine.h).
#include "confine.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fcntl.h>

#include "exec.h"
#include "ldpatch.h"
#include "optable.h"
#include "sys.h"

#if defined(__x86_64__)
// The core's own `syscall; ret`, used until the process is confined (and
// always in the launcher, the daemon and the test fixture).
asm(".text\n.p2align 4\n.globl cr_gate_local\n.hidden cr_gate_local\n.type cr_gate_local,@function\n"
    "cr_gate_local:\n syscall\n ret\n.size cr_gate_local, .-cr_gate_local\n");
extern "C" void cr_gate_local();
#endif

namespace cr {

#if defined(__x86_64__)
namespace sys {
void* g_gate = reinterpret_cast<void*>(&cr_gate_local);
}
#endif

Confine g_confine;

namespace confine {

bool (*g_before_exec)(ExecSaved*);
void (*g_exec_failed)(bool, const ExecSaved*);
bool (*g_borrowed)();
int (*g_let_go)(bool, ExecSaved*);
void (*g_take_again)(int, const ExecSaved*);

bool open_may_wait(int dirfd, const char* path, int flags) {
  if (flags & (O_NONBLOCK | O_PATH | O_DIRECTORY) || (flags & O_TMPFILE) == O_TMPFILE) return false;
  struct statx sx;
  if (sys::raw(SYS_statx, dirfd, (long)path, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0, STATX_TYPE, (long)&sx) != 0)
    return false;
  return S_ISFIFO(sx.stx_mode) || S_ISCHR(sx.stx_mode);
}

bool socket_may_wait(int fd, int flags) {
  if (flags & MSG_DONTWAIT) return false;
  long fl = sys::raw(SYS_fcntl, fd, F_GETFL);
  return fl >= 0 && !(fl & O_NONBLOCK);
}

namespace {

#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif

// What the filter does with a call made from outside the window.
enum Kind : uint8_t {
  kTrap,         // to the handler
  kDeny,         // ENOSYS: io_uring, clone3 (glibc falls back to clone)
  kArgSet,       // to the handler when argument `arg` is not null
  kSigaction,    // rt_sigaction: of SIGSYS, or setting any handler
  kSigprocmask,  // rt_sigprocmask: blocking or setting a mask
  kAttach,       // ptrace: PTRACE_ATTACH and PTRACE_SEIZE (whom to trace), PTRACE_TRACEME
  kIoctl,        // ioctl: the requests that set inode flags (chattr's), which reach the inode
};

struct Entry {
  uint32_t nr;
  Kind kind;
  uint8_t arg;
};

// Calls beyond the table's doors, and doors that need the handler only
// with some argument set.
struct Extra {
  long nr;
  Kind kind;
  uint8_t arg;
};
constexpr Extra kExtra[] = {
    // SIGSYS must never be blocked (a trap while it is ends the process)
    // and the program's own SIGSYS handler is kept aside.
    {SYS_rt_sigaction, kSigaction, 0},
    {SYS_rt_sigprocmask, kSigprocmask, 0},
    {SYS_rt_sigsuspend, kTrap, 0},
    {SYS_ppoll, kArgSet, 3},
    {SYS_pselect6, kArgSet, 5},
    {SYS_epoll_pwait, kArgSet, 4},
#ifdef SYS_epoll_pwait2
    {SYS_epoll_pwait2, kArgSet, 4},
#else
    {441, kArgSet, 4},
#endif
    // Doors needed only when an address is given.
    {SYS_sendto, kArgSet, 4},
    {SYS_recvfrom, kArgSet, 4},
    {SYS_accept, kArgSet, 1},
    {SYS_accept4, kArgSet, 1},
    // Calls that act on another process, held to the session's own
    // (a process outside it is where the host is): attaching a tracer,
    // its memory, its descriptors.
    {SYS_ptrace, kAttach, 0},
    {SYS_process_vm_readv, kTrap, 0},
    {SYS_process_vm_writev, kTrap, 0},
    {SYS_pidfd_getfd, kTrap, 0},
    // chattr's requests through a descriptor of a file the clone shares
    // with its base (opened read-only) would set the base's inode flags.
    {SYS_ioctl, kIoctl, 0},
    // Calls that would act past the doors: said absent, as an old kernel would.
    {SYS_clone3, kDeny, 0},
    {SYS_io_uring_setup, kDeny, 0},
    {SYS_io_uring_enter, kDeny, 0},
    {SYS_io_uring_register, kDeny, 0},
    // The mount API's calls that take a path of their own (open_tree and
    // fspick open one, as openat would; move_mount, fsconfig and
    // mount_setattr name more) and pivot_root: in a user namespace of its
    // own a program may make them, and the kernel would take the paths as
    // the host's. util-linux falls back to mount(2), a door, on ENOSYS.
    {SYS_open_tree, kDeny, 0},
    {SYS_move_mount, kDeny, 0},
    {SYS_fsopen, kDeny, 0},
    {SYS_fsconfig, kDeny, 0},
    {SYS_fsmount, kDeny, 0},
    {SYS_fspick, kDeny, 0},
    {SYS_mount_setattr, kDeny, 0},
    {SYS_pivot_root, kDeny, 0},
    {SYS_uselib, kDeny, 0},
};
// Calls from here on (setxattrat, file_getattr, … and anything newer) may
// take paths the table does not know: absent.
constexpr uint32_t kFirstUnknown = 463;

constexpr uint32_t kRetTrap = SECCOMP_RET_TRAP | (kTrapData & SECCOMP_RET_DATA);
constexpr uint32_t kRetAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kRetNosys = SECCOMP_RET_ERRNO | ENOSYS;

constexpr unsigned kMaxEntries = 256;
constexpr unsigned kMaxProg = 2048;
Entry g_entries[kMaxEntries];
sock_filter g_prog[kMaxProg];
unsigned g_len;

constexpr uint32_t kNr = offsetof(seccomp_data, nr);
constexpr uint32_t kArch = offsetof(seccomp_data, arch);
constexpr uint32_t kIpLo = offsetof(seccomp_data, instruction_pointer);
constexpr uint32_t kIpHi = kIpLo + 4;
constexpr uint32_t arg_lo(unsigned i) { return offsetof(seccomp_data, args) + 8 * i; }
constexpr uint32_t arg_hi(unsigned i) { return arg_lo(i) + 4; }

#if defined(__x86_64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kAuditArch = AUDIT_ARCH_AARCH64;
#endif

bool emit(sock_filter f) {
  if (g_len >= kMaxProg) return false;
  g_prog[g_len++] = f;
  return true;
}
bool stmt(uint16_t code, uint32_t k) { return emit(sock_filter{code, 0, 0, k}); }
bool jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return emit(sock_filter{code, jt, jf, k}); }
bool ret(uint32_t k) { return stmt(BPF_RET | BPF_K, k); }
bool load(uint32_t off) { return stmt(BPF_LD | BPF_W | BPF_ABS, off); }

// One entry: the accumulator holds the call's number. A call made from
// the window passes (5 instructions after the number's test); the rest
// depends on the entry's kind. Every jump below is relative to the next
// instruction: the comments give the indices they land on.
bool window_passes() {  // 1..5 of a leaf: to 6 when outside the window
  return load(kIpHi) && jump(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(kWinBase >> 32), 0, 3) &&  // 2 -> 3 | 6
         load(kIpLo) && jump(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)kWinBase + (uint32_t)kWinSize, 1, 0) &&  // 4 -> 6 | 5
         ret(kRetAllow);                                                                                     // 5
}

bool leaf(const Entry& e) {
  bool ok = true;
  switch (e.kind) {
    case kDeny:  // from anywhere: cowroot's own code makes none of these
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, e.nr, 0, 1);
      ok &= ret(kRetNosys);
      break;
    case kTrap:
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, e.nr, 0, 6);  // 0 -> 1 | 7
      ok &= window_passes();                               // 1..5
      ok &= ret(kRetTrap);                                 // 6
      break;
    case kArgSet:
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, e.nr, 0, 10);  // 0 -> 1 | 11
      ok &= window_passes();                                // 1..5
      ok &= load(arg_lo(e.arg));                            // 6
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2);       // 7 -> 8 | 10
      ok &= load(arg_hi(e.arg));                            // 8
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);       // 9 -> 11 | 10
      ok &= ret(kRetTrap);                                  // 10
      break;
    case kSigaction:  // trap if the signal is SIGSYS or a new action is given
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, e.nr, 0, 12);   // 0 -> 1 | 13
      ok &= window_passes();                                 // 1..5
      ok &= load(arg_lo(0));                                 // 6
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, SIGSYS, 4, 0);   // 7 -> 12 | 8
      ok &= load(arg_lo(1));                                 // 8
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2);        // 9 -> 10 | 12
      ok &= load(arg_hi(1));                                 // 10
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0);        // 11 -> 13 | 12
      ok &= ret(kRetTrap);                                   // 12
      break;
    case kSigprocmask:  // trap if a set is given and it is not SIG_UNBLOCK
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, e.nr, 0, 12);        // 0 -> 1 | 13
      ok &= window_passes();                                      // 1..5
      ok &= load(arg_lo(1));                                      // 6
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2);             // 7 -> 8 | 10
      ok &= load(arg_hi(1));                                      // 8
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, 0, 3, 0);             // 9 -> 13 | 10
      ok &= load(arg_lo(0));                                      // 10
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, SIG_UNBLOCK, 1, 0);   // 11 -> 13 | 12
      ok &= ret(kRetTrap);                                        // 12
      break;
    case kAttach:
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, e.nr, 0, 10);                // 0 -> 1 | 11
      ok &= window_passes();                                              // 1..5
      ok &= load(arg_lo(0));                                              // 6
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, 16 /* ATTACH */, 2, 0);       // 7 -> 10 | 8
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, 0x4206 /* SEIZE */, 1, 0);    // 8 -> 10 | 9
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, 0 /* TRACEME */, 0, 1);       // 9 -> 10 | 11
      ok &= ret(kRetTrap);                                                // 10
      break;
    case kIoctl:  // the request is an unsigned int: its low half
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, e.nr, 0, 12);                         // 0 -> 1 | 13
      ok &= window_passes();                                                       // 1..5
      ok &= load(arg_lo(1));                                                       // 6
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)FS_IOC_SETFLAGS, 4, 0);      // 7 -> 12 | 8
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)FS_IOC32_SETFLAGS, 3, 0);    // 8 -> 12 | 9
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)FS_IOC_FSSETXATTR, 2, 0);    // 9 -> 12 | 10
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)FS_IOC_SETVERSION, 1, 0);    // 10 -> 12 | 11
      ok &= jump(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)FS_IOC32_SETVERSION, 0, 1);  // 11 -> 12 | 13
      ok &= ret(kRetTrap);                                                         // 12
      break;
  }
  return ok && ret(kRetAllow);
}

// A search tree over entries [lo, hi), sorted by number.
bool tree(unsigned lo, unsigned hi) {
  if (hi - lo == 1) return leaf(g_entries[lo]);
  unsigned mid = (lo + hi) / 2;
  if (!jump(BPF_JMP | BPF_JGE | BPF_K, g_entries[mid].nr, 0, 1)) return false;
  unsigned ja = g_len;
  if (!stmt(BPF_JMP | BPF_JA, 0) || !tree(lo, mid)) return false;
  g_prog[ja].k = g_len - ja - 1;
  return tree(mid, hi);
}

bool build() {
  if (g_len) return true;
  unsigned n = 0;
  auto add = [&](long nr, Kind kind, uint8_t arg) {
    for (unsigned i = 0; i < n; i++)
      if (g_entries[i].nr == (uint32_t)nr) {
        g_entries[i].kind = kind, g_entries[i].arg = arg;
        return true;
      }
    if (n >= kMaxEntries) return false;
    g_entries[n++] = Entry{(uint32_t)nr, kind, arg};
    return true;
  };
  for (size_t i = 0; i < kNumSysDoors; i++)
    if (!add(kSysDoors[i].nr, kTrap, 0)) return false;
  for (const Extra& x : kExtra)
    if (!add(x.nr, x.kind, x.arg)) return false;
  for (unsigned i = 1; i < n; i++)  // by number
    for (unsigned j = i; j > 0 && g_entries[j - 1].nr > g_entries[j].nr; j--) {
      Entry t = g_entries[j];
      g_entries[j] = g_entries[j - 1];
      g_entries[j - 1] = t;
    }
  // The number first: a call the table does not serve is let through
  // having looked at nothing else, which lets the kernel's cache of
  // always-allowed calls skip the filter for it altogether.
  bool ok = load(kArch) && jump(BPF_JMP | BPF_JEQ | BPF_K, kAuditArch, 1, 0) && ret(kRetNosys) &&  // int 0x80
            load(kNr) && jump(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)kProbeNr, 0, 1) &&
            ret(SECCOMP_RET_ERRNO | kProbeErrno) &&
            // x32's numbers, and numbers newer than the table knows.
            jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 1, 0) &&
            jump(BPF_JMP | BPF_JGE | BPF_K, kFirstUnknown, 0, 1) && ret(kRetNosys) && tree(0, n);
  if (!ok) g_len = 0;
  return ok;
}

}  // namespace

bool probe() { return sys::raw(kProbeNr) == -kProbeErrno; }

bool gate_mapped() {
  unsigned char v;
  return sys::raw(SYS_mincore, (long)kGate, 4096, (long)&v) == 0;
}

const StubInfo* stub_info() {
  // Once per program: the stub's page is there from the exec on, or never.
  if (__atomic_load_n(&g_confine.stub_asked, __ATOMIC_ACQUIRE)) return g_confine.stub_known;
  unsigned char v;
  const StubInfo* info = nullptr;
  if (sys::raw(SYS_mincore, (long)kStubInfo, 4096, (long)&v) == 0) {
    info = reinterpret_cast<const StubInfo*>(kStubInfo);
    if (info->magic != kStubMagic) info = nullptr;
  }
  g_confine.stub_known = info;
  __atomic_store_n(&g_confine.stub_asked, true, __ATOMIC_RELEASE);
  return info;
}

int map_gate() {
  // The window first, reserved (nothing else should land in it), then the
  // gate's page in it.
  sys::raw(SYS_mmap, (long)kWinBase, (long)(kGate - kWinBase), PROT_NONE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  long r = sys::raw(SYS_mmap, (long)kGate, 4096, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (r != (long)kGate) {
    if (r > 0) sys::raw(SYS_munmap, r, 4096);
    return r < 0 ? (int)r : -EEXIST;
  }
  static const unsigned char code[] = {0x0f, 0x05, 0xc3};  // syscall; ret
  memcpy(reinterpret_cast<void*>(kGate), code, sizeof code);
  return (int)sys::raw(SYS_mprotect, (long)kGate, 4096, PROT_READ | PROT_EXEC);
}

int install_filter() {
  if (!build()) return -E2BIG;
  sock_fprog prog{(unsigned short)g_len, g_prog};
  long r = sys::raw(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  if (r < 0) return (int)r;
  // SPEC_ALLOW: a filter must not switch on the speculative store bypass
  // mitigation for the whole process (it slows every program down).
  r = sys::raw(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_SPEC_ALLOW,
               (long)&prog);
  if (r == -EINVAL) r = sys::raw(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, (long)&prog);
  if (r > 0) return -EAGAIN;  // a thread that could not take it
  return (int)r;
}

unsigned filter_length() { return build() ? g_len : 0; }

// In a confined process: the exec runs cowroot-stub, told what to start.
int to_stub(Plan* p, char** env, size_t cap) {
  char mode = p->path == p->loader ? 'L' : p->path == p->tracer ? 'H' : p->mode;
  char* v = p->stubvar;
  memcpy(v, confine::kStubEnv, confine::kStubEnvLen);
  size_t k = confine::kStubEnvLen;
  v[k++] = mode;
  // The root's loader (run as the program, or by cowroot-trace): where its
  // own host paths are, for the stub to make them lead nowhere (ldpatch.h).
  if ((mode == 'L' || (mode == 'H' && p->path == p->tracer)) && p->ldruns_known && p->ldruns[0]) {
    v[k++] = '@';
    k += ldpatch::put_runs(v + k, p->ldruns);
  }
  if (p->dirfd == AT_FDCWD && !(p->flags & AT_EMPTY_PATH)) {
    size_t l = strlen(p->path);
    if (k + l + 2 > sizeof p->stubvar) return -ENAMETOOLONG;
    v[k++] = ':';
    memcpy(v + k, p->path, l + 1);
  } else {
    // By descriptor: the stub maps it from one that survives the exec.
    long fd;
    if ((p->flags & AT_EMPTY_PATH) && !*p->path) {
      char self[32];
      sys::proc_fd_path(p->dirfd, self);
      fd = sys::raw(SYS_openat, AT_FDCWD, (long)self, O_RDONLY);
    } else {
      fd = sys::raw(SYS_openat, p->dirfd, (long)p->path, O_RDONLY | ((p->flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0));
    }
    if (fd < 0) return (int)fd;
    p->stub_fd = (int)fd;
    v[k++] = '#';
    char d[16];
    int nd = 0;
    do d[nd++] = char('0' + fd % 10); while ((fd /= 10) > 0);
    while (nd) v[k++] = d[--nd];
    v[k] = 0;
  }
  size_t n = 0;
  for (size_t i = 0; env[i]; i++)
    if (strncmp(env[i], confine::kStubEnv, confine::kStubEnvLen) != 0) env[n++] = env[i];
  if (n + 2 > cap) return -E2BIG;
  env[n++] = v;
  env[n] = nullptr;
  p->path = g_confine.stub;
  p->dirfd = AT_FDCWD;
  p->flags = 0;
  return 0;
}


uint32_t verdict(long nr, uint64_t ip, const long args[6], uint32_t arch) {
  if (!build()) return 0;
  seccomp_data d{};
  d.nr = (int)nr;
  d.arch = arch;
  d.instruction_pointer = ip;
  for (int i = 0; i < 6; i++) d.args[i] = (uint64_t)args[i];
  const unsigned char* raw = reinterpret_cast<const unsigned char*>(&d);
  uint32_t a = 0;
  for (unsigned pc = 0; pc < g_len;) {
    const sock_filter& f = g_prog[pc];
    switch (f.code) {
      case BPF_LD | BPF_W | BPF_ABS: memcpy(&a, raw + f.k, 4); pc++; break;
      case BPF_JMP | BPF_JEQ | BPF_K: pc += 1 + (a == f.k ? f.jt : f.jf); break;
      case BPF_JMP | BPF_JGE | BPF_K: pc += 1 + (a >= f.k ? f.jt : f.jf); break;
      case BPF_JMP | BPF_JA: pc += 1 + f.k; break;
      case BPF_RET | BPF_K: return f.k;
      default: return 0;
    }
  }
  return 0;
}

}  // namespace confine
}  // namespace cr
