// A session outlives its daemon: `kill -9` of cowroot-faked loses nothing
// acknowledged. Whoever survives finishes the daemon's duties: the -s save
// from the shared table, the command's status, a new daemon for the next
// program that needs one, no directory left behind. Runs as a non-root
// uid (tests/main.cc drops root).
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "../preload/core/proto.h"
#include "common.h"

using namespace test;

namespace {

// A shell function that kills the daemon of the state directory $1, by its
// command line ("cowroot-faked --state DIR ..."); it fails (and so does the
// script) when there was none to kill. Never a pattern that could match
// another session's daemon.
const std::string kKillDaemon =
    "kd() { case \"$1\" in /?*) pkill -9 -f \"cowroot-faked --state $1( |\\$)\" ;; *) return 9 ;; esac; }; ";

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string first_line(const std::string& p) {
  std::string s;
  std::ifstream in(p);
  std::getline(in, s);
  return s;
}

bool daemon_of(const std::string& dir) {
  return sh("pgrep -f " + q("cowroot-faked --state " + dir + "( |$)") + " >/dev/null").status == 0;
}

// The pid the daemon of dir answers a ping with, or 0.
uint64_t daemon_pid(const std::string& dir) {
  int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", dir.c_str());
  uint64_t pid = 0;
  if (connect(s, (sockaddr*)&sa, sizeof sa) == 0) {
    cr::proto::Msg m{cr::proto::kMagic, cr::proto::kPing, 0, 0, 0};
    char buf[256];
    if (send(s, &m, sizeof m, 0) == (ssize_t)sizeof m && recv(s, buf, sizeof buf, 0) == (ssize_t)sizeof m) {
      memcpy(&m, buf, sizeof m);
      if (m.op == cr::proto::kOk) pid = m.value;
    }
  }
  close(s);
  return pid;
}

// The entry of the save file `text` for the file at `path`: "uid=N,gid=M".
std::string saved_owner(const std::string& text, const std::string& path) {
  struct stat st = real_stat(path);
  std::string key = ",ino=" + std::to_string(st.st_ino) + ",";
  size_t at = text.find(key);
  if (at == std::string::npos) return "";
  size_t u = text.find("uid=", at), e = text.find(",nlink", at);
  return text.substr(u, e - u);
}

// A small root of the host's programs (tests/mkroot.sh) at `dir`.
void small_base(const std::string& dir) {
  const char* mkroot = getenv("COWROOT_TEST_MKROOT");
  REQUIRE(mkroot);
  auto made = sh("sh " + q(mkroot) + " " + q(dir) + " 2>&1");
  REQUIRE_MESSAGE(made.status == 0, made.out);
}

}  // namespace

TEST_CASE("kill -9 of the daemon: the -s file holds every acknowledged change, the status is the command's") {
  TempDir d;
  // A program runs after the kill: it starts a daemon again, which the
  // launcher hands the save file to at the end.
  auto r = in_session(d,
                      kKillDaemon + "d=$(printenv COWROOT_STATE); echo \"$d\" > sd; touch k && chown 88:88 k && "
                      "kd \"$d\" || exit 98; sleep 0.2; chown 89 k; stat -c %u k; exit 5",
                      "-s " + q(d / "S"));
  CHECK(r.status == 5);
  CHECK(r.out == "89\n");  // no word about the daemon
  REQUIRE(exists(d / "S"));
  CHECK(saved_owner(slurp(d / "S"), d / "k") == "uid=89,gid=88");
  std::string dir = first_line(d / "sd");
  REQUIRE(!dir.empty());
  CHECK(eventually([&] { return !exists(dir); }));
  CHECK_FALSE(daemon_of(dir));
  // What was saved loads back.
  auto back = in_session(d, "stat -c '%u %g' k", "-i " + q(d / "S"));
  CHECK(back.out == "89 88\n");
}

