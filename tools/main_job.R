# The main job (see tools/main-job.sh): GunPoint end to end.
#   Rscript tools/main_job.R [output-folder]
suppressPackageStartupMessages({
  library(cphap)
  library(ggplot2)
})
out <- commandArgs(TRUE)[1]
if (is.na(out)) out <- "cphap-results"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
out <- normalizePath(out)
t_start <- proc.time()[["elapsed"]]
step <- function(msg) cli::cli_alert_info("{format(Sys.time(), '%H:%M:%S')} {msg}")
save_png <- function(name, plot, width = 9, height = 5) {
  ggsave(file.path(out, name), plot, width = width, height = height, dpi = 100, bg = "white")
}
save_csv <- function(name, df) {
  utils::write.csv(as.data.frame(df), file.path(out, name), row.names = FALSE)
}

data(gunpoint, package = "cphap")
train <- gunpoint$train
test <- gunpoint$test

step("Training the paper's CNN on GunPoint (50 training series, 200 epochs)")
set.seed(1)
model <- fit_model("cnn", train,
  epochs = 200, batch_size = 10, lr = 1e-3, keep_best = FALSE,
  kernels = c(7, 5, 3), strides = c(1, 1, 1), pool_sizes = c(2, 2, 2),
  pool_strides = c(2, 2, 2), progress = TRUE
)
acc <- mean(predict(model, test) == test$y)
cli::cli_alert_success("Test accuracy {round(acc, 4)} on {nrow(test$x)} series")
save_csv("training_history.csv", model$history)
save_png("training_history.png", autoplot(model$history))
print(model)

step("Pattern framework: thresholds, highly activated periods, clusters")
set.seed(1)
res <- cphap(model, train, x = train, layers = c("conv1", "conv2"), k = 8)
print(summary(res))
tabs <- as.data.frame(res)
if (is.list(tabs) && !is.data.frame(tabs)) {
  for (nm in names(tabs)) save_csv(paste0("patterns_", nm, ".csv"), tabs[[nm]])
} else {
  save_csv("patterns.csv", tabs)
}
save_png("pattern_gallery_conv2.png", autoplot(res, "gallery", layer = "conv2", max_members = 40), 11, 7)
save_png("pattern_bands_conv2.png", autoplot(res, "pattern", layer = "conv2"), 11, 7)
save_png("unit_pattern_conv2.png", autoplot(res, "units", layer = "conv2"), 7, 8)
e <- explain_sample(res, 3, "conv2", newdata = test)
save_png("test_sample_3_conv2.png", autoplot(e, max_periods = 6), 10, 5)

step("Relevance from a unit with Monte-Carlo dropout (300 passes)")
thr <- thresholds(model, train, layers = c("conv2", "conv3"))
save_csv("thresholds.csv", thr)
per <- activated_periods(model, test, thr, layers = "conv2", samples = 1:20)
# the test series and unit with the most highly activated nodes
counts <- table(paste(per$sample, per$channel))
best <- as.integer(strsplit(names(counts)[which.max(counts)], " ")[[1]])
cli::cli_alert_info("Unit conv2 channel {best[2]} on test series {best[1]} ({max(counts)} highly activated nodes)")
set.seed(1)
rel <- unit_relevance(model, test$x[best[1], , drop = FALSE], "conv2", channels = best[2],
  seed = "active", threshold = thr$threshold[thr$layer == "conv2"], passes = 300, rate = 0.5
)
save_csv("relevance_conv2.csv", rel)
save_png("relevance_conv2.png", autoplot(rel), 10, 7)

step("Perturbation analysis on the GunPoint test set")
set.seed(1)
pert <- perturbation(model, test, thr, "conv2", samples = 1:40,
  shares = c(0.1, 0.2, 0.3, 0.4, 0.5), fill = "mean"
)
save_csv("perturbation_conv2.csv", pert)
save_csv("perturbation_conv2_summary.csv", summary(pert))
print(pert)
save_png("perturbation_conv2.png", autoplot(pert), 10, 4.5)

secs <- proc.time()[["elapsed"]] - t_start
files <- list.files(out)
cli::cli_alert_success("Done in {round(secs)} s. {length(files)} files in {.path {out}}:")
cat(paste0("  ", files, collapse = "\n"), "\n")
