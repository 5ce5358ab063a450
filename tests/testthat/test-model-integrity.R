# A model object can never corrupt memory: the C side validates every spec it
# is handed, and the R side rebuilds a model whose parts disagree.

# input 1 x 32: explicit Padding node, convolution, pooling, dense softmax.
pad_net <- function() {
  set.seed(7)
  list(
    input_dim = c(1, 32),
    layers = list(
      list(type = "Padding", padding = c(2, 2)),
      list(type = "Conv1D", weight = array(rnorm(4 * 3), c(4, 1, 3)), bias = rnorm(4),
           activation_name = "relu", stride = 2),
      list(type = "MaxPooling1D", kernel_size = 2, strides = 2),
      list(type = "BatchNorm", num_features = 4, gamma = runif(4, 0.5, 1.5), beta = rnorm(4),
           run_mean = rnorm(4), run_var = runif(4, 0.5, 2), eps = 1e-5),
      list(type = "Skipping", rate = 0.5),
      list(type = "Flatten"),
      list(type = "Dense", weight = matrix(rnorm(2 * 32), 2, 32), bias = c(0, 0),
           activation_name = "softmax")
    )
  )
}

run_spec <- function(spec, x) {
  .Call(cphap:::cp_forward_r, spec, x, 0L, 1L, 0L)
}

test_that("the C side rejects every violated spec invariant, naming node and field", {
  m <- cphap_model(pad_net())
  x <- matrix(rnorm(3 * 32), 3, 32)
  expect_silent(run_spec(m$spec, x))
  s0 <- m$spec
  edit <- function(f) {
    s <- s0
    f(s)
  }
  cases <- list(
    # the issue's negative left padding with a consistent output length
    list(function(s) { s$ispec[1, c("pad_l", "pad_r")] <- c(-3L, 5L); s }, "node 1 \\(Padding\\): fields pad_l/pad_r"),
    # a strided convolution whose kernel is longer than its (padded) input
    list(function(s) { s$ispec[2, "k"] <- 40L; s$ispec[2, "w_n"] <- 160L; s }, "node 2 \\(Conv1D\\): field k: the kernel spans 40"),
    list(function(s) { s$dims <- c(-1L, -32L); s }, "field dims"),
    list(function(s) { s$dims <- c(NA_integer_, 32L); s }, "field dims"),
    list(function(s) { s$ispec[3, "type"] <- 99L; s }, "node 3 .*field type: unknown code 99"),
    list(function(s) { s$ispec[3, "n_in"] <- 0L; s }, "node 3 .*field n_in"),
    list(function(s) { s$ispec[3, "n_in"] <- 2L; s }, "node 3 .*only Add"),
    list(function(s) { s$ispec[3, "in0"] <- 2L; s }, "node 3 .*field in0: input 3 is neither"),
    list(function(s) { s$ispec[3, "in0"] <- 5L; s }, "node 3 .*field in0"),
    list(function(s) { s$ispec[3, "in0"] <- -2L; s }, "node 3 .*field in0"),
    # the largest int as an input reference: the message itself must not overflow
    list(function(s) { s$ispec[3, "in0"] <- .Machine$integer.max; s },
         "node 3 .*field in0: input 2147483648 is neither"),
    list(function(s) { s$ispec[2, "c_in"] <- 2L; s }, "node 2 .*fields c_in/l_in"),
    list(function(s) { s$ispec[3, "l_out"] <- 9L; s }, "node 3 \\(MaxPooling1D\\): field l_out: 9"),
    list(function(s) { s$ispec[3, "k"] <- 0L; s }, "node 3 .*field k"),
    list(function(s) { s$ispec[3, "stride"] <- 0L; s }, "node 3 .*field stride"),
    list(function(s) { s$ispec[2, "stride"] <- -1L; s }, "node 2 .*field stride"),
    list(function(s) { s$ispec[2, "dil"] <- 0L; s }, "node 2 .*field dil"),
    list(function(s) { s$ispec[2, "pad_l"] <- -1L; s$ispec[2, "pad_r"] <- 1L; s }, "node 2 .*pad_l/pad_r"),
    list(function(s) { s$ispec[2, "l_out"] <- 16L; s }, "node 2 .*field l_out: 16"),
    list(function(s) { s$ispec[2, "w_off"] <- 1e6L; s }, "node 2 .*fields w_off/w_n"),
    list(function(s) { s$ispec[2, "w_off"] <- -1L; s }, "node 2 .*fields w_off/w_n"),
    list(function(s) { s$ispec[2, "w_n"] <- 3L; s }, "node 2 .*fields w_off/w_n"),
    list(function(s) { s$ispec[2, "b_off"] <- length(s$par) - 1L; s }, "node 2 .*fields b_off/b_n"),
    list(function(s) { s$ispec[4, "s_off"] <- 5L; s }, "node 4 \\(BatchNorm\\): field s_off"),
    list(function(s) { s$state <- s$state[1:4]; s }, "node 4 .*field s_off"),
    list(function(s) { s$dspec[4, "eps"] <- -1; s }, "node 4 .*field eps"),
    list(function(s) { s$dspec[5, "rate"] <- 1; s }, "node 5 \\(Skipping\\): field rate"),
    list(function(s) { s$ispec[6, "c_out"] <- 31L; s }, "node 6 \\(Flatten\\)"),
    list(function(s) { s$ispec[7, "l_out"] <- 2L; s }, "node 7 \\(Dense\\)"),
    list(function(s) { s$ispec[6, "act"] <- 6L; s$ispec[5, "act"] <- 6L; s }, "node 5 .*softmax needs a flat output"),
    list(function(s) { s$ispec[2, "act"] <- 17L; s }, "node 2 .*field act: unknown code"),
    list(function(s) { s$dspec[2, "act_par"] <- NaN; s }, "node 2 .*field act_par"),
    list(function(s) { s$dspec[1, "pad_val"] <- Inf; s }, "node 1 .*field pad_val"),
    list(function(s) { s$ispec[1, c("c_out", "l_out")] <- c(-1L, -36L); s }, "node 1 .*c_out/l_out"),
    # sizes that overflow 32 (and 64) bits
    list(function(s) {
      s$ispec[2, c("c_out", "k")] <- c(.Machine$integer.max, .Machine$integer.max)
      s
    }, "node 2 .*too large|node 2 .*field k"),
    list(function(s) {
      s$ispec[1, c("pad_r", "l_out")] <- c(.Machine$integer.max - 2L, .Machine$integer.max)
      s
    }, "node 1 .*padding|node 1 .*too large")
  )
  for (cs in cases) {
    s <- edit(cs[[1]])
    expect_error(run_spec(s, x), paste0("invalid model spec: ", cs[[2]]), label = cs[[2]])
    # every entry point that takes a spec validates it the same way
    expect_error(.Call(cphap:::cp_rf_r, s), "invalid model spec")
  }
  # 4 input channels x stride 1e9 phases overflow int in the strided kernel
  set.seed(1)
  m2 <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
                             pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
  s <- m2$spec
  s$ispec[3, c("stride", "l_out")] <- c(1e9L, 1L)
  expect_error(.Call(cphap:::cp_rf_r, s), "node 3 \\(Conv1D\\): fields k/stride: the convolution is too large")
})

