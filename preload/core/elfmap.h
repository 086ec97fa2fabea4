// Mapping an ELF program into this process, as the kernel's exec does:
// what cowroot-stub uses to start the program a confined exec runs. Header
// only and freestanding (no libc, no allocation): `Sys` is the caller's way
// of making a system call, sys(nr, a, b, c, d, e, f) -> the kernel's result.
#pragma once
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace cr::elf {

#if defined(__x86_64__)
constexpr unsigned kMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kMachine = EM_AARCH64;
#endif

constexpr uint64_t kPage = 4096;
constexpr unsigned kMaxPhdr = 32;

struct Headers {
  Elf64_Ehdr eh;
  Elf64_Phdr ph[kMaxPhdr];
  char interp[512];  // PT_INTERP, "" for none
  uint64_t lo, hi;   // the PT_LOAD span (page-rounded vaddrs)
};

struct Image {
  uint64_t bias;   // load bias: the address of vaddr 0
  uint64_t entry;  // absolute
  uint64_t phdr;   // the program headers, in memory
  unsigned phnum;
  uint64_t lo, hi;  // what it occupies
};

inline uint64_t page_down(uint64_t v) { return v & ~(kPage - 1); }
inline uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

// Reads and checks the headers of the file open at fd: an ELF program this
// process can run (class, machine, type, segments). 0 or -errno (-ENOEXEC
// for anything that is not one).
template <typename Sys>
int read_headers(Sys sys, int fd, Headers* h) {
  long n = sys(SYS_pread64, fd, (long)&h->eh, sizeof h->eh, 0, 0, 0);
  if (n < 0) return (int)n;
  const Elf64_Ehdr& e = h->eh;
  if (n != (long)sizeof e || e.e_ident[0] != ELFMAG0 || e.e_ident[1] != ELFMAG1 || e.e_ident[2] != ELFMAG2 ||
      e.e_ident[3] != ELFMAG3 || e.e_ident[EI_CLASS] != ELFCLASS64 || e.e_machine != kMachine ||
      (e.e_type != ET_EXEC && e.e_type != ET_DYN) || e.e_phentsize != sizeof(Elf64_Phdr) || e.e_phnum == 0 ||
      e.e_phnum > kMaxPhdr)
    return -ENOEXEC;
  long want = (long)(e.e_phnum * sizeof(Elf64_Phdr));
  if (sys(SYS_pread64, fd, (long)h->ph, want, (long)e.e_phoff, 0, 0) != want) return -ENOEXEC;
  h->interp[0] = 0;
  h->lo = ~0ull;
  h->hi = 0;
  for (unsigned i = 0; i < e.e_phnum; i++) {
    const Elf64_Phdr& p = h->ph[i];
    if (p.p_type == PT_INTERP) {
      if (p.p_filesz < 2 || p.p_filesz >= sizeof h->interp) return -ENOEXEC;
      if (sys(SYS_pread64, fd, (long)h->interp, (long)p.p_filesz, (long)p.p_offset, 0, 0) != (long)p.p_filesz)
        return -ENOEXEC;
      h->interp[p.p_filesz - 1] = 0;
    } else if (p.p_type == PT_LOAD) {
      if (p.p_filesz > p.p_memsz || (p.p_vaddr - p.p_offset) % kPage) return -ENOEXEC;
      if (page_down(p.p_vaddr) < h->lo) h->lo = page_down(p.p_vaddr);
      if (page_up(p.p_vaddr + p.p_memsz) > h->hi) h->hi = page_up(p.p_vaddr + p.p_memsz);
    }
  }
  if (h->hi <= h->lo) return -ENOEXEC;
  return 0;
}

inline int prot_of(uint32_t flags) {
  return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) | ((flags & PF_X) ? PROT_EXEC : 0);
}

