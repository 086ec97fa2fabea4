// Hand-written doors of the dynamic loader: dlopen takes inside paths, and
// the names of loaded objects it reports are inside paths.
#include <link.h>
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

#include "../core/hash.h"
#include "doors.h"

namespace {
using dlopen_fn = void* (*)(const char*, int);

// What preopen found and did for one dlopen.
struct Ahead {
  dlopen_fn open;
  int flags;    // for what is opened ahead: lazily, locally (and the dlopen's RTLD_DEEPBIND)
  void* h[64];  // opened ahead; closed once the library holds them
  int n = 0;
  uint64_t seen[64];  // libraries looked at (a hash of the host path): a cycle stops
  int nseen = 0;
  char fail[256];  // a dependency the root lacks where the host has one
};

enum class Pre { kDone, kPlain, kFail };
Pre preopen(const char* host, int depth, Ahead* a);

// The host path a RUNPATH entry `e` (length el) gives `name` for the
// library at `host`: $ORIGIN (the library's directory, a host path) taken as
// the loader takes it; an absolute directory translated into the root
// (*plain is then the name the loader would have opened on the host). False
// for what the loader would expand otherwise ($LIB, $PLATFORM, a relative
// entry).
__attribute__((noinline)) bool candidate(const char* e, size_t el, const char* host, const char* name, char* out,
                                         size_t on, char* plain) {
  size_t nl = strlen(name);
  plain[0] = 0;
  size_t skip = el >= 7 && !memcmp(e, "$ORIGIN", 7) ? 7 : el >= 9 && !memcmp(e, "${ORIGIN}", 9) ? 9 : 0;
  if (skip) {
    if (memchr(e + skip, '$', el - skip) || (el > skip && e[skip] != '/')) return false;
    const char* slash = strrchr(host, '/');
    size_t dl = slash ? (size_t)(slash - host) : 0;
    if (!dl || dl + (el - skip) + 1 + nl >= on) return false;
    memcpy(out, host, dl);
    memcpy(out + dl, e + skip, el - skip);
    out[dl + el - skip] = '/';
    memcpy(out + dl + el - skip + 1, name, nl + 1);
    return true;
  }
  if (e[0] != '/' || memchr(e, '$', el) || el + 1 + nl >= kPathMax) return false;
  memcpy(plain, e, el);
  plain[el] = '/';
  memcpy(plain + el + 1, name, nl + 1);
  Resolved r;
  if (resolve(AT_FDCWD, plain, kFollow, &r) != 0 || r.dirfd != AT_FDCWD || r.path[0] != '/' || strlen(r.path) >= on)
    return false;
  memcpy(out, r.path, strlen(r.path) + 1);
  return true;
}

// One dependency `name` of the library at `host`, found along its RUNPATH
// `search` as the loader would, opened ahead (see preopen).
__attribute__((noinline)) Pre find_one(const char* host, const char* search, const char* name, int depth, Ahead* a) {
  if (a->n >= (int)(sizeof a->h / sizeof a->h[0])) return Pre::kPlain;
  // Loaded already (by its soname), or in the root's library path
  // (LD_LIBRARY_PATH comes before a RUNPATH): the loader takes that one.
  void* h = a->open(name, a->flags);
  bool on_host = false;
  for (const char* e = search; !h && *e;) {
    const char* end = strchr(e, ':');
    size_t el = end ? (size_t)(end - e) : strlen(e);
    if (el) {
      PathBuf at, plain;
      if (!candidate(e, el, host, name, at, sizeof at, plain)) return Pre::kDone;  // the loader's to expand
      char soname[256];
      long fd = sys::raw(SYS_openat, AT_FDCWD, (long)at, O_RDONLY | O_CLOEXEC);
      bool elf = false;
      if (fd >= 0) {
        char none[1];
        bool rp;
        elf = library_deps((int)fd, none, 0, &rp, none, 0, soname, sizeof soname);
        sys::raw(SYS_close, fd);
      }
      // The loader passes over a file of another machine or class.
      if (elf) {
        // Found without its name as its soname, the loader would not see
        // it loaded: what it opens then (a host file) is not ours to choose.
        if (strcmp(soname, name) != 0) return plain[0] ? Pre::kPlain : Pre::kDone;
        Pre sub = preopen(at, depth + 1, a);
        if (sub != Pre::kDone) return sub;
        if (!(h = a->open(at, a->flags))) return Pre::kPlain;
        break;
      }
      // What the loader would open here instead is the host's file.
      if (plain[0] && sys::raw(SYS_faccessat, AT_FDCWD, (long)plain, F_OK) == 0) on_host = true;
    }
    e += el + (end ? 1 : 0);
  }
  if (h) {
    a->h[a->n++] = h;
    return Pre::kDone;
  }
  if (!on_host) return Pre::kDone;  // not found by the loader either: its own error
  size_t nl = strlen(name);
  if (nl >= sizeof a->fail) return Pre::kPlain;
  memcpy(a->fail, name, nl + 1);
  return Pre::kFail;
}

// A library's own absolute RUNPATH directories are, to the loader, host
// directories (the audit module, which makes them the root's, is given only
// to programs with such a path of their own). So before a library is
// dlopen'ed by its path, each dependency it would look for there is looked
// for as the loader would: loaded already (by soname), the root's library
// path, then the RUNPATH's entries in order ($ORIGIN as it is, an absolute
// directory in the root). One found in the root is opened first, its own
// such dependencies before it, lazily and locally: the loader then finds it
// loaded, by its soname (and adds the library's scope to it). One the root
// lacks while the host has it in such a directory fails the dlopen (kFail:
// not found, as in a real root). kPlain: what this cannot follow (an
// RPATH, which a library's dependencies inherit; a candidate that does not
// open, or has another soname): the dlopen goes on as before, with nothing
// opened ahead. kDone: the dlopen goes on with what was opened ahead.
Pre preopen(const char* host, int depth, Ahead* a) {
  uint64_t id = fnv1a(host, strlen(host));
  for (int i = 0; i < a->nseen; i++)
    if (a->seen[i] == id) return Pre::kDone;
  if (depth > 4 || a->nseen >= (int)(sizeof a->seen / sizeof a->seen[0])) return Pre::kPlain;
  a->seen[a->nseen++] = id;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)host, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Pre::kDone;
  char search[1024], names[2048], soname[256];
  bool runpath = false;
  bool ok = library_deps((int)fd, search, sizeof search, &runpath, names, sizeof names, soname, sizeof soname);
  sys::raw(SYS_close, fd);
  if (!ok || !has_absolute_entry(search)) return Pre::kDone;
  if (!runpath) return Pre::kPlain;
  for (const char* n = names; *n; n += strlen(n) + 1) {
    if (strchr(n, '/')) continue;
    Pre r = find_one(host, search, n, depth, a);
    if (r != Pre::kDone) return r;
  }
  return Pre::kDone;
}
}  // namespace

