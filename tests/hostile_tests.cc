// Two users on one machine: another uid can neither read nor change a
// session's state, reach its daemon or take a root from a user's pool;
// what one user plants in /tmp for another (a symlink or a directory at
// /tmp/cowroot-UID, a pool directory) is never followed, and no denial of
// service either.
//
// This suite needs two unprivileged uids, so it starts as root (as CI
// runs it) and every test acts in children that drop to uid A or B
// (COWROOT_TEST_UIDS, default "65532 65533": not the uid the other suites
// use, whose /tmp/cowroot-UID this suite replaces). Started as another
// user, it skips itself.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "../cli/clone/clone.h"
#include "../preload/core/proto.h"
#include "common.h"

using namespace test;

namespace {

uid_t g_a = 65532, g_b = 65533;

// Runs fn in a child as `uid` (groups dropped, HOME its own, no
// XDG_RUNTIME_DIR unless `xdg`), with stdout and stderr collected; fn's
// return value is the exit status.
Result as(uid_t uid, const std::function<int()>& fn, const std::string& xdg = "") {
  int p[2];
  REQUIRE(pipe(p) == 0);
  fflush(nullptr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    if (setgroups(0, nullptr) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0) _exit(120);
    std::string home = std::string(getenv("TMPDIR")) + "/home-" + std::to_string(uid);
    setenv("HOME", home.c_str(), 1);
    unsetenv("XDG_CACHE_HOME");
    if (xdg.empty()) unsetenv("XDG_RUNTIME_DIR");
    else setenv("XDG_RUNTIME_DIR", xdg.c_str(), 1);
    if (chdir(home.c_str()) < 0) _exit(121);
    int rc = fn();
    fflush(nullptr);
    _exit(rc);
  }
  close(p[1]);
  Result r;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) r.out.append(buf, n);
  close(p[0]);
  int st;
  waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

Result sh_as(uid_t uid, const std::string& script, const std::string& xdg = "") {
  return as(
      uid, [&] { return system(("exec 2>&1; " + script).c_str()) == 0 ? 0 : 1; }, xdg);
}

std::string tmp_top(uid_t uid) { return "/tmp/cowroot-" + std::to_string(uid); }

// Removes what the tests made at /tmp/cowroot-UID (as root: it may be B's).
void clear_top(uid_t uid) {
  (void)!system(("rm -rf " + q(tmp_top(uid)) + " " + q(tmp_top(uid)) + ".* /tmp/cowroot-cache-" + std::to_string(uid) +
                 " 2>/dev/null")
                    .c_str());
}

bool empty_dir(const std::string& p) { return sh("[ -z \"$(ls -A " + q(p) + ")\" ]").status == 0; }

int count_lines_with(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) n++;
  return n;
}

// A directory the test's uids may use, given to `owner`.
std::string own_dir(const TempDir& d, const std::string& name, uid_t owner, mode_t mode = 0700) {
  std::string p = d / name;
  REQUIRE(mkdir(p.c_str(), mode) == 0);
  REQUIRE(chown(p.c_str(), owner, owner) == 0);
  REQUIRE(chmod(p.c_str(), mode) == 0);
  return p;
}

// Both users' homes, and /tmp/cowroot-A, /tmp/cowroot-B cleared around each test.
struct Users {
  TempDir d;
  Users() {
    for (uid_t u : {g_a, g_b}) {
      std::string h = std::string(getenv("TMPDIR")) + "/home-" + std::to_string(u);
      (void)!system(("rm -rf " + q(h)).c_str());
      REQUIRE(mkdir(h.c_str(), 0700) == 0);
      REQUIRE(chown(h.c_str(), u, u) == 0);
      clear_top(u);
    }
    REQUIRE(chmod(d.path.c_str(), 0755) == 0);
  }
  ~Users() {
    clear_top(g_a);
    clear_top(g_b);
  }
};

}  // namespace

