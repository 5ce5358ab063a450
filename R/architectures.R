# The standard temporal networks as plain lists with freshly initialised
# weights (He-uniform for convolutions and dense layers, as in PyTorch's
# defaults scaled for ReLU). Pass the list to cphap_model() or fit_model().

he_uniform <- function(fan_in, n) {
  bound <- sqrt(6 / fan_in)
  stats::runif(n, -bound, bound)
}

conv_layer <- function(c_in, c_out, k, stride = 1L, padding = c(0L, 0L),
                       activation = "relu", dilation = 1L) {
  fan_in <- c_in * k
  list(
    type = "Conv1D",
    weight = array(he_uniform(fan_in, c_out * c_in * k), c(c_out, c_in, k)),
    bias = stats::runif(c_out, -1, 1) / sqrt(fan_in),
    activation_name = activation, stride = as.integer(stride),
    padding = as.integer(padding), dilation = as.integer(dilation)
  )
}

dense_layer <- function(n_in, n_out, activation = "softmax") {
  list(
    type = "Dense",
    weight = matrix(he_uniform(n_in, n_out * n_in), n_out, n_in),
    bias = stats::runif(n_out, -1, 1) / sqrt(n_in),
    activation_name = activation
  )
}

bn_layer <- function(n) {
  list(
    type = "BatchNorm", num_features = as.integer(n), eps = 1e-5,
    gamma = rep(1, n), beta = rep(0, n), run_mean = rep(0, n), run_var = rep(1, n)
  )
}

same_padding <- function(k, dilation = 1L) {
  total <- (k - 1L) * dilation
  as.integer(c(total %/% 2L, total - total %/% 2L))
}

check_arch_args <- function(input_dim, n_classes) {
  d <- check_input_dim(input_dim)
  check_whole(n_classes, "n_classes", min = 2)
  d
}

check_vec <- function(x, arg, n, min = 1) {
  if (!is.numeric(x) || length(x) != n || anyNA(x) || any(x != round(x)) || any(x < min) ||
    any(x > .Machine$integer.max)) {
    imax <- .Machine$integer.max
    cli::cli_abort("{.arg {arg}} must be {n} whole number{?s} between {min} and {imax}, not {.val {format_value(x)}}.",
      call = NULL
    )
  }
  as.integer(x)
}

