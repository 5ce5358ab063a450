# k-means over chunks of windows on the user's future plan: a mergeable
# weighted Lloyd iteration. Every round sends the current centers of all
# running restarts with each chunk of windows to a worker (one future per
# chunk, through map_chunks()); the worker returns per-cluster weighted sums,
# weights and counts, its objective and its new labels (src/cluster_dist.c),
# and this process adds them up in chunk order. Chunks are fixed by
# `window_chunk_size`, never by the plan, so the result is identical on
# every plan for the same chunking.

# Windows of the sample the restarts are seeded on (in this process).
kmeans_sample_size <- function(n, k) {
  as.integer(min(n, max(5000L, 50L * k)))
}

# The distributed k-means; returns the raw list of fit_partition() plus
# `rounds` (round trips to the workers) and `chunks`. `init`: k x m centers
# to start one restart from (no seeding); `step`: the work on a chunk (tests
# replace it).
kmeans_distributed <- function(windows, weights, k, n_start, max_iter,
                               chunk_size, threads, sample_size = NULL,
                               init = NULL, step = kmeans_chunk_step) {
  n <- nrow(windows)
  wt <- weights %||% rep(1, n)
  check_distinct_windows(windows, k)
  cent <- if (is.null(init)) {
    kmeans_seed_sample(windows, wt, k, n_start, threads,
                       sample_size %||% kmeans_sample_size(n, k))
  } else {
    array(t(init), c(ncol(windows), k, 1L))
  }
  chunks <- kmeans_chunks(windows, wt, chunk_size)
  run <- kmeans_lloyd_rounds(chunks, cent, n, max_iter, threads, step)
  best <- which.min(run$objective)
  out <- kmeans_relabel(run$labels[, best], t(slice3(run$centers, best)), wt, k)
  c(out, list(
    objective = run$objective[best], iterations = run$iterations[best],
    converged = run$converged[best], restart = best, moves = 0L,
    rounds = run$rounds, chunks = length(chunks)
  ))
}

# k must not exceed the distinct windows (identical windows cannot be split
# between clusters). Looks at growing blocks of rows, so a set with enough
# distinct windows near its start is not hashed whole.
check_distinct_windows <- function(windows, k) {
  n <- nrow(windows)
  rows <- min(n, 2L * k)
  repeat {
    nd <- sum(!duplicated(windows[seq_len(rows), , drop = FALSE]))
    if (nd >= k) return(invisible(nd))
    if (rows == n) break
    rows <- min(n, 4L * rows)
  }
  cli::cli_abort(
    "{.arg k} = {k} is more than the {nd} distinct window{?s}; choose {.arg k} <= {nd}.",
    call = NULL
  )
}

# Seeds of every restart: weighted greedy k-means++ on a sample of the
# windows drawn here (reproducible with set.seed()), then one weighted Lloyd
# step on that sample (refining the seeds on the sample until convergence
# saved no rounds on the benchmark windows). m x k x n_start array of
# centers.
kmeans_seed_sample <- function(windows, wt, k, n_start, threads, sample_size) {
  n <- nrow(windows)
  rows <- if (sample_size < n) sort(sample.int(n, sample_size)) else seq_len(n)
  xs <- windows[rows, , drop = FALSE]
  ws <- wt[rows]
  out <- array(0, c(ncol(windows), k, n_start))
  for (r in seq_len(n_start)) {
    fit <- .Call(cp_kmeans_weighted_r, xs, ws, k, 1L, 1L, FALSE, NULL, threads)
    out[, , r] <- t(fit$centers)
  }
  out
}

# Chunks of consecutive windows, transposed (the C step reads an m x n
# matrix as n rows without copying), with their weights.
kmeans_chunks <- function(windows, wt, chunk_size) {
  lapply(chunk_ranges(nrow(windows), chunk_size), function(r) {
    list(rows = r, xt = t(windows[r, , drop = FALSE]), weights = wt[r])
  })
}

# Lloyd rounds of all restarts in lockstep until each converges (no label
# changes after the first round) or max_iter rounds; restarts still running
# then get one more round that only evaluates their objective. Same rule and
# same counts as the in-process weighted k-means.
kmeans_lloyd_rounds <- function(chunks, cent, n, max_iter, threads,
                                step = kmeans_chunk_step) {
  S <- dim(cent)[3]
  lab <- matrix(0L, n, S)
  obj <- rep(NA_real_, S)
  iter <- rep(max_iter, S)
  conv <- rep(FALSE, S)
  rounds <- 0L
  for (it in seq_len(max_iter) - 1L) {
    act <- which(!conv)
    if (length(act) == 0L) break
    res <- kmeans_round(chunks, cent[, , act, drop = FALSE],
                        lab[, act, drop = FALSE], FALSE, threads, step)
    rounds <- rounds + 1L
    for (a in seq_along(act)) {
      s <- act[a]
      red <- kmeans_reduce(res, a)
      if (red$changed == 0L && it > 0L) {
        conv[s] <- TRUE
        iter[s] <- it
        obj[s] <- red$objective
        next
      }
      red <- kmeans_fill_empty(red, chunks, res, a)
      lab[, s] <- red$labels
      cent[, , s] <- red$sums / rep(red$wsum, each = nrow(red$sums))
    }
  }
  open <- which(!conv)
  if (length(open)) {
    res <- kmeans_round(chunks, cent[, , open, drop = FALSE],
                        lab[, open, drop = FALSE], TRUE, threads, step)
    rounds <- rounds + 1L
    for (a in seq_along(open)) obj[open[a]] <- kmeans_reduce(res, a)$objective
  }
  list(labels = lab, centers = cent, objective = obj, iterations = iter,
       converged = conv, rounds = rounds)
}

