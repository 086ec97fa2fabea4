// User and group lookups inside a root. glibc's NSS opens /etc/passwd,
// /etc/group and /etc/shadow with its internal open, out of our reach, so a
// root's programs would see the host's users. Inside a root these wrappers
// read the root's files instead (glibc's own fget*ent_r parsers on files
// opened through the resolver). Without a root they hand over to glibc.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <shadow.h>
#include <sys/stat.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../core/confine.h"
#include "../core/resolve.h"
#include "../core/sys.h"
#include "wrap.h"

using namespace cr;
using cr::wrap::ensure;
using cr::wrap::real;

namespace {

FILE* open_in_root(const char* inside) {
  Resolved r;
  if (int e = resolve(AT_FDCWD, inside, kFollow, &r)) {
    errno = -e;
    return nullptr;
  }
  using fopen_fn = FILE* (*)(const char*, const char*);
  static auto fn = real<fopen_fn>("fopen");
  return fn(r.path, "re");
}

// One lookup pass over a file: Next(file, ent, buf, len, &res) is
// fget*ent_r; Match decides. Returns 0 (found or not: *result says) or an
// errno value (ERANGE: the caller's buffer is too small).
template <typename Ent, typename Next, typename Match>
int lookup(const char* file, Next next, Match match, Ent* ent, char* buf, size_t len, Ent** result) {
  *result = nullptr;
  FILE* f = open_in_root(file);
  if (!f) return errno == ENOENT ? 0 : errno;
  Ent* r;
  int e;
  while ((e = next(f, ent, buf, len, &r)) == 0) {
    if (match(r)) {
      *result = r;
      break;
    }
  }
  fclose(f);
  if (e == ERANGE) return ERANGE;
  return 0;
}

// Static results for the non-reentrant calls, grown as entries need.
template <typename Ent>
struct Static {
  Ent ent;
  char buf[16384];
};

template <typename Ent, typename Fn>
Ent* static_result(Static<Ent>& s, Fn fn) {
  Ent* r = nullptr;
  int e = fn(&s.ent, s.buf, sizeof s.buf, &r);
  if (e) errno = e;
  return r;
}

Static<passwd> g_pw;
Static<group> g_gr;
Static<spwd> g_sp;
FILE* g_pwent = nullptr;
FILE* g_grent = nullptr;
FILE* g_spent = nullptr;
int g_lock_fd = -1;

// The databases the root's nsswitch.conf may hand to modules of its own.
enum Db { kPasswd, kGroup, kShadow, kDbs };

// Whether glibc's own NSS serves database `db` here: in a confined process
// (its opens of the root's files and its modules' loading are the root's)
// whose root's /etc/nsswitch.conf names a source other than `files` for it
// (extrausers, ldap, sss, systemd, compat). Read again when the file
// changes (one statx a lookup).
bool glibc_serves(Db db) {
  if (!g_confine.active) return false;
  static struct {
    uint64_t ino = 0, size = 0;
    int64_t sec = 0;
    uint32_t nsec = 0;
    bool valid = false, others[kDbs] = {};
  } seen;
  Resolved r;
  struct statx sx;
  if (resolve(AT_FDCWD, "/etc/nsswitch.conf", kFollow, &r) != 0 ||
      sys::raw(SYS_statx, r.dirfd, (long)r.path, 0, STATX_BASIC_STATS, (long)&sx) != 0)
    return false;
  if (seen.valid && seen.ino == sx.stx_ino && seen.size == sx.stx_size && seen.sec == sx.stx_mtime.tv_sec &&
      seen.nsec == sx.stx_mtime.tv_nsec)
    return seen.others[db];
  bool others[kDbs] = {};
  long fd = sys::raw(SYS_openat, r.dirfd, (long)r.path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[16384];
  size_t n = 0;
  for (long got; n < sizeof text - 1 && (got = sys::raw(SYS_read, fd, (long)(text + n), sizeof text - 1 - n)) > 0;)
    n += (size_t)got;
  sys::raw(SYS_close, fd);
  text[n] = 0;
  static const char* const kNames[kDbs] = {"passwd", "group", "shadow"};
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    if (char* hash = strchr(line, '#')) *hash = 0;
    char* colon = strchr(line, ':');
    if (!colon) continue;
    *colon = 0;
    char* name = line + strspn(line, " \t");
    name[strcspn(name, " \t")] = 0;
    for (int d = 0; d < kDbs; d++) {
      if (strcmp(name, kNames[d]) != 0) continue;
      // Each source but files, [actions] left out.
      for (char* t = colon + 1; *(t += strspn(t, " \t"));) {
        size_t tl = strcspn(t, " \t");
        if (*t == '[') tl = strcspn(t, "]") + (t[strcspn(t, "]")] ? 1 : 0);
        else if (!(tl == 5 && strncmp(t, "files", 5) == 0)) others[d] = true;
        t += tl;
      }
    }
  }
  seen.ino = sx.stx_ino;
  seen.size = sx.stx_size;
  seen.sec = sx.stx_mtime.tv_sec;
  seen.nsec = sx.stx_mtime.tv_nsec;
  memcpy(seen.others, others, sizeof others);
  seen.valid = true;
  return others[db];
}

}  // namespace

