# Deletion and insertion curves of the class probability: perturb the points
# of a sample's highly activated periods, or as many top-relevance points,
# random points or random periods of the same lengths, and measure the area
# over the curve. Unlike keeping a unit's own periods (whose receptive fields
# keep its activation by construction), the outcome of this test is open.

#' Deletion and insertion curves of highly activated periods
#'
#' Asks whether the points of a sample's highly activated periods matter to
#' the network's decision more than other points of the same number. For
#' every sample, the set `S` is the union of the input points covered by the
#' highly activated periods of all units of `layer` (`n` points). Four
#' orderings of `n` points are compared:
#' * `"cphap"`: the points of `S`, strongest first (by the largest excess
#'   of a covering node's activation over its unit's threshold);
#' * `"relevance"`: the `n` points of highest class relevance ([lrp()] of
#'   the class logit, summed over input channels), highest first;
#' * `"random_points"`: `n` points drawn at random, in random order;
#' * `"random_periods"`: random contiguous periods with the lengths of the
#'   runs of `S` (placed without overlap when possible), in random order.
#'
#' **Deletion**: the first `ceiling(s n / steps)` points of the ordering
#' are replaced (`s = 0, ..., steps`) and the probability \eqn{p_s} of the
#' class is recorded; the area over the perturbation curve is
#' \eqn{AOPC_{del} = \frac{1}{steps} \sum_{s=1}^{steps} (p_0 - p_s)}
#' (larger: removing those points hurts the class more). **Insertion**: every
#' point of the series is replaced, then the first `ceiling(s n / steps)`
#' points of the ordering get their values back;
#' \eqn{AOPC_{ins} = \frac{1}{steps} \sum_{s=1}^{steps} (p_s - p_0)}
#' (larger: those points alone restore more of the class).
#'
#' Fills (per sample and input channel): `"mean"` (the series' mean),
#' `"noise"` (normal noise with the series' mean and sd, drawn once per
#' sample and shared by all orderings, reproducible with [set.seed()]) and
#' `"interpolate"` (linear interpolation between the nearest points that
#' are not replaced, constant beyond the ends; the mean when none is left).
#' All input channels of a point are replaced together.
#'
#' Nothing fixes the outcome: the class probability depends on the whole
#' network, not on the units whose periods define `S`.
#'
#' @inheritParams perturbation
#' @param class The class whose probability is followed (label or index,
#'   one or one per sample); `NULL`: the labels of a `cphap_data` `x`, else
#'   the predicted class.
#' @param fills Fills to use (see Details).
#' @param methods Orderings to compare (see Details).
#' @param steps Number of steps of the curves.
#' @return A data frame of class `cphap_curves`, one row per sample, method,
#'   fill and direction: `sample`, `class`, `method`, `fill`, `direction`
#'   (`"deletion"` or `"insertion"`), `n_points` (`n`), `aopc`, and `curve`
#'   (a list column: \eqn{p_0, \dots, p_{steps}}). Samples without highly
#'   activated periods are left out. [summary()][summary.cphap_curves] gives
#'   means with 95% confidence intervals.
#' @seealso [perturbation()], [lrp()]
#' @examples
#' m <- demo_model()
#' thr <- thresholds(m, gunpoint$train, layers = "conv2")
#' set.seed(1)
#' cv <- perturbation_curves(m, gunpoint$test, thr, "conv2", samples = 1:10,
#'                           fills = "mean")
#' summary(cv)
#' @export
perturbation_curves <- function(model, x, thresholds, layer, samples = NULL, class = NULL,
                                fills = c("mean", "noise", "interpolate"),
                                methods = c("cphap", "relevance", "random_points",
                                            "random_periods"),
                                steps = 10, rules = "default") {
  model <- check_model(model)
  labels <- if (inherits(x, "cphap_data")) x$y else NULL
  xa <- as_input(x, model)
  n_all <- dim(xa)[1]
  fills <- unique(match.arg(fills, several.ok = TRUE))
  methods <- unique(match.arg(methods, several.ok = TRUE))
  steps <- check_whole(steps, "steps", min = 1)
  if (missing(layer) || length(layer) != 1L) {
    cli::cli_abort("{.arg layer} must be one interpretable layer.", call = NULL)
  }
  row <- resolve_layers(model, layer, "layer")
  samples <- if (is.null(samples)) seq_len(n_all) else
    check_whole_vector(samples, "samples", min = 1, max = n_all)
  if (is.null(class)) class <- labels
  cls <- resolve_class(model, xa, class)
  per <- suppressMessages(activated_periods(model, xa, thresholds, row, samples = samples))
  L <- dim(xa)[3]
  out <- list()
  for (s in samples) {
    p <- per[per$sample == s, , drop = FALSE]
    order_hap <- hap_point_order(p, L)
    n <- length(order_hap)
    if (n == 0L) next
    xs <- xa[s, , , drop = FALSE]
    orders <- list()
    for (meth in methods) {
      orders[[meth]] <- switch(meth,
        cphap = order_hap,
        relevance = {
          r <- lrp(model, xs, class = cls[s], rules = rules)
          rel <- tapply(r$mean, r$position, sum)
          order(-rel, seq_len(L))[seq_len(n)]
        },
        random_points = sample.int(L, n),
        random_periods = random_periods(run_lengths(order_hap), L)
      )
    }
    noise <- xs
    mu <- apply(xs, 2, mean)
    sdv <- apply(xs, 2, stats::sd)
    for (ch in seq_len(dim(xs)[2])) noise[1, ch, ] <- stats::rnorm(L, mu[ch], sdv[ch])
    grid <- expand.grid(method = methods, fill = fills, stringsAsFactors = FALSE)
    k_of <- function(ord) ceiling(seq(0, steps) * length(ord) / steps)
    series <- list()
    for (g in seq_len(nrow(grid))) {
      ord <- orders[[grid$method[g]]]
      for (kk in k_of(ord)) {
        series[[length(series) + 1L]] <- fill_points(xs, ord[seq_len(kk)], grid$fill[g], noise)
      }
      for (kk in k_of(ord)) {
        series[[length(series) + 1L]] <- fill_points(xs, setdiff(seq_len(L), ord[seq_len(kk)]),
                                                     grid$fill[g], noise)
      }
    }
    batch <- aperm(array(unlist(series), c(dim(xs)[2], L, length(series))), c(3, 1, 2))
    prob <- predict(model, batch, type = "prob")[, cls[s]]
    per_g <- 2L * (steps + 1L)
    for (g in seq_len(nrow(grid))) {
      pg <- prob[(g - 1L) * per_g + seq_len(per_g)]
      pd <- pg[seq_len(steps + 1L)]
      pin <- pg[steps + 1L + seq_len(steps + 1L)]
      out[[length(out) + 1L]] <- data.frame(
        sample = s, class = model$classes[cls[s]], method = grid$method[g],
        fill = grid$fill[g], direction = c("deletion", "insertion"), n_points = n,
        aopc = c(mean(pd[1] - pd[-1]), mean(pin[-1] - pin[1])),
        curve = I(list(pd, pin))
      )
    }
  }
  res <- if (length(out)) do.call(rbind, out) else
    data.frame(sample = integer(), class = character(), method = character(),
               fill = character(), direction = character(), n_points = integer(),
               aopc = double(), curve = I(list()))
  rownames(res) <- NULL
  structure(res, class = c("cphap_curves", "data.frame"), layer = model$interp$name[row],
            steps = steps)
}

