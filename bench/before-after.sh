#!/bin/sh
# Two builds of cowroot side by side in one run, for a change that must not
# move the hot paths: bench/callpath natively, in a session of each build,
# and inside a clone of the cached image under each build's `cowroot -r`,
# in interleaved rounds (the best of each).
#   sh bench/before-after.sh BEFORE_BUILD AFTER_BUILD
# (make bench-compare BEFORE=DIR builds nothing: build the old tree first,
#  e.g. git worktree add /tmp/old REV && make -C /tmp/old)
set -eu
before=$(cd "${1:?usage: before-after.sh BEFORE_BUILD AFTER_BUILD}" && pwd)
after=$(cd "${2:?usage: before-after.sh BEFORE_BUILD AFTER_BUILD}" && pwd)
rounds=${BENCH_ROUNDS:-5}
for b in "$before" "$after"; do
  for f in cowroot cowroot-faked libcowroot.so; do
    [ -f "$b/$f" ] || { echo "bench: $b/$f is missing (build it first)" >&2; exit 1; }
  done
done
[ -x "$after/bench/callpath" ] || { echo "bench: $after/bench/callpath is missing (make bench builds it)" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then
  # Fake-root tools are measured as an ordinary user, from copies it can read.
  stage=$(mktemp -d /tmp/cowroot-bench-ba.XXXXXX)
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/before" "$stage/after/bench" "$stage/home"
  cp "$before/cowroot" "$before/cowroot-faked" "$before/libcowroot.so" "$stage/before/"
  cp "$after/cowroot" "$after/cowroot-faked" "$after/libcowroot.so" "$stage/after/"
  cp "$after/bench/callpath" "$stage/after/bench/"
  chmod -R a+rX "$stage"
  chown 65534:65534 "$stage/home"
  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$stage/home" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    sh "$0" "$stage/before" "$stage/after"
  exit
fi
CP=$after/bench/callpath
A=$after/cowroot
B=$before/cowroot
"$A" run -- /bin/true >/dev/null 2>&1 || { echo "bench: cannot build or use the default image" >&2; exit 1; }
base=$("$A" image list | awk '$1 == "bookworm" {print $NF}')
work=$(mktemp -d "$(dirname "$base")/ba.XXXXXX")
trap 'rm -rf "$work" "$work.cowroot"' EXIT
"$A" clone "$base" "$work/in" 2>/dev/null
cp "$CP" "$work/in/usr/local/bin/callpath"
one() {  # VARIANT ROUND
  out=$work/$1.$2.out
  mkdir -p "$work/s$2$1" "$work/in/tmp/$2$1"
  case $1 in
    native) "$CP" "$work/s$2$1" ;;
    before) "$B" -- "$CP" "$work/s$2$1" ;;
    after) "$A" -- "$CP" "$work/s$2$1" ;;
    root_native) "$CP" "$work/in/tmp/$2$1" "$work/in/usr/bin" ;;
    root_before) "$B" -r "$work/in" -- /usr/local/bin/callpath "/tmp/$2$1" /usr/bin ;;
    root_after) "$A" -r "$work/in" -- /usr/local/bin/callpath "/tmp/$2$1" /usr/bin ;;
  esac > "$out" 2> "$work/$1.$2.err" || { cat "$work/$1.$2.err" >&2; echo "bench: callpath failed under $1" >&2; exit 1; }
}
for i in $(seq "$rounds"); do
  for v in native before after root_native root_before root_after; do one $v $i; done
done
for v in native before after root_native root_before root_after; do
  cat "$work/$v".[0-9]*.out | awk '!($1 in b) { o[++k] = $1; b[$1] = $2 } $2 + 0 < b[$1] + 0 { b[$1] = $2 }
    END { for (i = 1; i <= k; i++) print o[i], b[o[i]] }' > "$work/$v.best"
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  as uid $(id -u); ns per call, best of $rounds interleaved rounds"
echo "# command: sh bench/before-after.sh $1 $2"
table() {  # TITLE NATIVE BEFORE AFTER
  echo "## $1"
  awk -v N="$2" -v B="$3" -v A="$4" '
    FILENAME ~ N { n[$1] = $2; order[++k] = $1 }
    FILENAME ~ B { b[$1] = $2 }
    FILENAME ~ A { a[$1] = $2 }
    function ratio(x, y) { return x > 0 && y > 0 ? sprintf("%.3g", x / y) : "-" }
    END {
      fmt = "%-24s | %10s | %10s | %10s | %13s | %12s | %11s\n"
      printf fmt, "metric", "native ns", "before ns", "after ns", "before/native", "after/native", "after/before"
      for (i = 1; i <= k; i++) {
        m = order[i]
        printf fmt, m, n[m], b[m], a[m], ratio(b[m], n[m]), ratio(a[m], n[m]), ratio(a[m], b[m])
      }
    }' "$work/$2.best" "$work/$3.best" "$work/$4.best"
}
table "in a session (cowroot -- callpath)" native before after
table "inside a clone of the image (cowroot -r CLONE -- callpath)" root_native root_before root_after
