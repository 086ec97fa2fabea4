// The exec planner's ELF reader (preload/core/exec.cc): what it makes of a
// file a program asks to run. It reads with pread from a descriptor, so the
// input is put in a memfd. Whatever the file, the interpreter it reports
// fits its buffer and is NUL-terminated, and a `#!` line's argument too.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "../../preload/core/exec.h"
#include "../../preload/core/session.h"
#include "fuzz.h"

struct statx;
namespace cr {
// exec.cc's reader of a program's DT_NEEDED, DT_RUNPATH and DT_RPATH (not
// in a header: the exec planner's own step).
bool sanitizer_needed(int fd, char* out, size_t n, struct statx* file, bool* elf, char* search, size_t sn,
                      bool* runpath, bool* big_tls);
}

COWROOT_FUZZ_TARGET(elf) {
  static int fd = memfd_create("cowroot-fuzz-elf", MFD_CLOEXEC);
  if (fd < 0) abort();
  if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) abort();
  char interp[512], arg[256];
  memset(interp, 'x', sizeof interp);
  memset(arg, 'x', sizeof arg);
  int r = cr::inspect_program(nullptr, fd, interp, sizeof interp, arg, sizeof arg);
  FUZZ_CHECK(r == 0 || r == 1 || r == 2 || r == -ENOEXEC);
  if (r == 0 || r == 2) {
    FUZZ_CHECK(memchr(interp, 0, sizeof interp) != nullptr && interp[0]);
  }
  if (r == 2) FUZZ_CHECK(memchr(arg, 0, sizeof arg) != nullptr);
  if (r == 0) FUZZ_CHECK(size >= 64 && memcmp(data, "\177ELF", 4) == 0);
  if (r == 2) FUZZ_CHECK(size >= 2 && data[0] == '#' && data[1] == '!');
  char need[64], search[128];
  memset(need, 'x', sizeof need);
  memset(search, 'x', sizeof search);
  bool runpath = false, big_tls = false;
  bool found = cr::sanitizer_needed(fd, need, sizeof need, nullptr, nullptr, search, sizeof search, &runpath, &big_tls);
  if (found) {
    FUZZ_CHECK(memchr(need, 0, sizeof need) != nullptr);
    FUZZ_CHECK(cr::is_sanitizer_runtime(need, strlen(need)));
  }
  // The search path, whatever the file says, fits and ends: "" for none.
  FUZZ_CHECK(memchr(search, 0, sizeof search) != nullptr);
  if (r != 0) FUZZ_CHECK(search[0] == 0 || size >= 64);
  return 0;
}
