# Training a temporal network in C: mini-batch Adam on softmax cross-entropy.

#' Train a temporal network
#'
#' Fits a [cphap_model()] (or a plain network list, or one of the standard
#' architectures by name) to labelled series with mini-batch Adam on the
#' softmax cross-entropy, entirely in C: forward and backward passes through
#' every layer type, batch norm with batch statistics and running averages
#' (momentum 0.1, unbiased running variance, as PyTorch), dropout, shuffling
#' of the mini-batches each epoch.
#'
#' The loss is computed from the logits: an output softmax is skipped during
#' training (it is kept in the model), so the output layer must end in a
#' softmax or be linear. Adam follows PyTorch's `torch.optim.Adam`
#' (bias-corrected moments, `weight_decay` added to the gradient as an L2
#' penalty on every parameter).
#'
#' Reproducibility: the weights of a named architecture, the validation split
#' and one seed for the shuffling and dropout streams are drawn from R's
#' random number generator, so `set.seed()` before `fit_model()` gives the
#' same trained weights for any number of threads (option `cphap.threads`).
#'
#' @section Differences from the original work:
#' With `model = "cnn"`, the network is [arch_cnn()] with its defaults:
#' the original CNN's kernels, strides and pooling, but `"valid"` padding
#' instead of the original `"same"` (pass `padding = "same"` in `...`),
#' and a smaller shape when the series are too short for it.
#'
#' @param model A [cphap_model()], a plain network list (see
#'   [cphap_model()] and [arch_cnn()]), or the name of an architecture:
#'   `"cnn"`, `"fcn"` or `"resnet"`, built for the shape of `x` and the
#'   classes of `y` with the arguments in `...`. With its default shape,
#'   `"cnn"` takes the largest shape that fits the series length and says
#'   which (see [arch_cnn()]).
#' @param x Training series: a matrix `[n, length]`, an array
#'   `[n, channels, length]` or a `cphap_data` object (whose `y` is used when
#'   `y` is `NULL`).
#' @param y Class labels, one per series (a factor, character, integer or
#'   logical vector without `NA`). The model's output units correspond to
#'   `levels(factor(y))`; factor levels without any series are dropped (with
#'   a message).
#' @param epochs Number of passes over the training data.
#' @param batch_size Samples per mini-batch (between 1 and the number of
#'   training samples; the last batch of an epoch may be smaller). The
#'   default, 32, is lowered to the number of training samples when there are
#'   fewer.
#' @param lr Adam learning rate (> 0).
#' @param weight_decay L2 penalty added to the gradient (>= 0).
#' @param validation_split Fraction of the training data (chosen at random)
#'   held out for validation, in `[0, 1)`.
#' @param validation_data Optional validation set: a `cphap_data` object or a
#'   list `list(x, y)`. Not together with `validation_split`.
#' @param keep_best If `TRUE`, return the weights of the epoch with the lowest
#'   validation loss (the training loss when there is no validation set).
#' @param patience Stop when the monitored loss has not improved for this many
#'   epochs; `NULL` never stops early.
#' @param class_weights `NULL` (equal weights), `"balanced"` (inverse class
#'   frequency) or positive weights, one per class (named by class or in the
#'   order of the levels). The loss is the weighted mean, as PyTorch's
#'   `CrossEntropyLoss(weight = )`.
#' @param betas,epsilon Adam's moment decay rates and stabiliser.
#' @param progress Show a progress bar with the epoch, loss and accuracy, and
#'   a closing line naming the epoch whose weights were kept.
#' @param verbose Deprecated name of `progress`.
#' @param ... Arguments of [arch_cnn()], [arch_fcn()] or [arch_resnet()] when
#'   `model` names an architecture.
#' @return The trained `cphap_model`, with `classes` set to the levels of `y`
#'   and `history`, a data frame of class `cphap_history` with columns
#'   `epoch`, `loss`, `accuracy` (training, in training mode: dropout on,
#'   batch statistics), `val_loss`, `val_accuracy` (inference mode; `NA`
#'   without validation data). Its attribute `best_epoch` is the epoch whose
#'   weights were kept. Plot it with `autoplot()`.
#' @seealso [autoplot.cphap_history()], [predict.cphap_model()]
#' @examples
#' set.seed(1)
#' n <- 40
#' y <- factor(rep(c("up", "down"), each = n / 2))
#' x <- t(sapply(seq_len(n), function(i) {
#'   s <- if (i <= n / 2) 1 else -1
#'   s * seq(-1, 1, length.out = 30) + rnorm(30, sd = 0.3)
#' }))
#' m <- fit_model("cnn", x, y, epochs = 5, batch_size = 8, lr = 0.01,
#'                channels = c(4, 4), kernels = c(5, 3), strides = c(1, 1),
#'                pool_sizes = c(2, 2), pool_strides = c(2, 2))
#' m$history
#' table(predict(m, x), y)
#' @export
fit_model <- function(model, x, y = NULL, epochs = 50, batch_size = 32, lr = 1e-3,
                      weight_decay = 0, validation_split = 0, validation_data = NULL,
                      keep_best = TRUE, patience = NULL, class_weights = NULL,
                      betas = c(0.9, 0.999), epsilon = 1e-8, progress = interactive(),
                      verbose = NULL, ...) {
  progress <- renamed_arg(if (!missing(progress)) progress, verbose, "progress", "verbose")
  if (is.null(progress)) progress <- interactive()
  if (is.null(y) && inherits(x, "cphap_data")) y <- x$y
  y <- check_fit_labels(y, "y")
  classes <- levels(y)
  model <- fit_build_model(model, x, length(classes), list(...))
  x <- as_input(x, model, "x")
  n <- dim(x)[1]
  if (length(y) != n) {
    cli::cli_abort("{.arg y} must have one label per series: {n} series but {length(y)} label{?s}.",
      call = NULL
    )
  }
  n_out <- length(model$classes)
  if (n_out != length(classes)) {
    cli::cli_abort("The model has {n_out} output unit{?s} but {.arg y} has {length(classes)} class{?es} ({.val {classes}}).",
      call = NULL
    )
  }
  check_whole(epochs, "epochs", min = 1)
  check_number(lr, "lr", 0, Inf, min_open = TRUE)
  check_number(weight_decay, "weight_decay", 0)
  check_number(validation_split, "validation_split", 0, 1, max_open = TRUE)
  check_flag(keep_best, "keep_best")
  check_whole(patience, "patience", min = 1, allow_null = TRUE)
  check_flag(progress, "progress")
  check_number(epsilon, "epsilon", 0, Inf, min_open = TRUE)
  if (!is.numeric(betas) || length(betas) != 2L || anyNA(betas) || any(betas < 0) ||
    any(betas >= 1)) {
    cli::cli_abort("{.arg betas} must be two numbers in [0, 1), not {.val {format_value(betas)}}.",
      call = NULL
    )
  }
  out_act <- model$layers[[length(model$layers)]]
  out_act <- out_act$activation_name %||% out_act$act_name %||% "linear"
  if (!out_act %in% c("softmax", "linear")) {
    cli::cli_abort("The output layer must end in a softmax or be linear (logits), not {.val {out_act}}.",
      call = NULL
    )
  }

  # validation set
  xv <- NULL
  yv <- NULL
  if (!is.null(validation_data)) {
    if (validation_split > 0) {
      cli::cli_abort("Give either {.arg validation_data} or {.arg validation_split}, not both.",
        call = NULL
      )
    }
    vd <- validation_data
    if (inherits(vd, "cphap_data")) vd <- list(vd$x, vd$y)
    if (!is.list(vd) || length(vd) != 2L) {
      cli::cli_abort("{.arg validation_data} must be a {.cls cphap_data} object or {.code list(x, y)}.",
        call = NULL
      )
    }
    xv <- as_input(vd[[1]], model, "validation_data$x")
    yv <- check_fit_labels(vd[[2]], "validation_data$y", min_classes = 1L)
    if (length(yv) != dim(xv)[1]) {
      cli::cli_abort("{.arg validation_data} has {dim(xv)[1]} series but {length(yv)} label{?s}.",
        call = NULL
      )
    }
    bad <- setdiff(levels(droplevels(yv)), classes)
    if (length(bad) > 0L) {
      cli::cli_abort("{.arg validation_data} has class{?es} {.val {bad}} not present in {.arg y}.",
        call = NULL
      )
    }
    yv <- factor(as.character(yv), levels = classes)
  } else if (validation_split > 0) {
    n_val <- round(validation_split * n)
    if (n_val < 1L || n_val >= n) {
      cli::cli_abort("{.arg validation_split} = {validation_split} leaves {n_val} of {n} series for validation; it must leave at least one for each of training and validation.",
        call = NULL
      )
    }
    idx <- sort(sample.int(n, n_val))
    xv <- x[idx, , , drop = FALSE]
    yv <- y[idx]
    x <- x[-idx, , , drop = FALSE]
    y <- y[-idx]
    n <- n - n_val
    if (length(unique(y)) < 2L) {
      cli::cli_abort("After the validation split the training data have only one class.",
        call = NULL
      )
    }
  }
  if (missing(batch_size)) batch_size <- min(batch_size, n)
  check_whole(batch_size, "batch_size", min = 1, max = n)
  cw <- check_class_weights(class_weights, y, classes)

  threads <- cphap_threads()
  seed <- floor(stats::runif(2) * 2^32)
  xt <- aperm(x, 3:1)
  yt <- as.integer(y) - 1L
  if (!is.null(xv)) {
    xvt <- aperm(xv, 3:1)
    yvt <- as.integer(yv) - 1L
  }
  spec <- model$spec
  opt <- list(m = numeric(length(spec$par)), v = numeric(length(spec$par)), step = 0)
  hist <- data.frame(
    epoch = integer(), loss = numeric(), accuracy = numeric(),
    val_loss = numeric(), val_accuracy = numeric()
  )
  best <- list(loss = Inf, epoch = 0L, par = spec$par, state = spec$state)
  since_best <- 0L
  status <- ""
  if (progress) {
    cli::cli_progress_bar(
      format = "Epoch {cli::pb_current}/{cli::pb_total} {cli::pb_bar} {status}",
      total = epochs, clear = FALSE
    )
  }
  for (ep in seq_len(epochs)) {
    ctrl <- c(
      lr, betas[1], betas[2], epsilon, weight_decay, batch_size, seed[1], seed[2],
      ep - 1, 0.1
    )
    res <- .Call(cp_train_epoch_r, spec, xt, yt, cw, opt, ctrl, threads)
    spec$par <- res$par
    spec$state <- res$state
    opt <- list(m = res$m, v = res$v, step = res$step)
    ev <- if (is.null(xv)) c(NA_real_, NA_real_) else .Call(cp_evaluate_r, spec, xvt, yvt, NULL, threads)
    hist[ep, ] <- list(ep, res$loss, res$accuracy, ev[1], ev[2])
    monitored <- if (is.null(xv)) res$loss else ev[1]
    if (monitored < best$loss) {
      best <- list(loss = monitored, epoch = ep, par = spec$par, state = spec$state)
      since_best <- 0L
    } else {
      since_best <- since_best + 1L
    }
    status <- sprintf("loss %.3f acc %.2f", res$loss, res$accuracy)
    if (!is.null(xv)) status <- paste0(status, sprintf(" | val %.3f %.2f", ev[1], ev[2]))
    if (progress) cli::cli_progress_update(set = ep)
    if (!is.null(patience) && since_best >= patience) break
  }
  if (progress) cli::cli_progress_done()
  keep <- if (keep_best && best$epoch > 0L) best else list(epoch = nrow(hist), par = spec$par, state = spec$state)
  model$layers <- unflatten_params(model, keep$par, keep$state)
  model$classes <- classes
  model <- finish_model(model)
  hist <- structure(hist,
    class = c("cphap_history", "data.frame"), best_epoch = keep$epoch,
    monitor = if (is.null(xv)) "loss" else "val_loss"
  )
  model$history <- hist
  if (progress) {
    cat_line("Trained {nrow(hist)} epoch{?s}; kept the weights of epoch {keep$epoch}.")
  }
  model
}

