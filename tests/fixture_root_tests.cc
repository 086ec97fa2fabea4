// The fixture's roots as a test suite lives with them: paths, moves, many
// roots in one process, programs left running, timeouts, images and their
// cache, keeping roots. Roots of tests/mkroot.sh's base and of cached
// images made from it (no network).
#include <cowroot/doctest.h>
#include <cowroot/fixture.h>
#include <sys/statfs.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "fixture_util.h"

using namespace fx;
using cowroot::Image;
using cowroot::Root;

TEST_CASE("relative paths are inside the root, never the test's working directory") {
  TempDir host;
  REQUIRE(mkdir((host / "etc").c_str(), 0755) == 0);
  write_file(host / "etc/motd", "the host's\n");
  Root root(Image::at(base()));
  InDir in(host.path);
  CHECK(root.read("etc/motd") == "inside the root\n");
  root.write("relwrite", "x");
  root.mkdir("reldir/sub");
  root.symlink("etc/motd", "rellink");
  root.touch("reltouched");
  CHECK_FALSE(exists(host / "relwrite"));
  CHECK_FALSE(exists(host / "reldir"));
  CHECK_FALSE(exists(host / "rellink"));
  CHECK_FALSE(exists(host / "reltouched"));
  CHECK(root.read("/relwrite") == "x");
  CHECK(root.isdir("/reldir/sub"));
  CHECK(root.readlink("rellink") == "etc/motd");
  CHECK(root.exists("reltouched"));
  CHECK(root.host_path("etc/motd") == root.path() + "/etc/motd");
  CHECK_THROWS_WITH_AS(root.read(""), "cowroot: an empty path", cowroot::Error);
}

TEST_CASE("a moved-from Root is an Error to use; assigning over a Root gives its root back") {
  Root a(Image::at(base()));
  std::string pa = a.path();
  Root b = std::move(a);
  CHECK_THROWS_WITH_AS(a.exists("/etc"), "cowroot: this Root was moved from: it has no root any more", cowroot::Error);
  CHECK_THROWS_AS(a.path(), cowroot::Error);
  CHECK_THROWS_AS(a.sh("true"), cowroot::Error);
  CHECK(b.exists("/etc"));
  CHECK(b.path() == pa);
  Root c(Image::at(base()));
  std::string pc = c.path();
  c = std::move(b);
  CHECK_FALSE(exists(pc));          // the root c held is gone
  CHECK_FALSE(exists(pc + ".cowroot"));
  CHECK(c.path() == pa);
  CHECK(c.read("/etc/motd") == "inside the root\n");
}

namespace {

size_t mappings() {
  std::string m = slurp("/proc/self/maps");
  return (size_t)std::count(m.begin(), m.end(), '\n');
}

}  // namespace

TEST_CASE("roots leave no mappings behind: a test process can take roots indefinitely") {
  Image img = Image::get(small_image());
  { Root warm(img); }
  size_t before = mappings();
  for (int i = 0; i < 300; i++) {
    Root r(img);
    r.write("/etc/changed", "x");  // a reset with something to undo
    r.chmod("/etc/motd", 0600);
  }
  size_t after = mappings();
  CAPTURE(before);
  CAPTURE(after);
  CHECK(after < before + 20);
}

TEST_CASE("run returns when the program exits; what it left running goes with the root") {
  pid_t bg = 0, detached = 0;
  {
    Root root(Image::get(small_image()));
    auto t0 = std::chrono::steady_clock::now();
    auto r = root.sh("sleep 30 & echo $! > /tmp/bg; echo started");
    CHECK(seconds_since(t0) < 5);
    CHECK(r.out == "started\n");
    r = root.sh("setsid -f sh -c 'echo $$ > /tmp/detached; exec sleep 30' >/dev/null 2>&1; echo ok");
    CHECK(r.out == "ok\n");
    CHECK(seconds_since(t0) < 10);
    bg = std::stoi(root.read("/tmp/bg"));
    for (int i = 0; i < 500 && !(root.exists("/tmp/detached") && !root.read("/tmp/detached").empty() &&
                                 root.read("/tmp/detached").back() == '\n');
         i++)
      usleep(10000);
    detached = std::stoi(root.read("/tmp/detached"));
    CHECK(alive(bg));
    CHECK(alive(detached));
  }
  CHECK(ends_within(bg, 2000));
  CHECK(ends_within(detached, 2000));
  // A root of any directory too.
  {
    Root root(Image::at(base()));
    root.sh("sleep 30 >/dev/null 2>&1 & echo $! > /tmp/bg");
    bg = std::stoi(root.read("/tmp/bg"));
    CHECK(alive(bg));
  }
  CHECK(ends_within(bg, 2000));
}

