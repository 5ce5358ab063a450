/* Training: softmax cross-entropy, Adam, mini-batch epochs (no R headers).
 * The network passed here must output logits: the api replaces an output
 * softmax by the identity, and the loss applies a stable log-softmax. */
#ifndef CP_TRAIN_H
#define CP_TRAIN_H

#include "backward.h"

typedef struct {
  double lr, beta1, beta2, eps, weight_decay;
} cp_adam;

/* One Adam step (PyTorch's formulation, L2 weight decay added to the
 * gradient); step is the step number after incrementing (1 for the first). */
void cp_adam_step(const cp_adam *o, long step, long n, double *par, const double *g,
                  double *m, double *v);

/* Softmax cross-entropy of logits z [nb][K] with labels y (0-based) and
 * optional class weights cw. Returns sum_i w_i * ce_i and adds sum_i w_i to
 * *wsum and the number of correct arg-max predictions to *correct. When dz
 * is not NULL it receives d(loss)/dz for the weighted mean loss
 * sum_i w_i ce_i / sum_i w_i of this batch. */
double cp_xent(const double *z, int nb, int K, const int *y, const double *cw, double *dz,
               double *wsum, long *correct);

/* Running statistics of every batch-norm node after a TRAIN-mode forward
 * pass: r = (1 - momentum) r + momentum * batch statistic, the variance
 * unbiased (n / (n - 1)), as PyTorch. */
void cp_bn_update_running(const cp_net *net, const cp_work *fw, int nb, double momentum);

typedef struct {
  cp_adam adam;
  int batch_size;
  double momentum;   /* batch-norm running statistics */
  uint64_t seed;     /* drawn once from R */
  int epoch;         /* 0-based: selects the shuffling and dropout streams */
  int n_threads;
} cp_train_opts;

/* One epoch of mini-batch training over n samples x [n][C][L] with labels y.
 * Updates net->par, net->state, the Adam moments m, v and *step. Writes the
 * weighted mean training loss and the accuracy (training mode). */
int cp_train_epoch(const cp_net *net, const double *x, const int *y, int n, int K,
                   const double *cw, const cp_train_opts *o, double *m, double *v,
                   long *step, double *loss, double *acc);

/* Loss and accuracy in inference mode. */
int cp_evaluate(const cp_net *net, const double *x, const int *y, int n, int K,
                const double *cw, int n_threads, double *loss, double *acc);

/* Loss and gradient on one batch without an update. masks: NULL or one
 * pointer per node (NULL or [nb][c][l] values, already scaled), used in
 * TRAIN and MC modes. In TRAIN mode the running statistics in net->state
 * are updated with momentum. */
int cp_loss_grad(const cp_net *net, const double *x, const int *y, int nb, int K,
                 const double *cw, int mode, double *const *masks, double momentum,
                 int n_threads, double *grad, double *loss);

#endif
