// CUDA kernels of the band (stencil) operators: stencil (a weighted sum of stencils along
// several axes, forward or adjoint), stencil_split (one output per axis: the gradient) and
// stencil_merge (its adjoint). Same semantics as cpu/stencil_cpu.cpp; index math:
// stencil_math.h; the float32 vector path (TORCHLOPS_STENCIL_VEC=1): stencil_vec.h.
//
// One thread per output element, gathers only (each output element written once, no
// atomics), grid-stride loops. The Stencil and Terms descriptions travel by value as
// kernel arguments.
#include "../stencil.h"
#include "../stencil_setup.h"
#include "../stencil_vec.h"
#include "launch.cuh"
#include "rows.cuh"

#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <vector>

namespace torchlops {
namespace {

using cuda::grid_for;
using cuda::kThreads;

// The kernels: kUnroll output elements per thread, e_u = base + u blockDim (u < kUnroll:
// each a coalesced access of the warp), grid-stride over such groups. A term whose rows are
// interior for all of a thread's elements (every group but those near the ends of the axis)
// takes the taps in one loop, loading the kUnroll inputs of a tap together (independent
// loads in flight: the kernels are bound by memory latency otherwise); other groups visit
// each element's row. The stencil, the terms and the dividers are __grid_constant__ kernel
// parameters (read in place, never copied to per-thread local memory).
constexpr int kUnroll = 4;

// Per-group state: the elements, which of them exist (the last group may be partial).
template <typename index_t>
struct Group {
  index_t e[kUnroll];
  bool ok[kUnroll];
};

template <typename index_t>
__device__ __forceinline__ Group<index_t> group_at(index_t base, index_t total) {
  Group<index_t> g;
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    g.e[u] = base + index_t(u) * index_t(blockDim.x);
    g.ok[u] = g.e[u] < total;
  }
  return g;
}

// rows of the group's elements along term t; whether all of them are interior rows (an
// element past the end counts as interior and is never read)
template <typename real_t, typename index_t>
__device__ __forceinline__ bool group_rows(const Group<index_t>& g, int t, const Stencil<real_t>& s,
                                           const Terms<real_t, index_t>& T, const Divs& D, index_t (&i)[kUnroll]) {
  const index_t n = T.n[t];
  bool inner = true;
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    i[u] = g.ok[u] ? row_of(g.e[u], t, T, D) : index_t(s.reach);
    inner = inner && i[u] >= s.reach && i[u] < n - s.reach;
  }
  return inner;
}

// v[u] += sum over the row (forward) or column (adjoint) of element u of c * load(u, d),
// d the offset in elements along the axis
template <bool Adjoint, typename real_t, typename index_t, typename scalar_t, typename Load>
__device__ __forceinline__ void group_taps(const Group<index_t>& g, bool inner, const index_t (&i)[kUnroll],
                                           index_t n, const Stencil<real_t>& s, scalar_t (&v)[kUnroll],
                                           Load&& load) {
  if (inner) {
    for (int k = 0; k < s.ntaps; ++k) {
      const index_t d = Adjoint ? index_t(-s.off[k]) : index_t(s.off[k]);
      const real_t c = s.c[k];
      scalar_t l[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) l[u] = g.ok[u] ? load(u, d) : scalar_t(0);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = add_product(v[u], c, l[u]);
    }
    return;
  }
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    if (!g.ok[u]) continue;
    auto f = [&](index_t d, real_t c) { v[u] = add_product(v[u], c, load(u, d)); };
    if (Adjoint)
      visit_col<real_t, index_t>(s, i[u], n, f);
    else
      visit_row<real_t, index_t>(s, i[u], n, f);
  }
}

