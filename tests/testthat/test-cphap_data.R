test_that("cphap_data validates and builds the object", {
  x <- matrix(rnorm(12), nrow = 3)
  d <- cphap_data(x, c("a", "b", "a"))
  expect_s3_class(d, "cphap_data")
  expect_named(d, c("x", "y", "events"))
  expect_s3_class(d$y, "factor")
  expect_null(d$events)
  ev <- data.frame(sample = 2, channel = 1, start = 1, end = 3, class = "b")
  d <- cphap_data(x, factor(c("a", "b", "a")), ev)
  expect_type(d$events$start, "integer")
  expect_equal(levels(d$events$class), c("a", "b"))
})

test_that("cphap_data gives clear errors", {
  x <- matrix(rnorm(12), nrow = 3)
  expect_error(cphap_data("a", 1), "`x` must be a numeric matrix")
  expect_error(cphap_data(1:3, 1:3), "vector without dimensions")
  expect_error(cphap_data(array(1, c(2, 2, 2, 2)), 1:2), "4 dimensions")
  expect_error(cphap_data(x, 1:2), "one label per series \\(3\\), not 2")
  expect_error(cphap_data(x, list(1, 2, 3)), "`y` must be a factor")
  expect_error(cphap_data(x, 1:3, events = 1), "`events` must be NULL or a data frame")
  expect_error(
    cphap_data(x, 1:3, data.frame(sample = 1, channel = 1, start = 1)),
    "lacks columns? .*end"
  )
  bad <- data.frame(sample = 1, channel = 1, start = 3, end = 5, class = 1)
  expect_error(cphap_data(x, 1:3, bad), "inside the data")
  bad$end <- 2
  expect_error(cphap_data(x, 1:3, bad), "inside the data")
  bad <- data.frame(sample = 1, channel = 1, start = 1, end = 2, class = "z")
  expect_error(cphap_data(x, 1:3, bad), "Row 1 has \"z\"")
  bad <- data.frame(sample = 1.5, channel = 1, start = 1, end = 2, class = 1)
  expect_error(cphap_data(x, 1:3, bad), "whole numbers")
})

test_that("print and summary describe the data", {
  set.seed(1)
  d <- sim_multivariate(n = 6, n_channels = 2, length = 30, motif_length = 10)
  expect_output(print(d), "6 series, 2 channels, length 30")
  expect_output(print(d), "sine \\(3\\), triangle \\(3\\)")
  expect_output(print(d), "6 planted")
  s <- summary(d)
  expect_s3_class(s, "summary.cphap_data")
  expect_equal(c(s$n, s$n_channels, s$length, s$n_events), c(6, 2, 30, 6))
  expect_equal(s$classes$n, c(3L, 3L))
  expect_output(print(s), "channels: 2")
  expect_output(print(cphap_data(matrix(1, 2, 2), c(NA, "a"))), "<NA> \\(1\\)")
})

test_that("as.data.frame gives the long format in sample, channel, time order", {
  x <- array(seq_len(2 * 3 * 4), dim = c(2, 3, 4))
  d <- cphap_data(x, c("p", "q"))
  df <- as.data.frame(d)
  expect_named(df, c("sample", "channel", "time", "value", "class"))
  expect_equal(nrow(df), 24)
  expect_equal(df$value, mapply(function(i, k, t) x[i, k, t], df$sample, df$channel, df$time))
  expect_equal(df$sample, rep(1:2, each = 12))
  expect_equal(as.character(df$class), rep(c("p", "q"), each = 12))
  expect_equal(head(df$time, 5), c(1:4, 1L))
  m <- matrix(1:6, nrow = 2)
  df1 <- as.data.frame(cphap_data(m, 1:2))
  expect_equal(df1$channel, rep(1L, 6))
  expect_equal(df1$value, c(1, 3, 5, 2, 4, 6))
})

test_that("subset keeps the chosen series and renumbers their events", {
  set.seed(2)
  d <- sim_two_patterns(n = 8, length = 64)
  s <- subset(d, c(3, 1))
  expect_equal(s$x, d$x[c(3, 1), ])
  expect_equal(s$y, d$y[c(3, 1)])
  expect_equal(levels(s$y), levels(d$y))
  expect_equal(s$events$sample, c(1L, 1L, 2L, 2L))
  expect_equal(s$events$start, c(d$events$start[5:6], d$events$start[1:2]))
  s2 <- subset(d, d$y == d$y[[1]])
  expect_true(all(s2$y == d$y[[1]]))
  expect_equal(nrow(s2$events), 2 * length(s2$y))
  m <- sim_multivariate(n = 4, length = 30, motif_length = 5)
  expect_equal(dim(subset(m, 2)$x), c(1, 3, 30))
  expect_error(subset(d, 9), "between 1 and 8")
  expect_error(subset(d, TRUE), "one TRUE/FALSE value per series")
})

test_that("a cphap_dataset prints both parts and flattens with a split column", {
  ds <- structure(
    list(train = sim_cbf(3, 16), test = sim_cbf(3, 16)),
    class = "cphap_dataset", title = "toy"
  )
  expect_output(print(ds), "toy")
  expect_output(print(ds), "\\$test: <cphap_data> 3 series")
  df <- as.data.frame(ds)
  expect_equal(levels(df$split), c("train", "test"))
  expect_equal(nrow(df), 2 * 3 * 16)
})
