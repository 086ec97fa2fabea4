// Load and faults, each bounded in count and time: a storm of 1000
// processes in one session and 64 threads forking and execing; writers
// killed with -9 hundreds of times in the middle of their writes (a checker
// walks the table after), a clone's session processes killed at random (it
// still resets to its base exactly); a full file system during the table's
// growth and during a -s save; 8 processes taking and giving back roots of
// one pool while they are killed at random (no dirty root handed out).
//
// The test program is also its own helper: `load_tests --writer DIR W N`
// and `load_tests --thread-storm DIR N` (see main below).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "../cli/clone/clone.h"
#include "../preload/core/state.h"
#include "common.h"
#include "drop_root.h"

using namespace test;
using cr::Key;
using cr::Meta;

namespace {

std::string g_self;  // this program, for the helper modes
constexpr int kKeys = 2000;  // entries per writer (see --writer)

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A listing of a tree that says everything reset must restore: type, mode,
// size, content (hashed), link target; and whether a file is the base's own
// inode (`shared` against `base`, for a clone).
std::string listing(const std::string& top, const std::string& base = "") {
  auto r = sh("cd " + q(top) + " && find . -path ./proc -prune -o -printf '%y|%m|%s|%l|%i|%p\\n' | sort -t'|' -k6");
  std::string out;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream g(line);
    for (std::string part; std::getline(g, part, '|');) f.push_back(part);
    if (f.size() != 6) {
      out += "? " + line + "\n";
      continue;
    }
    // (A directory's size is the file system's bookkeeping: one that held
    // many entries stays large when they are gone.)
    std::string what = f[5] + " " + f[0] + " " + f[1] + (f[0] == "d" ? "" : " " + f[2]) + (f[3].empty() ? "" : " -> " + f[3]);
    if (f[0] == "f") {
      what += " " + std::to_string(std::hash<std::string>()(slurp(top + "/" + f[5])));
      if (!base.empty()) {
        struct stat bs;
        what += lstat((base + "/" + f[5]).c_str(), &bs) == 0 && std::to_string(bs.st_ino) == f[4] ? " shared" : " own";
      }
    }
    out += what + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("a storm of 1000 processes in one session: no deadlock, every acknowledged change there after") {
  TempDir d;
  auto t0 = std::chrono::steady_clock::now();
  // 1000 subshells at once, each starting programs (touch, chown, stat);
  // each says "ok N" only after its chown returned.
  auto r = sh("cd " + q(d.path) + " && timeout 300 " + cowroot() + " -s S -- sh -c " +
              q("i=0; while [ $i -lt 1000 ]; do i=$((i+1)); "
                "( touch f$i && chown $i:$((i % 7)) f$i && [ \"$(stat -c %u f$i)\" = $i ] && echo ok $i ) & done; wait") +
              " > out 2>&1; echo rc=$?");
  double took = seconds_since(t0);
  CHECK(r.out == "rc=0\n");
  std::string out = slurp(d / "out");
  int oks = 0;
  for (size_t at = 0; (at = out.find("ok ", at)) != std::string::npos; at += 3) oks++;
  CHECK_MESSAGE(oks == 1000, out.substr(0, 2000));
  // Every change is in the save file, and a new session sees it.
  auto back = sh("cd " + q(d.path) + " && " + cowroot() + " -i S -- sh -c " +
                 q("bad=0; i=0; while [ $i -lt 1000 ]; do i=$((i+1)); "
                   "[ \"$(stat -c %u:%g f$i)\" = $i:$((i % 7)) ] || bad=$((bad+1)); done; echo bad=$bad"));
  CHECK(back.out == "bad=0\n");
  MESSAGE("1000 processes: " << took << " s");
  CHECK(took < 300);
}

TEST_CASE("64 threads each forking and execing in one session: no deadlock, nothing lost") {
  TempDir d;
  auto t0 = std::chrono::steady_clock::now();
  auto r = sh("cd " + q(d.path) + " && timeout 120 " + cowroot() + " -- " + q(g_self) + " --thread-storm . 64 2>&1");
  CHECK(r.status == 0);
  CHECK(r.out == "64 threads, 128 fork+exec: all done\n");
  auto back = sh("cd " + q(d.path) + " && " + cowroot() + " -- true");  // the session is over, cleanly
  CHECK(back.status == 0);
  MESSAGE("64 threads: " << seconds_since(t0) << " s");
}

TEST_CASE("writers killed with -9 in the middle of their writes, up to 300 times: the table stays whole, nothing acknowledged is lost") {
  TempDir d;
  {
    cr::State s;
    REQUIRE(s.open(d.path.c_str(), true) == 0);
  }
  std::mt19937 rng(13);
  std::map<int, int> acked;  // writer -> highest index acknowledged
  int kills = 0;
  auto t0 = std::chrono::steady_clock::now();
  // (At most 40 s: a round now waits for the writers' starts, 0.1 s under
  // ASan on a slow machine.)
  for (int round = 0; round < 300 && seconds_since(t0) < 40; round++) {
    // Three writers at once on one table (so that one dies holding the
    // lock, mid-growth, mid-attribute), each from where it was.
    std::vector<std::pair<pid_t, int>> kids;
    for (int w = 0; w < 3; w++) {
      int id = round % 20 * 3 + w;
      int p[2];
      REQUIRE(pipe(p) == 0);
      pid_t pid = fork();
      REQUIRE(pid >= 0);
      if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        std::string from = std::to_string(acked.count(id) ? acked[id] + 1 : 0);
        execl(g_self.c_str(), g_self.c_str(), "--writer", d.path.c_str(), std::to_string(id).c_str(), from.c_str(),
              (char*)nullptr);
        _exit(127);
      }
      close(p[1]);
      kids.push_back({pid, p[0]});
      (void)id;
    }
    // Killed while writing: each has acknowledged a write first (a writer's
    // start, ASan's runtime on a slow machine, can take longer than the
    // random delay: it was then killed before it wrote at all).
    for (auto& [pid, fd] : kids) {
      pollfd pf{fd, POLLIN, 0};
      poll(&pf, 1, 10000);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 4000));
    for (auto& [pid, fd] : kids) {
      kill(pid, SIGKILL);
      kills++;
    }
    for (size_t w = 0; w < kids.size(); w++) {
      auto [pid, fd] = kids[w];
      waitpid(pid, nullptr, 0);
      std::string got;
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) got.append(buf, n);
      close(fd);
      // Each line "i" after update() returned; the last may be cut short.
      int id = round % 20 * 3 + (int)w;
      std::istringstream in(got);
      std::string line;
      while (std::getline(in, line))
        if (!in.eof() && !line.empty()) acked[id] = std::max(acked.count(id) ? acked[id] : -1, atoi(line.c_str()));
    }
  }
  cr::State s;
  REQUIRE(s.open(d.path.c_str(), false) == 0);
  char err[512] = "";
  CHECK_MESSAGE(s.verify(err, sizeof err) == 0, err);
  // Each key holds its last acknowledged write, or the one write after it
  // that was in flight when the writer died.
  long lost = 0, total = 0;
  for (auto& [id, top] : acked) {
    total += top + 1;
    for (int k = 0; k < kKeys && k <= top; k++) {
      int last = top - ((top - k) % kKeys + kKeys) % kKeys;  // the largest i <= top with i % kKeys == k
      Meta m;
      if (!s.lookup(Key{(uint64_t)id + 1, (uint64_t)k + 1}, &m) || m.gid != (uint32_t)id ||
          (int)m.uid % kKeys != k || (int)m.uid < last || (int)m.uid > top + kKeys)
        lost++;
    }
  }
  CHECK(lost == 0);
  CHECK(total > 10000);
  MESSAGE(kills << " kills, " << total << " acknowledged writes, " << s.count() << " entries, "
                << seconds_since(t0) << " s");
}

