/* Network description and forward pass (kernels: no R headers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "net.h"
#include "cp_simd.h"
#include "conv_fast.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static const char *type_name(int type) {
  static const char *names[] = {"?",        "Conv1D",       "Dense",      "MaxPooling1D",
                                "AveragePooling1D", "GlobalPooling (average)",
                                "GlobalPooling (max)", "BatchNorm", "Flatten", "Activation",
                                "Add",      "Skipping",     "Padding"};
  return type >= CP_CONV && type <= CP_PAD ? names[type] : "unknown type";
}

/* a * b into *out unless it overflows (or either is negative). */
static int mul_ok(long a, long b, long *out) {
  if (a < 0 || b < 0) return 0;
  return !__builtin_mul_overflow(a, b, out);
}

/* Limits far above any real network that keep every index the kernels
 * compute in int arithmetic (sizes, spans, phases) from overflowing: values
 * per node and sample, weights per layer, and time lengths (padded too). */
#define CP_MAX_NODE_SIZE 2147483647L
#define CP_MAX_LEN (1L << 28)

/* Validate one node of a spec whose earlier nodes are valid; writes the
 * message ("field ... ") and returns CP_ERR_INPUT on the first violation. */
static int check_node(const cp_net *net, const cp_layer *l, int j, char *msg, size_t len) {
  const cp_layer *L = net->L;
#define FAIL(...) do { snprintf(msg, len, __VA_ARGS__); return CP_ERR_INPUT; } while (0)
  if (l->type < CP_CONV || l->type > CP_PAD) FAIL("field type: unknown code %d", l->type);
  if (l->n_in < 1 || l->n_in > CP_MAX_IN)
    FAIL("field n_in: %d inputs (1 to %d expected)", l->n_in, CP_MAX_IN);
  if (l->type != CP_ADD && l->n_in != 1)
    FAIL("field n_in: %d inputs, but only Add takes several", l->n_in);
  if (l->c_in < 1 || l->l_in < 1) FAIL("fields c_in/l_in: input shape %d x %d is not positive", l->c_in, l->l_in);
  if (l->c_out < 1 || l->l_out < 1)
    FAIL("fields c_out/l_out: output shape %d x %d is not positive", l->c_out, l->l_out);
  long size;
  if (!mul_ok(l->c_out, l->l_out, &size) || size > CP_MAX_NODE_SIZE || l->l_out > CP_MAX_LEN)
    FAIL("fields c_out/l_out: output of %d x %d values is too large", l->c_out, l->l_out);
  if (!mul_ok(l->c_in, l->l_in, &size) || size > CP_MAX_NODE_SIZE || l->l_in > CP_MAX_LEN)
    FAIL("fields c_in/l_in: input of %d x %d values is too large", l->c_in, l->l_in);
  for (int q = 0; q < l->n_in; q++) {
    int p = l->in[q];
    if (p < -1 || p >= j)
      FAIL("field in%d: input %ld is neither the model input (0) nor an earlier node", q, (long)p + 1);
    int pc = p < 0 ? net->c_in : L[p].c_out;
    int pl = p < 0 ? net->l_in : L[p].l_out;
    if (pc != l->c_in || pl != l->l_in)
      FAIL("fields c_in/l_in: input %ld has shape %d x %d, not %d x %d", (long)p + 1, pc, pl, l->c_in,
           l->l_in);
  }
  if (l->act < CP_LINEAR || l->act > CP_SOFTMAX) FAIL("field act: unknown code %d", l->act);
  if (l->act == CP_SOFTMAX && l->l_out != 1)
    FAIL("field act: softmax needs a flat output, not length %d", l->l_out);
  if (!isfinite(l->act_par)) FAIL("field act_par: not finite");
  long need_w = 0, need_b = 0, need_s = 0;
  switch (l->type) {
  case CP_CONV: {
    if (l->k < 1) FAIL("field k: kernel %d < 1", l->k);
    if (l->stride < 1) FAIL("field stride: %d < 1", l->stride);
    if (l->dil < 1) FAIL("field dil: %d < 1", l->dil);
    if (l->pad_l < 0 || l->pad_r < 0) FAIL("fields pad_l/pad_r: padding %d/%d is negative", l->pad_l, l->pad_r);
    long lp = (long)l->l_in + l->pad_l + l->pad_r;
    long span = (long)(l->k - 1) * l->dil + 1;
    if (lp > CP_MAX_LEN) FAIL("fields pad_l/pad_r: padded length %ld is too large", lp);
    if (span > lp) FAIL("field k: the kernel spans %ld points but the padded input has %ld", span, lp);
    long want = (lp - span) / l->stride + 1;
    if (l->l_out != want) FAIL("field l_out: %d, but the convolution gives %ld", l->l_out, want);
    long t;
    if (!mul_ok(l->c_out, l->c_in, &t) || !mul_ok(t, l->k, &need_w) || need_w > CP_MAX_NODE_SIZE ||
        !mul_ok(l->c_in, lp, &t) || t > CP_MAX_NODE_SIZE || !mul_ok(l->c_in, l->stride, &t) ||
        t > CP_MAX_NODE_SIZE)
      FAIL("fields k/stride: the convolution is too large");
    need_b = l->c_out;
    break;
  }
  case CP_DENSE:
    if (l->l_out != 1) FAIL("field l_out: %d, but a dense output is flat (1)", l->l_out);
    if (!mul_ok((long)l->c_in * l->l_in, l->c_out, &need_w) || need_w > CP_MAX_NODE_SIZE)
      FAIL("field c_out: the weight matrix is too large");
    need_b = l->c_out;
    break;
  case CP_MAXPOOL:
  case CP_AVGPOOL: {
    if (l->k < 1) FAIL("field k: kernel %d < 1", l->k);
    if (l->stride < 1) FAIL("field stride: %d < 1", l->stride);
    if (l->k > l->l_in) FAIL("field k: kernel %d exceeds the input length %d", l->k, l->l_in);
    if (l->c_out != l->c_in) FAIL("field c_out: %d, not the %d input channels", l->c_out, l->c_in);
    long want = (long)(l->l_in - l->k) / l->stride + 1;
    if (l->l_out != want) FAIL("field l_out: %d, but the pooling gives %ld", l->l_out, want);
    break;
  }
  case CP_GAVG:
  case CP_GMAX:
    if (l->c_out != l->c_in) FAIL("field c_out: %d, not the %d input channels", l->c_out, l->c_in);
    if (l->l_out != 1) FAIL("field l_out: %d, but global pooling gives 1", l->l_out);
    break;
  case CP_BN:
    if (l->c_out != l->c_in || l->l_out != l->l_in) FAIL("fields c_out/l_out: batch norm keeps the input shape");
    if (!(l->eps >= 0.0) || !isfinite(l->eps)) FAIL("field eps: must be finite and >= 0");
    need_w = l->c_in;
    need_b = l->c_in;
    need_s = 2L * l->c_in;
    break;
  case CP_FLATTEN:
    if (l->l_out != 1 || (long)l->c_out != (long)l->c_in * l->l_in)
      FAIL("fields c_out/l_out: %d x %d, but flatten gives %ld x 1", l->c_out, l->l_out,
           (long)l->c_in * l->l_in);
    break;
  case CP_ACT:
  case CP_DROP:
  case CP_ADD:
    if (l->c_out != l->c_in || l->l_out != l->l_in)
      FAIL("fields c_out/l_out: %d x %d, not the input shape %d x %d", l->c_out, l->l_out,
           l->c_in, l->l_in);
    if (l->type == CP_DROP && !(l->rate < 1.0)) FAIL("field rate: must be < 1");
    break;
  case CP_PAD: {
    if (l->pad_l < 0 || l->pad_r < 0) FAIL("fields pad_l/pad_r: padding %d/%d is negative", l->pad_l, l->pad_r);
    if (l->c_out != l->c_in) FAIL("field c_out: %d, not the %d input channels", l->c_out, l->c_in);
    long want = (long)l->l_in + l->pad_l + l->pad_r;
    if (l->l_out != want) FAIL("field l_out: %d, but the padding gives %ld", l->l_out, want);
    if (!isfinite(l->pad_val)) FAIL("field pad_val: not finite");
    break;
  }
  }
  if (need_w > 0 && (l->w_n != need_w || l->w_off < 0 || l->w_off > net->n_par - need_w))
    FAIL("fields w_off/w_n: weights [%ld, %ld + %ld) need %ld values inside the %ld parameters",
         l->w_off, l->w_off, l->w_n, need_w, net->n_par);
  if (need_b > 0 && (l->b_n != need_b || l->b_off < 0 || l->b_off > net->n_par - need_b))
    FAIL("fields b_off/b_n: bias [%ld, %ld + %ld) needs %ld values inside the %ld parameters",
         l->b_off, l->b_off, l->b_n, need_b, net->n_par);
  if (need_s > 0 && (l->s_off < 0 || l->s_off > net->n_state - need_s))
    FAIL("field s_off: statistics at %ld need %ld values inside the %ld stored", l->s_off, need_s,
         net->n_state);
#undef FAIL
  return CP_OK;
}

