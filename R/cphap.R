# One call for the pattern framework: thresholds, highly
# activated periods, clusters of their windows, patterns, unit x pattern
# counts; and the explanation of one sample against the patterns.

#' Clustered patterns of highly activated periods (CPHAP)
#'
#' Runs the pattern framework of Cho et al. (2020) end to end:
#' 1. [thresholds()]: per unit (layer, channel), the `1 - alpha` quantile of
#'    its activations over `reference`;
#' 2. [activated_periods()]: the nodes of `x` above their unit's threshold
#'    and the input periods they see;
#' 3. [period_windows()]: the windows of those periods (inside the series),
#'    cut from z-normalised series, per layer and input channel (or jointly);
#'    periods of several units at the same sample and node position cut the
#'    same window, which is kept once with a weight equal to the number of
#'    its firing units (as the original authors did);
#' 4. [cluster_windows()]: weighted clustering of each set of distinct
#'    windows into `k` patterns (k-means by default; see its section
#'    Weights),
#'    with the per-time mean and sd of every cluster and, per window, its
#'    ambiguity between patterns, its atypicality within its pattern and
#'    its distance ratio;
#' 5. the unit x pattern counts: how often each unit's periods fall into
#'    each cluster.
#'
#' @param model A [cphap_model()].
#' @param reference Reference series for the thresholds (the training data),
#'   in memory or read chunk by chunk (a [series_chunks()] object or file
#'   paths).
#' @param x Series whose periods are clustered (default: `reference`), in
#'   memory or read chunk by chunk; the result then holds no series (its
#'   `x` is `NULL`).
#' @param layers Names or positions of interpretable layers; `NULL` for all.
#' @param alpha Share of activations above the threshold, in (0, 1).
#' @param k Number of clusters per window set, at least 1 and at most the
#'   number of distinct windows of every set (not used by `"som"`, whose number of
#'   clusters is the number of map units, `som_dim` in `...`), or `"auto"`:
#'   per set, the `k` in 2 to 15 with the largest mean silhouette width
#'   ([suggest_k()] on the distinct windows; the candidates stop below their
#'   number). That clusters every set 14 times (with `n_start` and
#'   `max_iter` from `...`): about 10 s instead of 1 s for two layers of
#'   [demo_model()] on GunPoint.
#' @param method Clustering method of [cluster_windows()]: `"kmeans"`
#'   (default), `"kshape"` or `"som"`.
#' @param joint Cluster multivariate windows jointly (all input channels in
#'   one window) instead of per input channel.
#' @param normalize Cut windows from z-normalised series.
#' @param progress Show a progress bar over the clustered window sets
#'   when the run lasts more than 2 seconds (as with `k = "auto"`).
#' @param ... Passed to [cluster_windows()] (for example `n_start`,
#'   `som_dim`, or `window_chunk_size` to run k-means over the workers of
#'   a future plan).
#' @param chunk_size Samples per chunk for work on a future plan, or `NULL`
#'   (one chunk without a plan, else about four per worker); see the
#'   section Parallel and chunked work. Series read chunk by chunk
#'   ([series_chunks()]) keep their own chunks.
#' @return An object of class `cphap_result`, a list with
#' * `thresholds`: a `cphap_thresholds` data frame;
#' * `periods`: a `cphap_periods` data frame (all highly activated nodes);
#' * `sets`: one row per clustered window set: `set`, `layer`,
#'   `input_channel` (`NA` when joint), `n_windows` (periods inside the
#'   series, one per firing unit), `n_distinct` (distinct windows, one per
#'   sample and node position: what is clustered), `window_length`, `k`
#'   (the number of clusters; `NA` without windows);
#' * `clusters`: a named list (by `set`) of `cphap_clusters` objects (see
#'   [cluster_windows()]);
#' * `patterns`: per set, cluster and time point: `set`, `layer`,
#'   `input_channel`, `cluster`, `time`, `mean`, `sd` (weighted), `size`
#'   (distinct windows), `weighted_size` (their firing units), `share`
#'   (of the set's distinct windows);
#' * `windows`: per distinct clustered window: `set`, `window`, `sample`,
#'   `layer`, `position`, `start`, `end`, `input_channel`, `weight` (number
#'   of firing units), `channels` (list: the firing units), `cluster`;
#' * `assignments`: per clustered period: `set`, `period` (row of
#'   `periods`), `window` (row of that set in `windows`), `sample`, `layer`,
#'   `channel`, `position`, `start`, `end`,
#'   `input_channel`, `cluster`, `ambiguity`, `atypicality`,
#'   `distance_ratio` (those of its window; see [cluster_windows()]);
#' * `unit_pattern`: `set`, `layer`, `input_channel`, `channel`, `cluster`,
#'   `count` (the unit's windows in the pattern, from the windows' channel
#'   lists), `share` (of the unit's clustered windows), and the original
#'   work's association: `associated` (`TRUE` when the unit's share is above
#'   the 90th percentile, type 7, of the shares of all units in that
#'   pattern), `iou` (intersection over union of the unit's windows and the
#'   pattern's: count / (unit's windows + pattern's windows - count)) and
#'   `iou_rank` (the unit's rank in the pattern by decreasing `iou`, 1 =
#'   highest);
#' * `x`: the series the windows were cut from (`[n, C, L]`, z-normalised
#'   when `normalize`), `model` and `settings` (with `sample_ids`, the row
#'   names of `x` or else its indices, and `data_name`, the name of `x`
#'   when it is a variable or a `$` chain, used in plot titles);
#' * `k_choice`: with `k = "auto"`, the silhouette of every candidate `k`
#'   per set (see [suggest_k()]), else `NULL`.
#' @section Differences from the original work:
#' * Windows: each distinct window (sample and node position) of a layer is
#'   clustered once with a weight equal to the number of its firing units,
#'   as in the original work.
#' * Clustering: weighted k-means with `k = 12` by default, k-means++
#'   seeding and the best of `n_start = 10` restarts; after the Lloyd
#'   iterations, Hartigan moves and centroid swaps are tried and kept only
#'   when they lower the objective (on large problems only the best
#'   restart gets the moves; see
#'   the section Methods of [cluster_windows()]).
#' * Uncertainty: the original work reported one entropy per pattern, from
#'   Gaussian-mixture sub-clusters inside it; it is available with
#'   [pattern_entropy()]. Every window here gets instead its `ambiguity`
#'   between patterns (posterior entropy under a mixture with one pooled
#'   diagonal covariance) and its `atypicality` within its pattern, with
#'   the `distance_ratio`.
#' * Periods that reach outside the series (with padding) are kept in
#'   `periods` with `inside = FALSE` and left out of the clustering.
#'
#' @references Cho, S., Lee, G., Chang, W. and Choi, J. (2020). Interpreting
#'   deep temporal neural networks by selective visualization of internally
#'   activated nodes. arXiv:2004.12538.
#' @inheritSection cphap_parallel Parallel and chunked work
#' @seealso [explain_sample()], [autoplot.cphap_result()], [unit_pattern_matrix()],
#'   [cphap_parallel]
#' @examples
#' # a CNN of the paper's design trained on GunPoint; patterns of its second block
#' model <- demo_model()
#' res <- cphap(model, gunpoint$train, layers = "conv2", k = 4)
#' res
#' head(as.data.frame(res, "patterns"))
#' # or let the silhouette choose k per layer
#' cphap(model, gunpoint$train, layers = "conv1", k = "auto", n_start = 3)$sets
#' @export
cphap <- function(model, reference, x = reference, layers = NULL, alpha = 0.05, k = 12,
                  method = "kmeans", joint = FALSE, normalize = TRUE, progress = TRUE,
                  chunk_size = NULL, ...) {
  model <- check_model(model)
  check_flag(progress, "progress")
  check_alpha(alpha)
  check_flag(joint, "joint")
  check_flag(normalize, "normalize")
  if (!is.character(method) || length(method) != 1L ||
    !method %in% c("kmeans", "kshape", "som")) {
    cli::cli_abort("{.arg method} must be one of {.val {c('kmeans', 'kshape', 'som')}}, not {.val {format_value(method)}}.",
      call = NULL
    )
  }
  k_auto <- identical(k, "auto")
  if (k_auto && method == "som") {
    cli::cli_abort("{.code k = \"auto\"} needs {.code method = \"kmeans\"} or {.val kshape}; the map's size sets the clusters of {.val som}.",
      call = NULL
    )
  }
  if (!k_auto) {
    if (is.character(k)) {
      cli::cli_abort("{.arg k} must be a whole number or {.val auto}, not {.val {format_value(k)}}.", call = NULL)
    }
    check_whole(k, "k", min = 1)
    k <- as.integer(k)
  }
  k_choice <- list()
  x_expr <- if (missing(x)) substitute(reference) else substitute(x)
  # file paths become one series_chunks object (before `x` is forced, which
  # may be `reference`), so that the chunk sizes are learnt once
  if (is_chunk_source(reference)) reference <- as_series_chunks(reference)
  ref <- if (is_chunk_source(reference)) reference else as_input(reference, model, "reference")
  x_chunks <- is_chunk_source(x)
  xa <- if (x_chunks) as_series_chunks(x) else as_input(x, model, "x")
  rows <- resolve_layers(model, layers)
  ip <- model$interp[rows, , drop = FALSE]
  th <- thresholds(model, ref, rows, alpha, chunk_size = chunk_size)
  per <- activated_periods(model, xa, th, rows, chunk_size = chunk_size)
  if (x_chunks) {
    # the windows are cut where the chunks are loaded; the result holds no series
    xs <- sample_source(xa, model, "x")
    win <- chunked_windows(model, xs, per, rows, NULL, joint, normalize)
    xw <- NULL
    n_x <- sum(source_sizes(xs))
    id <- list(ids = as.character(seq_len(n_x)), name = data_name(x_expr))
  } else {
    id <- series_identity(x_expr, xa, parent.frame())
    xw <- if (normalize) znorm_input(xa) else xa
    n_x <- dim(xa)[1]
  }
  C <- model$input_dim[1]
  bar <- progress_start(progress, "Clustering", nrow(ip) * (if (joint) 1L else C))
  sets <- list()
  clusters <- list()
  pats <- list()
  asg <- list()
  wins <- list()
  for (q in seq_len(nrow(ip))) {
    # only the distinct windows are cut (one per sample and node position)
    pidx <- which(per$layer == ip$name[q] & per$inside)
    dw <- distinct_windows(per, pidx)
    nw <- length(pidx)
    nd <- length(dw$first)
    ws <- if (x_chunks) {
      # cut per chunk, one row per period inside the series (rows in pidx order)
      lapply(win[[q]], function(w) w[dw$first, , drop = FALSE])
    } else {
      windows_of(model, xw, per, rows[q], NULL, joint, idx = pidx[dw$first])
    }
    for (b in seq_along(ws)) {
      w <- ws[[b]]
      ich <- if (joint) NA_integer_ else as.integer(b)
      set <- set_name(ip$name[q], b, C, joint)
      sets[[set]] <- data.frame(
        set = set, layer = ip$name[q], input_channel = ich, n_windows = nw,
        n_distinct = nd, window_length = ncol(w), k = NA_integer_
      )
      if (nw == 0L) {
        cli::cli_inform("Layer {.val {ip$name[q]}}: no highly activated period inside the series; nothing to cluster.")
        progress_tick(bar)
        next
      }
      kk <- k
      if (k_auto) {
        choice <- auto_k(w, method, list(...))
        kk <- attr(choice, "best_k")
        if (nrow(choice) > 0L) k_choice[[set]] <- cbind(set = set, choice)
      }
      if (kk > nd && method != "som") {
        cli::cli_abort("{.arg k} = {kk} is more than the {nd} distinct window{?s} of layer {.val {ip$name[q]}}; choose {.arg k} <= {nd}.",
          call = NULL
        )
      }
      cl <- run_clustering(w, kk, method, ...,
                           weights = dw$weight)
      sets[[set]]$k <- as.integer(cl$k %||% kk)
      clusters[[set]] <- cl
      pats[[set]] <- pattern_table(cl, set, ip$name[q], ich, joint, C, ip$size[q])
      g <- dw$window
      wins[[set]] <- data.frame(
        set = set, window = seq_len(nd), sample = per$sample[pidx[dw$first]],
        layer = per$layer[pidx[dw$first]], position = per$position[pidx[dw$first]],
        start = per$start[pidx[dw$first]], end = per$end[pidx[dw$first]],
        input_channel = ich, weight = dw$weight,
        channels = I(unname(split(per$channel[pidx], factor(g, levels = seq_len(nd))))),
        cluster = as.integer(cl$cluster)
      )
      asg[[set]] <- data.frame(
        set = set, period = pidx, window = g, sample = per$sample[pidx],
        layer = per$layer[pidx],
        channel = per$channel[pidx], position = per$position[pidx],
        start = per$start[pidx], end = per$end[pidx], input_channel = ich,
        cluster = as.integer(cl$cluster)[g], ambiguity = cl$ambiguity[g],
        atypicality = cl$atypicality[g], distance_ratio = cl$distance_ratio[g]
      )
      progress_tick(bar)
    }
    # the layer's windows can go before the next layer's are cut
    ws <- w <- NULL
  }
  progress_end(bar)
  lv <- model$interp$name
  sets <- if (length(sets)) do.call(rbind, unname(sets)) else
    data.frame(set = character(), layer = character(), input_channel = integer(),
               n_windows = integer(), n_distinct = integer(), window_length = integer(),
               k = integer())
  sets$layer <- factor(sets$layer, levels = lv)
  rownames(sets) <- NULL
  patterns <- bind_or_empty(pats, empty_patterns(lv))
  assignments <- bind_or_empty(asg, empty_assignments(lv))
  windows <- bind_or_empty(wins, empty_windows(lv))
  up <- unit_pattern_table(assignments, clusters, lv)
  if (k_auto && nrow(sets) > 0L) {
    done <- !is.na(sets$k)
    cli::cli_inform("k chosen by the silhouette: {paste0(sets$set[done], ' ', sets$k[done])}.")
  }
  structure(
    list(
      thresholds = th, periods = per, sets = sets, clusters = clusters,
      patterns = patterns, assignments = assignments, windows = windows,
      unit_pattern = up,
      x = xw, model = model,
      settings = list(
        alpha = alpha, k = k, method = method, joint = joint, normalize = normalize,
        layers = ip$name, n_reference = attr(th, "n_reference"), n_x = n_x,
        sample_ids = id$ids, data_name = id$name
      ),
      k_choice = if (length(k_choice)) do.call(rbind, unname(k_choice))
    ),
    class = "cphap_result"
  )
}

