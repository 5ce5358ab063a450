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
