// CPU kernels of the band (stencil) operators: stencil (a weighted sum of stencils along
// several axes, forward or adjoint), stencil_split (one output per axis: the gradient) and
// stencil_merge (its adjoint). Index math: stencil.h.
//
// Work is cut into items run by at::parallel_for: (line, block of rows) on long lines, groups of
// whole lines on short ones. Inside an item, the interior rows are computed tap by tap over one
// contiguous range (vectorised loops) and the few rows near either end of a line from their
// (offset, coefficient) lists (visit_row / visit_col, listed once per pass).
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

// dst (+)= scale * w * sum_p c_p xs_p over len elements (ww: the weights at dst, or null). Every
// path goes through here so that an element's arithmetic does not depend on the path.
//
// The taps are summed with their bare coefficients and the sum is scaled once, as PyLops does
// ((x[i+1] - x[i]) / sampling, not x[i+1] / sampling - x[i] / sampling): on data with a large
// offset each product of a folded coefficient c / sampling would be rounded at |x| / sampling
// and their cancellation would keep that error.
template <typename scalar_t, typename real_t>
void combine(scalar_t* dst, const scalar_t* const* xs, const real_t* c, int np, const scalar_t* ww, int64_t len,
             real_t scale, bool acc, std::vector<scalar_t>& tmp) {
  // t (+)= sum_p c_p xs_p, up to four taps per pass over t
  auto taps_into = [&](scalar_t* t, bool add) {
    for (int p = 0; p < np; p += 4) {
      const int k = std::min(4, np - p);
      if (p == 0 && !add)
        vec::setk(t, xs + p, c + p, k, len);
      else
        vec::axpyk(t, xs + p, c + p, k, len);
    }
    if (np == 0 && !add) std::fill(t, t + len, scalar_t(0));
  };
  // dst (+)= scale * (k terms c_i ys_i), one pass
  auto scaled_into = [&](const scalar_t* const* ys, const real_t* cs, int k) {
    if (acc)
      vec::axpyks(dst, ys, cs, scale, k, len);
    else
      vec::setks(dst, ys, cs, scale, k, len);
  };
  if (ww == nullptr && (np == 0 || (scale == real_t(1) && !acc))) {
    taps_into(dst, acc);  // (no taps: zeros, or nothing to add)
    return;
  }
  if (ww == nullptr && np <= 4) {  // (the derivatives' stencils)
    scaled_into(xs, c, np);
    return;
  }
  tmp.resize(len);
  taps_into(tmp.data(), false);
  if (ww == nullptr) {  // (more than four taps: their sum, then scaled)
    const scalar_t* t0 = tmp.data();
    const real_t one = 1;
    scaled_into(&t0, &one, 1);
    return;
  }
  if (acc)
    for (int64_t q = 0; q < len; ++q) dst[q] += scale * ww[q] * tmp[q];
  else
    for (int64_t q = 0; q < len; ++q) dst[q] = scale * ww[q] * tmp[q];
}

// A line's rows [head, tail) are its interior: rows whose (offset, coefficient) list is the
// stencil's taps, in their order, over one contiguous range: rows [reach, n - reach) and the rows
// next to them whose list is the same (with n <= 2 reach, the longest such run, if any). The other
// rows ([0, head) and [tail, n)) with their lists: the same for every line of a pass, so listed
// once per pass.
template <typename real_t>
struct EdgeRows {
  int64_t head = 0, tail = 0;
  std::vector<int64_t> row;
  std::vector<int> start;  // entries of row k: [start[k], start[k + 1])
  std::vector<int64_t> d;
  std::vector<real_t> c;
  int most = 0;  // the longest list

  template <bool Adjoint>
  static EdgeRows make(const Stencil<real_t>& s, int64_t n) {
    std::vector<int64_t> dd;
    std::vector<real_t> cc;
    auto list = [&](int64_t i) {
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
    };
    auto full = [&](int64_t i) {
      list(i);
      if (int(dd.size()) != s.ntaps) return false;
      for (int t = 0; t < s.ntaps; ++t)
        if (dd[t] != (Adjoint ? -s.off[t] : s.off[t]) || cc[t] != s.c[t]) return false;
      return true;
    };
    EdgeRows e;
    if (n > 2 * int64_t(s.reach)) {
      e.head = s.reach;
      e.tail = n - s.reach;
      while (e.head > 0 && full(e.head - 1)) --e.head;
      while (e.tail < n && full(e.tail)) ++e.tail;
    } else {
      for (int64_t i = 0; i < n;) {
        if (!full(i)) {
          ++i;
          continue;
        }
        int64_t j = i + 1;
        while (j < n && full(j)) ++j;
        if (j - i > e.tail - e.head) e.head = i, e.tail = j;
        i = j;
      }
    }
    auto add = [&](int64_t i) {
      list(i);
      e.row.push_back(i);
      e.start.push_back(int(e.d.size()));
      e.d.insert(e.d.end(), dd.begin(), dd.end());
      e.c.insert(e.c.end(), cc.begin(), cc.end());
      e.most = std::max(e.most, int(dd.size()));
    };
    for (int64_t i = 0; i < e.head; ++i) add(i);
    for (int64_t i = e.tail; i < n; ++i) add(i);
    e.start.push_back(int(e.d.size()));
    return e;
  }
  int64_t size() const { return int64_t(row.size()); }
  // the list index of row i (a row outside the interior)
  int64_t index(int64_t i) const { return i < head ? i : head + (i - tail); }
};

