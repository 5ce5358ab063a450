/* Weighted k-means: every window carries a positive weight (for the
 * pattern framework, the number of units of a layer that fire at the same
 * sample and node position, so that a distinct window is clustered once
 * instead of once per firing unit). With integer weights the objective,
 * the centers and every Lloyd step equal those of plain k-means on the
 * rows repeated weight times. See cluster.h.
 *
 * Speed without changing a single result: every decision (nearest center,
 * Hartigan move, seeding candidate) is the one of the plain algorithm
 * (scan all centers in order, ties to the lower index, sums in a fixed
 * order). Distances are computed by a kernel that takes all centers of a
 * window at once in vector lanes with the same operations per lane as
 * cp_sqdist (bit-identical values), and distance bounds skip windows whose
 * decision cannot change: Hamerly's bounds in the Lloyd steps, bounds from
 * a block of exact distances and the centers' drift since in the Hartigan
 * passes. The bounds carry a relative slack (WK_SLACK) far above rounding,
 * so a window whose decision is close is always computed as before.
 * Restarts are independent: with several threads each thread runs its own
 * restarts (the same results for any number of threads). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cluster_internal.h"
#include "cp_simd.h"

/* Relative slack of distance bounds (rounding is about m 1e-16). */
#define WK_SLACK 1e-9
/* Seconds a thread works between two interrupt checks. */
#define WK_SLICE 0.05

typedef void (*wk_dists_fn)(const double *a, const double *ct, int m, int kp, double *out);

enum { WK_IDLE = 0, WK_SEED, WK_LLOYD, WK_HART, WK_OBJ };

typedef struct {
  const double *x, *wt, *init;
  int n, m, k, kp, tp, max_iter, hartigan;
  uint64_t seed;
  wk_dists_fn dists;
  /* the restart being run */
  int r, phase, it, conv, pass, moves, status;
  cp_rng rng;
  double *cent;  /* k x m */
  double *old;   /* k x m: centers before a Lloyd update */
  double *ct;    /* m x kp: transposed centers */
  double *wsum;  /* k */
  double *delta; /* k: center shifts of a Lloyd update */
  double *half;  /* k: half the distance to the nearest other center */
  double *dbuf;  /* kp or tp x m: scratch */
  double *d2;    /* n: squared distance to the own center at the last
                  * assignment (valid where fresh) */
  unsigned char *fresh;
  double *up;    /* n: upper bound on the distance to the own center */
  double *lo;    /* n: lower bound on the distance to every other center */
  double *cand;  /* n: seeding, weight x d2 */
  double *hA;    /* n x k: Hartigan, lower bounds on the distances to the
                  * centers, relative to the anchor (see wk_hart_bounds) */
  double *hB;    /* n: Hartigan, upper bound on the distance to the own
                  * center, relative to the anchor */
  double *M;     /* k: Hartigan, how far each center is from its anchor */
  double *ref;   /* k x m: Hartigan, the anchor centers */
  int evals;     /* Hartigan: windows the last pass evaluated */
  unsigned char *touched; /* k: members changed since the last means */
  double *dd;    /* n x tp: seeding, distances to the candidates */
  int *cl;       /* n */
  /* best restart run here */
  double best_obj;
  int best_r, best_iter, best_conv, best_moves;
  double *best_cent;
  int *best_cl;
} wk_work;

/* ---- distance kernel ---------------------------------------------------- */

#ifdef CP_HAVE_VEC
/* Squared distances of window a to kp centers (ct: m x kp, transposed), four
 * centers per vector; per lane exactly the operations of cp_sqdist (four
 * partial sums by time modulo 4, the tail into the first, then
 * (s0 + s1) + (s2 + s3)), so the values are bit-identical to it. No FMA:
 * the dispatched build targets AVX2 without it. */
