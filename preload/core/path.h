// The core's one path buffer. A path the kernel sees is a host path: the
// root's prefix on the host plus the inside path a program gave (itself up
// to PATH_MAX), so every buffer that may hold one is a PathBuf. It is an
// array type, so `sizeof buf` is its capacity and it decays to char*.
#pragma once
#include <cstddef>

namespace cr {

constexpr size_t kPathMax = 4096;                     // an inside path, as PATH_MAX
constexpr size_t kHostPathMax = kPathMax + 128;       // a host path: prefix + inside path
using PathBuf = char[kHostPathMax];

// Whether a ':'-separated search path (a RUNPATH, LD_LIBRARY_PATH) has an
// absolute entry. Header-only: cowroot-audit.so, which has no libc, uses it.
inline bool has_absolute_entry(const char* list) {
  for (const char* p = list; p && *p;) {
    if (*p == '/') return true;
    while (*p && *p != ':') p++;
    if (*p) p++;
  }
  return false;
}

}  // namespace cr
