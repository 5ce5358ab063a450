/* Mergeable weighted k-means: one Lloyd step on a chunk of windows (see
 * cluster_dist.h). The assignment is the package's nearest-center search
 * (cp_soft_assign); this file only adds the per-chunk partial sums. */
#include <stdlib.h>
#include <string.h>
#include "cluster_internal.h"
#include "cluster_dist.h"

/* Keeps the nfar largest values seen so far in val (decreasing) with their
 * window in idx; windows arrive in increasing order, so on ties the earlier
 * window stays first. */
static void far_insert(int *idx, double *val, int *cnt, int nfar, int i,
                       double v) {
  int c = *cnt;
  if (nfar < 1 || (c == nfar && !(v > val[c - 1]))) return;
  int p = c < nfar ? c : nfar - 1;
  while (p > 0 && v > val[p - 1]) {
    val[p] = val[p - 1];
    idx[p] = idx[p - 1];
    p--;
  }
  val[p] = v;
  idx[p] = i;
  if (c < nfar) *cnt = c + 1;
}

int cp_kmeans_chunk_step(const double *x, const double *wt, int n, int m,
                         int k, int S, const double *cent, const int *prev,
                         int evaluate, int threads, int *lab, int *changed,
                         double *sums, double *wsum, int *count, double *obj,
                         int nfar, int *far_idx, double *far_val) {
  if (n < 1 || m < 1 || k < 1 || S < 1 || nfar < 0 || (evaluate && !prev)) {
    return CP_ERR_INPUT;
  }
  double *ones = malloc(sizeof(double) * (size_t)k);
  double *zeros = calloc((size_t)k, sizeof(double));
  double *dist = malloc(sizeof(double) * (size_t)n);
  double *ratio = malloc(sizeof(double) * (size_t)n);
  int status = CP_OK;
  if (!ones || !zeros || !dist || !ratio) {
    status = CP_ERR_ALLOC;
    goto done;
  }
  for (int j = 0; j < k; j++) ones[j] = 1.0;
  for (int s = 0; s < S && status == CP_OK; s++) {
    if (cp_interrupted()) {
      status = CP_ERR_INTERRUPT;
      break;
    }
    const double *c = cent + (size_t)s * k * m;
    const int *ps = prev ? prev + (size_t)s * n : NULL;
    int *ls = lab + (size_t)s * n;
    if (evaluate) {
      memcpy(ls, ps, sizeof(int) * (size_t)n);
    } else {
      /* every center counts (weight 1): nearest center, ties to the lower
       * index, exact squared distances */
      status = cp_soft_assign(x, n, m, k, c, ones, zeros, CP_METRIC_EUCLID,
                              NULL, threads, ls, dist, ratio);
      if (status != CP_OK) break;
    }
    double *sm = sums + (size_t)s * k * m, *ws = wsum + (size_t)s * k;
    int *cn = count + (size_t)s * k;
    int *fi = far_idx + (size_t)s * nfar;
    double *fv = far_val + (size_t)s * nfar;
    memset(sm, 0, sizeof(double) * (size_t)k * m);
    memset(ws, 0, sizeof(double) * (size_t)k);
    memset(cn, 0, sizeof(int) * (size_t)k);
    double o = 0.0;
    int ch = 0, nf = 0;
    for (int i = 0; i < n; i++) {
      const double *xi = x + (size_t)i * m;
      int j = ls[i];
      double v = wt[i], d2 = cp_sqdist(xi, c + (size_t)j * m, m);
      double *sj = sm + (size_t)j * m;
      for (int t = 0; t < m; t++) sj[t] += v * xi[t];
      ws[j] += v;
      cn[j]++;
      o += v * d2;
      ch += !ps || ps[i] != j;
      far_insert(fi, fv, &nf, nfar, i, v * d2);
    }
    for (int r = nf; r < nfar; r++) {
      fi[r] = -1;
      fv[r] = 0.0;
    }
    changed[s] = ch;
    obj[s] = o;
  }
done:
  free(ones);
  free(zeros);
  free(dist);
  free(ratio);
  return status;
}
