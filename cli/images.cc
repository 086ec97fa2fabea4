// The image cache: Debian base images built on first use by debootstrap
// under cowroot, sealed, and cloned for every `cowroot run`.
//
//   $XDG_CACHE_HOME/cowroot/images/NAME/root           the image
//   $XDG_CACHE_HOME/cowroot/images/NAME/root.cowroot   its fake state, seal manifest
//   $XDG_CACHE_HOME/cowroot/images/NAME/info           how it was built, when
//   $XDG_CACHE_HOME/cowroot/images/NAME.lock           builders take turns on it
//   $XDG_CACHE_HOME/cowroot/images/NAME.build-PID/     a build in progress
//   $XDG_CACHE_HOME/cowroot/images/NAME.old-PID/       an image a refresh puts aside
//   $XDG_CACHE_HOME/cowroot/images/NAME.runs/          its pool of roots (slots.h)
//   $XDG_CACHE_HOME/cowroot/images/NAME.failed.log     the log of its last failed build
#include "images.h"
#include "layers.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "../preload/core/session_end.h"
#include "clone/clone.h"
#include "../preload/core/state.h"
#include "build.h"
#include "sha256.h"
#include "slots.h"

namespace cli {

namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) i++;
  return s.substr(i);
}

bool mkdirs(const std::string& p) {
  if (is_dir(p)) return true;
  size_t s = p.rfind('/');
  if (s != std::string::npos && s > 0 && !mkdirs(p.substr(0, s))) return false;
  return mkdir(p.c_str(), 0755) == 0 || errno == EEXIST;
}

// The Debian mirror the host's apt uses: the first plain "deb" source (not
// security or updates) in sources.list or deb822 .sources files.
std::string host_mirror() {
  std::vector<std::string> files = {"/etc/apt/sources.list"};
  glob_t g{};
  if (glob("/etc/apt/sources.list.d/*", 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; i++) files.push_back(g.gl_pathv[i]);
  globfree(&g);
  auto usable = [](const std::string& uri) {
    return uri.rfind("http", 0) == 0 && uri.find("security") == std::string::npos &&
           uri.find("debian") != std::string::npos;
  };
  for (auto& f : files) {
    std::ifstream in(f);
    std::string line;
    bool sources = f.size() > 8 && f.compare(f.size() - 8, 8, ".sources") == 0;
    bool is_deb = !sources;
    while (std::getline(in, line)) {
      line = trim(line);
      if (line.empty() || line[0] == '#') continue;
      if (sources) {
        if (line.rfind("Types:", 0) == 0) is_deb = line.find(" deb") != std::string::npos ||
                                                   line.find("\tdeb") != std::string::npos;
        if (line.rfind("URIs:", 0) == 0 && is_deb) {
          std::istringstream ss(line.substr(5));
          std::string uri;
          while (ss >> uri)
            if (usable(uri)) return uri;
        }
      } else if (line.rfind("deb ", 0) == 0) {
        std::istringstream ss(line.substr(4));
        std::string w;
        while (ss >> w) {
          if (w[0] == '[') {
            while (w.back() != ']' && ss >> w) {
            }
            continue;
          }
          if (usable(w)) return w;
          break;
        }
      }
    }
  }
  return "";
}


}  // namespace

std::string cache_dir() {
  const char* x = getenv("XDG_CACHE_HOME");
  std::string base;
  if (x && *x == '/') base = x;
  else if (const char* h = getenv("HOME"); h && *h == '/' && access(h, W_OK) == 0) base = std::string(h) + "/.cache";
  else {
    // Without a home: a directory of this user in /tmp. One planted there
    // by another user is never followed (cr::private_dir says where the
    // cache is instead, once).
    static std::string tmp_base;
    if (tmp_base.empty()) {
      bool fresh;
      std::string note;
      tmp_base = cr::private_dir("/tmp", "cowroot-cache-" + std::to_string(getuid()), &fresh, &note);
      if (!note.empty()) fprintf(stderr, "cowroot: %s\n", note.c_str());
      if (tmp_base.empty()) tmp_base = "/nonexistent";
    }
    base = tmp_base;
  }
  return base + "/cowroot/images";
}

