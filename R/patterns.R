# The pattern framework: thresholds, highly activated
# periods, windows of periods. Numerics in src/patterns.c.

#' Thresholds of highly activated nodes
#'
#' For every channel `k` of every requested interpretable layer `j`, the
#' threshold \eqn{T_{jk}} is the empirical `1 - alpha` quantile of all values
#' of the activation map \eqn{A_{jk}} over the reference samples and over all
#' positions. The quantile is of type 7 (R's default),
#' and equals `quantile(values, 1 - alpha)` exactly, so users can reproduce
#' it with [activations()] and [stats::quantile()] (both compute the
#' convolutions as the option `cphap.conv` says: see the section
#' "Convolution algorithm" of [activations()]).
#'
#' The computation streams the forward pass over chunks of samples and never
#' holds all activations: an exact radix selection on the values' bit
#' patterns, 16 bits per pass, keeps a histogram per channel in the first pass
#' and collects only the values that share a bin with the two order
#' statistics needed by type 7 in the second (more passes only when a bin is
#' crowded with nearly equal values, e.g. the zeros of a ReLU).
#'
#' A node is highly activated when its activation is strictly above the
#' threshold, so a channel whose threshold is 0 and whose activations are
#' never negative (a dead ReLU unit) has no highly activated nodes.
#'
#' @param model A [cphap_model()].
#' @param reference Reference series (usually the training data): a matrix
#'   `[n, L]`, an array `[n, C, L]` or a `cphap_data` object, with the
#'   model's input shape; or series read chunk by chunk, a
#'   [series_chunks()] object or a character vector of file paths.
#' @param layers Names or positions of interpretable layers (see
#'   [interpretable_layers()]); `NULL` for all.
#' @param alpha The share of activations above the threshold, in (0, 1).
#'   The paper used 0.05 and 0.005.
#' @param chunk_size Samples per chunk for work on a future plan, or `NULL`
#'   (one chunk without a plan, else about four per worker); see the
#'   section Parallel and chunked work. Series read chunk by chunk
#'   ([series_chunks()]) keep their own chunks.
#' @return A data frame of class `cphap_thresholds` with one row per layer
#'   and channel: `layer` (factor), `channel`, `threshold`, `alpha` and
#'   `n_values` (the number of activation values the quantile is taken over:
#'   reference samples x positions). Attributes: `n_reference`, `passes`
#'   (forward passes over the reference set).
#' @section Differences from the original work:
#' The default `alpha = 0.05` is the first of the two levels the paper
#' used (0.05 and 0.005); give `alpha = 0.005` for the other. The quantile
#' is R's type 7 over all positions and reference samples, and a node must
#' be strictly above it.
#'
#' @inheritSection cphap_parallel Parallel and chunked work
#' @seealso [activated_periods()], [cphap()], [cphap_parallel]
#' @examples
#' m <- demo_model()
#' th <- thresholds(m, gunpoint$train, layers = "conv1")
#' head(th)
#' # the same as quantile() over all activations of a channel
#' a <- activations(m, gunpoint$train, layers = "conv1", format = "array")$conv1
#' quantile(a[, 1, ], 0.95, names = FALSE) == th$threshold[1]
#' @export
thresholds <- function(model, reference, layers = NULL, alpha = 0.05, chunk_size = NULL) {
  model <- check_model(model)
  check_alpha(alpha)
  s <- sample_source(reference, model, "reference", chunk_size, reshape = FALSE)
  rows <- resolve_layers(model, layers)
  ip <- model$interp[rows, , drop = FALSE]
  if (single_chunk(s)) {
    res <- .Call(
      cp_thresholds_r, model$spec, s$x, as.integer(ip$node - 1L),
      1 - alpha, cphap_threads(), cphap_conv()
    )
    n <- s$n
  } else {
    res <- chunked_thresholds(model, s, ip, 1 - alpha)
    n <- res$n
  }
  out <- data.frame(
    layer = factor(rep(ip$name, ip$channels), levels = model$interp$name),
    channel = sequence(ip$channels),
    threshold = res$threshold,
    alpha = alpha,
    n_values = rep(as.double(n) * ip$length, ip$channels)
  )
  structure(out,
    class = c("cphap_thresholds", "data.frame"), n_reference = n,
    passes = res$passes
  )
}

check_alpha <- function(alpha) {
  if (!is.numeric(alpha) || length(alpha) != 1L || is.na(alpha) || alpha <= 0 ||
    alpha >= 1) {
    cli::cli_abort(
      "{.arg alpha} must be a single number strictly between 0 and 1, not {.val {format_value(alpha)}}.",
      call = NULL
    )
  }
  invisible(alpha)
}

