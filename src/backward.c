/* Backpropagation through every node type of the engine (no R headers). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "backward.h"
#include "cp_simd.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static int conv_fast_dx(const cp_layer *l) {
  /* the transposed-convolution route needs stride 1 */
  return l->type == CP_CONV && l->stride == 1;
}

/* Scratch of one conv node for a group of up to CP_BGROUP samples: the
 * input gradient and the padded output gradient of the sample at hand, the
 * phase weight gradient (stride > 1), then per sample of the group its
 * transposed output gradient, padded input and input phases (stride > 1),
 * which the weight gradient of the whole group reads. */
typedef struct {
  double *dxp, *gp, *dwq, *gT, *xpad, *xq;
  long n_gT, n_pad, n_xq;
} conv_scratch;

static long conv_scratch_map(const cp_layer *l, double *base, conv_scratch *c) {
  const long lp = (long)l->l_in + l->pad_l + l->pad_r;
  const long span = (long)(l->k - 1) * l->dil;
  const long kq = span / l->stride + 1, lq = l->l_out + kq - 1;
  const long cq = (long)l->c_in * l->stride;
  const long n_dxp = (long)l->c_in * lp, n_gp = (long)l->c_out * (l->l_out + 2 * span);
  const long n_dwq = l->stride > 1 ? (long)l->c_out * cq * kq : 0;
  const long n_gT = (long)l->l_out * ((l->c_out + 3) & ~3);
  const long n_pad = (l->pad_l || l->pad_r) ? (long)l->c_in * lp : 0;
  const long n_xq = l->stride > 1 ? cq * lq : 0;
  if (c) {
    c->dxp = base;
    c->gp = c->dxp + n_dxp;
    c->dwq = c->gp + n_gp;
    /* 32-byte aligned: the weight-gradient kernel's vector loads of gT
     * then never cross a cache line */
    const uintptr_t a = (uintptr_t)(c->dwq + n_dwq);
    c->gT = (double *)((a + 31) & ~(uintptr_t)31);
    c->xpad = c->gT + CP_BGROUP * n_gT;
    c->xq = c->xpad + CP_BGROUP * n_pad;
    c->n_gT = n_gT;
    c->n_pad = n_pad;
    c->n_xq = n_xq;
  }
  return n_dxp + n_gp + n_dwq + 4 + CP_BGROUP * (n_gT + n_pad + n_xq);
}

int cp_bwork_alloc(cp_bwork *b, const cp_net *net, int nb, int n_threads) {
  int n = net->n_nodes;
  memset(b, 0, sizeof *b);
  b->nb = nb;
  b->n_groups = (nb + CP_BGROUP - 1) / CP_BGROUP;
  b->n_threads = n_threads < 1 ? 1 : n_threads;
  b->dy = calloc((size_t)n, sizeof(double *));
  b->wt = calloc((size_t)n, sizeof(double *));
  b->first_use = malloc(sizeof(int) * (size_t)n);
  if (!b->dy || !b->wt || !b->first_use) return CP_ERR_ALLOC;
  for (int j = 0; j < n; j++) b->first_use[j] = -1;
  for (int j = 0; j < n; j++)
    for (int q = 0; q < net->L[j].n_in; q++)
      if (net->L[j].in[q] >= 0) b->first_use[net->L[j].in[q]] = j;
  long scr = 1, zmax = 1;
  for (int j = 0; j < n; j++) {
    const cp_layer *l = &net->L[j];
    b->dy[j] = malloc(sizeof(double) * (size_t)nb * (size_t)cp_node_size(l));
    if (!b->dy[j]) return CP_ERR_ALLOC;
    if (l->type == CP_CONV) {
      const long need = conv_scratch_map(l, NULL, NULL);
      if (need > scr) scr = need;
      if (l->c_in > zmax) zmax = l->c_in;
      if (conv_fast_dx(l)) {
        b->wt[j] = malloc(sizeof(double) * (size_t)l->w_n);
        if (!b->wt[j]) return CP_ERR_ALLOC;
      }
    }
  }
  b->zeros = calloc((size_t)zmax, sizeof(double));
  b->gbuf = malloc(sizeof(double) * (size_t)b->n_groups * (size_t)(net->n_par > 0 ? net->n_par : 1));
  b->scratch_per_thread = scr;
  b->scratch = malloc(sizeof(double) * (size_t)scr * (size_t)b->n_threads);
  if (!b->zeros || !b->gbuf || !b->scratch) return CP_ERR_ALLOC;
  return CP_OK;
}

