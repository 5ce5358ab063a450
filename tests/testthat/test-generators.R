# Mean of |x| inside and outside the planted events of each series.
event_contrast <- function(d) {
  x <- d$x
  if (length(dim(x)) == 2L) x <- array(x, dim = c(nrow(x), 1L, ncol(x)))
  inside <- array(FALSE, dim = dim(x))
  for (r in seq_len(nrow(d$events))) {
    e <- d$events[r, ]
    inside[e$sample, e$channel, e$start:e$end] <- TRUE
  }
  c(inside = mean(abs(x[inside])), outside = mean(abs(x[!inside])))
}

check_events_inside <- function(d) {
  dims <- if (length(dim(d$x)) == 2L) c(nrow(d$x), 1L, ncol(d$x)) else dim(d$x)
  ev <- d$events
  expect_true(all(ev$sample >= 1 & ev$sample <= dims[[1]]))
  expect_true(all(ev$channel >= 1 & ev$channel <= dims[[2]]))
  expect_true(all(ev$start >= 1 & ev$start <= ev$end & ev$end <= dims[[3]]))
  expect_equal(as.character(ev$class), as.character(d$y[ev$sample]))
  expect_named(ev, c("sample", "channel", "start", "end", "class", "pattern"))
}

test_that("sim_cbf has the right shape, events and balanced classes", {
  set.seed(1)
  d <- sim_cbf(n = 30)
  expect_s3_class(d, "cphap_data")
  expect_equal(dim(d$x), c(30, 128))
  expect_equal(levels(d$y), c("cylinder", "bell", "funnel"))
  expect_equal(as.vector(table(d$y)), c(10L, 10L, 10L))
  expect_equal(nrow(d$events), 30)
  check_events_inside(d)
  expect_true(all(d$events$start >= 16 & d$events$start <= 32))
  width <- d$events$end - d$events$start
  expect_true(all(width >= 32 & width <= 96))
  expect_equal(as.vector(table(sim_cbf(n = 31)$y)), c(11L, 10L, 10L))
})

test_that("sim_cbf scales the event bounds with the length", {
  set.seed(2)
  d <- sim_cbf(n = 60, length = 64)
  expect_equal(dim(d$x), c(60, 64))
  check_events_inside(d)
  expect_true(all(d$events$start >= 8 & d$events$start <= 16))
  expect_true(all(d$events$end - d$events$start >= 16))
  d <- sim_cbf(n = 20, length = 8)
  check_events_inside(d)
})

test_that("sim_cbf follows Saito's definition", {
  set.seed(3)
  d <- sim_cbf(n = 3, noise = 0)
  for (i in 1:3) {
    e <- d$events[i, ]
    x <- d$x[i, ]
    t <- seq_along(x)
    out <- t < e$start | t > e$end
    expect_true(all(x[out] == 0))
    inside <- x[e$start:e$end]
    if (d$y[[i]] == "cylinder") expect_equal(diff(range(inside)), 0)
    if (d$y[[i]] == "bell") expect_true(all(diff(inside) > 0) && inside[[1]] == 0)
    if (d$y[[i]] == "funnel") expect_true(all(diff(inside) < 0) && inside[[length(inside)]] == 0)
  }
  set.seed(4)
  d <- sim_cbf(n = 90)
  cyl <- d$y == "cylinder"
  contrast <- event_contrast(subset(d, cyl))
  ev <- d$events[cyl, ]
  inside_mean <- mean(unlist(lapply(seq_len(nrow(ev)), function(r) d$x[ev$sample[r], ev$start[r]:ev$end[r]])))
  expect_gt(inside_mean, 5)
  expect_gt(contrast[["inside"]], 3 * contrast[["outside"]])
})

