/* Euclidean k-means: greedy k-means++ seeding, Lloyd iterations with
 * Hamerly's bounds, Hartigan single-window moves with distance bounds, and
 * a swap search that moves one center at a time. See cluster.h.
 * Small problems: every restart gets all of it. Large problems (KM_FULL_WORK):
 * the restarts run seeding and Lloyd only, in lockstep with blocked
 * distances, and the best one is polished with Hartigan (no swaps: on the
 * windows of bench/patterns.R two swap trials cost a quarter of the run and
 * lowered the objective by at most 0.02%). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cluster_internal.h"
#include "cp_simd.h"

/* Large problems: Hartigan's bounds are computed anew (one blocked pass)
 * before a pass when the previous one evaluated more than n / KM_REFRESH
 * windows. */
#define KM_REFRESH 4

/* Swap trials per restart (drop a center, add one, refine, keep if better). */
#define KM_SWAP_TRIALS 6

/* n m k n_start above which restarts run Lloyd only and the best one is
 * polished (Hartigan) once. */
#define KM_FULL_WORK 1e7

/* Relative tolerance on center shifts for the Lloyd-only restarts. */
#define KM_TOL 1e-4

/* Dot products of four windows with kp transposed centers. */
typedef void (*km_dots_fn)(const double *const *, int, const double *, int,
                           const double *, const double *, double *, int, int *,
                           double *);

typedef struct {
  const double *x;
  int n, m, k, max_iter, threads;
  int par;       /* parallel loops over windows x centers */
  int par_light; /* parallel loops over windows (one distance each) */
  int to_conv;   /* Lloyd runs to convergence (no early hand-over) ... */
  double tol;    /* ... or until the squared center shifts sum to <= tol */
  double dmax, dsec; /* Lloyd step: largest and second largest shift */
  int jmax;          /* ... and the center with the largest */
  int jsec;          /* ... the center with the second largest */
  double dthird;     /* ... and the third largest shift */
  int *sec;          /* n: lockstep restarts, second nearest center */
  int *chg;          /* 2 n: ... windows whose label a step changed, and
                      * their old labels, by chunk */
  int slow;          /* ... windows may sit at zero distance from two
                      * centers (or a cluster was emptied): plain step end */
  double *lower3;    /* n: ... lower bound on the distance to the others */
  int it, cv;        /* Lloyd: iterations, converged */
  double *cent;   /* k x m */
  double *old;    /* k x m: centers before the update */
  int *cl;        /* n */
  int *prev;      /* n: labels before a Lloyd step */
  double *sums;   /* k x m: per-cluster sums (Lloyd) */
  int *cnt;       /* k */
  double *upper;  /* n: upper bound on the distance to the own center */
  double *lower;  /* n: lower bound on the distance to any other center */
  double *delta;  /* k: how far each center moved */
  double *half;   /* k: half the distance to the nearest other center */
  double *drift;  /* 3 k: Hartigan, per center drift = off + net (below) */
  double *ref;    /* k x m: Hartigan, the centers at the last anchoring */
  double *fk, *gk; /* k: Hartigan, n_l / (n_l + 1) and n_l / (n_l - 1) */
  double *lb;     /* n x k: Hartigan, lower bounds on distances to centers */
  double *lbmin;  /* n: Hartigan, smallest lower bound to another center */
  double *d2;     /* n: seeding, distances to the nearest center */
  double *cand;   /* n: seeding scratch */
  double *best;   /* n: seeding scratch */
  double *save_cent, *save_lb, *save_drift, *save_d2, *save_ref; /* swap search */
  int blocked;    /* assignments by blocked distances (large problems) */
  int kp;         /* k rounded up to a multiple of four */
  double *ct;     /* m x kp: transposed centers */
  double *cc;     /* kp: squared center norms */
  double *xx;     /* n: squared window norms */
  double *dots;   /* threads x 4 x kp: scratch */
  int *list;      /* n: windows that need a full scan */
  int evals;      /* Hartigan: windows the last pass evaluated */
  km_dots_fn dots_fn;
  int *save_cl, *save_cnt;
} km_work;

static double km_sum(const double *v, int n) {
  double s = 0.0;
  for (int i = 0; i < n; i++) s += v[i];
  return s;
}

/* out[i] = min(d2[i], |x_i - c|^2) (out may alias d2). */
static void km_min_dist(const km_work *w, const double *c, const double *d2,
                        double *out) {
  const double *x = w->x;
  int n = w->n, m = w->m;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par_light)
#endif
  for (int i = 0; i < n; i++) {
    double d = cp_sqdist_bounded(x + (size_t)i * m, c, m, d2[i]);
    out[i] = d < d2[i] ? d : d2[i];
  }
}

/* Greedy k-means++ seeding: 2 + log k candidates drawn per center with
 * probability proportional to the squared distance to the nearest chosen
 * center; the candidate that lowers the potential most is kept. */
static int km_seed(km_work *w, cp_rng *rng) {
  const double *x = w->x;
  int n = w->n, m = w->m, k = w->k;
  int first = (int)cp_rng_int(rng, (uint64_t)n);
  memcpy(w->cent, x + (size_t)first * m, sizeof(double) * m);
  for (int i = 0; i < n; i++) w->d2[i] = INFINITY;
  km_min_dist(w, w->cent, w->d2, w->d2);
  int trials = 2 + (int)log((double)k);
  for (int c = 1; c < k; c++) {
    if (cp_interrupted()) return CP_ERR_INTERRUPT;
    double total = km_sum(w->d2, n);
    int pick = -1;
    if (!(total > 0.0)) {
      pick = (int)cp_rng_int(rng, (uint64_t)n);
    } else {
      double best_pot = INFINITY;
      for (int tr = 0; tr < trials; tr++) {
        int idx = cp_draw_index(w->d2, n, total, rng);
        km_min_dist(w, x + (size_t)idx * m, w->d2, w->cand);
        double pot = km_sum(w->cand, n);
        if (pick < 0 || pot < best_pot) {
          best_pot = pot;
          pick = idx;
          memcpy(w->best, w->cand, sizeof(double) * n);
        }
      }
      memcpy(w->d2, w->best, sizeof(double) * n);
    }
    memcpy(w->cent + (size_t)c * m, x + (size_t)pick * m, sizeof(double) * m);
  }
  return CP_OK;
}

/* Nearest and second nearest center of window i: sets cl, upper, lower.
 * Returns 1 when the label changed. */
static int km_point_full(km_work *w, int i) {
  const double *xi = w->x + (size_t)i * w->m;
  int m = w->m, k = w->k, old = w->cl[i];
  int b = old >= 0 ? old : 0;
  double d1 = cp_sqdist(xi, w->cent + (size_t)b * m, m), d2 = INFINITY;
  for (int j = 0; j < k; j++) {
    if (j == b) continue;
    double d = cp_sqdist_bounded(xi, w->cent + (size_t)j * m, m, d2);
    if (d < d1 || (d == d1 && j < b)) {
      d2 = d1;
      d1 = d;
      b = j;
    } else if (d < d2) {
      d2 = d;
    }
  }
  w->cl[i] = b;
  w->upper[i] = sqrt(d1);
  w->lower[i] = sqrt(d2);
  return b != old;
}


/* ------------------------------------------------------------------------ */
/* Blocked distances (large problems): |x|^2 - 2 x.c + |c|^2 for four
 * windows at a time against all centers, centers innermost (transposed
 * m x kp, kp a multiple of four) so that the accumulators stay in
 * registers. Compiled for AVX2+FMA and for the baseline, chosen at run time
 * (GCC and clang on x86-64). */
#ifdef CP_HAVE_VEC
/* NV vectors of centers (4 NV centers from j0) x four windows xr; named
 * accumulators so that they stay in registers. */