// A save that cannot be made is said once, by the launcher (the daemon,
// told to end, had said it too); a directory where the file would go is
// refused before the command runs, as a missing directory is.
TEST_CASE("-s: a directory in the file's place is refused before the command runs; a failed save is one line") {
  TempDir d;
  mkdir((d / "adir").c_str(), 0755);
  auto r = in_session(d, "touch ran", "-s " + q(d / "adir"));
  CHECK(r.status != 0);
  CHECK(r.out == "cowroot: cannot save state to " + (d / "adir") + ": Is a directory\n");
  CHECK_FALSE(exists(d / "ran"));
  mkdir((d / "sub").c_str(), 0755);
  r = in_session(d, "touch f && chown 7 f && rmdir sub && touch sub", "-s " + q(d / "sub/S"));
  CHECK(r.status != 0);
  CHECK_MESSAGE(r.out == "cowroot: cannot write state file " + (d / "sub/S.tmp.cowroot") + ": Not a directory\n", r.out);
}

TEST_CASE("kill -9 of the daemon with nothing run after it: the launcher saves and cleans up itself") {
  TempDir d;
  // Only shell builtins after the kill: no program starts a daemon again.
  auto r = in_session(d,
                      kKillDaemon + "d=$(printenv COWROOT_STATE); echo \"$d\" > sd; touch k && chown 77:78 k && "
                      "kd \"$d\" || exit 98; exit 0",
                      "-s " + q(d / "S"));
  CHECK(r.status == 0);
  CHECK(r.out == "");
  REQUIRE(exists(d / "S"));
  CHECK(saved_owner(slurp(d / "S"), d / "k") == "uid=77,gid=78");
  std::string dir = first_line(d / "sd");
  REQUIRE(!dir.empty());
  CHECK_FALSE(exists(dir));  // gone when cowroot returns
  CHECK_FALSE(daemon_of(dir));
  // A failing command keeps its status too.
  auto f = in_session(d, kKillDaemon + "kd \"$(printenv COWROOT_STATE)\" || exit 98; exit 7", "-s " + q(d / "S"));
  CHECK(f.status == 7);
  CHECK(f.out == "");
}

TEST_CASE("kill -9 of the daemon: a background process that outlives the command still reaches the save file") {
  TempDir d;
  auto r = in_session(d,
                      kKillDaemon + "d=$(printenv COWROOT_STATE); echo \"$d\" > sd; touch f; chown 3 f; "
                      "(read x < /dev/null; sleep 0.7; chown 6 f; touch done) >/dev/null 2>&1 & "
                      "kd \"$d\" || exit 98; exit 4",
                      "-s " + q(d / "S"));
  CHECK(r.status == 4);
  CHECK(r.out == "");
  std::string dir = first_line(d / "sd");
  REQUIRE(!dir.empty());
  CHECK(eventually([&] { return exists(d / "done"); }));
  // The daemon started again waits for the processes it cannot count, then
  // saves once more and removes the directory.
  CHECK(eventually([&] { return exists(d / "S") && saved_owner(slurp(d / "S"), d / "f") == "uid=6,gid=0"; }));
  CHECK(eventually([&] { return !exists(dir); }));
  CHECK(eventually([&] { return !daemon_of(dir); }));
}

