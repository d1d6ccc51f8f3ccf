// CUDA kernel of the direct convolution (forward and adjoint, up to 3 axes, per-sample
// filters). Same semantics as cpu/convolve_cpu.cpp; index math: convolve.h, checks and
// geometry: conv_geom.h.
//
// General path, one thread per output element (grid-stride loop): unravel its canonical
// 7-d coordinate (outer, q1, p1, q2, p2, q3, p3), loop over the taps, skip the input
// coordinates outside [0, nin) and accumulate h * x (conj(h) * y for the adjoint).
//
// Tiled paths, chosen on the host from the geometry when they apply (the general path
// otherwise): a block computes a tile of outputs of one line (1-D, the last axis alone)
// or of one plane (2-D, the two last axes) from shared memory, which holds the input span
// the tile reads (zeros outside [0, nin)) and the taps of its sample's filter, reordered
// so that both directions read as a correlation:
//   out[i] = sum_k w[k] in[i + lo + k],  lo = base + min(0, sign (nh - 1)),
//   forward  w[k] = h[nh - 1 - k]   (input i + o - j, k = nh - 1 - j)
//   adjoint  w[k] = conj(h[k])      (input i - o + j, k = j)
// Each thread keeps R consecutive outputs of a row (RY rows in 2-D) in registers and slides
// a window over the row, R taps at a time; the tile goes back to global memory through
// shared memory, coalesced. Gathers only, each output written once, no atomics.
#include "../conv_geom.h"
#include "../convolve.h"
#include "launch.cuh"

#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <tuple>

