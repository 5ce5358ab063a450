# Four planted shapes plus noise. With `shift` > 0 every window is cut at a
# random offset of a longer series, and with `rescale = TRUE` it gets a random
# amplitude and level (what k-Shape is invariant to).
planted_shapes <- function(n_per = 30, m = 40, noise = 0.25, shift = 0,
                           rescale = FALSE) {
  tt <- seq(0, 1, length.out = m + 2 * shift)
  base <- rbind(
    sin(2 * pi * 2 * tt),
    sign(sin(2 * pi * 1.5 * tt)),
    (tt * 4) %% 1,
    exp(-((tt - 0.5) / 0.08)^2)
  )
  label <- rep(1:4, each = n_per)
  x <- t(vapply(label, function(j) {
    s <- if (shift > 0) sample.int(2 * shift + 1, 1) - 1 else 0
    w <- base[j, s + seq_len(m)]
    if (rescale) w <- w * stats::runif(1, 0.5, 2) + stats::rnorm(1, 0, 3)
    w + stats::rnorm(m, sd = noise)
  }, numeric(m)))
  list(x = x, label = label)
}

ari <- function(a, b) cphap:::adjusted_rand_index(a, b)

test_that("adjusted Rand index helper is right on known cases", {
  expect_equal(ari(c(1, 1, 2, 2), c(5, 5, 7, 7)), 1)
  expect_equal(ari(c(1, 1, 2, 2), c(1, 2, 1, 2)), -0.5)
  # Hubert-Arabie by hand: sum of pairs in cells 2, rows 6, columns 3, all 15
  a <- c(1, 1, 1, 2, 2, 2)
  b <- c(1, 1, 2, 2, 3, 3)
  expect_equal(ari(a, b), (2 - 6 * 3 / 15) / (0.5 * (6 + 3) - 6 * 3 / 15))
})

test_that("k-means and k-Shape recover planted shapes", {
  set.seed(11)
  d <- planted_shapes(n_per = 30, m = 40)
  fit <- cluster_windows(d$x, k = 4, n_start = 5)
  expect_gte(ari(fit$cluster, d$label), 0.9)

  set.seed(12)
  s <- planted_shapes(n_per = 30, m = 40, shift = 4, rescale = TRUE)
  fk <- cluster_windows(s$x, k = 4, method = "kshape", n_start = 5)
  expect_gte(ari(fk$cluster, s$label), 0.9)
  # the centroids are z-normalised shapes
  expect_equal(unname(rowMeans(fk$centroids)), rep(0, 4), tolerance = 1e-10)
  expect_equal(unname(rowMeans(fk$centroids^2)), rep(1, 4), tolerance = 1e-10)
})

test_that("k-Shape uses the FFT path for long windows with the same result", {
  set.seed(13)
  s <- planted_shapes(n_per = 20, m = 150, shift = 10, rescale = TRUE, noise = 0.3)
  fk <- cluster_windows(s$x, k = 4, method = "kshape", n_start = 3)
  expect_gte(ari(fk$cluster, s$label), 0.9)
  # shape distances agree with a direct R computation of SBD
  z <- cphap:::znorm_windows(s$x[1:3, ])
  c1 <- fk$centroids[1, ]
  sbd <- function(x, y) {
    m <- length(x)
    cc <- vapply(seq(-(m - 1), m - 1), function(w) {
      idx <- seq_len(m)
      ok <- idx + w >= 1 & idx + w <= m
      sum(x[idx[ok] + w] * y[idx[ok]])
    }, numeric(1))
    1 - max(cc) / sqrt(sum(x^2) * sum(y^2))
  }
  got <- predict(fk, s$x[1:3, ])
  mine <- cphap:::soft_assign(fk, s$x[1:3, ], cluster = rep(1L, 3))
  want <- sqrt(2 * 150 * vapply(1:3, function(i) sbd(z[i, ], c1), numeric(1)))
  expect_equal(mine$distance, want, tolerance = 1e-10)
  expect_true(all(got$cluster %in% 1:4))
})

