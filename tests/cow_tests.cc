// Copy-on-write roots, end to end, as an unprivileged user: nothing written
// inside a clone may change its base or a sibling.
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common.h"

using namespace test;

namespace {

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A base made of the host's programs (tests/mkroot.sh) plus files to poke at.
struct Base {
  TempDir dir;
  std::string base = dir.path + "/base";
  Base() {
    const char* script = getenv("COWROOT_TEST_MKROOT");
    REQUIRE(script);
    auto r = sh("sh " + q(script) + " " + q(base) + " 2>&1");
    REQUIRE_MESSAGE(r.status == 0, r.out);
    write_file(base + "/etc/data", "base data\n");
    write_file(base + "/etc/a", "one file, two names\n");
    REQUIRE(link((base + "/etc/a").c_str(), (base + "/etc/b").c_str()) == 0);
    REQUIRE(symlink("/etc/data", (base + "/etc/data-abs").c_str()) == 0);
    REQUIRE(symlink("data", (base + "/etc/data-rel").c_str()) == 0);
    REQUIRE(mkfifo((base + "/etc/fifo").c_str(), 0644) == 0);
    // The helper program, for the calls no shell tool makes.
    std::string helper = std::string(script).substr(0, std::string(script).rfind('/')) + "/helper";
    REQUIRE(sh("cp " + q(helper) + " " + q(base + "/usr/bin/helper")).status == 0);
    // A sparse file: a hole, then data.
    int fd = open((base + "/etc/sparse").c_str(), O_WRONLY | O_CREAT, 0644);
    REQUIRE(pwrite(fd, "end", 3, 1 << 20) == 3);
    close(fd);
  }
  std::string clone(const std::string& name) const {
    std::string c = dir.path + "/" + name;
    auto r = sh(cowroot() + " clone " + q(base) + " " + q(c) + " 2>&1");
    REQUIRE_MESSAGE(r.status == 0, r.out);
    return c;
  }
  Result in(const std::string& root, const std::string& script) const {
    return sh(cowroot() + " -r " + q(root) + " -- /bin/sh -c " + q(script) + " 2>&1");
  }
};

struct Snapshot {
  std::string content;
  struct stat st;
};

Snapshot snap(const std::string& p) { return {slurp(p), real_stat(p)}; }

bool same(const Snapshot& a, const Snapshot& b) {
  return a.content == b.content && a.st.st_ino == b.st.st_ino && a.st.st_mode == b.st.st_mode &&
         a.st.st_mtim.tv_sec == b.st.st_mtim.tv_sec && a.st.st_mtim.tv_nsec == b.st.st_mtim.tv_nsec &&
         a.st.st_size == b.st.st_size;
}

}  // namespace

TEST_CASE("every write path gives the clone its own copy; the base never changes") {
  Base b;
  std::string c = b.clone("c");
  // Each script writes to /etc/data one way; the base must come out unchanged.
  const char* ways[] = {
      "echo new > /etc/data",
      "echo more >> /etc/data",
      "exec 3<>/etc/data; echo rw >&3",
      "perl -e 'open(F, q{+<}, q{/etc/data}) or die'",  // O_RDWR without writing
      "truncate -s 2 /etc/data 2>/dev/null || perl -e 'truncate(q{/etc/data}, 2) or die'",
      "touch -d @1000000 /etc/data",
      "chmod 600 /etc/data",
      "setfattr -n user.k -v v /etc/data 2>/dev/null || perl -e 1",
      "cp /etc/motd /etc/data",
      "dd if=/etc/motd of=/etc/data conv=notrunc 2>/dev/null || perl -e 'open(F, q{+<}, q{/etc/data}); print F q{x}'",
      "echo via-abs >> /etc/data-abs",
      "echo via-rel >> /etc/data-rel",
      "ln /etc/data /tmp/mylink && echo via-link >> /tmp/mylink",
      "perl -e 'open(F, q{<}, q{/etc/data}); chmod 0600, *F; utime(undef, undef, *F)'",
      // Through a descriptor: AT_EMPTY_PATH and /proc/self/fd/N still name the base's inode.
      "helper touch-empty /etc/data",
      "helper chmod-procfd /etc/data 600",
      "helper write-procfd /etc/data",
      "perl -e 'sysopen(F, q{/etc/data}, 0x200000) or die; utime(5, 5, q{/proc/self/fd/} . fileno(F)) or die'",
      // chattr's ioctl on a read-only descriptor.
      "helper nodump /etc/data",
      // The same descriptor again after its file broke: it reaches the copy.
      "perl -e 'open(F, q{<}, q{/etc/data}) or die; chmod(0600, *F) or die qq{1 $!}; chmod(0640, *F) or die qq{2 $!}; "
      "utime(undef, undef, *F) or die qq{3 $!}'",
  };
  for (std::string w : ways) {
    CAPTURE(w);
    Snapshot before = snap(b.base + "/etc/data");
    REQUIRE(sh(cowroot() + " reset " + q(c) + " 2>&1").status == 0);
    auto r = b.in(c, w);
    CHECK_MESSAGE(r.status == 0, r.out);
    CHECK(same(before, snap(b.base + "/etc/data")));
  }
}

// A descriptor opened before its file broke still holds the base's inode;
// an owner or a mode the clone keeps in its state goes to the copy, which
// the name shows, whatever broke the file (this descriptor's chmod, a
// write through another one).
TEST_CASE("after a break, a descriptor's chown and chmod reach the copy the name shows") {
  Base b;
  std::string c = b.clone("c");
  Snapshot before = snap(b.base + "/etc/data");
  const char* ways[][2] = {
      {"perl -e 'open(F, q{<}, q{/etc/data}) or die; chmod(0600, *F) or die qq{1 $!}; chown(5, 6, *F) or die qq{2 $!}; "
       "chmod(04600, *F) or die qq{3 $!}'",
       "5:6 4600"},
      {"perl -e 'open(F, q{<}, q{/etc/data}) or die; open(W, q{>>}, q{/etc/data}) or die; print W qq{x\n}; close(W); "
       "chown(7, 8, *F) or die qq{1 $!}; chown(9, -1, q{/proc/self/fd/} . fileno(F)) or die qq{2 $!}'",
       "9:8 644"},
  };
  for (auto& w : ways) {
    CAPTURE(w[0]);
    REQUIRE(sh(cowroot() + " reset " + q(c) + " 2>&1").status == 0);
    auto r = b.in(c, std::string(w[0]) + " && stat -c '%u:%g %a' /etc/data");
    CHECK(r.out == std::string(w[1]) + "\n");
    CHECK(same(before, snap(b.base + "/etc/data")));
  }
}

// chattr's requests (inode flags, the generation) through a read-only
// descriptor would reach the base's inode: from a static program (its
// ioctl trapped) as from a dynamic one, they go to the clone's copy; and
// only the file's owner may make them, as the kernel says.
TEST_CASE("inode flags and the generation set by ioctl reach the clone's copy, from static programs too; owner only") {
  Base b;
  TempDir d;
  write_file(d / "fl.c",
             "#include <errno.h>\n#include <fcntl.h>\n#include <linux/fs.h>\n#include <stdio.h>\n#include <string.h>\n"
             "#include <sys/ioctl.h>\n#include <unistd.h>\n"
             "int main(int argc, char** argv) {\n  int fd = open(argv[1], O_RDONLY), fl = 0, g = 777;\n"
             "  ioctl(fd, FS_IOC_GETFLAGS, &fl); fl |= FS_NODUMP_FL;\n"
             "  int a = ioctl(fd, FS_IOC_SETFLAGS, &fl), e1 = errno, v = ioctl(fd, FS_IOC_SETVERSION, &g), e2 = errno;\n"
             "  printf(\"flags %s version %s\\n\", a ? strerror(e1) : \"set\", v ? strerror(e2) : \"set\");\n"
             "  return 0;\n}\n");
  REQUIRE(sh("cc -static -o " + q(b.base + "/usr/bin/flprobe") + " " + q(d / "fl.c") + " && cc -o " +
             q(b.base + "/usr/bin/flprobe-dyn") + " " + q(d / "fl.c") + " 2>&1")
              .status == 0);
  auto flags_of = [](const std::string& p) {
    int fd = open(p.c_str(), O_RDONLY);
    int fl = -1, g = -1;
    ioctl(fd, FS_IOC_GETFLAGS, &fl);
    ioctl(fd, FS_IOC_GETVERSION, &g);
    close(fd);
    return std::to_string(fl) + "/" + std::to_string(g);
  };
  std::string before = flags_of(b.base + "/etc/data");
  std::string c = b.clone("c");
  for (const char* prog : {"flprobe", "flprobe-dyn"}) {
    CAPTURE(prog);
    REQUIRE(sh(cowroot() + " reset " + q(c) + " 2>&1").status == 0);
    auto r = b.in(c, std::string("setpriv --reuid 1000 --regid 1000 --clear-groups ") + prog + " /etc/data; " + prog +
                         " /etc/data");
    // the generation needs a file system that keeps one (ext4 does; tmpfs says ENOTTY)
    bool gen = r.out.find("version set") != std::string::npos;
    CHECK(r.out == std::string("flags Operation not permitted version Operation not permitted\nflags set version ") +
                       (gen ? "set" : "Inappropriate ioctl for device") + "\n");
    CHECK(flags_of(b.base + "/etc/data") == before);
    CHECK(real_stat(b.base + "/etc/data").st_ino != real_stat(c + "/etc/data").st_ino);
  }
}

TEST_CASE("symlinks and fifos shared with the base get their own copy before their metadata changes") {
  Base b;
  std::string c = b.clone("c");
  struct stat link_before = real_stat(b.base + "/etc/data-abs"), fifo_before = real_stat(b.base + "/etc/fifo");
  auto r = b.in(c, "touch -h -d @1000 /etc/data-abs && chmod 600 /etc/fifo && touch -d @2000 /etc/fifo && "
                   "stat -c '%Y %N' /etc/data-abs && stat -c '%Y %a %F' /etc/fifo");
  CHECK(r.out == "1000 '/etc/data-abs' -> '/etc/data'\n2000 600 fifo\n");
  struct stat ls = real_stat(b.base + "/etc/data-abs"), fs = real_stat(b.base + "/etc/fifo");
  CHECK(ls.st_mtim.tv_sec == link_before.st_mtim.tv_sec);
  CHECK(ls.st_ino == link_before.st_ino);
  CHECK(fs.st_mode == fifo_before.st_mode);
  CHECK(fs.st_mtim.tv_sec == fifo_before.st_mtim.tv_sec);
  CHECK(real_stat(c + "/etc/data-abs").st_ino != ls.st_ino);
}

TEST_CASE("chattr on a file shared with the base reaches the clone's copy only") {
  Base b;
  std::string c = b.clone("c");
  auto native = sh(q(b.base + "/usr/bin/helper") + " nodump " + q(b.dir / "probe") + " 2>&1; touch " +
                   q(b.dir / "probe") + "; " + q(b.base + "/usr/bin/helper") + " nodump " + q(b.dir / "probe"));
  if (native.out.find("unsupported") != std::string::npos) {
    MESSAGE("skipped: this file system has no inode flags");
    return;
  }
  auto flags = [](const std::string& p) { return sh("lsattr -d " + q(p) + " 2>&1 | cut -d' ' -f1").out; };
  std::string before = flags(b.base + "/etc/motd");
  auto r = b.in(c, "helper nodump /etc/motd");
  CHECK(r.out == "ok\n");
  CHECK(flags(b.base + "/etc/motd") == before);
  CHECK(flags(c + "/etc/motd") != before);
}

TEST_CASE("a break keeps content, holes, mode, times, xattrs and the fake owner") {
  Base b;
  std::string c = b.clone("c");
  auto r = b.in(c, "chown 7:8 /etc/sparse && chmod 640 /etc/sparse && touch -d @123456789 /etc/sparse && "
                   "setfattr -n user.tag -v kept /etc/sparse 2>/dev/null; "
                   "perl -e 'open(F, q{+<}, q{/etc/sparse}) or die' && stat -c '%u %g %a %Y' /etc/sparse");
  CHECK(r.out == "7 8 640 123456789\n");
  struct stat cs = real_stat(c + "/etc/sparse"), bs = real_stat(b.base + "/etc/sparse");
  CHECK(cs.st_ino != bs.st_ino);
  CHECK(slurp(c + "/etc/sparse") == slurp(b.base + "/etc/sparse"));
  CHECK(cs.st_blocks <= bs.st_blocks + 8);  // the hole stayed a hole
}

