# Renamed arguments: the old name keeps working with a deprecation warning.

renamed_arg <- function(new, old, new_name, old_name) {
  if (is.null(old)) {
    return(new)
  }
  if (!is.null(new)) {
    cli::cli_abort("Give {.arg {new_name}} only ({.arg {old_name}} is its deprecated name).",
      call = NULL
    )
  }
  cli::cli_warn("{.arg {old_name}} is deprecated; use {.arg {new_name}}.",
    class = "cphap_deprecated"
  )
  old
}
