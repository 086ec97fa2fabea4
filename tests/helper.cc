// A small program the tests run inside roots to reach libc functions no
// shell tool calls directly:
//   helper glob PATTERN     libc glob(), one match a line
//   helper glob-tilde PATTERN  the same with GLOB_TILDE_CHECK ("no match" when none)
//   helper nftw DIR         libc nftw(), "path uid" a line
//   helper cat-at DIR NAME  openat() of NAME relative to a descriptor of DIR: its content
//   helper cat-at-link LINK NAME  the same from an O_PATH | O_NOFOLLOW descriptor of LINK
//   helper statx PATH       raw syscall(SYS_statx): "uid mode(octal)"
//   helper mount TYPE DIR   mount(2) through syscall(): prints the result
//   helper fts PATH...      libc fts_* under every option set, sorted and in
//                           directory order, with fts_children and fts_set:
//                           one line per entry (code, level, path, name,
//                           whether fts_accpath reaches it, errno), and
//                           whether fts_close left the program's descriptors alone
//   helper fts-uid PATH     FTS_PHYSICAL walk: "path uid" a line
//   helper fts-follow DIR   follows symlinks named "follow" and lists each
//                           followed directory's children first: "path
//                           reached|lost" a line
//   helper open-dir PATH    open(PATH, O_RDONLY|O_DIRECTORY): "ok" or the error
//   helper touch-empty PATH open(PATH, O_PATH), then utimensat(fd, "", t=1000,
//                           AT_EMPTY_PATH)
//   helper chmod-procfd PATH MODE  open(PATH, O_PATH), then chmod of /proc/self/fd/N
//   helper write-procfd PATH  open(PATH, O_RDONLY), then open /proc/self/fd/N
//                           O_WRONLY|O_APPEND and write "x"
//   helper nodump PATH      toggles FS_NODUMP_FL through a read-only descriptor
//                           (chattr's ioctl); prints "unsupported" where the
//                           file system has no such flags
//   helper raw DIR          path calls made with syscall() itself: openat2
//                           O_CREAT of DIR/oa2, stat, access, readlink of
//                           /proc/self/exe, getcwd, symlinkat, rename,
//                           unlink; one result a line
//   helper clearenv         clearenv(), then FAKECHROOT and FAKECHROOT_VERSION as
//                           getenv sees them, and what a child sees
//   helper exec-fd PROG SYMLINK SCRIPT  fexecve of PROG through an O_PATH
//                           descriptor; execveat(SYMLINK, AT_SYMLINK_NOFOLLOW);
//                           fexecve of the #! SCRIPT: each child's output or error
//   helper sandbox-drop     apt's privilege drop and return: setgroups, setegid,
//                           seteuid to 42, then back; "ok" or the call that failed
//   helper temps UID GID DIR  becomes UID:GID (setgid, setuid), then makes
//                           DIR/fXXXXXX (mkstemp, then fchmod 0644),
//                           DIR/sXXXXXX.c (mkstemps), DIR/dXXXXXX (mkdtemp)
//                           and a tmpfile(): "name uid:gid mode" a line
//   helper un-stream PATH   a Unix stream listener bound at PATH; the client
//                           (`helper un-connect PATH`) and the acceptor
//                           (`helper un-accept FD PID`, what the binder execs
//                           into) are new programs, so no side shares the
//                           binder's memory: each prints the names it sees
//   helper un-dgram SRV CLI a datagram server bound at SRV; a client bound at
//                           CLI (`helper un-dgram-client`, a new program)
//                           sends with sendto, sendmsg and sendmmsg; the
//                           server receives with recvfrom, recvmsg and
//                           recvmmsg (one name buffer too small for the
//                           name) and replies to each name it received;
//                           the client receives them the same way, its
//                           recvfrom as _FORTIFY_SOURCE makes it (__recvfrom_chk)
//   helper un-other         abstract, autobound, unnamed and AF_INET names
//                           pass as they are: "kept" or what changed
//   helper as UID GID CALL ARGS  becomes UID:GID (no supplementary groups; "-"
//                           for UID: stays who it is)
//                           and makes one call: "ok" or its error. CALL:
//                           open-r|open-w|open-trunc|open-noatime PATH,
//                           utime-set PATH (explicit times), utime-now PATH,
//                           access|eaccess PATH R|W|X, chmod PATH MODE,
//                           link OLD NEW, getxattr|setxattr PATH NAME,
//                           bind PATH MODE (then "uid:gid mode" of the
//                           socket file), connect PATH, mknod-c PATH,
//                           peercred (SO_PEERCRED of a socketpair: "uid gid")
//   helper caps-drop PATH   drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH
//                           from its sets (capset), then opens PATH: "ok"
//                           or the error
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <fts.h>
#include <ftw.h>
#include <glob.h>
#include <linux/stat.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <spawn.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <cstdlib>
#include <string>
#include <vector>
#include <sys/stat.h>

#include "deny_call.h"

static int print_entry(const char* p, const struct stat* st, int, struct FTW*) {
  printf("%s %u\n", p, (unsigned)st->st_uid);
  return 0;
}

static int by_name(const FTSENT** a, const FTSENT** b) { return strcmp((*a)->fts_name, (*b)->fts_name); }

