#!/bin/sh
# Runs fakeroot's own upstream test suite (test/t.* of a fakeroot source
# tree, e.g. 1.31) with cowroot as the launcher, as an unprivileged user.
#   tests/peer/fakeroot.sh PREFIX FAKEROOT_SRC
# The suite's test/defs starts  ../scripts/fakeroot -f ../faked -l ../.libs/libfakeroot-0.so;
# those names are pointed at the installed cowroot, its daemon and library.
set -u
prefix=$1 src=$2
[ -f "$src/test/defs.in" ] || { echo "peer-tests: $src is not a fakeroot source tree (no test/defs.in)" >&2; exit 2; }
work=$(mktemp -d /tmp/cowroot-peer.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
mkdir -p "$work/scripts" "$work/.libs" "$work/test"
cp -p "$src"/test/t.* "$src"/test/compare-tar "$src"/test/cp-atest "$src"/test/echo_arg \
  "$src"/test/tartest "$src"/test/tartest.tar.gz.uue "$work/test/" 2>/dev/null
sed 's/@LDPRELOADVAR@/LD_PRELOAD/' "$src/test/defs.in" > "$work/test/defs"
ln -s "$prefix/bin/cowroot" "$work/scripts/fakeroot"
ln -s "$prefix/libexec/cowroot/cowroot-faked" "$work/faked"
ln -s "$prefix/lib/libcowroot.so" "$work/.libs/libfakeroot-0.so"
run() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  chown -R 65534:65534 "$work"
  run() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$work" "$@"; }
fi
cd "$work/test" || exit 2
pass=0 fail=0 skip=0
for t in $(cd "$src/test" && ls t.* | grep -v "\\.in$"); do
  run env libfakeroot=libfakeroot-0.so srcdir=. suffix= posixshell=/bin/sh /bin/sh "./$t" >/dev/null 2>&1
  case $? in 0) pass=$((pass + 1)); r=PASS ;; 77) skip=$((skip + 1)); r=SKIP ;; *) fail=$((fail + 1)); r=FAIL ;; esac
  echo "$r: $t"
done
echo "fakeroot's suite: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
