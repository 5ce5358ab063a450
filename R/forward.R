# Inputs, forward pass, predictions, activations, receptive fields.

#' Check and shape input series for a model
#'
#' Accepts a numeric matrix `[n, L]` (one channel), an array `[n, C, L]`, a
#' single series as a numeric vector (one-channel models) or a `cphap_data`
#' object (its `x`). Errors name the argument and what was expected.
#'
#' @param x Input series.
#' @param model A [cphap_model()] whose input shape `x` must fit.
#' @param arg Name of the argument, for error messages.
#' @param reshape `FALSE` keeps a one-channel matrix `[n, L]` as it is (same memory
#'   layout as `[n, 1, L]`), for callers that only pass `x` to C.
#' @return A double array `[n, C, L]` (or the matrix, see `reshape`).
#' @keywords internal
#' @noRd
as_input <- function(x, model, arg = "x", reshape = TRUE) {
  if (inherits(x, "cphap_data")) x <- x$x
  if (is.data.frame(x)) x <- data_frame_series(x, arg)
  C <- model$input_dim[1]
  L <- model$input_dim[2]
  if (is.null(x) || !(is.numeric(x) || is.logical(x) && all(is.na(x)))) {
    cli::cli_abort("{.arg {arg}} must be numeric series, not {.cls {class(x)}}.", call = NULL)
  }
  d <- dim(x)
  if (is.null(d)) {
    if (C != 1L) {
      cli::cli_abort("{.arg {arg}}: a vector is one series of one channel, but the model expects {C} channels; give an array [n, {C}, {L}].",
        call = NULL
      )
    }
    d <- c(1L, length(x))
    dim(x) <- d
  }
  if (length(d) == 2L) {
    if (C != 1L) {
      cli::cli_abort("{.arg {arg}}: a matrix holds one-channel series, but the model expects {C} channels; give an array [n, {C}, {L}].",
        call = NULL
      )
    }
    # a matrix [n, L] has the memory layout of an array [n, 1, L]: callers
    # that only hand x to C (reshape = FALSE) keep it, without a copy
    d <- c(d[1], 1L, d[2])
    if (reshape) {
      x <- array(x, d, dimnames = if (!is.null(rownames(x))) list(rownames(x), NULL, NULL))
    }
  }
  if (length(d) != 3L) {
    cli::cli_abort("{.arg {arg}} must be a matrix [n, length] or an array [n, channels, length], not an array with {length(d)} dimensions.",
      call = NULL
    )
  }
  if (d[1] == 0L) {
    cli::cli_abort("{.arg {arg}} has no samples (zero rows).", call = NULL)
  }
  if (d[2] != C || d[3] != L) {
    cli::cli_abort("{.arg {arg}} has shape {d[2]} channel{?s} x {d[3]} points but the model expects {C} x {L}.",
      call = NULL
    )
  }
  # anyNA(), min() and max() allocate nothing the size of x (range() copies)
  if (anyNA(x) || !is.finite(min(x)) || !is.finite(max(x))) {
    bad <- array(!is.finite(x), d)
    first <- which(apply(bad, 1L, any))[1]
    cli::cli_abort("{.arg {arg}} contains NA, NaN or infinite values (first in sample {first}).",
      call = NULL
    )
  }
  if (!is.double(x)) storage.mode(x) <- "double"
  x
}

# Run the network; returns one array [n, C_j, L_j] per requested node,
# written by C straight into its final layout. conv: the convolution mode
# (0 direct, 1 auto, 2 FFT; see cphap_conv()).
forward_nodes <- function(model, x, nodes, conv = cphap_conv()) {
  .Call(cp_forward_r, model$spec, x, as.integer(nodes - 1L), cphap_threads(), conv)
}

