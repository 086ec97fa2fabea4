// Hand-written doors that start programs: the execl family, posix_spawn,
// system and popen (glibc runs its internal exec for these).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
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

namespace {
int exec_with_session(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  return exec_program(dirfd, path, argv, envp, flags);
}

// execvp's search of PATH, without allocation (usable in a vfork child).
#define COLLECT_ARGS(arg0, ap, argv, extra)                                      \
  size_t argc_ = 1;                                                             \
  {                                                                             \
    va_list c_;                                                                 \
    va_copy(c_, ap);                                                            \
    while (va_arg(c_, char*)) argc_++;                                          \
    va_end(c_);                                                                 \
  }                                                                             \
  char** argv = static_cast<char**>(__builtin_alloca((argc_ + 1) * sizeof(char*))); \
  argv[0] = const_cast<char*>(arg0);                                            \
  for (size_t i_ = 1; i_ <= argc_; i_++) argv[i_] = va_arg(ap, char*);          \
  extra

}  // namespace

int cr::wrap::exec_search(const char* file, char* const argv[], char* const envp[]) {
  int e = search_path(file, argv, true, [&](const char* path, char* const* av) {
    exec_with_session(AT_FDCWD, path, av, envp, 0);
    return errno;
  });
  errno = e;
  return -1;
}

// Collects the arguments of an execl-style call into a stack array.
EXPORT int execl(const char* p, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  COLLECT_ARGS(arg, ap, argv, va_end(ap));
  return execve(p, argv, environ);
}
EXPORT int execlp(const char* f, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  COLLECT_ARGS(arg, ap, argv, va_end(ap));
  return execvp(f, argv);
}
EXPORT int execle(const char* p, const char* arg, ...) {
  va_list ap;
  va_start(ap, arg);
  COLLECT_ARGS(arg, ap, argv, );
  char* const* envp = va_arg(ap, char* const*);
  va_end(ap);
  return execve(p, argv, envp);
}

// Inside a root, the directory a file-actions object's chdir actions
// leave the child in (an inside path): glibc performs its later actions,
// and finds a relative program, in the child after the chdir, but they
// are translated here, in the parent, where the working directory is the
// parent's (Rust's Command::current_dir is addchdir_np).
namespace {
struct SpawnDir {
  const void* fa;
  char dir[PATH_MAX];
};
constexpr int kSpawnDirs = 8;
SpawnDir g_spawn_dirs[kSpawnDirs];
int g_spawn_next;
std::atomic_flag g_spawn_lock = ATOMIC_FLAG_INIT;
struct SpawnLock {
  SpawnLock() {
    while (g_spawn_lock.test_and_set(std::memory_order_acquire)) {
    }
  }
  ~SpawnLock() { g_spawn_lock.clear(std::memory_order_release); }
};

// dir null: fa has none (any more).
void set_spawn_dir(const void* fa, const char* dir) {
  SpawnLock l;
  SpawnDir* slot = nullptr;
  for (auto& d : g_spawn_dirs)
    if (d.fa == fa) slot = &d;
  if (!dir) {
    if (slot) slot->fa = nullptr;
    return;
  }
  if (strlen(dir) >= PATH_MAX) return;
  if (!slot) slot = &g_spawn_dirs[g_spawn_next++ % kSpawnDirs];
  slot->fa = fa;
  strcpy(slot->dir, dir);
}

// p, or p relative to fa's directory (joined into buf).
const char* in_spawn_dir(const void* fa, const char* p, char* buf, size_t n) {
  if (!fa || !p || !*p || p[0] == '/' || !cr::g_root.active) return p;
  SpawnLock l;
  for (auto& d : g_spawn_dirs)
    if (d.fa == fa) {
      size_t dl = strlen(d.dir), pl = strlen(p);
      if (dl + 1 + pl >= n) return p;
      memcpy(buf, d.dir, dl);
      buf[dl] = '/';
      memcpy(buf + dl + 1, p, pl + 1);
      return buf;
    }
  return p;
}
}  // namespace

