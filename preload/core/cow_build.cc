// The command line's side of copy-on-write: making clones, sealing and
// verifying bases, removing trees. Allocates freely; never in the preload.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
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
#include <unordered_map>
#include <vector>

#include "cow.h"
#include "cow_format.h"
#include "sys.h"
#include "errtext.h"
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

bool file_exists(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

std::string parent_of(const std::string& p) {
  size_t s = p.rfind('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : p.substr(0, s);
}

bool inside(const std::string& a, const std::string& top) {
  if (top == "/") return true;
  return a.size() >= top.size() && a.compare(0, top.size(), top) == 0 && (a.size() == top.size() || a[top.size()] == '/');
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

int remove_tree(const char* path, char* err, size_t errlen) {
  struct stat top;
  if (lstat(path, &top) < 0) {
    say(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(top.st_mode)) {
    if (unlink(path) < 0) {
      say(err, errlen, "cannot remove %s: %s", path, strerror(errno));
      return -1;
    }
    return 0;
  }
  // Depth first with descriptors: a symlink is removed, never followed; a
  // directory on another device (a mount) is left alone.
  std::function<int(int, const std::string&)> rm = [&](int dfd, const std::string& where) -> int {
    return each_entry(dfd, [&](const char* name, unsigned char type, uint64_t) -> int {
      bool dir = type == DT_DIR;
      struct stat st;
      if (type == DT_UNKNOWN || dir) {
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
        dir = S_ISDIR(st.st_mode);
        if (dir && st.st_dev != top.st_dev) {
          say(err, errlen, "%s/%s is a mount point: not removed", where.c_str(), name);
          return -EXDEV;
        }
      }
      if (dir) {
        fchmodat(dfd, name, 0700, 0);  // a directory without write or search bits is still ours
        int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) return -errno;
        int e = rm(sub, where + "/" + name);
        close(sub);
        if (e) return e;
        if (unlinkat(dfd, name, AT_REMOVEDIR) < 0) return -errno;
      } else if (unlinkat(dfd, name, 0) < 0) {
        return -errno;
      }
      return 0;
    });
  };
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int e = fd < 0 ? -errno : rm(fd, path);
  if (fd >= 0) close(fd);
  if (!e && rmdir(path) < 0) e = -errno;
  if (e) {
    if (e != -EXDEV) say(err, errlen, "cannot remove %s: %s", path, strerror(-e));
    return -1;
  }
  return 0;
}

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
  };
  std::vector<DirPair> dirs;
  std::unordered_map<uint64_t, uint32_t> first_name;     // ino -> index in names
  std::unordered_map<uint64_t, std::vector<uint32_t>> aliases;
  std::vector<std::string> names;
  int err_code = 0;
  std::string err_where;
  std::function<int(int, int, const std::string&)> walk = [&](int sfd, int dfd, const std::string& rel) -> int {
    return each_entry(sfd, [&](const char* name, unsigned char type, uint64_t ino) -> int {
      std::string r = rel.empty() ? name : rel + "/" + name;
      if (type == DT_DIR || type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return err_where = r, -errno;
        if (S_ISDIR(st.st_mode)) {
          // Made with its final mode (and always searchable by us); its
          // times are set once its entries are in.
          if (mkdirat(dfd, name, (st.st_mode & 07777) | 0700) < 0) return err_where = r, -errno;
          int s2 = openat(sfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          int d2 = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (s2 < 0 || d2 < 0) {
            int e = errno;
            if (s2 >= 0) close(s2);
            if (d2 >= 0) close(d2);
            return err_where = r, -e;
          }
          struct statx dx;
          if (statx(d2, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &dx) < 0) {
            int e = errno;
            close(s2);
            close(d2);
            return err_where = r, -e;
          }
          DirPair p{r, st.st_ino, Key{makedev(dx.stx_dev_major, dx.stx_dev_minor), dx.stx_ino},
                    (dx.stx_mask & STATX_BTIME) ? Birth{dx.stx_btime.tv_sec, dx.stx_btime.tv_nsec} : Birth{},
                    {st.st_atim, st.st_mtim}};
          dirs.push_back(p);
          int e = 0;
          if (st.st_dev == sst.st_dev) e = walk(s2, d2, r);  // a mount inside the base stays empty
          if (!e) futimens(d2, p.times);
          close(s2);
          close(d2);
          return e;
        }
      }
      if (linkat(sfd, name, dfd, name, 0) < 0) return err_where = r, -errno;
      if (type == DT_REG || type == DT_UNKNOWN) {
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
  int sfd = open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int dfd = open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sfd < 0 || dfd < 0) return fail(src, errno);
  // Directories get the base's modes, not what the umask leaves of them
  // (/tmp stays 1777).
  mode_t mask = umask(0);
  err_code = walk(sfd, dfd, "");
  umask(mask);
  close(sfd);
  close(dfd);
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
  hdr.dev = sst.st_dev;
  hdr.names_off = names_base;
  hdr.names_len = blob.size();
  {
    FILE* f = fopen((tmpside + "/shared").c_str(), "wxe");
    if (!f) return fail(tmpside + "/shared", errno);
    bool ok = fwrite(&hdr, sizeof hdr, 1, f) == 1 && fwrite(slots.data(), sizeof(SharedSlot), cap, f) == cap &&
              (blob.empty() || fwrite(blob.data(), blob.size(), 1, f) == 1);
    ok = fclose(f) == 0 && ok;
    if (!ok) return fail(tmpside + "/shared", errno ? errno : EIO);
    FILE* b = fopen((tmpside + "/base").c_str(), "wxe");
    if (!b || fprintf(b, "%s\n", src.c_str()) < 0 || fclose(b) != 0) return fail(tmpside + "/base", errno);
  }
  // What reset needs: the directories and their times (a change behind the
  // library's back shows as a directory time that moved), and the clean state.
  {
    FILE* f = fopen((tmpside + "/dirs").c_str(), "wxe");
    if (!f) return fail(tmpside + "/dirs", errno);
    fprintf(f, "%lld.%09ld .\n", (long long)sst.st_mtim.tv_sec, sst.st_mtim.tv_nsec);
    for (auto& d : dirs) fprintf(f, "%lld.%09ld %s\n", (long long)d.times[1].tv_sec, d.times[1].tv_nsec, d.rel.c_str());
    if (fclose(f) != 0) return fail(tmpside + "/dirs", errno);
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
  return 0;
}

int cow_reset_fast(const char* clone_in, char* err, size_t errlen) {
  std::string clone = clone_in;
  while (clone.size() > 1 && clone.back() == '/') clone.pop_back();
  std::string side = clone + ".cowroot";
  std::string base;
  {
    FILE* f = fopen((side + "/base").c_str(), "re");
    if (!f) {
      say(err, errlen, "%s is not a clone (no %s/base)", clone.c_str(), side.c_str());
      return -1;
    }
    char buf[4096];
    if (fgets(buf, sizeof buf, f)) base = buf;
    fclose(f);
    while (!base.empty() && base.back() == '\n') base.pop_back();
  }
  struct stat bst;
  if (base.empty() || stat(base.c_str(), &bst) < 0 || !S_ISDIR(bst.st_mode)) {
    say(err, errlen, "the base of %s (%s) is gone", clone.c_str(), base.c_str());
    return -1;
  }
  // Not while a session uses it: its daemon holds the state's lock.
  int lock = open((side + "/state/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) < 0) {
    close(lock);
    say(err, errlen, "%s is in use by a running session", clone.c_str());
    return -1;
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) close(fd);
    }
  } closer{lock};
  // The journal: every name the library saw change.
  std::vector<std::string> paths;
  {
    std::ifstream in(side + "/journal");
    std::string line;
    std::unordered_map<std::string, bool> seen;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '/' || line.find("..") != std::string::npos) continue;
      if (!seen.emplace(line, true).second) continue;
      paths.push_back(line);
    }
  }
  std::unordered_map<std::string, bool> touched;  // directories whose entries the journal explains
  for (auto& p : paths) {
    size_t sl = p.rfind('/');
    touched[sl == std::string::npos ? "." : p.substr(0, sl)] = true;
    touched[p] = true;
  }
  // A directory the journal does not explain must be as it was made: the
  // witness of changes behind the library's back: one fstatat per
  // directory, walked from the clone's top (this is most of a reset).
  {
    std::string text;
    {
      int fd = open((side + "/dirs").c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return 1;
      char buf[65536];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
      close(fd);
      if (n < 0) return 1;
    }
    int rootfd = open(clone.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rootfd < 0) return 1;
    struct RootFd {
      int fd;
      ~RootFd() { close(fd); }
    } root_closer{rootfd};
    // Each line: "MTIME REL" (REL "." for the top).
    for (size_t at = 0; at < text.size();) {
      size_t nl = text.find('\n', at);
      if (nl == std::string::npos) nl = text.size();
      size_t sp = text.find(' ', at);
      if (nl > at) {
        if (sp == std::string::npos || sp > nl) return 1;
        std::string rel = text.substr(sp + 1, nl - sp - 1);
        if (!touched.count(rel)) {
          struct stat st;
          if (fstatat(rootfd, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) return 1;
          char now[64];
          int len = snprintf(now, sizeof now, "%lld.%09ld", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
          if ((size_t)len != sp - at || text.compare(at, len, now) != 0) return 1;
        }
      }
      at = nl + 1;
    }
  }
  // Parents before children: a directory comes back before what is in it,
  // and a new directory goes with everything in it.
  std::sort(paths.begin(), paths.end(), [](const std::string& a, const std::string& b) {
    size_t da = std::count(a.begin(), a.end(), '/'), db = std::count(b.begin(), b.end(), '/');
    return da != db ? da < db : a < b;
  });
  State st;
  if (st.open((side + "/state").c_str(), false) < 0) return 1;
  std::vector<std::string> remade;  // directories made anew: their state entries follow
  char e2[512];
  std::function<bool(const std::string&)> restore = [&](const std::string& rel) -> bool {
    std::string c = clone + "/" + rel, b = base + "/" + rel;
    struct stat cs, bs;
    bool have_c = lstat(c.c_str(), &cs) == 0, have_b = lstat(b.c_str(), &bs) == 0;
    if (!have_b) return !have_c || remove_tree(c.c_str(), e2, sizeof e2) == 0;
    // The parent must exist first.
    size_t sl = rel.rfind('/');
    if (sl != std::string::npos) {
      struct stat ps;
      if (lstat((clone + "/" + rel.substr(0, sl)).c_str(), &ps) < 0 && !restore(rel.substr(0, sl))) return false;
    }
    if (S_ISDIR(bs.st_mode)) {
      if (have_c && !S_ISDIR(cs.st_mode) && unlink(c.c_str()) < 0) return false;
      if (!have_c || !S_ISDIR(cs.st_mode)) {
        if (mkdir(c.c_str(), (bs.st_mode & 07777) | 0700) < 0) return false;
        remade.push_back(rel);
      } else {
        chmod(c.c_str(), (bs.st_mode & 07777) | 0700);
      }
      return true;
    }
    if (have_c && cs.st_ino == bs.st_ino && cs.st_dev == bs.st_dev) return true;
    if (have_c && remove_tree(c.c_str(), e2, sizeof e2) < 0) return false;
    return link(b.c_str(), c.c_str()) == 0;
  };
  for (auto& p : paths)
    if (!restore(p)) return 1;
  // A directory the journal touched may also hold what nobody recorded:
  // reconcile its entries with the base's, name by name.
  for (auto& [rel, _] : touched) {
    std::string cdir = rel == "." ? clone : clone + "/" + rel, bdir = rel == "." ? base : base + "/" + rel;
    struct stat cs, bs;
    if (lstat(cdir.c_str(), &cs) < 0 || !S_ISDIR(cs.st_mode) || lstat(bdir.c_str(), &bs) < 0 || !S_ISDIR(bs.st_mode))
      continue;
    auto names_of = [](const std::string& d, std::unordered_map<std::string, uint64_t>* out) {
      int fd = open(d.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return false;
      int e = each_entry(fd, [&](const char* n, unsigned char, uint64_t ino) {
        (*out)[n] = ino;
        return 0;
      });
      close(fd);
      return e == 0;
    };
    std::unordered_map<std::string, uint64_t> cn, bn;
    if (!names_of(cdir, &cn) || !names_of(bdir, &bn)) return 1;
    for (auto& [n, ino] : cn)
      if (!bn.count(n) && remove_tree((cdir + "/" + n).c_str(), e2, sizeof e2) < 0) return 1;
    for (auto& [n, ino] : bn) {
      auto it = cn.find(n);
      std::string r = rel == "." ? n : rel + "/" + n;
      if (it == cn.end()) {
        if (!restore(r)) return 1;
      } else if (it->second != ino) {
        struct stat x;
        if (lstat((bdir + "/" + n).c_str(), &x) == 0 && !S_ISDIR(x.st_mode) && !restore(r)) return 1;
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
      struct stat bs, cs;
      if (lstat((base + "/" + rel).c_str(), &bs) < 0 || lstat((clone + "/" + rel).c_str(), &cs) < 0) return 1;
      Meta m;
      if (!fresh.lookup(Key{bs.st_dev, bs.st_ino}, &m)) continue;
      m.birth = birth_of(AT_FDCWD, (clone + "/" + rel).c_str());
      if (fresh.put(Key{cs.st_dev, cs.st_ino}, m) < 0) return 1;
    }
  }
  // Directory times as in the base, deepest first (their entries changed them).
  std::vector<std::string> dirs_to_time;
  for (auto& [rel, _] : touched) dirs_to_time.push_back(rel);
  std::sort(dirs_to_time.begin(), dirs_to_time.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  for (auto& rel : dirs_to_time) {
    std::string c = rel == "." ? clone : clone + "/" + rel, b = rel == "." ? base : base + "/" + rel;
    struct stat bs, cs;
    if (lstat(b.c_str(), &bs) < 0 || !S_ISDIR(bs.st_mode) || lstat(c.c_str(), &cs) < 0 || !S_ISDIR(cs.st_mode))
      continue;
    struct timespec t[2] = {bs.st_atim, bs.st_mtim};
    utimensat(AT_FDCWD, c.c_str(), t, AT_SYMLINK_NOFOLLOW);
  }
  unlink((side + "/journal").c_str());
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
        int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) return where = r, -errno;
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
        int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
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
