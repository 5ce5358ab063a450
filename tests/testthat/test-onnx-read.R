# read_onnx() on ONNX files crafted byte by byte (helper-onnx.R): every
# operator and attribute against the same network built from the list format.

rand <- function(...) array(rnorm(prod(c(...))), c(...))

# Output of the ONNX model equals that of the list network on random input.
expect_same_net <- function(bytes, net, input_length = NULL, tol = 1e-12, n = 4) {
  m <- read_onnx(bytes, input_length = input_length)
  ref <- cphap_model(net)
  d <- ref$input_dim
  x <- array(rnorm(n * prod(d)), c(n, d))
  expect_equal(m$input_dim, ref$input_dim)
  expect_equal(predict(m, x, type = "output"), predict(ref, x, type = "output"),
    tolerance = tol, ignore_attr = TRUE
  )
  invisible(m)
}

conv_pool_dense_nodes <- function() {
  list(
    onnx_node("Conv", c("x", "W1", "b1"), "c1", list(kernel_shape = a_ints(5)), name = "conv"),
    onnx_node("Relu", "c1", "r1"),
    onnx_node("MaxPool", "r1", "p1", list(kernel_shape = a_ints(2), strides = a_ints(2))),
    onnx_node("Flatten", "p1", "f", list(axis = a_int(1))),
    onnx_node("Gemm", c("f", "W2", "b2"), "y", list(transB = a_int(1)))
  )
}

test_that("a conv / pool / dense network matches the list-format network (float64 and float32)", {
  set.seed(1)
  W1 <- rand(4, 2, 5)
  b1 <- rnorm(4)
  W2 <- rand(3, 32)
  b2 <- rnorm(3)
  inits <- list(W1 = W1, b1 = b1, W2 = W2, b2 = b2)
  net <- function(f = identity) {
    list(input_dim = c(2, 20), layers = list(
      list(type = "Conv1D", weight = f(W1), bias = f(b1), activation_name = "relu"),
      list(type = "MaxPooling1D", kernel_size = 2),
      list(type = "Flatten"),
      list(type = "Dense", weight = f(W2), bias = f(b2), activation_name = "linear")
    ))
  }
  b64 <- onnx_build(conv_pool_dense_nodes(), inits, c(2, 20))
  m <- expect_same_net(b64, net())
  expect_equal(vapply(m$layers, function(l) l$type, ""), c("Conv1D", "MaxPooling1D", "Flatten", "Dense"))
  expect_equal(interpretable_layers(m)$name, "conv1")
  # float32, raw and typed fields: the weights rounded to float32
  f32 <- function(v) array(as_f32(v), if (is.null(dim(v))) length(v) else dim(v))
  for (raw in c(TRUE, FALSE)) {
    b32 <- onnx_build(conv_pool_dense_nodes(), inits, c(2, 20), type = "float", raw = raw)
    expect_same_net(b32, net(f32))
  }
  # float16 (values exactly representable)
  h <- function(v) array(round(v * 8) / 8, if (is.null(dim(v))) length(v) else dim(v))
  inits16 <- lapply(inits, h)
  for (raw in c(TRUE, FALSE)) {
    b16 <- onnx_build(conv_pool_dense_nodes(), inits16, c(2, 20), type = "float16", raw = raw)
    expect_same_net(b16, net(h))
  }
})

test_that("read_onnx reads files, records the origin and prints it", {
  set.seed(2)
  inits <- list(W1 = rand(4, 2, 5), b1 = rnorm(4), W2 = rand(3, 32), b2 = rnorm(3))
  bytes <- onnx_build(conv_pool_dense_nodes(), inits, c(2, 20))
  f <- withr::local_tempfile(fileext = ".onnx")
  writeBin(bytes, f)
  m <- read_onnx(f)
  expect_equal(m$onnx$producer, "cphap-tests")
  expect_equal(m$onnx$opset, 13)
  expect_output(print(m), "Read from ONNX .*onnx \\(written by cphap-tests 0.1, opset 13\\)")
  expect_identical(predict(m, array(1, c(1, 2, 20)), "output"), predict(read_onnx(bytes), array(1, c(1, 2, 20)), "output"))
})

test_that("predict type prob applies softmax to linear outputs; type output is raw", {
  set.seed(3)
  inits <- list(W1 = rand(4, 2, 5), b1 = rnorm(4), W2 = rand(3, 32), b2 = rnorm(3))
  m <- read_onnx(onnx_build(conv_pool_dense_nodes(), inits, c(2, 20)))
  x <- array(rnorm(5 * 40), c(5, 2, 20))
  out <- predict(m, x, type = "output")
  p <- predict(m, x, type = "prob")
  expect_equal(p, exp(out) / rowSums(exp(out)), tolerance = 1e-14)
  expect_equal(rowSums(p), rep(1, 5), tolerance = 1e-14)
  expect_false(isTRUE(all.equal(p, out)))
  expect_equal(as.integer(predict(m, x)), unname(max.col(out, "first")))
  # a softmax output is returned as is
  nodes <- c(conv_pool_dense_nodes()[1:4], list(
    onnx_node("Gemm", c("f", "W2", "b2"), "z", list(transB = a_int(1))),
    onnx_node("Softmax", "z", "y", list(axis = a_int(-1)))
  ))
  ms <- read_onnx(onnx_build(nodes, inits, c(2, 20)))
  expect_equal(ms$layers[[4]]$activation_name, "softmax")
  expect_equal(predict(ms, x, type = "prob"), predict(ms, x, type = "output"))
  expect_equal(predict(ms, x, type = "prob"), p, tolerance = 1e-14)
})

