# Which sample is this? Row names, or the index in the data given, and the
# data set's name, through results and plot titles.

test_that("relevance of one test series is titled with its index and data set", {
  m <- demo_model()
  r <- unit_relevance(m, gunpoint$test$x[19, , drop = FALSE], "conv2", channels = 1, passes = 3,
    progress = FALSE)
  expect_equal(attr(r, "sample_ids"), "19")
  expect_equal(attr(r, "data_name"), "gunpoint$test")
  expect_equal(autoplot(r)$labels$title, "gunpoint$test series 19")
  # the same series chosen with `samples` from the data object
  set.seed(1)
  a <- unit_relevance(m, gunpoint$test, "conv2", channels = 1:2, samples = c(19, 40), passes = 3,
    progress = FALSE)
  set.seed(1)
  b <- unit_relevance(m, gunpoint$test$x[c(19, 40), ], "conv2", channels = 1:2, passes = 3,
    progress = FALSE)
  expect_equal(as.data.frame(a), as.data.frame(b))
  expect_equal(attr(a, "sample_ids"), c("19", "40"))
  expect_equal(autoplot(a)$labels$title, "gunpoint$test series 19, 40")
  expect_equal(autoplot(a, sample = 2)$labels$title, "gunpoint$test series 40")
  expect_error(unit_relevance(m, gunpoint$test, "conv2", samples = 151), "samples")
  # lrp() too, with an index held in a variable
  idx <- c(3, 90)
  quiet <- function(expr) suppressWarnings(expr, classes = "cphap_negative_logit")
  l <- quiet(lrp(m, gunpoint$test$x[idx, ]))
  expect_equal(attr(l, "sample_ids"), c("3", "90"))
  expect_equal(quiet(lrp(m, gunpoint$test, samples = 90))$mean, l$mean[l$sample == 2])
})

test_that("the negative-logit warning names the series", {
  m <- demo_model()
  # test series 90 is predicted correctly with a negative logit
  expect_warning(lrp(m, gunpoint$test, samples = c(1, 90)), "(90)", fixed = TRUE,
    class = "cphap_negative_logit")
  expect_warning(lrp(m, gunpoint$test$x[c(2, 90), ]), "(90)", fixed = TRUE,
    class = "cphap_negative_logit")
})

test_that("an index with side effects is not evaluated again", {
  m <- demo_model()
  set.seed(3)
  l <- lrp(m, gunpoint$test$x[sample.int(150, 2), ])
  after <- stats::runif(1)
  set.seed(3)
  drawn <- sample.int(150, 2)
  expect_equal(stats::runif(1), after)
  expect_equal(attr(l, "sample_ids"), c("1", "2"))
  expect_equal(attr(l, "data_name"), "gunpoint$test")
  k <- 4
  expect_equal(attr(lrp(m, gunpoint$test$x[c(k, 2 * 1:2), ]), "sample_ids"), c("1", "2", "3"))
  expect_equal(attr(lrp(m, gunpoint$test$x[c(k, 7:8), ]), "sample_ids"), c("4", "7", "8"))
})

test_that("original_relevance() names the series and takes samples with their labels", {
  m <- demo_model()
  set.seed(1)
  a <- original_relevance(m, gunpoint$test, "conv2", channels = 5, passes = 3, samples = c(19, 40),
    progress = FALSE)
  expect_equal(attr(a, "sample_ids"), c("19", "40"))
  expect_equal(attr(a, "data_name"), "gunpoint$test")
  expect_equal(unique(a$class[a$sample == 2]), as.character(gunpoint$test$y[40]))
  set.seed(1)
  b <- original_relevance(m, gunpoint$test$x[c(19, 40), ], "conv2", channels = 5,
    y = gunpoint$test$y[c(19, 40)], passes = 3, progress = FALSE)
  expect_equal(as.data.frame(a), as.data.frame(b))
  expect_equal(attr(b, "sample_ids"), c("19", "40"))
})

test_that("row names are kept as ids, and computed series are numbered", {
  m <- demo_model()
  x <- gunpoint$test$x[1:4, ]
  rownames(x) <- c("a", "b", "c", "d")
  p <- predict(m, x)
  expect_equal(names(p), rownames(x))
  expect_equal(rownames(predict(m, x, type = "prob")), rownames(x))
  r <- lrp(m, x[c("b", "d"), ])
  expect_equal(attr(r, "sample_ids"), c("b", "d"))
  expect_equal(autoplot(r)$labels$title, "x series b, d")
  s <- lrp(m, gunpoint$test$x[2:3, ] * 2)
  expect_null(attr(s, "data_name"))
  expect_equal(autoplot(s)$labels$title, "series 1, 2")
})

test_that("explanations and perturbations say which series they are", {
  m <- demo_model()
  res <- cphap(m, gunpoint$train, layers = "conv2", k = 3, progress = FALSE)
  expect_equal(res$settings$data_name, "gunpoint$train")
  e <- explain_sample(res, 7, "conv2")
  expect_equal(autoplot(e)$labels$title, "gunpoint$train series 7: highly activated periods")
  expect_output(print(e), "gunpoint$train series 7", fixed = TRUE)
  en <- explain_sample(res, c(19, 20), "conv2", newdata = gunpoint$test)
  expect_equal(autoplot(en, sample = 19)$labels$title, "gunpoint$test series 19: highly activated periods")
  expect_output(print(en), "gunpoint$test series 19, 20", fixed = TRUE)
  thr <- res$thresholds
  pt <- perturbation(m, gunpoint$test, thr, "conv2", samples = 5, shares = 0.5,
    progress = FALSE)
  expect_gt(nrow(pt), 0)
  expect_equal(attr(pt, "data_name"), "gunpoint$test")
  expect_equal(attr(pt, "sample_ids")[unique(pt$sample)], "5")
})
