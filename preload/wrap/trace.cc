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
  return sys::raw(SYS_ptrace, PTRACE_POKEDATA, pid, (long)(confine::kStubInfo + offsetof(confine::StubInfo, tracer)),
                  (long)confine::kTraced) == 0;
}

bool released(pid_t pid) {
  long v = 0;
  return peek(PTRACE_PEEKDATA, pid, confine::kStubInfo + offsetof(confine::StubInfo, tracer), &v) == 0 &&
         (uint64_t)v == confine::kReleased;
}

// How the debugger last resumed each of its processes (ptrace below): a
// trap's SIGSYS, which it never sees, resumes it the same way (a single
// step stays one). A slot a pid; another pid in the slot: PTRACE_CONT.
struct Resumed {
  std::atomic<int> pid{0};
  std::atomic<int> request{0};
};
Resumed g_resumed[64];

void note_resume(int request, pid_t pid) {
  if (request != PTRACE_CONT && request != PTRACE_SYSCALL && request != PTRACE_SINGLESTEP &&
      request != PTRACE_SYSEMU && request != PTRACE_SYSEMU_SINGLESTEP)
    return;
  Resumed& r = g_resumed[(unsigned)pid % 64];
  r.pid.store(pid, std::memory_order_relaxed);
  r.request.store(request, std::memory_order_relaxed);
}

int last_resume(pid_t pid) {
  Resumed& r = g_resumed[(unsigned)pid % 64];
  int request = r.pid.load(std::memory_order_relaxed) == pid ? r.request.load(std::memory_order_relaxed) : 0;
  return request ? request : PTRACE_CONT;
}
// A tracer of system calls (strace, gdb's `catch syscall`) sees the process
// as the kernel runs it: its exec's own exit stop comes after the exec
// stop, and it shows the traps' SIGSYS.
bool traces_calls(pid_t pid) {
  int request = last_resume(pid);
  return request == PTRACE_SYSCALL || request == PTRACE_SYSEMU || request == PTRACE_SYSEMU_SINGLESTEP;
}

// A stop for a trap of the confinement's (the filter's SIGSYS, which the
// process's own handler serves): the process goes on with it, unseen.
bool pass_trap(pid_t pid, int st) {
  if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGSYS || (st >> 16) != 0 || traces_calls(pid)) return false;
  siginfo_t si;
  if (sys::raw(SYS_ptrace, PTRACE_GETSIGINFO, pid, 0, (long)&si) != 0) return false;
  if (si.si_code != 1 /* SYS_SECCOMP */ || si.si_errno != confine::kTrapData) return false;
  return sys::raw(SYS_ptrace, last_resume(pid), pid, 0, SIGSYS) == 0;
}

// `*status` is what the tracer's wait got for `pid`. An exec stop at the
// stub is held back until the program is mapped (above); a stop that
// replaces it (the process ended meanwhile) goes to the debugger instead.
void settle(pid_t pid, int* status) {
  int st = *status;
  if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGTRAP) return;
  int event = st >> 16;
  if ((event != 0 && event != PTRACE_EVENT_EXEC) || traces_calls(pid) || !mark_stub(pid)) return;
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

EXPORT pid_t waitpid(pid_t pid, int* status, int options) {
  using fn_t = pid_t (*)(pid_t, int*, int);
  static fn_t fn = cr::wrap::next<fn_t>("waitpid");
  int st = 0;
  pid_t r;
  do r = fn(pid, &st, options);
#if defined(__x86_64__)
  while (r > 0 && cr::wrap::pass_trap(r, st));
  if (r > 0) cr::wrap::settle(r, &st);
#else
  while (false);
#endif
  if (r > 0 && status) *status = st;
  return r;
}

EXPORT pid_t wait4(pid_t pid, int* status, int options, struct rusage* usage) {
  using fn_t = pid_t (*)(pid_t, int*, int, struct rusage*);
  static fn_t fn = cr::wrap::next<fn_t>("wait4");
  int st = 0;
  pid_t r;
  do r = fn(pid, &st, options, usage);
#if defined(__x86_64__)
  while (r > 0 && cr::wrap::pass_trap(r, st));
  if (r > 0) cr::wrap::settle(r, &st);
#else
  while (false);
#endif
  if (r > 0 && status) *status = st;
  return r;
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
  return fn(request, pid, addr, data);
}
