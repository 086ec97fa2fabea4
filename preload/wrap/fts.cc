// fts_*: glibc's fts reads directories and stats entries with its internal
// calls, which no wrapper sees: under a root it would walk the host, and in
// any session it would show real owners. This is an fts of our own with the
// same public structures and the same visiting order and codes as glibc's
// (pre-order FTS_D, children in directory or compar order, post-order
// FTS_DP; FTS_NS, FTS_SLNONE, FTS_DC, FTS_DOT, FTS_DNR, FTS_ERR), whose
// every file access goes through libcowroot's own wrappers: opendir, open,
// stat and lstat resolve inside the root and carry the fake owner and mode.
//
// Differences that no correct program can see: each entry owns its full
// path (glibc shares one buffer that later entries overwrite), and the
// traversal state lives after the public FTS block.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wrap.h"

namespace {

using Compar = int (*)(const FTSENT**, const FTSENT**);

struct Walk {
  FTS pub;
  Compar compar;
  FTSENT* top;  // level FTS_ROOTPARENTLEVEL: parent of every root
};

enum Build { kRead, kChild, kNames };

bool is_set(const FTS* sp, int opt) { return sp->fts_options & opt; }
bool is_dot(const char* n) { return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])); }

// One allocation: the entry, its name, its path and its stat buffer.
FTSENT* alloc_entry(const char* name, size_t namelen, const char* dir, size_t dirlen) {
  size_t pathlen = dir ? dirlen + 1 + namelen : namelen;
  if (pathlen > 0xfffe) {
    errno = ENAMETOOLONG;
    return nullptr;
  }
  size_t head = offsetof(FTSENT, fts_name) + namelen + 1;
  size_t stat_at = (head + pathlen + 1 + alignof(struct stat) - 1) & ~(alignof(struct stat) - 1);
  char* mem = static_cast<char*>(calloc(1, stat_at + sizeof(struct stat)));
  if (!mem) return nullptr;
  FTSENT* p = reinterpret_cast<FTSENT*>(mem);
  memcpy(p->fts_name, name, namelen);
  p->fts_namelen = (unsigned short)namelen;
  char* path = mem + head;
  if (dir) {
    memcpy(path, dir, dirlen);
    path[dirlen] = '/';
    memcpy(path + dirlen + 1, name, namelen);
  } else {
    memcpy(path, name, namelen);
  }
  p->fts_path = path;
  p->fts_pathlen = (unsigned short)pathlen;
  p->fts_accpath = path;
  p->fts_statp = reinterpret_cast<struct stat*>(mem + stat_at);
  p->fts_symfd = -1;
  p->fts_instr = FTS_NOINSTR;
  return p;
}

// Appends p to the list head..tail.
void append(FTSENT*& head, FTSENT*& tail, FTSENT* p) {
  if (tail)
    tail->fts_link = p;
  else
    head = p;
  tail = p;
}

void free_list(FTSENT* p) {
  while (p) {
    FTSENT* next = p->fts_link;
    free(p);
    p = next;
  }
}

unsigned short stat_entry(FTS* sp, FTSENT* p, bool follow) {
  struct stat* sb = p->fts_statp;
  if (is_set(sp, FTS_LOGICAL) || follow) {
    if (stat(p->fts_accpath, sb) != 0) {
      int e = errno;
      if (e == ENOENT && lstat(p->fts_accpath, sb) == 0) {
        errno = 0;
        return FTS_SLNONE;
      }
      p->fts_errno = e;
      memset(sb, 0, sizeof *sb);
      return FTS_NS;
    }
  } else if (lstat(p->fts_accpath, sb) != 0) {
    p->fts_errno = errno;
    memset(sb, 0, sizeof *sb);
    return FTS_NS;
  }
  p->fts_dev = sb->st_dev;
  p->fts_ino = sb->st_ino;
  p->fts_nlink = sb->st_nlink;
  if (S_ISDIR(sb->st_mode)) {
    if (is_dot(p->fts_name)) return FTS_DOT;
    for (FTSENT* t = p->fts_parent; t && t->fts_level >= FTS_ROOTLEVEL; t = t->fts_parent)
      if (t->fts_ino == p->fts_ino && t->fts_dev == p->fts_dev) {
        p->fts_cycle = t;
        return FTS_DC;
      }
    return FTS_D;
  }
  if (S_ISLNK(sb->st_mode)) return FTS_SL;
  if (S_ISREG(sb->st_mode)) return FTS_F;
  return FTS_DEFAULT;
}

