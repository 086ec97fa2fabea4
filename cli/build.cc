// Builds that leave nothing half-made (build.h).
#include "build.h"
#include "procs.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "clone/clone.h"
#include "images.h"

namespace cli {

namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool mkdirs(const std::string& p) {
  if (is_dir(p)) return true;
  size_t s = p.rfind('/');
  if (s != std::string::npos && s > 0 && !mkdirs(p.substr(0, s))) return false;
  return mkdir(p.c_str(), 0755) == 0 || errno == EEXIST;
}

// debootstrap (or a layer's steps, or an import) runs in a process group of its own under a guard, a child of
// this process that is the subreaper of the build: whatever the build
// starts and leaves behind (the session's daemon, which has a session of
// its own) becomes the guard's child. The guard holds the read end of a
// pipe whose write end only the builder holds, so it notices the builder's
// death however it comes (kill -9 too): it then kills the build's process
// group, ends and reaps every process left, and removes the partial
// directory. The guard and the build's processes all hold the image's lock,
// so the next build of the image waits until nothing of this one runs
// before it clears what is left.

// The direct children of this process.
std::vector<pid_t> own_children() {
  std::vector<pid_t> out;
  pid_t me = getpid();
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)me, (int)me);
  if (FILE* f = fopen(path, "re")) {
    long p;
    while (fscanf(f, "%ld", &p) == 1) out.push_back((pid_t)p);
    fclose(f);
    return out;
  }
  // A kernel without CONFIG_PROC_CHILDREN: every process's parent, from stat.
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
      std::string line;
      if (!std::getline(in, line)) continue;
      size_t paren = line.rfind(')');
      if (paren == std::string::npos) continue;
      char state;
      long ppid;
      if (sscanf(line.c_str() + paren + 1, " %c %ld", &state, &ppid) == 2 && ppid == me)
        out.push_back((pid_t)atol(e->d_name));
    }
    closedir(d);
  }
  return out;
}

