# Relevance from internal units and from class outputs, with
# Monte-Carlo dropout. The numerics are in src/lrp.c.

#' Relevance of input points for internal units, with Monte-Carlo dropout
#'
#' Layer-wise relevance propagation (LRP) started from an internal unit
#' (layer `layer`, channels `channels`) rather than from the class output, as in
#' the relevance framework of CPHAP. The seed is the unit's activation map
#' `A_jk(x)`: at all positions (`seed = "all"`), only at its highly activated
#' nodes (`"active"`: activation above the channel's threshold), or at one
#' node (`"node"`); everything else at that layer is zero. With
#' `seed = "class"` relevance starts from a class logit (before the softmax)
#' and only the part that flows through each channel in `channels` of `layer`
#' is kept.
#'
#' **Monte-Carlo dropout.** The propagation is repeated `passes` times; in
#' each pass a dropout mask (rate `rate`, kept units scaled by `1 / (1 -
#' rate)`) is drawn on the chosen layers and used in both the forward and the
#' relevance pass; batch-norm statistics stay fixed (running statistics). The
#' result per input point is the mean, the standard deviation and the 5% and
#' 95% quantiles (R's type 7) over the passes. Dropout after the seeded layer
#' cannot change relevance seeded at it, so by default masks go on the
#' model's dropout (`Skipping`) layers that lie *before* the seeded layer (on
#' its path from the input); when there are none, on the first interpretable
#' layer when it comes before the seeded one, else on the first layer of the
#' network, else on the input. For `seed = "class"` the seeded layer is the
#' output, so the model's own dropout layers are used. `rate = 0` gives
#' identical passes and a standard deviation of exactly 0.
#'
#' Masks are drawn from a counter-based random stream per (sample, pass),
#' keyed by one draw from R's random number generator and by the sample's
#' position among the series used (those of `x`, or `samples`), so
#' `set.seed()` reproduces results for any number of threads (option
#' `cphap.threads`), any `chunk_size` and any future plan, and all units of
#' one sample share the masks of each pass.
#'
#' **Rules.** Each kind of layer uses the rule that `rules` gives it (see
#' [lrp_rules()]); [rule_table()] lists the rule of every layer of the model,
#' and the print of the result repeats it. Average pooling, global average
#' pooling and residual additions split relevance in proportion to their
#' inputs' contributions, stabilising the layer's own output (for average
#' pooling the mean, not the window sum) with `epsilon`, as zennit does.
#'
#' **Speed.** Layers before the first dropout mask are computed once per
#' sample, and each rule's convolutions run only on the (channel, time) pairs
#' that carry relevance when these are few (as after winner-takes-all
#' pooling), else densely. The option `cphap.lrp_kernels` (`"auto"`, the
#' default, `"pairs"` or `"dense"`) forces one kind; results agree to
#' rounding.
#'
#' @section Differences from the original work:
#' [original_relevance()] runs this function with the original work's
#' settings. The defaults differ from them in three places, each one
#' argument away:
#' * seed: the unit's activation map (`seed = "all"`) instead of the true
#'   class logit with only the relevance through the unit kept
#'   (`seed = "class"`, `class = ` the labels);
#' * rules: `"default"` uses epsilon instead of z+ on the output layer
#'   (`rules = "original"`; the output layer is only used with
#'   `seed = "class"`);
#' * dropout: on the model's own dropout layers before the seeded layer
#'   (see Description) instead of the first block's activations before
#'   its pooling (`dropout_layers = ` that layer's index in
#'   `print(model)`). The default `rate = 0.5` is the original keep
#'   probability of 0.5.
#'
#' @param model A [cphap_model()].
#' @param x Series: a matrix `[n, L]`, an array `[n, C, L]` or a `cphap_data`.
#'   Results and plot titles name each series by its row name, else by its
#'   index in the data given (`x[19, , drop = FALSE]` or `samples = 19` is
#'   "series 19"), and name the data set when `x` is a variable or a `$`
#'   chain such as `gunpoint$test` (attributes `sample_ids` and `data_name`).
#' @param samples Indices of the series of `x` to use; `NULL` for all.
#' @param layer Interpretable layer(s) (names or positions, see
#'   [interpretable_layers()]).
#' @param channels Channels (units) of the layer, 1-based; `NULL` for all.
#' @param channel Deprecated name of `channels`.
#' @param seed `"all"`, `"active"`, `"node"` or `"class"` (see Description).
#' @param node With `seed = "node"`: node positions (1-based) along the
#'   layer; one seed per node.
#' @param class With `seed = "class"`: the class (label or index), one value
#'   or one per sample; `NULL` for the predicted class.
#' @param class_seed With `seed = "class"`, what is put in at the output:
#'   `"logit"` (default), the class's logit (the output before its softmax),
#'   or `"margin"`, the class's logit minus the largest logit of the other
#'   classes (the runner-up). The predicted class can have a negative logit
#'   (common with linear outputs); seeded with it, relevance paints the
#'   class's own evidence negative, so a negative logit of a predicted
#'   class gives a warning (class `cphap_negative_logit`). The margin is positive when the class is the
#'   predicted one and negative otherwise, so its sign follows the decision;
#'   it is propagated as the logit of an output layer whose weights and bias
#'   are the differences of the two classes' (needs a dense output layer).
#' @param threshold With `seed = "active"`: the thresholds `T_jk`: a
#'   `cphap_thresholds` object from [thresholds()] (or a `cphap_result` from
#'   [cphap()]), or numbers, one value or one per channel of the layer (a
#'   list named by layer when several layers are given). A node is highly activated when its activation is strictly
#'   above the threshold.
#' @param reference With `seed = "active"` and no `threshold`: series (the
#'   training data) whose activations give the thresholds, the `1 - alpha`
#'   quantile (type 7) of each channel over all samples and positions;
#'   `NULL` uses `x`.
#' @param alpha Level of the thresholds (default 0.05).
#' @param rules A preset name, a named list of overrides (for example
#'   `list(conv = "epsilon", epsilon = 1e-6)`), or [lrp_rules()].
#' @param passes Number of Monte-Carlo passes `T` (at least 1).
#' @param rate Dropout rate `p` in `[0, 1)`, used on every chosen layer.
#' @param dropout_layers Where to drop out: `NULL` (the default described
#'   above), or interpretable layer names and/or `"input"`, or indices into
#'   the model's layer list (as printed by `print(model)`; 0 is the input).
#' @param progress Show a progress bar when the run lasts more than 2
#'   seconds.
#' @param chunk_size Samples per chunk for work on a future plan, or `NULL`
#'   (one chunk without a plan, else about four per worker); see
#'   [cphap_parallel]. Each chunk is one future on the plan set with
#'   `future::plan()`; results are merged in sample order and are
#'   `identical()` for every plan and chunk size. A chunk that fails is an
#'   error of class `cphap_chunk_error` naming the chunk and its samples.
#' @param format `"long"` (default): a data frame with one row per seed, input
#'   channel and input position; `"compact"`: the same numbers as arrays
#'   (see Value), much smaller for many samples.
#' @return With `format = "long"`, a `cphap_relevance` data frame, one row per seed, input channel and
#'   input position, that is samples x seeds per sample (channels, times
#'   nodes for `seed = "node"`) x input channels x series length rows of 15
#'   columns, about 100 bytes per row: for all 128 channels of `conv3` of
#'   [demo_model()] over the 150 series of the GunPoint test set, 2.88
#'   million rows and 264 MB. Its columns:
#'   * `sample`: index of the series in `x`;
#'   * `layer`, `channel`: the unit (NA for plain class relevance);
#'   * `seed`: `"all"`, `"active"`, `"node"` or `"class"`;
#'   * `node`: the seeded node (for `seed = "node"`), else NA;
#'   * `class`: the class whose logit is the seed (class seeds), else NA;
#'   * `input_channel`, `position`: the input point (1-based);
#'   * `value`: the input value;
#'   * `mean`, `sd`, `q05`, `q95`: relevance over the passes (`sd` is NA
#'     for one pass);
#'   * `seeded`: the relevance put in at the seed (mean over passes; for
#'     class seeds through a channel, what reaches that channel);
#'   * `conservation`: sum of the input relevance minus `seeded` (mean over
#'     passes), 0 when relevance is conserved.
#'
#'   Relevance that cannot be computed in double precision (inputs of extreme
#'   magnitude, such as 1e308, or NA inputs) is `NA` in all these columns,
#'   with a warning.
#'
#'   Attributes hold the rules, the rule used on each layer up to the seed
#'   (`rule_table`, see [rule_table()]; the print shows it), passes, rate and
#'   dropout layers (and for class seeds `class_seed` and, for margins,
#'   `runner_up`, the runner-up class of every sample); see
#'   [autoplot.cphap_relevance()] and [summary.cphap_relevance()].
#'
#'   With `format = "compact"`, a `cphap_relevance_compact` list: `seeds`, one
#'   row per seed (`sample`, `layer`, `channel`, `seed`, `node`, `class`,
#'   `seeded`, `conservation`); `mean`, `sd`, `q05`, `q95`, arrays
#'   `[seed, input channel, position]` (row `i` is seed `i` of `seeds`);
#'   `x`, the series; and the same attributes. It holds 4 doubles per seed
#'   and input point (32 bytes) instead of a row: 89 MB for the example
#'   above. `as.data.frame()` gives the long form; see
#'   [relevance-compact].
#' @seealso [lrp()] for relevance of a class output, [lrp_rules()].
#' @examples
#' m <- demo_model()
#' x <- gunpoint$test$x[c(1, 19), ]
#' thr <- thresholds(m, gunpoint$train, layers = "conv2")
#' r <- unit_relevance(m, x, "conv2", channels = c(5, 22), seed = "active",
#'                     threshold = thr, passes = 50)
#' r
#' summary(r)
#' r1 <- unit_relevance(m, x[2, ], "conv3", channels = 1, seed = "node", node = 8,
#'                      passes = 50)
#' ggplot2::autoplot(r1)
#' @export
unit_relevance <- function(model, x, layer, channels = NULL,
                           seed = c("all", "active", "node", "class"), node = NULL,
                           class = NULL, threshold = NULL, reference = NULL, alpha = 0.05,
                           rules = "default", passes = 300, rate = 0.5,
                           dropout_layers = NULL, progress = TRUE,
                           class_seed = c("logit", "margin"), channel = NULL,
                           samples = NULL, format = c("long", "compact"),
                           chunk_size = NULL) {
  channels <- renamed_arg(channels, channel, "channels", "channel")
  model <- check_model(model)
  expr <- substitute(x)
  x <- as_input(x, model)
  sel <- select_samples(x, samples, series_identity(expr, x, parent.frame()))
  x <- sel$x
  format <- match.arg(format)
  seed <- match.arg(seed)
  class_seed_given <- !missing(class_seed)
  class_seed <- match.arg(class_seed)
  if (missing(layer)) {
    cli::cli_abort("{.arg layer} is missing: give an interpretable layer (see {.fn interpretable_layers}).",
      call = NULL
    )
  }
  rows <- resolve_layers(model, layer, "layer")
  rules <- as_rules(rules)
  passes <- check_whole(passes, "passes", min = 1)
  check_number(rate, "rate", 0, 1, max_open = TRUE)
  check_number(alpha, "alpha", 0, 1, min_open = TRUE, max_open = TRUE)
  check_flag(progress, "progress")
  check_chunk_size(chunk_size, dim(x)[1])
  if (seed != "node" && !is.null(node)) {
    cli::cli_abort("{.arg node} is only used with {.code seed = \"node\"}.", call = NULL)
  }
  if (seed != "class" && !is.null(class)) {
    cli::cli_abort("{.arg class} is only used with {.code seed = \"class\"}.", call = NULL)
  }
  if (seed != "active" && (!is.null(threshold) || !is.null(reference))) {
    cli::cli_abort("{.arg threshold} and {.arg reference} are only used with {.code seed = \"active\"}.",
      call = NULL
    )
  }
  if (seed != "class" && class_seed_given) {
    cli::cli_abort("{.arg class_seed} is only used with {.code seed = \"class\"}.", call = NULL)
  }
  ip <- model$interp
  n <- dim(x)[1]
  classes <- NULL
  cs <- NULL
  if (seed == "class") {
    cs <- class_seeding(model, x, resolve_class(model, x, class), class_seed, sel$id$ids)
    model <- cs$model
    classes <- cs$classes
  }
  plans <- lapply(rows, function(r) {
    chans <- check_channels(channels, ip$channels[r], ip$name[r])
    nodes <- NULL
    if (seed == "node") {
      if (is.null(node)) {
        cli::cli_abort("{.arg node} is required with {.code seed = \"node\"}.", call = NULL)
      }
      nodes <- check_positions(node, ip$length[r], ip$name[r])
    }
    thr <- if (seed == "active") {
      unit_thresholds(model, r, threshold, reference, x, alpha, length(rows) > 1L)
    }
    seed_node <- if (seed == "class") length(model$layers) else ip$node[r]
    drop <- resolve_dropout(model, dropout_layers, seed_node)
    list(row = r, chans = chans, nodes = nodes, thr = thr, drop = drop)
  })
  seed_words <- floor(stats::runif(2) * 2^32)
  out <- relevance_run(model, x, plans, seed, classes, rules, passes, rate, seed_words, progress,
                       chunk_size)
  if (!is.null(cs)) out <- label_class_seed(out, cs)
  out <- with_identity(out, sel$id)
  if (format == "long") relevance_long(out) else out
}

