// Starting programs in a session: the environment goes back in, and inside
// a root the program runs with the root's own ELF interpreter and libraries.
// Everything lives in a caller-provided Plan (on the caller's stack): no
// allocation and no lock, so it is safe in a vfork child.
#pragma once
#include <cstddef>

namespace cr {

struct Plan {
  const char* path;  // what to execve
  char** argv;
  char** envp;
  int dirfd;
  int flags;
  // storage
  char host[4096 + 64];
  char loader[4096 + 64];
  char tracer[4096 + 64];  // cowroot-trace, when the loader only lists libraries
  char interp[3][512];  // #! interpreters and arguments
  char exe[4096];
  char libpath[16384];
  char comm[16];          // the kernel's name for the new process: its file's name
  char fdname[40];        // "/dev/fd/N": a script run by descriptor
  char libstamp[40];      // COWROOT_LIBPATH's stamp ("" for none)
  const char* libtail;    // the root's part of libpath (after LD_LIBRARY_PATH's)
  char preload[256];      // a sanitizer runtime the program needs, loaded first (its soname)
  char strings[3 * 4096 + 8192];
  char* args[256 + 16];
  char** env;
};

// Prepares the exec of (dirfd, path, argv, envp, flags). `env_slots` is an
// array of at least env_count(envp) + exec_env_extra() + 8 pointers for the
// new environment; argv longer than the Plan's own array goes through
// `argv_slots` (argc + 16 pointers). Returns 0 or -errno (after printing a
// one-line reason for a refusal, such as a static binary).
int plan_exec(Plan* p, int dirfd, const char* path, char* const argv[], char* const envp[], int flags,
              char** env_slots, size_t env_cap, char** argv_slots, size_t argv_cap);

// plan_exec + execve; returns only on failure (-1, errno set).
int exec_program(int dirfd, const char* path, char* const argv[], char* const envp[], int flags);

// Environment slots exec_env may add, with room for plan_exec's own.
size_t exec_env_extra_slots();

// What the file at `host` (or the open fd_in, when >= 0) is: 0 a dynamic
// ELF program (interp filled with its PT_INTERP), 1 an ELF file without
// one (static), 2 a #! script (interp and arg filled), or -errno (-ENOEXEC:
// none of these). Reads with pread only: vfork-safe. (tests/unit_tests.cc
// checks it against libelf on every ELF file of the host's /usr.)
int inspect_program(const char* host, int fd_in, char* interp, size_t in, char* arg, size_t an);

// Set when plan_exec printed its own one-line reason for a refusal.
extern bool g_exec_reported;

size_t env_count(char* const envp[]);
size_t argv_count(char* const argv[]);

// Plans the exec in this frame's stack (no allocation: vfork-safe) and hands
// the plan to run(plan). Returns plan_exec's -errno, or what run returns.
template <typename F>
long with_plan(int dirfd, const char* path, char* const argv[], char* const envp[], int flags, F&& run) {
  size_t ec = env_count(envp) + exec_env_extra_slots();
  char** env = static_cast<char**>(__builtin_alloca(ec * sizeof(char*)));
  size_t ac = argv_count(argv) + 16;
  char** av = static_cast<char**>(__builtin_alloca(ac * sizeof(char*)));
  Plan* p = static_cast<Plan*>(__builtin_alloca(sizeof(Plan)));
  p->interp[0][0] = p->interp[1][0] = p->interp[2][0] = 0;
  if (int e = plan_exec(p, dirfd, path, argv, envp, flags, env, ec, av, ac); e < 0) return e;
  return run(*p);
}

}  // namespace cr
