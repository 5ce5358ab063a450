# Reading ONNX models: the C decoder (src/onnx_pb.c) gives the graph as a
# list; this file translates it into cphap's list format. Operator
# translations live in R/onnx-ops.R, constant folding in R/onnx-const.R.

#' Read a network from an ONNX file
#'
#' `read_onnx()` reads a one-dimensional convolutional (or dense) network
#' saved in the ONNX format, for example by `torch.onnx.export()` in PyTorch
#' or by tf2onnx for Keras and TensorFlow, and returns a [cphap_model()]. The
#' file is decoded by a protobuf reader written in C in the package: no
#' Python or deep-learning runtime is needed.
#'
#' @section Supported operators:
#' ONNX opsets 9 to 18 of the default domain.
#' * Layers: `Conv` (1-D; `pads`, `strides`, `dilations`, `kernel_shape`,
#'   `auto_pad` NOTSET, VALID, SAME_UPPER and SAME_LOWER; `group = 1`),
#'   `Gemm` (`transB`, `alpha`, `beta`) and `MatMul` (followed by an `Add` of
#'   a bias) as dense layers, `MaxPool` and `AveragePool` (1-D; padding
#'   becomes a padding layer; `ceil_mode = 1` only when it adds no partial
#'   window; `count_include_pad = 0` only without padding),
#'   `GlobalAveragePool`, `GlobalMaxPool`, `ReduceMean` and `ReduceMax` over
#'   time, `BatchNormalization` (inference), `Pad` (constant mode, time axis),
#'   `Add` of two tensors of the same shape (residual connections), `Dropout`
#'   (its ratio is kept as the rate used by Monte-Carlo dropout).
#' * Activations: `Relu`, `LeakyRelu` (its `alpha`), `Tanh`, `Sigmoid`,
#'   `Softplus`, `Softmax` over the class axis. `LogSoftmax` is read as a
#'   softmax: class predictions and `predict(type = "prob")` are unchanged,
#'   but `predict(type = "output")` then gives probabilities, not their
#'   logarithm.
#' * Layout: `Identity`, `Flatten`, `Reshape`, `Squeeze`, `Unsqueeze` and
#'   `Transpose` (any that keep the batch axis first: cphap follows where
#'   every value goes, so channels-last inputs and the transposes tf2onnx
#'   writes around Keras layers read exactly; the operators that need a
#'   series check that they get one), `Cast` to a floating-point type. A
#'   channels-last model is read so that it takes channels-first input, like
#'   every cphap model. Two-dimensional `Conv`, pooling, batch normalization
#'   and `Pad` of height one (tf2onnx's form of 1-D layers) are read as 1-D.
#' * Constants: initializers in float32, float64 and float16 (raw or typed
#'   fields) and integer tensors; `Constant` nodes and sub-graphs that compute
#'   shapes (`Shape`, `Gather`, `Concat`, `Slice`, `Unsqueeze`, arithmetic,
#'   ...) are evaluated while reading.
#'
#' Anything else (another operator, 2-D convolutions, grouped convolutions,
#' recurrent layers, several inputs, weights in external files) is an error
#' that names the operator and the node; so is a file that is not a complete
#' ONNX model. These errors have class `cphap_onnx_error`.
#'
#' @param path Path to an `.onnx` file, or a raw vector holding its bytes.
#' @param input_length Length of the input series, needed when the file
#'   leaves it symbolic (a named dimension such as `"length"`); when given it
#'   also overrides a fixed length in the file.
#' @return A [cphap_model()]; its `onnx` element records the producer, opset
#'   and input layout of the file. Predictions of a model whose last layer is
#'   linear (logits) are turned into probabilities by
#'   `predict(type = "prob")`.
#' @seealso [cphap_model()] for the list format, [predict.cphap_model()].
#' @examples
#' f <- system.file("extdata", "gunpoint_cnn.onnx", package = "cphap")
#' if (file.exists(f)) {
#'   m <- read_onnx(f)
#'   print(m)
#' }
#' # A small network written with write_onnx() and read back
#' net <- list(input_dim = c(1, 8), layers = list(
#'   list(type = "Conv1D", weight = array(seq(-1, 1, length.out = 6), c(2, 1, 3)),
#'        bias = c(0, 0.1), activation_name = "relu"),
#'   list(type = "Flatten"),
#'   list(type = "Dense", weight = matrix(seq(-1, 1, length.out = 24), 2, 12),
#'        bias = c(0, 0.5))
#' ))
#' tmp <- tempfile(fileext = ".onnx")
#' write_onnx(cphap_model(net), tmp)
#' m2 <- read_onnx(tmp)
#' m2
#' x <- matrix(sin(1:16), 2, 8)
#' predict(m2, x, type = "output")
#' predict(m2, x, type = "prob") # softmax of the linear outputs
#' # The same file from its bytes
#' identical(predict(read_onnx(readBin(tmp, "raw", file.size(tmp))), x), predict(m2, x))
#' @export
read_onnx <- function(path, input_length = NULL) {
  check_whole(input_length, "input_length", min = 1, allow_null = TRUE)
  if (is.raw(path)) {
    bytes <- path
    source <- NULL
  } else {
    if (!is.character(path) || length(path) != 1L || is.na(path)) {
      onnx_stop("{.arg path} must be a single file path or a raw vector, not {.cls class(path)}.",
        call = NULL
      )
    }
    if (!file.exists(path) || dir.exists(path)) {
      onnx_stop("{.arg path}: file {.file path} does not exist.", call = NULL)
    }
    bytes <- readBin(path, "raw", file.size(path))
    source <- path
  }
  g <- onnx_decode(bytes, source)
  # a warning while translating means invalid values slipped through a check
  withCallingHandlers(onnx_translate(g, input_length, source), warning = function(w) {
    if (!inherits(w, "rlang_warning")) { # cphap's own warnings pass
      onnx_stop(c("The ONNX model holds invalid values.", x = conditionMessage(w)), formatted = TRUE)
    }
  })
}

