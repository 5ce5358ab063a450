# FFT convolution at inference (option cphap.conv): every layer's output
# within 1e-11 of the direct kernel, relative to the largest absolute value
# of that layer's output (after its activation).

# A chain of convolutions; each element of `convs` gives out, k and
# optionally stride, dil, pad (left, right) and act.
conv_chain <- function(C, L, convs, seed = 1) {
  set.seed(seed)
  layers <- list()
  c_in <- C
  for (cv in convs) {
    layers[[length(layers) + 1L]] <- list(
      type = "Conv1D", weight = array(rnorm(cv$out * c_in * cv$k), c(cv$out, c_in, cv$k)),
      bias = rnorm(cv$out), activation_name = if (is.null(cv$act)) "relu" else cv$act,
      stride = if (is.null(cv$stride)) 1 else cv$stride,
      dilation = if (is.null(cv$dil)) 1 else cv$dil,
      padding = if (is.null(cv$pad)) c(0, 0) else cv$pad
    )
    c_in <- cv$out
  }
  cphap_model(list(input_dim = c(C, L), layers = layers))
}

# Outputs of every node under a convolution mode.
all_nodes <- function(model, x, mode, threads = 1) {
  withr::local_options(cphap.conv = mode, cphap.threads = threads)
  cphap:::forward_nodes(model, cphap:::as_input(x, model), seq_along(model$layers))
}

# Largest error of each node's output, relative to its largest value.
rel_errors <- function(a, b) {
  vapply(seq_along(a), function(j) max(abs(a[[j]] - b[[j]])) / max(abs(b[[j]]), 1e-300), 0)
}

random_walks <- function(n, C, L) {
  steps <- array(rnorm(n * C * L), c(n, C, L))
  aperm(array(apply(steps, c(1, 2), cumsum), c(L, n, C)), c(2, 3, 1))
}

geometries <- list(
  kernel_1 = list(C = 3, L = 17, convs = list(list(out = 5, k = 1))),
  kernel_longer_than_input = list(C = 2, L = 5, convs = list(list(out = 3, k = 9, pad = c(4, 4)))),
  dilation_3 = list(C = 4, L = 61, convs = list(list(out = 6, k = 5, dil = 3, pad = c(2, 7)))),
  stride_2 = list(C = 1, L = 101, convs = list(list(out = 9, k = 15, stride = 2))),
  stride_3_dilated = list(C = 3, L = 77, convs = list(list(out = 7, k = 4, stride = 3, dil = 2, pad = c(1, 3)))),
  one_channel = list(C = 1, L = 33, convs = list(list(out = 1, k = 7, act = "linear"))),
  odd_lengths = list(C = 5, L = 127, convs = list(
    list(out = 11, k = 11, act = "tanh"), list(out = 13, k = 7, pad = c(3, 3), act = "linear")
  )),
  long_series_blocks = list(C = 6, L = 1500, convs = list(
    list(out = 20, k = 7, dil = 2), list(out = 36, k = 5, pad = c(2, 2))
  )),
  long_kernel = list(C = 4, L = 300, convs = list(list(out = 12, k = 40, dil = 2, pad = c(10, 10)))),
  many_channels = list(C = 32, L = 115, convs = list(list(out = 64, k = 11), list(out = 8, k = 3)))
)

test_that("FFT convolution matches the direct kernel within 1e-11 on many shapes", {
  for (nm in names(geometries)) {
    g <- geometries[[nm]]
    m <- conv_chain(g$C, g$L, g$convs)
    for (n in c(1, 7)) {
      x <- random_walks(n, g$C, g$L)
      d <- all_nodes(m, x, "direct")
      f <- all_nodes(m, x, "fft")
      err <- rel_errors(f, d)
      expect_true(all(err <= 1e-11), label = sprintf("%s, n = %d: errors %s", nm, n,
        paste(format(err, digits = 3), collapse = ", ")))
      # the FFT path really ran: not the direct values bit for bit
      expect_false(identical(f, d), label = sprintf("%s, n = %d: FFT and direct differ", nm, n))
    }
  }
})

test_that("the paper CNN's activations and predictions agree between the paths", {
  for (pad in c("valid", "same")) {
    set.seed(3)
    m <- cphap_model(arch_cnn(c(1, 300), 4, padding = pad))
    x <- random_walks(20, 1, 300)
    d <- all_nodes(m, x, "direct")
    for (mode in c("auto", "fft")) {
      err <- rel_errors(all_nodes(m, x, mode), d)
      expect_true(all(err <= 1e-11), label = paste(pad, mode, paste(format(err, digits = 3), collapse = ", ")))
    }
    withr::with_options(list(cphap.conv = "fft"), p_fft <- predict(m, x, type = "prob"))
    withr::with_options(list(cphap.conv = "direct"), p_dir <- predict(m, x, type = "prob"))
    expect_lte(max(abs(p_fft - p_dir)), 1e-12)
  }
})

