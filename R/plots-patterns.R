# Figures of the pattern framework (the paper's figures), as ggplot objects.

# autoplot() is re-exported from ggplot2 in R/reexports.R.

# Facet labels "Cluster j: n = size (share %)".
cluster_labels <- function(size) {
  tot <- sum(size)
  sprintf("Cluster %d: n = %d (%.1f%%)", seq_along(size), size, 100 * size / tot)
}

#' Plot the patterns of a CPHAP result
#'
#' * `type = "gallery"`: one panel per cluster with its member windows
#'   (thin, translucent; at most `max_members` per cluster, evenly spread
#'   over the members) and the representative pattern (the per-time mean,
#'   thick); panel titles give the cluster's size and share.
#' * `type = "pattern"`: the mean of each cluster with bands of
#'   mean ± 0.5, ± 1 and ± 2 per-time standard deviations.
#' * `type = "units"`: the unit x pattern tiles: the share of each unit's
#'   periods that fall into each cluster, units grouped by their dominant
#'   pattern; the caption says how many units had no highly activated period
#'   (they are not drawn).
#'
#' Joint multivariate patterns get one row of panels per input channel,
#' named by the channel (and its name when the series have channel names).
#'
#' @param object A `cphap_result` from [cphap()].
#' @param type `"gallery"`, `"pattern"` or `"units"`.
#' @param layer Layer (name or position); `NULL` for the first clustered one.
#' @param input_channel Input channel whose clusters are drawn (multivariate
#'   input clustered per channel); `NULL` for the first.
#' @param clusters Clusters to draw (`NULL`: all).
#' @param max_members Largest number of member windows drawn per cluster in
#'   the gallery.
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' res <- cphap(demo_model(), gunpoint$train, layers = "conv2", k = 4)
#' autoplot(res, max_members = 30)
#' autoplot(res, "pattern")
#' autoplot(res, "units")
#' @method autoplot cphap_result
#' @export
autoplot.cphap_result <- function(object, type = c("gallery", "pattern", "units"), layer = NULL,
                                  input_channel = NULL, clusters = NULL, max_members = 50, ...) {
  type <- match.arg(type)
  check_whole(max_members, "max_members", min = 1)
  s <- find_set(object, layer, input_channel)
  cl <- object$clusters[[s$set]]
  k <- nrow(cl$mean)
  if (is.null(clusters)) clusters <- seq_len(k)
  if (!is.numeric(clusters) || anyNA(clusters) || any(clusters != round(clusters)) ||
    any(clusters < 1) || any(clusters > k)) {
    cli::cli_abort("{.arg clusters} must be whole numbers between 1 and {k}.", call = NULL)
  }
  labs <- cluster_labels(cl$size)
  what <- if (is.na(s$input_channel)) "input channels jointly" else if (object$model$input_dim[1] > 1L) paste("input channel", s$input_channel) else NULL
  subtitle <- paste(c(paste0("layer ", s$layer, ", receptive field ", object$model$interp$size[match(s$layer, object$model$interp$name)]), what), collapse = ", ")
  switch(type,
    gallery = plot_gallery(object, s, cl, clusters, labs, max_members, subtitle),
    pattern = plot_bands(object, s, clusters, labs, subtitle),
    units = plot_units(object, s, subtitle)
  )
}

