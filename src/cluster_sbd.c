/* Shape-based distance (SBD) between z-normalised windows: one minus the
 * maximum normalised cross-correlation over all shifts, by direct summation
 * for short windows and by FFT (own radix-2 transform) for longer ones. The
 * choice depends on the window length only, never on threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cluster_internal.h"

/* Full cross-correlation cc[u] = sum_t x[t + u - (m - 1)] c[t] for
 * u = 0 .. 2m - 2, written as m axpy updates (no reduction chain). */
static void xcorr_full(const double *restrict x, const double *restrict c, int m,
                       double *restrict cc) {
  int len = 2 * m - 1;
  for (int u = 0; u < len; u++) cc[u] = 0.0;
  for (int t = 0; t < m; t++) {
    double ct = c[t];
    double *dst = cc + (m - 1 - t);
    int i = 0;
    for (; i + 4 <= m; i += 4) {
      dst[i] += x[i] * ct;
      dst[i + 1] += x[i + 1] * ct;
      dst[i + 2] += x[i + 2] * ct;
      dst[i + 3] += x[i + 3] * ct;
    }
    for (; i < m; i++) dst[i] += x[i] * ct;
  }
}

/* SBD from a cross-correlation maximum; den = |x| |c| > 0. */
static double sbd_value(double mx, double den) {
  double d = 1.0 - mx / den;
  return d < 0.0 ? 0.0 : (d > 2.0 ? 2.0 : d);
}

double cp_sbd(const double *x, double xnorm, const double *c, double cnorm,
              int m, int *shift, double *cc) {
  double den = xnorm * cnorm;
  if (!(den > 0.0)) {
    if (shift) *shift = 0;
    return 1.0;
  }
  xcorr_full(x, c, m, cc);
  int len = 2 * m - 1, best = m - 1; /* zero shift wins ties */
  double mx = cc[m - 1];
  for (int u = 0; u < len; u++) {
    if (cc[u] > mx) {
      mx = cc[u];
      best = u;
    }
  }
  if (shift) *shift = best - (m - 1);
  return sbd_value(mx, den);
}

/* ------------------------------------------------------------------------ */
/* FFT                                                                       */

int cp_sbd_plan_init(cp_sbd_plan *p, int m) {
  memset(p, 0, sizeof(*p));
  p->m = m;
  int len = 1, lg = 0;
  while (len < 2 * m - 1) {
    len <<= 1;
    lg++;
  }
  /* measured costs: direct ~ m^2, FFT ~ 4 len log2(len) (same unit) */
  if (m < 2 || 4.0 * len * lg >= (double)m * m) return CP_OK;
  p->len = len;
  p->cos_tab = malloc(sizeof(double) * (size_t)(len / 2));
  p->sin_tab = malloc(sizeof(double) * (size_t)(len / 2));
  p->rev = malloc(sizeof(int) * (size_t)len);
  if (!p->cos_tab || !p->sin_tab || !p->rev) {
    cp_sbd_plan_free(p);
    return CP_ERR_ALLOC;
  }
  const double two_pi = 6.283185307179586476925286766559;
  for (int i = 0; i < len / 2; i++) {
    p->cos_tab[i] = cos(two_pi * i / len);
    p->sin_tab[i] = sin(two_pi * i / len);
  }
  for (int i = 0; i < len; i++) {
    int r = 0;
    for (int b = 0; b < lg; b++) r |= ((i >> b) & 1) << (lg - 1 - b);
    p->rev[i] = r;
  }
  return CP_OK;
}

void cp_sbd_plan_free(cp_sbd_plan *p) {
  free(p->cos_tab);
  free(p->sin_tab);
  free(p->rev);
  p->cos_tab = p->sin_tab = NULL;
  p->rev = NULL;
}

size_t cp_sbd_spec_len(const cp_sbd_plan *p) { return p->len ? 2 * (size_t)p->len : 0; }

size_t cp_sbd_work_len(const cp_sbd_plan *p) {
  return p->len ? 4 * (size_t)p->len : 2 * (size_t)p->m;
}

/* In-place radix-2 transform of (re, im); sign -1 forward, +1 inverse
 * (unscaled). */
