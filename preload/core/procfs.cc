// What /proc says of a session's processes, as of processes of the fake
// users they are: the owner of /proc/PID (the kernel's task_dump_owner:
// the process's effective ids) and the Uid:, Gid: and Groups: lines of
// /proc/PID/status. `ps -o user`, `pgrep -u`, `killall -u` and
// `start-stop-daemon --user` read them. A process of the session is one of
// this real user's; its fake ids are this process's own, or those another
// started with (its environment, as SO_PEERCRED's: not a set*id call it
// made since). Anything else keeps what the kernel says.
#include "procfs.h"

#include <fcntl.h>
#include <signal.h>
#include <linux/prctl.h>
#include <sys/mman.h>

#include <atomic>

#include <cstdlib>
#include <cstring>

#include "confine.h"
#include "perm.h"
#include "resolve.h"
#include "session.h"
#include "sys.h"

namespace cr {

namespace {

size_t put_num(char* out, uint64_t v) {
  char d[24];
  int n = 0;
  do d[n++] = char('0' + v % 10); while ((v /= 10) > 0);
  for (int i = 0; i < n; i++) out[i] = d[n - 1 - i];
  return (size_t)n;
}

// "/proc/PID[/task/TID][/REST]", "/proc/self..." or "/proc/thread-self...":
// the process, and what follows its directory (REST without its '/', or "").
bool task_of(const char* path, long* pid, const char** rest) {
  if (!path || strncmp(path, "/proc/", 6) != 0) return false;
  const char* p = path + 6;
  long me = sys::raw(SYS_getpid);
  if (strncmp(p, "self", 4) == 0 && (p[4] == '/' || !p[4])) {
    *pid = me;
    p += 4;
  } else if (strncmp(p, "thread-self", 11) == 0 && (p[11] == '/' || !p[11])) {
    *pid = me;
    p += 11;
  } else {
    if (*p < '0' || *p > '9') return false;
    long x = 0;
    while (*p >= '0' && *p <= '9') x = x * 10 + (*p++ - '0');
    if (*p && *p != '/') return false;
    *pid = x;
  }
  if (strncmp(p, "/task/", 6) == 0) {
    p += 6;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') p++;
    if (*p && *p != '/') return false;
  }
  while (*p == '/') p++;
  *rest = p;
  return true;
}

struct TaskIds {
  Ids uid, gid;
  uint32_t groups[kMaxGroups];
  int ngroups;
  Caps caps;       // this process's own (set); else caps_of reads them
  long env_pid = 0;  // whose environment gave the ids, when one did
};

// The capability sets of a process of the session: its COWROOT_CAPS, or
// what its euid gives. Read here, for the one reader of them
// (/proc/PID/status), not by every task_ids (kill's check).
Caps caps_of(const TaskIds& t) {
  if (t.caps.set) return t.caps;
  char cv[4 * 17 + 1];
  Caps c;
  if (t.env_pid && initial_env(t.env_pid, kEnvCaps, cv, sizeof cv) && parse_caps(cv, &c)) return c;
  return default_caps(t.uid.e);
}

uint32_t env_num(long pid, const char* name, uint32_t dflt) {
  char v[16];
  if (!initial_env(pid, name, v, sizeof v)) return dflt;
  return (uint32_t)strtoul(v, nullptr, 10);
}

// A process's start time (proc(5)'s field 22), 0 when it cannot be read.
uint64_t start_time(long pid) {
  char path[48] = "/proc/";
  size_t l = 6 + put_num(path + 6, (uint64_t)pid);
  memcpy(path + l, "/stat", 6);
  uint64_t f[53];
  return sys::stat_fields(path, f) ? f[22] : 0;
}

// Where a process whose environment block cannot show its ids any more (a
// title written over it: nginx's workers) leaves them instead: the
// session's directory, ids/PID.
size_t ids_file(char* out, size_t n, long pid) {
  size_t dl = strnlen(g_session.state_dir, sizeof g_session.state_dir);
  if (!dl || dl + 32 > n) return 0;
  memcpy(out, g_session.state_dir, dl);
  memcpy(out + dl, "/ids/", 5);
  size_t l = dl + 5;
  l += put_num(out + l, (uint64_t)pid);
  out[l] = 0;
  return l;
}

// The ids a process left in its file (ids_file), if the file is that
// process's (its start time: not an earlier process's of the same pid).
bool filed_ids(long pid, TaskIds* t) {
  char path[kPathMax + 32];
  if (!ids_file(path, sizeof path, pid)) return false;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[kMaxGroups * 11 + 256];
  long n = sys::raw(SYS_read, fd, (long)buf, sizeof buf - 1);
  sys::raw(SYS_close, fd);
  if (n <= 0) return false;
  buf[n] = 0;
  char* p = buf;
  uint64_t v[11];
  for (uint64_t& x : v) {
    char* end;
    x = strtoull(p, &end, 10);
    if (end == p) return false;
    p = end;
  }
  if (v[0] != start_time(pid)) return false;
  t->uid = Ids{(uint32_t)v[1], (uint32_t)v[2], (uint32_t)v[3], (uint32_t)v[4]};
  t->gid = Ids{(uint32_t)v[5], (uint32_t)v[6], (uint32_t)v[7], (uint32_t)v[8]};
  t->ngroups = 0;
  for (uint64_t i = 0; i < v[9] && i < (uint64_t)kMaxGroups; i++) {
    char* end;
    unsigned long x = strtoul(p, &end, 10);
    if (end == p) break;
    t->groups[t->ngroups++] = (uint32_t)x;
    p = end;
  }
  return true;
}

// The fake ids of process `pid`, which is this real user's: false when it
// is not one of the session's (no fake ids in its environment).
bool task_ids(long pid, TaskIds* t) {
  t->caps = Caps{};
  t->env_pid = 0;
  if (pid == sys::raw(SYS_getpid)) {
    t->uid = g_session.uid;
    t->gid = g_session.gid;
    t->ngroups = g_session.ngroups;
    memcpy(t->groups, g_session.groups, sizeof t->groups);
    t->caps = caps_now();
    return true;
  }
  if (filed_ids(pid, t)) return true;
  char v[16];
  if (!initial_env(pid, "FAKEROOTEUID", v, sizeof v)) return false;
  t->uid.e = (uint32_t)strtoul(v, nullptr, 10);
  t->uid.r = env_num(pid, "FAKEROOTUID", t->uid.e);
  t->uid.s = env_num(pid, "FAKEROOTSUID", t->uid.e);
  t->uid.f = env_num(pid, "FAKEROOTFUID", t->uid.e);
  t->gid.e = env_num(pid, "FAKEROOTEGID", 0);
  t->gid.r = env_num(pid, "FAKEROOTGID", t->gid.e);
  t->gid.s = env_num(pid, "FAKEROOTSGID", t->gid.e);
  t->gid.f = env_num(pid, "FAKEROOTFGID", t->gid.e);
  t->env_pid = pid;
  t->ngroups = 0;
  char g[kMaxGroups * 11 + 1];
  if (initial_env(pid, kEnvGroups, g, sizeof g))
    for (const char* p = g; *p && t->ngroups < kMaxGroups;) {
      char* end;
      unsigned long x = strtoul(p, &end, 10);
      if (end == p) break;
      t->groups[t->ngroups++] = (uint32_t)x;
      p = *end == ',' ? end + 1 : end;
    }
  return true;
}

}  // namespace

int may_signal(long pid, int sig) {
  if (caps_now().eff & cap_bit(CAP_KILL)) return 0;
  if (pid == sys::raw(SYS_getpid)) return 0;
  TaskIds t;
  if (!task_ids(pid, &t)) {
    // Gone (the kernel says ESRCH); in the middle of an exec (its
    // environment reads empty a moment) or a zombie: the ids of the process
    // it was forked from, as /proc shows them; or no process of the
    // session's: its real user's (this user's, when the kernel lets it).
    if (sys::raw(SYS_kill, pid, 0) == -ESRCH) return -ESRCH;
    char path[64], stat[512];
    proc_file(pid, "stat", path);
    long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
    long n = fd < 0 ? -1 : sys::raw(SYS_read, fd, (long)stat, sizeof stat - 1);
    if (fd >= 0) sys::raw(SYS_close, fd);
    const char* close = n > 0 ? (stat[n] = 0, strrchr(stat, ')')) : nullptr;
    long ppid = close && close[1] == ' ' && close[2] && close[3] == ' ' ? strtol(close + 4, nullptr, 10) : 0;
    if (ppid <= 1 || !task_ids(ppid, &t)) t.uid.r = t.uid.s = g_session.real_uid;
  }
  const Ids& me = g_session.uid;
  if (me.e == t.uid.s || me.e == t.uid.r || me.r == t.uid.s || me.r == t.uid.r) return 0;
  // SIGCONT within one session, whoever sends it (kernel/signal.c).
  if (sig == SIGCONT) {
    long theirs = sys::raw(SYS_getsid, pid);
    if (theirs >= 0 && theirs == sys::raw(SYS_getsid, 0)) return 0;
  }
  return -EPERM;
}

long pidfd_pid(int fd) {
  char path[64], in[1024];
  sys::proc_fd_path(fd, path, "fdinfo");
  long f = sys::raw(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC);
  if (f < 0) return -EBADF;
  long n = sys::raw(SYS_read, f, (long)in, sizeof in - 1);
  sys::raw(SYS_close, f);
  if (n <= 0) return -EBADF;
  in[n] = 0;
  const char* p = strstr(in, "\nPid:\t");
  if (!p) return -EBADF;  // not a pidfd: the kernel says so
  return strtol(p + 6, nullptr, 10);  // (-1: the process has ended)
}

long signal_each(long pid, int sig) {
  long self = sys::raw(SYS_getpid);
  long group = pid == 0 ? sys::raw(SYS_getpgid, 0) : -pid;  // (pid -1: every process)
  long dfd = sys::raw(SYS_openat, AT_FDCWD, (long)"/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return dfd;
  int found = 0, sent = 0;
  bool me = false;  // this process is in the group: signalled last, or it would end first
  long last = -ESRCH;
  auto send = [&](long p) {
    found++;
    long r = may_signal(p, sig);
    if (r == 0) r = sys::raw(SYS_kill, p, sig);
    if (r == 0) sent++;
    // kill(-1) passes over what it may not signal (kernel/signal.c).
    else if (pid != -1 || r != -EPERM) last = r;
  };
  alignas(8) char dents[4096];
  for (long got; (got = sys::raw(SYS_getdents64, dfd, (long)dents, sizeof dents)) > 0;)
    for (long off = 0; off < got;) {
      auto* d = reinterpret_cast<sys::Dirent64*>(dents + off);
      off += d->reclen;
      char* end;
      long p = strtol(d->name, &end, 10);
      if (*end || p <= 0) continue;
      if (pid == -1) {
        // Every process but init and the caller (Linux's kill(-1)).
        if (p == 1 || p == self) continue;
      } else if (sys::raw(SYS_getpgid, p) != group) {
        continue;
      }
      if (p == self) me = true;
      else send(p);
    }
  sys::raw(SYS_close, dfd);
  if (me) send(self);
  if (!found) return -ESRCH;
  if (pid == -1) return last == -ESRCH ? 0 : sent ? 0 : last;
  return sent ? 0 : last;
}

bool proc_owner(const char* path, uint32_t real_uid, uint32_t* uid, uint32_t* gid) {
  long pid;
  const char* rest;
  if (real_uid != g_session.real_uid || !task_of(path, &pid, &rest)) return false;
  TaskIds t;
  if (!task_ids(pid, &t)) return false;
  *uid = t.uid.e;
  *gid = t.gid.e;
  return true;
}

int proc_environ_denied(const char* path) {
  long pid;
  const char* rest;
  if (!task_of(path, &pid, &rest) || strcmp(rest, "environ") != 0 || pid == sys::raw(SYS_getpid)) return 0;
  Cred c = fs_cred();
  if (c.caps & cap_bit(CAP_SYS_PTRACE)) return 0;
  TaskIds t;
  // A process outside the session: the kernel's to say.
  if (!task_ids(pid, &t)) return 0;
  bool same = c.uid == t.uid.r && c.uid == t.uid.e && c.uid == t.uid.s && c.gid == t.gid.r && c.gid == t.gid.e &&
              c.gid == t.gid.s;
  return same ? 0 : -EACCES;
}

int proc_open_status(const char* path, int flags) {
  long pid;
  const char* rest;
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_PATH | O_DIRECTORY)) || !task_of(path, &pid, &rest) ||
      strcmp(rest, "status") != 0)
    return kNotProc;
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, flags);
  if (fd < 0) return (int)fd;
  char in[8192];
  long n = 0;
  for (long got; n < (long)sizeof in - 1 && (got = sys::raw(SYS_read, fd, (long)(in + n), sizeof in - 1 - n)) > 0;)
    n += got;
  // Whose is it: the Uid: line's real uid says whether it is the session's.
  const char* u = n > 0 ? strstr((in[n] = 0, in), "\nUid:\t") : nullptr;
  TaskIds t;
  bool ours = u && (uint32_t)strtoul(u + 6, nullptr, 10) == g_session.real_uid;
  bool known = ours && task_ids(pid, &t);
  if (ours && !known && strstr(in, "\nState:\tZ")) {
    // A zombie has no environment left to read: it ended with the ids of
    // the process it was forked from, as far as anyone can tell (its
    // parent, which has not reaped it yet).
    if (const char* pp = strstr(in, "\nPPid:\t")) known = task_ids(strtol(pp + 7, nullptr, 10), &t);
    // One whose parent is no process of the session (a daemon's, left to
    // init): a process of the session all the same, never the real user.
    if (!known) known = task_ids(sys::raw(SYS_getpid), &t);
  }
  if (!known) {
    sys::raw(SYS_lseek, fd, 0, SEEK_SET);
    return (int)fd;
  }
  sys::raw(SYS_close, fd);
  char out[8192 + kMaxGroups * 11 + 5 * 30];
  Caps caps = caps_of(t);
  size_t o = 0;
  for (const char* line = in; line < in + n;) {
    const char* end = static_cast<const char*>(memchr(line, '\n', in + n - line));
    const char* next = end ? end + 1 : in + n;
    const Ids* ids = !strncmp(line, "Uid:\t", 5) ? &t.uid : !strncmp(line, "Gid:\t", 5) ? &t.gid : nullptr;
    if (ids) {
      memcpy(out + o, line, 5);
      o += 5;
      uint32_t v[4] = {ids->r, ids->e, ids->s, ids->f};
      for (int i = 0; i < 4; i++) {
        o += put_num(out + o, v[i]);
        out[o++] = i < 3 ? '\t' : '\n';
      }
    } else if (!strncmp(line, "CapInh:\t", 8) || !strncmp(line, "CapPrm:\t", 8) || !strncmp(line, "CapEff:\t", 8) ||
               !strncmp(line, "CapBnd:\t", 8)) {
      // The fake sets (capsh --print, libcap-ng's setpriv -d and pscap read
      // them here): 16 hex digits, as the kernel writes them.
      uint64_t v = line[3] == 'I' ? caps.inh : line[3] == 'P' ? caps.perm : line[3] == 'E' ? caps.eff : caps.bset;
      memcpy(out + o, line, 8);
      o += 8;
      for (int i = 15; i >= 0; i--) out[o++] = "0123456789abcdef"[(v >> (4 * i)) & 15];
      out[o++] = '\n';
    } else if (!strncmp(line, "Groups:\t", 8)) {
      memcpy(out + o, "Groups:\t", 8);
      o += 8;
      for (int i = 0; i < t.ngroups; i++) {
        o += put_num(out + o, t.groups[i]);
        out[o++] = ' ';
      }
      out[o++] = '\n';
    } else {
      if (o + (next - line) > sizeof out) break;
      memcpy(out + o, line, next - line);
      o += next - line;
    }
    line = next;
  }
  long mfd = sys::raw(SYS_memfd_create, (long)"status", (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0);
  if (mfd < 0) return (int)mfd;
  if (sys::raw(SYS_write, mfd, (long)out, (long)o) != (long)o) {
    sys::raw(SYS_close, mfd);
    return -EIO;
  }
  sys::raw(SYS_lseek, mfd, 0, SEEK_SET);
  return (int)mfd;
}