tot_withinss <- function(x, cl) {
  sum(vapply(split(seq_len(nrow(x)), cl), function(i) {
    sum(scale(x[i, , drop = FALSE], scale = FALSE)^2)
  }, numeric(1)))
}

test_that("k-means objective is no worse than stats::kmeans", {
  set.seed(21)
  blobs <- matrix(stats::rnorm(300 * 5), 300) +
    matrix(stats::rnorm(6 * 5, sd = 3), 6)[rep(1:6, 50), ]
  cases <- list(
    list(x = as.matrix(iris[, 1:4]), k = 3),
    list(x = as.matrix(iris[, 1:4]), k = 5),
    list(x = scale(as.matrix(USArrests)), k = 4),
    list(x = blobs, k = 6),
    list(x = planted_shapes(25, 30)$x, k = 4)
  )
  for (case in cases) {
    set.seed(3)
    ours <- cluster_windows(case$x, k = case$k, n_start = 10)
    theirs <- stats::kmeans(case$x, case$k, nstart = 10, iter.max = 100)
    expect_lte(ours$objective, theirs$tot.withinss * (1 + 1e-9))
    # the reported objective is the within sum of squares of the partition
    expect_equal(ours$objective, tot_withinss(case$x, ours$cluster))
    # centroids are the cluster means, sizes decreasing
    means <- rowsum(case$x, ours$cluster) / as.vector(table(ours$cluster))
    expect_equal(unname(ours$centroids), unname(means), tolerance = 1e-10)
    expect_equal(unname(ours$mean), unname(means), tolerance = 1e-10)
    expect_false(is.unsorted(rev(ours$size)))
  }
})

test_that("k-means partitions are stable under single moves (Hartigan)", {
  set.seed(5)
  x <- matrix(stats::runif(400), 200)
  fit <- cluster_windows(x, k = 7, n_start = 2)
  cl <- fit$cluster
  cen <- fit$centroids
  n <- tabulate(cl, 7)
  gain <- 0
  for (i in seq_len(nrow(x))) {
    j <- cl[i]
    if (n[j] <= 1) next
    keep <- sum((x[i, ] - cen[j, ])^2) * n[j] / (n[j] - 1)
    for (l in setdiff(1:7, j)) {
      move <- sum((x[i, ] - cen[l, ])^2) * n[l] / (n[l] + 1)
      gain <- max(gain, keep - move)
    }
  }
  expect_lte(gain, 1e-10)
})

test_that("large k-means problems end Hartigan-stable, also far from the origin", {
  set.seed(6)
  x <- matrix(stats::runif(6000 * 30), 6000) + 1000
  fit <- cluster_windows(x, k = 6, n_start = 10)
  cl <- fit$cluster
  n <- tabulate(cl, 6)
  d2 <- sapply(1:6, function(l) rowSums(sweep(x, 2, fit$centroids[l, ])^2))
  keep <- d2[cbind(seq_len(nrow(x)), cl)] * n[cl] / (n[cl] - 1)
  move <- sweep(d2, 2, n / (n + 1), `*`)
  move[cbind(seq_len(nrow(x)), cl)] <- Inf
  expect_lte(max(keep - apply(move, 1, min)), 1e-8 * mean(keep))
})

test_that("results are reproducible with set.seed and independent of threads", {
  set.seed(31)
  d <- planted_shapes(n_per = 40, m = 50, shift = 3, noise = 0.6)
  run <- function(method, threads) {
    set.seed(7)
    if (method == "som") {
      cluster_windows(d$x, method = "som", som_dim = c(3, 3), threads = threads)
    } else {
      cluster_windows(d$x, k = 4, method = method, n_start = 3, threads = threads)
    }
  }
  for (method in c("kmeans", "kshape", "som")) {
    a <- run(method, 1)
    expect_identical(a, run(method, 1))
    expect_identical(a, run(method, 2))
  }
  # a larger case where the parallel loops really split the work
  set.seed(32)
  big <- matrix(stats::rnorm(3000 * 40), 3000)
  set.seed(8)
  a <- cluster_windows(big, k = 8, n_start = 2, threads = 1)
  set.seed(8)
  b <- cluster_windows(big, k = 8, n_start = 2, threads = 2)
  expect_identical(a, b)
  # large enough for the blocked Lloyd-only restarts and parallel scans
  set.seed(33)
  large <- matrix(stats::rnorm(12000 * 48), 12000)
  set.seed(9)
  a <- cluster_windows(large, k = 8, n_start = 3, threads = 1)
  set.seed(9)
  b <- cluster_windows(large, k = 8, n_start = 3, threads = 2)
  expect_identical(a, b)
})

