# Perturbation analysis: keep a set of input points,
# replace the rest, and measure how much of a unit's activation at its highly
# activated nodes survives.

#' Perturbation analysis of highly activated periods
#'
#' For each sample and unit (layer, channel) with highly activated nodes, keeps
#' only a set `P` of input time points (in every input channel) and replaces
#' the rest, then runs the network again and measures, at the unit's
#' originally highly activated nodes, the share of the activation that
#' survives and the share of nodes still above the threshold. Three choices of
#' `P` of equal size are compared:
#' * `"cphap"`: the points covered by the unit's highly activated periods
#'   (for other sizes, the points ranked by how many of those periods cover
#'   them, then by the strongest covering node);
#' * `"relevance"`: the points of highest relevance from the unit (LRP seeded
#'   at its highly activated nodes, summed over input channels, without
#'   dropout);
#' * `"random"`: points drawn at random.
#'
#' The CPHAP paper's claim is that keeping the CPHAP periods keeps the units
#' more active than keeping the top-relevance points. With `shares = NULL`
#' that comparison cannot fail for `"cphap"`: a node's activation depends
#' only on its receptive field, which is the period kept, so the unit's
#' activation survives whole unless the period reaches into padding. For a
#' test whose outcome is open, see [perturbation_curves()].
#'
#' @section Differences from the original work:
#' The original work's perturbation analysis compared the units' activation
#' when their highly activated periods or their top-relevance points are
#' kept. Here the `"relevance"` points come from LRP with the `"default"`
#' rules and without Monte-Carlo dropout. The comparison cannot fail for
#' `"cphap"` (see Description); [perturbation_curves()] adds deletion and
#' insertion curves of the class probability, which the original work did
#' not report.
#'
#' @param model A [cphap_model()].
#' @param x Series to perturb: a matrix `[n, L]`, an array `[n, C, L]` or a
#'   `cphap_data`.
#' @param thresholds A `cphap_thresholds` from [thresholds()] (computed on
#'   the training data) covering `layer`, or a `cphap_result` from [cphap()].
#' @param layer One interpretable layer (name or position).
#' @param channels Channels (units) of the layer; `NULL` for all.
#' @param samples Indices of the samples of `x` to use; `NULL` for all.
#' @param shares Kept shares of the series length to sweep, in (0, 1]; `NULL`
#'   keeps, for every unit, as many points as its periods cover.
#' @param fill What replaces the removed points: `"zero"`, `"mean"` (the
#'   series' mean per channel) or `"noise"` (normal noise with the series'
#'   mean and standard deviation per channel; reproducible under
#'   `set.seed()`).
#' @param methods Which sets `P` to compare.
#' @param rules Relevance rules for `"relevance"` (see [lrp_rules()]).
#' @param progress Show a progress bar (relevance per sample, then the
#'   perturbed series in chunks) when the run lasts more than 2 seconds:
#'   the whole GunPoint test set with layer `conv2` of [demo_model()] takes
#'   about 26 s of CPU time.
#' @param chunk_size Samples (with highly activated nodes) per chunk for
#'   work on a future plan, or `NULL` (one chunk without a plan, else about
#'   four per worker); see [cphap_parallel]. Random points and noise come
#'   from this R process's random number generator in the same order
#'   whatever the chunks, so results are `identical()` for every plan and
#'   chunk size under the same `set.seed()`.
#' @return A data frame of class `cphap_perturbation`, one row per sample,
#'   unit, method and size: `sample`, `layer`, `channel`, `method`, `share`
#'   (kept share of the series; for `shares = NULL` the unit's own period
#'   coverage), `n_kept` (kept time points), `n_nodes` (highly activated
#'   nodes), `activation_kept` (sum of the unit's activation at those nodes
#'   after perturbation over the sum before; `NA`, with a warning, when that
#'   ratio is not finite, as for inputs of extreme magnitude) and
#'   `active_share` (share of those nodes still above the threshold).
#'   Attributes `sample_ids` (row names of `x`, else indices) and
#'   `data_name` (the name of `x` when it is a variable or a `$` chain) say
#'   which series `sample` indexes.
#' @seealso [perturbation_curves()], [autoplot.cphap_perturbation()],
#'   [summary.cphap_perturbation()]
#' @examples
#' m <- demo_model()
#' thr <- thresholds(m, gunpoint$train, layers = "conv2")
#' p <- perturbation(m, gunpoint$test, thr, "conv2", channels = 1:4, samples = 1:5,
#'                   shares = c(0.2, 0.5))
#' summary(p)
#' @export
perturbation <- function(model, x, thresholds, layer, channels = NULL, samples = NULL,
                         shares = NULL, fill = c("zero", "mean", "noise"),
                         methods = c("cphap", "relevance", "random"), rules = "default",
                         progress = TRUE, chunk_size = NULL) {
  model <- check_model(model)
  check_flag(progress, "progress")
  thresholds <- as_thresholds(thresholds)
  expr <- substitute(x)
  x <- as_input(x, model)
  id <- series_identity(expr, x, parent.frame())
  fill <- match.arg(fill)
  methods <- unique(match.arg(methods, several.ok = TRUE))
  if (missing(layer) || length(layer) != 1L) {
    cli::cli_abort("{.arg layer} must be one interpretable layer.", call = NULL)
  }
  row <- resolve_layers(model, layer, "layer")
  ip <- model$interp[row, ]
  if (!is.null(shares)) {
    if (!is.numeric(shares) || length(shares) == 0L || anyNA(shares) ||
      any(shares <= 0 | shares > 1)) {
      cli::cli_abort("{.arg shares} must be numbers in (0, 1], or NULL.", call = NULL)
    }
    shares <- sort(unique(shares))
  }
  if (!is.null(samples)) {
    if (!is.numeric(samples) || anyNA(samples) || any(samples != round(samples)) ||
      any(samples < 1 | samples > dim(x)[1])) {
      cli::cli_abort("{.arg samples} must be indices between 1 and {dim(x)[1]}.", call = NULL)
    }
  }
  check_chunk_size(chunk_size, dim(x)[1])
  per <- suppressMessages(activated_periods(model, x, thresholds, layers = ip$name, channels = channels,
    samples = samples
  ))
  if (nrow(per) == 0L) {
    cli::cli_inform("No highly activated nodes in layer {.val {ip$name}}: nothing to perturb.")
    return(with_identity(new_perturbation(empty_perturbation(), ip$name, fill, is.null(shares)), id))
  }
  # units sample by sample, so that each chunk of samples is a run of the plan
  units <- unique(per[, c("sample", "channel")])
  units <- units[order(units$sample), , drop = FALSE]
  thr_vec <- layer_thresholds(thresholds, ip$name, ip$channels, "thresholds")
  L <- model$input_dim[2]
  smp <- unique(units$sample)
  use_rel <- "relevance" %in% methods
  # each sample's relevance drew two seed words from R's generator in
  # earlier versions; drawing them here keeps results under set.seed()
  if (use_rel) stats::runif(2L * length(smp))
  # random points and noise come from R's generator in the main process, in
  # plan order, so that they do not depend on the chunks or the plan
  plan <- perturbation_plan(per, units, methods, shares, L)
  plan_sample <- vapply(plan, function(p) p$sample, numeric(1))
  groups <- chunk_ranges(length(smp), check_chunk_size(chunk_size, length(smp)))
  chunks <- lapply(groups, function(g) {
    s <- smp[g]
    list(
      samples = s, x = x[s, , , drop = FALSE], plan = plan[plan_sample %in% s],
      per = per[per$sample %in% s, , drop = FALSE]
    )
  })
  if (fill == "noise" && use_futures()) chunks <- noise_states(chunks)
  # one bar in this process: the chunk's own, else one step per chunk
  inner <- progress && length(chunks) == 1L && !use_futures()
  parts <- map_chunks(chunks, perturbation_chunk,
    model = model, ip = ip, thr_vec = thr_vec, rules = as_rules(rules), fill = fill,
    use_rel = use_rel, bar_on = inner, label = "Perturbation", progress = progress && !inner
  )
  out <- new_perturbation(do.call(rbind, parts), ip$name, fill, is.null(shares))
  with_identity(out, id)
}