// Change into directory p through fd or path, refusing a directory that is
// not the one p was stat'ed as (it was replaced under the walk).
int enter(FTS* sp, const FTSENT* p, int fd, const char* path) {
  if (is_set(sp, FTS_NOCHDIR)) return 0;
  int own = -1;
  if (fd < 0) {
    fd = own = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
  }
  struct stat st;
  int ret = -1;
  if (fstat(fd, &st) == 0) {
    if (st.st_dev != p->fts_dev || st.st_ino != p->fts_ino)
      errno = ENOENT;
    else
      ret = fchdir(fd);
  }
  if (own >= 0) {
    int e = errno;
    close(own);
    errno = e;
  }
  return ret;
}

int back_to_start(FTS* sp) { return is_set(sp, FTS_NOCHDIR) ? 0 : fchdir(sp->fts_rfd); }

// The descriptor a followed directory keeps to come back through: closed
// once, and forgotten (fts_close must not close it again).
void drop_symfd(FTSENT* p) {
  if (p->fts_flags & FTS_SYMFOLLOW) {
    close(p->fts_symfd);
    p->fts_flags &= ~FTS_SYMFOLLOW;
    p->fts_symfd = -1;
  }
}

// Back to where `cur`'s directory was entered from: the start for a root,
// the descriptor kept for a followed symlink, ".." otherwise.
int leave(FTS* sp, FTSENT* cur) {
  if (cur->fts_level == FTS_ROOTLEVEL) return back_to_start(sp);
  if (cur->fts_flags & FTS_SYMFOLLOW) return is_set(sp, FTS_NOCHDIR) ? 0 : fchdir(cur->fts_symfd);
  return enter(sp, cur->fts_parent, -1, "..");
}


FTSENT* sort(Walk* w, FTSENT* head, int n) {
  FTS* sp = &w->pub;
  if (n > sp->fts_nitems) {
    void* a = realloc(sp->fts_array, (size_t)(n + 40) * sizeof(FTSENT*));
    if (!a) return head;  // unsorted rather than lost
    sp->fts_array = static_cast<FTSENT**>(a);
    sp->fts_nitems = n + 40;
  }
  FTSENT** ap = sp->fts_array;
  for (FTSENT* p = head; p; p = p->fts_link) *ap++ = p;
  qsort(sp->fts_array, (size_t)n, sizeof(FTSENT*), reinterpret_cast<int (*)(const void*, const void*)>(w->compar));
  ap = sp->fts_array;
  for (int i = 0; i < n - 1; i++) ap[i]->fts_link = ap[i + 1];
  ap[n - 1]->fts_link = nullptr;
  return ap[0];
}