void cp_bwork_free(cp_bwork *b, const cp_net *net) {
  for (int j = 0; j < net->n_nodes; j++) {
    if (b->dy) free(b->dy[j]);
    if (b->wt) free(b->wt[j]);
  }
  free(b->dy);
  free(b->wt);
  free(b->first_use);
  free(b->zeros);
  free(b->gbuf);
  free(b->scratch);
  memset(b, 0, sizeof *b);
}

static const double *in_ptr(const cp_net *net, const cp_work *fw, const double *x, int p,
                            int s) {
  if (p < 0) return x + (long)s * net->c_in * net->l_in;
  return fw->y[p] + (long)s * cp_node_size(&net->L[p]);
}

/* dz = g * mask * act'(...) in place, for one sample of node j. The stored
 * output y is after the mask; where the mask is zero the gradient is zero,
 * elsewhere the activation output is y / mask. */
static void act_backward(const cp_layer *l, const double *y, const double *m, double *g,
                         long n) {
  if (m) {
    for (long i = 0; i < n; i++) g[i] *= m[i];
  }
  if (l->act == CP_LINEAR) return;
  if (l->act == CP_SOFTMAX) {
    double dot = 0.0;
    for (long i = 0; i < n; i++) {
      double a = m ? (m[i] != 0.0 ? y[i] / m[i] : 0.0) : y[i];
      dot += a * g[i];
    }
    /* entries with a zero mask have g = 0 but still take part through dot */
    for (long i = 0; i < n; i++) {
      double a = m ? (m[i] != 0.0 ? y[i] / m[i] : 0.0) : y[i];
      g[i] = a * (g[i] - dot);
    }
    /* a masked-out softmax entry cannot be recovered from y: masks on
     * softmax nodes are not supported (the api never creates them) */
    return;
  }
  if (l->act == CP_RELU) {
    /* g * (a > 0) without branches (the signs are unpredictable); the same
     * values as the loop below, which skips g == 0 where the product would
     * be zero anyway */
    long i = 0;
#ifdef CP_HAVE_VEC
    const cp_v2 z = {0.0, 0.0}, one = {1.0, 1.0};
    for (; i + 2 <= n; i += 2) {
      cp_v2 gv, a;
      V2_LOAD(gv, g + i);
      V2_LOAD(a, y + i);
      if (m) {
        cp_v2 mv;
        V2_LOAD(mv, m + i);
        a /= mv;
      }
      gv *= V2_AND(one, a > z);
      V2_STORE(g + i, gv);
    }
#endif
    for (; i < n; i++) {
      double a = y[i];
      if (m) a /= m[i];
      g[i] *= a > 0.0 ? 1.0 : 0.0;
    }
    return;
  }
  for (long i = 0; i < n; i++) {
    if (g[i] == 0.0) continue;
    double a = y[i];
    if (m) a /= m[i];
    double d;
    switch (l->act) {
    case CP_RELU: d = a > 0.0 ? 1.0 : 0.0; break;
    case CP_LEAKY: d = a > 0.0 ? 1.0 : l->act_par; break;
    case CP_TANH: d = 1.0 - a * a; break;
    case CP_SIGMOID: d = a * (1.0 - a); break;
    case CP_SOFTPLUS: d = -expm1(-a); break;
    default: d = 1.0; break;
    }
    g[i] *= d;
  }
}

