// The real client: debootstrap --variant=minbase, unprivileged, under
// cowroot, compared entry by entry with the image real root builds
// (tests/run.sh builds that reference while it is still root).
// Needs the Debian archive; COWROOT_TEST_DEBOOTSTRAP=0 skips it (make test-quick).
#include <algorithm>

#include "common.h"
#include "listing.h"

using namespace test;

namespace {

// One unprivileged debootstrap for the whole run: DIR/bookworm, its fake
// ownership saved in DIR/state.
const TempDir& built() {
  static TempDir* d = [] {
    const char* mirror = getenv("COWROOT_TEST_MIRROR");
    REQUIRE_MESSAGE(mirror, "COWROOT_TEST_MIRROR must name the host's Debian mirror (tests/run.sh sets it)");
    auto* t = new TempDir;
    auto r = sh("cd " + q(t->path) + " && PATH=/usr/sbin:/sbin:$PATH " + cowroot() + " -s " + q(*t / "state") +
                " -- debootstrap --variant=minbase bookworm " + q(*t / "bookworm") + " " + q(mirror) + " > " +
                q(*t / "log") + " 2>&1");
    REQUIRE_MESSAGE(r.status == 0, sh("tail -n 20 " + q(*t / "log")).out);
    return t;
  }();
  return *d;
}

}  // namespace

TEST_CASE("debootstrap minbase as an ordinary user equals real root's image, entry by entry") {
  if (archive_skipped()) return;
  const TempDir& d = built();
  std::string img = d / "bookworm";

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
  auto theirs = listing_file(ref);
  REQUIRE(theirs.size() > 5000);
  Comparison c = compare(ours, theirs);
  if (!c.report.empty()) MESSAGE(c.report);
  CHECK(c.special_diff == 0);
  CHECK(c.same * 100 >= c.total * 99);
  MESSAGE(c.same << " of " << c.total << " entries equal to real root's image");
}

// What package tools do inside, on a clone of that image: dpkg -i with a
// maintainer script that adds a system user, chowns to it and registers an
// alternative; dpkg -r; apt-get install of a local .deb. The base stays as
// it was sealed, and a reset takes it all away.
TEST_CASE("dpkg -i, maintainer scripts, update-alternatives and apt-get install ./pkg.deb work in a clone") {
  if (archive_skipped()) return;
  const TempDir& d = built();
  TempDir w;
  std::string img = d / "bookworm", clone = w / "c";
  auto r = sh(cowroot() + " seal -i " + q(d / "state") + " " + q(img) + " 2>&1 && " + cowroot() + " clone " + q(img) +
              " " + q(clone) + " 2>&1");
  REQUIRE_MESSAGE(r.status == 0, r.out);
  // TMPDIR is the test run's host directory: inside, as under a real chroot, it does not exist.
  const char* script = R"SH(set -e
unset TMPDIR
mkdir -p /tmp/zz/DEBIAN /tmp/zz/usr/bin /tmp/zz/etc
printf 'Package: zz\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n' > /tmp/zz/DEBIAN/control
printf '#!/bin/sh\necho zz-runs\n' > /tmp/zz/usr/bin/zz
chmod 755 /tmp/zz/usr/bin/zz
echo x=1 > /tmp/zz/etc/zz.conf
printf '#!/bin/sh\nset -e\nid zzsvc >/dev/null 2>&1 || useradd --system zzsvc\nmkdir -p /var/lib/zz\nchown zzsvc /var/lib/zz\nupdate-alternatives --install /usr/bin/zzalt zzalt /usr/bin/zz 50\n' > /tmp/zz/DEBIAN/postinst
chmod 755 /tmp/zz/DEBIAN/postinst
dpkg-deb --root-owner-group --build /tmp/zz /tmp/zz_1.0_all.deb >/dev/null
dpkg -i /tmp/zz_1.0_all.deb >/dev/null 2>&1
echo "dpkg: $(zzalt) $(stat -c '%U %a' /var/lib/zz) $(readlink /etc/alternatives/zzalt)"
dpkg -r zz >/dev/null 2>&1
echo "removed: $(test -e /usr/bin/zz && echo still-there || echo gone)"
apt-get install -y /tmp/zz_1.0_all.deb >/dev/null 2>&1
echo "apt: $(dpkg-query -W -f '${Status}' zz) $(zzalt) $(getent passwd zzsvc | cut -d: -f1)"
dpkg --audit
)SH";
  r = sh(cowroot() + " -r " + q(clone) + " -- sh -c " + q(script) + " 2>&1");
  CHECK(r.status == 0);
  CHECK(r.out == "dpkg: zz-runs zzsvc 755 /usr/bin/zz\nremoved: gone\napt: install ok installed zz-runs zzsvc\n");
  // The base saw none of it.
  CHECK(!exists(img + "/usr/bin/zz"));
  CHECK(sh("grep -c zzsvc " + q(img) + "/etc/passwd").out == "0\n");
  auto v = sh(cowroot() + " verify " + q(img) + " 2>&1");
  CHECK_MESSAGE(v.status == 0, v.out);
  // And a reset takes it away from the clone.
  r = sh(cowroot() + " reset " + q(clone) + " 2>&1 && " + cowroot() + " -r " + q(clone) +
         " -- sh -c 'dpkg-query -W zz 2>&1; grep -c zzsvc /etc/passwd; test -e /usr/bin/zz || echo gone'");
  CHECK(r.out == "dpkg-query: no packages found matching zz\n0\ngone\n");
}

