// Per-row 2-norms over a 2-D grid (blockIdx.y: rows b, blockIdx.x: G slices of a row), shared
// by the fused CGLS kernels and the stencil norm kernel: each block adds its threads' values
// (warp shuffles, then one value per warp in shared memory) into part[b G + blockIdx.x], and
// row_norms_kernel adds each row's G partials in a fixed order (one warp per row) and takes the
// square root. Deterministic, no atomics.
#pragma once

#include "launch.cuh"

#include <algorithm>
#include <cstdint>

namespace torchlops {
namespace cuda {

// part[b G + blockIdx.x] = the sum of acc over the block's threads (every thread of the block
// calls it for the same b; safe to call again for the block's next row)
template <int Threads>
__device__ __forceinline__ void block_partial(double acc, double* __restrict__ part, int64_t b) {
  static_assert(Threads % 32 == 0 && Threads <= 1024, "whole warps");
  __shared__ double warp_sums[Threads / 32];
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, o);
  __syncthreads();  // (the previous row's warp sums are read)
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    double t = 0.0;
#pragma unroll
    for (int w = 0; w < Threads / 32; ++w) t += warp_sums[w];
    part[b * int64_t(gridDim.x) + blockIdx.x] = t;
  }
}

constexpr int kRowWarps = 4;  // warps (rows) per block of row_norms_kernel

// norm[b] = sqrt(sum of the G partials of row b): lane l adds partials l, l + 32, ..., then a
// shuffle tree (one thread per row would take G dependent L2 round trips: tens of microseconds
// for G = 1024)
template <typename real_t>
__global__ void __launch_bounds__(32 * kRowWarps)
    row_norms_kernel(const double* __restrict__ part, real_t* __restrict__ norm, int64_t B, int64_t G) {
  const int lane = int(threadIdx.x) & 31;
  const int64_t warps = int64_t(gridDim.x) * kRowWarps;
  // (b is the same for the 32 lanes of a warp: the full-mask shuffles see every lane)
  for (int64_t b = int64_t(blockIdx.x) * kRowWarps + (threadIdx.x >> 5); b < B; b += warps) {
    double t = 0.0;
    for (int64_t g = lane; g < G; g += 32) t += part[b * G + g];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) t += __shfl_down_sync(0xffffffffu, t, o);
    if (lane == 0) norm[b] = real_t(sqrt(t));
  }
}

template <typename real_t>
void launch_row_norms(const double* part, real_t* norm, int64_t B, int64_t G, cudaStream_t stream) {
  const auto blocks = static_cast<unsigned int>(std::min<int64_t>((B + kRowWarps - 1) / kRowWarps, 4096));
  row_norms_kernel<real_t><<<blocks, 32 * kRowWarps, 0, stream>>>(part, norm, B, G);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// the 2-D grid of G slices per row over B rows (gridDim.y at most 65535: the kernels loop)
inline dim3 rows_grid(int64_t B, int64_t G) {
  return dim3(static_cast<unsigned int>(G), static_cast<unsigned int>(std::min<int64_t>(B, 65535)));
}

}  // namespace cuda
}  // namespace torchlops
