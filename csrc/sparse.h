// Per-element math of the fused steps of the sparsity solvers (ISTA/FISTA), shared by the
// device kernels: the thresholdings and the interpolation z = a + w (b - a).
#pragma once

#include "common.h"

#include <cmath>

namespace torchlops {

// thresholding kinds of the `shrink` op
enum ShrinkKind : int64_t { kSoft = 0, kHard = 1 };

// soft thresholding v - clamp(v, -t, t): sign(v) max(|v| - t, 0), NaN stays NaN (in v or t)
template <typename T>
TL_HD T soft_(T v, T t) {
  if (t != t) return t;          // a NaN threshold: NaN, as torch.clamp's NaN bounds give
  const T lo = v < -t ? -t : v;  // max(v, -t), v when v is NaN
  const T c = t < lo ? t : lo;   // min(lo, t)
  return v - c;
}

// hard thresholding with bound b = sqrt(2 thresh): 0 where |v| <= b, NaN stays NaN
template <typename T>
TL_HD T hard_(T v, T b) {
  return (v < T(0) ? -v : v) <= b ? T(0) : v;
}

// a + w (b - a) rounded as torch.lerp: from the nearer end
template <typename T>
TL_HD T lerp_(T a, T b, T w) {
  return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
}

}  // namespace torchlops
