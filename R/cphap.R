# One call for the pattern framework (DESIGN 1.2-1.5): thresholds, highly
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
#' 4. [cluster_windows()]: clustering of each window set into `k` patterns
#'    (k-means by default),
#'    with the per-time mean and sd of every cluster and, per window, the
#'    normalised entropy of its soft assignment and its distance ratio;
#' 5. the unit x pattern counts: how often each unit's periods fall into
#'    each cluster.
#'
#' @param model A [cphap_model()].
#' @param reference Reference series for the thresholds (the training data).
#' @param x Series whose periods are clustered (default: `reference`).
#' @param layers Names or positions of interpretable layers; `NULL` for all.
#' @param alpha Share of activations above the threshold, in (0, 1).
#' @param k Number of clusters per window set, at least 1 and at most the
#'   number of windows of every set (not used by `"som"`, whose number of
#'   clusters is the number of map units, `som_dim` in `...`).
#' @param method Clustering method of [cluster_windows()]: `"kmeans"`
#'   (default), `"kshape"` or `"som"`.
#' @param joint Cluster multivariate windows jointly (all input channels in
#'   one window) instead of per input channel.
#' @param normalize Cut windows from z-normalised series (DESIGN 1.4).
#' @param ... Passed to [cluster_windows()] (for example `n_start`,
#'   `som_dim`).
#' @return An object of class `cphap_result`, a list with
#' * `thresholds`: a `cphap_thresholds` data frame;
#' * `periods`: a `cphap_periods` data frame (all highly activated nodes);
#' * `sets`: one row per clustered window set: `set`, `layer`,
#'   `input_channel` (`NA` when joint), `n_windows`, `window_length`;
#' * `clusters`: a named list (by `set`) of `cphap_clusters` objects (see
#'   [cluster_windows()]);
#' * `patterns`: per set, cluster and time point: `set`, `layer`,
#'   `input_channel`, `cluster`, `time`, `mean`, `sd`, `size`, `share`;
#' * `assignments`: per clustered period: `set`, `period` (row of
#'   `periods`), `sample`, `layer`, `channel`, `position`, `start`, `end`,
#'   `input_channel`, `cluster`, `entropy`, `distance_ratio`;
#' * `unit_pattern`: `set`, `layer`, `input_channel`, `channel`, `cluster`,
#'   `count`, `share` (of the unit's clustered periods);
#' * `x`: the series the windows were cut from (`[n, C, L]`, z-normalised
#'   when `normalize`), `model` and `settings`.
#' @references Cho, S., Lee, G., Chang, W. and Choi, J. (2020). Interpreting
#'   deep temporal neural networks by selective visualization of internally
#'   activated nodes. arXiv:2004.12538.
#' @seealso [explain_sample()], [autoplot.cphap_result()], [unit_pattern_matrix()]
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' x <- matrix(rnorm(30 * 64), 30, 64)
#' res <- cphap(m, x, layers = "conv1", k = 3)
#' res
#' head(as.data.frame(res, "patterns"))
#' @export
cphap <- function(model, reference, x = reference, layers = NULL, alpha = 0.05, k = 12,
                  method = "kmeans", joint = FALSE, normalize = TRUE, ...) {
  model <- check_model(model)
  check_alpha(alpha)
  check_whole(k, "k", min = 1)
  k <- as.integer(k)
  check_flag(joint, "joint")
  check_flag(normalize, "normalize")
  if (!is.character(method) || length(method) != 1L ||
    !method %in% c("kmeans", "kshape", "som")) {
    cli::cli_abort("{.arg method} must be one of {.val {c('kmeans', 'kshape', 'som')}}, not {.val {format_value(method)}}.",
      call = NULL
    )
  }
  ref <- as_input(reference, model, "reference")
  xa <- as_input(x, model, "x")
  rows <- resolve_layers(model, layers)
  ip <- model$interp[rows, , drop = FALSE]
  th <- thresholds(model, ref, rows, alpha)
  per <- activated_periods(model, xa, th, rows)
  xw <- if (normalize) znorm_input(xa) else xa
  C <- model$input_dim[1]
  sets <- list()
  clusters <- list()
  pats <- list()
  asg <- list()
  for (q in seq_len(nrow(ip))) {
    ws <- windows_of(model, xw, per, rows[q], NULL, joint)
    for (b in seq_along(ws)) {
      w <- ws[[b]]
      ich <- if (joint) NA_integer_ else as.integer(b)
      set <- if (joint) paste0(ip$name[q], ":joint") else if (C > 1L) paste0(ip$name[q], ":ch", b) else ip$name[q]
      nw <- nrow(w)
      sets[[set]] <- data.frame(
        set = set, layer = ip$name[q], input_channel = ich, n_windows = nw,
        window_length = ncol(w)
      )
      if (nw == 0L) {
        cli::cli_inform("Layer {.val {ip$name[q]}}: no highly activated period inside the series; nothing to cluster.")
        next
      }
      if (k > nw && method != "som") {
        cli::cli_abort("{.arg k} = {k} is more than the {nw} window{?s} of layer {.val {ip$name[q]}}; choose {.arg k} <= {nw}.",
          call = NULL
        )
      }
      cl <- run_clustering(w, k, method, ...)
      clusters[[set]] <- cl
      pats[[set]] <- pattern_table(cl, set, ip$name[q], ich, joint, C, ip$size[q])
      pidx <- attr(w, "period")
      asg[[set]] <- data.frame(
        set = set, period = pidx, sample = per$sample[pidx], layer = per$layer[pidx],
        channel = per$channel[pidx], position = per$position[pidx],
        start = per$start[pidx], end = per$end[pidx], input_channel = ich,
        cluster = as.integer(cl$cluster), entropy = cl$entropy,
        distance_ratio = cl$distance_ratio
      )
    }
  }
  lv <- model$interp$name
  sets <- if (length(sets)) do.call(rbind, unname(sets)) else
    data.frame(set = character(), layer = character(), input_channel = integer(),
               n_windows = integer(), window_length = integer())
  sets$layer <- factor(sets$layer, levels = lv)
  rownames(sets) <- NULL
  patterns <- bind_or_empty(pats, empty_patterns(lv))
  assignments <- bind_or_empty(asg, empty_assignments(lv))
  up <- unit_pattern_table(assignments, clusters, lv)
  structure(
    list(
      thresholds = th, periods = per, sets = sets, clusters = clusters,
      patterns = patterns, assignments = assignments, unit_pattern = up,
      x = xw, model = model,
      settings = list(
        alpha = alpha, k = k, method = method, joint = joint, normalize = normalize,
        layers = ip$name, n_reference = dim(ref)[1], n_x = dim(xa)[1]
      )
    ),
    class = "cphap_result"
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
    sd = double(), size = integer(), share = double()
  )
}

