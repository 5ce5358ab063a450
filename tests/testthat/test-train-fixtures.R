# Loss, gradients, batch-norm running statistics and one Adam step against
# PyTorch autograd and torch.optim.Adam (float64), fixtures made by
# tools/make_grad_fixtures.py.

grad_fixture_names <- function() {
  f <- list.files(test_path("fixtures", "grad"), pattern = "\\.txt\\.gz$")
  sub("\\.txt\\.gz$", "", f)
}

# A convolution bias right before a batch norm in training mode has a zero
# gradient (the batch mean removes it): both sides are round-off, compare
# absolutely.
expect_grad_equal <- function(got, want, tol = 1e-8) {
  if (max(abs(want)) < 1e-12) {
    expect_lt(max(abs(got)), 1e-12)
  } else {
    expect_rel_equal(got, want, tol)
  }
}

fixture_case <- function(fx) {
  m <- cphap_model(fx$model)
  n <- dim(fx$x)[1]
  masks <- NULL
  if (length(fx$masks) > 0L) {
    masks <- vector("list", length(m$layers))
    for (mk in fx$masks) masks[[mk$layer]] <- as.vector(aperm(mk$mask, 3:1))
  }
  cw <- if (length(fx$class_weights) > 0L) as.double(fx$class_weights) else NULL
  mode <- if (fx$mode == "train") 1L else 0L
  list(m = m, x = aperm(fx$x, 3:1), y = as.integer(fx$y) - 1L, cw = cw, masks = masks,
       mode = mode)
}

test_that("loss, gradients and running statistics match PyTorch autograd to 1e-8", {
  nms <- grad_fixture_names()
  expect_setequal(nms, c("valid_cnn", "odd", "fcn", "resnet", "small_cnn"))
  for (nm in nms) {
    fx <- read_fixture(file.path("grad", nm))
    cs <- fixture_case(fx)
    for (threads in 1:2) {
      r <- .Call(cphap:::cp_loss_grad_r, cs$m$spec, cs$x, cs$y, cs$cw, cs$mode, cs$masks, threads)
      expect_rel_equal(r$loss, fx$loss, 1e-8)
      layers <- cphap:::unflatten_params(cs$m, r$grad, r$state)
      for (j in seq_along(layers)) {
        g <- fx$grads[[j]]
        for (p in names(g)) {
          expect_grad_equal(layers[[j]][[p]], g[[p]], 1e-8)
          expect_equal(dim(as.array(layers[[j]][[p]])), dim(as.array(g[[p]])))
        }
        rs <- fx$running[[j]]
        for (p in names(rs)) expect_rel_equal(layers[[j]][[p]], rs[[p]], 1e-8)
      }
    }
  }
})

test_that("one Adam step matches torch.optim.Adam to 1e-8", {
  for (nm in grad_fixture_names()) {
    fx <- read_fixture(file.path("grad", nm))
    cs <- fixture_case(fx)
    r <- .Call(cphap:::cp_loss_grad_r, cs$m$spec, cs$x, cs$y, cs$cw, cs$mode, cs$masks, 1L)
    a <- fx$adam
    np <- length(r$grad)
    st <- .Call(cphap:::cp_adam_r, cs$m$spec$par, r$grad, numeric(np), numeric(np), 1,
                c(a$lr, a$beta1, a$beta2, a$eps, a$weight_decay))
    layers <- cphap:::unflatten_params(cs$m, st$par)
    for (j in seq_along(layers)) {
      for (p in names(fx$after_adam[[j]])) {
        expect_rel_equal(layers[[j]][[p]], fx$after_adam[[j]][[p]], 1e-8)
      }
    }
  }
})

test_that("a training epoch of one full batch equals gradient + Adam, and updates running statistics as PyTorch", {
  fx <- read_fixture(file.path("grad", "fcn"))
  cs <- fixture_case(fx)
  a <- fx$adam
  n <- length(cs$y)
  ctrl <- c(a$lr, a$beta1, a$beta2, a$eps, a$weight_decay, n, 1, 2, 0, 0.1)
  np <- length(cs$m$spec$par)
  e <- .Call(cphap:::cp_train_epoch_r, cs$m$spec, cs$x, cs$y, cs$cw,
             list(numeric(np), numeric(np), 0), ctrl, 1L)
  expect_equal(e$step, 1)
  expect_rel_equal(e$loss, fx$loss, 1e-8)
  layers <- cphap:::unflatten_params(cs$m, e$par, e$state)
  for (j in seq_along(layers)) {
    for (p in names(fx$after_adam[[j]])) expect_rel_equal(layers[[j]][[p]], fx$after_adam[[j]][[p]], 1e-8)
    for (p in names(fx$running[[j]])) expect_rel_equal(layers[[j]][[p]], fx$running[[j]][[p]], 1e-8)
  }
})
