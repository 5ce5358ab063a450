#' A pretrained demo model
#'
#' A 3-block CNN of the paper's design trained on the GunPoint training set ([gunpoint])
#' with [fit_model()] under a fixed seed (script `data-raw/demo_model.R` in
#' the source package): convolutions with 32, 64 and 128 channels and kernels
#' 7, 5 and 3 (stride 1), ReLU, max pooling 2/2 after each, dropout 0.5 and a
#' dense softmax output over the classes `"1"` and `"2"` of [gunpoint]. It
#' lets the examples and vignettes explain a trained network without
#' training one first.
#'
#' @section Differences from the original work:
#' The blocks are compact (kernels 7, 5 and 3, stride 1, max pooling 2/2,
#' no padding) instead of the original CNN's kernels 15, 11 and 7, stride 2
#' in the first convolution, max pooling 8/4, 4/2 and 4/2 and "same"
#' padding, whose deeper nodes would see more than the 150 points of a
#' GunPoint series. `arch_cnn(input_dim, n_classes, padding = "same")`
#' builds the original shape for longer series;
#' `vignette("paper", package = "cphap")` trains one.
#'
#' @return A [cphap_model()] with its training `history`; the attribute
#'   `info` records the training call and the GunPoint test accuracy.
#' @examples
#' m <- demo_model()
#' m
#' attr(m, "info")$test_accuracy
#' data(gunpoint)
#' table(predicted = predict(m, gunpoint$test), true = gunpoint$test$y)
#' @export
demo_model <- function() {
  path <- system.file("extdata", "demo_model.rds", package = "cphap")
  if (!nzchar(path)) {
    cli::cli_abort("The demo model file is missing from the installed package; reinstall cphap.",
      call = NULL
    )
  }
  obj <- readRDS(path)
  m <- cphap_model(obj$model, classes = obj$classes)
  m$history <- obj$history
  attr(m, "info") <- obj$info
  m
}
