/* .Call wrapper for layer-wise relevance propagation (src/lrp.c). */
#include <string.h>
#include "api_decl.h"
#include "lrp.h"

/* Relevance of input points for a set of seeds ("jobs").
 * jobs:   integer matrix n_jobs x 6: sample, seed node, seed channel,
 *         pre-activation flag, filter node, filter channel (0-based, -1 = none);
 *         jobs of one sample must be consecutive.
 * pos:    double matrix [max seed length] x n_jobs: seed weight per position.
 * rules:  integer rule code per node (src/lrp.h).
 * params: c(epsilon, alpha, beta, kernels) (kernels: CP_K_* in lrp.h).
 * mc:     c(passes, seed_hi, seed_lo, input_rate, rate per node...); a rate
 *         of 0 means no dropout mask on that node.
 * keys:   NULL, or one key per sample of x (whole numbers >= 0): the
 *         sample's index in the whole data set, which keys its masks, so
 *         that any subset of the data draws the masks the whole set draws.
 * Returns list(mean, sd, q05, q95) of [job][channel][time] and the per-job
 * seeded relevance and conservation difference (means over passes). */
SEXP cp_relevance_r(SEXP spec, SEXP x, SEXP jobs, SEXP pos, SEXP rules, SEXP params,
                    SEXP mc, SEXP keys, SEXP threads) {
  cp_net net;
  cp_api_net(spec, &net);
  int n = cp_api_samples(x, &net, "x");
  const int nn = net.n_nodes;
  if (TYPEOF(jobs) != INTSXP || Rf_xlength(jobs) % 6 != 0) Rf_error("'jobs' must be an integer matrix with 6 columns");
  const int n_jobs = (int)(Rf_xlength(jobs) / 6);
  if (TYPEOF(pos) != REALSXP || n_jobs < 1 || Rf_xlength(pos) % n_jobs != 0)
    Rf_error("'pos' must be a double matrix with one column per job");
  const int pos_ld = (int)(Rf_xlength(pos) / n_jobs);
  if (TYPEOF(rules) != INTSXP || Rf_xlength(rules) != nn) Rf_error("'rules' must give one integer code per node");
  if (TYPEOF(params) != REALSXP || Rf_xlength(params) != 4)
    Rf_error("'params' must be c(epsilon, alpha, beta, kernels)");
  if (TYPEOF(mc) != REALSXP || Rf_xlength(mc) != 4 + nn) Rf_error("'mc' has the wrong length");
  const int *jb = INTEGER(jobs), *ru = INTEGER(rules);
  const double *pr = REAL(params), *m = REAL(mc);
  for (int j = 0; j < nn; j++)
    if (ru[j] < CP_R_PASS || ru[j] > CP_R_PROP) Rf_error("invalid rule code for node %d", j + 1);
  if (!(pr[0] >= 0.0) || !(pr[1] >= 0.0) || !(pr[2] >= 0.0)) Rf_error("invalid rule parameters");
  if (!(pr[3] == CP_K_AUTO || pr[3] == CP_K_PAIRS || pr[3] == CP_K_DENSE))
    Rf_error("invalid kernel choice");
  const int passes = (int)cp_api_whole(m[0], 1, 1e9, "passes");
  cp_api_whole(m[1], 0, 4294967295.0, "seed");
  cp_api_whole(m[2], 0, 4294967295.0, "seed");
  for (int j = 3; j < 4 + nn; j++)
    if (!(m[j] >= 0.0 && m[j] < 1.0)) Rf_error("dropout rates must lie in [0, 1)");
  cp_lrp_job *jv = (cp_lrp_job *)R_alloc((size_t)n_jobs, sizeof(cp_lrp_job));
  for (int q = 0; q < n_jobs; q++) {
    cp_lrp_job *J = &jv[q];
    J->sample = jb[q];
    J->seed_node = jb[q + n_jobs];
    J->seed_ch = jb[q + 2 * n_jobs];
    J->pre = jb[q + 3 * n_jobs];
    J->filter_node = jb[q + 4 * n_jobs];
    J->filter_ch = jb[q + 5 * n_jobs];
    if (J->sample < 0 || J->sample >= n) Rf_error("job %d: sample out of range", q + 1);
    if (J->seed_node < 0 || J->seed_node >= nn) Rf_error("job %d: seed node out of range", q + 1);
    const cp_layer *l = &net.L[J->seed_node];
    if (J->seed_ch < 0 || J->seed_ch >= l->c_out) Rf_error("job %d: seed channel out of range", q + 1);
    if (l->l_out > pos_ld) Rf_error("job %d: 'pos' is shorter than the seed node", q + 1);
    if (J->filter_node >= J->seed_node || J->filter_node < -1)
      Rf_error("job %d: the filter node must come before the seed node", q + 1);
    if (J->filter_node >= 0 &&
        (J->filter_ch < 0 || J->filter_ch >= net.L[J->filter_node].c_out))
      Rf_error("job %d: filter channel out of range", q + 1);
    if (q > 0 && J->sample != jv[q - 1].sample) {
      for (int r = 0; r < q - 1; r++)
        if (jv[r].sample == J->sample) Rf_error("jobs of one sample must be consecutive");
    }
  }
  uint64_t *kv = NULL;
  if (keys != R_NilValue) {
    if (TYPEOF(keys) != REALSXP || Rf_xlength(keys) != n)
      Rf_error("'keys' must be NULL or a double vector with one key per sample");
    kv = (uint64_t *)R_alloc((size_t)n, sizeof(uint64_t));
    const double *kd = REAL(keys);
    for (int s = 0; s < n; s++) kv[s] = (uint64_t)cp_api_whole(kd[s], 0, 4503599627370496.0, "key");
  }
  int nt = cp_api_threads(threads);
  uint64_t seed = ((uint64_t)m[1] << 32) ^ (uint64_t)m[2];

  int *has_mask = (int *)R_alloc((size_t)nn, sizeof(int));
  for (int j = 0; j < nn; j++) has_mask[j] = m[4 + j] > 0.0;
  const long CL = (long)net.c_in * net.l_in;
  const R_xlen_t len = cp_api_len("relevance", n_jobs, (double)CL, 0);
  const char *names[] = {"mean", "sd", "q05", "q95", "seeded", "conservation", ""};
  SEXP out = PROTECT(Rf_mkNamed(VECSXP, names));
  for (int k = 0; k < 4; k++) SET_VECTOR_ELT(out, k, Rf_allocVector(REALSXP, len));
  SET_VECTOR_ELT(out, 4, Rf_allocVector(REALSXP, n_jobs));
  SET_VECTOR_ELT(out, 5, Rf_allocVector(REALSXP, n_jobs));
  /* the plan holds malloc'd memory: no R allocation until it is freed */
  cp_lrp_plan plan;
  int st = cp_lrp_plan_init(&plan, &net, ru, pr[0], pr[1], pr[2], has_mask);
  plan.kernels = (int)pr[3];
  if (st == CP_OK)
    st = cp_relevance(&net, &plan, REAL(x), n_jobs, jv, REAL(pos), pos_ld, passes, m + 4, m[3],
                    seed, kv, nt, REAL(VECTOR_ELT(out, 0)), REAL(VECTOR_ELT(out, 1)),
                    REAL(VECTOR_ELT(out, 2)), REAL(VECTOR_ELT(out, 3)),
                    REAL(VECTOR_ELT(out, 4)), REAL(VECTOR_ELT(out, 5)));
  cp_lrp_plan_free(&plan);
  cp_api_stop_status(st, "relevance");
  UNPROTECT(1);
  return out;
}
