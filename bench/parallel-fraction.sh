#!/bin/bash
# Share of a call's CPU time spent inside OpenMP parallel regions at one
# thread, and the 2-thread speed-up Amdahl's law allows: perf profiles (with
# dwarf call graphs) of bench/parallel-fraction.R with `reps` calls and with
# none; the samples under GOMP_parallel* of the difference over all samples
# of the difference. Samples whose stack cannot be unwound count as serial
# (a lower bound). Run from the package root, cphap installed:
#   bench/parallel-fraction.sh activations 4
m=$1; r=${2:-3}
dir=$(mktemp -d)
declare -A T P
for n in 0 "$r"; do
  perf record -q --call-graph dwarf,16384 -F 250 -o "$dir/p$n.data" \
    Rscript "$(dirname "$0")/parallel-fraction.R" "$m" "$n" > /dev/null 2>&1
  T[$n]=$(perf report -i "$dir/p$n.data" -n --stdio --sort comm -g none 2>/dev/null |
    grep -E "^ +[0-9]" | awk '{s+=$3} END {print s}')
  P[$n]=$(perf report -i "$dir/p$n.data" --children --stdio --sort symbol -g none 2>/dev/null |
    grep -E "\] GOMP_parallel" | awk -v t="${T[$n]}" '{gsub("%","",$1); s+=$1*t/100} END {print s+0}')
done
awk -v t0="${T[0]}" -v t1="${T[$r]}" -v p0="${P[0]}" -v p1="${P[$r]}" -v m="$m" 'BEGIN {
  c = t1 - t0; p = p1 - p0
  printf "%s: samples of the calls %d, in parallel regions %.0f, parallel fraction %.3f, Amdahl 2-thread limit %.2f\n",
    m, c, p, p / c, 1 / ((1 - p / c) + p / c / 2) }'
rm -rf "$dir"
