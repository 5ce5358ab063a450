# Relevance (LRP) against float64 PyTorch fixtures made by
# tools/make_relevance_fixtures.py, and its invariants.

rel_array <- function(res, n, C, L) {
  aperm(array(res$mean, c(L, C, n)), 3:1)
}

case_rules <- function(r) {
  list(
    preset = "default", first = r$first, conv = r$conv, dense = r$dense,
    output = r$output, batchnorm = r$batchnorm, maxpool = r$maxpool,
    global_maxpool = r$global_maxpool, epsilon = r$epsilon, alpha = r$alpha, beta = r$beta
  )
}

run_case <- function(m, x, case) {
  ip <- interpretable_layers(m)
  sd <- case$seed
  rules <- case_rules(case$rules)
  lname <- function(node) {
    expect_true(node %in% ip$node)
    ip$name[ip$node == node]
  }
  # the reference seeds the raw logit, also where a predicted class's logit
  # is negative (which warns)
  quiet <- function(expr) {
    withCallingHandlers(expr, cphap_negative_logit = function(w) invokeRestart("muffleWarning"))
  }
  switch(sd$type,
    all = unit_relevance(m, x, lname(sd$node), channels = sd$channel, seed = "all",
      rules = rules, passes = 1, rate = 0, progress = FALSE
    ),
    node = unit_relevance(m, x, lname(sd$node), channels = sd$channel, seed = "node",
      node = sd$position, rules = rules, passes = 1, rate = 0, progress = FALSE
    ),
    class = quiet(lrp(m, x, class = sd$class, rules = rules)),
    class_filter = quiet(unit_relevance(m, x, lname(sd$node), channels = sd$channel,
      seed = "class", class = sd$class, rules = rules, passes = 1, rate = 0,
      progress = FALSE
    ))
  )
}

test_that("relevance matches PyTorch (1e-10 relative) for every rule, layer type and seed", {
  # dropout_cnn, resnet_skip and dropout_mlp read the input through dropout
  # (and a linear activation, padding or flattening): their first layers
  # take the first-layer rule
  nets <- c(
    "valid_cnn", "odd", "fcn", "resnet", "paper_cnn", "dropout_cnn", "resnet_skip",
    "dropout_mlp"
  )
  n_cases <- 0
  # the rules' convolutions on the pairs with relevance, densely, or chosen
  # per node (the default): all three must match
  kernels <- c("auto", "pairs", "dense")
  for (kn in kernels) for (nm in nets) {
    withr::local_options(cphap.lrp_kernels = kn)
    fx <- read_fixture(nm)
    rf <- read_fixture(file.path("relevance", nm))
    m <- cphap_model(fx$model)
    x <- fx$x[seq_len(rf$n), , , drop = FALSE]
    expect_rel_equal(predict(m, x, type = "output"), rf$output, 1e-12)
    for (case in rf$cases) {
      res <- run_case(m, x, case)
      got <- rel_array(res, dim(x)[1], dim(x)[2], dim(x)[3])
      err <- max(abs(got - case$relevance)) / max(abs(case$relevance), 1e-300)
      expect_true(max(abs(case$relevance)) > 0, label = paste(nm, case$composite, case$seed$type, "non-trivial"))
      expect_lte(err, 1e-10, label = paste(kn, nm, case$composite, case$seed$type))
      n_cases <- n_cases + 1
    }
  }
  expect_equal(n_cases, length(kernels) * (6 * 24 + 12 + 6))
})

test_that("the kernel choice does not change Monte-Carlo relevance beyond rounding", {
  # seeded: the weights must not depend on how much randomness earlier tests used
  set.seed(2)
  m <- cphap_model(arch_cnn(c(1, 200), 3, channels = c(6, 8, 10), kernels = c(7, 5, 3)))
  set.seed(5)
  x <- matrix(rnorm(2 * 200), 2)
  run <- function(kn) {
    withr::local_options(cphap.lrp_kernels = kn)
    set.seed(9)
    unit_relevance(m, x, "conv3", channels = 2, passes = 30, rate = 0.5, progress = FALSE)
  }
  a <- run("auto")
  expect_gt(max(a$sd), 0)
  for (kn in c("pairs", "dense")) {
    b <- run(kn)
    expect_rel_equal(b$mean, a$mean, 1e-10)
    expect_rel_equal(b$sd, a$sd, 1e-8)
  }
  expect_error(run("fast"), "cphap.lrp_kernels")
})

