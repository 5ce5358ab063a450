# cphap_report(): one self-contained HTML page of a result.

#' A report to share: one self-contained HTML page
#'
#' Writes the results of [cphap()] as one HTML file that opens in any
#' browser without R and without a network connection (figures and styles
#' are embedded): the model summary, the settings, the thresholds, per
#' clustered layer the pattern gallery and the ordered unit x pattern
#' heatmap, and, when `data` is given, a few series per class explained by
#' their highly activated periods and their relevance from the layer's most
#' active unit. Needs the rmarkdown package and pandoc.
#'
#' @param result A `cphap_result` from [cphap()].
#' @param file Path of the HTML file to write.
#' @param data Optional labelled series (a `cphap_data`, such as
#'   `gunpoint$test`) to explain; `NULL` leaves the section out.
#' @param samples_per_class Series per class to explain.
#' @param layer The clustered layer whose periods and units explain the
#'   series (`NULL`: the last clustered layer).
#' @param passes Monte-Carlo dropout passes of the relevance.
#' @param quiet Suppress rmarkdown's output.
#' @return `file`, invisibly.
#' @examples
#' if (rmarkdown::pandoc_available()) {
#'   res <- cphap(demo_model(), gunpoint$train, layers = "conv2", k = 4, progress = FALSE)
#'   f <- cphap_report(res, tempfile(fileext = ".html"), data = gunpoint$test,
#'                     samples_per_class = 1, passes = 10)
#'   file.size(f)
#' }
#' @export
cphap_report <- function(result, file, data = NULL, samples_per_class = 2, layer = NULL,
                         passes = 50, quiet = TRUE) {
  check_result(result)
  if (!is.character(file) || length(file) != 1L || is.na(file) || !nzchar(file)) {
    cli::cli_abort("{.arg file} must be one file path.", call = NULL)
  }
  if (!is.null(data) && !inherits(data, "cphap_data")) {
    cli::cli_abort("{.arg data} must be a {.cls cphap_data} (labelled series), not {.cls {class(data)}}.",
      call = NULL
    )
  }
  check_whole(samples_per_class, "samples_per_class", min = 1)
  check_whole(passes, "passes", min = 1)
  check_flag(quiet, "quiet")
  if (!requireNamespace("rmarkdown", quietly = TRUE) || !rmarkdown::pandoc_available()) {
    cli::cli_abort("{.fn cphap_report} needs the {.pkg rmarkdown} package and pandoc.", call = NULL)
  }
  env <- new.env(parent = asNamespace("cphap"))
  env$result <- result
  env$report_title <- paste("CPHAP report:", result$settings$data_name %||% "patterns of a temporal CNN")
  env$samples <- if (!is.null(data)) {
    report_samples(result, data, deparse1(substitute(data)), samples_per_class, layer, passes)
  }
  work <- tempfile("cphap-report")
  dir.create(work)
  on.exit(unlink(work, recursive = TRUE), add = TRUE)
  rmd <- file.path(work, "report.Rmd")
  file.copy(system.file("report", "report.Rmd", package = "cphap"), rmd)
  out <- rmarkdown::render(rmd, output_file = "report.html", output_dir = work,
    intermediates_dir = work, knit_root_dir = work, envir = env, quiet = quiet
  )
  if (!file.copy(out, file, overwrite = TRUE)) {
    cli::cli_abort("Could not write {.file {file}}.", call = NULL)
  }
  invisible(file)
}

# Helpers used by inst/report/report.Rmd.

report_settings <- function(result) {
  st <- result$settings
  data.frame(
    setting = c("layers", "alpha (share above threshold)", "k (clusters per layer)", "method",
                "joint channels", "z-normalised windows", "reference series", "clustered series"),
    value = c(paste(st$layers, collapse = ", "), st$alpha, paste(st$k, collapse = ", "), st$method,
              st$joint, st$normalize, st$n_reference, st$n_x)
  )
}

report_thresholds <- function(result) {
  th <- as.data.frame(unclass_df(result$thresholds))
  out <- do.call(rbind, lapply(split(th, th$layer, drop = TRUE), function(d) {
    data.frame(layer = as.character(d$layer[1]), units = nrow(d),
      min = min(d$threshold), median = stats::median(d$threshold), max = max(d$threshold),
      units_at_or_below_0 = sum(d$threshold <= 0))
  }))
  rownames(out) <- NULL
  out
}

report_plot <- function(p, height = 5.5, width = 9) {
  f <- tempfile(fileext = ".png", tmpdir = getwd())
  ggplot2::ggsave(f, p, width = width, height = height, dpi = 72)
  cat(sprintf("\n\n![](%s)\n\n", basename(f)))
}

# The explained series: samples_per_class per class of data, their
# explanation plots and relevance plots.
report_samples <- function(result, data, data_name, per_class, layer, passes) {
  model <- result$model
  clustered <- unique(as.character(result$sets$layer[!is.na(result$sets$k)]))
  if (length(clustered) == 0L) {
    return(NULL)
  }
  layer <- if (is.null(layer)) utils::tail(clustered, 1L) else model$interp$name[resolve_layers(model, layer, "layer")]
  pred <- predict(model, data)
  idx <- unlist(lapply(levels(data$y), function(cl) utils::head(which(data$y == cl), per_class)))
  ids <- rownames(data$x) %||% as.character(seq_len(nrow(data$x)))
  thr <- layer_thresholds(result$thresholds, layer, model$interp$channels[match(layer, model$interp$name)])
  acts <- forward_nodes(model, as_input(data, model), model$interp$node[match(layer, model$interp$name)])[[1]]
  expl <- list()
  rel <- list()
  for (q in seq_along(idx)) {
    i <- idx[q]
    e <- suppressMessages(explain_sample(result, i, layer, newdata = data))
    e <- with_identity(e, list(ids = ids, name = data_name))
    expl[[q]] <- autoplot(e)
    above <- rowSums(acts[i, , , drop = FALSE][1, , ] > thr)
    rel[q] <- list(if (any(above > 0)) {
      r <- unit_relevance(model, as_input(data, model)[i, , , drop = FALSE], layer,
        channels = which.max(above), seed = "active", threshold = thr, passes = passes, progress = FALSE
      )
      attr(r, "sample_ids") <- ids[i]
      attr(r, "data_name") <- data_name
      autoplot(r)
    })
  }
  list(
    table = data.frame(class = as.character(data$y[idx]), id = ids[idx], predicted = as.character(pred[idx])),
    explanations = expl, relevance = rel, layer = layer, passes = passes, data_name = data_name
  )
}
