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
#include "state.h"

namespace cr {

constexpr int kMaxBinds = 32;
constexpr size_t kBindLen = 512;

struct Bind {
  char inside[kBindLen];  // top-inside path, no trailing slash
  char host[kBindLen];
  size_t inside_len, host_len;
};

// The fields every program in a root writes at start come first and
// together; each path's first bytes are then on a page of its own, the
// binds on one more (every page a new program writes is a page fault).
struct RootConfig {
  bool active = false;
  bool cwd_known = false;
  bool cwd_removed = false;  // it was removed: cwd is where it was
  // Bound by a process that is not in the root (the fixture's helpers):
  // its own /proc/self leads to the host, as another process's would.
  bool outside = false;
  int nbinds = 0;
  size_t top_len = 0;
  size_t croot_len = 0;
  char top[kPathMax] = {};    // host path of the session's root, canonical
  char croot[kPathMax] = {};  // current root (after chroot()), top-inside; "/" at start
  char cwd[kPathMax] = {};    // top-inside path of the working directory
  char exe[kPathMax] = {};    // inside path of the running program (/proc/self/exe)
  Bind binds[kMaxBinds] = {};
};

extern RootConfig g_root;

enum ResolveFlags : int {
  kFollow = 1,      // follow a symlink in the last component
  kLazyFinal = 2,   // with kFollow: leave the last component as it is; the
                    // caller retries with kFollow alone if it is a symlink
  kForExec = 4,     // planning an exec: what is learnt is not remembered (see walk)
  kRealIds = 8,     // access(2): directories are searched as the real ids, not the fs ids
  kAsNamed = 16,    // in a debugger (g_debugger): the path as the root has it, never a host path's
};

struct Resolved {
  int dirfd;
  const char* path;
  PathBuf buf;
  // The directory holding the last component, when the walk met it on the
  // way (a cached directory or one it looked at): its key and real
  // attributes. resolved_parent() finds it otherwise.
  bool parent_known = false;
  // The file lies where the kernel's own checks hold (/dev, /proc, /sys, a
  // --bind): no fake permission check is made on it. Set only for a
  // process that is checked (perm.h: without CAP_DAC_OVERRIDE).
  bool passthrough = false;
  Key pkey;
  Meta preal;
};

// The directory that holds the last component of a resolved name (r as
// resolve() filled it): its key and real attributes. Free when the walk met
// it; otherwise one statx (of the directory descriptor, the working
// directory or the name's directory part). Returns 0 or -errno.
int resolved_parent(const Resolved& r, Key* key, Meta* real);

// A CLONE_VM child (vfork, posix_spawn, Go's os/exec, CPython's
// subprocess) runs in its parent's memory until it execs or exits: the
// process state kept there (the root's configuration, the working
// directory, the fake ids, groups, capabilities and umask) it would change
// for its parent too (a child's chdir for subprocess(cwd=) became the
// parent's, its setuid the parent's). vm_child_changing(), before any
// such change, keeps the parent's state aside when the caller is such a
// child (kcmp says it shares its parent's memory); the parent takes it back
// at its next call (vm_check, at every door and trap). What the child
// changes is its own meanwhile. (Another thread of the parent that makes a
// call while the child runs takes it back early: the child's later calls
// then see the parent's state, a window no program has been seen to use.)
extern bool g_vm_pending;
void vm_child_changing();
void vm_parent_resume();
inline void vm_check() {
  if (__builtin_expect(g_vm_pending, 0)) vm_parent_resume();
}

// Whether the host directory `host` is or lies in a sealed base (X with
// X.cowroot/manifest: a cached image's root, `cowroot seal X`), whose path
// goes into base (n bytes). No session's root may be one: its clones share
// its files (the launcher's -r, the library's chroot).
bool in_sealed_base(const char* host, char* base, size_t n);
// The same for a clone (X with X.cowroot/base): its path into clone.
bool in_clone(const char* host, char* clone, size_t n);

// Reads COWROOT_ROOT / COWROOT_CHROOT / COWROOT_BINDS / COWROOT_EXE.
void root_init();
// The root's configuration was replaced behind root_init's back (the
// fixture puts a saved one back): the directory cache starts anew.
void root_forget_cache();

// Resolves (dirfd, path) for a system call: out->dirfd/out->path are what to
// pass to the kernel. Without a root it passes the arguments through.
// A process without CAP_DAC_READ_SEARCH or CAP_DAC_OVERRIDE in its fake
// effective set (a fake user other than root) needs search permission on
// every directory the name goes through, as the kernel checks it against
// the fake owner, group and mode (-EACCES). Returns 0 or -errno.
int resolve(int dirfd, const char* path, int flags, Resolved* out);
// Set in a debugger of a session's program (wrap/trace.cc): it names the
// root's files by their host paths too (resolve), as its program's list of
// loaded objects does.
extern bool g_debugger;

// The host path a descriptor is open on (/proc/self/fd/N), when it has one.
bool fd_host_path(int fd, char* out, size_t n);
// The program's view of a host path: strips the roots, maps bind hosts back.
// Returns false (and copies the path unchanged) when it lies outside.
bool to_inside(const char* host, char* out, size_t n);
// A host path the current root (a chroot() made in the session) does not
// reach, where the kernel's getcwd names it "(unreachable)PATH": true, and
// its path from the root's top (from the host's /, outside the top) into
// out.
bool unreachable_inside(const char* host, char* out, size_t n);

// /proc/PID/exe (or /proc/PID/task/TID/exe, or self, thread-self) of a
// process of the session: the kernel's link names the root's loader; this
// gives the program's inside path (the caller's own from COWROOT_EXE,
// another process's from its environment). False when `host` is no such
// link or the process is not one of the session's.
bool proc_exe_inside(const char* host, char* out, size_t n);

// The value of variable `name` in the environment process `pid` started
// with (/proc/PID/environ), into out. False when it has none.
bool initial_env(long pid, const char* name, char* out, size_t n);

// Whether process (or thread) `pid` is another session's or none's: its
// environment as it started does not carry this session's state directory,
// or cannot be read (another user's). Not this process or its threads.
bool foreign_pid(long pid);
// The same for the process a /proc/PID/... path names (false for self,
// thread-self or anything else; true for all of them when the root is
// bound from outside it, g_root.outside).
bool foreign_process(const char* host);

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
// as host paths, preceded by the state's directory of links to libraries
// that the root's absolute links name (ldconf.cc: the loader would follow
// those from the host's /). No allocation. Returns false if it does not fit.
bool root_library_path(char* out, size_t n);
// The host path an absolute inside name has as it is, not walked (no link
// on the way followed): the current root's, or a bind's. 0 when it is not
// absolute or does not fit. What a walk found is compared with it to know
// that no link led there.
size_t host_unwalked(const char* name, char* out, size_t n);
// The session's root, the current chroot inside it and the binds, hashed:
// any of them changes which host file an inside path names.
uint64_t root_identity();

// The lines of an ld.so.conf file, as the loader's configuration is read
// (`text` is cut in place: comments and line ends): dir(s, len) for a line
// naming a directory (it starts with '/'; false stops the walk),
// include(pattern) for an `include PATTERN` line (the pattern may be cut
// further by the callee). Blanks around are trimmed; other lines are
// skipped, as ldconfig skips them. No allocation.
template <typename D, typename I>
void ld_conf_lines(char* text, D&& dir, I&& include) {
  for (char* line = text; line && *line;) {
    char* nl = __builtin_strchr(line, '\n');
    if (nl) *nl = 0;
    char* hash = __builtin_strchr(line, '#');
    if (hash) *hash = 0;
    char* s = line;
    while (*s == ' ' || *s == '\t') s++;
    size_t l = __builtin_strlen(s);
    while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r')) s[--l] = 0;
    if (__builtin_strncmp(s, "include", 7) == 0 && (s[7] == ' ' || s[7] == '\t')) {
      char* pat = s + 8;
      while (*pat == ' ' || *pat == '\t') pat++;
      include(pat);
    } else if (*s == '/') {
      if (!dir(s, l)) return;
    }
    line = nl ? nl + 1 : nullptr;
  }
}

// root_library_path, remembered: for as long as the root's
// /etc/ld.so.cache, /etc/ld.so.conf, /etc/ld.so.conf.d and /etc/ld.so.preload are the same files
// (the real loader, too, sees a changed configuration only after ldconfig
// rewrites the cache), the path is reused instead of parsed again. The
// memory survives fork, and COWROOT_LIBPATH=STAMP+PATH in the new program's
// environment carries it across exec: `stamp` (35 bytes) receives STAMP. No allocation, no lock
// (safe in a vfork child). Returns false if it does not fit.
// The root's own /etc/ld.so.preload comes with it (`preload`, pn bytes:
// its names, host paths for absolute ones, ':' between them; "" for none),
// and in STAMP ("ROOTHASH FILESHASH:PRELOAD\n" when there is one).
bool cached_library_path(char* out, size_t n, char* stamp, size_t sn, char* preload = nullptr, size_t pn = 0);

// STATE/loader-links.HASH: the links root_library_path makes for libraries
// behind absolute links (ldconf.cc); to_inside names the root's file for
// a path in it.
inline constexpr char kLinksName[] = "/loader-links.";

// Size of the bind list as COWROOT_BINDS text.
bool binds_text(char* out, size_t n);

template <typename F>
bool root_env(F&& add) {
  if (!g_root.active) return true;
  return add("COWROOT_ROOT", g_root.top, nullptr) && add("COWROOT_CHROOT", g_root.croot, nullptr) &&
         add("COWROOT_BINDS", nullptr, binds_text);
}

}  // namespace cr