empty_assignments <- function(levels) {
  data.frame(
    set = character(), period = integer(), sample = integer(),
    layer = factor(character(), levels = levels), channel = integer(),
    position = integer(), start = integer(), end = integer(), input_channel = integer(),
    cluster = integer(), entropy = double(), distance_ratio = double()
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
    share = rep(cl$size / tot, times = m)
  )
}

unit_pattern_table <- function(assignments, clusters, levels) {
  if (nrow(assignments) == 0L) {
    return(data.frame(
      set = character(), layer = factor(character(), levels = levels),
      input_channel = integer(), channel = integer(), cluster = integer(),
      count = integer(), share = double()
    ))
  }
  parts <- lapply(split(assignments, factor(assignments$set, levels = unique(assignments$set))), function(a) {
    k <- clusters[[a$set[1]]]$k %||% nrow(clusters[[a$set[1]]]$mean)
    units <- sort(unique(a$channel))
    tab <- table(factor(a$channel, levels = units), factor(a$cluster, levels = seq_len(k)))
    tot <- rowSums(tab)
    data.frame(
      set = a$set[1], layer = a$layer[1], input_channel = a$input_channel[1],
      channel = rep(units, times = k), cluster = rep(seq_len(k), each = length(units)),
      count = as.integer(tab), share = as.vector(tab / tot)
    )
  })
  out <- do.call(rbind, unname(parts))
  out$layer <- factor(as.character(out$layer), levels = levels)
  rownames(out) <- NULL
  out
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
#'   of counts.
#' @return A matrix with one row per unit that has clustered periods and one
#'   column per cluster.
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' x <- matrix(rnorm(30 * 64), 30, 64)
#' res <- cphap(m, x, layers = "conv1", k = 3)
#' unit_pattern_matrix(res)
#' @export
unit_pattern_matrix <- function(result, layer = NULL, input_channel = NULL, share = FALSE) {
  check_result(result)
  check_flag(share, "share")
  s <- find_set(result, layer, input_channel)
  up <- result$unit_pattern[result$unit_pattern$set == s$set, ]
  units <- sort(unique(up$channel))
  k <- max(up$cluster)
  mat <- matrix(0, length(units), k, dimnames = list(unit = units, cluster = seq_len(k)))
  mat[cbind(match(up$channel, units), up$cluster)] <- if (share) up$share else up$count
  mat
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
      cbind(mean_entropy = a$entropy, share_ratio_above_2 = a$ratio_above_2) ~ set + cluster,
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
    cat(cli::rule("Clusters: mean entropy, share of distance ratios > 2, size"), "\n", sep = "")
    print(x$clusters, row.names = FALSE, digits = 3)
  }
  invisible(x)
}

