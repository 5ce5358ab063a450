# Clustering of equal-length windows into temporal patterns. The numerics
# live in src/cluster*.c; this file checks arguments, calls the C routines
# and shapes the results.

#' Cluster windows into temporal patterns
#'
#' Groups equal-length windows (for example the highly activated periods of
#' one layer) into clusters and describes every cluster by its
#' representative pattern (per-time mean), its spread (per-time standard
#' deviation) and its size. Every window also gets its distance to the
#' centroid of its cluster, the ratio of that distance to the cluster's mean
#' member distance, its ambiguity between patterns and its atypicality
#' within its pattern, which measure how well the window belongs to its
#' pattern.
#'
#' @section Methods:
#' * `"kmeans"` (default): Euclidean k-means on the windows as given.
#'   Greedy k-means++ seeding, Lloyd iterations until no assignment changes
#'   (at most `max_iter`), then Hartigan single-window moves (a window moves
#'   from cluster \eqn{j} to \eqn{l} when
#'   \eqn{n_l/(n_l+1)\,d_l^2 < n_j/(n_j-1)\,d_j^2}) until no move lowers the
#'   total within-cluster sum of squares. Each restart then tries 6 swaps:
#'   one centroid moves to a window drawn k-means++ style, the partition is
#'   refined again and kept if its objective is lower. The best of `n_start`
#'   restarts is kept. A cluster that becomes empty takes the window farthest
#'   from its centroid. Large problems (\eqn{n m k} `n_start` above
#'   \eqn{10^7}) run Lloyd only in every restart (until no assignment changes,
#'   the squared centroid shifts sum to at most \eqn{10^{-4}} times the mean
#'   per-time variance, or `max_iter`); the best restart then gets the
#'   Hartigan moves (no swaps: there they cost a quarter of the run and
#'   lowered the objective by at most 0.02% on the windows of the package's
#'   benchmark).
#' * `"kshape"`: k-Shape (Paparrizos and Gravano, 2015) on per-window
#'   z-normalised windows (population standard deviation; constant windows
#'   become zeros). The distance between a window and a centroid is the
#'   shape-based distance \eqn{SBD = 1 - \max_w NCC_w} reported on the
#'   Euclidean scale as \eqn{\sqrt{2 m\, SBD}} (\eqn{m} the window length),
#'   which is the Euclidean distance between the z-normalised window and the
#'   best-aligned centroid when the best shift is 0. Centroids are extracted
#'   as the leading eigenvector of \eqn{Q^T S Q} of the aligned members.
#'   Seeding is k-means++ style on SBD (the original paper starts from a
#'   random partition); the best of `n_start` restarts is kept. Pattern means
#'   and sds are computed on the z-normalised windows, without alignment.
#' * `"som"`: a self-organising map on a rectangular `som_dim[1]` x
#'   `som_dim[2]` grid (unit `u` at column `(u - 1) %% som_dim[1]`, row
#'   `(u - 1) %/% som_dim[1]`), Gaussian neighbourhood, learning rate and
#'   radius decaying linearly over `som_epochs` passes of online updates in
#'   a random order. Each window's cluster is its best matching unit; `k` is
#'   the number of units and `n_start` is not used. Units without members
#'   have `NA` patterns and are never assigned.
#'
#' Clusters of k-means and k-Shape are numbered by decreasing size (total
#' weight when `weights` are given).
#'
#' @section Weights:
#' `weights` gives every window a frequency weight. [cphap()] clusters each
#' distinct window of a layer once, with a weight equal to the number of
#' the layer's units that fire at that sample and node position, as the
#' original authors did (a window that fires 5 units counts 5 times, but is
#' not copied 5 times). k-means then runs weighted: weighted greedy
#' k-means++ seeding (first centre drawn proportional to the weight,
#' candidates proportional to weight x squared distance), weighted Lloyd
#' iterations (centres are weighted means) until no assignment changes, and
#' weighted Hartigan moves (a window of weight \eqn{v} moves from \eqn{j}
#' to \eqn{l} when \eqn{v W_l/(W_l+v)\,d_l^2 < v W_j/(W_j-v)\,d_j^2}, with
#' \eqn{W} the clusters' total weights), best of `n_start` restarts. With
#' whole-number weights every Lloyd step, the centres and the objective are
#' those of k-means on the windows repeated weight times, at a fraction of
#' the cost. k-Shape and the self-organising map need whole-number weights
#' and see each window repeated. Means, sds, mean distances, variances and
#' mixing weights are weighted (sd with denominator total weight - 1, as
#' for the repeated windows); `size` counts windows, `weighted_size` sums
#' their weights.
#'
#' @section Many windows, many workers:
#' With `window_chunk_size`, k-means (weighted or not) runs over chunks of
#' that many consecutive windows on the [future][future::plan] plan set by
#' the user (`future::plan(multisession)`, a cluster of machines,
#' `future.batchtools` on Slurm, ...; in this process without a plan). The
#' restarts are seeded here, reproducibly with [set.seed()]: weighted greedy
#' k-means++ and one weighted Lloyd step on a sample of `max(5000, 50 k)`
#' windows (all of them when there are fewer). Then all
#' restarts run weighted Lloyd iterations together: every round sends each
#' chunk of windows with the current centers to a worker, which returns
#' per-cluster weighted sums, weights and counts, its share of the
#' objective and its new labels; this process adds them up in chunk order,
#' re-seeds empty clusters as above and moves the centers. A restart stops
#' when no label changes (at most `max_iter` rounds); the one with the
#' lowest objective is kept. There are no Hartigan moves or swaps (they
#' move one window at a time), so the objective can be slightly higher than
#' in this process: on the windows of the package's benchmark the in-process
#' Hartigan moves lowered it by less than 0.03%.
#'
#' The workers keep nothing between rounds, so every round ships all windows
#' once (8 bytes per value) and the number of round trips is the number of
#' rounds of the slowest restart (at most `max_iter`, plus one when a
#' restart does not converge). Results depend on the chunks, never on the
#' plan or the number of workers: with the same `window_chunk_size` they are
#' identical on every plan. Chunks about as many as the workers (or a small
#' multiple) keep the round trips cheap; each worker uses the package's
#' threads shared among the workers of its machine (see the option
#' `cphap.threads`). The statistics of the clusters (means, sds,
#' belonging) are then computed in this process. An error on a worker stops
#' the call with an error of class `cphap_chunk_error` naming the chunk and
#' its windows. k must not exceed the number of distinct windows.
#'
#' @section Uncertainty of belonging:
#' Every window gets two calibrated quantities from a Gaussian mixture with
#' one component per cluster (windows z-normalised for k-Shape). Component
#' \eqn{j} has the cluster's weighted mean \eqn{\mu_j} and mixing weight
#' \eqn{\pi_j} (its share of the total weight). Let \eqn{W_j} be the
#' cluster's total weight, \eqn{s^2_{jt}} its weighted (maximum-likelihood)
#' variance at time \eqn{t} and \eqn{p_t = \sum_j W_j s^2_{jt} / \sum_j W_j}
#' the pooled within-cluster variance (floored at \eqn{10^{-6}} times its
#' mean).
#' * `ambiguity` (between patterns): the entropy of the posterior
#'   \eqn{q_j \propto \pi_j \exp(-\frac12 \sum_t (x_t - \mu_{jt})^2 / p_t)}
#'   over the clusters with members (pooled diagonal covariance), divided
#'   by \eqn{\log k} (\eqn{k} of them; 0 when \eqn{k = 1}): 0 when one
#'   pattern explains the window, 1 when all are equally likely, about
#'   \eqn{\log 2 / \log k} half-way between two equally common patterns.
#'   The covariance is pooled because with one covariance per cluster the
#'   posterior of a window far from every centre (such as the point
#'   half-way between two) is decided by small differences between the
#'   clusters' estimated variances rather than by where the window lies.
#' * `atypicality` (within its pattern): with the cluster's own diagonal
#'   covariance, shrunk towards the pooled one,
#'   \deqn{v_{jt} = \frac{W_j s^2_{jt} + 2 p_t}{W_j + 2},}{v_jt = (W_j s2_jt + 2 p_t) / (W_j + 2),}
#'   and \eqn{D^2_j(x) = \sum_t (x_t - \mu_{jt})^2 / v_{jt}}, the weighted
#'   share of the cluster's own training windows whose \eqn{D^2_j} is below
#'   the window's (ties count half). On the training windows it is spread
#'   evenly over \[0, 1\] (median 0.5); a window farther out than every
#'   training window of its pattern gets 1, so it flags inputs unlike
#'   anything seen in training, whatever their distance to other patterns.
#' * `distance_ratio`: the window's distance to its centroid over the mean
#'   member distance of its cluster (1 when both are 0).
#'
#' The original work reported, per pattern, the mean base-2 entropy of the
#' posteriors of Gaussian-mixture sub-clusters; see [pattern_entropy()].
#' An isotropic mixture (one variance per cluster) gives an entropy that is
#' near 0 for almost every window and cannot flag unusual windows, so it
#' is not used. Use [predict()][predict.cphap_clusters] to score new
#' windows.
#'
#' Results are reproducible with [set.seed()]: one number is drawn from R's
#' random number generator per call and the random streams of restarts and
#' epochs are derived from it, so the result does not depend on `threads`.
#'
#' @section Differences from the original work:
#' * Windows: give `weights` (the number of firing units of each distinct
#'   window) to cluster as the original work did; [cphap()] does so.
#' * Clustering: weighted k-means with `k = 12` by default, k-means++
#'   seeding and the best of `n_start = 10` restarts; after the Lloyd
#'   iterations, Hartigan moves and centroid swaps are tried and kept only
#'   when they lower the objective (on large problems only the best
#'   restart gets the moves; see
#'   the section Methods of this page).
#' * Uncertainty: the original work reported one entropy per pattern, from
#'   Gaussian-mixture sub-clusters inside it; it is available with
#'   [pattern_entropy()]. Every window here gets instead its `ambiguity`
#'   between patterns (posterior entropy under a mixture with one pooled
#'   diagonal covariance) and its `atypicality` within its pattern, with
#'   the `distance_ratio`.
#'
#' @param windows Numeric matrix, one window per row (all windows have the
#'   same length, the number of columns). Finite values only.
#' @param k Number of clusters, a whole number between 1 and `nrow(windows)`.
#'   For `method = "som"` the number of clusters is `prod(som_dim)` and `k`
#'   is not used.
#' @param method Clustering method: `"kmeans"`, `"kshape"` or `"som"`.
#' @param n_start Number of restarts (k-means and k-Shape); the restart with
#'   the lowest objective is kept.
#' @param max_iter Maximum number of Lloyd (k-means) or refinement
#'   (k-Shape) iterations; k-means also makes at most `max(max_iter, 10)`
#'   Hartigan passes.
#' @param som_dim Grid size of the self-organising map: columns and rows.
#' @param ... Must be empty; the arguments after it must be named.
#' @param som_epochs Passes over the windows for the self-organising map.
#'   `NULL` uses `min(100, max(1, ceiling(2e5 / nrow(windows))))`.
#' @param som_rate Learning rate at the start and at the end (linear decay).
#' @param som_radius Neighbourhood radius (standard deviation of the
#'   Gaussian, in grid units) at the start and at the end. `NULL` uses
#'   `c(max(1, max(som_dim) / 2), 0.5)`.
#' @param threads Number of threads, or `NULL` for the option
#'   `cphap.threads` (default: all available cores).
#' @param weights Optional frequency weight per window (positive; whole
#'   numbers for k-Shape and the map), see the section Weights. `NULL`
#'   weights every window 1.
#' @param window_chunk_size `NULL` (default) clusters in this process; a
#'   whole number runs k-means over chunks of that many windows on the
#'   user's future plan (see the section Many windows, many workers).
#'   k-means only.
#'
#' @return An object of class `cphap_clusters`, a list with
#' * `cluster`: integer cluster of every window (`n`);
#' * `centroids`: `k` x `m` matrix of the method's centroids (k-means: the
#'   cluster means; k-Shape: the z-normalised shapes; SOM: the prototypes);
#' * `mean`, `sd`: `k` x `m` matrices, per-time mean and standard deviation
#'   of the members (sd with denominator size - 1, 0 for one member);
#' * `size`: integer members (windows) per cluster; `weighted_size`: their
#'   total weight; `weights`: the window weights (all 1 without `weights`);
#' * `distance`, `distance_ratio`, `ambiguity`, `atypicality`: per window,
#'   see above;
#' * `model`: what scoring new windows needs: `weight` (cluster shares),
#'   `mean_distance`, `mixture` (means, shrunk variances, log mixing
#'   weights and the sorted reference distances of every cluster);
#' * `method`, `metric` (`"euclidean"` or `"shape"`), `k`, `n_windows`,
#'   `window_length`, `objective` (total within-cluster sum of squared
#'   distances), `iterations`, `converged`, `best_restart`, `settings`
#'   (the arguments used; with `window_chunk_size` also `chunks` and
#'   `rounds`, the round trips to the workers) and `grid` (SOM only: data frame of `unit`,
#'   `column`, `row`; `NULL` otherwise).
#'
#' @references
#' Paparrizos, J. and Gravano, L. (2015). k-Shape: Efficient and accurate
#' clustering of time series. *SIGMOD '15*, 1855-1870.
#'
#' Kohonen, T. (2001). *Self-Organizing Maps*, 3rd ed. Springer.
#'
#' @seealso [suggest_k()] to choose `k`, [cluster_validity()].
#' @export
#' @examples
#' set.seed(1)
#' tt <- seq(0, 1, length.out = 40)
#' shapes <- rbind(sin(2 * pi * tt), cos(2 * pi * tt), tt, -tt)
#' windows <- shapes[rep(1:4, each = 25), ] + matrix(rnorm(100 * 40, sd = 0.2), 100)
#' fit <- cluster_windows(windows, k = 4)
#' fit
#' head(as.data.frame(fit))
#' summary(fit)
#'
#' # shape-based clustering and a small self-organising map
#' cluster_windows(windows, k = 4, method = "kshape", n_start = 3)
#' cluster_windows(windows, method = "som", som_dim = c(3, 2))
cluster_windows <- function(windows, k = 12, method = c("kmeans", "kshape", "som"),
                            n_start = 10, max_iter = 100, som_dim = c(8, 8), ...,
                            som_epochs = NULL, som_rate = c(0.05, 0.01),
                            som_radius = NULL, threads = NULL, weights = NULL,
                            window_chunk_size = NULL) {
  check_dots_empty_cl(...)
  method <- match_arg_cl(method, c("kmeans", "kshape", "som"))
  windows <- check_windows(windows)
  n <- nrow(windows)
  weights <- check_window_weights(weights, n, whole = method != "kmeans")
  threads <- check_threads(threads)
  n_start <- check_whole(n_start, "n_start", min = 1)
  max_iter <- check_whole(max_iter, "max_iter", min = 1)
  settings <- list(n_start = n_start, max_iter = max_iter)
  if (method == "som") {
    som_dim <- check_whole_vector(som_dim, "som_dim", len = 2, min = 1)
    if (!missing(k)) {
      cli::cli_warn(c(
        "{.arg k} is not used by {.code method = \"som\"}.",
        "i" = "The map has {.code prod(som_dim)} = {prod(som_dim)} unit{?s}."
      ))
    }
    if (is.null(som_epochs)) som_epochs <- min(100, max(1, ceiling(2e5 / n)))
    som_epochs <- check_whole(som_epochs, "som_epochs", min = 1)
    som_rate <- check_pair(som_rate, "som_rate")
    if (is.null(som_radius)) som_radius <- c(max(1, max(som_dim) / 2), 0.5)
    som_radius <- check_pair(som_radius, "som_radius")
    settings <- list(som_dim = som_dim, som_epochs = som_epochs,
                     som_rate = som_rate, som_radius = som_radius)
  } else {
    k <- check_whole(k, "k", min = 1, max = n, max_what = "the number of windows")
  }
  if (method == "kshape") warn_constant_windows(windows)
  chunk_size <- check_window_chunk_size(window_chunk_size, method, n)
  if (is.null(chunk_size)) {
    fit <- fit_partition(windows, method, k, n_start, max_iter, threads,
                         settings, weights)
  } else {
    fit <- kmeans_distributed(windows, weights, k, n_start, max_iter,
                              chunk_size, threads)
    settings <- c(settings, list(window_chunk_size = chunk_size,
                                 chunks = fit$chunks, rounds = fit$rounds))
  }
  new_cphap_clusters(windows, fit, method, threads, settings, weights)
}

