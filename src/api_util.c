#include "api_util.h"
#include "cp_common.h"
#include <R_ext/Utils.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static void check_interrupt_fn(void *dummy) {
  (void)dummy;
  R_CheckUserInterrupt();
}

/* Returns 1 when an interrupt is pending, without jumping out of C code, so
 * that kernels can free their memory and return CP_ERR_INTERRUPT. */
static int api_interrupt_pending(void) {
  return R_ToplevelExec(check_interrupt_fn, NULL) == FALSE;
}

void cp_api_install_interrupt(void) {
  cp_check_interrupt = api_interrupt_pending;
}

uint64_t cp_api_seed(void) {
  GetRNGstate();
  uint64_t hi = (uint64_t)(unif_rand() * 4294967296.0);
  uint64_t lo = (uint64_t)(unif_rand() * 4294967296.0);
  PutRNGstate();
  return (hi << 32) ^ lo;
}

int cp_api_threads(SEXP threads) {
  int n = Rf_asInteger(threads);
  if (n == NA_INTEGER || n < 1) n = 1;
#ifdef _OPENMP
  int lim = omp_get_thread_limit();
  if (lim > 0 && n > lim) n = lim;
#else
  n = 1;
#endif
  return n;
}

void cp_api_stop_status(int status, const char *what) {
  switch (status) {
  case CP_OK: return;
  case CP_ERR_ALLOC: Rf_error("%s: could not allocate memory", what);
  case CP_ERR_INTERRUPT: Rf_error("%s: interrupted by the user", what);
  case CP_ERR_NUMERIC: Rf_error("%s: the computation produced non-finite values", what);
  default: Rf_error("%s: internal error (status %d)", what, status);
  }
}

SEXP cp_api_list_get(SEXP list, const char *name) {
  SEXP names = Rf_getAttrib(list, R_NamesSymbol);
  if (Rf_isNull(names)) return R_NilValue;
  R_xlen_t n = Rf_xlength(list);
  for (R_xlen_t i = 0; i < n; i++) {
    if (strcmp(CHAR(STRING_ELT(names, i)), name) == 0) return VECTOR_ELT(list, i);
  }
  return R_NilValue;
}