// The children of sp->fts_cur. kRead also moves into the directory (left
// there when it has children) and turns an empty or unreadable directory
// into its post-order or error visit.
FTSENT* build(Walk* w, Build type) {
  FTS* sp = &w->pub;
  FTSENT* cur = sp->fts_cur;
  DIR* d = opendir(cur->fts_accpath);
  if (!d) {
    if (type == kRead) {
      cur->fts_info = FTS_DNR;
      cur->fts_errno = errno;
    }
    return nullptr;
  }
  // Without stat only when the directory type says enough (glibc: only
  // with FTS_NOSTAT and FTS_PHYSICAL together).
  bool nostat = type == kNames || (is_set(sp, FTS_NOSTAT) && is_set(sp, FTS_PHYSICAL));
  bool inside = false;
  int cderrno = 0;
  if (type != kNames) {
    if (enter(sp, cur, dirfd(d), nullptr) != 0) {
      if (type == kRead) cur->fts_errno = errno;
      cur->fts_flags |= FTS_DONTCHDIR;
      cderrno = errno;
    } else {
      inside = true;
    }
  }
  size_t dirlen = cur->fts_pathlen;
  if (dirlen && cur->fts_path[dirlen - 1] == '/') dirlen--;
  bool nochdir = is_set(sp, FTS_NOCHDIR);
  FTSENT *head = nullptr, *tail = nullptr;
  int n = 0;
  bool failed = false;
  errno = 0;
  while (struct dirent* de = readdir(d)) {
    if (!is_set(sp, FTS_SEEDOT) && is_dot(de->d_name)) continue;
    FTSENT* p = alloc_entry(de->d_name, strlen(de->d_name), cur->fts_path, dirlen);
    if (!p) {
      failed = true;
      break;
    }
    p->fts_level = (short)(cur->fts_level + 1);
    p->fts_parent = cur;
    if (cderrno) {
      p->fts_info = nostat ? FTS_NSOK : FTS_NS;
      p->fts_errno = nostat ? 0 : cderrno;
      p->fts_accpath = cur->fts_accpath;
    } else {
      p->fts_accpath = nochdir ? p->fts_path : p->fts_name;
      bool skip_stat = type == kNames || (nostat && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN);
      p->fts_info = skip_stat ? FTS_NSOK : stat_entry(sp, p, false);
    }
    append(head, tail, p);
    n++;
  }
  int read_errno = errno;
  closedir(d);
  if (failed) {
    int e = errno;
    free_list(head);
    cur->fts_info = FTS_ERR;
    sp->fts_options |= FTS_STOP;
    errno = e;
    return nullptr;
  }
  if (read_errno && type == kRead && !n) {
    cur->fts_info = FTS_DNR;
    cur->fts_errno = read_errno;
  }
  // Back out of the directory when the caller will not walk it now.
  if (inside && (type == kChild || !n)) {
    if (leave(sp, cur) != 0) {
      free_list(head);
      cur->fts_info = FTS_ERR;
      sp->fts_options |= FTS_STOP;
      return nullptr;
    }
  }
  if (!n) {
    if (type == kRead && cur->fts_info != FTS_DNR) cur->fts_info = FTS_DP;
    return nullptr;
  }
  if (w->compar && n > 1) head = sort(w, head, n);
  return head;
}

// A root as fts_read hands it out: its name becomes the last component of
// the path it was given ("/" stays "/"), and -xdev measures from it.
FTSENT* load_root(FTS* sp, FTSENT* p) {
  if (char* slash = strrchr(p->fts_name, '/'); slash && (slash != p->fts_name || slash[1])) {
    size_t len = strlen(slash + 1);
    memmove(p->fts_name, slash + 1, len + 1);
    p->fts_namelen = (unsigned short)len;
  }
  sp->fts_dev = p->fts_dev;
  return sp->fts_cur = p;
}

void follow_symlink(FTS* sp, FTSENT* p) {
  p->fts_info = stat_entry(sp, p, true);
  if (p->fts_info == FTS_D && !is_set(sp, FTS_NOCHDIR)) {
    p->fts_symfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->fts_symfd < 0) {
      p->fts_errno = errno;
      p->fts_info = FTS_ERR;
    } else {
      p->fts_flags |= FTS_SYMFOLLOW;
    }
  }
}

}  // namespace

EXPORT FTS* fts_open(char* const* argv, int options, Compar compar) {
  cr::wrap::ensure();
  if (options & ~FTS_OPTIONMASK) {
    errno = EINVAL;
    return nullptr;
  }
  Walk* w = static_cast<Walk*>(calloc(1, sizeof(Walk)));
  if (!w) return nullptr;
  FTS* sp = &w->pub;
  sp->fts_options = options;
  sp->fts_rfd = -1;
  w->compar = compar;
  sp->fts_compar = reinterpret_cast<int (*)(const void*, const void*)>(compar);
  if (options & FTS_LOGICAL) sp->fts_options |= FTS_NOCHDIR;

  w->top = alloc_entry("", 0, nullptr, 0);
  if (!w->top) {
    free(w);
    return nullptr;
  }
  w->top->fts_level = FTS_ROOTPARENTLEVEL;
  FTSENT *head = nullptr, *tail = nullptr;
  int n = 0;
  for (; *argv; argv++) {
    size_t len = strlen(*argv);
    if (!len) {
      errno = ENOENT;
      goto fail;
    }
    FTSENT* p = alloc_entry(*argv, len, nullptr, 0);
    if (!p) goto fail;
    p->fts_level = FTS_ROOTLEVEL;
    p->fts_parent = w->top;
    p->fts_info = stat_entry(sp, p, options & FTS_COMFOLLOW);
    if (p->fts_info == FTS_DOT) p->fts_info = FTS_D;  // "." given as a root is walked
    append(head, tail, p);
    n++;
  }
  if (compar && n > 1) head = sort(w, head, n);
  {
    // The current entry before the first read: its link is the first root.
    FTSENT* init = alloc_entry("", 0, nullptr, 0);
    if (!init) goto fail;
    init->fts_link = head;
    init->fts_info = FTS_INIT;
    init->fts_level = FTS_ROOTLEVEL;  // freed on the first move, like a root
    init->fts_parent = w->top;
    sp->fts_cur = init;
  }
  if (!is_set(sp, FTS_NOCHDIR)) {
    sp->fts_rfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->fts_rfd < 0) sp->fts_options |= FTS_NOCHDIR;
  }
  return sp;
