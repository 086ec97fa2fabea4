// Images in one archive (archive.h), made and read by the system's tar.
//
// An image's fake state and its seal's manifest are keyed by inode, which
// means nothing on another machine: the archive carries them by path, and
// import keys them anew. The archive (POSIX tar, nanosecond times):
//
//   cowroot-image/format    "cowroot image archive 1", the image's name
//   cowroot-image/info      NAME/info as it is (its id too: a layer made
//                           from this image on either machine names it)
//   cowroot-image/state     the fake state, one entry per path:
//                           "E MODE UID GID RDEV PATH", then "X NAME VALUE"
//                           per faked extended attribute (hex); and a
//                           file's own attributes (user.*), which tar
//                           leaves out: "R PATH NAME VALUE"; %-escaped
//   cowroot-image/manifest  the seal's manifest without inode numbers
//   cowroot-image/sums      "SHA256  PATH" of every regular file in the
//                           archive but itself, as sha256sum writes them
//   root/                   the image
//   setup/                  a layer's setup script
//
// Import extracts into NAME.build-PID (a build's directory: what a killed
// import leaves is removed by the next builder) and checks, before the
// image is renamed into place: only those names at the top, every file's
// checksum, no file the listing lacks, every path of the state in the
// tree, and the tree as sealed again equal to the manifest. The checks
// find damage (a truncated download, a flipped bit) and changes by anyone
// who did not also rewrite the sums: they are no signature.
#include "archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "../preload/core/state.h"
#include "build.h"
#include "clone/clone.h"
#include "images.h"
#include "sha256.h"

