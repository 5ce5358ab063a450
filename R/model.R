# The model object: a temporal network built from a plain list of layers in
# innsight's list format (see vignette "Bring your own network").

layer_types <- c(
  Conv1D = 1L, Dense = 2L, MaxPooling1D = 3L, AveragePooling1D = 4L,
  GlobalPooling = 5L, BatchNorm = 7L, Flatten = 8L, Activation = 9L, Add = 10L,
  Skipping = 11L, Padding = 12L
)
type_aliases <- c(Dropout = "Skipping", Conv1d = "Conv1D", Linear = "Dense")

act_codes <- c(
  linear = 0L, relu = 1L, leaky_relu = 2L, tanh = 3L, sigmoid = 4L,
  softplus = 5L, softmax = 6L
)
act_aliases <- c(logistic = "sigmoid", identity = "linear", none = "linear")

# Columns of the integer and double spec matrices (src/net.h).
spec_icols <- c(
  "type", "n_in", "in0", "in1", "in2", "in3", "c_in", "l_in", "c_out", "l_out",
  "k", "stride", "dil", "pad_l", "pad_r", "act", "w_off", "w_n", "b_off", "b_n",
  "s_off"
)
spec_dcols <- c("act_par", "eps", "rate", "pad_val")

#' Build a temporal network from a list of layers
#'
#' `cphap_model()` turns a plain list describing a network (the format of the
#' CRAN package innsight: channels first, `Conv1D` weights out x in x kernel,
#' `Dense` weights out x in) into a `cphap_model` that every other function of
#' cphap uses. The list is checked thoroughly; an error names the layer and the
#' field that is wrong. `as.list()` gives the list back.
#'
#' Interpretable layers are the outputs of each block's
#' non-linearity, after its pooling when the block pools (a padding layer
#' right before the pooling belongs to the pooling); for residual
#' networks also each residual block's output. They are named `conv1`,
#' `conv2`, ... after the convolution that starts the block and `res1`, ...
#' for residual additions (a layer's own `name` field wins), and are addressed
#' by name or by their position in `interpretable_layers(model)`.
#'
#' The layers are the model: every function that takes a model recomputes its
#' derived parts from `model$layers`, so an edited weight takes effect, and a
#' model whose parts disagree (edited by hand, or read with [readRDS()] from a
#' file of unknown origin) is rebuilt from its layers and checked like a new
#' one; layers that do not describe a valid network are an error.
#'
#' @param x A list with `layers` (a list of layer lists), `input_dim`
#'   (`c(channels, length)`), and optionally `input_nodes`, `output_nodes`,
#'   `output_dim`, `input_names`, `output_names`; or a `cphap_model`.
#' @param classes Optional class labels of the output units (defaults to the
#'   list's `output_names`, else `"1"`, `"2"`, ...).
#' @return An object of class `cphap_model`.
#' @seealso [as.list.cphap_model()], [interpretable_layers()], [receptive_field()]
#' @examples
#' net <- list(
#'   input_dim = c(1, 20),
#'   layers = list(
#'     list(type = "Conv1D", weight = array(rnorm(4 * 1 * 5), c(4, 1, 5)),
#'          bias = rep(0.1, 4), activation_name = "relu"),
#'     list(type = "MaxPooling1D", kernel_size = 2),
#'     list(type = "Flatten"),
#'     list(type = "Dense", weight = matrix(rnorm(2 * 32), 2, 32), bias = c(0, 0),
#'          activation_name = "softmax")
#'   )
#' )
#' m <- cphap_model(net)
#' m
#' @export
cphap_model <- function(x, classes = NULL) {
  if (inherits(x, "cphap_model")) {
    return(check_model(x, "x"))
  }
  if (!is.list(x)) {
    cli::cli_abort("{.arg x} must be a list describing a network, not {.cls {class(x)}}.",
      call = NULL
    )
  }
  input_dim <- check_input_dim(x$input_dim)
  layers <- x$layers
  if (!is.list(layers) || length(layers) == 0L) {
    cli::cli_abort("{.arg x$layers} must be a non-empty list of layers.", call = NULL)
  }
  layers <- lapply(seq_along(layers), function(i) normalize_layer(layers[[i]], i))
  layers <- resolve_graph(layers, x)
  layers <- infer_shapes(layers, input_dim)
  check_output_dim(x$output_dim, layers)
  out <- layers[[length(layers)]]
  n_out <- out$dim_out[1] * out$dim_out[2]
  if (is.null(classes)) {
    classes <- output_classes(x$output_names, n_out)
  }
  if (length(classes) != n_out) {
    cli::cli_abort("{.arg classes} must have {n_out} labels (one per output unit), not {length(classes)}.",
      call = NULL
    )
  }
  model <- structure(
    list(
      layers = layers, input_dim = input_dim, classes = as.character(classes),
      input_names = x$input_names
    ),
    class = "cphap_model"
  )
  finish_model(model)
}

