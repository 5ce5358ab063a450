/* Every .Call entry point of cphap: declaration and registration entry.
 * Add a routine here in both lists (one line each). */
#ifndef CP_API_DECL_H
#define CP_API_DECL_H

#include "api_util.h"

SEXP cp_forward_r(SEXP ispec, SEXP dspec, SEXP dims, SEXP par, SEXP state, SEXP x,
                  SEXP nodes, SEXP threads);
SEXP cp_rf_r(SEXP ispec, SEXP dspec, SEXP dims);

#define CP_CALL_ENTRIES \
  {"cp_forward_r", (DL_FUNC) &cp_forward_r, 8}, \
  {"cp_rf_r", (DL_FUNC) &cp_rf_r, 3},

#endif
