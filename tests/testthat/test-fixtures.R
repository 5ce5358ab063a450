# Forward outputs and every layer's output against float64 PyTorch fixtures
# made by tools/make_fixtures.py.

test_that("every fixture network matches PyTorch to 1e-8 relative on every layer", {
  nms <- fixture_names()
  expect_true(all(c("paper_cnn", "fcn", "resnet", "odd", "valid_cnn") %in% nms))
  for (nm in nms) {
    fx <- read_fixture(nm)
    m <- cphap_model(fx$model)
    got <- cphap:::forward_nodes(m, fx$x, seq_along(m$layers))
    expect_equal(length(got), length(fx$layer_outputs))
    for (j in seq_along(got)) {
      expect_rel_equal(got[[j]], fx$layer_outputs[[j]], 1e-8)
    }
    expect_rel_equal(predict(m, fx$x, type = "output"), fx$output, 1e-8)
  }
})

test_that("interpretable layers of the fixture networks are the block outputs", {
  m <- cphap_model(read_fixture("paper_cnn")$model)
  expect_equal(interpretable_layers(m)$node, c(2L, 4L, 6L))
  r <- cphap_model(read_fixture("resnet")$model)
  ip <- interpretable_layers(r)
  expect_true(all(c("res1", "res2") %in% ip$name))
  types <- vapply(r$layers[ip$node], function(l) l$type, character(1))
  expect_true(all(types == "Activation"))
  a <- activations(r, read_fixture("resnet")$x, layers = "res2", format = "array")$res2
  expect_rel_equal(a, read_fixture("resnet")$layer_outputs[[ip$node[ip$name == "res2"]]], 1e-8)
})
