/* Layer-wise relevance propagation (kernels: no R headers).
 *
 * Linear rules on convolutions (and dense layers, seen as convolutions with
 * one time step) use the usual split into forward passes with modified
 * weights and transposed convolutions:
 *   epsilon:    z = conv(a, w) + b,  s = R / (z + eps sign(z)),
 *               R_in = a * conv^T(s, w)
 *   alpha-beta: with a = a+ + a-, w = w+ + w-,
 *               zp = conv(a+, w+) + conv(a-, w-)   (positive contributions)
 *               zn = conv(a+, w-) + conv(a-, w+)   (negative contributions)
 *               sp = alpha R / zp, sn = beta R / zn,
 *               R_in = a+ (conv^T(sp, w+) - conv^T(sn, w-))
 *                    + a- (conv^T(sp, w-) - conv^T(sn, w+))
 *   w^2, flat:  R_in = conv^T(R / den, w^2 or 1), den = conv(1, w^2 or 1)
 *               over the real (unpadded) input positions.
 * A zero denominator passes no relevance. Output channels without relevance
 * are skipped, so a seed on one channel costs one channel's work. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lrp.h"
#include "cp_simd.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------ plan */

static long lin_lp(const cp_lin *g) { return (long)g->l_in + g->pad_l + g->pad_r; }
static long lin_lsp(const cp_lin *g) { return (long)g->l_out + 2L * (g->k - 1) * g->dil; }

/* Flipped transpose: t[i][o][k-1-q] = w[o][i][q]. */
static void flip_t(const double *w, int c_out, int c_in, int k, double *t) {
  for (int o = 0; o < c_out; o++)
    for (int i = 0; i < c_in; i++)
      for (int q = 0; q < k; q++)
        t[((long)i * c_out + o) * k + (k - 1 - q)] = w[((long)o * c_in + i) * k + q];
}

static int lin_setup(cp_lin *g, const cp_net *net, const cp_layer *conv, const cp_layer *bn,
                     int is_dense, int rule, const double *zeros) {
  g->ok = 1;
  g->src = conv->in[0];
  if (is_dense) {
    g->c_in = conv->c_in * conv->l_in;
    g->l_in = 1;
    g->k = 1;
    g->stride = 1;
    g->dil = 1;
    g->pad_l = g->pad_r = 0;
  } else {
    g->c_in = conv->c_in;
    g->l_in = conv->l_in;
    g->k = conv->k;
    g->stride = conv->stride;
    g->dil = conv->dil;
    g->pad_l = conv->pad_l;
    g->pad_r = conv->pad_r;
  }
  g->c_out = conv->c_out;
  g->l_out = conv->l_out;
  const long nw = (long)g->c_out * g->c_in * g->k, nz = (long)g->c_out * g->l_out;
  const long lp = lin_lp(g);
  long need = 8 * nw + g->c_out + nz + (long)g->c_in * lp;
  g->mem = malloc(sizeof(double) * (size_t)need);
  if (!g->mem) return CP_ERR_ALLOC;
  double *m = g->mem;
  double *wf = m; m += nw;
  double *bf = m; m += g->c_out;
  g->wp = m; m += nw;
  g->wn = m; m += nw;
  g->w2 = m; m += nw;
  g->wt = m; m += nw;
  g->wpt = m; m += nw;
  g->wnt = m; m += nw;
  g->w2t = m; m += nw;
  g->den = m; m += nz;
  double *ones = m;
  const double *w0 = net->par + conv->w_off, *b0 = net->par + conv->b_off;
  if (bn) {
    /* fold: w' = w * sc, b' = b * sc + sh with the running statistics */
    const double *ga = net->par + bn->w_off, *be = net->par + bn->b_off;
    const double *rm = net->state + bn->s_off, *rv = rm + bn->c_in;
    const long per = (long)g->c_in * g->k;
    for (int o = 0; o < g->c_out; o++) {
      double sc = ga[o] / sqrt(rv[o] + bn->eps), sh = be[o] - rm[o] * sc;
      for (long q = 0; q < per; q++) wf[o * per + q] = w0[o * per + q] * sc;
      bf[o] = b0[o] * sc + sh;
    }
    g->w = wf;
    g->b = bf;
  } else {
    g->w = w0;
    g->b = b0;
  }
  for (long q = 0; q < nw; q++) {
    double v = g->w[q];
    g->wp[q] = v > 0.0 ? v : 0.0;
    g->wn[q] = v < 0.0 ? v : 0.0;
    g->w2[q] = rule == CP_R_FLAT ? 1.0 : v * v;
  }
  flip_t(g->w, g->c_out, g->c_in, g->k, g->wt);
  flip_t(g->wp, g->c_out, g->c_in, g->k, g->wpt);
  flip_t(g->wn, g->c_out, g->c_in, g->k, g->wnt);
  flip_t(g->w2, g->c_out, g->c_in, g->k, g->w2t);
  /* denominators of w^2 / flat: the rule applied to an input of ones that
   * is zero on the padding */
  for (int i = 0; i < g->c_in; i++) {
    double *d = ones + (long)i * lp;
    for (long t = 0; t < lp; t++) d[t] = (t >= g->pad_l && t < g->pad_l + g->l_in) ? 1.0 : 0.0;
  }
  cp_conv1d(ones, g->c_in, (int)lp, g->w2, zeros, g->c_out, g->l_out, g->k, g->stride,
            g->dil, g->den);
  return CP_OK;
}

static long lin_scratch(const cp_lin *g) {
  long nA = (long)g->c_in * lin_lp(g), nZ = (long)g->c_out * g->l_out;
  long nS = (long)g->c_out * lin_lsp(g), nk = (long)g->c_in * g->k;
  /* buffers, activity flags, pair kernels' scratch, then the pair lists */
  return 4 * nA + 3 * nZ + nS + g->c_out + 2 * nk + g->c_out + 2 * nZ + g->l_out + g->c_out + 2;
}