#define WK_STEP(S, A, P) do { cp_v4 c_, d_; V4_LOAD(c_, (P)); d_ = (A) - c_; (S) += d_ * d_; } while (0)
static inline CP_ALWAYS_INLINE void wk_dists_body(const double *a, const double *ct, int m, int kp,
                                                  double *out) {
  int j0 = 0;
  for (; j0 + 8 <= kp; j0 += 8) {
    cp_v4 s00 = {0, 0, 0, 0}, s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00,
          s31 = s00;
    const double *c = ct + j0;
    int t = 0;
    for (; t + 4 <= m; t += 4, c += 4 * (size_t)kp) {
      cp_v4 a0, a1, a2, a3;
      V4_SET1(a0, a[t]);
      V4_SET1(a1, a[t + 1]);
      V4_SET1(a2, a[t + 2]);
      V4_SET1(a3, a[t + 3]);
      WK_STEP(s00, a0, c);
      WK_STEP(s01, a0, c + 4);
      WK_STEP(s10, a1, c + kp);
      WK_STEP(s11, a1, c + kp + 4);
      WK_STEP(s20, a2, c + 2 * (size_t)kp);
      WK_STEP(s21, a2, c + 2 * (size_t)kp + 4);
      WK_STEP(s30, a3, c + 3 * (size_t)kp);
      WK_STEP(s31, a3, c + 3 * (size_t)kp + 4);
    }
    for (; t < m; t++, c += kp) {
      cp_v4 a0;
      V4_SET1(a0, a[t]);
      WK_STEP(s00, a0, c);
      WK_STEP(s01, a0, c + 4);
    }
    cp_v4 r0 = (s00 + s10) + (s20 + s30), r1 = (s01 + s11) + (s21 + s31);
    V4_STORE(out + j0, r0);
    V4_STORE(out + j0 + 4, r1);
  }
  for (; j0 + 4 <= kp; j0 += 4) {
    cp_v4 s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    const double *c = ct + j0;
    int t = 0;
    for (; t + 4 <= m; t += 4, c += 4 * (size_t)kp) {
      cp_v4 a0, a1, a2, a3;
      V4_SET1(a0, a[t]);
      V4_SET1(a1, a[t + 1]);
      V4_SET1(a2, a[t + 2]);
      V4_SET1(a3, a[t + 3]);
      WK_STEP(s0, a0, c);
      WK_STEP(s1, a1, c + kp);
      WK_STEP(s2, a2, c + 2 * (size_t)kp);
      WK_STEP(s3, a3, c + 3 * (size_t)kp);
    }
    for (; t < m; t++, c += kp) {
      cp_v4 a0;
      V4_SET1(a0, a[t]);
      WK_STEP(s0, a0, c);
    }
    cp_v4 r0 = (s0 + s1) + (s2 + s3);
    V4_STORE(out + j0, r0);
  }
}
#undef WK_STEP
#ifdef CP_DISPATCH
__attribute__((target("avx2"))) static void wk_dists_avx2(const double *a, const double *ct,
                                                          int m, int kp, double *out) {
  wk_dists_body(a, ct, m, kp, out);
}
#endif
static void wk_dists_base(const double *a, const double *ct, int m, int kp, double *out) {
  wk_dists_body(a, ct, m, kp, out);
}
#else
static void wk_dists_base(const double *a, const double *ct, int m, int kp, double *out) {
  for (int j = 0; j < kp; j++) {
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int t = 0;
    for (; t + 4 <= m; t += 4) {
      double d0 = a[t] - ct[(size_t)t * kp + j], d1 = a[t + 1] - ct[(size_t)(t + 1) * kp + j];
      double d2 = a[t + 2] - ct[(size_t)(t + 2) * kp + j];
      double d3 = a[t + 3] - ct[(size_t)(t + 3) * kp + j];
      s0 += d0 * d0;
      s1 += d1 * d1;
      s2 += d2 * d2;
      s3 += d3 * d3;
    }
    for (; t < m; t++) {
      double d = a[t] - ct[(size_t)t * kp + j];
      s0 += d * d;
    }
    out[j] = (s0 + s1) + (s2 + s3);
  }
}
#endif

static wk_dists_fn wk_dists_pick(void) {
#ifdef CP_DISPATCH
  if (__builtin_cpu_supports("avx2")) return wk_dists_avx2;
#endif
  return wk_dists_base;
}

