// The files of a clone's sidecar (sidecar.h).
#include "sidecar.h"
#include "clone.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>

#include "../../preload/core/errtext.h"
#include "../../preload/core/session.h"
#include "../../preload/core/state.h"

namespace cr::cloning {

int write_shared_set(const std::string& path, uint64_t dev, const std::unordered_map<uint64_t, uint32_t>& first_name,
                     const std::unordered_map<uint64_t, std::vector<uint32_t>>& aliases,
                     const std::vector<std::string>& names) {
  uint64_t cap = 16;
  while (cap < first_name.size() * 2 + 2) cap *= 2;
  std::vector<SharedSlot> slots(cap);
  std::string blob;
  std::unordered_map<uint64_t, uint64_t> names_at;
  uint64_t names_base = sizeof(SharedSet) + cap * sizeof(SharedSlot);
  for (auto& [ino, idx] : aliases) {
    names_at[ino] = names_base + blob.size();
    for (uint32_t i : idx) blob += names[i] + '\0';
    blob += '\0';
  }
  for (auto& [ino, idx] : first_name) {
    uint64_t i = shared_hash(ino) & (cap - 1);
    while (slots[i].ino) i = (i + 1) & (cap - 1);
    slots[i].ino = ino;
    auto a = names_at.find(ino);
    slots[i].names = a == names_at.end() ? 0 : a->second;
  }
  SharedSet hdr{};
  memcpy(hdr.magic, "CRSHARE1", 8);
  hdr.cap = cap;
  hdr.count = first_name.size();
  hdr.dev = dev;
  hdr.names_off = names_base;
  hdr.names_len = blob.size();
  FILE* f = fopen(path.c_str(), "wxe");
  if (!f) return errno;
  bool ok = fwrite(&hdr, sizeof hdr, 1, f) == 1 && fwrite(slots.data(), sizeof(SharedSlot), cap, f) == cap &&
            (blob.empty() || fwrite(blob.data(), blob.size(), 1, f) == 1);
  ok = fclose(f) == 0 && ok;
  return ok ? 0 : (errno ? errno : EIO);
}

SharedMap::~SharedMap() {
  if (set) munmap(const_cast<SharedSet*>(set), len);
}

bool SharedMap::load() {
  if (!tried) {
    tried = true;
    Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size >= sizeof(SharedSet)) {
      void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) {
        set = static_cast<const SharedSet*>(p);
        len = st.st_size;
        if (!shared_valid(set, len)) {
          munmap(p, len);
          set = nullptr;
        }
      }
    }
  }
  return set != nullptr;
}

bool SharedMap::has(dev_t dev, ino_t ino) { return load() && dev == set->dev && shared_find(set, ino); }


namespace {

void put_hex(char* out, uint64_t v, int width) {
  static const char digits[] = "0123456789abcdef";
  for (int i = width - 1; i >= 0; i--, v >>= 4) out[i] = digits[v & 15];
}
}  // namespace

void stamp(char* out, uint64_t ino, int64_t ms, uint32_t mns, int64_t cs, uint32_t cns, uint32_t mode) {
  put_hex(out, ino, 16);
  out[16] = ' ';
  put_hex(out + 17, (uint64_t)ms, 16);
  out[33] = '.';
  put_hex(out + 34, mns, 8);
  out[42] = ' ';
  put_hex(out + 43, (uint64_t)cs, 16);
  out[59] = '.';
  put_hex(out + 60, cns, 8);
  out[68] = ' ';
  put_hex(out + 69, mode & 07777, 4);
}

void stamp_of(const struct stat& st, char* out) {
  stamp(out, st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec, st.st_mode);
}

mode_t stamp_mode(const char* rec) {
  mode_t m = 0;
  for (int i = 69; i < 73; i++) m = m * 16 + (rec[i] <= '9' ? rec[i] - '0' : rec[i] - 'a' + 10);
  return m;
}

std::string base_identity(const std::string& base) {
  struct statx r {}, m {};
  if (statx(AT_FDCWD, base.c_str(), 0, STATX_INO | STATX_CTIME, &r) < 0) return "";
  bool sealed = statx(AT_FDCWD, (base + ".cowroot/manifest").c_str(), AT_SYMLINK_NOFOLLOW, STATX_INO | STATX_CTIME,
                      &m) == 0;
  if (!sealed) m = {};
  char buf[200];
  snprintf(buf, sizeof buf, "id %x:%x %" PRIx64 " %" PRIx64 ".%x %" PRIx64 " %" PRIx64 ".%x", r.stx_dev_major,
           r.stx_dev_minor, (uint64_t)r.stx_ino, (uint64_t)r.stx_ctime.tv_sec, r.stx_ctime.tv_nsec,
           (uint64_t)m.stx_ino, (uint64_t)m.stx_ctime.tv_sec, m.stx_ctime.tv_nsec);
  return buf;
}

