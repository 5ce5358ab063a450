/* Thresholds, highly activated nodes and period windows (see patterns.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "patterns.h"
#include "conv_fast.h"
#include "qkey.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- exact selection --------------------------------------------------- */

static inline void swap_d(double *a, double *b) {
  double t = *a;
  *a = *b;
  *b = t;
}

/* Quickselect with median-of-three pivots and a three-way partition, so
 * that runs of equal values (common after a ReLU) cost linear time. */
void cp_select(double *v, long n, long r) {
  long lo = 0, hi = n - 1;
  while (hi > lo) {
    long mid = lo + (hi - lo) / 2;
    if (v[mid] < v[lo]) swap_d(&v[mid], &v[lo]);
    if (v[hi] < v[lo]) swap_d(&v[hi], &v[lo]);
    if (v[hi] < v[mid]) swap_d(&v[hi], &v[mid]);
    double p = v[mid];
    /* Dutch flag: [lo, lt) < p, [lt, i) == p, (gt, hi] > p */
    long lt = lo, i = lo, gt = hi;
    while (i <= gt) {
      if (v[i] < p) {
        swap_d(&v[lt++], &v[i++]);
      } else if (v[i] > p) {
        swap_d(&v[i], &v[gt--]);
      } else {
        i++;
      }
    }
    if (r < lt) {
      hi = lt - 1;
    } else if (r > gt) {
      lo = gt + 1;
    } else {
      return;
    }
  }
}

enum { Q_HIST = 0, Q_COLLECT = 1, Q_DONE = 2 };

/* One order statistic being searched: values whose key starts with the
 * pbits-bit prefix hold it, at rank `rank` among them. */
typedef struct {
  uint64_t prefix;
  int pbits;
  int mode;
  long rank;
  long expect;       /* values with this prefix (COLLECT mode) */
  uint32_t *hist;    /* HIST mode */
  double *buf;       /* COLLECT mode */
  long nbuf;
  double value;      /* DONE */
} qtarget;

/* Per channel: two order statistics (ranks lo and hi of type 7); t[1]
 * follows t[0] while both sit under the same prefix. */
typedef struct {
  int node;       /* node index */
  int c;          /* channel within the node */
  long n;         /* number of values */
  int follows;
  int nonfinite;
  qtarget t[2];
} qchan;

static inline int matches(const qtarget *t, uint64_t key) {
  return t->pbits == 0 || (key >> (64 - t->pbits)) == t->prefix;
}

static void scan_target(qtarget *t, const double *v, long len, int *nonfinite) {
  if (t->mode == Q_HIST) {
    int shift = 64 - t->pbits - QBITS;
    for (long i = 0; i < len; i++) {
      if (!isfinite(v[i])) {
        *nonfinite = 1;
        continue;
      }
      uint64_t k = key_of(v[i]);
      if (matches(t, k)) t->hist[(k >> shift) & (QBINS - 1)]++;
    }
  } else if (t->mode == Q_COLLECT) {
    for (long i = 0; i < len; i++) {
      if (!isfinite(v[i])) continue;
      uint64_t k = key_of(v[i]);
      if (matches(t, k) && t->nbuf < t->expect) t->buf[t->nbuf++] = v[i];
    }
  }
}

static int alloc_target(qtarget *t) {
  if (t->mode == Q_HIST) {
    t->hist = calloc((size_t)QBINS, sizeof(uint32_t));
    return t->hist ? CP_OK : CP_ERR_ALLOC;
  }
  if (t->mode == Q_COLLECT) {
    t->buf = malloc(sizeof(double) * (size_t)(t->expect > 0 ? t->expect : 1));
    t->nbuf = 0;
    return t->buf ? CP_OK : CP_ERR_ALLOC;
  }
  return CP_OK;
}

static void free_target(qtarget *t) {
  free(t->hist);
  free(t->buf);
  t->hist = NULL;
  t->buf = NULL;
}