# Name of the window set of a layer and input channel b.
set_name <- function(layer, b, C, joint) {
  if (joint) paste0(layer, ":joint") else if (C > 1L) paste0(layer, ":ch", b) else layer
}

# k = "auto": the silhouette's best k in 2 to min(15, windows - 1) (1 for
# fewer than 3 windows), with n_start and max_iter from cphap()'s `...`.
auto_k <- function(w, method, dots) {
  nw <- nrow(w)
  if (nw < 3L) {
    return(structure(data.frame(k = integer(), index = character(), value = double(), best = logical()),
      best_k = 1L
    ))
  }
  out <- suggest_k(w, 2:min(15L, nw - 1L), method = method,
    n_start = dots$n_start %||% 10, max_iter = dots$max_iter %||% 100
  )
  if (is.na(attr(out, "best_k"))) attr(out, "best_k") <- 1L
  out
}

# The distinct windows of the periods `pidx` of one layer: periods at the
# same sample and node position cut the same window, so each (sample,
# position) is one window whose weight is the number of its firing units.
# first: the first period of every distinct window (in period order);
# window: the distinct window of every period; weight: periods per window.
distinct_windows <- function(per, pidx) {
  pos <- per$position[pidx]
  key <- as.double(per$sample[pidx]) * (max(c(0L, pos)) + 1) + pos
  ukey <- unique(key)
  window <- match(key, ukey)
  list(first = match(ukey, key), window = window,
       weight = as.double(tabulate(window, length(ukey))))
}

