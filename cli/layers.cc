// Layered images (layers.h).
//
// A layer is built as a clone of its parent (hard links to the parent's
// files) in which the steps run through the launcher, as fake root: so
// they go through copy-on-write and the fake state like any program in a
// root, and the parent never changes. The clone is then made a base of its
// own: its sidecar keeps only the fake state (the clone's journal, shared
// set and stamps go), and it is sealed. A root of a layer is a clone of
// that one tree, whatever the depth: taking and resetting it costs what it
// costs for any image.
//
//   NAME/info       suite, variant and mirror (the parent's), parent,
//                   parent_id (the parent build it was made from), inputs
//                   (a digest of everything else it was made from), the
//                   steps as given, id, built
//   NAME/setup/F    the setup script's text, as it ran
//   NAME.build-PID/parent  the parent's name, while the layer is built
//                   (image rm of the parent looks for it)
#include "layers.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include "../preload/core/session.h"
#include "build.h"
#include "clone/clone.h"
#include "clone/tree.h"
#include "images.h"
#include "procs.h"
#include "sha256.h"

extern char** environ;

namespace cli {

namespace {

// The marker of the steps' last word, held back by the builder.
constexpr char kStepFailed[] = "cowroot-step: ";

bool read_whole(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return !in.bad();
}

std::string base_name(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

std::string dir_name(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? "." : s == 0 ? "/" : p.substr(0, s);
}

// What a copied host file or tree is, for the layer's inputs: names,
// types, modes, contents and link targets, in a fixed order. Owners and
// times are left out: a copy gets neither.
bool describe_tree(const std::string& path, const std::string& rel, Sha256* h, std::string* err) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) {
    *err = path + ": " + strerror(errno);
    return false;
  }
  char head[64];
  snprintf(head, sizeof head, "%o ", (unsigned)st.st_mode);
  h->update(head + rel + "\n");
  if (S_ISREG(st.st_mode)) {
    std::string d = sha256_file(path, err);
    if (d.empty()) return false;
    h->update(d + "\n");
  } else if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = readlink(path.c_str(), buf, sizeof buf);
    if (n < 0) {
      *err = path + ": " + strerror(errno);
      return false;
    }
    h->update(std::string(buf, n) + "\n");
  } else if (S_ISDIR(st.st_mode)) {
    std::vector<std::string> names;
    if (DIR* d = opendir(path.c_str())) {
      while (dirent* e = readdir(d))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
      closedir(d);
    } else {
      *err = path + ": " + strerror(errno);
      return false;
    }
    std::sort(names.begin(), names.end());
    for (auto& n : names)
      if (!describe_tree(path + "/" + n, rel + "/" + n, h, err)) return false;
  }
  return true;
}