# Points covered by the highly activated periods of one sample, strongest
# first: by the largest excess of a covering node over its threshold.
hap_point_order <- function(p, L) {
  if (nrow(p) == 0L) return(integer())
  score <- rep(-Inf, L)
  ex <- p$activation - p$threshold
  for (i in seq_len(nrow(p))) {
    idx <- max(1L, p$start[i]):min(L, p$end[i])
    score[idx] <- pmax(score[idx], ex[i])
  }
  pts <- which(is.finite(score))
  pts[order(-score[pts], pts)]
}

# Lengths of the runs of consecutive points of a set.
run_lengths <- function(points) {
  v <- sort(points)
  starts <- c(TRUE, diff(v) != 1L)
  as.integer(diff(c(which(starts), length(v) + 1L)))
}

# Random non-overlapping periods with the given lengths (overlap allowed
# after 100 failed placements), in random order, points in time order
# within a period.
random_periods <- function(lengths, L) {
  lengths <- lengths[sample.int(length(lengths))]
  taken <- logical(L)
  out <- integer()
  for (len in lengths) {
    len <- min(len, L)
    for (try in seq_len(100)) {
      st <- sample.int(L - len + 1L, 1L)
      idx <- st:(st + len - 1L)
      if (!any(taken[idx]) || try == 100L) break
    }
    taken[idx] <- TRUE
    out <- c(out, idx)
  }
  out
}

# A copy of one sample [1, C, L] with the points `idx` replaced by `fill`.
fill_points <- function(xs, idx, fill, noise) {
  y <- xs[1, , , drop = FALSE]
  if (length(idx) == 0L) return(y)
  L <- dim(xs)[3]
  keep <- setdiff(seq_len(L), idx)
  for (ch in seq_len(dim(xs)[2])) {
    v <- xs[1, ch, ]
    y[1, ch, idx] <- switch(fill,
      mean = mean(v),
      noise = noise[1, ch, idx],
      interpolate = if (length(keep) == 0L) mean(v) else
        stats::approx(keep, v[keep], xout = idx, rule = 2, ties = "ordered")$y
    )
  }
  y
}

#' @rdname perturbation_curves
#' @param object A `cphap_curves` object.
#' @param ... Unused.
#' @return `summary()` returns one row per method, fill and direction: `n`
#'   (samples), `mean` AOPC, `lower` and `upper` (95% t interval over
#'   samples), and `vs_random_periods` with `diff_lower`, `diff_upper` (the
#'   mean paired difference to `"random_periods"` and its 95% interval;
#'   `NA` without that method).
#' @export
summary.cphap_curves <- function(object, ...) {
  d <- as.data.frame(unclass(object))[, c("sample", "method", "fill", "direction", "aopc")]
  keys <- unique(d[, c("method", "fill", "direction")])
  rows <- lapply(seq_len(nrow(keys)), function(i) {
    sel <- d$method == keys$method[i] & d$fill == keys$fill[i] & d$direction == keys$direction[i]
    v <- d$aopc[sel]
    ci <- mean_ci(v)
    ref <- d[d$method == "random_periods" & d$fill == keys$fill[i] &
               d$direction == keys$direction[i], ]
    dd <- if (nrow(ref)) v - ref$aopc[match(d$sample[sel], ref$sample)] else NA_real_
    dci <- mean_ci(dd)
    data.frame(keys[i, ], n = length(v), mean = ci[1], lower = ci[2], upper = ci[3],
               vs_random_periods = dci[1], diff_lower = dci[2], diff_upper = dci[3])
  })
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out
}

# Mean and 95% t interval (NA bounds for fewer than two values).
mean_ci <- function(v) {
  v <- v[!is.na(v)]
  if (length(v) == 0L) return(c(NA_real_, NA_real_, NA_real_))
  m <- mean(v)
  if (length(v) < 2L) return(c(m, NA_real_, NA_real_))
  h <- stats::qt(0.975, length(v) - 1L) * stats::sd(v) / sqrt(length(v))
  c(m, m - h, m + h)
}