empty_windows <- function(levels) {
  data.frame(
    set = character(), window = integer(), sample = integer(),
    layer = factor(character(), levels = levels), position = integer(),
    start = integer(), end = integer(), input_channel = integer(),
    weight = double(), channels = I(list()), cluster = integer()
  )
}

bind_or_empty <- function(parts, empty) {
  if (length(parts) == 0L) {
    return(empty)
  }
  out <- do.call(rbind, unname(parts))
  out$layer <- factor(as.character(out$layer), levels = levels(empty$layer))
  rownames(out) <- NULL
  out
}

empty_patterns <- function(levels) {
  data.frame(
    set = character(), layer = factor(character(), levels = levels),
    input_channel = integer(), cluster = integer(), time = integer(), mean = double(),
    sd = double(), size = integer(), weighted_size = double(), share = double()
  )
}

empty_assignments <- function(levels) {
  data.frame(
    set = character(), period = integer(), window = integer(), sample = integer(),
    layer = factor(character(), levels = levels), channel = integer(),
    position = integer(), start = integer(), end = integer(), input_channel = integer(),
    cluster = integer(), ambiguity = double(), atypicality = double(),
    distance_ratio = double()
  )
}

# Long table of cluster means and sds; joint windows are split into their
# input-channel blocks.
pattern_table <- function(cl, set, layer, ich, joint, C, size) {
  k <- nrow(cl$mean)
  m <- ncol(cl$mean)
  blocks <- if (joint) rep(seq_len(C), each = size) else rep(ich, m)
  time <- if (joint) rep(seq_len(size), C) else seq_len(m)
  tot <- sum(cl$size)
  data.frame(
    set = set, layer = layer,
    input_channel = rep(as.integer(blocks), each = k),
    cluster = rep(seq_len(k), times = m),
    time = rep(as.integer(time), each = k),
    mean = as.vector(cl$mean), sd = as.vector(cl$sd),
    size = rep(as.integer(cl$size), times = m),
    weighted_size = rep(as.double(cl$weighted_size), times = m),
    share = rep(cl$size / tot, times = m)
  )
}

