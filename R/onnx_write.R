# Writing a cphap_model as an ONNX file: a small protobuf encoder in R
# (varints and length-delimited fields on raw vectors) and the translation of
# every layer type of the list format to ONNX operators.

#' Write a network as an ONNX file
#'
#' `write_onnx()` saves any [cphap_model()] (for example one trained by
#' [fit_model()]) in the ONNX exchange format, so that a network built or
#' trained in R can be run by ONNX Runtime, converted to other frameworks or
#' read back with [read_onnx()]. Nothing but base R is needed.
#'
#' The graph has one input, `"input"`, of shape `[N, C, L]` (channels first,
#' `N` symbolic: any batch size) and one output, `"output"`, `[N, n_out]`
#' when the network ends in a dense, flatten or global pooling layer. Layers
#' map to operators as follows: `Conv1D` to Conv (with its stride,
#' dilation and left/right padding) followed by its activation, `Dense` to
#' Gemm (after a Flatten when its input still has a time axis),
#' `MaxPooling1D` / `AveragePooling1D` to MaxPool / AveragePool,
#' `GlobalPooling` to GlobalAveragePool / GlobalMaxPool and Flatten,
#' `BatchNorm` to BatchNormalization, `Flatten` to Flatten, `Add` to Add,
#' `Padding` to Pad, `Skipping` to Dropout with the layer's rate (Identity
#' when it has none), and activations to Relu, LeakyRelu (its slope), Tanh,
#' Sigmoid, Softplus and Softmax (over the features).
#'
#' ONNX stores some attributes in single precision whatever `dtype` is. In a
#' `"float64"` file a batch-norm `eps` that single precision cannot hold
#' exactly (such as the default 1e-5) is added to the stored running variance
#' and written as 0, so that the file computes exactly what the model does;
#' the slope of a leaky ReLU is written in single precision (0.01 becomes
#' 0.0099999998).
#'
#' The model's class labels are stored in the file's metadata under the key
#' `"cphap.classes"` (a JSON array of strings); [read_onnx()] restores them.
#'
#' @param model A [cphap_model()] or a network list accepted by it.
#' @param path File to write.
#' @param dtype Element type of the weights, input and output: `"float32"`
#'   (what most runtimes expect; weights are rounded to single precision) or
#'   `"float64"` (exact).
#' @param opset ONNX operator set version, 11 to 18.
#' @return `path`, invisibly.
#' @seealso [read_onnx()] for the way in.
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 2, channels = c(4, 8, 8), kernels = c(5, 3, 3),
#'                           strides = c(1, 1, 1), pool_sizes = c(2, 2, 2),
#'                           pool_strides = c(2, 2, 2)))
#' f <- write_onnx(m, tempfile(fileext = ".onnx"), dtype = "float64")
#' file.size(f)
#' # read back: the same network, the same outputs
#' back <- read_onnx(f)
#' x <- matrix(rnorm(3 * 64), 3, 64)
#' identical(predict(back, x, type = "prob"), predict(m, x, type = "prob"))
#' @export
write_onnx <- function(model, path, dtype = c("float32", "float64"), opset = 13) {
  model <- check_model(model)
  if (!is.character(path) || length(path) != 1L || is.na(path) || !nzchar(path)) {
    cli::cli_abort("{.arg path} must be a single file name, not {.val {format_value(path)}}.",
      call = NULL
    )
  }
  if (!dir.exists(dirname(path))) {
    cli::cli_abort("{.arg path}: the directory {.file {dirname(path)}} does not exist.", call = NULL)
  }
  dtype <- ow_choice(dtype, c("float32", "float64"), "dtype")
  opset <- check_whole(opset, "opset", 11, 18)
  bytes <- ow_model_bytes(model, dtype, opset)
  con <- file(path, "wb")
  on.exit(close(con))
  writeBin(bytes, con)
  invisible(path)
}

ow_choice <- function(x, choices, arg) {
  if (identical(x, choices)) {
    return(choices[1])
  }
  if (!is.character(x) || length(x) != 1L || !x %in% choices) {
    cli::cli_abort("{.arg {arg}} must be one of {.val {choices}}, not {.val {format_value(x)}}.",
      call = NULL
    )
  }
  x
}

# ---------------------------------------------------------------------------
# Protobuf wire format
# ---------------------------------------------------------------------------

# A whole number in [-2^63, 2^63) as the two unsigned 32-bit halves (hi, lo)
# of its 64-bit two's complement (exact for |v| <= 2^53).
ow_split64 <- function(v) {
  a <- abs(v)
  hi <- floor(a / 2^32)
  lo <- a - hi * 2^32
  if (v < 0) {
    lo <- (2^32 - lo) %% 2^32
    hi <- (2^32 - hi - (lo != 0)) %% 2^32
  }
  c(hi, lo)
}

