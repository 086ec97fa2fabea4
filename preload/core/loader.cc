// The root's ELF interpreter: whether the library can be served through it,
// and which of exec's loader options it takes, learnt once per loader file
// (not per exec) by reading it, never by running it.
//
// A glibc ld.so has its options as strings ("--inhibit-cache", "--argv0")
// in its read-only data, whatever its version: glibc 2.31 (bullseye) has no
// --argv0 (2.33), 2.28 (buster) no --preload (2.30), and musl's loader has
// no --inhibit-cache at all. So the file's bytes answer, and the answer is
// kept per process (four loaders) and handed to new programs in
// COWROOT_LOADERS, keyed by the file's device, inode and change time: the
// statx exec makes of the loader anyway says whether it is still the same.
#include <elf.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "exec.h"
#include "fileid.h"
#include "ldpatch.h"
#include "sys.h"

namespace cr {

namespace {

#if defined(__x86_64__)
constexpr unsigned kOurMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr unsigned kOurMachine = EM_AARCH64;
#endif

// A negative answer is cached too: kLoaderRefused | reason << 8.
constexpr unsigned kLoaderRefused = 1u << 7;
enum Reason : unsigned { kNotElf = 1, kForeign = 2, kNotGlibc = 3, kUnreadable = 4 };

const char* reason_text(unsigned r) {
  switch (r) {
    case kNotElf: return "is not an ELF file";
    case kForeign: return "is for another architecture than this cowroot's";
    case kNotGlibc: return "is not glibc's dynamic loader (a musl root?): the library can only be served by glibc's";
    default: return "cannot be read";
  }
}

struct Entry {
  FileId id;
  unsigned caps;  // 0: empty
  uint32_t runs[ldpatch::kMaxRuns];  // where the loader's own host paths are (ldpatch.h), 0 after the last
};
struct LoaderCache {
  std::atomic<unsigned> seq;
  bool loaded_env;
  unsigned next;
  Entry e[4];
};
constinit LoaderCache g_ld{};

bool same_file(const Entry& e, const struct statx& sx) { return e.caps && e.id == FileId::of(sx); }

void remember(const Entry& ne) {
  unsigned s = g_ld.seq.load(std::memory_order_relaxed);
  if ((s & 1) || !g_ld.seq.compare_exchange_strong(s, s + 1, std::memory_order_acquire)) return;
  std::atomic_thread_fence(std::memory_order_release);
  unsigned slot = 4;
  for (unsigned i = 0; i < 4 && slot == 4; i++)
    if (g_ld.e[i].id.dev == ne.id.dev && g_ld.e[i].id.ino == ne.id.ino) slot = i;  // the same file, changed
  if (slot == 4) slot = g_ld.next++ % 4;
  g_ld.e[slot] = ne;
  g_ld.seq.store(s + 2, std::memory_order_release);
}

bool recall(const struct statx& sx, unsigned* caps, uint32_t* runs) {
  unsigned s = g_ld.seq.load(std::memory_order_acquire);
  if (s & 1) return false;
  unsigned found = 0;
  uint32_t r[ldpatch::kMaxRuns] = {};
  for (const Entry& e : g_ld.e)
    if (same_file(e, sx)) {
      found = e.caps;
      memcpy(r, e.runs, sizeof r);
    }
  std::atomic_thread_fence(std::memory_order_acquire);
  if (g_ld.seq.load(std::memory_order_relaxed) != s || !found) return false;
  *caps = found;
  memcpy(runs, r, sizeof r);
  return true;
}

bool get_hex(const char*& p, uint64_t* v) {
  *v = 0;
  const char* s = p;
  for (; *p; p++) {
    int d = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10 : -1;
    if (d < 0) break;
    *v = *v << 4 | (unsigned)d;
  }
  return p > s && p - s <= 16;
}

// COWROOT_LOADERS=DEV,INO,CSEC,CNSEC,CAPS,RUN,RUN,RUN,RUN;... (hex), from
// the program that started this one.
constexpr int kFields = 5 + ldpatch::kMaxRuns;

void load_env() {
  if (g_ld.loaded_env) return;
  g_ld.loaded_env = true;
  const char* v = getenv("COWROOT_LOADERS");
  while (v && *v) {
    uint64_t f[kFields];
    bool ok = true;
    for (int i = 0; i < kFields && ok; i++) {
      ok = get_hex(v, &f[i]) && (i == kFields - 1 || *v == ',');
      if (ok && i < kFields - 1) v++;
    }
    if (!ok || f[4] == 0 || f[4] > 0xffff) return;
    Entry ne{{f[0], f[1], (int64_t)f[2], (uint32_t)f[3]}, (unsigned)f[4], {}};
    for (int i = 0; i < ldpatch::kMaxRuns; i++) {
      if (f[5 + i] > 0xffffffffu) return;
      ne.runs[i] = (uint32_t)f[5 + i];
    }
    remember(ne);
    if (*v != ';') return;
    v++;
  }
}

// The loader's options, each an option string (between NULs) somewhere in
// the file, and where its own host paths are (ldpatch.h). The file is read
// whole into memory of its own (a file changed meanwhile reads short, where
// a mapping of it would fault), searched, and the memory given back (this
// may run in a vfork child: nothing is left in its parent's memory), once
// per loader file.
unsigned scan(long fd, unsigned* caps, uint32_t* runs) {
  static const struct {
    const char* s;
    size_t n;
  } kOptions[] = {{"\0--library-path", sizeof "\0--library-path"},
                  {"\0--inhibit-cache", sizeof "\0--inhibit-cache"},
                  {"\0--argv0", sizeof "\0--argv0"},
                  {"\0--preload", sizeof "\0--preload"},
                  {"\0--audit", sizeof "\0--audit"},
                  // Since glibc 2.35, whose loader sends lazily bound calls
                  // through its profiling trampoline only for a module that
                  // asks for them (before, for any audit module at all).
                  {"glibc.rtld.dynamic_sort", sizeof "glibc.rtld.dynamic_sort" - 1}};
  long size = sys::raw(SYS_lseek, fd, 0, SEEK_END);
  if (size <= 0 || size > (64l << 20)) return size == 0 ? kNotGlibc : kUnreadable;
  long m = sys::raw(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m < 0 && m > -4096) return kUnreadable;
  char* d = reinterpret_cast<char*>(m);
  long have = 0;
  while (have < size) {
    long n = sys::raw(SYS_pread64, fd, (long)(d + have), size - have, have);
    if (n <= 0) break;
    have += n;
  }
  constexpr int kN = sizeof kOptions / sizeof kOptions[0];
  bool seen[kN];
  for (int k = 0; k < kN; k++) seen[k] = memmem(d, (size_t)have, kOptions[k].s, kOptions[k].n) != nullptr;
  int nr = ldpatch::find_runs(d, (size_t)have, runs, [](const void* p, int c, size_t n) { return memchr(p, c, n); });
  for (int i = nr; i < ldpatch::kMaxRuns; i++) runs[i] = 0;
  sys::raw(SYS_munmap, m, size);
  if (have < size) return kUnreadable;
  if (!seen[0] || !seen[1]) return kNotGlibc;
  *caps = kLoaderGlibc | (seen[2] ? (unsigned)kLoaderArgv0 : 0u) | (seen[3] ? (unsigned)kLoaderPreload : 0u) |
          (seen[4] && seen[5] ? (unsigned)kLoaderAudit : 0u);
  return 0;
}

unsigned inspect(const char* host, unsigned* caps, uint32_t* runs) {
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)host, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return kUnreadable;
  unsigned char id[EI_NIDENT + 4];
  unsigned why;
  if (sys::raw(SYS_pread64, fd, (long)id, sizeof id, 0) != (long)sizeof id || memcmp(id, ELFMAG, SELFMAG) != 0) {
    why = kNotElf;
  } else {
    // e_machine follows e_type, after e_ident, in both classes.
    unsigned machine = id[EI_DATA] == ELFDATA2MSB ? (unsigned)id[EI_NIDENT + 2] << 8 | id[EI_NIDENT + 3]
                                                   : (unsigned)id[EI_NIDENT + 3] << 8 | id[EI_NIDENT + 2];
    if (id[EI_CLASS] != ELFCLASS64 || id[EI_DATA] != ELFDATA2LSB || machine != kOurMachine) why = kForeign;
    else why = scan(fd, caps, runs);
  }
  sys::raw(SYS_close, fd);
  return why;
}

}  // namespace