unit_pattern_table <- function(assignments, clusters, levels) {
  if (nrow(assignments) == 0L) {
    return(data.frame(
      set = character(), layer = factor(character(), levels = levels),
      input_channel = integer(), channel = integer(), cluster = integer(),
      count = integer(), share = double(), associated = logical(),
      iou = double(), iou_rank = integer()
    ))
  }
  parts <- lapply(split(assignments, factor(assignments$set, levels = unique(assignments$set))), function(a) {
    cl <- clusters[[a$set[1]]]
    k <- cl$k
    units <- sort(unique(a$channel))
    tab <- table(factor(a$channel, levels = units), factor(a$cluster, levels = seq_len(k)))
    tot <- rowSums(tab)
    share <- tab / tot
    out <- data.frame(
      set = a$set[1], layer = a$layer[1], input_channel = a$input_channel[1],
      channel = rep(units, times = k), cluster = rep(seq_len(k), each = length(units)),
      count = as.integer(tab), share = as.vector(share)
    )
    cbind(out, unit_pattern_association(unclass(tab), cl$size))
  })
  out <- do.call(rbind, unname(parts))
  out$layer <- factor(as.character(out$layer), levels = levels)
  rownames(out) <- NULL
  out
}

# The original work's unit-pattern association for a units x patterns count
# table (each unit's windows are distinct, so a count is the size of the
# intersection of the unit's windows and the pattern's): associated when the
# unit's share exceeds the 90th percentile (type 7) of the pattern's column
# of shares; iou = count / (unit's windows + pattern's windows - count);
# iou_rank = rank of the unit within the pattern by decreasing iou (ties:
# lower unit first). Columns in the order of as.vector(tab).
unit_pattern_association <- function(tab, pattern_size) {
  share <- tab / rowSums(tab)
  q90 <- apply(share, 2, stats::quantile, probs = 0.9, names = FALSE, type = 7)
  associated <- share > rep(q90, each = nrow(share))
  union <- outer(rowSums(tab), pattern_size, "+") - tab
  iou <- ifelse(union > 0, tab / union, 0)
  rank <- apply(iou, 2, function(v) order(order(-v, seq_along(v))))
  data.frame(associated = as.vector(associated), iou = as.vector(iou),
             iou_rank = as.integer(rank))
}

