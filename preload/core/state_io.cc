// Save and load of a state in fakeroot's text format plus a cowroot section.
// Only the daemon and the command line use this file (it allocates), never
// the preload library.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <unordered_map>

#include "errtext.h"
#include "state.h"
#include "state_io.h"

namespace cr {

namespace {


std::string hex(const void* p, size_t n) {
  static const char d[] = "0123456789abcdef";
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<const unsigned char*>(p)[i];
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

bool unhex(const char* s, size_t n, std::string* out) {
  if (n % 2) return false;
  out->clear();
  for (size_t i = 0; i < n; i += 2) {
    int v = 0;
    for (int j = 0; j < 2; j++) {
      char c = s[i + j];
      int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (x < 0) return false;
      v = v * 16 + x;
    }
    out->push_back(char(v));
  }
  return true;
}

}  // namespace

int save_state(State& st, const char* path, char* err, size_t errlen) {
  std::string tmp = std::string(path) + ".tmp.cowroot";
  FILE* f = fopen(tmp.c_str(), "we");
  if (!f) {
    say(err, errlen, "cannot write state file %s: %s", tmp.c_str(), strerror(errno));
    return -1;
  }
  std::vector<std::pair<Key, Meta>> all;
  st.for_each([&](const Key& k, const Meta& m) { all.emplace_back(k, m); });
  for (auto& [k, m] : all)
    fprintf(f, "dev=%" PRIx64 ",ino=%" PRIu64 ",mode=%o,uid=%u,gid=%u,nlink=1,rdev=%" PRIu64 "\n", k.dev,
            k.ino, m.mode, m.uid, m.gid, m.rdev);
  fprintf(f, "# cowroot state 1\n");
  for (auto& [k, m] : all) {
    if (m.birth.known())
      fprintf(f, "birth dev=%" PRIx64 ",ino=%" PRIu64 ",sec=%" PRId64 ",nsec=%u\n", k.dev, k.ino, m.birth.sec,
              m.birth.nsec);
    std::vector<std::string> names;
    st.xattr_names(m, [&](const char* n, uint32_t len) {
      names.emplace_back(n, len);
      return true;
    });
    for (auto it = names.rbegin(); it != names.rend(); ++it) {
      long len = st.xattr_get(m, it->c_str(), nullptr, 0);
      if (len < 0) continue;
      std::string v(len, '\0');
      if (len > 0) st.xattr_get(m, it->c_str(), v.data(), v.size());
      fprintf(f, "xattr dev=%" PRIx64 ",ino=%" PRIu64 ",name=%s,value=%s\n", k.dev, k.ino,
              hex(it->data(), it->size()).c_str(), hex(v.data(), v.size()).c_str());
    }
  }
  bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
  int e = errno;
  ok = (fclose(f) == 0) && ok;
  if (!ok || rename(tmp.c_str(), path) != 0) {
    if (ok) e = errno;
    unlink(tmp.c_str());
    say(err, errlen, "cannot write state file %s: %s", path, strerror(e));
    return -1;
  }
  return 0;
}

namespace {

struct KeyHash {
  size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.ino * 0x9E3779B97F4A7C15ull ^ k.dev); }
};

// Bytes an attribute takes in the state's heap (see State::xattr_set).
uint64_t heap_bytes(size_t name_len, size_t value_len) { return (sizeof(XattrRec) + name_len + value_len + 7) & ~7ull; }

}  // namespace

