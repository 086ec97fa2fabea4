// The core's state table on its own: what every process of a session relies
// on when it reads or writes fake identity.
#include <fcntl.h>
#include <ftw.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <chrono>
#include <functional>
#include <cstring>

#include "../preload/core/exec.h"
#include "../preload/core/ldpatch.h"
#include "../preload/core/proclock.h"
#include "../preload/core/state.h"
#include "common.h"

using namespace test;
using cr::Key;
using cr::Meta;

static Meta file_meta(uint32_t uid) {
  Meta m;
  m.mode = S_IFREG | 0644;
  m.uid = uid;
  m.gid = uid + 1;
  m.birth = {1000 + uid, 7};
  return m;
}

// A new state at `dir`, open, with entries (7, 1..20) of modes file_meta gives.
static void open_with_twenty(cr::State& s, const std::string& dir) {
  REQUIRE(s.open(dir.c_str(), true) == 0);
  for (uint64_t i = 1; i <= 20; i++) REQUIRE(s.put(Key{7, i}, file_meta((uint32_t)i)) == 0);
}

TEST_CASE("update and lookup, across two mappings of one state") {
  TempDir d;
  cr::State a, b;
  REQUIRE(a.open(d.path.c_str(), true) == 0);
  REQUIRE(b.open(d.path.c_str(), false) == 0);
  Meta v;
  v.uid = 42;
  REQUIRE(a.update(Key{1, 2}, file_meta(0), cr::kSetUid, v) == 0);
  Meta got;
  REQUIRE(b.lookup(Key{1, 2}, &got));
  CHECK(got.uid == 42);
  CHECK(got.gid == 1);
  CHECK(got.mode == (S_IFREG | 0644));
  CHECK_FALSE(b.lookup(Key{1, 3}, &got));
  REQUIRE(b.remove(Key{1, 2}) == 0);
  CHECK_FALSE(a.lookup(Key{1, 2}, &got));
}

TEST_CASE("an entry of another file (birth time or type differs) is replaced, not merged") {
  TempDir d;
  cr::State s;
  REQUIRE(s.open(d.path.c_str(), true) == 0);
  Meta v;
  v.uid = 5;
  v.mode = 04755;
  REQUIRE(s.update(Key{1, 9}, file_meta(0), cr::kSetUid | cr::kSetPerm, v) == 0);
  Meta newer = file_meta(0);
  newer.birth = {5000, 1};
  Meta w;
  w.gid = 77;
  REQUIRE(s.update(Key{1, 9}, newer, cr::kSetGid, w) == 0);
  Meta got;
  REQUIRE(s.lookup(Key{1, 9}, &got));
  CHECK(got.uid == 0);  // from the new file, not the stale entry
  CHECK(got.gid == 77);
  CHECK((got.mode & 07777) == 0644);
  CHECK(got.birth == newer.birth);
}

TEST_CASE("the table grows past its first size and keeps every entry") {
  TempDir d;
  cr::State a, b;
  REQUIRE(a.open(d.path.c_str(), true) == 0);
  REQUIRE(b.open(d.path.c_str(), false) == 0);
  for (uint64_t i = 0; i < 20000; i++) {
    Meta v;
    v.uid = (uint32_t)i;
    REQUIRE(a.update(Key{7, i}, file_meta(0), cr::kSetUid, v) == 0);
  }
  CHECK(a.count() == 20000);
  int bad = 0;
  for (uint64_t i = 0; i < 20000; i++) {
    Meta got;
    if (!b.lookup(Key{7, i}, &got) || got.uid != i) bad++;
  }
  CHECK(bad == 0);
  for (uint64_t i = 0; i < 20000; i += 2) REQUIRE(b.remove(Key{7, i}) == 0);
  CHECK(a.count() == 10000);
}

TEST_CASE("concurrent writers from several processes lose nothing") {
  TempDir d;
  cr::State s;
  REQUIRE(s.open(d.path.c_str(), true) == 0);
  std::vector<pid_t> kids;
  for (int p = 0; p < 8; p++) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      cr::State mine;
      if (mine.open(d.path.c_str(), false) != 0) _exit(1);
      for (uint64_t i = 0; i < 2000; i++) {
        Meta v;
        v.uid = p;
        v.gid = (uint32_t)i;
        if (mine.update(Key{(uint64_t)p, i}, file_meta(0), cr::kSetUid | cr::kSetGid, v) != 0) _exit(1);
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int st;
    waitpid(k, &st, 0);
    CHECK((WIFEXITED(st) && WEXITSTATUS(st) == 0));
  }
  int bad = 0;
  for (uint64_t p = 0; p < 8; p++)
    for (uint64_t i = 0; i < 2000; i++) {
      Meta got;
      if (!s.lookup(Key{p, i}, &got) || got.uid != p || got.gid != i) bad++;
    }
  CHECK(bad == 0);
}

