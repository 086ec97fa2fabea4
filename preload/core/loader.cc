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

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "exec.h"
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
  uint64_t dev, ino;
  int64_t csec;
  uint32_t cnsec;
  unsigned caps;  // 0: empty
};
struct LoaderCache {
  std::atomic<unsigned> seq;
  bool loaded_env;
  unsigned next;
  Entry e[4];
};
constinit LoaderCache g_ld{};

uint64_t dev_of(const struct statx& sx) { return (uint64_t)sx.stx_dev_major << 32 | sx.stx_dev_minor; }

bool same_file(const Entry& e, const struct statx& sx) {
  return e.caps && e.dev == dev_of(sx) && e.ino == sx.stx_ino && e.csec == sx.stx_ctime.tv_sec &&
         e.cnsec == sx.stx_ctime.tv_nsec;
}

void remember(const Entry& ne) {
  unsigned s = g_ld.seq.load(std::memory_order_relaxed);
  if ((s & 1) || !g_ld.seq.compare_exchange_strong(s, s + 1, std::memory_order_acquire)) return;
  std::atomic_thread_fence(std::memory_order_release);
  unsigned slot = 4;
  for (unsigned i = 0; i < 4 && slot == 4; i++)
    if (g_ld.e[i].dev == ne.dev && g_ld.e[i].ino == ne.ino) slot = i;  // the same file, changed
  if (slot == 4) slot = g_ld.next++ % 4;
  g_ld.e[slot] = ne;
  g_ld.seq.store(s + 2, std::memory_order_release);
}

bool recall(const struct statx& sx, unsigned* caps) {
  unsigned s = g_ld.seq.load(std::memory_order_acquire);
  if (s & 1) return false;
  unsigned found = 0;
  for (const Entry& e : g_ld.e)
    if (same_file(e, sx)) found = e.caps;
  std::atomic_thread_fence(std::memory_order_acquire);
  if (g_ld.seq.load(std::memory_order_relaxed) != s || !found) return false;
  *caps = found;
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

// COWROOT_LOADERS=DEV,INO,CSEC,CNSEC,CAPS;... (hex), from the program that started this one.
void load_env() {
  if (g_ld.loaded_env) return;
  g_ld.loaded_env = true;
  const char* v = getenv("COWROOT_LOADERS");
  while (v && *v) {
    uint64_t f[5];
    bool ok = true;
    for (int i = 0; i < 5 && ok; i++) {
      ok = get_hex(v, &f[i]) && (i == 4 || *v == ',');
      if (ok && i < 4) v++;
    }
    if (!ok || f[4] == 0 || f[4] > 0xffff) return;
    remember(Entry{f[0], f[1], (int64_t)f[2], (uint32_t)f[3], (unsigned)f[4]});
    if (*v != ';') return;
    v++;
  }
}

// Whether `needle` (with its NUL) follows a NUL somewhere in the file.
// Reads it through in 16 KiB steps (this may run in a vfork child, on
// its parent's stack), once per loader file.
unsigned scan(long fd, unsigned* caps) {
  static const char* const kOptions[] = {"--library-path", "--inhibit-cache", "--argv0", "--preload"};
  bool seen[4] = {};
  char buf[16384 + 32];
  size_t keep = 0;
  long off = 0;
  for (;;) {
    long n = sys::raw(SYS_pread64, fd, (long)(buf + keep), 16384, off);
    if (n < 0) return kUnreadable;
    if (n == 0) break;
    off += n;
    size_t len = keep + (size_t)n;
    for (int k = 0; k < 4; k++) {
      if (seen[k]) continue;
      size_t kl = strlen(kOptions[k]);
      for (const char* p = buf; (p = static_cast<const char*>(memchr(p, '-', len - (size_t)(p - buf)))) != nullptr; p++) {
        if ((size_t)(p - buf) + kl + 1 > len) break;
        if (p > buf && p[-1] == 0 && memcmp(p, kOptions[k], kl) == 0 && p[kl] == 0) {
          seen[k] = true;
          break;
        }
      }
    }
    // The last bytes go again with the next block: an option may straddle.
    keep = len < 32 ? len : 32;
    memmove(buf, buf + len - keep, keep);
  }
  if (!seen[0] || !seen[1]) return kNotGlibc;
  *caps = kLoaderGlibc | (seen[2] ? (unsigned)kLoaderArgv0 : 0u) | (seen[3] ? (unsigned)kLoaderPreload : 0u);
  return 0;
}

unsigned inspect(const char* host, unsigned* caps) {
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
    else why = scan(fd, caps);
  }
  sys::raw(SYS_close, fd);
  return why;
}

}  // namespace

int loader_caps(const char* host, const struct statx& sx, const char** why) {
  load_env();
  unsigned caps = 0;
  if (!recall(sx, &caps)) {
    unsigned r = inspect(host, &caps);
    if (r) caps = kLoaderRefused | r << 8;
    remember(Entry{dev_of(sx), sx.stx_ino, sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec, caps});
  }
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
    uint64_t f[5] = {e.dev, e.ino, (uint64_t)e.csec, e.cnsec, e.caps};
    char one[5 * 17 + 2];
    size_t l = 0;
    for (int i = 0; i < 5; i++) {
      char d[16];
      int k = 0;
      uint64_t v = f[i];
      do d[k++] = "0123456789abcdef"[v & 15]; while (v >>= 4);
      while (k) one[l++] = d[--k];
      one[l++] = i < 4 ? ',' : ';';
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