namespace torchlops {
namespace {

using cuda::grid_for;
using cuda::kThreads;

template <typename scalar_t, typename index_t, bool Adjoint>
__global__ void convolve_kernel(const scalar_t* __restrict__ in, const scalar_t* __restrict__ h,
                                scalar_t* __restrict__ out, index_t total, ConvGeom<index_t> g) {
  const index_t step = index_t(gridDim.x) * index_t(blockDim.x);
  for (index_t e = index_t(blockIdx.x) * index_t(blockDim.x) + index_t(threadIdx.x); e < total; e += step) {
    index_t r = e;
    const index_t p3 = r % g.P[2];
    r /= g.P[2];
    const index_t q3 = r % g.nout[2];
    r /= g.nout[2];
    const index_t p2 = r % g.P[1];
    r /= g.P[1];
    const index_t q2 = r % g.nout[1];
    r /= g.nout[1];
    const index_t p1 = r % g.P[0];
    r /= g.P[0];
    const index_t q1 = r % g.nout[0];
    const index_t o = r / g.nout[0];
    scalar_t acc(0);
    for (index_t j1 = 0; j1 < g.nh[0]; ++j1) {
      const index_t c1 = in_coord(g, 0, q1, j1);
      if (c1 < 0 || c1 >= g.nin[0]) continue;
      for (index_t j2 = 0; j2 < g.nh[1]; ++j2) {
        const index_t c2 = in_coord(g, 1, q2, j2);
        if (c2 < 0 || c2 >= g.nin[1]) continue;
        for (index_t j3 = 0; j3 < g.nh[2]; ++j3) {
          const index_t c3 = in_coord(g, 2, q3, j3);
          if (c3 < 0 || c3 >= g.nin[2]) continue;
          scalar_t c = h[filt_offset(g, o, j1, j2, j3)];
          if (Adjoint) c = conj_(c);
          acc += c * in[in_offset(g, o, c1, p1, c2, p2, c3) + p3];
        }
      }
    }
    out[e] = acc;
  }
}

// ------------------------------------------------------------------------------ tiled paths
// Shared-memory rows: element u of a row sits at pad(u) = u + u / kRow, one spare slot every
// 128 bytes, so that the lanes of a warp reading with a stride of R elements (R divides kRow)
// hit distinct banks.
constexpr int kMaxRowOutputs = 8;  // outputs per thread along a row, 4-byte scalars (half for wider ones)

constexpr int kPlaneRows = 2;  // 2-D: output rows per thread (RY) of the default tile

template <typename scalar_t>
struct TileCfg {
  static constexpr int kRow = 128 / int(sizeof(scalar_t));  // elements per 128 bytes
  static constexpr int R = sizeof(scalar_t) <= 4 ? kMaxRowOutputs : kMaxRowOutputs / 2;
  static_assert(kRow % R == 0, "R must divide the elements of a 128-byte segment");
};

template <typename scalar_t>
TL_HD int pad(int u) {
  return u + u / TileCfg<scalar_t>::kRow;
}

// elements of a shared row holding samples [0, n)
template <typename scalar_t>
TL_HD int row_pitch(int n) {
  return pad<scalar_t>(n - 1) + 1;
}

constexpr int kLineThreads = 128;            // 1-D: threads per block
constexpr int kPlaneX = 32, kPlaneY = 8;     // 2-D: threads per block along columns, rows
constexpr int64_t kMaxLineTaps = 1024;       // 1-D: longest filter of the tiled path
constexpr int64_t kMaxPlaneTaps = 31;        // 2-D: longest filter (per axis) of the tiled path
constexpr size_t kDefaultSmem = 48 * 1024;   // dynamic shared memory usable without opting in

// R taps (NT <= R) of the sliding window: acc[y][r] += sum_{m < NT} w[m] row_y[pad(u + r + m)]
// for the RY rows row_y = s + y pitch. On entry v[y][m] = row_y[pad(u + m)] for m < R - 1, on
// exit the same for u + NT. u is a multiple of R: [u, u + R) and [u + R, u + 2R) each lie in
// one 128-byte segment, so pad(u + m) = a + m for m < R and b + m for m >= R.
template <int R, int RY, int NT, typename scalar_t>
__device__ __forceinline__ void taps_chunk(scalar_t (&acc)[RY][R], scalar_t (&v)[RY][2 * R - 1],
                                           const scalar_t* s, int pitch, int u, const scalar_t* w) {
  const int a = pad<scalar_t>(u), b = pad<scalar_t>(u + R) - R;
#pragma unroll
  for (int y = 0; y < RY; ++y) {
#pragma unroll
    for (int m = R - 1; m < R - 1 + NT; ++m) v[y][m] = s[y * pitch + (m < R ? a : b) + m];
  }
#pragma unroll
  for (int m = 0; m < NT; ++m) {
    const scalar_t c = w[m];
#pragma unroll
    for (int y = 0; y < RY; ++y) {
#pragma unroll
      for (int r = 0; r < R; ++r) acc[y][r] += c * v[y][r + m];
    }
  }
#pragma unroll
  for (int y = 0; y < RY; ++y) {
#pragma unroll
    for (int m = 0; m < R - 1; ++m) v[y][m] = v[y][m + NT];
  }
}

// the last `left` (< R) taps as one chunk of NT = left taps
template <int R, int RY, int NT, typename scalar_t>
__device__ __forceinline__ void taps_tail(scalar_t (&acc)[RY][R], scalar_t (&v)[RY][2 * R - 1], const scalar_t* s,
                                          int pitch, int u, const scalar_t* w, int left) {
  if constexpr (NT < R) {
    if (left == NT)
      taps_chunk<R, RY, NT>(acc, v, s, pitch, u, w);
    else
      taps_tail<R, RY, NT + 1>(acc, v, s, pitch, u, w, left);
  }
}

// acc[y][r] += sum_{k < nw} w[k] row_y[pad(u0 + r + k)], r < R, row_y = s + y pitch (u0: multiple of R)
template <int R, int RY, typename scalar_t>
__device__ __forceinline__ void row_taps(scalar_t (&acc)[RY][R], const scalar_t* s, int pitch, int u0,
                                         const scalar_t* w, int nw) {
  scalar_t v[RY][2 * R - 1];
  const int a = pad<scalar_t>(u0);
#pragma unroll
  for (int y = 0; y < RY; ++y) {
#pragma unroll
    for (int m = 0; m < R - 1; ++m) v[y][m] = s[y * pitch + a + m];
  }
  int k = 0;
  for (; k + R <= nw; k += R) taps_chunk<R, RY, R>(acc, v, s, pitch, u0 + k, w + k);
  taps_tail<R, RY, 1>(acc, v, s, pitch, u0 + k, w + k, nw - k);
}

// lowest input coordinate read by output 0 along slot t: base + min(0, sign (nh - 1))
template <typename index_t>
__device__ __forceinline__ index_t tile_lo(const ConvGeom<index_t>& g, int t) {
  return g.sign < 0 ? g.base[t] - (g.nh[t] - 1) : g.base[t];
}

// w[k] = h[n - 1 - k] (forward), conj(h[k]) (adjoint), k < n, by the nthreads threads of the block
template <bool Adjoint, typename scalar_t>
__device__ __forceinline__ void load_taps(scalar_t* w, const scalar_t* __restrict__ hf, int n, int t, int nthreads) {
  for (int k = t; k < n; k += nthreads) w[k] = Adjoint ? conj_(hf[k]) : hf[n - 1 - k];
}

// 1-D along slot 3 (nh1 = nh2 = 1, P3 = 1): block item = (line l, tile of TILE outputs from q0)
//   s[pad(u)] = in[line, q0 + lo + u] (0 outside [0, nin3)), u < TILE + nh3 - 1
//   out[line, q0 + i] = sum_k w[k] s[pad(i + k)], thread t: i = t R + r
template <typename scalar_t, typename index_t, bool Adjoint>
__global__ void __launch_bounds__(kLineThreads)
    convolve_line_kernel(const scalar_t* __restrict__ in, const scalar_t* __restrict__ h,
                         scalar_t* __restrict__ out, int64_t items, index_t tiles, ConvGeom<index_t> g) {
  constexpr int R = TileCfg<scalar_t>::R;
  constexpr int TILE = kLineThreads * R;
  extern __shared__ __align__(16) unsigned char tile_smem[];
  const int nh = int(g.nh[2]);
  const int span = TILE + nh - 1;
  scalar_t* s = reinterpret_cast<scalar_t*>(tile_smem);
  scalar_t* w = s + row_pitch<scalar_t>(span);
  const index_t lo = tile_lo(g, 2);
  const int t = int(threadIdx.x);
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    // item = l tiles + tile, l = (((o n1 + q1) P1 + p1) n2 + q2) P2 + p2
    index_t l = index_t(item / tiles);
    const index_t q0 = index_t(item % tiles) * TILE;
    const index_t yl = l * g.nout[2];
    const index_t p2 = l % g.P[1];
    l /= g.P[1];
    const index_t q2 = l % g.nout[1];
    l /= g.nout[1];
    const index_t p1 = l % g.P[0];
    l /= g.P[0];
    const index_t q1 = l % g.nout[0];
    const index_t o = l / g.nout[0];
    const index_t c1 = in_coord(g, 0, q1, index_t(0)), c2 = in_coord(g, 1, q2, index_t(0));
    const bool line_in = c1 >= 0 && c1 < g.nin[0] && c2 >= 0 && c2 < g.nin[1];
    const index_t xl = line_in ? in_offset(g, o, c1, p1, c2, p2, index_t(0)) : index_t(0);
    __syncthreads();  // the previous item's reads of s and w are done
    for (int u = t; u < span; u += kLineThreads) {
      const index_t c = q0 + lo + u;
      s[pad<scalar_t>(u)] = line_in && c >= 0 && c < g.nin[2] ? in[xl + c] : scalar_t(0);
    }
    load_taps<Adjoint>(w, h + filt_offset(g, o, index_t(0), index_t(0), index_t(0)), nh, t, kLineThreads);
    __syncthreads();
    scalar_t acc[1][R];
#pragma unroll
    for (int r = 0; r < R; ++r) acc[0][r] = scalar_t(0);
    row_taps<R, 1>(acc, s, 0, t * R, w, nh);
    __syncthreads();  // s is read: it now stages the outputs, s[pad(i)] = out[line, q0 + i]
#pragma unroll
    for (int r = 0; r < R; ++r) s[pad<scalar_t>(t * R) + r] = acc[0][r];
    __syncthreads();
    for (int u = t; u < TILE; u += kLineThreads) {
      const index_t q = q0 + u;
      if (q < g.nout[2]) out[yl + q] = s[pad<scalar_t>(u)];
    }
  }
}

// 2-D along slots 2 and 3 (nh1 = 1, P2 = P3 = 1): block item = (plane pl, tile of TH x TW
// outputs from (r0, c0)); thread (tx, ty) computes rows ty RY + y, columns tx R + r
//   s[i pitch + pad(u)] = in[plane, r0 + lo2 + i, c0 + lo3 + u] (0 outside), i < TH + nh2 - 1, u < TW + nh3 - 1
//   out[plane, r0 + i, c0 + u] = sum_{a, b} w[a nh3 + b] s[(i + a) pitch + pad(u + b)]
template <typename scalar_t, typename index_t, bool Adjoint, int R, int RY>
__global__ void __launch_bounds__(kPlaneX * kPlaneY)
    convolve_plane_kernel(const scalar_t* __restrict__ in, const scalar_t* __restrict__ h,
                          scalar_t* __restrict__ out, int64_t items, index_t tiles_r, index_t tiles_c,
                          ConvGeom<index_t> g) {
  static_assert(TileCfg<scalar_t>::kRow % R == 0, "R must divide the elements of a 128-byte segment");
  constexpr int TW = kPlaneX * R, TH = kPlaneY * RY;
  extern __shared__ __align__(16) unsigned char tile_smem[];
  const int nh2 = int(g.nh[1]), nh3 = int(g.nh[2]);
  const int rows = TH + nh2 - 1, pitch = row_pitch<scalar_t>(TW + nh3 - 1);
  scalar_t* s = reinterpret_cast<scalar_t*>(tile_smem);
  scalar_t* w = s + rows * pitch;
  const index_t lo2 = tile_lo(g, 1), lo3 = tile_lo(g, 2);
  const int tx = int(threadIdx.x), ty = int(threadIdx.y), t = ty * kPlaneX + tx;
  const int cols = TW + nh3 - 1;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    // item = (pl tiles_r + tile_r) tiles_c + tile_c, pl = (o n1 + q1) P1 + p1
    const int64_t tiles = int64_t(tiles_r) * tiles_c;
    index_t pl = index_t(item / tiles);
    const int64_t tile = item % tiles;
    const index_t r0 = index_t(tile / tiles_c) * TH, c0 = index_t(tile % tiles_c) * TW;
    const index_t yp = pl * g.nout[1] * g.nout[2];
    const index_t p1 = pl % g.P[0];
    pl /= g.P[0];
    const index_t q1 = pl % g.nout[0];
    const index_t o = pl / g.nout[0];
    const index_t c1 = in_coord(g, 0, q1, index_t(0));
    const bool plane_in = c1 >= 0 && c1 < g.nin[0];
    __syncthreads();  // the previous item's reads of s and w are done
    for (int i = ty; i < rows; i += kPlaneY) {
      const index_t ci = r0 + lo2 + i;
      const bool row_in = plane_in && ci >= 0 && ci < g.nin[1];
      const index_t xr = row_in ? in_offset(g, o, c1, p1, ci, index_t(0), index_t(0)) : index_t(0);
      for (int u = tx; u < cols; u += kPlaneX) {
        const index_t cu = c0 + lo3 + u;
        s[i * pitch + pad<scalar_t>(u)] = row_in && cu >= 0 && cu < g.nin[2] ? in[xr + cu] : scalar_t(0);
      }
    }
    load_taps<Adjoint>(w, h + filt_offset(g, o, index_t(0), index_t(0), index_t(0)), nh2 * nh3, t,
                       kPlaneX * kPlaneY);
    __syncthreads();
    scalar_t acc[RY][R];
#pragma unroll
    for (int y = 0; y < RY; ++y) {
#pragma unroll
      for (int r = 0; r < R; ++r) acc[y][r] = scalar_t(0);
    }
    for (int a = 0; a < nh2; ++a) row_taps<R, RY>(acc, s + (ty * RY + a) * pitch, pitch, tx * R, w + a * nh3, nh3);
    __syncthreads();  // s is read: it now stages the outputs, s[i pitch + pad(u)] = out[plane, r0 + i, c0 + u]
#pragma unroll
    for (int y = 0; y < RY; ++y) {
#pragma unroll
      for (int r = 0; r < R; ++r) s[(ty * RY + y) * pitch + pad<scalar_t>(tx * R) + r] = acc[y][r];
    }
    __syncthreads();
    for (int i = ty; i < TH; i += kPlaneY) {
      const index_t qi = r0 + i;
      if (qi >= g.nout[1]) break;
      for (int u = tx; u < TW; u += kPlaneX) {
        const index_t qu = c0 + u;
        if (qu < g.nout[2]) out[yp + qi * g.nout[2] + qu] = s[i * pitch + pad<scalar_t>(u)];
      }
    }
  }
}

