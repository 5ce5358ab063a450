/* .Call wrappers of the pattern framework: thresholds, highly activated
 * nodes, period windows. */
#include <limits.h>
#include <math.h>
#include <string.h>
#include "api_decl.h"
#include "patterns.h"
#include "thresholds.h"
#include "qkey.h"

#define CP_PAT_CHUNK 32

/* Node indices (0-based integer vector) checked against the net. */
static const int *api_nodes(SEXP nodes, const cp_net *net, int *n_req) {
  if (TYPEOF(nodes) != INTSXP) Rf_error("'nodes' must be integer");
  *n_req = (int)Rf_xlength(nodes);
  const int *req = INTEGER(nodes);
  for (int q = 0; q < *n_req; q++) {
    if (req[q] < 0 || req[q] >= net->n_nodes) Rf_error("node %ld out of range", (long)req[q] + 1);
    if (net->L[req[q]].l_out < 1) Rf_error("node %d has no time axis", req[q] + 1);
  }
  return req;
}

/* Fetch samples of an R array [n, C, L] (column-major) in C order. */
typedef struct {
  const double *x;
  long n, c, l;
  int nt;
} api_src;

static void api_fetch(void *ctx, int s0, int nb, double *dst) {
  const api_src *s = (const api_src *)ctx;
  cp_api_gather(s->x, s->n, s->c, s->l, s0, nb, dst, s->nt);
}

/* The selection counts a channel's values in 32 bits: fewer than 2^32 - 1
 * values per channel (n samples x positions), else an R error with a hint. */
static void api_check_values(const cp_net *net, const int *req, int n_req, int n,
                             const char *what, const char *hint) {
  for (int q = 0; q < n_req; q++) {
    double v = (double)n * net->L[req[q]].l_out;
    if (v >= 4294967295.0)
      Rf_error("too many activation values per channel%s (%.0f); %s", what, v, hint);
  }
}

static int api_chunk(int n, int nt) {
  int chunk = CP_PAT_CHUNK * nt;
  return n < chunk ? n : chunk;
}

/* Thresholds: list(threshold = double [sum C], passes = integer). */
SEXP cp_thresholds_r(SEXP spec, SEXP x, SEXP nodes, SEXP prob, SEXP threads, SEXP conv) {
  cp_net net;
  cp_api_net(spec, &net);
  int n = cp_api_samples(x, &net, "reference");
  int n_req;
  const int *req = api_nodes(nodes, &net, &n_req);
  double p = Rf_asReal(prob);
  if (!R_FINITE(p) || p < 0.0 || p > 1.0) Rf_error("'prob' must be in [0, 1]");
  api_check_values(&net, req, n_req, n, "", "use fewer reference samples or a chunk_size");
  R_xlen_t nch = 0;
  for (int q = 0; q < n_req; q++) nch += net.L[req[q]].c_out;
  int nt = cp_api_threads(threads), cm = cp_api_conv(conv);
  SEXP thr = PROTECT(Rf_allocVector(REALSXP, nch));
  int passes = 0;
  api_src src = {REAL(x), n, net.c_in, net.l_in, nt};
  int st = cp_thresholds(&net, api_fetch, &src, n, req, n_req, p, api_chunk(n, nt), nt, cm,
                         REAL(thr), &passes);
  cp_api_stop_status(st, "thresholds");
  const char *names[] = {"threshold", "passes"};
  SEXP out = PROTECT(cp_api_named_list(2, names));
  SET_VECTOR_ELT(out, 0, thr);
  SET_VECTOR_ELT(out, 1, Rf_ScalarInteger(passes));
  UNPROTECT(2);
  return out;
}

/* Highly activated nodes: list(sample, layer, channel, position, value),
 * indices 1-based (layer = position in `nodes`). */
