// Fake root, end to end: the installed `cowroot` launcher, library and
// daemon, driven the way fakeroot users drive fakeroot. Runs as a non-root
// uid (tests/main.cc drops root).
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "../preload/core/proto.h"
#include "common.h"

using namespace test;

TEST_CASE("the harness runs as an unprivileged user") { CHECK(getuid() != 0); }

TEST_CASE("credentials: the whole id family says root, without the kernel agreeing") {
  TempDir d;
  auto r = in_session(d, "id -u; id -g; whoami; id -G; perl -e 'print join(q{,}, $<, $>, $(, $)), qq{\\n}'");
  CHECK(r.status == 0);
  CHECK(r.out == "0\n0\nroot\n0\n0,0,0 0,0 0\n");  // $( and $) list the groups too
}

TEST_CASE("chown and chmod are seen by later processes, the disk keeps safe modes") {
  TempDir d;
  auto r = in_session(d,
                      "touch f && chown 12:34 f && chmod 4755 f && mkdir dir && chmod 1777 dir && "
                      "sh -c 'stat -c \"%u %g %a\" f dir'");
  CHECK(r.status == 0);
  CHECK(r.out == "12 34 4755\n0 0 1777\n");
  // On disk: the real owner, no setuid bit, no world-writable directory.
  struct stat f = real_stat(d / "f"), dir = real_stat(d / "dir");
  CHECK(f.st_uid == getuid());
  CHECK((f.st_mode & 07777) == 0755);
  CHECK((dir.st_mode & 07002) == 0);
}

TEST_CASE("root's permission bypass: chmod 000 files stay readable and writable, x needs an x bit") {
  TempDir d;
  auto r = in_session(d,
                      "echo data > f && chmod 000 f && cat f && echo more >> f && "
                      "test -r f && test -w f && ! test -x f && echo ok; "
                      "install -m 0444 /dev/null ro && echo x > ro && cat ro; stat -c %a f ro");
  CHECK(r.out == "data\nok\nx\n0\n444\n");
}

TEST_CASE("chown follows Linux: setuid and (with group-exec) setgid are dropped, capabilities too") {
  TempDir d;
  auto r = in_session(d,
                      "touch a b c && chmod 4755 a && chmod 2644 b && chmod 6755 c && "
                      "chown 1:1 a b c && stat -c '%a' a b c && "
                      "chmod 4755 a && chown -h -1:-1 a 2>/dev/null; stat -c %a a");
  CHECK(r.out == "755\n2644\n755\n4755\n");
}

TEST_CASE("mknod: char and block devices are faked, fifos and sockets are real") {
  TempDir d;
  auto r = in_session(d,
                      "mknod c c 5 1 && mknod b b 8 1 && mkfifo p && chmod 600 b && "
                      "stat -c '%F %t %T %a %U' c b p");
  CHECK(r.status == 0);
  CHECK(r.out == "character special file 5 1 644 root\nblock special file 8 1 600 root\nfifo 0 0 644 root\n");
  CHECK(S_ISREG(real_stat(d / "c").st_mode));
  CHECK(S_ISFIFO(real_stat(d / "p").st_mode));
  // A directory entry's type too: find -type and ls take it without a stat
  // (dh_md5sums listed the devices of a package as files); a file that
  // took a removed device's place is a file.
  TempDir e;
  r = in_session(e, "mknod c c 5 1 && mknod b b 8 1 && mkfifo p && touch f && find . -type f | sort; echo --; "
                    "find . -type c; find . -type b; rm c && touch c && find . -type f | sort");
  CHECK(r.out == "./f\n--\n./c\n./b\n./c\n./f\n");
}

TEST_CASE("hard links share the fake owner; rename keeps it") {
  TempDir d;
  auto r = in_session(d, "touch f && chown 7:8 f && ln f g && mv f h && stat -c '%u:%g' g h");
  CHECK(r.out == "7:8\n7:8\n");
}

TEST_CASE("-s and -i save and restore ownership, modes, devices and xattrs, capabilities included") {
  TempDir d;
  auto r1 = in_session(d,
                       "touch f && chown 3:4 f && chmod 640 f && mknod dev c 1 3 && setcap cap_net_raw+ep f && "
                       "setfattr -n trusted.t -v hello f",
                       "-s " + q(d / "state"));
  REQUIRE(r1.status == 0);
  REQUIRE(exists(d / "state"));
  auto r2 = in_session(d, "stat -c '%u %g %a' f; stat -c '%F %t %T' dev; getcap f; getfattr --only-values -n trusted.t f",
                       "-i " + q(d / "state"));
  CHECK(r2.out == "3 4 640\ncharacter special file 1 3\nf cap_net_raw=ep\nhello");
  // Without -i the new session knows nothing of it.
  auto r3 = in_session(d, "stat -c '%u %g' f");
  CHECK(r3.out == "0 0\n");
}

