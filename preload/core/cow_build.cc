// The command line's side of copy-on-write: making clones, sealing and
// verifying bases, removing trees. Allocates freely; never in the preload.
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cow.h"
#include "cow_format.h"
#include "cow_journal.h"
#include "sys.h"
#include "errtext.h"
#include "session_end.h"
#include "state.h"

namespace cr {

namespace {


using sys::Dirent64;

// Calls f(name, d_type, d_ino) for each entry of the open directory fd.
template <typename F>
int each_entry(int fd, F&& f) {
  char buf[32768];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) return -errno;
    if (n == 0) return 0;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<Dirent64*>(buf + off);
      off += d->reclen;
      if (d->name[0] == '.' && (d->name[1] == 0 || (d->name[1] == '.' && d->name[2] == 0))) continue;
      if (int e = f(d->name, d->type, d->ino)) return e;
    }
  }
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(Fd&& o) {
    if (this != &o) {
      if (fd >= 0) close(fd);
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  operator int() const { return fd; }
};

// The mount a descriptor is on (its device where the kernel has no mount id).
uint64_t mount_of(int fd) {
  struct statx sx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) < 0) return 0;
  if (sx.stx_mask & STATX_MNT_ID) return sx.stx_mnt_id;
  return makedev(sx.stx_dev_major, sx.stx_dev_minor) | (1ull << 63);
}

// Opens `rel` beneath the directory `dirfd` and never anywhere else: no
// symlink is followed (the last name's included), no mount is entered, no
// ".." leaves. Returns the descriptor or -errno: ELOOP or ENOTDIR where a
// symlink or a file stands in the way, EXDEV where a mount does. openat2
// where the kernel has it; else the same, one name at a time.
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

// The parent of `rel` (beneath `dirfd`, as open_beneath) as an O_PATH
// descriptor, and the last name of `rel` into `name`.
int parent_beneath(int dirfd, const std::string& rel, std::string* name) {
  size_t sl = rel.rfind('/');
  *name = sl == std::string::npos ? rel : rel.substr(sl + 1);
  return open_beneath(dirfd, sl == std::string::npos ? "." : rel.substr(0, sl).c_str(), O_PATH | O_DIRECTORY);
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

// Removes `name` in the directory `pfd`, with everything under it. Never
// follows a symlink and never enters a mount: a mount point stops it with
// -EXDEV, and `where` (the path of pfd/name, for the message) names it in
// `mount`.
int remove_at(int pfd, const char* name, const std::string& where, std::string* mount);

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

// The first mount point at or under one of `tops` (absolute, canonical
// paths), from /proc/self/mountinfo; "" when there is none (or no /proc).
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

// Writes a `shared` file (cow_format.h): the inodes of `first_name`, with
// the names of those that have several (`aliases`, indexes into `names`).
// Returns 0 or an errno.
int write_shared_set(const std::string& path, uint64_t dev, const std::unordered_map<uint64_t, uint32_t>& first_name,
                     const std::unordered_map<uint64_t, std::vector<uint32_t>>& aliases,
                     const std::vector<std::string>& names) {
  uint64_t cap = 16;
  while (cap < first_name.size() * 2 + 2) cap *= 2;
  std::vector<SharedSlot> slots(cap);
  std::string blob;
  std::unordered_map<uint64_t, uint64_t> names_at;
  uint64_t names_base = sizeof(SharedSet) + cap * sizeof(SharedSlot);
  for (auto& [ino, idx] : aliases) {
    names_at[ino] = names_base + blob.size();
    for (uint32_t i : idx) blob += names[i] + '\0';
    blob += '\0';
  }
  for (auto& [ino, idx] : first_name) {
    uint64_t i = shared_hash(ino) & (cap - 1);
    while (slots[i].ino) i = (i + 1) & (cap - 1);
    slots[i].ino = ino;
    auto a = names_at.find(ino);
    slots[i].names = a == names_at.end() ? 0 : a->second;
  }
  SharedSet hdr{};
  memcpy(hdr.magic, "CRSHARE1", 8);
  hdr.cap = cap;
  hdr.count = first_name.size();
  hdr.dev = dev;
  hdr.names_off = names_base;
  hdr.names_len = blob.size();
  FILE* f = fopen(path.c_str(), "wxe");
  if (!f) return errno;
  bool ok = fwrite(&hdr, sizeof hdr, 1, f) == 1 && fwrite(slots.data(), sizeof(SharedSlot), cap, f) == cap &&
            (blob.empty() || fwrite(blob.data(), blob.size(), 1, f) == 1);
  ok = fclose(f) == 0 && ok;
  return ok ? 0 : (errno ? errno : EIO);
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

// Makes `live` equal to `clean` by rewriting only the 4 KiB pages that
// differ; false (nothing written) when their sizes differ or they cannot
// be read, and the caller copies the whole file instead. Only for files no
// session has open: a reset holds the state's lock.
bool restore_in_place(const std::string& clean, const std::string& live) {
  int c = open(clean.c_str(), O_RDONLY | O_CLOEXEC);
  int l = c < 0 ? -1 : open(live.c_str(), O_RDWR | O_CLOEXEC);
  bool ok = false;
  struct stat cs, ls;
  if (l >= 0 && fstat(c, &cs) == 0 && fstat(l, &ls) == 0 && cs.st_size == ls.st_size && cs.st_size > 0) {
    // Read in chunks through two small buffers: mapping both files costs a
    // page fault per page, which is most of the time on a virtual machine.
    // The first page (the header: change counter, entry counts) goes last,
    // so that a reset killed halfway still shows a changed state to the next.
    static char a[65536], b[65536];
    static char first[4096];
    size_t first_len = 0;
    ok = true;
    for (off_t off = 0; off < cs.st_size && ok;) {
      ssize_t na = pread(c, a, sizeof a, off), nb = pread(l, b, sizeof b, off);
      if (na <= 0 || na != nb) {
        ok = false;
        break;
      }
      for (ssize_t p = 0; p < na && ok; p += 4096) {
        size_t len = std::min<size_t>(4096, na - p);
        if (memcmp(a + p, b + p, len) == 0) continue;
        if (off + p == 0) {
          memcpy(first, a, len);
          first_len = len;
        } else {
          ok = pwrite(l, a + p, len, off + p) == (ssize_t)len;
        }
      }
      off += na;
    }
    if (ok && first_len) ok = pwrite(l, first, first_len, 0) == (ssize_t)first_len;
  }
  if (c >= 0) close(c);
  if (l >= 0) close(l);
  return ok;
}

Birth birth_of(int dirfd, const char* name) {
  struct statx sx;
  if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BTIME, &sx) == 0 && (sx.stx_mask & STATX_BTIME))
    return {sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec};
  return {};
}

}  // namespace