TEST_CASE("a clone's session processes killed at random, 150 times: its table stays whole and it resets to its base exactly") {
  TempDir d;
  const char* mkroot = getenv("COWROOT_TEST_MKROOT");
  REQUIRE(mkroot);
  std::string base = d / "base", c = d / "c";
  REQUIRE(sh("sh " + q(mkroot) + " " + q(base) + " 2>&1").status == 0);
  REQUIRE(mkdir((base + "/data").c_str(), 0755) == 0);
  for (int i = 0; i < 20; i++) write_file(base + "/data/f" + std::to_string(i), "base " + std::to_string(i) + "\n");
  REQUIRE(sh(cowroot() + " clone " + q(base) + " " + q(c) + " 2>/dev/null").status == 0);
  std::string before = listing(c, base);
  std::string base_before = listing(base);
  // Each round: a session that chowns, breaks links, makes files (the
  // table grows), removes some; one of its processes is killed at a
  // random moment, then the rest.
  std::string work =
      "i=0; while [ $i -lt 40 ]; do i=$((i+1)); n=$(( (i * 7 + $$) % 20 )); "
      "chown $i /data/f$n; echo x >> /data/f$n; touch /data/new$$.$i; chown $i:$i /data/new$$.$i; "
      "mkdir -p /data/d$n && touch /data/d$n/g; rm -f /data/f$(( (n + 3) % 20 )); done";
  std::mt19937 rng(7);
  int kills = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int round = 0; round < 150 && seconds_since(t0) < 150; round++) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      setpgid(0, 0);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 1);
      dup2(null, 2);
      execl(cowroot().c_str(), "cowroot", "-r", c.c_str(), "--", "sh", "-c", work.c_str(), (char*)nullptr);
      _exit(127);
    }
    setpgid(pid, pid);
    if (round == 0) {
      // The first session runs to its end: whatever the machine's speed
      // (a session's start takes longer than the kills below leave it under
      // ASan on a slow one), the clone has been changed before the reset.
      for (int i = 0; i < 1200 && waitpid(pid, nullptr, WNOHANG) == 0; i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      kill(-pid, SIGKILL);
      waitpid(pid, nullptr, WNOHANG);
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 60));
    // A random process of the session: the launcher, the shell or a program.
    auto ps = sh("pgrep -g " + std::to_string(pid));
    std::vector<pid_t> members;
    std::istringstream in(ps.out);
    for (pid_t p; in >> p;) members.push_back(p);
    if (!members.empty()) {
      kill(members[rng() % members.size()], SIGKILL);
      kills++;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 30));
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  double took = seconds_since(t0);
  // The daemon leaves when the last connection is gone, or 10 s after its
  // start when none came (a session killed before its first program did).
  for (int i = 0; i < 600 && exists(c + ".cowroot/state/sock"); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  {
    cr::State s;
    REQUIRE(s.open((c + ".cowroot/state").c_str(), false) == 0);
    char err[512] = "";
    CHECK_MESSAGE(s.verify(err, sizeof err) == 0, err);
    s.close();
  }
  CHECK(listing(c, base) != before);  // the sessions did change it
  auto r = sh(cowroot() + " reset " + q(c) + " 2>&1");
  CHECK_MESSAGE(r.status == 0, r.out);
  std::string after = listing(c, base);
  CHECK(after == before);
  if (after != before) {
    write_file(d / "before", before);
    write_file(d / "after", after);
    MESSAGE(sh("diff " + q(d / "before") + " " + q(d / "after") + " | head -20").out);
  }
  CHECK(listing(base) == base_before);
  // And its fake state is the clean one: nothing chowned is left.
  auto st = sh(cowroot() + " -r " + q(c) + " -- stat -c %u /data/f1 /data/f2");
  CHECK(st.out == "0\n0\n");
  MESSAGE(kills << " kills in " << took << " s");
}