TEST_CASE("names that were one file in the base stay one file after a break") {
  Base b;
  std::string c = b.clone("c");
  // Before and after the break, the link count is the clone's own: the
  // base's names (and every sibling's) are not counted.
  b.clone("sibling");
  auto r = b.in(c, "stat -c %h /etc/a /etc/data /usr/bin/dash && echo changed >> /etc/a && cat /etc/b && stat -c %h /etc/a");
  CHECK(r.out == "2\n1\n1\none file, two names\nchanged\n2\n");
  std::string c2 = b.clone("c2");
  r = b.in(c2, "rm /etc/b && stat -c %h /etc/a && cat /etc/a");
  CHECK(r.out == "1\none file, two names\n");
  CHECK(slurp(b.base + "/etc/a") == "one file, two names\n");
  CHECK(real_stat(c + "/etc/a").st_ino == real_stat(c + "/etc/b").st_ino);
}

TEST_CASE("a clone's directories have the base's modes, whatever the umask") {
  Base b;
  std::string c = b.dir / "c";
  REQUIRE(sh("umask 077 && " + cowroot() + " clone " + q(b.base) + " " + q(c) + " 2>/dev/null").status == 0);
  CHECK((real_stat(c + "/tmp").st_mode & 07777) == (real_stat(b.base + "/tmp").st_mode & 07777));
  CHECK((real_stat(c + "/etc").st_mode & 07777) == (real_stat(b.base + "/etc").st_mode & 07777));
  CHECK(b.in(c, "stat -c %a /tmp").out == "1777\n");
}

TEST_CASE("hard links a program makes between its own files keep link semantics") {
  Base b;
  std::string c = b.clone("c");
  auto r = b.in(c, "echo mine > /tmp/x && ln /tmp/x /tmp/y && echo more >> /tmp/y && cat /tmp/x && stat -c %h /tmp/x");
  CHECK(r.out == "mine\nmore\n2\n");
}

TEST_CASE("reading never copies; rm -rf of base files in a clone leaves the base whole") {
  Base b;
  std::string c = b.clone("c");
  ino_t before = real_stat(c + "/etc/data").st_ino;
  auto r = b.in(c, "cat /etc/data /usr/bin/* > /dev/null && rm -rf /usr /etc/a");
  CHECK(r.status == 0);
  CHECK(real_stat(b.base + "/etc/data").st_ino == before);
  CHECK(exists(b.base + "/usr/bin/dash"));
  CHECK(exists(b.base + "/etc/a"));
  CHECK(slurp(b.base + "/etc/data") == "base data\n");
}

TEST_CASE("each clone has its own fake metadata: invisible to the base and to siblings") {
  Base b;
  std::string c1 = b.clone("c1"), c2 = b.clone("c2");
  CHECK(b.in(c1, "chown 11:12 /etc/data && chmod 4711 /etc/data && mknod /dev-x c 1 3").status == 0);
  CHECK(b.in(c1, "stat -c '%u %g %a' /etc/data").out == "11 12 4711\n");
  CHECK(b.in(c2, "stat -c '%u %g %a' /etc/data; test -e /dev-x || echo none").out == "0 0 644\nnone\n");
  CHECK(b.in(b.base, "stat -c '%u %g %a' /etc/data").out == "0 0 644\n");
}

TEST_CASE("a sealed base: a writer cowroot cannot see gets EACCES; verify reports changes") {
  Base b;
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  auto ok = sh(cowroot() + " verify " + q(b.base));
  CHECK(ok.status == 0);
  CHECK(ok.out == b.base + ": no change since it was sealed\n");
  std::string c = b.clone("c");
  // This test process is not interposed: to it the clone's shared files are read-only.
  int fd = open((c + "/etc/data").c_str(), O_WRONLY);
  CHECK(fd < 0);
  CHECK(errno == EACCES);
  if (fd >= 0) close(fd);
  // Through cowroot, the apparent mode is the one before sealing, and writes work.
  CHECK(b.in(c, "stat -c %a /etc/data && echo w >> /etc/data && cat /etc/data").out == "644\nbase data\nw\n");
  CHECK(slurp(b.base + "/etc/data") == "base data\n");
  CHECK(sh(cowroot() + " verify " + q(b.base)).status == 0);
  // A session in the sealed base itself is refused: what it wrote would
  // show in every clone made after. Nothing is run, nothing made.
  auto in_base = b.in(b.base, "touch /x; echo ran");
  CHECK(in_base.status == 1);
  CHECK(in_base.out == "cowroot: " + b.base + ": a sealed base, whose clones share its files: nothing is run in it "
                       "(run in a clone of it: `cowroot run --base " + b.base + " -- CMD`, or `cowroot clone " + b.base +
                       " DEST` and `cowroot -r DEST`)\n");
  CHECK(!exists(b.base + "/x"));
  // Nor a directory in it, nor a chroot into it from a session.
  auto sub = b.in(b.base + "/etc", "touch /x; echo ran");
  CHECK(sub.status == 1);
  CHECK(sub.out.find(": in the sealed base " + b.base + ", whose clones share its files: nothing is run in it") !=
        std::string::npos);
  auto ch = sh(cowroot() + " -- /bin/sh -c " + q("chroot " + b.base + " /bin/sh -c 'touch /x'; echo $?") + " 2>&1");
  CHECK(ch.out.find("cowroot: chroot " + b.base + ": in a sealed base, whose clones share its files: refused") !=
        std::string::npos);
  CHECK(ch.out.substr(ch.out.size() - 4) == "125\n");
  CHECK(!exists(b.base + "/x"));
  CHECK(!exists(b.base + "/etc/x"));
  CHECK(sh(cowroot() + " verify " + q(b.base)).status == 0);
  // A change behind everyone's back is reported.
  REQUIRE(chmod((b.base + "/etc/motd").c_str(), 0644) == 0);
  write_file(b.base + "/etc/motd", "tampered\n");
  write_file(b.base + "/etc/new-file", "");
  auto v = sh(cowroot() + " verify " + q(b.base) + " 2>&1");
  CHECK(v.status == 1);
  CHECK(v.out.find("changed: /etc/motd") != std::string::npos);
  CHECK(v.out.find("new: /etc/new-file") != std::string::npos);
}

// A clone's `shared` record is what tells the base's inodes from the
// clone's own. Gone or damaged, the launcher refuses the clone (reset makes
// it again); damaged under a running session, its new programs take every
// inode of more than one name as the base's: a write never reaches it.
TEST_CASE("a clone whose record of shared files is gone or damaged: refused, or every linked inode is copied") {
  Base b;
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  std::string c = b.clone("c"), sib = b.clone("sib");
  Snapshot before = snap(b.base + "/etc/data");
  for (const char* damage : {"truncate -s 0", "truncate -s 100", "rm -f"}) {
    CAPTURE(std::string(damage));
    REQUIRE(sh(std::string(damage) + " " + q(c + ".cowroot/shared")).status == 0);
    auto r = b.in(c, "chmod 600 /etc/data; echo w >> /etc/data");
    CHECK(r.status == 1);
    CHECK(r.out == "cowroot: " + c + ": a clone whose record of the files it shares with its base (" + c +
                       ".cowroot/shared) is missing or damaged: nothing is run in it (`cowroot reset` makes it "
                       "again)\n");
    CHECK(same(snap(b.base + "/etc/data"), before));
    auto reset = sh(cowroot() + " reset " + q(c) + " 2>&1");
    CHECK(reset.status == 0);
    CHECK(b.in(c, "stat -c %a /etc/data").out == "644\n");
  }
  // Damaged while a session runs: the programs it starts from then on (one
  // that had it mapped gets SIGBUS at its next look, a truncated file's).
  REQUIRE(sh("mkfifo " + q(c + "/tmp/ready") + " " + q(c + "/tmp/go")).status == 0);
  auto r = sh(cowroot() + " -r " + q(c) +
              " -- /bin/sh -c 'echo >/tmp/ready; read x </tmp/go; exec /bin/sh -c \"chmod 600 /etc/data; echo w >> "
              "/etc/data; cat /etc/data; stat -c %a /etc/data /etc/a\"' >" + q(b.dir / "out") + " 2>&1 & read r <" +
              q(c + "/tmp/ready") + "; truncate -s 0 " + q(c + ".cowroot/shared") + "; echo go >" + q(c + "/tmp/go") +
              "; wait; cat " + q(b.dir / "out"));
  CHECK(r.out == "base data\nw\n600\n644\n");
  CHECK(same(snap(b.base + "/etc/data"), before));
  CHECK(slurp(sib + "/etc/data") == "base data\n");
  CHECK(sh(cowroot() + " verify " + q(b.base)).status == 0);
}

TEST_CASE("a directory in a clone is no session's root, nor a clone a chroot of another session: the base stays as it was") {
  // Its copy-on-write is the clone's own session's: a session of the
  // directory, or one without a root chrooting into the clone, would
  // write into the files the clone shares with its base.
  Base b;
  std::string c = b.clone("c");
  mode_t mode = real_stat(b.base + "/etc/data").st_mode;
  auto sub = b.in(c + "/etc", "chmod 666 /data; echo w >> /data; echo ran");
  CHECK(sub.status == 1);
  CHECK(sub.out == "cowroot: " + c + "/etc: in the clone " + c + ", whose files are its base's until its own session " +
                       "copies them: nothing is run in it (run in the clone: `cowroot -r " + c + " -- chroot /etc CMD`)\n");
  auto ch = sh(cowroot() + " -- /bin/sh -c " + q("chroot " + c + " /bin/sh -c 'chmod 666 /etc/data; echo w >> /etc/data'; echo $?") +
               " 2>&1");
  CHECK(ch.out.find("cowroot: chroot " + c + ": in the clone " + c + ", whose files are its base's until its own session "
                    "copies them: refused") != std::string::npos);
  CHECK(ch.out.substr(ch.out.size() - 4) == "125\n");
  auto ch2 = sh(cowroot() + " -- /bin/sh -c " + q("chroot " + c + "/etc /bin/true; echo $?") + " 2>&1");
  CHECK(ch2.out.substr(ch2.out.size() - 4) == "125\n");
  CHECK(slurp(b.base + "/etc/data") == "base data\n");
  CHECK(real_stat(b.base + "/etc/data").st_mode == mode);
}

