#!/bin/sh
# Runs bench/callpath and a chown -R / find workload three ways -- natively,
# under Debian fakeroot and under cowroot -- and prints them side by side.
#   sh bench/run.sh BUILD_DIR
# The three variants run in turn, BENCH_ROUNDS times (default 5), and each
# number shown is the lowest over the rounds (each round's number is itself a
# median): load from other work only ever adds time, and interleaving gives
# every variant the same chances at a quiet moment.
# BENCH_RAW=1 also prints every round's numbers, to judge the noise.
# Fake-root tools are measured as a normal user: when run as root, every
# variant runs as uid 65534 (nobody) through setpriv.
set -eu

build=${1:?usage: sh bench/run.sh BUILD_DIR}
rounds=${BENCH_ROUNDS:-5}
build=$(cd "$build" && pwd)
for f in cowroot cowroot-faked libcowroot.so bench/callpath; do
  [ -f "$build/$f" ] || { echo "bench: $build/$f is missing (run make first)" >&2; exit 1; }
done
command -v fakeroot >/dev/null || { echo "bench: fakeroot is not installed" >&2; exit 1; }

tmp=$(mktemp -d /tmp/cowroot-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
chmod 755 "$tmp"

# The programs are copied into the temp dir first: a snapshot that a
# rebuild of BUILD_DIR during the run cannot truncate, and that nobody can
# read whatever BUILD_DIR's permissions (cowroot finds cowroot-faked and
# libcowroot.so next to itself).
bindir=$tmp/bin
mkdir -p "$bindir/bench"
cp "$build/cowroot" "$build/cowroot-faked" "$build/libcowroot.so" "$bindir/"
cp "$build/bench/callpath" "$bindir/bench/"
chmod -R a+rX "$bindir"

as_user=
if [ "$(id -u)" = 0 ]; then
  command -v setpriv >/dev/null || { echo "bench: setpriv (util-linux) is needed when run as root" >&2; exit 1; }
  as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
fi

# The workload, run inside each variant: builds a tree of 2000 small files
# (20 dirs x 100), then times `chown -R` and a `find -printf` walk over it,
# three times each, with date +%s%N.  Prints `<metric> <ns>` (the median).
# $1 = tree, $2 = owners for chown -R (a normal user may only give files to
# itself, so the native run chowns to its own ids), $3 = the euid the
# variant must show (0 under a fake root: proves the tool is in effect).
workload='
set -eu
tree=$1
owners=$2
[ "$(id -u)" = "$3" ] || { echo "id -u is $(id -u), expected $3" >&2; exit 1; }
mkdir "$tree"
d=0
while [ $d -lt 20 ]; do
  mkdir "$tree/d$d"
  f=0
  while [ $f -lt 100 ]; do : > "$tree/d$d/f$f"; f=$((f+1)); done
  d=$((d+1))
done
med() { sort -n | sed -n 2p; }
for o in $owners; do
  t0=$(date +%s%N); chown -R "$o" "$tree"; t1=$(date +%s%N)
  echo $((t1-t0))
done | med | sed "s/^/workload_chown_R_2000 /"
for i in 1 2 3; do
  t0=$(date +%s%N); find "$tree" -printf "%u %m\n" > /dev/null; t1=$(date +%s%N)
  echo $((t1-t0))
done | med | sed "s/^/workload_find_printf_2000 /"
rm -rf "$tree"
'

# run VARIANT ROUND: runs the callpath binary and the workload under VARIANT,
# writing $tmp/VARIANT.ROUND.out (and .err).
run() {
  v=$1
  out=$tmp/$v.$2.out
  err=$tmp/$v.$2.err
  scratch=$tmp/$v.$2
  mkdir "$scratch"
  if [ -n "$as_user" ]; then chown 65534:65534 "$scratch"; fi
  case $v in
    native) wrap= ; euid=$(${as_user:-env} id -u); owners="$euid:$(${as_user:-env} id -g)" ;;
    fakeroot) wrap="fakeroot --" ; euid=0; owners="1:1 2:2 1:1" ;;
    cowroot) wrap="$bindir/cowroot --" ; euid=0; owners="1:1 2:2 1:1" ;;
  esac
  if [ "$v" = native ]; then owners="$owners $owners $owners"; fi
  # A clean environment: no inherited preload, HOME in the scratch dir.
  if ! env -u LD_PRELOAD HOME="$scratch" $as_user $wrap "$bindir/bench/callpath" "$scratch" > "$out" 2> "$err"; then
    cat "$err" >&2
    echo "bench: callpath failed under $v" >&2
    exit 1
  fi
  if ! env -u LD_PRELOAD HOME="$scratch" $as_user $wrap sh -c "$workload" sh "$scratch/tree" "$owners" "$euid" >> "$out" 2>> "$err"; then
    cat "$err" >&2
    echo "bench: the chown -R / find workload failed under $v" >&2
    exit 1
  fi
  # A preload that the dynamic loader refused means the numbers are native.
  if grep -q 'cannot be preloaded' "$err"; then
    cat "$err" >&2
    echo "bench: the preload library was not loaded under $v" >&2
    exit 1
  fi
  n=$(wc -l < "$out")
  if [ "$n" -ne 10 ]; then
    echo "bench: $v printed $n results, expected 10:" >&2
    cat "$out" >&2
    exit 1
  fi
}

