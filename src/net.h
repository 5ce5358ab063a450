/* The one network description of cphap: nodes in topological order with
 * shapes and offsets into a single parameter vector. It serves the forward
 * pass, training, activations, receptive fields and relevance.
 * Layout: a sample is [channel][time], time contiguous; a batch is
 * [sample][channel][time]. Dense and flat tensors are [features][1]. */
#ifndef CP_NET_H
#define CP_NET_H

#include "cp_common.h"

enum {
  CP_CONV = 1,
  CP_DENSE = 2,
  CP_MAXPOOL = 3,
  CP_AVGPOOL = 4,
  CP_GAVG = 5,     /* global average pooling -> [C][1] */
  CP_GMAX = 6,     /* global max pooling -> [C][1] */
  CP_BN = 7,       /* batch norm over channels */
  CP_FLATTEN = 8,  /* [C][L] -> [C*L][1], channel-major (no data movement) */
  CP_ACT = 9,      /* element-wise activation */
  CP_ADD = 10,     /* sum of inputs of equal shape */
  CP_DROP = 11,    /* dropout / skipping: identity at inference */
  CP_PAD = 12      /* constant padding of the time axis */
};

enum {
  CP_LINEAR = 0,
  CP_RELU = 1,
  CP_LEAKY = 2,
  CP_TANH = 3,
  CP_SIGMOID = 4,
  CP_SOFTPLUS = 5,
  CP_SOFTMAX = 6   /* over channels (features) of a [C][1] tensor */
};

#define CP_MAX_IN 4

/* Column layout of the integer spec matrix built by R (one row per node). */
enum {
  CP_S_TYPE = 0, CP_S_NIN, CP_S_IN0, CP_S_IN1, CP_S_IN2, CP_S_IN3,
  CP_S_CIN, CP_S_LIN, CP_S_COUT, CP_S_LOUT,
  CP_S_K, CP_S_STRIDE, CP_S_DIL, CP_S_PADL, CP_S_PADR, CP_S_ACT,
  CP_S_WOFF, CP_S_WN, CP_S_BOFF, CP_S_BN, CP_S_SOFF,
  CP_S_NCOL
};
/* Column layout of the double spec matrix. */
enum { CP_D_ACTPAR = 0, CP_D_EPS, CP_D_RATE, CP_D_PADVAL, CP_D_NCOL };

typedef struct {
  int type;
  int n_in;
  int in[CP_MAX_IN];   /* producer nodes (0-based); -1 is the model input */
  int c_in, l_in;      /* shape of (each) input */
  int c_out, l_out;    /* shape of the output */
  int k, stride, dil;  /* conv and pools (pools: k = kernel_size) */
  int pad_l, pad_r;    /* conv and padding nodes */
  int act;             /* activation applied last (conv, dense, act nodes) */
  double act_par;      /* leaky relu slope */
  double eps;          /* batch norm */
  double rate;         /* dropout rate of a dropout node */
  double pad_val;      /* padding value */
  /* Offsets into net->par (-1 = absent). Conv: w [c_out][c_in][k] then b;
   * dense: w [c_out][c_in] then b; batch norm: gamma (w) and beta (b). */
  long w_off, w_n, b_off, b_n;
  /* Offset into net->state for batch norm: running mean [c], running var [c]. */
  long s_off;
} cp_layer;

typedef struct {
  int n_nodes;
  cp_layer *L;
  int c_in, l_in;      /* model input shape */
  int out;             /* output node */
  double *par;  long n_par;   /* trainable parameters */
  double *state; long n_state; /* non-trainable (batch norm running stats) */
} cp_net;

/* Fill net->L from the spec matrices (column-major, n_nodes rows), as R
 * stores them. Returns CP_OK or CP_ERR_INPUT; on error writes a message. */
int cp_net_from_spec(cp_net *net, cp_layer *layers, int n_nodes, const int *ispec,
                     const double *dspec, int c_in, int l_in, double *par, long n_par,
                     double *state, long n_state, char *msg, size_t msg_len);

/* Forward modes. */
enum {
  CP_MODE_INFER = 0, /* batch norm running stats; masks ignored */
  CP_MODE_TRAIN = 1, /* batch norm batch stats; masks applied */
  CP_MODE_MC = 2     /* batch norm running stats; masks applied */
};

/* Work space for a batch of up to nb samples. y[j] holds node j's output
 * [nb][c_out][l_out]. mask[j], when non-NULL and the mode is not INFER,
 * multiplies node j's output element-wise after it is computed (dropout
 * masks already scaled by 1/(1-p)). bn_mean/bn_var hold the batch statistics
 * of batch-norm nodes in TRAIN mode. */
