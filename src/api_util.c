#include "api_util.h"
#include "cp_common.h"
#include <R_ext/Utils.h>
#include <string.h>
#include <limits.h>
#include <math.h>
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

int cp_api_conv(SEXP conv) {
  if (TYPEOF(conv) != INTSXP || Rf_xlength(conv) != 1 || INTEGER(conv)[0] < 0 ||
      INTEGER(conv)[0] > 2)
    Rf_error("'conv' must be 0 (direct), 1 (auto) or 2 (FFT)");
  return INTEGER(conv)[0];
}

int cp_api_threads(SEXP threads) {
  double v = Rf_asReal(threads);
  int n = R_FINITE(v) && v >= 1.0 ? (v < 1e6 ? (int)v : 1000000) : 1;
#ifdef _OPENMP
  /* the R side caps at 4 per core with a message; this is the backstop */
  int lim = omp_get_thread_limit(), cores = omp_get_num_procs();
  if (lim > 0 && n > lim) n = lim;
  if (cores >= 1 && n > 4 * cores) n = 4 * cores;
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

double cp_api_whole(double v, double lo, double hi, const char *what) {
  if (!(v >= lo && v <= hi) || v != floor(v))
    Rf_error("'%s' must be a whole number between %.0f and %.0f", what, lo, hi);
  return v;
}

R_xlen_t cp_api_len(const char *what, double a, double b, double max_len) {
  double v = a * b;
  double lim = max_len > 0 && max_len < (double)R_XLEN_T_MAX ? max_len : (double)R_XLEN_T_MAX;
  if (!(v <= lim))
    Rf_error("%s: result too large (%.0f x %.0f = %.4g values, %.4g GB; at most %.4g values)",
             what, a, b, v, v * 8 / 1e9, lim);
  return (R_xlen_t)v;
}

SEXP cp_api_named_list(int len, const char **names) {
  SEXP out = PROTECT(Rf_allocVector(VECSXP, len));
  SEXP nm = PROTECT(Rf_allocVector(STRSXP, len));
  for (int i = 0; i < len; i++) SET_STRING_ELT(nm, i, Rf_mkChar(names[i]));
  Rf_setAttrib(out, R_NamesSymbol, nm);
  UNPROTECT(2);
  return out;
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

void cp_api_net(SEXP spec, cp_net *net) {
  if (!Rf_isNewList(spec) || Rf_xlength(spec) != 5) Rf_error("invalid model spec");
  SEXP is = VECTOR_ELT(spec, 0), ds = VECTOR_ELT(spec, 1), dims = VECTOR_ELT(spec, 2);
  SEXP par = VECTOR_ELT(spec, 3), state = VECTOR_ELT(spec, 4);
  if (TYPEOF(is) != INTSXP || TYPEOF(ds) != REALSXP || TYPEOF(dims) != INTSXP ||
      Rf_xlength(dims) != 2 || TYPEOF(par) != REALSXP || TYPEOF(state) != REALSXP)
    Rf_error("invalid model spec: wrong types");
  R_xlen_t n_nodes = Rf_xlength(is) / CP_S_NCOL;
  if (n_nodes < 1 || n_nodes > INT_MAX || Rf_xlength(is) != n_nodes * CP_S_NCOL ||
      Rf_xlength(ds) != n_nodes * CP_D_NCOL)
    Rf_error("invalid model spec: wrong sizes");
  cp_layer *layers = (cp_layer *)R_alloc((size_t)n_nodes, sizeof(cp_layer));
  char msg[256];
  int st = cp_net_from_spec(net, layers, (int)n_nodes, INTEGER(is), REAL(ds),
                            INTEGER(dims)[0], INTEGER(dims)[1], REAL(par),
                            (long)Rf_xlength(par), REAL(state), (long)Rf_xlength(state),
                            msg, sizeof msg);
  if (st != CP_OK) Rf_error("invalid model spec: %s", msg);
}

int cp_api_samples(SEXP x, const cp_net *net, const char *arg) {
  if (TYPEOF(x) != REALSXP) Rf_error("'%s' must be a double array", arg);
  R_xlen_t per = (R_xlen_t)net->c_in * net->l_in;
  R_xlen_t n = Rf_xlength(x) / per;
  if (n < 1 || n * per != Rf_xlength(x) || n > INT_MAX)
    Rf_error("'%s' does not hold whole samples of %d x %d", arg, net->c_in, net->l_in);
  return (int)n;
}