namespace cli {

namespace {

constexpr char kFormat[] = "cowroot image archive 1";

// A path or name as one word: %XX for blanks, controls, '%' and bytes past ASCII.
std::string esc(const std::string& s) {
  std::string o;
  for (unsigned char c : s) {
    if (c <= ' ' || c == '%' || c >= 0x7f) {
      char b[4];
      snprintf(b, sizeof b, "%%%02X", c);
      o += b;
    } else {
      o += (char)c;
    }
  }
  return o;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unesc(const std::string& s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '%') {
      *out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) return false;
    *out += (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
    i += 2;
  }
  return true;
}

std::string hex(const std::string& b) {
  static const char d[] = "0123456789abcdef";
  std::string o;
  for (unsigned char c : b) o += {d[c >> 4], d[c & 15]};
  return o.empty() ? "-" : o;
}

bool unhex(const std::string& h, std::string* out) {
  out->clear();
  if (h == "-") return true;
  if (h.size() % 2) return false;
  for (size_t i = 0; i < h.size(); i += 2) {
    if (hexval(h[i]) < 0 || hexval(h[i + 1]) < 0) return false;
    *out += (char)(hexval(h[i]) * 16 + hexval(h[i + 1]));
  }
  return true;
}

bool slurp(const std::string& p, std::string* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

bool spit(const std::string& p, const std::string& text) {
  std::ofstream o(p, std::ios::binary | std::ios::trunc);
  o << text;
  return (bool)o.flush();
}

struct Entry {
  std::string rel;  // "" for the top, else "a/b"
  struct statx sx;
};

// Every entry of the tree at `top`, the top first and each directory before
// what it holds; no symlink followed, no mount entered.
bool walk(const std::string& top, std::vector<Entry>* out, std::string* err) {
  struct statx tsx;
  if (statx(AT_FDCWD, top.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &tsx) < 0) {
    *err = top + ": " + strerror(errno);
    return false;
  }
  out->push_back({"", tsx});
  for (size_t i = 0; i < out->size(); i++) {
    if (!S_ISDIR((*out)[i].sx.stx_mode)) continue;
    std::string rel = (*out)[i].rel, path = rel.empty() ? top : top + "/" + rel;
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR* d = fd >= 0 ? fdopendir(fd) : nullptr;
    if (!d) {
      *err = path + ": " + strerror(errno);
      if (fd >= 0) close(fd);
      return false;
    }
    std::vector<std::string> names;
    while (dirent* e = readdir(d))
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
    for (auto& n : names) {
      struct statx sx;
      if (statx(dirfd(d), n.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) < 0) {
        *err = path + "/" + n + ": " + strerror(errno);
        closedir(d);
        return false;
      }
      if (S_ISDIR(sx.stx_mode) && (sx.stx_dev_major != tsx.stx_dev_major || sx.stx_dev_minor != tsx.stx_dev_minor))
        continue;  // a mount is not the image's
      out->push_back({rel.empty() ? n : rel + "/" + n, sx});
    }
    closedir(d);
  }
  return true;
}

// A file's own extended attributes (user.*: the fake state holds
// security.* and trusted.*), sorted by name.
std::map<std::string, std::string> real_xattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  char names[65536];
  ssize_t n = llistxattr(path.c_str(), names, sizeof names);
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(names + i) + 1) {
    char value[65536];
    ssize_t vl = lgetxattr(path.c_str(), names + i, value, sizeof value);
    if (vl >= 0) out[names + i] = std::string(value, (size_t)vl);
  }
  return out;
}

cr::Key key_of(const struct statx& s) { return {makedev(s.stx_dev_major, s.stx_dev_minor), s.stx_ino}; }
cr::Birth birth_of(const struct statx& s) {
  return (s.stx_mask & STATX_BTIME) ? cr::Birth{s.stx_btime.tv_sec, s.stx_btime.tv_nsec} : cr::Birth{};
}

// Runs argv (found on PATH), its error output collected; its exit status
// (127: it could not run).
int run_program(const std::vector<std::string>& argv, std::string* errout, const std::string& out_file = "") {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) return 127;
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    if (!out_file.empty()) {
      int o = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (o < 0) _exit(127);
      dup2(o, 1);
    } else {
      dup2(null, 1);
    }
    dup2(p[1], 2);
    std::vector<char*> a;
    for (auto& x : argv) a.push_back(const_cast<char*>(x.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    fprintf(stderr, "cannot run %s: %s\n", a[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) != 0)
    if (n > 0) errout->append(buf, n);
    else if (errno != EINTR) break;
  close(p[0]);
  int st = 0;
  if (pid < 0) return 127;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string one_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  for (auto& c : s)
    if (c == '\n') c = ';';
  return s;
}

// tar's compression option for a file name, by its suffix.
std::string compressor(const std::string& file) {
  auto ends = [&](const char* sfx) {
    size_t n = strlen(sfx);
    return file.size() > n && file.compare(file.size() - n, n, sfx) == 0;
  };
  if (ends(".gz") || ends(".tgz")) return "--gzip";
  if (ends(".xz")) return "--xz";
  if (ends(".zst")) return "--zstd";
  if (ends(".bz2")) return "--bzip2";
  return "";
}

// A path for a file that may not exist yet, made absolute (its directory
// must exist).
bool absolute_file(const std::string& file, std::string* out, std::string* err) {
  std::string dir = file.find('/') == std::string::npos ? "." : file.substr(0, file.rfind('/'));
  if (dir.empty()) dir = "/";
  std::string base = file.substr(file.rfind('/') == std::string::npos ? 0 : file.rfind('/') + 1);
  char real[4096];
  if (base.empty() || base == "." || base == "..") {
    *err = file + ": not a file name";
    return false;
  }
  if (!realpath(dir.c_str(), real)) {
    *err = file + ": " + strerror(errno);
    return false;
  }
  *out = std::string(real) + (strcmp(real, "/") == 0 ? "" : "/") + base;
  return true;
}

// The seal's manifest (ino size mtime mode path) without its inode column.
std::string manifest_by_path(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    size_t sp = line.find(' ');
    if (sp != std::string::npos) out += line.substr(sp + 1) + "\n";
  }
  return out;
}

void report_first(const char* line, void* ctx) {
  auto* s = static_cast<std::string*>(ctx);
  if (s->empty()) *s = line;
}

}  // namespace

