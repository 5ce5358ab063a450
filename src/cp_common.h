/* Shared definitions for the numerical kernels of cphap.
 * Kernels include this header only; they never include R headers.
 * The api layer installs an interrupt callback and passes thread counts. */
#ifndef CP_COMMON_H
#define CP_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Status codes returned by kernels. */
enum {
  CP_OK = 0,
  CP_ERR_ALLOC = 1,     /* memory allocation failed */
  CP_ERR_INTERRUPT = 2, /* the user interrupted */
  CP_ERR_INPUT = 3,     /* inconsistent input that the api should have caught */
  CP_ERR_NUMERIC = 4    /* non-finite result */
};

/* Interrupt check installed by the api layer: returns non-zero when the user
 * asked to stop. Only ever called from the main thread (outside parallel
 * regions). NULL means "never interrupted" (standalone C tests). */
typedef int (*cp_interrupt_fn)(void);
extern cp_interrupt_fn cp_check_interrupt;

static inline int cp_interrupted(void) {
  return cp_check_interrupt != NULL && cp_check_interrupt();
}

/* Counter-based random numbers: a stream is a key derived from a seed (drawn
 * once per call from R's RNG) and a stream id (e.g. sample * passes + pass),
 * so results do not depend on the number of threads. */
typedef struct {
  uint64_t key;
  uint64_t ctr;
  int has_spare;
  double spare;
} cp_rng;

static inline uint64_t cp_mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static inline void cp_rng_init(cp_rng *r, uint64_t seed, uint64_t stream) {
  r->key = cp_mix64(seed ^ cp_mix64(stream ^ 0x632be59bd9b4e019ULL));
  r->ctr = 0;
  r->has_spare = 0;
  r->spare = 0.0;
}

static inline uint64_t cp_rng_u64(cp_rng *r) {
  r->ctr++;
  return cp_mix64(r->key ^ cp_mix64(r->ctr));
}

/* Uniform on [0, 1). */
static inline double cp_rng_unif(cp_rng *r) {
  return (double)(cp_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, n), n > 0, without modulo bias (rejection). */
static inline uint64_t cp_rng_int(cp_rng *r, uint64_t n) {
  uint64_t lim = UINT64_MAX - (UINT64_MAX % n);
  uint64_t u;
  do { u = cp_rng_u64(r); } while (u >= lim);
  return u % n;
}

double cp_rng_norm(cp_rng *r); /* standard normal (polar Box-Muller) */

#endif