TEST_CASE("the save file stays readable by fakeroot's loader format") {
  TempDir d;
  REQUIRE(in_session(d, "touch f && chown 5:6 f", "-s " + q(d / "state")).status == 0);
  std::ifstream in(d / "state");
  std::string first;
  std::getline(in, first);
  unsigned long long dev, ino, mode, uid, gid, nlink, rdev;
  CHECK(sscanf(first.c_str(), "dev=%llx,ino=%llu,mode=%llo,uid=%llu,gid=%llu,nlink=%llu,rdev=%llu", &dev, &ino, &mode,
               &uid, &gid, &nlink, &rdev) == 7);
  CHECK(uid == 5);
  CHECK(gid == 6);
}

TEST_CASE("-i of a missing or corrupt file is a one-line error, and the command does not run") {
  TempDir d;
  auto r = in_session(d, "touch ran", "-i " + q(d / "nope"));
  CHECK(r.status != 0);
  CHECK(r.out.find("nope") != std::string::npos);
  CHECK(r.out.find('\n') == r.out.size() - 1);
  CHECK_FALSE(exists(d / "ran"));
  write_file(d / "bad", "dev=fe00,ino=12,mode=100644,uid=0,gid=0,nlink=1,rdev=0\ngarbage here\n");
  r = in_session(d, "touch ran", "-i " + q(d / "bad"));
  CHECK(r.status != 0);
  CHECK(r.out.find("bad:2") != std::string::npos);
  CHECK_FALSE(exists(d / "ran"));
}

TEST_CASE("-u: files without a record show their real owner") {
  TempDir d;
  write_file(d / "mine", "");
  auto r = in_session(d, "stat -c %u mine; touch new; chown 9 new; stat -c %u new", "-u");
  CHECK(r.out == std::to_string(getuid()) + "\n9\n");
  // Files the session creates belong to (fake) root even so.
  auto r2 = in_session(d, "touch made; stat -c %u made", "-u");
  CHECK(r2.out == "0\n");
}

