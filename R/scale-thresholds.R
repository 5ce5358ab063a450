# Exact thresholds over chunks. The radix selection of thresholds() (see
# src/patterns.c) made mergeable: every pass runs the forward pass over each
# chunk (wherever the plan puts it) and returns, per target, the counts of
# the next 16-bit digit of the values' order-preserving keys under the
# target's prefix, or the values under the prefix once few enough; this
# process adds them up and narrows each order statistic down. Counts and
# collected values do not depend on how the samples are cut, so neither do
# the passes or the result, which equals the one-process C path (and
# quantile(type = 7)) bit for bit.

q_collect_max <- 65536 # values collected per target (CP_Q_COLLECT_MAX)

# Thresholds of the channels of the interpretable layers `ip` (rows of
# model$interp) over the samples of the sample source `s`: list(threshold,
# passes, n).
chunked_thresholds <- function(model, s, ip, prob) {
  nodes <- ip$node
  len <- rep(ip$length, ip$channels)
  nch <- length(len)
  # two trackers per channel: the order statistics lo and hi of type 7
  tr <- list(
    chan = rep(seq_len(nch) - 1L, each = 2L), rank = rep(NA_real_, 2L * nch),
    depth = rep(0L, 2L * nch), digits = matrix(0L, 2L * nch, 4L),
    mode = rep("hist", 2L * nch), expect = rep(NA_real_, 2L * nch),
    value = rep(NA_real_, 2L * nch)
  )
  chunks <- chunk_list(s)
  # the convolution mode of this process (workers do not see its options)
  conv <- cphap_conv()
  passes <- 0L
  n <- NA_real_
  repeat {
    active <- which(tr$mode != "done")
    if (length(active) == 0L) break
    key <- paste(tr$chan, tr$depth, tr$digits[, 1], tr$digits[, 2], tr$digits[, 3])[active]
    first <- !duplicated(key)
    rows <- active[first]
    of <- match(key, key[first])
    targets <- cbind(
      tr$chan[rows], tr$depth[rows], as.integer(tr$mode[rows] == "collect"),
      tr$digits[rows, 1:3, drop = FALSE]
    )
    storage.mode(targets) <- "integer"
    passes <- passes + 1L
    res <- map_sample_chunks(s, chunks, qscan_chunk,
      nodes = as.integer(nodes - 1L), targets = targets, conv = conv, model = model,
      label = paste("Thresholds, pass", passes)
    )
    if (passes == 1L) {
      # the first pass learns the number of samples, hence the ranks
      n <- sum(lengths(res$samples))
      index <- 1 + (n * len - 1) * prob
      tr$rank <- as.vector(rbind(floor(index), ceiling(index))) - 1
      chunks <- chunk_list(s)
    }
    for (j in seq_along(rows)) {
      parts <- lapply(res$values, `[[`, j)
      for (k in active[of == j]) tr <- qtracker_step(tr, k, parts)
    }
  }
  index <- 1 + (n * len - 1) * prob
  lo <- floor(index)
  qs <- tr$value[c(TRUE, FALSE)]
  xh <- tr$value[c(FALSE, TRUE)]
  h <- index - lo
  mix <- index > lo & xh != qs
  qs[mix] <- (1 - h[mix]) * qs[mix] + h[mix] * xh[mix]
  list(threshold = qs, passes = passes, n = n)
}

# Worker side of a pass: the targets' histograms or values over a chunk.
qscan_chunk <- function(x, chunk, model, nodes, targets, conv) {
  .Call(cp_qscan_r, model$spec, x, nodes, targets, cphap_threads(), conv)
}

# Tracker k after a pass, from its target's parts (one per chunk).
qtracker_step <- function(tr, k, parts) {
  if (tr$mode[k] == "collect") {
    v <- unlist(parts, use.names = FALSE)
    if (length(v) != tr$expect[k]) {
      cli::cli_abort("The series changed between two passes over the reference set ({length(v)} values found where {tr$expect[k]} were counted); a chunk source must return the same series every time.",
        call = NULL
      )
    }
    r <- tr$rank[k] + 1
    tr$value[k] <- sort(v, partial = r)[r]
    tr$mode[k] <- "done"
    return(tr)
  }
  bins <- unlist(lapply(parts, `[[`, 1L), use.names = FALSE)
  counts <- unlist(lapply(parts, `[[`, 2L), use.names = FALSE)
  tot <- rowsum(counts, bins)
  cum <- cumsum(tot[, 1])
  b <- which(cum > tr$rank[k])[1]
  if (is.na(b)) {
    cli::cli_abort("The series changed between two passes over the reference set; a chunk source must return the same series every time.",
      call = NULL
    )
  }
  d <- tr$depth[k] + 1L
  tr$digits[k, d] <- as.integer(rownames(tot)[b])
  tr$rank[k] <- tr$rank[k] - (cum[[b]] - tot[b, 1])
  tr$expect[k] <- tot[b, 1]
  tr$depth[k] <- d
  if (d == 4L) {
    tr$mode[k] <- "done"
    tr$value[k] <- key_value(tr$digits[k, ])
  } else {
    tr$mode[k] <- if (tot[b, 1] <= q_collect_max) "collect" else "hist"
  }
  tr
}

# The double whose order-preserving key has the four 16-bit digits `d`
# (most significant first): the inverse of key_of() in src/qkey.h.
key_value <- function(d) {
  bytes <- as.vector(rbind(d %/% 256L, d %% 256L))
  if (bytes[1] >= 128L) {
    bytes[1] <- bytes[1] - 128L
  } else {
    bytes <- 255L - bytes
  }
  readBin(as.raw(bytes), "double", n = 1L, size = 8L, endian = "big")
}