static void fft(const cp_sbd_plan *p, double *re, double *im, int sign) {
  int n = p->len;
  for (int i = 0; i < n; i++) {
    int j = p->rev[i];
    if (i < j) {
      double t = re[i];
      re[i] = re[j];
      re[j] = t;
      t = im[i];
      im[i] = im[j];
      im[j] = t;
    }
  }
  for (int size = 2; size <= n; size <<= 1) {
    int half = size >> 1, step = n / size;
    for (int q = 0; q < half; q++) {
      double wr = p->cos_tab[q * step], wi = sign * p->sin_tab[q * step];
      for (int a = q; a < n; a += size) {
        int b = a + half;
        double tr = re[b] * wr - im[b] * wi;
        double ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
    }
  }
}

void cp_sbd_spectrum(const cp_sbd_plan *p, const double *x, double *spec) {
  if (!p->len) return;
  int n = p->len, m = p->m;
  double *re = spec, *im = spec + n;
  memcpy(re, x, sizeof(double) * m);
  for (int i = m; i < n; i++) re[i] = 0.0;
  for (int i = 0; i < n; i++) im[i] = 0.0;
  fft(p, re, im, -1);
}

/* Maximum of a circular cross-correlation r (length len) over shifts
 * -(m-1) .. m-1, zero shift first so that it wins ties. */
static double circ_max(const double *r, int len, int m, int *shift) {
  double mx = r[0];
  int best = 0;
  for (int s = -(m - 1); s < m; s++) {
    double v = r[s < 0 ? len + s : s];
    if (v > mx) {
      mx = v;
      best = s;
    }
  }
  if (shift) *shift = best;
  return mx;
}

void cp_sbd_row(const cp_sbd_plan *p, const double *x, double xnorm,
                const double *cent, const double *cspec, const double *cnorm,
                int k, double *sbd, int *shift, double *work) {
  int m = p->m;
  if (!p->len) {
    for (int j = 0; j < k; j++) {
      sbd[j] = cp_sbd(x, xnorm, cent + (size_t)j * m, cnorm[j], m,
                      shift ? shift + j : NULL, work);
    }
    return;
  }
  int n = p->len;
  double *xr = work, *xi = work + n, *zr = work + 2 * n, *zi = work + 3 * n;
  int have_x = 0;
  double scale = 1.0 / n;
  for (int j = 0; j < k; j++) {
    double den = xnorm * cnorm[j];
    if (den > 0.0) continue;
    sbd[j] = 1.0;
    if (shift) shift[j] = 0;
  }
  /* centers with a non-zero denominator, two per inverse transform:
   * Z = X conj(C1) + i X conj(C2), whose inverse is r1 + i r2 */
  int j = 0;
  while (j < k) {
    while (j < k && !(xnorm * cnorm[j] > 0.0)) j++;
    if (j >= k) break;
    int j2 = j + 1;
    while (j2 < k && !(xnorm * cnorm[j2] > 0.0)) j2++;
    if (!have_x) {
      memcpy(xr, x, sizeof(double) * m);
      for (int i = m; i < n; i++) xr[i] = 0.0;
      for (int i = 0; i < n; i++) xi[i] = 0.0;
      fft(p, xr, xi, -1);
      have_x = 1;
    }
    const double *c1r = cspec + (size_t)j * 2 * n, *c1i = c1r + n;
    if (j2 < k) {
      const double *c2r = cspec + (size_t)j2 * 2 * n, *c2i = c2r + n;
      for (int f = 0; f < n; f++) {
        double ar = xr[f] * c1r[f] + xi[f] * c1i[f];
        double ai = xi[f] * c1r[f] - xr[f] * c1i[f];
        double br = xr[f] * c2r[f] + xi[f] * c2i[f];
        double bi = xi[f] * c2r[f] - xr[f] * c2i[f];
        zr[f] = ar - bi;
        zi[f] = ai + br;
      }
    } else {
      for (int f = 0; f < n; f++) {
        zr[f] = xr[f] * c1r[f] + xi[f] * c1i[f];
        zi[f] = xi[f] * c1r[f] - xr[f] * c1i[f];
      }
    }
    fft(p, zr, zi, 1);
    double mx = circ_max(zr, n, m, shift ? shift + j : NULL) * scale;
    sbd[j] = sbd_value(mx, xnorm * cnorm[j]);
    if (j2 < k) {
      mx = circ_max(zi, n, m, shift ? shift + j2 : NULL) * scale;
      sbd[j2] = sbd_value(mx, xnorm * cnorm[j2]);
    }
    j = j2 + 1;
  }
}
