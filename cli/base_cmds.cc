// cowroot run, clone, reset, seal and verify: the commands over bases,
// clones and the image cache's pools (cowroot.cc is the launcher they
// share: its options, its session).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "clone/clone.h"
#include "clone/tree.h"
#include "images.h"
#include "launch.h"
#include "procs.h"
#include "roots.h"
#include "slots.h"
#include "../preload/core/session.h"
#include "../preload/core/state.h"

namespace cli::launch {

// cowroot run [--base DIR] [--keep DIR] [-s F] [-i F] [--] CMD: a fresh clone of DIR,
// CMD as root inside it, then the clone is gone (or kept where --keep says).
int cmd_run(int argc, char** argv) {
  // In a session already (a program of a root), the image cache and its
  // loader are the host's, which the session cannot run: said, not tried.
  if (getenv(cr::kEnvState) && getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "libcowroot"))
    die("run cannot be used inside a cowroot session: run it outside, or chroot into a clone (cowroot -r DIR)", 2);
  std::string base, keep, image;
  std::vector<char*> rest = {argv[0]};
  int i = 2;
  for (; i < argc; i++) {
    std::string a = argv[i];
    auto take = [&](const char* opt, std::string* into) {
      std::string o = opt;
      if (a == o) {
        // (As the launcher's options say it: not "unknown option".)
        if (i + 1 >= argc) die("option " + o + " needs a value (see cowroot --help)", 2);
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
  if (!keep.empty()) refuse_loader_unsafe_root(keep);
  // A base that is not there is said so (not that its parent is not writable).
  if (!base.empty()) {
    struct stat bst;
    if (stat(base.c_str(), &bst) < 0) die(one_line(base) + ": " + strerror(errno));
    if (!S_ISDIR(bst.st_mode)) die(one_line(base) + ": not a directory");
  }
  std::string slot;  // a pool slot of the image: runs/run-ID holding root and root.cowroot
  std::string runs;
  cli::Slot held;
  std::string id = cli::slot_id();
  char err[1024];
  if (base.empty()) {
    // The image cache; built on first use (bookworm minbase by default).
    if (image.empty()) image = "bookworm";
    std::string e;
    if (cli::ensure_image(image, cli::max_age_seconds(), &e) < 0) die(e);
    base = cli::image_root(image);
    if (where.empty()) {
      // A ready clone from the pool, claimed with one rename; else a new one.
      // The slot stays locked until it is back (by this process or the
      // child that gives it back); a crashed run's slot is reclaimed.
      runs = cli::cache_dir() + "/" + image + ".runs";
      std::string e2;
      if (cli::take_slot(base, runs, id, &held, &e2) < 0) die(e2.rfind("cowroot: ", 0) == 0 ? e2.substr(9) : e2);
      slot = held.slot;
      where = held.root;
    }
  }
  if (where.empty()) {
    std::string b = base;
    while (b.size() > 1 && b.back() == '/') b.pop_back();
    std::string parent = b.substr(0, b.rfind('/') == std::string::npos ? 0 : b.rfind('/'));
    if (parent.empty()) parent = b[0] == '/' ? "/" : ".";
    // What a killed run left beside the base (its throwaway clone, its
    // sidecar, a clone it was making) goes first: no process has its PID.
    // What it left running there is stopped before.
    cr::cloning::remove_stale(parent + "/.cowroot-run", "-", cr::cloning::clone_with_sidecar, stop_leftover_session);
    where = parent + "/.cowroot-run-" + std::to_string(getpid());
    // The throwaway clone goes beside its base (hard links stay on one
    // file system): a directory it cannot go in is named, not its
    // temporary name.
    if (access(parent.c_str(), W_OK) < 0)
      die("cannot write in " + parent + " to make a throwaway clone of " + base + " beside it: " + strerror(errno) +
          " (--keep DIR makes it elsewhere on its file system)");
  }
  char real[4096];
  o.root_label = realpath(base.c_str(), real) ? real : base;
  if (slot.empty())
    if (std::string why = cli::root_refusal(o.root_label); !why.empty()) die(why);
  if (slot.empty() && cr::cow_clone(base.c_str(), where.c_str(), err, sizeof err) < 0) die(err);
  o.root = where;
  // The command runs as root in the root, as a login there would: with
  // root's PATH (useradd, ldconfig and the like are in the sbin
  // directories) and HOME, not the user's host paths. Other variables pass.
  setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
  setenv("HOME", "/root", 1);
  o.tied_to = getpid();
  pid_t pid = fork();
  if (pid < 0) die(std::string("fork: ") + strerror(errno));
  if (pid == 0) _exit(run_session(o));
  relay_signals(pid);
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
    // What the command left running in this throwaway root goes with it;
    // then back to the pool, reset, when that is cheap and the pool is not full.
    std::string e2;
    if (cli::give_back(runs, &held, id, &e2) < 0) fprintf(stderr, "cowroot: %s\n", e2.c_str());
    return code;
  } else if (keep.empty()) {
    std::string stop_err;
    if (cli::stop_session(where + ".cowroot/state", &stop_err) < 0) fprintf(stderr, "cowroot: %s\n", stop_err.c_str());
    if (cr::remove_tree(where.c_str(), err, sizeof err) < 0 ||
        cr::remove_tree((where + ".cowroot").c_str(), err, sizeof err) < 0)
      fprintf(stderr, "cowroot: %s\n", err);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void print_line(const char* line, void*) { printf("%s\n", line); }

// A base on the command line may name a cached image (`cowroot image
// list`) when no such path exists; a name that is neither is said to be
// neither, not "No such file or directory".
std::string base_arg(const std::string& a) {
  struct stat st;
  if (a.find('/') != std::string::npos || lstat(a.c_str(), &st) == 0 || errno != ENOENT) return a;
  // An image whose first build is under way: once it is built.
  std::string e;
  if (!cli::wait_for_build(a, &e)) die(e);
  if (cli::image_exists(a)) return cli::image_root(a);
  die("no directory or image named " + a + " (cowroot image list shows the images)");
}

namespace {

volatile sig_atomic_t clone_stopped_by = 0;  // the signal that stopped the clone

void stop_clone(int sig) {
  clone_stopped_by = sig;
  cr::clone_stop = 1;
}

}  // namespace

int cmd_clone(int argc, char** argv) {
  if (argc != 4) die("usage: cowroot clone SRC|IMAGE DEST", 2);
  if (!*argv[3]) die("clone: an empty DEST", 2);
  refuse_loader_unsafe_root(argv[3]);
  std::string src = base_arg(argv[2]);
  char err[1024];
  // SIGINT, SIGTERM and SIGHUP (unless ignored, as under nohup) stop the
  // clone and nothing of it is left, as for an image build; then they take
  // their normal course. (What a kill -9 leaves, the next clone to DEST
  // removes.)
  sigset_t term;
  sigemptyset(&term);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction cur, sa {};
    if (sigaction(sig, nullptr, &cur) < 0 || cur.sa_handler == SIG_IGN) continue;
    sa.sa_handler = stop_clone;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
    sigaddset(&term, sig);
  }
  int made = cr::cow_clone(src.c_str(), argv[3], err, sizeof err);
  sigprocmask(SIG_BLOCK, &term, nullptr);  // from here a signal finds the clone done
  if (int sig = clone_stopped_by) {
    // One that came as the clone was put in place: it goes again.
    std::string dest = argv[3];
    while (dest.size() > 1 && dest.back() == '/') dest.pop_back();
    if (made == 0 && (cr::remove_tree(dest.c_str(), err, sizeof err) < 0 ||
                      cr::remove_tree((dest + ".cowroot").c_str(), err, sizeof err) < 0))
      die(err);
    fprintf(stderr, "cowroot: clone %s stopped by SIG%s, nothing of it left\n", dest.c_str(),
            sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    cli::die_of_signal(sig);
  }
  if (made < 0) die(err);
  std::string base = src;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (!is_file(base + ".cowroot/manifest"))
    fprintf(stderr, "cowroot: warning: %s is not sealed: a program cowroot cannot see (a static binary) could "
                    "change it through %s (cowroot seal %s protects it)\n", src.c_str(), argv[3], src.c_str());
  return 0;
}

// The program a process runs, as ps shows it (its comm), or "?".
std::string program_of(pid_t pid) {
  std::string name;
  if (FILE* f = fopen(("/proc/" + std::to_string(pid) + "/comm").c_str(), "re")) {
    char buf[64];
    if (fgets(buf, sizeof buf, f)) name = buf;
    fclose(f);
  }
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return name.empty() ? "?" : name;
}

// reset [--kill] CLONE: with --kill, what a session left running in the
// clone (a gpg-agent, a dirmngr) is ended first, as pbuilder ends what a
// build left; without it, such processes keep the clone and are named.
int cmd_reset(int argc, char** argv) {
  bool kill_first = argc == 4 && strcmp(argv[2], "--kill") == 0;
  if (kill_first) argv++, argc--;
  if (argc != 3) die("usage: cowroot reset [--kill] CLONE", 2);
  std::string clone = argv[2];
  while (clone.size() > 1 && clone.back() == '/') clone.pop_back();
  char real[4096], err[1024];
  // As the launcher names it (COWROOT_STATE in the session's environment).
  std::string state = std::string(realpath(clone.c_str(), real) ? real : clone.c_str()) + ".cowroot/state";
  if (is_dir(state) && cli::session_alive(state)) {
    if (kill_first) {
      std::string e;
      if (cli::stop_session(state, &e) < 0) die(e);
    } else {
      pid_t daemon;
      std::vector<pid_t> procs = cli::session_processes(state, &daemon);
      std::string named, pids;
      for (size_t i = 0; i < procs.size(); i++) {
        if (i < 8) named += (i ? ", " : "") + std::to_string(procs[i]) + " (" + program_of(procs[i]) + ")";
        pids += " " + std::to_string(procs[i]);
      }
      if (procs.size() > 8) named += ", ...";
      if (!procs.empty())
        die(clone + " is in use by a running session: process" + (procs.size() == 1 ? " " : "es ") + named +
            (procs.size() == 1 ? " runs" : " run") + " in it (`kill" + pids + "` ends " +
            (procs.size() == 1 ? "it" : "them") + ", or `cowroot reset --kill " + clone +
            "` ends the session's processes and resets)");
    }
  }
  // Undo what the clone's journal says changed; a full re-clone when
  // something changed behind the library's back or the base is another.
  if (cr::cow_reset(clone.c_str(), err, sizeof err) < 0) die(err);
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

}  // namespace cli::launch