int loader_caps(const char* host, const struct statx& sx, const char** why, uint32_t* runs_out) {
  load_env();
  unsigned caps = 0;
  uint32_t runs[ldpatch::kMaxRuns] = {};
  if (!recall(sx, &caps, runs)) {
    unsigned r = inspect(host, &caps, runs);
    if (r) caps = kLoaderRefused | r << 8;
    // What could not be read (now: memory, a file changing) is not kept.
    if (r != kUnreadable) {
      Entry ne{FileId::of(sx), caps, {}};
      memcpy(ne.runs, runs, sizeof runs);
      remember(ne);
    }
  }
  if (runs_out) memcpy(runs_out, runs, sizeof runs);
  if (caps & kLoaderRefused) {
    if (why) *why = reason_text(caps >> 8);
    return -1;
  }
  return (int)caps;
}

bool loaders_text(char* out, size_t n) {
  size_t used = 0;
  out[0] = 0;
  unsigned s = g_ld.seq.load(std::memory_order_acquire);
  if (s & 1) return true;  // being written: the new program learns for itself
  for (const Entry& e : g_ld.e) {
    if (!e.caps) continue;
    uint64_t f[kFields] = {e.id.dev, e.id.ino, (uint64_t)e.id.csec, e.id.cnsec, e.caps};
    for (int i = 0; i < ldpatch::kMaxRuns; i++) f[5 + i] = e.runs[i];
    char one[kFields * 17 + 2];
    size_t l = 0;
    for (int i = 0; i < kFields; i++) {
      char d[16];
      int k = 0;
      uint64_t v = f[i];
      do d[k++] = "0123456789abcdef"[v & 15]; while (v >>= 4);
      while (k) one[l++] = d[--k];
      one[l++] = i < kFields - 1 ? ',' : ';';
    }
    if (used + l + 1 > n) break;
    memcpy(out + used, one, l);
    used += l;
  }
  if (used) used--;  // the last ';'
  out[used] = 0;
  std::atomic_thread_fence(std::memory_order_acquire);
  if (g_ld.seq.load(std::memory_order_relaxed) != s) out[0] = 0;
  return true;
}

}  // namespace cr