static inline CP_ALWAYS_INLINE void km_dot3(const double *const *xr, int m, const double *ct,
                         int kp, int j0, double *out) {
  const double *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3];
  cp_v4 a00 = {0.0, 0.0, 0.0, 0.0}, a01 = {0.0, 0.0, 0.0, 0.0}, a02 = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a10 = {0.0, 0.0, 0.0, 0.0}, a11 = {0.0, 0.0, 0.0, 0.0}, a12 = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a20 = {0.0, 0.0, 0.0, 0.0}, a21 = {0.0, 0.0, 0.0, 0.0}, a22 = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a30 = {0.0, 0.0, 0.0, 0.0}, a31 = {0.0, 0.0, 0.0, 0.0}, a32 = {0.0, 0.0, 0.0, 0.0};
  for (int t = 0; t < m; t++) {
    const double *ctt = ct + (size_t)t * kp + j0;
    cp_v4 c0, c1, c2;
    V4_LOAD(c0, ctt + 0);
    V4_LOAD(c1, ctt + 4);
    V4_LOAD(c2, ctt + 8);
    double v0 = x0[t];
    cp_v4 b0 = {v0, v0, v0, v0};
    a00 += b0 * c0;
    a01 += b0 * c1;
    a02 += b0 * c2;
    double v1 = x1[t];
    cp_v4 b1 = {v1, v1, v1, v1};
    a10 += b1 * c0;
    a11 += b1 * c1;
    a12 += b1 * c2;
    double v2 = x2[t];
    cp_v4 b2 = {v2, v2, v2, v2};
    a20 += b2 * c0;
    a21 += b2 * c1;
    a22 += b2 * c2;
    double v3 = x3[t];
    cp_v4 b3 = {v3, v3, v3, v3};
    a30 += b3 * c0;
    a31 += b3 * c1;
    a32 += b3 * c2;
  }
  V4_STORE(out + 0 * (size_t)kp + j0 + 0, a00);
  V4_STORE(out + 0 * (size_t)kp + j0 + 4, a01);
  V4_STORE(out + 0 * (size_t)kp + j0 + 8, a02);
  V4_STORE(out + 1 * (size_t)kp + j0 + 0, a10);
  V4_STORE(out + 1 * (size_t)kp + j0 + 4, a11);
  V4_STORE(out + 1 * (size_t)kp + j0 + 8, a12);
  V4_STORE(out + 2 * (size_t)kp + j0 + 0, a20);
  V4_STORE(out + 2 * (size_t)kp + j0 + 4, a21);
  V4_STORE(out + 2 * (size_t)kp + j0 + 8, a22);
  V4_STORE(out + 3 * (size_t)kp + j0 + 0, a30);
  V4_STORE(out + 3 * (size_t)kp + j0 + 4, a31);
  V4_STORE(out + 3 * (size_t)kp + j0 + 8, a32);
}
static inline CP_ALWAYS_INLINE void km_dot2(const double *const *xr, int m, const double *ct,
                         int kp, int j0, double *out) {
  const double *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3];
  cp_v4 a00 = {0.0, 0.0, 0.0, 0.0}, a01 = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a10 = {0.0, 0.0, 0.0, 0.0}, a11 = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a20 = {0.0, 0.0, 0.0, 0.0}, a21 = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a30 = {0.0, 0.0, 0.0, 0.0}, a31 = {0.0, 0.0, 0.0, 0.0};
  for (int t = 0; t < m; t++) {
    const double *ctt = ct + (size_t)t * kp + j0;
    cp_v4 c0, c1;
    V4_LOAD(c0, ctt + 0);
    V4_LOAD(c1, ctt + 4);
    double v0 = x0[t];
    cp_v4 b0 = {v0, v0, v0, v0};
    a00 += b0 * c0;
    a01 += b0 * c1;
    double v1 = x1[t];
    cp_v4 b1 = {v1, v1, v1, v1};
    a10 += b1 * c0;
    a11 += b1 * c1;
    double v2 = x2[t];
    cp_v4 b2 = {v2, v2, v2, v2};
    a20 += b2 * c0;
    a21 += b2 * c1;
    double v3 = x3[t];
    cp_v4 b3 = {v3, v3, v3, v3};
    a30 += b3 * c0;
    a31 += b3 * c1;
  }
  V4_STORE(out + 0 * (size_t)kp + j0 + 0, a00);
  V4_STORE(out + 0 * (size_t)kp + j0 + 4, a01);
  V4_STORE(out + 1 * (size_t)kp + j0 + 0, a10);
  V4_STORE(out + 1 * (size_t)kp + j0 + 4, a11);
  V4_STORE(out + 2 * (size_t)kp + j0 + 0, a20);
  V4_STORE(out + 2 * (size_t)kp + j0 + 4, a21);
  V4_STORE(out + 3 * (size_t)kp + j0 + 0, a30);
  V4_STORE(out + 3 * (size_t)kp + j0 + 4, a31);
}
static inline CP_ALWAYS_INLINE void km_dot1(const double *const *xr, int m, const double *ct,
                         int kp, int j0, double *out) {
  const double *x0 = xr[0], *x1 = xr[1], *x2 = xr[2], *x3 = xr[3];
  cp_v4 a00 = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a10 = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a20 = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a30 = {0.0, 0.0, 0.0, 0.0};
  for (int t = 0; t < m; t++) {
    const double *ctt = ct + (size_t)t * kp + j0;
    cp_v4 c0;
    V4_LOAD(c0, ctt + 0);
    double v0 = x0[t];
    cp_v4 b0 = {v0, v0, v0, v0};
    a00 += b0 * c0;
    double v1 = x1[t];
    cp_v4 b1 = {v1, v1, v1, v1};
    a10 += b1 * c0;
    double v2 = x2[t];
    cp_v4 b2 = {v2, v2, v2, v2};
    a20 += b2 * c0;
    double v3 = x3[t];
    cp_v4 b3 = {v3, v3, v3, v3};
    a30 += b3 * c0;
  }
  V4_STORE(out + 0 * (size_t)kp + j0 + 0, a00);
  V4_STORE(out + 1 * (size_t)kp + j0 + 0, a10);
  V4_STORE(out + 2 * (size_t)kp + j0 + 0, a20);
  V4_STORE(out + 3 * (size_t)kp + j0 + 0, a30);
}

typedef long long cp_v4i __attribute__((vector_size(32), aligned(8)));

/* Squared distances of four windows (squared norms xx4) to kp centers
 * (squared norms cc, padding +Inf): |x|^2 - 2 x.c + |c|^2, at least 0. */
static inline CP_ALWAYS_INLINE void km_dots_body(const double *const *xr, int m, const double *ct,
                            int kp, const double *xx4, const double *cc,
                            double *out, int k, int *bj, double *d12) {
  int j0 = 0;
  for (; j0 + 12 <= kp; j0 += 12) km_dot3(xr, m, ct, kp, j0, out);
  if (j0 + 8 <= kp) {
    km_dot2(xr, m, ct, kp, j0, out);
    j0 += 8;
  }
  if (j0 + 4 <= kp) km_dot1(xr, m, ct, kp, j0, out);
  const cp_v4 zero = {0.0, 0.0, 0.0, 0.0};
  if (!bj) {
    for (int b = 0; b < 4; b++) {
      cp_v4 xv;
      V4_SET1(xv, xx4[b]);
      double *o = out + (size_t)b * kp;
      for (int j = 0; j < kp; j += 4) {
        cp_v4 dv, cv;
        V4_LOAD(dv, o + j);
        V4_LOAD(cv, cc + j);
        /* (xx - 2 dot) + cc as the scalar code (2 dot is exact) */
        dv = (xv - (dv + dv)) + cv;
        dv = (cp_v4)((cp_v4i)dv & (cp_v4i)(dv > zero));
        V4_STORE(o + j, dv);
      }
    }
    return;
  }
  /* the four windows in the lanes: per window the smallest distance and
   * its first center, the second smallest (center i2) and the smallest of
   * the other centers, without branches (ties: the first center) */
  const cp_v4 inf = {INFINITY, INFINITY, INFINITY, INFINITY};
  cp_v4 xv = {xx4[0], xx4[1], xx4[2], xx4[3]};
  cp_v4 d1 = inf, d2 = inf, d3 = inf;
  cp_v4i i1 = {0, 0, 0, 0}, i2 = {0, 0, 0, 0};
  for (int j = 0; j < k; j++) {
    cp_v4 dv = {out[j], out[kp + j], out[2 * (size_t)kp + j], out[3 * (size_t)kp + j]};
    cp_v4 cv;
    V4_SET1(cv, cc[j]);
    dv = (xv - (dv + dv)) + cv;
    dv = (cp_v4)((cp_v4i)dv & (cp_v4i)(dv > zero));
    cp_v4i lt1 = (cp_v4i)(dv < d1), lt2 = (cp_v4i)(dv < d2), lt3 = (cp_v4i)(dv < d3);
    cp_v4i jv = {j, j, j, j};
    cp_v4i t3 = (lt3 & (cp_v4i)dv) | (~lt3 & (cp_v4i)d3);
    d3 = (cp_v4)((lt2 & (cp_v4i)d2) | (~lt2 & t3));
    cp_v4i t2 = (lt2 & (cp_v4i)dv) | (~lt2 & (cp_v4i)d2);
    cp_v4i u2 = (lt2 & jv) | (~lt2 & i2);
    d2 = (cp_v4)((lt1 & (cp_v4i)d1) | (~lt1 & t2));
    i2 = (lt1 & i1) | (~lt1 & u2);
    d1 = (cp_v4)((lt1 & (cp_v4i)dv) | (~lt1 & (cp_v4i)d1));
    i1 = (lt1 & jv) | (~lt1 & i1);
  }
  for (int b = 0; b < 4; b++) {
    bj[2 * b] = (int)i1[b];
    bj[2 * b + 1] = (int)i2[b];
    d12[3 * b] = d1[b];
    d12[3 * b + 1] = d2[b];
    d12[3 * b + 2] = d3[b];
  }
}
#ifdef CP_DISPATCH
CP_TARGET_AVX2 static void km_dots_avx2(const double *const *xr, int m,
                                        const double *ct, int kp, const double *xx4,
                                        const double *cc, double *out, int k, int *bj,
                                        double *d12) {
  km_dots_body(xr, m, ct, kp, xx4, cc, out, k, bj, d12);
}
#endif
static void km_dots_base(const double *const *xr, int m, const double *ct,
                         int kp, const double *xx4, const double *cc, double *out,
                         int k, int *bj, double *d12) {
  km_dots_body(xr, m, ct, kp, xx4, cc, out, k, bj, d12);
}