# Labels: no NA, at least two classes; a factor.
check_fit_labels <- function(y, arg, min_classes = 2L) {
  if (is.null(y)) {
    cli::cli_abort("{.arg {arg}} is missing: give one class label per series.", call = NULL)
  }
  if (!(is.factor(y) || is.character(y) || is.numeric(y) || is.logical(y)) ||
    !is.null(dim(y)) && length(dim(y)) > 1L && all(dim(y) > 1L)) {
    cli::cli_abort("{.arg {arg}} must be a vector of class labels (factor, character, integer or logical), not {.cls {class(y)}}.",
      call = NULL
    )
  }
  if (anyNA(y)) {
    cli::cli_abort("{.arg {arg}} contains {sum(is.na(y))} NA label{?s} (first at position {which(is.na(y))[1]}).",
      call = NULL
    )
  }
  if (is.numeric(y) && any(y != round(y))) {
    cli::cli_abort("{.arg {arg}} must hold class labels; numeric labels must be whole numbers.",
      call = NULL
    )
  }
  y <- if (is.factor(y)) y else factor(as.vector(y))
  unused <- setdiff(levels(y), levels(droplevels(y)))
  if (length(unused) > 0L && min_classes > 1L) {
    cli::cli_inform("{.arg {arg}}: dropped unused factor level{?s} {.val {unused}}; the model gets one output per class present.")
    y <- droplevels(y)
  }
  present <- length(unique(as.integer(y)))
  if (present < min_classes) {
    cli::cli_abort("{.arg {arg}} has only one class ({.val {as.character(y[1])}}); training needs at least two.",
      call = NULL
    )
  }
  y
}