// Per-thread scratch of the passes
template <typename scalar_t>
struct Scratch {
  std::vector<scalar_t> tmp, keep, x, w;
  std::vector<const scalar_t*> xs;
};

// Rows [r0, r1) of one line (n rows of `inner` elements; src/dst/wl point at its first row):
// dst (+)= scale * w * S src (or S^T for Adjoint). The interior rows go through one call over a
// contiguous range, the rows near the ends one call each.
template <typename scalar_t, typename real_t, bool Adjoint>
void band_rows(const scalar_t* src, scalar_t* dst, const scalar_t* wl, int64_t n, int64_t inner, int64_t r0,
               int64_t r1, const Stencil<real_t>& s, const EdgeRows<real_t>& E, real_t scale, bool acc,
               Scratch<scalar_t>& sc) {
  sc.xs.resize(std::max<int>(s.ntaps, E.most));
  const scalar_t** xs = sc.xs.data();
  // rows [a0, a0 + len / inner) (+)= scale * w * sum_p c_p * src rows shifted by d_p
  auto rows = [&](int64_t a0, int64_t len, int np, const int64_t* d, const real_t* c) {
    for (int p = 0; p < np; ++p) xs[p] = src + (a0 + d[p]) * inner;
    combine(dst + a0 * inner, xs, c, np, wl ? wl + a0 * inner : nullptr, len, scale, acc, sc.tmp);
  };
  const int64_t a = std::max(r0, E.head), b = std::min(r1, E.tail);
  if (a < b) {
    int64_t d[kMaxTaps];
    for (int t = 0; t < s.ntaps; ++t) d[t] = Adjoint ? -s.off[t] : s.off[t];
    rows(a, (b - a) * inner, s.ntaps, d, s.c);
  }
  auto edge_row = [&](int64_t i) {
    const int64_t k = E.index(i);
    const int e0 = E.start[k], e1 = E.start[k + 1];
    rows(i, inner, e1 - e0, E.d.data() + e0, E.c.data() + e0);
  };
  const int64_t head = a < b ? a : r1, tail = a < b ? b : r1;
  for (int64_t i = r0; i < std::min(head, r1); ++i) edge_row(i);
  for (int64_t i = std::max(tail, r0); i < r1; ++i) edge_row(i);
}

// Row i of lines laid out as in band_lines, from a list of K <= 4 (offset, coefficient) and no
// weights: y (+)= scale * sum, as combine computes it (the products summed in order, the sum
// scaled, then added to the old value: old[(r * per + g) * inner + q], or null).
template <int K, typename scalar_t, typename real_t>
void edge_lines(scalar_t* dst, int64_t ss_out, const scalar_t* src, int64_t ss_in, int64_t runs, int64_t per,
                int64_t line, int64_t inner, int64_t i, const int64_t* d, const real_t* c, real_t scale,
                const scalar_t* old) {
  int64_t o[4] = {0, 0, 0, 0};
  real_t cs[4] = {0, 0, 0, 0};
  for (int p = 0; p < K; ++p) o[p] = (i + d[p]) * inner, cs[p] = c[p];
  for (int64_t r = 0; r < runs; ++r) {
    const scalar_t* x = src + r * ss_in;
    scalar_t* y = dst + r * ss_out + i * inner;
    for (int64_t g = 0; g < per; ++g, x += line, y += line)
      for (int64_t q = 0; q < inner; ++q) {
        scalar_t v(0);
        if (K > 0) {
          scalar_t t = cs[0] * x[o[0] + q];
          if (K > 1) t += cs[1] * x[o[1] + q];
          if (K > 2) t += cs[2] * x[o[2] + q];
          if (K > 3) t += cs[3] * x[o[3] + q];
          v = scale * t;
        }
        if (old)
          y[q] = K > 0 ? *old + v : *old;
        else
          y[q] = v;
        if (old) ++old;
      }
  }
}

