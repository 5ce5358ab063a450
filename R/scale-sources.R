# Samples for chunked work: an in-memory array cut into sample ranges, or a
# chunk source (files or a function of a chunk index) that every worker
# loads chunk by chunk, so that the main process never holds the whole set.

#' Series read chunk by chunk
#'
#' Describes a set of series that is loaded one chunk at a time, for sets
#' larger than memory. Give it (or a character vector of file paths, which
#' is the same as `series_chunks(paths)`) as `reference` to [thresholds()]
#' and [cphap()], or as `x` to [activated_periods()], [period_windows()],
#' [activations()] and [cphap()]: every chunk is loaded where it is
#' processed (in this process or on a worker of the user's future plan; see
#' [cphap_parallel]), one chunk at a time, and the main process never holds
#' the whole set.
#'
#' Samples are numbered across chunks: the samples of chunk `i` follow those
#' of chunks `1` to `i - 1`. The chunk sizes are learnt the first time the
#' chunks are loaded and kept in the object (printing shows them); a chunk
#' whose size changes later is an error.
#'
#' A chunk that cannot be read, that does not hold numeric series of the
#' model's input shape or that holds missing values stops the call with an
#' error of class `cphap_chunk_error` that names the chunk (and its file);
#' nothing is skipped.
#'
#' @param source A character vector of file paths, one chunk per file, read
#'   by extension with [read_ts()] (`.ts`), [read_arff()] (`.arff`) or else
#'   [read_ucr()] (the UCR text formats such as `.tsv`); or a function of a
#'   chunk index `i` returning the series of chunk `i`: a matrix `[n_i, L]`,
#'   an array `[n_i, C, L]` or a `cphap_data` object (and `NULL` past the
#'   last chunk). The function runs on the workers, so it must be
#'   self-contained (for example read a file or query a database itself).
#' @param n_chunks For a function: the number of chunks. `NULL` finds it
#'   by calling the function in this process with `i = 1, 2, ...` until it
#'   returns `NULL` (each chunk is loaded once and dropped); give the number
#'   to avoid these calls. For files it must be `NULL` or the number of
#'   files.
#' @param x A `cphap_series_chunks` object.
#' @param ... Unused.
#' @return An object of class `cphap_series_chunks`.
#' @seealso [cphap_parallel], [read_ucr()]
#' @examples
#' m <- demo_model()
#' # a function source: chunk i holds 25 series of GunPoint's training set
#' src <- series_chunks(function(i) {
#'   rows <- (i - 1) * 25 + 1:25
#'   gunpoint$train$x[rows, , drop = FALSE]
#' }, n_chunks = 2)
#' th <- thresholds(m, src, layers = "conv1")
#' src
#' identical(th, thresholds(m, gunpoint$train, layers = "conv1"))
#'
#' # files in the UCR format, one chunk per file
#' paths <- file.path(tempdir(), paste0("part", 1:2, ".tsv"))
#' for (i in 1:2) {
#'   rows <- (i - 1) * 25 + 1:25
#'   lines <- apply(gunpoint$train$x[rows, ], 1, function(v) {
#'     paste(c(1, format(v, digits = 17)), collapse = "\t")
#'   })
#'   writeLines(lines, paths[i])
#' }
#' series_chunks(paths)
#' p <- activated_periods(m, paths, th)
#' head(p)
#' @export
series_chunks <- function(source, n_chunks = NULL) {
  if (is.character(source)) {
    if (length(source) == 0L || anyNA(source)) {
      cli::cli_abort("{.arg source} must hold at least one file path and no {.val NA}.", call = NULL)
    }
    if (!is.null(n_chunks)) {
      check_whole(n_chunks, "n_chunks", min = length(source), max = length(source),
        max_what = "the number of files"
      )
    }
    kind <- "files"
    n_chunks <- length(source)
  } else if (is.function(source)) {
    kind <- "function"
    if (is.null(n_chunks)) {
      n_chunks <- count_function_chunks(source)
    } else {
      check_whole(n_chunks, "n_chunks", min = 1)
    }
  } else {
    cli::cli_abort("{.arg source} must be a character vector of file paths or a function of a chunk index, not {.cls {class(source)}}.",
      call = NULL
    )
  }
  cache <- new.env(parent = emptyenv())
  cache$sizes <- NULL
  structure(list(kind = kind, source = source, n_chunks = as.integer(n_chunks), cache = cache),
    class = "cphap_series_chunks"
  )
}

