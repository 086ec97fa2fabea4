// The next definition of a symbol after this library, as dlsym(RTLD_NEXT)
// finds it, without dlsym.
//
// Before glibc 2.34 dlsym lives in libdl.so.2, which most programs do not
// load, and the library's one dependency is libc: so it reads the loaded
// objects' dynamic symbol tables itself. The list of loaded objects is the
// loader's own (r_debug's r_map, what debuggers read): the program's
// DT_DEBUG entry points to it, or the loader's exported _r_debug does. Not
// dl_iterate_phdr: the library exports a wrapper of that name, which its
// own calls would reach first. No allocation, no lock, no system call.
//
// The search follows the loader's rules for an unversioned lookup: the
// objects after this one in load order (a user's preloaded library, then
// libc), a defined global or weak symbol, the default version (never a
// hidden one), an IFUNC's resolver run for its answer.
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>

#include <cstdint>
#include <cstring>

#include <fcntl.h>
#include "../core/session.h"
#include "../core/sys.h"

#include "wrap.h"


namespace cr::wrap {

namespace {

// No libc calls in here: a sanitizer's runtime, loaded first, interposes
// strcmp and friends, and it looks its own symbols up through the
// dl_iterate_phdr wrapper before its interceptors work.
bool same(const char* a, const char* b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}
bool elf_magic(const void* p) {
  auto* c = static_cast<const unsigned char*>(p);
  return c[0] == ELFMAG0 && c[1] == ELFMAG1 && c[2] == ELFMAG2 && c[3] == ELFMAG3;
}

// What a lookup needs of one object, from its dynamic section.
struct Object {
  ElfW(Addr) base = 0;
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  const uint32_t* gnu_hash = nullptr;
  const uint32_t* sysv_hash = nullptr;
  const ElfW(Half)* versym = nullptr;
};

bool read_object(ElfW(Addr) base, const ElfW(Dyn)* dyn, Object* o) {
  if (!dyn) return false;
  *o = Object{};
  o->base = base;
  // The loader relocates these entries in place, except in a read-only
  // dynamic section (the vDSO's): an address below the base is an offset.
  auto at = [base](ElfW(Addr) v) { return v < base ? base + v : v; };
  for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; d++) {
    switch (d->d_tag) {
      case DT_SYMTAB: o->symtab = reinterpret_cast<const ElfW(Sym)*>(at(d->d_un.d_ptr)); break;
      case DT_STRTAB: o->strtab = reinterpret_cast<const char*>(at(d->d_un.d_ptr)); break;
      case DT_GNU_HASH: o->gnu_hash = reinterpret_cast<const uint32_t*>(at(d->d_un.d_ptr)); break;
      case DT_HASH: o->sysv_hash = reinterpret_cast<const uint32_t*>(at(d->d_un.d_ptr)); break;
      case DT_VERSYM: o->versym = reinterpret_cast<const ElfW(Half)*>(at(d->d_un.d_ptr)); break;
    }
  }
  return o->symtab && o->strtab && (o->gnu_hash || o->sysv_hash);
}

// Symbol i of `o` if it is a definition `name` may bind to.
const ElfW(Sym)* usable(const Object& o, uint32_t i, const char* name) {
  const ElfW(Sym)* s = &o.symtab[i];
  if (s->st_shndx == SHN_UNDEF || (s->st_value == 0 && ELF64_ST_TYPE(s->st_info) != STT_TLS)) return nullptr;
  unsigned type = ELF64_ST_TYPE(s->st_info), bind = ELF64_ST_BIND(s->st_info);
  if (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT && type != STT_NOTYPE) return nullptr;
  if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) return nullptr;
  if (o.versym && (o.versym[i] & 0x8000)) return nullptr;  // a hidden (non-default) version
  return same(o.strtab + s->st_name, name) ? s : nullptr;
}