// A package list in one order, each once; err for a name apt could not
// mean (it goes into a command line).
bool package_list(const std::string& list, std::vector<std::string>* out, std::string* err) {
  std::stringstream ss(list);
  std::string p;
  while (std::getline(ss, p, ',')) {
    while (!p.empty() && (p.back() == ' ' || p.back() == '\t')) p.pop_back();
    while (!p.empty() && (p[0] == ' ' || p[0] == '\t')) p.erase(0, 1);
    if (p.empty()) continue;
    for (char c : p)
      if (!isalnum((unsigned char)c) && !strchr(".+-:=~_", c)) {
        *err = "--include: '" + p + "' is not a package name";
        return false;
      }
    out->push_back(p);
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return true;
}

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// The digest of a layer's inputs but its parent's identity: the parent's
// name, the packages, each copy (where, and what) and the script's text.
std::string layer_inputs(const LayerSpec& spec, const std::vector<std::string>& packages, const std::string& text,
                         std::string* err) {
  Sha256 h;
  h.update("cowroot layer 1\nparent " + spec.parent + "\npackages " + joined(packages, ",") + "\n");
  for (auto& [host, inside] : spec.copies) {
    h.update("copy " + inside + "\n");
    if (!describe_tree(host, ".", &h, err)) return "";
  }
  h.update("script " + std::to_string(spec.script.empty() ? -1 : (long)text.size()) + "\n" + text);
  return h.hex();
}

std::string quoted_steps(const LayerSpec& s) {
  std::vector<std::string> v;
  if (!s.include.empty()) v.push_back("--include " + s.include);
  for (auto& [h, i] : s.copies) v.push_back("--copy " + h + ":" + i);
  if (!s.script.empty()) v.push_back("--run " + s.script_name);
  return joined(v, " ");
}

// Makes the clone at `root` a base of its own: its sidecar keeps only its
// fake state, and it is sealed.
std::string make_base(const std::string& root) {
  std::string side = root + ".cowroot", fresh = root + ".cowroot-base", err;
  if (stop_session(side + "/state", &err) < 0) return err;
  if (mkdir(fresh.c_str(), 0700) < 0 || mkdir((fresh + "/state").c_str(), 0700) < 0)
    return "cannot create " + fresh + ": " + strerror(errno);
  for (const char* f : {"/state/table", "/state/xattr"})
    if (cr::cloning::file_exists(side + f) && !cr::cloning::copy_file(side + f, fresh + f))
      return "cannot copy " + side + f + ": " + strerror(errno ? errno : EIO);
  {
    cr::ScopedState st;  // opened once: a table left mid-write is repaired
    if (int e = st.open((fresh + "/state").c_str(), true); e < 0)
      return "the fake state of " + root + ": " + strerror(-e);
  }
  char e[1024];
  if (cr::remove_tree(side.c_str(), e, sizeof e) < 0) return e;
  if (rename(fresh.c_str(), side.c_str()) < 0) return "cannot rename " + fresh + ": " + strerror(errno);
  if (cr::cow_seal(root.c_str(), e, sizeof e) < 0) return e;
  return "";
}

}  // namespace

