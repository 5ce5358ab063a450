test_that("znorm normalises each row of a matrix", {
  x <- rbind(c(1, 2, 3, 4), c(10, 20, 40, 80))
  z <- znorm(x)
  expect_equal(dim(z), dim(x))
  expect_equal(rowMeans(z), c(0, 0))
  expect_equal(apply(z, 1, sd), c(1, 1))
  expect_equal(z[1, ], (x[1, ] - mean(x[1, ])) / sd(x[1, ]))
})

test_that("znorm normalises each sample and channel of an array", {
  set.seed(1)
  a <- array(rnorm(2 * 3 * 20, mean = 4, sd = 3), dim = c(2, 3, 20))
  z <- znorm(a)
  expect_equal(dim(z), dim(a))
  expect_equal(apply(z, c(1, 2), mean), matrix(0, 2, 3))
  expect_equal(apply(z, c(1, 2), sd), matrix(1, 2, 3))
  expect_equal(z[2, 3, ], (a[2, 3, ] - mean(a[2, 3, ])) / sd(a[2, 3, ]))
})

test_that("znorm with margin = 1 normalises all channels of a sample together", {
  set.seed(2)
  a <- array(rnorm(2 * 3 * 5), dim = c(2, 3, 5))
  z <- znorm(a, margin = 1)
  v <- as.vector(a[1, , ])
  expect_equal(as.vector(z[1, , ]), (v - mean(v)) / sd(v))
})

test_that("constant series become zero, not NaN", {
  x <- rbind(c(5, 5, 5), c(0.1, 0.1, 0.1), c(1, 2, 3))
  z <- znorm(x)
  expect_equal(z[1:2, ], matrix(0, 2, 3))
  expect_false(anyNA(z))
  expect_equal(znorm(c(7, 7)), c(0, 0))
  expect_equal(znorm(3), 0)
  a <- array(1, dim = c(2, 2, 4))
  expect_equal(znorm(a), array(0, dim = c(2, 2, 4)))
})

test_that("missing values are ignored and kept", {
  z <- znorm(c(1, NA, 3))
  expect_equal(z, c(-1, NA, 1) / sqrt(2))
  z <- znorm(rbind(c(2, NA, 2), c(NA, NA, NA)))
  expect_equal(z[1, ], c(0, NA, 0))
  expect_true(all(is.na(z[2, ])))
})

test_that("znorm keeps attributes and works on cphap_data", {
  x <- matrix(1:6, nrow = 2, dimnames = list(c("a", "b"), NULL))
  z <- znorm(x)
  expect_equal(dimnames(z), dimnames(x))
  expect_type(z, "double")
  set.seed(3)
  d <- sim_cbf(n = 6, length = 32)
  dz <- znorm(d)
  expect_s3_class(dz, "cphap_data")
  expect_equal(dz$x, znorm(d$x))
  expect_equal(dz$events, d$events)
})

test_that("znorm rejects bad input with clear errors", {
  expect_error(znorm("a"), "`x` must be a numeric")
  expect_error(znorm(list(1, 2)), "`x` must be a numeric")
  expect_error(znorm(data.frame(a = 1:3)), "`x` must be a numeric")
  expect_error(znorm(c(1, Inf)), "infinite")
  expect_error(znorm(matrix(1:4, 2), margin = 1:2), "`margin`")
  expect_error(znorm(matrix(1:4, 2), margin = 3), "`margin`")
  expect_error(znorm(1:4, margin = 1), "`margin` must be NULL")
})
