# Chunked sample-wise work in this process: results identical to one chunk,
# exact thresholds over any chunking, series read chunk by chunk.

# A ReLU net with a dead channel (bias far below every input) and a
# channel that is zero most of the time (ties), on short series.
relu_dead_net <- function() {
  w <- array(c(1, -1, 1, 0.5, 0, 1, 0.2, 0.1, 0.3), c(3, 1, 3))
  list(input_dim = c(1, 60), layers = list(
    list(type = "Conv1D", weight = w, bias = c(-1.5, -100, 0.1), activation_name = "relu"),
    list(type = "Flatten"),
    list(type = "Dense", weight = matrix(0.01, 2, 3 * 58), bias = c(0, 0),
         activation_name = "softmax")
  ))
}

test_that("thresholds over chunks equal one chunk and quantile(type = 7), bit for bit", {
  m <- cphap_model(relu_dead_net())
  set.seed(21)
  x <- matrix(rnorm(40 * 60), 40, 60)
  a <- activations(m, x, format = "array")[[1]]
  for (alpha in c(1e-6, 0.05, 0.5, 0.999, 1 - 1e-9)) {
    one <- thresholds(m, x, alpha = alpha)
    q <- vapply(1:3, function(k) quantile(a[, k, ], 1 - alpha, names = FALSE, type = 7), 0)
    expect_identical(one$threshold, q)
    for (cs in c(1, 7, 40)) {
      expect_identical(thresholds(m, x, alpha = alpha, chunk_size = cs), one)
    }
  }
  # the dead channel's threshold is 0 and it has no highly activated nodes
  th <- thresholds(m, x, chunk_size = 3)
  expect_identical(th$threshold[2], 0)
  expect_false(any(activated_periods(m, x, th, chunk_size = 3)$channel == 2))
})

test_that("crowded bins take the same passes over chunks as in one chunk", {
  m <- cphap_model(relu_dead_net())
  set.seed(22)
  # 1,200 series: the zeros of a ReLU channel crowd one bin beyond the
  # values collected at once, so the selection takes more than two passes
  x <- matrix(rnorm(1200 * 60, sd = 0.3), 1200, 60)
  one <- thresholds(m, x, alpha = 0.3)
  expect_gt(attr(one, "passes"), 2L)
  expect_identical(thresholds(m, x, alpha = 0.3, chunk_size = 250), one)
})

test_that("activations, periods, windows and cphap() do not depend on the chunk size", {
  m <- demo_model()
  x <- gunpoint$train$x[1:30, ]
  th <- thresholds(m, x)
  per <- activated_periods(m, x, th)
  for (cs in c(1, 11)) {
    expect_identical(activations(m, x, layers = c("conv3", "conv1"), chunk_size = cs),
                     activations(m, x, layers = c("conv3", "conv1")))
    expect_identical(activations(m, x, format = "array", chunk_size = cs),
                     activations(m, x, format = "array"))
    expect_identical(activated_periods(m, x, th, chunk_size = cs), per)
    expect_identical(activated_periods(m, x, th, samples = c(3, 12, 13, 30), channels = 1:4,
                                       chunk_size = cs),
                     activated_periods(m, x, th, samples = c(3, 12, 13, 30), channels = 1:4))
    rev <- per[rev(seq_len(nrow(per))), ]
    expect_identical(period_windows(m, x, rev, "conv2", chunk_size = cs),
                     period_windows(m, x, rev, "conv2"))
    set.seed(1)
    r1 <- cphap(m, x, layers = "conv2", k = 3, progress = FALSE)
    set.seed(1)
    expect_identical(cphap(m, x, layers = "conv2", k = 3, progress = FALSE, chunk_size = cs), r1)
  }
})

test_that("chunk_size is checked", {
  m <- demo_model()
  x <- gunpoint$train$x[1:5, ]
  expect_error(thresholds(m, x, chunk_size = 0), "chunk_size")
  expect_error(activated_periods(m, x, thresholds(m, x), chunk_size = "a"), "chunk_size")
  expect_error(activations(m, x, chunk_size = 1.5), "chunk_size")
})