# `window_chunk_size`: NULL (k-means in this process) or a whole number of
# windows per chunk, k-means only.
check_window_chunk_size <- function(window_chunk_size, method, n) {
  if (is.null(window_chunk_size)) return(NULL)
  if (method != "kmeans") {
    cli::cli_abort(
      "{.arg window_chunk_size} needs {.code method = \"kmeans\"}, not {.val {method}}.",
      call = sys.call(-1)
    )
  }
  check_chunk_size(window_chunk_size, n, "window_chunk_size")
}

# Window weights: NULL (all 1) or one positive finite weight per window;
# whole numbers when the method repeats windows instead of weighting them.
check_window_weights <- function(weights, n, whole = FALSE) {
  if (is.null(weights)) return(NULL)
  ok <- is.numeric(weights) && length(weights) == n && !anyNA(weights) &&
    all(is.finite(weights)) && all(weights > 0) &&
    (!whole || all(weights == round(weights)))
  if (!ok) {
    what <- if (whole) "a positive whole number" else "a positive finite number"
    cli::cli_abort(
      "{.arg weights} must hold {what} per window ({n}) for this method.",
      call = sys.call(-1)
    )
  }
  as.double(weights)
}

# k-Shape cannot place constant windows: they z-normalise to zeros and have
# SBD 1 to every centroid (same rule as the C code).
warn_constant_windows <- function(windows) {
  mu <- rowMeans(windows)
  sdev <- sqrt(rowMeans((windows - mu)^2))
  n_const <- sum(!(sdev > 1e-12 * (abs(mu) + .Machine$double.xmin)))
  if (n_const > 0) {
    cli::cli_warn(c(
      "{n_const} window{?s} {?is/are} constant.",
      "i" = "k-Shape sees no shape in {cli::qty(n_const)}{?it/them}: shape distance 1 to every centroid."
    ), call = sys.call(-1))
  }
}