// y[e] = sum_t scale_t * w_t[p] * sum_{(d, c) in row i_t} c * x[e + d * stride_t]
//   (w_t[p] = 1 without weights; p = e % N, i_t = (e / stride_t) % n_t)
template <typename scalar_t, typename real_t, typename index_t, int NT>
__global__ void __launch_bounds__(kThreads)
    stencil_forward_kernel(const scalar_t* __restrict__ x, const scalar_t* __restrict__ w, scalar_t* __restrict__ y,
                           index_t total, index_t N, const __grid_constant__ Stencil<real_t> s,
                           const __grid_constant__ Terms<real_t, index_t> T, const __grid_constant__ Divs D) {
  const index_t span = index_t(blockDim.x) * kUnroll, step = index_t(gridDim.x) * span;
  for (index_t base = index_t(blockIdx.x) * span + index_t(threadIdx.x); base < total; base += step) {
    const Group<index_t> g = group_at(base, total);
    scalar_t acc[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc[u] = scalar_t(0);
#pragma unroll
    for (int t = 0; t < nterms<NT>(T); ++t) {
      const index_t st = T.stride[t];
      index_t i[kUnroll];
      const bool inner = group_rows(g, t, s, T, D, i);
      scalar_t v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = scalar_t(0);
      group_taps<false>(g, inner, i, T.n[t], s, v, [&](int u, index_t d) { return x[g.e[u] + d * st]; });
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (w != nullptr)
          acc[u] += T.scale[t] * (g.ok[u] ? w[index_t(t) * N + mod_N(g.e[u], N, D)] : scalar_t(0)) * v[u];
        else
          acc[u] += T.scale[t] * v[u];
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (g.ok[u]) y[g.e[u]] = acc[u];
  }
}

// x[e] = sum_t scale_t * sum_{(d, c) in column j_t} c * conj(w_t[p + d * stride_t]) * y[e + d * stride_t]
template <typename scalar_t, typename real_t, typename index_t, int NT>
__global__ void __launch_bounds__(kThreads)
    stencil_adjoint_kernel(const scalar_t* __restrict__ y, const scalar_t* __restrict__ w, scalar_t* __restrict__ x,
                           index_t total, index_t N, const __grid_constant__ Stencil<real_t> s,
                           const __grid_constant__ Terms<real_t, index_t> T, const __grid_constant__ Divs D) {
  const index_t span = index_t(blockDim.x) * kUnroll, step = index_t(gridDim.x) * span;
  for (index_t base = index_t(blockIdx.x) * span + index_t(threadIdx.x); base < total; base += step) {
    const Group<index_t> g = group_at(base, total);
    index_t p[kUnroll];
    if (w != nullptr) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) p[u] = g.ok[u] ? mod_N(g.e[u], N, D) : index_t(0);
    }
    scalar_t acc[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc[u] = scalar_t(0);
#pragma unroll
    for (int t = 0; t < nterms<NT>(T); ++t) {
      const index_t st = T.stride[t];
      index_t i[kUnroll];
      const bool inner = group_rows(g, t, s, T, D, i);
      scalar_t v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = scalar_t(0);
      if (w != nullptr) {
        const scalar_t* wt = w + index_t(t) * N;
        group_taps<true>(g, inner, i, T.n[t], s, v, [&](int u, index_t d) {
          const index_t q = d * st;
          return y[g.e[u] + q] * conj_(wt[p[u] + q]);
        });
      } else {
        group_taps<true>(g, inner, i, T.n[t], s, v, [&](int u, index_t d) { return y[g.e[u] + d * st]; });
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) acc[u] += T.scale[t] * v[u];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (g.ok[u]) x[g.e[u]] = acc[u];
  }
}

// y[b, t, p] = scale_t * S_t x[b] at p: one thread per (b, p) writes all T components
template <typename scalar_t, typename real_t, typename index_t, int NT>
__global__ void __launch_bounds__(kThreads)
    stencil_split_kernel(const scalar_t* __restrict__ x, scalar_t* __restrict__ y, index_t total, index_t N,
                         const __grid_constant__ Stencil<real_t> s, const __grid_constant__ Terms<real_t, index_t> T,
                         const __grid_constant__ Divs D) {
  const index_t span = index_t(blockDim.x) * kUnroll, step = index_t(gridDim.x) * span;
  const index_t nt = index_t(nterms<NT>(T));
  for (index_t base = index_t(blockIdx.x) * span + index_t(threadIdx.x); base < total; base += step) {
    const Group<index_t> g = group_at(base, total);
    index_t out[kUnroll];  // y offset of component 0 of element u: b nt N + p
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const index_t b = g.ok[u] ? div_N(g.e[u], N, D) : index_t(0);
      out[u] = b * nt * N + (g.e[u] - b * N);
    }
#pragma unroll
    for (int t = 0; t < nterms<NT>(T); ++t) {
      const index_t st = T.stride[t];
      index_t i[kUnroll];
      const bool inner = group_rows(g, t, s, T, D, i);
      scalar_t v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = scalar_t(0);
      group_taps<false>(g, inner, i, T.n[t], s, v, [&](int u, index_t d) { return x[g.e[u] + d * st]; });
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        if (g.ok[u]) y[out[u] + index_t(t) * N] = T.scale[t] * v[u];
    }
  }
}

// x[b, p] = sum_t scale_t * (S_t^T y[b, t])[p]: one thread per x element gathers every component
template <typename scalar_t, typename real_t, typename index_t, int NT>
__global__ void __launch_bounds__(kThreads)
    stencil_merge_kernel(const scalar_t* __restrict__ y, scalar_t* __restrict__ x, index_t total, index_t N,
                         const __grid_constant__ Stencil<real_t> s, const __grid_constant__ Terms<real_t, index_t> T,
                         const __grid_constant__ Divs D) {
  const index_t span = index_t(blockDim.x) * kUnroll, step = index_t(gridDim.x) * span;
  const index_t nt = index_t(nterms<NT>(T));
  for (index_t base = index_t(blockIdx.x) * span + index_t(threadIdx.x); base < total; base += step) {
    const Group<index_t> g = group_at(base, total);
    index_t in[kUnroll];  // y offset of component 0 of element u
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const index_t b = g.ok[u] ? div_N(g.e[u], N, D) : index_t(0);
      in[u] = b * nt * N + (g.e[u] - b * N);
    }
    scalar_t acc[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc[u] = scalar_t(0);
#pragma unroll
    for (int t = 0; t < nterms<NT>(T); ++t) {
      const index_t st = T.stride[t];
      index_t i[kUnroll];
      const bool inner = group_rows(g, t, s, T, D, i);
      scalar_t v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = scalar_t(0);
      const scalar_t* yt = y + index_t(t) * N;
      group_taps<true>(g, inner, i, T.n[t], s, v, [&](int u, index_t d) { return yt[in[u] + d * st]; });
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) acc[u] += T.scale[t] * v[u];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (g.ok[u]) x[g.e[u]] = acc[u];
  }
}

// The vector path (float32, 4 consecutive elements per thread: stencil_vec.h): one kernel
// for the four ops, the per-thread work is vec_group, grid-stride over the groups.
template <int Op, int NT>
__global__ void __launch_bounds__(kThreads)
    stencil_vec_kernel(const float* __restrict__ in, float* __restrict__ out, int32_t groups, int32_t N,
                       const __grid_constant__ Stencil<float> s, const __grid_constant__ Terms<float, int32_t> T,
                       const __grid_constant__ Divs D, const __grid_constant__ VecTaps vt) {
  for (int32_t g = int32_t(blockIdx.x * blockDim.x + threadIdx.x); g < groups; g += int32_t(gridDim.x * blockDim.x))
    vec_group<Op, NT>(g, in, out, N, s, T, D, vt);
}

// The vector path with each output sample's 2-norm (stencil_vec.h: vec_row_part): a 2-D grid
// of slices (x) by samples (y); part[b G + slice] gets the slice's sum of squares.
template <int Op, int NT>
__global__ void __launch_bounds__(kVecNormThreads)
    stencil_vec_norm_kernel(const float* __restrict__ in, float* __restrict__ out, int32_t B, int32_t Q, int32_t N,
                            const __grid_constant__ Stencil<float> s, const __grid_constant__ Terms<float, int32_t> T,
                            const __grid_constant__ Divs D, const __grid_constant__ VecTaps vt,
                            double* __restrict__ part) {
  const int32_t lanes = int32_t(gridDim.x) * kVecNormThreads;
  const int32_t lane = int32_t(blockIdx.x) * kVecNormThreads + int32_t(threadIdx.x);
  // (b depends on the block only: every thread of a block takes the same rows, as
  // block_partial's barriers need)
  for (int32_t b = int32_t(blockIdx.y); b < B; b += int32_t(gridDim.y))
    cuda::block_partial<kVecNormThreads>(vec_row_part<Op, NT>(b, lane, lanes, Q, in, out, N, s, T, D, vt), part, b);
}

// TORCHLOPS_STENCIL_VEC=1 turns the vector path on (off by default until it has been measured
// and tested on a GPU; its per-thread code is tested on the CPU by tests/test_stencil_vec.py)
bool vec_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("TORCHLOPS_STENCIL_VEC");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

// Launch op Op of the vector path from in to out (x: the model, (B, *dims)) when it takes the
// case (float32, 32-bit indices, the conditions of make_vec_taps); false when it does not. With
// `norm` (forward / adjoint only), the norm kernel instead: out and each sample's 2-norm in *norm.
template <int Op, int NT, typename scalar_t, typename real_t, typename index_t>
bool try_vec(const at::Tensor& x, const at::Tensor& in, const at::Tensor& out, int64_t N, const Stencil<real_t>& s,
             const Terms<real_t, index_t>& T, const Divs& D, cudaStream_t stream, at::Tensor* norm = nullptr) {
  if constexpr (std::is_same_v<scalar_t, float> && std::is_same_v<index_t, int32_t>) {
    VecTaps vt;
    if (!vec_enabled() || !make_vec_taps(s, T, x.size(-1), in.const_data_ptr(), out.const_data_ptr(), vt))
      return false;
    const int64_t total = x.numel();
    if constexpr (Op == kVecForward || Op == kVecAdjoint) {
      if (norm != nullptr) {
        const int64_t B = x.size(0), Q = N / kVec;
        const int32_t G = vec_norm_slices(B, Q);
        at::Tensor part = at::empty({B, G}, x.options().dtype(at::kDouble));
        *norm = at::empty({B}, x.options());
        stencil_vec_norm_kernel<Op, NT><<<cuda::rows_grid(B, G), kVecNormThreads, 0, stream>>>(
            in.const_data_ptr<float>(), out.mutable_data_ptr<float>(), int32_t(B), int32_t(Q), int32_t(N), s, T, D,
            vt, part.mutable_data_ptr<double>());
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        cuda::launch_row_norms<float>(part.const_data_ptr<double>(), norm->mutable_data_ptr<float>(), B, G, stream);
        return true;
      }
    }
    stencil_vec_kernel<Op, NT><<<grid_for(total / kVec), kThreads, 0, stream>>>(
        in.const_data_ptr<float>(), out.mutable_data_ptr<float>(), int32_t(total / kVec), int32_t(N), s, T, D, vt);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return true;
  } else {
    return false;
  }
}

// blocks of the kernels above for `total` elements (kUnroll per thread)
inline unsigned int groups_grid(int64_t total) { return grid_for((total + kUnroll - 1) / kUnroll); }

// 32-bit index math when every offset, and base + the grid's span in the grid-stride loop, fits
inline bool small_index(int64_t n) { return fits_int32(n + cuda::kMaxBlocks * kThreads * kUnroll); }

// f(std::integral_constant<int, NT>{}) with NT = T.nterms for 1 and 2 terms (the derivatives,
// the 2-D Laplacian and gradient) on the 32-bit path, NT = 0 (read at run time) otherwise
template <typename index_t, typename F>
void with_nterms(int nt, F&& f) {
  if constexpr (sizeof(index_t) == 4) {
    if (nt == 1) return f(std::integral_constant<int, 1>{});
    if (nt == 2) return f(std::integral_constant<int, 2>{});
  }
  f(std::integral_constant<int, 0>{});
}

void check_input(const at::Tensor& x, int64_t lead, const char* what) {
  TORCH_CHECK(x.is_cuda(), "torchlops.", what, ": expected a CUDA tensor, got one on ", x.device());
  check_stencil_input(x, lead, what);
}

// The stencil op; with `norm`, stencil_norm's: *norm gets each sample's 2-norm when the vector
// path computed it with y (else it stays undefined).
at::Tensor stencil_into(const at::Tensor& x_, at::IntArrayRef axes, at::ArrayRef<double> scales,
                        at::ArrayRef<double> spec, const std::optional<at::Tensor>& weights, bool adjoint,
                        at::Tensor* norm, const char* what) {
  check_input(x_, 1, what);
  const c10::cuda::CUDAGuard guard(x_.device());
  const at::Tensor x = dense(x_);
  const int64_t B = x.size(0);
  const int64_t N = x.numel() / std::max<int64_t>(B, 1);
  const at::Tensor w = stencil_weights(x, weights, int64_t(axes.size()));
  at::Tensor y = at::empty_like(x);
  if (x.numel() == 0) return y;
  const std::vector<double> sp(spec.begin(), spec.end());
  const int64_t total = x.numel();
  const bool small = small_index(std::max<int64_t>(total, w.defined() ? w.numel() : 0));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "torchlops_stencil_cuda", [&] {
    using real_t = real_of<scalar_t>;
    const auto s = unpack_stencil<real_t>(sp);
    const scalar_t* wp = w.defined() ? w.const_data_ptr<scalar_t>() : nullptr;
    auto launch = [&](auto index_tag) {
      using index_t = decltype(index_tag);
      const auto T = make_terms<real_t, index_t>(x, 1, axes, scales, s);
      const Divs D = make_divs(T, N);
      with_nterms<index_t>(T.nterms, [&](auto nt) {
        constexpr int NT = decltype(nt)::value;
        if (wp == nullptr && (adjoint ? try_vec<kVecAdjoint, NT, scalar_t>(x, x, y, N, s, T, D, stream, norm)
                                      : try_vec<kVecForward, NT, scalar_t>(x, x, y, N, s, T, D, stream, norm)))
          return;
        if (!adjoint)
          stencil_forward_kernel<scalar_t, real_t, index_t, NT><<<groups_grid(total), kThreads, 0, stream>>>(
              x.const_data_ptr<scalar_t>(), wp, y.mutable_data_ptr<scalar_t>(), index_t(total), index_t(N), s, T, D);
        else
          stencil_adjoint_kernel<scalar_t, real_t, index_t, NT><<<groups_grid(total), kThreads, 0, stream>>>(
              x.const_data_ptr<scalar_t>(), wp, y.mutable_data_ptr<scalar_t>(), index_t(total), index_t(N), s, T, D);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    };
    cuda::with_index_type(small, launch);
  });
  return y;
}

at::Tensor stencil_cuda(const at::Tensor& x, at::IntArrayRef axes, at::ArrayRef<double> scales,
                        at::ArrayRef<double> spec, const std::optional<at::Tensor>& weights, bool adjoint) {
  return stencil_into(x, axes, scales, spec, weights, adjoint, nullptr, "stencil");
}

// stencil without weights and the 2-norm of each output sample: one pass on the vector path,
// elsewhere the norms are a second pass over y
std::tuple<at::Tensor, at::Tensor> stencil_norm_cuda(const at::Tensor& x, at::IntArrayRef axes,
                                                     at::ArrayRef<double> scales, at::ArrayRef<double> spec,
                                                     bool adjoint) {
  at::Tensor norm;
  at::Tensor y = stencil_into(x, axes, scales, spec, std::nullopt, adjoint, &norm, "stencil_norm");
  return {y, norm.defined() ? norm : sample_norms(y)};
}

// split: y[b, t] = scale_t * S_t x[b]   ((B, *dims) -> (B, T, *dims));
// merge: x[b] = sum_t scale_t * S_t^T y[b, t]   ((B, T, *dims) -> (B, *dims))
template <bool Merge>
at::Tensor split_merge_cuda(const at::Tensor& in_, at::IntArrayRef axes, at::ArrayRef<double> scales,
                            at::ArrayRef<double> spec) {
  const char* what = Merge ? "stencil_merge" : "stencil_split";
  check_input(in_, Merge ? 2 : 1, what);
  const c10::cuda::CUDAGuard guard(in_.device());
  const at::Tensor in = dense(in_);
  const int64_t nt = int64_t(axes.size());
  at::Tensor out = Merge ? merge_output(in, nt) : split_output(in, nt);
  const at::Tensor& x = Merge ? out : in;  // the model (B, *dims): its terms and elements
  if (x.numel() == 0) return out;
  const int64_t N = x.numel() / x.size(0), total = x.numel();
  const std::vector<double> sp(spec.begin(), spec.end());
  const bool small = small_index(std::max<int64_t>(total, (Merge ? in : out).numel()));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(in.scalar_type(),
                                         Merge ? "torchlops_stencil_merge_cuda" : "torchlops_stencil_split_cuda", [&] {
    using real_t = real_of<scalar_t>;
    const auto s = unpack_stencil<real_t>(sp);
    auto launch = [&](auto index_tag) {
      using index_t = decltype(index_tag);
      const auto T = make_terms<real_t, index_t>(x, 1, axes, scales, s);
      const Divs D = make_divs(T, N);
      with_nterms<index_t>(T.nterms, [&](auto nt) {
        constexpr int NT = decltype(nt)::value;
        if (try_vec<Merge ? kVecMerge : kVecSplit, NT, scalar_t>(x, in, out, N, s, T, D, stream)) return;
        auto* kernel = Merge ? stencil_merge_kernel<scalar_t, real_t, index_t, NT>
                             : stencil_split_kernel<scalar_t, real_t, index_t, NT>;
        kernel<<<groups_grid(total), kThreads, 0, stream>>>(in.const_data_ptr<scalar_t>(),
                                                            out.mutable_data_ptr<scalar_t>(), index_t(total),
                                                            index_t(N), s, T, D);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    };
    cuda::with_index_type(small, launch);
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(torchlops, CUDA, m) {
  m.impl("stencil", &stencil_cuda);
  m.impl("stencil_norm", &stencil_norm_cuda);
  m.impl("stencil_split", &split_merge_cuda<false>);
  m.impl("stencil_merge", &split_merge_cuda<true>);
}

}  // namespace torchlops
