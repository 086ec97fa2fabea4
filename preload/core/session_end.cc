#include "session_end.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "state.h"

namespace cr {

namespace {

bool exists_nofollow(const std::string& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0;
}

// Removes every entry of the directory fd (one level below for `un`, the
// socket links, and the loader's links, ldconf.cc), never following a
// symlink.
void empty_dir(int fd) {
  DIR* d = fdopendir(fd);
  if (!d) {
    close(fd);
    return;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  for (auto& n : names) {
    if (unlinkat(dirfd(d), n.c_str(), 0) == 0 || errno != EISDIR) continue;
    int sub = openat(dirfd(d), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0 && (n == "un" || n == "ids" || n.compare(0, 13, "loader-links.") == 0)) empty_dir(sub);
    else if (sub >= 0) close(sub);
    unlinkat(dirfd(d), n.c_str(), AT_REMOVEDIR);
  }
  closedir(d);
}

}  // namespace

bool is_ephemeral_dir(const std::string& dir) { return exists_nofollow(dir + "/" + kEphemeralMark); }

int mark_ephemeral(const std::string& dir) {
  int fd = open((dir + "/" + kEphemeralMark).c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  close(fd);
  return 0;
}

void remove_session_sockets(const std::string& dir) {
  int un = open((dir + "/un").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (un >= 0) {
    empty_dir(un);
    rmdir((dir + "/un").c_str());
  }
  unlink((dir + "/sock").c_str());
}

void remove_session_dir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  empty_dir(fd);
  rmdir(dir.c_str());
}

bool state_mapped_elsewhere(const std::string& dir_in) {
  char real[PATH_MAX];
  if (!realpath(dir_in.c_str(), real)) return false;
  std::string dir = real;
  std::string names[] = {dir + "/table", dir + "/xattr"};
  DIR* proc = opendir("/proc");
  if (!proc) return false;
  const uid_t me = getuid();
  const pid_t self = getpid();
  bool found = false;
  std::string text;
  while (dirent* e = readdir(proc)) {
    char* end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 0 || pid == self) continue;
    struct stat st;
    if (fstatat(dirfd(proc), e->d_name, &st, 0) < 0 || st.st_uid != me) continue;
    int fd = open(("/proc/" + std::string(e->d_name) + "/maps").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    text.clear();
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
    close(fd);
    // A mapping's line ends with its file's path, " (deleted)" after it
    // when an older table was replaced.
    for (auto& want : names)
      for (size_t at = text.find(want); at != std::string::npos && !found; at = text.find(want, at + 1)) {
        char before = at ? text[at - 1] : ' ';
        const char* after = text.c_str() + at + want.size();
        found = before == ' ' && (*after == '\n' || *after == 0 || strncmp(after, " (deleted)", 10) == 0);
      }
    if (found) break;
  }
  closedir(proc);
  return found;
}

int finish_session(const std::string& dir, const std::string& save, bool ephemeral, std::string* err) {
  int lk = open((dir + "/lock").c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lk < 0) {
    *err = "cannot open " + dir + "/lock: " + strerror(errno);
    return -1;
  }
  if (flock(lk, LOCK_EX | LOCK_NB) < 0) {
    close(lk);
    *err = "a daemon of " + dir + " is starting";
    return -2;
  }
  int rc = 0;
  if (!save.empty()) {
    State st;
    char buf[1024];
    int r = st.open(dir.c_str(), false);
    if (r < 0) {
      *err = "cannot save state to " + save + ": the state in " + dir + ": " + strerror(-r);
      rc = -1;
    } else if (save_state(st, save.c_str(), buf, sizeof buf) < 0) {
      *err = buf;
      rc = -1;
    }
    st.close();
  }
  // As the daemon does, a failed save is reported and the throwaway
  // directory goes all the same: nothing else would ever remove it.
  if (ephemeral) remove_session_dir(dir);
  else remove_session_sockets(dir);
  close(lk);
  return rc;
}

std::string not_private(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) < 0) return std::string("cannot be made (") + strerror(errno) + ")";
  if (S_ISLNK(st.st_mode)) return "is a symlink";
  if (!S_ISDIR(st.st_mode)) return "is not a directory";
  if (st.st_uid != getuid()) return "belongs to uid " + std::to_string(st.st_uid);
  if (st.st_mode & 077) {
    char m[8];
    snprintf(m, sizeof m, "%04o", st.st_mode & 07777);
    return std::string("is open to other users (mode ") + m + ")";
  }
  return "";
}

std::string private_dir(const std::string& base, const std::string& name, bool* fresh, std::string* note) {
  *fresh = false;
  note->clear();
  std::string p = base + "/" + name;
  if (mkdir(p.c_str(), 0700) < 0 && errno != EEXIST) {
    // A base we cannot write to is no sign of anyone's malice: say nothing
    // unless the fresh directory fails too.
  }
  std::string why = not_private(p);
  if (why.empty()) return p;
  std::string told = p + " " + why + ", not a private directory of this user: not used";
  const char* x = getenv("XDG_RUNTIME_DIR");
  if (x && *x == '/' && base != x) {
    std::string q = std::string(x) + "/" + name;
    mkdir(q.c_str(), 0700);
    if (not_private(q).empty()) {
      *note = told + "; using " + q;
      return q;
    }
  }
  const char* t = getenv("TMPDIR");
  std::string tmpl = std::string(t && *t == '/' ? t : "/tmp") + "/" + name + ".XXXXXX";
  std::vector<char> b(tmpl.begin(), tmpl.end());
  b.push_back(0);
  if (!mkdtemp(b.data())) {
    *note = told + "; and no private directory could be made in " + tmpl + ": " + strerror(errno);
    return "";
  }
  *fresh = true;
  *note = told + "; using " + std::string(b.data());
  return b.data();
}

void sweep_sessions(const std::string& top, const std::string& prefix) {
  DIR* d = opendir(top.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.' && strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0) names.push_back(e->d_name);
  closedir(d);
  const uid_t me = getuid();
  for (auto& n : names) {
    std::string p = top + "/" + n;
    struct stat st;
    if (lstat(p.c_str(), &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != me || (st.st_mode & 077)) continue;
    bool table = exists_nofollow(p + "/table"), old = time(nullptr) - st.st_mtime >= 3600;
    if (!is_ephemeral_dir(p)) {
      // Unmarked: what earlier versions left of a session (a --cow run's
      // record kept its directory), never a live one once an hour old.
      bool ours = n.compare(0, 2, "s.") == 0 || n.compare(0, 5, "auto.") == 0;
      if (ours && !table && old) remove_session_dir(p);
      continue;
    }
    // Without a table the session is still being set up (or its maker died
    // at once): only an old one is gone for sure.
    if (!table && !old) continue;
    // A live one is passed over without its lock: a daemon starting in it
    // meanwhile must not find the lock taken (it would step aside).
    if (state_mapped_elsewhere(p)) continue;
    int lk = open((p + "/lock").c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lk < 0) continue;
    if (flock(lk, LOCK_EX | LOCK_NB) == 0 && !state_mapped_elsewhere(p)) remove_session_dir(p);
    close(lk);
  }
}

}  // namespace cr