/* Transposed copy (m x kp, padding lanes 0) of the rows src[0 .. cnt - 1]. */
static void wk_transpose(const double *src, int cnt, int m, int kp, double *ct) {
  for (int t = 0; t < m; t++) {
    double *row = ct + (size_t)t * kp;
    for (int j = 0; j < cnt; j++) row[j] = src[(size_t)j * m + t];
    for (int j = cnt; j < kp; j++) row[j] = 0.0;
  }
}

/* ---- Lloyd -------------------------------------------------------------- */

/* Full scan of window i: nearest center (first on ties), d2, bounds.
 * Returns 1 when the label changed. */
static int wk_scan(wk_work *w, int i, double *dist) {
  int k = w->k;
  w->dists(w->x + (size_t)i * w->m, w->ct, w->m, w->kp, dist);
  int b = 0;
  double b1 = dist[0], b2 = INFINITY;
  for (int j = 1; j < k; j++) {
    double d = dist[j];
    if (d < b1) {
      b2 = b1;
      b1 = d;
      b = j;
    } else if (d < b2) {
      b2 = d;
    }
  }
  int changed = b != w->cl[i];
  if (changed) {
    if (w->cl[i] >= 0) w->touched[w->cl[i]] = 1;
    w->touched[b] = 1;
  }
  w->cl[i] = b;
  w->d2[i] = b1;
  w->fresh[i] = 1;
  w->up[i] = sqrt(b1) * (1.0 + WK_SLACK);
  w->lo[i] = sqrt(b2) * (1.0 - WK_SLACK);
  return changed;
}

/* One assignment step: the nearest center of every window (as a full scan
 * would find it); windows whose bounds prove their label are skipped. The
 * first step (all labels -1) scans everything. Returns the changed labels. */
static int wk_assign(wk_work *w, int full) {
  int n = w->n, m = w->m, changed = 0;
  double dist[64];
  double *dv = w->kp <= 64 ? dist : w->dbuf;
  for (int i = 0; i < n; i++) {
    if (!full) {
      int j = w->cl[i];
      double bound = w->lo[i] > w->half[j] ? w->lo[i] : w->half[j];
      if (w->up[i] * (1.0 + WK_SLACK) < bound) {
        w->fresh[i] = 0;
        continue;
      }
      double dj = cp_sqdist(w->x + (size_t)i * m, w->cent + (size_t)j * m, m);
      w->up[i] = sqrt(dj) * (1.0 + WK_SLACK);
      if (w->up[i] * (1.0 + WK_SLACK) < bound) {
        w->d2[i] = dj;
        w->fresh[i] = 1;
        continue;
      }
    }
    changed += wk_scan(w, i, dv);
  }
  return changed;
}

/* Weighted means of the clusters (sequential, fixed order); an empty
 * cluster takes the window with the largest weighted squared distance to
 * its center (at the last assignment), which then leaves its cluster. Only
 * the clusters whose members changed since the last call are summed again
 * (the others would give the same sums, in the same order). */
