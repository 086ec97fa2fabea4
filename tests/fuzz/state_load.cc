// The -i state loader (fakeroot's lines and the cowroot section), on a
// buffer: refused in one line, or every entry unique, within the limits.
#include <cstring>
#include <unordered_set>

#include "../../preload/core/state_io.h"
#include "fuzz.h"

COWROOT_FUZZ_TARGET(state_load) {
  FILE* f = fmemopen(const_cast<uint8_t*>(data), size, "r");
  if (!f) return 0;
  std::vector<cr::LoadedEntry> items;
  char err[512];
  err[0] = 0;
  int r = cr::parse_state(f, "fuzz", &items, err, sizeof err);
  fclose(f);
  if (r < 0) {
    FUZZ_CHECK(err[0] && !strchr(err, '\n'));  // one line, naming the file
    FUZZ_CHECK(strstr(err, "fuzz") != nullptr);
    return 0;
  }
  FUZZ_CHECK(r == 0 && items.size() <= cr::kStateEntriesMax);
  struct H {
    size_t operator()(const cr::Key& k) const { return k.dev * 31 + k.ino; }
  };
  std::unordered_set<cr::Key, H> keys;
  for (auto& e : items) {
    FUZZ_CHECK(keys.insert(e.key).second);
    FUZZ_CHECK((e.meta.mode & 0170000) != 0 && e.meta.mode <= 0177777);
    FUZZ_CHECK(e.meta.birth.nsec < 1000000000u);
    for (auto& [n, v] : e.xattrs) {
      FUZZ_CHECK(!n.empty() && n.size() <= cr::kXattrNameMax && n.find('\0') == std::string::npos);
      FUZZ_CHECK(v.size() <= cr::kXattrValueMax);
    }
  }
  return 0;
}
