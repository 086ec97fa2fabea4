#!/bin/sh
# One row per Debian release, all from this one build of cowroot:
#   image build    `cowroot image build S --suite S` (debootstrap under cowroot,
#                  the download included), once
#   run /bin/true  `cowroot run --image S -- /bin/true`, best of 5
#   stat, exec     bench/relcall inside a clone of the image (a stat of a file,
#                  a fork+exec+wait of the root's /bin/true), against the same
#                  natively (the clone's host path, the host's /bin/true)
# relcall pins its symbols to the oldest glibc's, so one build runs in every
# root. Needs the Debian archive: about 1.5 minutes and 250 MB per release.
#   sh bench/releases.sh BUILD_DIR
# BENCH_SUITES (default "bullseye bookworm trixie sid"). The images go into a
# cache of the run's own, removed afterwards, unless BENCH_IMAGE_CACHE names a
# directory to keep them in (then an image found there is not built again).
set -eu
build=$(cd "$1" && pwd)
suites=${BENCH_SUITES:-bullseye bookworm trixie sid}
if [ "$(id -u)" = 0 ]; then
  # Fake-root tools are measured as an ordinary user.
  stage=$(mktemp -d /tmp/cowroot-bench-releases.XXXXXX)
  trap 'rm -rf "$stage"' EXIT
  cp "$build/cowroot" "$build/cowroot-faked" "$build/libcowroot.so" "$stage/"
  mkdir "$stage/bench" "$stage/home"
  cp "$build/bench/relcall" "$build/bench/timeit" "$stage/bench/"
  chmod -R a+rX "$stage"
  chown 65534:65534 "$stage/home"
  cache=${BENCH_IMAGE_CACHE:-$stage/home/cache}
  mkdir -p "$cache" && chown 65534:65534 "$cache"
  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$stage/home" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    BENCH_SUITES="$suites" BENCH_IMAGE_CACHE="$cache" sh "$0" "$stage"
  exit
fi
C="$build/cowroot"
T="$build/bench/timeit"
R="$build/bench/relcall"
for f in "$C" "$T" "$R"; do [ -x "$f" ] || { echo "bench: $f is missing (make bench builds it)" >&2; exit 1; }; done
own=
if [ -z "${BENCH_IMAGE_CACHE:-}" ]; then
  own=$(mktemp -d /tmp/cowroot-bench-releases-cache.XXXXXX)
  BENCH_IMAGE_CACHE=$own
fi
export XDG_CACHE_HOME="$BENCH_IMAGE_CACHE"
work=$(mktemp -d "$XDG_CACHE_HOME/work.XXXXXX")
trap 'rm -rf "$work" "$work".*; [ -z "$own" ] || { chmod -R u+w "$own" 2>/dev/null; rm -rf "$own"; }' EXIT
timed() { "$T" 1 "" -- "$@" | cut -d' ' -f1; }
best() { sort -n | head -n 1; }
field() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  as uid $(id -u); images in $XDG_CACHE_HOME"
echo "# image build: seconds, once (download included); run: ms, best of 5; stat ns and fork+exec us: median of 5 rounds (bench/relcall)"
printf '%-9s %-6s %9s %8s | %8s %8s %6s | %9s %9s %6s\n' suite glibc "build s" "run ms" "stat" "native" ratio "exec us" "native" ratio
for s in $suites; do
  if "$C" image list | awk -v s="$s" '$1 == s { f = 1 } END { exit !f }'; then
    t_build=cached
  else
    t_build=$(timed "$C" image build "$s" --suite "$s" 2>"$work/$s.build.log") ||
      { tail -n 3 "$work/$s.build.log" >&2; echo "bench: image $s failed" >&2; exit 1; }
    t_build=$(echo "$t_build" | awk '{ printf "%.0f", $1 / 1000 }')
  fi
  t_run=
  for i in 1 2 3 4 5; do t_run="$t_run $(timed "$C" run --image "$s" -- /bin/true)"; sleep 0.2; done
  t_run=$(for x in $t_run; do echo "$x"; done | best)
  base=$("$C" image path "$s")
  "$C" clone "$base" "$work/$s" 2>/dev/null
  cp "$R" "$work/$s/usr/local/bin/relcall"
  glibc=$("$C" -r "$work/$s" -- sh -c 'ldd --version | head -n 1' 2>/dev/null | awk '{ print $NF }')
  "$C" -r "$work/$s" -- /usr/local/bin/relcall /etc/passwd /bin/true > "$work/$s.in"
  "$R" "$work/$s/etc/passwd" /bin/true > "$work/$s.native"
  awk -v s="$s" -v g="$glibc" -v b="$t_build" -v r="$t_run" '
    FILENAME ~ /in$/ { i[$1] = $2 } FILENAME ~ /native$/ { n[$1] = $2 }
    END { printf "%-9s %-6s %9s %8s | %8d %8d %6.2f | %9.0f %9.0f %6.2f\n", s, g, b, r,
          i["stat"], n["stat"], i["stat"] / n["stat"], i["fork_exec"] / 1000, n["fork_exec"] / 1000,
          i["fork_exec"] / n["fork_exec"] }' "$work/$s.in" "$work/$s.native"
  rm -rf "$work/$s" "$work/$s.cowroot"
done
