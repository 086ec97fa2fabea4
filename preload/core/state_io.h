// The state file's reader, on its own (state_io.cc): what load_state
// checks before it changes anything, callable on any stream (the unit tests
// and the fuzzer use it). Allocates: never in the preload library.
#pragma once
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "state.h"

namespace cr {

// What a state may hold at most; a file that claims more is refused, in one
// line naming the file and line, before anything is allocated for it.
inline constexpr size_t kStateFileMax = 1ull << 30;     // bytes of a state file
inline constexpr size_t kStateEntriesMax = 1u << 22;    // inodes (a full Debian system has < 1/4 million)
inline constexpr size_t kXattrNameMax = 255;            // as the kernel's XATTR_NAME_MAX
inline constexpr size_t kXattrValueMax = 65536;         // as the kernel's XATTR_SIZE_MAX
inline constexpr size_t kXattrHeapMax = (64u << 20) - 64;  // the state's attribute heap
inline constexpr size_t kStateLineMax = 64 + 2 * kXattrNameMax + 2 * kXattrValueMax;

struct LoadedEntry {
  Key key;
  Meta meta;
  std::vector<std::pair<std::string, std::string>> xattrs;  // name, value, in the file's order
};

// Reads a whole state file from f (`path` names it in messages): the
// entries it would load, later lines replacing earlier ones of the same
// inode. 0, or -1 with a one-line reason in err.
int parse_state(FILE* f, const char* path, std::vector<LoadedEntry>* items, char* err, size_t errlen);

}  // namespace cr
