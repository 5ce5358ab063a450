# Progress bars of long calls (cli): shown only when `progress` is TRUE, the
# work has several steps and it lasts longer than cli's delay (2 s by
# default, option `cli.progress_show_after`).

progress_start <- function(progress, name, total, .envir = parent.frame()) {
  if (!isTRUE(progress) || total < 2L) {
    return(NULL)
  }
  cli::cli_progress_bar(name, total = total, clear = TRUE, .envir = .envir)
}

progress_tick <- function(bar) {
  if (!is.null(bar)) cli::cli_progress_update(id = bar)
  invisible(bar)
}

progress_end <- function(bar) {
  if (!is.null(bar)) cli::cli_progress_done(id = bar)
  invisible(NULL)
}