# Find the set of a layer and input channel in a result.
find_set <- function(result, layer = NULL, input_channel = NULL) {
  sets <- result$sets[result$sets$n_windows > 0L & result$sets$set %in% names(result$clusters), ]
  if (nrow(sets) == 0L) {
    cli::cli_abort("The result has no clustered periods.", call = NULL)
  }
  if (is.null(layer)) {
    layer <- as.character(sets$layer[1])
  } else {
    row <- resolve_layers(result$model, layer, "layer")
    if (length(row) != 1L) cli::cli_abort("{.arg layer} must be a single layer.", call = NULL)
    layer <- result$model$interp$name[row]
  }
  s <- sets[as.character(sets$layer) == layer, ]
  if (nrow(s) == 0L) {
    cli::cli_abort("Layer {.val {layer}} has no clustered periods in this result (clustered: {.val {unique(as.character(sets$layer))}}).",
      call = NULL
    )
  }
  if (!is.null(input_channel) && !all(is.na(s$input_channel))) {
    check_whole(input_channel, "input_channel", min = 1, max = result$model$input_dim[1])
    s <- s[s$input_channel == input_channel, ]
    if (nrow(s) == 0L) {
      cli::cli_abort("Input channel {input_channel} of layer {.val {layer}} has no clustered periods.", call = NULL)
    }
  }
  s[1, ]
}

#' Unit x pattern matrix
#'
#' How often the highly activated periods of each unit (channel) of a layer
#' fall into each cluster (pattern) of that layer, so that one sees which
#' pattern each unit detects.
#'
#' @param result A `cphap_result` from [cphap()].
#' @param layer A layer (name or position); `NULL` for the first clustered
#'   layer.
#' @param input_channel The input channel whose clusters are counted
#'   (multivariate input clustered per channel); `NULL` for the first.
#' @param share Return shares of each unit's periods (rows sum to 1) instead
#'   of counts (the same as `value = "share"`).
#' @param value Which column of the unit x pattern table to return:
#'   `"count"`, `"share"`, `"associated"` (the original work's rule: the
#'   unit's share is above the 90th percentile of the pattern's column of
#'   shares), `"iou"` (intersection over union of the unit's windows and the
#'   pattern's) or `"iou_rank"` (1 = the unit with the highest `iou` in the
#'   pattern). `NULL`: `"share"` when `share` is `TRUE`, else `"count"`.
#' @return A matrix with one row per unit that has clustered periods and one
#'   column per cluster (logical for `"associated"`).
#' @examples
#' res <- cphap(demo_model(), gunpoint$train, layers = "conv2", k = 4)
#' head(unit_pattern_matrix(res))
#' head(unit_pattern_matrix(res, share = TRUE))
#' # the units associated with each pattern, and their ranking by IoU
#' head(unit_pattern_matrix(res, value = "associated"))
#' head(unit_pattern_matrix(res, value = "iou_rank"))
#' @export
unit_pattern_matrix <- function(result, layer = NULL, input_channel = NULL, share = FALSE,
                                value = NULL) {
  check_result(result)
  check_flag(share, "share")
  choices <- c("count", "share", "associated", "iou", "iou_rank")
  if (is.null(value)) value <- if (share) "share" else "count"
  if (!is.character(value) || length(value) != 1L || !value %in% choices) {
    cli::cli_abort("{.arg value} must be one of {.val {choices}}.", call = NULL)
  }
  s <- find_set(result, layer, input_channel)
  up <- result$unit_pattern[result$unit_pattern$set == s$set, ]
  units <- sort(unique(up$channel))
  k <- max(up$cluster)
  mat <- matrix(if (value == "associated") FALSE else 0, length(units), k,
                dimnames = list(unit = units, cluster = seq_len(k)))
  mat[cbind(match(up$channel, units), up$cluster)] <- up[[value]]
  mat
}

# The series of a result; a result of cphap() on series read chunk by chunk
# holds none.
result_series <- function(result) {
  if (is.null(result$x)) {
    cli::cli_abort(c("This {.cls cphap_result} holds no series: {.fn cphap} read {.arg x} chunk by chunk.",
      i = "Give the series as {.arg newdata} (for {.fn explain_sample}) or run {.fn cphap} on series in memory."
    ), call = NULL)
  }
  result$x
}

check_result <- function(result, arg = "result") {
  if (!inherits(result, "cphap_result")) {
    cli::cli_abort("{.arg {arg}} must be a {.cls cphap_result} from {.fn cphap}, not {.cls {class(result)}}.",
      call = NULL
    )
  }
  invisible(result)
}

