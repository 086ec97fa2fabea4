// The session a process belongs to: where the state lives, who the process
// pretends to be, and how to reach the daemon. Filled once from the
// environment at load time, without allocating; carried into every program
// the process starts by exec_env() (so `env -i` cannot leave the session).
#pragma once
#include <sys/types.h>

#include <cstdint>

#include "state.h"

namespace cr {

struct Ids {
  uint32_t r = 0, e = 0, s = 0, f = 0;  // real, effective, saved, filesystem
};

// Supplementary groups a process may have (the kernel's NGROUPS_MAX is
// 65536; the list travels in the environment and in fixed buffers here).
constexpr int kMaxGroups = 1024;

// The process's capability sets (capabilities(7)). Until `set`, they are
// derived from the effective uid: all of them for 0, none otherwise (what
// the kernel gives a program started without file capabilities).
struct Caps {
  bool set = false;
  uint64_t eff = 0, perm = 0, inh = 0, bset = 0;
};


// The credentials a new program starts with (perm.h's exec_creds).
struct ExecCreds {
  Ids uid, gid;
  Caps caps;
};

// Laid out so that what every program writes at start (the small fields
// and the three paths' first bytes) spans as few pages as it can: each page
// a new process writes is a page fault.
struct Session {
  bool active = false;        // a state directory is mapped
  bool unknown_real = false;  // -u: files without an entry show their real owner
  bool fakechroot = false;    // --fakechroot: announce fakechroot, honour its variables
  size_t fc_len = 0;
  int live_fd = -1;           // connection to cowroot-faked that keeps the session alive
  // The program's own PR_SET_NO_NEW_PRIVS (COWROOT_NNP across exec): the
  // real flag may be the confinement's, set for every process of a session.
  bool nnp = false;
  // COWROOT_ALLOW_STATIC=1 as the session was started: static programs
  // run unconfined, at the user's word. A session's, never a program's:
  // exec_env carries this value, whatever a program put in its environment.
  bool allow_static = false;
  Ids uid, gid;
  Caps caps;                  // COWROOT_CAPS, when the program was started with other sets than its euid's
  uint32_t groups[kMaxGroups] = {};  // sorted, as the kernel keeps them
  int ngroups = 0;
  uint32_t umask = 022;
  uint32_t real_uid = 0, real_gid = 0;
  // Counters kept for the process's life by the core's other parts, here
  // for the page they share (RootConfig and CowConfig are reset when the
  // fixture binds the core to another root; these must not be).
  uint64_t cache_epoch = 0;  // resolve.cc: bumped when the root is configured anew
  uint64_t cow_inits = 0;    // cow.cc: cow_init calls, the journal's salt
  const void* loaded = nullptr;  // wrap/next.cc: the loader's first link_map, once found
  int loader_args = 0;           // wrap/init.cc: the loader's options as seen at the start (LoaderArgs)
  char state_dir[kPathMax] = {};
  char lib[kPathMax] = {};    // this library, for LD_PRELOAD of children
  char faked[kPathMax] = {};  // the daemon, started when none answers
  char fc_vars[4096] = {};    // FAKECHROOT_* settings seen at start, NUL-separated "NAME=value"
};

extern Session g_session;

// `name` in the directory of the session's daemon (cowroot-stub,
// cowroot-trace are installed beside it), into out; false when the daemon's
// path has no directory or the result would not fit n.
bool beside_daemon(const char* name, char* out, size_t n);

// fakechroot's settings (FAKECHROOT_EXCLUDE_PATH, …) that --fakechroot honours.
inline constexpr const char* kFakechrootSettings[] = {"FAKECHROOT_EXCLUDE_PATH", "FAKECHROOT_CMD_SUBST",
                                                      "FAKECHROOT_ELFLOADER",    "FAKECHROOT_AF_UNIX_PATH",
                                                      "FAKECHROOT_DEBUG",        "FAKECHROOT_LDLIBPATH"};
extern State g_state;

// Environment variables (documented in README.md and docs/environment.md).
inline constexpr const char* kEnvState = "COWROOT_STATE";
inline constexpr const char* kEnvLib = "COWROOT_LIB";
inline constexpr const char* kEnvFaked = "COWROOT_FAKED";
inline constexpr const char* kEnvFd = "COWROOT_FD";
// Whether `fd` is a connection to the daemon of state directory `dir`: 1
// yes, 0 one whose daemon is gone, -1 not one of its.
int live_fd_state(int fd, const char* dir);
// Moves the session's connection `fd` to a high number (900, or half the
// descriptor limit below 1024), out of the way of the program's own (a
// program's first `open` gets 3, as it would natively); the number it has
// then (`fd` itself where it could not be moved).
int move_live_fd_high(int fd);
inline constexpr const char* kEnvUnknownReal = "COWROOT_UNKNOWN_IS_REAL";
inline constexpr const char* kEnvGroups = "COWROOT_GROUPS";
inline constexpr const char* kEnvCaps = "COWROOT_CAPS";
// COWROOT_CAPS's value ("EFF:PERM:INH:BSET" in hex) into *out (set); false
// when it is not one.
bool parse_caps(const char* value, Caps* out);
inline constexpr const char* kEnvFakechroot = "COWROOT_FAKECHROOT";
inline constexpr const char* kFakechrootVersion = "2.20.1";

// Makes present, one system call a range, the pages of the core's state
// that a new program's start writes (see sys::prefault): the session's
// small fields and paths, the confinement's, and in a root the root's
// paths and binds and the clone's paths. Called once, first thing in a
// new program, after the gate is known (a confined process's call is then
// not a trap).
void prefault_start();

// Reads the environment, maps the state, connects to (or starts) the daemon.
// `self_lib` is the path of the calling library, or null outside the preload.
void session_init(const char* self_lib);

// `first_preload` (a sanitizer runtime the program needs), and any
// sanitizer runtime in the program's own LD_PRELOAD, go before this library.
// Builds the environment for a new program into `out` (pointer array of
// `cap` entries) using `buf` (of `buflen` bytes) for the strings it adds:
// every cowroot and fakeroot variable with the process's current values,
// LD_PRELOAD with this library first, then `envp` minus the variables
// replaced. No allocation: safe in a vfork child. Returns false if it does
// not fit. Inside a root, `exe` is the program's inside path (what
// /proc/self/exe shows it). `host_view`: the new program sees the host's
// file system (fakechroot's FAKECHROOT_CMD_SUBST): no root goes with it.
// `libstamp`/`libpath`, when given, become COWROOT_LIBPATH (see
// cached_library_path); `comm`, COWROOT_COMM (the name the library gives the
// process at start, as the kernel would have). `creds`: the new program's
// credentials when exec changes them (a setuid file); else the process's.
// `argvnote` + `argv0`, COWROOT_ARGV (where the program's arguments are, see
// exec.cc note_argv). Inside a root, COWROOT_LOADERS carries what is known
// of its loaders.
bool exec_env(char* const* envp, char** out, size_t cap, char* buf, size_t buflen, const char* exe,
              bool host_view = false, const char* libstamp = nullptr, const char* libpath = nullptr,
              const char* comm = nullptr, const char* first_preload = nullptr, const ExecCreds* creds = nullptr,
              const char* argvnote = nullptr, const char* argv0 = "");

// A sanitizer's runtime (libasan.so.N, libtsan…): it must be the first
// object loaded, before this library, or it refuses to start.
bool is_sanitizer_runtime(const char* name, size_t len);
size_t exec_env_extra();  // how many entries exec_env may add

// Writes "cowroot: A B C D" and a newline to stderr with one write(2): no
// stdio, no allocation (safe in a vfork child).
void errline(const char* a, const char* b = "", const char* c = "", const char* d = "");

// Starts cowroot-faked for `dir` (detached) and waits until it listens.
int start_daemon(const char* faked, const char* dir, bool ephemeral);
// Connects to the daemon of `dir`; returns an fd or -errno.
int connect_daemon(const char* dir);

}  // namespace cr
