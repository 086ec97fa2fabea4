// A file's identity as the exec planner's caches keep it: its device,
// inode and change time (a file replaced, moved, linked, chmodded or
// written has another). No libc: vfork-safe.
#pragma once

#include <linux/stat.h>

#include <cstdint>

namespace cr {

struct FileId {
  uint64_t dev = 0, ino = 0;
  int64_t csec = 0;
  uint32_t cnsec = 0;

  static FileId of(const struct statx& sx) {
    return {(uint64_t)sx.stx_dev_major << 32 | sx.stx_dev_minor, sx.stx_ino, sx.stx_ctime.tv_sec,
            sx.stx_ctime.tv_nsec};
  }
  bool operator==(const FileId&) const = default;
};

}  // namespace cr
