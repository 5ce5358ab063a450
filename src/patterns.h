/* Kernels of the pattern framework: exact (type 7) quantile thresholds of
 * activation maps over a reference set, highly activated nodes, and input
 * windows of their periods. Plain C; no R headers. */
#ifndef CP_PATTERNS_H
#define CP_PATTERNS_H

#include "net.h"

/* Source of input samples: writes samples [s0, s0 + nb) in C order
 * [nb][c_in][l_in] into dst. Called from the main thread only, outside
 * parallel regions; it must not fail. Lets the api layer read R's
 * column-major arrays chunk by chunk without a transposed copy. */
typedef void (*cp_fetch_fn)(void *ctx, int s0, int nb, double *dst);

/* A fetch function for inputs already in C order: ctx is the const double*
 * of all samples, the sample size is given by cp_fetch_contig_size. */
typedef struct {
  const double *x;
  long per_sample;
} cp_contig;
void cp_fetch_contig(void *ctx, int s0, int nb, double *dst);

/* Exact quantile of type 7 (Hyndman and Fan; R's default) of all values of
 * every channel of the given nodes over n samples and all positions:
 * index = 1 + (N - 1) * prob, Q = x(lo) + h (x(hi) - x(lo)) as R computes it.
 * Streams the forward pass over chunks of `chunk` samples; memory does not
 * grow with n beyond the values that share a histogram bin with the two
 * order statistics (at most CP_Q_COLLECT_MAX per statistic). Radix select on
 * an order-preserving 64-bit key of the values, 16 bits per pass: usually
 * two forward passes, more only when a bin is crowded with nearly equal
 * values. thr receives sum_q C_q values (layer by layer, channel by
 * channel); n_passes (may be NULL) the number of forward passes run. */
int cp_thresholds(const cp_net *net, cp_fetch_fn fetch, void *ctx, int n, const int *nodes,
                  int n_req, double prob, int chunk, int n_threads, int conv, double *thr,
                  int *n_passes);

/* Highly activated nodes: every (sample, layer, channel, position) whose
 * activation is > thr (strict), in that order. thr is laid out as for
 * cp_thresholds; a channel with threshold +Inf or NaN yields nothing. The
 * rows are returned in malloc'd arrays (free with cp_nodes_free). */
typedef struct {
  long n, cap;
  int *sample, *layer, *channel, *position; /* 0-based */
  double *value;
} cp_nodes;

int cp_high_nodes(const cp_net *net, cp_fetch_fn fetch, void *ctx, int n, const int *nodes,
                  int n_req, const double *thr, int chunk, int n_threads, int conv,
                  cp_nodes *out);
void cp_nodes_free(cp_nodes *o);

/* Windows of periods: for each of nw periods (sample s, 0-based start t0),
 * copy series (s, c) at t0 .. t0 + len - 1 for each of the n_ch channels
 * ch[] into row i of the column-major nw x (n_ch * len) matrix out (channel
 * blocks in the order of ch). x is a column-major array [n][C][L] (sample
 * fastest, as R stores it). Every period must be inside the series. Uses
 * a scratch copy of one input channel (n x L). Returns a status. */
int cp_windows(const double *x, int n_samples, int c_in, int l_in, const int *sample,
               const int *start, long nw, int len, const int *ch, int n_ch, int n_threads,
               double *out);

/* Select the r-th smallest (0-based) of v[0..n-1] in place (partial sort:
 * afterwards v[i] <= v[r] <= v[j] for i < r < j). */
void cp_select(double *v, long n, long r);

#define CP_Q_COLLECT_MAX 65536L /* values collected per order statistic */

#endif
