test_that("architectures build valid models of the documented shapes", {
  set.seed(1)
  cnn <- cphap_model(arch_cnn(c(1, 945), 8))
  expect_equal(interpretable_layers(cnn)$channels, c(32L, 64L, 128L))
  expect_equal(cnn$layers[[length(cnn$layers)]]$dim_out, c(8L, 1L))
  fcn <- cphap_model(arch_fcn(c(3, 50), 4, channels = c(8, 16, 8)))
  expect_equal(interpretable_layers(fcn)$length, c(50L, 50L, 50L))
  res <- cphap_model(arch_resnet(c(2, 40), 3, channels = c(8, 16, 16)))
  expect_equal(sum(vapply(res$layers, function(l) l$type == "Add", logical(1))), 3)
  expect_true(all(c("res1", "res2", "res3") %in% interpretable_layers(res)$name))
  same <- cphap_model(arch_cnn(c(1, 150), 2, padding = "same"))
  expect_equal(interpretable_layers(same)$length, c(17L, 7L, 2L))
})

test_that("architectures are reproducible under set.seed()", {
  set.seed(9)
  a <- arch_cnn(c(1, 100), 2, kernels = c(5, 5, 3), strides = c(1, 1, 1))
  set.seed(9)
  b <- arch_cnn(c(1, 100), 2, kernels = c(5, 5, 3), strides = c(1, 1, 1))
  expect_identical(a, b)
})

test_that("architecture arguments are checked", {
  expect_error(arch_cnn(c(1, 50), 2, kernels = c(15, 11, 7)), "too short.*block")
  expect_error(suppressMessages(arch_cnn(c(1, 5), 2)), "too short.*block")
  expect_error(arch_cnn(c(1, 945), 1), "n_classes")
  expect_error(arch_cnn(c(1, 945), 2, channels = c(8, 8)), "kernels.*2 whole numbers")
  expect_error(arch_cnn(c(1, 945), 2, dropout = 1), "dropout")
  expect_error(arch_fcn(c(1, 945), 2, kernels = c(0, 3, 3)), "kernels")
  expect_error(arch_resnet(c(0, 945), 2), "input_dim")
  expect_error(arch_cnn(c(1, 945), 2, padding = "full"), "should be one of")
})

test_that("the default CNN adapts to short series and says what it chose", {
  set.seed(1)
  expect_message(a <- arch_cnn(c(1, 150), 2), "too short for the default CNN")
  m <- cphap_model(a)
  expect_equal(interpretable_layers(m)$channels, c(32L, 64L, 128L))
  expect_equal(vapply(Filter(function(l) l$type == "Conv1D", a$layers),
    function(l) dim(l$weight)[3], numeric(1)), c(7, 5, 3))
  # shorter series keep fewer compact blocks
  expect_message(b <- arch_cnn(c(1, 12), 2), "1 block")
  expect_equal(nrow(interpretable_layers(cphap_model(b))), 1L)
  # series long enough for the paper's shape: no message, paper kernels
  expect_silent(p <- arch_cnn(c(1, 945), 2))
  expect_equal(dim(p$layers[[1]]$weight)[3], 15)
})

test_that("fit_model('cnn') trains on the shipped GunPoint data with defaults", {
  set.seed(2)
  expect_message(m <- fit_model("cnn", gunpoint$train, epochs = 2), "Using 3 blocks")
  expect_s3_class(m, "cphap_model")
  expect_equal(nrow(m$history), 2L)
  expect_equal(m$classes, levels(gunpoint$train$y))
})
