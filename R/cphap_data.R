#' Labelled time series with optional ground-truth events
#'
#' `cphap_data()` bundles a set of equal-length time series, their class
#' labels and, for synthetic data, the planted events that carry the class
#' information. The generators ([sim_cbf()], [sim_two_patterns()],
#' [sim_multivariate()]) and the archive readers ([read_ucr()], [read_ts()],
#' [read_arff()]) all return this class, so every part of the package can rely
#' on one layout.
#'
#' Layout of `x`: a univariate data set (one channel) is a matrix with one
#' series per row, `[n, L]`; a multivariate one is an array `[n, C, L]`
#' (sample, channel, time). A 3-d array with one channel is accepted as well
#' and kept as it is.
#'
#' @param x A numeric matrix `[n, L]` or array `[n, C, L]`, or a data frame
#'   of numeric columns (one series per row).
#' @param y Class labels: a factor of length `n` (other atomic vectors are
#'   turned into a factor). `NA` marks an unlabelled series.
#' @param events `NULL`, or a data frame with one row per event and at least
#'   the columns `sample`, `channel`, `start`, `end` (1-based, inclusive time
#'   indices) and `class`. Further columns are kept.
#'
#' @return An object of class `cphap_data`: a list with elements `x`, `y` and
#'   `events` (the last one `NULL` when there is no ground truth). Methods:
#'   [print()], [summary()], [as.data.frame()] (long format) and [subset()].
#'
#' @seealso [sim_cbf()], [read_ucr()], [znorm()].
#' @export
#' @examples
#' x <- matrix(rnorm(4 * 10), nrow = 4)
#' d <- cphap_data(x, y = c("a", "b", "a", "b"))
#' d
#' summary(d)
#' head(as.data.frame(d))
cphap_data <- function(x, y, events = NULL) {
  x <- check_series_values(x, arg = "x")
  dims <- series_dims(x)
  y <- check_labels(y, dims[[1]], arg = "y")
  events <- check_events(events, dims, levels(y), arg = "events")
  new_cphap_data(x, y, events)
}

# Build the object without checks (callers have already validated).
new_cphap_data <- function(x, y, events = NULL) {
  structure(list(x = x, y = y, events = events), class = "cphap_data")
}

# A data frame of series (one per row, one column per time point) as a
# matrix; columns that are not numbers (class labels, ids) are an error that
# names them.
data_frame_series <- function(x, arg = "x") {
  ok <- vapply(x, is.numeric, logical(1))
  if (!all(ok)) {
    bad <- names(x)[!ok]
    cls <- vapply(x[!ok], function(v) class(v)[1], character(1))
    what <- paste0("`", bad, "` (", cls, ")", collapse = ", ")
    data_abort(c(
      "{.arg {arg}} must hold numeric series only (one row per series, one column per time point).",
      "x" = paste0(if (length(bad) > 1L) "Columns " else "Column ", what, if (length(bad) > 1L) " are" else " is", " not numeric."),
      "i" = if (any(cls %in% c("factor", "character"))) "Class labels go in {.arg y}: drop label columns from {.arg {arg}}."
    ))
  }
  as.matrix(x)
}

# Dimensions c(n, C, L) of a matrix [n, L] or array [n, C, L].
series_dims <- function(x) {
  d <- dim(x)
  if (length(d) == 2L) c(d[[1]], 1L, d[[2]]) else d
}

check_series_values <- function(x, arg = "x") {
  if (is.data.frame(x)) x <- data_frame_series(x, arg)
  if (!is.numeric(x)) {
    data_abort(c(
      "{.arg {arg}} must be a numeric matrix [n, L] or array [n, C, L].",
      "x" = "It is {.obj_type_friendly {x}}."
    ))
  }
  d <- dim(x)
  if (!length(d) %in% c(2L, 3L)) {
    data_abort(c(
      "{.arg {arg}} must be a numeric matrix [n, L] or array [n, C, L].",
      "x" = if (is.null(d)) "It is a vector without dimensions." else "It has {length(d)} dimensions."
    ))
  }
  if (any(d == 0L)) {
    data_abort("{.arg {arg}} must have at least one series, channel and time point; its dimensions are {d}.")
  }
  storage.mode(x) <- "double"
  x
}

check_labels <- function(y, n, arg = "y") {
  if (!is.atomic(y) || is.null(y) || !is.null(dim(y))) {
    data_abort(c(
      "{.arg {arg}} must be a factor or an atomic vector of class labels.",
      "x" = "It is {.obj_type_friendly {y}}."
    ))
  }
  if (length(y) != n) {
    data_abort("{.arg {arg}} must have one label per series ({n}), not {length(y)}.")
  }
  if (!is.factor(y)) y <- factor(y)
  y
}

