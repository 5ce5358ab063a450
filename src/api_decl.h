/* Every .Call entry point of cphap: declaration and registration entry.
 * Add a routine here in both lists (one line each).
 * A "spec" argument is the list built by R's model_spec(): ispec (integer
 * matrix, one row per node), dspec (double matrix), dims (c(C, L)), par
 * (trainable parameters), state (batch-norm running statistics). */
#ifndef CP_API_DECL_H
#define CP_API_DECL_H

#include "api_util.h"

/* network (api_net.c) */
SEXP cp_forward_r(SEXP spec, SEXP x, SEXP nodes, SEXP threads, SEXP conv);
SEXP cp_activations_long_r(SEXP spec, SEXP x, SEXP nodes, SEXP levels, SEXP threads,
                           SEXP conv);
SEXP cp_rf_r(SEXP spec);
SEXP cp_thresholds_r(SEXP spec, SEXP x, SEXP nodes, SEXP prob, SEXP threads, SEXP conv);
SEXP cp_high_nodes_r(SEXP spec, SEXP x, SEXP nodes, SEXP thr, SEXP threads, SEXP conv);
SEXP cp_windows_r(SEXP x, SEXP dims, SEXP sample, SEXP start, SEXP len, SEXP channels,
                  SEXP threads);
SEXP cp_qscan_r(SEXP spec, SEXP x, SEXP nodes, SEXP targets, SEXP threads, SEXP conv);

/* relevance (api_lrp.c) */
SEXP cp_relevance_r(SEXP spec, SEXP x, SEXP jobs, SEXP pos, SEXP rules, SEXP params,
                    SEXP mc, SEXP keys, SEXP threads);

/* training (api_train.c) */
SEXP cp_train_epoch_r(SEXP spec, SEXP x, SEXP y, SEXP cw, SEXP opt, SEXP ctrl,
                      SEXP threads);
SEXP cp_evaluate_r(SEXP spec, SEXP x, SEXP y, SEXP cw, SEXP threads);
SEXP cp_loss_grad_r(SEXP spec, SEXP x, SEXP y, SEXP cw, SEXP mode, SEXP masks,
                    SEXP threads);
SEXP cp_adam_r(SEXP par, SEXP grad, SEXP m, SEXP v, SEXP step, SEXP ctrl);

/* clustering (api_cluster.c) */
SEXP cp_kmeans_r(SEXP x, SEXP k, SEXP n_start, SEXP max_iter, SEXP threads);
SEXP cp_kshape_r(SEXP x, SEXP k, SEXP n_start, SEXP max_iter, SEXP threads);
SEXP cp_som_r(SEXP x, SEXP dims, SEXP epochs, SEXP rate, SEXP radius, SEXP threads);
SEXP cp_cluster_stats_r(SEXP x, SEXP cluster, SEXP centers, SEXP metric, SEXP threads,
                        SEXP weights);
SEXP cp_kmeans_weighted_r(SEXP x, SEXP weights, SEXP k, SEXP n_start, SEXP max_iter,
                          SEXP hartigan, SEXP init, SEXP threads);
SEXP cp_soft_assign_r(SEXP x, SEXP centers, SEXP weight, SEXP mean_distance,
                      SEXP metric, SEXP cluster, SEXP threads);
SEXP cp_pairdist_r(SEXP x, SEXP metric, SEXP threads);
SEXP cp_silhouette_r(SEXP d, SEXP cluster, SEXP k, SEXP threads);
SEXP cp_calinski_harabasz_r(SEXP x, SEXP cluster, SEXP k, SEXP metric);
SEXP cp_znorm_rows_r(SEXP x);
SEXP cp_std_sqdist_r(SEXP x, SEXP mean, SEXP var, SEXP use, SEXP threads);
SEXP cp_wsums_r(SEXP x, SEXP weights, SEXP cluster, SEXP k);

/* mergeable k-means over chunks of windows (api_kmeans_dist.c) */
SEXP cp_kmeans_chunk_r(SEXP xt, SEXP weights, SEXP centers, SEXP labels,
                       SEXP evaluate, SEXP threads);

/* ONNX decoding (api_onnx.c) */
SEXP cp_onnx_decode_r(SEXP bytes);

/* Cast through void (*)(void), the type GCC allows any function pointer to. */
#define CP_FN(f) ((DL_FUNC)(void (*)(void))(f))

#define CP_CALL_ENTRIES \
  {"cp_forward_r", CP_FN(&cp_forward_r), 5}, \
  {"cp_activations_long_r", CP_FN(&cp_activations_long_r), 6}, \
  {"cp_rf_r", CP_FN(&cp_rf_r), 1}, \
  {"cp_thresholds_r", CP_FN(&cp_thresholds_r), 6}, \
  {"cp_high_nodes_r", CP_FN(&cp_high_nodes_r), 6}, \
  {"cp_windows_r", CP_FN(&cp_windows_r), 7}, \
  {"cp_qscan_r", CP_FN(&cp_qscan_r), 6}, \
  {"cp_kmeans_r", CP_FN(&cp_kmeans_r), 5}, \
  {"cp_kshape_r", CP_FN(&cp_kshape_r), 5}, \
  {"cp_som_r", CP_FN(&cp_som_r), 6}, \
  {"cp_cluster_stats_r", CP_FN(&cp_cluster_stats_r), 6}, \
  {"cp_kmeans_weighted_r", CP_FN(&cp_kmeans_weighted_r), 8}, \
  {"cp_soft_assign_r", CP_FN(&cp_soft_assign_r), 7}, \
  {"cp_pairdist_r", CP_FN(&cp_pairdist_r), 3}, \
  {"cp_silhouette_r", CP_FN(&cp_silhouette_r), 4}, \
  {"cp_calinski_harabasz_r", CP_FN(&cp_calinski_harabasz_r), 4}, \
  {"cp_znorm_rows_r", CP_FN(&cp_znorm_rows_r), 1}, \
  {"cp_kmeans_chunk_r", CP_FN(&cp_kmeans_chunk_r), 6}, \
  {"cp_std_sqdist_r", CP_FN(&cp_std_sqdist_r), 5}, \
  {"cp_wsums_r", CP_FN(&cp_wsums_r), 4}, \
  {"cp_train_epoch_r", CP_FN(&cp_train_epoch_r), 7}, \
  {"cp_evaluate_r", CP_FN(&cp_evaluate_r), 5}, \
  {"cp_loss_grad_r", CP_FN(&cp_loss_grad_r), 7}, \
  {"cp_adam_r", CP_FN(&cp_adam_r), 6}, \
  {"cp_relevance_r", CP_FN(&cp_relevance_r), 9}, \
  {"cp_onnx_decode_r", CP_FN(&cp_onnx_decode_r), 1},

#endif
