// The processes of a session, found from outside (procs.h).
//
// Every process of a session holds a connection to the session's daemon:
// the library keeps it open across fork and exec, and keeps programs from
// closing it. So the session's processes are the holders of the sockets the
// daemon accepted, whatever they did since: setsid, a double fork, a new
// process title (nginx writes over its environment). The daemon's pid and
// its sockets come from its own answer (kClients); the other
// end of each from the kernel's socket diagnostics (NETLINK_SOCK_DIAG,
// readable by any user); their holders from /proc/*/fd. A process started
// in the session that dropped its connection behind the library's back (a
// static program's raw close) still carries COWROOT_STATE in its
// environment: it is stopped too.
#include "procs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <set>

#include "../preload/core/proto.h"
#include "../preload/core/session.h"

namespace cli {

namespace {

void pause_ms(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
}

long now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// Every process of /proc (their ids), but this one.
std::vector<pid_t> all_pids() {
  std::vector<pid_t> out;
  pid_t me = getpid();
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      pid_t p = (pid_t)atol(e->d_name);
      if (p != me) out.push_back(p);
    }
    closedir(d);
  }
  return out;
}

// The socket inodes a process holds (empty when it is another user's).
std::vector<uint64_t> sockets_of(pid_t pid) {
  std::vector<uint64_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char link[64];
    ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof link - 1);
    if (n <= 8 || memcmp(link, "socket:[", 8) != 0) continue;
    link[n] = 0;
    out.push_back(strtoull(link + 8, nullptr, 10));
  }
  closedir(d);
  return out;
}

// Whether a process's environment holds the exact entry `want`.
bool environ_has(pid_t pid, const std::string& want) {
  std::string p = "/proc/" + std::to_string(pid) + "/environ";
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string env;
  char buf[16384];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) env.append(buf, n);
  close(fd);
  for (size_t i = 0; i < env.size();) {
    size_t end = env.find('\0', i);
    if (end == std::string::npos) end = env.size();
    if (env.compare(i, end - i, want) == 0) return true;
    i = end + 1;
  }
  return false;
}

// Unix socket inode -> the inode of its peer, for every connected socket.
bool unix_peers(std::map<uint64_t, uint64_t>* peers) {
  int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) return false;
  struct {
    nlmsghdr nlh;
    unix_diag_req req;
  } q{};
  q.nlh.nlmsg_len = sizeof q;
  q.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  q.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  q.req.sdiag_family = AF_UNIX;
  q.req.udiag_states = ~0u;
  q.req.udiag_show = UDIAG_SHOW_PEER;
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  if (sendto(nl, &q, sizeof q, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    close(nl);
    return false;
  }
  alignas(nlmsghdr) char buf[32768];
  bool done = false, ok = true;
  while (!done) {
    ssize_t n = recv(nl, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        ok = false;
        done = true;
        break;
      }
      auto* m = static_cast<unix_diag_msg*>(NLMSG_DATA(h));
      int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
      for (auto* a = reinterpret_cast<rtattr*>(m + 1); RTA_OK(a, len); a = RTA_NEXT(a, len))
        if (a->rta_type == UNIX_DIAG_PEER && RTA_PAYLOAD(a) >= sizeof(uint32_t))
          (*peers)[m->udiag_ino] = *static_cast<uint32_t*>(RTA_DATA(a));
    }
  }
  close(nl);
  return ok;
}