test_that("activations: LeakyRelu alpha, Tanh, Sigmoid, Softplus, fused or as layers", {
  set.seed(4)
  W <- rand(3, 1, 3)
  acts <- list(
    list(op = "LeakyRelu", attrs = list(alpha = a_float(0.25)), name = "leaky_relu", slope = 0.25),
    list(op = "Tanh", attrs = list(), name = "tanh"),
    list(op = "Sigmoid", attrs = list(), name = "sigmoid"),
    list(op = "Softplus", attrs = list(), name = "softplus")
  )
  for (a in acts) {
    nodes <- list(
      onnx_node("Conv", c("x", "W"), "c"),
      onnx_node(a$op, "c", "a", a$attrs),
      onnx_node("Dropout", "a", "d"),
      onnx_node(a$op, "d", "a2", a$attrs),
      onnx_node("GlobalAveragePool", "a2", "g"),
      onnx_node("Flatten", "g", "y")
    )
    slope <- if (is.null(a$slope)) 0.01 else a$slope
    net <- list(input_dim = c(1, 12), layers = list(
      list(type = "Conv1D", weight = W, bias = rep(0, 3), activation_name = a$name, negative_slope = slope),
      list(type = "Skipping", rate = 0.5),
      list(type = "Activation", act_name = a$name, negative_slope = slope),
      list(type = "GlobalPooling", method = "average"),
      list(type = "Flatten")
    ))
    m <- expect_same_net(onnx_build(nodes, list(W = W), c(1, 12), opset = 11), net)
    expect_equal(m$layers[[1]]$activation_name, a$name)
    expect_equal(m$layers[[2]]$rate, 0.5)
  }
})

test_that("Softmax axis rules by opset and LogSoftmax read as softmax", {
  set.seed(5)
  W <- rand(3, 10)
  net <- list(input_dim = c(1, 10), layers = list(
    list(type = "Dense", weight = W, bias = rep(0, 3), activation_name = "softmax")
  ))
  for (opset in c(9, 11, 13, 17)) {
    ax <- if (opset < 13) 1 else -1
    nodes <- list(
      onnx_node("MatMul", c("x", "Wt"), "z"),
      onnx_node("Softmax", "z", "y", list(axis = a_int(ax)))
    )
    expect_same_net(onnx_build(nodes, list(Wt = t(W)), 10, opset = opset), net)
  }
  nodes <- list(onnx_node("MatMul", c("x", "Wt"), "z"), onnx_node("LogSoftmax", "z", "y"))
  m <- expect_same_net(onnx_build(nodes, list(Wt = t(W)), 10), net)
  expect_true(m$onnx$log_softmax)
  expect_output(print(m), "LogSoftmax output read as softmax")
  # softmax over time of a series is refused
  nodes <- list(
    onnx_node("Conv", c("x", "Wc"), "c"),
    onnx_node("Softmax", "c", "y", list(axis = a_int(-1)))
  )
  expect_error(read_onnx(onnx_build(nodes, list(Wc = rand(2, 1, 3)), c(1, 10))), "softmax over axis 2")
})

test_that("Conv attributes: pads, strides, dilations and every auto_pad", {
  set.seed(6)
  W <- rand(3, 2, 4)
  b <- rnorm(3)
  L <- 23
  conv <- function(stride = 1, dil = 1, pad = c(0, 0)) {
    list(input_dim = c(2, L), layers = list(
      list(type = "Conv1D", weight = W, bias = b, stride = stride, dilation = dil, padding = pad)
    ))
  }
  one <- function(attrs, opset = 13) {
    onnx_build(list(onnx_node("Conv", c("x", "W", "b"), "y", attrs)), list(W = W, b = b), c(2, L), opset = opset)
  }
  expect_same_net(one(list(pads = a_ints(c(2, 1)), strides = a_ints(2), dilations = a_ints(3))), conv(2, 3, c(2, 1)))
  expect_same_net(one(list(auto_pad = a_str("VALID"), strides = a_ints(3))), conv(3))
  # SAME: output length ceil(L / stride); total pad (out - 1) * s + span - L
  span <- 3 * 2 + 1
  tot <- (ceiling(L / 2) - 1) * 2 + span - L
  expect_same_net(one(list(auto_pad = a_str("SAME_UPPER"), strides = a_ints(2), dilations = a_ints(2))),
    conv(2, 2, c(tot %/% 2, tot - tot %/% 2)))
  expect_same_net(one(list(auto_pad = a_str("SAME_LOWER"), strides = a_ints(2), dilations = a_ints(2))),
    conv(2, 2, c(tot - tot %/% 2, tot %/% 2)))
  expect_error(read_onnx(one(list(kernel_shape = a_ints(3)))), "kernel_shape")
  expect_error(read_onnx(one(list(auto_pad = a_str("WRONG")))), "auto_pad")
})

