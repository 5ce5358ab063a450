/* Order-preserving 64-bit keys of doubles, for the exact radix selection of
 * the thresholds (patterns.c, thresholds.c). Plain C; no R headers. */
#ifndef CP_QKEY_H
#define CP_QKEY_H

#include <stdint.h>
#include <string.h>

/* Map a double to an unsigned key with the same order (-0 and +0 share the
 * key of +0; NaN is excluded by the caller). */
static inline uint64_t key_of(double v) {
  if (v == 0.0) v = 0.0;
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return (u >> 63) ? ~u : (u | 0x8000000000000000ULL);
}

static inline double value_of(uint64_t k) {
  uint64_t u = (k >> 63) ? (k & 0x7FFFFFFFFFFFFFFFULL) : ~k;
  double v;
  memcpy(&v, &u, sizeof v);
  return v;
}

#define QBITS 16
#define QBINS (1L << QBITS)

#endif
