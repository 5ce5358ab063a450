# Benchmark: the pattern framework on 1000 random series of length 945 with
# the paper's CNN (arch_cnn(c(1, 945), 8)): thresholds (alpha = 0.05),
# highly activated periods, their windows and clustering (k = 12, 10
# restarts) on every interpretable layer; cphap's calls as users make them
# (thresholds(), activated_periods(), period_windows(), and the one call
# cphap()) vs a straightforward PyTorch (float64) + scikit-learn
# implementation of the same steps (bench/patterns.py; its forward pass at
# the fastest of batch sizes 32, 100 and 1,000, OpenBLAS with its own kernel
# choice), same machine, same run, same thread count. cphap() clusters each
# distinct window once with its weight (see ?cphap); scikit-learn clusters
# every window.
# Run from the package root after installing cphap:
#   Rscript bench/patterns.R [threads] [n] [cluster: 0 or 1]
suppressPackageStartupMessages(library(cphap))
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "common.R"))

args <- as.integer(commandArgs(TRUE))
threads <- if (length(args) >= 1 && !is.na(args[1])) args[1] else 1L
n <- if (length(args) >= 2 && !is.na(args[2])) args[2] else 1000L
clust <- if (length(args) >= 3 && !is.na(args[3])) args[3] == 1L else TRUE
options(cphap.threads = threads)
load0 <- readLines("/proc/loadavg")
set.seed(1)
model <- cphap_model(arch_cnn(c(1, 945), 8))
x <- array(rnorm(n * 945), c(n, 1, 945))
ip <- interpretable_layers(model)
alpha <- 0.05
k <- 12L
n_start <- 10L

timed <- function(expr) {
  t <- system.time(v <- force(expr))
  list(value = v, elapsed = t[["elapsed"]], cpu = t[["user.self"]] + t[["sys.self"]])
}
# median of `reps` runs of the calls users make (elapsed and CPU seconds)
med <- function(f, reps = 5) {
  r <- lapply(seq_len(reps), function(i) timed(f()))
  list(value = r[[1]]$value, elapsed = stats::median(vapply(r, `[[`, 0, "elapsed")),
       cpu = stats::median(vapply(r, `[[`, 0, "cpu")))
}
th <- med(function() thresholds(model, x, alpha = alpha))
pe <- med(function() activated_periods(model, x, th$value))
wi <- med(function() lapply(ip$name, function(l) period_windows(model, x, pe$value, l)))
pw <- list(elapsed = pe$elapsed + wi$elapsed, cpu = pe$cpu + wi$cpu)
one <- NULL
if (clust) {
  set.seed(2)
  one <- timed(cphap(model, x, k = k, n_start = n_start, progress = FALSE))
}

dir <- tempfile("cphap_bench_")
export_for_torch(model, x, dir)
py <- system2("env", c("-u", "OPENBLAS_CORETYPE", "-u", "OPENBLAS_L2_SIZE", torch_env(threads),
  "/usr/bin/python3", file.path(bench_dir(), "patterns.py"), dir, threads,
  paste(ip$node, collapse = ","), paste(ip$jump, collapse = ","),
  paste(ip$size, collapse = ","), paste(ip$start, collapse = ","), alpha, k, n_start,
  "32,100,1000", as.integer(clust)
), stdout = TRUE)
kv <- strsplit(grep("^(forward_best|batch|thresholds|periods_windows|kmeans|total|counts|cpu) ", py, value = TRUE), " ")
val <- stats::setNames(lapply(kv, `[`, -1), vapply(kv, `[`, "", 1))
num <- function(key) as.numeric(val[[key]][1])
thr_py <- readBin(file.path(dir, "torch_thr.bin"), "double", nrow(th$value))
p <- pe$value

cat(sprintf("pattern framework, paper CNN, %d series x 945, %d thread(s); load average before: %s\n",
  n, threads, load0))
cat(grep("^(blas|forward batch)", py, value = TRUE), sep = "\n")
cat(sprintf("highly activated nodes / windows per layer: cphap %s; python %s\n",
  paste(sprintf("%d/%d", as.vector(table(p$layer)[ip$name]),
    as.vector(table(p$layer[p$inside])[ip$name])), collapse = " "),
  paste(val$counts, collapse = " ")))
cat(sprintf("max |threshold cphap - torch.quantile|: %.3g\n", max(abs(th$value$threshold - thr_py))))
cat(sprintf("cphap thresholds(): %.3f s (CPU %.3f), %d forward passes; torch forward (batch %s) %.3f s + quantile %.3f s\n",
  th$elapsed, th$cpu, attr(th$value, "passes"), val$batch, num("forward_best"), num("thresholds")))
cat(sprintf("cphap activated_periods() %.3f s (CPU %.3f) + period_windows() x %d %.3f s (CPU %.3f) = %.3f s\n",
  pe$elapsed, pe$cpu, nrow(ip), wi$elapsed, wi$cpu, pw$elapsed))
cat(sprintf("numpy periods + windows %.3f s (after the forward); with its forward %.3f s\n",
  num("periods_windows"), num("periods_windows") + num("forward_best")))
cat(sprintf("ratio numpy / cphap, periods + windows: %.2f (numpy with its forward: %.2f)\n",
  num("periods_windows") / pw$elapsed, (num("periods_windows") + num("forward_best")) / pw$elapsed))
cpu_py <- as.numeric(val$cpu)
cat(sprintf("CPU seconds: cphap %.3f; numpy periods + windows %.3f, its forward %.3f; ratios %.2f and %.2f\n",
  pw$cpu, cpu_py[2], cpu_py[1], cpu_py[2] / pw$cpu, sum(cpu_py) / pw$cpu))
if (clust) {
  cat(sprintf("cphap() one call: %.2f s (CPU %.2f); distinct windows per layer: %s\n", one$elapsed, one$cpu,
    paste(one$value$sets$n_distinct, collapse = " ")))
  cat(sprintf("PyTorch + scikit-learn: %.2f s (forward %.3f, thresholds %.3f, periods and windows %.3f, k-means %.2f)\n",
    num("total"), num("forward_best"), num("thresholds"), num("periods_windows"), num("kmeans")))
  cat(sprintf("ratio python / cphap(): %.2f\n", num("total") / one$elapsed))
}
cat("load average after:", readLines("/proc/loadavg"), "\n")
unlink(dir, recursive = TRUE)
