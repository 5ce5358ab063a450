/* FFT convolution for the forward pass at inference (see conv_fast.h).
 *
 * A convolution of stride s and dilation d is first a stride-1 correlation
 * over ce = c_in * s phase channels (phase p of channel i holds the padded
 * input at u * s + p) with a phase kernel of `span` taps, exactly as the
 * direct kernel splits it (conv.c). Output t reads phase positions
 * t .. t + span - 1. The outputs are computed in blocks of m = N - span + 1
 * (overlap-save): the block's N input positions go through a real FFT of
 * length N (a complex FFT of length M = N / 2 and the usual split), each
 * frequency bin of each output channel is the sum over input channels of
 * the conjugate kernel spectrum times the input spectrum, and an inverse
 * real FFT gives the block's outputs (the last span - 1 are wrapped and
 * dropped). Per block the cost is ce forward FFTs, ce * c_out complex
 * multiply-adds per bin and c_out inverse FFTs, against ce * c_out * span
 * multiply-adds per output point directly.
 *
 * Vector layout: the FFTs run four channels at a time, one per lane of a
 * four-double vector; the spectra of a block are stored [bin][re, im]
 * [channel], the kernel spectra [bin][eight output channels][input
 * channel][re 8, im 8], so that the sum over input channels multiplies
 * vectors of output channels by one input value (three real products per
 * complex one, see below). Bin 0 holds the real values at frequency 0 (re)
 * and N / 2 (im). The sums over input channels run in the same order for
 * every sample, whatever the tile it falls in, so a sample's result does
 * not depend on the others (or on the threads). Blocks of several samples
 * go through the sums together (a batch), so that the kernel spectra are
 * read from memory once per batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "conv_fast.h"
#include "cp_simd.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Segments (sample x block) whose spectra are held at once. */
#define FC_MAX_SEG 96
/* Padding of strides, in doubles (a cache line). */
#define FC_PAD 8
/* Longest block (so M fits the tables below in a few hundred KB). */
#define FC_MAX_N 8192

struct cp_fconv {
  int c_in, c_out, l_in, l_out, stride, pad_l;
  int ce, ce4, co8;   /* phase channels, rounded up to 4; outputs rounded up to 8 */
  int span;           /* taps of the phase kernel */
  int N, M, m, nblk;  /* block length, half of it, outputs per block, blocks */
  int sb;             /* segments per batch */
  double *wf;         /* kernel spectra [M][co8 / 8][ce][re 8, im 8], by 1 / (4 N) */
  double *ct, *st;    /* cos, sin of 2 pi q / M, q < M */
  double *rc, *rs;    /* cos, sin of 2 pi k / N, k < M */
  int *rev;           /* bit reversal of log2(M) bits */
  double *bias;       /* c_out */
};

#ifdef CP_HAVE_VEC

/* ---- FFT of four real sequences at once ----------------------------------- */

typedef long long fc_m4 __attribute__((vector_size(32)));
/* Rows a, b, c, d of a 4 x 4 block become its columns. */
#define TRANSPOSE4(a, b, c, d)                                              \
  do {                                                                      \
    cp_v4 t0_ = __builtin_shuffle(a, b, (fc_m4){0, 4, 2, 6});               \
    cp_v4 t1_ = __builtin_shuffle(a, b, (fc_m4){1, 5, 3, 7});               \
    cp_v4 t2_ = __builtin_shuffle(c, d, (fc_m4){0, 4, 2, 6});               \
    cp_v4 t3_ = __builtin_shuffle(c, d, (fc_m4){1, 5, 3, 7});               \
    a = __builtin_shuffle(t0_, t2_, (fc_m4){0, 1, 4, 5});                   \
    b = __builtin_shuffle(t1_, t3_, (fc_m4){0, 1, 4, 5});                   \
    c = __builtin_shuffle(t0_, t2_, (fc_m4){2, 3, 6, 7});                   \
    d = __builtin_shuffle(t1_, t3_, (fc_m4){2, 3, 6, 7});                   \
  } while (0)

/* (xr, xi) times the twiddle (wr, wi) into (tr, ti). */
#define CMUL(tr, ti, xr, xi, wr, wi) \
  cp_v4 tr = wr * xr - wi * xi;      \
  cp_v4 ti = wr * xi + wi * xr

