# Shared helpers for the benchmarks in bench/ (not part of the package).

bench_dir <- function() {
  args <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", args[grepl("^--file=", args)])
  if (length(f)) dirname(normalizePath(f)) else "bench"
}

# Write the model's weights and an input array as raw little-endian float64
# files plus a manifest that bench/*.py reads, so both sides compute the same
# network on the same data.
export_for_torch <- function(model, x, dir) {
  dir.create(dir, showWarnings = FALSE, recursive = TRUE)
  lines <- character()
  for (j in seq_along(model$layers)) {
    l <- model$layers[[j]]
    desc <- switch(l$type,
      Conv1D = sprintf("%d Conv1D %s %d %d %d %d %d %d %d %s", j, l$activation_name,
        dim(l$weight)[1], dim(l$weight)[2], dim(l$weight)[3], l$stride, l$dilation,
        l$padding[1], l$padding[2], "w"),
      Dense = sprintf("%d Dense %s %d %d", j, l$activation_name, nrow(l$weight), ncol(l$weight)),
      MaxPooling1D = sprintf("%d MaxPooling1D %d %d", j, l$kernel_size, l$strides),
      AveragePooling1D = sprintf("%d AveragePooling1D %d %d", j, l$kernel_size, l$strides),
      sprintf("%d %s", j, l$type)
    )
    if (l$type == "Conv1D") {
      writeBin(as.vector(aperm(l$weight, 3:1)), file.path(dir, sprintf("w%d.bin", j)))
      writeBin(l$bias, file.path(dir, sprintf("b%d.bin", j)))
    }
    if (l$type == "Dense") {
      writeBin(as.vector(t(l$weight)), file.path(dir, sprintf("w%d.bin", j)))
      writeBin(l$bias, file.path(dir, sprintf("b%d.bin", j)))
    }
    lines <- c(lines, desc)
  }
  writeLines(lines, file.path(dir, "layers.txt"))
  d <- dim(x)
  writeBin(as.vector(aperm(x, 3:1)), file.path(dir, "x.bin"))
  writeLines(paste(d, collapse = " "), file.path(dir, "x_dim.txt"))
  invisible(dir)
}

model_flops <- function(model) {
  f <- 0
  for (l in model$layers) {
    if (l$type == "Conv1D") {
      w <- dim(l$weight)
      f <- f + 2 * w[1] * w[2] * w[3] * l$dim_out[2]
    } else if (l$type == "Dense") {
      f <- f + 2 * length(l$weight)
    }
  }
  f
}

median_time <- function(expr_fn, reps = 5) {
  t <- numeric(reps)
  for (r in seq_len(reps)) t[r] <- system.time(expr_fn())[["elapsed"]]
  stats::median(t)
}

blas_info <- function() {
  out <- tryCatch(system2("update-alternatives", c("--query", "libblas.so.3-x86_64-linux-gnu"),
    stdout = TRUE, stderr = FALSE
  ), error = function(e) character())
  v <- sub("^Value: ", "", grep("^Value:", out, value = TRUE))
  if (length(v)) v else "unknown"
}

# Environment for the PyTorch side: torch.set_num_threads() does not bound
# OpenBLAS's own threads, so both are set to the benchmark's thread count.
torch_env <- function(threads) {
  paste0(c("OMP_NUM_THREADS=", "OPENBLAS_NUM_THREADS=", "MKL_NUM_THREADS="), threads)
}

# The worker setups of the scale benchmarks: one worker (a PSOCK cluster of
# one: plan(multisession, workers = 1) would run in the main process) and
# two multisession workers. Each sets the plan, starts the workers with
# cphap loaded (before any timing) and returns a function that ends it.
future_plans <- function() {
  warm <- function() {
    fs <- lapply(seq_len(future::nbrOfWorkers()), function(i) {
      future::future(requireNamespace("cphap", quietly = TRUE), seed = FALSE)
    })
    invisible(lapply(fs, future::value))
  }
  list(
    "1 worker (PSOCK cluster)" = function() {
      cl <- parallelly::makeClusterPSOCK(1)
      future::plan(future::cluster, workers = cl)
      warm()
      function() {
        future::plan(future::sequential)
        parallel::stopCluster(cl)
      }
    },
    "multisession, 2 workers" = function() {
      future::plan(future::multisession, workers = 2)
      warm()
      function() future::plan(future::sequential)
    }
  )
}

load1 <- function() as.numeric(strsplit(readLines("/proc/loadavg"), " ")[[1]][1])

# CPU seconds used so far by each of this session's future workers (Linux:
# the processes that parallelly started for this process, from /proc),
# named by process id.
workers_cpu <- function() {
  ps <- system2("ps", c("-eo", "pid,args"), stdout = TRUE)
  mine <- grepl(paste0("parallelly.parent=", Sys.getpid(), "\\."), ps)
  pids <- as.integer(sub("^ *([0-9]+) .*", "\\1", ps[mine]))
  cpu <- vapply(pids, function(p) {
    f <- sprintf("/proc/%d/stat", p)
    if (!file.exists(f)) return(0)
    st <- strsplit(sub(".*\\) ", "", readLines(f)), " ")[[1]]
    sum(as.numeric(st[12:13])) / 100
  }, numeric(1))
  stats::setNames(cpu, pids)
}