const ElfW(Sym)* find_in(const Object& o, const char* name) {
  if (o.gnu_hash) {
    uint32_t h = 5381;
    for (const unsigned char* c = reinterpret_cast<const unsigned char*>(name); *c; c++) h = h * 33 + *c;
    const uint32_t nbuckets = o.gnu_hash[0], symoffset = o.gnu_hash[1], bloom_size = o.gnu_hash[2],
                   shift = o.gnu_hash[3];
    if (nbuckets == 0 || bloom_size == 0) return nullptr;
    auto* bloom = reinterpret_cast<const ElfW(Addr)*>(o.gnu_hash + 4);
    const unsigned bits = sizeof(ElfW(Addr)) * 8;
    ElfW(Addr) word = bloom[(h / bits) % bloom_size];
    ElfW(Addr) mask = (ElfW(Addr))1 << (h % bits) | (ElfW(Addr))1 << ((h >> shift) % bits);
    if ((word & mask) != mask) return nullptr;
    auto* buckets = reinterpret_cast<const uint32_t*>(bloom + bloom_size);
    const uint32_t* chain = buckets + nbuckets;
    uint32_t i = buckets[h % nbuckets];
    if (i < symoffset) return nullptr;
    for (;; i++) {
      uint32_t h2 = chain[i - symoffset];
      if ((h | 1) == (h2 | 1))
        if (const ElfW(Sym)* s = usable(o, i, name)) return s;
      if (h2 & 1) return nullptr;
    }
  }
  uint32_t h = 0;
  for (const unsigned char* c = reinterpret_cast<const unsigned char*>(name); *c; c++) {
    h = (h << 4) + *c;
    uint32_t g = h & 0xf0000000;
    if (g) h ^= g >> 24;
    h &= ~g;
  }
  const uint32_t nbucket = o.sysv_hash[0];
  if (nbucket == 0) return nullptr;
  const uint32_t* bucket = o.sysv_hash + 2;
  const uint32_t* chain = bucket + nbucket;
  for (uint32_t i = bucket[h % nbucket]; i != STN_UNDEF; i = chain[i])
    if (const ElfW(Sym)* s = usable(o, i, name)) return s;
  return nullptr;
}

void* address_of(const Object& o, const ElfW(Sym)* s) {
  ElfW(Addr) a = o.base + s->st_value;
  if (ELF64_ST_TYPE(s->st_info) == STT_GNU_IFUNC) {
#if defined(__aarch64__)
    a = reinterpret_cast<ElfW(Addr) (*)(unsigned long)>(a)(getauxval(AT_HWCAP));
#else
    a = reinterpret_cast<ElfW(Addr) (*)()>(a)();
#endif
  }
  return reinterpret_cast<void*>(a);
}

// The object whose program headers are at `ph`: its load bias and dynamic
// section.
bool object_at_phdr(const ElfW(Phdr)* ph, size_t n, Object* o) {
  if (!ph || !n) return false;
  ElfW(Addr) bias = 0;
  bool known = false;
  for (size_t i = 0; i < n; i++)
    if (ph[i].p_type == PT_PHDR) bias = reinterpret_cast<ElfW(Addr)>(ph) - ph[i].p_vaddr, known = true;
  if (!known) {
    // No PT_PHDR (the loader itself): its headers follow the ELF header,
    // which starts its first segment.
    auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(reinterpret_cast<ElfW(Addr)>(ph) - sizeof(ElfW(Ehdr)));
    if (!elf_magic(eh->e_ident) || eh->e_phoff != sizeof(ElfW(Ehdr))) return false;
    for (size_t i = 0; i < n && !known; i++)
      if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
        bias = reinterpret_cast<ElfW(Addr)>(eh) - ph[i].p_vaddr, known = true;
    if (!known) return false;
  }
  for (size_t i = 0; i < n; i++)
    if (ph[i].p_type == PT_DYNAMIC) return read_object(bias, reinterpret_cast<const ElfW(Dyn)*>(bias + ph[i].p_vaddr), o);
  return false;
}

