// Fake users other than root follow the kernel's permission rules (issue
// 11): checks against the fake owner, group and mode, setuid and setgid at
// exec, the owner and group of what they make, sorted groups, and root's
// bypass only while its capabilities hold. In a small root of the host's
// programs (tests/mkroot.sh), as an unprivileged uid; each case is one
// session (its fake state is thrown away at the end), so every case sets
// up what it needs as fake root first and uses names of its own.
// The real clients (PostgreSQL, cron) need the Debian archive: their names
// say so, and COWROOT_TEST_DEBOOTSTRAP=0 skips them.
#include <linux/capability.h>
#include <sys/utsname.h>

#include <cstdio>

#include "common.h"

using namespace test;

namespace {

const TempDir& shared_root() { return small_root(); }

std::string root() { return shared_root().path + "/root"; }

// Runs a script as fake root inside the root, stderr with stdout.
Result in_root(const std::string& script) {
  return sh(cowroot() + " -r " + q(root()) + " -- /bin/sh -c " + q(script) + " 2>&1");
}

// A command line run as fake user UID:GID (no supplementary groups).
std::string as(int uid, const std::string& cmd) {
  std::string id = std::to_string(uid);
  return "setpriv --reuid " + id + " --regid " + id + " --clear-groups " + cmd;
}

}  // namespace

TEST_CASE("a fake user is refused what the kernel refuses: cat /etc/shadow, touch /etc/x, test -w /etc, rm /etc/hostname") {
  auto r = in_root(
      "echo secret > /etc/shadow.1 && chown 0:42 /etc/shadow.1 && chmod 640 /etc/shadow.1 && echo h > /etc/hostname.1 && "
      "cat /etc/shadow.1 && test -w /etc && echo root-writes; " +
      as(1000, "sh -c 'cat /etc/shadow.1; touch /etc/x.1; test -w /etc && echo writable; rm /etc/hostname.1; "
               "echo \"> /etc/hostname.1\" | sh; id -u'") +
      "; ls /etc/x.1 2>/dev/null; cat /etc/hostname.1");
  CHECK(r.out ==
        "secret\nroot-writes\n"
        "cat: /etc/shadow.1: Permission denied\n"
        "touch: cannot touch '/etc/x.1': Permission denied\n"
        "rm: cannot remove '/etc/hostname.1': Permission denied\n"
        "sh: 1: cannot create /etc/hostname.1: Permission denied\n"
        "1000\nh\n");
}

TEST_CASE("mode 000 is unreadable to its owner; root reads it, and runs only what has an x bit") {
  auto r = in_root(
      "echo data > /tmp/m000 && chown 1000:1000 /tmp/m000 && chmod 000 /tmp/m000 && cat /tmp/m000; " +
      as(1000, "sh -c 'cat /tmp/m000; echo more >> /tmp/m000; chmod 600 /tmp/m000 && cat /tmp/m000'") +
      "; cp /usr/bin/id /tmp/t744 && chmod 744 /tmp/t744 && /tmp/t744 -u && echo root-runs; " +
      as(1000, "sh -c /tmp/t744") + "; chmod 644 /tmp/t744; /tmp/t744 || echo root-refused");
  CHECK(r.out ==
        "data\n"
        "cat: /tmp/m000: Permission denied\n"
        "sh: 1: cannot create /tmp/m000: Permission denied\n"
        "data\n0\nroot-runs\n"
        "sh: 1: /tmp/t744: Permission denied\n"
        "/bin/sh: 1: /tmp/t744: Permission denied\nroot-refused\n");
}

TEST_CASE("directory search: a private directory's files are out of reach, chdir included") {
  auto r = in_root("mkdir -p /home/p2/private && echo hi > /home/p2/private/f && chown -R 1002:1002 /home/p2 && "
                   "chmod 700 /home/p2 && " +
                   as(1000, "sh -c 'cat /home/p2/private/f; cd /home/p2 || echo no-cd; ls /home/p2 >/dev/null'") + "; " +
                   as(1002, "cat /home/p2/private/f"));
  CHECK(r.out ==
        "cat: /home/p2/private/f: Permission denied\n"
        "sh: 1: cd: can't cd to /home/p2\nno-cd\n"
        "ls: cannot open directory '/home/p2': Permission denied\n"
        "hi\n");
}

// A process that planned an exec as root (a vfork child's plan is in its
// memory) and then became another user: its next exec walks to the
// program's loader as that user, as the kernel would.
TEST_CASE("an exec after setuid is checked as the new user, though the process ran programs as root before") {
  auto r = in_root("chmod 700 /usr/lib64; helper spawn-setuid 1000 /usr/bin/id; echo $?; chmod 755 /usr/lib64");
  CHECK(r.out == "uid=0(root) gid=0(root) groups=0(root)\nexec: Permission denied\n126\n");
}

TEST_CASE("access and faccessat check the real ids, AT_EACCESS the effective ones") {
  // setpriv leaves the real uid at 1000 and the effective at 0: access()
  // answers for 1000, faccessat(AT_EACCESS) for root.
  // (setpriv execs the helper directly: a shell would drop the euid to the real uid.)
  std::string mixed = "setpriv --ruid 1000 --euid 0 --rgid 1000 --egid 0 --clear-groups helper as - - ";
  auto r = in_root("echo s > /tmp/acc && chmod 600 /tmp/acc && " + mixed + "access /tmp/acc R; " + mixed +
                   "eaccess /tmp/acc R; " + mixed + "access /tmp/acc W; " + mixed + "open-r /tmp/acc");
  CHECK(r.out == "Permission denied\nok\nPermission denied\nok\n");
}

TEST_CASE("the sticky bit: only the file's or the directory's owner removes or renames") {
  auto r = in_root("mkdir -p /tmp/st && chmod 1777 /tmp/st && " + as(1000, "touch /tmp/st/a /tmp/st/b") + " && " +
                   as(1001, "sh -c 'rm -f /tmp/st/a; mv /tmp/st/b /tmp/st/c; touch /tmp/st/mine'") + "; " +
                   as(1000, "rm /tmp/st/a") + " && ls /tmp/st");
  CHECK(r.out ==
        "rm: cannot remove '/tmp/st/a': Operation not permitted\n"
        "mv: cannot move '/tmp/st/b' to '/tmp/st/c': Operation not permitted\n"
        "b\nmine\n");
}

