/* Helpers and statistics shared by all clustering methods: per-cluster
 * patterns, soft assignment, validity indices. See cluster.h. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cluster_internal.h"

/* ------------------------------------------------------------------------ */
/* Shared helpers                                                            */

void cp_znorm_rows(double *x, int n, int m) {
  for (int i = 0; i < n; i++) {
    double *xi = x + (size_t)i * m;
    double mu = 0.0;
    for (int t = 0; t < m; t++) mu += xi[t];
    mu /= m;
    double ss = 0.0;
    for (int t = 0; t < m; t++) ss += (xi[t] - mu) * (xi[t] - mu);
    double sd = sqrt(ss / m);
    /* a row whose spread is rounding noise around its mean counts as constant */
    if (!(sd > 1e-12 * (fabs(mu) + DBL_MIN))) {
      for (int t = 0; t < m; t++) xi[t] = 0.0;
    } else {
      for (int t = 0; t < m; t++) xi[t] = (xi[t] - mu) / sd;
    }
  }
}

void cp_cluster_means(const double *x, int n, int m, int k, const int *cluster,
                      double *centers, int *size) {
  for (int j = 0; j < k; j++) size[j] = 0;
  for (int i = 0; i < n; i++) size[cluster[i]]++;
  for (int j = 0; j < k; j++) {
    if (size[j] > 0) memset(centers + (size_t)j * m, 0, sizeof(double) * m);
  }
  for (int i = 0; i < n; i++) {
    const double *xi = x + (size_t)i * m;
    double *c = centers + (size_t)cluster[i] * m;
    for (int t = 0; t < m; t++) c[t] += xi[t];
  }
  for (int j = 0; j < k; j++) {
    if (size[j] == 0) continue;
    double *c = centers + (size_t)j * m;
    double inv = 1.0 / size[j];
    for (int t = 0; t < m; t++) c[t] *= inv;
  }
}

/* Total sum of squares of the rows of x (n x m, row-major) around the
 * per-time means. */
double cp_total_ss(const double *x, int n, int m) {
  double total = 0.0;
  for (int t = 0; t < m; t++) {
    double mu = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++) mu += x[(size_t)i * m + t];
    mu /= n;
    for (int i = 0; i < n; i++) {
      double d = x[(size_t)i * m + t] - mu;
      ss += d * d;
    }
    total += ss;
  }
  return total;
}

int cp_cluster_relabel(int n, int m, int k, const double *wt, int *cluster,
                       double *centers) {
  double *size = calloc((size_t)k, sizeof(double));
  int *first = malloc(sizeof(int) * (size_t)k);
  int *order = malloc(sizeof(int) * (size_t)k);
  int *newlab = malloc(sizeof(int) * (size_t)k);
  double *tmp = malloc(sizeof(double) * (size_t)k * m);
  int status = CP_OK;
  if (!size || !first || !order || !newlab || !tmp) {
    status = CP_ERR_ALLOC;
    goto done;
  }
  for (int j = 0; j < k; j++) first[j] = n;
  for (int i = 0; i < n; i++) {
    int j = cluster[i];
    if (first[j] == n) first[j] = i;
    size[j] += wt ? wt[i] : 1.0;
  }
  /* insertion sort of labels: larger size first, then earlier appearance */
  for (int j = 0; j < k; j++) {
    int a = j, p = j;
    while (p > 0) {
      int b = order[p - 1];
      if (size[b] > size[a] || (size[b] == size[a] && first[b] < first[a])) break;
      order[p] = b;
      p--;
    }
    order[p] = a;
  }
  for (int r = 0; r < k; r++) newlab[order[r]] = r;
  for (int i = 0; i < n; i++) cluster[i] = newlab[cluster[i]];
  memcpy(tmp, centers, sizeof(double) * (size_t)k * m);
  for (int r = 0; r < k; r++) {
    memcpy(centers + (size_t)r * m, tmp + (size_t)order[r] * m, sizeof(double) * m);
  }
done:
  free(size);
  free(first);
  free(order);
  free(newlab);
  free(tmp);
  return status;
}

/* ------------------------------------------------------------------------ */
/* Distances to centers, statistics, soft assignment                        */

/* Distances from windows to a set of centers (rows), Euclidean or shape;
 * for the shape metric the norms and, with an FFT plan, the spectra of the
 * centers are computed once. */
typedef struct {
  int metric, m, k;
  const double *cent;
  double *cnorm, *cspec, *work;
  size_t speclen, worklen;
  cp_sbd_plan plan;
} dist_ctx;

static void ctx_free(dist_ctx *c) {
  free(c->cnorm);
  free(c->cspec);
  free(c->work);
  cp_sbd_plan_free(&c->plan);
}

