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

/* Weight gradient of a stride-1 convolution for one sample:
 * dw[o][i][kk] += sum_t g[o][t] * xp[i][t + kk * dil]. */
void cp_conv1d_dw(const double *xp, int c_in, int lp, const double *g, int c_out, int l_out,
                  int k, int dil, double *dw);

#endif
