// The daemon's work (faked.cc is its program; the test fixture forks it
// from a test process's session child instead of starting that program).
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "daemon.h"
#include "../preload/core/proto.h"
#include "../preload/core/session_end.h"
#include "../preload/core/state.h"


namespace {

// exit, or _exit in a daemon forked from a test process (faked_quick_exit).
void (*g_exit)(int) = exit;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

[[noreturn]] void die(const std::string& msg) {
  fprintf(stderr, "cowroot-faked: %s\n", msg.c_str());
  g_exit(1);
  abort();
}

struct Options {
  std::string dir, save;
  bool ephemeral = false, detach = false;
  int ready_fd = -1;
  int grace_ms = 50;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("option " + a + " needs a value");
      return argv[++i];
    };
    if (a == "--state") o.dir = next();
    else if (a == "--save") o.save = next();
    else if (a == "--ephemeral") o.ephemeral = true;
    else if (a == "--detach") o.detach = true;
    else if (a == "--ready-fd") o.ready_fd = atoi(next().c_str());
    else if (a == "--grace") o.grace_ms = atoi(next().c_str());
    else die("unknown option " + a + " (usage: cowroot-faked --state DIR [--save FILE] [--ephemeral] [--detach])");
  }
  if (o.dir.empty()) die("--state DIR is required");
  return o;
}

struct Client {
  int fd;
  bool spoke = false;    // a message came on it
  bool control = false;  // the launcher's: its first message was kControl
};

bool reply(int fd, uint32_t op, uint64_t value, const std::string& text = "") {
  std::vector<char> buf(sizeof(cr::proto::Msg) + text.size());
  cr::proto::Msg m{cr::proto::kMagic, op, value, (uint32_t)text.size(), 0};
  memcpy(buf.data(), &m, sizeof m);
  memcpy(buf.data() + sizeof m, text.data(), text.size());
  return send(fd, buf.data(), buf.size(), MSG_NOSIGNAL) == (ssize_t)buf.size();
}

// Whether a process still maps the session's state: a process in the
// middle of an exec maps nothing for a moment (its new image maps it again
// as it starts), so nobody is taken as nobody only when absent three
// times, 50 ms apart.
bool mapped_still(const std::string& dir) {
  for (int i = 0; i < 3; i++) {
    if (i) usleep(50000);
    if (cr::state_mapped_elsewhere(dir)) return true;
  }
  return false;
}

}  // namespace

namespace cr {

void faked_quick_exit() { g_exit = _exit; }

int faked_main(int argc, char** argv) {
  Options o = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  // Under `ulimit -f` a write past the limit (the table's growth, a save
  // file) fails with EFBIG instead of killing the daemon.
  signal(SIGXFSZ, SIG_IGN);
  // Every independent process of a session may hold a connection.
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }

  // Never the keeper of another user's directory, or one others may write in.
  struct stat dst;
  if (stat(o.dir.c_str(), &dst) == 0 && (dst.st_uid != getuid() || (dst.st_mode & 022)))
    die(o.dir + " is not a private directory of this user: not used");
  cr::State state;
  if (int r = state.open(o.dir.c_str(), true); r < 0)
    die("cannot open the state in " + o.dir + ": " + strerror(-r));

  // One daemon per state directory: a second one (two processes starting
  // the session at once) steps aside.
  int lockfd = open((o.dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lockfd < 0) die("cannot create " + o.dir + "/lock: " + strerror(errno));
  // A throwaway directory has one daemon only but for a restart after a
  // kill, so its lock taken is more likely another session's sweep of
  // sessions over (sweep_sessions, looking a moment under it): wait a while.
  int tries = cr::is_ephemeral_dir(o.dir) ? 100 : 1;
  while (flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK) die("cannot lock " + o.dir + "/lock: " + strerror(errno));
    if (--tries <= 0) return 0;
    usleep(10000);
  }

