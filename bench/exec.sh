#!/bin/sh
# Exec-heavy workloads in a root of the bookworm image: cowroot (as an
# ordinary user, `cowroot -r CLONE`) against real root in a real `chroot`
# of a copy of the same image (/dev and /proc mounted in, as cowroot passes
# them through). Each round gets a fresh clone and a fresh copy; the time
# of the command as its caller sees it (bench/timeit), best of the rounds.
#   loop   1000 `/bin/true` from a shell loop
#   dpkg   `dpkg -i` of cron and logrotate with what they need beyond
#          minbase (downloaded once, before the rounds): their maintainer
#          scripts run adduser, update-rc.d, deb-systemd-helper, ...
#   sh bench/exec.sh BUILD_DIR
# BENCH_EXEC_BEFORE=OTHER_BUILD_DIR adds that build's times (an older tree's,
# e.g. git worktree add /tmp/old REV && make -C /tmp/old), in the same
# interleaved rounds: a change to the exec path compared within one run.
# Needs root (for the chroot) and the Debian archive (the image and the
# packages); as another user it says so and stops. BENCH_ROUNDS (default
# 3); BENCH_IMAGE_CACHE names an image cache to use and keep.
set -eu
build=$(cd "${1:?usage: sh bench/exec.sh BUILD_DIR}" && pwd)
rounds=${BENCH_ROUNDS:-3}
if [ "$(id -u)" != 0 ]; then
  echo "bench: exec workloads against real root's chroot need root: skipped"
  exit 0
fi
for f in cowroot cowroot-faked libcowroot.so cowroot-stub bench/timeit bench/pagecost; do
  [ -f "$build/$f" ] || { echo "bench: $build/$f is missing (make bench builds it)" >&2; exit 1; }
done
stage=$(mktemp -d /tmp/cowroot-bench-exec.XXXXXX)
unmount() { for m in "$stage/copy/proc" "$stage/copy/dev"; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done; true; }
# Directories only get their write bit back: a clone's files are hard links
# into the image, whose modes are the image's too.
rmtree() { find "$@" -type d ! -perm -u=rwx -exec chmod u+rwx {} + 2>/dev/null; rm -rf "$@"; }
trap 'unmount; rmtree "$stage"' EXIT
trap 'exit 130' INT TERM
# An install of the build, where uid 65534 can read it.
make -s -C "$(dirname "$0")/.." install PREFIX="$stage/prefix" BUILD="$build" >/dev/null
cp "$build/bench/timeit" "$stage/"
mkdir "$stage/home" "$stage/debs"
chmod -R a+rX "$stage"
chown 65534:65534 "$stage/home" "$stage/debs"
cache=${BENCH_IMAGE_CACHE:-$stage/home/cache}
mkdir -p "$cache" && chown 65534:65534 "$cache"
C="$stage/prefix/bin/cowroot"
CB=
if [ -n "${BENCH_EXEC_BEFORE:-}" ]; then
  before=$(cd "$BENCH_EXEC_BEFORE" && pwd)
  make -s -C "$(dirname "$before")" install PREFIX="$stage/before" BUILD="$before" >/dev/null ||
    { echo "bench: cannot install $before" >&2; exit 1; }
  chmod -R a+rX "$stage/before"
  CB="$stage/before/bin/cowroot"
fi
U="setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=$stage/home XDG_CACHE_HOME=$cache PATH=/usr/bin:/bin:/usr/sbin:/sbin"
T="$stage/timeit"
$U "$C" image build bookworm >"$stage/build.log" 2>&1 ||
  { tail -n 3 "$stage/build.log" >&2; echo "bench: image bookworm failed" >&2; exit 1; }
img=$($U "$C" image path bookworm)
# The packages, once, downloaded in a throwaway clone.
$U "$C" clone "$img" "$stage/home/dl" >/dev/null
$U "$C" -r "$stage/home/dl" -- sh -c 'apt-get clean && apt-get update -q && apt-get install -y -q -d --no-install-recommends cron logrotate' \
  >"$stage/debs.log" 2>&1 || { tail -n 3 "$stage/debs.log" >&2; echo "bench: downloading the packages failed" >&2; exit 1; }
