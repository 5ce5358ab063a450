# Uncertainty of belonging: ambiguity between patterns, atypicality within
# a pattern, and the original work's per-pattern entropy.

planted_motifs <- function(m = 24) {
  tt <- seq(0, 1, length.out = m)
  rbind(sin(2 * pi * tt), cos(2 * pi * tt), 2 * tt - 1,
        2 * exp(-((tt - 0.5) / 0.1)^2) - 0.5)
}

planted_windows <- function(n, motifs, sd = 0.3) {
  cl <- sample.int(nrow(motifs), n, replace = TRUE)
  list(x = motifs[cl, ] + matrix(stats::rnorm(n * ncol(motifs), sd = sd), n), cl = cl)
}

test_that("windows unlike any training window are atypical, held-out motifs are not", {
  motifs <- planted_motifs()
  set.seed(11)
  train <- planted_windows(400, motifs)
  test <- planted_windows(200, motifs)
  fit <- cluster_windows(train$x, k = 4)
  expect_equal(cphap:::adjusted_rand_index(fit$cluster, train$cl), 1)
  held <- predict(fit, test$x)
  expect_lt(stats::median(held$atypicality), 0.6)
  odd <- rbind(motifs[1, ] * 5, motifs[2, ] + 10, -3 * motifs[3, ],
               motifs[4, ] * 5, motifs[1, ] + 10, -3 * motifs[2, ])
  p <- predict(fit, odd)
  expect_true(all(p$atypicality > 0.95))
  # training windows are spread evenly over [0, 1]
  expect_equal(mean(fit$atypicality), 0.5, tolerance = 0.02)
})

test_that("ambiguity is high between two pattern centres and low at a centre", {
  motifs <- planted_motifs()
  set.seed(12)
  train <- planted_windows(400, motifs)
  fit <- cluster_windows(train$x, k = 4)
  mids <- rbind((fit$mean[1, ] + fit$mean[2, ]) / 2, (fit$mean[3, ] + fit$mean[4, ]) / 2,
                (fit$mean[1, ] + fit$mean[4, ]) / 2)
  a_mid <- predict(fit, mids)$ambiguity
  a_centre <- predict(fit, fit$mean)$ambiguity
  # two equally likely patterns out of 4 give log(2) / log(4) = 0.5
  expect_true(all(a_mid > 0.3))
  expect_true(all(a_centre < 0.01))
})

test_that("pattern_entropy() follows the original work's recipe", {
  set.seed(13)
  m <- 10
  # pattern 1: two tight sub-groups; pattern 2: one tight and one wide group
  a <- rbind(matrix(stats::rnorm(40 * m, 3, 0.1), 40), matrix(stats::rnorm(40 * m, 4, 0.1), 40))
  b <- rbind(matrix(stats::rnorm(40 * m, -3, 0.1), 40), matrix(stats::rnorm(40 * m, -8, 2.5), 40))
  x <- rbind(a, b)
  fit <- cluster_windows(x, k = 2)
  set.seed(1)
  pe <- pattern_entropy(x, fit, n_sub = 2)
  expect_named(pe, c("cluster", "size", "n_sub", "n_kept", "entropy"))
  expect_equal(pe$size, fit$size)
  big <- which(fit$mean[, 1] > 0)
  wide <- which(fit$mean[, 1] < 0)
  # separated tight sub-clusters: both kept, posteriors certain
  expect_equal(pe$n_kept[big], 2L)
  expect_lt(pe$entropy[big], 1e-6)
  # the wide sub-cluster (sd 2.5 > 1.6) is dropped: one left, entropy 0
  expect_equal(pe$n_kept[wide], 1L)
  expect_equal(pe$entropy[wide], 0)
  # a stricter max_sd drops everything
  set.seed(1)
  none <- pattern_entropy(x, fit, n_sub = 2, max_sd = 0.01)
  expect_true(all(is.na(none$entropy)))
  # overlapping sub-clusters give a positive entropy of at most 1 bit
  y <- matrix(stats::rnorm(200 * 2), 200)
  f1 <- cluster_windows(y, k = 1)
  set.seed(2)
  pe1 <- pattern_entropy(y, f1, n_sub = 2)
  expect_gt(pe1$entropy, 0.1)
  expect_lte(pe1$entropy, 1)
  expect_error(pattern_entropy(y, fit), "clusters")
})

test_that("pattern_entropy() works on a cphap result", {
  m <- demo_model()
  set.seed(3)
  res <- cphap(m, gunpoint$train$x[1:20, ], layers = "conv3", k = 3, n_start = 2)
  set.seed(4)
  pe <- pattern_entropy(res, layer = "conv3", n_sub = 2)
  expect_equal(nrow(pe), 3L)
  expect_equal(pe$size, res$clusters$conv3$size)
  expect_true(all(is.na(pe$entropy) | (pe$entropy >= 0 & pe$entropy <= 1)))
})
