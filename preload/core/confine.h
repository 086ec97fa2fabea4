// Confinement of system calls that bypass libc: the fixed addresses and
// names shared by the library, the core's exec path and cowroot-stub.
//
// Every process of a confined session carries a seccomp filter (inherited
// by every child and across exec, never removed) that lets a system call
// through when it is made from the window below, and otherwise sends the
// calls the table serves (cr::kSysDoors) to an in-process SIGSYS handler.
// The window is at the same address in every process, so one filter fits
// all of them:
//  - the gate: the one `syscall` instruction the library's core uses
//    (cr::sys::raw calls it), mapped by the library, or by the stub as its
//    first page;
//  - cowroot-stub, a static program linked at a fixed address: every exec
//    of a confined process runs it first (a new program has no handler
//    yet, and a trapped call without one ends the process); it installs a
//    handler that lets calls through, maps the program and its ELF
//    interpreter, and jumps to it;
//  - the ELF interpreter (ld.so), mapped inside by the stub, so the
//    loader's own calls cost nothing until the library takes over.
// docs/design.md, "Programs that bypass libc", says why and what it costs.
#pragma once
#include <linux/prctl.h>
#include <signal.h>

#include <cstddef>
#include <cstdint>

namespace cr::confine {

// [kWinBase, kWinBase + kWinSize): far below where mmap places anything
// (the mmap base is above 0x7eff00000000 here) and inside the application
// ranges of AddressSanitizer and ThreadSanitizer.
constexpr uint64_t kWinBase = 0x7e9000000000ull;
constexpr uint64_t kWinSize = 0x40000000ull;  // 1 GiB
// The gate page (the stub's first page; the library maps its own there
// when it starts a confined session).
constexpr uint64_t kGate = kWinBase + kWinSize - 0x100000ull;
// The stub's segments follow it (see the Makefile's link line); the page
// after the gate tells the library how the stub started the program.
constexpr uint64_t kStubInfo = kGate + 0x1000ull;
constexpr uint64_t kStubText = kGate + 0x10000ull;
struct StubInfo {
  uint32_t magic;  // kStubMagic
  char mode;       // the mode of COWROOT_STUB (below)
  // The kernel's account of the process's memory as the stub started (what
  // /proc/self/stat's fields 26-28 and 45-47 say then, found without
  // reading it): PR_SET_MM_MAP must be given them all again when the
  // library moves the argument block's start (init.cc). Zero when unknown.
  uint64_t start_code, end_code, start_data, end_data, start_brk, start_stack;
  uint64_t arg_start, env_start, env_end;  // the kernel's argument block (arg_end is env_start)
  // A debugger's: the library of a tracer that saw this process's exec
  // stop at the stub writes kTraced here (PTRACE_POKEDATA) and holds the
  // stop back; once the program is mapped and the kernel's auxiliary
  // vector describes it, the process writes kReleased and stops itself
  // (int3), and the tracer hands its debugger the exec stop then.
  uint64_t tracer;
  // Set by the library when it leaves the stub's handler in place (a
  // sanitizer's process, one of cowroot's own programs): the handler then
  // lets every call through, as before the library started.
  uint32_t pass;
  // And then the program's name, as the library answers readlink of
  // /proc/self/exe (the kernel's names the stub): the handler answers a
  // sanitizer's runtime so (its reports name the program by it). Empty:
  // the kernel's answer.
  char exe[2048];
};
static_assert(sizeof(StubInfo) <= 4096, "the stub's page");
constexpr uint64_t kTraced = 0x6465636172547243ull, kReleased = 0x6573616c65527243ull;
// The kernel's account of the memory as the stub found it, in the form
// PR_SET_MM_MAP takes (its break, auxiliary vector and exe left to the
// caller). False when the stub did not know it.
inline bool memory_of(const StubInfo& info, prctl_mm_map* m) {
  if (!info.start_code || !info.arg_start) return false;
  m->start_code = info.start_code;
  m->end_code = info.end_code;
  m->start_stack = info.start_stack;
  m->start_data = info.start_data;
  m->end_data = info.end_data;
  m->start_brk = info.start_brk;
  m->arg_start = info.arg_start;
  m->arg_end = m->env_start = info.env_start;
  m->env_end = info.env_end;
  return true;
}
constexpr uint32_t kStubMagic = 0x43525354;
// Where the stub puts the interpreter: [kWinBase, kInterpTop).
constexpr uint64_t kInterpTop = kGate - 0x1000000ull;

// A call the filter answers itself: says whether this process is confined.
constexpr long kProbeNr = 0x3ffffff0;
constexpr int kProbeErrno = 4000;
// The filter's data in a trap (si_errno), to tell our traps from others.
constexpr int kTrapData = 0x4352;

// The kernel's struct sigaction (x86_64), and what the handlers of the
// stub and of the library keep to: SIGSYS is never blocked while the
// filter is in place; SIGKILL and SIGSTOP cannot be.
struct KSigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};
constexpr unsigned long kSaRestorer = 0x04000000;  // the kernel's SA_RESTORER
constexpr uint64_t kSigsysBit = 1ull << (SIGSYS - 1);
constexpr uint64_t kUnblockable = (1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1));

