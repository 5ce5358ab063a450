/* Clustering kernels of cphap: k-means, k-Shape, self-organising map,
 * per-cluster statistics, soft assignment and validity indices.
 *
 * Plain C on raw pointers; no R headers. Windows are n x m, row-major
 * (window i occupies x[i*m .. i*m + m - 1]). Cluster labels are 0-based.
 * Every kernel returns a CP_* status code and is deterministic given its
 * seed: random streams are derived from (seed, restart or epoch), never from
 * thread ids, and every reduction runs in a fixed order, so results do not
 * depend on the number of threads. */
#ifndef CP_CLUSTER_H
#define CP_CLUSTER_H

#include "cp_common.h"

/* Distances between a window and a centroid. */
enum {
  CP_METRIC_EUCLID = 0, /* Euclidean distance */
  CP_METRIC_SHAPE = 1   /* sqrt(2 m SBD) on z-normalised windows (see below) */
};

/* Summary of a clustering run (the best restart). */
typedef struct {
  double objective; /* total within-cluster sum of squared distances */
  int iterations;   /* Lloyd / refinement iterations, or SOM epochs */
  int converged;    /* 1 when the assignments stopped changing */
  int restart;      /* 0-based index of the best restart */
  int moves;        /* Hartigan single-point moves (k-means only) */
} cp_cluster_info;

/* k-means: greedy k-means++ seeding, Lloyd iterations until no assignment
 * changes (at most max_iter), then Hartigan single-point moves until no move
 * lowers the objective; the best of n_start restarts is kept. Labels are
 * ordered by decreasing cluster size (ties: first appearance).
 * centers: k x m out; cluster: n out. Requires 1 <= k <= n. */
int cp_kmeans(const double *x, int n, int m, int k, int n_start, int max_iter,
              uint64_t seed, int threads, double *centers, int *cluster,
              cp_cluster_info *info);

/* Weighted k-means (weights > 0): weighted greedy k-means++ seeding (first
 * center drawn proportional to the weight, candidates proportional to
 * weight x squared distance), weighted Lloyd iterations until no label
 * changes (at most max_iter) and, when hartigan is non-zero, weighted
 * Hartigan moves; best of n_start restarts. init (k x m) or NULL: start
 * from these centers (one run, no seeding). With integer weights every step
 * equals plain k-means on rows repeated weight times. Labels are ordered by
 * decreasing total weight. */
int cp_kmeans_weighted(const double *x, const double *wt, int n, int m, int k,
                       int n_start, int max_iter, int hartigan,
                       const double *init, uint64_t seed, int threads,
                       double *centers, int *cluster, cp_cluster_info *info);

/* k-Shape (Paparrizos and Gravano 2015) on rows that are already
 * z-normalised (see cp_znorm_rows). Seeding: k-means++ style with
 * probability proportional to the shape-based distance; refinement:
 * assignment by SBD and shape extraction by the leading eigenvector of
 * Q' S Q (power iteration). centers come out z-normalised. */
int cp_kshape(const double *x, int n, int m, int k, int n_start, int max_iter,
              uint64_t seed, int threads, double *centers, int *cluster,
              cp_cluster_info *info);

/* Self-organising map on a rectangular xdim x ydim grid (unit u sits at
 * column u % xdim, row u / xdim). Online updates in a seeded random order,
 * Gaussian neighbourhood, learning rate and radius decaying linearly from
 * rate0 to rate1 and radius0 to radius1 over epochs * n steps.
 * codes: (xdim*ydim) x m out; bmu: n out (best matching unit). */
int cp_som(const double *x, int n, int m, int xdim, int ydim, int epochs,
           double rate0, double rate1, double radius0, double radius1,
           uint64_t seed, int threads, double *codes, int *bmu,
           cp_cluster_info *info);

/* In-place z-normalisation of every row (population sd, so that a
 * normalised row has squared norm m); constant rows become zeros. */
void cp_znorm_rows(double *x, int n, int m);

/* Shape-based distance SBD = 1 - max_w NCC_w(x, c) in [0, 2], by direct
 * cross-correlation; shift (may be NULL) receives w such that x[t + w]
 * aligns with c[t]. cc is scratch of length 2m - 1. A zero row gives 1. */
double cp_sbd(const double *x, double xnorm, const double *c, double cnorm,
              int m, int *shift, double *cc);

/* Per-cluster statistics of a partition with window weights wt (NULL: all
 * 1, frequency weights): size (windows), wsize (total weight), weighted
 * per-time mean and sd (denominator wsize - 1; 0 when wsize <= 1; NaN for
 * an empty cluster), distance of every window to its centroid, the
 * cluster's weighted mean member distance, isotropic variance = max(weighted
 * mean squared member distance / m, floor) and weight = wsize / total
 * weight. The floor is 1e-6 times the pooled within-cluster variance
 * (1e-12 times the total variance when that is zero, 1 when the data are
 * constant); it is returned in *var_floor. With integer weights everything
 * equals the statistics of the rows repeated weight times. */
int cp_cluster_stats(const double *x, const double *wt, int n, int m, int k,
                     const int *cluster, const double *centers, int metric,
                     int threads, int *size, double *wsize, double *mean,
                     double *sd, double *dist, double *mean_dist, double *var,
                     double *weight, double *var_floor);

/* Assignment of windows to fitted clusters: the given cluster, or (given
 * NULL) the nearest centroid among clusters with positive weight; distance
 * to that centroid and its ratio to the cluster's mean member distance (1
 * when both are 0, Inf when only the mean is 0). */
int cp_soft_assign(const double *x, int n, int m, int k, const double *centers,
                   const double *weight, const double *mean_dist, int metric,
                   const int *given, int threads, int *cluster, double *dist,
                   double *ratio);

/* Standardised squared distances sum_t (x_t - mu_jt)^2 / v_jt of the n
 * rows of x (n x m, column-major as R stores it) to the k rows of mu and var (k x m,
 * row-major) with use[j] non-zero (NaN for the others), into out (n x k,
 * column-major). Each term in double, the sum in time order in long double,
 * as R's colSums() of the same terms. */
int cp_std_sqdist(const double *x, int n, int m, int k, const double *mu,
                  const double *var, const int *use, int threads, double *out);

/* Pairwise distances between the n rows of x into d (n x n, symmetric,
 * zero diagonal). */
int cp_pairdist(const double *x, int n, int m, int metric, int threads,
                double *d);

/* Silhouette widths from a distance matrix (n x n): s_i = (b - a) / max(a, b),
 * 0 for members of single-member clusters. NaN for every window when fewer
 * than two clusters are non-empty. */
int cp_silhouette(const double *d, int n, int k, const int *cluster,
                  int threads, double *width);

/* Calinski-Harabasz index (Euclidean): [B / (k' - 1)] / [W / (n - k')] with
 * k' the non-empty clusters, into *out; NaN when k' < 2 or k' = n, Inf when
 * W = 0 < B. Returns CP_OK or CP_ERR_ALLOC. */
int cp_calinski_harabasz(const double *x, int n, int m, int k, const int *cluster,
                         double *out);

/* Squared Euclidean distance with four partial sums (fixed order). */
static inline double cp_sqdist(const double *a, const double *b, int m) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int t = 0;
  for (; t + 4 <= m; t += 4) {
    double d0 = a[t] - b[t], d1 = a[t + 1] - b[t + 1];
    double d2 = a[t + 2] - b[t + 2], d3 = a[t + 3] - b[t + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; t < m; t++) {
    double d = a[t] - b[t];
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

#endif
