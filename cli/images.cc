// The image cache: Debian base images built on first use by debootstrap
// under cowroot, sealed, and cloned for every `cowroot run`.
//
//   $XDG_CACHE_HOME/cowroot/images/NAME/root           the image
//   $XDG_CACHE_HOME/cowroot/images/NAME/root.cowroot   its fake state, seal manifest
//   $XDG_CACHE_HOME/cowroot/images/NAME/info           how it was built, when
//   $XDG_CACHE_HOME/cowroot/images/NAME.lock           builders take turns on it
//   $XDG_CACHE_HOME/cowroot/images/NAME.build-PID/     a build in progress
#include "images.h"

#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "../preload/core/cow.h"
#include "../preload/core/state.h"

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

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : "cowroot";
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

bool pid_alive(long pid) { return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM); }

}  // namespace

std::string cache_dir() {
  const char* x = getenv("XDG_CACHE_HOME");
  std::string base;
  if (x && *x == '/') base = x;
  else if (const char* h = getenv("HOME"); h && *h == '/' && access(h, W_OK) == 0) base = std::string(h) + "/.cache";
  else base = "/tmp/cowroot-cache-" + std::to_string(getuid());
  return base + "/cowroot/images";
}

std::string image_root(const std::string& name) { return cache_dir() + "/" + name + "/root"; }

bool image_exists(const std::string& name) { return is_dir(image_root(name)) && is_dir(image_root(name) + ".cowroot"); }

static bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 64 || n[0] == '.') return false;
  for (char c : n)
    if (!isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.' && c != '+') return false;
  return true;
}