#' Relevance of a unit as the original work computed it
#'
#' Runs [unit_relevance()] with the settings of the original work's code:
#' relevance starts from the logit of the sample's true class (when labels
#' are given, else its predicted class), only the relevance that flows
#' through channel `channel` of `layer` is kept, the rules are
#' [lrp_rules("original")][lrp_rules] (w^2 on the first convolution, z+ on
#' every other convolution and dense layer including the output,
#' winner-takes-all max pooling), and dropout with keep probability 0.5 is
#' drawn on the output of the first block's non-linearity, before its
#' pooling, in every Monte-Carlo pass.
#'
#' The defaults of [unit_relevance()] differ from this in three ways, each
#' one argument away:
#' * the seed: by default the unit's own activation map (`seed = "all"`),
#'   which explains what the unit responds to, whatever the class; the
#'   original seeded the true class logit (`seed = "class"`, `class = `
#'   the labels), which explains the unit's share in one decision;
#' * the rules: `"default"` uses epsilon on the output layer instead of z+
#'   (see [lrp_rules()]; with a unit seed the output layer is not used);
#' * dropout: by default on the model's own dropout layers before the
#'   seeded layer (else the first interpretable layer), which is where the
#'   trained network expects it; the original put it on the first block's
#'   activations before pooling (`dropout_layers = ` that layer's index,
#'   see `print(model)`).
#'
#' @inheritParams unit_relevance
#' @param y True classes (labels or indices), one or one per sample; `NULL`
#'   takes the labels of a `cphap_data` `x`, else the predicted classes.
#' @param ... Further arguments to [unit_relevance()] (for example
#'   `progress`).
#' @return A `cphap_relevance` data frame, see [unit_relevance()].
#' @seealso [unit_relevance()], [lrp_rules()]
#' @examples
#' m <- demo_model()
#' set.seed(1)
#' d <- subset(gunpoint$test, seq_along(gunpoint$test$y) <= 2)
#' r <- original_relevance(m, d, "conv2", channels = 5, passes = 20)
#' r
#' @export
original_relevance <- function(model, x, layer, channels = NULL, y = NULL, passes = 300,
                               ..., channel = NULL, chunk_size = NULL) {
  channels <- renamed_arg(channels, channel, "channels", "channel")
  model <- check_model(model)
  if (is.null(y) && inherits(x, "cphap_data")) y <- x$y
  xa <- as_input(x, model)
  id <- series_identity(substitute(x), xa, parent.frame())
  samples <- list(...)$samples
  if (!is.null(samples)) {
    # labels of the whole data follow the chosen samples
    if (length(y) == dim(xa)[1] && dim(xa)[1] > 1L) y <- y[samples]
    id$ids <- id$ids[samples]
  }
  out <- unit_relevance(model, xa, layer, channels = channels, seed = "class", class = y,
                        rules = "original", passes = passes, rate = 0.5,
                        dropout_layers = first_block_activation(model), ...,
                        chunk_size = chunk_size)
  with_identity(out, id)
}

