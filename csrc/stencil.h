// Host-side setup of the band (stencil) operators' kernels: the packed stencil description
// sent from Python, and the per-axis terms of an input (index math: stencil_math.h).
#pragma once

#include "common.h"
#include "stencil_math.h"

#include <algorithm>
#include <vector>

namespace torchlops {

// add_product (stencil_math.h) of a complex value scaled by a real coefficient: per component
template <typename T>
TL_HD c10::complex<T> add_product(c10::complex<T> acc, T c, c10::complex<T> v) {
  return c10::complex<T>(add_product(acc.real(), c, v.real()), add_product(acc.imag(), c, v.imag()));
}

// The packed description sent from Python (see torchlops/_ops.py: stencil_spec):
//   [ntaps, lo, hi, nedge, reach, (off, c) * ntaps, (row, col, c) * nedge]
template <typename real_t>
Stencil<real_t> unpack_stencil(const std::vector<double>& spec) {
  TORCH_CHECK(spec.size() >= 5, "torchlops: stencil spec must hold at least 5 numbers, got ", spec.size());
  // every count, row, column and offset is a whole number well inside int's range (a cast of
  // anything else is undefined, and the reach arithmetic below must not overflow)
  auto as_int = [](double v, const char* what) {
    TORCH_CHECK(v == v && v >= -double(1 << 30) && v <= double(1 << 30) && v == double(static_cast<int>(v)),
                "torchlops: stencil spec's ", what, " must be a whole number in [-2^30, 2^30], got ", v);
    return static_cast<int>(v);
  };
  Stencil<real_t> s{};
  s.ntaps = as_int(spec[0], "tap count");
  s.lo = as_int(spec[1], "lo");
  s.hi = as_int(spec[2], "hi");
  s.nedge = as_int(spec[3], "edge count");
  s.reach = as_int(spec[4], "reach");
  TORCH_CHECK(s.ntaps >= 0 && s.ntaps <= kMaxTaps, "torchlops: a stencil has at most ", kMaxTaps,
              " taps, got ", s.ntaps);
  TORCH_CHECK(s.nedge >= 0 && s.nedge <= kMaxEdge, "torchlops: a stencil has at most ", kMaxEdge,
              " edge entries, got ", s.nedge);
  TORCH_CHECK(spec.size() == size_t(5 + 2 * s.ntaps + 3 * s.nedge), "torchlops: stencil spec of ", s.ntaps,
              " taps and ", s.nedge, " edge entries must hold ", 5 + 2 * s.ntaps + 3 * s.nedge,
              " numbers, got ", spec.size());
  size_t p = 5;
  for (int t = 0; t < s.ntaps; ++t) {
    s.off[t] = as_int(spec[p++], "tap offset");
    s.c[t] = static_cast<real_t>(spec[p++]);
  }
  for (int e = 0; e < s.nedge; ++e) {
    s.erow[e] = as_int(spec[p++], "edge row");
    s.ecol[e] = as_int(spec[p++], "edge column");
    s.ec[e] = static_cast<real_t>(spec[p++]);
  }
  // the interior fast paths read rows/columns within `reach` of an element without bounds
  // checks: a reach below what the taps and edge entries need would read outside the tensor
  TORCH_CHECK(s.lo >= 0 && s.hi >= 0, "torchlops: stencil lo and hi must be >= 0, got ", s.lo, " and ", s.hi);
  int64_t need = s.lo > s.hi ? s.lo : s.hi, maxoff = 0;
  for (int t = 0; t < s.ntaps; ++t) maxoff = std::max<int64_t>(maxoff, s.off[t] < 0 ? -int64_t(s.off[t]) : s.off[t]);
  need += maxoff;
  for (int e = 0; e < s.nedge; ++e)
    for (int v : {s.erow[e], s.ecol[e]}) need = std::max<int64_t>(need, v >= 0 ? int64_t(v) + 1 : -int64_t(v));
  TORCH_CHECK(s.reach >= need, "torchlops: stencil reach must be at least ", need,
              " (max(lo, hi) + the largest tap offset, and the edge entries' extent), got ", s.reach);
  return s;
}

// The kernels compute s on an axis of length n as the torch engine does only where its edge rows
// lie inside the axis and outside the interior [lo, n - hi), are distinct, and their columns lie
// inside the axis (the operators check the same before choosing the kernels: _ops.stencil_rows_ok)
template <typename real_t>
void check_axis_fits(const Stencil<real_t>& s, int64_t n, int64_t axis) {
  auto wrap = [n](int64_t i) { return i < 0 ? i + n : i; };
  for (int e = 0; e < s.nedge; ++e) {
    const int64_t r = wrap(s.erow[e]), c = wrap(s.ecol[e]);
    TORCH_CHECK(r >= 0 && r < n && !(r >= s.lo && r < n - s.hi) && c >= 0 && c < n,
                "torchlops: the stencil's edge entry (", s.erow[e], ", ", s.ecol[e], ") does not fit axis ", axis,
                " of length ", n);
    for (int f = 0; f < e; ++f)
      TORCH_CHECK(s.erow[f] == s.erow[e] || wrap(s.erow[f]) != r, "torchlops: the stencil's edge rows ", s.erow[f],
                  " and ", s.erow[e], " overlap on axis ", axis, " of length ", n);
  }
}

// Terms along the given model axes of x of shape (B, *dims) (axes count the model dims), each
// axis long enough for the stencil s (check_axis_fits).
template <typename real_t, typename index_t>
Terms<real_t, index_t> make_terms(const at::Tensor& x, int64_t lead, at::IntArrayRef axes,
                                  at::ArrayRef<double> scales, const Stencil<real_t>& s) {
  TORCH_CHECK(axes.size() == scales.size(), "torchlops: one scale per axis expected, got ", axes.size(),
              " axes and ", scales.size(), " scales");
  TORCH_CHECK(axes.size() >= 1 && axes.size() <= size_t(kMaxTerms), "torchlops: between 1 and ", kMaxTerms,
              " stencil axes expected, got ", axes.size());
  Terms<real_t, index_t> T{};
  T.nterms = static_cast<int>(axes.size());
  const int64_t nd = x.dim() - lead;
  for (size_t t = 0; t < axes.size(); ++t) {
    const int64_t a = axes[t];
    TORCH_CHECK(a >= 0 && a < nd, "torchlops: stencil axis must lie in [0, ", nd, "), got ", a);
    check_axis_fits(s, x.size(lead + a), a);
    int64_t stride = 1;
    for (int64_t d = lead + a + 1; d < x.dim(); ++d) stride *= x.size(d);
    T.n[t] = static_cast<index_t>(x.size(lead + a));
    T.stride[t] = static_cast<index_t>(stride);
    T.scale[t] = static_cast<real_t>(scales[t]);
  }
  return T;
}

}  // namespace torchlops