TEST_CASE("owner rules: utime with explicit times, O_NOATIME, chmod; write permission for utime(now)") {
  auto r = in_root("touch /tmp/ow && chown 1000:1000 /tmp/ow && chmod 666 /tmp/ow && "
                   "for c in utime-set utime-now open-noatime; do helper as 1001 1001 $c /tmp/ow; done; "
                   "helper as 1001 1001 chmod /tmp/ow 600; helper as 1000 1000 utime-set /tmp/ow; "
                   "helper as 1000 1000 open-noatime /tmp/ow; chmod 644 /tmp/ow; helper as 1001 1001 utime-now /tmp/ow; "
                   "helper as 1000 1000 chmod /tmp/ow 600; stat -c %a /tmp/ow");
  CHECK(r.out ==
        "Operation not permitted\nok\nOperation not permitted\nOperation not permitted\n"
        "ok\nok\nPermission denied\nok\n600\n");
}

TEST_CASE("extended attributes: user.* takes write permission, trusted.* CAP_SYS_ADMIN") {
  auto r = in_root("touch /tmp/xa && chmod 644 /tmp/xa && setfattr -n trusted.t -v 1 /tmp/xa && "
                   "helper as 1000 1000 setxattr /tmp/xa user.u; helper as 1000 1000 setxattr /tmp/xa trusted.t2; "
                   "helper as 1000 1000 getxattr /tmp/xa trusted.t; helper as - - setxattr /tmp/xa user.u; "
                   "chown 1000 /tmp/xa && helper as 1000 1000 setxattr /tmp/xa user.v; "
                   "helper as 1000 1000 setxattr /tmp/xa security.capability; "
                   "mkfifo /tmp/xf && helper as - - setxattr /tmp/xf user.u");
  CHECK(r.out ==
        "Permission denied\nOperation not permitted\nNo data available\nok\nok\n"
        "Operation not permitted\nOperation not permitted\n");
}

TEST_CASE("links of other users' files are refused unless readable and writable (protected_hardlinks)") {
  auto r = in_root("mkdir -p /tmp/ln && chmod 1777 /tmp/ln && echo x > /tmp/ln/rootonly && chmod 600 /tmp/ln/rootonly && "
                   "echo y > /tmp/ln/shared && chmod 666 /tmp/ln/shared && "
                   "helper as 1000 1000 link /tmp/ln/rootonly /tmp/ln/l1; helper as 1000 1000 link /tmp/ln/shared /tmp/ln/l2; "
                   "helper as 1000 1000 mknod-c /tmp/ln/dev");
  CHECK(r.out == "Operation not permitted\nok\nOperation not permitted\n");
}

TEST_CASE("a write by a user without CAP_FSETID drops setuid, and setgid with group execute; root's keeps them") {
  // The kernel's setattr_should_drop_suidgid: here at the open for writing
  // (or truncate). Setgid without group execute stays for a writer in the
  // file's group; from Linux 6.2 on it goes for one outside it (g, gt).
  auto r = in_root(
      "mkdir -p /tmp/su && for f in w t k g gt gm; do cp /usr/bin/id /tmp/su/$f; done && chown 1000 /tmp/su/* && "
      "chmod 6777 /tmp/su/w /tmp/su/t /tmp/su/k && chmod 2766 /tmp/su/g /tmp/su/gt /tmp/su/gm && chgrp 1001 /tmp/su/gm && "
      "echo >> /tmp/su/k && stat -c %a /tmp/su/k; " +
      as(1001, "sh -c 'echo >> /tmp/su/w; truncate -s 0 /tmp/su/t; echo >> /tmp/su/g; truncate -s 0 /tmp/su/gt; "
               "echo >> /tmp/su/gm; cat /tmp/su/k >/dev/null'") +
      "; stat -c '%n %a' /tmp/su/w /tmp/su/t /tmp/su/g /tmp/su/gt /tmp/su/gm /tmp/su/k");
  struct utsname u;
  REQUIRE(uname(&u) == 0);
  int major = 0, minor = 0;
  sscanf(u.release, "%d.%d", &major, &minor);
  std::string nonmember = major > 6 || (major == 6 && minor >= 2) ? "766" : "2766";
  CHECK(r.out == "6777\n/tmp/su/w 777\n/tmp/su/t 777\n/tmp/su/g " + nonmember + "\n/tmp/su/gt " + nonmember +
                     "\n/tmp/su/gm 2766\n/tmp/su/k 6777\n");
}

TEST_CASE("protected_regular and protected_fifos: O_CREAT of someone else's file in a sticky directory is refused") {
  // The levels are the kernel's (this machine's may be 0) or the variables,
  // read from a program's environment at its start (export in dash does not
  // reach its own environ: the checks run in programs it starts).
  auto r = in_root(
      "export COWROOT_PROTECTED_REGULAR=1 COWROOT_PROTECTED_FIFOS=1; mkdir -p /tmp/pr /tmp/pr2 && chmod 1777 /tmp/pr && "
      "chmod 1775 /tmp/pr2 && chgrp 1001 /tmp/pr2 && "
      "echo a > /tmp/pr/f && mkfifo /tmp/pr/p && chown 1000 /tmp/pr/f /tmp/pr/p /tmp/pr2 && chmod 666 /tmp/pr/f /tmp/pr/p && "
      "echo b > /tmp/pr2/g && chown 1002 /tmp/pr2/g && chmod 666 /tmp/pr2/g; " +
      as(1001, "sh -c 'echo >> /tmp/pr/f || echo refused; cat /tmp/pr/f >/dev/null && echo reads; "
               "echo > /tmp/pr/new && echo creates; echo >> /tmp/pr/new && echo own; "
               "echo >> /tmp/pr2/g && echo level1-group-dir; sh -c \"exec 3<>/tmp/pr/p\" 2>/dev/null || echo fifo-refused'") +
      "; sh -c 'echo >> /tmp/pr/f' 2>/dev/null || echo root-refused; " +
      as(1000, "sh -c 'echo >> /tmp/pr/f && echo owner'") +
      "; " + as(1001, "sh -c 'COWROOT_PROTECTED_REGULAR=2 sh -c \"echo >> /tmp/pr2/g\" 2>/dev/null || echo level2'") +
      "; COWROOT_PROTECTED_REGULAR=0 sh -c 'echo >> /tmp/pr/f && echo off'");
  CHECK(r.out ==
        "sh: 1: cannot create /tmp/pr/f: Permission denied\nrefused\nreads\ncreates\nown\nlevel1-group-dir\n"
        "fifo-refused\nroot-refused\nowner\nlevel2\noff\n");
}

