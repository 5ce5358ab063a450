/* One mergeable pass of the exact thresholds over a chunk (thresholds.h). */
#include <math.h>
#include <stdlib.h>
#include "thresholds.h"
#include "conv_fast.h"
#include "qkey.h"
#ifdef _OPENMP
#include <omp.h>
#endif

static int grow(cp_qtarget *t) {
  long cap = t->cap ? 2 * t->cap : 1024;
  double *b = realloc(t->buf, sizeof(double) * (size_t)cap);
  if (!b) return CP_ERR_ALLOC;
  t->buf = b;
  t->cap = cap;
  return CP_OK;
}

static void scan(cp_qtarget *t, const double *v, long len) {
  const int pbits = QBITS * t->depth;
  const int shift = 64 - pbits - QBITS;
  for (long i = 0; i < len; i++) {
    if (!isfinite(v[i])) {
      t->nonfinite = 1;
      continue;
    }
    uint64_t k = key_of(v[i]);
    if (pbits > 0 && (k >> (64 - pbits)) != t->prefix) continue;
    if (!t->collect) {
      t->hist[(k >> shift) & (QBINS - 1)]++;
    } else {
      if (t->nbuf == t->cap && grow(t) != CP_OK) {
        t->failed = 1;
        return;
      }
      t->buf[t->nbuf++] = v[i];
    }
  }
}

void cp_qtargets_free(cp_qtarget *t, int n_t) {
  for (int i = 0; i < n_t; i++) {
    free(t[i].hist);
    free(t[i].buf);
    t[i].hist = NULL;
    t[i].buf = NULL;
  }
}

int cp_qscan(const cp_net *net, cp_fetch_fn fetch, void *ctx, int n, const int *nodes,
             int n_req, cp_qtarget *t, int n_t, int chunk, int n_threads, int conv) {
  int nch = 0;
  for (int q = 0; q < n_req; q++) nch += net->L[nodes[q]].c_out;
  int *cnode = malloc(sizeof(int) * (size_t)(nch > 0 ? nch : 1));
  int *cc = malloc(sizeof(int) * (size_t)(nch > 0 ? nch : 1));
  int st = (cnode && cc) ? CP_OK : CP_ERR_ALLOC;
  for (int q = 0, g = 0; st == CP_OK && q < n_req; q++) {
    for (int c = 0; c < net->L[nodes[q]].c_out; c++, g++) {
      cnode[g] = nodes[q];
      cc[g] = c;
    }
  }
  for (int i = 0; st == CP_OK && i < n_t; i++) {
    if (t[i].chan < 0 || t[i].chan >= nch || t[i].depth < 0 || t[i].depth > 3) {
      st = CP_ERR_INPUT;
    } else if (!t[i].collect) {
      t[i].hist = calloc((size_t)QBINS, sizeof(uint32_t));
      if (!t[i].hist) st = CP_ERR_ALLOC;
    }
  }
  cp_work w;
  int have_work = 0;
  double *xc = NULL;
  if (st == CP_OK && n > 0 && n_t > 0) {
    if (chunk > n) chunk = n;
    const long per_in = (long)net->c_in * net->l_in;
    xc = malloc(sizeof(double) * (size_t)chunk * (size_t)per_in);
    st = cp_work_alloc(&w, net, chunk, NULL, n_threads);
    if (st == CP_OK) st = cp_work_conv_plans(&w, net, conv);
    have_work = 1;
    if (!xc) st = CP_ERR_ALLOC;
    for (int s0 = 0; st == CP_OK && s0 < n; s0 += chunk) {
      int nb = n - s0 < chunk ? n - s0 : chunk;
      fetch(ctx, s0, nb, xc);
      st = cp_forward(net, xc, nb, CP_MODE_INFER, &w);
      if (st != CP_OK) break;
#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1) if (n_threads > 1)
#endif
      for (int i = 0; i < n_t; i++) {
        cp_qtarget *ti = &t[i];
        const cp_layer *l = &net->L[cnode[ti->chan]];
        const long L = l->l_out;
        for (int s = 0; s < nb && !ti->failed; s++) {
          scan(ti, w.y[cnode[ti->chan]] + ((long)s * l->c_out + cc[ti->chan]) * L, L);
        }
      }
      for (int i = 0; i < n_t; i++) {
        if (t[i].failed) st = CP_ERR_ALLOC;
        else if (t[i].nonfinite && st == CP_OK) st = CP_ERR_NUMERIC;
      }
      if (st == CP_OK && cp_interrupted()) st = CP_ERR_INTERRUPT;
    }
  }
  if (have_work) cp_work_free(&w, net);
  free(xc);
  free(cnode);
  free(cc);
  return st;
}
