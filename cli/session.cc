// The launcher's session: its daemon, its command and their end. The
// cowroot command runs it after parsing its options; the test fixture
// runs it in a child of the test process (no program start for the
// command itself).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "../preload/core/cow.h"
#include "clone/clone.h"
#include "../preload/core/confine.h"
#include "../preload/core/exec.h"
#include "../preload/core/proto.h"
#include "../preload/core/resolve.h"
#include "../preload/core/sys.h"
#include "images.h"
#include "launch.h"
#include "../faked/daemon.h"
#include "procs.h"
#include "roots.h"
#include "slots.h"
#include "../preload/core/session.h"
#include "../preload/core/session_end.h"
#include "../preload/core/state.h"
extern char** environ;

namespace cli::launch {

namespace {
// exit for the command; _exit in a fixture's child, whose test process
// has its own exit handlers and buffers.
void (*g_exit)(int) = exit;
}  // namespace

void quick_exit_on_die() { g_exit = _exit; }

namespace {
// This process's open descriptors (/proc/self/fd, without its own).
std::vector<int> open_fds() {
  std::vector<int> fds;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return fds;
  int self = dirfd(d);
  while (dirent* e = readdir(d)) {
    char* end;
    long fd = strtol(e->d_name, &end, 10);
    if (end != e->d_name && !*end && fd != self) fds.push_back((int)fd);
  }
  closedir(d);
  return fds;
}
}  // namespace

namespace {
#if defined(__x86_64__)
// The launcher's child between the filter and its exec: its own trapped
// calls (libc's, the planner's) are made as they are, through the gate. A
// mask set here would be undone by the signal's return: it is set in the
// frame, SIGSYS never in it.
void pass_trapped(int, siginfo_t* si, void* ucv) {
  auto* uc = static_cast<ucontext_t*>(ucv);
  greg_t* g = uc->uc_mcontext.gregs;
  if (si->si_code != 1 /* SYS_SECCOMP */) return;
  long nr = g[REG_RAX], a0 = g[REG_RDI], a1 = g[REG_RSI], a2 = g[REG_RDX];
  if (nr == SYS_rt_sigprocmask) {
    uint64_t cur, set = a1 ? *reinterpret_cast<const uint64_t*>(a1) : 0;
    memcpy(&cur, &uc->uc_sigmask, sizeof cur);
    long r = 0;
    if (a2) memcpy(reinterpret_cast<void*>(a2), &cur, sizeof cur);
    if (a1) {
      if (a0 == SIG_BLOCK) cur |= set;
      else if (a0 == SIG_UNBLOCK) cur &= ~set;
      else if (a0 == SIG_SETMASK) cur = set;
      else r = -EINVAL;
    }
    cur &= ~(1ull << (SIGSYS - 1));
    memcpy(&uc->uc_sigmask, &cur, sizeof cur);
    g[REG_RAX] = r;
    return;
  }
  g[REG_RAX] = cr::sys::raw(nr, a0, a1, a2, g[REG_R10], g[REG_R8], g[REG_R9]);
}
#endif

// A bind's inside directory the root lacks is made, as pbuilder makes its
// mount points (a mount needs one): without it the bind answers by name,
// but no listing of its parent shows it (find, ls, rsync miss it). Only
// through real directories of the root (no symlink followed, nothing under
// the passed-through /dev, /proc, /sys), as the user, and only in a clone,
// where it is journaled and reset takes it away: a base, or a directory of
// the user's given as the root, is not written to (there the bind stays a
// name only).
void make_bind_point(const std::string& root, const std::string& inside) {
  for (const char* pass : {"/dev", "/proc", "/sys"})
    if (inside.compare(0, strlen(pass), pass) == 0 && (inside.size() == strlen(pass) || inside[strlen(pass)] == '/'))
      return;
  int dfd = open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  std::string host = root;
  for (size_t at = 1; dfd >= 0 && at < inside.size();) {
    size_t end = std::min(inside.find('/', at), inside.size());
    std::string name = inside.substr(at, end - at);
    at = end + 1;
    if (name.empty() || name == ".") continue;
    int next = -1;
    if (name != "..") {
      host += "/" + name;
      next = openat(dfd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0 && errno == ENOENT && mkdirat(dfd, name.c_str(), 0755) == 0) {
        cr::cow_note(AT_FDCWD, host.c_str());
        next = openat(dfd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      }
    }
    close(dfd);
    dfd = next;
  }
  if (dfd >= 0) close(dfd);
}

// The session's first program is confined from its first instruction, as
// every program it starts is: this child of the launcher (not confined
// itself) puts the filter on before it plans the exec, which then goes
// through cowroot-stub as a confined process's does. Without it the
// library put the filter on in its constructor, after the loader had run
// the libraries' IFUNC resolvers and an audit module's code unconfined.
// Where it cannot be had (no seccomp, the window taken), the exec is
// planned as before and the library tries again.
void confine_first_program() {
#if defined(__x86_64__)
  namespace cf = cr::confine;
  if (!cr::g_confine.plan_static || !cr::g_confine.stub[0] || cf::probe() || cf::gate_mapped()) return;
  if (cf::map_gate() != 0) return;
  struct sigaction sa{}, old{};
  sa.sa_sigaction = pass_trapped;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  void* own_gate = cr::sys::g_gate;
  if (sigaction(SIGSYS, &sa, &old) == 0) {
    cr::sys::g_gate = reinterpret_cast<void*>(cf::kGate);
    if (cf::install_filter() == 0) {
      cr::g_confine.launch = true;
      return;
    }
    cr::sys::g_gate = own_gate;
    sigaction(SIGSYS, &old, nullptr);
  }
  munmap(reinterpret_cast<void*>(cf::kWinBase), cf::kGate + 4096 - cf::kWinBase);
#endif
}

bool g_xfsz_ignored;  // by ignore_xfsz: SIGXFSZ goes back to its default for the command

volatile pid_t g_relay_to;
volatile sig_atomic_t g_term_seen;  // --kill-on-term: a SIGTERM came
volatile sig_atomic_t g_parent_gone;  // Options::tied_to: the process that forked this one died
#define kParentGone (SIGRTMIN + 4)
void relay(int sig, siginfo_t* si, void*) {
  if (si->si_code == SI_KERNEL) return;  // the terminal's: the command has it
  if (g_relay_to > 0) kill(g_relay_to, sig);
}
}  // namespace

void ignore_xfsz() {
  struct sigaction ign{}, old{};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  if (sigaction(SIGXFSZ, &ign, &old) == 0) g_xfsz_ignored = old.sa_handler == SIG_DFL;
}

void relay_signals(pid_t to, bool but_term) {
  g_relay_to = to;
  struct sigaction sa {};
  sa.sa_sigaction = relay;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2})
    if (sig != SIGTERM || !but_term) sigaction(sig, &sa, nullptr);
}

