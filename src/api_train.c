/* .Call wrappers for training: the only training file that sees R. */
#include <limits.h>
#include <string.h>
#include "api_decl.h"
#include "train.h"

/* The net with its output softmax replaced by the identity (logits). The
 * output activation must be softmax or linear. */
static void api_logit_net(SEXP spec, cp_net *net, int *n_classes) {
  cp_api_net(spec, net);
  cp_layer *out = &net->L[net->out];
  if (out->act != CP_SOFTMAX && out->act != CP_LINEAR)
    Rf_error("the output layer must end in a softmax or be linear (logits)");
  cp_layer *copy = (cp_layer *)R_alloc((size_t)net->n_nodes, sizeof(cp_layer));
  memcpy(copy, net->L, sizeof(cp_layer) * (size_t)net->n_nodes);
  copy[net->out].act = CP_LINEAR;
  net->L = copy;
  *n_classes = (int)cp_node_size(&copy[net->out]);
  if (*n_classes < 2) Rf_error("the output layer must have at least two units");
}

static const int *api_labels(SEXP y, int n, int K) {
  if (TYPEOF(y) != INTSXP || Rf_xlength(y) != n)
    Rf_error("'y' must be an integer vector with one label per sample");
  const int *v = INTEGER(y);
  for (int i = 0; i < n; i++)
    if (v[i] < 0 || v[i] >= K) Rf_error("'y': label %d out of range", i + 1);
  return v;
}

static const double *api_class_weights(SEXP cw, int K) {
  if (Rf_isNull(cw)) return NULL;
  if (TYPEOF(cw) != REALSXP || Rf_xlength(cw) != K)
    Rf_error("'class_weights' must be a double vector with one weight per class");
  return REAL(cw);
}

static SEXP dup_real(SEXP v, const char *what) {
  if (TYPEOF(v) != REALSXP) Rf_error("'%s' must be a double vector", what);
  return Rf_duplicate(v);
}

/* ctrl: lr, beta1, beta2, eps, weight_decay, batch_size, seed_hi, seed_lo,
 * epoch, momentum. opt: list(m, v, step). */
SEXP cp_train_epoch_r(SEXP spec, SEXP x, SEXP y, SEXP cw, SEXP opt, SEXP ctrl,
                      SEXP threads) {
  cp_net net;
  int K;
  api_logit_net(spec, &net, &K);
  int n = cp_api_samples(x, &net, "x");
  const int *yy = api_labels(y, n, K);
  const double *w = api_class_weights(cw, K);
  if (TYPEOF(ctrl) != REALSXP || Rf_xlength(ctrl) != 10) Rf_error("invalid training control");
  if (!Rf_isNewList(opt) || Rf_xlength(opt) != 3) Rf_error("invalid optimiser state");
  const double *c = REAL(ctrl);
  cp_train_opts o;
  o.adam.lr = c[0];
  o.adam.beta1 = c[1];
  o.adam.beta2 = c[2];
  o.adam.eps = c[3];
  o.adam.weight_decay = c[4];
  o.batch_size = (int)cp_api_whole(c[5], 1, INT_MAX, "batch_size");
  o.seed = ((uint64_t)cp_api_whole(c[6], 0, 4294967295.0, "seed") << 32) ^
           (uint64_t)cp_api_whole(c[7], 0, 4294967295.0, "seed");
  o.epoch = (int)cp_api_whole(c[8], 0, INT_MAX, "epoch");
  o.momentum = c[9];
  o.n_threads = cp_api_threads(threads);
  if (o.batch_size < 1) Rf_error("invalid batch size");

  const char *nms[] = {"par", "state", "m", "v", "step", "loss", "accuracy", ""};
  SEXP out = PROTECT(Rf_mkNamed(VECSXP, nms));
  SEXP par = dup_real(cp_api_list_get(spec, "par"), "par");
  SET_VECTOR_ELT(out, 0, par);
  SEXP state = dup_real(cp_api_list_get(spec, "state"), "state");
  SET_VECTOR_ELT(out, 1, state);
  SEXP m = dup_real(VECTOR_ELT(opt, 0), "m");
  SET_VECTOR_ELT(out, 2, m);
  SEXP v = dup_real(VECTOR_ELT(opt, 1), "v");
  SET_VECTOR_ELT(out, 3, v);
  if (Rf_xlength(m) != net.n_par || Rf_xlength(v) != net.n_par)
    Rf_error("optimiser state does not match the parameters");
  long step = (long)cp_api_whole(Rf_asReal(VECTOR_ELT(opt, 2)), 0, 1e15, "step");
  net.par = REAL(par);
  net.state = REAL(state);
  double loss = 0.0, acc = 0.0;
  int st = cp_train_epoch(&net, REAL(x), yy, n, K, w, &o, REAL(m), REAL(v), &step, &loss,
                          &acc);
  cp_api_stop_status(st, "training");
  SET_VECTOR_ELT(out, 4, Rf_ScalarReal((double)step));
  SET_VECTOR_ELT(out, 5, Rf_ScalarReal(loss));
  SET_VECTOR_ELT(out, 6, Rf_ScalarReal(acc));
  UNPROTECT(1);
  return out;
}