TEST_CASE("a full file system during the table's growth: ENOSPC, every entry before it kept, the table whole") {
  std::string fs = small_fs();
  if (fs.empty()) return;
  std::string dir = fs + "/grow." + std::to_string(getpid());
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  cr::State s;
  REQUIRE(s.open(dir.c_str(), true) == 0);
  fill_fs(fs, fs + "/filler", 96 << 10);  // room for one more table of 1024 slots, not for 2048
  uint64_t i = 0;
  int r = 0;
  Meta v;
  for (; i < 100000 && r == 0; i++) {
    v.uid = (uint32_t)i;
    Meta base;
    base.mode = S_IFREG | 0644;
    r = s.update(Key{1, i + 1}, base, cr::kSetUid, v);
  }
  CHECK(r == -ENOSPC);
  uint64_t done = i - 1;
  CHECK(done >= 768);
  int lost = 0;
  for (uint64_t j = 0; j < done; j++) {
    Meta m;
    if (!s.lookup(Key{1, j + 1}, &m) || m.uid != (uint32_t)j) lost++;
  }
  CHECK(lost == 0);
  char err[512] = "";
  CHECK_MESSAGE(s.verify(err, sizeof err) == 0, err);
  CHECK(sh("ls " + q(dir)).out == "table\nxattr\n");  // no half-made table left
  // With room again, it grows.
  unlink((fs + "/filler").c_str());
  v.uid = 7;
  Meta base;
  base.mode = S_IFREG | 0644;
  CHECK(s.update(Key{1, done + 1}, base, cr::kSetUid, v) == 0);
  s.close();
  sh("rm -rf " + q(dir));
  // Through a session: chown says ENOSPC, in the program's own words.
  std::string st = fs + "/st." + std::to_string(getpid()), work = fs + "/w." + std::to_string(getpid());
  REQUIRE(mkdir(st.c_str(), 0700) == 0);
  REQUIRE(mkdir(work.c_str(), 0700) == 0);
  std::string env = "LD_PRELOAD=" + q(prefix() + "/lib/libcowroot.so") + " COWROOT_STATE=" + q(st) + " ";
  REQUIRE(sh("cd " + q(work) + " && i=0; while [ $i -lt 1200 ]; do i=$((i+1)); : > f$i; done").status == 0);
  REQUIRE(sh("cd " + q(work) + " && " + env + "/bin/true").status == 0);  // a program: the shell's true is a builtin
  fill_fs(fs, fs + "/filler", 96 << 10);
  auto c = sh("cd " + q(work) + " && " + env + "sh -c 'i=0; while [ $i -lt 1200 ]; do i=$((i+1)); chown $i f$i || { echo failed at $i; exit 1; }; done' 2>&1");
  CHECK(c.out.find("No space left on device") != std::string::npos);
  CHECK(c.out.find("failed at") != std::string::npos);
  unlink((fs + "/filler").c_str());
  auto ok = sh("cd " + q(work) + " && " + env + "stat -c %u f1 f700");
  CHECK(ok.out == "1\n700\n");
  // The daemon holds the table mapped until it leaves: then the space is free.
  for (int i = 0; i < 200 && exists(st + "/sock"); i++) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  sh("rm -rf " + q(st) + " " + q(work));
}

