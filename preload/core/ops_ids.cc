// Credentials and capabilities: all in the process, no system call. The
// set*id family follows the kernel's rules with fake privileges.
#include <linux/capability.h>
#include <sys/prctl.h>

#include "ops.h"
#include "ops_impl.h"
#include "confine.h"
#include "perm.h"
#include "procfs.h"

namespace cr::ops {

namespace {
bool in_set(uint32_t x, const Ids& ids) { return x == ids.r || x == ids.e || x == ids.s; }
}  // namespace

uid_t getuid() { return g_session.uid.r; }
uid_t geteuid() { return g_session.uid.e; }
gid_t getgid() { return g_session.gid.r; }
gid_t getegid() { return g_session.gid.e; }

int getresuid(uid_t* r, uid_t* e, uid_t* s) {
  *r = g_session.uid.r;
  *e = g_session.uid.e;
  *s = g_session.uid.s;
  return 0;
}

int getresgid(gid_t* r, gid_t* e, gid_t* s) {
  *r = g_session.gid.r;
  *e = g_session.gid.e;
  *s = g_session.gid.s;
  return 0;
}

// The process's capability sets (perm.h): all of them while the fake
// effective uid is 0 (as for real root), none otherwise, until a uid change
// or capset sets them; capset follows the kernel's subset rules. Kept in
// the process, as a process's capabilities are, and carried to the
// programs it starts (COWROOT_CAPS) when exec does not derive them anew.
namespace {
int cap_words(__user_cap_header_struct* h) {
  switch (h->version) {
    case _LINUX_CAPABILITY_VERSION_1: return 1;
    case _LINUX_CAPABILITY_VERSION_2:
    case _LINUX_CAPABILITY_VERSION_3: return 2;
  }
  h->version = _LINUX_CAPABILITY_VERSION_3;
  return 0;
}
}  // namespace

// The set*id family with the kernel's rules: changing ids freely takes
// CAP_SETUID (uids) or CAP_SETGID (gids and groups) in the effective set.
static bool privileged(const Ids& ids) { return has_cap(&ids == &g_session.uid ? CAP_SETUID : CAP_SETGID); }

// The fsuid leaving 0 drops the file system capabilities from the effective
// set; coming back to 0 raises them again from the permitted set.
static void fsuid_changed(uint32_t old_f, uint32_t new_f, Caps& c) {
  if (old_f == 0 && new_f != 0) c.eff &= ~kFsCaps;
  if (old_f != 0 && new_f == 0) c.eff |= c.perm & kFsCaps;
}

// After a change of uids, the capability sets follow the kernel's rules
// (capabilities(7), "Effect of user ID changes on capabilities"): leaving
// uid 0 everywhere clears them unless PR_SET_KEEPCAPS, leaving euid 0 clears
// the effective set, coming back to euid 0 restores it from the permitted;
// the fsuid follows the euid, and with it the file system capabilities.
static void uid_changed(const Ids& old, Caps c) {
  const Ids& now = g_session.uid;
  bool was_root = old.r == 0 || old.e == 0 || old.s == 0;
  bool none_root = now.r != 0 && now.e != 0 && now.s != 0;
  c.set = true;
  long keep = sys::raw(SYS_prctl, PR_GET_KEEPCAPS, 0, 0, 0, 0);
  if (was_root && none_root && keep <= 0) c.perm = c.eff = 0;
  if (old.e == 0 && now.e != 0) c.eff = 0;
  if (old.e != 0 && now.e == 0) c.eff = c.perm;
  fsuid_changed(old.f, now.f, c);
  g_session.caps = c;
}

static int set_res(Ids& ids, uint32_t r, uint32_t e, uint32_t s) {
  vm_child_changing();
  if (!privileged(ids))
    for (uint32_t x : {r, e, s})
      if (x != kNoId && !in_set(x, ids)) return fail(-EPERM);
  if (r != kNoId) ids.r = r;
  if (e != kNoId) ids.e = e;
  if (s != kNoId) ids.s = s;
  ids.f = ids.e;
  return 0;
}

static int set_re(Ids& ids, uint32_t r, uint32_t e) {
  vm_child_changing();
  if (!privileged(ids)) {
    if (r != kNoId && r != ids.r && r != ids.e) return fail(-EPERM);
    if (e != kNoId && !in_set(e, ids)) return fail(-EPERM);
  }
  uint32_t old_r = ids.r;
  if (r != kNoId) ids.r = r;
  if (e != kNoId) ids.e = e;
  if (r != kNoId || (e != kNoId && e != old_r)) ids.s = ids.e;
  ids.f = ids.e;
  return 0;
}

static int set_one(Ids& ids, uint32_t x) {
  vm_child_changing();
  if (x == kNoId) return fail(-EINVAL);
  if (privileged(ids)) {
    ids.r = ids.e = ids.s = ids.f = x;
    return 0;
  }
  if (x != ids.r && x != ids.s) return fail(-EPERM);
  ids.e = ids.f = x;
  return 0;
}

static int set_fs(Ids& ids, uint32_t x) {
  if (x != kNoId && x != ids.f) vm_child_changing();  // (setfsuid(-1) asks, changing nothing)
  uint32_t old = ids.f;
  if (x != kNoId && (privileged(ids) || in_set(x, ids) || x == ids.f)) ids.f = x;
  return (int)old;
}

// The uid setters, with the capability rules applied after a change.
template <typename F>
static int uid_change(F&& f) {
  Ids old = g_session.uid;
  Caps before = caps_now();  // (derived from the euid until first set: taken before it changes)
  int r = f();
  if (r == 0) uid_changed(old, before);
  return r;
}

// A change others must see (procfs.cc publish_ids).
static int shown(int r) {
  if (r == 0) publish_ids();
  return r;
}

int setuid(uid_t u) { return shown(uid_change([&] { return set_one(g_session.uid, u); })); }
int setgid(gid_t g) { return shown(set_one(g_session.gid, g)); }
int seteuid(uid_t u) {
  return u == kNoId ? fail(-EINVAL) : shown(uid_change([&] { return set_res(g_session.uid, kNoId, u, kNoId); }));
}
int setegid(gid_t g) { return g == kNoId ? fail(-EINVAL) : shown(set_res(g_session.gid, kNoId, g, kNoId)); }
int setreuid(uid_t r, uid_t e) { return shown(uid_change([&] { return set_re(g_session.uid, r, e); })); }
int setregid(gid_t r, gid_t e) { return shown(set_re(g_session.gid, r, e)); }
int setresuid(uid_t r, uid_t e, uid_t s) { return shown(uid_change([&] { return set_res(g_session.uid, r, e, s); })); }
int setresgid(gid_t r, gid_t e, gid_t s) { return shown(set_res(g_session.gid, r, e, s)); }
int setfsuid(uid_t u) {
  uint32_t old = g_session.uid.f;
  Caps c = caps_now();
  int r = set_fs(g_session.uid, u);
  if (g_session.uid.f != old) {
    c.set = true;
    fsuid_changed(old, g_session.uid.f, c);
    g_session.caps = c;
    publish_ids();
  }
  return r;
}
int setfsgid(gid_t g) {
  uint32_t old = g_session.gid.f;
  int r = set_fs(g_session.gid, g);
  if (g_session.gid.f != old) publish_ids();
  return r;
}

int getgroups(int size, gid_t* list) {
  if (size < 0) return fail(-EINVAL);
  if (size == 0) return g_session.ngroups;
  if (size < g_session.ngroups) return fail(-EINVAL);
  for (int i = 0; i < g_session.ngroups; i++) list[i] = g_session.groups[i];
  return g_session.ngroups;
}

// The kernel keeps the supplementary groups sorted (groups_sort): getgroups
// and /proc/self/status give them in that order, whatever setgroups was given.
int setgroups(size_t size, const gid_t* list) {
  vm_child_changing();
  if (!privileged(g_session.gid)) return fail(-EPERM);
  if (size > (size_t)kMaxGroups) return fail(-EINVAL);
  uint32_t* g = g_session.groups;
  for (size_t i = 0; i < size; i++) {
    uint32_t v = list[i];
    size_t j = i;
    for (; j > 0 && g[j - 1] > v; j--) g[j] = g[j - 1];
    g[j] = v;
  }
  g_session.ngroups = (int)size;
  publish_ids();
  return 0;
}

int capget(void* header, void* data) {
  auto* h = static_cast<__user_cap_header_struct*>(header);
  int words = cap_words(h);
  if (!words) return data ? fail(-EINVAL) : 0;
  if (!data) return 0;
  if (h->pid != 0 && h->pid != (int)sys::raw(SYS_getpid)) return (int)sys::call(SYS_capget, (long)header, (long)data);
  auto* d = static_cast<__user_cap_data_struct*>(data);
  Caps c = caps_now();
  for (int i = 0; i < words; i++) {
    d[i].effective = (uint32_t)(c.eff >> (32 * i));
    d[i].permitted = (uint32_t)(c.perm >> (32 * i));
    d[i].inheritable = (uint32_t)(c.inh >> (32 * i));
  }
  return 0;
}

int capset(void* header, const void* data) {
  vm_child_changing();
  auto* h = static_cast<__user_cap_header_struct*>(header);
  int words = cap_words(h);
  if (!words) return fail(-EINVAL);
  if (h->pid != 0 && h->pid != (int)sys::raw(SYS_getpid)) return fail(-EPERM);
  auto* d = static_cast<const __user_cap_data_struct*>(data);
  Caps c = caps_now();
  Caps n;
  n.set = true;
  n.bset = c.bset;
  for (int i = 0; i < words; i++) {
    n.eff |= uint64_t(d[i].effective) << (32 * i);
    n.perm |= uint64_t(d[i].permitted) << (32 * i);
    n.inh |= uint64_t(d[i].inheritable) << (32 * i);
  }
  // The permitted set only shrinks; the inheritable one grows within the
  // bounding and permitted sets (or with CAP_SETPCAP, within the bounding set).
  if ((n.perm & ~c.perm) || (n.eff & ~n.perm)) return fail(-EPERM);
  uint64_t inh_limit = (c.eff & cap_bit(CAP_SETPCAP)) ? c.bset : c.bset & c.perm;
  if (n.inh & ~c.inh & ~inh_limit) return fail(-EPERM);
  g_session.caps = n;
  return 0;
}

bool no_new_privs() {
  if (g_session.nnp) return true;
  return !g_confine.active && !confine::probe() && sys::raw(SYS_prctl, PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) > 0;
}

namespace {
// The program's PR_SET_DUMPABLE 0, remembered and not applied (-1: the
// kernel's): a process the user's other processes cannot see in /proc
// (fd/, environ) could not be found and stopped with its session
// (stop_session, cli/procs.cc); ssh-agent makes itself so. A 1 goes on to
// the kernel too (after unshare(CLONE_NEWUSER) a process writes its
// uid_map so). Per process image, as the kernel's: a fork keeps it, an
// exec starts again.
int g_dumpable = -1;
}  // namespace

// prctl's capability requests (the bounding set is faked with the others:
// dropping from it takes CAP_SETPCAP), the program's own no_new_privs and
// dumpable flag; everything else is the kernel's.
long prctl_caps(int option, unsigned long arg, bool* served) {
  *served = true;
  if (option == PR_SET_DUMPABLE) {
    if (arg > 1) return -EINVAL;
    if (arg == 1) {
      long r = sys::raw(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0);
      if (r < 0) return r;
    }
    g_dumpable = (int)arg;
    return 0;
  }
  if (option == PR_GET_DUMPABLE && g_dumpable >= 0) return g_dumpable;
  Caps c = caps_now();
  if (option == PR_CAPBSET_READ) {
    if (arg > CAP_LAST_CAP) return -EINVAL;
    return (c.bset >> arg) & 1;
  }
  if (option == PR_SET_NO_NEW_PRIVS && arg == 1) {
    long r = sys::raw(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (r == 0) g_session.nnp = true;
    return r;
  }
  if (option == PR_GET_NO_NEW_PRIVS) return no_new_privs() ? 1 : 0;
  if (option == PR_CAPBSET_DROP) {
    if (arg > CAP_LAST_CAP) return -EINVAL;
    if (!(c.eff & cap_bit(CAP_SETPCAP))) return -EPERM;
    c.set = true;
    c.bset &= ~cap_bit((int)arg);
    g_session.caps = c;
    return 0;
  }
  *served = false;
  return 0;
}

// ---- signals to other processes ----------------------------------------
// A fake user other than root may signal only its own processes (the
// kernel's rule on the ids it sees); one with CAP_KILL (fake root) any, as
// before. The thread calls check the thread group's owner.
int kill(pid_t pid, int sig) {
  if (sig < 0 || sig > 64) return fail(-EINVAL);
  long r;
  if (pid > 0 || (caps_now().eff & cap_bit(CAP_KILL))) {
    if (pid > 0)
      if (int e = may_signal(pid, sig)) return fail(e);
    r = sys::raw(SYS_kill, pid, sig);
    // Fake root asking whether a process outside the session is there
    // (init, a host daemon): real root's answer is yes. Only the probe: a
    // signal sent would act on the host.
    if (r == -EPERM && sig == 0 && pid > 0 && (caps_now().eff & cap_bit(CAP_KILL))) r = 0;
  } else {
    if (pid == INT32_MIN) return fail(-ESRCH);
    r = signal_each(pid, sig);
  }
  return r < 0 ? fail(r) : 0;
}

int tkill(pid_t tid, int sig) {
  if (tid <= 0 || sig < 0 || sig > 64) return fail(-EINVAL);
  // A thread's owner is its thread group's, which /proc/TID names too.
  if (int e = may_signal(tid, sig)) return fail(e);
  long r = sys::raw(SYS_tkill, tid, sig);
  return r < 0 ? fail(r) : 0;
}

int tgkill(pid_t tgid, pid_t tid, int sig) {
  if (tgid <= 0 || tid <= 0 || sig < 0 || sig > 64) return fail(-EINVAL);
  if (int e = may_signal(tgid, sig)) return fail(e);
  long r = sys::raw(SYS_tgkill, tgid, tid, sig);
  return r < 0 ? fail(r) : 0;
}

int pidfd_send_signal(int pidfd, int sig, void* info, unsigned flags) {
  if (!(caps_now().eff & cap_bit(CAP_KILL))) {
    long pid = pidfd_pid(pidfd);
    if (pid > 0)
      if (int e = may_signal(pid, sig)) return fail(e);
  }
  long r = sys::raw(SYS_pidfd_send_signal, pidfd, sig, (long)info, flags);
  return r < 0 ? fail(r) : 0;
}

int sigqueueinfo(pid_t pid, int sig, void* info) {
  if (pid > 0)
    if (int e = may_signal(pid, sig)) return fail(e);
  long r = sys::raw(SYS_rt_sigqueueinfo, pid, sig, (long)info);
  return r < 0 ? fail(r) : 0;
}

int tgsigqueueinfo(pid_t tgid, pid_t tid, int sig, void* info) {
  if (tgid > 0)
    if (int e = may_signal(tgid, sig)) return fail(e);
  long r = sys::raw(SYS_rt_tgsigqueueinfo, tgid, tid, sig, (long)info);
  return r < 0 ? fail(r) : 0;
}

}  // namespace cr::ops
