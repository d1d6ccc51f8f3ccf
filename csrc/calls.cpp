// Direct eager calls of the registered ops, for applications that need no autograd graph.
//
// Calling `torch.ops.torchlops.<op>` from Python converts every argument through the op's
// schema and enters the dispatcher boxed: several microseconds per call, most of a small
// application. These functions parse the arguments with the C API and call the same op
// through a typed dispatcher handle below the autograd keys (what `_ops._call` does with
// `_AutoDispatchBelowAutograd` otherwise), so the device kernel is reached in about a
// microsecond. torch.compile and calls that need a graph keep going through torch.ops.
#include <torch/csrc/Exceptions.h>
#include <torch/csrc/autograd/python_variable.h>

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <vector>

#include "cpu/vec.h"
#include "pyargs.h"

namespace {

namespace pa = torchlops::pyargs;

const at::Tensor& tensor_arg(PyObject* o, const char* what) {
  TORCH_CHECK(THPVariable_Check(o), "torchlops: ", what, " must be a tensor");
  return THPVariable_Unpack(o);
}

bool bool_arg(PyObject* o) {
  const int v = PyObject_IsTrue(o);
  if (v < 0) pa::raise();
  return v != 0;
}

template <typename Sig>
c10::TypedOperatorHandle<Sig> handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Sig>();
}

// the op below the autograd keys, without the GIL (as torch's own bindings do), wrapped for Python
template <typename Sig, typename... Args>
PyObject* call_below(const c10::TypedOperatorHandle<Sig>& op, const Args&... args) {
  at::Tensor y;
  {
    pybind11::gil_scoped_release nogil;
    at::AutoDispatchBelowAutograd below;
    y = op.call(args...);
  }
  return THPVariable_Wrap(std::move(y));
}

// stencil(x, axes, scales, spec, weights or None, adjoint)
PyObject* call_stencil(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  TORCH_CHECK(n == 6, "stencil(x, axes, scales, spec, weights, adjoint)");
  using Sig = at::Tensor(const at::Tensor&, at::IntArrayRef, at::ArrayRef<double>, at::ArrayRef<double>,
                         const std::optional<at::Tensor>&, bool);
  static const auto op = handle<Sig>("torchlops::stencil");
  std::optional<at::Tensor> w;
  if (args[4] != Py_None) w = tensor_arg(args[4], "weights");
  return call_below(op, tensor_arg(args[0], "x"), pa::numbers<int64_t>(args[1]), pa::numbers<double>(args[2]),
                    pa::numbers<double>(args[3]), w, bool_arg(args[5]));
  END_HANDLE_TH_ERRORS
}

// stencil_split(x, axes, scales, spec) / stencil_merge(y, axes, scales, spec)
using SplitSig = at::Tensor(const at::Tensor&, at::IntArrayRef, at::ArrayRef<double>, at::ArrayRef<double>);

PyObject* call_split_merge(const c10::TypedOperatorHandle<SplitSig>& op, PyObject* const* args, Py_ssize_t n) {
  TORCH_CHECK(n == 4, "expected (x, axes, scales, spec)");
  return call_below(op, tensor_arg(args[0], "x"), pa::numbers<int64_t>(args[1]), pa::numbers<double>(args[2]),
                    pa::numbers<double>(args[3]));
}

PyObject* call_stencil_split(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  static const auto op = handle<SplitSig>("torchlops::stencil_split");
  return call_split_merge(op, args, n);
  END_HANDLE_TH_ERRORS
}

PyObject* call_stencil_merge(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  static const auto op = handle<SplitSig>("torchlops::stencil_merge");
  return call_split_merge(op, args, n);
  END_HANDLE_TH_ERRORS
}

// convolve(x, h, axes, offsets, nout, adjoint)
PyObject* call_convolve(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  TORCH_CHECK(n == 6, "convolve(x, h, axes, offsets, nout, adjoint)");
  using Sig = at::Tensor(const at::Tensor&, const at::Tensor&, at::IntArrayRef, at::IntArrayRef, at::IntArrayRef,
                         bool);
  static const auto op = handle<Sig>("torchlops::convolve");
  return call_below(op, tensor_arg(args[0], "x"), tensor_arg(args[1], "h"), pa::numbers<int64_t>(args[2]),
                    pa::numbers<int64_t>(args[3]), pa::numbers<int64_t>(args[4]), bool_arg(args[5]));
  END_HANDLE_TH_ERRORS
}

std::optional<at::Tensor> opt_tensor(PyObject* o, const char* what) {
  if (o == Py_None) return std::nullopt;
  return tensor_arg(o, what);
}

double float_arg(PyObject* o) {
  const double v = PyFloat_AsDouble(o);
  if (v == -1.0 && PyErr_Occurred()) pa::raise();
  return v;
}

// shrink(z, g, alpha, alphas, thresh, threshs, kind)
PyObject* call_shrink(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  TORCH_CHECK(n == 7, "shrink(z, g, alpha, alphas, thresh, threshs, kind)");
  using Sig = at::Tensor(const at::Tensor&, const at::Tensor&, double, const std::optional<at::Tensor>&, double,
                         const std::optional<at::Tensor>&, int64_t);
  static const auto op = handle<Sig>("torchlops::shrink");
  const int64_t kind = PyLong_AsLongLong(args[6]);
  if (kind == -1 && PyErr_Occurred()) pa::raise();
  return call_below(op, tensor_arg(args[0], "z"), tensor_arg(args[1], "g"), float_arg(args[2]),
                    opt_tensor(args[3], "alphas"), float_arg(args[4]), opt_tensor(args[5], "threshs"), kind);
  END_HANDLE_TH_ERRORS
}

