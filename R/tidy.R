# tidy() methods (generics): the long data frames of results, with the
# identity of each series where the result knows it.

#' Tidy data frames of cphap results
#'
#' `tidy()` (from the generics package, re-exported here and used by broom)
#' returns the long data frame of a result, one row per observation, as
#' plain data frames without the result's attributes:
#' * `cphap_relevance` and `cphap_relevance_compact` ([unit_relevance()],
#'   [lrp()]): one row per seed, input channel and input position;
#' * `cphap_explanation` ([explain_sample()]): one row per highly activated
#'   node (and input channel);
#' * `cphap_perturbation` ([perturbation()]): one row per sample, unit,
#'   method and kept share;
#' * `cphap_result` ([cphap()]): the table `what` (see
#'   [as.data.frame.cphap_result()]);
#' * `cphap_thresholds` ([thresholds()]), `cphap_periods`
#'   ([activated_periods()]): one row per unit, one per highly activated node;
#' * `cphap_history` (the `history` of [fit_model()]): one row per epoch,
#'   metric and data set (`epoch`, `metric`, `set`, `value`).
#'
#' Tables with a `sample` column gain `sample_id` (the series' row name, or
#' its index in the data given) and, when the data set has a name,
#' `data_name`.
#'
#' @param x A result.
#' @param what For `cphap_result`: which table.
#' @param ... Unused.
#' @return A data frame.
#' @examples
#' m <- demo_model()
#' r <- unit_relevance(m, gunpoint$test, "conv2", channels = 3, samples = c(19, 40),
#'                     passes = 5)
#' head(tidy(r))
#' res <- cphap(m, gunpoint$train, layers = "conv2", k = 4)
#' head(tidy(res, "patterns"))
#' tidy(explain_sample(res, 19, "conv2", newdata = gunpoint$test))[1:3, ]
#' @name tidy.cphap
NULL

# The identity columns of a table whose `sample` indexes the series of
# `object`.
add_identity <- function(df, object) {
  ids <- attr(object, "sample_ids")
  df <- as.data.frame(df)
  if (!is.null(ids) && "sample" %in% names(df)) {
    df$sample_id <- ids[df$sample]
    name <- attr(object, "data_name")
    if (!is.null(name)) df$data_name <- rep(name, nrow(df))
  }
  rownames(df) <- NULL
  df
}

#' @rdname tidy.cphap
#' @export
tidy.cphap_relevance <- function(x, ...) add_identity(as.data.frame(x), x)

#' @rdname tidy.cphap
#' @export
tidy.cphap_relevance_compact <- function(x, ...) add_identity(as.data.frame(x), x)

#' @rdname tidy.cphap
#' @export
tidy.cphap_explanation <- function(x, ...) {
  d <- x
  class(d) <- "data.frame"
  for (a in c("series", "patterns", "sets", "newdata", "sample_ids", "data_name")) attr(d, a) <- NULL
  add_identity(d, x)
}

#' @rdname tidy.cphap
#' @export
tidy.cphap_perturbation <- function(x, ...) add_identity(as.data.frame(x), x)

#' @rdname tidy.cphap
#' @export
tidy.cphap_result <- function(x, what = c("assignments", "periods", "patterns", "unit_pattern",
                                          "thresholds", "sets"), ...) {
  what <- match.arg(what)
  d <- as.data.frame(x, what = what)
  id <- list(ids = x$settings$sample_ids, name = x$settings$data_name)
  add_identity(d, with_identity(list(), id))
}

#' @rdname tidy.cphap
#' @export
tidy.cphap_thresholds <- function(x, ...) {
  d <- as.data.frame(unclass_df(x))
  rownames(d) <- NULL
  d
}

#' @rdname tidy.cphap
#' @export
tidy.cphap_periods <- function(x, ...) {
  d <- x
  class(d) <- "data.frame"
  attr(d, "series_length") <- NULL
  rownames(d) <- NULL
  d
}

#' @rdname tidy.cphap
#' @export
tidy.cphap_history <- function(x, ...) {
  d <- history_long(x)
  rownames(d) <- NULL
  d
}
