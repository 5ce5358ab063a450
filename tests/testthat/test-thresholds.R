test_that("thresholds equal quantile(type = 7) on the same values", {
  m <- cphap_model(small_valid_net())
  set.seed(3)
  x <- array(rnorm(37 * 2 * 40), c(37, 2, 40))
  acts <- activations(m, x, format = "array")
  for (alpha in c(0.05, 0.005, 0.3, 0.9)) {
    th <- thresholds(m, x, alpha = alpha)
    expect_s3_class(th, "cphap_thresholds")
    expect_named(th, c("layer", "channel", "threshold", "alpha", "n_values"))
    for (i in seq_len(nrow(th))) {
      a <- acts[[as.character(th$layer[i])]][, th$channel[i], ]
      expect_identical(th$threshold[i], quantile(a, 1 - alpha, names = FALSE, type = 7))
      expect_equal(th$n_values[i], length(a))
    }
  }
})

test_that("thresholds are exact on the paper's CNN, for single layers and all", {
  set.seed(2)
  m <- cphap_model(arch_cnn(c(1, 300), 4))
  x <- matrix(rnorm(60 * 300), 60, 300)
  acts <- activations(m, x, format = "array")
  for (alpha in c(0.05, 0.005)) {
    for (layers in list(NULL, "conv2", 3)) {
      th <- thresholds(m, x, layers = layers, alpha = alpha)
      q <- unlist(lapply(split(th, th$layer, drop = TRUE), function(t) {
        a <- acts[[as.character(t$layer[1])]]
        vapply(t$channel, function(k) quantile(a[, k, ], 1 - alpha, names = FALSE), 0)
      }))
      expect_identical(unname(th$threshold), unname(q))
    }
  }
})

test_that("crowded bins (many ReLU zeros) take extra passes and stay exact", {
  set.seed(4)
  net <- list(input_dim = c(1, 400), layers = list(
    list(type = "Conv1D", weight = array(c(1, -1, 1, 0.5, 0, 1), c(2, 1, 3)),
         bias = c(-2.5, -3.2), activation_name = "relu"),
    list(type = "Flatten"),
    list(type = "Dense", weight = matrix(0.01, 2, 2 * 398), bias = c(0, 0),
         activation_name = "softmax")
  ))
  m <- cphap_model(net)
  x <- matrix(rnorm(300 * 400), 300, 400)
  a <- activations(m, x, format = "array")[[1]]
  for (alpha in c(0.05, 0.2, 0.005)) {
    th <- thresholds(m, x, alpha = alpha)
    for (k in 1:2) {
      expect_identical(th$threshold[k], quantile(a[, k, ], 1 - alpha, names = FALSE))
    }
  }
  th <- thresholds(m, x, alpha = 0.05)
  expect_gt(attr(th, "passes"), 2L)
  expect_true(any(th$threshold == 0))
  # a channel with threshold 0 and no negative values yields no nodes
  p <- activated_periods(m, x, th)
  dead <- th$channel[th$threshold == 0]
  expect_true(all(p$activation[p$channel %in% dead] > 0))
  expect_equal(sum(p$channel %in% dead), sum(a[, dead, ] > 0))
})

test_that("thresholds do not depend on the thread count", {
  m <- cphap_model(small_valid_net())
  set.seed(5)
  x <- array(rnorm(50 * 2 * 40), c(50, 2, 40))
  a <- withr::with_options(list(cphap.threads = 1), thresholds(m, x, alpha = 0.01))
  b <- withr::with_options(list(cphap.threads = 2), thresholds(m, x, alpha = 0.01))
  expect_identical(a$threshold, b$threshold)
})

test_that("thresholds reject bad input", {
  m <- small_cnn()
  x <- matrix(rnorm(10 * 64), 10, 64)
  for (a in list(0, 1, -0.1, 1.5, NA, c(0.1, 0.2), "0.05")) {
    expect_error(thresholds(m, x, alpha = a), "alpha")
  }
  expect_error(thresholds(m, x, layers = 7), "layers")
  expect_error(thresholds(m, x, layers = "conv9"), "unknown layer")
  expect_error(thresholds(m, matrix(rnorm(10 * 50), 10, 50)), "reference")
  expect_error(thresholds(m, array(rnorm(10 * 2 * 64), c(10, 2, 64))), "reference")
  expect_error(thresholds(list(), x), "model")
})

test_that("thresholds print", {
  m <- small_cnn()
  set.seed(1)
  x <- matrix(rnorm(10 * 64), 10, 64)
  expect_output(print(thresholds(m, x, "conv1")), "cphap_thresholds")
})

test_that("thresholds are exact at extreme alphas, with negative values and few values", {
  m <- cphap_model(small_valid_net())
  set.seed(15)
  for (n in c(1, 3, 200)) {
    x <- array(rnorm(n * 2 * 40, sd = 3), c(n, 2, 40))
    acts <- activations(m, x, format = "array")
    for (alpha in c(1e-6, 0.001, 0.5, 0.999, 1 - 1e-9)) {
      th <- thresholds(m, x, alpha = alpha)
      q <- mapply(function(l, k) quantile(acts[[l]][, k, ], 1 - alpha, names = FALSE),
                  as.character(th$layer), th$channel)
      expect_identical(th$threshold, unname(q))
    }
  }
})
