/* Self-organising map with online updates. See cluster.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cluster_internal.h"

/* Neighbourhood weights below exp(-SOM_CUTOFF) are treated as zero. */
#define SOM_CUTOFF 18.420680743952367 /* -log(1e-8) */

static int som_nearest(const double *xi, const double *codes, int units, int m,
                       double *dbest) {
  int best = 0;
  double bd = cp_sqdist(xi, codes, m);
  for (int u = 1; u < units; u++) {
    double d = cp_sqdist_bounded(xi, codes + (size_t)u * m, m, bd);
    if (d < bd) {
      bd = d;
      best = u;
    }
  }
  if (dbest) *dbest = bd;
  return best;
}

/* Fisher-Yates shuffle of 0 .. n-1 into perm. */
static void som_shuffle(int *perm, int n, cp_rng *rng) {
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)cp_rng_int(rng, (uint64_t)i + 1);
    int t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
}

int cp_som(const double *x, int n, int m, int xdim, int ydim, int epochs,
           double rate0, double rate1, double radius0, double radius1,
           uint64_t seed, int threads, double *codes, int *bmu,
           cp_cluster_info *info) {
  if (n < 1 || m < 1 || xdim < 1 || ydim < 1 || epochs < 1) return CP_ERR_INPUT;
  int units = xdim * ydim;
  int nth = threads < 1 ? 1 : threads;
  int *perm = malloc(sizeof(int) * (size_t)n);
  double *d2 = malloc(sizeof(double) * (size_t)n);
  if (!perm || !d2) {
    free(perm);
    free(d2);
    return CP_ERR_ALLOC;
  }
  int status = CP_OK;
  /* initial prototypes: distinct random windows (with repetition only when
   * there are fewer windows than units) */
  cp_rng rng;
  cp_rng_init(&rng, seed, 0);
  for (int i = 0; i < n; i++) perm[i] = i;
  for (int u = 0; u < units; u++) {
    int src;
    if (u < n) {
      int j = u + (int)cp_rng_int(&rng, (uint64_t)(n - u));
      int t = perm[u];
      perm[u] = perm[j];
      perm[j] = t;
      src = perm[u];
    } else {
      src = (int)cp_rng_int(&rng, (uint64_t)n);
    }
    memcpy(codes + (size_t)u * m, x + (size_t)src * m, sizeof(double) * m);
  }
  double total = (double)epochs * n;
  double step = 0.0;
  for (int e = 0; e < epochs; e++) {
    cp_rng_init(&rng, seed, (uint64_t)e + 1);
    som_shuffle(perm, n, &rng);
    for (int a = 0; a < n; a++) {
      const double *xi = x + (size_t)perm[a] * m;
      double frac = step / total;
      double alpha = rate0 + (rate1 - rate0) * frac;
      double rad = radius0 + (radius1 - radius0) * frac;
      int b = som_nearest(xi, codes, units, m, NULL);
      int bx = b % xdim, by = b / xdim;
      double inv = rad > 0.0 ? 1.0 / (2.0 * rad * rad) : INFINITY;
      for (int u = 0; u < units; u++) {
        int dx = u % xdim - bx, dy = u / xdim - by;
        double g = (double)(dx * dx + dy * dy);
        double arg = u == b ? 0.0 : g * inv;
        if (arg > SOM_CUTOFF) continue;
        double h = alpha * exp(-arg);
        double *c = codes + (size_t)u * m;
        for (int t = 0; t < m; t++) c[t] += h * (xi[t] - c[t]);
      }
      step += 1.0;
      if ((a & 1023) == 1023 && cp_interrupted()) {
        status = CP_ERR_INTERRUPT;
        goto done;
      }
    }
  }
  int par = (double)n * m * units > CP_PAR_MIN_WORK && nth > 1;
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (par)
#endif
  for (int i = 0; i < n; i++) {
    bmu[i] = som_nearest(x + (size_t)i * m, codes, units, m, d2 + i);
  }
  double obj = 0.0;
  for (int i = 0; i < n; i++) obj += d2[i];
  if (!isfinite(obj)) status = CP_ERR_NUMERIC;
  info->objective = obj;
  info->iterations = epochs;
  info->converged = 1;
  info->restart = 0;
  info->moves = 0;
done:
  free(perm);
  free(d2);
  return status;
}
