// libcowroot-clone's file-tree helpers (tree.h).
#include "tree.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace cr::cloning {

namespace {

// The mount a descriptor is on (its device where the kernel has no mount id).
uint64_t mount_of(int fd) {
  struct statx sx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) < 0) return 0;
  if (sx.stx_mask & STATX_MNT_ID) return sx.stx_mnt_id;
  return makedev(sx.stx_dev_major, sx.stx_dev_minor) | (1ull << 63);
}

// A directory to be emptied, opened for reading beneath `pfd`. One that does
// not let us read it is made ours first, through a descriptor (never by
// name: the name could be a symlink or a mount by then).
int open_for_removal(int pfd, const char* name) {
  int fd = open_beneath(pfd, name, O_RDONLY | O_DIRECTORY);
  if (fd != -EACCES) return fd;
  Fd p(open_beneath(pfd, name, O_PATH | O_DIRECTORY));
  if (p < 0) return p;
  char link[32];
  sys::proc_fd_path(p, link);
  if (chmod(link, 0700) < 0) return -EACCES;
  return open_beneath(pfd, name, O_RDONLY | O_DIRECTORY);
}

int empty_dir(int fd, const std::string& where, std::string* mount) {
  bool opened_up = false;  // made writable and searchable already
  auto unlink_in = [&](const char* n, int flags) -> int {
    if (unlinkat(fd, n, flags) == 0) return 0;
    if (errno != EACCES || opened_up) return -errno;
    opened_up = true;
    if (fchmod(fd, 0700) < 0 || unlinkat(fd, n, flags) < 0) return -errno;
    return 0;
  };
  return each_entry(fd, [&](const char* n, unsigned char type, uint64_t) -> int {
    if (type != DT_DIR && type != DT_UNKNOWN) return unlink_in(n, 0);
    Fd sub(open_for_removal(fd, n));
    if (sub == -ENOTDIR || sub == -ELOOP) return unlink_in(n, 0);  // DT_UNKNOWN: not a directory
    if (sub == -EACCES && !opened_up) {
      opened_up = true;
      if (fchmod(fd, 0700) == 0) sub = Fd(open_for_removal(fd, n));
    }
    std::string w = where + "/" + n;
    if (sub == -EXDEV) return *mount = w, -EXDEV;
    if (sub < 0) return sub.fd;
    if (int e = empty_dir(sub, w, mount)) return e;
    return unlink_in(n, AT_REMOVEDIR);
  });
}
}  // namespace