#' Data frames of a CPHAP result
#'
#' @param x A `cphap_result`.
#' @param row.names,optional Unused (for compatibility with the generic).
#' @param what Which table: `"assignments"` (default: one row per clustered
#'   period with its cluster and uncertainty), `"periods"`, `"patterns"`,
#'   `"unit_pattern"`, `"thresholds"` or `"sets"`.
#' @param ... Unused.
#' @return A data frame (see [cphap()] for the columns).
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' x <- matrix(rnorm(30 * 64), 30, 64)
#' res <- cphap(m, x, layers = "conv1", k = 3)
#' head(as.data.frame(res))
#' head(as.data.frame(res, what = "unit_pattern"))
#' @export
as.data.frame.cphap_result <- function(x, row.names = NULL, optional = FALSE,
                                       what = c("assignments", "periods", "patterns", "unit_pattern", "thresholds", "sets"),
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
#' patterns that [cphap()] found: the nearest cluster, the normalised
#' entropy of the soft assignment (0 = belongs to one pattern without doubt,
#' 1 = equally close to all) and the distance ratio (distance to the
#' cluster's centroid over the cluster's mean member distance; above 1 means
#' less typical than the average member). High values mean "this input is
#' unlike what the unit usually sees in the training data".
#'
#' @param result A `cphap_result` from [cphap()].
#' @param sample Index of the sample: in the series of `result` or, when
#'   `newdata` is given, in `newdata`.
#' @param layer,channel Layer (name or position) and channels (units) to
#'   explain; `NULL` for all clustered layers and all channels.
#' @param newdata Optional new series (for example test data) with the
#'   model's input shape; their periods are found with the thresholds of
#'   `result` and scored against its patterns.
#' @return A data frame of class `cphap_explanation`: `sample`, `layer`,
#'   `channel`, `position`, `activation`, `threshold`, `start`, `end`,
#'   `inside`, `input_channel`, `cluster`, `entropy`, `distance_ratio`
#'   (cluster columns `NA` for periods that reach outside the series). Use
#'   [autoplot()][autoplot.cphap_explanation] to draw it.
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' x <- matrix(rnorm(30 * 64), 30, 64)
#' res <- cphap(m, x, layers = "conv1", k = 3)
#' explain_sample(res, 1, "conv1", channel = 1:4)
#' explain_sample(res, 2, "conv1", newdata = matrix(rnorm(2 * 64), 2, 64))
#' @export
explain_sample <- function(result, sample, layer = NULL, channel = NULL, newdata = NULL) {
  check_result(result)
  model <- check_model(result$model, "result$model")
  clustered <- unique(as.character(result$sets$layer[result$sets$set %in% names(result$clusters)]))
  if (is.null(layer)) {
    rows <- match(clustered, model$interp$name)
  } else {
    rows <- resolve_layers(model, layer, "layer")
  }
  if (is.null(newdata)) {
    n <- dim(result$x)[1]
    check_whole(sample, "sample", min = 1, max = n)
    per <- result$periods
    sel <- per$sample == sample & as.character(per$layer) %in% model$interp$name[rows]
    if (!is.null(channel)) {
      check_channels(channel, model$interp$channels[rows])
      sel <- sel & per$channel %in% channel
    }
    idx <- which(sel)
    base <- per[idx, , drop = FALSE]
    class(base) <- "data.frame"
    series <- result$x[sample, , , drop = FALSE]
    a <- result$assignments
    a <- a[a$period %in% idx, c("period", "input_channel", "cluster", "entropy", "distance_ratio")]
    base$period <- idx
    out <- merge_explanation(base, a, result)
  } else {
    xn <- as_input(newdata, model, "newdata")
    check_whole(sample, "sample", min = 1, max = dim(xn)[1])
    xs <- xn[sample, , , drop = FALSE]
    miss <- setdiff(model$interp$name[rows], as.character(unique(result$thresholds$layer)))
    if (length(miss) > 0L) {
      cli::cli_abort("Layer{?s} {.val {miss}} {?has/have} no thresholds in {.arg result}.", call = NULL)
    }
    if (!is.null(channel)) check_channels(channel, model$interp$channels[rows])
    per <- suppressMessages(activated_periods(model, xs, result$thresholds, rows, channel))
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
          cluster = as.integer(s$cluster), entropy = s$entropy, distance_ratio = s$distance_ratio
        )
      }
    }
    a <- if (length(scored)) do.call(rbind, scored) else
      data.frame(period = integer(), input_channel = integer(), cluster = integer(),
                 entropy = double(), distance_ratio = double())
    out <- merge_explanation(base, a, result)
  }
  structure(out,
    class = c("cphap_explanation", "data.frame"),
    series = matrix(series, dim(series)[2], dim(series)[3],
      dimnames = list(dimnames(series)[[2]], NULL)
    ),
    patterns = result$patterns, sets = result$sets,
    newdata = !is.null(newdata)
  )
}


merge_explanation <- function(base, a, result) {
  cols <- c(
    "sample", "layer", "channel", "position", "activation", "threshold", "start", "end",
    "inside", "input_channel", "cluster", "entropy", "distance_ratio"
  )
  if (nrow(base) == 0L) {
    cli::cli_inform("No highly activated nodes for this sample in the requested units.")
    out <- empty_periods(result$model$interp$name)
    out$input_channel <- integer()
    out$cluster <- integer()
    out$entropy <- double()
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
  cat_line("{.cls cphap_explanation}: sample {x$sample[1]}, {length(unique(paste(x$layer, x$channel, x$position)))} highly activated node{?s}")
  y <- x
  class(y) <- "data.frame"
  for (a in c("series", "patterns", "sets", "newdata")) attr(y, a) <- NULL
  print(utils::head(y, 20L), row.names = FALSE, digits = 3)
  if (nrow(x) > 20L) cat_line("# ... {nrow(x) - 20L} more row{?s}")
  invisible(x)
}
