# Check the PyTorch reference fixtures written by tools/make_fixtures.py.
#
#   Rscript tools/check_fixtures.R [fixture directory]
#
# Base R only. For every fixture it checks
#  * the wiring: input_layers / output_layers agree with each other, inputs
#    come first, input_nodes / output_nodes match;
#  * shapes: every layer_outputs entry has n rows, parameter dims match the
#    shapes flowing in, output lengths follow the conv / pooling formulas;
#  * values: each layer recomputed here in plain R from the fixture's own input
#    to that layer agrees with the recorded output, and a full forward pass in
#    R agrees with `output` (relative tolerance 1e-10).
# It stops with an error at the first failure.

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args)) args[[1]] else file.path("tests", "testthat", "fixtures")
files <- sort(list.files(dir, pattern = "\\.txt\\.gz$", full.names = TRUE))
if (!length(files)) stop("no fixtures found in ", dir)

# parse() reads from the connection but does not destroy it; close it here so
# that R does not warn "closing unused connection" later.
read_fixture <- function(path) {
  con <- gzfile(path)
  on.exit(close(con))
  eval(parse(file = con, keep.source = FALSE))
}

act <- function(x, name) {
  switch(name,
    linear = x,
    relu = pmax(x, 0),
    leaky_relu = ifelse(x > 0, x, 0.01 * x),
    tanh = tanh(x),
    sigmoid = , logistic = 1 / (1 + exp(-x)),
    softplus = pmax(x, 0) + log1p(exp(-abs(x))),
    softmax = { e <- exp(x - apply(x, 1, max)); e / rowSums(e) },
    stop("unknown activation ", name))
}

# x: [n, C, L] -> [n, Cout, Lout]
conv1d <- function(x, w, b, stride, pad, dil) {
  n <- dim(x)[1]; C <- dim(x)[2]; L <- dim(x)[3]
  if (length(pad) == 1) pad <- c(pad, pad)
  Lp <- L + sum(pad)
  xp <- array(0, c(n, C, Lp))
  xp[, , pad[1] + seq_len(L)] <- x
  Co <- dim(w)[1]; K <- dim(w)[3]
  Lo <- (Lp - dil * (K - 1) - 1) %/% stride + 1
  starts <- (seq_len(Lo) - 1) * stride + 1
  acc <- matrix(0, Co, n * Lo)
  for (k in seq_len(K)) {
    xk <- aperm(xp[, , starts + (k - 1) * dil, drop = FALSE], c(2, 1, 3))
    acc <- acc + matrix(w[, , k], Co, C) %*% matrix(xk, C)
  }
  out <- aperm(array(acc, c(Co, n, Lo)), c(2, 1, 3))
  sweep(out, 2, b, "+")
}

pool1d <- function(x, k, s, fun) {
  Lo <- (dim(x)[3] - k) %/% s + 1
  starts <- (seq_len(Lo) - 1) * s + 1
  Reduce(fun, lapply(seq_len(k) - 1, function(j) x[, , starts + j, drop = FALSE]))
}

layer_forward <- function(ly, ins) {
  x <- ins[[1]]
  switch(ly$type,
    Conv1D = act(conv1d(x, ly$weight, ly$bias, ly$stride, ly$padding, ly$dilation),
                 ly$activation_name),
    Dense = act(sweep(x %*% t(ly$weight), 2, ly$bias, "+"), ly$activation_name),
    MaxPooling1D = pool1d(x, ly$kernel_size, ly$strides, pmax),
    AveragePooling1D = pool1d(x, ly$kernel_size, ly$strides, `+`) / ly$kernel_size,
    GlobalPooling = apply(x, c(1, 2), if (ly$method == "max") max else mean),
    BatchNorm = {
      y <- sweep(x, 2, ly$run_mean, "-")
      y <- sweep(y, 2, ly$gamma / sqrt(ly$run_var + ly$eps), "*")
      sweep(y, 2, ly$beta, "+")
    },
    Flatten = matrix(aperm(x, c(1, 3, 2)), dim(x)[1]),  # channel-major: c * L + t
    Activation = act(x, ly$act_name),
    Add = Reduce(`+`, ins),
    Skipping = x,
    Padding = {
      d <- dim(x)
      y <- array(ly$value, c(d[1], d[2], d[3] + sum(ly$padding)))
      y[, , ly$padding[1] + seq_len(d[3])] <- x
      y
    },
    stop("unknown layer type ", ly$type))
}

rel_err <- function(a, b) max(abs(a - b)) / max(max(abs(b)), 1e-300)

check <- function(cond, ...) if (!isTRUE(cond)) stop(..., call. = FALSE)