cp "$stage/home/dl/var/cache/apt/archives/"*.deb "$stage/debs/"
chmod a+r "$stage/debs/"*.deb
ndebs=$(ls "$stage/debs" | grep -c '\.deb$' || true)
[ "$ndebs" -gt 0 ] || { echo "bench: no packages were downloaded" >&2; exit 1; }
cat > "$stage/w.sh" <<'EOF'
case $1 in
  loop) i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i + 1)); done ;;
  dpkg) # cron pre-depends on cron-daemon-common, logrotate depends on cron: in that order.
    export DEBIAN_FRONTEND=noninteractive
    { dpkg -i $(ls /tmp/debs/*.deb | grep -v -e /cron_ -e /logrotate_) && dpkg -i /tmp/debs/cron_*.deb &&
      dpkg -i /tmp/debs/logrotate_*.deb; } >/tmp/dpkg.log 2>&1 || { tail -n 5 /tmp/dpkg.log >&2; exit 1; } ;;
esac
EOF
chmod a+r "$stage/w.sh"
# A fresh root of each kind, with the workload and the packages in its /tmp.
fresh_clone() {
  [ -e "$stage/home/clone" ] && rmtree "$stage/home/clone" "$stage/home/clone.cowroot"
  $U "$C" clone "$img" "$stage/home/clone" >/dev/null
  $U sh -c 'mkdir -p "$1/tmp/debs" && cp "$2"/*.deb "$1/tmp/debs/" && cp "$3" "$1/tmp/w.sh"' sh "$stage/home/clone" "$stage/debs" "$stage/w.sh"
}
fresh_copy() {
  unmount
  [ -e "$stage/copy" ] && rmtree "$stage/copy"
  cp -a "$img" "$stage/copy"
  mkdir -p "$stage/copy/tmp/debs" && cp "$stage/debs"/*.deb "$stage/copy/tmp/debs/" && cp "$stage/w.sh" "$stage/copy/tmp/w.sh"
  mount --bind /dev "$stage/copy/dev" && mount -t proc proc "$stage/copy/proc"
}
ms() { "$T" 1 "" -- "$@" | cut -d' ' -f1; }
best() { sort -n | head -n 1; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  bookworm; ms, best of $rounds (a fresh clone / copy each)"
echo "# cowroot: uid 65534, cowroot -r CLONE -- sh /tmp/w.sh W; chroot: real root, chroot COPY sh /tmp/w.sh W"
[ -n "$CB" ] && echo "# before: $BENCH_EXEC_BEFORE, in the same rounds"
if [ -n "$CB" ]; then
  printf '%-40s %10s %10s %10s %7s %7s\n' workload before cowroot chroot ratio before
else
  printf '%-40s %10s %10s %7s\n' workload cowroot chroot ratio
fi
for w in loop dpkg; do
  tc= tr= tb=
  for i in $(seq "$rounds"); do
    # The two builds take turns going first: a run right after another's
    # dpkg pays for that one's writeback.
    if [ -n "$CB" ] && [ $((i % 2)) = 1 ]; then
      fresh_clone
      tb="$tb $(ms $U "$CB" -r "$stage/home/clone" -- sh /tmp/w.sh $w)"
    fi
    fresh_clone
    tc="$tc $(ms $U "$C" -r "$stage/home/clone" -- sh /tmp/w.sh $w)"
    if [ -n "$CB" ] && [ $((i % 2)) = 0 ]; then
      fresh_clone
      tb="$tb $(ms $U "$CB" -r "$stage/home/clone" -- sh /tmp/w.sh $w)"
    fi
    fresh_copy
    tr="$tr $(ms chroot "$stage/copy" sh /tmp/w.sh $w)"
  done
  c=$(for x in $tc; do echo "$x"; done | best)
  r=$(for x in $tr; do echo "$x"; done | best)
  case $w in
    loop) label="1000 /bin/true from sh" ;;
    dpkg) label="dpkg -i cron logrotate (+$((ndebs - 2)) deps)" ;;
  esac
  if [ -n "$CB" ]; then
    b=$(for x in $tb; do echo "$x"; done | best)
    printf '%-40s %10.0f %10.0f %10.0f %7.2f %7.2f\n' "$label" "$b" "$c" "$r" "$(echo "$c $r" | awk '{ print $1 / $2 }')" \
      "$(echo "$b $r" | awk '{ print $1 / $2 }')"
  else
    printf '%-40s %10.0f %10.0f %7.2f\n' "$label" "$c" "$r" "$(echo "$c $r" | awk '{ print $1 / $2 }')"
  fi
done
# What this kernel charges for a system call and a page (bench/pagecost.cc):
# an exec inside a root makes more of each than a chroot's (docs/benchmarks.md).
echo "# this kernel's prices (bench/pagecost, on the root's libc, median of 15)"
"$build/bench/pagecost" "$img/usr/lib/x86_64-linux-gnu/libc.so.6" 64 | sed 's/^/#   /'
