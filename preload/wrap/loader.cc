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

#include "doors.h"

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
  return fn(r.path, f);
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