// One walk. With `steer`, also list each directory's children before
// reading it (names only every other time), skip directories named "skip",
// follow symlinks named "follow" and revisit files named "again" once.
static void fts_walk(char** paths, int opts, bool sorted, bool steer) {
  printf("-- options %d%s%s\n", opts, sorted ? " sorted" : "", steer ? " steered" : "");
  FTS* sp = fts_open(paths, opts, sorted ? by_name : nullptr);
  if (!sp) {
    printf("fts_open: %s\n", strerror(errno));
    return;
  }
  if (steer)
    for (FTSENT* c = fts_children(sp, 0); c; c = c->fts_link) printf("root %s %d\n", c->fts_name, c->fts_info);
  int dirs = 0;
  bool again = false;
  errno = 0;
  while (FTSENT* e = fts_read(sp)) {
    printf("%d %d %s %s %s %d\n", e->fts_info, e->fts_level, e->fts_path, e->fts_name,
           access(e->fts_accpath, F_OK) == 0 ? "reached" : "lost", e->fts_errno);
    // (Not on a followed directory: glibc's fts_children goes back out of
    // one through ".", lands elsewhere and ends the walk, or not, depending
    // on directory order. `helper fts-follow` checks ours there.)
    if (steer && e->fts_info == FTS_D && strcmp(e->fts_name, "follow") != 0) {
      if (!strcmp(e->fts_name, "skip")) {
        fts_set(sp, e, FTS_SKIP);
      } else {
        int n = 0;
        for (FTSENT* c = fts_children(sp, dirs++ % 2 ? FTS_NAMEONLY : 0); c; c = c->fts_link) n++;
        printf("children %d\n", n);
      }
    }
    if (steer && e->fts_info == FTS_SL && !strcmp(e->fts_name, "follow")) fts_set(sp, e, FTS_FOLLOW);
    if (steer && e->fts_info == FTS_F && !strcmp(e->fts_name, "again") && !again) {
      again = true;
      fts_set(sp, e, FTS_AGAIN);
    }
    // Half the steered walks stop right after a followed directory's
    // post-order visit, so that fts_close finds it still held.
    if (steer && (opts & 1) && e->fts_info == FTS_DP && !strcmp(e->fts_name, "follow")) {
      printf("stopped\n");
      break;
    }
    errno = 0;
  }
  printf("end %d\n", errno);
  char cwd[4096];
  // A descriptor the program opens now must survive fts_close.
  int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fts_close(sp) != 0) printf("fts_close: %s\n", strerror(errno));
  printf("probe %s\n", fcntl(probe, F_GETFD) >= 0 ? "open" : "closed by fts_close");
  close(probe);
  printf("cwd %s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
}

extern char** environ;

static void print_temp(const char* what, int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    printf("%s %s\n", what, strerror(errno));
    return;
  }
  printf("%s %u:%u %o\n", what, (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
}

static int temps(int argc, char** argv) {
  if (argc != 5 || setgid(atoi(argv[3])) != 0 || setuid(atoi(argv[2])) != 0) return 2;
  std::string f = std::string(argv[4]) + "/fXXXXXX", s = std::string(argv[4]) + "/sXXXXXX.c",
              d = std::string(argv[4]) + "/dXXXXXX";
  int fd = mkstemp(f.data());
  if (fd >= 0 && fchmod(fd, 0644) < 0) printf("fchmod %s\n", strerror(errno));
  print_temp("mkstemp", fd);
  print_temp("mkstemps", mkstemps(s.data(), 2));
  print_temp("mkdtemp", mkdtemp(d.data()) ? open(d.c_str(), O_RDONLY | O_DIRECTORY) : -1);
  FILE* t = tmpfile();
  print_temp("tmpfile", t ? fileno(t) : -1);
  char bad[] = "/tmp/short-XXXX";
  printf("short template %s\n", mkstemp(bad) < 0 && errno == EINVAL ? "EINVAL" : "accepted");
  return 0;
}

static int through_descriptor(int argc, char** argv) {
  const char* what = argv[1];
  if (argc < 3) return 2;
  int fd = open(argv[2], (!strcmp(what, "write-procfd") || !strcmp(what, "nodump")) ? O_RDONLY : O_PATH);
  if (fd < 0) {
    printf("open %s\n", strerror(errno));
    return 1;
  }
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  int r = 0;
  if (!strcmp(what, "touch-empty")) {
    struct timespec ts[2] = {{1000, 0}, {1000, 0}};
    r = utimensat(fd, "", ts, AT_EMPTY_PATH);
  } else if (!strcmp(what, "chmod-procfd") && argc == 4) {
    r = chmod(link, (mode_t)strtol(argv[3], nullptr, 8));
  } else if (!strcmp(what, "write-procfd")) {
    int w = open(link, O_WRONLY | O_APPEND);
    r = w < 0 ? -1 : (write(w, "x", 1) == 1 ? 0 : -1);
  } else if (!strcmp(what, "nodump")) {
    long flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
      printf("unsupported\n");
      return 0;
    }
    flags ^= FS_NODUMP_FL;
    r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
  } else {
    return 2;
  }
  printf("%s\n", r == 0 ? "ok" : strerror(errno));
  return r == 0 ? 0 : 1;
}

// ---- Unix sockets ----------------------------------------------------------
static sockaddr_un un_addr(const char* path, socklen_t* len) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  *len = (socklen_t)(offsetof(sockaddr_un, sun_path) + strlen(a.sun_path) + 1);
  return a;
}

// A name as the kernel would hand it back: the path, "(unnamed)", or
// "@abstract"; a length that disagrees with the name is shown.
static std::string un_name(const sockaddr_un& a, socklen_t len) {
  const socklen_t off = offsetof(sockaddr_un, sun_path);
  if (len <= off) return "(unnamed)";
  if (a.sun_path[0] == 0) return "@" + std::string(a.sun_path + 1, len - off - 1);
  std::string n(a.sun_path, strnlen(a.sun_path, len - off));
  if (len != off + n.size() + 1) n += " (length " + std::to_string(len) + ")";
  return n;
}

static std::string self_exe() {
  char b[4096];
  ssize_t n = readlink("/proc/self/exe", b, sizeof b - 1);
  return n > 0 ? std::string(b, n) : "/usr/bin/helper";
}

static void print_sockname(const char* what, int fd, bool peer) {
  sockaddr_un a;
  socklen_t len = sizeof a;
  int r = peer ? getpeername(fd, (sockaddr*)&a, &len) : getsockname(fd, (sockaddr*)&a, &len);
  if (r < 0) printf("%s: %s\n", what, strerror(errno));
  else printf("%s %s\n", what, un_name(a, len).c_str());
}