int cp_net_from_spec(cp_net *net, cp_layer *layers, int n_nodes, const int *ispec,
                     const double *dspec, int c_in, int l_in, double *par, long n_par,
                     double *state, long n_state, char *msg, size_t msg_len) {
  net->n_nodes = n_nodes;
  net->L = layers;
  net->c_in = c_in;
  net->l_in = l_in;
  net->out = n_nodes - 1;
  net->par = par;
  net->n_par = n_par;
  net->state = state;
  net->n_state = n_state;
  long in_size;
  if (c_in < 1 || l_in < 1 || !mul_ok(c_in, l_in, &in_size) || in_size > CP_MAX_NODE_SIZE ||
      l_in > CP_MAX_LEN) {
    snprintf(msg, msg_len, "field dims: input shape %d x %d is not positive or too large", c_in,
             l_in);
    return CP_ERR_INPUT;
  }
#define IS(j, col) ispec[(long)(col) * n_nodes + (j)]
#define DS(j, col) dspec[(long)(col) * n_nodes + (j)]
  for (int j = 0; j < n_nodes; j++) {
    cp_layer *l = &layers[j];
    l->type = IS(j, CP_S_TYPE);
    l->n_in = IS(j, CP_S_NIN);
    for (int q = 0; q < CP_MAX_IN; q++) l->in[q] = IS(j, CP_S_IN0 + q);
    l->c_in = IS(j, CP_S_CIN);
    l->l_in = IS(j, CP_S_LIN);
    l->c_out = IS(j, CP_S_COUT);
    l->l_out = IS(j, CP_S_LOUT);
    l->k = IS(j, CP_S_K);
    l->stride = IS(j, CP_S_STRIDE);
    l->dil = IS(j, CP_S_DIL);
    l->pad_l = IS(j, CP_S_PADL);
    l->pad_r = IS(j, CP_S_PADR);
    l->act = IS(j, CP_S_ACT);
    l->w_off = IS(j, CP_S_WOFF);
    l->w_n = IS(j, CP_S_WN);
    l->b_off = IS(j, CP_S_BOFF);
    l->b_n = IS(j, CP_S_BN);
    l->s_off = IS(j, CP_S_SOFF);
    l->act_par = DS(j, CP_D_ACTPAR);
    l->eps = DS(j, CP_D_EPS);
    l->rate = DS(j, CP_D_RATE);
    l->pad_val = DS(j, CP_D_PADVAL);
    char why[200];
    if (check_node(net, l, j, why, sizeof why) != CP_OK) {
      snprintf(msg, msg_len, "node %d (%s): %s", j + 1, type_name(l->type), why);
      return CP_ERR_INPUT;
    }
  }
#undef IS
#undef DS
  return CP_OK;
}

