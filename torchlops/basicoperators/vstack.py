"""Vertical stacking of operators."""

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

__all__ = ["VStack"]


class VStack(LinearOperator):
    r"""Vertical stack :math:`[\mathbf{A}_1; \mathbf{A}_2; \ldots]` of operators sharing a model.

    Parameters
    ----------
    ops : :obj:`list`
        Operators (tensors are wrapped in :class:`MatrixMult`) with the same number of columns.
    nproc, inoutengine, parallel_kind : optional
        Accepted for PyLops compatibility (``parallel_kind`` is ``"multiproc"`` or
        ``"multithread"``); the parts run one after the other, each on the whole batch.
    forceflat : :obj:`bool`, optional
        Accepted for PyLops compatibility.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to the promoted dtype of ``ops``).

    Notes
    -----
    .. math::
        \mathbf{y} = [\mathbf{A}_1 \mathbf{x}; \ldots; \mathbf{A}_n \mathbf{x}], \qquad
        \mathbf{x} = \sum_i \mathbf{A}_i^H \mathbf{y}_i.

    The model keeps the common ``dims`` of the parts (flat if they differ); the data is flat.

    Examples
    --------
    >>> import torch, torchlops
    >>> V = torchlops.VStack([torchlops.Identity(2), torchlops.Diagonal(torch.tensor([2.0, 3.0]))])
    >>> V @ torch.ones(2)
    tensor([1., 1., 2., 3.])
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
        ops = as_operators(ops, "VStack")
        ncols = {op.shape[1] for op in ops}
        if len(ncols) > 1:
            raise ValueError(f"VStack: operators have different numbers of columns {[op.shape[1] for op in ops]}")
        dims = ops[0].dims if len({op.dims for op in ops}) == 1 else (ops[0].shape[1],)
        nrows = [op.shape[0] for op in ops]
        super().__init__(
            dims=dims, dimsd=(sum(nrows),), dtype=stack_dtype(ops, dtype),
            clinear=all(op.clinear for op in ops), name="V",
        )
        self.ops = nn.ModuleList(ops)
        self._given_dtype = None if dtype is None else to_torch_dtype(dtype)
        self._rows = nrows
        # (PyLops' attributes: rows and columns of the stack, cumulative rows with a leading zero)
        self.nops = sum(nrows)
        self.mops = ops[0].shape[1]
        self.nnops = cumulative(nrows)
        self.nproc = nproc

    def _dtype_from_parts(self) -> torch.dtype:
        return stack_dtype(list(self.ops), self._given_dtype)

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        B = x.shape[0]
        if adjoint:
            parts = torch.split(x.reshape(B, -1), part_sizes(self, "_rows", 0), dim=1)
            out = None
            for op, yi in zip(self.ops, parts):
                xi = run(op, yi, True).reshape(B, *self._dims)
                out = xi if out is None else out + xi
            return cast_output(self, out, x)
        return cast_output(self, torch.cat([run(op, x, False).reshape(B, -1) for op in self.ops], dim=1), x)