test_that("Gemm transB / alpha / beta and MatMul + Add are dense layers", {
  set.seed(7)
  W <- rand(4, 12)
  b <- rnorm(4)
  net <- list(input_dim = c(1, 12), layers = list(list(type = "Dense", weight = 0.5 * W, bias = 2 * b)))
  g <- onnx_node("Gemm", c("x", "B", "C"), "y", list(alpha = a_float(0.5), beta = a_float(2)))
  expect_same_net(onnx_build(list(g), list(B = t(W), C = b), 12), net, tol = 1e-7)
  g2 <- onnx_node("Gemm", c("x", "B", "C"), "y", list(transB = a_int(1), alpha = a_float(0.5), beta = a_float(2)))
  expect_same_net(onnx_build(list(g2), list(B = W, C = array(b, c(1, 4))), 12), net, tol = 1e-7)
  net1 <- list(input_dim = c(1, 12), layers = list(list(type = "Dense", weight = W, bias = b)))
  for (first in c(TRUE, FALSE)) {
    add <- if (first) onnx_node("Add", c("bias", "z"), "y") else onnx_node("Add", c("z", "bias"), "y")
    nodes <- list(onnx_node("MatMul", c("x", "Wt"), "z"), add)
    m <- expect_same_net(onnx_build(nodes, list(Wt = t(W), bias = b), 12), net1)
    expect_length(m$layers, 1L)
  }
  # MatMul on [batch, 1, features] (a dense layer applied to a 3-D tensor)
  nodes <- list(
    onnx_node("MatMul", c("x", "Wt"), "z"), onnx_node("Add", c("z", "bias"), "z2"),
    onnx_node("Squeeze", "z2", "y", list(axes = a_ints(1)))
  )
  expect_same_net(onnx_build(nodes, list(Wt = t(W), bias = b), c(1, 12), opset = 11), net1)
  # a conv bias added as a separate [C, 1] constant
  Wc <- rand(3, 1, 2)
  bc <- rnorm(3)
  nodes <- list(onnx_node("Conv", c("x", "Wc"), "c"), onnx_node("Add", c("c", "bc"), "y"))
  netc <- list(input_dim = c(1, 9), layers = list(list(type = "Conv1D", weight = Wc, bias = bc)))
  expect_same_net(onnx_build(nodes, list(Wc = Wc, bc = array(bc, c(3, 1))), c(1, 9)), netc)
  expect_error(
    read_onnx(onnx_build(list(onnx_node("Gemm", c("x", "B"), "y", list(transA = a_int(1)))), list(B = t(W)), 12)),
    "transA"
  )
  expect_error(
    read_onnx(onnx_build(list(onnx_node("Relu", "x", "r"), onnx_node("Add", c("r", "bias"), "y")), list(bias = 1), 12)),
    "only supported as the bias"
  )
})

test_that("Dropout keeps its ratio (attribute in opset 11, input in opset 13)", {
  set.seed(8)
  W <- rand(2, 6)
  net <- list(input_dim = c(1, 6), layers = list(
    list(type = "Skipping", rate = 0.3), list(type = "Dense", weight = W, bias = c(0, 0))
  ))
  n11 <- list(onnx_node("Dropout", "x", "d", list(ratio = a_float(0.3))), onnx_node("MatMul", c("d", "Wt"), "y"))
  m <- expect_same_net(onnx_build(n11, list(Wt = t(W)), 6, opset = 11), net)
  expect_equal(m$layers[[1]]$rate, as_f32(0.3))
  n13 <- list(onnx_node("Dropout", c("x", "r"), "d"), onnx_node("MatMul", c("d", "Wt"), "y"))
  m <- expect_same_net(onnx_build(n13, list(Wt = t(W), r = 0.3), 6, opset = 13), net)
  expect_equal(m$layers[[1]]$rate, 0.3)
  # a used mask output is refused
  n <- list(onnx_node("Dropout", "x", c("d", "mask")), onnx_node("Add", c("d", "mask"), "y"))
  expect_error(read_onnx(onnx_build(n, list(), 6)), "extra output")
})

