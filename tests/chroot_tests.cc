// Chroot emulation, end to end: `cowroot -r ROOT` on a small root made of
// the host's own programs (tests/mkroot.sh), as an unprivileged user.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <tuple>

#include "common.h"

using namespace test;

namespace {

const TempDir& shared_root() { return small_root(); }

std::string root() { return shared_root().path + "/root"; }

Result in_root(const std::string& script, const std::string& opts = "") {
  return sh(cowroot() + " " + opts + " -r " + q(root()) + " -- /bin/sh -c " + q(script) + " 2>&1");
}

std::string host_readlink(const std::string& p) {
  char buf[4096];
  ssize_t n = readlink(p.c_str(), buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, n);
}

}  // namespace

TEST_CASE("absolute paths, .. at /, and the working directory are inside") {
  auto r = in_root("pwd; cat /etc/motd; cat /../../../../etc/motd; cd /usr/bin && pwd; cd ../../.. && pwd; ls / | head -n 3");
  CHECK(r.out == "/\ninside the root\ninside the root\n/usr/bin\n/\nbin\ndev\netc\n");
}

// A real chroot execs: a signal sent to it reaches the program. The
// launcher stays to end the session, and died of SIGTERM, leaving the
// command running with nobody to tell it (kill, timeout --foreground, a CI
// runner's cancel); it passes it on now, as sudo does.
TEST_CASE("a signal sent to the launcher reaches the command") {
  std::string ready = root() + "/tmp/ready-" + std::to_string(getpid());
  auto r = sh(cowroot() + " -r " + q(root()) + " -- /bin/sh -c 'trap \"echo got TERM; kill \\$!; exit 3\" TERM; " +
              "echo > /tmp/ready-" + std::to_string(getpid()) + "; sleep 30 & wait' & p=$!; " +
              "while [ ! -e " + q(ready) + " ]; do sleep 0.05; done; kill $p; wait $p; echo \"status $?\"");
  CHECK(r.out == "got TERM\nstatus 3\n");
  unlink(ready.c_str());
}

TEST_CASE("absolute symlinks, final and intermediate, resolve inside; relative ones stop at /") {
  auto r = in_root(
      "mkdir -p /tmp/s && ln -sf /etc /tmp/s/etcabs && ln -sf /etc/motd /tmp/s/motdabs && "
      "ln -sf ../../../../../etc/motd /tmp/s/climb && cat /tmp/s/motdabs /tmp/s/etcabs/motd /tmp/s/climb && "
      "stat -c %F /tmp/s/etcabs/ && readlink /tmp/s/motdabs");
  CHECK(r.out == "inside the root\ninside the root\ninside the root\ndirectory\n/etc/motd\n");
  // Stored exactly as written: the image holds no host path.
  CHECK(host_readlink(root() + "/tmp/s/motdabs") == "/etc/motd");
  CHECK(host_readlink(root() + "/tmp/s/etcabs") == "/etc");
}

// Another process renames the working directory (or one above it): the
// kernel's working directory moves with it, and so do relative names and
// getcwd, for fake root and for another fake user.
TEST_CASE("a working directory renamed by another process: relative names and getcwd follow it") {
  auto r = in_root("mkdir -p /ren/sub && chmod 777 /ren/sub && cd /ren/sub && sh -c 'mv /ren /tmp/ren3' && "
                   "echo hi > here && readlink /proc/self/cwd && cat /tmp/ren3/sub/here && cd / && "
                   "mkdir -p /w5/ren4 && chmod 777 /w5 /w5/ren4 && setpriv --reuid 1000 --regid 1000 --clear-groups sh -c "
                   "'cd /w5/ren4 && sh -c \"mv /w5/ren4 /w5/ren5\" && echo x > mine && ls /w5/ren5'; "
                   "rm -rf /tmp/ren3 /w5");
  CHECK(r.out == "/tmp/ren3/sub\nhi\nmine\n");
}

TEST_CASE("paths handed back are inside paths: getcwd, realpath, /proc/self links") {
  auto r = in_root("cd /usr/bin; realpath ../../bin/sh; readlink /proc/self/cwd; readlink /proc/self/exe; "
                   "perl -e 'print readlink(q{/proc/self/exe}), qq{\\n}'; exec 3</etc/motd; readlink /proc/self/fd/3");
  CHECK(r.out == "/usr/bin/dash\n/usr/bin\n/usr/bin/readlink\n/usr/bin/perl\n/etc/motd\n");
}

TEST_CASE("the host stays out of reach, /dev, /proc and /sys pass through, --bind adds more") {
  TempDir extra;
  write_file(extra / "hello", "from the host\n");
  auto r = in_root("test -e /dev/null && echo dev; test -d /proc/self && echo proc; test -d /sys/kernel && echo sys; "
                   "cat /mnt/x/hello; test -e /work || test -e /home || echo no-host",
                   "--bind " + q(extra.path) + ":/mnt/x");
  CHECK(r.out == "dev\nproc\nsys\nfrom the host\nno-host\n");
}

// The kernel shows a process the mounts its root reaches: in a real chroot
// with /proc and /dev mounted in, those, not the host's / and its other
// file systems (df, findmnt, a configuration tool's mount facts).
TEST_CASE("the mount table in a root lists what the root reaches: /proc, /dev, /sys, not the host's others") {
  // Each mount point (the second field of mounts, the fifth of mountinfo):
  // "ok" where a real chroot with /proc, /dev and /sys mounted in has it.
  std::string fns = "is() { case $1 in /proc|/proc/*|/dev|/dev/*|/sys|/sys/*) echo ok;; *) echo other $1;; esac; }; "
                    "mp() { while read a b rest; do is $b; done; }; "
                    "mi() { while read a b c d e rest; do is $e; done; }; ";
  // (busybox-static: a static program reads it through a trapped open)
  REQUIRE(sh("cp /bin/busybox " + q(root() + "/usr/bin/")).status == 0);
  auto r = in_root(fns + "mp < /proc/self/mounts | sort -u; mp < /proc/mounts | sort -u; mi < /proc/$$/mountinfo | sort -u; "
                         "busybox cat /proc/self/mounts | mp | sort -u; grep -c ' /proc proc ' /proc/self/mounts");
  CHECK(r.out == "ok\nok\nok\nok\n1\n");
}

// ischroot compares init's mount table with its own, then /proc/1/root's
// inode with /'s; systemd's running_in_chroot the latter: both said "not
// in a chroot" in a root (init's table was the root's copy, its root was
// the root's /), so package scripts and systemctl took the host's init for
// theirs. In a real chroot init's root is the host's /, a way out: here it
// is not the root and leads nowhere.
TEST_CASE("a root is a chroot to ischroot and systemd: init's root is not /, init's mount table is its own") {
  REQUIRE(sh("cp /usr/bin/ischroot " + q(root() + "/usr/bin/")).status == 0);
  auto r = in_root("ischroot; echo ischroot $?; a=$(stat -L -c %d:%i /); b=$(stat -L -c %d:%i /proc/1/root); "
                   "[ \"$a\" != \"$b\" ] && echo init-root-differs; [ \"$(stat -L -c %d:%i /proc/self/root)\" = \"$a\" ] && "
                   "echo own-root-is-root; cat /proc/1/root/etc/passwd >/dev/null 2>&1 || echo leads-nowhere; "
                   "ls /proc/1/root/ 2>/dev/null | grep -c -x -e etc -e usr -e home; "
                   "[ \"$(cat /proc/1/mountinfo)\" != \"$(cat /proc/self/mountinfo)\" ] && echo tables-differ");
  CHECK(r.out == "ischroot 0\ninit-root-differs\nown-root-is-root\nleads-nowhere\n0\ntables-differ\n");
}

// ldd's listing went through cowroot-trace, its error lines did not: a
// library's missing version named the library and the program by their
// host paths (a program built for a newer release, in an older root).
TEST_CASE("ldd of a program whose library lacks a version it needs names both by their paths in the root") {
  TempDir d;
  write_file(d / "v.c", "int f(void) { return 1; }\nint g(void) { return 2; }\n");
  write_file(d / "v1.map", "V1 { global: f; local: *; };\n");
  write_file(d / "v2.map", "V1 { global: f; local: *; };\nV2 { global: g; } V1;\n");
  write_file(d / "p.c", "int g(void);\nint main(void) { return g(); }\n");
  std::string lib = root() + "/usr/lib/libvtest.so.1";
  REQUIRE(sh("cd " + q(d.path) + " && cc -shared -fPIC -Wl,-soname,libvtest.so.1 -Wl,--version-script=v2.map -o libvtest.so.1 v.c"
             " && ln -s libvtest.so.1 libvtest.so && cc -o " + q(root() + "/usr/bin/vprog") + " p.c -L. -lvtest"
             " && cc -shared -fPIC -Wl,-soname,libvtest.so.1 -Wl,--version-script=v1.map -o " + q(lib) + " v.c 2>&1")
              .status == 0);
  auto r = in_root("LD_LIBRARY_PATH=/usr/lib ldd /usr/bin/vprog");
  sh("rm -f " + q(lib) + " " + q(root() + "/usr/bin/vprog"));
  CHECK_MESSAGE(r.out.find("/usr/bin/vprog: /usr/lib/libvtest.so.1: version `V2' not found (required by /usr/bin/vprog)\n") !=
                    std::string::npos,
                r.out);
  CHECK_MESSAGE(r.out.find(root()) == std::string::npos, r.out);
}

TEST_CASE("COWROOT_BINDS passes host directories through with the launcher, beside --bind") {
  TempDir a, b, c;
  REQUIRE(mkdir((a / "sub").c_str(), 0755) == 0);
  write_file(a / "sub/f", "from a\n");
  write_file(b / "g", "from b\n");
  write_file(c / "h", "from c\n");
  // PATH: the host directory at the same path inside.
  auto r = sh("COWROOT_BINDS=" + q(a.path) + " " + cowroot() + " -r " + q(root()) + " -- /bin/cat " + q(a / "sub/f") +
              " 2>&1");
  CHECK(r.status == 0);
  CHECK(r.out == "from a\n");
  // INSIDE=HOST entries, together with --bind; /dev, /proc and /sys stay.
  r = sh("COWROOT_BINDS=" + q("/mnt/a=" + a.path + ":/mnt/b=" + b.path) + " " + cowroot() + " --bind " +
         q(c.path + ":/mnt/c") + " -r " + q(root()) +
         " -- /bin/sh -c 'cat /mnt/a/sub/f /mnt/b/g /mnt/c/h; test -d /proc/self && echo proc' 2>&1");
  CHECK(r.out == "from a\nfrom b\nfrom c\nproc\n");
  // `cowroot run` makes a root: --bind and COWROOT_BINDS work there too.
  r = sh("COWROOT_BINDS=" + q("/mnt/a=" + a.path) + " " + cowroot() + " run --base " + q(root()) + " --bind " +
         q(c.path + ":/mnt/c") + " -- /bin/cat /mnt/a/sub/f /mnt/c/h 2>&1");
  CHECK(r.out == "from a\nfrom c\n");
  // The library alone reads the same variable, and keeps /proc with it.
  r = sh("LD_PRELOAD=" + prefix() + "/lib/libcowroot.so COWROOT_ROOT=" + q(root()) + " COWROOT_BINDS=" +
         q("/mnt/a=" + a.path) + " /bin/sh -c 'cat /mnt/a/sub/f /etc/motd; test -d /proc/self && echo proc' 2>&1");
  CHECK(r.out == "from a\ninside the root\nproc\n");
}

