test_that("periods are the nodes above the threshold with their receptive fields", {
  m <- cphap_model(small_valid_net())
  set.seed(6)
  x <- array(rnorm(20 * 2 * 40), c(20, 2, 40))
  th <- thresholds(m, x, alpha = 0.1)
  p <- activated_periods(m, x, th)
  expect_s3_class(p, "cphap_periods")
  expect_named(p, c("sample", "layer", "channel", "position", "activation", "threshold",
                    "start", "end", "inside"))
  long <- activations(m, x)
  long$threshold <- th$threshold[match(paste(long$layer, long$channel), paste(th$layer, th$channel))]
  hi <- long[long$value > long$threshold, ]
  expect_equal(nrow(p), nrow(hi))
  key <- function(d) sort(paste(d$sample, d$layer, d$channel, d$position))
  expect_identical(key(p), key(hi))
  expect_true(all(p$activation > p$threshold))
  ip <- interpretable_layers(m)
  r <- match(as.character(p$layer), ip$name)
  expect_equal(p$end - p$start + 1L, ip$size[r])
  expect_equal(p$start, ip$start[r] + (p$position - 1L) * ip$jump[r] + 1L)
})

test_that("each period window alone reproduces its node's activation (valid padding)", {
  m <- cphap_model(small_valid_net())
  set.seed(7)
  x <- array(rnorm(8 * 2 * 40), c(8, 2, 40))
  th <- thresholds(m, x, alpha = 0.2)
  p <- activated_periods(m, x, th)
  ip <- interpretable_layers(m)
  expect_true(all(p$inside))
  for (q in seq_len(nrow(ip))) {
    pq <- p[p$layer == ip$name[q], ]
    expect_gt(nrow(pq), 0)
    tm <- truncated_model(m, ip$node[q], ip$size[q])
    w <- array(0, c(nrow(pq), 2, ip$size[q]))
    for (i in seq_len(nrow(pq))) w[i, , ] <- x[pq$sample[i], , pq$start[i]:pq$end[i]]
    out <- predict(tm, w, type = "output")
    expect_equal(dim(out), c(nrow(pq), ip$channels[q]))
    got <- out[cbind(seq_len(nrow(pq)), pq$channel)]
    expect_equal(got, pq$activation, tolerance = 1e-12)
  }
})

test_that("the paper's CNN: windows reproduce activations too", {
  set.seed(8)
  m <- cphap_model(arch_cnn(c(1, 300), 4))
  x <- matrix(rnorm(6 * 300), 6, 300)
  th <- thresholds(m, x, alpha = 0.05)
  p <- activated_periods(m, x, th, layers = c("conv2", "conv3"), samples = c(2, 5))
  expect_setequal(unique(p$sample), c(2, 5))
  ip <- interpretable_layers(m)
  for (ln in c("conv2", "conv3")) {
    q <- match(ln, ip$name)
    pq <- p[p$layer == ln & p$inside, ]
    tm <- truncated_model(m, ip$node[q], ip$size[q])
    w <- t(vapply(seq_len(nrow(pq)), function(i) x[pq$sample[i], pq$start[i]:pq$end[i]], numeric(ip$size[q])))
    out <- predict(tm, w, type = "output")
    expect_equal(out[cbind(seq_len(nrow(pq)), pq$channel)], pq$activation, tolerance = 1e-12)
  }
})

test_that("padding layers flag periods outside the series", {
  set.seed(9)
  m <- cphap_model(arch_fcn(c(1, 50), 2, channels = c(4, 4, 4)))
  x <- matrix(rnorm(10 * 50), 10, 50)
  p <- activated_periods(m, x, thresholds(m, x, alpha = 0.1))
  expect_true(any(!p$inside))
  expect_identical(p$inside, p$start >= 1 & p$end <= 50)
})

test_that("channels and samples select rows", {
  m <- small_cnn()
  set.seed(10)
  x <- matrix(rnorm(15 * 64), 15, 64)
  th <- thresholds(m, x)
  all <- activated_periods(m, x, th)
  sub <- activated_periods(m, x, th, layers = "conv1", channels = c(2, 5), samples = 3:7)
  ref <- all[all$layer == "conv1" & all$channel %in% c(2, 5) & all$sample %in% 3:7, ]
  expect_equal(nrow(sub), nrow(ref))
  expect_equal(sub$activation, ref$activation)
})

test_that("no periods: an empty table with the right columns and a message", {
  m <- small_cnn()
  set.seed(11)
  x <- matrix(rnorm(15 * 64), 15, 64)
  th <- thresholds(m, x)
  th$threshold <- Inf
  expect_message(p <- activated_periods(m, x, th), "No highly activated")
  expect_equal(nrow(p), 0L)
  expect_named(p, c("sample", "layer", "channel", "position", "activation", "threshold",
                    "start", "end", "inside"))
  w <- period_windows(m, x, p, "conv1")
  expect_equal(dim(w[[1]]), c(0L, 6L))
})

test_that("activated_periods rejects bad input", {
  m <- small_cnn()
  set.seed(12)
  x <- matrix(rnorm(15 * 64), 15, 64)
  th <- thresholds(m, x, layers = "conv1")
  expect_error(activated_periods(m, x, th, layers = "conv2"), "no thresholds")
  expect_error(activated_periods(m, x, th, channels = 99), "channels")
  expect_error(activated_periods(m, x, th, channels = 0), "channels")
  expect_error(activated_periods(m, x, th, samples = 16), "samples")
  expect_error(activated_periods(m, x, data.frame()), "cphap_thresholds")
  expect_error(activated_periods(m, matrix(0, 2, 30), th), "x")
})

test_that("period windows are cut from z-normalised series", {
  m <- small_cnn()
  set.seed(13)
  x <- matrix(rnorm(15 * 64, mean = 3, sd = 2), 15, 64)
  p <- activated_periods(m, x, thresholds(m, x))
  w <- period_windows(m, x, p, "conv2")[[1]]
  rows <- attr(w, "period")
  z <- t(apply(x, 1, function(s) (s - mean(s)) / sd(s)))
  i <- rows[3]
  expect_equal(w[3, ], z[p$sample[i], p$start[i]:p$end[i]])
  raw <- period_windows(m, x, p, "conv2", normalize = FALSE)[[1]]
  expect_equal(raw[3, ], x[p$sample[i], p$start[i]:p$end[i]])
})

test_that("multivariate windows: per input channel or joint", {
  m <- cphap_model(small_valid_net())
  set.seed(14)
  x <- array(rnorm(10 * 2 * 40), c(10, 2, 40))
  p <- activated_periods(m, x, thresholds(m, x, alpha = 0.2))
  ip <- interpretable_layers(m)
  w <- period_windows(m, x, p, 1, normalize = FALSE)
  expect_named(w, c("ch1", "ch2"))
  j <- period_windows(m, x, p, 1, joint = TRUE, normalize = FALSE)
  expect_equal(j$joint, cbind(w$ch1, w$ch2), ignore_attr = TRUE)
  i <- attr(w$ch2, "period")[1]
  expect_equal(w$ch2[1, ], x[p$sample[i], 2, p$start[i]:p$end[i]])
})
