// Every input of every fuzz target's corpus (tests/fuzz/corpus/TARGET/),
// run once through the target in the regular test build: the seeds, and
// every crash the fuzzer ever found (added there), stay test cases.
#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "../common.h"
#include "fuzz.h"

namespace fuzz {

struct Target {
  const char* name;
  Fn fn;
};

std::vector<Target>& targets() {
  static std::vector<Target> t;
  return t;
}

int add(const char* name, Fn f) {
  targets().push_back({name, f});
  return 0;
}

}  // namespace fuzz

TEST_CASE("every input of every fuzz target's corpus runs clean") {
  const char* dir = getenv("COWROOT_TEST_FUZZ_CORPUS");
  REQUIRE_MESSAGE(dir, "COWROOT_TEST_FUZZ_CORPUS must name tests/fuzz/corpus (run through `make test`)");
  REQUIRE(fuzz::targets().size() == 7);
  for (auto& t : fuzz::targets()) {
    std::string d = std::string(dir) + "/" + t.name;
    std::vector<std::string> files;
    if (DIR* dd = opendir(d.c_str())) {
      while (dirent* e = readdir(dd))
        if (e->d_name[0] != '.') files.push_back(d + "/" + e->d_name);
      closedir(dd);
    }
    std::sort(files.begin(), files.end());
    std::string name = t.name;
    CHECK_MESSAGE(!files.empty(), "no corpus for ", name);
    // All inputs of a target in one child: a crash fails the test and names
    // the input; the child's own stderr says why.
    int p[2];
    REQUIRE(pipe(p) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(p[0]);
      for (auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string data = ss.str();
        std::string line = f + "\n";
        (void)!write(p[1], line.data(), line.size());
        t.fn(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      }
      (void)!write(p[1], "done\n", 5);
      _exit(0);
    }
    close(p[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) out.append(buf, n);
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    std::string last = out.size() > 1 ? out.substr(out.rfind('\n', out.size() - 2) + 1) : "";
    CHECK_MESSAGE((WIFEXITED(st) && WEXITSTATUS(st) == 0 && last == "done\n"), name, ": crashed on ", last);
  }
}
