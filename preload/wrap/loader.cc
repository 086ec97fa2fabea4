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
// opened, those of its DT_NEEDED entries that its RUNPATH or RPATH (or, for
// an RPATH, its users') finds in the root are opened first, by their host
// paths, where the loader would have found them: the loader then takes
// them by name (their DT_SONAME), without a search. A library with only
// relative and $ORIGIN entries is left to the loader, which finds those
// from its host path as in a real root.
namespace {

constexpr int kMaxDeps = 64;
constexpr int kMaxDepth = 6;
constexpr size_t kListMax = 4096;

// One library's part of the walk, on the heap (a thread's stack may be
// small, and the walk goes down the dependencies).
struct Level {
  char search[kListMax];  // DT_RUNPATH, or without one DT_RPATH ("" for none)
  bool runpath;
  char names[4096];  // the DT_NEEDED names, one after another
  int count;
  PathBuf origin;               // the library's directory, an inside path
  PathBuf found;                // a dependency's host path
  PathBuf prog_dir;             // the program's directory, an inside path
  char chain_inside[kListMax];  // the RPATHs its dependencies inherit, $ORIGIN taken
  char chain_raw[kListMax];     // the same as the loader has them (what it would search on the host)
};

// pread at most n bytes from the host file fd at off: the count, or -1.
long read_at(int fd, void* buf, size_t n, uint64_t off) {
  return sys::raw(SYS_pread64, fd, (long)buf, (long)n, (long)off);
}

// The search path of a 64-bit ELF library of this machine (host path), and
// its DT_NEEDED names when `names` is set or its search path has an
// absolute entry. False for anything else, and for a search path too long
// to read whole (left to the loader).
[[gnu::noinline]] bool read_elf_deps(const char* host, Level* out, bool names) {
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
    if (tag) {
      long r = read_at((int)fd, out->search, sizeof out->search, stroff + at);
      if (r <= 0 || strnlen(out->search, (size_t)r) == (size_t)r) break;  // unreadable, or longer than kListMax
      out->runpath = tag == DT_RUNPATH;
    }
    ok = true;
    if (!names && !cr::has_absolute_entry(out->search)) break;
    // The names, one read for those that lie together from the first (the
    // linker puts them at the string table's start), one each for others.
    uint64_t first = UINT64_MAX;
    for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++)
      if (d[i].d_tag == DT_NEEDED && d[i].d_un.d_val < first) first = d[i].d_un.d_val;
    if (first == UINT64_MAX) break;
    char chunk[2048];
    long have = read_at((int)fd, chunk, sizeof chunk, stroff + first);
    size_t used = 0;
    for (size_t i = 0; i < n && d[i].d_tag != DT_NULL && out->count < kMaxDeps; i++) {
      if (d[i].d_tag != DT_NEEDED || (strsz && d[i].d_un.d_val >= strsz)) continue;
      char* to = out->names + used;
      size_t room = sizeof out->names - used;
      uint64_t rel = d[i].d_un.d_val - first;
      const char* end = have > 0 && rel < (uint64_t)have
                            ? static_cast<const char*>(memchr(chunk + rel, 0, (size_t)have - rel))
                            : nullptr;
      size_t nl;
      if (end) {
        nl = (size_t)(end - (chunk + rel));
        if (nl + 1 > room) break;
        memcpy(to, chunk + rel, nl + 1);
      } else {
        long l = read_at((int)fd, to, room > 256 ? 256 : room, stroff + d[i].d_un.d_val);
        if (l <= 0) continue;
        nl = strnlen(to, (size_t)l);
        if (nl == (size_t)l) continue;  // longer than read
      }
      if (nl == 0) continue;
      used += nl + 1;
      out->count++;
    }
  } while (false);
  sys::raw(SYS_close, fd);
  return ok;
}