onnx_decode <- function(bytes, source) {
  tryCatch(.Call(cp_onnx_decode_r, bytes), error = function(e) {
    what <- if (is.null(source)) "the bytes" else paste0("'", source, "'")
    onnx_stop(c(
      paste0("Cannot read ", what, " as an ONNX model: ", conditionMessage(e), "."),
      i = "Is it a complete .onnx file? A truncated download or another format gives this error."
    ), formatted = TRUE)
  })
}

# ---- translation state ----------------------------------------------------

# The translation keeps, per ONNX tensor name, either a constant
# list(kind = "const", v = values in C order, d = dims, int = integer type) or
# an activation list(kind = "act", node = cphap layer (0 = input), shape =
# ONNX shape without the batch axis, name = tensor name).
onnx_state <- function(g) {
  st <- new.env(parent = emptyenv())
  st$tensors <- new.env(parent = emptyenv())
  st$layers <- list()
  st$dims <- list()
  st$out_name <- character() # ONNX tensor directly produced by each layer
  st$opset <- onnx_opset(g)
  st$log_softmax <- NA_integer_
  st$uses <- onnx_uses(g$graph)
  st
}

onnx_opset <- function(g) {
  dom <- g$opset_domain
  v <- g$opset_version[dom %in% c("", "ai.onnx")]
  if (length(v) == 0L) {
    onnx_stop("The ONNX model imports no version of the default operator set.", call = NULL)
  }
  v <- max(v)
  if (v < 7) {
    onnx_stop("The ONNX model uses operator set {v}; cphap reads opsets 9 to 18 (re-export with a newer opset).",
      call = NULL
    )
  }
  v
}

# How often each tensor name is read (by nodes and as a graph output).
onnx_uses <- function(graph) {
  ins <- unlist(lapply(graph$nodes, function(nd) nd$input))
  outs <- vapply(graph$outputs, function(o) o$name, character(1))
  tab <- table(c(ins, outs))
  stats::setNames(as.integer(tab), names(tab))
}

n_uses <- function(st, name) {
  u <- st$uses[name]
  if (is.na(u)) 0L else unname(u)
}

