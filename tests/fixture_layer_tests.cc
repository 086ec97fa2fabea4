// Layered images: a parent image of the cache plus a setup step (files
// copied in, a script run inside as fake root), built once, sealed, cached,
// and rebuilt only when its inputs change. From the command line (cowroot
// image build --from) and from the fixture (ImageOptions::parent). The
// parents here are the small base tests/mkroot.sh makes; a layer that
// installs packages with apt-get is in debootstrap_tests.cc.
#include <dirent.h>
#include <sys/wait.h>

#include <cstring>

#include "fixture_util.h"

using namespace fx;

namespace {

struct Out {
  int status;
  std::string out, err;
};

// `cowroot ARGS` with its output and error output apart.
Out cli(const std::string& args) {
  TempDir t;
  auto r = sh(cowroot_cmd() + " " + args + " > " + q(t / "out") + " 2> " + q(t / "err"));
  return {r.status, slurp(t / "out"), slurp(t / "err")};
}

std::string last_line(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  return t.substr(t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1);
}

std::string info_of(const std::string& image, const std::string& key) {
  std::istringstream in(slurp(image_cache() + "/" + image + "/info"));
  std::string v;
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + "=", 0) == 0) v = line.substr(key.size() + 1);  // the last one counts
  return v;
}

// A program's output in a throwaway root of `image`.
std::string in_image(const std::string& image, const std::string& script) {
  auto r = sh("COWROOT_RUN_SYNC=1 " + cowroot_cmd() + " run --image " + image + " -- sh -c " + q(script) + " 2>&1");
  return r.out;
}

// An image rebuilt as a refresh would leave it: another build id.
void rebuilt_behind(const std::string& image) {
  std::ofstream(image_cache() + "/" + image + "/info", std::ios::app) << "id=refreshed-" << time(nullptr) << rand() << "\n";
}

ino_t inode(const std::string& p) { return real_stat(p).st_ino; }

// The names in a directory that start with `prefix`.
std::vector<std::string> entries(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> v;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) v.push_back(e->d_name);
    closedir(d);
  }
  std::sort(v.begin(), v.end());
  return v;
}

// The processes whose command line holds `word` as an argument.
std::vector<pid_t> running(const std::string& word) {
  std::vector<pid_t> v;
  for (auto& p : entries("/proc", "")) {
    if (p.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = slurp("/proc/" + p + "/cmdline");
    if (cmd.find(std::string(1, '\0') + word + std::string(1, '\0')) != std::string::npos && alive(std::stoi(p)))
      v.push_back(std::stoi(p));
  }
  return v;
}

}  // namespace