// An entry of a search path as the loader expands $ORIGIN (`origin`, an
// inside path): into out. False for one with another of the loader's
// variables ($LIB, $PLATFORM), which is not followed here.
bool expand_entry(const char* entry, size_t el, const char* origin, char* out, size_t on) {
  size_t k = 0;
  auto put = [&](const char* s, size_t l) {
    if (k + l + 1 > on) return false;
    memcpy(out + k, s, l);
    k += l;
    out[k] = 0;
    return true;
  };
  out[0] = 0;
  size_t skip = el >= 7 && memcmp(entry, "$ORIGIN", 7) == 0 && (el == 7 || entry[7] == '/')       ? 7
                : el >= 9 && memcmp(entry, "${ORIGIN}", 9) == 0 && (el == 9 || entry[9] == '/') ? 9
                                                                                                 : 0;
  if (memchr(entry + skip, '$', el - skip)) return false;
  if (skip) return put(origin, strlen(origin)) && put(entry + skip, el - skip);
  return put(el ? entry : ".", el ? el : 1);  // an empty entry is the working directory
}

// dir + "/" + name into out (n bytes); false when it does not fit.
bool join(const char* dir, size_t dl, const char* name, char* out, size_t n) {
  size_t nl = strlen(name);
  if (dl + 1 + nl + 1 > n) return false;
  memcpy(out, dir, dl);
  out[dl] = '/';
  memcpy(out + dl + 1, name, nl + 1);
  return true;
}

// Whether the loader would take the host file at `host`: a regular file,
// 64-bit ELF of this machine (it passes over others).
bool loadable(const char* host) {
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)host, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct statx sx;
  Elf64_Ehdr eh;
  bool fits = sys::raw(SYS_statx, fd, (long)"", AT_EMPTY_PATH, STATX_TYPE, (long)&sx) == 0 && S_ISREG(sx.stx_mode) &&
              read_at((int)fd, &eh, sizeof eh, 0) == (long)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
              eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_machine == cr::elf::kMachine;
  sys::raw(SYS_close, fd);
  return fits;
}

// The host path of `name` in a directory (inside path) as the loader would
// take it there.
bool find_in_dir(const char* dir, const char* name, char* out, size_t on) {
  PathBuf inside;
  if (!join(dir, strlen(dir), name, inside, sizeof inside)) return false;
  Resolved r;
  if (resolve(AT_FDCWD, inside, kFollow, &r) || r.dirfd != AT_FDCWD || r.path[0] != '/') return false;
  size_t pl = strlen(r.path);
  if (pl + 1 > on || !loadable(r.path)) return false;
  memcpy(out, r.path, pl + 1);
  return true;
}

// Along a ':'-separated search path, entry by entry. *stop is set at an
// entry not followed here (the loader's to take from there on).
bool find_along(const char* list, const char* origin, const char* name, char* out, size_t on, bool* stop) {
  for (const char* e = list; e && *e && !*stop;) {
    const char* c = strchr(e, ':');
    size_t el = c ? (size_t)(c - e) : strlen(e);
    PathBuf dir;
    if (!expand_entry(e, el, origin, dir, sizeof dir)) {
      *stop = true;
      return false;
    }
    if (find_in_dir(dir, name, out, on)) return true;
    if (!c) break;
    e = c + 1;
  }
  return false;
}

// Whether the loader would find `name` on the host along a search path's
// absolute entries, taken as they are (a regular file of that name).
bool on_host_along(const char* list, const char* name) {
  for (const char* e = list; e && *e;) {
    const char* c = strchr(e, ':');
    size_t el = c ? (size_t)(c - e) : strlen(e);
    PathBuf p;
    struct statx sx;
    if (el && e[0] == '/' && !memchr(e, '$', el) && join(e, el, name, p, sizeof p) &&
        sys::raw(SYS_statx, AT_FDCWD, (long)p, 0, STATX_TYPE, (long)&sx) == 0 && S_ISREG(sx.stx_mode))
      return true;
    if (!c) break;
    e = c + 1;
  }
  return false;
}