#' Predict classes, probabilities or raw outputs
#'
#' @param object A [cphap_model()].
#' @param newdata Series: a matrix `[n, L]`, an array `[n, C, L]` or a
#'   `cphap_data` object.
#' @param type `"class"` (a factor of the class with the largest output),
#'   `"prob"` (a matrix `[n, classes]` of probabilities) or `"output"` (the
#'   network's raw output, e.g. logits).
#' @param ... Unused.
#' @details `type = "prob"` gives probabilities for every model: when the
#'   network ends in a softmax (or a sigmoid) its output is returned as is;
#'   otherwise, as for networks that end in a linear layer (logits, like every
#'   PyTorch classifier trained with a cross-entropy loss), a softmax over the
#'   outputs is applied. Use `type = "output"` for the values the network
#'   computes. The predicted class is the same in all cases. The
#'   convolutions run as set by the option `cphap.conv` (see the section
#'   "Convolution algorithm" of [activations()]).
#' @return A factor or a numeric matrix `[n, classes]`.
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' x <- matrix(rnorm(5 * 64), 5, 64)
#' predict(m, x)
#' predict(m, x, type = "prob")
#' predict(m, x, type = "output")
#' @export
predict.cphap_model <- function(object, newdata, type = c("class", "prob", "output"), ...) {
  object <- check_model(object, "object")
  type <- match.arg(type)
  x <- as_input(newdata, object, "newdata")
  out <- forward_nodes(object, x, length(object$layers))[[1]]
  p <- matrix(out, dim(out)[1], length(object$classes),
    dimnames = list(dimnames(x)[[1]], object$classes)
  )
  if (type == "output") {
    return(p)
  }
  if (type == "prob") {
    if (!output_activation(object) %in% c("softmax", "sigmoid")) p <- softmax_rows(p)
    return(p)
  }
  out <- factor(object$classes[max.col(p, ties.method = "first")], levels = object$classes)
  names(out) <- rownames(p)
  out
}

# The activation that ends the network (looking back through dropout and
# flatten layers); "linear" when the last computing layer has none.
output_activation <- function(model) {
  j <- length(model$layers)
  while (j >= 1L && model$layers[[j]]$type %in% c("Skipping", "Flatten")) {
    j <- model$layers[[j]]$input_layers[1]
  }
  if (j < 1L) {
    return("linear")
  }
  l <- model$layers[[j]]
  l$activation_name %||% l$act_name %||% "linear"
}

softmax_rows <- function(p) {
  e <- exp(p - apply(p, 1L, max))
  e / rowSums(e)
}

#' Activations of interpretable layers
#'
#' Runs the network on `x` and returns the outputs of the requested
#' interpretable layers (see [interpretable_layers()]).
#'
#' @param model A [cphap_model()].
#' @param x Series: a matrix `[n, L]`, an array `[n, C, L]` or a `cphap_data`;
#'   or series read chunk by chunk (a [series_chunks()] object or file paths).
#' @param layers Names or positions of interpretable layers; `NULL` for all.
#' @param format `"long"`: a data frame with columns `sample`, `layer`,
#'   `channel`, `position` (1-based node index along time) and `value`;
#'   `"array"`: a named list with one array `[n, channels, positions]` per
#'   layer.
#' @param chunk_size Samples per chunk for work on a future plan, or `NULL`
#'   (one chunk without a plan, else about four per worker); see the
#'   section Parallel and chunked work. Series read chunk by chunk
#'   ([series_chunks()]) keep their own chunks.
#' @section Convolution algorithm:
#' At inference (`activations()`, [predict()][predict.cphap_model],
#' [thresholds()] and the highly activated periods of [cphap()]) the
#' convolution layers run by default, `options(cphap.conv = "auto")`,
#' through fast Fourier transforms wherever that needs less arithmetic
#' than the direct sum: layers with many channels and kernels of about five
#' taps or more, such as the second and third layers of [arch_cnn()]. The
#' series is cut into blocks, each block and each kernel go through a real
#' FFT, the products are summed over the input channels and transformed
#' back (overlap-save). The values agree with the direct convolution to
#' about 1e-15 relative to the largest value of the layer, and do not
#' depend on the number of threads or on the other series of the call.
#'
#' `options(cphap.conv = "direct")` computes every convolution directly,
#' with results identical bit for bit to earlier versions of the package;
#' `"fft"` takes the FFT for every convolution layer. Training
#' ([fit_model()]) and relevance always use the direct convolution.
#' @return See `format`.
#' @inheritSection cphap_parallel Parallel and chunked work
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' x <- matrix(rnorm(5 * 64), 5, 64)
#' a <- activations(m, x, layers = "conv1")
#' head(a)
#' str(activations(m, x, format = "array"))
#' @export
activations <- function(model, x, layers = NULL, format = c("long", "array"),
                        chunk_size = NULL) {
  model <- check_model(model)
  format <- match.arg(format)
  s <- sample_source(x, model, "x", chunk_size)
  rows <- resolve_layers(model, layers)
  ip <- model$interp[rows, , drop = FALSE]
  # a layer asked for twice is listed once in the long format (it is a
  # level of a factor)
  if (format == "long") ip <- ip[!duplicated(ip$name), , drop = FALSE]
  if (single_chunk(s)) {
    if (format == "long") {
      # the data frame is built in C, each value written once into its column
      return(.Call(cp_activations_long_r, model$spec, s$x, as.integer(ip$node - 1L),
        as.character(ip$name), cphap_threads(), cphap_conv()))
    }
    arrs <- forward_nodes(model, s$x, ip$node)
  } else {
    arrs <- chunked_forward(model, s, ip$node)
  }
  names(arrs) <- ip$name
  if (format == "long") long_activations(arrs) else arrs
}