/* After a histogram pass: narrow the prefix to the bin holding `rank`. */
static void descend(qtarget *t, const uint32_t *hist, long rank) {
  long below = 0;
  long b = 0;
  for (; b < QBINS; b++) {
    if (below + (long)hist[b] > rank) break;
    below += hist[b];
  }
  if (b == QBINS) b = QBINS - 1; /* cannot happen with consistent counts */
  t->prefix = (t->pbits == 0 ? 0 : t->prefix << QBITS) | (uint64_t)b;
  t->pbits += QBITS;
  t->rank = rank - below;
  t->expect = hist[b];
  if (t->pbits >= 64) {
    t->mode = Q_DONE;
    t->value = value_of(t->prefix);
  } else {
    t->mode = t->expect <= CP_Q_COLLECT_MAX ? Q_COLLECT : Q_HIST;
  }
}

/* Resolve a channel's targets after a pass. */
static int resolve(qchan *ch) {
  qtarget *a = &ch->t[0], *b = &ch->t[1];
  const int was_following = ch->follows;
  if (a->mode == Q_HIST) {
    uint32_t *h = a->hist;
    a->hist = NULL;
    long ra = a->rank;
    if (ch->follows) {
      long rb = b->rank;
      qtarget old = *a;
      descend(a, h, ra);
      qtarget nb = old;
      nb.hist = NULL;
      nb.buf = NULL;
      descend(&nb, h, rb);
      if (nb.prefix == a->prefix && nb.pbits == a->pbits) {
        b->rank = nb.rank;
      } else {
        *b = nb;
        ch->follows = 0;
      }
    } else {
      descend(a, h, ra);
    }
    free(h);
  } else if (a->mode == Q_COLLECT) {
    if (a->nbuf != a->expect) return CP_ERR_INPUT;
    cp_select(a->buf, a->nbuf, a->rank);
    a->value = a->buf[a->rank];
    if (ch->follows) {
      if (b->rank == a->rank) {
        b->value = a->value;
      } else {
        double m = INFINITY;
        for (long i = a->rank + 1; i < a->nbuf; i++)
          if (a->buf[i] < m) m = a->buf[i];
        b->value = m;
      }
      b->mode = Q_DONE;
    }
    a->mode = Q_DONE;
    free(a->buf);
    a->buf = NULL;
  }
  if (!was_following) {
    if (b->mode == Q_HIST) {
      uint32_t *h = b->hist;
      b->hist = NULL;
      descend(b, h, b->rank);
      free(h);
    } else if (b->mode == Q_COLLECT) {
      if (b->nbuf != b->expect) return CP_ERR_INPUT;
      cp_select(b->buf, b->nbuf, b->rank);
      b->value = b->buf[b->rank];
      b->mode = Q_DONE;
      free(b->buf);
      b->buf = NULL;
    }
  } else if (ch->follows && a->mode == Q_DONE && b->mode != Q_DONE) {
    b->mode = Q_DONE;
    b->value = a->value;
  }
  return CP_OK;
}

static int chan_done(const qchan *ch) {
  return ch->t[0].mode == Q_DONE && ch->t[1].mode == Q_DONE;
}

void cp_fetch_contig(void *ctx, int s0, int nb, double *dst) {
  const cp_contig *c = (const cp_contig *)ctx;
  memcpy(dst, c->x + (long)s0 * c->per_sample, sizeof(double) * (size_t)nb * (size_t)c->per_sample);
}

