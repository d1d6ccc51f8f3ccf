// CPU kernels of the band (stencil) operators: stencil (a weighted sum of stencils along
// several axes, forward or adjoint), stencil_split (one output per axis: the gradient) and
// stencil_merge (its adjoint). Index math: stencil.h.
//
// Work is cut into (line, block of rows) items run by at::parallel_for. Inside an item, the
// interior rows are computed tap by tap over one contiguous range (vectorised loops) and
// the few rows near either end go through visit_row / visit_col.
#include "../stencil.h"
#include "../stencil_setup.h"
#include "vec.h"

#include <ATen/Parallel.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

namespace torchlops {
namespace {

// Where the lines of one pass live: line l (= b * lines_per_sample + o) of `n` rows of
// `inner` elements starts at base + b * sample_stride + o * n * inner.
struct LineMap {
  int64_t lines_per_sample, sample_stride;
};

// Rows [r0, r1) of one line (n rows of `inner` elements; src/dst point at its first row):
// dst (+)= scale * w * S src (or S^T for Adjoint). tmp/dd/cc are the caller's scratch.
//
// The taps are summed with their bare coefficients and the sum is scaled once, as PyLops does
// ((x[i+1] - x[i]) / sampling, not x[i+1] / sampling - x[i] / sampling): on data with a large
// offset each product of a folded coefficient c / sampling would be rounded at |x| / sampling
// and their cancellation would keep that error.
template <typename scalar_t, typename real_t, bool Adjoint>
void band_rows(const scalar_t* src, scalar_t* dst, const scalar_t* wl, int64_t n, int64_t inner, int64_t r0,
               int64_t r1, const Stencil<real_t>& s, real_t scale, bool acc, std::vector<scalar_t>& tmp,
               std::vector<int64_t>& dd, std::vector<real_t>& cc) {
  // rows [a0, a0 + len / inner) (+)= scale * w * sum_p c_p * src rows shifted by d_p
  auto rows = [&](int64_t a0, int64_t len, int np, const int64_t* d, const real_t* c) {
    scalar_t* dd0 = dst + a0 * inner;
    // t (+)= sum_p c_p * src rows, up to four taps per pass over t
    auto taps_into = [&](scalar_t* t, bool add) {
      for (int p = 0; p < np; p += 4) {
        const int k = std::min(4, np - p);
        const scalar_t* xs[4];
        real_t cs[4];
        for (int i = 0; i < k; ++i) {
          xs[i] = src + (a0 + d[p + i]) * inner;
          cs[i] = c[p + i];
        }
        if (p == 0 && !add)
          vec::setk(t, xs, cs, k, len);
        else
          vec::axpyk(t, xs, cs, k, len);
      }
      if (np == 0 && !add) std::fill(t, t + len, scalar_t(0));
    };
    // dst (+)= scale * (k terms c_i xs_i), one pass
    auto scaled_into = [&](const scalar_t* const* xs, const real_t* cs, int k) {
      if (acc)
        vec::axpyks(dd0, xs, cs, scale, k, len);
      else
        vec::setks(dd0, xs, cs, scale, k, len);
    };
    if (wl == nullptr && (np == 0 || (scale == real_t(1) && !acc))) {
      taps_into(dd0, acc);  // (no taps: zeros, or nothing to add)
      return;
    }
    if (wl == nullptr && np <= 4) {  // (the derivatives' stencils)
      const scalar_t* xs[4];
      for (int i = 0; i < np; ++i) xs[i] = src + (a0 + d[i]) * inner;
      scaled_into(xs, c, np);
      return;
    }
    tmp.resize(len);
    taps_into(tmp.data(), false);
    if (wl == nullptr) {  // (more than four taps: their sum, then scaled)
      const scalar_t* t0 = tmp.data();
      const real_t one = 1;
      scaled_into(&t0, &one, 1);
      return;
    }
    const scalar_t* ww = wl + a0 * inner;
    if (acc)
      for (int64_t q = 0; q < len; ++q) dd0[q] += scale * ww[q] * tmp[q];
    else
      for (int64_t q = 0; q < len; ++q) dd0[q] = scale * ww[q] * tmp[q];
  };
  // interior rows: every tap over one contiguous range
  const int64_t a = std::max<int64_t>(r0, s.reach), b = std::min<int64_t>(r1, n - s.reach);
  if (a < b) {
    int64_t d[kMaxTaps];
    for (int t = 0; t < s.ntaps; ++t) d[t] = Adjoint ? -s.off[t] : s.off[t];
    rows(a, (b - a) * inner, s.ntaps, d, s.c);
  }
  // rows near the ends: their own list of (offset, coefficient)
  auto edge_row = [&](int64_t i) {
    dd.clear();
    cc.clear();
    auto push = [&](int64_t d, real_t c) {
      dd.push_back(d);
      cc.push_back(c);
    };
    if (Adjoint)
      visit_col<real_t, int64_t>(s, i, n, push);
    else
      visit_row<real_t, int64_t>(s, i, n, push);
    rows(i, inner, int(dd.size()), dd.data(), cc.data());
  };
  const int64_t head = a < b ? a : r1, tail = a < b ? b : r1;
  for (int64_t i = r0; i < std::min(head, r1); ++i) edge_row(i);
  for (int64_t i = std::max(tail, r0); i < r1; ++i) edge_row(i);
}

template <typename scalar_t, typename real_t, bool Adjoint>
void band_pass(const scalar_t* in, LineMap min_, scalar_t* out, LineMap mout, const scalar_t* w, int64_t lines,
               int64_t n, int64_t inner, const Stencil<real_t>& s, real_t scale, bool acc) {
  const int64_t rows_per_block = std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1));
  const int64_t blocks = (n + rows_per_block - 1) / rows_per_block;
  const int64_t items = lines * blocks;
  const int64_t grain = std::max<int64_t>(1, 32768 / (rows_per_block * inner));
  at::parallel_for(0, items, grain, [&](int64_t begin, int64_t end) {
    std::vector<scalar_t> tmp;
    std::vector<int64_t> dd;
    std::vector<real_t> cc;
    dd.reserve(kMaxTaps + kMaxEdge);
    cc.reserve(kMaxTaps + kMaxEdge);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t l = item / blocks, r0 = (item % blocks) * rows_per_block, r1 = std::min(n, r0 + rows_per_block);
      const int64_t o = l % min_.lines_per_sample;
      const scalar_t* src = in + (l / min_.lines_per_sample) * min_.sample_stride + o * n * inner;
      const int64_t ow = l % mout.lines_per_sample;
      scalar_t* dst = out + (l / mout.lines_per_sample) * mout.sample_stride + ow * n * inner;
      const scalar_t* wl = w ? w + ow * n * inner : nullptr;
      band_rows<scalar_t, real_t, Adjoint>(src, dst, wl, n, inner, r0, r1, s, scale, acc, tmp, dd, cc);
    }
  });
}

