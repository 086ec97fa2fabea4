#!/bin/sh
# Runs cowdancer's own upstream tests (tests/0*.sh of a cowdancer source
# tree, github dancerj/cowdancer) with cow-shell replaced by
# `cowroot --cow . --`, as an unprivileged user, the way its `make slowcheck` does.
#   tests/peer/cowdancer.sh PREFIX COWDANCER_SRC
# 014 reads cow-shell's private .ilist file (cowroot keeps no such file) and
# 016 needs glibc's mtrace, which since glibc 2.34 works only with
# libc_malloc_debug preloaded; both are reported, not counted.
set -u
prefix=$1 src=$2
[ -d "$src/tests" ] && ls "$src"/tests/0*.sh >/dev/null 2>&1 || { echo "peer-tests: $src is not a cowdancer source tree" >&2; exit 2; }
work=$(mktemp -d /tmp/cowroot-cowdancer.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
cp -a "$src/." "$work/src/" 2>/dev/null || { mkdir -p "$work/src" && cp -a "$src/." "$work/src/"; }
mkdir -p "$work/home"
printf '#!/bin/sh\nexec %s --cow . -- "$@"\n' "$prefix/bin/cowroot" > "$work/src/cow-shell"
chmod 755 "$work/src/cow-shell"
[ -x /usr/bin/cowdancer-ilistdump ] && ln -s /usr/bin/cowdancer-ilistdump "$work/src/cowdancer-ilistdump"
run() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  chown -R 65534:65534 "$work"
  run() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
fi
cd "$work/src" || exit 2
pass=0 fail=0 known=0
for t in tests/0[0-9][0-9]_*.sh; do
  run env -i HOME="$work/home" SHELL=/bin/bash LANG=C LC_ALL=C USER=nobody \
    PATH="$work/src:$work/src/tests:/usr/bin:/bin" COWDANCER_SO=/usr/lib/cowdancer/libcowdancer.so \
    timeout 300 bash "$t" > "$work/out" 2>&1
  rc=$?
  case "$(basename "$t")" in
    014_*|016_*) r="KNOWN (rc=$rc)"; known=$((known + 1)) ;;
    *) if [ $rc = 0 ]; then r=PASS; pass=$((pass + 1)); else r="FAIL (rc=$rc)"; fail=$((fail + 1)); fi ;;
  esac
  echo "$r: $t"
done
echo "cowdancer's suite: $pass passed, $fail failed, $known known differences (014 .ilist format, 016 mtrace)"
[ "$fail" -eq 0 ]
