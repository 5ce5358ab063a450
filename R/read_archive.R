#' Read the UCR and UEA time series archive formats
#'
#' Readers for the file formats of the UCR (univariate) and UEA
#' (multivariate) time series classification archives, for users who have
#' downloaded the archives. Each reads one file (for example
#' `GunPoint_TRAIN.tsv`) and returns a [cphap_data] object with `events =
#' NULL`.
#'
#' * `read_ucr()` reads the UCR text formats: one series per line, the class
#'   label first, then the values. Fields are separated by tabs (`.tsv`, the
#'   2018 archive), commas (the older extension-less files) or white space
#'   (`.txt`); the separator is detected from the file. A label that reads as
#'   a number (such as `1.0000000e+00`) is written as that number (`"1"`) and
#'   the classes are ordered numerically.
#' * `read_ts()` reads the sktime/UEA `.ts` format: header lines starting with
#'   `@` (`@problemName`, `@univariate`, `@dimensions`, `@classLabel`, ...),
#'   comment lines starting with `#`, then after `@data` one series per line
#'   with its dimensions (channels) separated by `:`, values by `,`, and the
#'   class label last. Files with time stamps (`@timeStamps true`) and
#'   regression files (`@targetLabel true`) are not supported.
#' * `read_arff()` reads Weka `.arff` files as written by the archives: a
#'   univariate file has one numeric attribute per time point and the class
#'   as the last (nominal) attribute; a multivariate file has one relational
#'   attribute whose value is a quoted string holding the channels separated
#'   by a literal `\n`, followed by the class. Sparse ARFF is not supported.
#'
#' Missing values (`?`, `NaN`, `NA`) become `NA`. The `.tsv`/`.txt` and
#' `.arff` files of the archives pad series of unequal length with missing
#' values at the end, so for these formats missing values at the end of a
#' series are taken as padding and the series is shorter (a `.ts` file
#' states each series' length, so there they stay missing values). If the
#' series (or the channels of one series) then have different lengths, the
#' readers stop with an error that names the file and the lengths, unless
#' `length` is given: then every series is brought to `length` points, by
#' linear interpolation over its own time span (`resample = "linear"`, which
#' also fills missing values inside every series by interpolation, and holds
#' the first or last observed value constant before or after it) or by
#' keeping its first `length` points (`resample = "truncate"`, which needs
#' every series to have at least `length` points and keeps missing values).
#'
#' A univariate file gives `x` as a matrix `[n, L]`, a multivariate one an
#' array `[n, C, L]`. The class labels become a factor whose levels follow the
#' file's declaration (`@classLabel` or the nominal class attribute) when
#' there is one; unlabelled series (`@classLabel false`) get `NA`.
#'
#' @param path Path to one file.
#' @param length `NULL` (the default: all series must have the same length),
#'   or a whole number, the common length to bring every series to.
#' @param resample How to bring series to `length`: `"linear"` interpolation
#'   or `"truncate"`.
#'
#' @return A [cphap_data] object with `events = NULL`.
#'
#' @references Dau, H. A., Bagnall, A., Kamgar, K., Yeh, C.-C. M., Zhu, Y.,
#'   Gharghabi, S., Ratanamahatana, C. A. and Keogh, E. (2019). The UCR time
#'   series archive. *IEEE/CAA Journal of Automatica Sinica* 6(6), 1293--1305.
#'
#'   Bagnall, A., Dau, H. A., Lines, J., Flynn, M., Large, J., Bostrom, A.,
#'   Southam, P. and Keogh, E. (2018). The UEA multivariate time series
#'   classification archive, 2018. arXiv:1811.00075.
#' @name read_archive
#' @examples
#' path <- tempfile(fileext = ".tsv")
#' writeLines(c("1\t0.1\t0.5\t0.2", "2\t1.2\t0.3\t-0.4"), path)
#' read_ucr(path)
#'
#' ts_path <- tempfile(fileext = ".ts")
#' writeLines(c(
#'   "@problemName toy", "@univariate false", "@dimensions 2",
#'   "@classLabel true a b", "@data",
#'   "1,2,3:4,5,6:a",
#'   "3,2,1:6,5,4:b"
#' ), ts_path)
#' d <- read_ts(ts_path)
#' dim(d$x)
#'
#' arff_path <- tempfile(fileext = ".arff")
#' writeLines(c(
#'   "@relation toy", "@attribute t1 numeric", "@attribute t2 numeric",
#'   "@attribute class {x,y}", "@data", "1.5,2.5,x", "0.5,?,y"
#' ), arff_path)
#' read_arff(arff_path, length = 2)$x
NULL

