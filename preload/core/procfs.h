// /proc's view of a session's processes as processes of their fake users
// (procfs.cc). Internal to the core.
#pragma once
#include <cstdint>

namespace cr {

// The owner /proc shows for `path` (a host path under /proc/PID, /proc/self
// or /proc/thread-self, owned for real by `real_uid`): the process's fake
// effective ids when it is one of the session's. False: keep the kernel's.
bool proc_owner(const char* path, uint32_t real_uid, uint32_t* uid, uint32_t* gid);

// open of /proc/PID/status (and its /task/TID/ and self forms) for reading:
// for a process of the session, a descriptor of a copy whose Uid:, Gid: and
// Groups: lines are its fake ids; the real file's descriptor otherwise, or
// -errno. kNotProc when `path` is none of those.
constexpr int kNotProc = -100000;
int proc_open_status(const char* path, int flags);

}  // namespace cr
