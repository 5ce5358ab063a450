# Benchmark: forward pass of the paper's CNN (input 945, 8 classes) with all
# interpretable activations on 1000 random series: cphap vs PyTorch float64 on
# the same machine, same thread count, same weights and inputs. cphap runs
# both convolution paths (option cphap.conv: "direct" and "auto", which takes
# the FFT convolution for the layers where it is faster), interleaved.
# Run from the package root after installing cphap:
#   Rscript bench/forward.R [threads] [padding: valid (default) or same]
suppressPackageStartupMessages(library(cphap))
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "common.R"))

threads <- as.integer(commandArgs(TRUE)[1])
if (is.na(threads)) threads <- 1L
padding <- commandArgs(TRUE)[2]
if (is.na(padding)) padding <- "valid"
options(cphap.threads = threads)
set.seed(1)
model <- cphap_model(arch_cnn(c(1, 945), 8, padding = padding))
n <- 1000
# random walks, like the series the method is used on
x <- array(t(apply(matrix(rnorm(n * 945), n), 1, cumsum)), c(n, 1, 945))
ip <- interpretable_layers(model)
nodes <- c(ip$node, length(model$layers))
paths <- c("direct", "auto")

# elapsed and CPU seconds of one call
one_time <- function(f) {
  s <- system.time(f())
  c(elapsed = s[["elapsed"]], cpu = s[["user.self"]] + s[["sys.self"]])
}
# medians over reps, the paths interleaved (the load of a shared machine
# moves; interleaving spreads it over both)
interleaved <- function(make_call, reps) {
  t <- lapply(paths, function(p) matrix(NA_real_, reps, 2))
  names(t) <- paths
  for (r in seq_len(reps)) {
    for (p in paths) {
      options(cphap.conv = p)
      t[[p]][r, ] <- one_time(make_call(p))
    }
  }
  lapply(t, function(m) c(elapsed = stats::median(m[, 1]), cpu = stats::median(m[, 2])))
}
code <- function(p) match(p, c("direct", "auto", "fft")) - 1L
# cphap: the C forward pass (as activations() calls it) ...
t_c <- interleaved(function(p) function() {
  .Call(cphap:::cp_forward_r, model$spec, x, as.integer(nodes - 1L), threads, code(p))
}, 7)
# ... and the full R call returning arrays [n, C, L] of every interpretable layer
t_r <- interleaved(function(p) function() activations(model, x, format = "array"), 7)
t_long <- interleaved(function(p) function() activations(model, x), 3)
# agreement of the paths, per layer: max |auto - direct| / max |direct|
acts <- lapply(paths, function(p) {
  options(cphap.conv = p)
  activations(model, x, format = "array")
})
rel <- vapply(names(acts[[1]]), function(nm) {
  max(abs(acts[[2]][[nm]] - acts[[1]][[nm]])) / max(abs(acts[[1]][[nm]]))
}, 0)
options(cphap.conv = "auto")

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
cpu_py <- as.numeric(last[4])
torch_out <- matrix(readBin(file.path(dir, "torch_out.bin"), "double", n * 8), n, 8, byrow = TRUE)
ours <- predict(model, x, type = "prob")
gflop <- model_flops(model) * n / 1e9

peak <- tryCatch({
  exe <- tempfile("peak")
  system2("cc", c("-O2", "-mavx2", "-mfma", file.path(bench_dir(), "peak.c"), "-o", exe))
  as.numeric(system2(exe, stdout = TRUE))
}, error = function(e) NA_real_, warning = function(w) NA_real_)

cat(sprintf("paper CNN (%s padding) forward, %d series x 945, %d thread(s); BLAS for PyTorch: %s\n",
  padding, n, threads, blas_info()))
cat(sprintf("max |cphap (auto) - torch| output difference: %.3g\n", max(abs(ours - torch_out))))
cat(sprintf("max |auto - direct| / max |direct| per layer: %s\n",
  paste(sprintf("%s %.2g", names(rel), rel), collapse = ", ")))
cat(sprintf("machine limit now (register-only AVX2 FMA loop, one core): %.1f GFLOP/s\n", peak))
cat(sprintf("work: %.2f GFLOP (convolutions and dense, direct sums)\n", gflop))
for (p in paths) {
  cat(sprintf("cphap %-6s C forward: %.3f s (CPU %.3f s, %.1f GFLOP/s of direct work per CPU second); activations() arrays %.3f s (CPU %.3f s), long %.3f s (CPU %.3f s)\n",
    p, t_c[[p]][["elapsed"]], t_c[[p]][["cpu"]], gflop / t_c[[p]][["cpu"]],
    t_r[[p]][["elapsed"]], t_r[[p]][["cpu"]], t_long[[p]][["elapsed"]], t_long[[p]][["cpu"]]))
}
cat(sprintf("PyTorch float64 forward, batch %s:   %.3f s (CPU %.3f s)  %.1f GFLOP/s per CPU second\n",
  last[3], t_py, cpu_py, gflop / cpu_py))
for (p in paths) {
  cat(sprintf("ratio PyTorch / cphap %-6s activations(): CPU %.2f, elapsed %.2f; C forward: CPU %.2f\n",
    p, cpu_py / t_r[[p]][["cpu"]], t_py / t_r[[p]][["elapsed"]], cpu_py / t_c[[p]][["cpu"]]))
}
cat("load average:", readLines("/proc/loadavg"), "\n")
unlink(dir, recursive = TRUE)