  // A throwaway directory says so itself: a daemon started again by any
  // program of the session removes it too.
  o.ephemeral = o.ephemeral || cr::is_ephemeral_dir(o.dir);
  int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (lfd < 0) die(std::string("socket: ") + strerror(errno));
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string sock = o.dir + "/sock";
  int dirfd = -1;
  if (sock.size() < sizeof sa.sun_path) {
    memcpy(sa.sun_path, sock.c_str(), sock.size() + 1);
  } else {
    dirfd = open(o.dir.c_str(), O_PATH | O_DIRECTORY);
    snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/sock", dirfd);
  }
  // A socket left behind: the daemon before this one was killed (a clean
  // end removes it), and processes of the session may be alive without a
  // connection to count them.
  struct stat sst;
  const bool successor = lstat(sock.c_str(), &sst) == 0 && S_ISSOCK(sst.st_mode);
  unlink(sock.c_str());
  mode_t old = umask(077);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) die("cannot bind " + sock + ": " + strerror(errno));
  umask(old);
  if (dirfd >= 0) close(dirfd);
  if (listen(lfd, 128) < 0) die(std::string("listen: ") + strerror(errno));

  if (o.detach) {
    pid_t pid = fork();
    if (pid < 0) die(std::string("fork: ") + strerror(errno));
    if (pid > 0) _exit(0);  // the socket is listening: the starter may connect
    setsid();
  }
  if (o.ready_fd >= 0) {
    char c = 1;
    if (write(o.ready_fd, &c, 1) < 0) { /* the launcher is gone: it will not connect */ }
    close(o.ready_fd);
  }
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    if (o.detach) dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }
  if (chdir("/") < 0) { /* not fatal */ }
  struct sigaction sa_stop{};
  sa_stop.sa_handler = on_signal;
  sigaction(SIGTERM, &sa_stop, nullptr);
  sigaction(SIGHUP, &sa_stop, nullptr);
  signal(SIGINT, SIG_IGN);  // Ctrl-C belongs to the session's programs, not to its keeper

  std::vector<Client> clients;
  bool had_client = false;
  uint64_t saved_at = o.save.empty() ? 0 : state.changes();
  bool saved_once = false;
  int idle_ms = 0;
  const uid_t me = getuid();
  // A descriptor kept in reserve: with none left (a low `ulimit -n`, many
  // processes), a connection is taken and closed at once, so its process
  // hears no (and says so) instead of this loop spinning on EMFILE and the
  // process waiting for ever.
  int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  // What is lost when a successor ends too soon: the directory and the last save.
  bool must_outlive_mappers = successor && (o.ephemeral || !o.save.empty());
  bool waiting = false;

  std::string end_failure;  // a failed save the launcher was told of at the end
  auto save = [&](std::string& err) -> bool {
    if (o.save.empty()) return true;
    char buf[512];
    uint64_t c = state.changes();
    if (cr::save_state(state, o.save.c_str(), buf, sizeof buf) < 0) {
      err = buf;
      return false;
    }
    saved_at = c;
    saved_once = true;
    return true;
  };

  while (!g_stop) {
    std::vector<pollfd> pfd;
    pfd.push_back({lfd, POLLIN, 0});
    for (auto& c : clients) pfd.push_back({c.fd, POLLIN, 0});
    int timeout = clients.empty() ? (waiting ? 1000 : had_client ? o.grace_ms : 100) : -1;
    int n = poll(pfd.data(), pfd.size(), timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      die(std::string("poll: ") + strerror(errno));
    }
    if (n == 0) {
      idle_ms += timeout;
      // Nobody connected within 10 s of start, or the last one left; a
      // successor also waits for the processes it cannot count.
      if (!had_client && idle_ms < 10000) continue;
      waiting = must_outlive_mappers && mapped_still(o.dir);
      if (waiting) continue;
      break;
    }
    idle_ms = 0;
    if (pfd[0].revents & POLLIN) {
      int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0 && (errno == EMFILE || errno == ENFILE) && spare >= 0) {
        close(spare);
        c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) close(c);
        c = -1;
        spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
      }
      if (c >= 0) {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != me) {
          close(c);  // another user's process: never part of this session
        } else {
          clients.push_back({c});
          had_client = true;
        }
      }
    }
    std::vector<int> gone;
    for (size_t i = 1; i < pfd.size(); i++) {
      if (!pfd[i].revents) continue;
      int fd = pfd[i].fd;
      char buf[sizeof(cr::proto::Msg) + cr::proto::kMaxPayload];
      ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      cr::proto::Parsed m;
      if (r <= 0 || !cr::proto::parse(buf, (size_t)r, sizeof buf, &m)) {
        gone.push_back(fd);  // gone, or garbage: this connection ends, nothing else does
        continue;
      }
      std::string payload(m.payload, m.len);
      std::string err;
      Client* from = nullptr;
      for (auto& c : clients)
        if (c.fd == fd) from = &c;
      bool first = from && !from->spoke;
      if (from) from->spoke = true;
      if ((m.head.op == cr::proto::kSave || m.head.op == cr::proto::kEnd) && !cr::proto::path_payload(m)) {
        reply(fd, cr::proto::kError, 0, "the state file to save to must be an absolute path");
        continue;
      }
      if ((m.head.op == cr::proto::kSave || m.head.op == cr::proto::kEnd) && m.len && !(from && from->control)) {
        reply(fd, cr::proto::kError, 0, "only the launcher names the state file to save to");
        continue;
      }
      switch (m.head.op) {
        case cr::proto::kControl:
          if (first) from->control = true;
          reply(fd, first ? cr::proto::kOk : cr::proto::kError, 0, first ? "" : "not a connection's first message");
          break;
        case cr::proto::kPing:
          reply(fd, cr::proto::kOk, (uint64_t)getpid());
          break;
        case cr::proto::kClients: {
          std::string ids;
          for (auto& c : clients) {
            struct stat st;
            if (c.fd == fd || fstat(c.fd, &st) < 0) continue;
            uint64_t ino = st.st_ino;
            if (ids.size() + sizeof ino > cr::proto::kMaxPayload) break;
            ids.append(reinterpret_cast<const char*>(&ino), sizeof ino);
          }
          reply(fd, cr::proto::kOk, (uint64_t)getpid(), ids);
          break;
        }
        case cr::proto::kSave: {
          if (!payload.empty()) o.save = payload;
          if (o.save.empty()) reply(fd, cr::proto::kError, 0, "no state file to save to");
          else if (save(err)) reply(fd, cr::proto::kOk, 0);
          else reply(fd, cr::proto::kError, 0, err);
          break;
        }
        case cr::proto::kEnd: {
          if (!payload.empty()) o.save = payload;
          must_outlive_mappers = successor && (o.ephemeral || !o.save.empty());
          bool ok = save(err);
          if (!ok) end_failure = err;  // the launcher says it
          // The other connections that some process still holds: one whose
          // holders are all gone (the command's, when it left nothing
          // running) hangs up, though this round has not read that yet.
          uint64_t others = 0;
          for (auto& c : clients) {
            if (c.fd == fd || std::find(gone.begin(), gone.end(), c.fd) != gone.end()) continue;
            pollfd one{c.fd, POLLIN, 0};
            if (poll(&one, 1, 0) == 1 && (one.revents & (POLLHUP | POLLERR))) continue;
            others++;
          }
          // A successor counts the processes it cannot see as one more.
          others += must_outlive_mappers && cr::state_mapped_elsewhere(o.dir);
          reply(fd, ok ? cr::proto::kOk : cr::proto::kError, others, err);
          // The launcher returns now, and this daemon stays for the
          // programs left running: the launcher's error output is not
          // ours to hold (a caller reading it to its end would wait for
          // them too).
          if (others > 0) {
            int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (null >= 0) {
              dup2(null, 2);
              close(null);
            }
          }
          o.grace_ms = 0;
          break;
        }
        default:
          gone.push_back(fd);
      }
    }
    for (int fd : gone) {
      close(fd);
      for (size_t i = 0; i < clients.size(); i++)
        if (clients[i].fd == fd) {
          clients.erase(clients.begin() + i);
          break;
        }
    }
  }

  // No more connections from here on: a program connecting during the
  // last save would only be dropped, and `cowroot reset` takes a socket
  // that does not answer for a daemon on its way out.
  close(lfd);
  std::string err;
  if (!o.save.empty() && (!saved_once || state.changes() != saved_at) && !save(err) && err != end_failure)
    fprintf(stderr, "cowroot-faked: %s\n", err.c_str());
  if (o.ephemeral) cr::remove_session_dir(o.dir);
  else cr::remove_session_sockets(o.dir);
  return err.empty() ? 0 : 1;
}

}  // namespace cr
