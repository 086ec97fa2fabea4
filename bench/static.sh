#!/bin/sh
# Static programs inside a root (docs/design.md, "Programs that bypass
# libc"): natively, confined by cowroot, and under proot -0 (ptrace), in
# interleaved rounds, the best of each:
# - bench/rawstat built static: one stat (trapped and served in the
#   process under cowroot, a ptrace round trip under proot) and a getppid
#   (let through under cowroot);
# - busybox-static: `find / -xdev | wc -l` and `tar cf - /usr/share | wc -c`
#   in a root made by tests/mkroot.sh with the host's /usr/share/doc in it.
# Elapsed time throughout (RAWSTAT_CLOCK=wall): proot's work is done in its
# tracer, which a process's own CPU time does not show.
#   sh bench/static.sh BUILD_DIR
set -eu
build=$(cd "${1:?usage: static.sh BUILD_DIR}" && pwd)
rounds=${BENCH_ROUNDS:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
for t in proot busybox; do
  command -v $t >/dev/null || { echo "bench: $t is missing (mk/deps.sh bench installs it)" >&2; exit 1; }
done
if [ "$(id -u)" = 0 ]; then
  stage=$(mktemp -d /tmp/cowroot-bench-static.XXXXXX)
  trap 'rm -rf "$stage"' EXIT
  make -s -C "$(dirname "$build")" install PREFIX="$stage/prefix" BUILD="$build" >/dev/null
  mkdir -p "$stage/bench" "$stage/tests" "$stage/home"
  cp "$build/bench/rawstat-static" "$build/bench/timeit" "$stage/bench/"
  cp "$here/tests/mkroot.sh" "$stage/tests/"
  cp "$0" "$stage/static.sh"
  chmod -R a+rX "$stage"
  chown 65534:65534 "$stage/home"
  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$stage/home" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    BENCH_STAGED=1 sh "$stage/static.sh" "$stage"
  exit
fi
if [ "${BENCH_STAGED:-0}" = 1 ]; then
  C=$build/prefix/bin/cowroot RS=$build/bench/rawstat-static T=$build/bench/timeit mkroot=$build/tests/mkroot.sh
else
  C=$build/cowroot RS=$build/bench/rawstat-static T=$build/bench/timeit mkroot=$here/tests/mkroot.sh
fi
export RAWSTAT_CLOCK=wall
work=$(mktemp -d "${TMPDIR:-/tmp}/static-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
r=$work/root
sh "$mkroot" "$r" >/dev/null 2>&1
mkdir -p "$r/usr/local/bin" "$r/usr/share"
cp "$RS" "$r/usr/local/bin/rawstat"
cp "$(command -v busybox)" "$r/usr/bin/busybox"
cp /bin/true "$r/usr/bin/true"
cp -r /usr/share/doc "$r/usr/share/" 2>/dev/null || true
entries=$(busybox find "$r" -xdev | busybox wc -l)
find_cmd='busybox find / -xdev | busybox wc -l'
tar_cmd='busybox tar cf - /usr/share | busybox wc -c'
one() {  # VARIANT ROUND
  out=$work/$1.$2
  case $1 in
    native) "$RS" "$r/usr/bin/env"
            echo "find_ms $("$T" 1 "" -- busybox sh -c "busybox find $r -xdev | busybox wc -l >/dev/null" | awk '{print $1}')"
            echo "tar_ms $("$T" 1 "" -- busybox sh -c "busybox tar cf - $r/usr/share | busybox wc -c >/dev/null" | awk '{print $1}')" ;;
    cowroot) "$C" -r "$r" -- /usr/local/bin/rawstat /usr/bin/env
             echo "find_ms $("$T" 1 "" -- "$C" -r "$r" -- /usr/bin/busybox sh -c "$find_cmd >/dev/null" | awk '{print $1}')"
             echo "tar_ms $("$T" 1 "" -- "$C" -r "$r" -- /usr/bin/busybox sh -c "$tar_cmd >/dev/null" | awk '{print $1}')" ;;
    proot) proot -0 -r "$r" /usr/local/bin/rawstat /usr/bin/env
           echo "find_ms $("$T" 1 "" -- proot -0 -r "$r" /usr/bin/busybox sh -c "$find_cmd >/dev/null" | awk '{print $1}')"
           echo "tar_ms $("$T" 1 "" -- proot -0 -r "$r" /usr/bin/busybox sh -c "$tar_cmd >/dev/null" | awk '{print $1}')" ;;
  esac > "$out" 2> "$out.err" || { cat "$out.err" >&2; echo "bench: $1 failed" >&2; exit 1; }
}
for i in $(seq "$rounds"); do
  for v in native cowroot proot; do one "$v" "$i"; done
done
for v in native cowroot proot; do
  cat "$work/$v".[0-9]* | awk 'NF == 2 && $2 + 0 > 0 { if (!($1 in b)) { o[++k] = $1; b[$1] = $2 } if ($2 + 0 < b[$1] + 0) b[$1] = $2 }
    END { for (i = 1; i <= k; i++) print o[i], b[o[i]] }' > "$work/$v.best"
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  as uid $(id -u); best of $rounds interleaved rounds"
echo "# command: sh bench/static.sh BUILD; the root holds $entries entries"
awk '
  FILENAME ~ /native/ { n[$1] = $2; order[++k] = $1 }
  FILENAME ~ /cowroot/ { c[$1] = $2 }
  FILENAME ~ /proot/ { p[$1] = $2 }
  function ratio(x, y) { return x > 0 && y > 0 ? sprintf("%.2f", x / y) : "-" }
  END {
    fmt = "%-12s | %9s | %9s | %9s | %14s | %13s\n"
    printf fmt, "metric", "native", "cowroot", "proot -0", "cowroot/native", "proot/cowroot"
    for (i = 1; i <= k; i++) { m = order[i]; printf fmt, m, n[m], c[m], p[m], ratio(c[m], n[m]), ratio(p[m], c[m]) }
  }' "$work/native.best" "$work/cowroot.best" "$work/proot.best"
