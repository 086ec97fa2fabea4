// glibc's gconv modules inside a root. glibc reads its gconv configuration
// from the cache iconvconfig wrote (GCONV_MODULES_CACHE, opened by libc's
// own code: a trapped call, so the root's file), then loads each module
// with its internal dlopen by the directory the cache names and the
// module's file name: "/usr/lib/x86_64-linux-gnu/gconv/" "UTF-16.so". The
// loader opens that on the host (its calls pass, with host paths), so a
// root's program would run the host's module in the root's glibc. libc's
// open of the cache is given instead a copy (a memfd) whose directories
// are the host paths they have in the root; glibc maps or reads it like
// the file. So are its opens of the configuration files it reads instead
// (GCONV_PATH set, or no cache), with each module named by its host path.
// Nothing allocated: this runs in the trap's handler.
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

// The configuration glibc reads instead of the cache (GCONV_PATH set, or
// no cache): "X/gconv-modules" and "X/gconv-modules.d/NAME.conf" each name
// their modules relative to X/, or absolutely: both inside paths, which the
// loader would open on the host. The length of X/ in `p`, or 0 for a name
// that is neither.
size_t conf_dir_len(const char* p) {
  size_t l = strlen(p);
  constexpr char kFile[] = "/gconv-modules", kDir[] = "/gconv-modules.d/", kExt[] = ".conf";
  if (ends_with(p, kFile)) return l - (sizeof kFile - 2);
  const char* slash = strrchr(p, '/');
  size_t dl = sizeof kDir - 1;
  if (!slash || (size_t)(slash + 1 - p) < dl || strlen(slash + 1) <= sizeof kExt - 1 || !ends_with(slash, kExt) ||
      memcmp(slash + 1 - dl, kDir, dl) != 0)
    return 0;
  return (size_t)(slash + 1 - dl - p) + 1;
}

bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// Output in chunks to the memfd: the configuration can be any size.
struct Out {
  long fd;
  char* buf;
  size_t cap, n = 0;
  bool ok = true;
  uint64_t written = 0;
  void flush() {
    // A memfd's writes count against the program's ulimit -f: past it, no
    // copy (and no SIGXFSZ), and the root's file is read as it is.
    if (ok && n && !sys::fits_file_limit(written + n)) ok = false;
    written += n;
    for (size_t put = 0; ok && put < n;) {
      long w = sys::raw(SYS_write, fd, (long)(buf + put), (long)(n - put));
      if (w <= 0) ok = false;
      else put += (size_t)w;
    }
    n = 0;
  }
  void put(const char* s, size_t len) {
    while (ok && len) {
      if (n == cap) flush();
      size_t k = len < cap - n ? len : cap - n;
      memcpy(buf + n, s, k);
      n += k, s += k, len -= k;
    }
  }
};

// The module file a "module" line names (glibc's add_module: relative to
// the directory, ".so" added when it lacks it), as the host path it has in
// the root: the whole name where it resolves, else its directory's host
// path and the rest. False when neither can be had.
bool module_host(const char* dir, size_t dir_len, const char* name, size_t len, Out* out) {
  PathBuf inside;
  size_t at = name[0] == '/' ? 0 : dir_len;
  bool ext = len >= 3 && memcmp(name + len - 3, ".so", 3) == 0;
  if (at + len + 4 > sizeof inside) return false;
  memcpy(inside, dir, at);
  memcpy(inside + at, name, len);
  memcpy(inside + at + len, ".so", ext ? 0 : 3);
  inside[at + len + (ext ? 0 : 3)] = 0;
  Resolved r;
  if (!resolve(AT_FDCWD, inside, kFollow, &r) && r.dirfd == AT_FDCWD && r.path[0] == '/') {
    out->put(r.path, strlen(r.path));
    return true;
  }
  char* slash = strrchr(inside, '/');
  if (slash == inside) return false;
  *slash = 0;
  if (resolve(AT_FDCWD, inside, kFollow, &r) || r.dirfd != AT_FDCWD || r.path[0] != '/') return false;
  out->put(r.path, strlen(r.path));
  *slash = '/';
  out->put(slash, strlen(slash));
  return true;
}

