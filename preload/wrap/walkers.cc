// Hand-written doors of glibc's walkers (nftw, ftw, glob, scandir): glibc
// runs them with its internal stat and opendir, out of any wrapper's reach.
#include <ftw.h>
#include <glob.h>
#include <pwd.h>
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>

#include "doors.h"

// ---- walkers glibc runs with its internal stat and opendir ---------------
// nftw/ftw: the host walk runs under a thunk that turns each path back into
// an inside path and puts the fake owner and mode on each stat buffer.
namespace {
using nftw_cb = int (*)(const char*, const struct stat*, int, struct FTW*);
using nftw64_cb = int (*)(const char*, const struct stat64*, int, struct FTW*);
using ftw_cb = int (*)(const char*, const struct stat*, int);
CR_TLS void* t_walk_cb;
// The walk's top as the program named it (its own string, alive for the
// walk) and as the host names it, both without trailing slashes, as glibc
// reports the top.
CR_TLS const char* t_inside;
CR_TLS size_t t_inside_len, t_host_len;

size_t trimmed_len(const char* p) {
  size_t l = strlen(p);
  while (l > 1 && p[l - 1] == '/') l--;
  return l;
}

// The path the program should see: its own top, then the walk's tail.
// glibc builds every path from the top we passed it (the host's).
const char* walk_path(const char* host, char* out, size_t n) {
  if (!g_root.active || !t_inside) return host;
  size_t hl = strlen(host);
  if (hl < t_host_len) return host;
  const char* tail = host + (t_host_len == 1 && host[0] == '/' ? 0 : t_host_len);
  size_t tl = strlen(tail);
  size_t il = (tl && t_inside_len == 1 && t_inside[0] == '/') ? 0 : t_inside_len;
  if (il + tl + 1 > n) return host;
  memcpy(out, t_inside, il);
  memcpy(out + il, tail, tl + 1);
  return out;
}

int nftw_thunk(const char* p, const struct stat* sb, int flag, struct FTW* f) {
  cr::wrap::NotPassing program;
  PathBuf buf;
  const char* in = walk_path(p, buf, sizeof buf);
  struct stat st = *sb;
  if (flag != FTW_NS) ops::overlay_stat(&st);
  struct FTW f2 = *f;
  f2.base -= (int)(strlen(p) - strlen(in));
  return reinterpret_cast<nftw_cb>(t_walk_cb)(in, &st, flag, &f2);
}
int ftw_thunk(const char* p, const struct stat* sb, int flag) {
  cr::wrap::NotPassing program;
  PathBuf buf;
  const char* in = walk_path(p, buf, sizeof buf);
  struct stat st = *sb;
  if (flag != FTW_NS) ops::overlay_stat(&st);
  return reinterpret_cast<ftw_cb>(t_walk_cb)(in, &st, flag);
}

template <typename F>
int walk_in_root(const char* dir, void* cb, F&& run) {
  void* saved_cb = t_walk_cb;
  const char* saved_inside = t_inside;
  size_t saved_h = t_host_len, saved_i = t_inside_len;
  const char* host = dir;
  PathBuf hostbuf;
  if (g_root.active && dir && *dir) {
    Resolved r;
    if (int e = resolve(AT_FDCWD, dir, kFollow, &r)) return fail(-e);
    size_t hl = trimmed_len(r.path);
    if (hl >= sizeof hostbuf) return fail(ENAMETOOLONG);
    memcpy(hostbuf, r.path, hl);
    hostbuf[hl] = 0;
    host = hostbuf;
    t_host_len = hl;
    t_inside = dir;
    t_inside_len = trimmed_len(dir);
  } else {
    t_inside = nullptr;
  }
  t_walk_cb = cb;
  int ret = run(host);
  t_walk_cb = saved_cb;
  t_inside = saved_inside;
  t_host_len = saved_h;
  t_inside_len = saved_i;
  return ret;
}
}  // namespace

EXPORT int nftw(const char* dir, nftw_cb fn, int nopen, int flags) {
  ensure();
  using real_t = int (*)(const char*, nftw_cb, int, int);
  static auto rf = real<real_t>("nftw");
  return walk_in_root(dir, (void*)fn, [&](const char* host) { return rf(host, nftw_thunk, nopen, flags); });
}
EXPORT int nftw64(const char* dir, nftw64_cb fn, int nopen, int flags) {
  return nftw(dir, reinterpret_cast<nftw_cb>(fn), nopen, flags);  // one layout on 64-bit
}
EXPORT int ftw(const char* dir, ftw_cb fn, int nopen) {
  ensure();
  using real_t = int (*)(const char*, ftw_cb, int);
  static auto rf = real<real_t>("ftw");
  return walk_in_root(dir, (void*)fn, [&](const char* host) { return rf(host, ftw_thunk, nopen); });
}
EXPORT int ftw64(const char* dir, int (*fn)(const char*, const struct stat64*, int), int nopen) {
  return ftw(dir, reinterpret_cast<ftw_cb>(fn), nopen);
}