TEST_CASE("cowroot image build --from: a layer of its parent made by its steps, sealed, listed with its parent") {
  small_image("lay-base");
  TempDir t;
  write_file(t / "setup.sh",
             "echo hello from the setup\n"
             "mkdir -p /opt/app\n"
             "echo built > /opt/app/stamp\n"
             "chown 5:6 /opt/app/stamp\n"
             "chmod 640 /opt/app/stamp\n"
             "ln -s /opt/app/stamp /etc/stamp-link\n"
             "echo changed > /etc/motd\n");
  REQUIRE(mkdir((t / "data").c_str(), 0755) == 0);
  REQUIRE(mkdir((t / "data/sub").c_str(), 0755) == 0);
  write_file(t / "data/run", "#!/bin/sh\necho run\n");
  REQUIRE(chmod((t / "data/run").c_str(), 0755) == 0);
  write_file(t / "data/sub/b", "b\n");
  write_file(t / "app.conf", "port=1\n");
  auto r = cli("image build lay1 --from lay-base --copy " + q(t / "data") + ":/srv/data --copy " + q(t / "app.conf") +
               ":/etc/app/ --run " + q(t / "setup.sh"));
  CAPTURE(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.find("step 3 of 3: run " + t / "setup.sh") != std::string::npos);
  CHECK(r.err.find("hello from the setup") != std::string::npos);  // its output, as it runs
  CHECK(last_line(r.err) == "cowroot: image lay1 is ready");
  auto list = cli("image list").out;
  CHECK(list.find("from lay-base") != std::string::npos);
  CHECK(list.find(image_cache() + "/lay1/root\n") != std::string::npos);
  // Inside: what the steps made, with the owners and modes they set.
  CHECK(in_image("lay1", "cat /opt/app/stamp; stat -c '%u %g %a' /opt/app/stamp; readlink /etc/stamp-link; "
                         "/srv/data/run; cat /srv/data/sub/b /etc/app/app.conf /etc/motd") ==
        "built\n5 6 640\n/opt/app/stamp\nrun\nb\nport=1\nchanged\n");
  // Sealed, and a base of its own: its sidecar holds its state and seal,
  // no clone's journal; the setup script it ran is kept.
  CHECK(cli("verify lay1").status == 0);
  CHECK(sh("ls " + q(image_cache() + "/lay1/root.cowroot")).out == "manifest\nstate\n");
  CHECK(slurp(image_cache() + "/lay1/setup/setup.sh") == slurp(t / "setup.sh"));
  // The parent's files are shared (hard links), and the parent never changed.
  CHECK(inode(image_cache() + "/lay1/root/etc/passwd") == inode(image_cache() + "/lay-base/root/etc/passwd"));
  CHECK(inode(image_cache() + "/lay1/root/etc/motd") != inode(image_cache() + "/lay-base/root/etc/motd"));
  CHECK(cli("verify lay-base").status == 0);
  CHECK(in_image("lay-base", "cat /etc/motd; test -e /opt/app || echo no-app") == "inside the root\nno-app\n");
  // Removed like any image; its parent stays.
  CHECK(cli("image rm lay1").status == 0);
  CHECK_FALSE(exists(image_cache() + "/lay1"));
  CHECK(cli("verify lay-base").status == 0);
}

TEST_CASE("a layer is built again when its inputs or its parent change, and only then") {
  small_image("lay-p2");
  TempDir t;
  write_file(t / "s.sh", "cat /srv/d/f > /etc/seen\n");
  REQUIRE(mkdir((t / "d").c_str(), 0755) == 0);
  write_file(t / "d/f", "one\n");
  std::string args = "lay2 --from lay-p2 --copy " + q(t / "d") + ":/srv/d --run " + q(t / "s.sh");
  REQUIRE(cli("image build " + args).status == 0);
  std::string id = info_of("lay2", "id");
  auto same = [&](const char* why) {
    auto r = cli("image path " + args);
    CAPTURE(why);
    CAPTURE(r.err);
    CHECK(r.status == 0);
    CHECK(r.out == image_cache() + "/lay2/root\n");
    CHECK(r.err.find("building") == std::string::npos);
    CHECK(info_of("lay2", "id") == id);
  };
  auto rebuilt = [&](const char* why) {
    auto r = cli("image path " + args);
    CAPTURE(why);
    CAPTURE(r.err);
    CHECK(r.status == 0);
    CHECK(r.err.find("building image lay2, a layer of lay-p2") != std::string::npos);
    CHECK(info_of("lay2", "id") != id);
    id = info_of("lay2", "id");
  };
  same("nothing changed");
  CHECK(cli("image build " + args).err == "");  // build too: nothing to do
  struct timespec later[2] = {{time(nullptr) + 100, 0}, {time(nullptr) + 100, 0}};
  REQUIRE(utimensat(AT_FDCWD, (t / "d/f").c_str(), later, 0) == 0);
  same("a copied file's time, not its content");
  write_file(t / "d/f", "two\n");
  rebuilt("a copied file's content");
  CHECK(in_image("lay2", "cat /etc/seen") == "two\n");
  REQUIRE(chmod((t / "d/f").c_str(), 0600) == 0);
  rebuilt("a copied file's mode");
  write_file(t / "d/new", "");
  rebuilt("a file more in a copied directory");
  write_file(t / "s.sh", "cat /srv/d/f > /etc/seen; echo again >> /etc/seen\n");
  rebuilt("the script's text");
  CHECK(in_image("lay2", "cat /etc/seen") == "two\nagain\n");
  rebuilt_behind("lay-p2");
  rebuilt("the parent built again");
  // By its name alone (image path NAME, run --image NAME), as its steps
  // were recorded: the same.
  rebuilt_behind("lay-p2");
  auto by_name = cli("image path lay2");
  CHECK(by_name.status == 0);
  CHECK(by_name.err.find("building image lay2, a layer of lay-p2") != std::string::npos);
  CHECK(info_of("lay2", "id") != id);
  id = info_of("lay2", "id");
  rebuilt_behind("lay-p2");
  CHECK(in_image("lay2", "cat /etc/seen").find("two\nagain\n") != std::string::npos);
  CHECK(info_of("lay2", "id") != id);
  id = info_of("lay2", "id");
  same("the same inputs again");
  // refresh builds it again from what it was made of: the script's text
  // as it ran (kept by the image), whatever became of the host's file.
  REQUIRE(unlink((t / "s.sh").c_str()) == 0);
  auto r = cli("image refresh lay2");
  CAPTURE(r.err);
  CHECK(r.status == 0);
  CHECK(info_of("lay2", "id") != id);
  CHECK(info_of("lay2", "script") == t / "s.sh");
  CHECK(in_image("lay2", "cat /etc/seen") == "two\nagain\n");
}

