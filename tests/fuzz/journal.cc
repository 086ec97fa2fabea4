// A clone's change journal as reset reads it: what it accepts is only ever
// relative names inside the clone (no `..`, not absolute, normalised), each
// once, with their parents touched.
#include <sstream>
#include <string>

#include "../../cli/clone/journal.h"
#include "fuzz.h"

COWROOT_FUZZ_TARGET(journal) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::vector<std::string> paths;
  std::unordered_set<std::string> touched;
  if (!cr::read_journal(in, &paths, &touched)) return 0;
  std::unordered_set<std::string> once;
  for (auto& p : paths) {
    FUZZ_CHECK(!p.empty() && p[0] != '/' && p.back() != '/');
    FUZZ_CHECK(p.find("//") == std::string::npos && p.find('\n') == std::string::npos);
    for (size_t at = 0; at <= p.size();) {
      size_t sl = p.find('/', at);
      if (sl == std::string::npos) sl = p.size();
      std::string part = p.substr(at, sl - at);
      FUZZ_CHECK(part != ".." && part != "." && !part.empty());
      at = sl + 1;
    }
    FUZZ_CHECK(once.insert(p).second);
    FUZZ_CHECK(touched.count(p));
    size_t sl = p.rfind('/');
    FUZZ_CHECK(touched.count(sl == std::string::npos ? "." : p.substr(0, sl)));
  }
  return 0;
}
