# Uncertainty of belonging of windows to their patterns: a Gaussian mixture
# with one component per cluster gives the ambiguity between patterns
# (normalised posterior entropy, pooled diagonal covariance) and the
# atypicality within the pattern (the cluster's own shrunk diagonal
# covariance, calibrated on the cluster's own training windows). See the section "Uncertainty of
# belonging" of ?cluster_windows.

# Fits the mixture of a partition. windows: n x m (already in the space of
# the metric: z-normalised for k-Shape); weights: frequency weights; k:
# clusters (some may be empty); shrink: prior weight of the pooled
# per-time variance.
belonging_fit <- function(windows, cluster, weights, k, shrink = 2, threads = NULL) {
  m <- ncol(windows)
  grp <- factor(cluster, levels = seq_len(k))
  wsum <- as.vector(tapply(weights, grp, sum))
  wsum[is.na(wsum)] <- 0
  active <- wsum > 0
  # rowsum(windows * weights, cluster) and rowsum(windows^2 * weights,
  # cluster), zero rows for empty clusters, without copies of the windows
  sums <- .Call(cp_wsums_r, windows, as.double(weights), as.integer(cluster), k)
  s1 <- sums$s1
  s2 <- sums$s2
  mu <- s1 / pmax(wsum, .Machine$double.xmin)
  # weighted (maximum-likelihood) per-time variance of every cluster
  v_ml <- pmax(s2 / pmax(wsum, .Machine$double.xmin) - mu^2, 0)
  pooled <- colSums(v_ml * wsum) / sum(wsum)
  floor_v <- 1e-6 * mean(pooled)
  if (!(floor_v > 0)) floor_v <- 1e-12 * max(1, mean(windows^2))
  pooled <- pmax(pooled, floor_v)
  var <- (v_ml * wsum + shrink * rep(pooled, each = k)) / (wsum + shrink)
  var <- pmax(var, floor_v)
  var[!active, ] <- NA_real_
  mu[!active, ] <- NA_real_
  fit <- list(mean = mu, variance = var, pooled = pooled,
              log_weight = log(wsum / sum(wsum)), active = active,
              shrink = shrink, variance_floor = floor_v)
  # reference distribution of the standardised squared distances of every
  # cluster's own members (sorted, with cumulative weights)
  d2 <- belonging_d2(fit, windows, threads)
  own <- d2[cbind(seq_len(nrow(windows)), cluster)]
  fit$reference <- lapply(seq_len(k), function(j) {
    sel <- which(cluster == j)
    o <- order(own[sel])
    list(d2 = own[sel][o], cum_weight = cumsum(weights[sel][o]))
  })
  fit
}

# Standardised squared distance sum_t (x_t - mu_jt)^2 / v_jt of every window
# to every active cluster (n x k; NA for empty clusters); in C, summed as
# colSums() would.
belonging_d2 <- function(fit, windows, threads = NULL) {
  .Call(cp_std_sqdist_r, windows, fit$mean, fit$variance, fit$active,
        check_threads(threads))
}

# Ambiguity and atypicality of windows assigned to `cluster`.
belonging_score <- function(fit, windows, cluster, threads = NULL) {
  d2 <- belonging_d2(fit, windows, threads)
  act <- which(fit$active)
  n <- nrow(windows)
  ambiguity <- numeric(n)
  if (length(act) > 1L) {
    # posterior under the pooled (tied) diagonal covariance
    k <- nrow(fit$mean)
    pooled <- matrix(fit$pooled, k, ncol(windows), byrow = TRUE)
    dp <- .Call(cp_std_sqdist_r, windows, fit$mean, pooled, fit$active,
                check_threads(threads))
    lp <- matrix(0, n, length(act))
    for (a in seq_along(act)) {
      lp[, a] <- fit$log_weight[act[a]] - 0.5 * dp[, act[a]]
    }
    mx <- lp[, 1L]
    for (a in seq_along(act)[-1L]) mx <- pmax(mx, lp[, a])
    q <- exp(lp - mx)
    q <- q / rowSums(q)
    h <- -rowSums(ifelse(q > 0, q * log(q), 0))
    ambiguity <- pmin(pmax(h / log(length(act)), 0), 1)
  }
  own <- d2[cbind(seq_len(n), cluster)]
  atypicality <- numeric(n)
  for (j in unique(cluster)) {
    sel <- which(cluster == j)
    ref <- fit$reference[[j]]
    tot <- ref$cum_weight[length(ref$cum_weight)]
    below <- findInterval(own[sel], ref$d2, left.open = TRUE)
    upto <- findInterval(own[sel], ref$d2)
    cw <- c(0, ref$cum_weight)
    # weighted mid-rank: members strictly closer plus half of the ties
    atypicality[sel] <- (cw[below + 1L] + 0.5 * (cw[upto + 1L] - cw[below + 1L])) / tot
  }
  list(ambiguity = ambiguity, atypicality = atypicality,
       mahalanobis = own)
}

