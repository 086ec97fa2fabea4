// cowroot-trace: runs a program the root's loader traces (ldd, or
// LD_TRACE_LOADED_OBJECTS=1) and turns the host paths in what it prints
// into inside paths. The loader reports the files it opened, and inside a
// root those are host paths: scripts that copy what ldd lists (initramfs
// tools' copy_exec, for one) need the names the root knows.
//
// The library execs this program in the loader's place, with the loader's
// argument vector unchanged (argv[0] is the loader) and the session's
// environment, which names the root (COWROOT_ROOT, COWROOT_CHROOT,
// COWROOT_BINDS) and the library (COWROOT_LIB), whose own line is left out.
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sanitizer_log.h"
#include "../preload/core/resolve.h"
#include "../preload/core/sys.h"

extern char** environ;

namespace {

// One line of the loader's output, with every host path in it made inside.
std::string translate(const std::string& line, const char* lib) {
  std::string out;
  size_t i = 0;
  while (i < line.size()) {
    bool starts = line[i] == '/' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t');
    if (!starts) {
      out += line[i++];
      continue;
    }
    size_t e = line.find_first_of(" \t\n", i);
    if (e == std::string::npos) e = line.size();
    std::string host = line.substr(i, e - i);
    if (lib && host == lib) return "";  // the session's own library is no dependency of the program
    char inside[4096];
    out += cr::to_inside(host.c_str(), inside, sizeof inside) ? inside : host;
    i = e;
  }
  return out;
}

// The loader's own line. Run by the kernel, the loader's name is the
// program's PT_INTERP, the name it was asked for, and ldd prints
// "\t/lib64/ld-linux-x86-64.so.2 (0x…)"; run as a program, as here, its
// name is the file it was run as, and the line reads "NAME => FILE (0x…)".
// Scripts that copy what ldd lists (copy_exec) take the path after "=>":
// the line is given back as the kernel's exec would have it.
std::string loader_line(const std::string& line, const std::string& loader) {
  size_t arrow = line.find(" => ");
  if (loader.empty() || arrow == std::string::npos) return line;
  size_t name = line.find_first_not_of(" \t");
  size_t file = arrow + 4, paren = line.find(" (0x", file);
  if (name == std::string::npos || line[name] != '/' || paren == std::string::npos ||
      line.compare(file, paren - file, loader) != 0)
    return line;
  return line.substr(0, arrow) + line.substr(paren);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[0][0] != '/') {
    fprintf(stderr, "cowroot-trace: run by libcowroot.so in place of the root's loader, not by hand\n");
    return 2;
  }
  cr::root_init();
  // The library hands the loader's trace request over under another name
  // (the host's loader starting this program would have taken it).
  if (const char* t = getenv("TRACE_LOADED_OBJECTS")) {
    setenv("LD_TRACE_LOADED_OBJECTS", t, 1);
    unsetenv("TRACE_LOADED_OBJECTS");
  }
  const char* lib = getenv("COWROOT_LIB");
  char loader[4096];
  if (!cr::to_inside(argv[0], loader, sizeof loader)) loader[0] = 0;
  // Its output, and its error output (a library's missing version names
  // the library and the program by the files the loader opened).
  int p[2], e[2];
  if (pipe(p) < 0 || pipe(e) < 0) {
    perror("cowroot-trace: pipe");
    return 127;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("cowroot-trace: fork");
    return 127;
  }
  if (pid == 0) {
    close(p[0]);
    close(e[0]);
    dup2(p[1], 1);
    dup2(e[1], 2);
    close(p[1]);
    close(e[1]);
    // The loader run by name (ldd's way) names itself by its argv[0] (a
    // shared library's listing has no PT_INTERP to name it by): the
    // caller's, as the kernel would have given it.
    const char* path = argv[0];
    if (const char* name = getenv("COWROOT_TRACE_ARGV0")) {
      argv[0] = strdup(name);
      unsetenv("COWROOT_TRACE_ARGV0");
    }
    // Straight to the kernel (not even through syscall()): the library
    // this process has preloaded would plan the exec a second time.
    long r = cr::sys::raw(SYS_execve, (long)path, (long)argv, (long)environ);
    fprintf(stderr, "cowroot-trace: %s: %s\n", path, strerror((int)-r));
    _exit(127);
  }
  close(p[1]);
  close(e[1]);
  // ldd -v's version information: the session's own library's block (its
  // "\tLIB:" line and the needs indented under it) is left out too.
  bool in_lib_block = false;
  std::string lib_header = lib ? std::string("\t") + lib + ":" : std::string();
  auto out_line = [&](const std::string& raw) {
    std::string bare = raw;
    while (!bare.empty() && (bare.back() == '\n' || bare.back() == ' ')) bare.pop_back();
    if (lib && bare == lib_header) {
      in_lib_block = true;
      return;
    }
    if (in_lib_block && raw.rfind("\t\t", 0) == 0) return;
    in_lib_block = false;
    std::string t = loader_line(translate(raw, lib), loader);
    fwrite(t.data(), 1, t.size(), stdout);
    fflush(stdout);
  };
  auto err_line = [&](const std::string& raw) {
    std::string t = translate(raw, lib);
    fwrite(t.data(), 1, t.size(), stderr);
  };
  // Both, line by line, as they come.
  std::string pend[2];
  int fds[2] = {p[0], e[0]};
  for (int open = 2; open > 0;) {
    pollfd w[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    if (poll(w, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int k = 0; k < 2; k++) {
      if (fds[k] < 0 || !(w[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char chunk[4096];
      ssize_t got = read(fds[k], chunk, sizeof chunk);
      if (got < 0 && errno == EINTR) continue;
      if (got > 0) pend[k].append(chunk, (size_t)got);
      size_t nl;
      while ((nl = pend[k].find('\n')) != std::string::npos) {
        std::string line = pend[k].substr(0, nl + 1);
        pend[k].erase(0, nl + 1);
        if (k == 0) out_line(line);
        else err_line(line);
      }
      if (got <= 0) {
        if (!pend[k].empty() && k == 0) out_line(pend[k]);
        if (!pend[k].empty() && k == 1) err_line(pend[k]);
        pend[k].clear();
        close(fds[k]);
        fds[k] = -1;
        open--;
      }
    }
  }
  fflush(stdout);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
