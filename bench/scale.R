# Benchmark: cphap on many series and on future workers, with the paper's
# CNN (arch_cnn(c(1, 945), 8), random weights) and random walks of length
# 945.
#
# Parts (first argument; default "all"):
# * memory: peak resident memory of the main process (/usr/bin/time -v on
#   a child Rscript) for thresholds() over 20,000 series held in memory vs
#   read chunk by chunk from files (series_chunks(), 20 files of 1,000
#   series, plan sequential: every chunk is loaded in the main process,
#   one at a time), and of a child that only loads cphap and the model.
# * time: wall time of thresholds() over the 20,000 series +
#   activated_periods() + unit_relevance() (conv3, one unit, 300 passes) on
#   200 samples, in one process with one thread, on a PSOCK cluster of one
#   worker and on plan(multisession, workers = 2), one thread per worker
#   (option cphap.threads = 1), with the load average around each run.
# * kmeans: the layer-2 windows of 1,000 random walks (distinct windows
#   weighted by their firing units, as cphap() clusters them), k = 12, 10
#   restarts: in-process k-means vs k-means over two chunks of windows
#   (cluster_windows(window_chunk_size =)) in this process and on 2
#   multisession workers: objectives, round trips, times.
#
# Run from the package root after installing cphap (future installed):
#   Rscript bench/scale.R [all|memory|time|kmeans] [series]
# Versions of cphap without chunked thresholds (no `chunk_size` argument) or
# without series_chunks() run what they can and say what they skipped.
suppressPackageStartupMessages(library(cphap))
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "common.R"))

args <- commandArgs(trailingOnly = TRUE)
part <- if (length(args)) args[1] else "all"
n_series <- if (length(args) > 1L && !grepl("^child", part)) as.integer(args[2]) else 20000L
chunk_series <- 1000L
script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))

has_series_chunks <- exists("series_chunks", envir = asNamespace("cphap"))
has_chunked_thresholds <- "chunk_size" %in% names(formals(thresholds))
paper_cnn <- function() {
  set.seed(1)
  cphap_model(arch_cnn(c(1, 945), 8))
}

# Chunk i of the random walks: chunk_series x 945, its own seed.
walk_chunk <- function(i, size = chunk_series) {
  set.seed(1000L + i)
  z <- matrix(rnorm(size * 945), size)
  t(apply(z, 1, cumsum))
}

# A chunk reader that carries its folder (it runs on the workers).
chunk_reader <- function(dir) {
  force(dir)
  function(i) readRDS(file.path(dir, sprintf("chunk%03d.rds", i)))
}

# Child processes (measured by /usr/bin/time -v) ---------------------------
if (identical(part, "child-baseline")) {
  m <- paper_cnn()
  quit(save = "no")
}
if (identical(part, "child-memory") || identical(part, "child-files")) {
  dir <- args[2]
  n_chunks <- as.integer(args[3])
  m <- paper_cnn()
  t0 <- proc.time()[["elapsed"]]
  if (part == "child-memory") {
    x <- array(0, c(n_chunks * chunk_series, 1L, 945L))
    for (i in seq_len(n_chunks)) {
      x[(i - 1L) * chunk_series + seq_len(chunk_series), 1L, ] <- chunk_reader(dir)(i)
    }
    th <- thresholds(m, x)
  } else {
    th <- thresholds(m, series_chunks(chunk_reader(dir), n_chunks = n_chunks))
  }
  saveRDS(th, file.path(dir, paste0(part, "-thresholds.rds")))
  cat(sprintf("thresholds() %.2f s\n", proc.time()[["elapsed"]] - t0))
  quit(save = "no")
}

# Memory --------------------------------------------------------------------
peak_child <- function(what, ...) {
  out <- suppressWarnings(system2("/usr/bin/time", c("-v", file.path(R.home("bin"), "Rscript"),
    script, what, ...), stdout = TRUE, stderr = TRUE))
  rss <- as.numeric(sub(".*: ", "", grep("Maximum resident set size", out, value = TRUE)))
  wall <- sub(".*: ", "", grep("Elapsed \\(wall clock\\)", out, value = TRUE))
  st <- grep("^thresholds\\(\\)", out, value = TRUE)
  list(rss_mb = rss / 1024, wall = wall, note = if (length(st)) st else "",
       status = if (is.null(attr(out, "status"))) 0L else attr(out, "status"), out = out)
}