int cp_lrp_plan_init(cp_lrp_plan *P, const cp_net *net, const int *rule, double eps,
                     double alpha, double beta, const int *has_mask) {
  const int n = net->n_nodes;
  memset(P, 0, sizeof *P);
  P->n_nodes = n;
  P->eps = eps;
  P->alpha = alpha;
  P->beta = beta;
  P->rule = malloc(sizeof(int) * (size_t)n);
  P->absorbed = calloc((size_t)n, sizeof(int));
  P->folded = calloc((size_t)n, sizeof(int));
  P->nonneg = calloc((size_t)n, sizeof(int));
  P->lin = calloc((size_t)n, sizeof(cp_lin));
  int *consumers = calloc((size_t)n, sizeof(int));
  if (!P->rule || !P->absorbed || !P->folded || !P->nonneg || !P->lin || !consumers) {
    free(consumers);
    return CP_ERR_ALLOC;
  }
  memcpy(P->rule, rule, sizeof(int) * (size_t)n);
  long mc = 1;
  for (int j = 0; j < n; j++) {
    const cp_layer *l = &net->L[j];
    for (int q = 0; q < l->n_in; q++)
      if (l->in[q] >= 0) consumers[l->in[q]]++;
    if (l->c_in > mc) mc = l->c_in;
    if (l->c_out > mc) mc = l->c_out;
    if (l->type == CP_DENSE && (long)l->c_in * l->l_in > mc) mc = (long)l->c_in * l->l_in;
    /* non-negative outputs: a ReLU, or pooling, dropout or flattening of
     * non-negative values */
    const int src_nonneg = l->in[0] >= 0 && P->nonneg[l->in[0]];
    P->nonneg[j] = l->act == CP_RELU ||
                   (l->act == CP_LINEAR && src_nonneg &&
                    (l->type == CP_MAXPOOL || l->type == CP_AVGPOOL || l->type == CP_GMAX ||
                     l->type == CP_GAVG || l->type == CP_DROP || l->type == CP_FLATTEN));
  }
  P->max_ch = mc;
  P->zeros = calloc((size_t)mc, sizeof(double));
  if (!P->zeros) {
    free(consumers);
    return CP_ERR_ALLOC;
  }
  long scr = 1;
  int st = CP_OK;
  for (int j = 0; j < n && st == CP_OK; j++) {
    const cp_layer *l = &net->L[j];
    if (l->type == CP_BN) {
      int p = l->in[0];
      if (p >= 0 && net->L[p].type == CP_CONV && net->L[p].act == CP_LINEAR &&
          consumers[p] == 1 && !(has_mask && has_mask[p])) {
        P->absorbed[p] = 1;
        P->folded[j] = 1;
        P->rule[j] = rule[p];
        /* the convolution's own plan entry is not needed */
        free(P->lin[p].mem);
        memset(&P->lin[p], 0, sizeof(cp_lin));
        st = lin_setup(&P->lin[j], net, &net->L[p], l, 0, rule[p], P->zeros);
      }
    } else if (l->type == CP_CONV || l->type == CP_DENSE) {
      st = lin_setup(&P->lin[j], net, l, NULL, l->type == CP_DENSE, rule[j], P->zeros);
    }
    if (st == CP_OK && P->lin[j].ok && lin_scratch(&P->lin[j]) > scr)
      scr = lin_scratch(&P->lin[j]);
  }
  free(consumers);
  P->scratch = scr;
  return st;
}

void cp_lrp_plan_free(cp_lrp_plan *P) {
  if (P->lin)
    for (int j = 0; j < P->n_nodes; j++) free(P->lin[j].mem);
  free(P->lin);
  free(P->rule);
  free(P->absorbed);
  free(P->folded);
  free(P->nonneg);
  free(P->zeros);
  memset(P, 0, sizeof *P);
}

/* ------------------------------------------------------------ helpers */

static inline double stab(double z, double eps) {
  return z + (z >= 0.0 ? eps : -eps);
}

static inline double safe_div(double r, double d) {
  return d != 0.0 ? r / d : 0.0;
}

/* Four values at a time: is any of v[q .. q+3] non-zero? */
static inline int any4(const double *v) {
#ifdef CP_HAVE_VEC
  typedef long long cp_m4 __attribute__((vector_size(32)));
  cp_v4 x;
  V4_LOAD(x, v);
  const cp_m4 m = x != 0.0;
  return (m[0] | m[1] | m[2] | m[3]) != 0;
#else
  return v[0] != 0.0 || v[1] != 0.0 || v[2] != 0.0 || v[3] != 0.0;
#endif
}

static int all_zero(const double *v, long n) {
  long q = 0;
  for (; q + 4 <= n; q += 4)
    if (any4(v + q)) return 0;
  for (; q < n; q++)
    if (v[q] != 0.0) return 0;
  return 1;
}

/* Pad a [c][l] into dst [c][lp]; part: 0 all, 1 positive part, 2 negative. */
static void pad_part(const double *a, int c_in, int l_in, int pad_l, int pad_r, int part,
                     double *dst) {
  const long lp = (long)l_in + pad_l + pad_r;
  for (int i = 0; i < c_in; i++) {
    const double *ai = a + (long)i * l_in;
    double *d = dst + (long)i * lp;
    for (int t = 0; t < pad_l; t++) d[t] = 0.0;
    if (part == 0) {
      memcpy(d + pad_l, ai, sizeof(double) * (size_t)l_in);
    } else if (part == 1) {
      for (int t = 0; t < l_in; t++) d[pad_l + t] = ai[t] > 0.0 ? ai[t] : 0.0;
    } else {
      for (int t = 0; t < l_in; t++) d[pad_l + t] = ai[t] < 0.0 ? ai[t] : 0.0;
    }
    for (int t = 0; t < pad_r; t++) d[pad_l + l_in + t] = 0.0;
  }
}

/* z = conv(ap, w) (+ b when b != NULL) on the output channels flagged in act. */
static void conv_rows(const cp_lin *g, const double *ap, const double *w, const double *b,
                      const double *zeros, const unsigned char *act, double *z) {
  const long lp = lin_lp(g), per = (long)g->c_in * g->k;
  int o = 0;
  while (o < g->c_out) {
    if (!act[o]) {
      memset(z + (long)o * g->l_out, 0, sizeof(double) * (size_t)g->l_out);
      o++;
      continue;
    }
    int o1 = o;
    while (o1 < g->c_out && act[o1]) o1++;
    cp_conv1d(ap, g->c_in, (int)lp, w + (long)o * per, b ? b + o : zeros, o1 - o, g->l_out,
              g->k, g->stride, g->dil, z + (long)o * g->l_out);
    o = o1;
  }
}

