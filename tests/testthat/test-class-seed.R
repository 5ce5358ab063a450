# Relevance from a negative logit: a warning, and the margin to the runner-up
# class as the seed.

test_that("the logits are the output before the softmax", {
  m <- demo_model()
  x <- gunpoint$test$x[1:20, ]
  z <- cphap:::class_logits(m, cphap:::as_input(x, m))
  p <- exp(z) / rowSums(exp(z))
  expect_equal(unname(p), unname(predict(m, x, type = "prob")), tolerance = 1e-10)
})

test_that("a negative class logit warns; the margin seeds the runner-up difference", {
  m <- demo_model()
  x <- gunpoint$test$x
  z <- cphap:::class_logits(m, cphap:::as_input(x, m))
  pred <- as.integer(predict(m, x))
  neg <- which(z[cbind(seq_len(nrow(z)), pred)] < 0)
  skip_if(length(neg) == 0L, "no test series with a negative logit")
  xs <- x[neg, , drop = FALSE]
  expect_warning(lrp(m, xs), class = "cphap_negative_logit")
  pos <- which(z[cbind(seq_len(nrow(z)), pred)] > 0)[1:2]
  expect_no_warning(lrp(m, x[pos, ]))
  # a class that is not the predicted one: its negative logit is expected
  other <- which(z[cbind(seq_len(nrow(z)), 3L - pred)] < 0)[1:2]
  expect_no_warning(lrp(m, x[other, ], class = m$classes[3L - pred[other]]))
  rm <- lrp(m, xs, class_seed = "margin")
  expect_equal(attr(rm, "class_seed"), "margin")
  # the seed is the margin, positive for the predicted class
  jobs <- summary(rm)
  zz <- z[neg, , drop = FALSE]
  margin <- zz[cbind(seq_along(neg), pred[neg])] - zz[cbind(seq_along(neg), 3L - pred[neg])]
  expect_equal(jobs$seeded, margin, tolerance = 1e-8)
  expect_true(all(jobs$seeded > 0))
  expect_equal(jobs$class, m$classes[pred[neg]])
  expect_equal(attr(rm, "runner_up"), m$classes[3L - pred[neg]])
  # linear in the seed: the relevance of the class minus that of the runner-up
  rc <- suppressWarnings(lrp(m, xs, class = m$classes[pred[neg]]))
  rr <- suppressWarnings(lrp(m, xs, class = attr(rm, "runner_up")))
  expect_equal(rm$mean, rc$mean - rr$mean, tolerance = 1e-6)
  # the sign follows the decision: the margin of the other class is negative
  ro <- lrp(m, xs, class = attr(rm, "runner_up"), class_seed = "margin")
  expect_true(all(summary(ro)$seeded < 0))
})

test_that("unit_relevance() takes class_seed with class seeds only", {
  m <- demo_model()
  x <- gunpoint$test$x[1:2, ]
  set.seed(1)
  r <- unit_relevance(m, x, "conv3", channels = 1:2, seed = "class", class_seed = "margin",
    passes = 5, progress = FALSE)
  expect_equal(attr(r, "class_seed"), "margin")
  expect_equal(unique(r$class), levels(gunpoint$test$y)[unique(as.integer(predict(m, x)))])
  expect_error(unit_relevance(m, x, "conv3", class_seed = "margin"), "class_seed.*only used")
  net <- list(input_dim = c(1, 8), layers = list(
    list(type = "Conv1D", weight = array(1, c(2, 1, 3)), bias = c(0, 0)),
    list(type = "GlobalPooling", method = "average")
  ))
  gp <- cphap_model(net, classes = c("a", "b"))
  expect_error(lrp(gp, rnorm(8), class_seed = "margin"), "dense")
})
