# Constant folding for ONNX graphs: Constant nodes and the small shape
# sub-graphs exporters write (Shape -> Gather -> Unsqueeze -> Concat ->
# Reshape, ...). Constants are list(v = values in C order, d = dims,
# int = integer type); NA stands for the batch size.

# C-order strides of dims d.
c_strides <- function(d) {
  r <- length(d)
  if (r == 0L) {
    return(numeric())
  }
  s <- numeric(r)
  s[r] <- 1
  if (r > 1L) for (j in (r - 1L):1L) s[j] <- s[j + 1L] * d[j + 1L]
  s
}

# 0-based multi-indices (one row per element, C order) of dims d.
c_index <- function(d) {
  n <- prod(d)
  r <- length(d)
  s <- c_strides(d)
  idx <- matrix(0, n, r)
  k <- seq_len(n) - 1
  for (j in seq_len(r)) idx[, j] <- (k %/% s[j]) %% d[j]
  idx
}

# An R array indexed like the ONNX tensor (dims d) from C-order values.
c_array <- function(v, d) {
  if (length(d) <= 1L) {
    return(array(v, max(1L, d)))
  }
  aperm(array(v, rev(d)))
}

# Broadcast (numpy rules) of several dims; NULL when incompatible.
bcast_dims <- function(dl) {
  r <- max(vapply(dl, length, integer(1)))
  padded <- lapply(dl, function(d) c(rep(1L, r - length(d)), d))
  out <- integer(r)
  for (j in seq_len(r)) {
    dj <- vapply(padded, function(d) d[j], integer(1))
    m <- max(dj)
    if (any(dj != 1L & dj != m)) {
      return(NULL)
    }
    out[j] <- if (length(dj)) m else 1L
  }
  out
}

# Values of constant e broadcast to dims od (C order).
bcast_values <- function(e, od) {
  r <- length(od)
  d <- c(rep(1L, r - length(e$d)), e$d)
  if (r == 0L) {
    return(e$v)
  }
  s <- c_strides(d)
  s[d == 1L] <- 0
  idx <- c_index(od)
  e$v[as.vector(idx %*% s) + 1]
}

fold_error <- function(ctx, msg, .envir = parent.frame()) {
  onnx_abort(ctx, msg, .envir = .envir)
}

# Constants made by folding stay small (shapes, not data).
fold_size <- function(ctx, d) {
  n <- prod(as.numeric(d))
  if (!is.finite(n) || n > 1e7) fold_error(ctx, "evaluating this constant would create {format(n)} values.")
  invisible(n)
}

# Inputs each folded operator needs.
fold_arity <- c(
  Reshape = 2, Gather = 2, Range = 3, Expand = 2, Add = 2, Sub = 2, Mul = 2,
  Div = 2, Pow = 2, Equal = 2, Where = 3, Slice = 1, Concat = 1
)

ints_attr <- function(ctx, name, default = NULL) {
  v <- attr_get(ctx, name, default)
  if (!is.null(v) && (!is.numeric(v) || anyNA(v))) {
    onnx_abort(ctx, "attribute {.field name} must be integers.")
  }
  if (!is.null(v)) v <- as.numeric(v)
  v
}

norm_axis <- function(ctx, a, r) {
  if (!is.numeric(a) || any(!is.finite(a) | abs(a) > 64)) fold_error(ctx, "an axis is out of range.")
  a <- as.integer(a)
  a[a < 0L] <- a[a < 0L] + r
  if (any(is.na(a) | a < 0L | a >= r)) fold_error(ctx, "axis {.val a} is out of range for a tensor of rank {r}.")
  a
}

fold_binary <- function(f) {
  force(f)
  function(ctx, ins) {
    od <- bcast_dims(lapply(ins, function(e) e$d))
    if (is.null(od)) fold_error(ctx, "the shapes of its constant inputs do not broadcast.")
    fold_size(ctx, od)
    vals <- lapply(ins, bcast_values, od = od)
    int <- all(vapply(ins, function(e) e$int, logical(1)))
    const_entry(f(vals, int), od, int)
  }
}