TEST_CASE("kill -9 of a clone's daemon: its state is saved and kept, and the clone resets") {
  TempDir d;
  small_base(d / "base");
  write_file(d / "base/file", "base\n");
  REQUIRE(sh(cowroot() + " clone " + q(d / "base") + " " + q(d / "c") + " 2>/dev/null").status == 0);
  // The root has no pkill: the daemon is killed from outside, mid-session.
  Result r;
  std::thread t([&] {
    r = sh(cowroot() + " -r " + q(d / "c") + " -s " + q(d / "S") + " -- sh -c " +
           q("touch /new && chown 41:42 /new && touch /ready; while [ ! -e /go ]; do sleep 0.05; done; "
             "chown 43 /file; stat -c %u /file; exit 3"));
  });
  CHECK(eventually([&] { return exists(d / "c/ready"); }));
  std::string dir = d / "c.cowroot/state";
  CHECK(sh("pkill -9 -f " + q("cowroot-faked --state " + dir + "( |$)")).status == 0);
  write_file(d / "c/go", "");
  t.join();
  CHECK(r.status == 3);
  CHECK(r.out == "43\n");
  std::string saved = slurp(d / "S");
  CHECK(saved_owner(saved, d / "c/new") == "uid=41,gid=42");
  CHECK(saved_owner(saved, d / "c/file") == "uid=43,gid=0");
  // The clone's own state has them too, and no daemon or socket is left.
  auto again = sh(cowroot() + " -r " + q(d / "c") + " -- stat -c '%u %g' /new /file");
  CHECK(again.out == "41 42\n43 0\n");
  CHECK(eventually([&] { return !exists(d / "c.cowroot/state/sock"); }));
  auto reset = sh(cowroot() + " reset " + q(d / "c") + " 2>&1");
  CHECK_MESSAGE(reset.status == 0, reset.out);
  CHECK_FALSE(exists(d / "c/new"));
  CHECK(slurp(d / "base/file") == "base\n");
}

TEST_CASE("sessions started and ended at once on one clone all run: one that joins a daemon as it ends starts another") {
  // Parallel CI jobs on one clone: a session that finds another's daemon
  // (its own exits without a word) could connect just as that one ended
  // with its last program ("cannot connect to the daemon").
  TempDir d;
  small_base(d / "base");
  REQUIRE(sh(cowroot() + " clone " + q(d / "base") + " " + q(d / "c") + " 2>/dev/null").status == 0);
  std::string loop = "for i in $(seq 50); do " + cowroot() + " -r " + q(d / "c") + " -- sh -c : || echo failed; done";
  auto r = sh("for j in 1 2 3; do (" + loop + ") & done 2>&1; wait");
  CHECK(r.status == 0);
  CHECK_MESSAGE(r.out == "", r.out);
  CHECK(eventually([&] { return !daemon_of(d / "c.cowroot/state"); }));
}

TEST_CASE("a stopped daemon: a session started on its clone says so in one line and runs nothing; one ending says so too") {
  // kill -STOP of the daemon (or a debugger's stop) kept every new session
  // of the clone waiting for its answer, for ever.
  TempDir d;
  small_base(d / "base");
  REQUIRE(sh(cowroot() + " clone " + q(d / "base") + " " + q(d / "c") + " 2>/dev/null").status == 0);
  std::string dir = d / "c.cowroot/state";
  // Its output to a file: the daemon holds the launcher's error output
  // until the end it cannot answer (a pipe read to its end would wait).
  Result first;
  std::thread t([&] {
    first = sh("timeout -k 5 30 " + cowroot() + " -r " + q(d / "c") + " -- sh -c " +
               q("touch /ready; while [ ! -e /go ]; do sleep 0.05; done; echo first") + " >" + q(d / "first") + " 2>&1");
  });
  CHECK(eventually([&] { return exists(d / "c/ready"); }));
  uint64_t pid = daemon_pid(dir);
  REQUIRE(pid > 0);
  REQUIRE(kill((pid_t)pid, SIGSTOP) == 0);
  auto r = sh("timeout 30 " + cowroot() + " -r " + q(d / "c") + " -- touch /made 2>&1");
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: the daemon of " + dir + " (pid " + std::to_string(pid) +
                     ") is stopped: nothing was run (continue it with kill -CONT " + std::to_string(pid) + ", or end it)\n");
  CHECK_FALSE(exists(d / "c/made"));
  // The first session's command ends while the daemon is stopped: its
  // launcher says so and leaves; the daemon ends the session once continued.
  write_file(d / "c/go", "");
  t.join();
  CHECK(first.status == 1);
  CHECK(slurp(d / "first") == "first\ncowroot: the daemon of " + dir + " (pid " + std::to_string(pid) +
                         ") is stopped: the session ends when it is continued (kill -CONT " + std::to_string(pid) + ")\n");
  REQUIRE(kill((pid_t)pid, SIGCONT) == 0);
  CHECK(eventually([&] { return !daemon_of(dir); }));
  auto again = sh(cowroot() + " -r " + q(d / "c") + " -- sh -c 'touch /made && echo ok' 2>&1");
  CHECK(again.out == "ok\n");
}

