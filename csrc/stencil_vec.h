// The vector path of the CUDA stencil kernels (float32): each thread computes four
// consecutive elements along the contiguous last axis with 16-byte loads and stores.
//
// Four consecutive elements e..e+3 (e a multiple of 4, the last axis a multiple of 4 long)
// share every index but the last, so along every other axis (stride a multiple of 4) they
// share their row, and each tap of their row is one aligned 16-byte load: x[e + d stride
// .. + 3]. Along the contiguous axis itself (stride 1) their inputs lie in the window
// x[e - 4 .. e + 7] of three aligned loads (taps within +-4 of the row), and output u takes
// the window entries 4 + u + d of its taps d (indices known at compile time: the window stays
// in registers). Groups near either end of the contiguous axis visit each element's row with
// scalar loads; rows near the ends of the other axes visit the shared row with vector loads.
// A 2-D Laplacian costs 6 loads per 4 outputs this way instead of 24.
//
// Plain C++ (no ATen, no CUDA intrinsics but through stencil_math.h): the per-group bodies
// below are the whole per-thread work of the kernels in cuda/stencil_cuda.cu, and a host build
// with TORCHLOPS_VEC_EMULATION defined runs them on the CPU, every access checked (the tests'
// emulation of the CUDA path, tests/cpp/stencil_vec_emu.cpp).
#pragma once

#include "stencil_math.h"

#include <cstdint>
#include <cstring>