#' Architectures of the standard temporal networks
#'
#' Plain-list descriptions (see [cphap_model()]) with freshly initialised
#' weights, ready for training with `fit_model()`:
#' * `arch_cnn()`: the 3-block CNN of the CPHAP paper: convolutions with 32,
#'   64 and 128 channels and kernels 15, 11 and 7 (the first with stride 2),
#'   ReLU, max pooling 8/4, 4/2 and 4/2 (size/stride), dropout and a dense
#'   softmax output.
#' * `arch_fcn()`: the fully convolutional network of Wang et al. (2017):
#'   three blocks convolution - batch norm - ReLU with 128, 256 and 128
#'   channels and kernels 8, 5 and 3 ("same" padding), global average pooling
#'   and a dense softmax output.
#' * `arch_resnet()`: the residual network of Wang et al. (2017): three
#'   residual blocks of three convolutions (kernels 8, 5, 3) with batch norm,
#'   a shortcut (1 x 1 convolution and batch norm when the channels change,
#'   batch norm otherwise), global average pooling and a dense softmax output.
#'
#' All sizes are parameters, so the networks fit short series and small
#' data. When the series are too short for the default shape of
#' `arch_cnn()` and none of `kernels`, `strides`, `pool_sizes` and
#' `pool_strides` is given, it takes the largest shape that fits: three
#' compact blocks (kernels 7, 5 and 3, stride 1, max pooling 2/2), or the
#' first two or one of them, and says so in a message. Weights are drawn from R's random number generator: call
#' `set.seed()` first for reproducible networks.
#'
#' @section Differences from the original work:
#' The default kernels (15, 11, 7), strides (2, 1, 1) and max pooling
#' (8/4, 4/2, 4/2) are the original CNN's, but the default `padding` is
#' `"valid"` (no padding, so every period lies inside the series); the
#' original used `"same"` padding: give `padding = "same"`. When the
#' series are too short for the default shape, a smaller shape is taken
#' (see Details; a convenience of this package). The dropout layer
#' (`dropout = 0.5`) sits before the dense output; the original work's
#' relevance code also drew dropout on the first block's activations (see
#' [original_relevance()]).
#'
#' @param input_dim `c(channels, length)` of the input series (or the length
#'   alone for one channel).
#' @param n_classes Number of classes (output units).
#' @param channels Output channels of each convolution block.
#' @param kernels Kernel length of each convolution.
#' @param strides Stride of each convolution.
#' @param pool_sizes,pool_strides Max-pooling size and stride after each block
#'   (`arch_cnn()`; a size of 1 means no pooling).
#' @param padding `"valid"` (no padding; receptive fields stay inside the
#'   series) or `"same"`.
#' @param dropout Dropout rate before the output layer (kept for Monte-Carlo
#'   dropout).
#' @return A list in the plain-list network format.
#' @references Wang, Z., Yan, W. and Oates, T. (2017). Time series
#'   classification from scratch with deep neural networks: a strong baseline.
#'   IJCNN 2017.
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 150), 2, kernels = c(7, 5, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' m
#' f <- cphap_model(arch_fcn(c(3, 60), 4, channels = c(16, 32, 16)))
#' r <- cphap_model(arch_resnet(c(1, 60), 3, channels = c(8, 16, 16)))
#' @export
arch_cnn <- function(input_dim, n_classes, channels = c(32, 64, 128), kernels = c(15, 11, 7),
                     strides = c(2, 1, 1), pool_sizes = c(8, 4, 4), pool_strides = c(4, 2, 2),
                     padding = c("valid", "same"), dropout = 0.5) {
  d <- check_arch_args(input_dim, n_classes)
  padding <- match.arg(padding)
  nb <- length(channels)
  if (nb < 1L) cli::cli_abort("{.arg channels} must have at least one block.", call = NULL)
  channels <- check_vec(channels, "channels", nb)
  check_number(dropout, "dropout", 0, 1, max_open = TRUE)
  shape_default <- missing(kernels) && missing(strides) && missing(pool_sizes) &&
    missing(pool_strides)
  shape <- list(
    kernels = check_vec(kernels, "kernels", nb), strides = check_vec(strides, "strides", nb),
    pool_sizes = check_vec(pool_sizes, "pool_sizes", nb),
    pool_strides = check_vec(pool_strides, "pool_strides", nb)
  )
  if (shape_default && is.na(cnn_out_length(d[2], shape, padding))) {
    shape <- cnn_fitting_shape(d[2], shape, padding)
    channels <- channels[seq_along(shape$kernels)]
  }
  layers <- list()
  c_in <- d[1]
  L <- d[2]
  for (b in seq_along(channels)) {
    pad <- if (padding == "same") same_padding(shape$kernels[b]) else c(0L, 0L)
    L <- (L + sum(pad) - shape$kernels[b]) %/% shape$strides[b] + 1L
    if (L < 1L) arch_too_short(d[2], b)
    layers[[length(layers) + 1L]] <- conv_layer(c_in, channels[b], shape$kernels[b],
      shape$strides[b], pad)
    if (shape$pool_sizes[b] > 1L) {
      if (L < shape$pool_sizes[b]) arch_too_short(d[2], b)
      L <- (L - shape$pool_sizes[b]) %/% shape$pool_strides[b] + 1L
      layers[[length(layers) + 1L]] <- list(
        type = "MaxPooling1D", kernel_size = shape$pool_sizes[b],
        strides = shape$pool_strides[b]
      )
    }
    c_in <- channels[b]
  }
  layers[[length(layers) + 1L]] <- list(type = "Skipping", rate = dropout)
  layers[[length(layers) + 1L]] <- list(type = "Flatten")
  layers[[length(layers) + 1L]] <- dense_layer(c_in * L, n_classes)
  list(input_dim = d, layers = layers)
}

# Length left after the convolution blocks of a CNN shape, NA when a block
# has nothing left.
cnn_out_length <- function(len, shape, padding = "valid") {
  L <- len
  for (b in seq_along(shape$kernels)) {
    pad <- if (padding == "same") sum(same_padding(shape$kernels[b])) else 0L
    L <- (L + pad - shape$kernels[b]) %/% shape$strides[b] + 1L
    if (L < 1L) {
      return(NA_integer_)
    }
    if (shape$pool_sizes[b] > 1L) {
      if (L < shape$pool_sizes[b]) {
        return(NA_integer_)
      }
      L <- (L - shape$pool_sizes[b]) %/% shape$pool_strides[b] + 1L
    }
  }
  as.integer(L)
}

# The default CNN shape is too long for the series: the largest shape that
# fits, from the paper's blocks through compact blocks (kernels 7, 5, 3,
# stride 1, pooling 2/2) to fewer compact blocks; says which it chose.
cnn_fitting_shape <- function(len, paper, padding) {
  nb <- length(paper$kernels)
  compact <- list(
    kernels = rep_len(c(7L, 5L, 3L), nb), strides = rep(1L, nb),
    pool_sizes = rep(2L, nb), pool_strides = rep(2L, nb)
  )
  first <- function(shape, b) lapply(shape, `[`, seq_len(b))
  candidates <- c(list(compact), lapply(rev(seq_len(nb - 1L)), function(b) first(compact, b)))
  for (shape in candidates) {
    L <- cnn_out_length(len, shape, padding)
    if (!is.na(L)) {
      cli::cli_inform(c(
        "Series of length {len} are too short for the default CNN (kernels {paper$kernels}, strides {paper$strides}, pooling {paste0(paper$pool_sizes, '/', paper$pool_strides)}).",
        i = "Using {length(shape$kernels)} block{?s} with kernels {shape$kernels}, strides {shape$strides}, pooling {paste0(shape$pool_sizes, '/', shape$pool_strides)} (size/stride); {L} time step{?s} left after the last block.",
        i = "Give {.arg kernels}, {.arg strides}, {.arg pool_sizes} and {.arg pool_strides} to choose another shape."
      ))
      return(shape)
    }
  }
  arch_too_short(len, 1L)
}

arch_too_short <- function(len, block) {
  cli::cli_abort(c(
    "Series of length {len} are too short for this architecture: nothing is left after block {block}.",
    i = "Use smaller {.arg kernels}, {.arg strides} or {.arg pool_sizes}, or {.code padding = \"same\"}."
  ), call = NULL)
}

#' @rdname arch_cnn
#' @export
arch_fcn <- function(input_dim, n_classes, channels = c(128, 256, 128), kernels = c(8, 5, 3)) {
  d <- check_arch_args(input_dim, n_classes)
  nb <- length(channels)
  channels <- check_vec(channels, "channels", nb)
  kernels <- check_vec(kernels, "kernels", nb)
  layers <- list()
  c_in <- d[1]
  for (b in seq_len(nb)) {
    layers <- c(layers, list(
      conv_layer(c_in, channels[b], kernels[b], padding = same_padding(kernels[b]),
        activation = "linear"
      ),
      bn_layer(channels[b]),
      list(type = "Activation", act_name = "relu")
    ))
    c_in <- channels[b]
  }
  layers <- c(layers, list(
    list(type = "GlobalPooling", method = "average"),
    dense_layer(c_in, n_classes)
  ))
  list(input_dim = d, layers = layers)
}

#' @rdname arch_cnn
#' @export
arch_resnet <- function(input_dim, n_classes, channels = c(64, 128, 128), kernels = c(8, 5, 3)) {
  d <- check_arch_args(input_dim, n_classes)
  nb <- length(channels)
  channels <- check_vec(channels, "channels", nb)
  kernels <- check_vec(kernels, "kernels", length(kernels))
  layers <- list()
  add <- function(layer, inputs) {
    layer$input_layers <- as.integer(inputs)
    layers[[length(layers) + 1L]] <<- layer
    length(layers)
  }
  c_in <- d[1]
  prev <- 0L
  for (b in seq_len(nb)) {
    h <- prev
    for (q in seq_along(kernels)) {
      h <- add(conv_layer(if (q == 1L) c_in else channels[b], channels[b], kernels[q],
        padding = same_padding(kernels[q]), activation = "linear"
      ), h)
      h <- add(bn_layer(channels[b]), h)
      if (q < length(kernels)) h <- add(list(type = "Activation", act_name = "relu"), h)
    }
    s <- prev
    if (c_in != channels[b]) {
      s <- add(conv_layer(c_in, channels[b], 1L, activation = "linear"), s)
    }
    s <- add(bn_layer(channels[b]), s)
    a <- add(list(type = "Add"), c(h, s))
    prev <- add(list(type = "Activation", act_name = "relu"), a)
    c_in <- channels[b]
  }
  g <- add(list(type = "GlobalPooling", method = "average"), prev)
  add(dense_layer(c_in, n_classes), g)
  list(input_dim = d, layers = layers)
}
