# Benchmark: one thread against two for the calls users make, on the paper's
# CNN (arch_cnn(c(1, 945), 8)) and random series of length 945:
# activations() (1,000 series, arrays), thresholds() (1,000 series),
# cphap() (300 series, k = 12, 10 restarts), unit_relevance() (4 samples,
# T = 300 passes, one unit of conv3) and fit_model() (one epoch, 1,000
# series, batch 32). Each call runs `reps` times per thread count,
# alternating 1 and 2 threads; the medians of elapsed and CPU seconds
# (user + system, all threads) are printed with the load average. The
# same results with 1 and 2 threads are checked too.
# Run from the package root after installing cphap:
#   Rscript bench/threads.R [reps] [calls, comma-separated]
suppressPackageStartupMessages(library(cphap))

args <- commandArgs(TRUE)
reps <- if (length(args) >= 1) as.integer(args[1]) else 3L
calls <- if (length(args) >= 2) strsplit(args[2], ",")[[1]] else
  c("activations", "thresholds", "cphap", "unit_relevance", "fit_model")
set.seed(1)
model <- cphap_model(arch_cnn(c(1, 945), 8))
x <- array(rnorm(1000 * 945), c(1000, 1, 945))
y <- factor(sample(1:8, 1000, replace = TRUE), levels = 1:8)
unit <- which.max(apply(activations(model, x[1, , ], "conv3", format = "array")$conv3[1, , ], 1, sum))
work <- list(
  activations = function() activations(model, x, format = "array"),
  thresholds = function() thresholds(model, x),
  cphap = function() {
    set.seed(2)
    res <- cphap(model, x[1:300, , , drop = FALSE], k = 12, n_start = 10, progress = FALSE)
    res[c("thresholds", "periods", "patterns", "assignments", "unit_pattern")]
  },
  unit_relevance = function() {
    set.seed(3)
    unit_relevance(model, x[1:4, , , drop = FALSE], "conv3", channels = unit, passes = 300,
                   progress = FALSE)
  },
  fit_model = function() {
    set.seed(4)
    fit_model(model, x, y, epochs = 1, batch_size = 32, progress = FALSE)$history
  }
)

cat("load average at start:", readLines("/proc/loadavg"), "\n")
cat(sprintf("%-15s %8s %8s %8s %8s %9s %9s %6s\n", "call", "1 thr s", "CPU", "2 thr s", "CPU",
            "speed-up", "CPU ratio", "same"))
for (nm in calls) {
  f <- work[[nm]]
  el <- cpu <- matrix(NA_real_, reps, 2)
  val <- list()
  for (r in seq_len(reps)) {
    for (th in 1:2) {
      options(cphap.threads = th)
      st <- system.time(v <- f())
      el[r, th] <- st[["elapsed"]]
      cpu[r, th] <- st[["user.self"]] + st[["sys.self"]]
      if (r == 1) val[[th]] <- v
    }
  }
  e <- apply(el, 2, stats::median)
  c <- apply(cpu, 2, stats::median)
  cat(sprintf("%-15s %8.3f %8.3f %8.3f %8.3f %9.2f %9.2f %6s   load %s\n", nm, e[1], c[1], e[2], c[2],
              e[1] / e[2], c[2] / c[1], identical(val[[1]], val[[2]]),
              paste(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3], collapse = " ")))
}
