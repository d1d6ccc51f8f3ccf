// CUDA kernels of the fused CGLS steps (schemas and semantics: torchlops.cpp; CPU twin:
// cpu/cgls_cpu.cpp).
//
// A 2-D grid: blockIdx.y walks the rows, blockIdx.x splits a row in G slices; each thread
// takes every (G blockDim)-th element of its slice, four at a time (independent loads in
// flight). Every block computes its row's step lengths from the per-row inputs (block 0 of
// the row writes the per-row outputs). cgls_residual sums |s - a q|^2 in double per block, and
// a second small kernel adds each row's partials in a fixed order (rows.cuh): deterministic,
// no atomics.
#include "../cgls.h"
#include "launch.cuh"
#include "rows.cuh"

#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>

namespace torchlops {
namespace {

constexpr int kCgThreads = 256;
constexpr int kUnroll = 4;

// slices per row: about 2048 blocks in all (enough to fill any current GPU), at least
// kCgThreads * kUnroll elements per slice, at most 1024 slices
int64_t slices(int64_t B, int64_t n) {
  const int64_t per = kCgThreads * kUnroll;
  const int64_t want = std::max<int64_t>(1, 2048 / std::max<int64_t>(B, 1));
  return std::clamp<int64_t>(std::min<int64_t>((n + per - 1) / per, want), 1, 1024);
}

template <typename scalar_t, typename real_t>
__global__ void __launch_bounds__(kCgThreads)
    cgls_residual_kernel(const scalar_t* __restrict__ s, const scalar_t* __restrict__ q,
                         const real_t* __restrict__ kold, const real_t* __restrict__ qn, const bool* __restrict__ act,
                         scalar_t* __restrict__ out, real_t* __restrict__ a, double* __restrict__ part, int64_t B,
                         int64_t n) {
  const int64_t step = int64_t(gridDim.x) * kCgThreads;
  for (int64_t b = blockIdx.y; b < B; b += gridDim.y) {
    const real_t qb = qn[b];
    const real_t ab = masked_ratio(kold[b], qb * qb, act[b]);
    if (blockIdx.x == 0 && threadIdx.x == 0) a[b] = ab;
    const scalar_t* sb = s + b * n;
    const scalar_t* qr = q + b * n;
    scalar_t* ob = out + b * n;
    double acc = 0.0;
    int64_t i = int64_t(blockIdx.x) * kCgThreads + threadIdx.x;
    for (; i + (kUnroll - 1) * step < n; i += kUnroll * step) {
      scalar_t sv[kUnroll], qv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        sv[u] = sb[i + u * step];
        qv[u] = qr[i + u * step];
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const scalar_t v = sv[u] - ab * qv[u];
        ob[i + u * step] = v;
        acc += abs2(v);
      }
    }
    for (; i < n; i += step) {
      const scalar_t v = sb[i] - ab * qr[i];
      ob[i] = v;
      acc += abs2(v);
    }
    cuda::block_partial<kCgThreads>(acc, part, b);
  }
}

template <typename scalar_t, typename real_t>
__global__ void __launch_bounds__(kCgThreads)
    cgls_direction_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ c,
                          const scalar_t* __restrict__ r, const real_t* __restrict__ a,
                          const real_t* __restrict__ rn, const real_t* __restrict__ kold,
                          const bool* __restrict__ act, bool keep, scalar_t* __restrict__ xo,
                          scalar_t* __restrict__ co, real_t* __restrict__ ko, int64_t B, int64_t n) {
  const int64_t step = int64_t(gridDim.x) * kCgThreads;
  for (int64_t b = blockIdx.y; b < B; b += gridDim.y) {
    const real_t rb = rn[b], k = rb * rb, kb = kold[b];
    const bool actb = act[b];
    const real_t ab = a[b], bb = masked_ratio(k, kb, actb);
    if (blockIdx.x == 0 && threadIdx.x == 0) ko[b] = actb ? k : kb;
    const bool on = !keep || actb;
    const int64_t off = b * n;
    int64_t i = int64_t(blockIdx.x) * kCgThreads + threadIdx.x;
    for (; i + (kUnroll - 1) * step < n; i += kUnroll * step) {
      scalar_t xv[kUnroll], cv[kUnroll], rv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t e = off + i + u * step;
        xv[u] = x[e];
        cv[u] = c[e];
        rv[u] = on ? r[e] : scalar_t(0);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t e = off + i + u * step;
        xo[e] = xv[u] + ab * cv[u];
        co[e] = on ? rv[u] + bb * cv[u] : cv[u];
      }
    }
    for (; i < n; i += step) {
      const int64_t e = off + i;
      const scalar_t cv = c[e];
      xo[e] = x[e] + ab * cv;
      co[e] = on ? r[e] + bb * cv : cv;
    }
  }
}

