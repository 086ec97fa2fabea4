// The in-root stat path's user-space instructions, for bench/icount.sh:
// the core's own stat_at in a loop, with a root bound as root_init binds it
// in a new program. Under callgrind the count is exact and repeatable,
// whatever else the machine is doing.
//   icount ROOT N [INSIDE_PATH]
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>

#include "preload/core/ops.h"
#include "preload/core/resolve.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: icount ROOT N [INSIDE_PATH]\n");
    return 2;
  }
  setenv("COWROOT_ROOT", argv[1], 1);
  setenv("COWROOT_CHROOT", "/", 1);
  setenv("COWROOT_BINDS", "/dev=/dev:/proc=/proc:/sys=/sys", 1);
  cr::root_init();
  long n = atol(argv[2]);
  const char* path = argc > 3 ? argv[3] : "/etc/motd";
  struct stat st;
  for (long i = 0; i < n; i++)
    if (cr::ops::stat_at(AT_FDCWD, path, &st, 0) < 0) {
      perror(path);
      return 1;
    }
  return 0;
}
