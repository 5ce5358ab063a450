#' Cylinder-Bell-Funnel series
#'
#' Simulates the three-class Cylinder-Bell-Funnel problem of Saito (1994).
#' With `t` the 1-based time index, each series is
#'
#' * cylinder: `(6 + eta) * 1[a, b](t) + noise * eps(t)`,
#' * bell: `(6 + eta) * 1[a, b](t) * (t - a) / (b - a) + noise * eps(t)`,
#' * funnel: `(6 + eta) * 1[a, b](t) * (b - t) / (b - a) + noise * eps(t)`,
#'
#' where `eta` and `eps(t)` are standard normal, `a` is a whole number drawn
#' uniformly from `[16, 32]` and `b - a` one drawn uniformly from `[32, 96]`.
#' For `length != 128` these four bounds are multiplied by `length / 128` and
#' rounded, and `b` is capped at `length`. The interval `[a, b]` is the
#' planted event.
#'
#' The classes are balanced (their counts differ by at most one) and appear
#' in random order. Results are reproducible under [set.seed()].
#'
#' @param n Number of series, at least 1.
#' @param length Length of each series, at least 8.
#' @param noise Standard deviation of the additive Gaussian noise, at least 0
#'   (Saito's definition uses 1).
#'
#' @return A [cphap_data] object: `x` is a matrix `[n, length]`, `y` a factor
#'   with levels `cylinder`, `bell`, `funnel`, and `events` has one row per
#'   series with columns `sample`, `channel` (always 1), `start` (`a`), `end`
#'   (`b`), `class` and `pattern` (the same as `class` here).
#'
#' @references Saito, N. (1994). *Local feature extraction and its
#'   application using a library of bases*. PhD thesis, Yale University.
#' @family generators
#' @export
#' @examples
#' set.seed(1)
#' d <- sim_cbf(n = 6)
#' d
#' d$events
sim_cbf <- function(n = 300, length = 128, noise = 1) {
  n <- check_data_count(n, "n", min = 1)
  len <- check_data_count(length, "length", min = 8)
  noise <- check_data_number(noise, "noise", min = 0)
  classes <- c("cylinder", "bell", "funnel")
  y <- balanced_labels(n, classes)
  s <- len / 128
  a <- sample_between(n, max(1, round(16 * s)), round(32 * s))
  b <- pmin(a + sample_between(n, round(32 * s), round(96 * s)), len)
  eta <- stats::rnorm(n)
  eps <- matrix(stats::rnorm(n * len, sd = noise), nrow = n)
  tt <- matrix(seq_len(len), nrow = n, ncol = len, byrow = TRUE)
  inside <- tt >= a & tt <= b
  shape <- (y == "cylinder") +
    (y == "bell") * (tt - a) / (b - a) +
    (y == "funnel") * (b - tt) / (b - a)
  x <- (6 + eta) * inside * shape + eps
  events <- data.frame(
    sample = seq_len(n), channel = 1L, start = as.integer(a),
    end = as.integer(b), class = y, pattern = as.character(y)
  )
  new_cphap_data(x, y, events)
}

#' Two-patterns series
#'
#' Simulates the four-class two-patterns problem of Geurts (2002). Every
#' series holds two step patterns at random, non-overlapping positions over a
#' background of Gaussian noise. An *up* pattern (`U`) is an upward step: its
#' first half is at -5 and its second half at +5; a *down* pattern (`D`) is
#' the reverse. The class names the two patterns in time order: `UU`, `UD`,
#' `DU` or `DD`.
#'
#' Each pattern's length is a whole number drawn uniformly from
#' `[round(length / 8), round(length / 4)]` (16 to 32 for `length = 128`);
#' the free points are split at random before, between and after the two
#' patterns. The patterns carry no noise; the background is
#' `noise * N(0, 1)`. The classes are balanced and in random order; results
#' are reproducible under [set.seed()].
#'
#' @inheritParams sim_cbf
#' @param n Number of series, at least 1.
#' @param length Length of each series, at least 16.
#'
#' @return A [cphap_data] object: `x` is a matrix `[n, length]`, `y` a factor
#'   with levels `UU`, `UD`, `DU`, `DD`, and `events` has two rows per series
#'   (the earlier pattern first) with columns `sample`, `channel` (always 1),
#'   `start`, `end`, `class` (the series' class) and `pattern` (`"up"` or
#'   `"down"`).
#'
#' @references Geurts, P. (2002). *Contributions to decision tree induction:
#'   bias/variance tradeoff and time series classification*. PhD thesis,
#'   University of Liège.
#' @family generators
#' @export
#' @examples
#' set.seed(1)
#' d <- sim_two_patterns(n = 8)
#' d
#' head(d$events)
sim_two_patterns <- function(n = 400, length = 128, noise = 1) {
  n <- check_data_count(n, "n", min = 1)
  len <- check_data_count(length, "length", min = 16)
  noise <- check_data_number(noise, "noise", min = 0)
  classes <- c("UU", "UD", "DU", "DD")
  y <- balanced_labels(n, classes)
  l_min <- round(len / 8)
  l_max <- round(len / 4)
  l1 <- sample_between(n, l_min, l_max)
  l2 <- sample_between(n, l_min, l_max)
  slack <- len - l1 - l2
  cut1 <- sample_between(n, 0, slack)
  cut2 <- sample_between(n, 0, slack)
  gap_before <- pmin(cut1, cut2)
  gap_between <- abs(cut1 - cut2)
  start1 <- 1L + gap_before
  start2 <- start1 + l1 + gap_between
  x <- matrix(stats::rnorm(n * len, sd = noise), nrow = n)
  first_up <- substr(as.character(y), 1L, 1L) == "U"
  second_up <- substr(as.character(y), 2L, 2L) == "U"
  for (i in seq_len(n)) {
    x[i, start1[[i]] + seq_len(l1[[i]]) - 1L] <- step_pattern(l1[[i]], first_up[[i]])
    x[i, start2[[i]] + seq_len(l2[[i]]) - 1L] <- step_pattern(l2[[i]], second_up[[i]])
  }
  events <- data.frame(
    sample = rep(seq_len(n), each = 2L),
    channel = 1L,
    start = as.integer(rbind(start1, start2)),
    end = as.integer(rbind(start1 + l1 - 1L, start2 + l2 - 1L)),
    class = rep(y, each = 2L),
    pattern = ifelse(as.vector(rbind(first_up, second_up)), "up", "down")
  )
  new_cphap_data(x, y, events)
}