SEXP cp_high_nodes_r(SEXP spec, SEXP x, SEXP nodes, SEXP thr, SEXP threads, SEXP conv) {
  cp_net net;
  cp_api_net(spec, &net);
  int n = cp_api_samples(x, &net, "x");
  int n_req;
  const int *req = api_nodes(nodes, &net, &n_req);
  R_xlen_t nch = 0;
  for (int q = 0; q < n_req; q++) nch += net.L[req[q]].c_out;
  if (TYPEOF(thr) != REALSXP || Rf_xlength(thr) != nch)
    Rf_error("'thresholds' must be a double vector of length %ld", (long)nch);
  int nt = cp_api_threads(threads), cm = cp_api_conv(conv);
  cp_nodes o;
  api_src src = {REAL(x), n, net.c_in, net.l_in, nt};
  int st = cp_high_nodes(&net, api_fetch, &src, n, req, n_req, REAL(thr), api_chunk(n, nt), nt,
                         cm, &o);
  if (st != CP_OK) {
    cp_nodes_free(&o);
    cp_api_stop_status(st, "highly activated nodes");
  }
  const char *names[] = {"sample", "layer", "channel", "position", "value"};
  SEXP out = PROTECT(Rf_allocVector(VECSXP, 5));
  SEXP nm = PROTECT(Rf_allocVector(STRSXP, 5));
  for (int i = 0; i < 5; i++) SET_STRING_ELT(nm, i, Rf_mkChar(names[i]));
  Rf_setAttrib(out, R_NamesSymbol, nm);
  /* An R allocation error below would leak o's buffers (only under memory
   * exhaustion, where R itself is about to fail). */
  SEXP cols[5];
  for (int i = 0; i < 4; i++) {
    cols[i] = Rf_allocVector(INTSXP, (R_xlen_t)o.n);
    SET_VECTOR_ELT(out, i, cols[i]);
  }
  cols[4] = Rf_allocVector(REALSXP, (R_xlen_t)o.n);
  SET_VECTOR_ELT(out, 4, cols[4]);
  int *cs = INTEGER(cols[0]), *cl = INTEGER(cols[1]), *cc = INTEGER(cols[2]),
      *cp = INTEGER(cols[3]);
  double *cv = REAL(cols[4]);
  for (long i = 0; i < o.n; i++) {
    cs[i] = o.sample[i] + 1;
    cl[i] = o.layer[i] + 1;
    cc[i] = o.channel[i] + 1;
    cp[i] = o.position[i] + 1;
    cv[i] = o.value[i];
  }
  cp_nodes_free(&o);
  UNPROTECT(2);
  return out;
}

/* Windows: x a double array [n, C, L] (dims c(n, C, L)); sample
 * and start 1-based integer vectors; len; channels 1-based. Returns a
 * numeric matrix nw x (length(channels) * len). */
SEXP cp_windows_r(SEXP x, SEXP dims, SEXP sample, SEXP start, SEXP len, SEXP channels,
                  SEXP threads) {
  if (TYPEOF(x) != REALSXP) Rf_error("'x' must be double");
  if (TYPEOF(dims) != INTSXP || Rf_xlength(dims) != 3) Rf_error("'dims' must be 3 integers");
  const int *d = INTEGER(dims);
  int n = d[0], C = d[1], L = d[2];
  if (n < 0 || C < 1 || L < 1 || (double)n * C * L != (double)Rf_xlength(x))
    Rf_error("'x' does not match 'dims'");
  if (TYPEOF(sample) != INTSXP || TYPEOF(start) != INTSXP ||
      Rf_xlength(sample) != Rf_xlength(start))
    Rf_error("'sample' and 'start' must be integer vectors of equal length");
  if (TYPEOF(channels) != INTSXP || Rf_xlength(channels) < 1 || Rf_xlength(channels) > INT_MAX)
    Rf_error("bad 'channels'");
  int m = Rf_asInteger(len);
  if (m == NA_INTEGER || m < 1 || m > L) Rf_error("'len' must be in 1..%d", L);
  R_xlen_t nw = Rf_xlength(sample);
  int nc = (int)Rf_xlength(channels);
  const int *s1 = INTEGER(sample), *t1 = INTEGER(start), *c1 = INTEGER(channels);
  int *s0 = (int *)R_alloc((size_t)(nw > 0 ? nw : 1), sizeof(int));
  int *t0 = (int *)R_alloc((size_t)(nw > 0 ? nw : 1), sizeof(int));
  int *c0 = (int *)R_alloc((size_t)nc, sizeof(int));
  for (R_xlen_t i = 0; i < nw; i++) {
    if (s1[i] == NA_INTEGER || s1[i] < 1 || s1[i] > n) Rf_error("sample out of range");
    if (t1[i] == NA_INTEGER || t1[i] < 1 || t1[i] + m - 1 > L) Rf_error("period outside the series");
    s0[i] = s1[i] - 1;
    t0[i] = t1[i] - 1;
  }
  for (int b = 0; b < nc; b++) {
    if (c1[b] == NA_INTEGER || c1[b] < 1 || c1[b] > C) Rf_error("channel out of range");
    c0[b] = c1[b] - 1;
  }
  cp_api_len("windows", (double)nw, (double)nc * m, 0);
  if (nw > INT_MAX) Rf_error("windows: result too large (%.0f windows; at most %d)", (double)nw, INT_MAX);
  R_xlen_t ncol = cp_api_len("windows", nc, m, INT_MAX);
  SEXP out = PROTECT(Rf_allocMatrix(REALSXP, (int)nw, (int)ncol));
  int st = cp_windows(REAL(x), n, C, L, s0, t0, (long)nw, m, c0, nc, cp_api_threads(threads),
                      REAL(out));
  cp_api_stop_status(st, "windows");
  UNPROTECT(1);
  return out;
}