# The node of the first block's non-linearity: the input of the first
# interpretable layer when that is a pooling, else the layer itself.
first_block_activation <- function(model) {
  node <- model$interp$node[1]
  l <- model$layers[[node]]
  if (l$type %in% c("MaxPooling1D", "AveragePooling1D")) l$input_layers[1] else node
}

#' Layer-wise relevance propagation from a class output
#'
#' Plain LRP for comparison with [unit_relevance()]: relevance starts from
#' the logit (the output before its softmax) of `class` and is propagated to
#' the input with `rules`, without dropout.
#'
#' @inheritParams unit_relevance
#' @section Differences from the original work:
#' The original work started relevance at the logit of the true class and
#' used z+ on every convolution and dense layer including the output. Here
#' the class defaults to the predicted one (give `class = ` the labels for
#' the true one) and the `"default"` rules use epsilon on the output
#' layer (`rules = "original"` for z+ there). No dropout is drawn; see
#' [original_relevance()] for the original setting with Monte-Carlo
#' dropout through one unit.
#'
#' @param class The class (label or index), one value or one per sample;
#'   `NULL` for each sample's predicted class.
#' @return A `cphap_relevance` data frame (see [unit_relevance()]) with
#'   `seed = "class"`, `layer` and `channel` NA, `mean` the relevance and `sd`
#'   NA.
#' @examples
#' m <- demo_model()
#' x <- gunpoint$test$x[1:3, ]
#' r <- lrp(m, x, rules = "epsilon")
#' head(as.data.frame(r))
#' # test series 90 is classified correctly with a negative logit: seed the
#' # margin to the other class instead
#' summary(lrp(m, gunpoint$test$x[90, ], class_seed = "margin"))
#' @export
lrp <- function(model, x, class = NULL, rules = "default", class_seed = c("logit", "margin"),
                samples = NULL, format = c("long", "compact"), chunk_size = NULL) {
  model <- check_model(model)
  expr <- substitute(x)
  x <- as_input(x, model)
  sel <- select_samples(x, samples, series_identity(expr, x, parent.frame()))
  x <- sel$x
  format <- match.arg(format)
  rules <- as_rules(rules)
  class_seed <- match.arg(class_seed)
  check_chunk_size(chunk_size, dim(x)[1])
  cs <- class_seeding(model, x, resolve_class(model, x, class), class_seed, sel$id$ids)
  plans <- list(list(row = NA_integer_, chans = NA_integer_, nodes = NULL, thr = NULL, drop = integer()))
  out <- relevance_run(cs$model, x, plans, "class", cs$classes, rules, 1L, 0, c(0, 0), FALSE,
                       chunk_size)
  out <- with_identity(label_class_seed(out, cs), sel$id)
  if (format == "long") relevance_long(out) else out
}

# The dense layer that computes the logits: the last layer, or the dense
# layer under a final softmax/linear activation layer; NA when there is none.
logit_layer <- function(model) {
  j <- length(model$layers)
  l <- model$layers[[j]]
  if (l$type == "Activation" && (l$act_name %||% "") %in% c("softmax", "linear") &&
    length(l$input_layers) == 1L && l$input_layers > 0L) {
    j <- l$input_layers
  }
  if (model$layers[[j]]$type == "Dense") j else NA_integer_
}

# Logits [n, classes] of the series x (the output before its softmax).
class_logits <- function(model, x, j = logit_layer(model)) {
  l <- model$layers[[j]]
  a <- if (l$input_layers == 0L) x else forward_nodes(model, x, l$input_layers, conv = 0L)[[1]]
  a <- matrix(a, dim(a)[1])
  sweep(a %*% t(l$weight), 2L, l$bias, `+`)
}

