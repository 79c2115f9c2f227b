#!/usr/bin/env bash
# Runs every test verbosely into .test.log and prints a readable summary:
# each test and subtest up to two levels (so the per-database suites show
# by name), every failure in full, and go test's closing lines.
set -uo pipefail
cd "$(dirname "$0")/.."
log=.test.log
# MODULES (set by the Makefile) names every Go module; each is tested.
rc=0
: >"$log"
for m in ${MODULES:-.}; do
  (cd "$m" && go test -count=1 -timeout 13m -v ./...) >>"$log" 2>&1 || rc=$?
done
grep -E '^(--- (PASS|FAIL|SKIP)|    --- (PASS|FAIL|SKIP)|ok |FAIL|PASS$|panic:)' "$log"
if [ $rc -ne 0 ]; then
  echo
  echo "==== failures (full log in $log) ===="
  grep -nE -- '--- FAIL|panic:|_test\.go:[0-9]+:|\.go:[0-9]+: ' "$log" | head -200
fi
pass=$(grep -cE -- '--- PASS' "$log")
fail=$(grep -cE -- '--- FAIL' "$log")
skip=$(grep -cE -- '--- SKIP' "$log")
echo
echo "tests: $pass passed, $fail failed, $skip skipped"
exit $rc