#else
static void km_dots_base(const double *const *xr, int m, const double *ct,
                         int kp, const double *xx4, const double *cc, double *out,
                         int k, int *bj, double *d12) {
  for (int b = 0; b < 4; b++) {
    double *o = out + (size_t)b * kp;
    for (int j = 0; j < kp; j++) {
      double s = 0.0;
      for (int t = 0; t < m; t++) s += xr[b][t] * ct[(size_t)t * kp + j];
      double d = xx4[b] - 2.0 * s + cc[j];
      o[j] = d > 0.0 ? d : 0.0;
    }
    if (!bj) continue;
    /* the three smallest (ties: the first center) */
    double d1 = INFINITY, d2 = INFINITY, d3 = INFINITY;
    int first = 0, second = 0;
    for (int j = 0; j < k; j++) {
      double d = o[j];
      if (d < d1) {
        d3 = d2;
        d2 = d1;
        second = first;
        d1 = d;
        first = j;
      } else if (d < d2) {
        d3 = d2;
        d2 = d;
        second = j;
      } else if (d < d3) {
        d3 = d;
      }
    }
    bj[2 * b] = first;
    bj[2 * b + 1] = second;
    d12[3 * b] = d1;
    d12[3 * b + 1] = d2;
    d12[3 * b + 2] = d3;
  }
}
#endif

static km_dots_fn km_dots_pick(void) {
#ifdef CP_DISPATCH
  if (CP_CPU_AVX2_FMA()) return km_dots_avx2;
#endif
  return km_dots_base;
}


/* Transposed centers and their squared norms for the blocked distances. */
static void km_prepare_blocked(km_work *w) {
  int m = w->m, k = w->k, kp = w->kp;
  for (int t = 0; t < m; t++) {
    double *row = w->ct + (size_t)t * kp;
    for (int j = 0; j < k; j++) row[j] = w->cent[(size_t)j * m + t];
    for (int j = k; j < kp; j++) row[j] = 0.0;
  }
  for (int j = 0; j < k; j++) {
    const double *c = w->cent + (size_t)j * m;
    double s = 0.0;
    for (int t = 0; t < m; t++) s += c[t] * c[t];
    w->cc[j] = s;
  }
  for (int j = k; j < kp; j++) w->cc[j] = INFINITY; /* never nearest */
}


/* Nearest and second nearest center of the windows list[0 .. cnt - 1] by
 * blocked distances (km_prepare_blocked first): sets cl, upper, lower.
 * Returns how many labels changed. */
static int km_full_serial(const km_work *w, const int *list, int cnt,
                          double *dots, int *chg, int *zero) {
  int m = w->m, k = w->k, kp = w->kp, nb = (cnt + 3) / 4, changed = 0;
  for (int blk = 0; blk < nb; blk++) {
    int ids[4];
    const double *xr[4];
    for (int b = 0; b < 4; b++) {
      int q = 4 * blk + b < cnt ? 4 * blk + b : cnt - 1;
      ids[b] = list[q];
      xr[b] = w->x + (size_t)ids[b] * m;
    }
    double xx4[4];
    for (int b = 0; b < 4; b++) xx4[b] = w->xx[ids[b]];
    int bjs[8];
    double d12[12];
    w->dots_fn(xr, m, w->ct, kp, xx4, w->cc, dots, k, bjs, d12);
    int nbk = cnt - 4 * blk < 4 ? cnt - 4 * blk : 4;
    for (int b = 0; b < nbk; b++) {
      int i = ids[b], old = w->cl[i], bj = bjs[2 * b];
      double d1 = d12[3 * b], d2 = d12[3 * b + 1];
      if (w->lower3) {
        w->sec[i] = bjs[2 * b + 1];
        w->lower3[i] = sqrt(d12[3 * b + 2]);
      }
      w->cl[i] = bj;
      w->upper[i] = sqrt(d1);
      w->lower[i] = sqrt(d2);
      if (chg && bj != old) {
        chg[2 * changed] = i;
        chg[2 * changed + 1] = old;
      }
      if (zero && d1 == 0.0 && d2 == 0.0) *zero = 1;
      changed += bj != old;
    }
  }
  return changed;
}

/* The same in parallel over chunks of the list (fixed chunks: labels and
 * bounds do not depend on the number of threads). */
#define KM_LIST_CHUNK 256
static int km_full_list(km_work *w, const int *list, int cnt) {
  int nc = (cnt + KM_LIST_CHUNK - 1) / KM_LIST_CHUNK, changed = 0;
  int par = w->threads > 1 && (double)cnt * w->m * w->k > CP_PAR_MIN_WORK;
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (par) reduction(+ : changed)
#endif
  for (int c = 0; c < nc; c++) {
    int c0 = c * KM_LIST_CHUNK, len = cnt - c0 < KM_LIST_CHUNK ? cnt - c0 : KM_LIST_CHUNK;
    changed += km_full_serial(w, list + c0, len,
                              w->dots + (size_t)CP_THREAD_ID() * 4 * w->kp, NULL, NULL);
  }
  return changed;
}

/* Give every empty cluster the window with the largest upper bound on the
 * distance to its center, among clusters with more than one member. */
static void km_fix_empty(km_work *w) {
  const double *x = w->x;
  int n = w->n, m = w->m, k = w->k;
  for (int j = 0; j < k; j++) {
    if (w->cnt[j] > 0) continue;
    int far = -1;
    double fd = -1.0;
    for (int i = 0; i < n; i++) {
      if (w->cnt[w->cl[i]] > 1 && w->upper[i] > fd) {
        fd = w->upper[i];
        far = i;
      }
    }
    if (far < 0) return; /* cannot happen when n >= k */
    int donor = w->cl[far];
    const double *xf = x + (size_t)far * m;
    double *cd = w->cent + (size_t)donor * m;
    double nd = (double)w->cnt[donor];
    for (int t = 0; t < m; t++) cd[t] += (cd[t] - xf[t]) / (nd - 1.0);
    w->cnt[donor]--;
    w->cl[far] = j;
    w->cnt[j] = 1;
    memcpy(w->cent + (size_t)j * m, xf, sizeof(double) * m);
    w->upper[far] = 0.0;
    w->lower[far] = 0.0;
  }
}

/* Per-cluster sums and sizes from scratch (fixed order). */
static void km_sums(km_work *w) {
  int m = w->m, k = w->k;
  memset(w->sums, 0, sizeof(double) * (size_t)k * m);
  for (int j = 0; j < k; j++) w->cnt[j] = 0;
  for (int i = 0; i < w->n; i++) {
    const double *xi = w->x + (size_t)i * m;
    double *sj = w->sums + (size_t)w->cl[i] * m;
    for (int t = 0; t < m; t++) sj[t] += xi[t];
    w->cnt[w->cl[i]]++;
  }
}

/* First Lloyd assignment from fresh centers: every window scans all. */
static void km_assign_all(km_work *w) {
  int n = w->n;
  for (int i = 0; i < n; i++) w->cl[i] = -1;
  if (w->blocked) {
    for (int i = 0; i < n; i++) w->list[i] = i;
    km_prepare_blocked(w);
    km_full_list(w, w->list, n);
    km_sums(w);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par)
#endif
  for (int i = 0; i < n; i++) km_point_full(w, i);
  km_sums(w);
}

/* One Lloyd step in three parts, so that restarts can run in lockstep.
 * km_step_begin: new centers from the sums, shifts, half the distance to
 * the nearest other center; returns 1 when the restart stops (tolerance). */
static int km_step_begin(km_work *w) {
  int n = w->n, m = w->m, k = w->k;
  memcpy(w->old, w->cent, sizeof(double) * (size_t)k * m);
  int empty = 0;
  for (int j = 0; j < k; j++) {
    if (w->cnt[j] == 0) {
      empty = 1;
      continue;
    }
    const double *sj = w->sums + (size_t)j * m;
    double *cj = w->cent + (size_t)j * m, inv = 1.0 / w->cnt[j];
    for (int t = 0; t < m; t++) cj[t] = sj[t] * inv;
  }
  if (empty) {
    /* a window moved here gets upper = lower = 0 (it sits at its center) */
    km_fix_empty(w);
    km_sums(w);
    w->slow = 1;
  }
  double dmax = 0.0, dsec = 0.0, dthird = 0.0;
  int jmax = -1, jsec = -1;
  for (int j = 0; j < k; j++) {
    double d = sqrt(cp_sqdist(w->cent + (size_t)j * m, w->old + (size_t)j * m, m));
    w->delta[j] = d;
    if (d > dmax) {
      dthird = dsec;
      dsec = dmax;
      jsec = jmax;
      dmax = d;
      jmax = j;
    } else if (d > dsec) {
      dthird = dsec;
      dsec = d;
      jsec = j;
    } else if (d > dthird) {
      dthird = d;
    }
  }
  w->dmax = dmax;
  w->dsec = dsec;
  w->jmax = jmax;
  w->jsec = jsec;
  w->dthird = dthird;
  if (w->to_conv) {
    double shift = 0.0;
    for (int j = 0; j < k; j++) shift += w->delta[j] * w->delta[j];
    if (shift <= w->tol) return 1;
  }
  for (int j = 0; j < k; j++) w->half[j] = INFINITY;
  for (int j = 0; j < k; j++) {
    for (int l = j + 1; l < k; l++) {
      double d = 0.5 * sqrt(cp_sqdist(w->cent + (size_t)j * m,
                                      w->cent + (size_t)l * m, m));
      if (d < w->half[j]) w->half[j] = d;
      if (d < w->half[l]) w->half[l] = d;
    }
  }
  memcpy(w->prev, w->cl, sizeof(int) * (size_t)n);
  return 0;
}

