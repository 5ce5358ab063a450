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
