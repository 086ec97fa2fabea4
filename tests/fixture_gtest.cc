// The GoogleTest adapter (fixture/include/cowroot/gtest.h), with GoogleTest's
// own runner. Like every suite here it drops root first. Tests of the
// default image need the Debian archive: make test-quick filters them out.
// Built as C++17 with -pedantic-errors: the header's example must not need
// C++20's designated initialisers.
#include <cowroot/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include "drop_root.h"

namespace {

std::string g_self;  // this program (argv[0]: /proc/self/exe is unreadable after the drop)

std::string tmpdir() { return getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp"; }

int run(const std::string& cmd) { return system(cmd.c_str()); }

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A root of the small base tests/mkroot.sh makes: no network needed.
std::string small_base() {
  static std::string b = [] {
    std::string dir = tmpdir() + "/gtest-base-" + std::to_string(getpid());
    if (run("sh '" + std::string(getenv("COWROOT_TEST_MKROOT")) + "' '" + dir + "' >/dev/null 2>&1") != 0) abort();
    return dir;
  }();
  return b;
}

// The example of the header: options of another image, without C++20.
const cowroot::ImageOptions& small_image() {
  static const cowroot::ImageOptions o = [] {
    cowroot::ImageOptions o;
    o.name = "small-gtest";
    return o;
  }();
  return o;
}

// That image, in the cache: the small base, sealed, as a build leaves it.
void make_small_image() {
  std::string dir = std::string(getenv("XDG_CACHE_HOME")) + "/cowroot/images/small-gtest";
  struct stat st;
  if (stat((dir + "/root").c_str(), &st) == 0) return;
  std::string cowroot = std::string(getenv("COWROOT_TEST_PREFIX")) + "/bin/cowroot";
  if (run("mkdir -p '" + dir + "' && cp -a '" + small_base() + "' '" + dir + "/root' && : > '" + dir +
          "/s' && '" + cowroot + "' seal -i '" + dir + "/s' '" + dir + "/root' && rm '" + dir + "/s'") != 0)
    abort();
  std::ofstream(dir + "/info") << "suite=small-gtest\nvariant=minbase\ninclude=\nmirror=http://mirror.invalid/debian\nbuilt="
                               << time(nullptr) << "\n";
}

class SmallRootTest : public ::testing::Test {
 protected:
  cowroot::Root root{cowroot::Image::at(small_base())};
};

using SmallImageTest = cowroot::ImageRootTest<small_image>;

}  // namespace

TEST_F(SmallRootTest, RunsAsFakeRootInsideAndPrintsResults) {
  auto r = root.sh("id -u; exit 4");
  EXPECT_EQ(r.status, 4) << r;
  EXPECT_EQ(r.out, "0\n");
}

TEST_F(SmallRootTest, HelpersSeeWhatProgramsInsideSee) {
  root.write("/etc/x.conf", "x\n", 0640);
  root.chown("/etc/x.conf", 7, 8);
  EXPECT_EQ(root.sh("stat -c '%u %g %a' /etc/x.conf").out, "7 8 640\n");
}

TEST_F(SmallImageTest, RootsOfAnotherImage) {
  EXPECT_EQ(root.read("/etc/motd"), "inside the root\n");
  root.write("/marker", "passing\n");
}

// Fails when the test below runs it in a process of its own.
TEST_F(SmallImageTest, FailsOnPurposeWhenAsked) {
  if (!getenv("COWROOT_TEST_FAIL_ON_PURPOSE")) GTEST_SKIP() << "run by KeepsTheRootOfAFailingTest";
  root.write("/marker", "kept by gtest\n");
  ADD_FAILURE() << "on purpose";
}

TEST(Adapter, KeepsTheRootOfAFailingTest) {
  std::string kept = tmpdir() + "/gtest-kept-" + std::to_string(getpid());
  std::string self = g_self;
  int st = run("COWROOT_KEEP_FAILED='" + kept + "' COWROOT_TEST_FAIL_ON_PURPOSE=1 " + self +
               " --gtest_filter=SmallImageTest.* >/dev/null 2>&1");
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0);
  EXPECT_EQ(slurp(kept + "/SmallImageTest.FailsOnPurposeWhenAsked/marker"), "kept by gtest\n");
  struct stat s;
  EXPECT_NE(stat((kept + "/SmallImageTest.RootsOfAnotherImage").c_str(), &s), 0);  // it passed: not kept
  run("rm -rf '" + kept + "'");
}

using RootTest = cowroot::RootTest;  // TEST_F takes an unqualified name

TEST_F(RootTest, DefaultImageIsDebianAsFakeRoot) {
  auto r = root.sh("cat /etc/debian_version; id -u");
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.out.substr(0, 3), "12.");
  EXPECT_NE(r.out.find("\n0\n"), std::string::npos);
}

int main(int argc, char** argv) {
  if (!test::drop_root()) return 2;
  g_self = argv[0];
  if (const char* p = getenv("COWROOT_TEST_PREFIX")) cowroot::set_prefix(p);
  if (const char* t = getenv("TMPDIR"); t && !getenv("XDG_CACHE_HOME"))
    setenv("XDG_CACHE_HOME", (std::string(t) + "/fixture-cache").c_str(), 1);
  ::testing::InitGoogleTest(&argc, argv);
  const char* on = getenv("COWROOT_TEST_DEBOOTSTRAP");
  if (on && std::string(on) == "0" && GTEST_FLAG_GET(filter) == "*") GTEST_FLAG_SET(filter, "-RootTest.*");
  make_small_image();
  int r = RUN_ALL_TESTS();
  if (!getenv("COWROOT_TEST_FAIL_ON_PURPOSE")) run("rm -rf '" + small_base() + "'");
  return r;
}