set_tensor <- function(st, name, entry) {
  if (nzchar(name)) {
    entry$name <- name
    assign(name, entry, envir = st$tensors)
  }
  invisible(entry)
}

const_entry <- function(v, d = length(v), int = FALSE) {
  if (any(d > 1e9)) onnx_stop("A constant tensor has a dimension too large ({max(d)}).")
  list(kind = "const", v = as.double(v), d = as.integer(d), int = int)
}

# order: NULL when the tensor's values are laid out as the cphap layer
# computes them; else, for each value in the tensor's own (C) order, its
# position in the layer's output (e.g. a channels-last view of a series).
act_entry <- function(node, shape, order = NULL) {
  list(kind = "act", node = as.integer(node), shape = as.integer(shape), order = order)
}

# The entry seen through a transposition p of its axes (1-based, batch
# excluded): same layer, new shape and order.
transpose_entry <- function(e, p) {
  s <- e$shape
  s2 <- s[p]
  n <- prod(s)
  if (n > 0 && length(s) > 1L) {
    idx2 <- c_index(s2)
    idx1 <- matrix(0, nrow(idx2), length(s))
    idx1[, p] <- idx2
    f1 <- as.vector(idx1 %*% c_strides(s)) + 1
    ord <- if (is.null(e$order)) f1 else e$order[f1]
    e$order <- if (identical(as.numeric(ord), as.numeric(seq_len(n)))) NULL else as.integer(ord)
  }
  e$shape <- as.integer(s2)
  e
}

# Append a cphap layer fed by `inputs` (layer indices, 0 = input); returns
# its index.
emit_layer <- function(st, layer, inputs, dim_out, out_name = "") {
  layer$input_layers <- as.integer(inputs)
  n <- length(st$layers) + 1L
  st$layers[[n]] <- layer
  st$dims[[n]] <- as.integer(dim_out)
  st$out_name[n] <- out_name
  n
}

node_dims <- function(st, node) {
  if (node == 0L) st$input_dim else st$dims[[node]]
}

# ---- errors ---------------------------------------------------------------

# Errors of read_onnx(): class cphap_onnx_error, raised with stop() and
# formatted by a small subset of cli's inline markup ({x}, {.val x},
# {.field x}, {.code text}, {?s}). cli::cli_abort() costs tens of
# milliseconds per call, too slow for the mutation fuzzing of the reader.
onnx_stop <- function(bullets, call = NULL, .envir = parent.frame(), formatted = FALSE,
                      class = NULL) {
  lines <- if (formatted) bullets else vapply(bullets, onnx_format, character(1), env = .envir)
  nm <- names(bullets)
  if (!is.null(nm)) {
    mark <- c(i = "i ", x = "x ", "!" = "! ")[nm]
    lines <- ifelse(is.na(mark) | nm == "", lines, paste0(mark, lines))
  }
  cond <- structure(
    class = c(class, "cphap_onnx_error", "error", "condition"),
    list(message = paste(lines, collapse = "\n"), call = call)
  )
  stop(cond)
}

onnx_collapse <- function(v) {
  n <- length(v)
  if (n <= 1L) {
    return(paste(v, collapse = ""))
  }
  if (n == 2L) {
    return(paste(v, collapse = " and "))
  }
  paste0(paste(v[-n], collapse = ", "), ", and ", v[n])
}

onnx_format <- function(msg, env) {
  m <- gregexpr("\\{[^{}]*\\}", msg)[[1]]
  if (m[1] == -1L) {
    return(msg)
  }
  ends <- m + attr(m, "match.length") - 1L
  parts <- substring(msg, m, ends)
  pieces <- substring(msg, c(1L, ends + 1L), c(m - 1L, nchar(msg)))
  out <- pieces[1]
  last_n <- NULL
  for (k in seq_along(parts)) {
    p <- substr(parts[k], 2L, nchar(parts[k]) - 1L)
    style <- ""
    if (startsWith(p, ".")) {
      sp <- regexpr(" ", p, fixed = TRUE)
      style <- substr(p, 2L, sp - 1L)
      p <- substr(p, sp + 1L, nchar(p))
    }
    txt <- if (p == "?s") {
      if (length(last_n) == 1L && !is.na(last_n) && last_n == 1) "" else "s"
    } else if (style %in% c("code", "help", "fn", "arg")) {
      p
    } else {
      v <- eval(parse(text = p, keep.source = FALSE), env)
      if (is.numeric(v)) last_n <- v
      v <- if (is.numeric(v)) format(v, digits = 7L, trim = TRUE) else as.character(v)
      if (style == "val" && is.character(v)) v <- paste0("\"", v, "\"")
      onnx_collapse(v)
    }
    out <- paste0(out, txt, pieces[k + 1L])
  }
  out
}