/* y[i] += a * x[i], element by element (two lanes at a time). */
static void axpy(long n, double a, const double *x, double *y) {
  long i = 0;
#ifdef CP_HAVE_VEC
  const cp_v2 av = {a, a};
  for (; i + 2 <= n; i += 2) {
    cp_v2 xv, yv;
    V2_LOAD(xv, x + i);
    V2_LOAD(yv, y + i);
    yv += av * xv;
    V2_STORE(y + i, yv);
  }
#endif
  for (; i < n; i++) y[i] += a * x[i];
}

/* Convolution backward for sample q of a group: bias gradient, input
 * gradient, and the transposed output gradient and (padded, phase-split)
 * input that the group's weight gradient reads (*xs). */
static void conv_backward(const cp_layer *l, const double *par, const double *wt,
                          const double *zeros, const double *in, const double *g,
                          double *dx, double *gw, double *scratch, int q, const double **xs) {
  const int ci = l->c_in, co = l->c_out, li = l->l_in, lo = l->l_out, k = l->k;
  const int dil = l->dil, st = l->stride;
  const int lp = li + l->pad_l + l->pad_r;
  const int span = (k - 1) * dil;
  conv_scratch cs;
  conv_scratch_map(l, scratch, &cs);
  double *dxp = cs.dxp, *gp = cs.gp;
  const double *xp = in;
  if (l->pad_l || l->pad_r) {
    double *xp_buf = cs.xpad + q * cs.n_pad;
    for (int c = 0; c < ci; c++) {
      double *d = xp_buf + (long)c * lp;
      memset(d, 0, sizeof(double) * (size_t)l->pad_l);
      memcpy(d + l->pad_l, in + (long)c * li, sizeof(double) * (size_t)li);
      memset(d + l->pad_l + li, 0, sizeof(double) * (size_t)l->pad_r);
    }
    xp = xp_buf;
  }
  cp_transpose_grad(g, co, lo, cs.gT + q * cs.n_gT);
  cp_bias_grad(cs.gT + q * cs.n_gT, co, lo, gw + l->b_off);
  if (st == 1) {
    *xs = xp;
  } else {
    /* A stride-s convolution is a stride-1 convolution over the s phases of
     * its input (phase r of channel i holds xp[i][u*s + r]); tap kk reads
     * phase (kk*dil) % s at offset (kk*dil) / s. */
    const int kq = span / st + 1, lq = lo + kq - 1;
    double *xq = cs.xq + q * cs.n_xq;
    for (int i = 0; i < ci; i++)
      for (int r = 0; r < st; r++) {
        const double *xi = xp + (long)i * lp;
        double *d = xq + ((long)i * st + r) * lq;
        for (int u = 0; u < lq; u++) {
          const long src = (long)u * st + r;
          d[u] = src < lp ? xi[src] : 0.0;
        }
      }
    *xs = xq;
  }
  if (!dx) return;
  if (st == 1) {
    /* full correlation of the zero-padded output gradient with the flipped,
     * transposed weights: dxp[i][u] = sum_o sum_k w[o][i][k] g[o][u - k dil] */
    const int lg = lo + 2 * span;
    for (int o = 0; o < co; o++) {
      double *d = gp + (long)o * lg;
      memset(d, 0, sizeof(double) * (size_t)span);
      memcpy(d + span, g + (long)o * lo, sizeof(double) * (size_t)lo);
      memset(d + span + lo, 0, sizeof(double) * (size_t)span);
    }
    cp_conv1d(gp, co, lg, wt, zeros, ci, lp, k, 1, dil, dxp);
  } else {
    const double *w = par + l->w_off;
    memset(dxp, 0, sizeof(double) * (size_t)ci * (size_t)lp);
    for (int o = 0; o < co; o++) {
      const double *go = g + (long)o * lo;
      for (int i = 0; i < ci; i++) {
        const double *wk = w + ((long)o * ci + i) * k;
        double *di = dxp + (long)i * lp;
        for (int kk = 0; kk < k; kk++) {
          const double wv = wk[kk];
          double *dk = di + (long)kk * dil;
          for (int t = 0; t < lo; t++) dk[(long)t * st] += wv * go[t];
        }
      }
    }
  }
  for (int i = 0; i < ci; i++) {
    const double *s = dxp + (long)i * lp + l->pad_l;
    double *d = dx + (long)i * li;
    for (int t = 0; t < li; t++) d[t] += s[t];
  }
}

