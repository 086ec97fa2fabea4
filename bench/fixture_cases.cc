// The fixture's figures (bench/fixture.sh runs it):
//   fixture_cases cases N IMAGE [PARENT SETUP]
//       N test cases, each a fresh root of IMAGE (a layer of PARENT made by
//       the script SETUP) in which `sh -c` creates a file and checks it was
//       absent; prints "CASES SECONDS FAILED"
//   fixture_cases roots N IMAGE [PARENT SETUP]
//       N roots taken and given back (reset), each with one file written
//       through the helpers; prints the median take and reset in ms
// The image is taken (and built, if missing) before the clock starts.
#include <cowroot/fixture.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 6) {
    fprintf(stderr, "usage: fixture_cases cases|roots N IMAGE [PARENT SETUP]\n");
    return 2;
  }
  std::string mode = argv[1];
  int n = atoi(argv[2]);
  try {
    cowroot::ImageOptions o;
    o.name = argv[3];
    if (argc == 6) {
      o.parent = argv[4];
      o.setup = argv[5];
    }
    cowroot::Image image = cowroot::Image::get(o);
    { cowroot::Root warm(image); }
    if (mode == "cases") {
      int failed = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; i++) {
        cowroot::Root root(image);
        if (!root.sh("test ! -e /tmp/case-marker && : > /tmp/case-marker").ok()) failed++;
      }
      printf("%d %.3f %d\n", n, since(t0), failed);
      return failed ? 1 : 0;
    }
    if (mode == "roots") {
      std::vector<double> take, reset;
      for (int i = 0; i < n; i++) {
        auto t0 = std::chrono::steady_clock::now();
        auto* root = new cowroot::Root(image);
        take.push_back(since(t0) * 1000);
        root->write("/tmp/root-marker", "x");
        t0 = std::chrono::steady_clock::now();
        delete root;
        reset.push_back(since(t0) * 1000);
      }
      printf("%.2f %.2f\n", median(take), median(reset));
      return 0;
    }
  } catch (const std::exception& e) {
    fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  fprintf(stderr, "fixture_cases: cases or roots, not %s\n", mode.c_str());
  return 2;
}
