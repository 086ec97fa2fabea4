#include "session.h"

#include "exec.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/stat.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "confine.h"
#include "cow.h"
#include "resolve.h"
#include "sys.h"

extern char** environ;

namespace cr {

constinit Session g_session;
constinit State g_state;

void errline(const char* a, const char* b, const char* c, const char* d) {
  char buf[2048];
  size_t n = 0;
  for (const char* s : {"cowroot: ", a, b, c, d, "\n"})
    for (; *s && n < sizeof buf - 1; s++) buf[n++] = *s;
  sys::raw(SYS_write, 2, (long)buf, (long)n);
}

// (session.h)
bool parse_caps(const char* c, Caps* out) {
  uint64_t v[4] = {};
  int i = 0;
  for (const char* p = c; *p && i < 4; p++) {
    char ch = *p;
    if (ch == ':') {
      i++;
      continue;
    }
    int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
    if (d < 0) break;
    v[i] = v[i] << 4 | (uint64_t)d;
  }
  if (i != 3) return false;
  *out = {true, v[0], v[1], v[2], v[3]};
  return true;
}

namespace {

// "DIR/FILE: damaged (WHAT)" for a state open or check refused: apart, its
// buffer off the frame every program start makes.
[[gnu::noinline]] void say_damaged(const char* dir) {
  char what[kPathMax + 16];
  size_t n = 0;
  for (const char* p : {dir, "/", g_state.damaged_file()})
    for (; *p && n + 1 < sizeof what; p++) what[n++] = *p;
  what[n] = 0;
  errline(what, ": damaged (", g_state.damage(), ")");
}

bool parse_u32(const char* s, uint32_t* out) {
  if (!s || !*s) return false;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return false;
    v = v * 10 + (*s - '0');
    if (v > 0xffffffffull) return false;
  }
  *out = (uint32_t)v;
  return true;
}

uint32_t env_id(const char* name, uint32_t dflt) {
  uint32_t v;
  return parse_u32(getenv(name), &v) ? v : dflt;
}

size_t put_u64(char* out, uint64_t v) {
  char d[24];
  int n = 0;
  do d[n++] = char('0' + v % 10); while ((v /= 10) > 0);
  for (int i = 0; i < n; i++) out[i] = d[n - 1 - i];
  return n;
}

void copy_str(char* dst, size_t n, const char* src) {
  size_t l = strlen(src);
  if (l >= n) l = n - 1;
  memcpy(dst, src, l);
  dst[l] = 0;
}

// Directory part of a path into out ("" when none).
void dir_of(char* out, size_t n, const char* path) {
  copy_str(out, n, path);
  char* slash = strrchr(out, '/');
  if (slash) *slash = 0;
  else out[0] = 0;
}

bool is_file(const char* p) {
  struct stat st;
  return sys::raw(SYS_newfstatat, AT_FDCWD, (long)p, (long)&st, 0) == 0 && S_ISREG(st.st_mode);
}

void find_faked(const char* lib) {
  if (const char* e = getenv(kEnvFaked); e && *e) {
    copy_str(g_session.faked, sizeof g_session.faked, e);
    return;
  }
  PathBuf dir;
  dir_of(dir, sizeof dir, lib);
  static const char* const rel[] = {"/../libexec/cowroot/cowroot-faked", "/cowroot-faked", "/../bin/cowroot-faked"};
  for (const char* r : rel) {
    // No strcat: this may run inside a sanitizer's own start-up (its
    // log_path makes it mkdir through our wrapper), where its strcat
    // refuses to run and hangs the program.
    PathBuf p;
    copy_str(p, kPathMax, dir);
    size_t pl = strlen(p), rl = strlen(r);
    memcpy(p + pl, r, rl + 1);
    if (is_file(p)) {
      copy_str(g_session.faked, sizeof g_session.faked, p);
      return;
    }
  }
}

// The socket address of a state directory; long directories go through
// /proc/self/fd so that any path length works.
int sock_addr(const char* dir, sockaddr_un* sa, int* dirfd) {
  *dirfd = -1;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  size_t l = strlen(dir);
  if (l + 6 < sizeof sa->sun_path) {
    memcpy(sa->sun_path, dir, l);
    memcpy(sa->sun_path + l, "/sock", 6);
    return 0;
  }
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return (int)fd;
  *dirfd = (int)fd;
  char* p = sa->sun_path;
  memcpy(p, "/proc/self/fd/", 14);
  p += 14;
  p += put_u64(p, fd);
  memcpy(p, "/sock", 6);
  return 0;
}

}  // namespace

