#!/bin/sh
# Runs each fuzz target for a bounded time from its corpus in the tree.
#   tests/fuzz/run.sh BUILD SECONDS TARGET...
# New inputs the fuzzer finds go to BUILD/fuzz/new/TARGET (the tree's
# corpus is only read); a crash is saved as BUILD/fuzz/crash-TARGET-*:
# copy it into tests/fuzz/corpus/TARGET/ and fix it, and it stays a test
# case (build/tests/fuzz_replay runs every corpus input in `make test`).
set -u
build=$(cd "$1" && pwd); secs=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
status=0
printf '%-11s %8s %10s %9s %7s %s\n' target seconds runs corpus cov result
for t in "$@"; do
  mkdir -p "$build/fuzz/new/$t"
  log="$build/fuzz/$t.log"
  start=$(date +%s)
  "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/fuzz/crash-$t-" "$build/fuzz/new/$t" "$here/corpus/$t" > "$log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
  corpus=$(( $(ls "$build/fuzz/new/$t" | wc -l) + $(ls "$here/corpus/$t" | wc -l) ))
  if [ "$rc" -eq 0 ]; then result=ok; else result="FAILED (exit $rc, see $log)"; status=1; fi
  printf '%-11s %8s %10s %9s %7s %s\n' "$t" "$took" "${runs:-?}" "$corpus" "${cov:-?}" "$result"
  if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" | head -n 5 | sed 's/^/    /'
  fi
done
exit $status
