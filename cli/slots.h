// Slots of an image's pool of clones (IMAGE.runs/run-ID), as `cowroot run`
// and the test fixture take them and give them back. The core's pool
// (pool_take, pool_give_back) makes and resets the clones; this adds what
// a crash needs: a slot is locked (flock on its directory) while its owner
// lives, and a slot whose owner is gone is reclaimed by the next user of
// the pool, with whatever still runs in it stopped.
#pragma once
#include <string>
#include <vector>

namespace cli {

struct Slot {
  std::string slot, root;  // IMAGE.runs/run-ID, and the clone in it
  int lock = -1;           // the slot's lock, held until give_back
};

// An id for a slot of this process, unique across processes and time:
// PID-N-RANDOM (the pid first: reclaim_stale reads it).
std::string slot_id();

// A clone of `base` from the pool `runs`, locked; stale slots are
// reclaimed first. 0, or -1 with err set.
int take_slot(const std::string& base, const std::string& runs, const std::string& id, Slot* out, std::string* err);

// Stops what runs in the slot's root, puts it back in the pool reset (or
// removes it) and lets go of the lock. 0, or -1 with err set.
int give_back(const std::string& runs, Slot* s, const std::string& id, std::string* err);

// Reclaims the slots of `runs` whose owner process is gone (into the pool,
// reset, or removed). The slots still in use go into `live` when given.
void reclaim_stale(const std::string& runs, std::vector<std::string>* live = nullptr);

}  // namespace cli