// A page of a file in d, mapped shared, as a session's processes map their
// state (the lock's word in it).
static void* shared_page(const TempDir& d) {
  int fd = open((d / "w").c_str(), O_RDWR | O_CREAT, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, 4096) == 0);
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  REQUIRE(p != MAP_FAILED);
  return p;
}

TEST_CASE("a writer killed while holding the lock does not wedge the session") {
  TempDir d;
  cr::State s;
  // Also for a state copied from another (a clone's, a reset's): its table
  // still names the inode it was copied from.
  bool copied = false, reaped = true, old_mutex = false;
  SUBCASE("a state made here") {}
  SUBCASE("a state copied from another") { copied = true; }
  // Its parent has not reaped it yet: a zombie holds no lock.
  SUBCASE("the dead writer is a zombie") { reaped = false; }
  // A build before the lock of our own kept a glibc robust mutex there.
  SUBCASE("a state an older build made, its mutex held by the dead writer") { old_mutex = true; }
  if (copied) {
    TempDir orig;
    cr::State o;
    REQUIRE(o.open(orig.path.c_str(), true) == 0);
    REQUIRE(o.put(Key{9, 9}, file_meta(9)) == 0);
    REQUIRE(system(("cp " + q(orig / "table") + " " + q(orig / "xattr") + " " + q(d.path)).c_str()) == 0);
  }
  REQUIRE(s.open(d.path.c_str(), true) == 0);
  int fd = open((d / "table").c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  REQUIRE(p != MAP_FAILED);
  // The lock sits after the fixed header fields (see state.cc TableHeader).
  auto* word = reinterpret_cast<std::atomic<uint32_t>*>(static_cast<char*>(p) + 64);
  auto* mutex = reinterpret_cast<pthread_mutex_t*>(static_cast<char*>(p) + 64);
  if (old_mutex) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(mutex, &a);
  }
  // Take the lock in a child that dies.
  pid_t pid = fork();
  if (pid == 0) {
    if (old_mutex) pthread_mutex_lock(mutex);
    else cr::proc_lock(word);
    _exit(0);
  }
  int st;
  if (reaped) waitpid(pid, &st, 0);
  else
    while (word->load() == 0) usleep(1000);
  CHECK(word->load() != 0);
  Meta v;
  v.uid = 3;
  CHECK(s.update(Key{1, 1}, file_meta(0), cr::kSetUid, v) == 0);
  Meta got;
  CHECK(s.lookup(Key{1, 1}, &got));
  CHECK(got.uid == 3);
  CHECK(word->load() == 0);
  if (!reaped) waitpid(pid, &st, 0);
  munmap(p, 4096);
}

TEST_CASE("the lock is held under the holder's own process id, in a fork's child too") {
  std::atomic<uint32_t> word{0};
  REQUIRE(cr::proc_lock(&word) == 0);
  CHECK(word.load() == (uint32_t)getpid());
  cr::proc_unlock(&word);
  // The id is remembered per process: a fork's child must not lock as its
  // parent (the parent's death would then free a lock the child holds).
  int pipefd[2];
  REQUIRE(pipe(pipefd) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    cr::proc_lock(&word);
    uint32_t seen = word.load();
    _exit(write(pipefd[1], &seen, sizeof seen) == sizeof seen && seen == (uint32_t)getpid() ? 0 : 1);
  }
  int st;
  waitpid(pid, &st, 0);
  uint32_t seen = 0;
  CHECK(read(pipefd[0], &seen, sizeof seen) == (ssize_t)sizeof seen);
  CHECK(seen == (uint32_t)pid);
  CHECK((WIFEXITED(st) && WEXITSTATUS(st) == 0));
  close(pipefd[0]);
  close(pipefd[1]);
  CHECK(cr::pid_runs((uint32_t)getpid()));
  CHECK_FALSE(cr::pid_runs((uint32_t)pid));  // reaped
}

