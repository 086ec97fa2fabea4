#!/bin/sh
# Runs fakechroot's own upstream test suite (test/t/*.t of a fakechroot
# source tree, e.g. github dex4er/fakechroot 2.20.1) with test/bin/fakechroot
# replaced by `cowroot --fakechroot -- "$@"`, as an unprivileged user.
#   tests/peer/fakechroot.sh PREFIX FAKECHROOT_SRC
# Needs autoconf, automake, libtool, gcc and prove (perl) to build the
# suite's helper programs; fakechroot's own library is never built or used.
# FAKECHROOT_TEST_DEBOOTSTRAP=1 also runs zzdebootstrap.t (debootstrap, then
# build-essential and a build of `hello` inside: the Debian archive, minutes).
set -u
prefix=$1 src=$2
[ -f "$src/test/common.inc.sh" ] || { echo "peer-tests: $src is not a fakechroot source tree" >&2; exit 2; }
work=$(mktemp -d /tmp/cowroot-fakechroot.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
cp -a "$src/." "$work/"
(cd "$work" && ./autogen.sh && ./configure && make -C test/src check) >"$work/build.log" 2>&1 ||
  { echo "peer-tests: building fakechroot's test helpers failed (see $work/build.log)" >&2; tail -5 "$work/build.log"; exit 2; }
printf '#!/bin/sh\nexec %s --fakechroot -- "$@"\n' "$prefix/bin/cowroot" > "$work/test/bin/fakechroot"
chmod 755 "$work/test/bin/fakechroot"
mkdir -p "$work/home"
run() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  chown -R 65534:65534 "$work"
  run() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
fi
cd "$work/test" || exit 2
pass=0 fail=0 skip=0
for t in t/*.t; do
  run env -i HOME="$work/home" PATH=/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin LANG=C LC_ALL=C SHELL=/bin/sh \
    srcdir=. top_srcdir=.. TEST_DEBOOTSTRAP="${FAKECHROOT_TEST_DEBOOTSTRAP:-}" \
    timeout -k 10 900 prove --merge --exec /bin/sh "$t" > "$work/out" 2>&1
  rc=$?
  if grep -q 'Result: NOTESTS' "$work/out"; then r=SKIP; skip=$((skip + 1))
  elif [ $rc = 0 ]; then r=PASS; pass=$((pass + 1))
  else r=FAIL; fail=$((fail + 1)); fi
  echo "$r: $t"
done
echo "fakechroot's suite: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