# Call a chunk function with 1, 2, ... until it returns NULL.
count_function_chunks <- function(f) {
  i <- 0L
  repeat {
    v <- tryCatch(f(i + 1L), error = function(e) {
      cli::cli_abort("Chunk {i + 1L} of {.arg source} failed.", parent = e,
        class = "cphap_chunk_error", call = NULL
      )
    })
    if (is.null(v)) break
    i <- i + 1L
  }
  if (i == 0L) {
    cli::cli_abort("{.arg source} returned {.code NULL} for chunk 1: there are no series.", call = NULL)
  }
  i
}

#' @rdname series_chunks
#' @export
print.cphap_series_chunks <- function(x, ...) {
  what <- if (x$kind == "files") "file" else "chunk"
  n <- x$n_chunks
  cat_line("{.cls cphap_series_chunks}: {n} {what}{cli::qty(n)}{?s} of series{if (x$kind == 'function') ' from a function' else ''}")
  if (x$kind == "files") {
    cat_line("Files: {.file {utils::head(x$source, 5L)}}{if (x$n_chunks > 5L) ', ...' else ''}")
  }
  sizes <- x$cache$sizes
  if (is.null(sizes)) {
    cat_line("Samples per chunk: not known yet (learnt when the chunks are first loaded).")
  } else {
    cat_line("{sum(sizes)} sample{?s}; per chunk: {utils::head(sizes, 10L)}{if (length(sizes) > 10L) ', ...' else ''}")
  }
  invisible(x)
}

is_chunk_source <- function(x) {
  inherits(x, "cphap_series_chunks") || (is.character(x) && is.null(dim(x)))
}

as_series_chunks <- function(x) {
  if (inherits(x, "cphap_series_chunks")) x else series_chunks(x)
}

# The samples of `x` for chunked work. "memory": the checked array x (as
# as_input() gives it) cut into ranges of `size` samples; "source": a
# series_chunks object, one chunk per source chunk.
sample_source <- function(x, model, arg, chunk_size = NULL, reshape = TRUE) {
  if (!is.null(chunk_size)) check_whole(chunk_size, "chunk_size", min = 1)
  if (is_chunk_source(x)) {
    return(list(kind = "source", src = as_series_chunks(x), arg = arg))
  }
  x <- as_input(x, model, arg, reshape = reshape)
  n <- dim(x)[1]
  list(kind = "memory", x = x, arg = arg, n = n, size = check_chunk_size(chunk_size, n))
}

# TRUE when the work is one in-memory chunk in this process: the callers'
# direct path (no chunking at all).
single_chunk <- function(s, n = s$n) {
  s$kind == "memory" && n <= s$size && !use_futures()
}

# The chunks of a sample source; `samples` (global indices, sorted) limits
# them to those samples. Each chunk: `samples` (global indices it
# processes; NULL while the sizes of a source are unknown), and for a
# source `index`, `origin` (for messages), `size` (expected, or NULL) and
# `pick` (local indices to keep, NULL for all).
chunk_list <- function(s, samples = NULL) {
  if (s$kind == "memory") {
    ids <- samples %||% seq_len(s$n)
    return(lapply(chunk_ranges(length(ids), s$size), function(r) list(samples = ids[r])))
  }
  src <- s$src
  sizes <- src$cache$sizes
  if (!is.null(samples) && is.null(sizes)) sizes <- source_sizes(s)
  offs <- if (is.null(sizes)) NULL else c(0L, cumsum(sizes))
  out <- lapply(seq_len(src$n_chunks), function(i) {
    ch <- list(index = i, origin = chunk_origin(src, i), size = sizes[i])
    if (!is.null(offs)) {
      all <- offs[i] + seq_len(sizes[i])
      ch$samples <- all
      if (!is.null(samples)) {
        ch$samples <- all[all %in% samples]
        ch$pick <- match(ch$samples, all)
      }
    }
    ch
  })
  if (!is.null(samples)) out <- out[lengths(lapply(out, `[[`, "samples")) > 0L]
  out
}

# Where a source chunk comes from, for messages (a chunk with an origin is
# named in errors also when it is the only one).
chunk_origin <- function(src, i) {
  if (src$kind == "files") paste0("file ", basename(src$source[i])) else "from a function"
}

# Runs `fun(x, chunk, model, ...)` on the series of every chunk. In-memory chunks
# get their samples sliced in the main process just before they are handed
# out; source chunks are loaded where they run. Returns `values` (the
# results, in chunk order) and `samples` (the global indices of each
# chunk's samples; a first pass over a source learns its sizes).
map_sample_chunks <- function(s, chunks, fun, ..., model, label = "Working",
                              progress = FALSE) {
  prepare <- if (s$kind == "memory") {
    x <- s$x
    function(chunk) {
      chunk$x <- slice_samples(x, chunk$samples)
      chunk
    }
  }
  out <- map_chunks(chunks, run_sample_chunk, work = fun, model = worker_model(model),
    src = if (s$kind == "source") s$src, arg = s$arg, ...,
    label = label, progress = progress, prepare = prepare
  )
  ns <- vapply(out, `[[`, numeric(1), "n")
  list(values = lapply(out, `[[`, "value"), samples = chunk_samples(s, chunks, ns))
}

