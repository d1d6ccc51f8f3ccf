// Index math of the direct N-d convolution (up to 3 axes), shared by the CPU and CUDA kernels.
//
//   forward  y[i] = sum_j h[j] x[i + o - j]            (base = o,  sign = -1)
//   adjoint  x[m] = sum_j conj(h[j]) y[m - o + j]      (base = -o, sign = +1)
// with zeros outside the input: both are gathers, each output element written once.
//
// Tensors are seen in a canonical 7-d layout (outer, n1, P1, n2, P2, n3, P3): outer =
// batch x the dims before the first convolution axis, n_t the convolution axes (missing
// ones padded in FRONT with length 1, so slot 3 is always the last convolution axis) and
// P_t the products of the dims between them. Input and output differ only in n_t.
#pragma once

#include "common.h"

namespace torchlops {

template <typename index_t>
struct ConvGeom {
  index_t outer, lines_per_sample;  // lines_per_sample = prod(dims before the first axis)
  index_t nin[3], nout[3], nh[3], P[3];
  index_t base[3];
  int sign;
  index_t nfilt;  // number of per-sample filters (1: one shared filter)
};

// input offset of position (c1, c2, c3) in line `outer` (p1, p2 fixed by the caller's line)
template <typename index_t>
TL_HD index_t in_offset(const ConvGeom<index_t>& g, index_t outer, index_t c1, index_t p1, index_t c2, index_t p2,
                        index_t c3) {
  return ((((outer * g.nin[0] + c1) * g.P[0] + p1) * g.nin[1] + c2) * g.P[1] + p2) * g.nin[2] * g.P[2] +
         c3 * g.P[2];
}

// filter index of sample `outer` for taps (j1, j2, j3)
template <typename index_t>
TL_HD index_t filt_offset(const ConvGeom<index_t>& g, index_t outer, index_t j1, index_t j2, index_t j3) {
  const index_t f = (outer / g.lines_per_sample) % g.nfilt;
  return ((f * g.nh[0] + j1) * g.nh[1] + j2) * g.nh[2] + j3;
}

// input coordinate read by output coordinate q through tap j along slot t (may be outside)
template <typename index_t>
TL_HD index_t in_coord(const ConvGeom<index_t>& g, int t, index_t q, index_t j) {
  return q + g.base[t] + g.sign * j;
}

}  // namespace torchlops
