#include "roots.h"

#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "../preload/core/exec.h"

namespace cli {

bool host_path(const std::string& root, const std::string& inside, std::string* out) {
  std::vector<std::string> done, todo;
  auto push_parts = [&](const std::string& p) {
    std::vector<std::string> parts;
    for (size_t i = 0; i < p.size();) {
      size_t j = p.find('/', i);
      if (j == std::string::npos) j = p.size();
      if (j > i) parts.push_back(p.substr(i, j - i));
      i = j + 1;
    }
    todo.insert(todo.end(), parts.rbegin(), parts.rend());
  };
  push_parts(inside);
  for (int links = 0; !todo.empty();) {
    std::string c = todo.back();
    todo.pop_back();
    if (c == ".") continue;
    if (c == "..") {
      if (!done.empty()) done.pop_back();
      continue;
    }
    std::string here = root;
    for (auto& d : done) here += "/" + d;
    here += "/" + c;
    struct stat st;
    if (lstat(here.c_str(), &st) < 0) return false;
    if (!S_ISLNK(st.st_mode)) {
      done.push_back(c);
      continue;
    }
    if (++links > 40) return false;
    char t[4096];
    ssize_t n = readlink(here.c_str(), t, sizeof t - 1);
    if (n <= 0) return false;
    std::string target(t, (size_t)n);
    if (target[0] == '/') done.clear();
    push_parts(target);
  }
  *out = root;
  for (auto& d : done) *out += "/" + d;
  return true;
}

std::string root_refusal(const std::string& root) {
  if (root.empty() || root == "/") return "";
  std::string sh, ld;
  char interp[512], arg[512];
  if (!host_path(root, "/bin/sh", &sh) || cr::inspect_program(sh.c_str(), -1, interp, sizeof interp, arg, sizeof arg) != 0)
    return "";  // no shell, a static one or a script: exec judges each program
  struct statx sx;
  if (!host_path(root, interp, &ld) ||
      statx(AT_FDCWD, ld.c_str(), 0, STATX_TYPE | STATX_INO | STATX_CTIME, &sx) < 0 || !S_ISREG(sx.stx_mode))
    return root + ": cannot be served: its programs' ELF interpreter " + interp + " is missing (/bin/sh needs it)";
  const char* why = nullptr;
  if (cr::loader_caps(ld.c_str(), sx, &why) >= 0) return "";
  return root + ": cannot be served: its programs' ELF interpreter " + interp + " " + (why ? why : "");
}

}  // namespace cli
