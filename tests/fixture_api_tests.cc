// The fixture's helpers (what the original Python fixture's users look
// for), running programs as another user, check_call, a cleared
// environment; the C interface from a C program; an install found without
// COWROOT_PREFIX. Roots of tests/mkroot.sh's base (no network).
#include <cowroot/doctest.h>
#include <cowroot/fixture.h>

#include "fixture_util.h"

using namespace fx;
using cowroot::Image;
using cowroot::Root;

TEST_CASE("exists, lexists, isdir, isfile, islink, stat, lstat and readlink see what a program inside sees") {
  Root root(Image::at(base()));
  root.symlink("/etc/motd", "/abs-link");
  root.symlink("../etc", "/tmp/rel-link");
  root.symlink("/nowhere", "/dangling");
  CHECK(root.exists("/abs-link"));
  CHECK(root.isfile("/abs-link"));
  CHECK(root.islink("/abs-link"));
  CHECK_FALSE(root.isdir("/abs-link"));
  CHECK(root.isdir("/tmp/rel-link"));
  CHECK_FALSE(root.exists("/dangling"));
  CHECK(root.lexists("/dangling"));
  CHECK(root.islink("/dangling"));
  CHECK_FALSE(root.islink("/etc/motd"));
  CHECK_FALSE(root.isfile("/etc"));
  CHECK_FALSE(root.lexists("/nope"));
  // The targets as stored: inside paths, never the host's.
  CHECK(root.readlink("/abs-link") == "/etc/motd");
  CHECK(root.readlink("/tmp/rel-link") == "../etc");
  CHECK(root.readlink("/bin") == "usr/bin");
  CHECK(root.sh("readlink /abs-link").out == "/etc/motd\n");
  CHECK_THROWS_WITH_AS(root.readlink("/etc/motd"), "cowroot: /etc/motd: Invalid argument", cowroot::Error);
  root.chown("/etc/motd", 7, 8);
  root.chmod("/etc/motd", 0604);
  struct stat st = root.stat("/abs-link"), lst = root.lstat("/abs-link");
  CHECK(S_ISREG(st.st_mode));
  CHECK(st.st_uid == 7);
  CHECK((st.st_mode & 07777) == 0604);
  CHECK(S_ISLNK(lst.st_mode));
  CHECK(lst.st_uid == 0);
  auto r = root.sh("stat -c '%u %g %a %h %s %i' /etc/motd; stat -L -c '%u %a' /abs-link; stat -c '%F' /abs-link");
  CHECK(r.out == "7 8 604 " + std::to_string(st.st_nlink) + " " + std::to_string(st.st_size) + " " +
                     std::to_string(st.st_ino) + "\n7 604\nsymbolic link\n");
  CHECK_THROWS_WITH_AS(root.lstat("/nope"), "cowroot: /nope: No such file or directory", cowroot::Error);
}


TEST_CASE("touch, makedirs, mkdir, unlink and remove") {
  Root root(Image::at(base()));
  CHECK_THROWS_WITH_AS(root.touch("/srv/new"), "cowroot: /srv/new: No such file or directory", cowroot::Error);
  root.makedirs("/srv/a/b");
  root.makedirs("/srv/a/b");  // there already: fine
  root.mkdir("/srv/a/b/c", 0700, false);
  CHECK((root.stat("/srv/a/b/c").st_mode & 07777) == 0700);
  CHECK_THROWS_WITH_AS(root.mkdir("/srv/a/b/c", 0700, false), "cowroot: /srv/a/b/c: File exists", cowroot::Error);
  CHECK_THROWS_WITH_AS(root.mkdir("/srv/x/y", 0755, false), "cowroot: /srv/x/y: No such file or directory",
                       cowroot::Error);
  CHECK_THROWS_WITH_AS(root.makedirs("/etc/motd/sub"), "cowroot: /etc/motd: Not a directory", cowroot::Error);
  // touch: a new file is root's, 0644; an existing one gets new times, in
  // the root's copy (the base keeps its own).
  root.touch("/srv/new");
  struct stat st = root.stat("/srv/new");
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(st.st_size == 0);
  CHECK(root.sh("stat -c '%U %a' /srv/new").out == "root 644\n");
  struct stat base_before = real_stat(base() + "/etc/motd");
  REQUIRE(root.sh("touch -d '2001-02-03 04:05:06 UTC' /etc/motd").ok());
  CHECK(root.stat("/etc/motd").st_mtime == 981173106);
  root.touch("/etc/motd");
  CHECK(root.stat("/etc/motd").st_mtime > 981173106 + 86400);
  struct stat base_after = real_stat(base() + "/etc/motd");
  CHECK(base_after.st_mtime == base_before.st_mtime);
  CHECK(base_after.st_ino == base_before.st_ino);
  CHECK(root.read("/etc/motd") == "inside the root\n");
  // unlink: files (and symlinks), never directories; remove: anything.
  root.symlink("/srv/a", "/srv/link");
  root.unlink("/srv/link");
  CHECK(root.isdir("/srv/a"));
  CHECK_FALSE(root.lexists("/srv/link"));
  CHECK_THROWS_WITH_AS(root.unlink("/srv/a"), "cowroot: /srv/a: Is a directory", cowroot::Error);
  root.unlink("/srv/new");
  CHECK_FALSE(root.exists("/srv/new"));
  root.remove("/srv/a");
  CHECK_FALSE(root.exists("/srv/a"));
  CHECK(root.sh("ls /srv").out == "");
}

