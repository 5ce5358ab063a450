# Benchmark: unit relevance with Monte-Carlo dropout (T = 300 passes, rate
# 0.5) on the paper's CNN (input 1 x 945, 8 classes), seeded at all
# positions of one unit of conv3, with the default rules; one sample and 100
# samples. Compared with a PyTorch autograd implementation of the same rules
# (bench/relevance.py) on the same machine with the same number of threads.
#
# Run from the package root after installing cphap:
#   Rscript bench/relevance.R [threads]
# Needs /usr/bin/python3 with torch (Debian python3-torch).

args <- commandArgs(trailingOnly = TRUE)
threads <- if (length(args)) as.integer(args[1]) else 2L
passes <- 300L
rate <- 0.5
n <- 100L
library(cphap)
options(cphap.threads = threads)

set.seed(1)
m <- cphap_model(arch_cnn(c(1, 945), 8))
x <- matrix(rnorm(n * 945), n, 945)
ip <- interpretable_layers(m)
channel <- 1L
# pick a unit that is active on the first sample
a <- activations(m, x[1, ], "conv3", format = "array")$conv3
channel <- which.max(apply(a[1, , , drop = FALSE], 2, sum))

# export the network and the data for PyTorch
dir <- tempfile("cphap_bench_")
dir.create(dir)
conv <- Filter(function(l) l$type == "Conv1D", m$layers)
arrays <- list(
  w1 = conv[[1]]$weight, b1 = conv[[1]]$bias, w2 = conv[[2]]$weight, b2 = conv[[2]]$bias,
  w3 = conv[[3]]$weight, b3 = conv[[3]]$bias, x = array(x, c(n, 1, 945))
)
for (nm in names(arrays)) {
  v <- arrays[[nm]]
  writeBin(as.double(v), file.path(dir, paste0(nm, ".bin")), endian = "little")
}
shapes <- vapply(names(arrays), function(nm) {
  d <- dim(arrays[[nm]])
  if (is.null(d)) d <- length(arrays[[nm]])
  paste0('"', nm, '": [', paste(d, collapse = ", "), "]")
}, character(1))
writeLines(paste0('{"channel": ', channel, ', "arrays": {', paste(shapes, collapse = ", "), "}}"),
  file.path(dir, "meta.json")
)

run <- function(xx) {
  unit_relevance(m, xx, "conv3", channel = channel, passes = passes, rate = rate,
    progress = FALSE
  )
}
invisible(run(x[1, ])) # warm up
# one sample: median of five runs, elapsed and CPU seconds (all threads)
cpu_of <- function(st) st[["user.self"]] + st[["sys.self"]]
ones <- lapply(1:5, function(i) system.time(r1 <- run(x[1, ])))
t_one <- stats::median(vapply(ones, function(st) st[["elapsed"]], 0))
cpu_one <- stats::median(vapply(ones, cpu_of, 0))
st_all <- system.time(rn <- run(x))
t_all <- st_all[["elapsed"]]
cpu_all <- cpu_of(st_all)

# dropout-free check against PyTorch
chk <- unit_relevance(m, x, "conv3", channel = channel, passes = 1, rate = 0, progress = FALSE)

py <- system2("/usr/bin/python3",
  c(file.path("bench", "relevance.py"), dir, threads, passes, rate),
  stdout = TRUE, env = paste0(c("OMP_NUM_THREADS=", "OPENBLAS_NUM_THREADS="), threads)
)
parse_flat_json <- function(s) {
  s <- gsub("[{}\"]", "", s)
  kv <- strsplit(strsplit(s, ", ")[[1]], ": ")
  stats::setNames(lapply(kv, `[`, 2), vapply(kv, `[`, "", 1))
}
pt <- parse_flat_json(py[length(py)])
tc <- readBin(file.path(dir, "torch_check.bin"), "double", n * 945, endian = "little")
diff <- max(abs(chk$mean - tc)) / max(abs(tc))

cat("cphap relevance benchmark: paper CNN 1 x 945, unit conv3 channel", channel,
  ", default rules, T =", passes, "passes, rate", rate, "\n")
cat("threads: cphap", threads, "(OpenMP over passes), torch", pt$threads, "\n")
cat("R BLAS:", extSoftVersion()[["BLAS"]], "(cphap does not use BLAS)\n")
cat("torch", pt$torch, pt$blas, "(float64 convolutions via its own im2col + BLAS path;",
  "system BLAS alternative:",
  tryCatch(Sys.readlink("/etc/alternatives/libblas.so.3-x86_64-linux-gnu"), error = function(e) "?"), ")\n")
cat(sprintf("dropout-free relevance, cphap vs torch: max relative difference %.2e\n", diff))
cat("(one sample: median of 5 runs on each side; CPU = user + system seconds of all threads)\n")
cat(sprintf("%-12s %10s %10s %8s %10s %10s %8s\n", "", "cphap (s)", "torch (s)", "ratio",
  "cphap CPU", "torch CPU", "ratio"))
row <- function(label, a, b, ac, bc) {
  cat(sprintf("%-12s %10.3f %10.3f %8.1f %10.3f %10.3f %8.1f\n", label, a, b, b / a, ac, bc, bc / ac))
}
row("1 sample", t_one, as.numeric(pt$one), cpu_one, as.numeric(pt$one_cpu))
row(paste(n, "samples"), t_all, as.numeric(pt$all), cpu_all, as.numeric(pt$all_cpu))
unlink(dir, recursive = TRUE)