// (session.h) The inherited connection (COWROOT_FD), or another process's
// copy of it: 1 a connection to this state directory's daemon, 0 one whose
// daemon is gone (killed: the connection is at its end), -1 none of ours (a
// program reused the number). Two system calls: getpeername says whose
// (and fails on anything but a socket), a peek says whether its daemon is
// alive.
int live_fd_state(int fd, const char* dir) {
  sockaddr_un peer, want;
  socklen_t len = sizeof peer;
  if (sys::raw(SYS_getpeername, fd, (long)&peer, (long)&len) < 0) return -1;
  int dfd;
  if (sock_addr(dir, &want, &dfd) < 0) return -1;
  if (dfd >= 0) sys::raw(SYS_close, dfd);  // a long directory: the daemon bound it through its own fd; any peer
  else if (strncmp(peer.sun_path, want.sun_path, sizeof want.sun_path) != 0) return -1;
  char c;
  long r = sys::raw(SYS_recvfrom, fd, (long)&c, 1, MSG_PEEK | MSG_DONTWAIT, 0, 0);
  return r == -EAGAIN || r == -EINTR || r > 0 ? 1 : 0;
}

namespace {

// A directory of this user that nobody else can enter: a real directory
// (not a symlink), owned by uid, mode 0700 or tighter.
bool private_dir_ok(const char* p, uint32_t uid) {
  struct stat st;
  return sys::raw(SYS_newfstatat, AT_FDCWD, (long)p, (long)&st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
         st.st_uid == uid && !(st.st_mode & 077);
}

// Makes `prefix` + a random number as a new directory (0700): its length,
// or 0 when 100 tries failed.
size_t make_random_dir(char* out, size_t n, const char* prefix) {
  size_t pl = strlen(prefix);
  if (pl + 24 > n) return 0;
  for (int i = 0; i < 100; i++) {
    uint64_t rnd = 0;
    sys::raw(SYS_getrandom, (long)&rnd, sizeof rnd, 0);
    memcpy(out, prefix, pl);
    size_t l = pl + put_u64(out + pl, rnd % 1000000000000ull);
    out[l] = 0;
    if (sys::raw(SYS_mkdirat, AT_FDCWD, (long)out, 0700) == 0) return l;
  }
  return 0;
}

// The throwaway state directory of a bare LD_PRELOAD session, marked as
// one (session_end.h): BASE/cowroot-UID/auto.N, where BASE is
// $XDG_RUNTIME_DIR or /tmp; else, when that is not a private directory of
// this user (planted by another), $XDG_RUNTIME_DIR's, else a fresh
// $TMPDIR/cowroot-UID.N (or /tmp's) of its own. False (after saying why) when none.
bool make_auto_session_dir(uint32_t uid, char* out, size_t n) {
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && (*xdg != '/' || strlen(xdg) > 1024)) xdg = nullptr;
  PathBuf top, told;
  told[0] = 0;
  size_t tl = 0;
  for (const char* base : {xdg ? xdg : "/tmp", xdg ? "/tmp" : nullptr}) {
    if (!base) break;
    copy_str(top, sizeof top, base);
    tl = strlen(top);
    memcpy(top + tl, "/cowroot-", 9);
    tl += 9;
    tl += put_u64(top + tl, uid);
    top[tl] = 0;
    sys::raw(SYS_mkdirat, AT_FDCWD, (long)top, 0700);
    if (private_dir_ok(top, uid)) break;
    if (!told[0]) copy_str(told, sizeof told, top);
    tl = 0;
  }
  size_t l;
  if (tl) {
    memcpy(top + tl, "/auto.", 7);
    l = make_random_dir(out, n, top);
  } else {
    const char* t = getenv("TMPDIR");
    if (!t || *t != '/' || strlen(t) > 1024) t = "/tmp";
    char prefix[kPathMax];
    copy_str(prefix, sizeof prefix, t);
    size_t pl = strlen(prefix);
    memcpy(prefix + pl, "/cowroot-", 10);
    pl += 9;
    pl += put_u64(prefix + pl, uid);
    memcpy(prefix + pl, ".", 2);
    l = make_random_dir(out, n, prefix);
  }
  if (told[0]) errline(told, " is not a private directory of this user: not used; the session's state is in ",
                       l ? out : "(nowhere)");
  if (!l) {
    errline("cannot make a private directory for the session's state");
    return false;
  }
  char mark[kPathMax + 16];
  copy_str(mark, kPathMax, out);
  memcpy(mark + l, "/ephemeral", 11);
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)mark, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) sys::raw(SYS_close, fd);
  return true;
}

