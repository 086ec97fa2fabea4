// cowroot-audit.so: the root's loader's audit module (rtld-audit(7)),
// handed to it with --audit by the exec planner (core/exec.cc).
//
// The loader runs inside the filter's window, where its opens pass as they
// are: every directory it searches must be a host path. The planner gives
// it host paths for the search path, the program's own RUNPATH and the
// preload list, but a *library's* RUNPATH or RPATH (sudo's plugins and
// libraries, vendor trees under /opt) is read from the library only once
// it is mapped. This module sees each object as it is mapped, before the
// loader looks for its dependencies (la_objopen), and where its RUNPATH or
// RPATH names absolute directories it points the object's DT_RUNPATH /
// DT_RPATH entry at a copy of the string whose absolute directories are
// the host paths they have in the root ($ORIGIN and other entries stay as
// they are). The loader then searches (and remembers the existence of)
// the root's directories, as in a real chroot. An object without such an
// entry costs a look at its dynamic section; nothing else is done.
//
// No libc (the audit namespace would load a second one): the only system
// calls are a read of /proc/self/environ (the root, its chroot and binds:
// COWROOT_ROOT, COWROOT_CHROOT, COWROOT_BINDS) into memory mapped then,
// and the write of the entry through /proc/self/mem, all only for an
// object that has such an entry. The planner gives the module only to a
// program whose own RUNPATH or RPATH has one, so the environment is read
// at the program's own la_objopen, before its code could overwrite the
// area (a process title, as postgres and nginx set theirs); a program
// that calls chroot() itself is served for the root it was started in. Glibc before 2.35 (LAV_CURRENT 1) sends every lazily bound call
// through its profiling trampoline as soon as any audit module is loaded:
// there the module declines (la_version returns 0) and is unloaded.
#include <elf.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#include "../core/confine.h"
#include "../core/direct.h"
#include "../core/path.h"

extern "C" {
__attribute__((visibility("hidden"))) void* memcpy(void* d, const void* s, size_t n) {
  auto* a = static_cast<char*>(d);
  auto* b = static_cast<const char*>(s);
  while (n--) *a++ = *b++;
  return d;
}
__attribute__((visibility("hidden"))) void* memset(void* d, int c, size_t n) {
  auto* a = static_cast<char*>(d);
  while (n--) *a++ = (char)c;
  return d;
}
}

namespace {

// The module's system calls. In a confined process they are made through
// the gate (confine.h: the stub maps it as its first page), which the
// filter lets through: before the library starts, the stub's handler
// refuses any trapped call that is not the loader's, and this module is
// not the loader. Elsewhere (an unconfined session), made directly.
int g_via_gate = -1;
long sc(long n, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0, long f = 0) {
  if (g_via_gate < 0) g_via_gate = cr::direct::sc(cr::confine::kProbeNr) == -cr::confine::kProbeErrno;
  if (!g_via_gate) return cr::direct::sc(n, a, b, c, d, e, f);
  long ret;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  register long r9 asm("r9") = f;
  long gate = (long)cr::confine::kGate;
  // The call's return address must not land in the caller's red zone.
  asm volatile("lea -128(%%rsp), %%rsp\n\tcall *%[g]\n\tlea 128(%%rsp), %%rsp"
               : "=a"(ret)
               : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9), [g] "r"(gate)
               : "rcx", "r11", "memory");
  return ret;
}