test_that("large k-means problems (Lloyd restarts, polished best) beat stats::kmeans", {
  set.seed(22)
  blobs <- matrix(stats::rnorm(6000 * 30), 6000) +
    matrix(stats::rnorm(10 * 30, sd = 0.7), 10)[rep(1:10, 600), ]
  set.seed(4)
  ours <- cluster_windows(blobs, k = 10, n_start = 10)
  theirs <- stats::kmeans(blobs, 10, nstart = 10, iter.max = 100)
  expect_lte(ours$objective, theirs$tot.withinss * (1 + 1e-9))
  expect_equal(ours$objective, tot_withinss(blobs, ours$cluster))
})

test_that("ambiguity is near 0 at a centroid and high half-way between two", {
  set.seed(41)
  centers <- matrix(c(0, 0, 10, 10, 0, 10, 0, 10), 4)
  x <- centers[rep(1:4, each = 25), ] + matrix(stats::rnorm(200, sd = 0.5), 100)
  fit <- cluster_windows(x, k = 4)
  expect_true(all(fit$ambiguity >= 0 & fit$ambiguity <= 1))
  expect_true(all(fit$atypicality >= 0 & fit$atypicality <= 1))
  at_center <- predict(fit, fit$mean)
  expect_equal(at_center$cluster, 1:4)
  expect_true(all(at_center$ambiguity < 1e-3))
  expect_equal(at_center$atypicality, rep(0, 4))
  # windows on the way from one centroid to another pass a point of doubt
  path <- t(vapply(seq(0, 1, by = 0.001), function(s) {
    (1 - s) * fit$centroids[1, ] + s * fit$centroids[2, ]
  }, numeric(2)))
  h <- predict(fit, path)$ambiguity
  expect_gt(max(h), 0.4)
  expect_lt(h[1], 1e-3)
  # distance ratio averages to 1 within each cluster
  df <- as.data.frame(fit)
  expect_equal(as.vector(tapply(df$distance_ratio, df$cluster, mean)), rep(1, 4))
  # k = 1 gives zero ambiguity
  one <- cluster_windows(x, k = 1)
  expect_equal(one$ambiguity, rep(0, 100))
})

