/* .Call entry point of the mergeable k-means step (cluster_dist.h). The
 * windows of a chunk arrive transposed (an m x n R matrix is the n x m
 * row-major buffer the kernel reads), so nothing is copied. */
#include "api_util.h"
#include "api_decl.h"
#include "cluster_dist.h"

static SEXP real_array3(int a, int b, int c) {
  SEXP out = PROTECT(Rf_allocVector(REALSXP, (R_xlen_t)a * b * c));
  SEXP dim = PROTECT(Rf_allocVector(INTSXP, 3));
  INTEGER(dim)[0] = a;
  INTEGER(dim)[1] = b;
  INTEGER(dim)[2] = c;
  Rf_setAttrib(out, R_DimSymbol, dim);
  UNPROTECT(2);
  return out;
}

/* xt: m x n double matrix (window i in column i); weights: n doubles > 0;
 * centers: m x k x S double array (center j of restart s in column j of
 * slice s); labels: NULL or an n x S integer matrix of 1-based labels (0
 * for none; 1..k when evaluate); evaluate: keep the labels and return their
 * sums and objective. Labels, far windows out 1-based (0: none). */
SEXP cp_kmeans_chunk_r(SEXP xt, SEXP weights, SEXP centers, SEXP labels,
                       SEXP evaluate, SEXP threads) {
  if (!Rf_isReal(xt) || !Rf_isMatrix(xt)) Rf_error("`xt` must be a double matrix");
  int m = Rf_nrows(xt), n = Rf_ncols(xt);
  if (m < 1 || n < 1) Rf_error("`xt` must have at least one row and one column");
  if (!Rf_isReal(weights) || Rf_xlength(weights) != n) {
    Rf_error("`weights` must be a double vector with one weight per window");
  }
  const double *wt = REAL(weights);
  for (int i = 0; i < n; i++) {
    if (!R_FINITE(wt[i]) || wt[i] <= 0.0) Rf_error("`weights` must be finite and > 0");
  }
  SEXP dim = Rf_getAttrib(centers, R_DimSymbol);
  if (!Rf_isReal(centers) || Rf_xlength(dim) != 3 || INTEGER(dim)[0] != m) {
    Rf_error("`centers` must be a double array of dimension m x k x restarts (m = %d)", m);
  }
  int k = INTEGER(dim)[1], S = INTEGER(dim)[2];
  if (k < 1 || S < 1) Rf_error("`centers` must hold at least one center and one restart");
  const double *pc = REAL(centers);
  for (R_xlen_t i = 0; i < Rf_xlength(centers); i++) {
    if (!R_FINITE(pc[i])) Rf_error("`centers` must be finite");
  }
  int ev = Rf_asLogical(evaluate);
  if (ev == NA_LOGICAL) Rf_error("`evaluate` must be TRUE or FALSE");
  int *prev = NULL;
  if (!Rf_isNull(labels)) {
    if (!Rf_isInteger(labels) || Rf_xlength(labels) != (R_xlen_t)n * S) {
      Rf_error("`labels` must be an integer matrix of %d x %d labels", n, S);
    }
    const int *pl = INTEGER(labels);
    prev = (int *)R_alloc((size_t)n * S, sizeof(int));
    for (R_xlen_t i = 0; i < (R_xlen_t)n * S; i++) {
      if (pl[i] == NA_INTEGER || pl[i] < 0 || pl[i] > k || (ev && pl[i] == 0)) {
        Rf_error("`labels` must hold labels between %d and %d", ev ? 1 : 0, k);
      }
      prev[i] = pl[i] - 1;
    }
  } else if (ev) {
    Rf_error("`labels` must be given when `evaluate` is TRUE");
  }
  int nth = cp_api_threads(threads);
  int nfar = k < n ? k : n;
  const char *names[] = {"labels", "changed", "sums", "wsum", "count",
                         "objective", "far_index", "far_value"};
  SEXP out = PROTECT(cp_api_named_list(8, names));
  SEXP lab = PROTECT(Rf_allocMatrix(INTSXP, n, S));
  SEXP changed = PROTECT(Rf_allocVector(INTSXP, S));
  SEXP sums = PROTECT(real_array3(m, k, S));
  SEXP wsum = PROTECT(Rf_allocMatrix(REALSXP, k, S));
  SEXP count = PROTECT(Rf_allocMatrix(INTSXP, k, S));
  SEXP obj = PROTECT(Rf_allocVector(REALSXP, S));
  SEXP fidx = PROTECT(Rf_allocMatrix(INTSXP, nfar, S));
  SEXP fval = PROTECT(Rf_allocMatrix(REALSXP, nfar, S));
  int status = cp_kmeans_chunk_step(REAL(xt), wt, n, m, k, S, pc, prev, ev, nth,
                                    INTEGER(lab), INTEGER(changed), REAL(sums),
                                    REAL(wsum), INTEGER(count), REAL(obj), nfar,
                                    INTEGER(fidx), REAL(fval));
  cp_api_stop_status(status, "k-means step");
  int *pl = INTEGER(lab), *pf = INTEGER(fidx);
  for (R_xlen_t i = 0; i < (R_xlen_t)n * S; i++) pl[i] += 1;
  for (R_xlen_t i = 0; i < (R_xlen_t)nfar * S; i++) pf[i] += 1;
  SET_VECTOR_ELT(out, 0, lab);
  SET_VECTOR_ELT(out, 1, changed);
  SET_VECTOR_ELT(out, 2, sums);
  SET_VECTOR_ELT(out, 3, wsum);
  SET_VECTOR_ELT(out, 4, count);
  SET_VECTOR_ELT(out, 5, obj);
  SET_VECTOR_ELT(out, 6, fidx);
  SET_VECTOR_ELT(out, 7, fval);
  UNPROTECT(9);
  return out;
}
