# Which series is this? The identity of the series a user gives: the data
# set's name (from the expression, e.g. `gunpoint$test`) and each series' id
# (row names, else the index in the data given, else the position).

# `expr`: the unevaluated argument; `x`: the array [n, C, L] from
# as_input(); `env`: where the expression was written.
series_identity <- function(expr, x, env) {
  n <- dim(x)[1]
  ids <- dimnames(x)[[1]]
  base <- expr
  if (is.call(base) && identical(base[[1]], as.name("["))) {
    if (is.null(ids) && length(base) >= 3L && !identical(base[[3]], quote(expr = )) &&
      plain_index(base[[3]])) {
      i <- tryCatch(eval(base[[3]], env), error = function(e) NULL)
      if (is.logical(i) && !anyNA(i)) i <- which(i)
      if (is.numeric(i) && length(i) == n && all(i >= 1)) ids <- as.character(i)
    }
    base <- base[[2]]
  }
  list(ids = ids %||% as.character(seq_len(n)), name = data_name(base))
}

# An index written with numbers, variables, `:` and `c()` only: evaluating it
# again has no side effects (unlike `sample(n, 3)`).
plain_index <- function(e) {
  if (is.numeric(e) || is.logical(e) || is.name(e)) {
    return(TRUE)
  }
  is.call(e) && is.name(e[[1]]) && as.character(e[[1]]) %in% c(":", "c", "(") &&
    all(vapply(as.list(e)[-1], plain_index, logical(1)))
}

# A short name of a data set: a variable or a `$` chain, without a final
# `$x` (the series of a cphap_data); NULL for anything else.
data_name <- function(expr) {
  if (is.call(expr) && identical(expr[[1]], as.name("$")) && identical(expr[[3]], as.name("x"))) {
    expr <- expr[[2]]
  }
  ok <- function(e) {
    is.name(e) || is.call(e) && identical(e[[1]], as.name("$")) && ok(e[[2]])
  }
  if (!ok(expr)) {
    return(NULL)
  }
  deparse1(expr)
}

# Keep `samples` (indices into x, NULL for all) and their identity.
select_samples <- function(x, samples, id, arg = "samples") {
  if (is.null(samples)) {
    return(list(x = x, id = id))
  }
  samples <- check_whole_vector(samples, arg, min = 1, max = dim(x)[1],
    max_what = "the number of series in x"
  )
  id$ids <- id$ids[samples]
  list(x = x[samples, , , drop = FALSE], id = id)
}

# "gunpoint$test series 19", or "series 19" without a data name.
sample_labels <- function(ids, name = NULL) {
  paste0(if (!is.null(name)) paste0(name, " "), "series ", ids)
}

# Several samples in one phrase: "gunpoint$test series 2, 5, 7".
describe_samples <- function(ids, name = NULL) {
  paste0(if (!is.null(name)) paste0(name, " "), "series ", paste(ids, collapse = ", "))
}

# Attach the identity to a result.
with_identity <- function(out, id) {
  attr(out, "sample_ids") <- id$ids
  attr(out, "data_name") <- id$name
  out
}

# Labels of the samples (indices) of a result that carries its identity:
# one per sample, or one phrase for all of them.
sample_labels_of <- function(object, sample, with_name = TRUE) {
  ids <- attr(object, "sample_ids")
  if (is.null(ids)) {
    return(paste("sample", sample))
  }
  sample_labels(ids[sample], if (with_name) attr(object, "data_name"))
}

samples_phrase_of <- function(object, sample) {
  ids <- attr(object, "sample_ids")
  if (is.null(ids)) {
    return(paste(if (length(sample) > 1L) "samples" else "sample", paste(sample, collapse = ", ")))
  }
  describe_samples(ids[sample], attr(object, "data_name"))
}