TEST_CASE("write_temporary_file: a new file under the root's /tmp, its host and inside paths") {
  Root root(Image::at(base()));
  auto [host, in] = root.write_temporary_file("temporary\n");
  auto [host2, in2] = root.write_temporary_file("");
  CHECK(in.rfind("/tmp/", 0) == 0);
  CHECK(in != in2);
  CHECK(host == root.path() + in);
  CHECK(slurp(host) == "temporary\n");
  CHECK(root.read(in) == "temporary\n");
  CHECK(root.read(in2) == "");
  CHECK((root.stat(in).st_mode & 07777) == 0600);
  CHECK(root.sh("cat " + in).out == "temporary\n");
}

namespace {

void users_and_groups(const Root& root) {
  root.write("/etc/passwd",
             "root:x:0:0:root:/root:/bin/sh\n"
             "inroot:x:4242:4242:In Root,,,:/home/inroot:/bin/sh\n"
             "broken:x:notanumber:1::/:/bin/sh\n"
             "svc:x:101:65534::/nonexistent:/usr/sbin/nologin\n");
  root.write("/etc/group", "root:x:0:\ninroot:x:4242:\nextra:x:5000:svc,inroot\nempty:*:5001:\n");
  root.write("/etc/shadow", "root:*:19000:0:99999:7:::\ninroot:$6$salt$hash:19001::::::\n", 0640);
  root.makedirs("/home/inroot");
  root.chown("/home/inroot", 4242, 4242);
}

}  // namespace

TEST_CASE("users and groups come from the root's own /etc/passwd, /etc/group and /etc/shadow") {
  Root root(Image::at(base()));
  users_and_groups(root);
  auto pw = root.getpwnam("inroot");
  REQUIRE(pw);
  CHECK(pw->uid == 4242);
  CHECK(pw->gid == 4242);
  CHECK(pw->gecos == "In Root,,,");
  CHECK(pw->dir == "/home/inroot");
  CHECK(pw->shell == "/bin/sh");
  CHECK(root.getpwuid(101)->name == "svc");
  CHECK_FALSE(root.getpwnam("nobody-in-here"));
  CHECK_FALSE(root.getpwuid(9999));
  CHECK_FALSE(root.getpwnam("broken"));  // not a well-formed line
  CHECK(root.getpwall().size() == 3);
  auto gr = root.getgrnam("extra");
  REQUIRE(gr);
  CHECK(gr->gid == 5000);
  CHECK(gr->members == std::vector<std::string>{"svc", "inroot"});
  CHECK(root.getgrgid(5001)->name == "empty");
  CHECK(root.getgrgid(5001)->members.empty());
  CHECK_FALSE(root.getgrnam("wheel"));
  CHECK(root.getgrall().size() == 4);
  auto sp = root.getspnam("inroot");
  REQUIRE(sp);
  CHECK(sp->passwd == "$6$salt$hash");
  CHECK(sp->lastchg == 19001);
  CHECK(sp->max == -1);
  CHECK(root.getspnam("root")->max == 99999);
  CHECK(root.getspall().size() == 2);
  CHECK(root.get_user("inroot") ==
        std::vector<std::string>{"x", "4242", "4242", "In Root,,,", "/home/inroot", "/bin/sh"});
  CHECK(root.get_group("extra") == std::vector<std::string>{"x", "5000", "svc,inroot"});
  CHECK_THROWS_WITH_AS(root.get_user("ghost"), ("cowroot: no user ghost in /etc/passwd of " + root.path()).c_str(),
                       cowroot::Error);
  CHECK_THROWS_WITH_AS(root.get_group("ghost"), ("cowroot: no group ghost in /etc/group of " + root.path()).c_str(),
                       cowroot::Error);
  // What a program inside reads is the same.
  CHECK(root.sh("getent passwd inroot").out == "inroot:x:4242:4242:In Root,,,:/home/inroot:/bin/sh\n");
  // No /etc/shadow: no entries, not an Error.
  root.remove("/etc/shadow");
  CHECK(root.getspall().empty());
  CHECK_FALSE(root.getspnam("root"));
}

