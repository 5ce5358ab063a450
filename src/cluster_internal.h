/* Helpers shared by the clustering kernels (cluster*.c). Not part of the
 * kernel interface; no R headers. */
#ifndef CP_CLUSTER_INTERNAL_H
#define CP_CLUSTER_INTERNAL_H

#include <math.h>
#include <string.h>
#include "cluster.h"

#ifdef _OPENMP
#include <omp.h>
#define CP_THREAD_ID() omp_get_thread_num()
#else
#define CP_THREAD_ID() 0
#endif

/* Work below which a loop runs on one thread (multiply-adds, about 2 ms):
 * short parallel regions cost more than they save on a busy machine. */
#define CP_PAR_MIN_WORK 4e6

/* Squared Euclidean distance that may stop early: the result is exact
 * (bit-identical to cp_sqdist) when it is <= bound, and some value > bound
 * otherwise. */
static inline double cp_sqdist_bounded(const double *a, const double *b,
                                       int m, double bound) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int t = 0;
  while (t + 4 <= m) {
    int stop = t + 32 <= m ? t + 32 : m - (m - t) % 4;
    for (; t < stop; t += 4) {
      double d0 = a[t] - b[t], d1 = a[t + 1] - b[t + 1];
      double d2 = a[t + 2] - b[t + 2], d3 = a[t + 3] - b[t + 3];
      s0 += d0 * d0;
      s1 += d1 * d1;
      s2 += d2 * d2;
      s3 += d3 * d3;
    }
    if ((s0 + s1) + (s2 + s3) > bound) return (s0 + s1) + (s2 + s3);
  }
  for (; t < m; t++) {
    double d = a[t] - b[t];
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

/* Euclidean norm of a row (four partial sums). */
static inline double cp_rownorm(const double *a, int m) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int t = 0;
  for (; t + 4 <= m; t += 4) {
    s0 += a[t] * a[t];
    s1 += a[t + 1] * a[t + 1];
    s2 += a[t + 2] * a[t + 2];
    s3 += a[t + 3] * a[t + 3];
  }
  for (; t < m; t++) s0 += a[t] * a[t];
  return sqrt((s0 + s1) + (s2 + s3));
}

/* Shape-based distance engine: direct cross-correlation for short windows,
 * FFT (length len, a power of two >= 2m - 1) when its cost estimate is lower
 * (from m = 64 on, depending on the padding). */
typedef struct {
  int m, len;        /* window length; FFT length, 0 for direct */
  double *cos_tab;   /* len / 2 */
  double *sin_tab;   /* len / 2 */
  int *rev;          /* len: bit reversal */
} cp_sbd_plan;

int cp_sbd_plan_init(cp_sbd_plan *p, int m);
void cp_sbd_plan_free(cp_sbd_plan *p);
/* doubles per spectrum (0 for direct) and per work buffer */
size_t cp_sbd_spec_len(const cp_sbd_plan *p);
size_t cp_sbd_work_len(const cp_sbd_plan *p);
/* spectrum of a zero-padded window (nothing for direct) */
void cp_sbd_spectrum(const cp_sbd_plan *p, const double *x, double *spec);
/* SBD (and shifts, may be NULL) of window x (norm xnorm) to k centers
 * (rows of cent, spectra in cspec, norms cnorm); work: cp_sbd_work_len. */
void cp_sbd_row(const cp_sbd_plan *p, const double *x, double xnorm,
                const double *cent, const double *cspec, const double *cnorm,
                int k, double *sbd, int *shift, double *work);

/* Total sum of squares around the per-time means (x: n x m, row-major). */
double cp_total_ss(const double *x, int n, int m);

/* Relabel a partition so that labels run by decreasing cluster size, the
 * total weight wt of the members (NULL: their number; ties: first
 * appearance); centers (k x m) are permuted to match. Returns a status. */
int cp_cluster_relabel(int n, int m, int k, const double *wt, int *cluster,
                       double *centers);

/* Index drawn with probability proportional to v (v >= 0, sum total > 0);
 * entries of 0 are never drawn. */
static inline int cp_draw_index(const double *v, int n, double total, cp_rng *rng) {
  double u = cp_rng_unif(rng) * total, acc = 0.0;
  int last = -1;
  for (int i = 0; i < n; i++) {
    if (v[i] > 0.0) {
      acc += v[i];
      last = i;
      if (acc > u) return i;
    }
  }
  return last;
}

/* Keep restart r as the best so far: copy its centers (k x m) and labels
 * (n) and fill *info. */
static inline void cp_keep_restart(const double *cent, const int *cl, int n,
                                   int m, int k, double obj, int iter, int conv,
                                   int r, int moves, double *centers,
                                   int *cluster, cp_cluster_info *info) {
  memcpy(centers, cent, sizeof(double) * (size_t)k * m);
  memcpy(cluster, cl, sizeof(int) * (size_t)n);
  info->objective = obj;
  info->iterations = iter;
  info->converged = conv;
  info->restart = r;
  info->moves = moves;
}

/* Exact cluster means and sizes of a partition (sequential, fixed order);
 * empty clusters keep their previous center. */
void cp_cluster_means(const double *x, int n, int m, int k, const int *cluster,
                      double *centers, int *size);

#endif
