/* Helpers shared by the api_*.c wrappers (the only files that see R). */
#ifndef CP_API_UTIL_H
#define CP_API_UTIL_H

#define R_NO_REMAP
#include <R.h>
#include <Rinternals.h>
#include <stdint.h>

void cp_api_install_interrupt(void);
uint64_t cp_api_seed(void);            /* one draw from R's RNG, for set.seed() */
int cp_api_threads(SEXP threads);      /* validated thread count */
void cp_api_stop_status(int status, const char *what); /* R error for a kernel status */
SEXP cp_api_list_get(SEXP list, const char *name);     /* R_NilValue when absent */

#endif