static int ctx_init(dist_ctx *c, const double *cent, int k, int m, int metric,
                    int threads) {
  memset(c, 0, sizeof(*c));
  c->metric = metric;
  c->m = m;
  c->k = k;
  c->cent = cent;
  if (metric != CP_METRIC_SHAPE) return CP_OK;
  int status = cp_sbd_plan_init(&c->plan, m);
  if (status != CP_OK) return status;
  c->speclen = cp_sbd_spec_len(&c->plan);
  c->worklen = cp_sbd_work_len(&c->plan);
  c->cnorm = malloc(sizeof(double) * (size_t)k);
  c->cspec = malloc(sizeof(double) * ((size_t)k * c->speclen + 1));
  c->work = malloc(sizeof(double) * (size_t)threads * c->worklen);
  if (!c->cnorm || !c->cspec || !c->work) {
    ctx_free(c);
    return CP_ERR_ALLOC;
  }
  for (int j = 0; j < k; j++) {
    c->cnorm[j] = cp_rownorm(cent + (size_t)j * m, m);
    cp_sbd_spectrum(&c->plan, cent + (size_t)j * m, c->cspec + (size_t)j * c->speclen);
  }
  return CP_OK;
}

/* Squared distances of window x to centers j0 .. j0 + cnt - 1 into d2
 * (shape: 2 m SBD); tid selects the scratch of the calling thread. */
static void ctx_sqdists(const dist_ctx *c, const double *x, int j0, int cnt,
                        double *d2, int tid) {
  int m = c->m;
  if (c->metric != CP_METRIC_SHAPE) {
    for (int j = 0; j < cnt; j++) d2[j] = cp_sqdist(x, c->cent + (size_t)(j0 + j) * m, m);
    return;
  }
  cp_sbd_row(&c->plan, x, cp_rownorm(x, m), c->cent + (size_t)j0 * m,
             c->cspec + (size_t)j0 * c->speclen, c->cnorm + j0, cnt, d2, NULL,
             c->work + (size_t)tid * c->worklen);
  for (int j = 0; j < cnt; j++) d2[j] *= 2.0 * m;
}

int cp_cluster_stats(const double *x, const double *wt, int n, int m, int k,
                     const int *cluster, const double *centers, int metric,
                     int threads, int *size, double *wsize, double *mean,
                     double *sd, double *dist, double *mean_dist, double *var,
                     double *weight, double *var_floor) {
  if (n < 1 || m < 1 || k < 1) return CP_ERR_INPUT;
  int nth = threads < 1 ? 1 : threads;
  double *d2 = malloc(sizeof(double) * (size_t)n);
  dist_ctx ctx;
  int status = ctx_init(&ctx, centers, k, m, metric, nth);
  if (status != CP_OK || !d2) {
    free(d2);
    if (status == CP_OK) ctx_free(&ctx);
    return CP_ERR_ALLOC;
  }
  double work = (double)n * m * (metric == CP_METRIC_SHAPE ? m : 1);
  int par = work > CP_PAR_MIN_WORK && nth > 1;
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (par)
#endif
  for (int i = 0; i < n; i++) {
    ctx_sqdists(&ctx, x + (size_t)i * m, cluster[i], 1, d2 + i, CP_THREAD_ID());
    dist[i] = sqrt(d2[i]);
  }
  /* per-time mean and sd (two passes), distances per cluster */
  for (int j = 0; j < k; j++) {
    size[j] = 0;
    wsize[j] = 0.0;
    mean_dist[j] = 0.0;
    var[j] = 0.0;
  }
  memset(mean, 0, sizeof(double) * (size_t)k * m);
  memset(sd, 0, sizeof(double) * (size_t)k * m);
  double wtot = 0.0, within = 0.0;
  for (int i = 0; i < n; i++) {
    int j = cluster[i];
    double v = wt ? wt[i] : 1.0;
    size[j]++;
    wsize[j] += v;
    wtot += v;
    mean_dist[j] += v * dist[i];
    var[j] += v * d2[i];
    within += v * d2[i];
    const double *xi = x + (size_t)i * m;
    double *mu = mean + (size_t)j * m;
    for (int t = 0; t < m; t++) mu[t] += v * xi[t];
  }
  for (int j = 0; j < k; j++) {
    double *mu = mean + (size_t)j * m;
    for (int t = 0; t < m; t++) mu[t] = size[j] > 0 ? mu[t] / wsize[j] : NAN;
  }
  for (int i = 0; i < n; i++) {
    int j = cluster[i];
    double v = wt ? wt[i] : 1.0;
    const double *xi = x + (size_t)i * m;
    const double *mu = mean + (size_t)j * m;
    double *s = sd + (size_t)j * m;
    for (int t = 0; t < m; t++) s[t] += v * (xi[t] - mu[t]) * (xi[t] - mu[t]);
  }
  for (int j = 0; j < k; j++) {
    double *s = sd + (size_t)j * m;
    for (int t = 0; t < m; t++) {
      s[t] = size[j] == 0 ? NAN : (wsize[j] > 1.0 ? sqrt(s[t] / (wsize[j] - 1.0)) : 0.0);
    }
  }
  /* variance floor */
  double floor_v = 1e-6 * within / (wtot * m);
  if (!(floor_v > 0.0)) {
    floor_v = 1e-12 * cp_total_ss(x, n, m) / ((double)n * m);
    if (!(floor_v > 0.0)) floor_v = 1.0;
  }
  *var_floor = floor_v;
  for (int j = 0; j < k; j++) {
    if (size[j] > 0) {
      mean_dist[j] /= wsize[j];
      double v = var[j] / wsize[j] / m;
      var[j] = v > floor_v ? v : floor_v;
    } else {
      mean_dist[j] = NAN;
      var[j] = floor_v;
    }
    weight[j] = wsize[j] / wtot;
  }
  ctx_free(&ctx);
  free(d2);
  return CP_OK;
}