static long conv_scratch(const cp_layer *l) {
  return (l->pad_l || l->pad_r) ? (long)l->c_in * (l->l_in + l->pad_l + l->pad_r) : 0;
}

int cp_work_alloc(cp_work *w, const cp_net *net, int nb, const int *want_mask,
                  int n_threads) {
  int n = net->n_nodes;
  memset(w, 0, sizeof *w);
  w->nb = nb;
  w->n_threads = n_threads < 1 ? 1 : n_threads;
  w->y = calloc((size_t)n, sizeof(double *));
  w->mask = calloc((size_t)n, sizeof(double *));
  w->bn_mean = calloc((size_t)n, sizeof(double *));
  w->bn_var = calloc((size_t)n, sizeof(double *));
  if (!w->y || !w->mask || !w->bn_mean || !w->bn_var) return CP_ERR_ALLOC;
  long scr = 1;
  for (int j = 0; j < n; j++) {
    const cp_layer *l = &net->L[j];
    w->y[j] = malloc(sizeof(double) * (size_t)nb * (size_t)cp_node_size(l));
    if (!w->y[j]) return CP_ERR_ALLOC;
    if (want_mask && want_mask[j]) {
      w->mask[j] = malloc(sizeof(double) * (size_t)nb * (size_t)cp_node_size(l));
      if (!w->mask[j]) return CP_ERR_ALLOC;
    }
    if (l->type == CP_BN) {
      w->bn_mean[j] = calloc((size_t)l->c_in, sizeof(double));
      w->bn_var[j] = calloc((size_t)l->c_in, sizeof(double));
      if (!w->bn_mean[j] || !w->bn_var[j]) return CP_ERR_ALLOC;
    }
    if (l->type == CP_CONV && conv_scratch(l) > scr) scr = conv_scratch(l);
  }
  w->scratch_per_thread = scr;
  w->scratch = malloc(sizeof(double) * (size_t)scr * (size_t)w->n_threads);
  if (!w->scratch) return CP_ERR_ALLOC;
  return CP_OK;
}

