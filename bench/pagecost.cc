// What this kernel charges for the things a program's start is made of:
// a system call, and a page of memory reached the ways a loader and a
// library's start reach theirs. An exec inside a root differs from a
// chroot's by a few dozen of each (docs/benchmarks.md, "Session 15"), and
// their prices move between kernels far more than cowroot's own code does:
// on a paravirtualised guest a page's first touch costs the hypervisor's
// work too, which no guest profile shows as the kernel's.
//   pagecost FILE [PAGES]
// FILE: any file of at least PAGES pages (default 64) already in the page
// cache (a library). Prints one line per cost, the median of 15 rounds, in
// nanoseconds (system call) or microseconds (pages).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace {

double now_ns() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

constexpr size_t kPage = 4096;
constexpr int kRounds = 15;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Map {
  char* p = nullptr;
  size_t n = 0;
  Map(int fd, size_t pages, int prot, int flags) : n(pages * kPage) {
    void* m = mmap(nullptr, n, prot, flags, fd, 0);
    if (m == MAP_FAILED) {
      perror("pagecost: mmap");
      exit(1);
    }
    p = static_cast<char*>(m);
  }
  ~Map() { munmap(p, n); }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: pagecost FILE [PAGES]\n");
    return 2;
  }
  size_t pages = argc > 2 ? strtoul(argv[2], nullptr, 10) : 64;
  int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    perror(argv[1]);
    return 1;
  }
  if (pages < 32 || (size_t)st.st_size < pages * kPage) {
    fprintf(stderr, "pagecost: %s: needs at least %zu pages (and PAGES >= 32)\n", argv[1], pages);
    return 1;
  }
  volatile char sink = 0;
  for (size_t i = 0; i < pages * kPage; i += kPage) {  // into the page cache
    char b;
    if (pread(fd, &b, 1, (off_t)i) != 1) return 1;
  }
  std::vector<double> sc, first, around, rest, anon, cow, pop;
  for (int r = 0; r < kRounds; r++) {
    double t0 = now_ns();
    for (int i = 0; i < 1000; i++) syscall(SYS_getppid);
    sc.push_back((now_ns() - t0) / 1000);
    {
      // A read fault maps the pages around it that the page cache holds
      // (fault-around, 16 here): the first touch pays the fault, the
      // others only their own first touch; the pages past them fault again.
      Map m(fd, pages, PROT_READ, MAP_PRIVATE);
      double a = now_ns();
      sink = (char)(sink + m.p[0]);
      double b = now_ns();
      for (size_t i = 1; i < 16; i++) sink = (char)(sink + m.p[i * kPage]);
      double c = now_ns();
      for (size_t i = 16; i < pages; i++) sink = (char)(sink + m.p[i * kPage]);
      double d = now_ns();
      first.push_back((b - a) / 1e3);
      around.push_back((c - b) / 1e3 / 15);
      rest.push_back((d - c) / 1e3 / (double)(pages - 16));
    }
    {
      Map m(-1, pages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      double a = now_ns();
      for (size_t i = 0; i < pages; i++) m.p[i * kPage] = 1;
      anon.push_back((now_ns() - a) / 1e3 / (double)pages);
    }
    {
      // A library's data: read first (relocations look), then written.
      Map m(fd, pages, PROT_READ | PROT_WRITE, MAP_PRIVATE);
      for (size_t i = 0; i < pages; i++) sink = (char)(sink + m.p[i * kPage]);
      double a = now_ns();
      for (size_t i = 0; i < pages; i++) m.p[i * kPage] = 1;
      cow.push_back((now_ns() - a) / 1e3 / (double)pages);
    }
    {
      // What the library's start does for its own fields: populate, write.
      Map m(-1, pages, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      double a = now_ns();
      madvise(m.p, m.n, MADV_POPULATE_WRITE);
      for (size_t i = 0; i < pages; i++) m.p[i * kPage] = 1;
      pop.push_back((now_ns() - a) / 1e3 / (double)pages);
    }
  }
  printf("system call (getppid)                       %8.0f ns\n", median(sc));
  printf("read fault, a file's first page             %8.1f us\n", median(first));
  printf("  each page it mapped around, first touch   %8.1f us\n", median(around));
  printf("  reading page after page, per page         %8.1f us\n", median(rest));
  printf("write fault, anonymous page                 %8.1f us\n", median(anon));
  printf("write fault, file page already read (copy)  %8.1f us\n", median(cow));
  printf("anonymous page populated, then written      %8.1f us\n", median(pop));
  (void)sink;
  return 0;
}
