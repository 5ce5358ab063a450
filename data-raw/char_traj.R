# Makes data/char_traj.rda from `CharTrajMV`, the subset of the UCI
# Character Trajectories data shipped in the CRAN package dtwclust (GPL-3).
# dtwclust itself is not installed: its source package is downloaded with the
# machine's configured repositories and only its data file is read.
#
# Run from the package root:  Rscript data-raw/char_traj.R
#
# What the source holds (dtwclust 6.0.0, data/uciCT.rda): `CharTrajMV` is a
# named list of 100 matrices (time x 3, columns TipForce, VelX, VelY), five
# examples ("A.V1" ... "A.V5") of each of 20 characters, with lengths from
# 109 to 205 points (median 174). The velocities are the pen tip's x and y
# velocities and TipForce the pen's tip force, as in the UCI data.
#
# What this script makes: every channel of every series is resampled to 128
# points by linear interpolation over its own time span (stats::approx on
# evenly spaced positions in [0, 1]) and rounded to 6 significant digits (the
# source has 5; this keeps the file small); channels are ordered x velocity,
# y velocity, tip force. The data set has no official train/test split for
# this subset, so we make a fixed one: examples V1-V3 of each character are
# `train` (60 series), V4-V5 are `test` (40 series).

source("R/cphap_data.R")

common_length <- 128L

dest <- tempfile("dtwclust-src")
dir.create(dest)
got <- utils::download.packages("dtwclust", destdir = dest, type = "source")
utils::untar(got[1, 2], exdir = dest)
cat("dtwclust version:", read.dcf(file.path(dest, "dtwclust", "DESCRIPTION"),
                                  fields = "Version")[1, 1], "\n")
env <- new.env()
load(file.path(dest, "dtwclust", "data", "uciCT.rda"), envir = env)
series <- env$CharTrajMV
stopifnot(length(series) == 100L,
          all(vapply(series, function(m) identical(colnames(m), c("TipForce", "VelX", "VelY")), TRUE)),
          !anyNA(unlist(series)))
cat("original lengths:", paste(range(vapply(series, nrow, 1L)), collapse = " to "),
    "median", stats::median(vapply(series, nrow, 1L)), "\n")

resample_linear <- function(v, n) {
  stats::approx(seq(0, 1, length.out = length(v)), v,
                xout = seq(0, 1, length.out = n))$y
}

channels <- c("VelX", "VelY", "TipForce")
x <- array(NA_real_, dim = c(length(series), length(channels), common_length),
           dimnames = list(NULL, c("x_velocity", "y_velocity", "tip_force"), NULL))
for (i in seq_along(series)) {
  for (k in seq_along(channels)) {
    x[i, k, ] <- signif(resample_linear(series[[i]][, channels[[k]]], common_length), 6)
  }
}
ids <- names(series)
character <- sub("\\..*$", "", ids)
example <- as.integer(sub("^.*\\.V", "", ids))
y <- factor(character, levels = sort(unique(character)))
stopifnot(all(table(y) == 5L), setequal(example, 1:5))

make_part <- function(keep) cphap_data(x[keep, , , drop = FALSE], y[keep])
char_traj <- structure(
  list(train = make_part(example <= 3L), test = make_part(example >= 4L)),
  class = "cphap_dataset",
  title = "Character Trajectories (UCI), subset, 3 channels, 20 classes"
)

save(char_traj, file = "data/char_traj.rda", compress = "xz")