// Copies the configuration in buf to out with each "module" line's file
// name given as its host path (the line otherwise as it was).
bool translate_conf(const char* buf, size_t size, const char* dir, size_t dir_len, Out* out) {
  for (size_t s = 0; s < size;) {
    const char* nl = static_cast<const char*>(memchr(buf + s, '\n', size - s));
    size_t e = nl ? (size_t)(nl - buf) + 1 : size;
    // What glibc reads of the line: up to a '#' (or its end).
    const char* hash = static_cast<const char*>(memchr(buf + s, '#', e - s));
    size_t end = hash ? (size_t)(hash - buf) : e;
    size_t p = s;
    auto skip = [&](bool sp) {
      while (p < end && buf[p] && space(buf[p]) == sp) p++;
    };
    skip(true);
    size_t w = p;
    skip(false);
    if (p - w == 6 && memcmp(buf + w, "module", 6) == 0) {
      skip(true), skip(false);  // from
      skip(true), skip(false);  // to
      skip(true);
      size_t m = p;
      skip(false);
      if (p > m) {
        out->put(buf + s, m - s);
        if (!module_host(dir, dir_len, buf + m, p - m, out)) return false;
        out->put(buf + p, e - p);
        s = e;
        continue;
      }
    }
    out->put(buf + s, e - s);
    s = e;
  }
  return out->ok;
}

}  // namespace

// For libc's own open of its gconv cache (`path`, an inside path ending in
// /gconv/gconv-modules.cache) or of its configuration files (conf_dir_len)
// in a root: a descriptor of the translated copy, or -1 (then the call is
// served as any other: the root's file).
long gconv_open(const char* path, int flags) {
  if (!g_root.active || !path || path[0] != '/' || (flags & O_ACCMODE) != O_RDONLY) return -1;
  bool cache = ends_with(path, "/gconv/gconv-modules.cache");
  size_t dir_len = cache ? 0 : conf_dir_len(path);
  if (!cache && !dir_len) return -1;
  Resolved r;
  if (resolve(AT_FDCWD, path, kFollow, &r) || r.dirfd != AT_FDCWD || r.path[0] != '/') return -1;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)r.path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct statx sx;
  long out = -1;
  size_t max = cache ? kCacheMax : 16 * kCacheMax;
  if (sys::raw(SYS_statx, fd, (long)"", AT_EMPTY_PATH, STATX_SIZE | STATX_TYPE, (long)&sx) == 0 && S_ISREG(sx.stx_mode) &&
      sx.stx_size >= (cache ? sizeof(CacheHeader) : 0) && sx.stx_size <= max) {
    size_t size = (size_t)sx.stx_size;
    // The cache is rewritten in place (its directories appended); the
    // configuration is copied out through a buffer of its own.
    size_t cap = size + (cache ? kMaxDirs * (kHostPathMax + 2) : 0), wcap = cache ? 0 : 64 * 1024;
    long mem = sys::raw(SYS_mmap, 0, (long)(cap + wcap), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem >= 0 || mem < -4095) {
      char* buf = reinterpret_cast<char*>(mem);
      size_t got = 0;
      while (got < size) {
        long n = sys::raw(SYS_pread64, fd, (long)(buf + got), (long)(size - got), (long)got);
        if (n <= 0) break;
        got += (size_t)n;
      }
      long m = got == size && (!cache || translate(buf, &size, cap))
                   ? sys::raw(SYS_memfd_create, (long)(cache ? "gconv-modules.cache" : "gconv-modules"),
                              (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0)
                   : -1;
      if (m >= 0) {
        Out o{m, buf + cap, wcap};
        if (cache) o.buf = buf, o.n = o.cap = size;
        else if (!translate_conf(buf, size, path, dir_len, &o)) o.ok = false;
        o.flush();
        if (o.ok && sys::raw(SYS_lseek, m, 0, SEEK_SET) == 0) out = m;
        else sys::raw(SYS_close, m);
      }
      sys::raw(SYS_munmap, mem, (long)(cap + wcap));
    }
  }
  sys::raw(SYS_close, fd);
  return out;
}

}  // namespace cr::wrap