# Varint of one whole number; negative values as their 64-bit two's
# complement (ten bytes), as protobuf writes int64.
ow_varint <- function(v) {
  hl <- ow_split64(as.double(v))
  hi <- hl[1]
  lo <- hl[2]
  out <- raw(0)
  repeat {
    b <- lo %% 128
    lo <- (lo - b) / 128 + (hi %% 128) * 2^25
    hi <- floor(hi / 128)
    if (hi == 0 && lo == 0) {
      return(c(out, as.raw(b)))
    }
    out <- c(out, as.raw(b + 128))
  }
}

ow_key <- function(field, wire) ow_varint(field * 8 + wire)

ow_f_varint <- function(field, v) c(ow_key(field, 0), ow_varint(v))

# Repeated integers, one key per value (proto2's unpacked form, which every
# ONNX reader accepts).
ow_f_varints <- function(field, v) {
  unlist(lapply(as.double(v), function(x) ow_f_varint(field, x)), use.names = FALSE)
}

ow_f_bytes <- function(field, bytes) c(ow_key(field, 2), ow_varint(length(bytes)), bytes)

ow_f_string <- function(field, s) ow_f_bytes(field, charToRaw(enc2utf8(s)))

ow_f_float32 <- function(field, v) {
  c(ow_key(field, 5), writeBin(as.double(v), raw(), size = 4L, endian = "little"))
}

# Little-endian int64 bytes of whole numbers (exact up to 2^53 in magnitude).
ow_int64_bytes <- function(v) {
  hl <- vapply(as.double(v), ow_split64, numeric(2))
  s32 <- function(u) as.integer(ifelse(u >= 2^31, u - 2^32, u))
  writeBin(s32(as.vector(hl[2:1, , drop = FALSE])), raw(), size = 4L, endian = "little")
}

# ---------------------------------------------------------------------------
# ONNX messages (field numbers of onnx.proto)
# ---------------------------------------------------------------------------

ow_elem_type <- c(float32 = 1L, int64 = 7L, float64 = 11L)

# TensorProto: dims 1, data_type 2, name 8, raw_data 9. `values` in row-major
# (C) order.
ow_tensor <- function(name, values, dims, type) {
  data <- switch(type,
    float32 = writeBin(as.double(values), raw(), size = 4L, endian = "little"),
    float64 = writeBin(as.double(values), raw(), size = 8L, endian = "little"),
    int64 = ow_int64_bytes(values)
  )
  c(
    ow_f_varints(1, dims), ow_f_varint(2, ow_elem_type[[type]]),
    ow_f_string(8, name), ow_f_bytes(9, data)
  )
}

# AttributeProto: name 1, f 2, i 3, floats 7, ints 8, type 20
# (FLOAT 1, INT 2, FLOATS 6, INTS 7).
ow_attr_int <- function(name, v) c(ow_f_string(1, name), ow_f_varint(3, v), ow_f_varint(20, 2))
ow_attr_ints <- function(name, v) c(ow_f_string(1, name), ow_f_varints(8, v), ow_f_varint(20, 7))
ow_attr_float <- function(name, v) {
  c(ow_f_string(1, name), ow_f_float32(2, v), ow_f_varint(20, 1))
}

# NodeProto: input 1, output 2, name 3, op_type 4, attribute 5.
ow_node <- function(op, inputs, output, name, attrs = list()) {
  c(
    unlist(lapply(inputs, function(s) ow_f_string(1, s)), use.names = FALSE),
    ow_f_string(2, output), ow_f_string(3, name), ow_f_string(4, op),
    unlist(lapply(attrs, function(a) ow_f_bytes(5, a)), use.names = FALSE)
  )
}

# ValueInfoProto (name 1, type 2) of a tensor: TypeProto.tensor_type 1 ->
# elem_type 1, shape 2 -> dim 1 -> dim_value 1 / dim_param 2.
ow_value_info <- function(name, type, dims) {
  dim_msgs <- lapply(dims, function(d) {
    if (is.character(d)) ow_f_string(2, d) else ow_f_varint(1, d)
  })
  shape <- unlist(lapply(dim_msgs, function(d) ow_f_bytes(1, d)), use.names = FALSE)
  tensor_type <- c(ow_f_varint(1, ow_elem_type[[type]]), ow_f_bytes(2, shape))
  c(ow_f_string(1, name), ow_f_bytes(2, ow_f_bytes(1, tensor_type)))
}

