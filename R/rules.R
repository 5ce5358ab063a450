# Relevance rules and presets ("composites"): which LRP rule each kind of
# layer uses. The numerics live in src/lrp.c.

# Codes of src/lrp.h.
rule_codes <- c(
  identity = 0L, epsilon = 1L, zplus = 2L, alpha_beta = 3L, w2 = 4L, flat = 5L,
  wta = 6L, proportional = 7L
)

# Layer kinds a user can set, and the rules each accepts.
rule_choices <- list(
  first = c("w2", "flat", "zplus", "epsilon", "alpha_beta"),
  conv = c("zplus", "epsilon", "alpha_beta"),
  dense = c("zplus", "epsilon", "alpha_beta"),
  output = c("epsilon", "zplus", "alpha_beta"),
  batchnorm = c("zplus", "epsilon", "alpha_beta", "identity"),
  maxpool = c("wta", "proportional"),
  global_maxpool = c("wta", "proportional")
)

rule_presets <- list(
  default = c(
    first = "w2", conv = "zplus", dense = "zplus", output = "epsilon",
    batchnorm = "zplus", maxpool = "wta", global_maxpool = "wta"
  ),
  epsilon = c(
    first = "epsilon", conv = "epsilon", dense = "epsilon", output = "epsilon",
    batchnorm = "epsilon", maxpool = "wta", global_maxpool = "wta"
  ),
  alpha_beta = c(
    first = "w2", conv = "alpha_beta", dense = "alpha_beta", output = "epsilon",
    batchnorm = "alpha_beta", maxpool = "wta", global_maxpool = "wta"
  ),
  zplus = c(
    first = "zplus", conv = "zplus", dense = "zplus", output = "zplus",
    batchnorm = "zplus", maxpool = "wta", global_maxpool = "wta"
  ),
  original = c(
    first = "w2", conv = "zplus", dense = "zplus", output = "zplus",
    batchnorm = "zplus", maxpool = "wta", global_maxpool = "wta"
  )
)