/* G [c_in][lp] = conv^T(S, w): the padded-input gradient of sum(S * conv(., w)),
 * stride 1, as a convolution of the zero-padded S with the flipped
 * transposed kernel wt. */
static void conv_t(const cp_lin *g, const double *S, const double *wt, const unsigned char *act,
                   const double *zeros, double *SP, double *G) {
  const long lp = lin_lp(g), lsp = lin_lsp(g), off = (long)(g->k - 1) * g->dil;
  const int lo = g->l_out;
  for (int o = 0; o < g->c_out; o++) {
    double *d = SP + (long)o * lsp;
    memset(d, 0, sizeof(double) * (size_t)lsp);
    if (act[o]) memcpy(d + off, S + (long)o * lo, sizeof(double) * (size_t)lo);
  }
  cp_conv1d(SP, g->c_out, (int)lsp, wt, zeros, g->c_in, (int)lp, g->k, 1, g->dil, G);
}

/* ri[t] += a[t] * g[t] where a[t] has the sign asked for (sign 1: > 0,
 * -1: < 0, 0: any), four at a time. */
static void add_prod(double *ri, const double *a, const double *g, int n, int sign) {
  int t = 0;
#ifdef CP_HAVE_VEC
  typedef long long cp_m4 __attribute__((vector_size(32)));
  const cp_v4 zero = {0.0, 0.0, 0.0, 0.0};
  for (; t + 4 <= n; t += 4) {
    cp_v4 av, gv, rv;
    V4_LOAD(av, a + t);
    V4_LOAD(gv, g + t);
    V4_LOAD(rv, ri + t);
    cp_v4 p = av * gv;
    if (sign != 0) {
      const cp_m4 m = sign > 0 ? av > zero : av < zero;
      p = (cp_v4)((cp_m4)p & m);
    }
    rv += p;
    V4_STORE(ri + t, rv);
  }
#endif
  for (; t < n; t++) {
    const int take = sign == 0 || (sign > 0 ? a[t] > 0.0 : a[t] < 0.0);
    ri[t] += take ? a[t] * g[t] : 0.0;
  }
}

/* Groups the flat output indices q_row[0..np-1] (q = channel * lo + time)
 * by time with a counting sort that keeps their order within a time:
 * t_ptr[t] .. t_ptr[t+1]-1 index q_idx and o_idx (the channels). nxt: lo
 * ints of scratch. */
static void group_by_time(const int *q_row, int np, int lo, int *t_ptr, int *nxt, int *q_idx,
                          int *o_idx) {
  memset(t_ptr, 0, sizeof(int) * (size_t)(lo + 1));
  for (int p = 0; p < np; p++) t_ptr[q_row[p] % lo + 1]++;
  for (int t = 0; t < lo; t++) t_ptr[t + 1] += t_ptr[t];
  memcpy(nxt, t_ptr, sizeof(int) * (size_t)lo);
  for (int p = 0; p < np; p++) {
    const int q = q_row[p], d = nxt[q % lo]++;
    q_idx[d] = q;
    o_idx[d] = q / lo;
  }
}

/* r_in += a * G over the unpadded input, for inputs of the sign asked for
 * (add_prod); G is [c_in][lp]. */
static void add_in(const cp_lin *g, const double *a, const double *G, double *r_in, int sign) {
  const long lp = lin_lp(g);
  for (int i = 0; i < g->c_in; i++)
    add_prod(r_in + (long)i * g->l_in, a + (long)i * g->l_in, G + (long)i * lp + g->pad_l,
             g->l_in, sign);
}

/* How a linear node's rule runs its convolutions: dense on the channels
 * with relevance, or on the (channel, time) pairs with relevance only. */
typedef struct {
  const cp_lin *g;
  const unsigned char *act; /* channels with relevance */
  int pairs_z, pairs_t;     /* forward / transpose on the pairs */
  cp_conv_geom cg;
  cp_pairs pr;
  double *xt, *gt, *sv, *SP; /* scratch */
  const double *zeros;
  const int *q_idx; /* flat output indices with relevance (pairs_z), else NULL */
  long n_q;         /* how many; all outputs when q_idx is NULL */
} lin_plan;

/* Flat output index of the p-th output the element-wise steps visit. */
static inline long lin_q(const lin_plan *lq, long p) { return lq->q_idx ? lq->q_idx[p] : p; }

/* z = conv(ap, w) (+ b) wherever relevance arrives. On the pairs, other
 * outputs are left as they are: the element-wise steps (lin_q) and the
 * transpose on the pairs never read them. */
static void lin_z(const lin_plan *lq, const double *ap, const double *w, const double *b,
                  double *z) {
  if (lq->pairs_z) {
    cp_conv1d_pairs(&lq->cg, ap, w, b ? b : lq->zeros, &lq->pr, z, lq->xt, lq->sv);
  } else {
    conv_rows(lq->g, ap, w, b, lq->zeros, lq->act, z);
  }
}

/* G [c_in][lp] = conv^T(S, w), S read only where relevance arrives. */
static void lin_t(const lin_plan *lq, const double *S, const double *w, const double *wt,
                  double *G) {
  if (lq->pairs_t) {
    memset(G, 0, sizeof(double) * (size_t)lq->g->c_in * (size_t)lq->cg.lp);
    cp_conv1d_t_pairs(&lq->cg, S, w, &lq->pr, G, lq->gt, lq->sv);
  } else {
    conv_t(lq->g, S, wt, lq->act, lq->zeros, lq->SP, G);
  }
}

/* S = scale * R / d(z) with z = conv(ap, w) (+ b) and d(z) = stab(z, eps)
 * (use_stab) or z, left in Z, then G = conv^T(S, w). */
static void lin_zst(const lin_plan *lq, const double *ap, const double *w, const double *wt,
                    const double *b, const double *R, double scale, double eps, int use_stab,
                    double *Z, double *G) {
  lin_z(lq, ap, w, b, Z);
  for (long p = 0; p < lq->n_q; p++) {
    const long q = lin_q(lq, p);
    Z[q] = scale * safe_div(R[q], use_stab ? stab(Z[q], eps) : Z[q]);
  }
  lin_t(lq, Z, w, wt, G);
}