using spawn_fn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                         char* const[], char* const[]);
// posix_spawn goes through glibc's own exec, out of reach: plan the exec
// here (environment, and inside a root the root's loader) and hand glibc
// the result.
static int spawn_planned(const cr::wrap::Real<spawn_fn>& fn, pid_t* pid, const char* p, const posix_spawn_file_actions_t* fa,
                         const posix_spawnattr_t* at, char* const a[], char* const e[]) {
  long r = with_plan(AT_FDCWD, p, a, e, 0, [&](Plan& plan) -> long {
    long r = fn(pid, plan.path, fa, at, plan.argv, plan.envp);  // 0 or an error number
    plan_done(&plan);
    return r;
  });
  return (int)(r < 0 ? -r : r);
}
EXPORT int posix_spawn(pid_t* pid, const char* p, const posix_spawn_file_actions_t* fa, const posix_spawnattr_t* at,
                       char* const a[], char* const e[]) {
  ensure();
  static auto fn = real<spawn_fn>("posix_spawn");
  char joined[PATH_MAX];
  return spawn_planned(fn, pid, in_spawn_dir(fa, p, joined, sizeof joined), fa, at, a, e);
}
EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* fa,
                        const posix_spawnattr_t* at, char* const a[], char* const e[]) {
  ensure();
  static auto fn = real<spawn_fn>("posix_spawn");
  // Search PATH inside the session's view of the file system.
  return search_path(file, a, false, [&](const char* path, char* const* av) {
    return spawn_planned(fn, pid, path, fa, at, av, e);
  });
}

EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t* fa, int fd, const char* p, int oflag,
                                            mode_t mode) {
  ensure();
  using fn_t = int (*)(posix_spawn_file_actions_t*, int, const char*, int, mode_t);
  static auto fn = real<fn_t>("posix_spawn_file_actions_addopen");
  Resolved r;  // glibc keeps a copy of the path
  char joined[PATH_MAX];
  if (int e = resolve(AT_FDCWD, in_spawn_dir(fa, p, joined, sizeof joined), (oflag & O_NOFOLLOW) ? 0 : kFollow, &r))
    return -e;
  return fn(fa, fd, r.path, oflag, mode);
}
EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t* fa, const char* p) {
  ensure();
  using fn_t = int (*)(posix_spawn_file_actions_t*, const char*);
  static auto fn = real<fn_t>("posix_spawn_file_actions_addchdir_np");
  char joined[PATH_MAX];
  const char* in = in_spawn_dir(fa, p, joined, sizeof joined);
  Resolved r;
  if (int e = resolve(AT_FDCWD, in, kFollow, &r)) return -e;
  int rc = fn(fa, r.path);
  if (rc == 0 && g_root.active) {
    // The child's directory from here on, for the actions after this one.
    char dir[PATH_MAX];
    if (in[0] == '/') {
      set_spawn_dir(fa, in);
    } else if (size_t cl = strlen(g_root.cwd), il = strlen(in); g_root.cwd_known && cl + 1 + il < sizeof dir) {
      memcpy(dir, g_root.cwd, cl);
      dir[cl] = '/';
      memcpy(dir + cl + 1, in, il + 1);
      set_spawn_dir(fa, dir);
    }
  }
  return rc;
}
EXPORT int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t* fa, int dirfd) {
  ensure();
  using fn_t = int (*)(posix_spawn_file_actions_t*, int);
  static auto fn = real<fn_t>("posix_spawn_file_actions_addfchdir_np");
  if (!fn.fn) return ENOSYS;
  int rc = fn(fa, dirfd);
  char host[PATH_MAX], inside[PATH_MAX];
  if (rc == 0 && g_root.active && fd_host_path(dirfd, host, sizeof host) && to_inside(host, inside, sizeof inside))
    set_spawn_dir(fa, inside);
  return rc;
}
EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t* fa) {
  ensure();
  using fn_t = int (*)(posix_spawn_file_actions_t*);
  static auto fn = real<fn_t>("posix_spawn_file_actions_init");
  set_spawn_dir(fa, nullptr);
  return fn(fa);
}
EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t* fa) {
  ensure();
  using fn_t = int (*)(posix_spawn_file_actions_t*);
  static auto fn = real<fn_t>("posix_spawn_file_actions_destroy");
  set_spawn_dir(fa, nullptr);
  return fn(fa);
}
// ---- system and popen: glibc spawns /bin/sh through its internal exec ----
// system() ignores SIGINT and SIGQUIT while its command runs. Several
// threads may be in it at once: the first one in saves the dispositions
// and the last one out puts them back, as glibc's own does (each saving
// and restoring its own left them ignored for good, the one that saved
// another's SIG_IGN restoring last).
namespace {
// A lock for what system() and popen() keep beside the program's threads.
struct SpinLock {
  std::atomic<int> held{0};
  void lock() {
    while (held.exchange(1, std::memory_order_acquire)) sched_yield();
  }
  void unlock() { held.store(0, std::memory_order_release); }
};
SpinLock g_system_lock;
int g_system_users;
struct sigaction g_system_int, g_system_quit;
}  // namespace