plot_gallery <- function(object, s, cl, clusters, labs, max_members, subtitle) {
  a <- object$assignments[object$assignments$set == s$set, ]
  R <- object$model$interp$size[match(s$layer, object$model$interp$name)]
  C <- object$model$input_dim[1]
  chans <- if (is.na(s$input_channel)) seq_len(C) else s$input_channel
  members <- lapply(clusters, function(j) {
    rows <- which(a$cluster == j)
    if (length(rows) > max_members) rows <- rows[unique(round(seq(1, length(rows), length.out = max_members)))]
    rows
  })
  rows <- unlist(members)
  per <- data.frame(sample = a$sample[rows], start = a$start[rows], layer = s$layer, inside = TRUE)
  xa <- result_series(object)
  w <- .Call(cp_windows_r, xa, as.integer(dim(xa)), as.integer(per$sample),
             as.integer(per$start), as.integer(R), as.integer(chans), cphap_threads())
  nb <- length(chans)
  if (identical(cl$metric, "shape")) {
    # k-Shape clusters per-window z-normalised windows (whole rows, all
    # channel blocks of a joint window together): draw members alike
    w <- znorm_window_rows(w)
  }
  mem <- data.frame(
    member = rep(seq_along(rows), times = nb * R),
    cluster = factor(labs[a$cluster[rows]], levels = labs)[rep(seq_along(rows), times = nb * R)],
    input_channel = rep(chans, each = length(rows) * R),
    time = rep(rep(seq_len(R), each = length(rows)), times = nb),
    value = as.vector(w)
  )
  pt <- object$patterns[object$patterns$set == s$set & object$patterns$cluster %in% clusters, ]
  pt$cluster <- factor(labs[pt$cluster], levels = labs)
  p <- ggplot2::ggplot(mem, ggplot2::aes(x = .data$time, y = .data$value)) +
    ggplot2::geom_line(ggplot2::aes(group = .data$member), alpha = 0.15, linewidth = 0.3, colour = "grey30") +
    ggplot2::geom_line(data = pt, ggplot2::aes(y = .data$mean), linewidth = 1.2, colour = "#C0392B") +
    scale_x_integer() +
    ggplot2::labs(x = "time in window", y = "z-normalised input", title = "Clustered patterns of highly activated periods", subtitle = subtitle) +
    ggplot2::theme_bw()
  if (nb > 1L) {
    p + ggplot2::facet_grid(input_channel ~ cluster, labeller = ggplot2::labeller(input_channel = channel_labeller(result_channel_names(object))))
  } else {
    p + ggplot2::facet_wrap(~cluster)
  }
}

# Ribbons of mean +/- 2, 1 and 0.5 sd. Filled by band (blue shades, see
# band_fill()) or, with `fill`, in the colour of that column with the band
# as transparency (see band_alpha()).
band_layers <- function(data, group = NULL, fill = NULL) {
  aes_band <- function(m) {
    a <- ggplot2::aes(x = .data$time, ymin = .data$mean - m * .data$sd, ymax = .data$mean + m * .data$sd)
    a <- utils::modifyList(a, if (is.null(fill)) ggplot2::aes(fill = .data$.band) else ggplot2::aes(fill = .data[[fill]], alpha = .data$.band))
    if (is.null(group)) a else utils::modifyList(a, ggplot2::aes(group = .data[[group]]))
  }
  lapply(c(2, 1, 0.5), function(m) {
    d <- data
    d$.band <- factor(sprintf("\u00b1 %s sd", format(m)), levels = c("\u00b1 2 sd", "\u00b1 1 sd", "\u00b1 0.5 sd"))
    if (is.null(fill)) {
      ggplot2::geom_ribbon(data = d, mapping = aes_band(m), alpha = 0.35, inherit.aes = FALSE)
    } else {
      ggplot2::geom_ribbon(data = d, mapping = aes_band(m), inherit.aes = FALSE)
    }
  })
}

band_alpha <- function() {
  ggplot2::scale_alpha_manual(
    name = "band",
    values = c("\u00b1 2 sd" = 0.12, "\u00b1 1 sd" = 0.22, "\u00b1 0.5 sd" = 0.38)
  )
}

band_fill <- function() {
  ggplot2::scale_fill_manual(
    name = "band",
    values = c("\u00b1 2 sd" = "#D6EAF8", "\u00b1 1 sd" = "#85C1E9", "\u00b1 0.5 sd" = "#2E86C1")
  )
}

plot_bands <- function(object, s, clusters, labs, subtitle) {
  pt <- object$patterns[object$patterns$set == s$set & object$patterns$cluster %in% clusters, ]
  pt$cluster <- factor(labs[pt$cluster], levels = labs)
  p <- ggplot2::ggplot(pt, ggplot2::aes(x = .data$time)) +
    band_layers(pt) +
    ggplot2::geom_line(ggplot2::aes(y = .data$mean), linewidth = 0.9) +
    band_fill() +
    scale_x_integer() +
    ggplot2::labs(x = "time in window", y = "z-normalised input", title = "Representative patterns with spread", subtitle = subtitle) +
    ggplot2::theme_bw()
  if (is.na(s$input_channel) && object$model$input_dim[1] > 1L) {
    p + ggplot2::facet_grid(input_channel ~ cluster, labeller = ggplot2::labeller(input_channel = channel_labeller(result_channel_names(object))))
  } else {
    p + ggplot2::facet_wrap(~cluster)
  }
}

