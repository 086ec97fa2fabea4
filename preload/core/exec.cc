#include "exec.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "fileid.h"
#include "perm.h"
#include "confine.h"
#include "elfmap.h"
#include "resolve.h"
#include "session.h"
#include "sys.h"

namespace cr {

bool g_exec_reported = false;
const char* g_root_label = nullptr;

namespace {

void say(const char* a, const char* b = "", const char* c = "", const char* d = "") {
  errline(a, b, c, d);
  g_exec_reported = true;
}

const char* base_name(const char* p) {
  const char* s = strrchr(p, '/');
  return s ? s + 1 : p;
}

}  // namespace

int inspect_program(const char* host, int fd_in, char* interp, size_t in, char* arg, size_t an, long* keep,
                    int dirfd) {
  if (keep) *keep = -1;
  long fd = fd_in >= 0 ? fd_in : sys::raw(SYS_openat, dirfd, (long)host, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return (int)fd;
  unsigned char hdr[512];
  long n = sys::raw(SYS_pread64, fd, (long)hdr, sizeof hdr - 1, 0);
  int result = -ENOEXEC;
  if (n >= 2 && hdr[0] == '#' && hdr[1] == '!') {
    hdr[n] = 0;
    char* s = reinterpret_cast<char*>(hdr) + 2;
    char* nl = strchr(s, '\n');
    if (nl) *nl = 0;
    while (*s == ' ' || *s == '\t') s++;
    char* e = s;
    while (*e && *e != ' ' && *e != '\t') e++;
    size_t il = e - s;
    if (il > 0 && il < in) {
      memcpy(interp, s, il);
      interp[il] = 0;
      while (*e == ' ' || *e == '\t') e++;
      size_t al = strlen(e);
      while (al && (e[al - 1] == ' ' || e[al - 1] == '\t' || e[al - 1] == '\r')) al--;
      if (al >= an) al = an - 1;
      memcpy(arg, e, al);
      arg[al] = 0;
      result = 2;
    }
  } else if (n >= (long)sizeof(Elf64_Ehdr) && memcmp(hdr, ELFMAG, SELFMAG) == 0) {
    uint64_t phoff;
    unsigned phnum, phent;
    bool is64 = hdr[EI_CLASS] == ELFCLASS64;
    if (is64) {
      auto* eh = reinterpret_cast<Elf64_Ehdr*>(hdr);
      phoff = eh->e_phoff, phnum = eh->e_phnum, phent = eh->e_phentsize;
    } else {
      auto* eh = reinterpret_cast<Elf32_Ehdr*>(hdr);
      phoff = eh->e_phoff, phnum = eh->e_phnum, phent = eh->e_phentsize;
    }
    result = 1;
    for (unsigned i = 0; i < phnum && i < 128; i++) {
      unsigned char ph[64];
      if (sys::raw(SYS_pread64, fd, (long)ph, phent < sizeof ph ? phent : sizeof ph, (long)(phoff + i * phent)) <= 0)
        break;
      uint32_t type;
      uint64_t off, size;
      if (is64) {
        auto* p = reinterpret_cast<Elf64_Phdr*>(ph);
        type = p->p_type, off = p->p_offset, size = p->p_filesz;
      } else {
        auto* p = reinterpret_cast<Elf32_Phdr*>(ph);
        type = p->p_type, off = p->p_offset, size = p->p_filesz;
      }
      if (type == PT_INTERP) {
        // One the kernel would refuse (empty, too long, past the end of the
        // file: a stripped .debug file has those) makes no program.
        result = -ENOEXEC;
        if (size > 1 && size < in &&
            sys::raw(SYS_pread64, fd, (long)interp, (long)size, (long)off) == (long)size && interp[0]) {
          interp[size - 1] = 0;
          result = 0;
        }
        break;
      }
    }
  }
  // The caller reads the dynamic program again (sanitizer_needed): the
  // descriptor this opened, kept for it, saves a second open.
  if (fd_in < 0 && keep && result == 0) *keep = fd;
  else if (fd_in < 0) sys::raw(SYS_close, fd);
  return result;
}

// The sanitizer runtime among a dynamic ELF program's DT_NEEDED entries,
// into out (its name as the program needs it). pread only: vfork-safe.
// `file`, when given, receives the file's attributes and whether it is an
// ELF file (*elf): what exec's credentials are computed from.
// `search`, when given, receives the program's DT_RUNPATH (or, without
// one, its DT_RPATH) and *runpath which of the two it was ("" for none).
// *big_tls, when given, is set for a program that needs a library with
// more initial-exec TLS than the loader keeps spare under an audit module
// (audit_module): jemalloc, tcmalloc, a ThreadSanitizer or MemorySanitizer
// runtime.
bool sanitizer_needed(int fd, char* out, size_t n, struct statx* file = nullptr, bool* elf = nullptr,
                      char* search = nullptr, size_t sn = 0, bool* runpath = nullptr, bool* big_tls = nullptr) {
  if (search && sn) search[0] = 0;
  struct statx own;
  struct statx& sx = file ? *file : own;
  if (elf) *elf = false;
  if (sys::raw(SYS_statx, fd, (long)"", AT_EMPTY_PATH, file ? STATX_BASIC_STATS | STATX_BTIME : STATX_TYPE,
               (long)&sx) < 0 ||
      !S_ISREG(sx.stx_mode)) {
    if (file) sx.stx_mode = 0;
    return false;
  }
  Elf64_Ehdr eh;
  long head = sys::raw(SYS_pread64, fd, (long)&eh, sizeof eh, 0);
  if (elf) *elf = head >= SELFMAG && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0;
  if (head != (long)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64)
    return false;
  Elf64_Phdr ph[64];
  long want = (long)(eh.e_phnum * sizeof(Elf64_Phdr));
  if (sys::raw(SYS_pread64, fd, (long)ph, want, (long)eh.e_phoff) != want) return false;
  const Elf64_Phdr* dyn = nullptr;
  for (unsigned i = 0; i < eh.e_phnum; i++)
    if (ph[i].p_type == PT_DYNAMIC) dyn = &ph[i];
  if (!dyn) return false;
  Elf64_Dyn d[256];
  long dl = (long)(dyn->p_filesz < sizeof d ? dyn->p_filesz : sizeof d);
  long got = sys::raw(SYS_pread64, fd, (long)d, dl, (long)dyn->p_offset);
  if (got <= 0) return false;
  uint64_t strtab = 0;
  size_t count = (size_t)got / sizeof(Elf64_Dyn);
  for (size_t i = 0; i < count && d[i].d_tag != DT_NULL; i++)
    if (d[i].d_tag == DT_STRTAB) strtab = d[i].d_un.d_ptr;
  // The string table's file offset, from the segment that maps it.
  uint64_t stroff = 0;
  bool mapped = false;
  for (unsigned i = 0; i < eh.e_phnum && !mapped; i++)
    if (ph[i].p_type == PT_LOAD && strtab >= ph[i].p_vaddr && strtab < ph[i].p_vaddr + ph[i].p_filesz) {
      stroff = strtab - ph[i].p_vaddr + ph[i].p_offset;
      mapped = true;
    }
  if (!mapped) return false;
  if (search && sn > 1) {
    // RUNPATH wins over RPATH, as the loader takes them.
    int64_t tag = 0;
    uint64_t at = 0;
    for (size_t i = 0; i < count && d[i].d_tag != DT_NULL; i++)
      if (d[i].d_tag == DT_RUNPATH || (d[i].d_tag == DT_RPATH && tag != DT_RUNPATH)) {
        tag = d[i].d_tag;
        at = d[i].d_un.d_val;
      }
    if (tag) {
      long r = sys::raw(SYS_pread64, fd, (long)search, (long)sn - 1, (long)(stroff + at));
      search[r > 0 ? strnlen(search, (size_t)r) : 0] = 0;
      if (r > 0 && (size_t)r == sn - 1 && strnlen(search, sn - 1) == sn - 1) search[0] = 0;  // longer than sn: none
      if (runpath) *runpath = tag == DT_RUNPATH;
    }
  }
  // The names, one read for all that lie together at the string table's
  // start (where the linker puts them), one each for the others.
  uint64_t first = UINT64_MAX;
  for (size_t i = 0; i < count && d[i].d_tag != DT_NULL; i++)
    if (d[i].d_tag == DT_NEEDED && d[i].d_un.d_val < first) first = d[i].d_un.d_val;
  char names[2048];
  long have = first == UINT64_MAX ? 0 : sys::raw(SYS_pread64, fd, (long)names, sizeof names, (long)(stroff + first));
  for (size_t i = 0; i < count && d[i].d_tag != DT_NULL; i++) {
    if (d[i].d_tag != DT_NEEDED) continue;
    char name[64];
    uint64_t at = d[i].d_un.d_val - first;
    const void* end = at < (uint64_t)(have > 0 ? have : 0)
                          ? memchr(names + at, 0, (size_t)have - at)
                          : nullptr;
    if (end && (size_t)((const char*)end - (names + at)) < sizeof name) {
      memcpy(name, names + at, (size_t)((const char*)end - (names + at)) + 1);
    } else {
      long r = sys::raw(SYS_pread64, fd, (long)name, sizeof name - 1, (long)(stroff + d[i].d_un.d_val));
      if (r <= 0) continue;
      name[r] = 0;
    }
    size_t nl = strlen(name);
    if (big_tls && (!strncmp(name, "libjemalloc.", 12) || !strncmp(name, "libtcmalloc", 11) || strstr(name, "tsan") ||
                    strstr(name, "msan")))
      *big_tls = true;
    if (is_sanitizer_runtime(name, nl) && nl < n) {
      memcpy(out, name, nl + 1);
      return true;
    }
  }
  return false;
}

// sanitizer_needed for (dirfd, path) as execveat would take them.
bool sanitizer_needed_at(int dirfd, const char* path, int flags, char* out, size_t n, struct statx* file = nullptr,
                         bool* elf = nullptr, char* search = nullptr, size_t sn = 0, bool* runpath = nullptr,
                         bool* big_tls = nullptr) {
  if (search && sn) search[0] = 0;
  if (file) file->stx_mode = 0;
  long fd = (flags & AT_EMPTY_PATH) && (!path || !*path)
                ? dirfd
                : sys::raw(SYS_openat, dirfd, (long)path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |  // a fifo must not block
                                                            ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0));
  if (fd < 0) return false;
  bool r = sanitizer_needed((int)fd, out, n, file, elf, search, sn, runpath, big_tls);
  if (fd != dirfd) sys::raw(SYS_close, fd);
  return r;
}

namespace {

// arch-test's probes (which debootstrap runs through chroot to check that
// the target architecture executes) are tiny static programs that only
// print "ok": a static file identical to one of the host's probes is safe
// to run as it is.
bool is_arch_test_probe(const char* host, int fd_in) {
  long fd = fd_in >= 0 ? fd_in : sys::raw(SYS_openat, AT_FDCWD, (long)host, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char mine[16384];
  long n = sys::raw(SYS_pread64, fd, (long)mine, sizeof mine, 0);
  if (fd_in < 0) sys::raw(SYS_close, fd);
  if (n <= 0 || n == (long)sizeof mine) return false;
#if defined(__x86_64__)
  const char* probe = "/usr/lib/arch-test/amd64";
#elif defined(__aarch64__)
  const char* probe = "/usr/lib/arch-test/arm64";
#endif
  long pfd = sys::raw(SYS_openat, AT_FDCWD, (long)probe, O_RDONLY | O_CLOEXEC);
  if (pfd < 0) return false;
  char theirs[16384];
  long m = sys::raw(SYS_pread64, pfd, (long)theirs, sizeof theirs, 0);
  sys::raw(SYS_close, pfd);
  return m == n && memcmp(mine, theirs, n) == 0;
}

bool loader_option_takes_value(const char* v) {
  return !strcmp(v, "--library-path") || !strcmp(v, "--inhibit-rpath") || !strcmp(v, "--audit") ||
         !strcmp(v, "--preload") || !strcmp(v, "--argv0") || !strcmp(v, "--glibc-hwcaps-prepend") ||
         !strcmp(v, "--glibc-hwcaps-mask");
}

// The loader asked to list a program's libraries (ldd's --list, or
// LD_TRACE_LOADED_OBJECTS) prints host paths: cowroot-trace, beside the
// daemon, runs it and makes them inside paths. False when it is missing.
bool use_tracer(Plan* p, char** argv, char* const envp[]) {
  bool trace = false;
  for (char* const* e = envp; e && *e && !trace; e++)
    trace = strncmp(*e, "LD_TRACE_LOADED_OBJECTS=", 24) == 0 && (*e)[24];
  // The loader's options (ours first, then the program's), up to the program.
  for (char** a = argv + 1; *a && !trace && (*a)[0] == '-'; a++) {
    trace = strcmp(*a, "--list") == 0;
    if (loader_option_takes_value(*a) && a[1]) a++;
  }
  if (!trace) return false;
  return beside_daemon("cowroot-trace", p->tracer, sizeof p->tracer) &&
         sys::raw(SYS_faccessat, AT_FDCWD, (long)p->tracer, X_OK) == 0;
}

// The fake view (owner, group, mode) of the file `sx` describes.
Meta fake_view(const struct statx& sx) {
  Meta real;
  real.mode = sx.stx_mode;
  real.uid = sx.stx_uid;
  real.gid = sx.stx_gid;
  if (sx.stx_mask & STATX_BTIME) real.birth = {sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec};
  Key k{makedev(sx.stx_dev_major, sx.stx_dev_minor), sx.stx_ino};
  return view_of(k, real);
}

// Execute permission on the fake mode, for the fake user (root: some x bit).
int exec_permission(const struct statx& sx, bool passthrough) {
  return passthrough ? 0 : may(fake_view(sx), kMayExec, fs_cred());
}

// The credentials the program in `sx` starts with (setuid, setgid, file
// capabilities of its fake view).
void program_creds(Plan* p, const struct statx& sx) {
  if (p->as_root) root_exec_creds(&p->creds);
  else exec_creds(fake_view(sx), &p->creds);
  p->creds_set = true;
}

// The plan's last step: what to execve, and the session's environment.
int finish(Plan* p, const char* path, int dirfd, char** argv, char* const envp[], char** env_slots, size_t env_cap) {
  p->path = path;
  p->dirfd = dirfd;
  p->flags = 0;
  p->argv = argv;
  if (path == p->loader && use_tracer(p, argv, envp)) {
    p->path = p->tracer;  // argv stays the loader's: the tracer runs argv[0]
    p->dirfd = AT_FDCWD;
  }
  if (!exec_env(envp, env_slots, env_cap, p->strings, sizeof p->strings - (kScriptLevels + 1) * 512, p->exe, false,
                p->libstamp[0] && p->libtail ? p->libstamp : nullptr, p->libtail, p->comm[0] ? p->comm : nullptr,
                p->preload, p->creds_set ? &p->creds : nullptr,
                p->argvnote[0] && p->path != p->tracer ? p->argvnote : nullptr, p->argv0))
    return -E2BIG;
  p->envp = env_slots;
  if (p->path == p->tracer) {
    // The host's loader starting cowroot-trace would take the request to
    // trace as its own: it travels under another name, put back for the
    // root's loader.
    size_t n = 0;
    for (char** e = env_slots; *e; e++, n++)
      if (strncmp(*e, "LD_TRACE_LOADED_OBJECTS=", 24) == 0) *e += 3;  // "TRACE_LOADED_OBJECTS=…"
    // The loader run by name (ldd's way) names itself by its argv[0]: the
    // tracer gives it the caller's, not the host path it runs.
    if (p->tracename[0] && n + 1 < env_cap) {
      env_slots[n] = p->tracename;
      env_slots[n + 1] = nullptr;
    }
  }
  if (via_stub()) return confine::to_stub(p, env_slots, env_cap);
  // The session's first program where the launcher's child could not put
  // the filter on (confine_first_program): the root's loader goes through
  // the stub all the same, which makes the loader's own host paths lead
  // nowhere (ldpatch.h); the library confines the process when it starts.
  if (g_confine.plan_static && g_confine.stub[0] && p->path == p->loader && p->ldruns_known && p->ldruns[0])
    return confine::to_stub(p, env_slots, env_cap);
  return 0;
}

namespace {

// /proc/self/exe, /proc/thread-self/exe or /proc/PID/exe of this process
// (any task of it).
bool own_exe_link(const char* path) {
  if (strncmp(path, "/proc/", 6) != 0) return false;
  const char* q = path + 6;
  if (strncmp(q, "self/", 5) == 0) {
    q += 4;
  } else if (strncmp(q, "thread-self/", 12) == 0) {
    q += 11;
  } else {
    long pid = 0;
    if (*q < '0' || *q > '9') return false;
    while (*q >= '0' && *q <= '9') pid = pid * 10 + (*q++ - '0');
    if (pid != sys::raw(SYS_getpid)) return false;
  }
  if (strncmp(q, "/task/", 6) == 0) {
    q += 6;
    if (*q < '0' || *q > '9') return false;
    while (*q >= '0' && *q <= '9') q++;
  }
  return strcmp(q, "/exe") == 0;
}

// Puts the host paths of the directories in `list` (inside paths, ':' or
// ';' between them) before p->libpath. Entries that are not absolute, and
// those with a $ORIGIN, $LIB or $PLATFORM that the loader expands itself
// (from the program's host path: inside the root already), are left out.
void prepend_dirs(Plan* p, const char* list) {
  char extra[8192];
  size_t used = 0;
  for (const char* q = list; *q;) {
    const char* c = q;
    bool dollar = false;
    while (*c && *c != ':' && *c != ';') dollar |= *c++ == '$';
    if (c > q && *q == '/' && !dollar && (size_t)(c - q) < kPathMax) {
      PathBuf one;
      memcpy(one, q, c - q);
      one[c - q] = 0;
      Resolved rr;
      if (resolve(AT_FDCWD, one, kFollow | kForExec, &rr) == 0) {
        size_t l = strlen(rr.path);
        if (used + l + 2 < sizeof extra) {
          memcpy(extra + used, rr.path, l);
          used += l;
          extra[used++] = ':';
        }
      }
    }
    q = *c ? c + 1 : c;
  }
  size_t ll = strlen(p->libpath);
  if (used && used + ll + 1 < sizeof p->libpath) {
    memmove(p->libpath + used, p->libpath, ll + 1);
    memcpy(p->libpath, extra, used);
    if (ll == 0) p->libpath[used - 1] = 0;
  }
}

}  // namespace

// The loader's --library-path for a program: the library path the
// program asked for (LD_LIBRARY_PATH, inside paths) first, then the root's
// (remembered, see cached_library_path); p->libtail is the root's part.
// The program's own DT_RUNPATH or DT_RPATH (`search`, absolute inside
// paths such as sudo's /usr/libexec/sudo) would be opened by the loader as
// host paths: their host paths go where the loader searches them, RPATH
// before LD_LIBRARY_PATH, RUNPATH after it.
// Its own frame: the buffers are on the stack only while it runs.
// A directory the program's own path names (LD_LIBRARY_PATH, its RUNPATH)
// that is one of the root's: the loader's links (ldconf.cc), in the root's
// part of the path, go in before it too (its absolute links would be
// followed on the host).
void links_before_own_dirs(Plan* p, size_t root_lp) {
  size_t total = strlen(p->libpath);
  char* root = p->libpath + (total - root_lp);
  const char* lk = strstr(root, kLinksName);
  if (root == p->libpath || !lk) return;
  const char* ls = lk;
  while (ls > root && ls[-1] != ':') ls--;
  const char* le = strchr(lk, ':');
  size_t ll = le ? (size_t)(le - ls) : strlen(ls);
  PathBuf links;
  if (ll >= sizeof links || total + ll + 2 > sizeof p->libpath) return;
  memcpy(links, ls, ll);
  for (char* q = p->libpath; q < root;) {
    char* c = strchr(q, ':');
    if (!c) return;
    size_t ql = (size_t)(c - q);
    for (const char* r = root; *r;) {
      const char* rc = strchr(r, ':');
      size_t rl = rc ? (size_t)(rc - r) : strlen(r);
      if (rl == ql && memcmp(r, q, ql) == 0) {
        memmove(q + ll + 1, q, strlen(q) + 1);
        memcpy(q, links, ll);
        q[ll] = ':';
        return;
      }
      r = rc ? rc + 1 : r + rl;
    }
    q = c + 1;
  }
}

// The loader's audit module (preload/audit/audit.cc: a library's own
// absolute RUNPATH or RPATH made the root's), for a program whose own
// RUNPATH or RPATH (`search`) names an absolute directory: a vendor tree
// (/opt/..., sudo's /usr/libexec/sudo), whose libraries and plugins name
// theirs. Only there: with an audit module the loader sets up static TLS
// before it loads the program's libraries, which then share a small
// surplus (about 1.8 KiB in glibc 2.36): jemalloc's 2.6 KiB, as redis
// links it, or a ThreadSanitizer runtime's would not load.
// nullptr where the module is not beside the daemon (a tree without it:
// the loader would say so at every exec) or its path has a ':' (--audit
// splits there). Looked for once per process, and by its children. Not
// for a program whose GLIBC_TUNABLES sets glibc.rtld.nns: an audit module
// takes a namespace of its own, and at the tunable's maximum the loader
// refuses to start. Not for one that needs a library known to want more
// static TLS (big_tls, from its DT_NEEDED), nor where COWROOT_AUDIT=0.
const char* audit_module(char* const envp[], const char* search, bool big_tls) {
  if (big_tls) return nullptr;
  bool asked = false;  // COWROOT_AUDIT=1: a library of its start took a host file without it (init.cc)
  for (char* const* e = envp; e && *e; e++) {
    if ((*e)[0] == 'G' && strncmp(*e, "GLIBC_TUNABLES=", 15) == 0 && strstr(*e + 15, "glibc.rtld.nns")) return nullptr;
    if ((*e)[0] == 'C' && strcmp(*e, "COWROOT_AUDIT=0") == 0) return nullptr;
    if ((*e)[0] == 'C' && strncmp(*e, "COWROOT_AUDIT=1", 15) == 0 && ((*e)[15] == 0 || (*e)[15] == ':')) asked = true;
  }
  if (!asked && !has_absolute_entry(search)) return nullptr;
  static std::atomic<int> state{0};  // 0 unknown, 1 there, -1 not
  static char path[kPathMax];
  int s = state.load(std::memory_order_acquire);
  if (s == 0) {
    char p[kPathMax];
    struct statx sx;
    s = beside_daemon("cowroot-audit.so", p, sizeof p) && !strchr(p, ':') &&
                sys::raw(SYS_statx, AT_FDCWD, (long)p, 0, STATX_TYPE, (long)&sx) == 0 && S_ISREG(sx.stx_mode)
            ? 1
            : -1;
    if (s == 1) memcpy(path, p, strlen(p) + 1);
    state.store(s, std::memory_order_release);
  }
  return s == 1 ? path : nullptr;
}

// --preload's value: the library, then the root's own preload list (which
// the loader would have read after LD_PRELOAD and --preload), each
// absolute name made the host path it leads to now (one the root lacks,
// the host path it would have: the loader says it cannot preload it, and
// goes on); other names as they are (a bare one the loader looks for
// along the root's library path, a relative one from the program's
// working directory, $ORIGIN from its file: all inside the root). The
// loader splits the list at ' ' and ':': a host path with either is left
// out, and said.
const char* preload_value(Plan* p) {
  if (!p->rootpreload[0]) return g_session.lib;
  size_t w = strlen(g_session.lib);
  if (w + 1 > sizeof p->preloadarg) return g_session.lib;
  memcpy(p->preloadarg, g_session.lib, w + 1);
  for (const char* n = p->rootpreload; *n;) {
    const char* e = strchr(n, ':');
    size_t nl = e ? (size_t)(e - n) : strlen(n);
    PathBuf name;
    if (nl >= sizeof name) break;
    memcpy(name, n, nl);
    name[nl] = 0;
    n += nl + (e ? 1 : 0);
    const char* ent = name;
    Resolved r;
    if (name[0] == '/') {
      if (resolve(AT_FDCWD, name, kFollow | kForExec, &r) == 0 && r.path[0] == '/') ent = r.path;
      else if (host_unwalked(name, r.buf, sizeof r.buf)) ent = r.buf;
      else continue;
      if (strpbrk(ent, " :")) {
        say(name, " (/etc/ld.so.preload): its host path ", ent,
            " has a space or ':', which the loader's --preload cannot take: not preloaded");
        continue;
      }
    }
    size_t el = strlen(ent);
    if (w + 1 + el + 1 > sizeof p->preloadarg) break;
    p->preloadarg[w++] = ':';
    memcpy(p->preloadarg + w, ent, el + 1);
    w += el;
  }
  return p->preloadarg;
}

__attribute__((noinline)) int plan_library_path(Plan* p, char* const envp[], const char* search, bool runpath,
                                                 bool audited) {
  if (!cached_library_path(p->libpath, sizeof p->libpath, p->libstamp, sizeof p->libstamp, p->rootpreload,
                           sizeof p->rootpreload))
    return -E2BIG;
  size_t root_lp = strlen(p->libpath);
  // A RUNPATH serves the program's own DT_NEEDED only, not its libraries'
  // (a vendor library that needs another from the program's directory
  // fails to load in a real root): where the audit module runs, it hands
  // the loader the RUNPATH's candidates in the root, so the RUNPATH stays
  // out of the path every object's dependencies are searched along.
  if (search && *search && runpath && !audited) prepend_dirs(p, search);
  for (char* const* e = envp; e && *e; e++)
    if (strncmp(*e, "LD_LIBRARY_PATH=", 16) == 0) prepend_dirs(p, *e + 16);
  if (search && *search && !runpath) prepend_dirs(p, search);
  links_before_own_dirs(p, root_lp);
  p->libtail = p->libpath + (strlen(p->libpath) - root_lp);
  return 0;
}

// Where a program's ELF interpreter (/lib64/ld-linux-x86-64.so.2, two
// symlinks in a merged-/usr root) leads in the root: walked once, then
// taken again while the file it found is the same (device, inode and
// change time, from the statx exec makes of the loader anyway) and the root
// is. Replacing or moving the loader changes its change time. One entry per
// process; `seq` is odd while a writer fills it (threads, a vfork child
// writing its parent's copy).
// The interpreter's own entry (the first link, /lib64/ld-linux-x86-64.so.2
// itself) is looked at too, without following it: the link made to lead
// elsewhere is a new link. (A link further on changed while the file it led
// to stays is not seen: none in a Debian root is.)
struct InterpCache {
  std::atomic<unsigned> seq;
  uint64_t root;
  FileId loader, entry;
  char interp[256];
  PathBuf host;
};
constinit InterpCache g_interp{};

// The interpreter's own entry, its name's host path not walked, without
// following it.
bool interp_entry(const char* interp, struct statx* sx) {
  PathBuf at;
  return host_unwalked(interp, at, sizeof at) &&
         sys::raw(SYS_statx, AT_FDCWD, (long)at, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_INO | STATX_CTIME, (long)sx) == 0;
}

// The remembered host path of `interp` in `out`, with the statx of it, when
// it still leads to the same file.
bool interp_cached(const char* interp, uint64_t root, char* out, size_t n, struct statx* lx) {
  if (interp[0] != '/') return false;  // the working directory's
  unsigned s = g_interp.seq.load(std::memory_order_acquire);
  if ((s & 1) || s == 0) return false;
  size_t il = strnlen(interp, sizeof g_interp.interp);
  if (il >= sizeof g_interp.interp || memcmp(g_interp.interp, interp, il + 1) != 0) return false;
  size_t hl = strnlen(g_interp.host, sizeof g_interp.host);
  if (hl >= n || hl >= sizeof g_interp.host) return false;
  memcpy(out, g_interp.host, hl + 1);
  uint64_t r = g_interp.root;
  FileId loader = g_interp.loader, entry = g_interp.entry;
  std::atomic_thread_fence(std::memory_order_acquire);
  if (g_interp.seq.load(std::memory_order_relaxed) != s || r != root) return false;
  struct statx e;
  if (!interp_entry(interp, &e) || !(FileId::of(e) == entry)) return false;
  if (sys::raw(SYS_statx, AT_FDCWD, (long)out, 0, STATX_TYPE | STATX_INO | STATX_CTIME, (long)lx) < 0) return false;
  return S_ISREG(lx->stx_mode) && FileId::of(*lx) == loader;
}

void interp_remember(const char* interp, uint64_t root, const char* host, const struct statx& lx) {
  size_t il = strlen(interp), hl = strlen(host);
  if (interp[0] != '/' || il >= sizeof g_interp.interp || hl >= sizeof g_interp.host) return;
  struct statx e;
  if (!interp_entry(interp, &e)) return;
  // The host's own walk of that name must come to the entry the walk
  // through the root does (not so under a bind, or past an absolute link,
  // which the kernel would follow on the host): else it says nothing.
  Resolved er;
  struct statx w;
  if (resolve(AT_FDCWD, interp, kForExec, &er) != 0 ||
      sys::raw(SYS_statx, er.dirfd, (long)er.path, AT_SYMLINK_NOFOLLOW, STATX_INO, (long)&w) < 0 ||
      w.stx_ino != e.stx_ino || w.stx_dev_major != e.stx_dev_major || w.stx_dev_minor != e.stx_dev_minor)
    return;
  unsigned s = g_interp.seq.load(std::memory_order_relaxed);
  if ((s & 1) || !g_interp.seq.compare_exchange_strong(s, s + 1, std::memory_order_acquire)) return;
  std::atomic_thread_fence(std::memory_order_release);
  memcpy(g_interp.interp, interp, il + 1);
  memcpy(g_interp.host, host, hl + 1);
  g_interp.root = root;
  g_interp.loader = FileId::of(lx);
  g_interp.entry = FileId::of(e);
  g_interp.seq.store(s + 2, std::memory_order_release);
}

// The root's dynamic loader itself, run as a program (elfmap.h's naming rule).
bool is_elf_interpreter(const char* host) { return cr::elf::is_loader_name(host); }

// One line for a program whose loader cannot be served, naming the root.
void refuse_loader(const char* exe, const char* interp, const char* why) {
  char msg[1024];
  size_t l = 0;
  for (const char* part : {": cannot run it in the root ", g_root_label ? g_root_label : (const char*)g_root.top,
                           ": its ELF interpreter ", interp,
                           " "}) {
    size_t pl = strnlen(part, sizeof msg - 1 - l);
    memcpy(msg + l, part, pl);
    l += pl;
  }
  msg[l] = 0;
  say(exe, msg, why);
}

// COWROOT_ARGV for the program the loader starts: where its arguments are
// in the argument block the kernel gave the loader (the byte offset of the
// string argv[0] will point to, the block's length, its count of strings),
// and argv[0] itself when the loader could not be given it (no --argv0).
// The library moves the program's strings to the block's start when it
// starts (init.cc): /proc/PID/cmdline shows the program's own command line
// (ps -f, pgrep -f, pidof), not the loader's.
void note_argv(Plan* p, char** la, bool given, const char* argv0) {
  size_t off0 = 0, total = 0, n = 0, before = 0;
  bool found = false;
  for (char** a = la; *a; a++, n++) {
    size_t l = strlen(*a) + 1;
    if (!found && (given ? a == la + 2 : *a == p->host)) {
      off0 = before;
      found = true;
    }
    before += l;
    total += l;
  }
  p->argvnote[0] = 0;
  if (!found) return;
  char* o = p->argvnote;
  for (size_t v : {off0, total, n}) {
    char d[24];
    int k = 0;
    do d[k++] = (char)('0' + v % 10); while (v /= 10);
    while (k) *o++ = d[--k];
    *o++ = ' ';
  }
  // An argv[0] too long for the plan's environment space stays the path the
  // loader was given (as without this note).
  bool carry = !given && strlen(argv0) < 2048;
  o[-1] = carry ? '=' : 0;
  *o = 0;
  p->argv0 = carry ? argv0 : "";
}

// `LOADER [OPTION...] PROGRAM ARGS`, as a program inside runs it: the
// loader gets the session's own options first (the root's libraries, never
// the host's cache, the library preloaded), and PROGRAM, an inside path,
// becomes its host path.
// A list of paths (entries split at any of `seps`) with each absolute one
// made the root's host path (resolved in the root; one that is not there,
// its name under the root's top), appended to buf at *used: the copy, or
// nullptr when buf is full.
const char* host_list(const char* list, const char* seps, char* buf, size_t n, size_t* used) {
  char* start = buf + *used;
  size_t w = *used;
  auto put = [&](const char* s, size_t l) {
    if (w + l + 1 >= n) return false;
    memcpy(buf + w, s, l);
    w += l;
    buf[w] = 0;
    return true;
  };
  for (const char* p = list;;) {
    const char* q = p;
    while (*q && !strchr(seps, *q)) q++;
    size_t el = q - p;
    PathBuf ent, host;
    const char* out = p;
    size_t ol = el;
    if (el && p[0] == '/' && el < sizeof ent) {
      memcpy(ent, p, el);
      ent[el] = 0;
      Resolved r;
      if (resolve(AT_FDCWD, ent, kFollow, &r) == 0 && r.dirfd == AT_FDCWD && r.path[0] == '/') {
        out = r.path;
        ol = strlen(r.path);
      } else if (host_unwalked(ent, host, sizeof host)) {
        out = host;
        ol = strlen(host);
      }
      if (!put(out, ol)) return nullptr;
    } else if (!put(out, ol)) {
      return nullptr;
    }
    if (!*q) break;
    if (!put(q, 1)) return nullptr;
    p = q + 1;
  }
  if (w + 1 >= n) return nullptr;
  buf[w] = 0;
  *used = w + 1;
  return start;
}

int plan_loader_run(Plan* p, char** a, char* const envp[], char** env_slots, size_t env_cap) {
  size_t argc = argv_count(a);
  if (argc + 10 > sizeof p->args / sizeof p->args[0] - 1) return -E2BIG;
  struct statx lx;
  const char* why = nullptr;
  int caps = sys::raw(SYS_statx, AT_FDCWD, (long)p->host, 0, STATX_TYPE | STATX_INO | STATX_CTIME, (long)&lx) == 0
                 ? loader_caps(p->host, lx, &why, p->ldruns)
                 : -1;
  if (caps < 0) {
    refuse_loader(p->exe, a[0], why ? why : "cannot be read");
    return -EACCES;
  }
  p->ldruns_known = true;
  // The program the loader is to run: its RUNPATH or RPATH, as for a
  // program run by name (ldd lists what it would load).
  char search[1024] = "";
  bool runpath = false, big_tls = false;
  for (size_t i = 1; i < argc; i++) {
    if (a[i][0] == '-' && a[i][1] == '-') {
      if (loader_option_takes_value(a[i])) i++;
      continue;
    }
    Resolved r;
    char unused[8];
    if (resolve(AT_FDCWD, a[i], kFollow, &r) == 0)
      sanitizer_needed_at(r.dirfd, r.path, 0, unused, sizeof unused, nullptr, nullptr, search, sizeof search, &runpath,
                          &big_tls);
    break;
  }
  const char* am = (caps & kLoaderAudit) ? audit_module(envp, search, big_tls) : nullptr;
  if (int e = plan_library_path(p, envp, search, runpath, am != nullptr)) return e;
  memcpy(p->loader, p->host, strlen(p->host) + 1);
  // The program as it was named, and whether the caller gave --argv0: the
  // loader would give the program its name as given (its host path now).
  const char* named = nullptr;
  bool own_argv0 = false;
  for (size_t i = 1; i < argc; i++) {
    if (a[i][0] == '-' && a[i][1] == '-') {
      if (!strcmp(a[i], "--argv0")) own_argv0 = true;
      if (loader_option_takes_value(a[i])) i++;
      continue;
    }
    named = a[i];
    break;
  }
  bool add_argv0 = named && !own_argv0 && (caps & kLoaderArgv0);
  char** out = p->args;
  size_t k = 0;
  out[k++] = p->loader;
  if (add_argv0) {
    out[k++] = const_cast<char*>("--argv0");
    out[k++] = const_cast<char*>(named);
  }
  out[k++] = const_cast<char*>("--inhibit-cache");
  out[k++] = const_cast<char*>("--library-path");
  out[k++] = p->libpath;
  if (caps & kLoaderPreload) {
    out[k++] = const_cast<char*>("--preload");
    out[k++] = const_cast<char*>(preload_value(p));
  }
  if (am) {
    out[k++] = const_cast<char*>("--audit");
    out[k++] = const_cast<char*>(am);
  }
  // `a` may be this plan's own array, further on: each entry is read before
  // the output, at most eight slots behind, reaches it.
  bool program_seen = false;
  size_t ov = 0;
  for (size_t i = 1; i < argc; i++) {
    const char* v = a[i];
    if (!program_seen && v[0] == '-' && v[1] == '-') {
      out[k++] = a[i];
      if (loader_option_takes_value(v) && i + 1 < argc) {
        const char* val = a[++i];
        // The program's own search directories, preloads and audit modules
        // name inside paths: the loader gets their host paths in the root
        // (it would have opened the host's files).
        const char* seps = !strcmp(v, "--library-path") ? ":;" : !strcmp(v, "--preload") ? ": " :
                           !strcmp(v, "--audit") ? ":" : nullptr;
        if (seps) {
          const char* t = host_list(val, seps, p->optvals, sizeof p->optvals, &ov);
          if (!t) return -E2BIG;
          val = t;
          // The last --library-path is the loader's: the root's directories
          // after the program's, as the loader searches its cache and
          // default directories after it in a real root.
          if (!strcmp(v, "--library-path")) {
            size_t tl = strlen(t), ll = strlen(p->libpath);
            if (ov + ll + 1 >= sizeof p->optvals) return -E2BIG;
            if (tl) p->optvals[ov - 1] = ':';  // (none empty: "" would be the working directory)
            memcpy(p->optvals + ov - (tl ? 0 : 1), p->libpath, ll + 1);
            ov += ll + (tl ? 1 : 0);
          }
        }
        out[k++] = const_cast<char*>(val);
      }
      continue;
    }
    if (!program_seen) {
      program_seen = true;
      Resolved r;
      if (resolve(AT_FDCWD, v, kFollow, &r) == 0 && strlen(r.path) < sizeof p->host) {
        memmove(p->host, r.path, strlen(r.path) + 1);  // the loader's path is in p->loader now
        out[k++] = p->host;
        continue;
      }
    }
    out[k++] = a[i];
  }
  out[k] = nullptr;
  // What ps and pgrep show: the program's command line, as for a program
  // the loader starts unasked (the loader's, of host paths, before), and
  // the loader's name as the caller gave it (the kernel's would be).
  if (named && !own_argv0) note_argv(p, out, add_argv0, named);
  {
    const char* name = base_name(a[0] && *a[0] ? a[0] : p->loader);
    size_t cl = strnlen(name, sizeof p->comm - 1);
    memcpy(p->comm, name, cl);
    p->comm[cl] = 0;
  }
  to_inside(p->loader, p->exe, sizeof p->exe);  // what /proc/self/exe names, as natively
  static const char kTraceName[] = "COWROOT_TRACE_ARGV0=";
  if (a[0] && strlen(a[0]) + sizeof kTraceName <= sizeof p->tracename) {
    memcpy(p->tracename, kTraceName, sizeof kTraceName - 1);
    memcpy(p->tracename + sizeof kTraceName - 1, a[0], strlen(a[0]) + 1);
  }
  return finish(p, p->loader, AT_FDCWD, out, envp, env_slots, env_cap);
}

// A static program, confined (wrap/static.cc): the dynamic loader runs
// the library as its program, which maps the static program into its
// process and serves its system calls. The host's loader and libc: the
// library is built for them.
//   LOADER --library-path "" LIBRARY PROGRAM ARGV...
// run_argv has room for five entries in front of it.
int plan_static(Plan* p, char** run_argv, int fd_direct, char* const envp[], char** env_slots, size_t env_cap) {
#if defined(__x86_64__)
  static const char kHostLoader[] = "/lib64/ld-linux-x86-64.so.2";
#elif defined(__aarch64__)
  static const char kHostLoader[] = "/lib/ld-linux-aarch64.so.1";
#endif
  memcpy(p->loader, kHostLoader, sizeof kHostLoader);
  // By descriptor: the library opens /proc/self/fd/N after the exec.
  if (fd_direct >= 0) sys::raw(SYS_fcntl, fd_direct, F_SETFD, 0);
  char** la = run_argv - 5;
  la[0] = p->loader;
  la[1] = const_cast<char*>("--library-path");
  la[2] = const_cast<char*>("");
  la[3] = g_session.lib;
  la[4] = p->host;
  if (int e = finish(p, p->loader, AT_FDCWD, la, envp, env_slots, env_cap)) return e;
  // The library is the loader's program: not preloaded a second time
  // (the static program has no use for LD_PRELOAD; what it starts gets it
  // back).
  size_t k = 0;
  for (size_t i = 0; env_slots[i]; i++)
    if (strncmp(env_slots[i], "LD_PRELOAD=", 11) != 0) env_slots[k++] = env_slots[i];
  env_slots[k] = nullptr;
  return 0;
}

}  // namespace

size_t env_count(char* const envp[]) {
  size_t n = 0;
  for (char* const* e = envp; e && *e; e++) n++;
  return n;
}

size_t argv_count(char* const argv[]) {
  size_t n = 0;
  for (char* const* a = argv; a && *a; a++) n++;
  return n;
}

namespace {
// "/dev/fd/N", or "/dev/fd/N/NAME" with a name, into out: false when it
// does not fit.
bool dev_fd_name(int fd, const char* name, char* out, size_t n) {
  char link[32];
  size_t ll = sys::proc_fd_path(fd, link) - 14;  // "/proc/self/fd/N": N
  size_t nl = name ? strlen(name) + 1 : 0;
  if (8 + ll + nl + 1 > n) return false;
  memcpy(out, "/dev/fd/", 8);
  memcpy(out + 8, link + 14, ll);
  if (name) out[8 + ll] = '/', memcpy(out + 8 + ll + 1, name, nl - 1);
  out[8 + ll + nl] = 0;
  return true;
}
}  // namespace

int plan_exec(Plan* p, int dirfd, const char* path, char* const argv[], char* const envp[], int flags,
              char** env_slots, size_t env_cap, char** argv_slots, size_t argv_cap) {
  // An empty argument vector: the kernel gives the program one empty
  // argument (Linux 5.18 on), and so does the plan (the loader's options
  // would otherwise take the program's place).
  static char empty_arg[1] = "";
  static char* const no_args[] = {empty_arg, nullptr};
  if (!argv || !argv[0]) argv = no_args;
  p->dirfd = dirfd;
  p->path = path;
  p->flags = flags;
  p->argv = const_cast<char**>(argv);
  p->exe[0] = 0;
  p->libstamp[0] = 0;
  p->rootpreload[0] = 0;
  p->comm[0] = 0;
  p->argvnote[0] = 0;
  p->tracename[0] = 0;
  p->argv0 = "";
  p->libtail = nullptr;
  p->mode = 'P';
  p->ldruns_known = false;
  p->stub_fd = -1;
  // fakechroot's FAKECHROOT_CMD_SUBST=name=host-program:...: that command
  // runs as the host program named instead, seeing the host's file system,
  // with FAKECHROOT_CMD_ORIG saying what was asked for (and not again
  // inside it).
  if (g_session.fakechroot && path && *path && !getenv("FAKECHROOT_CMD_ORIG")) {
    const char* subst = getenv("FAKECHROOT_CMD_SUBST");
    const char* want = strncmp(path, "./", 2) == 0 ? path + 2 : path;
    size_t pl = strlen(want);
    for (const char* q = subst; q && *q;) {
      const char* e = strchr(q, ':');
      if (!e) e = q + strlen(q);
      const char* eq = static_cast<const char*>(memchr(q, '=', e - q));
      if (eq && (size_t)(eq - q) == pl && memcmp(q, want, pl) == 0 && (size_t)(e - eq - 1) < sizeof p->host) {
        memcpy(p->host, eq + 1, e - eq - 1);
        p->host[e - eq - 1] = 0;
        p->path = p->host;
        p->dirfd = AT_FDCWD;
        p->flags = 0;
        size_t n = env_count(envp);
        if (n + exec_env_extra() + 2 > env_cap) return -E2BIG;
        if (!exec_env(envp, env_slots, env_cap - 1, p->strings, sizeof p->strings - 4096, nullptr, true)) return -E2BIG;
        size_t k = env_count(env_slots);
        char* orig = p->strings + sizeof p->strings - 4096;
        size_t ol = strlen(path);
        if (ol + 20 > 4096) return -E2BIG;
        memcpy(orig, "FAKECHROOT_CMD_ORIG=", 20);
        memcpy(orig + 20, path, ol + 1);
        env_slots[k] = orig;
        env_slots[k + 1] = nullptr;
        p->envp = env_slots;
        if (via_stub()) {
          // The stub maps ELF programs only: a substitute that is a script
          // starts its interpreter (a host path too), as the kernel would.
          char* interp = p->interp[0];
          char* arg = p->interp[1];
          int kind = inspect_program(p->host, -1, interp, sizeof p->interp[0], arg, sizeof p->interp[1]);
          if (kind == 2) {
            size_t rest = argv && argv[0] ? argv_count(argv + 1) : 0;
            size_t cap = sizeof p->args / sizeof p->args[0];
            char** na = rest + 4 <= cap ? p->args : argv_slots;
            if (na == argv_slots && rest + 4 > argv_cap) return -E2BIG;
            size_t k = 0;
            na[k++] = interp;
            if (*arg) na[k++] = arg;
            na[k++] = p->host;
            for (size_t i = 0; i < rest; i++) na[k++] = argv[i + 1];
            na[k] = nullptr;
            p->argv = na;
            p->path = interp;
            char ii[8], ia[8];  // only whether it is static is wanted
            kind = inspect_program(interp, -1, ii, sizeof ii, ia, sizeof ia);
          }
          if (kind == 1) p->mode = 'H';
          return confine::to_stub(p, env_slots, env_cap);
        }
        return 0;
      }
      q = *e ? e + 1 : e;
    }
  }

  // `fakeroot CMD` inside a session (cowroot is fakeroot already): CMD runs
  // in this session, as a nested fakeroot would wish to, after fakeroot's
  // own options, as root whoever started it (a build user's
  // `dpkg-buildpackage -rfakeroot`); with no CMD, the caller's $SHELL or
  // /bin/sh. Through env, which searches PATH as fakeroot's exec would.
  // Its -s and -i are not needed: the session keeps one fake state, in
  // which a later fakeroot finds what an earlier one did.
  {
    const char* b = strrchr(path ? path : "", '/');
    b = b ? b + 1 : path;
    if (b && (!strcmp(b, "fakeroot") || !strcmp(b, "fakeroot-sysv") || !strcmp(b, "fakeroot-tcp")) && argv && argv[0]) {
      size_t i = 1;
      for (; argv[i]; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--")) {
          i++;
          break;
        }
        if (a[0] != '-') break;
        bool takes = !strcmp(a, "-l") || !strcmp(a, "--lib") || !strcmp(a, "--faked") || !strcmp(a, "-s") ||
                     !strcmp(a, "-i") || !strcmp(a, "-b") || !strcmp(a, "--fd-base");
        if (takes && argv[i + 1]) i++;
      }
      static const char* const env_path = "/usr/bin/env";
      char* shell[2] = {const_cast<char*>("/bin/sh"), nullptr};
      for (char* const* e = envp; !argv[i] && e && *e; e++)
        if (strncmp(*e, "SHELL=", 6) == 0 && (*e)[6]) shell[0] = *e + 6;
      char* const* cmd = argv[i] ? argv + i : shell;
      size_t rest = argv_count(cmd);
      if (rest + 2 > argv_cap) return -E2BIG;
      argv_slots[0] = const_cast<char*>("env");
      for (size_t k = 0; k <= rest; k++) argv_slots[k + 1] = cmd[k];
      p->as_root = true;
      return plan_exec(p, dirfd, env_path, argv_slots, envp, 0, env_slots, env_cap, argv_slots + rest + 2,
                       argv_cap - rest - 2);
    }
  }