test_that("ambiguity and atypicality follow the documented mixture", {
  set.seed(42)
  x <- rbind(matrix(stats::rnorm(60), 20), matrix(stats::rnorm(60, 2), 20))
  w <- rep(c(1, 3), 20)
  fit <- cluster_windows(x, k = 2, weights = w)
  m <- ncol(x)
  W <- vapply(1:2, function(j) sum(w[fit$cluster == j]), 1)
  mu <- t(vapply(1:2, function(j) colSums(x[fit$cluster == j, ] * w[fit$cluster == j]) / W[j],
                 numeric(m)))
  s2 <- t(vapply(1:2, function(j) {
    d <- sweep(x[fit$cluster == j, ], 2, mu[j, ])
    colSums(d^2 * w[fit$cluster == j]) / W[j]
  }, numeric(m)))
  pooled <- colSums(s2 * W) / sum(W)
  v <- (s2 * W + 2 * rep(pooled, each = 2)) / (W + 2)
  D2 <- vapply(1:2, function(j) colSums((t(x) - mu[j, ])^2 / v[j, ]), numeric(40))
  P2 <- vapply(1:2, function(j) colSums((t(x) - mu[j, ])^2 / pooled), numeric(40))
  lp <- sweep(-0.5 * P2, 2, log(W / sum(W)), "+")
  p <- exp(lp - apply(lp, 1, max))
  p <- p / rowSums(p)
  h <- -rowSums(ifelse(p > 0, p * log(p), 0)) / log(2)
  expect_equal(fit$ambiguity, h, tolerance = 1e-10)
  own <- D2[cbind(1:40, fit$cluster)]
  aty <- vapply(1:40, function(i) {
    same <- fit$cluster == fit$cluster[i]
    (sum(w[same & own < own[i]]) + 0.5 * sum(w[same & own == own[i]])) / sum(w[same])
  }, 1)
  expect_equal(fit$atypicality, aty, tolerance = 1e-12)
  d2 <- vapply(1:2, function(j) colSums((t(x) - fit$centroids[j, ])^2), numeric(40))
  own <- sqrt(d2[cbind(1:40, fit$cluster)])
  expect_equal(fit$distance, own)
  md <- vapply(1:2, function(j) sum((own * w)[fit$cluster == j]) / W[j], 1)
  expect_equal(fit$distance_ratio, own / md[fit$cluster], ignore_attr = TRUE)
  # weighted per-time sd of the members (as for repeated windows)
  sd1 <- apply(x[rep(which(fit$cluster == 1), w[fit$cluster == 1]), ], 2, stats::sd)
  expect_equal(unname(fit$sd[1, ]), sd1)
})

test_that("silhouette and Calinski-Harabasz match direct computations", {
  set.seed(51)
  x <- rbind(matrix(stats::rnorm(40), 10), matrix(stats::rnorm(48, 3), 12),
             matrix(stats::rnorm(32, -3), 8))
  cl <- rep(1:3, c(10, 12, 8))
  cl[c(3, 15)] <- c(2L, 3L)
  d <- as.matrix(stats::dist(x))
  sil <- vapply(seq_len(nrow(x)), function(i) {
    own <- cl == cl[i] & seq_along(cl) != i
    a <- mean(d[i, own])
    b <- min(vapply(setdiff(unique(cl), cl[i]), function(j) mean(d[i, cl == j]),
                    numeric(1)))
    (b - a) / max(a, b)
  }, numeric(1))
  v <- cluster_validity(x, cl)
  expect_equal(v[["silhouette"]], mean(sil))
  n <- nrow(x)
  w <- tot_withinss(x, cl)
  b <- sum(scale(x, scale = FALSE)^2) - w
  expect_equal(v[["calinski_harabasz"]], (b / 2) / (w / (n - 3)))
  # a single-member cluster has silhouette 0
  cl2 <- cl
  cl2[1] <- 4L
  width <- .Call(cphap:::cp_silhouette_r, d, cl2, 4L, 1L)
  expect_equal(width[1], 0)
  expect_true(is.na(cluster_validity(x, rep(1L, n))[["silhouette"]]))
})

test_that("suggest_k finds the planted number of clusters", {
  set.seed(61)
  d <- planted_shapes(n_per = 20, m = 30, noise = 0.2)
  res <- suggest_k(d$x, k = 2:7, n_start = 3)
  expect_s3_class(res, "data.frame")
  expect_named(res, c("k", "index", "value", "best"))
  expect_equal(attr(res, "best_k"), 4L)
  expect_equal(res$k[res$best], 4L)
  res2 <- suggest_k(d$x, k = 2:7, index = "calinski_harabasz", n_start = 3)
  expect_equal(attr(res2, "best_k"), 4L)
  expect_error(suggest_k(d$x, k = 1:3), "k")
})

