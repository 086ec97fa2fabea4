// The operations behind the interposed functions, as plain functions of the
// core: each runs the pipeline
//     resolve -> (copy-on-write) -> real system call -> fake identity
// and returns in libc's convention (-1 and errno on failure). They make
// system calls directly, so they never re-enter a wrapper, and none of them
// allocates. Every path-taking call is expressed in its *at() form, and
// "by descriptor" is always the kernel's way: an empty path and
// AT_EMPTY_PATH in flags (fchmod(fd) is chmod_at(fd, "", m, AT_EMPTY_PATH)).
// Every front door (the libc wrappers, syscall(), the fixture) calls these;
// preload/ops.tbl lists which door reaches which operation.
#pragma once
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <cstddef>

#include "state.h"

struct statx;

namespace cr {
struct Resolved;
}

namespace cr::ops {

// stat family: real statx, then the fake owner, mode and device on top.
int stat_at(int dirfd, const char* path, struct stat* st, int flags);
int statx_at(int dirfd, const char* path, int flags, unsigned mask, struct statx* stx);

// The fake view on a struct stat some other code filled in (glibc's nftw).
void overlay_stat(struct stat* st);

int chown_at(int dirfd, const char* path, uid_t uid, gid_t gid, int flags);
int chmod_at(int dirfd, const char* path, mode_t mode, int flags);
int mknod_at(int dirfd, const char* path, mode_t mode, dev_t dev);
int mkdir_at(int dirfd, const char* path, mode_t mode);
int open_at(int dirfd, const char* path, int flags, mode_t mode);
int symlink_at(const char* target, int dirfd, const char* path);
int link_at(int olddirfd, const char* oldpath, int newdirfd, const char* newpath, int flags);
int unlink_at(int dirfd, const char* path, int flags);
int rename_at(int olddirfd, const char* oldpath, int newdirfd, const char* newpath, unsigned flags);
int access_at(int dirfd, const char* path, int mode, int flags);

// Writes that need only the copy-on-write step before the real call.
int truncate_at(int dirfd, const char* path, off_t length);  // follows the last symlink
// times == nullptr sets both to now; flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH.
int utimens_at(int dirfd, const char* path, const struct timespec times[2], int flags);
// The ioctl requests that set inode flags (chattr: FS_IOC_SETFLAGS,
// FS_IOC32_SETFLAGS, FS_IOC_FSSETXATTR) reach the clone's own copy;
// is_inode_flags_request says which requests those are.
bool is_inode_flags_request(unsigned long request);

// The type of a directory entry that the file system calls a regular file
// (DT_REG), in the session: a device mknod made is a regular file on disk,
// so its entry says DT_CHR or DT_BLK here (find -type and ls take the
// entry's type without a stat); else 0, the entry's own. `dev` is the
// directory's device, `dfd` its descriptor.
unsigned char faked_entry_type(int dfd, uint64_t dev, uint64_t ino, const char* name);
int set_inode_flags(int fd, unsigned long request, void* arg);

// Extended attributes of (dirfd, path): flags AT_SYMLINK_NOFOLLOW (the l*
// calls) or AT_EMPTY_PATH (the f* calls, by descriptor).
ssize_t getxattr_at(int dirfd, const char* path, int flags, const char* name, void* value, size_t size);
int setxattr_at(int dirfd, const char* path, int flags, const char* name, const void* value, size_t size,
                int xflags);
ssize_t listxattr_at(int dirfd, const char* path, int flags, char* list, size_t size);
int removexattr_at(int dirfd, const char* path, int flags, const char* name);

// Names handed back and the working directory, as a program inside sees them.
ssize_t readlink_at(int dirfd, const char* path, char* buf, size_t size);  // inside paths for /proc links
// The inside working directory into buf: its length with the NUL (the
// kernel's getcwd convention), or -1 with ERANGE when it does not fit.
long getcwd_inside(char* buf, size_t size);
int chdir_at(int dirfd, const char* path, int flags);  // fchdir: (fd, "", AT_EMPTY_PATH)
// chroot() inside the session's root (fake root only).
int chroot_at(const char* path);
// mount and umount: what a root passes through already succeeds and
// changes nothing (fake root only).
int mount(const char* source, const char* target, const char* type, unsigned long flags, const void* data);
int umount(const char* target, int flags);
int acct(const char* path);

mode_t umask(mode_t mask);

// A file made behind the pipeline's back (glibc's freopen): the creating
// fake user becomes its owner. creation_owner_needed() says whether a new
// file needs an entry at all (a fake user other than root, or -u).
bool creation_owner_needed();
int note_new_file(int fd);

// A Unix socket's name, resolved (`r`): bind makes it like any new name
// (0, -EACCES, or -EADDRINUSE for a name that is there), and the socket
// belongs to its maker (the fsuid; the fsgid or a setgid directory's
// group); connect needs write permission on it. The checks are those of a
// fake user without CAP_DAC_OVERRIDE; root is never refused.
int unix_bind_check(const cr::Resolved& r);
int unix_bound(const cr::Resolved& r);
int unix_connect_check(const cr::Resolved& r);

// Credentials, all in the process (no system call).
uid_t getuid();
uid_t geteuid();
gid_t getgid();
gid_t getegid();
int getresuid(uid_t* r, uid_t* e, uid_t* s);
int getresgid(gid_t* r, gid_t* e, gid_t* s);
int setuid(uid_t u);
int setgid(gid_t g);
int seteuid(uid_t u);
int setegid(gid_t g);
int setreuid(uid_t r, uid_t e);
int setregid(gid_t r, gid_t e);
int setresuid(uid_t r, uid_t e, uid_t s);
int setresgid(gid_t r, gid_t e, gid_t s);
int setfsuid(uid_t u);
int setfsgid(gid_t g);
int getgroups(int size, gid_t* list);
int setgroups(size_t size, const gid_t* list);

// Signals to other processes (kill, tkill, tgkill, rt_sigqueueinfo,
// rt_tgsigqueueinfo): the kernel's kill permission, on the fake ids.
int kill(pid_t pid, int sig);
int tkill(pid_t tid, int sig);
int tgkill(pid_t tgid, pid_t tid, int sig);
int sigqueueinfo(pid_t pid, int sig, void* info);
int tgsigqueueinfo(pid_t tgid, pid_t tid, int sig, void* info);
int pidfd_send_signal(int pidfd, int sig, void* info, unsigned flags);

// Capability sets of the process (capget/capset), in the kernel's structs.
int capget(void* header, void* data);
int capset(void* header, const void* data);
// prctl's PR_CAPBSET_READ and PR_CAPBSET_DROP, PR_SET/GET_NO_NEW_PRIVS and
// PR_SET/GET_DUMPABLE (remembered, not applied), in the kernel's
// convention; *served is false for every other request.
long prctl_caps(int option, unsigned long arg, bool* served);
// The program's PR_SET_NO_NEW_PRIVS, as it set it (not the confinement's).
bool no_new_privs();

}  // namespace cr::ops