node_label <- function(nd, k) {
  nm <- if (nzchar(nd$name)) paste0("'", nd$name, "'") else paste0("#", k)
  paste0(nm, " (", nd$op_type, ")")
}

onnx_abort <- function(ctx, msg, hint = NULL, .envir = parent.frame(), class = NULL) {
  bullets <- c(paste0("ONNX node ", ctx$label, ": ", onnx_format(msg, .envir)))
  if (!is.null(hint)) bullets <- c(bullets, i = onnx_format(hint, .envir))
  onnx_stop(bullets, formatted = TRUE, class = class)
}

# ---- the graph ----------------------------------------------------------------

onnx_translate <- function(g, input_length, source) {
  layouts <- "first"
  has_transpose <- any(vapply(g$graph$nodes, function(nd) nd$op_type == "Transpose", logical(1)))
  if (has_transpose) layouts <- c(layouts, "last")
  best <- NULL
  for (layout in layouts) {
    st <- onnx_state(g)
    res <- tryCatch(onnx_translate_as(st, g, input_length, source, layout),
      cphap_onnx_error = function(e) {
        attr(e, "reached") <- st$reached %||% 0L
        e
      }
    )
    if (inherits(res, "cphap_model")) {
      return(res)
    }
    if (is.null(best) || attr(res, "reached") > attr(best, "reached")) best <- res
    # channels last only helps when channels first met a transposed view
    if (!inherits(res, "cphap_onnx_layout")) break
  }
  stop(best)
}

# Translate with the input read channels first (as the file declares) or,
# for graphs that transpose it, channels last.
onnx_translate_as <- function(st, g, input_length, source, layout) {
  graph <- g$graph
  for (t in graph$initializers) {
    set_tensor(st, t$name, tensor_const(t, paste0("initializer '", t$name, "'")))
  }
  onnx_input(st, graph, input_length, layout)
  for (k in seq_along(graph$nodes)) {
    st$reached <- k
    onnx_node(st, graph$nodes[[k]], k)
  }
  st$reached <- length(graph$nodes) + 1L
  net <- onnx_output(st, graph)
  model <- tryCatch(cphap_model(net), error = function(e) {
    msg <- conditionMessage(e)
    onnx_stop(c("The ONNX graph translates to an invalid cphap network.", x = "{msg}"), call = NULL)
  })
  classes <- ow_read_classes(g$metadata, length(model$classes))
  if (!is.null(classes)) model$classes <- classes
  model$onnx <- list(
    producer = g$producer_name, producer_version = g$producer_version,
    opset = st$opset, ir_version = g$ir_version, graph = graph$name,
    input = st$input_name, channels_last = st$channels_last,
    log_softmax = !is.na(st$log_softmax), metadata = g$metadata,
    file = if (is.null(source)) NA_character_ else basename(source)
  )
  model
}

tensor_const <- function(t, what) {
  if (is.null(t$values)) {
    onnx_stop("The ONNX {what} has data type {t$data_type}, which cphap does not read (numbers only).",
      call = NULL
    )
  }
  int <- t$data_type %in% c(2:7, 9L, 12:13)
  const_entry(t$values, t$dims, int)
}

