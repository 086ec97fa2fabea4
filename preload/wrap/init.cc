// The library's start: everything is set up on first use (or by the
// constructor), never by a static initialiser.
#include <stdlib.h>
#include <sys/prctl.h>

#include <atomic>

#include "doors.h"

using namespace cr;

namespace cr::wrap {

bool g_ready = false;

void init_once() {
  static std::atomic<int> state{0};  // 0 new, 1 running, 2 done
  int expected = 0;
  if (state.compare_exchange_strong(expected, 1)) {
    Dl_info info{};
    dladdr(reinterpret_cast<void*>(&init_once), &info);
    confine_early();
    session_init(info.dli_fname);
    // Programs that bypass libc: their calls are trapped from here on.
    confine_start();
    // Started through the root's loader: take the name the kernel would
    // have given (see plan_exec).
    // Then it goes from the environment: a child started behind the
    // wrappers' back (a raw execve) must not take this name too.
    if (const char* comm = getenv("COWROOT_COMM")) {
      prctl(PR_SET_NAME, comm, 0, 0, 0);
      unsetenv("COWROOT_COMM");
    }
    state.store(2);
    g_ready = true;
  }
}

}  // namespace cr::wrap

namespace {
__attribute__((constructor)) void cowroot_constructor() { cr::wrap::ensure(); }
}  // namespace