/* In-place FFT of length M >= 2 of re + i im (vectors of four lanes),
 * input in bit-reversed order, output in natural order: a radix-2 step
 * when log2(M) is odd, then radix-4 steps (each two radix-2
 * decimation-in-time stages in one pass: blocks of L points become blocks
 * of 4L). ct, st: cos, sin of 2 pi q / M, q < M. inv: conjugate twiddles
 * (no scaling). */
static inline CP_ALWAYS_INLINE void fft_core(cp_v4 *re, cp_v4 *im, int M, const double *ct,
                                             const double *st, int inv) {
  int L = 1;
  if (__builtin_ctz((unsigned)M) & 1) {
    for (int j = 0; j < M; j += 2) {
      cp_v4 a = re[j], b = re[j + 1];
      re[j] = a + b;
      re[j + 1] = a - b;
      a = im[j];
      b = im[j + 1];
      im[j] = a + b;
      im[j + 1] = a - b;
    }
    L = 2;
  }
  const double sg = inv ? 1.0 : -1.0;
  for (; L < M; L *= 4) {
    const int step = M / (4 * L);
    for (int k = 0; k < L; k++) {
      cp_v4 w1r, w1i, w2r, w2i, w3r, w3i;
      V4_SET1(w1r, ct[k * step]);
      V4_SET1(w1i, sg * st[k * step]);
      V4_SET1(w2r, ct[2 * k * step]);
      V4_SET1(w2i, sg * st[2 * k * step]);
      V4_SET1(w3r, ct[3 * k * step]);
      V4_SET1(w3i, sg * st[3 * k * step]);
      for (int j = k; j < M; j += 4 * L) {
        const int i1 = j + L, i2 = j + 2 * L, i3 = j + 3 * L;
        cp_v4 x0r = re[j], x0i = im[j];
        CMUL(t1r, t1i, re[i1], im[i1], w2r, w2i);
        CMUL(t2r, t2i, re[i2], im[i2], w1r, w1i);
        CMUL(t3r, t3i, re[i3], im[i3], w3r, w3i);
        cp_v4 ar = x0r + t1r, ai = x0i + t1i, br = x0r - t1r, bi = x0i - t1i;
        cp_v4 cr = t2r + t3r, ci = t2i + t3i, dr = t2r - t3r, di = t2i - t3i;
        re[j] = ar + cr;
        im[j] = ai + ci;
        re[i2] = ar - cr;
        im[i2] = ai - ci;
        if (inv) { /* b + i d, b - i d */
          re[i1] = br - di;
          im[i1] = bi + dr;
          re[i3] = br + di;
          im[i3] = bi - dr;
        } else { /* b - i d, b + i d */
          re[i1] = br + di;
          im[i1] = bi - dr;
          re[i3] = br - di;
          im[i3] = bi + dr;
        }
      }
    }
  }
}

/* Forward real FFT of four rows of N = 2 M values (rows[l * N + u]):
 * writes twice the spectrum, bins 0 .. M - 1, as vectors re at
 * out + k * ostride and im at + imoff; bin 0 holds the values at frequency 0 (re) and N / 2 (im). */
static inline CP_ALWAYS_INLINE void rfft4(const cp_fconv *p, const double *rows, cp_v4 *re,
                                          cp_v4 *im, double *out, long ostride, long imoff) {
  const int M = p->M, N = p->N;
  const double *r0 = rows, *r1 = r0 + N, *r2 = r1 + N, *r3 = r2 + N;
  for (int n = 0; n < M; n += 2) {
    cp_v4 a, b, c, d;
    V4_LOAD(a, r0 + 2 * n);
    V4_LOAD(b, r1 + 2 * n);
    V4_LOAD(c, r2 + 2 * n);
    V4_LOAD(d, r3 + 2 * n);
    TRANSPOSE4(a, b, c, d);
    re[p->rev[n]] = a;
    im[p->rev[n]] = b;
    re[p->rev[n + 1]] = c;
    im[p->rev[n + 1]] = d;
  }
  fft_core(re, im, M, p->ct, p->st, 0);
  /* X2[k] = A - i e^{-i theta} B, A = Z[k] + conj Z[M-k], B = Z[k] - conj Z[M-k] */
  for (int k = 0; k <= M / 2; k++) {
    const int km = (M - k) & (M - 1);
    cp_v4 c, s;
    V4_SET1(c, p->rc[k]);
    V4_SET1(s, p->rs[k]);
    cp_v4 ar = re[k] + re[km], ai = im[k] - im[km];
    cp_v4 br = re[k] - re[km], bi = im[k] + im[km];
    cp_v4 tr = c * br + s * bi, ti = c * bi - s * br;
    double *o = out + (long)k * ostride;
    cp_v4 xr = ar + ti, xi = k == 0 ? ar - ti : ai - tr;
    V4_STORE(o, xr);
    V4_STORE(o + imoff, xi);
    if (k != 0 && km != k) {
      double *om = out + (long)km * ostride;
      xr = ar - ti;
      xi = -ai - tr;
      V4_STORE(om, xr);
      V4_STORE(om + imoff, xi);
    }
  }
}