/* Weight gradient of a conv node over the ns samples of a group, from what
 * conv_backward left in the scratch. */
static void conv_dw_group(const cp_layer *l, const double *const *xs, int ns, double *gw,
                          double *scratch) {
  const int ci = l->c_in, co = l->c_out, lo = l->l_out, k = l->k, dil = l->dil;
  const int st = l->stride;
  const int lp = l->l_in + l->pad_l + l->pad_r;
  conv_scratch cs;
  conv_scratch_map(l, scratch, &cs);
  double *dw = gw + l->w_off;
  if (st == 1) {
    cp_conv1d_dw(xs, ns, ci, lp, cs.gT, co, lo, k, dil, dw);
    return;
  }
  /* the phase kernel's weight gradient goes back to the taps */
  const int span = (k - 1) * dil, kq = span / st + 1, lq = lo + kq - 1, cq = ci * st;
  memset(cs.dwq, 0, sizeof(double) * (size_t)co * (size_t)cq * (size_t)kq);
  cp_conv1d_dw(xs, ns, cq, lq, cs.gT, co, lo, kq, 1, cs.dwq);
  for (int o = 0; o < co; o++)
    for (int i = 0; i < ci; i++) {
      double *d = dw + ((long)o * ci + i) * k;
      for (int kk = 0; kk < k; kk++) {
        const int off = kk * dil;
        d[kk] += cs.dwq[((long)o * cq + (long)i * st + off % st) * kq + off / st];
      }
    }
}

/* Weight gradient of a dense node over samples s0 .. s1 - 1 in one pass
 * over the weights: dw[o][i] += g_s[o] * in_s[i] sample after sample, as
 * one update per sample would (samples with g_s[o] = 0 are skipped). */
static void dense_dw_group(const cp_net *net, const cp_layer *l, const cp_work *fw,
                           const cp_bwork *bw, int j, const double *x, int s0, int s1,
                           double *gw) {
  const long ni = (long)l->c_in * l->l_in, sz = cp_node_size(l);
  for (int o = 0; o < l->c_out; o++) {
    double gv[CP_BGROUP];
    const double *ins[CP_BGROUP];
    int m = 0;
    for (int s = s0; s < s1; s++) {
      const double go = bw->dy[j][(long)s * sz + o];
      if (go == 0.0) continue;
      gv[m] = go;
      ins[m++] = in_ptr(net, fw, x, l->in[0], s);
    }
    if (m == 0) continue;
    double *d = gw + l->w_off + (long)o * ni;
    long i = 0;
#ifdef CP_HAVE_VEC
    for (; i + 2 <= ni; i += 2) {
      cp_v2 a;
      V2_LOAD(a, d + i);
      for (int q = 0; q < m; q++) {
        cp_v2 v, gq = {gv[q], gv[q]};
        V2_LOAD(v, ins[q] + i);
        a += gq * v;
      }
      V2_STORE(d + i, a);
    }
#endif
    for (; i < ni; i++) {
      double a = d[i];
      for (int q = 0; q < m; q++) a += gv[q] * ins[q][i];
      d[i] = a;
    }
  }
}

/* Backward of one sample through one node (batch norm in TRAIN mode is
 * handled per batch). g is dL/d(pre-activation output) of this sample. */
