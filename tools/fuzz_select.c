/* Standalone fuzz test of the exact selection kernel (no R):
 *   gcc -std=gnu11 -O2 -Isrc tools/fuzz_select.c src/patterns.c src/net.c src/conv.c \
 *       src/cp_common.c -lm -o /tmp/fuzz_select && /tmp/fuzz_select
 * Checks cp_select() against qsort on random arrays with many ties, and
 * cp_thresholds() on a one-convolution network against a sort of all its
 * activations (computed by one cp_forward() over all samples). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "patterns.h"

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double unif(unsigned long long *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(*s >> 11) / 9007199254740992.0;
}

int main(void) {
  unsigned long long seed = 42;
  int bad = 0;
  for (int it = 0; it < 2000; it++) {
    long n = 1 + (long)(unif(&seed) * 500);
    int levels = 1 + (int)(unif(&seed) * 20);
    double *v = malloc(sizeof(double) * (size_t)n), *s = malloc(sizeof(double) * (size_t)n);
    for (long i = 0; i < n; i++) {
      v[i] = unif(&seed) < 0.5 ? floor(unif(&seed) * levels) - levels / 2 : unif(&seed) - 0.5;
      s[i] = v[i];
    }
    qsort(s, (size_t)n, sizeof(double), cmp);
    long r = (long)(unif(&seed) * n);
    cp_select(v, n, r);
    if (v[r] != s[r]) bad++;
    for (long i = 0; i < r; i++) if (v[i] > v[r]) bad++;
    for (long i = r + 1; i < n; i++) if (v[i] < v[r]) bad++;
    free(v);
    free(s);
  }
  /* thresholds on a single ReLU convolution: 1 -> 2 channels, k = 3 */
  int c_in = 1, l_in = 50, n = 400, k = 3, l_out = l_in - k + 1;
  int ispec[2 * CP_S_NCOL];
  double dspec[2 * CP_D_NCOL];
  memset(ispec, 0, sizeof ispec);
  memset(dspec, 0, sizeof dspec);
  /* node 0: conv (column-major spec, 1 row) */
  int row[CP_S_NCOL] = {0};
  row[CP_S_TYPE] = CP_CONV; row[CP_S_NIN] = 1; row[CP_S_IN0] = -1; row[CP_S_IN1] = -1;
  row[CP_S_IN2] = -1; row[CP_S_IN3] = -1; row[CP_S_CIN] = c_in; row[CP_S_LIN] = l_in;
  row[CP_S_COUT] = 2; row[CP_S_LOUT] = l_out; row[CP_S_K] = k; row[CP_S_STRIDE] = 1;
  row[CP_S_DIL] = 1; row[CP_S_ACT] = CP_RELU; row[CP_S_WOFF] = 0; row[CP_S_WN] = 6;
  row[CP_S_BOFF] = 6; row[CP_S_BN] = 2; row[CP_S_SOFF] = -1;
  for (int c = 0; c < CP_S_NCOL; c++) ispec[c] = row[c];
  double par[8] = {1, -1, 0.5, 0.2, 0.3, -0.4, -1.5, 0.1};
  cp_layer layers[1];
  cp_net net;
  char msg[200];
  if (cp_net_from_spec(&net, layers, 1, ispec, dspec, c_in, l_in, par, 8, NULL, 0, msg,
                       sizeof msg) != CP_OK) {
    printf("spec: %s\n", msg);
    return 1;
  }
  double *x = malloc(sizeof(double) * (size_t)n * l_in);
  for (long i = 0; i < (long)n * l_in; i++) x[i] = unif(&seed) * 4 - 2;
  cp_contig src = {x, (long)c_in * l_in};
  int node = 0;
  double probs[3] = {0.95, 0.995, 0.5};
  for (int pi = 0; pi < 3; pi++) {
    double thr[2];
    int passes;
    if (cp_thresholds(&net, cp_fetch_contig, &src, n, &node, 1, probs[pi], 32, 1, thr,
                      &passes) != CP_OK)
      return 1;
    cp_work w;
    if (cp_work_alloc(&w, &net, n, NULL, 1) != CP_OK) return 1;
    cp_forward(&net, x, n, CP_MODE_INFER, &w);
    for (int c = 0; c < 2; c++) {
      long nv = (long)n * l_out;
      double *all = malloc(sizeof(double) * (size_t)nv);
      for (int s = 0; s < n; s++)
        for (int t = 0; t < l_out; t++)
          all[(long)s * l_out + t] = w.y[0][((long)s * 2 + c) * l_out + t];
      qsort(all, (size_t)nv, sizeof(double), cmp);
      double index = 1.0 + (double)(nv - 1) * probs[pi], lo = floor(index);
      double q = all[(long)lo - 1], xh = all[(long)ceil(index) - 1];
      if (index > lo && xh != q) q = (1.0 - (index - lo)) * q + (index - lo) * xh;
      if (q != thr[c]) {
        printf("threshold mismatch: prob %g channel %d: %.17g vs %.17g\n", probs[pi], c, thr[c], q);
        bad++;
      }
      free(all);
    }
    cp_work_free(&w, &net);
  }
  free(x);
  printf("%s (%d problems)\n", bad ? "FAIL" : "ok", bad);
  return bad != 0;
}