load=$(cut -d' ' -f1-3 /proc/loadavg)
r=1
while [ $r -le "$rounds" ]; do
  for v in native fakeroot cowroot; do run $v $r; done
  r=$((r+1))
done

# The lowest value over the rounds, per metric, into $tmp/VARIANT.out.
for v in native fakeroot cowroot; do
  cat "$tmp/$v".*.out | awk '
    !($1 in best) { order[++k] = $1; best[$1] = $2 }
    $2 + 0 < best[$1] + 0 { best[$1] = $2 }
    END { for (i = 1; i <= k; i++) print order[i], best[order[i]] }' > "$tmp/$v.out"
  cat "$tmp/$v".*.err | sort -u > "$tmp/$v.err"
done

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  cpu ${cpu:-unknown} x $(nproc)"
echo "# command: sh bench/run.sh $1  (as $(${as_user:-env} id -un), uid $(${as_user:-env} id -u)); load average at start: $load, at end: $load_end"
echo "# ns per call: best of $rounds interleaved rounds, each the median of 5 repetitions"
echo "# workload_* lines: ns for one whole chown -R / find -printf over 2000 files (best of $rounds rounds, each the median of 3)"
awk '
  FILENAME ~ /native.out$/ { n[$1] = $2; order[++k] = $1 }
  FILENAME ~ /fakeroot.out$/ { f[$1] = $2 }
  FILENAME ~ /cowroot.out$/ { c[$1] = $2 }
  function ratio(a, b) { return b > 0 ? sprintf("%.3g", a / b) : "-" }
  END {
    fmt = "%-26s | %12s | %12s | %12s | %14s | %16s\n"
    printf fmt, "metric", "native ns", "fakeroot ns", "cowroot ns", "cowroot/native", "fakeroot/cowroot"
    for (i = 1; i <= k; i++) {
      m = order[i]
      printf fmt, m, n[m], f[m], c[m], ratio(c[m], n[m]), ratio(f[m], c[m])
    }
  }' "$tmp/native.out" "$tmp/fakeroot.out" "$tmp/cowroot.out"
for v in native fakeroot cowroot; do
  if [ -s "$tmp/$v.err" ]; then sed "s/^/# $v: /" "$tmp/$v.err"; fi
done
if [ -n "${BENCH_RAW:-}" ]; then
  for v in native fakeroot cowroot; do
    r=1
    while [ $r -le "$rounds" ]; do
      printf '# raw %s %s: %s\n' "$v" "$r" "$(tr '\n' ' ' < "$tmp/$v.$r.out")"
      r=$((r+1))
    done
  done
fi
