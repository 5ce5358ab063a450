# Weighted clustering of distinct windows (one window per sample and node
# position, weight = number of firing units).

weighted_demo <- function(seed = 3, n = 60, m = 12) {
  set.seed(seed)
  centers <- matrix(rnorm(4 * m, sd = 2), 4)
  x <- centers[sample.int(4, n, TRUE), ] + matrix(rnorm(n * m), n)
  w <- sample.int(5, n, replace = TRUE)
  list(x = x, w = w, dup = x[rep.int(seq_len(n), w), ], m = m)
}

test_that("weighted Lloyd equals k-means on repeated rows from the same centres", {
  d <- weighted_demo()
  init <- d$x[c(1, 15, 30, 45), ]
  fit <- .Call(cphap:::cp_kmeans_weighted_r, d$x, as.double(d$w), 4L, 1L, 100L,
               FALSE, init, 1L)
  ref <- stats::kmeans(d$dup, centers = init, algorithm = "Lloyd", iter.max = 100)
  # same partition up to label order
  cl_dup <- fit$cluster[rep.int(seq_len(nrow(d$x)), d$w)]
  expect_equal(cphap:::adjusted_rand_index(cl_dup, ref$cluster), 1)
  perm <- vapply(seq_len(4), function(j) ref$cluster[match(j, cl_dup)], 1L)
  expect_equal(fit$centers, ref$centers[perm, ], tolerance = 1e-12,
               ignore_attr = TRUE)
  expect_equal(fit$objective, ref$tot.withinss, tolerance = 1e-12)
})

test_that("weighted k-means with integer weights matches the repeated rows", {
  d <- weighted_demo(5)
  init <- d$x[c(2, 3, 4, 5), ]
  a <- .Call(cphap:::cp_kmeans_weighted_r, d$x, as.double(d$w), 4L, 1L, 100L,
             TRUE, init, 1L)
  b <- .Call(cphap:::cp_kmeans_weighted_r, d$dup, rep(1, nrow(d$dup)), 4L, 1L,
             100L, FALSE, a$centers, 1L)
  # the weighted optimum is a fixed point of Lloyd on the repeated rows
  expect_equal(b$centers, a$centers, tolerance = 1e-12)
  expect_equal(b$objective, a$objective, tolerance = 1e-12)
  # Hartigan never raises the objective of the Lloyd solution
  l <- .Call(cphap:::cp_kmeans_weighted_r, d$x, as.double(d$w), 4L, 1L, 100L,
             FALSE, init, 1L)
  expect_lte(a$objective, l$objective * (1 + 1e-12))
})

test_that("cluster_windows() weights statistics like repeated windows", {
  d <- weighted_demo(7)
  set.seed(1)
  fit <- cluster_windows(d$x, k = 3, weights = d$w, n_start = 3)
  expect_equal(sum(fit$size), nrow(d$x))
  expect_equal(fit$size, tabulate(fit$cluster, 3))
  expect_equal(fit$weighted_size, as.vector(tapply(d$w, fit$cluster, sum)))
  cl_dup <- fit$cluster[rep.int(seq_len(nrow(d$x)), d$w)]
  for (j in 1:3) {
    rows <- d$dup[cl_dup == j, , drop = FALSE]
    expect_equal(fit$mean[j, ], colMeans(rows), ignore_attr = TRUE, tolerance = 1e-12)
    expect_equal(fit$sd[j, ], apply(rows, 2, stats::sd), ignore_attr = TRUE,
                 tolerance = 1e-12)
  }
  obj <- sum(d$w * rowSums((d$x - fit$mean[fit$cluster, ])^2))
  expect_equal(fit$objective, obj, tolerance = 1e-12)
  # reproducible under set.seed(), whatever the number of threads
  set.seed(1)
  again <- cluster_windows(d$x, k = 3, weights = d$w, n_start = 3, threads = 2)
  expect_identical(again$cluster, fit$cluster)
  # the objective is no worse than plain k-means on the repeated rows
  set.seed(1)
  plain <- cluster_windows(d$dup, k = 3, n_start = 3)
  expect_lte(fit$objective, plain$objective * (1 + 1e-9))
})

test_that("weighted k-means restarts on several threads give the result of one thread", {
  # large enough that the restarts run in parallel, each on its own thread
  set.seed(41)
  x <- matrix(stats::rnorm(4000 * 40), 4000) +
    matrix(stats::rnorm(6 * 40, sd = 0.8), 6)[rep(1:6, length.out = 4000), ]
  w <- as.double(sample(1:5, 4000, replace = TRUE))
  set.seed(7)
  a <- cluster_windows(x, k = 8, weights = w, n_start = 5, threads = 1)
  set.seed(7)
  b <- cluster_windows(x, k = 8, weights = w, n_start = 5, threads = 2)
  expect_identical(a, b)
  # the kept restart is the best: with the same seed, one restart is the
  # first of the five, so it cannot be better
  set.seed(7)
  first <- cluster_windows(x, k = 8, weights = w, n_start = 1, threads = 2)
  expect_lte(a$objective, first$objective)
  # weighted centres: weighted means of the members
  for (j in 1:8) {
    sel <- a$cluster == j
    expect_equal(a$centroids[j, ], colSums(x[sel, , drop = FALSE] * w[sel]) / sum(w[sel]),
                 ignore_attr = TRUE, tolerance = 1e-12)
  }
})

test_that("k-Shape and the map see weighted windows repeated", {
  d <- weighted_demo(9, n = 30)
  set.seed(2)
  fit <- cluster_windows(d$x, k = 2, method = "kshape", weights = d$w, n_start = 2)
  expect_length(fit$cluster, 30)
  expect_equal(sum(fit$weighted_size), sum(d$w))
  expect_error(cluster_windows(d$x, k = 2, method = "kshape", weights = d$w + 0.5),
               "whole number")
  expect_error(cluster_windows(d$x, k = 2, weights = -d$w), "weights")
})

test_that("cphap() clusters each (sample, node position) once, weighted by its units", {
  m <- demo_model()
  x <- gunpoint$train$x[1:12, ]
  set.seed(1)
  res <- cphap(m, x, layers = "conv2", k = 4, n_start = 2)
  a <- res$assignments
  wn <- res$windows
  key_a <- paste(a$sample, a$position)
  expect_equal(res$sets$n_distinct, length(unique(key_a)))
  expect_equal(res$sets$n_windows, nrow(a))
  expect_equal(nrow(wn), length(unique(key_a)))
  expect_equal(sum(wn$weight), nrow(a))
  # sizes are distinct-window counts, weighted sizes count firing units
  pt <- res$patterns[res$patterns$time == 1, ]
  expect_equal(pt$size, tabulate(wn$cluster, 4))
  expect_equal(pt$weighted_size, as.vector(tapply(wn$weight, factor(wn$cluster, 1:4), sum)))
  # every period carries the cluster of its window; channel lists match
  expect_equal(a$cluster, wn$cluster[a$window])
  expect_equal(lengths(wn$channels), as.integer(wn$weight))
  expect_setequal(paste(rep(wn$window, lengths(wn$channels)), unlist(wn$channels)),
                  paste(a$window, a$channel))
  # the unit x pattern counts come from the channel lists
  up <- unit_pattern_matrix(res, "conv2")
  from_lists <- table(factor(unlist(wn$channels), levels = rownames(up)),
                      factor(rep(wn$cluster, lengths(wn$channels)), levels = 1:4))
  expect_equal(unname(up), unname(unclass(from_lists))[, seq_len(ncol(up)), drop = FALSE],
               ignore_attr = TRUE)
})