void cp_work_free(cp_work *w, const cp_net *net) {
  int n = net->n_nodes;
  for (int j = 0; j < n; j++) {
    if (w->y) free(w->y[j]);
    if (w->mask) free(w->mask[j]);
    if (w->bn_mean) free(w->bn_mean[j]);
    if (w->bn_var) free(w->bn_var[j]);
  }
  free(w->y);
  free(w->mask);
  free(w->bn_mean);
  free(w->bn_var);
  free(w->scratch);
  if (w->fc)
    for (int j = 0; j < n; j++) cp_fconv_free(w->fc[j]);
  free(w->fc);
  free(w->fscratch);
  memset(w, 0, sizeof *w);
}

void cp_act_apply(int act, double par, double *v, long n) {
  switch (act) {
  case CP_RELU: {
    long i = 0;
#ifdef CP_HAVE_VEC
    /* without branches: the signs of the inputs are unpredictable */
    const cp_v2 z = {0.0, 0.0};
    for (; i + 2 <= n; i += 2) {
      cp_v2 a;
      V2_LOAD(a, v + i);
      a = V2_AND(a, a > z);
      V2_STORE(v + i, a);
    }
#endif
    for (; i < n; i++) v[i] = v[i] > 0.0 ? v[i] : 0.0;
    break;
  }
  case CP_LEAKY:
    for (long i = 0; i < n; i++) v[i] = v[i] > 0.0 ? v[i] : par * v[i];
    break;
  case CP_TANH:
    for (long i = 0; i < n; i++) v[i] = tanh(v[i]);
    break;
  case CP_SIGMOID:
    for (long i = 0; i < n; i++) v[i] = 1.0 / (1.0 + exp(-v[i]));
    break;
  case CP_SOFTPLUS:
    for (long i = 0; i < n; i++) v[i] = v[i] > 0.0 ? v[i] + log1p(exp(-v[i])) : log1p(exp(v[i]));
    break;
  default:
    break;
  }
}

void cp_softmax_rows(double *v, int n_rows, int n_cols) {
  for (int r = 0; r < n_rows; r++) {
    double *p = v + (long)r * n_cols;
    double m = p[0];
    for (int c = 1; c < n_cols; c++) if (p[c] > m) m = p[c];
    double s = 0.0;
    for (int c = 0; c < n_cols; c++) { p[c] = exp(p[c] - m); s += p[c]; }
    for (int c = 0; c < n_cols; c++) p[c] /= s;
  }
}

