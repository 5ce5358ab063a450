/* Register-only FMA loop: the machine's double-precision arithmetic limit on
 * one core with AVX2+FMA (GFLOP/s per CPU-second), for context in benchmark
 * reports. Build: cc -O2 -mavx2 -mfma bench/peak.c -o peak */
#include <stdio.h>
#include <time.h>
typedef double v4 __attribute__((vector_size(32)));
int main(void) {
  volatile double mv = 0.9999999, cv = 1e-7;
  v4 m = {mv, mv, mv, mv}, c = {cv, cv, cv, cv};
  /* twelve named accumulators: an array would live on the stack, and the
   * stores and reloads around each FMA would make the loop latency-bound */
  v4 a0 = {1, 1, 1, 1}, a1 = a0 + 1, a2 = a1 + 1, a3 = a2 + 1, a4 = a3 + 1, a5 = a4 + 1;
  v4 a6 = a5 + 1, a7 = a6 + 1, a8 = a7 + 1, a9 = a8 + 1, a10 = a9 + 1, a11 = a10 + 1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  const long n = 100000000;
  for (long i = 0; i < n; i++) {
    a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
    a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
    a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5),
                     "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));
  }
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
  double t = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  double s = (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11)[0];
  printf("%.1f\n", (double)n * 12.0 * 8.0 / t / 1e9 + 0.0 * s);
  return 0;
}
