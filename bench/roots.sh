#!/bin/sh
# Fresh roots, timed side by side with the trio's way, in one run:
#   clone of the cached image      vs  cp -al
#   removal of a clone              vs  rm -rf
#   reset after a one-file change   (journal)
#   cowroot run -- /bin/true        vs  cp -al + cow-shell /bin/true + rm -rf
# Needs the cached image (built on first use: the Debian archive, ~2 minutes).
#   bench/roots.sh BUILD_DIR
set -eu
build=$(cd "$1" && pwd)
if [ "$(id -u)" = 0 ]; then
  # Fake-root tools are measured as an ordinary user.
  stage=$(mktemp -d /tmp/cowroot-bench-roots.XXXXXX)
  trap 'rm -rf "$stage"' EXIT
  cp "$build/cowroot" "$build/cowroot-faked" "$build/libcowroot.so" "$stage/"
  mkdir "$stage/home"
  chmod -R a+rX "$stage"
  chown 65534:65534 "$stage/home"
  # Not exec: the trap above must still remove the stage (its image is ~210 MB).
  setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$stage/home" PATH=/usr/bin:/bin \
    sh "$0" "$stage"
  exit
fi
C="$build/cowroot"
"$C" run -- /bin/true >/dev/null 2>&1 || { echo "bench: cannot build or use the default image" >&2; exit 1; }
base=$("$C" image list | awk '$1 == "bookworm" {print $NF}')
[ -d "$base" ] || { echo "bench: no bookworm image" >&2; exit 1; }
work=$(dirname "$base")/bench-$$
mkdir -p "$work"
trap 'rm -rf "$work" "$work.cowroot" 2>/dev/null; chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
now() { date +%s%N; }
ms() { echo "$1" | awk '{printf "%.1f", $1 / 1000000}'; }
best() { sort -n | head -n 1; }
rounds=5
t_cpal= t_rm= t_clone= t_rmclone= t_reset= t_run= t_runsync= t_trio=
for i in $(seq $rounds); do
  a=$(now); cp -al "$base" "$work/cpal"; b=$(now); t_cpal="$t_cpal $((b - a))"
  a=$(now); rm -rf "$work/cpal"; b=$(now); t_rm="$t_rm $((b - a))"
  a=$(now); "$C" clone "$base" "$work/c" 2>/dev/null; b=$(now); t_clone="$t_clone $((b - a))"
  "$C" -r "$work/c" -- sh -c 'echo x > /etc/motd'
  a=$(now); "$C" reset "$work/c"; b=$(now); t_reset="$t_reset $((b - a))"
  a=$(now); rm -rf "$work/c" "$work/c.cowroot"; b=$(now); t_rmclone="$t_rmclone $((b - a))"
  a=$(now); "$C" run -- /bin/true; b=$(now); t_run="$t_run $((b - a))"
  sleep 0.3  # let the detached reset of the previous run finish
  a=$(now); COWROOT_RUN_SYNC=1 "$C" run -- /bin/true; b=$(now); t_runsync="$t_runsync $((b - a))"
  if command -v cow-shell >/dev/null; then
    a=$(now); cp -al "$base" "$work/trio"; (cd "$work/trio" && cow-shell /bin/true 2>/dev/null); rm -rf "$work/trio"; b=$(now)
    t_trio="$t_trio $((b - a))"
  fi
done
pick() { for x in $1; do echo "$x"; done | best; }
echo "# $(date -u '+%Y-%m-%d %H:%M UTC')  kernel $(uname -r)  as uid $(id -u); image: $base"
echo "# milliseconds, best of $rounds rounds"
printf '%-44s %10s   %s\n' "operation" "cowroot" "the trio's way"
printf '%-44s %10s   %s\n' "fresh link farm of the image" "$(ms "$(pick "$t_clone")")" "cp -al: $(ms "$(pick "$t_cpal")")"
printf '%-44s %10s   %s\n' "remove it" "$(ms "$(pick "$t_rmclone")")" "rm -rf: $(ms "$(pick "$t_rm")")"
printf '%-44s %10s   %s\n' "reset after a one-file change" "$(ms "$(pick "$t_reset")")" "(none: a new cp -al)"
printf '%-44s %10s   %s\n' "run -- /bin/true (pool, reset detached)" "$(ms "$(pick "$t_run")")" ""
printf '%-44s %10s   %s\n' "run -- /bin/true (pool, reset waited for)" "$(ms "$(pick "$t_runsync")")" \
  "${t_trio:+cp -al + cow-shell + rm -rf: $(ms "$(pick "$t_trio")")}"
