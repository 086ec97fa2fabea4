// The pool of ready clones of a base (pool_take, pool_give_back) and
// removing a tree without leaving it (remove_tree).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "../../preload/core/errtext.h"
#include "../../preload/core/state.h"
#include "clone.h"
#include "sidecar.h"
#include "tree.h"

namespace cr {

using namespace cloning;

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

}  // namespace cr