/* Relevance R [c_out][l_out] of a linear node to its input a (r_in +=). */
static void lin_rule(const cp_lrp_plan *P, const cp_lin *g, int rule, const double *a,
                     const double *R, double *r_in, double *scr) {
  const long lp = lin_lp(g), nA = (long)g->c_in * lp, nZ = (long)g->c_out * g->l_out;
  const long nS = (long)g->c_out * lin_lsp(g), nk = (long)g->c_in * g->k;
  double *A1 = scr, *A2 = A1 + nA, *G1 = A2 + nA, *G2 = G1 + nA;
  double *Z1 = G2 + nA, *Z2 = Z1 + nZ, *Z3 = Z2 + nZ, *SP = Z3 + nZ;
  unsigned char *act = (unsigned char *)(SP + nS);
  double *XT = SP + nS + g->c_out, *GT = XT + nk, *SV = GT + nk;
  int *t_ptr = (int *)(SV + g->c_out), *nxt = t_ptr + g->l_out + 1;
  int *o_act = nxt + g->l_out + 1, *o_idx = o_act + g->c_out, *q_idx = o_idx + nZ;
  int *q_row = q_idx + nZ;
  const int lo = g->l_out, li = g->l_in, pl = g->pad_l;
  int n_act = 0;
  for (int o = 0; o < g->c_out; o++) {
    const int nz = !all_zero(R + (long)o * lo, lo);
    act[o] = (unsigned char)nz;
    if (nz) o_act[n_act++] = o;
  }
  if (n_act == 0) return;
  /* the pairs (channel, time) with relevance, collected row by row
   * (branch-free: relevance is scattered) */
  int np = 0;
  for (int a = 0; a < n_act; a++) {
    const int q0 = o_act[a] * lo;
    const double *ro = R + q0;
    for (int t = 0; t < lo; t++) {
      q_row[np] = q0 + t;
      np += ro[t] != 0.0;
    }
  }
  /* below about 40% of the outputs the pair kernels do less work than the
   * dense ones; the dense transpose needs stride 1 and pays for every
   * channel */
  const int few = 5L * np <= 2 * nZ;
  lin_plan lq = {g, act, 0, 0, {0}, {0}, XT, GT, SV, SP, P->zeros, NULL, nZ};
  lq.pairs_z = P->kernels == CP_K_PAIRS || (P->kernels == CP_K_AUTO && few);
  lq.pairs_t = lq.pairs_z || g->stride != 1 || (P->kernels == CP_K_AUTO && 2 * n_act <= g->c_out);
  if (lq.pairs_z) {
    lq.q_idx = q_idx;
    lq.n_q = np;
  }
  if (lq.pairs_t) {
    group_by_time(q_row, np, lo, t_ptr, nxt, q_idx, o_idx);
    lq.cg = (cp_conv_geom){g->c_in, g->c_out, lo, g->k, g->stride, g->dil, lp};
    lq.pr = (cp_pairs){t_ptr, o_idx};
  }
  switch (rule) {
  case CP_R_EPS: {
    pad_part(a, g->c_in, li, pl, g->pad_r, 0, A1);
    lin_zst(&lq, A1, g->w, g->wt, g->b, R, 1.0, P->eps, 1, Z1, G1);
    add_in(g, a, G1, r_in, 0);
    break;
  }
  case CP_R_ZPLUS:
  case CP_R_AB: {
    const double alpha = rule == CP_R_ZPLUS ? 1.0 : P->alpha;
    const double beta = rule == CP_R_ZPLUS ? 0.0 : P->beta;
    int has_neg = 0;
    const long na = (long)g->c_in * li;
    const int nonneg = g->src >= 0 && P->nonneg[g->src];
    for (long q = 0; q < na && !has_neg && !nonneg; q++) has_neg = a[q] < 0.0;
    pad_part(a, g->c_in, li, pl, g->pad_r, nonneg ? 0 : 1, A1);
    if (has_neg) pad_part(a, g->c_in, li, pl, g->pad_r, 2, A2);
    if (!has_neg && beta == 0.0) {
      /* z+ on non-negative inputs: one denominator, one transpose */
      lin_zst(&lq, A1, g->wp, g->wpt, NULL, R, alpha, 0.0, 0, Z1, G1);
    } else {
      lin_z(&lq, A1, g->wp, NULL, Z1);
      if (has_neg) {
        lin_z(&lq, A2, g->wn, NULL, Z3);
        for (long p = 0; p < lq.n_q; p++) Z1[lin_q(&lq, p)] += Z3[lin_q(&lq, p)];
      }
      if (beta != 0.0) {
        lin_z(&lq, A1, g->wn, NULL, Z2);
        if (has_neg) {
          lin_z(&lq, A2, g->wp, NULL, Z3);
          for (long p = 0; p < lq.n_q; p++) Z2[lin_q(&lq, p)] += Z3[lin_q(&lq, p)];
        }
        for (long p = 0; p < lq.n_q; p++) {
          const long q = lin_q(&lq, p);
          Z2[q] = beta * safe_div(R[q], Z2[q]);
        }
      }
      for (long p = 0; p < lq.n_q; p++) {
        const long q = lin_q(&lq, p);
        Z1[q] = alpha * safe_div(R[q], Z1[q]);
      }
      /* positive inputs: conv^T(sp, w+) - conv^T(sn, w-) */
      lin_t(&lq, Z1, g->wp, g->wpt, G1);
      if (beta != 0.0) {
        lin_t(&lq, Z2, g->wn, g->wnt, G2);
        for (long q = 0; q < nA; q++) G1[q] -= G2[q];
      }
    }
    add_in(g, a, G1, r_in, 1);
    if (has_neg) {
      /* negative inputs: conv^T(sp, w-) - conv^T(sn, w+) */
      lin_t(&lq, Z1, g->wn, g->wnt, G1);
      if (beta != 0.0) {
        lin_t(&lq, Z2, g->wp, g->wpt, G2);
        for (long q = 0; q < nA; q++) G1[q] -= G2[q];
      }
      add_in(g, a, G1, r_in, -1);
    }
    break;
  }
  case CP_R_W2:
  case CP_R_FLAT: {
    for (long p = 0; p < lq.n_q; p++) {
      const long q = lin_q(&lq, p);
      Z1[q] = safe_div(R[q], g->den[q]);
    }
    lin_t(&lq, Z1, g->w2, g->w2t, G1);
    for (int i = 0; i < g->c_in; i++) {
      const double *gi = G1 + (long)i * lp + pl;
      double *ri = r_in + (long)i * li;
      for (int t = 0; t < li; t++) ri[t] += gi[t];
    }
    break;
  }
  default: /* identity on a linear node is not offered */
    break;
  }
}


