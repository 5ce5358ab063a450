/* Training kernels: loss, Adam, epochs (no R headers). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train.h"
#include "cp_simd.h"

void cp_adam_step(const cp_adam *o, long step, long n, double *par, const double *g,
                  double *m, double *v) {
  const double b1 = o->beta1, b2 = o->beta2, wd = o->weight_decay;
  const double bc1 = 1.0 - pow(b1, (double)step);
  const double bc2s = sqrt(1.0 - pow(b2, (double)step));
  const double step_size = o->lr / bc1;
  long i0 = 0;
#if defined(CP_HAVE_VEC) && defined(__SSE2__)
  /* two lanes at a time, the same operations as the loop below (sqrt and
   * division are exactly rounded in both) */
  const cp_v2 b1v = {b1, b1}, b2v = {b2, b2}, c1 = {1.0 - b1, 1.0 - b1}, c2 = {1.0 - b2, 1.0 - b2};
  const cp_v2 wdv = {wd, wd}, bcv = {bc2s, bc2s}, epv = {o->eps, o->eps};
  const cp_v2 ssv = {step_size, step_size};
  for (; i0 + 2 <= n; i0 += 2) {
    cp_v2 gi, mi, vi, pi;
    V2_LOAD(gi, g + i0);
    V2_LOAD(mi, m + i0);
    V2_LOAD(vi, v + i0);
    V2_LOAD(pi, par + i0);
    if (wd != 0.0) gi += wdv * pi;
    mi = b1v * mi + c1 * gi;
    vi = b2v * vi + c2 * gi * gi;
    const cp_v2 denom = (cp_v2)__builtin_ia32_sqrtpd(vi) / bcv + epv;
    pi -= ssv * (mi / denom);
    V2_STORE(m + i0, mi);
    V2_STORE(v + i0, vi);
    V2_STORE(par + i0, pi);
  }
#endif
  for (long i = i0; i < n; i++) {
    double gi = g[i];
    if (wd != 0.0) gi += wd * par[i];
    m[i] = b1 * m[i] + (1.0 - b1) * gi;
    v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
    const double denom = sqrt(v[i]) / bc2s + o->eps;
    par[i] -= step_size * (m[i] / denom);
  }
}

double cp_xent(const double *z, int nb, int K, const int *y, const double *cw, double *dz,
               double *wsum, long *correct) {
  double tot = 0.0, W = 0.0;
  for (int s = 0; s < nb; s++) {
    const double *zs = z + (long)s * K;
    int best = 0;
    double mx = zs[0];
    for (int c = 1; c < K; c++)
      if (zs[c] > mx) { mx = zs[c]; best = c; }
    double se = 0.0;
    for (int c = 0; c < K; c++) se += exp(zs[c] - mx);
    const double lse = mx + log(se);
    const double w = cw ? cw[y[s]] : 1.0;
    tot += w * (lse - zs[y[s]]);
    W += w;
    if (best == y[s]) (*correct)++;
  }
  if (dz) {
    for (int s = 0; s < nb; s++) {
      const double *zs = z + (long)s * K;
      double *d = dz + (long)s * K;
      double mx = zs[0];
      for (int c = 1; c < K; c++) if (zs[c] > mx) mx = zs[c];
      double se = 0.0;
      for (int c = 0; c < K; c++) { d[c] = exp(zs[c] - mx); se += d[c]; }
      const double w = (cw ? cw[y[s]] : 1.0) / W;
      for (int c = 0; c < K; c++) d[c] = w * (d[c] / se - (c == y[s] ? 1.0 : 0.0));
    }
  }
  *wsum += W;
  return tot;
}

void cp_bn_update_running(const cp_net *net, const cp_work *fw, int nb, double momentum) {
  for (int j = 0; j < net->n_nodes; j++) {
    const cp_layer *l = &net->L[j];
    if (l->type != CP_BN) continue;
    double *rm = net->state + l->s_off, *rv = rm + l->c_in;
    const double cnt = (double)nb * l->l_in;
    const double unb = cnt > 1.0 ? cnt / (cnt - 1.0) : 1.0;
    for (int c = 0; c < l->c_in; c++) {
      rm[c] = (1.0 - momentum) * rm[c] + momentum * fw->bn_mean[j][c];
      rv[c] = (1.0 - momentum) * rv[c] + momentum * fw->bn_var[j][c] * unb;
    }
  }
}

static int *dropout_nodes(const cp_net *net, int *any) {
  int *want = calloc((size_t)net->n_nodes, sizeof(int));
  *any = 0;
  if (!want) return NULL;
  for (int j = 0; j < net->n_nodes; j++) {
    const cp_layer *l = &net->L[j];
    if (l->type == CP_DROP && l->rate > 0.0 && l->act != CP_SOFTMAX) {
      want[j] = 1;
      *any = 1;
    }
  }
  return want;
}

