# tidy() methods return the long data frames of results.

test_that("tidy() gives plain long data frames with the series' identity", {
  m <- demo_model()
  set.seed(1)
  r <- unit_relevance(m, gunpoint$test, "conv2", channels = 3:4, samples = c(19, 40), passes = 4,
    progress = FALSE)
  t <- tidy(r)
  expect_identical(class(t), "data.frame")
  expect_equal(t[, names(as.data.frame(r))], as.data.frame(r))
  expect_equal(unique(t$sample_id[t$sample == 2]), "40")
  expect_equal(unique(t$data_name), "gunpoint$test")
  set.seed(1)
  rc <- unit_relevance(m, gunpoint$test, "conv2", channels = 3:4, samples = c(19, 40), passes = 4,
    progress = FALSE, format = "compact")
  expect_equal(tidy(rc), t)

  res <- cphap(m, gunpoint$train, layers = "conv2", k = 3, progress = FALSE)
  for (w in c("assignments", "periods", "patterns", "unit_pattern", "thresholds", "sets")) {
    tw <- tidy(res, w)
    expect_identical(class(tw), "data.frame")
    expect_equal(nrow(tw), nrow(as.data.frame(res, what = w)))
  }
  a <- tidy(res)
  expect_equal(a$sample_id, as.character(a$sample))
  expect_equal(unique(a$data_name), "gunpoint$train")
  expect_false("sample_id" %in% names(tidy(res, "patterns")))

  e <- explain_sample(res, 19, "conv2", newdata = gunpoint$test)
  te <- tidy(e)
  expect_identical(class(te), "data.frame")
  expect_null(attr(te, "series"))
  expect_equal(nrow(te), nrow(e))
  expect_equal(unique(te$sample_id), "19")

  thr <- res$thresholds
  expect_equal(nrow(tidy(thr)), 64L)
  expect_identical(class(tidy(thr)), "data.frame")
  p <- perturbation(m, gunpoint$test, thr, "conv2", samples = 2:3, shares = 0.5, progress = FALSE)
  expect_equal(tidy(p)[, names(as.data.frame(p))], as.data.frame(p))
  per <- activated_periods(m, gunpoint$test$x[1:3, ], thr)
  expect_identical(class(tidy(per)), "data.frame")
  expect_equal(nrow(tidy(per)), nrow(per))
})

test_that("tidy() of a training history is one row per epoch, metric and set", {
  d <- sim_cbf(60, length = 64)
  set.seed(1)
  m <- fit_model("cnn", d$x, d$y, epochs = 3, validation_split = 0.25, progress = FALSE,
    channels = c(4, 4), kernels = c(5, 3), strides = c(1, 1), pool_sizes = c(2, 2),
    pool_strides = c(2, 2))
  h <- tidy(m$history)
  expect_equal(nrow(h), 3L * 2L * 2L)
  expect_setequal(names(h), c("epoch", "metric", "set", "value"))
  expect_equal(h$value[h$metric == "loss" & h$set == "training"], m$history$loss)
})

test_that("the tidy() methods are registered with the generic", {
  table <- get(".__S3MethodsTable__.", envir = asNamespace("generics"))
  for (cl in c("cphap_relevance", "cphap_relevance_compact", "cphap_explanation", "cphap_perturbation",
               "cphap_result", "cphap_thresholds", "cphap_periods", "cphap_history")) {
    expect_true(exists(paste0("tidy.", cl), envir = table, inherits = FALSE), info = cl)
  }
})
