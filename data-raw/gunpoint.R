# Makes data/gunpoint.rda from the GunPoint data shipped in the mlr package
# (Debian: r-cran-mlr; mlr is BSD-2-clause licensed).
#
# Run from the package root:  Rscript data-raw/gunpoint.R
#
# What the source holds (checked when this script was written, mlr 2.19.1):
# `mlr::gunpoint.task` is a classification task with 200 series of length 150
# and classes "1" (100) and "2" (100). mlr records no train/test split. Its
# rows are in the order of the UCR archive's files: rows 1-50 have the class
# counts of GunPoint_TRAIN (24 of class 1, 26 of class 2) and rows 51-200 those
# of GunPoint_TEST (76, 74). We also compared the rows, one by one, with an
# independent copy of the archive's split (the `Gun_Point` data of the CRAN
# package jmotif, with `data_train` and `data_test`): the labels agree in
# order and the values agree to the precision mlr keeps. mlr stores the values
# rounded to 5 significant digits (e.g. -0.64789 for the archive's
# -0.64788999), so values differ from the archive's files by at most 5e-5.
# The series are z-normalised in the archive (mean 0, sd 1 per series).

stopifnot(requireNamespace("mlr", quietly = TRUE))
source("R/cphap_data.R")

env <- new.env()
utils::data("gunpoint.task", package = "mlr", envir = env)
task_data <- mlr::getTaskData(env$gunpoint.task, functionals.as = "matrix")
x <- unname(task_data$fd)
y <- factor(as.character(task_data$X1), levels = c("1", "2"))
stopifnot(
  identical(dim(x), c(200L, 150L)),
  identical(as.vector(table(y)), c(100L, 100L)),
  identical(as.vector(table(y[1:50])), c(24L, 26L)),
  identical(as.vector(table(y[51:200])), c(76L, 74L)),
  !anyNA(x)
)

train <- 1:50
test <- 51:200
gunpoint <- structure(
  list(
    train = cphap_data(x[train, ], y[train]),
    test = cphap_data(x[test, ], y[test])
  ),
  class = "cphap_dataset",
  title = "GunPoint (UCR archive), univariate, 2 classes"
)

save(gunpoint, file = "data/gunpoint.rda", compress = "xz")