// Appends list (':'-separated) to out, each entry through `keep`.
template <typename F>
void append_entries(char* out, size_t on, const char* list, F keep) {
  for (const char* e = list; e && *e;) {
    const char* c = strchr(e, ':');
    size_t el = c ? (size_t)(c - e) : strlen(e);
    PathBuf one;
    if (keep(e, el, one, sizeof one)) {
      size_t k = strlen(out), l = strlen(one);
      if (k + (k ? 1 : 0) + l + 1 <= on) {
        if (k) out[k++] = ':';
        memcpy(out + k, one, l + 1);
      }
    }
    if (!c) break;
    e = c + 1;
  }
}

using dlopen_fn = void* (*)(const char*, int);
using dlmopen_fn = void* (*)(Lmid_t, const char*, int);

// dlclose, found as dlopen is (before glibc 2.34 it is libdl's).
void close_handle(void* h) {
  static auto fn = real<int (*)(void*)>("dlclose");
  if (fn.fn) fn(h);
}

// The host path of `name` in the loader's library path (--library-path:
// the program's LD_LIBRARY_PATH and RUNPATH, then the root's directories,
// all host paths of the root), as the loader lists its search path for
// the program (its DT_RPATH and the built-in directories, which are not
// the root's, left out).
// With `caller` (a link map), its search path for a dlopen by bare name
// instead: its RPATH, the library path, its RUNPATH, every directory of it
// (one that is not a host path of the root is an inside path there: the
// caller's RUNPATH as it has it).
bool in_library_path(const char* name, char* out, size_t on, void* caller = nullptr) {
  static auto open_fn = real<dlopen_fn>("dlopen");
  static auto info = real<int (*)(void*, int, void*)>("dlinfo");
  if (!open_fn.fn || !info.fn) return false;
  void* self = caller ? caller : open_fn(nullptr, RTLD_LAZY);
  if (!self) return false;
  bool there = false;
  Dl_serinfo size;
  if (info(self, RTLD_DI_SERINFOSIZE, &size) == 0 && size.dls_size < (1u << 20)) {
    auto* si = static_cast<Dl_serinfo*>(malloc(size.dls_size));
    if (si) {
      *si = size;
      if (info(self, RTLD_DI_SERINFOSIZE, si) == 0 && info(self, RTLD_DI_SERINFO, si) == 0)
        for (unsigned i = 0; i < si->dls_cnt && !there; i++) {
          const char* dir = si->dls_serpath[i].dls_name;
          PathBuf in_root;
          if (!cr::wrap::root_host_path(dir)) {
            Resolved r;
            if (!caller || dir[0] != '/' || resolve(AT_FDCWD, dir, kFollow, &r) || r.dirfd != AT_FDCWD ||
                r.path[0] != '/' || strlen(r.path) + 1 > sizeof in_root)
              continue;
            memcpy(in_root, r.path, strlen(r.path) + 1);
            dir = in_root;
          }
          PathBuf p;
          if (!join(dir, strlen(dir), name, p, sizeof p) || strlen(p) + 1 > on) continue;
          there = loadable(p);
          if (there) memcpy(out, p, strlen(p) + 1);
        }
      free(si);
    }
  }
  if (!caller) close_handle(self);
  return there;
}

// The link map of the object whose code is at `addr` (dlopen's caller).
void* caller_map(const void* addr) {
  static auto fn = cr::wrap::next<int (*)(const void*, Dl_info*, void**, int)>("dladdr1");
  Dl_info di;
  void* lm = nullptr;
  if (!fn || !fn(addr, &di, &lm, RTLD_DL_LINKMAP)) return nullptr;
  return lm;
}

// The message dlerror() gives for a dlopen that failed here, as the
// loader's own (per thread, until dlerror is called or another dlopen or
// dlmopen made).
CR_TLS char* t_refused;
CR_TLS char* t_refused_shown;

