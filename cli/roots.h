// What the launcher checks of a root before anything runs in it.
#pragma once
#include <string>

namespace cli {

// Why the library cannot be served in `root` (its programs' loader is not
// glibc's, or is for another architecture), as one line naming the root and
// the loader; "" when it can (or when the root has no dynamic /bin/sh to
// judge by).
std::string root_refusal(const std::string& root);

}  // namespace cli