test_that("sim_two_patterns plants two non-overlapping step patterns", {
  set.seed(5)
  d <- sim_two_patterns(n = 40)
  expect_equal(dim(d$x), c(40, 128))
  expect_equal(levels(d$y), c("UU", "UD", "DU", "DD"))
  expect_equal(as.vector(table(d$y)), rep(10L, 4))
  expect_equal(nrow(d$events), 80)
  check_events_inside(d)
  first <- d$events[c(TRUE, FALSE), ]
  second <- d$events[c(FALSE, TRUE), ]
  expect_equal(first$sample, 1:40)
  expect_true(all(first$end < second$start))
  lens <- d$events$end - d$events$start + 1
  expect_true(all(lens >= 16 & lens <= 32))
  code <- paste0(ifelse(first$pattern == "up", "U", "D"), ifelse(second$pattern == "up", "U", "D"))
  expect_equal(code, as.character(d$y))
  for (r in 1:4) {
    e <- d$events[r, ]
    v <- d$x[e$sample, e$start:e$end]
    expect_true(all(abs(v) == 5))
    expect_equal(v[[1]] < 0, e$pattern == "up")
  }
  contrast <- event_contrast(d)
  expect_gt(contrast[["inside"]], 3 * contrast[["outside"]])
})

test_that("sim_multivariate plants a motif in the chosen channel", {
  set.seed(6)
  d <- sim_multivariate(n = 20)
  expect_equal(dim(d$x), c(20, 3, 100))
  expect_equal(levels(d$y), c("sine", "triangle"))
  expect_equal(as.vector(table(d$y)), c(10L, 10L))
  check_events_inside(d)
  expect_true(all(d$events$channel == 1L))
  expect_true(all(d$events$end - d$events$start + 1 == 20))
  contrast <- event_contrast(d)
  expect_gt(contrast[["inside"]], 1.5 * contrast[["outside"]])

  d0 <- sim_multivariate(n = 4, n_channels = 2, motif_channel = 2, noise = 0)
  expect_true(all(d0$x[, 1, ] == 0))
  for (i in 1:4) {
    e <- d0$events[i, ]
    v <- d0$x[i, 2, e$start:e$end]
    expect_equal(sum(d0$x[i, 2, ] != 0), 20)
    if (e$class == "triangle") expect_true(all(v > 0)) else expect_equal(sum(v), 0)
  }

  set.seed(7)
  dr <- sim_multivariate(n = 60, n_channels = 4, motif_channel = NULL)
  check_events_inside(dr)
  expect_equal(sort(unique(dr$events$channel)), 1:4)

  d1 <- sim_multivariate(n = 5, n_channels = 1, length = 30, motif_length = 10)
  expect_equal(dim(d1$x), c(5, 30))
})

test_that("generators are reproducible under set.seed", {
  set.seed(42); a <- sim_cbf(10); set.seed(42); b <- sim_cbf(10)
  expect_identical(a, b)
  set.seed(42); a <- sim_two_patterns(10); set.seed(42); b <- sim_two_patterns(10)
  expect_identical(a, b)
  set.seed(42); a <- sim_multivariate(10); set.seed(42); b <- sim_multivariate(10)
  expect_identical(a, b)
  set.seed(43); c <- sim_multivariate(10)
  expect_false(identical(a$x, c$x))
})

test_that("generators check their arguments", {
  expect_error(sim_cbf(n = 0), "`n` must be a single whole number at least 1")
  expect_error(sim_cbf(n = 2.5), "`n`")
  expect_error(sim_cbf(length = 4), "`length` must be a single whole number at least 8")
  expect_error(sim_cbf(noise = -1), "`noise` must be a single finite number at least 0")
  expect_error(sim_cbf(noise = "a"), "It is a string")
  expect_error(sim_two_patterns(length = 10), "`length`")
  expect_error(sim_multivariate(motif_length = 30, length = 20), "`length` must be a single whole number at least 30")
  expect_error(sim_multivariate(motif_channel = 4), "`motif_channel` must be a single whole number between 1 and 3")
  expect_error(sim_multivariate(amplitude = 0), "`amplitude` must be a single finite number greater than 0")
  expect_error(sim_multivariate(n_channels = NA), "`n_channels`")
})