namespace {
std::string g_exit_mark;
void mark_exit() {
  if (!g_exit_mark.empty()) write_file(g_exit_mark, std::to_string(getpid()) + "\n");
}
void on_usr1(int) {}
}  // namespace

TEST_CASE("run starts the session in a child of the test process, as a program would have been started") {
  // Threads running programs in their own roots at once: the child of a
  // threaded process, forked while helpers of other threads use the core.
  {
    std::vector<std::thread> ts;
    std::atomic<int> good{0};
    for (int t = 0; t < 4; t++)
      ts.emplace_back([&good, t] {
        Root root(Image::at(base()));
        for (int i = 0; i < 5; i++) {
          root.write("/tmp/w", std::to_string(t));
          auto r = root.sh("cat /tmp/w; id -u");
          if (r.ok() && r.out == std::to_string(t) + "0\n") good++;
        }
      });
    for (auto& t : ts) t.join();
    CHECK(good == 20);
  }
  Root root(Image::at(base()));
  // The test process's own end of the input pipe is not held open in the
  // child: the program sees the end of its input.
  cowroot::RunOptions in;
  in.input = "line one\nline two\n";
  CHECK(root.run({"/bin/sh", "-c", "cat; echo end"}, in).out == "line one\nline two\nend\n");
  // A handler of the test process is not the program's: default again.
  struct sigaction sa{}, old{};
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, &old);
  auto r = root.sh("kill -USR1 $$; echo survived");
  sigaction(SIGUSR1, &old, nullptr);
  CHECK(r.status == 128 + SIGUSR1);
  CHECK(r.out.empty());
  // A session that cannot start says why with the command's words and
  // status, and the child never runs the test process's exit handlers.
  TempDir marks;
  g_exit_mark = marks / "exited";
  static bool registered = atexit(mark_exit) == 0;
  CHECK(registered);
  cowroot::RunOptions bad;
  bad.binds = {"/tmp:relative"};
  r = root.run({"/bin/true"}, bad);
  CHECK(r.status == 1);
  CHECK(r.err.find("cowroot: --bind /tmp:relative: the inside path must be absolute") != std::string::npos);
  CHECK_FALSE(exists(g_exit_mark));
  g_exit_mark.clear();
}

TEST_CASE("a test process with a thread always inside malloc runs its programs to their end") {
  // A child forked while another thread holds an allocator's lock inherits
  // it held. glibc's malloc takes its locks around fork; ASan's runtime
  // (GCC 12) does not: a child of three such threads that allocates hung in
  // 1 of 300 forks here, and a CI run hung 50 minutes in the daemon test
  // below. Under ASan, run() starts the command instead (fixture.cc).
  std::atomic<bool> stop{false};
  std::thread churn([&stop] {
    while (!stop.load(std::memory_order_relaxed)) {
      // Sizes of every class, small to mapped: the allocator's caches are
      // refilled, drained and its quarantine recycled all the time.
      std::vector<std::string> v;
      for (size_t i = 0; i < 64; i++) v.emplace_back(((i * 7919) % 64 + 1) * (i % 2 ? 64 : 4096), 'x');
    }
  });
  Root root(Image::at(base()));
  int good = 0;
  for (int i = 0; i < 30; i++) good += root.sh("echo " + std::to_string(i)).out == std::to_string(i) + "\n";
  stop = true;
  churn.join();
  CHECK(good == 30);
}

TEST_CASE("a run's daemon, forked from the test process, is named cowroot-faked and holds nothing of the test's") {
  TempDir d;
  int secret = open((d / "secret").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  REQUIRE(secret >= 0);
  Root root(Image::at(base()));
  std::atomic<bool> done{false};
  std::thread t([&root, &done] {
    root.sh("sleep 1");
    done = true;
  });
  // The session's child is this process's child; its daemon is that child's.
  // Looked for while the session runs (however long its start takes).
  std::string found, env, fds;
  while (found.empty() && !done) {
    usleep(5000);
    std::error_code pec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", pec)) {
      std::string pid = e.path().filename();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream st(e.path() / "stat");
      std::string line;
      std::getline(st, line);
      size_t close = line.rfind(')');
      if (close == std::string::npos || line.substr(line.find('(') + 1, close - line.find('(') - 1) != "cowroot-faked")
        continue;
      int ppid = std::atoi(line.c_str() + close + 4);
      std::ifstream pst("/proc/" + std::to_string(ppid) + "/stat");
      std::string pline;
      std::getline(pst, pline);
      size_t pclose = pline.rfind(')');
      if (pclose == std::string::npos || std::atoi(pline.c_str() + pclose + 4) != getpid()) continue;
      found = pid;
      std::ifstream en(e.path() / "environ");
      env.assign(std::istreambuf_iterator<char>(en), {});
      std::error_code ec;
      for (const auto& f : std::filesystem::directory_iterator(e.path() / "fd", ec)) {
        fds += std::filesystem::read_symlink(f.path(), ec).string() + "\n";
      }
    }
  }
  t.join();
  ::close(secret);
  CHECK_FALSE(found.empty());
  CHECK(env.find_first_not_of('\0') == std::string::npos);  // (zeroed: the block stays, empty)
  CAPTURE(fds);
  CHECK_FALSE(fds.empty());  // (readable: as an exec'd daemon, it is dumpable)
  CHECK(fds.find(d / "secret") == std::string::npos);
}

