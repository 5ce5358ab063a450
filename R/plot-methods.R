# plot() for every class that has an autoplot() method: draws the ggplot.

#' Plot cphap results
#'
#' `plot()` draws the figure that [autoplot()][ggplot2::autoplot] returns
#' for the same object, with the same arguments; use `autoplot()` to get the
#' ggplot object to modify or save.
#'
#' @param x A `cphap_result` ([autoplot.cphap_result()]), a
#'   `cphap_explanation` ([autoplot.cphap_explanation()]), a
#'   `cphap_relevance` ([autoplot.cphap_relevance()]), a
#'   `cphap_perturbation` ([autoplot.cphap_perturbation()][perturbation-methods]),
#'   a `cphap_history` or a trained `cphap_model` ([autoplot.cphap_history()]).
#' @param ... Arguments of the `autoplot()` method (for example `type`,
#'   `layer` or `sample`).
#' @return `x`, invisibly.
#' @examples
#' res <- cphap(demo_model(), gunpoint$train, layers = "conv2", k = 4)
#' plot(res, "pattern")
#' plot(demo_model())
#' @name plot.cphap
NULL

draw_autoplot <- function(x, ...) {
  print(autoplot(x, ...))
  invisible(x)
}

#' @rdname plot.cphap
#' @export
plot.cphap_result <- function(x, ...) draw_autoplot(x, ...)

#' @rdname plot.cphap
#' @export
plot.cphap_explanation <- function(x, ...) draw_autoplot(x, ...)

#' @rdname plot.cphap
#' @export
plot.cphap_relevance <- function(x, ...) draw_autoplot(x, ...)

#' @rdname plot.cphap
#' @export
plot.cphap_perturbation <- function(x, ...) draw_autoplot(x, ...)

#' @rdname plot.cphap
#' @export
plot.cphap_history <- function(x, ...) draw_autoplot(x, ...)

#' @rdname plot.cphap
#' @export
plot.cphap_model <- function(x, ...) draw_autoplot(x, ...)
