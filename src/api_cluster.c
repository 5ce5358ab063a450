/* .Call entry points for clustering: check and convert the SEXPs, call the
 * kernels of cluster.h, build the results. Windows arrive as R matrices
 * (n x m, column-major) and are copied to row-major scratch (R_alloc). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "api_util.h"
#include "api_decl.h"
#include "cluster.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* Row-major copy out (nr x nc) of the column-major px; returns non-zero
 * when a value is not finite. Eight rows at a time: one cache line of every
 * column in, eight row streams out. */
static int api_copy_rows(const double *px, int nr, int nc, double *out) {
  int bad = 0;
  for (int i0 = 0; i0 < nr; i0 += 8) {
    int i1 = i0 + 8 < nr ? i0 + 8 : nr;
    for (int j = 0; j < nc; j++) {
      const double *col = px + (size_t)j * nr;
      for (int i = i0; i < i1; i++) {
        double v = col[i];
        bad |= !isfinite(v);
        out[(size_t)i * nc + j] = v;
      }
    }
  }
  return bad;
}

/* Dimensions of a window matrix: a double matrix with rows and columns. */
static void api_dims(SEXP x, const char *what, int *n, int *m) {
  if (!Rf_isReal(x) || !Rf_isMatrix(x)) Rf_error("`%s` must be a double matrix", what);
  *n = Rf_nrows(x);
  *m = Rf_ncols(x);
  if (*n < 1 || *m < 1) Rf_error("`%s` must have at least one row and one column", what);
}

/* Row-major copy of a finite double matrix; sets *n and *m. */
static double *api_rows(SEXP x, const char *what, int *n, int *m) {
  api_dims(x, what, n, m);
  double *out = (double *)R_alloc((size_t)*n * *m, sizeof(double));
  if (api_copy_rows(REAL(x), *n, *m, out)) Rf_error("`%s` must contain finite values only", what);
  return out;
}

/* Row-major malloc'd copy of a double matrix x (n x m, checked by the
 * caller): freed by the caller as soon as the kernel is done, so that a
 * large window matrix is not held twice until R's next garbage collection.
 * NULL when out of memory; *bad is set when x has non-finite values. */
static double *api_rows_malloc(SEXP x, int n, int m, int *bad) {
  double *out = malloc(sizeof(double) * (size_t)n * (size_t)m);
  *bad = 0;
  if (out) *bad = api_copy_rows(REAL(x), n, m, out);
  return out;
}

/* Row-major buffer (nr x nc) to a new R matrix (unprotected). */
static SEXP api_matrix(const double *rows, int nr, int nc) {
  SEXP out = Rf_allocMatrix(REALSXP, nr, nc);
  double *po = REAL(out);
  for (int i = 0; i < nr; i++) {
    for (int j = 0; j < nc; j++) {
      double v = rows[(size_t)i * nc + j];
      po[(size_t)j * nr + i] = ISNAN(v) ? NA_REAL : v;
    }
  }
  return out;
}

static int api_int(SEXP x, const char *what, int lo) {
  if (Rf_xlength(x) != 1) Rf_error("`%s` must be a single number", what);
  int v = Rf_asInteger(x);
  if (v == NA_INTEGER || v < lo) Rf_error("`%s` must be a whole number >= %d", what, lo);
  return v;
}

static int api_metric(SEXP metric) {
  if (!Rf_isString(metric) || Rf_xlength(metric) != 1) {
    Rf_error("`metric` must be \"euclidean\" or \"shape\"");
  }
  const char *s = CHAR(STRING_ELT(metric, 0));
  if (strcmp(s, "euclidean") == 0) return CP_METRIC_EUCLID;
  if (strcmp(s, "shape") == 0) return CP_METRIC_SHAPE;
  Rf_error("`metric` must be \"euclidean\" or \"shape\"");
  return -1;
}

/* Threads: NULL means all available processors (within OMP_THREAD_LIMIT). */
static int api_threads(SEXP threads) {
  if (Rf_isNull(threads)) {
#ifdef _OPENMP
    SEXP t = PROTECT(Rf_ScalarInteger(omp_get_num_procs()));
    int n = cp_api_threads(t);
    UNPROTECT(1);
    return n;
#else
    return 1;
#endif
  }
  return cp_api_threads(threads);
}

