// The pool of ready clones of a base (pool_take, pool_give_back) and
// removing a tree without leaving it (remove_tree).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "../../preload/core/errtext.h"
#include "../../preload/core/session_end.h"
#include "../../preload/core/state.h"
#include "clone.h"
#include "sidecar.h"
#include "tree.h"

namespace cr {

using namespace cloning;

namespace {

// How long a peak of demand is remembered after it was last reached.
constexpr time_t kDemandWindow = 600;

// The pool's demand (runs/demand): the most of its clones in use at once
// lately, one decimal number. Its mtime is when that peak was last
// reached; past kDemandWindow it no longer counts. 0 when unknown.
int read_demand(const std::string& runs) {
  Fd fd(open((runs + "/demand").c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  char buf[16];
  ssize_t n;
  if (fd < 0 || fstat(fd, &st) < 0 || time(nullptr) - st.st_mtime > kDemandWindow ||
      (n = read(fd, buf, sizeof buf - 1)) <= 0)
    return 0;
  buf[n] = 0;
  return atoi(buf);
}

// A take found `in_use` clones in use (its own included): a new peak is
// written (whole, with a rename: readers never see half a number), the
// same peak again only refreshes its time, now and then.
void note_demand(const std::string& runs, int in_use) {
  std::string p = runs + "/demand";
  struct stat st;
  bool have = stat(p.c_str(), &st) == 0;
  time_t now = time(nullptr);
  int peak = have ? read_demand(runs) : 0;
  if (in_use < peak) return;
  if (in_use == peak) {
    if (now - st.st_mtime > kDemandWindow / 4) utimensat(AT_FDCWD, p.c_str(), nullptr, 0);
    return;
  }
  std::string tmp = p + ".tmp-" + std::to_string(getpid());
  Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (fd < 0) return;
  std::string text = std::to_string(in_use) + "\n";
  if (write(fd, text.data(), text.size()) != (ssize_t)text.size() || rename(tmp.c_str(), p.c_str()) < 0)
    unlink(tmp.c_str());
}

}  // namespace

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
  int others = 0;  // slots in use by others, as far as the listing went
  // A second look when the first found nothing ready: a listing may miss a
  // name another process made meanwhile (a clone given back).
  for (int pass = 0; pass < 2 && !claimed; pass++) {
    others = 0;
    if (DIR* d = opendir(runs)) {
      while (dirent* de = readdir(d)) {
        if (strncmp(de->d_name, "run-", 4) == 0) others++;
        if (strncmp(de->d_name, "ready-", 6) != 0) continue;
        if (rename((r + "/" + de->d_name).c_str(), slot.c_str()) == 0) {
          claimed = true;
          break;
        }
      }
      closedir(d);
    }
  }
  if (claimed) note_demand(r, others + 1);
  if (!claimed) {
    if (mkdir(slot.c_str(), 0700) < 0) {
      say(err, errlen, "cannot create %s: %s", slot.c_str(), strerror(errno));
      return -1;
    }
    // The pool grows by this clone: the demand is every slot it has now,
    // so that none of them goes when given back while the peak lasts.
    int slots = 0;
    if (DIR* d = opendir(runs)) {
      while (dirent* de = readdir(d))
        slots += strncmp(de->d_name, "run-", 4) == 0 || strncmp(de->d_name, "ready-", 6) == 0;
      closedir(d);
    }
    note_demand(r, slots > others + 1 ? slots : others + 1);
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
  // The pool follows demand: it keeps as many ready clones as were in use
  // at once lately (runs/demand), and at least `keep`. Several test
  // processes at once (ctest -j, sharded runs) then each find a ready clone
  // on their next take instead of making a new one; when the peak is
  // older than kDemandWindow, the clones given back beyond the current use
  // go.
  int ready = 0, in_use = 0;
  if (DIR* d = opendir(runs)) {
    while (dirent* de = readdir(d)) {
      ready += strncmp(de->d_name, "ready-", 6) == 0;
      in_use += strncmp(de->d_name, "run-", 4) == 0;
    }
    closedir(d);
  }
  int demand = read_demand(runs);
  int want = demand > in_use ? demand : in_use;
  if (want < keep) want = keep;
  if (want > kPoolMax) want = kPoolMax;
  std::string root = std::string(slot) + "/root";
  if (ready < want && cow_reset_fast(root.c_str(), err, errlen) == 0 &&
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

}  // namespace cr
