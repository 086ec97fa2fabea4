// Hand-written doors of Unix sockets.
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/netlink.h>
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

#include "../core/confine.h"
#include "../core/hash.h"
#include "../core/perm.h"
#include "doors.h"

// ---- Unix sockets: names are inside paths ---------------------------------
// A name going in (bind, connect, sendto, sendmsg, sendmmsg) is resolved
// inside the root; a name coming back (getsockname, getpeername, accept,
// recvfrom, recvmsg, recvmmsg) is turned back into the inside path. Only
// AF_UNIX path names are touched. Abstract names, unnamed sockets and every
// other family pass as they are, and for them no system call is added: the
// family is checked first on the way in, and on the way out it is only
// known after the call, so a name buffer too small for any Unix name is
// swapped for ours during the call and copied back, the way the kernel
// truncates it.
//
// A host path past sun_path's 108 bytes is reached through
// /proc/self/fd/N/NAME, N a descriptor of its directory. But the kernel
// keeps a bound name as it was given and reports that string to every peer,
// in any process, long after N is closed. So bind goes through a link
// instead: /proc/self/fd/N/K/NAME, N the session's link directory
// (STATE/un), K a link there to the socket's directory, named after its
// hash. Any process of the session reads K back (one readlink, only for
// such names); the daemon removes the links when the session is over.
//
// The send and receive calls go to libc's own functions rather than to raw
// system calls: they are cancellation points, and programs rely on that.
//
// Under --fakechroot, FAKECHROOT_AF_UNIX_PATH=DIR places a name, as
// fakechroot does, at DIR/NAME on the host without resolving it in the
// root; it comes back without DIR.
namespace {
constexpr socklen_t kSunOff = offsetof(sockaddr_un, sun_path);
constexpr size_t kSunPath = sizeof(sockaddr_un::sun_path);
constexpr size_t kLinkNameMax = 10;
constexpr char kLinkChars[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

// A Unix name that is a path: the only kind translated.
inline bool unix_path(const void* a, socklen_t l) {
  return a && l > kSunOff && static_cast<const sockaddr*>(a)->sa_family == AF_UNIX &&
         static_cast<const sockaddr_un*>(a)->sun_path[0] != 0;
}

const char* af_unix_dir() {
  if (!g_session.fakechroot) return nullptr;
  const char* p = getenv("FAKECHROOT_AF_UNIX_PATH");
  return p && *p ? p : nullptr;
}

// Whether a name handed back may need translating (checked before the call).
inline bool names_translated() { return g_root.active || g_session.fakechroot; }

// The session's directory of links for long bound names, STATE/un (made on
// first use): an O_PATH descriptor, or -errno.
int open_link_dir() {
  PathBuf p;
  if (!g_session.state_dir[0] || (size_t)snprintf(p, sizeof p, "%s/un", g_session.state_dir) >= sizeof p)
    return -ENOENT;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)p, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd == -ENOENT) {
    long r = sys::raw(SYS_mkdirat, AT_FDCWD, (long)p, 0700);
    if (r < 0 && r != -EEXIST) return (int)r;
    fd = sys::raw(SYS_openat, AT_FDCWD, (long)p, O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  return (int)fd;
}

// Finds or makes, in the link directory `ld`, the link to `dir`, its name
// (into k) at most `room` characters, from dir's hash: every process finds
// the same one. A name taken by another directory moves on to the next.
bool dir_link(int ld, const char* dir, size_t room, char k[kLinkNameMax + 1]) {
  size_t kl = room < kLinkNameMax ? room : kLinkNameMax;
  size_t dl = strlen(dir);
  if (kl == 0) return false;
  uint64_t h = fnv1a(dir, dl);
  for (int probe = 0; probe < 64; probe++) {
    uint64_t v = fnv1a(&probe, sizeof probe, h);
    for (size_t i = 0; i < kl; i++, v /= 62) k[i] = kLinkChars[v % 62];
    k[kl] = 0;
    for (int tries = 0; tries < 2; tries++) {
      PathBuf cur;
      long n = sys::raw(SYS_readlinkat, ld, (long)k, (long)cur, sizeof cur);
      if (n >= 0) {
        if ((size_t)n == dl && memcmp(cur, dir, dl) == 0) return true;
        break;
      }
      if (n != -ENOENT) return false;
      long r = sys::raw(SYS_symlinkat, (long)dir, ld, (long)k);
      if (r == 0) return true;
      if (r != -EEXIST) return false;
      // Another process made it meanwhile: read it again.
    }
  }
  return false;
}

// An AF_UNIX address as the kernel must see it; the descriptor its name
// goes through, if any, is closed with it.
struct HostAddr {
  sockaddr_un un;
  socklen_t len = 0;
  int fd = -1;
  PathBuf made;  // binding: the host path of the socket file
  HostAddr() { made[0] = 0; }
  HostAddr(const HostAddr&) = delete;
  HostAddr& operator=(const HostAddr&) = delete;
  ~HostAddr() {
    if (fd >= 0) sys::raw(SYS_close, fd);
  }
};

// The path name in the first `len` bytes of a Unix address (which need not
// end in a NUL), into out (kSunPath + 1 bytes), NUL-terminated.
void sun_path_of(const sockaddr* a, socklen_t len, char* out) {
  auto* un = reinterpret_cast<const sockaddr_un*>(a);
  size_t n = strnlen(un->sun_path, std::min<size_t>(len - kSunOff, kSunPath));
  memcpy(out, un->sun_path, n);
  out[n] = 0;
}

// The host address for the program's path name (a, l). `binding`: the name
// is being made, so its last component is not followed, and a long one
// goes through a link any process can read back. Returns 0 or -errno.
int host_addr(const sockaddr* a, socklen_t l, bool binding, HostAddr* h) {
  char inside[kSunPath + 1];
  sun_path_of(a, l, inside);
  PathBuf host;
  size_t hl;
  if (const char* afp = af_unix_dir()) {
    hl = (size_t)snprintf(host, sizeof host, "%s/%s", afp, inside);
  } else {
    Resolved r;
    if (int e = resolve(AT_FDCWD, inside, binding ? 0 : kFollow, &r)) return e;
    hl = (size_t)snprintf(host, sizeof host, "%s", r.path);
  }
  if (hl >= sizeof host) return -ENAMETOOLONG;
  if (binding) memcpy(h->made, host, hl + 1);
  h->un.sun_family = AF_UNIX;
  if (hl <= kSunPath) {  // 108 bytes without a NUL is a name the kernel takes
    memcpy(h->un.sun_path, host, hl);
    if (hl < kSunPath) h->un.sun_path[hl] = 0;
    h->len = (socklen_t)(kSunOff + hl + (hl < kSunPath ? 1 : 0));
    return 0;
  }
  char* slash = strrchr(host, '/');
  if (!slash) return -ENAMETOOLONG;
  *slash = 0;
  const char* dir = slash == host ? "/" : host;
  const char* name = slash + 1;
  size_t nl = hl - (size_t)(name - host);
  char fdp[32];
  if (binding) {
    int ld = open_link_dir();
    if (ld >= 0) {
      size_t pl = sys::proc_fd_path(ld, fdp);
      char k[kLinkNameMax + 1];
      // "/proc/self/fd/N/K/NAME" and its NUL in sun_path
      if (pl + nl + 3 < kSunPath && dir_link(ld, dir, kSunPath - (pl + nl + 3), k)) {
        h->fd = ld;
        int n = snprintf(h->un.sun_path, kSunPath, "%s/%s/%s", fdp, k, name);
        h->len = (socklen_t)(kSunOff + n + 1);
        return 0;
      }
      sys::raw(SYS_close, ld);
    }
    // No link (no session directory, no room): bind works, but peers see
    // the /proc name.
  }
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return (int)fd;
  h->fd = (int)fd;
  size_t pl = sys::proc_fd_path(h->fd, fdp);
  if (pl + 1 + nl >= kSunPath) return -ENAMETOOLONG;
  int n = snprintf(h->un.sun_path, kSunPath, "%s/%s", fdp, name);
  h->len = (socklen_t)(kSunOff + n + 1);
  return 0;
}

// Calls f(addr, len) with the address as the kernel must see it.
template <typename F>
long with_name_in(const sockaddr* a, socklen_t l, bool binding, F&& f) {
  if (!unix_path(a, l)) return f(a, l);
  ensure();
  if (!g_root.active && !af_unix_dir()) return f(a, l);
  HostAddr h;
  if (int e = host_addr(a, l, binding, &h)) return fail(-e);
  long r = f(reinterpret_cast<const sockaddr*>(&h.un), h.len);
  if (r == 0 && h.made[0] == '/') cow_note(AT_FDCWD, h.made);  // a new file in a clone, for its reset
  return r;
}

// A name bind made through a link, "/proc/self/fd/N/K/NAME": the host path
// it stands for, read through the session's link K, into out.
bool linked_host(const char* s, char* out, size_t n) {
  static const char kPre[] = "/proc/self/fd/";
  if (strncmp(s, kPre, sizeof kPre - 1) != 0) return false;
  const char* p = s + sizeof kPre - 1;
  const char* digits = p;
  while (*p >= '0' && *p <= '9') p++;
  if (p == digits || *p != '/') return false;
  const char* k = ++p;
  while (*p && memchr(kLinkChars, *p, sizeof kLinkChars - 1)) p++;
  size_t kl = (size_t)(p - k);
  if (kl == 0 || kl > kLinkNameMax || *p != '/' || !p[1] || strchr(p + 1, '/')) return false;
  PathBuf link;
  if (!g_session.state_dir[0] ||
      (size_t)snprintf(link, sizeof link, "%s/un/%.*s", g_session.state_dir, (int)kl, k) >= sizeof link)
    return false;
  long dl = sys::raw(SYS_readlinkat, AT_FDCWD, (long)link, (long)out, n);
  if (dl <= 0 || (size_t)dl >= n) return false;
  if (dl == 1) dl = 0;  // the directory "/" (another trailing slash is the name's: fakechroot's DIR//NAME)
  size_t rest = strlen(p);       // "/NAME"
  if ((size_t)dl + rest + 1 > n) return false;
  memcpy(out + dl, p, rest + 1);
  return true;
}

// The program's view of a path name the kernel handed back, into out.
// False: the name is to stay as it is.
bool inside_sock_name(const char* name, char* out, size_t n) {
  PathBuf linked;
  const char* host = linked_host(name, linked, sizeof linked) ? linked : name;
  if (const char* afp = af_unix_dir()) {
    size_t al = strlen(afp);
    if (strncmp(host, afp, al) == 0 && host[al] == '/') {
      snprintf(out, n, "%s", host + al + 1);
      return true;
    }
  }
  if (g_root.active && to_inside(host, out, n)) return true;
  if (host != linked) return false;
  snprintf(out, n, "%s", linked);
  return true;
}

// Hands the program the name the kernel wrote at k (kl its whole length,
// `have` bytes of it at k) in its own buffer `user` of `cap` bytes (k may
// be user itself, which then holds any Unix name), translated; *ulen gets
// the whole length, and what does not fit is cut, as the kernel does.
void name_back(const sockaddr* k, socklen_t kl, socklen_t have, sockaddr* user, socklen_t cap, socklen_t* ulen) {
  if (have > kl) have = kl;
  if (have > kSunOff && k->sa_family == AF_UNIX && reinterpret_cast<const sockaddr_un*>(k)->sun_path[0]) {
    char host[kSunPath + 1];
    sun_path_of(k, have, host);
    PathBuf inside;
    if (inside_sock_name(host, inside, sizeof inside)) {
      sockaddr_un t;
      t.sun_family = AF_UNIX;
      size_t il = std::min(strlen(inside), kSunPath);
      memcpy(t.sun_path, inside, il);
      if (il < kSunPath) t.sun_path[il] = 0;
      socklen_t tl = (socklen_t)(kSunOff + il + (il < kSunPath ? 1 : 0));
      memcpy(user, &t, std::min(tl, cap));
      *ulen = tl;
      return;
    }
  }
  if (k != user) memcpy(user, k, std::min(have, cap));
  *ulen = kl;
}

// Calls f(addr, len) where the kernel is to write a name for (a, l), and
// hands the program that name translated. Returns f's result.
template <typename F>
long with_name_out(sockaddr* a, socklen_t* l, F&& f) {
  if (!a || !l || !names_translated()) return f(a, l);
  socklen_t cap = *l;
  if (cap >= sizeof(sockaddr_un)) {
    long r = f(a, l);
    if (r >= 0) name_back(a, *l, std::min(*l, cap), a, cap, l);
    return r;
  }
  // The program's buffer holds less than a Unix name: whatever the family,
  // ours holds all of what the program can be shown.
  sockaddr_un mine;
  socklen_t ml = sizeof mine;
  long r = f(reinterpret_cast<sockaddr*>(&mine), &ml);
  if (r >= 0) name_back(reinterpret_cast<sockaddr*>(&mine), ml, (socklen_t)sizeof mine, a, cap, l);
  return r;
}
}  // namespace

// A Unix path name as the core's operations take it: resolved inside the
// root (not under FAKECHROOT_AF_UNIX_PATH, a host directory of its own).
// False when there is none.
bool unix_name(const sockaddr* a, socklen_t l, bool binding, Resolved* r, int* err) {
  *err = 0;
  if (!unix_path(a, l) || af_unix_dir()) return false;
  char inside[kSunPath + 1];
  sun_path_of(a, l, inside);
  *err = resolve(AT_FDCWD, inside, binding ? 0 : kFollow, r);
  return *err == 0;
}

// The kernel's audit subsystem takes messages only with CAP_AUDIT_WRITE,
// which a fake root lacks: its netlink socket is refused in a session as
// by a kernel built without audit (EPROTONOSUPPORT), which libaudit's
// users (sudo, su, login, useradd) take quietly. With the real socket,
// the first message failed with EPERM and sudo said "unable to send audit
// message" on every run.
EXPORT int socket(int domain, int type, int protocol) {
  ensure();
  if (domain == AF_NETLINK && protocol == NETLINK_AUDIT && g_session.active) return fail(EPROTONOSUPPORT);
  return (int)sys::call(SYS_socket, domain, type, protocol);
}

// The kernel's call, which may wait for the peer: a borrowing trap lets
// its lock go meanwhile (confine.h). libc's convention.
static long waiting_call(long nr, long a, long b, long c, long d = 0) {
  long r = confine::waiting([&] { return confine::socket_may_wait((int)a, 0); },
                            [&] { return sys::raw(nr, a, b, c, d); });
  if (r < 0) {
    errno = (int)-r;
    return -1;
  }
  return r;
}

EXPORT int bind(int fd, const struct sockaddr* a, socklen_t l) {
  ensure();
  Resolved r;
  int err;
  bool named = unix_name(a, l, true, &r, &err);
  if (err) return fail(-err);
  if (named)
    if (int e = ops::unix_bind_check(r)) return fail(-e);
  int rc = (int)with_name_in(a, l, true, [&](const sockaddr* x, socklen_t xl) {
    return sys::call(SYS_bind, fd, (long)x, xl);
  });
  // The socket file belongs to its maker, as any new file does.
  if (rc == 0 && named)
    if (int e = ops::unix_bound(r)) return fail(-e);
  return rc;
}
EXPORT int connect(int fd, const struct sockaddr* a, socklen_t l) {
  ensure();
  if (unix_path(a, l) && !dac_free(fs_cred())) {
    Resolved r;
    int err;
    bool named = unix_name(a, l, false, &r, &err);
    if (err) return fail(-err);
    if (named)
      if (int e = ops::unix_connect_check(r)) return fail(-e);
  }
  return (int)with_name_in(a, l, false, [&](const sockaddr* x, socklen_t xl) {
    return waiting_call(SYS_connect, fd, (long)x, xl);
  });
}
EXPORT int getsockname(int fd, struct sockaddr* a, socklen_t* l) {
  ensure();
  return (int)with_name_out(a, l, [&](sockaddr* x, socklen_t* xl) {
    return sys::call(SYS_getsockname, fd, (long)x, (long)xl);
  });
}
EXPORT int getpeername(int fd, struct sockaddr* a, socklen_t* l) {
  ensure();
  return (int)with_name_out(a, l, [&](sockaddr* x, socklen_t* xl) {
    return sys::call(SYS_getpeername, fd, (long)x, (long)xl);
  });
}
EXPORT int accept4(int fd, struct sockaddr* a, socklen_t* l, int flags) {
  ensure();
  return (int)with_name_out(a, l, [&](sockaddr* x, socklen_t* xl) {
    return waiting_call(SYS_accept4, fd, (long)x, (long)xl, flags);
  });
}
EXPORT int accept(int fd, struct sockaddr* a, socklen_t* l) { return accept4(fd, a, l, 0); }

// SO_PEERCRED: a peer of the session (the same real user) shows the fake
// effective ids it was started with, as the kernel shows a peer's ids
// (PostgreSQL's peer authentication, D-Bus): those of its last exec, not of
// a set*id call made since.
EXPORT int getsockopt(int fd, int level, int opt, void* v, socklen_t* l) {
  ensure();
  long r = sys::call(SYS_getsockopt, fd, level, opt, (long)v, (long)l);
  if (r == 0 && level == SOL_SOCKET && opt == SO_PEERCRED && v && l && *l >= sizeof(ucred)) {
    auto* c = static_cast<ucred*>(v);
    char u[16], g[16];
    if (c->uid == g_session.real_uid && c->pid > 0 && initial_env(c->pid, "FAKEROOTEUID", u, sizeof u) &&
        initial_env(c->pid, "FAKEROOTEGID", g, sizeof g)) {
      c->uid = (uid_t)strtoul(u, nullptr, 10);
      c->gid = (gid_t)strtoul(g, nullptr, 10);
    }
  }
  return (int)r;
}

EXPORT ssize_t sendto(int fd, const void* buf, size_t n, int flags, const struct sockaddr* a, socklen_t l) {
  using fn_t = ssize_t (*)(int, const void*, size_t, int, const struct sockaddr*, socklen_t);
  static auto fn = real<fn_t>("sendto");
  return with_name_in(a, l, false, [&](const sockaddr* x, socklen_t xl) { return fn(fd, buf, n, flags, x, xl); });
}
namespace {

bool is_creds(const cmsghdr* c) {
  return c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred));
}