# A step of length l: -5 then +5 (up) or +5 then -5 (down).
step_pattern <- function(l, up) {
  half <- l %/% 2L
  v <- c(rep(-5, half), rep(5, l - half))
  if (up) v else -v
}

#' Multivariate series with a planted motif
#'
#' Simulates a two-class multivariate problem. Every channel of every series
#' is Gaussian noise; one channel (`motif_channel`) also carries a motif of
#' length `motif_length` that starts at a random time. The class decides the
#' motif's shape:
#'
#' * `sine`: one full period of a sine wave, `amplitude * sin(2 * pi * u)`;
#' * `triangle`: a single hump that rises linearly from 0 to `amplitude` and
#'   falls back, `amplitude * (1 - |2u - 1|)`;
#'
#' with `u = (k - 0.5) / motif_length` for the motif's `k`-th point. The
#' start is a whole number drawn uniformly from
#' `[1, length - motif_length + 1]`. The classes are balanced and in random
#' order; results are reproducible under [set.seed()].
#'
#' By default the motif is in channel 1 for every series, so a network has
#' to learn both where (which channel) and what (which shape). With
#' `motif_channel = NULL` the channel is drawn at random for each series.
#'
#' @inheritParams sim_cbf
#' @param n Number of series, at least 1.
#' @param n_channels Number of channels, at least 1.
#' @param length Length of each series; at least `motif_length`.
#' @param motif_length Length of the motif, at least 4.
#' @param motif_channel The channel that carries the motif, a whole number
#'   in `[1, n_channels]`, or `NULL` for a random channel per series.
#' @param amplitude Height of the motif, a positive number.
#'
#' @return A [cphap_data] object: `x` is an array `[n, n_channels, length]`
#'   (a matrix `[n, length]` when `n_channels` is 1), `y` a factor with levels
#'   `sine` and `triangle`, and `events` has one row per series with columns
#'   `sample`, `channel`, `start`, `end`, `class` and `pattern` (the same as
#'   `class` here).
#' @family generators
#' @export
#' @examples
#' set.seed(1)
#' d <- sim_multivariate(n = 6)
#' d
#' d$events
sim_multivariate <- function(n = 300, n_channels = 3, length = 100,
                             motif_length = 20, motif_channel = 1,
                             amplitude = 3, noise = 1) {
  n <- check_data_count(n, "n", min = 1)
  n_channels <- check_data_count(n_channels, "n_channels", min = 1)
  motif_length <- check_data_count(motif_length, "motif_length", min = 4)
  len <- check_data_count(length, "length", min = motif_length)
  if (!is.null(motif_channel)) {
    motif_channel <- check_data_count(motif_channel, "motif_channel",
                                      min = 1, max = n_channels)
  }
  amplitude <- check_data_number(amplitude, "amplitude", min = 0, min_open = TRUE)
  noise <- check_data_number(noise, "noise", min = 0)
  classes <- c("sine", "triangle")
  y <- balanced_labels(n, classes)
  channel <- if (is.null(motif_channel)) {
    sample_between(n, 1, n_channels)
  } else {
    rep(motif_channel, n)
  }
  start <- sample_between(n, 1, len - motif_length + 1L)
  x <- array(stats::rnorm(n * n_channels * len, sd = noise),
             dim = c(n, n_channels, len))
  u <- (seq_len(motif_length) - 0.5) / motif_length
  motifs <- list(sine = amplitude * sin(2 * pi * u),
                 triangle = amplitude * (1 - abs(2 * u - 1)))
  for (i in seq_len(n)) {
    at <- start[[i]] + seq_len(motif_length) - 1L
    x[i, channel[[i]], at] <- x[i, channel[[i]], at] + motifs[[as.character(y[[i]])]]
  }
  if (n_channels == 1L) x <- matrix(x, nrow = n)
  events <- data.frame(
    sample = seq_len(n), channel = as.integer(channel),
    start = as.integer(start), end = as.integer(start + motif_length - 1L),
    class = y, pattern = as.character(y)
  )
  new_cphap_data(x, y, events)
}

# n labels, balanced over `classes` (counts differ by at most one), shuffled.
balanced_labels <- function(n, classes) {
  factor(sample(rep_len(classes, n)), levels = classes)
}

# n whole numbers drawn uniformly from lo..hi (inclusive).
sample_between <- function(n, lo, hi) {
  lo <- as.integer(lo)
  hi <- as.integer(hi)
  lo + as.integer(floor(stats::runif(n) * (hi - lo + 1L)))
}