onnx_input <- function(st, graph, input_length, layout = "first") {
  init <- vapply(graph$initializers, function(t) t$name, character(1))
  inputs <- Filter(function(v) !v$name %in% init, graph$inputs)
  if (length(inputs) != 1L) {
    nms <- vapply(inputs, function(v) v$name, character(1))
    onnx_stop(c(
      "The ONNX graph has {length(inputs)} input{?s} ({.val nms}); cphap models take exactly one input series.",
      i = "Export the network with a single input tensor [batch, channels, length]."
    ), call = NULL)
  }
  v <- inputs[[1]]
  if (!v$elem_type %in% c(1L, 10L, 11L, 16L)) {
    onnx_stop("The ONNX graph input {.val v$name} has element type {v$elem_type}; cphap needs a floating-point input.",
      call = NULL
    )
  }
  d <- v$dims
  if (!v$has_shape || !length(d) %in% 2:3) {
    readers <- Filter(function(nd) v$name %in% nd$input, graph$nodes)
    by <- if (length(readers)) paste0(" (read by node ", node_label(readers[[1]], "?"), ")") else ""
    nd <- if (v$has_shape) length(d) else 0L
    onnx_stop(c(
      "The ONNX graph input {.val v$name}{by} has {if (nd) nd else 'no'} dimension{?s}; cphap needs [batch, channels, length] or [batch, length].",
      i = "Two-dimensional networks (images) are not supported; cphap reads one-dimensional (time-series) networks."
    ), call = NULL)
  }
  cl <- length(d) == 3L && layout == "last"
  time_axis <- if (length(d) == 2L || cl) 2L else 3L
  chan_axis <- if (length(d) == 2L) NA_integer_ else if (cl) 3L else 2L
  if (!is.na(chan_axis) && is.na(d[chan_axis])) {
    onnx_stop("The ONNX graph input {.val v$name} has a symbolic number of channels ({.val v$params[chan_axis]}); cphap needs it fixed.",
      call = NULL
    )
  }
  L <- d[time_axis]
  if (!is.null(input_length)) {
    L <- input_length
  } else if (is.na(L)) {
    p <- v$params[time_axis]
    onnx_stop(c(
      "The length of the ONNX graph input {.val v$name} is symbolic ({.val if (nzchar(p)) p else '?'}).",
      i = "Give it with {.code read_onnx(path, input_length = ...)}."
    ), call = NULL)
  }
  C <- if (is.na(chan_axis)) 1 else d[chan_axis]
  if (C > 1e6 || L > 1e8) {
    onnx_stop("The ONNX graph input {.val v$name} is too large ({C} channels x {L} points).")
  }
  st$input_dim <- as.integer(c(C, L))
  st$input_name <- v$name
  st$channels_last <- cl
  st$batch <- d[1] # NA when symbolic
  e <- act_entry(0L, if (length(d) == 2L) L else c(C, L))
  if (cl) e <- transpose_entry(e, c(2L, 1L))
  set_tensor(st, v$name, e)
}

onnx_output <- function(st, graph) {
  outs <- graph$outputs
  if (length(outs) != 1L) {
    onnx_stop("The ONNX graph has {length(outs)} outputs; cphap models have exactly one.",
      call = NULL
    )
  }
  name <- outs[[1]]$name
  e <- get0(name, envir = st$tensors, inherits = FALSE)
  if (is.null(e)) {
    onnx_stop("The ONNX graph output {.val name} is not produced by any node (a dangling name).",
      call = NULL
    )
  }
  if (e$kind != "act" || e$node == 0L) {
    onnx_stop("The ONNX graph output {.val name} does not depend on a network layer (it is a constant or the input itself).",
      call = NULL
    )
  }
  if (!is.null(e$order)) {
    onnx_stop("The ONNX graph output {.val name} is a transposed view of the network's last layer, which cphap cannot output.",
      class = "cphap_onnx_layout"
    )
  }
  if (!is.na(st$log_softmax) && st$log_softmax != e$node) {
    onnx_stop("A LogSoftmax that is not the output of the ONNX graph is not supported.", call = NULL)
  }
  keep <- c(setdiff(ancestors(list(layers = st$layers), e$node), 0L), e$node)
  remap <- integer(length(st$layers))
  remap[keep] <- seq_along(keep)
  layers <- lapply(keep, function(j) {
    l <- st$layers[[j]]
    l$input_layers <- ifelse(l$input_layers == 0L, 0L, remap[pmax(l$input_layers, 1L)])
    l
  })
  list(input_dim = st$input_dim, layers = layers)
}

