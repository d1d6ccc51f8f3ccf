// Per-element index math of the band (stencil) operators, shared by the CPU and CUDA kernels
// (plain C++: no ATen, so the CUDA kernels' per-thread code can also be run on the host).
//
// A stencil along one axis of length n is
//   interior rows lo <= i < n - hi:  y[i] = sum_t c_t x[i + off_t]   (taps outside [0, n) drop)
//   edge rows:                       y[row] += c x[col]              (row, col < 0 count from n)
// every other row is zero. The adjoint of a row stencil is the column gather
//   x[j] = sum over the rows r that read column j of coef(r, j) y[r],
// so forward and adjoint both write each output element once (no atomics).
//
// Both directions are "visits": visit_row / visit_col call f(d, c) for every contribution
// c * v[e + d * stride] to the element at e; the kernels decide what v is.
#pragma once

#include "hd.h"

#include <cstdint>

namespace torchlops {

constexpr int kMaxTaps = 65;
constexpr int kMaxEdge = 16;
constexpr int kMaxTerms = 8;

template <typename real_t>
struct Stencil {
  int ntaps, lo, hi, nedge;
  int reach;  // rows/columns at least `reach` from both ends are plain interior rows
  int off[kMaxTaps];
  real_t c[kMaxTaps];
  int erow[kMaxEdge], ecol[kMaxEdge];
  real_t ec[kMaxEdge];
};

// One axis of a sum of stencils: length n, element stride, scale.
template <typename real_t, typename index_t>
struct Terms {
  int nterms;
  index_t n[kMaxTerms], stride[kMaxTerms];
  real_t scale[kMaxTerms];
};

template <typename index_t>
TL_HD index_t from_end(int v, index_t n) {
  return v < 0 ? n + v : index_t(v);
}

// y[i] = sum_t c_t x[i + off_t] (lo <= i < n - hi, 0 <= i + off_t < n)  +  edge rows of i
template <typename real_t, typename index_t, typename F>
TL_HD void visit_row(const Stencil<real_t>& s, index_t i, index_t n, F&& f) {
  if (i >= s.reach && i < n - s.reach) {
    for (int t = 0; t < s.ntaps; ++t) f(index_t(s.off[t]), s.c[t]);
    return;
  }
  if (i >= s.lo && i < n - s.hi) {
    for (int t = 0; t < s.ntaps; ++t) {
      const index_t j = i + s.off[t];
      if (j >= 0 && j < n) f(index_t(s.off[t]), s.c[t]);
    }
  }
  for (int e = 0; e < s.nedge; ++e) {
    if (from_end(s.erow[e], n) != i) continue;
    const index_t col = from_end(s.ecol[e], n);
    if (col >= 0 && col < n) f(col - i, s.ec[e]);
  }
}

// x[j] = sum_t c_t y[j - off_t] over interior rows j - off_t  +  edge entries of column j
template <typename real_t, typename index_t, typename F>
TL_HD void visit_col(const Stencil<real_t>& s, index_t j, index_t n, F&& f) {
  if (j >= s.reach && j < n - s.reach) {
    for (int t = 0; t < s.ntaps; ++t) f(index_t(-s.off[t]), s.c[t]);
    return;
  }
  for (int t = 0; t < s.ntaps; ++t) {
    const index_t r = j - s.off[t];
    if (r >= s.lo && r < n - s.hi) f(r - j, s.c[t]);
  }
  for (int e = 0; e < s.nedge; ++e) {
    if (from_end(s.ecol[e], n) != j) continue;
    const index_t row = from_end(s.erow[e], n);
    if (row >= 0 && row < n) f(row - j, s.ec[e]);
  }
}

// acc + c * v with the product rounded on its own, never contracted into one fused
// multiply-add: then taps of opposite coefficients on equal inputs cancel exactly (a centred
// difference of a constant is 0, as with the torch engine and PyLops). nvcc contracts a * b + c
// by default; the _rn intrinsics are never contracted. (Complex values: stencil.h.)
TL_HD float add_product(float acc, float c, float v) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(acc, __fmul_rn(c, v));
#else
  return acc + c * v;
#endif
}

TL_HD double add_product(double acc, double c, double v) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(acc, __dmul_rn(c, v));
#else
  return acc + c * v;
#endif
}

// ------------------------------------------------------------------------------ division
// Division by a divisor known at launch: q = (umulhi(v, m) + v) >> s with
// s = ceil(log2 d), m = floor(2^32 (2^s - d) / d) + 1 (exact for v < 2^31, the 32-bit path's
// range, where umulhi(v, m) + v cannot overflow). A hardware 32-bit division costs about 20
// instructions on a GPU; this costs 3.
struct FastDiv {
  uint32_t d, m, s;
};

// (1 <= d < 2^31)
inline FastDiv fastdiv_for(int64_t d) {
  uint32_t s = 0;
  while ((uint64_t(1) << s) < uint64_t(d)) ++s;
  const uint64_t m = ((uint64_t(1) << 32) * ((uint64_t(1) << s) - uint64_t(d))) / uint64_t(d) + 1;
  return FastDiv{uint32_t(d), uint32_t(m), s};
}

TL_HD uint32_t umulhi32(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __umulhi(a, b);
#else
  return uint32_t((uint64_t(a) * uint64_t(b)) >> 32);
#endif
}

TL_HD uint32_t fdiv(const FastDiv& f, uint32_t v) { return (umulhi32(v, f.m) + v) >> f.s; }

// The per-term dividers of the 32-bit path: row index i_t = (e / stride_t) % n_t, and e / N.
struct Divs {
  FastDiv stride[kMaxTerms], n[kMaxTerms], N;
};

// (32-bit index_t only: every stride, length and N in [1, 2^31))
template <typename real_t, typename index_t>
Divs make_divs(const Terms<real_t, index_t>& T, int64_t N) {
  Divs D{};
  if constexpr (sizeof(index_t) == 4) {
    for (int t = 0; t < T.nterms; ++t) {
      D.stride[t] = fastdiv_for(T.stride[t]);
      D.n[t] = fastdiv_for(T.n[t]);
    }
    D.N = fastdiv_for(N > 1 ? N : 1);
  }
  return D;
}

// row index of element e along term t's axis
template <typename real_t, typename index_t>
TL_HD index_t row_of(index_t e, int t, const Terms<real_t, index_t>& T, const Divs& D) {
  if constexpr (sizeof(index_t) == 4) {
    const uint32_t q = fdiv(D.stride[t], uint32_t(e));
    return index_t(q - fdiv(D.n[t], q) * D.n[t].d);
  } else {
    return (e / T.stride[t]) % T.n[t];
  }
}

// e / N
template <typename index_t>
TL_HD index_t div_N(index_t e, index_t N, const Divs& D) {
  if constexpr (sizeof(index_t) == 4) {
    return index_t(fdiv(D.N, uint32_t(e)));
  } else {
    return e / N;
  }
}

// e % N
template <typename index_t>
TL_HD index_t mod_N(index_t e, index_t N, const Divs& D) {
  return e - div_N(e, N, D) * N;
}

}  // namespace torchlops