int open_beneath(int dirfd, const char* rel, int flags) {
  static bool no_openat2 = false;
  if (!no_openat2) {
    struct open_how how {};
    how.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
    if (fd >= 0) return (int)fd;
    if (errno != ENOSYS && errno != EPERM) return -errno;
    if (errno == ENOSYS) no_openat2 = true;
  }
  uint64_t mnt = mount_of(dirfd);
  std::string_view r(rel);
  std::vector<std::string> parts;
  for (size_t at = 0; at <= r.size();) {
    size_t sl = r.find('/', at);
    if (sl == std::string_view::npos) sl = r.size();
    std::string_view c = r.substr(at, sl - at);
    if (c == "..") return -EXDEV;
    if (!c.empty() && c != ".") parts.emplace_back(c);
    at = sl + 1;
  }
  if (parts.empty()) {
    int fd = openat(dirfd, ".", flags | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
  }
  Fd cur;
  for (size_t i = 0; i < parts.size(); i++) {
    bool last = i + 1 == parts.size();
    int fd = openat(cur.fd >= 0 ? cur.fd : dirfd, parts[i].c_str(),
                    (last ? flags : O_PATH | O_DIRECTORY) | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return -errno;
    cur = Fd(fd);
    if (mount_of(fd) != mnt) return -EXDEV;
  }
  int fd = cur.fd;
  cur.fd = -1;
  return fd;
}

int parent_beneath(int dirfd, const std::string& rel, std::string* name) {
  size_t sl = rel.rfind('/');
  *name = sl == std::string::npos ? rel : rel.substr(sl + 1);
  return open_beneath(dirfd, sl == std::string::npos ? "." : rel.substr(0, sl).c_str(), O_PATH | O_DIRECTORY);
}

int remove_at(int pfd, const char* name, const std::string& where, std::string* mount) {
  struct stat st;
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
  if (!S_ISDIR(st.st_mode)) return unlinkat(pfd, name, 0) < 0 ? -errno : 0;
  Fd fd(open_for_removal(pfd, name));
  if (fd == -EXDEV) return *mount = where, -EXDEV;
  if (fd < 0) return fd.fd;
  if (int e = empty_dir(fd, where, mount)) return e;
  return unlinkat(pfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

bool inside(const std::string& a, const std::string& top) {
  if (top == "/") return true;
  return a.size() >= top.size() && a.compare(0, top.size(), top) == 0 && (a.size() == top.size() || a[top.size()] == '/');
}

std::string mount_under(const std::vector<std::string>& tops) {
  int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text;
  char buf[16384];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
  close(fd);
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    // The fifth field is the mount point, with space, tab, newline and
    // backslash written as \ooo.
    size_t f = at;
    for (int i = 0; i < 4 && f < nl; i++) {
      f = text.find(' ', f);
      if (f == std::string::npos || f > nl) f = nl;
      else f++;
    }
    size_t end = text.find(' ', f);
    if (end == std::string::npos || end > nl) end = nl;
    std::string mp;
    auto octal = [&](size_t i) { return text[i] >= '0' && text[i] <= '7'; };
    for (size_t i = f; i < end; i++) {
      if (text[i] == '\\' && end - i >= 4 && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
        mp += (char)((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 + (text[i + 3] - '0'));
        i += 3;
      } else {
        mp += text[i];
      }
    }
    for (auto& t : tops)
      if (!mp.empty() && inside(mp, t)) return mp;
    at = nl + 1;
  }
  return "";
}

bool file_exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

std::string parent_of(const std::string& p) {
  size_t s = p.rfind('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : p.substr(0, s);
}

std::string parent_rel(const std::string& rel) {
  size_t sl = rel.rfind('/');
  return sl == std::string::npos ? "." : rel.substr(0, sl);
}

bool chmod_beneath(int pfd, const char* name, mode_t mode) {
  Fd d(open_beneath(pfd, name, O_PATH | O_DIRECTORY));
  if (d < 0) return false;
  char link[32];
  sys::proc_fd_path(d, link);
  return chmod(link, mode) == 0;
}

bool entry_is_dir(int dfd, const char* name, unsigned char type) {
  if (type != DT_UNKNOWN) return type == DT_DIR;
  struct stat st;
  return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

bool clone_with_sidecar(const std::string& tail) {
  return tail.empty() || tail == ".cowroot" || tail.rfind(".cowroot-new-", 0) == 0;
}

void remove_stale(const std::string& path, const std::string& infix, bool (*ours)(const std::string& tail),
                  void (*before)(const std::string& leftover)) {
  size_t sl = path.rfind('/');
  std::string parent = parent_of(path), prefix = (sl == std::string::npos ? path : path.substr(sl + 1)) + infix;
  Fd dir(open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir < 0) return;
  std::vector<std::string> stale;
  each_entry(dir, [&](const char* n, unsigned char, uint64_t) {
    std::string e = n;
    size_t end = prefix.size();
    if (e.compare(0, end, prefix) != 0) return 0;
    while (end < e.size() && end - prefix.size() < 10 && e[end] >= '0' && e[end] <= '9') end++;
    long pid = atol(e.c_str() + prefix.size());
    // (kill: EPERM is another user's process, alive.)
    if (end > prefix.size() && pid > 0 && pid <= INT32_MAX && ours(e.substr(end)) && kill((pid_t)pid, 0) < 0 &&
        errno == ESRCH)
      stale.push_back(e);
    return 0;
  });
  if (before)
    for (auto& e : stale) before(parent + "/" + e);
  for (auto& e : stale) {
    struct stat st;
    std::string ignore;
    if (fstatat(dir, e.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
      remove_at(dir, e.c_str(), parent + "/" + e, &ignore);
  }
}

bool copy_file(const std::string& from, const std::string& to) {
  int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return false;
  int out = open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    close(in);
    return false;
  }
  bool ok = true;
  ssize_t n;
  while ((n = copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0)) > 0) {
  }
  if (n < 0) {
    char buf[65536];
    lseek(in, 0, SEEK_SET);
    ftruncate(out, 0);
    lseek(out, 0, SEEK_SET);
    while ((n = read(in, buf, sizeof buf)) > 0)
      if (write(out, buf, n) != n) ok = false;
    if (n < 0) ok = false;
  }
  close(in);
  if (close(out) != 0) ok = false;
  return ok;
}

Birth birth_of(int dirfd, const char* name) {
  struct statx sx;
  if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME))
    return {sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec};
  return {};
}
}  // namespace cr::cloning