/* Blocked path: bound tests (in parallel); the windows that need a full
 * scan go to w->list (ascending), and the centers are prepared for the
 * blocked distances. Returns how many. */
static int km_step_list(km_work *w) {
  int n = w->n;
  double dmax = w->dmax, dsec = w->dsec;
  int jmax = w->jmax;
  int *need = w->list;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par_light)
#endif
  for (int i = 0; i < n; i++) {
    int a = w->cl[i];
    need[i] = 0;
    if (w->upper[i] == 0.0 && w->lower[i] == 0.0) continue; /* reseeded */
    w->upper[i] += w->delta[a];
    w->lower[i] -= a == jmax ? dsec : dmax;
    double z = w->lower[i] > w->half[a] ? w->lower[i] : w->half[a];
    /* no separate tightening of the upper bound: a blocked scan of all
     * centers costs little more than one plain distance */
    need[i] = w->upper[i] > z;
  }
  int cnt = 0;
  for (int i = 0; i < n; i++) {
    if (need[i]) need[cnt++] = i;
  }
  if (cnt > 0) km_prepare_blocked(w);
  return cnt;
}

/* Plain path: bound tests and full scans window by window. */
static int km_step_scan(km_work *w) {
  int n = w->n, m = w->m, changed = 0;
  double dmax = w->dmax, dsec = w->dsec;
  int jmax = w->jmax;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par) reduction(+ : changed)
#endif
  for (int i = 0; i < n; i++) {
    int a = w->cl[i];
    if (w->upper[i] == 0.0 && w->lower[i] == 0.0) continue; /* reseeded */
    w->upper[i] += w->delta[a];
    w->lower[i] -= a == jmax ? dsec : dmax;
    double z = w->lower[i] > w->half[a] ? w->lower[i] : w->half[a];
    if (w->upper[i] <= z) continue;
    w->upper[i] = sqrt(cp_sqdist(w->x + (size_t)i * m, w->cent + (size_t)a * m, m));
    if (w->upper[i] <= z) continue;
    changed += km_point_full(w, i);
  }
  return changed;
}

/* Cluster sums and sizes after window i moved from cluster a to its label. */
static void km_sums_move(km_work *w, int i, int a) {
  int m = w->m, b = w->cl[i];
  const double *xi = w->x + (size_t)i * m;
  double *sa = w->sums + (size_t)a * m, *sb = w->sums + (size_t)b * m;
  for (int t = 0; t < m; t++) {
    sa[t] -= xi[t];
    sb[t] += xi[t];
  }
  w->cnt[a]--;
  w->cnt[b]++;
}

/* Iteration count; returns 1 when the restart stops (converged, or few
 * changes when Hartigan follows). */
static int km_step_done(km_work *w, int changed) {
  w->it++;
  if (changed == 0) {
    w->cv = 1;
    return 1;
  }
  if (!w->to_conv && (double)changed * 32.0 < w->n) return 1;
  return 0;
}

/* Reseeded windows, cluster sums for the windows that changed, iteration
 * count. Returns 1 when the restart stops (converged, or few changes when
 * Hartigan follows). */
static int km_step_end(km_work *w, int changed) {
  int n = w->n;
  /* reseeded windows: exact bounds from here on */
  for (int i = 0; i < n; i++) {
    if (w->upper[i] == 0.0 && w->lower[i] == 0.0) {
      changed += km_point_full(w, i);
      if (w->lower3) {
        /* lower bounds all the other centers */
        w->sec[i] = (w->cl[i] + 1) % w->k;
        w->lower3[i] = w->lower[i];
      }
    }
  }
  for (int i = 0; i < n; i++) {
    if (w->prev[i] != w->cl[i]) km_sums_move(w, i, w->prev[i]);
  }
  return km_step_done(w, changed);
}

/* km_step_end for a lockstep restart without reseeded windows: the cluster
 * sums follow the changes recorded chunk by chunk (in window order, as
 * km_step_end). */
static int km_step_end_chunks(km_work *w, int changed, const int *part, int ch,
                              int nch) {
  for (int c = 0; c < nch; c++) {
    const int *chg = w->chg + 2 * (size_t)c * ch;
    for (int q = 0; q < part[c]; q++) km_sums_move(w, chg[2 * q], chg[2 * q + 1]);
  }
  return km_step_done(w, changed);
}

/* Lloyd iterations with Hamerly's bounds after a first assignment (labels,
 * upper and lower bounds, sums set); cluster sums are updated for the
 * windows that changed only. Stops when no label changes (*conv = 1), when
 * fewer than n / 32 change (the Hartigan passes that follow finish the job
 * more cheaply; not with to_conv), when the centers stop moving (to_conv),
 * or after max_iter assignment passes. */
static int km_lloyd(km_work *w, int *iter, int *conv) {
  w->cv = 0;
  w->it = 1;
  while (w->it < w->max_iter) {
    if (cp_interrupted()) return CP_ERR_INTERRUPT;
    if (km_step_begin(w)) break;
    int changed;
    if (w->blocked) {
      int cnt = km_step_list(w);
      changed = cnt > 0 ? km_full_list(w, w->list, cnt) : 0;
    } else {
      changed = km_step_scan(w);
    }
    if (km_step_end(w, changed)) break;
  }
  *iter = w->it;
  *conv = w->cv;
  return CP_OK;
}

/* Hartigan refinement with distance bounds. The centers are anchored (ref)
 * at the start of every pass; net[c] = |c - ref_c| and off[c] sums the nets
 * at the earlier anchorings, so that a center moved by at most
 * net(then) + off(now) - off(then) + net(now) between two times. Bounds are
 * stored as ub[i] = d - off + net (own center) and lb[i*k + l] =
 * d - net + off (others) at the time of their distance d, so that
 * ub[i] + drift[own] bounds the distance to the own center from above and
 * lb[i*k + l] - drift[l] the distance to center l from below, with
 * drift = off + net. A window whose bounds show that no move can pay is
 * skipped without touching its data. Net moves are much shorter than the
 * summed steps of a pass. */

/* net and drift of center j from its current position. */
static void km_net(km_work *w, int j) {
  int m = w->m, k = w->k;
  double *net = w->drift + k, *off = w->drift + 2 * k;
  net[j] = sqrt(cp_sqdist(w->cent + (size_t)j * m, w->ref + (size_t)j * m, m));
  w->drift[j] = off[j] + net[j];
}

/* Anchors the centers where they are (off = 0 when reset). */
static void km_anchor(km_work *w, int reset) {
  int k = w->k;
  double *net = w->drift + k, *off = w->drift + 2 * k;
  memcpy(w->ref, w->cent, sizeof(double) * (size_t)k * w->m);
  for (int j = 0; j < k; j++) {
    off[j] = reset ? 0.0 : off[j] + net[j];
    net[j] = 0.0;
    w->drift[j] = off[j];
  }
}

/* Moves window i (exact distances dj to its center j, dl to center l) and
 * updates both centers, their drifts and the window's bounds. */
static void km_move(km_work *w, int i, int j, int l, double dj, double dl) {
  const double *xi = w->x + (size_t)i * w->m;
  double *cj = w->cent + (size_t)j * w->m, *cl = w->cent + (size_t)l * w->m;
  double nj = (double)w->cnt[j], nl = (double)w->cnt[l];
  for (int t = 0; t < w->m; t++) {
    cj[t] += (cj[t] - xi[t]) / (nj - 1.0);
    cl[t] += (xi[t] - cl[t]) / (nl + 1.0);
  }
  km_net(w, j);
  km_net(w, l);
  w->cnt[j]--;
  w->cnt[l]++;
  w->cl[i] = l;
  /* exact: |x - c_l'| = dl nl / (nl + 1), |x - c_j'| = dj nj / (nj - 1) */
  const double *net = w->drift + w->k, *off = w->drift + 2 * w->k;
  w->upper[i] = dl * (nl / (nl + 1.0)) - off[l] + net[l];
  w->lb[(size_t)i * w->k + j] = dj * (nj / (nj - 1.0)) + off[j] - net[j];
}

