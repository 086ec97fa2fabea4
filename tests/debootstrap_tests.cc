// The real client: debootstrap --variant=minbase, unprivileged, under
// cowroot, compared entry by entry with the image real root builds
// (tests/run.sh builds that reference while it is still root).
// Needs the Debian archive; COWROOT_TEST_DEBOOTSTRAP=0 skips it (make test-quick).
#include <fstream>
#include <map>
#include <sstream>

#include "common.h"

using namespace test;

namespace {

// path -> "type mode uid gid target", from find -printf 'TYPE MODE UID GID TARGET<TAB>PATH'
// (a path may hold spaces; the tab keeps it whole).
std::map<std::string, std::string> listing(const std::string& out) {
  std::map<std::string, std::string> m;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    size_t tab = line.rfind('\t');
    if (tab != std::string::npos) m[line.substr(tab + 1)] = line.substr(0, tab);
  }
  return m;
}

const char* kFind =
    "find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -printf '%y %m %U %G %l\\t%p\\n'";

}  // namespace

TEST_CASE("debootstrap minbase as an ordinary user equals real root's image, entry by entry") {
  const char* on = getenv("COWROOT_TEST_DEBOOTSTRAP");
  if (on && std::string(on) == "0") {
    MESSAGE("skipped: COWROOT_TEST_DEBOOTSTRAP=0");
    return;
  }
  const char* mirror = getenv("COWROOT_TEST_MIRROR");
  REQUIRE_MESSAGE(mirror, "COWROOT_TEST_MIRROR must name the host's Debian mirror (tests/run.sh sets it)");
  TempDir d;
  std::string img = d / "bookworm";
  auto r = sh("cd " + q(d.path) + " && PATH=/usr/sbin:/sbin:$PATH " + cowroot() + " -s " + q(d / "state") +
              " -- debootstrap --variant=minbase bookworm " + q(img) + " " + q(mirror) + " > " + q(d / "log") +
              " 2>&1");
  REQUIRE_MESSAGE(r.status == 0, sh("tail -n 20 " + q(d / "log")).out);

  auto inside = sh(cowroot() + " -i " + q(d / "state") + " -r " + q(img) + " -- sh -c " + q(std::string(kFind) + " 2>/dev/null"));
  REQUIRE(inside.status == 0);
  auto ours = listing(inside.out);
  CHECK(ours.size() > 5000);

  // No host path in any symlink, no setuid bit on disk, and the entries real root would make.
  CHECK(sh("find " + q(img) + " -type l -lname " + q(d.path + "*") + " | wc -l").out == "0\n");
  CHECK(sh("find " + q(img) + " -perm /6000 | wc -l").out == "0\n");
  CHECK(ours["/etc/shadow"] == "f 640 0 42 ");
  CHECK(ours["/usr/bin/passwd"] == "f 4755 0 0 ");
  CHECK(ours.count("/") == 1);
  auto audit = sh(cowroot() + " -i " + q(d / "state") + " -r " + q(img) + " -- dpkg --audit 2>&1");
  CHECK(audit.status == 0);
  CHECK(audit.out.empty());

  const char* ref = getenv("COWROOT_TEST_REFERENCE");
  if (!ref || !*ref) {
    MESSAGE("no reference listing (tests/run.sh makes one when started as root): entry-by-entry comparison skipped");
    return;
  }
  // The listing of real root's image, made by tests/run.sh while it was root.
  std::ifstream in(ref);
  std::stringstream ss;
  ss << in.rdbuf();
  struct { std::string out; } theirs_out{ss.str()};
  auto theirs = listing(theirs_out.out);
  REQUIRE(theirs.size() > 5000);
  size_t same = 0, special_diff = 0;
  for (auto& [path, want] : theirs) {
    auto it = ours.find(path);
    if (it != ours.end() && it->second == want) {
      same++;
      continue;
    }
    // setuid, setgid and anything not owned by root must match exactly.
    std::istringstream w(want);
    std::string type, mode, uid, gid;
    w >> type >> mode >> uid >> gid;
    unsigned m = (unsigned)strtoul(mode.c_str(), nullptr, 8);
    if ((m & 06000) || uid != "0" || gid != "0") {
      special_diff++;
      MESSAGE("differs: " << path << " real root: " << want << " cowroot: " << (it == ours.end() ? "(missing)" : it->second));
    }
  }
  CHECK(special_diff == 0);
  CHECK(same * 100 >= theirs.size() * 99);
  MESSAGE(same << " of " << theirs.size() << " entries equal to real root's image");
}
