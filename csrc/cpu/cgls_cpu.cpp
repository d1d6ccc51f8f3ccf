// CPU kernels of the fused CGLS steps (schemas and semantics: torchlops.cpp).
//
// cgls_residual: the step length, s - a q and its norm per row, in one pass (the solver's axpy
// and its cost reduction); cgls_direction: the model update x + a c and the new direction
// r + beta c in one pass (two axpys that both read c), the next squared norm. Rows are split in
// chunks over threads; the norms are summed in double, chunk by chunk in a fixed order (the
// same result for any thread count).
#include "../cgls.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

namespace torchlops {
namespace {

constexpr int64_t kChunk = 16384;  // elements of a row per work item

int64_t chunks_per_row(int64_t n) { return std::max<int64_t>(1, (n + kChunk - 1) / kChunk); }

// f(item, b, i0, i1) in parallel for the work items of (B, n) rows: item = b nch + chunk, the
// chunk's flat elements [i0, i1) of row b
template <typename F>
void for_chunks(int64_t B, int64_t n, F&& f) {
  const int64_t nch = chunks_per_row(n);
  at::parallel_for(0, B * nch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / nch, c = item % nch;
      f(item, b, b * n + c * kChunk, b * n + std::min(n, (c + 1) * kChunk));
    }
  });
}

using Three = std::tuple<at::Tensor, at::Tensor, at::Tensor>;

Three cgls_residual_cpu(const at::Tensor& s_, const at::Tensor& q_, const at::Tensor& kold_, const at::Tensor& qn_,
                        const at::Tensor& act_) {
  check_cgls_residual(s_, q_, kold_, qn_, act_);
  const at::Tensor s = dense(s_), q = dense(q_), kold = dense(kold_), qn = dense(qn_), act = dense(act_);
  const int64_t B = s.size(0), n = s.size(1);
  at::Tensor out = at::empty_like(s);
  at::Tensor snorm = at::empty({B}, kold.options()), a = at::empty({B}, kold.options());
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(s.scalar_type(), "torchlops_cgls_residual_cpu", [&] {
    using real_t = real_of<scalar_t>;
    const scalar_t* ps = s.const_data_ptr<scalar_t>();
    const scalar_t* pq = q.const_data_ptr<scalar_t>();
    const real_t* pk = kold.const_data_ptr<real_t>();
    const real_t* pn = qn.const_data_ptr<real_t>();
    const bool* pact = act.const_data_ptr<bool>();
    real_t* pa = a.mutable_data_ptr<real_t>();
    for (int64_t b = 0; b < B; ++b) pa[b] = masked_ratio(pk[b], pn[b] * pn[b], pact[b]);
    scalar_t* po = out.mutable_data_ptr<scalar_t>();
    const int64_t nch = chunks_per_row(n);
    std::vector<double> part(size_t(B * nch), 0.0);
    for_chunks(B, n, [&](int64_t item, int64_t b, int64_t i0, int64_t i1) {
      const real_t ab = pa[b];
      double acc = 0.0;
      for (int64_t i = i0; i < i1; ++i) {
        const scalar_t v = ps[i] - ab * pq[i];
        po[i] = v;
        acc += abs2(v);
      }
      part[size_t(item)] = acc;
    });
    real_t* p2 = snorm.mutable_data_ptr<real_t>();
    for (int64_t b = 0; b < B; ++b) {
      double acc = 0.0;
      for (int64_t c = 0; c < nch; ++c) acc += part[size_t(b * nch + c)];
      p2[b] = real_t(std::sqrt(acc));
    }
  });
  return {out, snorm, a};
}

Three cgls_direction_cpu(const at::Tensor& x_, const at::Tensor& c_, const at::Tensor& r_, const at::Tensor& a_,
                         const at::Tensor& rn_, const at::Tensor& kold_, const at::Tensor& act_, bool keep) {
  check_cgls_direction(x_, c_, r_, a_, rn_, kold_, act_);
  const at::Tensor x = dense(x_), c = dense(c_), r = dense(r_), a = dense(a_), rn = dense(rn_), kold = dense(kold_),
                   act = dense(act_);
  const int64_t B = x.size(0), n = x.size(1);
  at::Tensor xo = at::empty_like(x), co = at::empty_like(x), ko = at::empty({B}, kold.options());
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "torchlops_cgls_direction_cpu", [&] {
    using real_t = real_of<scalar_t>;
    const scalar_t* px = x.const_data_ptr<scalar_t>();
    const scalar_t* pc = c.const_data_ptr<scalar_t>();
    const scalar_t* pr = r.const_data_ptr<scalar_t>();
    const real_t* pa = a.const_data_ptr<real_t>();
    const real_t* pn = rn.const_data_ptr<real_t>();
    const real_t* pk = kold.const_data_ptr<real_t>();
    const bool* pact = act.const_data_ptr<bool>();
    real_t* pko = ko.mutable_data_ptr<real_t>();
    std::vector<real_t> beta(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      const real_t k = pn[b] * pn[b];
      beta[size_t(b)] = masked_ratio(k, pk[b], pact[b]);
      pko[b] = pact[b] ? k : pk[b];
    }
    scalar_t* qx = xo.mutable_data_ptr<scalar_t>();
    scalar_t* qc = co.mutable_data_ptr<scalar_t>();
    for_chunks(B, n, [&](int64_t, int64_t b, int64_t i0, int64_t i1) {
      const real_t ab = pa[b], bb = beta[size_t(b)];
      const bool on = !keep || pact[b];
      for (int64_t i = i0; i < i1; ++i) {
        const scalar_t cv = pc[i];
        qx[i] = px[i] + ab * cv;
        qc[i] = on ? pr[i] + bb * cv : cv;
      }
    });
  });
  return {xo, co, ko};
}

}  // namespace

TORCH_LIBRARY_IMPL(torchlops, CPU, m) {
  m.impl("cgls_residual", &cgls_residual_cpu);
  m.impl("cgls_direction", &cgls_direction_cpu);
}

}  // namespace torchlops