# Seeds of class relevance. "logit": the class logit, with a warning when it
# is negative although the class is the predicted one; "margin": the logit minus the runner-up class's logit, as the
# logit of a model whose output layer computes these differences.
class_seeding <- function(model, x, classes, class_seed, ids = NULL) {
  j <- logit_layer(model)
  n <- dim(x)[1]
  cs <- list(model = model, classes = classes, original = model$classes[classes],
    class_seed = class_seed, runner_up = NULL)
  if (is.na(j)) {
    if (class_seed == "margin") {
      cli::cli_abort("{.code class_seed = \"margin\"} needs a model whose output is a dense layer (optionally followed by a softmax).",
        call = NULL
      )
    }
    return(cs)
  }
  z <- class_logits(model, x, j)
  if (class_seed == "logit") {
    zc <- z[cbind(seq_len(n), classes)]
    neg <- which(zc < 0 & zc >= apply(z, 1L, max))
    if (length(neg) > 0L) {
      if (!is.null(ids)) neg <- ids[neg]
      cli::cli_warn(c(
        "The seeded class is the predicted one but its logit is negative for {length(neg)} sample{?s} ({utils::head(neg, 10)}{if (length(neg) > 10L) ', ...' else ''}): relevance then paints the class's own evidence negative.",
        i = "Use {.code class_seed = \"margin\"} to seed with the difference to the runner-up class's logit (positive when the class is predicted)."
      ), class = "cphap_negative_logit")
    }
    return(cs)
  }
  zo <- z
  zo[cbind(seq_len(n), classes)] <- -Inf
  runner <- max.col(zo, ties.method = "first")
  key <- paste(classes, runner)
  pairs <- unique(data.frame(c = classes, r = runner))
  l <- as.list(model)
  d <- l$layers[[j]]
  d$weight <- d$weight[pairs$c, , drop = FALSE] - d$weight[pairs$r, , drop = FALSE]
  d$bias <- d$bias[pairs$c] - d$bias[pairs$r]
  d$activation_name <- "linear"
  l$layers[[j]] <- d
  l$layers <- l$layers[seq_len(j)]
  l$output_nodes <- j
  l$output_names <- NULL
  labels <- paste(model$classes[pairs$c], "vs", model$classes[pairs$r])
  cs$model <- cphap_model(l, classes = labels)
  cs$classes <- match(key, paste(pairs$c, pairs$r))
  cs$runner_up <- model$classes[runner]
  cs
}

# Class relevance results name the seeded class; margins also the runner-up.
label_class_seed <- function(out, cs) {
  if (inherits(out, "cphap_relevance_compact")) {
    out$seeds$class <- cs$original[out$seeds$sample]
  } else {
    out$class <- cs$original[out$sample]
  }
  attr(out, "class_seed") <- cs$class_seed
  if (!is.null(cs$runner_up)) attr(out, "runner_up") <- cs$runner_up
  out
}

# Channels (units) of a layer: NULL means all; whole numbers in range.
# n_ch may hold several layers' channel counts (then the smallest bounds).
check_channels <- function(channel, n_ch, lname = NULL, arg = "channels") {
  n_ch <- min(n_ch)
  if (is.null(channel)) {
    return(seq_len(n_ch))
  }
  if (!is.numeric(channel) || length(channel) == 0L || anyNA(channel) ||
    any(channel != round(channel)) || any(channel < 1) || any(channel > n_ch)) {
    of <- if (is.null(lname)) "" else paste0(" (the channels of layer ", lname, ")")
    cli::cli_abort(
      "{.arg {arg}} must be whole numbers between 1 and {n_ch}{of}, not {.val {format_value(channel)}}.",
      call = NULL
    )
  }
  unique(as.integer(channel))
}

check_positions <- function(node, len, lname) {
  if (!is.numeric(node) || length(node) == 0L || anyNA(node) || any(node != round(node)) ||
    any(node < 1) || any(node > len)) {
    cli::cli_abort(
      "{.arg node} must be whole numbers between 1 and {len} (the positions of layer {.val {lname}}), not {.val {format_value(node)}}.",
      call = NULL
    )
  }
  unique(as.integer(node))
}

# One class index (1-based) per sample.
resolve_class <- function(model, x, class) {
  n <- dim(x)[1]
  k <- length(model$classes)
  if (is.null(class)) {
    # the predicted class, from the direct convolution like the relevance
    out <- forward_nodes(model, x, length(model$layers), conv = 0L)[[1]]
    return(max.col(matrix(out, n), ties.method = "first"))
  }
  if (is.factor(class)) class <- as.character(class)
  idx <- if (is.character(class)) {
    match(class, model$classes)
  } else if (is.numeric(class) && all(is.finite(class)) && all(class == round(class))) {
    ifelse(class >= 1 & class <= k, as.integer(class), NA_integer_)
  } else {
    NA_integer_
  }
  if (length(class) == 0L || anyNA(idx) || !length(idx) %in% c(1L, n)) {
    cli::cli_abort(
      "{.arg class} must be one class (label or index 1 to {k}) or one per sample ({n}), not {.val {format_value(class)}}.",
      call = NULL
    )
  }
  rep_len(as.integer(idx), n)
}

# Thresholds T_jk of one interpretable layer (row r of model$interp).
unit_thresholds <- function(model, r, threshold, reference, x, alpha, several) {
  ip <- model$interp
  n_ch <- ip$channels[r]
  nm <- ip$name[r]
  if (inherits(threshold, c("cphap_thresholds", "cphap_result"))) {
    return(layer_thresholds(as_thresholds(threshold, "threshold"), nm, n_ch))
  }
  if (!is.null(threshold)) {
    thr <- threshold
    if (is.list(threshold)) {
      thr <- threshold[[nm]]
      if (is.null(thr)) {
        cli::cli_abort("{.arg threshold} has no entry for layer {.val {nm}}.", call = NULL)
      }
    } else if (several) {
      cli::cli_abort("{.arg threshold} must be a list named by layer when several layers are given.",
        call = NULL
      )
    }
    if (!is.numeric(thr) || !length(thr) %in% c(1L, n_ch) || anyNA(thr)) {
      cli::cli_abort(
        "{.arg threshold} for layer {.val {nm}} must be one number or {n_ch} (one per channel).",
        call = NULL
      )
    }
    return(rep_len(as.double(thr), n_ch))
  }
  if (is.null(reference)) {
    cli::cli_inform(c(
      i = "Thresholds of layer {.val {nm}} computed from {.arg x}; pass {.arg reference} (the training data) or {.arg threshold} for the method's thresholds."
    ))
    ref <- x
  } else {
    ref <- as_input(reference, model, "reference")
  }
  # the 1 - alpha quantile (type 7) of each channel, as thresholds() gives it
  layer_thresholds(thresholds(model, ref, layers = nm, alpha = alpha), nm, n_ch)
}