// Kills the build's process group, then ends every other process left to
// the guard (SIGTERM: the session's daemon saves and removes its session;
// SIGKILL after 5 s), and reaps them all. The group's leader is not reaped
// before the group is killed, so its id cannot have gone to another process.
void stop_build(pid_t leader, int* leader_status, int chld_fd) {
  kill(-leader, SIGKILL);
  for (int round = 0;; round++) {
    int st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0)
      if (p == leader) *leader_status = st;
    if (p < 0 && errno == ECHILD) return;
    for (pid_t c : own_children()) kill(c, round < 250 ? SIGTERM : SIGKILL);
    pollfd pf{chld_fd, POLLIN, 0};
    if (poll(&pf, 1, 20) > 0) {
      signalfd_siginfo si;
      while (chld_fd >= 0 && read(chld_fd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
    }
  }
}

struct GuardArgs {
  std::vector<std::string> argv;  // the build's command
  std::string work, name;
  int lock, ctl, report;  // the lock; the builder's pipe (read end); where to report the build's status
  int out;                // the build's output and error output go here (the builder reads it)
  std::string lock_path;  // removed by the guard when the builder died (the builder removes it otherwise)
  sigset_t mask;          // the builder's signal mask before the build
};

// The guard's whole life, in the child the builder forked.
[[noreturn]] void run_guard(const GuardArgs& g) {
  // The guard must finish its job: only SIGKILL stops it. It keeps its
  // children as zombies until it reaps them (SIGCHLD not ignored).
  static const int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGTTIN, SIGTTOU, SIGTSTP, SIGCHLD};
  constexpr size_t kN = sizeof kSignals / sizeof kSignals[0];
  struct sigaction orig[kN];
  for (size_t i = 0; i < kN; i++) {
    sigaction(kSignals[i], nullptr, &orig[i]);
    signal(kSignals[i], kSignals[i] == SIGCHLD ? SIG_DFL : SIG_IGN);
  }
  setpgid(0, 0);  // neither a kill of the builder's group nor a Ctrl-C reaches it
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_NAME, "cowroot-guard");
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, nullptr);
  int chld_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  pid_t build = fork();
  if (build == 0) {
    setpgid(0, 0);
    for (size_t i = 0; i < kN; i++) sigaction(kSignals[i], &orig[i], nullptr);
    sigprocmask(SIG_SETMASK, &g.mask, nullptr);
    // The whole build holds the image's lock, whatever becomes of the guard.
    fcntl(g.lock, F_SETFD, 0);
    std::vector<char*> av;
    for (auto& a : g.argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    // debootstrap lives in /usr/sbin, which an ordinary user's PATH may
    // lack: added after it (a debootstrap of the user's own comes first).
    std::string path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
    setenv("PATH", (path + ":/usr/sbin:/sbin").c_str(), 1);
    // It asks nothing (a process group of its own must not read the
    // terminal), and its progress is for the person waiting: on stderr,
    // never mixed into the output of the command the image is built for.
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    dup2(g.out, 2);
    dup2(2, 1);
    execvp(av[0], av.data());
    fprintf(stderr, "cowroot: cannot run %s: %s\n", av[0], strerror(errno));
    _exit(127);
  }
  close(g.out);
  int status = W_EXITCODE(127, 0);
  bool builder_gone = false, quiet = false, done = build < 0;
  if (build > 0) setpgid(build, build);
  // Until the build ends, or the builder goes.
  while (!done && !builder_gone) {
    pollfd pf[2] = {{g.ctl, POLLIN, 0}, {chld_fd, POLLIN, 0}};
    if (poll(pf, 2, chld_fd < 0 ? 100 : -1) < 0) continue;  // (no signalfd: look now and then)
    if (pf[0].revents) {
      char c;
      ssize_t n = read(g.ctl, &c, 1);
      if (n == 1) quiet = true;  // the builder stops the build itself and says why
      else if (n == 0 || errno != EINTR) builder_gone = true;
    }
    if (pf[1].revents || chld_fd < 0) {
      signalfd_siginfo si;
      while (chld_fd >= 0 && read(chld_fd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
      // The build's end is seen, not reaped (see stop_build); orphans
      // the build left to the guard are reaped as they end.
      siginfo_t info{};
      done = waitid(P_PID, build, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == build;
      for (pid_t c : own_children())
        if (c != build) waitpid(c, nullptr, WNOHANG);
    }
  }
  // Anything of the build still running goes, even after a good end.
  if (build > 0) stop_build(build, &status, chld_fd);
  if (!builder_gone) {
    if (write(g.report, &status, sizeof status) != (ssize_t)sizeof status) { /* the builder is gone: seen below */ }
    // The builder finishes the image (or gives up); then the guard is done.
    char c;
    ssize_t n;
    while ((n = read(g.ctl, &c, 1)) != 0)
      if (n == 1) quiet = true;
      else if (errno != EINTR) break;
  }
  struct stat st;
  if (lstat(g.work.c_str(), &st) == 0) {
    // The builder died before the image was in place.
    char ignore[512];
    cr::remove_tree(g.work.c_str(), ignore, sizeof ignore);
    if (!quiet)
      fprintf(stderr, "cowroot: image %s: its builder died: the build was stopped and %s removed\n", g.name.c_str(),
              g.work.c_str());
  }
  // The lock goes last: whoever takes it next finds nothing of this build.
  if (builder_gone) unlink(g.lock_path.c_str());
  if (g.lock > 0) close_range(0, g.lock - 1, 0);
  close_range(g.lock + 1, ~0U, 0);
  _exit(0);
}

// The build's output on its way to stderr: lines that say why it failed
// (debootstrap's "E: ") are held back for the builder's last word, which
// says them once.
struct BuildOutput {
  int fd = -1;
  std::string held;  // the prefix of the lines held back
  std::string partial;
  std::vector<std::string> errors;
  void line(const std::string& l) {
    if (held == "*") {
      if (l.find_first_not_of(" \t\r\n") != std::string::npos) errors.push_back(l.substr(0, l.find_last_not_of("\r\n") + 1));
    } else if (!held.empty() && l.rfind(held, 0) == 0) {
      errors.push_back(l.substr(0, l.find_last_not_of("\r\n") + 1));
    } else {
      fputs(l.c_str(), stderr);
    }
  }
  // What the pipe holds now.
  void read_some() {
    char buf[8192];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) != 0) {
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return;
        break;
      }
      partial.append(buf, n);
      for (size_t nl; (nl = partial.find('\n')) != std::string::npos;) {
        line(partial.substr(0, nl + 1));
        partial.erase(0, nl + 1);
      }
    }
    finish();  // the end of the pipe
  }
  void finish() {
    if (!partial.empty()) line(partial + "\n");
    partial.clear();
    if (fd >= 0) close(fd);
    fd = -1;
  }
  std::string why() const {  // the last three, in one line
    std::string w;
    for (size_t i = errors.size() > 3 ? errors.size() - 3 : 0; i < errors.size(); i++)
      w += (w.empty() ? "" : "; ") + errors[i];
    return w;
  }
};

// Reads a termination signal that came during the build, or 0.
int pending_signal(int sfd) {
  signalfd_siginfo si;
  if (sfd >= 0 && read(sfd, &si, sizeof si) == (ssize_t)sizeof si) return (int)si.ssi_signo;
  return 0;
}

}  // namespace

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : "cowroot";
}

