# Progress bars on long calls (with an argument to turn them off) and the
# compact relevance result.

# cli's logger handler reports every progress bar created, whatever the
# time it takes.
progress_messages <- function(expr) {
  withr::local_options(cli.progress_handlers_only = "logger")
  out <- utils::capture.output(expr)
  out[grepl("created", out)]
}

test_that("perturbation(), cphap(), explain_sample() and unit_relevance() show progress unless progress = FALSE", {
  m <- demo_model()
  thr <- thresholds(m, gunpoint$train, layers = "conv1")
  on <- progress_messages(perturbation(m, gunpoint$test, thr, "conv1", channels = 1:2, samples = 1:3))
  expect_length(on, 1L)
  off <- progress_messages(perturbation(m, gunpoint$test, thr, "conv1", channels = 1:2, samples = 1:3,
    progress = FALSE))
  expect_length(off, 0L)
  expect_error(perturbation(m, gunpoint$test, thr, "conv1", progress = NA), "progress")

  on <- progress_messages(cphap(m, gunpoint$train, layers = c("conv1", "conv2"), k = 3))
  expect_length(on, 1L)
  off <- progress_messages(cphap(m, gunpoint$train, layers = c("conv1", "conv2"), k = 3, progress = FALSE))
  expect_length(off, 0L)

  res <- cphap(m, gunpoint$train, layers = "conv2", k = 3, progress = FALSE)
  on <- progress_messages(explain_sample(res, 1:3, newdata = gunpoint$test))
  expect_length(on, 1L)
  off <- progress_messages(explain_sample(res, 1:3, newdata = gunpoint$test, progress = FALSE))
  expect_length(off, 0L)

  on <- progress_messages(unit_relevance(m, gunpoint$test$x[1:20, ], "conv2", channels = 1:8, passes = 20))
  expect_length(on, 1L)
  off <- progress_messages(unit_relevance(m, gunpoint$test$x[1:20, ], "conv2", channels = 1:8, passes = 20,
    progress = FALSE))
  expect_length(off, 0L)
})

test_that("perturbation() results do not depend on its chunks", {
  m <- demo_model()
  thr <- thresholds(m, gunpoint$train, layers = "conv2")
  set.seed(4)
  p <- perturbation(m, gunpoint$test, thr, "conv2", samples = 1:8, shares = c(0.2, 0.6),
    fill = "noise", progress = FALSE)
  # > 256 perturbed series: several chunks
  expect_gt(nrow(p), 256)
  # one row recomputed by hand: keep the unit's points, fill with noise as drawn
  d <- as.data.frame(p)
  expect_true(all(d$activation_kept >= 0 | is.na(d$activation_kept)))
  expect_true(all(d$active_share >= 0 & d$active_share <= 1))
  set.seed(4)
  q <- perturbation(m, gunpoint$test, thr, "conv2", samples = 1:8, shares = c(0.2, 0.6),
    fill = "noise", progress = TRUE)
  expect_equal(as.data.frame(q), d)
})

test_that("unit_relevance(format = 'compact') holds the long result as arrays", {
  m <- demo_model()
  set.seed(2)
  long <- unit_relevance(m, gunpoint$test$x[c(5, 19, 40), ], "conv2", channels = c(3, 7),
    passes = 6, progress = FALSE)
  set.seed(2)
  comp <- unit_relevance(m, gunpoint$test$x[c(5, 19, 40), ], "conv2", channels = c(3, 7),
    passes = 6, progress = FALSE, format = "compact")
  expect_s3_class(comp, "cphap_relevance_compact")
  expect_equal(dim(comp$mean), c(6L, 1L, 150L))
  expect_equal(nrow(comp$seeds), 6L)
  expect_equal(as.data.frame(comp), as.data.frame(long))
  # the arrays are the long columns
  d <- as.data.frame(long)
  i <- d$sample == 2 & d$channel == 7
  j <- which(comp$seeds$sample == 2 & comp$seeds$channel == 7)
  expect_equal(comp$sd[j, 1, ], d$sd[i])
  expect_equal(comp$q95[j, 1, ], d$q95[i])
  expect_equal(as.data.frame(summary(comp)), as.data.frame(summary(long)))
  expect_lt(as.numeric(object.size(comp)), as.numeric(object.size(long)) / 2)
  expect_output(print(comp), "cphap_relevance_compact")
  expect_s3_class(autoplot(comp, sample = 2), "ggplot")
  expect_error(autoplot(comp, sample = 9), "not in the result")
  # class seeds and lrp()
  cl <- lrp(m, gunpoint$test$x[1:3, ], format = "compact")
  expect_equal(as.data.frame(cl), as.data.frame(lrp(m, gunpoint$test$x[1:3, ])))
  expect_error(unit_relevance(m, gunpoint$test$x[1, ], "conv1", format = "wide"), "should be one of")
})