check_events <- function(events, dims, levels, arg = "events") {
  if (is.null(events)) return(NULL)
  if (!is.data.frame(events)) {
    data_abort(c(
      "{.arg {arg}} must be NULL or a data frame.",
      "x" = "It is {.obj_type_friendly {events}}."
    ))
  }
  needed <- c("sample", "channel", "start", "end", "class")
  missing <- setdiff(needed, names(events))
  if (length(missing) > 0L) {
    data_abort("{.arg {arg}} lacks column{?s} {.field {missing}}.")
  }
  for (col in c("sample", "channel", "start", "end")) {
    v <- events[[col]]
    if (!is.numeric(v) || anyNA(v) || any(v != round(v)) || any(abs(v) > .Machine$integer.max)) {
      data_abort("Column {.field {col}} of {.arg {arg}} must hold whole numbers without NA, at most 2147483647 in size.")
    }
    events[[col]] <- as.integer(v)
  }
  bad <- events$sample < 1L | events$sample > dims[[1]] |
    events$channel < 1L | events$channel > dims[[2]] |
    events$start < 1L | events$end > dims[[3]] | events$start > events$end
  if (any(bad)) {
    i <- which(bad)[[1]]
    data_abort(c(
      "Every event in {.arg {arg}} must lie inside the data.",
      "x" = "Row {i} has sample {events$sample[[i]]}, channel {events$channel[[i]]}, start {events$start[[i]]}, end {events$end[[i]]}; the data have {dims[[1]]} series, {dims[[2]]} channel{?s} and length {dims[[3]]}."
    ))
  }
  cls <- as.character(events$class)
  unknown <- which(!is.na(cls) & !cls %in% levels)
  if (length(unknown) > 0L) {
    data_abort(c(
      "Column {.field class} of {.arg {arg}} must hold class labels of {.arg y}.",
      "x" = "Row {unknown[[1]]} has {.val {cls[[unknown[[1]]]]}}."
    ))
  }
  events$class <- factor(cls, levels = levels)
  rownames(events) <- NULL
  events
}

#' @export
print.cphap_data <- function(x, ...) {
  d <- series_dims(x$x)
  cat(sprintf(
    "<cphap_data> %d series, %d channel%s, length %d\n",
    d[[1]], d[[2]], if (d[[2]] == 1L) "" else "s", d[[3]]
  ))
  cat("classes:", format_class_counts(x$y), "\n")
  if (!is.null(x$events)) {
    cat(sprintf(
      "events:  %d planted (columns %s)\n",
      nrow(x$events), paste(names(x$events), collapse = ", ")
    ))
  }
  invisible(x)
}

format_class_counts <- function(y) {
  counts <- table(y, useNA = "ifany")
  lab <- names(counts)
  lab[is.na(lab)] <- "<NA>"
  paste0(lab, " (", as.integer(counts), ")", collapse = ", ")
}

#' @export
summary.cphap_data <- function(object, ...) {
  d <- series_dims(object$x)
  counts <- table(object$y, useNA = "ifany")
  structure(
    list(
      n = d[[1]], n_channels = d[[2]], length = d[[3]],
      classes = data.frame(
        class = names(counts), n = as.integer(counts),
        stringsAsFactors = FALSE
      ),
      n_events = if (is.null(object$events)) 0L else nrow(object$events),
      n_missing = sum(is.na(object$x)),
      range = suppressWarnings(range(object$x, na.rm = TRUE))
    ),
    class = "summary.cphap_data"
  )
}

#' @export
print.summary.cphap_data <- function(x, ...) {
  cat(sprintf("series:   %d\nchannels: %d\nlength:   %d\n", x$n, x$n_channels, x$length))
  cat(sprintf("values:   %s to %s, %d missing\n",
              format(x$range[[1]], digits = 4), format(x$range[[2]], digits = 4),
              x$n_missing))
  cat(sprintf("events:   %d\n", x$n_events))
  cat("classes:\n")
  print(x$classes, row.names = FALSE)
  invisible(x)
}

#' Long format of a `cphap_data` object
#'
#' @param x A `cphap_data` object.
#' @param row.names,optional Ignored; present for compatibility with the
#'   generic.
#' @param ... Ignored.
#' @return A data frame with one row per observed point and the columns
#'   `sample`, `channel`, `time` (integers, 1-based), `value` (double) and
#'   `class` (factor). Rows are ordered by sample, then channel, then time.
#' @export
#' @examples
#' d <- sim_cbf(n = 3, length = 32)
#' head(as.data.frame(d))
as.data.frame.cphap_data <- function(x, row.names = NULL, optional = FALSE, ...) {
  d <- series_dims(x$x)
  arr <- array(x$x, dim = d)
  data.frame(
    sample = rep(seq_len(d[[1]]), each = d[[2]] * d[[3]]),
    channel = rep(rep(seq_len(d[[2]]), each = d[[3]]), times = d[[1]]),
    time = rep(seq_len(d[[3]]), times = d[[1]] * d[[2]]),
    value = as.vector(aperm(arr, c(3L, 2L, 1L))),
    class = rep(x$y, each = d[[2]] * d[[3]])
  )
}

