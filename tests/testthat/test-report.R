# cphap_report(): one self-contained HTML page.

test_that("cphap_report() writes a self-contained page with every section", {
  skip_if_not_installed("rmarkdown")
  skip_if_not(rmarkdown::pandoc_available(), "pandoc is missing")
  res <- cphap(demo_model(), gunpoint$train, layers = c("conv1", "conv2"), k = 4, progress = FALSE)
  f <- withr::local_tempfile(fileext = ".html")
  took <- system.time(out <- cphap_report(res, f, data = gunpoint$test, samples_per_class = 1,
    passes = 10))[["elapsed"]]
  expect_equal(out, f)
  expect_lt(took, 30)
  html <- paste(readLines(f, warn = FALSE), collapse = "\n")
  for (h in c("Model", "Settings", "Thresholds", "Layer conv1", "Layer conv2", "Explained series")) {
    expect_match(html, paste0(">", h, "</h1>"), fixed = TRUE, info = h)
  }
  expect_match(html, "CPHAP report: gunpoint$train", fixed = TRUE)
  # one explained series per class, named by its index in the test set
  first <- vapply(levels(gunpoint$test$y), function(cl) which(gunpoint$test$y == cl)[1], integer(1))
  for (i in seq_along(first)) {
    expect_match(html, sprintf("Class %s, series %d", levels(gunpoint$test$y)[i], first[i]), fixed = TRUE)
  }
  # figures embedded: 2 per layer, 2 per explained series; nothing fetched from the network
  n_img <- lengths(regmatches(html, gregexpr("data:image/png;base64", html, fixed = TRUE)))
  expect_equal(n_img, 2L * 2L + 2L * 2L)
  expect_false(grepl("(src|href)=\"https?://", html))
  # the model summary and the thresholds' table
  expect_match(html, "conv2", fixed = TRUE)
  expect_match(html, "units_at_or_below_0", fixed = TRUE)
  expect_false(grepl("## <cphap_model>", html, fixed = TRUE))
  # without data: no explained series
  g <- withr::local_tempfile(fileext = ".html")
  cphap_report(res, g)
  expect_false(grepl("Explained series", paste(readLines(g, warn = FALSE), collapse = "\n")))
  expect_error(cphap_report(res, g, data = gunpoint$test$x), "cphap_data")
  expect_error(cphap_report(list(), g), "result")
})
