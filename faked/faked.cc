// cowroot-faked: the keeper of one session.
//
// The state itself is a pair of shared files that every process of the
// session maps and updates under a robust lock (preload/core/state.h), so no
// read and no write waits for this process. The daemon owns what needs one
// owner: the session's lifetime (it counts the connections that every
// process inherits and exits when the last is gone), saving the state
// (`-s`), and removing a throwaway session directory afterwards.
//
// A daemon started again after one was killed (its socket file is still
// there) cannot count the processes that held a connection to the dead
// one: until they are gone it also waits for every process that maps the
// state, before the last save and the removal of a throwaway directory.
//
//   cowroot-faked --state DIR [--save FILE] [--ephemeral] [--detach | --ready-fd N] [--grace MS]
#include "../cli/sanitizer_log.h"
#include "daemon.h"

int main(int argc, char** argv) { return cr::faked_main(argc, argv); }
