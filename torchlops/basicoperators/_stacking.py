"""Shared helpers of the stacking operators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from torchlops.interop import aslinearoperator
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import to_torch_dtype
from torchlops.utils.typing import DTypeLike


def as_operators(ops: Sequence[Any], who: str) -> list[LinearOperator]:
    """Operators of a non-empty sequence (tensors, NumPy arrays and SciPy sparse matrices become
    MatrixMult, PyLops operators are wrapped: :func:`torchlops.interop.aslinearoperator`)."""
    if isinstance(ops, (LinearOperator, torch.Tensor, np.ndarray)) or not isinstance(ops, Sequence) or len(ops) == 0:
        raise TypeError(f"{who}: ops must be a non-empty list of operators")
    return [aslinearoperator(op) for op in ops]


def check_parallel_kind(parallel_kind: Any) -> None:
    """PyLops' ``parallel_kind`` (its pool of parts: accepted, the parts run one after the other)."""
    if parallel_kind not in ("multiproc", "multithread"):
        raise ValueError(f"parallel_kind must be 'multiproc' or 'multithread', got {parallel_kind!r}")


def cumulative(sizes: Sequence[int]) -> tuple[int, ...]:
    """The offsets of consecutive blocks of ``sizes``: their cumulative sums after a zero (PyLops'
    ``nnops`` / ``mmops``)."""
    out = [0]
    for n in sizes:
        out.append(out[-1] + n)
    return tuple(out)


def part_sizes(op: LinearOperator, attr: str, dim: int) -> list[int]:
    """The parts' rows (``dim`` 0) or columns (1) kept in ``attr``, or from the parts where an
    operator saved before it kept them has none."""
    sizes = op.__dict__.get(attr)
    return sizes if sizes is not None else [part.shape[dim] for part in op.ops]


def stack_dtype(ops: Sequence[LinearOperator], dtype: DTypeLike) -> torch.dtype:
    """The dtype of a stack: the promoted dtype of its operators unless one is given."""
    out = ops[0].dtype
    for op in ops[1:]:
        out = torch.promote_types(out, op.dtype)
    if dtype is not None:
        out = torch.promote_types(to_torch_dtype(dtype), out) if out.is_complex else to_torch_dtype(dtype)
    return out


def cast_output(op: LinearOperator, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A stack or Kronecker product built with an explicit ``dtype`` gives
    ``promote_types(op.dtype, x.dtype)`` (PyLops: its dtype) where its parts compute in another
    precision; a complex result of a part stays complex (no imaginary part is dropped)."""
    if getattr(op, "_given_dtype", None) is None:
        return y
    dt = torch.promote_types(op.dtype, x.dtype)
    if y.is_complex() and not dt.is_complex:  # (the complex dtype of dt's precision)
        dt = torch.promote_types(dt, torch.complex64)
    return y if y.dtype == dt else y.to(dt)


def split_sizes(sizes: Sequence[int]) -> list[int]:
    return [int(s) for s in sizes]
