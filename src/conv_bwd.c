/* Weight gradient of a stride-1 1-D convolution, register-blocked:
 * 4 output channels x 3 kernel taps of vector accumulators over time (time
 * innermost), summed horizontally at the end. The same body is compiled for
 * AVX2+FMA and for the baseline and chosen by the CPU's features at run time
 * (as conv.c). */
#include "backward.h"
#include "cp_simd.h"

#define DW_OB 4
#define DW_KB 3


static inline CP_ALWAYS_INLINE void dw_body(const double *xp, int c_in, int lp,
                                            const double *g, int c_out, int l_out, int k,
                                            int dil, double *dw) {
  (void)lp;
  const long ws = (long)c_in * k;
  const int o_full = c_out - c_out % DW_OB;
  const int k_full = k - k % DW_KB;
#ifdef CP_HAVE_VEC
  const int t_vec = l_out - l_out % 4;
#else
  const int t_vec = 0;
#endif
  for (int o0 = 0; o0 < o_full; o0 += DW_OB) {
    const double *g0 = g + (long)o0 * l_out, *g1 = g0 + l_out, *g2 = g1 + l_out,
                 *g3 = g2 + l_out;
    for (int i = 0; i < c_in; i++) {
      const double *xi = xp + (long)i * lp;
      double *d0 = dw + (long)o0 * ws + (long)i * k;
      for (int k0 = 0; k0 < k_full; k0 += DW_KB) {
        const double *xa = xi + (long)k0 * dil, *xb = xa + dil, *xc = xb + dil;
        double s[DW_OB][DW_KB];
#ifdef CP_HAVE_VEC
        cp_v4 z = {0.0, 0.0, 0.0, 0.0};
        cp_v4 a00 = z, a01 = z, a02 = z, a10 = z, a11 = z, a12 = z;
        cp_v4 a20 = z, a21 = z, a22 = z, a30 = z, a31 = z, a32 = z;
        for (int t = 0; t < t_vec; t += 4) {
          cp_v4 x0, x1, x2, gv;
          V4_LOAD(x0, xa + t); V4_LOAD(x1, xb + t); V4_LOAD(x2, xc + t);
          V4_LOAD(gv, g0 + t);
          a00 += gv * x0; a01 += gv * x1; a02 += gv * x2;
          V4_LOAD(gv, g1 + t);
          a10 += gv * x0; a11 += gv * x1; a12 += gv * x2;
          V4_LOAD(gv, g2 + t);
          a20 += gv * x0; a21 += gv * x1; a22 += gv * x2;
          V4_LOAD(gv, g3 + t);
          a30 += gv * x0; a31 += gv * x1; a32 += gv * x2;
        }
        s[0][0] = V4_HSUM(a00); s[0][1] = V4_HSUM(a01); s[0][2] = V4_HSUM(a02);
        s[1][0] = V4_HSUM(a10); s[1][1] = V4_HSUM(a11); s[1][2] = V4_HSUM(a12);
        s[2][0] = V4_HSUM(a20); s[2][1] = V4_HSUM(a21); s[2][2] = V4_HSUM(a22);
        s[3][0] = V4_HSUM(a30); s[3][1] = V4_HSUM(a31); s[3][2] = V4_HSUM(a32);
#else
        memset(s, 0, sizeof s);
#endif
        for (int t = t_vec; t < l_out; t++) {
          const double gq[DW_OB] = {g0[t], g1[t], g2[t], g3[t]};
          for (int q = 0; q < DW_OB; q++) {
            s[q][0] += gq[q] * xa[t];
            s[q][1] += gq[q] * xb[t];
            s[q][2] += gq[q] * xc[t];
          }
        }
        for (int q = 0; q < DW_OB; q++) {
          double *dq = d0 + (long)q * ws + k0;
          dq[0] += s[q][0];
          dq[1] += s[q][1];
          dq[2] += s[q][2];
        }
      }
      /* remaining taps: 4 output channels x 1 tap */
      for (int kk = k_full; kk < k; kk++) {
        const double *xa = xi + (long)kk * dil;
        double s[DW_OB];
#ifdef CP_HAVE_VEC
        cp_v4 a0 = {0.0, 0.0, 0.0, 0.0}, a1 = a0, a2 = a0, a3 = a0;
        for (int t = 0; t < t_vec; t += 4) {
          cp_v4 x0, gv;
          V4_LOAD(x0, xa + t);
          V4_LOAD(gv, g0 + t); a0 += gv * x0;
          V4_LOAD(gv, g1 + t); a1 += gv * x0;
          V4_LOAD(gv, g2 + t); a2 += gv * x0;
          V4_LOAD(gv, g3 + t); a3 += gv * x0;
        }
        s[0] = V4_HSUM(a0); s[1] = V4_HSUM(a1); s[2] = V4_HSUM(a2); s[3] = V4_HSUM(a3);
#else
        s[0] = s[1] = s[2] = s[3] = 0.0;
#endif
        for (int t = t_vec; t < l_out; t++) {
          s[0] += g0[t] * xa[t];
          s[1] += g1[t] * xa[t];
          s[2] += g2[t] * xa[t];
          s[3] += g3[t] * xa[t];
        }
        for (int q = 0; q < DW_OB; q++) d0[(long)q * ws + kk] += s[q];
      }
    }
  }
  /* remaining output channels, one at a time */
  for (int o = o_full; o < c_out; o++) {
    const double *go = g + (long)o * l_out;
    for (int i = 0; i < c_in; i++) {
      const double *xi = xp + (long)i * lp;
      double *d = dw + (long)o * ws + (long)i * k;
      for (int kk = 0; kk < k; kk++) {
        const double *xa = xi + (long)kk * dil;
        double s = 0.0;
        for (int t = 0; t < l_out; t++) s += go[t] * xa[t];
        d[kk] += s;
      }
    }
  }
}

#ifdef CP_DISPATCH
CP_TARGET_AVX2 static void dw_avx2(const double *xp, int c_in, int lp, const double *g,
                                   int c_out, int l_out, int k, int dil, double *dw) {
  dw_body(xp, c_in, lp, g, c_out, l_out, k, dil, dw);
}
#endif

static void dw_base(const double *xp, int c_in, int lp, const double *g, int c_out,
                    int l_out, int k, int dil, double *dw) {
  dw_body(xp, c_in, lp, g, c_out, l_out, k, dil, dw);
}

void cp_conv1d_dw(const double *xp, int c_in, int lp, const double *g, int c_out, int l_out,
                  int k, int dil, double *dw) {
#ifdef CP_DISPATCH
  if (CP_CPU_AVX2_FMA()) {
    dw_avx2(xp, c_in, lp, g, c_out, l_out, k, dil, dw);
    return;
  }
#endif
  dw_base(xp, c_in, lp, g, c_out, l_out, k, dil, dw);
}
