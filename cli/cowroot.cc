// cowroot: start a session and run a command in it.
//
//   cowroot [-s FILE] [-i FILE] [-u] [-r DIR] [--cow DIR] [--] [COMMAND [ARG...]]
//   cowroot clone SRC|IMAGE DEST
//
// Accepts fakeroot's options too (-l/--lib, -f/--faked, -b, --unknown-is-real,
// --save-file?) so that scripts and fakeroot's own test suite can use it as
// their launcher.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../preload/core/cow.h"
#include "../preload/core/confine.h"
#include "../preload/core/exec.h"
#include "../preload/core/proto.h"
#include "../preload/core/resolve.h"
#include "images.h"
#include "../preload/core/session.h"
#include "../preload/core/state.h"

extern char** environ;

namespace {

const char* const kVersion = "cowroot 0.1";

[[noreturn]] void die(const std::string& msg, int code = 1) {
  fprintf(stderr, "cowroot: %s\n", msg.c_str());
  exit(code);
}

void usage(FILE* f) {
  fprintf(f,
          "usage: cowroot [OPTION...] [--] [COMMAND [ARG...]]   run COMMAND (default $SHELL) as fake root\n"
          "       cowroot clone SRC|IMAGE DEST                    copy-on-write clone of a tree or a cached image\n"
          "       cowroot reset CLONE                             put a clone back to its base\n"
          "       cowroot run [--image NAME | --base DIR] [--keep DIR] [--] CMD\n"
          "                          run CMD as root in a throwaway clone of an image (default: bookworm,\n"
          "                          built on first use) or of DIR\n"
          "       cowroot image build|refresh|path|list|rm [NAME] the image cache (path: its root, built if needed)\n"
          "       cowroot seal [-i STATE] DIR | verify DIR        protect a base or image (with the fake ownership saved\n"
          "                                                       in STATE) / report changes to it\n"
          "\n"
          "  -s, --save-file FILE   save the fake ownership and modes to FILE when the command ends\n"
          "  -i, --load FILE        load them from FILE first (a missing or corrupt FILE is an error)\n"
          "  -u, --unknown-is-real  files cowroot has no record of show their real owner, not root\n"
          "  -r, --root DIR         run inside DIR as if chroot'ed into it\n"
          "      --bind HOST[:INSIDE]  with -r: pass the host directory HOST through at INSIDE\n"
          "                         (default INSIDE = HOST; /dev, /proc and /sys always are; more\n"
          "                         from COWROOT_BINDS, ':'-separated PATH or INSIDE=HOST entries)\n"
          "      --cow DIR          hard-linked files under DIR are copy-on-write\n"
          "      --fakechroot       behave as `fakechroot fakeroot`: announce FAKECHROOT=true and honour\n"
          "                         FAKECHROOT_EXCLUDE_PATH, _CMD_SUBST, _ELFLOADER and _AF_UNIX_PATH\n"
          "  -l, --lib LIB, -f, --faked BIN, -b FD\n"
          "                         accepted for fakeroot compatibility (cowroot uses its own)\n"
          "  -h, --help             this text\n"
          "  -v, --version          the version\n");
}

std::string self_dir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) die("cannot find its own location (/proc/self/exe)");
  buf[n] = 0;
  std::string s(buf);
  return s.substr(0, s.rfind('/'));
}

