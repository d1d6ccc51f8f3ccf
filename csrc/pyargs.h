// Argument helpers of the module's Python functions (autograd.cpp, calls.cpp).
#pragma once

#include <torch/csrc/Exceptions.h>

#include <cstdint>
#include <type_traits>
#include <vector>

namespace torchlops {
namespace pyargs {

// rethrow the pending Python exception through C++ (HANDLE_TH_ERRORS restores it)
[[noreturn]] inline void raise() {
  python_error err;
  err.persist();
  throw std::move(err);
}

// the numbers of a Python sequence (int64 or double), stopping at the first bad element
template <typename T>
std::vector<T> numbers(PyObject* seq) {
  static_assert(std::is_same<T, int64_t>::value || std::is_same<T, double>::value, "int64_t or double");
  PyObject* fast = PySequence_Fast(seq, "torchlops: expected a sequence of numbers");
  if (!fast) raise();
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  std::vector<T> out(n);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(fast, i);
    if (std::is_same<T, int64_t>::value)
      out[i] = T(PyLong_AsLongLong(item));
    else
      out[i] = T(PyFloat_AsDouble(item));
    if (out[i] == T(-1) && PyErr_Occurred()) {
      Py_DECREF(fast);
      raise();
    }
  }
  Py_DECREF(fast);
  return out;
}

}  // namespace pyargs
}  // namespace torchlops
