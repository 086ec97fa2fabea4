// The `shared` file of a clone's sidecar: the inodes it shares with its
// base. A read-only open-addressing set keyed by inode number (one file
// system, one device, recorded in the header), then the names of inodes
// that had several in the base: NUL-terminated paths relative to the
// clone, ending with an empty string.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace cr {

struct SharedSet {
  char magic[8];  // "CRSHARE1"
  uint64_t cap;   // slots, a power of two
  uint64_t count;
  uint64_t dev;
  uint64_t names_off, names_len;
};

struct SharedSlot {
  uint64_t ino;    // 0: empty
  uint64_t names;  // offset of the names list in the file, 0: one name
};

inline const SharedSlot* shared_slots(const SharedSet* s) {
  return reinterpret_cast<const SharedSlot*>(reinterpret_cast<const char*>(s) + sizeof(SharedSet));
}

inline uint64_t shared_hash(uint64_t ino) {
  uint64_t h = ino * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 31);
}

// The slot of `ino` in the set, or nullptr when the set does not hold it.
inline const SharedSlot* shared_find(const SharedSet* s, uint64_t ino) {
  const SharedSlot* slots = shared_slots(s);
  uint64_t mask = s->cap - 1;
  for (uint64_t i = shared_hash(ino) & mask, n = 0; n <= mask; n++, i = (i + 1) & mask) {
    if (slots[i].ino == 0) return nullptr;
    if (slots[i].ino == ino) return &slots[i];
  }
  return nullptr;
}

inline bool shared_valid(const SharedSet* s, size_t len) {
  return len >= sizeof(SharedSet) && memcmp(s->magic, "CRSHARE1", 8) == 0 && s->cap &&
         (s->cap & (s->cap - 1)) == 0 && sizeof(SharedSet) + s->cap * sizeof(SharedSlot) <= len &&
         s->names_off + s->names_len <= len;
}

}  // namespace cr