#' @export
print.cphap_result <- function(x, ...) {
  s <- x$settings
  cat_line("{.cls cphap_result}: {s$n_x} sample{?s}, thresholds from {s$n_reference} reference sample{?s} (alpha = {s$alpha})")
  cat_line("Layers: {.val {s$layers}}; {nrow(x$periods)} highly activated node{?s}, {sum(x$periods$inside)} inside the series")
  cat_line("Clustering: {s$method}, k = {s$k}{if (s$joint) ', input channels jointly' else ''}")
  if (nrow(x$sets) > 0L) {
    print(x$sets, row.names = FALSE)
  }
  invisible(x)
}

#' @export
summary.cphap_result <- function(object, ...) {
  a <- object$assignments
  per_cluster <- if (nrow(a) > 0L) {
    a$ratio_above_2 <- a$distance_ratio > 2
    stats::aggregate(
      cbind(mean_ambiguity = a$ambiguity, mean_atypicality = a$atypicality,
            share_ratio_above_2 = a$ratio_above_2) ~ set + cluster,
      data = a, FUN = mean
    )
  } else {
    NULL
  }
  if (!is.null(per_cluster)) {
    sz <- stats::aggregate(period ~ set + cluster, data = a, FUN = length)
    per_cluster$size <- sz$period[match(paste(per_cluster$set, per_cluster$cluster), paste(sz$set, sz$cluster))]
    per_cluster <- per_cluster[order(match(per_cluster$set, object$sets$set), per_cluster$cluster), ]
    rownames(per_cluster) <- NULL
  }
  th <- object$thresholds
  units <- stats::aggregate(threshold ~ layer, data = as.data.frame(unclass_df(th)), FUN = function(v) sum(v <= 0))
  names(units)[2] <- "units_threshold_le_0"
  structure(list(
    settings = object$settings, sets = object$sets, clusters = per_cluster,
    dead_units = units, n_periods = nrow(object$periods)
  ), class = "summary.cphap_result")
}

#' @export
print.summary.cphap_result <- function(x, ...) {
  cat(cli::rule("CPHAP"), "\n", sep = "")
  cat_line("alpha = {x$settings$alpha}, k = {x$settings$k}, method = {x$settings$method}; {x$n_periods} highly activated node{?s}")
  cat(cli::rule("Units with threshold <= 0"), "\n", sep = "")
  print(x$dead_units, row.names = FALSE)
  cat(cli::rule("Window sets"), "\n", sep = "")
  print(x$sets, row.names = FALSE)
  if (!is.null(x$clusters)) {
    cat(cli::rule("Clusters: mean ambiguity, mean atypicality, share of distance ratios > 2, size"), "\n", sep = "")
    print(x$clusters, row.names = FALSE, digits = 3)
  }
  invisible(x)
}

#' Data frames of a CPHAP result
#'
#' @param x A `cphap_result`.
#' @param row.names,optional Unused (for compatibility with the generic).
#' @param what Which table: `"assignments"` (default: one row per clustered
#'   period with its cluster and uncertainty), `"periods"`, `"patterns"`, `"windows"`,
#'   `"unit_pattern"`, `"thresholds"` or `"sets"`.
#' @param ... Unused.
#' @return A data frame (see [cphap()] for the columns).
#' @examples
#' res <- cphap(demo_model(), gunpoint$train, layers = "conv2", k = 4)
#' head(as.data.frame(res))
#' head(as.data.frame(res, what = "unit_pattern"))
#' @export
as.data.frame.cphap_result <- function(x, row.names = NULL, optional = FALSE,
                                       what = c("assignments", "periods", "patterns", "windows", "unit_pattern", "thresholds", "sets"),
                                       ...) {
  what <- match.arg(what)
  out <- x[[what]]
  if (what == "thresholds") out <- unclass_df(out)
  if (what == "periods") {
    class(out) <- "data.frame"
    attr(out, "series_length") <- NULL
  }
  out
}