test_that("MaxPool and AveragePool: padding, count_include_pad, ceil_mode", {
  set.seed(9)
  L <- 15
  mp <- function(op, attrs) onnx_build(list(onnx_node(op, "x", "y", attrs)), list(), c(2, L))
  pool <- function(type, k, s) list(type = type, kernel_size = k, strides = s)
  expect_same_net(mp("MaxPool", list(kernel_shape = a_ints(3), strides = a_ints(2))),
    list(input_dim = c(2, L), layers = list(pool("MaxPooling1D", 3, 2))))
  # ONNX's default stride is 1
  expect_same_net(mp("AveragePool", list(kernel_shape = a_ints(3))),
    list(input_dim = c(2, L), layers = list(pool("AveragePooling1D", 3, 1))))
  m <- expect_same_net(mp("MaxPool", list(kernel_shape = a_ints(3), strides = a_ints(2), pads = a_ints(c(1, 1)))),
    list(input_dim = c(2, L), layers = list(
      list(type = "Padding", padding = c(1, 1), value = -1e300), pool("MaxPooling1D", 3, 2)
    )))
  expect_equal(m$layers[[1]]$type, "Padding")
  expect_same_net(mp("AveragePool", list(kernel_shape = a_ints(4), strides = a_ints(2), pads = a_ints(c(2, 1)), count_include_pad = a_int(1))),
    list(input_dim = c(2, L), layers = list(
      list(type = "Padding", padding = c(2, 1), value = 0), pool("AveragePooling1D", 4, 2)
    )))
  expect_error(read_onnx(mp("AveragePool", list(kernel_shape = a_ints(4), pads = a_ints(c(1, 1))))), "count_include_pad")
  # ceil_mode: fine when no partial window (15 - 3) / 2 whole, refused otherwise
  expect_same_net(mp("MaxPool", list(kernel_shape = a_ints(3), strides = a_ints(2), ceil_mode = a_int(1))),
    list(input_dim = c(2, L), layers = list(pool("MaxPooling1D", 3, 2))))
  expect_error(read_onnx(mp("MaxPool", list(kernel_shape = a_ints(2), strides = a_ints(2), ceil_mode = a_int(1)))), "ceil_mode")
  expect_error(read_onnx(mp("MaxPool", list(kernel_shape = a_ints(c(2, 2))))), "two-dimensional pooling")
  expect_error(read_onnx(mp("MaxPool", list(kernel_shape = a_ints(2), dilations = a_ints(2)))), "dilated")
  expect_error(read_onnx(mp("MaxPool", list(strides = a_ints(2)))), "kernel_shape is missing")
})

test_that("global pooling and ReduceMean / ReduceMax over time", {
  set.seed(10)
  W <- rand(3, 1, 3)
  for (case in list(
    list(node = onnx_node("GlobalAveragePool", "c", "g"), method = "average", opset = 13),
    list(node = onnx_node("GlobalMaxPool", "c", "g"), method = "max", opset = 13),
    list(node = onnx_node("ReduceMean", "c", "g", list(axes = a_ints(-1))), method = "average", opset = 13),
    list(node = onnx_node("ReduceMax", "c", "g", list(axes = a_ints(2), keepdims = a_int(0))), method = "max", opset = 13),
    list(node = onnx_node("ReduceMean", c("c", "ax"), "g", list(keepdims = a_int(0))), method = "average", opset = 18)
  )) {
    nodes <- list(onnx_node("Conv", c("x", "W"), "c"), case$node, onnx_node("Flatten", "g", "y"))
    net <- list(input_dim = c(1, 11), layers = list(
      list(type = "Conv1D", weight = W, bias = rep(0, 3)),
      list(type = "GlobalPooling", method = case$method),
      list(type = "Flatten")
    ))
    expect_same_net(onnx_build(nodes, list(W = W, ax = i64(2)), c(1, 11), opset = case$opset), net)
  }
  nodes <- list(onnx_node("Conv", c("x", "W"), "c"), onnx_node("ReduceMean", "c", "y", list(axes = a_ints(1))))
  expect_error(read_onnx(onnx_build(nodes, list(W = W), c(1, 11))), "only the time axis")
})

test_that("BatchNormalization on series and after a dense layer", {
  set.seed(11)
  W <- rand(3, 2, 3)
  g <- runif(3, 0.5, 2)
  be <- rnorm(3)
  mu <- rnorm(3)
  v <- runif(3, 0.5, 2)
  nodes <- list(
    onnx_node("Conv", c("x", "W"), "c"),
    onnx_node("BatchNormalization", c("c", "g", "be", "mu", "v"), "bn", list(epsilon = a_float(1e-3))),
    onnx_node("Relu", "bn", "r"),
    onnx_node("GlobalAveragePool", "r", "gp"),
    onnx_node("Flatten", "gp", "f"),
    onnx_node("BatchNormalization", c("f", "g", "be", "mu", "v"), "y")
  )
  eps <- as_f32(1e-3)
  net <- list(input_dim = c(2, 10), layers = list(
    list(type = "Conv1D", weight = W, bias = rep(0, 3)),
    list(type = "BatchNorm", num_features = 3, gamma = g, beta = be, run_mean = mu, run_var = v, eps = eps),
    list(type = "Activation", act_name = "relu"),
    list(type = "GlobalPooling", method = "average"),
    list(type = "Flatten"),
    list(type = "BatchNorm", num_features = 3, gamma = g, beta = be, run_mean = mu, run_var = v, eps = 1e-5)
  ))
  m <- expect_same_net(onnx_build(nodes, list(W = W, g = g, be = be, mu = mu, v = v), c(2, 10)), net)
  expect_equal(interpretable_layers(m)$name, "conv1")
  nodes[[2]] <- onnx_node("BatchNormalization", c("c", "g", "be", "mu", "v"), "bn", list(training_mode = a_int(1)))
  expect_error(read_onnx(onnx_build(nodes, list(W = W, g = g, be = be, mu = mu, v = v), c(2, 10))), "training mode")
  nodes[[2]] <- onnx_node("BatchNormalization", c("c", "g", "be", "mu", "v2"), "bn")
  expect_error(read_onnx(onnx_build(nodes, list(W = W, g = g, be = be, mu = mu, v2 = 1:2), c(2, 10))), "variance has 2 values")
})

