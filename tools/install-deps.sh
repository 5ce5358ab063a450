#!/usr/bin/env bash
# Installs everything cphap needs to build, check and run its tests and main
# job: R's development files, the R packages it imports and suggests, and the
# tools R CMD check --as-cran uses. Debian's r-cran-* packages when apt-get is
# available (as root), then any R package still missing from the machine's
# configured CRAN repositories. Safe to run twice.
set -euo pipefail

r_pkgs="cli generics ggplot2 testthat vdiffr knitr rmarkdown withr roxygen2 future progressr"

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  debs="r-base-dev pandoc qpdf tidy"
  for p in $r_pkgs; do debs="$debs r-cran-$p"; done
  missing=""
  for d in $debs; do
    dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" || missing="$missing $d"
  done
  if [ -n "$missing" ]; then
    echo "install-deps: apt-get install$missing"
    apt-get update -qq
    apt-get install -y -q --no-install-recommends $missing
  fi
fi

Rscript --vanilla - $r_pkgs <<'RS'
need <- commandArgs(TRUE)
have <- vapply(need, requireNamespace, logical(1), quietly = TRUE)
if (any(!have)) {
  message("install-deps: installing from CRAN: ", paste(need[!have], collapse = " "))
  install.packages(need[!have], Ncpus = 2L)
}
still <- need[!vapply(need, requireNamespace, logical(1), quietly = TRUE)]
if (length(still)) stop("could not install: ", paste(still, collapse = " "))
RS
echo "install-deps: done"
