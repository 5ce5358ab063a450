#!/usr/bin/env bash
# Runs the examples of cphap's main functions under valgrind (memcheck) and
# reports invalid reads and writes, uses of uninitialised values and
# definite leaks whose stack passes through cphap's shared object. Fails when
# there is any.
#
#   bash tools/valgrind.sh              # builds cphap into a temporary library
#   R_LIBS=/path/to/lib bash tools/valgrind.sh --installed
#
# Takes about 10 to 20 minutes (valgrind slows R down about 30 times).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
command -v valgrind >/dev/null || { echo "valgrind: not installed"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ "${1:-}" != "--installed" ]; then
  mkdir -p "$work/lib" "$work/pkg"
  tar -C "$root" --exclude=.git --exclude='src/*.o' --exclude='src/*.so' -cf - . | tar -C "$work/pkg" -xf -
  echo 'CFLAGS = -g -O1 -fno-omit-frame-pointer' >"$work/Makevars"
  R_MAKEVARS_USER="$work/Makevars" MAKEFLAGS=-j1 R CMD INSTALL --no-test-load \
    --library="$work/lib" "$work/pkg" >"$work/install.log" 2>&1 ||
    { tail -n 30 "$work/install.log"; echo "valgrind: build failed"; exit 1; }
  export R_LIBS="$work/lib${R_LIBS:+:$R_LIBS}"
fi

cat >"$work/examples.R" <<'EOF'
suppressPackageStartupMessages(library(cphap))
options(cphap.threads = 2L)
fns <- c("cphap_model", "predict.cphap_model", "activations", "receptive_field",
         "thresholds", "activated_periods", "period_windows", "cphap", "explain_sample",
         "unit_relevance", "lrp", "perturbation", "fit_model", "cluster_windows",
         "cluster_validity", "suggest_k", "znorm")
for (f in fns) {
  cat("== example:", f, "\n")
  pdf(NULL)
  utils::example(f, package = "cphap", character.only = TRUE, ask = FALSE,
                 echo = FALSE, run.dontrun = FALSE)
  dev.off()
}
cat("== examples done\n")
EOF

log="$work/valgrind.log"
t0=$(date +%s)
R -d "valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --num-callers=30 --log-file=$log" \
  --vanilla --no-echo -f "$work/examples.R" >"$work/stdout.log" 2>&1
rc=$?
t1=$(date +%s)
grep -q "== examples done" "$work/stdout.log" || { tail -n 30 "$work/stdout.log"; echo "valgrind: the examples did not finish (exit $rc)"; exit 1; }

# Split the log into error blocks (a blank "==pid==" line ends one) and keep
# those whose stack passes through cphap.so.
awk '
  /^==[0-9]+== *$/ { if (blk != "") print blk "\n@@"; blk = ""; next }
  { sub(/^==[0-9]+== /, ""); blk = blk "\n" $0 }
  END { if (blk != "") print blk "\n@@" }
' "$log" >"$work/blocks.txt"
# a frame of cphap: in cphap.so, or (with debug information) in one of its
# source files
ours="cphap\\.so|[( ]($(cd src && ls *.c | sed 's/\.c$//' | paste -sd '|'))\\.c:[0-9]+"
count() { # pattern -> number of blocks matching it with a frame of cphap
  awk -v pat="$1" -v ours="$ours" 'BEGIN { RS = "@@" } $0 ~ pat && $0 ~ ours { n++ } END { print n + 0 }' "$work/blocks.txt"
}
inv_read=$(count "Invalid read")
inv_write=$(count "Invalid write")
uninit=$(count "uninitialised|Uninitialised")
leaks=$(count "definitely lost in loss record")
all_err=$(grep -E "ERROR SUMMARY" "$log" | tail -n 1 | sed -E 's/.*ERROR SUMMARY: ([0-9]+) errors.*/\1/')
def_all=$(grep -E "definitely lost:" "$log" | tail -n 1 | sed -E 's/.*definitely lost: ([0-9,]+) bytes in ([0-9,]+) blocks.*/\1 bytes in \2 blocks/')
echo "valgrind: examples of 17 main functions under memcheck in $((t1 - t0)) s"
echo "valgrind: in cphap's code: $inv_read invalid reads, $inv_write invalid writes, $uninit uses of uninitialised values, $leaks definite leaks"
echo "valgrind: whole process (R included): ${all_err:-?} errors, definitely lost ${def_all:-0 bytes}"
bad=$((inv_read + inv_write + uninit + leaks))
if [ "$bad" -gt 0 ]; then
  awk -v ours="$ours" 'BEGIN { RS = "@@" } $0 ~ ours && /Invalid|ninitialised|definitely lost/ { print; n++ } n >= 5 { exit }' "$work/blocks.txt"
  echo "valgrind: FAILED"
  exit 1
fi
echo "valgrind: clean"
