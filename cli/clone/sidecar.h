// The files of a clone's sidecar (CLONE.cowroot/, see preload/core/cow.h)
// as the command line writes and reads them: the shared set, the
// directories' stamps (`dirs`), the base's identity (`base`) and the
// clone's lock. Internal to cli/clone/.
#pragma once
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "../../preload/core/cow_format.h"
#include "tree.h"

namespace cr::cloning {

// Writes a `shared` file (cow_format.h): the inodes of `first_name`, with
// the names of those that have several (`aliases`, indexes into `names`).
// Returns 0 or an errno.
int write_shared_set(const std::string& path, uint64_t dev, const std::unordered_map<uint64_t, uint32_t>& first_name,
                     const std::unordered_map<uint64_t, std::vector<uint32_t>>& aliases,
                     const std::vector<std::string>& names);

// The inodes a clone shares with its base, mapped when reset first needs it.
struct SharedMap {
  std::string path;
  const SharedSet* set = nullptr;
  size_t len = 0;
  bool tried = false;
  ~SharedMap();
  bool load();  // false: missing or damaged
  bool has(dev_t dev, ino_t ino);
};

// The `dirs` file of a clone: after this header, one line per directory
// of the clone (its top "." first), "STAMP PATH", where STAMP is a fixed-
// width record of what the directory was when last made or reset: inode,
// mtime, ctime and mode in hex. ctime cannot be set from user space, so a
// change behind the library's back cannot hide by restoring an mtime.
constexpr char kDirsHeader[] = "# cowroot dirs 2: inode mtime ctime mode (hex), path\n";
constexpr size_t kDirsHeaderLen = sizeof kDirsHeader - 1;
constexpr size_t kStampLen = 16 + 1 + 16 + 1 + 8 + 1 + 16 + 1 + 8 + 1 + 4;

// A stamp (kStampLen bytes, no terminator) of a directory's inode, mtime,
// ctime and mode.
void stamp(char* out, uint64_t ino, int64_t ms, uint32_t mns, int64_t cs, uint32_t cns, uint32_t mode);
void stamp_of(const struct stat& st, char* out);
// The mode a stamp recorded.
mode_t stamp_mode(const char* rec);

// What tells a base from another one at the same path (an image refreshed,
// a base changed and sealed again): the identity and change time of its
// top, and those of its seal manifest. Written to a clone's `base` file
// (second line) when it is made, compared by reset.
std::string base_identity(const std::string& base);

// Records the clone's top as it is now: renaming a directory into place
// changes its ctime on some file systems.
bool restamp_top(const std::string& clone);

// What a clone's sidecar says about it, and its lock.
struct CloneRecord {
  std::string clone, side, base, id;
  Fd lock;
};

// Reads CLONE.cowroot/base and takes the clone's lock (a running session
// holds it): -1 with the reason in err when it is no clone, its base is
// gone or it is in use.
int open_clone(const char* clone, CloneRecord* c, char* err, size_t errlen);

}  // namespace cr::cloning
