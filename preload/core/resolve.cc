#include "resolve.h"
#include "cow.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <atomic>
#include <type_traits>
#include <cstdlib>
#include <cstring>

#include "confine.h"
#include "hash.h"
#include "perm.h"
#include "procfs.h"
#include "resolve_impl.h"
#include "session.h"
#include "sys.h"

extern char** environ;

namespace cr {

constinit RootConfig g_root;

bool g_debugger = false;

namespace {

bool under(const char* path, const char* prefix, size_t plen) {
  if (plen == 1 && prefix[0] == '/') return path[0] == '/';
  return strncmp(path, prefix, plen) == 0 && (path[plen] == 0 || path[plen] == '/');
}

bool put(char* out, size_t n, const char* a, size_t al, const char* b = "", size_t bl = 0) {
  if (al + bl + 1 > n) return false;
  memmove(out, a, al);
  memcpy(out + al, b, bl);
  out[al + bl] = 0;
  return true;
}

// ---- the cache of directories known to be real directories ---------------
// Keyed by the top-inside path; what it says is that the path's host
// directory is a directory, not a symlink, as of the state's namegen, and
// what it is: its key and real attributes (the fake view is one lookup in
// the state away, so a fake chmod never makes it stale; a real one of a
// directory always goes into its entry).
struct DirRec {
  uint64_t dev, ino;
  int64_t bsec;
  uint32_t bnsec, mode, uid, gid;
};
struct CacheEntry {
  std::atomic<uint64_t> hash;
  uint64_t gen;
  DirRec rec;
  uint32_t len;
  char path[196];
};
static_assert(sizeof(CacheEntry) == 256);
constexpr int kCacheSize = 512;
// Zero-initialized at compile time: no constructor touches its 128 KiB at
// start-up. Entries are taken in turn (g_next), and a hash's slot names its
// entry (index + 1; 0 for none): a program's first sixteen directories
// share one page of entries, where a slot per hash gave each a page (every
// page a new program writes is a page fault). An entry taken again for
// another name, when the turn comes round, no longer matches the slots
// that still name it.
constinit CacheEntry g_cache[kCacheSize]{};
constinit std::atomic<uint16_t> g_slot[kCacheSize]{};
constinit std::atomic<uint32_t> g_next{0};

uint64_t hash_str(const char* s, size_t n) {
  return fnv1a(s, n) | 1;  // never 0: 0 marks an empty entry
}

DirRec rec_of(const struct statx& x) {
  return {makedev(x.stx_dev_major, x.stx_dev_minor), x.stx_ino, x.stx_btime.tv_sec,
          (x.stx_mask & STATX_BTIME) ? x.stx_btime.tv_nsec : 0, x.stx_mode, x.stx_uid, x.stx_gid};
}
Key key_of(const DirRec& d) { return {d.dev, d.ino}; }
Meta real_of(const DirRec& d) {
  Meta m;
  m.mode = d.mode;
  m.uid = d.uid;
  m.gid = d.gid;
  m.birth = {d.bsec, d.bnsec};
  return m;
}

bool cache_get(const char* p, size_t n, uint64_t gen, DirRec* rec) {
  if (n >= sizeof g_cache[0].path) return false;
  uint64_t h = hash_str(p, n);
  unsigned i = g_slot[h % kCacheSize].load(std::memory_order_acquire);
  if (!i) return false;
  CacheEntry& e = g_cache[i - 1];
  if (e.hash.load(std::memory_order_acquire) != h) return false;
  bool ok = e.gen == gen && e.len == n && memcmp(e.path, p, n) == 0;
  *rec = e.rec;
  std::atomic_thread_fence(std::memory_order_acquire);
  return ok && e.hash.load(std::memory_order_relaxed) == h;
}

void cache_put(const char* p, size_t n, uint64_t gen, const DirRec& rec) {
  if (n >= sizeof g_cache[0].path) return;
  uint64_t h = hash_str(p, n);
  std::atomic<uint16_t>& slot = g_slot[h % kCacheSize];
  unsigned i = slot.load(std::memory_order_relaxed);
  // The slot's entry again when it holds this name (a new generation of
  // it); otherwise the next in turn.
  if (!i || g_cache[i - 1].hash.load(std::memory_order_relaxed) != h)
    i = g_next.fetch_add(1, std::memory_order_relaxed) % kCacheSize + 1;
  CacheEntry& e = g_cache[i - 1];
  e.hash.store(0, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  memcpy(e.path, p, n);
  e.len = (uint32_t)n;
  e.gen = gen;
  e.rec = rec;
  e.hash.store(h, std::memory_order_release);
  slot.store((uint16_t)i, std::memory_order_release);
}

// ---- top-inside <-> host ----------------------------------------------------
// The walk asks this once per component of every path: a bind's second
// byte is compared before the rest (most paths share no prefix with /dev,
// /proc or /sys).
const Bind* longest_bind(const char* inside) {
  const Bind* best = nullptr;
  char c1 = inside[0] ? inside[1] : 0;
  for (int i = 0; i < g_root.nbinds; i++) {
    const Bind& b = g_root.binds[i];
    if (b.inside_len > 1 && b.inside[1] != c1) continue;
    if (under(inside, b.inside, b.inside_len) && (!best || b.inside_len > best->inside_len)) best = &b;
  }
  return best;
}

// The bind a top-inside path lies under. Binds name places as the program
// sees them: after a chroot() /proc is still the host's /proc (as under
// fakechroot, where excluded paths hold at every level), so a path under
// the current root is matched by its part below it. *skip says how much of
// `inside` comes before the bind's own name.
const Bind* bind_of(const char* inside, size_t* skip) {
  *skip = 0;
  if (g_root.croot_len > 1 && under(inside, g_root.croot, g_root.croot_len) && inside[g_root.croot_len]) {
    if (const Bind* b = longest_bind(inside + g_root.croot_len)) {
      *skip = g_root.croot_len;
      return b;
    }
  }
  return longest_bind(inside);
}

size_t map_host(const char* inside, char* out, size_t n) {
  size_t skip;
  if (const Bind* b = bind_of(inside, &skip)) {
    const char* rest = inside + skip + b->inside_len;
    size_t rl = strlen(rest);
    if (!put(out, n, b->host, b->host_len, rest, rl)) return 0;
    return b->host_len + rl;
  }
  size_t il = strlen(inside);
  if (il == 1) il = 0;  // "/" is the top itself
  if (!put(out, n, g_root.top, g_root.top_len, inside, il)) return 0;
  return g_root.top_len + il;
}

// Host path -> top-inside path.
bool host_to_top(const char* host, char* out, size_t n) {
  if (under(host, g_root.top, g_root.top_len)) {
    const char* rest = host + g_root.top_len;
    return *rest ? put(out, n, rest, strlen(rest)) : put(out, n, "/", 1);
  }
  const Bind* best = nullptr;
  for (int i = 0; i < g_root.nbinds; i++) {
    const Bind& b = g_root.binds[i];
    if (under(host, b.host, b.host_len) && (!best || b.host_len > best->host_len)) best = &b;
  }
  if (!best) return false;
  const char* rest = host + best->host_len;
  if (g_root.croot_len > 1) {  // binds hold under the current root too (see bind_of)
    PathBuf in;
    if (!put(in, sizeof in, best->inside, best->inside_len, rest, strlen(rest))) return false;
    // ... unless the current root is in the bind (a chroot into a --bind
    // directory): there the path is where the bind is.
    if (under(in, g_root.croot, g_root.croot_len)) return put(out, n, in, strlen(in));
    return put(out, n, g_root.croot, g_root.croot_len, in, strlen(in));
  }
  return put(out, n, best->inside, best->inside_len, rest, strlen(rest));
}

bool is_bind_name(const char* name) {
  size_t nl = strlen(name);
  for (int i = 0; i < g_root.nbinds; i++) {
    const Bind& b = g_root.binds[i];
    const char* base = strrchr(b.inside, '/');
    base = base ? base + 1 : b.inside;
    if (strlen(base) == nl && memcmp(base, name, nl) == 0) return true;
  }
  return false;
}

// /proc/PID/{fd/N,cwd,root,exe,map_files/…,ns/…} and the same under
// task/TID. (An ns link reads "net:[4026531833]", a name that is nowhere:
// followed as text it would be ENOENT where the kernel opens the namespace.)
bool magic_link(const char* host, size_t hl) {
  if (strncmp(host, "/proc/", 6) != 0) return false;
  const char* last = host + hl;
  while (last > host && last[-1] != '/') last--;
  const char* parent_end = last - 1;
  const char* parent = parent_end;
  while (parent > host && parent[-1] != '/') parent--;
  size_t pl = parent_end - parent;
  if ((pl == 2 && (memcmp(parent, "fd", 2) == 0 || memcmp(parent, "ns", 2) == 0)) ||
      (pl == 9 && memcmp(parent, "map_files", 9) == 0))
    return true;
  return strcmp(last, "cwd") == 0 || strcmp(last, "root") == 0 || strcmp(last, "exe") == 0;
}

// Whether a relative path's first name (past any ".") is "..".
bool climbs(const char* p) {
  for (;;) {
    while (*p == '/') p++;
    if (p[0] != '.') return false;
    if (p[1] == '.' && (p[2] == '/' || !p[2])) return true;
    if (p[1] != '/' && p[1]) return false;
    p++;
  }
}

// The top-inside target of a /proc magic link at `host`, when it names a
// path in the root: a working directory, an open file, a program (exe of a
// process of the session reads as its program, not as the root's loader).
// False for anything else (a pipe, a deleted file, a host path outside).
// `further`: more of the path follows, which the walk takes as it reads
// ("..": the parent), so the target must be a directory (after a file the
// kernel says ENOTDIR: false leaves it to it); a removed one is given as
// where it was, and *removed set.
bool magic_target(const char* host, bool further, char* out, size_t n, bool* removed) {
  *removed = false;
  struct statx sx;
  if (further &&
      (sys::raw(SYS_statx, AT_FDCWD, (long)host, 0, STATX_TYPE | STATX_NLINK, (long)&sx) < 0 || !S_ISDIR(sx.stx_mode)))
    return false;
  PathBuf inside;
  if (proc_exe_inside(host, inside, sizeof inside)) {
    if (inside[0] != '/') return false;
    if (g_root.croot_len == 1) return put(out, n, inside, strlen(inside));
    return put(out, n, g_root.croot, g_root.croot_len, inside, strlen(inside));
  }
  PathBuf target;
  long tl = sys::raw(SYS_readlinkat, AT_FDCWD, (long)host, (long)target, sizeof target - 1);
  if (tl <= 0 || target[0] != '/') return false;
  target[tl] = 0;
  if (tl > 10 && strcmp(target + tl - 10, " (deleted)") == 0) {
    if (!further) return false;
    if (sx.stx_nlink == 0) {  // else a live directory so named
      target[tl - 10] = 0;
      *removed = true;
    }
  }
  return host_to_top(target, out, n);
}

// What a walk learns of the directory holding the last component, and whom
// it checks search permission for (null: nobody, the fast path).
struct WalkCheck {
  const Cred* cred = nullptr;
  bool parent_known = false;
  DirRec parent;
};

// The record of the directory `cur` (len n): from the cache, or one statx.
bool dir_rec(const char* cur, size_t n, uint64_t gen, bool remember, DirRec* rec) {
  if (remember && cache_get(cur, n, gen, rec)) return true;
  PathBuf host;
  if (!map_host(cur, host, sizeof host)) return false;
  struct statx sx;
  if (sys::raw(SYS_statx, AT_FDCWD, (long)host, 0, STATX_BASIC_STATS | STATX_BTIME, (long)&sx) < 0 ||
      !S_ISDIR(sx.stx_mode))
    return false;
  *rec = rec_of(sx);
  if (remember) cache_put(cur, n, gen, *rec);
  return true;
}

// Search permission on the directory of `rec` (at `cur`): the kernel's own
// under a bind.
int may_search(const char* cur, const DirRec& rec, const Cred& c) {
  size_t skip;
  if (bind_of(cur, &skip)) return 0;
  return may(view_of(key_of(rec), real_of(rec)), kMayExec, c);
}

// fs.protected_symlinks, for the link `sx` met at `cur` (perm.h), whose
// directory is `cur` up to parent_len: on the fake owners and modes, as the
// kernel checks the real ones (on disk every file is the user's).
int may_follow(char* cur, size_t parent_len, uint64_t gen, bool remember, const struct statx& sx) {
  char saved = cur[parent_len];
  cur[parent_len] = 0;
  DirRec d;
  bool known = dir_rec(cur, parent_len, gen, remember, &d);
  cur[parent_len] = saved;
  if (!known) return 0;
  Meta dir = view_of(key_of(d), real_of(d));
  // (The level last: read once per process, where a link in such a
  // directory is met, not at every program's first link.)
  if ((dir.mode & (S_ISVTX | S_IWOTH)) != (S_ISVTX | S_IWOTH) || !symlinks_protected()) return 0;
  DirRec l = rec_of(sx);
  return may_follow_link(dir, view_of(key_of(l), real_of(l)), fs_cred());
}

// Whether the /proc magic link at `host` leads into the root: its target
// is a path there (a file removed since too).
bool link_in_root(const char* host) {
  PathBuf target, top;
  long tl = sys::raw(SYS_readlinkat, AT_FDCWD, (long)host, (long)target, sizeof target - 1);
  if (tl <= 0 || target[0] != '/') return false;
  target[tl] = 0;
  if (tl > 10 && strcmp(target + tl - 10, " (deleted)") == 0) target[tl - 10] = 0;
  return host_to_top(target, top, sizeof top);
}

// Whether the top-inside path of a process's program names a file there.
bool program_in_root(const char* top) {
  PathBuf h;
  struct statx sx;
  return map_host(top, h, sizeof h) && sys::raw(SYS_statx, AT_FDCWD, (long)h, 0, STATX_TYPE, (long)&sx) == 0 &&
         S_ISREG(sx.stx_mode);
}

// The kernel's walk, in the top-inside namespace. `cur` starts as the
// canonical directory relative paths start from; on return it holds the
// canonical path (the last component unresolved unless follow_last).
// A /proc magic link in the middle of the path is followed to its target
// in the root (so that /proc/self/cwd/abs-link stays inside); as the last
// component it is left to the kernel unless `magic_last` (realpath).
// `remember`: the cache of directories known real is used (not when
// planning an exec: in a fork's child every cache page touched for the
// first time is a page fault, dearer than the statx it would save, and the
// cache dies with the exec). `wc`: search permission is checked on every
// directory looked in (the kernel's may_lookup), and the directory holding
// the last component is reported when met.
int walk(const char* path, bool follow_last, char* cur, size_t cap, bool* trailing, bool magic_last = false,
         bool remember = true, WalkCheck* wc = nullptr) {
  // Two halves: a symlink's target followed by what is left of the path
  // is built in the half not being read. (Kept small on purpose: a fork's
  // child faults in every stack page it touches before exec.)
  char rest[2][kHostPathMax];
  int ri = 0;
  size_t plen = strlen(path);
  if (plen >= sizeof rest[0]) return -ENAMETOOLONG;
  memcpy(rest[0], path, plen + 1);
  const char* p = rest[0];
  size_t clen = strlen(cur);
  if (*p == '/') {
    memcpy(cur, g_root.croot, g_root.croot_len + 1);
    clen = g_root.croot_len;
  }
  *trailing = false;
  int links = 0;
  // The cache is keyed by top-inside paths: their host paths depend on the
  // current root too (binds hold under it), so a chroot() starts an epoch.
  uint64_t gen = remember ? g_state.namegen() ^ (g_session.cache_epoch << 48) : 0;
  PathBuf host;
  const Cred* check = wc ? wc->cred : nullptr;
  DirRec dir;              // the record of `cur`, when dir_known
  bool dir_known = false;
  for (;;) {
    while (*p == '/') p++;
    if (!*p) break;
    const char* e = p;
    while (*e && *e != '/') e++;
    size_t n = e - p;
    const char* after = e;
    while (*after == '/') after++;
    bool last = *after == 0;
    bool slash = last && *e == '/';
    if (check) {
      // Looking a name up in `cur` takes search permission on it.
      if (!dir_known) dir_known = dir_rec(cur, clen, gen, remember, &dir);
      if (dir_known)
        if (int r = may_search(cur, dir, *check)) return r;
    }
    if (n == 1 && p[0] == '.') {
      p = e;
      if (last && slash) *trailing = true;
      continue;
    }
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      // `..` stops at the current root, and at the top for a directory
      // outside it (the classic chroot escape stays in the session's root).
      bool at_root = clen == 1 || (clen == g_root.croot_len && memcmp(cur, g_root.croot, clen) == 0);
      if (!at_root) {
        while (clen > 1 && cur[clen - 1] != '/') clen--;
        if (clen > 1) clen--;
        cur[clen] = 0;
        dir_known = false;
      }
      p = e;
      if (last && slash) *trailing = true;
      continue;
    }
    if (last && wc) {
      wc->parent_known = dir_known;
      wc->parent = dir;
    }
    size_t need = clen + 1 + n;
    if (need >= cap) return -ENAMETOOLONG;
    size_t parent_len = clen;  // `cur` up to here names the directory looked in
    if (clen != 1) cur[clen++] = '/';
    memcpy(cur + clen, p, n);
    clen += n;
    cur[clen] = 0;
    p = e;
    dir_known = false;
    if (last && !follow_last && !slash) break;
    // Known to be a real directory: no host path to build, no statx.
    if (!last && remember && cache_get(cur, clen, gen, &dir)) {
      dir_known = true;
      continue;
    }
    size_t hl = map_host(cur, host, sizeof host);
    if (!hl) return -ENAMETOOLONG;
    struct statx sx;
    long r = sys::raw(SYS_statx, AT_FDCWD, (long)host, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME,
                      (long)&sx);
    if (r == 0 && S_ISLNK(sx.stx_mode) && magic_link(host, hl)) {
      // /proc's links to open files and working directories are the
      // kernel's to follow (their targets are host paths or anonymous
      // objects), except a process's root, which is ours.
      size_t bl = 0;
      while (bl < n && host[hl - 1 - bl] != '/') bl++;
      if (bl == 4 && memcmp(host + hl - 4, "root", 4) == 0) {
        if (g_root.active && foreign_process(host)) {
          // The root of a process outside the session (init's): in a real
          // chroot the host's /, which ischroot and systemd's
          // running_in_chroot tell from the chroot's own / by its inode.
          // Here its fdinfo directory stands for it: not this root, and
          // nothing of the host under it (the kernel refuses to search
          // another user's; a name in it is no file).
          memcpy(cur + clen - 4, "fdinfo", 7);
          clen += 2;
          continue;
        }
        memcpy(cur, g_root.croot, g_root.croot_len + 1);
        clen = g_root.croot_len;
        continue;
      }
      // A process's exe, followed (open, stat): the kernel's link names the
      // file exec ran, cowroot-stub or the root's loader, not the program
      // (killall compares its inode with the program's, md5sum reads it).
      bool exe = last && follow_last && bl == 3 && memcmp(host + hl - 3, "exe", 3) == 0;
      if (!last || magic_last || exe) {
        // A removed directory (/proc/self/cwd of one): the kernel finds no
        // name in it, but ".." climbs from where it was, here as there.
        PathBuf top;
        bool removed;
        if (magic_target(host, !last, top, sizeof top, &removed) && (!removed || climbs(e))) {
          // A program of the root removed or replaced since it started: the
          // kernel's link would open what the kernel ran, cowroot-stub or
          // the root's loader, not the program. No such file here.
          if (exe && !program_in_root(top)) return -ENOENT;
          size_t tl = strlen(top);
          if (tl + 1 > cap) return -ENAMETOOLONG;
          memcpy(cur, top, tl + 1);
          clen = tl;
          if (++links > 40) return -ELOOP;
          continue;
        }
      }
      // A process outside the session: its working directory, open files
      // and mapped files are where it is, outside the root, and followed
      // they lead there (as after a real chroot(2)). Refused as the kernel
      // refuses them for a process one may not trace, unless they are in
      // the root. (Its namespaces, ns/NAME, name no file.)
      bool ns = hl >= bl + 4 && memcmp(host + hl - bl - 4, "/ns/", 4) == 0;
      if (g_root.active && !ns && foreign_process(host) && !link_in_root(host)) return -EACCES;
      size_t al = strlen(e);
      if (clen + al + 1 > cap) return -ENAMETOOLONG;
      memcpy(cur + clen, e, al + 1);
      clen += al;
      break;
    }
    if (r == 0 && S_ISLNK(sx.stx_mode)) {
      if (++links > 40) return -ELOOP;
      if (int err = may_follow(cur, parent_len, gen, remember, sx)) return err;
      char* nr = rest[ri ^ 1];
      long tl = sys::raw(SYS_readlinkat, AT_FDCWD, (long)host, (long)nr, sizeof rest[0] - 1);
      if (tl < 0) return (int)tl;
      size_t al = strlen(after);
      if ((size_t)tl + 1 + al + 1 > sizeof rest[0]) return -ENAMETOOLONG;
      nr[tl] = '/';
      memcpy(nr + tl + 1, after, al + 1);
      if (al == 0 && !slash) nr[tl] = 0;  // keep "no trailing slash" as it was
      ri ^= 1;
      p = nr;
      if (nr[0] == '/') {
        memcpy(cur, g_root.croot, g_root.croot_len + 1);
        clen = g_root.croot_len;
      } else {
        while (clen > 1 && cur[clen - 1] != '/') clen--;
        if (clen > 1) clen--;
        cur[clen] = 0;
      }
      continue;
    }
    if (r == 0 && S_ISDIR(sx.stx_mode)) {
      dir = rec_of(sx);
      dir_known = true;
      if (!last && remember) cache_put(cur, clen, gen, dir);
      if (last && slash) *trailing = true;
      continue;
    }
    // Missing, not a directory, or not searchable: the kernel gives the
    // error on the rest, taken as it is.
    if (!last) {
      size_t al = strlen(e);
      if (clen + al + 1 > cap) return -ENAMETOOLONG;
      memcpy(cur + clen, e, al + 1);
      clen += al;
      break;
    }
    if (slash) *trailing = true;
  }
  return 0;
}


// /proc names a removed directory by its last path and " (deleted)".
bool deleted_suffix(const char* host, size_t* len) {
  size_t l = strlen(host);
  *len = l;
  return l > 10 && strcmp(host + l - 10, " (deleted)") == 0;
}

// Where a walk of (dirfd, path) starts: nothing for an absolute path, else
// the top-inside path of the working directory or of dirfd (a removed one's
// last, and *removed set). False when that directory lies outside the root.
// The state's namegen when the working directory was last named (start_dir).
uint64_t g_cwd_gen;

bool start_dir(int dirfd, const char* path, char* cur, size_t n, bool* removed) {
  cur[0] = 0;
  *removed = false;
  if (path[0] == '/') return true;
  if (dirfd == AT_FDCWD) {
    // A directory renamed or removed anywhere in the session since the
    // working directory was named (the state's namegen) may have been it,
    // or one above it: the kernel's name for it then, once.
    if (!g_root.cwd_known || g_cwd_gen != g_state.namegen()) root_cwd_changed();
    if (!g_root.cwd_known) return false;
    *removed = g_root.cwd_removed;
    return put(cur, n, g_root.cwd, strlen(g_root.cwd));
  }
  PathBuf host;
  if (!fd_host_path(dirfd, host, sizeof host)) return false;
  size_t hl;
  bool deleted = deleted_suffix(host, &hl);
  // From a descriptor on anything but a directory the kernel says ENOTDIR
  // (left to it): the walk would take the descriptor's name as a directory
  // and go on through it, and one on a symlink (O_PATH | O_NOFOLLOW: an
  // absolute link, /proc/self/root, /proc/PID/cwd) would lead where the
  // link does on the host. A removed directory is where it was (a live one
  // may be so named).
  struct statx sx;
  if (sys::raw(SYS_statx, dirfd, (long)"", AT_EMPTY_PATH, STATX_TYPE | STATX_NLINK, (long)&sx) < 0 ||
      !S_ISDIR(sx.stx_mode))
    return false;
  if (deleted && sx.stx_nlink == 0) {
    host[hl - 10] = 0;
    *removed = true;
  }
  return host_to_top(host, cur, n);
}

// The first bind of an inside path wins: the defaults, the list handed
// down and FAKECHROOT_EXCLUDE_PATH may name the same place again.
void add_bind(const char* inside, size_t il, const char* host, size_t hl) {
  if (g_root.nbinds >= kMaxBinds || il >= kBindLen || hl >= kBindLen || il == 0 || hl == 0) return;
  while (il > 1 && inside[il - 1] == '/') il--;
  while (hl > 1 && host[hl - 1] == '/') hl--;
  for (int i = 0; i < g_root.nbinds; i++)
    if (g_root.binds[i].inside_len == il && memcmp(g_root.binds[i].inside, inside, il) == 0) return;
  Bind& b = g_root.binds[g_root.nbinds++];
  memcpy(b.inside, inside, il);
  b.inside[il] = 0;
  b.inside_len = il;
  memcpy(b.host, host, hl);
  b.host[hl] = 0;
  b.host_len = hl;
}

// fakechroot's FAKECHROOT_EXCLUDE_PATH: host paths seen as they are.
void add_exclude_binds() {
  if (!g_session.fakechroot) return;
  const char* ex = getenv("FAKECHROOT_EXCLUDE_PATH");
  for (const char* p = ex; p && *p;) {
    const char* e = strchr(p, ':');
    if (!e) e = p + strlen(p);
    if (*p == '/') add_bind(p, e - p, p, e - p);
    p = *e ? e + 1 : e;
  }
}

}  // namespace

// The walker for ldconf.cc (resolve_impl.h). Out of line here, so that the
// resolver's own calls keep walk() static: GCC then specialises and inlines
// it for them (a shared walk cost every in-root stat ~25 instructions).
namespace walker {
size_t host_of(const char* inside, char* out, size_t n) { return map_host(inside, out, n); }
int walk_inside(const char* path, bool follow_last, char* cur, size_t cap, bool* trailing, bool remember) {
  return walk(path, follow_last, cur, cap, trailing, false, remember);
}
int cwd_dir(Key* key, Meta* real) {
  DirRec d;
  if (!g_root.active || !g_root.cwd_known) {
    struct statx sx;
    long rc = sys::raw(SYS_statx, AT_FDCWD, (long)".", 0, STATX_BASIC_STATS | STATX_BTIME, (long)&sx);
    if (rc < 0) return (int)rc;
    d = rec_of(sx);
  } else {
    size_t n = strlen(g_root.cwd);
    uint64_t gen = g_state.namegen() ^ (g_session.cache_epoch << 48);
    if (!cache_get(g_root.cwd, n, gen, &d)) {
      struct statx sx;
      long rc = sys::raw(SYS_statx, AT_FDCWD, (long)".", 0, STATX_BASIC_STATS | STATX_BTIME, (long)&sx);
      if (rc < 0) return (int)rc;
      d = rec_of(sx);
      if (S_ISDIR(sx.stx_mode)) cache_put(g_root.cwd, n, gen, d);
    }
  }
  *key = key_of(d);
  *real = real_of(d);
  return 0;
}
}  // namespace walker

size_t host_unwalked(const char* name, char* out, size_t n) {
  if (name[0] != '/') return 0;
  PathBuf in;
  size_t cl = g_root.croot_len > 1 ? g_root.croot_len : 0;
  if (!put(in, sizeof in, g_root.croot, cl, name, strlen(name))) return 0;
  return map_host(in, out, n);
}

void root_forget_cache() { g_session.cache_epoch++; }

void root_init() {
  // A root configured anew (a new program, or the test fixture binding the
  // core to another root): what the cache knew was about another mapping.
  g_session.cache_epoch++;
  const char* top = getenv("COWROOT_ROOT");
  if (!top || top[0] != '/' || strlen(top) >= sizeof g_root.top) return;
  size_t tl = strlen(top);
  while (tl > 1 && top[tl - 1] == '/') tl--;
  if (tl == 1) return;  // a root of "/" is no root at all
  memcpy(g_root.top, top, tl);
  g_root.top[tl] = 0;
  g_root.top_len = tl;
  const char* c = getenv("COWROOT_CHROOT");
  if (!c || c[0] != '/' || strlen(c) >= sizeof g_root.croot) c = "/";
  size_t cl = strlen(c);
  while (cl > 1 && c[cl - 1] == '/') cl--;
  memcpy(g_root.croot, c, cl);
  g_root.croot[cl] = 0;
  g_root.croot_len = cl;
  // /dev, /proc and /sys always pass through; COWROOT_BINDS (PATH or
  // INSIDE=HOST entries) and, with --fakechroot, FAKECHROOT_EXCLUDE_PATH
  // add more. The list handed down at exec holds all of them already.
  for (const char* b : {"/dev", "/proc", "/sys"}) add_bind(b, strlen(b), b, strlen(b));
  for (const char* p = getenv("COWROOT_BINDS"); p && *p;) {
    const char* e = strchr(p, ':');
    if (!e) e = p + strlen(p);
    const char* eq = (const char*)memchr(p, '=', e - p);
    if (eq) add_bind(p, eq - p, eq + 1, e - eq - 1);
    else add_bind(p, e - p, p, e - p);
    p = *e ? e + 1 : e;
  }
  add_exclude_binds();
  if (const char* exe = getenv("COWROOT_EXE"); exe && strlen(exe) < sizeof g_root.exe)
    memcpy(g_root.exe, exe, strlen(exe) + 1);
  g_root.active = true;
  root_cwd_changed();
}

bool binds_text(char* out, size_t n) {
  size_t used = 0;
  for (int i = 0; i < g_root.nbinds; i++) {
    const Bind& b = g_root.binds[i];
    bool same = strcmp(b.inside, b.host) == 0;
    size_t need = b.inside_len + (same ? 0 : 1 + b.host_len) + 1;
    if (used + need + 1 > n) return false;
    if (i) out[used++] = ':';
    memcpy(out + used, b.inside, b.inside_len);
    used += b.inside_len;
    if (!same) {
      out[used++] = '=';
      memcpy(out + used, b.host, b.host_len);
      used += b.host_len;
    }
  }
  out[used] = 0;
  return true;
}

// The parent's state a CLONE_VM child keeps aside (vm_child_changing).
namespace {
struct VmSaved {
  pid_t child = 0;
  uint64_t cwd_gen = 0, cache_epoch = 0;
  bool nnp = false;
  Ids uid, gid;
  Caps caps;
  uint32_t groups[kMaxGroups] = {};
  int ngroups = 0;
  uint32_t umask = 0;
  RootConfig root;
};
VmSaved g_vm_saved;

// The process's state into v (save) or back from it: one list of fields.
void vm_exchange(VmSaved& v, bool save) {
  auto x = [save](auto& kept, auto& live) {
    if constexpr (std::is_array_v<std::remove_reference_t<decltype(live)>>) {
      if (save) memcpy(kept, live, sizeof live);
      else memcpy(live, kept, sizeof live);
    } else if (save) {
      kept = live;
    } else {
      live = kept;
    }
  };
  x(v.cwd_gen, g_cwd_gen);
  x(v.cache_epoch, g_session.cache_epoch);
  x(v.nnp, g_session.nnp);
  x(v.uid, g_session.uid);
  x(v.gid, g_session.gid);
  x(v.caps, g_session.caps);
  x(v.groups, g_session.groups);
  x(v.ngroups, g_session.ngroups);
  x(v.umask, g_session.umask);
  x(v.root, g_root);
}
}  // namespace

bool g_vm_pending = false;

void vm_child_changing() {
  if (g_vm_pending) return;  // the parent's state is aside already
  long me = sys::raw(SYS_getpid), parent = sys::raw(SYS_getppid);
  // (No kcmp, or not allowed: taken as no such child, as before.)
  if (sys::raw(SYS_kcmp, me, parent, 1 /* KCMP_VM */, 0, 0) != 0) return;
  g_vm_saved.child = (pid_t)me;
  vm_exchange(g_vm_saved, true);
  __atomic_store_n(&g_vm_pending, true, __ATOMIC_RELEASE);
}

void vm_parent_resume() {
  if (sys::raw(SYS_getpid) == g_vm_saved.child) return;  // the child itself: its own state
  vm_exchange(g_vm_saved, false);
  __atomic_store_n(&g_vm_pending, false, __ATOMIC_RELEASE);
}

void root_cwd_changed() {
  if (!g_root.active) return;
  g_cwd_gen = g_state.namegen();
  PathBuf host;
  long r = sys::raw(SYS_getcwd, (long)host, sizeof host);
  g_root.cwd_removed = false;
  if (r == -ENOENT) {
    // Removed: getcwd has no name for it, /proc its last one. Unknown, it
    // would be "outside" and a relative "../../etc" the kernel's to climb,
    // out of the root to the host's /etc.
    long l = sys::raw(SYS_readlinkat, AT_FDCWD, (long)"/proc/self/cwd", (long)host, sizeof host - 1);
    size_t hl;
    if (l > 0 && (host[l] = 0, deleted_suffix(host, &hl))) {
      host[hl - 10] = 0;
      g_root.cwd_removed = true;
      r = l;
    }
  }
  g_root.cwd_known = r > 0 && host_to_top(host, g_root.cwd, sizeof g_root.cwd);
}

int resolve(int dirfd, const char* path, int flags, Resolved* out) {
  out->dirfd = dirfd;
  out->path = path;
  out->parent_known = out->passthrough = false;
  if (!path || !*path) return 0;
  // Whom the kernel would check: root (CAP_DAC_OVERRIDE) is never checked.
  Cred c = (flags & kRealIds) ? real_cred() : fs_cred();
  bool checked = !dac_free(c);
  if (!g_root.active) return checked ? walker::host_search(dirfd, path, c, out) : 0;
  bool follow = flags & kFollow;
  bool lazy = flags & kLazyFinal;
  // One relative name that is neither `..` nor a bind point's name resolves
  // the same in the root as on the host: hand it to the kernel as it is.
  if (!checked && path[0] != '/' && !strchr(path, '/') && (!follow || lazy) && strcmp(path, "..") != 0 &&
      !is_bind_name(path))
    return 0;
  // The kernel takes no path of PATH_MAX bytes or more, whatever it names
  // ("/./././…/f" walks to a short one; a single name is refused above by it).
  if (strnlen(path, kPathMax) >= kPathMax) return -ENAMETOOLONG;
  PathBuf named;
  if (__builtin_expect(g_debugger, 0) && path[0] == '/' && !(flags & kAsNamed)) {
    // A debugger reads its program's libraries by the names the loader's
    // list gives them, their host paths: one the root does not have itself
    // is the root's file of that host path (under the root's top, a bind's
    // host side, the loader's links); this library is itself.
    if (g_session.lib[0] && strcmp(path, g_session.lib) == 0) return 0;
    if (to_inside(path, named, sizeof named) && strcmp(named, path) != 0) {
      Resolved as_is;
      struct statx sx;
      if (resolve(dirfd, path, flags | kAsNamed, &as_is) != 0 ||
          sys::raw(SYS_statx, as_is.dirfd, (long)as_is.path, AT_SYMLINK_NOFOLLOW, 0, (long)&sx) != 0)
        path = named;
    }
  }
  PathBuf cur;
  bool removed;
  if (!start_dir(dirfd, path, cur, sizeof cur, &removed)) return 0;  // a directory outside: the kernel's business
  // In a removed directory the kernel finds no name and "." is the directory
  // itself: only a path that climbs out first is walked (from where it was).
  if (removed && !climbs(path)) return 0;
  bool trailing;
  WalkCheck wc;
  if (!searches_freely(c)) wc.cred = &c;
  int r = walk(path, follow && !lazy, cur, sizeof cur, &trailing, false, !(flags & kForExec), &wc);
  if (r < 0) return r;
  if (wc.parent_known) {
    out->parent_known = true;
    out->pkey = key_of(wc.parent);
    out->preal = real_of(wc.parent);
  }
  if (checked) {
    size_t skip;
    out->passthrough = bind_of(cur, &skip) != nullptr;
  }
  size_t hl = map_host(cur, out->buf, sizeof out->buf - 2);
  if (!hl) return -ENAMETOOLONG;
  if (trailing && out->buf[hl - 1] != '/') {
    out->buf[hl] = '/';
    out->buf[hl + 1] = 0;
  }
  out->dirfd = AT_FDCWD;
  out->path = out->buf;
  return 0;
}

// (resolve.h)
bool fd_host_path(int fd, char* out, size_t n) {
  char link[32];
  sys::proc_fd_path(fd, link);
  long r = sys::raw(SYS_readlinkat, AT_FDCWD, (long)link, (long)out, n - 1);
  if (r <= 0) return false;
  out[r] = 0;
  return out[0] == '/';
}

bool to_inside(const char* host, char* out, size_t n) {
  PathBuf top;
  bool inside = g_root.active && host_to_top(host, top, sizeof top);
  if (!inside && g_root.active && strstr(host, kLinksName)) {
    // A library the loader opened through a link of root_library_path's:
    // the root's file it leads to.
    PathBuf target;
    long tl = sys::raw(SYS_readlinkat, AT_FDCWD, (long)host, (long)target, sizeof target - 1);
    if (tl > 0) {
      target[tl] = 0;
      inside = host_to_top(target, top, sizeof top);
    }
  }
  if (!inside) {
    put(out, n, host, strlen(host));
    return false;
  }
  if (g_root.croot_len > 1 && under(top, g_root.croot, g_root.croot_len)) {
    const char* rest = top + g_root.croot_len;
    return *rest ? put(out, n, rest, strlen(rest)) : put(out, n, "/", 1);
  }
  return put(out, n, top, strlen(top));
}

bool unreachable_inside(const char* host, char* out, size_t n) {
  // (Outside the session's root, with no chroot() since, the host path is
  // the answer, as fakechroot's: a bare LD_PRELOAD session started where it
  // stood.)
  if (g_root.croot_len <= 1) return false;
  PathBuf top;
  if (!host_to_top(host, top, sizeof top)) return put(out, n, host, strlen(host)), true;
  if (!under(top, g_root.croot, g_root.croot_len)) return put(out, n, top, strlen(top)), true;
  return false;
}

namespace {
// Walks (dirfd, path) to an existing file, every symlink followed: its
// canonical top-inside path into cur, its type into sx.
int walk_existing(int dirfd, const char* path, char* cur, size_t n, struct statx* sx, bool* trailing) {
  bool removed;  // walked from where it was: its names are missing there too
  if (!start_dir(dirfd, path, cur, n, &removed)) return -ENOENT;
  int r = walk(path, true, cur, n, trailing, true);
  if (r < 0) return r;
  PathBuf host;
  if (!map_host(cur, host, sizeof host)) return -ENAMETOOLONG;
  return (int)sys::raw(SYS_statx, AT_FDCWD, (long)host, 0, STATX_TYPE, (long)sx);
}
}  // namespace

namespace {

// Parses the digits at *p (advancing it); false when there are none.
bool take_number(const char** p, long* v) {
  const char* q = *p;
  long x = 0;
  if (*q < '0' || *q > '9') return false;
  while (*q >= '0' && *q <= '9') x = x * 10 + (*q++ - '0');
  *p = q;
  *v = x;
  return true;
}

}  // namespace

bool foreign_pid(long pid) {
  if (pid <= 0 || pid == sys::raw(SYS_getpid)) return false;
  PathBuf state;
  if (initial_env(pid, kEnvState, state, sizeof state)) return strcmp(state, g_session.state_dir) != 0;
  // A process that wrote over its environment (a daemon's title: nginx,
  // postgres, sshd) still holds the session's connection to the daemon,
  // at the number it inherited, ours: a copy of it is one to our daemon.
  if (g_session.live_fd < 0) return true;
  long pidfd = sys::raw(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) return true;
  long fd = sys::raw(SYS_pidfd_getfd, pidfd, g_session.live_fd, 0);
  sys::raw(SYS_close, pidfd);
  if (fd < 0) return true;
  bool ours = live_fd_state((int)fd, g_session.state_dir) >= 0;
  sys::raw(SYS_close, fd);
  return !ours;
}

bool foreign_process(const char* host) {
  if (strncmp(host, "/proc/", 6) != 0) return false;
  if (g_root.outside) return true;
  const char* p = host + 6;
  long pid;
  return take_number(&p, &pid) && *p == '/' && foreign_pid(pid);
}

// The value of variable `name` in the environment process `pid` started
// with (/proc/PID/environ), into out.
bool initial_env(long pid, const char* name, char* out, size_t n) {
  char path[48] = "/proc/";
  size_t l = 6;
  char d[24];
  int nd = 0;
  do d[nd++] = char('0' + pid % 10); while ((pid /= 10) > 0);
  while (nd) path[l++] = d[--nd];
  memcpy(path + l, "/environ", 9);
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t nl = strlen(name);
  char buf[4096];  // a block of the file
  PathBuf entry;
  size_t el = 0;
  bool found = false, whole = true;
  for (long got; !found && (got = sys::raw(SYS_read, fd, (long)buf, sizeof buf)) > 0;) {
    for (long i = 0; i < got && !found; i++) {
      if (buf[i] != 0) {
        if (el < sizeof entry - 1) entry[el++] = buf[i];
        else whole = false;
        continue;
      }
      if (whole && el > nl && memcmp(entry, name, nl) == 0 && entry[nl] == '=' && el - nl - 1 < n) {
        memcpy(out, entry + nl + 1, el - nl - 1);
        out[el - nl - 1] = 0;
        found = true;
      }
      el = 0;
      whole = true;
    }
  }
  sys::raw(SYS_close, fd);
  return found;
}

namespace {

}  // namespace

namespace {

// The inside path of process pid's program, found as the kernel's
// auxiliary vector shows it (the program's headers, AT_PHDR, which the
// library put there when the root's loader ran it) and the file mapped
// there (/proc/PID/maps): for a process whose environment block no longer
// holds COWROOT_EXE (a daemon that wrote its title over it: sshd, perl's
// $0, nginx). False when it is not a file of the root.
bool exe_by_auxv(long pid, char* out, size_t n) {
  char path[48];
  proc_file(pid, "auxv", path);
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uint64_t av[2 * 48];
  long got = sys::raw(SYS_read, fd, (long)av, sizeof av);
  sys::raw(SYS_close, fd);
  uint64_t phdr = 0;
  for (long i = 0; i + 1 < got / 8; i += 2)
    if (av[i] == 3 /* AT_PHDR */) phdr = av[i + 1];
  if (!phdr) return false;
  proc_file(pid, "maps", path);
  bool found = false;
  PathBuf line;
  each_line(path, line, sizeof line, [&](const char* l) {
    const char* q = l;
    uint64_t lo, hi;
    if (!map_range(&q, &lo, &hi) || phdr < lo || phdr >= hi) return false;
    MapRest mr;
    map_rest(q, &mr);
    const char* file = mr.path;
    if (!file) return true;
    // A file of the base the clone shared, given a copy of its own since
    // the program started (a write to it, touch): /proc names the mapping
    // deleted, but its name still leads to the same file as far as the
    // program can tell, as it would in a real root.
    PathBuf cut;
    size_t fl;
    struct statx now, was{};
    was.stx_mode = S_IFREG;
    was.stx_nlink = 2;
    was.stx_ino = mr.ino;
    was.stx_dev_major = (uint32_t)mr.major;
    was.stx_dev_minor = (uint32_t)mr.minor;
    if (deleted_suffix(file, &fl) && fl - 10 < sizeof cut && cow_may_share(was)) {
      memcpy(cut, file, fl - 10);
      cut[fl - 10] = 0;
      if (sys::raw(SYS_statx, AT_FDCWD, (long)cut, 0, STATX_TYPE, (long)&now) == 0 && S_ISREG(now.stx_mode)) file = cut;
    }
    // (Outside a root, a confined session's: the host path as it is.)
    found = to_inside(file, out, n) || !g_root.active;
    return true;
  });
  return found;
}

}  // namespace

bool proc_exe_inside(const char* host, char* out, size_t n) {
  // Confined, outside a root too: the kernel's link names cowroot-stub.
  if ((!g_root.active && !g_confine.active) || strncmp(host, "/proc/", 6) != 0) return false;
  const char* p = host + 6;
  long me = sys::raw(SYS_getpid), pid;
  if (strncmp(p, "self/", 5) == 0) {
    pid = me;
    p += 4;
  } else if (strncmp(p, "thread-self/", 12) == 0) {
    pid = me;
    p += 11;
  } else if (!take_number(&p, &pid)) {
    return false;
  }
  long tid;
  if (strncmp(p, "/task/", 6) == 0) {
    p += 6;
    if (!take_number(&p, &tid)) return false;
  }
  if (strcmp(p, "/exe") != 0) return false;
  if (pid == me) {
    if (!g_root.exe[0]) return false;
    // Removed or replaced since it started: as the kernel names it then
    // ("PATH (deleted)"), from the file mapped as the program.
    PathBuf h;
    struct statx sx;
    if (g_root.active && map_host(g_root.exe, h, sizeof h) &&
        sys::raw(SYS_statx, AT_FDCWD, (long)h, 0, STATX_TYPE, (long)&sx) != 0 && exe_by_auxv(me, out, n))
      return true;
    return put(out, n, g_root.exe, strlen(g_root.exe));
  }
  // A process of another root (a sibling clone's, sharing this one's
  // files) names a program of its own root, not of this one: its
  // COWROOT_EXE counts only where its COWROOT_ROOT is this root's (another
  // session's in the same root's too); the file mapped as its program must
  // be one under this root's top.
  if (g_root.active) {
    PathBuf top;
    if (!initial_env(pid, "COWROOT_ROOT", top, sizeof top)) return exe_by_auxv(pid, out, n);
    size_t tl = strlen(top);
    while (tl > 1 && top[tl - 1] == '/') tl--;
    if (tl != g_root.top_len || memcmp(top, g_root.top, tl) != 0) return false;
    // The file mapped as its program first: a program replaced since it
    // started (a package upgrade) reads "PATH (deleted)", as the kernel
    // says of it (needrestart, checkrestart look for that).
    return exe_by_auxv(pid, out, n) || initial_env(pid, "COWROOT_EXE", out, n);
  }
  return initial_env(pid, "COWROOT_EXE", out, n) || exe_by_auxv(pid, out, n);
}

int inside_realpath(int dirfd, const char* path, char* out, size_t n) {
  if (!path || !*path) return -ENOENT;
  PathBuf cur;
  struct statx sx;
  bool trailing;
  if (int e = walk_existing(dirfd, path, cur, sizeof cur, &sx, &trailing)) return e;
  if (trailing && !S_ISDIR(sx.stx_mode)) return -ENOTDIR;
  PathBuf top;
  memcpy(top, cur, strlen(cur) + 1);
  if (g_root.croot_len > 1 && under(top, g_root.croot, g_root.croot_len)) {
    const char* rest = top + g_root.croot_len;
    return (*rest ? put(out, n, rest, strlen(rest)) : put(out, n, "/", 1)) ? 0 : -ENAMETOOLONG;
  }
  return put(out, n, top, strlen(top)) ? 0 : -ENAMETOOLONG;
}

namespace {

// The nearest of `host` and the directories above it that has the sidecar
// file X.cowroot/`mark`: its path into out (n bytes). False when none.
bool in_tree_marked(const char* host, const char* mark, char* out, size_t n) {
  size_t hl = strlen(host), ml = strlen(mark);
  PathBuf probe;
  for (size_t end = hl; end > 1; ) {
    if (end + sizeof ".cowroot/" + ml > sizeof probe) return false;
    memcpy(probe, host, end);
    memcpy(probe + end, ".cowroot/", 9);
    memcpy(probe + end + 9, mark, ml + 1);
    struct statx sx;
    if (sys::raw(SYS_statx, AT_FDCWD, (long)probe, AT_SYMLINK_NOFOLLOW, STATX_TYPE, (long)&sx) == 0 &&
        S_ISREG(sx.stx_mode)) {
      if (end >= n) return false;
      memcpy(out, host, end);
      out[end] = 0;
      return true;
    }
    while (end > 1 && host[end - 1] != '/') end--;
    if (end > 1) end--;  // the '/' before the last component
  }
  return false;
}

}  // namespace

bool in_sealed_base(const char* host, char* base, size_t n) { return in_tree_marked(host, "manifest", base, n); }

bool in_clone(const char* host, char* clone, size_t n) { return in_tree_marked(host, "base", clone, n); }

int root_chroot(const char* path) {
  if (!g_root.active) {
    // chroot() in a session without a root: the directory becomes the
    // session's root, as `fakechroot fakeroot chroot DIR` gives.
    long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return (int)fd;
    PathBuf host;
    bool ok = fd_host_path((int)fd, host, sizeof host);
    sys::raw(SYS_close, fd);
    if (!ok) return -ENOENT;
    size_t hl = strlen(host);
    if (hl == 1) return 0;  // chroot("/") changes nothing
    // A sealed base is no session's root (cli/session.cc refuses it for
    // -r): what ran there would write into the base, and into every clone
    // made after.
    PathBuf base;
    if (in_sealed_base(host, base, sizeof base)) {
      errline("chroot ", host,
              ": in a sealed base, whose clones share its files: refused (run in a clone of it: "
              "cowroot run --base, cowroot clone)");
      return -EPERM;
    }
    // Nor a clone, or a directory in one, from a session that is not the
    // clone's own: its files are its base's until the clone's session
    // copies them, and this one would write into them.
    if (in_clone(host, base, sizeof base)) {
      constexpr char kWhy[] = ", whose files are its base's until its own session copies them: refused (run in the clone: cowroot -r)";
      size_t bl = strlen(base);
      if (bl + sizeof kWhy <= sizeof base) memcpy(base + bl, kWhy, sizeof kWhy);
      errline("chroot ", host, ": in the clone ", base);
      return -EPERM;
    }
    memcpy(g_root.top, host, hl + 1);
    g_root.top_len = hl;
    memcpy(g_root.croot, "/", 2);
    g_root.croot_len = 1;
    if (g_root.nbinds == 0) {
      for (const char* b : {"/dev", "/proc", "/sys"}) add_bind(b, strlen(b), b, strlen(b));
      add_exclude_binds();
    }
    g_root.active = true;
    g_session.cache_epoch++;
    root_cwd_changed();
    return 0;
  }
  if (strnlen(path, kPathMax) >= kPathMax) return -ENAMETOOLONG;  // as resolve
  PathBuf cur;
  struct statx sx;
  bool trailing;
  if (int e = walk_existing(AT_FDCWD, path, cur, sizeof cur, &sx, &trailing)) return e;
  if (!S_ISDIR(sx.stx_mode)) return -ENOTDIR;
  size_t l = strlen(cur);
  memcpy(g_root.croot, cur, l + 1);
  g_root.croot_len = l;
  g_session.cache_epoch++;
  return 0;
}

}  // namespace cr
