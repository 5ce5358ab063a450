# The package's own objects are accepted wherever they make sense, and
# arguments are named alike across functions.

test_that("thresholds objects (and cphap results) are accepted as thresholds", {
  m <- small_cnn()
  set.seed(3)
  x <- matrix(rnorm(20 * 64), 20, 64)
  th <- thresholds(m, x, c("conv1", "conv2"))
  nums <- th$threshold[th$layer == "conv2"]
  r_num <- unit_relevance(m, x[1:2, ], "conv2", channels = 1:2, seed = "active",
    threshold = nums, passes = 1, progress = FALSE)
  r_obj <- unit_relevance(m, x[1:2, ], "conv2", channels = 1:2, seed = "active",
    threshold = th, passes = 1, progress = FALSE)
  expect_equal(r_obj$mean, r_num$mean)
  # several layers from one object
  r2 <- unit_relevance(m, x[1, ], c("conv1", "conv2"), channels = 1, seed = "active",
    threshold = th, passes = 1, progress = FALSE)
  expect_setequal(as.character(unique(r2$layer)), c("conv1", "conv2"))
  expect_error(
    unit_relevance(m, x[1, ], "conv3", seed = "active", threshold = th, passes = 1),
    "threshold.*no thresholds for layer"
  )
  res <- cphap(m, x, layers = "conv2", k = 2)
  r_res <- unit_relevance(m, x[1:2, ], "conv2", channels = 1:2, seed = "active",
    threshold = res, passes = 1, progress = FALSE)
  expect_equal(r_res$mean, r_num$mean)
  expect_equal(activated_periods(m, x, res), activated_periods(m, x, res$thresholds))
  p1 <- perturbation(m, x, res, "conv2", channels = 1:2, samples = 1:2, methods = "cphap")
  p2 <- perturbation(m, x, res$thresholds, "conv2", channels = 1:2, samples = 1:2, methods = "cphap")
  expect_equal(p1, p2)
})

test_that("explain_sample() takes several samples and refuses layers not clustered", {
  m <- small_cnn()
  set.seed(4)
  x <- matrix(rnorm(30 * 64), 30, 64)
  res <- cphap(m, x, layers = "conv2", k = 3)
  e <- explain_sample(res, c(2, 5, 7), "conv2")
  expect_setequal(unique(e$sample), c(2L, 5L, 7L))
  for (s in c(2, 5, 7)) {
    one <- explain_sample(res, s, "conv2")
    sub <- e[e$sample == s, ]
    expect_equal(sub$cluster, one$cluster)
    expect_equal(sub$position, one$position)
  }
  expect_equal(dim(attr(e, "series")), c(3L, 1L, 64L))
  expect_equal(attr(e, "series")[2, 1, ], res$x[5, 1, ])
  expect_output(print(e), "series 2, 5, 7")
  en <- explain_sample(res, 1:2, "conv2", newdata = x[c(2, 5), ])
  expect_equal(en$cluster, e$cluster[e$sample %in% c(2, 5)])
  expect_s3_class(autoplot(e, sample = 5), "ggplot")
  expect_error(autoplot(e, sample = 9), "sample.*not in the explanation")
  expect_error(explain_sample(res, 1, "conv1"), "conv1.*not clustered")
  expect_error(explain_sample(res, 0:2), "sample")
})