TEST_CASE("the command line returns when its program exits: a kept root's daemon runs on, a throwaway root's goes") {
  TempDir d;
  {
    Root root(Image::at(base()));
    root.keep(d / "kept");
  }
  auto t0 = std::chrono::steady_clock::now();
  auto r = sh(cowroot_cmd() + " -r " + q(d / "kept") + " -- sh -c 'setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $!'");
  CHECK(seconds_since(t0) < 5);
  pid_t kept = std::stoi(r.out);
  CHECK(alive(kept));  // in its session, in the kept root
  kill(kept, SIGKILL);
  // A throwaway root: cowroot run stops what its command left.
  t0 = std::chrono::steady_clock::now();
  r = sh(cowroot_cmd() + " run --base " + q(base()) + " -- sh -c 'setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $!'");
  CHECK(seconds_since(t0) < 5);
  CHECK(ends_within(std::stoi(r.out), 3000));
  small_image();
  r = sh("COWROOT_RUN_SYNC=1 " + cowroot_cmd() + " run --image small -- sh -c 'sleep 30 >/dev/null 2>&1 & echo $!'");
  CHECK(r.status == 0);
  CHECK(ends_within(std::stoi(r.out), 100));
}

TEST_CASE("a timeout kills the program and what it started, and says so") {
  Root root(Image::at(base()));
  cowroot::RunOptions o;
  o.timeout = std::chrono::milliseconds(2000);  // (the program starts well within it, on a slow machine too)
  auto t0 = std::chrono::steady_clock::now();
  auto r = root.sh("setsid sleep 30 >/dev/null 2>&1 & echo $! > /tmp/bg; echo before; sleep 30; echo after", o);
  CHECK(seconds_since(t0) < 5);
  CHECK(r.timed_out);
  CHECK(r.status == 124);
  CHECK(r.out == "before\n");
  CHECK(r.err.find("cowroot: /bin/sh timed out after 2 s") != std::string::npos);
  CHECK(ends_within(std::stoi(root.read("/tmp/bg")), 2000));
  CHECK_THROWS_WITH_AS(root.check_sh("sleep 30", o),
                       "cowroot: sh -c sleep 30 timed out: cowroot: /bin/sh timed out after 2 s: killed it and what it started",
                       cowroot::ProgramError);
  // Quick programs are not touched.
  CHECK(root.sh("echo quick", o).out == "quick\n");
  // The command line.
  TempDir d;
  root.keep(d / "kept");
  auto c = sh(cowroot_cmd() + " -r " + q(d / "kept") + " --timeout 0.2 -- sleep 30");
  CHECK(c.status == 124);
  CHECK(c.out == "cowroot: sleep timed out after 0.2 s: killed it and what it started\n");
  CHECK(sh(cowroot_cmd() + " -r " + q(d / "kept") + " --timeout nope -- true").status == 2);
}

