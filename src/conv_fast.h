/* FFT convolution of the forward pass at inference (no R headers): the
 * correlation of every input channel with its kernels done by real FFTs
 * of blocks of the series (overlap-save), the sums over input channels
 * taken in the frequency domain. A strided convolution is split into
 * stride phases first (as in conv.c), so it is a stride-1 convolution
 * over channels x phases. */
#ifndef CP_CONV_FAST_H
#define CP_CONV_FAST_H

#include "net.h"

/* How the forward pass at inference computes convolutions. */
enum {
  CP_CONV_DIRECT = 0, /* the direct kernel (conv.c) everywhere */
  CP_CONV_AUTO = 1,   /* FFT where the cost model says it is faster */
  CP_CONV_FFT = 2     /* FFT for every convolution (tests) */
};

/* Samples per group that the forward pass hands to cp_fconv_run. */
#define CP_FAST_GROUP 16

typedef struct cp_fconv cp_fconv;

/* Plan of the FFT convolution of layer l with weights and bias in par.
 * NULL when mode is CP_CONV_DIRECT, when AUTO finds the direct kernel
 * cheaper (by the layer's shape alone, so that a sample's result does not
 * depend on how many samples a call has), when the vector extensions are
 * missing, or when memory runs out. */
cp_fconv *cp_fconv_plan(const cp_layer *l, const double *par, int mode);
void cp_fconv_free(cp_fconv *p);

/* Doubles of scratch one thread needs to run the plan. */
long cp_fconv_scratch(const cp_fconv *p);

/* The convolution of ns samples: in[s] is sample s's input [c_in][l_in]
 * (unpadded; the plan pads), out[s] its output [c_out][l_out] with the
 * bias added, then ReLU when relu (as cp_act_apply computes it). Each
 * sample's result depends on its input only, not on the other samples or
 * on ns. */
void cp_fconv_run(const cp_fconv *p, const double *const *in, double *const *out, int ns,
                  int relu, double *scratch);

/* Build the plans of every convolution node of net into w (w->fc, one per
 * node, NULL where the direct kernel runs) with per-thread scratch; the
 * forward pass at inference then uses them. Returns CP_OK or CP_ERR_ALLOC
 * (the plans that could be built are kept). */
int cp_work_conv_plans(cp_work *w, const cp_net *net, int mode);

#endif
