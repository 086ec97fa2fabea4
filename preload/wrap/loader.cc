// Hand-written doors of the dynamic loader: dlopen takes inside paths, and
// the names of loaded objects it reports are inside paths.
#include <link.h>
#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>

#include "../core/elfmap.h"
#include "../core/path.h"
#include "doors.h"

// ---- a dlopen'ed library's own RUNPATH ----------------------------------
// The loader searches a library's DT_RUNPATH or DT_RPATH as host paths. For
// a program with an absolute RUNPATH of its own, the audit module makes a
// library's the root's (audit.cc); for the others, and with a loader older
// than 2.35 (no module), a library dlopen'ed by path would have its
// dependencies searched for on the host ("cannot open shared object file",
// or the host's file of that name loaded). So before such a library is
// opened, those of its DT_NEEDED entries that its RUNPATH or RPATH finds in
// the root are opened first, by their host paths, as the loader would have
// found them: the loader then takes them by name (their DT_SONAME), without
// a search. A library with only relative and $ORIGIN entries is left to the
// loader, which finds those from its host path as in a real root.
namespace {

constexpr int kMaxDeps = 32;
constexpr int kMaxDepth = 6;

struct ElfDeps {
  char search[1024];  // DT_RUNPATH, or without one DT_RPATH ("" for none)
  bool runpath;
  char names[2048];  // the DT_NEEDED names, one after another
  int count;
};

// pread at most n bytes from the host file fd at off: the count, or -1.
long read_at(int fd, void* buf, size_t n, uint64_t off) {
  return sys::raw(SYS_pread64, fd, (long)buf, (long)n, (long)off);
}

// The DT_NEEDED names and search path of a 64-bit ELF library of this
// machine (host path). False for anything else.
bool read_elf_deps(const char* host, ElfDeps* out) {
  out->search[0] = 0;
  out->runpath = false;
  out->count = 0;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)host, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  bool ok = false;
  Elf64_Ehdr eh;
  Elf64_Phdr ph[32];
  Elf64_Dyn d[256];
  do {
    if (read_at((int)fd, &eh, sizeof eh, 0) != (long)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_machine != cr::elf::kMachine ||
        eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 32)
      break;
    long want = (long)(eh.e_phnum * sizeof(Elf64_Phdr));
    if (read_at((int)fd, ph, (size_t)want, eh.e_phoff) != want) break;
    const Elf64_Phdr* dyn = nullptr;
    for (unsigned i = 0; i < eh.e_phnum; i++)
      if (ph[i].p_type == PT_DYNAMIC) dyn = &ph[i];
    if (!dyn) break;
    long got = read_at((int)fd, d, dyn->p_filesz < sizeof d ? dyn->p_filesz : sizeof d, dyn->p_offset);
    if (got <= 0) break;
    size_t n = (size_t)got / sizeof(Elf64_Dyn);
    uint64_t strtab = 0, strsz = 0;
    int64_t tag = 0;
    uint64_t at = 0;
    for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++) {
      if (d[i].d_tag == DT_STRTAB) strtab = d[i].d_un.d_ptr;
      if (d[i].d_tag == DT_STRSZ) strsz = d[i].d_un.d_val;
      // RUNPATH wins over RPATH, as the loader takes them.
      if (d[i].d_tag == DT_RUNPATH || (d[i].d_tag == DT_RPATH && tag != DT_RUNPATH)) tag = d[i].d_tag, at = d[i].d_un.d_val;
    }
    uint64_t stroff = 0;
    bool mapped = false;
    for (unsigned i = 0; i < eh.e_phnum && !mapped; i++)
      if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr && strtab < ph[i].p_vaddr + ph[i].p_filesz)
        stroff = strtab - ph[i].p_vaddr + ph[i].p_offset, mapped = true;
    if (!mapped) break;
    ok = true;
    if (!tag) break;  // no search path: nothing to do
    long r = read_at((int)fd, out->search, sizeof out->search - 1, stroff + at);
    out->search[r > 0 ? strnlen(out->search, (size_t)r) : 0] = 0;
    out->runpath = tag == DT_RUNPATH;
    if (!cr::has_absolute_entry(out->search)) break;
    size_t used = 0;
    for (size_t i = 0; i < n && d[i].d_tag != DT_NULL && out->count < kMaxDeps; i++) {
      if (d[i].d_tag != DT_NEEDED || (strsz && d[i].d_un.d_val >= strsz)) continue;
      size_t room = sizeof out->names - used;
      if (room < 2) break;
      long l = read_at((int)fd, out->names + used, room > 256 ? 256 : room, stroff + d[i].d_un.d_val);
      if (l <= 0) continue;
      size_t nl = strnlen(out->names + used, (size_t)l);
      if (nl == (size_t)l || nl == 0) continue;  // longer than read, or empty
      used += nl + 1;
      out->count++;
    }
  } while (false);
  sys::raw(SYS_close, fd);
  return ok;
}

