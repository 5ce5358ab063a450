# write_onnx(): the protobuf encoding (checked with the small decoder in
# helper-onnx-write.R) and, with read_onnx(), the round trip.

# The graph of a written file: nodes (op types, inputs, outputs, attributes),
# initializers (decoded values) and the input / output shapes.
decode_onnx <- function(path) {
  top <- pb_fields(readBin(path, "raw", file.size(path)))
  g <- pb_fields(pb_get(top, 7)[[1]])
  nodes <- lapply(pb_get(g, 1), function(b) {
    f <- pb_fields(b)
    attrs <- lapply(pb_get(f, 5), pb_fields)
    names(attrs) <- vapply(attrs, pb_string, character(1), 1)
    list(op = pb_string(f, 4), inputs = pb_string(f, 1), output = pb_string(f, 2),
         attrs = attrs)
  })
  inits <- lapply(pb_get(g, 5), function(b) {
    f <- pb_fields(b)
    type <- unlist(pb_get(f, 2))
    raw_data <- pb_get(f, 9)[[1]]
    values <- switch(as.character(type),
      "1" = readBin(raw_data, "double", length(raw_data) / 4, size = 4L, endian = "little"),
      "11" = readBin(raw_data, "double", length(raw_data) / 8, size = 8L, endian = "little"),
      "7" = {
        w <- readBin(raw_data, "integer", length(raw_data) / 4, size = 4L, endian = "little")
        w[c(TRUE, FALSE)] %% 2^32 + 2^32 * w[c(FALSE, TRUE)]
      }
    )
    list(name = pb_string(f, 8), type = type, dims = unlist(pb_get(f, 1)), values = values)
  })
  names(inits) <- vapply(inits, function(t) t$name, character(1))
  shape_of <- function(vi) {
    f <- pb_fields(vi)
    tt <- pb_fields(pb_get(pb_fields(pb_get(f, 2)[[1]]), 1)[[1]])
    dims <- lapply(pb_get(pb_fields(pb_get(tt, 2)[[1]]), 1), pb_fields)
    list(name = pb_string(f, 1), elem = unlist(pb_get(tt, 1)),
         dims = vapply(dims, function(d) {
           if (d[[1]]$field == 2) rawToChar(d[[1]]$value) else format(d[[1]]$value)
         }, character(1)))
  }
  meta <- lapply(pb_get(top, 14), pb_fields)
  list(
    ir_version = unlist(pb_get(top, 1)), producer = pb_string(top, 2),
    opset = unlist(pb_get(pb_fields(pb_get(top, 8)[[1]]), 2)),
    nodes = nodes, inits = inits, input = shape_of(pb_get(g, 11)[[1]]),
    output = shape_of(pb_get(g, 12)[[1]]),
    meta = stats::setNames(vapply(meta, pb_string, character(1), 2),
                           vapply(meta, pb_string, character(1), 1))
  )
}

attr_value <- function(node, name) node$attrs[[name]][[2]]$value

small_net <- function() {
  set.seed(11)
  cphap_model(arch_cnn(c(2, 40), 3, channels = c(3, 4, 5), kernels = c(5, 3, 3),
                       strides = c(2, 1, 1), pool_sizes = c(2, 2, 1), pool_strides = c(2, 1, 1)),
              classes = c("a", "b\"q", "c"))
}