test_that("reshapes: Flatten, shape sub-graphs, Squeeze and Unsqueeze of unit axes", {
  set.seed(12)
  W <- rand(3, 1, 3)
  D <- rand(2, 24)
  net <- list(input_dim = c(1, 10), layers = list(
    list(type = "Conv1D", weight = W, bias = rep(0, 3), activation_name = "relu"),
    list(type = "Flatten"),
    list(type = "Dense", weight = D, bias = c(0, 0))
  ))
  # x.view(x.size(0), -1) as exported by PyTorch
  nodes <- list(
    onnx_node("Conv", c("x", "W"), "c"), onnx_node("Relu", "c", "r"),
    onnx_node("Shape", "r", "s"),
    onnx_node("Constant", character(), "zero", list(value = a_tensor(onnx_tensor("", 0, integer(0), "int64")))),
    onnx_node("Gather", c("s", "zero"), "n", list(axis = a_int(0))),
    onnx_node("Unsqueeze", c("n", "ax0"), "n1"),
    onnx_node("Constant", character(), "m1", list(value = a_tensor(onnx_tensor("", -1, 1, "int64")))),
    onnx_node("Concat", c("n1", "m1"), "shape", list(axis = a_int(0))),
    onnx_node("Reshape", c("r", "shape"), "f"),
    onnx_node("Gemm", c("f", "D"), "y", list(transB = a_int(1)))
  )
  expect_same_net(onnx_build(nodes, list(W = W, D = D, ax0 = i64(0)), c(1, 10)), net)
  # constant target shapes, opset 11 Unsqueeze / Squeeze with attributes
  nodes <- list(
    onnx_node("Squeeze", "x", "xs", list(axes = a_ints(1))),
    onnx_node("Unsqueeze", "xs", "xu", list(axes = a_ints(1))),
    onnx_node("Conv", c("xu", "W"), "c"), onnx_node("Relu", "c", "r"),
    onnx_node("Reshape", c("r", "tgt"), "f"),
    onnx_node("Unsqueeze", "f", "f2", list(axes = a_ints(c(2, 3)))),
    onnx_node("Squeeze", "f2", "f3"),
    onnx_node("Gemm", c("f3", "D"), "y", list(transB = a_int(1)))
  )
  expect_same_net(onnx_build(nodes, list(W = W, D = D, tgt = i64(c(0, 24))), c(1, 10), opset = 11), net)
  # an input without a channel axis
  nodes <- list(
    onnx_node("Unsqueeze", c("x", "ax1"), "xu"),
    onnx_node("Conv", c("xu", "W"), "c"), onnx_node("Relu", "c", "r"),
    onnx_node("Flatten", "r", "f"), onnx_node("Gemm", c("f", "D"), "y", list(transB = a_int(1)))
  )
  expect_same_net(onnx_build(nodes, list(W = W, D = D, ax1 = i64(1)), 10), net)
  # moving values between channels and time is refused
  nodes <- list(onnx_node("Reshape", c("x", "tgt"), "r"), onnx_node("Conv", c("r", "W2"), "y"))
  expect_error(read_onnx(onnx_build(nodes, list(tgt = i64(c(-1, 2, 5)), W2 = rand(1, 2, 2)), c(1, 10))),
    "reshapes that move values between the channel and time axes")
  nodes <- list(onnx_node("Flatten", "x", "f", list(axis = a_int(2))), onnx_node("Relu", "f", "y"))
  expect_error(read_onnx(onnx_build(nodes, list(), c(1, 10))), "flattening from axis 2")
})

test_that("residual Add, constant Pad and a channels-last input", {
  set.seed(13)
  W1 <- rand(2, 2, 3)
  W2 <- rand(2, 2, 3)
  nodes <- list(
    onnx_node("Transpose", "x", "xt", list(perm = a_ints(c(0, 2, 1)))),
    onnx_node("Pad", c("xt", "pads", "val"), "xp", list(mode = a_str("constant"))),
    onnx_node("Conv", c("xp", "W1"), "c1"), onnx_node("Relu", "c1", "r1"),
    onnx_node("Conv", c("r1", "W2"), "c2", list(pads = a_ints(c(1, 1)))),
    onnx_node("Add", c("c2", "xp"), "a"), onnx_node("Relu", "a", "r2"),
    onnx_node("GlobalAveragePool", "r2", "gp"), onnx_node("Flatten", "gp", "y")
  )
  inits <- list(W1 = W1, W2 = W2, pads = i64(c(0, 0, 2, 0, 0, 0)), val = 0.5)
  net <- list(input_dim = c(2, 12), layers = list(
    list(type = "Padding", padding = c(2, 0), value = 0.5),
    list(type = "Conv1D", weight = W1, bias = c(0, 0), activation_name = "relu", padding = c(1, 1), input_layers = 1),
    list(type = "Conv1D", weight = W2, bias = c(0, 0), padding = c(1, 1), input_layers = 2),
    list(type = "Add", input_layers = c(3, 1)),
    list(type = "Activation", act_name = "relu", input_layers = 4),
    list(type = "GlobalPooling", method = "average"),
    list(type = "Flatten")
  ))
  nodes[[3]] <- onnx_node("Conv", c("xp", "W1"), "c1", list(pads = a_ints(c(1, 1))))
  m <- expect_same_net(onnx_build(nodes, inits, c(12, 2), opset = 13), net)
  expect_true(m$onnx$channels_last)
  expect_true("res1" %in% interpretable_layers(m)$name)
  expect_output(print(m), "channels-last")
  # opset 9 Pad with attributes
  n9 <- list(onnx_node("Pad", "x", "y", list(pads = a_ints(c(0, 0, 1, 0, 0, 3)), value = a_float(-1))))
  expect_same_net(onnx_build(n9, list(), c(2, 12), opset = 9),
    list(input_dim = c(2, 12), layers = list(list(type = "Padding", padding = c(1, 3), value = -1))))
  n <- list(onnx_node("Pad", c("x", "pads"), "y", list(mode = a_str("reflect"))))
  expect_error(read_onnx(onnx_build(n, list(pads = i64(c(0, 0, 1, 0, 0, 1))), c(2, 12))), "reflect")
  n <- list(onnx_node("Pad", c("x", "pads"), "y"))
  expect_error(read_onnx(onnx_build(n, list(pads = i64(c(0, 1, 0, 0, 0, 0))), c(2, 12))), "only the last \\(time\\) axis")
  n <- list(onnx_node("Transpose", "x", "t", list(perm = a_ints(c(0, 2, 1)))), onnx_node("Relu", "x", "r"), onnx_node("Add", c("t", "r"), "y"))
  expect_error(read_onnx(onnx_build(n, list(), c(12, 2))), "only equal shapes")
})