# Runs the C clustering routine of `method`; returns its raw list. With
# weights, k-means weights every window; k-Shape and the map see every
# window repeated weight times (identical rows always share their cluster).
fit_partition <- function(windows, method, k, n_start, max_iter, threads,
                          settings = NULL, weights = NULL) {
  if (!is.null(weights)) {
    if (method == "kmeans") {
      return(.Call(cp_kmeans_weighted_r, windows, weights, k, n_start,
                   max_iter, TRUE, NULL, threads))
    }
    rep_rows <- rep.int(seq_len(nrow(windows)), as.integer(weights))
    fit <- fit_partition(windows[rep_rows, , drop = FALSE], method, k,
                         n_start, max_iter, threads, settings)
    fit$cluster <- fit$cluster[match(seq_len(nrow(windows)), rep_rows)]
    return(fit)
  }
  switch(method,
    kmeans = .Call(cp_kmeans_r, windows, k, n_start, max_iter, threads),
    kshape = .Call(cp_kshape_r, windows, k, n_start, max_iter, threads),
    som = .Call(cp_som_r, windows, as.integer(settings$som_dim),
                settings$som_epochs, settings$som_rate, settings$som_radius,
                threads)
  )
}

method_metric <- function(method) if (method == "kshape") "shape" else "euclidean"

