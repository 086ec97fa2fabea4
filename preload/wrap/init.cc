// The library's start: everything is set up on first use (or by the
// constructor), never by a static initialiser.
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <sys/prctl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstring>
#include <unistd.h>

#include "../core/confine.h"
#include "../core/elfmap.h"
#include "doors.h"

using namespace cr;

namespace cr::wrap {

bool g_ready = false;

void init_once() {
  static std::atomic<int> state{0};  // 0 new, 1 running, 2 done
  int expected = 0;
  if (state.compare_exchange_strong(expected, 1)) {
    confine_early();
    prefault_start();
    session_init(own_file_name());
    // Programs that bypass libc: their calls are trapped from here on.
    confine_start();
    // Started through the root's loader: take the name the kernel would
    // have given (see plan_exec).
    // Then it goes from the environment: a child started behind the
    // wrappers' back (a raw execve) must not take this name too.
    // (The stub, when it started this program, gave the name already.)
    if (const char* comm = getenv("COWROOT_COMM")) {
      if (!confine::stub_info()) prctl(PR_SET_NAME, comm, 0, 0, 0);
      unsetenv("COWROOT_COMM");
    }
    state.store(2);
    g_ready = true;
  }
}

namespace {

size_t parse_size(const char*& p) {
  size_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (size_t)(*p++ - '0');
  return v;
}

// The kernel's account of this process's memory: from the stub, which
// found it at no cost when it started the program (a confined session),
// else from /proc/self/stat (fields 26-28 and 45-51; about 10 us here).
bool memory_map(prctl_mm_map* m) {
#if defined(__x86_64__)
  if (sys::g_gate == reinterpret_cast<void*>(confine::kGate)) {
    const confine::StubInfo* info = confine::stub_info();
    if (info && confine::memory_of(*info, m)) return true;
  }
#endif
  uint64_t f[53];
  if (!sys::self_stat_fields(f)) return false;
  m->start_code = f[26];
  m->end_code = f[27];
  m->start_stack = f[28];
  m->start_data = f[45];
  m->end_data = f[46];
  m->start_brk = f[47];
  m->arg_start = f[48];
  m->arg_end = f[49];
  m->env_start = f[50];
  m->env_end = f[51];
  return true;
}

// What the kernel was last told of the process's memory (kernel_args_from).
prctl_mm_map g_kernel_map;
bool g_kernel_map_known = false;

// Tells the kernel that the process's argument block starts at `start`
// (the program's own strings, which end where the environment's begin), so
// that /proc/PID/cmdline is exactly the program's command line, with no
// NULs where the loader's arguments were. PR_SET_MM_MAP needs no privilege
// (only a new exe link would), but replaces every address it carries: they
// are given again as they were (memory_map, and the current break), and
// the block the kernel has must be the one we found. False when the kernel
// has no PR_SET_MM_MAP (CONFIG_CHECKPOINT_RESTORE) or anything does not
// add up.
bool kernel_args_from(char* block, char* start, char* end) {
  prctl_mm_map m{};
  if (!memory_map(&m)) return false;
  if (m.arg_start != (uint64_t)block || m.arg_end != (uint64_t)end || m.env_start != (uint64_t)end) return false;
  m.brk = (uint64_t)sys::raw(SYS_brk, 0);
  m.arg_start = (uint64_t)start;
  m.exe_fd = (uint32_t)-1;
  if (sys::raw(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, (long)&m, sizeof m, 0) != 0) return false;
  g_kernel_map = m;
  g_kernel_map_known = true;
  return true;
}

}  // namespace

// The auxiliary vector as the loader keeps it (getauxval's: a program the
// loader ran as its own has its entry, headers and name there), the
// entries a program is given.
size_t program_auxv(Elf64_auxv_t* out, size_t cap) {
  static const unsigned long kTypes[] = {AT_SYSINFO_EHDR, AT_HWCAP, AT_PAGESZ, AT_CLKTCK, AT_PHDR, AT_PHENT, AT_PHNUM,
                                         AT_BASE, AT_FLAGS, AT_ENTRY, AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE,
                                         AT_RANDOM, AT_HWCAP2, AT_EXECFN, AT_PLATFORM, AT_MINSIGSTKSZ};
  size_t n = 0;
  for (unsigned long t : kTypes) {
    if (n + 1 >= cap) break;
    unsigned long v = getauxval(t);
    if (v || t == AT_SECURE || t == AT_BASE || t == AT_FLAGS || t == AT_UID || t == AT_GID || t == AT_EUID ||
        t == AT_EGID || t == AT_PHDR || t == AT_ENTRY || t == AT_EXECFN || t == AT_PHNUM || t == AT_PHENT)
      out[n].a_type = t, out[n++].a_un.a_val = v;
  }
  out[n].a_type = AT_NULL;
  out[n].a_un.a_val = 0;
  return n;
}

// The kernel's copy of the auxiliary vector (/proc/PID/auxv: where a
// debugger finds the program's entry and program headers, so its load
// address, and the interpreter's base, attached or starting it) becomes
// `auxv`, the program's, where the stub ran the loader or this library as
// the program. Then, when a debugger started it (confine.h,
// StubInfo::tracer), the process stops itself (int3) for the tracer's
// library, which hands its debugger the exec stop now that the program is
// mapped.
void show_program(const Elf64_auxv_t* auxv) {
#if defined(__x86_64__)
  auto* info = const_cast<confine::StubInfo*>(confine::stub_info());
  if (!info) return;
  size_t n = 0;
  while (auxv[n].a_type != AT_NULL) n++;
  prctl_mm_map m = g_kernel_map;
  if (g_kernel_map_known || memory_map(&m)) {
    m.brk = (uint64_t)sys::raw(SYS_brk, 0);
    m.auxv = reinterpret_cast<__u64*>(const_cast<Elf64_auxv_t*>(auxv));
    m.auxv_size = (uint32_t)((n + 1) * sizeof *auxv);
    m.exe_fd = (uint32_t)-1;
    sys::raw(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, (long)&m, sizeof m, 0);
  }
  if (info->tracer != confine::kTraced) return;
  info->tracer = confine::kReleased;
  asm volatile("int3" ::: "memory");
#else
  (void)auxv;
#endif
}

// A static program's command line (static.cc): the kernel is told the
// argument block starts at the program's argv[0] (`start`, a string of the
// block it has, after the loader's arguments and this library's), so that
// /proc/PID/cmdline is the program's, as for a dynamic program (ps -f,
// pgrep -f, pidof). The strings before it stay (static.cc reads them).
bool static_program_args(char* start) {
  prctl_mm_map m{};
  if (!memory_map(&m)) return false;
  char* block = reinterpret_cast<char*>(m.arg_start);
  char* end = reinterpret_cast<char*>(m.arg_end);
  return start > block && start < end && kernel_args_from(block, start, end);
}

// What the loader was given, as take_program_args found it: whether the
// planner gave it the audit module (which names a library found through
// a translated RUNPATH as the RUNPATH has it, not by its host path).
// (Kept on the session's first page, which the start writes anyway.)
enum LoaderArgs { kUnknown, kPlain, kAudited };

// Started through the root's loader, the process's argument block (what
// /proc/PID/cmdline shows, so ps -f, pgrep -f and pidof) holds the loader's
// command line: LOADER [--argv0 A] --inhibit-cache --library-path LP ...
// PROGRAM ARGS. COWROOT_ARGV (exec.cc note_argv) says where the program's
// strings are. The program's arguments end the block already: argv[0], the
// one the program was given (the loader had no --argv0 to say it: glibc <
// 2.33), goes just before them, the loader's part is zeroed, and the kernel
// is told the block starts there (kernel_args_from), so the command line is
// exactly the program's and a program that rewrites its title (postgres,
// sshd) still has its arguments and environment as one run. Where the
// kernel will not, the strings move to the block's start instead and the
// rest is zeroed (procps drops trailing NULs; a plain reader sees them).
// In place, before main, no allocation. Anything that does not add up
// leaves the block as it is.
void take_program_args(int argc, char** argv, char** envp) {
  const char* note = getenv("COWROOT_ARGV");
  if (!note) return;
  unsetenv("COWROOT_ARGV");  // a program started behind our back must not take it
  const char* p = note;
  size_t off0 = parse_size(p);
  if (*p++ != ' ') return;
  size_t total = parse_size(p);
  if (*p++ != ' ') return;
  size_t n = parse_size(p);
  const char* given0 = *p == '=' ? p + 1 : nullptr;  // argv[0], when the loader could not set it
  if (*p && *p != '=') return;
  if (argc < 1 || !argv || !argv[0] || !envp || !envp[0] || n < (size_t)argc || total == 0) return;
  // The block ends where the environment's strings start, above the
  // pointer arrays and the auxiliary vector.
  char* block = argv[0] - off0;
  char* end = block + total;
  if (end != envp[0]) return;
  char** e = envp;
  while (*e) e++;
  auto* av = reinterpret_cast<ElfW(auxv_t)*>(e + 1);
  while (av->a_type != AT_NULL) av++;
  if (block < reinterpret_cast<char*>(av + 1) || argv[0] < block) return;
  // Its n strings, the last argc - 1 of them the program's own arguments.
  char* s = block;
  bool audited = false;
  for (size_t i = 0; i < n; i++) {
    size_t room = (size_t)(end - s);
    size_t l = strnlen(s, room);
    if (l == room) return;
    size_t first = n - (size_t)argc;
    if (i > first && s != argv[i - first]) return;
    if (i < first && strcmp(s, "--audit") == 0) audited = true;
    s += l + 1;
  }
  if (s != end) return;
  g_session.loader_args = audited ? kAudited : kPlain;
  const char* a0 = given0 ? given0 : argv[0];
  size_t l0 = strlen(a0) + 1;
  char* after0 = argc > 1 ? argv[1] : end;  // the program's strings move down, never up
  if (l0 > (size_t)(after0 - block)) return;
  char* start = after0 - l0;
  if (start > block && kernel_args_from(block, start, end)) {
    memmove(start, a0, l0);
    argv[0] = start;
    memset(block, 0, (size_t)(start - block));
  } else {
    char* d = block;
    memmove(d, a0, l0);
    argv[0] = d;
    d += l0;
    for (int i = 1; i < argc; i++) {
      size_t l = strlen(argv[i]) + 1;
      memmove(d, argv[i], l);
      argv[i] = d;
      d += l;
    }
    memset(d, 0, (size_t)(end - d));
  }
  // libc took its program name from the old argv[0] before this ran.
  program_invocation_name = argv[0];
  const char* slash = strrchr(argv[0], '/');
  program_invocation_short_name = slash ? const_cast<char*>(slash + 1) : argv[0];
}

// The auxiliary vector getauxval reads, of a program the root's loader
// ran as its own: the loader gave AT_EXECFN its own name or the program's
// host path (a string of the argument block, which take_program_args
// moves), and AT_BASE is 0, the loader being the program the kernel
// started. As the kernel's exec of the program would give them: the
// program's name, and the loader's base.
// The vector follows the environment's pointers, but unsetenv (ours, of
// COWROOT_ARGV and the like) moved their NULL up: it is found as the first
// run of entries after it that ends in AT_NULL and holds the AT_EXECFN
// getauxval gives, below the argument block's strings (argv[0]).
// The base of the loader that ran the program as its own: its map comes
// after the program's, named as the program's PT_INTERP or nothing (run
// as a program, it has no name of its own). 0 for none.
uintptr_t loader_base() {
  uintptr_t base = 0;
  const link_map* first = first_loaded_object();
  for (const link_map* m = first ? first->l_next : nullptr; m; m = m->l_next)
    if (m->l_name && m->l_addr && (!m->l_name[0] || elf::is_loader_name(m->l_name))) base = m->l_addr;
  return base;
}

void fix_program_auxv(char** argv, char** envp) {
  unsigned long execfn = getauxval(AT_EXECFN);
  if (!envp || !argv || !argv[0] || getauxval(AT_BASE) != 0 || !execfn) return;
  uintptr_t ldbase = loader_base();
  if (!ldbase) return;
  char** w = envp;
  while (*w) w++;
  for (int skip = 0; skip < 256; skip++) {
    auto* aux = reinterpret_cast<ElfW(auxv_t)*>(w + 1 + skip);
    ElfW(auxv_t)* base = nullptr;
    ElfW(auxv_t)* fn = nullptr;
    auto* limit = reinterpret_cast<ElfW(auxv_t)*>(argv[0]);
    int i = 0;
    for (; aux + i + 1 <= limit && i < 64 && aux[i].a_type != AT_NULL && aux[i].a_type < 64; i++) {
      if (aux[i].a_type == AT_BASE) base = &aux[i];
      if (aux[i].a_type == AT_EXECFN && aux[i].a_un.a_val == execfn) fn = &aux[i];
    }
    if (aux + i + 1 > limit) return;
    if (i == 64 || aux[i].a_type != AT_NULL || !fn) continue;
    if (base) base->a_un.a_val = ldbase;
    if (g_root.active && g_root.exe[0]) fn->a_un.a_val = (uintptr_t)g_root.exe;
    return;
  }
}

}  // namespace cr::wrap