static int un_stream(const char* path) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  socklen_t len;
  sockaddr_un a = un_addr(path, &len);
  if (bind(s, (sockaddr*)&a, len) < 0 || listen(s, 1) < 0) return printf("bind: %s\n", strerror(errno)), 1;
  print_sockname("listener", s, false);
  fflush(stdout);
  std::string exe = self_exe();
  int gone[2];
  if (pipe(gone) < 0) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    close(gone[0]);
    execl(exe.c_str(), "helper", "un-connect", path, (char*)nullptr);
    _exit(127);
  }
  close(gone[1]);
  std::string fd = std::to_string(s), p = std::to_string(pid), g = std::to_string(gone[0]);
  execl(exe.c_str(), "helper", "un-accept", fd.c_str(), p.c_str(), g.c_str(), (char*)nullptr);
  return 127;
}

static int un_connect(const char* path) {
  int s = socket(AF_UNIX, SOCK_STREAM, 0);
  socklen_t len;
  sockaddr_un a = un_addr(path, &len);
  if (connect(s, (sockaddr*)&a, len) < 0) return printf("connect: %s\n", strerror(errno)), 1;
  print_sockname("client peer", s, true);
  print_sockname("client self", s, false);
  return write(s, "x", 1) == 1 ? 0 : 1;
}

// Waits until fd is readable; false when the other side's process (the
// holder of the pipe `gone` writes to) ended first. No test waits forever.
static bool readable(int fd, int gone) {
  pollfd p[2] = {{fd, POLLIN, 0}, {gone, POLLIN, 0}};
  while (poll(p, 2, -1) < 0 && errno == EINTR) {
  }
  return p[0].revents & POLLIN;
}

static int un_accept(int s, pid_t client, int gone) {
  sockaddr_un a;
  socklen_t len = sizeof a;
  if (!readable(s, gone)) {
    waitpid(client, nullptr, 0);
    return printf("accept: the client is gone\n"), 1;
  }
  int c = accept(s, (sockaddr*)&a, &len);
  if (c < 0) return printf("accept: %s\n", strerror(errno)), 1;
  char x;
  if (read(c, &x, 1) != 1) printf("read: %s\n", strerror(errno));
  int st;
  waitpid(client, &st, 0);  // the client's lines first
  printf("accepted from %s\n", un_name(a, len).c_str());
  print_sockname("accepted self", c, false);
  print_sockname("accepted peer", c, true);
  return 0;
}

extern "C" ssize_t __recvfrom_chk(int, void*, size_t, size_t, int, sockaddr*, socklen_t*);

// Receives one datagram with each of recvfrom, recvmsg and recvmmsg (two),
// printing text and sender; the sender names go to `names` (recvmmsg's
// second one through a name buffer of 16 bytes, as for an AF_INET address).
// Everything was sent before: nothing waits.
static void dgram_receive(const char* who, int s, sockaddr_un names[3], socklen_t lens[3]) {
  char buf[64];
  lens[0] = sizeof names[0];
  // The client receives as a program built with _FORTIFY_SOURCE does.
  ssize_t n = strcmp(who, "client") == 0
                  ? __recvfrom_chk(s, buf, sizeof buf, sizeof buf, MSG_DONTWAIT, (sockaddr*)&names[0], &lens[0])
                  : recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, (sockaddr*)&names[0], &lens[0]);
  if (n < 0) printf("%s recvfrom: %s\n", who, strerror(errno));
  else printf("%s recvfrom %.*s from %s\n", who, (int)n, buf, un_name(names[0], lens[0]).c_str());
  iovec iov{buf, sizeof buf};
  msghdr m{};
  m.msg_name = &names[1];
  m.msg_namelen = sizeof names[1];
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  n = recvmsg(s, &m, MSG_DONTWAIT);
  lens[1] = m.msg_namelen;
  if (n < 0) printf("%s recvmsg: %s\n", who, strerror(errno));
  else printf("%s recvmsg %.*s from %s\n", who, (int)n, buf, un_name(names[1], lens[1]).c_str());
  char b2[2][64];
  iovec iv[2] = {{b2[0], sizeof b2[0]}, {b2[1], sizeof b2[1]}};
  mmsghdr mm[2]{};
  char small[16];
  memset(small, '#', sizeof small);
  mm[0].msg_hdr.msg_name = &names[2];
  mm[0].msg_hdr.msg_namelen = sizeof names[2];
  mm[1].msg_hdr.msg_name = small;
  mm[1].msg_hdr.msg_namelen = sizeof small;
  for (int i = 0; i < 2; i++) {
    mm[i].msg_hdr.msg_iov = &iv[i];
    mm[i].msg_hdr.msg_iovlen = 1;
  }
  int got = recvmmsg(s, mm, 2, MSG_DONTWAIT, nullptr);
  lens[2] = mm[0].msg_hdr.msg_namelen;
  if (got != 2) {
    printf("%s recvmmsg: %d %s\n", who, got, strerror(errno));
    return;
  }
  printf("%s recvmmsg %.*s from %s\n", who, (int)mm[0].msg_len, b2[0], un_name(names[2], lens[2]).c_str());
  // The kernel fills what fits and says how long the whole name is.
  printf("%s recvmmsg %.*s into 16 bytes: length %u, %.14s\n", who, (int)mm[1].msg_len, b2[1],
         (unsigned)mm[1].msg_hdr.msg_namelen, small + offsetof(sockaddr_un, sun_path));
}

// Sends "<tag>sendto" with sendto to names[0], "<tag>sendmsg" with sendmsg to
// names[1], and two with one sendmmsg to names[2]. False on any failure.
static bool dgram_send(const char* who, int s, const char* tag, const sockaddr_un names[3], const socklen_t lens[3]) {
  std::string t1 = std::string(tag) + "sendto", t2 = std::string(tag) + "sendmsg", t3 = std::string(tag) + "mmsg1",
              t4 = std::string(tag) + "mmsg2";
  if (sendto(s, t1.data(), t1.size(), 0, (const sockaddr*)&names[0], lens[0]) < 0)
    return printf("%s sendto: %s\n", who, strerror(errno)), false;
  iovec iov{t2.data(), t2.size()};
  msghdr m{};
  m.msg_name = (void*)&names[1];
  m.msg_namelen = lens[1];
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  if (sendmsg(s, &m, 0) < 0) return printf("%s sendmsg: %s\n", who, strerror(errno)), false;
  iovec iv[2] = {{t3.data(), t3.size()}, {t4.data(), t4.size()}};
  mmsghdr mm[2]{};
  for (int i = 0; i < 2; i++) {
    mm[i].msg_hdr.msg_name = (void*)&names[2];
    mm[i].msg_hdr.msg_namelen = lens[2];
    mm[i].msg_hdr.msg_iov = &iv[i];
    mm[i].msg_hdr.msg_iovlen = 1;
  }
  int n = sendmmsg(s, mm, 2, 0);
  if (n != 2) return printf("%s sendmmsg: %d %s\n", who, n, strerror(errno)), false;
  return true;
}

