randomize_bn <- function(net) {
  net$layers <- lapply(net$layers, function(l) {
    if (l$type == "BatchNorm") {
      n <- l$num_features
      l$gamma <- runif(n, 0.5, 1.5)
      l$beta <- rnorm(n)
      l$run_mean <- rnorm(n)
      l$run_var <- runif(n, 0.5, 2)
    }
    l
  })
  net
}

test_that("forward pass matches a plain R reference on every layer", {
  nets <- list(
    small_valid_net(),
    { set.seed(3); randomize_bn(arch_resnet(c(2, 24), 3, channels = c(4, 6), kernels = c(5, 3))) },
    { set.seed(4); randomize_bn(arch_fcn(c(1, 30), 2, channels = c(3, 4, 3))) }
  )
  for (net in nets) {
    m <- cphap_model(net)
    x <- array(rnorm(3 * prod(m$input_dim)), c(3, m$input_dim))
    ref <- ref_forward(m, x)
    got <- cphap:::forward_nodes(m, x, seq_along(m$layers))
    for (j in seq_along(ref)) {
      expect_rel_equal(got[[j]], ref[[j]], 1e-12)
    }
  }
})

test_that("each node's activation is recomputed from its receptive-field window alone", {
  net <- small_valid_net(C = 2, L = 40)
  m <- cphap_model(net)
  set.seed(7)
  x <- array(rnorm(2 * 2 * 40), c(2, 2, 40))
  acts <- activations(m, x, format = "array")
  ip <- interpretable_layers(m)
  checked <- 0
  for (q in seq_len(nrow(ip))) {
    sub <- list(input_dim = c(2, ip$size[q]), layers = lapply(net$layers[seq_len(ip$node[q])], function(l) {
      l$output_layers <- NULL
      l
    }))
    sm <- cphap_model(sub)
    expect_equal(sm$layers[[ip$node[q]]]$dim_out[2], 1L)
    per <- receptive_field(m, ip$name[q], position = seq_len(ip$length[q]))
    expect_true(all(per$inside))
    for (t in seq_len(ip$length[q])) {
      win <- x[, , per$start[t]:per$end[t], drop = FALSE]
      alone <- cphap:::forward_nodes(sm, win, ip$node[q])[[1]]
      expect_equal(alone[, , 1], acts[[q]][, , t], tolerance = 1e-13)
      checked <- checked + 1
    }
  }
  expect_equal(checked, sum(ip$length))
})

test_that("the paper's CNN has the exact receptive fields (jump, size, start)", {
  set.seed(1)
  m <- cphap_model(arch_cnn(c(1, 945), 8))
  rf <- receptive_field(m)
  # conv1 k15 s2: R=15, J=2; pool 8/4: R=15+7*2=29, J=8; conv2 k11: R=29+10*8=109;
  # pool 4/2: R=109+3*8=133, J=16; conv3 k7: R=133+6*16=229; pool 4/2: R=229+3*16=277
  expect_equal(rf$size, c(29, 133, 277))
  expect_equal(rf$jump, c(8, 16, 32))
  expect_equal(rf$length, c(115L, 51L, 21L))
  p <- receptive_field(m, "conv3", position = c(1, 21))
  expect_equal(p$start, c(1L, 641L))
  expect_equal(p$end, c(277L, 917L))
})

test_that("padding gives periods that may leave the series, flagged", {
  set.seed(2)
  m <- cphap_model(arch_fcn(c(1, 30), 2, channels = c(3, 4, 3)))
  p <- receptive_field(m, "conv1", position = c(1, 15, 30))
  expect_equal(p$start, c(-2L, 12L, 27L))
  expect_equal(p$end, c(5L, 19L, 34L))
  expect_equal(p$inside, c(FALSE, TRUE, FALSE))
})

test_that("predict gives classes and probabilities; activations long and array agree", {
  m <- cphap_model(small_valid_net())
  x <- array(rnorm(4 * 2 * 40), c(4, 2, 40))
  p <- predict(m, x, type = "prob")
  expect_equal(dim(p), c(4L, 2L))
  expect_equal(rowSums(p), rep(1, 4), tolerance = 1e-14)
  cl <- predict(m, x)
  expect_s3_class(cl, "factor")
  expect_equal(as.integer(cl), unname(max.col(p, "first")))
  long <- activations(m, x, layers = c("conv2", "conv1"))
  arr <- activations(m, x, layers = c("conv2", "conv1"), format = "array")
  expect_named(arr, c("conv2", "conv1"))
  sel <- long$layer == "conv2" & long$sample == 3 & long$channel == 2 & long$position == 5
  expect_equal(long$value[sel], arr$conv2[3, 2, 5])
  expect_equal(nrow(long), length(arr$conv1) + length(arr$conv2))
  expect_equal(names(long), c("sample", "layer", "channel", "position", "value"))
})