/* One pass of the mergeable thresholds over the samples of x (thresholds.h).
 * targets: an integer matrix, one row per target, columns chan (0-based),
 * depth (0 to 3), collect (0/1) and the depth 16-bit digits of the prefix
 * (3 columns, most significant first). Returns a list with one element
 * per target: list(bins, counts) of the non-empty bins of the next digit
 * (bins 0-based, ascending), or the collected values (double). */
SEXP cp_qscan_r(SEXP spec, SEXP x, SEXP nodes, SEXP targets, SEXP threads, SEXP conv) {
  cp_net net;
  cp_api_net(spec, &net);
  int n = cp_api_samples(x, &net, "x");
  int n_req;
  const int *req = api_nodes(nodes, &net, &n_req);
  api_check_values(&net, req, n_req, n, " in one chunk", "use smaller chunks");
  SEXP dim = Rf_getAttrib(targets, R_DimSymbol);
  if (TYPEOF(targets) != INTSXP || Rf_length(dim) != 2 || INTEGER(dim)[1] != 6)
    Rf_error("'targets' must be an integer matrix with 6 columns");
  int n_t = INTEGER(dim)[0];
  const int *tm = INTEGER(targets);
  int nt = cp_api_threads(threads), cm = cp_api_conv(conv);
  cp_qtarget *t = (cp_qtarget *)R_alloc((size_t)(n_t > 0 ? n_t : 1), sizeof(cp_qtarget));
  memset(t, 0, sizeof(cp_qtarget) * (size_t)(n_t > 0 ? n_t : 1));
  for (int i = 0; i < n_t; i++) {
    t[i].chan = tm[i];
    t[i].depth = tm[i + n_t];
    t[i].collect = tm[i + 2 * n_t] != 0;
    if (t[i].depth < 0 || t[i].depth > 3) Rf_error("bad target depth");
    for (int d = 0; d < t[i].depth; d++) {
      int digit = tm[i + (3 + d) * n_t];
      if (digit < 0 || digit >= QBINS) Rf_error("bad target digit");
      t[i].prefix = (t[i].prefix << 16) | (uint64_t)digit;
    }
  }
  api_src src = {REAL(x), n, net.c_in, net.l_in, nt};
  int st = cp_qscan(&net, api_fetch, &src, n, req, n_req, t, n_t, api_chunk(n, nt), nt, cm);
  if (st != CP_OK) {
    cp_qtargets_free(t, n_t);
    cp_api_stop_status(st, "thresholds");
  }
  /* An R allocation error below would leak the targets' buffers (only under
   * memory exhaustion, where R itself is about to fail). */
  SEXP out = PROTECT(Rf_allocVector(VECSXP, n_t));
  for (int i = 0; i < n_t; i++) {
    if (t[i].collect) {
      SEXP v = Rf_allocVector(REALSXP, (R_xlen_t)t[i].nbuf);
      SET_VECTOR_ELT(out, i, v);
      if (t[i].nbuf > 0) memcpy(REAL(v), t[i].buf, sizeof(double) * (size_t)t[i].nbuf);
    } else {
      R_xlen_t nz = 0;
      for (long b = 0; b < QBINS; b++) nz += t[i].hist[b] != 0;
      SEXP h = Rf_allocVector(VECSXP, 2);
      SET_VECTOR_ELT(out, i, h);
      SEXP bins = Rf_allocVector(INTSXP, nz);
      SET_VECTOR_ELT(h, 0, bins);
      SEXP counts = Rf_allocVector(REALSXP, nz);
      SET_VECTOR_ELT(h, 1, counts);
      int *pb = INTEGER(bins);
      double *pc = REAL(counts);
      R_xlen_t j = 0;
      for (long b = 0; b < QBINS; b++) {
        if (t[i].hist[b] != 0) {
          pb[j] = (int)b;
          pc[j++] = (double)t[i].hist[b];
        }
      }
    }
  }
  cp_qtargets_free(t, n_t);
  UNPROTECT(1);
  return out;
}
