# Fuzzes every exported function of cphap with random and edge-case
# arguments (NA, NaN, Inf, huge, negative, wrong types, empty, wrong shapes),
# tampered model objects and crafted specs handed straight to the C entry
# points. Every batch of calls runs in a child R process, so a crash is
# counted (with the call that caused it) instead of ending the run.
#
#   Rscript tools/fuzz.R                 # short mode: about 2 minutes (CI)
#   Rscript tools/fuzz.R --long          # long mode: at least 20,000 calls
#   Rscript tools/fuzz.R --calls 5000 --seconds 600 --seed 7
#
# Prints the number of calls, clean errors, valid results, time-outs
# (a call stopped at its time limit with an R error), crashes and hangs
# (a batch killed by its wall-clock limit); exits with status 1 on any
# crash or hang. R_LIBS decides which installed cphap is fuzzed; under an
# AddressSanitizer build (LD_PRELOAD=libasan) the child processes inherit the
# environment, so sanitizer reports end the child and count as crashes; give
# it ASAN_OPTIONS allocator_may_return_null=1:max_allocation_size_mb=2000 so
# that huge but valid requests fail to allocate (the memory cap of ulimit is
# not used under AddressSanitizer).

args <- commandArgs(trailingOnly = TRUE)

opt <- function(name, default) {
  i <- match(name, args)
  if (is.na(i)) default else args[i + 1L]
}

# ---------------------------------------------------------------- child side

child_main <- function() {
  seed <- as.integer(opt("--child", NA))
  first <- as.integer(opt("--first", 1))
  count <- as.integer(opt("--count", 100))
  out <- opt("--out", "")
  call_limit <- as.numeric(opt("--call-limit", 3))
  suppressPackageStartupMessages(library(cphap))
  options(cphap.threads = 2L, warn = -1)
  # fuzzed file names (write_onnx(path = "a"), ...) land in a scratch folder,
  # never in the checkout
  scratch <- tempfile("fuzz-wd")
  dir.create(scratch)
  setwd(scratch)
  fx <- fixtures()
  cases <- case_table(fx)
  deadline <- as.numeric(opt("--deadline", Inf))
  for (i in seq.int(first, length.out = count)) {
    if (as.numeric(Sys.time()) > deadline) break
    set.seed((seed * 100003 + i) %% 2147483647)
    # building a case can fail (a tampering R refuses): draw another
    call <- NULL
    while (is.null(call)) {
      cs <- cases[[sample.int(length(cases), 1L)]]
      call <- tryCatch(suppressWarnings(cs(fx)), error = function(e) NULL)
    }
    cat(i, "start", call$label, "\n", sep = "\t", file = out, append = TRUE)
    t <- proc.time()[[3]]
    res <- run_one(call$fun, call_limit)
    cat(i, res, call$label, sprintf("%.3f", proc.time()[[3]] - t), "\n", sep = "\t",
        file = out, append = TRUE)
  }
}

run_one <- function(fun, limit) {
  # the limit is lifted before the condition is looked at: formatting a
  # message can take long, and a time-limit error there would escape
  tryCatch(
    {
      setTimeLimit(elapsed = limit, transient = TRUE)
      r <- tryCatch(
        {
          utils::capture.output(v <- suppressMessages(suppressWarnings(fun())))
          if (inherits(v, "ggplot")) invisible(ggplot2::ggplot_build(v))
          "value"
        },
        error = function(e) e
      )
      setTimeLimit(elapsed = Inf)
      if (!inherits(r, "error")) {
        return(r)
      }
      msg <- tryCatch(conditionMessage(r), error = function(e) "")
      if (grepl("time limit", msg)) "timeout" else "error"
    },
    error = function(e) {
      setTimeLimit(elapsed = Inf)
      "timeout"
    }
  )
}

