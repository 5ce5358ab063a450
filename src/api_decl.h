/* Every .Call entry point of cphap: declaration and registration entry.
 * Add a routine here in both lists (one line each).
 * A "spec" argument is the list built by R's model_spec(): ispec (integer
 * matrix, one row per node), dspec (double matrix), dims (c(C, L)), par
 * (trainable parameters), state (batch-norm running statistics). */
#ifndef CP_API_DECL_H
#define CP_API_DECL_H

#include "api_util.h"

SEXP cp_forward_r(SEXP spec, SEXP x, SEXP nodes, SEXP threads);
SEXP cp_rf_r(SEXP spec);
SEXP cp_thresholds_r(SEXP spec, SEXP x, SEXP nodes, SEXP prob, SEXP threads);
SEXP cp_high_nodes_r(SEXP spec, SEXP x, SEXP nodes, SEXP thr, SEXP threads);
SEXP cp_windows_r(SEXP x, SEXP dims, SEXP sample, SEXP start, SEXP len, SEXP channels);
SEXP cp_relevance_r(SEXP spec, SEXP x, SEXP jobs, SEXP pos, SEXP rules, SEXP params,
                    SEXP mc, SEXP threads);

/* Cast through void (*)(void), the type GCC allows any function pointer to. */
#define CP_FN(f) ((DL_FUNC)(void (*)(void))(f))

#define CP_CALL_ENTRIES \
  {"cp_forward_r", CP_FN(&cp_forward_r), 4}, \
  {"cp_rf_r", CP_FN(&cp_rf_r), 1}, \
  {"cp_thresholds_r", CP_FN(&cp_thresholds_r), 5}, \
  {"cp_high_nodes_r", CP_FN(&cp_high_nodes_r), 5}, \
  {"cp_windows_r", CP_FN(&cp_windows_r), 6}, \
  {"cp_relevance_r", CP_FN(&cp_relevance_r), 8},

#endif