/* Inverse real FFT of four spectra stored as rfft4 writes them (re, im):
 * re + i im end up holding N times the sequences, re[n] = x[2n],
 * im[n] = x[2n + 1]. */
static inline CP_ALWAYS_INLINE void irfft4(const cp_fconv *p, const double *in, long istride,
                                           long imoff, cp_v4 *re, cp_v4 *im) {
  const int M = p->M;
  for (int k = 0; k <= M / 2; k++) {
    const int km = (M - k) & (M - 1);
    const double *y = in + (long)k * istride;
    cp_v4 yr, yi;
    V4_LOAD(yr, y);
    V4_LOAD(yi, y + imoff);
    if (k == 0) {
      re[0] = yr + yi;
      im[0] = yr - yi;
      continue;
    }
    const double *ym = in + (long)km * istride;
    cp_v4 mr, mi, c, s;
    V4_LOAD(mr, ym);
    V4_LOAD(mi, ym + imoff);
    V4_SET1(c, p->rc[k]);
    V4_SET1(s, p->rs[k]);
    cp_v4 er = yr + mr, ei = yi - mi, dr = yr - mr, di = yi + mi;
    cp_v4 or_ = dr * c - di * s, oi = dr * s + di * c;
    re[p->rev[k]] = er - oi;
    im[p->rev[k]] = ei + or_;
    if (km != k) {
      re[p->rev[km]] = er + oi;
      im[p->rev[km]] = or_ - ei;
    }
  }
  fft_core(re, im, M, p->ct, p->st, 1);
}

/* ---- the sums over input channels in the frequency domain ----------------- */

/* The complex products as three real ones (the 3M method): with a kernel
 * value c + id and an input value a + ib, T1 = sum c a, T2 = sum d b and
 * T3 = sum (c + d)(a + b) over the input channels give the sum of the
 * products as (T1 - T2) + i (T3 - T1 - T2): three multiply-adds per
 * complex product instead of four. The kernel spectra are stored as
 * planes c, d of eight output channels per input channel (c + d is added
 * as it is read), the input spectra as planes a, b (a + b is formed for
 * one bin at a time). Each sum runs over the input channels in the same
 * order for every segment, whatever the tile it falls in. */

/* One real product: acc[t] = sum_e w[e] x_t[e] for eight output channels
 * (two vectors at w + 16 e, or with sum the sums of those at w + 16 e and
 * w + 16 e + 8) and S segments (S and sum constants after inlining). */
static inline CP_ALWAYS_INLINE void gemm8(const double *w, int ce, const double *const *x,
                                          int S, cp_v4 (*acc)[2], int sum) {
  const cp_v4 z = {0, 0, 0, 0};
#pragma GCC unroll 6
  for (int t = 0; t < S; t++) acc[t][0] = acc[t][1] = z;
  for (int e = 0; e < ce; e++) {
    cp_v4 w0, w1;
    V4_LOAD(w0, w + 16L * e);
    V4_LOAD(w1, w + 16L * e + 4);
    if (sum) {
      cp_v4 u0, u1;
      V4_LOAD(u0, w + 16L * e + 8);
      V4_LOAD(u1, w + 16L * e + 12);
      w0 += u0;
      w1 += u1;
    }
#pragma GCC unroll 6
    for (int t = 0; t < S; t++) {
      cp_v4 v;
      V4_SET1(v, x[t][e]);
      acc[t][0] += w0 * v;
      acc[t][1] += w1 * v;
    }
  }
}

/* Bin k of S segments (input spectra x[t], planes xpl apart, and their
 * sums xs[t]; outputs y[t], re then im at + yim) for eight output channels
 * (kernel planes wo). Bin 0 (real) takes T1 as re (frequency 0) and T2 as
 * im (frequency N / 2). */