test_that("varints and int64 bytes have the protobuf encoding", {
  v <- function(x) as.integer(cphap:::ow_varint(x))
  expect_equal(v(0), 0L)
  expect_equal(v(1), 1L)
  expect_equal(v(127), 127L)
  expect_equal(v(128), c(0x80L, 0x01L))
  expect_equal(v(300), c(0xacL, 0x02L))
  expect_equal(v(2^32), c(0x80L, 0x80L, 0x80L, 0x80L, 0x10L))
  expect_equal(v(2^53), c(rep(0x80L, 7), 0x10L))
  expect_equal(v(-1), c(rep(0xffL, 9), 0x01L))
  expect_equal(v(-2), c(0xfeL, rep(0xffL, 8), 0x01L))
  b <- function(x) as.integer(cphap:::ow_int64_bytes(x))
  expect_equal(b(1), c(1L, rep(0L, 7)))
  expect_equal(b(-1), rep(255L, 8))
  expect_equal(b(2^40 + 258), c(2L, 1L, 0L, 0L, 0L, 1L, 0L, 0L))
  expect_equal(b(-2^32), c(0L, 0L, 0L, 0L, rep(255L, 4)))
  expect_equal(b(c(-3, 5)), c(253L, rep(255L, 7), 5L, rep(0L, 7)))
  # the test decoder reads back what the encoder writes
  key_val <- c(cphap:::ow_f_varint(3, 300), cphap:::ow_f_string(8, "ab"))
  f <- pb_fields(key_val)
  expect_equal(vapply(f, function(e) e$field, numeric(1)), c(3, 8))
  expect_equal(f[[1]]$value, 300)
  expect_equal(rawToChar(f[[2]]$value), "ab")
})

test_that("a written CNN has the expected graph, shapes, weights and metadata", {
  m <- small_net()
  path <- write_onnx(m, tempfile(fileext = ".onnx"), dtype = "float64", opset = 13)
  expect_true(file.exists(path))
  o <- decode_onnx(path)
  expect_equal(o$ir_version, 7)
  expect_equal(o$opset, 13)
  expect_equal(o$producer, "cphap")
  ops <- vapply(o$nodes, function(n) n$op, character(1))
  expect_equal(ops, c(
    "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Conv", "Relu",
    "Dropout", "Flatten", "Gemm", "Softmax"
  ))
  expect_equal(o$input$name, "input")
  expect_equal(o$input$elem, 11)
  expect_equal(o$input$dims, c("batch", "2", "40"))
  expect_equal(o$output$name, "output")
  expect_equal(o$output$dims, c("batch", "3"))
  expect_equal(o$nodes[[length(o$nodes)]]$output, "output")
  # every node reads tensors that exist before it (inputs, initializers, earlier outputs)
  known <- c("input", names(o$inits))
  for (n in o$nodes) {
    expect_true(all(n$inputs %in% known))
    expect_false(n$output %in% known)
    known <- c(known, n$output)
  }
  conv1 <- o$nodes[[1]]
  expect_equal(unlist(pb_get(conv1$attrs$strides, 8)), 2)
  expect_equal(unlist(pb_get(conv1$attrs$kernel_shape, 8)), 5)
  expect_equal(unlist(pb_get(conv1$attrs$pads, 8)), c(0, 0))
  # weights: row-major [out, in, k] and [out, in], exact in float64
  w1 <- o$inits[[conv1$inputs[2]]]
  expect_equal(w1$dims, c(3, 2, 5))
  expect_identical(w1$values, as.vector(aperm(m$layers[[1]]$weight, 3:1)))
  gemm <- o$nodes[[which(ops == "Gemm")]]
  wd <- o$inits[[gemm$inputs[2]]]
  expect_identical(wd$values, as.vector(t(m$layers[[8]]$weight)))
  expect_identical(o$inits[[gemm$inputs[3]]]$values, m$layers[[8]]$bias)
  drop <- o$nodes[[which(ops == "Dropout")]]
  expect_identical(o$inits[[drop$inputs[2]]]$values, 0.5)
  expect_equal(unname(o$meta["cphap.classes"]), "[\"a\",\"b\\\"q\",\"c\"]")
})

test_that("float32 files hold single-precision weights; opset 11 writes the dropout ratio as an attribute", {
  m <- small_net()
  o <- decode_onnx(write_onnx(m, tempfile(), opset = 11))
  expect_equal(o$ir_version, 6)
  expect_equal(o$input$elem, 1)
  w1 <- o$inits[[o$nodes[[1]]$inputs[2]]]
  expect_identical(w1$values, cphap:::ow_single(aperm(m$layers[[1]]$weight, 3:1)))
  expect_gt(max(abs(w1$values - as.vector(aperm(m$layers[[1]]$weight, 3:1)))), 0)
  drop <- Filter(function(n) n$op == "Dropout", o$nodes)[[1]]
  expect_length(drop$inputs, 1L)
  expect_equal(attr_value(drop, "ratio"), 0.5)
})