run_memory <- function() {
  n_chunks <- n_series %/% chunk_series
  dir <- tempfile("cphap_scale_")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE), add = TRUE)
  for (i in seq_len(n_chunks)) saveRDS(walk_chunk(i), file.path(dir, sprintf("chunk%03d.rds", i)))
  cat(sprintf("\n## memory: thresholds() over %d random walks x 945 (%d files of %d series, %.0f MB as doubles)\n",
              n_chunks * chunk_series, n_chunks, chunk_series, n_chunks * chunk_series * 945 * 8 / 1e6))
  base <- peak_child("child-baseline")
  cat(sprintf("baseline (cphap and the model loaded): peak RSS %.0f MB, wall %s\n", base$rss_mb, base$wall))
  l0 <- load1()
  mem <- peak_child("child-memory", dir, n_chunks)
  cat(sprintf("in memory: peak RSS %.0f MB, wall %s (%s), load before %.2f\n", mem$rss_mb, mem$wall, mem$note, l0))
  if (!has_series_chunks) {
    cat("file-backed chunks: skipped (this version of cphap has no series_chunks())\n")
    return(invisible())
  }
  l0 <- load1()
  fil <- peak_child("child-files", dir, n_chunks)
  cat(sprintf("file-backed chunks (series_chunks(), plan sequential): peak RSS %.0f MB, wall %s (%s), load before %.2f\n",
              fil$rss_mb, fil$wall, fil$note, l0))
  if (fil$status != 0L) cat(utils::tail(fil$out, 20), sep = "\n")
  a <- readRDS(file.path(dir, "child-memory-thresholds.rds"))
  b <- readRDS(file.path(dir, "child-files-thresholds.rds"))
  cat("identical thresholds:", identical(a, b), "\n")
}

# Wall time on 1 and 2 workers ----------------------------------------------
run_time <- function() {
  options(cphap.threads = 1L)
  m <- paper_cnn()
  n_chunks <- n_series %/% chunk_series
  ref <- matrix(0, n_chunks * chunk_series, 945)
  for (i in seq_len(n_chunks)) ref[(i - 1L) * chunk_series + seq_len(chunk_series), ] <- walk_chunk(i)
  x <- ref[seq_len(200), ]
  a <- activations(m, x[1, ], "conv3", format = "array")$conv3
  channel <- which.max(apply(a[1, , , drop = FALSE], 2, sum))
  cat(sprintf("\n## time: thresholds() over %d series + activated_periods() + unit_relevance() (conv3 channel %d, 300 passes) on 200 samples, 1 thread per process\n",
              nrow(ref), channel))
  if (!has_chunked_thresholds) {
    cat("note: thresholds() and activated_periods() of this version of cphap have no chunk_size: they run in the main process on every plan\n")
  }
  # each step: elapsed, CPU of this process, CPU of every worker
  step <- function(expr) {
    w0 <- workers_cpu()
    p0 <- proc.time()
    val <- expr
    p1 <- proc.time()
    w1 <- workers_cpu()
    w <- w1 - w0[names(w1)]
    w[is.na(w)] <- w1[is.na(w)]
    list(value = val, elapsed = p1[["elapsed"]] - p0[["elapsed"]],
         main = sum((p1 - p0)[c("user.self", "sys.self")]), workers = unname(w))
  }
  steps <- function() {
    th <- step(thresholds(m, ref))
    p <- step(activated_periods(m, x, th$value))
    set.seed(2)
    r <- step(unit_relevance(m, x, "conv3", channels = channel, progress = FALSE, format = "compact"))
    parts <- list(thresholds = th, periods = p, relevance = r)
    list(result = lapply(parts, `[[`, "value"), parts = parts)
  }
  # on idle cores a step would take about its main-process CPU plus the CPU
  # of its busiest worker (its CPU in one process)
  projected <- function(pt) {
    if (length(pt$workers) == 0L) pt$main else pt$main + max(pt$workers)
  }
  timed <- function(what) {
    l0 <- load1()
    s <- steps()
    el <- vapply(s$parts, `[[`, 0, "elapsed")
    pr <- vapply(s$parts, projected, 0)
    cat(sprintf("%-26s elapsed %6.2f s (thresholds %.2f, periods %.2f, relevance %.2f); load average before %.2f after %.2f\n",
                what, sum(el), el[["thresholds"]], el[["periods"]], el[["relevance"]], l0, load1()))
    for (nm in names(s$parts)) {
      pt <- s$parts[[nm]]
      cat(sprintf("    %-10s CPU: main %6.2f s, workers %s s; projected on idle cores %6.2f s\n", nm, pt$main,
                  if (length(pt$workers)) paste(sprintf("%.2f", pt$workers), collapse = " + ") else "-", pr[[nm]]))
    }
    s$elapsed <- sum(el)
    s$projected <- sum(pr)
    s
  }
  plans <- future_plans()
  one <- timed("1 process (no plan)")
  el <- pr <- c()
  for (what in names(plans)) {
    stop_plan <- plans[[what]]()
    s <- timed(what)
    el[what] <- s$elapsed
    pr[what] <- s$projected
    cat("  identical to the one-process results:", identical(s$result, one$result), "\n")
    stop_plan()
  }
  cat(sprintf("speed-up 2 workers vs 1 worker: elapsed %.2f, projected on idle cores %.2f (vs one process: %.2f, %.2f)\n",
              el[[1]] / el[[2]], pr[[1]] / pr[[2]], one$elapsed / el[[2]], one$projected / pr[[2]]))
}