TEST_CASE("a run is cancelled from another thread; the test process's end and a SIGTERM to cowroot --kill-on-term stop it too") {
  Root root(Image::at(base()));
  // A program that ignores SIGINT and SIGTERM, with a child in a session of its own.
  const std::string stubborn =
      "trap '' INT TERM; setsid sleep 60 >/dev/null 2>&1 & echo $! > /tmp/bg; echo started; sleep 60; echo after";
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  cowroot::RunOptions o;
  o.cancel_fd = p[0];
  std::thread canceller([&] {
    // Once the program has started (its child's pid written).
    for (int i = 0; i < 600 && !root.exists("/tmp/bg"); i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(write(p[1], "x", 1) == 1);
  });
  auto t0 = std::chrono::steady_clock::now();
  auto r = root.sh(stubborn, o);
  canceller.join();
  close(p[0]);
  close(p[1]);
  CHECK(seconds_since(t0) < 20);
  CHECK(r.cancelled);
  CHECK_FALSE(r.timed_out);
  CHECK(r.status == 143);
  CHECK(r.out == "started\n");
  CHECK(r.err.find("stopped by SIGTERM: killed it and what it started") != std::string::npos);
  CHECK(ends_within(std::stoi(root.read("/tmp/bg")), 2000));
  CHECK(root.sh("echo next").out == "next\n");  // the root goes on
  // The process that started a run killed: the program and its child go too.
  root.remove("/tmp/bg");
  pid_t tester = fork();
  if (tester == 0) {
    root.sh(stubborn);
    _exit(0);
  }
  for (int i = 0; i < 600 && !root.exists("/tmp/bg"); i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(root.exists("/tmp/bg"));
  kill(tester, SIGKILL);
  waitpid(tester, nullptr, 0);
  CHECK(ends_within(std::stoi(root.read("/tmp/bg")), 5000));
  // The command line: SIGTERM to cowroot --kill-on-term (without it, passed on).
  TempDir d;
  root.keep(d / "kept");
  auto c = sh(cowroot_cmd() + " -r " + q(d / "kept") + " --kill-on-term -- sh -c " + q(stubborn) +
              " & sleep 0.5; while [ ! -e " + q(d / "kept/tmp/bg") + " ]; do sleep 0.05; done; kill -TERM $!; wait $!; echo status $?");
  CHECK(c.out.find("started\nstatus 143\n") != std::string::npos);
  CHECK(c.out.find("cowroot: sh stopped by SIGTERM: killed it and what it started") != std::string::npos);
  std::ifstream bg(d / "kept/tmp/bg");
  pid_t bgpid = 0;
  CHECK((bg >> bgpid));
  CHECK(ends_within(bgpid, 2000));
}

TEST_CASE("a working directory or a bind that is not there is an Error naming it, not a status the program could give") {
  Root root(Image::at(base()));
  cowroot::RunOptions o;
  o.cwd = "/nonexistent";
  CHECK_THROWS_WITH_AS(root.run({"pwd"}, o), "cowroot: run: working directory /nonexistent: No such file or directory",
                       cowroot::Error);
  o.cwd = "/etc/passwd";
  CHECK_THROWS_WITH_AS(root.run({"pwd"}, o), "cowroot: run: working directory /etc/passwd: Not a directory",
                       cowroot::Error);
  o.cwd = "";
  o.binds = {"/nonexistent-host-dir:/x"};
  CHECK_THROWS_WITH_AS(root.run({"true"}, o),
                       "cowroot: bind /nonexistent-host-dir:/x: /nonexistent-host-dir: No such file or directory",
                       cowroot::Error);
  o.binds = {};
  o.user = "nosuchuser";
  CHECK_THROWS_WITH_AS(root.run({"true"}, o), "cowroot: run: no user nosuchuser in the root's /etc/passwd",
                       cowroot::Error);
  o.user = "";
  o.cwd = "/tmp";
  CHECK(root.run({"sh", "-c", "pwd"}, o).out == "/tmp\n");
}

TEST_CASE("an image build that fails says debootstrap's own reason, once") {
  cowroot::ImageOptions o;
  o.name = "badvariant";
  o.suite = "bookworm";
  o.variant = "nope";
  o.mirror = "http://127.0.0.1:9/debian";
  CHECK_THROWS_WITH_AS(Image::get(o), "cowroot: cannot build image badvariant: debootstrap failed: E: unsupported variant",
                       cowroot::Error);
  auto r = sh(cowroot_cmd() + " image build badvariant2 --suite bookworm --variant nope --mirror http://127.0.0.1:9/debian");
  CHECK(r.status == 1);
  CAPTURE(r.out);
  size_t first = r.out.find("E: unsupported variant");
  CHECK(first != std::string::npos);
  CHECK(r.out.find("E: unsupported variant", first + 1) == std::string::npos);
  CHECK(r.out.find("cowroot: cowroot") == std::string::npos);
  // A failed build leaves nothing of itself, its lock neither.
  CHECK_FALSE(exists(image_cache() + "/badvariant.lock"));
  CHECK_FALSE(exists(image_cache() + "/badvariant2.lock"));
  CHECK_FALSE(exists(image_cache() + "/badvariant"));
}

// A new image's name is its suite unless ImageOptions::suite says one: the
// error says so in this API's words, not the command's option.
TEST_CASE("a named image that is no suite debootstrap knows says to set ImageOptions::suite") {
  cowroot::ImageOptions o;
  o.name = "nosuchimg";
  CHECK_THROWS_WITH_AS(Image::get(o),
                       "cowroot: no image nosuchimg, and debootstrap knows no suite nosuchimg to build it from "
                       "(cowroot image list shows the images; a new image of that name needs the suite to build it "
                       "from: --suite SUITE); the suite defaults to the name: to build image nosuchimg, set "
                       "ImageOptions::suite (the Debian or Ubuntu release to build it from, e.g. \"bookworm\")",
                       cowroot::Error);
  CHECK_FALSE(exists(image_cache() + "/nosuchimg"));
}

TEST_CASE("an image's identity is all its options: a name held with other options is an Error") {
  Image::get(small_image("small-id"));
  cowroot::ImageOptions o = small_image("small-id");
  o.include = {"curl"};
  CHECK_THROWS_WITH_AS(Image::get(o),
                       "cowroot: image small-id was built with other options (--include '', not 'curl'): give these "
                       "options another name, or remove it first (cowroot image rm small-id)",
                       cowroot::Error);
  auto r = sh(cowroot_cmd() + " image path small-id --variant buildd");
  CHECK(r.status == 1);
  CHECK(r.out.find("--variant 'minbase', not 'buildd'") != std::string::npos);
  // The same options, in another order: the same image.
  CHECK(sh(cowroot_cmd() + " image path small-id --include '' --variant minbase").status == 0);
  // Without a name, options of their own are another cache entry (which
  // this test cannot build: its suite is made up).
  cowroot::ImageOptions unnamed;
  unnamed.suite = "small-id";
  unnamed.include = {"curl"};
  TempDir dd;
  REQUIRE(mkdir((dd / "scripts").c_str(), 0755) == 0);
  write_file(dd / "scripts/small-id", "");
  setenv("DEBOOTSTRAP_DIR", dd.path.c_str(), 1);
  try {
    Image::get(unnamed);
    FAIL("an image of another name was expected to be built");
  } catch (const cowroot::Error& e) {
    std::string m = e.what();
    CAPTURE(m);
    CHECK(m.rfind("cowroot: cannot build image small-id-", 0) == 0);
  }
  unsetenv("DEBOOTSTRAP_DIR");
}

TEST_CASE("keep() takes a relative path as the working directory's, and moves across file systems") {
  TempDir d;
  {
    Root root(Image::at(base()));
    {
      InDir in(d.path);
      root.keep("kept-rel");
    }
    CHECK(root.path() == d / "kept-rel");
    CHECK(root.read("/etc/motd") == "inside the root\n");
    CHECK(root.sh("cat /etc/motd").out == "inside the root\n");
  }
  CHECK(exists(d / "kept-rel/etc/motd"));
  // Another file system: a copy that keeps the fake owners, modes, links and attributes.
  std::string other = "/dev/shm";
  struct stat a, b;
  if (stat(other.c_str(), &a) < 0 || stat(d.path.c_str(), &b) < 0 || a.st_dev == b.st_dev ||
      access(other.c_str(), W_OK) < 0) {
    MESSAGE("skipped: no writable /dev/shm on another file system");
    return;
  }
  std::string dest = other + "/cowroot-keep-" + std::to_string(getpid());
  Root root(Image::at(base()));
  std::string was = root.path();
  root.makedirs("/srv");
  root.write("/srv/data", "payload\n", 0640);
  root.chown("/srv/data", 5, 6);
  REQUIRE(root.sh("ln /srv/data /srv/data2 && setfattr -n security.test -v hi /srv/data && mknod /srv/fake c 1 3")
              .ok());
  root.keep(dest);
  CHECK(root.path() == dest);
  CHECK_FALSE(exists(was));
  struct stat st = root.stat("/srv/data");
  CHECK(st.st_uid == 5);
  CHECK(st.st_gid == 6);
  CHECK((st.st_mode & 07777) == 0640);
  auto r = sh(cowroot_cmd() + " -r " + q(dest) +
              " -- sh -c 'stat -c \"%u %g %a %h\" /srv/data; getfattr --absolute-names --only-values -n security.test /srv/data; "
              "stat -c %t,%T /srv/fake; cat /srv/data2'");
  CHECK(r.out == "5 6 640 2\nhi1,3\npayload\n");
  sh("rm -rf " + q(dest) + " " + q(dest + ".cowroot"));
}

TEST_CASE("write() over an existing file keeps its owner and mode unless asked") {
  Root root(Image::at(base()));
  root.write("/etc/shadowish", "secret\n", 0640);
  root.chown("/etc/shadowish", 0, 42);
  root.write("/etc/shadowish", "changed\n");
  struct stat st = root.stat("/etc/shadowish");
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_gid == 42);
  CHECK(root.read("/etc/shadowish") == "changed\n");
  root.write("/etc/shadowish", "again\n", 0600);
  CHECK((root.stat("/etc/shadowish").st_mode & 07777) == 0600);
  // A file of the base, shared until written: its mode stays too.
  root.chmod("/etc/motd", 0604);
  root.write("/etc/motd", "mine\n");
  CHECK((root.stat("/etc/motd").st_mode & 07777) == 0604);
  root.write("/etc/brand-new", "x");
  CHECK((root.stat("/etc/brand-new").st_mode & 07777) == 0644);
}

TEST_CASE("a sealed directory gives its roots from a pool beside it; any other is cloned and removed") {
  TempDir d;
  std::string sealed = d / "sealed";
  REQUIRE(sh("cp -a " + q(base()) + " " + q(sealed) + " && " + cowroot_cmd() + " seal " + q(sealed)).status == 0);
  std::string first;
  {
    Root a(Image::at(sealed));
    first = a.path();
    CHECK(first.rfind(sealed + ".runs/run-", 0) == 0);
    a.write("/etc/motd", "changed in a\n");
    a.write("/etc/only-in-a", "a\n");
    a.chown("/etc/only-in-a", 7, 7);
  }
  CHECK_FALSE(exists(first));  // given back: ready in the pool, reset
  {
    Root b(Image::at(sealed));
    CHECK(b.path().rfind(sealed + ".runs/run-", 0) == 0);
    CHECK(b.read("/etc/motd") == "inside the root\n");
    CHECK_FALSE(b.exists("/etc/only-in-a"));
  }
  CHECK(slurp(sealed + "/etc/motd") == "inside the root\n");
  auto v = sh(cowroot_cmd() + " verify " + q(sealed) + " 2>&1");
  CHECK_MESSAGE(v.status == 0, v.out);
  // An unsealed directory: a clone beside it, removed with the Root.
  std::string plain = d / "plain";
  REQUIRE(sh("cp -a " + q(base()) + " " + q(plain)).status == 0);
  std::string clone;
  {
    Root c(Image::at(plain));
    clone = c.path();
    CHECK(clone.rfind(d.path + "/.cowroot-fixture-", 0) == 0);
  }
  CHECK_FALSE(exists(clone));
  CHECK_FALSE(exists(plain + ".runs"));
}

namespace {

// A test process that dies without giving its root back, leaving a
// program running in it (`cmd` starts it and writes its pid to /tmp/bg;
// the tests' helper program is at /usr/bin/helper): the slot's path and
// that program's pid.
std::pair<std::string, pid_t> crash_with_root(const std::function<Image()>& image, const std::string& cmd) {
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);  // (what the child leaves running must not hold it)
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(p[0]);
    try {
      Root r(image());
      std::string script = getenv("COWROOT_TEST_MKROOT");
      std::string helper = script.substr(0, script.rfind('/')) + "/helper";
      if (sh("cp " + q(helper) + " " + q(r.path() + "/usr/bin/helper")).status != 0) _exit(4);
      r.sh(cmd);
      std::string msg = r.path() + "\n" + r.read("/tmp/bg");
      if (write(p[1], msg.data(), msg.size()) < 0) _exit(3);
      _exit(0);  // no destructors: as a crash
    } catch (...) {
      _exit(2);
    }
  }
  close(p[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;) got.append(buf, n);
  close(p[0]);
  int st;
  waitpid(child, &st, 0);
  REQUIRE(WIFEXITED(st));
  REQUIRE(WEXITSTATUS(st) == 0);
  size_t nl = got.find('\n');
  REQUIRE(nl != std::string::npos);
  std::string root = got.substr(0, nl);
  return {root, (pid_t)std::stoi(got.substr(nl + 1))};
}

// The same with a root of a cached image: the slot's path (the root's
// directory).
std::pair<std::string, pid_t> crash_with_root(const std::string& image,
                                              const std::string& cmd = "sleep 30 >/dev/null 2>&1 & echo $! > /tmp/bg") {
  auto [root, bg] = crash_with_root([&] { return Image::get(small_image(image)); }, cmd);
  return {root.substr(0, root.rfind('/')), bg};
}

}  // namespace

