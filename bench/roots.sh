#!/bin/sh
# Fresh roots, timed side by side with the trio's way, in one run:
#   clone of the cached image      vs  cp -al
#   removal of a clone              vs  rm -rf
#   reset after a one-file change   (journal)
#   cowroot run -- /bin/true        vs  cp -al + cow-shell /bin/true + rm -rf
# then bench/callpath's calls inside a clone of the image, three ways:
#   natively on the clone's host paths, under cowroot -r CLONE, and under the
#   stacked trio: cd TRIO && cow-shell fakeroot fakechroot chroot TRIO
# Needs the cached image (built on first use: the Debian archive, ~2 minutes).
#   bench/roots.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
if [ "$(id -u)" = 0 ]; then
  # Fake-root tools are measured as an ordinary user.
  stage=$(mktemp -d /tmp/cowroot-bench-roots.XXXXXX)
  trap 'rm -rf "$stage"' EXIT
  cp "$build/cowroot" "$build/cowroot-faked" "$build/libcowroot.so" "$stage/"
  mkdir "$stage/bench"
  cp "$build/bench/callpath" "$build/bench/timeit" "$stage/bench/"
  mkdir "$stage/home"
  chmod -R a+rX "$stage"
  chown 65534:65534 "$stage/home"
  # Not exec: the trap above must still remove the stage (its image is ~210 MB).
  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$stage/home" PATH=/usr/bin:/bin:/usr/sbin:/sbin \
    sh "$0" "$stage"
  exit
fi
C="$build/cowroot"
"$C" run -- /bin/true >/dev/null 2>&1 || { echo "bench: cannot build or use the default image" >&2; exit 1; }
base=$("$C" image list | awk '$1 == "bookworm" {print $NF}')
[ -d "$base" ] || { echo "bench: no bookworm image" >&2; exit 1; }
work=$(dirname "$base")/bench-$$
mkdir -p "$work"
# (Sealed images leave read-only directories in the trio's cp -al copy.)
trap 'rm -rf "$work" "$work.cowroot" 2>/dev/null || { chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"; } || true' EXIT
# bench/timeit forks, execs and waits for one command: no shell or date
# process inside the measured interval. Milliseconds.
T="$build/bench/timeit"
[ -x "$T" ] || { echo "bench: $T is missing (make bench builds it)" >&2; exit 1; }
timed() { "$T" 1 "" -- "$@" | cut -d' ' -f1; }
ms() { echo "$1"; }
best() { sort -n | head -n 1; }
rounds=5
t_cpal= t_rm= t_clone= t_rmclone= t_reset= t_run= t_runsync= t_trio= t_true=
for i in $(seq $rounds); do
  t_true="$t_true $(timed /bin/true)"
  t_cpal="$t_cpal $(timed cp -al "$base" "$work/cpal")"
  t_rm="$t_rm $(timed rm -rf "$work/cpal")"
  t_clone="$t_clone $(timed "$C" clone "$base" "$work/c" 2>/dev/null)"
  "$C" -r "$work/c" -- sh -c 'echo x > /etc/motd'
  t_reset="$t_reset $(timed "$C" reset "$work/c")"
  t_rmclone="$t_rmclone $(timed rm -rf "$work/c" "$work/c.cowroot")"
  t_run="$t_run $(timed "$C" run -- /bin/true)"
  sleep 0.3  # let the detached reset of the previous run finish
  t_runsync="$t_runsync $(COWROOT_RUN_SYNC=1 timed "$C" run -- /bin/true)"
  if command -v cow-shell >/dev/null; then
    t_trio="$t_trio $(timed sh -c 'cp -al "$1" "$2" && (cd "$2" && cow-shell /bin/true 2>/dev/null) && rm -rf "$2"' sh "$base" "$work/trio")"
  fi