static void node_backward(const cp_net *net, const cp_layer *l, const cp_work *fw,
                          const cp_bwork *bw, int j, const double *x, int s, int mode,
                          const double *g, double *gw, double *scratch, int q,
                          const double **xs) {
  const double *par = net->par;
  const int p0 = l->in[0];
  const double *in = in_ptr(net, fw, x, p0, s);
  double *dx = p0 >= 0 ? bw->dy[p0] + (long)s * cp_node_size(&net->L[p0]) : NULL;
  switch (l->type) {
  case CP_CONV:
    conv_backward(l, par, bw->wt[j], bw->zeros, in, g, dx, gw, scratch, q, xs);
    break;
  case CP_DENSE: {
    const long ni = (long)l->c_in * l->l_in;
    const double *w = par + l->w_off;
    double *db = gw + l->b_off;
    /* the weight gradient: dense_dw_group, for the whole group */
    for (int o = 0; o < l->c_out; o++) {
      const double go = g[o];
      db[o] += go;
      if (go != 0.0 && dx) axpy(ni, go, w + (long)o * ni, dx);
    }
    break;
  }
  case CP_MAXPOOL:
  case CP_AVGPOOL:
    if (!dx) break;
    for (int c = 0; c < l->c_in; c++) {
      const double *xc = in + (long)c * l->l_in;
      const double *gc = g + (long)c * l->l_out;
      double *dc = dx + (long)c * l->l_in;
      if (l->type == CP_MAXPOOL) {
        cp_maxpool_back_row(xc, gc, l->l_out, l->k, l->stride, dc);
        continue;
      }
      for (int t = 0; t < l->l_out; t++) {
        const long o = (long)t * l->stride;
        const double v = gc[t] / l->k;
        for (int q = 0; q < l->k; q++) dc[o + q] += v;
      }
    }
    break;
  case CP_GAVG:
  case CP_GMAX:
    if (!dx) break;
    for (int c = 0; c < l->c_in; c++) {
      const double *xc = in + (long)c * l->l_in;
      double *dc = dx + (long)c * l->l_in;
      if (l->type == CP_GMAX) {
        int best = 0;
        for (int t = 1; t < l->l_in; t++) if (xc[t] > xc[best]) best = t;
        dc[best] += g[c];
      } else {
        const double v = g[c] / l->l_in;
        for (int t = 0; t < l->l_in; t++) dc[t] += v;
      }
    }
    break;
  case CP_BN: {
    /* running statistics (INFER and MC modes) */
    const double *gam = par + l->w_off;
    const double *rm = net->state + l->s_off, *rv = rm + l->c_in;
    double *dgam = gw + l->w_off, *dbet = gw + l->b_off;
    for (int c = 0; c < l->c_in; c++) {
      const double inv = 1.0 / sqrt(rv[c] + l->eps);
      const double *xc = in + (long)c * l->l_in, *gc = g + (long)c * l->l_in;
      double sg = 0.0, sgx = 0.0;
      for (int t = 0; t < l->l_in; t++) {
        sg += gc[t];
        sgx += gc[t] * (xc[t] - rm[c]);
      }
      dgam[c] += sgx * inv;
      dbet[c] += sg;
      if (dx) {
        double *dc = dx + (long)c * l->l_in;
        const double sc = gam[c] * inv;
        for (int t = 0; t < l->l_in; t++) dc[t] += gc[t] * sc;
      }
    }
    break;
  }
  case CP_ADD: {
    const long n = cp_node_size(l);
    for (int q = 0; q < l->n_in; q++) {
      int p = l->in[q];
      if (p < 0) continue;
      double *d = bw->dy[p] + (long)s * cp_node_size(&net->L[p]);
      for (long i = 0; i < n; i++) d[i] += g[i];
    }
    break;
  }
  case CP_PAD:
    if (!dx) break;
    for (int c = 0; c < l->c_in; c++) {
      const double *gc = g + (long)c * l->l_out + l->pad_l;
      double *dc = dx + (long)c * l->l_in;
      for (int t = 0; t < l->l_in; t++) dc[t] += gc[t];
    }
    break;
  default: { /* flatten, activation, dropout: identity */
    if (!dx) break;
    const long n = cp_node_size(l);
    for (long i = 0; i < n; i++) dx[i] += g[i];
    break;
  }
  }
  (void)mode;
}

