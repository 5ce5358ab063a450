# Translation of ONNX operators that act on the network tensor into cphap
# layers (see read_onnx()). Each function takes the node context (label,
# node, state, resolved inputs) and records its output tensor.

shape_text <- function(s) paste(c("batch", s), collapse = " x ")

# The layer that produced tensor e when its output can be changed in place
# (a Conv1D or Dense with linear activation whose output only this node
# reads); NULL otherwise.
fusable_layer <- function(ctx, e) {
  st <- ctx$st
  if (e$node < 1L || st$out_name[e$node] != e$name || n_uses(st, e$name) != 1L) {
    return(NULL)
  }
  l <- st$layers[[e$node]]
  if (!l$type %in% c("Conv1D", "Dense") || l$activation_name != "linear") {
    return(NULL)
  }
  l
}

# Record the node's output: a new activation on layer `node`.
set_act <- function(ctx, node, shape, order = NULL) {
  set_tensor(ctx$st, ctx$nd$output[1], act_entry(node, shape, order))
}

add_layer <- function(ctx, layer, e, dim_out, shape, inputs = e$node, order = NULL) {
  node <- emit_layer(ctx$st, layer, inputs, dim_out, ctx$nd$output[1])
  set_act(ctx, node, shape, order)
}

# Same tensor under a new name and shape (Identity, reshapes): the values
# keep their order.
relabel <- function(ctx, e, shape = e$shape) {
  set_act(ctx, e$node, shape, e$order)
  invisible()
}

# Activation functions: fused into a preceding linear Conv1D / Dense layer
# when possible, else an Activation layer.
op_activation <- function(act, slope = NULL) {
  force(act)
  function(ctx) {
    e <- act_in(ctx)
    neg <- if (is.null(slope)) 0.01 else attr_get(ctx, "alpha", slope)
    l <- fusable_layer(ctx, e)
    if (!is.null(l) && (act != "softmax" || l$type == "Dense")) {
      st <- ctx$st
      st$layers[[e$node]]$activation_name <- act
      st$layers[[e$node]]$negative_slope <- neg
      st$out_name[e$node] <- ctx$nd$output[1]
      return(set_act(ctx, e$node, e$shape, e$order))
    }
    layer <- list(type = "Activation", act_name = act, negative_slope = neg)
    add_layer(ctx, layer, e, node_dims(ctx$st, e$node), e$shape, order = e$order)
  }
}

op_softmax <- function(log) {
  force(log)
  function(ctx) {
    e <- act_in(ctx)
    s <- e$shape
    r <- length(s) + 1L
    if (ctx$st$opset < 13) {
      a <- norm_axis(ctx, attr_get(ctx, "axis", 1), r)
      reduced <- if (a == 0L) s else s[seq_len(length(s)) >= a]
    } else {
      a <- norm_axis(ctx, attr_get(ctx, "axis", -1), r)
      reduced <- if (a == 0L) 1 else s[a]
    }
    if (a == 0L || prod(reduced) != prod(s)) {
      onnx_abort(ctx, "a softmax over axis {a} of a tensor of shape {shape_text(s)} is not supported; cphap applies softmax over the class outputs only.")
    }
    e <- need_dims(ctx, e, c(prod(s), 1L), plain = FALSE)
    op_activation("softmax")(ctx_with_input(ctx, e))
    if (log) ctx$st$log_softmax <- get(ctx$nd$output[1], envir = ctx$st$tensors)$node
    invisible()
  }
}

ctx_with_input <- function(ctx, e) {
  ctx$ins[[1]] <- e
  ctx
}

op_identity <- function(ctx) {
  e <- act_in(ctx)
  set_tensor(ctx$st, ctx$nd$output[1], e)
}

op_cast <- function(ctx) {
  if (!attr_get(ctx, "to", 1) %in% c(1, 10, 11, 16)) {
    onnx_abort(ctx, "casting the network tensor to a non-floating-point type is not supported.")
  }
  op_identity(ctx)
}

