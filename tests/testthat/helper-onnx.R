# A small protobuf / ONNX encoder for tests: builds ONNX files byte by byte
# so every operator, attribute and error path can be tested without Python.

# The wire-format primitives are the package's own (the encoder of
# write_onnx(), whose byte sequences test-onnx-write.R checks); the rest of
# this file builds whole models, valid or broken, from them.
pb_varint <- cphap:::ow_varint
pb_key <- cphap:::ow_key
pb_int <- cphap:::ow_f_varint
pb_bytes <- cphap:::ow_f_bytes
pb_str <- cphap:::ow_f_string
pb_f32 <- function(field, v) c(pb_key(field, 5), writeBin(as.double(v), raw(), size = 4, endian = "little"))
pb_msgs <- function(field, msgs) unlist(lapply(msgs, function(m) pb_bytes(field, m)))
pb_packed_ints <- function(field, v) pb_bytes(field, unlist(lapply(v, pb_varint)))
pb_packed_f32 <- function(field, v) pb_bytes(field, writeBin(as.double(v), raw(), size = 4, endian = "little"))
pb_packed_f64 <- function(field, v) pb_bytes(field, writeBin(as.double(v), raw(), size = 8, endian = "little"))

# float16 bits of normal numbers (and zero), rounded to nearest.
f16_bits <- function(x) {
  vapply(x, function(v) {
    if (v == 0) {
      return(0)
    }
    s <- if (v < 0) 32768 else 0
    a <- abs(v)
    e <- floor(log2(a))
    m <- round((a / 2^e - 1) * 1024)
    if (m == 1024) {
      m <- 0
      e <- e + 1
    }
    s + (e + 15) * 1024 + m
  }, numeric(1))
}

as_f32 <- function(x) readBin(writeBin(as.double(x), raw(), size = 4), "double", length(x), size = 4)

data_types <- c(float = 1, int32 = 6, int64 = 7, float16 = 10, double = 11)

# A TensorProto. values in C order (row-major) of dims.
onnx_tensor <- function(name, values, dims = length(values), type = "float", raw = TRUE,
                        extra = raw()) {
  dt <- data_types[[type]]
  body <- c(
    if (length(dims)) pb_packed_ints(1, dims), pb_int(2, dt), pb_str(8, name)
  )
  data <- if (raw) {
    bytes <- switch(type,
      float = writeBin(as.double(values), raw(), size = 4, endian = "little"),
      double = writeBin(as.double(values), raw(), size = 8, endian = "little"),
      float16 = writeBin(as.integer(f16_bits(values)), raw(), size = 2, endian = "little"),
      int32 = writeBin(as.integer(values), raw(), size = 4, endian = "little"),
      int64 = unlist(lapply(values, function(v) {
        hi <- floor(v / 2^32)
        lo <- v - hi * 2^32
        if (hi < 0) hi <- hi + 2^32
        as.raw(c(floor(lo / 256^(0:3)) %% 256, floor(hi / 256^(0:3)) %% 256))
      }))
    )
    pb_bytes(9, bytes)
  } else {
    switch(type,
      float = pb_packed_f32(4, values),
      double = pb_packed_f64(10, values),
      float16 = pb_packed_ints(5, f16_bits(values)),
      int32 = pb_packed_ints(5, values),
      int64 = pb_packed_ints(7, values)
    )
  }
  c(body, if (length(values)) data, extra)
}

# Attribute values: a_int(3), a_ints(c(1, 2)), a_float(0.2), a_floats(...),
# a_str("SAME_UPPER"), a_tensor(onnx_tensor(...)).
a_int <- function(v) list(type = 2, v = v)
a_ints <- function(v) list(type = 7, v = v)
a_float <- function(v) list(type = 1, v = v)
a_floats <- function(v) list(type = 6, v = v)
a_str <- function(v) list(type = 3, v = v)
a_tensor <- function(v) list(type = 4, v = v)

onnx_attr <- function(name, a) {
  body <- switch(as.character(a$type),
    "1" = pb_f32(2, a$v),
    "2" = pb_int(3, a$v),
    "3" = pb_str(4, a$v),
    "4" = pb_bytes(5, a$v),
    "6" = pb_packed_f32(7, a$v),
    "7" = pb_packed_ints(8, a$v)
  )
  c(pb_str(1, name), body, pb_int(20, a$type))
}

onnx_node <- function(op, inputs, outputs, attrs = list(), name = "", domain = NULL) {
  c(
    unlist(lapply(inputs, function(s) pb_str(1, s))),
    unlist(lapply(outputs, function(s) pb_str(2, s))),
    if (nzchar(name)) pb_str(3, name), pb_str(4, op),
    unlist(lapply(names(attrs), function(n) pb_bytes(5, onnx_attr(n, attrs[[n]])))),
    if (!is.null(domain)) pb_str(7, domain)
  )
}