typedef struct {
  int nb;
  double **y;
  double **mask;
  double **bn_mean;
  double **bn_var;
  double *scratch;     /* per-thread scratch: n_threads * scratch_per_thread */
  long scratch_per_thread;
  int n_threads;
  /* FFT convolution plans, one per node (NULL: direct kernel), used at
   * inference only; NULL array when none were built (conv_fast.h) */
  struct cp_fconv **fc;
  double *fscratch;    /* their per-thread scratch */
  long fscratch_per_thread;
} cp_work;

/* Allocate / free work space (malloc). want_mask[j] != 0 allocates mask[j]. */
int cp_work_alloc(cp_work *w, const cp_net *net, int nb, const int *want_mask,
                  int n_threads);
void cp_work_free(cp_work *w, const cp_net *net);

/* Size of a node's output for one sample. */
static inline long cp_node_size(const cp_layer *l) {
  return (long)l->c_out * l->l_out;
}

/* Forward pass of nb samples x [nb][c_in][l_in] through every node. */
int cp_forward(const cp_net *net, const double *x, int nb, int mode, cp_work *w);

/* The same from node `from` on, the outputs of nodes before it being in w. */
int cp_forward_from(const cp_net *net, int from, const double *x, int nb, int mode,
                    cp_work *w);

/* Activation functions (in place) and their derivatives from the output. */
void cp_act_apply(int act, double par, double *v, long n);
void cp_softmax_rows(double *v, int n_rows, int n_cols);

/* Draw dropout masks for every node that has one allocated: mask value
 * 1/(1-p) with probability 1-p, else 0. rate[j] < 0 means "use the node's
 * own rate". Streams are (stream_base + sample). */
void cp_draw_masks(const cp_net *net, cp_work *w, int nb, const double *rate,
                   uint64_t seed, uint64_t stream_base);

/* Exact receptive field of every node with a time axis: jump J, size R and
 * start S through every conv and pool (J_l = J_{l-1} s_l, R_l = R_{l-1} +
 * (k_l - 1) d_l J_{l-1}, S_l = S_{l-1} - p_l J_{l-1}); for Add, the union of
 * its inputs. Nodes without a time
 * axis (after flatten or global pooling) get size = -1. */
void cp_receptive_fields(const cp_net *net, long *jump, long *size, long *start);

/* Max (is_max) or average pooling of one channel: y[t] over x[t*stride ..
 * t*stride + k - 1], t < l_out. */
void cp_pool_row(const double *x, int l_out, int k, int stride, int is_max, double *y);

/* Backward of max pooling over one channel (also relevance, winner takes
 * all): d[t*stride + first argmax of window t of x] += g[t], t < l_out. */
void cp_maxpool_back_row(const double *x, const double *g, int l_out, int k, int stride,
                         double *d);

/* Convolution kernel on one sample (valid convolution on a pre-padded
 * input xp of length lp). y[c_out][l_out] = b + sum w * xp. */
void cp_conv1d(const double *xp, int c_in, int lp, const double *w, const double *b,
               int c_out, int l_out, int k, int stride, int dil, double *y);

/* A convolution's shape on a pre-padded input (c_in channels of length lp). */
typedef struct {
  int c_in, c_out, l_out, k, stride, dil;
  long lp;
} cp_conv_geom;

/* A sparse set of output (channel, time) pairs grouped by time: for time t
 * the channels o_idx[t_ptr[t]] .. o_idx[t_ptr[t + 1] - 1]. */
typedef struct {
  const int *t_ptr, *o_idx;
} cp_pairs;

/* The convolution y[o][t] = b[o] + sum w[o][i][q] xp[i][t*stride + q*dil]
 * at the listed pairs only (other outputs untouched). Scratch: xt of c_in*k,
 * pv of c_out values. */
void cp_conv1d_pairs(const cp_conv_geom *cg, const double *xp, const double *w, const double *b,
                     const cp_pairs *pr, double *y, double *xt, double *pv);

/* Its transpose on the listed pairs: g[i][t*stride + q*dil] += s[o][t] *
 * w[o][i][q] over the pairs (o, t); g is [c_in][lp]. Scratch: gt of c_in*k,
 * pv of c_out values. */
void cp_conv1d_t_pairs(const cp_conv_geom *cg, const double *s, const double *w,
                       const cp_pairs *pr, double *g, double *gt, double *pv);

#endif