// A clone's fake state (C.cowroot/state) holds every owner and mode the
// clone's files seem to have: a session never runs on a state that is
// missing (one made anew would be empty) or damaged (a lookup waited on
// garbage, entries were lost). One line names the file and the way back;
// reset gives the clone back its clean state.
namespace {
void scribble(const std::string& path, bool zeros) {
  int fd = open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  struct stat st;
  REQUIRE(fstat(fd, &st) == 0);
  std::string junk(st.st_size - 4096, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull;
  if (!zeros)
    for (char& c : junk) c = char((x = x * 6364136223846793005ull + 1442695040888963407ull) >> 56);
  REQUIRE(pwrite(fd, junk.data(), junk.size(), 4096) == (ssize_t)junk.size());
  close(fd);
}
}  // namespace

TEST_CASE("a clone whose fake state is missing or damaged is refused in one line naming it; reset makes it again") {
  Base b;
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  std::string c = b.clone("c"), st = c + ".cowroot/state";
  std::string fix = ": `cowroot reset " + c + "` makes the clone afresh\n";
  struct Case {
    const char* damage;
    std::string says;
  } cases[] = {
      {"rm table xattr", "cowroot: " + st + "/table: missing" + fix},
      {"rm -r state", "cowroot: " + st + ": missing" + fix},
      {"rm xattr", "cowroot: " + st + "/xattr: missing" + fix},
      {"truncate table", "cowroot: " + st + "/table: damaged (shorter than its header)" + fix},
      {"garble table", "cowroot: " + st + "/table: damaged (slot 0: a slot of no known kind)" + fix},
      {"zero table", "cowroot: " + st + "/table: damaged (its counts are not what its slots hold)" + fix},
      // (The state's directory was named for these.)
      {"chmod table", "cowroot: " + st + "/table: Permission denied" + fix},
      {"dir table", "cowroot: " + st + "/table: Is a directory" + fix},
  };
  for (auto& k : cases) {
    CAPTURE(std::string(k.damage));
    auto made = b.in(c, "chown 7:8 /etc/data && chmod 4755 /etc/data && stat -c '%a %u %g' /etc/data");
    REQUIRE(made.out == "4755 7 8\n");
    std::string d = k.damage;
    if (d == "rm table xattr") REQUIRE(sh("rm " + q(st + "/table") + " " + q(st + "/xattr")).status == 0);
    if (d == "rm -r state") REQUIRE(sh("rm -r " + q(st)).status == 0);
    if (d == "rm xattr") REQUIRE(sh("rm " + q(st + "/xattr")).status == 0);
    if (d == "truncate table") REQUIRE(truncate((st + "/table").c_str(), 100) == 0);
    if (d == "garble table") scribble(st + "/table", false);
    if (d == "zero table") scribble(st + "/table", true);
    if (d == "chmod table") REQUIRE(chmod((st + "/table").c_str(), 0) == 0);
    if (d == "dir table") REQUIRE(sh("rm " + q(st + "/table") + " && mkdir " + q(st + "/table")).status == 0);
    // (Bounded: a table of garbage kept a session's first lookups spinning
    // for over a minute.)
    auto r = sh("timeout 20 " + cowroot() + " -r " + q(c) + " -- stat -c '%a %u %g' /etc/data 2>&1");
    CHECK(r.status == 1);
    CHECK(r.out == k.says);
    auto reset = sh(cowroot() + " reset " + q(c) + " 2>&1");
    CHECK_MESSAGE(reset.status == 0, reset.out);
    CHECK(b.in(c, "stat -c '%a %u %g' /etc/data").out == "644 0 0\n");
  }
  // A state directory the daemon cannot write in: its one line, not a
  // second one saying it did not start.
  unlink((st + "/lock").c_str());
  REQUIRE(chmod(st.c_str(), 0500) == 0);
  auto r = sh(cowroot() + " -r " + q(c) + " -- true 2>&1");
  chmod(st.c_str(), 0700);
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot-faked: cannot create " + st + "/lock: Permission denied\n");
}

// What a full disk does to a clone's copy of the fake state (here a file
// size limit, EFBIG): the destination is named, not the base's table, and
// nothing of the clone is left.
TEST_CASE("a clone that cannot write its copy of the fake state names the destination and leaves nothing") {
  Base b;
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  std::string c = b.dir.path + "/c";
  auto r = sh("trap '' XFSZ; ulimit -f 8; " + cowroot() + " clone " + q(b.base) + " " + q(c) + " 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: cannot clone " + b.base + " to " + c + ": File too large\n");
  CHECK_FALSE(exists(c));
  CHECK_FALSE(exists(c + ".cowroot"));
}

// The clean copy (C.cowroot/clean) is what reset puts back as the state: a
// damaged one was copied over the state, reset said nothing, and no session
// could open the clone again, however often it was reset. Reset makes a
// damaged clean copy again by a full re-clone, as a damaged shared set.
TEST_CASE("reset of a clone whose clean state is damaged re-clones it: never success with an unusable clone") {
  Base b;
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  std::string c = b.clone("c"), clean = c + ".cowroot/clean";
  for (std::string damage : {"truncate", "garble", "zero", "rm"}) {
    CAPTURE(damage);
    REQUIRE(b.in(c, "chown 7:8 /etc/data && touch /etc/new").status == 0);
    if (damage == "truncate") REQUIRE(truncate((clean + "/table").c_str(), 100) == 0);
    if (damage == "garble") scribble(clean + "/table", false);
    if (damage == "zero") scribble(clean + "/table", true);
    if (damage == "rm") REQUIRE(unlink((clean + "/xattr").c_str()) == 0);
    auto reset = sh(cowroot() + " reset " + q(c) + " 2>&1");
    CHECK_MESSAGE(reset.status == 0, reset.out);
    auto r = b.in(c, "stat -c '%a %u %g' /etc/data; ls /etc/new");
    CHECK(r.status == 2);  // ls: no /etc/new
    CHECK(r.out.find("644 0 0\n") == 0);
    CHECK(sh(cowroot() + " reset " + q(c) + " 2>&1").status == 0);
  }
}

// A clone's `base` file names the base reset goes back to: garbled, it is
// said to be damaged (it used to say the base "(garbage) is gone").
TEST_CASE("reset of a clone whose base file is garbled says the file is damaged") {
  Base b;
  std::string c = b.clone("c");
  write_file(c + ".cowroot/base", std::string("garbage\0\xff", 9));
  auto r = sh(cowroot() + " reset " + q(c) + " 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: " + c + ".cowroot/base: damaged (no absolute path of a base on its first line): the base of " +
                     c + " is not known; remove " + c + " and " + c + ".cowroot and clone it again\n");
  write_file(c + ".cowroot/base", b.base + std::string("\x01\0\n", 3));
  r = sh(cowroot() + " reset " + q(c) + " 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: " + c + ".cowroot/base: damaged (bytes that are no text on its first line): the base of " +
                     c + " is not known; remove " + c + " and " + c + ".cowroot and clone it again\n");
  // Its identity garbled, the base path whole: another base, as far as
  // reset can tell: a full re-clone from it.
  write_file(c + ".cowroot/base", b.base + "\n\xff\x01\n");
  r = sh(cowroot() + " reset " + q(c) + " 2>&1");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(b.in(c, "cat /etc/data").out == "base data\n");
}

// A sealed base's fake state holds the owners and modes of every clone
// made from it: verify checks it too (it opens and passes a session's
// check), and a clone of a damaged one is refused naming it.
TEST_CASE("verify reports a sealed base's damaged fake state; cloning it is refused in one line") {
  Base b;
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  std::string st = b.base + ".cowroot/state", keep = b.dir / "table.keep";
  REQUIRE(sh("cp " + q(st + "/table") + " " + q(keep)).status == 0);
  for (std::string damage : {"truncate", "zero", "garble", "rm"}) {
    CAPTURE(damage);
    if (damage == "truncate") REQUIRE(truncate((st + "/table").c_str(), 100) == 0);
    if (damage == "zero") scribble(st + "/table", true);
    if (damage == "garble") scribble(st + "/table", false);
    if (damage == "rm") REQUIRE(unlink((st + "/table").c_str()) == 0);
    auto v = sh(cowroot() + " verify " + q(b.base) + " 2>&1");
    CHECK(v.status == 1);
    CHECK(v.out.find("changed: fake state (" + st + "/table: " + (damage == "rm" ? "missing" : "damaged (")) !=
          std::string::npos);
    auto c = sh(cowroot() + " clone " + q(b.base) + " " + q(b.dir / "c") + " 2>&1");
    CHECK(c.status == 1);
    CHECK(c.out.find("cowroot: cannot clone " + b.base + ": " + st + "/table: " + (damage == "rm" ? "missing" : "damaged (")) ==
          0);
    CHECK(std::count(c.out.begin(), c.out.end(), '\n') == 1);
    CHECK_FALSE(exists(b.dir / "c"));
    REQUIRE(sh("cp " + q(keep) + " " + q(st + "/table")).status == 0);
    CHECK(sh(cowroot() + " verify " + q(b.base)).status == 0);
  }
  // Its attribute heap, or the whole state, missing: the same, named (a
  // clone made regardless would have none of the base's owners and modes).
  REQUIRE(sh("mv " + q(st + "/xattr") + " " + q(b.dir / "xattr.keep")).status == 0);
  auto c = sh(cowroot() + " run --base " + q(b.base) + " -- true 2>&1");
  CHECK(c.status != 0);
  CHECK(c.out == "cowroot: cannot clone " + b.base + ": " + st + "/xattr: missing (`cowroot verify " + b.base +
                     "` says what else changed)\n");
  REQUIRE(sh("mv " + q(b.dir / "xattr.keep") + " " + q(st + "/xattr") + " && mv " + q(st) + " " + q(b.dir / "state.keep"))
              .status == 0);
  c = sh(cowroot() + " clone " + q(b.base) + " " + q(b.dir / "c") + " 2>&1");
  CHECK(c.status == 1);
  CHECK(c.out.find("cowroot: cannot clone " + b.base + ": " + st + "/table: missing") == 0);
  CHECK_FALSE(exists(b.dir / "c"));
  REQUIRE(sh("mv " + q(b.dir / "state.keep") + " " + q(st)).status == 0);
  CHECK(sh(cowroot() + " verify " + q(b.base)).status == 0);
}

TEST_CASE("cloning an unsealed base says once that it is unprotected") {
  Base b;
  auto r = sh(cowroot() + " clone " + q(b.base) + " " + q(b.dir / "c") + " 2>&1");
  CHECK(r.status == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  CHECK(r.out.find("not sealed") != std::string::npos);
}

TEST_CASE("removing a clone never follows a symlink out of it") {
  Base b;
  TempDir home;
  write_file(home / "precious", "keep me\n");
  REQUIRE(symlink(home.path.c_str(), (b.base + "/home-link").c_str()) == 0);
  auto r = sh(cowroot() + " run --base " + q(b.base) + " -- /bin/sh -c 'ln -s " + home.path +
              " /tmp/another; echo ok' 2>&1");
  CHECK(r.out.find("ok") != std::string::npos);
  CHECK(slurp(home / "precious") == "keep me\n");
  std::string c = b.clone("c");
  REQUIRE(sh(cowroot() + " reset " + q(c)).status == 0);
  CHECK(slurp(home / "precious") == "keep me\n");
}

// `cowroot run` killed outright (kill -9, an OOM kill): its command, and
// what that started, go with it, not on for nobody in a throwaway root.
TEST_CASE("run: the command and what it started end when cowroot run is killed outright") {
  Base b;
  auto r = sh(cowroot() + " run --base " + q(b.base) +
              " -- /bin/sh -c 'n=37; (sleep $n.25 &); sleep $n.5; echo never' 2>&1 & P=$!; "
              "while ! pgrep -f 'sleep 37[.]5' >/dev/null; do sleep 0.1; done; kill -9 $P; sleep 2; "
              "pgrep -f 'sleep 37[.][25]' || echo none left");
  CHECK(r.out == "cowroot: /bin/sh: the cowroot that started it was killed: killed it and what it started\nnone left\n");
}

// pbuilder makes its mount points; a bind whose inside directory the root
// lacks answered by name but was missing from its parent's listing (find,
// ls, rsync). In a clone the launcher makes it, journaled (reset takes it
// away); a base given as the root is not written to: the name only.
TEST_CASE("a bind's inside directory the root lacks is made, listed in its parent, and gone after reset") {
  Base b;
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  std::string c = b.clone("c");
  REQUIRE(mkdir((b.dir / "results").c_str(), 0755) == 0);
  write_file(b.dir / "results/built.deb", "deb\n");
  auto r = sh(cowroot() + " -r " + q(c) + " --bind " + q(b.dir / "results") + ":/srv/results -- /bin/sh -c " +
              q("ls / | grep -c '^srv$'; find /srv -maxdepth 1 -name results; cat /srv/results/built.deb; "
                "echo made > /srv/results/log") +
              " 2>&1");
  CHECK(r.out == "1\n/srv/results\ndeb\n");
  CHECK(slurp(b.dir / "results/log") == "made\n");
  CHECK(access((b.base + "/srv").c_str(), F_OK) != 0);
  REQUIRE(sh(cowroot() + " reset " + q(c) + " 2>&1").status == 0);
  CHECK(access((c + "/srv").c_str(), F_OK) != 0);
  CHECK(slurp(b.dir / "results/built.deb") == "deb\n");
  // A root that is no clone (a directory of the user's) gets no bind point
  // made in it; the bind works. (The sealed base itself is refused as a root.)
  std::string plain = b.dir / "plain";
  REQUIRE(sh("cp -a " + q(c) + " " + q(plain)).status == 0);
  r = sh(cowroot() + " -r " + q(plain) + " --bind " + q(b.dir / "results") + ":/srv/results -- /bin/sh -c " +
         q("cat /srv/results/built.deb") + " 2>&1");
  CHECK(r.out == "deb\n");
  CHECK(access((plain + "/srv").c_str(), F_OK) != 0);
  r = sh(cowroot() + " -r " + q(b.base) + " --bind " + q(b.dir / "results") + ":/srv/results -- /bin/true 2>&1");
  CHECK(r.status == 1);
  CHECK(access((b.base + "/srv").c_str(), F_OK) != 0);
  CHECK(sh(cowroot() + " verify " + q(b.base)).status == 0);
}

TEST_CASE("run: a throwaway root with fake root inside; --keep keeps it") {
  Base b;
  auto r = sh("PATH=/tmp/nowhere:$PATH HOME=/tmp/nohome LANG=C.UTF-8 " + cowroot() + " run --base " + q(b.base) +
              " -- /bin/sh -c 'id -u; echo x > /etc/data; cat /etc/data; echo $PATH $HOME $LANG' 2>&1");
  // root's PATH and HOME, as a login inside; other variables as they were
  CHECK(r.out == "0\nx\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /root C.UTF-8\n");
  CHECK(slurp(b.base + "/etc/data") == "base data\n");
  auto left = sh("ls -a " + q(b.dir.path) + " | grep -c cowroot-run");
  CHECK(left.out == "0\n");
  std::string k = b.dir / "kept";
  auto r2 = sh(cowroot() + " run --base " + q(b.base) + " --keep " + q(k) + " -- /bin/sh -c 'echo y > /etc/data'");
  CHECK(r2.status == 0);
  CHECK(slurp(k + "/etc/data") == "y\n");
}

// What a `run --base` killed outright left beside the base (its throwaway
// clone and sidecar, a clone it was still making) goes with the next run
// there; a live process's, and a symlink of such a name, stay.
TEST_CASE("run: what a killed run left beside its base goes with the next run") {
  Base b;
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  REQUIRE(waitpid(gone, nullptr, 0) == gone);
  std::string dead = ".cowroot-run-" + std::to_string(gone), live = ".cowroot-run-" + std::to_string(getpid());
  REQUIRE(mkdir((b.dir / "target").c_str(), 0755) == 0);
  for (std::string n : {dead, dead + ".cowroot", dead + ".cowroot-new-" + std::to_string(gone) + ".side", live,
                        live + ".cowroot"})
    REQUIRE(sh("mkdir -p " + q(b.dir / n + "/etc") + " && touch " + q(b.dir / n + "/etc/x")).status == 0);
  REQUIRE(symlink("target", (b.dir / dead + "0").c_str()) == 0);  // not a directory: stays
  auto r = sh(cowroot() + " run --base " + q(b.base) + " -- /bin/sh -c true 2>&1");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(sh("ls -a " + q(b.dir.path) + " | grep cowroot-run | LC_ALL=C sort | tr '\\n' ' '").out ==
        (dead + "0" < live ? dead + "0 " + live + " " + live + ".cowroot " : live + " " + live + ".cowroot " + dead + "0 "));
  CHECK(exists(b.dir / "target"));
}

// Clones share their base's files: a program of a sibling clone, or one
// the host runs from the base itself, is the very inode of the root's
// program of that name. start-stop-daemon --exec and killall compare
// /proc/PID/exe with it (readlink, stat): a process of another root, or of
// none, must not read as the root's program, or a package's `invoke-rc.d
// stop` in one test's root stops another test's daemon, or the host's.
// Its links are refused as for a process one may not trace; one of another
// session in the same root still reads as its program.
TEST_CASE("a sibling clone's process or the host's, running the same file, is not taken for the root's program") {
  Base b;
  std::string c1 = b.clone("c1"), c2 = b.clone("c2");
  auto started = b.in(c1, "sleep 30 >/dev/null 2>&1 & echo $!");
  REQUIRE(started.status == 0);
  std::string sib = started.out.substr(0, started.out.find('\n'));
  REQUIRE(!sib.empty());
  pid_t host = fork();
  REQUIRE(host >= 0);
  if (host == 0) {
    execl((b.base + "/usr/bin/sleep").c_str(), "sleep", "30", (char*)nullptr);
    _exit(127);
  }
  auto exe_of = [](pid_t pid) {
    char buf[4096];
    ssize_t n = readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), buf, sizeof buf);
    return n < 0 ? std::string() : std::string(buf, n);
  };
  for (int i = 0; i < 2000 && exe_of(host) != b.base + "/usr/bin/sleep"; i++) usleep(1000);
  CHECK(real_stat(b.base + "/usr/bin/sleep").st_ino == real_stat(c2 + "/usr/bin/sleep").st_ino);
  auto look = [&](const std::string& root, const std::string& pid) {
    return b.in(root, "readlink /proc/" + pid + "/exe || echo refused; stat -L -c %i /proc/" + pid +
                          "/exe 2>/dev/null || echo refused; ls /proc/" + pid + "/cwd/ >/dev/null 2>&1 || echo refused")
        .out;
  };
  std::string hp = std::to_string(host);
  CHECK(look(c2, sib) == "refused\nrefused\nrefused\n");
  CHECK(look(c2, hp) == "refused\nrefused\nrefused\n");
  CHECK(look(c1, hp) == "refused\nrefused\nrefused\n");
  // Another session in c1 itself: its program, and the same inode.
  auto same_root = b.in(c1, "readlink /proc/" + sib + "/exe; stat -L -c %i /proc/" + sib + "/exe; stat -c %i /usr/bin/sleep");
  CHECK(same_root.out.substr(0, 15) == "/usr/bin/sleep\n");
  auto n = same_root.out.substr(15);
  CHECK(n.substr(0, n.find('\n')) == n.substr(n.find('\n') + 1, n.size() - n.find('\n') - 2));
  kill(host, SIGKILL);
  waitpid(host, nullptr, 0);
  kill(atoi(sib.c_str()), SIGKILL);
}