int cp_soft_assign(const double *x, int n, int m, int k, const double *centers,
                   const double *weight, const double *mean_dist, int metric,
                   const int *given, int threads, int *cluster, double *dist,
                   double *ratio) {
  if (n < 0 || m < 1 || k < 1) return CP_ERR_INPUT;
  int nth = threads < 1 ? 1 : threads;
  int keff = 0;
  for (int j = 0; j < k; j++) keff += weight[j] > 0.0;
  if (keff == 0) return CP_ERR_INPUT;
  double *dd = malloc(sizeof(double) * (size_t)nth * k);
  dist_ctx ctx;
  int status = ctx_init(&ctx, centers, k, m, metric, nth);
  if (status != CP_OK || !dd) {
    free(dd);
    if (status == CP_OK) ctx_free(&ctx);
    return CP_ERR_ALLOC;
  }
  double work = (double)n * m * k * (metric == CP_METRIC_SHAPE ? m : 1);
  int par = work > CP_PAR_MIN_WORK && nth > 1;
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (par)
#endif
  for (int i = 0; i < n; i++) {
    int tid = CP_THREAD_ID();
    double *d2 = dd + (size_t)tid * k;
    int a = given ? given[i] : -1;
    if (a < 0) {
      ctx_sqdists(&ctx, x + (size_t)i * m, 0, k, d2, tid);
      for (int j = 0; j < k; j++) {
        if (weight[j] > 0.0 && (a < 0 || d2[j] < d2[a])) a = j;
      }
    } else {
      ctx_sqdists(&ctx, x + (size_t)i * m, a, 1, d2 + a, tid);
    }
    cluster[i] = a;
    dist[i] = sqrt(d2[a]);
    double md = mean_dist[a];
    if (md > 0.0) {
      ratio[i] = dist[i] / md;
    } else {
      ratio[i] = dist[i] == 0.0 ? 1.0 : INFINITY;
    }
  }
  ctx_free(&ctx);
  free(dd);
  return CP_OK;
}

/* ------------------------------------------------------------------------ */
/* Validity indices                                                          */

int cp_pairdist(const double *x, int n, int m, int metric, int threads,
                double *d) {
  if (n < 1 || m < 1) return CP_ERR_INPUT;
  int nth = threads < 1 ? 1 : threads;
  double *row = malloc(sizeof(double) * (size_t)nth * n);
  dist_ctx ctx;
  int status = ctx_init(&ctx, x, n, m, metric, nth);
  if (status != CP_OK || !row) {
    free(row);
    if (status == CP_OK) ctx_free(&ctx);
    return CP_ERR_ALLOC;
  }
  double work = 0.5 * n * (double)n * m * (metric == CP_METRIC_SHAPE ? m : 1);
  int par = work > CP_PAR_MIN_WORK && nth > 1;
  (void)par;
  /* rows in blocks so the main thread can check for interrupts between them */
  int block = 64;
  for (int i0 = 0; i0 < n && status == CP_OK; i0 += block) {
    int i1 = i0 + block < n ? i0 + block : n;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1) if (par)
#endif
    for (int i = i0; i < i1; i++) {
      int tid = CP_THREAD_ID();
      double *buf = row + (size_t)tid * n;
      d[(size_t)i * n + i] = 0.0;
      if (i + 1 >= n) continue;
      ctx_sqdists(&ctx, x + (size_t)i * m, i + 1, n - i - 1, buf, tid);
      for (int j = i + 1; j < n; j++) {
        double v = sqrt(buf[j - i - 1]);
        d[(size_t)i * n + j] = v;
        d[(size_t)j * n + i] = v;
      }
    }
    if (cp_interrupted()) status = CP_ERR_INTERRUPT;
  }
  ctx_free(&ctx);
  free(row);
  return status;
}