static inline CP_ALWAYS_INLINE void mac_tile(const double *wo, int ce, long xpl,
                                             const double *const *x, const double *const *xs,
                                             double *const *y, long yim, int S, int real) {
  cp_v4 acc[6][2];
  const double *xp[6];
  gemm8(wo, ce, x, S, acc, 0);
#pragma GCC unroll 6
  for (int t = 0; t < S; t++) {
    V4_STORE(y[t], acc[t][0]);
    V4_STORE(y[t] + 4, acc[t][1]);
    xp[t] = x[t] + xpl;
  }
  gemm8(wo + 8, ce, xp, S, acc, 0);
#pragma GCC unroll 6
  for (int t = 0; t < S; t++) {
    if (real) {
      V4_STORE(y[t] + yim, acc[t][0]);
      V4_STORE(y[t] + yim + 4, acc[t][1]);
      continue;
    }
    for (int h = 0; h < 2; h++) {
      cp_v4 t1, r;
      V4_LOAD(t1, y[t] + 4 * h);
      r = t1 - acc[t][h];
      V4_STORE(y[t] + 4 * h, r);
      r = t1 + acc[t][h];
      V4_STORE(y[t] + yim + 4 * h, r);
    }
  }
  if (real) return;
  gemm8(wo, ce, xs, S, acc, 1);
#pragma GCC unroll 6
  for (int t = 0; t < S; t++)
    for (int h = 0; h < 2; h++) {
      cp_v4 t12, r;
      V4_LOAD(t12, y[t] + yim + 4 * h);
      r = acc[t][h] - t12;
      V4_STORE(y[t] + yim + 4 * h, r);
    }
}

/* Bin k of nq segments: tiles of 6, then 4, 2, 1 (the tile size does not
 * change a segment's operations). */
static inline CP_ALWAYS_INLINE void mac_bin(const double *wo, int ce, long xpl, const double *xk,
                                            long xseg, const double *xsk, double *yk, long yseg,
                                            long yim, int nq, int real) {
  const double *x[6], *xs[6];
  double *y[6];
  int q = 0;
  while (q < nq) {
    const int r = nq - q, S = r >= 6 ? 6 : r >= 4 ? 4 : r >= 2 ? 2 : 1;
    for (int t = 0; t < S; t++) {
      x[t] = xk + (q + t) * xseg;
      xs[t] = xsk + (q + t) * xpl;
      y[t] = yk + (q + t) * yseg;
    }
    if (real) {
      for (int t = 0; t < S; t++) mac_tile(wo, ce, xpl, x + t, xs + t, y + t, yim, 1, 1);
    } else if (S == 6) {
      mac_tile(wo, ce, xpl, x, xs, y, yim, 6, 0);
    } else if (S == 4) {
      mac_tile(wo, ce, xpl, x, xs, y, yim, 4, 0);
    } else if (S == 2) {
      mac_tile(wo, ce, xpl, x, xs, y, yim, 2, 0);
    } else {
      mac_tile(wo, ce, xpl, x, xs, y, yim, 1, 0);
    }
    q += S;
  }
}

/* ---- one batch of segments --------------------------------------------- */

/* Phase-channel rows of one block: rows[l * N + j] = phase channel e4 + l
 * at position u0 + j (zero outside the padded input and past ce). */
static inline CP_ALWAYS_INLINE void gather_rows(const cp_fconv *p, const double *x, int e4,
                                                long u0, double *rows) {
  const int N = p->N, s = p->stride;
  for (int l = 0; l < 4; l++) {
    double *r = rows + (long)l * N;
    const int e = e4 + l;
    if (e >= p->ce) {
      memset(r, 0, sizeof(double) * (size_t)N);
      continue;
    }
    const int i = e / s, ph = e % s;
    const double *xi = x + (long)i * p->l_in;
    /* phase position u is input point u * s + ph - pad_l */
    const long top = (long)p->l_in - 1 + p->pad_l - ph;
    long ulo = p->pad_l > ph ? (p->pad_l - ph + s - 1) / s : 0;
    long uhi = top < 0 ? 0 : top / s + 1;
    long jlo = ulo - u0, jhi = uhi - u0;
    if (jlo < 0) jlo = 0;
    if (jhi > N) jhi = N;
    if (jhi <= jlo) {
      memset(r, 0, sizeof(double) * (size_t)N);
      continue;
    }
    memset(r, 0, sizeof(double) * (size_t)jlo);
    const double *src = xi + (u0 + jlo) * s + ph - p->pad_l;
    if (s == 1) {
      memcpy(r + jlo, src, sizeof(double) * (size_t)(jhi - jlo));
    } else {
      for (long j = jlo; j < jhi; j++) r[j] = src[(j - jlo) * s];
    }
    memset(r + jhi, 0, sizeof(double) * (size_t)(N - jhi));
  }
}

