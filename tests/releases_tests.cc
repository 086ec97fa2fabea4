// Roots of other Debian releases from this one build: bullseye (glibc 2.31:
// its loader has no --argv0, dlsym and the pthread mutexes live outside
// libc) and trixie (glibc 2.41), built by `cowroot image` as an ordinary
// user on this host (debootstrap under cowroot; once per run, in the run's
// image cache, under the image's lock), and checked as a bookworm image is:
// dpkg --audit, no host path in a symlink, apt-get inside, useradd and
// chown, ldd, /proc/self/exe, argv[0] and the command line, and entry by
// entry against real root's debootstrap of the same suite (tests/run.sh
// makes those references while it is still root). Ubuntu jammy too, from
// Ubuntu's archive with its key, when that archive answers (tests/run.sh).
//
// Needs the Debian archive, as debootstrap_tests does: COWROOT_TEST_DEBOOTSTRAP=0
// (make test-quick) skips those cases. The image command's own cases (list,
// refresh, rm, --keyring) need no archive and always run.
#include <cowroot/fixture.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

#include "common.h"
#include "listing.h"

using namespace test;

namespace {

// The installed cowroot, and the run's image cache (shared with fixture_tests).
const bool configured = [] {
  if (const char* p = getenv("COWROOT_TEST_PREFIX")) cowroot::set_prefix(p);
  if (const char* t = getenv("TMPDIR"); t && !getenv("XDG_CACHE_HOME"))
    setenv("XDG_CACHE_HOME", (std::string(t) + "/fixture-cache").c_str(), 1);
  return true;
}();

cowroot::ImageOptions debian(const std::string& suite) {
  cowroot::ImageOptions o;
  o.name = suite;
  o.suite = suite;
  if (const char* m = getenv("COWROOT_TEST_MIRROR")) o.mirror = m;
  return o;
}

cowroot::Image image(const std::string& suite) { return cowroot::Image::get(debian(suite)); }

// The fields of `cowroot image list`'s line for image `name`: name, suite, variant, age...
std::vector<std::string> list_line(const std::string& out, const std::string& name) {
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream w(line);
    std::vector<std::string> f;
    for (std::string x; w >> x;) f.push_back(x);
    if (!f.empty() && f[0] == name) return f;
  }
  return {};
}

std::string reference(const std::string& suite) {
  std::string var = "COWROOT_TEST_REFERENCE_" + suite;
  std::transform(var.begin(), var.end(), var.begin(), [](unsigned char c) { return (char)toupper(c); });
  const char* r = getenv(var.c_str());
  return r ? r : "";
}

