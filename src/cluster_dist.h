/* Mergeable weighted k-means: the work of one Lloyd step on one chunk of
 * windows, for several restarts at once, as partial results that add up
 * over chunks (the reduction runs in R, in a fixed chunk order). No R
 * headers. */
#ifndef CP_CLUSTER_DIST_H
#define CP_CLUSTER_DIST_H

#include "cluster.h"

/* One step on the n windows x (n x m, row-major) with weights wt (> 0) for
 * S restarts. cent: S x k x m centers (restart s at cent + s k m). prev:
 * S x n labels of the previous step (0-based, -1 for none) or NULL.
 * evaluate = 0: every window goes to its nearest center (ties: the lower
 * index), as in the in-process weighted k-means; evaluate != 0: the labels
 * prev are kept (they must be in 0..k-1). Out, per restart s:
 * lab (S x n) the labels; changed[s] the windows whose label differs from
 * prev (all of them without prev); sums (S x k x m) the weighted sums of
 * the members and wsum (S x k) their weights, count (S x k) their number;
 * obj[s] the weighted sum of squared distances to the own center;
 * far_idx / far_val (S x nfar): the nfar windows with the largest weighted
 * squared distance (value decreasing, ties: lower index first; unused
 * entries -1 and 0), from which the reduction takes the windows that
 * re-seed empty clusters. Sums run sequentially in window order, so the
 * result does not depend on threads. Returns a CP_* status. */
int cp_kmeans_chunk_step(const double *x, const double *wt, int n, int m,
                         int k, int S, const double *cent, const int *prev,
                         int evaluate, int threads, int *lab, int *changed,
                         double *sums, double *wsum, int *count, double *obj,
                         int nfar, int *far_idx, double *far_val);

#endif