TEST_CASE("LD_PRELOAD with COWROOT_STATE: the next program after a kill starts a daemon again, nothing is lost") {
  TempDir d;
  std::string lib = prefix() + "/lib/libcowroot.so", st = d / "st";
  REQUIRE(mkdir(st.c_str(), 0700) == 0);
  write_file(d / "f", "");
  std::string env = "LD_PRELOAD=" + q(lib) + " COWROOT_STATE=" + q(st) + " ";
  // The shell holds the dead connection; the programs it starts after the
  // kill find the daemon gone, and the first starts one again.
  auto r = sh("cd " + q(d.path) + " && " + env + "sh -c " +
              q(kKillDaemon + "chown 8:9 f; kd " + q(st) + " || exit 98; sleep 0.1; pgrep -f " +
                q("cowroot-faked --state " + st + "( |$)") + " >/dev/null || exit 96; chown 10 f; stat -c '%u %g' f"));
  CHECK(r.status == 0);
  CHECK(r.out == "10 9\n");
  CHECK(sh(env + "stat -c '%u %g' " + q(d / "f")).out == "10 9\n");
  // The daemon started again leaves with the session's last process.
  CHECK(eventually([&] { return !exists(st + "/sock"); }));
  CHECK(exists(st + "/table"));
}

// Programs of a live session map the attribute heap on first use; the one
// that starts a session driven by LD_PRELOAD alone checks it first.
TEST_CASE("LD_PRELOAD with COWROOT_STATE: a corrupt attribute heap or table is refused in one line at the session's start") {
  TempDir d;
  std::string lib = prefix() + "/lib/libcowroot.so", st = d / "st";
  REQUIRE(mkdir(st.c_str(), 0700) == 0);
  std::string env = "LD_PRELOAD=" + q(lib) + " COWROOT_STATE=" + q(st) + " ";
  REQUIRE(sh(env + "/bin/true").status == 0);
  REQUIRE(eventually([&] { return !exists(st + "/sock"); }));
  int fd = open((st + "/xattr").c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  uint64_t used = 1ull << 40;  // "used" past the file's end
  REQUIRE(pwrite(fd, &used, 8, 8) == 8);
  close(fd);
  auto r = sh(env + "id -u 2>&1 >/dev/null");
  CHECK(r.out == "cowroot: " + st + "/xattr: damaged (its header claims more than the file holds)\n");
  // A table of garbage too (State::check at the session's start): refused
  // at once, not met as lookups spinning on its odd counters.
  REQUIRE(pwrite(fd = open((st + "/xattr").c_str(), O_RDWR), "\x40\0\0\0\0\0\0\0", 8, 8) == 8);
  close(fd);
  REQUIRE(sh(env + "/bin/true").status == 0);
  REQUIRE(eventually([&] { return !exists(st + "/sock"); }));
  fd = open((st + "/table").c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  std::string junk(8192, '\x5a');
  REQUIRE(pwrite(fd, junk.data(), junk.size(), 4096) == (ssize_t)junk.size());
  close(fd);
  r = sh("timeout 20 env " + env + "id -u 2>&1 >/dev/null");
  CHECK(r.out == "cowroot: " + st + "/table: damaged (slot 0: a slot of no known kind)\n");
  CHECK(r.status == 1);  // nothing run half fake root
}

// A state directory that cannot be made: why (not "No such file"), once,
// and nothing run: a shell's chown ran on, failing with EBADF, and the
// shell said 0.
TEST_CASE("LD_PRELOAD with COWROOT_STATE that cannot be made: one line with the reason, status 1, nothing run") {
  TempDir d;
  std::string lib = prefix() + "/lib/libcowroot.so";
  REQUIRE(mkdir((d / "ro").c_str(), 0500) == 0);
  write_file(d / "f", "");
  auto r = sh("cd " + q(d.path) + " && LD_PRELOAD=" + q(lib) + " COWROOT_STATE=" + q(d / "ro/st") +
              " sh -c 'chown 5 f; echo ran' 2>&1");
  chmod((d / "ro").c_str(), 0700);
  CHECK(r.status == 1);
  CHECK(r.out == "cowroot: cannot make the state directory " + (d / "ro/st") + ": Permission denied\n");
}

TEST_CASE("LD_PRELOAD alone: a session whose daemon is killed leaves no directory in /tmp") {
  TempDir d;
  std::string env = "LD_PRELOAD=" + q(prefix() + "/lib/libcowroot.so") + " ";
  write_file(d / "f", "");
  // A program after the kill: the daemon started again removes the
  // throwaway directory when the session is over.
  auto r = sh("cd " + q(d.path) + " && unset COWROOT_STATE XDG_RUNTIME_DIR; " + env + "sh -c " +
              q(kKillDaemon + "p=$(printenv COWROOT_STATE); echo \"$p\" > sd; chown 4 f; kd \"$p\" || exit 98; "
                              "sleep 0.1; chown 5 f; stat -c %u f"));
  CHECK(r.out == "5\n");
  std::string dir = first_line(d / "sd");
  REQUIRE(dir.find("/cowroot-") != std::string::npos);
  CHECK(eventually([&] { return !exists(dir); }));
  // Nothing after the kill, the last process gone: the next cowroot of this
  // user sweeps the directory away (no daemon holds it, no process maps it).
  auto r2 = sh("cd " + q(d.path) + " && unset COWROOT_STATE XDG_RUNTIME_DIR; " + env + "sh -c " +
               q(kKillDaemon + "p=$(printenv COWROOT_STATE); echo \"$p\" > sd; chown 4 f; "
                               "kd \"$p\" || exit 98; exit 0"));
  CHECK(r2.status == 0);
  std::string dir2 = first_line(d / "sd");
  REQUIRE(!dir2.empty());
  CHECK(exists(dir2));
  CHECK(sh("unset XDG_RUNTIME_DIR; " + cowroot() + " true").status == 0);
  CHECK_FALSE(exists(dir2));
}

TEST_CASE("a session's live directory is never swept, with or without its daemon") {
  TempDir d;
  // A session whose daemon was killed while a process still runs in it.
  std::string env = "LD_PRELOAD=" + q(prefix() + "/lib/libcowroot.so") + " ";
  write_file(d / "f", "");
  std::string cmd = "cd " + q(d.path) + " && unset COWROOT_STATE XDG_RUNTIME_DIR; " + env + "sh -c " +
                    q(kKillDaemon + "p=$(printenv COWROOT_STATE); echo \"$p\" > sd; chown 4 f; kd \"$p\" || exit 98; "
                                    "while [ ! -e go ]; do read x < /dev/null; done; chown 5 f; stat -c %u f") +
                    " > out 2>&1";
  std::thread t([&] { (void)!system(cmd.c_str()); });
  CHECK(eventually([&] { return exists(d / "sd") && !first_line(d / "sd").empty(); }));
  std::string dir = first_line(d / "sd");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(sh("unset XDG_RUNTIME_DIR; " + cowroot() + " true").status == 0);  // sweeps, but not this one
  CHECK(exists(dir + "/table"));
  write_file(d / "go", "");
  t.join();
  CHECK(first_line(d / "out") == "5");
  CHECK(eventually([&] { return !exists(dir); }));
}

// Every launcher sweeps the sessions that are over, looking a moment under
// each one's lock (sweep_sessions). A daemon starting in a throwaway
// directory meanwhile waits for the lock instead of stepping aside, which
// left its session with no daemon ("cowroot: the daemon ... did not start",
// seen with sessions of one user started in parallel).
TEST_CASE("a daemon starting while another session's sweep holds its directory's lock waits for it") {
  TempDir d;
  std::string dir = d / "state";
  REQUIRE(mkdir(dir.c_str(), 0700) == 0);
  write_file(dir + "/ephemeral", "");  // a throwaway session's mark (session_end.h)
  int lk = open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(lk >= 0);
  REQUIRE(flock(lk, LOCK_EX | LOCK_NB) == 0);
  sh(q(prefix() + "/libexec/cowroot/cowroot-faked") + " --state " + q(dir) + " >/dev/null 2>&1 &");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  close(lk);  // the sweep moves on
  CHECK(eventually([&] { return daemon_pid(dir) != 0; }, 3000));
  if (uint64_t pid = daemon_pid(dir)) kill((pid_t)pid, SIGTERM);
  CHECK(eventually([&] { return daemon_pid(dir) == 0; }));
}

TEST_CASE("a daemon started again answers, and holds the session as the first did") {
  TempDir d;
  // Kill twice in one session: each time the next program starts one.
  auto r = in_session(d,
                      kKillDaemon + "d=$(printenv COWROOT_STATE); echo \"$d\" > sd; touch k; chown 1 k; "
                      "kd \"$d\" || exit 98; chown 2 k; kd \"$d\" || exit 97; chown 3 k; stat -c %u k",
                      "-s " + q(d / "S"));
  CHECK(r.status == 0);
  CHECK(r.out == "3\n");
  CHECK(saved_owner(slurp(d / "S"), d / "k") == "uid=3,gid=0");
  std::string dir = first_line(d / "sd");
  CHECK(eventually([&] { return !exists(dir); }));
  CHECK(daemon_pid(dir) == 0);
}

TEST_CASE("a --cow session's directory goes with the session, what it recorded included") {
  // cow-shell's record of what was shared (cow-shared) used to keep the
  // directory from being removed: one left in /tmp for every --cow run.
  TempDir d;
  REQUIRE(mkdir((d / "tree").c_str(), 0755) == 0);
  write_file(d / "tree/a", "x");
  REQUIRE(link((d / "tree/a").c_str(), (d / "tree/b").c_str()) == 0);
  auto r = sh("cd " + q(d.path) + " && " + cowroot() + " --cow tree -- sh -c 'printenv COWROOT_STATE > sd; ls \"$(cat sd)\"'");
  CHECK(r.status == 0);
  CHECK(r.out.find("cow-shared") != std::string::npos);
  std::string dir = first_line(d / "sd");
  REQUIRE(!dir.empty());
  CHECK_FALSE(exists(dir));
}

// Under `ulimit -n` too low for the launcher, the daemon and a program's
// connection, the session is refused in one line (it hung, the daemon
// spinning on EMFILE, or said "No such file or directory"); at the
// minimum it works.
TEST_CASE("a limit on open files too low for a session is refused in one line; at the minimum a session runs") {
  // (No 2>&1: dash saves a descriptor at 10 and up for it, past such a
  // limit. The helper's stderr is its stdout already.)
  auto r = sh("ulimit -n 7 && " + cowroot() + " -- true; echo status $?");
  CHECK(r.out == "cowroot: the limit on open files (ulimit -n 7) is too low for a session: it needs 8\nstatus 1\n");
  r = sh("ulimit -n 8 && timeout 60 " + cowroot() + " -- sh -c 'sleep 0.2 & sleep 0.2 & wait; id -u'");
  CHECK(r.out == "0\n");
}