fold_unary <- function(f) {
  force(f)
  function(ctx, ins) {
    e <- ins[[1]]
    const_entry(f(e$v), e$d, e$int)
  }
}

fold_reshape_dims <- function(ctx, e, target, allowzero = FALSE) {
  t <- as.numeric(target)
  if (anyNA(t)) fold_error(ctx, "the target shape of a constant depends on the batch size.")
  if (!allowzero) t[t == 0] <- e$d[which(t == 0)]
  if (sum(t == -1) > 1L) fold_error(ctx, "the target shape has more than one -1.")
  n <- length(e$v)
  if (any(t == -1)) t[t == -1] <- n / prod(t[t != -1])
  if (prod(t) != n || any(t < 0) || any(t != round(t))) {
    fold_error(ctx, "cannot reshape a constant of {n} values to {.val target}.")
  }
  as.integer(t)
}

onnx_fold <- list(
  Identity = function(ctx, ins) ins[[1]],
  Cast = function(ctx, ins) {
    to <- attr_get(ctx, "to", 1)
    e <- ins[[1]]
    int <- to %in% c(2:7, 9, 12:13)
    v <- e$v
    if (int) v <- trunc(v)
    if (to == 9) v <- as.double(v != 0)
    const_entry(v, e$d, int)
  },
  Shape = function(ctx, ins) {
    e <- ins[[1]]
    shape_slice(ctx, e$d)
  },
  Size = function(ctx, ins) const_entry(length(ins[[1]]$v), integer(0), TRUE),
  Reshape = function(ctx, ins) {
    e <- ins[[1]]
    d <- fold_reshape_dims(ctx, e, ins[[2]]$v, attr_get(ctx, "allowzero", 0) == 1)
    const_entry(e$v, d, e$int)
  },
  Flatten = function(ctx, ins) {
    e <- ins[[1]]
    r <- length(e$d)
    a <- norm_axis(ctx, attr_get(ctx, "axis", 1), r + 1L)
    const_entry(e$v, c(prod(e$d[seq_len(a)]), prod(e$d[-seq_len(a)])), e$int)
  },
  Squeeze = function(ctx, ins) {
    e <- ins[[1]]
    axes <- ints_attr(ctx, "axes")
    if (is.null(axes) && length(ins) > 1L) axes <- ins[[2]]$v
    keep <- if (is.null(axes)) e$d != 1L else !seq_along(e$d) %in% (norm_axis(ctx, axes, length(e$d)) + 1L)
    const_entry(e$v, e$d[keep], e$int)
  },
  Unsqueeze = function(ctx, ins) {
    e <- ins[[1]]
    axes <- ints_attr(ctx, "axes")
    if (is.null(axes) && length(ins) > 1L) axes <- ins[[2]]$v
    const_entry(e$v, unsqueeze_dims(ctx, e$d, axes), e$int)
  },
  Concat = function(ctx, ins) {
    r <- length(ins[[1]]$d)
    if (r == 0L) fold_error(ctx, "cannot concatenate scalars.")
    a <- norm_axis(ctx, attr_get(ctx, "axis", 0), r) + 1L
    ds <- lapply(ins, function(e) e$d)
    if (any(vapply(ds, length, integer(1)) != r)) fold_error(ctx, "its inputs have different ranks.")
    od <- ds[[1]]
    od[a] <- sum(vapply(ds, function(d) d[a], integer(1)))
    out <- numeric(prod(od))
    so <- c_strides(od)
    off <- 0
    for (e in ins) {
      if (any(e$d[-a] != od[-a])) fold_error(ctx, "its inputs' shapes do not match.")
      if (length(e$v) > 0L) {
        idx <- c_index(e$d)
        idx[, a] <- idx[, a] + off
        out[as.vector(idx %*% so) + 1] <- e$v
      }
      off <- off + e$d[a]
    }
    const_entry(out, od, all(vapply(ins, function(e) e$int, logical(1))))
  },
  Gather = function(ctx, ins) {
    e <- ins[[1]]
    ix <- ins[[2]]
    r <- length(e$d)
    if (r == 0L) fold_error(ctx, "cannot gather from a scalar.")
    a <- norm_axis(ctx, attr_get(ctx, "axis", 0), r) + 1L
    iv <- ix$v
    iv[iv < 0] <- iv[iv < 0] + e$d[a]
    if (anyNA(iv) || any(iv < 0 | iv >= e$d[a])) fold_error(ctx, "its indices are out of range.")
    od <- c(e$d[seq_len(a - 1L)], ix$d, e$d[-seq_len(a)])
    if (prod(od) == 0) {
      return(const_entry(numeric(), od, e$int))
    }
    oi <- c_index(od)
    ni <- length(ix$d)
    pos <- if (ni == 0L) rep(0, nrow(oi)) else as.vector(oi[, a - 1L + seq_len(ni), drop = FALSE] %*% c_strides(ix$d))
    src <- cbind(
      oi[, seq_len(a - 1L), drop = FALSE], iv[pos + 1],
      oi[, a + ni + seq_len(r - a), drop = FALSE]
    )
    const_entry(e$v[as.vector(src %*% c_strides(e$d)) + 1], od, e$int)
  },
  Slice = function(ctx, ins) {
    e <- ins[[1]]
    r <- length(e$d)
    get <- function(name, i) {
      v <- ints_attr(ctx, name)
      if (is.null(v) && !is.null(in_at(ctx, i))) v <- in_at(ctx, i)$v
      v
    }
    starts <- get("starts", 2)
    ends <- get("ends", 3)
    axes <- get("axes", 4)
    steps <- get("steps", 5)
    if (is.null(starts) || is.null(ends)) fold_error(ctx, "its starts or ends are missing.")
    if (is.null(axes)) axes <- seq_along(starts) - 1
    if (is.null(steps)) steps <- rep(1, length(starts))
    axes <- norm_axis(ctx, axes, r) + 1L
    sel <- lapply(e$d, function(n) seq_len(n) - 1)
    for (j in seq_along(axes)) {
      n <- e$d[axes[j]]
      s <- starts[j]
      en <- ends[j]
      st <- steps[j]
      if (st == 0) fold_error(ctx, "a step is zero.")
      if (s < 0) s <- s + n
      if (en < 0) en <- en + n
      if (st > 0) {
        s <- min(max(s, 0), n)
        en <- min(max(en, 0), n)
        sel[[axes[j]]] <- if (s < en) seq(s, en - 1, by = st) else numeric()
      } else {
        s <- min(max(s, -1), n - 1)
        en <- min(max(en, -1), n - 1)
        sel[[axes[j]]] <- if (s > en) seq(s, en + 1, by = st) else numeric()
      }
    }
    od <- vapply(sel, length, integer(1))
    if (prod(od) == 0) {
      return(const_entry(numeric(), od, e$int))
    }
    oi <- c_index(od)
    src <- vapply(seq_len(r), function(j) sel[[j]][oi[, j] + 1], numeric(nrow(oi)))
    src <- matrix(src, nrow(oi), r)
    const_entry(e$v[as.vector(src %*% c_strides(e$d)) + 1], od, e$int)
  },
  Transpose = function(ctx, ins) {
    e <- ins[[1]]
    r <- length(e$d)
    perm <- ints_attr(ctx, "perm", rev(seq_len(r) - 1))
    if (!setequal(perm, seq_len(r) - 1) || length(perm) != r) fold_error(ctx, "its perm is not a permutation.")
    od <- e$d[perm + 1]
    if (prod(od) == 0 || r == 0L) {
      return(const_entry(e$v, od, e$int))
    }
    oi <- c_index(od)
    src <- matrix(0, nrow(oi), r)
    src[, perm + 1] <- oi
    const_entry(e$v[as.vector(src %*% c_strides(e$d)) + 1], od, e$int)
  },
  ConstantOfShape = function(ctx, ins) {
    d <- ins[[1]]$v
    if (anyNA(d) || any(d < 0)) fold_error(ctx, "the shape depends on the batch size or is negative.")
    fold_size(ctx, d)
    val <- attr_get(ctx, "value")
    fill <- if (is.null(val)) 0 else val$values[1]
    int <- !is.null(val) && val$data_type %in% c(2:7, 9L, 12:13)
    const_entry(rep(fill, prod(d)), d, int)
  },
  Range = function(ctx, ins) {
    a <- ins[[1]]$v
    b <- ins[[2]]$v
    s <- ins[[3]]$v
    if (anyNA(c(a, b, s)) || s == 0) fold_error(ctx, "its bounds depend on the batch size or its step is zero.")
    n <- max(ceiling((b - a) / s), 0)
    fold_size(ctx, n)
    const_entry(a + s * (seq_len(n) - 1), n, ins[[1]]$int)
  },
  Expand = function(ctx, ins) {
    if (anyNA(ins[[2]]$v) || any(ins[[2]]$v < 0 | ins[[2]]$v > 1e8)) fold_error(ctx, "its shape is invalid.")
    od <- bcast_dims(list(ins[[1]]$d, as.integer(ins[[2]]$v)))
    if (is.null(od)) fold_error(ctx, "the shapes do not broadcast.")
    fold_size(ctx, od)
    const_entry(bcast_values(ins[[1]], od), od, ins[[1]]$int)
  },
  Add = fold_binary(function(x, int) x[[1]] + x[[2]]),
  Sub = fold_binary(function(x, int) x[[1]] - x[[2]]),
  Mul = fold_binary(function(x, int) x[[1]] * x[[2]]),
  Div = fold_binary(function(x, int) if (int) trunc(x[[1]] / x[[2]]) else x[[1]] / x[[2]]),
  Pow = fold_binary(function(x, int) x[[1]]^x[[2]]),
  Min = fold_binary(function(x, int) do.call(pmin, x)),
  Max = fold_binary(function(x, int) do.call(pmax, x)),
  Equal = fold_binary(function(x, int) as.double(x[[1]] == x[[2]])),
  Where = fold_binary(function(x, int) ifelse(x[[1]] != 0, x[[2]], x[[3]])),
  Neg = fold_unary(function(v) -v),
  Abs = fold_unary(abs),
  Sqrt = fold_unary(sqrt),
  Reciprocal = fold_unary(function(v) 1 / v),
  Floor = fold_unary(floor),
  Ceil = fold_unary(ceiling)
)