TEST_CASE("a crashed test's slot, and what runs in it, are reclaimed by the next user of the image") {
  auto [slot, bg] = crash_with_root("small");
  CHECK(exists(slot));
  CHECK(alive(bg));
  { Root next(Image::get(small_image())); }
  CHECK_FALSE(exists(slot));
  CHECK(ends_within(bg, 2000));
}

TEST_CASE("a crashed test's root of a directory base is removed by the next root of that base, once what runs in it is stopped") {
  // What runs there may hold a port, a lock or a file the next test needs.
  TempDir d;
  REQUIRE(sh("cp -a " + q(base()) + " " + q(d / "base")).status == 0);
  auto [root, bg] = crash_with_root([&] { return Image::at(d / "base"); },
                                    "setsid sleep 30 >/dev/null 2>&1 & echo $! > /tmp/bg");
  CHECK(root.rfind(d.path + "/.cowroot-fixture-", 0) == 0);
  CHECK(exists(root));
  CHECK(alive(bg));
  { Root next(Image::at(d / "base")); }
  CHECK_FALSE(exists(root));
  CHECK_FALSE(exists(root + ".cowroot"));
  CHECK(ends_within(bg, 2000));
  if (alive(bg)) kill(bg, SIGKILL);
}

TEST_CASE("what a killed cowroot run left running in its throwaway clone is stopped by the next run of that base") {
  TempDir d;
  REQUIRE(sh("cp -a " + q(base()) + " " + q(d / "base")).status == 0);
  // A run killed outright with its process group (a CI job's timeout):
  // the launcher and its session's process get SIGKILL at once, while a
  // daemon the command started (a session of its own) runs on.
  auto r = sh("setsid -w " + cowroot_cmd() + " run --base " + q(d / "base") +
              " -- sh -c 'setsid sh -c \"echo \\$\\$ > /tmp/bg; exec sleep 30\" </dev/null >/dev/null 2>&1 & "
              "while [ ! -s /tmp/bg ]; do sleep 0.01; done; kill -KILL 0; sleep 30' >/dev/null 2>&1; echo $?");
  CHECK(r.out == "137\n");
  r = sh("cat " + q(d.path) + "/.cowroot-run-*/tmp/bg");
  REQUIRE(r.status == 0);
  pid_t bg = std::stoi(r.out);
  CHECK(alive(bg));
  r = sh(cowroot_cmd() + " run --base " + q(d / "base") + " -- sh -c :");
  CHECK(r.status == 0);
  CHECK(ends_within(bg, 2000));
  if (alive(bg)) kill(bg, SIGKILL);
  CHECK(sh("ls -a " + q(d.path)).out == ".\n..\nbase\n");
}