int cow_scan(const char* dir, const char* set_path, char* err, size_t errlen) {
  int top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat tst;
  if (top < 0 || fstat(top, &tst) < 0) {
    say(err, errlen, "%s: %s", dir, strerror(errno));
    if (top >= 0) close(top);
    return -1;
  }
  std::unordered_map<uint64_t, uint32_t> first_name;
  std::unordered_map<uint64_t, std::vector<uint32_t>> aliases;
  std::vector<std::string> names;
  std::string where;
  // Every file with more than one link is shared with another tree, as
  // cow-shell's inode list says; a mount inside stays out.
  std::function<int(int, const std::string&)> walk = [&](int fd, const std::string& rel) -> int {
    return each_entry(fd, [&](const char* name, unsigned char type, uint64_t) -> int {
      std::string r = rel.empty() ? name : rel + "/" + name;
      struct stat st;
      if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT ? 0 : (where = r, -errno);
      if (S_ISDIR(st.st_mode)) {
        if (st.st_dev != tst.st_dev) return 0;
        int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) return errno == EACCES ? 0 : (where = r, -errno);
        int e = walk(sub, r);
        close(sub);
        return e;
      }
      // No names: cow-shell gives the written name alone its copy (the
      // other names under DIR may well be the base's own).
      if (st.st_nlink >= 2 && st.st_dev == tst.st_dev) first_name.emplace(st.st_ino, 0);
      return 0;
    });
  };
  int e = walk(top, "");
  close(top);
  if (e) {
    say(err, errlen, "%s/%s: %s", dir, where.c_str(), strerror(-e));
    return -1;
  }
  unlink(set_path);
  if (int w = write_shared_set(set_path, tst.st_dev, first_name, aliases, names)) {
    say(err, errlen, "%s: %s", set_path, strerror(w));
    return -1;
  }
  return 0;
}

int pool_take(const char* base, const char* runs, const char* id, char* slot_out, char* root_out, size_t n,
              char* err, size_t errlen) {
  std::string r = runs, slot = r + "/run-" + id, root = slot + "/root";
  if (root.size() + 1 > n) {
    say(err, errlen, "%s: %s", root.c_str(), strerror(ENAMETOOLONG));
    return -1;
  }
  if (mkdir(runs, 0700) < 0 && errno != EEXIST) {
    say(err, errlen, "cannot create %s: %s", runs, strerror(errno));
    return -1;
  }
  // Only a pool nobody else can reach hands out roots (or takes them).
  if (std::string why = not_private(runs); !why.empty()) {
    say(err, errlen, "%s %s: not a pool of this user's, not used", runs, why.c_str());
    return -1;
  }
  bool claimed = false;
  if (DIR* d = opendir(runs)) {
    while (dirent* de = readdir(d)) {
      if (strncmp(de->d_name, "ready-", 6) != 0) continue;
      if (rename((r + "/" + de->d_name).c_str(), slot.c_str()) == 0) {
        claimed = true;
        break;
      }
    }
    closedir(d);
  }
  if (!claimed) {
    if (mkdir(slot.c_str(), 0700) < 0) {
      say(err, errlen, "cannot create %s: %s", slot.c_str(), strerror(errno));
      return -1;
    }
    if (cow_clone(base, root.c_str(), err, errlen) < 0) {
      rmdir(slot.c_str());
      return -1;
    }
  }
  memcpy(slot_out, slot.c_str(), slot.size() + 1);
  memcpy(root_out, root.c_str(), root.size() + 1);
  return 0;
}

int pool_give_back(const char* runs, const char* slot, const char* id, int keep, char* err, size_t errlen) {
  int ready = 0;
  if (DIR* d = opendir(runs)) {
    while (dirent* de = readdir(d)) ready += strncmp(de->d_name, "ready-", 6) == 0;
    closedir(d);
  }
  std::string root = std::string(slot) + "/root";
  if (ready < keep && cow_reset_fast(root.c_str(), err, errlen) == 0 &&
      rename(slot, (std::string(runs) + "/ready-" + id).c_str()) == 0)
    return 0;
  return remove_tree(slot, err, errlen);
}

