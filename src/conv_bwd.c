/* Weight gradient of a stride-1 1-D convolution over a group of samples,
 * register-blocked: tiles of up to 12 output channels (three vectors of four,
 * from the transposed output gradient) x 4 kernel taps, each accumulator
 * summing over the samples and time points of the group in one lane, so no
 * horizontal sums are needed and every sum runs in the order (sample, time).
 * The same body is compiled for AVX2+FMA and for the baseline and chosen by
 * the CPU's features at run time (as conv.c). */
#include "backward.h"
#include "cp_simd.h"

#define DW_NV 3 /* vectors of 4 output channels per tile */
#define DW_NT 4 /* kernel taps per tile */

#if defined(__GNUC__) && !defined(__clang__)
#define CP_UNROLL4 _Pragma("GCC unroll 4")
#else
#define CP_UNROLL4
#endif

#ifdef CP_HAVE_VEC
/* One tile: nv vectors of output channels o0.. x nt taps k0.. of input
 * channel i. nv and nt are constants after inlining, so the accumulators
 * live in registers. */
static inline CP_ALWAYS_INLINE void dw_tile(const double *const *xs, int ns, long xoff,
                                            const double *gT, long gs, int cop, int l_out,
                                            int dil, int o0, int c_out, long ws, int k0,
                                            double *dw, const int nv, const int nt) {
  cp_v4 acc[DW_NV][DW_NT];
  CP_UNROLL4
  for (int v = 0; v < nv; v++)
    CP_UNROLL4
    for (int q = 0; q < nt; q++) acc[v][q] = (cp_v4){0.0, 0.0, 0.0, 0.0};
  for (int s = 0; s < ns; s++) {
    const double *x = xs[s] + xoff;
    const double *g = gT + (long)s * gs + o0;
    for (int t = 0; t < l_out; t++) {
      /* named vectors: an array of them would live on the stack */
      const double *gt = g + (long)t * cop;
      cp_v4 g0, g1 = {0.0, 0.0, 0.0, 0.0}, g2 = g1;
      V4_LOAD(g0, gt);
      if (nv > 1) V4_LOAD(g1, gt + 4);
      if (nv > 2) V4_LOAD(g2, gt + 8);
      CP_UNROLL4
      for (int q = 0; q < nt; q++) {
        cp_v4 b;
        V4_SET1(b, x[t + (long)q * dil]);
        acc[0][q] += g0 * b;
        if (nv > 1) acc[1][q] += g1 * b;
        if (nv > 2) acc[2][q] += g2 * b;
      }
    }
  }
  CP_UNROLL4
  for (int v = 0; v < nv; v++)
    CP_UNROLL4
    for (int e = 0; e < 4; e++) {
      const int o = o0 + 4 * v + e;
      if (o >= c_out) break;
      double *d = dw + (long)o * ws + k0;
      CP_UNROLL4
      for (int q = 0; q < nt; q++) d[q] += acc[v][q][e];
    }
}

#define DW_TILE_NT(nv, nt)                                                            \
  dw_tile(xs, ns, xoff, gT, gs, cop, l_out, dil, o0, c_out, ws, k0, dw + (long)i * k, \
          nv, nt)
#define DW_TILE(nv)                                                                  \
  switch (nt) {                                                                      \
  case 4: DW_TILE_NT(nv, 4); break;                                                  \
  case 3: DW_TILE_NT(nv, 3); break;                                                  \
  case 2: DW_TILE_NT(nv, 2); break;                                                  \
  default: DW_TILE_NT(nv, 1); break;                                                 \
  }

static inline CP_ALWAYS_INLINE void dw_body(const double *const *xs, int ns, int c_in, int lp,
                                            const double *gT, int c_out, int l_out, int k,
                                            int dil, double *dw) {
  const int cop = (c_out + 3) & ~3;
  const long gs = (long)l_out * cop, ws = (long)c_in * k;
  for (int o0 = 0; o0 < cop; o0 += 4 * DW_NV) {
    const int nv = (cop - o0) / 4 < DW_NV ? (cop - o0) / 4 : DW_NV;
    for (int i = 0; i < c_in; i++)
      for (int k0 = 0; k0 < k; k0 += DW_NT) {
        const int nt = k - k0 < DW_NT ? k - k0 : DW_NT;
        const long xoff = (long)i * lp + (long)k0 * dil;
        if (nv == 3) {
          DW_TILE(3)
        } else if (nv == 2) {
          DW_TILE(2)
        } else {
          DW_TILE(1)
        }
      }
  }
}
#else
static void dw_body(const double *const *xs, int ns, int c_in, int lp, const double *gT,
                    int c_out, int l_out, int k, int dil, double *dw) {
  const int cop = (c_out + 3) & ~3;
  const long gs = (long)l_out * cop;
  for (int o = 0; o < c_out; o++)
    for (int i = 0; i < c_in; i++)
      for (int kk = 0; kk < k; kk++) {
        double a = 0.0;
        for (int s = 0; s < ns; s++) {
          const double *x = xs[s] + (long)i * lp + (long)kk * dil;
          const double *g = gT + (long)s * gs + o;
          for (int t = 0; t < l_out; t++) a += g[(long)t * cop] * x[t];
        }
        dw[((long)o * c_in + i) * k + kk] += a;
      }
}
#endif