#' Select series from a `cphap_data` object
#'
#' @param x A `cphap_data` object.
#' @param subset Which series to keep: positive integer indices (repeats
#'   allowed) or a logical vector with one value per series.
#' @param ... Ignored.
#' @return A `cphap_data` object with the chosen series in the given order.
#'   Its events are those of the chosen series, renumbered; the class levels
#'   are kept even when a class no longer occurs.
#' @export
#' @examples
#' d <- sim_cbf(n = 30, length = 64)
#' subset(d, d$y == "bell")
#' subset(d, 1:5)
subset.cphap_data <- function(x, subset, ...) {
  n <- series_dims(x$x)[[1]]
  idx <- check_index(subset, n, arg = "subset")
  xs <- if (length(dim(x$x)) == 2L) {
    x$x[idx, , drop = FALSE]
  } else {
    x$x[idx, , , drop = FALSE]
  }
  new_cphap_data(xs, x$y[idx], subset_events(x$events, idx))
}

check_index <- function(i, n, arg = "subset") {
  if (is.logical(i)) {
    if (length(i) != n || anyNA(i)) {
      data_abort("A logical {.arg {arg}} must have one TRUE/FALSE value per series ({n}) and no NA.")
    }
    return(which(i))
  }
  if (!is.numeric(i) || anyNA(i) || any(i != round(i)) || any(i < 1) || any(i > n)) {
    data_abort("{.arg {arg}} must be a logical vector or whole numbers between 1 and {n}.")
  }
  as.integer(i)
}

subset_events <- function(events, idx) {
  if (is.null(events)) return(NULL)
  pieces <- lapply(seq_along(idx), function(j) {
    ev <- events[events$sample == idx[[j]], , drop = FALSE]
    ev$sample <- rep(j, nrow(ev))
    ev
  })
  out <- do.call(rbind, c(list(events[0L, , drop = FALSE]), pieces))
  rownames(out) <- NULL
  out
}

#' @export
print.cphap_dataset <- function(x, ...) {
  title <- attr(x, "title")
  cat("<cphap_dataset>", if (is.null(title)) "" else title, "\n")
  for (part in names(x)) {
    cat(sprintf("$%s: ", part))
    print(x[[part]])
  }
  invisible(x)
}

#' @export
as.data.frame.cphap_dataset <- function(x, row.names = NULL, optional = FALSE, ...) {
  parts <- lapply(names(x), function(part) {
    df <- as.data.frame(x[[part]])
    df$split <- factor(rep(part, nrow(df)), levels = names(x))
    df
  })
  do.call(rbind, parts)
}

# ---- argument checks shared by the data functions ----

check_data_count <- function(x, arg, min = 0, max = Inf) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) &&
    x == round(x) && x >= min && x <= max
  # results are R integers: larger values are out of range, with a message
  if (ok && x > .Machine$integer.max) {
    ok <- FALSE
    max <- .Machine$integer.max
  }
  if (!ok) {
    what <- if (is.finite(max)) sprintf("between %s and %s", min, max) else sprintf("at least %s", min)
    data_abort(c(
      "{.arg {arg}} must be a single whole number {what}.",
      "x" = data_describe(x)
    ))
  }
  as.integer(x)
}

check_data_number <- function(x, arg, min = -Inf, min_open = FALSE) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) &&
    (if (min_open) x > min else x >= min)
  if (!ok) {
    what <- if (min_open) "greater than" else "at least"
    data_abort(c(
      "{.arg {arg}} must be a single finite number {what} {min}.",
      "x" = data_describe(x)
    ))
  }
  as.double(x)
}

# A bullet saying what the user supplied, for error messages.
data_describe <- function(x) {
  if (is.numeric(x) && length(x) == 1L) {
    cli::format_inline("It is {.val {x}}.")
  } else {
    cli::format_inline("It is {.obj_type_friendly {x}}.")
  }
}

# cli_abort() without the internal helper's call in the message; glue
# expressions are evaluated in the caller's frame.
data_abort <- function(message, ..., .envir = parent.frame()) {
  cli::cli_abort(message, ..., call = NULL, .envir = .envir)
}
