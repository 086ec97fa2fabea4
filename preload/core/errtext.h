// A one-line reason, printf-style, into a caller's buffer: how the parts
// of the core that the command line uses (state files, clones) explain a
// failure.
#pragma once
#include <cstdarg>
#include <cstddef>
#include <cstdio>

namespace cr {

inline void say(char* err, size_t n, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
inline void say(char* err, size_t n, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, n, fmt, ap);
  va_end(ap);
}

}  // namespace cr
