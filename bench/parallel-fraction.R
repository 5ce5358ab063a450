# Helper of bench/parallel-fraction.sh: runs one call of the package
# `reps` times on one thread (after one warm-up call), for a profile.
#   Rscript bench/parallel-fraction.R call reps
suppressPackageStartupMessages(library(cphap))
options(cphap.threads = 1L)
args <- commandArgs(TRUE)
mode <- args[1]
reps <- as.integer(args[2])
set.seed(1)
model <- cphap_model(arch_cnn(c(1, 945), 8))
x <- array(rnorm(1000 * 945), c(1000, 1, 945))
y <- factor(sample(1:8, 1000, replace = TRUE), levels = 1:8)
f <- switch(mode,
  activations = function() activations(model, x, format = "array"),
  thresholds = function() thresholds(model, x),
  unit_relevance = function() unit_relevance(model, x[1:2, , , drop = FALSE], "conv3",
                                             channels = 1, passes = 300, progress = FALSE),
  fit_model = function() fit_model(model, x, y, epochs = 1, batch_size = 32, progress = FALSE),
  cphap = function() cphap(model, x[1:100, , , drop = FALSE], k = 12, n_start = 10,
                           progress = FALSE)
)
invisible(f())
for (i in seq_len(reps)) invisible(f())