TEST_CASE("run as another user of the root: its ids and groups from the root's databases") {
  Root root(Image::at(base()));
  users_and_groups(root);
  cowroot::RunOptions o;
  o.user = "inroot";
  auto r = root.sh("id -u; id -g; id -G; echo $HOME $USER $LOGNAME; touch /tmp/made; stat -c '%u %g' /tmp/made", o);
  CAPTURE(r);
  CHECK(r.out == "4242\n4242\n4242 5000\n/home/inroot inroot inroot\n4242 4242\n");
  CHECK(root.stat("/tmp/made").st_uid == 4242);
  o.user = "101";
  CHECK(root.sh("id -u; id -g; id -G", o).out == "101\n65534\n65534 5000\n");
  CHECK(root.sh("id -u").out == "0\n");  // root again by default
  o.user = "ghost";
  CHECK_THROWS_WITH_AS(root.sh("true", o), "cowroot: run: no user ghost in the root's /etc/passwd", cowroot::Error);
  // The test process's own fake ids never leak in.
  setenv("FAKEROOTUID", "77", 1);
  CHECK(root.sh("id -u").out == "0\n");
  unsetenv("FAKEROOTUID");
}

TEST_CASE("call, check_call and check_sh; a cleared environment") {
  Root root(Image::at(base()));
  CHECK(root.call({"sh", "-c", "exit 5"}) == 5);
  CHECK(root.check_call({"sh", "-c", "echo fine"}).out == "fine\n");
  try {
    root.check_call({"sh", "-c", "echo out; echo first >&2; echo the reason >&2; exit 3"});
    FAIL("check_call did not throw");
  } catch (const cowroot::ProgramError& e) {
    CHECK(std::string(e.what()) == "cowroot: sh -c echo out; echo first >&2; echo the reason >&2; exit 3 exited with "
                                   "status 3: the reason");
    CHECK(e.result.status == 3);
    CHECK(e.result.out == "out\n");
  }
  CHECK_THROWS_WITH_AS(root.check_sh("exit 1"), "cowroot: sh -c exit 1 exited with status 1", cowroot::ProgramError);
  // A program that never started: the launcher's line alone, not an exit.
  try {
    root.check_call({"no-such-program"});
    FAIL("check_call did not throw");
  } catch (const cowroot::ProgramError& e) {
    CHECK(std::string(e.what()).rfind("cowroot: no-such-program: No such file or directory in the root ", 0) == 0);
    CHECK(std::string(e.what()).find("exited") == std::string::npos);
    CHECK(e.result.status == 127);
  }
  // Killed by a signal: its name.
  CHECK_THROWS_WITH_AS(root.check_sh("kill -9 $$"), "cowroot: sh -c kill -9 $$ exited with status 137 (128+SIGKILL)",
                       cowroot::ProgramError);
  // One line whatever the command: its newlines escaped, a long one cut.
  CHECK_THROWS_WITH_AS(root.check_sh("set -e\necho step1\nfalse\n"),
                       "cowroot: sh -c set -e\\necho step1\\nfalse\\n exited with status 1", cowroot::ProgramError);
  try {
    root.check_sh("echo \"\xc3\xa9t\xc3\xa9\"\n" + std::string(56, '#') + "\xc3\xa9\n" + std::string(200, '#') + "\nexit 2");
    FAIL("check_sh did not throw");
  } catch (const cowroot::ProgramError& e) {
    CHECK(std::string(e.what()) == "cowroot: sh -c echo \"\xc3\xa9t\xc3\xa9\"\\n" + std::string(56, '#') +
                                       "... exited with status 2");
  }
  setenv("COWROOT_TEST_MARKER", "from the test", 1);
  cowroot::RunOptions o;
  o.env = {"GIVEN=yes"};
  CHECK(root.sh("echo ${COWROOT_TEST_MARKER:-unset} $GIVEN", o).out == "from the test yes\n");
  // What a login inside sets, whatever the test process's PATH and HOME
  // (host paths) are; env wins.
  CHECK(root.sh("echo $PATH $HOME $USER $LOGNAME $PWD").out ==
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /root root root /\n");
  o.env = {"GIVEN=yes", "PATH=/bin"};
  CHECK(root.sh("echo $PATH", o).out == "/bin\n");
  o.env = {"GIVEN=yes"};
  o.clear_env = true;
  // (With the user's HOME, USER and LOGNAME: root's, the default user.)
  CHECK(root.sh("echo ${COWROOT_TEST_MARKER:-unset} $GIVEN ${HOME:-nohome} ${USER:-nouser} ${LOGNAME:-none}", o).out ==
        "unset yes /root root root\n");
  CHECK(root.sh("id -u", o).out == "0\n");
  unsetenv("COWROOT_TEST_MARKER");
}

// ---- the C interface, and an install without COWROOT_PREFIX ---------------

namespace {

// PATH without any cowroot on it.
const char* kBarePath = "/usr/bin:/bin";

}  // namespace

TEST_CASE("the C interface, from a C program linked with the installed shared library") {
  REQUIRE_FALSE(exists("/usr/bin/cowroot"));
  REQUIRE_FALSE(exists("/bin/cowroot"));
  const char* src = getenv("COWROOT_TEST_CAPI_SRC");
  REQUIRE_MESSAGE(src, "COWROOT_TEST_CAPI_SRC names tests/fixture_capi.c (tests/run.sh sets it)");
  TempDir d;
  std::string p = prefix();
  auto r = sh("gcc -std=c11 -Wall -Werror -o " + q(d / "capi") + " " + q(src) + " -I" + q(p + "/include") + " -L" +
              q(p + "/lib") + " -Wl,-rpath," + q(p + "/lib") + " -lcowroot-fixture $COWROOT_TEST_LINK_FLAGS 2>&1");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  // Neither COWROOT_PREFIX nor a cowroot on PATH: the library finds its own install.
  small_image("capi-parent");
  r = sh("env -u COWROOT_PREFIX PATH=" + std::string(kBarePath) + " " + q(d / "capi") + " " + q(base()) +
         " capi-parent 2>&1");
  CAPTURE(r.out);
  CHECK(r.status == 0);
  CHECK(r.out.find("capi: all passed") != std::string::npos);
}

TEST_CASE("a program linked with the installed static fixture (pkg-config) finds cowroot without COWROOT_PREFIX") {
  TempDir d;
  std::string p = prefix();
  write_file(d / "t.cc",
             "#include <cowroot/fixture.h>\n#include <cstdio>\n"
             "int main(int, char** argv) {\n"
             "  try {\n"
             "    cowroot::Root root(cowroot::Image::at(argv[1]));\n"
             "    auto r = root.sh(\"id -u; cat /etc/motd\");\n"
             "    printf(\"%d %s\", r.status, r.out.c_str());\n"
             "  } catch (const cowroot::Error& e) { printf(\"%s\\n\", e.what()); return 1; }\n"
             "}\n");
  auto r = sh("PKG_CONFIG_PATH=" + q(p + "/lib/pkgconfig") + " && export PKG_CONFIG_PATH && g++ -std=c++17 -o " +
              q(d / "t") + " " + q(d / "t.cc") + " $(pkg-config --cflags --libs cowroot-fixture) $COWROOT_TEST_LINK_FLAGS 2>&1");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  r = sh("env -u COWROOT_PREFIX PATH=" + std::string(kBarePath) + " " + q(d / "t") + " " + q(base()) + " 2>&1");
  CHECK(r.status == 0);
  CHECK(r.out == "0 0\ninside the root\n");
  CHECK(sh("ldd " + q(d / "t") + " | grep -c cowroot").out == "0\n");  // static indeed
}

TEST_CASE("CMake: find_package(cowroot) and the CTest example, built against the install, run four at once") {
  const char* src = getenv("COWROOT_TEST_CMAKE_EXAMPLE");
  REQUIRE_MESSAGE(src, "COWROOT_TEST_CMAKE_EXAMPLE names fixture/examples/cmake (tests/run.sh sets it)");
  TempDir d;
  std::string p = prefix();
  auto r = sh("cmake -S " + q(src) + " -B " + q(d / "build") + " -DCMAKE_PREFIX_PATH=" + q(p) + " 2>&1");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  r = sh("cmake --build " + q(d / "build") + " -j2 2>&1");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  // Its image is a layer of a small image here (bookworm by default);
  // neither COWROOT_PREFIX nor a cowroot on PATH.
  small_image("cmake-parent");
  r = sh("cd " + q(d / "build") + " && env -u COWROOT_PREFIX PATH=" + std::string(kBarePath) +
         " COWROOT_EXAMPLE_PARENT=cmake-parent ctest -j4 --output-on-failure 2>&1");
  CAPTURE(r.out);
  CHECK(r.status == 0);
  CHECK(r.out.find("100% tests passed, 0 tests failed out of 9") != std::string::npos);
  CHECK(exists(image_cache() + "/cowroot-example-on-cmake-parent/root"));
  // The version: 0.x is found, 1.0 is not.
  write_file(d / "CMakeLists.txt",
             "cmake_minimum_required(VERSION 3.16)\nproject(v CXX)\nfind_package(cowroot 1.0 REQUIRED)\n");
  r = sh("cmake -S " + q(d.path) + " -B " + q(d / "v") + " -DCMAKE_PREFIX_PATH=" + q(p) + " 2>&1");
  CHECK(r.status != 0);
  CHECK(r.out.find("cowroot/cowrootConfig.cmake, version: 0.1") != std::string::npos);
}
