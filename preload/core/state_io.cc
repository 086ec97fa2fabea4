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

#include "errtext.h"
#include "state.h"

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

struct Loaded {
  Key key;
  Meta meta;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

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

int load_state(State& st, const char* path, char* err, size_t errlen) {
  FILE* f = fopen(path, "re");
  if (!f) {
    say(err, errlen, "cannot load state file %s: %s", path, strerror(errno));
    return -1;
  }
  std::vector<Loaded> items;
  auto find = [&](const Key& k) -> Loaded* {
    for (auto it = items.rbegin(); it != items.rend(); ++it)
      if (it->key == k) return &*it;
    return nullptr;
  };
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  long lineno = 0;
  bool ext = false;
  int rc = 0;
  while ((n = getline(&line, &cap, f)) > 0) {
    lineno++;
    if (line[n - 1] == '\n') line[--n] = 0;
    if (n == 0) continue;
    if (strlen(line) != (size_t)n) {
      rc = -1;
      say(err, errlen, "%s:%ld: corrupt state file (NUL byte)", path, lineno);
      break;
    }
    unsigned long long dev, ino, mode, uid, gid, nlink, rdev;
    int used = 0;
    if (!ext && sscanf(line, "dev=%llx,ino=%llu,mode=%llo,uid=%llu,gid=%llu,nlink=%llu,rdev=%llu%n", &dev, &ino,
                       &mode, &uid, &gid, &nlink, &rdev, &used) == 7 &&
        used == n && mode <= 0177777 && uid <= UINT32_MAX && gid <= UINT32_MAX && (mode & S_IFMT) != 0) {
      Loaded l;
      l.key = {dev, ino};
      l.meta.mode = (uint32_t)mode;
      l.meta.uid = (uint32_t)uid;
      l.meta.gid = (uint32_t)gid;
      l.meta.rdev = rdev;
      if (Loaded* old = find(l.key)) *old = l;
      else items.push_back(l);
      continue;
    }
    if (strcmp(line, "# cowroot state 1") == 0 && !ext) {
      ext = true;
      continue;
    }
    long long sec;
    unsigned nsec;
    if (ext && sscanf(line, "birth dev=%llx,ino=%llu,sec=%lld,nsec=%u%n", &dev, &ino, &sec, &nsec, &used) == 4 &&
        used == n && nsec < 1000000000u) {
      Loaded* l = find(Key{dev, ino});
      if (!l) {
        rc = -1;
        say(err, errlen, "%s:%ld: corrupt state file (birth time of an unknown inode)", path, lineno);
        break;
      }
      l->meta.birth = {sec, nsec};
      continue;
    }
    const char* nm = ext ? strstr(line, ",name=") : nullptr;
    const char* vl = nm ? strstr(nm, ",value=") : nullptr;
    std::string name, value;
    if (ext && vl && sscanf(line, "xattr dev=%llx,ino=%llu,%n", &dev, &ino, &used) == 2 &&
        line + used == nm + 1 && unhex(nm + 6, vl - nm - 6, &name) && !name.empty() &&
        name.find('\0') == std::string::npos && unhex(vl + 7, strlen(vl + 7), &value)) {
      Loaded* l = find(Key{dev, ino});
      if (!l) {
        rc = -1;
        say(err, errlen, "%s:%ld: corrupt state file (attribute of an unknown inode)", path, lineno);
        break;
      }
      l->xattrs.emplace_back(name, value);
      continue;
    }
    rc = -1;
    say(err, errlen, "%s:%ld: corrupt state file (not a fakeroot or cowroot state line)", path, lineno);
    break;
  }
  if (rc == 0 && ferror(f)) {
    rc = -1;
    say(err, errlen, "cannot load state file %s: %s", path, strerror(errno));
  }
  free(line);
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