# IR version that goes with an operator set.
ow_ir_version <- function(opset) {
  if (opset <= 11L) 6L else if (opset <= 14L) 7L else 8L
}

# ---------------------------------------------------------------------------
# The graph
# ---------------------------------------------------------------------------

# A builder collecting nodes and initializers; `rank` remembers whether each
# tensor is [N, C, L] (3) or [N, features] (2).
ow_builder <- function(dtype, opset) {
  b <- new.env(parent = emptyenv())
  b$dtype <- dtype
  b$opset <- opset
  b$nodes <- list()
  b$inits <- list()
  b$rank <- c(input = 3L)
  b
}

ow_emit <- function(b, op, inputs, output, attrs = list(), rank = 3L) {
  k <- length(b$nodes) + 1L
  b$nodes[[k]] <- ow_node(op, inputs, output, paste0(op, "_", k), attrs)
  b$rank[[output]] <- rank
  output
}

ow_init <- function(b, name, values, dims, type = b$dtype) {
  b$inits[[name]] <- ow_tensor(name, values, dims, type)
  name
}

# A tensor as [N, C, L]: a flat [N, F] is read as F channels of length 1.
ow_as3 <- function(b, x) {
  out <- paste0(x, "_ncl")
  if (b$rank[[x]] == 3L || out %in% names(b$rank)) {
    return(if (b$rank[[x]] == 3L) x else out)
  }
  shape <- ow_init(b, "shape_ncl1", c(0, -1, 1), 3L, "int64")
  ow_emit(b, "Reshape", c(x, shape), out)
}

ow_flatten <- function(b, x, out) ow_emit(b, "Flatten", x, out, list(ow_attr_int("axis", 1)), 2L)

# The nodes of an activation from tensor x to tensor out.
ow_activation <- function(b, act, x, out, slope) {
  rank <- b$rank[[x]]
  switch(act,
    linear = ow_emit(b, "Identity", x, out, rank = rank),
    relu = ow_emit(b, "Relu", x, out, rank = rank),
    leaky_relu = ow_emit(b, "LeakyRelu", x, out, list(ow_attr_float("alpha", slope)), rank),
    tanh = ow_emit(b, "Tanh", x, out, rank = rank),
    sigmoid = ow_emit(b, "Sigmoid", x, out, rank = rank),
    softplus = ow_emit(b, "Softplus", x, out, rank = rank),
    softmax = ow_emit(b, "Softmax", x, out, list(ow_attr_int("axis", 1)), rank)
  )
}

# A weighted layer's own operator, then its activation (when not linear).
ow_then_act <- function(b, emit_main, l, out) {
  act <- l$activation_name %||% "linear"
  if (act == "linear") {
    return(emit_main(out))
  }
  pre <- emit_main(paste0(out, "_pre"))
  ow_activation(b, act, pre, out, l$negative_slope %||% 0.01)
}

ow_layer_conv <- function(b, l, x, out, id) {
  x <- ow_as3(b, x)
  w <- ow_init(b, paste0(id, ".weight"), aperm(l$weight, 3:1), dim(l$weight))
  bias <- ow_init(b, paste0(id, ".bias"), l$bias, length(l$bias))
  attrs <- list(
    ow_attr_ints("kernel_shape", dim(l$weight)[3]), ow_attr_ints("strides", l$stride),
    ow_attr_ints("dilations", l$dilation), ow_attr_ints("pads", l$padding),
    ow_attr_int("group", 1)
  )
  ow_then_act(b, function(o) ow_emit(b, "Conv", c(x, w, bias), o, attrs), l, out)
}

ow_layer_dense <- function(b, l, x, out, id) {
  if (b$rank[[x]] == 3L) x <- ow_flatten(b, x, paste0(id, "_flat"))
  w <- ow_init(b, paste0(id, ".weight"), t(l$weight), dim(l$weight))
  bias <- ow_init(b, paste0(id, ".bias"), l$bias, length(l$bias))
  attrs <- list(ow_attr_int("transB", 1))
  ow_then_act(b, function(o) ow_emit(b, "Gemm", c(x, w, bias), o, attrs, 2L), l, out)
}

ow_layer_bn <- function(b, l, x, out, id) {
  var <- l$run_var
  eps <- l$eps
  if (b$dtype == "float64" && ow_single(eps) != eps) {
    # single precision cannot hold eps: fold it into the variance, exactly
    var <- var + eps
    eps <- 0
  }
  ins <- c(
    x, ow_init(b, paste0(id, ".gamma"), l$gamma, length(var)),
    ow_init(b, paste0(id, ".beta"), l$beta, length(var)),
    ow_init(b, paste0(id, ".running_mean"), l$run_mean, length(var)),
    ow_init(b, paste0(id, ".running_var"), var, length(var))
  )
  ow_emit(b, "BatchNormalization", ins, out, list(ow_attr_float("epsilon", eps)),
    b$rank[[x]]
  )
}

