write_tmp <- function(lines, ext) {
  path <- tempfile(fileext = ext)
  writeLines(lines, path)
  path
}

# Write a cphap_data object in each archive format (test helpers).
write_ucr <- function(d, ext = ".tsv", sep = "\t") {
  write_tmp(ucr_lines(d, sep = sep), ext)
}

write_ts <- function(d) {
  x <- d$x
  if (length(dim(x)) == 2L) x <- array(x, dim = c(nrow(x), 1L, ncol(x)))
  rows <- vapply(seq_along(d$y), function(i) {
    dims <- vapply(seq_len(dim(x)[[2]]), function(k) {
      v <- format(x[i, k, ], digits = 17)
      v[is.na(x[i, k, ])] <- "?"
      paste(v, collapse = ",")
    }, "")
    paste(c(dims, as.character(d$y[[i]])), collapse = ":")
  }, "")
  write_tmp(c(
    "# written by a test", "@problemName test",
    sprintf("@univariate %s", tolower(dim(x)[[2]] == 1L)),
    sprintf("@dimensions %d", dim(x)[[2]]), "@equalLength true",
    sprintf("@seriesLength %d", dim(x)[[3]]),
    paste("@classLabel true", paste(levels(d$y), collapse = " ")),
    "@data", rows
  ), ".ts")
}

write_arff <- function(d) {
  x <- d$x
  multi <- length(dim(x)) == 3L
  len <- if (multi) dim(x)[[3]] else ncol(x)
  atts <- sprintf("@attribute t%d numeric", seq_len(len))
  cls <- sprintf("@attribute target {%s}", paste(levels(d$y), collapse = ","))
  fmt <- function(v) {
    s <- format(v, digits = 17)
    s[is.na(v)] <- "?"
    paste(s, collapse = ",")
  }
  if (multi) {
    rows <- vapply(seq_along(d$y), function(i) {
      dims <- vapply(seq_len(dim(x)[[2]]), function(k) fmt(x[i, k, ]), "")
      paste0("'", paste(dims, collapse = "\\n"), "',", d$y[[i]])
    }, "")
    header <- c("@relation test", "@attribute series relational", atts,
                "@end series", cls)
  } else {
    rows <- vapply(seq_along(d$y), function(i) paste0(fmt(x[i, ]), ",", d$y[[i]]), "")
    header <- c("@relation test", atts, cls)
  }
  write_tmp(c("% written by a test", header, "", "@data", rows), ".arff")
}

test_that("read_ucr round-trips tab, comma and space separated files", {
  set.seed(1)
  d <- sim_cbf(n = 9, length = 40)
  d$y <- factor(as.integer(d$y))
  for (args in list(list(".tsv", "\t"), list("", ","), list(".txt", "  "))) {
    r <- read_ucr(write_ucr(d, args[[1]], args[[2]]))
    expect_s3_class(r, "cphap_data")
    expect_equal(r$x, d$x)
    expect_equal(r$y, d$y)
    expect_null(r$events)
  }
})

test_that("read_ucr reads numeric labels written in scientific notation", {
  p <- write_tmp(c("  1.0000000e+00   1.5  2.5 ", " 2.0000000e+00  3 4", "1.0000000e+01 5 6"), ".txt")
  r <- read_ucr(p)
  expect_equal(levels(r$y), c("1", "2", "10"))
  expect_equal(as.character(r$y), c("1", "2", "10"))
  expect_equal(r$x, rbind(c(1.5, 2.5), c(3, 4), c(5, 6)))
  r <- read_ucr(write_tmp(c("b\t1\t2", "a\t3\t4"), ".tsv"))
  expect_equal(levels(r$y), c("a", "b"))
})

test_that("read_ucr treats trailing NaN as padding and can resample", {
  p <- write_tmp(c("1\t0\t1\t2\t3", "2\t0\t3\tNaN\tNaN", "1\t1\tNaN\t1\t1"), ".tsv")
  expect_error(read_ucr(p), "unequal lengths, from 2 to 4")
  expect_error(read_ucr(p), basename(p), fixed = TRUE)
  r <- read_ucr(p, length = 4)
  expect_equal(r$x[1, ], c(0, 1, 2, 3))
  expect_equal(r$x[2, ], c(0, 1, 2, 3))
  expect_equal(r$x[3, ], c(1, 1, 1, 1))
  r <- read_ucr(p, length = 2, resample = "truncate")
  expect_equal(r$x, rbind(c(0, 1), c(0, 3), c(1, NA)))
  expect_error(read_ucr(p, length = 3, resample = "truncate"),
               "Only 2 points in series 2")
})