// The kernel takes up to NGROUPS_MAX (65536) supplementary groups; a list
// of 64 was all there was room for, and initgroups dropped the rest.
TEST_CASE("a user in more than 64 groups has them all: initgroups, setgroups, access through the 70th") {
  auto r = in_root(
      "echo 'carol:x:1500:1500::/:/bin/sh' >> /etc/passwd && echo 'carol:x:1500:' >> /etc/group && i=1 && "
      "while [ $i -le 70 ]; do echo \"gg$i:x:$((3000 + i)):carol\" >> /etc/group; i=$((i + 1)); done && "
      "mkdir -p /srv && echo y > /srv/g70 && chown root:gg70 /srv/g70 && chmod 640 /srv/g70; "
      "setpriv --reuid carol --regid carol --init-groups sh -c 'set -- $(id -G); echo $#; cat /srv/g70'; "
      "l=2000; i=2001; while [ $i -lt 2100 ]; do l=$l,$i; i=$((i + 1)); done; "
      "set -- $(setpriv --groups $l id -G); echo $#");
  CHECK_MESSAGE(r.out == "71\ny\n101\n", r.out);
}

// libcap-ng (setpriv -d), capsh --print and pscap read the sets from
// /proc/PID/status: there they were the real ones (none), whatever the
// fake root had or had dropped.
TEST_CASE("/proc/PID/status shows the fake capability sets: root's, a user's none, a dropped bounding set") {
  const char* show = "sh -c 'while read k v; do case $k in CapInh:|CapPrm:|CapEff:|CapBnd:) printf \"%s%s \" $k $v;; "
                     "esac; done < /proc/$$/status; echo'";
  auto r = in_root(std::string(show) + "; " + as(1000, show) + "; setpriv --bounding-set -all " + show +
                   "; setpriv --inh-caps +chown --bounding-set -all,+chown " + show);
  char all[17];
  snprintf(all, sizeof all, "%016llx", (unsigned long long)((1ull << (CAP_LAST_CAP + 1)) - 1));
  std::string a = all, z = "0000000000000000";
  CHECK(r.out == "CapInh:" + z + " CapPrm:" + a + " CapEff:" + a + " CapBnd:" + a + " \n" +
                     "CapInh:" + z + " CapPrm:" + z + " CapEff:" + z + " CapBnd:" + a + " \n" +
                     "CapInh:" + z + " CapPrm:" + z + " CapEff:" + z + " CapBnd:" + z + " \n" +
                     "CapInh:0000000000000001 CapPrm:0000000000000001 CapEff:0000000000000001 CapBnd:0000000000000001 \n");
}

// On disk every file is the user's, so the kernel's own check never trips.
TEST_CASE("protected_symlinks: a symlink in a sticky world-writable directory is followed by its owner only") {
  auto r = in_root(
      "export COWROOT_PROTECTED_SYMLINKS=1; mkdir -p /tmp/ps /tmp/ps-plain && chmod 1777 /tmp/ps && chmod 777 /tmp/ps-plain && "
      "echo target > /tmp/ps-target && chmod 644 /tmp/ps-target; " +
      as(1000, "sh -c 'ln -s /tmp/ps-target /tmp/ps/alice && ln -s /tmp/ps-target /tmp/ps-plain/alice && "
               "ln -s ../ps-target /tmp/ps/rel && cat /tmp/ps/alice'") +
      "; " + as(1001, "sh -c 'cat /tmp/ps/alice || echo bob-refused; cat /tmp/ps-plain/alice; "
                      "cd /tmp/ps && cat rel 2>/dev/null || echo bob-relative-refused; readlink /tmp/ps/alice; "
                      "stat -L -c %n /tmp/ps/alice 2>/dev/null || echo bob-stat-refused'") +
      "; cat /tmp/ps/alice 2>/dev/null || echo root-refused; ln -s /tmp/ps-target /tmp/ps/roots; "
      "chown -h 1001 /tmp/ps/roots; chown 1001 /tmp/ps; cat /tmp/ps/roots 2>/dev/null && echo dir-owner-owns-it; "
      "COWROOT_PROTECTED_SYMLINKS=0 sh -c 'cat /tmp/ps/alice && echo off'");
  CHECK(r.out ==
        "target\ncat: /tmp/ps/alice: Permission denied\nbob-refused\ntarget\nbob-relative-refused\n/tmp/ps-target\n"
        "bob-stat-refused\nroot-refused\ntarget\ndir-owner-owns-it\ntarget\noff\n");
}

TEST_CASE("access ACLs: named users and groups are checked, through the mask; a default ACL is inherited, umask aside") {
  // Written with setfattr as setfacl writes them: version 2, then (tag, perm, id) entries.
  std::string access =
      "0x02000000" "01000600ffffffff" "02000400e9030000" "04000000ffffffff" "08000600ea030000"
      "10000600ffffffff" "20000000ffffffff";  // u::rw u:1001:r g::- g:1002:rw m::rw o::-
  std::string dflt =
      "0x02000000" "01000700ffffffff" "02000700e9030000" "04000500ffffffff" "10000700ffffffff"
      "20000500ffffffff";  // u::rwx u:1001:rwx g::r-x m::rwx o::r-x
  auto r = in_root(
      "mkdir -p /tmp/acl/d && echo data > /tmp/acl/f && chown 1000:1000 /tmp/acl/f && chmod 600 /tmp/acl/f && "
      "setfattr -n system.posix_acl_access -v " + access + " /tmp/acl/f && stat -c %a /tmp/acl/f && "
      "setfattr -n system.posix_acl_default -v " + dflt + " /tmp/acl/d; " +
      as(1001, "sh -c 'cat /tmp/acl/f; echo w >> /tmp/acl/f || echo 1001-no-write'") + "; " +
      "setpriv --reuid 1003 --regid 1003 --groups 1002 sh -c 'echo group-writes >> /tmp/acl/f && echo 1003-wrote'; " +
      as(1004, "sh -c 'cat /tmp/acl/f >/dev/null || echo 1004-no-read'") + "; " +
      as(1000, "sh -c 'echo owner >> /tmp/acl/f && echo 1000-wrote'") + "; " +
      "chmod 640 /tmp/acl/f; setpriv --reuid 1003 --regid 1003 --groups 1002 sh -c 'echo x >> /tmp/acl/f || echo masked'; " +
      "(umask 077; echo new > /tmp/acl/d/new; mkdir /tmp/acl/d/sub) && stat -c '%n %a' /tmp/acl/d/new /tmp/acl/d/sub && " +
      as(1001, "sh -c 'echo inherited >> /tmp/acl/d/new && echo 1001-writes-new; touch /tmp/acl/d/sub/x && echo 1001-in-sub'") +
      "; " + as(1004, "sh -c 'echo x >> /tmp/acl/d/new || echo 1004-no-write-new'") + "; cat /tmp/acl/d/new");
  CHECK(r.out ==
        "660\n"
        "data\nsh: 1: cannot create /tmp/acl/f: Permission denied\n1001-no-write\n"
        "1003-wrote\n"
        "cat: /tmp/acl/f: Permission denied\n1004-no-read\n"
        "1000-wrote\n"
        "sh: 1: cannot create /tmp/acl/f: Permission denied\nmasked\n"
        "/tmp/acl/d/new 664\n/tmp/acl/d/sub 775\n"
        "1001-writes-new\n1001-in-sub\n"
        "sh: 1: cannot create /tmp/acl/d/new: Permission denied\n1004-no-write-new\n"
        "new\ninherited\n");
}

