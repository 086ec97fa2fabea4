// Path resolution inside a root: the kernel's chroot rules, in user space.
//
// Paths are handled as "top-inside" paths: absolute paths in the namespace
// of the session's root (the directory given to `cowroot -r`). A nested
// chroot() only moves `croot`, a prefix of that namespace, so nothing ever
// resolves above the session's root, whatever the program does.
//
// The walker follows every symlink itself (absolute targets restart at the
// current root, `..` stops at it) and maps the result to a host path:
// bind points (/dev, /proc, /sys, --bind) map to their host directories,
// everything else to top + path. A per-process cache remembers host
// directories known to be real directories, so a warm lookup of
// /usr/bin/ls costs no system call before the operation itself; it is
// dropped whenever any process of the session renames or removes a
// directory (State::namegen).
#pragma once
#include <cstddef>
#include <cstdint>

#include "path.h"

namespace cr {

constexpr int kMaxBinds = 32;
constexpr size_t kBindLen = 512;

struct Bind {
  char inside[kBindLen];  // top-inside path, no trailing slash
  char host[kBindLen];
  size_t inside_len, host_len;
};

struct RootConfig {
  bool active = false;
  char top[kPathMax] = {};    // host path of the session's root, canonical
  size_t top_len = 0;
  char croot[kPathMax] = {};  // current root (after chroot()), top-inside; "/" at start
  size_t croot_len = 0;
  Bind binds[kMaxBinds] = {};
  int nbinds = 0;
  char cwd[kPathMax] = {};    // top-inside path of the working directory
  bool cwd_known = false;
  bool cwd_removed = false;  // it was removed: cwd is where it was
  char exe[kPathMax] = {};    // inside path of the running program (/proc/self/exe)
};

extern RootConfig g_root;

enum ResolveFlags : int {
  kFollow = 1,      // follow a symlink in the last component
  kLazyFinal = 2,   // with kFollow: leave the last component as it is; the
                    // caller retries with kFollow alone if it is a symlink
  kForExec = 4,     // planning an exec: what is learnt is not remembered (see walk)
};

struct Resolved {
  int dirfd;
  const char* path;
  PathBuf buf;
};

// Reads COWROOT_ROOT / COWROOT_CHROOT / COWROOT_BINDS / COWROOT_EXE.
void root_init();
// The root's configuration was replaced behind root_init's back (the
// fixture puts a saved one back): the directory cache starts anew.
void root_forget_cache();

// Resolves (dirfd, path) for a system call: out->dirfd/out->path are what to
// pass to the kernel. Without a root it passes the arguments through.
// Returns 0 or -errno.
int resolve(int dirfd, const char* path, int flags, Resolved* out);

// The program's view of a host path: strips the roots, maps bind hosts back.
// Returns false (and copies the path unchanged) when it lies outside.
bool to_inside(const char* host, char* out, size_t n);

// /proc/PID/exe (or /proc/PID/task/TID/exe, or self, thread-self) of a
// process of the session: the kernel's link names the root's loader; this
// gives the program's inside path (the caller's own from COWROOT_EXE,
// another process's from its environment). False when `host` is no such
// link or the process is not one of the session's.
bool proc_exe_inside(const char* host, char* out, size_t n);

// Canonical inside path of (dirfd, path) as realpath() sees it (every
// symlink followed), into out. Returns 0 or -errno (-ENOENT if missing).
int inside_realpath(int dirfd, const char* path, char* out, size_t n);

// The working directory changed (chdir, fchdir, chroot): refresh the cache.
void root_cwd_changed();

// chroot(): `path` must resolve to a directory inside the session's root.
int root_chroot(const char* path);

// Writes the root variables (COWROOT_ROOT, …) for a new program's
// environment via add(name, value, writer): a value is either a string or
// written in place by writer(out, n) (the bind list, which can be long).
// Returns false if add fails.
template <typename F>
bool root_env(F&& add);

// The dynamic loader's view of the root: a --library-path value built from
// the root's /etc/ld.so.conf (with includes) and the usual directories, all
// as host paths. No allocation. Returns false if it does not fit.
bool root_library_path(char* out, size_t n);

// root_library_path, remembered: for as long as the root's
// /etc/ld.so.cache, /etc/ld.so.conf and /etc/ld.so.conf.d are the same files
// (the real loader, too, sees a changed configuration only after ldconfig
// rewrites the cache), the path is reused instead of parsed again. The
// memory survives fork, and COWROOT_LIBPATH=STAMP+PATH in the new program's
// environment carries it across exec: `stamp` (35 bytes) receives STAMP. No allocation, no lock
// (safe in a vfork child). Returns false if it does not fit.
bool cached_library_path(char* out, size_t n, char* stamp, size_t sn);

// Size of the bind list as COWROOT_BINDS text.
bool binds_text(char* out, size_t n);

template <typename F>
bool root_env(F&& add) {
  if (!g_root.active) return true;
  return add("COWROOT_ROOT", g_root.top, nullptr) && add("COWROOT_CHROOT", g_root.croot, nullptr) &&
         add("COWROOT_BINDS", nullptr, binds_text);
}

}  // namespace cr