/* 1-based labels of length n in 1..k to a 0-based buffer. */
static int *api_labels(SEXP cluster, int n, int k) {
  if (!Rf_isInteger(cluster) || Rf_xlength(cluster) != n) {
    Rf_error("`cluster` must be an integer vector with one label per window");
  }
  const int *pc = INTEGER(cluster);
  int *out = (int *)R_alloc((size_t)n, sizeof(int));
  for (int i = 0; i < n; i++) {
    if (pc[i] == NA_INTEGER || pc[i] < 1 || pc[i] > k) {
      Rf_error("`cluster` must hold labels between 1 and %d", k);
    }
    out[i] = pc[i] - 1;
  }
  return out;
}

static SEXP api_labels_out(const int *cl, int n) {
  SEXP out = Rf_allocVector(INTSXP, n);
  int *po = INTEGER(out);
  for (int i = 0; i < n; i++) po[i] = cl[i] + 1;
  return out;
}

/* Result of a clustering kernel as an R list. */
static SEXP api_fit_result(const double *centers, const int *cl, int n, int k,
                           int m, const cp_cluster_info *info) {
  const char *names[] = {"cluster", "centers", "objective", "iterations",
                         "converged", "restart", "moves"};
  SEXP out = PROTECT(cp_api_named_list(7, names));
  SET_VECTOR_ELT(out, 0, api_labels_out(cl, n));
  SET_VECTOR_ELT(out, 1, api_matrix(centers, k, m));
  SET_VECTOR_ELT(out, 2, Rf_ScalarReal(info->objective));
  SET_VECTOR_ELT(out, 3, Rf_ScalarInteger(info->iterations));
  SET_VECTOR_ELT(out, 4, Rf_ScalarLogical(info->converged));
  SET_VECTOR_ELT(out, 5, Rf_ScalarInteger(info->restart + 1));
  SET_VECTOR_ELT(out, 6, Rf_ScalarInteger(info->moves));
  UNPROTECT(1);
  return out;
}

static double *api_centers(SEXP centers, int m, int *k);

/* kind 0: k-means, 1: k-Shape (rows are z-normalised first). */
static SEXP api_partition(SEXP x, SEXP k, SEXP n_start, SEXP max_iter,
                          SEXP threads, int kind) {
  int n, m;
  double *rows = api_rows(x, "windows", &n, &m);
  int kk = api_int(k, "k", 1);
  if (kk > n) Rf_error("`k` must not exceed the number of windows (%d)", n);
  int ns = api_int(n_start, "n_start", 1);
  int mi = api_int(max_iter, "max_iter", 1);
  int nth = api_threads(threads);
  uint64_t seed = cp_api_seed();
  double *centers = (double *)R_alloc((size_t)kk * m, sizeof(double));
  int *cl = (int *)R_alloc((size_t)n, sizeof(int));
  cp_cluster_info info = {0.0, 0, 0, 0, 0};
  int status;
  if (kind == 1) {
    cp_znorm_rows(rows, n, m);
    status = cp_kshape(rows, n, m, kk, ns, mi, seed, nth, centers, cl, &info);
  } else {
    status = cp_kmeans(rows, n, m, kk, ns, mi, seed, nth, centers, cl, &info);
  }
  cp_api_stop_status(status, kind == 1 ? "k-Shape" : "k-means");
  return api_fit_result(centers, cl, n, kk, m, &info);
}

SEXP cp_kmeans_r(SEXP x, SEXP k, SEXP n_start, SEXP max_iter, SEXP threads) {
  return api_partition(x, k, n_start, max_iter, threads, 0);
}

SEXP cp_kshape_r(SEXP x, SEXP k, SEXP n_start, SEXP max_iter, SEXP threads) {
  return api_partition(x, k, n_start, max_iter, threads, 1);
}

/* Window weights: NULL, or a double vector of n finite values > 0. */
static const double *api_weights(SEXP weights, int n) {
  if (Rf_isNull(weights)) return NULL;
  if (!Rf_isReal(weights) || Rf_xlength(weights) != n) {
    Rf_error("`weights` must be a double vector with one weight per window");
  }
  const double *pw = REAL(weights);
  for (int i = 0; i < n; i++) {
    if (!R_FINITE(pw[i]) || pw[i] <= 0.0) Rf_error("`weights` must be finite and > 0");
  }
  return pw;
}

