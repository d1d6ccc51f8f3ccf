// CUDA kernel of the direct convolution (forward and adjoint, up to 3 axes, per-sample
// filters). Same semantics as cpu/convolve_cpu.cpp; index math: convolve.h, checks and
// geometry: conv_geom.h.
//
// One thread per output element (grid-stride loop): unravel its canonical 7-d coordinate
// (outer, q1, p1, q2, p2, q3, p3), loop over the taps, skip the input coordinates outside
// [0, nin) and accumulate h * x (conj(h) * y for the adjoint). Gathers only, no atomics.
#include "../conv_geom.h"
#include "../convolve.h"
#include "launch.cuh"

#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <tuple>

namespace torchlops {
namespace {

using cuda::grid_for;
using cuda::kThreads;

template <typename scalar_t, typename index_t, bool Adjoint>
__global__ void convolve_kernel(const scalar_t* __restrict__ in, const scalar_t* __restrict__ h,
                                scalar_t* __restrict__ out, index_t total, ConvGeom<index_t> g) {
  const index_t step = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t e = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); e < total; e += step) {
    index_t r = e;
    const index_t p3 = r % g.P[2];
    r /= g.P[2];
    const index_t q3 = r % g.nout[2];
    r /= g.nout[2];
    const index_t p2 = r % g.P[1];
    r /= g.P[1];
    const index_t q2 = r % g.nout[1];
    r /= g.nout[1];
    const index_t p1 = r % g.P[0];
    r /= g.P[0];
    const index_t q1 = r % g.nout[0];
    const index_t o = r / g.nout[0];
    scalar_t acc(0);
    for (index_t j1 = 0; j1 < g.nh[0]; ++j1) {
      const index_t c1 = in_coord(g, 0, q1, j1);
      if (c1 < 0 || c1 >= g.nin[0]) continue;
      for (index_t j2 = 0; j2 < g.nh[1]; ++j2) {
        const index_t c2 = in_coord(g, 1, q2, j2);
        if (c2 < 0 || c2 >= g.nin[1]) continue;
        for (index_t j3 = 0; j3 < g.nh[2]; ++j3) {
          const index_t c3 = in_coord(g, 2, q3, j3);
          if (c3 < 0 || c3 >= g.nin[2]) continue;
          scalar_t c = h[filt_offset(g, o, j1, j2, j3)];
          if (Adjoint) c = conj_(c);
          acc += c * in[in_offset(g, o, c1, p1, c2, p2, c3) + p3];
        }
      }
    }
    out[e] = acc;
  }
}

template <typename index_t>
ConvGeom<index_t> narrow_geom(const ConvGeom<int64_t>& g) {
  ConvGeom<index_t> n{};
  n.outer = index_t(g.outer);
  n.lines_per_sample = index_t(g.lines_per_sample);
  for (int s = 0; s < 3; ++s) {
    n.nin[s] = index_t(g.nin[s]);
    n.nout[s] = index_t(g.nout[s]);
    n.nh[s] = index_t(g.nh[s]);
    n.P[s] = index_t(g.P[s]);
    n.base[s] = index_t(g.base[s]);
  }
  n.sign = g.sign;
  n.nfilt = index_t(g.nfilt);
  return n;
}

// every offset and coordinate the kernel forms fits in 32 bits
bool geom_fits_int32(const ConvGeom<int64_t>& g, int64_t nx, int64_t nh, int64_t ny) {
  if (!cuda::fits_int32_loop(std::max({nx, nh, ny}))) return false;
  for (int s = 0; s < 3; ++s) {
    // |in_coord| <= nout + |base| + nh
    if (!fits_int32(g.nout[s] + std::llabs(g.base[s]) + g.nh[s] + g.nin[s])) return false;
  }
  return true;
}

at::Tensor convolve_cuda(const at::Tensor& x_, const at::Tensor& h_, at::IntArrayRef axes, at::IntArrayRef offsets,
                         at::IntArrayRef nout, bool adjoint) {
  TORCH_CHECK(x_.is_cuda(), "torchlops.convolve: expected x to be a CUDA tensor, got one on ", x_.device());
  TORCH_CHECK(h_.is_cuda(), "torchlops.convolve: expected h to be a CUDA tensor, got one on ", h_.device());
  TORCH_CHECK(h_.device() == x_.device(), "torchlops.convolve: expected x and h on the same device, got x on ",
              x_.device(), " and h on ", h_.device());
  const c10::cuda::CUDAGuard guard(x_.device());
  const at::Tensor x = dense(x_), h = dense(h_);
  at::Tensor y;
  ConvGeom<int64_t> g;
  std::tie(y, g) = conv_setup<int64_t>(x, h, axes, offsets, nout, adjoint);
  if (y.numel() == 0) return y;
  if (x.numel() == 0) return y.zero_();
  const int64_t total = y.numel();
  const bool small = geom_fits_int32(g, x.numel(), h.numel(), total);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "torchlops_convolve_cuda", [&] {
    auto launch = [&](auto index_tag) {
      using index_t = decltype(index_tag);
      const ConvGeom<index_t> gi = narrow_geom<index_t>(g);
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      const scalar_t* hp = h.const_data_ptr<scalar_t>();
      scalar_t* yp = y.mutable_data_ptr<scalar_t>();
      if (adjoint)
        convolve_kernel<scalar_t, index_t, true>
            <<<grid_for(total), kThreads, 0, stream>>>(xp, hp, yp, index_t(total), gi);
      else
        convolve_kernel<scalar_t, index_t, false>
            <<<grid_for(total), kThreads, 0, stream>>>(xp, hp, yp, index_t(total), gi);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    if (small)
      launch(int32_t(0));
    else
      launch(int64_t(0));
  });
  return y;
}

}  // namespace

TORCH_LIBRARY_IMPL(torchlops, CUDA, m) { m.impl("convolve", &convolve_cuda); }

}  // namespace torchlops