namespace torchlops {

constexpr int kVec = 4;       // floats per thread (one 16-byte access)
constexpr int kVecReach = 4;  // taps along the contiguous axis within +-kVecReach of the row

struct alignas(16) F4 {
  float v[kVec];
};

// Every access of the vector path goes through these. With TORCHLOPS_VEC_EMULATION (host
// only), tl_vec_access(p, bytes) is asked first: false (out of bounds, misaligned) makes a
// load read zeros and a store write nothing, the emulation records why.
#if !defined(__CUDA_ARCH__) && defined(TORCHLOPS_VEC_EMULATION)
bool tl_vec_access(const void* p, unsigned bytes);
#define TL_VEC_ACCESS(p, bytes) tl_vec_access(p, bytes)
#else
#define TL_VEC_ACCESS(p, bytes) true
#endif

TL_HD F4 load4(const float* p) {
  F4 r{};
  if (!TL_VEC_ACCESS(p, 16)) return r;
#if defined(__CUDA_ARCH__)
  r = *reinterpret_cast<const F4*>(p);
#else
  std::memcpy(r.v, p, sizeof(r.v));
#endif
  return r;
}

TL_HD float load1(const float* p) { return TL_VEC_ACCESS(p, 4) ? *p : 0.0f; }

TL_HD void store4(float* p, const F4& v) {
  if (!TL_VEC_ACCESS(p, 16)) return;
#if defined(__CUDA_ARCH__)
  *reinterpret_cast<F4*>(p) = v;
#else
  std::memcpy(p, v.v, sizeof(v.v));
#endif
}

// The taps of the stencil along the contiguous axis, by offset: c[d + 4] for a tap at d
// (forward) or at -d (adjoint); bit d + 4 of mask marks an offset with a tap (a tap's
// coefficient is added only where there is one: 0 * inf stays out of the sum).
struct VecTaps {
  float cf[2 * kVecReach + 1], ca[2 * kVecReach + 1];
  uint32_t maskf, maska;
};

// Whether the vector path computes the stencil op on x (B, *dims, last = dims[-1]) read from
// `in` and written to `out` (the split / merge outputs have the same alignment when N is a
// multiple of 4, which last % 4 == 0 gives), and its tap table.
template <typename index_t>
bool make_vec_taps(const Stencil<float>& s, const Terms<float, index_t>& T, int64_t last, const void* in,
                   const void* out, VecTaps& vt) {
  if (last % kVec != 0) return false;
  if (reinterpret_cast<uintptr_t>(in) % 16 != 0 || reinterpret_cast<uintptr_t>(out) % 16 != 0) return false;
  bool along_last = false;
  for (int t = 0; t < T.nterms; ++t) {
    if (T.stride[t] == 1)
      along_last = true;
    else if (T.stride[t] % kVec != 0)
      return false;
  }
  vt = VecTaps{};
  if (!along_last) return true;
  double cf[2 * kVecReach + 1] = {}, ca[2 * kVecReach + 1] = {};
  for (int k = 0; k < s.ntaps; ++k) {
    const int d = s.off[k];
    if (d < -kVecReach || d > kVecReach) return false;
    cf[d + kVecReach] += s.c[k];
    ca[-d + kVecReach] += s.c[k];
    vt.maskf |= 1u << (d + kVecReach);
    vt.maska |= 1u << (-d + kVecReach);
  }
  for (int j = 0; j < 2 * kVecReach + 1; ++j) {
    vt.cf[j] = float(cf[j]);
    vt.ca[j] = float(ca[j]);
  }
  return true;
}

// Number of terms: NT > 0 known at compile time (the term loop unrolls), NT = 0 read from T.
template <int NT, typename real_t, typename index_t>
TL_HD int nterms(const Terms<real_t, index_t>& T) {
  return NT > 0 ? NT : T.nterms;
}

// v[u] += the row (forward) or column (adjoint) of element e + u along term t, applied to
// src at `at` + u (`at`: the group's first element in src, which has the strides of x)
template <bool Adjoint>
TL_HD void vec_term(const float* __restrict__ src, int32_t at, int32_t e, int t, const Stencil<float>& s,
                    const Terms<float, int32_t>& T, const Divs& D, const VecTaps& vt, float (&v)[kVec]) {
  const int32_t n = T.n[t], st = T.stride[t];
  const int32_t i = row_of(e, t, T, D);  // along the contiguous axis: the column of element e
  if (st == 1) {
    if (i >= s.reach && i + (kVec - 1) < n - s.reach) {
      const uint32_t mask = Adjoint ? vt.maska : vt.maskf;
      const float* c = Adjoint ? vt.ca : vt.cf;
      // window w[j] = src[at - 4 + j]: the left / right vectors only when a tap reaches them
      float w[3 * kVec];
      const F4 mid = load4(src + at);
      const F4 lft = (mask & 0x0Fu) ? load4(src + at - kVec) : F4{};
      const F4 rgt = (mask & 0x1E0u) ? load4(src + at + kVec) : F4{};
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        w[j] = lft.v[j];
        w[kVec + j] = mid.v[j];
        w[2 * kVec + j] = rgt.v[j];
      }
#pragma unroll
      for (int u = 0; u < kVec; ++u) {
#pragma unroll
        for (int d = -kVecReach; d <= kVecReach; ++d)
          if (mask & (1u << (d + kVecReach))) v[u] = add_product(v[u], c[d + kVecReach], w[kVec + u + d]);
      }
      return;
    }
#pragma unroll
    for (int u = 0; u < kVec; ++u) {
      auto f = [&](int32_t d, float c) { v[u] = add_product(v[u], c, load1(src + at + u + d)); };
      if (Adjoint)
        visit_col<float, int32_t>(s, i + u, n, f);
      else
        visit_row<float, int32_t>(s, i + u, n, f);
    }
    return;
  }
  auto f = [&](int32_t d, float c) {
    const F4 l = load4(src + at + d * st);
#pragma unroll
    for (int u = 0; u < kVec; ++u) v[u] = add_product(v[u], c, l.v[u]);
  };
  if (Adjoint)
    visit_col<float, int32_t>(s, i, n, f);
  else
    visit_row<float, int32_t>(s, i, n, f);
}