// One request to the daemon of `fd`'s session (5 s at most: a stopped
// daemon does not answer), and its kOk answer in `got` (kept in `in`).
bool ask(int fd, uint32_t op, char (&in)[sizeof(cr::proto::Msg) + cr::proto::kMaxPayload], cr::proto::Parsed* got) {
  timeval limit{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  cr::proto::Msg m{cr::proto::kMagic, op, 0, 0, 0};
  if (send(fd, &m, sizeof m, MSG_NOSIGNAL) != (ssize_t)sizeof m) return false;
  ssize_t n;
  do n = recv(fd, in, sizeof in, 0); while (n < 0 && errno == EINTR);
  return n >= 0 && cr::proto::parse(in, (size_t)n, sizeof in, got) && got->head.op == cr::proto::kOk;
}

// The daemon's pid and the socket inodes of its other connections, from
// its own answer (kClients: its /proc/PID/fd may be closed to us, as a
// daemon's that is not dumpable is). The pid, or -1 when it did not answer.
pid_t ask_clients(int fd, std::vector<uint64_t>* inodes) {
  char in[sizeof(cr::proto::Msg) + cr::proto::kMaxPayload];
  cr::proto::Parsed got;
  if (!ask(fd, cr::proto::kClients, in, &got)) return -1;
  for (uint32_t at = 0; at + sizeof(uint64_t) <= got.len; at += sizeof(uint64_t)) {
    uint64_t ino;
    memcpy(&ino, got.payload + at, sizeof ino);
    inodes->push_back(ino);
  }
  return (pid_t)got.head.value;
}

// The daemon's pid (kPing), or -1.
pid_t ping_daemon(int fd) {
  char in[sizeof(cr::proto::Msg) + cr::proto::kMaxPayload];
  cr::proto::Parsed got;
  return ask(fd, cr::proto::kPing, in, &got) ? (pid_t)got.head.value : -1;
}

// Whether the daemon of the state directory still holds its lock.
bool daemon_running(const std::string& state_dir) {
  int fd = open((state_dir + "/lock").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
  close(fd);
  return held;
}

}  // namespace

uint64_t socket_inode(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? st.st_ino : 0;
}

int kill_holders(const std::vector<uint64_t>& inodes) {
  std::set<uint64_t> want(inodes.begin(), inodes.end());
  want.erase(0);
  if (want.empty()) return 0;
  std::set<pid_t> killed;
  long start = now_ms();
  for (;;) {
    bool found = false;
    for (pid_t p : all_pids())
      for (uint64_t s : sockets_of(p))
        if (want.count(s)) {
          kill(p, SIGKILL);
          killed.insert(p);
          found = true;
          break;
        }
    // Until a whole pass finds none; a process killed a moment ago may
    // still show its descriptors until it is gone.
    if (!found || now_ms() - start > 10000) break;
    pause_ms(2);
  }
  return (int)killed.size();
}

bool session_alive(const std::string& state_dir) {
  int fd = cr::connect_daemon(state_dir.c_str());
  if (fd < 0) return false;
  close(fd);
  return true;
}

namespace {

// The daemon of the state directory's session (its pid, -1 when it does
// not answer) and the sockets the session's processes hold: the other ends
// of the daemon's connections. `fd` is a connection to it, replaced when
// an older daemon needs another (-1: it went away meanwhile).
pid_t session_clients(const std::string& state_dir, int* fd, std::vector<uint64_t>* clients) {
  std::vector<uint64_t> theirs;
  pid_t daemon = ask_clients(*fd, &theirs);
  if (daemon < 0) {
    // A daemon of an earlier build (one still running since before an
    // upgrade) hangs up on kClients: its pid from a ping, its sockets from
    // its /proc/PID/fd (but the listening one, which has no peer).
    close(*fd);
    *fd = cr::connect_daemon(state_dir.c_str());
    if (*fd < 0) return -1;
    fcntl(*fd, F_SETFD, FD_CLOEXEC);
    daemon = ping_daemon(*fd);
    uint64_t mine = socket_inode(*fd);
    std::map<uint64_t, uint64_t> all;
    uint64_t ours = unix_peers(&all) && all.count(mine) ? all[mine] : 0;
    if (daemon > 0)
      for (uint64_t s : sockets_of(daemon))
        if (s != ours) theirs.push_back(s);
  }
  std::map<uint64_t, uint64_t> peers;
  // The other end of each of the daemon's connections is held by a
  // process of the session.
  if (daemon > 0 && unix_peers(&peers))
    for (uint64_t s : theirs)
      if (peers.count(s)) clients->push_back(peers[s]);
  return daemon;
}

}  // namespace

std::vector<pid_t> session_processes(const std::string& state_dir, pid_t* daemon) {
  std::vector<pid_t> out;
  *daemon = -1;
  int fd = cr::connect_daemon(state_dir.c_str());
  if (fd < 0) return out;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  std::vector<uint64_t> clients;
  *daemon = session_clients(state_dir, &fd, &clients);
  if (fd < 0) return out;
  std::set<uint64_t> want(clients.begin(), clients.end());
  std::string entry = std::string(cr::kEnvState) + "=" + state_dir;
  for (pid_t p : all_pids()) {
    if (p == *daemon) continue;
    bool held = false;
    for (uint64_t s : sockets_of(p)) held = held || want.count(s);
    if (held || environ_has(p, entry)) out.push_back(p);
  }
  close(fd);
  std::sort(out.begin(), out.end());
  return out;
}

void stop_leftover_session(const std::string& clone) {
  std::string err;
  if (stop_session(clone + ".cowroot/state", &err) < 0) fprintf(stderr, "cowroot: stopping what ran in %s: %s\n", clone.c_str(), err.c_str());
}

int stop_session(const std::string& state_dir, std::string* err) {
  int fd = cr::connect_daemon(state_dir.c_str());
  if (fd < 0) return 0;  // no daemon: nothing of the session runs
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  std::vector<uint64_t> clients;
  pid_t daemon = session_clients(state_dir, &fd, &clients);
  if (fd < 0) return 0;
  std::set<pid_t> killed;
  std::string entry = std::string(cr::kEnvState) + "=" + state_dir;
  // One pass over /proc: kills the holders of those connections and the
  // processes started in the session. How many it found.
  auto sweep = [&]() {
    int n = 0;
    if (!clients.empty()) {
      // Not this process's own connection, nor the daemon's.
      std::set<pid_t> spare = {getpid(), daemon};
      std::set<uint64_t> want(clients.begin(), clients.end());
      for (pid_t p : all_pids()) {
        if (spare.count(p)) continue;
        for (uint64_t s : sockets_of(p))
          if (want.count(s)) {
            kill(p, SIGKILL);
            killed.insert(p);
            n++;
            break;
          }
      }
    }
    for (pid_t p : all_pids())
      if (p != daemon && environ_has(p, entry)) {
        kill(p, SIGKILL);
        killed.insert(p);
        n++;
      }
    return n;
  };
  for (int round = 0; round < 50 && sweep() > 0; round++) pause_ms(2);
  close(fd);
  // The daemon ends when its last connection is gone. While it stays, a
  // process of the session still holds one that a pass did not see (in the
  // middle of an exec its /proc/PID/environ reads empty; a process may
  // write over its environment for a while): passes go on meanwhile.
  long start = now_ms(), swept = start;
  while (daemon_running(state_dir)) {
    long now = now_ms();
    if (now - start > 5000) {
      if (daemon > 0) kill(daemon, SIGKILL);
      pause_ms(20);
      if (daemon_running(state_dir)) {
        *err = "the daemon of " + state_dir + " does not end";
        return -1;
      }
      break;
    }
    if (now - swept >= 20) {
      sweep();
      swept = now_ms();
    }
    pause_ms(1);
  }
  return (int)killed.size();
}

void die_of_signal(int sig) {
  signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  raise(sig);
  sigprocmask(SIG_UNBLOCK, &one, nullptr);
  _exit(128 + sig);
}

}  // namespace cli