# A ReLU / max-pooling network with zero biases and a linear output.
relu_net <- function(bias = 0) {
  set.seed(11)
  net <- arch_cnn(c(2, 60), 3, channels = c(4, 5, 3), kernels = c(5, 3, 3),
    strides = c(1, 1, 1), pool_sizes = c(2, 3, 2), pool_strides = c(2, 2, 1)
  )
  for (i in seq_along(net$layers)) {
    if (!is.null(net$layers[[i]]$bias)) net$layers[[i]]$bias[] <- bias
  }
  net$layers[[length(net$layers)]]$activation_name <- "linear"
  cphap_model(net)
}

test_that("epsilon -> 0 with zero biases equals gradient x input (finite differences)", {
  m <- relu_net()
  set.seed(3)
  x <- array(rnorm(2 * 60), c(1, 2, 60))
  cls <- 2
  r <- lrp(m, x, class = cls, rules = lrp_rules("epsilon", epsilon = 0))
  got <- rel_array(r, 1, 2, 60)
  h <- 1e-5
  gx <- array(0, dim(x))
  for (c in 1:2) {
    for (t in 1:60) {
      xp <- x
      xm <- x
      xp[1, c, t] <- xp[1, c, t] + h
      xm[1, c, t] <- xm[1, c, t] - h
      gx[1, c, t] <- (predict(m, xp, "output")[1, cls] - predict(m, xm, "output")[1, cls]) / (2 * h)
    }
  }
  expect_rel_equal(got, gx * x, 1e-6)
  # the seeded logit is conserved
  expect_equal(sum(got), unname(predict(m, x, "output")[1, cls]), tolerance = 1e-10)
})

test_that("z+ on non-negative input with zero biases conserves relevance", {
  m <- relu_net()
  set.seed(4)
  x <- array(abs(rnorm(3 * 2 * 60)), c(3, 2, 60))
  for (ly in c("conv1", "conv2", "conv3")) {
    r <- unit_relevance(m, x, ly, seed = "all", rules = "zplus", passes = 1, rate = 0,
      progress = FALSE
    )
    s <- summary(r)
    expect_true(all(s$seeded > 0 | s$seeded == 0))
    expect_true(any(s$seeded > 0))
    expect_lte(max(abs(s$total - s$seeded) / pmax(abs(s$seeded), 1e-300)), 1e-10)
    expect_lte(max(abs(s$conservation)), 1e-10 * max(abs(s$seeded)))
  }
  # also under Monte-Carlo dropout: every pass conserves
  r <- unit_relevance(m, x[1, , , drop = FALSE], "conv3", seed = "all", rules = "zplus",
    passes = 20, rate = 0.3, progress = FALSE
  )
  expect_lte(max(abs(summary(r)$conservation)), 1e-10 * max(summary(r)$seeded))
})

test_that("relevance is zero outside the seeded node's receptive field", {
  m <- cphap_model(small_valid_net(C = 2, L = 40))
  set.seed(8)
  x <- array(rnorm(2 * 2 * 40), c(2, 2, 40))
  ip <- interpretable_layers(m)
  for (q in seq_len(nrow(ip))) {
    for (t in unique(c(1, ip$length[q] %/% 2 + 1, ip$length[q]))) {
      for (preset in c("default", "epsilon", "alpha_beta")) {
        r <- unit_relevance(m, x, ip$name[q], seed = "node", node = t, rules = preset,
          passes = 5, rate = 0.5, progress = FALSE
        )
        per <- receptive_field(m, ip$name[q], position = t)
        out <- r$position < per$start | r$position > per$end
        expect_true(all(r$mean[out] == 0))
        expect_true(all(r$sd[out] == 0))
        expect_true(any(r$mean[!out] != 0) || all(r$seeded == 0))
      }
    }
  }
})