EXPORT int system(const char* cmd) {
  ensure();
  if (!cmd) return 1;  // a shell is available
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  sigprocmask(SIG_BLOCK, &block, &old);
  struct sigaction ign{}, oint, oquit;
  ign.sa_handler = SIG_IGN;
  g_system_lock.lock();
  if (g_system_users++ == 0) {
    sigaction(SIGINT, &ign, &g_system_int);
    sigaction(SIGQUIT, &ign, &g_system_quit);
  }
  oint = g_system_int;
  oquit = g_system_quit;
  g_system_lock.unlock();
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  sigset_t def;
  sigemptyset(&def);
  if (oint.sa_handler != SIG_IGN) sigaddset(&def, SIGINT);
  if (oquit.sa_handler != SIG_IGN) sigaddset(&def, SIGQUIT);
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setsigmask(&at, &old);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  const char* argv[] = {"sh", "-c", cmd, nullptr};
  pid_t pid;
  int r = posix_spawn(&pid, "/bin/sh", nullptr, &at, const_cast<char* const*>(argv), environ);
  posix_spawnattr_destroy(&at);
  int status = -1;
  if (r == 0) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  } else {
    status = 127 << 8;
  }
  g_system_lock.lock();
  if (--g_system_users == 0) {
    sigaction(SIGINT, &g_system_int, nullptr);
    sigaction(SIGQUIT, &g_system_quit, nullptr);
  }
  g_system_lock.unlock();
  sigprocmask(SIG_SETMASK, &old, nullptr);
  return status;
}

namespace {
struct PopenEntry {
  FILE* f;
  pid_t pid;
};
PopenEntry g_popen[64];
SpinLock g_popen_lock;
}  // namespace

EXPORT FILE* popen(const char* cmd, const char* mode) {
  ensure();
  bool rd = mode[0] == 'r', cloexec = strchr(mode, 'e') != nullptr;
  if ((mode[0] != 'r' && mode[0] != 'w')) {
    errno = EINVAL;
    return nullptr;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return nullptr;
  int mine = rd ? fds[0] : fds[1], theirs = rd ? fds[1] : fds[0];
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, theirs, rd ? 1 : 0);
  g_popen_lock.lock();
  // Streams of earlier popen calls must not leak into this child (POSIX).
  for (auto& e : g_popen)
    if (e.f) posix_spawn_file_actions_addclose(&fa, fileno(e.f));
  g_popen_lock.unlock();
  const char* argv[] = {"sh", "-c", cmd, nullptr};
  pid_t pid;
  int r = posix_spawn(&pid, "/bin/sh", &fa, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(theirs);
  if (r != 0) {
    close(mine);
    errno = r;
    return nullptr;
  }
  if (!cloexec) fcntl(mine, F_SETFD, 0);
  FILE* f = fdopen(mine, rd ? "r" : "w");
  if (!f) {
    close(mine);
    return nullptr;
  }
  g_popen_lock.lock();
  for (auto& e : g_popen)
    if (!e.f) {
      e = {f, pid};
      break;
    }
  g_popen_lock.unlock();
  return f;
}

EXPORT int pclose(FILE* f) {
  ensure();
  pid_t pid = -1;
  g_popen_lock.lock();
  for (auto& e : g_popen)
    if (e.f == f) {
      pid = e.pid;
      e = {nullptr, 0};
      break;
    }
  g_popen_lock.unlock();
  if (pid < 0) {
    using fn_t = int (*)(FILE*);
    static auto fn = real<fn_t>("pclose");
    return fn(f);
  }
  fclose(f);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return status;
}