// Waits until the other side closed its end of the pipe `from`: it is done
// sending, or gone. Either way nothing is waited for after.
static void wait_for(int from) {
  char x;
  while (read(from, &x, 1) < 0 && errno == EINTR) {
  }
}

static int un_dgram(const char* srv, const char* cli) {
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  socklen_t len;
  sockaddr_un a = un_addr(srv, &len);
  if (bind(s, (sockaddr*)&a, len) < 0) return printf("bind: %s\n", strerror(errno)), 1;
  print_sockname("server", s, false);
  fflush(stdout);
  std::string exe = self_exe();
  int c2s[2], s2c[2];
  if (pipe(c2s) < 0 || pipe(s2c) < 0) return 1;
  pid_t pid = fork();
  if (pid == 0) {
    close(c2s[0]);
    close(s2c[1]);
    std::string w = std::to_string(c2s[1]), r = std::to_string(s2c[0]);
    execl(exe.c_str(), "helper", "un-dgram-client", srv, cli, w.c_str(), r.c_str(), (char*)nullptr);
    _exit(127);
  }
  close(c2s[1]);
  close(s2c[0]);
  wait_for(c2s[0]);
  sockaddr_un from[3];
  socklen_t fl[3];
  dgram_receive("server", s, from, fl);
  fflush(stdout);  // before the client's lines
  dgram_send("server", s, "re-", from, fl);  // the names received are where to answer
  close(s2c[1]);
  waitpid(pid, nullptr, 0);
  return 0;
}

static int un_dgram_client(const char* srv, const char* cli, int done, int wait) {
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  socklen_t len;
  sockaddr_un a = un_addr(cli, &len);
  if (bind(s, (sockaddr*)&a, len) < 0) return printf("client bind: %s\n", strerror(errno)), 1;
  sockaddr_un to[3];
  socklen_t tl[3];
  for (int i = 0; i < 3; i++) to[i] = un_addr(srv, &tl[i]);
  bool sent = dgram_send("client", s, "", to, tl);
  close(done);
  if (!sent) return 1;
  wait_for(wait);
  sockaddr_un from[3];
  socklen_t fl[3];
  dgram_receive("client", s, from, fl);
  return 0;
}

// Out of sight of the user's other processes, as far as a program can
// put itself: not dumpable (its /proc/PID/fd and environ closed to them,
// as ssh-agent makes itself) and COWROOT_STATE written over (as a program
// that sets its title writes over its environment). Says "hidden" and
// what PR_GET_DUMPABLE answers, then waits 30 s.
static int hide() {
  for (char** e = environ; *e; e++)
    if (!strncmp(*e, "COWROOT_STATE=", 14)) memset(*e, 'x', strlen(*e));
  if (prctl(PR_SET_DUMPABLE, 0) != 0) return 2;
  printf("hidden %d\n", prctl(PR_GET_DUMPABLE));
  fflush(stdout);
  struct timespec t{30, 0};
  nanosleep(&t, nullptr);
  return 0;
}

static int un_other() {
  // An abstract name, and one the kernel picks (autobind): as they are.
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  int an = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "cowroot-helper-%d", (int)getpid());
  socklen_t len = (socklen_t)(offsetof(sockaddr_un, sun_path) + 1 + an);
  if (bind(s, (sockaddr*)&a, len) < 0) return printf("bind: %s\n", strerror(errno)), 1;
  sockaddr_un g;
  socklen_t gl = sizeof g;
  getsockname(s, (sockaddr*)&g, &gl);
  printf("abstract %s\n", gl == len && !memcmp(&g, &a, len) ? "kept" : un_name(g, gl).c_str());
  int t = socket(AF_UNIX, SOCK_DGRAM, 0);
  sa_family_t fam = AF_UNIX;
  if (bind(t, (sockaddr*)&fam, sizeof fam) < 0) return printf("autobind: %s\n", strerror(errno)), 1;
  sockaddr_un ab;
  socklen_t abl = sizeof ab;
  getsockname(t, (sockaddr*)&ab, &abl);
  if (sendto(t, "hi", 2, 0, (sockaddr*)&a, len) != 2) printf("sendto abstract: %s\n", strerror(errno));
  char buf[8];
  gl = sizeof g;
  ssize_t n = recvfrom(s, buf, sizeof buf, 0, (sockaddr*)&g, &gl);
  printf("autobound %s\n", n == 2 && gl == abl && abl == offsetof(sockaddr_un, sun_path) + 6 && !memcmp(&g, &ab, abl)
                               ? "kept" : un_name(g, gl).c_str());
  int sp[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
  print_sockname("socketpair", sp[0], true);
  // AF_INET over the loopback: addresses untouched, in a buffer exactly as
  // big as a sockaddr_in, and truncated in a smaller one as the kernel does.
  int u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in lo{};
  lo.sin_family = AF_INET;
  lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sockaddr_in ua, va;
  socklen_t ul = sizeof ua, vl = sizeof va;
  if (bind(u, (sockaddr*)&lo, sizeof lo) < 0 || bind(v, (sockaddr*)&lo, sizeof lo) < 0 ||
      getsockname(u, (sockaddr*)&ua, &ul) < 0 || getsockname(v, (sockaddr*)&va, &vl) < 0)
    return printf("inet: %s\n", strerror(errno)), 1;
  for (int i = 0; i < 3; i++) sendto(v, "a", 1, 0, (sockaddr*)&ua, sizeof ua);
  sockaddr_in f1, f2;
  socklen_t f1l = sizeof f1;
  recvfrom(u, buf, sizeof buf, 0, (sockaddr*)&f1, &f1l);
  iovec iov{buf, sizeof buf};
  msghdr m{};
  m.msg_name = &f2;
  m.msg_namelen = sizeof f2;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  recvmsg(u, &m, 0);
  unsigned char f3[sizeof(sockaddr_in)];
  memset(f3, 0x55, sizeof f3);
  socklen_t f3l = 8;
  recvfrom(u, buf, sizeof buf, 0, (sockaddr*)f3, &f3l);
  bool tail = true;
  for (size_t i = 8; i < sizeof f3; i++) tail = tail && f3[i] == 0x55;
  printf("inet %s\n", f1l == sizeof va && !memcmp(&f1, &va, sizeof va) && m.msg_namelen == sizeof va &&
                              !memcmp(&f2, &va, sizeof va) && f3l == sizeof va && !memcmp(f3, &va, 8) && tail
                          ? "kept" : "changed");
  return 0;
}