/* v + b, then ReLU when relu (as cp_act_apply: +0 unless v + b > 0). */
#define FC_OUT(v, b)                                  \
  do {                                                \
    v += b;                                           \
    if (relu) v = (cp_v4)((fc_m4)v & (fc_m4)(v > z)); \
  } while (0)

/* Outputs [u0, u0 + jn) of channels o4 .. o4 + nl - 1 from the inverse FFT
 * in re, im (four positions of four channels at a time: a 4 x 4
 * transpose). */
static inline CP_ALWAYS_INLINE void store_block(const cp_v4 *re, const cp_v4 *im, int jn,
                                                int nl, const double *bo, int relu, double *y0,
                                                long lo) {
  const cp_v4 z = {0, 0, 0, 0};
  int j = 0;
  if (nl == 4) {
    cp_v4 b0, b1, b2, b3;
    V4_SET1(b0, bo[0]);
    V4_SET1(b1, bo[1]);
    V4_SET1(b2, bo[2]);
    V4_SET1(b3, bo[3]);
    for (; j + 4 <= jn; j += 4) {
      cp_v4 a = re[j >> 1], b = im[j >> 1], c = re[(j >> 1) + 1], d = im[(j >> 1) + 1];
      TRANSPOSE4(a, b, c, d);
      FC_OUT(a, b0);
      FC_OUT(b, b1);
      FC_OUT(c, b2);
      FC_OUT(d, b3);
      V4_STORE(y0 + j, a);
      V4_STORE(y0 + lo + j, b);
      V4_STORE(y0 + 2 * lo + j, c);
      V4_STORE(y0 + 3 * lo + j, d);
    }
  }
  cp_v4 bv = {bo[0], nl > 1 ? bo[1] : 0, nl > 2 ? bo[2] : 0, nl > 3 ? bo[3] : 0};
  for (; j < jn; j++) {
    cp_v4 v = (j & 1) ? im[j >> 1] : re[j >> 1];
    FC_OUT(v, bv);
    for (int l = 0; l < nl; l++) y0[l * lo + j] = v[l];
  }
}

static inline CP_ALWAYS_INLINE void run_body(const cp_fconv *p, const double *const *in,
                                             double *const *out, int ns, int relu,
                                             double *scratch) {
  const int M = p->M, ce = p->ce, ce4 = p->ce4, co8 = p->co8;
  /* strides padded by a cache line: no power-of-two strides, whose lines
   * would compete for the same few cache sets */
  const long xb = 2L * ce4 + FC_PAD, yb = 2L * co8 + FC_PAD;
  const long xseg = M * xb + FC_PAD, yseg = M * yb + FC_PAD;
  double *X = scratch, *Y = X + (long)p->sb * xseg, *XS = Y + (long)p->sb * yseg;
  cp_v4 *re = (cp_v4 *)(XS + (long)p->sb * ce4), *im = re + M;
  double *rows = (double *)(im + M);
  const long total = (long)ns * p->nblk, wbin = 2L * ce * co8;
  for (long q0 = 0; q0 < total; q0 += p->sb) {
    const int nq = total - q0 < p->sb ? (int)(total - q0) : p->sb;
    /* spectra of the inputs */
    for (int q = 0; q < nq; q++) {
      const long g = q0 + q;
      const int s = (int)(g / p->nblk), b = (int)(g % p->nblk);
      for (int e4 = 0; e4 < ce4; e4 += 4) {
        gather_rows(p, in[s], e4, (long)b * p->m, rows);
        rfft4(p, rows, re, im, X + q * xseg + e4, xb, ce4);
      }
    }
    /* sums over input channels, bin by bin */
    for (int k = 0; k < M; k++) {
      const double *wk = p->wf + (long)k * wbin;
      const double *xk = X + k * xb;
      if (k > 0)
        for (int q = 0; q < nq; q++)
          for (int e = 0; e < ce; e++)
            XS[q * ce4 + e] = xk[q * xseg + e] + xk[q * xseg + ce4 + e];
      for (int o = 0; o < co8; o += 8)
        mac_bin(wk + (long)o * 2 * ce, ce, ce4, xk, xseg, XS, Y + k * yb + o, yseg, co8, nq,
                k == 0);
    }
    /* outputs of each block */
    for (int q = 0; q < nq; q++) {
      const long g = q0 + q;
      const int s = (int)(g / p->nblk), b = (int)(g % p->nblk);
      const long u0 = (long)b * p->m;
      const int jn = (int)(p->l_out - u0 < p->m ? p->l_out - u0 : p->m);
      for (int o4 = 0; o4 < p->c_out; o4 += 4) {
        irfft4(p, Y + q * yseg + o4, yb, co8, re, im);
        const int nl = p->c_out - o4 < 4 ? p->c_out - o4 : 4;
        store_block(re, im, jn, nl, p->bias + o4, relu, out[s] + (long)o4 * p->l_out + u0,
                    p->l_out);
      }
    }
  }
}

