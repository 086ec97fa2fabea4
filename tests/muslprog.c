/* muslprog: a static program on musl (built in the test run with
   musl-gcc -static): every call musl makes is its own system call.
   muslprog OUT */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  char buf[128] = {0};
  int fd = open("/etc/marker", O_RDONLY);
  if (fd < 0 || read(fd, buf, sizeof buf - 1) < 0) return printf("read failed\n"), 1;
  close(fd);
  printf("marker %s", buf);
  const char* out = argc > 1 ? argv[1] : "/tmp/musl-out";
  fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return printf("create failed\n"), 1;
  write(fd, "musl\n", 5);
  close(fd);
  int c = chown(out, 12, 34);
  int m = chmod(out, 0755);
  struct stat st;
  stat(out, &st);
  printf("chown %d chmod %d owner %u:%u mode %o uid %u\n", c, m, st.st_uid, st.st_gid, st.st_mode & 07777, getuid());
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", "cat /etc/marker; id -u", (char*)0);
    _exit(127);
  }
  int status;
  waitpid(pid, &status, 0);
  printf("child %d\n", WEXITSTATUS(status));
  return 0;
}
