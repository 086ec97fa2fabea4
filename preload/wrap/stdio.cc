// Hand-written doors of stdio and temporary files: glibc opens these with
// its internal open, which no wrapper sees, so the file is opened (or its
// name made) here through the core's pipeline.
#include <sys/random.h>
#include <time.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>

#include "doors.h"

namespace {
// freopen(NULL, …) reopens the stream's own file: glibc's header calls the path non-null.
__attribute__((noinline)) bool nonnull_path(const char* p) { return p != nullptr; }
}  // namespace

// fopen and freopen open through glibc's internal open: resolution and the
// copy-on-write step happen here.
// The open(2) flags of an fopen mode, as glibc reads it; false for modes it
// would refuse or whose extras (",ccs=") only glibc's fopen handles.
bool fopen_flags(const char* m, int* flags, bool ccs_too = false) {
  int acc, extra;
  switch (m ? m[0] : 0) {
    case 'r': acc = O_RDONLY; extra = 0; break;
    case 'w': acc = O_WRONLY; extra = O_CREAT | O_TRUNC; break;
    case 'a': acc = O_WRONLY; extra = O_CREAT | O_APPEND; break;
    default: return false;
  }
  for (const char* c = m + 1; *c && *c != ','; c++) {
    if (*c == '+') acc = O_RDWR;
    else if (*c == 'x') extra |= O_EXCL;
    else if (*c == 'e') extra |= O_CLOEXEC;
  }
  if (strchr(m, ',') && !ccs_too) return false;
  *flags = acc | extra;
  return true;
}

// fopen opens with glibc's internal open, which no wrapper sees: here the
// file is opened through the pipeline (inside path, copy-on-write, the
// creating fake user as owner, the clone's journal) and handed to fdopen.
// freopen keeps glibc's own reopening; what it would miss is done around it.
EXPORT FILE* fopen(const char* p, const char* m) {
  ensure();
  using fn_t = FILE* (*)(const char*, const char*);
  static auto fn = real<fn_t>("fopen");
  int flags;
  if (nonnull_path(p) && m && strstr(m, ",ccs=") && fopen_flags(m, &flags, true)) {
    // A stream with a character set (",ccs=UTF-8"), which fdopen does not
    // set up: the file is opened through the pipeline, and glibc's fopen
    // opens it again by descriptor (its call passes: /proc/self/fd/N is
    // this process's own).
    int fd = ops::open_at(AT_FDCWD, p, flags, 0666);
    if (fd < 0) return nullptr;
    char proc[32] = "/proc/self/fd/";
    size_t k = strlen(proc);
    char digits[12];
    int nd = 0;
    for (int v = fd; nd == 0 || v; v /= 10) digits[nd++] = char('0' + v % 10);
    while (nd) proc[k++] = digits[--nd];
    proc[k] = 0;
    char mode[64];
    size_t ml = 0;
    for (const char* c = m; *c && ml < sizeof mode - 1; c++)
      if (c >= strchr(m, ',') || *c != 'x') mode[ml++] = *c;  // the file is there now: no O_EXCL again
    mode[ml] = 0;
    FILE* f = fn(proc, mode);
    int e = errno;
    sys::raw(SYS_close, fd);
    errno = e;
    return f;
  }
  if (!nonnull_path(p) || !fopen_flags(m, &flags)) return fn(p, m);
  int fd = ops::open_at(AT_FDCWD, p, flags, 0666);
  if (fd < 0) return nullptr;
  FILE* f = fdopen(fd, m);
  if (!f) {
    int e = errno;
    sys::raw(SYS_close, fd);
    errno = e;
  }
  return f;
}
EXPORT FILE* fopen64(const char* p, const char* m) { return fopen(p, m); }

