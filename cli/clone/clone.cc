// Making clones (cow_clone) and cow-shell's record of what is shared
// under a directory (cow_scan).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "../../preload/core/errtext.h"
#include "../../preload/core/state.h"
#include "clone.h"
#include "sidecar.h"
#include "tree.h"

namespace cr {

using namespace cloning;

volatile sig_atomic_t clone_stop = 0;

namespace {

// What cow_clone makes before its commit: DEST.cowroot-new-PID and
// DEST.cowroot-new-PID.side.
bool clone_leftover(const std::string& tail) { return tail.empty() || tail == ".side"; }

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
  remove_stale(dest, ".cowroot-new-", clone_leftover);
  std::string tmp = dest + ".cowroot-new-" + std::to_string(getpid());
  std::string tmpside = tmp + ".side";
  auto fail = [&](const std::string& what, int e) {
    char ignore[256];
    say(err, errlen, "%s: %s", what.c_str(), strerror(e));
    remove_tree(tmp.c_str(), ignore, sizeof ignore);
    remove_tree(tmpside.c_str(), ignore, sizeof ignore);
    return -1;
  };
  if (mkdir(tmp.c_str(), 0700) < 0) {
    // Said of the directory DEST goes in, not of the temporary name.
    say(err, errlen, "cannot write in %s to make %s: %s", parent.c_str(), dest.c_str(), strerror(errno));
    return -1;
  }
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
      if (clone_stop) return err_where = r, -EINTR;
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
  bool copied = file_exists(base_state + "/table");
  // A sealed base or a clone has its fake state (seal and clone make it):
  // one missing would give the clone none of its owners and modes.
  bool stated = file_exists(src + ".cowroot/manifest") || file_exists(src + ".cowroot/base");
  for (const char* f : {"/table", "/xattr"}) {
    if (!stated && !copied) break;
    std::string from = base_state + f;
    if (!file_exists(from)) {
      fail(dest, 0);
      say(err, errlen, "cannot clone %s: %s: missing (`cowroot verify %s` says what else changed)", src.c_str(),
          from.c_str(), src.c_str());
      return -1;
    }
    errno = 0;
    if (!copy_file(from, tmpside + "/state" + f)) {
      int e = errno ? errno : EIO;
      fail(dest, 0);
      // Where the copy is written is named when that is what failed (a
      // full disk is the destination's, not the base's).
      if (e == ENOSPC || e == EDQUOT || e == EROFS || e == EFBIG)
        say(err, errlen, "cannot clone %s to %s: %s", src.c_str(), dest.c_str(), strerror(e));
      else
        say(err, errlen, "cannot clone %s: %s: %s", src.c_str(), from.c_str(), strerror(e));
      return -1;
    }
  }
  {
    ScopedState st;
    // Opening checks it: the base's, damaged, is said to be (its clones
    // would lose every owner and mode it holds).
    if (int e = st.open((tmpside + "/state").c_str(), true)) {
      if (!copied || e != -EBADMSG) return fail(tmpside + "/state", -e);
      char why[4096];
      say_state_error(base_state.c_str(), e, st, why, sizeof why);
      fail(dest, 0);
      say(err, errlen, "cannot clone %s: %s", src.c_str(), why);
      return -1;
    }
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
  if (clone_stop) return fail(dest, EINTR);
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

}  // namespace cr
