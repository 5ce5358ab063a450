#!/usr/bin/env bash
# Checks the README's install path: builds the package (which builds the
# vignettes), installs the tarball into a fresh, empty library and verifies
# that browseVignettes("cphap") lists the four vignettes. The dependencies
# come from the existing libraries (run tools/install-deps.sh first).
#   bash tools/check-vignettes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/lib"
(cd "$work" && R CMD build "$root" >"$work/build.log" 2>&1) || { cat "$work/build.log"; exit 1; }
tarball=$(ls "$work"/cphap_*.tar.gz)
R CMD INSTALL --library="$work/lib" "$tarball" >"$work/install.log" 2>&1 ||
  { cat "$work/install.log"; exit 1; }
R_LIBS="$work/lib${R_LIBS:+:$R_LIBS}" Rscript -e '
  lib <- strsplit(Sys.getenv("R_LIBS"), ":")[[1]][1]
  stopifnot(dirname(find.package("cphap")) == normalizePath(lib))
  v <- browseVignettes("cphap")[["cphap"]]
  found <- if (is.null(v)) character() else sort(tools::file_path_sans_ext(v[, "File"]))
  want <- c("byo-network", "cphap", "paper", "relevance", "scale")
  cat("browseVignettes(\"cphap\") lists", length(found), "vignette(s):\n")
  if (length(found)) cat(paste0("  ", v[order(tools::file_path_sans_ext(v[, "File"])), "Title"], collapse = "\n"), "\n")
  missing <- setdiff(want, found)
  if (length(missing)) {
    cat("missing:", missing, "\n")
    quit(status = 1)
  }
  cat("OK: the five vignettes are installed\n")
'