// Whole lines, `runs` runs of `per` lines laid end to end (line g of run r at src + r * ss_in +
// g * n * inner, dst + r * ss_out + ..., wl + g * n * inner): the same result as band_rows over
// each line, for short lines where a call per line and per row would cost more than the
// arithmetic. The rows near the ends of all the lines go through one loop per row position
// (edge_lines, or their inputs gathered into contiguous copies for combine), the interior through
// one call per run over its rows
// [head, per n - (n - tail)) as if they were one line; that call also writes the rows near the
// ends of lines inside the run, which the rows' own results then overwrite.
template <typename scalar_t, typename real_t, bool Adjoint>
void band_lines(const scalar_t* src, int64_t ss_in, scalar_t* dst, int64_t ss_out, const scalar_t* wl, int64_t runs,
                int64_t per, int64_t n, int64_t inner, const Stencil<real_t>& s, const EdgeRows<real_t>& E,
                real_t scale, bool acc, Scratch<scalar_t>& sc) {
  const int64_t line = n * inner, m = runs * per * inner;
  // a row of every line (run strides ss) -> buf (one row of inner per line)
  auto gather = [&](const scalar_t* base, int64_t ss, scalar_t* buf) {
    for (int64_t r = 0; r < runs; ++r, base += ss)
      if (inner == 1)
        for (int64_t g = 0; g < per; ++g) *buf++ = base[g * line];
      else
        for (int64_t g = 0; g < per; ++g, buf += inner) std::copy_n(base + g * line, inner, buf);
  };
  auto scatter = [&](const scalar_t* buf, scalar_t* base, int64_t ss) {
    for (int64_t r = 0; r < runs; ++r, base += ss)
      if (inner == 1)
        for (int64_t g = 0; g < per; ++g) base[g * line] = *buf++;
      else
        for (int64_t g = 0; g < per; ++g, buf += inner) std::copy_n(buf, inner, base + g * line);
  };
  sc.xs.resize(std::max<int>(s.ntaps, E.most));
  // the values to accumulate into, before the interior call overwrites them (and the gathered
  // rows' results: kept by row)
  sc.keep.resize(E.size() * m);
  if (acc)
    for (int64_t k = 0; k < E.size(); ++k) gather(dst + E.row[k] * inner, ss_out, sc.keep.data() + k * m);
  if (E.head < E.tail) {
    const int64_t a = E.head, len = (per * n - a - (n - E.tail)) * inner;
    for (int64_t r = 0; r < runs; ++r) {
      const scalar_t* x0 = src + r * ss_in;
      for (int t = 0; t < s.ntaps; ++t) sc.xs[t] = x0 + (a + (Adjoint ? -s.off[t] : s.off[t])) * inner;
      combine(dst + r * ss_out + a * inner, sc.xs.data(), s.c, s.ntaps, wl ? wl + a * inner : nullptr, len, scale,
              acc, sc.tmp);
    }
  }
  // the rows near the ends (after the interior call: their inputs are in cache)
  for (int64_t k = 0; k < E.size(); ++k) {
    const int64_t i = E.row[k];
    const int e0 = E.start[k], np = E.start[k + 1] - e0;
    if (wl == nullptr && np <= 4) {  // (the derivatives': straight from the lines into them)
      const scalar_t* old = acc ? sc.keep.data() + k * m : nullptr;
      const int64_t* d = E.d.data() + e0;
      const real_t* c = E.c.data() + e0;
      switch (np) {
        case 0: edge_lines<0>(dst, ss_out, src, ss_in, runs, per, line, inner, i, d, c, scale, old); break;
        case 1: edge_lines<1>(dst, ss_out, src, ss_in, runs, per, line, inner, i, d, c, scale, old); break;
        case 2: edge_lines<2>(dst, ss_out, src, ss_in, runs, per, line, inner, i, d, c, scale, old); break;
        case 3: edge_lines<3>(dst, ss_out, src, ss_in, runs, per, line, inner, i, d, c, scale, old); break;
        default: edge_lines<4>(dst, ss_out, src, ss_in, runs, per, line, inner, i, d, c, scale, old); break;
      }
      continue;
    }
    sc.x.resize(int64_t(E.most) * m);  // (only here: the derivatives never need it)
    if (wl) sc.w.resize(m);
    for (int p = 0; p < np; ++p) {
      gather(src + (i + E.d[e0 + p]) * inner, ss_in, sc.x.data() + p * m);
      sc.xs[p] = sc.x.data() + p * m;
    }
    if (wl) gather(wl + i * inner, 0, sc.w.data());
    combine(sc.keep.data() + k * m, sc.xs.data(), E.c.data() + e0, np, wl ? sc.w.data() : nullptr, m, scale, acc,
            sc.tmp);
    scatter(sc.keep.data() + k * m, dst + i * inner, ss_out);
  }
}