bool make_cache_dir(std::string* err) {
  if (mkdirs(cache_dir())) return true;
  *err = "cannot create the image cache " + cache_dir() + ": " + strerror(errno);
  return false;
}

std::string image_root(const std::string& name) { return cache_dir() + "/" + name + "/root"; }

bool image_exists(const std::string& name) {
  // (A build in progress, NAME.build-PID, has a root too: it is no image.)
  return valid_name(name) && is_dir(image_root(name)) && is_dir(image_root(name) + ".cowroot");
}

std::map<std::string, std::string> read_info(const std::string& path) {
  std::map<std::string, std::string> m;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return m;
}

std::string new_image_id() {
  unsigned char r[16];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
    for (size_t i = 0; i < sizeof r; i++) r[i] = (unsigned char)(rand() ^ getpid() ^ time(nullptr) >> (i % 8));
  char out[33];
  for (size_t i = 0; i < sizeof r; i++) snprintf(out + 2 * i, 3, "%02x", r[i]);
  return out;
}

std::string image_identity(const std::string& name) {
  if (!image_exists(name)) return "";
  std::string path = cache_dir() + "/" + name + "/info";
  auto info = read_info(path);
  if (!info["id"].empty()) return info["id"];
  std::string e;
  return "info-" + sha256_file(path, &e);
}

const char* const kCacheSuffixes[5] = {".lock", ".build-", ".old-", ".runs", ".failed.log"};

namespace {

// The first of the cache's suffixes in n, or nullptr.
const char* cache_suffix_in(const std::string& n) {
  for (const char* s : kCacheSuffixes)
    if (n.find(s) != std::string::npos) return s;
  return nullptr;
}

}  // namespace

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 64 || n[0] == '.' || cache_suffix_in(n)) return false;
  for (char c : n)
    if (!isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.' && c != '+') return false;
  return true;
}

std::string invalid_name(const std::string& n) {
  if (const char* s = cache_suffix_in(n))
    return "invalid image name '" + n + "' (" + s + " is the cache's own: NAME.lock, NAME.build-PID, NAME.old-PID, " +
           "NAME.runs and NAME.failed.log belong to the image NAME)";
  if (n.empty() || n.size() > 64) return "invalid image name '" + n + "' (1 to 64 characters)";
  if (n[0] == '.') return "invalid image name '" + n + "' (it may not start with a dot)";
  return "invalid image name '" + n + "' (letters, digits, - _ . + only)";
}

bool debootstrap_knows(const std::string& suite) {
  // (debootstrap reads its suites from here.)
  const char* dd = getenv("DEBOOTSTRAP_DIR");
  std::string script = std::string(dd && *dd ? dd : "/usr/share/debootstrap") + "/scripts/" + suite;
  struct stat st;
  return !suite.empty() && suite.find('/') == std::string::npos && stat(script.c_str(), &st) == 0;
}

std::string mirror_problem(const std::string& m) {
  // What debootstrap's just_get takes: http://, https:// and ftp:// (a
  // host after them), file: (a path), ssh: (scp's source). Anything else
  // ends deep in its run with "unknown location"; a space splits it.
  std::string what = "--mirror '" + m + "': ";
  for (char c : m)
    if ((unsigned char)c <= ' ' || c == 0x7f) return what + "a URL has no spaces or control characters";
  auto after = [&](const char* scheme) -> const char* {
    size_t n = strlen(scheme);
    return m.compare(0, n, scheme) == 0 ? m.c_str() + n : nullptr;
  };
  for (const char* s : {"http://", "https://", "ftp://"})
    if (const char* rest = after(s)) {
      if (*rest == '\0' || *rest == '/') return what + "no host after " + s;
      return "";
    }
  if (const char* rest = after("file:")) {
    if (*rest != '/') return what + "a file: URL names an absolute path (file:///PATH)";
    return "";
  }
  if (const char* rest = after("ssh:")) {
    if (*rest == '\0') return what + "nothing after ssh:";
    return "";
  }
  return what + "not a URL debootstrap takes (http://, https://, ftp://, file:///PATH or ssh://)";
}