// Maps the program whose headers are `h` from fd. A position-independent
// one goes at `at` (0: wherever the kernel puts a new mapping; `at` is a
// hint unless `fixed`); a fixed-address one where it was linked. 0 or
// -errno; on failure nothing stays mapped.
template <typename Sys>
int map(Sys sys, int fd, const Headers& h, uint64_t at, bool fixed, Image* im) {
  uint64_t span = h.hi - h.lo;
  bool pic = h.eh.e_type == ET_DYN;
  uint64_t want = pic ? at : h.lo;
  int how = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  if (!pic) how |= MAP_FIXED_NOREPLACE;
  else if (fixed) how |= MAP_FIXED;
  long r = sys(SYS_mmap, (long)want, (long)span, PROT_NONE, how, -1, 0);
  if (r < 0 && r > -4096) return (int)r;
  if (!pic && (uint64_t)r != h.lo) {  // an old kernel takes NOREPLACE as a hint
    sys(SYS_munmap, r, (long)span, 0, 0, 0, 0);
    return -ENOMEM;
  }
  uint64_t bias = (uint64_t)r - h.lo;
  for (unsigned i = 0; i < h.eh.e_phnum; i++) {
    const Elf64_Phdr& p = h.ph[i];
    if (p.p_type != PT_LOAD || p.p_memsz == 0) continue;
    int prot = prot_of(p.p_flags);
    uint64_t start = bias + p.p_vaddr;
    uint64_t page = page_down(start);
    uint64_t file_end = start + p.p_filesz;
    uint64_t mem_end = page_up(start + p.p_memsz);
    uint64_t mapped_end = page;
    if (p.p_filesz) {
      mapped_end = page_up(file_end);
      // Writable while its last page's tail is cleared (the bss in it).
      bool tail = p.p_memsz > p.p_filesz && (file_end & (kPage - 1));
      int first = tail ? (prot | PROT_WRITE) : prot;
      long m = sys(SYS_mmap, (long)page, (long)(mapped_end - page), first, MAP_PRIVATE | MAP_FIXED, fd,
                   (long)page_down(p.p_offset));
      if (m < 0 && m > -4096) {
        sys(SYS_munmap, r, (long)span, 0, 0, 0, 0);
        return (int)m;
      }
      if (tail) {
        for (uint64_t a = file_end; a < mapped_end; a++) *reinterpret_cast<volatile char*>(a) = 0;
        if (first != prot) sys(SYS_mprotect, (long)page_down(file_end), (long)kPage, prot, 0, 0, 0);
      }
    }
    if (mem_end > mapped_end) {
      long m = sys(SYS_mmap, (long)mapped_end, (long)(mem_end - mapped_end), prot,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (m < 0 && m > -4096) {
        sys(SYS_munmap, r, (long)span, 0, 0, 0, 0);
        return (int)m;
      }
    }
  }
  im->bias = bias;
  im->entry = bias + h.eh.e_entry;
  im->phnum = h.eh.e_phnum;
  im->lo = (uint64_t)r;
  im->hi = (uint64_t)r + span;
  im->phdr = 0;
  for (unsigned i = 0; i < h.eh.e_phnum; i++)
    if (h.ph[i].p_type == PT_PHDR) im->phdr = bias + h.ph[i].p_vaddr;
  for (unsigned i = 0; i < h.eh.e_phnum && !im->phdr; i++) {
    const Elf64_Phdr& p = h.ph[i];
    if (p.p_type == PT_LOAD && h.eh.e_phoff >= p.p_offset && h.eh.e_phoff < p.p_offset + p.p_filesz)
      im->phdr = bias + p.p_vaddr + (h.eh.e_phoff - p.p_offset);
  }
  return 0;
}

// An auxiliary vector entry as the new program must see it: what
// describes the program and its interpreter is theirs, the rest as given.
inline uint64_t aux_value(uint64_t t, uint64_t v, const Image& main, uint64_t interp_base, const char* execfn) {
  switch (t) {
    case AT_PHDR: return main.phdr;
    case AT_PHNUM: return main.phnum;
    case AT_PHENT: return sizeof(Elf64_Phdr);
    case AT_ENTRY: return main.entry;
    case AT_BASE: return interp_base;
    case AT_EXECFN: return (uint64_t)execfn;
    default: return v;
  }
}

// Writes the initial stack of a new program below `below` and returns it
// (16-byte aligned): argc, argv, the environment entries `keep` accepts
// then `extra` (if given), and the auxiliary vector `auxv` describing `main`
// instead (its headers, its entry, `interp_base` as AT_BASE, `execfn`).
template <typename Keep>
long* build_stack(uint64_t below, long argc, char* const* argv, char* const* envp, Keep keep, const char* extra,
                  const Elf64_auxv_t* auxv, const Image& main, uint64_t interp_base, const char* execfn) {
  long envc = 0, auxc = 0;
  while (envp[envc]) envc++;
  while (auxv[auxc].a_type != AT_NULL) auxc++;
  uint64_t words = 1 + (uint64_t)(argc + 1) + (uint64_t)(envc + 2) + 2 * (uint64_t)(auxc + 1);
  auto* out = reinterpret_cast<long*>((below - words * 8) & ~15ull);
  long* w = out;
  *w++ = argc;
  for (long i = 0; i < argc; i++) *w++ = (long)argv[i];
  *w++ = 0;
  for (long i = 0; i < envc; i++)
    if (keep(envp[i])) *w++ = (long)envp[i];
  if (extra) *w++ = (long)extra;
  *w++ = 0;
  for (long i = 0; i < auxc; i++) {
    uint64_t t = auxv[i].a_type;
    *w++ = (long)t;
    *w++ = (long)aux_value(t, auxv[i].a_un.a_val, main, interp_base, execfn);
  }
  *w++ = AT_NULL;
  *w++ = 0;
  return out;
}

// The same, in place: the stack a new program was started with (by the
// kernel, for the stub) becomes the program's, with no page of it new.
// The entries `keep` drops make room; `extra` takes the first of them.
template <typename Keep>
void rewrite_stack(long* sp, Keep keep, const char* extra, const Image& main, uint64_t interp_base,
                   const char* execfn) {
  long argc = sp[0];
  long* r = sp + 1 + argc + 1;
  long* w = r;
  for (; *r; r++) {
    if (keep(reinterpret_cast<const char*>(*r))) *w++ = *r;
    else if (extra) *w++ = (long)extra, extra = nullptr;
  }
  *w++ = 0;
  for (r++;; r += 2) {
    uint64_t t = (uint64_t)r[0];
    w[0] = (long)t;
    w[1] = (long)aux_value(t, (uint64_t)r[1], main, interp_base, execfn);
    w += 2;
    if (t == AT_NULL) break;
  }
}

#if defined(__x86_64__)
// Starts a program at `entry` with its initial stack at `sp`, every other
// register cleared (rdx too: a static program's _start takes it as a
// function for atexit).
[[noreturn]] inline void jump(uint64_t entry, long* sp) {
  register uint64_t to asm("r11") = entry;
  asm volatile(
      "mov %0, %%rsp\n"
      "xor %%eax, %%eax\n xor %%ebx, %%ebx\n xor %%ecx, %%ecx\n xor %%edx, %%edx\n"
      "xor %%esi, %%esi\n xor %%edi, %%edi\n xor %%ebp, %%ebp\n xor %%r8d, %%r8d\n"
      "xor %%r9d, %%r9d\n xor %%r10d, %%r10d\n xor %%r12d, %%r12d\n xor %%r13d, %%r13d\n"
      "xor %%r14d, %%r14d\n xor %%r15d, %%r15d\n"
      "jmp *%%r11\n"
      :
      : "r"(sp), "r"(to)
      : "memory");
  __builtin_unreachable();
}
#endif

// Whether the file named `path` is a dynamic loader by its name, as glibc
// and musl name theirs (glibc before 2.34: ld-2.31.so; ld-linux-x86-64.so.2,
// ld64.so.*, ld.so, ld-musl-*.so.1): the one rule the exec path and
// cowroot-stub both use for a program without PT_INTERP that is run as
// the loader (ldd runs it with --verify and LD_TRACE_LOADED_OBJECTS).
inline bool is_loader_name(const char* path) {
  const char* b = path;
  for (const char* s = path; *s; s++)
    if (*s == '/') b = s + 1;
  auto starts = [](const char* s, const char* p) {
    while (*p)
      if (*s++ != *p++) return false;
    return true;
  };
  bool named = starts(b, "ld-linux") || starts(b, "ld64.so") || starts(b, "ld-musl") || starts(b, "ld.so") ||
               (starts(b, "ld-") && b[3] >= '0' && b[3] <= '9');
  if (!named) return false;
  for (const char* s = b; *s; s++)
    if (starts(s, ".so")) return true;
  return false;
}

}  // namespace cr::elf
