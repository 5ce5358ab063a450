# The bridge between the pattern framework and the clustering engine.
# cluster_windows() (R/cluster.R, the clustering engine) is used when it is
# part of the package; until then a fallback on stats::kmeans() computes the
# same statistics in R so that cphap() works end to end.

has_cluster_engine <- function() {
  exists("cluster_windows", envir = asNamespace("cphap"), mode = "function", inherits = FALSE)
}

# Cluster a window matrix; returns a cphap_clusters object (the engine's, or
# the fallback's with the same fields).
run_clustering <- function(windows, k, method, ...) {
  if (has_cluster_engine()) {
    fn <- get("cluster_windows", envir = asNamespace("cphap"))
    if (method == "som") {
      return(fn(windows, method = method, ...))
    }
    return(fn(windows, k = k, method = method, ...))
  }
  if (method != "kmeans") {
    cli::cli_abort("{.arg method} {.val {method}} needs the clustering engine, which is not part of this build; use {.val kmeans}.",
      call = NULL
    )
  }
  fallback_kmeans(windows, k, ...)
}

# Score windows against fitted clusters: data frame cluster, distance,
# distance_ratio, entropy.
score_windows <- function(cl, windows) {
  if (!inherits(cl, "cphap_clusters_fallback")) {
    s <- stats::predict(cl, windows)
    return(s[, c("cluster", "distance", "distance_ratio", "entropy")])
  }
  fallback_score(cl, windows)
}

fallback_kmeans <- function(windows, k, n_start = 10, max_iter = 100, ...) {
  n <- nrow(windows)
  m <- ncol(windows)
  km <- if (k == 1L) {
    list(cluster = rep(1L, n), centers = matrix(colMeans(windows), 1L))
  } else {
    stats::kmeans(windows, k, nstart = n_start, iter.max = max_iter)
  }
  # number clusters by decreasing size (as the engine does)
  size <- tabulate(km$cluster, k)
  ord <- order(-size, seq_len(k))
  cluster <- match(km$cluster, ord)
  centroids <- km$centers[ord, , drop = FALSE]
  size <- size[ord]
  mean <- centroids
  sdm <- matrix(0, k, m)
  dist <- sqrt(rowSums((windows - centroids[cluster, , drop = FALSE])^2))
  mean_dist <- numeric(k)
  var <- numeric(k)
  for (j in seq_len(k)) {
    w <- windows[cluster == j, , drop = FALSE]
    if (nrow(w) > 1L) sdm[j, ] <- apply(w, 2L, stats::sd)
    mean_dist[j] <- mean(dist[cluster == j])
    var[j] <- mean(dist[cluster == j]^2) / m
  }
  pooled <- sum(dist^2) / (n * m)
  floor <- if (pooled > 0) 1e-6 * pooled else 1
  var <- pmax(var, floor)
  obj <- structure(
    list(
      cluster = cluster, centroids = centroids, mean = mean, sd = sdm, size = size,
      distance = dist, model = list(weight = size / n, variance = var, mean_distance = mean_dist),
      method = "kmeans", metric = "euclidean", k = k, n_windows = n, window_length = m
    ),
    class = c("cphap_clusters_fallback", "cphap_clusters")
  )
  s <- fallback_score(obj, windows, cluster)
  obj$distance_ratio <- s$distance_ratio
  obj$entropy <- s$entropy
  obj
}

fallback_score <- function(cl, windows, given = NULL) {
  cen <- cl$centroids
  w <- cl$model$weight
  v <- cl$model$variance
  m <- ncol(windows)
  d2 <- outer(rowSums(windows^2), rowSums(cen^2), "+") - 2 * windows %*% t(cen)
  d2 <- pmax(d2, 0)
  ok <- which(w > 0)
  logp <- sweep(-d2[, ok, drop = FALSE], 2L, 2 * v[ok], "/")
  logp <- sweep(logp, 2L, log(w[ok]) - m / 2 * log(v[ok]), "+")
  mx <- apply(logp, 1L, max)
  p <- exp(logp - mx)
  p <- p / rowSums(p)
  ent <- if (length(ok) > 1L) -rowSums(ifelse(p > 0, p * log(p), 0)) / log(length(ok)) else 0
  cluster <- if (is.null(given)) ok[max.col(-d2[, ok, drop = FALSE], ties.method = "first")] else given
  dist <- sqrt(d2[cbind(seq_len(nrow(windows)), cluster)])
  md <- cl$model$mean_distance[cluster]
  ratio <- ifelse(md > 0, dist / md, ifelse(dist > 0, Inf, 1))
  data.frame(cluster = cluster, distance = dist, distance_ratio = ratio, entropy = ent)
}

# Per-window z-normalisation (population sd; constant windows become 0), as
# k-Shape sees its windows.
znorm_window_rows <- function(w) {
  mu <- rowMeans(w)
  dev <- w - mu
  s <- sqrt(rowMeans(dev^2))
  z <- dev / s
  z[s == 0, ] <- 0
  z
}
