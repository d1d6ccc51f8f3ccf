// CPU kernel of the direct convolution (forward and adjoint, up to 3 axes, per-sample
// filters). Index math: convolve.h. One work item per chunk of an output line (slot 3 and
// the elements after it are contiguous); for each tap the valid part of the chunk is one
// contiguous multiply-add (vectorised loop) into an accumulator that stays in L1.
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
  const int64_t n3 = g.nout[2], P3 = g.P[2], len = n3 * P3;
  // each work item is a chunk of one output line of about 8 KiB, so the accumulator and the
  // input it reads stay in L1 over all taps, and a single long line still spreads over threads
  const int64_t cq = std::max<int64_t>(1, std::min<int64_t>(n3, (8192 / int64_t(sizeof(scalar_t))) / std::max<int64_t>(P3, 1)));
  const int64_t nchunks = (n3 + cq - 1) / cq;
  const int64_t taps = g.nh[0] * g.nh[1] * g.nh[2];
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(cq * P3 * taps, 1));
  at::parallel_for(0, lines * nchunks, grain, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> tmp(cq * P3);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t l = item / nchunks, qs = (item % nchunks) * cq, qe = std::min<int64_t>(n3, qs + cq);
      int64_t r = l;
      const int64_t p2 = r % P2; r /= P2;
      const int64_t q2 = r % n2; r /= n2;
      const int64_t p1 = r % P1; r /= P1;
      const int64_t q1 = r % n1; r /= n1;
      const int64_t o = r;
      std::fill(tmp.begin(), tmp.begin() + (qe - qs) * P3, scalar_t(0));
      for (int64_t j1 = 0; j1 < g.nh[0]; ++j1) {
        const int64_t c1 = in_coord(g, 0, q1, j1);
        if (c1 < 0 || c1 >= g.nin[0]) continue;
        for (int64_t j2 = 0; j2 < g.nh[1]; ++j2) {
          const int64_t c2 = in_coord(g, 1, q2, j2);
          if (c2 < 0 || c2 >= g.nin[1]) continue;
          // taps along slot 3 up to four at a time: one pass over the accumulator for the part
          // where all of them are inside the input, single taps at the edges
          const scalar_t* row = in + in_offset(g, o, c1, p1, c2, p2, int64_t(0));
          scalar_t* acc = tmp.data() - qs * P3;  // acc[q * P3] is output position q
          for (int64_t j0 = 0; j0 < g.nh[2]; j0 += 4) {
            const int kk = int(std::min<int64_t>(4, g.nh[2] - j0));
            int64_t qa[4], qb[4], QA = qs, QB = qe;
            scalar_t c[4];
            const scalar_t* xp[4];
            for (int k = 0; k < kk; ++k) {
              // output q3 reads input q3 + shift along slot 3; keep 0 <= q3 + shift < nin3
              const int64_t shift = in_coord<int64_t>(g, 2, 0, j0 + k);
              qa[k] = std::max<int64_t>(qs, -shift);
              qb[k] = std::min<int64_t>(qe, g.nin[2] - shift);
              QA = std::max(QA, qa[k]);
              QB = std::min(QB, qb[k]);
              c[k] = h[filt_offset(g, o, j1, j2, j0 + k)];
              if (adjoint) c[k] = conj_(c[k]);
              xp[k] = row + shift * P3;
            }
            if (QA < QB) {
              const scalar_t* xq[4];
              for (int k = 0; k < kk; ++k) xq[k] = xp[k] + QA * P3;
              vec::axpyk(acc + QA * P3, xq, c, kk, (QB - QA) * P3);
            } else {
              QA = QB = qe;  // no common part: every tap on its own below
            }
            for (int k = 0; k < kk; ++k) {
              const int64_t e1 = std::min(qb[k], QA), s2 = std::max(qa[k], QB);
              if (qa[k] < e1) vec::axpy(acc + qa[k] * P3, xp[k] + qa[k] * P3, c[k], (e1 - qa[k]) * P3);
              if (s2 < qb[k]) vec::axpy(acc + s2 * P3, xp[k] + s2 * P3, c[k], (qb[k] - s2) * P3);
            }
          }
        }
      }
      std::copy(tmp.begin(), tmp.begin() + (qe - qs) * P3, out + l * len + qs * P3);
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