op_dropout <- function(ctx) {
  e <- act_in(ctx)
  only_first_output(ctx)
  ratio <- attr_get(ctx, "ratio")
  if (is.null(ratio)) {
    r <- const_in(ctx, 2L, "ratio", optional = TRUE)
    ratio <- if (is.null(r)) 0.5 else r$v[1]
  }
  if (!is.finite(ratio) || ratio < 0 || ratio >= 1) {
    onnx_abort(ctx, "its ratio {ratio} is not in [0, 1).")
  }
  add_layer(ctx, list(type = "Skipping", rate = ratio), e, node_dims(ctx$st, e$node), e$shape, order = e$order)
}

# Explicit pads, or those implied by auto_pad, for one spatial axis.
# Explicit pads, or those implied by auto_pad, for the time axis. two_d:
# 2-D pads (h_begin, t_begin, h_end, t_end) with no padding of the unit height.
spatial_pads <- function(ctx, L, k, stride, dil, two_d = FALSE) {
  auto <- attr_get(ctx, "auto_pad", "NOTSET")
  pads <- ints_attr(ctx, "pads", rep(0, if (two_d) 4L else 2L))
  if (two_d && length(pads) == 4L) {
    if (any(pads[c(1L, 3L)] != 0)) onnx_abort(ctx, "pads the height axis; only the time axis can be padded.")
    pads <- pads[c(2L, 4L)]
  }
  if (length(pads) != 2L) {
    onnx_abort(ctx, "has {length(pads)} pads; a one-dimensional layer has 2 (begin, end).")
  }
  if (any(pads < 0)) onnx_abort(ctx, "negative pads are not supported.")
  if (any(pads > 1e8)) onnx_abort(ctx, "its pads are too large.")
  span <- (k - 1) * dil + 1
  switch(auto,
    NOTSET = pads,
    VALID = c(0, 0),
    SAME_UPPER = ,
    SAME_LOWER = {
      out <- ceiling(L / stride)
      total <- max(0, (out - 1) * stride + span - L)
      small <- floor(total / 2)
      if (auto == "SAME_UPPER") c(small, total - small) else c(total - small, small)
    },
    onnx_abort(ctx, "unknown auto_pad {.val auto}.")
  )
}

# A per-axis attribute (kernel_shape, strides, dilations) of a 1-D layer; for
# a 2-D layer of unit height (two_d) its height entry must be 1.
one_value <- function(ctx, name, default, two_d = FALSE) {
  v <- ints_attr(ctx, name, if (two_d) c(1, default) else default)
  if (two_d && length(v) == 2L && !is.na(v[1]) && v[1] == 1) v <- v[2]
  if (length(v) != 1L) {
    onnx_abort(ctx, "attribute {.field name} is {.val v}; two-dimensional layers are not supported (only a height of one).",
      "cphap reads one-dimensional (time-series) networks."
    )
  }
  if (!is.finite(v) || v < 1 || v > 1e8) onnx_abort(ctx, "attribute {.field name} must be a positive integer, not {v}.")
  as.integer(v)
}

op_conv <- function(ctx) {
  e <- act_in(ctx)
  w <- const_in(ctx, 2L, "weight")
  two_d <- length(w$d) == 4L
  if (two_d && w$d[3] != 1L || length(w$d) > 4L || !two_d && length(e$shape) == 3L) {
    onnx_abort(ctx, "two-dimensional convolutions are not supported (only a kernel of height one, as tf2onnx writes 1-D convolutions).",
      "cphap reads one-dimensional (time-series) networks; Conv weights must be out x in x kernel."
    )
  }
  if (length(w$d) < 3L) onnx_abort(ctx, "its weight has {length(w$d)} dimensions; a 1-D convolution has 3.")
  s <- series_shape(ctx, e, two_d = two_d)
  group <- attr_get(ctx, "group", 1)
  if (group != 1) {
    onnx_abort(ctx, "grouped convolutions (group = {group}) are not supported.",
      "Use ordinary convolutions (groups = 1), e.g. instead of depthwise-separable ones."
    )
  }
  if (w$d[2] != s[1]) {
    onnx_abort(ctx, "its weight expects {w$d[2]} input channel{?s} but its input has {s[1]}.")
  }
  k <- w$d[length(w$d)]
  if (one_value(ctx, "kernel_shape", k, two_d) != k) {
    onnx_abort(ctx, "kernel_shape {.val attr_get(ctx, 'kernel_shape')} disagrees with its weight (kernel {k}).")
  }
  stride <- one_value(ctx, "strides", 1, two_d)
  dil <- one_value(ctx, "dilations", 1, two_d)
  pads <- spatial_pads(ctx, s[2], k, stride, dil, two_d)
  b <- const_in(ctx, 3L, "bias", optional = TRUE)
  if (!is.null(b) && length(b$v) != w$d[1]) {
    onnx_abort(ctx, "its bias has {length(b$v)} values for {w$d[1]} output channels.")
  }
  lout <- (s[2] + sum(pads) - (k - 1) * dil - 1) %/% stride + 1
  if (lout < 1) onnx_abort(ctx, "its kernel spans more points than its (padded) input of length {s[2] + sum(pads)}.")
  e <- need_dims(ctx, e, s)
  layer <- list(
    type = "Conv1D", weight = c_array(w$v, w$d[c(1L, 2L, length(w$d))]),
    bias = if (is.null(b)) rep(0, w$d[1]) else b$v, activation_name = "linear",
    stride = stride, padding = as.integer(pads), dilation = dil
  )
  add_layer(ctx, layer, e, c(w$d[1], lout), if (two_d) c(w$d[1], 1L, lout) else c(w$d[1], lout))
}

