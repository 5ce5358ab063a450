#!/usr/bin/env bash
# Builds cphap with AddressSanitizer and UndefinedBehaviorSanitizer into a
# private library and runs the testthat suite under it. Fails on any test
# failure and on any sanitizer report.
#
#   bash tools/sanitize.sh            # the suite as on CRAN (slow tests skipped)
#   NOT_CRAN=true bash tools/sanitize.sh   # every test (several times longer)
#   bash tools/sanitize.sh --keep DIR # keep the instrumented library in DIR
#
# The instrumented library can be reused by other tools (tools/fuzz.R):
# run R with the same LD_PRELOAD and ASAN_OPTIONS as below.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

keep=""
if [ "${1:-}" = "--keep" ]; then keep="$2"; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lib="${keep:-$work/lib}"
mkdir -p "$lib"

asan=$(gcc -print-file-name=libasan.so)
if [ ! -e "$asan" ]; then
  echo "sanitize: libasan not found (gcc -print-file-name=libasan.so)"
  exit 1
fi

# A private Makevars (not ~/.R/Makevars): instrumented, with frame pointers
# for readable stacks; any undefined behaviour stops the process.
cat >"$work/Makevars" <<'EOF'
CFLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS = -fsanitize=address,undefined
EOF

t0=$(date +%s)
# build from a copy, so that the working tree's objects stay untouched
mkdir -p "$work/pkg"
tar -C "$root" --exclude=.git --exclude='src/*.o' --exclude='src/*.so' -cf - . | tar -C "$work/pkg" -xf -
if ! R_MAKEVARS_USER="$work/Makevars" MAKEFLAGS=-j1 R CMD INSTALL --no-test-load \
  --library="$lib" "$work/pkg" >"$work/install.log" 2>&1; then
  tail -n 40 "$work/install.log"
  echo "sanitize: the instrumented build failed"
  exit 1
fi
t1=$(date +%s)
echo "sanitize: instrumented build in $((t1 - t0)) s"

export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
log="$work/tests.log"
(
  cd "$work/pkg/tests/testthat"
  LD_PRELOAD="$asan" R_LIBS="$lib${R_LIBS:+:$R_LIBS}" Rscript -e '
    options(warn = 1)
    res <- as.data.frame(testthat::test_dir(".", package = "cphap",
      load_package = "installed", reporter = "summary", stop_on_failure = FALSE))
    cat(sprintf("sanitize: %d passed, %d failed, %d skipped, %d errors\n",
      sum(res$passed), sum(res$failed), sum(res$skipped), sum(res$error)))
    if (sum(res$failed) + sum(res$error) > 0) quit(status = 1)
  '
) >"$log" 2>&1
rc=$?
t2=$(date +%s)
reports=$(grep -c -E 'runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: (Address|Undefined)' "$log")
grep -E 'sanitize:' "$log"
if [ "$reports" -gt 0 ]; then
  echo "sanitize: $reports sanitizer report line(s):"
  grep -n -E -A30 'runtime error|ERROR: AddressSanitizer' "$log" | head -n 120
fi
echo "sanitize: test suite under ASan/UBSan in $((t2 - t1)) s (NOT_CRAN=${NOT_CRAN:-unset})"
if [ "$rc" -ne 0 ] || [ "$reports" -gt 0 ]; then
  [ "$reports" -eq 0 ] && tail -n 60 "$log"
  echo "sanitize: FAILED"
  exit 1
fi
echo "sanitize: clean"