int export_image(const std::string& name, const std::string& file_in, std::string* err) {
  if (!valid_name(name)) {
    *err = invalid_name(name);
    return -1;
  }
  if (!wait_for_build(name, err)) return -1;  // (an image whose first build is under way: once it is built)
  if (!image_exists(name)) {
    *err = "no image named " + name + " (cowroot image list shows them)";
    return -1;
  }
  std::string file;
  if (!absolute_file(file_in, &file, err)) return -1;
  std::string dir = cache_dir(), image = dir + "/" + name, root = image + "/root", lockp = image + ".lock";
  // No build of the image while it is read.
  int lock = take_lock(lockp, name, true, err);
  if (lock < 0) return -1;
  char tmpl[4096];
  const char* t = getenv("TMPDIR");
  snprintf(tmpl, sizeof tmpl, "%s/cowroot-export-XXXXXX", t && *t == '/' ? t : "/tmp");
  std::string staging, tmp = file + ".tmp-" + std::to_string(getpid());
  auto done = [&](int rc) {
    char ignore[512];
    if (!staging.empty()) cr::remove_tree(staging.c_str(), ignore, sizeof ignore);
    if (rc < 0) unlink(tmp.c_str());
    unlink(lockp.c_str());
    close(lock);
    return rc;
  };
  if (!image_exists(name)) {
    *err = "no image named " + name + " (it was removed meanwhile)";
    return done(-1);
  }
  // What goes is what was sealed: a changed image has no manifest to check
  // it against.
  char e[1024];
  std::string first;
  long changes = cr::cow_verify(root.c_str(), e, sizeof e, report_first, &first);
  if (changes < 0) {
    *err = e;
    return done(-1);
  }
  if (changes > 0) {
    *err = "image " + name + " changed since it was sealed (" + first + "; cowroot verify " + name +
           " lists all): not exported";
    return done(-1);
  }
  if (!mkdtemp(tmpl)) {
    *err = std::string("cannot create a directory in ") + (t ? t : "/tmp") + ": " + strerror(errno);
    return done(-1);
  }
  staging = tmpl;
  std::string meta = staging + "/cowroot-image";
  if (mkdir(meta.c_str(), 0755) < 0) {
    *err = "cannot create " + meta + ": " + strerror(errno);
    return done(-1);
  }
  std::vector<Entry> entries;
  if (!walk(root, &entries, err)) return done(-1);
  cr::ScopedState st;
  bool has_state = access((root + ".cowroot/state/table").c_str(), F_OK) == 0;
  if (has_state)
    if (int r = st.open((root + ".cowroot/state").c_str(), false); r < 0) {
      *err = "the fake state of " + root + ": " + strerror(-r);
      return done(-1);
    }
  std::string state, sums;
  std::map<std::pair<uint64_t, uint64_t>, std::string> digests;  // hard links: one digest
  for (auto& en : entries) {
    std::string path = en.rel.empty() ? "." : en.rel;
    if (S_ISREG(en.sx.stx_mode)) {
      auto id = std::make_pair((uint64_t)key_of(en.sx).dev, (uint64_t)en.sx.stx_ino);
      auto it = digests.find(id);
      if (it == digests.end()) {
        std::string d = sha256_file(root + "/" + en.rel, err);
        if (d.empty()) return done(-1);
        it = digests.emplace(id, d).first;
      }
      sums += it->second + "  root/" + esc(en.rel) + "\n";
    }
    for (auto& [n, v] : real_xattrs(root + "/" + en.rel)) state += "R " + esc(path) + " " + esc(n) + " " + hex(v) + "\n";
    cr::Meta m, real;
    real.mode = en.sx.stx_mode;
    real.birth = birth_of(en.sx);
    if (!has_state || !st.lookup(key_of(en.sx), &m) || cr::entry_stale(m, real)) continue;
    char line[128];
    snprintf(line, sizeof line, "E %o %u %u %llu ", m.mode, m.uid, m.gid, (unsigned long long)m.rdev);
    state += line + esc(path) + "\n";
    st.xattr_names(m, [&](const char* n, uint32_t len) {
      std::string nm(n, len);
      long vl = st.xattr_get(m, nm.c_str(), nullptr, 0);
      if (vl < 0) return true;
      std::string v((size_t)vl, '\0');
      if (vl > 0) st.xattr_get(m, nm.c_str(), v.data(), v.size());
      state += "X " + esc(nm) + " " + hex(v) + "\n";
      return true;
    });
  }
  bool setup = access((image + "/setup").c_str(), F_OK) == 0;
  if (setup) {
    std::vector<Entry> se;
    if (!walk(image + "/setup", &se, err)) return done(-1);
    for (auto& en : se)
      if (S_ISREG(en.sx.stx_mode)) {
        std::string d = sha256_file(image + "/setup/" + en.rel, err);
        if (d.empty()) return done(-1);
        sums += d + "  setup/" + esc(en.rel) + "\n";
      }
  }
  std::string manifest, info;
  if (!slurp(root + ".cowroot/manifest", &manifest) || !slurp(image + "/info", &info)) {
    *err = "cannot read the seal or the info of image " + name + ": " + strerror(errno);
    return done(-1);
  }
  std::map<std::string, std::string> files = {{"format", std::string(kFormat) + "\nname=" + name + "\n"},
                                              {"info", info},
                                              {"state", state},
                                              {"manifest", manifest_by_path(manifest)}};
  for (auto& [n, text] : files) {
    if (!spit(meta + "/" + n, text)) {
      *err = "cannot write " + meta + "/" + n + ": " + strerror(errno);
      return done(-1);
    }
    sums += sha256(text) + "  cowroot-image/" + n + "\n";
  }
  if (!spit(meta + "/sums", sums)) {
    *err = "cannot write " + meta + "/sums: " + strerror(errno);
    return done(-1);
  }
  std::vector<std::string> tar = {"tar", "--format=posix", "--pax-option=delete=atime,delete=ctime", "-c"};
  if (std::string z = compressor(file); !z.empty()) tar.push_back(z);
  tar.insert(tar.end(), {"-f", tmp, "-C", staging, "cowroot-image", "-C", image, "root"});
  if (setup) tar.push_back("setup");
  std::string tar_err;
  if (int rc = run_program(tar, &tar_err); rc != 0) {
    *err = "cannot export image " + name + " to " + file + ": tar failed with status " + std::to_string(rc) +
           (tar_err.empty() ? "" : ": " + one_line(tar_err));
    return done(-1);
  }
  if (rename(tmp.c_str(), file.c_str()) < 0) {
    *err = "cannot rename " + tmp + " to " + file + ": " + strerror(errno);
    return done(-1);
  }
  fprintf(stderr, "cowroot: image %s exported to %s (%zu entries)\n", name.c_str(), file.c_str(), entries.size());
  return done(0);
}