# Derived parts of a model: the C spec, receptive fields, interpretable layers.
finish_model <- function(model) {
  model$spec <- model_spec(model$layers, model$input_dim)
  rf <- .Call(cp_rf_r, model$spec)
  model$rf <- data.frame(jump = rf[, 1], size = rf[, 2], start = rf[, 3])
  model$interp <- find_interpretable(model)
  model
}

check_input_dim <- function(d) {
  if (!is.numeric(d) || !(length(d) %in% 1:2) || anyNA(d) || any(d < 1) ||
    any(d != round(d)) || any(d > .Machine$integer.max)) {
    cli::cli_abort(
      "{.arg x$input_dim} must be {.code c(channels, length)} with whole numbers between 1 and 2147483647, not {.val {format_value(d)}}.",
      call = NULL
    )
  }
  d <- as.integer(d)
  if (length(d) == 1L) d <- c(1L, d)
  d
}

check_output_dim <- function(d, layers) {
  if (is.null(d)) {
    return(invisible())
  }
  if (is.list(d)) d <- unlist(d)
  got <- layers[[length(layers)]]$dim_out
  size <- prod(got)
  if (!is.numeric(d) || prod(d) != size) {
    cli::cli_abort(
      "{.arg x$output_dim} is {.val {format_value(d)}} but the network outputs {size} value{?s}.",
      call = NULL
    )
  }
  invisible()
}

output_classes <- function(names, n_out) {
  if (is.list(names)) names <- unlist(names[[length(names)]])
  if (is.factor(names)) names <- as.character(names)
  if (is.character(names) && length(names) == n_out) {
    return(names)
  }
  as.character(seq_len(n_out))
}

layer_error <- function(i, type, msg, .envir = parent.frame()) {
  cli::cli_abort(c(paste0("Layer ", i, " (", type, "): ", msg)), call = NULL, .envir = .envir)
}

field <- function(layer, name, default = NULL) {
  v <- layer[[name]]
  if (is.null(v)) default else v
}

whole_field <- function(layer, name, i, default, min = 1L, len = 1L) {
  v <- field(layer, name, default)
  if (is.list(v)) v <- unlist(v)
  if (!is.numeric(v) || !(length(v) %in% len) || anyNA(v) || any(!is.finite(v)) ||
    any(v != round(v)) || any(v < min) || any(v > .Machine$integer.max)) {
    layer_error(i, layer$type, "field {.field {name}} must be {paste(len, collapse = ' or ')} whole number{?s} >= {min}, not {.val {format_value(v)}}.")
  }
  as.integer(v)
}

num_field <- function(layer, name, i, dims = NULL, default = NULL) {
  v <- field(layer, name, default)
  if (is.null(v)) {
    layer_error(i, layer$type, "field {.field {name}} is missing.")
  }
  if (!is.numeric(v)) {
    layer_error(i, layer$type, "field {.field {name}} must be numeric, not {.cls {class(v)}}.")
  }
  if (any(!is.finite(v))) {
    layer_error(i, layer$type, "field {.field {name}} contains NA, NaN or infinite values.")
  }
  if (!is.null(dims)) {
    d <- if (is.null(dim(v))) length(v) else dim(v)
    if (length(d) != length(dims) || any(d != dims)) {
      layer_error(i, layer$type, "field {.field {name}} has dimensions {paste(d, collapse = ' x ')}, expected {paste(dims, collapse = ' x ')}.")
    }
  }
  storage.mode(v) <- "double"
  v
}

# A bias whose length is the weight's last dimension instead of its first:
# the weight is in another orientation (Keras stores kernels the other way
# round), so the error names the weight.
check_weight_orientation <- function(layer, i, n_out, n_last, layout, fix) {
  b <- layer$bias
  if (is.null(b) || !is.numeric(b) || !is.null(dim(b)) && length(dim(b)) > 1L ||
    length(b) == n_out || length(b) != n_last) {
    return(invisible())
  }
  d <- dim(layer$weight)
  cli::cli_abort(c(
    paste0("Layer ", i, " (", layer$type, "): field {.field weight} ({paste(d, collapse = ' x ')}) has {n_out} output{?s} in its first dimension but {.field bias} has {length(b)} value{?s}; the weight must be {layout}."),
    i = "Its last dimension matches the bias: transpose it with {.code {fix}}."
  ), call = NULL)
}

