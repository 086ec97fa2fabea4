/* The fixture's C interface (cowroot/fixture_c.h), as a binding would use
 * it: built and run by tests/fixture_api_tests.cc against the installed
 * shared library, with BASE (tests/mkroot.sh's root) as its argument, and
 * PARENT, a cached image made of it, for a layer.
 * Prints "capi: all passed", or the first check that failed, and exits 1. */
#include <cowroot/fixture_c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond)                                                                            \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      fprintf(stderr, "capi: line %d: %s (last error: %s)\n", __LINE__, #cond, cowroot_last_error()); \
      failures++;                                                                              \
    }                                                                                          \
  } while (0)

static int streq(const char* a, const char* b) { return a && b && strcmp(a, b) == 0; }

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: capi BASE PARENT\n");
    return 2;
  }
  CHECK(cowroot_api_version() == COWROOT_C_API_VERSION);
  cowroot_image* image = cowroot_image_at(argv[1]);
  CHECK(image != NULL);
  if (!image) return 1;
  CHECK(streq(cowroot_image_name(image), ""));
  cowroot_root* root = cowroot_root_new(image);
  CHECK(root != NULL);
  if (!root) return 1;

  /* Running, with options and output. */
  const char* av[] = {"sh", "-c", "id -u; cat; echo $GREETING; pwd; echo oops >&2; exit 3"};
  const char* env[] = {"GREETING=hello"};
  cowroot_run_options o;
  memset(&o, 0, sizeof o);
  o.cwd = "/tmp";
  o.env = env;
  o.n_env = 1;
  o.input = "in\n";
  o.input_len = 3;
  cowroot_result r;
  CHECK(cowroot_run(root, av, 3, &o, &r) == 0);
  CHECK(r.status == 3);
  CHECK(r.timed_out == 0);
  CHECK(streq(r.out, "0\nin\nhello\n/tmp\n"));
  CHECK(r.out_len == strlen("0\nin\nhello\n/tmp\n"));
  CHECK(streq(r.err, "oops\n"));
  cowroot_result_free(&r);
  CHECK(cowroot_check_call(root, av, 3, &o, &r) == -1);
  CHECK(streq(cowroot_last_error(),
              "cowroot: sh -c id -u; cat; echo $GREETING; pwd; echo oops >&2; exit 3 exited with status 3: oops"));
  CHECK(r.status == 3);
  cowroot_result_free(&r);
  const char* quick[] = {"sh", "-c", "true"};
  CHECK(cowroot_check_call(root, quick, 3, NULL, &r) == 0);
  cowroot_result_free(&r);
  const char* slow[] = {"sleep", "30"};
  o.timeout_ms = 200;
  CHECK(cowroot_run(root, slow, 2, &o, &r) == 0);
  CHECK(r.timed_out == 1 && r.status == 124);
  cowroot_result_free(&r);
  /* Cancelled: a descriptor readable from the start stops a program that
   * ignores SIGTERM. */
  o.timeout_ms = 0;
  int cancel[2];
  CHECK(pipe(cancel) == 0 && write(cancel[1], "x", 1) == 1);
  const char* stubborn[] = {"sh", "-c", "trap '' TERM; sleep 30"};
  CHECK(cowroot_run_cancellable(root, stubborn, 3, &o, cancel[0], &r) == 0);
  CHECK(r.status == 143 && r.timed_out == 0);
  cowroot_result_free(&r);
  close(cancel[0]);
  close(cancel[1]);
  CHECK(cowroot_run(root, NULL, 0, NULL, &r) == -1);
  CHECK(streq(cowroot_last_error(), "cowroot: run: no program"));

  /* Files. */
  char* data = NULL;
  size_t len = 0;
  CHECK(cowroot_write(root, "/etc/app.conf", "a\0b", 3, 0640) == 0);
  CHECK(cowroot_read(root, "etc/app.conf", &data, &len) == 0);
  CHECK(len == 3 && memcmp(data, "a\0b", 3) == 0);
  cowroot_free(data);
  CHECK(cowroot_chown(root, "/etc/app.conf", 5, 6) == 0);
  CHECK(cowroot_write(root, "/etc/app.conf", "new", 3, -1) == 0);
  cowroot_statbuf st;
  CHECK(cowroot_stat(root, "/etc/app.conf", &st) == 0);
  CHECK((st.mode & 07777) == 0640 && st.uid == 5 && st.gid == 6 && st.size == 3);
  CHECK(cowroot_chown(root, "/etc/app.conf", (unsigned)-1, 9) == 0);
  CHECK(cowroot_stat(root, "/etc/app.conf", &st) == 0 && st.uid == 5 && st.gid == 9);
  CHECK(cowroot_chmod(root, "/etc/app.conf", 0600) == 0);
  CHECK(cowroot_mkdir(root, "/srv/a/b", 0750, 1) == 0);
  CHECK(cowroot_mkdir(root, "/srv/a/b", 0750, 0) == -1);
  CHECK(streq(cowroot_last_error(), "cowroot: /srv/a/b: File exists"));
  CHECK(cowroot_isdir(root, "/srv/a/b") == 1);
  CHECK(cowroot_symlink(root, "/etc/app.conf", "/srv/link") == 0);
  CHECK(cowroot_islink(root, "/srv/link") == 1);
  CHECK(cowroot_isfile(root, "/srv/link") == 1);
  CHECK(cowroot_lstat(root, "/srv/link", &st) == 0 && S_ISLNK(st.mode));
  char* target = NULL;
  CHECK(cowroot_readlink(root, "/srv/link", &target) == 0 && streq(target, "/etc/app.conf"));
  cowroot_free(target);
  CHECK(cowroot_touch(root, "/srv/touched") == 0);
  CHECK(cowroot_exists(root, "/srv/touched") == 1);
  CHECK(cowroot_unlink(root, "/srv/touched") == 0);
  CHECK(cowroot_lexists(root, "/srv/touched") == 0);
  CHECK(cowroot_remove(root, "/srv") == 0);
  CHECK(cowroot_exists(root, "/srv") == 0);
  CHECK(cowroot_read(root, "/no/such", &data, &len) == -1);
  CHECK(streq(cowroot_last_error(), "cowroot: /no/such: No such file or directory"));
  char *host = NULL, *inside = NULL;
  CHECK(cowroot_write_temporary_file(root, "tmp", 3, &host, &inside) == 0);
  CHECK(inside && strncmp(inside, "/tmp/", 5) == 0);
  CHECK(host && strstr(host, inside) != NULL);
  cowroot_free(host);
  cowroot_free(inside);
  char* hp = NULL;
  CHECK(cowroot_host_path(root, "/etc/motd", &hp) == 0);
  CHECK(hp && strncmp(hp, cowroot_root_path(root), strlen(cowroot_root_path(root))) == 0);
  cowroot_free(hp);

  /* Users and groups. */
  const char* passwd = "root:x:0:0:root:/root:/bin/sh\nsvc:x:101:102:Service:/var/svc:/bin/false\n";
  CHECK(cowroot_write(root, "/etc/passwd", passwd, strlen(passwd), -1) == 0);
  const char* group = "root:x:0:\nsvc:x:102:\nextra:x:500:svc\n";
  CHECK(cowroot_write(root, "/etc/group", group, strlen(group), -1) == 0);
  char* line = NULL;
  CHECK(cowroot_getpwnam(root, "svc", &line) == 1 && streq(line, "svc:x:101:102:Service:/var/svc:/bin/false"));
  cowroot_free(line);
  CHECK(cowroot_getpwuid(root, 101, &line) == 1);
  cowroot_free(line);
  CHECK(cowroot_getpwnam(root, "ghost", &line) == 0 && line == NULL);
  CHECK(cowroot_getpwall(root, &line) == 2 && streq(line, passwd));
  cowroot_free(line);
  CHECK(cowroot_getgrgid(root, 500, &line) == 1 && streq(line, "extra:x:500:svc"));
  cowroot_free(line);
  CHECK(cowroot_getgrnam(root, "svc", &line) == 1);
  cowroot_free(line);
  CHECK(cowroot_getgrall(root, &line) == 3);
  cowroot_free(line);
  CHECK(cowroot_getspnam(root, "svc", &line) == 0);
  CHECK(cowroot_getspall(root, &line) == 0);
  cowroot_free(line);
  CHECK(cowroot_get_user(root, "svc", &line) == 1 && streq(line, "x:101:102:Service:/var/svc:/bin/false"));
  cowroot_free(line);
  CHECK(cowroot_get_group(root, "extra", &line) == 1 && streq(line, "x:500:svc"));
  cowroot_free(line);
  CHECK(cowroot_get_user(root, "ghost", &line) == 0);
  const char* ids[] = {"sh", "-c", "id -u; id -G"};
  o.timeout_ms = 0;
  o.user = "svc";
  CHECK(cowroot_run(root, ids, 3, &o, &r) == 0 && streq(r.out, "101\n102 500\n"));
  cowroot_result_free(&r);

  /* NULLs are errors, not crashes. */
  CHECK(cowroot_read(NULL, "/etc/motd", &data, &len) == -1);
  CHECK(streq(cowroot_last_error(), "cowroot: the root is NULL"));
  CHECK(cowroot_exists(root, NULL) == -1);

  /* Keeping it. */
  char* where = NULL;
  CHECK(cowroot_keep_failed(root, "not kept", &where) == 0 && where == NULL);

  cowroot_root_free(root);
  cowroot_image_free(image);

  /* A layer of PARENT: a copy and a script; a failing script is an error naming its step. */
  char etc[4096];
  snprintf(etc, sizeof etc, "%s/etc", argv[1]);
  const char* hosts[] = {etc};
  const char* insides[] = {"/srv/etc"};
  cowroot_image* layer = cowroot_image_get_layer("capi-layer", argv[2], "cat /srv/etc/motd > /etc/layered\n",
                                                 hosts, insides, 1, NULL, 0);
  CHECK(layer != NULL);
  if (layer) {
    CHECK(streq(cowroot_image_name(layer), "capi-layer"));
    cowroot_root* lr = cowroot_root_new(layer);
    CHECK(lr != NULL);
    CHECK(lr && cowroot_read(lr, "/etc/layered", &data, &len) == 0 && streq(data, "inside the root\n"));
    cowroot_free(data);
    cowroot_root_free(lr);
    cowroot_image_free(layer);
  }
  CHECK(cowroot_image_get_layer("capi-bad", argv[2], "exit 3", NULL, NULL, 0, NULL, 0) == NULL);
  CHECK(streq(cowroot_last_error(), "cowroot: cannot build image capi-bad: step 1 of 1 (run setup) failed with status 3"));
  CHECK(cowroot_image_get_layer(NULL, argv[2], "true", NULL, NULL, 0, NULL, 0) == NULL);
  CHECK(cowroot_image_get_layer("capi-bad", NULL, "true", NULL, NULL, 0, NULL, 0) == NULL);
  CHECK(streq(cowroot_last_error(), "cowroot: parent is NULL"));
  if (failures) return 1;
  printf("capi: all passed\n");
  return 0;
}
