// A small program the tests run inside roots to reach libc functions no
// shell tool calls directly:
//   helper glob PATTERN     libc glob(), one match a line
//   helper nftw DIR         libc nftw(), "path uid" a line
//   helper statx PATH       raw syscall(SYS_statx): "uid mode(octal)"
//   helper mount TYPE DIR   mount(2) through syscall(): prints the result
//   helper fts PATH...      libc fts_* under every option set, sorted and in
//                           directory order, with fts_children and fts_set:
//                           one line per entry (code, level, path, name,
//                           whether fts_accpath reaches it, errno), and
//                           whether fts_close left the program's descriptors alone
//   helper fts-uid PATH     FTS_PHYSICAL walk: "path uid" a line
//   helper fts-follow DIR   follows symlinks named "follow" and lists each
//                           followed directory's children first: "path
//                           reached|lost" a line
//   helper open-dir PATH    open(PATH, O_RDONLY|O_DIRECTORY): "ok" or the error
//   helper touch-empty PATH open(PATH, O_PATH), then utimensat(fd, "", t=1000,
//                           AT_EMPTY_PATH)
//   helper chmod-procfd PATH MODE  open(PATH, O_PATH), then chmod of /proc/self/fd/N
//   helper write-procfd PATH  open(PATH, O_RDONLY), then open /proc/self/fd/N
//                           O_WRONLY|O_APPEND and write "x"
//   helper nodump PATH      toggles FS_NODUMP_FL through a read-only descriptor
//                           (chattr's ioctl); prints "unsupported" where the
//                           file system has no such flags
//   helper temps UID GID DIR  becomes UID:GID (setgid, setuid), then makes
//                           DIR/fXXXXXX (mkstemp, then fchmod 0644),
//                           DIR/sXXXXXX.c (mkstemps), DIR/dXXXXXX (mkdtemp)
//                           and a tmpfile(): "name uid:gid mode" a line
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <fts.h>
#include <ftw.h>
#include <glob.h>
#include <linux/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <string>
#include <sys/stat.h>

static int print_entry(const char* p, const struct stat* st, int, struct FTW*) {
  printf("%s %u\n", p, (unsigned)st->st_uid);
  return 0;
}

static int by_name(const FTSENT** a, const FTSENT** b) { return strcmp((*a)->fts_name, (*b)->fts_name); }

// One walk. With `steer`, also list each directory's children before
// reading it (names only every other time), skip directories named "skip",
// follow symlinks named "follow" and revisit files named "again" once.
static void fts_walk(char** paths, int opts, bool sorted, bool steer) {
  printf("-- options %d%s%s\n", opts, sorted ? " sorted" : "", steer ? " steered" : "");
  FTS* sp = fts_open(paths, opts, sorted ? by_name : nullptr);
  if (!sp) {
    printf("fts_open: %s\n", strerror(errno));
    return;
  }
  if (steer)
    for (FTSENT* c = fts_children(sp, 0); c; c = c->fts_link) printf("root %s %d\n", c->fts_name, c->fts_info);
  int dirs = 0;
  bool again = false;
  errno = 0;
  while (FTSENT* e = fts_read(sp)) {
    printf("%d %d %s %s %s %d\n", e->fts_info, e->fts_level, e->fts_path, e->fts_name,
           access(e->fts_accpath, F_OK) == 0 ? "reached" : "lost", e->fts_errno);
    // (Not on a followed directory: glibc's fts_children goes back out of
    // one through ".", lands elsewhere and ends the walk, or not, depending
    // on directory order. `helper fts-follow` checks ours there.)
    if (steer && e->fts_info == FTS_D && strcmp(e->fts_name, "follow") != 0) {
      if (!strcmp(e->fts_name, "skip")) {
        fts_set(sp, e, FTS_SKIP);
      } else {
        int n = 0;
        for (FTSENT* c = fts_children(sp, dirs++ % 2 ? FTS_NAMEONLY : 0); c; c = c->fts_link) n++;
        printf("children %d\n", n);
      }
    }
    if (steer && e->fts_info == FTS_SL && !strcmp(e->fts_name, "follow")) fts_set(sp, e, FTS_FOLLOW);
    if (steer && e->fts_info == FTS_F && !strcmp(e->fts_name, "again") && !again) {
      again = true;
      fts_set(sp, e, FTS_AGAIN);
    }
    // Half the steered walks stop right after a followed directory's
    // post-order visit, so that fts_close finds it still held.
    if (steer && (opts & 1) && e->fts_info == FTS_DP && !strcmp(e->fts_name, "follow")) {
      printf("stopped\n");
      break;
    }
    errno = 0;
  }
  printf("end %d\n", errno);
  char cwd[4096];
  // A descriptor the program opens now must survive fts_close.
  int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fts_close(sp) != 0) printf("fts_close: %s\n", strerror(errno));
  printf("probe %s\n", fcntl(probe, F_GETFD) >= 0 ? "open" : "closed by fts_close");
  close(probe);
  printf("cwd %s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
}

