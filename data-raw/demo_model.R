# The pretrained demo model shipped in inst/extdata/demo_model.rds: the
# paper's 3-block CNN (32, 64, 128 channels; kernels 7, 5, 3 with stride 1 and
# max pooling 2/2, sized for GunPoint's length 150) trained on the GunPoint
# training set with cphap's own trainer under a fixed seed.
# Run from the package root with the package installed:
#   Rscript data-raw/demo_model.R
library(cphap)

data(gunpoint, package = "cphap")
set.seed(1)
t0 <- proc.time()[["elapsed"]]
m <- fit_model("cnn", gunpoint$train,
  epochs = 200, batch_size = 10, lr = 1e-3, keep_best = FALSE,
  kernels = c(7, 5, 3), strides = c(1, 1, 1), pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2),
  verbose = interactive()
)
secs <- proc.time()[["elapsed"]] - t0
acc <- mean(predict(m, gunpoint$test) == gunpoint$test$y)
cat(sprintf("GunPoint test accuracy %.4f after %d epochs (%.0f s)\n", acc, nrow(m$history), secs))

obj <- list(
  model = as.list(m), classes = m$classes, history = m$history,
  info = list(
    data = "gunpoint (train: 50 series; test: 150 series)",
    call = "fit_model(\"cnn\", gunpoint$train, epochs = 200, batch_size = 10, lr = 1e-3, keep_best = FALSE, kernels = c(7, 5, 3), strides = c(1, 1, 1), pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)) after set.seed(1)",
    test_accuracy = acc, cphap_version = as.character(utils::packageVersion("cphap"))
  )
)
dir.create("inst/extdata", showWarnings = FALSE, recursive = TRUE)
saveRDS(obj, "inst/extdata/demo_model.rds", compress = "xz", version = 2)