char g_clone_stack[16384] __attribute__((aligned(16)));

struct SpawnArgs {
  const char* path;
  const char* const* argv;
  const char* const* envp;
};

int spawn_child(void* p) {
  auto* a = static_cast<SpawnArgs*>(p);
  sys::raw(SYS_execve, (long)a->path, (long)a->argv, (long)a->envp);
  sys::raw(SYS_exit, 127);
  return 127;
}

}  // namespace

int connect_daemon(const char* dir) {
  sockaddr_un sa;
  int dfd;
  int r = sock_addr(dir, &sa, &dfd);
  if (r < 0) return r;
  long fd = sys::raw(SYS_socket, AF_UNIX, SOCK_SEQPACKET, 0);
  if (fd >= 0) {
    r = (int)sys::raw(SYS_connect, fd, (long)&sa, sizeof sa);
    if (r < 0) {
      sys::raw(SYS_close, fd);
      fd = r;
    }
  }
  if (dfd >= 0) sys::raw(SYS_close, dfd);
  return (int)fd;
}

int start_daemon(const char* faked, const char* dir, bool ephemeral) {
  if (!faked || !*faked) return -ENOENT;
  const char* argv[] = {faked, "--state", dir, "--detach", ephemeral ? "--ephemeral" : nullptr, nullptr};
  // In a confined process, through the stub: the daemon is cowroot's own,
  // its calls pass untranslated.
  char stubvar[kPathMax + 32];
  const char* env[] = {nullptr, nullptr};
  const char* path = faked;
  // (At a program's start the filter may be inherited before this process
  // set up its own handling: a daemon started again after a kill -9.)
  char stub[kPathMax];
  if (g_confine.active || confine::probe()) {
    size_t fl = strlen(faked);
    if (fl + confine::kStubEnvLen + 3 > sizeof stubvar) return -ENAMETOOLONG;
    memcpy(stubvar, confine::kStubEnv, confine::kStubEnvLen);
    memcpy(stubvar + confine::kStubEnvLen, "H:", 2);
    memcpy(stubvar + confine::kStubEnvLen + 2, faked, fl + 1);
    env[0] = stubvar;
    // cowroot-stub, beside the daemon.
    const char* slash = strrchr(faked, '/');
    size_t dl = slash ? (size_t)(slash - faked) : 0;
    if (!dl || dl + 14 > sizeof stub) return -ENAMETOOLONG;
    memcpy(stub, faked, dl);
    memcpy(stub + dl, "/cowroot-stub", 14);
    path = stub;
  }
  SpawnArgs a{path, argv, env};
  // clone(CLONE_VM|CLONE_VFORK) on a private stack: no atfork handlers, no
  // allocation, and the child only execs.
  static std::atomic<int> busy{0};
  while (busy.exchange(1, std::memory_order_acquire)) sched_yield();
  int pid = clone(spawn_child, g_clone_stack + sizeof g_clone_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
  busy.store(0, std::memory_order_release);
  if (pid < 0) return -errno;
  int status = 0;
  long r;
  do r = sys::raw(SYS_wait4, pid, (long)&status, 0, 0); while (r == -EINTR);
  if (r < 0) return (int)r;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -ECONNREFUSED;
  return 0;
}

// Connects to the daemon of dir, starting one when none answers. A daemon
// that another process is starting at the same moment holds the lock
// before it listens (ours then steps aside): its socket is waited for.
static int connect_or_start(const char* faked, const char* dir, bool ephemeral) {
  int c = connect_daemon(dir);
  if (c >= 0) return c;
  if (int e = start_daemon(faked, dir, ephemeral); e < 0) return e;
  for (int i = 0; i < 100; i++) {
    c = connect_daemon(dir);
    if (c >= 0 || (c != -ECONNREFUSED && c != -ENOENT)) return c;
    struct timespec ts = {0, 10 * 1000 * 1000};
    sys::raw(SYS_nanosleep, (long)&ts, 0);
  }
  return c;
}

// Like fakeroot's save file, the state directory is made on first use
// (with its parents), private to the user. (Every program of a session
// comes here: one statx when it is there already.) False when it is
// another user's, or others may write in it: it could hold a table of
// theirs, changed under this session.
namespace {
// *made_err: why the directory could not be made (the last mkdir's error
// other than EEXIST), else 0.
[[gnu::noinline]] bool private_state_dir(const char* dir, uint32_t uid, int* made_err) {
  struct statx sx;
  const unsigned want = STATX_TYPE | STATX_MODE | STATX_UID;
  bool there = sys::raw(SYS_statx, AT_FDCWD, (long)dir, 0, want, (long)&sx) == 0 && S_ISDIR(sx.stx_mode);
  *made_err = 0;
  if (!there) {
    PathBuf part;
    copy_str(part, sizeof part, dir);
    for (char* c = part + 1;; c++) {
      if (*c == '/' || !*c) {
        char keep = *c;
        *c = 0;
        long e = sys::raw(SYS_mkdirat, AT_FDCWD, (long)part, 0700);
        if (e < 0 && e != -EEXIST) *made_err = (int)-e;
        else if (e == 0) *made_err = 0;
        *c = keep;
        if (!keep) break;
      }
    }
  }
  bool known = there || sys::raw(SYS_statx, AT_FDCWD, (long)dir, 0, want, (long)&sx) == 0;
  return !(known && (sx.stx_uid != uid || (sx.stx_mode & 022)));
}
}  // namespace

void prefault_start() {
  // What is written, in order: the small fields and lib, state_dir, faked
  // (a page each); the stub's path after the confinement's fields; top,
  // croot, cwd, exe (a page each) and the binds (three always, and those
  // of COWROOT_BINDS); the clone's sidecar and root.
  sys::prefault(&g_session, g_session.faked + 1);
  sys::prefault(&g_confine, g_confine.stub + 1);
  if (getenv("COWROOT_ROOT")) {
    int nb = 3;
    if (const char* b = getenv("COWROOT_BINDS"); b && *b)
      for (nb++; *b; b++) nb += *b == ':';
    sys::prefault(&g_root, &g_root.binds[nb < kMaxBinds ? nb : kMaxBinds]);
  }
  if (getenv("COWROOT_COW")) sys::prefault(&g_cow, g_cow.clone_root + 1);
}

void session_init(const char* self_lib) {
  Session& s = g_session;
  s.real_uid = (uint32_t)sys::raw(SYS_getuid);
  s.real_gid = (uint32_t)sys::raw(SYS_getgid);
  s.uid = {env_id("FAKEROOTUID", 0), env_id("FAKEROOTEUID", 0), env_id("FAKEROOTSUID", 0),
           env_id("FAKEROOTFUID", 0)};
  s.gid = {env_id("FAKEROOTGID", 0), env_id("FAKEROOTEGID", 0), env_id("FAKEROOTSGID", 0),
           env_id("FAKEROOTFGID", 0)};
  if (const char* n = getenv("COWROOT_NNP")) s.nnp = n[0] == '1';
  if (const char* a = getenv("COWROOT_ALLOW_STATIC")) s.allow_static = strcmp(a, "1") == 0;
  // Capability sets other than the euid's defaults: "EFF:PERM:INH:BSET" in hex.
  if (const char* c = getenv(kEnvCaps)) parse_caps(c, &s.caps);
  s.ngroups = 0;
  if (const char* g = getenv(kEnvGroups)) {
    char one[16];
    size_t n = 0;
    for (const char* p = g;; p++) {
      if (*p == ',' || *p == 0) {
        one[n] = 0;
        uint32_t v;
        if (parse_u32(one, &v) && s.ngroups < kMaxGroups) s.groups[s.ngroups++] = v;
        n = 0;
        if (!*p) break;
      } else if (n < sizeof one - 1) {
        one[n++] = *p;
      }
    }
  } else {
    s.groups[s.ngroups++] = 0;
  }
  const char* fc = getenv(kEnvFakechroot);
  s.fakechroot = fc && !strcmp(fc, "1");
  if (s.fakechroot) {
    // The settings fakechroot users give it survive clearenv and env -i.
    for (const char* name : kFakechrootSettings) {
      const char* v = getenv(name);
      if (!v) continue;
      size_t nl = strlen(name), vl = strlen(v);
      if (s.fc_len + nl + vl + 2 > sizeof s.fc_vars) break;
      memcpy(s.fc_vars + s.fc_len, name, nl);
      s.fc_vars[s.fc_len + nl] = '=';
      memcpy(s.fc_vars + s.fc_len + nl + 1, v, vl + 1);
      s.fc_len += nl + vl + 2;
    }
  }
  const char* ur = getenv(kEnvUnknownReal);
  s.unknown_real = ur && *ur && strcmp(ur, "0") != 0;
  long m = sys::raw(SYS_umask, 022);
  sys::raw(SYS_umask, m);
  s.umask = (uint32_t)m;

  if (const char* l = getenv(kEnvLib); l && *l) copy_str(s.lib, sizeof s.lib, l);
  else if (self_lib) copy_str(s.lib, sizeof s.lib, self_lib);
  find_faked(s.lib);
  root_init();
  cow_init();

  const char* dir = getenv(kEnvState);
  bool ephemeral = false;
  int made_err = 0;
  if (!dir || !*dir) {
    // Driven by LD_PRELOAD alone: a private session of our own, removed by
    // the daemon when the last process of it is gone, in this user's
    // private directory ($XDG_RUNTIME_DIR or /tmp, then cowroot-UID). One
    // planted by another user is never followed: the session is then made
    // in a fresh directory of its own (and says so).
    if (!make_auto_session_dir(s.real_uid, s.state_dir, sizeof s.state_dir)) return;
    ephemeral = true;
  } else {
    copy_str(s.state_dir, sizeof s.state_dir, dir);
    if (!private_state_dir(s.state_dir, s.real_uid, &made_err)) {
      errline(s.state_dir, " is not a private directory of this user (another owns it, or others may write in it): "
                           "not used");
      sys::raw(SYS_exit_group, 1);
    }
  }
  int r = g_state.open(s.state_dir, true, /*lazy_heap=*/true);
  uint32_t fd = 0;
  int inherited = parse_u32(getenv(kEnvFd), &fd) && fd <= 0x7fffffff ? live_fd_state((int)fd, s.state_dir) : -1;
  // The attribute heap is mapped on first use in the programs of a live
  // session, whose start checked it (the launcher, or this check in its
  // first program). A process that starts one, as the first of a session
  // driven by LD_PRELOAD alone, checks it now: a corrupt heap is refused in
  // one line, not met later as EIO.
  // Its table too (State::check, one pass): a damaged one is refused here,
  // not met as a lookup that waits on garbage or an entry lost.
  if (r == 0 && inherited != 1) r = g_state.ensure_heap();
  if (r == 0 && inherited != 1) r = g_state.check();
  // A session whose state cannot be had runs nothing (a program run on
  // without it would be half fake root: its chown failing, EBADF): one
  // line, status 1, in the first program, which ends the rest.
  if (r == -EBADMSG) {
    say_damaged(s.state_dir);
    sys::raw(SYS_exit_group, 1);
  }
  if (r < 0) {
    // (A directory that could not be made: why not, not that it is missing.)
    if (r == -ENOENT && made_err) errline("cannot make the state directory ", s.state_dir, ": ", strerror(made_err));
    else errline("cannot open the state in ", s.state_dir, ": ", strerror(-r));
    sys::raw(SYS_exit_group, 1);
  }
  s.active = true;

  if (inherited == 1) {
    s.live_fd = (int)fd;
    return;
  }
  // No daemon, or its daemon was killed: the next program that needs one
  // starts it (or joins the one another program started first).
  int c = connect_or_start(s.faked, s.state_dir, ephemeral);
  if (c < 0) {
    errline("cannot start the daemon ", *s.faked ? s.faked : "cowroot-faked", " for ", s.state_dir);
    return;
  }
  if (inherited == 0) {
    // The dead connection's number stays the session's: the new one takes
    // its place (and the program's descriptors are not disturbed).
    if (sys::raw(SYS_dup3, c, (long)fd, 0) == (long)fd) {
      sys::raw(SYS_close, c);
      s.live_fd = (int)fd;
      return;
    }
  }
  // Keep the connection out of the way of the program's own descriptors;
  // it stays open across exec so that the daemon sees the session alive.
  s.live_fd = move_live_fd_high(c);
}

int move_live_fd_high(int c) {
  struct rlimit rl;
  long hi = 900;
  if (sys::raw(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&rl) == 0 && rl.rlim_cur < 1024) hi = (long)rl.rlim_cur / 2;
  if (c >= hi) return c;
  long moved = hi > 3 ? sys::raw(SYS_fcntl, c, F_DUPFD, hi) : -1;
  if (moved < 0) return c;
  sys::raw(SYS_close, c);
  return (int)moved;
}

size_t exec_env_extra() { return 43; }

bool beside_daemon(const char* name, char* out, size_t n) {
  const char* slash = strrchr(g_session.faked, '/');
  size_t dl = slash ? (size_t)(slash - g_session.faked) : 0;
  size_t nl = strlen(name);
  if (!dl || dl + 1 + nl + 1 > n) return false;
  memcpy(out, g_session.faked, dl);
  out[dl] = '/';
  memcpy(out + dl + 1, name, nl + 1);
  return true;
}

bool is_sanitizer_runtime(const char* name, size_t len) {
  const char* b = name + len;
  while (b > name && b[-1] != '/') b--;
  size_t bl = (size_t)(name + len - b);
  // By hand: called before a runtime's interceptors of strlen and memcmp
  // may be (confine_early).
  for (const char* r : {"libasan.so", "libtsan.so", "libhwasan.so", "liblsan.so", "libmsan.so",
                        "libclang_rt.asan", "libclang_rt.tsan", "libclang_rt.hwasan"}) {
    size_t i = 0;
    while (r[i] && i < bl && b[i] == r[i]) i++;
    if (!r[i]) return true;
  }
  return false;
}

namespace {

// An LD_PRELOAD entry the program gave inside a root names an inside path:
// its host path into out (the loader only knows host paths). False when
// there is nothing to translate: no root, a bare name, or a path under the
// root's host path already (put there by an exec before this one). Its own
// frame: the resolution's buffers are on the stack only when needed.
__attribute__((noinline)) bool preload_entry_host(const char* p, size_t el, char* out, size_t n) {
  if (!g_root.active || *p != '/' || el >= n) return false;
  if (el > g_root.top_len && p[g_root.top_len] == '/' && memcmp(p, g_root.top, g_root.top_len) == 0) return false;
  memcpy(out, p, el);
  out[el] = 0;
  Resolved r;
  if (resolve(AT_FDCWD, out, kFollow, &r) != 0 || strlen(r.path) >= n) return false;
  memmove(out, r.path, strlen(r.path) + 1);
  return true;
}

}  // namespace

bool exec_env(char* const* envp, char** out, size_t cap, char* buf, size_t buflen, const char* exe,
              bool host_view, const char* libstamp, const char* libpath, const char* comm,
              const char* first_preload, const ExecCreds* creds, const char* argvnote, const char* argv0) {
  const Session& s = g_session;
  const Ids& uid = creds ? creds->uid : s.uid;
  const Ids& gid = creds ? creds->gid : s.gid;
  size_t n = 0, used = 0;
  auto add = [&](const char* name, const char* val1, const char* val2 = "") -> bool {
    size_t a = strlen(name), b = strlen(val1), c = strlen(val2);
    if (n + 1 >= cap || used + a + b + c + 2 > buflen) return false;
    char* p = buf + used;
    memcpy(p, name, a);
    p[a] = '=';
    memcpy(p + a + 1, val1, b);
    memcpy(p + a + 1 + b, val2, c);
    p[a + 1 + b + c] = 0;
    out[n++] = p;
    used += a + b + c + 2;
    return true;
  };
  auto add_num = [&](const char* name, uint64_t v) {
    char d[24];
    d[put_u64(d, v)] = 0;
    return add(name, d);
  };
  static const char* const ours[] = {"LD_PRELOAD", kEnvState, kEnvLib, kEnvFaked, kEnvFd, kEnvUnknownReal,
                                     kEnvGroups, kEnvCaps, "COWROOT_NNP", "COWROOT_ALLOW_STATIC", "FAKEROOTKEY", "FAKED_MODE", "FAKEROOTUID", "FAKEROOTEUID",
                                     "FAKEROOTSUID", "FAKEROOTFUID", "FAKEROOTGID", "FAKEROOTEGID",
                                     "FAKEROOTSGID", "FAKEROOTFGID", "COWROOT_ROOT", "COWROOT_CHROOT",
                                     "COWROOT_BINDS", "COWROOT_EXE", kEnvFakechroot, "FAKECHROOT",
                                     "FAKECHROOT_VERSION", "FAKECHROOT_BASE", "COWROOT_COW", "COWROOT_COW_DIR", "COWROOT_COW_SET",
                                     "FAKECHROOT_BASE_ORIG", "COWROOT_LIBPATH", "COWROOT_COMM",
                                     "COWROOT_ARGV", "COWROOT_LOADERS", "LD_AUDIT"};
  // LD_PRELOAD: this library first, then whatever else the program asked
  // for; a sanitizer's runtime goes before it. Written in place into buf
  // (no big buffers on the stack: a fork's child pays a page fault for
  // every stack page it touches before exec).
  const char* preload_rest = "";
  for (char* const* e = envp; e && *e; e++)
    if (strncmp(*e, "LD_PRELOAD=", 11) == 0) preload_rest = *e + 11;
  {
    if (n + 1 >= cap) return false;
    char* start = buf + used;
    size_t room = buflen - used, w = 0;
    auto put = [&](const char* str, size_t l) {
      if (w + l + 2 > room) return false;
      if (w > 11) start[w++] = ':';
      memcpy(start + w, str, l);
      w += l;
      start[w] = 0;
      return true;
    };
    if (!put("LD_PRELOAD=", 11)) return false;
    if (first_preload && *first_preload && !put(first_preload, strlen(first_preload))) return false;
    size_t liblen = strlen(s.lib);
    for (int pass = 0; pass < 3; pass++) {  // sanitizer runtimes, this library, the rest
      if (pass == 1) {
        if (!put(s.lib, liblen)) return false;
        continue;
      }
      for (const char* p = preload_rest; *p;) {
        while (*p == ':' || *p == ' ') p++;
        const char* q = p;
        while (*q && *q != ':' && *q != ' ') q++;
        size_t el = q - p;
        const char* ent = p;
        p = q;
        if (!el) continue;
        bool self = el == liblen && memcmp(ent, s.lib, liblen) == 0;
        PathBuf host;
        if (!self && preload_entry_host(ent, el, host, sizeof host)) {
          ent = host;
          el = strlen(host);
          self = el == liblen && memcmp(ent, s.lib, liblen) == 0;
        }
        bool first = first_preload && strlen(first_preload) == el && memcmp(first_preload, ent, el) == 0;
        if (self || first || is_sanitizer_runtime(ent, el) != (pass == 0)) continue;
        if (!put(ent, el)) return false;
      }
    }
    out[n++] = start;
    used += w + 1;
  }
  // LD_AUDIT: in a root its entries name inside paths, which the loader
  // (host paths only) is given as the root's host paths, as LD_PRELOAD's.
  for (char* const* e = envp; e && *e; e++) {
    if (strncmp(*e, "LD_AUDIT=", 9) != 0) continue;
    if (host_view || !g_root.active) {
      if (n + 1 >= cap) return false;
      out[n++] = *e;
      break;
    }
    if (n + 1 >= cap) return false;
    char* start = buf + used;
    size_t room = buflen - used, w = 0;
    auto put = [&](const char* str, size_t l) {
      if (w + l + 2 > room) return false;
      memcpy(start + w, str, l);
      w += l;
      start[w] = 0;
      return true;
    };
    if (!put("LD_AUDIT=", 9)) return false;
    for (const char* p = *e + 9; *p;) {
      const char* q = p;
      while (*q && *q != ':') q++;
      size_t el = q - p;
      const char* ent = p;
      PathBuf host;
      if (el && preload_entry_host(ent, el, host, sizeof host)) {
        ent = host;
        el = strlen(host);
      }
      if (w > 9 && !put(":", 1)) return false;
      if (!put(ent, el)) return false;
      p = *q ? q + 1 : q;
    }
    out[n++] = start;
    used += w + 1;
    break;
  }
  if (!add(kEnvState, s.state_dir) || !add(kEnvLib, s.lib) || !add(kEnvFaked, s.faked)) return false;
  if (s.live_fd >= 0 && !add_num(kEnvFd, s.live_fd)) return false;
  if (s.unknown_real && !add(kEnvUnknownReal, "1")) return false;
  if (!host_view && !root_env([&](const char* name, const char* v, bool (*write)(char*, size_t)) {
        if (v) return add(name, v);
        // Written in place: NAME=, then the value, in what is left of buf.
        size_t a = strlen(name);
        if (n + 1 >= cap || used + a + 2 > buflen) return false;
        char* p = buf + used;
        memcpy(p, name, a);
        p[a] = '=';
        if (!write(p + a + 1, buflen - used - a - 1)) return false;
        out[n++] = p;
        used += a + 1 + strlen(p + a + 1) + 1;
        return true;
      }))
    return false;
  if (!host_view && (g_root.active || g_confine.active || g_confine.plan_static) && exe && *exe &&
      !add("COWROOT_EXE", exe))
    return false;
  if (!host_view && comm && !add("COWROOT_COMM", comm)) return false;
  if (!host_view && argvnote && !add("COWROOT_ARGV", argvnote, argv0)) return false;
  if (!host_view && g_root.active) {
    // What is known of the root's loaders, for the new program to reuse.
    char known[4 * 160];
    if (loaders_text(known, sizeof known) && known[0] && !add("COWROOT_LOADERS", known)) return false;
  }
  if (g_cow.sidecar[0] && !add("COWROOT_COW", g_cow.sidecar)) return false;
  if (g_cow.dir_len && !add("COWROOT_COW_DIR", g_cow.dir)) return false;
  if (g_cow.dir_len && g_cow.set && g_cow.cow_set_path[0] && !add("COWROOT_COW_SET", g_cow.cow_set_path)) return false;
  if (s.fakechroot) {
    if (!add(kEnvFakechroot, "1") || !add("FAKECHROOT", "true") || !add("FAKECHROOT_VERSION", kFakechrootVersion))
      return false;
    if (g_root.active && !add(host_view ? "FAKECHROOT_BASE_ORIG" : "FAKECHROOT_BASE", g_root.top)) return false;
    // fakechroot's settings, as its execve keeps them: the new environment's
    // own value, else this process's, else the session's first (so that
    // env -i keeps them too).
    for (const char* name : kFakechrootSettings) {
      size_t nl = strlen(name);
      bool given = false;
      for (char* const* e = envp; e && *e && !given; e++) given = strncmp(*e, name, nl) == 0 && (*e)[nl] == '=';
      if (given) continue;  // copied below with the rest
      if (const char* mine = getenv(name)) {
        if (!add(name, mine)) return false;
        continue;
      }
      for (size_t i = 0; i < s.fc_len; i += strlen(s.fc_vars + i) + 1) {
        char* kv = const_cast<char*>(s.fc_vars + i);
        if (strncmp(kv, name, nl) != 0 || kv[nl] != '=') continue;
        if (n + 1 >= cap) return false;
        out[n++] = kv;
      }
    }
  }
  if (!add("FAKEROOTKEY", "cowroot") || !add("FAKED_MODE", s.unknown_real ? "unknown-is-real" : "unknown-is-root"))
    return false;
  if (!add_num("FAKEROOTUID", uid.r) || !add_num("FAKEROOTEUID", uid.e) || !add_num("FAKEROOTSUID", uid.s) ||
      !add_num("FAKEROOTFUID", uid.f) || !add_num("FAKEROOTGID", gid.r) || !add_num("FAKEROOTEGID", gid.e) ||
      !add_num("FAKEROOTSGID", gid.s) || !add_num("FAKEROOTFGID", gid.f))
    return false;
  // Capability sets the new program would not derive from its euid alone
  // (a root that dropped some, file capabilities): carried, in hex.
  if (creds) {
    const Caps& c = creds->caps;
    bool dflt = c.inh == 0 && c.bset == ((uint64_t(1) << (CAP_LAST_CAP + 1)) - 1) &&
                (uid.e == 0 ? c.eff == c.bset && c.perm == c.bset : c.eff == 0 && c.perm == 0);
    if (!dflt) {
      char v[4 * 17 + 1];
      size_t t = 0;
      for (uint64_t x : {c.eff, c.perm, c.inh, c.bset}) {
        if (t) v[t++] = ':';
        char d[16];
        int nd = 0;
        do d[nd++] = "0123456789abcdef"[x & 15]; while ((x >>= 4) != 0);
        while (nd) v[t++] = d[--nd];
      }
      v[t] = 0;
      if (!add(kEnvCaps, v)) return false;
    }
  }
  {
    // (As long as the list: a fork's child faults in each stack page it
    // touches before its exec, and frames below go deeper.)
    char g[s.ngroups * 11 + 1];
    size_t t = 0;
    for (int i = 0; i < s.ngroups; i++) {
      if (i) g[t++] = ',';
      t += put_u64(g + t, s.groups[i]);
    }
    g[t] = 0;
    if (!add(kEnvGroups, g)) return false;
  }
  if (s.nnp && !add("COWROOT_NNP", "1")) return false;
  if (s.allow_static && !add("COWROOT_ALLOW_STATIC", "1")) return false;
  for (char* const* e = envp; e && *e; e++) {
    // Every one of ours starts with L, C or F: the rest pass at one glance.
    char c0 = (*e)[0];
    bool replaced = false;
    if (c0 == 'L' || c0 == 'C' || c0 == 'F')
      for (const char* name : ours) {
        size_t l = strlen(name);
        if (name[0] == c0 && strncmp(*e, name, l) == 0 && (*e)[l] == '=') {
          replaced = true;
          break;
        }
      }
    if (replaced) continue;
    if (n + 1 >= cap) return false;
    out[n++] = *e;
  }
  // Optional, and last so that it can only ever be left out: a new program
  // without it parses the root's loader configuration itself.
  if (!host_view && libstamp && libpath) add("COWROOT_LIBPATH", libstamp, libpath);
  out[n] = nullptr;
  return true;
}

}  // namespace cr