// The ops of the vector path, one per stencil op (direction): in -> out
//   forward / adjoint (no weights): out[e..e+3] = sum_t scale_t S_t in      (S_t^T for adjoint)
//   split (the gradient):           out[b, t, p..p+3] = scale_t S_t in[b]   (e = b N + p)
//   merge (its adjoint):            out[b, p..p+3] = sum_t scale_t (S_t^T in[b, t])[p..p+3]
enum VecOp : int { kVecForward, kVecAdjoint, kVecSplit, kVecMerge };

// the whole per-thread work of the vector kernels for group g (e = 4 g); returns the sum of
// squares of the values it stores, in double (the kernels that do not use it drop it)
template <int Op, int NT>
TL_HD double vec_group(int32_t g, const float* __restrict__ in, float* __restrict__ out, int32_t N,
                       const Stencil<float>& s, const Terms<float, int32_t>& T, const Divs& D, const VecTaps& vt) {
  constexpr bool Split = Op == kVecSplit || Op == kVecMerge;  // (one side in the (B, T, *dims) layout)
  constexpr bool Adjoint = Op == kVecAdjoint || Op == kVecMerge;
  const int32_t e = g * kVec;
  int32_t comp0 = e;  // offset of component 0 of the group in the (B, T, *dims) layout
  if constexpr (Split) {
    const int32_t b = div_N(e, N, D);
    comp0 = b * nterms<NT>(T) * N + (e - b * N);
  }
  double ss = 0.0;
  F4 acc{};
#pragma unroll
  for (int t = 0; t < nterms<NT>(T); ++t) {
    float v[kVec] = {};
    if constexpr (Op == kVecMerge)
      vec_term<true>(in + t * N, comp0, e, t, s, T, D, vt, v);
    else
      vec_term<Adjoint>(in, e, e, t, s, T, D, vt, v);
    if constexpr (Op == kVecSplit) {
      F4 r;
#pragma unroll
      for (int u = 0; u < kVec; ++u) {
        r.v[u] = T.scale[t] * v[u];
        ss += double(r.v[u]) * double(r.v[u]);
      }
      store4(out + comp0 + t * N, r);
    } else {
#pragma unroll
      for (int u = 0; u < kVec; ++u) acc.v[u] += T.scale[t] * v[u];
    }
  }
  if constexpr (Op != kVecSplit) {
#pragma unroll
    for (int u = 0; u < kVec; ++u) ss += double(acc.v[u]) * double(acc.v[u]);
    store4(out + e, acc);
  }
  return ss;
}

// ---- the norm kernel: the vector path with each output row's 2-norm (CGLS' ||A c||)
// A 2-D grid: blockIdx.y walks the rows b of x (B, *dims), blockIdx.x splits the Q = N / 4
// groups of a row into G slices; lane j = slice * kVecNormThreads + thread computes groups
// j, j + G kVecNormThreads, ... of its row and adds their sums of squares. The kernel then
// sums a block's lanes into one partial per (row, slice), and a second kernel adds each row's
// G partials in a fixed order: the same result on every run.
constexpr int kVecNormThreads = 256;

// slices per row: about 2048 blocks in all, at least one group per lane, at most 1024
TL_HD int32_t vec_norm_slices(int64_t B, int64_t Q) {
  const int64_t want = 2048 / (B > 0 ? B : 1), need = (Q + kVecNormThreads - 1) / kVecNormThreads;
  const int64_t g = want < need ? want : need;
  return int32_t(g < 1 ? 1 : (g > 1024 ? 1024 : g));
}

// the groups of row b that lane `lane` of `lanes` (= G kVecNormThreads) computes, and the sum of
// squares of what they store
template <int Op, int NT>
TL_HD double vec_row_part(int32_t b, int32_t lane, int32_t lanes, int32_t Q, const float* __restrict__ in,
                          float* __restrict__ out, int32_t N, const Stencil<float>& s, const Terms<float, int32_t>& T,
                          const Divs& D, const VecTaps& vt) {
  double ss = 0.0;
  for (int32_t j = lane; j < Q; j += lanes) ss += vec_group<Op, NT>(b * Q + j, in, out, N, s, T, D, vt);
  return ss;
}

}  // namespace torchlops
