// Host emulation of the CUDA stencil kernels' vector path (csrc/stencil_vec.h): the same
// per-group bodies the kernels run, called for every group in turn, every memory access
// checked against the buffers and for 16-byte alignment. Built and loaded by
// tests/test_stencil_vec.py (plain C++, no torch headers); the plan (make_vec_taps) and
// the index math are the CUDA path's own, only the stencil and term unpacking are redone here.
#define TORCHLOPS_VEC_EMULATION 1
#include "stencil_vec.h"

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace {

struct Buffer {
  const char* lo;
  const char* hi;
};
Buffer g_buf[2];
int g_error;  // bit 0: a misaligned 16-byte access, bit 1: an access outside both buffers

}  // namespace

namespace torchlops {
bool tl_vec_access(const void* p, unsigned bytes) {
  const char* c = static_cast<const char*>(p);
  bool ok = true;
  if (bytes == 16 && reinterpret_cast<uintptr_t>(c) % 16 != 0) {
    g_error |= 1;
    ok = false;
  }
  bool inside = false;
  for (const Buffer& b : g_buf) inside = inside || (c >= b.lo && c + bytes <= b.hi);
  if (!inside) {
    g_error |= 2;
    ok = false;
  }
  return ok;
}
}  // namespace torchlops

using namespace torchlops;

namespace {

// the packed spec of torchlops/_ops.py: [ntaps, lo, hi, nedge, reach, (off, c) * ntaps, (row, col, c) * nedge]
Stencil<float> parse(const double* spec) {
  Stencil<float> s{};
  s.ntaps = int(spec[0]);
  s.lo = int(spec[1]);
  s.hi = int(spec[2]);
  s.nedge = int(spec[3]);
  s.reach = int(spec[4]);
  int p = 5;
  for (int t = 0; t < s.ntaps; ++t) {
    s.off[t] = int(spec[p++]);
    s.c[t] = float(spec[p++]);
  }
  for (int e = 0; e < s.nedge; ++e) {
    s.erow[e] = int(spec[p++]);
    s.ecol[e] = int(spec[p++]);
    s.ec[e] = float(spec[p++]);
  }
  return s;
}

template <typename F>
void with_nt(int nt, F&& f) {
  if (nt == 1) return f(std::integral_constant<int, 1>{});
  if (nt == 2) return f(std::integral_constant<int, 2>{});
  f(std::integral_constant<int, 0>{});
}

// The plan of one emulated call: the stencil, its terms over x (B, *dims), the tap table and the
// dividers, as the CUDA entry points make them; ok is false when the vector path does not take
// the case. The two buffers become the only memory the accesses may touch.
struct Plan {
  Stencil<float> s;
  Terms<float, int32_t> T;
  VecTaps vt;
  Divs D;
  int64_t N;
  bool ok;
};

Plan plan(const float* in, int64_t in_numel, float* out, int64_t out_numel, int ndim, const int64_t* dims,
          int nterms, const int64_t* axes, const double* scales, const double* spec) {
  Plan p{};
  p.s = parse(spec);
  p.T.nterms = nterms;
  p.N = 1;
  for (int d = 0; d < ndim; ++d) p.N *= dims[d];
  for (int t = 0; t < nterms; ++t) {
    int64_t stride = 1;
    for (int d = int(axes[t]) + 1; d < ndim; ++d) stride *= dims[d];
    p.T.n[t] = int32_t(dims[axes[t]]);
    p.T.stride[t] = int32_t(stride);
    p.T.scale[t] = float(scales[t]);
  }
  p.ok = make_vec_taps(p.s, p.T, dims[ndim - 1], in, out, p.vt);
  if (p.ok) p.D = make_divs(p.T, p.N);
  g_buf[0] = Buffer{reinterpret_cast<const char*>(in), reinterpret_cast<const char*>(in + in_numel)};
  g_buf[1] = Buffer{reinterpret_cast<const char*>(out), reinterpret_cast<const char*>(out + out_numel)};
  g_error = 0;
  return p;
}

}  // namespace

