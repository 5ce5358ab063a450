#!/usr/bin/env bash
# The main job: installs what is needed, installs cphap from this checkout,
# then trains the paper's CNN on the shipped GunPoint data and runs the
# pattern framework, the relevance framework and the perturbation analysis,
# writing figures (PNG) and tables (CSV) to a folder (default cphap-results).
#   bash tools/main-job.sh [output-folder]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-cphap-results}"
bash tools/install-deps.sh
lib="$(mktemp -d)"
trap 'rm -rf "$lib"' EXIT
rm -f src/*.o src/*.so
R CMD INSTALL --no-test-load -l "$lib" . >"$lib/install.log" 2>&1 || { cat "$lib/install.log"; exit 1; }
rm -f src/*.o src/*.so
R_LIBS="$lib${R_LIBS:+:$R_LIBS}" Rscript tools/main_job.R "$out"
