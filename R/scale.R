# Running sample-wise work over chunks of samples, in this process or on the
# user's future plan (multisession, cluster, batchtools, mirai, ...).
#
# Chunks are fixed by the data (sample ranges), never by the plan, and every
# chunk's result depends only on its own samples, so results are identical
# whatever the plan and the number of workers. Randomness inside a chunk is
# keyed by global sample indices (never drawn from the worker's RNG).

#' Parallel and chunked work on any future plan
#'
#' The sample-wise steps of the pattern framework, [activations()],
#' [thresholds()], [activated_periods()], [period_windows()] and the
#' sample-wise part of [cphap()] (its thresholds, periods and windows; the
#' clustering runs in this process), [explain_sample()], and of the
#' relevance framework, [unit_relevance()], [original_relevance()], [lrp()]
#' and [perturbation()], cut their samples into chunks and run
#' them on the user's [future][future::plan] plan: `plan(multisession)` on
#' this machine, `plan(cluster)` over ssh, `future.batchtools` on a Slurm,
#' SGE or PBS cluster, `future.mirai`, and so on. Without a plan (or with
#' `plan(sequential)`) everything runs in this process, as before.
#'
#' @section Parallel and chunked work:
#' Samples are cut into chunks of `chunk_size` samples (the last may be
#' shorter). The default, `chunk_size = NULL`, is one chunk when no future
#' plan is set, else about four chunks per worker (and at least 16 samples
#' per chunk). Each chunk is one future on the user's plan; a worker
#' receives only the samples of its chunk (or loads its chunk itself, for
#' series read chunk by chunk: see [series_chunks()]). Results do not depend
#' on the plan, the number of workers or the chunk size: they are
#' `identical()` to those of one chunk in this process, thresholds and
#' Monte-Carlo dropout relevance included (dropout masks are drawn from
#' streams keyed by the sample's position and the pass, never from a
#' worker's random numbers; see the section "Exact thresholds over chunks" of
#' [cphap_parallel]). An error in a chunk, or a worker that dies, stops the
#' call with an error of class `cphap_chunk_error` that names the chunk and
#' its samples. See [cphap_parallel] for threads and progress.
#'
#' @section Workers and threads:
#' Every worker runs the package's C code with OpenMP threads. With a
#' future plan, each worker uses the option `cphap.threads` of this
#' process when it is set, else the cores of this machine shared among the
#' plan's workers (at least one each), so that workers x threads does not
#' exceed the cores. For workers on other machines (a cluster plan, a batch
#' scheduler), set `options(cphap.threads = )` to the cores each worker may
#' use, for example the cores of one job. The other `cphap.*` options of
#' this process are set on the workers too, for the duration of each chunk.
#'
#' @section Progress:
#' Each chunk signals one step of [progressr](https://progressr.futureverse.org)
#' progress, from whichever worker runs it. Wrap the call in
#' `progressr::with_progress()`, or call `progressr::handlers(global = TRUE)`
#' once, to see it. The `progress` bars of [cphap()] (clustering) and of
#' other functions are unchanged.
#'
#' @section Exact thresholds over chunks:
#' [thresholds()] selects the exact type-7 quantile by a radix selection on
#' the bit patterns of the activations, 16 bits per pass. Over chunks, each
#' pass runs the forward pass of every chunk where the plan puts it and
#' returns, per channel, the counts of the next 16 bits under the prefix
#' chosen so far (or the few values left under it); this process adds the
#' counts up and chooses the next prefix. Counts add up the same way
#' however the samples are cut, so the thresholds are bit for bit those of
#' [stats::quantile()] (type 7) over the whole reference set. Workers keep
#' nothing between passes: each pass runs their forward pass again (usually
#' two passes, up to four when a bin is crowded, as with the zeros of a
#' ReLU).
#'
#' @section Series larger than memory:
#' Give `reference` (or `x`) as a [series_chunks()] object or a character
#' vector of file paths: every chunk is then loaded where it runs, and this
#' process never holds the whole set. Samples are numbered across chunks.
#' [cphap()] on such `x` cuts the windows where the chunks are loaded and
#' keeps no series in its result (give `newdata` to [explain_sample()]).
#'
#' @name cphap_parallel
#' @seealso [series_chunks()], [thresholds()], [activated_periods()],
#'   [period_windows()], [activations()], [cphap()], [unit_relevance()],
#'   [perturbation()]
#' @examples
#' m <- demo_model()
#' x <- gunpoint$train
#' th <- thresholds(m, x, layers = "conv1")
#' # the same thresholds from chunks of 7 samples
#' identical(th, thresholds(m, x, layers = "conv1", chunk_size = 7))
#' \dontrun{
#' # on two background R sessions, with a progress bar
#' future::plan(future::multisession, workers = 2)
#' progressr::with_progress(p <- activated_periods(m, gunpoint$test, th))
#' future::plan(future::sequential)
#' }
NULL