EXPORT void* dlopen(const char* p, int f) {
  ensure();
  using fn_t = void* (*)(const char*, int);
  static auto fn = real<fn_t>("dlopen");
  if (!fn.fn) return nullptr;  // before glibc 2.34, in libdl, which whoever calls it has loaded
  // A bare name is found by the loader in the root's library path; a path
  // is an inside path.
  if (!g_root.active || !p || !strchr(p, '/')) return fn(p, f);
  Resolved r;
  if (resolve(AT_FDCWD, p, kFollow, &r)) return fn(p, f);
  // libc's dlclose, found as dlopen is (no symbol of glibc 2.34's libdl move).
  static auto close = real<int (*)(void*)>("dlclose");
  if ((f & RTLD_NOLOAD) || !close.fn || r.dirfd != AT_FDCWD || r.path[0] != '/') return fn(r.path, f);
  PathBuf host;
  size_t hl = strlen(r.path);
  if (hl >= sizeof host) return fn(r.path, f);
  memcpy(host, r.path, hl + 1);
  Ahead a;
  a.open = fn.fn;
  a.flags = RTLD_LAZY | RTLD_LOCAL | (f & RTLD_DEEPBIND);
  Pre pre = preopen(host, 0, &a);
  auto release = [&] {
    for (int i = a.n - 1; i >= 0; i--) close(a.h[i]);
    a.n = 0;
  };
  if (pre == Pre::kFail) {
    release();
    // The loader's own words for a name the root's library path lacks:
    // "NAME: cannot open shared object file".
    if (void* again = fn(a.fail, a.flags)) close(again);
    return nullptr;
  }
  if (pre == Pre::kPlain) release();
  void* h = fn(host, f);
  // Once loaded, the library holds what it needs. After a failure they stay
  // (a dlclose would clear the error dlerror is to report).
  if (h) release();
  return h;
}
EXPORT void* dlmopen(Lmid_t lm, const char* p, int f) {
  ensure();
  using fn_t = void* (*)(Lmid_t, const char*, int);
  static auto fn = real<fn_t>("dlmopen");
  if (!fn.fn) return nullptr;
  if (!g_root.active || !p || !strchr(p, '/')) return fn(lm, p, f);
  Resolved r;
  if (resolve(AT_FDCWD, p, kFollow, &r)) return fn(lm, p, f);
  return fn(lm, r.path, f);
}
// ---- the loader's names of loaded objects are host paths ------------------
// dladdr and dl_iterate_phdr report where objects were loaded from: inside
// a root those are translated (the JVM finds its home through them). The
// translated names are kept for the life of the process, as the loader's own.
namespace {
struct Interned {
  const char* host;
  const char* inside;
};
Interned g_interned[256];
// The names themselves, without malloc: LeakSanitizer walks the objects
// from a thread that stopped all others (one may hold the allocator's
// lock), and a malloc there hung the program at its exit.
constinit char g_intern_names[64 * 1024] = {};
size_t g_intern_used = 0;
std::atomic<int> g_intern_lock{0};

const char* inside_name(const char* host) {
  if (!g_root.active || !host || host[0] != '/') return host;
  // Not for ever either: the holder may be a thread stopped by such a walk.
  for (int spins = 0; g_intern_lock.exchange(1, std::memory_order_acquire); spins++) {
    if (spins > 1000) return host;
    sched_yield();
  }
  const char* out = host;
  for (auto& e : g_interned) {
    if (e.host == host) {
      out = e.inside;
      break;
    }
    if (!e.host) {
      PathBuf buf;
      size_t l;
      if (to_inside(host, buf, sizeof buf) && (l = strlen(buf)) + 1 <= sizeof g_intern_names - g_intern_used) {
        char* at = g_intern_names + g_intern_used;
        memcpy(at, buf, l + 1);
        g_intern_used += l + 1;
        e.inside = at;
        e.host = host;
        out = at;
      }
      break;
    }
  }
  g_intern_lock.store(0, std::memory_order_release);
  return out;
}

CR_TLS int (*t_phdr_cb)(struct dl_phdr_info*, size_t, void*);
int phdr_thunk(struct dl_phdr_info* info, size_t size, void* data) {
  struct dl_phdr_info copy = *info;
  copy.dlpi_name = inside_name(info->dlpi_name);
  return t_phdr_cb(&copy, size < sizeof copy ? size : sizeof copy, data);
}
}  // namespace