static void wk_means(wk_work *w) {
  int n = w->n, m = w->m, k = w->k;
  int refreshed = 0;
  for (;;) {
    memset(w->wsum, 0, sizeof(double) * (size_t)k);
    for (int i = 0; i < n; i++) w->wsum[w->cl[i]] += w->wt[i];
    int empty = -1;
    for (int j = 0; j < k && empty < 0; j++) {
      if (!(w->wsum[j] > 0.0)) empty = j;
    }
    if (empty < 0) break;
    if (!refreshed) {
      /* the distances skipped by the bounds, as the last assignment had
       * them (the centers have not changed since) */
      for (int i = 0; i < n; i++) {
        if (!w->fresh[i]) {
          w->d2[i] = cp_sqdist(w->x + (size_t)i * m, w->cent + (size_t)w->cl[i] * m, m);
          w->fresh[i] = 1;
        }
      }
      refreshed = 1;
    }
    int far = 0;
    for (int i = 1; i < n; i++) {
      if (w->wt[i] * w->d2[i] > w->wt[far] * w->d2[far]) far = i;
    }
    w->touched[w->cl[far]] = 1;
    w->touched[empty] = 1;
    w->cl[far] = empty;
    w->d2[far] = 0.0;
    w->up[far] = INFINITY;
    w->lo[far] = 0.0;
  }
  for (int j = 0; j < k; j++) {
    if (w->touched[j]) memset(w->cent + (size_t)j * m, 0, sizeof(double) * (size_t)m);
  }
  for (int i = 0; i < n; i++) {
    int j = w->cl[i];
    if (!w->touched[j]) continue;
    const double *xi = w->x + (size_t)i * m;
    double *c = w->cent + (size_t)j * m;
    double wi = w->wt[i];
    int t = 0;
#ifdef CP_HAVE_VEC
    cp_v4 wv;
    V4_SET1(wv, wi);
    for (; t + 4 <= m; t += 4) {
      cp_v4 cv, xv;
      V4_LOAD(cv, c + t);
      V4_LOAD(xv, xi + t);
      cv += wv * xv;
      V4_STORE(c + t, cv);
    }
#endif
    for (; t < m; t++) c[t] += wi * xi[t];
  }
  for (int j = 0; j < k; j++) {
    if (!w->touched[j]) continue;
    double *c = w->cent + (size_t)j * m;
    for (int t = 0; t < m; t++) c[t] /= w->wsum[j];
    w->touched[j] = 0;
  }
  wk_transpose(w->cent, k, m, w->kp, w->ct);
}

/* After a Lloyd update (old: the centers before): the bounds follow the
 * centers' shifts; half distances between the new centers. */
static void wk_bounds(wk_work *w) {
  int n = w->n, m = w->m, k = w->k;
  double d1 = 0.0, d2 = 0.0;
  int j1 = -1;
  for (int j = 0; j < k; j++) {
    double d = sqrt(cp_sqdist(w->old + (size_t)j * m, w->cent + (size_t)j * m, m)) *
               (1.0 + WK_SLACK);
    w->delta[j] = d;
    if (d > d1) {
      d2 = d1;
      d1 = d;
      j1 = j;
    } else if (d > d2) {
      d2 = d;
    }
    double h = INFINITY;
    for (int l = 0; l < k; l++) {
      if (l == j) continue;
      double c = cp_sqdist(w->cent + (size_t)j * m, w->cent + (size_t)l * m, m);
      if (c < h) h = c;
    }
    w->half[j] = 0.5 * sqrt(h) * (1.0 - WK_SLACK);
  }
  for (int i = 0; i < n; i++) {
    int j = w->cl[i];
    double dl = j == j1 ? d2 : d1;
    double u = w->up[i] + w->delta[j];
    w->up[i] = u + WK_SLACK * u;
    double l = w->lo[i];
    if (l < INFINITY) w->lo[i] = (l - dl) - WK_SLACK * (l + dl);
  }
}

/* ---- seeding ------------------------------------------------------------ */

/* Weighted greedy k-means++: the first center drawn with probability
 * proportional to the weight, then per center 2 + log k candidates drawn
 * proportional to weight x squared distance to the nearest chosen center;
 * the candidate with the lowest weighted potential is kept. The candidates
 * of a center are drawn first (the draws do not depend on the potentials)
 * and their potentials summed in one pass, each in window order. */