static int raw_calls(const char* dir) {
  std::string d = dir, f = d + "/oa2", l = d + "/oa2-link", g = d + "/oa2-moved";
  struct open_how how{};
  how.flags = O_CREAT | O_WRONLY | O_CLOEXEC;
  how.mode = 0640;
  long fd = syscall(SYS_openat2, AT_FDCWD, f.c_str(), &how, sizeof how);
  printf("openat2 %s\n", fd >= 0 ? "ok" : strerror(errno));
  how.resolve = RESOLVE_NO_SYMLINKS;
  how.flags = O_RDONLY;
  long nf = syscall(SYS_openat2, AT_FDCWD, f.c_str(), &how, sizeof how);
  printf("openat2 no-symlinks %s\n", nf >= 0 ? "ok" : strerror(errno));
  struct stat st;
  printf("stat %s\n", syscall(SYS_stat, f.c_str(), &st) == 0 ? "ok" : strerror(errno));
  printf("uid %u\n", (unsigned)st.st_uid);
  printf("access %s\n", syscall(SYS_access, "/etc/motd", R_OK) == 0 ? "ok" : strerror(errno));
  char buf[4096];
  long n = syscall(SYS_readlink, "/proc/self/exe", buf, sizeof buf - 1);
  printf("exe %s\n", n > 0 ? (buf[n] = 0, buf) : strerror(errno));
  if (chdir(dir) == 0) {
    n = syscall(SYS_getcwd, buf, sizeof buf);
    printf("getcwd %s %s\n", n > 0 ? buf : strerror(errno), n == (long)strlen(buf) + 1 ? "len-ok" : "len-bad");
  }
  printf("symlinkat %s\n", syscall(SYS_symlinkat, "/etc/motd", AT_FDCWD, l.c_str()) == 0 ? "ok" : strerror(errno));
  printf("rename %s\n", syscall(SYS_rename, f.c_str(), g.c_str()) == 0 ? "ok" : strerror(errno));
  printf("unlink %s\n", syscall(SYS_unlink, g.c_str()) == 0 ? "ok" : strerror(errno));
  return 0;
}

static int after_clearenv() {
  clearenv();
  const char* f = getenv("FAKECHROOT");
  const char* v = getenv("FAKECHROOT_VERSION");
  printf("FAKECHROOT=%s FAKECHROOT_VERSION=%s\n", f ? f : "(none)", v ? "set" : "(none)");
  fflush(stdout);
  return system("echo child $FAKECHROOT") == 0 ? 0 : 1;
}

// Runs start(child) in a child and prints what it printed, or the errno of
// its failed exec.
template <typename F>
static void in_child(const char* what, F&& start) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    start();
    printf("%s %s\n", what, strerror(errno));
    fflush(stdout);
    _exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
}

static int exec_fd(char** argv) {
  char* args[] = {(char*)"prog", nullptr};
  in_child("fexecve-opath", [&] {
    int fd = open(argv[2], O_PATH | O_CLOEXEC);
    fexecve(fd, args, environ);
  });
  in_child("execveat-nofollow", [&] { syscall(SYS_execveat, AT_FDCWD, argv[3], args, environ, AT_SYMLINK_NOFOLLOW); });
  in_child("execveat-dirfd", [&] {
    // A name relative to a directory descriptor, from another directory.
    int d = open("/usr/bin", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (d >= 0 && chdir("/") == 0) syscall(SYS_execveat, d, "id", args, environ, AT_SYMLINK_NOFOLLOW);
  });
  in_child("fexecve-script", [&] {
    int fd = open(argv[4], O_RDONLY);  // no O_CLOEXEC: the script reads itself through /dev/fd/N
    fexecve(fd, args, environ);
  });
  in_child("fexecve-script-cloexec", [&] {
    int fd = open(argv[4], O_RDONLY | O_CLOEXEC);  // the kernel says ENOENT: /dev/fd/N is gone after the exec
    fexecve(fd, args, environ);
  });
  return 0;
}

static int sandbox_drop() {
  gid_t g42 = 42, g0 = 0;
  const char* failed = setgroups(1, &g42) ? "setgroups 42"
                       : setegid(42)      ? "setegid 42"
                       : seteuid(42)      ? "seteuid 42"
                       : seteuid(0)       ? "seteuid 0"
                       : setegid(0)       ? "setegid 0"
                       : setgroups(1, &g0) ? "setgroups 0"
                                          : nullptr;
  printf("%s%s\n", failed ? "failed: " : "ok", failed ? failed : "");
  return 0;
}

static int said(int r) {
  printf("%s\n", r < 0 ? strerror(errno) : "ok");
  return 0;
}

static int one_call(const char* call, char** a) {
  if (!strcmp(call, "open-r")) return said(open(a[0], O_RDONLY));
  if (!strcmp(call, "open-w")) return said(open(a[0], O_WRONLY));
  if (!strcmp(call, "open-trunc")) return said(open(a[0], O_RDONLY | O_TRUNC));
  if (!strcmp(call, "open-noatime")) return said(open(a[0], O_RDONLY | O_NOATIME));
  if (!strcmp(call, "utime-set")) {
    struct timespec t[2] = {{1000, 0}, {1000, 0}};
    return said(utimensat(AT_FDCWD, a[0], t, 0));
  }
  if (!strcmp(call, "utime-now")) return said(utimensat(AT_FDCWD, a[0], nullptr, 0));
  if (!strcmp(call, "access") || !strcmp(call, "eaccess")) {
    int m = a[1][0] == 'R' ? R_OK : a[1][0] == 'W' ? W_OK : X_OK;
    return said(faccessat(AT_FDCWD, a[0], m, !strcmp(call, "eaccess") ? AT_EACCESS : 0));
  }
  if (!strcmp(call, "chmod")) return said(chmod(a[0], (mode_t)strtol(a[1], nullptr, 8)));
  if (!strcmp(call, "link")) return said(link(a[0], a[1]));
  if (!strcmp(call, "getxattr")) {
    char v[64];
    return said((int)getxattr(a[0], a[1], v, sizeof v));
  }
  if (!strcmp(call, "setxattr")) return said(setxattr(a[0], a[1], "v", 1, 0));
  if (!strcmp(call, "mknod-c")) return said(mknod(a[0], S_IFCHR | 0600, makedev(1, 3)));
  if (!strcmp(call, "bind") || !strcmp(call, "connect")) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", a[0]);
    if (!strcmp(call, "connect")) return said(connect(s, (sockaddr*)&sa, sizeof sa));
    if (bind(s, (sockaddr*)&sa, sizeof sa) < 0 || listen(s, 1) < 0) return said(-1);
    if (chmod(a[0], (mode_t)strtol(a[1], nullptr, 8)) < 0) {
      printf("chmod: %s\n", strerror(errno));
      return 0;
    }
    struct stat st;
    if (stat(a[0], &st) < 0) return said(-1);
    printf("%u:%u %o\n", (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
    return 0;
  }
  if (!strcmp(call, "peercred")) {
    int sv[2];
    ucred c{};
    socklen_t cl = sizeof c;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &c, &cl) < 0)
      return said(-1);
    printf("%u %u\n", (unsigned)c.uid, (unsigned)c.gid);
    return 0;
  }
  printf("unknown call %s\n", call);
  return 2;
}