check_class_weights <- function(w, y, classes) {
  if (is.null(w)) {
    return(NULL)
  }
  K <- length(classes)
  if (identical(w, "balanced")) {
    cnt <- tabulate(as.integer(y), K)
    w <- ifelse(cnt > 0, length(y) / (K * pmax(cnt, 1)), 1)
    return(as.double(w))
  }
  if (!is.numeric(w) || length(w) != K || anyNA(w) || any(!is.finite(w)) || any(w <= 0)) {
    cli::cli_abort("{.arg class_weights} must be {.val balanced} or {K} positive number{?s}, one per class ({.val {classes}}).",
      call = NULL
    )
  }
  if (!is.null(names(w))) {
    if (!setequal(names(w), classes)) {
      cli::cli_abort("The names of {.arg class_weights} must be the classes {.val {classes}}.",
        call = NULL
      )
    }
    w <- w[classes]
  }
  as.double(unname(w))
}

# A model from a cphap_model, a list, or an architecture name with its args.
fit_build_model <- function(model, x, n_classes, args) {
  if (is.character(model)) {
    archs <- list(cnn = arch_cnn, fcn = arch_fcn, resnet = arch_resnet)
    if (length(model) != 1L || !model %in% names(archs)) {
      cli::cli_abort("{.arg model} must be a {.cls cphap_model}, a network list or one of {.val {names(archs)}}, not {.val {format_value(model)}}.",
        call = NULL
      )
    }
    fn <- archs[[model]]
    allowed <- setdiff(names(formals(fn)), c("input_dim", "n_classes"))
    nm <- names(args)
    if (length(args) > 0L && (is.null(nm) || any(!nzchar(nm)))) {
      cli::cli_abort("Architecture arguments in {.arg ...} must be named.", call = NULL)
    }
    bad <- setdiff(nm, allowed)
    if (length(bad) > 0L) {
      fn_name <- paste0("arch_", model)
      cli::cli_abort(c("Unknown argument{?s} {.arg {bad}}.",
        i = paste0("Architecture \"", model, "\" ({.fn ", fn_name, "}) takes {.arg {allowed}}.")
      ), call = NULL)
    }
    xx <- if (inherits(x, "cphap_data")) x$x else x
    d <- dim(xx)
    if (is.null(d) || !length(d) %in% 2:3) {
      cli::cli_abort("{.arg x} must be a matrix [n, length] or an array [n, channels, length].",
        call = NULL
      )
    }
    input_dim <- if (length(d) == 2L) c(1L, d[2]) else d[2:3]
    return(cphap_model(do.call(fn, c(list(input_dim, n_classes), args))))
  }
  if (length(args) > 0L) {
    extra <- names(args) %||% "..."
    cli::cli_abort("Unknown argument{?s} {.arg {extra}}: extra arguments are only used when {.arg model} names an architecture.",
      call = NULL
    )
  }
  check_model(model)
}

