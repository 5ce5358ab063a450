/* Convolution restricted to a sparse set of output (channel, time) pairs,
 * and its transpose (kernels: no R headers). Relevance rules need the
 * linear node's output only where relevance arrives, which after max-pool
 * winner-takes-all and ReLU is a fraction of all outputs; these kernels do
 * work in proportion to that fraction. The pairs come grouped by time
 * (cp_pairs): for time t, the channels o_idx[t_ptr[t] .. t_ptr[t+1]-1].
 * For each such t the input patch x_t[i*k + q] = xp[i][t*stride + q*dil]
 * is gathered once, so both kernels reduce to dot products and sums of
 * contiguous weight rows w[o][0 .. c_in*k-1]. Compiled for AVX2+FMA and the
 * baseline, chosen at run time (as conv.c). */
#include "net.h"
#include "cp_simd.h"

/* y[q] = sum_j x[j] * w_q[j] for four rows w_q = w + o_q * nk. */
static inline CP_ALWAYS_INLINE void dot4(const double *x, const double *w, long nk,
                                         const int *o, double *y) {
  const double *w0 = w + (long)o[0] * nk, *w1 = w + (long)o[1] * nk;
  const double *w2 = w + (long)o[2] * nk, *w3 = w + (long)o[3] * nk;
  long j = 0;
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
#ifdef CP_HAVE_VEC
  cp_v4 z = {0.0, 0.0, 0.0, 0.0};
  cp_v4 a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
  for (; j + 8 <= nk; j += 8) {
    cp_v4 xa, xb, v;
    V4_LOAD(xa, x + j); V4_LOAD(xb, x + j + 4);
    V4_LOAD(v, w0 + j); a0 += v * xa; V4_LOAD(v, w0 + j + 4); b0 += v * xb;
    V4_LOAD(v, w1 + j); a1 += v * xa; V4_LOAD(v, w1 + j + 4); b1 += v * xb;
    V4_LOAD(v, w2 + j); a2 += v * xa; V4_LOAD(v, w2 + j + 4); b2 += v * xb;
    V4_LOAD(v, w3 + j); a3 += v * xa; V4_LOAD(v, w3 + j + 4); b3 += v * xb;
  }
  a0 += b0; a1 += b1; a2 += b2; a3 += b3;
  s0 = V4_HSUM(a0); s1 = V4_HSUM(a1); s2 = V4_HSUM(a2); s3 = V4_HSUM(a3);
#endif
  for (; j < nk; j++) {
    s0 += x[j] * w0[j];
    s1 += x[j] * w1[j];
    s2 += x[j] * w2[j];
    s3 += x[j] * w3[j];
  }
  y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
}

static inline CP_ALWAYS_INLINE double dot1(const double *x, const double *w, long nk) {
  long j = 0;
  double s = 0.0;
#ifdef CP_HAVE_VEC
  cp_v4 a = {0.0, 0.0, 0.0, 0.0}, b = a;
  for (; j + 8 <= nk; j += 8) {
    cp_v4 xa, xb, v;
    V4_LOAD(xa, x + j); V4_LOAD(xb, x + j + 4);
    V4_LOAD(v, w + j); a += v * xa;
    V4_LOAD(v, w + j + 4); b += v * xb;
  }
  a += b;
  s = V4_HSUM(a);
#endif
  for (; j < nk; j++) s += x[j] * w[j];
  return s;
}

/* g[j] = sum over the n listed channels o of s[o] * w[o][j]: blocks of
 * eight vectors of g stay in registers while the rows stream past. */