#ifdef CP_DISPATCH
CP_TARGET_AVX2 static void run_avx2(const cp_fconv *p, const double *const *in,
                                    double *const *out, int ns, int relu, double *scratch) {
  run_body(p, in, out, ns, relu, scratch);
}
#endif

static void run_base(const cp_fconv *p, const double *const *in, double *const *out, int ns,
                     int relu, double *scratch) {
  run_body(p, in, out, ns, relu, scratch);
}

void cp_fconv_run(const cp_fconv *p, const double *const *in, double *const *out, int ns,
                  int relu, double *scratch) {
#ifdef CP_DISPATCH
  if (CP_CPU_AVX2_FMA()) {
    run_avx2(p, in, out, ns, relu, scratch);
    return;
  }
#endif
  run_base(p, in, out, ns, relu, scratch);
}

/* ---- plans ---------------------------------------------------------------- */

/* Spectra of one segment: inputs [M][2 ce4 + pad] + pad, outputs
 * [M][2 co8 + pad] + pad, and one bin of input sums (see run_body). */
static long seg_doubles(int M, int ce4, int co8) {
  return (long)M * (2L * (ce4 + co8) + 2 * FC_PAD) + 2 * FC_PAD + ce4;
}

long cp_fconv_scratch(const cp_fconv *p) {
  return (long)p->sb * seg_doubles(p->M, p->ce4, p->co8) + 8L * p->M + 4L * p->N;
}

/* Segments per batch: spectra of about 1 MB (measured fastest on the paper
 * CNN's layers among 0.5, 1 and 2 MB, with hot caches and with caches
 * evicted between calls as in a forward pass: larger batches read the
 * kernel spectra less often, smaller ones keep theirs in the core's cache). */
static int batch_segments(int M, int ce4, int co8) {
  const long sb = (1L << 17) / seg_doubles(M, ce4, co8);
  return sb < 6 ? 6 : sb > FC_MAX_SEG ? FC_MAX_SEG : (int)sb;
}

/* Cost model, in cycles of the time-stamp counter per sample, fitted to
 * measurements on an AVX2 core (bench/README.md): 1.8 per complex product
 * of four output channels (bin 0: half), 4.5 M log2(M) + 6 M per FFT of
 * four channels with its gather or scatter, 1 per 24 bytes of kernel
 * spectra streamed from memory (once per batch of segments; a forward pass
 * groups CP_FAST_GROUP samples), and 0.115 per multiply-add of the direct kernel. */
static double cost_fft(int N, int span, int l_out, int ce, int co8, int ce4, int c_out) {
  const int M = N / 2, m = N - span + 1;
  double lg = 0;
  for (int v = M; v > 1; v >>= 1) lg++;
  const long nblk = (l_out + m - 1) / m;
  const double mac = 1.8 * ce * (co8 / 4) * ((M - 1) + 0.5);
  const double fft = (ce4 / 4 + (c_out + 3) / 4) * (4.5 * M * lg + 6.0 * M);
  const double wbytes = 16.0 * M * ce * co8;
  long seg = CP_FAST_GROUP * nblk, sb = batch_segments(M, ce4, co8);
  if (seg > sb) seg = sb;
  return (double)nblk * (mac + fft + wbytes / 24.0 / (double)seg);
}

static double cost_direct(const cp_layer *l) {
  return 0.115 * l->c_in * l->c_out * l->k * (double)l->l_out;
}

static int ilog2(int v) {
  int r = 0;
  while ((1 << r) < v) r++;
  return r;
}

void cp_fconv_free(cp_fconv *p) {
  if (!p) return;
  free(p->wf);
  free(p->ct);
  free(p->rc);
  free(p->rev);
  free(p->bias);
  free(p);
}