/* Batch norm with batch statistics: gradient of all samples at once.
 * Parameter gradients go to gw (group 0's buffer), summed in sample order. */
static void bn_train_backward(const cp_net *net, const cp_layer *l, const cp_work *fw,
                              const cp_bwork *bw, int j, const double *x, int nb,
                              double *gw) {
  const int C = l->c_in, L = l->l_in;
  const double *gam = net->par + l->w_off;
  const double *mu = fw->bn_mean[j], *var = fw->bn_var[j];
  const int p = l->in[0];
  const double N = (double)nb * L;
  double *dgam = gw + l->w_off, *dbet = gw + l->b_off;
  for (int c = 0; c < C; c++) {
    const double inv = 1.0 / sqrt(var[c] + l->eps);
    double sg = 0.0, sgx = 0.0;
    for (int s = 0; s < nb; s++) {
      const double *xc = in_ptr(net, fw, x, p, s) + (long)c * L;
      const double *gc = bw->dy[j] + (long)s * C * L + (long)c * L;
      for (int t = 0; t < L; t++) {
        sg += gc[t];
        sgx += gc[t] * (xc[t] - mu[c]) * inv;
      }
    }
    dgam[c] += sgx;
    dbet[c] += sg;
    if (p < 0) continue;
    const double sc = gam[c] * inv, mg = sg / N, mgx = sgx / N;
    for (int s = 0; s < nb; s++) {
      const double *xc = in_ptr(net, fw, x, p, s) + (long)c * L;
      const double *gc = bw->dy[j] + (long)s * C * L + (long)c * L;
      double *dc = bw->dy[p] + (long)s * C * L + (long)c * L;
      for (int t = 0; t < L; t++) {
        const double xh = (xc[t] - mu[c]) * inv;
        dc[t] += sc * (gc[t] - mg - xh * mgx);
      }
    }
  }
}

/* Zero sample s's output gradient of the inputs whose first consumer in
 * backward order is node j, before node j adds into them. */
static void zero_inputs(const cp_net *net, const cp_bwork *bw, int j, int s) {
  const cp_layer *l = &net->L[j];
  for (int q = 0; q < l->n_in; q++) {
    const int p = l->in[q];
    if (p < 0 || bw->first_use[p] != j) continue;
    const long sz = cp_node_size(&net->L[p]);
    memset(bw->dy[p] + (long)s * sz, 0, sizeof(double) * (size_t)sz);
  }
}

