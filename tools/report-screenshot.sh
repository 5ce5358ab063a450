#!/usr/bin/env bash
# Renders cphap_report() on the shipped GunPoint data with the demo model and
# takes a screenshot of it in headless Chromium (a real browser, no network),
# saved as man/figures/report.png (linked from the README). Look at the
# picture before a release.
#   bash tools/report-screenshot.sh [html-output]
# Needs cphap installed (R_LIBS is honoured), pandoc and chromium
# (apt-get install -y chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
html="${1:-$(mktemp -d)/cphap-report.html}"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$browser" ]; then
  echo "report-screenshot: no chromium found (apt-get install -y chromium)" >&2
  exit 1
fi
Rscript -e '
library(cphap)
set.seed(1)
res <- cphap(demo_model(), gunpoint$train, layers = c("conv1", "conv2"), k = 6, progress = FALSE)
t <- system.time(cphap_report(res, commandArgs(TRUE)[1], data = gunpoint$test))
cat("report-screenshot: rendered in", round(t[["elapsed"]], 1), "s\n")
' "$html"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,2400 \
  --screenshot="$PWD/man/figures/report.png" "file://$html" 2>/dev/null
echo "report-screenshot: man/figures/report.png from $html"