int parse_state(FILE* f, const char* path, std::vector<LoadedEntry>* items, char* err, size_t errlen) {
  items->clear();
  struct stat fst;
  if (fstat(fileno(f), &fst) == 0 && S_ISREG(fst.st_mode) && (uint64_t)fst.st_size > kStateFileMax) {
    say(err, errlen, "%s: %lld bytes, more than any state file holds (at most %llu)", path, (long long)fst.st_size,
        (unsigned long long)kStateFileMax);
    return -1;
  }
  std::unordered_map<Key, size_t, KeyHash> index;
  // One buffer of the longest line there may be: a longer one is refused
  // before anything is allocated for it.
  std::vector<char> buf(kStateLineMax + 2);
  long lineno = 0;
  bool ext = false;
  uint64_t heap = 0;
  for (;;) {
    size_t n = 0;
    int c = 0;
    while (n < buf.size() - 1 && (c = getc_unlocked(f)) != EOF && c != '\n') buf[n++] = (char)c;
    if (n == 0 && c == EOF) break;
    lineno++;
    if (n == buf.size() - 1 && c != '\n' && c != EOF) {
      say(err, errlen, "%s:%ld: corrupt state file (a line longer than %zu bytes)", path, lineno, kStateLineMax);
      return -1;
    }
    buf[n] = 0;
    char* line = buf.data();
    if (n == 0) continue;
    // Every line saved ends with a newline (fakeroot's and ours): a last
    // line without one was cut off, and a number at its end may parse.
    if (c == EOF && !ferror(f)) {
      say(err, errlen, "%s:%ld: corrupt state file (its last line is cut off: no newline at its end)", path, lineno);
      return -1;
    }
    if (strlen(line) != n) {
      say(err, errlen, "%s:%ld: corrupt state file (NUL byte)", path, lineno);
      return -1;
    }
    unsigned long long dev, ino, mode, uid, gid, nlink, rdev;
    int used = 0;
    if (!ext && sscanf(line, "dev=%llx,ino=%llu,mode=%llo,uid=%llu,gid=%llu,nlink=%llu,rdev=%llu%n", &dev, &ino,
                       &mode, &uid, &gid, &nlink, &rdev, &used) == 7 &&
        (size_t)used == n && mode <= 0177777 && uid <= UINT32_MAX && gid <= UINT32_MAX && (mode & S_IFMT) != 0) {
      LoadedEntry l;
      l.key = {dev, ino};
      l.meta.mode = (uint32_t)mode;
      l.meta.uid = (uint32_t)uid;
      l.meta.gid = (uint32_t)gid;
      l.meta.rdev = rdev;
      auto it = index.find(l.key);
      if (it != index.end()) {
        (*items)[it->second] = l;
        continue;
      }
      if (items->size() >= kStateEntriesMax) {
        say(err, errlen, "%s:%ld: more than %zu entries, more than any state holds", path, lineno, kStateEntriesMax);
        return -1;
      }
      index.emplace(l.key, items->size());
      items->push_back(l);
      continue;
    }
    if (strcmp(line, "# cowroot state 1") == 0 && !ext) {
      ext = true;
      continue;
    }
    long long sec;
    unsigned nsec;
    if (ext && sscanf(line, "birth dev=%llx,ino=%llu,sec=%lld,nsec=%u%n", &dev, &ino, &sec, &nsec, &used) == 4 &&
        (size_t)used == n && nsec < 1000000000u) {
      auto it = index.find(Key{dev, ino});
      if (it == index.end()) {
        say(err, errlen, "%s:%ld: corrupt state file (birth time of an unknown inode)", path, lineno);
        return -1;
      }
      (*items)[it->second].meta.birth = {sec, nsec};
      continue;
    }
    const char* nm = ext ? strstr(line, ",name=") : nullptr;
    const char* vl = nm ? strstr(nm, ",value=") : nullptr;
    if (ext && vl && sscanf(line, "xattr dev=%llx,ino=%llu,%n", &dev, &ino, &used) == 2 && line + used == nm + 1) {
      // The sizes are checked before the hex is decoded.
      size_t name_hex = vl - nm - 6, value_hex = strlen(vl + 7);
      if (name_hex > 2 * kXattrNameMax || value_hex > 2 * kXattrValueMax) {
        say(err, errlen, "%s:%ld: corrupt state file (an attribute %s longer than %zu bytes)", path, lineno,
            name_hex > 2 * kXattrNameMax ? "name" : "value", name_hex > 2 * kXattrNameMax ? kXattrNameMax : kXattrValueMax);
        return -1;
      }
      std::string name, value;
      if (unhex(nm + 6, name_hex, &name) && !name.empty() && name.find('\0') == std::string::npos &&
          unhex(vl + 7, value_hex, &value)) {
        auto it = index.find(Key{dev, ino});
        if (it == index.end()) {
          say(err, errlen, "%s:%ld: corrupt state file (attribute of an unknown inode)", path, lineno);
          return -1;
        }
        heap += heap_bytes(name.size(), value.size());
        if (heap > kXattrHeapMax) {
          say(err, errlen, "%s:%ld: the attributes add up to more than a state holds (%zu bytes)", path, lineno,
              kXattrHeapMax);
          return -1;
        }
        (*items)[it->second].xattrs.emplace_back(std::move(name), std::move(value));
        continue;
      }
    }
    say(err, errlen, "%s:%ld: corrupt state file (not a fakeroot or cowroot state line)", path, lineno);
    return -1;
  }
  if (ferror(f)) {
    say(err, errlen, "cannot load state file %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

int load_state(State& st, const char* path, char* err, size_t errlen) {
  FILE* f = fopen(path, "re");
  if (!f) {
    say(err, errlen, "cannot load state file %s: %s", path, strerror(errno));
    return -1;
  }
  std::vector<LoadedEntry> items;
  int rc = parse_state(f, path, &items, err, errlen);
  fclose(f);
  if (rc) return rc;
  for (auto& l : items) {
    Meta m = l.meta;
    m.xattrs = 0;
    int r = st.put(l.key, m);
    for (auto& [name, value] : l.xattrs)
      if (!r) r = st.xattr_set(l.key, m, name.c_str(), value.data(), value.size(), 0);
    if (r) {
      say(err, errlen, "cannot load state file %s into %s: %s", path, st.dir(), strerror(-r));
      return -1;
    }
  }
  return 0;
}

}  // namespace cr
