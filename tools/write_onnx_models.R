# Writes networks with cphap::write_onnx() for tools/check_onnx_written.py.
#
# For every list-format fixture network (tests/testthat/fixtures/*.txt.gz,
# made by tools/make_fixtures.py) and for a small CNN trained by fit_model()
# on gunpoint, and for the network of tests/testthat/helper-onnx-write.R
# that uses every layer type, writes into DIR (default: /tmp/cphap-onnx-written)
#
#   <net>_float64_op<11|13|17>.onnx, <net>_float32_op13.onnx
#   <net>.io.txt   inputs and cphap's outputs (of the model with its leaky-ReLU
#                  slopes in single precision, as the files hold them), exact hexadecimal doubles:
#                  line 1 dims of x [n, C, L], line 2 x (row-major),
#                  line 3 dims of the output [n, C, L] (L = 1 when flat), line 4 the output (row-major)
#
# Usage (from the package root, cphap installed):
#   Rscript tools/write_onnx_models.R [DIR]

library(cphap)
source("tests/testthat/helper-onnx-write.R")

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[1] else "/tmp/cphap-onnx-written"
dir.create(dir, showWarnings = FALSE, recursive = TRUE)

read_fixture <- function(path) {
  con <- gzfile(path)
  on.exit(close(con))
  eval(parse(file = con, keep.source = FALSE))
}

# row-major (C order) flattening of an array, as NumPy reads it
row_major <- function(a) as.vector(aperm(a, rev(seq_along(dim(a)))))

write_io <- function(path, x, out) {
  lines <- c(
    paste(dim(x), collapse = " "), paste(sprintf("%a", row_major(x)), collapse = " "),
    paste(dim(out), collapse = " "), paste(sprintf("%a", row_major(out)), collapse = " ")
  )
  writeLines(lines, path)
}

output_of <- function(m, x) {
  cphap:::forward_nodes(m, x, length(m$layers))[[1]]
}

write_all <- function(name, m, x) {
  for (opset in c(11, 13, 17)) {
    write_onnx(m, file.path(dir, sprintf("%s_float64_op%d.onnx", name, opset)),
      dtype = "float64", opset = opset
    )
  }
  write_onnx(m, file.path(dir, sprintf("%s_float32_op13.onnx", name)), dtype = "float32")
  # what the file means: leaky-ReLU slopes in single precision (ONNX's
  # LeakyRelu alpha is a float attribute); report how much that moves
  out <- output_of(cphap:::ow_as_written(m), x)
  ref <- output_of(m, x)
  write_io(file.path(dir, paste0(name, ".io.txt")), x, out)
  cat(sprintf("%-12s %2d layers written; single-precision attributes move the output by %.2g relative\n",
    name, length(m$layers), max(abs(out - ref)) / max(abs(ref))))
}

fixtures <- list.files("tests/testthat/fixtures", "\\.txt\\.gz$", full.names = TRUE)
for (f in fixtures) {
  fx <- read_fixture(f)
  write_all(fx$name, cphap_model(fx$model), fx$x)
}

write_all("kitchen_sink", cphap_model(onnx_kitchen_sink()),
  array(rnorm(3 * 2 * 30), c(3L, 2L, 30L)))

set.seed(7)
fit <- fit_model("cnn", gunpoint$train,
  epochs = 20, channels = c(8, 16, 16), kernels = c(7, 5, 3),
  strides = c(1, 1, 1), pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2), progress = FALSE
)
xt <- gunpoint$test$x[1:20, ]
write_all("fit_model", fit, array(xt, c(nrow(xt), 1L, ncol(xt))))