// Everything a bookworm image passes, in a root of the image `o` names;
// `version` begins what `version_cmd` prints inside.
void check_release(const cowroot::ImageOptions& o, const std::string& version,
                   const std::string& version_cmd = "cat /etc/debian_version") {
  const std::string& suite = o.suite;
  cowroot::Image img = cowroot::Image::get(o);
  cowroot::Root root(img);
  auto r = root.sh(version_cmd);
  CHECK_MESSAGE(r.out.rfind(version, 0) == 0, r);

  r = root.sh("dpkg --audit 2>&1");
  CHECK_MESSAGE(r.ok(), r);
  CHECK(r.out == "");

  // No symlink names a host path: not the cache the image was built in,
  // not the run's temporary directory.
  std::string cache = img.path().substr(0, img.path().rfind("/images/"));
  auto links = sh("find " + q(img.path()) + " -type l \\( -lname " + q(cache + "*") + " -o -lname " +
                  q(std::string(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") + "*") + " \\) | wc -l");
  CHECK(links.out == "0\n");

  // useradd, and a file given to that user; its owner as seen from outside too.
  r = root.sh("useradd -m tester && touch /home/tester/f && chown tester:tester /home/tester/f && "
              "stat -c '%U:%G' /home/tester/f && id -u tester");
  REQUIRE_MESSAGE(r.ok(), r);
  CHECK(r.out.rfind("tester:tester\n", 0) == 0);
  CHECK(root.stat("/home/tester/f").st_uid == (uid_t)std::stoul(r.out.substr(r.out.find('\n') + 1)));

  // A threaded program's user lookups (perl: getpwnam_r through libc's
  // NSS, whose opens are libc's own calls; before glibc 2.34 a threaded
  // program's `open` and `read` are libpthread's), and the system user
  // apt's postinst adds with adduser, a perl program.
  r = root.sh("perl -e 'print join(q(:), (getpwnam(q(root)))[0, 2], (getgrgid(65534))[0]), qq(\\n)' && id -u _apt");
  CHECK_MESSAGE(r.ok(), r);
  CHECK_MESSAGE(r.out.rfind("root:0:nogroup\n", 0) == 0, r);

  // ldd lists the root's own files, by their inside names.
  r = root.sh("ldd /bin/ls && ldd /bin/ls | awk '/=> \\//{print $3}' | while read -r f; do test -e \"$f\" || echo missing $f; done");
  CHECK_MESSAGE(r.ok(), r);
  CHECK(r.out.find("libc.so.6 => /") != std::string::npos);
  CHECK(r.out.find("missing") == std::string::npos);
  CHECK(r.out.find(root.path()) == std::string::npos);
  CHECK(r.out.find("libcowroot") == std::string::npos);

  // A library the root lacks fails to load, as in a real root: the root's
  // loader does not look in the host's directories, which have it (the
  // loader's own directories, overwritten: docs/design.md).
  if (test::exists("/lib/x86_64-linux-gnu/libselinux.so.1")) {
    r = root.sh("l=$(ls /usr/lib/x86_64-linux-gnu/libselinux.so.1 /lib/x86_64-linux-gnu/libselinux.so.1 2>/dev/null |"
                " head -n 1); perl -e 'rename($ARGV[0], q{/tmp/away.so}) or die' $l && { ls / >/dev/null 2>&1;"
                " echo status $?; }; perl -e 'rename(q{/tmp/away.so}, $ARGV[0]) or die' $l && ls / >/dev/null && echo back");
    CHECK_MESSAGE(r.out == "status 127\nback\n", r);
  }

  // /proc/self/exe is the program; argv[0] is the one it was given (a
  // symlinked program, exec -a); the command line is the program's.
  r = root.sh("readlink /proc/self/exe; ln -s /bin/dash /tmp/named-link && /tmp/named-link -c 'echo $0'; "
              "bash -c 'exec -a fancy-name sh -c \"echo \\$0\"'; cat /proc/self/cmdline | tr '\\0' ' ' | sed 's/ $//'; echo");
  CHECK_MESSAGE(r.out == "/usr/bin/readlink\n/tmp/named-link\nfancy-name\ncat /proc/self/cmdline\n", r);

  // apt-get update and install inside a run: a small package, and
  // busybox, whose applets are one program that looks at its argv[0].
  r = root.sh("apt-get update -q >/tmp/apt.log 2>&1 && apt-get install -y -q hello busybox >>/tmp/apt.log 2>&1 || "
              "tail -n 5 /tmp/apt.log; hello; ln -s /bin/busybox /tmp/basename && /tmp/basename /a/b/c; dpkg --audit");
  CHECK_MESSAGE(r.ok(), r);
  CHECK_MESSAGE(r.out == "Hello, world!\nc\n", r);

  // Entry by entry against real root's debootstrap of the same suite.
  std::string ref = reference(suite);
  if (ref.empty()) {
    MESSAGE("no reference listing of " << suite << " (tests/run.sh makes one when started as root): comparison skipped");
    return;
  }
  cowroot::Root fresh(img);
  r = fresh.sh(std::string(kFind) + " 2>/dev/null");
  REQUIRE(r.ok());
  auto ours = listing(r.out);
  auto theirs = listing_file(ref);
  REQUIRE(theirs.size() > 4000);
  Comparison c = compare(ours, theirs);
  if (!c.report.empty()) MESSAGE(c.report);
  CHECK(c.special_diff == 0);
  CHECK(c.same * 100 >= c.total * 99);
  MESSAGE(suite << ": " << c.same << " of " << c.total << " entries equal to real root's image");
}

}  // namespace

TEST_CASE("bullseye (glibc 2.31, a loader without --argv0): its image passes what a bookworm image does") {
  if (archive_skipped()) return;
  check_release(debian("bullseye"), "11.");
}

TEST_CASE("trixie (glibc 2.41): its image passes too, and was built while a root of bullseye was in use") {
  if (archive_skipped()) return;
  // A program runs in a root of bullseye while trixie's image is built.
  cowroot::Root busy(image("bullseye"));
  busy.write("/etc/in-use", "before\n");
  TempDir d;
  sh(test::cowroot() + " -r " + q(busy.path()) + " -- sh -c 'echo $$ > /tmp/pid.tmp; mv /tmp/pid.tmp /tmp/pid; exec sleep 600' >/dev/null 2>&1 &");
  for (int i = 0; i < 200 && !busy.exists("/tmp/pid"); i++) usleep(50000);
  std::string pid = busy.read("/tmp/pid");
  REQUIRE(!pid.empty());
  check_release(debian("trixie"), "13");
  CHECK(kill(std::stoi(pid), 0) == 0);  // still running
  CHECK(busy.read("/etc/in-use") == "before\n");
  auto v = sh(test::cowroot() + " verify bullseye 2>&1");
  CHECK_MESSAGE(v.status == 0, v.out);
  kill(std::stoi(pid), SIGTERM);
  for (int i = 0; i < 100 && kill(std::stoi(pid), 0) == 0; i++) usleep(50000);
  // Both images, side by side.
  auto l = sh(test::cowroot() + " image list");
  CHECK(list_line(l.out, "bullseye").size() >= 3);
  CHECK(list_line(l.out, "bullseye")[1] == "bullseye");
  CHECK(list_line(l.out, "trixie").size() >= 3);
  CHECK(list_line(l.out, "trixie")[1] == "trixie");
}

// Ubuntu 22.04 from its own archive and key (tests/run.sh fetches the key
// when the archive answers): a derivative, with Ubuntu's glibc 2.35.
TEST_CASE("Ubuntu jammy (--mirror, --keyring): its image passes what a bookworm image does") {
  if (archive_skipped()) return;
  const char* mirror = getenv("COWROOT_TEST_UBUNTU_MIRROR");
  const char* keyring = getenv("COWROOT_TEST_UBUNTU_KEYRING");
  if (!mirror || !*mirror || !keyring || !*keyring) {
    MESSAGE("skipped: no Ubuntu archive and key (tests/run.sh sets COWROOT_TEST_UBUNTU_MIRROR and _KEYRING when one answers)");
    return;
  }
  cowroot::ImageOptions o;
  o.name = "ubuntu-jammy";
  o.suite = "jammy";
  o.mirror = mirror;
  o.keyring = keyring;
  check_release(o, "VERSION_ID=\"22.04\"", "grep ^VERSION_ID= /etc/os-release");
  auto l = sh(test::cowroot() + " image list");
  std::vector<std::string> line = list_line(l.out, "ubuntu-jammy");
  REQUIRE(line.size() >= 2);
  CHECK(line[1] == "jammy");
}

// ---- the image command's own rules (no archive needed) ----------------------

namespace {

// A cache holding images made by hand: NAME/root, NAME/root.cowroot, NAME/info.
struct FakeCache {
  TempDir dir;
  std::string images = dir / "cache/cowroot/images";
  void add(const std::string& name, const std::string& info) {
    REQUIRE(sh("mkdir -p " + q(images + "/" + name + "/root/etc") + " " + q(images + "/" + name + "/root.cowroot")).status == 0);
    write_file(images + "/" + name + "/info", info);
  }
  Result run(const std::string& args) { return sh("XDG_CACHE_HOME=" + q(dir / "cache") + " " + test::cowroot() + " " + args + " 2>&1"); }
};

}  // namespace

TEST_CASE("image list shows images of several suites side by side; refresh rebuilds what was built; rm removes one") {
  FakeCache c;
  long now = (long)time(nullptr);
  c.add("old-stable", "suite=bullseye\nvariant=minbase\ninclude=\nmirror=http://127.0.0.1:9/debian\nbuilt=" +
                          std::to_string(now) + "\n");
  c.add("rolling", "suite=nosuchsuite\nvariant=buildd\ninclude=\nmirror=http://127.0.0.1:9/debian\nkeyring=\nbuilt=" +
                       std::to_string(now) + "\n");
  auto r = c.run("image list");
  CHECK(list_line(r.out, "old-stable") == std::vector<std::string>{"old-stable", "bullseye", "minbase", "-", "0h", "old",
                                                                    c.images + "/old-stable/root"});
  CHECK(list_line(r.out, "rolling") ==
        std::vector<std::string>{"rolling", "nosuchsuite", "buildd", "-", "0h", "old", c.images + "/rolling/root"});
  // A refresh takes the suite the image was built from, not its name: this
  // one's is no suite debootstrap knows, so nothing is touched.
  r = c.run("image refresh rolling");
  CHECK(r.status != 0);
  CHECK(r.out == "cowroot: debootstrap knows no suite nosuchsuite (no /usr/share/debootstrap/scripts/nosuchsuite)\n");
  CHECK(exists(c.images + "/rolling/root/etc"));
  r = c.run("image rm rolling");
  CHECK(r.status == 0);
  CHECK_FALSE(exists(c.images + "/rolling"));
  CHECK(c.run("image list").out.find("rolling") == std::string::npos);
  CHECK(exists(c.images + "/old-stable/root/etc"));
  r = c.run("image rm rolling");
  CHECK(r.status != 0);
  CHECK(r.out == "cowroot: no image named rolling (cowroot image list shows them)\n");
}

TEST_CASE("image build --keyring must name a readable file: one line, nothing made") {
  FakeCache c;
  auto r = c.run("image build ubuntu-jammy --suite jammy --mirror http://127.0.0.1:9/ubuntu --keyring " +
                 q(c.dir / "no-such.gpg"));
  CHECK(r.status != 0);
  CHECK(r.out == "cowroot: keyring " + c.dir / "no-such.gpg" + ": No such file or directory\n");
  CHECK(sh("ls -A " + q(c.dir / "cache") + " 2>/dev/null | wc -l").out == "0\n");
}
