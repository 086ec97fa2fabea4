#!/usr/bin/env python3
"""The glibc functions that take a path, found from glibc itself.

A function counts when libc.so.6 exports it and its prototype in glibc's
headers has a `const char *` parameter named like a path (__file, __path,
__name, __dir, __template, ...). Every one must have a row in the table of
front doors (preload/ops.tbl) -- or, given a library, be exported by it --
or be listed in preload/unwrapped-path-functions.txt with the reason it
needs no wrapper.

  path-functions.py                       list them
  path-functions.py --check TABLE LIST    exit 1 naming any neither in the table nor listed
  path-functions.py --check LIB.so LIST   the same against what a built library exports
"""
import re
import subprocess
import sys

HEADERS = """fcntl.h unistd.h stdio.h stdlib.h sys/stat.h sys/statfs.h sys/statvfs.h sys/xattr.h dirent.h ftw.h
glob.h utime.h sys/time.h sys/mount.h sys/swap.h spawn.h dlfcn.h sys/inotify.h sys/fanotify.h sys/socket.h
sys/un.h utmp.h utmpx.h shadow.h pwd.h grp.h fts.h libgen.h mntent.h sys/acct.h paths.h sys/file.h
sys/mman.h wchar.h link.h nl_types.h libintl.h locale.h stdio_ext.h""".split()
PATH_PARAM = re.compile(
    r"const char \*(?:__restrict )?__(file|path|name|filename|dir|from|to|old|new|template|oldpath|newpath|"
    r"linkpath|target|special_file|dev|filespec|pathname|fname)\b|char \*__template\b")


def libc_path():
    out = subprocess.run(["gcc", "-print-file-name=libc.so.6"], capture_output=True, text=True).stdout.strip()
    return out if out.startswith("/") else "/lib/x86_64-linux-gnu/libc.so.6"


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    return {p[2].split("@")[0] for p in (l.split() for l in out.splitlines()) if len(p) >= 3 and p[1] in "TtWiI"}


def table_names(table):
    """The libc names of preload/ops.tbl's rows ('libc RET NAME(...)')."""
    names = set()
    for line in open(table):
        m = re.match(r"\s+libc\s+.*?\b(\w+)\s*\(", line)
        if m:
            names.add(m.group(1))
    return names


def candidates():
    src = "".join(f"#include <{h}>\n" for h in HEADERS)
    pre = subprocess.run(["gcc", "-E", "-O2", "-D_FORTIFY_SOURCE=2", "-D_GNU_SOURCE", "-D_LARGEFILE64_SOURCE", "-x", "c", "-"], input=src,
                         capture_output=True, text=True, check=True).stdout
    pre = re.sub(r"__attribute__\s*\(\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)\)", "", pre)
    pre = re.sub(r"\s+", " ", pre)
    names = set()
    for m in re.finditer(r"extern [^;{}]*?\b(\w+)\s*\(([^;{}]*?)\)[^;{}]*;", pre):
        if PATH_PARAM.search(m.group(2)):
            names.add(m.group(1))
    return sorted(names & exported(libc_path()))


def main():
    names = candidates()
    if len(sys.argv) == 4 and sys.argv[1] == "--check":
        ours = table_names(sys.argv[2]) if sys.argv[2].endswith(".tbl") else exported(sys.argv[2])
        listed = {}
        for line in open(sys.argv[3]):
            line = line.split("#", 1)[0].strip()
            if line:
                name, _, why = line.partition(":")
                listed[name.strip()] = why.strip()
        missing = [n for n in names if n not in ours and n not in listed]
        stale = [n for n in listed if n in ours]
        for n in missing:
            print(f"not wrapped and not listed: {n}")
        for n in stale:
            print(f"listed as unwrapped but wrapped: {n}")
        print(f"{len(names)} path-taking glibc functions: {len([n for n in names if n in ours])} wrapped, "
              f"{len([n for n in names if n in listed])} need no wrapper, {len(missing)} missing")
        return 1 if missing or stale or len(names) < 100 else 0
    print("\n".join(names))
    return 0


sys.exit(main())