bool restamp_top(const std::string& clone) {
  struct stat st;
  if (lstat(clone.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) return false;
  char rec[kStampLen];
  stamp_of(st, rec);
  Fd fd(open((clone + ".cowroot/dirs").c_str(), O_WRONLY | O_CLOEXEC));
  return fd >= 0 && pwrite(fd, rec, kStampLen, kDirsHeaderLen) == (ssize_t)kStampLen;
}

int open_clone(const char* clone_in, CloneRecord* c, char* err, size_t errlen) {
  c->clone = clone_in;
  while (c->clone.size() > 1 && c->clone.back() == '/') c->clone.pop_back();
  c->side = c->clone + ".cowroot";
  {
    FILE* f = fopen((c->side + "/base").c_str(), "re");
    if (!f) {
      say(err, errlen, "%s is not a clone (no %s/base)", c->clone.c_str(), c->side.c_str());
      return -1;
    }
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    // As clone writes it: the base's absolute path, a line of text, then
    // its identity (base_identity). A first line that is no such path is a
    // damaged file, not a base that is gone: said so. (An identity that
    // differs, garbled or not, means another base: a full re-clone.)
    std::string text(buf, n);
    size_t nl = text.find('\n');
    c->base = text.substr(0, nl);
    if (nl != std::string::npos) c->id = text.substr(nl + 1, text.find('\n', nl + 1) - nl - 1);
    const char* why = nullptr;
    if (nl == std::string::npos && n == sizeof buf) why = "no line of a path in it";
    else if (c->base.empty() || c->base[0] != '/') why = "no absolute path of a base on its first line";
    for (unsigned char ch : c->base)
      if (!why && ch < 0x20) why = "bytes that are no text on its first line";
    if (why) {
      say(err, errlen, "%s/base: damaged (%s): the base of %s is not known; remove %s and %s and clone it again",
          c->side.c_str(), why, c->clone.c_str(), c->clone.c_str(), c->side.c_str());
      return -1;
    }
  }
  struct stat bst;
  if (c->base.empty() || stat(c->base.c_str(), &bst) < 0 || !S_ISDIR(bst.st_mode)) {
    say(err, errlen, "the base of %s (%s) is gone", c->clone.c_str(), c->base.c_str());
    return -1;
  }
  c->lock = Fd(open((c->side + "/state/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (c->lock >= 0 && flock(c->lock, LOCK_EX | LOCK_NB) < 0) {
    // A daemon that no longer answers is ending (its last program gone, it
    // took its socket away and is on its way out): its lock goes with it in
    // a moment. One that answers, or a lock held longer, is a session.
    std::string state = c->side + "/state";
    bool taken = false;
    for (int i = 0; i < 500 && !taken; i++) {
      int fd = cr::connect_daemon(state.c_str());
      if (fd >= 0) {
        close(fd);
        break;
      }
      usleep(10000);
      taken = flock(c->lock, LOCK_EX | LOCK_NB) == 0;
    }
    if (!taken) {
      say(err, errlen, "%s is in use by a running session", c->clone.c_str());
      return -1;
    }
  }
  return 0;
}

}  // namespace cr::cloning

namespace cr {
void say_state_error(const char* dir, int e, const State& st, char* err, size_t errlen) {
  if (e == -EBADMSG) {
    say(err, errlen, "%s/%s: damaged (%s)", dir, st.damaged_file(), st.damage());
  } else if (e == -ENOENT) {
    std::string d = dir;
    struct stat s;
    const char* gone = stat(d.c_str(), &s) < 0 ? "" : stat((d + "/table").c_str(), &s) < 0 ? "/table" : "/xattr";
    say(err, errlen, "%s%s: missing", dir, gone);
  } else {
    // Which of its files: one that cannot be opened for writing (its
    // mode, a directory in its place), else the directory itself.
    std::string d = dir;
    struct stat s;
    const char* which = "";
    for (const char* f : {"/table", "/xattr"}) {
      std::string p = d + f;
      if (stat(p.c_str(), &s) == 0 && (!S_ISREG(s.st_mode) || access(p.c_str(), R_OK | W_OK) != 0)) {
        which = f;
        break;
      }
    }
    say(err, errlen, "%s%s: %s", dir, which, strerror(-e));
  }
}

bool cow_record_readable(const char* clone) {
  cloning::SharedMap m;
  m.path = std::string(clone) + ".cowroot/shared";
  return m.load();
}
}  // namespace cr