# ValueInfoProto; dims numeric (fixed) or character (symbolic).
onnx_value <- function(name, dims, elem_type = 1) {
  dim_msgs <- lapply(dims, function(d) {
    if (is.character(d)) pb_str(2, d) else pb_int(1, d)
  })
  shape <- pb_msgs(1, dim_msgs)
  tensor_type <- c(pb_int(1, elem_type), pb_bytes(2, shape))
  c(pb_str(1, name), pb_bytes(2, pb_bytes(1, tensor_type)))
}

onnx_graph <- function(nodes, inputs, outputs, inits = list(), name = "g") {
  c(
    pb_msgs(1, nodes), pb_str(2, name), pb_msgs(5, inits),
    pb_msgs(11, inputs), pb_msgs(12, outputs)
  )
}

onnx_model <- function(graph, opset = 13, ir = 8, producer = "cphap-tests") {
  c(
    pb_int(1, ir), pb_str(2, producer), pb_str(3, "0.1"),
    pb_bytes(7, graph), pb_bytes(8, c(pb_str(1, ""), pb_int(2, opset)))
  )
}

# A whole model from nodes and named initializers (R arrays in the ONNX
# dims order, or plain vectors); input [batch, dims...].
onnx_build <- function(nodes, inits = list(), input_dims = c(1, 20), opset = 13,
                       type = "double", output = "y", input = "x", raw = TRUE) {
  tens <- lapply(names(inits), function(n) {
    v <- inits[[n]]
    if (inherits(v, "onnx_int64")) {
      return(onnx_tensor(n, as.numeric(v), attr(v, "dims"), "int64", raw = raw))
    }
    d <- if (is.null(dim(v))) length(v) else dim(v)
    vals <- if (is.null(dim(v))) as.vector(v) else as.vector(aperm(v))
    onnx_tensor(n, vals, d, type, raw = raw)
  })
  g <- onnx_graph(nodes,
    inputs = list(onnx_value(input, c(list("batch"), as.list(input_dims)))),
    outputs = list(onnx_value(output, list("batch"))), inits = tens
  )
  onnx_model(g, opset = opset)
}

i64 <- function(v, dims = length(v)) structure(as.numeric(v), dims = dims, class = "onnx_int64")

# ---- mutation fuzzing (test-onnx-fuzz.R and tools/fuzz_onnx.R) ----------------

# Seed files: crafted networks covering most operators, plus the committed
# fixture files when present.
onnx_fuzz_seeds <- function(fixture_dir = NULL) {
  set.seed(99)
  W <- array(rnorm(4 * 2 * 3), c(4, 2, 3))
  D <- matrix(rnorm(3 * 4), 3, 4)
  s <- list()
  s$cnn <- onnx_build(list(
    onnx_node("Conv", c("x", "W", "b"), "c", list(kernel_shape = a_ints(3), pads = a_ints(c(1, 1)), strides = a_ints(1))),
    onnx_node("BatchNormalization", c("c", "g", "be", "mu", "v"), "bn"),
    onnx_node("Relu", "bn", "r"),
    onnx_node("MaxPool", "r", "p", list(kernel_shape = a_ints(2), strides = a_ints(2))),
    onnx_node("Dropout", c("p", "ratio"), "d"),
    onnx_node("GlobalAveragePool", "d", "gp"),
    onnx_node("Shape", "gp", "sh"),
    onnx_node("Gather", c("sh", "zero"), "n", list(axis = a_int(0))),
    onnx_node("Unsqueeze", c("n", "zero1"), "n1"),
    onnx_node("Concat", c("n1", "m1"), "tgt", list(axis = a_int(0))),
    onnx_node("Reshape", c("gp", "tgt"), "f"),
    onnx_node("Gemm", c("f", "D", "bd"), "z", list(transB = a_int(1))),
    onnx_node("Softmax", "z", "y", list(axis = a_int(-1)))
  ), list(
    W = W, b = rnorm(4), g = runif(4), be = rnorm(4), mu = rnorm(4), v = runif(4),
    ratio = 0.2, zero = i64(0, integer(0)), zero1 = i64(0), m1 = i64(-1), D = D, bd = rnorm(3)
  ), c(2, 16), type = "float")
  s$res <- onnx_build(list(
    onnx_node("Transpose", "x", "xt", list(perm = a_ints(c(0, 2, 1)))),
    onnx_node("Pad", c("xt", "pads"), "xp"),
    onnx_node("Conv", c("xp", "W2"), "c", list(auto_pad = a_str("SAME_UPPER"), dilations = a_ints(2))),
    onnx_node("LeakyRelu", "c", "r", list(alpha = a_float(0.1))),
    onnx_node("Add", c("r", "xp"), "a"),
    onnx_node("AveragePool", "a", "p", list(kernel_shape = a_ints(3), strides = a_ints(2))),
    onnx_node("ReduceMax", "p", "m", list(axes = a_ints(-1), keepdims = a_int(0))),
    onnx_node("MatMul", c("m", "Dt"), "z"),
    onnx_node("Add", c("z", "bd"), "y")
  ), list(
    pads = i64(c(0, 0, 1, 0, 0, 1)), W2 = array(rnorm(2 * 2 * 3), c(2, 2, 3)),
    Dt = matrix(rnorm(2 * 3), 2, 3), bd = rnorm(3)
  ), c(12, 2), type = "float16", raw = FALSE, opset = 11)
  s$mlp <- onnx_build(list(
    onnx_node("Flatten", "x", "f"),
    onnx_node("Gemm", c("f", "D"), "z", list(alpha = a_float(0.5))),
    onnx_node("Tanh", "z", "t"),
    onnx_node("Sigmoid", "t", "s"),
    onnx_node("Softplus", "s", "y")
  ), list(D = matrix(rnorm(16 * 3), 16, 3)), list(1, "length"), type = "double", raw = FALSE)
  if (!is.null(fixture_dir) && dir.exists(fixture_dir)) {
    files <- list.files(fixture_dir, "\\.onnx$", full.names = TRUE)
    for (f in files) s[[basename(f)]] <- readBin(f, "raw", file.size(f))
  }
  s
}