/* Loss and accuracy in inference mode: c(loss, accuracy). */
SEXP cp_evaluate_r(SEXP spec, SEXP x, SEXP y, SEXP cw, SEXP threads) {
  cp_net net;
  int K;
  api_logit_net(spec, &net, &K);
  int n = cp_api_samples(x, &net, "x");
  const int *yy = api_labels(y, n, K);
  const double *w = api_class_weights(cw, K);
  double loss = 0.0, acc = 0.0;
  int st = cp_evaluate(&net, REAL(x), yy, n, K, w, cp_api_threads(threads), &loss, &acc);
  cp_api_stop_status(st, "evaluation");
  SEXP out = PROTECT(Rf_allocVector(REALSXP, 2));
  REAL(out)[0] = loss;
  REAL(out)[1] = acc;
  UNPROTECT(1);
  return out;
}

/* Loss and gradient on one batch: list(loss, grad, state). mode 0 = INFER,
 * 1 = TRAIN (batch statistics, running statistics updated with momentum
 * 0.1), 2 = MC. masks: NULL or a list with one NULL or double vector
 * [sample][channel][time] per node. */
SEXP cp_loss_grad_r(SEXP spec, SEXP x, SEXP y, SEXP cw, SEXP mode, SEXP masks,
                    SEXP threads) {
  cp_net net;
  int K;
  api_logit_net(spec, &net, &K);
  int n = cp_api_samples(x, &net, "x");
  const int *yy = api_labels(y, n, K);
  const double *w = api_class_weights(cw, K);
  int md = Rf_asInteger(mode);
  if (md != CP_MODE_INFER && md != CP_MODE_TRAIN && md != CP_MODE_MC) Rf_error("invalid mode");
  double **mk = NULL;
  if (!Rf_isNull(masks)) {
    if (!Rf_isNewList(masks) || Rf_xlength(masks) != net.n_nodes)
      Rf_error("'masks' must be a list with one entry per node");
    mk = (double **)R_alloc((size_t)net.n_nodes, sizeof(double *));
    for (int j = 0; j < net.n_nodes; j++) {
      SEXP e = VECTOR_ELT(masks, j);
      mk[j] = NULL;
      if (Rf_isNull(e)) continue;
      if (TYPEOF(e) != REALSXP || Rf_xlength(e) != (R_xlen_t)n * cp_node_size(&net.L[j]))
        Rf_error("'masks[[%d]]' must be a double vector of the node's output size", j + 1);
      if (net.L[j].act == CP_SOFTMAX) Rf_error("masks on softmax nodes are not supported");
      mk[j] = REAL(e);
    }
  }
  const char *nms[] = {"loss", "grad", "state", ""};
  SEXP out = PROTECT(Rf_mkNamed(VECSXP, nms));
  SEXP grad = Rf_allocVector(REALSXP, net.n_par);
  SET_VECTOR_ELT(out, 1, grad);
  SEXP state = dup_real(cp_api_list_get(spec, "state"), "state");
  SET_VECTOR_ELT(out, 2, state);
  net.state = REAL(state);
  double loss = 0.0;
  int st = cp_loss_grad(&net, REAL(x), yy, n, K, w, md, mk, 0.1, cp_api_threads(threads),
                        REAL(grad), &loss);
  cp_api_stop_status(st, "gradient");
  SET_VECTOR_ELT(out, 0, Rf_ScalarReal(loss));
  UNPROTECT(1);
  return out;
}

/* One Adam step: list(par, m, v). ctrl: lr, beta1, beta2, eps, weight_decay. */
SEXP cp_adam_r(SEXP par, SEXP grad, SEXP m, SEXP v, SEXP step, SEXP ctrl) {
  R_xlen_t n = Rf_xlength(par);
  if (TYPEOF(par) != REALSXP || TYPEOF(grad) != REALSXP || TYPEOF(m) != REALSXP ||
      TYPEOF(v) != REALSXP || Rf_xlength(grad) != n || Rf_xlength(m) != n ||
      Rf_xlength(v) != n)
    Rf_error("'par', 'grad', 'm' and 'v' must be double vectors of equal length");
  if (TYPEOF(ctrl) != REALSXP || Rf_xlength(ctrl) != 5) Rf_error("invalid Adam control");
  long s = (long)cp_api_whole(Rf_asReal(step), 0, 1e15, "step");
  if (s < 1) Rf_error("'step' must be >= 1");
  const double *c = REAL(ctrl);
  cp_adam o = {c[0], c[1], c[2], c[3], c[4]};
  const char *nms[] = {"par", "m", "v", ""};
  SEXP out = PROTECT(Rf_mkNamed(VECSXP, nms));
  SET_VECTOR_ELT(out, 0, Rf_duplicate(par));
  SET_VECTOR_ELT(out, 1, Rf_duplicate(m));
  SET_VECTOR_ELT(out, 2, Rf_duplicate(v));
  cp_adam_step(&o, s, (long)n, REAL(VECTOR_ELT(out, 0)), REAL(grad), REAL(VECTOR_ELT(out, 1)),
               REAL(VECTOR_ELT(out, 2)));
  UNPROTECT(1);
  return out;
}