# Nodes (1-based; 0 = the input) that node j depends on, j excluded.
ancestors <- function(model, j) {
  seen <- integer()
  todo <- model$layers[[j]]$input_layers
  while (length(todo) > 0L) {
    p <- todo[1]
    todo <- todo[-1]
    if (p %in% seen) next
    seen <- c(seen, p)
    if (p > 0L) todo <- c(todo, model$layers[[p]]$input_layers)
  }
  sort(seen)
}

# Dropout nodes (0 = the input) for relevance seeded at node j.
resolve_dropout <- function(model, dropout_layers, j) {
  n <- length(model$layers)
  if (is.null(dropout_layers)) {
    anc <- ancestors(model, j)
    types <- vapply(model$layers, function(l) l$type, character(1))
    inner <- anc[anc > 0L]
    skip <- inner[types[inner] == "Skipping"]
    if (length(skip) > 0L) {
      return(skip)
    }
    first <- model$interp$node[1]
    if (!is.na(first) && first %in% anc) {
      return(first)
    }
    if (1L %in% anc) {
      return(1L)
    }
    return(0L)
  }
  if (is.character(dropout_layers)) {
    ok <- dropout_layers %in% c("input", model$interp$name)
    if (!all(ok)) {
      cli::cli_abort(c("{.arg dropout_layers}: unknown layer{?s} {.val {dropout_layers[!ok]}}.",
        i = "Use {.val input}, interpretable layers ({.val {model$interp$name}}) or layer indices 0 to {n}."
      ), call = NULL)
    }
    return(ifelse(dropout_layers == "input", 0L,
      model$interp$node[match(dropout_layers, model$interp$name)]
    ))
  }
  if (is.numeric(dropout_layers) && length(dropout_layers) > 0L && !anyNA(dropout_layers) &&
    all(dropout_layers == round(dropout_layers)) && all(dropout_layers >= 0) &&
    all(dropout_layers <= n)) {
    return(unique(as.integer(dropout_layers)))
  }
  cli::cli_abort(
    "{.arg dropout_layers} must be {.val input}, interpretable layer names or layer indices between 0 and {n}, not {.val {format_value(dropout_layers)}}.",
    call = NULL
  )
}

drop_label <- function(model, nodes) {
  vapply(nodes, function(j) {
    if (j == 0L) {
      return("input")
    }
    nm <- model$interp$name[match(j, model$interp$node)]
    if (is.na(nm)) paste0("layer ", j, " (", model$layers[[j]]$type, ")") else nm
  }, character(1))
}

# Jobs of one plan for samples s (1-based, in the x given to C; `classes`
# and `acts` are indexed alike): integer matrix (0-based codes), seed
# weights, and the per-job descriptors, which name sample s + offset.
plan_jobs <- function(model, plan, seed, classes, samples, acts, offset = 0L) {
  ip <- model$interp
  r <- plan$row
  n_out <- length(model$layers)
  rows <- list()
  pos <- list()
  desc <- list()
  for (s in samples) {
    for (k in plan$chans) {
      if (seed == "class") {
        filt <- if (is.na(r)) c(-1L, -1L) else c(ip$node[r] - 1L, k - 1L)
        rows[[length(rows) + 1L]] <- c(s - 1L, n_out - 1L, classes[s] - 1L, 1L, filt)
        pos[[length(pos) + 1L]] <- 1
        desc[[length(desc) + 1L]] <- c(s + offset, k, NA, classes[s])
        next
      }
      len <- ip$length[r]
      base <- c(s - 1L, ip$node[r] - 1L, k - 1L, 0L, -1L, -1L)
      if (seed == "node") {
        for (t in plan$nodes) {
          w <- numeric(len)
          w[t] <- 1
          rows[[length(rows) + 1L]] <- base
          pos[[length(pos) + 1L]] <- w
          desc[[length(desc) + 1L]] <- c(s + offset, k, t, NA)
        }
      } else {
        w <- if (seed == "all") rep(1, len) else as.double(acts[s, k, ] > plan$thr[k])
        rows[[length(rows) + 1L]] <- base
        pos[[length(pos) + 1L]] <- w
        desc[[length(desc) + 1L]] <- c(s + offset, k, NA, NA)
      }
    }
  }
  ld <- max(lengths(pos))
  list(
    jobs = matrix(as.integer(unlist(rows)), ncol = 6L, byrow = TRUE),
    pos = vapply(pos, function(w) c(w, numeric(ld - length(w))), numeric(ld)),
    desc = matrix(unlist(desc), ncol = 4L, byrow = TRUE)
  )
}

# How the rules' convolutions run (option cphap.lrp_kernels): "auto" picks per
# node and pass; "pairs" and "dense" force one kind (for tests and timing).
# The codes are CP_K_* in src/lrp.h.
lrp_kernel_code <- function() {
  k <- getOption("cphap.lrp_kernels", "auto")
  codes <- c(auto = 0, pairs = 1, dense = 2)
  if (!is.character(k) || length(k) != 1L || !k %in% names(codes)) {
    cli::cli_abort(
      "The option {.code cphap.lrp_kernels} must be one of {.val {names(codes)}}, not {.val {format(k)}}."
    )
  }
  codes[[k]]
}

# Relevance of every plan (layer) for all samples of x. The samples run in
# chunks of `chunk_size` through map_chunks() (in this process, or on the
# user's future plan); each chunk's masks are keyed by its samples' indices
# in x, so results do not depend on the chunks or the plan.
relevance_run <- function(model, x, plans, seed, classes, rules, passes, rate, seed_words,
                          progress, chunk_size = NULL) {
  n <- dim(x)[1]
  # masks matter only with rate > 0 and several passes
  mc_on <- rate > 0 && passes > 1L
  size <- check_chunk_size(chunk_size, n)
  chunks <- lapply(chunk_ranges(n, size), function(s) {
    xs <- if (length(s) == n) x else x[s, , , drop = FALSE]
    list(samples = s, x = xs, classes = classes[s])
  })
  # one bar in this process: the chunk's own, else one step per chunk
  inner <- progress && length(chunks) == 1L && !use_futures()
  # samples per call into C: about 50 progress steps over all samples with
  # Monte-Carlo passes (results do not depend on it)
  step <- if (mc_on) max(1L, as.integer(ceiling(n / 50))) else 256L
  res <- map_chunks(chunks, relevance_chunk,
    model = model, plans = plans, seed = seed, step = step, codes = node_rule_codes(model, rules),
    params = c(rules$epsilon, rules$alpha, rules$beta, lrp_kernel_code()), passes = passes,
    rate = rate, seed_words = seed_words, mc_on = mc_on, bar_on = inner,
    label = "Relevance", progress = progress && !inner
  )
  # plan by plan, samples in order
  parts <- unlist(lapply(seq_along(plans), function(p) {
    unlist(lapply(res, `[[`, p), recursive = FALSE)
  }), recursive = FALSE)
  build_relevance(model, x, parts, seed, rules, passes, rate, mc_on)
}