test_that("batch norm eps is exact in float64 files and single precision in float32", {
  m <- cphap_model(onnx_kitchen_sink())
  bn <- m$layers[[3]]
  o64 <- decode_onnx(write_onnx(m, tempfile(), dtype = "float64"))
  node <- Filter(function(n) n$op == "BatchNormalization", o64$nodes)[[1]]
  expect_equal(attr_value(node, "epsilon"), 0)
  expect_identical(o64$inits[[node$inputs[5]]]$values, bn$run_var + 1e-3)
  o32 <- decode_onnx(write_onnx(m, tempfile(), dtype = "float32"))
  node <- Filter(function(n) n$op == "BatchNormalization", o32$nodes)[[1]]
  expect_equal(attr_value(node, "epsilon"), cphap:::ow_single(1e-3))
  # an eps exact in single precision is kept as it is
  l <- onnx_kitchen_sink()
  l$layers[[3]]$eps <- 2^-10
  o <- decode_onnx(write_onnx(l, tempfile(), dtype = "float64"))
  node <- Filter(function(n) n$op == "BatchNormalization", o$nodes)[[1]]
  expect_equal(attr_value(node, "epsilon"), 2^-10)
  expect_identical(o$inits[[node$inputs[5]]]$values, l$layers[[3]]$run_var)
})

test_that("every layer type of the kitchen-sink network maps to its operators", {
  o <- decode_onnx(write_onnx(onnx_kitchen_sink(), tempfile(), dtype = "float64", opset = 17))
  expect_equal(o$ir_version, 8)
  ops <- vapply(o$nodes, function(n) n$op, character(1))
  expect_equal(ops, c(
    "Pad", "Conv", "BatchNormalization", "Softplus", "Identity", "Conv", "Relu",
    "Conv", "Tanh", "Add", "Add", "AveragePool", "Identity", "GlobalMaxPool",
    "Flatten", "Reshape", "Conv", "Sigmoid", "Flatten", "Gemm", "Softmax"
  ))
  pad <- o$nodes[[1]]
  expect_equal(o$inits[[pad$inputs[2]]]$values, c(0, 0, 2, 0, 0, 1))
  expect_equal(o$inits[[pad$inputs[3]]]$values, 0.5)
  expect_equal(rawToChar(attr_value(pad, "mode")), "constant")
  expect_equal(o$inits[[o$nodes[[16]]$inputs[2]]]$values, c(0, -1, 1))
  # the three-way Add sums the branches in order
  adds <- o$nodes[ops == "Add"]
  expect_equal(adds[[2]]$inputs[1], adds[[1]]$output)
})

test_that("class labels come back from the file's metadata", {
  m <- small_net()
  r <- read_onnx(write_onnx(m, tempfile(fileext = ".onnx")))
  expect_equal(r$classes, c("a", "b\"q", "c"))
})

test_that("class labels are a JSON array of strings, read back exactly", {
  labs <- c("a", "b\"q", "back\\slash", "tab\there", "line\nbreak", "", "caf\u00e9", "x,y")
  js <- cphap:::ow_json_strings(labs)
  expect_false(grepl("[[:cntrl:]]", js))
  expect_identical(cphap:::ow_parse_json_strings(js), enc2native(labs))
  expect_identical(cphap:::ow_parse_json_strings("[ \"p\" , \"\\u0041\"]"), c("p", "A"))
  expect_identical(cphap:::ow_parse_json_strings("[]"), character(0))
  expect_null(cphap:::ow_parse_json_strings("a,b"))
  expect_null(cphap:::ow_parse_json_strings("[\"a\" \"b\"]"))
  expect_null(cphap:::ow_read_classes(c(other = "x"), 2))
  expect_warning(r <- cphap:::ow_read_classes(c(cphap.classes = "[\"a\"]"), 2), "ignored")
  expect_null(r)
  expect_warning(cphap:::ow_read_classes(c(cphap.classes = "not json"), 1), "ignored")
})