check_fixture <- function(fx, tol = 1e-10) {
  m <- fx$model; lay <- m$layers; nl <- length(lay)
  nm <- fx$name
  n <- dim(fx$x)[1]
  check(identical(as.integer(dim(fx$x)[-1]), as.integer(m$input_dim)), nm, ": x vs input_dim")
  check(length(fx$layer_outputs) == nl, nm, ": one layer output per layer")
  check(is.matrix(fx$output) && nrow(fx$output) == n, nm, ": output is n x k")

  # wiring
  for (i in seq_len(nl)) {
    ly <- lay[[i]]
    check(all(ly$input_layers >= 0 & ly$input_layers < i), nm, ": layer ", i, " inputs come first")
    for (j in ly$input_layers[ly$input_layers > 0])
      check(i %in% lay[[j]]$output_layers, nm, ": layer ", j, " -> ", i, " missing in output_layers")
    for (j in ly$output_layers[ly$output_layers > 0])
      check(i %in% lay[[j]]$input_layers, nm, ": layer ", i, " -> ", j, " missing in input_layers")
  }
  check(setequal(m$input_nodes, which(vapply(lay, function(l) 0L %in% l$input_layers, NA))),
        nm, ": input_nodes")
  check(setequal(m$output_nodes, which(vapply(lay, function(l) -1L %in% l$output_layers, NA))),
        nm, ": output_nodes")

  # shapes and per-layer values
  get_in <- function(j) if (j == 0) fx$x else fx$layer_outputs[[j]]
  worst <- 0
  for (i in seq_len(nl)) {
    ly <- lay[[i]]
    ins <- lapply(ly$input_layers, get_in)
    y <- fx$layer_outputs[[i]]
    d_in <- dim(ins[[1]]); d <- dim(y)
    check(d[1] == n, nm, ": layer ", i, " output has ", d[1], " rows, not ", n)
    where <- paste0(nm, ": layer ", i, " (", ly$type, ")")
    switch(ly$type,
      Conv1D = {
        w <- ly$weight; K <- dim(w)[3]
        pad <- if (length(ly$padding) == 1) rep(ly$padding, 2) else ly$padding
        check(length(dim(w)) == 3 && dim(w)[2] == d_in[2], where, ": weight in-channels")
        check(length(ly$bias) == dim(w)[1] && d[2] == dim(w)[1], where, ": out-channels")
        check(d[3] == (d_in[3] + sum(pad) - ly$dilation * (K - 1) - 1) %/% ly$stride + 1,
              where, ": output length")
      },
      Dense = {
        check(length(d) == 2 && ncol(ly$weight) == d_in[2] && nrow(ly$weight) == d[2] &&
              length(ly$bias) == d[2], where, ": weight dims")
      },
      MaxPooling1D = , AveragePooling1D = {
        check(d[2] == d_in[2] && d[3] == (d_in[3] - ly$kernel_size) %/% ly$strides + 1,
              where, ": output shape")
      },
      BatchNorm = {
        k <- ly$num_features
        check(d_in[2] == k && length(ly$gamma) == k && length(ly$beta) == k &&
              length(ly$run_mean) == k && length(ly$run_var) == k && all(ly$run_var > 0),
              where, ": parameters")
      },
      GlobalPooling = check(length(d) == 2 && d[2] == d_in[2], where, ": output shape"),
      Flatten = check(length(d) == 2 && d[2] == prod(d_in[-1]), where, ": output shape"),
      Add = check(all(vapply(ins, function(z) identical(dim(z), d), NA)), where, ": shapes"),
      Activation = , Skipping = check(identical(d, d_in), where, ": shape"),
      Padding = check(all(d == d_in + c(0, 0, sum(ly$padding))), where, ": shape")
    )
    e <- rel_err(layer_forward(ly, ins), y)
    check(e <= tol, where, ": recomputed in R, relative error ", signif(e, 3))
    worst <- max(worst, e)
  }

  # full forward in R from x alone
  vals <- vector("list", nl)
  for (i in seq_len(nl)) {
    ins <- lapply(lay[[i]]$input_layers, function(j) if (j == 0) fx$x else vals[[j]])
    vals[[i]] <- layer_forward(lay[[i]], ins)
  }
  e_full <- rel_err(vals[[m$output_nodes]], fx$output)
  check(e_full <= tol, nm, ": full forward in R, relative error ", signif(e_full, 3))
  check(rel_err(fx$layer_outputs[[m$output_nodes]], fx$output) == 0, nm,
        ": output differs from the last layer output")
  c(layers = nl, n = n, worst_layer_rel_err = worst, full_rel_err = e_full)
}

for (f in files) {
  fx <- read_fixture(f)
  r <- check_fixture(fx)
  cat(sprintf("%-10s ok: %2d layers, n = %d, max rel. error per layer %.2g, full forward %.2g (%s)\n",
              fx$name, r[["layers"]], r[["n"]], r[["worst_layer_rel_err"]],
              r[["full_rel_err"]], basename(f)))
}