test_that("the active seed sums the seeds of its highly activated nodes", {
  m <- relu_net(bias = 0.1)
  set.seed(5)
  x <- array(rnorm(2 * 2 * 60), c(2, 2, 60))
  a <- activations(m, x, "conv2", format = "array")$conv2
  thr <- apply(a, 2, function(v) unname(stats::quantile(v, 0.7, type = 7)))
  ra <- unit_relevance(m, x, "conv2", channels = 2, seed = "active", threshold = thr,
    passes = 1, rate = 0, progress = FALSE
  )
  for (s in 1:2) {
    nodes <- which(a[s, 2, ] > thr[2])
    expect_true(length(nodes) > 0)
    rn <- unit_relevance(m, x[s, , , drop = FALSE], "conv2", channels = 2, seed = "node",
      node = nodes, passes = 1, rate = 0, progress = FALSE
    )
    want <- rowSums(matrix(rn$mean, ncol = length(nodes)))
    expect_equal(ra$mean[ra$sample == s], want, tolerance = 1e-12)
  }
  # thresholds from a reference set are R's type-7 quantiles
  rr <- unit_relevance(m, x, "conv2", channels = 2, seed = "active", reference = x,
    alpha = 0.3, passes = 1, rate = 0, progress = FALSE
  )
  expect_equal(rr$mean, ra$mean)
  expect_message(
    unit_relevance(m, x, "conv2", channels = 2, seed = "active", passes = 1, rate = 0,
      progress = FALSE
    ),
    "Thresholds"
  )
})

test_that("rate 0 gives sd exactly 0 and equals plain LRP", {
  m <- relu_net(bias = 0.1)
  set.seed(6)
  x <- array(rnorm(2 * 2 * 60), c(2, 2, 60))
  r0 <- unit_relevance(m, x, "conv3", seed = "all", passes = 50, rate = 0, progress = FALSE)
  expect_true(all(r0$sd == 0))
  expect_identical(r0$q05, r0$mean)
  r1 <- unit_relevance(m, x, "conv3", seed = "all", passes = 1, rate = 0.5, progress = FALSE)
  expect_true(all(is.na(r1$sd)))
  expect_equal(r1$mean, r0$mean)
  rc <- unit_relevance(m, x, "conv3", channels = 1, seed = "class", class = 1, passes = 30,
    rate = 0, progress = FALSE
  )
  expect_true(all(rc$sd == 0))
})

test_that("Monte-Carlo results: reproducible, thread-independent, quantiles of type 7", {
  m <- relu_net(bias = 0.1)
  set.seed(7)
  x <- array(rnorm(3 * 2 * 60), c(3, 2, 60))
  run <- function(threads) {
    withr::with_options(list(cphap.threads = threads), {
      set.seed(99)
      unit_relevance(m, x, "conv2", channels = 1:3, passes = 40, rate = 0.5, progress = FALSE)
    })
  }
  r1 <- run(1)
  r2 <- run(2)
  expect_identical(as.data.frame(r1), as.data.frame(r2))
  expect_true(any(r1$sd > 0))
  set.seed(100)
  r3 <- unit_relevance(m, x, "conv2", channels = 1:3, passes = 40, rate = 0.5, progress = FALSE)
  expect_false(identical(r3$mean, r1$mean))
  # one unit alone gets the same masks as in a call with several units
  set.seed(99)
  r4 <- unit_relevance(m, x, "conv2", channels = 2, passes = 40, rate = 0.5, progress = FALSE)
  expect_identical(r4$mean, r1$mean[r1$channel == 2])
  # dropout on the seeded layer's path matters; default is conv1 here
  expect_equal(attr(r1, "dropout"), "conv1")
  expect_equal(
    attr(unit_relevance(m, x, "conv1", passes = 3, progress = FALSE), "dropout"),
    "layer 1 (Conv1D)"
  )
  expect_equal(
    attr(unit_relevance(m, x, "conv3", channels = 1, seed = "class", class = 1, passes = 3,
      progress = FALSE
    ), "dropout"),
    "layer 7 (Skipping)"
  )
  # C quantiles equal R's quantile(type = 7) over the passes: check with
  # passes = 2 where the quantiles are linear interpolations of two values
  set.seed(1)
  r5 <- unit_relevance(m, x[1, , , drop = FALSE], "conv2", channels = 1, passes = 2,
    rate = 0.5, progress = FALSE
  )
  lo <- r5$mean - r5$sd / sqrt(2)
  hi <- r5$mean + r5$sd / sqrt(2)
  expect_equal(r5$q05, lo + 0.05 * (hi - lo), tolerance = 1e-10)
  expect_equal(r5$q95, lo + 0.95 * (hi - lo), tolerance = 1e-10)
})

