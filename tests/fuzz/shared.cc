// A clone's shared-inode record (CLONE.cowroot/shared), as reset and the
// library read it: a set accepted as valid is probed and its name lists
// walked without reading a byte past the file. Under ASan the buffer is
// exactly the file's size, so any read beyond it is reported.
#include <cstring>

#include "../../preload/core/cow_format.h"
#include "fuzz.h"

COWROOT_FUZZ_TARGET(shared) {
  // Aligned as a mapping is (malloc's 16 bytes), exactly `size` bytes long.
  uint8_t* copy = static_cast<uint8_t*>(malloc(size ? size : 1));
  memcpy(copy, data, size);
  auto* s = reinterpret_cast<const cr::SharedSet*>(copy);
  if (size >= sizeof(cr::SharedSet) && reinterpret_cast<uintptr_t>(copy) % 8 == 0 && cr::shared_valid(s, size)) {
    FUZZ_CHECK(sizeof(cr::SharedSet) + s->cap * sizeof(cr::SharedSlot) <= size);
    const cr::SharedSlot* slots = cr::shared_slots(s);
    // Probe for every inode the file records, and a few it does not. (A
    // hostile file may hide an inode from its probe sequence: then it is
    // not found, which is safe; what is found is what was asked for.)
    for (uint64_t i = 0; i < s->cap && i < 4096; i++) {
      uint64_t ino = slots[i].ino ? slots[i].ino : i + 1;
      const cr::SharedSlot* found = cr::shared_find(s, ino);
      if (found) FUZZ_CHECK(found->ino == ino && found >= slots && found < slots + s->cap);
      size_t total = 0;
      cr::shared_each_name(s, size, found, [&](const char* n, size_t l) {
        FUZZ_CHECK(n >= reinterpret_cast<const char*>(copy) && n + l < reinterpret_cast<const char*>(copy) + size);
        FUZZ_CHECK(l > 0 && n[l] == 0);
        total += l;
      });
      FUZZ_CHECK(total <= size);
    }
  }
  free(copy);
  return 0;
}
