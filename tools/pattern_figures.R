# Figures of the pattern framework on GunPoint and Character Trajectories,
# written as PNGs to a folder (default /tmp/pattern_pngs). Development tool,
# not installed. Needs fit_model() (training in C).
#   Rscript tools/pattern_figures.R [folder]
suppressPackageStartupMessages({
  library(cphap)
  library(ggplot2)
})
out <- commandArgs(TRUE)[1]
if (is.na(out)) out <- "/tmp/pattern_pngs"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
png_of <- function(name, plot, width = 10, height = 6) {
  ggsave(file.path(out, name), plot, width = width, height = height, dpi = 90)
}
small_cnn <- list(
  channels = c(16, 32, 32), kernels = c(7, 5, 3), strides = c(1, 1, 1),
  pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)
)

set.seed(1)
gp <- do.call(fit_model, c(list("cnn", gunpoint$train, epochs = 300, batch_size = 16,
  progress = FALSE), small_cnn))
cat("GunPoint test accuracy:", mean(predict(gp, gunpoint$test) == gunpoint$test$y), "\n")
set.seed(1)
res <- cphap(gp, gunpoint$train, layers = c("conv1", "conv2"), k = 8)
print(summary(res))
png_of("gunpoint_1_gallery_conv2.png", autoplot(res, layer = "conv2", max_members = 40), 11)
png_of("gunpoint_2_bands_conv2.png", autoplot(res, "pattern", layer = "conv2"), 11)
png_of("gunpoint_3_units_conv2.png", autoplot(res, "units", layer = "conv2"), 6, 7)
e <- explain_sample(res, 3, "conv2", newdata = gunpoint$test)
png_of("gunpoint_4_test_sample_conv2.png", autoplot(e, max_periods = 6), 10, 5)
png_of("gunpoint_5_periods_highlighted_conv2.png", autoplot(e, "multivariate", max_periods = 6), 10, 4)
png_of("gunpoint_6_gallery_conv1.png", autoplot(res, layer = "conv1", max_members = 40), 11)

set.seed(1)
ct <- do.call(fit_model, c(list("cnn", char_traj$train, epochs = 200, batch_size = 16,
  progress = FALSE), small_cnn))
cat("Character trajectories test accuracy:", mean(predict(ct, char_traj$test) == char_traj$test$y), "\n")
set.seed(1)
rc <- cphap(ct, char_traj$train, layers = "conv2", k = 6)
e <- explain_sample(rc, 5, "conv2")
png_of("char_traj_1_multivariate_periods_conv2.png", autoplot(e, "multivariate", max_periods = 5), 10, 7)
png_of("char_traj_2_sample_channel2_conv2.png", autoplot(e, input_channel = 2, max_periods = 5), 10, 5)
png_of("char_traj_3_gallery_channel1_conv2.png", autoplot(rc, input_channel = 1, max_members = 40), 11)
set.seed(1)
rj <- cphap(ct, char_traj$train, layers = "conv2", k = 6, joint = TRUE)
png_of("char_traj_4_joint_bands_conv2.png", autoplot(rj, "pattern"), 12, 7)
