/* 1-D convolution kernel: register-blocked over output channels and time,
 * time innermost so that it vectorises. Compiled twice on x86-64 Linux with
 * GCC (AVX2+FMA and the baseline), chosen at load time. */
#include <stdlib.h>
#include <string.h>
#include "net.h"
#include "cp_simd.h"

#define OB 4   /* output channels per block */
#define TB 12  /* time points per block (three vectors of four) */


/* Shape of a stride-1 convolution's input: c_in channels of length lp, k
 * taps dil apart. The blocks loop over channels and, inside, over taps (in
 * the order of the weights): direct addressing, no table of offsets. */
typedef struct {
  int c_in, lp, k, dil;
} cgeom;

#ifndef CP_HAVE_VEC
/* Without vector extensions: OB output channels x nt <= TB time points. */
static void block_scalar(const double *xp, cgeom G, const double *w, long ws, int o0, int t0,
                         int nt, const double *b, double *y, int l_out) {
  double acc[OB][TB];
  for (int o = 0; o < OB; o++)
    for (int t = 0; t < nt; t++) acc[o][t] = b[o0 + o];
  for (int i = 0; i < G.c_in; i++)
    for (int kk = 0; kk < G.k; kk++) {
      const double *xk = xp + (long)i * G.lp + (long)kk * G.dil + t0;
      const long j = (long)i * G.k + kk;
      for (int o = 0; o < OB; o++) {
        double wv = w[(long)(o0 + o) * ws + j];
        for (int t = 0; t < nt; t++) acc[o][t] += wv * xk[t];
      }
    }
  for (int o = 0; o < OB; o++)
    for (int t = 0; t < nt; t++) y[(long)(o0 + o) * l_out + t0 + t] = acc[o][t];
}
#endif

/* Full block: OB output channels x TB time points, stride 1. */
static inline CP_ALWAYS_INLINE void block_s1(const double *xp, cgeom G,
                                             const double *w, long ws, int o0, int t0,
                                             const double *b, double *y, int l_out) {
#ifdef CP_HAVE_VEC
  cp_v4 a00, a10, a20, a30;
  V4_SET1(a00, b[o0]); V4_SET1(a10, b[o0 + 1]); V4_SET1(a20, b[o0 + 2]); V4_SET1(a30, b[o0 + 3]);
  cp_v4 a01 = a00, a02 = a00, a11 = a10, a12 = a10, a21 = a20, a22 = a20, a31 = a30, a32 = a30;
  const double *w0 = w + (long)o0 * ws, *w1 = w0 + ws, *w2 = w1 + ws, *w3 = w2 + ws;
  for (int i = 0; i < G.c_in; i++) {
    const double *xi = xp + (long)i * G.lp + t0;
    for (int kk = 0; kk < G.k; kk++) {
      const double *xk = xi + (long)kk * G.dil;
      cp_v4 x0, x1, x2, wv;
      V4_LOAD(x0, xk); V4_LOAD(x1, xk + 4); V4_LOAD(x2, xk + 8);
      V4_SET1(wv, *w0++);
      a00 += wv * x0; a01 += wv * x1; a02 += wv * x2;
      V4_SET1(wv, *w1++);
      a10 += wv * x0; a11 += wv * x1; a12 += wv * x2;
      V4_SET1(wv, *w2++);
      a20 += wv * x0; a21 += wv * x1; a22 += wv * x2;
      V4_SET1(wv, *w3++);
      a30 += wv * x0; a31 += wv * x1; a32 += wv * x2;
    }
  }
  double *y0 = y + (long)o0 * l_out + t0;
  V4_STORE(y0, a00); V4_STORE(y0 + 4, a01); V4_STORE(y0 + 8, a02);
  y0 += l_out;
  V4_STORE(y0, a10); V4_STORE(y0 + 4, a11); V4_STORE(y0 + 8, a12);
  y0 += l_out;
  V4_STORE(y0, a20); V4_STORE(y0 + 4, a21); V4_STORE(y0 + 8, a22);
  y0 += l_out;
  V4_STORE(y0, a30); V4_STORE(y0 + 4, a31); V4_STORE(y0 + 8, a32);
#else
  block_scalar(xp, G, w, ws, o0, t0, TB, b, y, l_out);
#endif
}

