/* Portable short vectors and runtime CPU dispatch for the kernels that are
 * compiled twice (AVX2+FMA and the baseline) and chosen by the CPU's
 * features at run time: conv.c, conv_bwd.c. No R headers. */
#ifndef CP_SIMD_H
#define CP_SIMD_H

#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define CP_DISPATCH 1
#define CP_TARGET_AVX2 __attribute__((target("avx2,fma")))
/* Non-zero when the CPU has AVX2 and FMA. */
#define CP_CPU_AVX2_FMA() (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
#endif

#if defined(__GNUC__)
#define CP_HAVE_VEC 1
#define CP_ALWAYS_INLINE __attribute__((always_inline))
typedef double cp_v4 __attribute__((vector_size(32), aligned(8)));
/* Two lanes: native in the baseline (SSE2) build too, for element-wise
 * loops outside the dispatched kernels. Lane masks are the type of a
 * comparison. */
typedef double cp_v2 __attribute__((vector_size(16), aligned(8)));
typedef long long cp_m2 __attribute__((vector_size(16), aligned(8)));
/* Macros rather than functions: vectors never cross a call boundary. */
#define V4_LOAD(dst, p) memcpy(&(dst), (p), sizeof(cp_v4))
#define V4_STORE(p, v) memcpy((p), &(v), sizeof(cp_v4))
#define V4_SET1(dst, a) do { double a_ = (a); (dst) = (cp_v4){a_, a_, a_, a_}; } while (0)
#define V4_HSUM(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))
#define V2_LOAD(dst, p) memcpy(&(dst), (p), sizeof(cp_v2))
#define V2_STORE(p, v) memcpy((p), &(v), sizeof(cp_v2))
/* lanes of v where the mask is set, +0.0 elsewhere */
#define V2_AND(v, m) ((cp_v2)((cp_m2)(v) & (m)))
#endif

#ifndef CP_ALWAYS_INLINE
#define CP_ALWAYS_INLINE
#endif

#endif