# ---- nodes --------------------------------------------------------------------

onnx_node <- function(st, nd, k) {
  ctx <- list(label = node_label(nd, k), nd = nd, st = st)
  if (!nd$domain %in% c("", "ai.onnx")) {
    onnx_abort(ctx, "operator {.val nd$op_type} of the custom domain {.val nd$domain} is not supported.",
      "Export with standard ONNX operators only."
    )
  }
  unsupported <- names(nd$attr_types)[nd$attr_types %in% c("graph", "graphs", "other")]
  if (length(unsupported) > 0L && !nd$op_type %in% names(onnx_ops)) {
    onnx_abort(ctx, "operator {.val nd$op_type} (with sub-graphs) is not supported.")
  }
  ins <- lapply(nd$input, function(name) {
    if (!nzchar(name)) {
      return(NULL)
    }
    e <- get0(name, envir = st$tensors, inherits = FALSE)
    if (is.null(e)) {
      onnx_abort(ctx, "its input {.val name} is not produced by any earlier node, initializer or graph input (a dangling name, or nodes out of order).",
        "The file is inconsistent; re-export the model."
      )
    }
    e
  })
  ctx$ins <- ins
  given <- Filter(Negate(is.null), ins)
  all_const <- length(given) > 0L && all(vapply(given, function(e) e$kind == "const", logical(1)))
  op <- nd$op_type
  if (op == "Constant") {
    return(set_tensor(st, nd$output[1], op_constant(ctx)))
  }
  if (all_const && op %in% names(onnx_fold)) {
    need <- fold_arity[op]
    if (!is.na(need) && length(given) < need) onnx_abort(ctx, "needs {need} inputs, not {length(given)}.")
    return(set_tensor(st, nd$output[1], onnx_fold[[op]](ctx, given)))
  }
  if (!op %in% names(onnx_ops)) {
    onnx_abort(ctx, onnx_unsupported_msg(op),
      "Supported operators are listed in {.help cphap::read_onnx}."
    )
  }
  onnx_ops[[op]](ctx)
}

onnx_unsupported_msg <- function(op) {
  special <- c(
    LSTM = "recurrent layers (LSTM) are not supported; cphap explains convolutional and dense networks.",
    GRU = "recurrent layers (GRU) are not supported; cphap explains convolutional and dense networks.",
    RNN = "recurrent layers (RNN) are not supported; cphap explains convolutional and dense networks.",
    ConvTranspose = "transposed convolutions are not supported.",
    Concat = "concatenating network tensors is not supported (only constants can be concatenated)."
  )
  if (op %in% names(special)) special[[op]] else paste0("operator \"", op, "\" is not supported.")
}

# Attributes: ctx$nd$attributes[[name]], or a default.
attr_get <- function(ctx, name, default = NULL) {
  v <- ctx$nd$attributes[[name]]
  if (is.null(v)) {
    return(default)
  }
  if ((is.numeric(default) && !is.numeric(v)) || (is.character(default) && !is.character(v)) ||
    (is.numeric(v) && anyNA(v))) {
    onnx_abort(ctx, "attribute {.field name} has the wrong type or an invalid value.")
  }
  v
}

# An attribute that moved to an input in later opsets (axes, pads, ...).
attr_or_input <- function(ctx, name, input, default = NULL) {
  v <- attr_get(ctx, name)
  if (!is.null(v)) {
    return(v)
  }
  e <- in_at(ctx, input)
  if (is.null(e)) {
    return(default)
  }
  if (e$kind != "const") {
    onnx_abort(ctx, "its input {input} ({.field name}) must be a constant, but it is computed from the network input.")
  }
  e$v
}

# Input i of the node (NULL when absent or optional and not given).
in_at <- function(ctx, i) if (length(ctx$ins) >= i) ctx$ins[[i]] else NULL