# The relevance of one chunk of samples (chunk$x, chunk$classes; global
# indices chunk$samples): per plan, the list of parts from the C calls of
# `step` samples each.
relevance_chunk <- function(chunk, model, plans, seed, step, codes, params, passes, rate,
                            seed_words, mc_on, bar_on) {
  x <- chunk$x
  n <- dim(x)[1]
  offset <- chunk$samples[1] - 1L
  keys <- as.double(chunk$samples - 1L)
  n_nodes <- length(model$layers)
  xa <- aperm(x, 3:1)
  storage.mode(xa) <- "double"
  threads <- cphap_threads()
  starts <- seq(1L, n, by = step)
  bar <- progress_start(bar_on, "Relevance", length(starts) * length(plans))
  out <- lapply(plans, function(pl) {
    acts <- if (seed == "active") forward_nodes(model, x, model$interp$node[pl$row], conv = 0L)[[1]]
    rates <- numeric(n_nodes)
    rate_in <- 0
    if (mc_on) {
      rates[pl$drop[pl$drop > 0L]] <- rate
      if (0L %in% pl$drop) rate_in <- rate
    }
    mc <- c(passes, seed_words, rate_in, rates)
    lapply(starts, function(s0) {
      samples <- s0:min(n, s0 + step - 1L)
      jp <- plan_jobs(model, pl, seed, chunk$classes, samples, acts, offset)
      res <- .Call(cp_relevance_r, model$spec, xa, jp$jobs, jp$pos, codes, params, mc, keys,
                   threads)
      progress_tick(bar)
      list(res = res, desc = jp$desc, row = pl$row, drop = pl$drop)
    })
  })
  progress_end(bar)
  out
}

build_relevance <- function(model, x, parts, seed, rules, passes, rate, mc_on) {
  C <- model$input_dim[1]
  L <- model$input_dim[2]
  ip <- model$interp
  col <- function(f) unlist(lapply(parts, f), use.names = FALSE)
  seeds <- data.frame(
    sample = col(function(p) as.integer(p$desc[, 1])),
    layer = factor(col(function(p) rep(if (is.na(p$row)) NA_character_ else ip$name[p$row], nrow(p$desc))),
      levels = ip$name
    ),
    channel = col(function(p) if (is.na(p$row)) rep(NA_integer_, nrow(p$desc)) else as.integer(p$desc[, 2])),
    node = col(function(p) as.integer(p$desc[, 3])),
    class = col(function(p) model$classes[p$desc[, 4]]),
    seeded = col(function(p) p$res$seeded),
    conservation = col(function(p) p$res$conservation),
    stringsAsFactors = FALSE
  )
  seeds <- data.frame(seeds[, c("sample", "layer", "channel")], seed = rep(seed, nrow(seeds)),
    seeds[, c("node", "class", "seeded", "conservation")], stringsAsFactors = FALSE
  )
  n_jobs <- nrow(seeds)
  # C writes each seed's relevance input channel by input channel
  arr <- function(v) aperm(array(v, c(L, C, n_jobs)), 3:1)
  sd <- col(function(p) p$res$sd)
  if (passes == 1L) sd[] <- NA_real_
  res <- flag_nonfinite(
    list(seeds = seeds, mean = arr(col(function(p) p$res$mean)), sd = arr(sd),
         q05 = arr(col(function(p) p$res$q05)), q95 = arr(col(function(p) p$res$q95))),
    x
  )
  drops <- unique(unlist(lapply(parts, function(p) p$drop)))
  structure(
    c(res, list(x = x)),
    class = "cphap_relevance_compact",
    rules = rules, rule_table = used_rules(model, rules, parts, seed), passes = passes,
    rate = rate,
    dropout = if (mc_on) drop_label(model, drops) else character(),
    input_names = model$input_names
  )
}

# Attributes that relevance results carry.
relevance_attrs <- c("rules", "rule_table", "passes", "rate", "dropout", "input_names",
                     "class_seed", "runner_up", "sample_ids", "data_name")

# The long result (one row per seed, input channel and position) of a
# compact one.
relevance_long <- function(object) {
  s <- object$seeds
  n_jobs <- nrow(s)
  C <- dim(object$mean)[2]
  L <- dim(object$mean)[3]
  per_job <- function(v) rep(v, each = C * L)
  flat <- function(a) as.vector(aperm(a, 3:1))
  sample <- per_job(s$sample)
  input_channel <- rep(rep(seq_len(C), each = L), times = n_jobs)
  position <- rep(seq_len(L), times = C * n_jobs)
  out <- data.frame(
    sample = sample, layer = per_job(s$layer), channel = per_job(s$channel),
    seed = per_job(s$seed), node = per_job(s$node), class = per_job(s$class),
    input_channel = input_channel, position = position,
    value = unname(object$x[cbind(sample, input_channel, position)]),
    mean = flat(object$mean), sd = flat(object$sd), q05 = flat(object$q05), q95 = flat(object$q95),
    seeded = per_job(s$seeded), conservation = per_job(s$conservation),
    stringsAsFactors = FALSE
  )
  keep <- intersect(relevance_attrs, names(attributes(object)))
  attributes(out)[keep] <- attributes(object)[keep]
  class(out) <- c("cphap_relevance", "data.frame")
  out
}

# The rule table of the layers relevance passed through: up to the seeded
# layer (all layers for class seeds).
used_rules <- function(model, rules, parts, seed) {
  tab <- rule_table(model, rules)
  rows <- unlist(lapply(parts, function(p) p$row))
  top <- if (seed == "class") nrow(tab) else max(model$interp$node[rows])
  tab[tab$index <= top, , drop = FALSE]
}

# Relevance that is not finite (the input's magnitude overflows double
# precision, or the input holds NA) becomes NA, with a warning. `res`: the
# compact parts (seeds table and arrays [seed, input channel, position]); a
# seed whose seeded or conserved relevance is not finite is NA throughout.
flag_nonfinite <- function(res, x) {
  bad_seed <- !is.finite(res$seeds$seeded) | !is.finite(res$seeds$conservation)
  bad <- !is.finite(res$mean) | !is.finite(res$q05) | !is.finite(res$q95) |
    (!is.na(res$sd) & !is.finite(res$sd))
  bad[bad_seed, , ] <- TRUE
  if (!any(bad)) {
    return(res)
  }
  for (a in c("mean", "sd", "q05", "q95")) res[[a]][bad] <- NA_real_
  res$seeds$seeded[bad_seed] <- NA_real_
  res$seeds$conservation[bad_seed] <- NA_real_
  big <- suppressWarnings(max(abs(x), na.rm = TRUE))
  cli::cli_warn(c(
    "{sum(bad)} of {length(bad)} relevance values are not finite and were set to NA.",
    i = if (anyNA(x)) "The input holds NA values." else "The largest input magnitude is {format(big, digits = 3)}: the computation overflows double precision; rescale the input."
  ))
  res
}

