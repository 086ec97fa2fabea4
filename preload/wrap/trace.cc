// A debugger in a session (gdb, lldb, strace: the tracer's side).
//
// A confined process's exec runs cowroot-stub, which maps the program and
// its interpreter itself (confine.h): the kernel's exec stop, where a
// debugger that started the program reads /proc/PID/auxv for the program's
// entry and program headers and the interpreter's base, and sets its first
// breakpoints, finds the stub instead, nothing of the program mapped yet.
// So the library of the tracer holds such a stop back: it marks the stub's
// page (StubInfo::tracer), lets the process run until it has mapped the
// program and made the kernel's auxiliary vector the program's (the stub,
// or the library in it for a program the root's loader loads), where the
// process stops itself, and hands the debugger the exec stop then. Signals
// that arrive meanwhile (the traps of the loader's calls) go on to the
// process as the debugger would pass them.
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "../core/confine.h"
#include "../core/resolve.h"
#include "../core/sys.h"
#include "wrap.h"

#include <atomic>

using namespace cr;

namespace cr::wrap {
namespace {

#if defined(__x86_64__)
long peek(long request, pid_t pid, uint64_t at, long* out) {
  return sys::raw(SYS_ptrace, request, pid, (long)at, (long)out);
}

// Whether `pid`, stopped by its tracer (this process), stands at the start
// of cowroot-stub, its page the stub's; marks it to be shown when mapped.
bool mark_stub(pid_t pid) {
  long rip = 0, magic = 0;
  if (peek(PTRACE_PEEKUSER, pid, offsetof(struct user_regs_struct, rip), &rip) != 0) return false;
  if ((uint64_t)rip < confine::kStubText || (uint64_t)rip >= confine::kWinBase + confine::kWinSize) return false;
  if (peek(PTRACE_PEEKDATA, pid, confine::kStubInfo, &magic) != 0 || (uint32_t)magic != confine::kStubMagic)
    return false;
  // Only a stub just started (its page as the exec left it): one already
  // shown, or being shown, is the debugger's from there.
  long mark = -1;
  const uint64_t at = confine::kStubInfo + offsetof(confine::StubInfo, tracer);
  if (peek(PTRACE_PEEKDATA, pid, at, &mark) != 0 || mark != 0) return false;
  return sys::raw(SYS_ptrace, PTRACE_POKEDATA, pid, (long)at, (long)confine::kTraced) == 0;
}

bool released(pid_t pid) {
  long v = 0;
  return peek(PTRACE_PEEKDATA, pid, confine::kStubInfo + offsetof(confine::StubInfo, tracer), &v) == 0 &&
         (uint64_t)v == confine::kReleased;
}

// How the debugger last resumed each of its processes (ptrace below): a
// trap's SIGSYS, which it never sees, resumes it the same way. A slot a
// pid (its own, or the stop is left to the debugger), freed when it ends.
struct Resumed {
  std::atomic<int> pid{0};
  std::atomic<int> request{0};
};
constexpr unsigned kSlots = 1024;
Resumed g_resumed[kSlots];
// A tracer of system calls (strace, gdb after `catch syscall`) sees the
// processes as the kernel runs them from then on: it needs an exec's own
// exit stop after the exec stop, and shows the traps' SIGSYS.
std::atomic<bool> g_traces_calls{false};

void note_resume(int request, pid_t pid) {
  if (request == PTRACE_SYSCALL || request == PTRACE_SYSEMU || request == PTRACE_SYSEMU_SINGLESTEP)
    g_traces_calls.store(true, std::memory_order_relaxed);
  if (request != PTRACE_CONT && request != PTRACE_SINGLESTEP) return;
  Resumed& r = g_resumed[(unsigned)pid % kSlots];
  r.pid.store(pid, std::memory_order_relaxed);
  r.request.store(request, std::memory_order_relaxed);
}

// The request `pid` was last resumed with, 0 when not known.
int last_resume(pid_t pid) {
  Resumed& r = g_resumed[(unsigned)pid % kSlots];
  return r.pid.load(std::memory_order_relaxed) == pid ? r.request.load(std::memory_order_relaxed) : 0;
}

void forget(pid_t pid) {
  Resumed& r = g_resumed[(unsigned)pid % kSlots];
  int p = pid;
  r.pid.compare_exchange_strong(p, 0, std::memory_order_relaxed);
}

long regs_of(pid_t pid, struct user_regs_struct* regs) {
  return sys::raw(SYS_ptrace, PTRACE_GETREGS, pid, 0, (long)regs);
}

// A single step that met a trap: the handler runs, stepped, until the
// process is back after its system call instruction (its stack pointer
// too), where the step ends for the debugger as over any system call.
// Another stop meanwhile (a signal, the end) is the debugger's.
void step_over_trap(pid_t pid, const struct user_regs_struct& at, int* status) {
  int sig = SIGSYS;
  for (int steps = 0; steps < 2000000; steps++) {
    if (sys::raw(SYS_ptrace, PTRACE_SINGLESTEP, pid, 0, sig) != 0) return;
    sig = 0;
    int s = 0;
    long r;
    do r = sys::raw(SYS_wait4, pid, (long)&s, __WALL, 0);
    while (r == -EINTR);
    if (r != pid) return;
    *status = s;
    if (!WIFSTOPPED(s) || WSTOPSIG(s) != SIGTRAP || (s >> 16) != 0) return;
    struct user_regs_struct now;
    if (regs_of(pid, &now) != 0) return;
    if (now.rip == at.rip && now.rsp == at.rsp) return;
  }
}

// A stop for a trap of the confinement's (the filter's SIGSYS, which the
// process's own handler serves): the process goes on with it, unseen,
// resumed as the debugger last resumed it. False (the debugger's stop) for
// a tracer of system calls, or a process whose last request is not known.
bool pass_trap(pid_t pid, int* status) {
  int st = *status;
  if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGSYS || (st >> 16) != 0) return false;
  if (g_traces_calls.load(std::memory_order_relaxed)) return false;
  int request = last_resume(pid);
  if (!request) return false;
  siginfo_t si;
  if (sys::raw(SYS_ptrace, PTRACE_GETSIGINFO, pid, 0, (long)&si) != 0) return false;
  if (si.si_code != 1 /* SYS_SECCOMP */ || si.si_errno != confine::kTrapData) return false;
  if (request == PTRACE_SINGLESTEP) {
    struct user_regs_struct at;
    if (regs_of(pid, &at) != 0) return false;
    step_over_trap(pid, at, status);
    return false;  // the step's end (or what came instead) is the debugger's
  }
  return sys::raw(SYS_ptrace, request, pid, 0, SIGSYS) == 0;
}

// `*status` is what the tracer's wait got for `pid`. An exec stop at the
// stub is held back until the program is mapped (above); a stop that
// replaces it (the process ended meanwhile) goes to the debugger instead.
void settle(pid_t pid, int* status) {
  int st = *status;
  if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) return;
  int event = st >> 16;
  if ((event != 0 && event != PTRACE_EVENT_EXEC) || g_traces_calls.load(std::memory_order_relaxed) || !mark_stub(pid))
    return;
  g_debugger = true;
  // The stop it is handed at last is the process's own trap (int3), a
  // signal's stop: it gets the exec stop's account (a debugger reads it to
  // tell a breakpoint's trap from others).
  siginfo_t exec_info;
  bool have_info = sys::raw(SYS_ptrace, PTRACE_GETSIGINFO, pid, 0, (long)&exec_info) == 0;
  int sig = 0;
  for (int rounds = 0; rounds < 100000; rounds++) {
    if (sys::raw(SYS_ptrace, PTRACE_CONT, pid, 0, sig) != 0) return;
    int s = 0;
    long r;
    do r = sys::raw(SYS_wait4, pid, (long)&s, __WALL, 0);
    while (r == -EINTR);
    if (r != pid) return;
    if (!WIFSTOPPED(s)) {  // ended before it was shown
      *status = s;
      return;
    }
    sig = 0;
    int e = s >> 16;
    if (e == PTRACE_EVENT_EXEC) {  // started again (the loader's audit module): the new stub's page
      if (mark_stub(pid)) continue;
      *status = s;  // not through the stub: the debugger's, as it is
      return;
    }
    if (e) continue;  // another event the debugger asked for (a group stop of a seized process)
    int sg = WSTOPSIG(s);
    if (sg == SIGTRAP && released(pid)) {
      if (have_info) sys::raw(SYS_ptrace, PTRACE_SETSIGINFO, pid, 0, (long)&exec_info);
      return;
    }
    // The trap that follows an exec, for a debugger without exec events
    // (gdb's start): started again, through the stub.
    if (sg == SIGTRAP && mark_stub(pid)) continue;
    siginfo_t si;
    // A group stop (not a signal to deliver) resumes with none.
    if (sys::raw(SYS_ptrace, PTRACE_GETSIGINFO, pid, 0, (long)&si) == 0) sig = sg;
  }
}
#endif

}  // namespace
}  // namespace cr::wrap

