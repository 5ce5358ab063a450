# Benchmark: peak resident memory of thresholds() and cphap() on 20,000
# random series of length 945 with the paper's CNN (arch_cnn(c(1, 945), 8)).
# Run each mode in its own process under GNU time and read "Maximum resident
# set size":
#   /usr/bin/time -v Rscript bench/memory.R base        # R, cphap and the input only
#   /usr/bin/time -v Rscript bench/memory.R thresholds
#   /usr/bin/time -v Rscript bench/memory.R cphap
# cphap() runs with k = 12, one restart and at most 10 iterations: the
# clustering settings change the time, not the memory (the windows and the
# per-restart work arrays are allocated whatever they are). Prints the size
# of the input and of the windows cphap() clusters (the distinct windows of
# every layer, and for comparison the windows of every period).
suppressPackageStartupMessages(library(cphap))

mode <- commandArgs(TRUE)[1]
if (is.na(mode)) mode <- "cphap"
n <- if (length(commandArgs(TRUE)) >= 2) as.integer(commandArgs(TRUE)[2]) else 20000L
threads <- if (length(commandArgs(TRUE)) >= 3) as.integer(commandArgs(TRUE)[3]) else 1L
options(cphap.threads = threads)
set.seed(1)
model <- cphap_model(arch_cnn(c(1, 945), 8))
x <- rnorm(n * 945)
dim(x) <- c(n, 1L, 945L) # no copy (array() would copy the 144 MB)
mb <- function(b) b / 2^20
cat(sprintf("mode %s, %d series x 945, %d thread(s); input %.1f MB\n", mode, n, threads,
            mb(8 * length(x))))
t <- system.time({
  if (mode == "thresholds") {
    th <- thresholds(model, x)
  } else if (mode == "cphap") {
    set.seed(2)
    res <- cphap(model, x, k = 12, n_start = 1, max_iter = 10, progress = FALSE)
    s <- res$sets
    cat(sprintf("windows clustered (distinct, all layers): %.1f MB; every period's window: %.1f MB\n",
                mb(8 * sum(as.double(s$n_distinct) * s$window_length)),
                mb(8 * sum(as.double(s$n_windows) * s$window_length))))
    print(s, row.names = FALSE)
    cat(sprintf("result object: %.1f MB\n", mb(as.numeric(utils::object.size(res)))))
  }
})
cat(sprintf("elapsed %.1f s, CPU %.1f s; load average %s\n", t[["elapsed"]],
            t[["user.self"]] + t[["sys.self"]], readLines("/proc/loadavg")))
