// The resolver's walker, for the core's other readers of the root
// (ldconf.cc, resolve_perm.cc). Internal to the core.
#pragma once
#include <cstddef>

#include "state.h"

namespace cr {
struct Cred;
struct Resolved;
}  // namespace cr

namespace cr::walker {

// Maps a top-inside path to its host path (binds, then top + path); 0 when
// it does not fit.
size_t host_of(const char* inside, char* out, size_t n);
// Walks `path` inside the root from `cur` (an inside directory; "" for the
// current root), following symlinks as the kernel would in a chroot.
int walk_inside(const char* path, bool follow_last, char* cur, size_t cap, bool* trailing, bool remember);
// The working directory's key and real attributes: from the walk's cache
// inside a root (one statx when it does not know them). 0 or -errno.
int cwd_dir(Key* key, Meta* real);
// Outside a root: search permission along (dirfd, path) for `c`, and the
// directory holding the last component into out (resolve_perm.cc).
int host_search(int dirfd, const char* path, const Cred& c, Resolved* out);

}  // namespace cr::walker