# Builds the cphap_clusters object: statistics of the partition and the soft
# assignment of the training windows.
new_cphap_clusters <- function(windows, fit, method, threads, settings,
                               weights = NULL) {
  metric <- method_metric(method)
  centroids <- fit$centers
  colnames(centroids) <- colnames(windows)
  stats <- .Call(cp_cluster_stats_r, windows, fit$cluster, centroids, metric,
                 threads, weights)
  wts <- weights %||% rep(1, nrow(windows))
  mixture <- belonging_fit(metric_windows(windows, metric), fit$cluster, wts,
                           nrow(centroids), threads = threads)
  model <- list(weight = stats$weight,
                mean_distance = stats$mean_distance, mixture = mixture)
  soft <- .Call(cp_soft_assign_r, windows, centroids, model$weight,
                ifelse(is.na(model$mean_distance), 0, model$mean_distance),
                metric, fit$cluster, threads)
  bel <- belonging_score(mixture, metric_windows(windows, metric), fit$cluster,
                         threads)
  colnames(stats$mean) <- colnames(stats$sd) <- colnames(windows)
  grid <- NULL
  if (method == "som") {
    dims <- settings$som_dim
    units <- seq_len(prod(dims))
    grid <- data.frame(unit = units, column = (units - 1L) %% dims[1],
                       row = (units - 1L) %/% dims[1])
  }
  structure(
    list(
      cluster = fit$cluster,
      centroids = centroids,
      mean = stats$mean,
      sd = stats$sd,
      size = stats$size,
      weighted_size = stats$weighted_size,
      weights = wts,
      distance = soft$distance,
      distance_ratio = soft$distance_ratio,
      ambiguity = bel$ambiguity,
      atypicality = bel$atypicality,
      model = model,
      method = method,
      metric = metric,
      k = nrow(centroids),
      n_windows = nrow(windows),
      window_length = ncol(windows),
      objective = fit$objective,
      iterations = fit$iterations,
      converged = fit$converged,
      best_restart = fit$restart,
      settings = settings,
      grid = grid
    ),
    class = "cphap_clusters"
  )
}