# A dense layer out x in from activation e (flattened) with weight W.
onnx_dense_layer <- function(ctx, e, W, bias, lead = integer()) {
  n_in <- prod(node_dims(ctx$st, e$node))
  if (ncol(W) != n_in) {
    onnx_abort(ctx, "its weight takes {ncol(W)} input{?s} but its input has {n_in} values.")
  }
  if (!is.null(e$order)) { # a flattened transposed view: reorder the columns
    Wp <- W
    Wp[, e$order] <- W
    W <- Wp
  }
  layer <- list(type = "Dense", weight = W, bias = bias, activation_name = "linear")
  add_layer(ctx, layer, e, c(nrow(W), 1L), c(lead, nrow(W)))
}

flat_input <- function(ctx, e) {
  if (length(e$shape) != 1L) {
    onnx_abort(ctx, "its input has shape {shape_text(e$shape)}; a dense layer here needs a flat [batch, features] input.",
      "Flatten the tensor before the dense layer (MatMul over the time axis of a series is not supported)."
    )
  }
  e
}

op_gemm <- function(ctx) {
  e <- flat_input(ctx, act_in(ctx))
  if (attr_get(ctx, "transA", 0) != 0) onnx_abort(ctx, "transA = 1 is not supported.")
  B <- const_in(ctx, 2L, "weight")
  if (length(B$d) != 2L) onnx_abort(ctx, "its weight must be a matrix.")
  W <- c_array(B$v, B$d)
  if (attr_get(ctx, "transB", 0) == 0) W <- t(W)
  W <- attr_get(ctx, "alpha", 1) * W
  C <- const_in(ctx, 3L, "bias", optional = TRUE)
  bias <- rep(0, nrow(W))
  if (!is.null(C)) {
    od <- bcast_dims(list(C$d, c(1L, nrow(W))))
    if (is.null(od) || !identical(od, c(1L, nrow(W)))) {
      onnx_abort(ctx, "its bias of shape {.val C$d} does not broadcast to one value per output ({nrow(W)}).")
    }
    bias <- attr_get(ctx, "beta", 1) * bcast_values(C, od)
  }
  onnx_dense_layer(ctx, e, W, bias)
}

op_matmul <- function(ctx) {
  if (!is.null(in_at(ctx, 1L)) && in_at(ctx, 1L)$kind == "const") {
    onnx_abort(ctx, "a constant times the network tensor is not supported; the weight must be the second input.")
  }
  e <- act_in(ctx)
  lead <- e$shape[-length(e$shape)]
  if (length(e$shape) > 1L && all(lead == 1L)) { # [batch, 1, ..., features]
    e$shape <- e$shape[length(e$shape)]
  } else {
    lead <- integer()
  }
  e <- flat_input(ctx, e)
  B <- const_in(ctx, 2L, "weight")
  if (length(B$d) != 2L) onnx_abort(ctx, "its weight must be a matrix (in x out).")
  onnx_dense_layer(ctx, e, t(c_array(B$v, B$d)), rep(0, B$d[2]), lead)
}