bool has_creds(const msghdr* m) {
  if (!m || !m->msg_control || m->msg_controllen < sizeof(cmsghdr)) return false;
  for (cmsghdr* c = CMSG_FIRSTHDR(const_cast<msghdr*>(m)); c; c = CMSG_NXTHDR(const_cast<msghdr*>(m), c))
    if (is_creds(c)) return true;
  return false;
}

// Calls f(ucred&) for each SCM_CREDENTIALS message of m's control data
// (which must be writable), and writes back what f leaves.
template <typename F>
void each_creds(msghdr* m, F&& f) {
  if (!has_creds(m)) return;
  for (cmsghdr* c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (!is_creds(c)) continue;
    ucred uc;
    memcpy(&uc, CMSG_DATA(c), sizeof uc);
    f(uc);
    memcpy(CMSG_DATA(c), &uc, sizeof uc);
  }
}

// SCM_CREDENTIALS (a Unix socket's ancillary credentials: sd_notify's,
// Go's syscall.UnixCredentials): a sender names ids of its own, which the
// kernel checks against its real ones. Its fake ids go out as the real ones
// they stand for (in a copy of the header and control data, `copy` and
// `ctl`, when any changes); a receiver sees a session peer's fake ids, as
// for SO_PEERCRED.
const msghdr* creds_out(const msghdr* m, msghdr* copy, char* ctl, size_t cap) {
  if (!has_creds(m) || m->msg_controllen > cap) return m;
  ensure();
  *copy = *m;
  memcpy(ctl, m->msg_control, m->msg_controllen);
  copy->msg_control = ctl;
  const Ids& u = g_session.uid;
  const Ids& g = g_session.gid;
  each_creds(copy, [&](ucred& uc) {
    if (uc.uid == u.r || uc.uid == u.e || uc.uid == u.s) uc.uid = g_session.real_uid;
    if (uc.gid == g.r || uc.gid == g.e || uc.gid == g.s) uc.gid = g_session.real_gid;
  });
  return copy;
}