// A running program's file written to in the clone (touch) gets a copy of
// its own: /proc names the old mapping deleted, but in a real root it is
// the same file, so its exe still reads, stats and opens as the program.
TEST_CASE("a running program whose shared file got its own copy is still its exe") {
  Base b;
  std::string c = b.clone("c");
  auto r = b.in(c, "sleep 30 & p=$!; i=0; while [ \"$(readlink /proc/$p/exe)\" != /usr/bin/sleep ] && [ $i -lt 2000 ]; "
                   "do i=$((i+1)); done; touch /usr/bin/sleep; readlink /proc/$p/exe; "
                   "[ \"$(stat -L -c %i /proc/$p/exe)\" = \"$(stat -c %i /usr/bin/sleep)\" ] && echo same; "
                   "perl -e 'local $/; open(A, q{<}, $ARGV[0]) or die; open(B, q{<}, $ARGV[1]) or die; "
                   "print qq{same-bytes\\n} if <A> eq <B>' /proc/$p/exe /usr/bin/sleep; kill $p");
  CHECK_MESSAGE(r.out == "/usr/bin/sleep\nsame\nsame-bytes\n", r.out);
  CHECK(real_stat(b.base + "/usr/bin/sleep").st_ino != real_stat(c + "/usr/bin/sleep").st_ino);  // it was broken
}

TEST_CASE("reset puts a clone back to its base") {
  Base b;
  std::string c = b.clone("c");
  CHECK(b.in(c, "echo changed > /etc/data; mkdir /newdir; rm /etc/motd; chown 5 /etc/a").status == 0);
  auto r = sh(cowroot() + " reset " + q(c) + " 2>&1");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(slurp(c + "/etc/data") == "base data\n");
  CHECK_FALSE(exists(c + "/newdir"));
  CHECK(exists(c + "/etc/motd"));
  CHECK(b.in(c, "stat -c %u /etc/a").out == "0\n");
}

TEST_CASE("reset undoes exactly what the journal lists, and re-clones after a change behind its back") {
  Base b;
  std::string c = b.clone("c");
  CHECK(b.in(c, "mkdir -p /opt/x/y && echo f > /opt/x/y/f && mv /etc/data /etc/moved && echo hi >> /etc/a && "
                "chmod 700 /tmp && rm -rf /usr/bin").status == 0);
  REQUIRE(sh(cowroot() + " reset " + q(c)).status == 0);
  auto tree = [](const std::string& d) { return sh("cd " + q(d) + " && find . | sort").out; };
  CHECK(tree(c) == tree(b.base));
  CHECK(real_stat(c + "/etc/a").st_ino == real_stat(b.base + "/etc/a").st_ino);
  CHECK(b.in(c, "stat -c %a /tmp").out == "1777\n");
  CHECK_FALSE(exists(c + ".cowroot/journal"));
  // A file made behind the library's back is not in the journal: reset notices.
  write_file(c + "/etc/untracked", "x");
  REQUIRE(sh(cowroot() + " reset " + q(c)).status == 0);
  CHECK_FALSE(exists(c + "/etc/untracked"));
  CHECK(tree(c) == tree(b.base));
}