// Takes the image's lock NAME.lock, waiting for it (saying so) or not:
// the descriptor, -2 when it is held and `wait` is false, or -1 with err.
// A holder removes the file before letting go: the lock of a file that is
// gone when this one gets it is no lock, and is taken again.
int take_lock(const std::string& path, const std::string& name, bool wait, std::string* err, bool* waited) {
  if (waited) *waited = false;
  for (bool said = false;;) {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      *err = "cannot create " + path + ": " + strerror(errno);
      return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
      if (!wait) {
        close(fd);
        return -2;
      }
      if (!said) fprintf(stderr, "cowroot: waiting for another build of image %s\n", name.c_str());
      said = true;
      if (waited) *waited = true;
      while (flock(fd, LOCK_EX) < 0 && errno == EINTR) {
      }
    }
    struct stat held, now;
    if (fstat(fd, &held) == 0 && stat(path.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev)
      return fd;
    close(fd);
  }
}

void clear_stale_builds(const std::string& name) {
  // Every build holds the image's lock, and so do its guard and all its
  // processes: with the lock taken, none of them runs, and what builds
  // left is stale. A refresh stopped between its two renames left the old
  // image aside.
  std::string dir = cache_dir(), final_dir = dir + "/" + name;
  if (DIR* d = opendir(dir.c_str())) {
    std::string building = name + ".build-", aside = name + ".old-";
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name, p = dir + "/" + n;
      if (n.rfind(building, 0) != 0 && n.rfind(aside, 0) != 0) continue;
      if (n.rfind(aside, 0) == 0 && !is_dir(final_dir) && rename(p.c_str(), final_dir.c_str()) == 0) continue;
      char ignore[512];
      cr::remove_tree(p.c_str(), ignore, sizeof ignore);
    }
    closedir(d);
  }
}

