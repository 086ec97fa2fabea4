// FNV-1a, 64 bits: the core's one hash for names and stamps. No allocation,
// so it is usable anywhere, a vfork child included.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cr {

constexpr uint64_t kFnvSeed = 1469598103934665603ull;

// Continues hash `h` over n bytes at p (start with kFnvSeed).
inline uint64_t fnv1a(const void* p, size_t n, uint64_t h = kFnvSeed) {
  const unsigned char* c = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 1099511628211ull;
  return h;
}

}  // namespace cr
