#!/bin/sh
# The fixture's figures (issue 14), as a C++ test suite sees them:
#   - 100 test cases, each a fresh root of the image in which `sh -c`
#     creates a file and checks it was absent: test cases per second;
#   - the same in 4 processes at once (4 x 100) against 1 process;
#   - taking and resetting a root of a layer three deep against a root of
#     the plain image it is made from (median of BENCH_ROOTS, default 200).
# On the cached bookworm image (built on first use: the Debian archive,
# ~2 minutes; BENCH_CACHE=DIR uses the image cache in DIR instead).
#   bench/fixture.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" = 0 ]; then
  # As an ordinary user, as the tests run.
  stage=$(mktemp -d /tmp/cowroot-bench-fixture.XXXXXX)
  trap 'rm -rf "$stage"' EXIT
  make -s -C "$src" install PREFIX="$stage/prefix" BUILD="$build" >/dev/null
  cp "$build/bench/fixture_cases" "$stage/"
  mkdir "$stage/home"
  chmod -R a+rX "$stage"
  chown 65534:65534 "$stage/home"
  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$stage/home" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    COWROOT_PREFIX="$stage/prefix" BENCH_CACHE="${BENCH_CACHE:-}" BENCH_ROOTS="${BENCH_ROOTS:-200}" \
    sh "$0" "$stage" --staged
  exit
fi
if [ "${2:-}" = --staged ]; then
  F=$build/fixture_cases
else
  F=$build/bench/fixture_cases
  export COWROOT_PREFIX=${COWROOT_PREFIX:-$build/stage-prefix}
  [ -x "$COWROOT_PREFIX/bin/cowroot" ] || make -s -C "$src" install PREFIX="$COWROOT_PREFIX" BUILD="$build" >/dev/null
fi
[ -n "${BENCH_CACHE:-}" ] && export XDG_CACHE_HOME="$BENCH_CACHE"
C=$COWROOT_PREFIX/bin/cowroot
"$C" image path bookworm >/dev/null || { echo "bench: cannot build or use the bookworm image" >&2; exit 1; }
now() { date +%s.%N; }
n=100
# 1 process, then 4 at once; each its best of 3.
one() { "$F" cases $n bookworm | awk '{ print $2 }'; }
best1=
for i in 1 2 3; do
  t=$(one)
  best1=$(echo "$t ${best1:-$t}" | awk '{ print ($1 < $2) ? $1 : $2 }')
done
best4=
for i in 1 2 3; do
  t0=$(now)
  for p in 1 2 3 4; do "$F" cases $n bookworm > /dev/null & done
  wait
  t=$(echo "$(now) $t0" | awk '{ print $1 - $2 }')
  best4=$(echo "$t ${best4:-$t}" | awk '{ print ($1 < $2) ? $1 : $2 }')
done
# A layer three deep, each a one-line script.
s1='echo one > /etc/layer-one'
s2='echo two > /etc/layer-two'
s3='echo three > /etc/layer-three'
"$F" roots 1 bench-layer-1 bookworm "$s1" > /dev/null
"$F" roots 1 bench-layer-2 bench-layer-1 "$s2" > /dev/null
"$F" roots 1 bench-layer-3 bench-layer-2 "$s3" > /dev/null
r=${BENCH_ROOTS:-200}
plain=$("$F" roots "$r" bookworm)
layer=$("$F" roots "$r" bench-layer-3 bench-layer-2 "$s3")
plain2=$("$F" roots "$r" bookworm)
layer2=$("$F" roots "$r" bench-layer-3 bench-layer-2 "$s3")
# Whole test cases, the plain image and the layer in turn; best of 3 each.
pcases= lcases=
for i in 1 2 3; do
  t=$(one)
  pcases=$(echo "$t ${pcases:-$t}" | awk '{ print ($1 < $2) ? $1 : $2 }')
  t=$("$F" cases $n bench-layer-3 bench-layer-2 "$s3" | awk '{ print $2 }')
  lcases=$(echo "$t ${lcases:-$t}" | awk '{ print ($1 < $2) ? $1 : $2 }')
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  $(nproc) cores  load $(cut -d' ' -f1-3 /proc/loadavg)  as uid $(id -u)"
echo "# test case: a fresh root of bookworm (the pool), sh -c 'test ! -e F && : > F', the root reset"
printf '%-46s %8.1f cases/s  (%d in %.2f s, best of 3)\n' "1 process" "$(echo "$n $best1" | awk '{ print $1 / $2 }')" $n "$best1"
printf '%-46s %8.1f cases/s  (%d in %.2f s, best of 3; %.2fx one process)\n' "4 processes at once" \
  "$(echo "$n $best4" | awk '{ print 4 * $1 / $2 }')" $((4 * n)) "$best4" "$(echo "$best1 $best4" | awk '{ print 4 * $1 / $2 }')"
printf '%-46s %8.1f cases/s  against %.1f on bookworm, in turn (best of 3 each)\n' "1 process, a layer three deep" \
  "$(echo "$n $lcases" | awk '{ print $1 / $2 }')" "$(echo "$n $pcases" | awk '{ print $1 / $2 }')"
echo "# take and reset of a root (one file written between), median of $r, ms; two rounds each, interleaved"
printf '%-46s take %s  reset %s    take %s  reset %s\n' "bookworm" $plain $plain2
printf '%-46s take %s  reset %s    take %s  reset %s\n' "bench-layer-3 (bookworm + 3 layers)" $layer $layer2
"$C" image rm bench-layer-3 && "$C" image rm bench-layer-2 && "$C" image rm bench-layer-1