fail: {
  int e = errno;
  free_list(head);
  free(w->top);
  free(sp->fts_array);
  free(w);
  errno = e;
  return nullptr;
}
}

EXPORT FTSENT* fts_read(FTS* sp) {
  Walk* w = reinterpret_cast<Walk*>(sp);
  if (!sp->fts_cur || is_set(sp, FTS_STOP)) return nullptr;
  FTSENT* p = sp->fts_cur;
  int instr = p->fts_instr;
  p->fts_instr = FTS_NOINSTR;

  if (instr == FTS_AGAIN) {
    p->fts_info = stat_entry(sp, p, false);
    return p;
  }
  if (instr == FTS_FOLLOW && (p->fts_info == FTS_SL || p->fts_info == FTS_SLNONE)) {
    follow_symlink(sp, p);
    return p;
  }

  if (p->fts_info == FTS_D) {
    if (instr == FTS_SKIP || (is_set(sp, FTS_XDEV) && p->fts_dev != sp->fts_dev)) {
      drop_symfd(p);
      free_list(sp->fts_child);
      sp->fts_child = nullptr;
      p->fts_info = FTS_DP;
      return p;
    }
    if (sp->fts_child && is_set(sp, FTS_NAMEONLY)) {
      sp->fts_options &= ~FTS_NAMEONLY;
      free_list(sp->fts_child);
      sp->fts_child = nullptr;
    }
    if (sp->fts_child) {
      // Listed by fts_children without moving: move now.
      if (enter(sp, p, -1, p->fts_accpath) != 0) {
        p->fts_errno = errno;
        p->fts_flags |= FTS_DONTCHDIR;
        for (FTSENT* c = sp->fts_child; c; c = c->fts_link) c->fts_accpath = c->fts_path;
      }
    } else if (!(sp->fts_child = build(w, kRead))) {
      if (is_set(sp, FTS_STOP)) return nullptr;
      drop_symfd(p);  // its post-order (or error) visit is now: nothing to come back to
      if (p->fts_errno && p->fts_info != FTS_DNR) p->fts_info = FTS_ERR;
      return p;
    }
    p = sp->fts_child;
    sp->fts_child = nullptr;
    return sp->fts_cur = p;
  }

  // The next entry at this level, or up to the parent.
  FTSENT* done = p;
  while (FTSENT* next = done->fts_link) {
    free(done);
    done = next;
    if (next->fts_level == FTS_ROOTLEVEL) {
      sp->fts_cur = next;
      if (back_to_start(sp) != 0) {
        sp->fts_options |= FTS_STOP;
        return nullptr;
      }
      return load_root(sp, next);
    }
    if (next->fts_instr == FTS_SKIP) continue;
    if (next->fts_instr == FTS_FOLLOW) {
      follow_symlink(sp, next);
      next->fts_instr = FTS_NOINSTR;
    }
    return sp->fts_cur = next;
  }
  FTSENT* parent = done->fts_parent;
  free(done);
  if (parent->fts_level == FTS_ROOTPARENTLEVEL) {
    free(parent);
    w->top = nullptr;
    sp->fts_cur = nullptr;
    errno = 0;  // the end of the walk, not an error
    return nullptr;
  }
  sp->fts_cur = parent;
  // Back out of it: a directory fts could not move into (FTS_DONTCHDIR)
  // left the walk in its parent already, unless a root or followed link
  // says where to go.
  bool back = parent->fts_level == FTS_ROOTLEVEL || (parent->fts_flags & FTS_SYMFOLLOW) ||
              !(parent->fts_flags & FTS_DONTCHDIR);
  int r = back ? leave(sp, parent) : 0;
  int e = errno;
  drop_symfd(parent);
  if (r != 0) {
    errno = e;
    sp->fts_options |= FTS_STOP;
    return nullptr;
  }
  parent->fts_info = parent->fts_errno ? FTS_ERR : FTS_DP;
  return parent;
}