# Plan entries perturbed and measured in one step.
perturb_step <- 256L

# The perturbation of one chunk of samples (chunk$samples, their series
# chunk$x, their periods chunk$per and plan entries chunk$plan): relevance
# of each unit when asked for, then the perturbed series in steps, of which
# only the activations at the units' nodes are kept. With
# chunk$rng_state, noise is drawn from that state of R's generator (and
# the generator is left as it was).
perturbation_chunk <- function(chunk, model, ip, thr_vec, rules, fill, use_rel, bar_on) {
  plan <- chunk$plan
  n_rel <- if (use_rel) length(chunk$samples) else 0L
  bar <- progress_start(bar_on, "Perturbation", n_rel + ceiling(length(plan) / perturb_step))
  if (use_rel) {
    units <- unique(chunk$per[, c("sample", "channel")])
    rel <- unit_point_relevance(model, chunk$x, chunk$samples, ip, units, thr_vec, rules, bar)
    plan <- relevance_keeps(plan, rel, model$input_dim[2])
  }
  if (!is.null(chunk$rng_state)) {
    old <- get0(".Random.seed", envir = globalenv(), inherits = FALSE)
    assign(".Random.seed", chunk$rng_state, envir = globalenv())
    on.exit(restore_rng_state(old), add = TRUE)
  }
  parts <- lapply(split(seq_along(plan), (seq_along(plan) - 1L) %/% perturb_step), function(q) {
    pert <- perturb_inputs(chunk$x, plan[q], fill, chunk$samples)
    after <- forward_nodes(model, pert, ip$node)[[1]]
    progress_tick(bar)
    measure_perturbation(plan[q], after, chunk$per, thr_vec)
  })
  progress_end(bar)
  do.call(rbind, unname(parts))
}

