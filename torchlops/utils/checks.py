"""Argument normalisation and checks whose messages say what was expected and what came."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = [
    "as_int",
    "to_dims",
    "normalize_axis",
    "to_torch_dtype",
    "real_dtype",
    "complex_dtype",
    "as_tensor",
    "check_floating",
    "prod",
]

_NAMED = {
    "float16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float": torch.float64,  # (NumPy's and PyLops' meaning, as "complex" is complex128)
    "float64": torch.float64,
    "double": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
    "cfloat": torch.complex64,
    "cdouble": torch.complex128,
}


def prod(shape: Sequence[int]) -> int:
    """Product of a shape (1 for an empty shape)."""
    return int(math.prod(shape))


def to_dims(dims: InputDimsLike, name: str = "dims") -> tuple[int, ...]:
    """Normalise an int or a sequence of ints into a tuple of non-negative ints."""
    if type(dims) is tuple:  # (the common case, such as an operator's own dims: as it is)
        for d in dims:
            if type(d) is not int or d < 0:
                break
        else:
            return dims
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        out = (int(dims),)
    elif isinstance(dims, torch.Size):
        out = tuple(int(d) for d in dims)
    elif isinstance(dims, (Sequence, np.ndarray)) and not isinstance(dims, str):
        try:
            out = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be an int or a sequence of ints, got {dims!r}") from None
        if any(not float(d).is_integer() for d in dims):
            raise TypeError(f"{name} must hold integers, got {dims!r}")
    else:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {type(dims).__name__}")
    if any(d < 0 for d in out):
        raise ValueError(f"{name} must be non-negative, got {out}")
    return out


def as_int(value: Any, name: str) -> int:
    """``value`` as a Python int: ints, NumPy ints and integer tensors with one element are;
    bools and fractions (floats, float tensors) are a TypeError."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r}") from None


def normalize_axis(axis: int, ndim: int, name: str = "axis") -> int:
    """Map a possibly negative axis into ``[0, ndim)``; ValueError when out of range."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(axis).__name__}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of range for an operator with {ndim} dimension(s)")
    return int(axis) % ndim


def real_float(value: Any, name: str) -> float:
    """``value`` as a float: a real number (a Python, NumPy or one-element torch one), else a
    TypeError naming ``name`` (a complex one is refused, not cut to its real part)."""
    if isinstance(value, torch.Tensor):  # (any device, dtype or graph: its one value)
        ok = value.numel() == 1 and not (value.is_complex() or value.dtype == torch.bool)
        number = value.detach().item() if ok else None
    elif isinstance(value, np.ndarray):
        ok = value.size == 1 and value.dtype.kind in "iuf"
        number = value.item() if ok else None
    else:
        ok = (not isinstance(value, (bool, np.bool_, complex, np.complexfloating, str, bytes))
              and (isinstance(value, (int, float)) or hasattr(value, "__float__")))
        number = value
    if not ok:
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(number)


def to_torch_dtype(dtype: DTypeLike, default: torch.dtype | None = None) -> torch.dtype:
    """Convert a torch / numpy / string dtype into a floating or complex ``torch.dtype``."""
    if dtype is None:
        return default if default is not None else torch.get_default_dtype()
    if isinstance(dtype, torch.dtype):
        out = dtype
    elif isinstance(dtype, str) and dtype in _NAMED:
        out = _NAMED[dtype]
    else:
        try:
            npd = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be a torch.dtype, a numpy dtype or a name, got {dtype!r}") from None
        try:  # (the native byte order: a ">f8" is a float64 as any other)
            out = torch.from_numpy(np.zeros(0, dtype=npd.newbyteorder("="))).dtype
        except TypeError:
            raise TypeError(f"dtype {dtype!r} has no torch equivalent") from None
    if not (out.is_floating_point or out.is_complex):
        raise TypeError(f"dtype must be a floating or complex type, got {out}")
    return out


_REAL_OF = {torch.complex32: torch.float16, torch.complex64: torch.float32, torch.complex128: torch.float64}


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real counterpart of a (possibly complex) dtype."""
    return _REAL_OF.get(dtype, dtype)  # (a lookup: torch.compile does not trace dtype.to_real)


def model_dtype(op: Any) -> torch.dtype:
    """The dtype of an operator's models: its own, real for an R-linear one of a complex dtype
    (``FFT(real=True)``, ``Real``, their products: complex dtype, real models)."""
    return op.dtype if op.clinear else real_dtype(op.dtype)


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """The complex counterpart of a (possibly real) dtype (half and bfloat16 map to complex64)."""
    if dtype.is_complex:
        return dtype
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def as_tensor(value: TensorLike, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Turn an array-like into a tensor (no copy for tensors of the right dtype)."""
    if isinstance(value, torch.Tensor):
        t = value
    elif isinstance(value, (bool, int, float, complex, np.number)) and not isinstance(value, np.ndarray):
        # Python scalars go through float64/complex128, never the (float32) default dtype
        t = torch.as_tensor(np.asarray(value, dtype=np.complex128 if np.iscomplexobj(value) else np.float64))
    else:
        try:
            t = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{name} must be a tensor or array-like, got {type(value).__name__}") from err
    if dtype is not None and t.dtype != dtype:
        t = t.to(dtype)
    return t


def check_floating(x: torch.Tensor, name: str = "x") -> None:
    """TypeError unless ``x`` is a floating or complex tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(
            f"{name} must be a floating or complex tensor, got dtype {x.dtype} "
            f"(convert it first, e.g. {name}.to(torch.get_default_dtype()))"
        )


def operator_tensor(
    value: TensorLike, name: str, dtype: DTypeLike = None
) -> tuple[torch.Tensor, torch.dtype]:
    """Normalise a tensor that defines an operator and choose the operator dtype.

    A :class:`torch.nn.Parameter` is kept as it is (it is learnt; the operator takes its
    dtype). Anything else becomes a tensor of ``dtype`` (default: the value's own floating
    dtype, else the default dtype), promoted to complex when the value is complex. Tensors
    that require grad stay connected to their graph.
    """
    from torch import nn

    if isinstance(value, nn.Parameter):
        if not (value.is_floating_point() or value.is_complex()):
            raise TypeError(f"{name} must be a floating or complex Parameter, got {value.dtype}")
        return value, value.dtype
    t = as_tensor(value, name)
    base = t.dtype if (t.is_floating_point() or t.is_complex()) else None
    if not isinstance(value, (torch.Tensor, np.ndarray)) and t.dim() == 0:
        # a Python scalar: the default dtype (complex for a complex scalar), at full precision
        base = complex_dtype(torch.get_default_dtype()) if t.is_complex() else torch.get_default_dtype()
    dt = to_torch_dtype(dtype, default=base)
    if t.is_complex() and not dt.is_complex:
        dt = complex_dtype(dt)
    return (t if t.dtype == dt else t.to(dt)), dt


def check_backend(backend: object) -> None:
    """PyLops' ``backend`` argument (the array module of its results: numpy or cupy): accepted, a
    string, without effect (results are torch tensors on the operator's device)."""
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string (as PyLops': numpy or cupy), got {type(backend).__name__}")
