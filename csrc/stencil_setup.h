// Host-side argument checks and output allocation of the stencil ops (used by the CPU and the
// CUDA entry points alike; each adds its own device check).
#pragma once

#include "common.h"

#include <vector>

namespace torchlops {

// x is a floating/complex tensor with at least `lead` leading dims and one model dim
inline void check_stencil_input(const at::Tensor& x, int64_t lead, const char* what) {
  TORCH_CHECK(at::isFloatingType(x.scalar_type()) || at::isComplexType(x.scalar_type()), "torchlops.", what,
              ": expected a floating or complex tensor, got ", x.scalar_type());
  TORCH_CHECK(x.dim() >= lead + 1, "torchlops.", what, ": expected an input of at least ", lead + 1,
              " dims (batch first), got shape ", x.sizes());
}

// the weights (T, *dims) of x (B, *dims), dense, or an undefined tensor without weights
inline at::Tensor stencil_weights(const at::Tensor& x, const std::optional<at::Tensor>& weights, int64_t nterms) {
  if (!weights.has_value()) return at::Tensor();
  TORCH_CHECK(weights->device() == x.device(), "torchlops.stencil: weights must be on ", x.device(), ", got ",
              weights->device());
  at::Tensor w = dense(*weights);
  TORCH_CHECK(w.scalar_type() == x.scalar_type(), "torchlops.stencil: weights must have the input's dtype ",
              x.scalar_type(), ", got ", w.scalar_type());
  const at::IntArrayRef dims = x.sizes().slice(1);
  TORCH_CHECK(w.dim() == x.dim() && w.size(0) == nterms && w.sizes().slice(1) == dims,
              "torchlops.stencil: weights must have shape (", nterms, ", *dims) with dims ", dims, ", got ",
              w.sizes());
  return w;
}

// the output of stencil_split: (B, T, *dims) for x (B, *dims)
inline at::Tensor split_output(const at::Tensor& x, int64_t nterms) {
  std::vector<int64_t> shape{x.size(0), nterms};
  shape.insert(shape.end(), x.sizes().begin() + 1, x.sizes().end());
  return at::empty(shape, x.options());
}

// the output of stencil_merge: (B, *dims) for y (B, T, *dims)
inline at::Tensor merge_output(const at::Tensor& y, int64_t nterms) {
  TORCH_CHECK(y.size(1) == nterms, "torchlops.stencil_merge: expected ", nterms, " components in dim 1, got shape ",
              y.sizes());
  std::vector<int64_t> shape{y.size(0)};
  shape.insert(shape.end(), y.sizes().begin() + 2, y.sizes().end());
  return at::empty(shape, y.options());
}

// the 2-norm of each sample of y (B, *dims): (B,) of y's real dtype (stencil_norm where its
// kernels do not compute it in the same pass)
inline at::Tensor sample_norms(const at::Tensor& y) {
  int64_t n = 1;
  for (int64_t d = 1; d < y.dim(); ++d) n *= y.size(d);
  return at::linalg_vector_norm(y.reshape({y.size(0), n}), 2, at::IntArrayRef{1}, false, std::nullopt);
}

}  // namespace torchlops
