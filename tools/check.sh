#!/usr/bin/env bash
# The test command: installs what is needed, builds the package, runs
# R CMD check --as-cran --no-manual (which runs the testthat suite and builds
# the vignettes), fails on any error or warning, and ends with one line
# "N passed, N failed, N skipped" taken from testthat's results.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash tools/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Remote parts of the CRAN incoming checks need the network; skip them.
export _R_CHECK_CRAN_INCOMING_REMOTE_=false
export _R_CHECK_FORCE_SUGGESTS_=true
# Run the snapshot (vdiffr) and other tests that testthat skips on CRAN.
export NOT_CRAN=true
# The clock check asks a time server; without network it only adds a note.
export _R_CHECK_SYSTEM_CLOCK_=0

(cd "$work" && R CMD build "$root") || { echo "0 passed, 1 failed"; exit 1; }
tarball=$(ls "$work"/cphap_*.tar.gz)
(cd "$work" && R CMD check --as-cran --no-manual "$tarball")
check_rc=$?

log="$work/cphap.Rcheck/00check.log"
status=$(grep -E '^Status:' "$log" 2>/dev/null | tail -n 1)
echo "R CMD check ${status:-did not finish}"
if grep -q -E '^\* checking .*\.\.\. NOTE' "$log" 2>/dev/null; then
  echo "Notes:"
  awk '/\.\.\. NOTE$/{p=1; print; next} /^\* /{p=0} p' "$log"
fi

out="$work/cphap.Rcheck/tests/testthat.Rout"
[ -f "$out" ] || out="$work/cphap.Rcheck/tests/testthat.Rout.fail"
if [ -f "$out" ]; then
  [ -f "$work/cphap.Rcheck/tests/testthat.Rout.fail" ] && tail -n 60 "$out"
  line=$(grep -E '\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]' "$out" | tail -n 1)
fi
if [ -z "${line:-}" ]; then
  echo "testthat results not found"
  echo "0 passed, 1 failed"
  exit 1
fi
fail=$(echo "$line" | sed -E 's/.*FAIL ([0-9]+).*/\1/')
skip=$(echo "$line" | sed -E 's/.*SKIP ([0-9]+).*/\1/')
pass=$(echo "$line" | sed -E 's/.*PASS ([0-9]+).*/\1/')
rc=0
if [ "$check_rc" -ne 0 ] || echo "$status" | grep -q -E 'ERROR|WARNING'; then
  echo "R CMD check reported an error or a warning (see above): failing."
  rc=1
fi
[ "$fail" -gt 0 ] && rc=1
echo "$pass passed, $fail failed, $skip skipped"
exit $rc