test_that("read_ucr keeps missing values inside equal-length series", {
  r <- read_ucr(write_tmp(c("1\t0\tNaN\t2", "2\t?\t3\t4"), ".tsv"))
  expect_equal(r$x, rbind(c(0, NA, 2), c(NA, 3, 4)))
})

test_that("read_ucr gives clear errors for malformed files", {
  expect_error(read_ucr(write_tmp(c("1\t0.5\tabc\t2"), ".tsv")),
               "Found \"abc\" on line 1")
  expect_error(read_ucr(write_tmp(c("1\t0.5\t1", "", "2\t1\t1.2.3"), ".tsv")),
               "line 3")
  expect_error(read_ucr(write_tmp(c("1\t1", "2"), ".tsv")), "Line 2 .* label and at least one value")
  expect_error(read_ucr(write_tmp(character(0), ".tsv")), "holds no series")
  expect_error(read_ucr(file.path(tempdir(), "no-such-file.tsv")), "must be an existing file")
  expect_error(read_ucr(tempdir()), "must be an existing file")
  expect_error(read_ucr(1), "`path` must be a single file path")
  p <- write_tmp("1\t2\t3", ".tsv")
  expect_error(read_ucr(p, length = 0), "`length`")
  expect_error(read_ucr(p, resample = "cubic"), "`resample`")
})

test_that("read_ts round-trips univariate and multivariate files", {
  set.seed(2)
  d <- sim_multivariate(n = 6, n_channels = 3, length = 25, motif_length = 5)
  d$events <- NULL
  d$x[2, 3, 7] <- NA
  r <- read_ts(write_ts(d))
  expect_equal(r$x, d$x)
  expect_equal(r$y, d$y)
  u <- sim_cbf(n = 6, length = 20)
  u$events <- NULL
  r <- read_ts(write_ts(u))
  expect_equal(r$x, u$x)
  expect_equal(r$y, u$y)
})

test_that("read_ts reads labels, comments and unlabelled files", {
  p <- write_tmp(c(
    "#comment", "@problemName toy", "@classLabel true b a", "@data",
    "1, 2, 3:a", "", "4,5,6:b"
  ), ".ts")
  r <- read_ts(p)
  expect_equal(levels(r$y), c("b", "a"))
  expect_equal(as.character(r$y), c("a", "b"))
  expect_equal(r$x, rbind(1:3, 4:6) + 0)
  p <- write_tmp(c("@univariate true", "@classLabel false", "@data", "1,2", "3,4"), ".ts")
  r <- read_ts(p)
  expect_true(all(is.na(r$y)))
  expect_equal(dim(r$x), c(2, 2))
  p <- write_tmp(c("@classLabel true", "@data", "1,2:2", "3,4:10"), ".ts")
  expect_equal(levels(read_ts(p)$y), c("2", "10"))
})

test_that("read_ts handles unequal lengths", {
  p <- write_tmp(c("@dimensions 2", "@classLabel true x y", "@data",
                   "0,1,2:0,1:x", "0,2,4:5,5,5:y"), ".ts")
  expect_error(read_ts(p), "unequal lengths, from 2 to 3")
  expect_error(read_ts(p), "series 1 \\(dimension 2\\) has 2 points")
  r <- read_ts(p, length = 3)
  expect_equal(dim(r$x), c(2, 2, 3))
  expect_equal(r$x[1, 2, ], c(0, 0.5, 1))
  expect_equal(r$x[2, 1, ], c(0, 2, 4))
  p <- write_tmp(c("@classLabel true x", "@data", "1,2,?:x"), ".ts")
  expect_equal(read_ts(p)$x, matrix(c(1, 2, NA), nrow = 1))
})

