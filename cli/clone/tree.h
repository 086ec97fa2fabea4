// libcowroot-clone's file-tree helpers: descriptors that close themselves,
// directory walks, opening and removing beneath a directory without ever
// following a symlink or entering a mount. Internal to cli/clone/.
#pragma once
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "../../preload/core/state.h"
#include "../../preload/core/sys.h"

namespace cr::cloning {

// Calls f(name, d_type, d_ino) for each entry of the open directory fd.
template <typename F>
int each_entry(int fd, F&& f) {
  char buf[32768];
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n < 0) return -errno;
    if (n == 0) return 0;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<sys::Dirent64*>(buf + off);
      off += d->reclen;
      if (d->name[0] == '.' && (d->name[1] == 0 || (d->name[1] == '.' && d->name[2] == 0))) continue;
      if (int e = f(d->name, d->type, d->ino)) return e;
    }
  }
}

// A descriptor that closes itself (negative: none, or -errno).
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(Fd&& o) {
    if (this != &o) {
      if (fd >= 0) close(fd);
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  operator int() const { return fd; }
};

// Opens `rel` beneath the directory `dirfd` and never anywhere else: no
// symlink is followed (the last name's included), no mount is entered, no
// ".." leaves. Returns the descriptor or -errno: ELOOP or ENOTDIR where a
// symlink or a file stands in the way, EXDEV where a mount does. openat2
// where the kernel has it; else the same, one name at a time.
int open_beneath(int dirfd, const char* rel, int flags);

// The parent of `rel` (beneath `dirfd`, as open_beneath) as an O_PATH
// descriptor, and the last name of `rel` into `name`.
int parent_beneath(int dirfd, const std::string& rel, std::string* name);

// Removes `name` in the directory `pfd`, with everything under it. Never
// follows a symlink and never enters a mount: a mount point stops it with
// -EXDEV, and `where` (the path of pfd/name, for the message) names it in
// `mount`.
int remove_at(int pfd, const char* name, const std::string& where, std::string* mount);

// chmod of pfd/name, a directory beneath pfd, through a descriptor: never
// through a symlink or into a mount.
bool chmod_beneath(int pfd, const char* name, mode_t mode);

// Whether the entry `name` of dfd (d_type `type`) is a directory.
bool entry_is_dir(int dfd, const char* name, unsigned char type);

// Whether the path a is top or under it.
bool inside(const std::string& a, const std::string& top);

// The first mount point at or under one of `tops` (absolute, canonical
// paths), from /proc/self/mountinfo; "" when there is none (or no /proc).
std::string mount_under(const std::vector<std::string>& tops);

bool file_exists(const std::string& p);
// The directory a path is in ("." for a bare name).
std::string parent_of(const std::string& p);
// The same for a path relative to a clone's top ("." for one at the top).
std::string parent_rel(const std::string& rel);

// Removes what a clone or a reset killed before its end left beside
// `path`: the directories named NAME + `infix` + PID + a tail `ours`
// accepts ("" included), where NAME is path's last name and no process
// has that PID any more. Never a symlink, nothing not a directory of this
// user's, and never into a mount. `before`, when given, is called with
// each leftover's path before anything is removed (a clone's session,
// whose programs may outlive the process that ran them, is stopped so).
void remove_stale(const std::string& path, const std::string& infix, bool (*ours)(const std::string& tail),
                  void (*before)(const std::string& leftover) = nullptr);
// An `ours` for remove_stale where each leftover is a whole clone: the
// clone itself (tail ""), its sidecar (".cowroot"), and what cow_clone
// left while making it (".cowroot-new-PID", ".side" too).
bool clone_with_sidecar(const std::string& tail);

// Copies a file's content to `to`, a new file (mode 0600).
bool copy_file(const std::string& from, const std::string& to);

// The birth time of dirfd/name (not followed), or none.
Birth birth_of(int dirfd, const char* name);

}  // namespace cr::cloning