test_that("a model whose spec was edited is rebuilt from its layers at every entry point", {
  m <- cphap_model(pad_net())
  set.seed(2)
  x <- matrix(rnorm(12 * 32), 12, 32)
  y <- rep(c("a", "b"), 6)
  bad <- m
  bad$spec$ispec[1, c("pad_l", "pad_r")] <- c(-3L, 5L)
  bad$spec$dims <- c(-1L, -32L)
  bad$interp$node <- 99L
  expect_identical(predict(bad, x, type = "prob"), predict(m, x, type = "prob"))
  expect_identical(activations(bad, x, format = "array"), activations(m, x, format = "array"))
  expect_identical(thresholds(bad, x), thresholds(m, x))
  set.seed(3)
  r1 <- unit_relevance(bad, x[1:2, ], 1, channels = 1, passes = 3, progress = FALSE)
  set.seed(3)
  r0 <- unit_relevance(m, x[1:2, ], 1, channels = 1, passes = 3, progress = FALSE)
  expect_identical(r1, r0)
  expect_identical(lrp(bad, x[1:2, ]), lrp(m, x[1:2, ]))
  set.seed(4)
  f1 <- fit_model(bad, x, y, epochs = 1, batch_size = 4, progress = FALSE)
  set.seed(4)
  f0 <- fit_model(m, x, y, epochs = 1, batch_size = 4, progress = FALSE)
  expect_identical(predict(f1, x, type = "prob"), predict(f0, x, type = "prob"))
  expect_identical(capture.output(print(bad)), capture.output(print(m)))
  set.seed(5)
  c1 <- cphap(bad, x, layers = 1, k = 2)
  set.seed(5)
  c0 <- cphap(m, x, layers = 1, k = 2)
  expect_identical(c1$patterns, c0$patterns)
})

