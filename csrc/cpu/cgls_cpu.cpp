// CPU kernels of the fused CGLS steps (schemas and semantics: torchlops.cpp).
//
// cgls_residual: s - a q and its squared norm per row, in one pass (the solver's axpy and its
// cost reduction); cgls_direction: the model update x + a c and the new direction r + beta c in
// one pass (two axpys that both read c). Rows are split in chunks over threads; the norms are
// summed in double, chunk by chunk in a fixed order (the same result for any thread count).
#include "../cgls.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

namespace torchlops {
namespace {

constexpr int64_t kChunk = 16384;  // elements of a row per work item

std::tuple<at::Tensor, at::Tensor> cgls_residual_cpu(const at::Tensor& s_, const at::Tensor& q_, const at::Tensor& a_) {
  check_cgls_rows(s_, "cgls_residual", "s", s_);
  check_cgls_rows(q_, "cgls_residual", "q", s_);
  check_cgls_coef(a_, "cgls_residual", "a", s_);
  const at::Tensor s = dense(s_), q = dense(q_), a = dense(a_);
  const int64_t B = s.size(0), n = s.size(1);
  at::Tensor out = at::empty_like(s);
  at::Tensor s2 = at::empty({B}, a.options());
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(s.scalar_type(), "torchlops_cgls_residual_cpu", [&] {
    using real_t = real_of<scalar_t>;
    const scalar_t* ps = s.const_data_ptr<scalar_t>();
    const scalar_t* pq = q.const_data_ptr<scalar_t>();
    const real_t* pa = a.const_data_ptr<real_t>();
    scalar_t* po = out.mutable_data_ptr<scalar_t>();
    const int64_t nch = std::max<int64_t>(1, (n + kChunk - 1) / kChunk);
    std::vector<double> part(size_t(B * nch), 0.0);
    at::parallel_for(0, B * nch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t b = item / nch, c = item % nch;
        const int64_t i0 = b * n + c * kChunk, i1 = b * n + std::min(n, (c + 1) * kChunk);
        const real_t ab = pa[b];
        double acc = 0.0;
        for (int64_t i = i0; i < i1; ++i) {
          const scalar_t v = ps[i] - ab * pq[i];
          po[i] = v;
          acc += abs2(v);
        }
        part[size_t(item)] = acc;
      }
    });
    real_t* p2 = s2.mutable_data_ptr<real_t>();
    for (int64_t b = 0; b < B; ++b) {
      double acc = 0.0;
      for (int64_t c = 0; c < nch; ++c) acc += part[size_t(b * nch + c)];
      p2[b] = real_t(acc);
    }
  });
  return {out, s2};
}

std::tuple<at::Tensor, at::Tensor> cgls_direction_cpu(const at::Tensor& x_, const at::Tensor& c_, const at::Tensor& r_,
                                                      const at::Tensor& a_, const at::Tensor& beta_,
                                                      const std::optional<at::Tensor>& act_) {
  check_cgls_rows(x_, "cgls_direction", "x", x_);
  check_cgls_rows(c_, "cgls_direction", "c", x_);
  check_cgls_rows(r_, "cgls_direction", "r", x_);
  check_cgls_coef(a_, "cgls_direction", "a", x_);
  check_cgls_coef(beta_, "cgls_direction", "beta", x_);
  if (act_.has_value()) check_cgls_mask(*act_, "cgls_direction", x_);
  const at::Tensor x = dense(x_), c = dense(c_), r = dense(r_), a = dense(a_), beta = dense(beta_);
  const at::Tensor act = act_.has_value() ? dense(*act_) : at::Tensor();
  const int64_t B = x.size(0), n = x.size(1);
  at::Tensor xo = at::empty_like(x), co = at::empty_like(x);
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "torchlops_cgls_direction_cpu", [&] {
    using real_t = real_of<scalar_t>;
    const scalar_t* px = x.const_data_ptr<scalar_t>();
    const scalar_t* pc = c.const_data_ptr<scalar_t>();
    const scalar_t* pr = r.const_data_ptr<scalar_t>();
    const real_t* pa = a.const_data_ptr<real_t>();
    const real_t* pb = beta.const_data_ptr<real_t>();
    const bool* pact = act.defined() ? act.const_data_ptr<bool>() : nullptr;
    scalar_t* qx = xo.mutable_data_ptr<scalar_t>();
    scalar_t* qc = co.mutable_data_ptr<scalar_t>();
    const int64_t nch = std::max<int64_t>(1, (n + kChunk - 1) / kChunk);
    at::parallel_for(0, B * nch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t b = item / nch, ch = item % nch;
        const int64_t i0 = b * n + ch * kChunk, i1 = b * n + std::min(n, (ch + 1) * kChunk);
        const real_t ab = pa[b], bb = pb[b];
        const bool on = pact == nullptr || pact[b];
        for (int64_t i = i0; i < i1; ++i) {
          const scalar_t cv = pc[i];
          qx[i] = px[i] + ab * cv;
          qc[i] = on ? pr[i] + bb * cv : cv;
        }
      }
    });
  });
  return {xo, co};
}

}  // namespace

TORCH_LIBRARY_IMPL(torchlops, CPU, m) {
  m.impl("cgls_residual", &cgls_residual_cpu);
  m.impl("cgls_direction", &cgls_direction_cpu);
}

}  // namespace torchlops
