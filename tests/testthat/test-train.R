# fit_model(): behaviour, reproducibility, errors.

easy_data <- function(n = 40, L = 32, seed = 1) {
  set.seed(seed)
  y <- factor(rep(c("down", "up"), length.out = n), levels = c("down", "up"))
  s <- ifelse(y == "up", 1, -1)
  x <- t(vapply(s, function(si) si * seq(-1, 1, length.out = L) + rnorm(L, sd = 0.3), numeric(L)))
  list(x = x, y = y)
}

small_cnn_args <- list(channels = c(4, 6), kernels = c(5, 3), strides = c(1, 1),
                       pool_sizes = c(2, 2), pool_strides = c(2, 2))

test_that("fit_model() learns an easy problem and returns a model with history and classes", {
  d <- easy_data()
  set.seed(2)
  m <- do.call(fit_model, c(list("cnn", d$x, d$y, epochs = 15, batch_size = 8, lr = 0.01,
                                 progress = FALSE), small_cnn_args))
  expect_s3_class(m, "cphap_model")
  expect_identical(m$classes, c("down", "up"))
  h <- m$history
  expect_s3_class(h, "cphap_history")
  expect_named(as.data.frame(h), c("epoch", "loss", "accuracy", "val_loss", "val_accuracy"))
  expect_equal(nrow(h), 15)
  expect_true(all(is.na(h$val_loss)))
  expect_lt(h$loss[15], h$loss[1])
  expect_gte(mean(predict(m, d$x) == d$y), 0.9)
  expect_s3_class(autoplot(h), "ggplot")
  expect_s3_class(autoplot(m), "ggplot")
  expect_output(print(h), "cphap_history")
  # the trained weights are in the layers: a model rebuilt from the list predicts the same
  m2 <- cphap_model(as.list(m))
  expect_identical(predict(m2, d$x, type = "prob"), predict(m, d$x, type = "prob"))
})

test_that("the same seed gives identical weights for 1 and 2 threads (dropout, batch norm)", {
  d <- easy_data(n = 30, L = 24)
  fit_once <- function(threads, arch, args) {
    withr::local_options(cphap.threads = threads)
    set.seed(5)
    do.call(fit_model, c(list(arch, d$x, d$y, epochs = 3, batch_size = 7, lr = 0.01,
                              progress = FALSE), args))
  }
  for (case in list(list("cnn", small_cnn_args),
                    list("fcn", list(channels = c(4, 5, 3), kernels = c(5, 3, 3))),
                    list("resnet", list(channels = c(3, 4), kernels = c(3, 3))))) {
    a <- fit_once(1L, case[[1]], case[[2]])
    b <- fit_once(2L, case[[1]], case[[2]])
    expect_identical(a$spec$par, b$spec$par)
    expect_identical(a$spec$state, b$spec$state)
    expect_identical(as.data.frame(a$history), as.data.frame(b$history))
    c2 <- fit_once(1L, case[[1]], case[[2]])
    expect_identical(a$spec$par, c2$spec$par)
  }
  set.seed(6)
  e <- do.call(fit_model, c(list("cnn", d$x, d$y, epochs = 3, batch_size = 7, lr = 0.01,
                                 progress = FALSE), small_cnn_args))
  expect_false(identical(e$spec$par, fit_once(1L, "cnn", small_cnn_args)$spec$par))
})

test_that("validation, keep_best and patience", {
  d <- easy_data(n = 40)
  set.seed(3)
  m <- do.call(fit_model, c(list("cnn", d$x, d$y, epochs = 30, batch_size = 8, lr = 0.05,
                                 validation_split = 0.25, patience = 2, progress = FALSE),
                            small_cnn_args))
  h <- m$history
  expect_false(anyNA(h$val_loss))
  expect_lt(nrow(h), 30)
  be <- attr(h, "best_epoch")
  expect_equal(be, which.min(h$val_loss))
  expect_equal(nrow(h), be + 2)
  # validation_data as a list; keep_best = FALSE keeps the last epoch
  set.seed(3)
  m2 <- do.call(fit_model, c(list("cnn", d$x[1:30, ], d$y[1:30], epochs = 4, batch_size = 10,
                                  validation_data = list(d$x[31:40, ], d$y[31:40]),
                                  keep_best = FALSE, progress = FALSE), small_cnn_args))
  expect_equal(attr(m2$history, "best_epoch"), 4)
  ev <- .Call(cphap:::cp_evaluate_r, m2$spec, aperm(array(d$x[31:40, ], c(10, 1, 32)), 3:1),
              as.integer(d$y[31:40]) - 1L, NULL, 1L)
  expect_equal(ev[[1]], m2$history$val_loss[4])
  expect_equal(ev[[2]], mean(predict(m2, d$x[31:40, ]) == d$y[31:40]))
})

