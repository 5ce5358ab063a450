pert_setup <- function() {
  set.seed(11)
  m <- cphap_model(arch_cnn(c(1, 64), 2, kernels = c(5, 3, 3), strides = c(1, 1, 1),
                            pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
  x <- matrix(rnorm(30 * 64), 30, 64)
  list(m = m, x = x, thr = thresholds(m, x, layers = c("conv1", "conv2")))
}

test_that("keeping the CPHAP periods keeps every node's activation exactly (valid padding)", {
  s <- pert_setup()
  for (fill in c("zero", "mean", "noise")) {
    p <- perturbation(s$m, s$x, s$thr, "conv2", samples = 1:6, fill = fill)
    cp <- p[p$method == "cphap", ]
    expect_gt(nrow(cp), 0)
    expect_equal(cp$activation_kept, rep(1, nrow(cp)), tolerance = 1e-12)
    expect_equal(cp$active_share, rep(1, nrow(cp)))
    # all three methods keep the same number of points per unit
    n_by <- tapply(p$n_kept, paste(p$sample, p$channel), function(v) length(unique(v)))
    expect_true(all(n_by == 1))
  }
})

test_that("keeping everything keeps everything; the structure is documented", {
  s <- pert_setup()
  p <- perturbation(s$m, s$x, s$thr, "conv1", channels = 1:3, samples = 1:4, shares = c(0.3, 1))
  expect_s3_class(p, "cphap_perturbation")
  expect_named(as.data.frame(p), c("sample", "layer", "channel", "method", "share", "n_kept",
                                   "n_nodes", "activation_kept", "active_share"))
  full <- p[p$share == 1, ]
  expect_equal(full$activation_kept, rep(1, nrow(full)), tolerance = 1e-12)
  expect_true(all(p$n_kept[p$share == 0.3] == round(0.3 * 64)))
  sm <- summary(p)
  expect_equal(nrow(sm), 6)
  expect_true(all(sm$activation_kept[sm$method == "random" & sm$share == 0.3] <= 1))
  expect_output(print(p), "cphap_perturbation")
  expect_s3_class(ggplot2::autoplot(p), "ggplot")
})

test_that("noise fill is reproducible under set.seed()", {
  s <- pert_setup()
  set.seed(3)
  a <- perturbation(s$m, s$x, s$thr, "conv1", samples = 1:3, shares = 0.4, fill = "noise")
  set.seed(3)
  b <- perturbation(s$m, s$x, s$thr, "conv1", samples = 1:3, shares = 0.4, fill = "noise")
  expect_identical(a, b)
})

test_that("perturbation checks its arguments and handles no periods", {
  s <- pert_setup()
  expect_error(perturbation(s$m, s$x, s$thr), "layer")
  expect_error(perturbation(s$m, s$x, s$thr, c("conv1", "conv2")), "one interpretable layer")
  expect_error(perturbation(s$m, s$x, s$thr, "conv1", shares = 1.5), "shares")
  expect_error(perturbation(s$m, s$x, s$thr, "conv1", samples = 31), "samples")
  expect_error(perturbation(s$m, s$x, s$thr, "conv1", fill = "median"), "should be one of")
  expect_error(perturbation(s$m, s$x, s$thr, "conv3"), "conv3")
  flat <- s$thr
  flat$threshold <- 1e6
  expect_message(p <- perturbation(s$m, s$x, flat, "conv1"), "No highly activated")
  expect_equal(nrow(p), 0)
  expect_equal(nrow(summary(p)), 0)
})