static void wk_seed(wk_work *w) {
  int n = w->n, m = w->m, k = w->k, tp = w->tp;
  cp_rng *rng = &w->rng;
  double wtot = 0.0;
  for (int i = 0; i < n; i++) wtot += w->wt[i];
  int first = cp_draw_index(w->wt, n, wtot, rng);
  memcpy(w->cent, w->x + (size_t)first * m, sizeof(double) * m);
  for (int i = 0; i < n; i++) w->d2[i] = cp_sqdist(w->x + (size_t)i * m, w->cent, m);
  int trials = 2 + (int)log((double)k);
  int idx[64];
  double pot[64];
  for (int c = 1; c < k; c++) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
      w->cand[i] = w->wt[i] * w->d2[i];
      total += w->cand[i];
    }
    const double *cp;
    if (!(total > 0.0)) {
      int pick = (int)cp_rng_int(rng, (uint64_t)n);
      cp = w->x + (size_t)pick * m;
      for (int i = 0; i < n; i++) {
        double d = cp_sqdist_bounded(w->x + (size_t)i * m, cp, m, w->d2[i]);
        if (d < w->d2[i]) w->d2[i] = d;
      }
    } else {
      for (int tr = 0; tr < tp; tr++) {
        idx[tr] = tr < trials ? cp_draw_index(w->cand, n, total, rng) : idx[0];
        memcpy(w->old + (size_t)tr * m, w->x + (size_t)idx[tr] * m, sizeof(double) * m);
        pot[tr] = 0.0;
      }
      wk_transpose(w->old, tp, m, tp, w->dbuf);
      for (int i = 0; i < n; i++) {
        double *di = w->dd + (size_t)i * tp;
        w->dists(w->x + (size_t)i * m, w->dbuf, m, tp, di);
        double wi = w->wt[i], d2 = w->d2[i];
        for (int tr = 0; tr < trials; tr++) pot[tr] += wi * (di[tr] < d2 ? di[tr] : d2);
      }
      int best = 0;
      for (int tr = 1; tr < trials; tr++) {
        if (pot[tr] < pot[best]) best = tr;
      }
      cp = w->x + (size_t)idx[best] * m;
      for (int i = 0; i < n; i++) {
        double d = w->dd[(size_t)i * tp + best];
        if (d < w->d2[i]) w->d2[i] = d;
      }
    }
    memcpy(w->cent + (size_t)c * m, cp, sizeof(double) * m);
  }
}

/* ---- Hartigan ----------------------------------------------------------- */

/* Hartigan's bounds of window i from its squared distances d (exact for
 * the own center, lower bounds for the others), stored relative to the
 * anchor centers: the bound now is A - drift (lower) or B + drift (upper). */
static void wk_hart_bounds(wk_work *w, int i, const double *d) {
  int k = w->k, j = w->cl[i];
  double *a = w->hA + (size_t)i * k;
  for (int l = 0; l < k; l++) a[l] = sqrt(d[l]) * (1.0 - WK_SLACK) - w->M[l];
  w->hB[i] = sqrt(d[j]) * (1.0 + WK_SLACK) + w->M[j];
}

/* Anchor at the current centers: exact bounds of every window (exact) or
 * the bounds carried over (loosened by the drift since the last anchor). */
static void wk_hart_anchor(wk_work *w, int exact) {
  int n = w->n, k = w->k;
  if (exact) {
    for (int j = 0; j < k; j++) w->M[j] = 0.0;
    for (int i = 0; i < n; i++) {
      w->dists(w->x + (size_t)i * w->m, w->ct, w->m, w->kp, w->dbuf);
      wk_hart_bounds(w, i, w->dbuf);
    }
  } else {
    for (int i = 0; i < n; i++) {
      double *a = w->hA + (size_t)i * k;
      for (int l = 0; l < k; l++) a[l] = (a[l] - w->M[l]) - 1e-14 * (fabs(a[l]) + w->M[l]);
      double b = w->hB[i], mj = w->M[w->cl[i]];
      w->hB[i] = (b + mj) + 1e-14 * (fabs(b) + mj);
    }
    for (int j = 0; j < k; j++) w->M[j] = 0.0;
  }
  memcpy(w->ref, w->cent, sizeof(double) * (size_t)k * w->m);
}

/* Drift from the anchor of the centers in `which` (all when NULL), and
 * their columns of the transposed centers. */
static void wk_hart_drift(wk_work *w, const int *which, int cnt) {
  int m = w->m;
  for (int q = 0; q < cnt; q++) {
    int j = which ? which[q] : q;
    const double *c = w->cent + (size_t)j * m;
    w->M[j] = sqrt(cp_sqdist(c, w->ref + (size_t)j * m, m)) * (1.0 + WK_SLACK);
    double *col = w->ct + j;
    for (int t = 0; t < m; t++) col[(size_t)t * w->kp] = c[t];
  }
}