namespace {

// The whole of a /proc file (up to 4 MiB: a static program's maps, the
// mount table), in memory of its own.
struct ProcText {
  char* data = nullptr;
  size_t n = 0, cap = 4 << 20;
  ~ProcText() {
    if (data) sys::raw(SYS_munmap, (long)data, (long)cap);
  }
  // 0, or -errno (of the open).
  long read(const char* path, int flags) {
    long fd = sys::raw(SYS_openat, AT_FDCWD, (long)path, flags);
    if (fd < 0) return fd;
    long m = sys::raw(SYS_mmap, 0, (long)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m < 0 && m > -4096) {
      sys::raw(SYS_close, fd);
      return m;
    }
    data = reinterpret_cast<char*>(m);
    for (long got; n < cap - 1 && (got = sys::raw(SYS_read, fd, (long)(data + n), (long)(cap - 1 - n))) > 0;) n += got;
    sys::raw(SYS_close, fd);
    return 0;
  }
};

// A copy written line by line into a memfd, handed out as the file.
struct ProcCopy {
  long fd;
  bool ok = true;
  ProcCopy(const char* name, int flags) : fd(sys::raw(SYS_memfd_create, (long)name, (flags & O_CLOEXEC) ? MFD_CLOEXEC : 0)) {}
  void put(const char* p, size_t l) {
    if (ok && fd >= 0 && sys::raw(SYS_write, fd, (long)p, (long)l) != (long)l) ok = false;
  }
  // The descriptor, at its start, or -errno.
  int done() {
    if (fd < 0) return (int)fd;
    if (!ok) {
      sys::raw(SYS_close, fd);
      return -EIO;
    }
    sys::raw(SYS_lseek, fd, 0, SEEK_SET);
    return (int)fd;
  }
};

// A mount table's path field (spaces, tabs, newlines and backslashes
// written as \ooo) at [p, p + l): decoded into out.
bool unescape(const char* p, size_t l, char* out, size_t n) {
  size_t o = 0;
  for (size_t i = 0; i < l; i++) {
    if (o + 1 >= n) return false;
    if (p[i] == '\\' && i + 3 < l && p[i + 1] >= '0' && p[i + 1] <= '3') {
      out[o++] = (char)(((p[i + 1] - '0') << 6) | ((p[i + 2] - '0') << 3) | (p[i + 3] - '0'));
      i += 3;
    } else {
      out[o++] = p[i];
    }
  }
  out[o] = 0;
  return true;
}

void put_escaped(ProcCopy& c, const char* p) {
  for (; *p; p++) {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\') {
      char e[4] = {'\\', (char)('0' + ((*p >> 6) & 7)), (char)('0' + ((*p >> 3) & 7)), (char)('0' + (*p & 7))};
      c.put(e, 4);
    } else {
      c.put(p, 1);
    }
  }
}

}  // namespace

