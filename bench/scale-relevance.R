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
options(cphap.threads = 1L)

set.seed(1)
m <- cphap_model(arch_cnn(c(1, 945), 8))
x <- matrix(rnorm(n * 945), n, 945)
a <- activations(m, x[1, ], "conv3", format = "array")$conv3
channel <- which.max(apply(a[1, , , drop = FALSE], 2, sum))

load1 <- function() as.numeric(strsplit(readLines("/proc/loadavg"), " ")[[1]][1])
# CPU seconds used so far by this session's future workers (Linux: the
# processes that parallelly started for this process, from /proc).
workers_cpu <- function() {
  ps <- system2("ps", c("-eo", "pid,args"), stdout = TRUE)
  mine <- grepl(paste0("parallelly.parent=", Sys.getpid(), "\\."), ps)
  pids <- as.integer(sub("^ *([0-9]+) .*", "\\1", ps[mine]))
  sum(vapply(pids, function(p) {
    f <- sprintf("/proc/%d/stat", p)
    if (!file.exists(f)) return(0)
    st <- strsplit(sub(".*\\) ", "", readLines(f)), " ")[[1]]
    sum(as.numeric(st[12:13])) / 100
  }, numeric(1)))
}
run <- function() {
  set.seed(2)
  unit_relevance(m, x, "conv3", channels = channel, progress = FALSE, format = "compact")
}
timed <- function(what) {
  l0 <- load1()
  w0 <- workers_cpu()
  st <- system.time(r <- run())
  cat(sprintf("%-26s elapsed %6.2f s  CPU main %5.2f s, workers %6.2f s  load (1 min) %.2f -> %.2f\n",
              what, st[["elapsed"]], st[["user.self"]] + st[["sys.self"]], workers_cpu() - w0,
              l0, load1()))
  r
}

cat(sprintf("unit_relevance(): %d samples x 945, conv3 channel %d, 300 passes\n", n, channel))
plans <- list(
  "1 worker (PSOCK cluster)" = function() {
    cl <- parallelly::makeClusterPSOCK(1)
    future::plan(future::cluster, workers = cl)
    cl
  },
  "multisession, 2 workers" = function() {
    future::plan(future::multisession, workers = 2)
    NULL
  }
)
for (round in seq_len(rounds)) {
  cat("round", round, "\n")
  ref <- timed("1 process, 1 thread")
  for (what in names(plans)) {
    cl <- plans[[what]]()
    # start the workers (and load cphap in them) before timing
    invisible(future::value(future::future(requireNamespace("cphap", quietly = TRUE),
                                           seed = FALSE)))
    r <- timed(what)
    cat("  identical to the one-process result:", identical(r, ref), "\n")
    future::plan(future::sequential)
    if (!is.null(cl)) parallel::stopCluster(cl)
  }
}
