// cowroot-stub: the first code of every program a confined process starts.
//
// A confined process's seccomp filter stays across exec, and sends the
// calls the table serves to a SIGSYS handler; a new program has none until
// the library starts in it, and the dynamic loader opens files long before
// that. So an exec runs this static program instead (linked at a fixed
// address inside the filter's window, see core/confine.h), which
//   1. installs a SIGSYS handler that makes the trapped calls as they are
//      (the loader's and the early constructors' calls need no translation:
//      the library planned the exec with host paths; the library replaces
//      this handler when it starts),
//   2. maps the program named by COWROOT_STUB (and its ELF interpreter,
//      inside the window) as the kernel would have,
//   3. builds the program's initial stack (argv and the environment as
//      given, the auxiliary vector describing the new program) and jumps.
// No libc: every system call is made from this file's code, inside the
// window. Nothing is allocated.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include "../core/confine.h"
#include "../core/direct.h"
#include "../core/elfmap.h"
#include "../core/ldpatch.h"

using namespace cr;

extern "C" {
// What the compiler may call for struct copies.
void* memcpy(void* d, const void* s, size_t n) {
  auto* a = static_cast<char*>(d);
  auto* b = static_cast<const char*>(s);
  while (n--) *a++ = *b++;
  return d;
}
void* memset(void* d, int c, size_t n) {
  auto* a = static_cast<char*>(d);
  while (n--) *a++ = (char)c;
  return d;
}
}

