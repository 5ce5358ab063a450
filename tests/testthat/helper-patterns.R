# Helpers for the pattern-framework tests.

# A small paper-style CNN (valid padding) on short series.
small_cnn <- function(L = 64, seed = 1) {
  set.seed(seed)
  cphap_model(arch_cnn(c(1, L), 3, kernels = c(5, 3, 3), strides = c(1, 1, 1),
                       pool_sizes = c(2, 2, 2), pool_strides = c(2, 2, 2)))
}

# The network truncated after `node`, on inputs of length `len`.
truncated_model <- function(model, node, len) {
  l <- as.list(model)
  layers <- l$layers[seq_len(node)]
  layers <- lapply(layers, function(ly) {
    ly$output_layers <- NULL
    ly
  })
  cphap_model(list(input_dim = c(model$input_dim[1], len), layers = layers))
}

# Cylinder-Bell-Funnel series (sim_cbf(), length 128) embedded at a random
# offset in a longer series of standard normal noise, so that the planted
# events cover about a quarter of the series; events shifted accordingly.
sim_cbf_embedded <- function(n, length = 256) {
  d <- sim_cbf(n, 128)
  off <- sample.int(length - 128 + 1, n, replace = TRUE) - 1L
  x <- matrix(rnorm(n * length), n, length)
  for (i in seq_len(n)) x[i, off[i] + seq_len(128)] <- d$x[i, ]
  ev <- d$events
  ev$start <- ev$start + off[ev$sample]
  ev$end <- ev$end + off[ev$sample]
  list(x = x, y = d$y, events = ev)
}

read_model_fixture <- function(name) {
  con <- gzfile(test_path("models", paste0(name, ".txt.gz")))
  on.exit(close(con))
  eval(parse(file = con, keep.source = FALSE))
}

# Share of period points inside the true event of their sample, and the
# share expected for a window of the same length placed uniformly at random
# in the same series.
event_precision <- function(periods, events, series_length) {
  a <- events$start[match(periods$sample, events$sample)]
  b <- events$end[match(periods$sample, events$sample)]
  len <- periods$end - periods$start + 1L
  ov <- pmax(0, pmin(periods$end, b) - pmax(periods$start, a) + 1)
  chance <- vapply(seq_len(nrow(periods)), function(i) {
    st <- seq_len(series_length - len[i] + 1L)
    mean(pmax(0, pmin(st + len[i] - 1L, b[i]) - pmax(st, a[i]) + 1)) / len[i]
  }, numeric(1))
  c(precision = sum(ov) / sum(len), chance = sum(chance * len) / sum(len))
}