# Sample ranges 1..n cut into chunks of `chunk_size` (the last may be shorter).
chunk_ranges <- function(n, chunk_size) {
  n <- as.integer(n)
  if (n < 1L) {
    return(list())
  }
  starts <- seq(1L, n, by = chunk_size)
  lapply(starts, function(s) s:min(n, s + chunk_size - 1L))
}

# `chunk_size`: NULL for the default, else a whole number >= 1.
check_chunk_size <- function(chunk_size, n, arg = "chunk_size") {
  if (is.null(chunk_size)) {
    return(default_chunk_size(n))
  }
  check_whole(chunk_size, arg, min = 1)
  as.integer(min(chunk_size, max(1, n)))
}

# Default: the whole set in one chunk when it runs in this process (no
# overhead), else about four chunks per worker for load balance, but never
# fewer than 16 samples per chunk.
default_chunk_size <- function(n) {
  n <- max(1L, as.integer(n))
  w <- future_workers()
  if (w <= 1L) {
    return(n)
  }
  as.integer(max(16L, ceiling(n / (4L * w))))
}

# TRUE when a future plan other than sequential is set (future installed).
use_futures <- function() {
  if (isTRUE(getOption("cphap.future", TRUE)) && is_installed("future")) {
    !inherits(future::plan("next"), "sequential")
  } else {
    FALSE
  }
}

# Evaluates `expr` in this process whatever the plan: for internal calls on
# a few samples, where a future would cost more than the work.
in_this_process <- function(expr) {
  old <- options(cphap.future = FALSE)
  on.exit(options(old), add = TRUE)
  expr
}

future_workers <- function() {
  if (!use_futures()) {
    return(1L)
  }
  w <- tryCatch(future::nbrOfWorkers(), error = function(e) 1L)
  if (!is.finite(w) || w < 1) 1L else as.integer(w)
}

is_installed <- function(pkg) {
  requireNamespace(pkg, quietly = TRUE)
}

# OpenMP threads of each worker: the option `cphap.threads` when the user set
# it, else the cores of this machine shared among the plan's workers (at
# least one), so that workers x threads does not oversubscribe the cores.
worker_threads <- function() {
  if (!is.null(getOption("cphap.threads"))) {
    return(cphap_threads())
  }
  w <- future_workers()
  n <- suppressWarnings(as.numeric(parallel_cores()))
  if (length(n) != 1L || is.na(n) || n < 1) n <- 1
  as.integer(max(1, floor(n / w)))
}