plot_units <- function(object, s, subtitle) {
  up <- object$unit_pattern[object$unit_pattern$set == s$set, ]
  up$unit <- factor(up$channel, levels = unit_order(up))
  up$cluster <- factor(up$cluster)
  n_ch <- object$model$interp$channels[match(s$layer, object$model$interp$name)]
  n_none <- n_ch - length(unique(up$channel))
  caption <- sprintf(
    "%d of %d units had no highly activated period inside the series%s.\nUnits ordered by their dominant pattern, then by its share.",
    n_none, n_ch, if (n_none > 0L) " (not shown)" else ""
  )
  ggplot2::ggplot(up, ggplot2::aes(x = .data$cluster, y = .data$unit, fill = .data$share)) +
    ggplot2::geom_tile(colour = "white", linewidth = 0.2) +
    ggplot2::scale_fill_gradient(low = "#F7FBFF", high = "#08306B", limits = c(0, 1), name = "share of\nunit's periods") +
    ggplot2::scale_y_discrete(guide = ggplot2::guide_axis(check.overlap = TRUE)) +
    ggplot2::labs(x = "pattern (cluster)", y = "unit (channel)", title = "Unit x pattern", subtitle = subtitle, caption = caption) +
    ggplot2::theme_minimal() +
    ggplot2::theme(panel.grid = ggplot2::element_blank(), plot.caption = ggplot2::element_text(hjust = 0))
}

# Units (channels) from the top of the heatmap down: grouped by dominant
# pattern (cluster 1 first), within a group by decreasing share of it.
unit_order <- function(up) {
  dom <- do.call(rbind, lapply(split(up, up$channel), function(u) u[which.max(u$share), ]))
  # factor levels run bottom-up on the y axis
  rev(as.character(dom$channel[order(dom$cluster, -dom$share, dom$channel)]))
}

# An integer axis (time, positions, epochs): integer breaks only, and tick
# labels that never overlap.
scale_x_integer <- function(...) {
  ggplot2::scale_x_continuous(
    breaks = integer_breaks, guide = ggplot2::guide_axis(check.overlap = TRUE), ...
  )
}

integer_breaks <- function(lims) {
  b <- pretty(lims)
  b <- b[b == round(b)]
  if (length(b) < 2L) b <- seq(ceiling(lims[1]), floor(lims[2]))
  b
}

# Names of the input channels of a result (the series' dimnames, else the
# model's input names), or NULL.
result_channel_names <- function(object) {
  dimnames(object$x)[[2]] %||% object$model$input_names
}

# Facet labels of input channels: "input channel k" and its name if any.
channel_label <- function(series) channel_labeller(rownames(series))

channel_labeller <- function(nm) {
  function(v) {
    v <- as.integer(as.character(v))
    if (is.null(nm)) paste("input channel", v) else paste0("input channel ", v, ": ", nm[v])
  }
}

# The most activated periods, skipping any that overlaps an already chosen
# one by more than half its length (adjacent nodes of a unit see almost the
# same period), so that the drawn periods spread over the series.
spread_periods <- function(e, max_periods) {
  e <- e[order(-e$activation), , drop = FALSE]
  keep <- integer()
  for (i in seq_len(nrow(e))) {
    if (length(keep) >= max_periods) break
    ov <- pmin(e$end[keep], e$end[i]) - pmax(e$start[keep], e$start[i]) + 1
    if (all(ov <= (e$end[i] - e$start[i] + 1) / 2)) keep <- c(keep, i)
  }
  e[keep, , drop = FALSE]
}

