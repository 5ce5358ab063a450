test_that("gunpoint has the UCR split and shape", {
  expect_s3_class(gunpoint, "cphap_dataset")
  expect_named(gunpoint, c("train", "test"))
  expect_s3_class(gunpoint$train, "cphap_data")
  expect_equal(dim(gunpoint$train$x), c(50, 150))
  expect_equal(dim(gunpoint$test$x), c(150, 150))
  expect_equal(as.vector(table(gunpoint$train$y)), c(24L, 26L))
  expect_equal(as.vector(table(gunpoint$test$y)), c(76L, 74L))
  expect_equal(levels(gunpoint$test$y), c("1", "2"))
  expect_null(gunpoint$train$events)
  expect_false(anyNA(gunpoint$train$x))
  # the archive's series are z-normalised
  expect_equal(unname(rowMeans(gunpoint$test$x)), rep(0, 150), tolerance = 1e-4)
  expect_equal(gunpoint$train$x[1, 1:3], c(-0.64789, -0.64199, -0.63819))
})

test_that("char_traj has 3 channels, 20 classes and length 128", {
  expect_s3_class(char_traj, "cphap_dataset")
  expect_equal(dim(char_traj$train$x), c(60, 3, 128))
  expect_equal(dim(char_traj$test$x), c(40, 3, 128))
  expect_equal(dimnames(char_traj$train$x)[[2]], c("x_velocity", "y_velocity", "tip_force"))
  expect_length(levels(char_traj$train$y), 20)
  expect_true(all(table(char_traj$train$y) == 3L))
  expect_true(all(table(char_traj$test$y) == 2L))
  expect_false(anyNA(char_traj$test$x))
  expect_true(all(is.finite(char_traj$train$x)))
})

test_that("the data sets print", {
  expect_output(print(gunpoint), "50 series, 1 channel, length 150")
  expect_output(print(char_traj), "40 series, 3 channels, length 128")
})