test_that("dropout_layers choices: input, names, indices", {
  m <- relu_net(bias = 0.1)
  set.seed(9)
  x <- array(rnorm(2 * 60), c(1, 2, 60))
  ri <- unit_relevance(m, x, "conv2", channels = 1, passes = 20, dropout_layers = "input",
    progress = FALSE
  )
  expect_equal(attr(ri, "dropout"), "input")
  expect_true(any(ri$sd > 0))
  rn <- unit_relevance(m, x, "conv2", channels = 1, passes = 20, dropout_layers = 1,
    progress = FALSE
  )
  expect_true(any(rn$sd > 0))
  # dropout after the seeded layer has no effect on its relevance
  ra <- unit_relevance(m, x, "conv2", channels = 1, passes = 20, dropout_layers = "conv3",
    progress = FALSE
  )
  expect_true(all(ra$sd == 0))
})

test_that("batch norm is folded and residual networks work under Monte-Carlo dropout", {
  fx <- read_fixture("resnet")
  m <- cphap_model(fx$model)
  set.seed(2)
  r <- unit_relevance(m, fx$x[1:2, , , drop = FALSE], "res2", channels = 1:2, passes = 10,
    progress = FALSE
  )
  expect_true(all(is.finite(r$mean)))
  expect_true(any(r$sd > 0))
  expect_equal(nrow(r), 2 * 2 * 50)
})

test_that("result columns, print, summary, as.data.frame and autoplot", {
  m <- cphap_model(small_valid_net())
  set.seed(1)
  x <- array(rnorm(2 * 2 * 40), c(2, 2, 40))
  r <- unit_relevance(m, x, c("conv1", "conv2"), channels = 1:2, passes = 10, progress = FALSE)
  expect_s3_class(r, "cphap_relevance")
  expect_named(as.data.frame(r), c(
    "sample", "layer", "channel", "seed", "node", "class", "input_channel", "position",
    "value", "mean", "sd", "q05", "q95", "seeded", "conservation"
  ))
  expect_equal(nrow(r), 2 * 2 * 2 * 2 * 40)
  expect_equal(class(as.data.frame(r)), "data.frame")
  sel <- r$sample == 2 & r$input_channel == 2 & r$position == 7
  expect_true(all(r$value[sel] == x[2, 2, 7]))
  expect_output(print(r), "cphap_relevance")
  s <- summary(r)
  expect_equal(nrow(s), 8)
  expect_output(print(s), "Relevance per seed")
  p <- ggplot2::autoplot(r, sample = 2, layer = "conv2", channels = 1)
  expect_s3_class(p, "ggplot")
  expect_s3_class(ggplot2::autoplot(r, band = "quantile"), "ggplot")
  expect_warning(lr <- lrp(m, x), "logit is negative")
  expect_s3_class(ggplot2::autoplot(lr), "ggplot")
  expect_error(ggplot2::autoplot(r, sample = 5), "sample")
})