TEST_CASE("a crashed test's program that made itself not dumpable and wrote over its environment is stopped too") {
  // Neither its environment nor, were it not dumpable, its descriptors
  // would show it: in a session PR_SET_DUMPABLE is remembered, not
  // applied, and the daemon names the connection it still holds (the
  // daemon, forked from this test process, may itself not be dumpable).
  auto [slot, bg] = crash_with_root("small", std::string(kWaitFor) + "helper hide > /tmp/hidden 2>&1 & echo $! > /tmp/bg; "
                                                                    "wait_for '[ -s /tmp/hidden ]'");
  CHECK(alive(bg));
  CHECK(slurp(slot + "/root/tmp/hidden") == "hidden 0\n");
  { Root next(Image::get(small_image())); }
  CHECK_FALSE(exists(slot));
  CHECK(ends_within(bg, 2000));
  if (alive(bg)) kill(bg, SIGKILL);
}

TEST_CASE("cowroot image rm removes what crashed runs and failed builds left, and refuses an image in use") {
  auto [slot, bg] = crash_with_root("small-rm");
  CHECK(exists(slot));
  {
    Root busy(Image::get(small_image("small-rm")));
    auto r = sh(cowroot_cmd() + " image rm small-rm");
    CHECK(r.status == 1);
    CHECK(r.out.find("cowroot: image small-rm is in use by 1 root") == 0);
  }
  auto r = sh(cowroot_cmd() + " image rm small-rm");
  CHECK(r.status == 0);
  CHECK(r.out == "");
  CHECK_FALSE(exists(image_cache() + "/small-rm"));
  CHECK_FALSE(exists(image_cache() + "/small-rm.runs"));
  CHECK(ends_within(bg, 2000));
  // A lock a build left behind (an older cowroot's, or a killed one's).
  write_file(image_cache() + "/ghost.lock", "");
  r = sh(cowroot_cmd() + " image rm ghost");
  CHECK(r.status == 0);
  CHECK_FALSE(exists(image_cache() + "/ghost.lock"));
  CHECK(sh(cowroot_cmd() + " image rm ghost").status == 1);
  // "remove" is the same verb.
  write_file(image_cache() + "/ghost.lock", "");
  CHECK(sh(cowroot_cmd() + " image remove ghost").status == 0);
  CHECK_FALSE(exists(image_cache() + "/ghost.lock"));
}