#' Relevance rules: presets and per-layer choices
#'
#' Layer-wise relevance propagation (LRP) sends relevance from a seed down to
#' the input, layer by layer, with a rule per kind of layer. `lrp_rules()`
#' picks a preset (a "composite" in the language of the Python package
#' zennit) and lets you override the rule of any kind of layer.
#'
#' Kinds of layers and the rules they accept:
#' * `first`: every convolution or dense layer that reads the input, which is
#'   real-valued and unbounded: `"w2"` (relevance in proportion to the squared
#'   weights), `"flat"` (uniform over the receptive field), `"zplus"`,
#'   `"epsilon"`, `"alpha_beta"`. A layer reads the input also when only
#'   layers that keep its values lie in between (dropout / `Skipping`,
#'   padding, flattening, a linear activation), as with input dropout or a
#'   residual shortcut that starts at the input.
#' * `conv`, `dense`: hidden convolutions and dense layers: `"zplus"` (only
#'   positive contributions; for signed inputs the positive products
#'   `a * w > 0`), `"epsilon"` (contributions over the pre-activation
#'   stabilised by `epsilon`, bias included), `"alpha_beta"` (positive
#'   contributions weighted by `alpha`, negative ones by `beta`, with
#'   `alpha - beta = 1`; biases are ignored by `"zplus"` and `"alpha_beta"`).
#' * `output`: the last dense (or convolution) layer, used when relevance
#'   starts from a class logit.
#' * `batchnorm`: a batch norm that does not directly follow a (linear)
#'   convolution, treated as an element-wise linear layer:
#'   `"zplus"`, `"epsilon"`, `"alpha_beta"` or `"identity"`. A batch norm that
#'   follows a convolution is always folded into it (with its running
#'   statistics, which preserves the output) and the pair uses the
#'   convolution's rule.
#' * `maxpool`, `global_maxpool`: `"wta"` (winner takes all: the first
#'   maximum of each window gets all relevance) or `"proportional"`
#'   (in proportion to the input values: input `a_i` of a window gets
#'   `a_i R / (z + eps)` with `z` the sum over the window).
#'
#' Average and global average pooling and residual additions always split in
#' proportion to the contributions, with the layer's own output stabilised
#' (the convention of zennit's `Norm` rule): an average pooling window of
#' `k` inputs with output `y = (a_1 + ... + a_k) / k` gives input `a_i` the
#' relevance `(a_i / k) R / (y + eps)`, and an addition `y = x_1 + x_2` gives
#' branch `b` the relevance `x_b R / (y + eps)`, where `+ eps` means
#' `+ epsilon * sign(y)` with the sign of 0 taken as positive and a zero
#' denominator passes no relevance. (Stabilising the window sum instead of
#' the mean would differ by a factor of `k` in the stabiliser.)
#' Activations, dropout and flatten layers pass relevance through, and
#' padding is cropped. Relevance never changes sign through a z+ step, so
#' with `"zplus"` everywhere, non-negative inputs and no biases the input
#' relevance sums to the seeded relevance (conservation).
#'
#' Presets:
#' * `"default"`: `w2` on the first layer, z+ on hidden convolutions and
#'   dense layers, winner-takes-all max pooling, epsilon on the output
#'   layer. It differs from the original work in one place: the output
#'   layer uses epsilon instead of z+, so that relevance started from a
#'   class logit keeps the sign of each input's contribution to that logit
#'   (z+ passes only the positive contributions, and a logit made mostly of
#'   negative evidence then spreads its relevance over the few positive
#'   ones).
#' * `"original"`: the rules of the original work's code: `w2` on the first
#'   convolution, z+ on every other convolution and dense layer including
#'   the output, winner-takes-all max pooling. [original_relevance()]
#'   adds the rest of the original setting (seed, channel, dropout).
#' * `"epsilon"`: epsilon everywhere (with `epsilon` -> 0, zero biases and
#'   ReLU / max pooling this equals gradient x input).
#' * `"alpha_beta"`: alpha-beta (default alpha 2, beta 1) on hidden layers,
#'   `w2` on the first, epsilon on the output.
#' * `"zplus"`: z+ everywhere, the first layer included.
#'
#' @section Differences from the original work:
#' The default preset differs from `"original"` in one rule: epsilon
#' instead of z+ on the output layer (see Presets). `lrp_rules("original")`
#' gives the original work's rules.
#'
#' @param preset One of `"default"`, `"epsilon"`, `"alpha_beta"`, `"zplus"`,
#'   `"original"`.
#' @param ... Overrides, `kind = "rule"`, for example `conv = "epsilon"`.
#' @param epsilon Stabiliser of the epsilon rule and of proportional splits
#'   (`>= 0`), added to the layer's output with its sign (see Details); a
#'   zero denominator passes no relevance.
#' @param alpha,beta Weights of the alpha-beta rule; `alpha - beta` must be 1.
#' @return An object of class `cphap_rules`: a list with `rules` (a named
#'   character vector, one rule per kind of layer), `epsilon`, `alpha`,
#'   `beta` and `preset`.
#' @seealso [rule_table()] for the rule each layer of a model gets, [unit_relevance()], [lrp()]
#' @examples
#' lrp_rules()
#' lrp_rules("original")
#' lrp_rules("epsilon", epsilon = 1e-6)
#' lrp_rules(conv = "alpha_beta", alpha = 1.5, beta = 0.5, maxpool = "proportional")
#' @export
lrp_rules <- function(preset = "default", ..., epsilon = 1e-9, alpha = 2, beta = 1) {
  make_rules(preset, list(...), epsilon, alpha, beta, arg = NULL)
}

make_rules <- function(preset, overrides, epsilon, alpha, beta, arg = NULL) {
  where <- function(name) if (is.null(arg)) name else paste0(arg, "$", name)
  if (!is.character(preset) || length(preset) != 1L || !preset %in% names(rule_presets)) {
    cli::cli_abort(
      "{.arg {where('preset')}} must be one of {.val {names(rule_presets)}}, not {.val {format_value(preset)}}.",
      call = NULL
    )
  }
  rules <- rule_presets[[preset]]
  nms <- names(overrides)
  if (length(overrides) > 0L && (is.null(nms) || any(!nzchar(nms)))) {
    cli::cli_abort("Rule overrides must be named by kind of layer ({.val {names(rule_choices)}}).",
      call = NULL
    )
  }
  for (k in nms) {
    if (!k %in% names(rule_choices)) {
      cli::cli_abort(c("{.arg {where(k)}}: unknown kind of layer {.val {k}}.",
        i = "Kinds: {.val {names(rule_choices)}}; parameters: {.val {c('epsilon', 'alpha', 'beta')}}."
      ), call = NULL)
    }
    v <- overrides[[k]]
    if (!is.character(v) || length(v) != 1L || !v %in% rule_choices[[k]]) {
      cli::cli_abort(
        "{.arg {where(k)}} must be one of {.val {rule_choices[[k]]}}, not {.val {format_value(v)}}.",
        call = NULL
      )
    }
    rules[[k]] <- v
  }
  check_number(epsilon, where("epsilon"), 0, Inf)
  check_number(alpha, where("alpha"), 1, Inf)
  check_number(beta, where("beta"), 0, Inf)
  if (abs(alpha - beta - 1) > 1e-12) {
    cli::cli_abort(
      "{.arg {where('alpha')}} - {.arg {where('beta')}} must equal 1 (alpha-beta rule), not {alpha} - {beta} = {alpha - beta}.",
      call = NULL
    )
  }
  structure(
    list(rules = rules, epsilon = epsilon, alpha = alpha, beta = beta, preset = preset),
    class = "cphap_rules"
  )
}