// fista_update(xn, xold, z, r, rz, y, oxn, act, xu, lastcost, w, tol, eps, epss) -> 7-tuple
PyObject* call_fista_update(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  TORCH_CHECK(n == 14, "fista_update(xn, xold, z, r, rz, y, oxn, act, xu, lastcost, w, tol, eps, epss)");
  using T = const at::Tensor&;
  using O = const std::optional<at::Tensor>&;
  using Out = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;
  using Sig = Out(T, T, T, T, T, T, T, T, T, O, double, double, double, O);
  static const auto op = handle<Sig>("torchlops::fista_update");
  static const char* names[] = {"xn", "xold", "z", "r", "rz", "y", "oxn", "act", "xu"};
  const at::Tensor* t[9];
  for (int i = 0; i < 9; ++i) t[i] = &tensor_arg(args[i], names[i]);
  const auto lastcost = opt_tensor(args[9], "lastcost"), epss = opt_tensor(args[13], "epss");
  const double w = float_arg(args[10]), tol = float_arg(args[11]), eps = float_arg(args[12]);
  Out out;
  {
    pybind11::gil_scoped_release nogil;
    at::AutoDispatchBelowAutograd below;
    out = op.call(*t[0], *t[1], *t[2], *t[3], *t[4], *t[5], *t[6], *t[7], *t[8], lastcost, w, tol, eps, epss);
  }
  PyObject* tup = PyTuple_New(7);
  if (!tup) pa::raise();
  PyTuple_SET_ITEM(tup, 0, THPVariable_Wrap(std::move(std::get<0>(out))));
  PyTuple_SET_ITEM(tup, 1, THPVariable_Wrap(std::move(std::get<1>(out))));
  PyTuple_SET_ITEM(tup, 2, THPVariable_Wrap(std::move(std::get<2>(out))));
  PyTuple_SET_ITEM(tup, 3, THPVariable_Wrap(std::move(std::get<3>(out))));
  PyTuple_SET_ITEM(tup, 4, THPVariable_Wrap(std::move(std::get<4>(out))));
  PyTuple_SET_ITEM(tup, 5, THPVariable_Wrap(std::move(std::get<5>(out))));
  PyTuple_SET_ITEM(tup, 6, THPVariable_Wrap(std::move(std::get<6>(out))));
  return tup;
  END_HANDLE_TH_ERRORS
}

// sparse_args_ok(*args): whether every tensor among the arguments (None and numbers are
// skipped) is a plain torch.Tensor or nn.Parameter on the CPU, of one real dtype (float32 or
// float64; bool masks aside), that needs no gradient (grad mode off, or requires_grad False):
// the per-tensor part of _ops.sparse_fusable, a fraction of a microsecond per tensor
PyObject* sparse_args_ok(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  static PyObject* param_type = [] {
    PyObject* mod = PyImport_ImportModule("torch.nn.parameter");
    PyObject* t = mod ? PyObject_GetAttrString(mod, "Parameter") : nullptr;
    Py_XDECREF(mod);
    if (!t) PyErr_Clear();
    return t;  // (kept for the life of the process)
  }();
  const bool grad = at::GradMode::is_enabled();
  c10::ScalarType dtype = c10::ScalarType::Undefined;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* o = args[i];
    if (!THPVariable_Check(o)) continue;  // None, floats
    if (!THPVariable_CheckExact(o) && reinterpret_cast<PyObject*>(Py_TYPE(o)) != param_type) Py_RETURN_FALSE;
    const at::Tensor& t = THPVariable_Unpack(o);
    if (!t.defined() || !t.is_cpu() || t.layout() != c10::kStrided || (grad && t.requires_grad())) Py_RETURN_FALSE;
    const c10::ScalarType st = t.scalar_type();
    if (st == c10::ScalarType::Bool) continue;
    if (dtype == c10::ScalarType::Undefined) {
      if (st != c10::ScalarType::Float && st != c10::ScalarType::Double) Py_RETURN_FALSE;
      dtype = st;
    } else if (st != dtype) {
      Py_RETURN_FALSE;
    }
  }
  Py_RETURN_TRUE;
  END_HANDLE_TH_ERRORS
}

PyObject* simd(PyObject*, PyObject*) { return PyUnicode_FromString(torchlops::vec::simd_level()); }

}  // namespace

extern "C" {
PyMethodDef torchlops_call_methods[] = {
    {"stencil", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(call_stencil)), METH_FASTCALL,
     "torchlops::stencil below autograd"},
    {"stencil_split", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(call_stencil_split)),
     METH_FASTCALL, "torchlops::stencil_split below autograd"},
    {"stencil_merge", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(call_stencil_merge)),
     METH_FASTCALL, "torchlops::stencil_merge below autograd"},
    {"convolve", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(call_convolve)), METH_FASTCALL,
     "torchlops::convolve below autograd"},
    {"shrink", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(call_shrink)), METH_FASTCALL,
     "torchlops::shrink below autograd"},
    {"fista_update", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(call_fista_update)),
     METH_FASTCALL, "torchlops::fista_update below autograd"},
    {"sparse_args_ok", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(sparse_args_ok)),
     METH_FASTCALL, "per-tensor check of the fused sparsity-solver kernels' arguments"},
    {"simd", simd, METH_NOARGS, "instruction set of the CPU kernels' vector loops on this machine"},
    {nullptr, nullptr, 0, nullptr}};
}
