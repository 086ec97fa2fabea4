// preload/ops.tbl as the core sees it (build/gen/optable.cc): every
// operation is reachable, every system call is served once, and every
// system call that takes a path is either served or listed below with the
// reason it needs no door. What traps the system calls of programs that
// bypass libc takes its list from this table, so a path-taking call missing
// here would be a call that escapes the root.
#include <sys/syscall.h>

#include <cstring>
#include <map>
#include <set>
#include <string>

#include "../preload/core/optable.h"
#include "common.h"

namespace {

// The kernel's system calls that take a path (x86_64 and aarch64 names).
const char* const kPathCalls[] = {
    "open", "openat", "openat2", "creat", "stat", "lstat", "newfstatat", "statx", "access", "faccessat",
    "faccessat2", "chdir", "chroot", "chmod", "fchmodat", "fchmodat2", "chown", "lchown", "fchownat", "link",
    "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "rmdir", "mkdir", "mkdirat", "mknod", "mknodat",
    "rename", "renameat", "renameat2", "readlink", "readlinkat", "truncate", "utime", "utimes", "futimesat",
    "utimensat", "execve", "execveat", "getxattr", "lgetxattr", "setxattr", "lsetxattr", "listxattr",
    "llistxattr", "removexattr", "lremovexattr", "statfs", "mount", "umount2", "acct", "inotify_add_watch",
    "fanotify_mark", "name_to_handle_at", "bind", "connect", "getcwd",
    "swapon", "swapoff", "pivot_root", "uselib", "quotactl", "open_tree", "move_mount", "fsopen", "fsconfig",
    "fspick", "mount_setattr", "quotactl_fd", "landlock_create_ruleset"};

// Path-taking calls without a door, and why none is needed.
const std::map<std::string, const char*> kUnserved = {
    {"swapon", "root's alone: the kernel refuses the real user (EPERM)"},
    {"swapoff", "root's alone: the kernel refuses the real user (EPERM)"},
    {"pivot_root", "needs CAP_SYS_ADMIN in the mount namespace: refused by the kernel"},
    {"uselib", "not in the x86_64 kernels Debian builds (ENOSYS)"},
    {"quotactl", "needs CAP_SYS_ADMIN for any change; a query names a device, not a file of the root"},
    {"quotactl_fd", "takes a descriptor, opened through open's door"},
    {"open_tree", "the new mount API: needs CAP_SYS_ADMIN, refused by the kernel"},
    {"move_mount", "the new mount API: needs CAP_SYS_ADMIN, refused by the kernel"},
    {"fsopen", "the new mount API: needs CAP_SYS_ADMIN, refused by the kernel"},
    {"fsconfig", "the new mount API: needs CAP_SYS_ADMIN, refused by the kernel"},
    {"fspick", "the new mount API: needs CAP_SYS_ADMIN, refused by the kernel"},
    {"mount_setattr", "the new mount API: needs CAP_SYS_ADMIN, refused by the kernel"},
    {"landlock_create_ruleset", "takes no path (rules take descriptors opened through open's door)"},
};

}  // namespace

TEST_CASE("every operation of the table has a core function and a door") {
  REQUIRE(cr::kNumOps > 30);
  std::set<int> with_sys;
  for (size_t i = 0; i < cr::kNumSysDoors; i++) with_sys.insert(cr::kSysDoors[i].op);
  for (size_t i = 0; i < cr::kNumOps; i++) {
    const cr::OpInfo& op = cr::kOps[i];
    INFO("op ", std::string(op.name));
    CHECK(op.core != nullptr);
    CHECK(strlen(op.core) > 0);
    CHECK((op.libc_doors > 0 || with_sys.count((int)i)));
    // a writing operation takes a path or a descriptor: what would it break otherwise?
    if (op.traits & cr::kOpWrites) CHECK((op.traits & (cr::kOpPath | cr::kOpFd)));
    CHECK(!((op.traits & cr::kOpFollowLast) && (op.traits & cr::kOpFollowFlag)));
  }
}

TEST_CASE("each system call is served by one row, of a known operation") {
  std::set<long> numbers;
  std::set<std::string> names;
  for (size_t i = 0; i < cr::kNumSysDoors; i++) {
    const cr::SysDoor& d = cr::kSysDoors[i];
    INFO("system call ", std::string(d.name));
    CHECK(numbers.insert(d.nr).second);
    CHECK(names.insert(d.name).second);
    CHECK(d.op >= 0);
    CHECK((size_t)d.op < cr::kNumOps);
  }
  CHECK(names.count("openat"));
  CHECK(names.count("execve"));
}

TEST_CASE("every system call that takes a path is served, or listed with the reason it needs no door") {
  std::set<std::string> served;
  for (size_t i = 0; i < cr::kNumSysDoors; i++) served.insert(cr::kSysDoors[i].name);
  for (const char* call : kPathCalls) {
    INFO("system call ", std::string(call));
    bool listed = kUnserved.count(call) > 0;
    CHECK(served.count(call) + listed == 1);  // served, or listed: never both, never neither
  }
}
