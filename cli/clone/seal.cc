// Sealing a base (cow_seal) and comparing it with its seal's manifest
// (cow_verify).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>

#include "../../preload/core/errtext.h"
#include "../../preload/core/state.h"
#include "clone.h"
#include "sidecar.h"
#include "tree.h"

namespace cr {

using namespace cloning;

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
  ScopedState st;
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
  // The base's fake state (seal made it): its owners and modes are every
  // clone's. It must open, and pass the check a session's start makes. A
  // copy is checked (as a clone's copy is opened): opening takes the
  // table's lock, and verify writes nothing of the base.
  std::string state = base + ".cowroot/state";
  const char* tmpdir = getenv("TMPDIR");
  std::string tmp = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/cowroot-verify.XXXXXX";
  if (!mkdtemp(tmp.data())) {
    say(err, errlen, "cannot check the fake state of %s: %s: %s", base.c_str(), tmp.c_str(), strerror(errno));
    return -1;
  }
  int e = -ENOENT;
  ScopedState st;
  if (file_exists(state + "/table") && file_exists(state + "/xattr")) {
    if (!copy_file(state + "/table", tmp + "/table") || !copy_file(state + "/xattr", tmp + "/xattr")) e = -(errno ? errno : EIO);
    else e = st.open(tmp.c_str(), false);
  }
  char ignore[256];
  remove_tree(tmp.c_str(), ignore, sizeof ignore);
  if (e < 0) {
    char why[4096];
    if (e == -ENOENT) say_state_error(state.c_str(), e, st, why, sizeof why);
    else if (e == -EBADMSG) say(why, sizeof why, "%s/%s: damaged (%s)", state.c_str(), st.damaged_file(), st.damage());
    else say(why, sizeof why, "%s: %s", state.c_str(), strerror(-e));
    report((std::string("changed: fake state (") + why + ")").c_str(), ctx);
    changes++;
  }
  return changes;
}

}  // namespace cr