test_that("editing a model's layers takes effect (layers and spec never disagree)", {
  m <- cphap_model(pad_net())
  x <- matrix(rnorm(4 * 32), 4, 32)
  e <- m
  e$layers[[2]]$weight[1, 1, 1] <- 50
  expected <- cphap_model(as.list(e))
  expect_false(isTRUE(all.equal(predict(e, x, type = "prob"), predict(m, x, type = "prob"))))
  expect_identical(predict(e, x, type = "prob"), predict(expected, x, type = "prob"))
  # an edit that breaks the network is an error naming the layer and field
  e$layers[[2]]$weight <- array(1, c(4, 2, 3))
  expect_error(predict(e, x), "Layer 2 \\(Conv1D\\).*weight")
  e <- m
  e$classes <- "only one"
  expect_error(predict(e, x), "classes")
})

test_that("readRDS() is a trust boundary: crafted files are rebuilt or rejected", {
  m <- cphap_model(pad_net())
  x <- matrix(rnorm(3 * 32), 3, 32)
  path <- withr::local_tempfile(fileext = ".rds")
  # a faithful round trip changes nothing
  saveRDS(m, path)
  expect_identical(predict(readRDS(path), x, type = "prob"), predict(m, x, type = "prob"))
  # layers and spec both crafted consistently with a negative pad
  crafted <- m
  crafted$layers[[1]]$padding <- c(-3L, 5L)
  crafted$spec$ispec[1, c("pad_l", "pad_r")] <- c(-3L, 5L)
  saveRDS(crafted, path)
  rd <- readRDS(path)
  for (f in list(
    function() predict(rd, x), function() print(rd), function() activations(rd, x),
    function() thresholds(rd, x), function() lrp(rd, x),
    function() unit_relevance(rd, x, 1, passes = 2, progress = FALSE),
    function() fit_model(rd, x, c("a", "b", "a"), epochs = 1, progress = FALSE),
    function() cphap(rd, x, k = 2)
  )) {
    expect_error(f(), "Layer 1 \\(Padding\\).*padding")
  }
  # negative dims that multiply to the right size
  crafted <- m
  crafted$input_dim <- c(-1L, -32L)
  crafted$spec$dims <- c(-1L, -32L)
  saveRDS(crafted, path)
  expect_error(predict(readRDS(path), x), "input_dim")
  # a strided convolution whose kernel exceeds its input
  crafted <- m
  crafted$layers[[2]]$weight <- array(1, c(4, 1, 40))
  crafted$layers[[2]]$dim_out <- c(4L, 1L)
  saveRDS(crafted, path)
  expect_error(predict(readRDS(path), x), "Layer 2 \\(Conv1D\\).*kernel")
  # not a network at all
  crafted <- m
  crafted$layers <- 1:3
  saveRDS(crafted, path)
  expect_error(predict(readRDS(path), x), "not a valid")
  expect_error(print(readRDS(path)), "not a valid")
})

test_that("window results too large for int are an error saying how large", {
  # 65537 channel copies x 65536 points: the column count wraps to 65536 in int
  x <- rnorm(65536)
  expect_error(
    .Call(cphap:::cp_windows_r, x, c(1L, 1L, 65536L), 1L, 1L, 65536L, rep(1L, 65537L), 1L),
    "windows: result too large \\(65537 x 65536"
  )
  expect_error(
    .Call(cphap:::cp_windows_r, x, c(-1L, -1L, 65536L), 1L, 1L, 1L, 1L, 1L),
    "does not match"
  )
  m <- cphap_model(pad_net())
  xs <- matrix(rnorm(6 * 32), 6, 32)
  per <- activated_periods(m, xs, thresholds(m, xs, alpha = 0.5))
  expect_error(
    period_windows(m, xs, per, 1, input_channels = rep(1, 1e5), joint = TRUE),
    "distinct"
  )
})