static inline CP_ALWAYS_INLINE void row_sum(const double *w, long nk, const int *o,
                                            const double *s, int n, double *g) {
  long j = 0;
#ifdef CP_HAVE_VEC
  for (; j + 32 <= nk; j += 32) {
    cp_v4 z = {0.0, 0.0, 0.0, 0.0};
    cp_v4 a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
    for (int q = 0; q < n; q++) {
      const double *wr = w + (long)o[q] * nk + j;
      cp_v4 sv, v;
      V4_SET1(sv, s[q]);
      V4_LOAD(v, wr); a0 += sv * v;
      V4_LOAD(v, wr + 4); a1 += sv * v;
      V4_LOAD(v, wr + 8); a2 += sv * v;
      V4_LOAD(v, wr + 12); a3 += sv * v;
      V4_LOAD(v, wr + 16); a4 += sv * v;
      V4_LOAD(v, wr + 20); a5 += sv * v;
      V4_LOAD(v, wr + 24); a6 += sv * v;
      V4_LOAD(v, wr + 28); a7 += sv * v;
    }
    V4_STORE(g + j, a0); V4_STORE(g + j + 4, a1); V4_STORE(g + j + 8, a2);
    V4_STORE(g + j + 12, a3); V4_STORE(g + j + 16, a4); V4_STORE(g + j + 20, a5);
    V4_STORE(g + j + 24, a6); V4_STORE(g + j + 28, a7);
  }
  for (; j + 4 <= nk; j += 4) {
    cp_v4 a = {0.0, 0.0, 0.0, 0.0};
    for (int q = 0; q < n; q++) {
      cp_v4 sv, v;
      V4_SET1(sv, s[q]);
      V4_LOAD(v, w + (long)o[q] * nk + j);
      a += sv * v;
    }
    V4_STORE(g + j, a);
  }
#endif
  for (; j < nk; j++) {
    double a = 0.0;
    for (int q = 0; q < n; q++) a += s[q] * w[(long)o[q] * nk + j];
    g[j] = a;
  }
}

/* Between a patch and one input row, q < k: gather d[q] = s[q * dil]
 * (add 0) or scatter-add d[q * dil] += s[q] (add 1); runs of four with
 * vectors when dil is 1. */
static inline CP_ALWAYS_INLINE void run_copy(double *d, const double *s, int k, int dil,
                                             int add) {
  int q = 0;
#ifdef CP_HAVE_VEC
  if (dil == 1) {
    for (; q + 4 <= k; q += 4) {
      cp_v4 v, u;
      V4_LOAD(v, s + q);
      if (add) {
        V4_LOAD(u, d + q);
        v += u;
      }
      V4_STORE(d + q, v);
    }
  }
#endif
  for (; q < k; q++) {
    const long dq = add ? (long)q * dil : q, sq = add ? q : (long)q * dil;
    d[dq] = add ? d[dq] + s[sq] : s[sq];
  }
}

/* The input patch of output time t: x_t[i*k + q] = xp[i][t*stride + q*dil]. */
static inline CP_ALWAYS_INLINE void gather(const double *xp, int c_in, long lp, int k,
                                           int stride, int dil, int t, double *xt) {
  const double *src = xp + (long)t * stride;
  for (int i = 0; i < c_in; i++) run_copy(xt + (long)i * k, src + (long)i * lp, k, dil, 0);
}

/* z[p - p0] = conv(xp, w) at time t for the pairs p0 .. p1-1 (no bias);
 * the patch is gathered into xt first. */
static inline CP_ALWAYS_INLINE void dots_at(const cp_conv_geom *cg, const double *xp,
                                            const double *w, const cp_pairs *pr, int t,
                                            double *xt, double *z) {
  const long nk = (long)cg->c_in * cg->k;
  const int p0 = pr->t_ptr[t], p1 = pr->t_ptr[t + 1];
  gather(xp, cg->c_in, cg->lp, cg->k, cg->stride, cg->dil, t, xt);
  int p = p0;
  for (; p + 4 <= p1; p += 4) dot4(xt, w, nk, pr->o_idx + p, z + (p - p0));
  for (; p < p1; p++) z[p - p0] = dot1(xt, w + (long)pr->o_idx[p] * nk, nk);
}

