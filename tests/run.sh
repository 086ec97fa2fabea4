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
cp -r "$build/tests/helper" "$(dirname "$0")/goprog" "$(dirname "$0")/muslprog.c" "$(dirname "$0")/nssmod.c" "$(dirname "$0")/mkroot.sh" "$(dirname "$0")/fixture_capi.c" "$(dirname "$0")/../mk/path-functions.py" \
   "$(dirname "$0")/../mk/check-glibc.sh" "$(dirname "$0")/../preload/unwrapped-path-functions.txt" "$(dirname "$0")/../preload/ops.tbl" "$stage/bin/"
cp -r "$(dirname "$0")/python" "$stage/bin/python"
rm -rf "$stage/bin/python/__pycache__"
# The CMake example (fixture/examples/cmake), built against the install by fixture_api_tests.
cp -r "$(dirname "$0")/../fixture/examples/cmake" "$stage/bin/cmake-example"
# The fuzz targets' corpora, which build/tests/fuzz_replay runs once.
cp -r "$(dirname "$0")/fuzz/corpus" "$stage/fuzz-corpus"
for f in rawprog rawprog-static; do [ -f "$build/tests/$f" ] && cp "$build/tests/$f" "$stage/bin/"; done
chmod -R a+rX "$stage"
chmod 1777 "$stage/work"
# The real client needs a mirror (the host's apt sources) and, to compare
# with, the images real root builds: made here while we may still be root,
# at once (bookworm for debootstrap_tests; bullseye and trixie too when
# releases_tests runs), and listed (the listing is all the tests read).
mirror=$(sh "$(dirname "$0")/../mk/mirror.sh")
export COWROOT_TEST_MIRROR="$mirror"
# An Ubuntu release too (jammy), when releases_tests runs and Ubuntu's
# archive answers (COWROOT_TEST_UBUNTU_MIRROR, empty for none): its key
# comes from Ubuntu's keyring package, checked against a pinned SHA-256.
ubuntu=
case " $* " in *releases_tests*)
  if [ "${COWROOT_TEST_DEBOOTSTRAP:-1}" != 0 ] && [ -n "${COWROOT_TEST_UBUNTU_MIRROR-http://archive.ubuntu.com/ubuntu}" ]; then
    umirror=${COWROOT_TEST_UBUNTU_MIRROR-http://archive.ubuntu.com/ubuntu}
    if sh "$(dirname "$0")/ubuntu-keyring.sh" "$umirror" "$stage/ubuntu-archive-keyring.gpg"; then
      ubuntu=jammy
      export COWROOT_TEST_UBUNTU_MIRROR="$umirror" COWROOT_TEST_UBUNTU_KEYRING="$stage/ubuntu-archive-keyring.gpg"
    else
      echo "tests: no Ubuntu archive at $umirror: releases_tests' Ubuntu case is skipped"
    fi
  fi ;;
esac
if [ "${COWROOT_TEST_DEBOOTSTRAP:-1}" != 0 ] && [ "$(id -u)" = 0 ] && [ -n "$mirror" ]; then
  suites=bookworm
  case " $* " in *releases_tests*) suites="bookworm bullseye trixie" ;; esac
  echo "== building the reference images as real root (debootstrap --variant=minbase, $suites from $mirror${ubuntu:+; Ubuntu $ubuntu from $COWROOT_TEST_UBUNTU_MIRROR})"
  t0=$(date +%s)
  # (Three tries each: a mirror's passing error is not the project's.)
  for s in $suites; do
    (for try in 1 2 3; do
       # (Never into what a failed try left mounted in it: /proc, /sys.)
       rm -rf --one-file-system "$stage/reference-$s"
       debootstrap --variant=minbase "$s" "$stage/reference-$s" "$mirror" > "$stage/reference-$s.log" 2>&1
       rc=$?
       [ "$rc" = 0 ] && break
       [ "$try" = 3 ] || sleep 10
     done
     echo "$rc" > "$stage/reference-$s.rc") &
  done
  for s in $ubuntu; do
    (debootstrap --variant=minbase --keyring="$COWROOT_TEST_UBUNTU_KEYRING" "$s" "$stage/reference-$s" \
       "$COWROOT_TEST_UBUNTU_MIRROR" > "$stage/reference-$s.log" 2>&1
     echo $? > "$stage/reference-$s.rc") &
  done
  wait
  # Ubuntu's archive is another network's: when real root's build of it
  # fails, its comparison is skipped (said here), not the run.
  for s in $ubuntu; do
    if [ "$(cat "$stage/reference-$s.rc")" = 0 ]; then
      suites="$suites $s"
    else
      echo "tests: the reference debootstrap of Ubuntu $s failed (its comparison is skipped):"; tail -n 3 "$stage/reference-$s.log"
      rm -rf "$stage/reference-$s"
    fi
  done
  for s in $suites; do
    if [ "$(cat "$stage/reference-$s.rc")" != 0 ]; then
      echo "tests: the reference debootstrap of $s failed:" >&2; tail -n 5 "$stage/reference-$s.log" >&2; exit 1
    fi
    # Listed here, as root: the unprivileged tests could not read /root in it.
    (cd "$stage/reference-$s" && find . \( -path ./proc -o -path ./sys -o -path ./dev \) -prune -o \
       -printf '%y %m %U %G %l\t%p\n' 2>/dev/null | sed 's|\t\./|\t/|; s|\t\.$|\t/|') > "$stage/reference-$s.list"
    chmod 644 "$stage/reference-$s.list"
    rm -rf "$stage/reference-$s"
  done
  echo "== reference images: $(($(date +%s) - t0)) s"
  export COWROOT_TEST_REFERENCE="$stage/reference-bookworm.list"
  case $suites in *bullseye*)
    export COWROOT_TEST_REFERENCE_BULLSEYE="$stage/reference-bullseye.list" COWROOT_TEST_REFERENCE_TRIXIE="$stage/reference-trixie.list" ;;
  esac
  case " $suites " in *" jammy "*) export COWROOT_TEST_REFERENCE_JAMMY="$stage/reference-jammy.list" ;; esac
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
  COWROOT_TEST_CAPI_SRC="$stage/bin/fixture_capi.c" COWROOT_TEST_CMAKE_EXAMPLE="$stage/bin/cmake-example" \
  HOME="$stage/work" COWROOT_TEST_FUZZ_CORPUS="$stage/fuzz-corpus"
