# Longer mutation fuzzing of read_onnx() than the test suite runs.
#
#   Rscript tools/fuzz_onnx.R [n_inputs] [seed] [--write-seeds DIR]
#
# Seeds: the crafted networks of tests/testthat/helper-onnx.R plus every
# .onnx file under tests/testthat/fixtures/onnx and inst/extdata. Each input
# is one to three mutations (bit flips, truncation, length-field edits, byte
# insertions and deletions, interesting bytes, splices). Prints the counts of
# inputs, R errors, valid models (which must also predict) and warnings; a
# crash would end the R process before the summary line. --write-seeds DIR
# writes the seed files for the C harness tools/fuzz_onnx_asan.c.
args <- commandArgs(trailingOnly = TRUE)
ws <- match("--write-seeds", args)
seed_dir <- if (!is.na(ws)) args[ws + 1L] else NULL
if (!is.na(ws)) args <- args[-c(ws, ws + 1L)]
n <- if (length(args) >= 1L) as.integer(args[1]) else 100000L
seed <- if (length(args) >= 2L) as.integer(args[2]) else 1L

suppressPackageStartupMessages(library(cphap))
source(file.path("tests", "testthat", "helper-onnx.R"))
seeds <- onnx_fuzz_seeds(file.path("tests", "testthat", "fixtures", "onnx"))
for (f in list.files(file.path("inst", "extdata"), "\\.onnx$", full.names = TRUE)) {
  seeds[[basename(f)]] <- readBin(f, "raw", file.size(f))
}
cat("seeds:", length(seeds), "files\n")
if (!is.null(seed_dir)) {
  dir.create(seed_dir, showWarnings = FALSE, recursive = TRUE)
  for (nm in names(seeds)) {
    writeBin(seeds[[nm]], file.path(seed_dir, paste0(sub("\\.onnx$", "", nm), ".onnx")))
  }
  cat("wrote", length(seeds), "seed files to", seed_dir, "\n")
}
res <- onnx_fuzz(seeds, n = n, seed = seed)
cat(sprintf(
  "inputs %d\nR errors %d\nvalid models %d\nwarnings %d\ncrashes 0\nseconds %.1f\n",
  res$inputs, res$errors, res$valid, res$warnings, res$seconds
))