test_that("series read from files chunk by chunk give the in-memory results", {
  m <- demo_model()
  parts <- list(1:12, 13:30, 31:37)
  paths <- write_ucr_chunks(gunpoint$train, parts)
  # the same series as read back from the files
  x <- do.call(rbind, lapply(paths, function(p) read_ucr(p)$x))
  src <- series_chunks(paths)
  expect_output(print(src), "3 files")
  expect_output(print(src), "not known yet")
  th <- thresholds(m, src)
  expect_identical(th, thresholds(m, x))
  expect_output(print(src), "37 samples")
  expect_identical(thresholds(m, paths, alpha = 0.01), thresholds(m, x, alpha = 0.01))
  expect_identical(activated_periods(m, src, th), activated_periods(m, x, th))
  expect_identical(activated_periods(m, src, th, samples = c(2, 13, 36)),
                   activated_periods(m, x, th, samples = c(2, 13, 36)))
  per <- activated_periods(m, x, th)
  expect_identical(period_windows(m, src, per, "conv1"), period_windows(m, x, per, "conv1"))
  expect_identical(activations(m, src, "conv2"), activations(m, x, "conv2"))
  set.seed(3)
  r1 <- cphap(m, x, layers = "conv2", k = 3, progress = FALSE)
  set.seed(3)
  r2 <- cphap(m, src, layers = "conv2", k = 3, progress = FALSE)
  expect_null(r2$x)
  for (nm in setdiff(names(r1), c("x", "settings"))) expect_identical(r2[[nm]], r1[[nm]], info = nm)
  expect_error(explain_sample(r2, 1), "holds no series")
  expect_s3_class(explain_sample(r2, 2, newdata = gunpoint$test), "cphap_explanation")
})

test_that("a function of a chunk index is a chunk source", {
  m <- demo_model()
  x <- gunpoint$train$x[1:25, ]
  f <- function(i) if (i <= 3) x[seq((i - 1) * 10 + 1, min(25, i * 10)), , drop = FALSE]
  src <- series_chunks(f)
  expect_identical(src$n_chunks, 3L)
  expect_identical(thresholds(m, series_chunks(f, 3), "conv3"), thresholds(m, x, "conv3"))
  expect_error(series_chunks(f, 0), "n_chunks")
  expect_error(series_chunks(42), "source")
  expect_error(series_chunks(c("a.tsv", "b.tsv"), n_chunks = 3), "n_chunks")
})

test_that("bad chunks stop with an error that names the chunk", {
  m <- demo_model()
  x <- gunpoint$train$x[1:20, ]
  L <- ncol(x)
  short <- series_chunks(function(i) if (i == 2) x[1:3, 1:50] else x[1:5, ], 3)
  err <- expect_error(thresholds(m, short), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 2")
  expect_match(conditionMessage(err$parent), "1 x 150")
  words <- series_chunks(function(i) if (i == 3) matrix("a", 2, L) else x[1:5, ], 3)
  err <- expect_error(activated_periods(m, words, thresholds(m, x)), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 3")
  expect_match(conditionMessage(err$parent), "numeric")
  with_na <- series_chunks(function(i) {
    v <- x[1:5, ]
    if (i == 1) v[4, 7] <- NA
    v
  }, 2)
  err <- expect_error(thresholds(m, with_na), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 1")
  expect_match(conditionMessage(err$parent), "NA")
  missing <- series_chunks(function(i) if (i < 3) x[1:5, ], 4)
  err <- expect_error(thresholds(m, missing), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 3")
  expect_match(conditionMessage(err$parent), "NULL")
  failing <- series_chunks(function(i) if (i == 2) stop("disk on fire") else x[1:5, ], 2)
  err <- expect_error(thresholds(m, failing), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 2")
  expect_match(conditionMessage(err$parent), "disk on fire")
  paths <- write_ucr_chunks(gunpoint$train, list(1:5, 6:10))
  gone <- c(paths[1], file.path(tempdir(), "no-such-chunk.tsv"))
  err <- expect_error(thresholds(m, gone), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 2 (file no-such-chunk.tsv)", fixed = TRUE)
  expect_match(conditionMessage(err$parent), "does not exist")
  # a single file is named too, and a single chunk of a function
  err <- expect_error(thresholds(m, gone[2]), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "no-such-chunk.tsv", fixed = TRUE)
  err <- expect_error(thresholds(m, series_chunks(function(i) stop("gone"), 1)),
                      class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 1 (from a function)", fixed = TRUE)
  # a source whose chunk sizes change between calls
  n <- 5
  moving <- series_chunks(function(i) x[seq_len(n), ], 2)
  th <- thresholds(m, moving)
  n <- 6
  expect_error(activated_periods(m, moving, th), class = "cphap_chunk_error")
})

test_that("cphap() loads each chunk once per pass, and file paths learn their sizes once", {
  m <- demo_model()
  x <- gunpoint$train$x[1:30, ]
  seen <- new.env()
  seen$n <- 0L
  f <- function(i) {
    seen$n <- seen$n + 1L
    x[(i - 1) * 10 + 1:10, , drop = FALSE]
  }
  res <- cphap(m, series_chunks(f, 3), layers = "conv2", k = 3, progress = FALSE)
  # the thresholds' passes, then one pass for the periods and one for the windows
  expect_identical(seen$n, 3L * (attr(res$thresholds, "passes") + 2L))
  expect_identical(res$settings$n_x, 30L)
})
