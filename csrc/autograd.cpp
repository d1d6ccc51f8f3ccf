// The first-order autograd node of an operator application, in C++.
//
// `apply_operator` in torchlops/_autograd.py records every application through one
// torch.autograd.Function. When the only thing that needs a gradient is the input (no
// operator tensor requires grad, no forward-mode AD, no torch.func transform, not compiling,
// no module hooks on the operator, no compiled autograd: see `record` there) the same pair is
// recorded here instead: the forward kernel runs with grad mode off and the
// output gets an `OperatorBackward` node whose backward calls the Python function registered
// with `set_node_functions` (it applies the adjoint, through the autograd Function when a
// graph is being built, so double backward works as before). This removes the per-call cost
// of a Python autograd.Function (context object, setup_context, the Python backward wrapper),
// which dominates small operators.
//
// run(kernel, x, state, kshape, outshape, tensors) -> y
//   kernel:   callable (Python) applied to x (reshaped to kshape when given), grad mode off
//   state:    passed back to the backward function with the output gradient
//   outshape: shape of y when the kernel's output must be reshaped (or None)
//   tensors:  the operator's tensors (a tuple), which y must not alias
// Returns y with the node attached (a view is first copied, except a reshape of the kernel's
// own fresh output), or None when y cannot carry a node (storage shared with x, the operator's
// tensors or anything else, or a tensor the operator keeps); the caller then records the
// application the Python way.
#include <torch/csrc/Exceptions.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/utils/object_ptr.h>

#include "pyargs.h"

#include <ATen/core/grad_mode.h>

#include <type_traits>

namespace {

using torch::autograd::Node;
using torch::autograd::variable_list;

PyObject* g_backward = nullptr;  // (state, g) -> A^H g (or A g)

struct OperatorBackward final : Node {
  PyObject* state;

  explicit OperatorBackward(PyObject* s) : state(s) { Py_INCREF(state); }

  ~OperatorBackward() override {
    // the node may die on an autograd thread; leak if the interpreter is gone
    if (Py_IsInitialized()) {
      pybind11::gil_scoped_acquire gil;
      Py_DECREF(state);
    }
  }

  std::string name() const override { return "OperatorBackward"; }

  void compiled_args(torch::autograd::CompiledNodeArgs& /*args*/) const override {
    TORCH_CHECK_NOT_IMPLEMENTED(false,
                                "torchlops: compiled autograd cannot trace the C++ node of an operator application; "
                                "set torchlops._autograd.NATIVE_NODE = False before the forward pass to record "
                                "applications with the Python autograd Function instead");
  }