int cp_backward(const cp_net *net, const double *x, int nb, int mode, const cp_work *fw,
                cp_bwork *bw, double *grad) {
  if (nb > bw->nb || nb > fw->nb) return CP_ERR_INPUT;
  const int n = net->n_nodes;
  const long np = net->n_par;
  const int ng = (nb + CP_BGROUP - 1) / CP_BGROUP;
  const int nt = bw->n_threads;
  const int use_mask = mode != CP_MODE_INFER;
  /* A node's output gradient is zeroed by its first consumer in backward
   * order, sample by sample just before use (see zero_inputs); only nodes
   * without consumers are zeroed here. */
  for (int j = 0; j < n; j++)
    if (j != net->out && bw->first_use[j] < 0)
      memset(bw->dy[j], 0, sizeof(double) * (size_t)nb * (size_t)cp_node_size(&net->L[j]));
  memset(bw->gbuf, 0, sizeof(double) * (size_t)ng * (size_t)(np > 0 ? np : 1));
  /* flipped, transposed weights for the stride-1 input gradients */
  for (int j = 0; j < n; j++) {
    const cp_layer *l = &net->L[j];
    if (!bw->wt[j]) continue;
    const double *w = net->par + l->w_off;
    double *wt = bw->wt[j];
    for (int o = 0; o < l->c_out; o++)
      for (int i = 0; i < l->c_in; i++)
        for (int kk = 0; kk < l->k; kk++)
          wt[((long)i * l->c_out + o) * l->k + (l->k - 1 - kk)] =
              w[((long)o * l->c_in + i) * l->k + kk];
  }
  /* Segments between batch-norm nodes in TRAIN mode: within a segment each
   * group of samples runs backward through all its nodes (one parallel
   * region per segment); a batch-norm node in TRAIN mode needs the whole
   * batch and runs on its own. */
  int j_hi = n - 1;
  while (j_hi >= 0) {
    const cp_layer *lh = &net->L[j_hi];
    if (lh->type == CP_BN && mode == CP_MODE_TRAIN) {
      const long sz = cp_node_size(lh);
      const double *mask = use_mask ? fw->mask[j_hi] : NULL;
      for (int s = 0; s < nb; s++)
        act_backward(lh, fw->y[j_hi] + (long)s * sz, mask ? mask + (long)s * sz : NULL,
                     bw->dy[j_hi] + (long)s * sz, sz);
      for (int s = 0; s < nb; s++) zero_inputs(net, bw, j_hi, s);
      bn_train_backward(net, lh, fw, bw, j_hi, x, nb, bw->gbuf);
      j_hi--;
      continue;
    }
    int j_lo = j_hi;
    while (j_lo > 0 && !(net->L[j_lo - 1].type == CP_BN && mode == CP_MODE_TRAIN)) j_lo--;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1 && ng > 1)
#endif
    for (int gi = 0; gi < ng; gi++) {
      int tid = 0;
#ifdef _OPENMP
      tid = omp_get_thread_num();
#endif
      double *scr = bw->scratch + (long)tid * bw->scratch_per_thread;
      double *gw = bw->gbuf + (long)gi * np;
      const int s0 = gi * CP_BGROUP;
      const int s_end = s0 + CP_BGROUP < nb ? s0 + CP_BGROUP : nb;
      /* node by node, each node for all samples of the group: the weight
       * gradient of a convolution sums over the group at once */
      for (int j = j_hi; j >= j_lo; j--) {
        const cp_layer *l = &net->L[j];
        const long sz = cp_node_size(l);
        const double *mask = use_mask ? fw->mask[j] : NULL;
        const double *xs[CP_BGROUP];
        for (int s = s0; s < s_end; s++) {
          double *g = bw->dy[j] + (long)s * sz;
          act_backward(l, fw->y[j] + (long)s * sz, mask ? mask + (long)s * sz : NULL, g, sz);
          zero_inputs(net, bw, j, s);
          node_backward(net, l, fw, bw, j, x, s, mode, g, gw, scr, s - s0, &xs[s - s0]);
        }
        if (l->type == CP_CONV) conv_dw_group(l, xs, s_end - s0, gw, scr);
        if (l->type == CP_DENSE) dense_dw_group(net, l, fw, bw, j, x, s0, s_end, gw);
      }
    }
    j_hi = j_lo - 1;
  }
  (void)nt;
  /* fixed-order reduction of the group buffers */
  if (np > 0) {
    /* grad[i] = ((b_0[i] + b_1[i]) + b_2[i]) + ..., one pass over grad */
    long i = 0;
#ifdef CP_HAVE_VEC
    for (; i + 2 <= np; i += 2) {
      cp_v2 a;
      V2_LOAD(a, bw->gbuf + i);
      for (int gi = 1; gi < ng; gi++) {
        cp_v2 b;
        V2_LOAD(b, bw->gbuf + (long)gi * np + i);
        a += b;
      }
      V2_STORE(grad + i, a);
    }
#endif
    for (; i < np; i++) {
      double a = bw->gbuf[i];
      for (int gi = 1; gi < ng; gi++) a += bw->gbuf[(long)gi * np + i];
      grad[i] = a;
    }
  }
  return CP_OK;
}