static const double *node_act(const cp_net *net, const cp_work *w, const double *x, int p) {
  (void)net;
  return p < 0 ? x : w->y[p];
}

static double *node_rel(double **rbuf, double *r_in, int p) {
  return p < 0 ? r_in : rbuf[p];
}

/* Share of relevance R per unit of input of an average over n inputs that
 * sum to z: the output y = z / n is stabilised (zennit's convention), and
 * input i gets a_i / n * R / stab(y). */
static inline double prop_share(double R, double z, int n, double eps) {
  return safe_div(R, stab(z / n, eps)) / n;
}

/* Relevance of node j (at its output, or equivalently before its activation
 * and mask) to its inputs. */
static void back_node(const cp_net *net, const cp_lrp_plan *P, const cp_work *w,
                      const double *x, int j, double **rbuf, double *r_in, double *scr) {
  const cp_layer *l = &net->L[j];
  const double *R = rbuf[j];
  const int rule = P->rule[j];
  const double eps = P->eps;
  if (P->absorbed[j]) return;
  if (P->lin[j].ok) {
    const cp_lin *g = &P->lin[j];
    lin_rule(P, g, rule, node_act(net, w, x, g->src), R, node_rel(rbuf, r_in, g->src), scr);
    return;
  }
  const double *a = node_act(net, w, x, l->in[0]);
  double *ri = node_rel(rbuf, r_in, l->in[0]);
  const int C = l->c_in, Li = l->l_in, Lo = l->l_out;
  switch (l->type) {
  case CP_BN: { /* element-wise linear layer y = sc x + sh */
    const double *ga = net->par + l->w_off, *be = net->par + l->b_off;
    const double *rm = net->state + l->s_off, *rv = rm + C;
    for (int c = 0; c < C; c++) {
      double sc = ga[c] / sqrt(rv[c] + l->eps), sh = be[c] - rm[c] * sc;
      const double *ac = a + (long)c * Li, *Rc = R + (long)c * Li;
      double *rc = ri + (long)c * Li;
      for (int t = 0; t < Li; t++) {
        double zc = sc * ac[t];
        switch (rule) {
        case CP_R_EPS: rc[t] += zc * safe_div(Rc[t], stab(zc + sh, eps)); break;
        case CP_R_ZPLUS: if (zc > 0.0) rc[t] += Rc[t]; break;
        case CP_R_AB:
          if (zc > 0.0) rc[t] += P->alpha * Rc[t];
          else if (zc < 0.0) rc[t] -= P->beta * Rc[t];
          break;
        default: rc[t] += Rc[t]; break;
        }
      }
    }
    break;
  }
  case CP_MAXPOOL:
  case CP_AVGPOOL:
    for (int c = 0; c < C; c++) {
      const double *ac = a + (long)c * Li, *Rc = R + (long)c * Lo;
      double *rc = ri + (long)c * Li;
      if (all_zero(Rc, Lo)) continue;
      if (l->type == CP_MAXPOOL && rule == CP_R_WTA) {
        cp_maxpool_back_row(ac, Rc, Lo, l->k, l->stride, rc);
        continue;
      }
      for (int t = 0; t < Lo; t++) {
        const long s0 = (long)t * l->stride;
        if (Rc[t] != 0.0) {
          double z = 0.0;
          for (int q = 0; q < l->k; q++) z += ac[s0 + q];
          const double s = l->type == CP_AVGPOOL ? prop_share(Rc[t], z, l->k, eps)
                                                 : safe_div(Rc[t], stab(z, eps));
          for (int q = 0; q < l->k; q++) rc[s0 + q] += ac[s0 + q] * s;
        }
      }
    }
    break;
  case CP_GAVG:
  case CP_GMAX:
    for (int c = 0; c < C; c++) {
      const double *ac = a + (long)c * Li;
      double *rc = ri + (long)c * Li;
      if (R[c] == 0.0) continue;
      if (l->type == CP_GMAX && rule == CP_R_WTA) {
        int best = 0;
        for (int t = 1; t < Li; t++) if (ac[t] > ac[best]) best = t;
        rc[best] += R[c];
      } else {
        double z = 0.0;
        for (int t = 0; t < Li; t++) z += ac[t];
        const double s = l->type == CP_GAVG ? prop_share(R[c], z, Li, eps)
                                            : safe_div(R[c], stab(z, eps));
        for (int t = 0; t < Li; t++) rc[t] += ac[t] * s;
      }
    }
    break;
  case CP_ADD: {
    const long n = (long)C * Li;
    for (long q = 0; q < n; q++) {
      if (R[q] == 0.0) continue;
      double z = 0.0;
      for (int m = 0; m < l->n_in; m++) z += node_act(net, w, x, l->in[m])[q];
      double s = safe_div(R[q], stab(z, eps));
      for (int m = 0; m < l->n_in; m++)
        node_rel(rbuf, r_in, l->in[m])[q] += node_act(net, w, x, l->in[m])[q] * s;
    }
    break;
  }
  case CP_PAD:
    for (int c = 0; c < C; c++) {
      const double *Rc = R + (long)c * Lo + l->pad_l;
      double *rc = ri + (long)c * Li;
      for (int t = 0; t < Li; t++) rc[t] += Rc[t];
    }
    break;
  default: { /* activation, flatten, dropout: same layout */
    const long n = (long)C * Li;
    for (long q = 0; q < n; q++) ri[q] += R[q];
    break;
  }
  }
}

