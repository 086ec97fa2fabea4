// Fake-root behaviour means nothing when the test runs as real root: a root
// start drops to an unprivileged uid (COWROOT_TEST_UID, default 65534)
// before any test runs. Shared by the doctest main and the GoogleTest one.
#pragma once
#include <grp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace test {

// Returns false (after saying why) when the drop failed.
inline bool drop_root() {
  if (getuid() != 0 && geteuid() != 0) return true;
  const char* u = getenv("COWROOT_TEST_UID");
  uid_t uid = u ? (uid_t)atoi(u) : 65534;
  if (setgroups(0, nullptr) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0) {
    perror("tests: cannot drop root privileges");
    return false;
  }
  if (getuid() == 0 || geteuid() == 0) {
    fprintf(stderr, "tests: still root after dropping privileges\n");
    return false;
  }
  return true;
}

}  // namespace test