static void print_temp(const char* what, int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    printf("%s %s\n", what, strerror(errno));
    return;
  }
  printf("%s %u:%u %o\n", what, (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
}

static int temps(int argc, char** argv) {
  if (argc != 5 || setgid(atoi(argv[3])) != 0 || setuid(atoi(argv[2])) != 0) return 2;
  std::string f = std::string(argv[4]) + "/fXXXXXX", s = std::string(argv[4]) + "/sXXXXXX.c",
              d = std::string(argv[4]) + "/dXXXXXX";
  int fd = mkstemp(f.data());
  if (fd >= 0 && fchmod(fd, 0644) < 0) printf("fchmod %s\n", strerror(errno));
  print_temp("mkstemp", fd);
  print_temp("mkstemps", mkstemps(s.data(), 2));
  print_temp("mkdtemp", mkdtemp(d.data()) ? open(d.c_str(), O_RDONLY | O_DIRECTORY) : -1);
  FILE* t = tmpfile();
  print_temp("tmpfile", t ? fileno(t) : -1);
  char bad[] = "/tmp/short-XXXX";
  printf("short template %s\n", mkstemp(bad) < 0 && errno == EINVAL ? "EINVAL" : "accepted");
  return 0;
}

static int through_descriptor(int argc, char** argv) {
  const char* what = argv[1];
  if (argc < 3) return 2;
  int fd = open(argv[2], (!strcmp(what, "write-procfd") || !strcmp(what, "nodump")) ? O_RDONLY : O_PATH);
  if (fd < 0) {
    printf("open %s\n", strerror(errno));
    return 1;
  }
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  int r = 0;
  if (!strcmp(what, "touch-empty")) {
    struct timespec ts[2] = {{1000, 0}, {1000, 0}};
    r = utimensat(fd, "", ts, AT_EMPTY_PATH);
  } else if (!strcmp(what, "chmod-procfd") && argc == 4) {
    r = chmod(link, (mode_t)strtol(argv[3], nullptr, 8));
  } else if (!strcmp(what, "write-procfd")) {
    int w = open(link, O_WRONLY | O_APPEND);
    r = w < 0 ? -1 : (write(w, "x", 1) == 1 ? 0 : -1);
  } else if (!strcmp(what, "nodump")) {
    long flags = 0;
    if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
      printf("unsupported\n");
      return 0;
    }
    flags ^= FS_NODUMP_FL;
    r = ioctl(fd, FS_IOC_SETFLAGS, &flags);
  } else {
    return 2;
  }
  printf("%s\n", r == 0 ? "ok" : strerror(errno));
  return r == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
  if (argc >= 2 && !strcmp(argv[1], "temps")) return temps(argc, argv);
  if (argc >= 3 && (!strcmp(argv[1], "touch-empty") || !strcmp(argv[1], "chmod-procfd") ||
                    !strcmp(argv[1], "write-procfd") || !strcmp(argv[1], "nodump")))
    return through_descriptor(argc, argv);
  if (argc >= 3 && !strcmp(argv[1], "fts")) {
    for (int opts = 0; opts <= FTS_OPTIONMASK; opts++)
      for (int mode = 0; mode < 3; mode++) fts_walk(argv + 2, opts, mode > 0, mode == 2);
    fts_walk(argv + 2, 0x400, false, false);  // not an option: EINVAL
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "fts-follow")) {
    char* paths[] = {argv[2], nullptr};
    FTS* sp = fts_open(paths, FTS_PHYSICAL, by_name);
    if (!sp) return 1;
    while (FTSENT* e = fts_read(sp)) {
      printf("%s %s\n", e->fts_path, access(e->fts_accpath, F_OK) == 0 ? "reached" : "lost");
      if (e->fts_info == FTS_SL && !strcmp(e->fts_name, "follow")) fts_set(sp, e, FTS_FOLLOW);
      if (e->fts_info == FTS_D && !strcmp(e->fts_name, "follow")) fts_children(sp, 0);
    }
    return fts_close(sp) == 0 ? 0 : 1;
  }
  if (argc == 3 && !strcmp(argv[1], "open-dir")) {
    int fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    printf("%s\n", fd >= 0 ? "ok" : strerror(errno));
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "fts-uid")) {
    char* paths[] = {argv[2], nullptr};
    FTS* sp = fts_open(paths, FTS_PHYSICAL, by_name);
    if (!sp) return 1;
    while (FTSENT* e = fts_read(sp))
      if (e->fts_info != FTS_DP) printf("%s %u\n", e->fts_path, (unsigned)e->fts_statp->st_uid);
    return fts_close(sp) == 0 ? 0 : 1;
  }
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
  fprintf(stderr, "usage: helper glob PATTERN | nftw DIR | statx PATH | mount TYPE DIR | fts PATH... | fts-uid PATH | fts-follow DIR | open-dir PATH\n");
  return 2;
}
