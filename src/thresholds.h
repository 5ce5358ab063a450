/* Mergeable pieces of the exact thresholds: one pass of the radix selection
 * over a chunk of samples, whose results (histograms of the next 16-bit
 * digit, or the values under a prefix) add up over chunks, so the R layer
 * can reduce them over chunks run anywhere and drive the selection (see
 * cp_thresholds in patterns.h for the one-process version). Plain C; no R
 * headers. */
#ifndef CP_THRESHOLDS_H
#define CP_THRESHOLDS_H

#include "patterns.h"

/* One selection target: the values of channel `chan` (0-based over the
 * channels of the requested nodes, node by node) whose order-preserving key
 * starts with the `depth` 16-bit digits of `prefix`. With collect = 0 the
 * pass counts them per value of the next digit (hist, QBINS counts); with
 * collect = 1 it copies them into buf (nbuf values). */
typedef struct {
  int chan;
  int depth; /* 0 to 3 */
  uint64_t prefix;
  int collect;
  uint32_t *hist;
  double *buf;
  long nbuf, cap;
  int nonfinite; /* a value of the channel was not finite */
  int failed;    /* allocation failed */
} cp_qtarget;

/* Runs the forward pass over the n samples of fetch (in chunks of `chunk`;
 * convolutions as `conv` says, see conv_fast.h) and fills every target. Returns CP_ERR_NUMERIC when a scanned channel has
 * a non-finite value. Free the targets' buffers with cp_qtargets_free. */
int cp_qscan(const cp_net *net, cp_fetch_fn fetch, void *ctx, int n, const int *nodes,
             int n_req, cp_qtarget *t, int n_t, int chunk, int n_threads, int conv);
void cp_qtargets_free(cp_qtarget *t, int n_t);

#endif