# The activation input at position i (an error when it is a constant).
act_in <- function(ctx, i = 1L) {
  e <- in_at(ctx, i)
  if (is.null(e)) onnx_abort(ctx, "input {i} is missing.")
  if (e$kind != "act") {
    onnx_abort(ctx, "input {i} ({.val e$name}) is a constant; cphap expects the network tensor here.")
  }
  e
}

# A constant input at position i (NULL when optional and absent).
const_in <- function(ctx, i, what, optional = FALSE) {
  e <- in_at(ctx, i)
  if (is.null(e)) {
    if (optional) {
      return(NULL)
    }
    onnx_abort(ctx, "its {what} (input {i}) is missing.")
  }
  if (e$kind != "const") {
    onnx_abort(ctx, "its {what} ({.val e$name}) must be a constant (an initializer), but it is computed from the network input.")
  }
  if (anyNA(e$v)) onnx_abort(ctx, "its {what} ({.val e$name}) depends on the batch size.")
  e
}

# Outputs beyond the first must be unused (MaxPool indices, Dropout mask, ...).
only_first_output <- function(ctx) {
  extra <- ctx$nd$output[-1]
  extra <- extra[nzchar(extra)]
  used <- extra[vapply(extra, function(n) n_uses(ctx$st, n) > 0L, logical(1))]
  if (length(used) > 0L) {
    onnx_abort(ctx, "its extra output {.val used} is used by the graph; cphap supports only the main output.")
  }
}

# Make the cphap layer behind activation e have dims `want` (c(C, L)),
# inserting a Flatten when the values are only laid out differently. plain:
# the operator needs the tensor in the layer's own order (series
# operators), not a transposed view.
need_dims <- function(ctx, e, want, plain = TRUE) {
  if (plain && !is.null(e$order)) {
    onnx_abort(ctx, "its input is a transposed view of a series (for example channels last, [batch, length, channels]); this operator needs [batch, channels, length].",
      "cphap reads a transposition of the input or of flattened features only.",
      class = "cphap_onnx_layout"
    )
  }
  st <- ctx$st
  have <- node_dims(st, e$node)
  want <- as.integer(want)
  if (identical(have, want)) {
    return(e)
  }
  if (want[2] == 1L && prod(have) == want[1]) {
    node <- emit_layer(st, list(type = "Flatten"), e$node, want)
    e$node <- node
    return(e)
  }
  onnx_abort(ctx, "its input has shape {shape_text(e$shape)} but the values are laid out as {have[1]} channel{?s} x {have[2]} point{?s}; reshapes that move values between the channel and time axes are not supported.")
}

# The series behind a 1-D operator's input: c(channels, length). With
# two_d, a 2-D operator on [batch, channels, 1, length] (how tf2onnx writes
# 1-D layers) is read as 1-D.
series_shape <- function(ctx, e, what = "a [batch, channels, length] input", two_d = FALSE) {
  s <- e$shape
  if (two_d && length(s) == 3L && s[2] == 1L) {
    return(s[c(1L, 3L)])
  }
  if (length(s) == 3L || two_d) {
    onnx_abort(ctx, "its input has 2-D spatial shape {shape_text(s)}; two-dimensional layers are not supported (only a height of one).",
      "cphap reads one-dimensional (time-series) networks."
    )
  }
  if (length(s) != 2L) {
    onnx_abort(ctx, "needs {what}, got shape {shape_text(s)}.")
  }
  s
}

# One line on where a model read by read_onnx() came from (print method).
onnx_origin <- function(o) {
  prod <- if (nzchar(o$producer)) paste0(" by ", trimws(paste(o$producer, o$producer_version))) else ""
  file <- if (!is.na(o$file)) paste0(" ", o$file) else ""
  extra <- c(
    if (isTRUE(o$channels_last)) "channels-last input transposed: give series channels first",
    if (isTRUE(o$log_softmax)) "LogSoftmax output read as softmax"
  )
  paste0(
    "Read from ONNX", file, " (written", prod, ", opset ", o$opset, ")",
    if (length(extra)) paste0("; ", paste(extra, collapse = "; ")) else ""
  )
}
