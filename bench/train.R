# Benchmark: one training epoch (mini-batch Adam, softmax cross-entropy,
# dropout) of the paper's CNN (input 945, 8 classes, batch 32) on 1000 random
# series: cphap's C trainer vs PyTorch float64 on the same machine, same
# thread count, same initial weights and data.
# Run from the package root after installing cphap:
#   Rscript bench/train.R [threads] [epochs timed]
suppressPackageStartupMessages(library(cphap))
source(file.path(dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))), "common.R"))

args <- commandArgs(TRUE)
threads <- as.integer(args[1])
if (is.na(threads)) threads <- 1L
reps <- as.integer(args[2])
if (is.na(reps)) reps <- 3L
options(cphap.threads = threads)
set.seed(1)
model <- cphap_model(arch_cnn(c(1, 945), 8))
n <- 1000
batch <- 32
x <- array(rnorm(n * 945), c(n, 1, 945))
y <- factor(sample(1:8, n, replace = TRUE), levels = 1:8)

# cphap: fit_model() for one epoch (includes the R-side checks and copies)
times <- cpu <- numeric(reps)
for (r in seq_len(reps)) {
  st <- system.time(m <- fit_model(model, x, y, epochs = 1, batch_size = batch,
    lr = 1e-3, progress = FALSE))
  times[r] <- st[["elapsed"]]
  cpu[r] <- st[["user.self"]] + st[["sys.self"]]
  cat(sprintf("cphap epoch %d: %.3f s (cpu %.3f s), loss %.4f\n", r, times[r], cpu[r], m$history$loss[1]))
}
t_c <- stats::median(times)
cpu_c <- stats::median(cpu)

dir <- tempfile("cphap_bench_")
export_for_torch(model, x, dir)
writeBin(as.integer(y) - 1L, file.path(dir, "y.bin"), size = 4)
py <- system2("/usr/bin/python3", c(file.path(bench_dir(), "train.py"), dir, threads, reps, batch),
  stdout = TRUE, env = torch_env(threads))
cat(paste0("torch ", py[-length(py)]), sep = "\n")
res <- strsplit(py[length(py)], " ")[[1]]
t_py <- as.numeric(res[1])
cpu_py <- as.numeric(res[3])

# work per epoch: forward + input gradients (not for the first layer) + weight gradients
f_fwd <- model_flops(model)
first <- model$layers[[1]]
f_first <- 2 * prod(dim(first$weight)) * first$dim_out[2]
gflop <- (3 * f_fwd - f_first) * n / 1e9

cat(sprintf("\npaper CNN, one training epoch: %d series x 945, batch %d, Adam, dropout 0.5\n", n, batch))
cat(sprintf("threads: cphap %d (option cphap.threads), PyTorch %s (torch.set_num_threads)\n", threads, res[2]))
cat(sprintf("BLAS used by PyTorch (libblas.so.3 alternative): %s\n", blas_info()))
cat(sprintf("work: about %.1f GFLOP per epoch (convolutions and dense, forward and backward)\n", gflop))
cat(sprintf("cphap fit_model(epochs = 1): %.3f s  %.1f GFLOP/s (median of %d)\n", t_c, gflop / t_c, reps))
cat(sprintf("PyTorch float64 epoch:       %.3f s  %.1f GFLOP/s (median of %d)\n", t_py, gflop / t_py, reps))
cat(sprintf("CPU seconds (all threads): cphap %.3f, PyTorch %.3f\n", cpu_c, cpu_py))
cat(sprintf("ratio PyTorch / cphap: %.2f elapsed, %.2f CPU time (> 1: cphap faster)\n",
  t_py / t_c, cpu_py / cpu_c))
cat("(On a machine shared with other jobs the elapsed times include waiting for a core;\n",
  " the CPU-time ratio is then the fairer one for one thread.)\n", sep = "")
unlink(dir, recursive = TRUE)