# A preset name, a cphap_rules object, or a named list of overrides and
# parameters (optionally with `preset`).
as_rules <- function(rules, arg = "rules") {
  if (inherits(rules, "cphap_rules")) {
    return(rules)
  }
  if (is.character(rules) && length(rules) == 1L) {
    if (!rules %in% names(rule_presets)) {
      cli::cli_abort(c("{.arg {arg}}: unknown preset {.val {rules}}.",
        i = "Presets: {.val {names(rule_presets)}}; or a named list such as {.code list(conv = \"epsilon\")}."
      ), call = NULL)
    }
    return(make_rules(rules, list(), 1e-9, 2, 1, arg = NULL))
  }
  if (is.list(rules)) {
    nms <- names(rules)
    if (length(rules) > 0L && (is.null(nms) || any(!nzchar(nms)))) {
      cli::cli_abort("{.arg {arg}} must be a named list (kinds of layers and parameters).",
        call = NULL
      )
    }
    par <- list(preset = "default", epsilon = 1e-9, alpha = 2, beta = 1)
    for (p in intersect(names(par), nms)) par[[p]] <- rules[[p]]
    over <- rules[setdiff(nms, names(par))]
    return(make_rules(par$preset, over, par$epsilon, par$alpha, par$beta, arg = arg))
  }
  cli::cli_abort(
    "{.arg {arg}} must be a preset name ({.val {names(rule_presets)}}), a named list or {.fn lrp_rules}, not {.cls {class(rules)}}.",
    call = NULL
  )
}

#' @export
print.cphap_rules <- function(x, ...) {
  cat_line("{.cls cphap_rules} (preset {.val {x$preset}}): epsilon {x$epsilon}, alpha {x$alpha}, beta {x$beta}")
  cat(paste0("  ", format(names(x$rules)), "  ", x$rules), sep = "\n")
  cat_line("{.emph The rule of every layer of a model: {.code rule_table(model, rules)}.}")
  invisible(x)
}

# Layers that pass their input on unchanged in value: dropout (identity at
# inference), padding (the input values are kept), flattening and a linear
# activation.
is_identity_layer <- function(l) {
  l$type %in% c("Skipping", "Padding", "Flatten") ||
    (l$type == "Activation" && identical(l$act_name, "linear"))
}

# The identity layers (see is_identity_layer()) between node p and the node
# it passes on, in increasing order.
identity_chain <- function(layers, p) {
  chain <- integer()
  while (p > 0L && is_identity_layer(layers[[p]])) {
    chain <- c(p, chain)
    p <- layers[[p]]$input_layers[1]
  }
  chain
}

# The node that node p passes on through a chain of identity layers (0 = the
# model input).
identity_source <- function(layers, p) {
  chain <- identity_chain(layers, p)
  if (length(chain) == 0L) p else layers[[chain[1]]]$input_layers[1]
}

# The kind of each layer (names of rule_choices, or NA for layers whose rule
# is fixed) and the rule it uses, before batch norms are folded.
layer_rules <- function(model, rules) {
  ly <- model$layers
  n <- length(ly)
  types <- vapply(ly, function(l) l$type, character(1))
  lin <- which(types %in% c("Conv1D", "Dense"))
  reads_input <- function(i) identity_source(ly, ly[[i]]$input_layers[1]) == 0L
  out <- NA_integer_
  if (length(lin) > 0L) {
    last <- max(lin)
    after <- types[setdiff(seq_len(n), seq_len(last))]
    if (all(after %in% c("Activation", "Skipping", "Flatten"))) out <- last
  }
  kind <- rep(NA_character_, n)
  for (i in seq_len(n)) {
    kind[i] <- switch(types[i],
      Conv1D = ,
      Dense = if (reads_input(i)) {
        "first"
      } else if (identical(i, out)) {
        "output"
      } else if (types[i] == "Conv1D") "conv" else "dense",
      BatchNorm = "batchnorm",
      MaxPooling1D = "maxpool",
      GlobalPooling = if (ly[[i]]$method == "max") "global_maxpool" else NA_character_,
      NA_character_
    )
  }
  rule <- ifelse(is.na(kind), ifelse(types %in% c("AveragePooling1D", "GlobalPooling", "Add"),
    "proportional", "identity"
  ), unname(rules$rules[kind]))
  list(kind = kind, rule = rule)
}

# One rule code per node of the model.
node_rule_codes <- function(model, rules) {
  unname(rule_codes[layer_rules(model, rules)$rule])
}