TEST_CASE("a lock held by a live process is waited for, then taken") {
  TempDir d;
  void* p = shared_page(d);
  auto* word = static_cast<std::atomic<uint32_t>*>(p);
  auto* count = static_cast<std::atomic<uint64_t>*>(p) + 1;
  auto* plain = reinterpret_cast<uint64_t*>(static_cast<char*>(p) + 64);
  // Four processes bump a counter under the lock without atomics: a lost
  // update means two held it at once.
  std::vector<pid_t> kids;
  for (int k = 0; k < 4; k++) {
    pid_t pid = fork();
    if (pid == 0) {
      for (int i = 0; i < 20000; i++) {
        cr::proc_lock(word);
        uint64_t v = *plain;
        if (i % 1000 == 0) sched_yield();
        *plain = v + 1;
        count->fetch_add(1);
        cr::proc_unlock(word);
      }
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) waitpid(k, nullptr, 0);
  CHECK(*plain == 80000);
  CHECK(word->load() == 0);
  munmap(p, 4096);
}

// After a reboot, or a crash whose process id was reused, the lock word can
// name a process that runs but is none of the session's: it maps nothing of
// the lock's file (or is another user's). Its lock is taken over after about
// a second; a holder that maps the file is waited for as long as it holds.
TEST_CASE("a lock word naming a running stranger is taken over; a holder mapping the file is waited for") {
  TempDir d;
  void* p = shared_page(d);
  auto* word = static_cast<std::atomic<uint32_t>*>(p);
  pid_t stranger = fork();
  if (stranger == 0) {
    execlp("sleep", "sleep", "30", (char*)nullptr);
    _exit(127);
  }
  usleep(100 * 1000);  // exec'd: it maps nothing of ours now
  word->store((uint32_t)stranger);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(cr::proc_lock(word) == 1);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  cr::proc_unlock(word);
  kill(stranger, SIGKILL);
  waitpid(stranger, nullptr, 0);
  // A holder of the session's (it maps the file) that holds it for 2 s.
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t holder = fork();
  if (holder == 0) {
    cr::proc_lock(word);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    sleep(2);
    cr::proc_unlock(word);
    _exit(0);
  }
  char c;
  REQUIRE(read(ready[0], &c, 1) == 1);
  t0 = std::chrono::steady_clock::now();
  CHECK(cr::proc_lock(word) == 0);
  CHECK(std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(1500));
  cr::proc_unlock(word);
  waitpid(holder, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  munmap(p, 4096);
}

// A damaged table whose slots' counters are odd (a write that never
// finished, with no undo record for it): readers do not wait for ever.
TEST_CASE("slots whose counters a damaged file left odd are read, and written, without a hang") {
  TempDir d;
  cr::State s;
  open_with_twenty(s, d.path);
  int fd = open((d / "table").c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  struct stat st;
  REQUIRE(fstat(fd, &st) == 0);
  void* p = mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  REQUIRE(p != MAP_FAILED);
  int odd = 0;
  for (off_t o = 4096; o + 64 <= st.st_size; o += 64) {
    auto* seq = reinterpret_cast<uint32_t*>(static_cast<char*>(p) + o);
    if (std::memcmp(seq, std::string(64, '\0').data(), 64) == 0) continue;
    *seq |= 1;
    odd++;
  }
  REQUIRE(odd >= 20);
  Meta got;
  REQUIRE(s.lookup(Key{7, 5}, &got));
  CHECK(got.uid == 5);
  REQUIRE(s.put(Key{7, 21}, file_meta(21)) == 0);
  REQUIRE(s.put(Key{7, 6}, file_meta(66)) == 0);
  REQUIRE(s.lookup(Key{7, 6}, &got));
  CHECK(got.uid == 66);
  REQUIRE(s.lookup(Key{7, 21}, &got));
  CHECK(got.uid == 21);
  munmap(p, st.st_size);
}

// The table's slots as the file holds them (preload/core/state.cc): the
// header's undo record, then 64-byte slots after the 4096-byte header.
namespace {
struct RawTable {
  char* p = nullptr;
  size_t len = 0;
  explicit RawTable(const std::string& path) {
    int fd = open(path.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    struct stat st;
    REQUIRE(fstat(fd, &st) == 0);
    len = st.st_size;
    void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    REQUIRE(m != MAP_FAILED);
    p = static_cast<char*>(m);
  }
  ~RawTable() { munmap(p, len); }
  uint64_t slots() const { return (len - 4096) / 64; }
  char* slot(uint64_t i) { return p + 4096 + i * 64; }
  uint32_t& seq(uint64_t i) { return *reinterpret_cast<uint32_t*>(slot(i)); }
  uint32_t& state(uint64_t i) { return *reinterpret_cast<uint32_t*>(slot(i) + 4); }
  uint32_t& uid(uint64_t i) { return *reinterpret_cast<uint32_t*>(slot(i) + 40); }
  uint64_t find(uint64_t dev, uint64_t ino) {
    for (uint64_t i = 0; i < slots(); i++)
      if (state(i) == 1 && *reinterpret_cast<uint64_t*>(slot(i) + 8) == dev &&
          *reinterpret_cast<uint64_t*>(slot(i) + 16) == ino)
        return i;
    FAIL("no slot for the key");
    return 0;
  }
};

// Runs f in a child with an alarm: true when it returned within `secs`.
template <typename F>
bool within(int secs, F&& f) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(secs);
    f();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
}  // namespace

// Damage under a live mapping (after the open's check): every slot odd. A
// lookup that probes them all, and a save that walks them, finish at once
// (each odd slot used to cost 2^20 spins before the lock was taken: over a
// minute for a table of garbage; a save waited for ever).
TEST_CASE("a table damaged under a live session: a lookup and a save do not wait on its odd counters") {
  TempDir d;
  cr::State s;
  REQUIRE(s.open(d.path.c_str(), true) == 0);
  for (uint64_t i = 1; i <= 20; i++) REQUIRE(s.put(Key{7, i}, file_meta((uint32_t)i)) == 0);
  RawTable t(d / "table");
  auto all_odd = [&] {
    for (uint64_t i = 0; i < t.slots(); i++) {
      if (t.state(i) == 0) t.state(i) = 2;  // a tombstone: a lookup probes on past it
      t.seq(i) |= 1;
    }
  };
  all_odd();
  auto t0 = std::chrono::steady_clock::now();
  CHECK(within(20, [&] {
    Meta got;
    if (s.lookup(Key{7, 999}, &got)) _exit(1);
    if (!s.lookup(Key{7, 5}, &got) || got.uid != 5) _exit(2);
  }));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  all_odd();  // (the lookups made those they met even)
  CHECK(within(20, [&] {
    char err[256];
    if (cr::save_state(s, (d / "saved").c_str(), err, sizeof err) != 0) _exit(1);
  }));
}

// Opening a state checks its table (what a session's start does): a writer
// killed in the middle of a slot's write leaves that slot odd, its undo
// record and the lock its own; that is repaired, as the next writer would,
// and nothing acknowledged is lost. The same odd slot with no dead writer
// behind it, or slots garbled or zeroed, is damage: refused, saying what.
TEST_CASE("opening checks the table: a killed writer's half-written slot is repaired, garbage is refused") {
  TempDir d;
  {
    cr::State s;
    open_with_twenty(s, d.path);
  }
  {
    RawTable t(d / "table");
    uint64_t i = t.find(7, 5);
    pid_t pid = fork();
    if (pid == 0) {
      // write_slot_locked's steps, killed after the slot was made odd and
      // half written: the lock held, the undo record valid.
      cr::proc_lock(reinterpret_cast<std::atomic<uint32_t>*>(t.p + 64));
      memcpy(t.p + 136, t.slot(i), 64);                                  // undo.old
      *reinterpret_cast<uint64_t*>(t.p + 112) = i;                       // undo.idx
      memcpy(t.p + 120, t.p + 40, 16);                                   // undo.live, undo.used
      *reinterpret_cast<uint32_t*>(t.p + 104) = 1;                       // undo.valid
      t.seq(i) |= 1;
      t.uid(i) = 999;
      _exit(0);
    }
    waitpid(pid, nullptr, 0);
  }
  {
    cr::State s;
    REQUIRE(s.open(d.path.c_str(), false) == 0);
    Meta got;
    REQUIRE(s.lookup(Key{7, 5}, &got));
    CHECK(got.uid == 5);
    char err[256] = "";
    CHECK_MESSAGE(s.verify(err, sizeof err) == 0, err);
  }
  struct Damage {
    const char* what;
    std::function<void(RawTable&)> make;
  };
  const Damage damages[] = {
      {"a counter odd with no write under way", [](RawTable& t) { t.seq(t.find(7, 6)) |= 1; }},
      {"a slot of no known kind", [](RawTable& t) { t.state(t.find(7, 6)) = 0x5a5a5a5a; }},
      {"its counts are not what its slots hold", [](RawTable& t) { memset(t.slot(t.find(7, 6)), 0, 64); }},
  };
  for (auto& dmg : damages) {
    CAPTURE(dmg.what);
    TempDir e;
    REQUIRE(system(("cp " + q(d / "table") + " " + q(d / "xattr") + " " + q(e.path)).c_str()) == 0);
    {
      RawTable t(e / "table");
      dmg.make(t);
    }
    cr::State s;
    CHECK(s.open(e.path.c_str(), false) == -EBADMSG);
    CHECK(std::string(s.damaged_file()) == "table");
    CHECK(std::string(s.damage()).find(dmg.what) != std::string::npos);
  }
}

TEST_CASE("extended attributes: set, replace, list, remove, flags") {
  TempDir d;
  cr::State s;
  REQUIRE(s.open(d.path.c_str(), true) == 0);
  Key k{3, 3};
  REQUIRE(s.xattr_set(k, file_meta(0), "security.capability", "abc", 3, 0) == 0);
  REQUIRE(s.xattr_set(k, file_meta(0), "trusted.x", "1", 1, 0) == 0);
  CHECK(s.xattr_set(k, file_meta(0), "trusted.x", "2", 1, XATTR_CREATE) == -EEXIST);
  CHECK(s.xattr_set(k, file_meta(0), "trusted.y", "2", 1, XATTR_REPLACE) == -ENODATA);
  REQUIRE(s.xattr_set(k, file_meta(0), "trusted.x", "22", 2, XATTR_REPLACE) == 0);
  Meta m;
  REQUIRE(s.lookup(k, &m));
  char buf[16];
  CHECK(s.xattr_get(m, "trusted.x", buf, sizeof buf) == 2);
  CHECK(memcmp(buf, "22", 2) == 0);
  CHECK(s.xattr_get(m, "trusted.x", buf, 1) == -ERANGE);
  CHECK(s.xattr_get(m, "trusted.x", nullptr, 0) == 2);
  std::vector<std::string> names;
  s.xattr_names(m, [&](const char* n, uint32_t l) {
    names.emplace_back(n, l);
    return true;
  });
  CHECK(names == std::vector<std::string>{"trusted.x", "security.capability"});
  REQUIRE(s.xattr_set(k, m, "security.capability", nullptr, 0, 0) == 0);
  REQUIRE(s.lookup(k, &m));
  CHECK(s.xattr_get(m, "security.capability", buf, sizeof buf) == -ENODATA);
  CHECK(s.xattr_set(k, m, "security.capability", nullptr, 0, 0) == -ENODATA);
}

TEST_CASE("save and load round-trip; a corrupt file changes nothing") {
  TempDir d, e;
  cr::State s;
  REQUIRE(s.open(d.path.c_str(), true) == 0);
  Meta dev = file_meta(4);
  dev.mode = S_IFCHR | 0600;
  dev.rdev = makedev(1, 3);
  REQUIRE(s.put(Key{9, 1}, dev) == 0);
  REQUIRE(s.xattr_set(Key{9, 1}, dev, "security.capability", "\x01\x00\xff", 3, 0) == 0);
  char err[256];
  REQUIRE(cr::save_state(s, (d / "saved").c_str(), err, sizeof err) == 0);
  cr::State t;
  REQUIRE(t.open(e.path.c_str(), true) == 0);
  REQUIRE(cr::load_state(t, (d / "saved").c_str(), err, sizeof err) == 0);
  Meta got;
  REQUIRE(t.lookup(Key{9, 1}, &got));
  CHECK(got.mode == dev.mode);
  CHECK(got.uid == 4);
  CHECK(got.rdev == dev.rdev);
  CHECK(got.birth == dev.birth);
  char v[8];
  CHECK(t.xattr_get(got, "security.capability", v, sizeof v) == 3);
  CHECK(memcmp(v, "\x01\x00\xff", 3) == 0);

  write_file(d / "corrupt", "dev=9,ino=2,mode=100644,uid=1,gid=1,nlink=1,rdev=0\ndev=9,ino=3,mode=zz\n");
  CHECK(cr::load_state(t, (d / "corrupt").c_str(), err, sizeof err) == -1);
  CHECK(std::string(err).find("corrupt:2") != std::string::npos);
  CHECK_FALSE(t.lookup(Key{9, 2}, &got));  // nothing of a bad file is loaded
  CHECK(cr::load_state(t, (d / "missing").c_str(), err, sizeof err) == -1);
  CHECK(std::string(err).find("missing") != std::string::npos);
}

TEST_CASE("a corrupt table file is refused, not used") {
  TempDir d;
  {
    cr::State s;
    REQUIRE(s.open(d.path.c_str(), true) == 0);
  }
  write_file(d / "table", "not a table");
  cr::State s;
  CHECK(s.open(d.path.c_str(), false) == -EBADMSG);
}

TEST_CASE("a table or attribute heap whose header claims more than the file holds is refused") {
  TempDir d;
  {
    cr::State s;
    REQUIRE(s.open(d.path.c_str(), true) == 0);
  }
  // 2^58 slots of 64 bytes wrap to 0: a 4096-byte file "holds" them.
  int fd = open((d / "table").c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  uint64_t cap = 1ull << 58;
  REQUIRE(pwrite(fd, &cap, 8, 16) == 8);
  REQUIRE(ftruncate(fd, 4096) == 0);
  close(fd);
  cr::State s;
  CHECK(s.open(d.path.c_str(), false) == -EBADMSG);
  // An attribute heap "used" past its end (reads there would be SIGBUS).
  TempDir e;
  {
    cr::State t;
    REQUIRE(t.open(e.path.c_str(), true) == 0);
  }
  fd = open((e / "xattr").c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  uint64_t used = 1ull << 40;
  REQUIRE(pwrite(fd, &used, 8, 8) == 8);
  close(fd);
  cr::State t;
  CHECK(t.open(e.path.c_str(), false) == -EBADMSG);
  // Opened with the heap left for later (a program of a live session): the
  // table opens, the heap is refused when it is first needed.
  cr::State lazy;
  CHECK(lazy.open(e.path.c_str(), false, true) == 0);
  CHECK(lazy.ensure_heap() == -EBADMSG);
}

TEST_CASE("a state file claiming absurd sizes is refused in one line before anything is allocated for it") {
  TempDir d;
  cr::State t;
  REQUIRE(t.open(d.path.c_str(), true) == 0);
  char err[512];
  Meta got;
  // Far larger than any state: refused by its size, without reading it.
  int fd = open((d / "huge").c_str(), O_CREAT | O_WRONLY, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(ftruncate(fd, 3ll << 30) == 0);
  close(fd);
  CHECK(cr::load_state(t, (d / "huge").c_str(), err, sizeof err) == -1);
  CHECK(std::string(err).find("huge: 3221225472 bytes, more than any state file holds") != std::string::npos);
  CHECK(strchr(err, '\n') == nullptr);
  // A line longer than any state line (here 4 MiB without a newline).
  std::string line = "dev=1,ino=1,mode=100644,uid=0,gid=0,nlink=1,rdev=0";
  line += std::string(4 << 20, '0');
  write_file(d / "long", line);
  CHECK(cr::load_state(t, (d / "long").c_str(), err, sizeof err) == -1);
  CHECK(std::string(err).find("long:1: corrupt state file (a line longer than") != std::string::npos);
  // Attribute values and names longer than the kernel allows.
  std::string head = "dev=9,ino=2,mode=100644,uid=1,gid=1,nlink=1,rdev=0\n# cowroot state 1\n";
  write_file(d / "value", head + "xattr dev=9,ino=2,name=" + std::string(10, '6') + ",value=" +
                              std::string(2 * 65537, 'a') + "\n");
  CHECK(cr::load_state(t, (d / "value").c_str(), err, sizeof err) == -1);
  CHECK(std::string(err).find("value:3: corrupt state file (an attribute value longer than 65536 bytes)") !=
        std::string::npos);
  write_file(d / "name", head + "xattr dev=9,ino=2,name=" + std::string(2 * 256, '6') + ",value=00\n");
  CHECK(cr::load_state(t, (d / "name").c_str(), err, sizeof err) == -1);
  CHECK(std::string(err).find("an attribute name longer than 255 bytes") != std::string::npos);
  CHECK_FALSE(t.lookup(Key{9, 2}, &got));  // nothing of a refused file is loaded
  // The same file with a value the kernel allows loads.
  write_file(d / "ok", head + "xattr dev=9,ino=2,name=" + std::string(10, '6') + ",value=" +
                           std::string(2 * 65536, 'a') + "\n");
  CHECK(cr::load_state(t, (d / "ok").c_str(), err, sizeof err) == 0);
  REQUIRE(t.lookup(Key{9, 2}, &got));
  CHECK(t.xattr_get(got, "fffff", nullptr, 0) == 65536);
}

// Cut off within its last line, a saved file still parsed: a birth time's
// nanoseconds lost digits, and the entry, no longer its file's, was lost.
TEST_CASE("a state file cut off within its last line is refused in one line, nothing of it loaded") {
  TempDir d;
  cr::State t;
  REQUIRE(t.open(d.path.c_str(), true) == 0);
  std::string whole = "dev=9,ino=3,mode=104750,uid=123,gid=456,nlink=1,rdev=0\n# cowroot state 1\n"
                      "birth dev=9,ino=3,sec=1796673796,nsec=886602123\n";
  char err[512];
  Meta got;
  for (size_t cut : {whole.size() - 1, whole.size() - 3, whole.size() - 20}) {
    write_file(d / "cut", whole.substr(0, cut));
    CHECK(cr::load_state(t, (d / "cut").c_str(), err, sizeof err) == -1);
    CHECK(std::string(err).find("cut:3: corrupt state file (its last line is cut off: no newline at its end)") !=
          std::string::npos);
    CHECK_FALSE(t.lookup(Key{9, 3}, &got));
  }
  write_file(d / "whole", whole);
  CHECK(cr::load_state(t, (d / "whole").c_str(), err, sizeof err) == 0);
  REQUIRE(t.lookup(Key{9, 3}, &got));
  CHECK(got.birth.nsec == 886602123u);
}

TEST_CASE("a state of many entries loads in time linear in its size") {
  // Each line used to be looked up among all before it: 100000 entries
  // took minutes. Now a hash index.
  TempDir d;
  std::string text;
  for (int i = 0; i < 100000; i++)
    text += "dev=5,ino=" + std::to_string(i + 1) + ",mode=100644,uid=" + std::to_string(i % 7) + ",gid=0,nlink=1,rdev=0\n";
  write_file(d / "big", text);
  cr::State t;
  REQUIRE(t.open((d / "st").c_str(), true) == -ENOENT);
  REQUIRE(mkdir((d / "st").c_str(), 0700) == 0);
  REQUIRE(t.open((d / "st").c_str(), true) == 0);
  char err[256];
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(cr::load_state(t, (d / "big").c_str(), err, sizeof err) == 0);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(t.count() == 100000);
  CHECK_MESSAGE(secs < 20, secs);
}

// The exec path reads PT_INTERP with pread (libelf allocates, and execve
// must be safe in a vfork child). libelf is the reference: on every ELF
// file under the host's /usr, both must agree on static or dynamic and on
// the interpreter.
namespace {
struct ElfCheck {
  size_t files = 0, dynamic = 0, statics = 0, disagree = 0;
  std::string first_bad;
} g_elf;

int check_elf(const char* path, const struct stat* st, int flag, struct FTW*) {
  if (flag != FTW_F || !S_ISREG(st->st_mode) || st->st_size < 64) return 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  Elf* e = elf_begin(fd, ELF_C_READ, nullptr);
  if (e && elf_kind(e) == ELF_K_ELF) {
    std::string want_interp;
    bool has_interp = false;
    size_t n = 0;
    if (elf_getphdrnum(e, &n) == 0) {
      for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_INTERP) {
          size_t len = 0;
          const char* raw = elf_rawfile(e, &len);
          if (raw && ph.p_offset + ph.p_filesz <= len && ph.p_filesz > 1)
            want_interp.assign(raw + ph.p_offset, strnlen(raw + ph.p_offset, ph.p_filesz));
          has_interp = true;
          break;
        }
      }
    }
    char interp[512] = "", arg[64] = "";
    int got = cr::inspect_program(path, -1, interp, sizeof interp, arg, sizeof arg);
    g_elf.files++;
    // A PT_INTERP without a path in the file (stripped .debug files) is no
    // program at all, as the kernel sees it.
    bool ok = !has_interp ? got == 1 : want_interp.empty() ? got == -ENOEXEC : (got == 0 && want_interp == interp);
    (has_interp ? g_elf.dynamic : g_elf.statics)++;
    if (!ok && g_elf.disagree++ == 0)
      g_elf.first_bad = std::string(path) + ": libelf says " + (has_interp ? "interpreter " + want_interp : "static") +
                        ", cowroot says " + std::to_string(got) + " " + interp;
  }
  if (e) elf_end(e);
  close(fd);
  return 0;
}
}  // namespace

TEST_CASE("the exec path's ELF reader agrees with libelf on every ELF file under /usr") {
  REQUIRE(elf_version(EV_CURRENT) != EV_NONE);
  for (const char* dir : {"/usr/bin", "/usr/sbin", "/usr/lib", "/usr/libexec"}) nftw(dir, check_elf, 32, FTW_PHYS);
  CHECK_MESSAGE(g_elf.disagree == 0, g_elf.first_bad);
  CHECK(g_elf.dynamic > 200);  // programs with an interpreter
  CHECK(g_elf.statics > 200);  // shared libraries and objects without one
  MESSAGE(g_elf.files << " ELF files: " << g_elf.dynamic << " with PT_INTERP, " << g_elf.statics << " without");
  // And a script and a non-program are told apart from both.
  char interp[512], arg[64];
  TempDir d;
  write_file(d / "s", "#!/bin/sh -e\necho\n");
  CHECK(cr::inspect_program((d / "s").c_str(), -1, interp, sizeof interp, arg, sizeof arg) == 2);
  CHECK(std::string(interp) == "/bin/sh");
  CHECK(std::string(arg) == "-e");
  write_file(d / "t", "plain text, not a program\n");
  CHECK(cr::inspect_program((d / "t").c_str(), -1, interp, sizeof interp, arg, sizeof arg) == -ENOEXEC);
}

// The root's loader's built-in directories and preload file (ldpatch.h):
// found in the host's loader (a Debian glibc, like the roots'), each made
// a name of the same length that leads nowhere.
TEST_CASE("the loader's own host paths are found in its bytes and made to lead nowhere, lengths kept") {
  const char* ld = "/lib64/ld-linux-x86-64.so.2";
  int fd = open(ld, O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  struct stat st;
  REQUIRE(fstat(fd, &st) == 0);
  void* m = mmap(nullptr, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  REQUIRE(m != MAP_FAILED);
  close(fd);
  char* d = static_cast<char*>(m);
  uint32_t runs[cr::ldpatch::kMaxRuns] = {};
  int n = cr::ldpatch::find_runs(d, (size_t)st.st_size, runs, [](const void* p, int c, size_t k) { return memchr(p, c, k); });
  int dirs = 0, files = 0;
  for (int i = 0; i < n; i++) {
    char* s = d + (runs[i] >> 4);
    unsigned count = runs[i] & 15;
    std::string before(s, cr::ldpatch::run_length(s, count));
    cr::ldpatch::neutralise(s, count);
    std::string after(s, cr::ldpatch::run_length(s, count));
    CHECK(after.size() == before.size());
    if (count == cr::ldpatch::kSystemDirsCount) {
      dirs++;
      CHECK(before == std::string(cr::ldpatch::kSystemDirs, sizeof cr::ldpatch::kSystemDirs));
      CHECK(after == std::string("/proc/////////////////\0/proc/////////////////////\0/dev/\0/proc////", after.size()));
    } else {
      files++;
      CHECK(before == std::string("/etc/ld.so.preload", 19));
      CHECK(after == std::string("/dev/null/--------", 19));
      struct stat none;
      CHECK(stat(after.c_str(), &none) == -1);
    }
  }
  CHECK(dirs >= 1);
  CHECK(files == 1);
  // Nothing found in bytes without them; a preload name not at a string's start is not one.
  char other[] = "x/etc/ld.so.preload\0/lib/\0/usr/lib/";
  CHECK(cr::ldpatch::find_runs(other, sizeof other, runs, [](const void* p, int c, size_t k) { return memchr(p, c, k); }) == 0);
  munmap(m, (size_t)st.st_size);
}

// readdir asks the table whether any entry was ever a device before it
// looks up each regular file's entry; the word survives the table's growth.
TEST_CASE("the table says whether any entry was ever a device, across its growth") {
  TempDir d;
  cr::State t;
  REQUIRE(t.open(d.path.c_str(), true) == 0);
  CHECK_FALSE(t.may_hold_devices());
  Meta reg;
  reg.mode = S_IFREG | 0644;
  REQUIRE(t.put(Key{1, 1}, reg) == 0);
  CHECK_FALSE(t.may_hold_devices());
  Meta dev;
  dev.mode = S_IFCHR | 0644;
  REQUIRE(t.put(Key{1, 2}, dev) == 0);
  CHECK(t.may_hold_devices());
  for (uint64_t i = 3; i < 5000; i++) REQUIRE(t.put(Key{1, i}, reg) == 0);  // grows several times
  cr::State again;
  REQUIRE(again.open(d.path.c_str(), false) == 0);
  CHECK(again.may_hold_devices());
}