int cp_thresholds(const cp_net *net, cp_fetch_fn fetch, void *ctx, int n, const int *nodes,
                  int n_req, double prob, int chunk, int n_threads, int conv, double *thr,
                  int *n_passes) {
  int nch = 0;
  for (int q = 0; q < n_req; q++) nch += net->L[nodes[q]].c_out;
  if (n_passes) *n_passes = 0;
  if (nch == 0) return CP_OK;
  qchan *ch = calloc((size_t)nch, sizeof(qchan));
  if (!ch) return CP_ERR_ALLOC;
  int g = 0;
  for (int q = 0; q < n_req; q++) {
    const cp_layer *l = &net->L[nodes[q]];
    for (int c = 0; c < l->c_out; c++, g++) {
      ch[g].node = nodes[q];
      ch[g].c = c;
      ch[g].n = (long)n * l->l_out;
      double index = 1.0 + (double)(ch[g].n - 1) * prob;
      long lo = (long)floor(index), hi = (long)ceil(index);
      ch[g].follows = 1;
      for (int s = 0; s < 2; s++) {
        ch[g].t[s].mode = Q_HIST;
        ch[g].t[s].pbits = 0;
      }
      ch[g].t[0].rank = lo - 1;
      ch[g].t[1].rank = hi - 1;
    }
  }
  int st = CP_OK;
  cp_work w;
  if (chunk > n) chunk = n;
  const long per_in = (long)net->c_in * net->l_in;
  double *xc = malloc(sizeof(double) * (size_t)chunk * (size_t)per_in);
  st = cp_work_alloc(&w, net, chunk, NULL, n_threads);
  if (st == CP_OK) st = cp_work_conv_plans(&w, net, conv);
  if (!xc) st = CP_ERR_ALLOC;
  int passes = 0;
  while (st == CP_OK) {
    int active = 0;
    for (g = 0; g < nch && st == CP_OK; g++) {
      if (chan_done(&ch[g])) continue;
      active = 1;
      st = alloc_target(&ch[g].t[0]);
      if (st == CP_OK && !ch[g].follows) st = alloc_target(&ch[g].t[1]);
    }
    if (!active || st != CP_OK) break;
    passes++;
    for (int s0 = 0; st == CP_OK && s0 < n; s0 += chunk) {
      int nb = n - s0 < chunk ? n - s0 : chunk;
      fetch(ctx, s0, nb, xc);
      st = cp_forward(net, xc, nb, CP_MODE_INFER, &w);
      if (st != CP_OK) break;
#ifdef _OPENMP
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 1) if (n_threads > 1)
#endif
      for (int gg = 0; gg < nch; gg++) {
        qchan *c = &ch[gg];
        if (chan_done(c)) continue;
        const cp_layer *l = &net->L[c->node];
        long L = l->l_out;
        for (int s = 0; s < nb; s++) {
          const double *v = w.y[c->node] + ((long)s * l->c_out + c->c) * L;
          scan_target(&c->t[0], v, L, &c->nonfinite);
          if (!c->follows) scan_target(&c->t[1], v, L, &c->nonfinite);
        }
      }
      if (cp_interrupted()) st = CP_ERR_INTERRUPT;
    }
    for (g = 0; g < nch && st == CP_OK; g++) {
      if (ch[g].nonfinite) st = CP_ERR_NUMERIC;
      else if (!chan_done(&ch[g])) st = resolve(&ch[g]);
    }
  }
  cp_work_free(&w, net);
  free(xc);
  if (st == CP_OK) {
    for (g = 0; g < nch; g++) {
      double index = 1.0 + (double)(ch[g].n - 1) * prob;
      double lo = floor(index);
      double qs = ch[g].t[0].value, xh = ch[g].t[1].value;
      if (index > lo && xh != qs) {
        double h = index - lo;
        qs = (1.0 - h) * qs + h * xh;
      }
      thr[g] = qs;
    }
  }
  for (g = 0; g < nch; g++) {
    free_target(&ch[g].t[0]);
    free_target(&ch[g].t[1]);
  }
  free(ch);
  if (n_passes) *n_passes = passes;
  return st;
}

/* ---- highly activated nodes -------------------------------------------- */

static int nodes_grow(cp_nodes *o) {
  long cap = o->cap ? 2 * o->cap : 4096;
  int *s = realloc(o->sample, sizeof(int) * (size_t)cap);
  if (!s) return CP_ERR_ALLOC;
  o->sample = s;
  int *ly = realloc(o->layer, sizeof(int) * (size_t)cap);
  if (!ly) return CP_ERR_ALLOC;
  o->layer = ly;
  int *c = realloc(o->channel, sizeof(int) * (size_t)cap);
  if (!c) return CP_ERR_ALLOC;
  o->channel = c;
  int *p = realloc(o->position, sizeof(int) * (size_t)cap);
  if (!p) return CP_ERR_ALLOC;
  o->position = p;
  double *v = realloc(o->value, sizeof(double) * (size_t)cap);
  if (!v) return CP_ERR_ALLOC;
  o->value = v;
  o->cap = cap;
  return CP_OK;
}