// ---- readdir: a device mknod made is one to find -type and ls -----------
// On disk it is a regular file (its type is the fake state's): stat says
// so, but a directory entry's type is the file system's, which find, ls
// and Python's scandir take without a stat. An entry called regular whose
// inode the state records as a device gets that type. The directory's
// device is asked once per directory a thread reads (its DIR and
// descriptor; a stale one only misses).
namespace {
CR_TLS const void* t_dir;
CR_TLS int t_dir_fd = -1;
CR_TLS uint64_t t_dir_dev;

template <class Ent>
void fix_entry_type(DIR* d, Ent* e) {
  if (!e || e->d_type != DT_REG || !g_session.active || !g_state.may_hold_devices()) return;
  int fd = dirfd(d);
  if (t_dir != d || t_dir_fd != fd) {
    struct statx sx;
    if (sys::raw(SYS_statx, fd, (long)"", AT_EMPTY_PATH, STATX_INO, (long)&sx) != 0) return;
    t_dir = d;
    t_dir_fd = fd;
    t_dir_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  }
  if (unsigned char t = ops::faked_entry_type(fd, t_dir_dev, e->d_ino, e->d_name)) e->d_type = t;
}

// libc's `sym` (readdir or readdir64), its entry's type fixed.
template <class Ent>
Ent* next_entry(DIR* d, const char* sym) {
  using fn_t = Ent* (*)(DIR*);
  static auto fn = real<fn_t>(sym);
  Ent* e = fn(d);
  fix_entry_type(d, e);
  return e;
}
}  // namespace

EXPORT struct dirent* readdir(DIR* d) { return next_entry<struct dirent>(d, "readdir"); }
EXPORT struct dirent64* readdir64(DIR* d) { return next_entry<struct dirent64>(d, "readdir64"); }

// glob: glibc's own directory reading would see the host; with
// GLOB_ALTDIRFUNC it calls our opendir/readdir/lstat/stat instead.
EXPORT int glob(const char* pat, int flags, int (*errfn)(const char*, int), glob_t* g) {
  ensure();
  using fn_t = int (*)(const char*, int, int (*)(const char*, int), glob_t*);
  static auto fn = real<fn_t>("glob");
  if (!g_root.active || (flags & GLOB_ALTDIRFUNC)) return fn(pat, flags, errfn, g);
  // ~ and ~user: glibc looks users up with internal calls (the host's
  // passwd); the root's are looked up here, and the pattern is given with
  // the home directory in place.
  PathBuf expanded;
  if ((flags & (GLOB_TILDE | GLOB_TILDE_CHECK)) && pat && pat[0] == '~') {
    const char* rest = strchr(pat, '/');
    size_t nl = rest ? (size_t)(rest - pat - 1) : strlen(pat + 1);
    const char* home = nullptr;
    char user[256], buf[4096];
    passwd pw, *res = nullptr;
    if (nl == 0) {
      home = getenv("HOME");
      if ((!home || !*home) && getpwuid_r(ops::getuid(), &pw, buf, sizeof buf, &res) == 0 && res) home = pw.pw_dir;
    } else if (nl < sizeof user) {
      memcpy(user, pat + 1, nl);
      user[nl] = 0;
      if (getpwnam_r(user, &pw, buf, sizeof buf, &res) == 0 && res) home = pw.pw_dir;
    }
    if (!home && (flags & GLOB_TILDE_CHECK)) return GLOB_NOMATCH;
    if (home && snprintf(expanded, sizeof expanded, "%s%s", home, rest ? rest : "") < (int)sizeof expanded) {
      pat = expanded;
      flags &= ~(GLOB_TILDE | GLOB_TILDE_CHECK);
    }
  }
  g->gl_opendir = reinterpret_cast<void* (*)(const char*)>(&opendir);
  g->gl_readdir = reinterpret_cast<struct dirent* (*)(void*)>(&readdir);
  g->gl_closedir = [](void* d) { closedir(static_cast<DIR*>(d)); };
  g->gl_lstat = reinterpret_cast<int (*)(const char*, struct stat*)>(&lstat);
  g->gl_stat = reinterpret_cast<int (*)(const char*, struct stat*)>(&stat);
  return fn(pat, flags | GLOB_ALTDIRFUNC, errfn, g);
}
EXPORT int glob64(const char* pat, int flags, int (*errfn)(const char*, int), glob64_t* g) {
  return glob(pat, flags, errfn, reinterpret_cast<glob_t*>(g));
}

// scandir opens its directory with glibc's internal opendir.
EXPORT int scandir(const char* p, struct dirent*** l, int (*s)(const struct dirent*),
                   int (*c)(const struct dirent**, const struct dirent**)) {
  ensure();
  using fn_t = int (*)(const char*, struct dirent***, int (*)(const struct dirent*),
                       int (*)(const struct dirent**, const struct dirent**));
  static auto fn = real<fn_t>("scandir");
  RESOLVE_OR(-1, AT_FDCWD, p, kFollow, r);
  return fn(r.path, l, s, c);
}
EXPORT int scandir64(const char* p, struct dirent64*** l, int (*s)(const struct dirent64*),
                     int (*c)(const struct dirent64**, const struct dirent64**)) {
  return scandir(p, reinterpret_cast<struct dirent***>(l), reinterpret_cast<int (*)(const struct dirent*)>(s),
                 reinterpret_cast<int (*)(const struct dirent**, const struct dirent**)>(c));
}
EXPORT int scandirat(int d, const char* p, struct dirent*** l, int (*s)(const struct dirent*),
                     int (*c)(const struct dirent**, const struct dirent**)) {
  ensure();
  using fn_t = int (*)(int, const char*, struct dirent***, int (*)(const struct dirent*),
                       int (*)(const struct dirent**, const struct dirent**));
  static auto fn = real<fn_t>("scandirat");
  RESOLVE_OR(-1, d, p, kFollow, r);
  return fn(r.dirfd, r.path, l, s, c);
}
EXPORT int scandirat64(int d, const char* p, struct dirent64*** l, int (*s)(const struct dirent64*),
                       int (*c)(const struct dirent64**, const struct dirent64**)) {
  return scandirat(d, p, reinterpret_cast<struct dirent***>(l), reinterpret_cast<int (*)(const struct dirent*)>(s),
                   reinterpret_cast<int (*)(const struct dirent**, const struct dirent**)>(c));
}