namespace {

// Checks an extracted archive in `work` and makes it an image there
// (import_image's finish): "" or why it is refused.
std::string verify_and_restore(const std::string& work) {
  std::string meta = work + "/cowroot-image", root = work + "/root", e;
  // Only the archive's own names at the top.
  if (DIR* d = opendir(work.c_str())) {
    std::string odd;
    while (dirent* de = readdir(d)) {
      std::string n = de->d_name;
      if (n != "." && n != ".." && n != "cowroot-image" && n != "root" && n != "setup") odd = n;
    }
    closedir(d);
    if (!odd.empty()) return "it holds " + odd + ", which no image archive does";
  }
  std::string format, sums_text;
  if (!slurp(meta + "/format", &format) || format.rfind(std::string(kFormat) + "\n", 0) != 0)
    return "it is not an image archive of cowroot (no " + std::string(kFormat) + " in cowroot-image/format)";
  if (!slurp(meta + "/sums", &sums_text)) return "it has no checksums (cowroot-image/sums)";
  std::map<std::string, std::string> sums;  // archive path -> digest
  {
    std::istringstream in(sums_text);
    for (std::string line; std::getline(in, line);) {
      std::string path;
      if (line.size() < 67 || line.compare(64, 2, "  ") != 0 || !unesc(line.substr(66), &path))
        return "its checksum list is damaged (cowroot-image/sums)";
      sums[path] = line.substr(0, 64);
    }
  }
  // Every file against its checksum; none that the list lacks.
  std::set<std::string> seen;
  auto check = [&](const std::string& path) -> std::string {
    auto it = sums.find(path);
    if (it == sums.end()) return path + " is not in its checksum list";
    std::string d = sha256_file(work + "/" + path, &e);
    if (d.empty()) return e;
    if (d != it->second) return path + " does not match its checksum";
    seen.insert(path);
    return "";
  };
  for (const char* n : {"format", "info", "state", "manifest"})
    if (std::string why = check(std::string("cowroot-image/") + n); !why.empty()) return why;
  std::vector<Entry> entries;
  if (!walk(root, &entries, &e)) return e;
  std::map<std::string, const Entry*> by_path;
  for (auto& en : entries) {
    by_path[en.rel.empty() ? "." : en.rel] = &en;
    if (S_ISREG(en.sx.stx_mode))
      if (std::string why = check("root/" + en.rel); !why.empty()) return why;
  }
  std::vector<Entry> setup;
  if (access((work + "/setup").c_str(), F_OK) == 0 && !walk(work + "/setup", &setup, &e)) return e;
  for (auto& en : setup)
    if (S_ISREG(en.sx.stx_mode))
      if (std::string why = check("setup/" + en.rel); !why.empty()) return why;
  for (auto& [path, _] : sums)
    if (!seen.count(path)) return path + " is missing (a truncated archive?)";
  // The fake state, keyed by the new files.
  std::string state;
  slurp(meta + "/state", &state);
  std::string side = root + ".cowroot";
  if (mkdir(side.c_str(), 0700) < 0 || mkdir((side + "/state").c_str(), 0700) < 0)
    return "cannot create " + side + ": " + strerror(errno);
  {
    cr::ScopedState st;
    if (int r = st.open((side + "/state").c_str(), true); r < 0) return "the fake state: " + std::string(strerror(-r));
    std::istringstream in(state);
    cr::Key k{};
    cr::Meta m;
    bool have = false;
    std::map<std::string, std::map<std::string, std::string>> attrs;  // path -> its own attributes
    for (std::string line; std::getline(in, line);) {
      std::istringstream ls(line);
      std::string tag, a, b, c;
      ls >> tag;
      if (tag == "R") {
        std::string path, name, value;
        if (!(ls >> a >> b >> c) || !unesc(a, &path) || !unesc(b, &name) || !unhex(c, &value))
          return "its fake state is damaged (cowroot-image/state)";
        attrs[path][name] = value;
      } else if (tag == "E") {
        unsigned mode, uid, gid;
        unsigned long long rdev;
        std::string path;
        if (!(ls >> std::oct >> mode >> std::dec >> uid >> gid >> rdev >> a) || !unesc(a, &path))
          return "its fake state is damaged (cowroot-image/state)";
        auto it = by_path.find(path);
        if (it == by_path.end()) return "its fake state names " + path + ", which is not in the image";
        k = key_of(it->second->sx);
        m = cr::Meta{};
        m.mode = mode;
        m.uid = uid;
        m.gid = gid;
        m.rdev = rdev;
        m.birth = birth_of(it->second->sx);
        if (int r = st.put(k, m); r < 0) return "the fake state: " + std::string(strerror(-r));
        have = true;
      } else if (tag == "X" && have) {
        std::string name, value;
        if (!(ls >> a >> b) || !unesc(a, &name) || !unhex(b, &value))
          return "its fake state is damaged (cowroot-image/state)";
        if (int r = st.xattr_set(k, m, name.c_str(), value.data(), value.size(), 0); r < 0)
          return "the fake state: " + std::string(strerror(-r));
      } else if (!tag.empty()) {
        return "its fake state is damaged (cowroot-image/state)";
      }
    }
    // The files' own attributes (a sealed file gets its write bit for a
    // moment: an attribute is a write), then every file's as listed.
    for (auto& [path, list] : attrs) {
      auto it = by_path.find(path);
      if (it == by_path.end()) return "its fake state names " + path + ", which is not in the image";
      std::string p = path == "." ? root : root + "/" + path;
      mode_t mode = it->second->sx.stx_mode;
      bool lend = !S_ISLNK(mode) && !(mode & S_IWUSR);
      if (lend && chmod(p.c_str(), (mode & 07777) | S_IWUSR) < 0) return "root/" + path + ": " + strerror(errno);
      for (auto& [n, v] : list)
        if (lsetxattr(p.c_str(), n.c_str(), v.data(), v.size(), 0) < 0) {
          int e = errno;
          if (lend) chmod(p.c_str(), mode & 07777);
          return "cannot set " + n + " on root/" + path + ": " + strerror(e);
        }
      if (lend && chmod(p.c_str(), mode & 07777) < 0) return "root/" + path + ": " + strerror(errno);
    }
    for (auto& [path, en] : by_path)
      if (real_xattrs(path == "." ? root : root + "/" + path) != attrs[path])
        return "the extended attributes of root/" + path + " are not as listed (cowroot-image/state)";
  }
  // Sealed again here, it must be what was sealed there: every path, its
  // mode, and a file's size and modification time (to the second).
  char err[1024];
  if (cr::cow_seal(root.c_str(), err, sizeof err) < 0) return err;
  std::string want, have;
  slurp(meta + "/manifest", &want);
  slurp(side + "/manifest", &have);
  auto parse = [](const std::string& text) {
    std::map<std::string, std::string> m;  // path -> what must agree
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      std::istringstream ls(line);
      std::string size, mtime, mode;
      ls >> size >> mtime >> mode;
      std::string path = line.substr(std::min(line.size(), size.size() + mtime.size() + mode.size() + 3));
      unsigned long md = strtoul(mode.c_str(), nullptr, 8);
      m[path] = S_ISREG(md) ? mode + " " + size + " " + mtime.substr(0, mtime.find('.')) : mode;
    }
    return m;
  };
  auto w = parse(want), h = parse(manifest_by_path(have));
  for (auto& [path, v] : w) {
    auto it = h.find(path);
    if (it == h.end()) return path.substr(1) + " is missing from the image (a truncated archive?)";
    if (it->second != v) return "root" + path + " is not as it was sealed (mode, size or time)";
  }
  for (auto& [path, v] : h)
    if (!w.count(path)) return "root" + path + " is not in the seal's manifest";
  std::string info;
  if (!slurp(meta + "/info", &info) || !spit(work + "/info", info)) return "cannot write " + work + "/info";
  if (cr::remove_tree(meta.c_str(), err, sizeof err) < 0) return err;
  return "";
}

}  // namespace