#' @rdname read_archive
#' @export
read_ucr <- function(path, length = NULL, resample = c("linear", "truncate")) {
  args <- check_reader_args(path, length, resample)
  lines <- read_lines_numbered(args$path)
  if (nrow(lines) == 0L) {
    data_abort("File {.file {args$path}} holds no series.")
  }
  fields <- split_ucr_lines(lines$text)
  n_fields <- lengths(fields)
  if (any(n_fields < 2L)) {
    k <- lines$line[[which(n_fields < 2L)[[1]]]]
    data_abort("Line {k} of {.file {args$path}} must hold a label and at least one value.")
  }
  labels <- trimws(vapply(fields, `[[`, "", 1L))
  values <- parse_values(
    lapply(fields, `[`, -1L), args$path,
    lines$line, rep(1L, nrow(lines))
  )
  series <- lapply(values, list)
  x <- harmonise_lengths(series, args$length, args$resample, args$path)
  new_cphap_data(x, ucr_labels(labels), NULL)
}

#' @rdname read_archive
#' @export
read_ts <- function(path, length = NULL, resample = c("linear", "truncate")) {
  args <- check_reader_args(path, length, resample)
  lines <- read_lines_numbered(args$path)
  lines <- lines[!startsWith(lines$text, "#"), , drop = FALSE]
  at_data <- which(tolower(lines$text) == "@data")
  if (length(at_data) == 0L) {
    data_abort("File {.file {args$path}} has no {.code @data} line; is it a {.file .ts} file?")
  }
  header <- parse_ts_header(lines$text[seq_len(at_data[[1]] - 1L)], args$path)
  body <- lines[-seq_len(at_data[[1]]), , drop = FALSE]
  if (nrow(body) == 0L) {
    data_abort("File {.file {args$path}} holds no series after {.code @data}.")
  }
  parts <- strsplit(body$text, ":", fixed = TRUE)
  n_parts <- lengths(parts)
  n_dims <- n_parts - header$labelled
  expected <- if (is.null(header$dimensions)) n_dims[[1]] else header$dimensions
  bad <- which(n_dims != expected)
  if (length(bad) > 0L) {
    i <- bad[[1]]
    data_abort(c(
      "Every series in {.file {args$path}} must have {expected} dimension{?s}{if (header$labelled) ' and a class label' else ''}.",
      "x" = "Line {body$line[[i]]} has {n_dims[[i]]} dimension{?s}."
    ))
  }
  labels <- if (header$labelled) {
    trimws(vapply(parts, function(p) p[[length(p)]], ""))
  } else {
    rep(NA_character_, nrow(body))
  }
  dims <- lapply(parts, function(p) p[seq_len(expected)])
  tokens <- strsplit(unlist(dims), ",", fixed = TRUE)
  values <- parse_values(
    tokens, args$path,
    rep(body$line, each = expected), rep(seq_len(expected), nrow(body))
  )
  series <- split(values, rep(seq_len(nrow(body)), each = expected))
  x <- harmonise_lengths(unname(series), args$length, args$resample, args$path,
                         padded = FALSE)
  y <- declared_labels(labels, header$class_levels, args$path, body$line)
  new_cphap_data(x, y, NULL)
}

#' @rdname read_archive
#' @export
read_arff <- function(path, length = NULL, resample = c("linear", "truncate")) {
  args <- check_reader_args(path, length, resample)
  lines <- read_lines_numbered(args$path)
  lines <- lines[!startsWith(lines$text, "%"), , drop = FALSE]
  at_data <- which(tolower(lines$text) == "@data")
  if (length(at_data) == 0L) {
    data_abort("File {.file {args$path}} has no {.code @data} line; is it an {.file .arff} file?")
  }
  header <- parse_arff_header(lines$text[seq_len(at_data[[1]] - 1L)], args$path)
  body <- lines[-seq_len(at_data[[1]]), , drop = FALSE]
  if (nrow(body) == 0L) {
    data_abort("File {.file {args$path}} holds no series after {.code @data}.")
  }
  if (any(startsWith(body$text, "{"))) {
    data_abort("File {.file {args$path}} is in sparse ARFF form, which {.fn read_arff} does not read.")
  }
  parsed <- if (header$relational) {
    parse_arff_relational(body, header, args$path)
  } else {
    parse_arff_flat(body, header, args$path)
  }
  x <- harmonise_lengths(parsed$series, args$length, args$resample, args$path)
  y <- declared_labels(parsed$labels, header$class_levels, args$path, body$line)
  new_cphap_data(x, y, NULL)
}

# ---- shared helpers ----------------------------------------------------------

