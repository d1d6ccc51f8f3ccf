// Vector primitives of the CPU kernels. The real versions are compiled twice (x86-64-v3:
// AVX2+FMA, and the baseline ISA) and the best one is picked when the library loads (GCC/Clang
// target_clones), so a build runs everywhere and uses AVX2 where the CPU has it.
// Complex arrays scaled by a real coefficient are the same loops on interleaved reals.
#pragma once

#include "../common.h"

namespace torchlops {
namespace vec {

// the instruction set of the clones picked on this CPU ("x86-64-v3", "avx2" or "baseline"),
// decided the same way as the clones' resolver
const char* simd_level();

// t[q] += c * x[q]
void axpy(float* t, const float* x, float c, int64_t n);
void axpy(double* t, const double* x, double c, int64_t n);
// t[q] += c[0] x[0][q] + ... + c[k-1] x[k-1][q], 1 <= k <= 4 (k taps per pass over t)
void axpyk(float* t, const float* const* x, const float* c, int k, int64_t n);
void axpyk(double* t, const double* const* x, const double* c, int k, int64_t n);
// t[q] = c[0] x[0][q] + ... + c[k-1] x[k-1][q], 1 <= k <= 4
void setk(float* t, const float* const* x, const float* c, int k, int64_t n);
void setk(double* t, const double* const* x, const double* c, int k, int64_t n);
// the same, the sum (rounded) then times sc: t[q] += sc * (sum), t[q] = sc * (sum)
void axpyks(float* t, const float* const* x, const float* c, float sc, int k, int64_t n);
void axpyks(double* t, const double* const* x, const double* c, double sc, int k, int64_t n);
void setks(float* t, const float* const* x, const float* c, float sc, int k, int64_t n);
void setks(double* t, const double* const* x, const double* c, double sc, int k, int64_t n);

// complex coefficient (complex filters)
template <typename T>
inline void axpy(c10::complex<T>* t, const c10::complex<T>* x, c10::complex<T> c, int64_t n) {
  for (int64_t q = 0; q < n; ++q) t[q] += c * x[q];
}

// complex arrays, real coefficients: the real loops on interleaved (re, im) pairs
template <typename T>
inline void axpyk(c10::complex<T>* t, const c10::complex<T>* const* x, const T* c, int k, int64_t n) {
  const T* xr[4];
  for (int i = 0; i < k; ++i) xr[i] = reinterpret_cast<const T*>(x[i]);
  axpyk(reinterpret_cast<T*>(t), xr, c, k, 2 * n);
}
template <typename T>
inline void setk(c10::complex<T>* t, const c10::complex<T>* const* x, const T* c, int k, int64_t n) {
  const T* xr[4];
  for (int i = 0; i < k; ++i) xr[i] = reinterpret_cast<const T*>(x[i]);
  setk(reinterpret_cast<T*>(t), xr, c, k, 2 * n);
}
template <typename T>
inline void axpyks(c10::complex<T>* t, const c10::complex<T>* const* x, const T* c, T sc, int k, int64_t n) {
  const T* xr[4];
  for (int i = 0; i < k; ++i) xr[i] = reinterpret_cast<const T*>(x[i]);
  axpyks(reinterpret_cast<T*>(t), xr, c, sc, k, 2 * n);
}
template <typename T>
inline void setks(c10::complex<T>* t, const c10::complex<T>* const* x, const T* c, T sc, int k, int64_t n) {
  const T* xr[4];
  for (int i = 0; i < k; ++i) xr[i] = reinterpret_cast<const T*>(x[i]);
  setks(reinterpret_cast<T*>(t), xr, c, sc, k, 2 * n);
}
template <typename T>
inline void axpyk(c10::complex<T>* t, const c10::complex<T>* const* x, const c10::complex<T>* c, int k, int64_t n) {
  for (int64_t q = 0; q < n; ++q) {
    c10::complex<T> s = c[0] * x[0][q];
    for (int i = 1; i < k; ++i) s += c[i] * x[i][q];
    t[q] += s;
  }
}

}  // namespace vec
}  // namespace torchlops