# For noise drawn on workers: the state of R's generator at the start of
# each chunk's noise (chunk$rng_state), found by drawing the noise of the
# chunks before it here; the generator is left after all chunks' noise, as
# when the chunks run in this process.
noise_states <- function(chunks) {
  for (i in seq_along(chunks)) {
    # no seed yet: one from the clock, as the first draw would make
    if (!exists(".Random.seed", envir = globalenv(), inherits = FALSE)) set.seed(NULL)
    chunks[[i]]$rng_state <- get(".Random.seed", envir = globalenv(), inherits = FALSE)
    perturb_inputs(chunks[[i]]$x, chunks[[i]]$plan, "noise", chunks[[i]]$samples)
  }
  chunks
}

# R's generator back to the state `old` (NULL: none).
restore_rng_state <- function(old) {
  if (is.null(old)) {
    rm(".Random.seed", envir = globalenv())
  } else {
    assign(".Random.seed", old, envir = globalenv())
  }
}

# Relevance of every input time point (summed over input channels) for each
# unit, seeded at its highly activated nodes, one pass without dropout.
# x: the series of `samples` (global indices, as in units$sample).
unit_point_relevance <- function(model, x, samples, ip, units, thr_vec, rules, bar = NULL) {
  row <- match(ip$name, model$interp$name)
  out <- list()
  for (s in unique(units$sample)) {
    ch <- units$channel[units$sample == s]
    plans <- list(list(row = row, chans = ch, nodes = NULL, thr = thr_vec, drop = integer()))
    r <- relevance_run(model, x[match(s, samples), , , drop = FALSE], plans, "active", NULL,
                       rules, 1L, 0, c(0, 0), FALSE)
    # per unit: the input channels' relevance summed at each position
    for (j in seq_along(ch)) {
      out[[paste(s, ch[j])]] <- colSums(matrix(r$mean[j, , ], ncol = dim(r$mean)[3]),
                                        na.rm = TRUE)
    }
    progress_tick(bar)
  }
  out
}

# Fills the points of the "relevance" entries of a plan: the `size` points
# of highest relevance (ties to the earlier point).
relevance_keeps <- function(plan, rel, L) {
  lapply(plan, function(p) {
    if (p$method == "relevance") {
      rank <- order(-rel[[paste(p$sample, p$channel)]], seq_len(L))
      p$keep <- sort(rank[seq_len(p$size)])
    }
    p
  })
}

