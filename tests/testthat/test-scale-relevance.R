# Relevance, perturbation and explanations over chunks of samples on any
# future plan: identical results, Monte-Carlo masks keyed by the sample.

scale_rel_setup <- function() {
  m <- demo_model()
  x <- gunpoint$test$x[1:9, ]
  list(
    m = m, x = x,
    thr = thresholds(m, gunpoint$train, layers = "conv2"),
    res = cphap(m, gunpoint$train, layers = "conv2", k = 3)
  )
}

# The calls compared across plans and chunk sizes; the draw at the end shows
# that R's generator is left where the unchunked call leaves it.
scale_rel_calls <- function(f, chunk_size) {
  list(
    relevance = {
      set.seed(11)
      unit_relevance(f$m, f$x, c("conv1", "conv3"), channels = c(2, 7), passes = 4,
                     progress = FALSE, format = "compact", chunk_size = chunk_size)
    },
    active = {
      set.seed(12)
      unit_relevance(f$m, f$x, "conv2", channels = 5, seed = "active", threshold = f$thr,
                     passes = 3, rate = 0.3, dropout_layers = "input", progress = FALSE,
                     chunk_size = chunk_size)
    },
    lrp = lrp(f$m, f$x, rules = "epsilon", format = "compact", chunk_size = chunk_size),
    perturbation = {
      set.seed(13)
      perturbation(f$m, f$x, f$thr, "conv2", channels = 1:3, shares = c(0.3, 0.6),
                   fill = "noise", progress = FALSE, chunk_size = chunk_size)
    },
    explain = explain_sample(f$res, 2:7, "conv2", channels = 1:6, newdata = f$x,
                             progress = FALSE, chunk_size = chunk_size),
    explain_own = explain_sample(f$res, c(5, 2, 9), "conv2", progress = FALSE,
                                 chunk_size = chunk_size),
    rng = stats::runif(1)
  )
}

test_that("Monte-Carlo masks depend on the sample, not on the data around it", {
  m <- demo_model()
  x <- gunpoint$test$x[1:6, ]
  run <- function(xx, ...) {
    set.seed(3)
    unit_relevance(m, xx, "conv2", channels = 4, passes = 5, progress = FALSE,
                   format = "compact", ...)
  }
  all <- run(x)
  # a sample alone, as the first row of x, draws the masks of row 1
  expect_identical(run(x[1, , drop = FALSE])$mean[1, , ], all$mean[1, , ])
  # any chunk size gives the same result, chunk by chunk
  for (cs in c(1, 4)) expect_identical(run(x, chunk_size = cs), all)
  # the masks differ between samples: the same series at rows 1 and 2
  # gets different relevance spreads
  twin <- run(x[c(1, 1), ])
  expect_false(identical(twin$sd[1, , ], twin$sd[2, , ]))
  expect_error(run(x, chunk_size = 0), "chunk_size")
  expect_error(lrp(m, x, chunk_size = "a"), "chunk_size")
})

# Replaces the chunk function `name` of the package, in this process, by one
# that fails on chunks holding sample `bad`, until the calling test ends.
local_failing_chunk <- function(name, bad, envir = parent.frame()) {
  ns <- asNamespace("cphap")
  real <- get(name, envir = ns)
  fails <- function(chunk, ...) {
    if (bad %in% chunk$samples) stop("bad series")
    real(chunk, ...)
  }
  unlockBinding(name, ns)
  assign(name, fails, envir = ns)
  withr::defer({
    assign(name, real, envir = ns)
    lockBinding(name, ns)
  }, envir = envir)
}

test_that("a failing chunk is an error naming the chunk", {
  f <- list(m = demo_model(), x = gunpoint$test$x[1:9, ])
  withr::local_options(cphap.future = FALSE)
  thr <- thresholds(f$m, gunpoint$train, layers = "conv2")
  res <- cphap(f$m, gunpoint$train, layers = "conv2", k = 3)
  local_failing_chunk("relevance_chunk", 7L)
  local_failing_chunk("perturbation_chunk", 7L)
  local_failing_chunk("explain_chunk", 7L)
  calls <- list(
    function() unit_relevance(f$m, f$x, "conv2", channels = 1, passes = 2, progress = FALSE,
                              chunk_size = 3),
    function() perturbation(f$m, f$x, thr, "conv2", channels = 1:3, progress = FALSE,
                            chunk_size = 3),
    function() explain_sample(res, 1:9, "conv2", newdata = f$x, progress = FALSE,
                              chunk_size = 3)
  )
  for (fun in calls) {
    err <- expect_error(fun(), class = "cphap_chunk_error")
    expect_match(conditionMessage(err), "chunk 3 (samples 7-9)", fixed = TRUE)
    expect_match(conditionMessage(err$parent), "bad series")
  }
})

test_that("results are identical on every plan and chunk size", {
  skip_on_cran()
  skip_if_not_installed("future")
  skip_if_not_installed("parallelly")
  f <- scale_rel_setup()
  withr::local_options(cphap.threads = 1L)
  old <- future::plan(future::sequential)
  on.exit(future::plan(old), add = TRUE)
  ref <- scale_rel_calls(f, NULL)
  check_plan <- function(what) {
    for (cs in c(2, 4)) {
      got <- scale_rel_calls(f, cs)
      for (nm in names(ref)) {
        expect_identical(got[[nm]], ref[[nm]], label = paste(nm, "on", what, "chunk size", cs))
      }
    }
  }
  check_plan("sequential")
  future::plan(future::multisession, workers = 2)
  check_plan("multisession")
  cl <- parallelly::makeClusterPSOCK(2)
  on.exit(parallel::stopCluster(cl), add = TRUE)
  future::plan(future::cluster, workers = cl)
  check_plan("cluster")
})
