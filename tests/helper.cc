// A small program the tests run inside roots to reach libc functions no
// shell tool calls directly:
//   helper glob PATTERN     libc glob(), one match a line
//   helper nftw DIR         libc nftw(), "path uid" a line
//   helper statx PATH       raw syscall(SYS_statx): "uid mode(octal)"
//   helper mount TYPE DIR   mount(2) through syscall(): prints the result
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <linux/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

static int print_entry(const char* p, const struct stat* st, int, struct FTW*) {
  printf("%s %u\n", p, (unsigned)st->st_uid);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && !strcmp(argv[1], "glob")) {
    glob_t g{};
    int r = glob(argv[2], 0, nullptr, &g);
    for (size_t i = 0; r == 0 && i < g.gl_pathc; i++) printf("%s\n", g.gl_pathv[i]);
    return r == 0 ? 0 : 1;
  }
  if (argc == 3 && !strcmp(argv[1], "nftw")) return nftw(argv[2], print_entry, 8, FTW_PHYS) == 0 ? 0 : 1;
  if (argc == 3 && !strcmp(argv[1], "statx")) {
    struct statx sx{};
    long r = syscall(SYS_statx, AT_FDCWD, argv[2], 0, STATX_BASIC_STATS, &sx);
    if (r != 0) return perror("statx"), 1;
    printf("%u %o\n", sx.stx_uid, sx.stx_mode & 07777);
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "mount")) {
    printf("%ld\n", syscall(SYS_mount, argv[2], argv[3], argv[2], 0L, nullptr));
    return 0;
  }
  fprintf(stderr, "usage: helper glob PATTERN | nftw DIR | statx PATH | mount TYPE DIR\n");
  return 2;
}