# A small network with every layer type the list format has, its data and
# the results other functions take.
fixtures <- function() {
  set.seed(1)
  net <- list(
    input_dim = c(2, 32),
    layers = list(
      list(type = "Padding", padding = c(1, 2)),
      list(type = "Conv1D", weight = array(rnorm(4 * 2 * 3), c(4, 2, 3)), bias = rnorm(4),
           activation_name = "relu", stride = 1),
      list(type = "BatchNorm", num_features = 4, gamma = runif(4, 0.5, 1.5), beta = rnorm(4),
           run_mean = rnorm(4), run_var = runif(4, 0.5, 2), eps = 1e-5),
      list(type = "MaxPooling1D", kernel_size = 2, strides = 2),
      list(type = "Conv1D", weight = array(rnorm(4 * 4 * 3), c(4, 4, 3)), bias = rnorm(4),
           activation_name = "tanh", padding = c(1, 1)),
      list(type = "Skipping", rate = 0.3),
      list(type = "AveragePooling1D", kernel_size = 2, strides = 1),
      list(type = "Flatten"),
      list(type = "Dense", weight = matrix(rnorm(3 * 60), 3, 60), bias = rnorm(3),
           activation_name = "softmax")
    )
  )
  m <- cphap_model(net, classes = c("a", "b", "c"))
  x <- array(rnorm(12 * 2 * 32), c(12, 2, 32))
  y <- rep(c("a", "b", "c"), 4)
  thr <- thresholds(m, x, alpha = 0.3)
  per <- activated_periods(m, x, thr)
  res <- cphap(m, x, layers = 1, k = 2)
  win <- period_windows(m, x, per, 1, joint = TRUE)$joint
  cl <- cluster_windows(win, 2)
  rel <- unit_relevance(m, x[1:2, , ], 1, channels = 1, passes = 2, progress = FALSE)
  fit <- fit_model(m, x, y, epochs = 1, batch_size = 4, progress = FALSE)
  dat <- cphap_data(x, y)
  files <- fuzz_files()
  onnx <- write_onnx(m, tempfile(fileext = ".onnx"), dtype = "float64")
  list(onnx = onnx, net = net, m = m, x = x, y = y, thr = thr, per = per, res = res, win = win, cl = cl,
       rel = rel, fit = fit, dat = dat, files = files,
       pert = perturbation(m, x[1:3, , ], thr, 1, channels = 1, shares = 0.2))
}

fuzz_files <- function() {
  d <- tempfile("fuzz")
  dir.create(d)
  p <- function(n) file.path(d, n)
  writeLines(c("1\t0.1\t0.5\t0.2", "2\t1.2\t0.3\t-0.4"), p("ok.tsv"))
  writeLines(c("@problemName toy", "@univariate false", "@dimensions 2",
               "@classLabel true a b", "@data", "1,2,3:4,5,6:a", "3,2,1:6,5,4:b"), p("ok.ts"))
  writeLines(c("@relation toy", "@attribute t1 numeric", "@attribute t2 numeric",
               "@attribute class {x,y}", "@data", "1.5,2.5,x", "0.5,?,y"), p("ok.arff"))
  set.seed(2)
  writeBin(as.raw(sample(0:255, 300, TRUE)), p("bytes.bin"))
  writeLines(c("1\t1e999\tNaN\t", "\t\t", "x,y,z", "@data", "1:2:3:4", "@dimensions -5"), p("odd.txt"))
  writeLines(character(0), p("empty.txt"))
  unname(c(p("ok.tsv"), p("ok.ts"), p("ok.arff"), p("bytes.bin"), p("odd.txt"), p("empty.txt"),
    file.path(d, "missing.tsv"), d))
}

# Edge values for any argument.
edge_value <- function(fx) {
  x <- fx$x
  pool <- list(
    NULL, NA, NA_real_, NA_integer_, NaN, Inf, -Inf, 0, -1, 1.5, 1e308, -1e308, 1e12, 2^31,
    .Machine$integer.max, -.Machine$integer.max, 1e-300, TRUE, FALSE, "a", c("a", "b"),
    character(0), numeric(0), integer(0), list(), list(1, "a"), 1:3, rnorm(5), 2L, 3,
    matrix(NA_real_, 2, 2), matrix(rnorm(6), 2), array(rnorm(24), c(2, 3, 4)), matrix(0, 0, 5),
    data.frame(a = 1:3), factor(c("x", "y")), as.complex(1), function() 1, new.env(),
    x, aperm(x, 3:1), x[, 1, ], x[, , 1:5], x * 1e308, x[0, , , drop = FALSE], x[1, , ],
    replace(x, 5, NA), replace(x, 7, Inf), round(x * 10), rnorm(1e5),
    sample.int(10, 100, TRUE), rep(1e9, 3), -(1:3), fx$m, fx$y, fx$win, fx$thr, fx$per,
    fx$res, fx$cl, fx$rel, fx$dat, fx$net, c(NA, 1), 1e9L, "conv1", c("conv1", "nope"),
    seq_len(40), matrix(rnorm(40), 20), fx$files[sample.int(length(fx$files), 1L)]
  )
  pool[[sample.int(length(pool), 1L)]]
}