// The kernel keeps no access ACL that says no more than the mode: it sets
// the mode and drops the attribute (cp -p writes one so), so ls shows no
// "+" and the ACL is gone from the list and from the permission checks.
// The session's first program, started by the launcher as a fake user
// (FAKEROOT*, as the fixture's run(user=...) does): the launcher's plan
// sees the fake modes, as every later exec's does: a setuid-root program
// raises the effective uid, one the user may not execute is refused.
TEST_CASE("the first program of a session run as a fake user: setuid and execute permission from the fake modes") {
  // (a directory, not a clone: the fake modes are carried in a state file)
  TempDir d;
  std::string state = d / "state";
  auto made = sh(cowroot() + " -s " + q(state) + " -r " + q(root()) +
                 " -- /bin/sh -c 'cp $(command -v id) /usr/bin/sidprobe0 && cp $(command -v id) /usr/bin/sidprobe && "
                 "chmod 4755 /usr/bin/sidprobe && chmod 700 /usr/bin/sidprobe0' 2>&1");
  REQUIRE_MESSAGE(made.status == 0, made.out);
  std::string env = "FAKEROOTUID=1000 FAKEROOTEUID=1000 FAKEROOTSUID=1000 FAKEROOTFUID=1000 FAKEROOTGID=1000 "
                    "FAKEROOTEGID=1000 FAKEROOTSGID=1000 FAKEROOTFGID=1000 COWROOT_GROUPS=1000 " +
                    cowroot() + " -i " + q(state) + " -r " + q(root());
  auto r = sh(env + " -- /usr/bin/sidprobe -u 2>&1; " + env + " -- /usr/bin/sidprobe -ru 2>&1; " + env +
              " -- /usr/bin/sidprobe0 2>&1; echo $?");
  CHECK(r.out == "0\n1000\ncowroot: /usr/bin/sidprobe0: Permission denied in the root " + root() + "\n126\n");
}

TEST_CASE("an access ACL equal to a mode sets the mode and is not kept, as the kernel does") {
  std::string ext = "0x02000000" "01000600ffffffff" "02000400e9030000" "04000000ffffffff" "10000400ffffffff"
                    "20000000ffffffff";  // u::rw u:1001:r g::- m::r o::-
  std::string plain = "0x02000000" "01000600ffffffff" "04000400ffffffff" "20000000ffffffff";  // u::rw g::r o::-
  auto r = in_root("echo d > /tmp/acl2 && chmod 600 /tmp/acl2 && setfattr -n system.posix_acl_access -v " + ext +
                   " /tmp/acl2 && ls -l /tmp/acl2 | cut -d' ' -f1 && " + as(1001, "cat /tmp/acl2") +
                   " && setfattr -n system.posix_acl_access -v " + plain +
                   " /tmp/acl2 && ls -l /tmp/acl2 | cut -d' ' -f1 && getfattr -m - -d /tmp/acl2 && " +
                   as(1001, "sh -c 'cat /tmp/acl2 2>/dev/null || echo 1001-no-read'") +
                   " && cp -p /etc/passwd /tmp/acl3 && ls -l /tmp/acl3 | cut -d' ' -f1");
  CHECK(r.out == "-rw-r-----+\nd\n-rw-r-----\n1001-no-read\n-rw-r--r--\n");
}

TEST_CASE("/proc shows a session's processes as their fake users': the owner of /proc/PID, status's Uid, Gid and Groups") {
  auto r = in_root(std::string(kWaitFor) + "setpriv --reuid 1005 --regid 1006 --groups 4,24 sleep 5 & p=$!; "
                   "wait_for '[ \"$(cat /proc/$p/comm 2>/dev/null)\" = sleep ]'; "
                   "stat -c '%u %g' /proc/$p /proc/$p/status /proc/$p/task/$p; "
                   "grep -E '^(Uid|Gid|Groups):' /proc/$p/status; stat -c 'self %u' /proc/self/; "
                   "grep '^Uid' /proc/self/status; " +
                   as(1007, "sh -c 'grep ^Uid /proc/self/status; stat -c %u /proc/$$'") +
                   // By a name relative to /proc/PID, as procps-ng 4.0.7 reads it.
                   "; helper cat-at /proc/$p status | grep ^Uid; (cd /proc/$p && grep ^Uid status); "
                   "(cd /proc && grep ^Uid $p/status); kill $p");
  CHECK(r.out ==
        "1005 1006\n1005 1006\n1005 1006\n"
        "Uid:\t1005\t1005\t1005\t1005\nGid:\t1006\t1006\t1006\t1006\nGroups:\t4 24 \n"
        "self 0\nUid:\t0\t0\t0\t0\nUid:\t1007\t1007\t1007\t1007\n1007\n"
        "Uid:\t1005\t1005\t1005\t1005\nUid:\t1005\t1005\t1005\t1005\nUid:\t1005\t1005\t1005\t1005\n");
}