# Batch norms folded into the convolution before them: a linear convolution
# whose only consumer is the batch norm. Returns the convolution's index per
# layer (NA where none).
folded_into <- function(model) {
  ly <- model$layers
  vapply(seq_along(ly), function(i) {
    p <- ly[[i]]$input_layers[1]
    if (ly[[i]]$type == "BatchNorm" && p > 0L && ly[[p]]$type == "Conv1D" &&
      identical(ly[[p]]$activation_name, "linear") && length(ly[[p]]$output_layers) == 1L) {
      p
    } else {
      NA_integer_
    }
  }, integer(1))
}

#' The relevance rule of every layer of a model
#'
#' Shows which rule each layer of `model` uses when relevance is propagated
#' with `rules`, so you can check it before trusting a result: the kind of
#' layer it counts as (see [lrp_rules()]), the rule, and notes (a first
#' layer reading the input through dropout or padding (`via` those layers),
#' a batch norm folded into its convolution (`+ BN` on the convolution,
#' `folded into` on the batch norm), the parameters of the rule).
#'
#' A batch norm right after a linear convolution that feeds nothing else is
#' folded into it (with its running statistics) and the pair uses the
#' convolution's rule; the exception is Monte-Carlo dropout put on that
#' convolution itself (`dropout_layers`), where the batch norm keeps its own
#' `batchnorm` rule.
#'
#' @inheritParams unit_relevance
#' @return A data frame of class `cphap_rule_table`, one row per layer of the
#'   model (in the order of `print(model)`), with columns `index`, `type`,
#'   `detail`, `kind` (the kind of layer whose rule applies; NA for layers
#'   whose rule is fixed), `rule` and `note`. Its print method shows the
#'   table under the rule parameters.
#' @seealso [lrp_rules()], [unit_relevance()], [lrp()]
#' @examples
#' set.seed(1)
#' m <- cphap_model(arch_cnn(c(1, 64), 2, kernels = c(5, 3, 3), strides = c(1, 1, 1),
#'                           pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
#' rule_table(m)
#' rule_table(m, lrp_rules("epsilon", maxpool = "proportional"))
#' @export
rule_table <- function(model, rules = "default") {
  model <- check_model(model)
  rules <- as_rules(rules)
  ly <- model$layers
  lr <- layer_rules(model, rules)
  kind <- lr$kind
  rule <- lr$rule
  types <- vapply(ly, function(l) l$type, character(1))
  note <- rep("", length(ly))
  for (i in which(kind %in% "first")) {
    chain <- identity_chain(ly, ly[[i]]$input_layers[1])
    if (length(chain) > 0L) {
      note[i] <- paste0("via ", if (length(chain) > 2L && all(diff(chain) == 1L)) {
        paste0(chain[1], "-", chain[length(chain)])
      } else {
        paste(chain, collapse = ",")
      })
    }
  }
  fold <- folded_into(model)
  for (i in which(!is.na(fold))) {
    p <- fold[i]
    kind[i] <- kind[p]
    rule[i] <- rule[p]
    note[p] <- paste0(c(note[p][nzchar(note[p])], paste0("+ BN ", i)), collapse = "; ")
    note[i] <- paste0("folded into ", p)
  }
  note[rule %in% c("epsilon", "proportional") & note == ""] <- paste0("eps ", format(rules$epsilon))
  ab <- rule == "alpha_beta" & note == ""
  note[ab] <- paste0("alpha ", format(rules$alpha), ", beta ", format(rules$beta))
  tab <- data.frame(
    index = seq_along(ly), type = types, detail = vapply(ly, layer_detail, character(1)),
    kind = kind, rule = rule, note = note, stringsAsFactors = FALSE
  )
  structure(tab, class = c("cphap_rule_table", "data.frame"), rules = rules)
}


#' @export
print.cphap_rule_table <- function(x, ...) {
  r <- attr(x, "rules")
  cat_line("{.cls cphap_rule_table}: preset {.val {r$preset}}, epsilon {r$epsilon}, alpha {r$alpha}, beta {r$beta}")
  d <- x
  attr(d, "rules") <- NULL
  class(d) <- "data.frame"
  d$kind[is.na(d$kind)] <- ""
  print(d, row.names = FALSE, right = FALSE)
  invisible(x)
}

# One line per model of the rules that do something (identity layers left
# out), for the print of relevance results.
format_rule_table <- function(tab, width = getOption("width", 80)) {
  keep <- tab$rule != "identity"
  items <- paste0(tab$index[keep], " ", tab$type[keep], " ", tab$rule[keep])
  strwrap(paste(items, collapse = ", "), width = width - 2L, prefix = "  ",
    initial = "Rule per layer: "
  )
}