/* Slack for rounding in the bound tests. */
#define KM_SLACK (1.0 + 1e-9)

/* Per cluster n_l / (n_l + 1) and n_l / (n_l - 1) (fk, gk), the largest
 * drift and the smallest fk. */
static void km_pass_limits(km_work *w, double *dmax, double *fmin) {
  *dmax = 0.0;
  *fmin = 1.0;
  for (int l = 0; l < w->k; l++) {
    if (w->drift[l] > *dmax) *dmax = w->drift[l];
    double nl = (double)w->cnt[l];
    w->fk[l] = nl / (nl + 1.0);
    w->gk[l] = nl / (nl - 1.0);
    if (w->fk[l] < *fmin) *fmin = w->fk[l];
  }
}

/* One Hartigan pass. exact = 1 evaluates every window (and resets its
 * bounds); exact = 0 skips the windows whose bounds rule out a move: first
 * by the smallest of its lower bounds against the largest drift, then
 * cluster by cluster. Returns the number of moves or -1 on interrupt. */
/* 1 when the bounds of window i (in a cluster of more than one) do not rule
 * out a move. */
static inline int km_need(const km_work *w, int i, int j, double dmax, double fmin) {
  const double *drift = w->drift, *lbi = w->lb + (size_t)i * w->k;
  double u = w->upper[i] + drift[j];
  double keep_ub = u * u * w->gk[j] * KM_SLACK;
  double lo = w->lbmin[i] - dmax;
  if (lo > 0.0 && lo * lo * fmin >= keep_ub) return 0;
  int need = 0;
  for (int l = 0; l < w->k; l++) {
    lo = lbi[l] - drift[l];
    lo = lo > 0.0 ? lo : 0.0;
    need |= (lo * lo * w->fk[l] < keep_ub) & (l != j);
  }
  return need;
}

/* Windows ahead whose data a pass asks the cache for when their bounds
 * (as they stand) do not rule out a move (windows of at least
 * KM_AHEAD_MIN_M values). */
#define KM_AHEAD 16
#define KM_AHEAD_MIN_M 64
#if defined(__GNUC__) || defined(__clang__)
#define KM_PREFETCH(p) __builtin_prefetch(p)
#else
#define KM_PREFETCH(p) ((void)(p))
#endif

static int km_pass(km_work *w, int exact) {
  int n = w->n, m = w->m, k = w->k, moved = 0, evals = 0;
  int ahead = !exact && m >= KM_AHEAD_MIN_M;
  double *ub = w->upper, *drift = w->drift, *fk = w->fk, *gk = w->gk;
  const double *net = w->drift + k, *off = w->drift + 2 * k;
  double dmax, fmin;
  km_anchor(w, 0);
  km_pass_limits(w, &dmax, &fmin);
  for (int i = 0; i < n; i++) {
    if ((i & 4095) == 4095 && cp_interrupted()) return -1;
    int ia = i + KM_AHEAD;
    if (ahead && ia < n && w->cnt[w->cl[ia]] > 1 && km_need(w, ia, w->cl[ia], dmax, fmin)) {
      const double *xa = w->x + (size_t)ia * m;
      for (int t = 0; t < m; t += 8) KM_PREFETCH(xa + t);
      KM_PREFETCH(xa + m - 1);
    }
    int j = w->cl[i];
    double nj = (double)w->cnt[j];
    if (nj <= 1.0) continue;
    double *lbi = w->lb + (size_t)i * k;
    if (!exact && !km_need(w, i, j, dmax, fmin)) continue;
    const double *xi = w->x + (size_t)i * m;
    evals++;
    double dj = sqrt(cp_sqdist(xi, w->cent + (size_t)j * m, m));
    ub[i] = dj - off[j] + net[j];
    double keep = dj * dj * gk[j];
    double best = INFINITY, bdl = 0.0;
    int bl = -1;
    for (int l = 0; l < k; l++) {
      if (l == j) continue;
      double f = fk[l];
      double cap = best < keep ? best : keep;
      if (!exact) {
        double lo = lbi[l] - drift[l];
        if (lo < 0.0) lo = 0.0;
        if (lo * lo * f >= cap * KM_SLACK) continue;
      }
      /* exact (not stopped early): tight bounds keep later passes cheap */
      double d2 = cp_sqdist(xi, w->cent + (size_t)l * m, m);
      double dl = sqrt(d2);
      lbi[l] = dl + off[l] - net[l];
      if (d2 * f < best) {
        best = d2 * f;
        bl = l;
        bdl = dl;
      }
    }
    if (bl >= 0 && keep - best > 1e-12 * keep) {
      km_move(w, i, j, bl, dj, bdl);
      moved++;
      km_pass_limits(w, &dmax, &fmin);
    }
    double lmin = INFINITY;
    for (int l = 0; l < k; l++) {
      if (l != w->cl[i] && lbi[l] < lmin) lmin = lbi[l];
    }
    w->lbmin[i] = lmin;
  }
  w->evals = evals;
  return moved;
}

/* Recomputes the centers exactly and their drifts, so the bounds stay
 * valid. */
static void km_exact_centers(km_work *w) {
  cp_cluster_means(w->x, w->n, w->m, w->k, w->cl, w->cent, w->cnt);
  for (int j = 0; j < w->k; j++) km_net(w, j);
}

/* Large problems: all Hartigan bounds anew from blocked distances to the
 * current centers, widened by a bound on their rounding error
 * (|x|^2 - 2 x.c + |c|^2 in floating point errs by at most about
 * (m + 3) u (|x| + |c|)^2). The bounds only decide which windows a pass
 * may skip, never a move. */
static void km_refresh(km_work *w) {
  int n = w->n, m = w->m, k = w->k, kp = w->kp;
  km_prepare_blocked(w);
  double *cnh = w->half; /* center norms (half is Lloyd's scratch) */
  for (int l = 0; l < k; l++) cnh[l] = sqrt(w->cc[l]);
  km_anchor(w, 1); /* the bounds start over */
  double eps = 2.3e-16 * (m + 4);
  int nb = (n + KM_LIST_CHUNK - 1) / KM_LIST_CHUNK;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par)
#endif
  for (int c = 0; c < nb; c++) {
    double *dots = w->dots + (size_t)CP_THREAD_ID() * 4 * kp;
    int i0 = c * KM_LIST_CHUNK, i1 = i0 + KM_LIST_CHUNK < n ? i0 + KM_LIST_CHUNK : n;
    for (int ib = i0; ib < i1; ib += 4) {
      const double *xr[4];
      double xx4[4];
      for (int b = 0; b < 4; b++) {
        int i = ib + b < i1 ? ib + b : i1 - 1;
        xr[b] = w->x + (size_t)i * m;
        xx4[b] = w->xx[i];
      }
      w->dots_fn(xr, m, w->ct, kp, xx4, w->cc, dots, k, NULL, NULL);
      for (int b = 0; b < 4 && ib + b < i1; b++) {
        int i = ib + b, j = w->cl[i];
        const double *db = dots + (size_t)b * kp;
        double *lbi = w->lb + (size_t)i * k, xn = sqrt(w->xx[i]), lmin = INFINITY;
        for (int l = 0; l < k; l++) {
          double e = eps * (xn + cnh[l]) * (xn + cnh[l]);
          double lo = db[l] - e;
          lbi[l] = lo > 0.0 ? sqrt(lo) : 0.0;
          if (l != j && lbi[l] < lmin) lmin = lbi[l];
        }
        double e = eps * (xn + cnh[j]) * (xn + cnh[j]);
        w->upper[i] = sqrt(db[j] + e);
        w->lbmin[i] = lmin;
      }
    }
  }
  w->evals = 0;
}

/* Hartigan refinement: single-window moves while one lowers the total
 * within sum of squares, i.e. while n_l/(n_l+1) |x - c_l|^2 is below
 * n_j/(n_j-1) |x - c_j|^2. The bounds start from Lloyd's (upper bound to
 * the own center, lower bound to any other). Passes run until none moves;
 * then the centers are recomputed exactly and another pass confirms (at
 * most max(max_iter, 10) rounds). */
