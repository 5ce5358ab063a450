#' Z-normalise time series
#'
#' Subtracts the mean of every series and divides by its standard deviation,
#' so that each series has mean 0 and standard deviation 1.
#'
#' The standard deviation is R's [stats::sd()] (denominator `m - 1`, where `m`
#' is the number of non-missing points of the series). A constant series
#' (all its non-missing values equal, including a series of one point)
#' becomes all zeros rather than `NaN`. Missing values are ignored in the
#' mean and standard deviation and stay missing. Infinite values are an
#' error.
#'
#' @param x A numeric vector (one series), a matrix `[n, L]` (one series per
#'   row), an array `[n, C, L]` (one series per sample and channel), or a
#'   `cphap_data` object (its `x` is normalised).
#' @param margin The dimensions that index the series; the values along the
#'   remaining dimensions form one series. The default, `NULL`, means the
#'   whole vector, the rows of a matrix (`1`), and all dimensions but the last
#'   of an array (`c(1, 2)` for `[n, C, L]`). Use for example `margin = 1` on
#'   an array to normalise all channels of a sample together.
#'
#' @return An object like `x` (same dimensions, dimension names and class)
#'   with normalised values.
#' @export
#' @examples
#' x <- rbind(c(1, 2, 3, 4), c(5, 5, 5, 5))
#' znorm(x)
#'
#' a <- array(rnorm(2 * 3 * 10, mean = 5), dim = c(2, 3, 10))
#' z <- znorm(a)
#' apply(z, c(1, 2), mean)
#' apply(z, c(1, 2), sd)
znorm <- function(x, margin = NULL) {
  if (inherits(x, "cphap_data")) {
    x$x <- znorm(x$x, margin = margin)
    return(x)
  }
  if (!is.numeric(x) || is.data.frame(x)) {
    data_abort(c(
      "{.arg x} must be a numeric vector, matrix, array or {.cls cphap_data} object.",
      "x" = "It is {.obj_type_friendly {x}}."
    ))
  }
  if (any(is.infinite(x))) {
    data_abort("{.arg x} must not contain infinite values.")
  }
  if (length(x) == 0L) return(x)
  d <- dim(x)
  if (is.null(d)) {
    if (!is.null(margin)) {
      data_abort("{.arg margin} must be NULL when {.arg x} is a vector.")
    }
    out <- x
    out[] <- znorm_rows(matrix(as.double(x), nrow = 1L))
    return(out)
  }
  margin <- check_margin(margin, length(d))
  perm <- c(margin, setdiff(seq_along(d), margin))
  rows <- matrix(aperm(x, perm), nrow = prod(d[margin]))
  z <- aperm(array(znorm_rows(rows), dim = d[perm]), order(perm))
  attributes(z) <- attributes(x)
  storage.mode(z) <- "double"
  z
}

check_margin <- function(margin, n_dims) {
  if (is.null(margin)) return(seq_len(n_dims - 1L))
  ok <- is.numeric(margin) && length(margin) >= 1L && !anyNA(margin) &&
    all(margin == round(margin)) && all(margin >= 1 & margin <= n_dims) &&
    !anyDuplicated(margin) && length(margin) < n_dims
  if (!ok) {
    data_abort(c(
      "{.arg margin} must be distinct whole numbers between 1 and {n_dims} that leave at least one dimension for time.",
      "x" = "It is {.val {margin}}."
    ))
  }
  as.integer(margin)
}

# Z-normalise each row of a double matrix; constant rows become 0.
znorm_rows <- function(m) {
  n_obs <- rowSums(!is.na(m))
  mu <- rowMeans(m, na.rm = TRUE)
  dev <- m - mu
  s <- sqrt(rowSums(dev^2, na.rm = TRUE) / (n_obs - 1))
  constant <- row_max(m) == row_min(m)
  constant[is.na(constant)] <- FALSE
  z <- dev / s
  z[constant, ] <- ifelse(is.na(m[constant, , drop = FALSE]), NA_real_, 0)
  z
}

row_max <- function(m) {
  m[is.na(m)] <- -Inf
  out <- m[cbind(seq_len(nrow(m)), max.col(m, ties.method = "first"))]
  out[out == -Inf] <- NA_real_
  out
}

row_min <- function(m) -row_max(-m)