void cp_pool_row(const double *x, int l_out, int k, int stride, int is_max, double *y) {
  int t0 = 0;
  if (is_max) {
    /* four windows at a time: four independent chains of comparisons, each
     * in the order of the loop below */
    for (; t0 + 4 <= l_out; t0 += 4) {
      const double *x0 = x + (long)t0 * stride, *x1 = x0 + stride, *x2 = x1 + stride,
                   *x3 = x2 + stride;
      double a0 = x0[0], a1 = x1[0], a2 = x2[0], a3 = x3[0];
      for (int q = 1; q < k; q++) {
        a0 = x0[q] > a0 ? x0[q] : a0;
        a1 = x1[q] > a1 ? x1[q] : a1;
        a2 = x2[q] > a2 ? x2[q] : a2;
        a3 = x3[q] > a3 ? x3[q] : a3;
      }
      y[t0] = a0;
      y[t0 + 1] = a1;
      y[t0 + 2] = a2;
      y[t0 + 3] = a3;
    }
  }
  for (int t = t0; t < l_out; t++) {
    const double *xw = x + (long)t * stride;
    double a = xw[0];
    if (is_max) {
      for (int q = 1; q < k; q++) if (xw[q] > a) a = xw[q];
    } else {
      for (int q = 1; q < k; q++) a += xw[q];
      a /= k;
    }
    y[t] = a;
  }
}

static const double *node_in(const cp_net *net, const cp_work *w, const double *x, int p,
                             int s) {
  if (p < 0) return x + (long)s * net->c_in * net->l_in;
  return w->y[p] + (long)s * cp_node_size(&net->L[p]);
}

static void node_finish(const cp_layer *l, int j, const cp_work *w, int s, int mode,
                        double *y);

