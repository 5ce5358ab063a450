# k-means over chunks of windows on the user's future plan (R/cluster-dist.R,
# src/cluster_dist.c).

# Four well-separated clusters of weighted windows: the optimum is the
# planted partition, which every good start finds.
planted_windows <- function(n = 6000, m = 10, k = 4, seed = 11) {
  withr::with_seed(seed, {
    centers <- matrix(rnorm(k * m, sd = 8), k)
    truth <- sample(k, n, replace = TRUE)
    list(
      x = centers[truth, ] + matrix(rnorm(n * m), n),
      weights = as.double(sample(1:4, n, replace = TRUE)), truth = truth
    )
  })
}

fit_on_plan <- function(p, chunk_size, n_start = 3) {
  withr::with_seed(5, cluster_windows(p$x, k = 4, weights = p$weights,
    n_start = n_start, window_chunk_size = chunk_size
  ))
}

test_that("one step on chunks adds up to the in-process weighted Lloyd iterations", {
  withr::local_options(cphap.future = FALSE)
  x <- withr::with_seed(3, matrix(rnorm(3000 * 6), 3000))
  w <- withr::with_seed(4, runif(3000, 0.5, 3))
  # the third center is far from every window: its cluster is empty after
  # the first assignment and takes the farthest window
  init <- rbind(x[1:2, ], rep(50, 6), x[4:6, ])
  for (max_iter in c(100L, 4L)) {
    here <- .Call(cp_kmeans_weighted_r, x, w, 6L, 1L, max_iter, FALSE, init, 1L)
    for (cs in c(700L, 3000L)) {
      dist <- kmeans_distributed(x, w, 6L, 1L, max_iter, cs, 1L, init = init)
      expect_identical(dist$cluster, here$cluster)
      expect_identical(dist$iterations, here$iterations)
      expect_identical(dist$converged, here$converged)
      expect_equal(dist$objective, here$objective, tolerance = 1e-12)
      expect_equal(dist$centers, here$centers, tolerance = 1e-12)
      expect_identical(dist$rounds, here$iterations + 1L)
    }
  }
  expect_false(here$converged)
})

test_that("distributed k-means finds the planted objective, identically on every plan", {
  skip_on_cran()
  skip_if_not_installed("future")
  p <- planted_windows()
  ref <- withr::with_seed(5, cluster_windows(p$x, k = 4, weights = p$weights, n_start = 3))
  expect_equal(adjusted_rand_index(ref$cluster, p$truth), 1)
  old <- future::plan(future::sequential)
  on.exit(future::plan(old), add = TRUE)
  seq_fits <- lapply(c(1000L, 2500L), function(cs) fit_on_plan(p, cs))
  for (fit in seq_fits) {
    expect_lt(abs(fit$objective / ref$objective - 1), 1e-12)
    expect_identical(fit$cluster, ref$cluster)
    expect_true(fit$settings$rounds >= 2L)
  }
  expect_identical(seq_fits[[1]]$settings$chunks, 6L)
  expect_identical(seq_fits[[2]]$settings$chunks, 3L)
  shown <- paste(capture_messages(print(seq_fits[[2]])), collapse = "")
  expect_match(shown, "over 3 chunks of at most 2500 windows")

  future::plan(future::multisession, workers = 2)
  multi <- lapply(c(1000L, 2500L), function(cs) fit_on_plan(p, cs))
  expect_identical(multi, seq_fits)

  cl <- future::makeClusterPSOCK(2)
  on.exit(parallel::stopCluster(cl), add = TRUE)
  future::plan(future::cluster, workers = cl)
  psock <- lapply(c(1000L, 2500L), function(cs) fit_on_plan(p, cs))
  expect_identical(psock, seq_fits)
})

test_that("cphap() passes window_chunk_size to the clustering", {
  skip_on_cran()
  withr::local_options(cphap.future = FALSE)
  model <- demo_model()
  res <- withr::with_seed(1, cphap(model, gunpoint$train$x[1:20, ],
    layers = "conv1", k = 3, n_start = 2, window_chunk_size = 100, progress = FALSE
  ))
  cl <- res$clusters[[1]]
  expect_identical(cl$settings$window_chunk_size, 100L)
  expect_identical(cl$settings$chunks, as.integer(ceiling(cl$n_windows / 100)))
  expect_equal(sum(cl$weighted_size), nrow(res$assignments))
})

test_that("bad input to the distributed k-means gives clear errors", {
  withr::local_options(cphap.future = FALSE)
  x <- rbind(diag(3), diag(3), diag(3))
  expect_error(cluster_windows(x, k = 4, window_chunk_size = 4),
    "more than the 3 distinct windows")
  expect_error(cluster_windows(x, k = 10, window_chunk_size = 4), "k")
  xna <- x
  xna[2, 2] <- NA
  expect_error(cluster_windows(xna, k = 2, window_chunk_size = 4), "finite")
  expect_error(cluster_windows(x, k = 2, window_chunk_size = 0), "window_chunk_size")
  expect_error(cluster_windows(x, k = 2, window_chunk_size = "a"), "window_chunk_size")
  expect_error(cluster_windows(x, k = 2, method = "kshape", window_chunk_size = 4),
    "window_chunk_size")
})

test_that("a failing worker stops the distributed k-means naming the chunk", {
  skip_on_cran()
  skip_if_not_installed("future")
  p <- planted_windows(n = 2500)
  failing <- function(chunk, centers, evaluate, threads) {
    if (ncol(chunk$xt) < 1000L) stop("worker lost")
    .Call(cp_kmeans_chunk_r, chunk$xt, chunk$weights, centers, chunk$labels,
          evaluate, 1L)
  }
  old <- future::plan(future::multisession, workers = 2)
  on.exit(future::plan(old), add = TRUE)
  run <- function() {
    withr::with_seed(1, kmeans_distributed(p$x, p$weights, 4L, 1L, 100L, 1000L,
      NULL, step = failing
    ))
  }
  err <- expect_error(run(), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 3 (windows 2001-2500)", fixed = TRUE)
  expect_match(conditionMessage(err$parent), "worker lost")
  future::plan(future::sequential)
  err <- expect_error(run(), class = "cphap_chunk_error")
  expect_identical(err$chunk, 3L)
})