// ---- the doctest adapter keeps the root of a failing case -------------------

namespace {

std::string kept_dir() { return std::string(getenv("TMPDIR")) + "/kept-failed-" + std::to_string(getpid()); }

}  // namespace

COWROOT_TEST_CASE_IMAGE("a failing case" * doctest::should_fail(), small_image()) {
  cowroot::set_keep_failed(kept_dir());
  root.write("/marker", "from the failing case\n");
  CHECK(root.read("/marker") == "something else");
}

COWROOT_TEST_CASE_IMAGE("a passing case", small_image()) {
  root.write("/marker", "from the passing case\n");
  CHECK(root.read("/marker") == "from the passing case\n");
}

// doctest's verdict, not a count of failed assertions: a failed WARN fails
// nothing, a FAIL_CHECK (a message) and an exception do.
COWROOT_TEST_CASE_IMAGE("a case with a failing WARN", small_image()) {
  root.write("/marker", "from the case with a failing WARN\n");
  WARN(root.read("/marker") == "something else");
}

COWROOT_TEST_CASE_IMAGE("a case failed by FAIL_CHECK" * doctest::should_fail(), small_image()) {
  root.write("/marker", "from the case failed by FAIL_CHECK\n");
  FAIL_CHECK("on purpose");
}

COWROOT_TEST_CASE_IMAGE("a case that throws" * doctest::should_fail(), small_image()) {
  root.write("/marker", "from the case that throws\n");
  throw std::runtime_error("on purpose");
}