test_that("the long format holds the arrays' values in array order, for any chunking", {
  m <- cphap_model(small_valid_net(C = 2, L = 40))
  set.seed(12)
  # 37 samples: not a multiple of the 16 samples per chunk and thread
  x <- array(rnorm(37 * 2 * 40), c(37, 2, 40))
  for (th in 1:2) {
    withr::local_options(cphap.threads = th)
    arr <- activations(m, x, format = "array")
    long <- activations(m, x)
    ref <- do.call(rbind, lapply(names(arr), function(nm) {
      d <- dim(arr[[nm]])
      data.frame(
        sample = rep(seq_len(d[1]), times = d[2] * d[3]), layer = nm,
        channel = rep(rep(seq_len(d[2]), each = d[1]), times = d[3]),
        position = rep(seq_len(d[3]), each = d[1] * d[2]), value = as.vector(arr[[nm]]),
        stringsAsFactors = FALSE
      )
    }))
    ref$layer <- factor(ref$layer, levels = names(arr))
    expect_identical(long, ref)
    expect_identical(activations(m, x, layers = c(2, 1, 2)), activations(m, x, layers = 2:1))
    expect_identical(dim(arr[[1]]), c(37L, interpretable_layers(m)$channels[1],
      interpretable_layers(m)$length[1]))
    # the arrays agree with the plain-R forward pass
    ip <- interpretable_layers(m)
    outs <- ref_forward(m, x)
    for (q in seq_along(arr)) expect_rel_equal(arr[[q]], outs[[ip$node[q]]], 1e-12)
  }
})

test_that("results are identical for 1 and 2 threads", {
  set.seed(5)
  m <- cphap_model(arch_cnn(c(1, 300), 3))
  x <- matrix(rnorm(70 * 300), 70)
  a1 <- withr::with_options(list(cphap.threads = 1), activations(m, x, format = "array"))
  a2 <- withr::with_options(list(cphap.threads = 2), activations(m, x, format = "array"))
  expect_identical(a1, a2)
})

test_that("a vector is one sample; matrices and arrays are accepted", {
  m <- cphap_model(arch_cnn(c(1, 64), 2, kernels = c(5, 3, 3), strides = c(1, 1, 1),
                            pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
  v <- rnorm(64)
  expect_identical(predict(m, v, "prob"), predict(m, matrix(v, 1), "prob"))
  expect_identical(predict(m, v, "prob"), predict(m, array(v, c(1, 1, 64)), "prob"))
})

test_that("bad inputs give clear errors", {
  m <- cphap_model(small_valid_net())
  good <- array(rnorm(3 * 2 * 40), c(3, 2, 40))
  bad <- good
  bad[2, 1, 5] <- NA
  expect_error(predict(m, bad), "newdata.*NA, NaN or infinite.*sample 2")
  bad[2, 1, 5] <- Inf
  expect_error(activations(m, bad), "x.*sample 2")
  bad[2, 1, 5] <- NaN
  expect_error(activations(m, bad), "sample 2")
  expect_error(activations(m, array(0, c(3, 2, 41))), "2 channels x 41 points.*expects 2 x 40")
  expect_error(activations(m, array(0, c(3, 3, 40))), "3 channels x 40 points")
  expect_error(activations(m, matrix(0, 3, 40)), "matrix holds one-channel series.*2 channels")
  expect_error(activations(m, rnorm(40)), "vector is one series")
  expect_error(activations(m, array(0, c(0, 2, 40))), "no samples")
  expect_error(activations(m, array("a", c(3, 2, 40))), "must be numeric")
  expect_error(activations(m, list(1, 2)), "must be numeric")
  expect_error(activations(m, array(0, c(1, 2, 40, 2))), "4 dimensions")
  expect_error(activations(m, good, layers = "conv9"), "unknown layer.*conv9")
  expect_error(activations(m, good, layers = 4), "positions between 1 and 3")
  expect_error(activations(m, good, layers = 0), "positions between 1 and 3")
  expect_error(activations("m", good), "cphap_model")
  expect_error(receptive_field(m, "conv1", position = 17), "between 1 and 16")
  expect_error(receptive_field(m, c("conv1", "conv2"), position = 1), "single layer")
  expect_error(predict(m, good, type = "probability"), "should be one of")
})