// (a row of n = 0 elements has no block of its own to write its per-row outputs: the small
// kernel below does, for every row)
template <typename real_t>
__global__ void cgls_rows_only_kernel(const real_t* __restrict__ rn, const real_t* __restrict__ kold,
                                      const bool* __restrict__ act, real_t* __restrict__ ko, int64_t B) {
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < B; b += int64_t(gridDim.x) * blockDim.x)
    ko[b] = act[b] ? rn[b] * rn[b] : kold[b];
}

unsigned int row_blocks(int64_t B) { return static_cast<unsigned int>(std::min<int64_t>((B + 127) / 128, 4096)); }

using Three = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

Three cgls_residual_cuda(const at::Tensor& s_, const at::Tensor& q_, const at::Tensor& kold_, const at::Tensor& qn_,
                         const at::Tensor& act_) {
  check_cgls_residual(s_, q_, kold_, qn_, act_);
  TORCH_CHECK(s_.is_cuda(), "torchlops.cgls_residual: expected CUDA tensors, got ", s_.device());
  const c10::cuda::CUDAGuard guard(s_.device());
  const at::Tensor s = dense(s_), q = dense(q_), kold = dense(kold_), qn = dense(qn_), act = dense(act_);
  const int64_t B = s.size(0), n = s.size(1);
  at::Tensor out = at::empty_like(s);
  at::Tensor snorm = at::empty({B}, kold.options()), a = at::empty({B}, kold.options());
  if (B == 0) return {out, snorm, a};
  // (n = 0: one slice of no elements per row still computes a and a zero norm)
  const int64_t G = slices(B, n);
  at::Tensor part = at::empty({B, G}, kold.options().dtype(at::kDouble));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(s.scalar_type(), "torchlops_cgls_residual_cuda", [&] {
    using real_t = real_of<scalar_t>;
    cgls_residual_kernel<scalar_t, real_t><<<cuda::rows_grid(B, G), kCgThreads, 0, stream>>>(
        s.const_data_ptr<scalar_t>(), q.const_data_ptr<scalar_t>(), kold.const_data_ptr<real_t>(),
        qn.const_data_ptr<real_t>(), act.const_data_ptr<bool>(), out.mutable_data_ptr<scalar_t>(),
        a.mutable_data_ptr<real_t>(), part.mutable_data_ptr<double>(), B, n);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    cuda::launch_row_norms<real_t>(part.const_data_ptr<double>(), snorm.mutable_data_ptr<real_t>(), B, G, stream);
  });
  return {out, snorm, a};
}

Three cgls_direction_cuda(const at::Tensor& x_, const at::Tensor& c_, const at::Tensor& r_, const at::Tensor& a_,
                          const at::Tensor& rn_, const at::Tensor& kold_, const at::Tensor& act_, bool keep) {
  check_cgls_direction(x_, c_, r_, a_, rn_, kold_, act_);
  TORCH_CHECK(x_.is_cuda(), "torchlops.cgls_direction: expected CUDA tensors, got ", x_.device());
  const c10::cuda::CUDAGuard guard(x_.device());
  const at::Tensor x = dense(x_), c = dense(c_), r = dense(r_), a = dense(a_), rn = dense(rn_), kold = dense(kold_),
                   act = dense(act_);
  const int64_t B = x.size(0), n = x.size(1);
  at::Tensor xo = at::empty_like(x), co = at::empty_like(x), ko = at::empty({B}, kold.options());
  if (B == 0) return {xo, co, ko};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "torchlops_cgls_direction_cuda", [&] {
    using real_t = real_of<scalar_t>;
    if (n == 0) {
      cgls_rows_only_kernel<real_t><<<row_blocks(B), 128, 0, stream>>>(
          rn.const_data_ptr<real_t>(), kold.const_data_ptr<real_t>(), act.const_data_ptr<bool>(),
          ko.mutable_data_ptr<real_t>(), B);
    } else {
      cgls_direction_kernel<scalar_t, real_t><<<cuda::rows_grid(B, slices(B, n)), kCgThreads, 0, stream>>>(
          x.const_data_ptr<scalar_t>(), c.const_data_ptr<scalar_t>(), r.const_data_ptr<scalar_t>(),
          a.const_data_ptr<real_t>(), rn.const_data_ptr<real_t>(), kold.const_data_ptr<real_t>(),
          act.const_data_ptr<bool>(), keep, xo.mutable_data_ptr<scalar_t>(), co.mutable_data_ptr<scalar_t>(),
          ko.mutable_data_ptr<real_t>(), B, n);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {xo, co, ko};
}

}  // namespace

TORCH_LIBRARY_IMPL(torchlops, CUDA, m) {
  m.impl("cgls_residual", &cgls_residual_cuda);
  m.impl("cgls_direction", &cgls_direction_cuda);
}

}  // namespace torchlops
