#' @importFrom ggplot2 autoplot .data
#' @export
ggplot2::autoplot

#' @importFrom generics tidy
#' @export
generics::tidy