# The thresholds of a cphap_thresholds object or of a cphap_result.
as_thresholds <- function(thresholds, arg = "thresholds") {
  if (inherits(thresholds, "cphap_result")) thresholds <- thresholds$thresholds
  if (!inherits(thresholds, "cphap_thresholds")) {
    cli::cli_abort("{.arg {arg}} must be a {.cls cphap_thresholds} from {.fn thresholds} (or a {.cls cphap_result} from {.fn cphap}), not {.cls {class(thresholds)}}.",
      call = NULL
    )
  }
  thresholds
}

# One threshold per channel of layer `name` from a cphap_thresholds object.
layer_thresholds <- function(thresholds, name, n_ch, arg = "threshold") {
  sel <- thresholds[as.character(thresholds$layer) == name, , drop = FALSE]
  if (nrow(sel) == 0L) {
    cli::cli_abort(c("{.arg {arg}} has no thresholds for layer {.val {name}}.",
      i = "Compute them with {.code thresholds(model, reference, layers = {.val {name}})}."
    ), call = NULL)
  }
  if (nrow(sel) != n_ch || !setequal(sel$channel, seq_len(n_ch))) {
    cli::cli_abort("{.arg {arg}} has {nrow(sel)} channel{?s} for layer {.val {name}}, but the model has {n_ch}.",
      call = NULL
    )
  }
  sel$threshold[match(seq_len(n_ch), sel$channel)]
}

#' @export
print.cphap_thresholds <- function(x, ...) {
  cat_line("{.cls cphap_thresholds}: {nrow(x)} unit{?s} in {length(unique(x$layer))} layer{?s}, alpha = {x$alpha[1]}, {attr(x, 'n_reference')} reference sample{?s}")
  dead <- sum(x$threshold <= 0)
  if (dead > 0L) {
    cat_line("{dead} unit{?s} with threshold <= 0 (no highly activated nodes if never negative).")
  }
  print(as.data.frame(unclass_df(x)), row.names = FALSE, max = 40L)
  invisible(x)
}

unclass_df <- function(x) {
  attr(x, "n_reference") <- NULL
  attr(x, "passes") <- NULL
  class(x) <- "data.frame"
  x
}

# Columns of an empty period table.
empty_periods <- function(levels) {
  data.frame(
    sample = integer(), layer = factor(character(), levels = levels),
    channel = integer(), position = integer(), activation = double(),
    threshold = double(), start = integer(), end = integer(), inside = logical()
  )
}