/* One sample through one node (all types but batch norm in TRAIN mode). */
static void node_sample(const cp_net *net, const cp_layer *l, int j, const cp_work *w,
                        const double *x, int s, int mode, double *scratch) {
  const double *in = node_in(net, w, x, l->in[0], s);
  double *y = w->y[j] + (long)s * cp_node_size(l);
  const long n_out = cp_node_size(l);
  const double *par = net->par;
  switch (l->type) {
  case CP_CONV: {
    const double *xp = in;
    int lp = l->l_in;
    if (l->pad_l || l->pad_r) {
      lp = l->l_in + l->pad_l + l->pad_r;
      for (int c = 0; c < l->c_in; c++) {
        double *d = scratch + (long)c * lp;
        memset(d, 0, sizeof(double) * (size_t)l->pad_l);
        memcpy(d + l->pad_l, in + (long)c * l->l_in, sizeof(double) * (size_t)l->l_in);
        memset(d + l->pad_l + l->l_in, 0, sizeof(double) * (size_t)l->pad_r);
      }
      xp = scratch;
    }
    cp_conv1d(xp, l->c_in, lp, par + l->w_off, par + l->b_off, l->c_out, l->l_out, l->k,
              l->stride, l->dil, y);
    break;
  }
  case CP_DENSE: {
    const long n_in = (long)l->c_in * l->l_in;
    const double *wt = par + l->w_off, *bias = par + l->b_off;
    int o = 0;
    /* four outputs at a time: four independent chains of additions, each
     * in the order of a single output's loop */
    for (; o + 4 <= l->c_out; o += 4) {
      const double *w0 = wt + (long)o * n_in, *w1 = w0 + n_in, *w2 = w1 + n_in,
                   *w3 = w2 + n_in;
      double a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
      for (long i = 0; i < n_in; i++) {
        const double v = in[i];
        a0 += w0[i] * v;
        a1 += w1[i] * v;
        a2 += w2[i] * v;
        a3 += w3[i] * v;
      }
      y[o] = a0;
      y[o + 1] = a1;
      y[o + 2] = a2;
      y[o + 3] = a3;
    }
    for (; o < l->c_out; o++) {
      double acc = bias[o];
      const double *wo = wt + (long)o * n_in;
      for (long i = 0; i < n_in; i++) acc += wo[i] * in[i];
      y[o] = acc;
    }
    break;
  }
  case CP_MAXPOOL:
  case CP_AVGPOOL: {
    for (int c = 0; c < l->c_in; c++)
      cp_pool_row(in + (long)c * l->l_in, l->l_out, l->k, l->stride, l->type == CP_MAXPOOL,
                  y + (long)c * l->l_out);
    break;
  }
  case CP_GAVG:
  case CP_GMAX:
    for (int c = 0; c < l->c_in; c++) {
      const double *xc = in + (long)c * l->l_in;
      double a = xc[0];
      if (l->type == CP_GMAX) {
        for (int t = 1; t < l->l_in; t++) if (xc[t] > a) a = xc[t];
      } else {
        for (int t = 1; t < l->l_in; t++) a += xc[t];
        a /= l->l_in;
      }
      y[c] = a;
    }
    break;
  case CP_BN: {
    /* inference statistics (TRAIN mode is handled per batch) */
    const double *g = par + l->w_off, *bt = par + l->b_off;
    const double *rm = net->state + l->s_off, *rv = rm + l->c_in;
    for (int c = 0; c < l->c_in; c++) {
      double sc = g[c] / sqrt(rv[c] + l->eps), sh = bt[c] - rm[c] * sc;
      const double *xc = in + (long)c * l->l_in;
      double *yc = y + (long)c * l->l_in;
      for (int t = 0; t < l->l_in; t++) yc[t] = xc[t] * sc + sh;
    }
    break;
  }
  case CP_ADD: {
    memcpy(y, in, sizeof(double) * (size_t)n_out);
    for (int q = 1; q < l->n_in; q++) {
      const double *iq = node_in(net, w, x, l->in[q], s);
      for (long i = 0; i < n_out; i++) y[i] += iq[i];
    }
    break;
  }
  case CP_PAD:
    for (int c = 0; c < l->c_in; c++) {
      double *d = y + (long)c * l->l_out;
      for (int t = 0; t < l->pad_l; t++) d[t] = l->pad_val;
      memcpy(d + l->pad_l, in + (long)c * l->l_in, sizeof(double) * (size_t)l->l_in);
      for (int t = 0; t < l->pad_r; t++) d[l->pad_l + l->l_in + t] = l->pad_val;
    }
    break;
  default: /* flatten, activation, dropout: copy */
    memcpy(y, in, sizeof(double) * (size_t)n_out);
    break;
  }
  node_finish(l, j, w, s, mode, y);
}

/* The end of every node: its activation, then its dropout mask (not at
 * inference). */
static void node_finish(const cp_layer *l, int j, const cp_work *w, int s, int mode,
                        double *y) {
  const long n_out = cp_node_size(l);
  if (l->act == CP_SOFTMAX) cp_softmax_rows(y, 1, (int)n_out);
  else if (l->act != CP_LINEAR) cp_act_apply(l->act, l->act_par, y, n_out);
  if (mode != CP_MODE_INFER && w->mask[j]) {
    const double *m = w->mask[j] + (long)s * n_out;
    for (long i = 0; i < n_out; i++) y[i] *= m[i];
  }
}

/* Samples [s0, s1) through a convolution node by its FFT plan (inference). */
static void node_fast(const cp_net *net, const cp_layer *l, int j, const cp_work *w,
                      const double *x, int s0, int s1, double *scratch) {
  const double *in[CP_FAST_GROUP] = {0};
  double *out[CP_FAST_GROUP] = {0};
  for (int s = s0; s < s1; s++) {
    in[s - s0] = node_in(net, w, x, l->in[0], s);
    out[s - s0] = w->y[j] + (long)s * cp_node_size(l);
  }
  const int relu = l->act == CP_RELU;
  cp_fconv_run(w->fc[j], in, out, s1 - s0, relu, scratch);
  if (!relu)
    for (int s = s0; s < s1; s++) node_finish(l, j, w, s, CP_MODE_INFER, out[s - s0]);
}

/* Batch norm with batch statistics (TRAIN mode): mean and biased variance
 * over samples and time, as in training; stored in w->bn_mean/bn_var. */