int proc_open_maps(const char* path, int flags) {
  long pid;
  const char* rest;
  if (!g_root.active || !g_confine.static_prog || (flags & O_ACCMODE) != O_RDONLY || (flags & (O_PATH | O_DIRECTORY)) ||
      !task_of(path, &pid, &rest) || strcmp(rest, "maps") != 0 ||
      (pid != sys::raw(SYS_getpid) && pid != sys::raw(SYS_gettid)))
    return kNotProc;
  ProcText in;
  if (long e = in.read(path, flags)) return (int)e;
  ProcCopy out("maps", flags);
  for (const char* at = in.data; at < in.data + in.n;) {
    const char* end = static_cast<const char*>(memchr(at, '\n', (size_t)(in.data + in.n - at)));
    const char* next = end ? end + 1 : in.data + in.n;
    size_t ll = (size_t)((end ? end : in.data + in.n) - at);
    // The name starts at the first '/' after the five fields before it.
    const char* name = nullptr;
    int fields = 0;
    for (const char* c = at; c < at + ll; c++) {
      if (*c == ' ' && c + 1 < at + ll && c[1] != ' ') fields++;
      if (fields >= 5 && *c == '/') {
        name = c;
        break;
      }
    }
    PathBuf host, inside;
    size_t nl = name ? (size_t)(at + ll - name) : 0;
    if (!name || nl >= sizeof host) {
      out.put(at, ll);
    } else {
      memcpy(host, name, nl);
      host[nl] = 0;
      // " (deleted)" stays after the name.
      char* del = strstr(host, " (deleted)");
      if (del) *del = 0;
      if (to_inside(host, inside, sizeof inside)) {
        out.put(at, (size_t)(name - at));
        out.put(inside, strlen(inside));
        if (del) out.put(" (deleted)", 10);
      } else if (strncmp(host, "/memfd:", 7) == 0) {
        out.put(at, ll);
      } else {
        // A host file: the static program's host (or the session's
        // state): no name, as an anonymous mapping's, trailing blanks
        // left out.
        size_t o = (size_t)(name - at);
        while (o > 0 && at[o - 1] == ' ') o--;
        out.put(at, o);
      }
    }
    out.put("\n", 1);
    at = next;
  }
  return out.done();
}

