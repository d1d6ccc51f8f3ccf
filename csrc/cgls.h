// Shared pieces of the fused CGLS steps (cpu/cgls_cpu.cpp, cuda/cgls_cuda.cu): |v|^2 of a real
// or complex scalar in double, and the argument checks of both entry points.
#pragma once

#include "common.h"

namespace torchlops {

template <typename T>
TL_HD double abs2(T v) {
  return double(v) * double(v);
}
template <typename T>
TL_HD double abs2(c10::complex<T> v) {
  return double(v.real()) * double(v.real()) + double(v.imag()) * double(v.imag());
}

// a = num / den where the row is active and den != 0, else 0 (CGLS' step lengths)
template <typename real_t>
TL_HD real_t masked_ratio(real_t num, real_t den, bool act) {
  return act && den != real_t(0) ? num / den : real_t(0);
}

// t: (B, n) rows of ref's dtype and device (float32/64, complex64/128), ref's shape
inline void check_cgls_rows(const at::Tensor& t, const char* op, const char* name, const at::Tensor& ref) {
  const auto dt = ref.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble || dt == at::kComplexFloat || dt == at::kComplexDouble,
              "torchlops.", op, ": expected float32, float64, complex64 or complex128 rows, got ", dt);
  TORCH_CHECK(ref.dim() == 2, "torchlops.", op, ": expected (B, n) rows, got shape ", ref.sizes());
  TORCH_CHECK(t.device() == ref.device(), "torchlops.", op, ": ", name, " must be on ", ref.device(), ", got ",
              t.device());
  TORCH_CHECK(t.scalar_type() == dt, "torchlops.", op, ": ", name, " must be ", dt, ", got ", t.scalar_type());
  TORCH_CHECK(t.sizes() == ref.sizes(), "torchlops.", op, ": ", name, " must have shape ", ref.sizes(), ", got ",
              t.sizes());
}

// a per-row coefficient: B values of ref's real dtype on ref's device
inline void check_cgls_coef(const at::Tensor& t, const char* op, const char* name, const at::Tensor& ref) {
  const auto rt = c10::toRealValueType(ref.scalar_type());
  TORCH_CHECK(t.device() == ref.device(), "torchlops.", op, ": ", name, " must be on ", ref.device(), ", got ",
              t.device());
  TORCH_CHECK(t.scalar_type() == rt, "torchlops.", op, ": ", name, " must be ", rt, ", got ", t.scalar_type());
  TORCH_CHECK(t.numel() == ref.size(0), "torchlops.", op, ": ", name, " must hold one value per row (", ref.size(0),
              "), got shape ", t.sizes());
}

inline void check_cgls_mask(const at::Tensor& t, const char* op, const at::Tensor& ref) {
  TORCH_CHECK(t.device() == ref.device() && t.scalar_type() == at::kBool && t.numel() == ref.size(0), "torchlops.",
              op, ": act must be a bool tensor of one value per row (", ref.size(0), ") on ", ref.device(),
              ", got ", t.scalar_type(), " of shape ", t.sizes(), " on ", t.device());
}

// the arguments of cgls_residual(s, q, kold, qn, act) (each device adds its own device check)
inline void check_cgls_residual(const at::Tensor& s, const at::Tensor& q, const at::Tensor& kold,
                                const at::Tensor& qn, const at::Tensor& act) {
  check_cgls_rows(s, "cgls_residual", "s", s);
  check_cgls_rows(q, "cgls_residual", "q", s);
  check_cgls_coef(kold, "cgls_residual", "kold", s);
  check_cgls_coef(qn, "cgls_residual", "qn", s);
  check_cgls_mask(act, "cgls_residual", s);
}

// the arguments of cgls_direction(x, c, r, a, rn, kold, act, keep)
inline void check_cgls_direction(const at::Tensor& x, const at::Tensor& c, const at::Tensor& r, const at::Tensor& a,
                                 const at::Tensor& rn, const at::Tensor& kold, const at::Tensor& act) {
  check_cgls_rows(x, "cgls_direction", "x", x);
  check_cgls_rows(c, "cgls_direction", "c", x);
  check_cgls_rows(r, "cgls_direction", "r", x);
  check_cgls_coef(a, "cgls_direction", "a", x);
  check_cgls_coef(rn, "cgls_direction", "rn", x);
  check_cgls_coef(kold, "cgls_direction", "kold", x);
  check_cgls_mask(act, "cgls_direction", x);
}

}  // namespace torchlops
