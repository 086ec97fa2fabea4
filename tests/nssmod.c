/* An NSS module of the tests' own (libnss_cowtest.so.2), put in a root
   whose nsswitch.conf names it after `files`: one user, nssuser (7777),
   and one group, nssgrp (7778) with nssuser in it. confine_tests builds it
   with the host's cc and checks that the root's programs find them. */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <string.h>

static int fill_pw(struct passwd* pw, char* buf, size_t len, int* err) {
  static const char text[] = "nssuser\0x\0NSS user\0/home/nssuser\0/bin/sh";
  if (len < sizeof text) return *err = ERANGE, NSS_STATUS_TRYAGAIN;
  memcpy(buf, text, sizeof text);
  pw->pw_name = buf;
  pw->pw_passwd = buf + 8;
  pw->pw_gecos = buf + 10;
  pw->pw_dir = buf + 19;
  pw->pw_shell = buf + 33;
  pw->pw_uid = 7777;
  pw->pw_gid = 7778;
  return NSS_STATUS_SUCCESS;
}

static int fill_gr(struct group* gr, char* buf, size_t len, int* err) {
  static const char text[] = "nssgrp\0x\0nssuser";
  size_t need = sizeof text + 2 * sizeof(char*) + sizeof(char*);
  if (len < need) return *err = ERANGE, NSS_STATUS_TRYAGAIN;
  char** mem = (char**)(((unsigned long)buf + sizeof(char*) - 1) & ~(sizeof(char*) - 1));
  char* s = (char*)(mem + 2);
  memcpy(s, text, sizeof text);
  mem[0] = s + 9;
  mem[1] = 0;
  gr->gr_name = s;
  gr->gr_passwd = s + 7;
  gr->gr_gid = 7778;
  gr->gr_mem = mem;
  return NSS_STATUS_SUCCESS;
}

enum nss_status _nss_cowtest_getpwnam_r(const char* name, struct passwd* pw, char* buf, size_t len, int* err) {
  return strcmp(name, "nssuser") == 0 ? fill_pw(pw, buf, len, err) : NSS_STATUS_NOTFOUND;
}
enum nss_status _nss_cowtest_getpwuid_r(uid_t uid, struct passwd* pw, char* buf, size_t len, int* err) {
  return uid == 7777 ? fill_pw(pw, buf, len, err) : NSS_STATUS_NOTFOUND;
}
enum nss_status _nss_cowtest_getgrnam_r(const char* name, struct group* gr, char* buf, size_t len, int* err) {
  return strcmp(name, "nssgrp") == 0 ? fill_gr(gr, buf, len, err) : NSS_STATUS_NOTFOUND;
}
enum nss_status _nss_cowtest_getgrgid_r(gid_t gid, struct group* gr, char* buf, size_t len, int* err) {
  return gid == 7778 ? fill_gr(gr, buf, len, err) : NSS_STATUS_NOTFOUND;
}