static int km_hartigan(km_work *w, int *moves) {
  int n = w->n, k = w->k;
  int rounds = w->max_iter > 10 ? w->max_iter : 10;
  km_anchor(w, 1); /* Lloyd's bounds hold for these centers */
  km_exact_centers(w);
  int exact = 0;
  for (int j = 0; j < k; j++) exact |= w->cnt[j] == 0;
  if (exact) {
    km_fix_empty(w);
    for (int j = 0; j < k; j++) km_net(w, j);
  }
  for (int i = 0; i < n; i++) {
    double *lbi = w->lb + (size_t)i * k;
    for (int l = 0; l < k; l++) lbi[l] = w->lower[i];
    w->lbmin[i] = w->lower[i];
  }
  /* large problems: Lloyd's bounds from blocked distances (|x|^2 - 2 x.c +
   * |c|^2) carry rounding beyond the slack when the windows sit far from
   * the origin; start from bounds with a rounding margin instead */
  if (w->blocked) {
    km_refresh(w);
    exact = 0;
  }
  *moves = 0;
  int moved = 0;
  for (int r = 0; r < rounds; r++) {
    moved = 1;
    for (int p = 0; p < 1000 && moved > 0; p++) {
      if (w->blocked && w->evals > n / KM_REFRESH) km_refresh(w);
      moved = km_pass(w, exact);
      exact = 0;
      if (moved < 0) return CP_ERR_INTERRUPT;
      *moves += moved;
    }
    km_exact_centers(w);
    if (w->blocked && w->evals > n / KM_REFRESH) km_refresh(w);
    moved = km_pass(w, 0);
    if (moved < 0) return CP_ERR_INTERRUPT;
    *moves += moved;
    if (moved == 0) break;
  }
  if (moved != 0) km_exact_centers(w); /* round limit reached */
  return CP_OK;
}

/* Total within-cluster sum of squares (distances in parallel, summed in
 * order). */
static double km_objective(km_work *w) {
  const double *x = w->x;
  int n = w->n, m = w->m;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par_light)
#endif
  for (int i = 0; i < n; i++) {
    w->d2[i] = cp_sqdist(x + (size_t)i * m, w->cent + (size_t)w->cl[i] * m, m);
  }
  return km_sum(w->d2, n);
}

/* Lloyd (after a first assignment) then Hartigan; the objective leaves
 * the exact squared distance of every window to its center in d2. */
static int km_refine(km_work *w, double *obj, int *iter, int *conv, int *moves) {
  int status = km_lloyd(w, iter, conv);
  if (status != CP_OK) return status;
  status = km_hartigan(w, moves);
  if (status != CP_OK) return status;
  *obj = km_objective(w);
  return CP_OK;
}

/* First Lloyd assignment after center `drop` moved to a new place, from the
 * state left by km_refine: windows of the dropped cluster scan all centers;
 * the others compare their exact distance (d2) with the new center only and
 * take the Hartigan lower bounds for the rest. */
static void km_assign_swap(km_work *w, int drop) {
  int n = w->n, m = w->m, k = w->k;
  const double *cnew = w->cent + (size_t)drop * m;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par_light)
#endif
  for (int i = 0; i < n; i++) {
    int a = w->cl[i];
    if (a == drop) {
      w->cl[i] = -1;
      km_point_full(w, i);
      continue;
    }
    const double *lbi = w->lb + (size_t)i * k;
    double lo = INFINITY;
    for (int l = 0; l < k; l++) {
      if (l == a || l == drop) continue;
      double v = lbi[l] - w->drift[l];
      if (v < lo) lo = v;
    }
    if (lo < 0.0) lo = 0.0;
    double own = w->d2[i];
    double bound = own > lo * lo ? own : lo * lo;
    /* exact when <= bound, else a lower bound */
    double dn = cp_sqdist_bounded(w->x + (size_t)i * m, cnew, m, bound);
    if (dn < own) {
      w->cl[i] = drop;
      w->upper[i] = sqrt(dn);
      w->lower[i] = fmin(lo, sqrt(own));
    } else {
      w->upper[i] = sqrt(own);
      w->lower[i] = fmin(lo, sqrt(dn));
    }
  }
  km_sums(w);
}

/* Saves (dir = 0) or restores (dir = 1) the state a swap trial changes. */
static void km_swap_state(km_work *w, int dir) {
  size_t n = (size_t)w->n, k = (size_t)w->k, km = k * (size_t)w->m;
#define KM_COPY(a, b, len) \
  (dir ? memcpy((a), (b), sizeof(*(a)) * (len)) : memcpy((b), (a), sizeof(*(a)) * (len)))
  KM_COPY(w->cent, w->save_cent, km);
  KM_COPY(w->cl, w->save_cl, n);
  KM_COPY(w->cnt, w->save_cnt, k);
  KM_COPY(w->lb, w->save_lb, n * k);
  KM_COPY(w->drift, w->save_drift, 3 * k);
  KM_COPY(w->ref, w->save_ref, km);
  KM_COPY(w->d2, w->save_d2, n);
#undef KM_COPY
}

/* Swap search: drop a center drawn uniformly, add a window drawn with
 * probability proportional to its squared distance to the remaining
 * centers, refine, and keep the result when the objective drops. */
static int km_swap(km_work *w, cp_rng *rng, int trials, double *obj, int *iter,
                   int *conv, int *moves) {
  const double *x = w->x;
  int n = w->n, m = w->m, k = w->k;
  if (k < 2) return CP_OK;
  for (int tr = 0; tr < trials; tr++) {
    km_swap_state(w, 0);
    int drop = (int)cp_rng_int(rng, (uint64_t)k);
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (w->par_light)
#endif
    for (int i = 0; i < n; i++) {
      if (w->cl[i] != drop) {
        w->cand[i] = w->d2[i];
        continue;
      }
      const double *xi = x + (size_t)i * m;
      double bd = INFINITY;
      for (int j = 0; j < k; j++) {
        if (j == drop) continue;
        double d = cp_sqdist_bounded(xi, w->cent + (size_t)j * m, m, bd);
        if (d < bd) bd = d;
      }
      w->cand[i] = bd;
    }
    double total = km_sum(w->cand, n);
    int pick = total > 0.0 ? cp_draw_index(w->cand, n, total, rng)
                           : (int)cp_rng_int(rng, (uint64_t)n);
    memcpy(w->cent + (size_t)drop * m, x + (size_t)pick * m, sizeof(double) * m);
    km_assign_swap(w, drop);
    double o2;
    int it2, cv2, mv2;
    int status = km_refine(w, &o2, &it2, &cv2, &mv2);
    if (status != CP_OK) return status;
    if (o2 < *obj) {
      *obj = o2;
      *iter = it2;
      *conv = cv2;
      *moves = mv2;
    } else {
      km_swap_state(w, 1);
    }
  }
  return CP_OK;
}

/* ------------------------------------------------------------------------ */
/* Lockstep restarts (large problems): every restart has its own centers,
 * labels and bounds; the Lloyd steps of all restarts scan the windows chunk
 * by chunk, so that a chunk of windows is read from memory once for all
 * restarts. Each restart computes exactly what it would alone. */

/* Windows per chunk: about 256 KB of data. */
static int km_chunk(int m) {
  int c = (int)(262144 / (8 * (size_t)m));
  return c < 16 ? 16 : c;
}

static void km_sub_free(km_work *s) {
  free(s->cent);
  free(s->old);
  free(s->sums);
  free(s->ct);
  free(s->cc);
  free(s->cl);
  free(s->prev);
  free(s->upper);
  free(s->lower);
  free(s->list);
  free(s->cnt);
  free(s->delta);
  free(s->half);
  free(s->sec);
  free(s->chg);
  free(s->lower3);
}

/* A restart's own state, sharing the data, norms and scratch of w. */
static int km_sub_alloc(km_work *s, const km_work *w) {
  *s = *w;
  size_t n = (size_t)w->n, k = (size_t)w->k, m = (size_t)w->m, kp = (size_t)w->kp;
  s->cent = malloc(sizeof(double) * k * m);
  s->old = malloc(sizeof(double) * k * m);
  s->sums = malloc(sizeof(double) * k * m);
  s->ct = malloc(sizeof(double) * kp * m);
  s->cc = malloc(sizeof(double) * kp);
  s->cl = malloc(sizeof(int) * n);
  s->prev = malloc(sizeof(int) * n);
  s->upper = malloc(sizeof(double) * n);
  s->lower = malloc(sizeof(double) * n);
  s->list = malloc(sizeof(int) * n);
  s->cnt = malloc(sizeof(int) * k);
  s->delta = malloc(sizeof(double) * k);
  s->half = malloc(sizeof(double) * k);
  s->sec = malloc(sizeof(int) * n);
  s->chg = malloc(sizeof(int) * 2 * n);
  s->slow = 0;
  s->lower3 = malloc(sizeof(double) * n);
  if (!s->sec || !s->lower3 || !s->chg) return CP_ERR_ALLOC;
  if (!s->cent || !s->old || !s->sums || !s->ct || !s->cc || !s->cl || !s->prev ||
      !s->upper || !s->lower || !s->list || !s->cnt || !s->delta || !s->half) {
    return CP_ERR_ALLOC;
  }
  return CP_OK;
}

/* Lockstep k-means++ seeding: restart r keeps its distances to the nearest
 * chosen center in sub[r].upper; every step evaluates the candidates of
 * all restarts in one blocked pass over the windows (chunk partial sums
 * added in chunk order), then one more pass adds the chosen centers. Same
 * draws per restart as km_seed. */
typedef struct {
  int kq, nch, ch;
  double *ct, *cc, *dots, *part;
  int *cand, *own;
} km_seed_ws;

