// Slots of an image's pool (slots.h).
#include "slots.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "clone/clone.h"
#include "procs.h"

namespace cli {

namespace {

// Locks a slot directory (no waiting): the descriptor, or -1.
int lock_dir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool process_alive(pid_t p) { return p > 0 && (kill(p, 0) == 0 || errno == EPERM); }

}  // namespace

std::string slot_id() {
  // Threads of one test process make roots at once (each Root its own
  // clone): the count is atomic, or two of them take the same name.
  static std::atomic<unsigned> n{0};
  static unsigned salt = [] {
    unsigned r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) r = (unsigned)getpid() * 2654435761u ^ (unsigned)time(nullptr);
    return r;
  }();
  char buf[64];
  snprintf(buf, sizeof buf, "%d-%u-%08x", (int)getpid(), n.fetch_add(1) + 1, salt);
  return buf;
}

void reclaim_stale(const std::string& runs, std::vector<std::string>* live) {
  std::vector<std::string> names;
  if (DIR* d = opendir(runs.c_str())) {
    while (dirent* e = readdir(d))
      if (strncmp(e->d_name, "run-", 4) == 0) names.push_back(e->d_name);
    closedir(d);
  }
  for (auto& n : names) {
    // The owner's pid leads the id. A live owner (or a pid taken again by
    // another process) keeps it; so does a held lock (an owner in another
    // pid namespace).
    pid_t owner = (pid_t)atol(n.c_str() + 4);
    std::string slot = runs + "/" + n;
    int lock = process_alive(owner) ? -1 : lock_dir(slot);
    if (lock < 0) {
      if (live) live->push_back(slot);
      continue;
    }
    std::string err;
    stop_session(slot + "/root.cowroot/state", &err);
    char e[1024];
    if (cr::pool_give_back(runs.c_str(), slot.c_str(), n.c_str() + 4, 2, e, sizeof e) < 0)
      fprintf(stderr, "cowroot: reclaiming %s: %s\n", slot.c_str(), e);
    close(lock);
  }
}

int take_slot(const std::string& base, const std::string& runs, const std::string& id, Slot* out, std::string* err) {
  reclaim_stale(runs);
  char slot[4096], root[4096], e[1024];
  if (cr::pool_take(base.c_str(), runs.c_str(), id.c_str(), slot, root, sizeof slot, e, sizeof e) < 0) {
    *err = e;
    return -1;
  }
  out->slot = slot;
  out->root = root;
  // Held from here until give_back (a reclaimer also sees this process alive).
  out->lock = lock_dir(slot);
  return 0;
}

int give_back(const std::string& runs, Slot* s, const std::string& id, std::string* err) {
  int rc = 0;
  if (stop_session(s->root + ".cowroot/state", err) < 0) rc = -1;
  char e[1024];
  if (cr::pool_give_back(runs.c_str(), s->slot.c_str(), id.c_str(), 2, e, sizeof e) < 0) {
    *err = e;
    rc = -1;
  }
  if (s->lock >= 0) close(s->lock);
  s->lock = -1;
  return rc;
}

}  // namespace cli