TEST_CASE("reset refuses a clone a session is using") {
  Base b;
  std::string c = b.clone("c");
  std::string script = "touch /tmp/started; while [ ! -e /tmp/stop ]; do sleep 0.05; done";
  std::string cmd = cowroot() + " -r " + q(c) + " -- /bin/sh -c " + q(script) + " >/dev/null 2>&1 &";
  REQUIRE(system(cmd.c_str()) == 0);
  for (int i = 0; i < 100 && !exists(c + "/tmp/started"); i++) usleep(50000);
  auto r = sh(cowroot() + " reset " + q(c) + " 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out.find("in use") != std::string::npos);
  write_file(c + "/tmp/stop", "");
  for (int i = 0; i < 100 && sh(cowroot() + " reset " + q(c) + " 2>&1").status != 0; i++) usleep(100000);
  CHECK_FALSE(exists(c + "/tmp/stop"));
  // A daemon on its way out (its last program gone, its socket taken away,
  // its lock not yet let go: an exit that takes a moment) is waited for,
  // not reported as a session: here the lock is held 0.4 s by a process
  // with no socket.
  write_file(c + "/tmp/left", "");
  int p[2];
  REQUIRE(pipe(p) == 0);
  pid_t holder = fork();
  REQUIRE(holder >= 0);
  if (holder == 0) {
    int fd = open((c + ".cowroot/state/lock").c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) _exit(1);
    if (write(p[1], "x", 1) != 1) _exit(1);
    usleep(400000);
    // (Its lock goes with its exit, after this.)
    int m = open((c + "-released").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    _exit(m >= 0 ? 0 : 1);
  }
  close(p[1]);
  char x;
  REQUIRE(read(p[0], &x, 1) == 1);
  close(p[0]);
  auto late = sh(cowroot() + " reset " + q(c) + " 2>&1");
  // Waited for the lock: the holder was at its end when reset went on.
  CHECK(exists(c + "-released"));
  int status;
  waitpid(holder, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_MESSAGE(late.status == 0, late.out);
  CHECK_FALSE(exists(c + "/tmp/left"));
}

// A daemon a session left running (a gpg-agent) keeps the clone in use:
// reset names it and says how to end it; `reset --kill` ends the
// session's processes, then resets.
TEST_CASE("reset names the processes a session left running, and --kill ends them first") {
  Base b;
  std::string c = b.clone("c");
  auto leave = [&](const std::string& file) {
    auto r = b.in(c, "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > /tmp/pid; echo x > " + file);
    REQUIRE(r.status == 0);
    return slurp(c + "/tmp/pid").substr(0, slurp(c + "/tmp/pid").find('\n'));
  };
  auto gone = [](const std::string& pid) {
    // (Killed, it may stay a zombie a moment until its new parent reaps it.)
    for (int i = 0; i < 500; i++) {
      std::string stat = slurp("/proc/" + pid + "/stat");
      if (stat.empty() || stat.find(") Z ") != std::string::npos) return true;
      usleep(10000);
    }
    return false;
  };
  std::string pid = leave("/etc/one");
  auto r = sh(cowroot() + " reset " + q(c) + " 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: " + c + " is in use by a running session: process " + pid + " (sleep) runs in it (`kill " +
                     pid + "` ends it, or `cowroot reset --kill " + c + "` ends the session's processes and resets)\n");
  CHECK(exists(c + "/etc/one"));
  // As it says: then the reset goes through.
  REQUIRE(kill(atoi(pid.c_str()), SIGTERM) == 0);
  r = sh(cowroot() + " reset " + q(c) + " 2>&1");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK_FALSE(exists(c + "/etc/one"));
  pid = leave("/etc/two");
  r = sh(cowroot() + " reset --kill " + q(c) + " 2>&1");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(r.out == "");
  CHECK(gone(pid));
  CHECK_FALSE(exists(c + "/etc/two"));
  // Nothing running: --kill is a plain reset.
  r = sh(cowroot() + " reset --kill " + q(c) + " 2>&1");
  CHECK_MESSAGE(r.status == 0, r.out);
}

TEST_CASE("a break that cannot complete leaves the original whole and linked, and no temporary file") {
  Base b;
  // 2 MiB of data: a file size limit of 1 MiB makes the copy fail halfway,
  // as a full disk would (EFBIG here, ENOSPC there: the same path).
  {
    std::string big(2 << 20, 'x');
    write_file(b.base + "/etc/big", big);
  }
  std::string c = b.clone("c");
  ino_t before = real_stat(c + "/etc/big").st_ino;
  auto r = b.in(c, "trap '' XFSZ; ulimit -f 1024; echo more >> /etc/big; echo rc=$?");
  CHECK(r.out.find("rc=0") == std::string::npos);
  CHECK(real_stat(c + "/etc/big").st_ino == before);
  CHECK(real_stat(c + "/etc/big").st_size == (off_t)(2 << 20));
  CHECK(real_stat(b.base + "/etc/big").st_size == (off_t)(2 << 20));
  CHECK(sh("ls -a " + q(c + "/etc") + " | grep -c cowroot-break").out == "0\n");
}

// The same on a file system that is really full (tests/run.sh mounts a
// 40 MiB tmpfs when it runs as root): the break's copy cannot be written.
// `ulimit -f`: a write past the limit is SIGXFSZ, which kills the writer.
// cowroot's own writes (a session's state, a clone's records, a break's
// copy made for a program) fail with EFBIG instead, said in one line, and
// leave nothing half made; the program whose chmod needed the copy goes on.
TEST_CASE("under ulimit -f: cowroot's own writes fail in one line, never kill, and leave nothing half made") {
  Base b;
  std::string c = b.clone("c");
  auto r = sh("ulimit -f 4 && " + cowroot() + " -- true 2>&1; echo status $?");
  CHECK(r.out.rfind("cowroot: cannot create the state in ", 0) == 0);
  CHECK(r.out.find(": File too large\nstatus 1\n") != std::string::npos);
  std::string made = r.out.substr(36, r.out.find(": File too large") - 36);
  CHECK(access(made.c_str(), F_OK) != 0);
  r = sh("ulimit -f 8 && " + cowroot() + " clone " + q(b.base) + " " + q(b.dir / "d") + " 2>&1; echo status $?; ls " +
         q(b.dir.path) + " | grep -c '^d'");
  CHECK(r.out.find("File too large\nstatus 1\n0\n") != std::string::npos);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 3);
  Snapshot before = snap(b.base + "/etc/sparse");
  r = sh("ulimit -f 1000 && " + cowroot() + " -r " + q(c) +
         " -- /bin/sh -c 'chmod 600 /etc/sparse; echo status $?; stat -c %a /etc/sparse' 2>&1");
  CHECK(r.out == "chmod: changing permissions of '/etc/sparse': File too large\nstatus 1\n644\n");
  CHECK(same(snap(b.base + "/etc/sparse"), before));
}

TEST_CASE("on a full file system a break fails with ENOSPC; the original stays whole and linked, no temporary left") {
  const char* fs = getenv("COWROOT_TEST_SMALLFS");
  if (!fs || !*fs) {
    MESSAGE("skipped: no small file system to fill (tests/run.sh mounts one when started as root)");
    return;
  }
  std::string saved = getenv("TMPDIR") ? getenv("TMPDIR") : "";
  setenv("TMPDIR", fs, 1);
  {
    Base b;
    setenv("TMPDIR", saved.c_str(), 1);
    std::string big(4 << 20, 'y');
    write_file(b.base + "/etc/big", big);
    std::string c = b.clone("c");
    ino_t before = real_stat(c + "/etc/big").st_ino;
    // Fill what is left, then write to the shared file.
    sh("dd if=/dev/zero of=" + q(b.dir / "filler") + " bs=64k 2>/dev/null");
    auto r = b.in(c, "echo more >> /etc/big; echo rc=$?");
    CHECK(r.out.find("No space left on device") != std::string::npos);
    CHECK(r.out.find("rc=0") == std::string::npos);
    CHECK(real_stat(c + "/etc/big").st_ino == before);
    CHECK(real_stat(c + "/etc/big").st_nlink == 2);
    CHECK((slurp(c + "/etc/big") == big));  // parenthesised: no 4 MiB in a failure message
    CHECK((slurp(b.base + "/etc/big") == big));
    CHECK(sh("ls -a " + q(c + "/etc") + " | grep -c cowroot-break").out == "0\n");
    // With room again, the same write works and the base still does not change.
    unlink((b.dir / "filler").c_str());
    r = b.in(c, "echo more >> /etc/big; echo rc=$?");
    CHECK(r.out == "rc=0\n");
    CHECK(real_stat(c + "/etc/big").st_size == (off_t)(4 << 20) + 5);
    CHECK((slurp(b.base + "/etc/big") == big));
  }
  setenv("TMPDIR", saved.c_str(), 1);
}

TEST_CASE("--cow DIR: hard-linked trees are copy-on-write without a chroot, as cow-shell") {
  TempDir d;
  REQUIRE(mkdir((d / "orig").c_str(), 0755) == 0);
  write_file(d / "orig/f", "original\n");
  REQUIRE(sh("cp -al " + q(d / "orig") + " " + q(d / "work")).status == 0);
  auto r = sh("cd " + q(d / "work") + " && " + cowroot() + " --cow . -- sh -c 'echo changed >> f; cat f'");
  CHECK(r.out == "original\nchanged\n");
  CHECK(slurp(d / "orig/f") == "original\n");
}

TEST_CASE("--cow DIR: chmod and chown of a hard-linked file give it its own copy, as cow-shell") {
  TempDir d;
  REQUIRE(mkdir((d / "1").c_str(), 0755) == 0);
  write_file(d / "1/a", "a\n");
  REQUIRE(sh("cp -al " + q(d / "1") + " " + q(d / "2")).status == 0);
  auto r = sh("cd " + q(d.path) + " && " + cowroot() +
              " --cow . -- sh -c 'chmod 400 2/a && chown 7:7 2/a && stat -c \"%a %u\" 1/a 2/a'");
  CHECK(r.out == "644 0\n400 7\n");
  CHECK(real_stat(d / "1/a").st_ino != real_stat(d / "2/a").st_ino);
  CHECK(real_stat(d / "1/a").st_nlink == 1);
}

TEST_CASE("--cow DIR: what is shared is decided at the start, as cow-shell's inode list") {
  TempDir d;
  REQUIRE(mkdir((d / "base").c_str(), 0755) == 0);
  REQUIRE(mkdir((d / "base/sub").c_str(), 0755) == 0);
  write_file(d / "base/multi1", "M\n");
  REQUIRE(link((d / "base/multi1").c_str(), (d / "base/sub/multi2").c_str()) == 0);
  REQUIRE(sh("cp -al " + q(d / "base") + " " + q(d / "copy")).status == 0);
  write_file(d / "copy/fresh", "new\n");
  // A link made in the session is the session's own: writes go through it.
  // A name written gets its copy alone, as under cow-shell.
  auto r = sh("cd " + q(d / "copy") + " && " + cowroot() +
              " --cow . -- sh -c 'ln fresh f3 && echo z >> f3 && cat fresh && echo M2 >> sub/multi2 && cat multi1 sub/multi2'");
  CHECK(r.out == "new\nz\nM\nM\nM2\n");
  CHECK(slurp(d / "base/multi1") == "M\n");
  CHECK(real_stat(d / "base/multi1").st_ino == real_stat(d / "base/sub/multi2").st_ino);
}

TEST_CASE("--cow DIR: a write through /dev/fd/N or /dev/stdout of a shared file reaches the copy, not the base") {
  TempDir d;
  REQUIRE(mkdir((d / "base").c_str(), 0755) == 0);
  write_file(d / "base/f", "base\n");
  REQUIRE(sh("cp -al " + q(d / "base") + " " + q(d / "copy")).status == 0);
  auto r = sh("cd " + q(d / "copy") + " && " + cowroot() +
              " --cow . -- sh -c 'exec 3<f; echo via-dev-fd > /dev/fd/3; cat f; sh -c \"echo via-stdout > /dev/stdout\" 1<>f; cat f'");
  CHECK(r.out == "via-dev-fd\nvia-stdout\n");
  CHECK(slurp(d / "base/f") == "base\n");
}

TEST_CASE("exec of a fifo fails at once, as the kernel's does") {
  TempDir d;
  REQUIRE(mkfifo((d / "ff").c_str(), 0755) == 0);
  auto r = in_session(d, "timeout 10 sh -c ./ff 2>/dev/null; echo $?");
  CHECK(r.out == "126\n");  // Permission denied, not a hang (124)
}

// When debootstrap fails in dpkg (a package's maintainer script, with no
// "E:" line of debootstrap's own), the line says which package and why,
// and names a copy of debootstrap's log, which goes with the build's
// directory; the next good build of that name removes the copy. A stand-in
// debootstrap first in PATH plays the failing run (no archive needed).
// Two builds of one new image at once: the second waits for the first and
// takes its end as its own, saying that the image is ready, or failing in
// one line when the first made none (debootstrap runs once either way). A
// stand-in debootstrap first in PATH waits for the test's word.
TEST_CASE("the second of two concurrent builds of an image says the image is ready, or that the build it waited for failed") {
  TempDir d;
  REQUIRE(mkdir((d / "bin").c_str(), 0755) == 0);
  REQUIRE(sh("mkdir -p " + q(d / "dd/scripts") + " && touch " + q(d / "dd/scripts/bookworm")).status == 0);
  write_file(d / "bin/debootstrap",
             "#!/bin/sh\nfor a; do t=$p; p=$a; done\necho run >> " + q(d / "runs") + "\n"
             "while [ ! -e " + q(d / "go") + " ]; do sleep 0.05; done\n"
             "[ -e " + q(d / "fail") + " ] && { echo 'E: no luck' >&2; exit 1; }\n"
             "mkdir -p \"$t/etc\" && echo twin > \"$t/etc/hostname\"\n");
  REQUIRE(chmod((d / "bin/debootstrap").c_str(), 0755) == 0);
  std::string env = "XDG_CACHE_HOME=" + q(d / "cache") + " DEBOOTSTRAP_DIR=" + q(d / "dd") + " PATH=" + q(d / "bin") +
                    ":$PATH ";
  std::string build = env + cowroot() + " image build twin --suite bookworm --mirror http://127.0.0.1:9/debian";
  // The first build is under way (debootstrap ran), the second waits for it;
  // then the first goes on. Each one's output and status.
  auto both = [&]() {
    unlink((d / "go").c_str());
    unlink((d / "runs").c_str());
    for (int n : {1, 2}) {
      std::string k = std::to_string(n);
      REQUIRE(system(("(" + build + " > " + q(d / ("out" + k)) + " 2>&1; echo $? > " + q(d / ("rc" + k)) + ") &").c_str()) == 0);
      std::string until = n == 1 ? d / "runs" : d / "out2";
      for (int i = 0; i < 2000 && slurp(until).find(n == 1 ? "run" : "waiting") == std::string::npos; i++) usleep(5000);
    }
    write_file(d / "go", "");
    for (int i = 0; i < 4000 && (slurp(d / "rc1").empty() || slurp(d / "rc2").empty()); i++) usleep(5000);
    std::vector<std::string> r = {slurp(d / "out1"), slurp(d / "rc1"), slurp(d / "out2"), slurp(d / "rc2")};
    for (std::string f : {"rc1", "rc2"}) unlink((d / f).c_str());
    return r;
  };
  auto r = both();
  CHECK(r[1] == "0\n");
  CHECK(r[2] == "cowroot: waiting for another build of image twin\ncowroot: image twin is ready\n");
  CHECK(r[3] == "0\n");
  CHECK(slurp(d / "runs") == "run\n");
  REQUIRE(sh(env + cowroot() + " image rm twin").status == 0);
  write_file(d / "fail", "");
  r = both();
  CHECK(r[0].find("cowroot: cannot build image twin: debootstrap failed: E: no luck") != std::string::npos);
  CHECK(r[1] == "1\n");
  CHECK(r[2] == "cowroot: waiting for another build of image twin\ncowroot: cannot build image twin: the build of it this "
                "one waited for failed or was stopped (its own output says why; build it again to try again)\n");
  CHECK(r[3] == "1\n");
  CHECK(slurp(d / "runs") == "run\n");
  CHECK(sh("ls -A " + q(d / "cache/cowroot/images")).out == "");
}

TEST_CASE("a failed image build names dpkg's failure and keeps debootstrap's log") {
  TempDir d;
  REQUIRE(mkdir((d / "bin").c_str(), 0755) == 0);
  write_file(d / "bin/debootstrap",
             "#!/bin/sh\nfor a; do t=$p; p=$a; done\nmkdir -p \"$t/debootstrap\"\n"
             "printf 'Setting up libfoo (1.0) ...\\ndpkg: error processing package libfoo:amd64 (--configure):\\n"
             " installed libfoo:amd64 package post-installation script subprocess returned error exit status 10\\n"
             "Errors were encountered while processing:\\n libfoo:amd64\\n' > \"$t/debootstrap/debootstrap.log\"\n"
             "echo 'W: Failure while configuring required packages.' >&2\nexit 1\n");
  REQUIRE(chmod((d / "bin/debootstrap").c_str(), 0755) == 0);
  std::string env = "XDG_CACHE_HOME=" + q(d / "cache") + " PATH=" + q(d / "bin") + ":$PATH ";
  auto r = sh(env + cowroot() + " image build failing --suite bookworm --mirror http://127.0.0.1:9/debian 2>&1 >/dev/null | "
                    "grep '^cowroot: cannot'");
  std::string log = d / "cache/cowroot/images/failing.failed.log";
  CHECK(r.out == "cowroot: cannot build image failing: debootstrap failed: dpkg: error processing package libfoo:amd64 "
                 "(--configure): installed libfoo:amd64 package post-installation script subprocess returned error "
                 "exit status 10 (its log: " + log + ")\n");
  CHECK(slurp(log).find(" libfoo:amd64\n") != std::string::npos);
  // Nothing else is left of the build, and the list is empty.
  CHECK(sh("ls -A " + q(d / "cache/cowroot/images")).out == "failing.failed.log\n");
  CHECK(sh(env + cowroot() + " image list 2>&1").out == "");
}

// A clone that cannot be made where it goes names that directory and why,
// not the temporary name it is made under (DEST.cowroot-new-PID, or the
// throwaway .cowroot-run-PID of `run --base`).
TEST_CASE("a clone in a directory that cannot be written names the directory") {
  Base b;
  std::string rop = b.dir / "rop", base = rop + "/base";
  REQUIRE(mkdir(rop.c_str(), 0755) == 0);
  REQUIRE(rename(b.base.c_str(), base.c_str()) == 0);
  REQUIRE(chmod(rop.c_str(), 0555) == 0);
  auto r = sh(cowroot() + " run --base " + q(base) + " -- true 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: cannot write in " + rop + " to make a throwaway clone of " + base +
                     " beside it: Permission denied (--keep DIR makes it elsewhere on its file system)\n");
  r = sh(cowroot() + " clone " + q(base) + " " + q(rop + "/c") + " 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: cannot write in " + rop + " to make " + rop + "/c: Permission denied\n");
  r = sh(cowroot() + " run --base " + q(base) + " --keep " + q(rop + "/k") + " -- true 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: cannot write in " + rop + " to make " + rop + "/k: Permission denied\n");
  REQUIRE(chmod(rop.c_str(), 0755) == 0);
  CHECK(sh("ls -A " + q(rop)).out == "base\n");
}

// Every option that takes a value, given last without one, says so in
// one line, as --timeout always did (not "unknown option" and the usage).
TEST_CASE("an option given without its value says it needs one, in one line") {
  for (std::string args : {"run --image", "run --base", "run --keep", "run --keep /nonexistent/k --image",
                           "run --timeout", "run --bind", "--timeout", "-r", "--root", "--bind", "--cow", "-s", "-i",
                           "--save-file", "--load", "-l", "-f", "-b"}) {
    CAPTURE(args);
    auto r = sh(cowroot() + " " + args + " 2>&1");
    CHECK(r.status == 2);
    CHECK(r.out == "cowroot: option " + args.substr(args.rfind(' ') + 1) + " needs a value (see cowroot --help)\n");
  }
}

TEST_CASE("bad input: a SRC that is no directory, a DEST that exists, another file system") {
  Base b;
  write_file(b.dir / "file", "");
  auto r = sh(cowroot() + " clone " + q(b.dir / "file") + " " + q(b.dir / "x") + " 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out == "cowroot: " + b.dir / "file" + ": not a directory\n");
  r = sh(cowroot() + " clone " + q(b.base) + " " + q(b.dir / "file") + " 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out.find("already exists") != std::string::npos);
  if (exists("/dev/shm") && access("/dev/shm", W_OK) == 0) {
    std::string other = "/dev/shm/cowroot-test-" + std::to_string(getpid());
    r = sh(cowroot() + " clone " + q(b.base) + " " + q(other) + " 2>&1");
    CHECK(r.status != 0);
    CHECK(r.out.find("another file system") != std::string::npos);
    CHECK_FALSE(exists(other));
  }
  CHECK(sh("ls " + q(b.dir.path) + " | grep -c cowroot-new").out == "0\n");
  // SRC may name a cached image.
  std::string cache = b.dir / "cache";
  REQUIRE(sh("mkdir -p " + q(cache + "/cowroot/images/mini") + " && " + cowroot() + " clone " + q(b.base) + " " +
             q(cache + "/cowroot/images/mini/root") + " 2>/dev/null")
              .status == 0);
  r = sh("cd " + q(b.dir.path) + " && XDG_CACHE_HOME=" + q(cache) + " " + cowroot() + " clone mini from-image 2>&1");
  CHECK(r.status == 0);
  CHECK(exists(b.dir / "from-image/etc/data"));
  CHECK(real_stat(b.dir / "from-image/etc/data").st_ino == real_stat(cache + "/cowroot/images/mini/root/etc/data").st_ino);
  REQUIRE(sh("rm -rf " + q(cache)).status == 0);
  // An image name that is neither an image nor a suite: one line, nothing made in the cache.
  r = sh("XDG_CACHE_HOME=" + q(b.dir / "cache") + " " + cowroot() + " run --image no-such-image -- true 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out == "cowroot: no image no-such-image, and debootstrap knows no suite no-such-image to build it from "
                 "(cowroot image list shows the images; a new image of that name needs the suite to build it from: "
                 "--suite SUITE)\n");
  CHECK(sh("ls -A " + q(b.dir / "cache") + "/cowroot/images 2>/dev/null | wc -l").out == "0\n");
}

namespace {

// The names in a directory, sorted, one space between.
std::string listing(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::string s;
  for (auto& n : names) s += (s.empty() ? "" : " ") + n;
  return s;
}

std::string last_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1);
}

}  // namespace

// ---- reset and clone must be safe (issue 5's acceptance) -------------------

namespace {

std::string tree_of(const std::string& d) { return sh("cd " + q(d) + " && find . | sort").out; }

Result reset(const std::string& c) { return sh(cowroot() + " reset " + q(c) + " 2>&1"); }

// A new base at the same path, as `cowroot image refresh` makes one: the
// same files, all of them new inodes.
void replace_base(const Base& b) {
  std::string old = b.dir / "base.old";
  REQUIRE(rename(b.base.c_str(), old.c_str()) == 0);
  REQUIRE(sh("cp -a " + q(old) + " " + q(b.base)).status == 0);
}

// A base file replaced by a new one. The old inode stays alive elsewhere,
// or the new file could reuse its number, which the clone's shared set
// holds (and then protects by chance).
void replace_file(const Base& b, const std::string& name, const std::string& content) {
  std::string f = b.base + name;
  REQUIRE(link(f.c_str(), (b.dir / "old-inode").c_str()) == 0);
  REQUIRE(unlink(f.c_str()) == 0);
  write_file(f, content);
}

}  // namespace

TEST_CASE("a killed image build: the build stops, and no process and no directory of it is left") {
  if (!exists("/usr/share/debootstrap/scripts/bookworm")) {
    MESSAGE("skipped: no debootstrap");
    return;
  }
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGKILL}) {
    CAPTURE(sig);
    TempDir cache;
    std::string images = cache / "cowroot/images";
    // A mirror that takes the connection and never answers: the build
    // waits in wget for as long as the test wants, without a network.
    int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(srv >= 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    REQUIRE(bind(srv, (sockaddr*)&sa, sizeof sa) == 0);
    REQUIRE(listen(srv, 8) == 0);
    REQUIRE(getsockname(srv, (sockaddr*)&sa, &len) == 0);
    std::string mirror = "http://127.0.0.1:" + std::to_string(ntohs(sa.sin_port)) + "/debian";
    // Every process of the build inherits fd 3, the write end of this
    // pipe: its read end sees EOF when none of them is left.
    int alive[2], out[2];
    REQUIRE(pipe2(alive, O_CLOEXEC) == 0);
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    std::string bin = cowroot();
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      dup2(out[1], 1);
      dup2(out[1], 2);
      dup2(alive[1], 3);
      for (int s : {SIGINT, SIGTERM, SIGHUP}) signal(s, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      setenv("XDG_CACHE_HOME", cache.path.c_str(), 1);
      for (const char* v : {"http_proxy", "HTTP_PROXY", "https_proxy", "all_proxy", "ALL_PROXY"}) unsetenv(v);
      setenv("no_proxy", "127.0.0.1", 1);  // over a proxy /etc/wgetrc may name
      execl(bin.c_str(), bin.c_str(), "image", "build", "killed", "--suite", "bookworm", "--mirror", mirror.c_str(),
            (char*)nullptr);
      _exit(127);
    }
    close(alive[1]);
    close(out[1]);
    // The build is under way once debootstrap's wget has connected.
    pollfd pf[2] = {{srv, POLLIN, 0}, {alive[0], POLLIN, 0}};
    REQUIRE(poll(pf, 2, -1) > 0);
    REQUIRE_MESSAGE((pf[0].revents & POLLIN) != 0, "the build ended before it asked the mirror");
    int conn = accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
    REQUIRE(conn >= 0);
    REQUIRE(kill(pid, sig) == 0);
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK(WIFSIGNALED(st));
    CHECK(WTERMSIG(st) == sig);
    // Nothing of the build is left: no process (none holds fd 3 any more),
    // no directory, and not its lock (its last holder removed it first).
    pollfd gone{alive[0], POLLIN, 0};
    int ended = poll(&gone, 1, 30000);
    CHECK(ended == 1);
    char c;
    if (ended == 1) CHECK(read(alive[0], &c, 1) == 0);
    CHECK(listing(images) == "");
    // (Were something left, this lets it end: its wget fails.)
    close(conn);
    close(srv);
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) text.append(buf, n);
    close(out[0]);
    close(alive[0]);
    INFO(text);
    if (sig == SIGKILL)
      CHECK(last_line(text) == "cowroot: image killed: its builder died: the build was stopped and " + images +
                                   "/killed.build-" + std::to_string(pid) + " removed");
    else
      CHECK(last_line(text) == std::string("cowroot: image killed: build stopped by SIG") + sigabbrev_np(sig) +
                                   ", nothing of it left");
  }
}

