#!/bin/sh
# debootstrap from one --make-tarball, three ways, side by side in one run:
#   cowroot -s STATE -- debootstrap --unpack-tarball=T SUITE DIR MIRROR     (the real variant)
#   fakechroot fakeroot debootstrap --variant=fakechroot --unpack-tarball=T SUITE DIR MIRROR
#   debootstrap --unpack-tarball=T SUITE DIR MIRROR as real root (when run as root)
# The tarball is made first (the download is not timed). The default variant
# and the fakechroot variant install the same packages (required +
# important); minbase's smaller set has no fakechroot counterpart.
#   sh bench/debootstrap.sh BUILD_DIR
# Needs the Debian archive (the mirror of the host's apt sources), fakeroot
# and fakechroot. Each build takes about a minute on 2 cores.
set -eu
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
mirror=$(sh "$here/../mk/mirror.sh")
[ -n "$mirror" ] || { echo "bench: no Debian mirror in the host's apt sources" >&2; exit 1; }
for t in fakeroot fakechroot debootstrap; do
  command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "bench: $t is not installed" >&2; exit 1; }
done
suite=${BENCH_SUITE:-bookworm}
export PATH="/usr/sbin:/sbin:$PATH"

work=$(mktemp -d /tmp/cowroot-bench-debootstrap.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp "$build/cowroot" "$build/cowroot-faked" "$build/libcowroot.so" "$build/bench/timeit" "$work/"
chmod -R a+rX "$work"
as_user=
if [ "$(id -u)" = 0 ]; then
  # Fake-root tools are measured as an ordinary user; real root is the baseline.
  as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
  mkdir "$work/u"
  chown 65534:65534 "$work/u"
else
  mkdir "$work/u"
fi
u=$work/u
run() { env HOME="$u" $as_user "$@"; }
timed() { "$work/timeit" 1 "" -- "$@" | cut -d' ' -f1 | cut -d. -f1; }

echo "# making the tarball (download, not timed): debootstrap --make-tarball $suite $mirror" >&2
run "$work/cowroot" -- debootstrap --make-tarball="$u/debs.tgz" "$suite" "$u/tb" "$mirror" > "$u/tarball.log" 2>&1 ||
  { tail -n 5 "$u/tarball.log" >&2; echo "bench: --make-tarball failed" >&2; exit 1; }

# Each build once per round, the order reversed in the second round (what
# ran before leaves caches and freed inodes behind); the best of each counts.
build_cow() {
  rm -rf "$u/cow" "$u/state"
  timed env HOME="$u" $as_user "$work/cowroot" -s "$u/state" -- \
    sh -c 'exec debootstrap --unpack-tarball="$1" "$2" "$3" "$4" > "$5" 2>&1' sh "$u/debs.tgz" "$suite" "$u/cow" "$mirror" "$u/cow.log" ||
    { tail -n 5 "$u/cow.log" >&2; echo "bench: debootstrap under cowroot failed" >&2; exit 1; }
}
build_trio() {
  rm -rf "$u/trio"
  timed env HOME="$u" $as_user fakechroot fakeroot \
    sh -c 'exec debootstrap --variant=fakechroot --unpack-tarball="$1" "$2" "$3" "$4" > "$5" 2>&1' sh "$u/debs.tgz" "$suite" "$u/trio" "$mirror" "$u/trio.log" ||
    { tail -n 5 "$u/trio.log" >&2; echo "bench: debootstrap under fakechroot fakeroot failed" >&2; exit 1; }
}
build_native() {
  rm -rf "$work/native"
  timed sh -c 'exec debootstrap --unpack-tarball="$1" "$2" "$3" "$4" > "$5" 2>&1' sh "$u/debs.tgz" "$suite" "$work/native" "$mirror" "$work/native.log" ||
    { tail -n 5 "$work/native.log" >&2; echo "bench: debootstrap as real root failed" >&2; exit 1; }
}
min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
t_cow= t_trio= t_native=
for order in "cow trio native" "native trio cow"; do
  for v in $order; do
    [ "$v" = native ] && [ -z "$as_user" ] && continue
    t=$(build_$v) || exit 1
    case $v in
      cow) t_cow=$(min "$t_cow" "$t") ;;
      trio) t_trio=$(min "$t_trio" "$t") ;;
      native) t_native=$(min "$t_native" "$t") ;;
    esac
  done
done
pk=$(grep -c '^I: Configuring' "$u/cow.log" || true)
echo
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  $(nproc) cpus; debootstrap $suite from one --make-tarball ($pk packages configured), best of 2 runs each, in opposite orders"
printf '%-58s %10s\n' "build" "seconds"
printf '%-58s %10s\n' "cowroot -s STATE -- debootstrap (real variant)" "$(echo "$t_cow" | awk '{printf "%.1f", $1/1000}')"
printf '%-58s %10s\n' "fakechroot fakeroot debootstrap --variant=fakechroot" "$(echo "$t_trio" | awk '{printf "%.1f", $1/1000}')"
[ -n "$t_native" ] && printf '%-58s %10s\n' "debootstrap as real root (no tool)" "$(echo "$t_native" | awk '{printf "%.1f", $1/1000}')"
echo "# trio/cowroot: $(echo "$t_trio $t_cow" | awk '{printf "%.2f", $1/$2}')${t_native:+; cowroot/real root: $(echo "$t_cow $t_native" | awk '{printf "%.2f", $1/$2}')}"
