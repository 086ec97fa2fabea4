// /proc's view of a session's processes as processes of their fake users
// (procfs.cc). Internal to the core.
#pragma once
#include <fcntl.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "sys.h"

namespace cr {

// /proc/PID/FILE's path, for pid, into path (48 bytes are enough for any
// FILE of /proc/PID's own).
inline void proc_file(long pid, const char* file, char* path) {
  memcpy(path, "/proc/", 6);
  size_t l = 6;
  char d[24];
  int nd = 0;
  do d[nd++] = char('0' + pid % 10); while ((pid /= 10) > 0);
  while (nd) path[l++] = d[--nd];
  path[l++] = '/';
  memcpy(path + l, file, strlen(file) + 1);
}

// The hexadecimal number at *p (lower case, as /proc writes them), *p
// moved past it.
inline uint64_t hex_at(const char** p) {
  uint64_t v = 0;
  for (;; (*p)++) {
    char c = **p;
    if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
    else return v;
  }
}

// Reads the file at `path` line by line into line[cap] (longer lines cut),
// with raw system calls and no allocation, calling f(line) until it
// returns true. -1 when the file cannot be opened (EACCES: another's
// process), else whether f stopped the reading.
template <typename F>
int each_line(const char* path, char* line, size_t cap, F&& f) {
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  size_t ll = 0;
  int stopped = 0;
  for (long got; !stopped && (got = sys::raw(SYS_read, fd, (long)buf, sizeof buf)) > 0;)
    for (long i = 0; i < got && !stopped; i++) {
      if (buf[i] != '\n') {
        if (ll < cap - 1) line[ll++] = buf[i];
        continue;
      }
      line[ll] = 0;
      ll = 0;
      stopped = f(static_cast<const char*>(line)) ? 1 : 0;
    }
  sys::raw(SYS_close, fd);
  return stopped;
}

// A line of /proc/PID/maps, "LO-HI PERMS OFFSET MAJ:MIN INODE PATH": its
// range, and *q past it. False when the line is none.
inline bool map_range(const char** q, uint64_t* lo, uint64_t* hi) {
  *lo = hex_at(q);
  if (*(*q)++ != '-') return false;
  *hi = hex_at(q);
  return true;
}

// The rest of such a line: its device and inode (`id`, `idl` bytes, the
// text as written: "MAJ:MIN INODE"), as numbers, and its path (nullptr for
// an anonymous mapping). q is past the range (map_range).
struct MapRest {
  const char* id;
  size_t idl;
  uint64_t major, minor, ino;
  const char* path;
};
inline void map_rest(const char* q, MapRest* m) {
  for (int field = 0; field < 2; field++) {  // perms, offset
    while (*q == ' ') q++;
    while (*q && *q != ' ') q++;
  }
  while (*q == ' ') q++;
  m->id = q;
  m->major = hex_at(&q);
  m->minor = 0;
  if (*q == ':') q++, m->minor = hex_at(&q);
  while (*q && *q != ' ') q++;
  while (*q == ' ') q++;
  m->ino = 0;
  while (*q >= '0' && *q <= '9') m->ino = m->ino * 10 + (uint64_t)(*q++ - '0');
  while (*q && *q != ' ') q++;
  m->idl = (size_t)(q - m->id);
  m->path = strchr(q, '/');
}

// The owner /proc shows for `path` (a host path under /proc/PID, /proc/self
// or /proc/thread-self, owned for real by `real_uid`): the process's fake
// effective ids when it is one of the session's. False: keep the kernel's.
bool proc_owner(const char* path, uint32_t real_uid, uint32_t* uid, uint32_t* gid);

// Whether this process may send `sig` to the process `pid`, as the
// kernel's kill permission judges it on the fake ids (a real or effective
// uid the target's real or saved one, CAP_KILL, SIGCONT within a session):
// 0, -EPERM, or -ESRCH when it is gone.
int may_signal(long pid, int sig);
// The pid a pidfd stands for (its fdinfo's Pid:): -1 when that process
// has ended, -EBADF when `fd` is no pidfd.
long pidfd_pid(int fd);
// kill(pid, sig) for a pid that names a group (0, -PGID) or every process
// (-1), by a process without CAP_KILL: sent to each member it may signal,
// as the kernel does. 0 when one got it, else -EPERM or -ESRCH.
long signal_each(long pid, int sig);

// open of /proc/PID/status (and its /task/TID/ and self forms) for reading:
// for a process of the session, a descriptor of a copy whose Uid:, Gid: and
// Groups: lines are its fake ids; the real file's descriptor otherwise, or
// -errno. kNotProc when `path` is none of those.
constexpr int kNotProc = -100000;
int proc_open_status(const char* path, int flags);
// /proc/PID/environ of another process of the session: -EACCES where the
// kernel's ptrace access check on the fake ids refuses it (the reader's
// fsuid and fsgid must be the target's real, effective and saved ids, or
// it has CAP_SYS_PTRACE: fake root), else 0.
int proc_environ_denied(const char* path);
// open of /proc/PID/maps (its own: self, thread-self, its pid or a thread's)
// for reading by a static program in a root (valgrind's core learns the
// mappings from it): a copy naming the root's files by their inside paths,
// and the host's objects that run the static program (its host's loader,
// libc and this library, which no real chroot would have) with no name.
// kNotProc otherwise.
int proc_open_maps(const char* path, int flags);
// open of the mount table (/proc/mounts, /proc/PID/mounts, mountinfo) for
// reading in a root: a copy with what a real chroot's process sees, the
// mounts inside the root by their inside paths and /proc, /dev and /sys
// (passed through to every root) as they are; not the host's others.
// kNotProc otherwise.
int proc_open_mounts(const char* path, int flags);

// Others know a process's fake ids from its environment (/proc/PID/environ:
// what it was started with). After a change it made itself (a daemon
// dropping to its user: dbus-daemon, sshd's [net] child), the kernel is
// shown a copy of the environment block with the new ids (PR_SET_MM_MAP's
// env_start and env_end, which need no privilege), so that ps -o user,
// pgrep -u and start-stop-daemon --user see whom it runs as; not where a
// process title already runs into the block (nginx's workers), nor for
// groups alone (procfs.cc says why).
void publish_ids();

}  // namespace cr