int proc_open_mounts(const char* path, int flags) {
  long pid;
  const char* rest = nullptr;
  if (!g_root.active || (flags & O_ACCMODE) != O_RDONLY || (flags & (O_PATH | O_DIRECTORY)))
    return kNotProc;
  bool info;
  if (strcmp(path, "/proc/mounts") == 0)
    info = false;
  else if (task_of(path, &pid, &rest) && (strcmp(rest, "mounts") == 0 || strcmp(rest, "mountinfo") == 0))
    info = rest[5] == 'i';
  else
    return kNotProc;
  // A process outside the session (init): its own table, relative to its
  // own root, as a real chroot's process reads it. (ischroot compares it
  // with its own to tell it is in a chroot.)
  if (rest && foreign_pid(pid)) return kNotProc;
  ProcText in;
  if (long e = in.read(path, flags)) return (int)e;
  ProcCopy out(info ? "mountinfo" : "mounts", flags);
  for (const char* at = in.data; at < in.data + in.n;) {
    const char* end = static_cast<const char*>(memchr(at, '\n', (size_t)(in.data + in.n - at)));
    const char* next = end ? end + 1 : in.data + in.n;
    size_t ll = (size_t)((end ? end : in.data + in.n) - at);
    // The mount point: the second field (mounts), the fifth (mountinfo).
    const char* f = at;
    for (int k = info ? 4 : 1; k > 0 && f < at + ll; k--) {
      const char* sp = static_cast<const char*>(memchr(f, ' ', (size_t)(at + ll - f)));
      f = sp ? sp + 1 : at + ll;
    }
    const char* fe = static_cast<const char*>(memchr(f, ' ', (size_t)(at + ll - f)));
    if (!fe) fe = at + ll;
    PathBuf host, inside;
    // What the process's root reaches: a mount inside the root or under
    // one of its binds (/proc, /dev and /sys are every root's) by its
    // inside path; others are not shown, as the kernel leaves out what a
    // real chroot cannot reach (the host's /, its other file systems).
    if (unescape(f, (size_t)(fe - f), host, sizeof host) && to_inside(host, inside, sizeof inside)) {
      out.put(at, (size_t)(f - at));
      put_escaped(out, inside);
      out.put(fe, (size_t)(at + ll - fe));
      out.put("\n", 1);
    }
    at = next;
  }
  return out.done();
}

