# vdiffr snapshots of the pattern figures (on the CBF model fixture).

cbf_result <- function() {
  fx <- read_model_fixture("cbf_cnn")
  m <- cphap_model(fx$model)
  set.seed(31)
  d <- sim_cbf_embedded(60)
  set.seed(32)
  list(res = cphap(m, d$x, layers = "conv2", k = 4, n_start = 3), data = d)
}

test_that("pattern figures are stable", {
  skip_if_not_installed("vdiffr")
  r <- cbf_result()
  res <- r$res
  g <- autoplot(res)
  expect_s3_class(g, "ggplot")
  vdiffr::expect_doppelganger("cluster gallery", g)
  vdiffr::expect_doppelganger("cluster gallery two clusters", autoplot(res, clusters = 1:2, max_members = 10))
  vdiffr::expect_doppelganger("pattern bands", autoplot(res, "pattern"))
  vdiffr::expect_doppelganger("unit x pattern", autoplot(res, "units"))
  e <- explain_sample(res, 3, "conv2")
  vdiffr::expect_doppelganger("sample with patterns", autoplot(e, max_periods = 4))
  vdiffr::expect_doppelganger("sample periods highlighted", autoplot(e, "multivariate", max_periods = 4))
})

test_that("multivariate figures highlight the period in every channel", {
  skip_if_not_installed("vdiffr")
  m <- cphap_model(small_valid_net())
  set.seed(33)
  x <- array(rnorm(20 * 2 * 40), c(20, 2, 40))
  res <- cphap(m, x, layers = 2, k = 2, alpha = 0.1)
  e <- explain_sample(res, 1, channels = 1)
  g <- autoplot(e, "multivariate")
  expect_s3_class(g, "ggplot")
  vdiffr::expect_doppelganger("multivariate periods", g)
  vdiffr::expect_doppelganger("multivariate sample channel 2", autoplot(e, input_channel = 2))
  vdiffr::expect_doppelganger("multivariate gallery channel 2", autoplot(res, layer = 2, input_channel = 2))
  j <- cphap(m, x, layers = 2, k = 2, alpha = 0.1, joint = TRUE)
  vdiffr::expect_doppelganger("joint gallery", autoplot(j, max_members = 5))
  vdiffr::expect_doppelganger("joint pattern bands", autoplot(j, "pattern"))
})

test_that("plot arguments are checked", {
  r <- cbf_result()
  expect_error(autoplot(r$res, clusters = 9), "clusters")
  expect_error(autoplot(r$res, layer = "conv1"), "no clustered periods")
  expect_error(autoplot(r$res, max_members = 0), "max_members")
  e <- explain_sample(r$res, 1, "conv2")
  expect_error(autoplot(e, input_channel = 2), "input_channel")
})