static int all_finite(const double *v, long n) {
  for (long i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

int cp_train_epoch(const cp_net *net, const double *x, const int *y, int n, int K,
                   const double *cw, const cp_train_opts *o, double *m, double *v,
                   long *step, double *loss, double *acc) {
  const int bs = o->batch_size < n ? o->batch_size : n;
  const long per = (long)net->c_in * net->l_in;
  const long np = net->n_par;
  int any_mask = 0, st = CP_OK;
  cp_work fw;
  cp_bwork bw;
  memset(&fw, 0, sizeof fw);
  memset(&bw, 0, sizeof bw);
  int *want = dropout_nodes(net, &any_mask);
  int *perm = malloc(sizeof(int) * (size_t)n);
  int *yb = malloc(sizeof(int) * (size_t)bs);
  double *xb = malloc(sizeof(double) * (size_t)bs * (size_t)per);
  double *grad = malloc(sizeof(double) * (size_t)(np > 0 ? np : 1));
  if (!want || !perm || !yb || !xb || !grad) st = CP_ERR_ALLOC;
  if (st == CP_OK) st = cp_work_alloc(&fw, net, bs, want, o->n_threads);
  if (st == CP_OK) st = cp_bwork_alloc(&bw, net, bs, o->n_threads);
  double tot = 0.0, W = 0.0;
  long correct = 0;
  if (st == CP_OK) {
    cp_rng r;
    cp_rng_init(&r, o->seed, (uint64_t)o->epoch);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
      int q = (int)cp_rng_int(&r, (uint64_t)i + 1);
      int t = perm[i];
      perm[i] = perm[q];
      perm[q] = t;
    }
  }
  for (int b0 = 0; st == CP_OK && b0 < n; b0 += bs) {
    const int nb = n - b0 < bs ? n - b0 : bs;
    for (int s = 0; s < nb; s++) {
      memcpy(xb + (long)s * per, x + (long)perm[b0 + s] * per, sizeof(double) * (size_t)per);
      yb[s] = y[perm[b0 + s]];
    }
    if (any_mask)
      cp_draw_masks(net, &fw, nb, NULL, o->seed, ((uint64_t)(o->epoch + 1) << 32) + (uint64_t)b0);
    st = cp_forward(net, xb, nb, CP_MODE_TRAIN, &fw);
    if (st != CP_OK) break;
    cp_bn_update_running(net, &fw, nb, o->momentum);
    double wsum = 0.0;
    tot += cp_xent(fw.y[net->out], nb, K, yb, cw, bw.dy[net->out], &wsum, &correct);
    W += wsum;
    st = cp_backward(net, xb, nb, CP_MODE_TRAIN, &fw, &bw, grad);
    if (st != CP_OK) break;
    if (!all_finite(grad, np)) { st = CP_ERR_NUMERIC; break; }
    (*step)++;
    cp_adam_step(&o->adam, *step, np, net->par, grad, m, v);
    if (cp_interrupted()) st = CP_ERR_INTERRUPT;
  }
  cp_bwork_free(&bw, net);
  cp_work_free(&fw, net);
  free(want);
  free(perm);
  free(yb);
  free(xb);
  free(grad);
  *loss = W > 0.0 ? tot / W : NAN;
  *acc = (double)correct / n;
  if (st == CP_OK && !isfinite(*loss)) st = CP_ERR_NUMERIC;
  return st;
}

int cp_evaluate(const cp_net *net, const double *x, const int *y, int n, int K,
                const double *cw, int n_threads, double *loss, double *acc) {
  const int chunk = n < 64 ? n : 64;
  const long per = (long)net->c_in * net->l_in;
  cp_work fw;
  int st = cp_work_alloc(&fw, net, chunk, NULL, n_threads);
  double tot = 0.0, W = 0.0;
  long correct = 0;
  for (int s0 = 0; st == CP_OK && s0 < n; s0 += chunk) {
    const int nb = n - s0 < chunk ? n - s0 : chunk;
    st = cp_forward(net, x + (long)s0 * per, nb, CP_MODE_INFER, &fw);
    if (st != CP_OK) break;
    tot += cp_xent(fw.y[net->out], nb, K, y + s0, cw, NULL, &W, &correct);
    if (cp_interrupted()) st = CP_ERR_INTERRUPT;
  }
  cp_work_free(&fw, net);
  *loss = W > 0.0 ? tot / W : NAN;
  *acc = (double)correct / n;
  return st;
}

int cp_loss_grad(const cp_net *net, const double *x, const int *y, int nb, int K,
                 const double *cw, int mode, double *const *masks, double momentum,
                 int n_threads, double *grad, double *loss) {
  int *want = calloc((size_t)net->n_nodes, sizeof(int));
  cp_work fw;
  cp_bwork bw;
  memset(&fw, 0, sizeof fw);
  memset(&bw, 0, sizeof bw);
  int st = want ? CP_OK : CP_ERR_ALLOC;
  for (int j = 0; st == CP_OK && masks && j < net->n_nodes; j++) want[j] = masks[j] != NULL;
  if (st == CP_OK) st = cp_work_alloc(&fw, net, nb, want, n_threads);
  if (st == CP_OK) st = cp_bwork_alloc(&bw, net, nb, n_threads);
  for (int j = 0; st == CP_OK && masks && j < net->n_nodes; j++)
    if (masks[j])
      memcpy(fw.mask[j], masks[j],
             sizeof(double) * (size_t)nb * (size_t)cp_node_size(&net->L[j]));
  if (st == CP_OK) st = cp_forward(net, x, nb, mode, &fw);
  if (st == CP_OK) {
    double W = 0.0;
    long correct = 0;
    double tot = cp_xent(fw.y[net->out], nb, K, y, cw, bw.dy[net->out], &W, &correct);
    *loss = tot / W;
    st = cp_backward(net, x, nb, mode, &fw, &bw, grad);
    if (mode == CP_MODE_TRAIN) cp_bn_update_running(net, &fw, nb, momentum);
  }
  cp_bwork_free(&bw, net);
  cp_work_free(&fw, net);
  free(want);
  return st;
}
