# Argument checks shared by the whole package. Each raises an error that names
# the argument and says what was expected.

check_whole <- function(x, arg, min = -Inf, max = Inf, allow_null = FALSE, max_what = NULL) {
  if (is.null(x) && allow_null) {
    return(invisible(NULL))
  }
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) && x == round(x)
  if (!ok) {
    cli::cli_abort("{.arg {arg}} must be a single whole number, not {.val {format_value(x)}}.",
      call = NULL
    )
  }
  # results are R integers: larger values are out of range, with a message
  imax <- .Machine$integer.max
  if (x < min || x > max || x > imax) {
    if (x > imax && max > imax) max <- imax
    range <- if (is.finite(max)) {
      what <- if (is.null(max_what)) "" else paste0(" (", max_what, ")")
      sprintf("between %s and %s%s", format(min), format(max), what)
    } else {
      sprintf(">= %s", format(min))
    }
    cli::cli_abort("{.arg {arg}} must be a whole number {range}, not {x}.", call = NULL)
  }
  invisible(as.integer(x))
}

check_number <- function(x, arg, min = -Inf, max = Inf, min_open = FALSE,
                         max_open = FALSE) {
  ok <- is.numeric(x) && length(x) == 1L && !is.na(x) && is.finite(x) &&
    (if (min_open) x > min else x >= min) && (if (max_open) x < max else x <= max)
  if (!ok) {
    lo <- if (min_open) "(" else "["
    hi <- if (max_open) ")" else "]"
    cli::cli_abort(
      "{.arg {arg}} must be a single finite number in {lo}{min}, {max}{hi}, not {.val {format_value(x)}}.",
      call = NULL
    )
  }
  invisible(x)
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || length(x) != 1L || is.na(x)) {
    cli::cli_abort("{.arg {arg}} must be TRUE or FALSE.", call = NULL)
  }
  invisible(x)
}

format_value <- function(x) {
  if (is.null(x)) {
    return("NULL")
  }
  if (length(x) == 0L) {
    return(paste0(class(x)[1], "(0)"))
  }
  s <- paste(utils::head(format(x), 3L), collapse = ", ")
  if (length(x) > 3L) s <- paste0(s, ", ...")
  s
}

# The thread count: option cphap.threads, else the available cores; at most
# max_threads().
cphap_threads <- function() {
  n <- getOption("cphap.threads")
  what <- "The option {.code cphap.threads}"
  if (is.null(n)) {
    n <- parallel_cores()
    what <- "{.envvar OMP_NUM_THREADS}"
  }
  n <- suppressWarnings(as.numeric(n))
  if (length(n) != 1L || is.na(n) || n < 1) n <- 1
  cap_threads(n, what)
}

# How forward passes at inference compute convolutions: option cphap.conv,
# "auto" (default: FFT convolution for the layers where it is faster),
# "direct" (the direct kernel, results as in earlier versions bit for bit)
# or "fft" (FFT convolution for every layer). The code C expects.
cphap_conv <- function() {
  v <- getOption("cphap.conv", "auto")
  modes <- c("direct", "auto", "fft")
  if (!is.character(v) || length(v) != 1L || is.na(v) || !v %in% modes) {
    cli::cli_abort(c(
      "The option {.code cphap.conv} must be one of {.val {modes}}.",
      x = "It is {.val {format_value(v)}}."
    ), call = NULL)
  }
  match(v, modes) - 1L
}

# More threads than this only cost memory (every thread has a stack), and
# tens of thousands end the process in the OpenMP runtime.
max_threads <- function() {
  n <- detected_cores()
  if (length(n) != 1L || is.na(n) || n < 1) n <- 1L
  4L * as.integer(n)
}

cap_threads <- function(n, what) {
  lim <- max_threads()
  if (n > lim) {
    cli::cli_inform(c(i = paste0(what, " asks for {format(n, big.mark = ',', scientific = FALSE)} threads; using {lim} (4 per available core).")))
    n <- lim
  }
  as.integer(n)
}

parallel_cores <- function() {
  n <- Sys.getenv("OMP_NUM_THREADS", "")
  if (nzchar(n)) {
    return(n)
  }
  n <- detected_cores()
  if (is.na(n)) 1L else n
}

# parallel::detectCores(), asked once per session (on Linux it runs a
# command, which costs more than a small chunk's work).
detected_cores <- function() {
  if (is.null(the_cores$n)) {
    the_cores$n <- tryCatch(parallel::detectCores(logical = TRUE), error = function(e) NA)
  }
  the_cores$n
}
the_cores <- new.env(parent = emptyenv())

# One line of cli-formatted text on standard output (print methods).
cat_line <- function(..., .envir = parent.frame()) {
  cat(cli::format_inline(..., .envir = .envir), "\n", sep = "")
}