#ifdef CP_DISPATCH
CP_TARGET_AVX2 static void dw_avx2(const double *const *xs, int ns, int c_in, int lp,
                                   const double *gT, int c_out, int l_out, int k, int dil,
                                   double *dw) {
  dw_body(xs, ns, c_in, lp, gT, c_out, l_out, k, dil, dw);
}
#endif

static void dw_base(const double *const *xs, int ns, int c_in, int lp, const double *gT,
                    int c_out, int l_out, int k, int dil, double *dw) {
  dw_body(xs, ns, c_in, lp, gT, c_out, l_out, k, dil, dw);
}

void cp_conv1d_dw(const double *const *xs, int ns, int c_in, int lp, const double *gT,
                  int c_out, int l_out, int k, int dil, double *dw) {
#ifdef CP_DISPATCH
  if (CP_CPU_AVX2_FMA()) {
    dw_avx2(xs, ns, c_in, lp, gT, c_out, l_out, k, dil, dw);
    return;
  }
#endif
  dw_base(xs, ns, c_in, lp, gT, c_out, l_out, k, dil, dw);
}

/* Each channel's sum runs over time in order (as a scalar loop would), four
 * vectors of channels at a time so that the additions overlap. */
static inline CP_ALWAYS_INLINE void db_body(const double *gT, int c_out, int l_out, double *db) {
  const int cop = (c_out + 3) & ~3;
  int o0 = 0;
#ifdef CP_HAVE_VEC
  for (; o0 + 16 <= cop; o0 += 16) {
    cp_v4 a0 = {0.0, 0.0, 0.0, 0.0}, a1 = a0, a2 = a0, a3 = a0;
    for (int t = 0; t < l_out; t++) {
      const double *r = gT + (long)t * cop + o0;
      cp_v4 v0, v1, v2, v3;
      V4_LOAD(v0, r); V4_LOAD(v1, r + 4); V4_LOAD(v2, r + 8); V4_LOAD(v3, r + 12);
      a0 += v0; a1 += v1; a2 += v2; a3 += v3;
    }
    double s[16];
    V4_STORE(s, a0); V4_STORE(s + 4, a1); V4_STORE(s + 8, a2); V4_STORE(s + 12, a3);
    for (int e = 0; e < 16 && o0 + e < c_out; e++) db[o0 + e] += s[e];
  }
#endif
  for (int o = o0; o < c_out; o++) {
    double a = 0.0;
    for (int t = 0; t < l_out; t++) a += gT[(long)t * cop + o];
    db[o] += a;
  }
}

#ifdef CP_DISPATCH
CP_TARGET_AVX2 static void db_avx2(const double *gT, int c_out, int l_out, double *db) {
  db_body(gT, c_out, l_out, db);
}
#endif

static void db_base(const double *gT, int c_out, int l_out, double *db) {
  db_body(gT, c_out, l_out, db);
}

void cp_bias_grad(const double *gT, int c_out, int l_out, double *db) {
#ifdef CP_DISPATCH
  if (CP_CPU_AVX2_FMA()) {
    db_avx2(gT, c_out, l_out, db);
    return;
  }
#endif
  db_base(gT, c_out, l_out, db);
}

void cp_transpose_grad(const double *g, int c_out, int l_out, double *gT) {
  const int cop = (c_out + 3) & ~3;
  for (int t = 0; t < l_out; t++) {
    double *d = gT + (long)t * cop;
    for (int o = c_out; o < cop; o++) d[o] = 0.0;
  }
  /* blocks of 4 channels x 4 time points keep reads and writes local */
  int o = 0;
  for (; o + 4 <= c_out; o += 4) {
    const double *g0 = g + (long)o * l_out, *g1 = g0 + l_out, *g2 = g1 + l_out,
                 *g3 = g2 + l_out;
    for (int t = 0; t < l_out; t++) {
      double *d = gT + (long)t * cop + o;
      d[0] = g0[t];
      d[1] = g1[t];
      d[2] = g2[t];
      d[3] = g3[t];
    }
  }
  for (; o < c_out; o++)
    for (int t = 0; t < l_out; t++) gT[(long)t * cop + o] = g[(long)o * l_out + t];
}
