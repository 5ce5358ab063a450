/* Every .Call entry point of cphap: declaration and registration entry.
 * Add a routine here in both lists (one line each). */
#ifndef CP_API_DECL_H
#define CP_API_DECL_H

#include "api_util.h"

/* clustering (api_cluster.c) */
SEXP cp_kmeans_r(SEXP x, SEXP k, SEXP n_start, SEXP max_iter, SEXP threads);
SEXP cp_kshape_r(SEXP x, SEXP k, SEXP n_start, SEXP max_iter, SEXP threads);
SEXP cp_som_r(SEXP x, SEXP dims, SEXP epochs, SEXP rate, SEXP radius, SEXP threads);
SEXP cp_cluster_stats_r(SEXP x, SEXP cluster, SEXP centers, SEXP metric, SEXP threads);
SEXP cp_soft_assign_r(SEXP x, SEXP centers, SEXP weight, SEXP variance,
                      SEXP mean_distance, SEXP metric, SEXP cluster, SEXP threads);
SEXP cp_pairdist_r(SEXP x, SEXP metric, SEXP threads);
SEXP cp_silhouette_r(SEXP d, SEXP cluster, SEXP k, SEXP threads);
SEXP cp_calinski_harabasz_r(SEXP x, SEXP cluster, SEXP k, SEXP metric);
SEXP cp_znorm_rows_r(SEXP x);

#define CP_CALL_ENTRIES \
  {"cp_kmeans_r", (DL_FUNC) &cp_kmeans_r, 5}, \
  {"cp_kshape_r", (DL_FUNC) &cp_kshape_r, 5}, \
  {"cp_som_r", (DL_FUNC) &cp_som_r, 6}, \
  {"cp_cluster_stats_r", (DL_FUNC) &cp_cluster_stats_r, 5}, \
  {"cp_soft_assign_r", (DL_FUNC) &cp_soft_assign_r, 8}, \
  {"cp_pairdist_r", (DL_FUNC) &cp_pairdist_r, 3}, \
  {"cp_silhouette_r", (DL_FUNC) &cp_silhouette_r, 4}, \
  {"cp_calinski_harabasz_r", (DL_FUNC) &cp_calinski_harabasz_r, 4}, \
  {"cp_znorm_rows_r", (DL_FUNC) &cp_znorm_rows_r, 1},

#endif