done
pick() { for x in $1; do echo "$x"; done | best; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  as uid $(id -u); image: $base"
echo "# milliseconds, best of $rounds rounds; each timed from fork to exit (bench/timeit); /bin/true alone takes $(pick "$t_true")"
printf '%-44s %10s   %s\n' "operation" "cowroot" "the trio's way"
printf '%-44s %10s   %s\n' "fresh link farm of the image" "$(ms "$(pick "$t_clone")")" "cp -al: $(ms "$(pick "$t_cpal")")"
printf '%-44s %10s   %s\n' "remove it" "$(ms "$(pick "$t_rmclone")")" "rm -rf: $(ms "$(pick "$t_rm")")"
printf '%-44s %10s   %s\n' "reset after a one-file change" "$(ms "$(pick "$t_reset")")" "(none: a new cp -al)"
printf '%-44s %10s   %s\n' "run -- /bin/true (pool, reset detached)" "$(ms "$(pick "$t_run")")" ""
printf '%-44s %10s   %s\n' "run -- /bin/true (pool, reset waited for)" "$(ms "$(pick "$t_runsync")")" \
  "${t_trio:+cp -al + cow-shell + rm -rf: $(ms "$(pick "$t_trio")")}"

# ---- calls inside a root -------------------------------------------------
[ -x "$build/bench/callpath" ] || { echo "bench: $build/bench/callpath is missing (make bench builds it)" >&2; exit 1; }
"$C" clone "$base" "$work/in" 2>/dev/null
cp "$build/bench/callpath" "$work/in/usr/local/bin/callpath"
trio=
if command -v cow-shell >/dev/null && command -v fakechroot >/dev/null && command -v fakeroot >/dev/null; then
  trio=$work/trio
  cp -al "$base" "$trio"
  rm -f "$trio/usr/local/bin/callpath"
  cp "$build/bench/callpath" "$trio/usr/local/bin/callpath"
fi
inroot() {  # VARIANT ROUND -> $work/VARIANT.ROUND
  out=$work/$1.$2
  case $1 in
    native) "$build/bench/callpath" "$work/in/tmp/n$2" "$work/in/usr/bin" ;;
    cowroot) "$C" -r "$work/in" -- /usr/local/bin/callpath "/tmp/c$2" /usr/bin ;;
    trio) (cd "$trio" && cow-shell fakeroot fakechroot chroot "$trio" /usr/local/bin/callpath "/tmp/t$2" /usr/bin) ;;
  esac > "$out" 2> "$out.err" || { cat "$out.err" >&2; echo "bench: callpath failed inside the root under $1" >&2; exit 1; }
  [ "$(wc -l < "$out")" = 8 ] || { cat "$out" "$out.err" >&2; echo "bench: $1 printed the wrong number of results" >&2; exit 1; }
}
for i in $(seq 3); do
  mkdir -p "$work/in/tmp/n$i" "$work/in/tmp/c$i"
  [ -n "$trio" ] && mkdir -p "$trio/tmp/t$i"
  for v in native cowroot ${trio:+trio}; do inroot $v $i; done
done
for v in native cowroot ${trio:+trio}; do
  cat "$work/$v".[0-9] | awk '!($1 in b) { o[++k] = $1; b[$1] = $2 } $2 + 0 < b[$1] + 0 { b[$1] = $2 }
    END { for (i = 1; i <= k; i++) print o[i], b[o[i]] }' > "$work/$v.best"
done
[ -n "$trio" ] || : > "$work/trio.best"
echo
echo "# bench/callpath inside a clone of the image, ns per call, best of 3 interleaved rounds"
echo "# native: the same calls on the clone's host paths; trio: cd CLONE && cow-shell fakeroot fakechroot chroot CLONE"
awk '
  FILENAME ~ /native.best$/ { n[$1] = $2; order[++k] = $1 }
  FILENAME ~ /cowroot.best$/ { c[$1] = $2 }
  FILENAME ~ /trio.best$/ { t[$1] = $2 }
  function ratio(a, b) { return a > 0 && b > 0 ? sprintf("%.3g", a / b) : "-" }
  END {
    fmt = "%-20s | %10s | %10s | %10s | %14s | %12s\n"
    printf fmt, "metric", "native ns", "cowroot ns", "trio ns", "cowroot/native", "trio/cowroot"
    for (i = 1; i <= k; i++) {
      m = order[i]
      printf fmt, m, n[m], c[m], (m in t) ? t[m] : "-", ratio(c[m], n[m]), ratio(t[m], c[m])
    }
  }' "$work/native.best" "$work/cowroot.best" "$work/trio.best"
sort -u "$work"/*.err 2>/dev/null | sed 's/^/# /'