/* Pre-activation value of node j at flat index q. */
static double pre_act(const cp_net *net, const cp_lrp_plan *P, const cp_work *w,
                      const double *x, int j, long q, double *scr) {
  const cp_layer *l = &net->L[j];
  if (l->act == CP_LINEAR) return w->y[j][q];
  if (l->type == CP_ACT) return node_act(net, w, x, l->in[0])[q];
  if (P->lin[j].ok) {
    const cp_lin *g = &P->lin[j];
    const long lp = lin_lp(g), per = (long)g->c_in * g->k;
    const int o = (int)(q / g->l_out), t = (int)(q % g->l_out);
    double *A1 = scr, *Z = A1 + (long)g->c_in * lp;
    pad_part(node_act(net, w, x, g->src), g->c_in, g->l_in, g->pad_l, g->pad_r, 0, A1);
    cp_conv1d(A1, g->c_in, (int)lp, g->w + o * per, g->b + o, 1, g->l_out, g->k, g->stride,
              g->dil, Z);
    return Z[t];
  }
  return w->y[j][q];
}


void cp_lrp_backward(const cp_net *net, const cp_lrp_plan *P, const cp_work *w,
                     const double *x, const cp_lrp_job *job, const double *pos,
                     double **rbuf, double *r_in, double *scr, double *seeded) {
  const int top = job->seed_node;
  const long n_in = (long)net->c_in * net->l_in;
  for (int j = 0; j <= top; j++)
    memset(rbuf[j], 0, sizeof(double) * (size_t)cp_node_size(&net->L[j]));
  memset(r_in, 0, sizeof(double) * (size_t)n_in);
  const cp_layer *ls = &net->L[top];
  double total = 0.0;
  for (int t = 0; t < ls->l_out; t++) {
    if (pos[t] == 0.0) continue;
    long q = (long)job->seed_ch * ls->l_out + t;
    double v = job->pre ? pre_act(net, P, w, x, top, q, scr) : w->y[top][q];
    rbuf[top][q] = v * pos[t];
    total += rbuf[top][q];
  }
  for (int j = top; j >= 0; j--) {
    const long nj = cp_node_size(&net->L[j]);
    if (j == job->filter_node) {
      const int lo = net->L[j].l_out;
      total = 0.0;
      for (long q = 0; q < nj; q++) {
        if (q / lo != job->filter_ch) rbuf[j][q] = 0.0;
        total += rbuf[j][q];
      }
      for (int m = 0; m < j; m++)
        memset(rbuf[m], 0, sizeof(double) * (size_t)cp_node_size(&net->L[m]));
      memset(r_in, 0, sizeof(double) * (size_t)n_in);
    }
    if (all_zero(rbuf[j], nj)) continue;
    back_node(net, P, w, x, j, rbuf, r_in, scr);
  }
  *seeded = total;
}

/* ------------------------------------------------------ Monte-Carlo driver */

/* Reorders v[0..n-1] so that v[k] is its (k+1)-th smallest value, with no
 * larger value before it and no smaller one after it (Hoare selection,
 * median-of-three pivot; v holds no NaN). */
static void select_kth(double *v, int n, int k) {
  int lo = 0, hi = n - 1;
  while (hi > lo) {
    const int mid = lo + (hi - lo) / 2;
    double tmp;
#define CP_SWAP(a, b) (tmp = v[a], v[a] = v[b], v[b] = tmp)
    if (v[mid] < v[lo]) CP_SWAP(mid, lo);
    if (v[hi] < v[lo]) CP_SWAP(hi, lo);
    if (v[hi] < v[mid]) CP_SWAP(hi, mid);
    const double pv = v[mid];
    int i = lo, j = hi;
    while (i <= j) {
      while (v[i] < pv) i++;
      while (v[j] > pv) j--;
      if (i <= j) {
        CP_SWAP(i, j);
        i++;
        j--;
      }
    }
#undef CP_SWAP
    if (k <= j) {
      hi = j;
    } else if (k >= i) {
      lo = i;
    } else {
      return;
    }
  }
}

/* R's type-7 quantile of v[0..n-1] (reordered) at probability p, by
 * selection: the same value as interpolating in the sorted v. */
static double quantile7_select(double *v, int n, double p) {
  double index = 1.0 + (double)(n - 1) * p;
  int lo = (int)floor(index);
  select_kth(v, n, lo - 1);
  double qs = v[lo - 1];
  if (index > lo) {
    double nx = v[lo];
    for (int q = lo + 1; q < n; q++)
      if (v[q] < nx) nx = v[q];
    if (nx != qs) {
      double h = index - lo;
      qs = (1.0 - h) * qs + h * nx;
    }
  }
  return qs;
}

typedef struct {
  cp_work fw;
  double **rbuf;
  double *r_in, *xin, *scr, *tmp;
  unsigned char *need;
  int held;      /* sample whose pass-independent prefix fw holds (-1: none) */
  double *saved; /* that sample's first masked node before its mask */
} lrp_ws;

static void ws_free(lrp_ws *ws, const cp_net *tn) {
  cp_work_free(&ws->fw, tn);
  if (ws->rbuf)
    for (int j = 0; j < tn->n_nodes; j++) free(ws->rbuf[j]);
  free(ws->rbuf);
  free(ws->r_in);
  free(ws->xin);
  free(ws->scr);
  free(ws->tmp);
  free(ws->need);
  free(ws->saved);
}

static int ws_alloc(lrp_ws *ws, const cp_net *tn, const cp_lrp_plan *P, const int *want_mask,
                    int t_run, int m0) {
  memset(ws, 0, sizeof *ws);
  ws->held = -1;
  if (m0 >= 0) {
    ws->saved = malloc(sizeof(double) * (size_t)cp_node_size(&tn->L[m0]));
    if (!ws->saved) return CP_ERR_ALLOC;
  }
  int st = cp_work_alloc(&ws->fw, tn, 1, want_mask, 1);
  if (st != CP_OK) return st;
  long n_in = (long)tn->c_in * tn->l_in;
  ws->rbuf = calloc((size_t)tn->n_nodes, sizeof(double *));
  ws->r_in = malloc(sizeof(double) * (size_t)n_in);
  ws->xin = malloc(sizeof(double) * (size_t)n_in);
  ws->scr = malloc(sizeof(double) * (size_t)(P->scratch + 8));
  ws->tmp = malloc(sizeof(double) * (size_t)(t_run + 1));
  ws->need = malloc((size_t)P->max_ch + 1);
  if (!ws->rbuf || !ws->r_in || !ws->xin || !ws->scr || !ws->tmp || !ws->need)
    return CP_ERR_ALLOC;
  for (int j = 0; j < tn->n_nodes; j++) {
    memset(ws->fw.y[j], 0, sizeof(double) * (size_t)cp_node_size(&tn->L[j]));
    ws->rbuf[j] = malloc(sizeof(double) * (size_t)cp_node_size(&tn->L[j]));
    if (!ws->rbuf[j]) return CP_ERR_ALLOC;
  }
  return CP_OK;
}

