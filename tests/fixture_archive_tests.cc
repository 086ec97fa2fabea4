// cowroot image export and import: one archive carrying an image, its fake
// state and its seal to another machine (here: another cache), verified on
// import; a damaged or tampered archive is refused in one line and leaves
// nothing.
#include "fixture_util.h"

using namespace fx;

namespace {

struct Out {
  int status;
  std::string out, err;
};

// `cowroot ARGS` with its output and error output apart, with `env` first.
Out cli(const std::string& args, const std::string& env = "") {
  TempDir t;
  auto r = sh(env + " " + cowroot_cmd() + " " + args + " > " + q(t / "out") + " 2> " + q(t / "err"));
  return {r.status, slurp(t / "out"), slurp(t / "err")};
}

// A layer of the small image with fake owners, modes, an attribute, a
// symlink and hard links of its own, made once.
std::string layer() {
  static bool made = [] {
    small_image("arc-base");
    TempDir t;
    write_file(t / "s.sh",
               "mkdir -p /srv/app\n"
               "echo data > /srv/app/data\n"
               "chown 7:8 /srv/app/data\n"
               "chmod 4750 /srv/app/data\n"
               "ln /srv/app/data /srv/app/hardlink\n"
               "ln -s ../app/data /srv/app/symlink\n"
               "mknod /srv/app/null c 1 3\n"
               "setfattr -n user.note -v hello /srv/app/data\n");
    auto r = cli("image build arc-layer --from arc-base --run " + q(t / "s.sh"));
    REQUIRE_MESSAGE(r.status == 0, r.err);
    return true;
  }();
  (void)made;
  return "arc-layer";
}

// What a program inside a root of `image` sees of the layer's files.
const char* kLook =
    "stat -c '%n %u %g %a %h %F' /srv/app/data /srv/app/null; readlink /srv/app/symlink; cat /srv/app/hardlink; "
    "getfattr --absolute-names -n user.note --only-values /srv/app/data; echo; cat /etc/motd";

std::string look(const std::string& image, const std::string& env = "") {
  return sh(env + " COWROOT_RUN_SYNC=1 " + cowroot_cmd() + " run --image " + image + " -- sh -c " + q(kLook) + " 2>&1")
      .out;
}

// The names of a cache's images directory: what an import left.
std::string listing(const std::string& cache) {
  return sh("ls -a " + q(cache + "/cowroot/images") + " 2>/dev/null | grep -v '^\\.\\.*$'").out;
}

}  // namespace

TEST_CASE("export, then import into another cache: the same image, fake owners, attributes and seal") {
  std::string name = layer();
  std::string want = look(name);
  REQUIRE(want == "/srv/app/data 7 8 4750 2 regular file\n/srv/app/null 0 0 644 1 character special file\n"
                  "../app/data\ndata\nhello\ninside the root\n");
  TempDir t;
  auto r = cli("image export " + name + " " + q(t / "a.tar.zst"));
  CAPTURE(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.find("cowroot: image arc-layer exported to " + t / "a.tar.zst") == 0);
  CHECK(sh("zstd -t -q " + q(t / "a.tar.zst")).status == 0);  // compressed by its suffix
  // Another machine: an empty cache. Nothing is rebuilt there.
  TempDir other;
  std::string env = "XDG_CACHE_HOME=" + q(other.path);
  r = cli("image import " + q(t / "a.tar.zst"), env);
  CAPTURE(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err == "cowroot: image arc-layer imported from " + t / "a.tar.zst" + "\n");
  CHECK(look(name, env) == want);
  CHECK(cli("verify arc-layer", env).status == 0);
  CHECK(cli("image list", env).out.find("from arc-base") != std::string::npos);
  // Its info, its id too: a layer made from it knows it on either machine.
  CHECK(slurp(other / "cowroot/images/arc-layer/info") == slurp(image_cache() + "/arc-layer/info"));
  // With no parent there, asking for the layer by its inputs uses it as it is.
  write_file(t / "s.sh", slurp(image_cache() + "/arc-layer/setup/s.sh"));
  r = cli("image path arc-layer --from arc-base --run " + q(t / "s.sh"), env);
  CHECK(r.status == 0);
  CHECK(r.err == "");
  // Under another name, uncompressed; an existing name is never replaced.
  REQUIRE(cli("image export " + name + " " + q(t / "a.tar")).status == 0);
  REQUIRE(cli("image import " + q(t / "a.tar") + " second", env).status == 0);
  CHECK(look("second", env) == want);
  r = cli("image import " + q(t / "a.tar"), env);
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: image arc-layer exists: remove it first (cowroot image rm arc-layer), or import it "
                 "under another name (cowroot image import FILE NAME)\n");
  CHECK(look(name, env) == want);
  // The checksums are SHA-256, as sha256sum writes them.
  auto c = sh("mkdir " + q(t / "x") + " && tar -xf " + q(t / "a.tar") + " -C " + q(t / "x") + " && cd " + q(t / "x") +
              " && sha256sum -c --quiet cowroot-image/sums && echo sums-ok");
  CHECK(c.out == "sums-ok\n");
}

