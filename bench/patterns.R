# Benchmark: the pattern framework on 1000 random series of length 945 with
# the paper's CNN (arch_cnn(c(1, 945), 8)): thresholds (alpha = 0.05),
# highly activated periods and k-means (k = 12, 10 restarts) on the windows
# of every interpretable layer; cphap vs a straightforward PyTorch (float64)
# + scikit-learn implementation of the same steps (bench/patterns.py), same
# machine, same run, same thread count.
# Run from the package root after installing cphap:
#   Rscript bench/patterns.R [threads] [n] [one_call: 0 or 1]
suppressPackageStartupMessages(library(cphap))
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "common.R"))

args <- as.integer(commandArgs(TRUE))
threads <- if (length(args) >= 1 && !is.na(args[1])) args[1] else 1L
n <- if (length(args) >= 2 && !is.na(args[2])) args[2] else 1000L
options(cphap.threads = threads)
set.seed(1)
model <- cphap_model(arch_cnn(c(1, 945), 8))
x <- array(rnorm(n * 945), c(n, 1, 945))
ip <- interpretable_layers(model)
alpha <- 0.05
k <- 12L
n_start <- 10L

# cphap, step by step (the same steps as the Python side) ...
steps <- function() {
  t0 <- proc.time()[["elapsed"]]
  th <- thresholds(model, x, alpha = alpha)
  t1 <- proc.time()[["elapsed"]]
  p <- activated_periods(model, x, th)
  t2 <- proc.time()[["elapsed"]]
  xz <- cphap:::znorm_input(x)
  fits <- lapply(seq_len(nrow(ip)), function(q) {
    w <- cphap:::windows_of(model, xz, p, q)[[1]]
    cphap:::run_clustering(w, k, "kmeans", n_start = n_start)
  })
  t3 <- proc.time()[["elapsed"]]
  list(th = th, p = p, times = c(thresholds = t1 - t0, periods = t2 - t1, kmeans = t3 - t2, total = t3 - t0))
}
set.seed(2)
ours <- steps()
# ... and (third argument 1) the one call, which also computes patterns,
# entropies and the unit x pattern table
t_one <- NA_real_
if (length(args) >= 3 && !is.na(args[3]) && args[3] == 1L) {
  set.seed(2)
  t_one <- system.time(res <- cphap(model, x, k = k, n_start = n_start))[["elapsed"]]
}

dir <- tempfile("cphap_bench_")
export_for_torch(model, x, dir)
Sys.setenv(OMP_NUM_THREADS = threads, OPENBLAS_NUM_THREADS = threads, MKL_NUM_THREADS = threads)
py <- system2("/usr/bin/python3", c(
  file.path(bench_dir(), "patterns.py"), dir, threads,
  paste(ip$node, collapse = ","), paste(ip$jump, collapse = ","),
  paste(ip$size, collapse = ","), paste(ip$start, collapse = ","), alpha, k, n_start
), stdout = TRUE)
last <- strsplit(py[length(py)], " ")[[1]]
t_py <- as.numeric(last[1])
t_py_km <- as.numeric(last[2])
thr_py <- readBin(file.path(dir, "torch_thr.bin"), "double", nrow(ours$th))
gflop <- model_flops(model) * n / 1e9

cat(sprintf("pattern framework, paper CNN, %d series x 945, %d thread(s); BLAS: %s; clustering: %s\n",
  n, threads, blas_info(), "cphap C engine (cluster_windows)"))
cat(sprintf("highly activated nodes / windows per layer: cphap %s; python %s\n",
  paste(sprintf("%d/%d", as.vector(table(ours$p$layer)[ip$name]),
    as.vector(table(ours$p$layer[ours$p$inside])[ip$name])), collapse = " "),
  paste(last[-(1:2)], collapse = " ")))
cat(sprintf("max |threshold cphap - torch.quantile|: %.3g\n", max(abs(ours$th$threshold - thr_py))))
cat(sprintf("cphap steps: thresholds %.2f s (%d forward passes, %.1f GFLOP/s), periods %.2f s, k-means %.2f s, total %.2f s\n",
  ours$times[["thresholds"]], attr(ours$th, "passes"), attr(ours$th, "passes") * gflop / ours$times[["thresholds"]],
  ours$times[["periods"]], ours$times[["kmeans"]], ours$times[["total"]]))
cat(sprintf("cphap() one call (with patterns, entropies, unit x pattern): %.2f s\n", t_one))
cat(sprintf("PyTorch + scikit-learn: %.2f s (forward, thresholds, periods, windows %.2f s; k-means %.2f s)\n",
  t_py, t_py - t_py_km, t_py_km))
cat(sprintf("ratio python / cphap without k-means: %.2f; k-means alone: %.2f\n",
  (t_py - t_py_km) / (ours$times[["total"]] - ours$times[["kmeans"]]), t_py_km / ours$times[["kmeans"]]))
cat(sprintf("ratio python / cphap steps: %.2f; python / cphap(): %.2f\n", t_py / ours$times[["total"]], t_py / t_one))
unlink(dir, recursive = TRUE)