// band_lines takes lines of at most kShortLine elements whose rows are at most kNarrowRow elements
// wide (there a call per line and per row near its ends costs more than the loops over those
// rows), about kLinesItem elements per item. (Measured on one AVX2 core, float32, centred first
// derivative: lines of 16 elements 16x faster than band_rows, of 1024 as fast; on rows of 16
// elements or more, band_rows' calls per row are as fast or faster.)
constexpr int64_t kShortLine = 1024, kNarrowRow = 8, kLinesItem = 4096;

template <typename scalar_t, typename real_t, bool Adjoint>
void band_pass(const scalar_t* in, LineMap min_, scalar_t* out, LineMap mout, const scalar_t* w, int64_t lines,
               int64_t n, int64_t inner, const Stencil<real_t>& s, real_t scale, bool acc) {
  TORCH_INTERNAL_ASSERT(min_.lines_per_sample == mout.lines_per_sample);
  const int64_t lps = min_.lines_per_sample, line = n * inner;
  const EdgeRows<real_t> E = EdgeRows<real_t>::template make<Adjoint>(s, n);
  if (line <= kShortLine && inner <= kNarrowRow) {
    // runs of lines laid end to end in x, y and w: all the lines when every sample's lines follow
    // the previous sample's and there are no weights (the same for every sample), else a sample's
    const bool joined = w == nullptr && min_.sample_stride == lps * line && mout.sample_stride == lps * line;
    const int64_t run = joined ? lines : lps, nrun = lines / run;
    const int64_t ss_in = joined ? 0 : min_.sample_stride, ss_out = joined ? 0 : mout.sample_stride;
    if (run * line >= kLinesItem) {
      // long runs: items of G lines of one run
      const int64_t G = std::max<int64_t>(1, kLinesItem / line), per_run = (run + G - 1) / G;
      const int64_t grain = std::max<int64_t>(1, 32768 / (G * line));
      at::parallel_for(0, nrun * per_run, grain, [&](int64_t begin, int64_t end) {
        Scratch<scalar_t> sc;
        for (int64_t item = begin; item < end; ++item) {
          const int64_t r = item / per_run, o = (item % per_run) * G, g = std::min(G, run - o);
          const scalar_t* src = in + r * ss_in + o * line;
          scalar_t* dst = out + r * ss_out + o * line;
          const scalar_t* wl = w ? w + o * line : nullptr;
          band_lines<scalar_t, real_t, Adjoint>(src, 0, dst, 0, wl, 1, g, n, inner, s, E, scale, acc, sc);
        }
      });
    } else {
      // short runs (a sample's few lines): items of R whole runs
      const int64_t R = std::max<int64_t>(1, kLinesItem / (run * line)), items = (nrun + R - 1) / R;
      const int64_t grain = std::max<int64_t>(1, 32768 / (R * run * line));
      at::parallel_for(0, items, grain, [&](int64_t begin, int64_t end) {
        Scratch<scalar_t> sc;
        for (int64_t item = begin; item < end; ++item) {
          const int64_t r = item * R, k = std::min(R, nrun - r);
          band_lines<scalar_t, real_t, Adjoint>(in + r * ss_in, ss_in, out + r * ss_out, ss_out, w, k, run, n, inner,
                                                s, E, scale, acc, sc);
        }
      });
    }
    return;
  }
  const int64_t rows_per_block = std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1));
  const int64_t blocks = (n + rows_per_block - 1) / rows_per_block;
  const int64_t items = lines * blocks;
  const int64_t grain = std::max<int64_t>(1, 32768 / (rows_per_block * inner));
  at::parallel_for(0, items, grain, [&](int64_t begin, int64_t end) {
    Scratch<scalar_t> sc;
    for (int64_t item = begin; item < end; ++item) {
      const int64_t l = item / blocks, r0 = (item % blocks) * rows_per_block, r1 = std::min(n, r0 + rows_per_block);
      const int64_t o = l % lps;
      const scalar_t* src = in + (l / lps) * min_.sample_stride + o * line;
      scalar_t* dst = out + (l / lps) * mout.sample_stride + o * line;
      const scalar_t* wl = w ? w + o * line : nullptr;
      band_rows<scalar_t, real_t, Adjoint>(src, dst, wl, n, inner, r0, r1, s, E, scale, acc, sc);
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