# One random mutation of b.
onnx_mutate <- function(b, seeds) {
  n <- length(b)
  if (n < 2L) {
    return(c(b, as.raw(sample(0:255, 8L, TRUE))))
  }
  kind <- sample.int(7L, 1L)
  pos <- sample.int(n, 1L)
  switch(kind,
    { # bit flips
      for (k in seq_len(sample.int(4L, 1L))) {
        p <- sample.int(n, 1L)
        b[p] <- xor(b[p], as.raw(2^sample(0:7, 1L)))
      }
      b
    },
    b[seq_len(pos - 1L)], # truncation
    { # a length field (after a key of wire type 2) changed
      near <- sample.int(n - 1L, min(n - 1L, 32L))
      cand <- near[bitwAnd(as.integer(b[near]), 7L) == 2L] + 1L
      p <- if (length(cand)) cand[1] else pos
      v <- as.integer(b[p]) + sample(c(-3:-1, 1:3, 64, 127), 1L)
      b[p] <- as.raw(v %% 256L)
      b
    },
    append(b, as.raw(sample(0:255, sample.int(8L, 1L), TRUE)), after = pos - 1L), # insertion
    b[-seq(pos, min(n, pos + sample.int(8L, 1L) - 1L))], # deletion
    { # interesting bytes
      b[pos] <- as.raw(sample(c(0, 1, 0x7f, 0x80, 0xff), 1L))
      b
    },
    { # splice with another seed
      o <- seeds[[sample.int(length(seeds), 1L)]]
      c(b[seq_len(pos)], o[seq(sample.int(length(o), 1L), length(o))])
    }
  )
}

# Mutate seeds n times; count R errors and valid models (a valid model must
# also run). Anything else (a crash) never returns.
onnx_fuzz <- function(seeds, n, seed = 1L, input_length = 16L) {
  set.seed(seed)
  errors <- 0L
  valid <- 0L
  warned <- 0L
  cpu <- function() sum(proc.time()[c("user.self", "sys.self")])
  t0 <- cpu()
  for (i in seq_len(n)) {
    b <- seeds[[sample.int(length(seeds), 1L)]]
    for (k in seq_len(sample.int(3L, 1L))) b <- onnx_mutate(b, seeds)
    ok <- withCallingHandlers(
      tryCatch(
        {
          m <- read_onnx(b, input_length = input_length)
          stopifnot(inherits(m, "cphap_model"))
          x <- array(0.5, c(1L, m$input_dim))
          p <- predict(m, x, type = "output")
          stopifnot(nrow(p) == 1L)
          TRUE
        },
        error = function(e) FALSE
      ),
      warning = function(w) {
        warned <<- warned + 1L
        invokeRestart("muffleWarning")
      }
    )
    if (ok) valid <- valid + 1L else errors <- errors + 1L
  }
  list(
    inputs = as.integer(n), errors = errors, valid = valid, warnings = warned,
    # CPU seconds of this process: the budget holds whatever else the
    # machine is running.
    seconds = cpu() - t0
  )
}