// A layer that installs packages: apt-get inside the clone of the image,
// from the image's own sources, as fake root; the parent keeps none of it.
// Last in the file: the image built above moves into a cache of its own.
TEST_CASE("a layer with --include installs the packages with apt-get, as fake root; its parent keeps none") {
  if (archive_skipped()) return;
  const TempDir& d = built();
  TempDir c;
  std::string img = d / "bookworm", images = c / "cowroot/images";
  std::string env = "XDG_CACHE_HOME=" + q(c.path) + " COWROOT_RUN_SYNC=1 ";
  // The debootstrapped tree, sealed with its fake ownership, moved (its
  // state is keyed by its inodes) into the cache as the image deb.
  auto r = sh("{ test -e " + q(img + ".cowroot/manifest") + " || " + cowroot() + " seal -i " + q(d / "state") + " " +
              q(img) + "; } 2>&1 && mkdir -p " + q(images + "/deb") + " && mv " + q(img) + " " +
              q(images + "/deb/root") + " && mv " + q(img + ".cowroot") + " " + q(images + "/deb/root.cowroot"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  write_file(images + "/deb/info", "suite=bookworm\nvariant=minbase\ninclude=\nmirror=" +
                                       std::string(getenv("COWROOT_TEST_MIRROR")) + "\nbuilt=" +
                                       std::to_string(time(nullptr)) + "\n");
  TempDir t;
  write_file(t / "s.sh", "hello > /etc/hello.out\n");
  r = sh(env + cowroot() + " image build deb-hello --from deb --include hello --run " + q(t / "s.sh") + " 2>&1");
  CAPTURE(r.out);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("step 1 of 2: install hello") != std::string::npos);
  r = sh(env + cowroot() + " run --image deb-hello -- sh -c " +
         q("cat /etc/hello.out; dpkg-query -W -f '${Status} ' hello; stat -c '%U' /usr/bin/hello; "
           "ls /var/cache/apt/archives/ | grep -c deb$") + " 2>&1");
  CHECK(r.out == "Hello, world!\ninstall ok installed root\n0\n");
  r = sh(env + cowroot() + " run --image deb -- sh -c 'command -v hello || echo none; dpkg-query -W hello 2>&1 | head -n 1'");
  CHECK(r.out == "none\ndpkg-query: no packages found matching hello\n");
  auto v = sh(env + cowroot() + " verify deb 2>&1");
  CHECK_MESSAGE(v.status == 0, v.out);
  v = sh(env + cowroot() + " verify deb-hello 2>&1");
  CHECK_MESSAGE(v.status == 0, v.out);
}

TEST_CASE("an image build on a full disk fails with one line naming it, and leaves nothing behind") {
  if (archive_skipped()) return;
  std::string fs = small_fs();
  if (fs.empty()) return;
  std::string cache = fs + "/cache." + std::to_string(getpid());
  std::string filler = fs + "/filler." + std::to_string(getpid());
  REQUIRE(mkdir(cache.c_str(), 0700) == 0);
  // 8 MiB left: the archive's package lists fit, a minbase (~300 MB) never does.
  fill_fs(fs, filler, 8l << 20);
  std::string env = "XDG_CACHE_HOME=" + q(cache) + " ";
  auto r = sh(env + cowroot() + " image build full --suite bookworm --mirror " + q(getenv("COWROOT_TEST_MIRROR")) +
              " 2>&1 >/dev/null | grep '^cowroot:'");
  CAPTURE(r.out);
  // The banner, then one line of failure.
  size_t at = r.out.find("cowroot: cannot build image full: debootstrap failed");
  CHECK(at != std::string::npos);
  CHECK(r.out.find("cowroot: cannot", at + 1) == std::string::npos);
  CHECK(r.out.rfind("cowroot: building image full", 0) == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
  CHECK(r.out.find("no space left on device: the image cache " + cache + "/cowroot/images is full") != std::string::npos);
  auto status = sh(env + cowroot() + " image build full --suite bookworm --mirror " + q(getenv("COWROOT_TEST_MIRROR")) +
                   " >/dev/null 2>&1");
  CHECK(status.status == 1);
  // No half-made image, no lock, no work directory.
  CHECK(sh("ls -A " + q(cache + "/cowroot/images")).out == "");
  unlink(filler.c_str());
  auto l = sh(env + cowroot() + " image list 2>&1");
  CHECK(l.status == 0);
  CHECK(l.out.find("full") == std::string::npos);
  sh("rm -rf " + q(cache));
}