TEST_CASE("a failing step leaves no image, says which step in one line, and an existing layer stays") {
  small_image("lay-p3");
  TempDir t;
  write_file(t / "bad.sh", "echo start\ntouch /etc/half\nls /no-such-file\ntouch /etc/never\n");
  write_file(t / "f", "f\n");
  auto r = cli("image build lay3 --from lay-p3 --copy " + q(t / "f") + ":/etc/f --run " + q(t / "bad.sh"));
  CAPTURE(r.err);
  CHECK(r.status == 1);
  std::string want = "cowroot: cannot build image lay3: step 2 of 2 (run " + t / "bad.sh" +
                     ") failed with status 2: ls: ";
  CHECK(last_line(r.err).rfind(want, 0) == 0);
  CHECK(last_line(r.err).find("/no-such-file") != std::string::npos);
  CHECK(sh("printf '%s' " + q(r.err) + " | grep -c '^cowroot: cannot'").out == "1\n");
  // Nothing of it: no image, no build directory, no lock.
  CHECK(sh("ls " + q(image_cache()) + " | grep -c '^lay3'").out == "0\n");
  // A script with its own #! line: its own exit status.
  write_file(t / "seven", "#!/bin/sh\necho seven >&2\nexit 7\n");
  r = cli("image build lay3 --from lay-p3 --run " + q(t / "seven"));
  CHECK(last_line(r.err) == "cowroot: cannot build image lay3: step 1 of 1 (run " + t / "seven" +
                                ") failed with status 7: seven");
  // A good build, then a bad one over it: the good one stays.
  write_file(t / "good.sh", "echo good > /etc/state\n");
  REQUIRE(cli("image build lay3 --from lay-p3 --run " + q(t / "good.sh")).status == 0);
  std::string id = info_of("lay3", "id");
  CHECK(cli("image build lay3 --from lay-p3 --run " + q(t / "bad.sh")).status == 1);
  CHECK(info_of("lay3", "id") == id);
  CHECK(in_image("lay3", "cat /etc/state; test -e /etc/half || echo no-half") == "good\nno-half\n");
  // Bad input: one line, before anything is made.
  r = cli("image build lay4 --from lay-p3 --copy /no-such-file:/x");
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: image lay4: --copy /no-such-file:/x: /no-such-file: No such file or directory\n");
  r = cli("image build lay4 --from lay-p3 --copy " + q(t / "f") + ":relative");
  CHECK(r.err == "cowroot: image lay4: --copy " + t / "f" + ":relative: the inside path must be absolute\n");
  r = cli("image build lay4 --from no-such-image --run " + q(t / "good.sh"));
  CHECK(r.status == 1);
  CHECK(r.err.find("no image no-such-image") != std::string::npos);
  r = cli("image build lay4 --run " + q(t / "good.sh"));  // no parent
  CHECK(r.status == 2);
  CHECK(r.err == "cowroot: image build: --run and --copy make a layer: give its parent with --from "
                 "(cowroot image --help)\n");
  CHECK(cli("image build lay4 --from lay-p3 --include 'a;b'").err ==
        "cowroot: image lay4: --include: 'a;b' is not a package name\n");
  CHECK(cli("image build lay4 --from lay4").err == "cowroot: image lay4 cannot be a layer of itself\n");
  // A name an image of debootstrap holds is not quietly made a layer.
  r = cli("image build lay-p3 --from lay3 --run " + q(t / "good.sh"));
  CHECK(r.status == 1);
  CHECK(r.err.find("image lay-p3 was built by debootstrap, not as a layer of lay3") != std::string::npos);
  CHECK(sh("ls " + q(image_cache()) + " | grep -c '^lay4'").out == "0\n");
}

