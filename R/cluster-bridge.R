# The bridge between the pattern framework and the clustering engine
# (R/cluster.R): one place that calls cluster_windows() and scores new
# windows, so that cphap() and explain_sample() stay independent of its
# arguments.

# Cluster a window matrix; returns a cphap_clusters object. The
# self-organising map takes its number of clusters from som_dim, not k.
run_clustering <- function(windows, k, method, ..., weights = NULL) {
  if (method == "som") {
    return(cluster_windows(windows, method = method, ..., weights = weights))
  }
  cluster_windows(windows, k = k, method = method, ..., weights = weights)
}

# Score windows against fitted clusters: data frame cluster, distance,
# distance_ratio, ambiguity, atypicality.
score_windows <- function(cl, windows) {
  s <- stats::predict(cl, windows)
  s[, c("cluster", "distance", "distance_ratio", "ambiguity", "atypicality")]
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