#' Highly activated nodes and their input periods
#'
#' Runs the network over `x` (in chunks, in C) and returns every node whose
#' activation is strictly above its unit's threshold, with the input period
#' it sees (its receptive field). Periods that reach
#' outside the series (when a layer pads) are kept with `inside = FALSE`.
#'
#' @param model A [cphap_model()].
#' @param x Series to explain: a matrix `[n, L]`, an array `[n, C, L]` or a
#'   `cphap_data` object; or series read chunk by chunk (a [series_chunks()]
#'   object or file paths).
#' @param thresholds A `cphap_thresholds` from [thresholds()] (or a
#'   `cphap_result` from [cphap()], whose thresholds are used) covering the
#'   requested layers.
#' @param layers Names or positions of interpretable layers; `NULL` for all
#'   layers in `thresholds`.
#' @param channels Channels (units) to report, `NULL` for all; every value
#'   must exist in every requested layer.
#' @param samples Indices of the samples of `x` to report, `NULL` for all.
#' @param chunk_size Samples per chunk for work on a future plan, or `NULL`
#'   (one chunk without a plan, else about four per worker); see the
#'   section Parallel and chunked work. Series read chunk by chunk
#'   ([series_chunks()]) keep their own chunks.
#' @return A data frame of class `cphap_periods`, one row per highly
#'   activated node: `sample` (index in `x`), `layer` (factor), `channel`,
#'   `position` (1-based node index along the layer), `activation`,
#'   `threshold`, `start` and `end` (1-based input indices, inclusive) and
#'   `inside` (the whole period lies inside the series). With no such node,
#'   a zero-row data frame with these columns (and a message).
#' @section Differences from the original work:
#' A period that reaches outside the series (a node near either end of a
#' layer that pads, as the original CNN's "same" padding does) is kept
#' with `inside = FALSE` rather than cut to the series; [period_windows()]
#' and [cphap()] leave such periods out of the clustering, which needs
#' windows of the layer's full receptive-field length.
#'
#' @inheritSection cphap_parallel Parallel and chunked work
#' @seealso [thresholds()], [receptive_field()], [cphap()], [cphap_parallel]
#' @examples
#' m <- demo_model()
#' th <- thresholds(m, gunpoint$train)
#' p <- activated_periods(m, gunpoint$test, th, layers = "conv2", samples = 1:3)
#' head(p)
#' @export
activated_periods <- function(model, x, thresholds, layers = NULL, channels = NULL,
                              samples = NULL, chunk_size = NULL) {
  model <- check_model(model)
  thresholds <- as_thresholds(thresholds)
  s <- sample_source(x, model, "x", chunk_size)
  ip_all <- model$interp
  have <- unique(as.character(thresholds$layer))
  if (is.null(layers)) {
    rows <- match(have, ip_all$name)
  } else {
    rows <- resolve_layers(model, layers)
    miss <- setdiff(ip_all$name[rows], have)
    if (length(miss) > 0L) {
      cli::cli_abort(c("{.arg thresholds} has no thresholds for layer{?s} {.val {miss}}.",
        i = "Compute them with {.code thresholds(model, reference, layers = ...)}."
      ), call = NULL)
    }
  }
  if (anyNA(rows)) {
    cli::cli_abort("{.arg thresholds} does not belong to {.arg model} (unknown layers).", call = NULL)
  }
  ip <- ip_all[rows, , drop = FALSE]
  if (!is.null(channels)) {
    max_ch <- min(ip$channels)
    if (!is.numeric(channels) || length(channels) == 0L || anyNA(channels) ||
      any(channels != round(channels)) || any(channels < 1) || any(channels > max_ch)) {
      cli::cli_abort(
        "{.arg channels} must be whole numbers between 1 and {max_ch} (the channels of layer{?s} {.val {ip$name}}), not {.val {format_value(channels)}}.",
        call = NULL
      )
    }
  }
  keep <- NULL
  if (!is.null(samples)) {
    n <- if (s$kind == "memory") s$n else sum(source_sizes(s))
    if (!is.numeric(samples) || length(samples) == 0L || anyNA(samples) ||
      any(samples != round(samples)) || any(samples < 1) || any(samples > n)) {
      cli::cli_abort(
        "{.arg samples} must be whole numbers between 1 and {n} (the samples of {.arg x}), not {.val {format_value(samples)}}.",
        call = NULL
      )
    }
    keep <- sort(unique(as.integer(samples)))
  }
  thr <- unlist(lapply(seq_len(nrow(ip)), function(q) {
    sel <- thresholds[as.character(thresholds$layer) == ip$name[q], , drop = FALSE]
    t <- rep(Inf, ip$channels[q])
    if (nrow(sel) != ip$channels[q]) {
      cli::cli_abort("{.arg thresholds} has {nrow(sel)} channel{?s} for layer {.val {ip$name[q]}}, but the model has {ip$channels[q]}.",
        call = NULL
      )
    }
    t[sel$channel] <- sel$threshold
    if (!is.null(channels)) t[-channels] <- Inf
    t
  }))
  res <- high_nodes(model, s, ip, thr, keep)
  levels <- model$interp$name
  L <- model$input_dim[2]
  if (length(res$sample) == 0L) {
    cli::cli_inform("No highly activated nodes in the requested layers, channels and samples.")
    out <- empty_periods(levels)
  } else {
    q <- res$layer
    offs <- c(0L, cumsum(ip$channels))[q]
    start <- ip$start[q] + (res$position - 1L) * ip$jump[q] + 1L
    end <- start + ip$size[q] - 1L
    out <- data.frame(
      sample = res$sample,
      layer = factor(ip$name[q], levels = levels),
      channel = res$channel,
      position = res$position,
      activation = res$value,
      threshold = thr[offs + res$channel],
      start = as.integer(start), end = as.integer(end),
      inside = start >= 1 & end <= L
    )
  }
  structure(out, class = c("cphap_periods", "data.frame"), series_length = L)
}

# Highly activated nodes of the samples `keep` (NULL: all) of the sample
# source `s` (columns of cp_high_nodes_r; `sample` global), in this process
# or over chunks.
high_nodes <- function(model, s, ip, thr, keep = NULL) {
  nodes <- as.integer(ip$node - 1L)
  thr <- as.double(thr)
  if (single_chunk(s, length(keep %||% seq_len(s$n)))) {
    x <- if (is.null(keep)) s$x else slice_samples(s$x, keep)
    res <- .Call(cp_high_nodes_r, model$spec, x, nodes, thr, cphap_threads(), cphap_conv())
    if (!is.null(keep)) res$sample <- keep[res$sample]
    return(res)
  }
  # the convolution mode of this process (workers do not see its options)
  out <- map_sample_chunks(s, chunk_list(s, keep), high_nodes_chunk,
    nodes = nodes, thr = thr, conv = cphap_conv(), model = model,
    label = "Highly activated nodes"
  )
  parts <- lapply(seq_along(out$values), function(i) {
    r <- out$values[[i]]
    r$sample <- out$samples[[i]][r$sample]
    r
  })
  cols <- names(parts[[1]])
  stats::setNames(lapply(cols, function(nm) unlist(lapply(parts, `[[`, nm), use.names = FALSE)), cols)
}