// The stub's instruction, in the environment of the program it starts:
//   COWROOT_STUB=MODE[@RUN,RUN...]:PATH   (or #FD for PATH: by descriptor)
// MODE: 'L' PATH is an ELF interpreter run as the program (inside a root,
// `ld.so --library-path … PROGRAM`): it goes into the window; 'P' PATH is a
// program (its interpreter, if any, goes into the window); 'H' a program of
// cowroot's own (the daemon, cowroot-trace) that runs without the library:
// its calls pass untranslated (the library, if the program loads it, leaves
// the stub's handler in place). RUN (hex, ldpatch.h): where the root's
// loader has its own host paths, overwritten before it runs ('L'), or
// handed on to the loader cowroot-trace starts ('H'). The stub removes the
// variable.
constexpr const char* kStubEnv = "COWROOT_STUB=";
constexpr int kStubEnvLen = 13;

}  // namespace cr::confine

namespace cr {

struct Plan;

// This process's confinement.
struct Confine {
  bool active = false;       // the filter is in place and the gate answers at kGate
  bool plan_static = false;  // not confined itself, but starts static programs confined (the launcher)
  bool launch = false;       // the launcher's child: the filter went on for the exec it makes (via_stub)
  bool static_prog = false;  // this library runs a static program here (wrap/static.cc)
  bool stub_asked = false;   // confine::stub_info(): asked once per program (on this struct's first page,
  const confine::StubInfo* stub_known = nullptr;  // which the start writes anyway: see prefault_start)
  char stub[4096] = {};      // cowroot-stub, which every exec runs first
};
extern Confine g_confine;
// An exec goes through cowroot-stub: the process is confined, or it is the
// launcher's child about to start the session's first program.
inline bool via_stub() { return g_confine.active || g_confine.launch; }

namespace confine {

// True when this process carries the filter (inherited or its own).
bool probe();
// True when something is mapped at the gate's address.
bool gate_mapped();
// What the stub that started this program says of it (kStubInfo), or
// nullptr when no stub did.
const StubInfo* stub_info();
// Maps the gate (and reserves the window around it) in a process that has
// none yet. 0 or -errno.
int map_gate();
// Builds the filter from the table (cr::kSysDoors) and installs it on
// every thread, after PR_SET_NO_NEW_PRIVS. 0 or -errno.
int install_filter();
// Called around exec's system call by exec_program: a trap that borrowed
// glibc's thread pointer (a static program's, a Go program's) holds a lock
// it must not keep across a successful exec, and has every signal blocked,
// which the new program would keep. What it gave back is kept in `saved`
// for g_exec_failed to take again.
struct ExecSaved {
  uint64_t fs, mask;
  int pass;  // the borrowed thread's t_pass (wrap.h)
};
extern bool (*g_before_exec)(ExecSaved* saved);  // true: given back
extern void (*g_exec_failed)(bool released, const ExecSaved* saved);

// A call that may wait (an open of a fifo, which waits for its other end;
// a terminal's open; a blocking socket's connect, accept or receive) made
// from a trap that borrowed glibc's thread pointer lets the lock go while
// it waits: else the other end's open, a trap of another thread, would
// wait for the lock for good. Where it may wait long (`signals()`: the
// file is a fifo or a terminal, the socket blocks), the program's thread
// pointer and signal mask go back for its length too, as for an exec:
// SIGTERM or Ctrl-C end a program waiting there, and its own handlers run
// (a trap they make borrows afresh). Otherwise signals stay blocked and
// the borrowed thread pointer stays: nothing runs on the thread until the
// call returns and the lock is taken again.
extern bool (*g_borrowed)();
extern int (*g_let_go)(bool signals, ExecSaved* saved);  // 0: nothing let go
extern void (*g_take_again)(int how, const ExecSaved* saved);
template <class S, class F>
long waiting(S signals, F call) {
  ExecSaved saved{};
  int how = g_borrowed && g_borrowed() ? g_let_go(signals(), &saved) : 0;
  long r = call();
  if (how) g_take_again(how, &saved);
  return r;
}
// Whether an open of (dirfd, path) with `flags` may wait long: a fifo or a
// character device opened without O_NONBLOCK (one statx).
bool open_may_wait(int dirfd, const char* path, int flags);
// Whether a socket call on `fd` (with MSG_* `flags`) blocks.
bool socket_may_wait(int fd, int flags);

// Makes the plan an exec of cowroot-stub, told (COWROOT_STUB, in `env` of
// `cap` entries) what to start and how (Plan::mode). 0 or -errno.
int to_stub(struct Plan* p, char** env, size_t cap);

// How many instructions the filter has (for tests and the docs).
unsigned filter_length();

// The filter's verdict on a call, computed by running the filter program
// on (nr, ip, args) in user space: the tests check the program this way.
uint32_t verdict(long nr, uint64_t ip, const long args[6], uint32_t arch);

}  // namespace confine
}  // namespace cr