/* g[i][t*stride + q*dil] += sum over the pairs p0 .. p1-1 at time t of
 * s[p - p0] * w[o][i][q]. */
static inline CP_ALWAYS_INLINE void scatter_at(const cp_conv_geom *cg, const double *w,
                                               const cp_pairs *pr, int t, const double *s,
                                               double *g, double *gt) {
  const long nk = (long)cg->c_in * cg->k;
  const int p0 = pr->t_ptr[t], p1 = pr->t_ptr[t + 1];
  row_sum(w, nk, pr->o_idx + p0, s, p1 - p0, gt);
  double *dst = g + (long)t * cg->stride;
  for (int i = 0; i < cg->c_in; i++)
    run_copy(dst + (long)i * cg->lp, gt + (long)i * cg->k, cg->k, cg->dil, 1);
}

static inline CP_ALWAYS_INLINE void pairs_body(const cp_conv_geom *cg, const double *xp,
                                               const double *w, const double *b,
                                               const cp_pairs *pr, double *y, double *xt,
                                               double *sv) {
  for (int t = 0; t < cg->l_out; t++) {
    const int p0 = pr->t_ptr[t], p1 = pr->t_ptr[t + 1];
    if (p0 == p1) continue;
    dots_at(cg, xp, w, pr, t, xt, sv);
    for (int p = p0; p < p1; p++) {
      const int o = pr->o_idx[p];
      y[(long)o * cg->l_out + t] = sv[p - p0] + b[o];
    }
  }
}

static inline CP_ALWAYS_INLINE void pairs_t_body(const cp_conv_geom *cg, const double *s,
                                                 const double *w, const cp_pairs *pr,
                                                 double *g, double *gt, double *sv) {
  for (int t = 0; t < cg->l_out; t++) {
    const int p0 = pr->t_ptr[t], p1 = pr->t_ptr[t + 1];
    if (p0 == p1) continue;
    for (int p = p0; p < p1; p++) sv[p - p0] = s[(long)pr->o_idx[p] * cg->l_out + t];
    scatter_at(cg, w, pr, t, sv, g, gt);
  }
}

/* One entry for both kernels (tr 0: forward, 1: transpose), compiled for
 * AVX2+FMA and the baseline. in: the input xp or s; out: y or g. */
typedef struct {
  int tr;
  const cp_conv_geom *cg;
  const double *in, *w, *b;
  const cp_pairs *pr;
  double *out, *xt, *gt, *sv;
} pairs_call;

static inline CP_ALWAYS_INLINE void pairs_any(const pairs_call *c) {
  if (c->tr) {
    pairs_t_body(c->cg, c->in, c->w, c->pr, c->out, c->gt, c->sv);
  } else {
    pairs_body(c->cg, c->in, c->w, c->b, c->pr, c->out, c->xt, c->sv);
  }
}

#ifdef CP_DISPATCH
CP_TARGET_AVX2 static void pairs_avx2(const pairs_call *c) { pairs_any(c); }
#endif

static void pairs_base(const pairs_call *c) { pairs_any(c); }

static void pairs_dispatch(const pairs_call *c) {
#ifdef CP_DISPATCH
  if (CP_CPU_AVX2_FMA()) {
    pairs_avx2(c);
    return;
  }
#endif
  pairs_base(c);
}

void cp_conv1d_pairs(const cp_conv_geom *cg, const double *xp, const double *w, const double *b,
                     const cp_pairs *pr, double *y, double *xt, double *sv) {
  const pairs_call c = {0, cg, xp, w, b, pr, y, xt, NULL, sv};
  pairs_dispatch(&c);
}

void cp_conv1d_t_pairs(const cp_conv_geom *cg, const double *s, const double *w,
                       const cp_pairs *pr, double *g, double *gt, double *sv) {
  const pairs_call c = {1, cg, s, w, NULL, pr, g, NULL, gt, sv};
  pairs_dispatch(&c);
}