// dynamic shared memory of the tiled kernels (bytes)
template <typename scalar_t>
size_t line_smem(int64_t nh) {
  const int span = kLineThreads * TileCfg<scalar_t>::R + int(nh) - 1;
  return (size_t(row_pitch<scalar_t>(span)) + size_t(nh)) * sizeof(scalar_t);
}

template <typename scalar_t>
size_t plane_smem(int64_t nh2, int64_t nh3, int r, int ry) {
  const int rows = kPlaneY * ry + int(nh2) - 1;
  const int pitch = row_pitch<scalar_t>(kPlaneX * r + int(nh3) - 1);
  return (size_t(rows) * size_t(pitch) + size_t(nh2 * nh3)) * sizeof(scalar_t);
}

// whether `kernel` can run with `bytes` of dynamic shared memory on the current device
// (opting in above the default limit)
// (the kernel's limit is raised to the device's opt-in maximum, never lowered, so launches
// from several host threads with different sizes cannot undo each other)
template <typename Kernel>
bool smem_fits(Kernel* kernel, size_t bytes) {
  if (bytes <= kDefaultSmem) return true;
  int dev = 0, optin = 0;
  C10_CUDA_CHECK(cudaGetDevice(&dev));
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  if (bytes > size_t(optin)) return false;
  C10_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, optin));
  return true;
}