static void bn_train(const cp_net *net, const cp_layer *l, int j, cp_work *w,
                     const double *x, int nb) {
  const int C = l->c_in, L = l->l_in;
  double *mu = w->bn_mean[j], *var = w->bn_var[j];
  const double *g = net->par + l->w_off, *bt = net->par + l->b_off;
  const double cnt = (double)nb * L;
  for (int c = 0; c < C; c++) {
    double s = 0.0;
    for (int i = 0; i < nb; i++) {
      const double *xc = node_in(net, w, x, l->in[0], i) + (long)c * L;
      for (int t = 0; t < L; t++) s += xc[t];
    }
    double m = s / cnt, v = 0.0;
    for (int i = 0; i < nb; i++) {
      const double *xc = node_in(net, w, x, l->in[0], i) + (long)c * L;
      for (int t = 0; t < L; t++) v += (xc[t] - m) * (xc[t] - m);
    }
    v /= cnt;
    mu[c] = m;
    var[c] = v;
    double sc = g[c] / sqrt(v + l->eps), sh = bt[c] - m * sc;
    for (int i = 0; i < nb; i++) {
      const double *xc = node_in(net, w, x, l->in[0], i) + (long)c * L;
      double *yc = w->y[j] + (long)i * C * L + (long)c * L;
      for (int t = 0; t < L; t++) yc[t] = xc[t] * sc + sh;
    }
  }
  if (l->act != CP_LINEAR)
    for (int i = 0; i < nb; i++)
      cp_act_apply(l->act, l->act_par, w->y[j] + (long)i * C * L, (long)C * L);
  if (w->mask[j]) {
    long n = (long)nb * C * L;
    for (long i = 0; i < n; i++) w->y[j][i] *= w->mask[j][i];
  }
}

/* Samples are independent except at batch-norm nodes in TRAIN mode, which
 * need the whole batch: the nodes between two such nodes form a segment that
 * each thread runs sample by sample (one parallel region per segment, no
 * barrier per node). */
int cp_forward(const cp_net *net, const double *x, int nb, int mode, cp_work *w) {
  return cp_forward_from(net, 0, x, nb, mode, w);
}

int cp_forward_from(const cp_net *net, int from, const double *x, int nb, int mode,
                    cp_work *w) {
  if (nb > w->nb) return CP_ERR_INPUT;
  int nt = w->n_threads;
  const int n = net->n_nodes;
  /* Groups of up to 4 samples go through the nodes one node at a time, so
   * that a node's weights serve the group from the cache (every sample's
   * result is the same for any grouping); enough groups for the threads.
   * With FFT convolutions (inference only), groups of up to CP_FAST_GROUP:
   * the kernel spectra are larger than the weights. */
  const int fast = mode == CP_MODE_INFER && w->fc != NULL;
  const int per = (nb + nt - 1) / nt, gmax = fast ? CP_FAST_GROUP : 4;
  const int gs = per < gmax ? (per < 1 ? 1 : per) : gmax;
  int j0 = from;
  while (j0 < n) {
    int j1 = j0;
    while (j1 < n && !(net->L[j1].type == CP_BN && mode == CP_MODE_TRAIN)) j1++;
    if (j1 > j0) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1 && nb > gs)
#endif
      for (int s0 = 0; s0 < nb; s0 += gs) {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *scr = w->scratch + (long)tid * w->scratch_per_thread;
        const int s1 = s0 + gs < nb ? s0 + gs : nb;
        for (int j = j0; j < j1; j++) {
          if (fast && w->fc[j]) {
            node_fast(net, &net->L[j], j, w, x, s0, s1,
                      w->fscratch + (long)tid * w->fscratch_per_thread);
            continue;
          }
          for (int s = s0; s < s1; s++) node_sample(net, &net->L[j], j, w, x, s, mode, scr);
        }
      }
    }
    if (j1 < n) {
      bn_train(net, &net->L[j1], j1, w, x, nb);
      j1++;
    }
    j0 = j1;
  }
  (void)nt;
  return CP_OK;
}

