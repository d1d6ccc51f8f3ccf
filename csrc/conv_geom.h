// Host-side argument checks and geometry of the direct convolution (used by the CPU and the
// CUDA entry points alike).
#pragma once

#include "convolve.h"

#include <tuple>
#include <vector>

namespace torchlops {

// x (B, *dims), h (Bh, nh_1..nh_k) or (nh_1..nh_k) (one filter for every sample): validates,
// allocates the output and fills the geometry.
template <typename index_t>
std::tuple<at::Tensor, ConvGeom<index_t>> conv_setup(const at::Tensor& x, const at::Tensor& h, at::IntArrayRef axes,
                                                     at::IntArrayRef offsets, at::IntArrayRef nout, bool adjoint) {
  const int64_t k = int64_t(axes.size());
  TORCH_CHECK(k >= 1 && k <= 3, "torchlops.convolve: between 1 and 3 axes expected, got ", k);
  TORCH_CHECK(int64_t(offsets.size()) == k && int64_t(nout.size()) == k,
              "torchlops.convolve: one offset and one output length per axis expected, got ", offsets.size(),
              " offsets and ", nout.size(), " lengths for ", k, " axes");
  TORCH_CHECK(at::isFloatingType(x.scalar_type()) || at::isComplexType(x.scalar_type()),
              "torchlops.convolve: expected a floating or complex input, got ", x.scalar_type());
  TORCH_CHECK(h.scalar_type() == x.scalar_type(), "torchlops.convolve: the filter must have the input's dtype ",
              x.scalar_type(), ", got ", h.scalar_type());
  TORCH_CHECK(x.dim() >= k + 1, "torchlops.convolve: expected an input (B, *dims) with at least ", k,
              " model dims, got shape ", x.sizes());
  TORCH_CHECK(h.dim() == k + 1 || h.dim() == k, "torchlops.convolve: expected a filter (Bh, ", k,
              " filter dims) or (", k, " filter dims), got shape ", h.sizes());
  TORCH_CHECK(h.numel() > 0, "torchlops.convolve: the filter must not be empty, got shape ", h.sizes());
  const int64_t hlead = h.dim() - k;  // 1: per-sample filters, 0: one shared filter
  const int64_t nfilt = hlead ? h.size(0) : 1;
  TORCH_CHECK(x.size(0) % nfilt == 0, "torchlops.convolve: the batch (", x.size(0),
              ") must be a multiple of the number of filters (", nfilt, ")");
  const int64_t D = x.dim() - 1;
  std::vector<int64_t> oshape(x.sizes().begin(), x.sizes().end());
  for (int64_t t = 0; t < k; ++t) {
    TORCH_CHECK(axes[t] >= 0 && axes[t] < D, "torchlops.convolve: axis must lie in [0, ", D, "), got ", axes[t]);
    TORCH_CHECK(t == 0 || axes[t] > axes[t - 1], "torchlops.convolve: axes must be increasing, got ", axes);
    TORCH_CHECK(nout[t] >= 0, "torchlops.convolve: output lengths must be >= 0, got ", nout);
    oshape[1 + axes[t]] = nout[t];
  }
  at::Tensor y = at::empty(oshape, x.options());
  ConvGeom<index_t> g{};
  int64_t lead = 1;
  for (int64_t d = 0; d < axes[0]; ++d) lead *= x.size(1 + d);
  g.lines_per_sample = index_t(lead);
  g.outer = index_t(x.size(0) * lead);
  g.sign = adjoint ? 1 : -1;
  g.nfilt = index_t(nfilt);
  for (int s = 0; s < 3; ++s) {
    g.nin[s] = g.nout[s] = g.nh[s] = g.P[s] = 1;
    g.base[s] = 0;
  }
  for (int64_t t = 0; t < k; ++t) {
    const int s = int(3 - k + t);
    const int64_t a = axes[t];
    const int64_t next = t + 1 < k ? axes[t + 1] : D;
    int64_t P = 1;
    for (int64_t d = a + 1; d < next; ++d) P *= x.size(1 + d);
    g.nin[s] = index_t(x.size(1 + a));
    g.nout[s] = index_t(nout[t]);
    g.nh[s] = index_t(h.size(hlead + t));
    g.P[s] = index_t(P);
    g.base[s] = index_t(adjoint ? -offsets[t] : offsets[t]);
  }
  return {y, g};
}

}  // namespace torchlops