void set_message(const char* a, const char* b = "") {
  free(t_refused);
  t_refused = nullptr;
  size_t al = strlen(a), bl = strlen(b);
  if (char* m = static_cast<char*>(malloc(al + bl + 1))) {
    memcpy(m, a, al);
    memcpy(m + al, b, bl + 1);
    t_refused = m;
  }
}

// The loader's message for the open that just failed, kept before other
// calls (the handles' dlclose) clear it.
void keep_loader_message() {
  static auto fn = real<char* (*)(void)>("dlerror");
  const char* e = fn.fn ? fn() : nullptr;
  set_message(e ? e : "dlopen failed");
}

struct Preloaded {
  void* h[kMaxDeps];
  int n = 0;
  bool failed = false;  // not to be opened: the message is set
};

void* open_in(Lmid_t lm, const char* p, int f) {
  static auto one = real<dlopen_fn>("dlopen");
  static auto ns = real<dlmopen_fn>("dlmopen");
  if (lm == LM_ID_BASE) return one.fn ? one(p, f) : nullptr;
  return ns.fn ? ns(lm, p, f) : nullptr;
}

// Opens (in lm, with the binding of `mode`) the dependencies of the library
// at `host` that the loader would find in the root where it searches on
// the host: along its absolute RUNPATH, or its RPATH and those it inherits
// from its users (`chain_inside`, `chain_raw`: see Level), theirs first.
void open_runpath_deps(Lmid_t lm, const char* host, const char* chain_inside, const char* chain_raw, int mode,
                       int depth, Preloaded* done) {
  if (depth > kMaxDepth || done->failed) return;
  auto* L = static_cast<Level*>(malloc(sizeof(Level)));
  if (!L) return;
  bool inherits = cr::has_absolute_entry(chain_raw);
  if (!read_elf_deps(host, L, inherits) || !L->count || !to_inside(host, L->origin, sizeof L->origin)) {
    free(L);
    return;
  }
  if (char* slash = strrchr(L->origin, '/')) *(slash == L->origin ? slash + 1 : slash) = 0;
  // An object with a RUNPATH searches it alone (after LD_LIBRARY_PATH), and
  // gives its dependencies no RPATH of its own: those of its users go on.
  // An RPATH comes first, then its users'.
  L->chain_inside[0] = L->chain_raw[0] = 0;
  if (!L->runpath) {
    const char* origin = L->origin;
    append_entries(L->chain_inside, sizeof L->chain_inside, L->search,
                   [&](const char* e, size_t el, char* o, size_t on) { return expand_entry(e, el, origin, o, on); });
    append_entries(L->chain_raw, sizeof L->chain_raw, L->search, [](const char* e, size_t el, char* o, size_t on) {
      if (el + 1 > on) return false;
      memcpy(o, e, el);
      o[el] = 0;
      return true;
    });
  }
  auto copy = [](const char* e, size_t el, char* o, size_t on) {
    if (el + 1 > on) return false;
    memcpy(o, e, el);
    o[el] = 0;
    return true;
  };
  append_entries(L->chain_inside, sizeof L->chain_inside, chain_inside, copy);
  append_entries(L->chain_raw, sizeof L->chain_raw, chain_raw, copy);
  const char* list = L->runpath ? L->search : L->chain_inside;
  const char* raw = L->runpath ? L->search : L->chain_raw;
  // $ORIGIN in LD_LIBRARY_PATH is the program's directory.
  char* prog_dir = L->prog_dir;
  size_t el = strnlen(g_root.exe, sizeof g_root.exe - 1);
  memcpy(prog_dir, el ? g_root.exe : "/", el ? el : 1);
  prog_dir[el ? el : 1] = 0;
  if (char* slash = strrchr(prog_dir, '/')) *(slash == prog_dir ? slash + 1 : slash) = 0;
  const char* name = L->names;
  for (int i = 0; i < L->count && done->n < kMaxDeps && !done->failed; i++, name += strlen(name) + 1) {
    if (strchr(name, '/')) continue;
    // Loaded already, under that name or its DT_SONAME: the loader takes
    // it. (Held until the library is open: another thread's dlclose must
    // not take it away meanwhile.)
    if (void* h = open_in(lm, name, RTLD_LAZY | RTLD_NOLOAD)) {
      done->h[done->n++] = h;
      continue;
    }
    bool stop = false;
    // A RUNPATH comes after the program's LD_LIBRARY_PATH (which the
    // loader has first in its library path): found there, it is the
    // loader's to find.
    const char* ldp = L->runpath ? getenv("LD_LIBRARY_PATH") : nullptr;
    if (ldp && *ldp && find_along(ldp, prog_dir, name, L->found, sizeof L->found, &stop)) continue;
    stop = false;
    if (!find_along(list, L->origin, name, L->found, sizeof L->found, &stop)) {
      // Nowhere in the root along it: where the loader would take a host
      // file of that name instead, the root's library path has it (where
      // the loader looks first for a RUNPATH's, after an RPATH's), or the
      // library is not opened, as in a real root.
      if (stop || !on_host_along(raw, name)) continue;
      if (!in_library_path(name, L->found, sizeof L->found)) {
        set_message(name, ": cannot open shared object file: No such file or directory");
        done->failed = true;
        break;
      }
      if (L->runpath) continue;
    }
    open_runpath_deps(lm, L->found, L->runpath ? chain_inside : L->chain_inside, L->runpath ? chain_raw : L->chain_raw,
                      mode, depth + 1, done);
    if (done->failed || done->n >= kMaxDeps) break;
    // With the caller's binding: RTLD_NOW finds an undefined symbol now,
    // as when the loader loads it as a dependency.
    void* h = open_in(lm, L->found, mode | RTLD_LOCAL);
    if (!h) {
      keep_loader_message();
      done->failed = true;
      break;
    }
    done->h[done->n++] = h;
  }
  free(L);
}