static int as_user(int argc, char** argv) {
  if (!strcmp(argv[2], "-")) return one_call(argv[4], argv + 5);  // as it is
  uid_t u = (uid_t)atoi(argv[2]);
  gid_t g = (gid_t)atoi(argv[3]);
  if (setgroups(0, nullptr) < 0 || setgid(g) < 0 || setuid(u) < 0) {
    printf("cannot become %u:%u: %s\n", (unsigned)u, (unsigned)g, strerror(errno));
    return 1;
  }
  return one_call(argv[4], argv + 5);
}

static int caps_drop(const char* path) {
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) < 0) return said(-1);
  uint32_t drop = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);
  d[0].effective &= ~drop;
  d[0].permitted &= ~drop;
  if (syscall(SYS_capset, &h, d) < 0) return said(-1);
  return said(open(path, O_RDONLY));
}

// vfork + exec of /bin/sleep 0: its wait status.
__attribute__((noinline)) static int vfork_sleep() {
  char* av[] = {const_cast<char*>("sleep"), const_cast<char*>("0"), nullptr};
  int st = -1;
  pid_t p = vfork();
  if (p == 0) {
    execv("/bin/sleep", av);
    _exit(127);
  }
  if (p > 0) waitpid(p, &st, 0);
  return st;
}

