# Help pages speak to users: no internal documents, examples on a trained net.

rd_db <- function() tools::Rd_db("cphap")

test_that("help pages cite no internal design document", {
  db <- rd_db()
  txt <- vapply(db, function(rd) paste(as.character(rd), collapse = ""), character(1))
  bad <- names(txt)[grepl("DESIGN|design notes|design document|section 1\\.[0-9]", txt)]
  expect_identical(bad, character())
})

test_that("examples that interpret a network use the trained demo model", {
  db <- rd_db()
  pages <- c(
    "cphap.Rd", "explain_sample.Rd", "unit_pattern_matrix.Rd", "as.data.frame.cphap_result.Rd",
    "thresholds.Rd", "activated_periods.Rd", "period_windows.Rd", "perturbation.Rd",
    "perturbation-methods.Rd", "autoplot.cphap_result.Rd", "autoplot.cphap_explanation.Rd",
    "unit_relevance.Rd", "lrp.Rd", "summary.cphap_relevance.Rd", "autoplot.cphap_relevance.Rd"
  )
  for (p in pages) {
    ex <- paste(as.character(tools:::.Rd_get_section(db[[p]], "examples")), collapse = "")
    expect_match(ex, "demo_model()", fixed = TRUE, info = p)
    expect_no_match(ex, "rnorm(", fixed = TRUE, info = p)
  }
})

test_that("pages of functions with a counterpart in the original work say how they differ", {
  db <- rd_db()
  pages <- c(
    "thresholds.Rd", "activated_periods.Rd", "period_windows.Rd", "cphap.Rd",
    "cluster_windows.Rd", "explain_sample.Rd", "unit_relevance.Rd", "lrp.Rd",
    "lrp_rules.Rd", "pattern_entropy.Rd", "perturbation.Rd", "fit_model.Rd", "arch_cnn.Rd",
    "demo_model.Rd"
  )
  for (p in pages) {
    titles <- vapply(Filter(function(s) identical(attr(s, "Rd_tag"), "\\section"), db[[p]]),
                     function(s) paste(unlist(s[[1]]), collapse = ""), character(1))
    expect_true("Differences from the original work" %in% titles, info = p)
  }
})
