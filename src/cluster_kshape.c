/* k-Shape clustering (Paparrizos and Gravano, SIGMOD 2015) on z-normalised
 * windows: shape-based distance by normalised cross-correlation and shape
 * extraction by the leading eigenvector of Q' S Q. See cluster.h. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cluster_internal.h"

typedef struct {
  const double *x;
  int n, m, k, max_iter, threads;
  int par;       /* parallel loops over windows x centers */
  int par_light; /* parallel loops over windows (one distance each) */
  double *xnorm;  /* n */
  double *cent;   /* k x m */
  double *cnorm;  /* k */
  int *cl, *newcl, *shift, *cnt; /* n, n, n, k */
  double *dist;   /* n: SBD to the assigned center */
  double *cand, *best; /* n: seeding scratch */
  cp_sbd_plan plan;
  size_t speclen, worklen;
  double *cspec;  /* k x speclen: center spectra (FFT plan only) */
  double *tspec;  /* speclen: spectrum of a seeding candidate */
  double *work;   /* threads x worklen */
  double *tsbd;   /* threads x k */
  int *tshift;    /* threads x k */
  double *z;      /* n x m: aligned, centred members */
  double *mat;    /* m x m */
  double *v, *wv; /* m */
  int *members;   /* n */
} ks_work;

/* SBD of every window to every center: nearest into newcl, its SBD into
 * dist and its shift into shift. */
static void ks_assign(ks_work *w) {
  int n = w->n, m = w->m, k = w->k;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par)
#endif
  for (int i = 0; i < n; i++) {
    int tid = CP_THREAD_ID();
    double *sbd = w->tsbd + (size_t)tid * k;
    int *sh = w->tshift + (size_t)tid * k;
    cp_sbd_row(&w->plan, w->x + (size_t)i * m, w->xnorm[i], w->cent, w->cspec,
               w->cnorm, k, sbd, sh, w->work + (size_t)tid * w->worklen);
    int best = 0;
    for (int j = 1; j < k; j++) {
      if (sbd[j] < sbd[best]) best = j;
    }
    w->newcl[i] = best;
    w->dist[i] = sbd[best];
    w->shift[i] = sh[best];
  }
}

static void ks_set_center(ks_work *w, int j, const double *src) {
  double *c = w->cent + (size_t)j * w->m;
  memcpy(c, src, sizeof(double) * w->m);
  w->cnorm[j] = cp_rownorm(c, w->m);
  cp_sbd_spectrum(&w->plan, c, w->cspec + (size_t)j * w->speclen);
}

/* Empty clusters take the window farthest (in SBD) from its center among
 * clusters with more than one member; that window becomes the center. */
static void ks_fix_empty(ks_work *w) {
  int n = w->n, k = w->k;
  for (int j = 0; j < k; j++) w->cnt[j] = 0;
  for (int i = 0; i < n; i++) w->cnt[w->cl[i]]++;
  for (int j = 0; j < k; j++) {
    if (w->cnt[j] > 0) continue;
    int far = -1;
    double fd = -1.0;
    for (int i = 0; i < n; i++) {
      if (w->cnt[w->cl[i]] > 1 && w->dist[i] > fd) {
        fd = w->dist[i];
        far = i;
      }
    }
    if (far < 0) return;
    w->cnt[w->cl[far]]--;
    w->cl[far] = j;
    w->cnt[j] = 1;
    w->shift[far] = 0;
    ks_set_center(w, j, w->x + (size_t)far * w->m);
    w->dist[far] = -1.0; /* not chosen again */
  }
  for (int i = 0; i < n; i++) {
    if (w->dist[i] < 0.0) w->dist[i] = 0.0;
  }
}

/* Assignment step; returns the number of changed labels. */
static int ks_assign_step(ks_work *w) {
  ks_assign(w);
  int changed = 0;
  for (int i = 0; i < w->n; i++) {
    if (w->newcl[i] != w->cl[i]) {
      w->cl[i] = w->newcl[i];
      changed++;
    }
  }
  ks_fix_empty(w);
  return changed;
}

/* SBD of every window to center c (spectrum cs), minimum with cur into out
 * (may alias). */