TEST_CASE("a full file system during -s: one line naming the file, the previous save whole, nothing half-written") {
  std::string fs = small_fs();
  if (fs.empty()) return;
  TempDir d;
  std::string save = fs + "/S." + std::to_string(getpid());
  auto first = in_session(d, "touch a && chown 3 a", "-s " + q(save));
  REQUIRE(first.status == 0);
  std::string before = slurp(save);
  REQUIRE(before.find("uid=3") != std::string::npos);
  fill_fs(fs, fs + "/filler", 0);
  // Many entries: the save does not fit in what is left (nothing).
  auto r = in_session(d, "i=0; while [ $i -lt 300 ]; do i=$((i+1)); touch b$i; chown $i b$i; done", "-s " + q(save));
  unlink((fs + "/filler").c_str());
  CHECK(r.status != 0);
  CHECK(r.out.find("cannot write state file " + save) != std::string::npos);
  CHECK(r.out.find("No space left on device") != std::string::npos);
  CHECK(slurp(save) == before);
  CHECK_FALSE(exists(save + ".tmp.cowroot"));
  unlink(save.c_str());
}

TEST_CASE("8 processes share one pool of roots while killed at random: no dirty root is ever handed out") {
  TempDir d;
  std::string base = d / "base", runs = d / "runs";
  REQUIRE(mkdir(base.c_str(), 0755) == 0);
  REQUIRE(mkdir((base + "/etc").c_str(), 0755) == 0);
  for (int i = 0; i < 50; i++) write_file(base + "/etc/f" + std::to_string(i), "base\n");
  std::string clean = listing(base);
  // A user of the pool: takes a root, checks it is the base's, dirties it
  // (behind the library's back: only a re-clone undoes that) every other
  // time, gives it back; says "dirty" for a root handed out unclean.
  int p[2];
  REQUIRE(pipe(p) == 0);
  auto user = [&](int who) {
    close(p[0]);
    for (int round = 0;; round++) {
      std::string id = std::to_string(getpid()) + "-" + std::to_string(round);
      char slot[4096], root[4096], err[1024];
      if (cr::pool_take(base.c_str(), runs.c_str(), id.c_str(), slot, root, sizeof slot, err, sizeof err) < 0) {
        std::string e = std::string("error ") + err + "\n";
        (void)!write(p[1], e.data(), e.size());
        continue;
      }
      std::string rt = root;
      bool ok = listing(rt) == clean;
      (void)!write(p[1], ok ? "clean\n" : "dirty\n", 6);
      // (A new file: writing to a file of the root from here, without the
      // library, would write to the base's own inode.)
      if (round % 2 == 0) write_file(rt + "/etc/dirty" + std::to_string(who), "dirty\n");
      cr::pool_give_back(runs.c_str(), slot, id.c_str(), 3, err, sizeof err);
    }
  };
  std::vector<pid_t> users(8);
  auto start = [&](int i) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      user(i);
      _exit(0);
    }
    users[i] = pid;
  };
  for (int i = 0; i < 8; i++) start(i);
  std::mt19937 rng(3);
  int kills = 0;
  auto t0 = std::chrono::steady_clock::now();
  while (seconds_since(t0) < 20 && kills < 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 100));
    int i = rng() % 8;
    kill(users[i], SIGKILL);
    waitpid(users[i], nullptr, 0);
    kills++;
    start(i);
  }
  for (pid_t u : users) kill(u, SIGKILL);
  for (pid_t u : users) waitpid(u, nullptr, 0);
  close(p[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) out.append(buf, n);
  close(p[0]);
  int clean_n = 0, dirty_n = 0, errors = 0;
  std::istringstream in(out);
  std::string line, first_error;
  while (std::getline(in, line)) {
    if (line == "clean") clean_n++;
    else if (line == "dirty") dirty_n++;
    else if (line.rfind("error", 0) == 0 && errors++ == 0) first_error = line;
  }
  CHECK(dirty_n == 0);
  CHECK_MESSAGE(errors == 0, first_error);
  CHECK(clean_n > 50);
  CHECK(listing(base) == clean);
  MESSAGE(kills << " kills, " << clean_n << " roots handed out, all clean");
}