  p->preload[0] = 0;
  p->creds_set = false;
  if (!g_root.active && !g_confine.active && !g_confine.plan_static) {
    // The kernel runs the file itself: its fake mode decides who may, and
    // who the program runs as (a script's own setuid bit counts for nothing).
    Resolved r;
    if (path && *path)
      if (int e = resolve(dirfd, path, kFollow, &r)) return e;
    struct statx sx;
    bool elf;
    sanitizer_needed_at(dirfd, path, flags, p->preload, sizeof p->preload, &sx, &elf);
    if (S_ISREG(sx.stx_mode)) {
      if (int e = exec_permission(sx, r.passthrough)) return e;
      if (elf) program_creds(p, sx);
    }
    if (!exec_env(envp, env_slots, env_cap, p->strings, sizeof p->strings, nullptr, false, nullptr, nullptr, nullptr,
                  p->preload, p->creds_set ? &p->creds : nullptr))
      return -E2BIG;
    p->envp = env_slots;
    return 0;
  }

  // Inside a root: find the file the kernel would run, following #! lines.
  size_t argc = argv_count(argv);
  char** args = argc + kArgvRoom <= sizeof p->args / sizeof p->args[0] ? p->args : argv_slots;
  size_t args_cap = args == p->args ? sizeof p->args / sizeof p->args[0] : argv_cap;
  if (argc + kArgvRoom > args_cap) return -E2BIG;
  // args[lead..] is the argument vector after the #! interpreters.
  size_t lead = kArgvRoom - 2;  // room in front: 2 per #! level and 10 for the loader
  for (size_t i = 0; i < argc; i++) args[lead + i] = argv[i];
  args[lead + argc] = nullptr;
  const char* name = path;  // the name being executed, as the program gave it
  int nd = dirfd;
  int nflags = flags;
  int fd_direct = -1, read_fd = -1;
  const char* argv0 = argc ? argv[0] : path;
  int kind = -ENOEXEC;
  int last_slot = 0;
  // The dynamic program's descriptor, which inspect_program opened: read
  // again below for its DT_NEEDED and RUNPATH, closed on every way out.
  struct Kept {
    long fd = -1;
    ~Kept() {
      if (fd >= 0) sys::raw(SYS_close, fd);
    }
  } kept;
  for (int depth = 0;; depth++) {
    if (depth > kScriptLevels) return -ELOOP;
    bool passthrough = false;
    if ((nflags & AT_EMPTY_PATH) && (!name || !*name)) {
      // fexecve: the descriptor is the program.
      sys::proc_fd_path(nd, p->host);
      fd_direct = nd;
    } else {
      Resolved r;
      if (int e = resolve(nd, name, ((nflags & AT_SYMLINK_NOFOLLOW) ? 0 : kFollow) | kForExec, &r)) return e;
      passthrough = r.passthrough;
      // /proc/self/exe names the root's loader to the kernel: the program
      // re-executing itself means its own file.
      if (r.path[0] == '/' && proc_exe_inside(r.path, p->exe, sizeof p->exe)) {
        if (int e = resolve(AT_FDCWD, p->exe, kFollow, &r)) return e;
      } else if (!g_root.active && own_exe_link(r.path)) {
        // A program the launcher started itself (not through the stub, so
        // with no name of its own to give): the kernel's link, taken here,
        // as in the stub it would name the stub.
        long n = sys::raw(SYS_readlinkat, AT_FDCWD, (long)r.path, (long)p->exe, sizeof p->exe - 1);
        if (n <= 0 || p->exe[0] != '/') return -ENOENT;
        p->exe[n] = 0;
        r.path = p->exe;
        r.dirfd = AT_FDCWD;
      }
      size_t hl = strlen(r.path);  // a name passed through as given may be any length
      if (hl + 1 > sizeof p->host) return -ENAMETOOLONG;
      memcpy(p->host, r.path, hl + 1);
      nd = r.dirfd;
      fd_direct = -1;
      if (nd != AT_FDCWD && p->host[0] != '/') {
        // A name relative to a directory descriptor (execveat): the
        // loader, and whatever runs it, takes it by the directory's name.
        char link[32];
        sys::proc_fd_path(nd, link);
        PathBuf dir;
        long n = sys::raw(SYS_readlinkat, AT_FDCWD, (long)link, (long)dir, sizeof dir - 1);
        struct statx by_fd, by_name;
        if (n > 0 && dir[0] == '/' && (size_t)n + 1 + hl + 1 <= sizeof p->host &&
            sys::raw(SYS_statx, nd, (long)p->host, AT_SYMLINK_NOFOLLOW, STATX_INO, (long)&by_fd) == 0) {
          memmove(p->host + n + 1, p->host, hl + 1);
          memcpy(p->host, dir, (size_t)n);
          p->host[n] = '/';
          // The same file by that name (not so for a directory removed or
          // moved since: then by descriptor, as before).
          if (sys::raw(SYS_statx, AT_FDCWD, (long)p->host, AT_SYMLINK_NOFOLLOW, STATX_INO, (long)&by_name) == 0 &&
              by_name.stx_ino == by_fd.stx_ino && by_name.stx_dev_major == by_fd.stx_dev_major &&
              by_name.stx_dev_minor == by_fd.stx_dev_minor)
            nd = AT_FDCWD;
          else
            memmove(p->host, p->host + n + 1, hl + 1);
        }
      }
    }
    // The kernel's checks first: a regular, executable file (a symlink not
    // to be followed is ELOOP, as execveat says).
    struct statx sx;
    constexpr unsigned mask = STATX_BASIC_STATS | STATX_BTIME;
    long s = fd_direct >= 0 ? sys::raw(SYS_statx, fd_direct, (long)"", AT_EMPTY_PATH, mask, (long)&sx)
                            : sys::raw(SYS_statx, nd, (long)p->host, (nflags & AT_SYMLINK_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0,
                                       mask, (long)&sx);
    if (s < 0) return (int)s;
    if (S_ISLNK(sx.stx_mode)) return -ELOOP;
    if (!S_ISREG(sx.stx_mode)) return -EACCES;
    if (fd_direct < 0 && sys::raw(SYS_faccessat, nd, (long)p->host, X_OK) < 0) return -EACCES;
    // The fake mode: execute permission for the fake user, and (of the file
    // the kernel would finally run, after the #! lines) who it runs as.
    if (int e = exec_permission(sx, passthrough)) return e;
    program_creds(p, sx);
    // An O_PATH descriptor runs but cannot be read: its file is read by name.
    read_fd = fd_direct >= 0 && (sys::raw(SYS_fcntl, fd_direct, F_GETFL) & O_PATH) ? -1 : fd_direct;
    char arg[512];
    int slot = depth;  // a slot per level: the arguments keep pointing at the earlier ones
    last_slot = slot;
    kind = inspect_program(p->host, read_fd, p->interp[slot], sizeof p->interp[slot], arg, sizeof arg, &kept.fd, nd);
    if (kind < 0 && kind != -ENOEXEC) return kind;
    if (kind == 2) {
      // #!interp [arg] name args... : the interpreter is an inside path. A
      // script run by descriptor is named /dev/fd/N, as the kernel names it.
      if (lead < 2) return -E2BIG;
      // A script run by descriptor is /dev/fd/N to the kernel, one run by a
      // relative name from a directory descriptor (execveat) /dev/fd/N/NAME
      // (handed NAME, the interpreter would open another file or none from
      // its working directory); once the exec closed that descriptor its
      // interpreter could not open it, and the kernel fails it so (ENOENT).
      bool by_dir = depth == 0 && fd_direct < 0 && dirfd != AT_FDCWD && name && *name && *name != '/';
      if (fd_direct >= 0 || by_dir) {
        int via = by_dir ? dirfd : fd_direct;
        long fdf = sys::raw(SYS_fcntl, via, F_GETFD);
        if (fdf < 0 || (fdf & FD_CLOEXEC)) return -ENOENT;
        if (!dev_fd_name(via, by_dir ? name : nullptr, p->fdname, sizeof p->fdname)) return -ENAMETOOLONG;
      }
      args[lead] = const_cast<char*>(by_dir ? p->fdname : name && *name ? name : fd_direct >= 0 ? p->fdname : argv0);
      if (*arg) {
        size_t al = strlen(arg) + 1;
        char* keep = p->strings + sizeof p->strings - (depth + 1) * 512;
        memcpy(keep, arg, al);
        args[--lead] = keep;
      }
      args[--lead] = p->interp[slot];
      name = p->interp[slot];
      nd = AT_FDCWD;
      nflags = 0;
      argv0 = name;
      continue;
    }
    break;
  }
  if (kind == -ENOEXEC) return -ENOEXEC;
  // The dynamic program's sanitizer runtime (p->preload) and RUNPATH: by
  // the descriptor inspect_program kept, else as exec takes the program.
  auto read_dynamic = [&](char* search, size_t sn, bool* runpath, bool* big_tls = nullptr) {
    if (kept.fd >= 0)
      sanitizer_needed((int)kept.fd, p->preload, sizeof p->preload, nullptr, nullptr, search, sn, runpath, big_tls);
    else
      sanitizer_needed_at(read_fd >= 0 ? read_fd : nd, read_fd >= 0 ? "" : p->host, read_fd >= 0 ? AT_EMPTY_PATH : 0,
                          p->preload, sizeof p->preload, nullptr, nullptr, search, sn, runpath, big_tls);
  };
  char** run_argv = args + lead;
  if (fd_direct >= 0) {
    // By descriptor: its file's name, for /proc/self/exe and for messages.
    PathBuf named;
    long n = sys::raw(SYS_readlinkat, AT_FDCWD, (long)p->host, (long)named, sizeof named - 1);
    if (n > 0 && named[0] == '/') {
      named[n] = 0;
      to_inside(named, p->exe, sizeof p->exe);
    } else {
      to_inside(p->host, p->exe, sizeof p->exe);
    }
  } else {
    to_inside(p->host, p->exe, sizeof p->exe);
  }

  if (!g_root.active) {
    // Confined, outside a root: what the kernel would have started (the
    // #! lines followed above), through the stub. A static program runs as
    // it is, as it did before confinement.
    const char* name = path && *path ? base_name(path) : base_name(p->host);
    size_t cl = strnlen(name, sizeof p->comm - 1);
    memcpy(p->comm, name, cl);
    p->comm[cl] = 0;
    if (kind == 0) {
      // What /proc/PID/exe names to other processes (COWROOT_EXE, from the
      // environment it starts with): the file, links followed, as the
      // kernel names it; not the name it was started by.
      if (kept.fd >= 0 && fd_direct < 0 && (g_confine.active || g_confine.plan_static)) {
        char self[32];
        sys::proc_fd_path((int)kept.fd, self);
        PathBuf named;
        long n = sys::raw(SYS_readlinkat, AT_FDCWD, (long)self, (long)named, sizeof named - 1);
        if (n > 0 && named[0] == '/' && (size_t)n < sizeof p->exe) {
          memcpy(p->exe, named, (size_t)n);
          p->exe[n] = 0;
        }
      }
      read_dynamic(nullptr, 0, nullptr);
    } else {
      if (g_session.allow_static) {
        p->mode = 'H';  // unconfined, at the user's word
      } else {
        // The program's own file, what /proc/self/exe would name.
        long fd = sys::raw(SYS_openat, nd, (long)p->host, O_PATH | O_CLOEXEC);
        if (fd >= 0) {
          char self[32];
          sys::proc_fd_path((int)fd, self);
          long n = sys::raw(SYS_readlinkat, AT_FDCWD, (long)self, (long)p->exe, sizeof p->exe - 1);
          p->exe[n > 0 ? n : 0] = 0;
          sys::raw(SYS_close, fd);
        }
        if (lead < 5) return -E2BIG;
        return plan_static(p, run_argv, fd_direct, envp, env_slots, env_cap);
      }
    }
    // By descriptor, p->host is its /proc/self/fd name: the stub gets a
    // descriptor of its own that survives the exec.
    return finish(p, p->host, fd_direct >= 0 ? fd_direct : nd, run_argv, envp, env_slots, env_cap);
  }

  if (kind == 1) {
    // A static binary cannot be interposed: it would act on the host.
    const char* b = base_name(p->host);
    if ((strcmp(b, "ldconfig") == 0 || strcmp(b, "ldconfig.real") == 0) && !g_confine.active && !g_confine.plan_static) {
      // Unconfined (confined, it runs inside as any static program does):
      // glibc's ldconfig does the same job unprivileged with -r ROOT. A -r
      // the program gave (dpkg's postinst says -r "$DPKG_ROOT/") names an
      // inside directory: it becomes that directory's host path.
      char** a = args + lead;
      bool has_r = false;
      for (size_t i = 1; a[i]; i++) {
        const char* v = nullptr;
        bool joined = false;  // -rDIR rather than -r DIR
        if (strcmp(a[i], "-r") == 0 && a[i + 1]) v = a[++i];
        else if (strncmp(a[i], "-r", 2) == 0 && a[i][2] != '-') v = a[i] + 2, joined = true;
        if (!v) continue;
        Resolved rr;
        if (int e = resolve(AT_FDCWD, *v ? v : "/", kFollow, &rr)) return e;
        size_t l = strlen(rr.path);
        if (l + 3 > sizeof p->libpath) return -ENAMETOOLONG;
        memcpy(p->libpath, "-r", joined ? 2 : 0);
        memcpy(p->libpath + (joined ? 2 : 0), rr.path, l + 1);
        a[i] = p->libpath;
        has_r = true;
        break;
      }
      if (!has_r) {
        // ldconfig -r ROOT ARGS... (ROOT takes argv[0]'s slot).
        if (lead < 2) return -E2BIG;
        size_t tl = g_root.top_len, cl = g_root.croot_len == 1 ? 0 : g_root.croot_len;
        memcpy(p->loader, g_root.top, tl);
        memcpy(p->loader + tl, g_root.croot, cl);
        p->loader[tl + cl] = 0;
        lead -= 2;
        args[lead] = const_cast<char*>("ldconfig");
        args[lead + 1] = const_cast<char*>("-r");
        args[lead + 2] = p->loader;
      }
      p->mode = 'H';
      return finish(p, p->host, nd, args + lead, envp, env_slots, env_cap);
    }
    if (is_elf_interpreter(p->host)) return plan_loader_run(p, args + lead, envp, env_slots, env_cap);
    bool allowed = g_session.allow_static;  // the session's, not this program's environment
    // Confined, it runs inside as any program does.
    if (!allowed && (g_confine.active || g_confine.plan_static)) {
      if (lead < 5) return -E2BIG;
      const char* name = path && *path ? base_name(path) : base_name(p->exe);
      size_t cl = strnlen(name, sizeof p->comm - 1);
      memcpy(p->comm, name, cl);
      p->comm[cl] = 0;
      return plan_static(p, run_argv, fd_direct, envp, env_slots, env_cap);
    }
    if (!allowed && !is_arch_test_probe(p->host, read_fd)) {
      say(p->exe, ": static binary, cannot run inside the root (it would act on the host; "
                  "COWROOT_ALLOW_STATIC=1 runs it anyway)");
      return -EACCES;
    }
    p->mode = 'H';
    return finish(p, p->host, nd, run_argv, envp, env_slots, env_cap);
  }

  // Dynamic: the root's own loader, the root's libraries, never the host's cache.
  const char* interp = p->interp[last_slot];
  // musl's loader cannot load the library (built for glibc): confined, the
  // program would run with its calls passed untranslated. Said, not done.
  // (Inside a root, loader_caps below refuses it with the root named.)
  if (via_stub() && !g_root.active && strncmp(base_name(interp), "ld-musl", 7) == 0) {
    say(p->exe, ": its loader ", interp, " cannot load cowroot's library (built for glibc): cannot confine it");
    return -EACCES;
  }
  char search[1024];
  bool runpath = false, big_tls = false;
  read_dynamic(search, sizeof search, &runpath, &big_tls);
  Resolved lr;
  struct statx lx;
  const char* elfloader = g_session.fakechroot ? getenv("FAKECHROOT_ELFLOADER") : nullptr;
  // A program of another architecture than this cowroot's (its ELF header).
  auto program_foreign = [&] {
    uint16_t machine = 0;
    return kept.fd >= 0 &&
           sys::raw(SYS_pread64, kept.fd, (long)&machine, sizeof machine, (long)offsetof(Elf64_Ehdr, e_machine)) ==
               (long)sizeof machine &&
           machine != elf::kMachine;
  };
  uint64_t root_id = 0;
  bool cached = false;
  // (The remembered way only for a process that searches every directory:
  // another's walk checks search permission on each directory to the loader.)
  const bool remembers = searches_freely(fs_cred());
  if (elfloader && *elfloader == '/') {
    lr.dirfd = AT_FDCWD;
    lr.path = elfloader;  // a host path, as fakechroot takes it
  } else if ((root_id = root_identity(), remembers) && interp_cached(interp, root_id, lr.buf, sizeof lr.buf, &lx)) {
    lr.dirfd = AT_FDCWD;
    lr.path = lr.buf;
    cached = true;
  } else if (int e = resolve(AT_FDCWD, interp, kFollow | kForExec, &lr)) {
    return e;
  }
  if (!cached) {
    if (sys::raw(SYS_statx, AT_FDCWD, (long)lr.path, 0, STATX_TYPE | STATX_INO | STATX_CTIME, (long)&lx) < 0 ||
        !S_ISREG(lx.stx_mode)) {
      // A program of another architecture (a foreign root without its
      // loader) says so: the loader's name alone would not tell.
      bool foreign = program_foreign();
      refuse_loader(p->exe, interp,
                    foreign ? "is missing in the root, and the program is for another architecture than this "
                              "cowroot's"
                            : "is missing in the root");
      // (The kernel says ENOEXEC of another architecture's program, loader or
      // not: the shell's "cannot execute binary file", 126.)
      return foreign ? -ENOEXEC : -ENOENT;
    }
    if (!(elfloader && *elfloader == '/') && lr.path[0] == '/' && remembers)
      interp_remember(interp, root_id, lr.path, lx);
  }
  // What this loader takes (once per loader file, not per exec).
  const char* why = nullptr;
  int caps = loader_caps(lr.path, lx, &why, p->ldruns);
  p->ldruns_known = caps >= 0;
  // A loader the user names (FAKECHROOT_ELFLOADER) is taken as fakechroot
  // takes it, whatever it is: given the options every loader knows.
  if (caps < 0 && elfloader && *elfloader == '/') caps = 0;
  if (caps < 0) {
    refuse_loader(p->exe, interp, why);
    return program_foreign() ? -ENOEXEC : -EACCES;
  }
  memcpy(p->loader, lr.path, strlen(lr.path) + 1);
  const char* am = (caps & kLoaderAudit) ? audit_module(envp, search, big_tls) : nullptr;
  if (int e = plan_library_path(p, envp, search, runpath, am != nullptr)) return e;
  // Started as the loader's argument, the process would be named after the
  // loader (ps, killall, /proc/PID/comm): the library renames it at start.
  {
    const char* name = path && *path ? base_name(path) : base_name(p->exe);
    // Started again by the library with the audit module (init.cc): the
    // name it had.
    for (char* const* e = envp; e && *e; e++)
      if ((*e)[0] == 'C' && strncmp(*e, "COWROOT_AUDIT=1:", 16) == 0 && (*e)[16]) name = *e + 16;
    size_t cl = strnlen(name, sizeof p->comm - 1);
    memcpy(p->comm, name, cl);
    p->comm[cl] = 0;
  }
  // loader [--argv0 A] --inhibit-cache --library-path LP [--preload LIB] [--audit MODULE] PROGRAM ARGS...
  // A loader older than glibc 2.33 has no --argv0, older than 2.30 no
  // --preload (LD_PRELOAD, always set, brings the library then).
  const char* given_argv0 = run_argv[0];
  size_t nopt = 4 + ((caps & kLoaderArgv0) ? 2 : 0) + ((caps & kLoaderPreload) ? 2 : 0) + (am ? 2 : 0);
  if (lead < nopt) return -E2BIG;  // the #! levels plus the loader's options: more than argv had room for
  char** la = args + lead - nopt;
  size_t k = 0;
  la[k++] = p->loader;
  if (caps & kLoaderArgv0) {
    la[k++] = const_cast<char*>("--argv0");
    la[k++] = run_argv[0];
  }
  la[k++] = const_cast<char*>("--inhibit-cache");
  la[k++] = const_cast<char*>("--library-path");
  la[k++] = p->libpath;
  if (caps & kLoaderPreload) {
    la[k++] = const_cast<char*>("--preload");
    la[k++] = const_cast<char*>(preload_value(p));
  }
  if (am) {
    la[k++] = const_cast<char*>("--audit");
    la[k++] = const_cast<char*>(am);
  }
  // la[k] = run_argv[0] is replaced by the program's host path. By
  // descriptor, the loader opens the program after exec, when a close-on-
  // exec descriptor is gone: its file's name, or the descriptor kept open.
  if (fd_direct >= 0 && last_slot == 0) {
    PathBuf named;
    long n = sys::raw(SYS_readlinkat, AT_FDCWD, (long)p->host, (long)named, sizeof named - 1);
    struct statx a, b;
    if (n > 0 && named[0] == '/' && (named[n] = 0, true) &&
        sys::raw(SYS_statx, AT_FDCWD, (long)named, 0, STATX_INO, (long)&a) == 0 &&
        sys::raw(SYS_statx, fd_direct, (long)"", AT_EMPTY_PATH, STATX_INO, (long)&b) == 0 && a.stx_ino == b.stx_ino &&
        a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor) {
      memcpy(p->host, named, (size_t)n + 1);
    } else {
      sys::raw(SYS_fcntl, fd_direct, F_SETFD, 0);
    }
  }
  // Without --argv0 the library puts argv[0] back in the room the loader's
  // part of the argument block leaves before the program's arguments: the
  // program's host path is made as long as argv[0] needs, with slashes
  // ("/tmp//////root/usr/bin/bash": the same file), or a long argv[0]
  // (exec -a) would stay the host path.
  if (!(caps & kLoaderArgv0) && p->host[0] == '/') {
    size_t room = 0, l0 = strlen(given_argv0) + 1, hl = strlen(p->host);
    for (size_t i = 0; i < k; i++) room += strlen(la[i]) + 1;
    room += hl + 1;
    if (room < l0 && l0 < 2048 && hl + (l0 - room) < sizeof p->host) {
      size_t pad = l0 - room;
      memmove(p->host + 1 + pad, p->host + 1, hl);
      memset(p->host + 1, '/', pad);
    }
  }
  run_argv[0] = p->host;
  note_argv(p, la, caps & kLoaderArgv0, given_argv0);
  return finish(p, p->loader, AT_FDCWD, la, envp, env_slots, env_cap);
}

size_t exec_env_extra_slots() { return exec_env_extra() + 8; }

void plan_done(Plan* p) {
  if (p->stub_fd >= 0) sys::raw(SYS_close, p->stub_fd);
  p->stub_fd = -1;
}

#if defined(__x86_64__)
// (exec.h) cr_call_on_stack.
asm(".text\n.p2align 4\n.globl cr_call_on_stack\n.hidden cr_call_on_stack\n.type cr_call_on_stack,@function\ncr_call_on_stack:\n"
    " push %rbp\n mov %rsp, %rbp\n mov %rdi, %rsp\n mov %rsi, %rax\n mov %rdx, %rdi\n call *%rax\n"
    " mov %rbp, %rsp\n pop %rbp\n ret\n");

namespace {
// Stacks kept for planning execs: one claimed a thread (or vfork child)
// at a time, its owner's thread id in `owner` (0 free).
constexpr size_t kGuard = 4096, kExecStackBase = (size_t)1 << 20, kExecStackStep = (size_t)1 << 16;
constexpr int kExecStacks = 8;
struct ExecStack {
  std::atomic<uint32_t> owner{0};
  char* mem = nullptr;  // kGuard below, then the stack
  size_t size = 0;      // all of it, the guard page included
};
ExecStack g_exec_stacks[kExecStacks];

char* map_exec_stack(size_t size) {
  long m = sys::raw(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                    -1, 0);
  if (m < 0 && m > -4096) return nullptr;
  sys::raw(SYS_mprotect, m, kGuard, PROT_NONE);
  return reinterpret_cast<char*>(m);
}

// Whether this process shares its parent's memory (a vfork child); also
// when that cannot be told (a parent outside the pid namespace is 0).
bool shares_parent_memory() {
  long parent = sys::raw(SYS_getppid);
  return parent <= 0 || sys::memory_elsewhere(parent) != 1;
}

// Whether thread `t` no longer shares this process's memory: a vfork
// child that took a stack and exec'd (the word stays its), the thread of
// the parent a fork's child inherited the word from, or one gone. Not
// when that cannot be told (kcmp refused, as Docker's default seccomp
// profile refuses it): the stack stays taken rather than shared.
bool owner_elsewhere(uint32_t t) { return sys::memory_elsewhere((long)t) == 1; }

// A kept stack of `size` bytes or more, claimed for thread `me`; nullptr
// when all are taken. (Mapped, or mapped larger, by a vfork child, it is
// the parent's as well: kept for the next exec, as meant.)
ExecStack* claim_exec_stack(uint32_t me, size_t size) {
  // Never the one this thread runs on: a handler that came while a plan
  // ran there forked, and the child, finding the parent's thread the
  // taker, would start a plan of its own at its top.
  auto here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  for (auto& s : g_exec_stacks) {
    auto lo = reinterpret_cast<uintptr_t>(s.mem);
    if (lo && here >= lo && here < lo + s.size) continue;
    uint32_t o = 0;
    if (!s.owner.compare_exchange_strong(o, me, std::memory_order_acquire) &&
        !(owner_elsewhere(o) && s.owner.compare_exchange_strong(o, me, std::memory_order_acquire)))
      continue;
    if (s.mem && s.size < size) {
      sys::raw(SYS_munmap, (long)s.mem, s.size);
      s.mem = nullptr;
    }
    if (!s.mem) {
      s.mem = map_exec_stack(size);
      s.size = s.mem ? size : 0;
    }
    if (s.mem) return &s;
    s.owner.store(0, std::memory_order_release);
    return nullptr;
  }
  return nullptr;
}

constexpr uint64_t kAllButSigsys = ~(1ull << (SIGSYS - 1));

// On the exec's stack: made the thread's signal stack first when the call
// came from a handler on the signal stack (`alt`), so that a signal that
// comes meanwhile goes below, not over the frames there.
struct Hop {
  long (*fn)(void*);
  void* arg;
  char* mem;
  size_t size;
  bool alt;
  uint64_t mask;  // the caller's signal mask, while all are blocked
};
long hop(void* a) {
  auto* h = static_cast<Hop*>(a);
  if (h->alt) {
    stack_t mine{h->mem + kGuard, 0, h->size - kGuard};
    sys::raw(SYS_sigaltstack, (long)&mine, 0);
    sys::raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&h->mask, 0, 8);
  }
  long r = h->fn(h->arg);
  if (h->alt) sys::raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&kAllButSigsys, 0, 8);
  return r;
}
}  // namespace