int ensure_layer(const LayerSpec& in, LayerBuild how, std::string* err) {
  LayerSpec spec = in;
  if (!valid_name(spec.name)) {
    *err = invalid_name(spec.name);
    return -1;
  }
  if (!valid_name(spec.parent)) {
    *err = "image " + spec.name + ": invalid parent image name '" + spec.parent + "'";
    return -1;
  }
  if (spec.parent == spec.name) {
    *err = "image " + spec.name + " cannot be a layer of itself";
    return -1;
  }
  std::vector<std::string> packages;
  if (!package_list(spec.include, &packages, err)) {
    *err = "image " + spec.name + ": " + *err;
    return -1;
  }
  spec.include = joined(packages, ",");
  std::string text;
  if (spec.script_name.empty()) spec.script_name = spec.script;
  if (spec.text) text = *spec.text;
  else if (!spec.script.empty() && !read_whole(spec.script, &text)) {
    *err = "image " + spec.name + ": --run " + spec.script_name + ": " + strerror(errno ? errno : EIO);
    return -1;
  }
  for (auto& [host, inside] : spec.copies) {
    char real[4096];
    if (!realpath(host.c_str(), real)) {
      *err = "image " + spec.name + ": --copy " + host + ":" + inside + ": " + host + ": " + strerror(errno);
      return -1;
    }
    if (inside.empty() || inside[0] != '/') {
      *err = "image " + spec.name + ": --copy " + host + ":" + inside + ": the inside path must be absolute";
      return -1;
    }
    host = real;
  }
  std::string inputs = layer_inputs(spec, packages, text, err);
  if (inputs.empty()) {
    *err = "image " + spec.name + ": " + *err;
    return -1;
  }
  std::string dir = cache_dir(), info_path = dir + "/" + spec.name + "/info";
  if (image_exists(spec.name) && read_info(info_path)["parent"].empty()) {
    *err = "image " + spec.name + " was built by debootstrap, not as a layer of " + spec.parent +
           ": give the layer another name, or remove the image first (cowroot image rm " + spec.name + ")";
    return -1;
  }
  // Current: the same inputs, made from the parent's build as it is now
  // (or, with no parent in the cache, as the layer says).
  auto current = [&](bool parent_may_be_absent) {
    if (!image_exists(spec.name)) return false;
    auto info = read_info(info_path);
    if (info["parent"] != spec.parent || info["inputs"] != inputs) return false;
    std::string pid = image_identity(spec.parent);
    return pid.empty() ? parent_may_be_absent : info["parent_id"] == pid;
  };
  if (how == LayerBuild::kIfChanged && !image_exists(spec.parent) && current(true)) return 0;
  // The parent: built first when it is a suite not in the cache yet,
  // refreshed when it is old; a layer itself, rebuilt first when its own
  // parent or what it was made from changed (unless a host file it copied
  // is gone: then it stays as it is).
  LayerSpec up;
  // A parent whose first build is under way: that build's result.
  if (!wait_for_build(spec.parent, err)) return -1;
  if (recorded_layer(spec.parent, &up)) {
    if (copies_readable(up) && ensure_layer(up, LayerBuild::kIfChanged, err) < 0) return -1;
  } else if (!image_exists(spec.parent) && !debootstrap_knows(spec.parent)) {
    // Neither in the cache nor a suite to build it from: the parent is
    // named (a layer's own, removed since, or a name never built).
    *err = image_exists(spec.name) && read_info(info_path)["parent"] == spec.parent
               ? "image " + spec.name + " is a layer of " + spec.parent + ", which is no longer in the cache: build " +
                     spec.parent + " again first (or import it)"
               : "no image " + spec.parent + " to build layer " + spec.name + " from (cowroot image list shows the images)";
    return -1;
  } else if (ensure_image(spec.parent, max_age_seconds(), err) < 0) {
    return -1;
  }
  auto pinfo = read_info(dir + "/" + spec.parent + "/info");
  if (!spec.suite.empty() && spec.suite != pinfo["suite"]) {
    *err = "image " + spec.name + ": --suite " + spec.suite + ", but its parent " + spec.parent + " is " + pinfo["suite"];
    return -1;
  }
  if (how == LayerBuild::kIfChanged && current(false)) return 0;

  std::string parent_id, step_file;
  Build b;
  b.name = spec.name;
  b.current = [&] { return how == LayerBuild::kIfChanged && current(false); };
  b.banner = "building image " + spec.name + ", a layer of " + spec.parent + " (" + quoted_steps(spec) + ")";
  b.prepare = [&](const std::string& work) -> std::string {
    // The parent's name goes into WORK/parent under the parent's lock,
    // which `image rm` holds while it looks for layers built from it:
    // either the parent is seen gone here, or this build is seen there.
    std::string lerr, plock = dir + "/" + spec.parent + ".lock";
    int pl = take_lock(plock, spec.parent, true, &lerr);
    if (pl < 0) return lerr;
    std::ofstream(work + "/parent") << spec.parent << "\n";
    parent_id = image_identity(spec.parent);
    unlink(plock.c_str());
    close(pl);
    if (parent_id.empty())
      return "cannot build image " + spec.name + ": its parent " + spec.parent + " was removed meanwhile";
    return "";
  };
  b.command = [&](const std::string& work) {
    std::vector<std::string> argv = {self_exe(), "image", "_layer", work, image_root(spec.parent)};
    if (!spec.include.empty()) argv.insert(argv.end(), {"--include", spec.include});
    for (auto& [host, inside] : spec.copies) argv.insert(argv.end(), {"--copy", host, inside});
    if (!spec.script.empty()) {
      // The very text the inputs hold runs, from here (the image keeps it).
      std::string name = base_name(spec.script_name);
      if (name.empty() || name == "." || name == "..") name = "setup";
      step_file = work + "/setup/" + name;
      mkdir((work + "/setup").c_str(), 0755);
      std::ofstream(step_file, std::ios::binary) << text;
      argv.insert(argv.end(), {"--run", step_file, spec.script_name});
    }
    return argv;
  };
  b.held = kStepFailed;
  b.failed = [&](int status, const std::string& held, const std::string&) {
    std::string why = held;
    for (size_t at; (at = why.find(kStepFailed)) != std::string::npos;) why.erase(at, strlen(kStepFailed));
    if (why.empty())
      why = "its steps ended with status " +
            std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return "cannot build image " + spec.name + ": " + why;
  };
  b.finish = [&](const std::string& work) -> std::string {
    if (std::string why = make_base(work + "/root"); !why.empty()) return why;
    unlink((work + "/parent").c_str());  // (its info names it from here on)
    std::ofstream info(work + "/info");
    info << "suite=" << pinfo["suite"] << "\nvariant=" << pinfo["variant"] << "\ninclude=" << spec.include
         << "\nmirror=" << pinfo["mirror"] << "\nparent=" << spec.parent << "\nparent_id=" << parent_id
         << "\ninputs=" << inputs << "\nscript=" << spec.script_name << "\n";
    for (size_t i = 0; i < spec.copies.size(); i++)
      info << "copy." << i << ".host=" << spec.copies[i].first << "\ncopy." << i << ".inside=" << spec.copies[i].second
           << "\n";
    info << "id=" << new_image_id() << "\nbuilt=" << time(nullptr) << "\n";
    if (!info.flush()) return "cannot write " + work + "/info";
    return "";
  };
  b.done = "image " + spec.name + " is ready";
  b.share_result = true;
  return run_build(b, err);
}