TEST_CASE("layers of layers: a parent built again rebuilds the chain; a root of the third is one clone of it") {
  small_image("lay-c0");
  TempDir t;
  write_file(t / "a.sh", "echo a > /etc/a\n");
  write_file(t / "b.sh", "cat /etc/a > /etc/b; echo b >> /etc/b\n");
  REQUIRE(cli("image build lay-c1 --from lay-c0 --run " + q(t / "a.sh")).status == 0);
  REQUIRE(cli("image build lay-c2 --from lay-c1 --run " + q(t / "b.sh")).status == 0);
  cowroot::ImageOptions o;
  o.name = "lay-c3";
  o.parent = "lay-c2";
  o.setup = "cat /etc/b > /etc/c; echo c >> /etc/c\n";
  {
    cowroot::Root root(cowroot::Image::get(o));
    CHECK(root.read("/etc/c") == "a\nb\nc\n");
    CHECK(root.read("/etc/motd") == "inside the root\n");
    // The root is a clone of the third layer, and of nothing else.
    std::string base = slurp(root.path() + ".cowroot/base");
    CHECK(base.substr(0, base.find('\n')) == image_cache() + "/lay-c3/root");
    CHECK(inode(root.path() + "/etc/passwd") == inode(image_cache() + "/lay-c0/root/etc/passwd"));
  }
  std::string ids = info_of("lay-c1", "id") + info_of("lay-c2", "id") + info_of("lay-c3", "id");
  // The bottom one built again: asking for the top one rebuilds all three.
  rebuilt_behind("lay-c0");
  write_file(t / "c.sh", o.setup);  // the same text as the fixture's: the same layer
  auto r = cli("image path lay-c3 --from lay-c2 --run " + q(t / "c.sh"));
  CAPTURE(r.err);
  CHECK(r.status == 0);
  CHECK(info_of("lay-c1", "id") != ids.substr(0, 32));
  CHECK(info_of("lay-c2", "id") != ids.substr(32, 32));
  CHECK(info_of("lay-c3", "id") != ids.substr(64, 32));
  CHECK(r.err.find("building image lay-c1") < r.err.find("building image lay-c2"));
  CHECK(in_image("lay-c3", "cat /etc/c") == "a\nb\nc\n");
}