unsqueeze_dims <- function(ctx, d, axes) {
  if (is.null(axes)) fold_error(ctx, "its axes are missing.")
  r <- length(d) + length(axes)
  a <- sort(norm_axis(ctx, axes, r))
  out <- integer(r)
  out[a + 1L] <- 1L
  out[-(a + 1L)] <- d
  out
}

# Shape (opset 15 adds start and end) of full dims d (NA for the batch).
shape_slice <- function(ctx, d) {
  r <- length(d)
  s <- attr_get(ctx, "start", 0)
  e <- attr_get(ctx, "end", r)
  if (s < 0) s <- s + r
  if (e < 0) e <- e + r
  s <- min(max(s, 0), r)
  e <- min(max(e, 0), r)
  v <- if (s < e) d[(s + 1):e] else numeric()
  const_entry(v, length(v), TRUE)
}

# Constant node: value (tensor), value_float(s), value_int(s).
op_constant <- function(ctx) {
  a <- ctx$nd$attributes
  if (is.list(a[["value"]])) {
    return(tensor_const(a[["value"]], paste0("constant '", ctx$nd$output[1], "'")))
  }
  if (!is.null(a[["value_float"]])) return(const_entry(a[["value_float"]], integer(0)))
  if (!is.null(a[["value_floats"]])) return(const_entry(a[["value_floats"]]))
  if (!is.null(a[["value_int"]])) return(const_entry(a[["value_int"]], integer(0), TRUE))
  if (!is.null(a[["value_ints"]])) return(const_entry(a[["value_ints"]], int = TRUE))
  onnx_abort(ctx, "only tensor, float and integer constants are supported (not {.val names(a)}).")
}