/* Forward pass that computes only the channels a unit seed needs at the end
 * of the net: when the seed node is reached from a convolution c through
 * channel-wise nodes (activation, batch norm, pooling, dropout), nodes
 * before c are computed in full and nodes c..top only on the channels in
 * need[]. Other channels of those nodes keep stale (finite) values that
 * the backward pass never reads, since their relevance is zero. Returns 0
 * when the shortcut does not apply (the caller then runs cp_forward). */
static int chain_start(const cp_net *tn) {
  int top = tn->n_nodes - 1;
  for (int j = top; j >= 0; j--) {
    const cp_layer *l = &tn->L[j];
    if (l->act == CP_SOFTMAX) return -1;
    if (j < top && tn->L[j + 1].in[0] != j) return -1;
    if (l->type == CP_CONV) return j;
    if (l->type != CP_ACT && l->type != CP_BN && l->type != CP_MAXPOOL &&
        l->type != CP_AVGPOOL && l->type != CP_DROP)
      return -1;
  }
  return -1;
}

static void partial_forward(const cp_net *tn, int from, int c0, const double *x, int mode,
                            cp_work *w, const unsigned char *need, double *scr) {
  cp_net head = *tn;
  head.n_nodes = c0;
  if (c0 > from) cp_forward_from(&head, from, x, 1, mode, w);
  for (int j = c0; j < tn->n_nodes; j++) {
    const cp_layer *l = &tn->L[j];
    const double *in = l->in[0] < 0 ? x : w->y[l->in[0]];
    double *y = w->y[j];
    const int Li = l->l_in, Lo = l->l_out;
    if (l->type == CP_CONV) {
      const int lp = Li + l->pad_l + l->pad_r;
      pad_part(in, l->c_in, Li, l->pad_l, l->pad_r, 0, scr);
      const long per = (long)l->c_in * l->k;
      int o = 0;
      while (o < l->c_out) {
        if (!need[o]) { o++; continue; }
        int o1 = o;
        while (o1 < l->c_out && need[o1]) o1++;
        cp_conv1d(scr, l->c_in, lp, tn->par + l->w_off + o * per, tn->par + l->b_off + o,
                  o1 - o, Lo, l->k, l->stride, l->dil, y + (long)o * Lo);
        o = o1;
      }
    }
    for (int c = 0; c < l->c_out; c++) {
      if (!need[c]) continue;
      const double *ic = in + (long)c * Li;
      double *yc = y + (long)c * Lo;
      switch (l->type) {
      case CP_CONV:
        break;
      case CP_BN: {
        const double *g = tn->par + l->w_off, *bt = tn->par + l->b_off;
        const double *rm = tn->state + l->s_off, *rv = rm + l->c_in;
        double sc = g[c] / sqrt(rv[c] + l->eps), sh = bt[c] - rm[c] * sc;
        for (int t = 0; t < Li; t++) yc[t] = ic[t] * sc + sh;
        break;
      }
      case CP_MAXPOOL:
      case CP_AVGPOOL:
        cp_pool_row(ic, Lo, l->k, l->stride, l->type == CP_MAXPOOL, yc);
        break;
      default:
        memcpy(yc, ic, sizeof(double) * (size_t)Lo);
        break;
      }
      if (l->act != CP_LINEAR) cp_act_apply(l->act, l->act_par, yc, Lo);
      if (mode != CP_MODE_INFER && w->mask[j]) {
        const double *m = w->mask[j] + (long)c * Lo;
        for (int t = 0; t < Lo; t++) yc[t] *= m[t];
      }
    }
  }
}

#define CP_STORE_BUDGET (1L << 23) /* doubles held for one group of jobs */