TEST_CASE("ImageOptions::parent: a layer from the fixture, built once, again when its setup changes; a failing "
          "setup is an Error naming the step") {
  small_image("lay-fxp");
  TempDir t;
  write_file(t / "copied", "copied\n");
  cowroot::ImageOptions o;
  o.name = "lay-fx";
  o.parent = "lay-fxp";
  o.setup = "echo one > /etc/fx\n";
  o.copy = {{t / "copied", "/etc/copied"}};
  {
    cowroot::Root root(cowroot::Image::get(o));
    CHECK(root.read("/etc/fx") == "one\n");
    CHECK(root.read("/etc/copied") == "copied\n");
  }
  std::string id = info_of("lay-fx", "id");
  // Another test process with the same options: the same build.
  pid_t p = fork();
  REQUIRE(p >= 0);
  if (p == 0) {
    try {
      cowroot::Root root(cowroot::Image::get(o));
      _exit(root.read("/etc/fx") == "one\n" ? 0 : 1);
    } catch (...) {
      _exit(2);
    }
  }
  int st = 0;
  REQUIRE(waitpid(p, &st, 0) == p);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(info_of("lay-fx", "id") == id);
  // Another setup: built again.
  o.setup = "echo two > /etc/fx\n";
  {
    cowroot::Root root(cowroot::Image::get(o));
    CHECK(root.read("/etc/fx") == "two\n");
  }
  CHECK(info_of("lay-fx", "id") != id);
  // By its name alone (COWROOT_IMAGE, the pytest plugin's --cowroot-image):
  // the cached layer as it is, as `cowroot run --image` takes it; with an
  // option it was not built with, an Error.
  {
    cowroot::ImageOptions by_name;
    by_name.name = "lay-fx";
    cowroot::Root root(cowroot::Image::get(by_name));
    CHECK(root.read("/etc/fx") == "two\n");
    by_name.include = {"hello"};
    CHECK_THROWS_WITH_AS(cowroot::Image::get(by_name),
                         "cowroot: image lay-fx was built with other options (--include '', not 'hello'): give these "
                         "options another name, or remove it first (cowroot image rm lay-fx)",
                         cowroot::Error);
  }
  cowroot::ImageOptions bad = o;
  bad.name = "lay-fx-bad";
  bad.setup = "echo before\nfalse\necho after > /etc/after\n";
  CHECK_THROWS_WITH_AS(cowroot::Image::get(bad),
                       "cowroot: cannot build image lay-fx-bad: step 2 of 2 (run setup) failed with status 1",
                       cowroot::Error);
  CHECK_FALSE(exists(image_cache() + "/lay-fx-bad"));
  bad.name = "";
  CHECK_THROWS_WITH_AS(cowroot::Image::get(bad), "cowroot: an image with a parent (a layer of lay-fxp) needs a name",
                       cowroot::Error);
}

TEST_CASE("cowroot image build --run -: the script from standard input, named setup, the image one from a file "
          "named setup would be") {
  small_image("lay-inp");
  TempDir t;
  write_file(t / "script", "echo from stdin > /etc/in\n");
  auto r = cli("image build lay-in --from lay-inp --run - < " + q(t / "script"));
  CAPTURE(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.find("(--run setup)") != std::string::npos);
  CHECK(r.err.find("step 1 of 1: run setup\n") != std::string::npos);
  CHECK(in_image("lay-in", "cat /etc/in") == "from stdin\n");
  CHECK(slurp(image_cache() + "/lay-in/setup/setup") == "echo from stdin > /etc/in\n");
  CHECK(info_of("lay-in", "script") == "setup");
  // The same text from a file: the same image, not built again.
  std::string id = info_of("lay-in", "id");
  REQUIRE(mkdir((t / "d").c_str(), 0755) == 0);
  write_file(t / "d/setup", slurp(t / "script"));
  r = cli("image path lay-in --from lay-inp --run " + q(t / "d/setup"));
  CHECK(r.status == 0);
  CHECK(r.err == "");
  CHECK(info_of("lay-in", "id") == id);
  // Refreshed, from the text it keeps.
  CHECK(cli("image refresh lay-in").status == 0);
  CHECK(info_of("lay-in", "id") != id);
  CHECK(in_image("lay-in", "cat /etc/in") == "from stdin\n");
}

