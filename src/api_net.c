/* .Call wrappers for the forward pass and receptive fields. */
#include <string.h>
#include "api_decl.h"

#define CP_CHUNK 16

/* Copy a chunk of samples [nb][c][l] (C order) into an R array [n, c, l]
 * (column-major, sample fastest) at sample offset s0. */
static void chunk_to_r(const double *src, int nb, long c, long l, double *dst, long n, long s0) {
  for (int s = 0; s < nb; s++) {
    const double *p = src + (long)s * c * l;
    for (long cc = 0; cc < c; cc++)
      for (long t = 0; t < l; t++) dst[s0 + s + n * (cc + c * t)] = p[cc * l + t];
  }
}

/* Gather samples [s0, s0 + nb) of an R array [n, c, l] into C order. */
void cp_api_gather(const double *x, long n, long c, long l, long s0, int nb, double *dst) {
  for (int s = 0; s < nb; s++) {
    double *p = dst + (long)s * c * l;
    for (long cc = 0; cc < c; cc++)
      for (long t = 0; t < l; t++) p[cc * l + t] = x[s0 + s + n * (cc + c * t)];
  }
}

/* Forward pass of all samples of x, an R array [n, C, L]; returns a list
 * with one R array [n, C_j, L_j] (as a plain vector) per requested node. */
SEXP cp_forward_r(SEXP spec, SEXP x, SEXP nodes, SEXP threads) {
  cp_net net;
  cp_api_net(spec, &net);
  int n = cp_api_samples(x, &net, "x");
  if (TYPEOF(nodes) != INTSXP) Rf_error("'nodes' must be integer");
  int n_req = (int)Rf_xlength(nodes);
  const int *req = INTEGER(nodes);
  for (int q = 0; q < n_req; q++)
    if (req[q] < 0 || req[q] >= net.n_nodes) Rf_error("node %d out of range", req[q] + 1);
  int nt = cp_api_threads(threads);

  SEXP out = PROTECT(Rf_allocVector(VECSXP, n_req));
  double **dst = (double **)R_alloc((size_t)(n_req > 0 ? n_req : 1), sizeof(double *));
  for (int q = 0; q < n_req; q++) {
    R_xlen_t len = cp_api_len("forward pass", n, (double)cp_node_size(&net.L[req[q]]), 0);
    SET_VECTOR_ELT(out, q, Rf_allocVector(REALSXP, len));
    dst[q] = REAL(VECTOR_ELT(out, q));
  }
  int chunk = n < CP_CHUNK * nt ? n : CP_CHUNK * nt;
  const long per_in = (long)net.c_in * net.l_in;
  double *xc = (double *)R_alloc((size_t)chunk * (size_t)per_in, sizeof(double));
  cp_work w;
  int st = cp_work_alloc(&w, &net, chunk, NULL, nt);
  for (int s0 = 0; st == CP_OK && s0 < n; s0 += chunk) {
    int nb = n - s0 < chunk ? n - s0 : chunk;
    cp_api_gather(REAL(x), n, net.c_in, net.l_in, s0, nb, xc);
    st = cp_forward(&net, xc, nb, CP_MODE_INFER, &w);
    for (int q = 0; st == CP_OK && q < n_req; q++) {
      const cp_layer *l = &net.L[req[q]];
      chunk_to_r(w.y[req[q]], nb, l->c_out, l->l_out, dst[q], n, s0);
    }
    if (st == CP_OK && cp_interrupted()) st = CP_ERR_INTERRUPT;
  }
  cp_work_free(&w, &net);
  cp_api_stop_status(st, "forward pass");
  UNPROTECT(1);
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
