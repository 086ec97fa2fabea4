// glibc's gconv modules inside a root. glibc reads its gconv configuration
// from the cache iconvconfig wrote (GCONV_MODULES_CACHE, opened by libc's
// own code: a trapped call, so the root's file), then loads each module
// with its internal dlopen by the directory the cache names and the
// module's file name: "/usr/lib/x86_64-linux-gnu/gconv/" "UTF-16.so". The
// loader opens that on the host (its calls pass, with host paths), so a
// root's program would run the host's module in the root's glibc. libc's
// open of the cache is given instead a copy (a memfd) whose directories
// are the host paths they have in the root; glibc maps or reads it like
// the file. Nothing allocated: this runs in the trap's handler.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstdint>
#include <cstring>

#include "doors.h"

namespace cr::wrap {

namespace {

// iconv/iconvconfig.h, a format glibc has kept since 2001.
using gidx_t = uint16_t;
struct CacheHeader {
  uint32_t magic;
  gidx_t string_offset, hash_offset, hash_size, module_offset, otherconv_offset;
};
struct ModuleEntry {
  gidx_t canonname_offset, fromdir_offset, fromname_offset, todir_offset, toname_offset, extra_offset;
};
constexpr uint32_t kCacheMagic = 0x20010324;
constexpr size_t kCacheMax = 1 << 20;
constexpr int kMaxDirs = 8;

bool ends_with(const char* s, const char* tail) {
  size_t sl = strlen(s), tl = strlen(tail);
  return sl >= tl && memcmp(s + sl - tl, tail, tl) == 0;
}

struct Dirs {
  gidx_t old_off[kMaxDirs];
  gidx_t new_off[kMaxDirs];
  int n = 0;
};

// The translated offset of a directory string at `off` (appending its
// root's host path to buf at *end the first time). False when it cannot be.
bool map_dir(char* buf, size_t* end, size_t cap, size_t strtab, gidx_t off, Dirs* dirs, gidx_t* out) {
  for (int i = 0; i < dirs->n; i++) {
    if (dirs->old_off[i] == off) return *out = dirs->new_off[i], true;
    if (dirs->new_off[i] == off) return *out = off, true;  // a table two entries share, done already
  }
  if (dirs->n == kMaxDirs || strtab + off >= *end) return false;
  const char* dir = buf + strtab + off;
  size_t dl = strnlen(dir, *end - (strtab + off));
  if (dl == 0 || dl == *end - (strtab + off) || dir[0] != '/') return false;
  PathBuf inside;
  if (dl + 1 > sizeof inside) return false;
  memcpy(inside, dir, dl + 1);
  bool slash = inside[dl - 1] == '/';
  if (slash && dl > 1) inside[dl - 1] = 0;
  Resolved r;
  if (resolve(AT_FDCWD, inside, kFollow, &r) || r.dirfd != AT_FDCWD || r.path[0] != '/') return false;
  size_t hl = strlen(r.path);
  size_t at = *end;
  if (at + hl + 2 > cap || at - strtab + hl + 2 > UINT16_MAX) return false;
  memcpy(buf + at, r.path, hl);
  if (slash) buf[at + hl++] = '/';
  buf[at + hl] = 0;
  *end = at + hl + 1;
  dirs->old_off[dirs->n] = off;
  dirs->new_off[dirs->n] = (gidx_t)(at - strtab);
  *out = dirs->new_off[dirs->n++];
  return true;
}

// Rewrites the cache in buf (size bytes, room for cap): true when every
// directory it names could be given its host path.
bool translate(char* buf, size_t* size, size_t cap) {
  if (*size < sizeof(CacheHeader)) return false;
  CacheHeader h;
  memcpy(&h, buf, sizeof h);
  if (h.magic != kCacheMagic || h.string_offset >= *size || h.module_offset >= *size || h.otherconv_offset > *size ||
      h.module_offset > h.otherconv_offset)
    return false;
  size_t strtab = h.string_offset;
  size_t end = *size;
  Dirs dirs;
  size_t nmod = (h.otherconv_offset - h.module_offset) / sizeof(ModuleEntry);
  for (size_t i = 0; i < nmod; i++) {
    ModuleEntry m;
    char* at = buf + h.module_offset + i * sizeof m;
    memcpy(&m, at, sizeof m);
    for (gidx_t* off : {&m.fromdir_offset, &m.todir_offset}) {
      if (strtab + *off >= *size || buf[strtab + *off] == 0) continue;  // "": no module that way
      if (!map_dir(buf, &end, cap, strtab, *off, &dirs, off)) return false;
    }
    // Its other conversions: a list of records, one per destination, each
    // a count then (outname, dir, name) that many times, ended by a count
    // of 0 (gconv_cache.c walks it so).
    for (size_t x = m.extra_offset ? h.otherconv_offset + m.extra_offset - 1 : 0; m.extra_offset;) {
      if (x + sizeof(gidx_t) > *size) return false;
      gidx_t cnt;
      memcpy(&cnt, buf + x, sizeof cnt);
      if (cnt == 0) break;
      for (size_t k = 0; k < cnt; k++) {
        size_t pos = x + sizeof(gidx_t) + k * 3 * sizeof(gidx_t) + sizeof(gidx_t);
        if (pos + sizeof(gidx_t) > *size) return false;
        gidx_t dir;
        memcpy(&dir, buf + pos, sizeof dir);
        if (strtab + dir >= *size || buf[strtab + dir] == 0) continue;
        if (!map_dir(buf, &end, cap, strtab, dir, &dirs, &dir)) return false;
        memcpy(buf + pos, &dir, sizeof dir);
      }
      x += sizeof(gidx_t) + (size_t)cnt * 3 * sizeof(gidx_t);
    }
    memcpy(at, &m, sizeof m);
  }
  *size = end;
  return true;
}

}  // namespace

// For libc's own open of its gconv cache (`path`, an inside path ending in
// /gconv/gconv-modules.cache) in a root: a descriptor of the translated
// copy, or -1 (then the call is served as any other: the root's file).
long gconv_cache_open(const char* path, int flags) {
  if (!g_root.active || !path || path[0] != '/' || !ends_with(path, "/gconv/gconv-modules.cache") ||
      (flags & O_ACCMODE) != O_RDONLY)
    return -1;
  Resolved r;
  if (resolve(AT_FDCWD, path, kFollow, &r) || r.dirfd != AT_FDCWD || r.path[0] != '/') return -1;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)r.path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct statx sx;
  long out = -1;
  if (sys::raw(SYS_statx, fd, (long)"", AT_EMPTY_PATH, STATX_SIZE | STATX_TYPE, (long)&sx) == 0 && S_ISREG(sx.stx_mode) &&
      sx.stx_size >= sizeof(CacheHeader) && sx.stx_size <= kCacheMax) {
    size_t size = (size_t)sx.stx_size;
    size_t cap = size + kMaxDirs * (kHostPathMax + 2);
    long mem = sys::raw(SYS_mmap, 0, (long)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem >= 0 || mem < -4095) {
      char* buf = reinterpret_cast<char*>(mem);
      size_t got = 0;
      while (got < size) {
        long n = sys::raw(SYS_pread64, fd, (long)(buf + got), (long)(size - got), (long)got);
        if (n <= 0) break;
        got += (size_t)n;
      }
      if (got == size && translate(buf, &size, cap)) {
        long m = sys::raw(SYS_memfd_create, (long)"gconv-modules.cache", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
        if (m >= 0) {
          size_t put = 0;
          while (put < size) {
            long n = sys::raw(SYS_write, m, (long)(buf + put), (long)(size - put));
            if (n <= 0) break;
            put += (size_t)n;
          }
          if (put == size && sys::raw(SYS_lseek, m, 0, SEEK_SET) == 0) out = m;
          else sys::raw(SYS_close, m);
        }
      }
      sys::raw(SYS_munmap, mem, (long)cap);
    }
  }
  sys::raw(SYS_close, fd);
  return out;
}

}  // namespace cr::wrap