ow_layer_dropout <- function(b, l, x, out, id) {
  rank <- b$rank[[x]]
  if (is.na(l$rate)) {
    return(ow_emit(b, "Identity", x, out, rank = rank))
  }
  if (b$opset < 12L) {
    return(ow_emit(b, "Dropout", x, out, list(ow_attr_float("ratio", l$rate)), rank))
  }
  ratio <- ow_init(b, paste0(id, ".ratio"), l$rate, integer(0))
  ow_emit(b, "Dropout", c(x, ratio), out, rank = rank)
}

ow_layer_pad <- function(b, l, x, out, id) {
  x <- ow_as3(b, x)
  pads <- ow_init(b, paste0(id, ".pads"), c(0, 0, l$padding[1], 0, 0, l$padding[2]), 6L, "int64")
  value <- ow_init(b, paste0(id, ".value"), l$value, integer(0))
  ow_emit(b, "Pad", c(x, pads, value), out, list(ow_attr_string_mode()))
}

ow_attr_string_mode <- function() {
  c(ow_f_string(1, "mode"), ow_f_bytes(4, charToRaw("constant")), ow_f_varint(20, 3))
}

ow_layer_add <- function(b, xs, out) {
  ranks <- vapply(xs, function(x) b$rank[[x]], integer(1))
  if (any(ranks != ranks[1])) xs <- vapply(xs, function(x) ow_as3(b, x), character(1))
  acc <- xs[1]
  for (j in seq_along(xs)[-1]) {
    o <- if (j == length(xs)) out else paste0(out, "_sum", j)
    acc <- ow_emit(b, "Add", c(acc, xs[j]), o, rank = b$rank[[xs[1]]])
  }
  acc
}

# Nodes of layer i of the model reading tensors `xs`, ending in tensor `out`.
ow_layer <- function(b, l, xs, out, id) {
  x <- xs[1]
  switch(l$type,
    Conv1D = ow_layer_conv(b, l, x, out, id),
    Dense = ow_layer_dense(b, l, x, out, id),
    MaxPooling1D = ,
    AveragePooling1D = {
      op <- if (l$type == "MaxPooling1D") "MaxPool" else "AveragePool"
      attrs <- list(ow_attr_ints("kernel_shape", l$kernel_size), ow_attr_ints("strides", l$strides))
      ow_emit(b, op, ow_as3(b, x), out, attrs)
    },
    GlobalPooling = {
      op <- if (l$method == "max") "GlobalMaxPool" else "GlobalAveragePool"
      pooled <- ow_emit(b, op, ow_as3(b, x), paste0(out, "_pool"))
      ow_flatten(b, pooled, out)
    },
    BatchNorm = ow_layer_bn(b, l, x, out, id),
    Flatten = ow_flatten(b, x, out),
    Activation = {
      act <- if (is.null(l$act_name) || is.na(l$act_name)) "linear" else l$act_name
      ow_activation(b, act, x, out, l$negative_slope %||% 0.01)
    },
    Add = ow_layer_add(b, xs, out),
    Padding = ow_layer_pad(b, l, x, out, id),
    Skipping = ow_layer_dropout(b, l, x, out, id)
  )
}

ow_graph_bytes <- function(model, dtype, opset) {
  b <- ow_builder(dtype, opset)
  layers <- model$layers
  n <- length(layers)
  outs <- character(n)
  for (i in seq_len(n)) {
    l <- layers[[i]]
    xs <- ifelse(l$input_layers == 0L, "input", outs[pmax(l$input_layers, 1L)])
    id <- paste0("layer", i)
    outs[i] <- if (i == n) "output" else id
    ow_layer(b, l, xs, outs[i], id)
  }
  out_dims <- if (b$rank[["output"]] == 2L) {
    list("batch", prod(layers[[n]]$dim_out))
  } else {
    list("batch", layers[[n]]$dim_out[1], layers[[n]]$dim_out[2])
  }
  c(
    unlist(lapply(b$nodes, function(x) ow_f_bytes(1, x)), use.names = FALSE),
    ow_f_string(2, "cphap"),
    unlist(lapply(b$inits, function(x) ow_f_bytes(5, x)), use.names = FALSE),
    ow_f_bytes(11, ow_value_info("input", dtype, c(list("batch"), as.list(model$input_dim)))),
    ow_f_bytes(12, ow_value_info("output", dtype, out_dims))
  )
}