static void ks_min_sbd(ks_work *w, const double *c, double cn, const double *cs,
                       const double *cur, double *out) {
  int n = w->n, m = w->m;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par_light)
#endif
  for (int i = 0; i < n; i++) {
    int tid = CP_THREAD_ID();
    double v;
    cp_sbd_row(&w->plan, w->x + (size_t)i * m, w->xnorm[i], c, cs, &cn, 1, &v,
               NULL, w->work + (size_t)tid * w->worklen);
    out[i] = v < cur[i] ? v : cur[i];
  }
}

/* Index drawn with probability proportional to v (total > 0), or -1. */
static int ks_draw(const double *v, int n, double total, cp_rng *rng) {
  double u = cp_rng_unif(rng) * total, acc = 0.0;
  int pick = -1;
  for (int i = 0; i < n; i++) {
    if (v[i] > 0.0) {
      acc += v[i];
      pick = i;
      if (acc > u) break;
    }
  }
  return pick;
}

/* Greedy k-means++ style seeding on the shape distance: per center, 2 + log k
 * windows are drawn with probability proportional to their SBD to the
 * nearest chosen center (SBD is the squared shape distance up to 2m), and
 * the one that lowers the total SBD most becomes the center. */
static int ks_seed(ks_work *w, cp_rng *rng) {
  int n = w->n, m = w->m, k = w->k;
  double *d = w->dist, *cand = w->cand, *best = w->best;
  int first = (int)cp_rng_int(rng, (uint64_t)n);
  ks_set_center(w, 0, w->x + (size_t)first * m);
  for (int i = 0; i < n; i++) d[i] = INFINITY;
  ks_min_sbd(w, w->cent, w->cnorm[0], w->cspec, d, d);
  int trials = 2 + (int)log((double)k);
  for (int c = 1; c < k; c++) {
    if (cp_interrupted()) return CP_ERR_INTERRUPT;
    double total = 0.0;
    for (int i = 0; i < n; i++) total += d[i];
    int pick = -1;
    if (total > 0.0) {
      double best_pot = INFINITY;
      for (int tr = 0; tr < trials; tr++) {
        int idx = ks_draw(d, n, total, rng);
        if (idx < 0) break;
        const double *xc = w->x + (size_t)idx * m;
        cp_sbd_spectrum(&w->plan, xc, w->tspec);
        ks_min_sbd(w, xc, w->xnorm[idx], w->tspec, d, cand);
        double pot = 0.0;
        for (int i = 0; i < n; i++) pot += cand[i];
        if (pick < 0 || pot < best_pot) {
          best_pot = pot;
          pick = idx;
          memcpy(best, cand, sizeof(double) * n);
        }
      }
    }
    if (pick < 0) {
      pick = (int)cp_rng_int(rng, (uint64_t)n);
      ks_set_center(w, c, w->x + (size_t)pick * m);
      ks_min_sbd(w, w->cent + (size_t)c * m, w->cnorm[c],
                 w->cspec + (size_t)c * w->speclen, d, d);
    } else {
      ks_set_center(w, c, w->x + (size_t)pick * m);
      memcpy(d, best, sizeof(double) * n);
    }
  }
  return CP_OK;
}

/* Shape extraction for cluster j: members aligned to the current center,
 * each aligned row centred (this applies Q), M = Z' Z, leading eigenvector
 * by power iteration started from the current center, sign chosen so that
 * the shape correlates positively with its members, then z-normalised. */
