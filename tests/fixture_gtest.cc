// The GoogleTest adapter (fixture/include/cowroot/gtest.h), with GoogleTest's
// own runner. Like every suite here it drops root first. Tests of the
// default image need the Debian archive: make test-quick filters them out.
#include <cowroot/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "drop_root.h"

namespace {

// A root of the small base tests/mkroot.sh makes: no network needed.
std::string small_base() {
  static std::string b = [] {
    std::string dir = std::string(getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") + "/gtest-base-" + std::to_string(getpid());
    std::string cmd = std::string("sh '") + getenv("COWROOT_TEST_MKROOT") + "' '" + dir + "' >/dev/null 2>&1";
    if (system(cmd.c_str()) != 0) abort();
    return dir;
  }();
  return b;
}

class SmallRootTest : public ::testing::Test {
 protected:
  cowroot::Root root{cowroot::Image::at(small_base())};
};

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

using RootTest = cowroot::RootTest;  // TEST_F takes an unqualified name

TEST_F(RootTest, DefaultImageIsDebianAsFakeRoot) {
  auto r = root.sh("cat /etc/debian_version; id -u");
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.out.substr(0, 3), "12.");
  EXPECT_NE(r.out.find("\n0\n"), std::string::npos);
}

int main(int argc, char** argv) {
  if (!test::drop_root()) return 2;
  if (const char* p = getenv("COWROOT_TEST_PREFIX")) cowroot::set_prefix(p);
  if (const char* t = getenv("TMPDIR"); t && !getenv("XDG_CACHE_HOME"))
    setenv("XDG_CACHE_HOME", (std::string(t) + "/fixture-cache").c_str(), 1);
  ::testing::InitGoogleTest(&argc, argv);
  const char* on = getenv("COWROOT_TEST_DEBOOTSTRAP");
  if (on && std::string(on) == "0") GTEST_FLAG_SET(filter, "-RootTest.*");
  int r = RUN_ALL_TESTS();
  std::string cmd = "rm -rf '" + small_base() + "'";
  if (system(cmd.c_str()) != 0) { /* best effort */ }
  return r;
}
