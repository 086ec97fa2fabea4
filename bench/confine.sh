#!/bin/sh
# What confinement (docs/design.md, "Programs that bypass libc") costs, side
# by side in one run: bench/callpath's calls (stat, open, fork+exec, ...)
# and bench/rawstat (one stat through libc, and as a raw system call that a
# confined session traps) natively, in a session and inside a root made by
# tests/mkroot.sh, under a build from before confinement, this build, and
# this build with COWROOT_CONFINE=0; interleaved rounds, the best of each.
#   sh bench/confine.sh BEFORE_BUILD AFTER_BUILD
# (BEFORE_BUILD: e.g. git worktree add /tmp/old faacf00 && make -C /tmp/old all build/bench/callpath)
set -eu
before=$(cd "${1:?usage: confine.sh BEFORE_BUILD AFTER_BUILD}" && pwd)
after=$(cd "${2:?usage: confine.sh BEFORE_BUILD AFTER_BUILD}" && pwd)
rounds=${BENCH_ROUNDS:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ "${BENCH_STAGED:-0}" != 1 ]; then
  for b in "$before" "$after"; do
    for f in cowroot cowroot-faked libcowroot.so; do
      [ -f "$b/$f" ] || { echo "bench: $b/$f is missing (build it first)" >&2; exit 1; }
    done
  done
  for f in bench/callpath bench/rawstat cowroot-stub; do
    [ -x "$after/$f" ] || { echo "bench: $after/$f is missing (make all $after/$f)" >&2; exit 1; }
  done
fi
if [ "$(id -u)" = 0 ]; then
  # Measured as an ordinary user, from copies it can read.
  stage=$(mktemp -d /tmp/cowroot-bench-confine.XXXXXX)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/before" "$stage/after/bench" "$stage/home" "$stage/tests"
  for b in before after; do
    src=$before; [ $b = after ] && src=$after
    # Each build installed by its own tree (BUILD is a directory in it).
    make -s -C "$(dirname "$src")" install PREFIX="$stage/$b/prefix" BUILD="$src" >/dev/null ||
      { echo "bench: cannot install $src" >&2; exit 1; }
  done
  cp "$after/bench/callpath" "$after/bench/rawstat" "$stage/after/bench/"
  cp "$here/tests/mkroot.sh" "$stage/tests/"
  cp "$0" "$stage/confine.sh"
  chmod -R a+rX "$stage"
  chown 65534:65534 "$stage/home"
  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$stage/home" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    BENCH_STAGED=1 sh "$stage/confine.sh" "$stage/before" "$stage/after"
  exit
fi
if [ "${BENCH_STAGED:-0}" = 1 ]; then
  A=$after/prefix/bin/cowroot B=$before/prefix/bin/cowroot mkroot=$(dirname "$0")/tests/mkroot.sh
else
  A=$after/cowroot B=$before/cowroot mkroot=$here/tests/mkroot.sh
fi
CP=$after/bench/callpath RS=$after/bench/rawstat
work=$(mktemp -d "${TMPDIR:-/tmp}/confine-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
sh "$mkroot" "$work/root" >/dev/null 2>&1
mkdir -p "$work/root/usr/local/bin"
cp "$CP" "$RS" "$work/root/usr/local/bin/"
cp /bin/true "$work/root/usr/bin/true"
for lib in $(ldd "$CP" | awk '/=> \//{print $3}'); do cp -n "$lib" "$work/root$(dirname "$(readlink -f "$lib")")/" 2>/dev/null || true; done
one() {  # VARIANT ROUND
  out=$work/$1.$2
  mkdir -p "$work/s$2$1" "$work/root/tmp/$2$1"
  case $1 in
    native) "$CP" "$work/s$2$1" && "$RS" /usr/bin/env ;;
    before) "$B" -- "$CP" "$work/s$2$1" && "$B" -- "$RS" /usr/bin/env ;;
    after) "$A" -- "$CP" "$work/s$2$1" && "$A" -- "$RS" /usr/bin/env ;;
    off) COWROOT_CONFINE=0 "$A" -- "$CP" "$work/s$2$1" && COWROOT_CONFINE=0 "$A" -- "$RS" /usr/bin/env ;;
    root_native) "$CP" "$work/root/tmp/$2$1" "$work/root/usr/bin" && "$RS" "$work/root/usr/bin/env" ;;
    root_before) "$B" -r "$work/root" -- /usr/local/bin/callpath "/tmp/$2$1" /usr/bin &&
                 "$B" -r "$work/root" -- /usr/local/bin/rawstat /usr/bin/env ;;
    root_after) "$A" -r "$work/root" -- /usr/local/bin/callpath "/tmp/$2$1" /usr/bin &&
                "$A" -r "$work/root" -- /usr/local/bin/rawstat /usr/bin/env ;;
    root_off) COWROOT_CONFINE=0 "$A" -r "$work/root" -- /usr/local/bin/callpath "/tmp/$2$1" /usr/bin &&
              COWROOT_CONFINE=0 "$A" -r "$work/root" -- /usr/local/bin/rawstat /usr/bin/env ;;
  esac > "$out" 2> "$out.err" || { cat "$out.err" >&2; echo "bench: $1 failed" >&2; exit 1; }
}
variants="native before after off root_native root_before root_after root_off"
for i in $(seq "$rounds"); do
  for v in $variants; do one "$v" "$i"; done
done
for v in $variants; do
  cat "$work/$v".[0-9]* | awk '!($1 in b) { o[++k] = $1; b[$1] = $2 } $2 + 0 < b[$1] + 0 { b[$1] = $2 }
    END { for (i = 1; i <= k; i++) print o[i], b[o[i]] }' > "$work/$v.best"
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  as uid $(id -u); ns per call, best of $rounds interleaved rounds"
echo "# command: sh bench/confine.sh BEFORE AFTER (before: the build without confinement)"
table() {  # TITLE NATIVE BEFORE AFTER OFF
  echo "## $1"
  awk -v N="$2." -v B="$3." -v A="$4." -v O="$5." '
    index(FILENAME, N) { n[$1] = $2; order[++k] = $1 }
    index(FILENAME, B) { b[$1] = $2 }
    index(FILENAME, A) { a[$1] = $2 }
    index(FILENAME, O) { o[$1] = $2 }
    function ratio(x, y) { return x > 0 && y > 0 ? sprintf("%.3f", x / y) : "-" }
    END {
      fmt = "%-18s | %9s | %9s | %9s | %9s | %12s | %9s\n"
      printf fmt, "metric", "native", "before", "after", "after,off", "after/before", "after/off"
      for (i = 1; i <= k; i++) {
        m = order[i]
        printf fmt, m, n[m], b[m], a[m], o[m], ratio(a[m], b[m]), ratio(a[m], o[m])
      }
    }' "$work/$2.best" "$work/$3.best" "$work/$4.best" "$work/$5.best"
}
table "in a session (cowroot -- PROGRAM)" native before after off
table "inside a root (cowroot -r ROOT -- PROGRAM)" root_native root_before root_after root_off