passed=0 failed=0 status=0 failures= excerpts=
# A failing suite is named again at the very end, with the lines that say
# why (CI keeps only the tail of the output).
note_failure() {  # NAME RC OUTPUT
  failures="$failures $1(exit $2)"
  excerpts="$excerpts
-- $1, exit $2:
$(printf '%s\n' "$3" | grep -E -A2 '^TEST CASE:|ERROR|FATAL|FAILED|Error|error:|Assertion|Sanitizer|^E  ' | grep -v '^--$' | tail -n 12)"
}
# A suite that hangs is stopped (SIGTERM: doctest names the case it was in)
# and the others still run: the longest takes about 4 minutes under ASan on
# a slow 2-core machine.
limit=${COWROOT_TEST_SUITE_TIMEOUT:-900}
for t in "$@"; do
  name=$(basename "$t")
  echo "== $name"
  t0=$(date +%s)
  out=$(timeout -k 30 "$limit" "$stage/bin/$name" 2>&1); rc=$?
  printf '%s\n' "$out"
  echo "== $name: $(($(date +%s) - t0)) s"
  [ "$rc" -eq 124 ] && out="$out
ERROR: $name stopped after $limit s (COWROOT_TEST_SUITE_TIMEOUT)" && echo "== $name: stopped after $limit s"
  line=$(printf '%s\n' "$out" | grep '^\[doctest\] test cases:' | tail -n 1)
  p=$(printf '%s' "$line" | sed -n 's/.*| *\([0-9]*\) passed.*/\1/p')
  f=$(printf '%s' "$line" | sed -n 's/.*| *\([0-9]*\) failed.*/\1/p')
  if [ -z "$line" ]; then  # GoogleTest's summary
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) tests\{0,1\}\..*/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\{0,1\}, listed below.*/\1/p' | tail -n 1)
  fi
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" -ne 0 ]; then
    status=1; [ "${f:-0}" -eq 0 ] && failed=$((failed + 1))
    [ -z "$line" ] && [ -z "$p" ] && echo "== $name ended without a summary (exit $rc)"
    note_failure "$name" "$rc" "$out"
  fi
done
# The Python suite (tests/python) unless COWROOT_TEST_PYTHON=0 (make
# test-asan: an instrumented libcowroot-fixture.so cannot load into a
# python3 without ASan's runtime; the C ABI's own tests run there).
if [ "${COWROOT_TEST_PYTHON:-1}" != 0 ]; then
  # python3 and Debian's pytest, as the unprivileged uid, on the image the
  # fixture suites use (the same cache).
  echo "== python"
  py=/usr/bin/python3; [ -x "$py" ] || py=python3
  pydir=$(echo "$stage"/prefix/lib/python3*/dist-packages)
  as_user=
  if [ "$(id -u)" = 0 ]; then
    uid=${COWROOT_TEST_UID:-65534}
    as_user="setpriv --reuid=$uid --regid=$uid --clear-groups"
  fi
  out=$(cd "$stage/work" && timeout -k 30 "$limit" $as_user env PYTHONPATH="$pydir" PYTHONDONTWRITEBYTECODE=1 \
    XDG_CACHE_HOME="${XDG_CACHE_HOME:-$stage/work/fixture-cache}" "$py" -m pytest -p no:cacheprovider -q \
    "$stage/bin/python" 2>&1); rc=$?
  printf '%s\n' "$out"
  line=$(printf '%s\n' "$out" | grep -E '^=* *[0-9]+ (passed|failed|errors?|skipped)' | tail -n 1)
  p=$(printf '%s' "$line" | grep -o '[0-9]* passed' | cut -d' ' -f1)
  f=$(printf '%s' "$line" | grep -o '[0-9]* failed' | cut -d' ' -f1)
  e=$(printf '%s' "$line" | grep -o '[0-9]* errors\{0,1\}' | cut -d' ' -f1)
  f=$((${f:-0} + ${e:-0}))
  passed=$((passed + ${p:-0})); failed=$((failed + f))
  if [ "$rc" -ne 0 ]; then status=1; [ "$f" -eq 0 ] && failed=$((failed + 1)); note_failure python "$rc" "$out"; fi
else
  echo "== python: skipped (COWROOT_TEST_PYTHON=0)"
fi
[ -n "$excerpts" ] && printf '%s\n' "$excerpts"
echo "tests: $passed passed, $failed failed${failures:+; failed suites:$failures}"
exit $status