check_reader_args <- function(path, length, resample) {
  if (!is.character(path) || length(path) != 1L || is.na(path)) {
    data_abort(c("{.arg path} must be a single file path.", "x" = data_describe(path)))
  }
  if (!file.exists(path) || dir.exists(path)) {
    data_abort("{.arg path} must be an existing file; {.file {path}} is not.")
  }
  if (!is.null(length)) length <- check_data_count(length, "length", min = 1)
  choices <- c("linear", "truncate")
  if (identical(resample, choices)) resample <- choices[[1]]
  if (!is.character(resample) || length(resample) != 1L || !resample %in% choices) {
    data_abort(c(
      "{.arg resample} must be {.val linear} or {.val truncate}.",
      "x" = data_describe(resample)
    ))
  }
  list(path = path, length = length, resample = resample)
}

# Non-blank lines, trimmed, with their line numbers in the file.
read_lines_numbered <- function(path) {
  text <- trimws(readLines(path, warn = FALSE))
  keep <- nzchar(text)
  data.frame(line = which(keep), text = text[keep], stringsAsFactors = FALSE)
}

split_ucr_lines <- function(text) {
  if (any(grepl("\t", text, fixed = TRUE))) {
    strsplit(text, "\t", fixed = TRUE)
  } else if (any(grepl(",", text, fixed = TRUE))) {
    strsplit(text, ",", fixed = TRUE)
  } else {
    strsplit(text, "[[:space:]]+")
  }
}

# Parse a list of character vectors into numeric vectors; `?`, `NaN`, `NA`
# become NA. Anything else that is not a number is an error naming the line
# (and dimension) it came from.
parse_values <- function(tokens, path, line, dimension) {
  n_tok <- lengths(tokens)
  flat <- unlist(tokens, use.names = FALSE)
  num <- suppressWarnings(as.numeric(flat))
  unparsed <- which(is.na(num))
  missing <- tolower(trimws(flat[unparsed])) %in% c("?", "nan", "na")
  num[unparsed[missing]] <- NA_real_
  bad <- unparsed[!missing]
  if (length(bad) > 0L) {
    owner <- findInterval(bad[[1]], cumsum(c(1L, n_tok)))
    tok <- flat[[bad[[1]]]]
    if (nchar(tok) > 20L) tok <- paste0(substr(tok, 1L, 20L), "...")
    where <- if (max(dimension) > 1L) {
      sprintf("line %d (dimension %d)", line[[owner]], dimension[[owner]])
    } else {
      sprintf("line %d", line[[owner]])
    }
    data_abort(c(
      "All values in {.file {path}} must be numbers or missing ({.val ?}).",
      "x" = "Found {.val {tok}} on {where}."
    ))
  }
  unname(split(num, factor(rep(seq_along(tokens), n_tok), levels = seq_along(tokens))))
}

# `series` is a list (one element per series) of lists (one per channel) of
# numeric vectors. With `padded`, trailing missing values are dropped as
# padding (the UCR and ARFF convention). Without `length` all lengths must
# agree and the values are kept as they are; with it every vector goes
# through fit_length(). The result is a matrix [n, L] (one channel) or an
# array [n, C, L].
harmonise_lengths <- function(series, length, resample, path, padded = TRUE) {
  if (padded) series <- lapply(series, function(s) lapply(s, drop_trailing_na))
  lens <- do.call(rbind, lapply(series, lengths))
  n <- nrow(lens)
  n_channels <- ncol(lens)
  if (is.null(length)) {
    if (any(lens != lens[[1]])) {
      shortest <- series_label(which(lens == min(lens), arr.ind = TRUE)[1L, ], n_channels)
      longest <- series_label(which(lens == max(lens), arr.ind = TRUE)[1L, ], n_channels)
      data_abort(c(
        "The series in {.file {path}} have unequal lengths, from {min(lens)} to {max(lens)}{if (padded) ' (missing values at the end count as padding)' else ''}.",
        "i" = "For example, {shortest} has {min(lens)} point{?s} and {longest} has {max(lens)}.",
        "i" = "Set {.arg length} to bring all series to one length."
      ))
    }
  } else if (resample == "truncate" && any(lens < length)) {
    i <- which(lens < length, arr.ind = TRUE)[1L, ]
    data_abort(c(
      "Cannot truncate the series in {.file {path}} to {length} points.",
      "x" = "Only {lens[i[[1]], i[[2]]]} point{?s} in {series_label(i, n_channels)}."
    ))
  }
  as_is <- is.null(length)
  if (as_is) length <- lens[[1]]
  out <- array(NA_real_, dim = c(n, n_channels, length))
  for (i in seq_len(n)) {
    for (k in seq_len(n_channels)) {
      v <- series[[i]][[k]]
      out[i, k, ] <- if (as_is) v else fit_length(v, length, resample)
    }
  }
  if (n_channels == 1L) matrix(out, nrow = n) else out
}

