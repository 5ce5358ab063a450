# Plots that explain themselves: labels, legends, one panel per sample,
# colours that match, integer time axes, an ordered heatmap, plot() methods.

scale_of <- function(b, aes) b$plot$scales$get_scales(aes)

test_that("the relevance plot labels its axes and band, and draws every sample", {
  m <- demo_model()
  set.seed(1)
  r <- unit_relevance(m, gunpoint$test$x[c(1, 19), ], "conv2", channels = 22, passes = 10,
    progress = FALSE)
  p <- autoplot(r)
  b <- ggplot2::ggplot_build(p)
  expect_setequal(as.character(unique(b$layout$layout$sample_label)), c("sample 1", "sample 2"))
  expect_match(p$labels$y, "relevance")
  expect_match(p$labels$y, "input value")
  fill <- scale_of(b, "fill")
  expect_match(fill$get_labels(), "mean \u00b1 sd over 10 passes", fixed = TRUE)
  col <- scale_of(b, "colour")
  expect_equal(col$get_limits()[1], -col$get_limits()[2])
  expect_match(col$name, "centred at 0")
  # one sample chosen
  b1 <- ggplot2::ggplot_build(autoplot(r, sample = 2))
  expect_null(b1$layout$layout$sample_label)
  expect_error(autoplot(r, sample = 3), "sample.*not in the result")
})

test_that("sample explanation bands take the colour of their pattern", {
  res <- cphap(demo_model(), gunpoint$train, layers = "conv2", k = 4)
  e <- explain_sample(res, 3, "conv2", newdata = gunpoint$test)
  b <- ggplot2::ggplot_build(autoplot(e, max_periods = 4))
  kinds <- vapply(b$plot$layers, function(l) class(l$geom)[1], character(1))
  ribbons <- do.call(rbind, b$data[kinds == "GeomRibbon"])
  lines <- b$data[kinds == "GeomLine"][[1]]
  expect_setequal(unique(ribbons$fill), unique(lines$colour))
  expect_gt(length(unique(ribbons$fill)), 1L)
  expect_setequal(unique(ribbons$alpha), c(0.12, 0.22, 0.38))
})

test_that("joint multivariate patterns name the input channels in the strips", {
  set.seed(2)
  d <- char_traj$train
  x <- d$x[1:40, , ]
  net <- arch_cnn(c(3, dim(x)[3]), nlevels(d$y), channels = c(4, 4), kernels = c(5, 3),
    strides = c(1, 1), pool_sizes = c(2, 2), pool_strides = c(2, 2))
  j <- cphap(cphap_model(net), x, layers = "conv2", k = 2, joint = TRUE, n_start = 1)
  for (type in c("pattern", "gallery")) {
    p <- autoplot(j, type, max_members = 5)
    lab <- p$facet$params$labeller(data.frame(input_channel = 1:3))
    expect_equal(unname(unlist(lab)), paste0("input channel ", 1:3, ": ", dimnames(x)[[2]]))
  }
})

test_that("integer time axes get integer breaks", {
  expect_equal(cphap:::integer_breaks(c(0.8, 3.2)), 1:3)
  expect_true(all(cphap:::integer_breaks(c(0.4, 150.6)) %% 1 == 0))
  set.seed(3)
  x <- rbind(matrix(rnorm(10 * 12, 1), 10), matrix(rnorm(10 * 12, -1), 10))
  m <- fit_model("fcn", x, rep(c("a", "b"), each = 10), epochs = 3, channels = c(2, 2),
    kernels = c(3, 3))
  b <- ggplot2::ggplot_build(autoplot(m$history))
  br <- b$layout$panel_params[[1]]$x$breaks
  br <- br[!is.na(br)]
  expect_true(length(br) >= 2L)
  expect_true(all(br %% 1 == 0))
})

test_that("the unit x pattern heatmap is ordered by dominant pattern and counts silent units", {
  m <- demo_model()
  res <- cphap(m, gunpoint$train, layers = "conv2", k = 4)
  p <- autoplot(res, "units")
  up <- res$unit_pattern
  top_down <- rev(levels(p$data$unit))
  dom <- vapply(top_down, function(u) {
    v <- up[up$channel == as.integer(u), ]
    v$cluster[which.max(v$share)]
  }, integer(1))
  expect_false(is.unsorted(dom))
  n_none <- 64L - length(unique(up$channel))
  expect_match(p$labels$caption, sprintf("%d of 64 units had no highly activated period", n_none))
})

test_that("every class with autoplot() has a plot() method", {
  classes <- sub("^autoplot\\.", "", grep("^autoplot\\.", ls(asNamespace("cphap")), value = TRUE))
  expect_true(length(classes) >= 6L)
  for (cl in classes) {
    expect_false(is.null(utils::getS3method("plot", cl, optional = TRUE)), info = cl)
  }
  pdf(NULL)
  on.exit(grDevices::dev.off())
  m <- demo_model()
  expect_invisible(plot(m))
  res <- cphap(m, gunpoint$train, layers = "conv2", k = 3)
  expect_identical(withVisible(plot(res, "pattern"))$value, res)
})