#define NEXT_PW [](FILE* f, passwd* p, char* b, size_t l, passwd** r) { return fgetpwent_r(f, p, b, l, r); }
#define NEXT_GR [](FILE* f, group* g, char* b, size_t l, group** r) { return fgetgrent_r(f, g, b, l, r); }
#define NEXT_SP [](FILE* f, spwd* s, char* b, size_t l, spwd** r) { return fgetspent_r(f, s, b, l, r); }

// ---- passwd ----------------------------------------------------------------
EXPORT int getpwnam_r(const char* name, passwd* pw, char* buf, size_t len, passwd** res) {
  ensure();
  using fn_t = int (*)(const char*, passwd*, char*, size_t, passwd**);
  static auto fn = real<fn_t>("getpwnam_r");
  if (!g_root.active || glibc_serves(kPasswd)) return fn(name, pw, buf, len, res);
  return lookup<passwd>("/etc/passwd", NEXT_PW, [&](passwd* p) { return !strcmp(p->pw_name, name); }, pw, buf, len, res);
}
EXPORT int getpwuid_r(uid_t uid, passwd* pw, char* buf, size_t len, passwd** res) {
  ensure();
  using fn_t = int (*)(uid_t, passwd*, char*, size_t, passwd**);
  static auto fn = real<fn_t>("getpwuid_r");
  if (!g_root.active || glibc_serves(kPasswd)) return fn(uid, pw, buf, len, res);
  return lookup<passwd>("/etc/passwd", NEXT_PW, [&](passwd* p) { return p->pw_uid == uid; }, pw, buf, len, res);
}
EXPORT passwd* getpwnam(const char* name) {
  ensure();
  using fn_t = passwd* (*)(const char*);
  static auto fn = real<fn_t>("getpwnam");
  if (!g_root.active || glibc_serves(kPasswd)) return fn(name);
  return static_result(g_pw, [&](passwd* p, char* b, size_t l, passwd** r) { return getpwnam_r(name, p, b, l, r); });
}
EXPORT passwd* getpwuid(uid_t uid) {
  ensure();
  using fn_t = passwd* (*)(uid_t);
  static auto fn = real<fn_t>("getpwuid");
  if (!g_root.active || glibc_serves(kPasswd)) return fn(uid);
  return static_result(g_pw, [&](passwd* p, char* b, size_t l, passwd** r) { return getpwuid_r(uid, p, b, l, r); });
}
EXPORT void setpwent() {
  ensure();
  using fn_t = void (*)();
  static auto fn = real<fn_t>("setpwent");
  if (!g_root.active || glibc_serves(kPasswd)) return fn();
  if (g_pwent) rewind(g_pwent);
}
EXPORT void endpwent() {
  ensure();
  using fn_t = void (*)();
  static auto fn = real<fn_t>("endpwent");
  if (!g_root.active || glibc_serves(kPasswd)) return fn();
  if (g_pwent) fclose(g_pwent);
  g_pwent = nullptr;
}
EXPORT int getpwent_r(passwd* pw, char* buf, size_t len, passwd** res) {
  ensure();
  using fn_t = int (*)(passwd*, char*, size_t, passwd**);
  static auto fn = real<fn_t>("getpwent_r");
  if (!g_root.active || glibc_serves(kPasswd)) return fn(pw, buf, len, res);
  if (!g_pwent && !(g_pwent = open_in_root("/etc/passwd"))) return *res = nullptr, ENOENT;
  return fgetpwent_r(g_pwent, pw, buf, len, res);
}
EXPORT passwd* getpwent() {
  ensure();
  using fn_t = passwd* (*)();
  static auto fn = real<fn_t>("getpwent");
  if (!g_root.active || glibc_serves(kPasswd)) return fn();
  return static_result(g_pw, [&](passwd* p, char* b, size_t l, passwd** r) { return getpwent_r(p, b, l, r); });
}