TEST_CASE("a build clears what killed builds left, and puts back an image a killed refresh left aside") {
  if (!exists("/usr/share/debootstrap/scripts/bookworm")) {
    MESSAGE("skipped: no debootstrap");
    return;
  }
  Base b;
  std::string images = b.dir / "cache/cowroot/images";
  REQUIRE(sh("mkdir -p " + q(images + "/bookworm.old-99999") + " " + q(images + "/bookworm.build-99998/root/etc") +
             " && " + cowroot() + " clone " + q(b.base) + " " + q(images + "/bookworm.old-99999/root") +
             " 2>/dev/null && touch " + q(images + "/bookworm.old-99999/info"))
              .status == 0);
  // The image is there again, so nothing is built (the mirror is never asked).
  auto r = sh("XDG_CACHE_HOME=" + q(b.dir / "cache") + " " + cowroot() +
              " image build bookworm --mirror http://127.0.0.1:9/debian 2>&1");
  CHECK(r.status == 0);
  CHECK(listing(images) == "bookworm");
  CHECK(exists(images + "/bookworm/root/etc/data"));
}

// The cache keeps NAME.runs (the pool of the image's roots), NAME.build-PID,
// NAME.old-PID, NAME.lock and NAME.failed.log beside an image NAME: a name
// with one of those in it is no image's, or `image rm twin.runs` would
// remove twin's pool, roots in use and all.
TEST_CASE("image names with the cache's own suffixes are refused, and nothing of the cache is touched") {
  Base b;
  std::string cache = b.dir / "cache", images = cache + "/cowroot/images";
  std::string env = "XDG_CACHE_HOME=" + q(cache) + " ";
  // An image twin with a root in its pool, and a build of bookworm under way.
  REQUIRE(sh("mkdir -p " + q(images + "/twin") + " " + q(images + "/twin.runs/run-1-2-3") + " " +
             q(images + "/bookworm.build-1") + " && " + cowroot() + " clone " + q(b.base) + " " +
             q(images + "/twin/root") + " 2>/dev/null && " + cowroot() + " clone " + q(b.base) + " " +
             q(images + "/bookworm.build-1/root") + " 2>/dev/null && touch " + q(images + "/twin.runs/run-1-2-3/root"))
              .status == 0);
  std::string before = listing(images);
  auto r = sh(env + cowroot() + " image rm twin.runs 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out.rfind("cowroot: invalid image name 'twin.runs' (.runs is the cache's own", 0) == 0);
  CHECK(exists(images + "/twin.runs/run-1-2-3/root"));
  for (std::string name : {"twin.runs", "bookworm.build-1", "twin.lock", "twin.old-7", "twin.failed.log", "a.runs.b"}) {
    CAPTURE(name);
    std::string suffix = name.find(".build-") != std::string::npos ? ".build-"
                         : name.find(".old-") != std::string::npos ? ".old-"
                         : name.find(".lock") != std::string::npos ? ".lock"
                         : name.find(".failed.log") != std::string::npos ? ".failed.log"
                                                                        : ".runs";
    std::string refusal = "cowroot: invalid image name '" + name + "' (" + suffix +
                          " is the cache's own: NAME.lock, NAME.build-PID, NAME.old-PID, NAME.runs and "
                          "NAME.failed.log belong to the image NAME)\n";
    for (std::string cmd : {" image build " + name + " --suite bookworm --mirror http://127.0.0.1:9/debian",
                            " image path " + name, " run --image " + name + " -- true",
                            " image build " + name + " --from twin --run /dev/null"}) {
      CAPTURE(cmd);
      r = sh(env + cowroot() + cmd + " 2>&1");
      CHECK(r.status != 0);
      CHECK(r.out == refusal);
    }
    // rm and export too: every image command (README).
    for (std::string cmd : {" image rm " + name, " image remove " + name, " image export " + name + " " + q(b.dir / "x.tar")}) {
      CAPTURE(cmd);
      r = sh(env + cowroot() + cmd + " 2>&1");
      CHECK(r.status == 1);
      CHECK(r.out == refusal);
    }
  }
  // Names no image has for other reasons: refused as such by rm too.
  for (auto [name, why] : std::vector<std::pair<std::string, std::string>>{
           {"a b", "letters, digits, - _ . + only"}, {"..", "it may not start with a dot"},
           {".hidden", "it may not start with a dot"}, {"x/../twin", "letters, digits, - _ . + only"},
           {std::string(65, 'x'), "1 to 64 characters"}}) {
    CAPTURE(name);
    for (std::string verb : {"rm", "path", "export"}) {
      r = sh(env + cowroot() + " image " + verb + " " + q(name) + (verb == "export" ? " " + q(b.dir / "x.tar") : "") +
             " 2>&1");
      CHECK(r.status != 0);
      CHECK(r.out == "cowroot: invalid image name '" + name + "' (" + why + ")\n");
    }
  }
  CHECK(listing(images) == before);
  CHECK(sh(env + cowroot() + " image list 2>&1 | cut -d' ' -f1").out == "twin\n");
}

// debootstrap takes http://, https://, ftp://, file: and ssh: mirrors,
// and splits its mirror argument on spaces: anything else failed deep in
// its run ("E: unknown location not/dists/bookworm/InRelease"). Refused
// first, in one line naming the option and the value.
TEST_CASE("a --mirror debootstrap would not take is refused in one line before anything is made") {
  TempDir d;
  REQUIRE(mkdir((d / "bin").c_str(), 0755) == 0);
  REQUIRE(sh("mkdir -p " + q(d / "dd/scripts") + " && touch " + q(d / "dd/scripts/bookworm")).status == 0);
  // A debootstrap that says what mirror it got, and fails.
  write_file(d / "bin/debootstrap", "#!/bin/sh\nfor a; do m=$a; done\necho \"$m\" >> " + q(d / "runs") +
                                        "\necho 'E: fake' >&2; exit 1\n");
  REQUIRE(chmod((d / "bin/debootstrap").c_str(), 0755) == 0);
  std::string env = "XDG_CACHE_HOME=" + q(d / "cache") + " DEBOOTSTRAP_DIR=" + q(d / "dd") + " PATH=" + q(d / "bin") +
                    ":$PATH ";
  for (auto [mirror, why] : std::vector<std::pair<std::string, std::string>>{
           {"not a url", "a URL has no spaces or control characters"},
           {"deb.debian.org/debian", "not a URL debootstrap takes (http://, https://, ftp://, file:///PATH or ssh://)"},
           {"htp://deb.debian.org/debian", "not a URL debootstrap takes (http://, https://, ftp://, file:///PATH or ssh://)"},
           {"/srv/mirror", "not a URL debootstrap takes (http://, https://, ftp://, file:///PATH or ssh://)"},
           {"http://", "no host after http://"},
           {"https:///debian", "no host after https://"},
           {"file:srv/mirror", "a file: URL names an absolute path (file:///PATH)"},
           {"http://h/debian\tx", "a URL has no spaces or control characters"}}) {
    CAPTURE(mirror);
    for (std::string verb : {"build", "path", "refresh"}) {
      auto r = sh(env + cowroot() + " image " + verb + " bad --suite bookworm --mirror " + q(mirror) + " 2>&1");
      CHECK(r.status == 1);
      CHECK(r.out == "cowroot: --mirror '" + mirror + "': " + why + "\n");
    }
  }
  // An empty one, which would mean the host's mirror, is said too.
  auto empty = sh(env + cowroot() + " image build bad --suite bookworm --mirror '' 2>&1");
  CHECK(empty.status == 2);
  CHECK(empty.out == "cowroot: image build: --mirror '': an empty URL (leave the option out for the host's mirror) "
                     "(cowroot image --help)\n");
  CHECK_FALSE(exists(d / "runs"));  // debootstrap never ran
  CHECK(sh("ls -A " + q(d / "cache/cowroot/images") + " 2>/dev/null").out == "");
  // What debootstrap takes goes to it as given.
  for (std::string mirror : {"http://127.0.0.1:9/debian", "https://deb.debian.org/debian/", "ftp://h/debian",
                             "file:///srv/mirror", "file:/srv/mirror", "ssh://u@h/srv/debian"}) {
    CAPTURE(mirror);
    unlink((d / "runs").c_str());
    auto r = sh(env + cowroot() + " image build good --suite bookworm --mirror " + q(mirror) + " 2>&1");
    CHECK(r.status == 1);
    CHECK(r.out.find("cowroot: cannot build image good: debootstrap failed: E: fake") != std::string::npos);
    CHECK(slurp(d / "runs") == mirror + "\n");
  }
}

// A clone stopped by SIGINT, SIGTERM or SIGHUP removes what it made, as
// an image build does; what a kill -9 leaves (DEST.cowroot-new-PID and
// its .side) goes with the next clone to DEST, and a reset removes what a
// killed reset's re-clone left. Nothing else goes: not what a live
// process is making, not a symlink of such a name, not a reset's old clone.
TEST_CASE("an interrupted clone leaves nothing; what a killed clone or reset left goes with the next one") {
  Base b;
  // Enough files that the clone takes a while (a few hundred ms).
  REQUIRE(sh("mkdir " + q(b.base + "/many") + " && cd " + q(b.base + "/many") + " && seq 20000 | xargs touch").status == 0);
  std::string dest = b.dir / "c", bin = cowroot();
  auto interrupted = [&](int sig, pid_t* pid, std::string* said) {
    int out[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    *pid = fork();
    REQUIRE(*pid >= 0);
    if (*pid == 0) {
      dup2(out[1], 2);
      for (int s : {SIGINT, SIGTERM, SIGHUP}) signal(s, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      execl(bin.c_str(), bin.c_str(), "clone", b.base.c_str(), dest.c_str(), (char*)nullptr);
      _exit(127);
    }
    close(out[1]);
    // Signalled once its work has begun.
    std::string side = dest + ".cowroot-new-" + std::to_string(*pid) + ".side";
    for (int i = 0; i < 20000 && !exists(side); i++) usleep(500);
    CHECK(exists(side));
    kill(*pid, sig);
    int st = 0;
    waitpid(*pid, &st, 0);
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) said->append(buf, n);
    close(out[0]);
    return st;
  };
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    CAPTURE(sig);
    pid_t pid;
    std::string said;
    int st = interrupted(sig, &pid, &said);
    CHECK(WIFSIGNALED(st));
    CHECK(WTERMSIG(st) == sig);
    CHECK(said == "cowroot: clone " + dest + " stopped by SIG" + sigabbrev_np(sig) + ", nothing of it left\n");
    CHECK(listing(b.dir.path) == "base");
  }
  pid_t killed;
  std::string said;
  int st = interrupted(SIGKILL, &killed, &said);
  CHECK(WIFSIGNALED(st));
  std::string left = "c.cowroot-new-" + std::to_string(killed);
  REQUIRE(listing(b.dir.path) == "base " + left + " " + left + ".side");
  // A pid no process has (a child's, reaped), and a live one (this process's).
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  REQUIRE(waitpid(gone, nullptr, 0) == gone);
  std::string dead = std::to_string(gone), live = std::to_string(getpid());
  REQUIRE(mkdir((b.dir / "target").c_str(), 0755) == 0);
  write_file(b.dir / "target/f", "");
  REQUIRE(symlink("target", (b.dir / "c.cowroot-new-" + dead).c_str()) == 0);
  REQUIRE(mkdir((b.dir / "c.cowroot-new-" + live).c_str(), 0700) == 0);
  auto names = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    std::string s;
    for (auto& n : v) s += (s.empty() ? "" : " ") + n;
    return s;
  };
  auto r = sh(cowroot() + " clone " + q(b.base) + " " + q(dest) + " 2>/dev/null");
  CHECK(r.status == 0);
  CHECK(listing(b.dir.path) == names({"base", "c", "c.cowroot", "c.cowroot-new-" + dead, "c.cowroot-new-" + live, "target"}));
  CHECK(exists(b.dir / "target/f"));
  // A reset killed in its re-clone: the fresh clone and what its making left.
  for (std::string n : {"c.cowroot-reset-" + dead, "c.cowroot-reset-" + dead + ".cowroot",
                        "c.cowroot-reset-" + dead + ".cowroot-new-" + dead + ".side", "c.cowroot-reset-" + live,
                        "c.cowroot-old-" + dead})
    REQUIRE(sh("mkdir -p " + q(b.dir / n + "/etc") + " && touch " + q(b.dir / n + "/etc/x")).status == 0);
  r = reset(dest);
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(listing(b.dir.path) == names({"base", "c", "c.cowroot", "c.cowroot-new-" + dead, "c.cowroot-new-" + live,
                                      "c.cowroot-old-" + dead, "c.cowroot-reset-" + live, "target"}));
}

TEST_CASE("reset after the base was replaced at its path re-clones from the new base: the clone never writes into it") {
  Base b;
  std::string c = b.clone("c");
  CHECK(b.in(c, "echo a > /etc/motd; echo b > /etc/data").status == 0);
  replace_base(b);
  auto r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  // The clone's names are the new base's inodes, and its shared set knows them.
  CHECK(real_stat(c + "/etc/data").st_ino == real_stat(b.base + "/etc/data").st_ino);
  CHECK(real_stat(c + "/etc/passwd").st_ino == real_stat(b.base + "/etc/passwd").st_ino);
  r = b.in(c, "chmod 666 /etc/data /etc/passwd && echo INTOBASE >> /etc/data && echo INTOBASE >> /etc/passwd");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(slurp(b.base + "/etc/data") == "base data\n");
  CHECK(slurp(b.base + "/etc/passwd").find("INTOBASE") == std::string::npos);
  CHECK(slurp(c + "/etc/data") == "base data\nINTOBASE\n");
  // Replaced again, with a journal that has nothing to link back in: still
  // a whole re-clone, never a clone half of the old base and half of the new.
  REQUIRE(reset(c).status == 0);
  REQUIRE(sh("rm -rf " + q(b.dir / "base.old")).status == 0);
  replace_base(b);
  CHECK(b.in(c, "mkdir /newdir").status == 0);
  r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK_FALSE(exists(c + "/newdir"));
  CHECK(real_stat(c + "/etc/passwd").st_ino == real_stat(b.base + "/etc/passwd").st_ino);
}

TEST_CASE("reset after a sealed base's file was replaced and the base sealed again re-clones") {
  Base b;
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  std::string c = b.clone("c");
  CHECK(b.in(c, "echo mine > /etc/data").status == 0);
  replace_file(b, "/etc/data", "new base data\n");
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  auto r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(slurp(c + "/etc/data") == "new base data\n");
  r = b.in(c, "chmod 666 /etc/data && echo INTOBASE >> /etc/data");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(slurp(b.base + "/etc/data") == "new base data\n");
  CHECK(sh(cowroot() + " verify " + q(b.base)).status == 0);
}

TEST_CASE("reset never links in an inode the clone does not share by record (an unsealed base's file replaced)") {
  Base b;
  std::string c = b.clone("c");
  CHECK(b.in(c, "echo mine > /etc/data").status == 0);
  replace_file(b, "/etc/data", "new base data\n");
  auto r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  r = b.in(c, "echo INTOBASE >> /etc/data");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(slurp(b.base + "/etc/data") == "new base data\n");
}

namespace {

// The bind mount tests/run.sh prepared (root only), carried into a clone
// for the length of a test and back out again, whatever happens.
struct CarriedMount {
  std::string home, at, mount_point;
  explicit CarriedMount(const std::string& to) {
    const char* h = getenv("COWROOT_TEST_MOUNT_HOLDER");
    if (!h || !*h) return;
    home = h;
    REQUIRE(rename(home.c_str(), to.c_str()) == 0);
    at = to;
    mount_point = to + "/m";
  }
  bool active() const { return !at.empty(); }
  ~CarriedMount() {
    if (active() && rename(at.c_str(), home.c_str()) != 0) FAIL_CHECK("cannot move the test mount back to " << home);
  }
};

}  // namespace

TEST_CASE("reset refuses a clone with a mount inside, names it and changes nothing") {
  if (!getenv("COWROOT_TEST_MOUNT_HOLDER") || !*getenv("COWROOT_TEST_MOUNT_HOLDER")) {
    MESSAGE("skipped: no bind mount to carry into a clone (tests/run.sh makes one when started as root)");
    return;
  }
  Base b;
  std::string c = b.clone("c");
  // (a) the journal lists names where a mount now is.
  CHECK(b.in(c, "mkdir -p /srv/h/m && echo 1 > /srv/h/m/x").status == 0);
  REQUIRE(sh("rm -rf " + q(c + "/srv/h")).status == 0);
  {
    CarriedMount m(c + "/srv/h");
    std::string inmount = m.mount_point + "/inmount";
    mode_t mode = real_stat(m.mount_point).st_mode;
    auto r = reset(c);
    CHECK(r.status != 0);
    CHECK(r.out == "cowroot: " + m.mount_point + " is a mount point inside " + c + ": unmount it first\n");
    CHECK(slurp(inmount) == "keep\n");
    CHECK(real_stat(m.mount_point).st_mode == mode);
    CHECK(exists(c + ".cowroot/journal"));
  }
  // (b) a mount in a directory the journal does not list, and a change
  // behind the library's back that needs the full re-clone.
  REQUIRE(sh("rm -rf " + q(c + "/srv") + " && mkdir " + q(c + "/srv")).status == 0);
  {
    CarriedMount m(c + "/root/h");
    std::string inmount = m.mount_point + "/inmount";
    mode_t mode = real_stat(m.mount_point).st_mode;
    std::string before = tree_of(b.dir.path);
    auto r = reset(c);
    CHECK(r.status != 0);
    CHECK(r.out == "cowroot: " + m.mount_point + " is a mount point inside " + c + ": unmount it first\n");
    CHECK(slurp(inmount) == "keep\n");
    CHECK(real_stat(m.mount_point).st_mode == mode);
    CHECK(tree_of(b.dir.path) == before);  // no debris, nothing changed
  }
  // Without the mount, the same reset goes through.
  auto r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(tree_of(c) == tree_of(b.base));
}

TEST_CASE("reset never follows a symlink out of the clone: a touched directory swapped for one is re-cloned") {
  Base b;
  REQUIRE(mkdir((b.base + "/etc/dd").c_str(), 0755) == 0);
  write_file(b.base + "/etc/dd/keepme", "k\n");
  std::string c = b.clone("c");
  CHECK(b.in(c, "echo 1 > /etc/zz; echo 1 > /etc/dd/newf").status == 0);
  TempDir home;
  write_file(home / "newf", "p\n");
  write_file(home / "keepme", "mine\n");
  // Behind the library's back: the directory becomes a symlink to $HOME.
  REQUIRE(sh("rm -rf " + q(c + "/etc/dd")).status == 0);
  REQUIRE(symlink(home.path.c_str(), (c + "/etc/dd").c_str()) == 0);
  auto r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(slurp(home / "newf") == "p\n");
  CHECK(slurp(home / "keepme") == "mine\n");
  CHECK(S_ISDIR(real_stat(c + "/etc/dd").st_mode));
  CHECK(tree_of(c) == tree_of(b.base));
}

TEST_CASE("reset sees a mode, an xattr or an entry changed behind its back even with the mtime put back") {
  Base b;
  std::string c = b.clone("c");
  std::string dir = c + "/usr/bin";  // a directory the journal will not list
  struct stat made = real_stat(dir);
  auto run_and_reset = [&](const std::string& what) {
    CAPTURE(what);
    CHECK(b.in(c, "echo x > /etc/data").status == 0);  // something for the journal
    auto r = reset(c);
    CHECK_MESSAGE(r.status == 0, r.out);
  };
  REQUIRE(chmod(dir.c_str(), 0700) == 0);
  run_and_reset("chmod");
  CHECK((real_stat(dir).st_mode & 07777) == (made.st_mode & 07777));

  if (setxattr(dir.c_str(), "user.q", "1", 1, 0) == 0) {
    run_and_reset("setfattr");
    CHECK(getxattr(dir.c_str(), "user.q", nullptr, 0) < 0);
  } else {
    MESSAGE("user xattrs not supported here: that case skipped");
  }

  struct stat st = real_stat(dir);
  write_file(dir + "/zz2", "behind its back\n");
  struct timespec t[2] = {st.st_atim, st.st_mtim};
  REQUIRE(utimensat(AT_FDCWD, dir.c_str(), t, 0) == 0);
  run_and_reset("a new entry, the mtime restored");
  CHECK_FALSE(exists(dir + "/zz2"));
  CHECK(tree_of(c) == tree_of(b.base));
}

TEST_CASE("reset puts back the mode and the xattrs of a directory the journal lists") {
  Base b;
  std::string c = b.clone("c");
  mode_t made = real_stat(c + "/etc").st_mode & 07777;
  CHECK(b.in(c, "echo x > /etc/data").status == 0);
  REQUIRE(chmod((c + "/etc").c_str(), 0700) == 0);
  bool xattrs = setxattr((c + "/etc").c_str(), "user.q", "1", 1, 0) == 0;
  auto r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK((real_stat(c + "/etc").st_mode & 07777) == made);
  if (xattrs) CHECK(getxattr((c + "/etc").c_str(), "user.q", nullptr, 0) < 0);
}

TEST_CASE("reset records what it changes: the next reset after another change is undone from the journal again") {
  Base b;
  std::string c = b.clone("c");
  ino_t top = real_stat(c).st_ino;  // a full re-clone puts a new directory in place
  CHECK(b.in(c, "echo x > /etc/data; mkdir /etc/newdir; rm /etc/motd").status == 0);
  auto r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(real_stat(c).st_ino == top);
  // /etc is not in this journal: its stamp must be the one the last reset left.
  CHECK(b.in(c, "echo y > /usr/bin/newfile").status == 0);
  r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(real_stat(c).st_ino == top);
  CHECK(tree_of(c) == tree_of(b.base));
}

TEST_CASE("clone refuses a DEST inside SRC, SRC itself or SRC's metadata: one line, nothing made") {
  Base b;
  REQUIRE(sh(cowroot() + " seal " + q(b.base) + " 2>&1").status == 0);
  std::string base_tree = tree_of(b.dir.path);
  REQUIRE(symlink(b.base.c_str(), (b.dir / "link").c_str()) == 0);
  base_tree = tree_of(b.dir.path);
  struct Case {
    std::string dest, says;
  } cases[] = {
      {b.base + "/inner", "is inside " + b.base},
      {b.base + "/etc/inner", "is inside " + b.base},
      {b.dir / "link/inner", "is inside " + b.base},
      {b.base, "is " + b.base + " itself"},
      {b.base + ".cowroot/inner", "is inside " + b.base + ".cowroot"},
  };
  for (auto& k : cases) {
    CAPTURE(k.dest);
    auto r = sh(cowroot() + " clone " + q(b.base) + " " + q(k.dest) + " 2>&1");
    CHECK(r.status != 0);
    CHECK(r.out.find(k.says) != std::string::npos);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
    CHECK(tree_of(b.dir.path) == base_tree);
  }
}

TEST_CASE("verify and seal take a cached image's name, as clone does") {
  Base b;
  std::string cache = b.dir / "cache";
  REQUIRE(sh("mkdir -p " + q(cache + "/cowroot/images/mini") + " && " + cowroot() + " clone " + q(b.base) + " " +
             q(cache + "/cowroot/images/mini/root") + " 2>/dev/null")
              .status == 0);
  std::string env = "cd " + q(b.dir.path) + " && XDG_CACHE_HOME=" + q(cache) + " ";
  auto r = sh(env + cowroot() + " seal mini 2>&1");
  CHECK_MESSAGE(r.status == 0, r.out);
  r = sh(env + cowroot() + " verify mini 2>&1");
  CHECK(r.status == 0);
  CHECK(r.out == "mini: no change since it was sealed\n");
  // A name that is neither a directory here nor an image: one line that
  // says both, and nothing made.
  for (std::string cmd : {" clone nosuchimage d", " seal nosuchimage", " verify nosuchimage"}) {
    CAPTURE(cmd);
    r = sh(env + cowroot() + cmd + " 2>&1");
    CHECK(r.status == 1);
    CHECK(r.out == "cowroot: no directory or image named nosuchimage (cowroot image list shows the images)\n");
  }
  CHECK(listing(b.dir.path) == "base cache");
  // A path is a path: its own error.
  r = sh(env + cowroot() + " clone ./nosuchdir d 2>&1");
  CHECK(r.out == "cowroot: ./nosuchdir: No such file or directory\n");
}

TEST_CASE("a directory the session replaced with a symlink comes back from the journal, without a re-clone") {
  Base b;
  REQUIRE(mkdir((b.base + "/etc/dd").c_str(), 0755) == 0);
  write_file(b.base + "/etc/dd/keepme", "k\n");
  std::string c = b.clone("c");
  ino_t top = real_stat(c).st_ino;  // a full re-clone puts a new directory in place
  TempDir home;
  write_file(home / "keepme", "mine\n");
  CHECK(b.in(c, "rm -rf /etc/dd && ln -s " + home.path + " /etc/dd").status == 0);
  auto r = reset(c);
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(real_stat(c).st_ino == top);
  CHECK(S_ISDIR(real_stat(c + "/etc/dd").st_mode));
  CHECK(slurp(c + "/etc/dd/keepme") == "k\n");
  CHECK(slurp(home / "keepme") == "mine\n");
  CHECK(tree_of(c) == tree_of(b.base));
}