bool copies_readable(const LayerSpec& spec) {
  for (auto& c : spec.copies)
    if (access(c.first.c_str(), R_OK) != 0) return false;
  return true;
}

bool recorded_layer(const std::string& name, LayerSpec* out) {
  std::string dir = cache_dir() + "/" + name;
  auto info = read_info(dir + "/info");
  if (!image_exists(name) || info["parent"].empty()) return false;
  out->name = name;
  out->parent = info["parent"];
  out->include = info["include"];
  for (size_t i = 0; info.count("copy." + std::to_string(i) + ".host"); i++)
    out->copies.push_back({info["copy." + std::to_string(i) + ".host"], info["copy." + std::to_string(i) + ".inside"]});
  if (!info["script"].empty()) {
    // The text it was built from: NAME/setup holds it, one file.
    if (DIR* d = opendir((dir + "/setup").c_str())) {
      while (dirent* e = readdir(d))
        if (e->d_name[0] != '.') out->script = dir + "/setup/" + e->d_name;
      closedir(d);
    }
    out->script_name = info["script"];
  }
  return true;
}

// ---- the steps, under the build's guard ---------------------------------------

namespace {

struct Step {
  std::string what;                // "run setup.sh", for the person reading
  std::vector<std::string> binds;  // HOST:INSIDE
  std::vector<std::string> argv;   // inside
};

// The steps' environment: a root's own, not the builder's (its PATH, its
// locale); proxies and the terminal pass.
std::vector<std::string> step_env() {
  std::vector<std::string> env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                  "HOME=/root", "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"};
  for (char** e = environ; *e; e++) {
    std::string kv = *e, k = kv.substr(0, kv.find('='));
    std::string lower = k;
    for (auto& c : lower) c = (char)tolower((unsigned char)c);
    if (lower == "http_proxy" || lower == "https_proxy" || lower == "ftp_proxy" || lower == "no_proxy" ||
        lower == "all_proxy" || k == "TERM" || k == cr::kEnvLib || k == cr::kEnvFaked)
      env.push_back(kv);
  }
  return env;
}

