// The loader configuration parser (ld.so.conf, resolve.cc's
// ld_conf_lines): every directory it reports is an absolute path within
// the text, blanks and comments cut; every include pattern too.
#include <cstring>
#include <vector>

#include "../../preload/core/resolve.h"
#include "fuzz.h"

COWROOT_FUZZ_TARGET(ldconf) {
  std::vector<char> text(data, data + size);
  text.push_back(0);
  const char* lo = text.data();
  const char* hi = text.data() + text.size();
  int dirs = 0;
  cr::ld_conf_lines(
      text.data(),
      [&](const char* d, size_t l) {
        FUZZ_CHECK(d >= lo && d + l < hi && d[0] == '/' && d[l] == 0 && strlen(d) == l);
        FUZZ_CHECK(!memchr(d, '\n', l) && !memchr(d, '#', l));
        FUZZ_CHECK(d[l - 1] != ' ' && d[l - 1] != '\t' && d[l - 1] != '\r');
        return ++dirs < 1000;
      },
      [&](char* pat) {
        FUZZ_CHECK(pat >= lo && pat < hi && *pat != ' ' && *pat != '\t');
        size_t l = strlen(pat);
        FUZZ_CHECK(pat + l < hi && !memchr(pat, '\n', l) && !memchr(pat, '#', l));
        // The callee may cut the pattern (resolve.cc cuts it at its last '/').
        char* slash = strrchr(pat, '/');
        if (slash) *slash = 0;
      });
  return 0;
}
