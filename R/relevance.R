# Relevance from internal units (DESIGN 1.6) and from class outputs, with
# Monte-Carlo dropout. The numerics are in src/lrp.c.

#' Relevance of input points for internal units, with Monte-Carlo dropout
#'
#' Layer-wise relevance propagation (LRP) started from an internal unit
#' (layer `layer`, channel `channel`) rather than from the class output, as in
#' the relevance framework of CPHAP. The seed is the unit's activation map
#' `A_jk(x)`: at all positions (`seed = "all"`), only at its highly activated
#' nodes (`"active"`: activation above the channel's threshold), or at one
#' node (`"node"`); everything else at that layer is zero. With
#' `seed = "class"` relevance starts from a class logit (before the softmax)
#' and only the part that flows through channel `channel` of `layer` is kept.
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
#' keyed by one draw from R's random number generator, so `set.seed()`
#' reproduces results for any number of threads (option `cphap.threads`), and
#' all units of one sample share the masks of each pass.
#'
#' **Speed.** Layers before the first dropout mask are computed once per
#' sample, and each rule's convolutions run only on the (channel, time) pairs
#' that carry relevance when these are few (as after winner-takes-all
#' pooling), else densely. The option `cphap.lrp_kernels` (`"auto"`, the
#' default, `"pairs"` or `"dense"`) forces one kind; results agree to
#' rounding.
#'
#' @param model A [cphap_model()].
#' @param x Series: a matrix `[n, L]`, an array `[n, C, L]` or a `cphap_data`.
#' @param layer Interpretable layer(s) (names or positions, see
#'   [interpretable_layers()]).
#' @param channel Channels (units) of the layer, 1-based; `NULL` for all.
#' @param seed `"all"`, `"active"`, `"node"` or `"class"` (see Description).
#' @param node With `seed = "node"`: node positions (1-based) along the
#'   layer; one seed per node.
#' @param class With `seed = "class"`: the class (label or index), one value
#'   or one per sample; `NULL` for the predicted class.
#' @param threshold With `seed = "active"`: the thresholds `T_jk`, one value or
#'   one per channel of the layer (a list named by layer when several layers
#'   are given). A node is highly activated when its activation is strictly
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
#' @param progress Show a progress bar on long runs.
#' @return A `cphap_relevance` data frame, one row per seed, input channel and
#'   input position, with columns:
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
#'   Attributes hold the rules, passes, rate and dropout layers; see
#'   [autoplot.cphap_relevance()] and [summary.cphap_relevance()].
#' @seealso [lrp()] for relevance of a class output, [lrp_rules()].
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 2, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' x <- matrix(rnorm(2 * 64), 2, 64)
#' r <- unit_relevance(m, x, "conv2", channel = 1:2, passes = 20)
#' r
#' summary(r)
#' r1 <- unit_relevance(m, x[1, ], "conv3", channel = 1, seed = "node", node = 3,
#'                      passes = 20)
#' ggplot2::autoplot(r1)
#' @export
unit_relevance <- function(model, x, layer, channel = NULL,
                           seed = c("all", "active", "node", "class"), node = NULL,
                           class = NULL, threshold = NULL, reference = NULL, alpha = 0.05,
                           rules = "default", passes = 300, rate = 0.5,
                           dropout_layers = NULL, progress = TRUE) {
  model <- check_model(model)
  x <- as_input(x, model)
  seed <- match.arg(seed)
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
  ip <- model$interp
  n <- dim(x)[1]
  classes <- if (seed == "class") resolve_class(model, x, class) else NULL
  plans <- lapply(rows, function(r) {
    chans <- check_channels(channel, ip$channels[r], ip$name[r])
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
  relevance_run(model, x, plans, seed, classes, rules, passes, rate, seed_words, progress)
}

#' Layer-wise relevance propagation from a class output
#'
#' Plain LRP for comparison with [unit_relevance()]: relevance starts from
#' the logit (the output before its softmax) of `class` and is propagated to
#' the input with `rules`, without dropout.
#'
#' @inheritParams unit_relevance
#' @param class The class (label or index), one value or one per sample;
#'   `NULL` for each sample's predicted class.
#' @return A `cphap_relevance` data frame (see [unit_relevance()]) with
#'   `seed = "class"`, `layer` and `channel` NA, `mean` the relevance and `sd`
#'   NA.
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 2, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' x <- matrix(rnorm(3 * 64), 3, 64)
#' r <- lrp(m, x, rules = "epsilon")
#' head(as.data.frame(r))
#' @export
lrp <- function(model, x, class = NULL, rules = "default") {
  model <- check_model(model)
  x <- as_input(x, model)
  rules <- as_rules(rules)
  classes <- resolve_class(model, x, class)
  plans <- list(list(row = NA_integer_, chans = NA_integer_, nodes = NULL, thr = NULL, drop = integer()))
  relevance_run(model, x, plans, "class", classes, rules, 1L, 0, c(0, 0), FALSE)
}

# Channels (units) of a layer: NULL means all; whole numbers in range.
# n_ch may hold several layers' channel counts (then the smallest bounds).
check_channels <- function(channel, n_ch, lname = NULL) {
  n_ch <- min(n_ch)
  if (is.null(channel)) {
    return(seq_len(n_ch))
  }
  if (!is.numeric(channel) || length(channel) == 0L || anyNA(channel) ||
    any(channel != round(channel)) || any(channel < 1) || any(channel > n_ch)) {
    of <- if (is.null(lname)) "" else paste0(" (the channels of layer ", lname, ")")
    cli::cli_abort(
      "{.arg channel} must be whole numbers between 1 and {n_ch}{of}, not {.val {format_value(channel)}}.",
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
    return(as.integer(predict(model, x)))
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
  a <- forward_nodes(model, ref, ip$node[r])[[1]]
  vapply(seq_len(n_ch), function(k) {
    unname(stats::quantile(a[, k, ], 1 - alpha, type = 7))
  }, numeric(1))
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

# Jobs of one plan for samples s (1-based): integer matrix (0-based codes),
# seed weights, and the per-job descriptors.
plan_jobs <- function(model, plan, seed, classes, samples, acts) {
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
        desc[[length(desc) + 1L]] <- c(s, k, NA, classes[s])
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
          desc[[length(desc) + 1L]] <- c(s, k, t, NA)
        }
      } else {
        w <- if (seed == "all") rep(1, len) else as.double(acts[s, k, ] > plan$thr[k])
        rows[[length(rows) + 1L]] <- base
        pos[[length(pos) + 1L]] <- w
        desc[[length(desc) + 1L]] <- c(s, k, NA, NA)
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

relevance_run <- function(model, x, plans, seed, classes, rules, passes, rate, seed_words,
                          progress) {
  n <- dim(x)[1]
  C <- model$input_dim[1]
  L <- model$input_dim[2]
  ip <- model$interp
  n_nodes <- length(model$layers)
  codes <- node_rule_codes(model, rules)
  params <- c(rules$epsilon, rules$alpha, rules$beta, lrp_kernel_code())
  xa <- aperm(x, 3:1)
  storage.mode(xa) <- "double"
  threads <- cphap_threads()
  # masks matter only with rate > 0 and several passes
  mc_on <- rate > 0 && passes > 1L
  # samples per call into C: about 50 progress steps with Monte-Carlo passes
  chunk <- if (mc_on) max(1L, as.integer(ceiling(n / 50))) else 256L
  starts <- seq(1L, n, by = chunk)
  total <- length(starts) * length(plans)
  bar <- NULL
  if (progress && total > 1L) {
    bar <- cli::cli_progress_bar("Relevance", total = total, clear = TRUE, .envir = environment())
  }
  parts <- list()
  for (pl in plans) {
    acts <- if (seed == "active") forward_nodes(model, x, ip$node[pl$row])[[1]]
    rates <- numeric(n_nodes)
    rate_in <- 0
    if (mc_on) {
      rates[pl$drop[pl$drop > 0L]] <- rate
      if (0L %in% pl$drop) rate_in <- rate
    }
    mc <- c(passes, seed_words, rate_in, rates)
    for (s0 in starts) {
      samples <- s0:min(n, s0 + chunk - 1L)
      jp <- plan_jobs(model, pl, seed, classes, samples, acts)
      res <- .Call(cp_relevance_r, model$spec, xa, jp$jobs, jp$pos, codes, params, mc, threads)
      parts[[length(parts) + 1L]] <- list(res = res, desc = jp$desc, row = pl$row, drop = pl$drop)
      if (!is.null(bar)) cli::cli_progress_update(id = bar)
    }
  }
  if (!is.null(bar)) cli::cli_progress_done(id = bar)
  build_relevance(model, x, parts, seed, rules, passes, rate, mc_on)
}

build_relevance <- function(model, x, parts, seed, rules, passes, rate, mc_on) {
  C <- model$input_dim[1]
  L <- model$input_dim[2]
  CL <- C * L
  ip <- model$interp
  col <- function(f) unlist(lapply(parts, f), use.names = FALSE)
  per_job <- function(f) col(function(p) rep(f(p), each = CL))
  sample <- per_job(function(p) as.integer(p$desc[, 1]))
  layer <- per_job(function(p) rep(if (is.na(p$row)) NA_character_ else ip$name[p$row], nrow(p$desc)))
  channel <- per_job(function(p) if (is.na(p$row)) rep(NA_integer_, nrow(p$desc)) else as.integer(p$desc[, 2]))
  node <- per_job(function(p) as.integer(p$desc[, 3]))
  cls <- per_job(function(p) model$classes[p$desc[, 4]])
  n_jobs <- sum(vapply(parts, function(p) nrow(p$desc), integer(1)))
  input_channel <- rep(rep(seq_len(C), each = L), times = n_jobs)
  position <- rep(seq_len(L), times = C * n_jobs)
  value <- x[cbind(sample, input_channel, position)]
  sd <- col(function(p) p$res$sd)
  if (passes == 1L) sd[] <- NA_real_
  out <- data.frame(
    sample = sample,
    layer = factor(layer, levels = ip$name),
    channel = channel,
    seed = rep(seed, length(sample)),
    node = node,
    class = cls,
    input_channel = input_channel,
    position = position,
    value = value,
    mean = col(function(p) p$res$mean),
    sd = sd,
    q05 = col(function(p) p$res$q05),
    q95 = col(function(p) p$res$q95),
    seeded = per_job(function(p) p$res$seeded),
    conservation = per_job(function(p) p$res$conservation),
    stringsAsFactors = FALSE
  )
  out <- flag_nonfinite(out, x)
  drops <- unique(unlist(lapply(parts, function(p) p$drop)))
  structure(out,
    class = c("cphap_relevance", "data.frame"),
    rules = rules, passes = passes, rate = rate,
    dropout = if (mc_on) drop_label(model, drops) else character(),
    input_names = model$input_names
  )
}

# Relevance that is not finite (the input's magnitude overflows double
# precision, or the input holds NA) becomes NA, with a warning.
flag_nonfinite <- function(out, x) {
  cols <- c("mean", "sd", "q05", "q95", "seeded", "conservation")
  bad <- !is.finite(out$mean) | !is.finite(out$q05) | !is.finite(out$q95) |
    !is.finite(out$seeded) | !is.finite(out$conservation) |
    (!is.na(out$sd) & !is.finite(out$sd))
  if (!any(bad)) {
    return(out)
  }
  for (cl in cols) out[[cl]][bad] <- NA_real_
  big <- suppressWarnings(max(abs(x), na.rm = TRUE))
  cli::cli_warn(c(
    "{sum(bad)} of {nrow(out)} relevance values are not finite and were set to NA.",
    i = if (anyNA(x)) "The input holds NA values." else "The largest input magnitude is {format(big, digits = 3)}: the computation overflows double precision; rescale the input."
  ))
  out
}

#' @export
as.data.frame.cphap_relevance <- function(x, ...) {
  attributes(x)[c("rules", "passes", "rate", "dropout", "input_names")] <- NULL
  class(x) <- "data.frame"
  x
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
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 2, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' r <- unit_relevance(m, rnorm(64), "conv2", channel = 1:3, passes = 10)
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
#' The input series as a line with its points coloured by mean relevance (a
#' diverging scale centred at zero) and, below it, the mean relevance with a
#' band for the spread over the Monte-Carlo passes (mean +/- sd or the 5%-95%
#' quantile band). Multivariate input gets one column per input channel;
#' several seeds get one row each.
#'
#' @param object A `cphap_relevance`.
#' @param sample Which sample to show (`NULL`: the first one in `object`).
#' @param layer,channel Optional selection of units.
#' @param band `"sd"` (mean +/- sd), `"quantile"` (q05 to q95) or `"none"`.
#' @param ... Unused.
#' @return A ggplot object.
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 2, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' r <- unit_relevance(m, rnorm(64), "conv3", channel = 2, passes = 30)
#' ggplot2::autoplot(r, band = "quantile")
#' @importFrom ggplot2 autoplot .data
#' @method autoplot cphap_relevance
#' @export
autoplot.cphap_relevance <- function(object, sample = NULL, layer = NULL, channel = NULL,
                                     band = c("sd", "quantile", "none"), ...) {
  band <- match.arg(band)
  d <- as.data.frame(object)
  if (is.null(sample)) sample <- d$sample[1]
  check_whole(sample, "sample", min = 1)
  if (!sample %in% d$sample) {
    cli::cli_abort("{.arg sample} {sample} is not in the result (samples {.val {unique(d$sample)}}).",
      call = NULL
    )
  }
  d <- d[d$sample == sample, , drop = FALSE]
  if (!is.null(layer)) d <- d[as.character(d$layer) %in% layer, , drop = FALSE]
  if (!is.null(channel)) d <- d[d$channel %in% channel, , drop = FALSE]
  if (nrow(d) == 0L) {
    cli::cli_abort("Nothing to plot: no rows match {.arg layer} / {.arg channel}.", call = NULL)
  }
  d$unit <- unit_label(d)
  d$input_channel <- factor(d$input_channel)
  lo <- switch(band, sd = d$mean - d$sd, quantile = d$q05, none = NA_real_)
  hi <- switch(band, sd = d$mean + d$sd, quantile = d$q95, none = NA_real_)
  series <- data.frame(d[, c("unit", "input_channel", "position", "mean")],
    y = d$value, panel = "series"
  )
  rel <- data.frame(d[, c("unit", "input_channel", "position", "mean")],
    y = d$mean, lo = lo, hi = hi, panel = "relevance"
  )
  series$panel <- factor(series$panel, levels = c("series", "relevance"))
  rel$panel <- factor(rel$panel, levels = c("series", "relevance"))
  p <- ggplot2::ggplot(mapping = ggplot2::aes(x = .data$position, y = .data$y))
  if (band != "none" && any(is.finite(rel$lo))) {
    p <- p + ggplot2::geom_ribbon(
      data = rel[is.finite(rel$lo), , drop = FALSE],
      ggplot2::aes(ymin = .data$lo, ymax = .data$hi), fill = "grey60", alpha = 0.4
    )
  }
  p <- p +
    ggplot2::geom_line(data = rel, colour = "grey20") +
    ggplot2::geom_line(data = series, colour = "grey40") +
    ggplot2::geom_point(data = series, ggplot2::aes(colour = .data$mean), size = 1.2) +
    ggplot2::scale_colour_gradient2(
      low = "#2166AC", mid = "grey85", high = "#B2182B", midpoint = 0,
      name = "mean\nrelevance"
    ) +
    ggplot2::labs(x = "position", y = NULL, title = paste("Sample", sample)) +
    ggplot2::theme_minimal()
  multi_unit <- length(unique(d$unit)) > 1L
  rows <- if (multi_unit) "unit + panel" else "panel"
  cols <- if (length(levels(d$input_channel)) > 1L) "input_channel" else "."
  if (!multi_unit) p <- p + ggplot2::labs(subtitle = d$unit[1])
  lab <- ggplot2::labeller(input_channel = function(v) paste("input channel", v))
  p + ggplot2::facet_grid(stats::as.formula(paste(rows, "~", cols)), scales = "free_y",
    labeller = lab
  )
}

unit_label <- function(d) {
  lab <- ifelse(is.na(d$layer), "output", paste0(d$layer, " ch", d$channel))
  lab <- paste0(lab, " ", d$seed)
  lab <- ifelse(is.na(d$node), lab, paste0(lab, " ", d$node))
  ifelse(is.na(d$class), lab, paste0(lab, " ", d$class))
}