template <typename index_t>
ConvGeom<index_t> narrow_geom(const ConvGeom<int64_t>& g) {
  ConvGeom<index_t> n{};
  n.outer = index_t(g.outer);
  n.lines_per_sample = index_t(g.lines_per_sample);
  for (int s = 0; s < 3; ++s) {
    n.nin[s] = index_t(g.nin[s]);
    n.nout[s] = index_t(g.nout[s]);
    n.nh[s] = index_t(g.nh[s]);
    n.P[s] = index_t(g.P[s]);
    n.base[s] = index_t(g.base[s]);
  }
  n.sign = g.sign;
  n.nfilt = index_t(g.nfilt);
  return n;
}

// every offset and coordinate the kernels form fits in 32 bits
bool geom_fits_int32(const ConvGeom<int64_t>& g, int64_t nx, int64_t nh, int64_t ny) {
  if (!cuda::fits_int32_loop(std::max({nx, nh, ny}))) return false;
  // a tile starts below nout and spans at most this many samples past its start
  const int64_t tile_span = int64_t(kLineThreads) * kMaxRowOutputs + kMaxLineTaps;
  for (int s = 0; s < 3; ++s) {
    // |in_coord| <= nout + |base| + nh (+ the tile span for the tiled paths)
    if (!fits_int32(g.nout[s] + std::llabs(g.base[s]) + g.nh[s] + g.nin[s] + tile_span)) return false;
  }
  return true;
}