  variable_list apply(variable_list&& grads) override {
    if (!grads[0].defined()) return {at::Tensor()};
    pybind11::gil_scoped_acquire gil;
    PyObject* g = THPVariable_Wrap(grads[0]);
    if (!g) torchlops::pyargs::raise();
    PyObject* r = PyObject_CallFunctionObjArgs(g_backward, state, g, nullptr);
    Py_DECREF(g);
    if (!r) torchlops::pyargs::raise();
    if (!THPVariable_Check(r)) {
      Py_DECREF(r);
      TORCH_CHECK(false, "torchlops: the adjoint did not return a tensor");
    }
    at::Tensor out = THPVariable_Unpack(r);
    Py_DECREF(r);
    return {std::move(out)};
  }
};


// Attach a new OperatorBackward (carrying `state`) to `out`, its next edge the input `x`'s.
// torch 2.13 holds autograd nodes in c10::intrusive_ptr, earlier versions (2.11 on the GPU
// image) in std::shared_ptr: the branch not taken is never instantiated (a template).
template <typename N>
void attach_node(at::Tensor& out, const at::Tensor& x, PyObject* state) {
  if constexpr (std::is_base_of<c10::intrusive_ptr_target, Node>::value) {
    auto node = c10::make_intrusive<N>(state);
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    torch::autograd::set_history(out, node);
  } else {
    auto node = std::make_shared<N>(state);
    node->set_next_edges(torch::autograd::collect_next_edges(x));
    torch::autograd::set_history(out, node);
  }
}

bool aliases(const at::Tensor& y, const at::Tensor& t) {
  if (!t.defined()) return false;
  if (y.unsafeGetTensorImpl() == t.unsafeGetTensorImpl()) return true;
  if (!t.has_storage()) return false;
  return y.storage().is_alias_of(t.storage());
}

PyObject* run(PyObject* /*self*/, PyObject* const* args, Py_ssize_t nargs) {
  HANDLE_TH_ERRORS
  TORCH_CHECK(nargs == 6, "run(kernel, x, state, kshape, outshape, tensors)");
  TORCH_CHECK(g_backward != nullptr, "torchlops: node functions are not set");
  PyObject *kernel = args[0], *px = args[1], *state = args[2];
  PyObject *kshape = args[3], *outshape = args[4], *tensors = args[5];
  TORCH_CHECK(THPVariable_Check(px) && PyTuple_Check(tensors), "run: bad arguments");
  const at::Tensor& x = THPVariable_Unpack(px);

  THPObjectPtr py;
  {
    at::AutoGradMode off(false);
    if (kshape == Py_None) {
      py = PyObject_CallOneArg(kernel, px);
    } else {
      THPObjectPtr pxk(THPVariable_Wrap(x.reshape(torchlops::pyargs::numbers<int64_t>(kshape))));
      if (!pxk) return nullptr;
      py = PyObject_CallOneArg(kernel, pxk.get());
    }
  }
  if (!py) return nullptr;
  if (!THPVariable_Check(py.get())) Py_RETURN_NONE;  // let the caller's path report it
  const at::Tensor& y = THPVariable_Unpack(py.get());

  // attach only to a tensor of the kernel's own: not shared with anyone (the operator could
  // keep it), no storage in common with the input, the operator's tensors or anything else
  // (an in-place change of the output must not reach them unseen), not already recorded
  bool ok = Py_REFCNT(py.get()) == 1 && !y.requires_grad() && y.layout() == at::kStrided && y.has_storage() &&
            torch::autograd::isDifferentiableType(y.scalar_type()) && !aliases(y, x);
  for (Py_ssize_t i = 0; ok && i < PyTuple_GET_SIZE(tensors); ++i) {
    PyObject* t = PyTuple_GET_ITEM(tensors, i);
    if (THPVariable_Check(t)) ok = !aliases(y, THPVariable_Unpack(t));
  }
  // a tensor that is not a view must hold its storage alone; a view (of the kernel's own
  // intermediate, or of something else the operator holds) is copied below
  const bool fresh = !y.is_view();
  if (ok && fresh) ok = y.storage().use_count() == 1;
  if (!ok) Py_RETURN_NONE;

  at::Tensor out = y;
  {
    at::AutoGradMode off(false);
    if (outshape != Py_None) {
      std::vector<int64_t> shp = torchlops::pyargs::numbers<int64_t>(outshape);
      if (out.sizes() != at::IntArrayRef(shp)) out = out.reshape(shp);
    }
    // lazy conjugate / negative views carry a bit that a tensor of its own would drop
    if (out.is_conj()) out = out.resolve_conj();
    if (out.is_neg()) out = out.resolve_neg();
    if (out.is_view()) {
      // autograd cannot give a view a new history: a reshape of the kernel's own fresh output
      // becomes a tensor of its own on the same storage; any other view is copied
      if (fresh) {
        at::Tensor own = at::empty({0}, out.options());
        own.set_(out.storage(), out.storage_offset(), out.sizes(), out.strides());
        out = std::move(own);
      } else {
        out = out.clone(at::MemoryFormat::Contiguous);
      }
    }
  }
  attach_node<OperatorBackward>(out, x, state);
  if (out.unsafeGetTensorImpl() == y.unsafeGetTensorImpl()) return py.release();
  return THPVariable_Wrap(out);
  END_HANDLE_TH_ERRORS
}

PyObject* set_node_functions(PyObject* /*self*/, PyObject* backward) {
  if (!PyCallable_Check(backward)) {
    PyErr_SetString(PyExc_TypeError, "set_node_functions expects a callable");
    return nullptr;
  }
  Py_INCREF(backward);
  Py_XDECREF(g_backward);
  g_backward = backward;
  Py_RETURN_NONE;
}

}  // namespace

extern "C" {
PyMethodDef torchlops_autograd_methods[] = {
    {"run", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(run)), METH_FASTCALL,
     "run(kernel, x, state, kshape, outshape, tensors): apply the kernel and record its backward node"},
    {"set_node_functions", set_node_functions, METH_O, "set the backward function of the nodes"},
    {nullptr, nullptr, 0, nullptr}};
}