/* Kernel spectra: four output channels at a time through the same real FFT
 * as the inputs, conjugated (correlation) and scaled by 1 / (4 N) (both
 * spectra are doubled, the inverse FFT multiplies by N). */
static inline CP_ALWAYS_INLINE void plan_kernels(cp_fconv *p, const double *w, int k, int dil,
                                                 double *rows, cp_v4 *re, cp_v4 *im,
                                                 double *tmp) {
  const int N = p->N, M = p->M, s = p->stride, co8 = p->co8;
  const double sc = 1.0 / (4.0 * N);
  for (int e = 0; e < p->ce; e++) {
    const int i = e / s, ph = e % s;
    for (int o4 = 0; o4 < co8; o4 += 4) {
      memset(rows, 0, sizeof(double) * 4 * (size_t)N);
      for (int l = 0; l < 4 && o4 + l < p->c_out; l++) {
        const double *wo = w + ((long)(o4 + l) * p->c_in + i) * k;
        for (int kk = 0; kk < k; kk++) {
          const long off = (long)kk * dil;
          if (off % s == ph) rows[(long)l * N + off / s] = wo[kk];
        }
      }
      rfft4(p, rows, re, im, tmp, 8, 4);
      for (int kb = 0; kb < M; kb++) {
        double *d = p->wf + ((long)kb * co8 + (o4 - o4 % 8)) * 2L * p->ce + 16L * e + o4 % 8;
        const double *t = tmp + 8L * kb;
        const double conj = kb == 0 ? 1.0 : -1.0;
        for (int l = 0; l < 4; l++) {
          d[l] = t[l] * sc;
          d[8 + l] = conj * t[4 + l] * sc;
        }
      }
    }
  }
}

#ifdef CP_DISPATCH
CP_TARGET_AVX2 static void plan_kernels_avx2(cp_fconv *p, const double *w, int k, int dil,
                                             double *rows, cp_v4 *re, cp_v4 *im, double *tmp) {
  plan_kernels(p, w, k, dil, rows, re, im, tmp);
}
#endif

static void plan_kernels_base(cp_fconv *p, const double *w, int k, int dil, double *rows,
                              cp_v4 *re, cp_v4 *im, double *tmp) {
  plan_kernels(p, w, k, dil, rows, re, im, tmp);
}

static cp_fconv *plan_build(const cp_layer *l, const double *par, int N);

cp_fconv *cp_fconv_plan(const cp_layer *l, const double *par, int mode) {
  if (mode == CP_CONV_DIRECT || l->type != CP_CONV) return NULL;
  const int s = l->stride;
  const long span = ((long)(l->k - 1) * l->dil) / s + 1;
  const long ce = (long)l->c_in * s;
  if (span > FC_MAX_N / 2 || ce > (1L << 20) || l->c_out > (1 << 20)) return NULL;
  const int ce4 = (int)((ce + 3) / 4 * 4), co8 = (l->c_out + 7) / 8 * 8;
  /* block length: the cheapest power of two in the model, from 8 (and at
   * least twice the span) to one block for the whole output */
  const long need = (long)l->l_out + span - 1;
  int n_lo = 8;
  while (n_lo < 2 * span) n_lo *= 2;
  int best_n = 0;
  double best = 0;
  for (int N = n_lo; N <= FC_MAX_N; N *= 2) {
    double c = cost_fft(N, (int)span, l->l_out, (int)ce, co8, ce4, l->c_out);
    if (!best_n || c < best) {
      best = c;
      best_n = N;
    }
    if (N >= need) break;
  }
  if (mode == CP_CONV_AUTO && !(best * 1.3 < cost_direct(l))) return NULL;
  return plan_build(l, par, best_n);
}