namespace cr::wrap {
namespace {

bool under(const char* name, const char* dir, size_t dl) {
  return dl && strncmp(name, dir, dl) == 0 && (name[dl] == '/' || name[dl] == 0 || dir[dl - 1] == '/');
}

}  // namespace

bool loader_links_path(const char* n) {
  return under(n, g_session.state_dir, strlen(g_session.state_dir)) && strstr(n, kLinksName);
}

bool root_host_path(const char* n) {
  if (under(n, g_root.top, g_root.top_len)) return true;
  if (loader_links_path(n)) return true;
  for (int i = 0; i < g_root.nbinds; i++)
    if (under(n, g_root.binds[i].host, g_root.binds[i].host_len)) return true;
  return false;
}

namespace {

// A library the loader took from the host, not the root, at the program's
// start: a library's own absolute RUNPATH, which the loader searches as a
// host path (the planner gives the audit module, which makes it the
// root's, only to a program with an absolute RUNPATH of its own). Its
// host path, or nullptr. Every object the loader names by an absolute path
// is the root's (under its top, or a bind's host side), this library, or
// one of the loader's links (which lead into the root).
const char* host_object(char** argv) {
  // The loader names itself by its argv[0] (a string of the argument block,
  // which take_program_args may have moved the program's argv[0] into).
  const char* block_lo = argv && argv[0] ? argv[0] : nullptr;
  const char* block_hi = block_lo;
  for (char** a = argv; a && *a; a++) {
    if (*a < block_lo) block_lo = *a;
    if (*a + strlen(*a) + 1 > block_hi) block_hi = *a + strlen(*a) + 1;
  }
  for (const link_map* m = first_loaded_object(); m; m = m->l_next) {
    const char* n = m->l_name;
    if (!n || n[0] != '/') continue;  // the program, the vDSO, a relative RUNPATH's
    if (block_lo && n >= block_lo && n < block_hi) continue;
    if (!root_host_path(n) && strcmp(n, g_session.lib) != 0) return n;
  }
  return nullptr;
}

// Such a program is started again with the module (COWROOT_AUDIT=1:NAME,
// which the planner takes as a RUNPATH of the program's own would be, NAME
// the process's name as it is; the library takes it out of the
// environment at once, so its children do not inherit it). Where that
// cannot help (no module for this loader: glibc before 2.35,
// COWROOT_AUDIT=0, glibc.rtld.nns, a program that needs jemalloc), or did
// not (a host file loaded some other way), it is refused with one line: it
// never runs with a host library. The root's loader only (the stub's 'L'
// start).
void refuse_host_objects(char** argv) {
  const char* audit = getenv("COWROOT_AUDIT");
  bool again = audit && audit[0] == '1' && (audit[1] == 0 || audit[1] == ':');
  if (again) unsetenv("COWROOT_AUDIT");
  if (!g_root.active) return;
#if defined(__x86_64__)
  const confine::StubInfo* info = confine::stub_info();
  if (!info || info->mode != 'L') return;
#else
  return;
#endif
  // Under the module a library's name is its RUNPATH's, not its host
  // path: it is the root's. Where the loader's command line was not seen,
  // nothing is said.
  if (g_session.loader_args != kPlain) return;
  // fakechroot's FAKECHROOT_ELFLOADER runs a program of the user's choice
  // in the loader's place (it may be the host's).
  if (g_session.fakechroot && getenv("FAKECHROOT_ELFLOADER")) return;
  const char* host = host_object(argv);
  if (!host) return;
  if (!again && !(audit && strcmp(audit, "0") == 0) && g_root.exe[0] == '/' && argv && argv[0]) {
    char value[2 + 16 + 1] = "1:";
    char comm[17] = {};
    prctl(PR_GET_NAME, comm, 0, 0, 0);
    memcpy(value + 2, comm, strnlen(comm, 16) + 1);
    setenv("COWROOT_AUDIT", value, 1);
    execv(g_root.exe, argv);
    unsetenv("COWROOT_AUDIT");
  }
  errline(g_root.exe[0] ? g_root.exe : "a program", ": the loader took the library ", host,
          " from the host, not the root: not run");
  _exit(127);
}

// The root's loader ran as the program ('L'): the program is shown (to
// the kernel's auxiliary vector, and to a debugger that started it) once
// the loader has mapped it (the stub shows the others before their
// interpreter runs). The loader wrote the program's
// entry, headers and name into the auxiliary vector; its own base, which
// the kernel would have given, is where the stub put it (in the window).
// Not for a static program, whose loader ran this library as its program:
// static.cc shows it.
void show_loaded_program() {
#if defined(__x86_64__)
  const confine::StubInfo* info = confine::stub_info();
  if (!info || info->mode != 'L') return;
  const link_map* main = first_loaded_object();
  if (!main || main->l_ld == _DYNAMIC) return;
  Elf64_auxv_t av[24];
  program_auxv(av, sizeof av / sizeof av[0]);
  for (Elf64_auxv_t* a = av; a->a_type != AT_NULL; a++)
    if (a->a_type == AT_BASE && !a->a_un.a_val) a->a_un.a_val = loader_base();
  show_program(av);
#endif
}

}  // namespace
}  // namespace cr::wrap

namespace {
// glibc calls a library's constructors with main's arguments. This one
// runs first (the library is linked -z initfirst: DF_1_INITFIRST), before
// the program's .preinit_array and every other library's constructor, so
// that no code of the program's runs before its calls are the library's
// to serve (before it, only the loader's pass the stub's handler). Before
// libc's own constructor too, which sets `environ` from the same vector:
// set here for getenv.
__attribute__((constructor)) void cowroot_constructor(int argc, char** argv, char** envp) {
  if (!environ) environ = envp;
  cr::wrap::ensure();
  cr::wrap::take_program_args(argc, argv, envp);
  cr::wrap::fix_program_auxv(argv, envp);
  cr::wrap::refuse_host_objects(argv);
  cr::wrap::show_loaded_program();
}
}  // namespace
