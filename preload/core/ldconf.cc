// The root's dynamic loader configuration, for exec: the --library-path
// that /etc/ld.so.conf (with its includes) and the usual directories give,
// as host paths, and its cache across fork and exec (COWROOT_LIBPATH).
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/stat.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "fileid.h"
#include "hash.h"
#include "resolve.h"
#include "resolve_impl.h"
#include "session.h"
#include "sys.h"

namespace cr {

using walker::host_of;
using walker::walk_inside;

using sys::Dirent64;

namespace {

// Whether the loader could find anything in directory `host`: a file or a
// link in it, or a subdirectory it searches (glibc-hwcaps/, and before
// glibc 2.37 tls/ and the platform's names). Unreadable: it could.
bool may_hold_libraries(const char* host) {
  long dfd = sys::raw(SYS_openat, AT_FDCWD, (long)host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return true;
  static const char* const kSearched[] = {"glibc-hwcaps", "tls",  "x86_64", "haswell", "xeon_phi",
                                          "avx512_1",     "i686", "i586",   "aarch64"};
  bool may = false;
  alignas(8) char dents[1024];
  long got;
  while (!may && (got = sys::raw(SYS_getdents64, dfd, (long)dents, sizeof dents)) > 0) {
    for (long off = 0; off < got && !may;) {
      auto* de = reinterpret_cast<Dirent64*>(dents + off);
      off += de->reclen;
      if (strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0) continue;
      if (de->type != DT_DIR) {
        may = true;
        break;
      }
      for (const char* s : kSearched)
        if (strcmp(de->name, s) == 0) may = true;
    }
  }
  if (got < 0) may = true;
  sys::raw(SYS_close, dfd);
  return may;
}

bool loader_links(char* out, size_t n, bool* complete);

// The directories, without the links of loader_links (its frames are
// gone when that runs: a vfork child's exec plans on its parent's stack).
__attribute__((noinline)) bool root_dirs(char* out, size_t n) {
  size_t used = 0;
  out[0] = 0;
  constexpr int kSeen = 32;
  FileId seen[kSeen];
  int nseen = 0;
  // `from_conf`: a directory named by ld.so.conf, which the real loader
  // searches only through ld.so.cache, that is for what was in it when
  // ldconfig last ran. One that holds nothing it could find is left out
  // (minbase's empty /usr/local/lib cost every program start some twenty
  // failed system calls): a library put there later reaches the loader when
  // ldconfig runs, as in a real root, since a new ld.so.cache changes the
  // stamp the path is kept under. The default directories, which the
  // loader searches as they are, are always kept.
  auto add_dir = [&](const char* dir, size_t dl, bool from_conf) {
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    if (dl == 0 || dir[0] != '/') return true;
    PathBuf d;
    if (dl >= sizeof d) return true;
    memcpy(d, dir, dl);
    d[dl] = 0;
    PathBuf cur;
    cur[0] = 0;
    bool trailing;
    if (walk_inside(d, true, cur, sizeof cur, &trailing, true) < 0) return true;
    PathBuf host;
    size_t hl = host_of(cur, host, sizeof host);
    if (!hl) return true;
    struct statx sx;
    if (sys::raw(SYS_statx, AT_FDCWD, (long)host, 0, STATX_TYPE | STATX_INO | STATX_CTIME, (long)&sx) < 0 ||
        !S_ISDIR(sx.stx_mode))
      return true;
    // Skip directories already in (by identity: /lib/x86_64-linux-gnu and
    // /usr/lib/x86_64-linux-gnu are one in a merged-/usr root).
    FileId id = FileId::of(sx);
    for (int i = 0; i < nseen; i++)
      if (seen[i] == id) return true;
    if (from_conf && !may_hold_libraries(host)) return true;
    // Named as the configuration names it where the host's walk of that
    // name reaches the same directory (the root's relative links, as
    // merged /usr's /lib): the loader then reports the names a real root's
    // does (ldd: /lib/x86_64-linux-gnu/libc.so.6). Otherwise the walked path.
    PathBuf named;
    struct statx nx;
    size_t nl = host_unwalked(d, named, sizeof named);
    if (nl && strcmp(named, host) != 0 &&
        sys::raw(SYS_statx, AT_FDCWD, (long)named, 0, STATX_TYPE | STATX_INO | STATX_CTIME, (long)&nx) == 0 &&
        FileId::of(nx) == id) {
      memcpy(host, named, nl + 1);
      hl = nl;
    }
    if (nseen < kSeen) seen[nseen++] = id;
    if (used + hl + 2 > n) return false;
    if (used) out[used++] = ':';
    memcpy(out + used, host, hl);
    used += hl;
    out[used] = 0;
    return true;
  };
  // ld.so.conf and the files it includes (one level, sorted like glob does).
  auto read_file = [&](const char* inside, char* buf, size_t bn) -> long {
    PathBuf cur;
    cur[0] = 0;
    bool trailing;
    if (walk_inside(inside, true, cur, sizeof cur, &trailing, true) < 0) return -1;
    PathBuf host;
    if (!host_of(cur, host, sizeof host)) return -1;
    long fd = sys::raw(SYS_openat, AT_FDCWD, (long)host, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    long r = sys::raw(SYS_read, fd, (long)buf, bn - 1);
    sys::raw(SYS_close, fd);
    if (r < 0) return -1;
    buf[r] = 0;
    return r;
  };
  bool ok = true;
  auto parse = [&](char* text, auto& self, int depth) -> void {
    ld_conf_lines(
        text, [&](const char* dir, size_t l) { return ok = ok && add_dir(dir, l, true); },
        [&](char* pat) {
          if (depth >= 2 || !ok) return;
          char* slash = strrchr(pat, '/');
          if (!slash || !slash[1]) return;
          *slash = 0;
          const char* dir = pat;
          const char* fpat = slash + 1;
          PathBuf cur;
          cur[0] = 0;
          bool trailing;
          PathBuf host;
          if (walk_inside(*dir ? dir : "/", true, cur, sizeof cur, &trailing, true) != 0 ||
              !host_of(cur, host, sizeof host))
            return;
          long dfd = sys::raw(SYS_openat, AT_FDCWD, (long)host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          if (dfd < 0) return;
          char names[32][256];
          int nn = 0;
          PathBuf dents;
          long got;
          while ((got = sys::raw(SYS_getdents64, dfd, (long)dents, sizeof dents)) > 0) {
            for (long off = 0; off < got;) {
              auto* de = reinterpret_cast<Dirent64*>(dents + off);
              if (de->name[0] != '.' && fnmatch(fpat, de->name, 0) == 0 && nn < 32 && strlen(de->name) < 256)
                memcpy(names[nn++], de->name, strlen(de->name) + 1);
              off += de->reclen;
            }
          }
          sys::raw(SYS_close, dfd);
          for (int i = 1; i < nn; i++)  // insertion sort: a handful of names
            for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
              char t[256];
              memcpy(t, names[j], 256);
              memcpy(names[j], names[j - 1], 256);
              memcpy(names[j - 1], t, 256);
            }
          for (int i = 0; i < nn; i++) {
            PathBuf inc;
            size_t dl = strlen(dir);
            if (dl + 1 + strlen(names[i]) + 1 > sizeof inc) continue;
            memcpy(inc, dir, dl);
            inc[dl] = '/';
            memcpy(inc + dl + 1, names[i], strlen(names[i]) + 1);
            PathBuf buf;
            if (read_file(inc, buf, sizeof buf) > 0) self(buf, self, depth + 1);
          }
        });
  };
  char conf[8192];
  if (read_file("/etc/ld.so.conf", conf, sizeof conf) > 0) parse(conf, parse, 0);
#if defined(__x86_64__)
  static const char* const defaults[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
                                         "/lib", "/usr/lib"};
#elif defined(__aarch64__)
  static const char* const defaults[] = {"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64",
                                         "/lib", "/usr/lib"};
#endif
  for (const char* d : defaults)
    if (ok) ok = add_dir(d, strlen(d), false);
  return ok;
}

}  // namespace

namespace {
bool root_library_path(char* out, size_t n, bool* complete) {
  *complete = false;
  return root_dirs(out, n) && loader_links(out, n, complete);
}
}  // namespace

uint64_t root_identity() {
  uint64_t r = fnv1a(g_root.top, strlen(g_root.top) + 1);
  r = fnv1a(g_root.croot, strlen(g_root.croot) + 1, r);
  for (int i = 0; i < g_root.nbinds; i++) {
    r = fnv1a(g_root.binds[i].inside, g_root.binds[i].inside_len + 1, r);
    r = fnv1a(g_root.binds[i].host, g_root.binds[i].host_len + 1, r);
  }
  return r;
}

bool root_library_path(char* out, size_t n) {
  bool complete;
  return root_library_path(out, n, &complete);
}

namespace {

// What the cached path depends on: the root, and the identity and change
// time of its loader configuration (FNV-1a over both).
struct LibStamp {
  uint64_t root = 0, files = 0;
};

// Where each of the loader configuration's files was found in the root
// last time (host path, file): one statx of that path, without following a
// link, says it is the same file (device, inode, change time), and then
// the walk to it through the root is not made again. Changing the file,
// replacing it or putting a link in its place changes what that statx
// sees; one a link led to is not remembered. A file that is not there is
// remembered by its directory (/etc). Per process; `seq` odd while a
// writer fills an entry.
struct StampFile {
  std::atomic<unsigned> seq;
  uint64_t root;
  bool absent;  // the file was not there: `host` and `id` are its directory's
  FileId id;
  char host[512];
};
constexpr const char* kStampFiles[] = {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ld.so.preload"};
constexpr int kStamps = sizeof kStampFiles / sizeof kStampFiles[0];
constinit StampFile g_stamp_files[kStamps]{};

bool stamp_again(int i, uint64_t root, struct statx* sx) {
  StampFile& f = g_stamp_files[i];
  unsigned s = f.seq.load(std::memory_order_acquire);
  if ((s & 1) || s == 0) return false;
  char host[sizeof f.host];
  size_t l = strnlen(f.host, sizeof f.host);
  if (l >= sizeof host) return false;
  memcpy(host, f.host, l + 1);
  uint64_t r = f.root;
  bool absent = f.absent;
  FileId id = f.id;
  std::atomic_thread_fence(std::memory_order_acquire);
  if (f.seq.load(std::memory_order_relaxed) != s || r != root) return false;
  if (sys::raw(SYS_statx, AT_FDCWD, (long)host, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO | STATX_CTIME, (long)sx) < 0)
    return false;
  bool same = !S_ISLNK(sx->stx_mode) && FileId::of(*sx) == id;
  // A file that was not there is still not there while its directory is
  // the same (a name made or removed in it changes its change time).
  if (same && absent) *sx = {};
  return same;
}

void stamp_remember(int i, uint64_t root, const char* host, const struct statx& sx, bool absent = false) {
  StampFile& f = g_stamp_files[i];
  size_t l = strlen(host);
  if (l >= sizeof f.host) return;
  unsigned s = f.seq.load(std::memory_order_relaxed);
  if ((s & 1) || !f.seq.compare_exchange_strong(s, s + 1, std::memory_order_acquire)) return;
  std::atomic_thread_fence(std::memory_order_release);
  memcpy(f.host, host, l + 1);
  f.root = root;
  f.absent = absent;
  f.id = FileId::of(sx);
  f.seq.store(s + 2, std::memory_order_release);
}

bool lib_stamp(LibStamp* st) {
  st->root = root_identity();
  uint64_t h = kFnvSeed;
  // /etc, looked at once, before the first file walked to: a file made
  // after this look is seen next time.
  PathBuf dir;
  struct statx dx;
  bool dir_looked = false, dir_ok = false;
  for (int i = 0; i < kStamps; i++) {
    struct statx sx {};
    if (!stamp_again(i, st->root, &sx)) {
      PathBuf cur, host;
      bool trailing;
      if (!dir_looked) {
        dir_looked = true;
        cur[0] = 0;
        dir_ok = walk_inside("/etc", true, cur, sizeof cur, &trailing, false) == 0 && host_of(cur, dir, sizeof dir) &&
                 sys::raw(SYS_statx, AT_FDCWD, (long)dir, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO | STATX_CTIME,
                          (long)&dx) == 0 &&
                 S_ISDIR(dx.stx_mode);
      }
      cur[0] = 0;
      if (walk_inside(kStampFiles[i], true, cur, sizeof cur, &trailing, false) == 0 && host_of(cur, host, sizeof host) &&
          sys::raw(SYS_statx, AT_FDCWD, (long)host, 0, STATX_TYPE | STATX_INO | STATX_CTIME, (long)&sx) == 0) {
        // Remembered only where no link led to it (the root's host path and
        // the name, as they are): a link removed or made to lead elsewhere
        // while its old target stays is then seen (it is walked each time).
        PathBuf as_named;
        if (host_unwalked(kStampFiles[i], as_named, sizeof as_named) && strcmp(as_named, host) == 0)
          stamp_remember(i, st->root, host, sx);
      } else {
        sx = {};
        // Not there (ld.so.preload, as a rule): next time its directory is
        // looked at, not the way to the file. Only when no entry of that
        // name is there at all (a link to nothing yet is looked at again).
        struct statx ex;
        size_t dl = dir_ok ? strlen(dir) : 0, bl = strlen(kStampFiles[i] + 4);  // the name after "/etc"
        if (dir_ok && dl + bl < sizeof dir) {
          memcpy(dir + dl, kStampFiles[i] + 4, bl + 1);
          bool none = sys::raw(SYS_statx, AT_FDCWD, (long)dir, AT_SYMLINK_NOFOLLOW, STATX_TYPE, (long)&ex) == -ENOENT;
          dir[dl] = 0;
          if (none) stamp_remember(i, st->root, dir, dx, true);
        }
      }
    }
    uint64_t v[3] = {sx.stx_ino, (uint64_t)sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec};
    h = fnv1a(v, sizeof v, h);
  }
  st->files = h;
  return true;
}

// One per process. `seq` is odd while a writer fills it; readers copy and
// check that it did not move.
struct LibCache {
  unsigned seq;
  bool loaded_env;
  LibStamp stamp;
  char path[16384];
};
constinit LibCache g_lib{};

void put_hex(char* o, uint64_t v) {
  for (int i = 15; i >= 0; i--, v >>= 4) o[i] = "0123456789abcdef"[v & 15];
}
bool get_hex(const char* s, uint64_t* v) {
  *v = 0;
  for (int i = 0; i < 16; i++) {
    char c = s[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    *v = *v << 4 | (unsigned)d;
  }
  return true;
}

bool lib_store(const LibStamp& st, const char* preload, size_t pl, const char* path) {
  size_t l = strlen(path);
  if (pl + 1 + l >= sizeof g_lib.path) return false;
  unsigned s = __atomic_load_n(&g_lib.seq, __ATOMIC_RELAXED);
  if ((s & 1) || !__atomic_compare_exchange_n(&g_lib.seq, &s, s + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
    return false;  // another thread is writing: leave it to that one
  __atomic_thread_fence(__ATOMIC_RELEASE);  // the odd count is seen before any of the new bytes
  g_lib.stamp = st;
  size_t at = 0;
  if (pl) {
    memcpy(g_lib.path, preload, pl);
    g_lib.path[pl] = '\n';
    at = pl + 1;
  }
  memcpy(g_lib.path + at, path, l + 1);
  __atomic_store_n(&g_lib.seq, s + 2, __ATOMIC_RELEASE);
  return true;
}

bool lib_load(const LibStamp& st, char* out, size_t n) {
  unsigned s = __atomic_load_n(&g_lib.seq, __ATOMIC_ACQUIRE);
  if ((s & 1) || s == 0) return false;
  LibStamp have = g_lib.stamp;
  size_t l = strnlen(g_lib.path, sizeof g_lib.path);
  if (l >= n) return false;
  memcpy(out, g_lib.path, l);
  out[l] = 0;
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (__atomic_load_n(&g_lib.seq, __ATOMIC_RELAXED) != s) return false;
  return have.root == st.root && have.files == st.files;
}

// ---- libraries behind absolute links ---------------------------------------
// The loader opens DIR/NAME in the host's name space, where the kernel
// follows an absolute symlink from the host's /: a root's libblas.so.3 ->
// /etc/alternatives/libblas.so.3-x86_64-linux-gnu (update-alternatives'
// links are absolute) would load the host's file, or none. Each time the
// path is computed (a session's first exec, and when the stamp changes),
// its directories are read for absolute links. For each name whose first
// entry along the path is one, a directory of the session's state holds a
// link to the file it leads to inside the root (its host path), and that
// directory goes into the path just before the first directory that holds
// such a name: the loader opens the root's file, as a real root's loader
// would through the same link. The directory is named after what it holds
// (STATE/loader-links.HASH, made beside it and renamed into place whole),
// so every process that found the same links shares it and none changes
// under another; it goes with the state (a session's own state directory
// at the session's end).
constexpr size_t kMaxSearchDirs = 32;

// f(entry) for each entry of the directory dfd, "." and ".." left out.
template <typename F>
void each_entry(long dfd, F&& f) {
  alignas(8) char dents[4096];
  long got;
  while ((got = sys::raw(SYS_getdents64, dfd, (long)dents, sizeof dents)) > 0)
    for (long off = 0; off < got;) {
      auto* de = reinterpret_cast<Dirent64*>(dents + off);
      off += de->reclen;
      if (strcmp(de->name, ".") != 0 && strcmp(de->name, "..") != 0) f(de);
    }
}

// Where the absolute link to `target` (an inside path) leads, as a host
// path whose own name the kernel may follow: the absolute hops are taken
// in the root, the last relative ones left to the kernel (blas/libblas.so.3
// -> libblas.so.3.11.0 stays right when an upgrade renames the file). False
// when it leads to no file in the root.
bool root_file(const char* target, char* host, size_t n) {
  PathBuf t;
  size_t tl = strlen(target);
  if (tl >= sizeof t) return false;
  memcpy(t, target, tl + 1);
  for (int hop = 0; hop < 16; hop++) {
    char* slash = strrchr(t, '/');
    const char* base = slash + 1;
    if (!*base) return false;
    PathBuf dir, cur;
    size_t dl = slash == t ? 1 : (size_t)(slash - t);
    memcpy(dir, t, dl);
    dir[dl] = 0;
    cur[0] = 0;
    bool trailing;
    size_t hl;
    if (walk_inside(dir, true, cur, sizeof cur, &trailing, false) < 0 || !(hl = host_of(cur, host, n)) ||
        hl + 1 + strlen(base) + 1 > n)
      return false;
    host[hl] = '/';
    memcpy(host + hl + 1, base, strlen(base) + 1);
    PathBuf next;
    long nl = sys::raw(SYS_readlinkat, AT_FDCWD, (long)host, (long)next, sizeof next - 1);
    if (nl > 0 && next[0] == '/') {
      next[nl] = 0;
      memcpy(t, next, nl + 1);
      continue;
    }
    struct statx sx;
    return sys::raw(SYS_statx, AT_FDCWD, (long)host, 0, STATX_TYPE, (long)&sx) == 0 && S_ISREG(sx.stx_mode);
  }
  return false;
}

// Over the directories before this one (fds[0..n), -1 for one not read):
// whether the loader, looking NAME up, stops in one of them (a file, or a
// relative link to one; an absolute link was seen in its own turn: its
// link made, or it leads to nothing in the root and the loader goes on, as
// in a real root), and into *first the first holding an entry of that
// name at all (n for none).
bool found_earlier(const long* fds, size_t n, const char* name, size_t* first) {
  *first = n;
  for (size_t j = 0; j < n; j++) {
    struct statx sx;
    if (fds[j] < 0 || sys::raw(SYS_statx, fds[j], (long)name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, (long)&sx) != 0)
      continue;
    if (*first == n) *first = j;
    if (!S_ISLNK(sx.stx_mode)) return true;
    char t[2];
    if (sys::raw(SYS_readlinkat, fds[j], (long)name, (long)t, sizeof t) > 0 && t[0] == '/') continue;
    if (sys::raw(SYS_statx, fds[j], (long)name, 0, STATX_TYPE, (long)&sx) == 0) return true;
  }
  return false;
}

void remove_dir(const char* dir) {
  long dfd = sys::raw(SYS_openat, AT_FDCWD, (long)dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd >= 0) {
    each_entry(dfd, [&](Dirent64* de) { sys::raw(SYS_unlinkat, dfd, (long)de->name, 0); });
    sys::raw(SYS_close, dfd);
  }
  sys::raw(SYS_unlinkat, AT_FDCWD, (long)dir, AT_REMOVEDIR);
}

size_t put_number(char* o, unsigned long v) {
  char d[24];
  size_t nd = 0;
  do d[nd++] = char('0' + v % 10); while ((v /= 10) > 0);
  for (size_t i = 0; i < nd; i++) o[i] = d[nd - 1 - i];
  return nd;
}

// STATE/loader-links.SUFFIX into `out` (of kPathMax); false when too long.
bool links_path(char* out, const char* suffix) {
  const char* state = g_session.state_dir;
  size_t sl = strlen(state), fl = strlen(suffix);
  if (sl + sizeof kLinksName + fl > kPathMax) return false;
  memcpy(out, state, sl);
  memcpy(out + sl, kLinksName, sizeof kLinksName - 1);
  memcpy(out + sl + sizeof kLinksName - 1, suffix, fl + 1);
  return true;
}

// Directories left half-made by a process killed while it filled one
// (each is filled in milliseconds): those over ten minutes old, each taken
// away under a name of this thread's first (a maker that was only stopped
// then fails to rename it into place, and goes without).
void remove_stale_temporaries(const char* mine) {
  const char* state = g_session.state_dir;
  long dfd = sys::raw(SYS_openat, AT_FDCWD, (long)state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;
  struct timespec now {};
  sys::raw(SYS_clock_gettime, CLOCK_REALTIME, (long)&now);
  const size_t pl = sizeof kLinksName - 2;  // "loader-links."
  each_entry(dfd, [&](Dirent64* de) {
    struct statx sx;
    PathBuf full;
    if (strncmp(de->name, kLinksName + 1, pl) != 0 || strncmp(de->name + pl, "tmp.", 4) != 0 ||
        sys::raw(SYS_statx, dfd, (long)de->name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MTIME, (long)&sx) != 0 ||
        !S_ISDIR(sx.stx_mode) || sx.stx_mtime.tv_sec > now.tv_sec - 600 || !links_path(full, de->name + pl) ||
        strcmp(full, mine) == 0)
      return;
    PathBuf gone;
    size_t ml = strlen(mine);
    if (ml + 6 > sizeof gone) return;
    memcpy(gone, mine, ml);
    memcpy(gone + ml, ".gone", 6);
    if (sys::raw(SYS_renameat, AT_FDCWD, (long)full, AT_FDCWD, (long)gone) == 0) remove_dir(gone);
  });
  sys::raw(SYS_close, dfd);
}

// *complete is left false when a failure (a directory that could not be
// read, no room to make the links) may have left links out: the path is
// then not handed down or kept, and the next exec computes it again.
bool loader_links(char* out, size_t n, bool* complete) {
  *complete = true;
  if (!g_session.state_dir[0]) return true;
  long fds[kMaxSearchDirs];
  size_t nd = 0, first = 0;  // directories opened; the index of the first with a link made
  uint64_t h = kFnvSeed;     // over the links made: names and targets
  int made = 0;
  PathBuf tmp;
  long tfd = -1;
  bool failed = false;   // a directory not read, a link not made
  bool no_room = false;  // the directory for the links could not be made
  for (const char* p = out; *p && nd < kMaxSearchDirs;) {
    const char* e = strchr(p, ':');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    PathBuf d;
    long dfd = -1;
    if (l < sizeof d) {
      memcpy(d, p, l);
      d[l] = 0;
      dfd = sys::raw(SYS_openat, AT_FDCWD, (long)d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (dfd < 0) {
      dfd = -1;
      if (l) failed = true;  // (the loader may read what the scan could not)
    }
    fds[nd++] = dfd;
    if (dfd >= 0)
      each_entry(dfd, [&](Dirent64* de) {
        if (de->type != DT_LNK && de->type != DT_UNKNOWN) return;
        PathBuf target, host;
        long tl = sys::raw(SYS_readlinkat, dfd, (long)de->name, (long)target, sizeof target - 1);
        if (tl <= 0 || target[0] != '/') return;
        target[tl] = 0;
        struct statx sx;
        if (tfd >= 0 && sys::raw(SYS_statx, tfd, (long)de->name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, (long)&sx) == 0)
          return;  // its link is made: an earlier directory's
        // The links go in before any earlier directory with an entry of
        // that name (an absolute link that leads nowhere in the root, which
        // the loader would follow on the host).
        size_t at;
        if (found_earlier(fds, nd - 1, de->name, &at) || !root_file(target, host, sizeof host)) return;
        if (no_room) return;
        if (tfd < 0) {
          // Named after this process and thread, and made anew.
          char suffix[64] = "tmp.";
          size_t k = 4;
          k += put_number(suffix + k, (unsigned long)sys::raw(SYS_getpid));
          suffix[k++] = '.';
          k += put_number(suffix + k, (unsigned long)sys::raw(SYS_gettid));
          suffix[k] = 0;
          if (links_path(tmp, suffix)) {
            remove_dir(tmp);
            if (sys::raw(SYS_mkdirat, AT_FDCWD, (long)tmp, 0755) == 0)
              tfd = sys::raw(SYS_openat, AT_FDCWD, (long)tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
          }
          if (tfd < 0) {
            tfd = -1;
            failed = no_room = true;
            return;
          }
          first = at;
        }
        if (at < first) first = at;
        if (sys::raw(SYS_symlinkat, (long)host, tfd, (long)de->name) != 0) {
          failed = true;
          return;
        }
        h = fnv1a(de->name, strlen(de->name) + 1, h);
        h = fnv1a(host, strlen(host) + 1, h);
        made++;
      });
    p = e ? e + 1 : p + l;
  }
  for (size_t j = 0; j < nd; j++)
    if (fds[j] >= 0) sys::raw(SYS_close, fds[j]);
  if (tfd < 0) {
    *complete = !failed;
    return true;
  }
  sys::raw(SYS_close, tfd);
  remove_stale_temporaries(tmp);
  char hex[17];
  for (int i = 15; i >= 0; i--, h >>= 4) hex[i] = "0123456789abcdef"[h & 15];
  hex[16] = 0;
  PathBuf name;
  *complete = false;  // until the directory is in the path
  if (!made || !links_path(name, hex)) {
    remove_dir(tmp);
    return true;
  }
  // Another process may have made the same one: it holds the same links.
  if (sys::raw(SYS_renameat, AT_FDCWD, (long)tmp, AT_FDCWD, (long)name) != 0) remove_dir(tmp);
  struct statx sx;
  if (sys::raw(SYS_statx, AT_FDCWD, (long)name, AT_SYMLINK_NOFOLLOW, STATX_TYPE, (long)&sx) != 0 || !S_ISDIR(sx.stx_mode))
    return true;
  // Into the path before the first directory with a name linked (the
  // ones before have none of them; the loader looks in each directory for
  // every library it loads).
  char* at = out;
  for (size_t j = 0; j < first && at; j++) {
    at = strchr(at, ':');
    if (at) at++;
  }
  if (!at) return true;
  size_t nl = strlen(name), ol = strlen(out);
  if (ol + nl + 2 > n) return true;  // left out: the path as it was
  memmove(at + nl + 1, at, strlen(at) + 1);
  memcpy(at, name, nl);
  at[nl] = ':';
  *complete = !failed;
  return true;
}

}  // namespace

namespace {

// The root's own /etc/ld.so.preload, for the loader's --preload (its own
// reading of /etc/ld.so.preload is made to lead nowhere, ldpatch.h): the
// names it lists, as the loader takes them (white space or ':' between
// them, '#' to the end of the line a comment), ':' between them, as they
// are written: they are made host paths at each exec (exec.cc), where what
// they lead to is looked at afresh. A name cut by the end of what is read
// is left out. "" for none. Its own frame: the buffers are on the stack
// only when it runs.
__attribute__((noinline)) void root_preload(char* out, size_t n) {
  out[0] = 0;
  PathBuf cur, host;
  cur[0] = 0;
  bool trailing;
  if (walk_inside("/etc/ld.so.preload", true, cur, sizeof cur, &trailing, false) != 0 || !host_of(cur, host, sizeof host))
    return;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)host, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return;
  char text[8192];
  long got = 0;
  for (long r; got < (long)sizeof text - 1; got += r) {
    r = sys::raw(SYS_read, fd, (long)(text + got), (long)sizeof text - 1 - got);
    if (r <= 0) break;
  }
  bool cut = got == (long)sizeof text - 1;
  sys::raw(SYS_close, fd);
  if (got <= 0) return;
  text[got] = 0;
  size_t w = 0;
  auto sep = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == ':'; };
  for (char* p = text; *p;) {
    if (*p == '#') {
      while (*p && *p != '\n') p++;
      continue;
    }
    if (sep(*p)) {
      p++;
      continue;
    }
    char* q = p;
    while (*q && !sep(*q) && *q != '#') q++;
    size_t el = (size_t)(q - p);
    if (!(cut && !*q) && w + (w ? 1 : 0) + el < n) {
      if (w) out[w++] = ':';
      memcpy(out + w, p, el);
      w += el;
      out[w] = 0;
    }
    p = q;
  }
}

}  // namespace

bool cached_library_path(char* out, size_t n, char* env_value, size_t en, char* preload, size_t pn) {
  if (en) env_value[0] = 0;
  // (The cached path and the stamp handed down go with the root's preload
  // list: a caller without room for it is given the path alone, afresh.)
  if (!pn) return root_library_path(out, n);
  preload[0] = 0;
  LibStamp st;
  if (!lib_stamp(&st)) return root_library_path(out, n);
  if (!__atomic_load_n(&g_lib.loaded_env, __ATOMIC_RELAXED)) {
    // What the program that started this one knew:
    // "ROOTHASH FILESHASH:[PRELOAD\n]PATH".
    __atomic_store_n(&g_lib.loaded_env, true, __ATOMIC_RELAXED);
    for (char** e = environ; e && *e; e++) {
      if (strncmp(*e, "COWROOT_LIBPATH=", 16) != 0) continue;
      const char* v = *e + 16;
      LibStamp got;
      if (strnlen(v, 34) == 34 && get_hex(v, &got.root) && v[16] == ' ' && get_hex(v + 17, &got.files) && v[33] == ':') {
        const char* nl = strchr(v + 34, '\n');
        lib_store(got, v + 34, nl ? (size_t)(nl - (v + 34)) : 0, nl ? nl + 1 : v + 34);
      }
      break;
    }
  }
  bool loaded = lib_load(st, out, n);
  if (loaded) {
    // "PRELOAD\nPATH": the list goes to `preload`, the path to the start.
    if (char* nl = strchr(out, '\n')) {
      size_t pl = (size_t)(nl - out);
      if (pl < pn) {
        memcpy(preload, out, pl);
        preload[pl] = 0;
        memmove(out, nl + 1, strlen(nl + 1) + 1);
      } else {
        loaded = false;  // a list longer than this build keeps: read again
      }
    }
  }
  if (!loaded) {
    bool complete;
    if (!root_library_path(out, n, &complete)) return false;
    root_preload(preload, pn);
    // A path a failure may have left links out of is used once, not kept
    // nor handed down: the next exec computes it again.
    if (!complete) return true;
    lib_store(st, preload, strlen(preload), out);
  }
  size_t pl = strlen(preload);
  if (en >= 35 + pl + 1) {
    put_hex(env_value, st.root);
    env_value[16] = ' ';
    put_hex(env_value + 17, st.files);
    env_value[33] = ':';
    // The list, when there is one, then the path itself (the caller has it).
    memcpy(env_value + 34, preload, pl);
    if (pl) env_value[34 + pl++] = '\n';
    env_value[34 + pl] = 0;
  }
  return true;
}

}  // namespace cr