// The loader now holds them as dependencies of what was opened (or they
// go again, when it failed).
void close_all(Preloaded* done) {
  for (int i = done->n - 1; i >= 0; i--) close_handle(done->h[i]);
}

// dlopen or dlmopen of the library at `host` (by the name `as`: its host
// path, or the bare name the loader finds it by), its RUNPATH's
// dependencies first.
void* open_with_deps(Lmid_t lm, const char* host, const char* as, int f) {
  Preloaded done;
  int mode = ((f & RTLD_NOW) ? RTLD_NOW : RTLD_LAZY) | (f & RTLD_DEEPBIND);
  open_runpath_deps(lm, host, "", "", mode, 0, &done);
  void* h = done.failed ? nullptr : open_in(lm, as, f);
  if (!h && !done.failed && done.n) keep_loader_message();
  close_all(&done);
  return h;
}

// A dlopen of `p` that failed with -e before the loader was asked: null,
// with the loader's words for it.
void* not_opened(const char* p, int e) {
  set_message(p, e == -ENOENT    ? ": cannot open shared object file: No such file or directory"
                 : e == -EACCES  ? ": cannot open shared object file: Permission denied"
                 : e == -ELOOP   ? ": cannot open shared object file: Too many levels of symbolic links"
                 : e == -ENOTDIR ? ": cannot open shared object file: Not a directory"
                                 : ": cannot open shared object file");
  return nullptr;
}

// A dlopen starts anew: the message of one that failed here before is not its.
void forget_message() {
  if (!t_refused) return;
  free(t_refused);
  t_refused = nullptr;
}

}  // namespace

