# Benchmark: forward pass of the paper's CNN (input 945, 8 classes) with all
# interpretable activations on 1000 random series: cphap vs PyTorch float64 on
# the same machine, same thread count, same weights and inputs.
# Run from the package root after installing cphap:
#   Rscript bench/forward.R [threads]
suppressPackageStartupMessages(library(cphap))
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "common.R"))

threads <- as.integer(commandArgs(TRUE)[1])
if (is.na(threads)) threads <- 1L
options(cphap.threads = threads)
set.seed(1)
model <- cphap_model(arch_cnn(c(1, 945), 8))
n <- 1000
x <- array(rnorm(n * 945), c(n, 1, 945))
ip <- interpretable_layers(model)
nodes <- c(ip$node, length(model$layers))

# cphap: the C forward pass (as activations() calls it) ...
t_c <- median_time(function() .Call(cphap:::cp_forward_r, model$spec, x, as.integer(nodes - 1L), threads))
# ... and the full R call returning arrays [n, C, L] of every interpretable layer
t_r <- median_time(function() activations(model, x, format = "array"), reps = 3)

dir <- tempfile("cphap_bench_")
export_for_torch(model, x, dir)
py <- system2("/usr/bin/python3", c(file.path(bench_dir(), "forward.py"), dir, threads, 5,
  paste(ip$node, collapse = ",")), stdout = TRUE, env = torch_env(threads))
t_py <- as.numeric(strsplit(py[length(py)], " ")[[1]][1])
torch_out <- matrix(readBin(file.path(dir, "torch_out.bin"), "double", n * 8), n, 8, byrow = TRUE)
ours <- predict(model, x, type = "prob")
gflop <- model_flops(model) * n / 1e9

peak <- tryCatch({
  exe <- tempfile("peak")
  system2("cc", c("-O2", "-mavx2", "-mfma", file.path(bench_dir(), "peak.c"), "-o", exe))
  as.numeric(system2(exe, stdout = TRUE))
}, error = function(e) NA_real_, warning = function(w) NA_real_)

cat(sprintf("paper CNN forward, %d series x 945, %d thread(s); BLAS for PyTorch: %s\n", n, threads, blas_info()))
cat(sprintf("max |cphap - torch| output difference: %.3g\n", max(abs(ours - torch_out))))
cat(sprintf("machine limit now (register-only AVX2 FMA loop, one core): %.1f GFLOP/s\n", peak))
cat(sprintf("work: %.2f GFLOP (convolutions and dense)\n", gflop))
cat(sprintf("cphap C forward (all activations): %.3f s  %.1f GFLOP/s\n", t_c, gflop / t_c))
cat(sprintf("cphap activations() in R (arrays):   %.3f s\n", t_r))
cat(sprintf("PyTorch float64 forward:             %.3f s  %.1f GFLOP/s\n", t_py, gflop / t_py))
cat(sprintf("ratio PyTorch / cphap (C forward): %.2f; (activations()): %.2f\n", t_py / t_c, t_py / t_r))
unlink(dir, recursive = TRUE)