/* Partial block: OB output channels x 4 time points, stride 1. */
static inline CP_ALWAYS_INLINE void block4_s1(const double *xp, cgeom G,
                                              const double *w, long ws, int o0, int t0,
                                              const double *b, double *y, int l_out) {
#ifdef CP_HAVE_VEC
  cp_v4 a0, a1, a2, a3;
  V4_SET1(a0, b[o0]); V4_SET1(a1, b[o0 + 1]); V4_SET1(a2, b[o0 + 2]); V4_SET1(a3, b[o0 + 3]);
  const double *w0 = w + (long)o0 * ws, *w1 = w0 + ws, *w2 = w1 + ws, *w3 = w2 + ws;
  for (int i = 0; i < G.c_in; i++) {
    const double *xi = xp + (long)i * G.lp + t0;
    for (int kk = 0; kk < G.k; kk++) {
      cp_v4 x0, wv;
      V4_LOAD(x0, xi + (long)kk * G.dil);
      V4_SET1(wv, *w0++); a0 += wv * x0;
      V4_SET1(wv, *w1++); a1 += wv * x0;
      V4_SET1(wv, *w2++); a2 += wv * x0;
      V4_SET1(wv, *w3++); a3 += wv * x0;
    }
  }
  double *y0 = y + (long)o0 * l_out + t0;
  V4_STORE(y0, a0); V4_STORE(y0 + l_out, a1);
  V4_STORE(y0 + 2L * l_out, a2); V4_STORE(y0 + 3L * l_out, a3);
#else
  block_scalar(xp, G, w, ws, o0, t0, 4, b, y, l_out);
#endif
}

/* Generic single output channel over a time range, any stride. The sum of
 * each output point stays in a register (same order of terms as the blocks:
 * bias, then channel by channel, tap by tap). */
static inline CP_ALWAYS_INLINE void row_generic(const double *xp, int c_in, int lp, const double *w, int k,
                               int stride, int dil, int o, int t_from, int t_to,
                               const double *b, double *y, int l_out) {
  double *yo = y + (long)o * l_out;
  const double *wo = w + (long)o * c_in * k;
  for (int t = t_from; t < t_to; t++) {
    const double *xt = xp + (long)t * stride;
    double acc = b[o];
    for (int i = 0; i < c_in; i++) {
      const double *xi = xt + (long)i * lp;
      const double *wi = wo + (long)i * k;
      for (int kk = 0; kk < k; kk++) acc += wi[kk] * xi[(long)kk * dil];
    }
    yo[t] = acc;
  }
}

/* One output channel x TB time points, stride 1 (channels left over by the
 * OB blocks). */
static inline CP_ALWAYS_INLINE void block1_s1(const double *xp, cgeom G,
                                              const double *w, long ws, int o, int t0,
                                              const double *b, double *y, int l_out) {
#ifdef CP_HAVE_VEC
  cp_v4 acc[TB / 4];
  for (int q = 0; q < TB / 4; q++) V4_SET1(acc[q], b[o]);
  const double *w0 = w + (long)o * ws;
  for (int j = 0; j < G.c_in * G.k; j++) {
    const double *xk = xp + (long)(j / G.k) * G.lp + (long)(j % G.k) * G.dil + t0;
    cp_v4 wv;
    V4_SET1(wv, w0[j]);
    for (int q = 0; q < TB / 4; q++) {
      cp_v4 xv;
      V4_LOAD(xv, xk + 4 * q);
      acc[q] += wv * xv;
    }
  }
  for (int q = 0; q < TB / 4; q++) V4_STORE(y + (long)o * l_out + t0 + 4 * q, acc[q]);
#else
  double acc[TB];
  for (int t = 0; t < TB; t++) acc[t] = b[o];
  for (int j = 0; j < G.c_in * G.k; j++) {
    const double *xk = xp + (long)(j / G.k) * G.lp + (long)(j % G.k) * G.dil + t0;
    const double wv = w[(long)o * ws + j];
    for (int t = 0; t < TB; t++) acc[t] += wv * xk[t];
  }
  for (int t = 0; t < TB; t++) y[(long)o * l_out + t0 + t] = acc[t];
#endif
}