namespace {
// The environment block shown to others since this process's last change
// of its ids (publish_ids), and its length; none yet.
char* g_shown_env;
size_t g_shown_len;
std::atomic<bool> g_publishing{false};

bool ours_to_publish(const char* e) {
  static const char* const kNames[] = {"FAKEROOTUID=",  "FAKEROOTEUID=", "FAKEROOTSUID=", "FAKEROOTFUID=", "FAKEROOTGID=",
                                       "FAKEROOTEGID=", "FAKEROOTSGID=", "FAKEROOTFGID=", "COWROOT_GROUPS="};
  if (e[0] != 'F' && e[0] != 'C') return false;
  for (const char* n : kNames)
    if (strncmp(e, n, strlen(n)) == 0) return true;
  return false;
}

size_t put_var(char* out, const char* name, uint32_t v) {
  size_t l = strlen(name);
  memcpy(out, name, l);
  l += put_num(out + l, v);
  out[l++] = 0;
  return l;
}
}  // namespace

namespace {
// The process's ids into its file (ids_file), with its start time: for a
// process whose environment block holds a title now (publish_ids).
void file_ids(uint64_t started) {
  char path[kPathMax + 32];
  size_t l = ids_file(path, sizeof path, sys::raw(SYS_getpid));
  if (!l) return;
  char text[kMaxGroups * 11 + 256];
  size_t o = put_num(text, started);
  const Ids* both[2] = {&g_session.uid, &g_session.gid};
  for (const Ids* ids : both)
    for (uint32_t x : {ids->r, ids->e, ids->s, ids->f}) {
      text[o++] = ' ';
      o += put_num(text + o, x);
    }
  text[o++] = ' ';
  o += put_num(text + o, (uint64_t)g_session.ngroups);
  for (int i = 0; i < g_session.ngroups; i++) {
    text[o++] = ' ';
    o += put_num(text + o, g_session.groups[i]);
  }
  text[o++] = '\n';
  // Written whole under another name, then renamed: a reader never sees
  // half of it.
  char dir[kPathMax + 32];
  memcpy(dir, path, l + 1);
  *strrchr(dir, '/') = 0;
  sys::raw(SYS_mkdirat, AT_FDCWD, (long)dir, 0700);
  char tmp[kPathMax + 48];
  memcpy(tmp, path, l);
  memcpy(tmp + l, ".new", 5);
  long fd = sys::raw(SYS_openat, AT_FDCWD, (long)tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  bool ok = sys::raw(SYS_write, fd, (long)text, (long)o) == (long)o;
  sys::raw(SYS_close, fd);
  if (!ok || sys::raw(SYS_rename, (long)tmp, (long)path) != 0) sys::raw(SYS_unlink, (long)tmp);
}
}  // namespace

void publish_ids() {
  // A CLONE_VM child's memory map is its parent's: its exec says it.
  if (g_vm_pending) return;
  if (g_publishing.exchange(true, std::memory_order_acquire)) return;
  uint64_t f[53];
  if (!sys::self_stat_fields(f) || f[50] == 0 || f[51] < f[50]) {
    g_publishing.store(false, std::memory_order_release);
    return;
  }
  const char* old = reinterpret_cast<const char*>(f[50]);
  size_t ol = (size_t)(f[51] - f[50]);
  // What the block says now. Nothing is done where it no longer holds the
  // ids (a daemon wrote its title over it), or where they are the same (a
  // set*id call that changed nothing others see).
  char want[9 * 40 + kMaxGroups * 11 + 64];
  size_t wl = 0;
  {
    const Ids& u = g_session.uid;
    const Ids& g = g_session.gid;
    wl += put_var(want + wl, "FAKEROOTUID=", u.r);
    wl += put_var(want + wl, "FAKEROOTEUID=", u.e);
    wl += put_var(want + wl, "FAKEROOTSUID=", u.s);
    wl += put_var(want + wl, "FAKEROOTFUID=", u.f);
    wl += put_var(want + wl, "FAKEROOTGID=", g.r);
    wl += put_var(want + wl, "FAKEROOTEGID=", g.e);
    wl += put_var(want + wl, "FAKEROOTSGID=", g.s);
    wl += put_var(want + wl, "FAKEROOTFGID=", g.f);
    memcpy(want + wl, "COWROOT_GROUPS=", 15);
    wl += 15;
    for (int i = 0; i < g_session.ngroups; i++) {
      if (i) want[wl++] = ',';
      wl += put_num(want + wl, g_session.groups[i]);
    }
    want[wl++] = 0;
  }
  bool holds = false, same = true;
  for (size_t i = 0; i < ol;) {
    size_t l = strnlen(old + i, ol - i);
    // (Groups alone are not worth a new block: sshd's listener sets them,
    // and a title it writes later would be cut.)
    if (ours_to_publish(old + i) && strncmp(old + i, "COWROOT_GROUPS=", 15) != 0) {
      if (!strncmp(old + i, "FAKEROOTEUID=", 13)) holds = true;
      // The same string among the wanted ones?
      bool found = false;
      for (size_t k = 0; k < wl && !found;) {
        size_t kl = strlen(want + k);
        found = kl == l && !memcmp(want + k, old + i, l);
        k += kl + 1;
      }
      if (!found) same = false;
    }
    i += l + 1;
  }
  // A title already running past the arguments into this area (the last
  // byte of the argument block is no longer its NUL: nginx's workers, set
  // by their master) would be cut by a new block: left as it is.
  bool title_over = f[49] > f[48] && reinterpret_cast<const char*>(f[49])[-1] != 0 && f[49] == f[50];
  // There the ids go to a file of the session's (task_ids reads it first).
  if (title_over && (!holds || !same)) file_ids(f[22]);
  if (!holds || same || title_over) {
    g_publishing.store(false, std::memory_order_release);
    return;
  }
  size_t cap = (ol + 9 * 40 + (size_t)kMaxGroups * 11 + 64 + 4095) & ~(size_t)4095;
  long m = sys::raw(SYS_mmap, 0, (long)cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m < 0 && m > -4096) {
    g_publishing.store(false, std::memory_order_release);
    return;
  }
  char* out = reinterpret_cast<char*>(m);
  size_t o = 0;
  for (size_t i = 0; i < ol;) {
    size_t l = strnlen(old + i, ol - i);
    if (!ours_to_publish(old + i) && o + l + 1 <= cap) {
      memcpy(out + o, old + i, l);
      out[o + l] = 0;
      o += l + 1;
    }
    i += l + 1;
  }
  memcpy(out + o, want, wl);
  o += wl;
  prctl_mm_map mm{};
  mm.start_code = f[26];
  mm.end_code = f[27];
  mm.start_stack = f[28];
  mm.start_data = f[45];
  mm.end_data = f[46];
  mm.start_brk = f[47];
  mm.brk = (uint64_t)sys::raw(SYS_brk, 0);
  mm.arg_start = f[48];
  mm.arg_end = f[49];
  mm.env_start = (uint64_t)m;
  mm.env_end = (uint64_t)m + o;
  mm.exe_fd = (uint32_t)-1;
  if (sys::raw(SYS_prctl, PR_SET_MM, PR_SET_MM_MAP, (long)&mm, sizeof mm, 0) != 0) {
    sys::raw(SYS_munmap, m, (long)cap);
  } else {
    if (g_shown_env) sys::raw(SYS_munmap, (long)g_shown_env, (long)g_shown_len);
    g_shown_env = out;
    g_shown_len = cap;
  }
  g_publishing.store(false, std::memory_order_release);
}

}  // namespace cr