# Runs `fun(chunk, ...)` for every element of `chunks` and returns the list
# of results in the order of `chunks`. Each chunk is a list with at least
# `samples` (global 1-based indices, used in messages). In this process when
# no future plan is set, else one future per chunk on the user's plan. An
# error in a chunk (or a worker that dies) is an R error of class
# `cphap_chunk_error` naming the chunk and its samples. Progress: a cli bar
# (`progress = TRUE`) and, when progressr is installed, progressr signals
# from the workers (shown under `progressr::with_progress()` or
# `progressr::handlers(global = TRUE)`). `prepare(chunk)`, when given, runs
# in the main process just before a chunk is handed out (e.g. slices the
# chunk's samples out of an in-memory array, so that a worker receives
# only its own). A chunk with an `origin` (a chunk of a source, such as
# "file a.tsv") is named in errors also when it is the only one.
map_chunks <- function(chunks, fun, ..., label = "Working", progress = FALSE,
                       prepare = NULL) {
  if (length(chunks) == 0L) {
    return(list())
  }
  if (is.null(prepare)) prepare <- identity
  if (!use_futures()) {
    if (length(chunks) == 1L && is.null(chunks[[1L]]$origin)) {
      # one chunk in this process: the error as it is, nothing to name
      return(list(fun(prepare(chunks[[1L]]), ...)))
    }
    return(map_chunks_here(chunks, fun, ..., label = label, progress = progress,
                           prepare = prepare))
  }
  map_chunks_future(chunks, fun, ..., label = label, progress = progress, prepare = prepare)
}

map_chunks_here <- function(chunks, fun, ..., label, progress, prepare) {
  bar <- progress_start(progress, label, length(chunks))
  p <- progressor_of(length(chunks), label)
  out <- vector("list", length(chunks))
  for (i in seq_along(chunks)) {
    out[[i]] <- withCallingHandlers(
      fun(prepare(chunks[[i]]), ...),
      error = function(e) chunk_abort(i, chunks[[i]], e)
    )
    if (is.function(p)) p()
    progress_tick(bar)
  }
  progress_end(bar)
  out
}

# A progressr progressor of `steps` (NULL without progressr); its signals
# show under progressr::with_progress() or progressr::handlers(global = TRUE).
progressor_of <- function(steps, label) {
  if (is_installed("progressr")) progressr::progressor(steps = steps, label = label)
}

map_chunks_future <- function(chunks, fun, ..., label, progress, prepare) {
  args <- list(...)
  opts <- worker_options()
  p <- progressor_of(length(chunks), label)
  bar <- progress_start(progress, label, length(chunks))
  futs <- vector("list", length(chunks))
  for (i in seq_along(chunks)) {
    futs[[i]] <- tryCatch(
      future::future(
        quote(run_chunk(fun, chunk, args, opts, p)),
        substitute = FALSE,
        globals = list(
          run_chunk = run_chunk, fun = fun, chunk = prepare(chunks[[i]]), args = args,
          opts = opts, p = p
        ),
        packages = "cphap", seed = FALSE, label = paste0("cphap-chunk-", i)
      ),
      error = function(e) chunk_abort(i, chunks[[i]], e)
    )
  }
  out <- vector("list", length(chunks))
  for (i in seq_along(futs)) {
    out[[i]] <- tryCatch(future::value(futs[[i]]),
      error = function(e) chunk_abort(i, chunks[[i]], e),
      interrupt = function(e) chunk_abort(i, chunks[[i]], NULL, "was interrupted")
    )
    progress_tick(bar)
  }
  progress_end(bar)
  out
}

# The package's options of this process for the workers (so that, for
# example, the convolution algorithm is the same everywhere), with the
# workers' share of the threads.
worker_options <- function() {
  o <- options()
  o <- o[startsWith(names(o), "cphap.")]
  o$cphap.future <- NULL
  o$cphap.threads <- worker_threads()
  o
}

# Evaluated on a worker: the package's options for this worker, then the
# chunk's work, then one progress step.
run_chunk <- function(fun, chunk, args, opts, p) {
  old <- options(opts)
  on.exit(options(old), add = TRUE)
  res <- do.call(fun, c(list(chunk), args))
  if (is.function(p)) p()
  res
}

chunk_abort <- function(i, chunk, e, what = "failed") {
  s <- chunk$samples
  about <- c(chunk$origin, if (length(s)) paste0("samples ", min(s), "-", max(s)))
  which <- paste0("chunk ", chunk$index %||% i)
  if (length(about)) which <- paste0(which, " (", paste(about, collapse = ", "), ")")
  cli::cli_abort(paste0("Work on ", which, " ", what, "."),
    class = "cphap_chunk_error", chunk = i, parent = e, call = NULL
  )
}