bool is_file(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_dir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The library and the daemon, relative to this program (installs are
// relocatable), unless the environment names them.
std::string locate(const char* env, const std::vector<std::string>& rel, const char* what) {
  if (const char* e = getenv(env); e && *e) {
    if (!is_file(e)) die(std::string(what) + " " + e + " (from " + env + ") does not exist");
    return e;
  }
  std::string d = self_dir();
  std::string tried;
  for (auto& r : rel) {
    std::string p = d + "/" + r;
    char real[4096];
    if (is_file(p) && realpath(p.c_str(), real)) return real;
    tried += " " + p;
  }
  die(std::string("cannot find ") + what + " (looked at" + tried + ")");
}

std::string make_session_dir() {
  const char* base = getenv("XDG_RUNTIME_DIR");
  std::string top = (base && *base && access(base, W_OK) == 0) ? base : "/tmp";
  top += "/cowroot-" + std::to_string(getuid());
  if (mkdir(top.c_str(), 0700) < 0 && errno != EEXIST) die("cannot create " + top + ": " + strerror(errno));
  struct stat st;
  if (lstat(top.c_str(), &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077))
    die(top + " is not a private directory of this user");
  std::string t = top + "/s.XXXXXX";
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back(0);
  if (!mkdtemp(buf.data())) die("cannot create a session directory in " + top + ": " + strerror(errno));
  return buf.data();
}

void remove_dir(const std::string& dir) {
  for (const char* f : {"sock", "table", "xattr", "lock", "table.grow"}) unlink((dir + "/" + f).c_str());
  rmdir(dir.c_str());
}

// Sends one request to the daemon and waits for its answer.
bool request(int fd, uint32_t op, const std::string& payload, uint64_t* value, std::string* text) {
  std::vector<char> buf(sizeof(cr::proto::Msg) + payload.size());
  cr::proto::Msg m{cr::proto::kMagic, op, 0, (uint32_t)payload.size(), 0};
  memcpy(buf.data(), &m, sizeof m);
  memcpy(buf.data() + sizeof m, payload.data(), payload.size());
  if (send(fd, buf.data(), buf.size(), MSG_NOSIGNAL) != (ssize_t)buf.size()) return false;
  char in[sizeof(cr::proto::Msg) + cr::proto::kMaxPayload];
  ssize_t n;
  do n = recv(fd, in, sizeof in, 0); while (n < 0 && errno == EINTR);
  if (n < (ssize_t)sizeof m) return false;
  memcpy(&m, in, sizeof m);
  if (m.magic != cr::proto::kMagic || sizeof m + m.len != (size_t)n) return false;
  *value = m.value;
  text->assign(in + sizeof m, m.len);
  return m.op == cr::proto::kOk;
}

struct Options {
  std::string save, load, root, cow;
  std::vector<std::string> binds;  // HOST[:INSIDE]
  bool unknown_real = false;
  bool fakechroot = false;
  std::vector<std::string> command;
};

Options parse(int argc, char** argv) {
  Options o;
  int i = 1;
  for (; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      size_t eq = a.find('=');
      if (a.rfind("--", 0) == 0 && eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) die("option " + a + " needs a value (see cowroot --help)", 2);
      return argv[++i];
    };
    auto is = [&](const char* s, const char* l = nullptr) {
      if (a == s) return true;
      if (!l) return false;
      return a == l || a.rfind(std::string(l) + "=", 0) == 0;
    };
    if (a == "--") {
      i++;
      break;
    }
    if (a.empty() || a[0] != '-') break;
    if (is("-s", "--save-file")) o.save = value();
    else if (is("-i", "--load")) o.load = value();
    else if (is("-u", "--unknown-is-real")) o.unknown_real = true;
    else if (is("-r", "--root")) o.root = value();
    else if (is("--cow", "--cow")) o.cow = value();
    else if (is("--bind", "--bind")) o.binds.push_back(value());
    else if (is("--fakechroot")) o.fakechroot = true;
    else if (is("-l", "--lib") || is("-f", "--faked") || is("-b", "--fd-base")) value();
    else if (is("-h", "--help")) {
      usage(stdout);
      exit(0);
    } else if (is("-v", "--version")) {
      printf("%s\n", kVersion);
      exit(0);
    } else {
      fprintf(stderr, "cowroot: unknown option %s\n", a.c_str());
      usage(stderr);
      exit(2);
    }
  }
  for (; i < argc; i++) o.command.push_back(argv[i]);
  return o;
}

int run_session(const Options& o) {
  std::string root;
  if (!o.root.empty()) {
    struct stat st;
    if (stat(o.root.c_str(), &st) < 0) die(o.root + ": " + strerror(errno));
    if (!S_ISDIR(st.st_mode)) die(o.root + ": not a directory");
    char buf[4096];
    if (!realpath(o.root.c_str(), buf)) die(o.root + ": " + strerror(errno));
    root = buf;
  }
  // Binds pass host directories into a root: without one they would mean nothing.
  if (!o.binds.empty() && (root.empty() || root == "/"))
    die("--bind " + o.binds[0] + ": only with -r DIR (there is no root to pass it into)", 2);
  std::string lib = locate(cr::kEnvLib, {"libcowroot.so", "../lib/libcowroot.so"}, "libcowroot.so");
  std::string faked = locate(cr::kEnvFaked,
                             {"cowroot-faked", "../libexec/cowroot/cowroot-faked", "../lib/cowroot/cowroot-faked"},
                             "cowroot-faked");
  std::string save;
  if (!o.save.empty()) {
    // Absolute, since the daemon runs elsewhere; checked now, not at the end.
    char buf[4096];
    std::string dir = o.save.substr(0, o.save.rfind('/') == std::string::npos ? 0 : o.save.rfind('/'));
    if (dir.empty()) dir = o.save[0] == '/' ? "/" : ".";
    if (!realpath(dir.c_str(), buf)) die("cannot save state to " + o.save + ": " + strerror(errno));
    save = std::string(buf) + "/" + o.save.substr(o.save.rfind('/') == std::string::npos ? 0 : o.save.rfind('/') + 1);
    if (access(buf, W_OK) < 0) die("cannot save state to " + o.save + ": " + strerror(errno));
  }

  // A root with a sidecar (a clone, or a base made by cowroot) keeps its
  // fake state there; otherwise the session gets a throwaway one.
  std::string dir;
  bool ephemeral = true;
  if (!root.empty() && is_dir(root + ".cowroot/state")) {
    dir = root + ".cowroot/state";
    ephemeral = false;
    if (is_file(root + ".cowroot/shared")) setenv("COWROOT_COW", (root + ".cowroot").c_str(), 1);
  } else {
    dir = make_session_dir();
  }
  if (!o.cow.empty()) {
    char buf[4096];
    if (!realpath(o.cow.c_str(), buf) || !is_dir(buf)) {
      if (ephemeral) remove_dir(dir);
      die("--cow " + o.cow + ": not a directory");
    }
    setenv("COWROOT_COW_DIR", buf, 1);
    // As cow-shell does at its start: what has more than one link now is
    // shared; links made later are the session's own.
    std::string set = dir + "/cow-shared";
    char err[1024];
    if (cr::cow_scan(buf, set.c_str(), err, sizeof err) < 0) {
      if (ephemeral) remove_dir(dir);
      die(std::string("--cow: ") + err);
    }
    setenv("COWROOT_COW_SET", set.c_str(), 1);
  }
  cr::cow_init();
  unsetenv("COWROOT_COW");
  unsetenv("COWROOT_COW_DIR");
  unsetenv("COWROOT_COW_SET");
  {
    cr::State st;
    if (int r = st.open(dir.c_str(), true); r < 0) {
      if (ephemeral) remove_dir(dir);
      die("cannot create the state in " + dir + ": " + strerror(-r));
    }
    char err[512];
    if (!o.load.empty() && cr::load_state(st, o.load.c_str(), err, sizeof err) < 0) {
      if (ephemeral) remove_dir(dir);
      die(err);
    }
  }

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) die(std::string("pipe: ") + strerror(errno));
  pid_t dpid = fork();
  if (dpid < 0) die(std::string("fork: ") + strerror(errno));
  if (dpid == 0) {
    setsid();
    int wfd = dup(ready[1]);  // without O_CLOEXEC, for the daemon
    std::string fdarg = std::to_string(wfd);
    std::vector<const char*> args = {faked.c_str(), "--state", dir.c_str(), "--ready-fd", fdarg.c_str()};
    if (ephemeral) args.push_back("--ephemeral");
    if (!save.empty()) {
      args.push_back("--save");
      args.push_back(save.c_str());
    }
    args.push_back(nullptr);
    static const char* const env[] = {nullptr};
    execve(faked.c_str(), const_cast<char* const*>(args.data()), const_cast<char* const*>(env));
    fprintf(stderr, "cowroot: cannot run %s: %s\n", faked.c_str(), strerror(errno));
    _exit(127);
  }
  close(ready[1]);
  char c;
  ssize_t got;
  do got = read(ready[0], &c, 1); while (got < 0 && errno == EINTR);
  close(ready[0]);
  if (got != 1) {
    int st = 0;
    waitpid(dpid, &st, 0);
    // Exit 0 without a word: another session of this root has the daemon.
    if (ephemeral || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      if (ephemeral) remove_dir(dir);
      die("the daemon " + faked + " did not start");
    }
    dpid = -1;
  }
  int live = cr::connect_daemon(dir.c_str());
  if (live < 0) die("cannot connect to the daemon of " + dir + ": " + strerror(-live));

  cr::Session& s = cr::g_session;
  snprintf(s.state_dir, sizeof s.state_dir, "%s", dir.c_str());
  snprintf(s.lib, sizeof s.lib, "%s", lib.c_str());
  snprintf(s.faked, sizeof s.faked, "%s", faked.c_str());
  // A static command starts through the library, which confines it (or
  // refuses it where seccomp is not to be had).
  const char* confine = getenv("COWROOT_CONFINE");
  cr::g_confine.plan_static = !(confine && strcmp(confine, "0") == 0);
  s.unknown_real = o.unknown_real;
  s.live_fd = live;
  if (o.fakechroot) {
    setenv(cr::kEnvFakechroot, "1", 1);
    // session_init's reading of the FAKECHROOT_* settings, for this process.
    s.fakechroot = true;
    s.fc_len = 0;
    for (const char* name : {"FAKECHROOT_EXCLUDE_PATH", "FAKECHROOT_CMD_SUBST", "FAKECHROOT_ELFLOADER",
                             "FAKECHROOT_AF_UNIX_PATH", "FAKECHROOT_DEBUG", "FAKECHROOT_LDLIBPATH"})
      if (const char* v = getenv(name)) {
        std::string kv = std::string(name) + "=" + v;
        if (s.fc_len + kv.size() + 1 > sizeof s.fc_vars) break;
        memcpy(s.fc_vars + s.fc_len, kv.c_str(), kv.size() + 1);
        s.fc_len += kv.size() + 1;
      }
  }
  s.ngroups = 1;
  s.groups[0] = 0;
  if (!root.empty() && root != "/") {
    // --bind first, then COWROOT_BINDS: for the same inside path the first
    // wins (and /dev, /proc and /sys before either). FAKECHROOT_EXCLUDE_PATH
    // is added by the library itself (root_init), as after chroot().
    std::string binds = "/dev:/proc:/sys";
    auto add_bind = [&](const std::string& what, const std::string& host, const std::string& inside) {
      char buf[4096];
      if (host.empty() || !realpath(host.c_str(), buf)) die(what + ": " + host + ": " + strerror(errno));
      if (inside.empty() || inside[0] != '/') die(what + ": the inside path must be absolute");
      // The list travels as INSIDE=HOST entries separated by ':'.
      if (inside.find_first_of(":=") != std::string::npos || strpbrk(buf, ":="))
        die(what + ": a path with ':' or '=' cannot be passed through");
      binds += ":" + inside + "=" + buf;
    };
    for (auto& b : o.binds) {
      size_t colon = b.find(':');
      add_bind("--bind " + b, b.substr(0, colon), colon == std::string::npos ? b.substr(0, colon) : b.substr(colon + 1));
    }
    if (const char* env = getenv("COWROOT_BINDS")) {
      std::string list = env;
      for (size_t start = 0; start < list.size();) {
        size_t end = list.find(':', start);
        if (end == std::string::npos) end = list.size();
        std::string e = list.substr(start, end - start);
        size_t eq = e.find('=');
        if (!e.empty())
          add_bind("COWROOT_BINDS", eq == std::string::npos ? e : e.substr(eq + 1), e.substr(0, eq));
        start = end + 1;
      }
    }
    setenv("COWROOT_ROOT", root.c_str(), 1);
    setenv("COWROOT_CHROOT", "/", 1);
    setenv("COWROOT_BINDS", binds.c_str(), 1);
    unsetenv("COWROOT_EXE");
    cr::root_init();
    if (!cr::g_root.cwd_known && chdir(root.c_str()) == 0) cr::root_cwd_changed();
    // exec_env gives the command the root's variables from g_root.
    unsetenv("COWROOT_ROOT");
    unsetenv("COWROOT_CHROOT");
    unsetenv("COWROOT_BINDS");
  }

  std::vector<std::string> cmd = o.command;
  if (cmd.empty()) {
    const char* sh = getenv("SHELL");
    cmd.push_back(sh && *sh ? sh : "/bin/sh");
  }
  std::vector<char*> argv;
  for (auto& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  // Like a shell waiting for a foreground job: the command gets the
  // terminal's signals, the launcher outlives them to close the session.
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  pid_t child = fork();
  if (child < 0) die(std::string("fork: ") + strerror(errno));
  if (child == 0) {
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    // Search PATH the way the session sees the file system (inside the root).
    int refused = 0;
    int err = cr::search_path(argv[0], argv.data(), true, [&](const char* path, char* const* av) {
      cr::exec_program(AT_FDCWD, path, av, environ, 0);
      if (!cr::g_exec_reported) return errno;
      refused = errno;  // a refusal said why already: no further entry
      return EPERM;
    });
    if (refused) err = refused;
    if (!cr::g_exec_reported) fprintf(stderr, "cowroot: %s: %s\n", argv[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

  uint64_t others = 0;
  std::string text;
  bool ok = request(live, cr::proto::kEnd, "", &others, &text);
  close(live);
  if (!ok) {
    fprintf(stderr, "cowroot: %s\n", text.empty() ? "the session's daemon did not answer" : text.c_str());
    if (code == 0) code = 1;
  }
  if (others == 0 && dpid > 0) waitpid(dpid, nullptr, 0);  // nothing is left of the session: the daemon is gone when we return
  return code;
}

}  // namespace

// cowroot run [--base DIR] [--keep DIR] [-s F] [-i F] [--] CMD: a fresh clone of DIR,
// CMD as root inside it, then the clone is gone (or kept where --keep says).
long max_age_seconds() {
  const char* a = getenv("COWROOT_IMAGE_MAX_AGE_DAYS");
  long days = a && *a ? atol(a) : 30;
  return days * 86400;
}

int cmd_run(int argc, char** argv) {
  std::string base, keep, image;
  std::vector<char*> rest = {argv[0]};
  int i = 2;
  for (; i < argc; i++) {
    std::string a = argv[i];
    auto take = [&](const char* opt, std::string* into) {
      std::string o = opt;
      if (a == o && i + 1 < argc) {
        *into = argv[++i];
        return true;
      }
      if (a.rfind(o + "=", 0) == 0) {
        *into = a.substr(o.size() + 1);
        return true;
      }
      return false;
    };
    if (!take("--base", &base) && !take("--keep", &keep) && !take("--image", &image)) break;
  }
  for (; i < argc; i++) rest.push_back(argv[i]);
  if (!base.empty() && !image.empty()) die("run takes --base or --image, not both", 2);
  Options o = parse((int)rest.size(), rest.data());
  if (!o.root.empty()) die("run makes its own root: -r cannot be given", 2);
  std::string where = keep;
  std::string slot;  // a pool slot of the image: runs/run-PID holding root and root.cowroot
  std::string runs;
  char err[1024];
  if (base.empty()) {
    // The image cache; built on first use (bookworm minbase by default).
    if (image.empty()) image = "bookworm";
    std::string e;
    if (cli::ensure_image(image, max_age_seconds(), &e) < 0) die(e);
    base = cli::image_root(image);
    if (where.empty()) {
      // A ready clone from the pool, claimed with one rename; else a new one.
      runs = cli::cache_dir() + "/" + image + ".runs";
      char s[4096], r[4096];
      if (cr::pool_take(base.c_str(), runs.c_str(), std::to_string(getpid()).c_str(), s, r, sizeof s, err,
                        sizeof err) < 0)
        die(err);
      slot = s;
      where = r;
    }
  }
  if (where.empty()) {
    std::string b = base;
    while (b.size() > 1 && b.back() == '/') b.pop_back();
    std::string parent = b.substr(0, b.rfind('/') == std::string::npos ? 0 : b.rfind('/'));
    if (parent.empty()) parent = b[0] == '/' ? "/" : ".";
    where = parent + "/.cowroot-run-" + std::to_string(getpid());
  }
  if (slot.empty() && cr::cow_clone(base.c_str(), where.c_str(), err, sizeof err) < 0) die(err);
  o.root = where;
  pid_t pid = fork();
  if (pid < 0) die(std::string("fork: ") + strerror(errno));
  if (pid == 0) _exit(run_session(o));
  signal(SIGINT, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (!slot.empty()) {
    // The command is done: the clone goes back to the pool, reset, in a
    // detached child (a slot still named run-PID is nobody else's), unless
    // COWROOT_RUN_SYNC asks to wait for it.
    const char* sync = getenv("COWROOT_RUN_SYNC");
    if (!(sync && *sync == '1')) {
      fflush(nullptr);
      pid_t bg = fork();
      if (bg > 0) {
        waitpid(bg, nullptr, 0);
        return code;
      }
      if (bg == 0) {
        if (fork() != 0) _exit(0);
        setsid();
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
          dup2(null, 0);
          dup2(null, 1);
          dup2(null, 2);
        }
      }
    }
    // Back to the pool, reset, when that is cheap and the pool is not full.
    if (cr::pool_give_back(runs.c_str(), slot.c_str(), std::to_string(getpid()).c_str(), 2, err, sizeof err) < 0)
      fprintf(stderr, "cowroot: %s\n", err);
    return code;
  } else if (keep.empty()) {
    if (cr::remove_tree(where.c_str(), err, sizeof err) < 0 ||
        cr::remove_tree((where + ".cowroot").c_str(), err, sizeof err) < 0)
      fprintf(stderr, "cowroot: %s\n", err);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cmd_image(int argc, char** argv) {
  std::string verb = argc >= 3 ? argv[2] : "";
  std::string err;
  if (verb == "list" && argc == 3) {
    cli::list_images();
    return 0;
  }
  if ((verb == "build" || verb == "refresh" || verb == "path") && argc >= 3) {
    cli::ImageSpec spec;
    for (int i = 3; i < argc; i++) {
      std::string a = argv[i];
      auto val = [&](const char* opt, std::string* into) {
        std::string o = opt;
        if (a == o && i + 1 < argc) return *into = argv[++i], true;
        if (a.rfind(o + "=", 0) == 0) return *into = a.substr(o.size() + 1), true;
        return false;
      };
      if (val("--suite", &spec.suite) || val("--variant", &spec.variant) || val("--include", &spec.include) ||
          val("--mirror", &spec.mirror))
        continue;
      if (a[0] == '-') die("image " + verb + ": unknown option " + a, 2);
      spec.name = a;
    }
    if (verb == "path") {
      // The image's root, built first if missing (with the options given)
      // or refreshed when older than COWROOT_IMAGE_MAX_AGE_DAYS: what the
      // test fixture and scripts use.
      int r = cli::image_exists(spec.name) ? cli::ensure_image(spec.name, max_age_seconds(), &err)
                                           : cli::build_image(spec, &err);
      if (r < 0) die(err);
      printf("%s\n", cli::image_root(spec.name).c_str());
      return 0;
    }
    spec.force = verb == "refresh" || cli::image_exists(spec.name);
    if (cli::build_image(spec, &err) < 0) die(err);
    return 0;
  }
  if (verb == "rm" && argc == 4) {
    if (cli::remove_image(argv[3], &err) < 0) die(err);
    return 0;
  }
  die("usage: cowroot image build|refresh|path [NAME] [--suite S] [--variant V] [--include PKGS] [--mirror URL]\n"
      "       cowroot image list | rm NAME",
      2);
}

void print_line(const char* line, void*) { printf("%s\n", line); }

// A base on the command line may name a cached image (`cowroot image
// list`) when no such path exists.
std::string base_arg(const std::string& a) {
  struct stat st;
  if (a.find('/') == std::string::npos && lstat(a.c_str(), &st) < 0 && cli::image_exists(a)) return cli::image_root(a);
  return a;
}

int cmd_clone(int argc, char** argv) {
  if (argc != 4) die("usage: cowroot clone SRC|IMAGE DEST", 2);
  std::string src = base_arg(argv[2]);
  char err[1024];
  if (cr::cow_clone(src.c_str(), argv[3], err, sizeof err) < 0) die(err);
  std::string base = src;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (!is_file(base + ".cowroot/manifest"))
    fprintf(stderr, "cowroot: warning: %s is not sealed: a program cowroot cannot see (a static binary) could "
                    "change it through %s (cowroot seal %s protects it)\n", src.c_str(), argv[3], src.c_str());
  return 0;
}

int cmd_reset(int argc, char** argv) {
  if (argc != 3) die("usage: cowroot reset CLONE", 2);
  char err[1024];
  // Undo what the clone's journal says changed; a full re-clone when
  // something changed behind the library's back or the base is another.
  if (cr::cow_reset(argv[2], err, sizeof err) < 0) die(err);
  return 0;
}

// seal [-i STATE] DIR: with -i, the fake ownership a build saved (`cowroot
// -s STATE -- debootstrap ... DIR`) becomes the base's own, for its clones.
int cmd_seal(int argc, char** argv) {
  std::string load;
  if (argc == 5 && (strcmp(argv[2], "-i") == 0 || strcmp(argv[2], "--load") == 0)) {
    load = argv[3];
    argv += 2;
    argc -= 2;
  }
  if (argc != 3) die("usage: cowroot seal [-i STATE] DIR|IMAGE", 2);
  std::string base = base_arg(argv[2]);
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (!is_dir(base)) die(base + ": not a directory");
  char err[1024];
  if (!load.empty()) {
    // Checked before anything is made: a bad STATE leaves no sidecar behind.
    cr::State probe;
    std::string tmp = make_session_dir();
    if (int r = probe.open(tmp.c_str(), true); r < 0) die("cannot create the state in " + tmp + ": " + strerror(-r));
    int bad = cr::load_state(probe, load.c_str(), err, sizeof err);
    remove_dir(tmp);
    if (bad < 0) die(err);
    std::string side = base + ".cowroot";
    mkdir(side.c_str(), 0700);
    mkdir((side + "/state").c_str(), 0700);
    cr::State st;
    if (int r = st.open((side + "/state").c_str(), true); r < 0) die("cannot create " + side + "/state: " + strerror(-r));
    if (cr::load_state(st, load.c_str(), err, sizeof err) < 0) die(err);
  }
  if (cr::cow_seal(base.c_str(), err, sizeof err) < 0) die(err);
  return 0;
}

int cmd_verify(int argc, char** argv) {
  if (argc != 3) die("usage: cowroot verify BASE|IMAGE", 2);
  char err[1024];
  long n = cr::cow_verify(base_arg(argv[2]).c_str(), err, sizeof err, print_line, nullptr);
  if (n < 0) die(err);
  if (n > 0) fprintf(stderr, "cowroot: %s: %ld change%s since it was sealed\n", argv[2], n, n == 1 ? "" : "s");
  if (n == 0) printf("%s: no change since it was sealed\n", argv[2]);
  return n == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc >= 2 && strcmp(argv[1], "clone") == 0) return cmd_clone(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "reset") == 0) return cmd_reset(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "seal") == 0) return cmd_seal(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "verify") == 0) return cmd_verify(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "run") == 0) return cmd_run(argc, argv);
  if (argc >= 2 && strcmp(argv[1], "image") == 0) return cmd_image(argc, argv);
  Options o = parse(argc, argv);
  if (getenv(cr::kEnvState) && getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "libcowroot")) {
    // Already inside a session: the command joins it, as a nested fakeroot would wish to.
    if (!o.save.empty() || !o.load.empty()) die("-s and -i cannot be used inside a cowroot session", 2);
    std::vector<char*> argv2;
    for (auto& a : o.command) argv2.push_back(const_cast<char*>(a.c_str()));
    if (argv2.empty()) argv2.push_back(const_cast<char*>(getenv("SHELL") ? getenv("SHELL") : "/bin/sh"));
    argv2.push_back(nullptr);
    execvp(argv2[0], argv2.data());
    die(std::string(argv2[0]) + ": " + strerror(errno), errno == ENOENT ? 127 : 126);
  }
  return run_session(o);
}