#' @export
as.data.frame.cphap_relevance <- function(x, ...) {
  attributes(x)[relevance_attrs] <- NULL
  class(x) <- "data.frame"
  x
}

#' Compact relevance results
#'
#' [unit_relevance()] with `format = "compact"` returns the relevance of
#' every seed as arrays instead of one row per input point. These methods
#' turn it into the long data frame (`as.data.frame()`, the same rows and
#' columns as `format = "long"`), summarise it per seed, print it and plot
#' it (through the long form of the samples drawn).
#'
#' @param x,object A `cphap_relevance_compact`.
#' @param ... Passed to [autoplot.cphap_relevance()] by `autoplot()`;
#'   unused otherwise.
#' @return `as.data.frame()`: a data frame; `summary()`: a
#'   `summary.cphap_relevance` data frame, one row per seed; `autoplot()`:
#'   a ggplot object.
#' @examples
#' m <- demo_model()
#' r <- unit_relevance(m, gunpoint$test, "conv3", channels = 1:2, passes = 5,
#'                     format = "compact")
#' r
#' dim(r$mean)
#' head(as.data.frame(r))
#' summary(r)
#' ggplot2::autoplot(r, sample = 19)
#' @name relevance-compact
NULL

#' @rdname relevance-compact
#' @export
as.data.frame.cphap_relevance_compact <- function(x, ...) {
  as.data.frame(relevance_long(x))
}

#' @rdname relevance-compact
#' @export
summary.cphap_relevance_compact <- function(object, ...) {
  jobs <- object$seeds
  n <- nrow(jobs)
  L <- dim(object$mean)[3]
  # [seed, points] with points in the order of the long form
  points <- function(a) matrix(aperm(a, c(1, 3, 2)), n)
  m <- points(object$mean)
  jobs$total <- rowSums(m)
  jobs$max_abs <- apply(abs(m), 1L, max)
  jobs$top_position <- as.integer((max.col(abs(m), ties.method = "first") - 1L) %% L + 1L)
  jobs$mean_sd <- rowMeans(points(object$sd))
  rownames(jobs) <- NULL
  structure(jobs, class = c("summary.cphap_relevance", "data.frame"))
}

#' @rdname relevance-compact
#' @export
print.cphap_relevance_compact <- function(x, ...) {
  d <- dim(x$mean)
  r <- attr(x, "rules")
  cat_line("{.cls cphap_relevance_compact}: {d[1]} seed{?s} ({.val {unique(x$seeds$seed)}}) over {length(unique(x$seeds$sample))} sample{?s}; arrays [seed, input channel, position] of {d[1]} x {d[2]} x {d[3]}")
  cat_line("Rules: preset {.val {r$preset}}; passes: {attr(x, 'passes')}, dropout rate {attr(x, 'rate')}")
  cat_line("Long form: {.code as.data.frame()} ({prod(d)} rows).")
  print(utils::head(x$seeds, 6L), row.names = FALSE)
  if (d[1] > 6L) cat_line("{.emph ... {d[1] - 6} more seeds}")
  invisible(x)
}

#' @rdname relevance-compact
#' @param sample Which samples to draw (see [autoplot.cphap_relevance()]).
#' @method autoplot cphap_relevance_compact
#' @export
autoplot.cphap_relevance_compact <- function(object, sample = NULL, ...) {
  have <- unique(object$seeds$sample)
  pick <- if (is.null(sample)) utils::head(have, 6L) else sample
  keep <- object$seeds$sample %in% pick
  sub <- object
  sub$seeds <- object$seeds[keep, , drop = FALSE]
  for (a in c("mean", "sd", "q05", "q95")) sub[[a]] <- object[[a]][keep, , , drop = FALSE]
  if (is.null(sample) && length(have) > 6L) {
    cli::cli_inform("Drawing the first 6 of {length(have)} samples; choose others with {.arg sample}.")
  }
  if (!all(pick %in% have)) {
    cli::cli_abort("{.arg sample} {setdiff(pick, have)} {?is/are} not in the result (samples {.val {have}}).",
      call = NULL
    )
  }
  autoplot(relevance_long(sub), sample = sample, ...)
}

# One row per seed (job).
relevance_jobs <- function(x) {
  d <- as.data.frame(x)
  key <- paste(d$sample, d$layer, d$channel, d$seed, d$node, d$class, sep = "\r")
  key <- factor(key, levels = unique(key))
  first <- !duplicated(key)
  sp <- split(seq_len(nrow(d)), key)
  jobs <- d[first, c("sample", "layer", "channel", "seed", "node", "class", "seeded", "conservation")]
  jobs$total <- vapply(sp, function(i) sum(d$mean[i]), numeric(1))
  jobs$max_abs <- vapply(sp, function(i) max(abs(d$mean[i])), numeric(1))
  jobs$top_position <- vapply(sp, function(i) d$position[i][which.max(abs(d$mean[i]))], integer(1))
  jobs$mean_sd <- vapply(sp, function(i) mean(d$sd[i]), numeric(1))
  rownames(jobs) <- NULL
  jobs
}

#' @export
print.cphap_relevance <- function(x, ...) {
  d <- as.data.frame(x)
  n_jobs <- nrow(unique(d[, c("sample", "layer", "channel", "seed", "node", "class")]))
  r <- attr(x, "rules")
  cat_line("{.cls cphap_relevance}: {n_jobs} seed{?s} ({.val {unique(d$seed)}}) over {length(unique(d$sample))} sample{?s}, {nrow(d)} rows")
  cat_line("Rules: preset {.val {r$preset}}; passes: {attr(x, 'passes')}, dropout rate {attr(x, 'rate')}{if (length(attr(x, 'dropout'))) paste0(' on ', paste(attr(x, 'dropout'), collapse = ', ')) else ' (none)'}")
  if (!is.null(attr(x, "rule_table"))) {
    cat(format_rule_table(attr(x, "rule_table")), sep = "\n")
  }
  print(utils::head(d, 6L), row.names = FALSE)
  if (nrow(d) > 6L) cat_line("{.emph ... {nrow(d) - 6} more rows}")
  invisible(x)
}

#' Summaries of relevance results
#'
#' One row per seed: the seeded relevance, the relevance summed over the
#' input (`total`), the conservation difference, the largest absolute mean
#' relevance and where it is (`top_position`), and the mean standard
#' deviation over the input.
#'
#' @param object A `cphap_relevance` from [unit_relevance()] or [lrp()].
#' @param ... Unused.
#' @return A data frame of class `summary.cphap_relevance`.
#' @examples
#' m <- demo_model()
#' r <- unit_relevance(m, gunpoint$test$x[19, ], "conv2", channels = 1:3, passes = 10)
#' summary(r)
#' @export
summary.cphap_relevance <- function(object, ...) {
  structure(relevance_jobs(object), class = c("summary.cphap_relevance", "data.frame"))
}