long on_exec_stack(long (*fn)(void*), void* arg, size_t extra) {
  bool child = shares_parent_memory();
  size_t size = (kGuard + kExecStackBase + extra + kExecStackStep - 1) & ~(kExecStackStep - 1);
  uint32_t me = (uint32_t)sys::raw(SYS_gettid);
  ExecStack* kept = claim_exec_stack(me, size);
  char* mem = kept ? kept->mem : nullptr;
  size_t have = kept ? kept->size : size;
  // (A vfork child that finds them all taken stays on its own stack: a
  // mapping of its own would stay the parent's after the exec.)
  if (!kept && !child) mem = map_exec_stack(size);
  long r;
  if (!mem) {
    r = fn(arg);
  } else {
    stack_t cur{};
    Hop h{fn, arg, mem, have, false, 0};
    h.alt = sys::raw(SYS_sigaltstack, 0, (long)&cur) == 0 && (cur.ss_flags & SS_ONSTACK);
    // The signal stack can be changed only from off it: signals are held
    // from here until the exec's stack is the signal stack, and from its
    // end until the caller's is again.
    if (h.alt) sys::raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&kAllButSigsys, (long)&h.mask, 8);
    r = cr_call_on_stack(mem + have, hop, &h);
    if (h.alt) {
      stack_t back{cur.ss_sp, cur.ss_flags & ~SS_ONSTACK, cur.ss_size};
      sys::raw(SYS_sigaltstack, (long)&back, 0);
      sys::raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&h.mask, 0, 8);
    }
  }
  if (kept) kept->owner.store(0, std::memory_order_release);
  else if (mem) sys::raw(SYS_munmap, (long)mem, size);
  return r;
}
#else
long on_exec_stack(long (*fn)(void*), void* arg, size_t) { return fn(arg); }
#endif

int exec_program(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
  long r = with_plan(dirfd, path, argv, envp, flags, [](Plan& p) {
    confine::ExecSaved saved{};
    bool released = confine::g_before_exec && confine::g_before_exec(&saved);
    long e = sys::raw(SYS_execveat, p.dirfd, (long)p.path, (long)p.argv, (long)p.envp, p.flags);
    if (confine::g_exec_failed) confine::g_exec_failed(released, &saved);
    plan_done(&p);
    return e;
  });
  errno = (int)-r;  // execveat returns only on failure
  return -1;
}

}  // namespace cr
