// callpath: per-call cost of the system calls a fake-root tool intercepts.
//
//   callpath SCRATCH_DIR
//
// Prints one line per metric on stdout, `<metric> <ns_per_call>`, the median
// of kReps timed repetitions after one untimed warm-up.  Notes go to stderr.
// The same binary runs natively, under fakeroot and under cowroot, so it uses
// nothing but libc (and is linked without extra libraries).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

constexpr int kReps = 5;

[[noreturn]] void fail(const char* what, const std::string& arg) {
  fprintf(stderr, "callpath: %s %s: %s\n", what, arg.c_str(), strerror(errno));
  exit(1);
}

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

// Runs body(n) once untimed with warm_n calls, then kReps times with n calls;
// prints the median ns per call.  body returns the number of calls it made.
template <class F>
void measure(const char* metric, long warm_n, long n, F body) {
  body(warm_n);
  std::vector<double> per_call;
  for (int r = 0; r < kReps; r++) {
    uint64_t t0 = now_ns();
    long calls = body(n);
    uint64_t t1 = now_ns();
    per_call.push_back(double(t1 - t0) / double(calls));
  }
  std::sort(per_call.begin(), per_call.end());
  printf("%s %.0f\n", metric, per_call[kReps / 2]);
  fflush(stdout);
}

void make_file(const std::string& p) {
  int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("cannot create", p);
  if (write(fd, "x\n", 2) != 2) fail("cannot write", p);
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: callpath SCRATCH_DIR [LIST_DIR (default /usr/bin)]\n");
    return 2;
  }
  std::string dir = argv[1];
  std::string listdir = argc == 3 ? argv[2] : "/usr/bin";
  std::string file = dir + "/stat-target";
  std::string owned = dir + "/chown-target";
  make_file(file);
  make_file(owned);
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd < 0) fail("cannot open", dir);

  // Entries of LIST_DIR, collected once so the loop times lstat only.
  std::vector<std::string> usrbin;
  if (DIR* d = opendir(listdir.c_str())) {
    while (dirent* e = readdir(d))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) usrbin.push_back(listdir + "/" + e->d_name);
    closedir(d);
  }
  if (usrbin.empty()) fail("cannot list", listdir);

  // chown to a foreign uid needs (fake) root.  Natively as a normal user it
  // fails with EPERM; then time chown to our own ids instead (still a real
  // chown: the kernel updates ctime), and say so.
  uid_t ua = 1, ub = 2;
  gid_t ga = 1, gb = 2;
  if (chown(owned.c_str(), ua, ga) < 0) {
    if (errno != EPERM) fail("chown", owned);
    ua = ub = getuid();
    ga = gb = getgid();
    fprintf(stderr, "callpath: chown to other uids not permitted; chown metrics use own uid %u\n", (unsigned)ua);
  }

  struct stat st;
  measure("stat", 500, 4000, [&](long n) {
    for (long i = 0; i < n; i++)
      if (stat(file.c_str(), &st) < 0) fail("stat", file);
    return n;
  });

  measure("lstat_usrbin", 1, 3, [&](long rounds) {
    for (long r = 0; r < rounds; r++)
      for (auto& p : usrbin)
        if (lstat(p.c_str(), &st) < 0) fail("lstat", p);
    return rounds * (long)usrbin.size();
  });

  measure("open_fstat_close", 300, 3000, [&](long n) {
    for (long i = 0; i < n; i++) {
      int fd = open(file.c_str(), O_RDONLY);
      if (fd < 0) fail("open", file);
      if (fstat(fd, &st) < 0) fail("fstat", file);
      close(fd);
    }
    return n;
  });

  volatile uid_t sink = 0;
  measure("geteuid", 10000, 200000, [&](long n) {
    for (long i = 0; i < n; i++) sink = sink + geteuid();
    return n;
  });

  measure("chown", 200, 2000, [&](long n) {
    for (long i = 0; i < n; i++)
      if (chown(owned.c_str(), i & 1 ? ua : ub, i & 1 ? ga : gb) < 0) fail("chown", owned);
    return n;
  });

  // What coreutils chown -R and tar do per file: look, then change.
  measure("fstatat_fchownat", 200, 2000, [&](long n) {
    for (long i = 0; i < n; i++) {
      if (fstatat(dfd, "chown-target", &st, AT_SYMLINK_NOFOLLOW) < 0) fail("fstatat", owned);
      if (fchownat(dfd, "chown-target", i & 1 ? ua : ub, i & 1 ? ga : gb, AT_SYMLINK_NOFOLLOW) < 0)
        fail("fchownat", owned);
    }
    return n;
  });

  measure("chmod", 200, 2000, [&](long n) {
    for (long i = 0; i < n; i++)
      if (chmod(owned.c_str(), i & 1 ? 0600 : 0644) < 0) fail("chmod", owned);
    return n;
  });

  measure("fork_exec_true", 10, 60, [&](long n) {
    for (long i = 0; i < n; i++) {
      char arg0[] = "true";
      char* args[] = {arg0, nullptr};
      pid_t pid = fork();
      if (pid < 0) fail("fork", "");
      if (pid == 0) {
        execve("/bin/true", args, environ);
        _exit(127);
      }
      int status;
      while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) fail("waitpid", "");
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        errno = 0;
        fail("/bin/true failed", "");
      }
    }
    return n;
  });

  (void)sink;
  close(dfd);
  unlink(file.c_str());
  unlink(owned.c_str());
  return 0;
}