# The windows in the space the clusters live in: z-normalised rows for the
# shape metric, as given otherwise.
metric_windows <- function(windows, metric) {
  if (metric == "shape") znorm_windows(windows) else windows
}

# Scores windows against fitted clusters: nearest centroid among clusters
# with members (or the given assignment), distance, distance ratio,
# ambiguity and atypicality. Reused to score test samples against training
# patterns.
soft_assign <- function(object, windows, cluster = NULL, threads = NULL) {
  windows <- check_windows(windows)
  if (ncol(windows) != object$window_length) {
    cli::cli_abort(paste(
      "{.arg newdata} must have {object$window_length} column{?s} (the window",
      "length of the clusters), not {ncol(windows)}."
    ))
  }
  threads <- check_threads(threads)
  md <- object$model$mean_distance
  s <- .Call(cp_soft_assign_r, windows, object$centroids, object$model$weight,
             ifelse(is.na(md), 0, md), object$metric, cluster, threads)
  bel <- belonging_score(object$model$mixture,
                         metric_windows(windows, object$metric), s$cluster, threads)
  c(s, bel[c("ambiguity", "atypicality")])
}

#' @rdname cluster_windows
#' @param x,object A `cphap_clusters` object.
#' @export
print.cphap_clusters <- function(x, ...) {
  label <- c(kmeans = "k-means", kshape = "k-Shape",
             som = "self-organising map")[[x$method]]
  cli::cli_h1("cphap clusters")
  cli::cli_text(
    "{label} ({x$metric} distance): {x$k} cluster{?s} of {x$n_windows} ",
    "window{?s} of length {x$window_length}"
  )
  if (x$method == "som") {
    cli::cli_text("Grid {x$settings$som_dim[1]} x {x$settings$som_dim[2]}, ",
                  "{sum(x$size > 0)} unit{?s} with members, ",
                  "{x$iterations} epoch{?s}")
  } else {
    conv <- if (isTRUE(x$converged)) "converged" else "did not converge"
    cli::cli_text("Best of {x$settings$n_start} restart{?s} (restart ",
                  "{x$best_restart}); {conv} after {x$iterations} ",
                  "iteration{?s}")
    if (!is.null(x$settings$rounds)) {
      cli::cli_text("Lloyd rounds over {x$settings$chunks} chunk{?s} of at most ",
                    "{x$settings$window_chunk_size} windows: ",
                    "{x$settings$rounds} round trip{?s}")
    }
  }
  cli::cli_text("Objective (within-cluster sum of squares): ",
                "{format(x$objective, digits = 6)}")
  shown <- utils::head(which(x$size > 0), 20)
  sizes <- paste0(shown, ": ", x$size[shown], collapse = ", ")
  more <- sum(x$size > 0) - length(shown)
  if (more > 0) sizes <- paste0(sizes, ", ... (", more, " more)")
  cli::cli_text("Sizes: {sizes}")
  q <- stats::quantile(x$ambiguity, c(0.5, 0.9), names = FALSE)
  q <- formatC(q, format = "f", digits = 3)
  cli::cli_text("Ambiguity between patterns: median {q[1]}, 90% quantile {q[2]}")
  invisible(x)
}

#' @rdname cluster_windows
#' @return `summary()` returns a data frame with one row per cluster:
#'   `cluster`, `size`, `share`, `mean_distance` (mean member distance to
#'   the centroid), `mean_ambiguity`, `mean_atypicality` and
#'   `max_distance_ratio`.
#' @export
summary.cphap_clusters <- function(object, ...) {
  k <- object$k
  cl <- factor(object$cluster, levels = seq_len(k))
  agg <- function(v, f) {
    out <- vapply(split(v, cl), function(z) if (length(z)) f(z) else NA_real_,
                  numeric(1))
    unname(out)
  }
  out <- data.frame(
    cluster = seq_len(k),
    size = object$size,
    share = object$size / object$n_windows,
    mean_distance = agg(object$distance, mean),
    mean_ambiguity = agg(object$ambiguity, mean),
    mean_atypicality = agg(object$atypicality, mean),
    max_distance_ratio = agg(object$distance_ratio, max)
  )
  attr(out, "method") <- object$method
  attr(out, "objective") <- object$objective
  class(out) <- c("summary.cphap_clusters", "data.frame")
  out
}

#' @export
print.summary.cphap_clusters <- function(x, ...) {
  cat("Clusters (", attr(x, "method"), "), objective ",
      format(attr(x, "objective"), digits = 6), "\n", sep = "")
  print(as.data.frame(unclass(x), stringsAsFactors = FALSE), row.names = FALSE,
        digits = 4)
  invisible(x)
}

#' @rdname cluster_windows
#' @param row.names,optional Ignored; present for compatibility with
#'   [as.data.frame()].
#' @return `as.data.frame()` returns one row per window: `window` (row of
#'   `windows`), `cluster`, `distance`, `distance_ratio`, `ambiguity`,
#'   `atypicality`, `weight`.
#' @export
as.data.frame.cphap_clusters <- function(x, row.names = NULL, optional = FALSE,
                                         ...) {
  data.frame(
    window = seq_len(x$n_windows),
    cluster = x$cluster,
    distance = x$distance,
    distance_ratio = x$distance_ratio,
    ambiguity = x$ambiguity,
    atypicality = x$atypicality,
    weight = x$weights
  )
}