test_that("the self-organising map assigns windows to their best matching unit", {
  set.seed(71)
  d <- planted_shapes(n_per = 25, m = 20)
  fit <- cluster_windows(d$x, method = "som", som_dim = c(4, 3))
  expect_equal(fit$k, 12L)
  expect_equal(dim(fit$centroids), c(12L, 20L))
  d2 <- vapply(1:12, function(u) colSums((t(d$x) - fit$centroids[u, ])^2), numeric(100))
  expect_equal(fit$cluster, max.col(-d2, ties.method = "first"))
  expect_equal(sum(fit$size), 100L)
  expect_equal(nrow(fit$grid), 12L)
  expect_true(all(is.na(fit$mean[fit$size == 0, ])))
  # the map keeps the planted groups apart
  expect_gte(ari(fit$cluster, d$label), 0.5)
  pure <- vapply(split(d$label, fit$cluster), function(v) length(unique(v)) == 1, logical(1))
  expect_true(all(pure))
  expect_warning(cluster_windows(d$x, k = 3, method = "som", som_dim = c(2, 2)), "k")
})

test_that("as.data.frame, summary, print and predict have the documented shape", {
  set.seed(81)
  d <- planted_shapes(n_per = 10, m = 20)
  fit <- cluster_windows(d$x, k = 4, n_start = 2)
  expect_s3_class(fit, "cphap_clusters")
  df <- as.data.frame(fit)
  expect_named(df, c("window", "cluster", "distance", "distance_ratio", "ambiguity",
                     "atypicality", "weight"))
  expect_equal(nrow(df), 40L)
  s <- summary(fit)
  expect_s3_class(s, "data.frame")
  expect_equal(s$size, fit$size)
  expect_output(print(s), "cluster")
  expect_snapshot(print(fit))
  p <- predict(fit, d$x)
  expect_equal(p$cluster, fit$cluster)
  expect_equal(p$ambiguity, fit$ambiguity)
  expect_equal(p$atypicality, fit$atypicality)
  expect_equal(predict(fit), df)
  expect_error(predict(fit, d$x[, 1:5]), "newdata")
})

test_that("bad input gives clear errors", {
  x <- matrix(stats::rnorm(40), 10)
  expect_error(cluster_windows(1:10), "must be a numeric matrix")
  expect_error(cluster_windows(matrix(letters[1:4], 2)), "must be a numeric matrix")
  expect_error(cluster_windows(x[0, , drop = FALSE], k = 1), "at least one row")
  bad <- x
  bad[2, 3] <- NA
  expect_error(cluster_windows(bad), "finite")
  bad[2, 3] <- Inf
  expect_error(cluster_windows(bad, k = 2), "finite")
  expect_error(cluster_windows(x, k = 0), "`k` must be a whole number between 1 and 10 \\(the number of windows\\), not 0")
  expect_error(cluster_windows(x, k = 11), "between 1 and 10.*not 11")
  expect_error(cluster_windows(x, k = 2.5), "whole number")
  expect_error(cluster_windows(x, k = 2, method = "dbscan"), "method")
  expect_error(cluster_windows(x, k = 2, n_start = 0), "n_start")
  expect_error(cluster_windows(x, k = 2, nstart = 3), "nstart")
  expect_error(cluster_windows(x, method = "som", som_dim = c(2, 0)), "som_dim")
  expect_error(cluster_windows(x, k = 2, threads = 0), "threads")
  expect_error(cluster_validity(x, 1:3), "cluster")
})

test_that("degenerate data do not break the engine", {
  x <- matrix(1, 8, 5)
  fit <- cluster_windows(x, k = 3)
  expect_equal(sum(fit$size), 8L)
  expect_equal(fit$objective, 0)
  expect_true(all(fit$ambiguity >= 0 & fit$ambiguity <= 1))
  expect_true(all(fit$atypicality >= 0 & fit$atypicality <= 1))
  set.seed(91)
  y <- matrix(stats::rnorm(30), 6)
  all_own <- cluster_windows(y, k = 6)
  expect_equal(all_own$objective, 0)
  expect_equal(sort(all_own$cluster), 1:6)
  expect_warning(ks <- cluster_windows(rbind(x, y), k = 2, method = "kshape"), "constant")
  expect_equal(sum(ks$size), 14L)
})