test_that("bad input gives clear errors naming the argument", {
  m <- cphap_model(small_valid_net())
  x <- array(rnorm(2 * 2 * 40), c(2, 2, 40))
  ur <- function(...) unit_relevance(m, x, progress = FALSE, ...)
  expect_error(ur("conv1", rules = "zennit"), "rules.*unknown preset")
  expect_error(ur("conv1", rules = list(conv = "gamma")), "rules\\$conv.*must be one of")
  expect_error(ur("conv1", rules = list(pool = "wta")), "rules\\$pool.*unknown kind")
  expect_error(ur("conv1", rules = list(conv = "alpha_beta", alpha = 2, beta = 2)), "alpha.*beta.*must equal 1")
  expect_error(lrp_rules(alpha = 3, beta = 1), "alpha.*beta.*must equal 1")
  expect_error(lrp_rules(conv = "w2"), "conv.*must be one of")
  expect_error(lrp_rules("nope"), "preset")
  expect_error(lrp_rules(epsilon = -1), "epsilon")
  expect_error(ur("conv1", rate = 1), "rate")
  expect_error(ur("conv1", rate = -0.1), "rate")
  expect_error(ur("conv1", passes = 0), "passes")
  expect_error(ur("conv1", passes = 2.5), "passes")
  expect_error(ur("conv9"), "layer.*unknown layer")
  expect_error(ur(7), "layer.*positions between 1 and 3")
  expect_error(ur(), "layer.*missing")
  expect_error(ur("conv1", channels = 6), "channel.*between 1 and 5")
  expect_error(ur("conv1", seed = "node"), "node.*required")
  expect_error(ur("conv1", seed = "node", node = 17), "node.*between 1 and 16")
  expect_error(ur("conv1", node = 2), "node.*only used")
  expect_error(ur("conv1", seed = "class", class = 3), "class")
  expect_error(ur("conv1", seed = "class", class = "z"), "class")
  expect_error(ur("conv1", seed = "active", threshold = c(1, 2)), "threshold")
  expect_error(ur("conv1", seed = "weird"), "should be one of")
  expect_error(ur("conv1", dropout_layers = "conv7"), "dropout_layers.*unknown")
  expect_error(ur("conv1", dropout_layers = 99), "dropout_layers")
  expect_error(ur("conv1", alpha = 2, seed = "active"), "alpha")
  expect_error(lrp(m, x, class = 0), "class")
  expect_error(lrp(m, x, rules = 3), "rules")
})

test_that("rule_table() shows the rule of every layer, first layers behind dropout included", {
  m <- cphap_model(read_fixture("resnet_skip")$model)
  tab <- rule_table(m)
  expect_s3_class(tab, "cphap_rule_table")
  expect_equal(nrow(tab), length(m$layers))
  # both branches read the input through the Skipping layer: first layers
  expect_equal(tab$kind[c(2, 10)], c("first", "first"))
  expect_equal(tab$rule[c(2, 3, 10, 11)], rep("w2", 4))
  expect_equal(tab$kind[c(5, 14)], c("conv", "conv"))
  expect_equal(tab$rule[c(12, 23, 25)], rep("proportional", 3))
  expect_equal(tab$kind[26], "output")
  # the codes handed to C are the table's rules
  expect_equal(
    cphap:::node_rule_codes(m, lrp_rules()),
    unname(cphap:::rule_codes[cphap:::layer_rules(m, lrp_rules())$rule])
  )
  expect_snapshot(print(tab))
  d <- cphap_model(read_fixture("dropout_cnn")$model)
  expect_snapshot(print(rule_table(d, lrp_rules("alpha_beta", maxpool = "proportional"))))
  mlp <- cphap_model(read_fixture("dropout_mlp")$model)
  expect_equal(rule_table(mlp, "epsilon")$kind[c(3, 5)], c("first", "output"))
  expect_error(rule_table(m, "nope"), "unknown preset")
})

test_that("relevance results carry and print the rule of every layer", {
  fx <- read_fixture("dropout_cnn")
  m <- cphap_model(fx$model)
  r <- lrp(m, fx$x[1, , , drop = FALSE], rules = list(conv = "epsilon"))
  tab <- attr(r, "rule_table")
  expect_equal(tab$rule, rule_table(m, list(conv = "epsilon"))$rule)
  expect_equal(tab$rule[c(4, 6)], c("w2", "epsilon"))
  expect_output(print(r), "Rule per layer: 4 Conv1D w2, 5 MaxPooling1D wta, 6 Conv1D epsilon")
  expect_null(attr(as.data.frame(r), "rule_table"))
  # unit seeds: the layers up to the seeded one
  u <- unit_relevance(m, fx$x[1, , , drop = FALSE], "conv1", channels = 1, passes = 1,
    rate = 0, progress = FALSE
  )
  expect_equal(attr(u, "rule_table")$index, 1:5)
  expect_output(print(u), "Rule per layer: 4 Conv1D w2, 5 MaxPooling1D wta\n")
})