EXPORT int dladdr(const void* addr, Dl_info* info) {
  ensure();
  using fn_t = int (*)(const void*, Dl_info*);
  static fn_t fn = cr::wrap::next<fn_t>("dladdr");
  if (!fn) return 0;
  int r = fn(addr, info);
  if (r) info->dli_fname = inside_name(info->dli_fname);
  return r;
}
EXPORT int dladdr1(const void* addr, Dl_info* info, void** extra, int flags) {
  ensure();
  using fn_t = int (*)(const void*, Dl_info*, void**, int);
  static fn_t fn = cr::wrap::next<fn_t>("dladdr1");
  if (!fn) return 0;
  int r = fn(addr, info, extra, flags);
  if (r) info->dli_fname = inside_name(info->dli_fname);
  return r;
}
EXPORT int dl_iterate_phdr(int (*cb)(struct dl_phdr_info*, size_t, void*), void* data) {
  using fn_t = int (*)(int (*)(struct dl_phdr_info*, size_t, void*), void*);
  static fn_t fn = cr::wrap::next<fn_t>("dl_iterate_phdr");
  // Another runtime's start-up (a sanitizer's, before ours ran) walks the
  // loaded objects: it gets them as they are, and our start-up waits.
  if (!cr::wrap::g_ready || !g_root.active) return fn(cb, data);
  auto saved = t_phdr_cb;
  t_phdr_cb = cb;
  int r = fn(phdr_thunk, data);
  t_phdr_cb = saved;
  return r;
}

