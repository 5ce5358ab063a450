/* .Call wrappers for the forward pass and receptive fields. */
#include <limits.h>
#include <string.h>
#include "api_decl.h"
#include "conv_fast.h"

#define CP_CHUNK 16

/* Copy a chunk of samples [nb][c][l] (C order) into an R array [n, c, l]
 * (column-major, sample fastest) at sample offset s0, in blocks of 8 time
 * steps: each source cache line is read once, and each destination column
 * gets nb consecutive writes (a plain element-by-element scatter with
 * stride n c cost about a fifth of the forward pass). */
static void chunk_to_r(const double *src, int nb, long c, long l, double *dst, long n, long s0,
                       int nt) {
  enum { TB = 8 };
  const long cl = c * l, nc = n * c;
  (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && c > 1)
#endif
  for (long cc = 0; cc < c; cc++) {
    for (long t0 = 0; t0 < l; t0 += TB) {
      const int tb = l - t0 < TB ? (int)(l - t0) : TB;
      double *d = dst + s0 + n * (cc + c * t0);
      const double *p = src + cc * l + t0;
      for (int s = 0; s < nb; s++) {
        const double *ps = p + (long)s * cl;
        for (int j = 0; j < tb; j++) d[s + nc * j] = ps[j];
      }
    }
  }
}

/* Gather samples [s0, s0 + nb) of an R array [n, c, l] into C order. */
void cp_api_gather(const double *x, long n, long c, long l, long s0, int nb, double *dst,
                   int nt) {
  (void)nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && nb > 1)
#endif
  for (int s = 0; s < nb; s++) {
    double *p = dst + (long)s * c * l;
    for (long cc = 0; cc < c; cc++)
      for (long t = 0; t < l; t++) p[cc * l + t] = x[s0 + s + n * (cc + c * t)];
  }
}

/* The arguments of a forward call: the network, n samples of x, the
 * requested nodes (checked, 0-based), the thread count, and one output
 * pointer per node (R_alloc). */
typedef struct {
  cp_net net;
  int n, n_req, nt, conv;
  const int *req;
  double **dst;
} fwd_call;

static void fwd_setup(fwd_call *f, SEXP spec, SEXP x, SEXP nodes, SEXP threads, SEXP conv) {
  cp_api_net(spec, &f->net);
  f->n = cp_api_samples(x, &f->net, "x");
  if (TYPEOF(nodes) != INTSXP) Rf_error("'nodes' must be integer");
  f->req = INTEGER(nodes);
  f->n_req = (int)Rf_xlength(nodes);
  for (int q = 0; q < f->n_req; q++)
    if (f->req[q] < 0 || f->req[q] >= f->net.n_nodes)
      Rf_error("node %ld out of range", (long)f->req[q] + 1);
  f->nt = cp_api_threads(threads);
  f->conv = cp_api_conv(conv);
  f->dst = (double **)R_alloc((size_t)(f->n_req > 0 ? f->n_req : 1), sizeof(double *));
}

/* Forward pass of all n samples of x (an R array [n, C, L]) in chunks,
 * writing the output of each requested node req[q] straight into dst[q],
 * an R array [n, C_j, L_j] in its final layout. */
static void forward_into(const fwd_call *f, SEXP x) {
  const cp_net *net = &f->net;
  const int n = f->n, chunk = n < CP_CHUNK * f->nt ? n : CP_CHUNK * f->nt;
  const long per_in = (long)net->c_in * net->l_in;
  double *xc = (double *)R_alloc((size_t)chunk * (size_t)per_in, sizeof(double));
  cp_work w;
  int st = cp_work_alloc(&w, net, chunk, NULL, f->nt);
  if (st == CP_OK) st = cp_work_conv_plans(&w, net, f->conv);
  for (int s0 = 0; st == CP_OK && s0 < n; s0 += chunk) {
    int nb = n - s0 < chunk ? n - s0 : chunk;
    cp_api_gather(REAL(x), n, net->c_in, net->l_in, s0, nb, xc, f->nt);
    st = cp_forward(net, xc, nb, CP_MODE_INFER, &w);
    for (int q = 0; st == CP_OK && q < f->n_req; q++) {
      const cp_layer *l = &net->L[f->req[q]];
      chunk_to_r(w.y[f->req[q]], nb, l->c_out, l->l_out, f->dst[q], n, s0, f->nt);
    }
    if (st == CP_OK && cp_interrupted()) st = CP_ERR_INTERRUPT;
  }
  cp_work_free(&w, net);
  cp_api_stop_status(st, "forward pass");
}

/* Forward pass of all samples of x, an R array [n, C, L]; returns a list
 * with one R array [n, C_j, L_j] (dim set) per requested node. */