static void ks_extract(ks_work *w, int j) {
  int n = w->n, m = w->m;
  int nj = 0;
  for (int i = 0; i < n; i++) {
    if (w->cl[i] == j) w->members[nj++] = i;
  }
  if (nj == 0) return;
  double *z = w->z;
  int center_zero = !(w->cnorm[j] > 0.0);
  for (int a = 0; a < nj; a++) {
    int i = w->members[a];
    const double *xi = w->x + (size_t)i * m;
    double *zi = z + (size_t)a * m;
    int s = center_zero ? 0 : w->shift[i];
    double mu = 0.0;
    for (int t = 0; t < m; t++) {
      int src = t + s;
      zi[t] = (src >= 0 && src < m) ? xi[src] : 0.0;
      mu += zi[t];
    }
    mu /= m;
    for (int t = 0; t < m; t++) zi[t] -= mu;
  }
  double *mat = w->mat;
  int par = (double)nj * m * m > CP_PAR_MIN_WORK && w->threads > 1;
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(dynamic, 4) if (par)
#endif
  for (int r = 0; r < m; r++) {
    double *row = mat + (size_t)r * m;
    for (int c = r; c < m; c++) row[c] = 0.0;
    for (int a = 0; a < nj; a++) {
      const double *za = z + (size_t)a * m;
      double zr = za[r];
      if (zr == 0.0) continue;
      for (int c = r; c < m; c++) row[c] += zr * za[c];
    }
  }
  for (int r = 0; r < m; r++) {
    for (int c = 0; c < r; c++) mat[(size_t)r * m + c] = mat[(size_t)c * m + r];
  }
  /* start vector: the centred current center, else the members' mean, else
   * the first member */
  double *v = w->v, *wv = w->wv;
  const double *c0 = w->cent + (size_t)j * m;
  double mu = 0.0;
  for (int t = 0; t < m; t++) mu += c0[t];
  mu /= m;
  for (int t = 0; t < m; t++) v[t] = c0[t] - mu;
  double nv = cp_rownorm(v, m);
  if (!(nv > 0.0)) {
    for (int t = 0; t < m; t++) v[t] = 0.0;
    for (int a = 0; a < nj; a++) {
      for (int t = 0; t < m; t++) v[t] += z[(size_t)a * m + t];
    }
    nv = cp_rownorm(v, m);
  }
  if (!(nv > 0.0)) {
    memcpy(v, z, sizeof(double) * m);
    nv = cp_rownorm(v, m);
  }
  if (!(nv > 0.0)) return; /* all members constant: keep the center */
  for (int t = 0; t < m; t++) v[t] /= nv;
  for (int it = 0; it < 2000; it++) {
    for (int r = 0; r < m; r++) {
      const double *row = mat + (size_t)r * m;
      double s0 = 0.0, s1 = 0.0;
      int c = 0;
      for (; c + 2 <= m; c += 2) {
        s0 += row[c] * v[c];
        s1 += row[c + 1] * v[c + 1];
      }
      if (c < m) s0 += row[c] * v[c];
      wv[r] = s0 + s1;
    }
    double lam = cp_rownorm(wv, m);
    if (!(lam > 0.0)) break; /* v in the null space: keep it */
    double diff = 0.0;
    for (int t = 0; t < m; t++) {
      double nt = wv[t] / lam;
      diff += (nt - v[t]) * (nt - v[t]);
      v[t] = nt;
    }
    if (diff < 1e-24) break;
  }
  /* sign: positive correlation with the aligned members */
  double dot = 0.0;
  for (int a = 0; a < nj; a++) {
    const double *za = z + (size_t)a * m;
    for (int t = 0; t < m; t++) dot += za[t] * v[t];
  }
  if (dot < 0.0) {
    for (int t = 0; t < m; t++) v[t] = -v[t];
  }
  cp_znorm_rows(v, 1, m);
  ks_set_center(w, j, v);
}

/* Total within-cluster sum of squared shape distances, 2 m sum SBD. */
static double ks_objective(const ks_work *w) {
  double s = 0.0;
  for (int i = 0; i < w->n; i++) s += w->dist[i];
  return 2.0 * w->m * s;
}