// Zeroes the environment block a fork inherited (the test process's, which
// /proc/PID/environ shows): an exec'd daemon's shows none. Its bounds are
// /proc/self/stat's fields 50 and 51.
static void forget_environment_block() {
  uint64_t f[53];
  if (cr::sys::self_stat_fields(f) && f[50] && f[51] > f[50]) memset(reinterpret_cast<void*>(f[50]), 0, f[51] - f[50]);
}

void as_if_exec() {
  for (int fd : open_fds())
    if (fd > 2 && (fcntl(fd, F_GETFD) & FD_CLOEXEC)) close(fd);
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction sa{};
    if (sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL) {
      sa = {};
      sa.sa_handler = SIG_DFL;
      sigaction(sig, &sa, nullptr);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Dumpable, as an exec with no change of identity leaves a process (a
  // test process that dropped root with setresuid is not): its /proc
  // entries are the user's to read, as the exec'd daemon's are.
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

namespace {
// A directory descriptor the command would inherit from outside its root
// (`cowroot -r ROOT -- PROG 3</elsewhere`) leads out of the root: openat,
// fchdir and /proc/self/fd/3/.. are resolved by the kernel from where it
// is, on the host, as they are after chroot(2). The command does not get
// it: one that is open on the root, a bind (/dev, /proc, --bind) or
// anything but a directory stays; one that closes on exec goes anyway.
void drop_outside_dirs() {
  for (int fd : open_fds()) {
    int fl = fcntl(fd, F_GETFD);
    struct stat st;
    if (fl < 0 || (fl & FD_CLOEXEC) || fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    cr::PathBuf host, inside;
    if (cr::fd_host_path(fd, host, sizeof host) && cr::to_inside(host, inside, sizeof inside)) continue;
    // A standard one is not left free for the next open to take.
    int null = fd <= 2 ? open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
    if (null < 0 || dup2(null, fd) < 0) close(fd);
    if (null >= 0) close(null);
  }
}
}  // namespace

[[noreturn]] void die(const std::string& msg, int code) {
  fprintf(stderr, "cowroot: %s\n", msg.c_str());
  fflush(stderr);
  g_exit(code);
  abort();
}

std::string one_line(const std::string& path) {
  std::string s;
  for (char c : path) s += c == '\n' ? std::string("\\n") : std::string(1, c);
  return s;
}

namespace {
// The root's loader takes its library directories as a list split at ':'
// and ';', its preloads at ':' and white space: a root whose path has one
// of those could not be given to it.
bool loader_unsafe(const std::string& path) { return path.find_first_of(":;\n") != std::string::npos; }
}  // namespace

void refuse_loader_unsafe_root(const std::string& path) {
  std::string abs = path;
  if (!abs.empty() && abs[0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd)) abs = std::string(cwd) + "/" + abs;
  }
  if (loader_unsafe(abs))
    die(one_line(path) + ": a root whose path has ':', ';' or a newline cannot be given to its loader: choose another");
}

std::string self_dir(const Options* o = nullptr) {
  if (o && !o->exe_dir.empty()) return o->exe_dir;
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) die("cannot find its own location (/proc/self/exe)");
  buf[n] = 0;
  std::string s(buf);
  return s.substr(0, s.rfind('/'));
}

bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The library and the daemon, relative to this program (installs are
// relocatable), unless the environment names them.
std::string locate(const Options& o, const char* env, const std::vector<std::string>& rel, const char* what) {
  if (const char* e = getenv(env); e && *e) {
    if (!is_file(e)) die(std::string(what) + " " + e + " (from " + env + ") does not exist");
    return e;
  }
  std::string d = self_dir(&o);
  std::string tried;
  for (auto& r : rel) {
    std::string p = d + "/" + r;
    char real[4096];
    if (is_file(p) && realpath(p.c_str(), real)) return real;
    tried += " " + p;
  }
  die(std::string("cannot find ") + what + " (looked at" + tried + ")");
}

// A throwaway session directory, marked as one (so that whichever daemon
// ends the session removes it), in this user's private directory for them:
// $XDG_RUNTIME_DIR/cowroot-UID or /tmp/cowroot-UID. One planted there by
// another user is never followed: the session goes on in a directory of its
// own, and says so. Sessions over whose daemon was killed with nobody left
// to finish them are swept away first.
std::string make_session_dir() {
  const char* base = getenv("XDG_RUNTIME_DIR");
  std::string b = (base && *base == '/' && access(base, W_OK) == 0) ? base : "/tmp";
  std::string name = "cowroot-" + std::to_string(getuid());
  bool fresh;
  std::string note;
  std::string top = cr::private_dir(b, name, &fresh, &note);
  if (!note.empty()) fprintf(stderr, "cowroot: %s\n", note.c_str());
  if (top.empty()) die("no private directory for the session's state");
  std::string dir;
  if (fresh) {
    dir = top;  // fresh and private: the session's own
    cr::sweep_sessions(top.substr(0, top.rfind('/')), name + ".");
  } else {
    cr::sweep_sessions(top);
    std::string t = top + "/s.XXXXXX";
    std::vector<char> buf(t.begin(), t.end());
    buf.push_back(0);
    if (!mkdtemp(buf.data())) die("cannot create a session directory in " + top + ": " + strerror(errno));
    dir = buf.data();
  }
  if (int r = cr::mark_ephemeral(dir); r < 0) {
    rmdir(dir.c_str());
    die("cannot create " + dir + "/" + cr::kEphemeralMark + ": " + strerror(-r));
  }
  return dir;
}

void remove_dir(const std::string& dir) { cr::remove_session_dir(dir); }

// Whether the process is stopped (by a signal or a tracer): its state in
// /proc/PID/stat, after the name in parentheses, is T or t.
bool stopped(pid_t pid) {
  if (pid <= 0) return false;
  char path[32], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char* end = strrchr(buf, ')');
  return end && end[1] == ' ' && (end[2] == 'T' || end[2] == 't');
}

// How long the launcher waits for the daemon's answer, at most: it answers
// at once unless it is stopped (said at once) or hung.
constexpr int kAnswerSeconds = 60;

// Sends one request to the daemon and waits for its answer: 1 done, 0 an
// error the daemon reports (in *text), -1 no answer (the daemon is gone, or
// silent for kAnswerSeconds), -2 the daemon is stopped (*text its pid: a
// `kill -STOP` of it, or a debugger's stop, would keep the launcher waiting
// for ever).
int request(int fd, uint32_t op, const std::string& payload, uint64_t* value, std::string* text) {
  std::vector<char> buf(sizeof(cr::proto::Msg) + payload.size());
  cr::proto::Msg m{cr::proto::kMagic, op, 0, (uint32_t)payload.size(), 0};
  memcpy(buf.data(), &m, sizeof m);
  memcpy(buf.data() + sizeof m, payload.data(), payload.size());
  if (send(fd, buf.data(), buf.size(), MSG_NOSIGNAL) != (ssize_t)buf.size()) return -1;
  for (int waited = 0;; waited++) {
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, 1000);
    if (r < 0 && errno == EINTR) continue;
    if (r != 0) break;
    ucred peer{};
    socklen_t len = sizeof peer;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && stopped(peer.pid)) {
      *text = std::to_string(peer.pid);
      return -2;
    }
    if (waited + 1 >= kAnswerSeconds) return -1;
  }
  char in[sizeof(cr::proto::Msg) + cr::proto::kMaxPayload];
  ssize_t n;
  do n = recv(fd, in, sizeof in, MSG_TRUNC | MSG_DONTWAIT); while (n < 0 && errno == EINTR);
  cr::proto::Parsed r;
  if (n <= 0 || !cr::proto::parse(in, (size_t)n, sizeof in, &r)) return -1;
  *value = r.head.value;
  text->assign(r.payload, r.len);
  return r.head.op == cr::proto::kOk ? 1 : 0;
}

// A session cannot start while its daemon is stopped: said in one line.
[[noreturn]] void stopped_daemon(const std::string& dir, const std::string& pid) {
  die("the daemon of " + dir + " (pid " + pid + ") is stopped: nothing was run (continue it with kill -CONT " + pid +
      ", or end it)");
}

// Connects to the daemon of dir, waiting a little for one that is starting
// (it holds the lock before it listens): an fd or -errno.
int connect_soon(const std::string& dir) {
  int c = -ECONNREFUSED;
  for (int i = 0; i < 50; i++) {
    c = cr::connect_daemon(dir.c_str());
    if (c >= 0) return c;
    int lk = open((dir + "/lock").c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    bool starting = lk >= 0 && flock(lk, LOCK_EX | LOCK_NB) < 0;
    if (lk >= 0) close(lk);
    if (!starting) return c;
    usleep(20000);
  }
  return c;
}

// Waits (a bounded time) until no daemon holds dir's lock: the daemon that
// ended the session has saved and removed what it removes.
void wait_daemon_gone(int lockfd) {
  if (lockfd < 0) return;
  for (int i = 0; i < 500 && flock(lockfd, LOCK_SH | LOCK_NB) < 0; i++) usleep(10000);
  close(lockfd);
}

// The command has ended: the daemon saves and ends the session. When it is
// gone (killed), the session's duties are not: a daemon started again by a
// program of the session takes them, or this process does them itself
// from the shared files. Returns "" or the one-line reason of a failure.
std::string end_session(int live, pid_t dpid, const std::string& faked, const std::string& dir, const std::string& save,
                        bool ephemeral) {
  uint64_t others = 0;
  std::string text;
  int lockfd = open((dir + "/lock").c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  int r = request(live, cr::proto::kEnd, save, &others, &text);
  close(live);
  if (r == -2) {
    // The request waits in its socket: the daemon ends the session when it
    // is continued.
    if (lockfd >= 0) close(lockfd);
    return "the daemon of " + dir + " (pid " + text + ") is stopped: the session ends when it is continued (kill -CONT " +
           text + ")";
  }
  if (r < 0) {
    if (dpid > 0) waitpid(dpid, nullptr, WNOHANG);  // the killed daemon, if it was ours
    dpid = -1;
    for (int attempt = 0; r < 0 && attempt < 3; attempt++) {
      int c = connect_soon(dir);
      if (c >= 0) {
        uint64_t ignored;
        if (request(c, cr::proto::kControl, "", &ignored, &text) == 1) r = request(c, cr::proto::kEnd, save, &others, &text);
        close(c);
        continue;
      }
      // Programs of the session still running (with the dead daemon's
      // connection) keep it open: a daemon started again waits for them.
      if (cr::state_mapped_elsewhere(dir)) {
        cr::start_daemon(faked.c_str(), dir.c_str(), ephemeral);
        continue;
      }
      int f = cr::finish_session(dir, save, ephemeral, &text);
      if (f == -2) continue;  // a daemon appeared meanwhile: it takes the session
      if (lockfd >= 0) close(lockfd);
      return f < 0 ? text : "";
    }
    if (r < 0) {
      if (lockfd >= 0) close(lockfd);
      return "the session's daemon did not answer, and its state in " + dir + " was left as it is";
    }
  }
  if (r == 0 && text.empty()) text = "the session's daemon did not answer";
  // Nothing is left of the session: the daemon is gone when we return.
  if (others == 0) {
    if (dpid > 0) waitpid(dpid, nullptr, 0);
    else wait_daemon_gone(lockfd);
    lockfd = -1;
  }
  if (lockfd >= 0) close(lockfd);
  return r == 1 ? "" : text;
}


// --timeout SECONDS (a decimal number, more than 0).
void initial_ids(cr::Session& s) {
  auto id = [](const char* name, uint32_t def) -> uint32_t {
    const char* v = getenv(name);
    if (!v || !*v) return def;
    char* end = nullptr;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (*end || errno || n > 0xfffffffful || v[0] == '-')
      die(std::string(name) + "=" + v + ": not a user or group id", 2);
    return (uint32_t)n;
  };
  s.uid.r = id("FAKEROOTUID", 0);
  s.uid.e = id("FAKEROOTEUID", s.uid.r);
  s.uid.s = id("FAKEROOTSUID", s.uid.e);
  s.uid.f = id("FAKEROOTFUID", s.uid.e);
  s.gid.r = id("FAKEROOTGID", 0);
  s.gid.e = id("FAKEROOTEGID", s.gid.r);
  s.gid.s = id("FAKEROOTSGID", s.gid.e);
  s.gid.f = id("FAKEROOTFGID", s.gid.e);
  s.ngroups = 0;
  const char* g = getenv(cr::kEnvGroups);
  if (!g) {
    s.groups[s.ngroups++] = s.gid.r;
    return;
  }
  std::string list = g;
  for (size_t start = 0; start < list.size();) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string one = list.substr(start, end - start);
    if (!one.empty()) {
      if (s.ngroups == cr::kMaxGroups) die(std::string(cr::kEnvGroups) + ": more than " + std::to_string(cr::kMaxGroups) + " groups", 2);
      setenv("COWROOT_ONE_GROUP_", one.c_str(), 1);
      s.groups[s.ngroups++] = id("COWROOT_ONE_GROUP_", 0);
      unsetenv("COWROOT_ONE_GROUP_");
    }
    start = end + 1;
  }
}

int run_session(const Options& o) {
  // --kill-on-term: a SIGTERM from now on is remembered, and once the
  // command runs, kills it and what it started (see the wait below).
  if (o.kill_on_term) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_term_seen = 1; };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
  }
  // Tied to the process that forked this one: its death is a signal of its
  // own (never one relayed from the user), which stops the command as
  // --kill-on-term's SIGTERM does. Already gone: at once.
  if (o.tied_to > 0) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_parent_gone = 1; };
    sigemptyset(&sa.sa_mask);
    sigaction(kParentGone, &sa, nullptr);
    if (prctl(PR_SET_PDEATHSIG, kParentGone) < 0 || getppid() != o.tied_to) g_parent_gone = 1;
  }
  // The launcher, the daemon and each program hold a few descriptors of the
  // session's: under a lower limit the session cannot start (the daemon's
  // own accepts would fail), said in one line.
  constexpr rlim_t kMinFiles = 8;
  if (struct rlimit nf; getrlimit(RLIMIT_NOFILE, &nf) == 0 && nf.rlim_cur < kMinFiles)
    die("the limit on open files (ulimit -n " + std::to_string(nf.rlim_cur) + ") is too low for a session: it needs " +
        std::to_string(kMinFiles));
  std::string root, label = o.root_label;  // label: the root as messages name it
  if (!o.root.empty()) {
    struct stat st;
    if (stat(o.root.c_str(), &st) < 0) die(o.root + ": " + strerror(errno));
    if (!S_ISDIR(st.st_mode)) die(o.root + ": not a directory");
    char buf[4096];
    if (!realpath(o.root.c_str(), buf)) die(o.root + ": " + strerror(errno));
    root = buf;
    label = o.root_label.empty() ? root : o.root_label;
    if (loader_unsafe(root))
      die(one_line(label) + ": a root whose path has ':', ';' or a newline cannot be given to its loader: move it elsewhere");
    // A root whose programs the library cannot be loaded into (musl's,
    // another architecture's) is refused before anything runs.
    if (std::string why = cli::root_refusal(root); !why.empty())
      die(o.root_label.empty() ? why : o.root_label + why.substr(root.size()));
    // A sealed base (a cached image's root, `cowroot seal DIR`): its clones
    // share its files, so what a session wrote there would show in every
    // clone made after (and verify would find it). Sessions run in clones.
    // (Or a directory in one: its directories are as writable as the base's.)
    char sealed_buf[4096];
    std::string sealed = cr::in_sealed_base(root.c_str(), sealed_buf, sizeof sealed_buf) ? sealed_buf : "";
    if (!sealed.empty() && sealed != root)
      die(label + ": in the sealed base " + sealed + ", whose clones share its files: nothing is run in it (run in a " +
          "clone of it: `cowroot run --base " + sealed + " -- CMD`, or `cowroot clone " + sealed + " DEST`)");
    // A directory in a clone: the clone's copy-on-write is its own
    // session's (CLONE.cowroot), which a session of the directory would not
    // have, and its files are its base's until that copies them.
    char clone_buf[4096];
    std::string clone = cr::in_clone(root.c_str(), clone_buf, sizeof clone_buf) ? clone_buf : "";
    if (!clone.empty() && clone != root)
      die(label + ": in the clone " + clone + ", whose files are its base's until its own session copies them: " +
          "nothing is run in it (run in the clone: `cowroot -r " + clone + " -- chroot " + root.substr(clone.size()) +
          " CMD`)");
    if (sealed == root) {
      // A cached image's root is NAME/root beside NAME/info.
      std::string parent = root.substr(0, root.rfind('/'));
      bool image = root.size() > 5 && root.compare(root.size() - 5, 5, "/root") == 0 && is_file(parent + "/info");
      std::string how = image ? "`cowroot run --image " + parent.substr(parent.rfind('/') + 1) + " -- CMD`"
                              : "`cowroot run --base " + root + " -- CMD`";
      die(label + ": a sealed base, whose clones share its files: nothing is run in it (run in a clone of it: " + how +
          ", or `cowroot clone " + (image ? parent.substr(parent.rfind('/') + 1) : root) + " DEST` and `cowroot -r DEST`)");
    }
  }
  // Binds pass host directories into a root: without one they would mean nothing.
  if (!o.binds.empty() && (root.empty() || root == "/"))
    die("--bind " + o.binds[0] + ": only with -r DIR (there is no root to pass it into)", 2);
  std::string lib = locate(o, cr::kEnvLib, {"libcowroot.so", "../lib/libcowroot.so"}, "libcowroot.so");
  std::string faked = locate(o, cr::kEnvFaked,
                             {"cowroot-faked", "../libexec/cowroot/cowroot-faked", "../lib/cowroot/cowroot-faked"},
                             "cowroot-faked");
  std::string save;
  if (!o.save.empty()) {
    // Absolute, since the daemon runs elsewhere; checked now, not at the end.
    char buf[4096];
    std::string dir = o.save.substr(0, o.save.rfind('/') == std::string::npos ? 0 : o.save.rfind('/'));
    if (dir.empty()) dir = o.save[0] == '/' ? "/" : ".";
    if (!realpath(dir.c_str(), buf)) die("cannot save state to " + o.save + ": " + strerror(errno));
    save = std::string(buf) + "/" + o.save.substr(o.save.rfind('/') == std::string::npos ? 0 : o.save.rfind('/') + 1);
    if (access(buf, W_OK) < 0) die("cannot save state to " + o.save + ": " + strerror(errno));
    // (The save replaces the file: a directory there would fail only at the end.)
    struct stat st;
    if (stat(save.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) die("cannot save state to " + o.save + ": " + strerror(EISDIR));
  }

  // A root with a sidecar (a clone, or a base made by cowroot) keeps its
  // fake state there; otherwise the session gets a throwaway one.
  std::string dir;
  bool ephemeral = true;
  // A clone's sidecar names its base (or records what it shares with it).
  bool clone = !root.empty() && (is_file(root + ".cowroot/base") || is_file(root + ".cowroot/shared"));
  // A clone's state was made with it: never made anew here (that would be
  // an empty one, every owner and mode it held lost without a word).
  std::string state_fix = clone ? ": `cowroot reset " + root + "` makes the clone afresh" : "";
  if (clone && !is_dir(root + ".cowroot/state")) die(root + ".cowroot/state: missing" + state_fix);
  if (!root.empty() && is_dir(root + ".cowroot/state")) {
    dir = root + ".cowroot/state";
    ephemeral = false;
    // A clone (its sidecar names its base) whose record of what it shares
    // with the base is gone or damaged: its writes could reach the base
    // and every sibling. Refused; reset makes the record again.
    std::string shared = root + ".cowroot/shared";
    bool cow = clone;
    if (cow && !cr::cow_record_readable(root.c_str()))
      die(label + ": a clone whose record of the files it shares with its base (" + shared +
          ") is missing or damaged: nothing is run in it (`cowroot reset` makes it again)");
    if (cow) setenv("COWROOT_COW", (root + ".cowroot").c_str(), 1);
  } else {
    dir = make_session_dir();
  }
  if (!o.cow.empty()) {
    char buf[4096];
    if (!realpath(o.cow.c_str(), buf) || !is_dir(buf)) {
      if (ephemeral) remove_dir(dir);
      die("--cow " + o.cow + ": not a directory");
    }
    setenv("COWROOT_COW_DIR", buf, 1);
    // As cow-shell does at its start: what has more than one link now is
    // shared; links made later are the session's own.
    std::string set = dir + "/cow-shared";
    char err[1024];
    if (cr::cow_scan(buf, set.c_str(), err, sizeof err) < 0) {
      if (ephemeral) remove_dir(dir);
      die(std::string("--cow: ") + err);
    }
    setenv("COWROOT_COW_SET", set.c_str(), 1);
  }
  cr::cow_init();
  unsetenv("COWROOT_COW");
  unsetenv("COWROOT_COW_DIR");
  unsetenv("COWROOT_COW_SET");
  // Mapped until the daemon holds the session: a sweep of sessions over
  // (make_session_dir) sees this one alive meanwhile. Then unmapped: a
  // daemon started again after a kill waits for every process that maps it.
  // A root's own state (a sidecar's) is opened as it is, never made anew
  // (a missing table or heap is refused, naming it); opening checks it
  // (State::check): a damaged one is refused in one line naming the file
  // (and, a clone's, the way back).
  cr::State st;
  if (int r = st.open(dir.c_str(), ephemeral); r < 0) {
    if (ephemeral) remove_dir(dir);
    if (ephemeral) die("cannot create the state in " + dir + ": " + strerror(-r));
    char why[8192];
    cr::say_state_error(dir.c_str(), r, st, why, sizeof why);
    die(why + state_fix);
  }
  {
    char err[512];
    if (!o.load.empty() && cr::load_state(st, o.load.c_str(), err, sizeof err) < 0) {
      if (ephemeral) remove_dir(dir);
      die(err);
    }
  }

  constexpr int kAttempts = 5;
  pid_t dpid = -1;
  int live = -1, ctl = -1;
  for (int attempt = 1;; attempt++) {
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0) die(std::string("pipe: ") + strerror(errno));
    dpid = fork();
    if (dpid < 0) die(std::string("fork: ") + strerror(errno));
    if (dpid == 0) {
      setsid();
      int wfd = dup(ready[1]);  // without O_CLOEXEC, for the daemon
      std::string fdarg = std::to_string(wfd);
      std::vector<const char*> args = {faked.c_str(), "--state", dir.c_str(), "--ready-fd", fdarg.c_str()};
      if (ephemeral) args.push_back("--ephemeral");
      if (!save.empty()) {
        args.push_back("--save");
        args.push_back(save.c_str());
      }
      args.push_back(nullptr);
      static const char* const env[] = {nullptr};
      if (o.daemon_in_child) {
        // The daemon's program, without starting it: what its exec would do
        // first (close-on-exec descriptors, handlers, mask, environment),
        // then its work. Named as the program is, for ps and pgrep.
        as_if_exec();
        environ = const_cast<char**>(env);
        forget_environment_block();
        prctl(PR_SET_NAME, "cowroot-faked", 0, 0, 0);
        cr::faked_quick_exit();
        _exit(cr::faked_main((int)args.size() - 1, const_cast<char**>(args.data())));
      }
      execve(faked.c_str(), const_cast<char* const*>(args.data()), const_cast<char* const*>(env));
      fprintf(stderr, "cowroot: cannot run %s: %s\n", faked.c_str(), strerror(errno));
      _exit(127);
    }
    close(ready[1]);
    char c;
    ssize_t got;
    do got = read(ready[0], &c, 1); while (got < 0 && errno == EINTR);
    close(ready[0]);
    if (got != 1) {
      int st = 0;
      waitpid(dpid, &st, 0);
      // Exit 0 without a word: another session of this root has the daemon.
      if (ephemeral || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (ephemeral) remove_dir(dir);
        // Status 1: it said why in one line (its state, its lock); 127:
        // this child said it could not run it. Not said twice.
        if (WIFEXITED(st) && (WEXITSTATUS(st) == 1 || WEXITSTATUS(st) == 127)) {
          fflush(stderr);
          g_exit(1);
        }
        die("the daemon " + faked + " did not start");
      }
      dpid = -1;
    }
    // Two connections: `live` goes to the command (and whatever it starts:
    // the session lives as long as one of them holds it), `ctl` stays here.
    // `ctl` declares itself the launcher's (the one that may name the state
    // file); `live` has spoken first, so no program of the session can.
    // The daemon may end before this launcher gets to it: another
    // session's, joined just as its last program went, or this one's own,
    // which another session started at once joined and ended (its end
    // leaves no grace). Then a daemon is started again, or another
    // session's joined, a few times before that is said.
    bool last = attempt == kAttempts;
    auto again = [&](const std::string& why) {
      if (last) die(why);
      if (dpid > 0) waitpid(dpid, nullptr, WNOHANG);
      dpid = -1;
    };
    live = connect_soon(dir);
    if (live < 0) {
      again("cannot connect to the daemon of " + dir + ": " + strerror(-live));
      continue;
    }
    uint64_t ignored;
    std::string answer;
    int asked = request(live, cr::proto::kPing, "", &ignored, &answer);
    if (asked == -2) stopped_daemon(dir, answer);
    if (asked != 1) {
      close(live);
      again("the daemon of " + dir + " did not answer");
      continue;
    }
    ctl = cr::connect_daemon(dir.c_str());
    if (ctl < 0) {
      close(live);
      again("cannot connect to the daemon of " + dir + ": " + strerror(-ctl));
      continue;
    }
    fcntl(ctl, F_SETFD, FD_CLOEXEC);
    asked = request(ctl, cr::proto::kControl, "", &ignored, &answer);
    if (asked == -2) stopped_daemon(dir, answer);
    if (asked != 1) {
      close(live);
      close(ctl);
      again("the daemon of " + dir + " did not answer");
      continue;
    }
    break;
  }
  st.close();

  cr::Session& s = cr::g_session;
  snprintf(s.state_dir, sizeof s.state_dir, "%s", dir.c_str());
  snprintf(s.lib, sizeof s.lib, "%s", lib.c_str());
  snprintf(s.faked, sizeof s.faked, "%s", faked.c_str());
  // A static command starts through the library, which confines it (or
  // refuses it where seccomp is not to be had).
  const char* confine = getenv("COWROOT_CONFINE");
  cr::g_confine.plan_static = !(confine && strcmp(confine, "0") == 0);
  // ... and the command, when it is a root's program, starts through
  // cowroot-stub (beside the daemon) as every later one does.
  if (cr::g_confine.plan_static &&
      (!cr::beside_daemon("cowroot-stub", cr::g_confine.stub, sizeof cr::g_confine.stub) ||
       access(cr::g_confine.stub, X_OK) != 0))
    cr::g_confine.stub[0] = 0;
  s.unknown_real = o.unknown_real;
  // The user's word for the whole session (exec_env carries it on).
  if (const char* a = getenv("COWROOT_ALLOW_STATIC")) s.allow_static = strcmp(a, "1") == 0;
  // The command's connection at a high number, as the library puts the
  // ones it makes: the command's first `open` gets 3, as natively.
  live = cr::move_live_fd_high(live);
  s.live_fd = live;
  if (o.fakechroot) {
    setenv(cr::kEnvFakechroot, "1", 1);
    // session_init's reading of the FAKECHROOT_* settings, for this process.
    s.fakechroot = true;
    s.fc_len = 0;
    for (const char* name : {"FAKECHROOT_EXCLUDE_PATH", "FAKECHROOT_CMD_SUBST", "FAKECHROOT_ELFLOADER",
                             "FAKECHROOT_AF_UNIX_PATH", "FAKECHROOT_DEBUG", "FAKECHROOT_LDLIBPATH"})
      if (const char* v = getenv(name)) {
        std::string kv = std::string(name) + "=" + v;
        if (s.fc_len + kv.size() + 1 > sizeof s.fc_vars) break;
        memcpy(s.fc_vars + s.fc_len, kv.c_str(), kv.size() + 1);
        s.fc_len += kv.size() + 1;
      }
  }
  initial_ids(s);
  if (!root.empty() && root != "/") {
    // --bind first, then COWROOT_BINDS: for the same inside path the first
    // wins (and /dev, /proc and /sys before either). FAKECHROOT_EXCLUDE_PATH
    // is added by the library itself (root_init), as after chroot().
    std::string binds = "/dev:/proc:/sys";
    std::vector<std::string> points;
    auto add_bind = [&](const std::string& what, const std::string& host, const std::string& inside) {
      char buf[4096];
      if (host.empty()) die(what + ": no host directory given (HOST[:INSIDE])", 2);
      if (!realpath(host.c_str(), buf)) die(what + ": " + host + ": " + strerror(errno));
      if (inside.empty() || inside[0] != '/') die(what + ": the inside path must be absolute");
      // The list travels as INSIDE=HOST entries separated by ':'.
      if (inside.find_first_of(":=") != std::string::npos || strpbrk(buf, ":="))
        die(what + ": a path with ':' or '=' cannot be passed through");
      binds += ":" + inside + "=" + buf;
      points.push_back(inside);
    };
    for (auto& b : o.binds) {
      size_t colon = b.find(':');
      std::string host = b.substr(0, colon), inside = colon == std::string::npos ? host : b.substr(colon + 1);
      add_bind("--bind " + b, host, inside);
      // As mount --bind: a directory goes over a directory, a file over a
      // file (an inside path not there yet is made as the host's kind).
      struct stat hs, is;
      std::string there;
      if (stat(host.c_str(), &hs) == 0 && cli::host_path(root, inside, &there) && stat(there.c_str(), &is) == 0 &&
          S_ISDIR(hs.st_mode) != S_ISDIR(is.st_mode))
        die("--bind " + b + ": " + inside + (S_ISDIR(is.st_mode) ? " is a directory in the root, " + host + " is not"
                                                                  : " is not a directory in the root, " + host + " is"),
            2);
    }
    if (const char* env = getenv("COWROOT_BINDS")) {
      std::string list = env;
      for (size_t start = 0; start < list.size();) {
        size_t end = list.find(':', start);
        if (end == std::string::npos) end = list.size();
        std::string e = list.substr(start, end - start);
        size_t eq = e.find('=');
        if (!e.empty())
          add_bind("COWROOT_BINDS", eq == std::string::npos ? e : e.substr(eq + 1), e.substr(0, eq));
        start = end + 1;
      }
    }
    setenv("COWROOT_ROOT", root.c_str(), 1);
    setenv("COWROOT_CHROOT", "/", 1);
    setenv("COWROOT_BINDS", binds.c_str(), 1);
    unsetenv("COWROOT_EXE");
    if (cr::g_cow.sidecar[0] && cr::g_cow.clone_root_len)
      for (auto& inside : points) make_bind_point(root, inside);
    cr::root_init();
    if (!cr::g_root.cwd_known && chdir(root.c_str()) == 0) cr::root_cwd_changed();
    // exec_env gives the command the root's variables from g_root.
    unsetenv("COWROOT_ROOT");
    unsetenv("COWROOT_CHROOT");
    unsetenv("COWROOT_BINDS");
  }

  std::vector<std::string> cmd = o.command;
  if (cmd.empty()) {
    const char* sh = getenv("SHELL");
    cmd.push_back(sh && *sh ? sh : "/bin/sh");
  }
  std::vector<char*> argv;
  for (auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  // Like a shell waiting for a foreground job: the command gets the
  // terminal's signals, the launcher outlives them to close the session.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  // Here, not in the child: this process is the command's parent, whose
  // descriptors /proc/PPID/fd/N reaches (run_session always runs in a
  // process of its own: the launcher, or a fixture's child).
  if (cr::g_root.active) drop_outside_dirs();
  pid_t child = fork();
  if (child < 0) die(std::string("fork: ") + strerror(errno));
  if (child == 0) {
    cr::g_root_label = label.c_str();
    // The plan needs the fake modes (a setuid program, a file capability,
    // execute permission for a fake user): this child maps the state until
    // its exec (the launcher itself does not, see above).
    cr::g_state.open(dir.c_str(), false, /*lazy_heap=*/true);
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    if (g_xfsz_ignored) signal(SIGXFSZ, SIG_DFL);
    confine_first_program();
    // Search PATH the way the session sees the file system (inside the root).
    int refused = 0;
    int err = cr::search_path(argv[0], argv.data(), true, [&](const char* path, char* const* av) {
      cr::exec_program(AT_FDCWD, path, av, environ, 0);
      if (!cr::g_exec_reported) return errno;
      refused = errno;  // a refusal said why already: no further entry
      return EPERM;
    });
    if (refused) err = refused;
    if (!cr::g_exec_reported && cr::g_root.active)
      fprintf(stderr, "cowroot: %s: %s in the root %s\n", argv[0], strerror(err), label.c_str());
    else if (!cr::g_exec_reported)
      fprintf(stderr, "cowroot: %s: %s\n", argv[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
  }
  relay_signals(child, o.kill_on_term);
  // The command's connection is the command's: what it leaves running
  // (a daemon it started) keeps it, not this process.
  uint64_t command_conn = cli::socket_inode(live);
  close(live);
  int status = 0;
  bool timed_out = false, stopped = false;
  bool parent_gone = false;
  if (o.timeout_ms > 0 || o.kill_on_term || o.tied_to > 0) {
    // SIGTERM held back but while waiting (ppoll), so that one sent
    // between the look at the flag and the wait ends the wait.
    sigset_t held, old;
    sigemptyset(&held);
    if (o.kill_on_term) sigaddset(&held, SIGTERM);
    if (o.tied_to > 0) sigaddset(&held, kParentGone);
    sigprocmask(SIG_BLOCK, &held, &old);
    int pfd = (int)syscall(SYS_pidfd_open, child, 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
      if (waitpid(child, &status, WNOHANG) == child) break;
      if (g_term_seen) {
        stopped = true;
        break;
      }
      if (g_parent_gone) {
        stopped = parent_gone = true;
        break;
      }
      long left = -1;
      if (o.timeout_ms > 0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        left = o.timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0) {
          timed_out = true;
          break;
        }
      }
      // Without a pidfd (before Linux 5.3), a look every 10 ms.
      long wait_ms = pfd >= 0 ? (left < 0 ? 1000 : std::min(left, 1000L)) : (left < 0 ? 10 : std::min(left, 10L));
      struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
      pollfd p{pfd, POLLIN, 0};
      ppoll(pfd >= 0 ? &p : nullptr, pfd >= 0 ? 1 : 0, &ts, &old);
    }
    if (pfd >= 0) close(pfd);
    if (timed_out || stopped) {
      // The command, and everything it started that still holds its
      // connection (children in other process groups and sessions too).
      kill(child, SIGKILL);
      cli::kill_holders({command_conn});
      while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      if (timed_out)
        fprintf(stderr, "cowroot: %s timed out after %g s: killed it and what it started\n", cmd[0].c_str(),
                o.timeout_ms / 1000.0);
      else if (parent_gone)
        fprintf(stderr, "cowroot: %s: the cowroot that started it was killed: killed it and what it started\n",
                cmd[0].c_str());
      else
        fprintf(stderr, "cowroot: %s stopped by SIGTERM: killed it and what it started\n", cmd[0].c_str());
    }
    sigprocmask(SIG_SETMASK, &old, nullptr);
  } else {
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
  }
  int code = timed_out ? 124 : stopped ? 128 + SIGTERM : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

  // When the command has left programs running in its session, they go on
  // without us (in a throwaway root, `cowroot run` stops them).
  std::string failed = end_session(ctl, dpid, faked, dir, save, ephemeral);
  if (!failed.empty()) {
    fprintf(stderr, "cowroot: %s\n", failed.c_str());
    if (code == 0) code = 1;
  }
  return code;
}

}  // namespace cli::launch
