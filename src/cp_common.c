#include <math.h>
#include "cp_common.h"

cp_interrupt_fn cp_check_interrupt = NULL;

double cp_rng_norm(cp_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u, v, s;
  do {
    u = 2.0 * cp_rng_unif(r) - 1.0;
    v = 2.0 * cp_rng_unif(r) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  double f = sqrt(-2.0 * log(s) / s);
  r->spare = v * f;
  r->has_spare = 1;
  return u * f;
}
