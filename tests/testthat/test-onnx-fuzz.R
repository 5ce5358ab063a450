# Mutation fuzzing of read_onnx(): corrupted files give R errors or valid
# models, never a crash. tools/fuzz_onnx.R runs the same for longer.

test_that("20,000 mutated ONNX files give only R errors or valid models", {
  skip_on_cran()
  seeds <- onnx_fuzz_seeds()
  res <- onnx_fuzz(seeds, n = 20000L, seed = 42L)
  expect_equal(res$inputs, 20000L)
  expect_equal(res$errors + res$valid, res$inputs)
  expect_gt(res$errors, 1000L)
  expect_gt(res$valid, 100L)
  expect_lt(res$seconds, 60)
})
