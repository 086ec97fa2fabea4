// The end of a session, by its daemon or by whoever outlives it, and the
// private directories throwaway sessions live in.
//
// The state is in shared files, so a session outlives its daemon: when
// cowroot-faked is killed, the launcher (or a daemon started again by the
// next program of the session) finishes its duties from the same files:
// the -s save, the removal of a throwaway directory. Only the daemon and the
// command line use this file (it allocates), never the preload library.
#pragma once
#include <string>

namespace cr {

// The mark a throwaway session directory carries (made by the launcher or
// by the library for a bare LD_PRELOAD session): whoever ends the session
// removes the directory, whichever daemon that is.
inline constexpr const char* kEphemeralMark = "ephemeral";

bool is_ephemeral_dir(const std::string& dir);
// Marks DIR as throwaway (see kEphemeralMark). 0 or -errno.
int mark_ephemeral(const std::string& dir);

// The socket and the links made for long socket names (DIR/un).
void remove_session_sockets(const std::string& dir);
// A throwaway directory and everything a session puts in it (never
// following a symlink: the directory is this user's own).
void remove_session_dir(const std::string& dir);

// True when a process other than this one maps DIR's table or attribute
// heap (any generation of them): a process of the session is alive, even
// one whose connection went with a killed daemon.
bool state_mapped_elsewhere(const std::string& dir);

// The daemon's last duties, done in this process: the state saved to
// `save` (when not empty) from the shared table, then the directory
// removed (ephemeral) or its socket (kept). Taken only with DIR/lock held,
// so a daemon started at the same moment steps aside. 0, or -1 with a
// one-line reason in *err (the directory is left as it was then).
int finish_session(const std::string& dir, const std::string& save, bool ephemeral, std::string* err);

// A directory of this user for throwaway sessions: BASE/NAME made 0700 when
// missing, used when it is a real directory of this user that nobody else
// can enter. One planted by another user (a symlink, a directory of
// theirs, a loose mode) is never followed, and no denial of service
// either: then $XDG_RUNTIME_DIR/NAME, else a fresh private directory
// (*fresh set: its life is the caller's); *note tells the user once why.
// "" with *note set when nothing could be made.
std::string private_dir(const std::string& base, const std::string& name, bool* fresh, std::string* note);

// Why `path` cannot serve as this user's private directory, or "".
std::string not_private(const std::string& path);

// Removes the throwaway session directories in `top` whose sessions are
// over: no daemon holds their lock and no process maps their state (the
// daemon was killed and nobody outlived it). Directories of sessions still
// being set up are left alone. Only entries whose names start with
// `prefix` are looked at.
void sweep_sessions(const std::string& top, const std::string& prefix = "");

}  // namespace cr