#' Explain one sample against the training patterns
#'
#' For one sample, lists the highly activated nodes of the requested units
#' with their input periods and scores each period's window against the
#' patterns that [cphap()] found: the nearest cluster, the ambiguity
#' between patterns (0 = one pattern explains it, 1 = all patterns equally
#' likely), the atypicality within its pattern (the share of the pattern's
#' training windows that lie closer to its centre; near 1 = unlike anything
#' the pattern holds) and the distance ratio (distance to the cluster's
#' centroid over the cluster's mean member distance). See the section
#' "Uncertainty of belonging" of [cluster_windows()] for the formulas.
#'
#' @section Differences from the original work:
#' The original work described how well windows belong to a pattern by one
#' entropy per pattern ([pattern_entropy()]). Here every period of the
#' sample gets its own `ambiguity` (posterior entropy over the patterns
#' under a mixture with one pooled diagonal covariance), `atypicality` and
#' `distance_ratio`. Periods that reach outside the series get `NA` in the
#' cluster columns.
#'
#' @param result A `cphap_result` from [cphap()].
#' @param sample Indices of the samples: in the series of `result` or, when
#'   `newdata` is given, in `newdata`. Several samples give one table with
#'   all of them.
#' @param layer,channels Layers (names or positions) and channels (units) to
#'   explain; `NULL` for all clustered layers and all channels. A layer that
#'   [cphap()] did not cluster is an error.
#' @param channel Deprecated name of `channels`.
#' @param newdata Optional new series (for example test data) with the
#'   model's input shape; their periods are found with the thresholds of
#'   `result` and scored against its patterns.
#' @param progress Show a progress bar over the samples when the run lasts
#'   more than 2 seconds.
#' @inheritParams unit_relevance
#' @return A data frame of class `cphap_explanation`: `sample` (the index
#'   of the series; printed and plotted with its row name and data set, as
#'   "gunpoint$test series 19"), `layer`,
#'   `channel`, `position`, `activation`, `threshold`, `start`, `end`,
#'   `inside`, `input_channel`, `cluster`, `ambiguity`, `atypicality`,
#'   `distance_ratio`
#'   (cluster columns `NA` for periods that reach outside the series). Use
#'   [autoplot()][autoplot.cphap_explanation] to draw it. Its attribute
#'   `series` holds the samples' series (as clustered), an array
#'   `[samples, channels, length]`.
#' @examples
#' res <- cphap(demo_model(), gunpoint$train, layers = "conv2", k = 4)
#' explain_sample(res, 1, "conv2", channels = 1:4)
#' # several samples at once
#' e <- explain_sample(res, 1:3, "conv2", channels = 1:8)
#' table(e$sample, e$cluster)
#' # a test series, scored against the training patterns
#' explain_sample(res, 19, "conv2", newdata = gunpoint$test)
#' @export
explain_sample <- function(result, sample, layer = NULL, channels = NULL, newdata = NULL,
                           channel = NULL, progress = TRUE, chunk_size = NULL) {
  check_result(result)
  check_flag(progress, "progress")
  channels <- renamed_arg(channels, channel, "channels", "channel")
  model <- check_model(result$model, "result$model")
  clustered <- unique(as.character(result$sets$layer[result$sets$set %in% names(result$clusters)]))
  if (is.null(layer)) {
    rows <- match(clustered, model$interp$name)
  } else {
    rows <- resolve_layers(model, layer, "layer")
    not <- setdiff(model$interp$name[rows], clustered)
    if (length(not) > 0L) {
      cli::cli_abort(c(
        "Layer{?s} {.val {not}} {?was/were} not clustered in {.arg result}, so there are no patterns to explain {?it/them} with.",
        i = if (length(clustered)) "Clustered: {.val {clustered}}. Run {.code cphap(..., layers = )} with the layer{?s} you need." else "{.arg result} has no clustered layer."
      ), call = NULL)
    }
  }
  xn <- if (!is.null(newdata)) as_input(newdata, model, "newdata")
  id <- if (is.null(xn)) {
    list(ids = result$settings$sample_ids, name = result$settings$data_name)
  } else {
    series_identity(substitute(newdata), xn, parent.frame())
  }
  n <- if (is.null(xn)) dim(result_series(result))[1] else dim(xn)[1]
  sample <- check_whole_vector(sample, "sample", min = 1, max = n,
    max_what = if (is.null(xn)) "the number of series in the result" else "the number of series in newdata"
  )
  if (!is.null(channels)) check_channels(channels, model$interp$channels[rows], arg = "channels")
  size <- check_chunk_size(chunk_size, length(sample))
  chunks <- lapply(chunk_ranges(length(sample), size), function(i) {
    list(samples = sample[i], xn = if (!is.null(xn)) xn[sample[i], , , drop = FALSE])
  })
  # one bar in this process: the chunk's own, else one step per chunk
  inner <- progress && length(chunks) == 1L && !use_futures()
  parts <- unlist(map_chunks(chunks, explain_chunk,
    result = explain_part_of(result, !is.null(xn)), rows = rows, channels = channels,
    bar_on = inner, label = "Explaining", progress = progress && !inner
  ), recursive = FALSE)
  out <- do.call(rbind, lapply(parts, `[[`, "table"))
  rownames(out) <- NULL
  none <- sample[vapply(parts, function(p) nrow(p$table) == 0L, logical(1))]
  if (length(none) > 0L) {
    cli::cli_inform("No highly activated nodes in the requested units for sample{?s} {none}.")
  }
  series <- aperm(simplify2array(lapply(parts, `[[`, "series")), c(3, 1, 2))
  dimnames(series) <- list(sample = sample, dimnames(parts[[1]]$series)[[1]], NULL)
  out <- structure(out,
    class = c("cphap_explanation", "data.frame"),
    series = series, patterns = result$patterns, sets = result$sets,
    newdata = !is.null(newdata)
  )
  with_identity(out, id)
}

# What explaining samples needs of a result (sent to every chunk): the
# windows are never used, and samples of new data need neither the
# result's series nor their periods.
explain_part_of <- function(result, newdata) {
  drop <- c("windows", "unit_pattern", if (newdata) c("x", "periods", "assignments"))
  result[drop] <- NULL
  result
}

