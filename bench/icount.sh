#!/bin/sh
# Instructions per in-root stat (the core's resolve + statx + identity) of
# two source trees, counted by callgrind: exact and repeatable on a machine
# whose timings swing with its load. Each tree's core must be built
# (BUILD/libcowroot-core.a).
#   sh bench/icount.sh BEFORE_TREE AFTER_TREE [INSIDE_PATH]
set -eu
command -v valgrind >/dev/null || { echo "bench: valgrind is needed" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/cowroot-icount.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sh "$here/tests/mkroot.sh" "$tmp/root" >/dev/null 2>&1
path=${3:-/etc/motd}
per_call() {  # TREE -> instructions per call (the difference of 2000 and 1000 calls)
  g++ -O2 -std=c++20 -D_GNU_SOURCE -I"$1" -o "$tmp/icount" "$here/bench/icount.cc" "$1/build/libcowroot-core.a" -lpthread
  a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$tmp/icount" "$tmp/root" 1000 "$path" 2>&1 |
      sed -n 's/.*Collected : //p')
  b=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$tmp/icount" "$tmp/root" 2000 "$path" 2>&1 |
      sed -n 's/.*Collected : //p')
  echo $(((b - a) / 1000))
}
x=$(per_call "$1")
y=$(per_call "$2")
echo "# instructions per in-root stat of $path (user space; the statx itself is the kernel's)"
echo "before ($1): $x"
echo "after  ($2): $y"
awk -v x="$x" -v y="$y" 'BEGIN { printf "after/before: %.3f\n", y / x }'
