# Writes cphap's gunpoint data as CSV files for tools/make_gunpoint_onnx.py:
# DIR/gunpoint_train.csv and DIR/gunpoint_test.csv, one series per row,
# the class label first, then the 150 values (17 significant digits).
#
# Usage (from the package root, cphap installed):
#   Rscript tools/export_gunpoint_csv.R [DIR]     # default /tmp/cphap-gunpoint

library(cphap)
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "/tmp/cphap-gunpoint"
dir.create(dir, showWarnings = FALSE, recursive = TRUE)
for (part in c("train", "test")) {
  d <- gunpoint[[part]]
  tab <- data.frame(label = as.character(d$y), format(d$x, digits = 17))
  utils::write.table(tab, file.path(dir, paste0("gunpoint_", part, ".csv")),
    sep = ",", row.names = FALSE, col.names = FALSE, quote = FALSE
  )
  cat(part, ":", nrow(d$x), "series of length", ncol(d$x), "\n")
}
