# The README's install path ends with built vignettes (checked in the source
# tree only: the README and tools/ are not in the installed package).

test_that("the README installs from a built tarball and says how to open vignettes", {
  readme <- test_path("..", "..", "README.md")
  skip_if_not(file.exists(readme), "not in the source tree")
  txt <- readLines(readme, warn = FALSE)
  install <- txt[seq(grep("^## Install", txt), length(txt))]
  install <- install[seq_len(grep("^## ", install)[2] - 1L)]
  build <- grep("^R CMD build", install)
  inst <- grep("^R CMD INSTALL .*tar\\.gz", install)
  expect_length(build, 1L)
  expect_length(inst, 1L)
  expect_lt(build, inst)
  expect_true(any(grepl("browseVignettes(\"cphap\")", install, fixed = TRUE)))
  expect_true(any(grepl("vignette(\"cphap\", package = \"cphap\")", install, fixed = TRUE)))
  expect_true(any(grepl("RStudio", install)))
  expect_true(file.exists(test_path("..", "..", "tools", "check-vignettes.sh")))
})
