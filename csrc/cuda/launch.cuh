// Launch helpers shared by the CUDA kernels of torchlops: block size, grid size of the
// grid-stride loops, and the device checks of every entry point.
#pragma once

#include "../common.h"

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <cstdint>

namespace torchlops {
namespace cuda {

constexpr int kThreads = 256;
// grid-stride loops cover any size: at most this many blocks per launch
constexpr int64_t kMaxBlocks = int64_t(1) << 16;

inline unsigned int grid_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::min<int64_t>(std::max<int64_t>(b, 1), kMaxBlocks));
}

// The index type covers every offset and also e + (number of threads) in the grid-stride loop.
inline bool fits_int32_loop(int64_t n) { return fits_int32(n + kMaxBlocks * kThreads); }

// f(index_t{}) with 32-bit index math when `small` (every offset fits), 64-bit otherwise
template <typename F>
void with_index_type(bool small, F&& f) {
  if (small)
    f(int32_t(0));
  else
    f(int64_t(0));
}

inline void check_cuda_input(const at::Tensor& x, const char* op, const char* name) {
  TORCH_CHECK(x.is_cuda(), "torchlops.", op, ": expected ", name, " to be a CUDA tensor, got one on ", x.device());
}

inline void check_same_device(const at::Tensor& x, const at::Tensor& other, const char* op, const char* name) {
  TORCH_CHECK(other.device() == x.device(), "torchlops.", op, ": expected ", name, " on ", x.device(),
              " (the input's device), got one on ", other.device());
}

}  // namespace cuda
}  // namespace torchlops