int cp_kshape(const double *x, int n, int m, int k, int n_start, int max_iter,
              uint64_t seed, int threads, double *centers, int *cluster,
              cp_cluster_info *info) {
  if (n < 1 || m < 1 || k < 1 || k > n || n_start < 1 || max_iter < 1) {
    return CP_ERR_INPUT;
  }
  ks_work w;
  memset(&w, 0, sizeof(w));
  w.x = x;
  w.n = n;
  w.m = m;
  w.k = k;
  w.max_iter = max_iter;
  w.threads = threads < 1 ? 1 : threads;
  w.par = (double)n * k * m * m > CP_PAR_MIN_WORK && w.threads > 1;
  w.par_light = (double)n * m * m > CP_PAR_MIN_WORK && w.threads > 1;
  int status = cp_sbd_plan_init(&w.plan, m);
  if (status != CP_OK) return status;
  w.speclen = cp_sbd_spec_len(&w.plan);
  w.worklen = cp_sbd_work_len(&w.plan);
  w.xnorm = malloc(sizeof(double) * (size_t)n);
  w.cent = malloc(sizeof(double) * (size_t)k * m);
  w.cnorm = malloc(sizeof(double) * (size_t)k);
  w.cl = malloc(sizeof(int) * (size_t)n);
  w.newcl = malloc(sizeof(int) * (size_t)n);
  w.shift = malloc(sizeof(int) * (size_t)n);
  w.cnt = malloc(sizeof(int) * (size_t)k);
  w.dist = malloc(sizeof(double) * (size_t)n);
  w.cand = malloc(sizeof(double) * (size_t)n);
  w.best = malloc(sizeof(double) * (size_t)n);
  w.cspec = malloc(sizeof(double) * ((size_t)k * w.speclen + 1));
  w.tspec = malloc(sizeof(double) * (w.speclen + 1));
  w.work = malloc(sizeof(double) * (size_t)w.threads * w.worklen);
  w.tsbd = malloc(sizeof(double) * (size_t)w.threads * k);
  w.tshift = malloc(sizeof(int) * (size_t)w.threads * k);
  w.z = malloc(sizeof(double) * (size_t)n * m);
  w.mat = malloc(sizeof(double) * (size_t)m * m);
  w.v = malloc(sizeof(double) * (size_t)m);
  w.wv = malloc(sizeof(double) * (size_t)m);
  w.members = malloc(sizeof(int) * (size_t)n);
  if (!w.xnorm || !w.cent || !w.cnorm || !w.cl || !w.newcl || !w.shift ||
      !w.cnt || !w.dist || !w.cand || !w.best || !w.cspec || !w.tspec ||
      !w.work || !w.tsbd || !w.tshift || !w.z || !w.mat || !w.v || !w.wv ||
      !w.members) {
    status = CP_ERR_ALLOC;
    goto done;
  }
  for (int i = 0; i < n; i++) w.xnorm[i] = cp_rownorm(x + (size_t)i * m, m);
  double best_obj = INFINITY;
  for (int r = 0; r < n_start; r++) {
    cp_rng rng;
    cp_rng_init(&rng, seed, (uint64_t)r);
    status = ks_seed(&w, &rng);
    if (status != CP_OK) goto done;
    for (int i = 0; i < n; i++) w.cl[i] = -1;
    ks_assign_step(&w);
    int iter = 0, conv = 0;
    while (iter < max_iter) {
      if (cp_interrupted()) {
        status = CP_ERR_INTERRUPT;
        goto done;
      }
      for (int j = 0; j < k; j++) ks_extract(&w, j);
      iter++;
      if (ks_assign_step(&w) == 0) {
        conv = 1;
        break;
      }
    }
    double obj = ks_objective(&w);
    if (!isfinite(obj)) {
      status = CP_ERR_NUMERIC;
      goto done;
    }
    if (r == 0 || obj < best_obj) {
      best_obj = obj;
      cp_keep_restart(w.cent, w.cl, n, m, k, obj, iter, conv, r, 0, centers,
                      cluster, info);
    }
  }
  status = cp_cluster_relabel(n, m, k, NULL, cluster, centers);
done:
  free(w.xnorm);
  free(w.cent);
  free(w.cnorm);
  free(w.cl);
  free(w.newcl);
  free(w.shift);
  free(w.cnt);
  free(w.dist);
  free(w.cand);
  free(w.best);
  free(w.cspec);
  free(w.tspec);
  free(w.work);
  free(w.tsbd);
  free(w.tshift);
  cp_sbd_plan_free(&w.plan);
  free(w.z);
  free(w.mat);
  free(w.v);
  free(w.wv);
  free(w.members);
  return status;
}