SEXP cp_kmeans_weighted_r(SEXP x, SEXP weights, SEXP k, SEXP n_start,
                          SEXP max_iter, SEXP hartigan, SEXP init,
                          SEXP threads) {
  int n, m;
  api_dims(x, "windows", &n, &m);
  const double *wt = api_weights(weights, n);
  if (!wt) Rf_error("`weights` must not be NULL");
  int kk = api_int(k, "k", 1);
  if (kk > n) Rf_error("`k` must not exceed the number of windows (%d)", n);
  int ns = api_int(n_start, "n_start", 1);
  int mi = api_int(max_iter, "max_iter", 1);
  int hw = Rf_asLogical(hartigan);
  if (hw == NA_LOGICAL) Rf_error("`hartigan` must be TRUE or FALSE");
  const double *start = NULL;
  if (!Rf_isNull(init)) {
    int ki;
    start = api_centers(init, m, &ki);
    if (ki != kk) Rf_error("`init` must have k = %d rows", kk);
  }
  int nth = api_threads(threads);
  uint64_t seed = cp_api_seed();
  double *centers = (double *)R_alloc((size_t)kk * m, sizeof(double));
  int *cl = (int *)R_alloc((size_t)n, sizeof(int));
  cp_cluster_info info = {0.0, 0, 0, 0, 0};
  int bad;
  double *rows = api_rows_malloc(x, n, m, &bad);
  int status = !rows ? CP_ERR_ALLOC : bad ? CP_ERR_INPUT
             : cp_kmeans_weighted(rows, wt, n, m, kk, ns, mi, hw, start, seed, nth,
                                  centers, cl, &info);
  free(rows);
  if (bad) Rf_error("`windows` must contain finite values only");
  cp_api_stop_status(status, "weighted k-means");
  return api_fit_result(centers, cl, n, kk, m, &info);
}

SEXP cp_som_r(SEXP x, SEXP dims, SEXP epochs, SEXP rate, SEXP radius,
              SEXP threads) {
  int n, m;
  double *rows = api_rows(x, "windows", &n, &m);
  if (!Rf_isInteger(dims) || Rf_xlength(dims) != 2) {
    Rf_error("`som_dim` must be two whole numbers");
  }
  int xdim = INTEGER(dims)[0], ydim = INTEGER(dims)[1];
  if (xdim == NA_INTEGER || ydim == NA_INTEGER || xdim < 1 || ydim < 1 ||
      (double)xdim * ydim > 1e6) {
    Rf_error("`som_dim` must be two positive whole numbers");
  }
  int ep = api_int(epochs, "som_epochs", 1);
  if (!Rf_isReal(rate) || Rf_xlength(rate) != 2 || !Rf_isReal(radius) ||
      Rf_xlength(radius) != 2) {
    Rf_error("`som_rate` and `som_radius` must be numeric vectors of length 2");
  }
  const double *pr = REAL(rate), *pd = REAL(radius);
  for (int i = 0; i < 2; i++) {
    if (!R_FINITE(pr[i]) || pr[i] < 0.0 || !R_FINITE(pd[i]) || pd[i] < 0.0) {
      Rf_error("`som_rate` and `som_radius` must be finite and non-negative");
    }
  }
  int nth = api_threads(threads);
  uint64_t seed = cp_api_seed();
  int units = xdim * ydim;
  double *codes = (double *)R_alloc((size_t)units * m, sizeof(double));
  int *bmu = (int *)R_alloc((size_t)n, sizeof(int));
  cp_cluster_info info = {0.0, 0, 0, 0, 0};
  int status = cp_som(rows, n, m, xdim, ydim, ep, pr[0], pr[1], pd[0], pd[1],
                      seed, nth, codes, bmu, &info);
  cp_api_stop_status(status, "self-organising map");
  return api_fit_result(codes, bmu, n, units, m, &info);
}

/* Centers k x m (R matrix) to row-major, optionally z-normalised. */
static double *api_centers(SEXP centers, int m, int *k) {
  int kc, mc;
  double *rows = api_rows(centers, "centers", &kc, &mc);
  if (mc != m) Rf_error("`centers` must have as many columns as `windows` (%d)", m);
  *k = kc;
  return rows;
}