# The explanations of one chunk of samples (chunk$samples; chunk$xn their
# series when they come from new data).
explain_chunk <- function(chunk, result, rows, channels, bar_on) {
  bar <- progress_start(bar_on, "Explaining", length(chunk$samples))
  out <- lapply(seq_along(chunk$samples), function(i) {
    on.exit(progress_tick(bar))
    xs <- if (!is.null(chunk$xn)) chunk$xn[i, , , drop = FALSE]
    explain_one(result, chunk$samples[i], rows, channels, xs)
  })
  progress_end(bar)
  out
}

# The explanation of one sample: its table and its series [C, L] (as
# clustered: z-normalised when the result is). xs: the sample's series
# [1, C, L] when it comes from new data, else NULL (a series of result).
explain_one <- function(result, sample, rows, channel, xs) {
  model <- result$model
  if (is.null(xs)) {
    per <- result$periods
    sel <- per$sample == sample & as.character(per$layer) %in% model$interp$name[rows]
    if (!is.null(channel)) sel <- sel & per$channel %in% channel
    idx <- which(sel)
    base <- per[idx, , drop = FALSE]
    class(base) <- "data.frame"
    series <- result$x[sample, , , drop = FALSE]
    a <- result$assignments
    a <- a[a$period %in% idx, c("period", "input_channel", "cluster", "ambiguity",
                                "atypicality", "distance_ratio")]
    base$period <- idx
    out <- merge_explanation(base, a, result)
  } else {
    miss <- setdiff(model$interp$name[rows], as.character(unique(result$thresholds$layer)))
    if (length(miss) > 0L) {
      cli::cli_abort("Layer{?s} {.val {miss}} {?has/have} no thresholds in {.arg result}.", call = NULL)
    }
    per <- suppressMessages(in_this_process(
      activated_periods(model, xs, result$thresholds, rows, channel)
    ))
    per$sample <- rep(as.integer(sample), nrow(per))
    series <- if (result$settings$normalize) znorm_input(xs) else xs
    base <- per
    class(base) <- "data.frame"
    attr(base, "series_length") <- NULL
    base$period <- seq_len(nrow(base))
    scored <- list()
    for (q in rows) {
      lname <- model$interp$name[q]
      sets <- result$sets[as.character(result$sets$layer) == lname & result$sets$set %in% names(result$clusters), ]
      if (nrow(sets) == 0L) next
      per1 <- per
      per1$sample <- rep(1L, nrow(per1))
      ws <- windows_of(model, series, per1, q, NULL, result$settings$joint)
      for (b in seq_along(ws)) {
        w <- ws[[b]]
        srow <- if (result$settings$joint) sets[1, ] else sets[which(sets$input_channel == b), ]
        if (nrow(w) == 0L || nrow(srow) == 0L) next
        s <- score_windows(result$clusters[[srow$set[1]]], w)
        scored[[length(scored) + 1L]] <- data.frame(
          period = attr(w, "period"), input_channel = srow$input_channel[1],
          cluster = as.integer(s$cluster), ambiguity = s$ambiguity,
          atypicality = s$atypicality, distance_ratio = s$distance_ratio
        )
      }
    }
    a <- if (length(scored)) do.call(rbind, scored) else
      data.frame(period = integer(), input_channel = integer(), cluster = integer(),
                 ambiguity = double(), atypicality = double(), distance_ratio = double())
    out <- merge_explanation(base, a, result)
  }
  list(
    table = out,
    series = matrix(series, dim(series)[2], dim(series)[3], dimnames = list(dimnames(series)[[2]], NULL))
  )
}


merge_explanation <- function(base, a, result) {
  cols <- c(
    "sample", "layer", "channel", "position", "activation", "threshold", "start", "end",
    "inside", "input_channel", "cluster", "ambiguity", "atypicality", "distance_ratio"
  )
  if (nrow(base) == 0L) {
    out <- empty_periods(result$model$interp$name)
    out$input_channel <- integer()
    out$cluster <- integer()
    out$ambiguity <- double()
    out$atypicality <- double()
    out$distance_ratio <- double()
    return(out[, cols])
  }
  out <- merge(base, a, by = "period", all.x = TRUE, sort = FALSE)
  out <- out[order(out$period, out$input_channel), , drop = FALSE]
  out$layer <- factor(as.character(out$layer), levels = result$model$interp$name)
  rownames(out) <- NULL
  out[, cols]
}

#' @export
print.cphap_explanation <- function(x, ...) {
  smp <- as.integer(dimnames(attr(x, "series"))[[1]] %||% unique(x$sample))
  n_nodes <- length(unique(paste(x$sample, x$layer, x$channel, x$position)))
  what <- samples_phrase_of(x, smp)
  cat_line("{.cls cphap_explanation}: {what}, {n_nodes} highly activated node{?s}")
  y <- x
  class(y) <- "data.frame"
  for (a in c("series", "patterns", "sets", "newdata", "sample_ids", "data_name")) attr(y, a) <- NULL
  print(utils::head(y, 20L), row.names = FALSE, digits = 3)
  if (nrow(x) > 20L) cat_line("# ... {nrow(x) - 20L} more row{?s}")
  invisible(x)
}
