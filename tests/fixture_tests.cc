// The test fixture (fixture/include/cowroot), used as a test suite would use
// it: roots of a small base made here (tests/mkroot.sh), and, when the
// Debian archive is at hand (not make test-quick), the default image through
// the doctest adapter.
#include <cowroot/doctest.h>
#include <cowroot/fixture.h>

#include <fstream>
#include <sstream>

#include "common.h"

using namespace test;

namespace {

bool quick() {
  const char* on = getenv("COWROOT_TEST_DEBOOTSTRAP");
  return on && std::string(on) == "0";
}

// Before any test: the installed cowroot, and an image cache of the run's own.
const bool configured = [] {
  if (const char* p = getenv("COWROOT_TEST_PREFIX")) cowroot::set_prefix(p);
  if (const char* t = getenv("TMPDIR"); t && !getenv("XDG_CACHE_HOME"))
    setenv("XDG_CACHE_HOME", (std::string(t) + "/fixture-cache").c_str(), 1);
  return true;
}();

const TempDir& base_dir() {
  static TempDir* d = [] {
    auto* t = new TempDir;
    const char* script = getenv("COWROOT_TEST_MKROOT");
    REQUIRE(script);
    auto r = sh("sh " + q(script) + " " + q(t->path + "/base") + " 2>&1");
    REQUIRE_MESSAGE(r.status == 0, r.out);
    return t;
  }();
  return *d;
}

std::string base() { return base_dir().path + "/base"; }

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("a Root runs programs inside as fake root, and its base never changes") {
  cowroot::Root root(cowroot::Image::at(base()));
  auto r = root.sh("id -u; echo changed > /etc/motd; cat /etc/motd");
  CAPTURE(r);
  CHECK(r.ok());
  CHECK(r.out == "0\nchanged\n");
  CHECK(slurp(base() + "/etc/motd") == "inside the root\n");
  CHECK(root.read("/etc/motd") == "changed\n");
}

TEST_CASE("run: working directory, environment, standard input, exit status, error output") {
  cowroot::Root root(cowroot::Image::at(base()));
  cowroot::RunOptions o;
  o.cwd = "/tmp";
  o.env = {"GREETING=hello"};
  o.input = "from stdin\n";
  auto r = root.run({"sh", "-c", "pwd; echo $GREETING; cat; echo oops >&2; exit 3"}, o);
  CHECK(r.status == 3);
  CHECK(r.out == "/tmp\nhello\nfrom stdin\n");
  CHECK(r.err == "oops\n");
  CHECK_FALSE(r.ok());
}

TEST_CASE("helpers from outside go through the pipeline: inside paths, fake owners, copy-on-write") {
  cowroot::Root root(cowroot::Image::at(base()));
  root.mkdir("/srv/app/conf");
  root.write("/srv/app/conf/app.conf", "port=8080\n", 0600);
  root.chown("/srv/app/conf/app.conf", 5, 6);
  root.symlink("/srv/app/conf/app.conf", "/etc/app.conf");
  struct stat st = root.stat("/etc/app.conf");  // through the symlink, inside
  CHECK(st.st_uid == 5);
  CHECK(st.st_gid == 6);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(root.read("/etc/app.conf") == "port=8080\n");
  // What a program inside sees is the same.
  auto r = root.sh("stat -L -c '%u %g %a' /etc/app.conf; readlink /etc/app.conf");
  CHECK(r.out == "5 6 600\n/srv/app/conf/app.conf\n");
  // The symlink is stored as written; its host path is in the root.
  CHECK(root.host_path("/etc/app.conf") == root.path() + "/srv/app/conf/app.conf");
  // A base file changed from outside gets its own copy first.
  ino_t before = real_stat(base() + "/etc/motd").st_ino;
  root.chmod("/etc/motd", 0600);
  root.write("/etc/motd", "mine\n");
  CHECK(slurp(base() + "/etc/motd") == "inside the root\n");
  CHECK(real_stat(base() + "/etc/motd").st_ino == before);
  CHECK((real_stat(base() + "/etc/motd").st_mode & 0777) == 0644);
  CHECK(root.exists("/srv/app"));
  root.remove("/srv");
  CHECK_FALSE(root.exists("/srv"));
  CHECK(root.sh("test -e /srv || echo gone").out == "gone\n");
}

TEST_CASE("remove never crosses into a bind (the host's /dev, /proc, /sys), and the root itself is not removed") {
  cowroot::Root root(cowroot::Image::at(base()));
  CHECK_THROWS_WITH_AS(root.remove("/"), "cowroot: remove /: the root itself, not removed", cowroot::Error);
  CHECK_THROWS_WITH_AS(root.remove("/etc/.."), "cowroot: remove /etc/..: the root itself, not removed", cowroot::Error);
  // Refused before anything went: the root is whole.
  CHECK(root.read("/etc/motd") == "inside the root\n");
  CHECK(root.sh("test -x /bin/sh && echo whole").out == "whole\n");
  CHECK_THROWS_WITH_AS(root.remove("/dev"), "cowroot: remove /dev: the host's /dev (a bind into the root), not removed",
                       cowroot::Error);
  CHECK_THROWS_WITH_AS(root.remove("/proc/sys/"),
                       "cowroot: remove /proc/sys/: the host's /proc/sys (a bind into the root), not removed",
                       cowroot::Error);
  // Through a symlink the walk follows: the same host directory.
  root.symlink("/sys", "/sys-link");
  CHECK_THROWS_WITH_AS(root.remove("/sys-link/kernel"),
                       "cowroot: remove /sys-link/kernel: the host's /sys/kernel (a bind into the root), not removed",
                       cowroot::Error);
  // The symlink itself is the root's.
  root.remove("/sys-link");
  CHECK_FALSE(root.lexists("/sys-link"));
  CHECK(exists("/sys/kernel"));
  // The root's own directories go as before.
  root.mkdir("/srv/d");
  root.write("/srv/d/f", "f\n");
  root.remove("/srv/d");
  CHECK_FALSE(root.exists("/srv/d"));
  CHECK(root.exists("/dev/null"));
}

// The helpers run in the test process, which is not in the root: its own
// /proc/self (its working directory, its descriptors) is the host's, and
// is refused as another process's would be inside; and the helpers that
// change a root change only its own files, never the host's /dev/shm.
TEST_CASE("the helpers never reach the host: /proc/self of the test process, and the binds, are refused") {
  cowroot::Root root(cowroot::Image::at(base()));
  TempDir d;
  write_file(d / "file", "host\n");
  chmod((d / "file").c_str(), 0644);
  std::string pid = std::to_string(getpid());
  char cwd[4096];
  REQUIRE(getcwd(cwd, sizeof cwd));
  REQUIRE(chdir(d.path.c_str()) == 0);
  for (std::string via : {std::string("/proc/self/cwd/file"), "/proc/" + pid + "/cwd/file",
                          std::string("/proc/thread-self/cwd/file")}) {
    CAPTURE(via);
    CHECK_THROWS_AS(root.write(via, "pwned\n"), cowroot::Error);
    CHECK_THROWS_AS(root.chmod(via, 0600), cowroot::Error);
    CHECK_THROWS_AS(root.unlink(via), cowroot::Error);
    CHECK_THROWS_AS(root.read(via), cowroot::Error);
    CHECK_THROWS_AS(root.mkdir(via + ".d"), cowroot::Error);
    CHECK_THROWS_AS(root.symlink("/x", via + ".l"), cowroot::Error);
    CHECK_FALSE(root.exists(via));
  }
  REQUIRE(chdir(cwd) == 0);
  CHECK(slurp(d / "file") == "host\n");
  CHECK((real_stat(d / "file").st_mode & 0777) == 0644);
  CHECK(sh("ls -A " + q(d.path)).out == "file\n");
  std::string shm = "/dev/shm/cowroot-test-" + pid;
  CHECK_THROWS_WITH_AS(root.write(shm, "x"),
                       ("cowroot: write " + shm + ": the host's " + shm + " (a bind into the root), not changed").c_str(),
                       cowroot::Error);
  CHECK_FALSE(exists(shm));
  write_file(shm, "host\n");
  CHECK_THROWS_AS(root.unlink(shm), cowroot::Error);
  CHECK_THROWS_AS(root.chmod(shm, 0600), cowroot::Error);
  CHECK_THROWS_AS(root.touch(shm), cowroot::Error);
  CHECK(root.read(shm) == "host\n");  // reading what the root sees there is fine
  CHECK(slurp(shm) == "host\n");
  unlink(shm.c_str());
  // What is the root's own still changes.
  root.write("/etc/new", "mine\n");
  CHECK(root.read("/etc/new") == "mine\n");
}

TEST_CASE("a Root is gone with its scope; keep() keeps it as a clone") {
  std::string path;
  {
    cowroot::Root root(cowroot::Image::at(base()));
    path = root.path();
    CHECK(exists(path));
  }
  CHECK_FALSE(exists(path));
  TempDir d;
  {
    cowroot::Root root(cowroot::Image::at(base()));
    root.write("/etc/left", "for later\n");
    root.keep(d / "kept");
  }
  CHECK(slurp(d / "kept/etc/left") == "for later\n");
  auto r = sh(test::cowroot() + " -r " + q(d / "kept") + " -- cat /etc/left 2>&1");
  CHECK(r.out == "for later\n");
}

TEST_CASE("helpers of one root never act on what another root's walk learnt") {
  // Root a learns that /srv/data is a real directory; in root b it is a
  // symlink to a host directory. b's write must stay inside b.
  TempDir host;
  cowroot::Root a(cowroot::Image::at(base())), b(cowroot::Image::at(base()));
  a.mkdir("/srv/data");
  a.write("/srv/data/f", "a\n");
  b.mkdir("/srv");
  b.symlink(host.path, "/srv/data");
  CHECK_THROWS_AS(b.write("/srv/data/pwn", "b\n"), cowroot::Error);
  CHECK_FALSE(exists(host / "pwn"));
}

TEST_CASE("bad input is one Error naming the thing") {
  CHECK_THROWS_WITH_AS(cowroot::Image::at("/nonexistent/base"), "cowroot: /nonexistent/base: No such file or directory",
                       cowroot::Error);
  cowroot::Root root(cowroot::Image::at(base()));
  CHECK_THROWS_WITH_AS(root.read("/no/such/file"), "cowroot: /no/such/file: No such file or directory",
                       cowroot::Error);
  CHECK_THROWS_AS(root.run({}), cowroot::Error);
  CHECK_THROWS_WITH_AS(root.run({""}), "cowroot: run: an empty program name", cowroot::Error);
  cowroot::RunOptions o;
  o.env = {"A=1", "GIVEN"};
  CHECK_THROWS_WITH_AS(root.run({"true"}, o), "cowroot: run: env entry 'GIVEN' is not NAME=VALUE", cowroot::Error);
  o.env = {"=x"};
  CHECK_THROWS_WITH_AS(root.run({"true"}, o), "cowroot: run: env entry '=x' is not NAME=VALUE", cowroot::Error);
}

namespace {

// Builds `source` against the install with pkg-config's flags for `package`
// into DIR/prog.
test::Result build_with_pkg_config(const TempDir& d, const std::string& package, const std::string& source) {
  write_file(d / "prog.cc", source);
  // ($COWROOT_TEST_LINK_FLAGS: what a program needs to link a sanitizer-built install, make test-asan.)
  return sh("cd " + q(d.path) + " && g++ -std=c++20 -o prog prog.cc $(PKG_CONFIG_PATH=" +
            q(prefix() + "/lib/pkgconfig") + " pkg-config --cflags --libs " + package + ") $COWROOT_TEST_LINK_FLAGS 2>&1");
}

}  // namespace

TEST_CASE("a program built with pkg-config's flags for cowroot-fixture links and runs a Root") {
  // The installed libraries as a consumer gets them: the fixture needs the
  // clone library (pools, clones, reset) and the core after it.
  TempDir d;
  auto r = build_with_pkg_config(d, "cowroot-fixture", R"(#include <cowroot/fixture.h>
#include <cstdio>
int main(int, char** argv) {
  cowroot::Root root(cowroot::Image::at(argv[1]));
  auto r = root.sh("echo changed > /etc/motd; cat /etc/motd");
  fputs(r.out.c_str(), stdout);
  return r.ok() ? 0 : 1;
}
)");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  r = sh("COWROOT_PREFIX=" + q(prefix()) + " " + q(d / "prog") + " " + q(base()) + " 2>&1");
  CAPTURE(r.out);
  CHECK(r.status == 0);
  CHECK(r.out == "changed\n");
  CHECK(slurp(base() + "/etc/motd") == "inside the root\n");
}

TEST_CASE("a program built with pkg-config's flags for cowroot makes and removes a clone with <cowroot/clone.h>") {
  TempDir d;
  auto r = build_with_pkg_config(d, "cowroot", R"(#include <cowroot/clone.h>
#include <cstdio>
#include <fstream>
#include <string>
int main(int, char** argv) {
  char err[512];
  std::string c = argv[2], line;
  if (cr::cow_clone(argv[1], c.c_str(), err, sizeof err) < 0) return fprintf(stderr, "%s\n", err), 1;
  std::getline(std::ifstream(c + "/etc/motd"), line);
  puts(line.c_str());
  if (cr::remove_tree(c.c_str(), err, sizeof err) < 0 || cr::remove_tree((c + ".cowroot").c_str(), err, sizeof err) < 0)
    return fprintf(stderr, "%s\n", err), 1;
  return 0;
}
)");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  r = sh(q(d / "prog") + " " + q(base()) + " " + q(d / "clone") + " 2>&1");
  CHECK_MESSAGE(r.status == 0, r.out);
  CHECK(r.out == "inside the root\n");
  CHECK_FALSE(exists(d / "clone"));
  CHECK_FALSE(exists(d / "clone.cowroot"));
}

// ---- the doctest adapter, on the default image (the Debian archive) --------

COWROOT_TEST_CASE("the doctest adapter: each case a fresh root of the default image" * doctest::skip(quick())) {
  auto r = root.sh("cat /etc/debian_version; id -un; echo scribble > /etc/motd");
  CAPTURE(r);
  CHECK(r.ok());
  CHECK(r.out.rfind("12.", 0) == 0);
  CHECK(r.out.find("\nroot\n") != std::string::npos);
  // Reset and back in the pool: a second root does not see the first's changes.
  cowroot::Root second;
  CHECK(second.read("/etc/motd").find("scribble") == std::string::npos);
}

COWROOT_TEST_CASE("the doctest adapter: packages install and the fake owners hold" * doctest::skip(quick())) {
  auto r = root.sh("useradd --system svc && install -d -o svc -m 750 /var/lib/svc && stat -c '%U %a' /var/lib/svc");
  CAPTURE(r);
  CHECK(r.out == "svc 750\n");
  CHECK((root.stat("/var/lib/svc").st_mode & 0777) == 0750);
  CHECK(root.stat("/var/lib/svc").st_uid != 0);
}
