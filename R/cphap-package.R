#' cphap: Clustered Patterns of Highly Activated Periods
#'
#' Explains the internal units of temporal (one-dimensional convolutional)
#' neural networks: highly activated periods, their clusters and patterns,
#' and relevance from an internal unit with Monte-Carlo dropout.
#'
#' @section Options:
#' * `cphap.threads`: the number of threads of the computations (default:
#'   the available cores, or the environment variable `OMP_NUM_THREADS`).
#'   Results do not depend on it.
#' * `cphap.conv`: how convolutions are computed at inference: `"auto"`
#'   (default; fast Fourier transforms where they need less arithmetic),
#'   `"direct"` (the direct sum, results identical bit for bit to earlier
#'   versions) or `"fft"`. See the section "Convolution algorithm" of
#'   [activations()].
#'
#' @keywords internal
#' @aliases cphap-package NULL
#' @useDynLib cphap, .registration = TRUE
#' @importFrom stats predict quantile sd
"_PACKAGE"
