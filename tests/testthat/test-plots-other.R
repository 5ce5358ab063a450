# Snapshot tests of the figures outside the pattern framework: training
# history, unit relevance and perturbation curves.

test_that("the training history plot is stable", {
  skip_if_not_installed("vdiffr")
  m <- demo_model()
  vdiffr::expect_doppelganger("training history", autoplot(m$history))
})

test_that("the unit relevance plot is stable", {
  skip_if_not_installed("vdiffr")
  m <- demo_model()
  set.seed(1)
  r <- unit_relevance(m, gunpoint$test$x[19, , drop = FALSE], "conv2", channels = 22,
                      seed = "all", passes = 20, rate = 0.5, progress = FALSE)
  vdiffr::expect_doppelganger("unit relevance", autoplot(r))
})

test_that("the perturbation plot is stable", {
  skip_if_not_installed("vdiffr")
  m <- demo_model()
  thr <- thresholds(m, gunpoint$train, layers = "conv3")
  set.seed(1)
  p <- perturbation(m, gunpoint$test, thr, "conv3", samples = 1:5, channels = 1:16,
                    shares = c(0.1, 0.3, 0.5), fill = "mean")
  vdiffr::expect_doppelganger("perturbation curves", autoplot(p))
})
