/* Layer-wise relevance propagation through a cp_net (kernels: no R headers).
 *
 * A plan fixes one rule per node and precomputes what the rules need
 * (positive / negative weight parts, transposed kernels, batch norm folded
 * into the preceding convolution, w^2 / flat denominators). A workspace holds
 * one thread's buffers. cp_relevance() runs jobs (one seed each) under
 * Monte-Carlo dropout and reports per input point the mean, sd and the 5% and
 * 95% quantiles (R's type 7) over the passes. */
#ifndef CP_LRP_H
#define CP_LRP_H

#include "net.h"

/* Rule codes (one per node). */
enum {
  CP_R_PASS = 0,  /* identity: activation, flatten, dropout, padding crop */
  CP_R_EPS = 1,   /* epsilon rule (bias in the denominator) */
  CP_R_ZPLUS = 2, /* z+ = alpha-beta with alpha 1, beta 0 (bias ignored) */
  CP_R_AB = 3,    /* alpha-beta (alpha - beta = 1, bias ignored) */
  CP_R_W2 = 4,    /* w^2 (input values ignored) */
  CP_R_FLAT = 5,  /* flat (weights and inputs ignored) */
  CP_R_WTA = 6,   /* max pooling: winner takes all (first maximum) */
  CP_R_PROP = 7   /* proportional split (pooling, add); average pooling and
                     addition stabilise their output (the mean, the sum),
                     proportional max pooling the window sum */
};

/* How the rules' convolutions run: on the (channel, time) pairs that carry
 * relevance when they are few (auto), always on the pairs, or densely on the
 * channels with relevance (a strided transpose always uses the pairs). */
enum { CP_K_AUTO = 0, CP_K_PAIRS = 1, CP_K_DENSE = 2 };

/* A linear node seen by the rules: a convolution (dense = convolution with
 * c_in = features, l_in = l_out = k = 1), possibly with a batch norm folded
 * in. */
typedef struct {
  int ok;
  int src;                      /* producer of its input (-1 = model input) */
  int c_in, l_in, c_out, l_out, k, stride, dil, pad_l, pad_r;
  const double *w, *b;          /* effective weights [c_out][c_in][k], bias */
  double *wp, *wn, *w2;         /* max(w, 0), min(w, 0), w^2 or 1 */
  double *wt, *wpt, *wnt, *w2t; /* flipped transposes [c_in][c_out][k] */
  double *den;                  /* w^2 / flat denominators [c_out][l_out] */
  double *mem;                  /* owned memory */
} cp_lin;

typedef struct {
  int n_nodes;
  int *rule;       /* rule per node */
  int *absorbed;   /* 1: a convolution folded into the batch norm after it */
  int *folded;     /* 1: a batch norm that absorbed its convolution */
  int *nonneg;     /* 1: the node's output is never negative (ReLU, then pooling, dropout) */
  cp_lin *lin;     /* per node (conv, dense, folded batch norm) */
  double eps, alpha, beta;
  int kernels;     /* convolutions of the rules: CP_K_AUTO, CP_K_PAIRS, CP_K_DENSE */
  double *zeros;   /* zero bias of the largest channel count */
  long max_ch;
  long scratch;    /* doubles of scratch a workspace needs */
} cp_lrp_plan;

/* Build / free a plan. rule: one code per node. has_mask[j] != 0 when node
 * j carries a dropout mask (such a convolution is not folded). */
int cp_lrp_plan_init(cp_lrp_plan *P, const cp_net *net, const int *rule, double eps,
                     double alpha, double beta, const int *has_mask);
void cp_lrp_plan_free(cp_lrp_plan *P);

/* One seed. Relevance at node seed_node, channel seed_ch: the node's output
 * (pre-activation when pre != 0, for class logits) times pos[t] at each
 * position t. When filter_node >= 0, relevance is propagated down to that
 * node, every channel but filter_ch is zeroed there, and all relevance that
 * bypasses it is dropped. */
typedef struct {
  int sample;
  int seed_node, seed_ch, pre;
  int filter_node, filter_ch;
} cp_lrp_job;

/* Relevance at the input of one sample for one job, given a forward pass in
 * w (nb = 1) of input x. r_in [c_in][l_in] is overwritten. Returns the
 * seeded total through *seeded. rbuf: per-node buffers, scr: scratch. */
void cp_lrp_backward(const cp_net *net, const cp_lrp_plan *P, const cp_work *w,
                     const double *x, const cp_lrp_job *job, const double *pos,
                     double **rbuf, double *r_in, double *scr, double *seeded);

/* Monte-Carlo relevance for n_jobs jobs (grouped by sample in the order
 * given). rate[j] > 0 draws a mask on node j; rate_in > 0 on the input.
 * Masks for (sample s, pass t) come from stream key * passes + t, where key
 * is keys[s] (the sample's index in the whole data set, so that a subset of
 * it draws the same masks) or s when keys is NULL.
 * Outputs are [n_jobs][c_in][l_in]; seeded and cons (sum of input relevance
 * minus seeded relevance) are means over passes. */
int cp_relevance(const cp_net *net, const cp_lrp_plan *P, const double *x,
                 int n_jobs, const cp_lrp_job *jobs, const double *pos, int pos_ld,
                 int passes, const double *rate, double rate_in, uint64_t seed,
                 const uint64_t *keys, int n_threads, double *mean, double *sd, double *q05, double *q95,
                 double *seeded, double *cons);

#endif
