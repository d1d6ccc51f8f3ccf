// CPU kernels of the fused sparsity-solver steps (math: sparse.h).
//
// shrink: x = T(z + alpha g), one pass instead of an axpy and a thresholding.
// fista_update: everything of a FISTA step after the operator's forward pass, in one pass over
// the rows (the residual y - Op x, the update / l1 / residual norms, the per-sample freeze of
// a stopped sample, the momentum of the model and of the residual), instead of about twenty
// tensor ops. Both compute the pure-torch step for real float32/float64 rows, up to rounding
// (norms summed in double); the solvers call them in eager mode when nothing needs a gradient.
#include "../sparse.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

namespace torchlops {
namespace {

// per-sample parameter: the row's value of a (B,)/(B, 1) tensor, or the scalar
template <typename T>
struct PerRow {
  const T* p = nullptr;
  T v = T(0);
  T operator[](int64_t b) const { return p ? p[b] : v; }
};

template <typename T>
PerRow<T> per_row(const std::optional<at::Tensor>& t, double v, int64_t B, const char* name, at::Tensor& keep) {
  PerRow<T> out;
  out.v = T(v);
  if (t.has_value()) {
    TORCH_CHECK(t->numel() == B || t->numel() == 1, "torchlops: ", name, " must hold 1 or ", B, " values, got ",
                t->numel());
    keep = dense(t->to(c10::CppTypeToScalarType<T>::value));
    if (keep.numel() == 1) {
      out.v = keep.item<T>();
    } else {
      out.p = keep.const_data_ptr<T>();
    }
  }
  return out;
}

void check_rows(const at::Tensor& t, const char* name, int64_t B, int64_t n, at::ScalarType dt) {
  TORCH_CHECK(t.device().is_cpu(), "torchlops: ", name, " must be a CPU tensor, got ", t.device());
  TORCH_CHECK(t.dim() == 2 && t.size(0) == B && t.size(1) == n, "torchlops: ", name, " must have shape (", B, ", ", n,
              "), got ", t.sizes());
  TORCH_CHECK(t.scalar_type() == dt, "torchlops: ", name, " must be ", dt, ", got ", t.scalar_type());
}

at::Tensor shrink_cpu(const at::Tensor& z_, const at::Tensor& g_, double alpha, const std::optional<at::Tensor>& alphas,
                      double thresh, const std::optional<at::Tensor>& threshs, int64_t kind) {
  TORCH_CHECK(z_.dim() == 2, "torchlops.shrink: z must be (B, n), got ", z_.sizes());
  TORCH_CHECK(kind == kSoft || kind == kHard, "torchlops.shrink: kind must be 0 (soft) or 1 (hard), got ", kind);
  const int64_t B = z_.size(0), n = z_.size(1);
  const auto dt = z_.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, "torchlops.shrink: expected float32 or float64, got ", dt);
  check_rows(z_, "z", B, n, dt);
  check_rows(g_, "g", B, n, dt);
  const at::Tensor z = dense(z_), g = dense(g_);
  at::Tensor out = at::empty({B, n}, z.options());
  AT_DISPATCH_FLOATING_TYPES(dt, "torchlops_shrink_cpu", [&] {
    using T = scalar_t;
    at::Tensor ka, kt;
    const PerRow<T> a = per_row<T>(alphas, alpha, B, "alphas", ka);
    const PerRow<T> t = per_row<T>(threshs, thresh, B, "threshs", kt);
    const T* zp = z.const_data_ptr<T>();
    const T* gp = g.const_data_ptr<T>();
    T* op = out.mutable_data_ptr<T>();
    at::parallel_for(0, B * n, 32768, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end;) {
        const int64_t b = i / n, stop = std::min(end, (b + 1) * n);
        const T ab = a[b], tb = t[b];
        if (kind == kSoft) {
          for (; i < stop; ++i) op[i] = soft_(zp[i] + ab * gp[i], tb);
        } else {
          const T bound = std::sqrt(T(2) * tb);
          for (; i < stop; ++i) op[i] = hard_(zp[i] + ab * gp[i], bound);
        }
      }
    });
  });
  return out;
}

using Outs = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

