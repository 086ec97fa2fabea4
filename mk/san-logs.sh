#!/bin/sh
# mk/san-logs.sh PREFIX: the end of `make test-asan`. Fails, printing them,
# when the programs cowroot starts (cowroot, cowroot-faked: see
# cli/sanitizer_log.h) left a sanitizer's report in PREFIX.PID.
#
# One line is not a report: LeakSanitizer's "Unable to get registers from
# thread N." It is written when a thread LSan stops for its exit scan is
# gone before LSan reads its registers. The load tests kill a session's
# processes with SIGKILL at random moments, the launcher among them, and
# one killed during its own exit scan leaves just that line (its scan goes
# on, the process being dead). A file holding anything else fails the run.
prefix=$1
ls "$prefix".* >/dev/null 2>&1 || exit 0
benign='^==[0-9]+==Unable to get registers from thread [0-9]+\.$'
if grep -vhE "$benign" "$prefix".* | grep -q .; then
  echo "test-asan: sanitizer reports:"
  cat "$prefix".*
  exit 1
fi
echo "test-asan: no report; LeakSanitizer lost a thread killed during its exit scan (the load tests kill at random):"
cat "$prefix".*