#' The original work's entropy of patterns
#'
#' The per-pattern uncertainty of the original work: inside every pattern
#' (cluster) a Gaussian mixture with full covariances is fitted to the
#' pattern's windows, the sub-clusters whose largest per-time standard
#' deviation exceeds `max_sd` are dropped, and the pattern's entropy is the
#' mean, over its windows, of the base-2 entropy of their posteriors over
#' the remaining sub-clusters.
#'
#' For a pattern with windows \eqn{x_i} (weights \eqn{w_i}, see
#' [cluster_windows()]) the mixture has \eqn{g = } `min(n_sub, distinct
#' windows)` components, started from weighted k-means and fitted by EM
#' (at most `max_iter` steps, until the mean log-likelihood changes by less
#' than 1e-8) with \eqn{\Sigma_c + } `reg` \eqn{I} as covariance (`reg` as
#' scikit-learn's `reg_covar`). A component is kept when
#' \eqn{\max_t \sqrt{\Sigma_{c,tt}} \le} `max_sd`. With \eqn{q_{ic}} the
#' posterior of window \eqn{i} over the kept components (renormalised), the
#' pattern's entropy is
#' \deqn{H = \frac{\sum_i w_i \left(-\sum_c q_{ic} \log_2 q_{ic}\right)}{\sum_i w_i}.}{H = sum_i w_i (-sum_c q_ic log2 q_ic) / sum_i w_i.}
#' It is 0 when one sub-cluster explains every window and at most
#' \eqn{\log_2 g}. It describes a pattern, not a window; for a window's
#' uncertainty use the `ambiguity` and `atypicality` of
#' [cluster_windows()].
#'
#' @section Differences from the original work:
#' The number of sub-clusters is the argument `n_sub`, and the EM starts
#' from weighted k-means (reproducible with [set.seed()]).
#'
#' @param x A `cphap_result` from [cphap()], or the numeric matrix of
#'   windows that `clusters` was fitted to.
#' @param clusters A `cphap_clusters` object when `x` is a matrix; not used
#'   otherwise.
#' @param layer,input_channel With a `cphap_result`: the layer and input
#'   channel whose patterns are described (`NULL`: the first).
#' @param n_sub Number of Gaussian sub-clusters per pattern.
#' @param max_sd Sub-clusters whose largest per-time standard deviation is
#'   above this are dropped (1.6 in the original work).
#' @param reg Added to the diagonal of every covariance.
#' @param max_iter Largest number of EM steps.
#' @return A data frame with one row per pattern: `cluster`, `size`
#'   (windows), `n_sub` (sub-clusters fitted), `n_kept` (kept), `entropy`
#'   (base 2; `NA` when no sub-cluster is kept).
#' @seealso [cluster_windows()], [cphap()]
#' @export
#' @examples
#' set.seed(1)
#' tt <- seq(0, 1, length.out = 20)
#' shapes <- rbind(sin(2 * pi * tt), tt)
#' w <- shapes[rep(1:2, each = 40), ] + matrix(rnorm(80 * 20, sd = 0.2), 80)
#' fit <- cluster_windows(w, k = 2)
#' pattern_entropy(w, fit, n_sub = 2)
pattern_entropy <- function(x, clusters = NULL, layer = NULL, input_channel = NULL,
                            n_sub = 3, max_sd = 1.6, reg = 1e-6, max_iter = 100) {
  n_sub <- check_whole(n_sub, "n_sub", min = 1)
  max_iter <- check_whole(max_iter, "max_iter", min = 1)
  if (!is.numeric(max_sd) || length(max_sd) != 1L || is.na(max_sd) || max_sd <= 0) {
    cli::cli_abort("{.arg max_sd} must be a single positive number.", call = NULL)
  }
  if (!is.numeric(reg) || length(reg) != 1L || is.na(reg) || reg < 0) {
    cli::cli_abort("{.arg reg} must be a single number >= 0.", call = NULL)
  }
  if (inherits(x, "cphap_result")) {
    s <- find_set(x, layer, input_channel)
    clusters <- x$clusters[[s$set]]
    windows <- result_windows(x, s)
  } else {
    windows <- check_windows(x)
    if (!inherits(clusters, "cphap_clusters") || clusters$n_windows != nrow(windows)) {
      cli::cli_abort(
        "{.arg clusters} must be the {.cls cphap_clusters} fitted to the {nrow(windows)} windows of {.arg x}.",
        call = NULL
      )
    }
  }
  windows <- metric_windows(windows, clusters$metric)
  rows <- lapply(seq_len(clusters$k), function(j) {
    sel <- which(clusters$cluster == j)
    if (length(sel) == 0L) {
      return(data.frame(cluster = j, size = 0L, n_sub = 0L, n_kept = 0L, entropy = NA_real_))
    }
    e <- sub_cluster_entropy(windows[sel, , drop = FALSE], clusters$weights[sel],
                             n_sub, max_sd, reg, max_iter)
    data.frame(cluster = j, size = length(sel), n_sub = e$n_sub, n_kept = e$n_kept,
               entropy = e$entropy)
  })
  do.call(rbind, rows)
}

