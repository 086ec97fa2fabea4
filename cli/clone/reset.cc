// Putting a clone back to its base: the fast reset that undoes what the
// journal lists (reset_journal), and the full re-clone when that cannot be
// trusted.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../../preload/core/errtext.h"
#include "../../preload/core/state.h"
#include "clone.h"
#include "sidecar.h"
#include "tree.h"

namespace cr {

using namespace cloning;

namespace {

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
  std::unordered_set<std::string> seen;     // the journal's names: a directory's may follow its children's
  {
    std::ifstream in(side + "/journal");
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line[0] == '/') return 1;
      std::string rel;
      for (size_t at = 0; at <= line.size();) {
        size_t sl = line.find('/', at);
        if (sl == std::string::npos) sl = line.size();
        std::string part = line.substr(at, sl - at);
        if (part == "..") return 1;
        if (!part.empty() && part != ".") rel += (rel.empty() ? "" : "/") + part;
        at = sl + 1;
      }
      if (rel.empty()) {
        touched.insert(".");
        continue;
      }
      if (!seen.insert(rel).second) continue;
      paths.push_back(rel);
      touched.insert(rel);
      touched.insert(parent_rel(rel));
    }
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

}  // namespace cr