# Replace 0 to 3 arguments of a valid call by edge values.
mutate_args <- function(a, fx) {
  k <- sample(0:3, 1L, prob = c(0.1, 0.5, 0.3, 0.1))
  if (k > 0L && length(a) > 0L) {
    for (nm in sample(names(a), min(k, length(a)))) {
      v <- edge_value(fx)
      if (is.null(v)) a[nm] <- list(NULL) else a[[nm]] <- v
    }
  }
  a
}

# Tampered models: a layer field or a derived part changed at random.
tamper_model <- function(m, fx) {
  what <- sample(c("layer", "spec", "ispec", "derived", "classes", "rds"), 1L)
  j <- sample.int(length(m$layers), 1L)
  switch(what,
    layer = {
      f <- sample(c(names(m$layers[[j]]), "weight", "padding", "stride", "kernel_size",
                    "type", "input_layers", "dim_out", "activation_name"), 1L)
      v <- edge_value(fx)
      if (is.null(v)) m$layers[[j]][f] <- list(NULL) else m$layers[[j]][[f]] <- v
    },
    spec = {
      f <- sample(names(m$spec), 1L)
      m$spec[[f]] <- edge_value(fx)
    },
    ispec = {
      m$spec$ispec[j, sample.int(ncol(m$spec$ispec), 1L)] <-
        sample(c(-3L, -1L, 0L, 1L, 2L, 7L, 99L, 1e6L, .Machine$integer.max, NA_integer_), 1L)
      if (runif(1) < 0.5) m$layers[[j]]$padding <- c(-3L, 5L)
    },
    derived = {
      f <- sample(c("rf", "interp", "input_dim"), 1L)
      m[[f]] <- if (f == "interp") {
        ip <- m$interp
        ip[[sample(names(ip), 1L)]] <- sample(c(-5L, 0L, 99L, NA_integer_), 1L)
        ip
      } else {
        edge_value(fx)
      }
    },
    classes = {
      m$classes <- edge_value(fx)
    },
    rds = {
      p <- tempfile(fileext = ".rds")
      m$layers[[j]]$padding <- c(-3L, 5L)
      m$spec$ispec[j, c("pad_l", "pad_r")] <- c(-3L, 5L)
      saveRDS(m, p)
      m <- readRDS(p)
      unlink(p)
    }
  )
  m
}

# A spec with one random cell changed, for the C entry points directly.
crafted_spec <- function(fx) {
  s <- fx$m$spec
  r <- runif(1)
  if (r < 0.6) {
    s$ispec[sample.int(nrow(s$ispec), 1L), sample.int(ncol(s$ispec), 1L)] <-
      sample(c(-2147483647L, -64L, -3L, -1L, 0L, 1L, 2L, 3L, 12L, 33L, 99L, 65536L,
               .Machine$integer.max, NA_integer_), 1L)
  } else if (r < 0.7) {
    s$dspec[sample.int(nrow(s$dspec), 1L), sample.int(ncol(s$dspec), 1L)] <-
      sample(c(NaN, Inf, -1, 1, 1e308, -0.5), 1L)
  } else if (r < 0.8) {
    s$dims <- sample(list(c(-1L, -64L), c(-2L, -32L), c(1L, 64L), c(0L, 0L), c(2L, NA), 1L), 1L)[[1]]
  } else if (r < 0.9) {
    s$par <- s$par[seq_len(sample(0:length(s$par), 1L))]
  } else {
    s[[sample.int(5L, 1L)]] <- edge_value(fx)
  }
  s
}