# Which time points each (unit, method, size) keeps; for "relevance" only
# how many (`size`, filled by relevance_keeps()).
perturbation_plan <- function(per, units, methods, shares, L) {
  plans <- list()
  for (u in seq_len(nrow(units))) {
    s <- units$sample[u]
    k <- units$channel[u]
    pu <- per[per$sample == s & per$channel == k, ]
    cover <- numeric(L)
    strength <- numeric(L)
    for (q in seq_len(nrow(pu))) {
      idx <- max(1L, pu$start[q]):min(L, pu$end[q])
      cover[idx] <- cover[idx] + 1
      strength[idx] <- pmax(strength[idx], pu$activation[q])
    }
    natural <- sum(cover > 0)
    sizes <- if (is.null(shares)) natural else pmax(1L, round(shares * L))
    share_lab <- if (is.null(shares)) natural / L else shares
    cphap_rank <- order(-cover, -strength, seq_len(L))
    for (q in seq_along(sizes)) {
      m <- sizes[q]
      for (method in methods) {
        keep <- switch(method,
          cphap = cphap_rank[seq_len(m)],
          relevance = NULL,
          random = sort(sample.int(L, m))
        )
        plans[[length(plans) + 1L]] <- list(
          sample = s, channel = k, method = method, share = share_lab[q],
          keep = sort(keep), size = m, nodes = pu$position
        )
      }
    }
  }
  plans
}

# The perturbed series of the plan entries; x holds the series of `samples`
# (the entries' sample indices).
perturb_inputs <- function(x, plan, fill, samples) {
  d <- dim(x)
  out <- array(0, c(length(plan), d[2], d[3]))
  for (q in seq_along(plan)) {
    p <- plan[[q]]
    series <- x[match(p$sample, samples), , , drop = FALSE]
    for (ch in seq_len(d[2])) {
      v <- series[1, ch, ]
      new <- switch(fill,
        zero = numeric(d[3]),
        mean = rep(mean(v), d[3]),
        noise = stats::rnorm(d[3], mean(v), stats::sd(v))
      )
      new[p$keep] <- v[p$keep]
      out[q, ch, ] <- new
    }
  }
  out
}

measure_perturbation <- function(plan, after, per, thr_vec) {
  before <- rowsum(per$activation, paste(per$sample, per$channel))
  field <- function(f, type) vapply(plan, f, type)
  sample <- field(function(p) as.integer(p$sample), integer(1))
  channel <- field(function(p) as.integer(p$channel), integer(1))
  now <- lapply(seq_along(plan), function(q) after[q, plan[[q]]$channel, plan[[q]]$nodes])
  out <- data.frame(
    sample = sample, layer = rep(as.character(per$layer[1]), length(plan)), channel = channel,
    method = factor(field(function(p) p$method, character(1)),
      levels = c("cphap", "relevance", "random")
    ),
    share = field(function(p) p$share, numeric(1)),
    n_kept = field(function(p) length(p$keep), integer(1)),
    n_nodes = field(function(p) length(p$nodes), integer(1)),
    activation_kept = vapply(now, sum, numeric(1)) / before[paste(sample, channel), 1],
    active_share = vapply(seq_along(now), function(q) mean(now[[q]] > thr_vec[channel[q]]), numeric(1)),
    stringsAsFactors = FALSE
  )
  bad <- !is.finite(out$activation_kept)
  if (any(bad)) {
    out$activation_kept[bad] <- NA_real_
    cli::cli_warn(c(
      "The share of activation kept is not finite for {sum(bad)} of {nrow(out)} unit{?s} and size{?s}; it is NA.",
      i = "Their activations overflow double precision or are all zero; rescale the input."
    ))
  }
  out
}

empty_perturbation <- function() {
  data.frame(
    sample = integer(), layer = character(), channel = integer(),
    method = factor(character(), levels = c("cphap", "relevance", "random")),
    share = numeric(), n_kept = integer(), n_nodes = integer(),
    activation_kept = numeric(), active_share = numeric(), stringsAsFactors = FALSE
  )
}

new_perturbation <- function(df, layer, fill, natural) {
  rownames(df) <- NULL
  structure(df,
    class = c("cphap_perturbation", "data.frame"), layer = layer, fill = fill,
    natural = natural
  )
}

#' Summaries and plots of a perturbation analysis
#'
#' `summary()` averages the measures over samples and units per method and
#' kept share; `autoplot()` draws the mean share of activation kept (and of
#' nodes still above threshold) against the kept share of the series, one
#' line per method with a band from the 25% to the 75% quantile across
#' samples and units.
#'
#' @param object,x A `cphap_perturbation` from [perturbation()].
#' @param ... Unused.
#' @return `summary()`: a data frame with `method`, `share`, `units`,
#'   `activation_kept` and `active_share` (means) and their 25% and 75%
#'   quantiles; `NA` shares of activation kept (see [perturbation()]) are left
#'   out. `autoplot()`: a ggplot object.
#' @examples
#' m <- demo_model()
#' thr <- thresholds(m, gunpoint$train, layers = "conv2")
#' p <- perturbation(m, gunpoint$test, thr, "conv2", channels = 1:4, samples = 1:5,
#'                   shares = c(0.2, 0.5, 0.8))
#' summary(p)
#' ggplot2::autoplot(p)
#' @name perturbation-methods
NULL