TEST_CASE("inode reuse: a stale entry never lends its owner or type to another file") {
  TempDir d;
  write_file(d / "f", "");
  struct stat st = real_stat(d / "f");
  char line[256];
  // A directory owned by 7 that once had this inode (fakeroot's format,
  // no birth time: the type disagrees), and one with another birth time.
  snprintf(line, sizeof line, "dev=%llx,ino=%llu,mode=40755,uid=7,gid=7,nlink=1,rdev=0\n",
           (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
  write_file(d / "state1", line);
  auto r = in_session(d, "stat -c '%F %u' f", "-i " + q(d / "state1"));
  CHECK(r.out == "regular empty file 0\n");
  snprintf(line, sizeof line,
           "dev=%llx,ino=%llu,mode=100600,uid=7,gid=7,nlink=1,rdev=0\n# cowroot state 1\n"
           "birth dev=%llx,ino=%llu,sec=1,nsec=2\n",
           (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (unsigned long long)st.st_dev,
           (unsigned long long)st.st_ino);
  write_file(d / "state2", line);
  r = in_session(d, "stat -c '%a %u' f", "-i " + q(d / "state2"));
  CHECK(r.out == "644 0\n");
}

TEST_CASE("a deleted file's entry is dropped: a new file on the same inode starts as root's") {
  TempDir d;
  // Delete and recreate until the kernel hands the inode number back.
  auto r = in_session(d,
                      "touch f && chown 7:7 f && chmod 600 f && ino=$(stat -c %i f) && rm f && "
                      "i=0; while [ $i -lt 2000 ]; do touch g$i; [ $(stat -c %i g$i) = $ino ] && "
                      "{ stat -c '%u %a' g$i; break; }; i=$((i+1)); done");
  if (r.out.empty()) MESSAGE("the filesystem did not reuse the inode; nothing to check");
  else CHECK(r.out == "0 644\n");
}

TEST_CASE("set*id follows root's rules: after a full drop, setuid(0) fails") {
  TempDir d;
  auto r = in_session(d,
                      "perl -e 'use POSIX; POSIX::setuid(1000) or die qq{drop: $!}; "
                      "print qq{$< $>\\n}; print POSIX::setuid(0) ? qq{regained\\n} : qq{EPERM\\n}'; "
                      "perl -e 'use POSIX; $> = 1000; print qq{$> }; $> = 0; print qq{$>\\n}'");
  CHECK(r.out == "1000 1000\nEPERM\n1000 0\n");
}

TEST_CASE("the state is shared by the whole process tree, concurrent writers included") {
  TempDir d;
  auto r = in_session(d,
                      "for i in $(seq 1 20); do ( for j in $(seq 1 25); do touch f$i.$j; chown $i:$j f$i.$j; done ) & "
                      "done; wait; n=0; for i in $(seq 1 20); do for j in $(seq 1 25); do "
                      "[ \"$(stat -c %u:%g f$i.$j)\" = \"$i:$j\" ] && n=$((n+1)); done; done; echo $n");
  CHECK(r.out == "500\n");
}

TEST_CASE("env -i and a changed LD_PRELOAD cannot leave the session") {
  TempDir d;
  auto r = in_session(d, "touch f; chown 4 f; env -i /usr/bin/stat -c %u f; env LD_PRELOAD= /usr/bin/id -u; "
                         "env -u LD_PRELOAD /usr/bin/id -u");
  CHECK(r.out == "4\n0\n0\n");
}

TEST_CASE("exit status and arguments pass through unchanged") {
  TempDir d;
  CHECK(sh(cowroot() + " -- sh -c 'exit 3'").status == 3);
  CHECK(sh(cowroot() + " false").status == 1);
  CHECK(sh(cowroot() + " -- /nonexistent/program").status == 127);
  CHECK(sh(cowroot() + " -- echo -1 -2 --").out == "-1 -2 --\n");
  CHECK(sh(cowroot() + " -l /x/lib.so -f /x/faked -- echo fakeroot-style").out == "fakeroot-style\n");
}

TEST_CASE("no daemon is left behind, and the session directory is removed") {
  TempDir d;
  auto r = in_session(d, "echo $COWROOT_STATE");
  REQUIRE(r.status == 0);
  std::string dir = r.out.substr(0, r.out.size() - 1);
  CHECK(!dir.empty());
  CHECK_FALSE(exists(dir));
}

TEST_CASE("background processes keep the session alive after the command returns") {
  TempDir d;
  auto r = in_session(d, "touch f; (sleep 0.5; chown 6 f; stat -c %u f > out.tmp; mv out.tmp out) >/dev/null 2>&1 &");
  CHECK(r.status == 0);
  CHECK(eventually([&] { return exists(d / "out"); }, 10000));
  std::ifstream in(d / "out");
  std::string s;
  std::getline(in, s);
  CHECK(s == "6");
}

TEST_CASE("garbage on the daemon's socket closes that connection and nothing else") {
  TempDir d;
  // A session that lives while the test talks to its daemon.
  std::string script = "echo $COWROOT_STATE > dir; touch f; chown 2 f; while [ ! -e go ]; do sleep 0.05; done; stat -c %u f";
  std::string cmd = "cd " + q(d.path) + " && " + cowroot() + " -- sh -c " + q(script) + " > out 2>&1";
  std::thread t([&] { (void)!system(cmd.c_str()); });
  for (int i = 0; i < 100 && !exists(d / "dir"); i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string dir;
  std::getline(std::ifstream(d / "dir"), dir);
  REQUIRE(!dir.empty());
  auto connect_to = [&]() {
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", dir.c_str());
    REQUIRE(connect(s, (sockaddr*)&sa, sizeof sa) == 0);
    return s;
  };
  int g = connect_to();
  CHECK(send(g, "garbage!", 8, 0) == 8);
  char buf[256];
  CHECK(recv(g, buf, sizeof buf, 0) == 0);  // closed by the daemon
  close(g);
  int ok = connect_to();
  cr::proto::Msg m{cr::proto::kMagic, cr::proto::kPing, 0, 0, 0};
  CHECK(send(ok, &m, sizeof m, 0) == (ssize_t)sizeof m);
  CHECK(recv(ok, buf, sizeof buf, 0) == (ssize_t)sizeof m);
  memcpy(&m, buf, sizeof m);
  CHECK(m.op == cr::proto::kOk);
  close(ok);
  write_file(d / "go", "");
  t.join();
  std::string out;
  std::getline(std::ifstream(d / "out"), out);
  CHECK(out == "2");
}

TEST_CASE("kill -9 of the daemon loses nothing that was acknowledged") {
  TempDir d;
  // (Inside the session `id -ru` says 0: the daemon is found by its
  // state directory alone. The script fails when there was none to kill.)
  auto r = in_session(d,
                      "touch f; chown 11:12 f; chmod 4711 f; d=$(printenv COWROOT_STATE); case $d in /?*) ;; *) exit 9;; esac; "
                      "pkill -9 -f \"cowroot-faked --state $d( |\\$)\" || exit 98; sleep 0.2; "
                      "stat -c '%u %g %a' f; touch g; chown 13 g; stat -c %u g");
  CHECK(r.status == 0);
  CHECK(r.out == "11 12 4711\n13\n");
}

TEST_CASE("the session survives programs that close every descriptor") {
  TempDir d;
  auto r = in_session(d,
                      "touch f; python3 -c 'import os; os.closerange(3, 1 << 20); os.system(\"chown 21 f\")'; "
                      "perl -e 'use POSIX; POSIX::close($_) for 3..2000; exec q{stat}, q{-c}, q{%u}, q{f}'");
  CHECK(r.out == "21\n");
}

TEST_CASE("the session's connection stays out of the program's descriptors: its first open gets 3") {
  // The launcher's connection was descriptor 3 of every program; natively,
  // under fakeroot and in a chroot, a program's first open gets the lowest
  // free number (3 where the caller holds nothing more).
  TempDir d;
  const std::string first = "python3 -c 'import os; print(os.open(\"f\", os.O_RDONLY))'";
  auto native = sh("cd " + q(d.path) + " && touch f && " + first);
  auto r = in_session(d, first + "; for f in /proc/self/fd/*; do readlink $f; done | grep -c socket");
  CHECK(r.status == 0);
  CHECK(native.out.size() > 1);
  CHECK(r.out == native.out + "1\n");  // (one socket in all: the session's, far up)
  auto low = in_session(d, "ls -l /proc/self/fd | awk '$9 < 100' | grep -c socket");
  CHECK(low.out == "0\n");
}

TEST_CASE("tar and cp -a carry fake owners and modes") {
  TempDir d;
  auto r = in_session(d,
                      "mkdir t && touch t/a t/b && chown 1:2 t/a && chmod 4750 t/a && mknod t/null c 1 3 && "
                      "tar -C t -cf t.tar . && mkdir x && tar -C x -xpf t.tar && stat -c '%n %u %g %a' x/a && "
                      "stat -c '%F %t %T' x/null && cp -a t y && stat -c '%u %g %a' y/a && "
                      "tar --numeric-owner -tvf t.tar ./a | cut -c1-14");
  CHECK(r.out == "x/a 1 2 4750\ncharacter special file 1 3\n1 2 4750\n-rwsr-x--- 1/2\n");
}

TEST_CASE("cp -a copies modes set through an ACL write (fakeroot's t.cp-a)") {
  TempDir d;
  auto r = in_session(d, "umask 022; touch e && chmod 0644 e && chown 1:2 e && cp -a e a && cp -r e r && "
                         "stat -c '%a %u:%g' e a r");
  CHECK(r.out == "644 1:2\n644 1:2\n644 0:0\n");
}

TEST_CASE("directory walkers see the fake view: find and ls -l") {
  TempDir d;
  auto r = in_session(d, "mkdir -p w/s && touch w/s/f && chown -R 5:5 w && find w -printf '%U:%G %p\\n' | sort && "
                         "ls -ln w/s | tail -n 1 | awk '{print $3, $4}'");
  CHECK(r.out == "5:5 w\n5:5 w/s\n5:5 w/s/f\n5 5\n");
}

TEST_CASE("the library works without the launcher: LD_PRELOAD plus COWROOT_STATE") {
  TempDir d;
  std::string env = "LD_PRELOAD=" + prefix() + "/lib/libcowroot.so COWROOT_STATE=" + q(d / "st");
  REQUIRE(mkdir((d / "st").c_str(), 0700) == 0);
  write_file(d / "f", "");
  auto r = sh("cd " + q(d.path) + " && " + env + " sh -c 'chown 8:9 f; id -u' && " + env + " stat -c '%u %g' f");
  CHECK(r.out == "0\n8 9\n");
  // The daemon it started leaves when the last process has gone.
  CHECK(eventually([&] { return !exists(d / "st/sock"); }));
  CHECK(exists(d / "st/table"));
}

TEST_CASE("the library needs nothing but libc at run time") {
  // Exactly libc: not libstdc++, libgcc or libelf, and not ld.so either
  // (general-dynamic TLS would need its __tls_get_addr).
  auto r = sh("readelf -d " + q(prefix() + "/lib/libcowroot.so") + " | grep NEEDED | sed 's/.*\\[//; s/\\]//'");
  CHECK(r.out == "libc.so.6\n");
  auto exported = sh("nm -D --defined-only " + q(prefix() + "/lib/libcowroot.so") + " | grep -c -i -E ' (_Z|cr::|elf_|gelf_|deflate|inflate)'");
  CHECK(exported.out == "0\n");  // nothing of the core's namespace leaks out
}

TEST_CASE("the library loads into every glibc from 2.28 on: no symbol version newer, none of libpthread's or libdl's") {
  // mk/check-glibc.sh, which the build runs after linking, on the installed
  // library; and on objects that would not load into an older root.
  std::string check = std::string(getenv("COWROOT_TEST_MKROOT")).substr(0, std::string(getenv("COWROOT_TEST_MKROOT")).rfind('/')) +
                      "/check-glibc.sh";
  auto r = sh("sh " + q(check) + " " + q(prefix() + "/lib/libcowroot.so") + " 2.28 2>&1");
  CHECK(r.out == "");
  CHECK(r.status == 0);
  TempDir d;
  write_file(d / "new.c", "#include <sys/random.h>\nint f(void* b) { return getrandom(b, 4, 0); }\n");  // GLIBC_2.25
  write_file(d / "stub.c", "#include <pthread.h>\npthread_mutex_t m;\nint f(void) { return pthread_mutex_lock(&m); }\n");
  if (sh("cc -shared -fPIC -o " + q(d / "new.so") + " " + q(d / "new.c") + " && cc -shared -fPIC -o " + q(d / "stub.so") +
         " " + q(d / "stub.c")).status != 0) {
    MESSAGE("skipped the failing cases: no C compiler here");
    return;
  }
  r = sh("sh " + q(check) + " " + q(d / "new.so") + " 2.24 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out.find("needs GLIBC_2.25 (getrandom)") != std::string::npos);
  r = sh("sh " + q(check) + " " + q(d / "stub.so") + " 2.28 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out.find("uses pthread_mutex_lock") != std::string::npos);
}

TEST_CASE("a sanitizer runtime loads beside the library: linked in, or preloaded by the user") {
  TempDir d;
  write_file(d / "a.c",
             "#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n"
             "int main(void) { char* p = malloc(8); p[0] = 1; free(p); printf(\"uid %d\\n\", (int)getuid()); return 0; }\n");
  if (sh("cc -fsanitize=address -o " + q(d / "asan") + " " + q(d / "a.c") + " 2>&1").status != 0) {
    MESSAGE("skipped: no compiler with AddressSanitizer here");
    return;
  }
  auto r = in_session(d, "./asan");
  CHECK(r.out == "uid 0\n");
  CHECK(r.status == 0);
  // A report path makes the runtime mkdir through our wrapper during its
  // own start-up: the library must not start there with a call the runtime
  // refuses then (it hung in a spin lock, for ever).
  r = in_session(d, "ASAN_OPTIONS=log_path=" + q(d / "asanlog") + " timeout 20 ./asan");
  CHECK(r.out == "uid 0\n");
  CHECK(r.status == 0);
  // The runtime preloaded by hand goes before cowroot's library, not after.
  std::string rt = sh("cc -print-file-name=libasan.so").out;
  while (!rt.empty() && rt.back() == '\n') rt.pop_back();
  r = sh("cd " + q(d.path) + " && LD_PRELOAD=" + q(rt) + " " + cowroot() + " -- sh -c 'echo $LD_PRELOAD; id -u' 2>&1");
  CHECK(r.out.rfind(rt + ":", 0) == 0);
  CHECK(r.out.find("\n0\n") != std::string::npos);
}

TEST_CASE("capabilities follow uid changes as the kernel's: setpriv keeps them across setresuid to set the gids") {
  TempDir d;
  // setpriv sets PR_SET_KEEPCAPS, changes uids, raises its effective set
  // again with capset, then changes gids and groups (man-db's trigger does).
  auto r = in_session(d, "setpriv --reuid 1 --regid 2 --clear-groups sh -c 'id -u; id -g; id -G' 2>&1; "
                         "perl -e 'use POSIX; POSIX::setuid(5) or die; print POSIX::setgid(7) ? qq{gid changed\\n} : qq{EPERM\\n}'");
  CHECK(r.out == "1\n2\n2\nEPERM\n");
  // apt's sandbox: groups and euid dropped for a while, then back (the
  // capabilities come back with euid 0).
  std::string script = getenv("COWROOT_TEST_MKROOT");
  std::string helper = script.substr(0, script.rfind('/')) + "/helper";
  r = in_session(d, q(helper) + " sandbox-drop");
  CHECK(r.out == "ok\n");
}
