# Shared helpers for the tests.

read_fixture <- function(name) {
  path <- test_path("fixtures", paste0(name, ".txt.gz"))
  con <- gzfile(path)
  on.exit(close(con))
  eval(parse(file = con, keep.source = FALSE))
}

fixture_names <- function() {
  f <- list.files(test_path("fixtures"), pattern = "\\.txt\\.gz$")
  sub("\\.txt\\.gz$", "", f)
}

expect_rel_equal <- function(object, expected, tol = 1e-8) {
  object <- as.vector(object)
  expected <- as.vector(expected)
  expect_equal(length(object), length(expected))
  scale <- max(abs(expected), 1e-300)
  err <- max(abs(object - expected)) / scale
  expect_lte(err, tol)
}

# A small chain network with valid padding, odd sizes and several layer types.
small_valid_net <- function(C = 2, L = 40) {
  set.seed(42)
  list(
    input_dim = c(C, L),
    layers = list(
      list(type = "Conv1D", weight = array(rnorm(5 * C * 4), c(5, C, 4)), bias = rnorm(5),
           activation_name = "relu", stride = 1, dilation = 2),
      list(type = "MaxPooling1D", kernel_size = 3, strides = 2),
      list(type = "Conv1D", weight = array(rnorm(4 * 5 * 3), c(4, 5, 3)), bias = rnorm(4),
           activation_name = "tanh", stride = 2),
      list(type = "AveragePooling1D", kernel_size = 2, strides = 1),
      list(type = "Conv1D", weight = array(rnorm(3 * 4 * 2), c(3, 4, 2)), bias = rnorm(3),
           activation_name = "linear"),
      list(type = "Activation", act_name = "leaky_relu"),
      list(type = "Skipping", rate = 0.3),
      list(type = "Flatten"),
      list(type = "Dense", weight = matrix(rnorm(2 * 15), 2, 15), bias = rnorm(2),
           activation_name = "softmax")
    )
  )
}

# Reference forward pass in plain R (slow, obvious), for small networks.
ref_forward <- function(model, x) {
  x <- cphap:::as_input(x, model)
  n <- dim(x)[1]
  outs <- vector("list", length(model$layers))
  get_in <- function(p) if (p == 0L) x else outs[[p]]
  act <- function(v, a, slope = 0.01) {
    switch(a,
      linear = v, relu = pmax(v, 0), leaky_relu = ifelse(v > 0, v, slope * v),
      tanh = tanh(v), sigmoid = 1 / (1 + exp(-v)), softplus = log1p(exp(v)),
      softmax = {
        e <- exp(v - apply(v, 1, max))
        e / rowSums(e)
      }
    )
  }
  for (j in seq_along(model$layers)) {
    l <- model$layers[[j]]
    a <- get_in(l$input_layers[1])
    d <- l$dim_out
    y <- switch(l$type,
      Conv1D = {
        w <- l$weight
        k <- dim(w)[3]
        ap <- array(0, c(n, dim(a)[2], dim(a)[3] + sum(l$padding)))
        ap[, , l$padding[1] + seq_len(dim(a)[3])] <- a
        y <- array(0, c(n, d[1], d[2]))
        for (t in seq_len(d[2])) {
          idx <- (t - 1) * l$stride + (seq_len(k) - 1) * l$dilation + 1
          for (o in seq_len(d[1])) {
            y[, o, t] <- l$bias[o] + apply(ap[, , idx, drop = FALSE], 1, function(s) sum(s * w[o, , ]))
          }
        }
        act(y, l$activation_name, l$negative_slope)
      },
      Dense = {
        flat <- matrix(aperm(a, c(1, 3, 2)), n)
        y <- flat %*% t(l$weight) + matrix(l$bias, n, nrow(l$weight), byrow = TRUE)
        array(act(y, l$activation_name, l$negative_slope), c(n, d[1], 1))
      },
      MaxPooling1D = ,
      AveragePooling1D = {
        f <- if (l$type == "MaxPooling1D") max else mean
        y <- array(0, c(n, d[1], d[2]))
        for (t in seq_len(d[2])) {
          idx <- (t - 1) * l$strides + seq_len(l$kernel_size)
          y[, , t] <- apply(a[, , idx, drop = FALSE], c(1, 2), f)
        }
        y
      },
      GlobalPooling = {
        f <- if (l$method == "max") max else mean
        array(apply(a, c(1, 2), f), c(n, d[1], 1))
      },
      Flatten = array(aperm(a, c(1, 3, 2)), c(n, d[1], 1)),
      Activation = act(a, l$act_name, l$negative_slope),
      Add = Reduce(`+`, lapply(l$input_layers, get_in)),
      BatchNorm = {
        sc <- l$gamma / sqrt(l$run_var + l$eps)
        sweep(sweep(a, 2, l$run_mean), 2, sc, `*`) + array(rep(l$beta, each = n), dim(a))
      },
      a
    )
    outs[[j]] <- y
  }
  outs
}

forward_check <- function(model, x) {
  predict(model, x, type = "output")
}