# "series i" or "series i (dimension k)" from a (row, column) index pair.
series_label <- function(at, n_channels) {
  if (n_channels > 1L) {
    sprintf("series %d (dimension %d)", at[[1]], at[[2]])
  } else {
    sprintf("series %d", at[[1]])
  }
}

drop_trailing_na <- function(v) {
  observed <- which(!is.na(v))
  if (length(observed) == 0L) return(numeric(0))
  v[seq_len(max(observed))]
}

fit_length <- function(v, length, resample) {
  m <- base::length(v)
  if (resample == "truncate") return(v[seq_len(length)])
  if (m == length && !anyNA(v)) return(v)
  ok <- !is.na(v)
  if (sum(ok) == 0L) return(rep(NA_real_, length))
  if (sum(ok) == 1L) return(rep(v[ok], length))
  stats::approx(
    x = seq(0, 1, length.out = m)[ok], y = v[ok],
    xout = seq(0, 1, length.out = length), rule = 2
  )$y
}

ucr_labels <- function(labels) {
  num <- suppressWarnings(as.numeric(labels))
  if (!anyNA(num)) {
    return(factor(as.character(num), levels = as.character(sort(unique(num)))))
  }
  factor(labels)
}

# Class labels as a factor with the declared levels, when declared.
declared_labels <- function(labels, levels, path, line) {
  labels <- strip_quotes(labels)
  if (is.null(levels)) {
    return(if (all(is.na(labels))) factor(labels) else ucr_labels(labels))
  }
  unknown <- which(!is.na(labels) & !labels %in% levels)
  if (length(unknown) > 0L) {
    i <- unknown[[1]]
    data_abort(c(
      "Every class label in {.file {path}} must be one of the declared labels {.val {levels}}.",
      "x" = "Line {line[[i]]} has label {.val {labels[[i]]}}."
    ))
  }
  factor(labels, levels = levels)
}

strip_quotes <- function(s) {
  s <- trimws(s)
  quoted <- !is.na(s) & nchar(s) >= 2L &
    ((startsWith(s, "'") & endsWith(s, "'")) | (startsWith(s, "\"") & endsWith(s, "\"")))
  s[quoted] <- substr(s[quoted], 2L, nchar(s[quoted]) - 1L)
  s
}

# ---- .ts header ----------------------------------------------------------------

parse_ts_header <- function(text, path) {
  key <- tolower(sub("^(@[^[:space:]]+).*$", "\\1", text))
  value <- trimws(sub("^@[^[:space:]]+", "", text))
  get <- function(k) {
    v <- value[key == k]
    if (length(v) == 0L) NULL else v[[1]]
  }
  is_true <- function(v) !is.null(v) && tolower(strsplit(v, "[[:space:]]+")[[1]][[1]]) == "true"
  if (is_true(get("@timestamps"))) {
    data_abort("File {.file {path}} uses time stamps ({.code @timeStamps true}), which {.fn read_ts} does not read.")
  }
  if (is_true(get("@targetlabel"))) {
    data_abort("File {.file {path}} is a regression problem ({.code @targetLabel true}); {.fn read_ts} reads classification files only.")
  }
  dimensions <- get("@dimensions")
  if (!is.null(dimensions)) {
    d <- suppressWarnings(as.numeric(dimensions))
    if (is.na(d) || d < 1 || d != round(d)) {
      data_abort("The {.code @dimensions} line of {.file {path}} must give a whole number, not {.val {dimensions}}.")
    }
    dimensions <- as.integer(d)
  } else if (is_true(get("@univariate"))) {
    dimensions <- 1L
  }
  class_label <- get("@classlabel")
  labelled <- is_true(class_label)
  class_levels <- NULL
  if (labelled) {
    words <- strsplit(class_label, "[[:space:]]+")[[1]][-1L]
    if (length(words) > 0L) class_levels <- strip_quotes(words)
  }
  list(dimensions = dimensions, labelled = labelled, class_levels = class_levels)
}

# ---- .arff header and body -------------------------------------------------------