#' Score new windows against fitted clusters
#'
#' Assigns each new window to the nearest centroid (among clusters with
#' members) and reports its distance, distance ratio, ambiguity between
#' patterns and atypicality within its pattern under the fitted clusters'
#' mixture model (see the section "Uncertainty of belonging" of
#' [cluster_windows()]). A window unlike every training window of its
#' pattern gets an atypicality near 1. Use it to ask how well a test sample's periods fit
#' the patterns learned from the training data.
#'
#' @param object A `cphap_clusters` object from [cluster_windows()].
#' @param newdata Numeric matrix of windows with as many columns as the
#'   clustered windows. For k-Shape clusters they are z-normalised first.
#' @param threads Number of threads, or `NULL` for the option
#'   `cphap.threads`.
#' @param ... Not used.
#' @return A data frame with one row per new window: `window`, `cluster`,
#'   `distance`, `distance_ratio`, `ambiguity`, `atypicality`.
#' @export
#' @examples
#' set.seed(1)
#' tt <- seq(0, 1, length.out = 30)
#' shapes <- rbind(sin(2 * pi * tt), tt)
#' train <- shapes[rep(1:2, 50), ] + matrix(rnorm(100 * 30, sd = 0.1), 100)
#' fit <- cluster_windows(train, k = 2)
#' # a centre, the average of the two centres, an amplified pattern
#' test <- rbind(shapes[1, ], (shapes[1, ] + shapes[2, ]) / 2, 5 * shapes[1, ])
#' predict(fit, test)
predict.cphap_clusters <- function(object, newdata, threads = NULL, ...) {
  if (missing(newdata)) return(as.data.frame(object))
  s <- soft_assign(object, newdata, threads = threads)
  data.frame(window = seq_along(s$cluster), cluster = s$cluster,
             distance = s$distance, distance_ratio = s$distance_ratio,
             ambiguity = s$ambiguity, atypicality = s$atypicality)
}

#' Validity indices of a partition of windows
#'
#' Computes the mean silhouette width and the Calinski-Harabasz index of a
#' given partition, both "larger is better".
#'
#' The silhouette of window \eqn{i} is \eqn{(b_i - a_i) / \max(a_i, b_i)}
#' with \eqn{a_i} the mean distance to the other members of its cluster and
#' \eqn{b_i} the smallest mean distance to the members of another cluster
#' (0 for a window alone in its cluster), as in `cluster::silhouette()`. It
#' needs all pairwise distances, so with more than `sample_size` windows it
#' is computed on a random sample of them (reproducible with [set.seed()]).
#' The Calinski-Harabasz index is \eqn{[B / (k - 1)] / [W / (n - k)]} with
#' \eqn{B} and \eqn{W} the between- and within-cluster sums of squares
#' (always Euclidean; on z-normalised windows for `distance = "shape"`),
#' and `k` the number of non-empty clusters. Both are `NA` for fewer than
#' two non-empty clusters.
#'
#' @param windows Numeric matrix, one window per row.
#' @param cluster Whole-number cluster labels >= 1 of the windows (any
#'   distinct values: 1 and 1e9 are two clusters), or a `cphap_clusters`
#'   object (its labels and its distance are used).
#' @param index Which indices: `"silhouette"` and/or `"calinski_harabasz"`.
#' @param distance `"euclidean"`, or `"shape"` for the k-Shape distance on
#'   z-normalised windows.
#' @param sample_size Largest number of windows for the silhouette.
#' @param threads Number of threads, or `NULL` for the option
#'   `cphap.threads`.
#' @return A named numeric vector with the requested indices.
#' @seealso [suggest_k()]
#' @export
#' @examples
#' set.seed(1)
#' windows <- rbind(matrix(rnorm(200), 20), matrix(rnorm(200, mean = 3), 20))
#' cluster_validity(windows, rep(1:2, each = 20))
cluster_validity <- function(windows, cluster,
                             index = c("silhouette", "calinski_harabasz"),
                             distance = c("euclidean", "shape"),
                             sample_size = 2000, threads = NULL) {
  windows <- check_windows(windows)
  if (inherits(cluster, "cphap_clusters")) {
    if (missing(distance)) distance <- cluster$metric
    k <- cluster$k
    cluster <- cluster$cluster
  } else {
    k <- NULL
  }
  cluster <- check_cluster_labels(cluster, nrow(windows), relabel = is.null(k))
  if (is.null(k)) k <- max(cluster)
  index <- match_arg_cl(index, c("silhouette", "calinski_harabasz"),
                        several_ok = TRUE)
  distance <- match_arg_cl(distance, c("euclidean", "shape"))
  sample_size <- check_whole(sample_size, "sample_size", min = 2)
  threads <- check_threads(threads)
  out <- c(silhouette = NA_real_, calinski_harabasz = NA_real_)
  if ("silhouette" %in% index) {
    out[["silhouette"]] <- silhouette_mean(
      windows, cluster, k, distance, sample_rows(nrow(windows), sample_size),
      threads
    )
  }
  if ("calinski_harabasz" %in% index) {
    out[["calinski_harabasz"]] <- .Call(cp_calinski_harabasz_r, windows,
                                        cluster, k, distance)
  }
  out[index]
}

# Rows used for the silhouette: all, or a sorted random sample.
sample_rows <- function(n, sample_size) {
  if (n <= sample_size) seq_len(n) else sort(sample.int(n, sample_size))
}

silhouette_mean <- function(windows, cluster, k, distance, rows, threads,
                            d = NULL) {
  if (is.null(d)) {
    d <- .Call(cp_pairdist_r, windows[rows, , drop = FALSE], distance, threads)
  }
  width <- .Call(cp_silhouette_r, d, cluster[rows], as.integer(k), threads)
  mean(width)
}

