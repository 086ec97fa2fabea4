// doctest main for every suite. Fake-root behaviour means nothing when the
// test runs as real root, so a root start drops to an unprivileged uid
// (COWROOT_TEST_UID, default 65534) before any test runs.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <grp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (getuid() == 0 || geteuid() == 0) {
    const char* u = getenv("COWROOT_TEST_UID");
    uid_t uid = u ? (uid_t)atoi(u) : 65534;
    if (setgroups(0, nullptr) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0) {
      perror("tests: cannot drop root privileges");
      return 2;
    }
    if (getuid() == 0 || geteuid() == 0) {
      fprintf(stderr, "tests: still root after dropping privileges\n");
      return 2;
    }
  }
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