parse_arff_header <- function(text, path) {
  lower <- tolower(text)
  attr_lines <- which(startsWith(lower, "@attribute"))
  end_lines <- which(startsWith(lower, "@end"))
  if (length(attr_lines) < 2L) {
    data_abort("File {.file {path}} must declare at least one value attribute and a class attribute.")
  }
  pattern <- "^@attribute[[:space:]]+('[^']*'|\"[^\"]*\"|[^[:space:]]+)[[:space:]]+(.*)$"
  types <- trimws(sub(pattern, "\\2", text[attr_lines], ignore.case = TRUE))
  lower_types <- tolower(types)
  relational <- which(lower_types == "relational")
  if (length(relational) > 0L) {
    if (length(relational) > 1L || length(end_lines) == 0L) {
      data_abort("File {.file {path}} must have exactly one relational attribute closed by {.code @end}.")
    }
    open_at <- attr_lines[[relational]]
    close_at <- end_lines[end_lines > open_at][[1]]
    inner <- attr_lines > open_at & attr_lines < close_at
    outer <- which(!inner)
    if (length(outer) != 2L || outer[[1]] != relational) {
      data_abort("File {.file {path}} must have a relational attribute followed by a class attribute only.")
    }
    check_arff_numeric(types[inner], path)
    return(list(
      relational = TRUE, length = sum(inner),
      class_levels = nominal_levels(types[[outer[[2]]]])
    ))
  }
  n_values <- length(attr_lines) - 1L
  check_arff_numeric(types[seq_len(n_values)], path)
  list(
    relational = FALSE, length = n_values,
    class_levels = nominal_levels(types[[length(types)]])
  )
}

check_arff_numeric <- function(types, path) {
  ok <- tolower(types) %in% c("numeric", "real", "integer")
  if (!all(ok)) {
    data_abort(c(
      "Every time point attribute in {.file {path}} must be numeric.",
      "x" = "Attribute {which(!ok)[[1]]} has type {.val {types[!ok][[1]]}}."
    ))
  }
}

nominal_levels <- function(type) {
  type <- trimws(type)
  if (!startsWith(type, "{") || !endsWith(type, "}")) return(NULL)
  inside <- substr(type, 2L, nchar(type) - 1L)
  strip_quotes(strsplit(inside, ",", fixed = TRUE)[[1]])
}

parse_arff_flat <- function(body, header, path) {
  fields <- strsplit(body$text, ",", fixed = TRUE)
  n_fields <- lengths(fields)
  expected <- header$length + 1L
  bad <- which(n_fields != expected)
  if (length(bad) > 0L) {
    i <- bad[[1]]
    data_abort(c(
      "Every line after {.code @data} in {.file {path}} must have {expected} comma-separated fields ({header$length} values and a class).",
      "x" = "Line {body$line[[i]]} has {n_fields[[i]]}."
    ))
  }
  values <- parse_values(
    lapply(fields, `[`, seq_len(header$length)), path,
    body$line, rep(1L, nrow(body))
  )
  list(
    series = lapply(values, list),
    labels = vapply(fields, function(f) f[[expected]], "")
  )
}

parse_arff_relational <- function(body, header, path) {
  pattern <- "^(['\"])(.*)\\1[[:space:]]*,[[:space:]]*(.*)$"
  ok <- grepl(pattern, body$text)
  if (!all(ok)) {
    data_abort(c(
      "Every line after {.code @data} in {.file {path}} must be a quoted series followed by a comma and a class.",
      "x" = "Line {body$line[[which(!ok)[[1]]]]} is not."
    ))
  }
  inner <- sub(pattern, "\\2", body$text)
  labels <- sub(pattern, "\\3", body$text)
  dims <- strsplit(inner, "\\n", fixed = TRUE)
  n_dims <- lengths(dims)
  bad <- which(n_dims != n_dims[[1]])
  if (length(bad) > 0L) {
    i <- bad[[1]]
    data_abort(c(
      "Every series in {.file {path}} must have the same number of dimensions.",
      "x" = "Line {body$line[[i]]} has {n_dims[[i]]} dimension{?s}, line {body$line[[1]]} has {n_dims[[1]]}."
    ))
  }
  n_channels <- n_dims[[1]]
  tokens <- strsplit(unlist(dims), ",", fixed = TRUE)
  n_tok <- lengths(tokens)
  wrong <- which(n_tok != header$length)
  if (length(wrong) > 0L) {
    j <- wrong[[1]]
    i <- (j - 1L) %/% n_channels + 1L
    data_abort(c(
      "Every dimension in {.file {path}} must have {header$length} value{?s}, one per declared attribute.",
      "x" = "Line {body$line[[i]]} has {n_tok[[j]]} in dimension {(j - 1L) %% n_channels + 1L}."
    ))
  }
  values <- parse_values(
    tokens, path,
    rep(body$line, each = n_channels), rep(seq_len(n_channels), nrow(body))
  )
  list(
    series = unname(split(values, rep(seq_len(nrow(body)), each = n_channels))),
    labels = labels
  )
}