act_field <- function(layer, name, i, default = "linear") {
  a <- field(layer, name, default)
  if (!is.character(a) || length(a) != 1L || is.na(a)) {
    layer_error(i, layer$type, "field {.field {name}} must be a single activation name.")
  }
  a <- tolower(a)
  if (a %in% names(act_aliases)) a <- act_aliases[[a]]
  if (!a %in% names(act_codes)) {
    layer_error(i, layer$type, "unknown activation {.val {a}}; expected one of {.val {names(act_codes)}}.")
  }
  a
}

# Check the fields that do not depend on shapes; fill defaults.
normalize_layer <- function(layer, i) {
  if (!is.list(layer)) {
    cli::cli_abort("Layer {i} must be a list, not {.cls {class(layer)}}.", call = NULL)
  }
  type <- layer$type
  if (!is.character(type) || length(type) != 1L || is.na(type)) {
    cli::cli_abort("Layer {i}: field {.field type} is missing or not a single string.",
      call = NULL
    )
  }
  if (type %in% names(type_aliases)) type <- type_aliases[[type]]
  if (!type %in% names(layer_types)) {
    msg <- if (type %in% c("Conv2D", "MaxPooling2D", "AveragePooling2D", "Concatenate")) {
      "is not supported by cphap (one-dimensional networks without concatenation)."
    } else {
      "is not a known layer type."
    }
    cli::cli_abort(c("Layer {i}: type {.val {type}} {msg}",
      i = "Known types: {.val {names(layer_types)}}."
    ), call = NULL)
  }
  layer$type <- type
  out <- list(type = type, name = layer$name)
  out$input_layers <- layer$input_layers
  out$output_layers <- layer$output_layers
  switch(type,
    Conv1D = {
      out$weight <- num_field(layer, "weight", i)
      if (length(dim(out$weight)) != 3L) {
        layer_error(i, type, "field {.field weight} must be a 3-d array out_channels x in_channels x kernel_length.")
      }
      d <- dim(out$weight)
      check_weight_orientation(layer, i, d[1], d[3], "out_channels x in_channels x kernel_length", "aperm(weight, c(3, 2, 1))")
      out$bias <- num_field(layer, "bias", i, d[1], default = rep(0, d[1]))
      out$activation_name <- act_field(layer, "activation_name", i)
      out$stride <- whole_field(layer, "stride", i, 1L)
      pad <- whole_field(layer, "padding", i, c(0L, 0L), min = 0L, len = 1:2)
      out$padding <- rep_len(pad, 2L)
      out$dilation <- whole_field(layer, "dilation", i, 1L)
    },
    Dense = {
      out$weight <- num_field(layer, "weight", i)
      if (!is.matrix(out$weight)) {
        layer_error(i, type, "field {.field weight} must be a matrix out x in.")
      }
      check_weight_orientation(layer, i, nrow(out$weight), ncol(out$weight), "out x in", "t(weight)")
      out$bias <- num_field(layer, "bias", i, nrow(out$weight),
        default = rep(0, nrow(out$weight))
      )
      out$activation_name <- act_field(layer, "activation_name", i)
    },
    MaxPooling1D = ,
    AveragePooling1D = {
      out$kernel_size <- whole_field(layer, "kernel_size", i, NULL)
      out$strides <- whole_field(layer, "strides", i, field(layer, "stride", out$kernel_size))
    },
    GlobalPooling = {
      m <- field(layer, "method", "average")
      if (!is.character(m) || length(m) != 1L || !m %in% c("average", "max")) {
        layer_error(i, type, "field {.field method} must be {.val average} or {.val max}.")
      }
      out$method <- m
    },
    BatchNorm = {
      out$num_features <- whole_field(layer, "num_features", i, length(layer$gamma))
      nf <- out$num_features
      for (f in c("gamma", "beta", "run_mean", "run_var")) {
        out[[f]] <- as.vector(num_field(layer, f, i, nf))
      }
      if (any(out$run_var < 0)) {
        layer_error(i, type, "field {.field run_var} must be non-negative.")
      }
      out$eps <- num_field(layer, "eps", i, 1L, default = 1e-5)
      if (out$eps <= 0 && any(out$run_var == 0)) {
        layer_error(i, type, "field {.field eps} must be positive when a variance is zero.")
      }
    },
    Flatten = {
      out$start_dim <- field(layer, "start_dim", 2L)
      out$end_dim <- field(layer, "end_dim", -1L)
    },
    Activation = {
      nm <- if (!is.null(layer$act_name)) "act_name" else "activation_name"
      out$act_name <- act_field(layer, nm, i, default = NA_character_)
    },
    Add = NULL,
    Skipping = {
      r <- field(layer, "rate", NA_real_)
      if (!is.numeric(r) || length(r) != 1L || (!is.na(r) && (r < 0 || r >= 1))) {
        layer_error(i, type, "field {.field rate} must be a dropout rate in [0, 1).")
      }
      out$rate <- as.double(r)
    },
    Padding = {
      pad <- whole_field(layer, "padding", i, NULL, min = 0L, len = 1:2)
      out$padding <- rep_len(pad, 2L)
      mode <- field(layer, "mode", "constant")
      if (!identical(mode, "constant")) {
        layer_error(i, type, "only {.val constant} padding is supported, not {.val {mode}}.")
      }
      out$mode <- mode
      out$value <- num_field(layer, "value", i, 1L, default = 0)
    }
  )
  if (type %in% c("Conv1D", "Dense")) {
    out$negative_slope <- num_field(layer, "negative_slope", i, 1L, default = 0.01)
  }
  if (type == "Activation") {
    out$negative_slope <- num_field(layer, "negative_slope", i, 1L, default = 0.01)
  }
  out
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# input_layers / output_layers: defaults, ranges, topological order, and
# every layer contributing to the single output.
resolve_graph <- function(layers, x) {
  n <- length(layers)
  for (i in seq_len(n)) {
    l <- layers[[i]]
    inl <- l$input_layers %||% (i - 1L)
    if (is.list(inl)) inl <- unlist(inl)
    if (!is.numeric(inl) || length(inl) == 0L || anyNA(inl) || any(inl != round(inl))) {
      layer_error(i, l$type, "field {.field input_layers} must be layer indices (0 = the model input).")
    }
    if (any(inl < 0 | inl > n)) {
      layer_error(i, l$type, "field {.field input_layers} refers to a layer that does not exist ({.val {inl}}).")
    }
    if (any(inl >= i)) {
      layer_error(i, l$type, "field {.field input_layers} refers to layer {.val {inl[inl >= i]}}, which does not come before it: the layers must be in an order where every layer follows its inputs (a cycle is not allowed).")
    }
    if (l$type == "Add" && length(inl) < 2L) {
      layer_error(i, l$type, "needs at least two input layers.")
    }
    if (l$type != "Add" && length(inl) != 1L) {
      layer_error(i, l$type, "takes exactly one input layer, not {length(inl)}.")
    }
    if (length(inl) > 4L) {
      layer_error(i, l$type, "takes at most four input layers.")
    }
    layers[[i]]$input_layers <- as.integer(inl)
  }
  outputs <- x$output_nodes %||% n
  if (is.list(outputs)) outputs <- unlist(outputs)
  if (!is.numeric(outputs) || length(outputs) != 1L || outputs != n) {
    cli::cli_abort(
      "{.arg x$output_nodes} must be the last layer ({n}); cphap supports one output layer, placed last, not {.val {format_value(outputs)}}.",
      call = NULL
    )
  }
  consumers <- lapply(seq_len(n), function(j) {
    which(vapply(layers, function(l) j %in% l$input_layers, logical(1)))
  })
  for (i in seq_len(n)) {
    ol <- consumers[[i]]
    if (i == n) ol <- c(ol, -1L)
    given <- layers[[i]]$output_layers
    if (!is.null(given)) {
      given <- unlist(given)
      if (!is.numeric(given) || length(given) == 0L || any(!is.finite(given)) ||
        any(given != round(given)) || any(abs(given) > n + 1)) {
        layer_error(i, layers[[i]]$type, "field {.field output_layers} must be layer indices (-1 = the model output).")
      }
      given <- sort(as.integer(given))
      if (!setequal(given, ol)) {
        layer_error(i, layers[[i]]$type, "field {.field output_layers} ({.val {given}}) disagrees with the layers that name it as input ({.val {ol}}).")
      }
    }
    if (i < n && length(consumers[[i]]) == 0L) {
      layer_error(i, layers[[i]]$type, "is dangling: no layer takes its output and it is not the output layer.")
    }
    layers[[i]]$output_layers <- as.integer(ol)
  }
  inputs <- x$input_nodes
  if (!is.null(inputs)) {
    readers <- which(vapply(layers, function(l) 0L %in% l$input_layers, logical(1)))
    if (!setequal(as.integer(unlist(inputs)), readers)) {
      cli::cli_abort(
        "{.arg x$input_nodes} ({.val {unlist(inputs)}}) must list the layers that read the model input ({.val {readers}}).",
        call = NULL
      )
    }
  }
  layers
}

# Shapes through the graph; weight shapes checked against them.
infer_shapes <- function(layers, input_dim) {
  for (i in seq_along(layers)) {
    l <- layers[[i]]
    dims_in <- lapply(l$input_layers, function(p) {
      if (p == 0L) input_dim else layers[[p]]$dim_out
    })
    d <- dims_in[[1]]
    if (l$type == "Add") {
      same <- vapply(dims_in, function(e) identical(as.integer(e), as.integer(d)), logical(1))
      if (!all(same)) {
        shapes <- vapply(dims_in, paste, character(1), collapse = " x ")
        layer_error(i, l$type, "inputs must have equal shapes, got {.val {shapes}}.")
      }
    }
    l$dim_in <- as.integer(d)
    l$dim_out <- as.integer(layer_out_dim(l, d, i))
    layers[[i]] <- l
  }
  layers
}

layer_out_dim <- function(l, d, i) {
  C <- d[1]
  L <- d[2]
  switch(l$type,
    Conv1D = {
      w <- dim(l$weight)
      if (w[2] != C) {
        layer_error(i, l$type, "field {.field weight} has {w[2]} input channel{?s} but its input has {C} channel{?s} (weight is out x in x kernel).")
      }
      span <- (w[3] - 1) * as.numeric(l$dilation) + 1
      lp <- L + sum(as.numeric(l$padding))
      if (lp < span) {
        layer_error(i, l$type, "kernel spans {span} points but its (padded) input has only {lp}.")
      }
      c(w[1], as.integer((lp - span) %/% l$stride + 1))
    },
    Dense = {
      w <- dim(l$weight)
      if (w[2] != C * L) {
        layer_error(i, l$type, "field {.field weight} has {w[2]} input{?s} but its input has {C * L} values ({C} x {L}); weight is out x in.")
      }
      c(w[1], 1L)
    },
    MaxPooling1D = ,
    AveragePooling1D = {
      if (L < l$kernel_size) {
        layer_error(i, l$type, "kernel_size {l$kernel_size} exceeds its input length {L}.")
      }
      c(C, (L - l$kernel_size) %/% l$strides + 1L)
    },
    GlobalPooling = c(C, 1L),
    BatchNorm = {
      if (l$num_features != C) {
        layer_error(i, l$type, "num_features is {l$num_features} but its input has {C} channel{?s}.")
      }
      d
    },
    Flatten = c(C * L, 1L),
    Padding = c(C, L + sum(l$padding)),
    d
  )
}

# The integer/double spec matrices and parameter vectors for C (src/net.h).
model_spec <- function(layers, input_dim) {
  n <- length(layers)
  is <- matrix(0L, n, length(spec_icols), dimnames = list(NULL, spec_icols))
  ds <- matrix(0, n, length(spec_dcols), dimnames = list(NULL, spec_dcols))
  par <- list()
  state <- list()
  n_par <- 0L
  n_state <- 0L
  add_par <- function(v) {
    off <- n_par
    par[[length(par) + 1L]] <<- v
    n_par <<- n_par + length(v)
    c(off, length(v))
  }
  for (i in seq_len(n)) {
    l <- layers[[i]]
    row <- integer(length(spec_icols))
    names(row) <- spec_icols
    row[["type"]] <- layer_types[[l$type]]
    if (l$type == "GlobalPooling" && l$method == "max") row[["type"]] <- 6L
    row[["n_in"]] <- length(l$input_layers)
    row[c("in0", "in1", "in2", "in3")] <- -1L
    row[paste0("in", seq_along(l$input_layers) - 1L)] <- l$input_layers - 1L
    row[c("c_in", "l_in")] <- l$dim_in
    row[c("c_out", "l_out")] <- l$dim_out
    row[c("w_off", "w_n", "b_off", "b_n", "s_off")] <- c(-1L, 0L, -1L, 0L, -1L)
    row[c("k", "stride", "dil")] <- 1L
    drow <- c(act_par = 0.01, eps = 0, rate = -1, pad_val = 0)
    act <- l$activation_name %||% l$act_name %||% "linear"
    row[["act"]] <- act_codes[[act]]
    if (!is.null(l$negative_slope)) drow[["act_par"]] <- l$negative_slope
    switch(l$type,
      Conv1D = {
        d <- dim(l$weight)
        row[c("k", "stride", "dil", "pad_l", "pad_r")] <-
          c(d[3], l$stride, l$dilation, l$padding)
        row[c("w_off", "w_n")] <- add_par(as.vector(aperm(l$weight, 3:1)))
        row[c("b_off", "b_n")] <- add_par(as.vector(l$bias))
      },
      Dense = {
        row[c("w_off", "w_n")] <- add_par(as.vector(t(l$weight)))
        row[c("b_off", "b_n")] <- add_par(as.vector(l$bias))
      },
      MaxPooling1D = ,
      AveragePooling1D = {
        row[c("k", "stride")] <- c(l$kernel_size, l$strides)
      },
      BatchNorm = {
        row[c("w_off", "w_n")] <- add_par(l$gamma)
        row[c("b_off", "b_n")] <- add_par(l$beta)
        row[["s_off"]] <- n_state
        state[[length(state) + 1L]] <- c(l$run_mean, l$run_var)
        n_state <- n_state + 2L * l$num_features
        drow[["eps"]] <- l$eps
      },
      Skipping = {
        drow[["rate"]] <- if (is.na(l$rate)) -1 else l$rate
      },
      Padding = {
        row[c("pad_l", "pad_r")] <- l$padding
        drow[["pad_val"]] <- l$value
      }
    )
    is[i, ] <- row
    ds[i, ] <- drow
  }
  list(
    ispec = is, dspec = ds, dims = as.integer(input_dim),
    par = as.double(unlist(par)), state = as.double(unlist(state))
  )
}

# Interpretable layers: block outputs after the non-linearity
# and, when the block pools, after its pooling.
find_interpretable <- function(model) {
  layers <- model$layers
  n <- length(layers)
  is_nonlinear <- function(l) {
    act <- l$activation_name %||% l$act_name %||% "linear"
    l$type %in% c("Conv1D", "Activation") && !act %in% c("linear", "softmax")
  }
  chosen <- integer()
  for (i in seq_len(n)) {
    l <- layers[[i]]
    if (!is_nonlinear(l) || model$rf$size[i] < 0 || l$dim_out[2] < 1L) next
    end <- i
    repeat {
      nxt <- layers[[end]]$output_layers
      if (length(nxt) != 1L || nxt < 1L) break
      t <- layers[[nxt]]$type
      if (t %in% c("Skipping", "MaxPooling1D", "AveragePooling1D") ||
        (t == "Padding" && pads_a_pooling(layers, nxt))) {
        end <- nxt
      } else {
        break
      }
    }
    # do not stop at a trailing dropout: report the last pooling or the activation
    while (end > i && layers[[end]]$type == "Skipping") {
      end <- layers[[end]]$input_layers[1]
    }
    chosen <- c(chosen, end)
  }
  chosen <- unique(chosen)
  names <- interp_names(layers, chosen)
  data.frame(
    name = names, node = chosen,
    channels = vapply(chosen, function(j) layers[[j]]$dim_out[1], integer(1)),
    length = vapply(chosen, function(j) layers[[j]]$dim_out[2], integer(1)),
    jump = model$rf$jump[chosen], size = model$rf$size[chosen],
    start = model$rf$start[chosen],
    stringsAsFactors = FALSE
  )
}

# A padding layer whose only reader is a pooling layer (a padded pooling,
# as ONNX files write it) belongs to the block it pools.
pads_a_pooling <- function(layers, j) {
  nxt <- layers[[j]]$output_layers
  length(nxt) == 1L && nxt >= 1L &&
    layers[[nxt]]$type %in% c("MaxPooling1D", "AveragePooling1D")
}

# Name each interpretable node after the convolution or addition that
# starts its block.
interp_names <- function(layers, chosen) {
  conv_no <- cumsum(vapply(layers, function(l) l$type == "Conv1D", logical(1)))
  add_no <- cumsum(vapply(layers, function(l) l$type == "Add", logical(1)))
  out <- character(length(chosen))
  for (q in seq_along(chosen)) {
    j <- chosen[q]
    if (!is.null(layers[[j]]$name)) {
      out[q] <- as.character(layers[[j]]$name)
      next
    }
    k <- j
    while (k >= 1L && !layers[[k]]$type %in% c("Conv1D", "Add")) {
      k <- layers[[k]]$input_layers[1]
    }
    out[q] <- if (k < 1L) {
      paste0("layer", j)
    } else if (layers[[k]]$type == "Conv1D") {
      paste0("conv", conv_no[k])
    } else {
      paste0("res", add_no[k])
    }
  }
  make.unique(out, sep = "_")
}

#' Interpretable layers of a model
#'
#' @param model A [cphap_model()].
#' @return A data frame with one row per interpretable layer: `name`, `node`
#'   (index in the layer list), `channels`, `length` (output positions),
#'   `jump`, `size` and `start` of the receptive field (`start` is 0-based
#'   and may be negative when the layer pads).
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' interpretable_layers(m)
#' @export
interpretable_layers <- function(model) {
  model <- check_model(model)
  model$interp
}

check_model <- function(model, arg = "model") {
  if (!inherits(model, "cphap_model")) {
    if (is.list(model) && !is.null(model$layers)) {
      return(cphap_model(model))
    }
    cli::cli_abort("{.arg {arg}} must be a {.cls cphap_model} (see {.fn cphap_model}), not {.cls {class(model)}}.",
      call = NULL
    )
  }
  verify_model(model, arg)
}

# The layers are the model. Its derived parts (the C spec, receptive fields,
# interpretable layers) are recomputed from them at every use: when they
# differ (layers edited, an old or crafted file) the model is rebuilt from its
# layers, which are then checked like a new model's.
model_parts <- c("input_dim", "spec", "rf", "interp")

verify_model <- function(model, arg = "model") {
  fresh <- tryCatch(suppressWarnings(finish_model(model)), error = function(e) NULL)
  n_out <- tryCatch(prod(model$layers[[length(model$layers)]]$dim_out), error = function(e) -1)
  if (!is.null(fresh) && identical(fresh[model_parts], unclass(model)[model_parts]) &&
    is.character(model$classes) && length(model$classes) == n_out) {
    return(model)
  }
  rebuild_model(model, arg)
}

rebuild_model <- function(model, arg) {
  rebuilt <- tryCatch(
    {
      if (!is.list(model$layers)) stop("its layers are not a list")
      x <- as.list.cphap_model(model)
      x$input_names <- model$input_names
      cphap_model(x, classes = model$classes)
    },
    error = function(e) {
      cli::cli_abort(c("{.arg {arg}} is not a valid {.cls cphap_model}: its parts disagree and its layers do not describe a network.",
        x = conditionMessage(e)
      ), call = NULL)
    }
  )
  rebuilt$history <- model$history
  rebuilt
}

# Resolve layer references (names or positions among interpretable layers)
# to rows of model$interp.
resolve_layers <- function(model, layers, arg = "layers") {
  ip <- model$interp
  if (is.null(layers)) {
    return(seq_len(nrow(ip)))
  }
  if (nrow(ip) == 0L) {
    cli::cli_abort("The model has no interpretable layers.", call = NULL)
  }
  if (is.character(layers)) {
    bad <- setdiff(layers, ip$name)
    if (length(bad) > 0L) {
      cli::cli_abort(c("{.arg {arg}}: unknown layer{?s} {.val {bad}}.",
        i = "Interpretable layers: {.val {ip$name}}."
      ), call = NULL)
    }
    return(match(layers, ip$name))
  }
  if (is.numeric(layers) && length(layers) > 0L && !anyNA(layers) &&
    all(layers == round(layers)) && all(layers >= 1) && all(layers <= nrow(ip))) {
    return(as.integer(layers))
  }
  cli::cli_abort(
    "{.arg {arg}} must be names of interpretable layers or positions between 1 and {nrow(ip)}, not {.val {format_value(layers)}}.",
    call = NULL
  )
}

#' Convert a model back to the plain list format
#'
#' The list uses innsight's spellings (`act_name` for activation layers,
#' `strides` for pooling) and carries `input_layers` and `output_layers` for
#' every layer, so it can be passed to `innsight::convert()` or back to
#' [cphap_model()].
#' @param x A `cphap_model`.
#' @param ... Unused.
#' @return A list with `input_dim`, `input_nodes`, `output_nodes`,
#'   `output_names` and `layers`.
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' l <- as.list(m)
#' str(l$layers[[1]])
#' @export
as.list.cphap_model <- function(x, ...) {
  layers <- lapply(x$layers, function(l) {
    l$dim_in <- NULL
    l$dim_out <- NULL
    if (is.null(l$name)) l$name <- NULL
    if (l$type == "Skipping" && is.na(l$rate)) l$rate <- NULL
    l
  })
  readers <- which(vapply(x$layers, function(l) 0L %in% l$input_layers, logical(1)))
  list(
    input_dim = x$input_dim, input_nodes = readers, output_nodes = length(layers),
    output_names = list(list(x$classes)), layers = layers
  )
}

n_params <- function(l) {
  sum(vapply(c("weight", "bias", "gamma", "beta"), function(f) length(l[[f]]), integer(1)))
}

layer_table <- function(model) {
  ly <- model$layers
  ip <- model$interp
  data.frame(
    index = seq_along(ly),
    type = vapply(ly, function(l) l$type, character(1)),
    detail = vapply(ly, layer_detail, character(1)),
    input = vapply(ly, function(l) paste(l$input_layers, collapse = ","), character(1)),
    output_shape = vapply(ly, function(l) paste(l$dim_out, collapse = " x "), character(1)),
    params = vapply(ly, n_params, integer(1)),
    interpretable = ip$name[match(seq_along(ly), ip$node)],
    stringsAsFactors = FALSE
  )
}

layer_detail <- function(l) {
  switch(l$type,
    Conv1D = sprintf(
      "%d->%d k%d%s%s%s %s", dim(l$weight)[2], dim(l$weight)[1], dim(l$weight)[3],
      if (l$stride != 1L) paste0(" s", l$stride) else "",
      if (l$dilation != 1L) paste0(" d", l$dilation) else "",
      if (any(l$padding > 0L)) paste0(" p", l$padding[1], "/", l$padding[2]) else "",
      l$activation_name
    ),
    Dense = sprintf("%d->%d %s", ncol(l$weight), nrow(l$weight), l$activation_name),
    MaxPooling1D = ,
    AveragePooling1D = sprintf("k%d s%d", l$kernel_size, l$strides),
    GlobalPooling = l$method,
    Activation = l$act_name,
    Skipping = if (is.na(l$rate)) "" else sprintf("rate %g", l$rate),
    Padding = sprintf("%d/%d", l$padding[1], l$padding[2]),
    ""
  )
}

#' @export
print.cphap_model <- function(x, ...) {
  x <- check_model(x, "x")
  tab <- layer_table(x)
  cat_line("{.cls cphap_model}: input {x$input_dim[1]} channel{?s} x {x$input_dim[2]}, {length(x$classes)} output{?s}, {sum(tab$params)} parameters")
  tab$interpretable[is.na(tab$interpretable)] <- ""
  print(tab[, c("index", "type", "detail", "output_shape", "params", "interpretable")],
    row.names = FALSE, right = FALSE
  )
  if (nrow(x$interp) > 0L) {
    cat_line("Receptive fields (input points per node): {paste0(x$interp$name, ' ', x$interp$size, collapse = ', ')}")
  }
  if (!is.null(x$onnx)) cat(onnx_origin(x$onnx), "\n", sep = "")
  if (!is.null(x$history)) print_training_line(x$history)
  invisible(x)
}

#' @export
summary.cphap_model <- function(object, ...) {
  object <- check_model(object, "object")
  structure(
    list(
      layers = layer_table(object), interpretable = object$interp,
      input_dim = object$input_dim, classes = object$classes
    ),
    class = "summary.cphap_model"
  )
}

#' @export
print.summary.cphap_model <- function(x, ...) {
  cat(cli::rule("cphap model"), "\n", sep = "")
  cat_line("Input: {x$input_dim[1]} channel{?s} x {x$input_dim[2]} points; classes: {.val {x$classes}}")
  cat_line("Parameters: {sum(x$layers$params)}")
  cat(cli::rule("Layers"), "\n", sep = "")
  tab <- x$layers
  tab$interpretable[is.na(tab$interpretable)] <- ""
  print(tab, row.names = FALSE, right = FALSE)
  cat(cli::rule("Interpretable layers and receptive fields"), "\n", sep = "")
  print(x$interpretable, row.names = FALSE)
  invisible(x)
}