// lines of the pass along model axis `a` of x (B, *dims): (B * prod(dims[:a]), n, inner)
struct AxisView {
  int64_t lines_per_sample, lines, n, inner;
};
AxisView axis_view(at::IntArrayRef dims, int64_t batch, int64_t a) {
  AxisView v{1, 0, dims[a], 1};
  for (int64_t d = 0; d < a; ++d) v.lines_per_sample *= dims[d];
  for (size_t d = a + 1; d < dims.size(); ++d) v.inner *= dims[d];
  v.lines = batch * v.lines_per_sample;
  return v;
}

void check_input(const at::Tensor& x, int64_t lead, const char* what) {
  TORCH_CHECK(x.device().is_cpu(), "torchlops.", what, ": expected a CPU tensor, got one on ", x.device());
  check_stencil_input(x, lead, what);
}

at::Tensor stencil_cpu(const at::Tensor& x_, at::IntArrayRef axes, at::ArrayRef<double> scales,
                       at::ArrayRef<double> spec, const std::optional<at::Tensor>& weights, bool adjoint) {
  check_input(x_, 1, "stencil");
  const at::Tensor x = dense(x_);
  const int64_t B = x.size(0);
  const at::IntArrayRef dims = x.sizes().slice(1);
  const int64_t N = x.numel() / std::max<int64_t>(B, 1);
  const at::Tensor w = stencil_weights(x, weights, int64_t(axes.size()));
  at::Tensor y = at::empty_like(x);
  if (x.numel() == 0) return y;
  const std::vector<double> sp(spec.begin(), spec.end());
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "torchlops_stencil_cpu", [&] {
    using real_t = real_of<scalar_t>;
    const auto s = unpack_stencil<real_t>(sp);
    const auto T = make_terms<real_t, int64_t>(x, 1, axes, scales, s);
    for (int t = 0; t < T.nterms; ++t) {
      const AxisView v = axis_view(dims, B, axes[t]);
      const LineMap m{v.lines_per_sample, N};
      const scalar_t* wt = w.defined() ? w.const_data_ptr<scalar_t>() + t * N : nullptr;
      if (!adjoint) {
        // y (+)= scale_t * w_t * S_t x
        band_pass<scalar_t, real_t, false>(x.const_data_ptr<scalar_t>(), m, y.mutable_data_ptr<scalar_t>(), m, wt,
                                           v.lines, v.n, v.inner, s, T.scale[t], t > 0);
      } else if (wt) {
        // x (+)= scale_t * S_t^T (conj(w_t) y)
        at::Tensor yw = at::empty_like(x);
        const scalar_t* src = x.const_data_ptr<scalar_t>();
        scalar_t* dst = yw.mutable_data_ptr<scalar_t>();
        at::parallel_for(0, B * N, 32768, [&](int64_t e0, int64_t e1) {
          for (int64_t e = e0; e < e1; ++e) dst[e] = conj_(wt[e % N]) * src[e];
        });
        band_pass<scalar_t, real_t, true>(yw.const_data_ptr<scalar_t>(), m, y.mutable_data_ptr<scalar_t>(), m,
                                          nullptr, v.lines, v.n, v.inner, s, T.scale[t], t > 0);
      } else {
        band_pass<scalar_t, real_t, true>(x.const_data_ptr<scalar_t>(), m, y.mutable_data_ptr<scalar_t>(), m,
                                          nullptr, v.lines, v.n, v.inner, s, T.scale[t], t > 0);
      }
    }
  });
  return y;
}