#' Suggest the number of clusters
#'
#' Clusters the windows for every `k` and reports a validity index (see
#' [cluster_validity()]), so that the `k` with the largest value can be
#' chosen.
#'
#' @inheritParams cluster_windows
#' @param windows Numeric matrix, one window per row, or a `cphap_result`
#'   from [cphap()]: then every clustered window set (layer and input
#'   channel) is examined on the windows [cphap()] clustered.
#' @param k Candidate numbers of clusters, whole numbers between 2 and
#'   `nrow(windows)`. For a `cphap_result` the default is 2 to 15 (below
#'   each set's number of windows), and larger candidates are left out.
#' @param index `"silhouette"` (mean silhouette width) or
#'   `"calinski_harabasz"`.
#' @param method `"kmeans"` or `"kshape"` (for a `cphap_result`, by default
#'   its own method, k-means for `"som"`).
#' @param sample_size Largest number of windows for the silhouette; above
#'   it, the silhouette of every `k` is computed on the same random sample
#'   (the clustering always uses all windows).
#' @return A data frame with one row per `k`: `k`, `index` (its name),
#'   `value` and `best` (`TRUE` for the largest value, the first on ties).
#'   The best `k` is also in the attribute `"best_k"`. For a `cphap_result`,
#'   the rows of every clustered window set (columns `set`, `layer` and
#'   `input_channel` first) and `"best_k"` named by set.
#' @seealso [cluster_windows()], [cluster_validity()]
#' @export
#' @examples
#' set.seed(2)
#' centers <- matrix(rnorm(3 * 20, sd = 3), 3)
#' windows <- centers[rep(1:3, each = 30), ] + matrix(rnorm(90 * 20), 90)
#' res <- suggest_k(windows, k = 2:6, n_start = 3)
#' res
#' attr(res, "best_k")
#'
#' # on the patterns of a trained network
#' cr <- cphap(demo_model(), gunpoint$train, layers = "conv1", k = 4)
#' attr(suggest_k(cr, k = 2:6, n_start = 3), "best_k")
suggest_k <- function(windows, k = 2:15, index = c("silhouette", "calinski_harabasz"),
                      method = c("kmeans", "kshape"), n_start = 10,
                      max_iter = 100, ..., sample_size = 2000, threads = NULL) {
  check_dots_empty_cl(...)
  if (inherits(windows, "cphap_result")) {
    return(suggest_k_result(windows, if (!missing(k)) k, index,
      if (!missing(method)) method, n_start, max_iter, sample_size, threads
    ))
  }
  windows <- check_windows(windows)
  n <- nrow(windows)
  index <- match_arg_cl(index, c("silhouette", "calinski_harabasz"))
  method <- match_arg_cl(method, c("kmeans", "kshape"))
  k <- check_whole_vector(k, "k", min = 2, max = n,
                          max_what = "the number of windows")
  n_start <- check_whole(n_start, "n_start", min = 1)
  max_iter <- check_whole(max_iter, "max_iter", min = 1)
  sample_size <- check_whole(sample_size, "sample_size", min = 2)
  threads <- check_threads(threads)
  distance <- method_metric(method)
  d <- NULL
  rows <- NULL
  if (index == "silhouette") {
    rows <- sample_rows(n, sample_size)
    d <- .Call(cp_pairdist_r, windows[rows, , drop = FALSE], distance, threads)
  }
  value <- vapply(k, function(kk) {
    fit <- fit_partition(windows, method, kk, n_start, max_iter, threads)
    if (index == "silhouette") {
      silhouette_mean(windows, fit$cluster, kk, distance, rows, threads, d = d)
    } else {
      .Call(cp_calinski_harabasz_r, windows, fit$cluster, kk, distance)
    }
  }, numeric(1))
  best <- if (all(is.na(value))) NA_integer_ else which.max(value)
  out <- data.frame(k = k, index = index, value = value,
                    best = seq_along(k) %in% best)
  attr(out, "best_k") <- if (is.na(best)) NA_integer_ else k[best]
  out
}

# suggest_k() for every clustered window set of a cphap() result: the
# candidates stop below each set's number of windows; the method is the
# result's (k-means for a self-organising map).
suggest_k_result <- function(result, k, index, method, n_start, max_iter, sample_size,
                             threads) {
  if (is.null(method)) {
    method <- if (result$settings$method == "som") "kmeans" else result$settings$method
  }
  sets <- result$sets[result$sets$set %in% names(result$clusters) & result$sets$n_distinct >= 3L, ]
  if (nrow(sets) == 0L) {
    cli::cli_abort("{.arg windows}: the result has no window set with at least 3 windows.", call = NULL)
  }
  parts <- lapply(seq_len(nrow(sets)), function(i) {
    nw <- sets$n_distinct[i]
    kk <- if (is.null(k)) 2:min(15L, nw - 1L) else k[k <= nw]
    if (length(kk) == 0L) {
      return(NULL)
    }
    sk <- suggest_k(result_windows(result, sets[i, ]), kk,
      index = index, method = method, n_start = n_start, max_iter = max_iter,
      sample_size = sample_size, threads = threads
    )
    cbind(set = sets$set[i], layer = sets$layer[i], input_channel = sets$input_channel[i], sk)
  })
  out <- do.call(rbind, parts)
  best <- out[out$best, ]
  attr(out, "best_k") <- stats::setNames(best$k, best$set)
  out
}