// The host path of `name` in the directory `entry` of a search path, as the
// loader would take it there (a 64-bit ELF file of this machine: the loader
// passes over others); `origin` is the library's directory (an inside
// path). False where it is not there, and *stop for an entry the loader
// expands in ways not followed here ($LIB, $PLATFORM).
bool find_in_entry(const char* entry, size_t el, const char* origin, const char* name, char* out, size_t on,
                   bool* stop) {
  PathBuf inside;
  size_t k = 0;
  auto put = [&](const char* s, size_t l) {
    if (k + l + 1 > sizeof inside) return false;
    memcpy(inside + k, s, l);
    k += l;
    inside[k] = 0;
    return true;
  };
  if (el >= 7 && memcmp(entry, "$ORIGIN", 7) == 0 && (el == 7 || entry[7] == '/')) {
    if (!put(origin, strlen(origin)) || !put(entry + 7, el - 7)) return false;
  } else if (el >= 9 && memcmp(entry, "${ORIGIN}", 9) == 0 && (el == 9 || entry[9] == '/')) {
    if (!put(origin, strlen(origin)) || !put(entry + 9, el - 9)) return false;
  } else if (memchr(entry, '$', el)) {
    *stop = true;
    return false;
  } else if (!put(el ? entry : ".", el ? el : 1)) {
    return false;
  }
  if (!put("/", 1) || !put(name, strlen(name))) return false;
  Resolved r;
  if (resolve(AT_FDCWD, inside, kFollow, &r) || r.dirfd != AT_FDCWD || r.path[0] != '/') return false;
  struct statx sx;
  if (sys::raw(SYS_statx, AT_FDCWD, (long)r.path, 0, STATX_TYPE, (long)&sx) || !S_ISREG(sx.stx_mode)) return false;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)r.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  Elf64_Ehdr eh;
  bool fits = read_at((int)fd, &eh, sizeof eh, 0) == (long)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
              eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_machine == cr::elf::kMachine;
  sys::raw(SYS_close, fd);
  size_t pl = strlen(r.path);
  if (!fits || pl + 1 > on) return false;
  memcpy(out, r.path, pl + 1);
  return true;
}

// Along a ':'-separated search path (LD_LIBRARY_PATH, a RUNPATH).
bool find_along(const char* list, const char* origin, const char* name, char* out, size_t on, bool* stop) {
  for (const char* e = list; e && !*stop;) {
    const char* c = strchr(e, ':');
    size_t el = c ? (size_t)(c - e) : strlen(e);
    if (find_in_entry(e, el, origin, name, out, on, stop)) return true;
    if (!c) break;
    e = c + 1;
  }
  return false;
}

using dlopen_fn = void* (*)(const char*, int);
using dlmopen_fn = void* (*)(Lmid_t, const char*, int);

// dlclose, found as dlopen is (before glibc 2.34 it is libdl's).
void close_handle(void* h) {
  static auto fn = real<int (*)(void*)>("dlclose");
  if (fn.fn) fn(h);
}

struct Preloaded {
  void* h[kMaxDeps];
  int n = 0;
  bool refused = false;  // a dependency is the host's only: not opened
};