Outs fista_update_cpu(const at::Tensor& xn_, const at::Tensor& xold_, const at::Tensor& z_, const at::Tensor& r_,
                      const at::Tensor& rz_, const at::Tensor& y_, const at::Tensor& oxn_, const at::Tensor& act_,
                      const at::Tensor& xu_, const std::optional<at::Tensor>& lastcost_, double w, double tol,
                      double eps, const std::optional<at::Tensor>& epss) {
  TORCH_CHECK(xn_.dim() == 2 && r_.dim() == 2, "torchlops.fista_update: models and residuals must be (B, n)");
  const int64_t B = xn_.size(0), N = xn_.size(1), M = r_.size(1);
  const auto dt = xn_.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, "torchlops.fista_update: expected float32 or float64, got ", dt);
  check_rows(xn_, "xn", B, N, dt);
  check_rows(xold_, "xold", B, N, dt);
  check_rows(z_, "z", B, N, dt);
  check_rows(r_, "r", B, M, dt);
  check_rows(rz_, "rz", B, M, dt);
  check_rows(y_, "y", B, M, dt);
  check_rows(oxn_, "oxn", B, M, dt);
  check_rows(act_, "act", B, 1, at::kBool);
  check_rows(xu_, "xu", B, 1, dt);
  if (lastcost_.has_value()) check_rows(*lastcost_, "lastcost", B, 1, dt);
  const at::Tensor xn = dense(xn_), xold = dense(xold_), z = dense(z_), r = dense(r_), rz = dense(rz_), y = dense(y_),
                   oxn = dense(oxn_), act = dense(act_), xu = dense(xu_);
  at::Tensor xo = at::empty({B, N}, xn.options()), zo = at::empty({B, N}, xn.options());
  at::Tensor ro = at::empty({B, M}, xn.options()), rzo = at::empty({B, M}, xn.options());
  at::Tensor xuo = at::empty({B, 1}, xn.options()), acto = at::empty({B, 1}, act.options());
  at::Tensor cost = at::empty({B, 1}, xn.options());
  AT_DISPATCH_FLOATING_TYPES(dt, "torchlops_fista_update_cpu", [&] {
    using T = scalar_t;
    using Acc = double;  // the norms are summed in double
    at::Tensor ke, kc;
    const PerRow<T> e = per_row<T>(epss, eps, B, "epss", ke);
    const T* lc = nullptr;
    if (lastcost_.has_value()) {
      kc = dense(*lastcost_);
      lc = kc.const_data_ptr<T>();
    }
    const T wt = T(w);
    const bool* ap = act.const_data_ptr<bool>();
    // work items: chunks of rows (a long row spreads over threads); partial sums per item
    const int64_t L = std::max(N, M), cq = 16384, nch = std::max<int64_t>(1, (L + cq - 1) / cq);
    std::vector<Acc> part(size_t(B * nch) * 3, Acc(0));
    at::parallel_for(0, B * nch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t b = item / nch, c = item % nch;
        const bool on = ap[b];
        Acc d2 = 0, l1 = 0, rr = 0;
        const int64_t ns = std::min(N, c * cq), ne = std::min(N, (c + 1) * cq);
        const T* pxn = xn.const_data_ptr<T>() + b * N;
        const T* pxo = xold.const_data_ptr<T>() + b * N;
        const T* pz = z.const_data_ptr<T>() + b * N;
        T* qx = xo.mutable_data_ptr<T>() + b * N;
        T* qz = zo.mutable_data_ptr<T>() + b * N;
        for (int64_t i = ns; i < ne; ++i) {
          const T a = pxo[i], v = pxn[i], dv = v - a;
          d2 += Acc(dv) * Acc(dv);
          l1 += Acc(v < T(0) ? -v : v);
          qx[i] = on ? v : a;
          qz[i] = on ? lerp_(a, v, wt) : pz[i];
        }
        const int64_t ms = std::min(M, c * cq), me = std::min(M, (c + 1) * cq);
        const T* pr = r.const_data_ptr<T>() + b * M;
        const T* prz = rz.const_data_ptr<T>() + b * M;
        const T* py = y.const_data_ptr<T>() + b * M;
        const T* po = oxn.const_data_ptr<T>() + b * M;
        T* qr = ro.mutable_data_ptr<T>() + b * M;
        T* qrz = rzo.mutable_data_ptr<T>() + b * M;
        for (int64_t i = ms; i < me; ++i) {
          const T rn = py[i] - po[i];
          rr += Acc(rn) * Acc(rn);
          qr[i] = on ? rn : pr[i];
          qrz[i] = on ? lerp_(pr[i], rn, wt) : prz[i];
        }
        Acc* p = part.data() + 3 * item;
        p[0] = d2;
        p[1] = l1;
        p[2] = rr;
      }
    });
    const T* pxu = xu.const_data_ptr<T>();
    T* qxu = xuo.mutable_data_ptr<T>();
    bool* qa = acto.mutable_data_ptr<bool>();
    T* qc = cost.mutable_data_ptr<T>();
    for (int64_t b = 0; b < B; ++b) {
      Acc d2 = 0, l1 = 0, rr = 0;
      for (int64_t c = 0; c < nch; ++c) {
        const Acc* p = part.data() + 3 * (b * nch + c);
        d2 += p[0];
        l1 += p[1];
        rr += p[2];
      }
      const T un = T(std::sqrt(d2)), rn = T(std::sqrt(rr));
      const T cb = T(l1) * e[b] + T(0.5) * rn * rn;
      const bool on = ap[b];
      qxu[b] = on ? un : pxu[b];
      qc[b] = (on || lc == nullptr) ? cb : lc[b];
      qa[b] = on && qxu[b] > T(tol);  // (as torch compares a tensor with a Python float)
    }
  });
  return Outs(xo, zo, ro, rzo, xuo, acto, cost);
}

}  // namespace

TORCH_LIBRARY_IMPL(torchlops, CPU, m) {
  m.impl("shrink", &shrink_cpu);
  m.impl("fista_update", &fista_update_cpu);
}

}  // namespace torchlops
