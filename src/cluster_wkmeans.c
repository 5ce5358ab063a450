/* Weighted k-means: every window carries a positive weight (for the
 * pattern framework, the number of units of a layer that fire at the same
 * sample and node position, so that a distinct window is clustered once
 * instead of once per firing unit). With integer weights the objective,
 * the centers and every Lloyd step equal those of plain k-means on the
 * rows repeated weight times. See cluster.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cluster_internal.h"

typedef struct {
  const double *x, *wt;
  int n, m, k, threads, par;
  double *cent, *wsum, *d2, *cand, *best;
  int *cl;
} wk_work;

/* Nearest center of every window (ties: the lower index); d2 receives the
 * squared distance. Returns the number of changed labels. */
static int wk_assign(wk_work *w) {
  int n = w->n, m = w->m, k = w->k, changed = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par) reduction(+ : changed)
#endif
  for (int i = 0; i < n; i++) {
    const double *xi = w->x + (size_t)i * m;
    int b = 0;
    double bd = cp_sqdist(xi, w->cent, m);
    for (int j = 1; j < k; j++) {
      double d = cp_sqdist_bounded(xi, w->cent + (size_t)j * m, m, bd);
      if (d < bd) {
        bd = d;
        b = j;
      }
    }
    changed += b != w->cl[i];
    w->cl[i] = b;
    w->d2[i] = bd;
  }
  return changed;
}

/* Weighted means of the clusters (sequential, fixed order); an empty
 * cluster takes the window with the largest weighted squared distance to
 * its center, which then leaves its cluster. */
static void wk_means(wk_work *w) {
  int n = w->n, m = w->m, k = w->k;
  for (;;) {
    memset(w->wsum, 0, sizeof(double) * (size_t)k);
    for (int i = 0; i < n; i++) w->wsum[w->cl[i]] += w->wt[i];
    int empty = -1;
    for (int j = 0; j < k && empty < 0; j++) {
      if (!(w->wsum[j] > 0.0)) empty = j;
    }
    if (empty < 0) break;
    int far = 0;
    for (int i = 1; i < n; i++) {
      if (w->wt[i] * w->d2[i] > w->wt[far] * w->d2[far]) far = i;
    }
    w->cl[far] = empty;
    w->d2[far] = 0.0;
  }
  memset(w->cent, 0, sizeof(double) * (size_t)k * m);
  for (int i = 0; i < n; i++) {
    const double *xi = w->x + (size_t)i * m;
    double *c = w->cent + (size_t)w->cl[i] * m;
    double wi = w->wt[i];
    for (int t = 0; t < m; t++) c[t] += wi * xi[t];
  }
  for (int j = 0; j < k; j++) {
    double *c = w->cent + (size_t)j * m;
    for (int t = 0; t < m; t++) c[t] /= w->wsum[j];
  }
}

/* Weighted sum of squared distances to the current centers. */
static double wk_objective(wk_work *w) {
  double s = 0.0;
  for (int i = 0; i < w->n; i++) {
    s += w->wt[i] * cp_sqdist(w->x + (size_t)i * w->m, w->cent + (size_t)w->cl[i] * w->m, w->m);
  }
  return s;
}

/* Weighted greedy k-means++: the first center drawn with probability
 * proportional to the weight, then per center 2 + log k candidates drawn
 * proportional to weight x squared distance to the nearest chosen center;
 * the candidate with the lowest weighted potential is kept. */
static int wk_seed(wk_work *w, cp_rng *rng) {
  int n = w->n, m = w->m, k = w->k;
  double wtot = 0.0;
  for (int i = 0; i < n; i++) wtot += w->wt[i];
  int first = cp_draw_index(w->wt, n, wtot, rng);
  memcpy(w->cent, w->x + (size_t)first * m, sizeof(double) * m);
  for (int i = 0; i < n; i++) w->d2[i] = cp_sqdist(w->x + (size_t)i * m, w->cent, m);
  int trials = 2 + (int)log((double)k);
  for (int c = 1; c < k; c++) {
    if (cp_interrupted()) return CP_ERR_INTERRUPT;
    double total = 0.0;
    for (int i = 0; i < n; i++) {
      w->cand[i] = w->wt[i] * w->d2[i];
      total += w->cand[i];
    }
    int pick = -1;
    if (!(total > 0.0)) {
      pick = (int)cp_rng_int(rng, (uint64_t)n);
    } else {
      double best_pot = INFINITY;
      for (int tr = 0; tr < trials; tr++) {
        int idx = cp_draw_index(w->cand, n, total, rng);
        const double *ci = w->x + (size_t)idx * m;
        double pot = 0.0;
        for (int i = 0; i < n; i++) {
          double d = cp_sqdist_bounded(w->x + (size_t)i * m, ci, m, w->d2[i]);
          pot += w->wt[i] * (d < w->d2[i] ? d : w->d2[i]);
        }
        if (pick < 0 || pot < best_pot) {
          best_pot = pot;
          pick = idx;
        }
      }
    }
    const double *cp = w->x + (size_t)pick * m;
    memcpy(w->cent + (size_t)c * m, cp, sizeof(double) * m);
    for (int i = 0; i < n; i++) {
      double d = cp_sqdist_bounded(w->x + (size_t)i * m, cp, m, w->d2[i]);
      if (d < w->d2[i]) w->d2[i] = d;
    }
  }
  return CP_OK;
}