test_that("class weights, a cphap model, a plain list and a cphap_data object are accepted", {
  d <- easy_data(n = 24)
  set.seed(4)
  net <- do.call(arch_cnn, c(list(c(1, 32), 2), small_cnn_args))
  m1 <- fit_model(net, d$x, d$y, epochs = 2, batch_size = 6, class_weights = "balanced",
                  progress = FALSE)
  m2 <- fit_model(cphap_model(net), d$x, as.character(d$y), epochs = 2, batch_size = 6,
                  class_weights = c(up = 2, down = 1), progress = FALSE)
  expect_s3_class(m1, "cphap_model")
  expect_s3_class(m2, "cphap_model")
  set.seed(1)
  cbf <- sim_cbf(n = 18, length = 32)
  m3 <- fit_model("fcn", cbf, epochs = 2, batch_size = 6, channels = c(3, 3, 3),
                  progress = FALSE)
  expect_identical(m3$classes, levels(cbf$y))
  expect_output(m4 <- fit_model(cphap_model(net), d$x, d$y, epochs = 2, batch_size = 6,
                                progress = TRUE), "epoch")
  # the old name still works, with a deprecation warning
  set.seed(1)
  expect_warning(m5 <- fit_model(cphap_model(net), d$x, d$y, epochs = 2, batch_size = 6,
                                 verbose = FALSE), class = "cphap_deprecated")
  set.seed(1)
  m6 <- fit_model(cphap_model(net), d$x, d$y, epochs = 2, batch_size = 6, progress = FALSE)
  expect_identical(m5$layers, m6$layers)
  expect_error(fit_model(cphap_model(net), d$x, d$y, epochs = 1, progress = FALSE,
                         verbose = FALSE), "progress")
})

test_that("bad input gives clear errors that name the argument", {
  d <- easy_data(n = 20)
  set.seed(1)
  net <- do.call(arch_cnn, c(list(c(1, 32), 2), small_cnn_args))
  f <- function(...) fit_model(net, ..., progress = FALSE)
  expect_error(f(d$x, d$y[1:19]), "`y` must have one label per series")
  expect_error(f(d$x, rep("a", 20)), "`y` has only one class")
  expect_error(f(d$x, replace(d$y, 3, NA)), "`y` contains 1 NA label")
  expect_error(f(d$x), "`y` is missing")
  expect_error(f(d$x, d$y, epochs = 0), "`epochs` must be a whole number >= 1")
  expect_error(f(d$x, d$y, batch_size = 0), "`batch_size` must be a whole number between 1 and 20")
  expect_error(f(d$x, d$y, batch_size = 21), "`batch_size`")
  expect_error(f(d$x, d$y, lr = 0), "`lr` must be a single finite number in \\(0")
  expect_error(f(d$x, d$y, lr = -1), "`lr`")
  expect_error(f(d$x, d$y, validation_split = 1), "`validation_split`")
  expect_error(f(d$x, d$y, class_weights = c(1, -1)), "`class_weights`")
  expect_error(f(d$x, d$y, patience = 0), "`patience`")
  expect_error(f(d$x[, 1:30], d$y), "`x` has shape 1 channel x 30 points but the model expects 1 x 32")
  expect_error(f(d$x, factor(rep(c("a", "b", "c"), length.out = 20))), "2 output units but `y` has 3 classes")
  expect_error(fit_model("cnn", d$x, d$y, kernel = 3, progress = FALSE), "Unknown argument `kernel`")
  expect_error(fit_model("lstm", d$x, d$y, progress = FALSE), "`model` must be")
  expect_error(fit_model(net, d$x, d$y, channels = 3, progress = FALSE), "Unknown argument `channels`")
  expect_error(f(d$x, d$y, validation_split = 0.2, validation_data = list(d$x, d$y)), "not both")
  bad_out <- net
  bad_out$layers[[length(bad_out$layers)]]$activation_name <- "relu"
  expect_error(fit_model(bad_out, d$x, d$y, progress = FALSE), "output layer must end in a softmax")
})