namespace {
// A wait of libc's (`wait` makes the call, its status into *st): what it
// gets for a traced process first goes through pass_trap and settle.
template <typename Wait>
pid_t traced_wait(int* status, Wait wait) {
  int st = 0;
  pid_t r;
  do r = wait(&st);
#if defined(__x86_64__)
  while (r > 0 && cr::wrap::pass_trap(r, &st));
  if (r > 0) cr::wrap::settle(r, &st);
  if (r > 0 && !WIFSTOPPED(st) && !WIFCONTINUED(st)) cr::wrap::forget(r);
#else
  while (false);
#endif
  if (r > 0 && status) *status = st;
  return r;
}
}  // namespace

EXPORT pid_t waitpid(pid_t pid, int* status, int options) {
  using fn_t = pid_t (*)(pid_t, int*, int);
  static fn_t fn = cr::wrap::next<fn_t>("waitpid");
  return traced_wait(status, [&](int* st) { return fn(pid, st, options); });
}

EXPORT pid_t wait4(pid_t pid, int* status, int options, struct rusage* usage) {
  using fn_t = pid_t (*)(pid_t, int*, int, struct rusage*);
  static fn_t fn = cr::wrap::next<fn_t>("wait4");
  return traced_wait(status, [&](int* st) { return fn(pid, st, options, usage); });
}

// Every request goes to libc's ptrace as it is; how a process is resumed
// is remembered (pass_trap).
EXPORT long ptrace(enum __ptrace_request request, ...) {
  va_list ap;
  va_start(ap, request);
  pid_t pid = va_arg(ap, pid_t);
  void* addr = va_arg(ap, void*);
  void* data = va_arg(ap, void*);
  va_end(ap);
  using fn_t = long (*)(enum __ptrace_request, pid_t, void*, void*);
  static fn_t fn = cr::wrap::next<fn_t>("ptrace");
#if defined(__x86_64__)
  cr::wrap::note_resume((int)request, pid);
#endif
  long r = fn(request, pid, addr, data);
  // Attached to a process (of the session's: the filter refuses others), a
  // debugger reads its libraries by the loader's names for them too.
  if (r == 0 && (request == PTRACE_ATTACH || request == PTRACE_SEIZE)) cr::g_debugger = true;
  return r;
}