TEST_CASE("ImageOptions::parent: a test process killed during the build stops the build, which leaves nothing") {
  small_image("lay-killp");
  std::string tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  auto setups = entries(tmp, "cowroot-setup-");
  cowroot::ImageOptions o;
  o.name = "lay-killed";
  o.parent = "lay-killp";
  o.setup = "sleep 97.25\n";
  pid_t p = fork();
  REQUIRE(p >= 0);
  if (p == 0) {
    signal(SIGTERM, SIG_DFL);  // a test binary as it is killed (not doctest's handler)
    try {
      cowroot::Image::get(o);
    } catch (...) {
    }
    _exit(0);
  }
  bool started = eventually([] { return !running("97.25").empty(); }, 20000);
  kill(p, SIGTERM);  // the test process alone
  int st = 0;
  REQUIRE(waitpid(p, &st, 0) == p);
  REQUIRE(started);
  CHECK(WIFSIGNALED(st));
  CHECK(eventually([] { return running("97.25").empty(); }, 10000));
  CHECK(eventually([] { return entries(image_cache(), "lay-killed").empty(); }, 10000));
  CHECK(entries(tmp, "cowroot-setup-") == setups);
  for (pid_t left : running("97.25")) kill(left, SIGKILL);
}

namespace {

// `cowroot ARGS` in the background: its output, error output and status
// (once it ended) in DIR/out.K, DIR/err.K, DIR/rc.K.
void in_background(const std::string& dir, const std::string& k, const std::string& args) {
  std::string cmd = "(COWROOT_RUN_SYNC=1 " + cowroot_cmd() + " " + args + " > " + q(dir + "/out." + k) + " 2> " +
                    q(dir + "/err." + k) + "; echo $? > " + q(dir + "/rc." + k) + ".tmp; mv " + q(dir + "/rc." + k) +
                    ".tmp " + q(dir + "/rc." + k) + ") &";
  REQUIRE(system(cmd.c_str()) == 0);
}

// Ends the `sleep WORD || true` a layer's setup script waits in.
void wake(const std::string& word) {
  for (pid_t p : running(word)) kill(p, SIGTERM);
}

}  // namespace

// docs/parallel.md: "the first process to need it takes the image's lock
// and builds it, the others wait for it". They said there was no such
// image and that debootstrap knew no suite of its name.
TEST_CASE("an image's first build under way: run, path, clone, verify and export wait for it; list shows it building") {
  small_image("lay-wp");
  TempDir t;
  write_file(t / "slow.sh", "sleep 96.5 || true\necho slow > /etc/slow\n");
  in_background(t.path, "build", "image build lay-wait --from lay-wp --run " + q(t / "slow.sh"));
  REQUIRE(eventually([] { return !running("96.5").empty(); }, 20000));
  CHECK(cli("image list").out.find("lay-wait" + std::string(13, ' ') + "building\n") != std::string::npos);
  std::vector<std::string> cmds = {"run --image lay-wait -- cat /etc/slow", "image path lay-wait",
                                   "clone lay-wait " + q(t / "c"), "verify lay-wait",
                                   "image export lay-wait " + q(t / "e.tar")};
  for (size_t i = 0; i < cmds.size(); i++) in_background(t.path, std::to_string(i), cmds[i]);
  // Each one says it waits, and waits.
  for (size_t i = 0; i < cmds.size(); i++) {
    CAPTURE(cmds[i]);
    std::string err = t / ("err." + std::to_string(i));
    CHECK(eventually([&] { return slurp(err).find("waiting for another build of image lay-wait") != std::string::npos; },
                     20000));
  }
  CHECK(entries(t.path, "rc.").empty());
  wake("96.5");
  CHECK(eventually(
      [&] {
        for (size_t i = 0; i < cmds.size(); i++)
          if (!exists(t / ("rc." + std::to_string(i)))) return false;
        return exists(t / "rc.build");
      },
      60000));
  CHECK(slurp(t / "rc.build") == "0\n");
  for (size_t i = 0; i < cmds.size(); i++) {
    std::string k = std::to_string(i);
    CAPTURE(cmds[i]);
    CAPTURE(slurp(t / ("err." + k)));
    CHECK(slurp(t / ("rc." + k)) == "0\n");
  }
  CHECK(slurp(t / "out.0") == "slow\n");
  CHECK(slurp(t / "out.1") == image_cache() + "/lay-wait/root\n");
  CHECK(exists(t / "c/etc/slow"));
  CHECK(exists(t / "e.tar"));
  CHECK(cli("image list").out.find("building") == std::string::npos);
  // A first build that fails: the waiters say so, in one line.
  write_file(t / "fail.sh", "sleep 96.25 || true\nexit 3\n");
  in_background(t.path, "build2", "image build lay-wait2 --from lay-wp --run " + q(t / "fail.sh"));
  REQUIRE(eventually([] { return !running("96.25").empty(); }, 20000));
  in_background(t.path, "w", "run --image lay-wait2 -- true");
  CHECK(eventually([&] { return slurp(t / "err.w").find("waiting for another build") != std::string::npos; }, 20000));
  wake("96.25");
  CHECK(eventually([&] { return exists(t / "rc.w") && exists(t / "rc.build2"); }, 60000));
  CHECK(slurp(t / "rc.w") == "1\n");
  CHECK(slurp(t / "err.w") == "cowroot: waiting for another build of image lay-wait2\ncowroot: no image lay-wait2: the "
                              "build of it this one waited for failed or was stopped (its own output says why)\n");
}