int run_build(const Build& b, std::string* err) {
  std::string dir = cache_dir();
  if (!mkdirs(dir)) {
    *err = "cannot create the image cache " + dir + ": " + strerror(errno);
    return -1;
  }
  // One builder at a time; the others wait and then find the image made.
  std::string lockp = dir + "/" + b.name + ".lock", final_dir = dir + "/" + b.name;
  bool had = is_dir(final_dir), waited;
  int lock = take_lock(lockp, b.name, true, err, &waited);
  if (lock < 0) return -1;
  // Whoever lets go of the lock removes its file first (a waiter then
  // finds it gone and takes a new one): a build leaves no NAME.lock.
  auto unlock = [&] {
    unlink(lockp.c_str());
    close(lock);
  };
  clear_stale_builds(b.name);
  if (b.current && b.current()) {
    unlock();
    if (waited && b.share_result && !b.done.empty()) fprintf(stderr, "cowroot: %s\n", b.done.c_str());
    return 0;
  }
  if (waited && b.share_result && !had && !is_dir(final_dir)) {
    unlock();
    *err = "cannot build image " + b.name + ": the build of it this one waited for failed or was stopped " +
           "(its own output says why; build it again to try again)";
    return -1;
  }
  std::string work = dir + "/" + b.name + ".build-" + std::to_string(getpid());
  // SIGINT, SIGTERM and SIGHUP (unless ignored, as under nohup) are taken
  // as events from here on: they stop the build, which is then removed.
  sigset_t term, old_mask;
  sigemptyset(&term);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction cur;
    if (sigaction(sig, nullptr, &cur) == 0 && cur.sa_handler != SIG_IGN) sigaddset(&term, sig);
  }
  sigprocmask(SIG_BLOCK, &term, &old_mask);
  int sfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
  pid_t guard = -1;
  int ctl = -1;  // the guard's pipe: it stops and removes the build when this closes
  auto end_guard = [&] {
    if (guard <= 0) return;
    if (write(ctl, "q", 1) < 0) { /* the guard is gone */ }
    close(ctl);
    while (waitpid(guard, nullptr, 0) < 0 && errno == EINTR) {
    }
    guard = -1;
  };
  auto restore = [&] {
    if (sfd >= 0) close(sfd);
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  };
  auto give_up = [&](const std::string& why) {
    end_guard();
    char ignore[512];
    cr::remove_tree(work.c_str(), ignore, sizeof ignore);
    unlock();
    restore();
    *err = why;
    return -1;
  };
  // Stopped by a signal: nothing of the build is left, then the signal
  // takes its normal course.
  auto stopped = [&](int sig) {
    end_guard();
    char ignore[512];
    cr::remove_tree(work.c_str(), ignore, sizeof ignore);
    unlock();
    fprintf(stderr, "cowroot: image %s: build stopped by SIG%s, nothing of it left\n", b.name.c_str(),
            sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    if (sfd >= 0) close(sfd);
    cli::die_of_signal(sig);
  };
  if (sfd < 0) return give_up(std::string("signalfd: ") + strerror(errno));
  if (mkdir(work.c_str(), 0755) < 0) return give_up("cannot create " + work + ": " + strerror(errno));
  if (!b.banner.empty()) fprintf(stderr, "cowroot: %s\n", b.banner.c_str());
  if (b.prepare)
    if (std::string why = b.prepare(work); !why.empty()) return give_up(why);
  GuardArgs ga;
  ga.argv = b.command(work);
  ga.work = work;
  ga.name = b.name;
  ga.lock = lock;
  ga.lock_path = lockp;
  ga.mask = old_mask;
  int ctl_pipe[2], report_pipe[2], out_pipe[2];
  if (pipe2(ctl_pipe, O_CLOEXEC) < 0) return give_up(std::string("pipe: ") + strerror(errno));
  if (pipe2(report_pipe, O_CLOEXEC) < 0) {
    close(ctl_pipe[0]);
    close(ctl_pipe[1]);
    return give_up(std::string("pipe: ") + strerror(errno));
  }
  if (pipe2(out_pipe, O_CLOEXEC) < 0) {
    for (int fd : {ctl_pipe[0], ctl_pipe[1], report_pipe[0], report_pipe[1]}) close(fd);
    return give_up(std::string("pipe: ") + strerror(errno));
  }
  BuildOutput output;
  output.fd = out_pipe[0];
  output.held = b.held;
  fcntl(output.fd, F_SETFL, O_NONBLOCK);
  fflush(nullptr);
  guard = fork();
  if (guard == 0) {
    close(ctl_pipe[1]);
    close(report_pipe[0]);
    close(out_pipe[0]);
    close(sfd);
    ga.ctl = ctl_pipe[0];
    ga.report = report_pipe[1];
    ga.out = out_pipe[1];
    run_guard(ga);
  }
  close(ctl_pipe[0]);
  close(report_pipe[1]);
  close(out_pipe[1]);
  ctl = ctl_pipe[1];
  if (guard < 0) {
    close(ctl);
    close(report_pipe[0]);
    output.finish();
    return give_up(std::string("fork: ") + strerror(errno));
  }
  // The build's end, or a signal; its output meanwhile.
  int status = -1;
  for (;;) {
    pollfd pf[3] = {{report_pipe[0], POLLIN, 0}, {sfd, POLLIN, 0}, {output.fd, POLLIN, 0}};
    if (poll(pf, 3, -1) < 0) continue;
    if (pf[2].revents) output.read_some();
    if (int sig = pending_signal(sfd)) {
      close(report_pipe[0]);
      output.finish();
      stopped(sig);
    }
    if (pf[0].revents) {
      if (read(report_pipe[0], &status, sizeof status) != (ssize_t)sizeof status) status = -1;
      break;
    }
  }
  close(report_pipe[0]);
  // The build is over: what it wrote is in the pipe (a daemon of its
  // session may hold the pipe a little longer).
  output.read_some();
  output.finish();
  if (status == -1) return give_up("cannot build image " + b.name + ": the guard of the build died");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return give_up(b.failed(status, output.why(), work));
  if (int sig = pending_signal(sfd)) stopped(sig);
  if (std::string why = b.finish(work); !why.empty()) return give_up(why);
  // The last chance to stop: from here the signals wait until the image is
  // in place.
  if (int sig = pending_signal(sfd)) stopped(sig);
  // Into place: the old image (a refresh) goes aside first, then away.
  char e[1024];
  std::string old = dir + "/" + b.name + ".old-" + std::to_string(getpid());
  bool had_old = is_dir(final_dir);
  if (had_old && rename(final_dir.c_str(), old.c_str()) < 0) return give_up("cannot replace " + final_dir + ": " + strerror(errno));
  if (rename(work.c_str(), final_dir.c_str()) < 0) {
    if (had_old) rename(old.c_str(), final_dir.c_str());
    return give_up("cannot move the image into " + final_dir + ": " + strerror(errno));
  }
  if (had_old) cr::remove_tree(old.c_str(), e, sizeof e);
  // Ready clones of the old image would reset to the new one wrongly.
  if (DIR* d = opendir((dir + "/" + b.name + ".runs").c_str())) {
    while (dirent* de = readdir(d))
      if (strncmp(de->d_name, "ready-", 6) == 0)
        cr::remove_tree((dir + "/" + b.name + ".runs/" + de->d_name).c_str(), e, sizeof e);
    closedir(d);
  }
  end_guard();
  unlock();
  restore();
  if (!b.done.empty()) fprintf(stderr, "cowroot: %s\n", b.done.c_str());
  return 0;
}

}  // namespace cli
