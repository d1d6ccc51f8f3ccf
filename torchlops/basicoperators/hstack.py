"""Horizontal stacking of operators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from torchlops._algebra import run
from torchlops.basicoperators._stacking import (
    as_operators,
    cast_output,
    check_parallel_kind,
    cumulative,
    part_sizes,
    stack_dtype,
)
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import to_torch_dtype
from torchlops.utils.typing import DTypeLike

__all__ = ["HStack"]


class HStack(LinearOperator):
    r"""Horizontal stack :math:`[\mathbf{A}_1, \mathbf{A}_2, \ldots]` of operators sharing the data.

    Parameters
    ----------
    ops : :obj:`list`
        Operators (tensors are wrapped in :class:`MatrixMult`) with the same number of rows.
    nproc, inoutengine, parallel_kind : optional
        Accepted for PyLops compatibility (``parallel_kind`` is ``"multiproc"`` or
        ``"multithread"``).
    forceflat : :obj:`bool`, optional
        Accepted for PyLops compatibility.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to the promoted dtype of ``ops``).

    Notes
    -----
    .. math::
        \mathbf{y} = \sum_i \mathbf{A}_i \mathbf{x}_i, \qquad
        \mathbf{x} = [\mathbf{A}_1^H \mathbf{y}; \ldots; \mathbf{A}_n^H \mathbf{y}].

    The data keeps the common ``dimsd`` of the parts (flat if they differ); the model is flat.

    Examples
    --------
    >>> import torch, torchlops
    >>> H = torchlops.HStack([torchlops.Identity(2), torchlops.Diagonal(torch.tensor([2.0, 3.0]))])
    >>> H @ torch.ones(4)
    tensor([3., 4.])
    """

    _composite = True

    def __init__(
        self,
        ops: Sequence[Any],
        nproc: int = 1,
        forceflat: bool | None = None,
        inoutengine: Any = None,
        parallel_kind: str = "multiproc",
        dtype: DTypeLike = None,
    ) -> None:
        check_parallel_kind(parallel_kind)
        ops = as_operators(ops, "HStack")
        nrows = {op.shape[0] for op in ops}
        if len(nrows) > 1:
            raise ValueError(f"HStack: operators have different numbers of rows {[op.shape[0] for op in ops]}")
        dimsd = ops[0].dimsd if len({op.dimsd for op in ops}) == 1 else (ops[0].shape[0],)
        ncols = [op.shape[1] for op in ops]
        super().__init__(
            dims=(sum(ncols),), dimsd=dimsd, dtype=stack_dtype(ops, dtype),
            clinear=all(op.clinear for op in ops), name="H",
        )
        self.ops = nn.ModuleList(ops)
        self._given_dtype = None if dtype is None else to_torch_dtype(dtype)
        self._cols = ncols
        # (PyLops' attributes: rows and columns of the stack, cumulative columns with a leading zero)
        self.nops = ops[0].shape[0]
        self.mops = sum(ncols)
        self.mmops = cumulative(ncols)
        self.nproc = nproc

    def _dtype_from_parts(self) -> torch.dtype:
        return stack_dtype(list(self.ops), self._given_dtype)

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        B = x.shape[0]
        if adjoint:
            return cast_output(self, torch.cat([run(op, x, True).reshape(B, -1) for op in self.ops], dim=1), x)
        parts = torch.split(x.reshape(B, -1), part_sizes(self, "_cols", 1), dim=1)
        out = None
        for op, xi in zip(self.ops, parts):
            yi = run(op, xi, False).reshape(B, *self._dimsd)
            out = yi if out is None else out + yi
        return cast_output(self, out, x)