# Add (and Sub) of a constant: folded into the bias of the layer before.
add_const <- function(ctx, e, cst, sign) {
  l <- fusable_layer(ctx, e)
  if (is.null(l)) {
    onnx_abort(ctx, "adding a constant to the network tensor is only supported as the bias of a Conv, Gemm or MatMul right before it.")
  }
  full <- c(1L, e$shape)
  od <- bcast_dims(list(cst$d, full))
  if (is.null(od) || !identical(od, full)) {
    onnx_abort(ctx, "its constant of shape {.val cst$d} does not broadcast to {shape_text(e$shape)}.")
  }
  d <- node_dims(ctx$st, e$node)
  v <- bcast_values(cst, full)
  if (!is.null(e$order)) v[e$order] <- v
  per <- matrix(v, nrow = d[1], byrow = TRUE) # channels x time
  if (any(per != per[, 1])) {
    onnx_abort(ctx, "its constant varies along time; only one bias value per channel is supported.")
  }
  st <- ctx$st
  st$layers[[e$node]]$bias <- l$bias + sign * per[, 1]
  st$out_name[e$node] <- ctx$nd$output[1]
  set_act(ctx, e$node, e$shape, e$order)
}

op_add <- function(sign) {
  force(sign)
  function(ctx) {
    a <- in_at(ctx, 1L)
    b <- in_at(ctx, 2L)
    if (is.null(a) || is.null(b)) onnx_abort(ctx, "needs two inputs.")
    if (a$kind == "const" && sign > 0) {
      tmp <- a
      a <- b
      b <- tmp
    }
    if (a$kind == "const") onnx_abort(ctx, "subtracting the network tensor from a constant is not supported.")
    if (b$kind == "const") {
      if (anyNA(b$v)) onnx_abort(ctx, "its constant depends on the batch size.")
      return(add_const(ctx, a, b, sign))
    }
    if (sign < 0) onnx_abort(ctx, "subtracting two network tensors is not supported.")
    if (!identical(a$shape, b$shape)) {
      onnx_abort(ctx, "adds tensors of shapes {shape_text(a$shape)} and {shape_text(b$shape)}; only equal shapes are supported (no broadcasting).")
    }
    if (!identical(a$order, b$order)) {
      onnx_abort(ctx, "adds two tensors whose values are laid out differently (one is transposed).")
    }
    want <- node_dims(ctx$st, a$node)
    if (!identical(want, node_dims(ctx$st, b$node))) {
      plain <- is.null(a$order) && length(a$shape) == 2L
      want <- if (plain) a$shape else c(prod(a$shape), 1L)
      a <- need_dims(ctx, a, want, plain = plain)
      b <- need_dims(ctx, b, want, plain = plain)
    }
    add_layer(ctx, list(type = "Add"), a, want, a$shape, inputs = c(a$node, b$node), order = a$order)
  }
}

op_pool <- function(type) {
  force(type)
  function(ctx) {
    e <- act_in(ctx)
    only_first_output(ctx)
    ks <- ints_attr(ctx, "kernel_shape")
    if (is.null(ks)) onnx_abort(ctx, "its kernel_shape is missing.")
    two_d <- length(ks) == 2L && ks[1] == 1 && length(e$shape) == 3L
    if (length(ks) != 1L && !two_d || length(e$shape) == 3L && !two_d) {
      onnx_abort(ctx, "two-dimensional pooling is not supported (only a kernel of height one).", "cphap reads one-dimensional (time-series) networks.")
    }
    s <- series_shape(ctx, e, two_d = two_d)
    k <- one_value(ctx, "kernel_shape", ks[length(ks)], two_d)
    stride <- one_value(ctx, "strides", 1, two_d)
    if (one_value(ctx, "dilations", 1, two_d) != 1L) onnx_abort(ctx, "dilated pooling is not supported.")
    pads <- spatial_pads(ctx, s[2], k, stride, 1, two_d)
    lp <- s[2] + sum(pads)
    if (lp < k) onnx_abort(ctx, "its kernel ({k}) is longer than its (padded) input ({lp}).")
    lout <- (lp - k) %/% stride + 1
    if (attr_get(ctx, "ceil_mode", 0) == 1) {
      lc <- ceiling((lp - k) / stride) + 1
      if ((lc - 1) * stride >= s[2] + pads[1]) lc <- lc - 1
      if (lc != lout) {
        onnx_abort(ctx, "ceil_mode = 1 adds a partial window at the end here, which cphap's pooling layers do not have.",
          "Export with ceil_mode = False (or pad the input so the windows fit)."
        )
      }
    }
    e <- need_dims(ctx, e, s)
    if (any(pads > 0)) {
      if (type == "AveragePooling1D" && attr_get(ctx, "count_include_pad", 0) == 0) {
        onnx_abort(ctx, "average pooling with padding and count_include_pad = 0 is not supported (the edge windows average fewer values).",
          "Export with count_include_pad = True, or pad explicitly before pooling."
        )
      }
      value <- if (type == "MaxPooling1D") -.Machine$double.xmax else 0
      pl <- list(type = "Padding", padding = as.integer(pads), mode = "constant", value = value)
      node <- emit_layer(ctx$st, pl, e$node, c(s[1], lp))
      e$node <- node
    }
    add_layer(ctx, list(type = type, kernel_size = k, strides = stride), e, c(s[1], lout),
      if (two_d) c(s[1], 1L, lout) else c(s[1], lout)
    )
  }
}