/* Lloyd iterations from the current centers until no label changes (at
 * most max_iter); labels must be initialised (-1 for none). */
static int wk_lloyd(wk_work *w, int max_iter, int *iter, int *conv) {
  *conv = 0;
  int it = 0;
  for (; it < max_iter; it++) {
    if (cp_interrupted()) return CP_ERR_INTERRUPT;
    int changed = wk_assign(w);
    if (changed == 0 && it > 0) {
      *conv = 1;
      break;
    }
    wk_means(w);
  }
  *iter = it;
  return CP_OK;
}

/* Weighted Hartigan moves: window i (weight v) leaves cluster j (weight
 * W_j > v) for l when v W_l / (W_l + v) d_l^2 < v W_j / (W_j - v) d_j^2;
 * centers are updated incrementally, then recomputed exactly after the
 * passes. Returns the number of moves. */
static int wk_hartigan(wk_work *w, int max_pass, int *moves) {
  int n = w->n, m = w->m, k = w->k, total = 0;
  for (int pass = 0; pass < max_pass; pass++) {
    if (cp_interrupted()) return CP_ERR_INTERRUPT;
    int moved = 0;
    for (int i = 0; i < n; i++) {
      const double *xi = w->x + (size_t)i * m;
      int j = w->cl[i];
      double v = w->wt[i], wj = w->wsum[j];
      if (!(wj - v > 1e-12 * wj)) continue;
      double cost_j = v * wj / (wj - v) * cp_sqdist(xi, w->cent + (size_t)j * m, m);
      int best = -1;
      double best_cost = cost_j * (1.0 - 1e-12);
      for (int l = 0; l < k; l++) {
        if (l == j) continue;
        double f = v * w->wsum[l] / (w->wsum[l] + v);
        double d = cp_sqdist_bounded(xi, w->cent + (size_t)l * m, m, best_cost / f);
        if (f * d < best_cost) {
          best_cost = f * d;
          best = l;
        }
      }
      if (best < 0) continue;
      double *cj = w->cent + (size_t)j * m, *cl = w->cent + (size_t)best * m;
      double wl = w->wsum[best];
      for (int t = 0; t < m; t++) {
        cj[t] = (wj * cj[t] - v * xi[t]) / (wj - v);
        cl[t] = (wl * cl[t] + v * xi[t]) / (wl + v);
      }
      w->wsum[j] = wj - v;
      w->wsum[best] = wl + v;
      w->cl[i] = best;
      moved++;
    }
    total += moved;
    if (moved > 0) wk_means(w);
    if (moved == 0) break;
  }
  *moves = total;
  return CP_OK;
}

int cp_kmeans_weighted(const double *x, const double *wt, int n, int m, int k,
                       int n_start, int max_iter, int hartigan,
                       const double *init, uint64_t seed, int threads,
                       double *centers, int *cluster, cp_cluster_info *info) {
  if (n < 1 || m < 1 || k < 1 || k > n || n_start < 1 || max_iter < 1) {
    return CP_ERR_INPUT;
  }
  for (int i = 0; i < n; i++) {
    if (!(wt[i] > 0.0) || !isfinite(wt[i])) return CP_ERR_INPUT;
  }
  wk_work w;
  memset(&w, 0, sizeof(w));
  w.x = x;
  w.wt = wt;
  w.n = n;
  w.m = m;
  w.k = k;
  w.threads = threads < 1 ? 1 : threads;
  w.par = (double)n * m * k > CP_PAR_MIN_WORK && w.threads > 1;
  w.cent = malloc(sizeof(double) * (size_t)k * m);
  w.wsum = malloc(sizeof(double) * (size_t)k);
  w.d2 = malloc(sizeof(double) * (size_t)n);
  w.cand = malloc(sizeof(double) * (size_t)n);
  w.cl = malloc(sizeof(int) * (size_t)n);
  int status = CP_OK;
  if (!w.cent || !w.wsum || !w.d2 || !w.cand || !w.cl) {
    status = CP_ERR_ALLOC;
    goto done;
  }
  int restarts = init ? 1 : n_start;
  double best_obj = INFINITY;
  for (int r = 0; r < restarts; r++) {
    cp_rng rng;
    cp_rng_init(&rng, seed, (uint64_t)r);
    if (init) {
      memcpy(w.cent, init, sizeof(double) * (size_t)k * m);
    } else {
      status = wk_seed(&w, &rng);
      if (status != CP_OK) goto done;
    }
    for (int i = 0; i < n; i++) w.cl[i] = -1;
    int iter, conv, moves = 0;
    status = wk_lloyd(&w, max_iter, &iter, &conv);
    if (status != CP_OK) goto done;
    if (hartigan) {
      int mp = max_iter > 10 ? max_iter : 10;
      status = wk_hartigan(&w, mp, &moves);
      if (status != CP_OK) goto done;
    }
    double obj = wk_objective(&w);
    if (!isfinite(obj)) {
      status = CP_ERR_NUMERIC;
      goto done;
    }
    if (r == 0 || obj < best_obj) {
      best_obj = obj;
      cp_keep_restart(w.cent, w.cl, n, m, k, obj, iter, conv, r, moves,
                      centers, cluster, info);
    }
  }
  status = cp_cluster_relabel(n, m, k, wt, cluster, centers);
done:
  free(w.cent);
  free(w.wsum);
  free(w.d2);
  free(w.cand);
  free(w.cl);
  return status;
}