test_that("read_ts gives clear errors for malformed files", {
  expect_error(read_ts(write_tmp(c("@problemName a", "1,2:x"), ".ts")), "no `@data` line")
  expect_error(read_ts(write_tmp(c("@classLabel true a", "@data"), ".ts")), "holds no series")
  expect_error(
    read_ts(write_tmp(c("@dimensions 2", "@classLabel true a b", "@data", "1,2:3,4:a", "1,2:b"), ".ts")),
    "Line 5 has 1 dimension"
  )
  expect_error(
    read_ts(write_tmp(c("@classLabel true a b", "@data", "1,2:3,4:a", "1,2:b"), ".ts")),
    "must have 2 dimensions"
  )
  expect_error(
    read_ts(write_tmp(c("@classLabel true a b", "@data", "1,2:a", "1,x:b"), ".ts")),
    "Found \"x\" on line 4"
  )
  expect_error(
    read_ts(write_tmp(c("@classLabel true a b", "@data", "1,2:3,4:a", "1,2:3,oops:b"), ".ts")),
    "line 4 \\(dimension 2\\)"
  )
  expect_error(
    read_ts(write_tmp(c("@classLabel true a b", "@data", "1,2:c"), ".ts")),
    "Line 3 has label \"c\""
  )
  expect_error(
    read_ts(write_tmp(c("@classLabel true a b", "@data", "1,,2:a"), ".ts")),
    "must be numbers"
  )
  expect_error(read_ts(write_tmp(c("@timeStamps true", "@data", "(0,1):a"), ".ts")), "time stamps")
  expect_error(read_ts(write_tmp(c("@targetLabel true", "@data", "1,2:0.5"), ".ts")), "regression")
  expect_error(read_ts(write_tmp(c("@dimensions two", "@data", "1,2"), ".ts")), "`@dimensions`")
})

test_that("read_arff round-trips univariate and multivariate files", {
  set.seed(3)
  u <- sim_two_patterns(n = 8, length = 16)
  u$events <- NULL
  r <- read_arff(write_arff(u))
  expect_equal(r$x, u$x)
  expect_equal(r$y, u$y)
  m <- sim_multivariate(n = 4, n_channels = 2, length = 12, motif_length = 4)
  m$events <- NULL
  m$x[1, 1, 3] <- NA
  r <- read_arff(write_arff(m))
  expect_equal(r$x, m$x)
  expect_equal(r$y, m$y)
})

test_that("read_arff reads quoted labels, upper-case keywords and padding", {
  p <- write_tmp(c(
    "@RELATION toy", "@ATTRIBUTE input RELATIONAL", "@ATTRIBUTE t1 NUMERIC",
    "@ATTRIBUTE t2 REAL", "@ATTRIBUTE t3 numeric", "@END input",
    "@ATTRIBUTE cls {'a', 'b'}", "@DATA",
    "'1,2,3\\n4,5,6',a", "\"3,2,1\\n6,5,4\",'b'"
  ), ".arff")
  r <- read_arff(p)
  expect_equal(dim(r$x), c(2, 2, 3))
  expect_equal(r$x[2, 2, ], c(6, 5, 4))
  expect_equal(levels(r$y), c("a", "b"))
  p <- write_tmp(c("@relation t", "@attribute a numeric", "@attribute b numeric",
                   "@attribute c numeric", "@attribute y {1,2}", "@data",
                   "1,2,3,1", "4,5,?,2"), ".arff")
  expect_error(read_arff(p), "unequal lengths, from 2 to 3")
  expect_equal(read_arff(p, length = 3)$x[2, ], c(4, 4.5, 5))
})

test_that("read_arff gives clear errors for malformed files", {
  head <- c("@relation t", "@attribute a numeric", "@attribute b numeric",
            "@attribute y {p,q}", "@data")
  expect_error(read_arff(write_tmp(c(head, "1,2,p", "1,2,3,q"), ".arff")),
               "must have 3 comma-separated fields.*Line 7 has 4")
  expect_error(read_arff(write_tmp(c(head, "1,z,p"), ".arff")), "Found \"z\" on line 6")
  expect_error(read_arff(write_tmp(c(head, "1,2,r"), ".arff")), "Line 6 has label \"r\"")
  expect_error(read_arff(write_tmp(c(head, "{0 1, 2 p}"), ".arff")), "sparse")
  expect_error(read_arff(write_tmp(head[-5], ".arff")), "no `@data` line")
  expect_error(read_arff(write_tmp(c("@relation t", "@attribute a string", "@attribute y {p}",
                                     "@data", "x,p"), ".arff")), "must be numeric")
  rel <- c("@relation t", "@attribute s relational", "@attribute a numeric",
           "@attribute b numeric", "@end s", "@attribute y {p,q}", "@data")
  expect_error(read_arff(write_tmp(c(rel, "'1,2\\n3,4',p", "'1,2',q"), ".arff")),
               "Line 9 has 1 dimension, line 8 has 2")
  expect_error(read_arff(write_tmp(c(rel, "'1,2,3\\n3,4,5',p"), ".arff")),
               "must have 2 values.*Line 8 has 3 in dimension 1")
  expect_error(read_arff(write_tmp(c(rel, "1,2,p"), ".arff")), "quoted series")
  expect_error(read_arff(write_tmp(c(rel, "'1,2\\n3,x',p"), ".arff")), "line 8 \\(dimension 2\\)")
})
