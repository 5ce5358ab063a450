# Gradients of the C backward pass against central finite differences of the
# C loss, for networks that together use every layer type.

loss_grad <- function(m, x, y, mode = 0L, masks = NULL, par = m$spec$par, cw = NULL) {
  s <- m$spec
  s$par <- par
  .Call(cphap:::cp_loss_grad_r, s, aperm(x, 3:1), as.integer(y), cw, as.integer(mode), masks, 1L)
}

fd_rel_error <- function(net, n = 5, mode = 0L, mask_nodes = integer(), seed = 1, h = 1e-5,
                         cw = NULL) {
  set.seed(seed)
  m <- cphap_model(net)
  K <- length(m$classes)
  x <- array(rnorm(n * prod(m$input_dim)), c(n, m$input_dim))
  y <- (seq_len(n) - 1L) %% K
  masks <- NULL
  if (length(mask_nodes) > 0L) {
    masks <- vector("list", length(m$layers))
    for (j in mask_nodes) {
      sz <- n * prod(m$layers[[j]]$dim_out)
      masks[[j]] <- ifelse(runif(sz) < 0.3, 0, 1 / 0.7)
    }
  }
  g <- loss_grad(m, x, y, mode, masks, cw = cw)$grad
  p <- m$spec$par
  num <- vapply(seq_along(p), function(i) {
    a <- p
    b <- p
    a[i] <- a[i] + h
    b[i] <- b[i] - h
    (loss_grad(m, x, y, mode, masks, a, cw)$loss - loss_grad(m, x, y, mode, masks, b, cw)$loss) / (2 * h)
  }, 0)
  max(abs(g - num)) / max(abs(num))
}

odd_net <- function() {
  set.seed(5)
  list(input_dim = c(3, 24), layers = list(
    list(type = "Padding", padding = c(2, 1), value = 0.3),
    list(type = "Conv1D", weight = array(rnorm(4 * 3 * 4, sd = 0.4), c(4, 3, 4)), bias = rnorm(4, sd = 0.1),
         activation_name = "linear", dilation = 2, padding = c(3, 1)),
    list(type = "Activation", act_name = "tanh"),
    list(type = "Conv1D", weight = array(rnorm(5 * 4 * 3, sd = 0.4), c(5, 4, 3)), bias = rnorm(5, sd = 0.1),
         activation_name = "leaky_relu", stride = 3, padding = c(1, 1)),
    list(type = "AveragePooling1D", kernel_size = 3, strides = 2),
    list(type = "Conv1D", weight = array(rnorm(4 * 5 * 2, sd = 0.4), c(4, 5, 2)), bias = rnorm(4, sd = 0.1),
         activation_name = "softplus"),
    list(type = "Activation", act_name = "sigmoid"),
    list(type = "GlobalPooling", method = "max"),
    list(type = "Dense", weight = matrix(rnorm(5 * 4), 5, 4), bias = rnorm(5, sd = 0.1),
         activation_name = "relu"),
    list(type = "Dense", weight = matrix(rnorm(6 * 5), 6, 5), bias = rnorm(6, sd = 0.1),
         activation_name = "linear"),
    list(type = "Activation", act_name = "softmax"),
    list(type = "Skipping", rate = 0.2),
    list(type = "Dense", weight = matrix(rnorm(3 * 6), 3, 6), bias = rnorm(3, sd = 0.1),
         activation_name = "linear")
  ))
}

test_that("backward matches finite differences: conv (dilation, stride), pools, flatten, dense, dropout masks", {
  net <- small_valid_net(C = 2, L = 40)
  expect_lt(fd_rel_error(net, mode = 0L), 1e-6)
  # the dropout node (7) and a conv node (1) with masks, MC and TRAIN mode
  expect_lt(fd_rel_error(net, mode = 2L, mask_nodes = c(1L, 7L)), 1e-6)
  expect_lt(fd_rel_error(net, mode = 1L, mask_nodes = 7L, seed = 2), 1e-6)
})

test_that("backward matches finite differences: padding, tanh, softplus, sigmoid, leaky relu, global max, hidden softmax, linear output", {
  expect_lt(fd_rel_error(odd_net(), n = 6), 1e-6)
  expect_lt(fd_rel_error(odd_net(), n = 6, mode = 2L, mask_nodes = c(3L, 9L)), 1e-6)
  expect_lt(fd_rel_error(odd_net(), n = 6, cw = c(1, 2, 0.5)), 1e-6)
})

test_that("backward matches finite differences: batch norm (running and batch statistics), global average, add", {
  set.seed(11)
  res <- arch_resnet(c(2, 16), 3, channels = c(3, 4), kernels = c(5, 3))
  res$layers <- lapply(res$layers, function(l) {
    if (l$type == "BatchNorm") {
      n <- l$num_features
      l$gamma <- runif(n, 0.5, 1.5)
      l$beta <- rnorm(n, sd = 0.3)
      l$run_mean <- rnorm(n, sd = 0.3)
      l$run_var <- runif(n, 0.5, 2)
    }
    l
  })
  expect_lt(fd_rel_error(res, n = 5, mode = 0L), 1e-6)
  expect_lt(fd_rel_error(res, n = 5, mode = 1L), 1e-6)
  set.seed(12)
  fcn <- arch_fcn(c(1, 20), 2, channels = c(3, 4, 3), kernels = c(4, 3, 2))
  expect_lt(fd_rel_error(fcn, n = 4, mode = 1L), 1e-6)
})

test_that("gradients and running statistics do not depend on the number of threads", {
  set.seed(13)
  fcn <- arch_fcn(c(2, 30), 3, channels = c(6, 8, 5))
  m <- cphap_model(fcn)
  x <- array(rnorm(13 * 60), c(13, 2, 30))
  y <- rep(0:2, length.out = 13)
  a <- .Call(cphap:::cp_loss_grad_r, m$spec, aperm(x, 3:1), y, NULL, 1L, NULL, 1L)
  b <- .Call(cphap:::cp_loss_grad_r, m$spec, aperm(x, 3:1), y, NULL, 1L, NULL, 2L)
  expect_identical(a, b)
})