/* One pass of weighted Hartigan moves: window i (weight v) leaves cluster
 * j (weight W_j > v) for l when v W_l / (W_l + v) d_l^2 < v W_j / (W_j - v)
 * d_j^2; centers are updated incrementally. Every window keeps bounds on
 * its distances to the centers (Elkan-style, loosened by how far the
 * centers moved since); it is evaluated only when the bounds allow a
 * move. Returns the number of moves. */
static int wk_hart_pass(wk_work *w) {
  int n = w->n, m = w->m, k = w->k, moved = 0, evals = 0;
  double *dl = w->dbuf;
  for (int i = 0; i < n; i++) {
    const double *xi = w->x + (size_t)i * m;
    int j = w->cl[i];
    double v = w->wt[i], wj = w->wsum[j];
    if (!(wj - v > 1e-12 * wj)) continue;
    const double *a = w->hA + (size_t)i * k;
    double uj = (w->hB[i] + w->M[j]) + 1e-14 * (fabs(w->hB[i]) + w->M[j]);
    double lim = v * wj / (wj - v) * uj * uj * (1.0 + WK_SLACK);
    int may = 0;
    for (int l = 0; l < k && !may; l++) {
      if (l == j) continue;
      double ll = (a[l] - w->M[l]) - 1e-14 * (fabs(a[l]) + w->M[l]);
      /* f_l ll^2 <= lim without the division (the slack covers rounding) */
      may = !(ll > 0.0) || v * w->wsum[l] * (ll * ll) <= lim * (w->wsum[l] + v);
    }
    if (!may) continue;
    evals++;
    double dj = cp_sqdist(xi, w->cent + (size_t)j * m, m);
    double cost_j = v * wj / (wj - v) * dj;
    int best = -1;
    double best_cost = cost_j * (1.0 - 1e-12);
    for (int l = 0; l < k; l++) {
      if (l == j) {
        dl[l] = dj;
        continue;
      }
      double f = v * w->wsum[l] / (w->wsum[l] + v);
      double d = cp_sqdist_bounded(xi, w->cent + (size_t)l * m, m, best_cost / f);
      dl[l] = d; /* exact, or a partial sum: a lower bound */
      if (f * d < best_cost) {
        best_cost = f * d;
        best = l;
      }
    }
    if (best < 0) {
      wk_hart_bounds(w, i, dl);
      continue;
    }
    double *cj = w->cent + (size_t)j * m, *cl = w->cent + (size_t)best * m;
    double wl = w->wsum[best];
    for (int t = 0; t < m; t++) {
      cj[t] = (wj * cj[t] - v * xi[t]) / (wj - v);
      cl[t] = (wl * cl[t] + v * xi[t]) / (wl + v);
    }
    w->wsum[j] = wj - v;
    w->wsum[best] = wl + v;
    w->cl[i] = best;
    w->touched[j] = 1;
    w->touched[best] = 1;
    int two[2] = {j, best};
    wk_hart_drift(w, two, 2);
    w->dists(xi, w->ct, m, w->kp, dl);
    wk_hart_bounds(w, i, dl);
    moved++;
  }
  w->evals = evals;
  return moved;
}

/* Weighted sum of squared distances to the current centers. */
static double wk_objective(wk_work *w) {
  double s = 0.0;
  for (int i = 0; i < w->n; i++) {
    s += w->wt[i] * cp_sqdist(w->x + (size_t)i * w->m, w->cent + (size_t)w->cl[i] * w->m, w->m);
  }
  return s;
}

/* ---- one restart as a sequence of steps --------------------------------- */

/* Advances the restart of w by one step: the seeding, one Lloyd step, one
 * Hartigan pass or the objective (which ends the restart). */