case_table <- function(fx) {
  m <- fx$m
  x <- fx$x
  x2 <- x[1:2, , , drop = FALSE]
  calls <- list(
    predict = function() list(object = m, newdata = x, type = "prob"),
    activations = function() list(model = m, x = x, layers = NULL, format = "long"),
    thresholds = function() list(model = m, reference = x, layers = NULL, alpha = 0.05),
    activated_periods = function() list(model = m, x = x, thresholds = fx$thr, layers = NULL,
                                        channels = NULL, samples = NULL),
    period_windows = function() list(model = m, x = x, periods = fx$per, layer = 1,
                                     input_channels = NULL, joint = TRUE, normalize = TRUE),
    cphap = function() list(model = m, reference = x, layers = 1, alpha = 0.1, k = 2,
                            method = "kmeans", joint = FALSE, normalize = TRUE),
    unit_relevance = function() list(model = m, x = x2, layer = 1, channels = 1, seed = "all",
                                     passes = 3, rate = 0.5, rules = "default", progress = FALSE),
    lrp = function() list(model = m, x = x2, class = NULL, rules = "epsilon"),
    perturbation = function() list(model = m, x = x[1:3, , ], thresholds = fx$thr, layer = 1,
                                   channels = 1, shares = 0.2, fill = "zero"),
    fit_model = function() list(model = m, x = x, y = fx$y, epochs = 1, batch_size = 4,
                                lr = 1e-3, validation_split = 0, progress = FALSE),
    cphap_model = function() list(x = fx$net, classes = NULL),
    interpretable_layers = function() list(model = m),
    receptive_field = function() list(model = m, layer = 1, position = 1:2),
    explain_sample = function() list(result = fx$res, sample = 1, layer = NULL, channels = NULL,
                                     newdata = NULL),
    unit_pattern_matrix = function() list(result = fx$res, layer = NULL, input_channel = NULL,
                                          share = FALSE),
    cluster_windows = function() list(windows = fx$win, k = 2, method = "kmeans", n_start = 2,
                                      max_iter = 20),
    cluster_validity = function() list(windows = fx$win, cluster = fx$cl$cluster,
                                       sample_size = 100),
    suggest_k = function() list(windows = fx$win, k = 2:3, method = "kmeans", n_start = 1),
    znorm = function() list(x = fx$win, margin = 1),
    arch_cnn = function() list(input_dim = c(1, 64), n_classes = 2, channels = c(4, 4),
                               kernels = c(5, 3), strides = c(1, 1), pool_sizes = c(2, 2),
                               pool_strides = c(2, 2)),
    arch_fcn = function() list(input_dim = c(1, 32), n_classes = 2, channels = c(4, 4, 4)),
    arch_resnet = function() list(input_dim = c(1, 32), n_classes = 2, channels = c(4, 4, 4)),
    sim_cbf = function() list(n = 5, length = 64, noise = 1),
    sim_two_patterns = function() list(n = 5, length = 64, noise = 0.1),
    sim_multivariate = function() list(n = 5, n_channels = 2, length = 64),
    cphap_data = function() list(x = x, y = fx$y),
    read_ucr = function() list(path = fx$files[1], length = NULL),
    read_ts = function() list(path = fx$files[2], length = NULL),
    read_arff = function() list(path = fx$files[3], length = 2),
    lrp_rules = function() list(preset = "default", epsilon = 0.01, alpha = 2, beta = 1),
    read_onnx = function() list(path = fx$onnx, input_length = NULL),
    write_onnx = function() list(model = m, path = tempfile(fileext = ".onnx"),
                                 dtype = "float64", opset = 13),
    original_relevance = function() list(model = m, x = x2, layer = 1, channels = 1,
                                         y = fx$y[1:2], passes = 2, progress = FALSE),
    perturbation_curves = function() list(model = m, x = x[1:3, , ], thresholds = fx$thr,
                                          layer = 1, samples = 1:2, steps = 3),
    pattern_entropy = function() list(x = fx$res, layer = NULL, n_sub = 2),
    rule_table = function() list(model = m, rules = "default")
  )
  fns <- list(predict = stats::predict)
  arg_case <- function(name) {
    force(name)
    function(fx) {
      a <- mutate_args(calls[[name]](), fx)
      fn <- if (!is.null(fns[[name]])) fns[[name]] else getExportedValue("cphap", name)
      list(label = paste0(name, "(", paste(names(a), collapse = ","), ")"),
           fun = function() do.call(fn, a))
    }
  }
  model_entries <- c("predict", "activations", "thresholds", "activated_periods",
                     "period_windows", "cphap", "unit_relevance", "lrp", "perturbation",
                     "fit_model", "interpretable_layers", "receptive_field")
  tampered <- function(fx) {
    name <- sample(c(model_entries, "print", "summary", "as.list", "cphap_model"), 1L)
    tm <- tamper_model(fx$m, fx)
    if (name %in% model_entries) {
      a <- calls[[name]]()
      a[[names(a)[1]]] <- tm
      fn <- if (name == "predict") stats::predict else getExportedValue("cphap", name)
      fun <- function() do.call(fn, a)
    } else {
      fn <- switch(name, print = print, summary = function(o) print(summary(o)),
                   as.list = as.list, cphap_model = cphap_model)
      fun <- function() fn(tm)
    }
    list(label = paste0("tampered model -> ", name), fun = fun)
  }
  c_entry <- function(fx) {
    s <- crafted_spec(fx)
    xa <- aperm(fx$x, c(1, 2, 3))
    n_nodes <- tryCatch(nrow(fx$m$spec$ispec), error = function(e) 9L)
    which <- sample(c("forward", "rf", "thresholds", "high", "relevance", "evaluate", "grad"), 1L)
    fun <- switch(which,
      forward = function() .Call(cphap:::cp_forward_r, s, xa, 0:8, 2L, 1L),
      rf = function() .Call(cphap:::cp_rf_r, s),
      thresholds = function() .Call(cphap:::cp_thresholds_r, s, xa, c(1L, 4L), 0.9, 2L, 1L),
      high = function() .Call(cphap:::cp_high_nodes_r, s, xa, 1L, rep(0, 4), 2L, 1L),
      relevance = function() {
        jobs <- matrix(c(0L, 1L, 0L, 0L, -1L, -1L), 1)
        .Call(cphap:::cp_relevance_r, s, xa, jobs, matrix(1, 64, 1), rep(1L, n_nodes),
              c(0.01, 2, 1, 0), c(2, 1, 2, 0, rep(0.5, n_nodes)), NULL, 2L)
      },
      evaluate = function() .Call(cphap:::cp_evaluate_r, s, xa, rep(0:2, 4), NULL, 2L),
      grad = function() .Call(cphap:::cp_loss_grad_r, s, xa, rep(0:2, 4), NULL, 0L, NULL, 2L)
    )
    list(label = paste0("crafted spec -> C ", which), fun = fun)
  }
  methods <- function(fx) {
    objs <- list(res = fx$res, rel = fx$rel, per = fx$per, thr = fx$thr, cl = fx$cl,
                 hist = fx$fit$history, dat = fx$dat, pert = fx$pert, fit = fx$fit)
    nm <- sample(names(objs), 1L)
    o <- objs[[nm]]
    if (runif(1) < 0.7 && is.list(o) && length(o) > 0L) {
      f <- sample(names(o), 1L)
      v <- edge_value(fx)
      if (is.null(v)) o[f] <- list(NULL) else o[[f]] <- v
    }
    g <- sample(c("print", "summary", "as.data.frame", "autoplot"), 1L)
    fn <- switch(g, print = print, summary = function(z) print(summary(z)),
                 as.data.frame = as.data.frame, autoplot = ggplot2::autoplot)
    list(label = paste0(g, "(", nm, " tampered)"), fun = function() fn(o))
  }
  c(lapply(names(calls), arg_case), rep(list(tampered), 8), rep(list(c_entry), 8),
    rep(list(methods), 4))
}