test_that("suggest_k() takes a cphap result and cphap() takes k = 'auto'", {
  m <- small_cnn()
  set.seed(5)
  x <- matrix(rnorm(30 * 64), 30, 64)
  res <- cphap(m, x, layers = c("conv1", "conv2"), k = 3)
  set.seed(6)
  sk <- suggest_k(res, k = 2:4, n_start = 2)
  expect_setequal(unique(sk$set), c("conv1", "conv2"))
  expect_named(attr(sk, "best_k"), c("conv1", "conv2"))
  # the same as suggest_k() on the clustered (distinct) windows
  distinct <- function(layer) {
    w <- period_windows(m, x, res$periods, layer)[[1]]
    p <- res$periods[attr(w, "period"), ]
    w[!duplicated(paste(p$sample, p$position)), , drop = FALSE]
  }
  set.seed(6)
  invisible(suggest_k(distinct("conv1"), k = 2:4, n_start = 2))
  direct <- suggest_k(distinct("conv2"), k = 2:4, n_start = 2)
  expect_equal(sk$value[sk$set == "conv2"], direct$value)
  set.seed(7)
  expect_message(auto <- cphap(m, x, layers = "conv2", k = "auto", n_start = 2), "k chosen")
  expect_equal(auto$settings$k, "auto")
  expect_true(auto$sets$k %in% 2:15)
  expect_equal(auto$clusters$conv2$k, auto$sets$k)
  expect_equal(auto$sets$k, auto$k_choice$k[auto$k_choice$best])
  expect_equal(res$sets$k, c(3L, 3L))
  expect_error(cphap(m, x, k = "many"), "k.*auto")
  expect_error(cphap(m, x, k = "auto", method = "som"), "auto")
})

test_that("`channels` is the name everywhere; `channel` still works, deprecated", {
  m <- small_cnn()
  set.seed(8)
  x <- matrix(rnorm(2 * 64), 2, 64)
  a <- unit_relevance(m, x, "conv2", channels = 2, passes = 1, progress = FALSE)
  expect_warning(
    b <- unit_relevance(m, x, "conv2", channel = 2, passes = 1, progress = FALSE),
    class = "cphap_deprecated"
  )
  expect_equal(a, b)
  expect_error(unit_relevance(m, x, "conv2", channels = 1, channel = 2), "channels.*only")
  for (f in list(unit_relevance, explain_sample, activated_periods, perturbation,
                 cphap:::autoplot.cphap_relevance)) {
    expect_true("channels" %in% names(formals(f)))
  }
  res <- cphap(m, matrix(rnorm(20 * 64), 20, 64), layers = "conv2", k = 2)
  expect_warning(e <- explain_sample(res, 1, "conv2", channel = 1), class = "cphap_deprecated")
  expect_equal(e, explain_sample(res, 1, "conv2", channels = 1))
  expect_warning(autoplot(a, channel = 2), class = "cphap_deprecated")
})

test_that("data frames of series are accepted; label columns get a clear message", {
  m <- demo_model()
  df <- as.data.frame(gunpoint$test$x[1:5, ])
  d <- cphap_data(df, gunpoint$test$y[1:5])
  expect_equal(unname(d$x), unname(gunpoint$test$x[1:5, ]))
  expect_equal(predict(m, d), predict(m, df))
  df$class <- gunpoint$test$y[1:5]
  expect_error(predict(m, df), "Column `class` \\(factor\\) is not numeric.*y")
  expect_error(cphap_data(df, gunpoint$test$y[1:5]), "Column `class` \\(factor\\)")
})

test_that("a conv or dense weight in the wrong orientation names the weight", {
  set.seed(9)
  keras_like <- list(input_dim = c(1, 20), layers = list(
    list(type = "Conv1D", weight = array(rnorm(5 * 1 * 4), c(5, 1, 4)), bias = rep(0, 4))
  ))
  expect_error(cphap_model(keras_like), "weight.*5 x 1 x 4.*aperm")
  dense <- list(input_dim = c(1, 20), layers = list(
    list(type = "Flatten"), list(type = "Dense", weight = matrix(rnorm(40), 20, 2), bias = c(0, 0))
  ))
  expect_error(cphap_model(dense), "weight.*20 x 2.*t\\(weight\\)")
})

test_that("unused factor levels of y are dropped with a message", {
  set.seed(10)
  x <- matrix(rnorm(20 * 30), 20)
  y <- factor(rep(c("a", "b"), each = 10), levels = c("a", "b", "c"))
  expect_message(
    f <- fit_model("fcn", x, y, epochs = 1, channels = c(2, 2), kernels = c(3, 3)),
    "unused factor level.*c"
  )
  expect_equal(f$classes, c("a", "b"))
  expect_equal(f$layers[[length(f$layers)]]$dim_out[1], 2L)
})