namespace {

// Whether NAME's lock is held now: a build of it (or an import, or a
// removal) is under way.
bool lock_held(const std::string& name) {
  int fd = open((cache_dir() + "/" + name + ".lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
  close(fd);
  return held;
}

}  // namespace

bool wait_for_build(const std::string& name, std::string* err) {
  if (!valid_name(name) || image_exists(name)) return true;
  std::string lockp = cache_dir() + "/" + name + ".lock";
  bool waited = false;
  // The lock a build holds: waited for with a shared lock, which takes
  // nothing from the builders (they take it whole). A holder removes the
  // file before letting go: a new file may be another build's, waited
  // for in turn.
  for (int round = 0; round < 100 && !image_exists(name); round++) {
    int fd = open(lockp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;  // no build under way
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {  // a file nobody holds: no build either
      close(fd);
      break;
    }
    if (!waited) fprintf(stderr, "cowroot: waiting for another build of image %s\n", name.c_str());
    waited = true;
    while (flock(fd, LOCK_SH) < 0 && errno == EINTR) {
    }
    close(fd);
  }
  if (waited && !image_exists(name)) {
    *err = "no image " + name + ": the build of it this one waited for failed or was stopped (its own output says why)";
    return false;
  }
  return true;
}

std::vector<std::string> layers_of(const std::string& name, std::vector<std::string>* building) {
  std::vector<std::string> made, being;
  std::string dir = cache_dir();
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      size_t at = n.find(".build-");
      if (at != std::string::npos) {
        // A layer's build names its parent in WORK/parent while it runs
        // (layers.cc), under the layer's lock.
        std::ifstream in(dir + "/" + n + "/parent");
        std::string parent;
        if (std::getline(in, parent) && parent == name && valid_name(n.substr(0, at)) && lock_held(n.substr(0, at)))
          being.push_back(n.substr(0, at));
      } else if (image_exists(n) && read_info(dir + "/" + n + "/info")["parent"] == name) {
        made.push_back(n);
      }
    }
    closedir(d);
  }
  for (auto* v : {&made, &being}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  if (building) *building = being;
  return made;
}

int build_image(const ImageSpec& spec_in, std::string* err) {
  ImageSpec spec = spec_in;
  if (!valid_name(spec.name)) {
    *err = invalid_name(spec.name);
    return -1;
  }
  if (spec.suite.empty()) spec.suite = spec.name;
  // A mirror debootstrap would not take: said before anything is made.
  if (!spec.mirror.empty())
    if (std::string why = mirror_problem(spec.mirror); !why.empty()) {
      *err = why;
      return -1;
    }
  if (!debootstrap_knows(spec.suite)) {
    // A name that is neither an image nor a suite debootstrap knows: say so
    // before anything is made.
    const char* dd = getenv("DEBOOTSTRAP_DIR");
    std::string script = std::string(dd && *dd ? dd : "/usr/share/debootstrap") + "/scripts/" + spec.suite;
    *err = spec.suite == spec.name
               ? "no image " + spec.name + ", and debootstrap knows no suite " + spec.suite +
                     " to build it from (cowroot image list shows the images; a new image of that name needs the suite to " +
                     "build it from: --suite SUITE)"
               : "debootstrap knows no suite " + spec.suite + " (no " + script + ")";
    return -1;
  }
  if (!spec.keyring.empty()) {
    // debootstrap checks the archive's Release file against it: a path
    // that is no readable file would fail deep in its run.
    char real[4096];
    struct stat st;
    if (!realpath(spec.keyring.c_str(), real) || stat(real, &st) < 0 || access(real, R_OK) < 0) {
      *err = "keyring " + spec.keyring + ": " + strerror(errno);
      return -1;
    }
    if (!S_ISREG(st.st_mode)) {
      *err = "keyring " + spec.keyring + ": not a file";
      return -1;
    }
    spec.keyring = real;
  }
  if (spec.mirror.empty()) spec.mirror = host_mirror();
  if (spec.mirror.empty()) {
    *err = "no Debian mirror in the host's apt sources (/etc/apt/sources.list*): give one with --mirror URL";
    return -1;
  }
  if (!make_cache_dir(err)) return -1;
  Build b;
  b.name = spec.name;
  b.current = [&] { return image_exists(spec.name) && !spec.force; };
  b.banner = "building image " + spec.name + " (debootstrap --variant=" + spec.variant + " " + spec.suite + " from " +
             spec.mirror + ")";
  b.command = [&](const std::string& work) {
    std::vector<std::string> argv = {self_exe(), "-s", work + "/state.fakeroot", "--", "debootstrap",
                                     "--variant=" + spec.variant};
    if (!spec.include.empty()) argv.push_back("--include=" + spec.include);
    if (!spec.keyring.empty()) argv.push_back("--keyring=" + spec.keyring);
    argv.insert(argv.end(), {spec.suite, work + "/root", spec.mirror});
    return argv;
  };
  b.held = "E: ";
  b.failed = [&](int, const std::string& held, const std::string& work) {
    std::string tail, dpkg;
    std::ifstream in(work + "/root/debootstrap/debootstrap.log");
    std::string line;
    bool reason_next = false;
    // A full disk shows in debootstrap's words as a download or an
    // extraction that failed ("Couldn't download …"): the cause is named.
    bool full = false;
    while (std::getline(in, line)) {
      if (!trim(line).empty()) tail = line;
      full = full || line.find("No space left on device") != std::string::npos;
      // dpkg's first failure and the line that says why: a package whose
      // maintainer script failed ("… subprocess returned error exit status 1").
      if (reason_next && !trim(line).empty()) {
        dpkg += ": " + trim(line);
        reason_next = false;
      }
      if (dpkg.empty() && line.rfind("dpkg: error processing ", 0) == 0) {
        dpkg = line;
        while (!dpkg.empty() && dpkg.back() == ':') dpkg.pop_back();
        reason_next = true;
      }
    }
    // debootstrap's own reason first; else dpkg's; else the last line of its log.
    std::string why = held;
    if (why.empty()) why = !dpkg.empty() ? dpkg : tail;
    if (struct statvfs v; !full && statvfs(cache_dir().c_str(), &v) == 0)
      full = (unsigned long long)v.f_bavail * v.f_frsize < (16ull << 20);
    // The log goes once the build's directory does: a copy stays beside the
    // images (the last failed build's of that name), named in the message.
    // Not for debootstrap's own reason (an "E: " line says it all), nor on
    // a full disk (nothing may be left in the cache there).
    std::string kept = cache_dir() + "/" + spec.name + ".failed.log";
    if (!held.empty() || full) {
      kept.clear();
    } else {
      std::ifstream from(work + "/root/debootstrap/debootstrap.log", std::ios::binary);
      std::ofstream to(kept + ".tmp", std::ios::binary | std::ios::trunc);
      bool copied = from && to && (to << from.rdbuf()) && to.flush();
      if (!copied || rename((kept + ".tmp").c_str(), kept.c_str()) != 0) {
        unlink((kept + ".tmp").c_str());
        kept.clear();
      }
    }
    std::string space = full ? " (no space left on device: the image cache " + cache_dir() + " is full)" : "";
    return "cannot build image " + spec.name + ": debootstrap failed" +
           (why.empty() ? (full ? "" : " (is the mirror " + spec.mirror + " reachable?)") : ": " + why) + space +
           (kept.empty() ? "" : " (its log: " + kept + ")");
  };
  b.finish = [&](const std::string& work) -> std::string {
    // The fake state goes beside the image, then the image is sealed.
    std::string root = work + "/root", side = root + ".cowroot", statefile = work + "/state.fakeroot";
    if (!mkdirs(side + "/state")) return "cannot create " + side + ": " + strerror(errno);
    {
      cr::ScopedState st;
      char e[512];
      if (int r = st.open((side + "/state").c_str(), true); r < 0)
        return "cannot create the state of " + root + ": " + strerror(-r);
      if (cr::load_state(st, statefile.c_str(), e, sizeof e) < 0) return e;
    }
    char e[1024];
    if (cr::cow_seal(root.c_str(), e, sizeof e) < 0) return e;
    std::ofstream info(work + "/info");
    info << "suite=" << spec.suite << "\nvariant=" << spec.variant << "\ninclude=" << spec.include
         << "\nmirror=" << spec.mirror << "\nkeyring=" << spec.keyring << "\nid=" << new_image_id() << "\nbuilt=" << time(nullptr) << "\n";
    if (!info.flush()) return "cannot write " + work + "/info";
    unlink(statefile.c_str());
    unlink((cache_dir() + "/" + spec.name + ".failed.log").c_str());  // an earlier failure's, answered
    return "";
  };
  b.done = "image " + spec.name + " is ready";
  b.share_result = true;
  return run_build(b, err);
}

namespace {

// A comma-separated package list in one order, each once.
std::string package_set(const std::string& list) {
  std::vector<std::string> v;
  std::stringstream ss(list);
  std::string p;
  while (std::getline(ss, p, ','))
    if (!trim(p).empty()) v.push_back(trim(p));
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  std::string out;
  for (auto& x : v) out += (out.empty() ? "" : ",") + x;
  return out;
}

std::string without_slash(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

int check_identity(const ImageSpec& spec, std::string* err) {
  if (!image_exists(spec.name)) return 0;
  auto info = read_info(cache_dir() + "/" + spec.name + "/info");
  std::string variant = info["variant"].empty() ? "minbase" : info["variant"];
  std::string diff;
  auto differs = [&](const char* opt, const std::string& has, const std::string& asked) {
    diff += std::string(diff.empty() ? "" : ", ") + opt + " '" + has + "', not '" + asked + "'";
  };
  std::string suite = spec.suite.empty() ? spec.name : spec.suite;
  if (spec.given_suite && info["suite"] != suite) differs("--suite", info["suite"], suite);
  if (spec.given_variant && variant != spec.variant) differs("--variant", variant, spec.variant);
  if (spec.given_include && package_set(info["include"]) != package_set(spec.include))
    differs("--include", package_set(info["include"]), package_set(spec.include));
  if (spec.given_mirror && without_slash(info["mirror"]) != without_slash(spec.mirror))
    differs("--mirror", info["mirror"], spec.mirror);
  if (diff.empty()) return 0;
  *err = "image " + spec.name + " was built with other options (" + diff +
         "): give these options another name, or remove it first (cowroot image rm " + spec.name + ")";
  return -1;
}

long max_age_seconds() {
  const char* a = getenv("COWROOT_IMAGE_MAX_AGE_DAYS");
  long days = a && *a ? atol(a) : 30;
  return days * 86400;
}

// Builds the image when it is missing or older than max_age seconds. A
// layer is not refreshed by age: it is rebuilt when its parent was, or
// what it was made from changed (ensure_layer), unless a host file it
// copied is gone (then it stays as it is).
int ensure_image(const std::string& name, long max_age, std::string* err) {
  // An image whose first build is under way (another process's): that
  // build's result, once it is done.
  if (!wait_for_build(name, err)) return -1;
  if (image_exists(name)) {
    auto info = read_info(cache_dir() + "/" + name + "/info");
    LayerSpec layer;
    if (!info["parent"].empty() && recorded_layer(name, &layer))
      return copies_readable(layer) ? ensure_layer(layer, LayerBuild::kIfChanged, err) : 0;
    long built = atol(info["built"].c_str());
    if (max_age <= 0 || time(nullptr) - built < max_age || !info["parent"].empty()) return 0;
    fprintf(stderr, "cowroot: image %s is older than %ld days: refreshing it\n", name.c_str(), max_age / 86400);
    ImageSpec given;
    given.name = name;
    ImageSpec s = recorded_spec(name, given);
    s.force = true;
    return build_image(s, err);
  }
  ImageSpec s;
  s.name = name;
  return build_image(s, err);
}

ImageSpec recorded_spec(const std::string& name, const ImageSpec& given) {
  ImageSpec s = given;
  auto info = read_info(cache_dir() + "/" + name + "/info");
  if (!given.given_suite) s.suite = info["suite"];
  if (!given.given_variant) s.variant = info["variant"].empty() ? "minbase" : info["variant"];
  if (!given.given_include) s.include = info["include"];
  if (!given.given_mirror) s.mirror = info["mirror"];
  if (s.keyring.empty()) s.keyring = info["keyring"];
  return s;
}

void list_images() {
  std::string dir = cache_dir();
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> names;  // listed by name, as ls does
  std::vector<std::string> building;  // builds under way (NAME.build-PID, NAME's lock held)
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (size_t at = n.find(".build-"); at != std::string::npos && valid_name(n.substr(0, at)) &&
                                       lock_held(n.substr(0, at)))
      building.push_back(n.substr(0, at));
    if (!image_exists(n)) continue;  // (the cache's own entries have no valid name)
    names.push_back(n);
  }
  closedir(d);
  // An image whose first build is under way is listed too, as building.
  for (auto& b : building)
    if (!image_exists(b)) names.push_back(b);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (const std::string& n : names) {
    if (!image_exists(n)) {
      printf("%-20s building\n", n.c_str());
      continue;
    }
    auto info = read_info(dir + "/" + n + "/info");
    long age = (time(nullptr) - atol(info["built"].c_str())) / 3600;
    // A layer names its parent; a debootstrapped image, "-".
    std::string from = info["parent"].empty() ? "-" : "from " + info["parent"];
    // (One being built again says so after its path.)
    bool again = std::find(building.begin(), building.end(), n) != building.end();
    printf("%-20s %-10s %-8s %-20s %4ldh old  %s%s\n", n.c_str(), info["suite"].c_str(), info["variant"].c_str(),
           from.c_str(), age, (dir + "/" + n + "/root").c_str(), again ? "  (building again)" : "");
  }
}

int remove_image(const std::string& name, std::string* err) {
  std::string dir = cache_dir(), image = dir + "/" + name, runs = image + ".runs", lockp = image + ".lock";
  // What a build or a test run left is the image's too: a failed build's
  // lock, a crashed run's slots, a stopped build's directory.
  std::vector<std::string> leftovers;
  if (valid_name(name))
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.rfind(name + ".build-", 0) == 0 || n.rfind(name + ".old-", 0) == 0) leftovers.push_back(dir + "/" + n);
      }
      closedir(d);
    }
  // A name no image command takes is said to be one, as they say it.
  if (!valid_name(name)) {
    *err = invalid_name(name);
    return -1;
  }
  struct stat st;
  bool any = !leftovers.empty() || lstat(image.c_str(), &st) == 0 || lstat(runs.c_str(), &st) == 0 ||
             lstat(lockp.c_str(), &st) == 0;
  if (!any) {
    *err = "no image named " + name + " (cowroot image list shows them)";
    return -1;
  }
  int lock = take_lock(lockp, name, false, err);
  if (lock == -2) {
    *err = "image " + name + " is being built: remove it when the build is done";
    return -1;
  }
  if (lock < 0) return -1;
  auto unlock = [&] {
    unlink(lockp.c_str());
    close(lock);
  };
  // The parent of layers stays while they are there, or being built
  // from it (a layer's build writes its parent's name under the parent's
  // lock, which is held here: either it sees the parent gone, or it is
  // seen).
  std::vector<std::string> building, layers = layers_of(name, &building);
  if (!building.empty()) {
    unlock();
    *err = "image " + name + " is the parent of layer " + building[0] + ", which is being built from it: remove it " +
           "when that build is done";
    return -1;
  }
  if (!layers.empty()) {
    std::string list;
    for (auto& l : layers) list += (list.empty() ? "" : ", ") + l;
    unlock();
    *err = "image " + name + " is the parent of layer" + (layers.size() == 1 ? " " : "s ") + list + ": remove " +
           (layers.size() == 1 ? "it first (cowroot image rm " + layers[0] + ")" : "them first (cowroot image rm, each)");
    return -1;
  }
  // Slots whose owner is gone are reclaimed (what runs in them stopped);
  // one in use keeps the image.
  std::vector<std::string> live;
  if (is_dir(runs)) cli::reclaim_stale(runs, &live);
  if (!live.empty()) {
    unlock();
    *err = "image " + name + " is in use by " + std::to_string(live.size()) + " root" + (live.size() == 1 ? "" : "s") +
           " of running processes (" + live[0] + (live.size() > 1 ? ", ..." : "") + ")";
    return -1;
  }
  char e[1024];
  leftovers.push_back(image);
  leftovers.push_back(runs);
  for (auto& p : leftovers)
    if (lstat(p.c_str(), &st) == 0 && cr::remove_tree(p.c_str(), e, sizeof e) < 0) {
      unlock();
      *err = e;
      return -1;
    }
  unlock();
  return 0;
}

}  // namespace cli
