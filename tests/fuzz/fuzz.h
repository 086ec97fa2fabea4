// The fuzz targets (tests/fuzz/*.cc): each is one input parser of cowroot
// that reads what a user or another program can write, called on a buffer.
//
// Built two ways:
//  - `make fuzz`: each target alone with clang's libFuzzer and ASan+UBSan
//    (LLVMFuzzerTestOneInput), run for FUZZ_SECONDS from its corpus in
//    tests/fuzz/corpus/TARGET/;
//  - COWROOT_FUZZ_REPLAY (the regular test build): all targets in one
//    program, build/tests/fuzz_replay, which runs every input of every
//    corpus once. A crash the fuzzer finds is added to the corpus, so it
//    stays a regular test case.
// A target returns 0; a broken invariant is abort() (a crash to both).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "fuzz: %s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                             \
    }                                                                                      \
  } while (0)

#ifdef COWROOT_FUZZ_REPLAY
namespace fuzz {
using Fn = int (*)(const uint8_t*, size_t);
int add(const char* name, Fn f);
}  // namespace fuzz
#define COWROOT_FUZZ_TARGET(name)                                   \
  static int fuzz_one_##name(const uint8_t* data, size_t size);     \
  static int fuzz_reg_##name = fuzz::add(#name, fuzz_one_##name);   \
  static int fuzz_one_##name(const uint8_t* data, size_t size)
#else
#define COWROOT_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
#endif
