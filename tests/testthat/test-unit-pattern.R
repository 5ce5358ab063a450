# The original work's unit-pattern association: share above the 90th
# percentile of the pattern's column, and intersection over union.

test_that("association and IoU follow their definitions on the window lists", {
  m <- demo_model()
  set.seed(5)
  res <- cphap(m, gunpoint$train$x[1:15, ], layers = "conv2", k = 4, n_start = 2)
  up <- res$unit_pattern
  wn <- res$windows
  units <- sort(unique(unlist(wn$channels)))
  for (j in 1:4) {
    in_p <- wn$window[wn$cluster == j]
    share <- vapply(units, function(u) {
      mine <- wn$window[vapply(wn$channels, function(ch) u %in% ch, TRUE)]
      mean(mine %in% in_p)
    }, 1)
    iou <- vapply(units, function(u) {
      mine <- wn$window[vapply(wn$channels, function(ch) u %in% ch, TRUE)]
      length(intersect(mine, in_p)) / length(union(mine, in_p))
    }, 1)
    row <- up[up$cluster == j, ]
    row <- row[match(units, row$channel), ]
    expect_equal(row$share, share)
    expect_equal(row$iou, iou)
    expect_equal(row$associated, share > quantile(share, 0.9, names = FALSE))
    expect_equal(row$iou_rank, order(order(-iou, units)))
  }
  # every pattern has at least one associated unit unless its shares are all equal
  assoc <- unit_pattern_matrix(res, value = "associated")
  expect_type(assoc, "logical")
  expect_equal(dim(assoc), c(length(units), 4L))
  expect_equal(unit_pattern_matrix(res, value = "share"), unit_pattern_matrix(res, share = TRUE))
  expect_error(unit_pattern_matrix(res, value = "bad"), "value")
})
