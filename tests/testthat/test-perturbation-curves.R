# Deletion and insertion curves of the class probability.

test_that("perturbation_curves() follows its definition", {
  m <- demo_model()
  thr <- thresholds(m, gunpoint$train, layers = "conv2")
  d <- gunpoint$test
  set.seed(1)
  cv <- perturbation_curves(m, d, thr, "conv2", samples = 1:4, steps = 5)
  expect_s3_class(cv, "cphap_curves")
  expect_named(cv, c("sample", "class", "method", "fill", "direction", "n_points", "aopc", "curve"))
  expect_equal(nrow(cv), 4 * 4 * 3 * 2)
  expect_equal(cv$class, as.character(d$y[cv$sample]))
  p0 <- predict(m, d$x[1:4, ], type = "prob")
  ci <- match(as.character(d$y[1:4]), m$classes)
  for (i in seq_len(nrow(cv))) {
    cu <- cv$curve[[i]]
    expect_length(cu, 6L)
    s <- cv$sample[i]
    if (cv$direction[i] == "deletion") {
      # nothing deleted at step 0
      expect_equal(cu[1], unname(p0[s, ci[s]]), tolerance = 1e-12)
      expect_equal(cv$aopc[i], mean(cu[1] - cu[-1]))
    } else {
      expect_equal(cv$aopc[i], mean(cu[-1] - cu[1]))
    }
  }
  # the fully filled start of insertion is the same for every method
  ins <- cv[cv$direction == "insertion", ]
  start <- vapply(ins$curve, `[`, 1, 1)
  expect_equal(tapply(start, paste(ins$sample, ins$fill), function(v) diff(range(v))),
               rep(0, 12), ignore_attr = TRUE)
  # the number of points is the coverage of the sample's periods
  per <- activated_periods(m, d, thr, "conv2", samples = 1)
  cover <- unique(unlist(Map(function(a, b) max(1, a):min(150, b), per$start, per$end)))
  expect_equal(cv$n_points[cv$sample == 1][1], length(cover))
  s <- summary(cv)
  expect_equal(nrow(s), 24L)
  expect_true(all(s$lower <= s$mean & s$mean <= s$upper))
  expect_equal(s$vs_random_periods[s$method == "random_periods"], rep(0, 6))
  # reproducible under set.seed()
  set.seed(1)
  again <- perturbation_curves(m, d, thr, "conv2", samples = 1:4, steps = 5)
  expect_equal(again$aopc, cv$aopc)
})

test_that("fills, runs and random periods do what they say", {
  xs <- array(c(1, 2, 3, 4, 5, 6, 10, 8), c(1, 1, 8))
  y <- cphap:::fill_points(xs, 3:5, "interpolate", xs)
  expect_equal(y[1, 1, 3:5], c(3, 4, 5))
  y <- cphap:::fill_points(xs, c(1, 8), "interpolate", xs)
  expect_equal(y[1, 1, c(1, 8)], c(2, 10))
  y <- cphap:::fill_points(xs, 1:8, "mean", xs)
  expect_equal(as.vector(y), rep(mean(xs), 8))
  expect_equal(cphap:::run_lengths(c(3, 4, 5, 9, 12, 13)), c(3L, 1L, 2L))
  set.seed(2)
  rp <- cphap:::random_periods(c(3L, 1L, 2L), 50)
  expect_length(rp, 6L)
  expect_false(anyDuplicated(rp) > 0)
  # consecutive points within each period: at most 3 jumps between periods
  expect_lte(sum(diff(rp) != 1), 2L)
})
