// Times one command the way a caller experiences it (fork, exec, wait),
// without a shell or `date` process inside the measured interval.
//   timeit ROUNDS SETUP -- CMD [ARG...]
// Before each round, SETUP runs untimed through /bin/sh -c ("" for none);
// prints the fastest round and the median, in milliseconds.
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static double now_ms() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    fprintf(stderr, "usage: timeit ROUNDS SETUP -- CMD [ARG...]\n");
    return 2;
  }
  int rounds = atoi(argv[1]);
  const char* setup = argv[2];
  std::vector<double> times;
  for (int i = 0; i < rounds; i++) {
    if (*setup && system(setup) != 0) {
      fprintf(stderr, "timeit: setup failed: %s\n", setup);
      return 1;
    }
    double a = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
      execvp(argv[4], argv + 4);
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    double b = now_ms();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "timeit: %s failed (status %d)\n", argv[4], status);
      return 1;
    }
    times.push_back(b - a);
  }
  std::sort(times.begin(), times.end());
  printf("%.2f %.2f\n", times[0], times[times.size() / 2]);
  return 0;
}