int remove_tree(const char* path_in, char* err, size_t errlen) {
  std::string path = path_in;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  size_t sl = path.rfind('/');
  std::string parent = sl == std::string::npos ? "." : sl == 0 ? "/" : path.substr(0, sl);
  std::string name = sl == std::string::npos ? path : path.substr(sl + 1);
  if (name.empty() || name == "." || name == ".." || name == "/") {
    say(err, errlen, "%s: %s", path.c_str(), strerror(EINVAL));
    return -1;
  }
  Fd pfd(open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat st;
  if (pfd < 0 || fstatat(pfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
    say(err, errlen, "%s: %s", path.c_str(), strerror(errno));
    return -1;
  }
  // Depth first with descriptors: a symlink is removed, never followed; a
  // mount (a bind mount of the same file system too) stops the removal.
  std::string mount;
  int e = remove_at(pfd, name.c_str(), path, &mount);
  if (e == -EXDEV && !mount.empty()) {
    say(err, errlen, "%s is a mount point: not removed (unmount it first)", mount.c_str());
    return -1;
  }
  if (e) {
    say(err, errlen, "cannot remove %s: %s", path.c_str(), strerror(-e));
    return -1;
  }
  return 0;
}

namespace {

// The `dirs` file of a clone: after this header, one line per directory
// of the clone (its top "." first), "STAMP PATH", where STAMP is a fixed-
// width record of what the directory was when last made or reset: inode,
// mtime, ctime and mode in hex. ctime cannot be set from user space, so a
// change behind the library's back cannot hide by restoring an mtime.
constexpr char kDirsHeader[] = "# cowroot dirs 2: inode mtime ctime mode (hex), path\n";
constexpr size_t kDirsHeaderLen = sizeof kDirsHeader - 1;
constexpr size_t kStampLen = 16 + 1 + 16 + 1 + 8 + 1 + 16 + 1 + 8 + 1 + 4;

void put_hex(char* out, uint64_t v, int width) {
  static const char digits[] = "0123456789abcdef";
  for (int i = width - 1; i >= 0; i--, v >>= 4) out[i] = digits[v & 15];
}

void stamp(char* out, uint64_t ino, int64_t ms, uint32_t mns, int64_t cs, uint32_t cns, uint32_t mode) {
  put_hex(out, ino, 16);
  out[16] = ' ';
  put_hex(out + 17, (uint64_t)ms, 16);
  out[33] = '.';
  put_hex(out + 34, mns, 8);
  out[42] = ' ';
  put_hex(out + 43, (uint64_t)cs, 16);
  out[59] = '.';
  put_hex(out + 60, cns, 8);
  out[68] = ' ';
  put_hex(out + 69, mode & 07777, 4);
}

void stamp_of(const struct stat& st, char* out) {
  stamp(out, st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec, st.st_mode);
}

// The mode a stamp recorded.
mode_t stamp_mode(const char* rec) {
  mode_t m = 0;
  for (int i = 69; i < 73; i++) m = m * 16 + (rec[i] <= '9' ? rec[i] - '0' : rec[i] - 'a' + 10);
  return m;
}

// What tells a base from another one at the same path (an image refreshed,
// a base changed and sealed again): the identity and change time of its
// top, and those of its seal manifest. Written to a clone's `base` file
// (second line) when it is made, compared by reset.
std::string base_identity(const std::string& base) {
  struct statx r {}, m {};
  if (statx(AT_FDCWD, base.c_str(), 0, STATX_INO | STATX_CTIME, &r) < 0) return "";
  bool sealed = statx(AT_FDCWD, (base + ".cowroot/manifest").c_str(), AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_CTIME,
                      &m) == 0;
  if (!sealed) m = {};
  char buf[200];
  snprintf(buf, sizeof buf, "id %x:%x %" PRIx64 " %" PRIx64 ".%x %" PRIx64 " %" PRIx64 ".%x", r.stx_dev_major,
           r.stx_dev_minor, (uint64_t)r.stx_ino, (uint64_t)r.stx_ctime.tv_sec, r.stx_ctime.tv_nsec,
           (uint64_t)m.stx_ino, (uint64_t)m.stx_ctime.tv_sec, m.stx_ctime.tv_nsec);
  return buf;
}

// Records the clone's top as it is now: renaming a directory into place
// changes its ctime on some file systems.
bool restamp_top(const std::string& clone) {
  struct stat st;
  if (lstat(clone.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) return false;
  char rec[kStampLen];
  stamp_of(st, rec);
  Fd fd(open((clone + ".cowroot/dirs").c_str(), O_WRONLY | O_CLOEXEC));
  return fd >= 0 && pwrite(fd, rec, kStampLen, kDirsHeaderLen) == (ssize_t)kStampLen;
}

}  // namespace

int cow_clone(const char* src_in, const char* dest_in, char* err, size_t errlen) {
  char srcbuf[4096];
  struct stat sst;
  if (stat(src_in, &sst) < 0) {
    say(err, errlen, "%s: %s", src_in, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(sst.st_mode)) {
    say(err, errlen, "%s: not a directory", src_in);
    return -1;
  }
  if (!realpath(src_in, srcbuf)) {
    say(err, errlen, "%s: %s", src_in, strerror(errno));
    return -1;
  }
  std::string src = srcbuf, dest = dest_in;
  while (dest.size() > 1 && dest.back() == '/') dest.pop_back();
  {
    // Where DEST would be, canonical: not in SRC (the walk would copy the
    // clone into itself) and not around it or its metadata.
    size_t sl = dest.rfind('/');
    std::string name = sl == std::string::npos ? dest : dest.substr(sl + 1);
    char pbuf[4096];
    if (name != "." && name != ".." && realpath(parent_of(dest).c_str(), pbuf)) {
      std::string p = pbuf, at = (p == "/" ? "" : p) + "/" + name;
      std::string why;
      if (at == src) why = "is " + src + " itself";
      else if (inside(at, src)) why = "is inside " + src + ": a clone cannot be made inside its own base";
      else if (inside(src, at) || inside(src, at + ".cowroot"))
        why = "would contain " + src + ": a clone cannot be made around its own base";
      else if (inside(at, src + ".cowroot")) why = "is inside " + src + ".cowroot, the metadata of " + src;
      if (!why.empty()) {
        say(err, errlen, "%s %s", dest.c_str(), why.c_str());
        return -1;
      }
    }
  }
  if (file_exists(dest)) {
    say(err, errlen, "%s already exists", dest.c_str());
    return -1;
  }
  if (file_exists(dest + ".cowroot")) {
    say(err, errlen, "%s.cowroot already exists (the metadata of an earlier clone?)", dest.c_str());
    return -1;
  }
  struct stat pst;
  std::string parent = parent_of(dest);
  if (stat(parent.c_str(), &pst) < 0) {
    say(err, errlen, "%s: %s", parent.c_str(), strerror(errno));
    return -1;
  }
  if (pst.st_dev != sst.st_dev) {
    say(err, errlen,
        "%s is on another file system than %s: hard links cannot cross file systems "
        "(make a full copy instead: cp -a %s %s)",
        dest.c_str(), src.c_str(), src.c_str(), dest.c_str());
    return -1;
  }
  std::string tmp = dest + ".cowroot-new-" + std::to_string(getpid());
  std::string tmpside = tmp + ".side";
  auto fail = [&](const std::string& what, int e) {
    char ignore[256];
    say(err, errlen, "%s: %s", what.c_str(), strerror(e));
    remove_tree(tmp.c_str(), ignore, sizeof ignore);
    remove_tree(tmpside.c_str(), ignore, sizeof ignore);
    return -1;
  };
  if (mkdir(tmp.c_str(), 0700) < 0) return fail(tmp, errno);
  if (mkdir(tmpside.c_str(), 0700) < 0 || mkdir((tmpside + "/state").c_str(), 0700) < 0) return fail(tmpside, errno);

  // The walk: one linkat per file, new directories.
  struct DirPair {
    std::string rel;
    uint64_t src_ino;
    Key dst;
    Birth dst_birth;
    struct timespec times[2];
    char stamp[kStampLen];
  };
  std::vector<DirPair> dirs;
  std::unordered_map<uint64_t, uint32_t> first_name;     // ino -> index in names
  std::unordered_map<uint64_t, std::vector<uint32_t>> aliases;
  std::vector<std::string> names;
  int err_code = 0;
  std::string err_where;
  struct stat tst;  // the clone being made: never walked into (DEST inside SRC)
  if (stat(tmp.c_str(), &tst) < 0) return fail(tmp, errno);
  std::function<int(int, int, const std::string&)> walk = [&](int sfd, int dfd, const std::string& rel) -> int {
    return each_entry(sfd, [&](const char* name, unsigned char type, uint64_t ino) -> int {
      std::string r = rel.empty() ? name : rel + "/" + name;
      if (type == DT_DIR || type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return err_where = r, -errno;
        if (S_ISDIR(st.st_mode)) {
          if (st.st_dev == tst.st_dev && st.st_ino == tst.st_ino) return err_where = r, -ELOOP;
          // Made with its final mode (and always searchable by us); its
          // times are set once its entries are in. A mount inside the base
          // (a bind mount of the same file system too) stays empty.
          Fd s2(open_beneath(sfd, name, O_RDONLY | O_DIRECTORY));
          bool mount = s2 == -EXDEV || (s2 >= 0 && st.st_dev != sst.st_dev);
          if (s2 < 0 && !mount) return err_where = r, s2.fd;
          if (mkdirat(dfd, name, (st.st_mode & 07777) | 0700) < 0) return err_where = r, -errno;
          Fd d2(openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
          if (d2 < 0) return err_where = r, -errno;
          size_t at = dirs.size();
          dirs.push_back(DirPair{r, st.st_ino, Key{}, Birth{}, {st.st_atim, st.st_mtim}, {}});
          if (!mount)
            if (int e = walk(s2, d2, r)) return e;
          futimens(d2, dirs[at].times);
          // As reset will find it: identity, times, mode.
          struct statx dx;
          if (statx(d2, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &dx) < 0) return err_where = r, -errno;
          DirPair& p = dirs[at];
          p.dst = Key{makedev(dx.stx_dev_major, dx.stx_dev_minor), dx.stx_ino};
          p.dst_birth = (dx.stx_mask & STATX_BTIME) ? Birth{dx.stx_btime.tv_sec, dx.stx_btime.tv_nsec} : Birth{};
          stamp(p.stamp, dx.stx_ino, dx.stx_mtime.tv_sec, dx.stx_mtime.tv_nsec, dx.stx_ctime.tv_sec,
                dx.stx_ctime.tv_nsec, dx.stx_mode);
          return 0;
        }
      }
      if (linkat(sfd, name, dfd, name, 0) < 0) return err_where = r, -errno;
      {  // every non-directory is shared: a symlink's or a fifo's times and modes are the base's too
        auto [it, fresh] = first_name.emplace(ino, (uint32_t)names.size());
        if (fresh) {
          names.push_back(r);
        } else {
          auto& v = aliases[ino];
          if (v.empty()) v.push_back(it->second);
          v.push_back((uint32_t)names.size());
          names.push_back(r);
        }
      }
      return 0;
    });
  };
  {
    Fd sfd(open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (sfd < 0) return fail(src, errno);
    Fd dfd(open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd < 0) return fail(tmp, errno);
    // Directories get the base's modes, not what the umask leaves of them
    // (/tmp stays 1777).
    mode_t mask = umask(0);
    err_code = walk(sfd, dfd, "");
    umask(mask);
  }
  if (err_code) return fail(src + "/" + err_where, -err_code);
  chmod(tmp.c_str(), (sst.st_mode & 07777) | 0700);
  struct timespec top_times[2] = {sst.st_atim, sst.st_mtim};
  utimensat(AT_FDCWD, tmp.c_str(), top_times, 0);

  // The clone's own fake state: the base's, plus entries for its new directories.
  std::string base_state = src + ".cowroot/state";
  if (file_exists(base_state + "/table")) {
    if (!copy_file(base_state + "/table", tmpside + "/state/table") ||
        !copy_file(base_state + "/xattr", tmpside + "/state/xattr"))
      return fail(tmpside + "/state", errno ? errno : EIO);
  }
  {
    State st;
    if (int e = st.open((tmpside + "/state").c_str(), true)) return fail(tmpside + "/state", -e);
    struct stat top;
    stat(tmp.c_str(), &top);
    std::vector<std::pair<uint64_t, std::pair<Key, Birth>>> all;
    all.push_back({sst.st_ino, {Key{top.st_dev, top.st_ino}, birth_of(AT_FDCWD, tmp.c_str())}});
    for (auto& d : dirs) all.push_back({d.src_ino, {d.dst, d.dst_birth}});
    for (auto& [src_ino, dst] : all) {
      Meta m;
      if (!st.lookup(Key{sst.st_dev, src_ino}, &m)) continue;
      m.birth = dst.second;
      if (int e = st.put(dst.first, m)) return fail(tmpside + "/state", -e);
    }
  }

  // The shared set.
  if (int e = write_shared_set(tmpside + "/shared", sst.st_dev, first_name, aliases, names))
    return fail(tmpside + "/shared", e);
  {
    FILE* b = fopen((tmpside + "/base").c_str(), "wxe");
    if (!b || fprintf(b, "%s\n%s\n", src.c_str(), base_identity(src).c_str()) < 0 || fclose(b) != 0)
      return fail(tmpside + "/base", errno);
  }
  // What reset needs: the directories and their times (a change behind the
  // library's back shows as a directory time that moved), and the clean state.
  {
    struct stat top;
    if (stat(tmp.c_str(), &top) < 0) return fail(tmp, errno);
    char rec[kStampLen];
    stamp_of(top, rec);
    std::string text = kDirsHeader;
    text.append(rec, kStampLen).append(" .\n");
    for (auto& d : dirs) text.append(d.stamp, kStampLen).append(" ").append(d.rel).append("\n");
    FILE* f = fopen((tmpside + "/dirs").c_str(), "wxe");
    if (!f) return fail(tmpside + "/dirs", errno);
    bool ok = fwrite(text.data(), 1, text.size(), f) == text.size();
    if (fclose(f) != 0 || !ok) return fail(tmpside + "/dirs", errno ? errno : EIO);
    if (mkdir((tmpside + "/clean").c_str(), 0700) < 0 ||
        !copy_file(tmpside + "/state/table", tmpside + "/clean/table") ||
        !copy_file(tmpside + "/state/xattr", tmpside + "/clean/xattr"))
      return fail(tmpside + "/clean", errno ? errno : EIO);
  }
  // Commit: the sidecar, then the clone itself.
  if (rename(tmpside.c_str(), (dest + ".cowroot").c_str()) < 0) return fail(dest + ".cowroot", errno);
  if (rename(tmp.c_str(), dest.c_str()) < 0) {
    int e = errno;
    char ignore[256];
    remove_tree((dest + ".cowroot").c_str(), ignore, sizeof ignore);
    return fail(dest, e);
  }
  restamp_top(dest);  // at worst, the first reset re-clones
  return 0;
}

namespace {

// The inodes a clone shares with its base, mapped when reset first needs it.
struct SharedMap {
  std::string path;
  const SharedSet* set = nullptr;
  size_t len = 0;
  bool tried = false;
  ~SharedMap() {
    if (set) munmap(const_cast<SharedSet*>(set), len);
  }
  bool has(dev_t dev, ino_t ino) {
    if (!tried) {
      tried = true;
      Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
      struct stat st;
      if (fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(SharedSet)) {
        void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p != MAP_FAILED) {
          set = static_cast<const SharedSet*>(p);
          len = st.st_size;
          if (!shared_valid(set, len)) {
            munmap(p, len);
            set = nullptr;
          }
        }
      }
    }
    return set && dev == set->dev && shared_find(set, ino);
  }
};

std::string parent_rel(const std::string& rel) {
  size_t sl = rel.rfind('/');
  return sl == std::string::npos ? "." : rel.substr(0, sl);
}

}  // namespace

bool read_journal(std::istream& in, std::vector<std::string>* paths, std::unordered_set<std::string>* touched) {
  std::unordered_set<std::string> seen;  // the journal's names: a directory's may follow its children's
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '/') return false;
    std::string rel;
    for (size_t at = 0; at <= line.size();) {
      size_t sl = line.find('/', at);
      if (sl == std::string::npos) sl = line.size();
      std::string part = line.substr(at, sl - at);
      if (part == "..") return false;
      if (!part.empty() && part != ".") rel += (rel.empty() ? "" : "/") + part;
      at = sl + 1;
    }
    if (rel.empty()) {
      touched->insert(".");
      continue;
    }
    if (!seen.insert(rel).second) continue;
    paths->push_back(rel);
    touched->insert(rel);
    touched->insert(parent_rel(rel));
  }
  return true;
}

namespace {

// chmod of pfd/name, a directory beneath pfd, through a descriptor: never
// through a symlink or into a mount.
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

// What a clone's sidecar says about it, and its lock.
struct CloneRecord {
  std::string clone, side, base, id;
  Fd lock;
};

// Reads CLONE.cowroot/base and takes the clone's lock (a running session
// holds it): -1 with the reason in err when it is no clone, its base is
// gone or it is in use.
int open_clone(const char* clone_in, CloneRecord* c, char* err, size_t errlen) {
  c->clone = clone_in;
  while (c->clone.size() > 1 && c->clone.back() == '/') c->clone.pop_back();
  c->side = c->clone + ".cowroot";
  {
    FILE* f = fopen((c->side + "/base").c_str(), "re");
    if (!f) {
      say(err, errlen, "%s is not a clone (no %s/base)", c->clone.c_str(), c->side.c_str());
      return -1;
    }
    char buf[4096];
    if (fgets(buf, sizeof buf, f)) c->base = buf;
    if (fgets(buf, sizeof buf, f)) c->id = buf;
    fclose(f);
    while (!c->base.empty() && c->base.back() == '\n') c->base.pop_back();
    while (!c->id.empty() && c->id.back() == '\n') c->id.pop_back();
  }
  struct stat bst;
  if (c->base.empty() || stat(c->base.c_str(), &bst) < 0 || !S_ISDIR(bst.st_mode)) {
    say(err, errlen, "the base of %s (%s) is gone", c->clone.c_str(), c->base.c_str());
    return -1;
  }
  c->lock = Fd(open((c->side + "/state/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (c->lock >= 0 && flock(c->lock, LOCK_EX | LOCK_NB) < 0) {
    say(err, errlen, "%s is in use by a running session", c->clone.c_str());
    return -1;
  }
  return 0;
}

// The fast reset of an open clone: 0 done, 1 a full re-clone is needed, -1
// refused (err says why) with nothing changed.
int reset_journal(const CloneRecord& c, char* err, size_t errlen) {
  const std::string &clone = c.clone, &side = c.side, &base = c.base;
  Fd rootfd(open(clone.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (rootfd < 0) {
    say(err, errlen, "%s: %s", clone.c_str(), strerror(errno));
    return -1;
  }
  // Never into a mount: one inside the clone or its metadata is the user's
  // to take away first (a full re-clone could not remove it either).
  {
    char link[32], real[4096];
    sys::proc_fd_path(rootfd, link);
    ssize_t n = readlink(link, real, sizeof real - 1);
    if (n > 0 && real[0] == '/') {
      std::string r(real, n);
      std::string m = mount_under({r, r + ".cowroot"});
      if (!m.empty()) {
        say(err, errlen, "%s is a mount point inside %s: unmount it first", m.c_str(), clone.c_str());
        return -1;
      }
    }
  }
  // Another base at the same path (an image refreshed, a base changed and
  // sealed again): its inodes are not the clone's recorded shared set, so
  // nothing of it may be linked in by name. Only a full re-clone will do.
  if (c.id.empty() || base_identity(base) != c.id) return 1;
  Fd baseroot(open(base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (baseroot < 0) return 1;

  // The journal: every name the library saw change, relative to the clone.
  // A name that is not a plain relative path was not written by us: the
  // journal cannot be trusted.
  std::vector<std::string> paths;
  std::unordered_set<std::string> touched;  // the journal's names and their directories
  {
    std::ifstream in(side + "/journal");
    if (!read_journal(in, &paths, &touched)) return 1;
  }
  // A directory the journal does not explain must be as it was made or
  // last reset: same inode, mtime, ctime and mode. One fstatat per
  // directory from the clone's top: most of a reset.
  std::string text;
  Fd dirs(open((side + "/dirs").c_str(), O_RDWR | O_CLOEXEC));
  {
    if (dirs < 0) return 1;
    char buf[65536];
    ssize_t n;
    while ((n = read(dirs, buf, sizeof buf)) > 0) text.append(buf, n);
    if (n < 0 || text.compare(0, kDirsHeaderLen, kDirsHeader) != 0) return 1;  // unreadable, or an older format
  }
  std::unordered_map<std::string, size_t> stamp_at;  // touched directories' records in `text`
  for (size_t at = kDirsHeaderLen; at < text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos || nl < at + kStampLen + 2 || text[at + kStampLen] != ' ') return 1;
    std::string rel = text.substr(at + kStampLen + 1, nl - at - kStampLen - 1);
    if (touched.count(rel)) {
      stamp_at[rel] = at;
    } else {
      struct stat st;
      char now[kStampLen];
      if (fstatat(rootfd, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) return 1;
      stamp_of(st, now);
      if (memcmp(now, text.data() + at, kStampLen) != 0) return 1;
    }
    at = nl + 1;
  }
  // The record of a directory reset may touch beyond the journal's (rare: a
  // parent remade): found by a scan.
  auto stamp_of_rel = [&](const std::string& rel) -> const char* {
    auto it = stamp_at.find(rel);
    if (it != stamp_at.end()) return text.data() + it->second;
    for (size_t at = kDirsHeaderLen; at < text.size();) {
      size_t nl = text.find('\n', at);
      if (nl - at - kStampLen - 1 == rel.size() && text.compare(at + kStampLen + 1, rel.size(), rel) == 0) {
        stamp_at[rel] = at;
        return text.data() + at;
      }
      at = nl + 1;
    }
    return nullptr;
  };
  auto dir_mode = [&](const std::string& rel, mode_t base_mode) -> mode_t {
    const char* s = stamp_of_rel(rel);
    return s ? stamp_mode(s) : (base_mode & 07777) | 0700;
  };

  // Every change below is made with *at() calls on directories opened
  // beneath the clone's top: no symlink is followed and no mount entered.
  // What is not a real directory of the clone where the base has one was
  // changed behind the library's back: a full re-clone.
  SharedMap shared{side + "/shared"};
  std::unordered_set<std::string> retime;  // directories reset changed: times back, stamps taken again
  std::vector<std::string> remade;         // directories made anew: their state entries follow
  std::string ignore;
  std::function<bool(const std::string&)> restore = [&](const std::string& rel) -> bool {
    std::string name;
    Fd bp(parent_beneath(baseroot, rel, &name));
    struct stat bs;
    bool have_b = false;
    if (bp >= 0) {
      have_b = fstatat(bp, name.c_str(), &bs, AT_SYMLINK_NOFOLLOW) == 0;
      if (!have_b && errno != ENOENT) return false;
    } else if (bp != -ENOENT && bp != -ENOTDIR) {
      return false;
    }
    Fd cp(parent_beneath(rootfd, rel, &name));
    std::string where = clone + "/" + rel;
    if (!have_b) {
      if (cp == -ENOENT || cp == -ENOTDIR) return true;  // nothing of it in the clone either
      if (cp < 0) return false;
      struct stat cs;
      if (fstatat(cp, name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT;
      if (remove_at(cp, name.c_str(), where, &ignore) < 0) return false;
      retime.insert(parent_rel(rel));
      return true;
    }
    if (cp == -ENOENT) {  // the parent first
      if (rel.find('/') == std::string::npos || !restore(parent_rel(rel))) return false;
      cp = Fd(parent_beneath(rootfd, rel, &name));
    }
    if (cp < 0) return false;
    struct stat cs;
    bool have_c = fstatat(cp, name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) == 0;
    if (!have_c && errno != ENOENT) return false;
    if (S_ISDIR(bs.st_mode)) {
      mode_t want = dir_mode(rel, bs.st_mode);
      if (have_c && S_ISDIR(cs.st_mode)) {
        if ((cs.st_mode & 07777) == want) return true;
        if (!chmod_beneath(cp, name.c_str(), want)) return false;
        retime.insert(rel);
        return true;
      }
      if (have_c && remove_at(cp, name.c_str(), where, &ignore) < 0) return false;
      if (mkdirat(cp, name.c_str(), 0700) < 0 || !chmod_beneath(cp, name.c_str(), want)) return false;
      remade.push_back(rel);
      retime.insert(rel);
      retime.insert(parent_rel(rel));
      return true;
    }
    if (have_c && cs.st_ino == bs.st_ino && cs.st_dev == bs.st_dev) return true;
    // Only an inode the clone shares by record may come back by name: one
    // the base has gained since would be written in place.
    if (S_ISREG(bs.st_mode) && !shared.has(bs.st_dev, bs.st_ino)) return false;
    if (have_c && remove_at(cp, name.c_str(), where, &ignore) < 0) return false;
    if (linkat(bp, name.c_str(), cp, name.c_str(), 0) < 0) return false;
    retime.insert(parent_rel(rel));
    return true;
  };
  // Parents before children: a directory comes back before what is in it,
  // and a new directory goes with everything in it.
  std::sort(paths.begin(), paths.end(), [](const std::string& a, const std::string& b) {
    size_t da = std::count(a.begin(), a.end(), '/'), db = std::count(b.begin(), b.end(), '/');
    return da != db ? da < db : a < b;
  });
  for (auto& p : paths)
    if (!restore(p)) return 1;
  // A directory the journal touched may also hold what nobody recorded:
  // its entries are reconciled with the base's, name by name, and its mode
  // and real xattrs go back to what the clone was made with (none).
  for (auto& rel : touched) {
    Fd bd(open_beneath(baseroot, rel.c_str(), O_RDONLY | O_DIRECTORY));
    if (bd < 0) {
      if (bd == -ENOENT || bd == -ENOTDIR || bd == -ELOOP || bd == -EXDEV) continue;  // no directory in the base
      return 1;
    }
    Fd cd(open_beneath(rootfd, rel.c_str(), O_RDONLY | O_DIRECTORY));
    if (cd < 0) return 1;  // the base has a directory here, so the clone must have one by now
    struct stat bs, cs;
    if (fstat(bd, &bs) < 0 || fstat(cd, &cs) < 0) return 1;
    mode_t want = dir_mode(rel, bs.st_mode);
    if ((cs.st_mode & 07777) != want) {
      if (fchmod(cd, want) < 0) return 1;
      retime.insert(rel);
    }
    char xnames[4096];
    ssize_t xl = flistxattr(cd, xnames, sizeof xnames);
    if (xl < 0 && errno != ENOTSUP && errno != EOPNOTSUPP) return 1;
    for (ssize_t i = 0; i < xl; i += strlen(xnames + i) + 1) {
      if (strncmp(xnames + i, "user.", 5) != 0) continue;
      if (fremovexattr(cd, xnames + i) < 0) return 1;
      retime.insert(rel);
    }
    struct Entry {
      uint64_t ino;
      unsigned char type;
    };
    auto names_of = [](int fd, std::unordered_map<std::string, Entry>* out) {
      return each_entry(fd, [&](const char* n, unsigned char type, uint64_t ino) {
        (*out)[n] = Entry{ino, type};
        return 0;
      }) == 0;
    };
    std::unordered_map<std::string, Entry> cn, bn;
    if (!names_of(cd, &cn) || !names_of(bd, &bn)) return 1;
    for (auto& [n, ce] : cn) {
      if (bn.count(n)) continue;
      if (remove_at(cd, n.c_str(), clone + "/" + rel + "/" + n, &ignore) < 0) return 1;
      retime.insert(rel);
    }
    for (auto& [n, be] : bn) {
      std::string r = rel == "." ? n : rel + "/" + n;
      auto it = cn.find(n);
      if (entry_is_dir(bd, n.c_str(), be.type)) {
        // A directory of the base: the clone has it (the check above saw it
        // as made, or the journal's restore made it), or it was changed
        // behind the library's back.
        if (it == cn.end() || !entry_is_dir(cd, n.c_str(), it->second.type)) return 1;
      } else if ((it == cn.end() || it->second.ino != be.ino) && !restore(r)) {
        return 1;
      }
    }
  }
  // The state as it was made, plus entries for directories made anew (no
  // copy when nothing was written to it: its change counter says so).
  bool state_changed = true;
  {
    State now, clean;
    if (now.open((side + "/state").c_str(), false) == 0 && clean.open((side + "/clean").c_str(), false) == 0)
      state_changed = now.changes() != clean.changes();
  }
  // Most of the table is as it was: only the pages that differ go back.
  if (state_changed && restore_in_place(side + "/clean/table", side + "/state/table") &&
      restore_in_place(side + "/clean/xattr", side + "/state/xattr"))
    state_changed = false;
  if (state_changed && (!copy_file(side + "/clean/table", side + "/state/table.reset") ||
      !copy_file(side + "/clean/xattr", side + "/state/xattr.reset") ||
      rename((side + "/state/xattr.reset").c_str(), (side + "/state/xattr").c_str()) < 0 ||
      rename((side + "/state/table.reset").c_str(), (side + "/state/table").c_str()) < 0)) {
    unlink((side + "/state/table.reset").c_str());
    unlink((side + "/state/xattr.reset").c_str());
    return 1;
  }
  if (!remade.empty()) {
    State fresh;
    if (fresh.open((side + "/state").c_str(), false) < 0) return 1;
    for (auto& rel : remade) {
      std::string name;
      Fd bp(parent_beneath(baseroot, rel, &name)), cp(parent_beneath(rootfd, rel, &name));
      struct stat bs, cs;
      if (bp < 0 || cp < 0 || fstatat(bp, name.c_str(), &bs, AT_SYMLINK_NOFOLLOW) < 0 ||
          fstatat(cp, name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) < 0)
        return 1;
      Meta m;
      if (!fresh.lookup(Key{bs.st_dev, bs.st_ino}, &m)) continue;
      m.birth = birth_of(cp, name.c_str());
      if (fresh.put(Key{cs.st_dev, cs.st_ino}, m) < 0) return 1;
    }
  }
  // Directory times as in the base, deepest first (their entries changed
  // them); then each one's stamp again, ctime included, for the next reset.
  std::vector<std::string> order(retime.begin(), retime.end());
  std::sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  for (auto& rel : order) {
    Fd bd(open_beneath(baseroot, rel.c_str(), O_PATH | O_DIRECTORY));
    std::string name;
    Fd cp(rel == "." ? Fd(dup(rootfd)) : Fd(parent_beneath(rootfd, rel, &name)));
    if (rel == ".") name = ".";
    struct stat bs, cs;
    if (bd < 0 || cp < 0 || fstat(bd, &bs) < 0 || fstatat(cp, name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISDIR(cs.st_mode))
      continue;
    struct timespec t[2] = {bs.st_atim, bs.st_mtim};
    utimensat(cp, name.c_str(), t, AT_SYMLINK_NOFOLLOW);
  }
  for (auto& rel : order) {
    const char* s = stamp_of_rel(rel);
    struct stat cs;
    if (!s || fstatat(rootfd, rel.c_str(), &cs, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(cs.st_mode)) continue;
    char rec[kStampLen];
    stamp_of(cs, rec);
    if (memcmp(rec, s, kStampLen) != 0 &&
        pwrite(dirs, rec, kStampLen, s - text.data()) != (ssize_t)kStampLen)
      return 1;
  }
  unlink((side + "/journal").c_str());
  return 0;
}

}  // namespace

int cow_reset_fast(const char* clone, char* err, size_t errlen) {
  CloneRecord c;
  if (open_clone(clone, &c, err, errlen) < 0) return -1;
  return reset_journal(c, err, errlen);
}

int cow_reset(const char* clone, char* err, size_t errlen) {
  CloneRecord c;
  if (open_clone(clone, &c, err, errlen) < 0) return -1;
  int fast = reset_journal(c, err, errlen);
  if (fast <= 0) return fast;
  // A full re-clone from the base as it is now (with its own shared set),
  // made beside the clone first and then swapped in: never a half-reset
  // clone.
  std::string pid = std::to_string(getpid());
  std::string fresh = c.clone + ".cowroot-reset-" + pid, old = c.clone + ".cowroot-old-" + pid;
  if (cow_clone(c.base.c_str(), fresh.c_str(), err, errlen) < 0) return -1;
  const std::pair<std::string, std::string> moves[] = {
      {c.clone, old}, {c.side, old + ".cowroot"}, {fresh + ".cowroot", c.side}, {fresh, c.clone}};
  for (size_t i = 0; i < 4; i++) {
    if (rename(moves[i].first.c_str(), moves[i].second.c_str()) == 0) continue;
    int e = errno;
    while (i-- > 0) rename(moves[i].second.c_str(), moves[i].first.c_str());
    char ignore[256];
    remove_tree(fresh.c_str(), ignore, sizeof ignore);
    remove_tree((fresh + ".cowroot").c_str(), ignore, sizeof ignore);
    say(err, errlen, "cannot put the fresh clone in place of %s: %s", c.clone.c_str(), strerror(e));
    return -1;
  }
  restamp_top(c.clone);
  if (remove_tree(old.c_str(), err, errlen) < 0 || remove_tree((old + ".cowroot").c_str(), err, errlen) < 0) return -1;
  return 0;
}

int cow_seal(const char* base_in, char* err, size_t errlen) {
  char buf[4096];
  if (!realpath(base_in, buf)) {
    say(err, errlen, "%s: %s", base_in, strerror(errno));
    return -1;
  }
  std::string base = buf, side = base + ".cowroot";
  struct stat bst;
  if (stat(base.c_str(), &bst) < 0 || !S_ISDIR(bst.st_mode)) {
    say(err, errlen, "%s: not a directory", base.c_str());
    return -1;
  }
  mkdir(side.c_str(), 0700);
  mkdir((side + "/state").c_str(), 0700);
  State st;
  if (int e = st.open((side + "/state").c_str(), true)) {
    say(err, errlen, "%s/state: %s", side.c_str(), strerror(-e));
    return -1;
  }
  std::string manifest;
  int code = 0;
  std::string where;
  std::function<int(int, const std::string&)> walk = [&](int dfd, const std::string& rel) -> int {
    return each_entry(dfd, [&](const char* name, unsigned char, uint64_t) -> int {
      std::string r = rel + "/" + name;
      struct statx sx;
      if (statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0) return where = r, -errno;
      // The manifest holds the file as sealing leaves it.
      bool seals = S_ISREG(sx.stx_mode) && (sx.stx_mode & 0222);
      unsigned sealed_mode = seals ? (sx.stx_mode & ~07777u) | (sx.stx_mode & 07555) | 0400 : sx.stx_mode;
      char line[256];
      snprintf(line, sizeof line, "%" PRIu64 " %" PRIu64 " %lld.%09u %o ", (uint64_t)sx.stx_ino,
               (uint64_t)sx.stx_size, (long long)sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec, sealed_mode);
      manifest += line + r + "\n";
      if (S_ISDIR(sx.stx_mode)) {
        if (makedev(sx.stx_dev_major, sx.stx_dev_minor) != bst.st_dev) return 0;
        int sub = open_beneath(dfd, name, O_RDONLY | O_DIRECTORY);
        if (sub == -EXDEV) return 0;  // a mount (a bind mount of the same file system too) is not the base's
        if (sub < 0) return where = r, sub;
        int e = walk(sub, r);
        close(sub);
        return e;
      }
      if (!S_ISREG(sx.stx_mode) || !(sx.stx_mode & 0222)) return 0;
      // The apparent mode moves into the state; the disk loses its write bits.
      Key k{makedev(sx.stx_dev_major, sx.stx_dev_minor), sx.stx_ino};
      Meta m;
      Meta real;
      real.mode = sx.stx_mode;
      real.uid = sx.stx_uid;
      real.gid = sx.stx_gid;
      if (sx.stx_mask & STATX_BTIME) real.birth = {sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec};
      if (!st.lookup(k, &m) || entry_stale(m, real)) {
        m = real;
        m.uid = m.gid = 0;
        m.xattrs = 0;
        if (int e = st.put(k, m)) return where = r, e;
      }
      if (fchmodat(dfd, name, (sx.stx_mode & 07555) | 0400, 0) < 0) return where = r, -errno;
      return 0;
    });
  };
  int fd = open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  code = fd < 0 ? -errno : walk(fd, "");
  if (fd >= 0) close(fd);
  if (code) {
    say(err, errlen, "cannot seal %s%s: %s", base.c_str(), where.c_str(), strerror(-code));
    return -1;
  }
  std::string mp = side + "/manifest";
  FILE* f = fopen((mp + ".tmp").c_str(), "we");
  if (!f || fwrite(manifest.data(), 1, manifest.size(), f) != manifest.size() || fclose(f) != 0 ||
      rename((mp + ".tmp").c_str(), mp.c_str()) != 0) {
    say(err, errlen, "cannot write %s: %s", mp.c_str(), strerror(errno));
    return -1;
  }
  return 0;
}

long cow_verify(const char* base_in, char* err, size_t errlen, void (*report)(const char*, void*), void* ctx) {
  char buf[4096];
  if (!realpath(base_in, buf)) {
    say(err, errlen, "%s: %s", base_in, strerror(errno));
    return -1;
  }
  std::string base = buf;
  FILE* f = fopen((base + ".cowroot/manifest").c_str(), "re");
  if (!f) {
    say(err, errlen, "%s is not sealed (no %s.cowroot/manifest)", base.c_str(), base.c_str());
    return -1;
  }
  std::unordered_map<std::string, std::string> want;  // path -> "ino size mtime mode"
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) {
    if (line[n - 1] == '\n') line[--n] = 0;
    char* sp = line;
    for (int i = 0; i < 4 && sp; i++) sp = strchr(sp + 1, ' ');
    if (!sp) continue;
    *sp = 0;
    want[sp + 1] = line;
  }
  free(line);
  fclose(f);
  long changes = 0;
  std::function<void(int, const std::string&)> walk = [&](int dfd, const std::string& rel) {
    each_entry(dfd, [&](const char* name, unsigned char, uint64_t) -> int {
      std::string r = rel + "/" + name;
      struct statx sx;
      if (statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0) return 0;
      char have[128];
      snprintf(have, sizeof have, "%" PRIu64 " %" PRIu64 " %lld.%09u %o", (uint64_t)sx.stx_ino,
               (uint64_t)sx.stx_size, (long long)sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec, sx.stx_mode);
      auto it = want.find(r);
      if (it == want.end()) {
        report(("new: " + r).c_str(), ctx);
        changes++;
      } else {
        // A directory's size and mtime follow its entries: those show as
        // new or missing names instead.
        bool same = S_ISDIR(sx.stx_mode) ? true : it->second == have;
        if (!same) {
          report(("changed: " + r).c_str(), ctx);
          changes++;
        }
        want.erase(it);
      }
      if (S_ISDIR(sx.stx_mode)) {
        int sub = open_beneath(dfd, name, O_RDONLY | O_DIRECTORY);  // not into a mount
        if (sub >= 0) {
          walk(sub, r);
          close(sub);
        }
      }
      return 0;
    });
  };
  int fd = open(base.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    say(err, errlen, "%s: %s", base.c_str(), strerror(errno));
    return -1;
  }
  walk(fd, "");
  close(fd);
  for (auto& [path, _] : want) {
    report(("missing: " + path).c_str(), ctx);
    changes++;
  }
  return changes;
}

}  // namespace cr