#' @rdname perturbation-methods
#' @export
summary.cphap_perturbation <- function(object, ...) {
  df <- as.data.frame(unclass(object), stringsAsFactors = FALSE)
  if (nrow(df) == 0L) {
    return(data.frame(
      method = factor(character(), levels = levels(df$method)), share = numeric(),
      units = integer(), activation_kept = numeric(), active_share = numeric()
    ))
  }
  # with each unit's own period coverage as size, pool the sizes per method
  key <- if (isTRUE(attr(object, "natural"))) 0 else df$share
  groups <- split(df, list(df$method, key), drop = TRUE)
  rows <- lapply(groups, function(g) {
    data.frame(
      method = g$method[1], share = mean(g$share), units = nrow(g),
      activation_kept = mean(g$activation_kept, na.rm = TRUE),
      activation_q25 = unname(stats::quantile(g$activation_kept, 0.25, na.rm = TRUE)),
      activation_q75 = unname(stats::quantile(g$activation_kept, 0.75, na.rm = TRUE)),
      active_share = mean(g$active_share),
      active_q25 = unname(stats::quantile(g$active_share, 0.25)),
      active_q75 = unname(stats::quantile(g$active_share, 0.75))
    )
  })
  out <- do.call(rbind, rows)
  out <- out[order(out$share, out$method), ]
  rownames(out) <- NULL
  out
}

#' @rdname perturbation-methods
#' @export
print.cphap_perturbation <- function(x, ...) {
  df <- as.data.frame(unclass(x), stringsAsFactors = FALSE)
  cat_line("{.cls cphap_perturbation}: layer {.val {attr(x, 'layer')}}, fill {.val {attr(x, 'fill')}}, {length(unique(paste(df$sample, df$channel)))} (sample, unit) pair{?s}, {nrow(df)} row{?s}")
  if (nrow(df) > 0L) {
    s <- summary(x)
    print(s[, c("method", "share", "units", "activation_kept", "active_share")],
      row.names = FALSE, digits = 3
    )
  }
  invisible(x)
}

#' @rdname perturbation-methods
#' @export
as.data.frame.cphap_perturbation <- function(x, ...) {
  df <- x
  class(df) <- "data.frame"
  attr(df, "layer") <- NULL
  attr(df, "fill") <- NULL
  attr(df, "natural") <- NULL
  attr(df, "sample_ids") <- NULL
  attr(df, "data_name") <- NULL
  df
}

#' @rdname perturbation-methods
#' @export
autoplot.cphap_perturbation <- function(object, ...) {
  s <- summary(object)
  long <- rbind(
    data.frame(
      method = s$method, share = s$share, measure = "activation kept",
      mean = s$activation_kept, lo = s$activation_q25, hi = s$activation_q75
    ),
    data.frame(
      method = s$method, share = s$share, measure = "nodes above threshold",
      mean = s$active_share, lo = s$active_q25, hi = s$active_q75
    )
  )
  ggplot2::ggplot(long, ggplot2::aes(.data$share, .data$mean,
    colour = .data$method,
    fill = .data$method
  )) +
    ggplot2::geom_ribbon(ggplot2::aes(ymin = .data$lo, ymax = .data$hi),
      alpha = 0.15, colour = NA
    ) +
    ggplot2::geom_line(linewidth = 0.9) +
    ggplot2::geom_point(size = 1.6) +
    ggplot2::facet_wrap(~ measure, scales = "free_y") +
    ggplot2::scale_x_continuous(labels = function(v) paste0(round(100 * v), "%")) +
    ggplot2::labs(
      x = "kept share of the series", y = "mean over samples and units",
      colour = "kept points", fill = "kept points",
      title = sprintf("Perturbation of layer %s (fill: %s)", attr(object, "layer"), attr(object, "fill"))
    ) +
    ggplot2::theme_minimal()
}