template <typename Fn>
FILE* freopen_like(Fn fn, const char* p, const char* m, FILE* stream) {
  if (!nonnull_path(p)) {
    // freopen(NULL, mode, f) reopens f's own file (by /proc/self/fd/N): for
    // writing, a file shared with the base gets its copy, reopened by name.
    bool w = m && (strchr(m, 'w') || strchr(m, 'a') || strchr(m, '+'));
    PathBuf copy;
    if (w && stream) {
      int dirfd = fileno(stream), flags = AT_EMPTY_PATH;
      const char* path = "";
      if (int e = prepare_write(&dirfd, &path, &flags, true, CowWhat::kContent, copy)) {
        errno = -e;
        return nullptr;
      }
      if (path == copy) return fn(copy, m, stream);
    }
    return fn(p, m, stream);
  }
  if (!g_root.active && !g_cow.active && !ops::creation_owner_needed()) return fn(p, m, stream);
  Resolved r;
  if (int e = resolve(AT_FDCWD, p, kFollow, &r)) {
    errno = -e;
    return nullptr;
  }
  bool w = m && (strchr(m, 'w') || strchr(m, 'a') || strchr(m, '+'));
  bool excl = m && strchr(m, 'x');
  PathBuf copy;
  if (w && !excl) {
    if (int e = prepare_write(&r.dirfd, &r.path, nullptr, true, CowWhat::kContent, copy)) {
      errno = -e;
      return nullptr;
    }
  }
  struct statx before;
  bool existed = sys::raw(SYS_statx, AT_FDCWD, (long)r.path, 0, STATX_TYPE, (long)&before) == 0;
  if (w) cow_note(r.dirfd, r.path);
  FILE* f = fn(r.path, m, stream);
  if (f && w && !existed) ops::note_new_file(fileno(f));
  return f;
}
EXPORT FILE* freopen(const char* p, const char* m, FILE* f) {
  ensure();
  using fn_t = FILE* (*)(const char*, const char*, FILE*);
  static auto fn = real<fn_t>("freopen");
  return freopen_like(fn, p, m, f);
}
EXPORT FILE* freopen64(const char* p, const char* m, FILE* f) {
  ensure();
  using fn_t = FILE* (*)(const char*, const char*, FILE*);
  static auto fn = real<fn_t>("freopen64");
  return freopen_like(fn, p, m, f);
}
// ---- temporary files -----------------------------------------------------
// glibc's mkstemp family creates its file with an internal open no wrapper
// sees: the file would miss the pipeline (the inside path, the creating
// fake user as owner, the clone's journal). So the names are made here and
// each try is the wrapped open or mkdir.
namespace {

enum class Temp { kFile, kDir, kName };

int make_temp(char* tmpl, int suffixlen, int flags, Temp kind) {
  size_t len = strlen(tmpl);
  if (suffixlen < 0 || len < 6 + (size_t)suffixlen || memcmp(tmpl + len - suffixlen - 6, "XXXXXX", 6) != 0)
    return fail(EINVAL);
  char* x = tmpl + len - suffixlen - 6;
  static const char kLetters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  int saved = errno;
  for (int attempt = 0; attempt < 62 * 62 * 62; attempt++) {
    uint64_t v = 0;
    if (sys::raw(SYS_getrandom, (long)&v, sizeof v, GRND_NONBLOCK) != (long)sizeof v) {
      struct timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      v = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)sys::raw(SYS_getpid) ^ ((uint64_t)attempt << 40);
    }
    for (int i = 0; i < 6; i++, v /= 62) x[i] = kLetters[v % 62];
    int r;
    if (kind == Temp::kFile) {
      r = ops::open_at(AT_FDCWD, tmpl, (flags & ~O_ACCMODE) | O_RDWR | O_CREAT | O_EXCL, 0600);
    } else if (kind == Temp::kDir) {
      r = ops::mkdir_at(AT_FDCWD, tmpl, 0700);
    } else {
      struct stat st;
      r = ops::stat_at(AT_FDCWD, tmpl, &st, AT_SYMLINK_NOFOLLOW);
      if (r < 0 && errno == ENOENT) {
        errno = saved;
        return 0;
      }
      if (r < 0) return -1;
      errno = EEXIST;
      r = -1;
    }
    if (r >= 0) {
      errno = saved;
      return r;
    }
    if (errno != EEXIST) return -1;
  }
  return fail(EEXIST);
}

}  // namespace

EXPORT int mkstemp(char* t) { ensure(); return make_temp(t, 0, 0, Temp::kFile); }
EXPORT int mkstemp64(char* t) { ensure(); return make_temp(t, 0, 0, Temp::kFile); }
EXPORT int mkostemp(char* t, int f) { ensure(); return make_temp(t, 0, f, Temp::kFile); }
EXPORT int mkostemp64(char* t, int f) { ensure(); return make_temp(t, 0, f, Temp::kFile); }
EXPORT int mkstemps(char* t, int s) { ensure(); return make_temp(t, s, 0, Temp::kFile); }
EXPORT int mkstemps64(char* t, int s) { ensure(); return make_temp(t, s, 0, Temp::kFile); }
EXPORT int mkostemps(char* t, int s, int f) { ensure(); return make_temp(t, s, f, Temp::kFile); }
EXPORT int mkostemps64(char* t, int s, int f) { ensure(); return make_temp(t, s, f, Temp::kFile); }
EXPORT char* mktemp(char* t) {
  ensure();
  if (make_temp(t, 0, 0, Temp::kName) < 0) t[0] = 0;  // glibc's contract: an empty string on failure
  return t;
}
EXPORT char* mkdtemp(char* t) {
  ensure();
  return make_temp(t, 0, 0, Temp::kDir) < 0 ? nullptr : t;
}
// An unnamed file in the root's /tmp (glibc's tmpfile ignores TMPDIR too),
// through the wrapped open so that it is the creating fake user's.
EXPORT FILE* tmpfile() {
  ensure();
  int fd = ops::open_at(AT_FDCWD, "/tmp", O_TMPFILE | O_RDWR, 0600);
  if (fd < 0) {
    // No O_TMPFILE here: a named file, removed at once.
    char name[] = "/tmp/tmpfXXXXXX";
    fd = make_temp(name, 0, 0, Temp::kFile);
    if (fd < 0) return nullptr;
    ops::unlink_at(AT_FDCWD, name, 0);
  }
  FILE* f = fdopen(fd, "w+");
  if (!f) sys::raw(SYS_close, fd);
  return f;
}
EXPORT FILE* tmpfile64() { return tmpfile(); }