/* One pass: distances of all windows to candidates cand[0 .. nc - 1] (of
 * restart own[j]); update = 0 sums min(d, d2) per chunk into part, update =
 * 1 lowers d2 (one candidate per restart). */
static void km_seed_pass(const km_work *w, km_work *sub, km_seed_ws *s, int nc,
                         int update) {
  int n = w->n, m = w->m, kq = (nc + 3) / 4 * 4;
  for (int t = 0; t < m; t++) {
    double *row = s->ct + (size_t)t * kq;
    for (int j = 0; j < nc; j++) row[j] = w->x[(size_t)s->cand[j] * m + t];
    for (int j = nc; j < kq; j++) row[j] = 0.0;
  }
  for (int j = 0; j < nc; j++) s->cc[j] = w->xx[s->cand[j]];
  for (int j = nc; j < kq; j++) s->cc[j] = 0.0;
  int par = w->threads > 1 && (double)n * m * kq > CP_PAR_MIN_WORK;
  (void)par;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (par)
#endif
  for (int c = 0; c < s->nch; c++) {
    double *dots = s->dots + (size_t)CP_THREAD_ID() * 4 * s->kq;
    double *part = s->part + (size_t)c * s->kq;
    if (!update) for (int j = 0; j < nc; j++) part[j] = 0.0;
    int i0 = c * s->ch, i1 = i0 + s->ch < n ? i0 + s->ch : n;
    for (int ib = i0; ib < i1; ib += 4) {
      const double *xr[4];
      for (int b = 0; b < 4; b++) xr[b] = w->x + (size_t)(ib + b < i1 ? ib + b : i1 - 1) * m;
      double xx4[4];
      for (int b = 0; b < 4; b++) xx4[b] = w->xx[ib + b < i1 ? ib + b : i1 - 1];
      w->dots_fn(xr, m, s->ct, kq, xx4, s->cc, dots, nc, NULL, NULL);
      for (int b = 0; b < 4 && ib + b < i1; b++) {
        int i = ib + b;
        const double *db = dots + (size_t)b * kq;
        for (int j = 0; j < nc; j++) {
          double d = db[j];
          double *d2 = sub[s->own[j]].upper + i;
          if (update) {
            if (d < *d2) *d2 = d;
          } else {
            part[j] += d < *d2 ? d : *d2;
          }
        }
      }
    }
  }
}

static int km_seed_lockstep(km_work *w, km_work *sub, int R, uint64_t seed) {
  int n = w->n, m = w->m, k = w->k, status = CP_OK;
  int trials = 2 + (int)log((double)k);
  km_seed_ws s;
  s.kq = (R * (trials > 1 ? trials : 1) + 3) / 4 * 4;
  s.ch = km_chunk(m);
  s.nch = (n + s.ch - 1) / s.ch;
  s.ct = malloc(sizeof(double) * (size_t)m * s.kq);
  s.cc = malloc(sizeof(double) * (size_t)s.kq);
  s.dots = malloc(sizeof(double) * (size_t)w->threads * 4 * s.kq);
  s.part = malloc(sizeof(double) * (size_t)s.nch * s.kq);
  s.cand = malloc(sizeof(int) * (size_t)s.kq);
  s.own = malloc(sizeof(int) * (size_t)s.kq);
  cp_rng *rng = malloc(sizeof(cp_rng) * (size_t)R);
  int *base = malloc(sizeof(int) * (size_t)R), *pick = malloc(sizeof(int) * (size_t)R);
  if (!s.ct || !s.cc || !s.dots || !s.part || !s.cand || !s.own || !rng || !base || !pick) {
    status = CP_ERR_ALLOC;
    goto out;
  }
  for (int r = 0; r < R; r++) {
    cp_rng_init(&rng[r], seed, (uint64_t)r);
    pick[r] = (int)cp_rng_int(&rng[r], (uint64_t)n);
    for (int i = 0; i < n; i++) sub[r].upper[i] = INFINITY;
  }
  for (int c = 0; c < k; c++) {
    if (cp_interrupted()) {
      status = CP_ERR_INTERRUPT;
      goto out;
    }
    if (c > 0) {
      int nc = 0;
      for (int r = 0; r < R; r++) {
        double total = km_sum(sub[r].upper, n);
        base[r] = -1;
        if (!(total > 0.0)) {
          pick[r] = (int)cp_rng_int(&rng[r], (uint64_t)n);
          continue;
        }
        base[r] = nc;
        for (int tr = 0; tr < trials; tr++) {
          s.cand[nc] = cp_draw_index(sub[r].upper, n, total, &rng[r]);
          s.own[nc++] = r;
        }
      }
      if (nc > 0) km_seed_pass(w, sub, &s, nc, 0);
      for (int r = 0; r < R; r++) {
        if (base[r] < 0) continue;
        double best_pot = INFINITY;
        int bt = 0;
        for (int tr = 0; tr < trials; tr++) {
          double pot = 0.0;
          for (int ci = 0; ci < s.nch; ci++) pot += s.part[(size_t)ci * s.kq + base[r] + tr];
          if (tr == 0 || pot < best_pot) {
            best_pot = pot;
            bt = tr;
          }
        }
        pick[r] = s.cand[base[r] + bt];
      }
    }
    for (int r = 0; r < R; r++) {
      memcpy(sub[r].cent + (size_t)c * m, w->x + (size_t)pick[r] * m, sizeof(double) * m);
      s.cand[r] = pick[r];
      s.own[r] = r;
    }
    if (c < k - 1) km_seed_pass(w, sub, &s, R, 1);
  }
out:
  free(s.ct);
  free(s.cc);
  free(s.dots);
  free(s.part);
  free(s.cand);
  free(s.own);
  free(rng);
  free(base);
  free(pick);
  return status;
}

/* Hamerly's bound tests of one Lloyd step (after km_step_begin) for the
 * windows i0 .. i1 - 1 of a lockstep restart; the windows that need a full
 * scan go to list (no separate tightening of the upper bound: a blocked
 * scan of all centers costs little more than one plain distance). Returns
 * how many. */
static int km_filter(km_work *w, int i0, int i1, int *list) {
  int jmax = w->jmax, jsec = w->jsec, cnt = 0;
  double dmax = w->dmax, dsec = w->dsec, dthird = w->dthird;
  for (int i = i0; i < i1; i++) {
    int a = w->cl[i], b = w->sec[i];
    if (w->upper[i] == 0.0 && w->lower[i] == 0.0) continue; /* reseeded */
    w->upper[i] += w->delta[a];
    w->lower[i] -= w->delta[b];
    /* largest shift of the centers other than a and b */
    int ma = a == jmax || b == jmax, ms = a == jsec || b == jsec;
    w->lower3[i] -= !ma ? dmax : !ms ? dsec : dthird;
    double lo = w->lower[i] < w->lower3[i] ? w->lower[i] : w->lower3[i];
    double z = lo > w->half[a] ? lo : w->half[a];
    list[cnt] = i;
    cnt += w->upper[i] > z;
  }
  return cnt;
}

/* Seeding and Lloyd (to convergence) for restarts 0 .. R - 1 in lockstep;
 * leaves the best in centers / cluster / info. */