namespace {

#if !defined(__x86_64__)
#error "cowroot-stub: x86_64 only so far"
#endif

using direct::sc;

struct Sys {
  long operator()(long n, long a, long b, long c, long d, long e, long f) const { return sc(n, a, b, c, d, e, f); }
};

size_t len(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

bool starts(const char* s, const char* p) {
  while (*p)
    if (*s++ != *p++) return false;
  return true;
}

void say(const char* a, const char* b = "", const char* c = "") {
  char buf[1024];
  size_t n = 0;
  const char* parts[] = {"cowroot: ", a, b, c, "\n"};
  for (const char* s : parts)
    for (; *s && n < sizeof buf; s++) buf[n++] = *s;
  sc(SYS_write, 2, (long)buf, (long)n);
}

[[noreturn]] void die(const char* a, const char* b = "", const char* c = "") {
  say(a, b, c);
  sc(SYS_exit_group, 126);
  __builtin_unreachable();
}

using confine::KSigaction;
using confine::kSaRestorer;
using confine::kSigsysBit;
using confine::kUnblockable;

}  // namespace

namespace {
// The stub's own variables, kept on the page of what it tells the library:
// the stub then has no data segment, so an exec maps one segment fewer and
// the stub's writes fault one page, not two (the kernel zeroed the data
// segment's tail, a write of its own).
struct StubData {
  // The program's own SIGSYS disposition, as it believes it set it.
  KSigaction virtual_sigsys;
  // The main program's mapped range when it has an interpreter: a trapped
  // call from there means the library never started in it.
  uint64_t main_lo, main_hi;
  const char* main_name;
  char mode;
  char name[16];  // the process's name (its comm), for a refusal
  // Where the root's loader's own host paths are (ldpatch.h): for the loader
  // this stub starts ('L'), or the one cowroot-trace starts ('H').
  uint32_t ldruns[ldpatch::kMaxRuns];
  char exe[1024];  // COWROOT_EXE=… of a program started by name (unset if longer)
};
struct StubPage {
  confine::StubInfo info;  // first: at kStubInfo
  StubData data;
};
}  // namespace

// At its fixed address (confine.h): read by the library when it starts.
__attribute__((section(".crinfo"), used)) StubPage cr_stub_page = {{confine::kStubMagic, 0}, {{}, 0, 0, "", 0, {}, {}, {}}};

namespace {

constexpr confine::StubInfo& g_info = cr_stub_page.info;
constexpr StubData& g_stub = cr_stub_page.data;

extern "C" __attribute__((visibility("hidden"))) void cr_stub_restorer();
asm(".text\n.type cr_stub_restorer,@function\ncr_stub_restorer:\n .byte 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00\n"
    " syscall\n hlt\n");  // glibc's __restore_rt, byte for byte: unwinders know it

// Runs `path` again through this stub, the way the library's exec path
// does (with no translation: the caller gave a host path).
long stub_exec(int dirfd, const char* path, char* const* argv, char* const* envp, int flags) {
  if (dirfd != AT_FDCWD || flags) return -ENOSYS;  // not from the stub's window
  long fd = sc(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fd;
  elf::Headers h;
  int e = elf::read_headers(Sys{}, (int)fd, &h);
  sc(SYS_close, fd);
  if (e < 0) return e;
  char mode = h.interp[0] ? 'P' : 0;
  if (!mode && elf::is_loader_name(path)) mode = 'L';
  if (!mode) {
    say(path, ": static program started before the library: cannot confine it");
    return -EACCES;
  }
  size_t n = 0;
  while (envp && envp[n]) n++;
  if (n > 8192) return -E2BIG;
  char** env = static_cast<char**>(__builtin_alloca((n + 2) * sizeof(char*)));
  size_t pl = len(path);
  char* var = static_cast<char*>(__builtin_alloca(confine::kStubEnvLen + pl + 3 + 9 * ldpatch::kMaxRuns + 1));
  memcpy(var, confine::kStubEnv, confine::kStubEnvLen);
  size_t vk = confine::kStubEnvLen;
  var[vk++] = mode;
  if (mode == 'L' && g_stub.ldruns[0]) {
    var[vk++] = '@';
    vk += ldpatch::put_runs(var + vk, g_stub.ldruns);
  }
  var[vk++] = ':';
  memcpy(var + vk, path, pl + 1);
  size_t k = 0;
  env[k++] = var;
  for (size_t i = 0; i < n; i++)
    if (!starts(envp[i], confine::kStubEnv)) env[k++] = envp[i];
  env[k] = nullptr;
  return sc(SYS_execve, (long)"/proc/self/exe", (long)argv, (long)env);
}

// What may pass before the library takes the handler over in a root
// ('L'): the signal calls (answered here), the real ids, and the calls on
// /proc, /dev and /sys by absolute name (the same inside a root as on the
// host: a sanitizer's runtime reads /proc/self/maps there before the
// library can say it leaves this handler in place).
bool early_call_passes(long nr, long a0, long a1) {
  const char* p = nullptr;
  switch (nr) {
    case SYS_rt_sigaction: case SYS_rt_sigprocmask:
    case SYS_getuid: case SYS_geteuid: case SYS_getgid: case SYS_getegid: case SYS_getresuid:
    case SYS_getresgid: case SYS_getgroups:
      return true;
    case SYS_open: case SYS_stat: case SYS_lstat: case SYS_access: case SYS_readlink: case SYS_statfs:
      p = reinterpret_cast<const char*>(a0);
      break;
    case SYS_openat: case SYS_newfstatat: case SYS_statx: case SYS_faccessat: case SYS_readlinkat:
#ifdef SYS_faccessat2
    case SYS_faccessat2:
#endif
      p = reinterpret_cast<const char*>(a1);
      break;
    default:
      return false;
  }
  if (!p) return false;
  auto has = [&](const char* w) {
    for (const char* q = p; *q; q++) {
      int i = 0;
      while (w[i] && q[i] == w[i]) i++;
      if (!w[i] && (q[i] == '/' || q[i] == 0)) return true;
    }
    return false;
  };
  // Never a way back to the host's tree: "..", a process's root, working
  // directory or descriptors.
  if (has("/..") || has("/root") || has("/cwd") || has("/fd") || has("/map_files")) return false;
  static const char* const kSame[] = {"/proc/", "/dev/", "/sys/"};
  for (const char* d : kSame) {
    int i = 0;
    while (d[i] && p[i] == d[i]) i++;
    if (!d[i]) return true;
  }
  return false;
}

void on_sigsys(int, siginfo_t* si, void* ucv) {
  auto* uc = static_cast<ucontext_t*>(ucv);
  greg_t* g = uc->uc_mcontext.gregs;
  if (si->si_code != 1 /* SYS_SECCOMP */ || si->si_errno != confine::kTrapData) {
    g[REG_RAX] = -ENOSYS;
    return;
  }
  uint64_t ip = (uint64_t)g[REG_RIP];
  if (ip >= g_stub.main_lo && ip < g_stub.main_hi) die(g_stub.main_name, ": runs without the library (its loader did not load it): cannot confine it");
  long nr = g[REG_RAX];
  // The root's loader runs inside the window, where its calls pass the
  // filter: a call trapped before the library takes this handler over is
  // another's, made before the program could be confined (a library's
  // IFUNC resolver while the loader relocates it, an audit module of the
  // program's: LD_AUDIT). Their paths are inside paths, which this handler
  // cannot translate: refused, the program with it, but for what
  // early_call_passes lets through, until the library says it leaves this
  // handler in place (pass).
  long a0 = g[REG_RDI], a1 = g[REG_RSI], a2 = g[REG_RDX], a3 = g[REG_R10], a4 = g[REG_R8], a5 = g[REG_R9];
  if (g_stub.mode == 'L' && !g_info.pass && !early_call_passes(nr, a0, a1)) {
    char tail[96];
    int k = 0;
    long v = nr < 0 ? 0 : nr;
    char d[24];
    int nd = 0;
    do d[nd++] = char('0' + v % 10); while ((v /= 10) > 0);
    while (nd) tail[k++] = d[--nd];
    for (const char* t = " before the library started, outside the loader: cannot confine it"; *t; t++) tail[k++] = *t;
    tail[k] = 0;
    die(g_stub.name, ": made system call ", tail);
  }
  if (g_info.pass && g_info.exe[0] && (nr == SYS_readlink || nr == SYS_readlinkat)) {
    // A sanitizer's runtime names the program in its reports by
    // /proc/self/exe, which the kernel answers with this stub: the
    // program's name, as the library gave it.
    const char* p = reinterpret_cast<const char*>(nr == SYS_readlink ? a0 : a1);
    char* buf = reinterpret_cast<char*>(nr == SYS_readlink ? a1 : a2);
    long size = nr == SYS_readlink ? a2 : a3;
    const char* self = "/proc/self/exe";
    int i = 0;
    while (p && self[i] && p[i] == self[i]) i++;
    if (p && !self[i] && !p[i] && size > 0) {
      long n = 0;
      while (n < size && n < (long)sizeof g_info.exe && g_info.exe[n]) {
        buf[n] = g_info.exe[n];
        n++;
      }
      g[REG_RAX] = n;
      return;
    }
  }
  long r;
  auto* mask = reinterpret_cast<uint64_t*>(&uc->uc_sigmask);
  switch (nr) {
    case SYS_rt_sigaction: {
      auto* act = reinterpret_cast<const KSigaction*>(a1);
      auto* old = reinterpret_cast<KSigaction*>(a2);
      if (a0 == SIGSYS) {
        KSigaction prev = g_stub.virtual_sigsys;
        if (act) g_stub.virtual_sigsys = *act;
        if (old) *old = prev;
        r = 0;
      } else if (act) {
        KSigaction copy = *act;
        copy.mask &= ~kSigsysBit;
        r = sc(SYS_rt_sigaction, a0, (long)&copy, a2, a3);
      } else {
        r = sc(SYS_rt_sigaction, a0, a1, a2, a3);
      }
      break;
    }
    case SYS_rt_sigprocmask: {
      // The mask the program returns to is the one in the signal frame.
      uint64_t cur = *mask, set = a1 ? *reinterpret_cast<const uint64_t*>(a1) : 0;
      r = 0;
      if (a1) {
        if (a0 == SIG_BLOCK) cur |= set;
        else if (a0 == SIG_UNBLOCK) cur &= ~set;
        else if (a0 == SIG_SETMASK) cur = set;
        else r = -EINVAL;
      }
      if (r == 0) {
        if (a2) *reinterpret_cast<uint64_t*>(a2) = *mask;
        *mask = cur & ~(kSigsysBit | kUnblockable);
      }
      break;
    }
    case SYS_execve:
      r = stub_exec(AT_FDCWD, reinterpret_cast<const char*>(a0), reinterpret_cast<char* const*>(a1),
                    reinterpret_cast<char* const*>(a2), 0);
      break;
    case SYS_execveat:
      r = stub_exec((int)a0, reinterpret_cast<const char*>(a1), reinterpret_cast<char* const*>(a2),
                    reinterpret_cast<char* const*>(a3), (int)a4);
      break;
    default:
      r = sc(nr, a0, a1, a2, a3, a4, a5);
  }
  g[REG_RAX] = r;
}

uint64_t random_word() {
  uint64_t v = 0;
  if (sc(SYS_getrandom, (long)&v, sizeof v, 1 /* GRND_NONBLOCK */) != sizeof v) {
    unsigned lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    v = ((uint64_t)hi << 32 | lo) * 0x9e3779b97f4a7c15ull;
  }
  return v;
}

// Maps the file at `path` (or open at fd_in >= 0, closed after) and
// returns its headers in h: a program where the kernel likes, or inside
// the window.
// `avoid`: an image already in the window (a program named as the loader,
// FAKECHROOT_ELFLOADER's, that has an interpreter of its own), which the
// new one must not be mapped over.
void load(const char* path, long fd_in, bool in_window, elf::Headers* h, elf::Image* im,
          const elf::Image* avoid = nullptr) {
  long fd = fd_in >= 0 ? fd_in : sc(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(path, ": cannot open it to start it");
  if (elf::read_headers(Sys{}, (int)fd, h) < 0) die(path, ": not an ELF program this machine runs");
  uint64_t at = 0;
  bool fixed = false;
  if (in_window) {
    uint64_t span = h->hi - h->lo;
    uint64_t room = confine::kInterpTop - confine::kWinBase;
    if (span + (2u << 20) > room) die(path, ": too large for the loader's window");
    uint64_t slots = (room - span) >> 21;
    uint64_t slot = random_word() % slots;
    for (uint64_t tries = 0; avoid && avoid->hi > avoid->lo && tries < slots; tries++, slot = (slot + 1) % slots) {
      uint64_t lo = confine::kWinBase + (slot << 21);
      if (lo + span + (2u << 20) <= avoid->lo || lo >= avoid->hi + (2u << 20)) break;
    }
    at = confine::kWinBase + (slot << 21);
    fixed = true;
  }
  if (int e = elf::map(Sys{}, (int)fd, *h, at, fixed, im); e < 0) die(path, ": cannot map it");
  if (g_stub.mode == 'P' && !in_window) {
    // What /proc/self/exe would have named (it names the stub): the
    // library answers with it.
    char self[32] = "/proc/self/fd/";
    int k = 14;
    char d[16];
    int nd = 0;
    long v = fd;
    do d[nd++] = char('0' + v % 10); while ((v /= 10) > 0);
    while (nd) self[k++] = d[--nd];
    self[k] = 0;
    memcpy(g_stub.exe, "COWROOT_EXE=", 12);
    long n = sc(SYS_readlinkat, AT_FDCWD, (long)self, (long)(g_stub.exe + 12), sizeof g_stub.exe - 13);
    if (n > 0 && n < (long)sizeof g_stub.exe - 13) g_stub.exe[12 + n] = 0;
    else g_stub.exe[0] = 0;
  }
  sc(SYS_close, fd);
}

// Makes the root's loader's own host paths (mapped from the file `h`
// describes, at `im`) lead nowhere, before it runs (ldpatch.h).
void neutralise_loader(const elf::Headers& h, const elf::Image& im) {
  // Per segment, one mprotect to make the pages writable and one back
  // (the runs share a segment, read-only data, and mostly a page).
  for (unsigned i = 0; i < h.eh.e_phnum; i++) {
    const Elf64_Phdr& p = h.ph[i];
    // Data only: never code, whatever the offsets say.
    if (p.p_type != PT_LOAD || (p.p_flags & PF_X)) continue;
    char* at[ldpatch::kMaxRuns];
    unsigned count[ldpatch::kMaxRuns];
    int n = 0;
    uint64_t lo = ~0ull, hi = 0;
    uint64_t limit = im.bias + p.p_vaddr + p.p_filesz;
    for (uint32_t run : g_stub.ldruns) {
      if (!run) break;
      uint64_t off = run >> 4;
      if (off < p.p_offset || off >= p.p_offset + p.p_filesz) continue;
      char* s = reinterpret_cast<char*>(im.bias + p.p_vaddr + (off - p.p_offset));
      // The very strings, whole in the segment: a loader replaced since it
      // was read (or another file named like one) is left alone.
      size_t wl = 0;
      const char* want = ldpatch::expected(run & 15, &wl);
      if (!want || (uint64_t)s + wl > limit || !ldpatch::same(s, want, wl)) continue;
      uint64_t end = (uint64_t)s + wl;
      at[n] = s;
      count[n++] = run & 15;
      if (elf::page_down((uint64_t)s) < lo) lo = elf::page_down((uint64_t)s);
      if (elf::page_up(end) > hi) hi = elf::page_up(end);
    }
    if (!n) continue;
    int prot = elf::prot_of(p.p_flags);
    if (sc(SYS_mprotect, (long)lo, (long)(hi - lo), prot | PROT_WRITE) != 0) continue;
    for (int k = 0; k < n; k++) ldpatch::neutralise(at[k], count[k]);
    sc(SYS_mprotect, (long)lo, (long)(hi - lo), prot);
  }
}

// What the kernel set for this process's memory (binfmt_elf: code from the
// executable segments, data up to the last segment's file end, the break
// where it starts, the stack at argc), computed from the stub's own program
// headers, as it loaded them, before anything moves the break.
void note_memory(long* sp, char** argv, char** envp, char** env_end) {
  auto* av = reinterpret_cast<uint64_t*>(env_end + 1);
  const Elf64_Phdr* ph = nullptr;
  uint64_t phnum = 0;
  for (; av[0] != AT_NULL; av += 2) {
    if (av[0] == AT_PHDR) ph = reinterpret_cast<const Elf64_Phdr*>(av[1]);
    if (av[0] == AT_PHNUM) phnum = av[1];
  }
  if (!ph) return;
  uint64_t start_code = ~0ull, end_code = 0, start_data = 0, end_data = 0;
  for (uint64_t i = 0; i < phnum; i++) {
    if (ph[i].p_type != PT_LOAD) continue;
    uint64_t k = ph[i].p_vaddr;
    if ((ph[i].p_flags & PF_X) && k < start_code) start_code = k;
    if (start_data < k) start_data = k;
    k += ph[i].p_filesz;
    if ((ph[i].p_flags & PF_X) && end_code < k) end_code = k;
    if (end_data < k) end_data = k;
  }
  long brk = sc(SYS_brk, 0);
  if (start_code == ~0ull || brk <= 0 || sp[0] < 1 || !envp[0] || env_end == envp) return;
  g_info.arg_start = (uint64_t)argv[0];
  g_info.env_start = (uint64_t)envp[0];
  g_info.env_end = (uint64_t)(env_end[-1] + len(env_end[-1]) + 1);
  g_info.start_code = start_code;
  g_info.end_code = end_code;
  g_info.start_data = start_data;
  g_info.end_data = end_data;
  g_info.start_brk = (uint64_t)brk;
  g_info.start_stack = (uint64_t)sp;
}

// The kernel's copy of the auxiliary vector (/proc/PID/auxv, where a
// debugger, attached or starting the program, finds its entry and headers
// and the interpreter's base) becomes the new program's. When a debugger
// started it (confine.h, StubInfo::tracer), the process then stops itself
// for the tracer's library, which hands its debugger the exec stop here:
// the program and its interpreter mapped, not yet run, as after the
// kernel's exec. A program the root's loader loads itself ('L') is shown
// by the library, once the loader has mapped it; cowroot's own ('H') as
// it is, to a debugger only.
void show_program(long* sp) {
  prctl_mm_map m{};
  if (g_stub.mode == 'P' && confine::memory_of(g_info, &m)) {
    char** p = reinterpret_cast<char**>(sp + 1 + sp[0] + 1);
    while (*p) p++;
    auto* av = reinterpret_cast<uint64_t*>(p + 1);
    size_t n = 0;
    while (av[n] != AT_NULL) n += 2;
    m.brk = (uint64_t)sc(SYS_brk, 0);
    m.auxv = reinterpret_cast<__u64*>(av);
    m.auxv_size = (uint32_t)((n + 2) * sizeof(uint64_t));
    m.exe_fd = (uint32_t)-1;
    sc(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, (long)&m, sizeof m);
  }
  if (g_info.tracer != confine::kTraced) return;
  g_info.tracer = confine::kReleased;
  asm volatile("int3" ::: "memory");
}

}  // namespace

extern "C" [[noreturn]] void cr_stub_main(long* sp) {
  long argc = sp[0];
  char** argv = reinterpret_cast<char**>(sp + 1);
  char** envp = argv + argc + 1;
  char** e = envp;
  const char* want = nullptr;
  for (; *e; e++)
    if (starts(*e, confine::kStubEnv)) want = *e + confine::kStubEnvLen;
  note_memory(sp, argv, envp, e);
  // MODE[@RUN,RUN…](:PATH|#FD): RUN (hex) where the loader's own host
  // paths are (ldpatch.h).
  const char* sep = want && want[0] ? want + 1 : nullptr;
  if (sep && *sep == '@' && (want[0] == 'L' || want[0] == 'H')) sep = ldpatch::get_runs(sep + 1, g_stub.ldruns);
  if (!sep || (*sep != ':' && *sep != '#') || (want[0] != 'L' && want[0] != 'P' && want[0] != 'H'))
    die("cowroot-stub: started outside cowroot (it runs the programs of a confined session)");
  g_stub.mode = want[0];
  g_info.mode = g_stub.mode;
  const char* path = sep + 1;
  long fd_in = -1;
  if (*sep == '#') {
    fd_in = 0;
    for (const char* q = path; *q >= '0' && *q <= '9'; q++) fd_in = fd_in * 10 + (*q - '0');
    path = argv[0];
  }
  // The process's name, as the kernel would have given it (the library
  // gives it again from COWROOT_COMM when it starts).
  {
    const char* name = nullptr;
    for (char** q = envp; *q && !name; q++)
      if (starts(*q, "COWROOT_COMM=")) name = *q + 13;
    if (!name) {
      name = path;
      for (const char* q = path; *q; q++)
        if (*q == '/') name = q + 1;
    }
    char comm[16] = {};
    for (int i = 0; i < 15 && name[i]; i++) comm[i] = name[i];
    sc(SYS_prctl, 15 /* PR_SET_NAME */, (long)comm);
    memcpy(g_stub.name, comm, sizeof comm);
  }

  KSigaction sa{};
  sa.handler = reinterpret_cast<void*>(&on_sigsys);
  sa.flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | kSaRestorer;
  sa.restorer = reinterpret_cast<void*>(&cr_stub_restorer);
  sc(SYS_rt_sigaction, SIGSYS, (long)&sa, 0, 8);
  // The window, reserved: nothing else lands in it.
  // (Reserved address space counts against ulimit -v: under a limit that
  // leaves no room for it, nothing of the program could run; said so.)
  if (sc(SYS_mmap, (long)confine::kWinBase, (long)(confine::kInterpTop - confine::kWinBase), PROT_NONE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0) == -ENOMEM)
    die("cannot confine a program under this ulimit -v: the confinement reserves about 1 GiB of address space ",
        "(raise the limit, or COWROOT_CONFINE=0 runs the session unconfined)");

  // One set of headers at a time: the stub's stack stays within a page.
  elf::Headers h;
  elf::Image main_im{}, interp_im{};
  load(path, fd_in, g_stub.mode == 'L', &h, &main_im);
  if (g_stub.mode == 'L') neutralise_loader(h, main_im);
  uint64_t entry = main_im.entry, base = 0;
  if (h.interp[0]) {
    char interp[sizeof h.interp];
    memcpy(interp, h.interp, sizeof interp);
    load(interp, -1, true, &h, &interp_im, g_stub.mode == 'L' ? &main_im : nullptr);
    entry = interp_im.entry;
    base = interp_im.lo;
    if (g_stub.mode == 'P') g_stub.main_lo = main_im.lo, g_stub.main_hi = main_im.hi, g_stub.main_name = path;
  } else if (g_stub.mode == 'P') {
    die(path, ": static program: cannot confine it");
  }
  if (g_stub.mode != 'P') g_stub.exe[0] = 0;

  // The kernel's stack becomes the program's, in place: the environment
  // without our variable (its slot takes the program's name, COWROOT_EXE,
  // when the stub found it), the auxiliary vector of the new program.
  elf::rewrite_stack(
      sp, [](const char* v) { return !starts(v, confine::kStubEnv) && !(g_stub.exe[0] && starts(v, "COWROOT_EXE=")); },
      g_stub.exe[0] ? g_stub.exe : nullptr, main_im, base, path);
  if (g_stub.mode != 'L') show_program(sp);
  elf::jump(entry, sp);
}

// The gate: the one system call instruction the library's core uses in a
// confined process, at the window's fixed address (first in the stub).
asm(".section .crgate,\"ax\",@progbits\n.globl cr_gate\ncr_gate:\n syscall\n ret\n.previous\n");

asm(".text\n.globl _start\n.type _start,@function\n_start:\n xor %ebp, %ebp\n mov %rsp, %rdi\n and $-16, %rsp\n"
    " call cr_stub_main\n hlt\n");
