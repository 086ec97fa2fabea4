// What is concurrent inside one process, for ThreadSanitizer (make
// test-tsan builds this with -fsanitize=thread; it also runs as a plain
// test): threads sharing one mapping of a state table while it grows and
// is saved, threads and processes each with their own mapping, and the
// clone pool taken and given back by several threads at once.
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../cli/clone/clone.h"
#include "../preload/core/state.h"
#include "common.h"

using namespace test;
using cr::Key;
using cr::Meta;

namespace {

Meta meta_of(uint32_t uid) {
  Meta m;
  m.mode = S_IFREG | 0644;
  m.uid = uid;
  m.gid = uid;
  m.birth = {1000, 1};
  return m;
}

}  // namespace

TEST_CASE("threads sharing one mapping: writers grow the table while readers look up and a saver walks it") {
  TempDir d;
  cr::State s;
  REQUIRE(s.open(d.path.c_str(), true) == 0);
  constexpr int kWriters = 6, kPer = 1500;  // 9000 entries: the table grows from 1024 slots four times
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < kWriters; t++)
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPer; i++) {
        Meta v;
        v.uid = (uint32_t)(t * kPer + i);
        if (s.update(Key{(uint64_t)t + 1, (uint64_t)i + 1}, meta_of(0), cr::kSetUid, v) != 0) failures++;
        Meta got;
        // What this thread wrote is there at once; another's may be too.
        if (!s.lookup(Key{(uint64_t)t + 1, (uint64_t)i + 1}, &got) || got.uid != v.uid) failures++;
        s.lookup(Key{(uint64_t)((t + 1) % kWriters) + 1, (uint64_t)i + 1}, &got);
      }
    });
  std::thread saver([&] {
    char err[256];
    int n = 0;
    while (!done.load()) {
      uint64_t seen = 0;
      s.for_each([&](const Key&, const Meta&) { seen++; });
      if (seen > (uint64_t)kWriters * kPer) failures++;
      if (n++ % 8 == 0 && cr::save_state(s, (d / "saved").c_str(), err, sizeof err) != 0) failures++;
    }
  });
  for (auto& t : ts) t.join();
  done = true;
  saver.join();
  CHECK(failures.load() == 0);
  CHECK(s.count() == (uint64_t)kWriters * kPer);
  int bad = 0;
  for (int t = 0; t < kWriters; t++)
    for (int i = 0; i < kPer; i++) {
      Meta got;
      if (!s.lookup(Key{(uint64_t)t + 1, (uint64_t)i + 1}, &got) || got.uid != (uint32_t)(t * kPer + i)) bad++;
    }
  CHECK(bad == 0);
}

TEST_CASE("processes, each with threads that have their own mappings, update one table") {
  TempDir d;
  {
    cr::State s;
    REQUIRE(s.open(d.path.c_str(), true) == 0);
  }
  constexpr int kProcs = 3, kThreads = 3, kPer = 800;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcs; p++) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::atomic<int> failures{0};
      std::vector<std::thread> ts;
      for (int t = 0; t < kThreads; t++)
        ts.emplace_back([&, t] {
          cr::State s;
          if (s.open(d.path.c_str(), false) != 0) {
            failures++;
            return;
          }
          for (int i = 0; i < kPer; i++) {
            Meta v;
            v.uid = (uint32_t)i;
            v.gid = (uint32_t)(p * 10 + t);
            if (s.update(Key{(uint64_t)(p * 10 + t), (uint64_t)i + 1}, meta_of(0), cr::kSetUid | cr::kSetGid, v) != 0)
              failures++;
            // The same key from every thread of every process: last writer wins, whole.
            Meta w;
            w.uid = (uint32_t)(p * 10 + t);
            w.gid = w.uid;
            if (s.update(Key{999, (uint64_t)(i % 50)}, meta_of(0), cr::kSetUid | cr::kSetGid, w) != 0) failures++;
          }
          s.close();
        });
      for (auto& t : ts) t.join();
      _exit(failures.load() ? 1 : 0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int st;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    CHECK((WIFEXITED(st) && WEXITSTATUS(st) == 0));
  }
  cr::State s;
  REQUIRE(s.open(d.path.c_str(), false) == 0);
  CHECK(s.count() == (uint64_t)kProcs * kThreads * kPer + 50);
  int bad = 0;
  for (int p = 0; p < kProcs; p++)
    for (int t = 0; t < kThreads; t++)
      for (int i = 0; i < kPer; i++) {
        Meta got;
        if (!s.lookup(Key{(uint64_t)(p * 10 + t), (uint64_t)i + 1}, &got) || got.uid != (uint32_t)i ||
            got.gid != (uint32_t)(p * 10 + t))
          bad++;
      }
  for (int i = 0; i < 50; i++) {
    Meta got;
    if (!s.lookup(Key{999, (uint64_t)i}, &got) || got.uid != got.gid) bad++;  // never half of two writes
  }
  CHECK(bad == 0);
}

TEST_CASE("the clone pool: threads take and give back roots of one base; none is handed out dirty") {
  TempDir d;
  std::string base = d / "base", runs = d / "runs";
  REQUIRE(mkdir(base.c_str(), 0755) == 0);
  REQUIRE(mkdir((base + "/etc").c_str(), 0755) == 0);
  write_file(base + "/etc/conf", "base\n");
  constexpr int kThreads = 4, kRounds = 4;
  std::atomic<int> failures{0}, dirty{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; t++)
    ts.emplace_back([&, t] {
      for (int r = 0; r < kRounds; r++) {
        std::string id = std::to_string(t) + "-" + std::to_string(r);
        char slot[4096], root[4096], err[1024];
        if (cr::pool_take(base.c_str(), runs.c_str(), id.c_str(), slot, root, sizeof slot, err, sizeof err) < 0) {
          failures++;
          errors[t] = err;
          continue;
        }
        std::string rt = root;
        if (exists(rt + "/etc/dirty") || !exists(rt + "/etc/conf")) dirty++;
        // Every other round writes behind the library's back: reset cannot
        // undo that from the journal, so that root is removed rather than
        // handed out again; the others come back to the pool clean.
        if (r % 2 == 0) write_file(rt + "/etc/dirty", id);
        if (cr::pool_give_back(runs.c_str(), slot, id.c_str(), 2, err, sizeof err) < 0) {
          failures++;
          errors[t] = err;
        }
      }
    });
  for (auto& t : ts) t.join();
  for (auto& e : errors) CHECK_MESSAGE(e.empty(), e);
  CHECK(failures.load() == 0);
  CHECK(dirty.load() == 0);
  CHECK(sh("cat " + q(base + "/etc/conf")).out == "base\n");
}