# The parts of a model that the workers use (its C spec, input shape and
# interpretable layers): the layer list, as large as the spec, stays here.
worker_model <- function(model) {
  model$layers <- NULL
  model
}

run_sample_chunk <- function(chunk, work, model, src, arg, ...) {
  x <- chunk$x %||% load_chunk(chunk, src, model, arg)
  n <- attr(x, "chunk_n") %||% dim(x)[1]
  attr(x, "chunk_n") <- NULL
  list(n = n, value = work(x, chunk, model, ...))
}

slice_samples <- function(x, idx) {
  if (length(dim(x)) == 2L) x[idx, , drop = FALSE] else x[idx, , , drop = FALSE]
}

# Loads chunk `chunk$index` of a source and checks it against the model
# (shape, numbers, no missing values, the size learnt before). Attribute
# chunk_n: the size of the whole chunk (before `pick`).
load_chunk <- function(chunk, src, model, arg) {
  i <- chunk$index
  x <- as_input(load_chunk_raw(chunk, src, arg), model, paste0(arg, " (chunk ", i, ")"))
  if (!is.null(chunk$size) && dim(x)[1] != chunk$size) {
    cli::cli_abort("Chunk {i} of {.arg {arg}} has {dim(x)[1]} sample{?s}, but had {chunk$size} before.",
      call = NULL
    )
  }
  n <- dim(x)[1]
  if (!is.null(chunk$pick)) x <- x[chunk$pick, , , drop = FALSE]
  attr(x, "chunk_n") <- n
  x
}

read_series_file <- function(path) {
  ext <- tolower(sub("^.*\\.", "", basename(path)))
  if (ext == "ts") read_ts(path) else if (ext == "arff") read_arff(path) else read_ucr(path)
}

# The number of samples of each chunk of a source: learnt before, or by
# loading every chunk once.
source_sizes <- function(s, model = NULL) {
  sizes <- s$src$cache$sizes
  if (!is.null(sizes)) {
    return(sizes)
  }
  chunks <- chunk_list(s)
  ns <- map_chunks(chunks, chunk_size_of, src = s$src, arg = s$arg, label = "Counting samples")
  learn_sizes(s, unlist(ns))
}

chunk_size_of <- function(chunk, src, arg) {
  d <- dim(load_chunk_raw(chunk, src, arg))
  if (is.null(d)) 1L else d[[1]]
}

# The series of a source chunk as loaded (a cphap_data gives its series),
# without checks against a model.
load_chunk_raw <- function(chunk, src, arg) {
  i <- chunk$index
  if (src$kind == "files") {
    path <- src$source[i]
    if (!file.exists(path) || dir.exists(path)) {
      cli::cli_abort("File {.file {path}} (chunk {i} of {.arg {arg}}) does not exist.", call = NULL)
    }
    return(read_series_file(path)$x)
  }
  v <- src$source(i)
  if (is.null(v)) {
    cli::cli_abort("Chunk {i} of {.arg {arg}} is {.code NULL}, but the source has {src$n_chunks} chunk{?s}.",
      call = NULL
    )
  }
  if (inherits(v, "cphap_data")) v <- v$x
  if (!is.numeric(v)) {
    cli::cli_abort("Chunk {i} of {.arg {arg}} must be numeric series, not {.cls {class(v)}}.", call = NULL)
  }
  v
}

# Keeps the chunk sizes seen by a pass over a whole source (and checks
# them against those seen before).
learn_sizes <- function(s, ns) {
  if (s$kind != "source") {
    return(invisible(ns))
  }
  ns <- as.integer(ns)
  old <- s$src$cache$sizes
  if (!is.null(old) && !identical(old, ns)) {
    i <- which(old != ns)[1]
    cli::cli_abort("Chunk {i} of {.arg {s$arg}} has {ns[i]} sample{?s}, but had {old[i]} before.",
      class = "cphap_chunk_error", call = NULL
    )
  }
  s$src$cache$sizes <- ns
  ns
}

# Global sample indices of the chunks' results: known from the chunks, or
# (for a source seen for the first time) from the sizes the pass returned.
chunk_samples <- function(s, chunks, ns) {
  if (all(vapply(chunks, function(ch) !is.null(ch$samples), logical(1)))) {
    return(lapply(chunks, `[[`, "samples"))
  }
  sizes <- learn_sizes(s, ns)
  offs <- c(0L, cumsum(sizes))
  lapply(seq_along(sizes), function(i) offs[i] + seq_len(sizes[i]))
}