void creds_in(msghdr* m) {
  if (!has_creds(m)) return;
  long me = sys::raw(SYS_getpid);  // (recvmsg made the session ready)
  each_creds(m, [&](ucred& uc) {
    if (uc.uid != g_session.real_uid || uc.pid <= 0) return;
    char v[16], w[16];
    if (uc.pid == me) {
      uc.uid = g_session.uid.r;
      uc.gid = g_session.gid.r;
    } else if (initial_env(uc.pid, "FAKEROOTUID", v, sizeof v) && initial_env(uc.pid, "FAKEROOTGID", w, sizeof w)) {
      uc.uid = (uid_t)strtoul(v, nullptr, 10);
      uc.gid = (gid_t)strtoul(w, nullptr, 10);
    } else {
      // A sender that has ended since (a zombie's environment cannot be
      // read either): one of the session's, whose ids are not to be had;
      // taken as this process's, never the real user the root hides.
      uc.uid = g_session.uid.r;
      uc.gid = g_session.gid.r;
    }
  });
}

}  // namespace

EXPORT ssize_t sendmsg(int fd, const struct msghdr* m_in, int flags) {
  using fn_t = ssize_t (*)(int, const struct msghdr*, int);
  static auto fn = real<fn_t>("sendmsg");
  msghdr mc;
  alignas(cmsghdr) char ctl[1024];
  const msghdr* m = creds_out(m_in, &mc, ctl, sizeof ctl);
  if (!m || !unix_path(m->msg_name, m->msg_namelen)) return fn(fd, m, flags);
  return with_name_in(static_cast<const sockaddr*>(m->msg_name), m->msg_namelen, false,
                      [&](const sockaddr* x, socklen_t xl) {
                        if (x == m->msg_name) return fn(fd, m, flags);
                        msghdr c = *m;
                        c.msg_name = const_cast<sockaddr*>(x);
                        c.msg_namelen = xl;
                        return fn(fd, &c, flags);
                      });
}
EXPORT int sendmmsg(int fd, struct mmsghdr* v, unsigned int n, int flags) {
  using fn_t = int (*)(int, struct mmsghdr*, unsigned int, int);
  static auto fn = real<fn_t>("sendmmsg");
  unsigned first = 0;
  while (v && first < n && !unix_path(v[first].msg_hdr.msg_name, v[first].msg_hdr.msg_namelen)) first++;
  if (!v || first == n) return fn(fd, v, n, flags);
  ensure();
  if (!g_root.active && !af_unix_dir()) return fn(fd, v, n, flags);
  // In chunks, through copies of the headers with the names translated
  // (a name the message before had too is translated once).
  constexpr unsigned kChunk = 8;
  unsigned sent = 0;
  while (sent < n) {
    unsigned c = std::min(kChunk, n - sent);
    mmsghdr copy[kChunk];
    HostAddr h[kChunk];
    int err = 0;
    for (unsigned j = 0; j < c; j++) {
      copy[j] = v[sent + j];
      msghdr& m = copy[j].msg_hdr;
      if (!unix_path(m.msg_name, m.msg_namelen)) continue;
      const msghdr& prev = v[sent + j - (j ? 1 : 0)].msg_hdr;
      if (j && prev.msg_name && prev.msg_namelen == m.msg_namelen &&
          memcmp(prev.msg_name, m.msg_name, m.msg_namelen) == 0) {
        m.msg_name = copy[j - 1].msg_hdr.msg_name;
        m.msg_namelen = copy[j - 1].msg_hdr.msg_namelen;
        continue;
      }
      if (int e = host_addr(static_cast<const sockaddr*>(m.msg_name), m.msg_namelen, false, &h[j])) {
        err = -e;
        c = j;
        break;
      }
      m.msg_name = &h[j].un;
      m.msg_namelen = h[j].len;
    }
    if (c == 0) {
      if (sent) return (int)sent;
      errno = err;
      return -1;
    }
    int r = fn(fd, copy, c, flags);
    if (r < 0) return sent ? (int)sent : -1;
    for (int j = 0; j < r; j++) v[sent + j].msg_len = copy[j].msg_len;
    sent += (unsigned)r;
    // Fewer than asked, or a name that failed next: the program's next
    // call starts there and learns why.
    if ((unsigned)r < c || err) return (int)sent;
  }
  return (int)sent;
}