// A daemon that drops to its user itself, without an exec (dbus-daemon,
// nginx's workers): others see the ids it has now, not those it was
// started with (ps -o user, pgrep -u, an init script's start-stop-daemon
// --user read them there).
TEST_CASE("/proc shows the ids a process set itself, without an exec") {
  auto r = in_root(std::string(kWaitFor) +
                   "perl -e '$) = \"1009 1009 4\"; $( = 1009; $< = $> = 1008; $0 = q{dropped}; sleep 10' & p=$!; "
                   "wait_for 'grep -q \"^Uid:.1008\" /proc/$p/status'; "
                   "stat -c '%u %g' /proc/$p; grep -E '^(Uid|Gid|Groups):' /proc/$p/status; "
                   "perl -pe 's/\\0/ /g' /proc/$p/cmdline; echo; kill $p");
  CHECK_MESSAGE(r.out == "1008 1009\nUid:\t1008\t1008\t1008\t1008\nGid:\t1009\t1009\t1009\t1009\nGroups:\t4 1009 \n"
                         "dropped \n",
                r.out);
}

// SCM_CREDENTIALS: a sender names its own ids, which the kernel checks
// against its real ones; a receiver with SO_PASSCRED sees the sender's.
// As fake root, and as a fake user; from a dynamic and a static program
// (Go's syscall.UnixCredentials makes the calls directly).
TEST_CASE("SCM_CREDENTIALS carries the fake ids: a sender may send its own, a receiver sees them") {
  TempDir d;
  write_file(d / "scm.c",
             "#define _GNU_SOURCE\n#include <stdio.h>\n#include <string.h>\n#include <sys/socket.h>\n#include <sys/wait.h>\n#include <unistd.h>\n"
             "int main(void) {\n"
             "  int sv[2], on = 1; socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);\n"
             "  setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);\n"
             "  struct ucred uc = {getpid(), getuid(), getgid()};\n"
             "  char ctl[CMSG_SPACE(sizeof uc)]; memset(ctl, 0, sizeof ctl);\n"
             "  struct iovec io = {\"x\", 1}; struct msghdr m = {0}; m.msg_iov = &io; m.msg_iovlen = 1;\n"
             "  m.msg_control = ctl; m.msg_controllen = sizeof ctl;\n"
             "  struct cmsghdr* c = CMSG_FIRSTHDR(&m); c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_CREDENTIALS;\n"
             "  c->cmsg_len = CMSG_LEN(sizeof uc); memcpy(CMSG_DATA(c), &uc, sizeof uc);\n"
             "  if (sendmsg(sv[0], &m, 0) < 0) { perror(\"sendmsg\"); return 1; }\n"
             "  char b[1], rc[CMSG_SPACE(sizeof uc)]; struct iovec ri = {b, 1}; struct msghdr r = {0};\n"
             "  r.msg_iov = &ri; r.msg_iovlen = 1; r.msg_control = rc; r.msg_controllen = sizeof rc;\n"
             "  if (recvmsg(sv[1], &r, 0) < 0) { perror(\"recvmsg\"); return 1; }\n"
             "  struct ucred got; memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&r)), sizeof got);\n"
             "  printf(\"%u %u %d\\n\", got.uid, got.gid, got.pid == getpid());\n"
             "  /* A child's plain send, the kernel's credentials, read once the child has ended. */\n"
             "  pid_t k = fork(); if (k == 0) { send(sv[0], \"y\", 1, 0); _exit(0); }\n"
             "  int st; waitpid(k, &st, 0); r.msg_controllen = sizeof rc;\n"
             "  if (recvmsg(sv[1], &r, 0) < 0) { perror(\"recvmsg\"); return 1; }\n"
             "  memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&r)), sizeof got);\n"
             "  printf(\"%u %u\\n\", got.uid, got.gid); return 0;\n}\n");
  std::string r0 = root();
  REQUIRE(sh("mkdir -p " + q(r0 + "/opt/scm") + " && cc -o " + q(r0 + "/opt/scm/dyn") + " " + q(d / "scm.c") +
             " && cc -static -o " + q(r0 + "/opt/scm/static") + " " + q(d / "scm.c") + " 2>&1")
              .status == 0);
  auto r = in_root("/opt/scm/dyn; /opt/scm/static; " + as(1005, "/opt/scm/dyn") + "; " + as(1005, "/opt/scm/static"));
  CHECK_MESSAGE(r.out == "0 0 1\n0 0\n0 0 1\n0 0\n1005 1005 1\n1005 1005\n1005 1005 1\n1005 1005\n", r.out);
}

// A zombie has no environment to read its ids from: it shows those of the
// parent that has not reaped it (ps -o user of a <defunct>).
TEST_CASE("signals: a fake user signals its own processes only; SIGCONT within the session; kill -1 reaches its own") {
  // The kernel's kill permission, on the fake ids: the sender's real or
  // effective uid must be the target's real or saved one (or CAP_KILL).
  auto r = in_root(
      as(1000, "sleep 30") + " & a=$!; sleep 30 & r=$!; " +
      as(1001, "sh -c 'kill $1 || echo bob-kill-alice; kill -0 $2 || echo bob-probe-root; kill -CONT $1 && echo bob-cont; "
               "sleep 30 & kill -9 -1; echo bob-kill-all $?; wait $!; echo bob-own $?' sh $a $r") +
      "; kill -0 $a && echo alice-alive; kill -0 $r && echo root-alive; " +
      as(1000, "sh -c 'kill $1 && echo alice-kills-own' sh $a") + "; wait $a; echo alice-own $?; " +
      as(1001, "perl -e 'print kill(0, $ARGV[0]) ? \"perl-sent\\n\" : \"perl: $!\\n\"' $r") +
      "; kill $r && echo root-kills; wait $r; echo root-own $?");
  // (Without the shell's notices of its jobs' ends, which come when they come.)
  std::string out = without_lines(r.out, {"Killed", "Terminated"});
  CHECK(out ==
        "sh: 1: kill: Operation not permitted\n\nbob-kill-alice\n"
        "sh: 1: kill: Operation not permitted\n\nbob-probe-root\n"
        "bob-cont\nbob-kill-all 0\nbob-own 137\n"
        "alice-alive\nroot-alive\nalice-kills-own\nalice-own 143\n"
        "perl: Operation not permitted\nroot-kills\nroot-own 143\n");
}

TEST_CASE("signals: kill 0 from a fake user reaches its whole group, itself last; kill -1 with nothing of its own is 0") {
  auto r = in_root(as(1000, "sh -c 'sleep 30 & echo $! > /tmp/k0.child; sh -c \"kill 0\"; echo not-reached'") +
                   "; echo $?; " + as(1001, "sh -c 'kill -TERM -1; echo bob $?'") +
                   "; case \"$(grep State: /proc/$(cat /tmp/k0.child)/status 2>/dev/null)\" in *Z*|'') echo none-left;; "
                   "*) echo left;; esac");
  std::string out = without_lines(r.out, {"Terminated"});  // (the shell's notice of its job's end)
  CHECK(out == "143\nbob 0\nnone-left\n");
}

