// The library's start: everything is set up on first use (or by the
// constructor), never by a static initialiser.
#include <errno.h>
#include <link.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include <atomic>

#include "doors.h"

using namespace cr;

namespace cr::wrap {

bool g_ready = false;

void init_once() {
  static std::atomic<int> state{0};  // 0 new, 1 running, 2 done
  int expected = 0;
  if (state.compare_exchange_strong(expected, 1)) {
    confine_early();
    session_init(own_file_name());
    // Programs that bypass libc: their calls are trapped from here on.
    confine_start();
    // Started through the root's loader: take the name the kernel would
    // have given (see plan_exec).
    // Then it goes from the environment: a child started behind the
    // wrappers' back (a raw execve) must not take this name too.
    if (const char* comm = getenv("COWROOT_COMM")) {
      prctl(PR_SET_NAME, comm, 0, 0, 0);
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

}  // namespace

// Started through the root's loader, the process's argument block (what
// /proc/PID/cmdline shows, so ps -f, pgrep -f and pidof) holds the loader's
// command line: LOADER [--argv0 A] --inhibit-cache --library-path LP ...
// PROGRAM ARGS. COWROOT_ARGV (exec.cc note_argv) says where the program's
// strings are; they move to the block's start, argv[0] becoming the one the
// program was given (the loader had no --argv0 to say it: glibc < 2.33),
// and the rest of the block, which the kernel still counts, is zeroed
// (procps drops trailing NULs). In place, before main: no system call, no
// allocation. Anything that does not add up leaves the block as it is.
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
  for (size_t i = 0; i < n; i++) {
    size_t room = (size_t)(end - s);
    size_t l = strnlen(s, room);
    if (l == room) return;
    size_t first = n - (size_t)argc;
    if (i > first && s != argv[i - first]) return;
    s += l + 1;
  }
  if (s != end) return;
  const char* a0 = given0 ? given0 : argv[0];
  size_t l0 = strlen(a0) + 1;
  char* after0 = argc > 1 ? argv[1] : end;  // the program's strings move down, never up
  if (l0 > (size_t)(after0 - block)) return;
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
  // libc took its program name from the old argv[0] before this ran.
  program_invocation_name = argv[0];
  const char* slash = strrchr(argv[0], '/');
  program_invocation_short_name = slash ? const_cast<char*>(slash + 1) : argv[0];
}

}  // namespace cr::wrap

namespace {
// glibc calls a library's constructors with main's arguments.
__attribute__((constructor)) void cowroot_constructor(int argc, char** argv, char** envp) {
  cr::wrap::ensure();
  cr::wrap::take_program_args(argc, argv, envp);
}
}  // namespace
