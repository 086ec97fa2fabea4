// preload/ops.tbl as data, for the core: every operation with its traits,
// and every system call the library serves with the operation that serves
// it (generated into build/gen/optable.cc by mk/gen-ops.py). What traps
// system calls from programs that bypass libc takes its list from here.
#pragma once
#include <cstddef>

#include "sys.h"

namespace cr {

enum OpTraits : unsigned {
  kOpPath = 1,         // takes a path, resolved inside the root
  kOpFd = 2,           // takes a descriptor
  kOpFollowLast = 4,   // follows the last symlink
  kOpFollowFlag = 8,   // follows it unless a flag says not
  kOpWrites = 16,      // breaks a shared link first, journals for reset
  kOpIdentity = 32,    // its result carries fake identity
};

struct OpInfo {
  const char* name;
  const char* core;  // the core function that serves it
  unsigned traits;
  int libc_doors;    // how many exported libc functions reach it
};

struct SysDoor {
  long nr;           // this architecture's system call number
  const char* name;
  int op;            // index into kOps
};

extern const OpInfo kOps[];
extern const size_t kNumOps;
extern const SysDoor kSysDoors[];
extern const size_t kNumSysDoors;

}  // namespace cr