// A process outside the session (init, owned by the real root here as
// under CI): fake root's probe answers as real root's (it is there), a
// fake user's as the kernel's (not permitted); a signal is never sent.
TEST_CASE("signals: fake root's kill -0 of a process outside the session says it is there; a fake user's is refused") {
  auto r = in_root("kill -0 1; echo root $?; " + as(1000, "sh -c 'kill -0 1 2>/dev/null; echo alice $?'") +
                   "; kill -CONT 1 2>/dev/null; echo cont $?");
  // SIGCONT is the kernel's to allow within one session whatever the ids:
  // where init shares the tests' session (a CI container whose first
  // process started them), it is sent there as it is for real root.
  bool same_session = getsid(1) == getsid(0);
  CHECK_MESSAGE(r.out == std::string("root 0\nalice 1\ncont ") + (same_session ? "0" : "1") + "\n", r.out);
}

// The kernel lets a process read another's environment only where it may
// trace it: same real, effective and saved ids, or CAP_SYS_PTRACE.
TEST_CASE("/proc/PID/environ of another fake user's process is refused, as the kernel's ptrace check does") {
  auto r = in_root(as(1000, "sleep 30") + " & a=$!; sleep 0.2; " +
                   as(1001, "sh -c 'cat /proc/$1/environ >/dev/null 2>&1; echo bob $?; cd /proc/$1 && cat environ "
                            ">/dev/null 2>&1; echo bob-relative $?' sh $a") +
                   "; " + as(1000, "grep -a -c FAKEROOTUID= /proc/$a/environ") +
                   "; grep -a -c FAKEROOTUID= /proc/$a/environ; kill $a; wait $a; echo $?");
  std::string out = without_lines(r.out, {"Terminated"});  // (the shell's notice of its job's end)
  CHECK(out == "bob 1\nbob-relative 1\n1\n1\n143\n");
}

// nginx's workers: their master wrote its title over the environment
// block (which shows a process's ids to others) before forking them, and
// they drop to www-data after: ps showed them as root.
TEST_CASE("a worker that drops its ids under a title written over its environment shows its own ids to others") {
  auto r = in_root("p=$(helper title-setuid 33); sleep 0.3; grep ^Uid: /proc/$p/status; grep ^Gid: /proc/$p/status; "
                   "stat -c %u /proc/$p; kill $p");
  CHECK(r.out == "Uid:\t33\t33\t33\t33\nGid:\t33\t33\t33\t33\n33\n");
}

TEST_CASE("signals: pidfd_send_signal is held to the same rule") {
  // Through syscall(): pidfd_open is 434, pidfd_send_signal 424 (x86_64).
  std::string send = "perl -e '$fd = syscall(434, $ARGV[0] + 0, 0); print syscall(424, $fd + 0, 15, 0, 0) == 0 ? \"sent\\n\" : "
                     "\"refused: $!\\n\"' $a";
  auto r = in_root(as(1000, "sleep 30") + " & a=$!; " + as(1001, send) + "; kill -0 $a && echo alive; " + as(1000, send) +
                   "; wait $a; echo $?");
  std::string out = without_lines(r.out, {"Terminated"});  // (the shell's notice of its job's end)
  CHECK(out == "refused: Operation not permitted\nalive\nsent\n143\n");
}

TEST_CASE("/proc shows a zombie with its parent's fake ids") {
  auto r = in_root(as(1005, "perl -e 'my $p = fork; exit 0 unless $p; select(undef, undef, undef, 0.5); "
                            "system(qq{grep -E \"^(State|Uid)\" /proc/$p/status})'"));
  CHECK_MESSAGE(r.out == "State:\tZ (zombie)\nUid:\t1005\t1005\t1005\t1005\n", r.out);
}

TEST_CASE("exec honours setuid and setgid of the fake mode and owner") {
  auto r = in_root("mkdir -p /opt/b && for f in id-sg id-su id-gnx; do cp /usr/bin/id /opt/b/$f; done && "
                   "chgrp 5 /opt/b/id-sg /opt/b/id-gnx && chmod 2755 /opt/b/id-sg && chmod 2745 /opt/b/id-gnx && "
                   "chown 5 /opt/b/id-su && chmod 4755 /opt/b/id-su && /opt/b/id-sg -g; /opt/b/id-sg -rg; /opt/b/id-gnx -g; " +
                   as(1000, "sh -c '/opt/b/id-su -u; /opt/b/id-su -ru; /opt/b/id-sg -g; /opt/b/id-sg'"));
  // setgid without group execute is mandatory locking's mark, not setgid.
  CHECK(r.out == "5\n0\n0\n5\n1000\n5\nuid=1000 gid=1000 egid=5 groups=5\n");
}

TEST_CASE("exec of a file with capabilities raises the fake sets; a setuid-root program gives root") {
  // security.capability, revision 2: cap_net_raw (13) permitted and effective.
  auto r = in_root("mkdir -p /opt/c && cp /usr/sbin/capsh /opt/c/capsh-raw && cp /usr/bin/id /opt/c/id-root && "
                   "chmod 4755 /opt/c/id-root && "
                   "setfattr -n security.capability -v 0x0100000200200000000000000000000000000000 /opt/c/capsh-raw && " +
                   as(1000, "sh -c '/opt/c/capsh-raw --print | grep ^Current:; capsh --print | grep ^Current:; "
                            "/opt/c/id-root -u; /opt/c/id-root -ru'"));
  CHECK(r.out == "Current: cap_net_raw=ep\nCurrent: =\n0\n1000\n");
}

TEST_CASE("root that drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH loses the bypass") {
  auto r = in_root("echo s > /tmp/cap0 && chmod 000 /tmp/cap0 && cat /tmp/cap0 && helper caps-drop /tmp/cap0; "
                   "capsh --drop=cap_dac_override,cap_dac_read_search -- -c 'id -u; cat /tmp/cap0'; "
                   "capsh --drop=cap_dac_override -- -c 'cat /tmp/cap0; echo x >> /tmp/cap0'");
  CHECK(r.out ==
        "s\nPermission denied\n0\ncat: /tmp/cap0: Permission denied\n"
        "s\n/bin/bash: line 1: /tmp/cap0: Permission denied\n");
}

