# Chunked work on the user's future plan (R/scale.R).

test_that("chunk_ranges() covers 1..n in order with the given size", {
  r <- chunk_ranges(10, 4)
  expect_equal(r, list(1:4, 5:8, 9:10))
  expect_equal(chunk_ranges(3, 10), list(1:3))
  expect_equal(chunk_ranges(0, 5), list())
})

test_that("chunk_size is checked and defaults to one chunk without a plan", {
  expect_error(check_chunk_size(0, 10), "chunk_size")
  expect_error(check_chunk_size(NA, 10), "chunk_size")
  expect_error(check_chunk_size("a", 10), "chunk_size")
  expect_equal(check_chunk_size(3, 10), 3L)
  withr::local_options(cphap.future = FALSE)
  expect_equal(check_chunk_size(NULL, 250), 250L)
})

test_that("map_chunks() keeps the order and names the failing chunk", {
  withr::local_options(cphap.future = FALSE)
  ch <- lapply(chunk_ranges(20, 3), function(s) list(samples = s))
  out <- map_chunks(ch, function(c, k) sum(c$samples) * k, k = 2)
  expect_equal(unlist(out), vapply(chunk_ranges(20, 3), function(s) sum(s) * 2, numeric(1)))
  bad <- function(c) if (8 %in% c$samples) stop("no eight") else 1
  err <- expect_error(map_chunks(ch, bad), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 3 (samples 7-9)", fixed = TRUE)
  expect_match(conditionMessage(err$parent), "no eight")
  # a single chunk in this process: the error as it is
  expect_error(map_chunks(ch[3], bad), "no eight")
})

test_that("map_chunks() gives the same results on a multisession plan", {
  skip_on_cran()
  skip_if_not_installed("future")
  ch <- lapply(chunk_ranges(11, 2), function(s) list(samples = s))
  f <- function(c) c(sum(c$samples), getOption("cphap.threads"))
  here <- withr::with_options(list(cphap.future = FALSE, cphap.threads = 1L), map_chunks(ch, f))
  old <- future::plan(future::multisession, workers = 2)
  on.exit(future::plan(old), add = TRUE)
  there <- withr::with_options(list(cphap.threads = 1L), map_chunks(ch, f))
  expect_identical(there, here)
  bad <- function(c) if (5 %in% c$samples) stop("no five") else 1
  err <- expect_error(map_chunks(ch, bad), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 3 (samples 5-6)", fixed = TRUE)
})
