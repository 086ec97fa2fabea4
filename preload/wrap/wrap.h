// Shared by the wrapper files: initialisation on first use, the next
// definition of a libc function, and the export marker.
#pragma once
#include <dlfcn.h>
#include <elf.h>
#include <stddef.h>

#include "../core/resolve.h"

#define EXPORT extern "C" __attribute__((visibility("default")))
// initial-exec: a general-dynamic access would make the library need
// ld.so's __tls_get_addr (a second run-time dependency besides libc).
#define CR_TLS thread_local __attribute__((tls_model("initial-exec")))

namespace cr::wrap {

extern bool g_ready;
void init_once();
// Confines the system calls this process makes past the wrappers (confine.cc).
void confine_start();
// Before the session's start: the gate, if an inherited filter calls for it.
void confine_early();
// Serves a static program's calls (static.cc): false where it cannot.
bool confine_static();
bool static_program_args(char* start);
// The auxiliary vector as the loader keeps it (init.cc): its entries (at
// most cap - 1), then AT_NULL.
size_t program_auxv(Elf64_auxv_t* out, size_t cap);
// The kernel's auxiliary vector becomes the program's, `auxv`; under a
// debugger that started the program, the tracer is given its exec stop
// (init.cc).
void show_program(const Elf64_auxv_t* auxv);

inline void ensure() {
  if (__builtin_expect(!g_ready, 0)) init_once();
  vm_check();  // back from a CLONE_VM child that changed the process's state (core/resolve.h)
}

// The next definition of `name` after this library (dlsym(RTLD_NEXT)'s
// answer, found without dlsym: see next.cc), or nullptr.
void* next_symbol(const char* name);
// This library's file name, as the loader opened it.
const char* own_file_name();

// Set while this thread runs libc's own function on the program's behalf
// (a wrapper's real call, with paths resolved already): the system calls
// libc makes from its code meanwhile pass the confinement's handler
// untranslated (confine.cc). Its vfork children share it.
extern CR_TLS int t_pass;
// The strings the wrappers on this thread hand libc's functions (their
// translated paths): only a call that carries one of them, by address,
// passes as it is. Code of the program's that runs meanwhile on the
// thread (a library's constructor in dlopen, a signal handler) has paths
// of its own, which are served as the program's.
constexpr int kPassedMax = 16;
extern CR_TLS const char* t_passed[kPassedMax];
extern CR_TLS int t_npassed;

struct Passing {
  int mark = t_npassed;
  Passing() { t_pass++; }
  ~Passing() {
    t_pass--;
    t_npassed = mark;
  }
  void note(const char* s) {
    if (s && t_npassed < kPassedMax) t_passed[t_npassed++] = s;
  }
  template <typename T>
  void note(const T&) {}
};
// Around a program's callback called from such a function: its own calls
// are the program's again.
struct NotPassing {
  int saved = t_pass;
  NotPassing() { t_pass = 0; }
  ~NotPassing() { t_pass = saved; }
};

// The loader's list of loaded objects (next.cc), its names host paths.
const struct link_map* first_loaded_object();
// Whether a host path is the root's (init.cc): its top or under it, a
// bind's host side or under it, or the loader's links in the state
// directory (which lead into the root).
bool root_host_path(const char* host);
// Whether a host path is in the loader's links of the state directory.
bool loader_links_path(const char* host);

// libc's function, called as one whose calls are already translated.
template <typename T>
struct Real;
template <typename R, typename... A>
struct Real<R (*)(A...)> {
  R (*fn)(A...);
  R operator()(A... a) const {
    Passing p;
    (p.note(a), ...);
    return fn(a...);
  }
};

// libc's own definition of `name` (found once per call site).
template <typename T>
Real<T> real(const char* name) {
  return Real<T>{reinterpret_cast<T>(next_symbol(name))};
}
// The same, for functions that make no system call of the table's.
template <typename T>
T next(const char* name) {
  return reinterpret_cast<T>(next_symbol(name));
}

}  // namespace cr::wrap