static void wk_step(wk_work *w) {
  switch (w->phase) {
  case WK_SEED:
    cp_rng_init(&w->rng, w->seed, (uint64_t)w->r);
    if (w->init) {
      memcpy(w->cent, w->init, sizeof(double) * (size_t)w->k * w->m);
    } else {
      wk_seed(w);
    }
    wk_transpose(w->cent, w->k, w->m, w->kp, w->ct);
    for (int i = 0; i < w->n; i++) w->cl[i] = -1;
    memset(w->touched, 1, (size_t)w->k);
    w->it = 0;
    w->conv = 0;
    w->pass = 0;
    w->moves = 0;
    w->phase = WK_LLOYD;
    return;
  case WK_LLOYD: {
    /* until no label changes, at most max_iter steps */
    if (w->it >= w->max_iter) {
      w->phase = w->hartigan ? WK_HART : WK_OBJ;
      return;
    }
    int changed = wk_assign(w, w->it == 0);
    if (changed == 0 && w->it > 0) {
      w->conv = 1;
      w->phase = w->hartigan ? WK_HART : WK_OBJ;
      return;
    }
    memcpy(w->old, w->cent, sizeof(double) * (size_t)w->k * w->m);
    wk_means(w);
    wk_bounds(w);
    w->it++;
    return;
  }
  case WK_HART: {
    int max_pass = w->max_iter > 10 ? w->max_iter : 10;
    if (w->pass >= max_pass) {
      w->phase = WK_OBJ;
      return;
    }
    /* a new anchor every pass; exact bounds again when the last pass had
     * to evaluate many windows */
    wk_hart_anchor(w, w->pass == 0 || w->evals > w->n / 4);
    int moved = wk_hart_pass(w);
    w->moves += moved;
    w->pass++;
    if (moved > 0) {
      wk_means(w);
      wk_hart_drift(w, NULL, w->k);
    } else {
      w->phase = WK_OBJ;
    }
    return;
  }
  case WK_OBJ: {
    double obj = wk_objective(w);
    if (!isfinite(obj)) {
      w->status = CP_ERR_NUMERIC;
    } else if (w->best_r < 0 || obj < w->best_obj || (obj == w->best_obj && w->r < w->best_r)) {
      w->best_obj = obj;
      w->best_r = w->r;
      w->best_iter = w->it;
      w->best_conv = w->conv;
      w->best_moves = w->moves;
      memcpy(w->best_cent, w->cent, sizeof(double) * (size_t)w->k * w->m);
      memcpy(w->best_cl, w->cl, sizeof(int) * (size_t)w->n);
    }
    w->phase = WK_IDLE;
    return;
  }
  default:
    return;
  }
}

static void wk_free(wk_work *w) {
  free(w->cent);
  free(w->old);
  free(w->ct);
  free(w->wsum);
  free(w->delta);
  free(w->half);
  free(w->hA);
  free(w->hB);
  free(w->M);
  free(w->ref);
  free(w->touched);
  free(w->dbuf);
  free(w->d2);
  free(w->fresh);
  free(w->up);
  free(w->lo);
  free(w->cand);
  free(w->dd);
  free(w->cl);
  free(w->best_cent);
  free(w->best_cl);
}

static int wk_alloc(wk_work *w) {
  size_t n = (size_t)w->n, m = (size_t)w->m, k = (size_t)w->k, kp = (size_t)w->kp,
         tp = (size_t)w->tp;
  size_t rows = k > tp ? k : tp, nbuf = kp > tp * m ? kp : tp * m;
  w->cent = malloc(sizeof(double) * k * m);
  w->old = malloc(sizeof(double) * rows * m);
  w->ct = malloc(sizeof(double) * m * kp);
  w->wsum = malloc(sizeof(double) * k);
  w->delta = malloc(sizeof(double) * k);
  w->half = calloc(k, sizeof(double));
  w->hA = w->hartigan ? malloc(sizeof(double) * n * k) : malloc(1);
  w->hB = malloc(sizeof(double) * n);
  w->M = malloc(sizeof(double) * k);
  w->ref = malloc(sizeof(double) * k * m);
  w->touched = malloc(k);
  w->dbuf = malloc(sizeof(double) * nbuf);
  w->d2 = malloc(sizeof(double) * n);
  w->fresh = calloc(n, 1);
  w->up = malloc(sizeof(double) * n);
  w->lo = malloc(sizeof(double) * n);
  w->cand = malloc(sizeof(double) * n);
  w->dd = w->init ? malloc(1) : malloc(sizeof(double) * n * tp);
  w->cl = malloc(sizeof(int) * n);
  w->best_cent = malloc(sizeof(double) * k * m);
  w->best_cl = malloc(sizeof(int) * n);
  if (!w->cent || !w->old || !w->ct || !w->wsum || !w->delta || !w->half || !w->hA ||
      !w->hB || !w->M || !w->ref || !w->touched || !w->dbuf || !w->d2 || !w->fresh || !w->up || !w->lo || !w->cand ||
      !w->dd || !w->cl || !w->best_cent || !w->best_cl) {
    return CP_ERR_ALLOC;
  }
  return CP_OK;
}