# The outputs of `nodes` over the chunks of the sample source `s`, one
# array [n, C_j, L_j] per node (as forward_nodes() gives them).
chunked_forward <- function(model, s, nodes) {
  # the convolution mode of this process (workers do not see its options)
  res <- map_sample_chunks(s, chunk_list(s), forward_chunk,
    nodes = nodes, model = model, conv = cphap_conv(), label = "Activations"
  )
  n <- sum(lengths(res$samples))
  lapply(seq_along(nodes), function(j) {
    d <- dim(res$values[[1]][[j]])
    out <- array(0, c(n, d[2], d[3]))
    for (i in seq_along(res$values)) out[res$samples[[i]], , ] <- res$values[[i]][[j]]
    out
  })
}

forward_chunk <- function(x, chunk, model, nodes, conv) {
  forward_nodes(model, x, nodes, conv)
}

# The long format of activation arrays (named by layer), in the order the
# C code writes it: layer by layer, then position, channel and sample.
long_activations <- function(arrs) {
  cols <- lapply(seq_along(arrs), function(j) {
    d <- dim(arrs[[j]])
    list(
      sample = rep(seq_len(d[1]), times = d[2] * d[3]),
      channel = rep(rep(seq_len(d[2]), each = d[1]), times = d[3]),
      position = rep(seq_len(d[3]), each = d[1] * d[2]),
      value = as.vector(arrs[[j]]), n = length(arrs[[j]])
    )
  })
  pick <- function(nm) unlist(lapply(cols, `[[`, nm), use.names = FALSE)
  lv <- names(arrs)
  layer <- structure(rep(seq_along(lv), pick("n")), levels = lv, class = "factor")
  out <- list(sample = pick("sample"), layer = layer, channel = pick("channel"),
              position = pick("position"), value = pick("value"))
  structure(out, row.names = c(NA_integer_, -length(out$value)), class = "data.frame")
}

#' Receptive fields of interpretable layers
#'
#' For each interpretable layer, the jump `J`, size `R` and start `S` of its
#' nodes' receptive fields, computed exactly through every convolution,
#' padding and pooling: node `t` (1-based) of the layer
#' sees input points `S + (t - 1) * J + 1` to `S + (t - 1) * J + R` (1-based).
#' With `position`, the input period of those nodes is returned instead.
#'
#' @param model A [cphap_model()].
#' @param layer Names or positions of interpretable layers (`NULL`: all); with
#'   `position`, a single layer.
#' @param position Optional node positions (1-based) along the layer.
#' @return Without `position`, [interpretable_layers()] restricted to `layer`.
#'   With `position`, a data frame with `layer`, `position`, `start`, `end`
#'   (1-based input indices, inclusive) and `inside` (whether the whole period
#'   lies inside the series).
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' x <- matrix(rnorm(5 * 64), 5, 64)
#' receptive_field(m)
#' receptive_field(m, "conv2", position = 1:3)
#' @export
receptive_field <- function(model, layer = NULL, position = NULL) {
  model <- check_model(model)
  rows <- resolve_layers(model, layer, "layer")
  ip <- model$interp[rows, , drop = FALSE]
  if (is.null(position)) {
    rownames(ip) <- NULL
    return(ip)
  }
  if (length(rows) != 1L) {
    cli::cli_abort("{.arg layer} must be a single layer when {.arg position} is given.", call = NULL)
  }
  if (!is.numeric(position) || anyNA(position) || any(position != round(position)) ||
    any(position < 1) || any(position > ip$length)) {
    cli::cli_abort("{.arg position} must be whole numbers between 1 and {ip$length} (the length of layer {.val {ip$name}}).",
      call = NULL
    )
  }
  period_table(ip, position, model$input_dim[2])
}

# Input periods (1-based, inclusive) of nodes of one interpretable layer.
period_table <- function(ip, position, series_length) {
  start <- ip$start + (position - 1) * ip$jump + 1
  end <- start + ip$size - 1
  data.frame(
    layer = ip$name, position = as.integer(position),
    start = as.integer(start), end = as.integer(end),
    inside = start >= 1 & end <= series_length,
    stringsAsFactors = FALSE
  )
}