int build_image(const ImageSpec& spec_in, std::string* err) {
  ImageSpec spec = spec_in;
  if (!valid_name(spec.name)) {
    *err = "invalid image name '" + spec.name + "' (letters, digits, - _ . + only)";
    return -1;
  }
  if (spec.suite.empty()) spec.suite = spec.name;
  {
    // A name that is neither an image nor a suite debootstrap knows: say so
    // before anything is made (debootstrap reads its suites from here).
    const char* dd = getenv("DEBOOTSTRAP_DIR");
    std::string script = std::string(dd && *dd ? dd : "/usr/share/debootstrap") + "/scripts/" + spec.suite;
    struct stat st;
    if (stat(script.c_str(), &st) < 0) {
      *err = spec.suite == spec.name
                 ? "no image " + spec.name + ", and debootstrap knows no suite " + spec.suite +
                       " to build it from (cowroot image list shows the images)"
                 : "debootstrap knows no suite " + spec.suite + " (no " + script + ")";
      return -1;
    }
  }
  if (spec.mirror.empty()) spec.mirror = host_mirror();
  if (spec.mirror.empty()) {
    *err = "no Debian mirror in the host's apt sources (/etc/apt/sources.list*): give one with --mirror URL";
    return -1;
  }
  std::string dir = cache_dir();
  if (!mkdirs(dir)) {
    *err = "cannot create the image cache " + dir + ": " + strerror(errno);
    return -1;
  }
  // One builder at a time; the others wait and then find the image made.
  std::string lockp = dir + "/" + spec.name + ".lock";
  int lock = open(lockp.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) {
    *err = "cannot create " + lockp + ": " + strerror(errno);
    return -1;
  }
  if (flock(lock, LOCK_EX | LOCK_NB) < 0) {
    fprintf(stderr, "cowroot: waiting for another build of image %s\n", spec.name.c_str());
    flock(lock, LOCK_EX);
    if (image_exists(spec.name) && !spec.force) {
      close(lock);
      return 0;
    }
  }
  // Builds that were killed left their directory: clear them.
  if (DIR* d = opendir(dir.c_str())) {
    std::string prefix = spec.name + ".build-";
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.rfind(prefix, 0) != 0) continue;
      long pid = atol(n.c_str() + prefix.size());
      if (pid_alive(pid) && pid != getpid()) continue;
      char ignore[512];
      cr::remove_tree((dir + "/" + n).c_str(), ignore, sizeof ignore);
    }
    closedir(d);
  }
  std::string work = dir + "/" + spec.name + ".build-" + std::to_string(getpid());
  std::string root = work + "/root";
  auto give_up = [&](const std::string& why) {
    char ignore[512];
    cr::remove_tree(work.c_str(), ignore, sizeof ignore);
    close(lock);
    *err = why;
    return -1;
  };
  if (mkdir(work.c_str(), 0755) < 0) return give_up("cannot create " + work + ": " + strerror(errno));
  fprintf(stderr, "cowroot: building image %s (debootstrap --variant=%s %s from %s)\n", spec.name.c_str(),
          spec.variant.c_str(), spec.suite.c_str(), spec.mirror.c_str());
  std::string statefile = work + "/state.fakeroot";
  std::vector<std::string> args = {self_exe(), "-s", statefile, "--", "debootstrap", "--variant=" + spec.variant};
  if (!spec.include.empty()) args.push_back("--include=" + spec.include);
  args.push_back(spec.suite);
  args.push_back(root);
  args.push_back(spec.mirror);
  pid_t pid = fork();
  if (pid < 0) return give_up(std::string("fork: ") + strerror(errno));
  if (pid == 0) {
    std::vector<char*> av;
    for (auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    // debootstrap lives in /usr/sbin, which an ordinary user's PATH may lack.
    std::string path = getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin";
    setenv("PATH", ("/usr/sbin:/sbin:" + path).c_str(), 1);
    // Its progress is for the person waiting: on stderr, never mixed into
    // the output of the command the image is being built for.
    dup2(2, 1);
    execv(av[0], av.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string tail;
    std::ifstream in(root + "/debootstrap/debootstrap.log");
    std::string line;
    while (std::getline(in, line)) tail = line;
    return give_up("cannot build image " + spec.name + ": debootstrap failed" +
                   (tail.empty() ? " (is the mirror " + spec.mirror + " reachable?)" : ": " + tail));
  }
  // The fake state goes beside the image, then the image is sealed.
  std::string side = root + ".cowroot";
  if (!mkdirs(side + "/state")) return give_up("cannot create " + side + ": " + strerror(errno));
  {
    cr::State st;
    char e[512];
    if (int r = st.open((side + "/state").c_str(), true); r < 0)
      return give_up("cannot create the state of " + root + ": " + strerror(-r));
    if (cr::load_state(st, statefile.c_str(), e, sizeof e) < 0) return give_up(e);
  }
  char e[1024];
  if (cr::cow_seal(root.c_str(), e, sizeof e) < 0) return give_up(e);
  {
    std::ofstream info(work + "/info");
    info << "suite=" << spec.suite << "\nvariant=" << spec.variant << "\ninclude=" << spec.include
         << "\nmirror=" << spec.mirror << "\nbuilt=" << time(nullptr) << "\n";
    if (!info) return give_up("cannot write " + work + "/info");
  }
  unlink(statefile.c_str());
  // Into place: the old image (a refresh) goes aside first, then away.
  std::string final_dir = dir + "/" + spec.name;
  std::string old = dir + "/" + spec.name + ".old-" + std::to_string(getpid());
  bool had_old = is_dir(final_dir);
  if (had_old && rename(final_dir.c_str(), old.c_str()) < 0) return give_up("cannot replace " + final_dir + ": " + strerror(errno));
  if (rename(work.c_str(), final_dir.c_str()) < 0) {
    if (had_old) rename(old.c_str(), final_dir.c_str());
    return give_up("cannot move the image into " + final_dir + ": " + strerror(errno));
  }
  if (had_old) cr::remove_tree(old.c_str(), e, sizeof e);
  // Ready clones of the old image would reset to the new one wrongly.
  if (DIR* d = opendir((dir + "/" + spec.name + ".runs").c_str())) {
    while (dirent* de = readdir(d))
      if (strncmp(de->d_name, "ready-", 6) == 0)
        cr::remove_tree((dir + "/" + spec.name + ".runs/" + de->d_name).c_str(), e, sizeof e);
    closedir(d);
  }
  close(lock);
  fprintf(stderr, "cowroot: image %s is ready\n", spec.name.c_str());
  return 0;
}

// Builds the image when it is missing or older than max_age seconds.
int ensure_image(const std::string& name, long max_age, std::string* err) {
  if (image_exists(name)) {
    auto info = read_info(cache_dir() + "/" + name + "/info");
    long built = atol(info["built"].c_str());
    if (max_age <= 0 || time(nullptr) - built < max_age) return 0;
    fprintf(stderr, "cowroot: image %s is older than %ld days: refreshing it\n", name.c_str(), max_age / 86400);
    ImageSpec s;
    s.name = name;
    s.suite = info["suite"];
    s.variant = info["variant"].empty() ? "minbase" : info["variant"];
    s.include = info["include"];
    s.mirror = info["mirror"];
    s.force = true;
    return build_image(s, err);
  }
  ImageSpec s;
  s.name = name;
  return build_image(s, err);
}

void list_images() {
  std::string dir = cache_dir();
  DIR* d = opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n[0] == '.' || n.find(".build-") != std::string::npos || n.find(".lock") != std::string::npos ||
        n.find(".old-") != std::string::npos || n.find(".runs") != std::string::npos || !image_exists(n))
      continue;
    auto info = read_info(dir + "/" + n + "/info");
    long age = (time(nullptr) - atol(info["built"].c_str())) / 3600;
    printf("%-20s %-10s %-8s %4ldh old  %s\n", n.c_str(), info["suite"].c_str(), info["variant"].c_str(), age,
           (dir + "/" + n + "/root").c_str());
  }
  closedir(d);
}

int remove_image(const std::string& name, std::string* err) {
  if (!valid_name(name) || !is_dir(cache_dir() + "/" + name)) {
    *err = "no image named " + name + " (cowroot image list shows them)";
    return -1;
  }
  char e[1024];
  for (std::string p : {cache_dir() + "/" + name, cache_dir() + "/" + name + ".runs"})
    if (is_dir(p) && cr::remove_tree(p.c_str(), e, sizeof e) < 0) {
      *err = e;
      return -1;
    }
  unlink((cache_dir() + "/" + name + ".lock").c_str());
  return 0;
}

}  // namespace cli