// A parent removed under its layers made `image refresh LAYER` say "no
// image PARENT, and debootstrap knows no suite PARENT to build it from".
TEST_CASE("image rm refuses the parent of layers, and of a layer being built; a layer whose parent is gone names it") {
  small_image("lay-rp");
  TempDir t;
  write_file(t / "s.sh", "echo one > /etc/one\n");
  REQUIRE(cli("image build lay-rc --from lay-rp --run " + q(t / "s.sh")).status == 0);
  auto r = cli("image rm lay-rp");
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: image lay-rp is the parent of layer lay-rc: remove it first (cowroot image rm lay-rc)\n");
  CHECK(exists(image_cache() + "/lay-rp/root"));
  REQUIRE(cli("image build lay-rc2 --from lay-rp --run " + q(t / "s.sh")).status == 0);
  r = cli("image rm lay-rp");
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: image lay-rp is the parent of layers lay-rc, lay-rc2: remove them first (cowroot image rm, "
                 "each)\n");
  REQUIRE(cli("image rm lay-rc2").status == 0);
  REQUIRE(cli("image rm lay-rc").status == 0);
  // During a layer's build from it.
  write_file(t / "slow.sh", "sleep 95.75 || true\n");
  in_background(t.path, "build", "image build lay-rc3 --from lay-rp --run " + q(t / "slow.sh"));
  REQUIRE(eventually([] { return !running("95.75").empty(); }, 20000));
  r = cli("image rm lay-rp");
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: image lay-rp is the parent of layer lay-rc3, which is being built from it: remove it when "
                 "that build is done\n");
  wake("95.75");
  CHECK(eventually([&] { return exists(t / "rc.build"); }, 60000));
  CHECK(slurp(t / "rc.build") == "0\n");
  CHECK(cli("verify lay-rp").status == 0);
  // A parent gone all the same (moved away by hand): the layer's runs go
  // on, and its refresh names the parent.
  REQUIRE(rename((image_cache() + "/lay-rp").c_str(), (image_cache() + "/.gone-lay-rp").c_str()) == 0);
  CHECK(in_image("lay-rc3", "echo ok") == "ok\n");
  r = cli("image refresh lay-rc3");
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: image lay-rc3 is a layer of lay-rp, which is no longer in the cache: build lay-rp again "
                 "first (or import it)\n");
  r = cli("image build lay-rc4 --from lay-rp --run " + q(t / "s.sh"));
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: no image lay-rp to build layer lay-rc4 from (cowroot image list shows the images)\n");
  REQUIRE(rename((image_cache() + "/.gone-lay-rp").c_str(), (image_cache() + "/lay-rp").c_str()) == 0);
  REQUIRE(cli("image rm lay-rc3").status == 0);
  CHECK(cli("image rm lay-rp").status == 0);
}