TEST_CASE("a symlink planted at /tmp/cowroot-UID by another user: never followed, the session goes on and says so once") {
  Users u;
  std::string target = own_dir(u.d, "b-target", g_b, 0777);
  REQUIRE(sh_as(g_b, "ln -s " + q(target) + " " + q(tmp_top(g_a))).status == 0);
  std::string work = own_dir(u.d, "a-work", g_a);
  auto r = sh_as(g_a, "cd " + q(work) + " && " + cowroot() + " -s S -- sh -c 'touch f; chown 5 f; stat -c %u f; " +
                          "printenv COWROOT_STATE > dir'");
  CHECK(r.status == 0);
  CHECK(count_lines_with(r.out, "cowroot: ") == 1);
  CHECK(r.out.find(tmp_top(g_a) + " is a symlink") != std::string::npos);
  CHECK(r.out.find("\n5\n") != std::string::npos);
  CHECK(empty_dir(target));  // nothing of A's went through the symlink
  std::string dir;
  std::getline(std::ifstream(work + "/dir"), dir);
  CHECK(dir.rfind(target, 0) != 0);
  CHECK(dir.rfind(std::string(getenv("TMPDIR")) + "/cowroot-" + std::to_string(g_a) + ".", 0) == 0);  // A's own...
  CHECK_FALSE(exists(dir));                      // ...removed with the session
  CHECK(sh("grep -c uid=5 " + q(work + "/S")).out == "1\n");
  // The library alone (a bare LD_PRELOAD session) too.
  auto l = sh_as(g_a, "cd " + q(work) + " && LD_PRELOAD=" + q(prefix() + "/lib/libcowroot.so") +
                          " sh -c 'touch g; chown 6 g; stat -c %u g'");
  CHECK(l.status == 0);
  CHECK(count_lines_with(l.out, "cowroot: ") == 1);
  CHECK(l.out.find(tmp_top(g_a) + " is not a private directory of this user") != std::string::npos);
  CHECK(l.out.find("\n6\n") != std::string::npos);
  CHECK(empty_dir(target));
}

TEST_CASE("a directory planted at /tmp/cowroot-UID by another user: not used; $XDG_RUNTIME_DIR is, when there") {
  Users u;
  REQUIRE(sh_as(g_b, "mkdir -m 777 " + q(tmp_top(g_a))).status == 0);
  std::string work = own_dir(u.d, "a-work", g_a);
  auto r = sh_as(g_a, "cd " + q(work) + " && " + cowroot() + " -- sh -c 'chown 7 .; stat -c %u .'");
  CHECK(r.status == 0);
  CHECK(r.out.find(tmp_top(g_a) + " belongs to uid " + std::to_string(g_b)) != std::string::npos);
  CHECK(r.out.find("\n7\n") != std::string::npos);
  CHECK(empty_dir(tmp_top(g_a)));
  // With a runtime directory of A's, the session lives there, in silence.
  std::string xdg = own_dir(u.d, "a-run", g_a);
  auto x = sh_as(g_a, "cd " + q(work) + " && " + cowroot() + " -- sh -c 'printenv COWROOT_STATE'", xdg);
  CHECK(x.status == 0);
  CHECK(x.out.rfind(xdg + "/cowroot-" + std::to_string(g_a) + "/s.", 0) == 0);
  CHECK(count_lines_with(x.out, "cowroot: ") == 0);
  // The image cache's place in /tmp (for a user without a home) neither.
  std::string cache = "/tmp/cowroot-cache-" + std::to_string(g_a);
  REQUIRE(sh_as(g_b, "ln -s " + q(own_dir(u.d, "b-cache", g_b, 0777)) + " " + q(cache)).status == 0);
  auto c = sh_as(g_a, "HOME=/nonexistent " + cowroot() + " image list");
  CHECK(c.status == 0);
  CHECK(c.out.find(cache + " is a symlink") != std::string::npos);
  CHECK(empty_dir(u.d / "b-cache"));
}

