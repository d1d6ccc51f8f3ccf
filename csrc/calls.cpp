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
    {"simd", simd, METH_NOARGS, "instruction set of the CPU kernels' vector loops on this machine"},
    {nullptr, nullptr, 0, nullptr}};
}
