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
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "../../preload/core/errtext.h"
#include "../../preload/core/state.h"
#include "clone.h"
#include "journal.h"
#include "sidecar.h"
#include "tree.h"

namespace cr {

using namespace cloning;

bool read_journal(std::istream& in, std::vector<std::string>* paths, std::unordered_set<std::string>* touched) {
  std::unordered_set<std::string> seen;  // a directory's name may follow its children's
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

// ---- what reset reads and checks before it changes anything ---------------

// A mount point inside the clone (rootfd, its top) or its sidecar, from
// /proc/self/mountinfo; "" when there is none.
std::string mount_inside(int rootfd) {
  char link[32], real[4096];
  sys::proc_fd_path(rootfd, link);
  ssize_t n = readlink(link, real, sizeof real - 1);
  if (n <= 0 || real[0] != '/') return "";
  std::string r(real, n);
  return mount_under({r, r + ".cowroot"});
}

// Whether the base is still the one the clone was made from. Another base
// at the same path (an image refreshed, a base changed and sealed again)
// has other inodes than the clone's recorded shared set, so nothing of it
// may be linked in by name.
bool same_base(const CloneRecord& c) { return !c.id.empty() && base_identity(c.base) == c.id; }

// The journal: every name the library saw change, relative to the clone.
struct Journal {
  std::vector<std::string> paths;           // each name once, parents before children
  std::unordered_set<std::string> touched;  // those names and their directories ("." for the top)
};

// Reads CLONE.cowroot/journal (none: nothing changed). False when it cannot
// be trusted: a name that is not a plain relative path was not written by us.
bool read_journal(const std::string& path, Journal* j) {
  std::ifstream in(path);
  if (!cr::read_journal(in, &j->paths, &j->touched)) return false;
  // A directory comes back before what is in it, and a new directory goes
  // with everything in it.
  std::sort(j->paths.begin(), j->paths.end(), [](const std::string& a, const std::string& b) {
    size_t da = std::count(a.begin(), a.end(), '/'), db = std::count(b.begin(), b.end(), '/');
    return da != db ? da < db : a < b;
  });
  return true;
}

// The clone's `dirs` file (sidecar.h): each directory's stamp as made or
// last reset, read once and rewritten in place.
class DirStamps {
 public:
  // Reads the file; false when it is unreadable or of an older format.
  bool read(const std::string& path) {
    fd_ = Fd(open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd_ < 0) return false;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd_, buf, sizeof buf)) > 0) text_.append(buf, n);
    return n == 0 && text_.compare(0, kDirsHeaderLen, kDirsHeader) == 0;
  }

  // A directory the journal does not explain must be as it was made or
  // last reset: same inode, mtime, ctime and mode (ctime cannot be set from
  // user space). One fstatat per directory from the clone's top: most of a
  // reset. False when one differs or the file is malformed.
  bool unchanged_outside(int rootfd, const std::unordered_set<std::string>& touched) {
    for (size_t at = kDirsHeaderLen; at < text_.size();) {
      size_t nl = text_.find('\n', at);
      if (nl == std::string::npos || nl < at + kStampLen + 2 || text_[at + kStampLen] != ' ') return false;
      std::string rel = text_.substr(at + kStampLen + 1, nl - at - kStampLen - 1);
      if (touched.count(rel)) {
        at_[rel] = at;
      } else {
        struct stat st;
        char now[kStampLen];
        if (fstatat(rootfd, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) return false;
        stamp_of(st, now);
        if (memcmp(now, text_.data() + at, kStampLen) != 0) return false;
      }
      at = nl + 1;
    }
    return true;
  }

  // The recorded mode of the directory `rel`; one the clone was not made
  // with gets the base's (`base_mode`), searchable by its owner.
  mode_t mode(const std::string& rel, mode_t base_mode) {
    const char* s = stamp(rel);
    return s ? stamp_mode(s) : (base_mode & 07777) | 0700;
  }

  // Records `rel` (a directory reset changed) as it is now, for the next
  // reset. False when the file could not be written.
  bool restamp(int rootfd, const std::string& rel) {
    const char* s = stamp(rel);
    struct stat cs;
    if (!s || fstatat(rootfd, rel.c_str(), &cs, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(cs.st_mode)) return true;
    char rec[kStampLen];
    stamp_of(cs, rec);
    return memcmp(rec, s, kStampLen) == 0 ||
           pwrite(fd_, rec, kStampLen, s - text_.data()) == (ssize_t)kStampLen;
  }

 private:
  // The record of `rel`, nullptr when it has none. Those of the journal's
  // directories are known; one beyond them (rare: a parent remade) is found
  // by a scan.
  const char* stamp(const std::string& rel) {
    auto it = at_.find(rel);
    if (it != at_.end()) return text_.data() + it->second;
    for (size_t at = kDirsHeaderLen; at < text_.size();) {
      size_t nl = text_.find('\n', at);
      if (nl - at - kStampLen - 1 == rel.size() && text_.compare(at + kStampLen + 1, rel.size(), rel) == 0) {
        at_[rel] = at;
        return text_.data() + at;
      }
      at = nl + 1;
    }
    return nullptr;
  }

  Fd fd_;
  std::string text_;
  std::unordered_map<std::string, size_t> at_;  // records found so far: their offsets in text_
};

// ---- undoing the journal ---------------------------------------------------

// Every change is made with *at() calls on directories opened beneath the
// clone's top: no symlink is followed and no mount entered. What is not a
// real directory of the clone where the base has one was changed behind
// the library's back: each step returns false, and the caller re-clones.
class Undo {
 public:
  Undo(const CloneRecord& c, int rootfd, int baseroot, DirStamps* dirs)
      : c_(c), rootfd_(rootfd), baseroot_(baseroot), dirs_(*dirs), shared_{c.side + "/shared"} {}

  // Puts the name `rel` back as the base has it (its parent first when the
  // clone has none).
  bool restore(const std::string& rel) {
    std::string name;
    Fd bp(parent_beneath(baseroot_, rel, &name));
    struct stat bs;
    bool in_base = false;
    if (bp >= 0) {
      in_base = fstatat(bp, name.c_str(), &bs, AT_SYMLINK_NOFOLLOW) == 0;
      if (!in_base && errno != ENOENT) return false;
    } else if (bp != -ENOENT && bp != -ENOTDIR) {
      return false;
    }
    Fd cp(parent_beneath(rootfd_, rel, &name));
    if (!in_base) return remove_new(cp, name, rel);
    if (cp == -ENOENT) {  // the parent first
      if (rel.find('/') == std::string::npos || !restore(parent_rel(rel))) return false;
      cp = Fd(parent_beneath(rootfd_, rel, &name));
    }
    if (cp < 0) return false;
    struct stat cs;
    bool in_clone = fstatat(cp, name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) == 0;
    if (!in_clone && errno != ENOENT) return false;
    if (S_ISDIR(bs.st_mode)) return restore_dir(cp, name, rel, bs, in_clone ? &cs : nullptr);
    return relink(bp, cp, name, rel, bs, in_clone ? &cs : nullptr);
  }

  // A directory the journal touched may also hold what nobody recorded:
  // its entries are reconciled with the base's, name by name, and its mode
  // and real xattrs go back to what the clone was made with (none).
  bool reconcile(const std::string& rel) {
    Fd bd(open_beneath(baseroot_, rel.c_str(), O_RDONLY | O_DIRECTORY));
    if (bd < 0) return bd == -ENOENT || bd == -ENOTDIR || bd == -ELOOP || bd == -EXDEV;  // none in the base
    Fd cd(open_beneath(rootfd_, rel.c_str(), O_RDONLY | O_DIRECTORY));
    if (cd < 0) return false;  // the base has a directory here, so the clone must have one by now
    struct stat bs, cs;
    if (fstat(bd, &bs) < 0 || fstat(cd, &cs) < 0) return false;
    return reset_dir_attrs(cd, rel, bs, cs) && reconcile_entries(bd, cd, rel);
  }

  // Fake state entries for the directories made anew, as the base's
  // directories have them.
  bool add_remade_to_state() {
    if (remade_.empty()) return true;
    ScopedState fresh;
    if (fresh.open((c_.side + "/state").c_str(), false) < 0) return false;
    for (auto& rel : remade_) {
      std::string name;
      Fd bp(parent_beneath(baseroot_, rel, &name)), cp(parent_beneath(rootfd_, rel, &name));
      struct stat bs, cs;
      if (bp < 0 || cp < 0 || fstatat(bp, name.c_str(), &bs, AT_SYMLINK_NOFOLLOW) < 0 ||
          fstatat(cp, name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
      Meta m;
      if (!fresh.lookup(Key{bs.st_dev, bs.st_ino}, &m)) continue;
      m.birth = birth_of(cp, name.c_str());
      if (fresh.put(Key{cs.st_dev, cs.st_ino}, m) < 0) return false;
    }
    return true;
  }

  // The times of the directories reset changed, as in the base, deepest
  // first (their entries changed them).
  void put_back_dir_times() {
    std::vector<std::string> order(retime_.begin(), retime_.end());
    std::sort(order.begin(), order.end(), [](const std::string& a, const std::string& b) {
      return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
    });
    for (auto& rel : order) {
      Fd bd(open_beneath(baseroot_, rel.c_str(), O_PATH | O_DIRECTORY));
      std::string name = ".";
      Fd cp(rel == "." ? Fd(dup(rootfd_)) : Fd(parent_beneath(rootfd_, rel, &name)));
      struct stat bs, cs;
      if (bd < 0 || cp < 0 || fstat(bd, &bs) < 0 || fstatat(cp, name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) < 0 ||
          !S_ISDIR(cs.st_mode))
        continue;
      struct timespec t[2] = {bs.st_atim, bs.st_mtim};
      utimensat(cp, name.c_str(), t, AT_SYMLINK_NOFOLLOW);
    }
  }

  // Each changed directory's stamp again, ctime included, for the next reset.
  bool restamp_dirs() {
    for (auto& rel : retime_)
      if (!dirs_.restamp(rootfd_, rel)) return false;
    return true;
  }

 private:
  // The base has no `name` (in cp, the clone's parent, or -errno): what the
  // clone has there goes.
  bool remove_new(const Fd& cp, const std::string& name, const std::string& rel) {
    if (cp == -ENOENT || cp == -ENOTDIR) return true;  // nothing of it in the clone either
    if (cp < 0) return false;
    struct stat cs;
    if (fstatat(cp, name.c_str(), &cs, AT_SYMLINK_NOFOLLOW) < 0) return errno == ENOENT;
    if (!remove(cp, name, rel)) return false;
    retime_.insert(parent_rel(rel));
    return true;
  }

  // The base has a directory at `rel`: the clone gets one with the recorded
  // mode (an empty one made anew where it had none or something else).
  bool restore_dir(int cp, const std::string& name, const std::string& rel, const struct stat& bs,
                   const struct stat* cs) {
    mode_t want = dirs_.mode(rel, bs.st_mode);
    if (cs && S_ISDIR(cs->st_mode)) {
      if ((cs->st_mode & 07777) == want) return true;
      if (!chmod_beneath(cp, name.c_str(), want)) return false;
      retime_.insert(rel);
      return true;
    }
    if (cs && !remove(cp, name, rel)) return false;
    if (mkdirat(cp, name.c_str(), 0700) < 0 || !chmod_beneath(cp, name.c_str(), want)) return false;
    remade_.push_back(rel);
    retime_.insert(rel);
    retime_.insert(parent_rel(rel));
    return true;
  }

  // The base has a non-directory at `rel` (bp/name): the clone gets the
  // base's inode back by name, when it is one the clone shares by record.
  bool relink(int bp, int cp, const std::string& name, const std::string& rel, const struct stat& bs,
              const struct stat* cs) {
    if (cs && cs->st_ino == bs.st_ino && cs->st_dev == bs.st_dev) return true;
    // Only an inode the clone shares by record may come back by name: one
    // the base has gained since would be written in place.
    if (S_ISREG(bs.st_mode) && !shared_.has(bs.st_dev, bs.st_ino)) return false;
    if (cs && !remove(cp, name, rel)) return false;
    if (linkat(bp, name.c_str(), cp, name.c_str(), 0) < 0) return false;
    retime_.insert(parent_rel(rel));
    return true;
  }

  // The directory `rel` (cd) gets its recorded mode back, and loses the
  // real user.* xattrs a clone's directories are made without.
  bool reset_dir_attrs(int cd, const std::string& rel, const struct stat& bs, const struct stat& cs) {
    mode_t want = dirs_.mode(rel, bs.st_mode);
    if ((cs.st_mode & 07777) != want) {
      if (fchmod(cd, want) < 0) return false;
      retime_.insert(rel);
    }
    char xnames[4096];
    ssize_t xl = flistxattr(cd, xnames, sizeof xnames);
    if (xl < 0 && errno != ENOTSUP && errno != EOPNOTSUPP) return false;
    for (ssize_t i = 0; i < xl; i += strlen(xnames + i) + 1) {
      if (strncmp(xnames + i, "user.", 5) != 0) continue;
      if (fremovexattr(cd, xnames + i) < 0) return false;
      retime_.insert(rel);
    }
    return true;
  }

  // The entries of the directory `rel` (bd in the base, cd in the clone):
  // what the base lacks goes, what differs comes back from the base.
  bool reconcile_entries(int bd, int cd, const std::string& rel) {
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
    if (!names_of(cd, &cn) || !names_of(bd, &bn)) return false;
    for (auto& [n, ce] : cn) {
      if (bn.count(n)) continue;
      std::string ignore;
      if (remove_at(cd, n.c_str(), c_.clone + "/" + rel + "/" + n, &ignore) < 0) return false;
      retime_.insert(rel);
    }
    for (auto& [n, be] : bn) {
      std::string r = rel == "." ? n : rel + "/" + n;
      auto it = cn.find(n);
      if (entry_is_dir(bd, n.c_str(), be.type)) {
        // A directory of the base: the clone has it (the check before the
        // undo saw it as made, or restore made it), or it was changed
        // behind the library's back.
        if (it == cn.end() || !entry_is_dir(cd, n.c_str(), it->second.type)) return false;
      } else if ((it == cn.end() || it->second.ino != be.ino) && !restore(r)) {
        return false;
      }
    }
    return true;
  }

  // Removes cp/name (the clone's `rel`) with everything under it.
  bool remove(int cp, const std::string& name, const std::string& rel) {
    std::string ignore;
    return remove_at(cp, name.c_str(), c_.clone + "/" + rel, &ignore) == 0;
  }

  const CloneRecord& c_;
  int rootfd_, baseroot_;
  DirStamps& dirs_;
  SharedMap shared_;
  std::unordered_set<std::string> retime_;  // directories reset changed: times back, stamps taken again
  std::vector<std::string> remade_;         // directories made anew: their state entries follow
};

// The fake state as the clone was made (CLONE.cowroot/clean): no copy when
// nothing was written to it (its change counter says so), else only the
// pages that differ, else whole files renamed into place.
// False when it cannot: the clean copy missing or damaged (opening checks
// it), which only a full re-clone makes again; copied over the state, it
// would leave a clone no session can open. A state that is itself missing
// or damaged is put back whole, whatever its change counter says.
bool put_back_state(const std::string& side) {
  bool state_changed = true;
  {
    ScopedState now, clean;
    if (clean.open((side + "/clean").c_str(), false) != 0) return false;
    if (now.open((side + "/state").c_str(), false) == 0) state_changed = now.changes() != clean.changes();
  }
  if (state_changed && restore_in_place(side + "/clean/table", side + "/state/table") &&
      restore_in_place(side + "/clean/xattr", side + "/state/xattr"))
    state_changed = false;
  if (state_changed && (!copy_file(side + "/clean/table", side + "/state/table.reset") ||
      !copy_file(side + "/clean/xattr", side + "/state/xattr.reset") ||
      rename((side + "/state/xattr.reset").c_str(), (side + "/state/xattr").c_str()) < 0 ||
      rename((side + "/state/table.reset").c_str(), (side + "/state/table").c_str()) < 0)) {
    unlink((side + "/state/table.reset").c_str());
    unlink((side + "/state/xattr.reset").c_str());
    return false;
  }
  return true;
}

// The fast reset of an open clone: 0 done, 1 a full re-clone is needed, -1
// refused (err says why) with nothing changed.
int reset_journal(const CloneRecord& c, char* err, size_t errlen) {
  Fd rootfd(open(c.clone.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (rootfd < 0) {
    say(err, errlen, "%s: %s", c.clone.c_str(), strerror(errno));
    return -1;
  }
  // Never into a mount: one inside the clone or its metadata is the user's
  // to take away first (a full re-clone could not remove it either).
  if (std::string m = mount_inside(rootfd); !m.empty()) {
    say(err, errlen, "%s is a mount point inside %s: unmount it first", m.c_str(), c.clone.c_str());
    return -1;
  }
  if (!same_base(c)) return 1;
  // The record of what the clone shares, gone or damaged: only a full
  // re-clone makes it again (the undo reads it).
  if (SharedMap m{c.side + "/shared"}; !m.load()) return 1;
  Fd baseroot(open(c.base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (baseroot < 0) return 1;
  Journal journal;
  DirStamps dirs;
  if (!read_journal(c.side + "/journal", &journal) || !dirs.read(c.side + "/dirs") ||
      !dirs.unchanged_outside(rootfd, journal.touched))
    return 1;

  Undo undo(c, rootfd, baseroot, &dirs);
  for (auto& rel : journal.paths)
    if (!undo.restore(rel)) return 1;
  for (auto& rel : journal.touched)
    if (!undo.reconcile(rel)) return 1;
  if (!put_back_state(c.side) || !undo.add_remade_to_state()) return 1;
  undo.put_back_dir_times();
  if (!undo.restamp_dirs()) return 1;
  unlink((c.side + "/journal").c_str());
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
  // Under the clone's lock no other reset of it runs. With the clone and
  // its sidecar in place, a killed reset's swap did not begin or ended:
  // its fresh clone (CLONE.cowroot-reset-PID, with its sidecar and its
  // making's debris) is nobody's.
  if (struct stat st; lstat(c.clone.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    remove_stale(c.clone, ".cowroot-reset-", clone_with_sidecar);
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