# Write a flat parameter vector (and batch-norm statistics) into the layers.
unflatten_params <- function(model, par, state = NULL) {
  is <- model$spec$ispec
  lapply(seq_along(model$layers), function(i) {
    l <- model$layers[[i]]
    w <- if (is[i, "w_n"] > 0L) par[is[i, "w_off"] + seq_len(is[i, "w_n"])]
    b <- if (is[i, "b_n"] > 0L) par[is[i, "b_off"] + seq_len(is[i, "b_n"])]
    switch(l$type,
      Conv1D = {
        d <- dim(l$weight)
        l$weight <- aperm(array(w, rev(d)), 3:1)
        l$bias <- b
      },
      Dense = {
        d <- dim(l$weight)
        l$weight <- t(matrix(w, d[2], d[1]))
        l$bias <- b
      },
      BatchNorm = {
        l$gamma <- w
        l$beta <- b
        if (!is.null(state)) {
          nf <- l$num_features
          l$run_mean <- state[is[i, "s_off"] + seq_len(nf)]
          l$run_var <- state[is[i, "s_off"] + nf + seq_len(nf)]
        }
      }
    )
    l
  })
}

# One line about training, for print.cphap_model().
print_training_line <- function(h) {
  be <- attr(h, "best_epoch")
  if (is.null(be) || nrow(h) == 0L) {
    return(invisible())
  }
  row <- h[h$epoch == be, , drop = FALSE]
  val <- if (!is.na(row$val_accuracy)) sprintf(", validation accuracy %.3f", row$val_accuracy) else ""
  cat_line("Trained {nrow(h)} epoch{?s}; weights of epoch {be} (training accuracy {sprintf('%.3f', row$accuracy)}{val})")
  invisible()
}