SEXP cp_forward_r(SEXP spec, SEXP x, SEXP nodes, SEXP threads, SEXP conv) {
  fwd_call f;
  fwd_setup(&f, spec, x, nodes, threads, conv);
  SEXP out = PROTECT(Rf_allocVector(VECSXP, f.n_req));
  for (int q = 0; q < f.n_req; q++) {
    const cp_layer *l = &f.net.L[f.req[q]];
    R_xlen_t len = cp_api_len("forward pass", f.n, (double)cp_node_size(l), 0);
    SEXP a = Rf_allocVector(REALSXP, len);
    SET_VECTOR_ELT(out, q, a);
    SEXP dim = PROTECT(Rf_allocVector(INTSXP, 3));
    INTEGER(dim)[0] = f.n;
    INTEGER(dim)[1] = l->c_out;
    INTEGER(dim)[2] = l->l_out;
    Rf_setAttrib(a, R_DimSymbol, dim);
    UNPROTECT(1);
    f.dst[q] = REAL(a);
  }
  forward_into(&f, x);
  UNPROTECT(1);
  return out;
}

/* Activations in long format: a data frame with columns sample, layer (a
 * factor with levels `levels`, one per requested node), channel, position
 * (1-based) and value; the rows of each node in the order of its R array
 * [n, C_j, L_j] (sample fastest, then channel, then position), nodes one
 * after the other. The values are written straight into their column. */
SEXP cp_activations_long_r(SEXP spec, SEXP x, SEXP nodes, SEXP levels, SEXP threads,
                           SEXP conv) {
  fwd_call f;
  fwd_setup(&f, spec, x, nodes, threads, conv);
  const int n = f.n;
  if (TYPEOF(levels) != STRSXP || Rf_xlength(levels) != f.n_req)
    Rf_error("'levels' must be one name per node");
  R_xlen_t rows = 0;
  for (int q = 0; q < f.n_req; q++)
    rows += cp_api_len("activations", n, (double)cp_node_size(&f.net.L[f.req[q]]), INT_MAX);
  if (rows > INT_MAX) Rf_error("activations: too many rows for a data frame (%.0f)", (double)rows);

  static const char *names[] = {"sample", "layer", "channel", "position", "value", ""};
  SEXP out = PROTECT(Rf_mkNamed(VECSXP, names));
  for (int k = 0; k < 4; k++) SET_VECTOR_ELT(out, k, Rf_allocVector(INTSXP, rows));
  SET_VECTOR_ELT(out, 4, Rf_allocVector(REALSXP, rows));
  int *smp = INTEGER(VECTOR_ELT(out, 0)), *lay = INTEGER(VECTOR_ELT(out, 1));
  int *chn = INTEGER(VECTOR_ELT(out, 2)), *pos = INTEGER(VECTOR_ELT(out, 3));
  R_xlen_t r = 0;
  for (int q = 0; q < f.n_req; q++) {
    const cp_layer *l = &f.net.L[f.req[q]];
    f.dst[q] = REAL(VECTOR_ELT(out, 4)) + r;
    for (int t = 0; t < l->l_out; t++)
      for (int c = 0; c < l->c_out; c++)
        for (int s = 0; s < n; s++, r++) {
          smp[r] = s + 1;
          lay[r] = q + 1;
          chn[r] = c + 1;
          pos[r] = t + 1;
        }
  }
  SEXP lay_s = VECTOR_ELT(out, 1);
  Rf_setAttrib(lay_s, R_LevelsSymbol, levels);
  Rf_setAttrib(lay_s, R_ClassSymbol, Rf_mkString("factor"));
  SEXP rn = PROTECT(Rf_allocVector(INTSXP, 2));
  INTEGER(rn)[0] = NA_INTEGER;
  INTEGER(rn)[1] = -(int)rows;
  Rf_setAttrib(out, R_RowNamesSymbol, rn);
  Rf_setAttrib(out, R_ClassSymbol, Rf_mkString("data.frame"));
  forward_into(&f, x);
  UNPROTECT(2);
  return out;
}

/* Receptive fields: a double matrix n_nodes x 3 (jump, size, start);
 * size -1 for nodes without a time axis. */
SEXP cp_rf_r(SEXP spec) {
  cp_net net;
  cp_api_net(spec, &net);
  int n = net.n_nodes;
  long *buf = (long *)R_alloc(3 * (size_t)n, sizeof(long));
  cp_receptive_fields(&net, buf, buf + n, buf + 2 * n);
  SEXP out = PROTECT(Rf_allocMatrix(REALSXP, n, 3));
  double *o = REAL(out);
  for (long i = 0; i < 3L * n; i++) o[i] = (double)buf[i];
  UNPROTECT(1);
  return out;
}
