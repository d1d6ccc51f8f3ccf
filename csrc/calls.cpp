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
#include <c10/core/impl/LocalDispatchKeySet.h>

#include <vector>

#include "pyargs.h"

namespace {

const at::Tensor& tensor_arg(PyObject* o, const char* what) {
  TORCH_CHECK(THPVariable_Check(o), "torchlops: ", what, " must be a tensor");
  return THPVariable_Unpack(o);
}


bool bool_arg(PyObject* o) {
  const int v = PyObject_IsTrue(o);
  if (v < 0) torchlops::pyargs::raise();
  return v != 0;
}

c10::OperatorHandle handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "");
}

PyObject* wrap(at::Tensor t) { return THPVariable_Wrap(std::move(t)); }

// stencil(x, axes, scales, spec, weights or None, adjoint)
PyObject* call_stencil(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  TORCH_CHECK(n == 6, "stencil(x, axes, scales, spec, weights, adjoint)");
  static auto op = handle("torchlops::stencil")
                       .typed<at::Tensor(const at::Tensor&, at::IntArrayRef, at::ArrayRef<double>,
                                         at::ArrayRef<double>, const std::optional<at::Tensor>&, bool)>();
  const at::Tensor& x = tensor_arg(args[0], "x");
  const auto axes = torchlops::pyargs::numbers<int64_t>(args[1]);
  const auto scales = torchlops::pyargs::numbers<double>(args[2]);
  const auto spec = torchlops::pyargs::numbers<double>(args[3]);
  std::optional<at::Tensor> w;
  if (args[4] != Py_None) w = tensor_arg(args[4], "weights");
  const bool adjoint = bool_arg(args[5]);
  at::Tensor y;
  {
    pybind11::gil_scoped_release nogil;
    at::AutoDispatchBelowAutograd below;
    y = op.call(x, axes, scales, spec, w, adjoint);
  }
  return wrap(std::move(y));
  END_HANDLE_TH_ERRORS
}

// stencil_split(x, axes, scales, spec) / stencil_merge(y, axes, scales, spec)
PyObject* call_split_merge(const char* name, PyObject* const* args, Py_ssize_t n) {
  TORCH_CHECK(n == 4, name, "(x, axes, scales, spec)");
  const at::Tensor& x = tensor_arg(args[0], "x");
  const auto axes = torchlops::pyargs::numbers<int64_t>(args[1]);
  const auto scales = torchlops::pyargs::numbers<double>(args[2]);
  const auto spec = torchlops::pyargs::numbers<double>(args[3]);
  using Sig = at::Tensor(const at::Tensor&, at::IntArrayRef, at::ArrayRef<double>, at::ArrayRef<double>);
  static auto split = handle("torchlops::stencil_split").typed<Sig>();
  static auto merge = handle("torchlops::stencil_merge").typed<Sig>();
  const bool is_split = name[8] == 's';  // "stencil_split" / "stencil_merge"
  at::Tensor y;
  {
    pybind11::gil_scoped_release nogil;
    at::AutoDispatchBelowAutograd below;
    y = is_split ? split.call(x, axes, scales, spec) : merge.call(x, axes, scales, spec);
  }
  return wrap(std::move(y));
}

PyObject* call_stencil_split(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  return call_split_merge("stencil_split", args, n);
  END_HANDLE_TH_ERRORS
}

PyObject* call_stencil_merge(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  return call_split_merge("stencil_merge", args, n);
  END_HANDLE_TH_ERRORS
}

// convolve(x, h, axes, offsets, nout, adjoint)
PyObject* call_convolve(PyObject*, PyObject* const* args, Py_ssize_t n) {
  HANDLE_TH_ERRORS
  TORCH_CHECK(n == 6, "convolve(x, h, axes, offsets, nout, adjoint)");
  static auto op = handle("torchlops::convolve")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, at::IntArrayRef, at::IntArrayRef,
                                         at::IntArrayRef, bool)>();
  const at::Tensor& x = tensor_arg(args[0], "x");
  const at::Tensor& h = tensor_arg(args[1], "h");
  const auto axes = torchlops::pyargs::numbers<int64_t>(args[2]);
  const auto offsets = torchlops::pyargs::numbers<int64_t>(args[3]);
  const auto nout = torchlops::pyargs::numbers<int64_t>(args[4]);
  const bool adjoint = bool_arg(args[5]);
  at::Tensor y;
  {
    pybind11::gil_scoped_release nogil;
    at::AutoDispatchBelowAutograd below;
    y = op.call(x, h, axes, offsets, nout, adjoint);
  }
  return wrap(std::move(y));
  END_HANDLE_TH_ERRORS
}

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
    {nullptr, nullptr, 0, nullptr}};
}
