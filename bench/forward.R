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
# random walks, like the series the method is used on
x <- array(t(apply(matrix(rnorm(n * 945), n), 1, cumsum)), c(n, 1, 945))
ip <- interpretable_layers(model)
nodes <- c(ip$node, length(model$layers))

# cphap: the C forward pass (as activations() calls it) ...
t_c <- median_time(function() .Call(cphap:::cp_forward_r, model$spec, x, as.integer(nodes - 1L), threads, 1L))
# ... and the full R call returning arrays [n, C, L] of every interpretable layer
t_r <- median_time(function() activations(model, x, format = "array"), reps = 5)
t_long <- median_time(function() activations(model, x), reps = 3)
# CPU seconds too: on a shared machine they move less than elapsed time
cpu_r <- stats::median(replicate(5, sum(system.time(activations(model, x, format = "array"))[c("user.self", "sys.self")])))

dir <- tempfile("cphap_bench_")
export_for_torch(model, x, dir)
# PyTorch with OpenBLAS's own kernel choice: OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset for its process only; the best of three batch sizes
py <- system2("env", c("-u", "OPENBLAS_CORETYPE", "-u", "OPENBLAS_L2_SIZE", torch_env(threads),
  "/usr/bin/python3", file.path(bench_dir(), "forward.py"), dir, threads, 5,
  paste(ip$node, collapse = ","), "32,100,1000"), stdout = TRUE)
cat(py[-length(py)], sep = "\n")
last <- strsplit(py[length(py)], " ")[[1]]
t_py <- as.numeric(last[1])
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
cat(sprintf("cphap activations() in R (long):     %.3f s\n", t_long))
cat(sprintf("PyTorch float64 forward, batch %s:   %.3f s  %.1f GFLOP/s\n", last[3], t_py, gflop / t_py))
cat(sprintf("ratio PyTorch / cphap (C forward): %.2f; (activations()): %.2f\n", t_py / t_c, t_py / t_r))
cat(sprintf("CPU seconds: activations() %.3f, PyTorch (batch %s) %.3f; ratio %.2f\n", cpu_r,
  last[3], as.numeric(last[4]), as.numeric(last[4]) / cpu_r))
cat("load average:", readLines("/proc/loadavg"), "\n")
unlink(dir, recursive = TRUE)