namespace {

// --writer DIR W FROM: writes i = FROM, FROM+1, ... for ever: entry
// (W+1, i % kKeys + 1) gets uid i, gid W (the table grows while the keys
// are new, then entries are rewritten), an attribute every 64th; prints
// "i" after each update returned (so whatever it printed was acknowledged).
int writer(const char* dir, int w, int from) {
  cr::State s;
  if (s.open(dir, false) != 0) return 2;
  char line[32];
  for (int i = from;; i++) {
    Meta base;
    base.mode = S_IFREG | 0644;
    Meta v;
    v.uid = (uint32_t)i;
    v.gid = (uint32_t)w;
    Key k{(uint64_t)w + 1, (uint64_t)(i % kKeys) + 1};
    if (s.update(k, base, cr::kSetUid | cr::kSetGid, v) != 0) return 3;
    if (i % 64 == 0 && s.xattr_set(k, base, "user.n", "v", 1, 0) != 0) return 4;
    int n = snprintf(line, sizeof line, "%d\n", i);
    if (write(1, line, n) != n) return 5;
  }
}

// --thread-storm DIR N: N threads, each forking and execing 4 programs
// (chown then stat of its own file, through sh); "all done" when every
// one saw its own change.
int thread_storm(const char* dir, int n) {
  alarm(110);
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < n; t++)
    ts.emplace_back([&, t] {
      for (int k = 0; k < 2; k++) {
        std::string f = std::string(dir) + "/t" + std::to_string(t) + "." + std::to_string(k);
        std::string script = ": > " + f + " && chown " + std::to_string(t + 1) + " " + f + " && test \"$(stat -c %u " +
                             f + ")\" = " + std::to_string(t + 1);
        pid_t pid = fork();
        if (pid == 0) {
          execl("/bin/sh", "sh", "-c", script.c_str(), (char*)nullptr);
          _exit(127);
        }
        int st = 0;
        if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
      }
    });
  for (auto& t : ts) t.join();
  if (ok != n * 2) {
    printf("%d threads: %d of %d forks did their part\n", n, ok.load(), n * 2);
    return 1;
  }
  printf("%d threads, %d fork+exec: all done\n", n, n * 2);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  char self[4096];
  ssize_t l = readlink("/proc/self/exe", self, sizeof self - 1);
  if (l > 0) self[l] = 0, g_self = self;
  if (argc == 5 && !strcmp(argv[1], "--writer")) return writer(argv[2], atoi(argv[3]), atoi(argv[4]));
  if (argc == 4 && !strcmp(argv[1], "--thread-storm")) return thread_storm(argv[2], atoi(argv[3]));
  if (!test::drop_root()) return 2;
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
