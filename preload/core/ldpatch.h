// The root's loader's own host paths, made to lead nowhere.
//
// glibc's ld.so searches, after everything it is given (--library-path,
// RUNPATH), its built-in system directories ("/lib/x86_64-linux-gnu/",
// "/usr/lib/x86_64-linux-gnu/", "/lib/", "/usr/lib/"), and reads
// /etc/ld.so.preload first. Run by exec with host paths, it would take the
// host's: a library missing from the root loaded from the host's /usr/lib
// instead of failing, the host's preload list in the root's programs. No
// option turns either off. The strings sit in the loader's read-only data
// (dl-load.c's system_dirs, two copies in some builds; rtld.c's
// preload_file), so the loader cowroot-stub maps gets them overwritten in
// its private copy before it runs: each directory becomes one of the same
// length that holds no library ("/dev/", "/proc" and slashes: the loader
// asserts an absolute name, and keeps the length it was built with), the
// preload file a name under /dev/null, which no directory is.
//
// Where they are is found once per loader file (core/loader.cc, from the
// file's bytes) and handed to the stub in COWROOT_STUB, as file offsets:
// a run, `offset << 4 | strings`. No libc here: the stub uses it too.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace cr::ldpatch {

constexpr int kMaxRuns = 4;

#if defined(__x86_64__)
#define CR_LDPATCH_TRIPLET "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define CR_LDPATCH_TRIPLET "aarch64-linux-gnu"
#endif

// Debian's (and Ubuntu's) multiarch glibc, every release from 2.28 on.
constexpr char kSystemDirs[] = "/lib/" CR_LDPATCH_TRIPLET "/\0/usr/lib/" CR_LDPATCH_TRIPLET "/\0/lib/\0/usr/lib/";
constexpr unsigned kSystemDirsCount = 4;
constexpr char kPreloadFile[] = "/etc/ld.so.preload";

inline bool same(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

// The bytes a run of `count` strings stands for, with their last NUL (in
// *len); nullptr for a count no run has.
inline const char* expected(unsigned count, size_t* len) {
  if (count == kSystemDirsCount) return *len = sizeof kSystemDirs, kSystemDirs;
  if (count == 1) return *len = sizeof kPreloadFile, kPreloadFile;
  return nullptr;
}

// The runs as COWROOT_STUB carries them, "RUN,RUN" in hex (up to the first
// 0 of kMaxRuns): the characters written to out (9 * kMaxRuns at most).
inline size_t put_runs(char* out, const uint32_t* runs) {
  size_t k = 0;
  for (int i = 0; i < kMaxRuns && runs[i]; i++) {
    if (i) out[k++] = ',';
    char d[8];
    int nd = 0;
    uint32_t r = runs[i];
    do d[nd++] = "0123456789abcdef"[r & 15]; while (r >>= 4);
    while (nd) out[k++] = d[--nd];
  }
  return k;
}

// Reads what put_runs wrote into runs (kMaxRuns entries, 0 after the
// last); returns where the text stops.
inline const char* get_runs(const char* s, uint32_t* runs) {
  for (int i = 0; i < kMaxRuns; i++) runs[i] = 0;
  for (int i = 0; i < kMaxRuns; i++) {
    uint32_t v = 0;
    for (; (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'); s++)
      v = v << 4 | (uint32_t)(*s <= '9' ? *s - '0' : *s - 'a' + 10);
    runs[i] = v;
    if (*s != ',') break;
    s++;
  }
  return s;
}

// The runs in d[0, n): up to kMaxRuns, written to out; their number.
// `find_byte` is memchr or the stub's own.
template <typename FindByte>
int find_runs(const char* d, size_t n, uint32_t* out, FindByte find_byte) {
  int k = 0;
  size_t dl, pl;  // with the last NUL
  const char* dirs = expected(kSystemDirsCount, &dl);
  const char* preload = expected(1, &pl);
  for (const char* p = d; k < kMaxRuns && (p = static_cast<const char*>(find_byte(p, '/', (size_t)(d + n - p))));
       p++) {
    size_t left = (size_t)(d + n - p);
    size_t off = (size_t)(p - d);
    if (off >= (1u << 28)) break;
    if (left >= dl && same(p, dirs, dl)) {
      out[k++] = (uint32_t)(off << 4 | kSystemDirsCount);
      p += dl - 1;
    } else if (left >= pl && off > 0 && p[-1] == 0 && same(p, preload, pl)) {
      out[k++] = (uint32_t)(off << 4 | 1);
      p += pl - 1;
    }
  }
  return k;
}

// Overwrites the `count` strings at s, each with one of its length.
inline void neutralise(char* s, unsigned count) {
  for (unsigned i = 0; i < count; i++) {
    size_t l = 0;
    while (s[l]) l++;
    if (l >= 5 && s[l - 1] == '/') {
      // A directory: nothing named lib* is in /dev or /proc.
      const char* head = l == 5 ? "/dev/" : "/proc";
      for (size_t j = 0; j < l; j++) s[j] = j < 5 ? head[j] : '/';
    } else if (l >= 11) {
      // A file: "/dev/null/---…", under a file that is no directory (a
      // name in /proc is looked up afresh each time: twice the cost).
      for (size_t j = 0; j < l; j++) s[j] = j < 10 ? "/dev/null/"[j] : '-';
    }
    s += l + 1;
  }
}

// The length of a run's bytes (its strings and their NULs).
inline size_t run_length(const char* s, unsigned count) {
  size_t t = 0;
  for (unsigned i = 0; i < count; i++) {
    while (s[t]) t++;
    t++;
  }
  return t;
}

}  // namespace cr::ldpatch