#' Plot the explanation of one sample
#'
#' * `type = "sample"`: the (z-normalised) series of one input channel with
#'   each highly activated period overlaid by the pattern of its cluster
#'   (mean and bands of ± 0.5, ± 1 and ± 2 sd, the bands in the colour of
#'   the pattern, more transparent the wider they are); at most
#'   `max_periods` periods, the most activated first, skipping periods that
#'   overlap an already drawn one by more than half their length.
#' * `type = "multivariate"`: every input channel in its own panel with the
#'   highly activated periods highlighted in all channels (chosen as for
#'   `"sample"`).
#'
#' @param object A `cphap_explanation` from [explain_sample()].
#' @param type `"sample"` or `"multivariate"`.
#' @param input_channel Input channel drawn by `type = "sample"`.
#' @param max_periods Largest number of periods drawn.
#' @param sample With an explanation of several samples, the one drawn
#'   (`NULL`: the first).
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' res <- cphap(demo_model(), gunpoint$train, layers = "conv2", k = 4)
#' e <- explain_sample(res, 19, "conv2", newdata = gunpoint$test)
#' autoplot(e)
#' autoplot(e, "multivariate")
#' @method autoplot cphap_explanation
#' @export
autoplot.cphap_explanation <- function(object, type = c("sample", "multivariate"),
                                       input_channel = 1, max_periods = 12, sample = NULL,
                                       ...) {
  type <- match.arg(type)
  sel <- explanation_sample(object, sample)
  series <- sel$series
  check_whole(input_channel, "input_channel", min = 1, max = nrow(series))
  check_whole(max_periods, "max_periods", min = 1)
  L <- ncol(series)
  e <- as.data.frame(object)
  class(e) <- "data.frame"
  e <- e[e$sample == sel$sample, , drop = FALSE]
  title <- sprintf("%s: highly activated periods", sample_labels_of(object, sel$sample))
  if (type == "multivariate") {
    sd <- data.frame(
      input_channel = factor(rep(seq_len(nrow(series)), times = L)),
      time = rep(seq_len(L), each = nrow(series)), value = as.vector(series)
    )
    per <- unique(e[, c("layer", "channel", "position", "activation", "start", "end")])
    per <- spread_periods(per, max_periods)
    per$unit <- factor(paste0(per$layer, " #", per$channel))
    per$xmin <- pmax(per$start, 1) - 0.5
    per$xmax <- pmin(per$end, L) + 0.5
    return(
      ggplot2::ggplot(sd, ggplot2::aes(x = .data$time, y = .data$value)) +
        ggplot2::geom_rect(
          data = per, inherit.aes = FALSE, alpha = 0.18,
          ggplot2::aes(xmin = .data$xmin, xmax = .data$xmax, ymin = -Inf, ymax = Inf, fill = .data$unit)
        ) +
        ggplot2::geom_line(linewidth = 0.5) +
        ggplot2::facet_wrap(~input_channel, ncol = 1, labeller = ggplot2::labeller(input_channel = channel_label(series))) +
        scale_x_integer() +
        ggplot2::labs(x = "time", y = "input", fill = "unit", title = title) +
        ggplot2::theme_bw()
    )
  }
  sdf <- data.frame(time = seq_len(L), value = series[input_channel, ])
  sets <- attr(object, "sets")
  pats <- attr(object, "patterns")
  e <- e[!is.na(e$cluster) & (is.na(e$input_channel) | e$input_channel == input_channel), ]
  e <- spread_periods(e, max_periods)
  ov <- list()
  for (i in seq_len(nrow(e))) {
    set <- sets$set[as.character(sets$layer) == as.character(e$layer[i]) &
      (is.na(sets$input_channel) | sets$input_channel == input_channel)][1]
    pt <- pats[pats$set == set & pats$cluster == e$cluster[i] & pats$input_channel == input_channel, ]
    if (nrow(pt) == 0L) next
    ov[[length(ov) + 1L]] <- data.frame(
      period = i, time = e$start[i] + pt$time - 1L, mean = pt$mean, sd = pt$sd,
      pattern = paste0(e$layer[i], " cluster ", e$cluster[i])
    )
  }
  p <- ggplot2::ggplot(sdf, ggplot2::aes(x = .data$time, y = .data$value))
  if (length(ov)) {
    ov <- do.call(rbind, ov)
    p <- p + band_layers(ov, group = "period", fill = "pattern") + band_alpha() +
      ggplot2::geom_line(data = ov, ggplot2::aes(y = .data$mean, group = .data$period, colour = .data$pattern), linewidth = 0.8)
  }
  p + ggplot2::geom_line(linewidth = 0.5) +
    scale_x_integer() +
    ggplot2::labs(
      x = "time", y = "z-normalised input", colour = "pattern", fill = "pattern", title = title,
      subtitle = sprintf("%s; %d period(s) overlaid by their pattern", channel_label(series)(input_channel), if (length(ov)) length(unique(ov$period)) else 0L)
    ) +
    ggplot2::theme_bw()
}

# One sample of an explanation: its id and its series [C, L].
explanation_sample <- function(object, sample) {
  series <- attr(object, "series")
  if (length(dim(series)) == 2L) {
    return(list(sample = object$sample[1], series = series))
  }
  ids <- as.integer(dimnames(series)[[1]])
  if (is.null(sample)) sample <- ids[1]
  check_whole(sample, "sample", min = 1)
  if (!sample %in% ids) {
    cli::cli_abort("{.arg sample} {sample} is not in the explanation (samples {.val {ids}}).",
      call = NULL
    )
  }
  list(sample = as.integer(sample), series = matrix(series[match(sample, ids), , ],
    dim(series)[2], dim(series)[3], dimnames = list(dimnames(series)[[2]], NULL)))
}