op_global <- function(method) {
  force(method)
  function(ctx) {
    e <- act_in(ctx)
    two_d <- length(e$shape) == 3L
    s <- series_shape(ctx, e, two_d = two_d)
    e <- need_dims(ctx, e, s)
    add_layer(ctx, list(type = "GlobalPooling", method = method), e, c(s[1], 1L),
      if (two_d) c(s[1], 1L, 1L) else c(s[1], 1L)
    )
  }
}

op_reduce <- function(method) {
  force(method)
  function(ctx) {
    e <- act_in(ctx)
    axes <- attr_or_input(ctx, "axes", 2L)
    r <- length(e$shape) + 1L
    if (is.null(axes)) onnx_abort(ctx, "reducing over every axis is not supported; give the time axis.")
    axes <- sort(norm_axis(ctx, axes, r))
    keep <- attr_get(ctx, "keepdims", 1) == 1
    s <- e$shape
    cl <- channels_last_view(ctx, e)
    if (cl && identical(axes, 1L)) { # [batch, length, channels] over time
      C <- s[2]
      e$order <- NULL
      out <- if (keep) c(1L, C) else C
    } else if (r == 3L && identical(axes, 2L) || r == 4L && s[2] == 1L && axes[length(axes)] == 3L &&
      all(axes %in% 2:3)) {
      e <- need_dims(ctx, e, s[c(1L, length(s))])
      C <- s[1]
      out <- if (keep) c(C, s[-1] * 0L + 1L) else s[-(axes)]
    } else {
      onnx_abort(ctx, "reduces over axes {.val axes} of {shape_text(s)}; only the time axis of a series is supported.")
    }
    add_layer(ctx, list(type = "GlobalPooling", method = method), e, c(C, 1L), out)
  }
}

# A [batch, length, channels] view of a series layer (a transposition).
channels_last_view <- function(ctx, e) {
  d <- node_dims(ctx$st, e$node)
  if (is.null(e$order) || length(e$shape) != 2L || !identical(e$shape, rev(d))) {
    return(FALSE)
  }
  identical(transpose_entry(act_entry(e$node, d), c(2L, 1L))$order, e$order)
}

op_batchnorm <- function(ctx) {
  e <- act_in(ctx)
  only_first_output(ctx)
  if (attr_get(ctx, "training_mode", 0) != 0) {
    onnx_abort(ctx, "batch normalization in training mode is not supported; export the model in eval mode.")
  }
  s <- e$shape
  if (length(s) == 3L && s[2] == 1L) {
    want <- s[c(1L, 3L)]
  } else if (length(s) >= 3L) {
    onnx_abort(ctx, "two-dimensional batch normalization is not supported.")
  } else {
    want <- if (length(s) == 2L) s else c(s[1], 1L)
  }
  if (length(s) == 0L) onnx_abort(ctx, "its input has no channel axis.")
  nf <- want[1]
  pars <- lapply(2:5, function(i) {
    p <- const_in(ctx, i, c("scale", "bias", "mean", "variance")[i - 1L])
    if (length(p$v) != nf) {
      onnx_abort(ctx, "its {c('scale', 'bias', 'mean', 'variance')[i - 1L]} has {length(p$v)} values for {nf} channels.")
    }
    p$v
  })
  e <- need_dims(ctx, e, want)
  layer <- list(
    type = "BatchNorm", num_features = nf, gamma = pars[[1]], beta = pars[[2]],
    run_mean = pars[[3]], run_var = pars[[4]], eps = attr_get(ctx, "epsilon", 1e-5)
  )
  add_layer(ctx, layer, e, want, s)
}

