// torchlops._C: the operator schemas (TORCH_LIBRARY(torchlops)) and the Python module that
// `import torchlops._C` loads (its functions: autograd.cpp, calls.cpp). Device kernels: cpu/*.cpp, cuda/*.cu.
#include <Python.h>
#include <torch/library.h>

// the Python functions of the module: the autograd node (autograd.cpp) and direct eager calls
// of the ops below (calls.cpp)
extern "C" PyMethodDef torchlops_autograd_methods[];
extern "C" PyMethodDef torchlops_call_methods[];

extern "C" {
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, torchlops_autograd_methods};
  PyObject* m = PyModule_Create(&module_def);
  if (m != nullptr && PyModule_AddFunctions(m, torchlops_call_methods) < 0) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
}

TORCH_LIBRARY(torchlops, m) {
  // x (B, *dims). Forward: sum_t scales[t] * weights[t] * S_{axes[t]} x; adjoint:
  // sum_t scales[t] * S_{axes[t]}^T (conj(weights[t]) x). spec packs the stencil S.
  m.def("stencil(Tensor x, int[] axes, float[] scales, float[] spec, Tensor? weights, bool adjoint) -> Tensor");
  // stencil without weights and the 2-norm of each output sample: (y, norm (B,) of x's real
  // dtype). No autograd (CGLS calls it only when nothing needs a gradient).
  m.def("stencil_norm(Tensor x, int[] axes, float[] scales, float[] spec, bool adjoint) -> (Tensor, Tensor)");
  // (B, *dims) -> (B, T, *dims): component t is scales[t] * S_{axes[t]} x (the gradient)
  m.def("stencil_split(Tensor x, int[] axes, float[] scales, float[] spec) -> Tensor");
  // (B, T, *dims) -> (B, *dims): sum_t scales[t] * S_{axes[t]}^T y[:, t] (adjoint of stencil_split)
  m.def("stencil_merge(Tensor y, int[] axes, float[] scales, float[] spec) -> Tensor");
  // x (B, *dims), h (Bh, *hdims), or (*hdims) for one filter: direct convolution along
  // increasing axes (at most 3), forward y[i] = sum_j h[j] x[i + o - j] or adjoint
  // x[m] = sum_j conj(h[j]) y[m - o + j], nout samples along each axis; sample b uses filter b % Bh.
  m.def("convolve(Tensor x, Tensor h, int[] axes, int[] offsets, int[] nout, bool adjoint) -> Tensor");
  // Fused steps of the sparsity solvers on (B, n) rows of real float32/float64 (no autograd:
  // the solvers call them only when nothing needs a gradient).
  // shrink: T(z + alpha_b g), T soft (kind 0) or hard (kind 1, bound sqrt(2 thresh_b)) thresholding;
  // alphas / threshs: per-row values ((B,) or (B, 1)) replacing the scalar.
  m.def("shrink(Tensor z, Tensor g, float alpha, Tensor? alphas, float thresh, Tensor? threshs, int kind) -> Tensor");
  // fista_update: with rn = y - oxn, for every row b that is active (act[b]):
  //   x = xn, z = lerp(xold, xn, w), r = rn, rz = lerp(r, rn, w), xu = ||xn - xold||,
  //   cost = eps_b ||xn||_1 + ||rn||^2 / 2, act = xu > tol;
  // a frozen row keeps xold, z, r, rz, xu, lastcost (its cost when lastcost is None) and
  // becomes inactive. Returns (x, z, r, rz, xu, act, cost).
  m.def(
      "fista_update(Tensor xn, Tensor xold, Tensor z, Tensor r, Tensor rz, Tensor y, Tensor oxn, Tensor act, "
      "Tensor xu, Tensor? lastcost, float w, float tol, float eps, Tensor? epss) -> "
      "(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  // Fused steps of CGLS on (B, n) rows (float32/64, complex64/128; no autograd: the solver
  // calls them only when nothing needs a gradient). Per-row values (B,) are real, act is bool.
  // cgls_residual: a = kold / qn^2 where act and qn != 0, else 0; returns (s - a q,
  // ||s - a q|| (summed in double), a).
  m.def("cgls_residual(Tensor s, Tensor q, Tensor kold, Tensor qn, Tensor act) -> (Tensor, Tensor, Tensor)");
  // cgls_direction: k = rn^2, beta = k / kold where act and kold != 0, else 0; returns
  // (x + a c, r + beta c, where(act, k, kold)); with keep, rows where act is false keep c.
  m.def(
      "cgls_direction(Tensor x, Tensor c, Tensor r, Tensor a, Tensor rn, Tensor kold, Tensor act, bool keep) -> "
      "(Tensor, Tensor, Tensor)");
}