TEST_CASE("a truncated, damaged or tampered archive is refused in one line, and nothing of it is left") {
  std::string name = layer();
  TempDir t;
  REQUIRE(cli("image export " + name + " " + q(t / "a.tar")).status == 0);
  TempDir other;
  std::string env = "XDG_CACHE_HOME=" + q(other.path);
  auto refused = [&](const std::string& file, const std::string& why) {
    auto r = cli("image import " + q(file) + " got", env);
    CAPTURE(file);
    CAPTURE(r.err);
    CHECK(r.status == 1);
    CHECK(r.err.rfind("cowroot: cannot import " + file + ": ", 0) == 0);
    CHECK(r.err.find(why) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(listing(other.path) == "");  // no image, no build directory, no lock
  };
  long size = real_stat(t / "a.tar").st_size;
  // Cut short, plain and compressed.
  sh("head -c " + std::to_string(size / 2 + 100) + " " + q(t / "a.tar") + " > " + q(t / "cut.tar"));
  refused(t / "cut.tar", "Unexpected EOF");
  sh("gzip -c " + q(t / "a.tar") + " | head -c 20000 > " + q(t / "cut.tar.gz"));
  refused(t / "cut.tar.gz", "Unexpected EOF");
  // A byte of a file changed.
  std::string a = slurp(t / "a.tar");
  size_t at = a.find("inside the root\n");
  REQUIRE(at != std::string::npos);
  std::string b = a;
  b[at] = 'I';
  write_file(t / "flipped.tar", b);
  refused(t / "flipped.tar", "root/etc/motd does not match its checksum");
  // The fake state changed: the owner of a file.
  at = a.find("E 104750 7 8 ");
  REQUIRE(at != std::string::npos);
  b = a;
  b[at + 9] = '0';
  write_file(t / "owner.tar", b);
  refused(t / "owner.tar", "cowroot-image/state does not match its checksum");
  // A file more, a file less.
  REQUIRE(sh("mkdir -p " + q(t / "x/root/etc") + " && echo evil > " + q(t / "x/root/etc/evil") + " && cp " +
             q(t / "a.tar") + " " + q(t / "more.tar") + " && tar -rf " + q(t / "more.tar") + " -C " + q(t / "x") +
             " root/etc/evil")
              .status == 0);
  refused(t / "more.tar", "root/etc/evil is not in its checksum list");
  REQUIRE(sh("cp " + q(t / "a.tar") + " " + q(t / "less.tar") + " && tar --delete -f " + q(t / "less.tar") +
             " root/etc/motd")
              .status == 0);
  refused(t / "less.tar", "root/etc/motd is missing");
  // Not an archive of an image at all.
  write_file(t / "other.tar", "");
  REQUIRE(sh("tar -cf " + q(t / "other.tar") + " -C " + q(t / "x") + " root").status == 0);
  refused(t / "other.tar", "it is not an image archive of cowroot");
  auto r = cli("image import " + q(t / "missing.tar"), env);
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: cannot import " + t / "missing.tar" + ": No such file or directory\n");
  // After all that, the good one goes in.
  CHECK(cli("image import " + q(t / "a.tar") + " got", env).status == 0);
  CHECK(cli("verify got", env).status == 0);
}

TEST_CASE("export refuses an image changed since it was sealed, and writes its file whole or not at all") {
  small_image("arc-changed");
  std::string root = image_cache() + "/arc-changed/root";
  TempDir t;
  REQUIRE(sh("chmod u+w " + q(root + "/etc/motd") + " && echo changed > " + q(root + "/etc/motd")).status == 0);
  auto r = cli("image export arc-changed " + q(t / "c.tar"));
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: image arc-changed changed since it was sealed (changed: /etc/motd; cowroot verify "
                 "arc-changed lists all): not exported\n");
  CHECK(sh("ls -A " + q(t.path)).out == "");
  r = cli("image export no-such-image " + q(t / "c.tar"));
  CHECK(r.err == "cowroot: no image named no-such-image (cowroot image list shows them)\n");
  r = cli("image export " + layer() + " " + q(t / "no-dir/c.tar"));
  CHECK(r.status == 1);
  CHECK(r.err == "cowroot: " + t / "no-dir/c.tar" + ": No such file or directory\n");
}