int cp_silhouette(const double *d, int n, int k, const int *cluster,
                  int threads, double *width) {
  if (n < 1 || k < 1) return CP_ERR_INPUT;
  int nth = threads < 1 ? 1 : threads;
  int *size = calloc((size_t)k, sizeof(int));
  double *sums = malloc(sizeof(double) * (size_t)nth * k);
  if (!size || !sums) {
    free(size);
    free(sums);
    return CP_ERR_ALLOC;
  }
  for (int i = 0; i < n; i++) size[cluster[i]]++;
  int nonempty = 0;
  for (int j = 0; j < k; j++) nonempty += size[j] > 0;
  if (nonempty < 2) {
    for (int i = 0; i < n; i++) width[i] = NAN;
  } else {
    int par = (double)n * n > CP_PAR_MIN_WORK && nth > 1;
    (void)par;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (par)
#endif
    for (int i = 0; i < n; i++) {
      double *s = sums + (size_t)CP_THREAD_ID() * k;
      for (int j = 0; j < k; j++) s[j] = 0.0;
      const double *di = d + (size_t)i * n;
      for (int l = 0; l < n; l++) s[cluster[l]] += di[l];
      int own = cluster[i];
      if (size[own] == 1) {
        width[i] = 0.0;
        continue;
      }
      double a = s[own] / (size[own] - 1.0);
      double b = INFINITY;
      for (int j = 0; j < k; j++) {
        if (j == own || size[j] == 0) continue;
        double v = s[j] / size[j];
        if (v < b) b = v;
      }
      double mx = a > b ? a : b;
      width[i] = mx > 0.0 ? (b - a) / mx : 0.0;
    }
  }
  free(size);
  free(sums);
  return CP_OK;
}

int cp_calinski_harabasz(const double *x, int n, int m, int k, const int *cluster,
                         double *out) {
  int *size = calloc((size_t)k, sizeof(int));
  double *cent = calloc((size_t)k * m, sizeof(double));
  double *grand = calloc((size_t)m, sizeof(double));
  double res = NAN;
  int status = CP_OK;
  if (!size || !cent || !grand) {
    status = CP_ERR_ALLOC;
    goto done;
  }
  cp_cluster_means(x, n, m, k, cluster, cent, size);
  int kk = 0;
  for (int j = 0; j < k; j++) kk += size[j] > 0;
  if (kk < 2 || kk >= n) goto done;
  for (int i = 0; i < n; i++) {
    const double *xi = x + (size_t)i * m;
    for (int t = 0; t < m; t++) grand[t] += xi[t];
  }
  for (int t = 0; t < m; t++) grand[t] /= n;
  double within = 0.0, between = 0.0;
  for (int i = 0; i < n; i++) {
    within += cp_sqdist(x + (size_t)i * m, cent + (size_t)cluster[i] * m, m);
  }
  for (int j = 0; j < k; j++) {
    if (size[j] > 0) between += size[j] * cp_sqdist(cent + (size_t)j * m, grand, m);
  }
  if (within > 0.0) {
    res = (between / (kk - 1.0)) / (within / (double)(n - kk));
  } else {
    res = between > 0.0 ? INFINITY : NAN;
  }
done:
  free(size);
  free(cent);
  free(grand);
  *out = res;
  return status;
}

int cp_std_sqdist(const double *x, int n, int m, int k, const double *mu,
                  const double *var, const int *use, int threads, double *out) {
  if (n < 0 || m < 1 || k < 1) return CP_ERR_INPUT;
  int nth = threads < 1 ? 1 : threads;
  int par = (double)n * m * k > CP_PAR_MIN_WORK && nth > 1;
  (void)par;
  /* eight windows at a time: one cache line of the column-major matrix per
   * time point, reused for every center */
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) if (par)
#endif
  for (int i0 = 0; i0 < n; i0 += 8) {
    int nb = n - i0 < 8 ? n - i0 : 8;
    for (int j = 0; j < k; j++) {
      if (!use[j]) {
        for (int b = 0; b < nb; b++) out[(size_t)j * n + i0 + b] = NAN;
        continue;
      }
      const double *mj = mu + (size_t)j * m, *vj = var + (size_t)j * m;
      long double s[8] = {0.0L, 0.0L, 0.0L, 0.0L, 0.0L, 0.0L, 0.0L, 0.0L};
      for (int t = 0; t < m; t++) {
        const double *col = x + (size_t)t * n + i0;
        double mt = mj[t], vt = vj[t];
        for (int b = 0; b < nb; b++) {
          double d = col[b] - mt;
          double q = d * d;
          double r = q / vt;
          s[b] += r;
        }
      }
      for (int b = 0; b < nb; b++) out[(size_t)j * n + i0 + b] = (double)s[b];
    }
  }
  return CP_OK;
}