// which kernel computes the geometry g
enum class ConvPath { Gather, Line, Plane };

// (tiles are only worth it when the outputs fill a good part of them: at least a quarter
// of a 1-D tile of the widest scalar, or of a 2-D tile)
ConvPath conv_path(const ConvGeom<int64_t>& g) {
  // 1-D along the last axis, contiguous lines
  if (g.nh[0] == 1 && g.nh[1] == 1 && g.P[2] == 1 && g.nh[2] <= kMaxLineTaps &&
      g.nout[2] >= kLineThreads * kMaxRowOutputs / 8)
    return ConvPath::Line;
  // 2-D along the two last axes, contiguous planes
  if (g.nh[0] == 1 && g.P[1] == 1 && g.P[2] == 1 && g.nh[1] <= kMaxPlaneTaps && g.nh[2] <= kMaxPlaneTaps &&
      g.nout[1] * g.nout[2] >= int64_t(kPlaneX) * kMaxRowOutputs * kPlaneY * kPlaneRows / 8)
    return ConvPath::Plane;
  return ConvPath::Gather;
}

// Outputs per thread of the 2-D tiled kernel, columns x rows: 8 x 2 (4 x 2 for 8- and 16-byte
// scalars). TORCHLOPS_CONV_PLANE_TILE=8x4 or 16x2 picks a larger register tile for 4-byte
// scalars (benchmarking). On an H100, 15 x 15 float32 on 8192 x 8192, forward: 8 x 2 took
// 1.11-1.12 ms, 8 x 4 1.14-1.15 ms, 16 x 2 1.04 ms; the CUDA tests have run with 8 x 2 only
// (16 x 2 agreed with the torch engine on that benchmark case), so 8 x 2 stays the default.
enum class PlaneTile { R8Y2, R8Y4, R16Y2 };