# Worker side (a top-level function, so that no caller's frame travels
# with it to the workers).
high_nodes_chunk <- function(x, chunk, model, nodes, thr, conv) {
  .Call(cp_high_nodes_r, model$spec, x, nodes, thr, cphap_threads(), conv)
}

#' @export
print.cphap_periods <- function(x, ...) {
  cat_line("{.cls cphap_periods}: {nrow(x)} highly activated node{?s} in {length(unique(x$sample))} sample{?s}; {sum(x$inside)} period{?s} inside the series")
  y <- x
  class(y) <- "data.frame"
  attr(y, "series_length") <- NULL
  print(utils::head(y, 20L), row.names = FALSE)
  if (nrow(x) > 20L) cat_line("# ... {nrow(x) - 20L} more row{?s}")
  invisible(x)
}

# Z-normalise every series (sample and channel) of an array [n, C, L]:
# mean 0, sd 1 (denominator L - 1); a constant series becomes zeros
# (see znorm()).
znorm_input <- function(x) {
  znorm(x, margin = c(1L, 2L))
}

#' Input windows of highly activated periods
#'
#' Cuts the input window of every period that lies inside the series, for
#' clustering: the windows of all units of a layer have
#' the layer's receptive-field size. By default they are cut from the
#' z-normalised series (each sample and input channel to mean 0 and sd 1
#' over its whole length). Multivariate input gives one window set per input
#' channel, or one set of concatenated channel blocks with `joint = TRUE`.
#'
#' @param model A [cphap_model()].
#' @param x The series the periods were found in (same samples), in memory
#'   or read chunk by chunk (a [series_chunks()] object or file paths).
#' @param periods A `cphap_periods` from [activated_periods()].
#' @param layer One interpretable layer (name or position).
#' @param input_channels Input channels to cut (`NULL`: all).
#' @param joint Cluster the input channels jointly: one window per period
#'   with the channels' blocks side by side.
#' @param normalize Cut from z-normalised series (`TRUE`) or from `x` as
#'   given.
#' @param chunk_size Samples per chunk for work on a future plan, or `NULL`
#'   (one chunk without a plan, else about four per worker); see the
#'   section Parallel and chunked work. Series read chunk by chunk
#'   ([series_chunks()]) keep their own chunks.
#' @return A list with one numeric matrix per input channel (or one, named
#'   `"joint"`): a row per period inside the series, a column per time point
#'   of the window (channel blocks in order when joint). Attribute `period`
#'   of each matrix: the rows of `periods` the windows come from.
#' @section Differences from the original work:
#' Only periods inside the series are cut: periods that reach outside it
#' (with padding) stay in the period table, flagged `inside = FALSE`, and
#' get no window, so they are left out of the clustering. Each period gives
#' one row here, also when several units fire at the same sample and node
#' position; [cphap()] keeps such a window once, weighted by its firing
#' units, as the original work did.
#'
#' @inheritSection cphap_parallel Parallel and chunked work
#' @examples
#' m <- demo_model()
#' x <- gunpoint$train
#' p <- activated_periods(m, x, thresholds(m, x, "conv2"))
#' w <- period_windows(m, x, p, "conv2")
#' dim(w[[1]])
#' @export
period_windows <- function(model, x, periods, layer, input_channels = NULL, joint = FALSE,
                           normalize = TRUE, chunk_size = NULL) {
  model <- check_model(model)
  check_flag(joint, "joint")
  check_flag(normalize, "normalize")
  s <- sample_source(x, model, "x", chunk_size)
  row <- resolve_layers(model, layer, "layer")
  if (length(row) != 1L) {
    cli::cli_abort("{.arg layer} must be a single layer.", call = NULL)
  }
  if (!inherits(periods, "cphap_periods")) {
    cli::cli_abort("{.arg periods} must be a {.cls cphap_periods} from {.fn activated_periods}.",
      call = NULL
    )
  }
  if (single_chunk(s)) {
    x <- if (normalize) znorm_input(s$x) else s$x
    return(windows_of(model, x, periods, row, input_channels, joint))
  }
  chunked_windows(model, s, periods, row, input_channels, joint, normalize)[[1]]
}