test_that("Constant nodes, Identity, Cast and constant folding", {
  set.seed(14)
  W <- rand(2, 6)
  # W computed as Transpose(Mul(Wt, 2) / 2) of a constant node
  nodes <- list(
    onnx_node("Constant", character(), "Wc", list(value = a_tensor(onnx_tensor("", as.vector(t(t(W))), c(6, 2), "double")))),
    onnx_node("Constant", character(), "two", list(value_float = a_float(2))),
    onnx_node("Mul", c("Wc", "two"), "W2"), onnx_node("Div", c("W2", "two"), "W3"),
    onnx_node("Identity", "x", "xi"), onnx_node("Cast", "xi", "xc", list(to = a_int(11))),
    onnx_node("MatMul", c("xc", "W3"), "y")
  )
  # Constant tensor given in C order of dims c(6, 2): that is t(W) row-major
  nodes[[1]] <- onnx_node("Constant", character(), "Wc",
    list(value = a_tensor(onnx_tensor("", as.vector(W), c(6, 2), "double"))))
  expect_same_net(onnx_build(nodes, list(), 6),
    list(input_dim = c(1, 6), layers = list(list(type = "Dense", weight = W, bias = c(0, 0)))))
  # folding helpers on their own
  ctx <- list(label = "test", nd = list(attributes = list(axis = 1, perm = c(1, 0))))
  ce <- cphap:::const_entry
  e <- ce(1:6, c(2, 3))
  expect_equal(cphap:::onnx_fold$Transpose(ctx, list(e))$v, c(1, 4, 2, 5, 3, 6))
  expect_equal(cphap:::onnx_fold$Gather(ctx, list(e, ce(c(2, 0), 2)))$v, c(3, 1, 6, 4))
  expect_equal(cphap:::onnx_fold$Concat(ctx, list(e, ce(7:8, c(2, 1))))$v, c(1, 2, 3, 7, 4, 5, 6, 8))
  expect_equal(cphap:::onnx_fold$Add(ctx, list(e, ce(c(10, 20), c(2, 1))))$v, c(11, 12, 13, 24, 25, 26))
  sl <- list(label = "s", nd = list(attributes = list()), ins = list(NULL, ce(1), ce(3), ce(1), ce(1)))
  expect_equal(cphap:::onnx_fold$Slice(sl, list(e, ce(1), ce(3), ce(1), ce(1)))$v, c(2, 3, 5, 6))
})

test_that("symbolic input length needs input_length", {
  set.seed(15)
  W <- rand(2, 1, 3)
  nodes <- list(onnx_node("Conv", c("x", "W"), "c"), onnx_node("GlobalMaxPool", "c", "g"), onnx_node("Flatten", "g", "y"))
  b <- onnx_build(nodes, list(W = W), list(1, "length"))
  expect_error(read_onnx(b), "symbolic \\(\"length\"\\).*input_length")
  net <- function(L) {
    list(input_dim = c(1, L), layers = list(
      list(type = "Conv1D", weight = W, bias = c(0, 0)), list(type = "GlobalPooling", method = "max"), list(type = "Flatten")
    ))
  }
  expect_same_net(b, net(30), input_length = 30)
  # input_length overrides a fixed length
  expect_same_net(onnx_build(nodes, list(W = W), c(1, 12)), net(40), input_length = 40)
  expect_error(read_onnx(b, input_length = 0), "input_length")
})