// ---- group -----------------------------------------------------------------
EXPORT int getgrnam_r(const char* name, group* gr, char* buf, size_t len, group** res) {
  ensure();
  using fn_t = int (*)(const char*, group*, char*, size_t, group**);
  static auto fn = real<fn_t>("getgrnam_r");
  if (!g_root.active || glibc_serves(kGroup)) return fn(name, gr, buf, len, res);
  return lookup<group>("/etc/group", NEXT_GR, [&](group* g) { return !strcmp(g->gr_name, name); }, gr, buf, len, res);
}
EXPORT int getgrgid_r(gid_t gid, group* gr, char* buf, size_t len, group** res) {
  ensure();
  using fn_t = int (*)(gid_t, group*, char*, size_t, group**);
  static auto fn = real<fn_t>("getgrgid_r");
  if (!g_root.active || glibc_serves(kGroup)) return fn(gid, gr, buf, len, res);
  return lookup<group>("/etc/group", NEXT_GR, [&](group* g) { return g->gr_gid == gid; }, gr, buf, len, res);
}
EXPORT group* getgrnam(const char* name) {
  ensure();
  using fn_t = group* (*)(const char*);
  static auto fn = real<fn_t>("getgrnam");
  if (!g_root.active || glibc_serves(kGroup)) return fn(name);
  return static_result(g_gr, [&](group* g, char* b, size_t l, group** r) { return getgrnam_r(name, g, b, l, r); });
}
EXPORT group* getgrgid(gid_t gid) {
  ensure();
  using fn_t = group* (*)(gid_t);
  static auto fn = real<fn_t>("getgrgid");
  if (!g_root.active || glibc_serves(kGroup)) return fn(gid);
  return static_result(g_gr, [&](group* g, char* b, size_t l, group** r) { return getgrgid_r(gid, g, b, l, r); });
}
EXPORT void setgrent() {
  ensure();
  using fn_t = void (*)();
  static auto fn = real<fn_t>("setgrent");
  if (!g_root.active || glibc_serves(kGroup)) return fn();
  if (g_grent) rewind(g_grent);
}
EXPORT void endgrent() {
  ensure();
  using fn_t = void (*)();
  static auto fn = real<fn_t>("endgrent");
  if (!g_root.active || glibc_serves(kGroup)) return fn();
  if (g_grent) fclose(g_grent);
  g_grent = nullptr;
}
EXPORT int getgrent_r(group* gr, char* buf, size_t len, group** res) {
  ensure();
  using fn_t = int (*)(group*, char*, size_t, group**);
  static auto fn = real<fn_t>("getgrent_r");
  if (!g_root.active || glibc_serves(kGroup)) return fn(gr, buf, len, res);
  if (!g_grent && !(g_grent = open_in_root("/etc/group"))) return *res = nullptr, ENOENT;
  return fgetgrent_r(g_grent, gr, buf, len, res);
}
EXPORT group* getgrent() {
  ensure();
  using fn_t = group* (*)();
  static auto fn = real<fn_t>("getgrent");
  if (!g_root.active || glibc_serves(kGroup)) return fn();
  return static_result(g_gr, [&](group* g, char* b, size_t l, group** r) { return getgrent_r(g, b, l, r); });
}
EXPORT int getgrouplist(const char* user, gid_t group_id, gid_t* groups, int* ngroups) {
  ensure();
  using fn_t = int (*)(const char*, gid_t, gid_t*, int*);
  static auto fn = real<fn_t>("getgrouplist");
  if (!g_root.active || glibc_serves(kGroup)) return fn(user, group_id, groups, ngroups);
  int n = 0, cap = *ngroups;
  auto add = [&](gid_t g) {
    for (int i = 0; i < n && i < cap; i++)
      if (groups[i] == g) return;
    if (n < cap) groups[n] = g;
    n++;
  };
  add(group_id);
  FILE* f = open_in_root("/etc/group");
  if (f) {
    group g, *r;
    char buf[16384];
    while (fgetgrent_r(f, &g, buf, sizeof buf, &r) == 0)
      for (char** m = g.gr_mem; m && *m; m++)
        if (!strcmp(*m, user)) add(g.gr_gid);
    fclose(f);
  }
  *ngroups = n;
  return n > cap ? -1 : n;
}

