// cowroot-faked's work as a function (daemon.cc): its program (faked.cc)
// calls it, and so does a child forked for it (cli/session.cc, for the
// test fixture), after what an exec would have done.
#pragma once

namespace cr {

// argv as the program's: cowroot-faked --state DIR [--save FILE]
// [--ephemeral] [--detach | --ready-fd N] [--grace MS]. Returns the exit status.
int faked_main(int argc, char** argv);

// From now on a fatal error ends the process with _exit, not exit (a child
// of a test process: its exit handlers are the test's).
void faked_quick_exit();

}  // namespace cr