TEST_CASE("a COWROOT_BINDS entry that is not there is one line naming it, and nothing runs") {
  TempDir a;
  // HOST:INSIDE is two entries in a ':'-separated list: the second is no host directory.
  auto r = sh("COWROOT_BINDS=" + q(a.path + ":" + a.path + "/missing") + " " + cowroot() + " -r " + q(root()) +
              " -- /bin/sh -c 'echo ran' 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out == "cowroot: COWROOT_BINDS: " + a.path + "/missing: No such file or directory\n");
  r = sh(cowroot() + " -r " + q(root()) + " --bind '' -- /bin/sh -c 'echo ran' 2>&1");
  CHECK(r.status == 2);
  CHECK(r.out == "cowroot: --bind : no host directory given (HOST[:INSIDE])\n");
}

TEST_CASE("--fakechroot -r honours FAKECHROOT_EXCLUDE_PATH as a chroot() inside does") {
  TempDir a;
  REQUIRE(mkdir((a / "sub").c_str(), 0755) == 0);
  write_file(a / "sub/f", "excluded\n");
  std::string env = "FAKECHROOT_EXCLUDE_PATH=" + q(a.path) + " ";
  auto r = sh(env + cowroot() + " --fakechroot -r " + q(root()) + " -- /bin/sh -c " +
              q("cat " + a.path + "/sub/f; env -i /bin/cat " + a.path + "/sub/f") + " 2>&1");
  CHECK(r.out == "excluded\nexcluded\n");
  r = sh(env + cowroot() + " --fakechroot -- chroot " + q(root()) + " /bin/cat " + q(a / "sub/f") + " 2>&1");
  CHECK(r.out == "excluded\n");
  // It is fakechroot's variable: without --fakechroot nothing reads it.
  r = sh(env + cowroot() + " -r " + q(root()) + " -- /bin/sh -c " + q("cat " + a.path + "/sub/f 2>/dev/null || echo hidden"));
  CHECK(r.out == "hidden\n");
}

TEST_CASE("--bind without a root is one line, non-zero, and the command does not run") {
  TempDir a;
  auto r = sh(cowroot() + " --bind " + q(a.path) + " -- /bin/sh -c 'echo ran' 2>&1");
  CHECK(r.status == 2);
  CHECK(r.out == "cowroot: --bind " + a.path + ": only with -r DIR (there is no root to pass it into)\n");
}

TEST_CASE("--bind of a directory over a file, or of a file over a directory, is refused in one line, as mount --bind does") {
  TempDir a;
  write_file(a / "file", "host file\n");
  auto r = in_root("echo ran", "--bind " + q(a.path + ":/etc/motd"));
  CHECK(r.status == 2);
  CHECK(r.out == "cowroot: --bind " + a.path + ":/etc/motd: /etc/motd is not a directory in the root, " + a.path + " is\n");
  r = in_root("echo ran", "--bind " + q(a / "file") + ":/etc");
  CHECK(r.status == 2);
  CHECK(r.out == "cowroot: --bind " + a / "file" + ":/etc: /etc is a directory in the root, " + a / "file" + " is not\n");
  // Through an absolute symlink, as the root has it (not as the host would
  // follow it: no /etc/only-in-root there).
  write_file(root() + "/etc/only-in-root", "");
  std::string link = root() + "/etc/abs-link";
  unlink(link.c_str());
  REQUIRE(symlink("/etc/only-in-root", link.c_str()) == 0);
  r = in_root("echo ran", "--bind " + q(a.path + ":/etc/abs-link"));
  CHECK(r.status == 2);
  CHECK(r.out == "cowroot: --bind " + a.path + ":/etc/abs-link: /etc/abs-link is not a directory in the root, " + a.path +
                     " is\n");
  unlink(link.c_str());
  // Like over like, or onto what the root does not have, runs.
  CHECK(in_root("cat /etc/motd", "--bind " + q(a / "file") + ":/etc/motd").out == "host file\n");
  CHECK(in_root("cat /d/file", "--bind " + q(a.path) + ":/d").out == "host file\n");
}

TEST_CASE("exec: the root's loader and libraries, #! scripts, argv[0], and env -i stays inside") {
  auto r = in_root(
      "printf '#!/bin/sh\\necho \"script $0 $1\"\\n' > /tmp/s.sh && chmod +x /tmp/s.sh && /tmp/s.sh arg && "
      "env -i /bin/cat /etc/motd && env -i PATH=/bin sh -c 'cat /etc/motd' && "
      "perl -e 'exec {q{/bin/sh}} q{custom-argv0}, q{-c}, q{echo $0}'");
  CHECK(r.out == "script /tmp/s.sh arg\ninside the root\ninside the root\ncustom-argv0\n");
}

// The kernel follows five #! levels (fs/exec.c); a sixth is ELOOP. Each
// level's argument and name go before the script's own, inside paths.
TEST_CASE("#! chains are followed five levels deep, as the kernel does; a sixth is ELOOP") {
  auto r = in_root(
      "mkdir -p /tmp/chain && cd /tmp/chain && for i in 1 2 3 4 5 6; do printf '#!/tmp/chain/s%d x%d\\n' $((i+1)) $i "
      "> s$i; done && printf '#!/bin/sh\\necho \"$*\"\\n' > s7 && chmod 755 s* && ./s3 a; echo $?; "
      "perl -e 'exec q{/tmp/chain/s2}, q{b} or print qq{$!\\n}'");
  CHECK_MESSAGE(r.out == "x6 /tmp/chain/s6 x5 /tmp/chain/s5 x4 /tmp/chain/s4 x3 ./s3 a\n0\nToo many levels of symbolic links\n",
                r.out);
  // The session's first program, through the stub.
  auto first = sh(cowroot() + " -r " + q(root()) + " -- /tmp/chain/s3 c 2>&1");
  CHECK_MESSAGE(first.out == "x6 /tmp/chain/s6 x5 /tmp/chain/s5 x4 /tmp/chain/s4 x3 /tmp/chain/s3 c\n", first.out);
}

TEST_CASE("unconfined, static binaries are refused with one line naming them; ldconfig runs as ldconfig -r ROOT") {
  // (Confined, as sessions are by default, they run inside: confine_tests.cc.)
  REQUIRE(sh("cp /sbin/ldconfig " + q(root() + "/usr/bin/static-tool")).status == 0);
  auto r = sh("COWROOT_CONFINE=0 " + cowroot() + " -r " + q(root()) + " -- /usr/bin/static-tool 2>&1");
  CHECK(r.status == 126);
  CHECK(r.out.find("/usr/bin/static-tool: static binary") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  REQUIRE(sh("mkdir -p " + q(root() + "/sbin") + " && cp /sbin/ldconfig " + q(root() + "/usr/sbin/ldconfig")).status == 0);
  auto l = sh("COWROOT_CONFINE=0 " + cowroot() + " -r " + q(root()) +
              " -- /bin/sh -c 'rm -f /etc/ld.so.cache; ldconfig && test -s /etc/ld.so.cache && echo cache-in-root' 2>&1");
  CHECK(l.out == "cache-in-root\n");
  // Confined, ldconfig runs inside as any static program: its messages
  // name the root's files by their inside paths.
  l = in_root("rm -f /etc/ld.so.cache; ldconfig && ldconfig -p | head -n 1");
  CHECK(l.out.find(" libs found in cache `/etc/ld.so.cache'\n") != std::string::npos);
}

TEST_CASE("chroot() inside nests, and the classic escape stays in the session's root") {
  auto r = in_root(
      "mkdir -p /jail/etc && echo jailed > /jail/etc/motd && "
      "perl -e 'chroot(q{/jail}) or die qq{chroot: $!}; open(F, q{/etc/motd}) or die; print <F>; "
      "mkdir(q{x}); chroot(q{x}) or die; chdir(q{../../../../..}); chroot(q{.}) or die; "
      "open(G, q{/etc/motd}) or die; print <G>;'");
  CHECK(r.out == "jailed\ninside the root\n");
}

// A chroot() that leaves the working directory outside the new root: the
// kernel's getcwd says "(unreachable)PATH" and glibc's fails with ENOENT
// (it gave "/usr", a name the new root does not have).
TEST_CASE("after chroot() with the working directory left outside, getcwd has no name for it, as the kernel's") {
  auto r = in_root("mkdir -p /jail && helper chroot-cwd /usr /jail && cd /jail && helper chroot-cwd /jail /jail");
  CHECK(r.status == 0);
  CHECK(r.out == "No such file or directory\n(unreachable)/usr\n/\n/\n");
}

// Planning an exec in a root takes 150-250 KiB of stack: a thread of 128
// KiB (and `ulimit -s 128`) died of SIGSEGV starting a program, the whole
// program with it for system, posix_spawn and popen. The plan has a stack
// of its own now.
TEST_CASE("a thread with a small stack starts programs: fork, vfork, system, posix_spawn, popen, ulimit -s 128") {
  auto r = in_root("for how in fork vfork system spawn popen; do helper small-stack $how; done; "
                   "(ulimit -s 128; /bin/sleep 0; echo ulimit $?)");
  CHECK(r.out == "fork 0\nvfork 0\nsystem 0\nspawn 0\nfrom-popen\npopen 0\nulimit 0\n");
}

// The exec's own stack (above) has room for 1 MiB and 16 bytes an
// argument: 112,000 arguments overflowed its first cut, where a real
// chroot takes as many as the kernel does; vfork children of threads that
// find the kept stacks taken stayed on their 64 KiB; a handler on the
// signal stack that execs, with signals coming, had them put over its
// frames; and a fork's child, made by a handler that came while a plan ran
// on a kept stack, took that very stack for its own plan.
TEST_CASE("the exec's own stack: 150,000 arguments, vfork from threads of 64 KiB, an exec from a handler on the signal stack") {
  auto r = in_root("perl -e 'exec(q{/bin/sh}, q{-c}, q{echo $#}, (q{a}) x 150000) or die qq{exec: $!}'; "
                   "helper threads-start vfork 8 10; "
                   "helper altstack-exec 2000; helper fork-in-plan 2000");
  CHECK(r.out == "149999\nvfork bad 0, SIGINT default\nfailed 2000 of 2000, signals seen\nchildren bad 0\n");
}

// Several threads in system() at once: each saved what it found (another's
// SIG_IGN) and put it back, and SIGINT and SIGQUIT stayed ignored for good.
TEST_CASE("system() from several threads at once leaves SIGINT and SIGQUIT as they were") {
  auto r = in_root("helper threads-start system 8 5");
  CHECK(r.out == "system bad 0, SIGINT default\n");
  // Where kcmp is refused (Docker's default seccomp profile), whether a
  // stack's or a lock's taker is elsewhere cannot be told: taken it stays.
  r = in_root("helper no-kcmp /usr/bin/helper threads-start system 8 5");
  CHECK(r.out == "system bad 0, SIGINT default\n");
}

// cowroot inside a session joins it: -r DIR is a chroot into DIR as the
// program sees it (it was ignored: the command ran in the outer root);
// what cannot be nested is refused in one line.
TEST_CASE("cowroot -r inside a session enters DIR as chroot does; run and --bind there are refused in one line") {
  if (sanitizer_build()) {
    MESSAGE("skipped: this install's cowroot needs a sanitizer's runtime, which the root has not");
    return;
  }
  std::string c = cowroot();
  auto r = sh(c + " -r " + q(root()) + " --bind " + q(prefix()) + " -- sh -c '" +
              "rm -rf /srv/nest; mkdir -p /srv/nest/etc && echo inner > /srv/nest/etc/hostname && "
              "" + c + " -r /srv/nest -- /bin/cat /etc/hostname; echo status $?; cp -a /usr /srv/nest/ && "
              "for d in bin lib lib64; do ln -s usr/$d /srv/nest/$d; done; "
              "" + c + " -r /srv/nest -- /bin/cat /etc/hostname; " +
              c + " run -- true; echo status $?; " + c + " -r /srv/nest --bind /tmp -- /bin/cat /etc/hostname; echo status $?; "
              "rm -rf /srv/nest' 2>&1");
  CHECK(r.out ==
        "cowroot: /bin/cat: No such file or directory\nstatus 127\ninner\n"
        "cowroot: run cannot be used inside a cowroot session: run it outside, or chroot into a clone (cowroot -r DIR)\n"
        "status 2\n"
        "cowroot: --bind, --cow, --timeout and --fakechroot cannot be used inside a cowroot session\nstatus 2\n");
}

TEST_CASE("in a nested chroot /dev, /proc and /sys still pass through, and lead back into it") {
  // debootstrap and package scripts chroot into a target whose /proc they
  // "mount": it must be there, and .. from it must stay in the target.
  auto r = in_root("rm -rf /n1 && mkdir -p /n1/proc /n1/dev && cp -a /usr /bin /lib /lib64 /n1/ 2>/dev/null; "
                   "chroot /n1 /bin/sh -c 'ls -d /proc/self /dev/null; readlink /proc/self/root; cd /proc && cd .. && ls /'");
  CHECK(r.out == "/dev/null\n/proc/self\n/\nbin\ndev\nlib\nlib64\nproc\nusr\n");
}

TEST_CASE("user and group names come from the root's /etc, not the host's") {
  auto r = in_root("id -u inroot; id -un 4242; touch /tmp/o && chown inroot:inroot /tmp/o && stat -c '%U:%G %u' /tmp/o");
  CHECK(r.out == "4242\ninroot\ninroot:inroot 4242\n");
}

TEST_CASE("fake root holds inside the root, and -s/-i compose with -r") {
  TempDir d;
  auto r = in_root("mknod /dev-null-copy c 1 3 && touch /tmp/f && chown 7:7 /tmp/f && chmod 4711 /tmp/f && "
                   "stat -c '%F %t %T' /dev-null-copy && stat -c '%u %g %a' /tmp/f",
                   "-s " + q(d / "state"));
  CHECK(r.out == "character special file 1 3\n7 7 4711\n");
  auto again = in_root("stat -c '%u %g %a' /tmp/f", "-i " + q(d / "state"));
  CHECK(again.out == "7 7 4711\n");
  CHECK(S_ISREG(real_stat(root() + "/dev-null-copy").st_mode));
}

TEST_CASE("mount of proc, sysfs and devpts succeeds as a no-op, also through syscall()") {
  auto r = in_root("helper mount proc /proc; helper mount sysfs /sys; test -d /proc/self && echo still-proc");
  CHECK(r.out == "0\n0\nstill-proc\n");
}

// They change nothing, but the mount point must be there, as the kernel
// asks ("mount point does not exist" where they said 0).
TEST_CASE("mount onto a mount point that is not there, or not a directory, is refused as the kernel refuses it") {
  auto r = in_root("helper mount tmpfs /no/such/dir; helper mount tmpfs /etc/passwd; helper mount tmpfs /tmp");
  CHECK(r.out == "-1 No such file or directory\n-1 Not a directory\n0\n");
}

TEST_CASE("raw syscall(SYS_statx) gets the root's path and the fake owner") {
  auto r = in_root("touch /tmp/sx && chown 9 /tmp/sx && chmod 4700 /tmp/sx && helper statx /tmp/sx && helper statx /etc/motd");
  CHECK(r.out == "9 4700\n0 644\n");
}

TEST_CASE("bad roots: missing, not a directory, without a loader - one line, non-zero, nothing changed") {
  TempDir d;
  auto r = sh(cowroot() + " -r " + q(d / "missing") + " -- /bin/true 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out == "cowroot: " + d / "missing" + ": No such file or directory\n");
  write_file(d / "file", "");
  r = sh(cowroot() + " -r " + q(d / "file") + " -- /bin/true 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out == "cowroot: " + d / "file" + ": not a directory\n");
  REQUIRE(sh("mkdir -p " + q(d / "noloader/bin") + " && cp /bin/true " + q(d / "noloader/bin/true")).status == 0);
  r = sh(cowroot() + " -r " + q(d / "noloader") + " -- /bin/true 2>&1");
  CHECK(r.status == 127);
  CHECK(r.out.find("ELF interpreter") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  // An empty root: the command is not found, and the line names the root;
  // a root whose /bin/sh has no loader is refused before anything runs.
  // cowroot run names the directory it cloned, not its throwaway clone.
  mkdir((d / "empty").c_str(), 0755);
  REQUIRE(sh("mkdir -p " + q(d / "nold/bin") + " && cp /bin/dash " + q(d / "nold/bin/sh")).status == 0);
  r = sh(cowroot() + " -r " + q(d / "empty") + " -- /bin/true 2>&1; echo $?; " + cowroot() + " run --base " +
         q(d / "empty") + " -- true 2>&1; echo $?");
  CHECK(r.out == "cowroot: /bin/true: No such file or directory in the root " + d / "empty" + "\n127\n" +
                     "cowroot: true: No such file or directory in the root " + d / "empty" + "\n127\n");
  r = sh(cowroot() + " -r " + q(d / "nold") + " -- /bin/sh -c true 2>&1; echo $?; " + cowroot() + " run --base " +
         q(d / "nold") + " -- /bin/sh -c true 2>&1; echo $?");
  std::string nold = d / "nold" + ": cannot be served: its programs' ELF interpreter /lib64/ld-linux-x86-64.so.2 "
                                  "is missing (/bin/sh needs it)\n1\n";
  CHECK(r.out == "cowroot: " + nold + "cowroot: " + nold);
  CHECK(sh("ls -A " + q(d.path) + " | grep -c cowroot-run").out == "0\n");  // no clone left behind
  // A path the loader's lists would split (':' and ';' in --library-path),
  // however it is reached.
  for (const char* name : {"co:lon", "se;mi"}) {
    REQUIRE(sh("cp -a " + q(d / "nold") + " " + q(d / name) + " && ln -sfn " + q(d / name) + " " +
               q(d / "link")).status == 0);
    for (const std::string& given : {d / name, d / "link"}) {
      r = sh(cowroot() + " -r " + q(given) + " -- /bin/sh -c true 2>&1");
      CHECK(r.status == 1);
      CHECK(r.out == "cowroot: " + d / name + ": a root whose path has ':', ';' or a newline cannot be given to "
                                                "its loader: move it elsewhere\n");
    }
  }
  // Refused where such a root would be made, nothing of it left: a clone's
  // DEST, run --keep; a newline shown as \n, the message one line. A base
  // that is not there is said so.
  std::string tail = ": a root whose path has ':', ';' or a newline cannot be given to its loader: choose another\n";
  r = sh(cowroot() + " clone " + q(d / "nold") + " " + q(d / "new:one") + " 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: " + d / "new:one" + tail);
  r = sh(cowroot() + " clone " + q(d / "nold") + " " + q(d / "nl\nnew") + " 2>&1");
  CHECK(r.out == "cowroot: " + d / "nl\\nnew" + tail);
  r = sh(cowroot() + " run --base " + q(d / "nold") + " --keep " + q(d / "kept;x") + " -- true 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: " + d / "kept;x" + tail);
  CHECK(sh("ls -A " + q(d.path) + " | grep -c -e new -e kept").out == "0\n");
  r = sh(cowroot() + " run --base " + q(d / "nothere") + " -- true 2>&1");
  CHECK(r.out == "cowroot: " + d / "nothere" + ": No such file or directory\n");
}

TEST_CASE("every path-taking function glibc exports is wrapped, or listed with the reason it needs no wrapper") {
  std::string bin = std::string(getenv("COWROOT_TEST_MKROOT"));
  bin = bin.substr(0, bin.rfind('/'));
  // The table of front doors, and the library as installed: the same names.
  for (const std::string& ours : {bin + "/ops.tbl", prefix() + "/lib/libcowroot.so"}) {
    auto r = sh("python3 " + q(bin + "/path-functions.py") + " --check " + q(ours) + " " +
                q(bin + "/unwrapped-path-functions.txt") + " 2>&1");
    CHECK_MESSAGE(r.status == 0, r.out);
    CHECK(r.out.find(" 0 missing") != std::string::npos);
  }
}

// statfs and statvfs run libc's own function on the translated path; the
// root's top itself ("/", what df and MariaDB's init script look at) and a
// bind's own directory (/proc) are paths of the root too.
TEST_CASE("statfs of the root itself, of a directory in it and of a bind point (df /)") {
  std::string fs = sh("stat -f -c %T " + q(root())).out;
  auto r = in_root("stat -f -c %T / && stat -f -c %T /. && stat -f -c %T /etc && stat -f -c %T /proc && "
                   "{ ! command -v df >/dev/null || df / >/dev/null; } && echo df-ok");
  CHECK(r.out == fs + fs + fs + "proc\ndf-ok\n");
}

TEST_CASE("glob and nftw walk the root, with inside paths and fake owners") {
  auto r = in_root("mkdir -p /w/a && touch /w/a/x /w/b && chown 3:3 /w/a/x && helper glob '/w/*' && helper nftw /w | sort");
  CHECK(r.out == "/w/a\n/w/b\n/w 0\n/w/a 0\n/w/a/x 3\n/w/b 0\n");
  // A top with trailing slashes is reported without them, as glibc does;
  // through a symlink, under the name the program gave.
  r = in_root("mkdir -p /w2/a && ln -sfn /w2 /w2link && helper nftw /w2/ | sort && helper nftw /w2link// | sort && "
              "cd /w2 && helper nftw a/ && helper nftw / | grep -c '^//'");
  CHECK(r.out == "/w2 0\n/w2/a 0\n/w2link 0\n/w2link/a 0\na 0\n0\n");
}

TEST_CASE("glob's ~user is the root's user, not the host's") {
  auto r = in_root("grep -q '^tuser:' /etc/passwd || echo 'tuser:x:4300:4300::/home/tuser:/bin/sh' >> /etc/passwd; "
                   "mkdir -p /home/tuser/d && helper glob-tilde '~tuser/*' && helper glob-tilde '~nosuchuser/*'");
  CHECK(r.out == "/home/tuser/d\nno match\n");
}

// glibc's fts reads with internal calls no wrapper sees; ours must walk the
// same way, entry for entry, under every option set, with fts_children and
// fts_set in play: compared here against glibc's own walk of the same tree.
TEST_CASE("fts walks the root as glibc's fts walks a host tree, with inside paths and fake owners") {
  std::string w = root() + "/fts-w";
  REQUIRE(sh("rm -rf " + q(w) + " && mkdir -p " + q(w) + "/a/b/skip/x " + q(w) + "/c " + q(w) + "/d/closed && cd " +
             q(w) + " && touch a/f a/b/g a/again d/closed/in && ln -s ../a c/follow && ln -s /nonexistent c/dangle &&"
             " ln -s .. a/b/up && mkfifo a/fifo && chmod 000 d/closed")
              .status == 0);
  std::string helper = root() + "/usr/bin/helper";
  auto native = sh("cd " + q(root()) + " && " + q(helper) + " fts fts-w fts-w/a/f fts-w/c 2>&1");
  auto inside = in_root("cd / && helper fts fts-w fts-w/a/f fts-w/c");
  REQUIRE(native.status == 0);
  // Roots here are relative, so only the working directory reads differently.
  std::string expect = native.out;
  for (size_t at; (at = expect.find("cwd " + root() + "\n")) != std::string::npos;)
    expect.replace(at, root().size() + 5, "cwd /\n");
  CHECK(expect.size() > 40000);  // 256 option sets, three ways each
  CHECK(inside.out == expect);
  // Absolute roots come back as inside paths; owners are the fake ones.
  auto r = in_root("chown 7:7 /fts-w/a/f && helper fts-uid /fts-w/a");
  CHECK(r.out == "/fts-w/a 0\n/fts-w/a/again 0\n/fts-w/a/b 0\n/fts-w/a/b/g 0\n/fts-w/a/b/skip 0\n/fts-w/a/b/skip/x 0\n"
                 "/fts-w/a/b/up 0\n/fts-w/a/f 7\n/fts-w/a/fifo 0\n");
  // A followed symlink's directory listed by fts_children before it is
  // read: every entry still reachable through fts_accpath, and the walk
  // goes on after it.
  r = in_root("cd /fts-w && helper fts-follow c");
  CHECK(r.out == "c reached\nc/dangle lost\nc/follow reached\nc/follow reached\nc/follow/again reached\n"
                 "c/follow/b reached\nc/follow/b/g reached\nc/follow/b/skip reached\nc/follow/b/skip/x reached\n"
                 "c/follow/b/skip/x reached\nc/follow/b/skip reached\nc/follow/b/up reached\nc/follow/b reached\n"
                 "c/follow/f reached\nc/follow/fifo reached\nc/follow reached\nc reached\n");
  sh("chmod 755 " + q(w) + "/d/closed && rm -rf " + q(w));
}

// The root's library path is parsed once and handed down (COWROOT_LIBPATH);
// a change to the loader configuration must still reach the next program.
TEST_CASE("the remembered library path follows changes to the root's loader configuration") {
  auto r = in_root(
      "mkdir -p /opt/zzlib && touch /opt/zzlib/libzz.so.1 && sh -c 'echo \"$COWROOT_LIBPATH\"' | grep -c /opt/zzlib;"
      " echo /opt/zzlib > /etc/ld.so.conf.d/zz.conf && sh -c 'echo \"$COWROOT_LIBPATH\"' | grep -c /opt/zzlib;"
      " rm /etc/ld.so.conf.d/zz.conf && sh -c 'echo \"$COWROOT_LIBPATH\"' | grep -c /opt/zzlib; rm -r /opt/zzlib");
  CHECK(r.out == "0\n1\n0\n");
}

// A directory of ld.so.conf that holds nothing is not searched (the real
// loader finds what is there through ld.so.cache only, as it was when
// ldconfig last ran); once a library is in it and the cache is rewritten,
// programs find the library there. The small root has no ldconfig: a new
// /etc/ld.so.cache stands for its run.
TEST_CASE("an empty directory of ld.so.conf is searched once a library is in it and the cache is new") {
  const std::string lib = "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0";  // ls needs it (through libselinux)
  if (!std::filesystem::exists(root() + lib) ||
      sh("ldd /usr/bin/ls").out.find("libpcre2-8.so.0") == std::string::npos) {
    MESSAGE("skipped: the host's ls does not use " << lib);
    return;
  }
  auto r = in_root(
      "lp() { sh -c 'echo \"$COWROOT_LIBPATH\"' | grep -c /opt/zzempty; };"
      " mkdir -p /opt/zzempty/sub && echo /opt/zzempty > /etc/ld.so.conf.d/zzempty.conf && lp;"
      " cp " + lib + " /opt/zzempty/ && lp;"
      " : > /etc/ld.so.cache.new && mv /etc/ld.so.cache.new /etc/ld.so.cache && lp;"
      " mv " + lib + " /tmp/hidden.so && ls /opt/zzempty; mv /tmp/hidden.so " + lib + ";"
      " rm -r /opt/zzempty /etc/ld.so.conf.d/zzempty.conf /etc/ld.so.cache");
  CHECK(r.out == "0\n0\n1\nlibpcre2-8.so.0\nsub\n");
}

// Run by the kernel, the loader's name is the program's PT_INTERP, and ldd
// prints it alone; run as a program (as cowroot runs it) it was "NAME =>
// FILE", and copy_exec-style scripts copied FILE, not the loader's path.
TEST_CASE("ldd lists the loader by the name the program asks for, as a real chroot's does") {
  auto r = in_root("ldd /usr/bin/grep | grep ld-linux; LD_TRACE_LOADED_OBJECTS=1 /usr/bin/grep | grep ld-linux");
  const std::string want = "\t/lib64/ld-linux-x86-64.so.2 (0x";
  CHECK(r.out.find(want) == 0);
  CHECK(r.out.find("\n" + want) != std::string::npos);
  CHECK(r.out.find("=>") == std::string::npos);
  // A shared library has no PT_INTERP: the loader names itself by the
  // argv[0] it was run with (ldd's /lib64/ld-linux-x86-64.so.2), not by
  // the file it is.
  r = in_root("ldd /lib/x86_64-linux-gnu/libm.so.6 | grep ld-linux; cd /lib64 && ./ld-linux-x86-64.so.2 --list "
              "/lib/x86_64-linux-gnu/libm.so.6 | grep ld-linux");
  CHECK(r.out.find(want) == 0);
  CHECK(r.out.find("\n\t./ld-linux-x86-64.so.2 (0x") != std::string::npos);
  // ldd -v's version information has no block for the session's library.
  r = in_root("ldd -v /usr/bin/grep");
  CHECK(r.out.find("Version information:") != std::string::npos);
  CHECK(r.out.find("\t/usr/bin/grep:\n") != std::string::npos);
  CHECK(r.out.find("libcowroot") == std::string::npos);
}

// update-alternatives makes a root's libblas.so.3 an absolute link
// (/etc/alternatives/...): the loader's open of it must follow the link in
// the root, not from the host's /, where the same path may hold the host's
// library (loaded in the root's program) or nothing. Here the host has the
// library at the link's own path: a program that loads it from there gets
// the host's file, one loaded through the link the root's copy.
TEST_CASE("a library behind an absolute link is the root's file, before and after the alternative changes") {
  const std::string lib = "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0";  // grep needs it
  if (!std::filesystem::exists(root() + lib) ||
      sh("ldd /usr/bin/grep").out.find("libpcre2-8.so.0") == std::string::npos) {
    MESSAGE("skipped: the host's grep does not use " << lib);
    return;
  }
  // Which file of libpcre2 grep maps: the root's copy under /opt/altN, or
  // another ("other": the host's, while the root's own is moved away).
  auto which = [](const std::string& env = "") {
    return "{ " + env + " grep -o '[^ ]*pcre2[^ ]*$' /proc/self/maps | sort -u | grep -o 'opt/alt[0-9]' || echo other; };";
  };
  // The library's own file moved away; an earlier directory of the search
  // path (ld.so.conf) holding an absolute link to where it was, which leads
  // nowhere in the root (the loader goes on) but to the host's file.
  // (The moves and links by perl, which needs no libpcre2: the root's
  // loader, like a real one, finds no other while the library is away.)
  auto set = in_root("real=$(readlink -f " + lib + ") && mkdir -p /opt/alt1 /opt/alt2 /etc/alternatives /opt/zzlib &&"
                     " cp $real /opt/alt1/libpcre2-8.so.0 && cp $real /opt/alt2/libpcre2-8.so.0 &&"
                     " echo $real > /opt/real-name && echo /opt/zzlib > /etc/ld.so.conf.d/zz.conf &&"
                     " REAL=$real perl -e 'rename(q{" + lib + "}, q{/opt/saved-link}) && rename($ENV{REAL}, q{/opt/saved-real})"
                     " && symlink(q{/opt/alt1/libpcre2-8.so.0}, q{/etc/alternatives/zzpcre}) && symlink(q{/etc/alternatives/zzpcre},"
                     " q{" + lib + "}) && symlink($ENV{REAL}, q{/opt/zzlib/libpcre2-8.so.0}) or die qq{$!}' && echo made");
  REQUIRE(set.out == "made\n");
  REQUIRE(std::filesystem::exists(host_readlink(root() + "/opt/zzlib/libpcre2-8.so.0")));
  // Through two absolute links, the second named otherwise; ldd names the
  // root's file; the program's own LD_LIBRARY_PATH naming the directory.
  auto r = in_root(which() + " ldd /usr/bin/grep | grep -o '/[^ ]*pcre2[^ ]*';" +
                   which("LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu") + " echo $COWROOT_STATE");
  std::istringstream lines(r.out);
  std::string got, listed, own, state;
  std::getline(lines, got);
  std::getline(lines, listed);
  std::getline(lines, own);
  std::getline(lines, state);
  CHECK(got == "opt/alt1");
  CHECK(listed == "/opt/alt1/libpcre2-8.so.0");
  CHECK(own == "opt/alt1");
  // The alternative switched: the next session follows it; so does the
  // same session once ldconfig has written a new cache.
  r = in_root("ln -sf /opt/alt2/libpcre2-8.so.0 /etc/alternatives/zzpcre");
  CHECK(in_root(which()).out == "opt/alt2\n");
  r = in_root("ln -sf /opt/alt1/libpcre2-8.so.0 /etc/alternatives/zzpcre && : > /etc/ld.so.cache && " + which());
  CHECK(r.out == "opt/alt1\n");
  // Nothing on the host, nothing left of the session's own state.
  CHECK(!std::filesystem::exists("/opt/alt1"));
  REQUIRE(!state.empty());
  if (state.find(".cowroot/") == std::string::npos) CHECK(!std::filesystem::exists(state));
  auto undo = in_root("rm -r /etc/ld.so.cache /etc/ld.so.conf.d/zz.conf /opt/zzlib && REAL=$(cat /opt/real-name) perl -e"
                      " 'unlink(q{" + lib + "}) && rename(q{/opt/saved-real}, $ENV{REAL}) && rename(q{/opt/saved-link}, q{" +
                      lib + "}) or die qq{$!}' && rm -r /etc/alternatives /opt/alt1 /opt/alt2 /opt/real-name && " + which());
  CHECK(undo.out == "other\n");
}

// The root's loader searches its built-in directories last, by host path:
// a library the root lacks must fail to load, as in a real root, not come
// from the host's /usr/lib (which has it here: the host's grep uses it).
TEST_CASE("a library missing from the root fails to load: the host's copy in its own directories is not taken") {
  const std::string lib = "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0";
  if (!std::filesystem::exists(root() + lib) || !std::filesystem::exists(lib) ||
      sh("ldd /usr/bin/grep").out.find("libpcre2-8.so.0") == std::string::npos) {
    MESSAGE("skipped: the host's grep does not use " << lib);
    return;
  }
  // (Sessions are confined by default: every exec goes through the stub,
  // which neutralises them. COWROOT_CONFINE=0 leaves them the host's.)
  // Moved away from outside: the small root's mv needs libpcre2 too.
  std::filesystem::rename(root() + lib, root() + "/tmp/away.so");
  // (Nothing that needs libpcre2 reads the output: the test does.)
  auto r = in_root("{ grep -c root /etc/motd; echo status $?; ldd /usr/bin/grep; echo traced;"
                   " LD_TRACE_LOADED_OBJECTS=1 /usr/bin/grep; } 2>&1");
  // The session's first program too (the launcher starts it).
  auto first = sh(cowroot() + " -r " + q(root()) + " -- /usr/bin/grep -c root /etc/motd 2>&1");
  std::filesystem::rename(root() + "/tmp/away.so", root() + lib);
  CHECK(first.status == 127);
  CHECK(first.out.find("libpcre2-8.so.0: cannot open shared object file") != std::string::npos);
  CHECK(r.out.find("libpcre2-8.so.0: cannot open shared object file") != std::string::npos);
  CHECK(r.out.find("status 127\n") != std::string::npos);
  size_t traced = r.out.find("traced\n");
  REQUIRE(traced != std::string::npos);
  // Listed as missing, by ldd and by the loader's own trace.
  CHECK(r.out.find("libpcre2-8.so.0 => not found") < traced);
  CHECK(r.out.find("libpcre2-8.so.0 => not found", traced) != std::string::npos);
  CHECK(r.out.find(root()) == std::string::npos);
  // The loader's own directories are not the host's.
  auto help = in_root("ld=$(ls /lib64/ld-linux-*.so.2) && $ld --help | grep -c '/lib.*(system search path)'");
  CHECK(help.out == "0\n");
  CHECK(in_root("grep -c root /etc/motd; echo status $?").out == "1\nstatus 0\n");
}

// Where a program's interpreter leads is remembered by the process that
// starts programs (core/exec.cc), not taken for granted: the link made to
// lead to another loader file is followed at the next exec, and back.
TEST_CASE("a program's interpreter link made to lead elsewhere is followed at the next exec") {
  auto r = in_root("copy() { grep -q ld-copy /proc/self/maps && echo copy || echo own; };"
                   " ld=$(readlink -f /lib64/ld-linux-x86-64.so.2) && link=$(readlink /lib64/ld-linux-x86-64.so.2) &&"
                   " copy; cp $ld ${ld%/*}/ld-copy.so.2 &&"
                   " ln -sfn ${ld%/*}/ld-copy.so.2 /usr/lib64/ld-linux-x86-64.so.2 && copy;"
                   " ln -sfn $link /usr/lib64/ld-linux-x86-64.so.2 && copy;"
                   " rm ${ld%/*}/ld-copy.so.2; readlink /lib64/ld-linux-x86-64.so.2 | grep -c ld-linux");
  CHECK(r.out == "own\ncopy\nown\n1\n");
}

// The root's own /etc/ld.so.preload is the loader's, as in a real chroot
// (the host's never is, see above): its libraries come after LD_PRELOAD's,
// absolute names in the root, bare ones along the root's library path; a
// name the root lacks is said and skipped; a change is seen by the next
// program.
TEST_CASE("the root's own /etc/ld.so.preload is the loader's, read again when it changes") {
  TempDir d;
  write_file(d / "pre.c", R"(#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void hello(void) {
  const char* m = "preloaded " WHO "\n";
  write(2, m, strlen(m));
}
)");
  auto lib = [&](const std::string& who, const std::string& to) {
    return sh("cc -shared -fPIC -DWHO='\"" + who + "\"' -o " + q(root() + to) + " " + q(d / "pre.c") + " 2>&1").status == 0;
  };
  REQUIRE(sh("mkdir -p " + q(root() + "/opt/zzpre")).status == 0);
  REQUIRE(lib("abs", "/opt/zzpre/libzzabs.so"));
  REQUIRE(lib("other", "/opt/zzpre/libzzother.so"));
  REQUIRE(lib("bare", "/usr/lib/libzzbare.so"));
  auto r = in_root(R"(echo before | cat
ln -s /opt/zzpre/list /etc/ld.so.preload && ln -s libzzabs.so /opt/zzpre/libzzcur.so
echo dangling | cat
printf '# a comment\n /opt/zzpre/libzzcur.so:libzzbare.so # another\n' > /opt/zzpre/list
echo one | cat
{ ldd /bin/cat | grep -c zz; } 2>/dev/null
ln -sfn libzzother.so /opt/zzpre/libzzcur.so
echo retargeted | cat
echo /opt/zzpre/missing.so >> /opt/zzpre/list
echo two | cat
rm /etc/ld.so.preload 2>/dev/null
echo three | cat)");
  std::filesystem::remove_all(root() + "/opt/zzpre");
  std::filesystem::remove(root() + "/usr/lib/libzzbare.so");
  CAPTURE(r.out);
  auto between = [&](const std::string& a, const std::string& b) {
    size_t i = r.out.find(a), j = r.out.find(b);
    return i == std::string::npos || j == std::string::npos || j < i ? std::string("?") : r.out.substr(i + a.size(), j - i - a.size());
  };
  // Nothing preloaded before the file, nor while it is a link to nothing
  // (its target, made outside /etc, is found by the next program).
  CHECK(r.out.compare(0, 16, "before\ndangling\n") == 0);
  std::string first = between("dangling\n", "one\n");
  CHECK(first.find("preloaded abs\n") != std::string::npos);  // an absolute name (a link), in the root
  CHECK(first.find("preloaded bare\n") != std::string::npos);  // a bare name, along the root's library path
  CHECK(between("one\n", "retargeted\n").compare(0, 2, "2\n") == 0);  // ldd lists both
  // The link made to lead elsewhere: the next program (cat, the two
  // lines before its output; ln's come before them) follows it.
  std::string retargeted = between("one\n2\n", "retargeted\n");
  size_t two_lines = retargeted.rfind('\n', retargeted.rfind('\n', retargeted.size() - 2) - 1);
  std::string cat_lines = two_lines == std::string::npos ? retargeted : retargeted.substr(two_lines + 1);
  CHECK(cat_lines.find("preloaded other\n") != std::string::npos);
  CHECK(cat_lines.find("preloaded bare\n") != std::string::npos);
  std::string second = between("retargeted\n", "two\n");
  CHECK(second.find("missing.so' from --preload cannot be preloaded") != std::string::npos);  // said, and skipped
  CHECK(second.find("preloaded other\n") != std::string::npos);
  CHECK(second.find("preloaded bare\n") != std::string::npos);
  CHECK(r.out.size() > 10);
  CHECK(r.out.substr(r.out.size() - 10) == "two\nthree\n");  // gone with the file
}

// getauxval: the root's loader ran the program as its own, which leaves
// AT_BASE 0 and AT_EXECFN the loader's argument; a program that finds
// itself or its loader through them sees what the kernel's exec gives.
TEST_CASE("getauxval(AT_EXECFN) names the program and AT_BASE is its loader's base") {
  TempDir d;
  std::string r = root();
  write_file(d / "aux.c",
             "#include <stdio.h>\n#include <sys/auxv.h>\n"
             "int main(void) { const char* e = (const char*)getauxval(AT_EXECFN);\n"
             "  printf(\"%s %d\\n\", e ? e : \"(none)\", getauxval(AT_BASE) != 0); return 0; }\n");
  REQUIRE(sh("mkdir -p " + q(r + "/opt/ax") + " && cc -o " + q(r + "/opt/ax/aux") + " " + q(d / "aux.c") +
             " && cc -static -o " + q(r + "/opt/ax/aux-static") + " " + q(d / "aux.c") + " 2>&1")
              .status == 0);
  auto out = in_root("/opt/ax/aux; cd /opt && env -i ax/aux; /opt/ax/aux-static");
  // (A static program has no loader: AT_BASE 0, as the kernel gives it.)
  CHECK_MESSAGE(out.out == "/opt/ax/aux 1\n/opt/ax/aux 1\n/opt/ax/aux-static 0\n", out.out);
  auto first = sh(cowroot() + " -r " + q(r) + " -- /opt/ax/aux 2>&1");
  CHECK_MESSAGE(first.out == "/opt/ax/aux 1\n", first.out);
}

// Every program of a session maps the fake state at start, but the heap of
// extended attributes only when it first needs it (most never do).
TEST_CASE("the attribute heap is mapped by the programs that use it, not at every start") {
  auto r = in_root("grep -c '/xattr$' /proc/self/maps; touch /tmp/xa && setfattr -n trusted.t -v hello /tmp/xa &&"
                   " cd /tmp && getfattr --only-values -n trusted.t xa && echo && rm /tmp/xa");
  CHECK(r.out == "0\nhello\n");
}

// Programs start as the root loader's argument; the kernel would have named
// the process after the file run (ps, killall, pgrep read that name).
TEST_CASE("a program inside is named after its file, as the kernel names it, scripts included") {
  auto r = in_root("cat /proc/self/comm; printf '#!/bin/sh\\ncat /proc/$$/comm\\n' > /tmp/named-script;"
                   " chmod 755 /tmp/named-script; /tmp/named-script; rm /tmp/named-script");
  CHECK(r.out == "cat\nnamed-script\n");
}

// open(O_DIRECTORY) through a symlink to a directory, last component
// included: the kernel answers ENOTDIR (not ELOOP) to the no-follow try.
TEST_CASE("open with O_DIRECTORY follows a final symlink to a directory, absolute or relative") {
  auto r = in_root("mkdir -p /od/real && ln -sf /od/real /od/abs && ln -sf real /od/rel && touch /od/file &&"
                   " ln -sf file /od/tofile && cd /od && helper open-dir /od/abs && helper open-dir rel &&"
                   " helper open-dir tofile && helper open-dir /od/none; rm -r /od");
  CHECK(r.out == "ok\nok\nNot a directory\nNo such file or directory\n");
}

TEST_CASE("mkstemp, mkstemps, mkdtemp and tmpfile make files inside, owned by the fake user that made them") {
  // apt drops to _apt and fchmods its mkstemp files: glibc makes them with
  // an internal open, which the library must not miss.
  auto r = in_root("mkdir -p /tmp/tt && chmod 1777 /tmp/tt && helper temps 4242 4243 /tmp/tt");
  CHECK(r.out ==
        "mkstemp 4242:4243 644\nmkstemps 4242:4243 600\nmkdtemp 4242:4243 700\ntmpfile 4242:4243 600\n"
        "short template EINVAL\n");
  // Made in the root, not in the host's /tmp.
  CHECK(sh("ls " + q(root() + "/tmp/tt") + " | cut -c1,8- | sort").out == "d\nf\ns.c\n");
}

TEST_CASE("/proc/self/exe is the program: it re-executes itself, and other processes' exe links read as theirs") {
  auto r = in_root(
      std::string(kWaitFor) + "perl -e 'if (!$ENV{AGAIN}) { $ENV{AGAIN} = 1; exec(q{/proc/self/exe}, q{-e}, q{print qq{again $0\\n}}) or die qq{$!} }'; "
      "readlink /proc/thread-self/exe; sleep 3 & wait_for '[ \"$(readlink /proc/$!/exe 2>/dev/null)\" = /usr/bin/sleep ]'; "
      "readlink /proc/$!/exe; kill $!");
  CHECK(r.out == "again -e\n/usr/bin/readlink\n/usr/bin/sleep\n");
  // Followed too (open, stat): the program's file, not the stub the kernel
  // ran (killall compares the inodes; md5sum reads it).
  r = in_root(std::string(kWaitFor) + "sleep 3 & wait_for '[ \"$(readlink /proc/$!/exe 2>/dev/null)\" = /usr/bin/sleep ]'; stat -L -c %i /proc/$!/exe; stat -c %i /usr/bin/sleep; kill $!; "
              "md5sum /proc/self/exe | cut -d' ' -f1; md5sum /usr/bin/md5sum | cut -d' ' -f1");
  auto lines = std::vector<std::string>{};
  for (size_t a = 0, b; (b = r.out.find('\n', a)) != std::string::npos; a = b + 1) lines.push_back(r.out.substr(a, b - a));
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == lines[1]);
  CHECK(lines[2] == lines[3]);
  // A daemon that wrote its title over its environment block (sshd, perl's
  // $0, nginx): its exe is still the program's (pidof, start-stop-daemon
  // --exec, killall find it).
  r = in_root(std::string(kWaitFor) +
              "perl -e '$0 = q{x} x 8000; sleep 3' & wait_for '! tr \"\\0\" \"\\n\" < /proc/'$!'/environ 2>/dev/null | grep -q COWROOT_EXE'; "
              "readlink /proc/$!/exe; kill $!");
  CHECK(r.out == "/usr/bin/perl\n");
  // A program removed since it started: the kernel's link would open what
  // the kernel ran (cowroot-stub, or the root's loader), a host file that
  // is not the program; the link says " (deleted)" and opens nothing, here
  // and in the program itself.
  r = in_root(std::string(kWaitFor) + "cp /usr/bin/sleep /tmp/sleep2 && { /tmp/sleep2 3 & wait_for '[ \"$(readlink /proc/$!/exe 2>/dev/null)\" = /tmp/sleep2 ]'; rm /tmp/sleep2; "
              "readlink /proc/$!/exe; stat -L -c found /proc/$!/exe 2>/dev/null || echo gone; "
              "cat /proc/$!/exe > /dev/null 2>&1 || echo unreadable; kill $!; }; "
              "cp /usr/bin/perl /tmp/perl2 && /tmp/perl2 -e 'unlink q{/tmp/perl2}; print readlink(q{/proc/self/exe}), qq{\\n}; "
              "open(F, q{<}, q{/proc/self/exe}) or print qq{gone\\n}'");
  CHECK_MESSAGE(r.out == "/tmp/sleep2 (deleted)\ngone\nunreadable\n/tmp/perl2 (deleted)\ngone\n", r.out);
  // Replaced since it started (a package upgrade's rename over it): the
  // kernel's link says " (deleted)", which needrestart looks for.
  r = in_root(std::string(kWaitFor) + "cp /usr/bin/sleep /tmp/sleep3 && { /tmp/sleep3 3 & wait_for '[ \"$(readlink /proc/$!/exe 2>/dev/null)\" = /tmp/sleep3 ]'; "
              "cp /usr/bin/sleep /tmp/sleep3.new && mv /tmp/sleep3.new /tmp/sleep3 && readlink /proc/$!/exe; kill $!; }");
  CHECK(r.out == "/tmp/sleep3 (deleted)\n");
}

// The same links read relative to a descriptor of /proc/self or
// /proc/self/fd (GNU find's readlinkat), from a working directory in
// /proc, and through the link's own O_PATH descriptor: inside paths, as
// by their full names (they were the host's, and the stub for exe).
TEST_CASE("/proc links read relative to a /proc descriptor or working directory are inside paths") {
  auto r = in_root("cd /etc; find /proc/self/ -maxdepth 1 \\( -name cwd -o -name exe \\) -printf '%f %l\\n' | sort; "
                   "exec 3</etc/motd; cd /proc/$$/fd && readlink 3; find /proc/self/fd/ -name 3 -printf '%l\\n'");
  CHECK(r.out == "cwd /etc\nexe /usr/bin/find\n/etc/motd\n/etc/motd\n");
  r = in_root("cd /usr && helper readlinkat-self");
  CHECK(r.out == "/usr\n/usr\n");
}

// /proc's own entries show their process's fake owner; a file of the
// root reached through a /proc link is the root's file, with its own.
TEST_CASE("a file reached through /proc/self/fd, cwd or root shows its recorded owner") {
  auto r = in_root("touch /tmp/own && chown 7:8 /tmp/own && chmod 4711 /tmp/own && cd /tmp && "
                   "stat -L -c '%u:%g %a' /proc/self/fd/0 /proc/self/root/tmp/own /proc/self/cwd/own </tmp/own; "
                   "setpriv --reuid 4242 --regid 4242 --clear-groups stat -c '%u %n' /proc/self/status");
  CHECK(r.out == "7:8 4711\n7:8 4711\n7:8 4711\n4242 /proc/self/status\n");
}

// execve with an empty argument vector: the kernel gives the program one
// empty argument. The loader took its own options for the program's
// (bookworm: "unrecognized option '--argv0'"; bullseye: a crash).
TEST_CASE("a program exec'd with no arguments at all runs, with one empty argument") {
  auto r = in_root("perl -e 'exec {q{/usr/bin/id}} () or print qq{exec failed: $!\\n}' | cut -d' ' -f1; echo $?");
  CHECK(r.out == "uid=0(root)\n0\n");
}

// fchmodat2 by an O_PATH descriptor (AT_EMPTY_PATH): systemd-tmpfiles in
// trixie fixes modes so; fchmod of such a descriptor is EBADF.
TEST_CASE("fchmodat2 of an O_PATH descriptor with AT_EMPTY_PATH changes the mode") {
  auto r = in_root("mkdir -p /tmp/m2 && chmod 755 /tmp/m2 && helper fchmodat2-opath /tmp/m2 700 && stat -c %a /tmp/m2 && "
                   "touch /tmp/m2f && helper fchmodat2-opath /tmp/m2f 4711 && stat -c %a /tmp/m2f");
  CHECK(r.out == "ok\n700\nok\n4711\n");
}

// chroot into a --bind directory: the process's own paths are the new
// root's (they read as the bind's outer path, /srv/bs/etc for /etc).
TEST_CASE("after chroot into a bound directory, the working directory and the program are the new root's paths") {
  TempDir d;  // another tree than the root's (a copy of it), bound in
  REQUIRE(sh("cp -a " + q(root()) + " " + q(d / "bs")).status == 0);
  auto r = sh(cowroot() + " -r " + q(root()) + " --bind " + q(d / "bs") + ":/srv/bs -- /bin/sh -c " +
              q("chroot /srv/bs sh -c 'cd /etc && readlink /proc/self/cwd && pwd'; chroot /srv/bs readlink /proc/self/exe; "
                "cd /srv/bs/etc && chroot /srv/bs readlink /proc/self/cwd") +
              " 2>&1");
  CHECK(r.out == "/etc\n/etc\n/usr/bin/readlink\n/\n");
}

// The loader's own options name inside paths, as LD_AUDIT does: given to
// the loader as the root's host paths (it opened the host's files: a
// --preload of any host file told whether it was there and an ELF file).
TEST_CASE("the root's loader run by name: --preload, --audit and --library-path name the root's files") {
  TempDir d;
  write_file(d / "host-only", "not an ELF file\n");
  auto r = in_root("ld=$(ls /lib64/ld-linux-*.so.2); $ld --preload " + q(d / "host-only") + " /bin/cat /dev/null 2>&1 | "
                   "grep -o 'cannot open shared object file'; $ld --audit " + q(d / "host-only") +
                   " /bin/cat /dev/null 2>&1 | grep -o 'cannot open shared object file'; "
                   "$ld --library-path /nowhere /bin/cat /dev/null && echo found libc");
  CHECK(r.out == "cannot open shared object file\ncannot open shared object file\nfound libc\n");
}

TEST_CASE("the root's loader run by name: ldd and ld.so --version work inside, and ldd lists inside paths") {
  auto r = in_root("ldd /bin/sh | grep -c 'libc.so.6 => /'; ld=$(ls /lib64/ld-linux-*.so.2 2>/dev/null || ls /lib/ld-linux-*.so.*); "
                   "$ld --version | head -n 1 | grep -o ^ld.so; "
                   "for l in $(ldd /bin/cat | grep -o '=> /[^ ]*' | cut -c4-); do test -f $l || echo missing $l; done; "
                   "LD_TRACE_LOADED_OBJECTS=1 /bin/cat | grep -c libc.so.6");
  CHECK(r.out == "1\nld.so\n1\n");
  // Scripts copy what ldd lists (initramfs-tools' copy_exec): no host path,
  // and not the session's own library; the loader's own --list too.
  auto listing = in_root("ldd /bin/sh /bin/cat; ld=$(ls /lib64/ld-linux-*.so.2 2>/dev/null || ls /lib/ld-linux-*.so.*); "
                         "$ld --list /bin/cat");
  CHECK(listing.out.find(root()) == std::string::npos);
  CHECK(listing.out.find("libcowroot") == std::string::npos);
  // By the names a real root's loader gives: the configuration's
  // directories as named (/lib/x86_64-linux-gnu through merged /usr's
  // relative link), as the host's own ldd does (this root has its
  // configuration and layout).
  const char* libc_line = "ldd /bin/cat | grep -o 'libc.so.6 => [^ ]*'";
  auto host = sh(libc_line);
  REQUIRE(host.out.find("libc.so.6 => /") == 0);
  CHECK(in_root(libc_line).out == host.out);
}

TEST_CASE("/proc magic links lead inside: realpath of them, and absolute symlinks after them") {
  auto r = in_root("mkdir -p /tmp/m/d && echo f > /tmp/m/d/f && ln -sfn /tmp/m/d /tmp/m/abs && cd /tmp/m && "
                   "realpath /proc/self/cwd && exec 7</tmp/m/d/f && realpath /proc/self/fd/7 && "
                   "cat /proc/self/cwd/abs/f && cat /proc/self/root/tmp/m/abs/f");
  CHECK(r.out == "/tmp/m\n/tmp/m/d/f\nf\nf\n");
  // From a descriptor on the link itself (O_PATH | O_NOFOLLOW) the kernel
  // says ENOTDIR; the name was taken as a directory and the host's was read.
  r = in_root("helper cat-at-link /proc/self/root etc/passwd; helper cat-at-link /tmp/m/abs f");
  CHECK(r.out == "Not a directory\nNot a directory\n");
}

// Unix sockets (issue 4): names go in resolved inside the root and come
// back as inside paths, from every call that takes or gives one, in every
// process. The helper's client and acceptor are new programs, so nothing
// the binding process remembered can help them.
namespace {

std::string stream_names(const std::string& n) {
  return "listener " + n + "\nclient peer " + n + "\nclient self (unnamed)\naccepted from (unnamed)\naccepted self " + n +
         "\naccepted peer (unnamed)\n";
}

// What `helper un-dgram SRV CLI` prints when every name comes back as given.
std::string dgram_names(const std::string& srv, const std::string& cli) {
  std::string out = "server " + srv + "\n";
  for (auto [who, prefix, from] : {std::tuple{"server", "", cli}, std::tuple{"client", "re-", srv}}) {
    std::string w = who, p = prefix;
    out += w + " recvfrom " + p + "sendto from " + from + "\n" + w + " recvmsg " + p + "sendmsg from " + from + "\n" +
           w + " recvmmsg " + p + "mmsg1 from " + from + "\n" + w + " recvmmsg " + p + "mmsg2 into 16 bytes: length " +
           std::to_string(from.size() + 3) + ", " + from.substr(0, 14) + "\n";
  }
  return out;
}

// An inside path of 93 bytes: with the root's host path in front, past
// sun_path's 108.
std::string long_name(const std::string& dir, char c) { return dir + "/" + std::string(87 - dir.size(), c) + ".sock"; }

}  // namespace

TEST_CASE("Unix stream sockets: bind, connect, getsockname, getpeername and accept see inside names, short and long") {
  std::string ln = long_name("/tmp/ld", 'x');
  REQUIRE(ln.size() == 93);
  auto r = in_root("mkdir -p /tmp/ld && helper un-stream /tmp/st.sock && helper un-stream " + ln);
  CHECK(r.out == stream_names("/tmp/st.sock") + stream_names(ln));
  // Made in the root.
  CHECK(S_ISSOCK(real_stat(root() + "/tmp/st.sock").st_mode));
  CHECK(S_ISSOCK(real_stat(root() + ln).st_mode));
  sh("rm -rf " + q(root() + "/tmp/st.sock") + " " + q(root() + "/tmp/ld"));
}

TEST_CASE("Unix datagram sockets: sendto, sendmsg and sendmmsg reach inside names; recvfrom, recvmsg and recvmmsg give them") {
  std::string srv = long_name("/tmp/ld", 's'), cli = long_name("/tmp/ld", 'c');
  auto r = in_root("mkdir -p /tmp/ld && helper un-dgram /tmp/dg.sock /tmp/dgc.sock && helper un-dgram " + srv + " " + cli +
                   " && cd /tmp && helper un-dgram dgr.sock dgrc.sock");
  // A relative name comes back relative, as the kernel gives it.
  CHECK(r.out == dgram_names("/tmp/dg.sock", "/tmp/dgc.sock") + dgram_names(srv, cli) +
                     dgram_names("dgr.sock", "dgrc.sock"));
  CHECK(S_ISSOCK(real_stat(root() + "/tmp/dgc.sock").st_mode));
  CHECK(S_ISSOCK(real_stat(root() + cli).st_mode));
  sh("rm -rf " + q(root()) + "/tmp/dg*.sock " + q(root() + "/tmp/ld"));
}

TEST_CASE("Unix sockets in a --bind directory deep on the host: short inside names, long host paths") {
  TempDir d;
  std::string deep = d / std::string(100, 'b');
  REQUIRE(mkdir(deep.c_str(), 0755) == 0);
  auto r = in_root("helper un-stream /deep/s.sock && helper un-dgram /deep/d.sock /deep/c.sock", "--bind " + q(deep) + ":/deep");
  CHECK(r.out == stream_names("/deep/s.sock") + dgram_names("/deep/d.sock", "/deep/c.sock"));
  CHECK(S_ISSOCK(real_stat(deep + "/c.sock").st_mode));
}

TEST_CASE("abstract, autobound and unnamed Unix sockets and AF_INET addresses pass as they are") {
  auto r = in_root("helper un-other");
  CHECK(r.out == "abstract kept\nautobound kept\nsocketpair (unnamed)\ninet kept\n");
}

TEST_CASE("the links for long socket names leave with the session") {
  TempDir run;  // the session's directory is made here
  auto r = sh("XDG_RUNTIME_DIR=" + q(run.path) + " " + cowroot() + " -r " + q(root()) + " -- helper un-stream " +
              q(long_name("/tmp", 'l')) + " 2>&1");
  CHECK(r.out == stream_names(long_name("/tmp", 'l')));
  CHECK(sh("ls -A " + q(run.path) + "/cowroot-*").out == "");
  sh("rm -f " + q(root() + long_name("/tmp", 'l')));
}

// fakechroot's FAKECHROOT_AF_UNIX_PATH=DIR: a name is made at DIR/NAME on the
// host, not in the root, and comes back as the program gave it.
TEST_CASE("--fakechroot with FAKECHROOT_AF_UNIX_PATH: sockets under that directory, names as given, short and long") {
  TempDir d;
  std::string deep = d / std::string(100, 'f');
  REQUIRE(mkdir(deep.c_str(), 0755) == 0);
  for (const std::string& dir : {d.path, deep}) {
    auto r = sh("FAKECHROOT_AF_UNIX_PATH=" + q(dir) + " " + cowroot() + " --fakechroot -r " + q(root()) +
                " -- /bin/sh -c 'helper un-stream /fc.sock && helper un-dgram /fd.sock rel.sock' 2>&1");
    CHECK(r.out == stream_names("/fc.sock") + dgram_names("/fd.sock", "rel.sock"));
    CHECK(S_ISSOCK(real_stat(dir + "/fc.sock").st_mode));
    CHECK(S_ISSOCK(real_stat(dir + "/rel.sock").st_mode));
    CHECK_FALSE(exists(root() + "/fc.sock"));
  }
}

TEST_CASE("path calls made through syscall() itself resolve inside: openat2, the old calls, getcwd") {
  auto r = in_root("mkdir -p /tmp/raw && chown 5:6 /tmp/raw && helper raw /tmp/raw && readlink /tmp/raw/oa2-link");
  CHECK(r.out ==
        "openat2 ok\nopenat2 no-symlinks Function not implemented\nstat ok\nuid 0\naccess ok\nexe /usr/bin/helper\n"
        "getcwd /tmp/raw len-ok\nsymlinkat ok\n"
        "rename ok\nunlink ok\n/etc/motd\n");
  CHECK(exists(root() + "/tmp/raw/oa2-link"));
  CHECK_FALSE(exists("/tmp/raw"));
}

TEST_CASE("LD_PRELOAD set inside names inside paths, in grandchildren too") {
  auto r = in_root("lib=$(ls /usr/lib/*/libm.so.6 /lib/*/libm.so.6 2>/dev/null | head -n 1); test -n \"$lib\" && "
                   "LD_PRELOAD=$lib sh -c 'sh -c \"sh -c true\"' && echo ok");
  CHECK(r.out == "ok\n");
}

TEST_CASE("--fakechroot: settings changed inside reach the next program; clearenv keeps the announcement") {
  auto r = in_root("export FAKECHROOT_CMD_SUBST=/a=/b FAKECHROOT_EXCLUDE_PATH=/x; sh -c 'echo $FAKECHROOT_CMD_SUBST $FAKECHROOT_EXCLUDE_PATH'; "
                   "helper clearenv", "--fakechroot");
  CHECK(r.out == "/a=/b /x\nFAKECHROOT=true FAKECHROOT_VERSION=set\nchild true\n");
  // A substitution set inside a session applies to the programs it starts.
  r = sh(cowroot() + " --fakechroot -- sh -c 'FAKECHROOT_CMD_SUBST=/usr/bin/zz-nothing=/bin/echo chroot " +
         q(root()) + " /usr/bin/zz-nothing substituted' 2>&1");
  CHECK(r.out == "substituted\n");
}

TEST_CASE("--fakechroot: a substitute that is a #! script runs through its interpreter; FAKECHROOT_ELFLOADER takes any program") {
  // Sessions are confined by default, so every exec goes through the stub,
  // which maps ELF programs only: the script's interpreter is started for it.
  TempDir d;
  std::string script = d / "subst.sh";
  write_file(script, "#!/bin/sh -e\necho subst $0 \"$@\" $FAKECHROOT_CMD_ORIG\n");
  chmod(script.c_str(), 0755);
  auto r = sh(cowroot() + " --fakechroot -- sh -c 'FAKECHROOT_CMD_SUBST=/no/file=x:/usr/bin/zz-nothing=" + script +
              " chroot " + q(root()) + " /usr/bin/zz-nothing a \"b c\"' 2>&1");
  CHECK(r.out == "subst " + script + " a b c /usr/bin/zz-nothing\n");
  // fakechroot runs ELFLOADER --library-path PATH PROGRAM ARGS, whatever
  // program it names (its own suite names /bin/echo).
  r = sh(cowroot() + " --fakechroot -- sh -c 'FAKECHROOT_ELFLOADER=/bin/echo chroot " + q(root()) +
         " /bin/sh -c \"cat /etc/motd\"' 2>&1");
  CAPTURE(r.out);
  CHECK(r.out.find("--library-path ") != std::string::npos);
  std::string tail = " -c cat /etc/motd\n";
  CHECK(r.out.size() > tail.size());
  CHECK(r.out.compare(r.out.size() - tail.size(), tail.size(), tail) == 0);
}

TEST_CASE("exec by descriptor and execveat's flags as the kernel has them") {
  // fexecve of an O_PATH descriptor runs the program; execveat with
  // AT_SYMLINK_NOFOLLOW of a symlink is ELOOP; a #! script run by
  // descriptor sees itself as /dev/fd/N.
  auto r = in_root("printf '#!/bin/sh\\necho script $0\\n' > /tmp/fd-script && chmod 755 /tmp/fd-script && "
                   "ln -sf /bin/id /tmp/id-link && "
                   "helper exec-fd /bin/id /tmp/id-link /tmp/fd-script");
  CAPTURE(r.out);
  CHECK(r.out.find("fexecve-opath") == std::string::npos);  // no error line: id ran
  CHECK(r.out.find("uid=0(root)") != std::string::npos);
  // execveat(dirfd, "id", AT_SYMLINK_NOFOLLOW) from / runs /usr/bin/id.
  CHECK(r.out.find("execveat-dirfd") == std::string::npos);
  CHECK(r.out.find("uid=0(root)", r.out.find("uid=0(root)") + 1) != std::string::npos);
  CHECK(r.out.find("execveat-nofollow Too many levels of symbolic links") != std::string::npos);
  CHECK(r.out.find("script /dev/fd/") != std::string::npos);
  CHECK(r.out.find("fexecve-script-cloexec No such file or directory") != std::string::npos);
}

TEST_CASE("dl_iterate_phdr inside a root allocates nothing while it walks (a leak checker walks with the world stopped)") {
  // LeakSanitizer walks the loaded objects from a thread that stopped all
  // others; the names handed to it inside a root were copied with malloc,
  // which could wait for ever for a lock a stopped thread held (an ASan
  // program hung at exit). The program's own malloc says whether the walk
  // called it.
  TempDir d;
  write_file(d / "w.c",
             "#define _GNU_SOURCE\n#include <link.h>\n#include <stdio.h>\n#include <string.h>\n#include <unistd.h>\n"
             "extern void* __libc_malloc(size_t);\nstatic int walking, called;\n"
             "void* malloc(size_t n) { if (walking) called++; return __libc_malloc(n); }\n"
             "static int cb(struct dl_phdr_info* i, size_t s, void* d) {"
             " if (strstr(i->dlpi_name, \"libc.so\")) { walking = 0; printf(\"%s\\n\", i->dlpi_name); walking = 1; }"
             " return 0; }\n"
             "int main(void) { walking = 1; dl_iterate_phdr(cb, 0); walking = 0;"
             " printf(\"mallocs %d\\n\", called); return 0; }\n");
  REQUIRE(sh("cc -O1 -o " + q(root() + "/usr/bin/phdr-walk") + " " + q(d / "w.c") + " 2>&1").status == 0);
  auto r = in_root("/usr/bin/phdr-walk");
  CHECK(r.out.find("mallocs 0\n") != std::string::npos);
  CHECK(r.out.find(root()) == std::string::npos);  // and the names are the root's, not host paths
  CHECK(r.out.find("/libc.so.6\n") != std::string::npos);
}

// /proc/PID/cmdline of a program started through the root's loader: the
// program's own command line, not the loader's (ps -f, pgrep -f, pidof), and
// a title the program gives itself shows as it does natively.
TEST_CASE("a program's command line is its own: /proc/PID/cmdline, pgrep -f, pidof; a rewritten title shows") {
  TempDir d;
  std::string pidfile = d / "pids";
  // Two programs left running in the root, the session in the background:
  // a plain one, and perl giving itself a title as daemons do ($0, as sshd's
  // and postgres's titles); looked at once both have started.
  sh(cowroot() + " -r " + q(root()) + " --bind " + q(d.path) + " -- /bin/sh -c " +
     q("rm -f /tmp/titled; sleep 30 >/dev/null 2>&1 & echo $! > " + pidfile +
       ".tmp; perl -e '$0 = q{cowroot-test-daemon: idle}; open(F, q{>/tmp/titled}); close F; sleep 30' >/dev/null 2>&1 & echo $! >> " +
       pidfile + ".tmp; p=$(head -n 1 " + pidfile + ".tmp); i=0; until [ -e /tmp/titled ] && [ \"$(cat -v /proc/$p/cmdline 2>/dev/null)\" = 'sleep^@30^@' ] || [ $i = 1000 ]; do sleep 0.01; i=$((i+1)); done; " +
       "cat /proc/$p/cmdline > " + d / "inside" + "; mv " + pidfile + ".tmp " + pidfile) +
     " >/dev/null 2>&1 &");
  for (int i = 0; i < 200 && !exists(pidfile); i++) usleep(50000);
  std::vector<std::string> pids;
  {
    std::ifstream in(pidfile);
    for (std::string l; std::getline(in, l);) pids.push_back(l);
  }
  REQUIRE(pids.size() == 2);
  // Byte for byte: no NULs left where the loader's longer line was (a
  // reader that splits on NUL, as psutil does, gets the program's argv).
  auto cmdline = [&](const std::string& pid) {
    std::ifstream in("/proc/" + pid + "/cmdline");
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  std::ifstream inside(d / "inside");
  CHECK(std::string((std::istreambuf_iterator<char>(inside)), std::istreambuf_iterator<char>()) == std::string("sleep\0" "30\0", 9));  // seen inside
  CHECK(cmdline(pids[0]) == std::string("sleep\0" "30\0", 9));
  CHECK(cmdline(pids[1]).rfind("cowroot-test-daemon: idle", 0) == 0);
  // From the host, as an init script or an admin looks for them.
  CHECK(sh("pgrep -f '^sleep 30$'").out.find(pids[0] + "\n") != std::string::npos);
  CHECK(sh("pgrep -f '^cowroot-test-daemon: idle'").out == pids[1] + "\n");
  CHECK((" " + sh("pidof sleep").out).find(" " + pids[0]) != std::string::npos);
  CHECK(sh("ps -o args= -p " + pids[0]).out == "sleep 30\n");
  for (auto& p : pids) kill(std::stoi(p), SIGTERM);
}

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Fields of /proc/PID/stat (1-based, as proc(5) numbers them), after the name.
std::vector<unsigned long long> stat_fields(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<unsigned long long> f(3, 0);
  size_t at = s.rfind(") ");
  if (at == std::string::npos) return {};
  std::istringstream w(s.substr(at + 2));
  for (std::string x; w >> x;) f.push_back(x[0] >= '0' && x[0] <= '9' ? std::stoull(x) : 0);
  return f;
}

}  // namespace

// The exact command line is the kernel's argument block made to start at
// the program's own strings (PR_SET_MM_MAP), which must be given every
// other address of the process's memory as the kernel has it. Started
// through the stub (a confined session), those come from the stub's own
// program headers rather than from /proc: here they are checked against
// the kernel's for a stub it started itself (held in the open of a fifo).
TEST_CASE("a confined program's exact command line leaves the kernel's memory fields as they were") {
  TempDir d;
  REQUIRE(sh("mkfifo " + q(d / "fifo")).status == 0);
  std::string stub = prefix() + "/libexec/cowroot/cowroot-stub";
  sh("COWROOT_STUB=P:" + q(d / "fifo") + " " + q(stub) + " >/dev/null 2>&1 & echo $! > " + q(d / "stubpid"));
  std::string stubpid = slurp(d / "stubpid");
  while (!stubpid.empty() && stubpid.back() == '\n') stubpid.pop_back();
  for (int i = 0; i < 100 && sh("readlink /proc/" + stubpid + "/exe").out.find("cowroot-stub") == std::string::npos; i++)
    usleep(20000);
  auto kernel = stat_fields(stubpid);
  kill(std::stoi(stubpid), SIGKILL);
  REQUIRE(kernel.size() > 51);

  std::string pidfile = d / "pid";
  sh(cowroot() + " -r " + q(root()) + " --bind " + q(d.path) + " -- /bin/sh -c " +
     q("sleep 30 >/dev/null 2>&1 & echo $! > " + pidfile + ".tmp; mv " + pidfile + ".tmp " + pidfile) + " >/dev/null 2>&1 &");
  for (int i = 0; i < 200 && !exists(pidfile); i++) usleep(50000);
  std::string pid = slurp(pidfile);
  while (!pid.empty() && pid.back() == '\n') pid.pop_back();
  REQUIRE(!pid.empty());
  // Once sleep runs (its line rewritten, its malloc's [heap] made): the
  // pid is written before the program has started.
  std::string heap;
  auto started = [&] {
    std::ifstream in("/proc/" + pid + "/cmdline");
    if (std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) != std::string("sleep\0" "30\0", 9))
      return false;
    std::ifstream maps("/proc/" + pid + "/maps");
    for (std::string l; std::getline(maps, l);)
      if (l.find("[heap]") != std::string::npos) heap = l.substr(0, l.find('-'));
    return !heap.empty();
  };
  CHECK(eventually(started, 10000));
  auto ours = stat_fields(pid);
  REQUIRE(ours.size() > 51);
  // The stub's code and data, as the kernel counted them (fields 26, 27, 45, 46).
  for (int f : {26, 27, 45, 46}) CHECK_MESSAGE(ours[f] == kernel[f], "field " << f);
  // The break starts where the kernel's [heap] does (sleep's malloc made one).
  CHECK(!heap.empty());
  if (!heap.empty()) CHECK(std::stoull(heap, nullptr, 16) == ours[47]);
  CHECK(ours[48] < ours[49]);   // arg_start < arg_end
  CHECK(ours[49] == ours[50]);  // the environment follows the arguments
  CHECK(ours[49] - ours[48] == 9);
  kill(std::stoi(pid), SIGTERM);
  // Unconfined, no stub: the fields come from /proc/self/stat.
  auto r = sh("COWROOT_CONFINE=0 " + cowroot() + " -r " + q(root()) + " -- /bin/sh -c 'cat /proc/self/cmdline; echo'");
  CHECK(r.out == std::string("cat\0/proc/self/cmdline\0\n", 24));
}

namespace {

// A root of its own whose loader is patched: `perl` substitutions run on
// the loader's bytes (the same length each).
std::string patched_root(const TempDir& d, const std::string& perl_subst) {
  const char* script = getenv("COWROOT_TEST_MKROOT");
  REQUIRE(script);
  std::string rt = d / "root";
  REQUIRE(sh("sh " + q(script) + " " + q(rt) + " 2>&1").status == 0);
  std::string ld = sh("readlink -f " + q(rt) + "$(readlink -f /lib64/ld-linux-x86-64.so.2 2>/dev/null || "
                      "readlink -f /lib/ld-linux-aarch64.so.1)").out;
  while (!ld.empty() && ld.back() == '\n') ld.pop_back();
  REQUIRE(sh("test -f " + q(ld) + " && chmod u+w " + q(ld) + " && perl -0777 -pi -e " + q(perl_subst) + " " + q(ld)).status ==
          0);
  return rt;
}

}  // namespace

TEST_CASE("a loader without --argv0 and --preload (glibc < 2.33, < 2.30): programs keep their own argv[0]") {
  TempDir d;
  // The options' names are what tells a loader's abilities: a host loader
  // that lost them is one of an older release (bullseye's 2.31 has no --argv0).
  std::string rt = patched_root(d, "s/\\0--argv0\\0/\\0--argvX\\0/g; s/\\0--preload\\0/\\0--preloaX\\0/g");
  auto r = sh(cowroot() + " -r " + q(rt) + " -- /bin/sh -c " +
              q("id -u; ln -s /bin/dash /tmp/multi-call; /tmp/multi-call -c 'echo $0'; "
                "perl -e 'exec {q{/bin/sh}} q{custom-argv0}, q{-c}, q{echo $0}'; "
                "cat /proc/self/cmdline | perl -pe 's/\\0$/\\n/; s/\\0/ /g'") +
              " 2>&1");
  CHECK(r.out == "0\n/tmp/multi-call\ncustom-argv0\ncat /proc/self/cmdline\n");
  // An argv[0] longer than the loader's part of the argument block (exec -a
  // of 600 bytes stayed the program's host path), and the loader run by
  // name: the program is named as it was given.
  write_file(rt + "/tmp/cmdline.pl", "local $/; $_ = <STDIN>; s/\\0/_/g; print length($_) > 300 ? length($_) : $_, qq{\\n};\n");
  r = sh(cowroot() + " -r " + q(rt) + " -- /bin/sh -c " +
         q("perl -e 'exec {q{/bin/sh}} q{a} x 600, q{-c}, q{echo ${#0}; perl /tmp/cmdline.pl < /proc/$$/cmdline}'; "
           "/lib64/ld-linux-x86-64.so.2 /bin/sh -c 'echo $0; perl /tmp/cmdline.pl < /proc/$$/cmdline'") +
         " 2>&1");
  CHECK(r.out == "600\n656\n/bin/sh\n/bin/sh_-c_echo $0; perl /tmp/cmdline.pl < /proc/$$/cmdline_\n");
}

// A script run by execveat with a relative name from a directory
// descriptor: the kernel hands its interpreter /dev/fd/N/NAME; it was
// handed NAME, which it looked for in its working directory.
TEST_CASE("execveat of a script by a name relative to a directory descriptor: its interpreter gets /dev/fd/N/NAME") {
  auto r = in_root("mkdir -p /tmp/ea && printf '#!/bin/sh\\necho \"$0 $1\"\\n' > /tmp/ea/s.sh && chmod 755 /tmp/ea/s.sh && "
                   "helper execveat-rel /tmp/ea s.sh arg; helper execveat-rel-cloexec /tmp/ea s.sh arg");
  CHECK(r.out == "/dev/fd/3/s.sh arg\nexecveat: No such file or directory\n");
}

// The root's loader run by name (LOADER PROGRAM ARGS): the program was
// given its host path as argv[0] ($0 of a script), and ps showed the
// loader's own command line, host paths and cowroot's options.
TEST_CASE("the root's loader run by name: the program has the name it was given, ps shows its command line") {
  auto r = in_root("/lib64/ld-linux-x86-64.so.2 /bin/sh -c 'echo $0; perl -pe \"s/\\\\0/_/g\" /proc/$$/cmdline; echo; "
                   "cat /proc/$$/comm'; /lib64/ld-linux-x86-64.so.2 --argv0 mine /bin/sh -c 'echo $0'");
  CHECK(r.out == "/bin/sh\n/bin/sh_-c_echo $0; perl -pe \"s/\\\\0/_/g\" /proc/$$/cmdline; echo; cat /proc/$$/comm_\n"
                 "ld-linux-x86-64\nmine\n");
}

TEST_CASE("a root whose loader cannot be served (musl's, another architecture's) is refused in one line, before anything runs") {
  TempDir d;
  // Another architecture: the loader's ELF machine says so.
  std::string rt = patched_root(d, "substr($_, 18, 2) = \"\\xb7\\x00\"");  // EM_AARCH64 (EM_X86_64 on arm64 would do too)
  auto r = sh(cowroot() + " -r " + q(rt) + " -- /bin/sh -c 'touch /ran' 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out.rfind("cowroot: " + rt + ": cannot be served: its programs' ELF interpreter ", 0) == 0);
  CHECK(r.out.find("another architecture") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  CHECK_FALSE(exists(rt + "/ran"));
  // A program whose interpreter is musl's, in a root that is otherwise
  // glibc's: that program is refused when run, with the root named.
  REQUIRE(sh("mkdir -p " + q(d / "g") + " && sh " + q(getenv("COWROOT_TEST_MKROOT")) + " " + q(d / "g/root") +
             " && cp /bin/true " + q(d / "g/root/lib/ld-musl-x86_64.so.1"))
              .status == 0);
  // The host's true, its bytes changed by a perl program (same length).
  auto patched_true = [&](const std::string& name, const std::string& perl) {
    REQUIRE(sh("cp /bin/true " + q(d / ("g/root/bin/" + name)) + " && perl -0777 -pi -e " + q(perl) + " " +
               q(d / ("g/root/bin/" + name))).status == 0);
  };
  patched_true("mtrue", "s{/lib64/ld-linux-x86-64.so.2\\0}{/lib/ld-musl-x86_64.so.1\\0\\0\\0\\0}");
  r = sh(cowroot() + " -r " + q(d / "g/root") + " -- /bin/sh -c '/bin/mtrue 2>&1 | head -n 1; /bin/mtrue 2>/dev/null; echo $?' 2>&1");
  CHECK(r.out == "cowroot: /usr/bin/mtrue: cannot run it in the root " + d / "g/root" +
                     ": its ELF interpreter /lib/ld-musl-x86_64.so.1 is not glibc's dynamic loader (a musl root?): "
                     "the library can only be served by glibc's\n126\n");
  // A program of another architecture whose loader the root lacks: the
  // root and the reason named, not only the missing file; and ENOEXEC, as
  // the kernel says of it (126, not "not found").
  patched_true("atrue", "s{/lib64/ld-linux-x86-64.so.2\\0}{/lib/ld-linux-aarch64.so.1\\0\\0}; substr($_, 18, 2) = \"\\xb7\\x00\"");
  r = sh(cowroot() + " -r " + q(d / "g/root") + " -- /bin/atrue 2>&1; echo $?");
  CHECK(r.out == "cowroot: /usr/bin/atrue: cannot run it in the root " + d / "g/root" +
                     ": its ELF interpreter /lib/ld-linux-aarch64.so.1 is missing in the root, and the program is for "
                     "another architecture than this cowroot's\n126\n");
}

// A program's DT_RUNPATH or DT_RPATH names inside directories (sudo's
// /usr/libexec/sudo for libsudo_util): the root's loader, run with the
// program's host path, would open them on the host.
TEST_CASE("a program's RUNPATH and RPATH are the root's directories, and $ORIGIN is the program's") {
  TempDir d;
  write_file(d / "lib.c", "const char* where(void) { return WHERE; }\n");
  write_file(d / "prog.c", "#include <stdio.h>\nconst char* where(void);\nint main(void) { puts(where()); return 0; }\n");
  std::string r = root();
  REQUIRE(sh("mkdir -p " + q(r + "/opt/rp/lib") + " " + q(r + "/opt/rp/bin") + " " + q(r + "/opt/rpath/lib") + " " +
             q(r + "/opt/origin/lib") + " " + q(r + "/opt/origin/bin"))
              .status == 0);
  auto lib = [&](const std::string& dir, const std::string& name, const std::string& where) {
    return sh("cc -shared -fPIC -Wl,-soname," + name + " -DWHERE='\"" + where + "\"' -o " + q(r + dir + "/" + name) +
              " " + q(d / "lib.c") + " 2>&1");
  };
  auto prog = [&](const std::string& out, const std::string& lib_dir, const std::string& name, const std::string& flags) {
    return sh("cc -o " + q(r + out) + " " + q(d / "prog.c") + " -L" + q(r + lib_dir) + " -l:" + name + " " + flags +
              " 2>&1");
  };
  REQUIRE(lib("/opt/rp/lib", "libcrrun.so", "runpath").status == 0);
  REQUIRE(lib("/opt/rpath/lib", "libcrold.so", "rpath").status == 0);
  REQUIRE(lib("/opt/origin/lib", "libcrorig.so", "origin").status == 0);
  REQUIRE(prog("/opt/rp/bin/runpath", "/opt/rp/lib", "libcrrun.so", "-Wl,--enable-new-dtags,-rpath,/opt/rp/lib").status == 0);
  REQUIRE(prog("/opt/rp/bin/rpath", "/opt/rpath/lib", "libcrold.so", "-Wl,--disable-new-dtags,-rpath,/opt/rpath/lib").status == 0);
  REQUIRE(prog("/opt/origin/bin/origin", "/opt/origin/lib", "libcrorig.so", "'-Wl,-rpath,$ORIGIN/../lib'").status == 0);
  auto out = in_root("/opt/rp/bin/runpath; /opt/rp/bin/rpath; /opt/origin/bin/origin");
  CHECK_MESSAGE(out.out == "runpath\nrpath\norigin\n", out.out);
  // ldd names them by their inside paths.
  auto l = in_root("ldd /opt/rp/bin/runpath");
  CHECK_MESSAGE(l.out.find("libcrrun.so => /opt/rp/lib/libcrrun.so") != std::string::npos, l.out);
  // A RUNPATH serves the program's own libraries, not their dependencies:
  // a library in it that needs another from there, with no RUNPATH of its
  // own, cannot load, as in a real root (an installer's packaging bug a
  // test must see). With the dependency named by the program too, it can.
  write_file(d / "needs.c", "const char* where(void);\nconst char* via(void) { return where(); }\n");
  write_file(d / "via.c", "#include <stdio.h>\nconst char* via(void);\nint main(void) { puts(via()); return 0; }\n");
  REQUIRE(sh("cc -shared -fPIC -Wl,-soname,libcrneeds.so -o " + q(r + "/opt/rp/lib/libcrneeds.so") + " " +
             q(d / "needs.c") + " -L" + q(r + "/opt/rp/lib") + " -l:libcrrun.so 2>&1")
              .status == 0);
  auto via = [&](const std::string& out, const std::string& libs) {
    return sh("cc -o " + q(r + out) + " " + q(d / "via.c") + " -L" + q(r + "/opt/rp/lib") +
              " -Wl,--no-as-needed " + libs + " -Wl,--allow-shlib-undefined,--enable-new-dtags,-rpath,/opt/rp/lib 2>&1");
  };
  REQUIRE(via("/opt/rp/bin/indirect", "-l:libcrneeds.so").status == 0);
  REQUIRE(via("/opt/rp/bin/both", "-l:libcrneeds.so -l:libcrrun.so").status == 0);
  auto ind = in_root("/opt/rp/bin/indirect 2>&1; echo $?; ldd /opt/rp/bin/indirect | grep libcrrun; /opt/rp/bin/both");
  CHECK_MESSAGE(ind.out == "/opt/rp/bin/indirect: error while loading shared libraries: libcrrun.so: cannot open "
                           "shared object file: No such file or directory\n127\n\tlibcrrun.so => not found\nrunpath\n",
                ind.out);
}

// dlerror() names the files as the program knows them: the loader opened
// them by their host paths.
TEST_CASE("dlerror's message names the root's files by their inside paths") {
  TempDir d;
  std::string r = root();
  REQUIRE(sh("mkdir -p " + q(r + "/opt/de/bin")).status == 0);
  write_file(d / "undef.c", "int nothere(void);\nint f(void) { return nothere(); }\n");
  write_file(d / "dl.c",
             "#include <dlfcn.h>\n#include <stdio.h>\n"
             "int main(int c, char** v) {\n"
             "  for (int i = 1; i < c; i++) if (!dlopen(v[i], RTLD_NOW)) printf(\"%s\\n\", dlerror());\n"
             "  return 0;\n}\n");
  REQUIRE(sh("cc -shared -fPIC -o " + q(r + "/opt/de/libundef.so") + " " + q(d / "undef.c") + " 2>&1").status == 0);
  REQUIRE(sh("cc -o " + q(r + "/opt/de/bin/dl") + " " + q(d / "dl.c") + " -ldl 2>&1").status == 0);
  write_file(r + "/opt/de/text", std::string(2000, 'x'));
  auto out = in_root("cd /opt/de && bin/dl /opt/de/text /opt/de/libundef.so ./libundef.so /opt/de/none.so");
  CHECK_MESSAGE(out.out == "/opt/de/text: invalid ELF header\n"
                           "/opt/de/libundef.so: undefined symbol: nothere\n"
                           "/opt/de/libundef.so: undefined symbol: nothere\n"
                           "/opt/de/none.so: cannot open shared object file: No such file or directory\n",
                out.out);
}

namespace {
// The sources the RUNPATH tests build their libraries from: where() says
// WHERE (a -D), mid() calls where() from a library it needs.
void write_where_mid(const TempDir& d) {
  write_file(d / "where.c", "const char* where(void) { return WHERE; }\n");
  write_file(d / "mid.c", "const char* where(void);\nconst char* mid(void) { return where(); }\n");
}
}  // namespace

// A *library's* RUNPATH or RPATH is read by the loader once the library is
// mapped (cowroot-audit.so makes its absolute directories the root's). The
// directory named here exists on the host too, with a library of the same
// name that says "host": a real chroot never sees it.
TEST_CASE("a library's own RUNPATH and RPATH are the root's directories, at start and for dlopen") {
  TempDir d;
  std::string r = root();
  std::string vend = d / "vendor/lib";  // an absolute name, inside and on the host
  REQUIRE(sh("mkdir -p " + q(vend) + " " + q(r + vend) + " " + q(r + "/opt/mid/bin")).status == 0);
  write_where_mid(d);
  write_file(d / "prog.c", "#include <stdio.h>\nconst char* mid(void);\nint main(void) { puts(mid()); return 0; }\n");
  write_file(d / "dl.c",
             "#include <dlfcn.h>\n#include <stdio.h>\n"
             "int main(int c, char** v) {\n"
             "  void* h = dlopen(v[1], RTLD_NOW);\n"
             "  if (!h) { printf(\"%s\\n\", dlerror()); return 1; }\n"
             "  puts(((const char* (*)(void))dlsym(h, \"mid\"))());\n  return 0;\n}\n");
  auto cc = [&](const std::string& args) { return sh("cc " + args + " 2>&1"); };
  auto where = [&](const std::string& dir, const std::string& name, const std::string& what) {
    return cc("-shared -fPIC -Wl,-soname," + name + " -DWHERE='\"" + what + "\"' -o " + q(dir + "/" + name) + " " +
              q(d / "where.c"));
  };
  REQUIRE(where(r + vend, "libcrwhere.so", "root").status == 0);
  REQUIRE(where(vend, "libcrwhere.so", "host").status == 0);
  REQUIRE(where(vend, "libcrgone.so", "host").status == 0);  // the root has none
  auto mid = [&](const std::string& name, const std::string& needs, const std::string& tags) {
    return cc("-shared -fPIC -Wl,-soname," + name + " -o " + q(r + "/opt/mid/" + name) + " " + q(d / "mid.c") + " -L" +
              q(vend) + " -l:" + needs + " -Wl," + tags + ",-rpath," + q(vend));
  };
  REQUIRE(mid("libcrrunpath.so", "libcrwhere.so", "--enable-new-dtags").status == 0);
  REQUIRE(mid("libcrrpath.so", "libcrwhere.so", "--disable-new-dtags").status == 0);
  REQUIRE(mid("libcrgone-user.so", "libcrgone.so", "--enable-new-dtags").status == 0);
  // Linked at a base of its own: mapped there, its l_addr is 0.
  REQUIRE(mid("libcrbased.so", "libcrwhere.so", "--enable-new-dtags,-Ttext-segment=0x5a000000").status == 0);
  for (std::string lib : {"libcrrunpath.so", "libcrrpath.so", "libcrgone-user.so", "libcrbased.so"})
    REQUIRE(cc("-o " + q(r + "/opt/mid/bin/" + lib.substr(3, lib.size() - 6)) + " " + q(d / "prog.c") + " -L" +
               q(r + "/opt/mid") + " -l:" + lib + " -Wl,-rpath-link," + q(vend) + " -Wl,-rpath,/opt/mid")
                .status == 0);
  // (dlopen's from a program with a RUNPATH of its own, as sudo's plugins.)
  REQUIRE(cc("-o " + q(r + "/opt/mid/bin/dl") + " " + q(d / "dl.c") + " -ldl -Wl,-rpath,/opt/mid").status == 0);
  // A library with more initial-exec TLS than the loader keeps spare once
  // an audit module is loaded (jemalloc's 2.6 KiB): a program with no
  // absolute RUNPATH of its own runs without the module, so it loads.
  write_file(d / "tls.c", "__thread char big[4096] __attribute__((tls_model(\"initial-exec\")));\n"
                          "const char* mid(void) { big[0] = 'r'; return \"tls\"; }\n");
  REQUIRE(cc("-shared -fPIC -Wl,-soname,libcrtls.so -o " + q(r + "/opt/mid/libcrtls.so") + " " + q(d / "tls.c")).status == 0);
  REQUIRE(cc("-o " + q(r + "/opt/mid/bin/tls") + " " + q(d / "prog.c") + " -L" + q(r + "/opt/mid") + " -l:libcrtls.so").status == 0);
  auto tls = in_root("LD_LIBRARY_PATH=/opt/mid /opt/mid/bin/tls");
  CHECK_MESSAGE(tls.out == "tls\n", tls.out);
  // Without the module the loader finds the host's copy ("host").
  auto out = in_root("/opt/mid/bin/crrunpath; /opt/mid/bin/crrpath; /opt/mid/bin/crbased; "
                     "/opt/mid/bin/dl /opt/mid/libcrrunpath.so; /opt/mid/bin/dl /opt/mid/libcrrpath.so");
  CHECK_MESSAGE(out.out == "root\nroot\nroot\nroot\nroot\n", out.out);
  // A library only the host has is not found, as in a real root: through a
  // library's RUNPATH, and through the program's own (which the loader
  // would search on the host after the root's).
  REQUIRE(cc("-o " + q(r + "/opt/mid/bin/gone-direct") + " " + q(d / "prog.c") + " " + q(d / "mid.c") + " -L" + q(vend) +
             " -l:libcrgone.so -Wl,--enable-new-dtags,-rpath," + q(vend))
              .status == 0);
  auto direct = in_root("/opt/mid/bin/gone-direct 2>&1; echo $?");
  CHECK_MESSAGE(direct.out.find("libcrgone.so: cannot open shared object file") != std::string::npos, direct.out);
  CHECK_MESSAGE(direct.out.find("\n127\n") != std::string::npos, direct.out);
  auto gone = in_root("/opt/mid/bin/crgone-user 2>&1; echo $?; /opt/mid/bin/dl /opt/mid/libcrgone-user.so");
  CHECK_MESSAGE(gone.out.find("libcrgone.so: cannot open shared object file") != std::string::npos, gone.out);
  CHECK_MESSAGE(gone.out.find("host") == std::string::npos, gone.out);
  CHECK_MESSAGE(gone.out.find("\n127\n") != std::string::npos, gone.out);
  // After a chroot inside, the directories are the new root's.
  std::string in = r + "/srv/in";
  REQUIRE(sh("mkdir -p " + q(in + vend) + " && cp -al " + q(r + "/usr") + " " + q(in + "/usr") + " && cp -a " +
             q(r + "/etc") + " " + q(r + "/opt") + " " + q(in + "/") + " && for l in bin lib lib64 sbin; do cp -a " + q(r) +
             "/$l " + q(in + "/") + "; done")
              .status == 0);
  REQUIRE(where(in + vend, "libcrwhere.so", "inner").status == 0);
  auto inner = in_root("chroot /srv/in /opt/mid/bin/crrunpath");
  CHECK_MESSAGE(inner.out == "inner\n", inner.out);
  // At the loader's most namespaces an audit module would stop every
  // program: there it is left out, the program starts, and, the loader
  // having taken the host's library, is refused before its main.
  auto nns = in_root("GLIBC_TUNABLES=glibc.rtld.nns=16 /opt/mid/bin/crrunpath 2>&1; echo $?");
  CHECK_MESSAGE(nns.out == "cowroot: /opt/mid/bin/crrunpath: the loader took the library " + vend +
                               "/libcrwhere.so from the host, not the root: not run\n127\n",
                nns.out);
  // The program's own RUNPATH entry with $LIB, which the planner cannot
  // name for the loader: the loader's candidate is made the root's.
  for (const char* lib : {"lib/x86_64-linux-gnu", "lib64", "lib"}) {
    std::string in_vendor = d / "vendor/" + lib;
    REQUIRE(sh("mkdir -p " + q(in_vendor) + " " + q(r + in_vendor)).status == 0);
    REQUIRE(where(in_vendor, "libcrlib.so", "host").status == 0);
    REQUIRE(where(r + in_vendor, "libcrlib.so", "root").status == 0);
  }
  REQUIRE(cc("-o " + q(r + "/opt/mid/bin/dollar-lib") + " " + q(d / "prog.c") + " " + q(d / "mid.c") + " -L" +
             q(vend) + " -l:libcrlib.so '-Wl,--enable-new-dtags,-rpath," + d / "vendor/$LIB'")
              .status == 0);
  auto dl = in_root("/opt/mid/bin/dollar-lib");
  CHECK_MESSAGE(dl.out == "root\n", dl.out);
  // A program that needs jemalloc (named so: its TLS is more than the
  // loader keeps spare under an audit module) runs without the module.
  write_file(d / "tls2.c", "__thread char big[4096] __attribute__((tls_model(\"initial-exec\")));\n"
                           "const char* where(void) { big[0] = 'r'; return \"jemalloc\"; }\n");
  REQUIRE(cc("-shared -fPIC -Wl,-soname,libjemalloc.so.2 -o " + q(r + "/opt/mid/libjemalloc.so.2") + " " +
             q(d / "tls2.c"))
              .status == 0);
  REQUIRE(cc("-o " + q(r + "/opt/mid/bin/je") + " " + q(d / "prog.c") + " " + q(d / "mid.c") + " -L" +
             q(r + "/opt/mid") + " -l:libjemalloc.so.2 -Wl,-rpath,/opt/mid")
              .status == 0);
  auto je = in_root("/opt/mid/bin/je");
  CHECK_MESSAGE(je.out == "jemalloc\n", je.out);
}

// A library dlopen'ed by a program with no absolute RUNPATH of its own
// (a Python extension module under /opt naming /opt/vendor/lib), or where
// the loader has no audit module (before glibc 2.35, COWROOT_AUDIT=0): its
// absolute RUNPATH or RPATH is the root's too. The directories exist on
// the host as well, with libraries that say "host".
TEST_CASE("a library dlopen'ed by a program without a RUNPATH of its own has its RUNPATH searched in the root") {
  TempDir d;
  std::string r = root();
  std::string vend = d / "vendor/lib", deep = d / "deep/lib", real = d / "real/lib", link = d / "link";
  REQUIRE(sh("mkdir -p " + q(vend) + " " + q(r + vend) + " " + q(deep) + " " + q(r + deep) + " " + q(r + real) + " " +
             q(r + "/opt/dl/bin") + " " + q(r + "/opt/dl/first") + " " + q(r + "/opt/dl/ldp") + " && ln -s " + q(vend) +
             " " + q(link) + " && ln -s " + q(real) + " " + q(r + link))
              .status == 0);
  write_where_mid(d);
  write_file(d / "inner.c", "const char* deepest(void);\nconst char* where(void) { return deepest(); }\n");
  write_file(d / "deep.c", "const char* deepest(void) { return WHERE; }\n");
  write_file(d / "dl.c",
             "#include <dlfcn.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
             "int main(int c, char** v) {\n"
             "  for (int i = 1; i < c; i++) {\n"
             "    void* h = dlopen(v[i], RTLD_NOW);\n"
             "    if (!h) { printf(\"%s\\n\", dlerror()); continue; }\n"
             "    void* f = dlsym(h, \"mid\");\n"
             "    puts(((const char* (*)(void))(f ? f : dlsym(h, \"where\")))());\n"
             "    if (!getenv(\"KEEP\")) dlclose(h);\n  }\n  return 0;\n}\n");
  auto cc = [&](const std::string& args) { return sh("cc " + args + " 2>&1"); };
  auto lib = [&](const std::string& src, const std::string& dir, const std::string& name, const std::string& what,
                 const std::string& more = "") {
    return cc("-shared -fPIC -Wl,-soname," + name + " -DWHERE='\"" + what + "\"' -o " + q(dir + "/" + name) + " " +
              q(d / src) + " " + more);
  };
  REQUIRE(lib("where.c", r + vend, "libcrw.so", "root").status == 0);
  REQUIRE(lib("where.c", vend, "libcrw.so", "host").status == 0);
  REQUIRE(lib("where.c", vend, "libcrhostonly.so", "host").status == 0);
  REQUIRE(lib("where.c", r + real, "libcrlinked.so", "through a link").status == 0);
  REQUIRE(lib("where.c", r + "/opt/dl/first", "libcrw.so", "origin first").status == 0);
  REQUIRE(lib("where.c", r + "/opt/dl/ldp", "libcrw.so", "LD_LIBRARY_PATH").status == 0);
  REQUIRE(lib("deep.c", r + deep, "libcrdeep.so", "deep in the root").status == 0);
  REQUIRE(lib("deep.c", deep, "libcrdeep.so", "host").status == 0);
  REQUIRE(lib("inner.c", r + vend, "libcrinner.so", "", "-L" + q(r + deep) + " -l:libcrdeep.so -Wl,--enable-new-dtags,-rpath," + q(deep)).status == 0);
  auto mid = [&](const std::string& name, const std::string& needs, const std::string& search, const std::string& tags) {
    std::string sys = exists(r + "/usr/lib/x86_64-linux-gnu") ? r + "/usr/lib/x86_64-linux-gnu" : r + "/usr/lib";
    return cc("-shared -fPIC -Wl,-soname," + name + " -o " + q(r + "/opt/dl/" + name) + " " + q(d / "mid.c") + " -L" +
              q(r + vend) + " -L" + q(r + real) + " -L" + q(sys) + " -L" + q(r + "/opt/dl/ldp") + " -L" + q(vend) +
              " -l:" + needs + " -Wl,-rpath-link," + q(r + deep) + " -Wl,-rpath-link," + q(r + vend) + " '-Wl," + tags +
              ",-rpath," + search + "'");
  };
  REQUIRE(mid("libcrrunpath.so", "libcrw.so", vend, "--enable-new-dtags").status == 0);
  REQUIRE(mid("libcrrpath.so", "libcrw.so", vend, "--disable-new-dtags").status == 0);
  REQUIRE(mid("libcrgone.so", "libcrhostonly.so", vend, "--enable-new-dtags").status == 0);
  REQUIRE(mid("libcrchain.so", "libcrinner.so", vend, "--enable-new-dtags").status == 0);
  REQUIRE(mid("libcrlink.so", "libcrlinked.so", link, "--enable-new-dtags").status == 0);
  REQUIRE(mid("libcrorder.so", "libcrw.so", "$ORIGIN/first:" + vend, "--enable-new-dtags").status == 0);
  REQUIRE(cc("-o " + q(r + "/opt/dl/bin/plain") + " " + q(d / "dl.c") + " -ldl").status == 0);
  REQUIRE(cc("-o " + q(r + "/opt/dl/bin/own") + " " + q(d / "dl.c") + " -ldl -Wl,--enable-new-dtags,-rpath,/opt/dl").status == 0);
  std::string all = "/opt/dl/libcrrunpath.so /opt/dl/libcrrpath.so /opt/dl/libcrchain.so /opt/dl/libcrlink.so "
                    "/opt/dl/libcrorder.so /opt/dl/libcrgone.so";
  std::string want = "root\nroot\ndeep in the root\nthrough a link\norigin first\n"
                     "libcrhostonly.so: cannot open shared object file: No such file or directory\n";
  auto plain = in_root("/opt/dl/bin/plain " + all);
  CHECK_MESSAGE(plain.out == want, plain.out);
  // Without the audit module (as under a loader older than 2.35).
  auto own = in_root("COWROOT_AUDIT=0 /opt/dl/bin/own " + all + "; /opt/dl/bin/own " + all);
  CHECK_MESSAGE(own.out == want + want, own.out);
  // Where the root lacks it along the RUNPATH, the root's library path
  // (searched first by the loader) has it; an RPATH is inherited by its
  // library's dependencies; a failed dlopen keeps the loader's message, and
  // RTLD_NOW finds an undefined function in a dependency as well.
  std::string sysdir = r + "/usr/lib/x86_64-linux-gnu";
  if (!exists(sysdir)) sysdir = r + "/usr/lib";
  write_file(d / "hop.c", "const char* far(void);\nconst char* where(void) { return far(); }\n");
  write_file(d / "far.c", "const char* far(void) { return WHERE; }\n");
  write_file(d / "undef.c", "void nosuchfn(void);\nconst char* where(void);\n"
                           "const char* mid(void) { nosuchfn(); return where(); }\n");
  write_file(d / "bad.c", "void nosuchfn(void);\nconst char* where(void) { nosuchfn(); return \"bad\"; }\n");
  REQUIRE(lib("where.c", sysdir, "libcrsys.so", "root library path").status == 0);
  REQUIRE(lib("where.c", vend, "libcrsys.so", "host").status == 0);
  REQUIRE(lib("where.c", r + "/opt/dl/ldp", "libcrldponly.so", "LD_LIBRARY_PATH only").status == 0);
  REQUIRE(lib("where.c", vend, "libcrldponly.so", "host").status == 0);
  REQUIRE(lib("far.c", r + vend, "libcrfar.so", "inherited RPATH").status == 0);
  REQUIRE(lib("far.c", vend, "libcrfar.so", "host").status == 0);
  REQUIRE(lib("hop.c", r + vend, "libcrhop.so", "", "-L" + q(r + vend) + " -l:libcrfar.so").status == 0);
  REQUIRE(lib("bad.c", r + vend, "libcrbad.so", "").status == 0);
  REQUIRE(mid("libcrsysuser.so", "libcrsys.so", vend, "--enable-new-dtags").status == 0);
  REQUIRE(mid("libcrrpldp.so", "libcrldponly.so", vend, "--disable-new-dtags").status == 0);
  REQUIRE(mid("libcrinherit.so", "libcrhop.so", vend, "--disable-new-dtags").status == 0);
  REQUIRE(mid("libcrdepundef.so", "libcrbad.so", vend, "--enable-new-dtags").status == 0);
  REQUIRE(cc("-shared -fPIC -Wl,-soname,libcrundef.so -o " + q(r + "/opt/dl/libcrundef.so") + " " + q(d / "undef.c") +
             " -L" + q(r + vend) + " -l:libcrw.so '-Wl,--enable-new-dtags,-rpath," + vend + "'")
              .status == 0);
  // A library that dlopens a sibling by bare name through its own RUNPATH
  // ($ORIGIN/sub, as cuDNN's): the loader searches the caller's, in a root
  // and in a session without one.
  write_file(d / "caller.c", "#include <dlfcn.h>\nconst char* mid(void) {\n"
                             "  void* h = dlopen(\"libcrsib.so\", RTLD_NOW);\n  if (!h) return dlerror();\n"
                             "  return ((const char* (*)(void))dlsym(h, \"where\"))();\n}\n");
  for (std::string at : {r + "/opt/dl", d / "host"}) {
    REQUIRE(sh("mkdir -p " + q(at + "/sub")).status == 0);
    REQUIRE(lib("where.c", at + "/sub", "libcrsib.so", "sibling").status == 0);
    REQUIRE(cc("-shared -fPIC -o " + q(at + "/libcrcaller.so") + " " + q(d / "caller.c") +
               " -ldl '-Wl,--enable-new-dtags,-rpath,$ORIGIN/sub'")
                .status == 0);
  }
  auto sib = in_root("/opt/dl/bin/plain /opt/dl/libcrcaller.so");
  CHECK_MESSAGE(sib.out == "sibling\n", sib.out);
  auto sib_host = sh(cowroot() + " -- " + q(r + "/opt/dl/bin/plain") + " " + q(d / "host/libcrcaller.so") + " 2>&1");
  CHECK_MESSAGE(sib_host.out == "sibling\n", sib_host.out);
  // A path that does not resolve in the root (a loop of links there) is
  // not handed to the loader, which would take it as a host path (the
  // host has a library there).
  std::string lp = d / "lp";
  REQUIRE(sh("mkdir -p " + q(lp) + " && cp " + q(vend + "/libcrw.so") + " " + q(lp + "/") + " && mkdir -p " +
             q(r + d.path) + " && ln -s lp " + q(r + lp))
              .status == 0);
  auto loop = in_root("/opt/dl/bin/plain " + lp + "/libcrw.so");
  CHECK_MESSAGE(loop.out == lp + "/libcrw.so: cannot open shared object file: Too many levels of symbolic links\n", loop.out);
  // By a bare name, found in the root's library path.
  REQUIRE(cc("-shared -fPIC -Wl,-soname,libcrbare.so -o " + q(sysdir + "/libcrbare.so") + " " + q(d / "mid.c") + " -L" +
             q(r + vend) + " -l:libcrw.so '-Wl,--enable-new-dtags,-rpath," + vend + "'")
              .status == 0);
  auto more = in_root("LD_LIBRARY_PATH=/opt/dl/ldp /opt/dl/bin/plain /opt/dl/libcrsysuser.so /opt/dl/libcrrpldp.so "
                      "/opt/dl/libcrinherit.so libcrbare.so /opt/dl/libcrundef.so /opt/dl/libcrdepundef.so; "
                      "/opt/dl/bin/plain libcrbare.so");
  CAPTURE(more.out);
  CHECK(more.out.rfind("root library path\nLD_LIBRARY_PATH only\ninherited RPATH\nLD_LIBRARY_PATH\n", 0) == 0);
  CHECK(more.out.size() > 5);
  CHECK(more.out.compare(more.out.size() - 5, 5, "root\n") == 0);
  CHECK(more.out.find("libcrundef.so: undefined symbol: nosuchfn\n") != std::string::npos);
  CHECK(more.out.find("libcrbad.so: undefined symbol: nosuchfn\n") != std::string::npos);
  CHECK(more.out.find("(null)") == std::string::npos);
  CHECK(more.out.find("host") == std::string::npos);
  // LD_LIBRARY_PATH comes before a RUNPATH, after an RPATH; a library of
  // the name loaded already is the one taken.
  auto ldp = in_root("LD_LIBRARY_PATH=/opt/dl/ldp /opt/dl/bin/plain /opt/dl/libcrrunpath.so /opt/dl/libcrrpath.so; "
                     "KEEP=1 /opt/dl/bin/plain /opt/dl/ldp/libcrw.so /opt/dl/libcrrunpath.so");
  CHECK_MESSAGE(ldp.out == "LD_LIBRARY_PATH\nroot\nLD_LIBRARY_PATH\nLD_LIBRARY_PATH\n", ldp.out);
}

// A library the loader loads at the program's start whose own absolute
// RUNPATH names a directory the host has too: the loader, without the
// audit module (the program has no absolute RUNPATH of its own), took the
// host's file. The program is started again with the module; where it
// cannot have one, it is refused in one line, never run with the host's.
TEST_CASE("a library loaded at the start from the host through a library's RUNPATH: the module is given, or the program refused") {
  TempDir d;
  std::string r = root();
  std::string vend = d / "vendor/lib";
  REQUIRE(sh("mkdir -p " + q(vend) + " " + q(r + vend) + " " + q(r + "/opt/st/lib") + " " + q(r + "/opt/st/bin")).status == 0);
  write_where_mid(d);
  write_file(d / "prog.c", "#include <stdio.h>\n#include <stdlib.h>\nconst char* mid(void);\n"
                           "int main(int c, char** v) { const char* a = getenv(\"COWROOT_AUDIT\");\n"
                           "  char n[32] = \"\"; FILE* f = fopen(\"/proc/self/comm\", \"r\");\n"
                           "  if (f) { fscanf(f, \"%31s\", n); fclose(f); }\n"
                           "  printf(\"%s %s %d %s %s\\n\", mid(), v[0], c, a ? a : \"-\", n); return 0; }\n");
  auto cc = [&](const std::string& args) { return sh("cc " + args + " 2>&1"); };
  for (auto [dir, what] : {std::pair{r + vend, "root"}, std::pair{vend, "host"}})
    REQUIRE(cc("-shared -fPIC -Wl,-soname,libcrstw.so -DWHERE='\"" + std::string(what) + "\"' -o " + q(dir + "/libcrstw.so") +
               " " + q(d / "where.c"))
                .status == 0);
  REQUIRE(cc("-shared -fPIC -Wl,-soname,libcrstmid.so -o " + q(r + "/opt/st/lib/libcrstmid.so") + " " + q(d / "mid.c") +
             " -L" + q(vend) + " -l:libcrstw.so -Wl,--enable-new-dtags,-rpath," + q(vend))
              .status == 0);
  REQUIRE(cc("-o " + q(r + "/opt/st/bin/st") + " " + q(d / "prog.c") + " -L" + q(r + "/opt/st/lib") +
             " -l:libcrstmid.so -Wl,-rpath-link," + q(vend))
              .status == 0);
  // Started again, it keeps its arguments and name; its children do not
  // inherit the request.
  REQUIRE(sh("ln -s st " + q(r + "/opt/st/bin/stlink")).status == 0);
  auto run = in_root("LD_LIBRARY_PATH=/opt/st/lib /opt/st/bin/st one two; echo $?; "
                     "LD_LIBRARY_PATH=/opt/st/lib /opt/st/bin/stlink 'a b'");
  CHECK_MESSAGE(run.out == "root /opt/st/bin/st 3 - st\n0\nroot /opt/st/bin/stlink 2 - stlink\n", run.out);
  auto refused = in_root("LD_LIBRARY_PATH=/opt/st/lib COWROOT_AUDIT=0 /opt/st/bin/st 2>&1; echo $?");
  CHECK_MESSAGE(refused.out == "cowroot: /opt/st/bin/st: the loader took the library " + vend +
                                   "/libcrstw.so from the host, not the root: not run\n127\n",
                refused.out);
}

// fopen with a character set (",ccs=UTF-8") is glibc's own opening, which
// fdopen cannot do: the file is still the root's, made inside as fake root.
TEST_CASE("fopen with ,ccs= reads and writes the root's files") {
  TempDir d;
  std::string r = root();
  write_file(d / "ccs.c",
             "#include <stdio.h>\n#include <wchar.h>\n#include <locale.h>\n"
             "int main(int c, char** v) { setlocale(LC_ALL, \"C.UTF-8\"); FILE* f = fopen(v[1], v[2]);\n"
             "  if (!f) { perror(\"fopen\"); return 1; }\n"
             "  if (v[2][0] == 'r') { wint_t ch; while ((ch = fgetwc(f)) != WEOF) putchar((int)ch); }\n"
             "  else fputws(L\"written\\n\", f);\n  fclose(f); return 0; }\n");
  REQUIRE(sh("cc -o " + q(r + "/usr/bin/ccsprog") + " " + q(d / "ccs.c") + " 2>&1").status == 0);
  std::string name = "/tmp/ccs-" + std::to_string(getpid());
  auto out = in_root("ccsprog /etc/motd 'r,ccs=UTF-8'; ccsprog " + name + " 'wx,ccs=UTF-8' && cat " + name +
                     " && stat -c %U " + name + "; ccsprog " + name + " 'wx,ccs=UTF-8' 2>&1 >/dev/null | cut -d: -f2");
  CHECK_MESSAGE(out.out == "inside the root\nwritten\nroot\n File exists\n", out.out);
  CHECK_FALSE(exists(name));
  CHECK(exists(r + name));
}

// A fake root cannot write to the kernel's audit log (CAP_AUDIT_WRITE):
// the audit netlink socket is refused as a kernel without audit refuses
// it, which sudo, su and useradd take quietly. Other netlink sockets are
// the kernel's.
TEST_CASE("the audit netlink socket is refused as by a kernel without audit; other netlink sockets are not") {
  auto r = in_root("perl -e 'socket(my $a, 16, 3, 9) ? print qq(audit opened\\n) : print qq(audit: $!\\n); "
                   "socket(my $r, 16, 3, 0) ? print qq(route opened\\n) : print qq(route: $!\\n)'");
  CHECK(r.out == "audit: Protocol not supported\nroute opened\n");
}