TEST_CASE("new files take the fsuid and fsgid, or a setgid directory's group; subdirectories stay setgid") {
  auto r = in_root(
      "mkdir -p /srv/w && chgrp 33 /srv/w && chmod 2775 /srv/w && touch /srv/w/byroot && mkdir /srv/w/dr && "
      "mkdir -p /var/mail.t && chgrp 8 /var/mail.t && chmod 2775 /var/mail.t && touch /var/mail.t/bob && "
      "stat -c '%n %u:%g %a' /srv/w/byroot /srv/w/dr /var/mail.t/bob && chmod 1777 /tmp && " +
      as(1000, "sh -c 'umask 022; touch /tmp/u.f; mkdir /tmp/u.d; mkfifo /tmp/u.p; ln -s u.f /tmp/u.l'") +
      " && stat -c '%n %u:%g %a' /tmp/u.f /tmp/u.d /tmp/u.p && stat -c '%n %u:%g' /tmp/u.l && "
      "chgrp 1000 /srv/w && chmod 2777 /srv/w && " +
      as(1001, "sh -c 'umask 002; touch /srv/w/byu; mkdir /srv/w/du'") + " && stat -c '%n %u:%g %a' /srv/w/byu /srv/w/du");
  CHECK(r.out ==
        "/srv/w/byroot 0:33 644\n/srv/w/dr 0:33 2755\n/var/mail.t/bob 0:8 644\n"
        "/tmp/u.f 1000:1000 644\n/tmp/u.d 1000:1000 755\n/tmp/u.p 1000:1000 644\n/tmp/u.l 1000:1000\n"
        "/srv/w/byu 1001:1000 664\n/srv/w/du 1001:1000 2775\n");
}

TEST_CASE("a Unix socket belongs to the user who bound it, who may chmod it; connect takes write permission") {
  auto r = in_root("mkdir -p /run/pg && chown 1000:1000 /run/pg && "
                   "helper as 1000 1000 bind /run/pg/.s.PGSQL.5499 777 && helper as 1000 1000 bind /run/pg/priv 700; "
                   "helper as 1001 1001 connect /run/pg/priv; helper as 1001 1001 bind /run/pg/other 777; "
                   "helper as - - bind /tmp/rootsock 755");
  // (no listener is left on priv: write permission is checked before the kernel's refusal)
  CHECK(r.out == "1000:1000 777\n1000:1000 700\nPermission denied\nPermission denied\n0:0 755\n");
}

TEST_CASE("SO_PEERCRED shows a peer's fake ids (PostgreSQL's peer authentication reads them)") {
  auto r = in_root("helper as - - peercred; " + as(1000, "helper as - - peercred"));
  CHECK(r.out == "0 0\n1000 1000\n");
}

TEST_CASE("supplementary groups come back sorted, as the kernel keeps them") {
  auto r = in_root("perl -e '$) = q{0 1000 4 33}; print qq{$)\\n}'; setpriv --groups 1000,4,33 id -G");
  CHECK(r.out == "0 4 33 1000\n0 4 33 1000\n");
}

TEST_CASE("outside a root too: a fake user meets the fake modes of the session's files") {
  TempDir d;
  // (the test's directory is the real user's, 0700: to the session it is root's)
  auto r = in_session(d, "chmod 755 . && mkdir p && echo s > p/f && chmod 600 p/f && mkdir q && echo t > q/g && chmod 700 q && " +
                             as(1000, "sh -c 'cat p/f; cat q/g; touch p/new; cat /dev/null && echo devnull'") +
                             "; chmod 777 p && " + as(1000, "touch p/new") + " && stat -c %u p/new");
  CHECK(r.out ==
        "cat: p/f: Permission denied\ncat: q/g: Permission denied\n"
        "touch: cannot touch 'p/new': Permission denied\ndevnull\n1000\n");
}

// ---- real clients, on the default image (needs the Debian archive) --------

namespace {

// `cowroot run` on the default image, with the image cache the fixture
// tests use (so one build serves both), the script's output and stderr.
Result in_image(const std::string& script) {
  const char* t = getenv("TMPDIR");
  std::string cache = std::string(t && *t ? t : "/tmp") + "/fixture-cache";
  // Built first, apart: the first test to use it would see the build's output.
  sh("XDG_CACHE_HOME=" + q(cache) + " " + cowroot() + " image path bookworm >/dev/null 2>&1");
  return sh("XDG_CACHE_HOME=" + q(cache) + " " + cowroot() + " run -- /bin/sh -c " + q(script) + " 2>&1");
}

// `script` in a root of the image after apt-get installs `packages` there
// (apt's output only when it fails).
Result with_packages(const std::string& packages, const std::string& script) {
  return in_image("export DEBIAN_FRONTEND=noninteractive; unset TMPDIR; "
                  "{ apt-get update && apt-get install -y --no-install-recommends " +
                  packages + "; } > /tmp/apt.log 2>&1 || { tail -n 20 /tmp/apt.log; exit 1; }; " + script);
}

}  // namespace

// procps and dpkg read a process's user from /proc (its directory's owner,
// its status file): ps, pgrep -u and an init script's start-stop-daemon
// --user see the fake user a daemon runs as. (Other processes of the real
// user, outside the root, show as root there, as a chroot shows the host's:
// only this daemon is looked for under root.)
TEST_CASE("ps, pgrep -u and start-stop-daemon --user see a daemon's fake user (needs the Debian archive)") {
  if (archive_skipped()) return;
  auto r = with_packages("procps",
                         std::string(kWaitFor) + "useradd -M svc; "
                         "setpriv --reuid svc --regid svc --clear-groups sleep 30 & p=$!; "
                         "wait_for '[ \"$(cat /proc/$p/comm 2>/dev/null)\" = sleep ]'; "
                         "ps -o user=,group=,args= -p $p; test \"$(pgrep -u svc sleep)\" = $p && echo pgrep-found; "
                         "pgrep -u root sleep | grep -qx $p || echo not-root; "
                         "start-stop-daemon --stop --user svc --exec /usr/bin/sleep && echo stopped; "
                         "{ wait $p; } 2>/dev/null; ps -o user= -p $$; "
                         // One that drops to svc itself, as dbus-daemon does.
                         "perl -e '$( = $) = getgrnam(q{svc}); $< = $> = getpwnam(q{svc}); sleep 30' & q=$!; "
                         "wait_for '[ \"$(ps -o user= -p $q)\" = svc ]'; "
                         "start-stop-daemon --stop --user svc --name perl --retry 5 && echo dropped-stopped");
  CHECK(r.out == "svc      svc      sleep 30\npgrep-found\nnot-root\nstopped\nroot\ndropped-stopped\n");
}