// Runs one step in the root through the launcher: its output goes to
// stderr as it comes; the last line of its error output is kept for the
// report. Returns its exit status.
int run_step(const std::string& root, const Step& s, std::string* last) {
  std::vector<std::string> av = {self_exe(), "-r", root};
  for (auto& b : s.binds) av.insert(av.end(), {"--bind", b});
  av.push_back("--");
  av.insert(av.end(), s.argv.begin(), s.argv.end());
  std::vector<std::string> env = step_env();
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) {
    *last = std::string("pipe: ") + strerror(errno);
    return 126;
  }
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(2, 1);
    dup2(p[1], 2);
    if (chdir(root.c_str()) < 0) _exit(126);
    std::vector<char*> a, e;
    for (auto& x : av) a.push_back(const_cast<char*>(x.c_str()));
    for (auto& x : env) e.push_back(const_cast<char*>(x.c_str()));
    a.push_back(nullptr);
    e.push_back(nullptr);
    execve(a[0], a.data(), e.data());
    fprintf(stderr, "cowroot: cannot run %s: %s\n", a[0], strerror(errno));
    _exit(127);
  }
  close(p[1]);
  if (pid < 0) {
    close(p[0]);
    *last = std::string("fork: ") + strerror(errno);
    return 126;
  }
  std::string partial;
  char buf[4096];
  ssize_t n;
  auto line = [&](const std::string& l) {
    fputs((l + "\n").c_str(), stderr);
    if (l.find_first_not_of(" \t\r") != std::string::npos) *last = l;
  };
  while ((n = read(p[0], buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    partial.append(buf, n);
    for (size_t nl; (nl = partial.find('\n')) != std::string::npos; partial.erase(0, nl + 1))
      line(partial.substr(0, nl));
  }
  if (!partial.empty()) line(partial);
  close(p[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

}  // namespace

int run_layer_steps(int argc, char** argv) {
  auto said = [](const std::string& what) {
    fprintf(stderr, "%s%s\n", kStepFailed, what.c_str());
    return 1;
  };
  if (argc < 5) return said("usage: cowroot image _layer WORK PARENT_ROOT [STEPS]");
  std::string work = argv[3], parent = argv[4], root = work + "/root";
  std::vector<Step> steps;
  for (int i = 5; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--include" && i + 1 < argc) {
      std::string list = argv[++i], pkgs = list;
      std::replace(pkgs.begin(), pkgs.end(), ',', ' ');
      steps.push_back({"install " + list, {},
                       {"/bin/sh", "-c", "apt-get update -q && apt-get install -y -q --no-install-recommends " + pkgs +
                                             " && apt-get clean"}});
    } else if (a == "--copy" && i + 2 < argc) {
      std::string host = argv[i + 1], inside = argv[i + 2];
      i += 2;
      struct stat st;
      bool dir = stat(host.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      std::string dest = !dir && inside.back() == '/' ? inside + base_name(host) : inside;
      // The host side is passed through for the step only.
      std::string src = dir ? "/.cowroot-copy" : "/.cowroot-copy/" + base_name(host);
      std::string script = dir ? "mkdir -p \"$2\" && cp -R --preserve=mode,timestamps \"$1/.\" \"$2/\""
                               : "mkdir -p \"$3\" && cp -R --preserve=mode,timestamps \"$1\" \"$2\"";
      steps.push_back({"copy " + host + ":" + inside, {(dir ? host : dir_name(host)) + ":/.cowroot-copy"},
                       {"/bin/sh", "-c", script, "sh", src, dest, dir_name(dest)}});
    } else if (a == "--run" && i + 2 < argc) {
      std::string file = argv[i + 1], name = argv[i + 2];
      i += 2;
      std::string text;
      read_whole(file, &text);
      std::string inside = "/.cowroot-setup/" + base_name(file);
      // A script with a #! line runs as it says; any other with sh -e: a
      // command that fails stops it, and the build.
      std::vector<std::string> run = {"/bin/sh", "-e", inside};
      if (text.rfind("#!", 0) == 0) {
        chmod(file.c_str(), 0755);
        run = {inside};
      }
      steps.push_back({"run " + name, {dir_name(file) + ":/.cowroot-setup"}, run});
    } else {
      return said("image _layer: unknown step " + a);
    }
  }
  char e[1024];
  if (cr::cow_clone(parent.c_str(), root.c_str(), e, sizeof e) < 0) return said(std::string("cloning the parent: ") + e);
  int total = (int)steps.size();
  for (int k = 0; k < total; k++) {
    fprintf(stderr, "cowroot: step %d of %d: %s\n", k + 1, total, steps[k].what.c_str());
    std::string last;
    int st = run_step(root, steps[k], &last);
    if (st != 0) {
      std::string err;
      stop_session(root + ".cowroot/state", &err);
      return said("step " + std::to_string(k + 1) + " of " + std::to_string(total) + " (" + steps[k].what +
                  ") failed with status " + std::to_string(st) + (last.empty() ? "" : ": " + last));
    }
  }
  // What the steps left running goes before the layer is sealed.
  std::string err;
  if (stop_session(root + ".cowroot/state", &err) < 0) return said(err);
  return 0;
}

}  // namespace cli