// Whether the loader would find `name` on the host along a search path's
// absolute entries, taken as they are.
bool on_host_along(const char* list, const char* name) {
  for (const char* e = list; e && *e;) {
    const char* c = strchr(e, ':');
    size_t el = c ? (size_t)(c - e) : strlen(e);
    PathBuf p;
    size_t nl = strlen(name);
    struct statx sx;
    if (el && e[0] == '/' && !memchr(e, '$', el) && el + 1 + nl + 1 <= sizeof p) {
      memcpy(p, e, el);
      p[el] = '/';
      memcpy(p + el + 1, name, nl + 1);
      if (sys::raw(SYS_statx, AT_FDCWD, (long)p, 0, STATX_TYPE, (long)&sx) == 0 && !S_ISDIR(sx.stx_mode)) return true;
    }
    if (!c) break;
    e = c + 1;
  }
  return false;
}

// Whether `name` is in the loader's library path (--library-path: the
// program's LD_LIBRARY_PATH and RUNPATH, then the root's directories),
// which it searches before a library's RUNPATH: as the loader reports it.
bool in_library_path(const char* name) {
  static auto open_fn = real<dlopen_fn>("dlopen");
  static auto info = real<int (*)(void*, int, void*)>("dlinfo");
  if (!open_fn.fn || !info.fn) return false;
  void* self = open_fn(nullptr, RTLD_LAZY);
  if (!self) return false;
  bool there = false;
  Dl_serinfo size;
  if (info(self, RTLD_DI_SERINFOSIZE, &size) == 0 && size.dls_size < (1u << 20)) {
    auto* si = static_cast<Dl_serinfo*>(malloc(size.dls_size));
    if (si) {
      *si = size;
      if (info(self, RTLD_DI_SERINFOSIZE, si) == 0 && info(self, RTLD_DI_SERINFO, si) == 0)
        for (unsigned i = 0; i < si->dls_cnt && !there; i++) {
          if (!(si->dls_serpath[i].dls_flags & LA_SER_LIBPATH)) continue;
          PathBuf p;
          const char* dir = si->dls_serpath[i].dls_name;
          size_t dl = strlen(dir), nl = strlen(name);
          struct statx sx;
          if (dl + 1 + nl + 1 > sizeof p) continue;
          memcpy(p, dir, dl);
          p[dl] = '/';
          memcpy(p + dl + 1, name, nl + 1);
          there = sys::raw(SYS_statx, AT_FDCWD, (long)p, 0, STATX_TYPE, (long)&sx) == 0 && S_ISREG(sx.stx_mode);
        }
      free(si);
    }
  }
  close_handle(self);
  return there;
}

// The message dlerror() gives for a library refused here, as the loader's
// own for a dependency it cannot find (per thread, until dlerror is
// called or another dlopen made).
CR_TLS char* t_refused;
CR_TLS char* t_refused_shown;

void refuse(const char* name) {
  free(t_refused);
  t_refused = nullptr;
  static const char kTail[] = ": cannot open shared object file: No such file or directory";
  size_t nl = strlen(name);
  if (char* m = static_cast<char*>(malloc(nl + sizeof kTail))) {
    memcpy(m, name, nl);
    memcpy(m + nl, kTail, sizeof kTail);
    t_refused = m;
  }
}


void* open_in(Lmid_t lm, const char* p, int f) {
  static auto one = real<dlopen_fn>("dlopen");
  static auto ns = real<dlmopen_fn>("dlmopen");
  if (lm == LM_ID_BASE) return one.fn ? one(p, f) : nullptr;
  return ns.fn ? ns(lm, p, f) : nullptr;
}

