# Helpers for the tests of chunked work.

# Lines of the UCR text format (label, then the values) for rows `rows` of
# a one-channel cphap_data object.
ucr_lines <- function(d, rows = seq_along(d$y), sep = "\t") {
  vapply(rows, function(i) {
    paste(c(as.character(d$y[[i]]), format(d$x[i, ], digits = 17)), collapse = sep)
  }, "")
}

# Write the rows of d in `parts` (a list of row indices) to one .tsv file
# each, in a new folder; returns the paths.
write_ucr_chunks <- function(d, parts) {
  dir <- tempfile("chunks")
  dir.create(dir)
  vapply(seq_along(parts), function(i) {
    path <- file.path(dir, sprintf("part%d.tsv", i))
    writeLines(ucr_lines(d, parts[[i]]), path)
    path
  }, "")
}