/* The plan with blocks of N points (a power of two >= max(8, span)). */
static cp_fconv *plan_build(const cp_layer *l, const double *par, int N) {
  const int s = l->stride;
  const long span = ((long)(l->k - 1) * l->dil) / s + 1;
  const long ce = (long)l->c_in * s;
  const int ce4 = (int)((ce + 3) / 4 * 4), co8 = (l->c_out + 7) / 8 * 8;
  const int best_n = N;
  cp_fconv *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->c_in = l->c_in;
  p->c_out = l->c_out;
  p->l_in = l->l_in;
  p->l_out = l->l_out;
  p->stride = s;
  p->pad_l = l->pad_l;
  p->ce = (int)ce;
  p->ce4 = ce4;
  p->co8 = co8;
  p->span = (int)span;
  p->N = best_n;
  p->M = best_n / 2;
  p->m = best_n - (int)span + 1;
  p->nblk = (l->l_out + p->m - 1) / p->m;
  p->sb = batch_segments(p->M, ce4, co8);
  const int M = p->M, lg = ilog2(M);
  p->wf = malloc(sizeof(double) * (size_t)M * (size_t)ce * 2 * (size_t)co8);
  p->ct = malloc(sizeof(double) * 2 * (size_t)M); /* ct then st */
  p->rc = malloc(sizeof(double) * 2 * (size_t)M); /* rc then rs */
  p->rev = malloc(sizeof(int) * (size_t)M);
  p->bias = malloc(sizeof(double) * (size_t)l->c_out);
  double *tmp = malloc(sizeof(double) * (8 * (size_t)M + 4 * (size_t)p->N + 8 * (size_t)M));
  if (!p->wf || !p->ct || !p->rc || !p->rev || !p->bias || !tmp) {
    free(tmp);
    cp_fconv_free(p);
    return NULL;
  }
  p->st = p->ct + M;
  p->rs = p->rc + M;
  for (int q = 0; q < M; q++) {
    p->ct[q] = cos(2.0 * M_PI * q / M);
    p->st[q] = sin(2.0 * M_PI * q / M);
  }
  for (int k = 0; k < M; k++) {
    p->rc[k] = cos(2.0 * M_PI * k / p->N);
    p->rs[k] = sin(2.0 * M_PI * k / p->N);
  }
  for (int n = 0; n < M; n++) {
    int r = 0;
    for (int b = 0; b < lg; b++) r |= ((n >> b) & 1) << (lg - 1 - b);
    p->rev[n] = r;
  }
  memcpy(p->bias, par + l->b_off, sizeof(double) * (size_t)l->c_out);
  cp_v4 *re = (cp_v4 *)tmp, *im = re + M;
  double *rows = tmp + 8L * M, *spec = rows + 4L * p->N;
#ifdef CP_DISPATCH
  if (CP_CPU_AVX2_FMA())
    plan_kernels_avx2(p, par + l->w_off, l->k, l->dil, rows, re, im, spec);
  else
#endif
    plan_kernels_base(p, par + l->w_off, l->k, l->dil, rows, re, im, spec);
  free(tmp);
  return p;
}

#else /* no vector extensions: the direct kernel everywhere */

cp_fconv *cp_fconv_plan(const cp_layer *l, const double *par, int mode) {
  (void)l;
  (void)par;
  (void)mode;
  return NULL;
}
void cp_fconv_free(cp_fconv *p) {
  (void)p;
}
long cp_fconv_scratch(const cp_fconv *p) {
  (void)p;
  return 0;
}
void cp_fconv_run(const cp_fconv *p, const double *const *in, double *const *out, int ns,
                  int relu, double *scratch) {
  (void)p;
  (void)in;
  (void)out;
  (void)ns;
  (void)relu;
  (void)scratch;
}

#endif

int cp_work_conv_plans(cp_work *w, const cp_net *net, int mode) {
  if (mode == CP_CONV_DIRECT) return CP_OK;
  const int n = net->n_nodes;
  if (!w->fc) {
    w->fc = calloc((size_t)n, sizeof(cp_fconv *));
    if (!w->fc) return CP_ERR_ALLOC;
  }
  long scr = 0;
  int st = CP_OK;
  for (int j = 0; j < n; j++) {
    const cp_layer *l = &net->L[j];
    if (l->type != CP_CONV || w->fc[j]) continue;
    w->fc[j] = cp_fconv_plan(l, net->par, mode);
    if (w->fc[j] && cp_fconv_scratch(w->fc[j]) > scr) scr = cp_fconv_scratch(w->fc[j]);
  }
  if (scr > 0) {
    free(w->fscratch);
    w->fscratch_per_thread = scr;
    w->fscratch = malloc(sizeof(double) * (size_t)scr * (size_t)w->n_threads);
    if (!w->fscratch) {
      /* without scratch no plan can run: back to the direct kernel */
      for (int j = 0; j < n; j++) {
        cp_fconv_free(w->fc[j]);
        w->fc[j] = NULL;
      }
      w->fscratch_per_thread = 0;
      st = CP_ERR_ALLOC;
    }
  }
  return st;
}