SEXP cp_cluster_stats_r(SEXP x, SEXP cluster, SEXP centers, SEXP metric,
                        SEXP threads, SEXP weights) {
  int n, m, k;
  api_dims(x, "windows", &n, &m);
  const double *wt = api_weights(weights, n);
  double *cen = api_centers(centers, m, &k);
  int *cl = api_labels(cluster, n, k);
  int met = api_metric(metric);
  int nth = api_threads(threads);
  const char *names[] = {"size", "mean", "sd", "distance", "mean_distance",
                         "variance", "weight", "variance_floor",
                         "weighted_size"};
  SEXP out = PROTECT(cp_api_named_list(9, names));
  SEXP size = PROTECT(Rf_allocVector(INTSXP, k));
  SEXP wsize = PROTECT(Rf_allocVector(REALSXP, k));
  SEXP dist = PROTECT(Rf_allocVector(REALSXP, n));
  SEXP mdist = PROTECT(Rf_allocVector(REALSXP, k));
  SEXP var = PROTECT(Rf_allocVector(REALSXP, k));
  SEXP weight = PROTECT(Rf_allocVector(REALSXP, k));
  double *mean = (double *)R_alloc((size_t)k * m, sizeof(double));
  double *sd = (double *)R_alloc((size_t)k * m, sizeof(double));
  double vfloor = 0.0;
  int bad;
  double *rows = api_rows_malloc(x, n, m, &bad);
  if (rows && !bad && met == CP_METRIC_SHAPE) cp_znorm_rows(rows, n, m);
  int status = !rows ? CP_ERR_ALLOC : bad ? CP_ERR_INPUT
             : cp_cluster_stats(rows, wt, n, m, k, cl, cen, met, nth, INTEGER(size),
                                REAL(wsize), mean, sd, REAL(dist), REAL(mdist), REAL(var),
                                REAL(weight), &vfloor);
  free(rows);
  if (bad) Rf_error("`windows` must contain finite values only");
  cp_api_stop_status(status, "cluster statistics");
  double *pmd = REAL(mdist);
  for (int j = 0; j < k; j++) {
    if (ISNAN(pmd[j])) pmd[j] = NA_REAL;
  }
  SET_VECTOR_ELT(out, 0, size);
  SET_VECTOR_ELT(out, 1, api_matrix(mean, k, m));
  SET_VECTOR_ELT(out, 2, api_matrix(sd, k, m));
  SET_VECTOR_ELT(out, 3, dist);
  SET_VECTOR_ELT(out, 4, mdist);
  SET_VECTOR_ELT(out, 5, var);
  SET_VECTOR_ELT(out, 6, weight);
  SET_VECTOR_ELT(out, 7, Rf_ScalarReal(vfloor));
  SET_VECTOR_ELT(out, 8, wsize);
  UNPROTECT(7);
  return out;
}

/* Numeric vector of length k with the given checks. */
static const double *api_kvec(SEXP v, int k, const char *what) {
  if (!Rf_isReal(v) || Rf_xlength(v) != k) {
    Rf_error("`%s` must be a double vector of length %d", what, k);
  }
  return REAL(v);
}