// Kept under names of their own: a case's suite is part of its name, and
// ".." is no name for a directory.
TEST_SUITE("suite one") {
  COWROOT_TEST_CASE_IMAGE("same name" * doctest::should_fail(), small_image()) {
    root.write("/marker", "one\n");
    FAIL_CHECK("on purpose");
  }
}

TEST_SUITE("suite two") {
  COWROOT_TEST_CASE_IMAGE("same name" * doctest::should_fail(), small_image()) {
    root.write("/marker", "two\n");
    FAIL_CHECK("on purpose");
  }
}

COWROOT_TEST_CASE_IMAGE(".." * doctest::should_fail(), small_image()) {
  root.write("/marker", "dots\n");
  FAIL_CHECK("on purpose");
}

TEST_CASE("the doctest adapter kept the failing case's root, and only it") {
  cowroot::set_keep_failed("");
  CHECK(slurp(kept_dir() + "/a_failing_case/marker") == "from the failing case\n");
  CHECK_FALSE(exists(kept_dir() + "/a_passing_case"));
  CHECK_FALSE(exists(kept_dir() + "/a_case_with_a_failing_WARN"));
  CHECK(slurp(kept_dir() + "/a_case_failed_by_FAIL_CHECK/marker") == "from the case failed by FAIL_CHECK\n");
  CHECK(slurp(kept_dir() + "/a_case_that_throws/marker") == "from the case that throws\n");
  CHECK(slurp(kept_dir() + "/suite_one.same_name/marker") == "one\n");
  CHECK(slurp(kept_dir() + "/suite_two.same_name/marker") == "two\n");
  CHECK(slurp(kept_dir() + "/__/marker") == "dots\n");
  auto r = sh(cowroot_cmd() + " -r " + q(kept_dir() + "/a_failing_case") + " -- cat /marker");
  CHECK(r.out == "from the failing case\n");
  sh("rm -rf " + q(kept_dir()));
}

// A base the library cannot be served in (its loader another
// architecture's here; a musl root likewise) was taken, cloned, and
// refused at the first run under the clone's name.
TEST_CASE("Image::at of a base the library cannot be served in is refused there, by the name it was given") {
  TempDir d;
  std::string rt = d / "arm";
  REQUIRE(sh("cp -a " + q(base()) + " " + q(rt)).status == 0);
  std::string ld = sh("readlink -f " + q(rt) + "$(readlink -f /lib64/ld-linux-x86-64.so.2)").out;
  while (!ld.empty() && ld.back() == '\n') ld.pop_back();
  REQUIRE(sh("chmod u+w " + q(ld) + " && perl -0777 -pi -e " + q("substr($_, 18, 2) = \"\\xb7\\x00\"") + " " + q(ld))
              .status == 0);
  std::string what;
  try {
    Image::at(rt);
  } catch (const cowroot::Error& e) {
    what = e.what();
  }
  CHECK(what.rfind("cowroot: " + rt + ": cannot be served: its programs' ELF interpreter ", 0) == 0);
  CHECK(what.find("another architecture") != std::string::npos);
  CHECK(sh("ls -A " + q(d.path)).out == "arm\n");  // nothing cloned beside it
}
