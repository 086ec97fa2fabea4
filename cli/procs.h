// The processes of a session, found from outside it: for a launcher's
// timeout, for `cowroot run` and the fixture giving a throwaway root back,
// and for reclaiming a slot whose owner died. Used by the command and by
// the test fixture (not by the preload library).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace cli {

// Kills (SIGKILL) every process of this user, except the caller, that holds
// one of the sockets `inodes` (a descriptor /proc/PID/fd/N -> socket:[INO]),
// again and again until none is left (the children they forked meanwhile
// hold them too). Returns how many processes were killed.
int kill_holders(const std::vector<uint64_t>& inodes);

// The inode of a socket descriptor (for kill_holders), 0 if it is none.
uint64_t socket_inode(int fd);

// Stops the session of a root's state directory (ROOT.cowroot/state): kills
// every process connected to its daemon or started in it (COWROOT_STATE in
// its environment), then waits for the daemon to end. Nothing running is
// not an error. Returns how many processes were killed, or -1 with err set.
int stop_session(const std::string& state_dir, std::string* err);

// For cr::cloning::remove_stale's `before`: stops the session of a
// leftover clone (what a killed run or test left running in it).
void stop_leftover_session(const std::string& clone);

// The processes of that session, as stop_session finds them (this one
// and the daemon, into `daemon`, -1 when none answers, aside), by pid
// order; none when no daemon answers.
std::vector<pid_t> session_processes(const std::string& state_dir, pid_t* daemon);

// True when a daemon answers for the state directory.
bool session_alive(const std::string& state_dir);

// Ends this process by the signal `sig` it caught (after cleaning up), as
// if it had not caught it: the caller sees it die of the signal.
[[noreturn]] void die_of_signal(int sig);

}  // namespace cli
