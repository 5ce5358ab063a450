# The original work's relevance: true-class logit seed, only the relevance
# through channel k of layer j kept, z+ on every conv and dense layer
# including the output, w^2 on the first convolution, winner-takes-all max
# pooling; checked against a plain R implementation.

# LRP of one sample through a conv / maxpool / dense network in plain R.
# outs: ref_forward() outputs of that sample (n = 1); keep: node whose output
# relevance is kept only in channel k.
ref_original_lrp <- function(model, x, outs, cls, keep, k) {
  ly <- model$layers
  n_l <- length(ly)
  get <- function(p) if (p == 0L) x else outs[[p]]
  dense <- ly[[n_l]]
  a <- get(dense$input_layers[1])
  flat <- as.vector(aperm(a, c(1, 3, 2)))
  logit <- sum(dense$weight[cls, ] * flat) + dense$bias[cls]
  rel <- vector("list", n_l + 1L)
  # output z+: input i gets max(a_i w_ci, 0) / sum * logit
  z <- pmax(dense$weight[cls, ] * flat, 0)
  r_flat <- if (sum(z) > 0) z / sum(z) * logit else 0 * z
  r <- array(r_flat, c(1, length(r_flat), 1))
  for (j in rev(seq_len(n_l - 1L))) {
    l <- ly[[j]]
    if (j == keep) r[, -k, ] <- 0
    inp <- get(l$input_layers[1])
    r <- switch(l$type,
      Skipping = r,
      Flatten = aperm(array(r, c(1, dim(inp)[3], dim(inp)[2])), c(1, 3, 2)),
      MaxPooling1D = {
        out <- array(0, dim(inp))
        for (t in seq_len(dim(r)[3])) {
          idx <- (t - 1) * l$strides + seq_len(l$kernel_size)
          for (ch in seq_len(dim(r)[2])) {
            w <- idx[which.max(inp[1, ch, idx])]
            out[1, ch, w] <- out[1, ch, w] + r[1, ch, t]
          }
        }
        out
      },
      Conv1D = {
        W <- l$weight
        K <- dim(W)[3]
        out <- array(0, dim(inp))
        first <- l$input_layers[1] == 0L
        for (o in seq_len(dim(r)[2])) for (t in seq_len(dim(r)[3])) {
          idx <- (t - 1) * l$stride + seq_len(K)
          zz <- if (first) W[o, , , drop = FALSE][1, , ]^2 else
            pmax(inp[1, , idx, drop = FALSE][1, , ] * W[o, , , drop = FALSE][1, , ], 0)
          zz <- matrix(zz, dim(inp)[2], K)
          if (sum(zz) > 0) out[1, , idx] <- out[1, , idx] + zz / sum(zz) * r[1, o, t]
        }
        out
      }
    )
  }
  r
}

test_that("original_relevance() equals a plain R implementation of the original LRP", {
  set.seed(7)
  m <- cphap_model(arch_cnn(c(1, 24), 3, channels = c(3, 4), kernels = c(3, 3),
                            strides = c(1, 1), pool_sizes = c(2, 2), pool_strides = c(2, 2)))
  x <- array(rnorm(2 * 24), c(2, 1, 24))
  y <- c(3L, 1L)
  set.seed(1)
  # rate 0 (no dropout) makes the passes deterministic
  r <- unit_relevance(m, x, "conv2", channels = 1:4, seed = "class", class = y,
                      rules = "original", passes = 1, rate = 0, progress = FALSE)
  keep <- m$interp$node[m$interp$name == "conv2"]
  for (s in 1:2) {
    outs <- lapply(ref_forward(m, x[s, , , drop = FALSE]), function(o) o)
    for (k in 1:4) {
      ref <- ref_original_lrp(m, x[s, , , drop = FALSE], outs, y[s], keep, k)
      got <- r$mean[r$sample == s & r$channel == k]
      expect_equal(got, as.vector(ref[1, 1, ]), tolerance = 1e-10)
    }
  }
  # the comparison is not vacuous: relevance reaches the input of every sample
  expect_true(all(tapply(abs(r$mean), r$sample, sum) > 0))
  expect_gte(length(unique(r$channel[r$mean != 0])), 2L)
})

test_that("original_relevance() sets the original seed, rules and dropout", {
  m <- demo_model()
  d <- subset(gunpoint$test, seq_along(gunpoint$test$y) <= 2)
  set.seed(3)
  r <- original_relevance(m, d, "conv2", channels = 2, passes = 4, progress = FALSE)
  expect_equal(unique(r$seed), "class")
  expect_equal(unique(r$class[r$sample == 1]), as.character(d$y[1]))
  expect_equal(attr(r, "rules")$preset, "original")
  # dropout on the first convolution's ReLU output (before its pooling)
  expect_equal(cphap:::first_block_activation(m), 1L)
  expect_equal(m$layers[[1]]$type, "Conv1D")
  expect_gt(max(r$sd), 0)
  # the same call by hand
  set.seed(3)
  r2 <- unit_relevance(m, d, "conv2", channels = 2, seed = "class", class = d$y,
                       rules = "original", passes = 4, rate = 0.5, dropout_layers = 1,
                       progress = FALSE)
  expect_equal(r$mean, r2$mean)
  expect_identical(lrp_rules("original")$rules[["output"]], "zplus")
  expect_identical(lrp_rules("default")$rules[["output"]], "epsilon")
})
