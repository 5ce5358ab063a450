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
/* validated convolution mode (CP_CONV_DIRECT, _AUTO or _FFT of conv_fast.h) */
int cp_api_conv(SEXP conv);
void cp_api_stop_status(int status, const char *what); /* R error for a kernel status */
SEXP cp_api_list_get(SEXP list, const char *name);     /* R_NilValue when absent */
/* A new list of len elements (R_NilValue) with the given names (unprotected). */
SEXP cp_api_named_list(int len, const char **names);
/* a * b as the length of a result, or an R error saying how large the
 * result would be; max_len <= 0 means R's longest vector (INT_MAX for a
 * matrix dimension). */
R_xlen_t cp_api_len(const char *what, double a, double b, double max_len);
/* v when it is a whole number in [lo, hi] (so casts to int or uint64_t are
 * defined), else an R error naming it. */
double cp_api_whole(double v, double lo, double hi, const char *what);



#include "net.h"
/* Build the C network from a spec list (see api_decl.h); memory from R_alloc.
 * Raises an R error when the spec is inconsistent. par and state point into
 * the R vectors (not copied). */
void cp_api_net(SEXP spec, cp_net *net);
/* Check that x is a double vector holding n samples of the net's input
 * shape in [sample][channel][time] order; returns n. */
int cp_api_samples(SEXP x, const cp_net *net, const char *arg);/* Gather samples [s0, s0 + nb) of an R array [n, c, l] (column-major) into
 * C order [nb][c][l], on nt threads. */
void cp_api_gather(const double *x, long n, long c, long l, long s0, int nb, double *dst,
                   int nt);

#endif