test_that("bad files and unsupported networks are clear R errors", {
  set.seed(16)
  W <- rand(3, 1, 3)
  good_nodes <- list(onnx_node("Conv", c("x", "W"), "c"), onnx_node("GlobalMaxPool", "c", "g"), onnx_node("Flatten", "g", "y"))
  good <- onnx_build(good_nodes, list(W = W), c(1, 12))
  expect_s3_class(read_onnx(good), "cphap_model")
  expect_error(read_onnx(good[seq_len(length(good) - 7)]), "Cannot read the bytes as an ONNX model.*(truncated|past the end)")
  expect_error(read_onnx(raw()), "empty")
  set.seed(1)
  expect_error(read_onnx(as.raw(sample(0:255, 300, TRUE))), "Cannot read the bytes as an ONNX model")
  expect_error(read_onnx(charToRaw("not an onnx file at all")), "Cannot read")
  expect_error(read_onnx(tempfile()), "does not exist")
  expect_error(read_onnx(42), "single file path or a raw vector")
  # 2-D convolution
  W4 <- array(rnorm(3 * 1 * 2 * 2), c(3, 1, 2, 2))
  b2d <- onnx_build(list(onnx_node("Conv", c("x", "W"), "y", name = "conv2d")), list(W = W4), c(1, 8, 8))
  expect_error(read_onnx(b2d), "read by node 'conv2d' \\(Conv\\)\\) has 4 dimensions.*Two-dimensional networks")
  u2d <- onnx_build(list(
    onnx_node("Unsqueeze", c("x", "ax"), "x4"), onnx_node("Conv", c("x4", "W"), "y", name = "conv2d")
  ), list(ax = i64(2), W = array(rnorm(6), c(3, 1, 1, 2))), c(1, 8))
  expect_s3_class(read_onnx(u2d), "cphap_model") # a kernel of height one is 1-D
  w2d <- onnx_build(list(
    onnx_node("Unsqueeze", c("x", "ax"), "x4"), onnx_node("Conv", c("x4", "W"), "y", name = "conv2d")
  ), list(ax = i64(2), W = array(rnorm(12), c(3, 1, 2, 2))), c(1, 8))
  expect_error(read_onnx(w2d), "'conv2d' \\(Conv\\): two-dimensional convolutions")
  # LSTM
  lstm <- onnx_build(list(onnx_node("LSTM", c("x", "W", "R"), "y", name = "rnn")), list(W = rand(1, 8, 1), R = rand(1, 8, 2)), c(1, 12))
  expect_error(read_onnx(lstm), "'rnn' \\(LSTM\\): recurrent layers")
  # grouped convolution
  Wg <- rand(4, 1, 3)
  grp <- onnx_build(list(onnx_node("Conv", c("x", "W"), "y", list(group = a_int(2)))), list(W = Wg), c(2, 12))
  expect_error(read_onnx(grp), "#1 \\(Conv\\): grouped convolutions \\(group = 2\\)")
  # dangling tensor name
  dang <- onnx_build(list(onnx_node("Conv", c("x", "Wmissing"), "y", name = "c1")), list(W = W), c(1, 12))
  expect_error(read_onnx(dang), "'c1' \\(Conv\\): its input \"Wmissing\" is not produced")
  # wrong initializer size
  bad_init <- onnx_tensor("W", rnorm(8), c(3, 1, 3), "float")
  g <- onnx_graph(good_nodes, list(onnx_value("x", list("batch", 1, 12))), list(onnx_value("y", list("batch"))), list(bad_init))
  expect_error(read_onnx(onnx_model(g)), "tensor 'W' has dims giving 9 values but its data holds 8")
  # weights in an external file
  ext <- onnx_tensor("W", numeric(), c(3, 1, 3), "float", extra = c(
    pb_bytes(13, c(pb_str(1, "location"), pb_str(2, "weights.bin"))), pb_int(14, 1)
  ))
  g <- onnx_graph(good_nodes, list(onnx_value("x", list("batch", 1, 12))), list(onnx_value("y", list("batch"))), list(ext))
  expect_error(read_onnx(onnx_model(g)), "external file \\('weights.bin'\\).*save_as_external_data")
  # two inputs, unknown operators, custom domains, no opset
  g <- onnx_graph(good_nodes, list(onnx_value("x", list("batch", 1, 12)), onnx_value("x2", list("batch", 1, 12))),
    list(onnx_value("y", list("batch"))), list(onnx_tensor("W", as.vector(aperm(W)), c(3, 1, 3), "double")))
  expect_error(read_onnx(onnx_model(g)), "2 inputs \\(\"x\" and \"x2\"\\)")
  expect_error(read_onnx(onnx_build(list(onnx_node("Erf", "x", "y")), list(), c(1, 12))), "operator \"Erf\" is not supported")
  expect_error(read_onnx(onnx_build(list(onnx_node("Relu", "x", "y", domain = "com.microsoft")), list(), c(1, 12))), "custom domain")
  expect_error(read_onnx(onnx_build(list(onnx_node("Concat", c("x", "x"), "y", list(axis = a_int(1)))), list(), c(1, 12))), "concatenating")
  # outputs that are not layers
  expect_error(read_onnx(onnx_build(list(onnx_node("Identity", "x", "y")), list(), c(1, 12))), "does not depend on a network layer")
  expect_error(read_onnx(onnx_build(list(onnx_node("Relu", "x", "z")), list(), c(1, 12))), "output \"y\" is not produced")
  # attributes of the wrong type
  expect_error(read_onnx(onnx_build(list(onnx_node("Conv", c("x", "W"), "y", list(strides = a_str("2")))), list(W = W), c(1, 12))),
    "attribute strides")
  # a valid protobuf without a graph
  expect_error(read_onnx(pb_int(1, 8)), "no graph")
  # malformed wire data: a bad wire type, a huge length, a too long varint
  expect_error(read_onnx(as.raw(c(0x0b, 0x01))), "wire type")
  expect_error(read_onnx(c(pb_key(7, 2), pb_varint(2^40))), "runs past the end")
  expect_error(read_onnx(c(pb_key(1, 0), as.raw(rep(0xff, 11)))), "varint")
})