test_that("thread counts are capped at 4 per core, with a message", {
  m <- cphap_model(pad_net())
  x <- matrix(rnorm(4 * 32), 4, 32)
  ref <- predict(m, x, type = "prob")
  for (th in c(1e5, 2^27, 1e12)) {
    withr::local_options(cphap.threads = th)
    expect_message(p <- predict(m, x, type = "prob"), "using [0-9]+ \\(4 per available core\\)")
    expect_identical(p, ref)
  }
  withr::local_options(cphap.threads = 1e4)
  expect_message(r <- unit_relevance(m, x[1:2, ], 1, channels = 1, passes = 2, progress = FALSE),
                 "4 per available core")
  expect_s3_class(r, "cphap_relevance")
  expect_message(cluster_validity(matrix(rnorm(40), 20), rep(1:2, 10), threads = 1e6),
                 "4 per available core")
  expect_lte(suppressMessages(withr::with_options(list(cphap.threads = 2^27), cphap:::cphap_threads())),
             4L * parallel::detectCores())
})

test_that("cluster_validity() accepts any distinct labels (1 and 1e9 are two clusters)", {
  set.seed(3)
  w <- rbind(matrix(rnorm(100), 10), matrix(rnorm(100, 3), 10))
  a <- cluster_validity(w, rep(c(1, 2), each = 10))
  expect_true(all(is.finite(a)))
  expect_identical(cluster_validity(w, rep(c(1, 1e9), each = 10)), a)
  expect_identical(cluster_validity(w, rep(c(5, 1e12), each = 10)), a)
  expect_error(cluster_validity(w, rep(c(1, 1.5), each = 10)), "whole-number")
})

test_that("non-finite relevance is NA with a warning, never silent", {
  set.seed(1)
  m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
                            pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
  x <- matrix(1e308, 2, 64)
  expect_true(all(is.finite(predict(m, x, type = "prob"))))
  expect_warning(r <- unit_relevance(m, x, 1, passes = 3, progress = FALSE),
                 "not finite and were set to NA")
  expect_false(any(is.nan(r$mean)))
  expect_true(all(is.finite(r$mean) | is.na(r$mean)))
  expect_true(anyNA(r$mean))
  expect_false(any(is.nan(suppressWarnings(lrp(m, x))$mean)))
  # ordinary inputs: no warning
  expect_no_warning(unit_relevance(m, matrix(rnorm(128), 2, 64), 1, passes = 3, progress = FALSE))
})

test_that("whole numbers beyond INT_MAX are errors naming the argument", {
  set.seed(1)
  m <- cphap_model(pad_net())
  x <- matrix(rnorm(64), 2, 32)
  expect_error(unit_relevance(m, x, 1, passes = 1e12, progress = FALSE), "`passes`.*2147483647")
  expect_error(cphap_model(list(input_dim = c(1, 1e10), layers = list(list(type = "Flatten")))),
               "input_dim.*2147483647")
  expect_error(arch_cnn(c(1, 64), 3, kernels = c(5e10, 3, 3)), "`kernels`")
  expect_error(cphap(m, x, k = 1e12), "`k`.*2147483647")
  expect_error(cluster_validity(matrix(rnorm(40), 20), rep(1:2, 10), sample_size = 1e10),
               "`sample_size`")
})

test_that("cphap(), unit_relevance() and fit_model() agree for 1 and 2 threads", {
  m <- cphap_model(pad_net())
  set.seed(9)
  x <- matrix(rnorm(16 * 32), 16, 32)
  y <- rep(c("a", "b"), 8)
  run <- function(th) {
    withr::local_options(cphap.threads = th)
    set.seed(11)
    list(
      cphap = cphap(m, x, layers = 1, k = 2)$patterns,
      rel = unit_relevance(m, x[1:3, ], 1, passes = 5, progress = FALSE),
      fit = predict(fit_model(m, x, y, epochs = 2, batch_size = 4, progress = FALSE), x,
                    type = "prob")
    )
  }
  expect_identical(run(1), run(2))
})

test_that("perturbation() turns non-finite shares into NA with a warning", {
  set.seed(1)
  m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
                            pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
  thr <- thresholds(m, matrix(rnorm(640), 10))
  x <- matrix(1e308, 4, 64)
  x[, 1:32] <- -1e308
  warned <- character()
  p <- withCallingHandlers(perturbation(m, x, thr, 1, shares = 0.2),
    warning = function(w) {
      warned <<- c(warned, conditionMessage(w))
      invokeRestart("muffleWarning")
    }
  )
  expect_true(any(grepl("not finite", warned)))
  expect_false(any(is.nan(p$activation_kept)))
  expect_true(all(is.finite(p$activation_kept) | is.na(p$activation_kept)))
  s <- summary(p)
  expect_s3_class(s, "data.frame")
})
