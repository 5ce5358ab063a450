/* Backpropagation through the network of net.h (kernels: no R headers).
 *
 * The caller runs cp_forward() for a batch, writes dL/d(output of the last
 * node) into bw->dy[net->out] and calls cp_backward(), which fills the
 * gradient of the loss w.r.t. net->par.
 *
 * Determinism: samples are processed in fixed groups of CP_BGROUP samples;
 * each group accumulates its parameter gradient in its own buffer, and the
 * buffers are summed in group order at the end. Threads pick groups, so the
 * result does not depend on the number of threads. */
#ifndef CP_BACKWARD_H
#define CP_BACKWARD_H

#include "net.h"

#define CP_BGROUP 4

typedef struct {
  int nb;
  int n_groups;
  double **dy;      /* per node: dL/d(node output), [nb][c_out][l_out] */
  double *gbuf;     /* n_groups x n_par parameter-gradient buffers */
  double **wt;      /* per stride-1 conv node: flipped, transposed weights [c_in][c_out][k] */
  int *first_use;   /* per node: its last consumer (the first in backward order), -1 if none */
  double *zeros;    /* zero bias for the transposed convolution */
  double *scratch;  /* per-thread scratch */
  long scratch_per_thread;
  int n_threads;
} cp_bwork;

int cp_bwork_alloc(cp_bwork *b, const cp_net *net, int nb, int n_threads);
void cp_bwork_free(cp_bwork *b, const cp_net *net);

/* Backward pass of nb samples after cp_forward(net, x, nb, mode, fw).
 * bw->dy[net->out] must hold dL/d(output); every other dy is overwritten.
 * mode as in cp_forward: TRAIN uses the batch statistics of batch-norm nodes
 * (fw->bn_mean/bn_var), INFER and MC the running ones; masks are applied in
 * TRAIN and MC. grad (n_par) receives the gradient (overwritten). */
int cp_backward(const cp_net *net, const double *x, int nb, int mode, const cp_work *fw,
                cp_bwork *bw, double *grad);

/* Weight gradient of a stride-1 convolution over ns samples:
 * dw[o][i][kk] += sum_s sum_t gT_s[t][o] * xs[s][i][t + kk * dil], summed in
 * the order (s, t). xs[s] is sample s's (padded) input [c_in][lp]; gT holds
 * the ns transposed output gradients, each [l_out][cop] with cop = c_out
 * rounded up to a multiple of 4 (see cp_transpose_grad). */
void cp_conv1d_dw(const double *const *xs, int ns, int c_in, int lp, const double *gT,
                  int c_out, int l_out, int k, int dil, double *dw);

/* gT[t][o] = g[o][t] for o < c_out, 0 for c_out <= o < cop. */
void cp_transpose_grad(const double *g, int c_out, int l_out, double *gT);

/* Bias gradient of one sample from its transposed output gradient:
 * db[o] += (sum over t in order of gT[t][o]). */
void cp_bias_grad(const double *gT, int c_out, int l_out, double *db);

#endif
