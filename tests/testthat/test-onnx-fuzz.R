# Mutation fuzzing of read_onnx(): corrupted files give R errors or valid
# models, never a crash. tools/fuzz_onnx.R runs the same for longer (and
# tools/fuzz_onnx_asan.c the C decoder under sanitizers).

test_that("20,000 mutated ONNX files give only R errors or valid models", {
  skip_on_cran()
  seeds <- onnx_fuzz_seeds()
  # two small PyTorch exports as well (channels last with transposes; dropout,
  # several activations and a ReduceMax)
  for (f in c("channels_last_float32_op13.onnx", "acts_float32_op11.onnx")) {
    path <- test_path("fixtures", "onnx", f)
    seeds[[f]] <- readBin(path, "raw", file.size(path))
  }
  res <- onnx_fuzz(seeds, n = 20000L, seed = 42L)
  expect_equal(res$inputs, 20000L)
  expect_equal(res$errors + res$valid, res$inputs)
  expect_equal(res$warnings, 0L)
  expect_gt(res$errors, 1000L)
  expect_gt(res$valid, 100L)
  expect_lt(res$seconds, 60) # CPU seconds (about 15 measured)
})