# Windows of one layer from an already normalised input array: of all its
# periods inside the series, or of the period rows `idx`.
windows_of <- function(model, x, periods, row, input_channels = NULL, joint = FALSE,
                       idx = NULL) {
  ip <- model$interp[row, ]
  input_channels <- check_input_channels(input_channels, model$input_dim[1])
  check_period_samples(periods, dim(x)[1])
  if (is.null(idx)) idx <- which(periods$layer == ip$name & periods$inside)
  cut_windows(x, periods$sample[idx], periods$start[idx], ip$size, input_channels, joint, idx)
}

check_input_channels <- function(input_channels, C) {
  if (is.null(input_channels)) input_channels <- seq_len(C)
  if (!is.numeric(input_channels) || anyNA(input_channels) ||
    any(input_channels != round(input_channels)) || any(input_channels < 1) ||
    any(input_channels > C) || anyDuplicated(input_channels)) {
    cli::cli_abort("{.arg input_channels} must be distinct whole numbers between 1 and {C}.", call = NULL)
  }
  input_channels
}

check_period_samples <- function(periods, n) {
  if (nrow(periods) > 0L && max(periods$sample) > n) {
    cli::cli_abort("{.arg periods} refers to sample {max(periods$sample)} but {.arg x} has {n}.",
      call = NULL
    )
  }
}

# The windows (of `len` points from `start`) of the periods in samples
# `sample` of x: one matrix per input channel, or one "joint" matrix; the
# attribute `period` of each is `period`.
cut_windows <- function(x, sample, start, len, input_channels, joint, period) {
  d <- as.integer(series_dims(x))
  cut <- function(ch) {
    w <- .Call(
      cp_windows_r, x, d, as.integer(sample), as.integer(start), as.integer(len),
      as.integer(ch), cphap_threads()
    )
    attr(w, "period") <- period
    w
  }
  if (joint) {
    return(list(joint = cut(input_channels)))
  }
  out <- lapply(input_channels, cut)
  names(out) <- paste0("ch", input_channels)
  out
}

# The windows of the layers `rows` (a list per layer, as windows_of() gives
# them) over the chunks of the sample source `s`: each chunk cuts the
# windows of its own periods; rows come back in the order of `periods`.
chunked_windows <- function(model, s, periods, rows, input_channels, joint, normalize) {
  C <- model$input_dim[1]
  input_channels <- check_input_channels(input_channels, C)
  n <- if (s$kind == "memory") s$n else sum(source_sizes(s))
  check_period_samples(periods, n)
  names <- model$interp$name[rows]
  idx <- which(as.character(periods$layer) %in% names & periods$inside)
  chunks <- if (length(idx)) chunk_list(s, sort(unique(periods$sample[idx]))) else list()
  chunks <- lapply(chunks, function(ch) {
    sel <- idx[periods$sample[idx] %in% ch$samples]
    ch$win <- list(
      period = sel, sample = match(periods$sample[sel], ch$samples),
      start = periods$start[sel], layer = as.character(periods$layer[sel])
    )
    ch
  })
  res <- map_sample_chunks(s, chunks, windows_chunk,
    sizes = model$interp$size[rows], names = names, input_channels = input_channels,
    joint = joint, normalize = normalize, model = model, label = "Windows"
  )$values
  empty <- array(0, c(0L, C, model$input_dim[2]))
  lapply(seq_along(rows), function(q) {
    if (length(res) == 0L) {
      return(cut_windows(empty, integer(), integer(), model$interp$size[rows[q]],
        input_channels, joint, integer()))
    }
    sets <- lapply(res, `[[`, q)
    out <- lapply(seq_along(sets[[1]]), function(b) {
      period <- unlist(lapply(sets, function(w) attr(w[[b]], "period")), use.names = FALSE)
      w <- do.call(rbind, lapply(sets, `[[`, b))
      o <- order(period)
      w <- w[o, , drop = FALSE]
      attr(w, "period") <- period[o]
      w
    })
    names(out) <- names(sets[[1]])
    out
  })
}

# Worker side: the windows of the chunk's periods, per layer.
windows_chunk <- function(x, chunk, model, sizes, names, input_channels, joint, normalize) {
  if (normalize) x <- znorm_input(x)
  win <- chunk$win
  lapply(seq_along(names), function(q) {
    sel <- which(win$layer == names[q])
    cut_windows(x, win$sample[sel], win$start[sel], sizes[q], input_channels, joint,
      win$period[sel])
  })
}