// Opens (in lm) the dependencies of the library at `host` that its own
// absolute RUNPATH or RPATH finds in the root, theirs first.
void open_runpath_deps(Lmid_t lm, const char* host, int depth, Preloaded* done) {
  if (depth > kMaxDepth || done->n >= kMaxDeps) return;
  ElfDeps deps;
  if (!read_elf_deps(host, &deps) || !deps.count) return;
  PathBuf origin;
  if (!to_inside(host, origin, sizeof origin)) return;
  if (char* slash = strrchr(origin, '/')) *(slash == origin ? slash + 1 : slash) = 0;
  const char* name = deps.names;
  for (int i = 0; i < deps.count && done->n < kMaxDeps; i++, name += strlen(name) + 1) {
    if (strchr(name, '/')) continue;
    // Loaded already, under that name or DT_SONAME: the loader takes it.
    if (void* h = open_in(lm, name, RTLD_LAZY | RTLD_NOLOAD)) {
      close_handle(h);
      continue;
    }
    // A RUNPATH comes after LD_LIBRARY_PATH (which the loader searches
    // first, as the planner gave it); an RPATH before.
    PathBuf found;
    bool stop = false;
    if (deps.runpath && find_along(getenv("LD_LIBRARY_PATH"), origin, name, found, sizeof found, &stop)) continue;
    stop = false;
    if (!find_along(deps.search, origin, name, found, sizeof found, &stop)) {
      // Nowhere in the root along its RUNPATH: where the loader would go
      // on to a host file of that name (not in its library path, which it
      // searches first), the library is not opened, as in a real root.
      if (!stop && on_host_along(deps.search, name) && !in_library_path(name)) {
        refuse(name);
        done->refused = true;
        return;
      }
      continue;
    }
    open_runpath_deps(lm, found, depth + 1, done);
    if (done->n >= kMaxDeps || done->refused) return;
    // Bound lazily: a library that leans on its user's other dependencies
    // for a symbol is bound once its user is loaded (the loader adds the
    // user's scope to it), as when the loader had found it itself.
    if (void* h = open_in(lm, found, RTLD_LAZY | RTLD_LOCAL)) done->h[done->n++] = h;
  }
}

// The loader now holds them as dependencies of what was opened (or they
// go again, when it failed).
void close_all(Preloaded* done) {
  for (int i = done->n - 1; i >= 0; i--) close_handle(done->h[i]);
}

// dlopen or dlmopen of the library at `host`, its RUNPATH's dependencies
// first.
void* open_with_deps(Lmid_t lm, const char* host, int f) {
  Preloaded done;
  open_runpath_deps(lm, host, 0, &done);
  void* h = done.refused ? nullptr : open_in(lm, host, f);
  close_all(&done);
  return h;
}

// A dlopen starts anew: the message of one refused before is not its.
void forget_refused() {
  if (!t_refused) return;
  free(t_refused);
  t_refused = nullptr;
}

}  // namespace

EXPORT char* dlerror(void) {
  using fn_t = char* (*)(void);
  static auto fn = real<fn_t>("dlerror");
  free(t_refused_shown);
  t_refused_shown = nullptr;
  if (t_refused) {
    // The loader's own message, if any, is older: it goes.
    if (fn.fn) fn();
    t_refused_shown = t_refused;
    t_refused = nullptr;
    return t_refused_shown;
  }
  return fn.fn ? fn() : nullptr;
}

EXPORT void* dlopen(const char* p, int f) {
  ensure();
  static auto fn = real<dlopen_fn>("dlopen");
  if (!fn.fn) return nullptr;  // before glibc 2.34, in libdl, which whoever calls it has loaded
  forget_refused();
  // A bare name is found by the loader in the root's library path; a path
  // is an inside path.
  if (!g_root.active || !p || !strchr(p, '/')) return fn(p, f);
  Resolved r;
  if (resolve(AT_FDCWD, p, kFollow, &r)) return fn(p, f);
  if (r.dirfd != AT_FDCWD || r.path[0] != '/' || (f & RTLD_NOLOAD)) return fn(r.path, f);
  return open_with_deps(LM_ID_BASE, r.path, f);
}
EXPORT void* dlmopen(Lmid_t lm, const char* p, int f) {
  ensure();
  static auto fn = real<dlmopen_fn>("dlmopen");
  if (!fn.fn) return nullptr;
  forget_refused();
  if (!g_root.active || !p || !strchr(p, '/')) return fn(lm, p, f);
  Resolved r;
  if (resolve(AT_FDCWD, p, kFollow, &r)) return fn(lm, p, f);
  // A new namespace has no number until it is made: its library's
  // dependencies are the loader's to find.
  if (lm == LM_ID_NEWLM || r.dirfd != AT_FDCWD || r.path[0] != '/' || (f & RTLD_NOLOAD)) return fn(lm, r.path, f);
  return open_with_deps(lm, r.path, f);
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