// mode: a VecOp (0: stencil forward, 1: stencil adjoint, 2: stencil_split, 3: stencil_merge).
// x (B, *dims) and its split form (B, nterms, *dims) as in the ops; `in` is read, `out` written.
// Returns -1 when the vector path does not take the case, else the access error bits (0: clean).
extern "C" int tl_emu_stencil(int mode, const float* in, int64_t in_numel, float* out, int64_t out_numel, int64_t B,
                              int ndim, const int64_t* dims, int nterms, const int64_t* axes, const double* scales,
                              const double* spec) {
  const Plan p = plan(in, in_numel, out, out_numel, ndim, dims, nterms, axes, scales, spec);
  if (!p.ok) return -1;
  const int32_t groups = int32_t(B * p.N / kVec), n32 = int32_t(p.N);
  with_nt(nterms, [&](auto tag) {
    constexpr int NT = decltype(tag)::value;
    auto each = [&](auto op) {
      for (int32_t g = 0; g < groups; ++g) vec_group<decltype(op)::value, NT>(g, in, out, n32, p.s, p.T, p.D, p.vt);
    };
    if (mode == kVecForward)
      each(std::integral_constant<int, kVecForward>{});
    else if (mode == kVecAdjoint)
      each(std::integral_constant<int, kVecAdjoint>{});
    else if (mode == kVecSplit)
      each(std::integral_constant<int, kVecSplit>{});
    else
      each(std::integral_constant<int, kVecMerge>{});
  });
  return g_error;
}

// q = v / d with the kernels' multiply-shift division, for the divisor and the values given
extern "C" void tl_emu_fastdiv(int64_t d, const uint32_t* v, uint32_t* q, int64_t count) {
  const FastDiv f = fastdiv_for(d);
  for (int64_t k = 0; k < count; ++k) q[k] = fdiv(f, v[k]);
}

// The norm kernel of the vector path (stencil_vec_norm_kernel: mode forward or adjoint): its
// 2-D grid of G = vec_norm_slices(B, Q) slices by B rows, every lane of every block through
// vec_row_part, a block's lanes summed into its partial, each row's partials summed in slice
// order; norms[b] gets the square root. Returns as tl_emu_stencil.
extern "C" int tl_emu_stencil_norm(int mode, const float* in, int64_t numel, float* out, int64_t B, int ndim,
                                   const int64_t* dims, int nterms, const int64_t* axes, const double* scales,
                                   const double* spec, double* norms) {
  const Plan p = plan(in, numel, out, numel, ndim, dims, nterms, axes, scales, spec);
  if (!p.ok) return -1;
  const int32_t Q = int32_t(p.N / kVec), n32 = int32_t(p.N);
  const int32_t G = vec_norm_slices(B, Q), lanes = G * kVecNormThreads;
  with_nt(nterms, [&](auto tag) {
    constexpr int NT = decltype(tag)::value;
    auto rows = [&](auto op) {
      constexpr int Op = decltype(op)::value;
      for (int32_t b = 0; b < int32_t(B); ++b) {
        double row = 0.0;
        for (int32_t slice = 0; slice < G; ++slice) {
          double part = 0.0;
          for (int32_t t = 0; t < kVecNormThreads; ++t)
            part += vec_row_part<Op, NT>(b, slice * kVecNormThreads + t, lanes, Q, in, out, n32, p.s, p.T, p.D, p.vt);
          row += part;
        }
        norms[b] = std::sqrt(row);
      }
    };
    if (mode == kVecForward)
      rows(std::integral_constant<int, kVecForward>{});
    else
      rows(std::integral_constant<int, kVecAdjoint>{});
  });
  return g_error;
}

// the norm kernel's slices per row (its grid's x size) for B rows of Q groups
extern "C" int32_t tl_emu_norm_slices(int64_t B, int64_t Q) { return vec_norm_slices(B, Q); }