SEXP cp_soft_assign_r(SEXP x, SEXP centers, SEXP weight, SEXP mean_distance,
                      SEXP metric, SEXP cluster, SEXP threads) {
  int n, m, k;
  api_dims(x, "windows", &n, &m);
  double *cen = api_centers(centers, m, &k);
  const double *w = api_kvec(weight, k, "weight");
  const double *md = api_kvec(mean_distance, k, "mean_distance");
  int any = 0;
  for (int j = 0; j < k; j++) {
    if (!R_FINITE(w[j]) || w[j] < 0.0) Rf_error("`weight` must be finite and >= 0");
    if (w[j] > 0.0) {
      any = 1;
      if (!R_FINITE(md[j]) || md[j] < 0.0) {
        Rf_error("`mean_distance` must be finite and >= 0");
      }
    }
  }
  if (!any) Rf_error("`weight` must have a positive entry");
  int *given = NULL;
  if (!Rf_isNull(cluster)) {
    given = api_labels(cluster, n, k);
    for (int i = 0; i < n; i++) {
      if (!(w[given[i]] > 0.0)) Rf_error("`cluster` refers to a cluster with weight 0");
    }
  }
  int met = api_metric(metric);
  int nth = api_threads(threads);
  const char *names[] = {"cluster", "distance", "distance_ratio"};
  SEXP out = PROTECT(cp_api_named_list(3, names));
  SEXP cl = PROTECT(Rf_allocVector(INTSXP, n));
  SEXP dist = PROTECT(Rf_allocVector(REALSXP, n));
  SEXP ratio = PROTECT(Rf_allocVector(REALSXP, n));
  int bad;
  double *rows = api_rows_malloc(x, n, m, &bad);
  if (rows && !bad && met == CP_METRIC_SHAPE) cp_znorm_rows(rows, n, m);
  int status = !rows ? CP_ERR_ALLOC : bad ? CP_ERR_INPUT
             : cp_soft_assign(rows, n, m, k, cen, w, md, met, given, nth, INTEGER(cl),
                              REAL(dist), REAL(ratio));
  free(rows);
  if (bad) Rf_error("`windows` must contain finite values only");
  cp_api_stop_status(status, "assignment");
  int *pc = INTEGER(cl);
  for (int i = 0; i < n; i++) pc[i] += 1;
  SET_VECTOR_ELT(out, 0, cl);
  SET_VECTOR_ELT(out, 1, dist);
  SET_VECTOR_ELT(out, 2, ratio);
  UNPROTECT(4);
  return out;
}

SEXP cp_pairdist_r(SEXP x, SEXP metric, SEXP threads) {
  int n, m;
  double *rows = api_rows(x, "windows", &n, &m);
  int met = api_metric(metric);
  int nth = api_threads(threads);
  if ((double)n * n > 2e8) {
    Rf_error("too many windows for pairwise distances (%d); use a sample", n);
  }
  if (met == CP_METRIC_SHAPE) cp_znorm_rows(rows, n, m);
  SEXP out = PROTECT(Rf_allocMatrix(REALSXP, n, n));
  int status = cp_pairdist(rows, n, m, met, nth, REAL(out));
  cp_api_stop_status(status, "pairwise distances");
  UNPROTECT(1);
  return out;
}

/* Silhouette widths from a symmetric distance matrix. */
SEXP cp_silhouette_r(SEXP d, SEXP cluster, SEXP k, SEXP threads) {
  if (!Rf_isReal(d) || !Rf_isMatrix(d) || Rf_nrows(d) != Rf_ncols(d) ||
      Rf_nrows(d) < 1) {
    Rf_error("`d` must be a square double matrix");
  }
  int n = Rf_nrows(d);
  const double *pd = REAL(d);
  for (R_xlen_t i = 0; i < (R_xlen_t)n * n; i++) {
    if (!R_FINITE(pd[i])) Rf_error("`d` must contain finite values only");
  }
  int kk = api_int(k, "k", 1);
  int *cl = api_labels(cluster, n, kk);
  int nth = api_threads(threads);
  SEXP out = PROTECT(Rf_allocVector(REALSXP, n));
  int status = cp_silhouette(pd, n, kk, cl, nth, REAL(out));
  cp_api_stop_status(status, "silhouette");
  double *po = REAL(out);
  for (int i = 0; i < n; i++) {
    if (ISNAN(po[i])) po[i] = NA_REAL;
  }
  UNPROTECT(1);
  return out;
}

SEXP cp_calinski_harabasz_r(SEXP x, SEXP cluster, SEXP k, SEXP metric) {
  int n, m;
  double *rows = api_rows(x, "windows", &n, &m);
  int kk = api_int(k, "k", 1);
  int *cl = api_labels(cluster, n, kk);
  if (api_metric(metric) == CP_METRIC_SHAPE) cp_znorm_rows(rows, n, m);
  double v;
  cp_api_stop_status(cp_calinski_harabasz(rows, n, m, kk, cl, &v), "Calinski-Harabasz index");
  return Rf_ScalarReal(ISNAN(v) ? NA_REAL : v);
}

SEXP cp_znorm_rows_r(SEXP x) {
  int n, m;
  double *rows = api_rows(x, "windows", &n, &m);
  cp_znorm_rows(rows, n, m);
  return api_matrix(rows, n, m);
}

