#' cphap: Clustered Patterns of Highly Activated Periods
#'
#' Explains the internal units of temporal (one-dimensional convolutional)
#' neural networks: highly activated periods, their clusters and patterns,
#' and relevance from an internal unit with Monte-Carlo dropout.
#'
#' @keywords internal
#' @aliases cphap-package NULL
#' @useDynLib cphap, .registration = TRUE
#' @importFrom stats predict quantile sd
"_PACKAGE"