PlaneTile plane_tile() {
  static const PlaneTile tile = [] {
    const char* v = std::getenv("TORCHLOPS_CONV_PLANE_TILE");
    const std::string t = v == nullptr ? "" : v;
    return t == "8x4" ? PlaneTile::R8Y4 : t == "16x2" ? PlaneTile::R16Y2 : PlaneTile::R8Y2;
  }();
  return tile;
}

// launch the 2-D tiled kernel with R x RY outputs per thread; false when its shared memory does not fit
template <int R, int RY, typename scalar_t, typename index_t>
bool launch_plane(const scalar_t* xp, const scalar_t* hp, scalar_t* yp, const ConvGeom<int64_t>& g,
                  const ConvGeom<index_t>& gi, int64_t total, bool adjoint, cudaStream_t stream) {
  auto* kernel = adjoint ? convolve_plane_kernel<scalar_t, index_t, true, R, RY>
                         : convolve_plane_kernel<scalar_t, index_t, false, R, RY>;
  const size_t bytes = plane_smem<scalar_t>(g.nh[1], g.nh[2], R, RY);
  if (!smem_fits(kernel, bytes)) return false;
  const int64_t th = int64_t(kPlaneY) * RY, tw = int64_t(kPlaneX) * R;
  const int64_t tiles_r = (g.nout[1] + th - 1) / th, tiles_c = (g.nout[2] + tw - 1) / tw;
  const int64_t items = total / (g.nout[1] * g.nout[2]) * tiles_r * tiles_c;
  const auto blocks = static_cast<unsigned int>(std::min(items, cuda::kMaxBlocks));
  kernel<<<blocks, dim3(kPlaneX, kPlaneY), bytes, stream>>>(xp, hp, yp, items, index_t(tiles_r), index_t(tiles_c),
                                                           gi);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return true;
}

