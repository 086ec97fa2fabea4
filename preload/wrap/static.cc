// Static programs in a confined session. They have no libc of ours to
// interpose and would make every system call on the host; so their exec
// (core/exec.cc) runs the dynamic loader with this library as its program:
//   cowroot-stub -> ld.so --library-path "" libcowroot.so PROGRAM ARGV...
// The library starts as in any program (the session, the handler taking
// over from the stub's), then maps the static program into this process as
// the kernel would have, and jumps to it. Its system calls are trapped and
// served by the handler here (confine.cc, which lends the handler libc's
// thread pointer), at the cost of a signal, not of a round trip to another
// process.
#include <elf.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include "../core/confine.h"
#include "../core/elfmap.h"
#include "doors.h"

extern char** environ;

#if defined(__x86_64__)  // (the whole file: confinement is x86_64's)
asm(".text\n.globl cr_static_entry\n.hidden cr_static_entry\n.type cr_static_entry,@function\n"
    "cr_static_entry:\n xor %ebp, %ebp\n mov %rsp, %rdi\n and $-16, %rsp\n call cr_static_main\n hlt\n");

namespace {

struct Sys {
  long operator()(long n, long a, long b, long c, long d, long e, long f) const { return sys::raw(n, a, b, c, d, e, f); }
};

[[noreturn]] void refuse(const char* name, const char* why) {
  errline(name, why);
  sys::raw(SYS_exit_group, 126);
  __builtin_unreachable();
}

}  // namespace

// The loader's arguments are gone: argv is this library, the program's
// host path, then the program's own argv.
extern "C" __attribute__((visibility("hidden"))) [[noreturn]] void cr_static_main(long* sp) {
  long argc = sp[0];
  char** argv = reinterpret_cast<char**>(sp + 1);
  if (argc < 3) refuse("libcowroot.so", ": started by cowroot to run a static program, not by hand");
  const char* path = argv[1];
  const char* name = argv[2];
  cr::wrap::ensure();
  if (!cr::wrap::confine_static())
    refuse(name, ": static program, cannot be confined here (no seccomp filter in this session)");
  cr::g_confine.static_prog = true;
  cr::wrap::static_program_args(argv[2]);
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) refuse(name, ": cannot open the program");
  elf::Headers h;
  elf::Image im;
  memset(&h.eh, 0, sizeof h.eh);
  if (elf::read_headers(Sys{}, (int)fd, &h) < 0)
    refuse(name, memcmp(h.eh.e_ident, ELFMAG, SELFMAG) == 0 && h.eh.e_ident[EI_CLASS] == ELFCLASS32
                     ? ": a 32-bit program: only 64-bit ones can be confined"
                     : ": not an ELF program this machine runs");
  if (h.interp[0]) refuse(name, ": has an ELF interpreter: not a static program");
  if (elf::map(Sys{}, (int)fd, h, 0, false, &im) < 0) refuse(name, ": cannot map it");
  sys::raw(SYS_close, fd);
  // The auxiliary vector the kernel gave, as the loader keeps it (the
  // library's start may have moved the environment on the stack already).
  Elf64_auxv_t auxv[24];
  cr::wrap::program_auxv(auxv, sizeof auxv / sizeof auxv[0]);
  uint64_t cur;
  asm volatile("mov %%rsp, %0" : "=r"(cur));
  // AT_EXECFN: the program as the root knows it, not its host path.
  const char* execfn = g_root.active && g_root.exe[0] ? g_root.exe : path;
  long* stack = elf::build_stack(
      cur - 65536, argc - 2, argv + 2, environ, [](const char*) { return true; }, nullptr, auxv, im, 0, execfn);
  {  // the kernel's auxiliary vector its, and a debugger that started it shown it: mapped, not yet run
    long* q = stack + 1 + stack[0] + 1;
    while (*q) q++;
    cr::wrap::show_program(reinterpret_cast<const Elf64_auxv_t*>(q + 1));
  }
  elf::jump(im.entry, stack);
}
#endif
