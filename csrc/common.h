// Shared definitions of the torchlops kernels: host/device qualifiers, conjugation of
// real and complex scalars, and the argument checks every entry point makes.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/complex.h>

#include "hd.h"

#include <cstdint>

namespace torchlops {

// conj(v): the identity on real scalars
template <typename T>
TL_HD T conj_(T v) {
  return v;
}
template <typename T>
TL_HD c10::complex<T> conj_(c10::complex<T> v) {
  return c10::complex<T>(v.real(), -v.imag());
}

// real_t of a (possibly complex) scalar type
template <typename T>
using real_of = typename c10::scalar_value_type<T>::type;

// The values of t in a plain contiguous buffer: lazy conjugation / negation bits resolved
// (the kernels read raw memory), then made contiguous.
inline at::Tensor dense(const at::Tensor& t) { return t.resolve_conj().resolve_neg().contiguous(); }

// 32-bit index math when every offset fits, 64-bit otherwise
inline bool fits_int32(int64_t n) { return n < (int64_t(1) << 31) - 1; }

}  // namespace torchlops
