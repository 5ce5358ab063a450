# The sample-wise steps on future plans (sequential, multisession, a PSOCK
# cluster on this machine), with two chunk sizes: identical results to one
# chunk in this process. The plans start once for the whole file.

skip_on_cran()
skip_if_not_installed("future")

plan_model <- demo_model()
plan_x <- gunpoint$train$x[1:24, ]
plan_new <- gunpoint$test$x[1:20, ]

# Results of one chunk in this process: the reference.
plan_ref <- withr::with_options(list(cphap.future = FALSE), {
  th <- thresholds(plan_model, plan_x, alpha = 0.02)
  set.seed(9)
  list(
    th = th,
    per = activated_periods(plan_model, plan_new, th),
    res = cphap(plan_model, plan_x, plan_new, layers = "conv2", k = 3, progress = FALSE)
  )
})

check_plan <- function(label) {
  for (cs in c(5, 13)) {
    th <- thresholds(plan_model, plan_x, alpha = 0.02, chunk_size = cs)
    expect_identical(th, plan_ref$th, info = paste(label, cs))
    expect_identical(activated_periods(plan_model, plan_new, th, chunk_size = cs),
                     plan_ref$per, info = paste(label, cs))
    set.seed(9)
    res <- cphap(plan_model, plan_x, plan_new, layers = "conv2", k = 3, progress = FALSE,
                 chunk_size = cs)
    expect_identical(res, plan_ref$res, info = paste(label, cs))
  }
}

test_that("results are identical on plan(sequential)", {
  old <- future::plan(future::sequential)
  on.exit(future::plan(old), add = TRUE)
  expect_false(use_futures())
  check_plan("sequential")
})

test_that("results are identical on plan(multisession, workers = 2), files streamed too", {
  old <- future::plan(future::multisession, workers = 2)
  on.exit(future::plan(old), add = TRUE)
  expect_identical(future_workers(), 2L)
  # the package's options of this process hold on the workers
  withr::local_options(cphap.marker = "main")
  ch <- lapply(chunk_ranges(4, 2), function(s) list(samples = s))
  expect_identical(unlist(map_chunks(ch, function(c) getOption("cphap.marker"))),
                   c("main", "main"))
  check_plan("multisession")
  # a reference set streamed from files, chunk by chunk, on the workers
  paths <- write_ucr_chunks(gunpoint$train, list(1:9, 10:20, 21:24))
  x <- do.call(rbind, lapply(paths, function(p) read_ucr(p)$x))
  expect_identical(thresholds(plan_model, paths, alpha = 0.02),
                   withr::with_options(list(cphap.future = FALSE),
                                       thresholds(plan_model, x, alpha = 0.02)))
  # a failing chunk on a worker is named
  bad <- series_chunks(function(i) if (i == 2) stop("no disk") else x[1:4, ], 3)
  err <- expect_error(thresholds(plan_model, bad), class = "cphap_chunk_error")
  expect_match(conditionMessage(err), "chunk 2")
})

test_that("results are identical on a PSOCK cluster of two local workers", {
  cl <- parallel::makePSOCKcluster(2)
  on.exit(parallel::stopCluster(cl), add = TRUE)
  old <- future::plan(future::cluster, workers = cl)
  on.exit(future::plan(old), add = TRUE, after = FALSE)
  expect_identical(future_workers(), 2L)
  check_plan("cluster")
})