/* Standardised squared distances of windows (n x m, read in place) to the rows of mean
 * and var (k x m) flagged in `use` (logical k): an n x k matrix, NA for the
 * rows not used (their mean and var are not read). */
SEXP cp_std_sqdist_r(SEXP x, SEXP mean, SEXP var, SEXP use, SEXP threads) {
  if (!Rf_isReal(x) || !Rf_isMatrix(x)) Rf_error("`windows` must be a double matrix");
  int n = Rf_nrows(x), m = Rf_ncols(x);
  if (n < 1 || m < 1) Rf_error("`windows` must have at least one row and one column");
  if (!Rf_isReal(mean) || !Rf_isMatrix(mean) || !Rf_isReal(var) || !Rf_isMatrix(var) ||
      Rf_ncols(mean) != m || Rf_ncols(var) != m || Rf_nrows(var) != Rf_nrows(mean))
    Rf_error("`mean` and `var` must be double matrices with %d columns", m);
  int k = Rf_nrows(mean);
  if (k < 1 || !Rf_isLogical(use) || Rf_xlength(use) != k)
    Rf_error("`use` must be a logical vector of length %d", k);
  const int *u = LOGICAL(use);
  int *flag = (int *)R_alloc((size_t)k, sizeof(int));
  double *mu = (double *)R_alloc((size_t)k * m, sizeof(double));
  double *va = (double *)R_alloc((size_t)k * m, sizeof(double));
  const double *pm = REAL(mean), *pv = REAL(var);
  for (int j = 0; j < k; j++) {
    flag[j] = u[j] == TRUE;
    for (int t = 0; t < m; t++) {
      mu[(size_t)j * m + t] = pm[(size_t)t * k + j];
      va[(size_t)j * m + t] = pv[(size_t)t * k + j];
    }
  }
  int nth = api_threads(threads);
  SEXP out = PROTECT(Rf_allocMatrix(REALSXP, n, k));
  double *po = REAL(out);
  int status = cp_std_sqdist(REAL(x), n, m, k, mu, va, flag, nth, po);
  cp_api_stop_status(status, "standardised distances");
  for (R_xlen_t i = 0; i < (R_xlen_t)n * k; i++) {
    if (ISNAN(po[i])) po[i] = NA_REAL;
  }
  UNPROTECT(1);
  return out;
}

/* Per-cluster weighted sums of the windows (n x m) and of their squares,
 * as rowsum(x * w, cluster) and rowsum(x^2 * w, cluster) compute them (each
 * term in double, rows in order): list(s1, s2) of k x m matrices, zero for
 * clusters without members. Reads the R matrix in place. */
SEXP cp_wsums_r(SEXP x, SEXP weights, SEXP cluster, SEXP k) {
  if (!Rf_isReal(x) || !Rf_isMatrix(x)) Rf_error("`windows` must be a double matrix");
  int n = Rf_nrows(x), m = Rf_ncols(x);
  int kk = api_int(k, "k", 1);
  const double *wt = api_weights(weights, n);
  if (!wt) Rf_error("`weights` must not be NULL");
  int *cl = api_labels(cluster, n, kk);
  const char *names[] = {"s1", "s2"};
  SEXP out = PROTECT(cp_api_named_list(2, names));
  SEXP s1 = PROTECT(Rf_allocMatrix(REALSXP, kk, m));
  SEXP s2 = PROTECT(Rf_allocMatrix(REALSXP, kk, m));
  double *p1 = REAL(s1), *p2 = REAL(s2);
  const double *px = REAL(x);
  memset(p1, 0, sizeof(double) * (size_t)kk * m);
  memset(p2, 0, sizeof(double) * (size_t)kk * m);
  for (int t = 0; t < m; t++) {
    const double *col = px + (size_t)t * n;
    double *c1 = p1 + (size_t)t * kk, *c2 = p2 + (size_t)t * kk;
    for (int i = 0; i < n; i++) {
      double v = col[i];
      c1[cl[i]] += v * wt[i];
      c2[cl[i]] += (v * v) * wt[i];
    }
  }
  SET_VECTOR_ELT(out, 0, s1);
  SET_VECTOR_ELT(out, 1, s2);
  UNPROTECT(3);
  return out;
}
