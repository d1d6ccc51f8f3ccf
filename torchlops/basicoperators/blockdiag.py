"""Block-diagonal operator."""

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

__all__ = ["BlockDiag"]


class BlockDiag(LinearOperator):
    r"""Block-diagonal operator :math:`\mathrm{diag}(\mathbf{A}_1, \mathbf{A}_2, \ldots)`.

    Parameters
    ----------
    ops : :obj:`list`
        Operators (tensors are wrapped in :class:`MatrixMult`).
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
        \mathbf{y}_i = \mathbf{A}_i \mathbf{x}_i, \qquad \mathbf{x}_i = \mathbf{A}_i^H \mathbf{y}_i.

    When all parts share ``dims`` (``dimsd``), the model (data) is ``(len(ops), *dims)``;
    otherwise it is flat.

    Examples
    --------
    >>> import torch, torchlops
    >>> B = torchlops.BlockDiag([torchlops.Identity(2), 2 * torchlops.Identity(2)])
    >>> B @ torch.ones(2, 2)
    tensor([[1., 1.],
            [2., 2.]])
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
        ops = as_operators(ops, "BlockDiag")
        nrows = [op.shape[0] for op in ops]
        ncols = [op.shape[1] for op in ops]
        dims = (len(ops), *ops[0].dims) if len({op.dims for op in ops}) == 1 else (sum(ncols),)
        dimsd = (len(ops), *ops[0].dimsd) if len({op.dimsd for op in ops}) == 1 else (sum(nrows),)
        super().__init__(
            dims=dims, dimsd=dimsd, dtype=stack_dtype(ops, dtype),
            clinear=all(op.clinear for op in ops), name="B",
        )
        self.ops = nn.ModuleList(ops)
        self._given_dtype = None if dtype is None else to_torch_dtype(dtype)
        self._rows, self._cols = nrows, ncols
        # (PyLops' attributes: rows and columns of the stack, their cumulative sums with a leading zero)
        self.nops = sum(nrows)
        self.mops = sum(ncols)
        self.nnops = cumulative(nrows)
        self.mmops = cumulative(ncols)
        self.nproc = nproc

    def _dtype_from_parts(self) -> torch.dtype:
        return stack_dtype(list(self.ops), self._given_dtype)

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        B = x.shape[0]
        sizes, outshape = (part_sizes(self, "_rows", 0), self._dims) if adjoint else (part_sizes(self, "_cols", 1), self._dimsd)
        parts = torch.split(x.reshape(B, -1), sizes, dim=1)
        ys = [run(op, xi, adjoint).reshape(B, -1) for op, xi in zip(self.ops, parts)]
        return cast_output(self, torch.cat(ys, dim=1).reshape(B, *outshape), x)
