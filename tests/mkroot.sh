#!/bin/sh
# Builds a small root from the host's own programs and their libraries:
# enough to test chroot emulation without a network (a debootstrapped
# image is used where the tests have one).
#   tests/mkroot.sh DIR [PROGRAM...]   (more programs of the host's, with their libraries)
set -eu
dir=$1
shift
mkdir -p "$dir"
# merged-/usr layout as Debian has it, with relative links as in an image
for d in bin sbin lib lib64; do
  mkdir -p "$dir/usr/$d"
  [ -e "$dir/$d" ] || ln -s "usr/$d" "$dir/$d"
done
progs="sh dash ls cat stat readlink realpath ln mkdir rm touch id env pwd chmod chown mknod test true false echo chroot printf sort truncate touch dd setfattr getfattr grep
       sleep mv cp find tar perl python3 getent ldd head bash cut setsid chgrp mkfifo setpriv capsh date timeout $*"
copy() {  # copy a file under its parent's canonical directory, keeping symlinks as they are
  src=$1
  [ -e "$src" ] || return 0
  parent=$(cd "$(dirname "$src")" && pwd -P)
  mkdir -p "$dir$parent"
  cp -a "$src" "$dir$parent/" 2>/dev/null || true
  if [ -L "$src" ]; then copy "$(readlink -f "$src")"; fi
}
for p in $progs; do
  f=$(command -v "$p" 2>/dev/null) || continue
  case $f in /*) ;; *) continue ;; esac
  copy "$f"
  for lib in $(ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do copy "$lib"; done
done
# The tests' own programs put in roots (helper is C++) need their
# libraries there too: the root's loader does not fall back on the host's.
here=$(cd "$(dirname "$0")" && pwd)
for f in "$here/helper" "$here/rawprog"; do
  [ -x "$f" ] || continue
  for lib in $(ldd "$f" 2>/dev/null | awk '/=> \//{print $3} /^\t\/lib/{print $1}'); do copy "$lib"; done
done
copy /etc/ld.so.conf
# glibc reads its locale from the root (as in a real chroot): the C.UTF-8
# of a Debian root.
[ -d /usr/lib/locale/C.utf8 ] && mkdir -p "$dir/usr/lib/locale" && cp -a /usr/lib/locale/C.utf8 "$dir/usr/lib/locale/"
mkdir -p "$dir/etc/ld.so.conf.d" "$dir/tmp" "$dir/root" "$dir/dev" "$dir/proc" "$dir/sys"
cp /etc/ld.so.conf.d/*.conf "$dir/etc/ld.so.conf.d/" 2>/dev/null || true
chmod 1777 "$dir/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\ninroot:x:4242:4242::/:/bin/sh\n' > "$dir/etc/passwd"
printf 'root:x:0:\ninroot:x:4242:\n' > "$dir/etc/group"
echo "inside the root" > "$dir/etc/motd"
