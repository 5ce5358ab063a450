# Benchmark: unit_relevance() over chunks of samples on future plans.
# 200 samples of the paper's CNN (arch_cnn(c(1, 945), 8), random weights),
# one unit of conv3, the default 300 Monte-Carlo passes, seeded at all
# positions: one R process with one thread, then one worker process (a
# PSOCK cluster of one: plan(multisession, workers = 1) would run in this
# process) and plan(multisession) with 2 workers, one thread each (option
# cphap.threads = 1). Reports
# elapsed time and the load average around each run, and checks that the
# results are identical.
#
# Run from the package root after installing cphap (future installed):
#   Rscript bench/scale-relevance.R [samples] [rounds]
# Each round runs the three settings in turn (the load of a shared machine
# changes between runs).

args <- commandArgs(trailingOnly = TRUE)
n <- if (length(args)) as.integer(args[1]) else 200L
rounds <- if (length(args) > 1L) as.integer(args[2]) else 1L
library(cphap)
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "common.R"))
options(cphap.threads = 1L)

set.seed(1)
m <- cphap_model(arch_cnn(c(1, 945), 8))
x <- matrix(rnorm(n * 945), n, 945)
a <- activations(m, x[1, ], "conv3", format = "array")$conv3
channel <- which.max(apply(a[1, , , drop = FALSE], 2, sum))

run <- function() {
  set.seed(2)
  unit_relevance(m, x, "conv3", channels = channel, progress = FALSE, format = "compact")
}
timed <- function(what) {
  l0 <- load1()
  w0 <- sum(workers_cpu())
  st <- system.time(r <- run())
  cat(sprintf("%-26s elapsed %6.2f s  CPU main %5.2f s, workers %6.2f s  load (1 min) %.2f -> %.2f\n",
              what, st[["elapsed"]], st[["user.self"]] + st[["sys.self"]], sum(workers_cpu()) - w0,
              l0, load1()))
  r
}

cat(sprintf("unit_relevance(): %d samples x 945, conv3 channel %d, 300 passes\n", n, channel))
plans <- future_plans()
for (round in seq_len(rounds)) {
  cat("round", round, "\n")
  ref <- timed("1 process, 1 thread")
  for (what in names(plans)) {
    stop_plan <- plans[[what]]()
    r <- timed(what)
    cat("  identical to the one-process result:", identical(r, ref), "\n")
    stop_plan()
  }
}
