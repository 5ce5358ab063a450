#' A pretrained demo model
#'
#' The paper's 3-block CNN trained on the GunPoint training set ([gunpoint])
#' with [fit_model()] under a fixed seed (script `data-raw/demo_model.R` in
#' the source package): convolutions with 32, 64 and 128 channels and kernels
#' 7, 5 and 3 (stride 1), ReLU, max pooling 2/2 after each, dropout 0.5 and a
#' dense softmax output over the classes `"1"` and `"2"` of [gunpoint]. It
#' lets the examples and vignettes explain a trained network without
#' training one first.
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