size_t len(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

bool same(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

constexpr size_t kPath = 4096;
constexpr int kMaxBinds = 32;

struct Bind {
  char inside[512];  // as the library's kBindLen (core/resolve.h)
  size_t il;
  char host[512];
  size_t hl;
};

// What the new program was started with (its environment at exec).
struct Root {
  char top[kPath];
  size_t tl;
  char croot[kPath];
  size_t cl;
  Bind binds[kMaxBinds];
  int nbinds;
};

// Everything the module keeps, mapped the first time an object needs it:
// the loader maps no zero-filled pages for it at every exec (the module's
// only writable page is its dynamic section, and this pointer).
struct Mem {
  Root root;
  char binds_env[kMaxBinds * 1026 + 64];  // every bind at its longest, INSIDE=HOST:
  size_t binds_len;
  bool binds_seen;
  char chunk[16384];
  char entry[kMaxBinds * 1026 + 64 + 16];  // the longest one of ours: COWROOT_BINDS=...
  char candidate[kPath];  // la_objsearch's answer, read by the loader before the next call
  // The strings made here: kept for the life of the process (the loader
  // reads them whenever it searches from the object, dlopen included).
  char arena[64 * 1024];
  size_t used;
};
Mem* g_m;
int g_state;  // 0 not read yet, 1 a root, -1 none (or unreadable)
Root* g_root;

void add_bind(const char* in, size_t il, const char* host, size_t hl) {
  while (il > 1 && in[il - 1] == '/') il--;
  while (hl > 1 && host[hl - 1] == '/') hl--;
  if (g_root->nbinds >= kMaxBinds || il == 0 || hl == 0 || il >= sizeof g_root->binds[0].inside ||
      hl >= sizeof g_root->binds[0].host)
    return;
  for (int i = 0; i < g_root->nbinds; i++)
    if (g_root->binds[i].il == il && same(g_root->binds[i].inside, in, il)) return;  // the first one wins
  Bind& b = g_root->binds[g_root->nbinds++];
  memcpy(b.inside, in, il);
  b.il = il;
  memcpy(b.host, host, hl);
  b.hl = hl;
}

bool set_path(char* out, size_t* ol, const char* v, size_t vl) {
  while (vl > 1 && v[vl - 1] == '/') vl--;
  if (vl == 0 || v[0] != '/' || vl >= kPath) return false;
  memcpy(out, v, vl);
  out[vl] = 0;
  *ol = vl;
  return true;
}

// One NAME=VALUE entry of the environment.
void take(const char* e, size_t n) {
  auto is = [&](const char* name) {
    size_t l = len(name);
    return n > l && same(e, name, l) && e[l] == '=' ? l + 1 : 0;
  };
  // The first of each name, as getenv takes it; a root of "/" is none, as
  // for the library.
  if (size_t k = is("COWROOT_ROOT")) {
    if (g_state != 1 && set_path(g_root->top, &g_root->tl, e + k, n - k) && g_root->tl > 1) g_state = 1;
  } else if (size_t k2 = is("COWROOT_CHROOT")) {
    if (g_root->cl == 0) set_path(g_root->croot, &g_root->cl, e + k2, n - k2);
  } else if (size_t k3 = is("COWROOT_BINDS")) {
    if (!g_m->binds_seen && n - k3 < sizeof g_m->binds_env) {
      memcpy(g_m->binds_env, e + k3, n - k3);
      g_m->binds_len = n - k3;
    }
    g_m->binds_seen = true;
  }
}

void read_root() {
  g_state = -1;
  long m = sc(SYS_mmap, 0, sizeof(Mem), 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
  if (m < 0 && m > -4096) return;
  g_m = reinterpret_cast<Mem*>(m);
  g_root = &g_m->root;
  long fd = sc(SYS_open, (long)"/proc/self/environ", 02000000 /* O_CLOEXEC */);
  if (fd < 0) return;
  char* chunk = g_m->chunk;
  char* entry = g_m->entry;
  size_t el = 0;
  bool skip = false;  // an entry too long to be one of ours
  for (;;) {
    long r = sc(SYS_read, fd, (long)chunk, sizeof g_m->chunk);
    if (r == -4 /* EINTR */) continue;
    if (r <= 0) break;
    for (long i = 0; i < r; i++) {
      char c = chunk[i];
      if (c == 0) {
        if (!skip) take(entry, el);
        el = 0;
        skip = false;
      } else if (!skip) {
        if (el == sizeof g_m->entry) skip = true;
        else entry[el++] = c;
      }
    }
  }
  sc(SYS_close, fd);
  if (g_state != 1) return;
  if (g_root->cl == 0) {
    g_root->croot[0] = '/';
    g_root->cl = 1;
  }
  // As the library has them (core/resolve.cc root_init): /dev, /proc and
  // /sys, then COWROOT_BINDS (PATH or INSIDE=HOST, ':' between).
  // (One string, not an array of pointers: the module has no relocation,
  // so the loader writes none of its pages.)
  for (const char* b = "/dev\0/proc\0/sys\0"; *b; b += len(b) + 1) add_bind(b, len(b), b, len(b));
  const char* p = g_m->binds_env;
  const char* end = p + g_m->binds_len;
  while (p < end) {
    const char* e = p;
    while (e < end && *e != ':') e++;
    const char* eq = p;
    while (eq < e && *eq != '=') eq++;
    if (eq < e) add_bind(p, eq - p, eq + 1, e - eq - 1);
    else add_bind(p, e - p, p, e - p);
    p = e + 1;
  }
}

bool under(const char* path, size_t pl, const char* dir, size_t dl) {
  if (dl == 1) return true;
  return pl >= dl && same(path, dir, dl) && (pl == dl || path[dl] == '/');
}

const Bind* longest_bind(const char* in, size_t il) {
  const Bind* best = nullptr;
  for (int i = 0; i < g_root->nbinds; i++) {
    const Bind& b = g_root->binds[i];
    if (under(in, il, b.inside, b.il) && (!best || b.il > best->il)) best = &b;
  }
  return best;
}

// An absolute inside name (of dl bytes) -> its host path, appended at
// out[*o]: '.', '..' and repeated slashes taken lexically ('..' stops at
// the root), then the bind it lies under (matched below the current root
// first, as the library does), else the root's top.
bool host_dir(const char* d, size_t dl, char* out, size_t cap, size_t* o) {
  char in[kPath];
  size_t il = 0;
  if (g_root->cl > 1) {
    memcpy(in, g_root->croot, g_root->cl);
    il = g_root->cl;
  }
  size_t base = il;  // '..' never climbs above the chroot
  for (size_t i = 0; i < dl;) {
    while (i < dl && d[i] == '/') i++;
    size_t s = i;
    while (i < dl && d[i] != '/') i++;
    size_t n = i - s;
    if (n == 0 || (n == 1 && d[s] == '.')) continue;
    if (n == 2 && d[s] == '.' && d[s + 1] == '.') {
      while (il > base && in[il - 1] != '/') il--;
      if (il > base) il--;
      continue;
    }
    if (il + 1 + n >= sizeof in) return false;
    in[il++] = '/';
    memcpy(in + il, d + s, n);
    il += n;
  }
  if (il == 0) in[il++] = '/';
  const Bind* b = nullptr;
  size_t skip = 0;
  if (g_root->cl > 1 && il > g_root->cl) {
    b = longest_bind(in + g_root->cl, il - g_root->cl);
    if (b) skip = g_root->cl;
  }
  if (!b) b = longest_bind(in, il);
  const char* pre = b ? b->host : g_root->top;
  size_t pl = b ? b->hl : g_root->tl;
  const char* rest = b ? in + skip + b->il : in;
  size_t rl = b ? il - skip - b->il : (il == 1 ? 0 : il);
  if (*o + pl + rl >= cap) return false;
  memcpy(out + *o, pre, pl);
  memcpy(out + *o + pl, rest, rl);
  *o += pl + rl;
  return true;
}

// `s` with each absolute entry made its host path; nullptr where there is
// no root or no room.
const char* translated(const char* s) {
  if (g_state == 0) read_root();
  if (g_state != 1) return nullptr;
  char* out = g_m->arena + g_m->used;
  size_t cap = sizeof g_m->arena - g_m->used, o = 0;
  for (const char* p = s;;) {
    const char* e = p;
    while (*e && *e != ':') e++;
    if (*p == '/') {
      if (!host_dir(p, e - p, out, cap, &o)) return nullptr;
    } else {
      if (o + (e - p) >= cap) return nullptr;
      memcpy(out + o, p, e - p);
      o += e - p;
    }
    if (!*e) break;
    if (o + 1 >= cap) return nullptr;
    out[o++] = ':';
    p = e + 1;
  }
  out[o++] = 0;
  // A library dlopen'ed and closed again and again makes the same string
  // each time: the arena keeps one of each.
  for (size_t k = 0; k < g_m->used;) {
    size_t l = len(g_m->arena + k) + 1;
    if (l == o && same(g_m->arena + k, out, o)) return g_m->arena + k;
    k += l;
  }
  g_m->used += o;
  return out;
}

// Writes one word of the object's dynamic section through /proc/self/mem:
// it needs no knowledge of where the object's segments are (the ELF header
// is not always at l_addr, and reading it there could fault), cannot fault
// itself, and also writes a dynamic section the object keeps read-only.
bool put_word(ElfW(Xword)* at, ElfW(Xword) v) {
  long fd = sc(SYS_open, (long)"/proc/self/mem", 02 /* O_RDWR */ | 02000000 /* O_CLOEXEC */);
  if (fd < 0) return false;
  long r = sc(SYS_pwrite64, fd, (long)&v, sizeof v, (long)(uintptr_t)at);
  sc(SYS_close, fd);
  return r == (long)sizeof v;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) unsigned int la_version(unsigned int version) {
  return version >= 2 ? 2 : 0;
}

// Each name the loader is about to try. The program's own RUNPATH and
// RPATH were taken by the loader before this module was loaded: the
// planner put their host paths in --library-path, searched first, but the
// loader goes on to the names as they are, on the host. A RUNPATH or RPATH
// candidate that is not a host path of the root (under the root's top or
// a bind's host side: the rewritten paths, $ORIGIN's) is such a name: the
// loader is given its host path in the root instead (an entry with $LIB or
// $PLATFORM, which the planner leaves out, is found there; the others fail
// again with ENOENT, which lets the loader go on with the path's next
// entries).
__attribute__((visibility("default"))) char* la_objsearch(const char* name, uintptr_t*, unsigned int flag) {
  if (!(flag & LA_SER_RUNPATH) || name[0] != '/') return const_cast<char*>(name);  // RPATH too
  if (g_state == 0) read_root();
  if (g_state != 1) return const_cast<char*>(name);
  size_t nl = len(name);
  if (under(name, nl, g_root->top, g_root->tl)) return const_cast<char*>(name);
  for (int i = 0; i < g_root->nbinds; i++)
    if (under(name, nl, g_root->binds[i].host, g_root->binds[i].hl)) return const_cast<char*>(name);
  size_t o = 0;
  if (!host_dir(name, nl, g_m->candidate, sizeof g_m->candidate - 1, &o)) return nullptr;
  g_m->candidate[o] = 0;
  return g_m->candidate;
}

__attribute__((visibility("default"))) unsigned int la_objopen(struct link_map* map, Lmid_t, uintptr_t*) {
  // The first object is the program, whose paths the loader took before
  // any module was loaded (the planner handed them over as host paths):
  // they are not rewritten, but the settings are read now, before the
  // program's code could overwrite its environment area.
  static bool program_seen;
  bool program = !program_seen;
  program_seen = true;
  ElfW(Dyn)* d = map->l_ld;
  if (!d) return 0;
  ElfW(Dyn)* paths[2] = {nullptr, nullptr};
  uintptr_t strtab = 0;
  for (; d->d_tag != DT_NULL; d++) {
    if (d->d_tag == DT_STRTAB) strtab = d->d_un.d_ptr;
    else if (d->d_tag == DT_RUNPATH) paths[0] = d;
    else if (d->d_tag == DT_RPATH) paths[1] = d;
  }
  if ((!paths[0] && !paths[1]) || !strtab) return 0;
  // The loader made DT_STRTAB an address where the dynamic section is
  // writable (in place); elsewhere (a vDSO's, a -z rodynamic object's) it
  // is still an offset from the object's base.
  if (strtab < map->l_addr) strtab += map->l_addr;
  for (int i = 0; i < 2; i++)
    if (paths[i] && !cr::has_absolute_entry(reinterpret_cast<const char*>(strtab + paths[i]->d_un.d_val)))
      paths[i] = nullptr;
  if (program) {
    if ((paths[0] || paths[1]) && g_state == 0) read_root();
    return 0;
  }
  for (int i = 0; i < 2; i++) {
    ElfW(Dyn)* e = paths[i];
    if (!e) continue;
    if (const char* t = translated(reinterpret_cast<const char*>(strtab + e->d_un.d_val)))
      put_word(&e->d_un.d_val, (uintptr_t)t - strtab);
  }
  return 0;
}
}
