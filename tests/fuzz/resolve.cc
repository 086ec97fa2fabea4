// The path resolver's input (resolve.cc): whatever path a program hands
// it, inside a root, what the kernel then reaches is inside the root (or a
// passed-through /dev, /proc, /sys). The root is a small tree with every
// kind of escape a symlink can try; the kernel itself is the oracle: the
// resolved host path is opened (O_PATH) and its real path read back.
//
// Input: one flag byte (follow the last symlink, lazily, after a chroot()
// into /sub, relative to a descriptor of /other), then the path.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "../../preload/core/resolve.h"
#include "fuzz.h"

namespace {

std::string g_top;
int g_other = -1;

bool under(const std::string& p, const std::string& dir) {
  return p.compare(0, dir.size(), dir) == 0 && (p.size() == dir.size() || p[dir.size()] == '/');
}

void setup() {
  const char* t = getenv("TMPDIR");
  std::string tmpl = std::string(t && *t == '/' ? t : "/tmp") + "/cowroot-fuzz-root.XXXXXX";
  char* made = mkdtemp(tmpl.data());
  if (!made) abort();
  char real[4096];
  if (!realpath(made, real)) abort();
  g_top = real;
  auto dir = [](const char* p) { mkdir((g_top + p).c_str(), 0755); };
  auto file = [](const char* p) { close(open((g_top + p).c_str(), O_CREAT | O_WRONLY, 0644)); };
  auto link = [](const char* target, const char* p) { (void)!symlink(target, (g_top + p).c_str()); };
  for (const char* d : {"/etc", "/sub", "/sub/dir", "/other", "/usr", "/usr/lib", "/sub/dir/deep"}) dir(d);
  for (const char* f : {"/etc/passwd", "/sub/dir/file", "/usr/lib/libx.so", "/other/o"}) file(f);
  link("../../..", "/sub/up");
  link("../../../../../../..", "/sub/dir/deep/up");
  link("/etc", "/sub/abs");
  link("/", "/sub/root");
  link("/..", "/sub/rootup");
  link("loop", "/sub/loop");
  link("b", "/sub/a");
  link("a", "/sub/b");
  link("/proc/self/root", "/sub/proc");
  link("/proc/self/cwd", "/sub/cwd");
  link("..", "/sub/dotdot");
  link("usr/lib", "/lib");
  link("/../../../../tmp", "/sub/far");
  link("dir/deep/up/etc", "/sub/chain");
  link("/sub/chain/../sub", "/sub/again");
  link("", "/sub/empty");
  link("/dev/null", "/sub/null");
  if (chdir((g_top + "/sub/dir").c_str()) < 0) abort();
  setenv("COWROOT_ROOT", g_top.c_str(), 1);
  setenv("COWROOT_CHROOT", "/", 1);
  unsetenv("COWROOT_BINDS");
  unsetenv("COWROOT_EXE");
  cr::root_init();
  if (!cr::g_root.active) abort();
  g_other = open((g_top + "/other").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (g_other < 0) abort();
  atexit([] { (void)!system(("rm -rf '" + g_top + "'").c_str()); });
}

}  // namespace

COWROOT_FUZZ_TARGET(resolve) {
  static bool ready = (setup(), true);
  (void)ready;
  if (size < 1) return 0;
  uint8_t flags = data[0];
  std::string path(reinterpret_cast<const char*>(data + 1), size - 1);
  path = path.c_str();  // up to the first NUL, as a system call sees it
  int rf = ((flags & 1) ? cr::kFollow : 0) | ((flags & 2) ? cr::kLazyFinal : 0);
  bool chrooted = (flags & 4) && cr::root_chroot("/sub") == 0;
  int dirfd = (flags & 8) ? g_other : AT_FDCWD;
  cr::Resolved r;
  int e = cr::resolve(dirfd, path.c_str(), rf, &r);
  if (e == 0 && r.path && *r.path) {
    std::string host = r.path;
    bool passed = r.dirfd == AT_FDCWD && (under(host, "/proc") || under(host, "/dev") || under(host, "/sys"));
    if (!passed) {
      bool nofollow = !(rf & cr::kFollow) || (rf & cr::kLazyFinal);
      int fd = openat(r.dirfd, r.path, O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
      if (fd >= 0) {
        char link[64], real[4096];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, real, sizeof real - 1);
        close(fd);
        if (n > 0) {
          real[n] = 0;
          std::string got = real;
          // /dev/null through a symlink of the root goes to the host's /dev: a bind.
          bool ok = under(got, g_top) || under(got, "/dev") || under(got, "/proc") || under(got, "/sys");
          if (!ok) fprintf(stderr, "fuzz: %s (flags %d) resolved to %s, outside %s\n", path.c_str(), flags, got.c_str(),
                           g_top.c_str());
          FUZZ_CHECK(ok);
        }
      }
    }
  }
  if (chrooted) {
    cr::g_root.croot[0] = '/';
    cr::g_root.croot[1] = 0;
    cr::g_root.croot_len = 1;
    cr::root_forget_cache();
  }
  return 0;
}
