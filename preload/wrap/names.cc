// Hand-written doors of the names handed back (getcwd, realpath: libc's
// allocation rules around the core's ops::getcwd_inside and inside_realpath)
// and of two calls that pass a path to the kernel beside other arguments.
// The rest of their family is generated from preload/ops.tbl.
#include <sys/fanotify.h>
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

// utimensat(fd, NULL, …) is futimens: glibc's header says otherwise.
__attribute__((noinline)) bool nonnull_path(const char* p) { return p != nullptr; }

char* getcwd_in_root(char* buf, size_t size) {
  PathBuf inside;
  if (ops::getcwd_inside(inside, sizeof inside) < 0) return nullptr;
  // glibc's own: a directory the root does not reach has no name (ENOENT).
  if (inside[0] != '/') {
    errno = ENOENT;
    return nullptr;
  }
  size_t l = strlen(inside) + 1;
  if (!buf) {
    size_t cap = size > l ? size : l;
    if (size && size < l) {
      errno = ERANGE;
      return nullptr;
    }
    buf = static_cast<char*>(malloc(cap));
    if (!buf) return nullptr;
  } else if (size < l) {
    errno = size ? ERANGE : EINVAL;
    return nullptr;
  }
  memcpy(buf, inside, l);
  return buf;
}

char* realpath_in_root(const char* path, char* resolved) {
  if (!path) {
    errno = EINVAL;
    return nullptr;
  }
  PathBuf out;
  if (int e = inside_realpath(AT_FDCWD, path, out, sizeof out)) {
    errno = -e;
    return nullptr;
  }
  if (!resolved) return strdup(out);
  memcpy(resolved, out, strlen(out) + 1);
  return resolved;
}

}  // namespace

EXPORT char* getcwd(char* buf, size_t size) { ensure(); return getcwd_in_root(buf, size); }
EXPORT char* get_current_dir_name() { ensure(); return getcwd_in_root(nullptr, 0); }
EXPORT char* getwd(char* buf) { ensure(); return getcwd_in_root(buf, PATH_MAX); }
EXPORT char* __getwd_chk(char* buf, size_t buflen) {
  if (buflen < PATH_MAX) __chk_fail();
  ensure();
  return getcwd_in_root(buf, PATH_MAX);
}
EXPORT char* __getcwd_chk(char* buf, size_t size, size_t buflen) {
  if (size > buflen) __chk_fail();
  return getcwd(buf, size);
}

using realpath_fn = char* (*)(const char*, char*);
EXPORT char* realpath(const char* p, char* out) {
  ensure();
  if (!g_root.active) {
    static auto fn = real<realpath_fn>("realpath");
    return fn(p, out);
  }
  return realpath_in_root(p, out);
}
EXPORT char* __realpath_chk(const char* p, char* out, size_t buflen) {
  if (buflen < PATH_MAX) __chk_fail();
  return realpath(p, out);
}
EXPORT char* canonicalize_file_name(const char* p) { return realpath(p, nullptr); }
EXPORT int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int d, const char* p) {
  ensure();
  if (!nonnull_path(p)) return (int)sys::call(SYS_fanotify_mark, fd, flags, (long)mask, d, 0);
  RESOLVE_OR(-1, d, p, (flags & FAN_MARK_DONT_FOLLOW) ? 0 : kFollow, r);
  return (int)sys::call(SYS_fanotify_mark, fd, flags, (long)mask, r.dirfd, (long)r.path);
}
EXPORT int name_to_handle_at(int d, const char* p, struct file_handle* h, int* mnt, int flags) {
  ensure();
  RESOLVE_OR(-1, d, p, (flags & AT_SYMLINK_FOLLOW) ? kFollow : 0, r);
  return (int)sys::call(SYS_name_to_handle_at, r.dirfd, (long)r.path, (long)h, (long)mnt, flags);
}