void cp_draw_masks(const cp_net *net, cp_work *w, int nb, const double *rate,
                   uint64_t seed, uint64_t stream_base) {
  for (int s = 0; s < nb; s++) {
    cp_rng r;
    cp_rng_init(&r, seed, stream_base + (uint64_t)s);
    for (int j = 0; j < net->n_nodes; j++) {
      if (!w->mask[j]) continue;
      const cp_layer *l = &net->L[j];
      double p = (rate && rate[j] >= 0.0) ? rate[j] : l->rate;
      long n = cp_node_size(l);
      double *m = w->mask[j] + (long)s * n;
      double keep = 1.0 / (1.0 - p);
      for (long i = 0; i < n; i++) m[i] = (p <= 0.0 || cp_rng_unif(&r) >= p) ? keep : 0.0;
    }
  }
}

/* Four windows at a time (independent chains of comparisons), each
 * window's value added in window order; no test for a zero g[t], as adding
 * 0 costs less than a mispredicted branch. */
void cp_maxpool_back_row(const double *a, const double *g, int l_out, int k, int stride,
                         double *d) {
  int t = 0;
  for (; t + 4 <= l_out; t += 4) {
    const double *a0 = a + (long)t * stride, *a1 = a0 + stride, *a2 = a1 + stride,
                 *a3 = a2 + stride;
    double b0 = a0[0], b1 = a1[0], b2 = a2[0], b3 = a3[0];
    int i0 = 0, i1 = 0, i2 = 0, i3 = 0;
    for (int q = 1; q < k; q++) {
      const double v0 = a0[q], v1 = a1[q], v2 = a2[q], v3 = a3[q];
      i0 = v0 > b0 ? q : i0;
      b0 = v0 > b0 ? v0 : b0;
      i1 = v1 > b1 ? q : i1;
      b1 = v1 > b1 ? v1 : b1;
      i2 = v2 > b2 ? q : i2;
      b2 = v2 > b2 ? v2 : b2;
      i3 = v3 > b3 ? q : i3;
      b3 = v3 > b3 ? v3 : b3;
    }
    double *d0 = d + (long)t * stride;
    d0[i0] += g[t];
    d0[stride + i1] += g[t + 1];
    d0[2L * stride + i2] += g[t + 2];
    d0[3L * stride + i3] += g[t + 3];
  }
  for (; t < l_out; t++) {
    const double *at = a + (long)t * stride;
    double bv = at[0];
    int best = 0;
    for (int q = 1; q < k; q++) {
      best = at[q] > bv ? q : best;
      bv = at[q] > bv ? at[q] : bv;
    }
    d[(long)t * stride + best] += g[t];
  }
}

void cp_receptive_fields(const cp_net *net, long *jump, long *size, long *start) {
  for (int j = 0; j < net->n_nodes; j++) {
    const cp_layer *l = &net->L[j];
    long J = 1, R = 1, S = 0;
    int p = l->in[0];
    if (p >= 0) { J = jump[p]; R = size[p]; S = start[p]; }
    if (R < 0) { jump[j] = J; size[j] = -1; start[j] = S; continue; }
    switch (l->type) {
    case CP_CONV:
      S = S - (long)l->pad_l * J;
      R = R + (long)(l->k - 1) * l->dil * J;
      J = J * l->stride;
      break;
    case CP_MAXPOOL:
    case CP_AVGPOOL:
      R = R + (long)(l->k - 1) * J;
      J = J * l->stride;
      break;
    case CP_PAD:
      S = S - (long)l->pad_l * J;
      break;
    case CP_ADD: {
      long lo = S, hi = S + R - 1;
      for (int q = 1; q < l->n_in; q++) {
        int pq = l->in[q];
        long Sq = pq >= 0 ? start[pq] : 0, Rq = pq >= 0 ? size[pq] : 1;
        if (Sq < lo) lo = Sq;
        if (Sq + Rq - 1 > hi) hi = Sq + Rq - 1;
      }
      S = lo;
      R = hi - lo + 1;
      break;
    }
    case CP_GAVG:
    case CP_GMAX:
    case CP_FLATTEN:
    case CP_DENSE:
      R = -1;
      break;
    default:
      break;
    }
    jump[j] = J;
    size[j] = R;
    start[j] = S;
  }
}