# Flatten to [batch, features]: a Flatten layer unless already flat.
flatten_to <- function(ctx, e) {
  d <- node_dims(ctx$st, e$node)
  n <- prod(e$shape)
  if (d[2] == 1L) {
    return(relabel(ctx, e, n))
  }
  add_layer(ctx, list(type = "Flatten"), e, c(n, 1L), n, order = e$order)
}

op_flatten <- function(ctx) {
  e <- act_in(ctx)
  a <- norm_axis(ctx, attr_get(ctx, "axis", 1), length(e$shape) + 2L)
  if (a != 1L) {
    onnx_abort(ctx, "flattening from axis {a} is not supported; only axis 1 (keep the batch axis) is.")
  }
  flatten_to(ctx, e)
}

# A reshape keeps the values' order: flattening becomes a Flatten layer,
# anything else a new shape (operators that need a series check it).
reshape_to <- function(ctx, e, s2) {
  if (length(s2) == 1L && length(e$shape) > 1L && s2 == prod(e$shape)) {
    return(flatten_to(ctx, e))
  }
  relabel(ctx, e, s2)
}

op_reshape <- function(ctx) {
  e <- act_in(ctx)
  tgt <- in_at(ctx, 2L)
  if (is.null(tgt) || tgt$kind != "const") onnx_abort(ctx, "its target shape must be a constant.")
  t <- tgt$v
  if (length(t) == 0L) onnx_abort(ctx, "reshaping to a scalar drops the batch axis.")
  b <- t[1]
  is_batch <- is.na(b) || b == 0 || (!is.na(ctx$st$batch) && b == ctx$st$batch) || b == -1
  if (!is_batch) onnx_abort(ctx, "its target shape {.val t} changes the batch axis.")
  rest <- t[-1]
  if (anyNA(rest)) onnx_abort(ctx, "its target shape {.val t} moves the batch size into another axis.")
  if (attr_get(ctx, "allowzero", 0) == 0) {
    z <- which(rest == 0)
    if (any(z > length(e$shape))) onnx_abort(ctx, "its target shape copies an axis that does not exist.")
    rest[z] <- e$shape[z]
  }
  n <- prod(e$shape)
  if (!is.na(b) && b == -1) {
    if (any(rest == -1) || prod(rest) != n) {
      onnx_abort(ctx, "its target shape {.val t} does not keep the batch axis.")
    }
  }
  if (sum(rest == -1) > 1L) onnx_abort(ctx, "its target shape has more than one -1.")
  if (any(rest == -1)) rest[rest == -1] <- n / prod(rest[rest != -1])
  if (prod(rest) != n || any(rest != round(rest)) || any(rest < 0)) {
    onnx_abort(ctx, "cannot reshape {shape_text(e$shape)} to {.val t}.")
  }
  reshape_to(ctx, e, as.integer(rest))
}

op_squeeze <- function(ctx) {
  e <- act_in(ctx)
  s <- e$shape
  axes <- attr_or_input(ctx, "axes", 2L)
  if (is.null(axes)) {
    drop <- which(s == 1L)
  } else {
    a <- norm_axis(ctx, axes, length(s) + 1L)
    if (any(a == 0L)) onnx_abort(ctx, "squeezing the batch axis is not supported.")
    drop <- a
    if (any(s[drop] != 1L)) onnx_abort(ctx, "squeezes an axis whose length is not one.")
  }
  relabel(ctx, e, if (length(drop)) s[-drop] else s)
}

op_unsqueeze <- function(ctx) {
  e <- act_in(ctx)
  axes <- attr_or_input(ctx, "axes", 2L)
  full <- unsqueeze_dims(ctx, c(0L, e$shape), axes)
  if (full[1] != 0L) onnx_abort(ctx, "inserting an axis before the batch axis is not supported.")
  relabel(ctx, e, full[-1])
}