/* Stride-1 convolution (any dilation). */
static inline CP_ALWAYS_INLINE void conv_s1(const double *xp, int c_in, int lp, const double *w,
                                            const double *b, int c_out, int l_out, int k,
                                            int dil, double *y) {
  const cgeom G = {c_in, lp, k, dil};
  const long ws = (long)c_in * k;
  const int o_full = c_out - c_out % OB;
  const int t_full = l_out - l_out % TB;
  const int rem = l_out - t_full;
  /* The time points past the last full block are covered by blocks that
   * end at l_out and overlap the previous ones: the points computed twice
   * get the same value (same operations in the same order), and no scalar
   * loop remains. A remainder of more than 8 points takes one overlapping
   * TB block, a smaller one blocks of 4 (the last one overlapping). */
  const int big_tail = t_full > 0 && rem > 8;
  const int t_four = big_tail ? t_full : t_full + (rem - rem % 4);
  const int four_tail = !big_tail && t_four < l_out;
  for (int o0 = 0; o0 < o_full; o0 += OB) {
    for (int t0 = 0; t0 < t_full; t0 += TB)
      block_s1(xp, G, w, ws, o0, t0, b, y, l_out);
    if (big_tail) block_s1(xp, G, w, ws, o0, l_out - TB, b, y, l_out);
    for (int t0 = t_full; t0 < t_four; t0 += 4)
      block4_s1(xp, G, w, ws, o0, t0, b, y, l_out);
    if (four_tail) {
      if (l_out >= 4) {
        block4_s1(xp, G, w, ws, o0, l_out - 4, b, y, l_out);
      } else {
        for (int o = o0; o < o0 + OB; o++)
          row_generic(xp, c_in, lp, w, k, 1, dil, o, t_four, l_out, b, y, l_out);
      }
    }
  }
  for (int o = o_full; o < c_out; o++) {
    if (l_out >= TB) {
      for (int t0 = 0; t0 < t_full; t0 += TB) block1_s1(xp, G, w, ws, o, t0, b, y, l_out);
      if (rem) block1_s1(xp, G, w, ws, o, l_out - TB, b, y, l_out);
    } else {
      row_generic(xp, c_in, lp, w, k, 1, dil, o, 0, l_out, b, y, l_out);
    }
  }
}

#ifdef CP_DISPATCH
CP_TARGET_AVX2 static void conv_s1_avx2(const double *xp, int c_in, int lp, const double *w,
                                        const double *b, int c_out, int l_out, int k, int dil,
                                        double *y) {
  conv_s1(xp, c_in, lp, w, b, c_out, l_out, k, dil, y);
}
#endif

static void conv_s1_base(const double *xp, int c_in, int lp, const double *w, const double *b,
                         int c_out, int l_out, int k, int dil, double *y) {
  conv_s1(xp, c_in, lp, w, b, c_out, l_out, k, dil, y);
}

static void conv_s1_dispatch(const double *xp, int c_in, int lp, const double *w,
                             const double *b, int c_out, int l_out, int k, int dil, double *y) {
#ifdef CP_DISPATCH
  if (CP_CPU_AVX2_FMA()) {
    conv_s1_avx2(xp, c_in, lp, w, b, c_out, l_out, k, dil, y);
    return;
  }
#endif
  conv_s1_base(xp, c_in, lp, w, b, c_out, l_out, k, dil, y);
}

/* A stride-s convolution is a stride-1 convolution over s phases of the
 * input: phase p of channel i holds x[i][u*s + p]. Tap kk reads phase
 * (kk*dil) % s at offset (kk*dil) / s, so the phase kernel has
 * kq = ((k-1)*dil)/s + 1 taps, zero where no original tap falls. */
/* Doubles of phases and phase kernel a strided convolution keeps on the
 * stack (32 KB). */
#define CP_PHASE_STACK 4096

void cp_conv1d(const double *xp, int c_in, int lp, const double *w, const double *b,
               int c_out, int l_out, int k, int stride, int dil, double *y) {
  if (stride == 1) {
    conv_s1_dispatch(xp, c_in, lp, w, b, c_out, l_out, k, dil, y);
    return;
  }
  const int s = stride;
  const int kq = ((k - 1) * dil) / s + 1;
  const int lq = l_out + kq - 1; /* phase length needed */
  const int cq = c_in * s;
  /* the phases and the phase kernel: on the stack when small (this runs
   * once per sample and pass), else on the heap */
  const size_t nx = (size_t)cq * (size_t)lq, need = nx + (size_t)c_out * cq * kq;
  double stack_buf[CP_PHASE_STACK];
  double *buf = need <= CP_PHASE_STACK ? stack_buf : malloc(sizeof(double) * need);
  if (!buf) {
    for (int o = 0; o < c_out; o++)
      row_generic(xp, c_in, lp, w, k, stride, dil, o, 0, l_out, b, y, l_out);
    return;
  }
  double *xq = buf, *wq = buf + nx;
  memset(wq, 0, sizeof(double) * (need - nx));
  for (int i = 0; i < c_in; i++)
    for (int p = 0; p < s; p++) {
      double *d = xq + ((long)i * s + p) * lq;
      for (int u = 0; u < lq; u++) {
        long src = (long)u * s + p;
        d[u] = src < lp ? xp[(long)i * lp + src] : 0.0;
      }
    }
  for (int o = 0; o < c_out; o++)
    for (int i = 0; i < c_in; i++)
      for (int kk = 0; kk < k; kk++) {
        int off = kk * dil;
        wq[((long)o * cq + (long)i * s + off % s) * kq + off / s] =
            w[((long)o * c_in + i) * k + kk];
      }
  conv_s1_dispatch(xq, cq, lq, wq, b, c_out, l_out, kq, 1, y);
  if (buf != stack_buf) free(buf);
}