#' @export
print.cphap_history <- function(x, ...) {
  n <- nrow(x)
  be <- attr(x, "best_epoch")
  cat_line("{.cls cphap_history}: {n} epoch{?s}, weights kept from epoch {be} (monitor: {attr(x, 'monitor')})")
  df <- as.data.frame(unclass(x), stringsAsFactors = FALSE)
  attr(df, "best_epoch") <- NULL
  attr(df, "monitor") <- NULL
  if (all(is.na(df$val_loss))) df$val_loss <- df$val_accuracy <- NULL
  show <- if (n > 10L) unique(c(1:5, (n - 4L):n, be)) else seq_len(n)
  show <- sort(show[show >= 1L & show <= n])
  print(df[show, , drop = FALSE], row.names = FALSE, digits = 4)
  if (n > 10L) cat_line("({n - length(show)} epoch{?s} not shown)")
  invisible(x)
}

#' Plot a training history
#'
#' Loss and accuracy per epoch, for the training data (training mode) and the
#' validation data when there was one; a dashed line marks the epoch whose
#' weights were kept.
#'
#' @param object A `cphap_history` (the `history` of a model returned by
#'   [fit_model()]) or a trained `cphap_model`.
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' set.seed(1)
#' x <- rbind(matrix(rnorm(20 * 24, 1), 20), matrix(rnorm(20 * 24, -1), 20))
#' y <- rep(c("a", "b"), each = 20)
#' m <- fit_model("fcn", x, y, epochs = 4, batch_size = 10, lr = 0.01,
#'                validation_split = 0.25, channels = c(4, 4), kernels = c(3, 3))
#' autoplot(m$history)
#' @export
autoplot.cphap_history <- function(object, ...) {
  df <- history_long(object)
  be <- attr(object, "best_epoch")
  ggplot2::ggplot(df, ggplot2::aes(x = .data$epoch, y = .data$value, colour = .data$set)) +
    ggplot2::geom_line() +
    ggplot2::geom_point(size = 0.8) +
    ggplot2::geom_vline(xintercept = be, linetype = "dashed", colour = "grey40") +
    ggplot2::facet_wrap(ggplot2::vars(.data$metric), scales = "free_y", ncol = 1L) +
    scale_x_integer() +
    ggplot2::labs(x = "Epoch", y = NULL, colour = NULL) +
    ggplot2::theme_bw()
}

#' @rdname autoplot.cphap_history
#' @export
autoplot.cphap_model <- function(object, ...) {
  if (is.null(object$history)) {
    cli::cli_abort("{.arg object} has no training history; train it with {.fn fit_model}.",
      call = NULL
    )
  }
  autoplot.cphap_history(object$history, ...)
}

#' @export
as.data.frame.cphap_history <- function(x, ...) {
  df <- as.data.frame(unclass(x), stringsAsFactors = FALSE)
  attr(df, "best_epoch") <- NULL
  attr(df, "monitor") <- NULL
  df
}

history_long <- function(h) {
  h <- as.data.frame(h)
  sets <- list(training = c("loss", "accuracy"), validation = c("val_loss", "val_accuracy"))
  out <- list()
  for (s in names(sets)) {
    cols <- sets[[s]]
    if (all(is.na(h[[cols[1]]]))) next
    out[[s]] <- data.frame(
      epoch = rep(h$epoch, 2L),
      metric = factor(rep(c("loss", "accuracy"), each = nrow(h)), levels = c("loss", "accuracy")),
      set = s,
      value = c(h[[cols[1]]], h[[cols[2]]]),
      stringsAsFactors = FALSE
    )
  }
  do.call(rbind, out)
}