# The clustered windows of one set of a cphap_result, cut again from its
# (normalised) series.
result_windows <- function(result, s) {
  wn <- result$windows[result$windows$set == s$set, , drop = FALSE]
  ch <- if (is.na(s$input_channel)) seq_len(result$model$input_dim[1]) else s$input_channel
  xs <- result_series(result)
  .Call(cp_windows_r, xs, as.integer(dim(xs)), as.integer(wn$sample),
        as.integer(wn$start), as.integer(s$window_length / length(ch)), as.integer(ch),
        cphap_threads())
}

# EM for a full-covariance Gaussian mixture on weighted windows; entropy of
# the posteriors over the sub-clusters whose largest sd is at most max_sd.
sub_cluster_entropy <- function(x, w, n_sub, max_sd, reg, max_iter) {
  g <- min(n_sub, nrow(unique(x)))
  m <- ncol(x)
  init <- if (g > 1L) cluster_windows(x, k = g, n_start = 3, weights = w)$cluster else rep(1L, nrow(x))
  resp <- outer(init, seq_len(g), "==") * 1
  old <- -Inf
  for (it in seq_len(max_iter)) {
    par <- gmm_m_step(x, w, resp, reg)
    lp <- gmm_log_dens(x, par)
    mx <- apply(lp, 1, max)
    ll <- sum(w * (mx + log(rowSums(exp(lp - mx))))) / sum(w)
    resp <- exp(lp - mx)
    resp <- resp / rowSums(resp)
    if (abs(ll - old) < 1e-8 * max(1, abs(ll))) break
    old <- ll
  }
  par <- gmm_m_step(x, w, resp, reg)
  sds <- vapply(par$sigma, function(S) sqrt(max(diag(S))), numeric(1))
  keep <- which(sds <= max_sd & par$pi > 0)
  if (length(keep) == 0L) return(list(n_sub = g, n_kept = 0L, entropy = NA_real_))
  lp <- gmm_log_dens(x, par)[, keep, drop = FALSE]
  q <- exp(lp - apply(lp, 1, max))
  q <- q / rowSums(q)
  h <- -rowSums(ifelse(q > 0, q * log2(q), 0))
  list(n_sub = g, n_kept = length(keep), entropy = sum(w * h) / sum(w))
}

gmm_m_step <- function(x, w, resp, reg) {
  g <- ncol(resp)
  rw <- resp * w
  nk <- colSums(rw)
  mu <- t(rw) %*% x / pmax(nk, .Machine$double.xmin)
  sigma <- lapply(seq_len(g), function(c) {
    d <- sweep(x, 2, mu[c, ])
    crossprod(d * rw[, c], d) / max(nk[c], .Machine$double.xmin) + diag(reg, ncol(x))
  })
  list(pi = nk / sum(nk), mu = mu, sigma = sigma)
}

gmm_log_dens <- function(x, par) {
  m <- ncol(x)
  out <- vapply(seq_along(par$sigma), function(c) {
    if (!(par$pi[c] > 0)) return(rep(-Inf, nrow(x)))
    R <- chol(par$sigma[[c]])
    z <- backsolve(R, t(sweep(x, 2, par$mu[c, ])), transpose = TRUE)
    log(par$pi[c]) - sum(log(diag(R))) - 0.5 * m * log(2 * pi) - 0.5 * colSums(z^2)
  }, numeric(nrow(x)))
  matrix(out, nrow(x))
}