int main(int argc, char** argv) {
  if (argc >= 5 && !strcmp(argv[1], "as")) return as_user(argc, argv);
  if (argc == 3 && !strcmp(argv[1], "caps-drop")) return caps_drop(argv[2]);
  if (argc == 2 && !strcmp(argv[1], "sandbox-drop")) return sandbox_drop();
  if (argc == 5 && !strcmp(argv[1], "exec-fd")) return exec_fd(argv);
  if (argc == 2 && !strcmp(argv[1], "clearenv")) return after_clearenv();
  if (argc == 4 && !strcmp(argv[1], "spawn-setuid")) {
    // posix_spawn PROG (a vfork child: what planning its exec learns is in
    // this process's memory), then setgid/setuid(ID) and exec PROG here.
    char* av[] = {argv[3], nullptr};
    pid_t pid;
    if (int e = posix_spawn(&pid, argv[3], nullptr, nullptr, av, environ)) {
      printf("spawn: %s\n", strerror(e));
      return 2;
    }
    int st;
    waitpid(pid, &st, 0);
    int id = atoi(argv[2]);
    if (setgid(id) != 0 || setuid(id) != 0) return 3;
    execv(argv[3], av);
    printf("exec: %s\n", strerror(errno));
    return 126;
  }
  if (argc == 4 && !strcmp(argv[1], "fchmodat2-opath")) {
    // fchmodat2(O_PATH descriptor, "", MODE, AT_EMPTY_PATH), as
    // systemd-tmpfiles fixes a directory's mode.
    int fd = open(argv[2], O_PATH | O_CLOEXEC);
    long r = syscall(452 /* fchmodat2 */, fd, "", strtol(argv[3], nullptr, 8), AT_EMPTY_PATH);
    printf("%s\n", r == 0 ? "ok" : strerror(errno));
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "readlinkat-self")) {
    // readlinkat(fd of /proc/self, "cwd"), and of the cwd link's own
    // O_PATH descriptor with an empty name.
    char b[4096];
    int self = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ssize_t n = readlinkat(self, "cwd", b, sizeof b - 1);
    printf("%.*s\n", n < 0 ? 0 : (int)n, b);
    int l = open("/proc/self/cwd", O_PATH | O_NOFOLLOW | O_CLOEXEC);
    n = readlinkat(l, "", b, sizeof b - 1);
    printf("%.*s\n", n < 0 ? 0 : (int)n, b);
    return 0;
  }
  // PROGRAM ARGS where kcmp is refused (EPERM), as Docker's default
  // seccomp profile refuses it.
  if (argc >= 3 && !strcmp(argv[1], "no-kcmp")) return run_denying(SYS_kcmp, argv + 2);
  if (argc >= 5 && (!strcmp(argv[1], "execveat-rel") || !strcmp(argv[1], "execveat-rel-cloexec"))) {
    // execveat(descriptor of DIR, NAME, [NAME, ARGS...]) from /.
    int d = open(argv[2], O_PATH | O_DIRECTORY | (argv[1][12] ? O_CLOEXEC : 0));
    if (d < 0 || chdir("/") != 0) return perror(argv[2]), 1;
    syscall(SYS_execveat, d, argv[3], argv + 3, environ, 0);
    printf("execveat: %s\n", strerror(errno));
    return 1;
  }
  if (argc == 3 && !strcmp(argv[1], "fork-in-plan")) {
    // N failing execs in a row, while another thread sends signals whose
    // handler (on the current stack: often the plan's) forks a child that
    // starts a program: the child must not plan on the stack it runs on.
    static std::atomic<int> bad{0}, runs{0};
    static pid_t main_tid;
    static std::atomic<bool> stop{false};
    main_tid = (pid_t)syscall(SYS_gettid);
    struct sigaction sa{};
    sa.sa_handler = [](int) {
      int saved = errno;
      int st = -1;
      pid_t p = fork();
      if (p == 0) {
        char* av[] = {const_cast<char*>("sleep"), const_cast<char*>("0"), nullptr};
        execv("/bin/sleep", av);
        _exit(127);
      }
      if (p > 0) waitpid(p, &st, 0);
      if (st != 0) bad++;
      runs++;
      errno = saved;
    };
    sigaction(SIGUSR1, &sa, nullptr);
    pthread_t storm;
    pthread_create(&storm, nullptr, [](void*) -> void* {
      for (int i = 0; i < 100 && !stop; i++) {
        syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
        usleep(3000);
      }
      return nullptr;
    }, nullptr);
    char* av[] = {const_cast<char*>("x"), nullptr};
    for (int i = 0, n = atoi(argv[2]); i < n || runs < 20; i++) execv("/nonexistent/program", av);
    stop = true;
    pthread_join(storm, nullptr);
    printf("children bad %d\n", bad.load());
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "altstack-exec")) {
    // A handler on the signal stack execs (and fails) N times while another
    // thread storms the process with signals whose handler goes on the
    // signal stack too: each must go below the frames there.
    static std::atomic<bool> stop{false};
    static std::atomic<long> seen{0};
    static int fails;
    static stack_t ss;
    ss.ss_size = 1 << 20;
    ss.ss_sp = malloc(ss.ss_size);
    sigaltstack(&ss, nullptr);
    struct sigaction sa{};
    sa.sa_flags = SA_ONSTACK;
    sa.sa_handler = [](int) { seen++; };
    sigaction(SIGUSR1, &sa, nullptr);
    sa.sa_handler = [](int) {
      char* av[] = {const_cast<char*>("x"), nullptr};
      if (execv("/nonexistent/program", av) < 0 && errno == ENOENT) fails++;
    };
    sigaction(SIGUSR2, &sa, nullptr);
    static pid_t main_tid;
    main_tid = (pid_t)syscall(SYS_gettid);
    pthread_t storm;
    pthread_create(&storm, nullptr, [](void*) -> void* {
      while (!stop) syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
      return nullptr;
    }, nullptr);
    int n = atoi(argv[2]);
    for (int i = 0; i < n; i++) raise(SIGUSR2);
    stop = true;
    pthread_join(storm, nullptr);
    printf("failed %d of %d, signals %s\n", fails, n, seen > 0 ? "seen" : "none");
    return 0;
  }
  if (argc == 5 && !strcmp(argv[1], "threads-start")) {
    // T threads of 64 KiB each start N programs with vfork+exec, or with
    // system(): how many went wrong, and SIGINT's disposition afterwards.
    static const char* how;
    static int each;
    static std::atomic<int> bad{0};
    how = argv[2];
    int t = atoi(argv[3]);
    each = atoi(argv[4]);
    std::vector<pthread_t> ts(t);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 * 1024);
    for (auto& th : ts)
      pthread_create(&th, &at, [](void*) -> void* {
        for (int i = 0; i < each; i++)
          if ((!strcmp(how, "vfork") ? vfork_sleep() : system("exit 0")) != 0) bad++;
        return nullptr;
      }, nullptr);
    for (auto& th : ts) pthread_join(th, nullptr);
    struct sigaction cur{};
    sigaction(SIGINT, nullptr, &cur);
    printf("%s bad %d, SIGINT %s\n", how, bad.load(), cur.sa_handler == SIG_DFL ? "default" : "changed");
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "small-stack")) {
    // A thread of 128 KiB (as natively and in a real chroot, room enough)
    // starts a program with fork, vfork, system, posix_spawn or popen.
    static const char* how;
    how = argv[2];
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 128 * 1024);
    pthread_t t;
    void* (*body)(void*) = [](void*) -> void* {
      int st = -1;
      char* av[] = {const_cast<char*>("sleep"), const_cast<char*>("0"), nullptr};
      if (!strcmp(how, "fork") || !strcmp(how, "vfork")) {
        pid_t p = !strcmp(how, "fork") ? fork() : vfork();
        if (p == 0) {
          execv("/bin/sleep", av);
          _exit(127);
        }
        waitpid(p, &st, 0);
      } else if (!strcmp(how, "system")) {
        st = system("/bin/sleep 0");
      } else if (!strcmp(how, "spawn")) {
        pid_t p;
        if (posix_spawn(&p, "/bin/sleep", nullptr, nullptr, av, environ) == 0) waitpid(p, &st, 0);
      } else if (!strcmp(how, "popen")) {
        FILE* f = popen("echo from-popen", "r");
        char b[32] = {};
        if (f && fgets(b, sizeof b, f)) printf("%s", b);
        st = f ? pclose(f) : -1;
      }
      printf("%s %d\n", how, st);
      return nullptr;
    };
    if (pthread_create(&t, &at, body, nullptr) != 0) return 1;
    pthread_join(t, nullptr);
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "chroot-cwd")) {
    // chdir(DIR), chroot(ROOT): getcwd's answer (libc's, then the kernel's).
    if (chdir(argv[2]) != 0 || chroot(argv[3]) != 0) return perror("chroot-cwd"), 1;
    char b[4096];
    printf("%s\n", getcwd(b, sizeof b) ? b : strerror(errno));
    long n = syscall(SYS_getcwd, b, sizeof b);
    printf("%s\n", n > 0 ? b : strerror(errno));
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "hide")) return hide();
  if (argc == 3 && !strcmp(argv[1], "raw")) return raw_calls(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "un-stream")) return un_stream(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "un-connect")) return un_connect(argv[2]);
  if (argc == 5 && !strcmp(argv[1], "un-accept")) return un_accept(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  if (argc == 4 && !strcmp(argv[1], "un-dgram")) return un_dgram(argv[2], argv[3]);
  if (argc == 6 && !strcmp(argv[1], "un-dgram-client"))
    return un_dgram_client(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
  if (argc == 2 && !strcmp(argv[1], "un-other")) return un_other();
  if (argc >= 2 && !strcmp(argv[1], "temps")) return temps(argc, argv);
  if (argc >= 3 && (!strcmp(argv[1], "touch-empty") || !strcmp(argv[1], "chmod-procfd") ||
                    !strcmp(argv[1], "write-procfd") || !strcmp(argv[1], "nodump")))
    return through_descriptor(argc, argv);
  if (argc >= 3 && !strcmp(argv[1], "fts")) {
    for (int opts = 0; opts <= FTS_OPTIONMASK; opts++)
      for (int mode = 0; mode < 3; mode++) fts_walk(argv + 2, opts, mode > 0, mode == 2);
    fts_walk(argv + 2, 0x400, false, false);  // not an option: EINVAL
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "fts-follow")) {
    char* paths[] = {argv[2], nullptr};
    FTS* sp = fts_open(paths, FTS_PHYSICAL, by_name);
    if (!sp) return 1;
    while (FTSENT* e = fts_read(sp)) {
      printf("%s %s\n", e->fts_path, access(e->fts_accpath, F_OK) == 0 ? "reached" : "lost");
      if (e->fts_info == FTS_SL && !strcmp(e->fts_name, "follow")) fts_set(sp, e, FTS_FOLLOW);
      if (e->fts_info == FTS_D && !strcmp(e->fts_name, "follow")) fts_children(sp, 0);
    }
    return fts_close(sp) == 0 ? 0 : 1;
  }
  // openat(open(DIR), NAME), or from an O_PATH | O_NOFOLLOW descriptor of
  // a link: its content.
  bool at_link = argc == 4 && !strcmp(argv[1], "cat-at-link");
  if (at_link || (argc == 4 && !strcmp(argv[1], "cat-at"))) {
    int d = open(argv[2], at_link ? O_PATH | O_NOFOLLOW | O_CLOEXEC : O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = d >= 0 ? openat(d, argv[3], O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) return printf("%s\n", strerror(errno)), 1;
    char b[4096];
    for (ssize_t n; (n = read(fd, b, sizeof b)) > 0;) fwrite(b, 1, (size_t)n, stdout);
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "open-dir")) {
    int fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    printf("%s\n", fd >= 0 ? "ok" : strerror(errno));
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "fts-uid")) {
    char* paths[] = {argv[2], nullptr};
    FTS* sp = fts_open(paths, FTS_PHYSICAL, by_name);
    if (!sp) return 1;
    while (FTSENT* e = fts_read(sp))
      if (e->fts_info != FTS_DP) printf("%s %u\n", e->fts_path, (unsigned)e->fts_statp->st_uid);
    return fts_close(sp) == 0 ? 0 : 1;
  }
  if (argc == 3 && (!strcmp(argv[1], "glob") || !strcmp(argv[1], "glob-tilde"))) {
    glob_t g{};
    int r = glob(argv[2], argv[1][4] ? GLOB_TILDE_CHECK : 0, nullptr, &g);
    if (r == GLOB_NOMATCH) printf("no match\n");
    for (size_t i = 0; r == 0 && i < g.gl_pathc; i++) printf("%s\n", g.gl_pathv[i]);
    if (r == 0) globfree(&g);
    return r == 0 ? 0 : 1;
  }
  if (argc == 3 && !strcmp(argv[1], "nftw")) return nftw(argv[2], print_entry, 8, FTW_PHYS) == 0 ? 0 : 1;
  if (argc == 3 && !strcmp(argv[1], "statx")) {
    struct statx sx{};
    long r = syscall(SYS_statx, AT_FDCWD, argv[2], 0, STATX_BASIC_STATS, &sx);
    if (r != 0) return perror("statx"), 1;
    printf("%u %o\n", sx.stx_uid, sx.stx_mode & 07777);
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "title-setuid")) {
    // nginx's way: a title written over the argument block and on into the
    // environment's, then a worker forked that drops to a user (and titles
    // itself again). Prints the worker's pid; it waits to be killed.
    int uid = atoi(argv[2]);
    char* start = argv[0];
    char* end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
    for (char** e = environ; *e; e++)
      if (*e + strlen(*e) + 1 > end) end = *e + strlen(*e) + 1;
    const char master[] = "helper: master process with a title longer than its arguments";
    memset(start, 0, end - start);
    memcpy(start, master, sizeof master < (size_t)(end - start) ? sizeof master : (size_t)(end - start) - 1);
    pid_t w = fork();
    if (w == 0) {
      // (Not holding the caller's output: $(helper ...) reads to its end.)
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      if (setgid(uid) != 0 || setuid(uid) != 0) _exit(1);
      memset(start, 0, end - start);
      strcpy(start, "helper: worker process");
      for (;;) pause();
    }
    printf("%d\n", (int)w);
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "mount")) {
    long r = syscall(SYS_mount, argv[2], argv[3], argv[2], 0L, nullptr);
    if (r < 0) printf("%ld %s\n", r, strerror(errno));
    else printf("%ld\n", r);
    return 0;
  }
  fprintf(stderr, "usage: helper glob PATTERN | nftw DIR | statx PATH | mount TYPE DIR | fts PATH... | fts-uid PATH | "
                  "fts-follow DIR | open-dir PATH | temps UID GID DIR | un-stream PATH | un-dgram SRV CLI | un-other\n");
  return 2;
}