#' @export
print.summary.cphap_relevance <- function(x, ...) {
  cat(cli::rule("Relevance per seed"), "\n", sep = "")
  d <- x
  class(d) <- "data.frame"
  print(d, row.names = FALSE, digits = 4)
  invisible(x)
}

#' Plot relevance along the series
#'
#' For each sample, the input series (upper panel) as a line with its points
#' coloured by mean relevance, and the mean relevance (lower panel) with a
#' band for its spread over the Monte-Carlo passes (mean ± sd, or the 5% to
#' 95% quantiles). The colour scale is diverging and centred at 0, symmetric
#' around it: red points carry positive relevance (evidence for the seeded
#' unit or class), blue points negative relevance (evidence against), grey
#' points none. Multivariate input gets one column of panels per input
#' channel; several samples or seeds get one row of panels each.
#'
#' @param object A `cphap_relevance`.
#' @param sample Which samples to show (`NULL`: all samples in `object`, at
#'   most 6).
#' @param layer,channels Optional selection of units.
#' @param channel Deprecated name of `channels`.
#' @param band `"sd"` (mean ± sd), `"quantile"` (q05 to q95) or `"none"`.
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' set.seed(1)
#' m <- demo_model()
#' r <- unit_relevance(m, gunpoint$test$x[c(1, 19), ], "conv3", channels = 2, passes = 30)
#' ggplot2::autoplot(r)
#' ggplot2::autoplot(r, sample = 2, band = "quantile")
#' @importFrom ggplot2 autoplot .data
#' @method autoplot cphap_relevance
#' @export
autoplot.cphap_relevance <- function(object, sample = NULL, layer = NULL, channels = NULL,
                                     band = c("sd", "quantile", "none"), ..., channel = NULL) {
  channels <- renamed_arg(channels, channel, "channels", "channel")
  band <- match.arg(band)
  d <- as.data.frame(object)
  have <- unique(d$sample)
  if (is.null(sample)) {
    sample <- utils::head(have, 6L)
    if (length(have) > 6L) {
      cli::cli_inform("Drawing the first 6 of {length(have)} samples; choose others with {.arg sample}.")
    }
  }
  sample <- check_whole_vector(sample, "sample", min = 1)
  if (!all(sample %in% have)) {
    cli::cli_abort("{.arg sample} {setdiff(sample, have)} {?is/are} not in the result (samples {.val {have}}).",
      call = NULL
    )
  }
  d <- d[d$sample %in% sample, , drop = FALSE]
  if (!is.null(layer)) d <- d[as.character(d$layer) %in% layer, , drop = FALSE]
  if (!is.null(channels)) d <- d[d$channel %in% channels, , drop = FALSE]
  if (nrow(d) == 0L) {
    cli::cli_abort("Nothing to plot: no rows match {.arg layer} / {.arg channels}.", call = NULL)
  }
  d$unit <- unit_label(d)
  d$input_channel <- factor(d$input_channel)
  # strips name the series; the title names the data set
  labs <- sample_labels_of(object, unique(sample), with_name = FALSE)
  d$sample_label <- factor(labs[match(d$sample, unique(sample))], levels = labs)
  passes <- attr(object, "passes")
  band_name <- switch(band,
    sd = sprintf("mean \u00b1 sd over %d passes", passes),
    quantile = sprintf("5%% to 95%% quantile over %d passes", passes),
    none = NA_character_
  )
  panels <- c("input value", "relevance (mean)")
  keep <- c("sample_label", "unit", "input_channel", "position", "mean")
  series <- data.frame(d[, keep], y = d$value, panel = factor(panels[1], levels = panels))
  rel <- data.frame(d[, keep], y = d$mean, panel = factor(panels[2], levels = panels),
    lo = switch(band, sd = d$mean - d$sd, quantile = d$q05, none = NA_real_),
    hi = switch(band, sd = d$mean + d$sd, quantile = d$q95, none = NA_real_),
    band = band_name
  )
  lim <- max(abs(d$mean))
  if (!is.finite(lim) || lim == 0) lim <- 1
  p <- ggplot2::ggplot(mapping = ggplot2::aes(x = .data$position, y = .data$y))
  if (band != "none" && any(is.finite(rel$lo))) {
    p <- p + ggplot2::geom_ribbon(
      data = rel[is.finite(rel$lo), , drop = FALSE],
      ggplot2::aes(ymin = .data$lo, ymax = .data$hi, fill = .data$band), alpha = 0.4
    ) +
      ggplot2::scale_fill_manual(values = stats::setNames("grey55", band_name), name = "spread")
  }
  p <- p +
    ggplot2::geom_hline(data = rel[!duplicated(rel[, c("sample_label", "unit", "input_channel")]), ],
      ggplot2::aes(yintercept = 0), colour = "grey70", linewidth = 0.3) +
    ggplot2::geom_line(data = rel, colour = "grey20") +
    ggplot2::geom_line(data = series, colour = "grey40") +
    ggplot2::geom_point(data = series, ggplot2::aes(colour = .data$mean), size = 1.2) +
    ggplot2::scale_colour_gradient2(
      low = "#2166AC", mid = "grey85", high = "#B2182B", midpoint = 0, limits = c(-lim, lim),
      name = "mean relevance\n(centred at 0)\nred: for, blue: against"
    ) +
    scale_x_integer() +
    ggplot2::labs(
      x = "position (time)", y = "input value (upper panel) and mean relevance (lower panel)",
      title = samples_phrase_of(object, unique(sample))
    ) +
    ggplot2::theme_minimal()
  rows <- c(if (length(sample) > 1L) "sample_label", if (length(unique(d$unit)) > 1L) "unit", "panel")
  cols <- if (length(levels(d$input_channel)) > 1L) "input_channel" else "."
  if (length(unique(d$unit)) == 1L) p <- p + ggplot2::labs(subtitle = d$unit[1])
  lab <- ggplot2::labeller(input_channel = channel_labeller(attr(object, "input_names")))
  p + ggplot2::facet_grid(stats::as.formula(paste(paste(rows, collapse = " + "), "~", cols)),
    scales = "free_y", labeller = lab
  )
}

unit_label <- function(d) {
  lab <- ifelse(is.na(d$layer), "output", paste0(d$layer, " ch", d$channel))
  lab <- paste0(lab, " ", d$seed)
  lab <- ifelse(is.na(d$node), lab, paste0(lab, " ", d$node))
  ifelse(is.na(d$class), lab, paste0(lab, " ", d$class))
}
