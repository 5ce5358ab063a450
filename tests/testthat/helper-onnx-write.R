# Helpers for the write_onnx() tests (also sourced by tools/write_onnx_models.R).

# A network using every layer type and the writer's less common paths: a
# Padding layer with a non-zero value, batch norm with eps 1e-3, an Add of
# three branches, a dropout without a rate, a linear Activation, global max
# pooling followed by a convolution (a flat tensor read as [C, 1]).
onnx_kitchen_sink <- function(seed = 3) {
  set.seed(seed)
  w <- function(o, i, k) array(rnorm(o * i * k, sd = 1 / sqrt(i * k)), c(o, i, k))
  list(
    input_dim = c(2L, 30L),
    layers = list(
      list(type = "Padding", padding = c(2L, 1L), value = 0.5, input_layers = 0L),
      list(type = "Conv1D", weight = w(4, 2, 3), bias = rnorm(4), activation_name = "linear",
           stride = 1L, dilation = 1L),
      list(type = "BatchNorm", num_features = 4L, eps = 1e-3, gamma = runif(4, 0.5, 1.5),
           beta = rnorm(4, sd = 0.2), run_mean = rnorm(4, sd = 0.3), run_var = runif(4, 0.5, 2)),
      list(type = "Activation", act_name = "softplus"),
      list(type = "Skipping"),
      list(type = "Conv1D", weight = w(4, 4, 1), bias = rnorm(4), activation_name = "relu",
           input_layers = 5L),
      list(type = "Conv1D", weight = w(4, 4, 3), bias = rnorm(4), activation_name = "tanh",
           padding = c(1L, 1L), input_layers = 5L),
      list(type = "Add", input_layers = c(5L, 6L, 7L)),
      list(type = "AveragePooling1D", kernel_size = 2L, strides = 2L),
      list(type = "Activation", act_name = "linear"),
      list(type = "GlobalPooling", method = "max"),
      list(type = "Conv1D", weight = w(3, 4, 1), bias = rnorm(3), activation_name = "sigmoid"),
      list(type = "Dense", weight = matrix(rnorm(6), 2, 3), bias = rnorm(2),
           activation_name = "softmax")
    )
  )
}

# A small protobuf decoder (wire format only): the fields of one message as a
# list of list(field, wire, value); value is a number (varint, fixed32 as
# float) or a raw vector (length-delimited). Varints beyond 2^53 are not
# needed here.
pb_fields <- function(bytes) {
  out <- list()
  pos <- 1L
  varint <- function() {
    v <- 0
    mult <- 1
    repeat {
      b <- as.integer(bytes[pos])
      pos <<- pos + 1L
      v <- v + (b %% 128) * mult
      mult <- mult * 128
      if (b < 128) return(v)
    }
  }
  while (pos <= length(bytes)) {
    key <- varint()
    field <- key %/% 8
    wire <- key %% 8
    value <- switch(as.character(wire),
      "0" = varint(),
      "2" = {
        len <- varint()
        v <- bytes[seq_len(len) + pos - 1L]
        pos <- pos + len
        v
      },
      "5" = {
        v <- readBin(bytes[pos:(pos + 3L)], "double", size = 4L, endian = "little")
        pos <- pos + 4L
        v
      },
      stop("unexpected wire type ", wire)
    )
    out[[length(out) + 1L]] <- list(field = field, wire = wire, value = value)
  }
  out
}

# Values of field `f` of a decoded message.
pb_get <- function(fields, f) {
  lapply(Filter(function(e) e$field == f, fields), function(e) e$value)
}

pb_string <- function(fields, f) vapply(pb_get(fields, f), rawToChar, character(1))