# One round trip: every chunk with the labels of the running restarts goes
# to map_chunks(); errors name the chunk and its windows.
kmeans_round <- function(chunks, cent, lab, evaluate, threads, step) {
  jobs <- lapply(chunks, function(ch) {
    list(xt = ch$xt, weights = ch$weights,
         labels = lab[ch$rows, , drop = FALSE],
         origin = paste0("windows ", ch$rows[1L], "-", ch$rows[length(ch$rows)]))
  })
  worker_threads <- if (use_futures()) NULL else threads
  map_chunks(jobs, step, centers = cent, evaluate = evaluate,
             threads = worker_threads, label = "k-means")
}

# Evaluated where the chunk is (a worker or this process): the C step with
# the worker's thread count when none is given.
kmeans_chunk_step <- function(chunk, centers, evaluate, threads) {
  .Call(cp_kmeans_chunk_r, chunk$xt, chunk$weights, centers, chunk$labels,
        evaluate, threads %||% cphap_threads())
}

# Slice s of a 3-d array as a matrix (also with one row or column).
slice3 <- function(a, s) matrix(a[, , s], dim(a)[1L], dim(a)[2L])

# Restart a of a round, added up over the chunks in chunk order.
kmeans_reduce <- function(res, a) {
  sums <- slice3(res[[1L]]$sums, a)
  wsum <- res[[1L]]$wsum[, a]
  count <- res[[1L]]$count[, a]
  obj <- res[[1L]]$objective[a]
  changed <- res[[1L]]$changed[a]
  for (r in res[-1L]) {
    sums <- sums + slice3(r$sums, a)
    wsum <- wsum + r$wsum[, a]
    count <- count + r$count[, a]
    obj <- obj + r$objective[a]
    changed <- changed + r$changed[a]
  }
  list(sums = sums, wsum = wsum, count = count, objective = obj,
       changed = changed, labels = unlist(lapply(res, function(r) r$labels[, a])))
}

# Empty clusters, as the in-process k-means: the first empty cluster takes
# the window with the largest weighted squared distance to its center
# (ties: the lower index), which leaves its cluster; until none is empty.
# The candidates are every chunk's k farthest windows, merged.
kmeans_fill_empty <- function(red, chunks, res, a) {
  if (all(red$count > 0L)) return(red)
  idx <- unlist(lapply(seq_along(res), function(i) {
    f <- res[[i]]$far_index[, a]
    chunks[[i]]$rows[f[f > 0L]]
  }))
  val <- unlist(lapply(res, function(r) r$far_value[r$far_index[, a] > 0L, a]))
  cand <- idx[order(-val, idx)]
  p <- 0L
  while (any(red$count == 0L)) {
    p <- p + 1L
    if (p > length(cand)) {
      cli::cli_abort("k-means: no window left to fill an empty cluster.", call = NULL)
    }
    g <- cand[p]
    j <- which(red$count == 0L)[1L]
    old <- red$labels[g]
    ch <- chunks[[findInterval(g, vapply(chunks, function(c) c$rows[1L], 1L))]]
    xg <- ch$xt[, g - ch$rows[1L] + 1L]
    v <- ch$weights[g - ch$rows[1L] + 1L]
    red$sums[, old] <- red$sums[, old] - v * xg
    red$wsum[old] <- red$wsum[old] - v
    red$count[old] <- red$count[old] - 1L
    red$sums[, j] <- red$sums[, j] + v * xg
    red$wsum[j] <- red$wsum[j] + v
    red$count[j] <- red$count[j] + 1L
    red$labels[g] <- j
  }
  red
}

# Labels by decreasing total weight (ties: first appearance), centers to
# match, as the in-process k-means.
kmeans_relabel <- function(labels, centers, wt, k) {
  ws <- vapply(seq_len(k), function(j) sum(wt[labels == j]), numeric(1))
  first <- match(seq_len(k), labels, nomatch = length(labels) + 1L)
  ord <- order(-ws, first)
  new <- integer(k)
  new[ord] <- seq_len(k)
  list(cluster = new[labels], centers = centers[ord, , drop = FALSE])
}
