// Starting programs in a session: the environment goes back in, and inside
// a root the program runs with the root's own ELF interpreter and libraries.
// Everything lives in a caller-provided Plan (on the caller's stack): no
// allocation and no lock, so it is safe in a vfork child.
#pragma once
#include <fcntl.h>
#include <errno.h>
#include <stdlib.h>

#include <cstddef>
#include <cstring>

#include "ldpatch.h"
#include "path.h"
#include "session.h"

struct statx;

namespace cr {

// The #! levels an exec follows before ELOOP: the kernel's (fs/exec.c
// allows five rewrites of the program before the one that runs).
inline constexpr int kScriptLevels = 5;
// Argument slots an exec may put before a program's own: two per #! level
// and the loader with its options (exec.cc).
inline constexpr size_t kArgvRoom = 2 * kScriptLevels + 12;

struct Plan {
  const char* path;  // what to execve
  char** argv;
  char** envp;
  int dirfd;
  int flags;
  // storage
  PathBuf host;
  PathBuf loader;
  PathBuf tracer;  // cowroot-trace, when the loader only lists libraries
  char interp[kScriptLevels + 1][512];  // each #! level's interpreter, then the ELF interpreter
  char exe[kPathMax];
  char libpath[16384];
  char comm[16];          // the kernel's name for the new process: its file's name
  char fdname[kPathMax + 40];  // "/dev/fd/N" (a script run by descriptor) or "/dev/fd/N/NAME" (by a name
                               // relative to a directory descriptor)
  char libstamp[40 + 2048];  // COWROOT_LIBPATH's stamp ("" for none), with the root's preload list
  char rootpreload[2048];   // the root's /etc/ld.so.preload, for --preload (cached_library_path)
  char preloadarg[kHostPathMax + 2048];  // --preload's value when the root has such a list
  const char* libtail;    // the root's part of libpath (after LD_LIBRARY_PATH's)
  char preload[256];      // a sanitizer runtime the program needs, loaded first (its soname)
  char optvals[4096];     // the program's own --library-path, --preload, --audit to the loader, as host paths
  ExecCreds creds;        // the new program's credentials (a setuid file's owner, file capabilities)
  bool creds_set;
  char argvnote[72];      // COWROOT_ARGV: where the program's arguments are (see note_argv)
  bool as_root;           // `fakeroot CMD`: CMD gets every id 0 (root_exec_creds), whoever runs it
  char tracename[560];    // COWROOT_TRACE_ARGV0=the loader's argv[0] as its caller gave it, for cowroot-trace
  const char* argv0;      // ... and its argv[0], when the loader could not be given it
  char strings[3 * 4096 + 8192];
  // In a confined process (confine.h) the exec runs cowroot-stub, which
  // starts `path` as MODE says ('P' a program, 'L' an ELF interpreter run
  // as the program, 'H' one of cowroot's own or an allowed static program:
  // its calls pass untranslated), by name or from stub_fd.
  char mode;
  uint32_t ldruns[ldpatch::kMaxRuns];  // 'L': the loader's own host paths, for the stub to neutralise (ldpatch.h)
  bool ldruns_known;   // ... looked for (none found, when all are 0)
  int stub_fd;  // -1, or a descriptor the caller closes if the exec fails (plan_done)
  char stubvar[kHostPathMax + 80];
  char* args[256 + kArgvRoom];
  char** env;
};

// Prepares the exec of (dirfd, path, argv, envp, flags). `env_slots` is an
// array of at least env_count(envp) + exec_env_extra() + 8 pointers for the
// new environment; argv longer than the Plan's own array goes through
// `argv_slots` (argc + kArgvRoom pointers). Returns 0 or -errno (after printing a
// one-line reason for a refusal, such as a static binary).
int plan_exec(Plan* p, int dirfd, const char* path, char* const argv[], char* const envp[], int flags,
              char** env_slots, size_t env_cap, char** argv_slots, size_t argv_cap);

// What a plan holds open after a failed exec (or once a spawn started).
void plan_done(Plan* p);

// plan_exec + execve; returns only on failure (-1, errno set).
int exec_program(int dirfd, const char* path, char* const argv[], char* const envp[], int flags);

// Environment slots exec_env may add, with room for plan_exec's own.
size_t exec_env_extra_slots();

// What the file at `host` (or the open fd_in, when >= 0) is: 0 a dynamic
// ELF program (interp filled with its PT_INTERP), 1 an ELF file without
// one (static), 2 a #! script (interp and arg filled), or -errno (-ENOEXEC:
// none of these). Reads with pread only: vfork-safe. (tests/unit_tests.cc
// checks it against libelf on every ELF file of the host's /usr.)
// `host` is taken relative to `dirfd` (the walk's directory).
int inspect_program(const char* host, int fd_in, char* interp, size_t in, char* arg, size_t an, long* keep = nullptr,
                    int dirfd = AT_FDCWD);

// What the root's ELF interpreter at `host` (statx'd into sx, with
// STATX_INO and STATX_CTIME) takes of the options exec gives it: kLoader*
// bits, or -1 when the library cannot be served through it (*why then says
// why: another architecture, not glibc's). Learnt from the file's bytes once
// per file and process, and handed down in COWROOT_LOADERS. vfork-safe.
enum LoaderCaps : unsigned {
  kLoaderGlibc = 1,    // glibc's ld.so for this architecture
  kLoaderArgv0 = 2,    // --argv0 (glibc 2.33)
  kLoaderPreload = 4,  // --preload (glibc 2.30); without it LD_PRELOAD alone carries the library
  kLoaderAudit = 8,    // --audit with an audit interface that costs no lazy binding (glibc 2.35)
};
// `runs`, when given, gets where the loader's own host paths are (ldpatch.h:
// ldpatch::kMaxRuns entries, 0 after the last).
int loader_caps(const char* host, const struct statx& sx, const char** why, uint32_t* runs = nullptr);
// The remembered answers as COWROOT_LOADERS's value (may be empty).
bool loaders_text(char* out, size_t n);

// Set when plan_exec printed its own one-line reason for a refusal.
extern bool g_exec_reported;
// How the launcher names the root in its messages (cowroot run: the base
// or the image it cloned, not the throwaway clone); g_root.top when null.
extern const char* g_root_label;

size_t env_count(char* const envp[]);
size_t argv_count(char* const argv[]);

// Calls fn(arg) on a stack of the exec's own (1 MiB and `extra` bytes, a
// guard page below): planning an exec in a root takes 150-250 KiB of stack
// (and 16 bytes an argument and variable), more than a thread of 128 KiB,
// `ulimit -s 128` or the trap's stack of 256 KiB has. Eight are kept a
// process, each for one thread at a time (one that finds them all taken
// maps one for the call). A child that shares its parent's memory (vfork:
// a mapping of its own would stay the parent's after the exec) takes a
// kept one or stays on its own stack, as where nothing can be mapped.
// From a handler on the thread's signal stack, the exec's stack is made
// the signal stack meanwhile (a signal would go over the handler's frames).
long on_exec_stack(long (*fn)(void*), void* arg, size_t extra);
#if defined(__x86_64__)
// Calls fn(arg) with its stack at `top` (16-byte aligned): the exec's own
// stack above, and the trap's pool stacks (wrap/confine.cc).
extern "C" long cr_call_on_stack(char* top, long (*fn)(void*), void* arg);
#endif

// Plans the exec (on_exec_stack: no allocation, vfork-safe) and hands the
// plan to run(plan). Returns plan_exec's -errno, or what run returns.
template <typename F>
long with_plan(int dirfd, const char* path, char* const argv[], char* const envp[], int flags, F&& run) {
  struct Call {
    int dirfd;
    const char* path;
    char* const* argv;
    char* const* envp;
    int flags;
    F* run;
    size_t envc, argc;
  } call{dirfd, path, argv, envp, flags, &run, env_count(envp), argv_count(argv)};
  return on_exec_stack(
      [](void* a) -> long {
        auto* c = static_cast<Call*>(a);
        size_t ec = c->envc + exec_env_extra_slots();
        char** env = static_cast<char**>(__builtin_alloca(ec * sizeof(char*)));
        size_t ac = c->argc + kArgvRoom;
        char** av = static_cast<char**>(__builtin_alloca(ac * sizeof(char*)));
        Plan* p = static_cast<Plan*>(__builtin_alloca(sizeof(Plan)));
        for (auto& i : p->interp) i[0] = 0;
        p->as_root = false;
        if (int e = plan_exec(p, c->dirfd, c->path, c->argv, c->envp, c->flags, env, ec, av, ac); e < 0) return e;
        return (*c->run)(*p);
      },
      &call, (call.envc + call.argc) * 2 * sizeof(char*));
}

// The PATH search of glibc's execvp, the one every caller uses (execvp,
// execvpe, posix_spawnp, the cowroot command): a name with a slash is run as
// it is; otherwise each entry of the caller's PATH is tried in order (an
// empty entry is the working directory; no PATH at all is glibc's default,
// kDefaultPath). EACCES is remembered and reported if nothing else is
// found; ENOENT, ENOTDIR, ESTALE, ENODEV and ETIMEDOUT go on to the next
// entry; any other error ends the search. `run(path, argv)` starts one
// candidate: 0 when it did (the search ends), or its errno. With `shell`, a
// file that is no executable format (ENOEXEC) runs as a /bin/sh script, as
// execvp does (posix_spawnp does not). Returns 0 or the errno it ends with.
// No allocation: safe in a vfork child.
constexpr const char* kDefaultPath = "/bin:/usr/bin";

inline bool path_search_goes_on(int e) {
  return e == ENOENT || e == ENOTDIR || e == ESTALE || e == ENODEV || e == ETIMEDOUT;
}

template <typename Run>
int search_path(const char* file, char* const argv[], bool shell, Run&& run) {
  if (!*file) return ENOENT;
  auto one = [&](const char* path) -> int {
    int e = run(path, argv);
    if (e != ENOEXEC || !shell) return e;
    // Not an executable format: a shell script without its #! line.
    size_t argc = argv_count(argv);
    char** sh = static_cast<char**>(__builtin_alloca((argc + 2) * sizeof(char*)));
    sh[0] = const_cast<char*>("/bin/sh");
    sh[1] = const_cast<char*>(path);
    for (size_t i = 1; i <= argc; i++) sh[i + 1] = argv[i];
    return run("/bin/sh", sh);
  };
  if (strchr(file, '/')) return one(file);
  const char* path = getenv("PATH");
  if (!path) path = kDefaultPath;
  size_t fl = strlen(file);
  bool eacces = false;
  for (const char* p = path;; p++) {
    const char* q = p;
    while (*q && *q != ':') q++;
    PathBuf full;
    size_t dl = (size_t)(q - p);
    if (dl + fl + 2 <= sizeof full) {
      if (dl) memcpy(full, p, dl);
      else full[dl++] = '.';
      full[dl] = '/';
      memcpy(full + dl + 1, file, fl + 1);
      int e = one(full);
      if (e == 0) return 0;
      if (e == EACCES) eacces = true;
      else if (!path_search_goes_on(e)) return e;
    }
    if (!*q) break;
    p = q;
  }
  return eacces ? EACCES : ENOENT;
}

}  // namespace cr