test_that("a Keras-style graph from tf2onnx: channels last, 2-D layers of height one, transposes", {
  set.seed(17)
  W <- rand(4, 2, 3)
  b <- rnorm(4)
  Wk <- rand(24, 3) # Keras Dense kernel: rows in time-major order t * 4 + c
  bk <- rnorm(3)
  nodes <- list(
    onnx_node("Unsqueeze", "x", "x4", list(axes = a_ints(1))),
    onnx_node("Transpose", "x4", "xt", list(perm = a_ints(c(0, 3, 1, 2)))),
    onnx_node("Conv", c("xt", "W4", "b"), "c", list(
      kernel_shape = a_ints(c(1, 3)), pads = a_ints(c(0, 1, 0, 1)), strides = a_ints(c(1, 1)), dilations = a_ints(c(1, 1))
    )),
    onnx_node("Relu", "c", "r"),
    onnx_node("MaxPool", "r", "p", list(kernel_shape = a_ints(c(1, 2)), strides = a_ints(c(1, 2)))),
    onnx_node("Transpose", "p", "pt", list(perm = a_ints(c(0, 2, 3, 1)))),
    onnx_node("Squeeze", "pt", "ps", list(axes = a_ints(1))),
    onnx_node("Reshape", c("ps", "shape"), "f"),
    onnx_node("MatMul", c("f", "Wk"), "z"),
    onnx_node("Add", c("z", "bk"), "zb"),
    onnx_node("Softmax", "zb", "y", list(axis = a_int(-1)))
  )
  bytes <- onnx_build(nodes, list(
    W4 = array(W, c(4, 2, 1, 3)), b = b, shape = i64(c(-1, 24)), Wk = Wk, bk = bk
  ), c(12, 2), opset = 11)
  # the same network channels first: the dense columns in channel-major order
  cm <- as.vector(outer(0:5 * 4, 0:3, `+`)) + 1 # column c * 6 + t <- Keras row t * 4 + c
  net <- list(input_dim = c(2, 12), layers = list(
    list(type = "Conv1D", weight = W, bias = b, padding = c(1, 1), activation_name = "relu"),
    list(type = "MaxPooling1D", kernel_size = 2),
    list(type = "Flatten"),
    list(type = "Dense", weight = t(Wk[cm, ]), bias = bk, activation_name = "softmax")
  ))
  m <- expect_same_net(bytes, net)
  expect_true(m$onnx$channels_last)
  expect_equal(interpretable_layers(m)$name, "conv1")
  # a global average over time in the channels-last layout (Keras
  # GlobalAveragePooling1D): ReduceMean over axis 1
  nodes2 <- c(nodes[1:7], list(
    onnx_node("ReduceMean", "ps", "g", list(axes = a_ints(1), keepdims = a_int(0))),
    onnx_node("MatMul", c("g", "Wg"), "y")
  ))
  Wg <- rand(4, 3)
  net2 <- list(input_dim = c(2, 12), layers = list(
    net$layers[[1]], net$layers[[2]], list(type = "GlobalPooling", method = "average"),
    list(type = "Dense", weight = t(Wg), bias = rep(0, 3))
  ))
  expect_same_net(onnx_build(nodes2, list(W4 = array(W, c(4, 2, 1, 3)), b = b, Wg = Wg), c(12, 2), opset = 11), net2)
  # a transpose and its inverse between two convolutions change nothing
  W2 <- rand(3, 4, 2)
  nodes4 <- list(
    onnx_node("Conv", c("x", "W2"), "c"),
    onnx_node("Transpose", "c", "t1", list(perm = a_ints(c(0, 2, 1)))),
    onnx_node("Relu", "t1", "r"),
    onnx_node("Transpose", "r", "t2", list(perm = a_ints(c(0, 2, 1)))),
    onnx_node("GlobalMaxPool", "t2", "g"), onnx_node("Flatten", "g", "y")
  )
  net4 <- list(input_dim = c(4, 9), layers = list(
    list(type = "Conv1D", weight = W2, bias = rep(0, 3), activation_name = "relu"),
    list(type = "GlobalPooling", method = "max"), list(type = "Flatten")
  ))
  m4 <- expect_same_net(onnx_build(nodes4, list(W2 = W2), c(4, 9)), net4)
  expect_false(m4$onnx$channels_last)
  # a series op on the transposed view is refused, naming the node
  nodes3 <- c(nodes[1:7], list(onnx_node("Conv", c("ps", "W2"), "y", name = "late")))
  expect_error(
    read_onnx(onnx_build(nodes3, list(W4 = array(W, c(4, 2, 1, 3)), b = b, W2 = rand(2, 6, 2)), c(12, 2))),
    "'late' \\(Conv\\): its input is a transposed view"
  )
})