test_that("the FFT path gives the same values for 1 and 2 threads and any batch", {
  m <- conv_chain(3, 200, list(list(out = 16, k = 9), list(out = 24, k = 5, stride = 2, pad = c(2, 2))))
  x <- random_walks(37, 3, 200)
  for (mode in c("fft", "auto")) {
    one <- all_nodes(m, x, mode, threads = 1)
    two <- all_nodes(m, x, mode, threads = 2)
    expect_identical(one, two)
    # a sample's values do not depend on the other samples of the call
    part <- all_nodes(m, x[c(5, 30), , , drop = FALSE], mode)
    for (j in seq_along(one)) expect_identical(part[[j]], one[[j]][c(5, 30), , , drop = FALSE])
  }
})

test_that("the option selects the path; auto is the default", {
  set.seed(5)
  m <- cphap_model(arch_cnn(c(1, 945), 3, padding = "same"))
  x <- random_walks(6, 1, 945)
  withr::local_options(cphap.conv = NULL)
  a_default <- activations(m, x, format = "array")
  withr::local_options(cphap.conv = "auto")
  expect_identical(activations(m, x, format = "array"), a_default)
  withr::local_options(cphap.conv = "direct")
  a_direct <- activations(m, x, format = "array")
  # auto takes the FFT path for the second and third layers of the paper's
  # CNN (on series of the paper's length)
  expect_identical(a_direct$conv1, a_default$conv1)
  expect_false(identical(a_direct$conv2, a_default$conv2))
  expect_false(identical(a_direct$conv3, a_default$conv3))
  # the long format carries the same values
  withr::local_options(cphap.conv = "fft")
  long <- activations(m, x, layers = "conv2")
  arr <- activations(m, x, layers = "conv2", format = "array")$conv2
  expect_identical(long$value, as.vector(arr))
})

test_that("thresholds and windows use the same activations as activations()", {
  set.seed(9)
  m <- cphap_model(arch_cnn(c(1, 200), 3, padding = "same"))
  x <- random_walks(15, 1, 200)
  for (mode in c("direct", "fft")) {
    withr::local_options(cphap.conv = mode)
    a <- activations(m, x, layers = "conv3", format = "array")$conv3
    th <- thresholds(m, x, layers = "conv3", alpha = 0.1)
    expect_identical(th$threshold[1], quantile(a[, 1, ], 0.9, names = FALSE))
    # the chunked paths take the mode of the calling process
    expect_identical(thresholds(m, x, layers = "conv3", alpha = 0.1, chunk_size = 4)$threshold,
      th$threshold)
    expect_identical(activations(m, x, layers = "conv3", format = "array", chunk_size = 4)$conv3, a)
    p1 <- activated_periods(m, x, th)
    p2 <- activated_periods(m, x, th, chunk_size = 4)
    expect_identical(p1$activation, p2$activation)
  }
})

test_that("training ignores the option (it always runs the direct kernel)", {
  set.seed(11)
  x <- random_walks(24, 1, 60)
  y <- factor(rep(c("a", "b"), 12))
  fit <- function(mode) {
    withr::local_options(cphap.conv = mode, cphap.threads = 1)
    set.seed(2)
    m <- cphap_model(arch_cnn(c(1, 60), 2, channels = c(4, 6, 8), kernels = c(7, 5, 3),
      strides = c(1, 1, 1), pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
    set.seed(3)
    fit_model(m, x, y, epochs = 2, batch_size = 8, validation_split = 0.25)
  }
  a <- fit("direct")
  b <- fit("fft")
  expect_false(is.null(a$layers[[1]]$weight))
  for (j in seq_along(a$layers)) expect_identical(a$layers[[j]]$weight, b$layers[[j]]$weight)
  expect_identical(a$history, b$history)
})

test_that("bad values of the option give a clear error", {
  set.seed(1)
  m <- conv_chain(1, 20, list(list(out = 2, k = 3)))
  x <- matrix(rnorm(40), 2)
  for (bad in list("fast", 1, NA_character_, c("auto", "fft"), TRUE)) {
    withr::local_options(cphap.conv = bad)
    expect_error(predict(m, x, type = "output"), "cphap.conv")
    expect_error(activations(m, x), "must be one of")
  }
})