# --------------------------------------------------------------- parent side

parent_main <- function() {
  long <- "--long" %in% args
  target <- as.numeric(opt("--calls", if (long) 20000 else Inf))
  budget <- as.numeric(opt("--seconds", if (long) 7200 else 120))
  seed <- as.integer(opt("--seed", as.integer(Sys.time()) %% 100000L))
  batch <- as.integer(opt("--batch", 1000))
  # huge but valid requests (epochs = 2^31 - 1) run into this limit: an R
  # error, counted as a time-out
  call_limit <- as.numeric(opt("--call-limit", 3))
  script <- normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))
  rscript <- file.path(R.home("bin"), "Rscript")
  use_ulimit <- !grepl("asan", Sys.getenv("LD_PRELOAD"))
  t0 <- Sys.time()
  counts <- c(calls = 0, error = 0, value = 0, timeout = 0, crash = 0, hang = 0)
  bad <- character()
  spent <- list()
  nxt <- 1
  cat(sprintf("fuzz: seed %d, %s mode (target %s calls, budget %.0f s)\n", seed,
              if (long) "long" else "short", format(target), budget))
  while (counts[["calls"]] < target &&
         as.numeric(difftime(Sys.time(), t0, units = "secs")) < budget) {
    out <- tempfile(fileext = ".tsv")
    n <- min(batch, target - counts[["calls"]])
    cmd <- sprintf("%s %s --child %d --first %d --count %d --out %s --call-limit %g --deadline %.0f",
                   shQuote(rscript), shQuote(script), seed, nxt, n, shQuote(out), call_limit,
                   as.numeric(t0) + budget)
    # memory cap: huge but valid requests fail to allocate instead of
    # swapping (not under AddressSanitizer, which reserves its shadow memory)
    if (use_ulimit) cmd <- paste("ulimit -v 4000000;", cmd)
    limit <- 60 + n * call_limit
    st <- system2("timeout", c(limit, "bash", "-c", shQuote(cmd)), stdout = FALSE,
                  stderr = paste0(out, ".err"))
    lines <- if (file.exists(out)) readLines(out, warn = FALSE) else character()
    parts <- strsplit(lines, "\t", fixed = TRUE)
    done <- Filter(function(p) length(p) >= 2L && p[2] != "start", parts)
    for (p in done) {
      counts[[p[2]]] <- counts[[p[2]]] + 1
      fn <- sub("[( ].*", "", p[3])
      spent[[fn]] <- (if (is.null(spent[[fn]])) 0 else spent[[fn]]) + as.numeric(p[4])
    }
    counts[["calls"]] <- counts[["calls"]] + length(done)
    last_done <- if (length(done)) as.numeric(done[[length(done)]][1]) else nxt - 1
    if (st != 0) {
      started <- Filter(function(p) length(p) >= 3L && p[2] == "start", parts)
      if (!length(started)) {
        err <- if (file.exists(paste0(out, ".err"))) readLines(paste0(out, ".err"), warn = FALSE) else ""
        cat(utils::tail(err, 30), sep = "\n")
        stop("fuzz: a child process failed before its first call (exit ", st, ")")
      }
      culprit <- started[[length(started)]]
      kind <- if (st == 124) "hang" else "crash"
      if (as.numeric(culprit[1]) > last_done) {
        counts[[kind]] <- counts[[kind]] + 1
        counts[["calls"]] <- counts[["calls"]] + 1
        err <- if (file.exists(paste0(out, ".err"))) readLines(paste0(out, ".err"), warn = FALSE) else ""
        bad <- c(bad, sprintf("%s at call %s (exit %d): %s\n    %s", kind, culprit[1], st,
                              culprit[3], paste(utils::tail(err, 8), collapse = "\n    ")))
        last_done <- as.numeric(culprit[1])
      } else {
        bad <- c(bad, sprintf("child exited with status %d after its calls", st))
        counts[["crash"]] <- counts[["crash"]] + 1
      }
    }
    nxt <- last_done + 1
    unlink(c(out, paste0(out, ".err")))
  }
  secs <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
  cat(sprintf(
    "fuzz: %d calls in %.0f s: %d clean errors, %d valid results, %d time-outs, %d crashes, %d hangs\n",
    counts[["calls"]], secs, counts[["error"]], counts[["value"]], counts[["timeout"]],
    counts[["crash"]], counts[["hang"]]
  ))
  if (length(spent)) {
    top <- utils::head(sort(unlist(spent), decreasing = TRUE), 6)
    cat("fuzz: most time in", paste0(names(top), " ", round(top), " s", collapse = ", "), "\n")
  }
  if (length(bad)) cat(paste0("fuzz: ", bad, "\n"), sep = "")
  if (counts[["crash"]] + counts[["hang"]] > 0) quit(status = 1)
}

if ("--child" %in% args) child_main() else parent_main()
