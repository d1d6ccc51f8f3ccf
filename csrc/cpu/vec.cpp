// Vector primitives of the CPU kernels (see vec.h): one source, two instruction sets.
#include "vec.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TL_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define TL_CLONES
#endif

namespace torchlops {
namespace vec {

namespace {
template <typename T>
inline void axpy_impl(T* __restrict__ t, const T* __restrict__ x, T c, int64_t n) {
  for (int64_t q = 0; q < n; ++q) t[q] += c * x[q];
}
template <typename T>
inline void scal_impl(T* __restrict__ t, const T* __restrict__ x, T c, int64_t n) {
  for (int64_t q = 0; q < n; ++q) t[q] = c * x[q];
}
}  // namespace

TL_CLONES void axpy(float* t, const float* x, float c, int64_t n) { axpy_impl(t, x, c, n); }
TL_CLONES void axpy(double* t, const double* x, double c, int64_t n) { axpy_impl(t, x, c, n); }
TL_CLONES void scal(float* t, const float* x, float c, int64_t n) { scal_impl(t, x, c, n); }
TL_CLONES void scal(double* t, const double* x, double c, int64_t n) { scal_impl(t, x, c, n); }

}  // namespace vec
}  // namespace torchlops