// stencil without weights, and the 2-norm of each output sample (a second pass on the CPU: the
// fused form is the CUDA vector path's)
std::tuple<at::Tensor, at::Tensor> stencil_norm_cpu(const at::Tensor& x, at::IntArrayRef axes,
                                                    at::ArrayRef<double> scales, at::ArrayRef<double> spec,
                                                    bool adjoint) {
  check_input(x, 1, "stencil_norm");
  at::Tensor y = stencil_cpu(x, axes, scales, spec, std::nullopt, adjoint);
  return {y, sample_norms(y)};
}

// y[b, t] = scale_t * S_t x[b]   ((B, *dims) -> (B, T, *dims))
at::Tensor stencil_split_cpu(const at::Tensor& x_, at::IntArrayRef axes, at::ArrayRef<double> scales,
                             at::ArrayRef<double> spec) {
  check_input(x_, 1, "stencil_split");
  const at::Tensor x = dense(x_);
  const int64_t B = x.size(0), nt = int64_t(axes.size());
  const at::IntArrayRef dims = x.sizes().slice(1);
  at::Tensor y = split_output(x, nt);
  if (x.numel() == 0) return y;
  const int64_t N = x.numel() / B;
  const std::vector<double> sp(spec.begin(), spec.end());
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "torchlops_stencil_split_cpu", [&] {
    using real_t = real_of<scalar_t>;
    const auto s = unpack_stencil<real_t>(sp);
    const auto T = make_terms<real_t, int64_t>(x, 1, axes, scales, s);
    for (int t = 0; t < T.nterms; ++t) {
      const AxisView v = axis_view(dims, B, axes[t]);
      band_pass<scalar_t, real_t, false>(x.const_data_ptr<scalar_t>(), LineMap{v.lines_per_sample, N},
                                         y.mutable_data_ptr<scalar_t>() + t * N, LineMap{v.lines_per_sample, nt * N},
                                         nullptr, v.lines, v.n, v.inner, s, T.scale[t], false);
    }
  });
  return y;
}

// x[b] = sum_t scale_t * S_t^T y[b, t]   ((B, T, *dims) -> (B, *dims))
at::Tensor stencil_merge_cpu(const at::Tensor& y_, at::IntArrayRef axes, at::ArrayRef<double> scales,
                             at::ArrayRef<double> spec) {
  check_input(y_, 2, "stencil_merge");
  const at::Tensor y = dense(y_);
  const int64_t B = y.size(0), nt = int64_t(axes.size());
  const at::IntArrayRef dims = y.sizes().slice(2);
  at::Tensor x = merge_output(y, nt);
  if (x.numel() == 0) return x;
  const int64_t N = x.numel() / B;
  const std::vector<double> sp(spec.begin(), spec.end());
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(y.scalar_type(), "torchlops_stencil_merge_cpu", [&] {
    using real_t = real_of<scalar_t>;
    const auto s = unpack_stencil<real_t>(sp);
    const auto T = make_terms<real_t, int64_t>(x, 1, axes, scales, s);
    for (int t = 0; t < T.nterms; ++t) {
      const AxisView v = axis_view(dims, B, axes[t]);
      band_pass<scalar_t, real_t, true>(y.const_data_ptr<scalar_t>() + t * N, LineMap{v.lines_per_sample, nt * N},
                                        x.mutable_data_ptr<scalar_t>(), LineMap{v.lines_per_sample, N}, nullptr,
                                        v.lines, v.n, v.inner, s, T.scale[t], t > 0);
    }
  });
  return x;
}

}  // namespace

TORCH_LIBRARY_IMPL(torchlops, CPU, m) {
  m.impl("stencil", &stencil_cpu);
  m.impl("stencil_norm", &stencil_norm_cpu);
  m.impl("stencil_split", &stencil_split_cpu);
  m.impl("stencil_merge", &stencil_merge_cpu);
}

}  // namespace torchlops
