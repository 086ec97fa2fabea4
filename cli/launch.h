// The launcher's pieces that its subcommands share (cli/cowroot.cc is the
// launcher's options, cli/session.cc its session, cli/base_cmds.cc the
// commands over bases and clones).
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

namespace cli::launch {

struct Options {
  std::string save, load, root, cow;
  // How messages name the root (cowroot run: what it cloned); root when empty.
  std::string root_label;
  std::vector<std::string> binds;  // HOST[:INSIDE]
  bool unknown_real = false;
  bool fakechroot = false;
  long timeout_ms = 0;  // --timeout: the command is killed after this long
  // --kill-on-term: a SIGTERM to the launcher kills the command and what it
  // started, as a timeout does (exit status 143), instead of passing it on
  // (the fixture: a test interrupted, its process gone).
  bool kill_on_term = false;
  // The process that forked this one (`cowroot run`, which gives the
  // throwaway root back afterwards): when it is killed outright, the
  // command and what it started are killed too, not left running in a
  // root nobody will give back.
  pid_t tied_to = 0;
  std::vector<std::string> command;
  // Where the library and the daemon are looked for (as from bin/: ../lib,
  // ../libexec/cowroot): the command's own directory when empty.
  std::string exe_dir;
  // The session's daemon runs in a forked child of this process instead of
  // as the program cowroot-faked (the fixture: one program start fewer).
  bool daemon_in_child = false;
};

[[noreturn]] void die(const std::string& msg, int code = 1);

// A path as a one-line message shows it: a newline in it as "\n".
std::string one_line(const std::string& path);

// Refuses (die) a path for a root that the root's loader could not be
// given (':' and ';' split its library list, a newline its preloads): said
// where such a root would be made (clone, run --keep), not only at a run.
void refuse_loader_unsafe_root(const std::string& path);
// From now on die() ends the process with _exit: in a child of a test
// process, whose exit handlers and stdio buffers are the test's.
void quick_exit_on_die();
// What an exec does first, for a child that goes on with a function instead
// of a program: close-on-exec descriptors closed, handled signals back to
// their defaults (ignored ones stay ignored), no signal blocked.
void as_if_exec();
// Passes the signals a supervisor is sent (TERM, HUP, INT, QUIT, USR1,
// USR2) on to `to`, as sudo does: `kill` of the launcher, `timeout
// --foreground`, a CI runner's cancel reach the command, which then ends
// the session as it would. Ctrl-C and Ctrl-\ from the terminal are not
// passed (the command, in the foreground process group, has them).
// With `but_term`, SIGTERM is left as it is (--kill-on-term's).
void relay_signals(pid_t to, bool but_term = false);
bool is_file(const std::string& p);
bool is_dir(const std::string& p);
// A throwaway session directory of this user's, and its removal.
std::string make_session_dir();
void remove_dir(const std::string& dir);
// The launcher's options (fakeroot's too) and the command after them.
Options parse(int argc, char** argv);
// Starts a session (the daemon, the command in it) and returns the
// command's exit status once the session has ended.
int run_session(const Options& o);

// SIGXFSZ ignored in this process (the cowroot command), and given back as
// it was to the command run_session starts.
void ignore_xfsz();

// cowroot run | clone | reset | seal | verify (base_cmds.cc).
int cmd_run(int argc, char** argv);
int cmd_clone(int argc, char** argv);
int cmd_reset(int argc, char** argv);
int cmd_seal(int argc, char** argv);
int cmd_verify(int argc, char** argv);

}  // namespace cli::launch