op_transpose <- function(ctx) {
  e <- act_in(ctx)
  r <- length(e$shape) + 1L
  perm <- ints_attr(ctx, "perm", rev(seq_len(r) - 1))
  if (length(perm) != r || !setequal(perm, seq_len(r) - 1L)) onnx_abort(ctx, "its perm is not a permutation of the axes.")
  perm <- as.integer(perm)
  if (perm[1] != 0L) onnx_abort(ctx, "transposing the batch axis is not supported.")
  fold_size(ctx, e$shape)
  t <- transpose_entry(e, perm[-1])
  set_act(ctx, t$node, t$shape, t$order)
}

op_pad <- function(ctx) {
  e <- act_in(ctx)
  mode <- attr_get(ctx, "mode", "constant")
  if (mode != "constant") {
    onnx_abort(ctx, "padding mode {.val mode} is not supported; only constant padding is.")
  }
  pads <- attr_get(ctx, "pads", attr_get(ctx, "paddings"))
  if (is.null(pads)) pads <- const_in(ctx, 2L, "pads")$v
  value <- attr_get(ctx, "value")
  if (is.null(value)) {
    cv <- const_in(ctx, 3L, "constant value", optional = TRUE)
    value <- if (is.null(cv) || length(cv$v) == 0L) 0 else cv$v[1]
  }
  r <- length(e$shape) + 1L
  axes <- const_in(ctx, 4L, "axes", optional = TRUE)
  ax <- if (is.null(axes)) seq_len(r) - 1L else norm_axis(ctx, axes$v, r)
  if (length(pads) != 2L * length(ax)) onnx_abort(ctx, "has {length(pads)} pads for {length(ax)} axes.")
  full <- numeric(2L * r)
  full[ax + 1L] <- pads[seq_along(ax)]
  full[r + ax + 1L] <- pads[length(ax) + seq_along(ax)]
  if (any(full[-c(r, 2L * r)] != 0)) {
    onnx_abort(ctx, "pads axes other than time ({.val full}); only the last (time) axis can be padded.")
  }
  p <- full[c(r, 2L * r)]
  if (all(p == 0)) {
    return(relabel(ctx, e))
  }
  if (any(p < 0)) onnx_abort(ctx, "negative pads (cropping) are not supported.")
  if (any(p > 1e8)) onnx_abort(ctx, "its pads are too large.")
  s <- series_shape(ctx, e, two_d = r == 4L)
  e <- need_dims(ctx, e, s)
  layer <- list(type = "Padding", padding = as.integer(p), mode = "constant", value = value)
  out <- e$shape
  out[length(out)] <- s[2] + sum(p)
  add_layer(ctx, layer, e, c(s[1], s[2] + sum(p)), out)
}

op_shape <- function(ctx) {
  e <- act_in(ctx)
  set_tensor(ctx$st, ctx$nd$output[1], shape_slice(ctx, c(ctx$st$batch, e$shape)))
}

onnx_ops <- list(
  Conv = op_conv,
  Gemm = op_gemm,
  MatMul = op_matmul,
  Add = op_add(1),
  Sub = op_add(-1),
  Relu = op_activation("relu"),
  LeakyRelu = op_activation("leaky_relu", slope = 0.01),
  Tanh = op_activation("tanh"),
  Sigmoid = op_activation("sigmoid"),
  Softplus = op_activation("softplus"),
  Softmax = op_softmax(FALSE),
  LogSoftmax = op_softmax(TRUE),
  Identity = op_identity,
  Cast = op_cast,
  Dropout = op_dropout,
  MaxPool = op_pool("MaxPooling1D"),
  AveragePool = op_pool("AveragePooling1D"),
  GlobalAveragePool = op_global("average"),
  GlobalMaxPool = op_global("max"),
  ReduceMean = op_reduce("average"),
  ReduceMax = op_reduce("max"),
  BatchNormalization = op_batchnorm,
  Flatten = op_flatten,
  Reshape = op_reshape,
  Squeeze = op_squeeze,
  Unsqueeze = op_unsqueeze,
  Transpose = op_transpose,
  Pad = op_pad,
  Shape = op_shape
)
