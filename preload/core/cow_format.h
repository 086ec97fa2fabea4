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

// A `shared` file whose header fits it: checked without overflow (a
// capacity of 2^60 slots of 16 bytes wraps to 0; names_off + names_len
// can wrap too).
inline bool shared_valid(const SharedSet* s, size_t len) {
  if (len < sizeof(SharedSet) || memcmp(s->magic, "CRSHARE1", 8) != 0 || !s->cap || (s->cap & (s->cap - 1)) != 0)
    return false;
  size_t room = len - sizeof(SharedSet);
  return s->cap <= room / sizeof(SharedSlot) && s->names_off <= len && s->names_len <= len - s->names_off;
}

// The slot of `ino` in a valid set (shared_valid), or null.
inline const SharedSlot* shared_find(const SharedSet* s, uint64_t ino) {
  const SharedSlot* slots = shared_slots(s);
  uint64_t mask = s->cap - 1;
  for (uint64_t i = shared_hash(ino) & mask, n = 0; n <= mask; n++, i = (i + 1) & mask) {
    if (slots[i].ino == 0) return nullptr;
    if (slots[i].ino == ino) return &slots[i];
  }
  return nullptr;
}

// Calls f(name, length) for each name of a slot's list in a valid set of
// `len` bytes (NUL-terminated names, an empty one ends the list). Nothing
// is read past the file: a list or a name that runs off its end stops.
template <typename F>
inline void shared_each_name(const SharedSet* s, size_t len, const SharedSlot* slot, F&& f) {
  if (!slot || !slot->names || slot->names >= len) return;
  const char* base = reinterpret_cast<const char*>(s);
  for (uint64_t at = slot->names; at < len && base[at];) {
    const char* n = base + at;
    const void* nul = memchr(n, 0, len - at);
    if (!nul) return;
    size_t l = static_cast<const char*>(nul) - n;
    f(n, l);
    at += l + 1;
  }
}

}  // namespace cr
