// Vector primitives of the CPU kernels (see vec.h): one source, two instruction sets.
//
// No contraction of a * b + c into a fused multiply-add here: with products rounded one by
// one, taps of opposite coefficients on equal inputs cancel exactly (a centred difference of
// a constant is 0, as in PyLops and the torch engine); an FMA keeps the rounding error of the
// first product. (simd_probe.cpp, compiled with the default contraction, tells the clones apart.)
#include "clones.h"
#include "vec.h"

// (after the includes: only this file's functions)
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__GNUC__) || defined(__clang__)
// the loops must be inlined into each clone to be compiled for its instruction set
#define TL_INLINE inline __attribute__((always_inline))
#else
#define TL_INLINE inline
#endif

namespace torchlops {
namespace vec {

namespace {
template <typename T>
TL_INLINE void axpy_impl(T* __restrict__ t, const T* __restrict__ x, T c, int64_t n) {
  for (int64_t q = 0; q < n; ++q) t[q] += c * x[q];
}
// t[q] (+)= [sc *] sum_k c[k] x[k][q] for K taps at once (one pass over t; Add: accumulate into
// t; Scaled: the sum, rounded, times sc)
template <bool Add, bool Scaled, int K, typename T>
TL_INLINE void sumk_impl(T* __restrict__ t, const T* const* x, const T* c, T sc, int64_t n) {
  const T* __restrict__ x0 = x[0];
  const T* __restrict__ x1 = x[K > 1 ? 1 : 0];
  const T* __restrict__ x2 = x[K > 2 ? 2 : 0];
  const T* __restrict__ x3 = x[K > 3 ? 3 : 0];
  const T c0 = c[0], c1 = K > 1 ? c[1] : T(0), c2 = K > 2 ? c[2] : T(0), c3 = K > 3 ? c[3] : T(0);
  for (int64_t q = 0; q < n; ++q) {
    T s = c0 * x0[q];
    if (K > 1) s += c1 * x1[q];
    if (K > 2) s += c2 * x2[q];
    if (K > 3) s += c3 * x3[q];
    if (Scaled) s = sc * s;
    if (Add)
      t[q] += s;
    else
      t[q] = s;
  }
}
template <bool Add, bool Scaled, typename T>
TL_INLINE void sumk_any(T* t, const T* const* x, const T* c, T sc, int k, int64_t n) {
  switch (k) {
    case 1: sumk_impl<Add, Scaled, 1>(t, x, c, sc, n); break;
    case 2: sumk_impl<Add, Scaled, 2>(t, x, c, sc, n); break;
    case 3: sumk_impl<Add, Scaled, 3>(t, x, c, sc, n); break;
    default: sumk_impl<Add, Scaled, 4>(t, x, c, sc, n); break;
  }
}
}  // namespace


TL_CLONES void axpy(float* t, const float* x, float c, int64_t n) { axpy_impl(t, x, c, n); }
TL_CLONES void axpy(double* t, const double* x, double c, int64_t n) { axpy_impl(t, x, c, n); }
TL_CLONES void axpyk(float* t, const float* const* x, const float* c, int k, int64_t n) {
  sumk_any<true, false>(t, x, c, 1.0f, k, n);
}
TL_CLONES void axpyk(double* t, const double* const* x, const double* c, int k, int64_t n) {
  sumk_any<true, false>(t, x, c, 1.0, k, n);
}
TL_CLONES void setk(float* t, const float* const* x, const float* c, int k, int64_t n) {
  sumk_any<false, false>(t, x, c, 1.0f, k, n);
}
TL_CLONES void setk(double* t, const double* const* x, const double* c, int k, int64_t n) {
  sumk_any<false, false>(t, x, c, 1.0, k, n);
}
TL_CLONES void axpyks(float* t, const float* const* x, const float* c, float sc, int k, int64_t n) {
  sumk_any<true, true>(t, x, c, sc, k, n);
}
TL_CLONES void axpyks(double* t, const double* const* x, const double* c, double sc, int k, int64_t n) {
  sumk_any<true, true>(t, x, c, sc, k, n);
}
TL_CLONES void setks(float* t, const float* const* x, const float* c, float sc, int k, int64_t n) {
  sumk_any<false, true>(t, x, c, sc, k, n);
}
TL_CLONES void setks(double* t, const double* const* x, const double* c, double sc, int k, int64_t n) {
  sumk_any<false, true>(t, x, c, sc, k, n);
}

}  // namespace vec
}  // namespace torchlops
