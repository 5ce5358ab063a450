#' GunPoint: drawing a gun or pointing a finger (UCR archive)
#'
#' The univariate GunPoint data set of the UCR time series classification
#' archive. Two actors (one female, one male) either draw a replica gun from
#' a hip holster, point it at a target for about a second and put it back
#' (class *Gun-Draw*), or point with the index finger and lower the hand
#' (class *Point*). Each series is the horizontal (x-axis) position of the
#' centroid of the actor's right hand, tracked in video, 150 frames long and
#' z-normalised.
#'
#' @format A list of class `cphap_dataset` with two [cphap_data] objects,
#'   `train` (50 series) and `test` (150 series), the archive's own split.
#'   Each has
#'   \describe{
#'     \item{`x`}{a numeric matrix `[n, 150]`, one series per row;}
#'     \item{`y`}{a factor with levels `"1"` and `"2"` (train: 24 and 26
#'       series, test: 76 and 74);}
#'     \item{`events`}{`NULL` (no ground truth).}
#'   }
#'
#' @details The classes are coded `1` and `2` as in the archive's files; the
#'   sources used here do not say which code is Gun-Draw and which is Point.
#'
#'   The data come from the `gunpoint.task` of the \pkg{mlr} package (version
#'   2.19.1), which holds all 200 series in one table with no record of the
#'   split. Its rows are in the archive's order: the first 50 are the
#'   archive's training set and the other 150 its test set. We checked this
#'   against an independent copy of the split (the `Gun_Point` data of the
#'   \pkg{jmotif} package): the labels agree series by series and so do the
#'   values, to the precision \pkg{mlr} keeps. \pkg{mlr} stores the values
#'   rounded to 5 significant digits, so they differ from the archive's files
#'   by at most 5e-5. The script `data-raw/gunpoint.R` in the package sources
#'   makes this object.
#'
#' @source The UCR time series classification archive, through the R package
#'   \pkg{mlr} (Bischl et al., BSD-2-clause licence; copyright notice in the
#'   file `COPYRIGHTS` of this package). The archive distributes the data for
#'   research and asks users to cite it and the data's creators.
#'
#' @references Dau, H. A., Bagnall, A., Kamgar, K., Yeh, C.-C. M., Zhu, Y.,
#'   Gharghabi, S., Ratanamahatana, C. A. and Keogh, E. (2019). The UCR time
#'   series archive. *IEEE/CAA Journal of Automatica Sinica* 6(6), 1293--1305.
#'
#'   Ratanamahatana, C. A. and Keogh, E. (2004). Everything you know about
#'   dynamic time warping is wrong. *Third Workshop on Mining Temporal and
#'   Sequential Data, KDD 2004*.
#'
#'   Bischl, B., Lang, M., Kotthoff, L., Schiffner, J., Richter, J.,
#'   Studerus, E., Casalicchio, G. and Jones, Z. M. (2016). mlr: Machine
#'   learning in R. *Journal of Machine Learning Research* 17(170), 1--5.
#' @seealso [char_traj], [read_ucr()] to read other data sets of the archive.
#' @examples
#' gunpoint
#' dim(gunpoint$train$x)
#' table(gunpoint$test$y)
#' matplot(t(gunpoint$train$x[1:6, ]), type = "l", lty = 1,
#'         col = as.integer(gunpoint$train$y[1:6]), ylab = "x position")
"gunpoint"

#' Character trajectories: pen tip velocities and force (UCI)
#'
#' A subset of the Character Trajectories data: one writer wrote single
#' characters on a tablet, and the pen tip's position and force were recorded
#' at 200 Hz. Only characters written in one pen-down stroke are included. As
#' distributed, the three signals were numerically differentiated and
#' smoothed by the donors: the channels are the x velocity, the y velocity
#' and the change of the tip force (so the force channel takes negative
#' values too). This subset has 5 examples of each of 20 characters
#' (`a b c d e g h l m n o p q r s u v w y z`, labelled in upper case).
#'
#' @format A list of class `cphap_dataset` with two [cphap_data] objects,
#'   `train` (60 series: examples 1 to 3 of each character) and `test`
#'   (40 series: examples 4 and 5). Each has
#'   \describe{
#'     \item{`x`}{a numeric array `[n, 3, 128]` (series, channel, time); the
#'       channels are named `x_velocity`, `y_velocity` and `tip_force`;}
#'     \item{`y`}{a factor with the 20 characters as levels;}
#'     \item{`events`}{`NULL` (no ground truth).}
#'   }
#'
#' @details The original series have unequal lengths (109 to 205 points,
#'   median 174). Every channel of every series was resampled to 128 points
#'   by linear interpolation over its own time span and rounded to 6
#'   significant digits, so the time axis is relative (start to end of the
#'   stroke), not in samples at 200 Hz. The train/test split is ours, fixed by
#'   example number; this subset has no official split. The script
#'   `data-raw/char_traj.R` in the package sources makes this object.
#'
#' @source The UCI Machine Learning Repository, *Character Trajectories*,
#'   donated by Ben H. Williams (2008), licensed under Creative Commons
#'   Attribution 4.0 (CC BY 4.0). Taken from the subset `CharTrajMV` of the R
#'   package \pkg{dtwclust} (version 6.0.0, Sarda-Espinosa, GPL-3), resampled
#'   and split as described above.
#'
#' @references Williams, B. H., Toussaint, M. and Storkey, A. J. (2006).
#'   Extracting motion primitives from natural handwriting data.
#'   *International Conference on Artificial Neural Networks (ICANN)*,
#'   634--643.
#'
#'   Williams, B. H., Toussaint, M. and Storkey, A. J. (2008). Modelling
#'   motion primitives and their timing in biologically executed movements.
#'   *Advances in Neural Information Processing Systems 20*, 1609--1616.
#'
#'   Sarda-Espinosa, A. (2019). Time-series clustering in R using the
#'   dtwclust package. *The R Journal* 11(1), 22--43.
#' @seealso [gunpoint], [read_ts()] to read the full data set from the UEA
#'   archive.
#' @examples
#' char_traj
#' dim(char_traj$train$x)
#' dimnames(char_traj$train$x)[[2]]
#' # the pen path of the first "A", from its velocities
#' v <- char_traj$train$x[1, , ]
#' plot(cumsum(v["x_velocity", ]), cumsum(v["y_velocity", ]), type = "l",
#'      asp = 1, xlab = "x", ylab = "y")
"char_traj"
