test_that("a valid list builds a model with shapes and interpretable layers", {
  m <- cphap_model(small_valid_net())
  expect_s3_class(m, "cphap_model")
  ip <- interpretable_layers(m)
  expect_equal(ip$name, c("conv1", "conv2", "conv3"))
  expect_equal(ip$node, c(2L, 4L, 6L))
  # 40 -> conv k4 d2: 34 -> pool 3/2: 16 -> conv k3 s2: 7 -> avg 2/1: 6 -> conv k2: 5
  expect_equal(ip$length, c(16L, 6L, 5L))
  # receptive fields by hand: conv1 R = 1 + 3*2 = 7, J = 1; pool: R = 7 + 2 = 9, J = 2
  # conv2: R = 9 + 2*2 = 13, J = 4; avg: R = 13 + 4 = 17, J = 4; conv3: R = 17 + 4 = 21
  expect_equal(ip$size, c(9, 17, 21))
  expect_equal(ip$jump, c(2, 4, 4))
  expect_equal(ip$start, c(0, 0, 0))
})

test_that("as.list() round-trips the network", {
  m <- cphap_model(small_valid_net())
  l <- as.list(m)
  expect_equal(l$layers[[6]]$act_name, "leaky_relu")
  expect_equal(l$layers[[2]]$strides, 2L)
  m2 <- cphap_model(l)
  x <- array(rnorm(3 * 2 * 40), c(3, 2, 40))
  expect_identical(predict(m, x, type = "prob"), predict(m2, x, type = "prob"))
  expect_equal(m2$classes, m$classes)
})

test_that("print and summary describe layers and receptive fields", {
  m <- cphap_model(small_valid_net())
  out <- capture.output(print(m))
  expect_match(out[1], "input 2 channels x 40")
  expect_true(any(grepl("conv3 21", out)))
  s <- capture.output(print(summary(m)))
  expect_true(any(grepl("Interpretable layers", s)))
  expect_s3_class(summary(m), "summary.cphap_model")
})

test_that("malformed models give errors naming the layer and field", {
  net <- small_valid_net()
  bad <- net
  bad$layers[[1]]$weight <- NULL
  expect_error(cphap_model(bad), "Layer 1 \\(Conv1D\\).*weight.*missing")
  bad <- net
  bad$layers[[3]]$weight <- array(0, c(4, 6, 3))
  expect_error(cphap_model(bad), "Layer 3 \\(Conv1D\\).*6 input channels.*5 channels")
  bad <- net
  bad$layers[[9]]$weight <- matrix(0, 2, 10)
  expect_error(cphap_model(bad), "Layer 9 \\(Dense\\).*10 inputs.*15 values")
  bad <- net
  bad$layers[[2]]$type <- "Pooling"
  expect_error(cphap_model(bad), "Layer 2: type \"Pooling\" is not a known layer type")
  bad <- net
  bad$layers[[2]]$type <- "Conv2D"
  expect_error(cphap_model(bad), "not supported")
  bad <- net
  bad$layers[[1]]$bias <- c(1, 2)
  expect_error(cphap_model(bad), "Layer 1 \\(Conv1D\\).*bias.*expected 5")
  bad <- net
  bad$layers[[1]]$weight[1] <- NA
  expect_error(cphap_model(bad), "weight.*NA")
  bad <- net
  bad$layers[[1]]$activation_name <- "swish"
  expect_error(cphap_model(bad), "unknown activation")
  bad <- net
  bad$layers[[3]]$input_layers <- 4
  expect_error(cphap_model(bad), "does not come before it.*cycle")
  bad <- net
  bad$layers[[3]]$input_layers <- 12
  expect_error(cphap_model(bad), "does not exist")
  bad <- net
  bad$layers[[4]]$input_layers <- 2 # layer 3 is now dangling
  bad$layers[[4]]$weight <- NULL
  expect_error(cphap_model(bad), "Layer 3 \\(Conv1D\\).*dangling")
  bad <- net
  bad$layers[[5]]$input_layers <- c(3, 4)
  expect_error(cphap_model(bad), "exactly one input layer")
  bad <- net
  bad$input_dim <- c(2, -1)
  expect_error(cphap_model(bad), "input_dim")
  bad <- net
  bad$layers <- list()
  expect_error(cphap_model(bad), "non-empty list")
  expect_error(cphap_model("model"), "must be a list")
  bad <- net
  bad$layers[[2]]$kernel_size <- 100
  expect_error(cphap_model(bad), "Layer 2 \\(MaxPooling1D\\).*exceeds")
  bad <- net
  bad$output_nodes <- 3
  expect_error(cphap_model(bad), "output_nodes")
  bad <- net
  bad$layers[[1]]$output_layers <- 3
  expect_error(cphap_model(bad), "output_layers.*disagrees")
  bad <- net
  bad$layers[[7]]$rate <- 1.5
  expect_error(cphap_model(bad), "rate")
})

test_that("Add layers need equal shapes and several inputs", {
  set.seed(1)
  net <- list(
    input_dim = c(1, 10),
    layers = list(
      list(type = "Conv1D", weight = array(rnorm(2 * 3), c(2, 1, 3)), bias = c(0, 0),
           input_layers = 0),
      list(type = "Conv1D", weight = array(rnorm(2 * 1), c(2, 1, 1)), bias = c(0, 0),
           input_layers = 0),
      list(type = "Add", input_layers = c(1, 2)),
      list(type = "GlobalPooling", method = "max"),
      list(type = "Dense", weight = matrix(1, 1, 2), bias = 0)
    )
  )
  expect_error(cphap_model(net), "Layer 3 \\(Add\\): inputs must have equal shapes")
  net$layers[[1]]$padding <- c(1, 1)
  m <- cphap_model(net)
  x <- matrix(rnorm(20), 2)
  a1 <- forward_check(m, x)
  expect_equal(dim(a1), c(2, 1))
  net$layers[[3]]$input_layers <- 1
  expect_error(cphap_model(net), "at least two input layers")
})

test_that("out-of-range hyperparameters are errors, not warnings", {
  net <- small_valid_net()
  bad <- net
  bad$layers[[1]]$stride <- Inf
  expect_error(cphap_model(bad), "Layer 1 \\(Conv1D\\).*stride")
  bad <- net
  bad$layers[[1]]$dilation <- 1e9
  expect_no_warning(expect_error(cphap_model(bad), "Layer 1 \\(Conv1D\\): kernel spans"))
  bad <- net
  bad$layers[[2]]$kernel_size <- 3e9
  expect_no_warning(expect_error(cphap_model(bad), "Layer 2 \\(MaxPooling1D\\).*kernel_size"))
  bad <- net
  bad$layers[[1]]$output_layers <- "a"
  expect_no_warning(expect_error(cphap_model(bad), "output_layers.*layer indices"))
})