test_that("write_onnx() checks its arguments", {
  m <- small_net()
  expect_error(write_onnx(m, NA_character_), "path")
  expect_error(write_onnx(m, tempfile(), opset = 10), "opset")
  expect_error(write_onnx(m, tempfile(), opset = 19), "opset")
  expect_error(write_onnx(m, tempfile(), dtype = "float16"), "dtype")
  expect_error(write_onnx(1:3, tempfile()), "model")
  expect_error(write_onnx(m, file.path(tempfile(), "no", "such", "dir.onnx")), "does not exist")
})

# --- round trip through read_onnx() -----------------------------------------

last_output <- function(m, x) cphap:::forward_nodes(m, x, length(m$layers))[[1]]

roundtrip_models <- function() {
  fx <- lapply(fixture_names(), read_fixture)
  ms <- lapply(fx, function(f) list(model = cphap_model(f$model), x = f$x))
  names(ms) <- vapply(fx, function(f) f$name, character(1))
  set.seed(5)
  ms$kitchen_sink <- list(model = cphap_model(onnx_kitchen_sink()),
                          x = array(rnorm(3 * 2 * 30), c(3, 2, 30)))
  ms
}

expect_roundtrip <- function(m, x, dtype, opset) {
  r <- read_onnx(write_onnx(m, tempfile(fileext = ".onnx"), dtype = dtype, opset = opset))
  expect_s3_class(r, "cphap_model")
  expect_equal(r$input_dim, m$input_dim)
  want <- last_output(cphap:::ow_as_written(m), x)
  got <- last_output(r, x)
  if (dtype == "float64") {
    # exact; a leaky-ReLU slope is a single-precision attribute in ONNX, so
    # the file holds the model with its slopes rounded (a reader may also
    # restore the double it came from)
    exact <- identical(as.vector(got), as.vector(want)) ||
      identical(as.vector(got), as.vector(last_output(m, x)))
    expect_true(exact)
  } else {
    expect_rel_equal(got, want, 1e-5)
  }
  invisible(r)
}

test_that("read_onnx(write_onnx(m)) reproduces every fixture network exactly (float64)", {
  for (nm in names(ms <- roundtrip_models())) {
    for (opset in c(11, 13, 17)) {
      expect_roundtrip(ms[[nm]]$model, ms[[nm]]$x, "float64", opset)
    }
    expect_roundtrip(ms[[nm]]$model, ms[[nm]]$x, "float32", 13)
  }
})

test_that("read_onnx(write_onnx(m)) reproduces a model trained by fit_model()", {
  set.seed(2)
  fit <- fit_model("cnn", gunpoint$train, epochs = 3, channels = c(4, 8, 8),
                   kernels = c(7, 5, 3), strides = c(1, 1, 1), pool_sizes = c(2, 2, 2),
                   pool_strides = c(2, 2, 2), progress = FALSE)
  r <- expect_roundtrip(fit, cphap:::as_input(gunpoint$test$x, fit), "float64", 13)
  expect_equal(r$classes, fit$classes)
  expect_identical(predict(r, gunpoint$test), predict(fit, gunpoint$test))
})

test_that("networks read from PyTorch's ONNX files survive write_onnx() and read_onnx() exactly", {
  files <- list.files(test_path("fixtures", "onnx"), "_float64_op13\\.onnx$", full.names = TRUE)
  expect_gte(length(files), 6L)
  set.seed(9)
  for (f in files) {
    m <- read_onnx(f)
    x <- array(rnorm(2 * prod(m$input_dim)), c(2L, m$input_dim))
    for (opset in c(11, 17)) {
      r <- expect_roundtrip(m, x, "float64", opset)
      expect_equal(interpretable_layers(r)$name, interpretable_layers(m)$name)
    }
  }
})