# Adjusted Rand index of two partitions (Hubert and Arabie, 1985).
adjusted_rand_index <- function(a, b) {
  tab <- table(a, b)
  comb2 <- function(v) sum(v * (v - 1) / 2)
  s_ij <- comb2(tab)
  s_a <- comb2(rowSums(tab))
  s_b <- comb2(colSums(tab))
  expected <- s_a * s_b / comb2(length(a))
  maximum <- (s_a + s_b) / 2
  if (maximum == expected) return(1)
  (s_ij - expected) / (maximum - expected)
}

# Per-window z-normalisation as used by k-Shape (population sd; constant
# windows become zeros).
znorm_windows <- function(windows) {
  out <- .Call(cp_znorm_rows_r, check_windows(windows))
  dimnames(out) <- dimnames(windows)
  out
}

# ---------------------------------------------------------------------------
# Argument checks (errors name the argument and what was expected)

check_dots_empty_cl <- function(...) {
  if (...length() > 0) {
    nms <- names(list(...))
    nms <- if (is.null(nms)) character() else nms[nms != ""]
    cli::cli_abort(c(
      "Arguments in {.arg ...} must be empty.",
      "i" = if (length(nms)) "Unknown or misspelled argument{?s}: {.arg {nms}}."
        else "Arguments after {.arg ...} must be named."
    ), call = sys.call(-1))
  }
}

match_arg_cl <- function(x, choices, several_ok = FALSE) {
  arg <- deparse(substitute(x))
  if (is.character(x) && identical(x, choices) && !several_ok) return(choices[1])
  if (!is.character(x) || length(x) < 1 || anyNA(x) ||
      (!several_ok && length(x) != 1) || !all(x %in% choices)) {
    cli::cli_abort(
      "{.arg {arg}} must be {if (several_ok) 'one or more of' else 'one of'} {.val {choices}}.",
      call = sys.call(-1)
    )
  }
  unique(x)
}

check_windows <- function(windows, arg = "windows") {
  call <- sys.call(-1)
  if (is.data.frame(windows)) windows <- as.matrix(windows)
  if (!is.matrix(windows) || !is.numeric(windows)) {
    cli::cli_abort(
      "{.arg {arg}} must be a numeric matrix (one window per row), not {.obj_type_friendly {windows}}.",
      call = call
    )
  }
  if (nrow(windows) < 1 || ncol(windows) < 1) {
    cli::cli_abort(
      "{.arg {arg}} must have at least one row and one column, not {nrow(windows)} x {ncol(windows)}.",
      call = call
    )
  }
  # anyNA(), min() and max() allocate nothing the size of the windows
  if (anyNA(windows) || !is.finite(min(windows)) || !is.finite(max(windows))) {
    cli::cli_abort(
      "{.arg {arg}} must contain finite values only (no {.code NA}, {.code NaN} or {.code Inf}).",
      call = call
    )
  }
  storage.mode(windows) <- "double"
  windows
}


check_whole_vector <- function(x, arg, len = NULL, min = -Inf, max = Inf,
                               max_what = NULL) {
  call <- sys.call(-1)
  ok <- is.numeric(x) && length(x) >= 1 && !anyNA(x) && all(is.finite(x)) &&
    all(x == round(x)) && (is.null(len) || length(x) == len)
  if (!ok) {
    what <- if (is.null(len)) "a vector of whole numbers" else paste(len, "whole numbers")
    cli::cli_abort("{.arg {arg}} must be {what}, not {.obj_type_friendly {x}}.", call = call)
  }
  if (max > .Machine$integer.max) max <- .Machine$integer.max
  if (any(x < min | x > max)) {
    upper <- if (is.finite(max)) {
      paste0(" and at most ", max, if (!is.null(max_what)) paste0(" (", max_what, ")"))
    } else {
      ""
    }
    cli::cli_abort("Every element of {.arg {arg}} must be at least {min}{upper}.", call = call)
  }
  as.integer(x)
}

check_pair <- function(x, arg) {
  call <- sys.call(-1)
  if (!is.numeric(x) || length(x) != 2 || anyNA(x) || any(!is.finite(x)) ||
      any(x < 0)) {
    cli::cli_abort("{.arg {arg}} must be two finite non-negative numbers (start, end).",
                   call = call)
  }
  as.double(x)
}

# relabel: labels need not be consecutive (1 and 1e9 are two clusters); they
# become 1, 2, ... in increasing order, which leaves the indices unchanged.
check_cluster_labels <- function(cluster, n, relabel = FALSE) {
  call <- sys.call(-1)
  ok <- is.numeric(cluster) && length(cluster) == n && !anyNA(cluster) &&
    all(is.finite(cluster)) && all(cluster == round(cluster)) && all(cluster >= 1)
  if (!ok) {
    cli::cli_abort(
      "{.arg cluster} must hold one whole-number label >= 1 per window ({n}).",
      call = call
    )
  }
  if (relabel) {
    return(match(cluster, sort(unique(cluster))))
  }
  if (any(cluster > n)) {
    cli::cli_abort("{.arg cluster} labels must not exceed the number of windows ({n}).",
      call = call
    )
  }
  as.integer(cluster)
}

check_threads <- function(threads) {
  if (is.null(threads)) threads <- getOption("cphap.threads")
  if (is.null(threads)) return(NULL)
  ok <- is.numeric(threads) && length(threads) == 1 && !is.na(threads) &&
    threads >= 1 && threads == round(threads)
  if (!ok) {
    cli::cli_abort(
      "{.arg threads} (or the option {.code cphap.threads}) must be a whole number >= 1.",
      call = sys.call(-1)
    )
  }
  cap_threads(threads, "{.arg threads} (or the option {.code cphap.threads})")
}