# k-means over chunks of windows --------------------------------------------
run_kmeans <- function() {
  options(cphap.threads = 1L)
  m <- paper_cnn()
  x <- array(0, c(1000L, 1L, 945L))
  x[, 1L, ] <- walk_chunk(1L)
  ip <- interpretable_layers(m)
  th <- thresholds(m, x)
  p <- activated_periods(m, x, th)
  w <- cphap:::windows_of(m, cphap:::znorm_input(x), p, 2L)[[1]]
  dw <- cphap:::distinct_windows(p, attr(w, "period"))
  w <- w[dw$first, , drop = FALSE]
  cs <- as.integer(ceiling(nrow(w) / 2))
  cat(sprintf("\n## kmeans: %s windows of 1000 random walks: %d distinct windows x %d (weights: %d firing units), k = 12, 10 restarts, 1 thread per process\n",
              ip$name[2], nrow(w), ncol(w), as.integer(sum(dw$weight))))
  fit <- function(chunk_size) {
    l0 <- load1()
    w0 <- workers_cpu()
    t <- system.time(f <- withr::with_seed(3, cluster_windows(w, k = 12, weights = dw$weight,
      window_chunk_size = chunk_size)))
    w1 <- workers_cpu()
    list(fit = f, time = t[["elapsed"]], main = t[["user.self"]] + t[["sys.self"]],
         workers = unname(w1 - w0[names(w1)]), load = c(l0, load1()))
  }
  here <- fit(NULL)
  cat(sprintf("in-process k-means:             objective %.6f, %.2f s (load %.2f -> %.2f); CPU %.2f s\n",
              here$fit$objective, here$time, here$load[1], here$load[2], here$main))
  future::plan(future::sequential)
  seqf <- fit(cs)
  stop_plan <- future_plans()[["multisession, 2 workers"]]()
  mult <- fit(cs)
  stop_plan()
  for (r in list(list("2 chunks, no plan:            ", seqf), list("2 chunks, 2 multisession workers:", mult))) {
    f <- r[[2]]
    cat(sprintf("%s objective %.6f (%+.4f%% of in-process), %d round trips, %.2f s (load %.2f -> %.2f); CPU main %.2f s, workers %s s\n",
                r[[1]], f$fit$objective, 100 * (f$fit$objective / here$fit$objective - 1),
                f$fit$settings$rounds, f$time, f$load[1], f$load[2], f$main,
                if (length(f$workers)) paste(sprintf("%.2f", f$workers), collapse = " + ") else "-"))
  }
  cat("identical on both plans:", identical(seqf$fit, mult$fit), "\n")
  cat(sprintf("data shipped per round: %.1f MB of windows; in all: %.2f GB\n",
              nrow(w) * ncol(w) * 8 / 1e6, mult$fit$settings$rounds * nrow(w) * ncol(w) * 8 / 1e9))
}

cat(sprintf("cphap %s, %s, %d cores; load average %s\n", utils::packageVersion("cphap"),
            format(Sys.time(), "%Y-%m-%d %H:%M UTC", tz = "UTC"), parallel::detectCores(),
            paste(strsplit(readLines("/proc/loadavg"), " ")[[1]][1:3], collapse = " ")))
if (part %in% c("all", "memory")) run_memory()
if (part %in% c("all", "time")) run_time()
if (part %in% c("all", "kmeans")) run_kmeans()
