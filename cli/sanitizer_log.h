// Under `make test-asan` (COWROOT_SANITIZER_LOG defined), where the
// programs cowroot starts write a sanitizer's report: a file, since the
// daemon runs with an empty environment and without stderr, and a report
// in the launcher's stderr could pass unseen in a test's output. The run
// fails when any such file exists. Nothing at all in a regular build.
#pragma once
#ifdef COWROOT_SANITIZER_LOG
#define COWROOT_STR2(x) #x
#define COWROOT_STR(x) COWROOT_STR2(x)
extern "C" const char* __asan_default_options() {
  return "log_path=" COWROOT_STR(COWROOT_SANITIZER_LOG) ":detect_leaks=1";
}
extern "C" const char* __ubsan_default_options() {
  return "log_path=" COWROOT_STR(COWROOT_SANITIZER_LOG) ":print_stacktrace=1";
}
#endif