EXPORT FTSENT* fts_children(FTS* sp, int instr) {
  Walk* w = reinterpret_cast<Walk*>(sp);
  if (instr != 0 && instr != FTS_NAMEONLY) {
    errno = EINVAL;
    return nullptr;
  }
  FTSENT* p = sp->fts_cur;
  errno = 0;
  if (!p || is_set(sp, FTS_STOP)) return nullptr;
  if (p->fts_info == FTS_INIT) return p->fts_link;  // the roots
  if (p->fts_info != FTS_D) return nullptr;
  free_list(sp->fts_child);
  sp->fts_child = nullptr;
  Build type = kChild;
  if (instr == FTS_NAMEONLY) {
    sp->fts_options |= FTS_NAMEONLY;
    type = kNames;
  }
  // A relative root listed before fts_read moved into it: the listing
  // moves in and back out, so come back to where the walk started.
  if (p->fts_level != FTS_ROOTLEVEL || p->fts_accpath[0] == '/' || is_set(sp, FTS_NOCHDIR))
    return sp->fts_child = build(w, type);
  int fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  sp->fts_child = build(w, type);
  int r = fchdir(fd);
  int e = errno;
  close(fd);
  if (r != 0) {
    errno = e;
    return nullptr;
  }
  return sp->fts_child;
}

EXPORT int fts_set(FTS* sp, FTSENT* p, int instr) noexcept {
  if (instr != 0 && instr != FTS_AGAIN && instr != FTS_FOLLOW && instr != FTS_NOINSTR && instr != FTS_SKIP) {
    errno = EINVAL;
    return 1;
  }
  p->fts_instr = (unsigned short)instr;
  return 0;
}

EXPORT int fts_close(FTS* sp) {
  Walk* w = reinterpret_cast<Walk*>(sp);
  // What is left: the current entry, the rest of its level, and each
  // ancestor with the rest of its level, up to the roots' parent.
  if (FTSENT* p = sp->fts_cur) {
    while (p->fts_level >= FTS_ROOTLEVEL) {
      FTSENT* done = p;
      p = p->fts_link ? p->fts_link : p->fts_parent;
      if (done->fts_flags & FTS_SYMFOLLOW) close(done->fts_symfd);
      free(done);
    }
    free(p);
  } else {
    free(w->top);
  }
  free_list(sp->fts_child);
  free(sp->fts_array);
  int ret = 0;
  if (!is_set(sp, FTS_NOCHDIR) && sp->fts_rfd >= 0) {
    ret = fchdir(sp->fts_rfd);
    int e = errno;
    close(sp->fts_rfd);
    errno = e;
  }
  free(w);
  return ret;
}

// One layout on 64-bit systems: glibc's fts64_* are the same functions.
static_assert(sizeof(FTSENT64) == sizeof(FTSENT) && sizeof(FTS64) == sizeof(FTS));
EXPORT FTS64* fts64_open(char* const* argv, int options, int (*compar)(const FTSENT64**, const FTSENT64**)) {
  return reinterpret_cast<FTS64*>(fts_open(argv, options, reinterpret_cast<Compar>(compar)));
}
EXPORT FTSENT64* fts64_read(FTS64* sp) { return reinterpret_cast<FTSENT64*>(fts_read(reinterpret_cast<FTS*>(sp))); }
EXPORT FTSENT64* fts64_children(FTS64* sp, int instr) {
  return reinterpret_cast<FTSENT64*>(fts_children(reinterpret_cast<FTS*>(sp), instr));
}
EXPORT int fts64_set(FTS64* sp, FTSENT64* p, int instr) noexcept {
  return fts_set(reinterpret_cast<FTS*>(sp), reinterpret_cast<FTSENT*>(p), instr);
}
EXPORT int fts64_close(FTS64* sp) { return fts_close(reinterpret_cast<FTS*>(sp)); }