static double wk_now(void) {
#ifdef _OPENMP
  return omp_get_wtime();
#else
  return (double)clock() / CLOCKS_PER_SEC;
#endif
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
  int restarts = init ? 1 : n_start;
  int trials = 2 + (int)log((double)k);
  if (trials > 64) trials = 64;
  int nw = threads < 1 ? 1 : threads;
  if (nw > restarts) nw = restarts;
  if ((double)n * m * k * restarts < CP_PAR_MIN_WORK) nw = 1;
  wk_work *ws = calloc((size_t)nw, sizeof(wk_work));
  if (!ws) return CP_ERR_ALLOC;
  int status = CP_OK;
  for (int t = 0; t < nw; t++) {
    wk_work *w = &ws[t];
    w->x = x;
    w->wt = wt;
    w->init = init;
    w->n = n;
    w->m = m;
    w->k = k;
    w->kp = (k + 3) / 4 * 4;
    w->tp = (trials + 3) / 4 * 4;
    w->max_iter = max_iter;
    w->hartigan = hartigan;
    w->seed = seed;
    w->dists = wk_dists_pick();
    w->phase = WK_IDLE;
    w->best_r = -1;
    if (status == CP_OK) status = wk_alloc(w);
  }
  int next = 0;
  while (status == CP_OK) {
    int busy = next < restarts;
    for (int t = 0; t < nw; t++) busy |= ws[t].phase != WK_IDLE;
    if (!busy) break;
    if (cp_interrupted()) {
      status = CP_ERR_INTERRUPT;
      break;
    }
    /* every thread runs its own restarts, for WK_SLICE seconds */
    double t0 = wk_now();
#ifdef _OPENMP
#pragma omp parallel num_threads(nw) if (nw > 1)
#endif
    {
      wk_work *w = &ws[CP_THREAD_ID()];
      for (;;) {
        if (w->phase == WK_IDLE) {
          int r;
#ifdef _OPENMP
#pragma omp atomic capture
#endif
          r = next++;
          if (r >= restarts) break;
          w->r = r;
          w->phase = WK_SEED;
        }
        wk_step(w);
        if (w->status != CP_OK || wk_now() - t0 > WK_SLICE) break;
      }
    }
    for (int t = 0; t < nw; t++) {
      if (ws[t].status != CP_OK) status = ws[t].status;
    }
  }
  if (status == CP_OK) {
    wk_work *b = NULL;
    for (int t = 0; t < nw; t++) {
      wk_work *w = &ws[t];
      if (w->best_r < 0) continue;
      if (!b || w->best_obj < b->best_obj || (w->best_obj == b->best_obj && w->best_r < b->best_r))
        b = w;
    }
    cp_keep_restart(b->best_cent, b->best_cl, n, m, k, b->best_obj, b->best_iter,
                    b->best_conv, b->best_r, b->best_moves, centers, cluster, info);
    status = cp_cluster_relabel(n, m, k, wt, cluster, centers);
  }
  for (int t = 0; t < nw; t++) wk_free(&ws[t]);
  free(ws);
  return status;
}
