// The resolver's walker, for the core's other readers of the root
// (ldconf.cc). Internal to the core.
#pragma once
#include <cstddef>

namespace cr::walker {

// Maps a top-inside path to its host path (binds, then top + path); 0 when
// it does not fit.
size_t host_of(const char* inside, char* out, size_t n);
// Walks `path` inside the root from `cur` (an inside directory; "" for the
// current root), following symlinks as the kernel would in a chroot.
int walk_inside(const char* path, bool follow_last, char* cur, size_t cap, bool* trailing, bool remember);

}  // namespace cr::walker
