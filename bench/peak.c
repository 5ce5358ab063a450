/* Register-only FMA loop: the machine's double-precision arithmetic limit on
 * one core with AVX2+FMA (GFLOP/s per CPU-second), for context in benchmark
 * reports. Build: cc -O2 -mavx2 -mfma bench/peak.c -o peak */
#include <stdio.h>
#include <time.h>
typedef double v4 __attribute__((vector_size(32)));
int main(void) {
  volatile double mv = 0.9999999, cv = 1e-7;
  v4 m = {mv, mv, mv, mv}, c = {cv, cv, cv, cv};
  v4 a[12];
  for (int i = 0; i < 12; i++) a[i] = (v4){1.0 + i, 1.0 + i, 1.0 + i, 1.0 + i};
  struct timespec t0, t1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  const long n = 100000000;
  for (long i = 0; i < n; i++) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; j++) a[j] = a[j] * m + c;
    __asm__ volatile("" : "+x"(a[0]), "+x"(a[1]), "+x"(a[2]), "+x"(a[3]), "+x"(a[4]), "+x"(a[5]),
                     "+x"(a[6]), "+x"(a[7]), "+x"(a[8]), "+x"(a[9]), "+x"(a[10]), "+x"(a[11]));
  }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
  double t = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  double s = 0;
  for (int j = 0; j < 12; j++) s += a[j][0];
  printf("%.1f\n", (double)n * 12.0 * 8.0 / t / 1e9 + 0.0 * s);
  return 0;
}
