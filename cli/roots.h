// What the launcher checks of a root before anything runs in it.
#pragma once
#include <string>

namespace cli {

// Why the library cannot be served in `root` (its programs' loader is not
// glibc's, or is for another architecture), as one line naming the root and
// the loader; "" when it can (or when the root has no dynamic /bin/sh to
// judge by).
std::string root_refusal(const std::string& root);

// `inside` resolved in `root` on the host, every symlink followed with the
// root as / (`..` never above it): no session exists yet to do it. False
// when a name on the way is not there (or links loop).
bool host_path(const std::string& root, const std::string& inside, std::string* out);

}  // namespace cli
