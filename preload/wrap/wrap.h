// Shared by the wrapper files: initialisation on first use, the next
// definition of a libc function, and the export marker.
#pragma once
#include <dlfcn.h>

#define EXPORT extern "C" __attribute__((visibility("default")))
// initial-exec: a general-dynamic access would make the library need
// ld.so's __tls_get_addr (a second run-time dependency besides libc).
#define CR_TLS thread_local __attribute__((tls_model("initial-exec")))

namespace cr::wrap {

extern bool g_ready;
void init_once();

inline void ensure() {
  if (__builtin_expect(!g_ready, 0)) init_once();
}

// The next definition of `name` after this library (dlsym(RTLD_NEXT)'s
// answer, found without dlsym: see next.cc), or nullptr.
void* next_symbol(const char* name);
// This library's file name, as the loader opened it.
const char* own_file_name();

// libc's own definition of `name` (found once per call site).
template <typename T>
T real(const char* name) {
  return reinterpret_cast<T>(next_symbol(name));
}

}  // namespace cr::wrap