// ---- shadow ----------------------------------------------------------------
EXPORT int getspnam_r(const char* name, spwd* sp, char* buf, size_t len, spwd** res) {
  ensure();
  using fn_t = int (*)(const char*, spwd*, char*, size_t, spwd**);
  static auto fn = real<fn_t>("getspnam_r");
  if (!g_root.active || glibc_serves(kShadow)) return fn(name, sp, buf, len, res);
  return lookup<spwd>("/etc/shadow", NEXT_SP, [&](spwd* s) { return !strcmp(s->sp_namp, name); }, sp, buf, len, res);
}
EXPORT spwd* getspnam(const char* name) {
  ensure();
  using fn_t = spwd* (*)(const char*);
  static auto fn = real<fn_t>("getspnam");
  if (!g_root.active || glibc_serves(kShadow)) return fn(name);
  return static_result(g_sp, [&](spwd* s, char* b, size_t l, spwd** r) { return getspnam_r(name, s, b, l, r); });
}
EXPORT void setspent() {
  ensure();
  using fn_t = void (*)();
  static auto fn = real<fn_t>("setspent");
  if (!g_root.active || glibc_serves(kShadow)) return fn();
  if (g_spent) rewind(g_spent);
}
EXPORT void endspent() {
  ensure();
  using fn_t = void (*)();
  static auto fn = real<fn_t>("endspent");
  if (!g_root.active || glibc_serves(kShadow)) return fn();
  if (g_spent) fclose(g_spent);
  g_spent = nullptr;
}
EXPORT spwd* getspent() {
  ensure();
  using fn_t = spwd* (*)();
  static auto fn = real<fn_t>("getspent");
  if (!g_root.active || glibc_serves(kShadow)) return fn();
  if (!g_spent && !(g_spent = open_in_root("/etc/shadow"))) return nullptr;
  return static_result(g_sp, [&](spwd* s, char* b, size_t l, spwd** r) { return fgetspent_r(g_spent, s, b, l, r); });
}

// ---- the password file lock ------------------------------------------------
EXPORT int lckpwdf() {
  ensure();
  using fn_t = int (*)();
  static auto fn = real<fn_t>("lckpwdf");
  if (!g_root.active) return fn();
  if (g_lock_fd >= 0) return 0;
  // Through the open wrapper: resolved inside, and a lock file shared with
  // a clone's base gets the clone's own copy before it is opened for write.
  int fd = open("/etc/.pwd.lock", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  struct flock fl{};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  for (int i = 0; i < 150; i++) {  // glibc waits 15 s
    if (sys::raw(SYS_fcntl, fd, F_SETLK, (long)&fl) == 0) {
      g_lock_fd = (int)fd;
      return 0;
    }
    usleep(100000);
  }
  sys::raw(SYS_close, fd);
  errno = EAGAIN;
  return -1;
}
EXPORT int ulckpwdf() {
  ensure();
  using fn_t = int (*)();
  static auto fn = real<fn_t>("ulckpwdf");
  if (!g_root.active) return fn();
  if (g_lock_fd < 0) return -1;
  sys::raw(SYS_close, g_lock_fd);
  g_lock_fd = -1;
  return 0;
}