void cp_nodes_free(cp_nodes *o) {
  free(o->sample);
  free(o->layer);
  free(o->channel);
  free(o->position);
  free(o->value);
  memset(o, 0, sizeof *o);
}

int cp_high_nodes(const cp_net *net, cp_fetch_fn fetch, void *ctx, int n, const int *nodes,
                  int n_req, const double *thr, int chunk, int n_threads, int conv,
                  cp_nodes *out) {
  memset(out, 0, sizeof *out);
  if (n_req == 0 || n == 0) return CP_OK;
  cp_work w;
  if (chunk > n) chunk = n;
  const long per_in = (long)net->c_in * net->l_in;
  double *xc = malloc(sizeof(double) * (size_t)chunk * (size_t)per_in);
  int st = cp_work_alloc(&w, net, chunk, NULL, n_threads);
  if (st == CP_OK) st = cp_work_conv_plans(&w, net, conv);
  if (!xc) st = CP_ERR_ALLOC;
  for (int s0 = 0; st == CP_OK && s0 < n; s0 += chunk) {
    int nb = n - s0 < chunk ? n - s0 : chunk;
    fetch(ctx, s0, nb, xc);
    st = cp_forward(net, xc, nb, CP_MODE_INFER, &w);
    for (int s = 0; st == CP_OK && s < nb; s++) {
      int g0 = 0;
      for (int q = 0; st == CP_OK && q < n_req; q++) {
        const cp_layer *l = &net->L[nodes[q]];
        for (int c = 0; st == CP_OK && c < l->c_out; c++) {
          double t = thr[g0 + c];
          if (isnan(t) || t == INFINITY) continue;
          const double *v = w.y[nodes[q]] + ((long)s * l->c_out + c) * l->l_out;
          for (int p = 0; p < l->l_out; p++) {
            if (v[p] > t) {
              if (out->n == out->cap && (st = nodes_grow(out)) != CP_OK) break;
              out->sample[out->n] = s0 + s;
              out->layer[out->n] = q;
              out->channel[out->n] = c;
              out->position[out->n] = p;
              out->value[out->n] = v[p];
              out->n++;
            }
          }
        }
        g0 += l->c_out;
      }
    }
    if (st == CP_OK && cp_interrupted()) st = CP_ERR_INTERRUPT;
  }
  cp_work_free(&w, net);
  free(xc);
  return st;
}

/* ---- windows ------------------------------------------------------------ */

int cp_windows(const double *x, int n_samples, int c_in, int l_in, const int *sample,
               const int *start, long nw, int len, const int *ch, int n_ch, int n_threads,
               double *out) {
  const long n = n_samples, L = l_in;
  /* one channel's series, sample by sample (contiguous in time) */
  double *xt = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1) * (size_t)L);
  if (!xt) return CP_ERR_ALLOC;
  int nt = n_threads < 1 ? 1 : n_threads;
  int par = nt > 1 && (double)nw * len * n_ch > 1e6;
  (void)par;
  for (int b = 0; b < n_ch; b++) {
    const double *xc = x + n * (long)ch[b];
    for (long s0 = 0; s0 < n; s0 += 8) {
      long s1 = s0 + 8 < n ? s0 + 8 : n;
      for (long t = 0; t < L; t++) {
        const double *col = xc + n * (long)c_in * t;
        for (long s = s0; s < s1; s++) xt[s * L + t] = col[s];
      }
    }
    double *ob = out + (long)b * len * nw;
    /* eight windows at a time: eight rows in, one cache line per time
     * point out */
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static) if (par)
#endif
    for (long i0 = 0; i0 < nw; i0 += 8) {
      long i1 = i0 + 8 < nw ? i0 + 8 : nw;
      const double *src[8];
      for (long i = i0; i < i1; i++) src[i - i0] = xt + (long)sample[i] * L + start[i];
      for (int t = 0; t < len; t++) {
        double *o = ob + (long)t * nw;
        for (long i = i0; i < i1; i++) o[i] = src[i - i0][t];
      }
    }
  }
  free(xt);
  return CP_OK;
}