// MariaDB's Debian packaging (README.Debian of mariadb-server): the server
// runs as mysql, its socket /run/mysqld/mysqld.sock belongs to mysql:mysql
// (mode 777), and the system's root and mysql log in over it as the
// database's root and mysql through unix_socket authentication (the peer's
// uid, SO_PEERCRED), with no password; a user with no account is refused. About 20 s: apt-get downloads and installs the server.
TEST_CASE("MariaDB starts as mysql, and root logs in over its socket by unix_socket authentication (needs the Debian archive)") {
  if (archive_skipped()) return;
  auto r = with_packages("mariadb-server mariadb-client",
                         "service mariadb start >/dev/null 2>&1 || exit 1; "
                         "stat -c '%U:%G %a %F' /run/mysqld/mysqld.sock; "
                         "mysql -N -e 'select user(); create database t; create table t.a (x int); insert into t.a values (42); "
                         "select x from t.a'; "
                         "su mysql -s /bin/sh -c 'mysql -N -e \"select user()\"'; "
                         "su nobody -s /bin/sh -c 'mysql -N -e \"select 1\" 2>&1 | grep -o \"Access denied for user .nobody.\"'; "
                         "service mariadb stop >/dev/null 2>&1 && echo stopped");
  CHECK(r.out == "mysql:mysql 777 socket\nroot@localhost\n42\nmysql@localhost\nAccess denied for user 'nobody'\nstopped\n");
}

// PostgreSQL's Debian packaging (README.Debian of postgresql-common, and
// the server's unix_socket_permissions default): the cluster runs as
// postgres, its socket is /var/run/postgresql/.s.PGSQL.PORT, owned by
// postgres in the postgres group, mode 0777; the server refuses to run as
// root. A minute or two: apt-get downloads and installs the server.
TEST_CASE("PostgreSQL starts as postgres and psql reaches it over its Unix socket (needs the Debian archive)") {
  if (archive_skipped()) return;
  auto r = with_packages("postgresql",
                         "v=$(ls /usr/lib/postgresql); pg_ctlcluster $v main start || exit 1; "
                         "su postgres -s /bin/sh -c \"psql -tAc 'select 40 + 2'\"; "
                         "stat -c '%U:%G %a %F' /var/run/postgresql/.s.PGSQL.5432; "
                         "su postgres -s /bin/sh -c 'id -un; test -r /etc/shadow || echo shadow-unreadable'; "
                         "/usr/lib/postgresql/$v/bin/postgres -D /tmp 2>&1 | grep -c 'root'; "
                         "pg_ctlcluster $v main stop && echo stopped");
  CHECK(r.out == "42\npostgres:postgres 777 socket\npostgres\nshadow-unreadable\n1\nstopped\n");
}

// cron's crontab(1) (Debian): "crontab files are kept in
// /var/spool/cron/crontabs ... owned by the user, group crontab, mode 600";
// crontab is setgid crontab, the spool directory 1730 root:crontab, and a
// user reaches only the spool through crontab.
TEST_CASE("crontab - as a user writes its crontab owned by the user, group crontab, mode 600 (needs the Debian archive)") {
  if (archive_skipped()) return;
  auto r = with_packages("cron",
                         "useradd -m alice && echo '5 4 * * * echo hi' | su alice -s /bin/sh -c 'crontab -' && "
                         "stat -c '%U:%G %a' /var/spool/cron/crontabs/alice && su alice -s /bin/sh -c 'crontab -l | tail -n 1; "
                         "ls /var/spool/cron/crontabs 2>&1 | sed s/.*crontabs.*/refused/'");
  CHECK(r.out == "alice:crontab 600\n5 4 * * * echo hi\nrefused\n");
}

// sudo(8) with a NOPASSWD rule in /etc/sudoers.d (sudoers(5)): the user
// runs commands as root, and as another user with -u; without a rule it
// is refused. sudo is setuid root, and loads libsudo_util from its
// RUNPATH, /usr/libexec/sudo.
TEST_CASE("sudo with a NOPASSWD rule runs as root and as another user; without one it is refused (needs the Debian archive)") {
  if (archive_skipped()) return;
  auto r = with_packages("sudo",
                         "echo \"127.0.1.1 $(hostname)\" >> /etc/hosts; useradd -m bob; useradd -m carol; "
                         "echo 'bob ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/bob && chmod 440 /etc/sudoers.d/bob; "
                         "su bob -s /bin/sh -c 'sudo -n id -u; sudo -n -u carol id -un; sudo -n cat /etc/shadow | grep -c ^root:'; "
                         "su carol -s /bin/sh -c 'sudo -n true' >/dev/null 2>&1 || echo carol-refused");
  // No warning either (sudo's audit message: no audit for a fake root).
  CHECK(r.out == "0\ncarol\n1\ncarol-refused\n");
}

// dpkg-buildpackage run by a build user calls `fakeroot debian/rules
// binary` (-rfakeroot, Rules-Requires-Root): inside a session fakeroot is
// the session's own, and what it runs is root, whoever started it, as
// fakeroot's daemon makes it; with no command, the caller's shell.
TEST_CASE("a fake user's fakeroot CMD runs CMD as root: chown and mknod work, and the owners stay") {
  auto r = in_root(
      "printf '#!/bin/sh\\necho the real fakeroot ran\\n' > /usr/bin/fakeroot && chmod 755 /usr/bin/fakeroot && "
      "mkdir -p /home/fr.1 && chown 1000:1000 /home/fr.1 && cd /home/fr.1 && " +
      as(1000, "sh -c 'id -u; fakeroot id -u; fakeroot -u -- sh -c \"touch f; chown 0:0 f && mknod d c 1 3 && "
               "id -g\"; echo id -u | fakeroot; SHELL=$(command -v id) fakeroot -u; "
               "stat -c \"%u:%g %F\" f d; rm f d && echo removed'"));
  CHECK(r.out == "1000\n0\n0\n0\nuid=0(root) gid=0(root) groups=0(root)\n0:0 regular empty file\n0:0 character special file\nremoved\n");
}
