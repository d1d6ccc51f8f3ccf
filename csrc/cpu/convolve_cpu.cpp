// CPU kernel of the direct convolution (forward and adjoint, up to 3 axes, per-sample
// filters). Index math: convolve.h. One work item per output line (all of slot 3 and
// the elements after it, contiguous); for each tap the valid part of the line is one
// contiguous multiply-add (vectorised loop).
#include "../convolve.h"
#include "../conv_geom.h"
#include "vec.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace torchlops {
namespace {

template <typename scalar_t>
void conv_lines(const scalar_t* in, const scalar_t* h, scalar_t* out, const ConvGeom<int64_t>& g, bool adjoint) {
  const int64_t n1 = g.nout[0], n2 = g.nout[1], P1 = g.P[0], P2 = g.P[1];
  const int64_t lines = g.outer * n1 * P1 * n2 * P2;
  const int64_t len = g.nout[2] * g.P[2];
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(len, 1));
  at::parallel_for(0, lines, grain, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> tmp(len);
    for (int64_t l = begin; l < end; ++l) {
      int64_t r = l;
      const int64_t p2 = r % P2; r /= P2;
      const int64_t q2 = r % n2; r /= n2;
      const int64_t p1 = r % P1; r /= P1;
      const int64_t q1 = r % n1; r /= n1;
      const int64_t o = r;
      std::fill(tmp.begin(), tmp.end(), scalar_t(0));
      for (int64_t j1 = 0; j1 < g.nh[0]; ++j1) {
        const int64_t c1 = in_coord(g, 0, q1, j1);
        if (c1 < 0 || c1 >= g.nin[0]) continue;
        for (int64_t j2 = 0; j2 < g.nh[1]; ++j2) {
          const int64_t c2 = in_coord(g, 1, q2, j2);
          if (c2 < 0 || c2 >= g.nin[1]) continue;
          for (int64_t j3 = 0; j3 < g.nh[2]; ++j3) {
            // output q3 reads input q3 + shift along slot 3; keep 0 <= q3 + shift < nin3
            const int64_t shift = in_coord<int64_t>(g, 2, 0, j3);
            const int64_t qa = std::max<int64_t>(0, -shift), qb = std::min<int64_t>(g.nout[2], g.nin[2] - shift);
            if (qa >= qb) continue;
            scalar_t c = h[filt_offset(g, o, j1, j2, j3)];
            if (adjoint) c = conj_(c);
            vec::axpy(tmp.data() + qa * g.P[2], in + in_offset(g, o, c1, p1, c2, p2, qa + shift), c,
                      (qb - qa) * g.P[2]);
          }
        }
      }
      std::copy(tmp.begin(), tmp.end(), out + l * len);
    }
  });
}

at::Tensor convolve_cpu(const at::Tensor& x_, const at::Tensor& h_, at::IntArrayRef axes, at::IntArrayRef offsets,
                        at::IntArrayRef nout, bool adjoint) {
  TORCH_CHECK(x_.device().is_cpu() && h_.device().is_cpu(), "torchlops.convolve: expected CPU tensors, got x on ",
              x_.device(), " and h on ", h_.device());
  const at::Tensor x = dense(x_), h = dense(h_);
  at::Tensor y;
  ConvGeom<int64_t> g;
  std::tie(y, g) = conv_setup<int64_t>(x, h, axes, offsets, nout, adjoint);
  if (y.numel() == 0) return y;
  if (x.numel() == 0) return y.zero_();
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "torchlops_convolve_cpu", [&] {
    conv_lines<scalar_t>(x.const_data_ptr<scalar_t>(), h.const_data_ptr<scalar_t>(), y.mutable_data_ptr<scalar_t>(),
                         g, adjoint);
  });
  return y;
}

}  // namespace

TORCH_LIBRARY_IMPL(torchlops, CPU, m) { m.impl("convolve", &convolve_cpu); }

}  // namespace torchlops