at::Tensor convolve_cuda(const at::Tensor& x_, const at::Tensor& h_, at::IntArrayRef axes, at::IntArrayRef offsets,
                         at::IntArrayRef nout, bool adjoint) {
  TORCH_CHECK(x_.is_cuda(), "torchlops.convolve: expected x to be a CUDA tensor, got one on ", x_.device());
  TORCH_CHECK(h_.is_cuda(), "torchlops.convolve: expected h to be a CUDA tensor, got one on ", h_.device());
  TORCH_CHECK(h_.device() == x_.device(), "torchlops.convolve: expected x and h on the same device, got x on ",
              x_.device(), " and h on ", h_.device());
  const c10::cuda::CUDAGuard guard(x_.device());
  const at::Tensor x = dense(x_), h = dense(h_);
  at::Tensor y;
  ConvGeom<int64_t> g;
  std::tie(y, g) = conv_setup<int64_t>(x, h, axes, offsets, nout, adjoint);
  if (y.numel() == 0) return y;
  if (x.numel() == 0) return y.zero_();
  const int64_t total = y.numel();
  const bool small = geom_fits_int32(g, x.numel(), h.numel(), total);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  // a tiled path when the geometry allows it and its shared memory fits, the gather kernel otherwise
  const ConvPath path = conv_path(g);
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "torchlops_convolve_cuda", [&] {
    auto launch = [&](auto index_tag) {
      using index_t = decltype(index_tag);
      const ConvGeom<index_t> gi = narrow_geom<index_t>(g);
      const scalar_t* xp = x.const_data_ptr<scalar_t>();
      const scalar_t* hp = h.const_data_ptr<scalar_t>();
      scalar_t* yp = y.mutable_data_ptr<scalar_t>();
      if (path == ConvPath::Line) {
        auto* kernel = adjoint ? convolve_line_kernel<scalar_t, index_t, true>
                               : convolve_line_kernel<scalar_t, index_t, false>;
        const size_t bytes = line_smem<scalar_t>(g.nh[2]);
        if (smem_fits(kernel, bytes)) {
          const int64_t tile = int64_t(kLineThreads) * TileCfg<scalar_t>::R;
          const int64_t tiles = (g.nout[2] + tile - 1) / tile;
          const int64_t items = total / g.nout[2] * tiles;
          const auto blocks = static_cast<unsigned int>(std::min(items, cuda::kMaxBlocks));
          kernel<<<blocks, kLineThreads, bytes, stream>>>(xp, hp, yp, items, index_t(tiles), gi);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
          return;
        }
      } else if (path == ConvPath::Plane) {
        constexpr int R = TileCfg<scalar_t>::R;
        bool done = false;
        if constexpr (sizeof(scalar_t) <= 4) {
          const PlaneTile tile = plane_tile();
          if (tile == PlaneTile::R8Y4) {
            done = launch_plane<R, 4>(xp, hp, yp, g, gi, total, adjoint, stream);
          } else if (tile == PlaneTile::R16Y2) {
            done = launch_plane<2 * R, 2>(xp, hp, yp, g, gi, total, adjoint, stream);
          }
        }
        if (!done) done = launch_plane<R, kPlaneRows>(xp, hp, yp, g, gi, total, adjoint, stream);
        if (done) return;
      }
      if (adjoint)
        convolve_kernel<scalar_t, index_t, true>
            <<<grid_for(total), kThreads, 0, stream>>>(xp, hp, yp, index_t(total), gi);
      else
        convolve_kernel<scalar_t, index_t, false>
            <<<grid_for(total), kThreads, 0, stream>>>(xp, hp, yp, index_t(total), gi);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    };
    cuda::with_index_type(small, launch);
  });
  return y;
}

}  // namespace

TORCH_LIBRARY_IMPL(torchlops, CUDA, m) { m.impl("convolve", &convolve_cuda); }

}  // namespace torchlops