namespace {
// The loader's message names the files it opened, which inside a root are
// host paths ("ROOT/etc/passwd: invalid ELF header", "ROOT/usr/lib/x.so:
// undefined symbol: f", "(required by ROOT/usr/bin/p)"): each such name,
// where a name starts (the message's start, after a space, a parenthesis
// or a quote) and up to a ':', ')', quote or space, is given as the
// program knows it. A copy (malloc'ed), or nullptr where nothing changed.
char* inside_message(const char* m) {
  if (!m || !g_root.active || !strchr(m, '/')) return nullptr;
  size_t ml = strlen(m), cap = ml + 1 + kPathMax, o = 0;
  char* out = static_cast<char*>(malloc(cap));
  if (!out) return nullptr;
  bool changed = false;
  for (size_t i = 0; i < ml;) {
    bool starts = m[i] == '/' && (i == 0 || strchr(" (`'\"", m[i - 1]));
    size_t e = i + 1;
    if (starts) e = i + strcspn(m + i, ":)`'\" \t\n");
    PathBuf host, in;
    size_t tl = e - i;
    const char* piece = m + i;
    if (starts && tl < sizeof host) {
      memcpy(host, m + i, tl);
      host[tl] = 0;
      if (to_inside(host, in, sizeof in) && strcmp(in, host) != 0) {
        piece = in;
        tl = strlen(in);
        changed = true;
      }
    }
    if (o + tl + (ml - e) + 1 > cap) {
      free(out);
      return nullptr;
    }
    memcpy(out + o, piece, tl);
    o += tl;
    i = e;
  }
  out[o] = 0;
  if (!changed) {
    free(out);
    return nullptr;
  }
  return out;
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
  char* m = fn.fn ? fn() : nullptr;
  if (char* in = inside_message(m)) return t_refused_shown = in;
  return m;
}

EXPORT void* dlopen(const char* p, int f) {
  ensure();
  static auto fn = real<dlopen_fn>("dlopen");
  if (!fn.fn) return nullptr;  // before glibc 2.34, in libdl, which whoever calls it has loaded
  forget_message();
  // Outside a root the loader finds a bare name as it would: a tail call,
  // so that it sees the program's code as the caller (whose RUNPATH and
  // $ORIGIN it searches).
  if (!g_root.active || !p) return fn.fn(p, f);
  // A bare name: looked for along the caller's search path (its RPATH,
  // the library path, its RUNPATH: the directories the loader would
  // search, in the root), and opened by the host path found, its RUNPATH's
  // dependencies first. A path is an inside path.
  if (!strchr(p, '/')) {
    PathBuf found;
    if (f & RTLD_NOLOAD) return fn(p, f);
    // Loaded already (by that name or its DT_SONAME): the loader's.
    if (void* h = fn(p, RTLD_LAZY | RTLD_NOLOAD)) {
      void* again = fn(p, f);
      close_handle(h);
      return again;
    }
    void* caller = caller_map(__builtin_return_address(0));
    if (!in_library_path(p, found, sizeof found, caller)) return fn(p, f);
    return open_with_deps(LM_ID_BASE, found, found, f);
  }
  Resolved r;
  // A path that does not resolve in the root (a loop, no permission) is
  // not opened: the loader would take it as a host path.
  if (int e = resolve(AT_FDCWD, p, kFollow, &r)) return not_opened(p, e);
  if (r.dirfd != AT_FDCWD || r.path[0] != '/' || (f & RTLD_NOLOAD)) return fn(r.path, f);
  return open_with_deps(LM_ID_BASE, r.path, r.path, f);
}
EXPORT void* dlmopen(Lmid_t lm, const char* p, int f) {
  ensure();
  static auto fn = real<dlmopen_fn>("dlmopen");
  if (!fn.fn) return nullptr;
  forget_message();
  if (!g_root.active || !p || !strchr(p, '/')) return fn(lm, p, f);
  Resolved r;
  if (int e = resolve(AT_FDCWD, p, kFollow, &r)) return not_opened(p, e);
  // A new namespace has no number until it is made: its library's
  // dependencies are the loader's to find.
  if (lm == LM_ID_NEWLM || r.dirfd != AT_FDCWD || r.path[0] != '/' || (f & RTLD_NOLOAD)) return fn(lm, r.path, f);
  return open_with_deps(lm, r.path, r.path, f);
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