# A JSON array of strings (backslash, quote and control characters escaped).
ow_json_strings <- function(s) {
  esc <- vapply(enc2utf8(s), function(x) {
    cp <- utf8ToInt(x)
    parts <- vapply(cp, function(k) {
      if (k == 92L) {
        "\\\\"
      } else if (k == 34L) {
        "\\\""
      } else if (k < 32L) {
        sprintf("\\u%04x", k)
      } else {
        intToUtf8(k)
      }
    }, character(1))
    paste(parts, collapse = "")
  }, character(1), USE.NAMES = FALSE)
  paste0("[", paste0("\"", esc, "\"", collapse = ","), "]")
}

# ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7,
# opset_import 8 (domain 1, version 2), metadata_props 14 (key 1, value 2).
ow_model_bytes <- function(model, dtype, opset) {
  meta <- if (length(model$classes)) {
    ow_f_bytes(14, c(ow_f_string(1, "cphap.classes"), ow_f_string(2, ow_json_strings(model$classes))))
  }
  c(
    ow_f_varint(1, ow_ir_version(opset)), ow_f_string(2, "cphap"),
    ow_f_string(3, as.character(utils::packageVersion("cphap"))),
    ow_f_bytes(7, ow_graph_bytes(model, dtype, opset)),
    ow_f_bytes(8, c(ow_f_string(1, ""), ow_f_varint(2, opset))),
    meta
  )
}

# Single-precision value of a double (what a FLOAT attribute holds).
ow_single <- function(v) {
  readBin(writeBin(as.double(v), raw(), size = 4L), "double", length(v), size = 4L)
}

# The model as an ONNX file of it computes: leaky-ReLU slopes rounded to
# single precision (ONNX's LeakyRelu alpha is a float attribute). Used by
# the tests and tools/write_onnx_models.R.
ow_as_written <- function(model) {
  l <- as.list(model)
  l$layers <- lapply(l$layers, function(ly) {
    if (!is.null(ly$negative_slope)) ly$negative_slope <- ow_single(ly$negative_slope)
    ly
  })
  cphap_model(l, classes = model$classes)
}

# Class labels from a file's metadata (key "cphap.classes", a JSON array of
# strings, as write_onnx() stores them): a character vector of n_out labels,
# or NULL when the key is absent. A malformed value or one with the wrong
# number of labels is ignored with a warning.
ow_read_classes <- function(metadata, n_out) {
  v <- metadata[names(metadata) == "cphap.classes"]
  if (length(v) == 0L) {
    return(NULL)
  }
  labels <- ow_parse_json_strings(v[[1]])
  if (is.null(labels) || length(labels) != n_out) {
    cli::cli_warn(c(
      "The file's metadata {.val cphap.classes} does not hold {n_out} class label{?s}; the labels are ignored.",
      i = "Give them with {.code model$classes <- ...} if needed."
    ), call = NULL)
    return(NULL)
  }
  labels
}

# A JSON array of strings -> character vector (NULL when it is not one).
ow_parse_json_strings <- function(s) {
  s <- trimws(s)
  if (!grepl("^\\[.*\\]$", s)) {
    return(NULL)
  }
  body <- trimws(substr(s, 2L, nchar(s) - 1L))
  if (!nzchar(body)) {
    return(character(0))
  }
  item <- "\"((?:[^\"\\\\]|\\\\.)*)\""
  if (!grepl(paste0("^", item, "(\\s*,\\s*", item, ")*$"), body, perl = TRUE)) {
    return(NULL)
  }
  m <- regmatches(body, gregexpr(item, body, perl = TRUE))[[1]]
  vapply(substr(m, 2L, nchar(m) - 1L), ow_json_unescape, character(1), USE.NAMES = FALSE)
}

ow_json_unescape <- function(x) {
  out <- character(0)
  i <- 1L
  chars <- strsplit(x, "", fixed = TRUE)[[1]]
  while (i <= length(chars)) {
    ch <- chars[i]
    if (ch == "\\" && i < length(chars)) {
      nx <- chars[i + 1L]
      if (nx == "u" && i + 5L <= length(chars)) {
        out <- c(out, intToUtf8(strtoi(paste(chars[i + 2:5], collapse = ""), 16L)))
        i <- i + 6L
        next
      }
      out <- c(out, switch(nx, n = "\n", t = "\t", r = "\r", b = "\b", f = "\f", nx))
      i <- i + 2L
      next
    }
    out <- c(out, ch)
    i <- i + 1L
  }
  enc2native(paste(out, collapse = ""))
}