int cp_relevance(const cp_net *net, const cp_lrp_plan *P, const double *x,
                 int n_jobs, const cp_lrp_job *jobs, const double *pos, int pos_ld,
                 int passes, const double *rate, double rate_in, uint64_t seed,
                 const uint64_t *keys, int n_threads, double *mean, double *sd, double *q05, double *q95,
                 double *seeded, double *cons) {
  if (n_jobs < 1) return CP_OK;
  const long CL = (long)net->c_in * net->l_in;
  int top = 0;
  for (int q = 0; q < n_jobs; q++) {
    if (jobs[q].seed_node > top) top = jobs[q].seed_node;
  }
  cp_net tn = *net;
  tn.n_nodes = top + 1;
  int *want = calloc((size_t)tn.n_nodes, sizeof(int));
  if (!want) return CP_ERR_ALLOC;
  int any_mask = rate_in > 0.0;
  for (int j = 0; j < tn.n_nodes; j++) {
    want[j] = rate != NULL && rate[j] > 0.0;
    any_mask |= want[j];
  }
  const int t_run = any_mask ? passes : 1;
  const int chain = chain_start(&tn);
  /* the first masked node, when the input itself is not dropped out */
  int m_first = -1;
  for (int j = 0; j < tn.n_nodes && m_first < 0 && any_mask && rate_in <= 0.0; j++)
    if (want[j]) m_first = j;
  const int nt = n_threads < 1 ? 1 : n_threads;
  lrp_ws *W = calloc((size_t)nt, sizeof(lrp_ws));
  int *run_from = malloc(sizeof(int) * (size_t)n_jobs);
  int *run_to = malloc(sizeof(int) * (size_t)n_jobs);
  const long per_job = (long)t_run * CL;
  long cap = per_job > CP_STORE_BUDGET ? per_job : CP_STORE_BUDGET;
  if ((long)n_jobs * per_job < cap) cap = (long)n_jobs * per_job;
  double *store = malloc(sizeof(double) * (size_t)cap);
  double *sp = malloc(sizeof(double) * (size_t)n_jobs * (size_t)t_run);
  double *cp = malloc(sizeof(double) * (size_t)n_jobs * (size_t)t_run);
  int st = (W && run_from && run_to && store && sp && cp) ? CP_OK : CP_ERR_ALLOC;
  for (int i = 0; i < nt && st == CP_OK; i++) st = ws_alloc(&W[i], &tn, P, want, t_run, m_first);
  const uint64_t seed_in = cp_mix64(seed ^ 0x5bd1e9955bd1e995ULL);

  int i0 = 0;
  while (st == CP_OK && i0 < n_jobs) {
    /* a group of consecutive jobs whose passes fit in the store */
    int i1 = i0;
    long used = 0;
    while (i1 < n_jobs && (i1 == i0 || used + per_job <= cap)) {
      used += per_job;
      i1++;
    }
    int n_runs = 0;
    for (int q = i0; q < i1; q++) {
      if (q == i0 || jobs[q].sample != jobs[q - 1].sample) {
        run_from[n_runs] = q;
        n_runs++;
      }
      run_to[n_runs - 1] = q + 1;
    }
    const long n_tasks = (long)n_runs * t_run;
    const long chunk = 64L * nt; /* tasks between interrupt checks */
    for (long c0 = 0; st == CP_OK && c0 < n_tasks; c0 += chunk) {
      long c1 = c0 + chunk < n_tasks ? c0 + chunk : n_tasks;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
#endif
      for (long task = c0; task < c1; task++) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        lrp_ws *ws = &W[tid];
        const int run = (int)(task / t_run), t = (int)(task % t_run);
        const int s = jobs[run_from[run]].sample;
        const uint64_t key = keys ? keys[s] : (uint64_t)s;
        const uint64_t stream = key * (uint64_t)passes + (uint64_t)t;
        const double *xs = x + (long)s * CL;
        if (rate_in > 0.0) {
          cp_rng r;
          cp_rng_init(&r, seed_in, stream);
          const double keep = 1.0 / (1.0 - rate_in);
          for (long q = 0; q < CL; q++)
            ws->xin[q] = cp_rng_unif(&r) >= rate_in ? xs[q] * keep : 0.0;
          xs = ws->xin;
        }
        if (any_mask) cp_draw_masks(&tn, &ws->fw, 1, rate, seed, stream);
        const int mode = any_mask ? CP_MODE_MC : CP_MODE_INFER;
        int partial = chain >= 0;
        for (int q = run_from[run]; q < run_to[run] && partial; q++)
          partial = jobs[q].seed_node == top && !jobs[q].pre && jobs[q].filter_node < 0;
        /* nodes before the first masked one m0, and m0 before its mask,
         * are the same in every pass: computed once per sample and thread */
        const int m0 = partial && m_first >= chain ? -1 : m_first;
        int from = 0;
        if (m0 >= 0) {
          const long nm = cp_node_size(&tn.L[m0]);
          if (ws->held != s) {
            cp_net pre = tn;
            pre.n_nodes = m0 + 1;
            cp_forward(&pre, xs, 1, CP_MODE_INFER, &ws->fw);
            memcpy(ws->saved, ws->fw.y[m0], sizeof(double) * (size_t)nm);
            ws->held = s;
          }
          const double *mk = ws->fw.mask[m0];
          double *ym = ws->fw.y[m0];
          for (long q = 0; q < nm; q++) ym[q] = ws->saved[q] * mk[q];
          from = m0 + 1;
        } else {
          ws->held = -1; /* the full pass below overwrites the prefix */
        }
        if (partial) {
          memset(ws->need, 0, (size_t)tn.L[top].c_out);
          for (int q = run_from[run]; q < run_to[run]; q++) ws->need[jobs[q].seed_ch] = 1;
          partial_forward(&tn, from, chain, xs, mode, &ws->fw, ws->need, ws->scr);
        } else {
          cp_forward_from(&tn, from, xs, 1, mode, &ws->fw);
        }
        for (int q = run_from[run]; q < run_to[run]; q++) {
          double sv;
          cp_lrp_backward(&tn, P, &ws->fw, xs, &jobs[q], pos + (long)q * pos_ld, ws->rbuf,
                          ws->r_in, ws->scr, &sv);
          double *dst = store + ((long)(q - i0) * t_run + t) * CL;
          memcpy(dst, ws->r_in, sizeof(double) * (size_t)CL);
          double tot = 0.0;
          for (long m = 0; m < CL; m++) tot += ws->r_in[m];
          sp[(long)q * t_run + t] = sv;
          cp[(long)q * t_run + t] = tot - sv;
        }
      }
      if (cp_interrupted()) st = CP_ERR_INTERRUPT;
    }
    if (st != CP_OK) break;
    /* statistics over passes, each value computed by one thread in a fixed
     * order, so the thread count does not change results */
    const long n_stat = (long)(i1 - i0) * CL;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && t_run > 1)
#endif
    for (long e = 0; e < n_stat; e++) {
      int tid = 0;
#ifdef _OPENMP
      tid = omp_get_thread_num();
#endif
      const long q = e / CL, m = e % CL;
      const double *src = store + q * t_run * CL + m;
      double *v = W[tid].tmp;
      double lo = src[0], hi = src[0], sum = 0.0;
      for (int t = 0; t < t_run; t++) {
        v[t] = src[(long)t * CL];
        sum += v[t];
        if (v[t] < lo) lo = v[t];
        if (v[t] > hi) hi = v[t];
      }
      const long o = (long)(i0 + q) * CL + m;
      if (lo == hi) {
        mean[o] = lo;
        sd[o] = 0.0;
        q05[o] = lo;
        q95[o] = lo;
        continue;
      }
      double mu = sum / t_run, ss = 0.0;
      for (int t = 0; t < t_run; t++) ss += (v[t] - mu) * (v[t] - mu);
      mean[o] = mu;
      sd[o] = sqrt(ss / (t_run - 1));
      q05[o] = quantile7_select(v, t_run, 0.05);
      q95[o] = quantile7_select(v, t_run, 0.95);
    }
    for (int q = i0; q < i1; q++) {
      double a = 0.0, b = 0.0;
      for (int t = 0; t < t_run; t++) {
        a += sp[(long)q * t_run + t];
        b += cp[(long)q * t_run + t];
      }
      seeded[q] = a / t_run;
      cons[q] = b / t_run;
    }
    i0 = i1;
  }
  if (W)
    for (int i = 0; i < nt; i++) ws_free(&W[i], &tn);
  free(W);
  free(want);
  free(run_from);
  free(run_to);
  free(store);
  free(sp);
  free(cp);
  return st;
}
