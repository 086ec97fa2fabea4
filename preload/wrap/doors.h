// What the generated front doors (build/gen/doors.cc, from preload/ops.tbl)
// and the hand-written wrappers share: the core's headers and the small
// adapters the table's expressions name.
#pragma once
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <utime.h>

#include <cstddef>

#include "../core/cow.h"
#include "../core/exec.h"
#include "../core/ops.h"
#include "../core/resolve.h"
#include "../core/session.h"
#include "../core/sys.h"
#include "wrap.h"

extern char** environ;
// glibc's "*** buffer overflow detected ***" exit of the _chk variants.
extern "C" [[noreturn]] void __chk_fail(void);

namespace cr::wrap {

// The system call dispatch generated from the table: serves `nr` with the
// operation its row names and returns the kernel's convention (-errno);
// *served is false (and nothing was done) for a call the table lacks.
long syscall_door(long nr, const long* a, bool* served);

// libc's own open of its gconv cache or configuration in a root
// (gconv.cc): a descriptor of a copy that names the modules by their host
// paths, or -1.
long gconv_open(const char* path, int flags);

// An operation's libc result (-1 and errno) in the kernel's convention.
inline long kernel_result(long r) { return r == -1 ? -errno : r; }
// The other way: the kernel's -errno as libc's -1 and errno.
inline long kernel_to_libc(long r) {
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

// open's third argument, present only when the call may create a file.
inline mode_t open_mode_arg(int flags, va_list ap) {
  return ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? va_arg(ap, mode_t) : 0;
}
#define open_mode(f, ap) cr::wrap::open_mode_arg(f, ap)

// The _chk variants' check: a size larger than the buffer ends the program.
inline size_t chk_size(size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();
  return n;
}

// utimes, futimes, utime: their times as utimensat's (null stays null: now).
struct Times {
  struct timespec t[2];
  bool now;
  explicit Times(const struct timeval* tv) : now(!tv) {
    if (tv) t[0] = {tv[0].tv_sec, tv[0].tv_usec * 1000}, t[1] = {tv[1].tv_sec, tv[1].tv_usec * 1000};
  }
  explicit Times(const struct utimbuf* b) : now(!b) {
    if (b) t[0] = {b->actime, 0}, t[1] = {b->modtime, 0};
  }
  const struct timespec* ts() const { return now ? nullptr : t; }
};

// utimensat(fd, NULL, …) is futimens, whatever glibc's header says of the
// path (nonnull): a null path becomes the descriptor form, "" with
// AT_EMPTY_PATH. Out of line, so the compiler keeps the test.
const char* or_empty(const char* path);
int empty_flags(const char* path, int flags);

// opendir(): glibc opens the directory with an internal call; ours opens it
// through the pipeline (read permission for a fake user), then fdopendir.
DIR* open_dir(const char* path);
// remove(): unlink, or rmdir for a directory.
int remove_name(const char* path);
// initgroups(): glibc sets the groups with an internal call; ours go through
// the fake setgroups.
int init_groups(const char* user, gid_t group);
// prctl: the capability bounding set, no_new_privs and the dumpable flag
// are faked (ops::prctl_caps), the rest is the kernel's; both in the
// kernel's convention.
long prctl_door(int option, unsigned long a, unsigned long b, unsigned long c, unsigned long d);
inline long prctl_va(int option, va_list ap) {
  unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long), c = va_arg(ap, unsigned long),
                d = va_arg(ap, unsigned long);
  return prctl_door(option, a, b, c, d);
}
// openat2 from syscall(): the kernel's convention.
long openat2_door(int dirfd, const char* path, const void* how, size_t size);
// execvp's search of PATH (glibc's rules), starting what it finds in the session.
int exec_search(const char* file, char* const argv[], char* const envp[]);

// A failed call in libc's convention.
inline int fail(int e) {
  errno = e;
  return -1;
}

}  // namespace cr::wrap

// Resolves (dirfd, path) into `out`, or returns `ret` from the wrapper with
// errno set.
#define RESOLVE_OR(ret, dirfd, path, flags, out)    \
  Resolved out;                                     \
  if (int e_ = resolve(dirfd, path, flags, &out)) { \
    errno = -e_;                                    \
    return ret;                                     \
  }

// Every wrapper file speaks the core's names.
using namespace cr;
using cr::wrap::ensure;
using cr::wrap::fail;
using cr::wrap::real;
using cr::wrap::chk_size;
using cr::wrap::exec_search;
using cr::wrap::init_groups;
using cr::wrap::kernel_result;
using cr::wrap::kernel_to_libc;
using cr::wrap::openat2_door;
using cr::wrap::prctl_door;
using cr::wrap::prctl_va;
using cr::wrap::or_empty;
using cr::wrap::empty_flags;
using cr::wrap::remove_name;
using cr::wrap::open_dir;
using cr::wrap::Times;