// The loader's _r_debug when nothing points to the loader: it runs as a
// program (`ld.so libcowroot.so STATIC-PROGRAM`, how a static program is
// confined, rewrote the auxiliary vector to show the library as the
// program), possibly mapped by cowroot-stub rather than the kernel. The
// loader is the file mapped at offset 0 whose symbols have _r_debug; the
// mappings come from /proc/self/maps, read with raw calls (nothing is set
// up yet).
const struct r_debug* r_debug_by_maps() {
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)"/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  char buf[4096];
  size_t have = 0;
  const struct r_debug* found = nullptr;
  for (;;) {
    long r = sys::raw(SYS_read, fd, (long)(buf + have), sizeof buf - 1 - have);
    if (r <= 0) break;
    have += (size_t)r;
    buf[have] = 0;
    char* line = buf;
    for (char* nl; !found && (nl = strchr(line, '\n'));) {
      *nl = 0;
      // "START-END PERMS OFFSET DEV INODE PATH": a file's first page.
      ElfW(Addr) start = 0;
      const char* c = line;
      for (; *c && *c != '-'; c++) start = start * 16 + (ElfW(Addr))(*c <= '9' ? *c - '0' : (*c | 32) - 'a' + 10);
      const char* sp1 = strchr(line, ' ');
      const char* off = sp1 ? strchr(sp1 + 1, ' ') : nullptr;
      bool first_page = off && strncmp(off + 1, "00000000 ", 9) == 0;
      bool readable = sp1 && sp1[1] == 'r';
      if (first_page && readable && strchr(line, '/')) {
        auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(start);
        Object o;
        if (elf_magic(eh->e_ident) && eh->e_type == ET_DYN &&
            object_at_phdr(reinterpret_cast<const ElfW(Phdr)*>(start + eh->e_phoff), eh->e_phnum, &o))
          if (const ElfW(Sym)* s = find_in(o, "_r_debug"))
            found = reinterpret_cast<const struct r_debug*>(o.base + s->st_value);
      }
      line = nl + 1;
    }
    if (found) break;
    have = strlen(line);
    memmove(buf, line, have);
    if (have == sizeof buf - 1) have = 0;  // a line longer than the buffer: not ours
  }
  sys::raw(SYS_close, fd);
  return found;
}

// The loader's list of loaded objects.
const struct link_map* loaded_objects() {
  // Set once; a race only repeats the work. Kept on the session's first
  // page, which the start writes anyway (a static of its own was a page
  // read, then written: two faults in every program).
  if (g_session.loaded) return static_cast<const struct link_map*>(g_session.loaded);
  const struct r_debug* r = nullptr;
  Object prog;
  bool have_prog = object_at_phdr(reinterpret_cast<const ElfW(Phdr)*>(getauxval(AT_PHDR)), getauxval(AT_PHNUM), &prog);
  if (have_prog) {
    // The program's DT_DEBUG, which the loader fills in.
    auto* ph = reinterpret_cast<const ElfW(Phdr)*>(getauxval(AT_PHDR));
    for (size_t i = 0; i < getauxval(AT_PHNUM) && !r; i++) {
      if (ph[i].p_type != PT_DYNAMIC) continue;
      for (const ElfW(Dyn)* d = reinterpret_cast<const ElfW(Dyn)*>(prog.base + ph[i].p_vaddr); d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_DEBUG && d->d_un.d_ptr) r = reinterpret_cast<const struct r_debug*>(d->d_un.d_ptr);
    }
  }
  if (!r) {
    // A program linked without DT_DEBUG: the loader's own _r_debug (the
    // loader is at AT_BASE, or it is the program itself).
    Object ld;
    ElfW(Addr) at_base = getauxval(AT_BASE);
    const ElfW(Sym)* s = nullptr;
    if (at_base) {
      auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(at_base);
      if (elf_magic(eh->e_ident) &&
          object_at_phdr(reinterpret_cast<const ElfW(Phdr)*>(at_base + eh->e_phoff), eh->e_phnum, &ld))
        s = find_in(ld, "_r_debug");
    } else if (have_prog) {
      ld = prog;
      s = find_in(ld, "_r_debug");
    }
    if (s) r = reinterpret_cast<const struct r_debug*>(ld.base + s->st_value);
    else r = r_debug_by_maps();
  }
  if (!r || !r->r_map) return nullptr;
  g_session.loaded = r->r_map;
  return r->r_map;
}

const struct link_map* own_object() {
  for (const struct link_map* m = loaded_objects(); m; m = m->l_next)
    if (m->l_ld == _DYNAMIC) return m;
  return nullptr;
}

}  // namespace

void* next_symbol(const char* name) {
  const struct link_map* self = own_object();
  // Not in the list (cannot happen with glibc's loader): every other object.
  for (const struct link_map* m = self ? self->l_next : loaded_objects(); m; m = m->l_next) {
    if (m == self) continue;
    Object o;
    if (!read_object(m->l_addr, m->l_ld, &o)) continue;
    if (const ElfW(Sym)* s = find_in(o, name)) return address_of(o, s);
  }
  return nullptr;
}

const struct link_map* first_loaded_object() { return loaded_objects(); }

const char* own_file_name() {
  const struct link_map* self = own_object();
  return self ? self->l_name : nullptr;
}

}  // namespace cr::wrap