EXPORT ssize_t recvfrom(int fd, void* buf, size_t n, int flags, struct sockaddr* a, socklen_t* l) {
  using fn_t = ssize_t (*)(int, void*, size_t, int, struct sockaddr*, socklen_t*);
  static auto fn = real<fn_t>("recvfrom");
  ensure();
  return with_name_out(a, l, [&](sockaddr* x, socklen_t* xl) { return fn(fd, buf, n, flags, x, xl); });
}
EXPORT ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags, struct sockaddr* a,
                              socklen_t* l) {
  if (n > buflen) __chk_fail();
  return recvfrom(fd, buf, n, flags, a, l);
}
EXPORT ssize_t recvmsg(int fd, struct msghdr* m, int flags) {
  using fn_t = ssize_t (*)(int, struct msghdr*, int);
  static auto fn = real<fn_t>("recvmsg");
  ensure();
  if (!m || !m->msg_name) {
    ssize_t r = fn(fd, m, flags);
    if (r >= 0) creds_in(m);
    return r;
  }
  ssize_t got = with_name_out(static_cast<sockaddr*>(m->msg_name), &m->msg_namelen, [&](sockaddr* x, socklen_t* xl) {
    if (x == m->msg_name) return fn(fd, m, flags);
    // Our name buffer: the rest of what the kernel writes goes back too.
    msghdr c = *m;
    c.msg_name = x;
    c.msg_namelen = *xl;
    ssize_t r = fn(fd, &c, flags);
    if (r >= 0) {
      *xl = c.msg_namelen;
      m->msg_controllen = c.msg_controllen;
      m->msg_flags = c.msg_flags;
    }
    return r;
  });
  if (got >= 0) creds_in(m);
  return got;
}
EXPORT int recvmmsg(int fd, struct mmsghdr* v, unsigned int n, int flags, struct timespec* t) {
  using fn_t = int (*)(int, struct mmsghdr*, unsigned int, int, struct timespec*);
  static auto fn = real<fn_t>("recvmmsg");
  ensure();
  if (!v || !names_translated()) return fn(fd, v, n, flags, t);
  // Name buffers too small for a Unix name get ours for the call, in the
  // program's own vector; up to kSwap of them, and the call asks for no
  // more messages than that allows (it may always return fewer).
  constexpr unsigned kSwap = 32;
  sockaddr_un mine[kSwap];
  unsigned at[kSwap];
  void* theirs[kSwap];
  socklen_t caps[kSwap];
  unsigned ns = 0, count = n;
  for (unsigned i = 0; i < n; i++) {
    msghdr& h = v[i].msg_hdr;
    if (!h.msg_name || h.msg_namelen >= sizeof(sockaddr_un)) continue;
    if (ns == kSwap) {
      count = i;
      break;
    }
    at[ns] = i;
    theirs[ns] = h.msg_name;
    caps[ns] = h.msg_namelen;
    h.msg_name = &mine[ns];
    h.msg_namelen = sizeof mine[ns];
    ns++;
  }
  int r = fn(fd, v, count, flags, t);
  unsigned s = 0;
  for (unsigned i = 0; i < count; i++) {
    msghdr& h = v[i].msg_hdr;
    bool ours = s < ns && at[s] == i;
    bool got = r > 0 && i < (unsigned)r;
    if (ours) {
      h.msg_name = theirs[s];
      if (got) name_back(reinterpret_cast<sockaddr*>(&mine[s]), h.msg_namelen, (socklen_t)sizeof mine[s],
                         static_cast<sockaddr*>(h.msg_name), caps[s], &h.msg_namelen);
      else h.msg_namelen = caps[s];
      s++;
    } else if (got && h.msg_name) {
      name_back(static_cast<sockaddr*>(h.msg_name), h.msg_namelen, h.msg_namelen, static_cast<sockaddr*>(h.msg_name),
                (socklen_t)sizeof(sockaddr_un), &h.msg_namelen);
    }
  }
  return r;
}
