// An image entry by entry: the listing find makes of it, and its comparison
// with the listing of real root's image (tests/run.sh makes those).
#pragma once
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "common.h"

namespace test {

// What find prints of every entry but /proc, /sys and /dev, run inside.
inline const char* kFind =
    "find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -printf '%y %m %U %G %l\\t%p\\n'";

// path -> "type mode uid gid target", from find -printf 'TYPE MODE UID GID TARGET<TAB>PATH'
// (a path may hold spaces; the tab keeps it whole).
inline std::map<std::string, std::string> listing(const std::string& out) {
  std::map<std::string, std::string> m;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    size_t tab = line.rfind('\t');
    if (tab != std::string::npos) m[line.substr(tab + 1)] = line.substr(0, tab);
  }
  return m;
}

inline std::map<std::string, std::string> listing_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return listing(ss.str());
}

struct Comparison {
  size_t same = 0, total = 0;
  size_t special_diff = 0;  // setuid, setgid or not root's, and not equal
  std::string report;       // one line per special difference
};

// Ours against real root's, entry by entry (type, mode, owner, group,
// symlink target).
inline Comparison compare(const std::map<std::string, std::string>& ours,
                          const std::map<std::string, std::string>& theirs) {
  Comparison c;
  c.total = theirs.size();
  for (auto& [path, want] : theirs) {
    auto it = ours.find(path);
    if (it != ours.end() && it->second == want) {
      c.same++;
      continue;
    }
    // setuid, setgid and anything not owned by root must match exactly.
    std::istringstream w(want);
    std::string type, mode, uid, gid;
    w >> type >> mode >> uid >> gid;
    unsigned m = (unsigned)strtoul(mode.c_str(), nullptr, 8);
    if ((m & 06000) || uid != "0" || gid != "0") {
      c.special_diff++;
      c.report += "differs: " + path + " real root: " + want + " cowroot: " +
                  (it == ours.end() ? std::string("(missing)") : it->second) + "\n";
    }
  }
  return c;
}

}  // namespace test
