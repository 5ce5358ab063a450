# read_onnx() on real PyTorch exports (tools/make_onnx_fixtures.py): six
# networks in float32 and float64 at opsets 11, 13 and 17. Outputs and every
# interpretable layer's activations equal PyTorch's.

read_onnx_fixture <- function(name) {
  path <- test_path("fixtures", "onnx", paste0(name, ".txt.gz"))
  con <- gzfile(path)
  on.exit(close(con))
  eval(parse(file = con, keep.source = FALSE))
}

onnx_fixture_names <- function() {
  f <- list.files(test_path("fixtures", "onnx"), "\\.txt\\.gz$")
  sub("\\.txt\\.gz$", "", f)
}

test_that("PyTorch exports: outputs and interpretable activations match (1e-10 float64, 1e-5 float32)", {
  nms <- onnx_fixture_names()
  nets <- c("paper_cnn", "fcn", "resnet", "strided", "acts", "channels_last")
  expect_setequal(nms, c(paste0(nets, "_float32"), paste0(nets, "_float64")))
  for (nm in nms) {
    fx <- read_onnx_fixture(nm)
    tol <- if (fx$dtype == "float64") 1e-10 else 1e-5
    expect_setequal(names(fx$files), c("op11", "op13", "op17"))
    for (f in fx$files) {
      m <- read_onnx(test_path("fixtures", "onnx", f))
      expect_equal(m$input_dim, as.integer(fx$input_dim), info = f)
      expect_equal(m$onnx$channels_last, fx$input_layout == "channels_last", info = f)
      out <- predict(m, fx$x, type = "output")
      expect_rel_equal(out, fx$output, tol)
      ip <- interpretable_layers(m)
      expect_true(all(names(fx$activations) %in% ip$name), info = f)
      acts <- activations(m, fx$x, layers = names(fx$activations), format = "array")
      for (a in names(fx$activations)) {
        expect_equal(dim(acts[[a]]), dim(fx$activations[[a]]), info = paste(f, a))
        expect_rel_equal(acts[[a]], fx$activations[[a]], tol)
      }
      if (!is.null(fx$reference64)) {
        # the float32 file evaluated in double precision: what cphap computes
        expect_rel_equal(out, fx$reference64$output, 1e-12)
        for (a in names(fx$activations)) {
          expect_rel_equal(acts[[a]], fx$reference64$activations[[a]], 1e-12)
        }
      }
      p <- predict(m, fx$x, type = "prob")
      if (fx$info$output_activation == "softmax") {
        expect_identical(p, out)
      } else {
        expect_equal(p, exp(out) / rowSums(exp(out)), tolerance = 1e-12)
      }
      expect_equal(as.integer(predict(m, fx$x)), unname(max.col(out, "first")))
      if (!is.null(fx$info$dropout_rates)) {
        rates <- vapply(Filter(function(l) l$type == "Skipping", m$layers), function(l) l$rate, 1)
        expect_equal(rates, as.vector(fx$info$dropout_rates), tolerance = 1e-7, info = f)
      }
    }
  }
})

test_that("the three opsets of a network read to the same model", {
  for (nm in c("resnet_float64", "strided_float32", "channels_last_float64")) {
    fx <- read_onnx_fixture(nm)
    ms <- lapply(fx$files, function(f) read_onnx(test_path("fixtures", "onnx", f)))
    strip <- function(m) lapply(m$layers, function(l) l[setdiff(names(l), "name")])
    expect_equal(strip(ms$op11), strip(ms$op13))
    expect_equal(strip(ms$op11), strip(ms$op17))
  }
})
