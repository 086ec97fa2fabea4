#!/bin/sh
# Runs the test suites against an installed copy of cowroot, the way users
# get it (`make install PREFIX=...`), as an unprivileged user.
#   tests/run.sh BUILD_DIR TEST_BINARY...
# The install goes to a fresh directory under /tmp so that the unprivileged
# uid the tests drop to can reach it even when the checkout is in /root.
set -u
build=$1; shift
stage=$(mktemp -d /tmp/cowroot-test.XXXXXX) || exit 1
# Every mount made below (wherever a test may have carried it) goes before the files do.
unmount_all() {
  awk -v s="$stage/" 'index($5, s) == 1 { print $5 }' /proc/self/mountinfo 2>/dev/null | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
}
trap 'unmount_all; rm -rf "$stage" 2>/dev/null' EXIT INT TERM
make -s install PREFIX="$stage/prefix" BUILD="$build" >/dev/null || { echo "tests: install failed" >&2; exit 1; }
mkdir -p "$stage/bin" "$stage/work"
for t in "$@"; do cp "$t" "$stage/bin/"; done
cp -r "$build/tests/helper" "$(dirname "$0")/goprog" "$(dirname "$0")/muslprog.c" "$(dirname "$0")/mkroot.sh" "$(dirname "$0")/../mk/path-functions.py" \
   "$(dirname "$0")/../preload/unwrapped-path-functions.txt" "$stage/bin/"
for f in rawprog rawprog-static; do [ -f "$build/tests/$f" ] && cp "$build/tests/$f" "$stage/bin/"; done
chmod -R a+rX "$stage"
chmod 1777 "$stage/work"
# The real client needs a mirror (the host's apt sources) and, to compare
# with, the image real root builds: made here while we may still be root.
mirror=$(sh "$(dirname "$0")/../mk/mirror.sh")
export COWROOT_TEST_MIRROR="$mirror"
if [ "${COWROOT_TEST_DEBOOTSTRAP:-1}" != 0 ] && [ "$(id -u)" = 0 ] && [ -n "$mirror" ]; then
  echo "== building the reference image as real root (debootstrap --variant=minbase bookworm $mirror)"
  if debootstrap --variant=minbase bookworm "$stage/reference" "$mirror" > "$stage/reference.log" 2>&1; then
    # Listed here, as root: the unprivileged tests could not read /root in it.
    (cd "$stage/reference" && find . \( -path ./proc -o -path ./sys -o -path ./dev \) -prune -o \
       -printf '%y %m %U %G %l\t%p\n' 2>/dev/null | sed 's|\t\./|\t/|; s|\t\.$|\t/|') > "$stage/reference.list"
    chmod 644 "$stage/reference.list"
    export COWROOT_TEST_REFERENCE="$stage/reference.list"
  else
    echo "tests: the reference debootstrap failed:" >&2; tail -n 5 "$stage/reference.log" >&2; exit 1
  fi
fi
# A small file system the unprivileged tests can fill, for a real ENOSPC
# (root only; where mount is not allowed, that test says it was skipped).
if [ "$(id -u)" = 0 ] && mkdir -p "$stage/smallfs" &&
   mount -t tmpfs -o size=40m,mode=1777 cowroot-test "$stage/smallfs" 2>/dev/null; then
  export COWROOT_TEST_SMALLFS="$stage/smallfs"
fi
# A bind mount the unprivileged tests can carry into a clone (the owner of
# a directory may move it with a mount point inside), to check that reset
# never enters a mount (root only; where mount is not allowed, those tests
# say they were skipped).
if [ "$(id -u)" = 0 ] && mkdir -p "$stage/mounts/holder/m" "$stage/mounts/src" &&
   echo keep > "$stage/mounts/src/inmount" && chown -R "${COWROOT_TEST_UID:-65534}" "$stage/mounts" &&
   mount --bind "$stage/mounts/src" "$stage/mounts/holder/m" 2>/dev/null; then
  export COWROOT_TEST_MOUNT_HOLDER="$stage/mounts/holder"
fi
# HOME too: root's would be unreadable to the uid the tests drop to (dpkg
# warns about ~/.dpkg.cfg).
export COWROOT_TEST_PREFIX="$stage/prefix" COWROOT_TEST_MKROOT="$stage/bin/mkroot.sh" TMPDIR="$stage/work" \
  HOME="$stage/work"
passed=0 failed=0 status=0
for t in "$@"; do
  name=$(basename "$t")
  echo "== $name"
  out=$("$stage/bin/$name" 2>&1); rc=$?
  printf '%s\n' "$out"
  line=$(printf '%s\n' "$out" | grep '^\[doctest\] test cases:' | tail -n 1)
  p=$(printf '%s' "$line" | sed -n 's/.*| *\([0-9]*\) passed.*/\1/p')
  f=$(printf '%s' "$line" | sed -n 's/.*| *\([0-9]*\) failed.*/\1/p')
  if [ -z "$line" ]; then  # GoogleTest's summary
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' | tail -n 1)
  fi
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" -ne 0 ]; then status=1; [ "${f:-0}" -eq 0 ] && failed=$((failed + 1)); fi
done
echo "tests: $passed passed, $failed failed"
exit $status