TEST_CASE("another user can neither read nor change a session's state, nor reach its daemon") {
  Users u;
  std::string work = own_dir(u.d, "a-work", g_a, 0755);
  // A's session, alive until the test says go.
  Result ra;
  std::thread t([&] {
    ra = sh_as(g_a, "cd " + q(work) + " && " + cowroot() +
                        " -- sh -c 'touch f; chown 7 f; printenv COWROOT_STATE > dir; "
                        "while [ ! -e go ]; do sleep 0.05; done; stat -c %u f'");
  });
  std::string dir;
  for (int i = 0; i < 200 && dir.empty(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::getline(std::ifstream(work + "/dir"), dir);
  }
  REQUIRE(!dir.empty());
  // B reads nothing of it, connects to nothing.
  auto rd = sh_as(g_b, "cat " + q(dir + "/table") + " >/dev/null");
  CHECK(rd.status != 0);
  CHECK(rd.out.find("Permission denied") != std::string::npos);
  auto conn = as(g_b, [&] {
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", dir.c_str());
    return connect(s, (sockaddr*)&sa, sizeof sa) == 0 ? 0 : errno == EACCES ? 13 : 1;
  });
  CHECK(conn.status == 13);
  // Even with the file system's doors opened by A, the daemon answers no
  // other uid (SO_PEERCRED): the connection is closed, nothing said.
  std::string top = dir.substr(0, dir.rfind('/'));
  REQUIRE(chmod(top.c_str(), 0711) == 0);
  REQUIRE(chmod(dir.c_str(), 0711) == 0);
  REQUIRE(chmod((dir + "/sock").c_str(), 0777) == 0);
  auto ping = as(g_b, [&] {
    int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", dir.c_str());
    if (connect(s, (sockaddr*)&sa, sizeof sa) < 0) return 1;
    cr::proto::Msg m{cr::proto::kMagic, cr::proto::kSave, 0, 0, 0};
    if (send(s, &m, sizeof m, MSG_NOSIGNAL) < 0) return 0;  // closed already
    char buf[256];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    return n <= 0 ? 0 : 2;  // 0: nothing answered
  });
  CHECK(ping.status == 0);
  // B pointing its own session at A's directory gets nowhere either.
  auto join = sh_as(g_b, "cd " + q(work) + " && COWROOT_STATE=" + q(dir) + " LD_PRELOAD=" +
                             q(prefix() + "/lib/libcowroot.so") + " sh -c 'chown 9 f; echo done'");
  CHECK(join.out.find("is not a private directory of this user") != std::string::npos);
  REQUIRE(chmod(dir.c_str(), 0700) == 0);
  REQUIRE(chmod(top.c_str(), 0700) == 0);
  REQUIRE(chmod((dir + "/sock").c_str(), 0700) == 0);
  write_file(work + "/go", "");
  t.join();
  CHECK(ra.status == 0);
  CHECK(ra.out == "7\n");
}

TEST_CASE("another user takes no root from a user's pool, and a pool planted by another is not used") {
  Users u;
  std::string base = own_dir(u.d, "base", g_a, 0755);
  write_file(base + "/file", "base\n");
  REQUIRE(chown((base + "/file").c_str(), g_a, g_a) == 0);
  std::string cache = own_dir(u.d, "a-cache", g_a), runs = cache + "/runs";
  // A fills its pool with one ready root.
  auto fill = as(g_a, [&] {
    char slot[4096], root[4096], err[1024];
    if (cr::pool_take(base.c_str(), runs.c_str(), "a1", slot, root, sizeof slot, err, sizeof err) < 0) {
      printf("%s\n", err);
      return 1;
    }
    if (cr::pool_give_back(runs.c_str(), slot, "a1", 2, err, sizeof err) < 0) {
      printf("%s\n", err);
      return 2;
    }
    return 0;
  });
  REQUIRE_MESSAGE(fill.status == 0, fill.out);
  REQUIRE(exists(runs + "/ready-a1/root/file"));
  // B cannot take it.
  auto take = as(g_b, [&] {
    char slot[4096], root[4096], err[1024];
    if (cr::pool_take(base.c_str(), runs.c_str(), "b1", slot, root, sizeof slot, err, sizeof err) == 0) return 0;
    printf("%s\n", err);
    return 1;
  });
  CHECK(take.status == 1);
  CHECK(take.out.find(runs) != std::string::npos);
  CHECK(exists(runs + "/ready-a1/root/file"));
  // A pool directory B made (open to all, a dirty root in it) is refused by A.
  std::string planted = own_dir(u.d, "planted-runs", g_b, 0777);
  REQUIRE(sh_as(g_b, "mkdir -p " + q(planted + "/ready-x/root") + " && echo dirty > " + q(planted + "/ready-x/root/file"))
              .status == 0);
  auto refuse = as(g_a, [&] {
    char slot[4096], root[4096], err[1024];
    if (cr::pool_take(base.c_str(), planted.c_str(), "a2", slot, root, sizeof slot, err, sizeof err) == 0) {
      printf("took %s\n", root);
      return 0;
    }
    printf("%s\n", err);
    return 1;
  });
  CHECK(refuse.status == 1);
  CHECK(refuse.out.find(planted + " belongs to uid " + std::to_string(g_b) + ": not a pool of this user's") !=
        std::string::npos);
  CHECK(exists(planted + "/ready-x/root/file"));
}

int main(int argc, char** argv) {
  if (const char* ids = getenv("COWROOT_TEST_UIDS")) {
    unsigned a, b;
    if (sscanf(ids, "%u %u", &a, &b) == 2) g_a = a, g_b = b;
  }
  doctest::Context ctx(argc, argv);
  if (getuid() != 0) {
    fprintf(stderr, "hostile_tests: acting as two users needs a root start (CI's): every test skipped\n");
    ctx.addFilter("test-case", "-none-");
  }
  return ctx.run();
}
