// Runs a command under a seccomp filter of its own that refuses one system
// call with EPERM, as a container's profile does (Docker's refuses kcmp; a
// strict one, seccomp itself): shared by tests/rawprog.cc and tests/helper.cc.
#pragma once
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

// execvp(cmd[0], cmd) with `nr` refused; returns only on failure (1 when
// the filter could not be put on, 127 when the exec failed).
inline int run_denying(long nr, char** cmd) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
    return perror("seccomp"), 1;
  execvp(cmd[0], cmd);
  return perror(cmd[0]), 127;
}