int import_image(const std::string& file_in, const std::string& name_in, std::string* err) {
  std::string file;
  struct stat fst;
  if (!absolute_file(file_in, &file, err)) return -1;
  if (stat(file.c_str(), &fst) < 0 || S_ISDIR(fst.st_mode)) {
    *err = "cannot import " + file_in + ": " + (S_ISDIR(fst.st_mode) ? "a directory" : strerror(errno));
    return -1;
  }
  std::string name = name_in;
  if (name.empty()) {
    // The name it was exported under: the archive's first member, read
    // without reading the rest.
    std::string tar_err;
    char t[4096];
    const char* td = getenv("TMPDIR");
    snprintf(t, sizeof t, "%s/cowroot-import-name-%d", td && *td == '/' ? td : "/tmp", (int)getpid());
    std::string out = t;
    int rc = run_program({"tar", "-x", "-O", "--occurrence=1", "-f", file, "cowroot-image/format"}, &tar_err, out);
    std::string format;
    slurp(out, &format);
    unlink(out.c_str());
    if (rc != 0 || format.rfind(std::string(kFormat) + "\nname=", 0) != 0) {
      *err = "cannot import " + file_in + ": it is not an image archive of cowroot" +
             (tar_err.empty() ? "" : " (" + tar_err.substr(0, tar_err.find('\n')) + ")");
      return -1;
    }
    size_t at = format.find("\nname=") + 6;
    name = format.substr(at, format.find('\n', at) - at);
  }
  if (!valid_name(name)) {
    *err = invalid_name(name);
    return -1;
  }
  std::string exists_msg = "image " + name + " exists: remove it first (cowroot image rm " + name +
                           "), or import it under another name (cowroot image import FILE NAME)";
  if (image_exists(name)) {
    *err = exists_msg;
    return -1;
  }
  bool appeared = false;
  Build b;
  b.name = name;
  b.current = [&] { return appeared = image_exists(name); };
  b.command = [&](const std::string& work) {
    return std::vector<std::string>{"tar", "-x", "-p", "--no-same-owner", "-f", file, "-C", work};
  };
  b.held = "*";  // tar's and its decompressor's complaints
  b.failed = [&](int status, const std::string& held, const std::string&) {
    return "cannot import " + file_in + ": " +
           (held.empty() ? "tar failed with status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128)
                         : held);
  };
  b.finish = [&](const std::string& work) -> std::string {
    std::string why = verify_and_restore(work);
    return why.empty() ? "" : "cannot import " + file_in + ": " + why + "; nothing imported";
  };
  b.done = "image " + name + " imported from " + file;
  if (!make_cache_dir(err)) return -1;
  if (run_build(b, err) < 0) return -1;
  if (appeared) {
    *err = exists_msg;
    return -1;
  }
  return 0;
}

}  // namespace cli