static int km_restarts_lockstep(km_work *w, int R, uint64_t seed, double *centers,
                                int *cluster, cp_cluster_info *info) {
  int n = w->n, m = w->m, k = w->k, status = CP_OK;
  int ch = km_chunk(m), nch = (n + ch - 1) / ch;
  km_work *sub = calloc((size_t)R, sizeof(km_work));
  int *act = calloc((size_t)R, sizeof(int));
  int *part = calloc((size_t)R * nch, sizeof(int));
  int *zero = calloc((size_t)R * nch, sizeof(int));
  int *clist = malloc(sizeof(int) * (size_t)w->threads * ch);
  int nsub = 0;
  if (!sub || !act || !part || !zero || !clist) {
    status = CP_ERR_ALLOC;
    goto out;
  }
  for (; nsub < R; nsub++) {
    status = km_sub_alloc(&sub[nsub], w);
    if (status != CP_OK) {
      nsub++;
      goto out;
    }
  }
  status = km_seed_lockstep(w, sub, R, seed);
  if (status != CP_OK) goto out;
  for (int r = 0; r < R; r++) {
    km_assign_all(&sub[r]);
    for (int i = 0; i < n; i++) {
      if (sub[r].upper[i] == 0.0 && sub[r].lower[i] == 0.0) sub[r].slow = 1;
    }
    sub[r].it = 1;
    sub[r].cv = 0;
    act[r] = 1;
  }
  int nact = R;
  while (nact > 0) {
    if (cp_interrupted()) {
      status = CP_ERR_INTERRUPT;
      goto out;
    }
    for (int r = 0; r < R; r++) {
      if (!act[r]) continue;
      if (sub[r].it >= w->max_iter || km_step_begin(&sub[r])) {
        act[r] = 0;
        nact--;
        continue;
      }
      km_prepare_blocked(&sub[r]);
    }
    if (nact == 0) break;
    int par = w->threads > 1 && (double)n * m * nact > CP_PAR_MIN_WORK;
    (void)par;
#ifdef _OPENMP
#pragma omp parallel for num_threads(w->threads) schedule(static) if (par)
#endif
    for (int c = 0; c < nch; c++) {
      int tid = CP_THREAD_ID();
      double *dots = w->dots + (size_t)tid * 4 * w->kp;
      int *lst = clist + (size_t)tid * ch;
      int i0 = c * ch, i1 = i0 + ch < n ? i0 + ch : n;
      for (int r = 0; r < R; r++) {
        if (!act[r]) continue;
        int q = km_filter(&sub[r], i0, i1, lst);
        part[(size_t)r * nch + c] = q > 0 ? km_full_serial(&sub[r], lst, q, dots,
                                                           sub[r].chg + 2 * (size_t)c * ch,
                                                           zero + (size_t)r * nch + c) : 0;
      }
    }
    for (int r = 0; r < R; r++) {
      if (!act[r]) continue;
      int changed = 0;
      for (int c = 0; c < nch; c++) {
        changed += part[(size_t)r * nch + c];
        sub[r].slow |= zero[(size_t)r * nch + c];
        zero[(size_t)r * nch + c] = 0;
      }
      if (sub[r].slow ? km_step_end(&sub[r], changed)
                      : km_step_end_chunks(&sub[r], changed, part + (size_t)r * nch, ch, nch)) {
        act[r] = 0;
        nact--;
      }
    }
  }
  double best_obj = INFINITY;
  for (int r = 0; r < R; r++) {
    cp_cluster_means(w->x, n, m, k, sub[r].cl, sub[r].cent, sub[r].cnt);
    double obj = km_objective(&sub[r]);
    if (!isfinite(obj)) {
      status = CP_ERR_NUMERIC;
      goto out;
    }
    if (r == 0 || obj < best_obj) {
      best_obj = obj;
      memcpy(centers, sub[r].cent, sizeof(double) * (size_t)k * m);
      memcpy(cluster, sub[r].cl, sizeof(int) * (size_t)n);
      info->objective = obj;
      info->iterations = sub[r].it;
      info->converged = sub[r].cv;
      info->restart = r;
      info->moves = 0;
    }
  }
out:
  for (int r = 0; r < nsub; r++) km_sub_free(&sub[r]);
  free(sub);
  free(act);
  free(part);
  free(zero);
  free(clist);
  return status;
}

int cp_kmeans(const double *x, int n, int m, int k, int n_start, int max_iter,
              uint64_t seed, int threads, double *centers, int *cluster,
              cp_cluster_info *info) {
  if (n < 1 || m < 1 || k < 1 || k > n || n_start < 1 || max_iter < 1) {
    return CP_ERR_INPUT;
  }
  km_work w;
  memset(&w, 0, sizeof(w));
  w.x = x;
  w.n = n;
  w.m = m;
  w.k = k;
  w.max_iter = max_iter;
  w.threads = threads < 1 ? 1 : threads;
  w.par = (double)n * m * k > CP_PAR_MIN_WORK && w.threads > 1;
  w.par_light = (double)n * m > CP_PAR_MIN_WORK && w.threads > 1;
  size_t km = (size_t)k * m;
  w.cent = malloc(sizeof(double) * km);
  w.old = malloc(sizeof(double) * km);
  w.sums = malloc(sizeof(double) * km);
  w.prev = malloc(sizeof(int) * (size_t)n);
  w.save_cent = malloc(sizeof(double) * km);
  w.cl = malloc(sizeof(int) * (size_t)n);
  w.lb = malloc(sizeof(double) * (size_t)n * k);
  w.drift = malloc(sizeof(double) * 3 * (size_t)k);
  w.ref = malloc(sizeof(double) * km);
  w.save_ref = malloc(sizeof(double) * km);
  w.fk = malloc(sizeof(double) * (size_t)k);
  w.gk = malloc(sizeof(double) * (size_t)k);
  w.lbmin = malloc(sizeof(double) * (size_t)n);
  w.save_cl = malloc(sizeof(int) * (size_t)n);
  w.save_cnt = malloc(sizeof(int) * (size_t)k);
  w.save_lb = malloc(sizeof(double) * (size_t)n * k);
  w.save_drift = malloc(sizeof(double) * 3 * (size_t)k);
  w.save_d2 = malloc(sizeof(double) * (size_t)n);
  w.cnt = malloc(sizeof(int) * (size_t)k);
  w.delta = malloc(sizeof(double) * (size_t)k);
  w.half = malloc(sizeof(double) * (size_t)k);
  w.upper = malloc(sizeof(double) * (size_t)n);
  w.lower = malloc(sizeof(double) * (size_t)n);
  w.d2 = malloc(sizeof(double) * (size_t)n);
  w.cand = malloc(sizeof(double) * (size_t)n);
  w.best = malloc(sizeof(double) * (size_t)n);
  int status = CP_OK;
  /* Large problems: every restart runs Lloyd to convergence only; Hartigan
   * then polishes the best restart once. Small problems: every restart gets
   * the full refinement (Hartigan and the swap search). */
  int polish_best = (double)n * m * k * n_start > KM_FULL_WORK;
  w.blocked = polish_best;
  if (w.blocked) {
    w.kp = (k + 3) / 4 * 4;
    w.ct = malloc(sizeof(double) * (size_t)m * w.kp);
    w.cc = malloc(sizeof(double) * (size_t)w.kp);
    w.xx = malloc(sizeof(double) * (size_t)n);
    w.dots = malloc(sizeof(double) * (size_t)w.threads * 4 * w.kp);
    w.list = malloc(sizeof(int) * (size_t)n);
    w.dots_fn = km_dots_pick();
    if (!w.ct || !w.cc || !w.xx || !w.dots || !w.list) {
      status = CP_ERR_ALLOC;
      goto done;
    }
    for (int i = 0; i < n; i++) {
      const double *xi = x + (size_t)i * m;
      double s = 0.0;
      for (int t = 0; t < m; t++) s += xi[t] * xi[t];
      w.xx[i] = s;
    }
    /* restarts stop when the centers move (squared, summed) by at most
     * KM_TOL times the mean per-time variance, as scikit-learn's tol */
    w.tol = KM_TOL * cp_total_ss(x, n, m) / n / m;
  }
  if (!w.cent || !w.old || !w.sums || !w.prev || !w.save_cent || !w.cl || !w.lb || !w.drift || !w.ref || !w.save_ref || !w.fk || !w.gk || !w.lbmin || !w.save_cl || !w.save_cnt || !w.save_lb || !w.save_drift || !w.save_d2 ||
      !w.cnt || !w.delta || !w.half || !w.upper || !w.lower || !w.d2 ||
      !w.cand || !w.best) {
    status = CP_ERR_ALLOC;
    goto done;
  }
  double best_obj = INFINITY;
  w.to_conv = polish_best;
  if (polish_best) {
    status = km_restarts_lockstep(&w, n_start, seed, centers, cluster, info);
    if (status != CP_OK) goto done;
  }
  for (int r = 0; r < n_start && !polish_best; r++) {
    cp_rng rng;
    cp_rng_init(&rng, seed, (uint64_t)r);
    status = km_seed(&w, &rng);
    if (status != CP_OK) goto done;
    km_assign_all(&w);
    double obj;
    int iter, conv, moves = 0;
    status = km_refine(&w, &obj, &iter, &conv, &moves);
    if (status != CP_OK) goto done;
    status = km_swap(&w, &rng, KM_SWAP_TRIALS, &obj, &iter, &conv, &moves);
    if (status != CP_OK) goto done;
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
  if (polish_best) {
    /* Hartigan on the best restart */
    memcpy(w.cent, centers, sizeof(double) * km);
    km_assign_all(&w);
    w.to_conv = 0;
    double obj;
    int iter, conv, moves;
    status = km_refine(&w, &obj, &iter, &conv, &moves);
    if (status != CP_OK) goto done;
    if (!isfinite(obj)) {
      status = CP_ERR_NUMERIC;
      goto done;
    }
    memcpy(centers, w.cent, sizeof(double) * km);
    memcpy(cluster, w.cl, sizeof(int) * (size_t)n);
    info->objective = obj;
    info->moves = moves;
  }
  status = cp_cluster_relabel(n, m, k, NULL, cluster, centers);
done:
  free(w.cent);
  free(w.old);
  free(w.sums);
  free(w.prev);
  free(w.save_cent);
  free(w.cl);
  free(w.lb);
  free(w.drift);
  free(w.ref);
  free(w.save_ref);
  free(w.fk);
  free(w.gk);
  free(w.lbmin);
  free(w.save_cl);
  free(w.save_cnt);
  free(w.save_lb);
  free(w.save_drift);
  free(w.save_d2);
  free(w.cnt);
  free(w.delta);
  free(w.half);
  free(w.upper);
  free(w.lower);
  free(w.d2);
  free(w.cand);
  free(w.best);
  free(w.ct);
  free(w.cc);
  free(w.xx);
  free(w.dots);
  free(w.list);
  return status;
}
