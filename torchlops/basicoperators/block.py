"""Block operator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torchlops.basicoperators.hstack import HStack
from torchlops.basicoperators.vstack import VStack
from torchlops.utils.typing import DTypeLike

__all__ = ["Block"]


class Block(VStack):
    r"""Block operator :math:`[[\mathbf{A}_{11}, \mathbf{A}_{12}], [\mathbf{A}_{21}, \mathbf{A}_{22}], \ldots]`.

    Parameters
    ----------
    ops : :obj:`list` of :obj:`list`
        Rows of operators (tensors are wrapped in :class:`MatrixMult`). Each row is an
        :class:`HStack`; the rows are stacked with :class:`VStack`.
    nproc, forceflat, parallel_kind : optional
        Accepted for PyLops compatibility (PyLops' positions; the rows run as one batched
        application, not in a process pool).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        \mathbf{y}_i = \sum_j \mathbf{A}_{ij} \mathbf{x}_j, \qquad
        \mathbf{x}_j = \sum_i \mathbf{A}_{ij}^H \mathbf{y}_i.

    Examples
    --------
    >>> import torch, torchlops
    >>> I = torchlops.Identity(2)
    >>> torchlops.Block([[I, 2 * I], [I, I]]) @ torch.ones(4)
    tensor([3., 3., 2., 2.])
    """

    def __init__(
        self,
        ops: Sequence[Sequence[Any]],
        nproc: int = 1,
        forceflat: bool | None = None,
        parallel_kind: str = "multiproc",
        dtype: DTypeLike = None,
        name: str = "B",
    ) -> None:
        if not isinstance(ops, Sequence) or not ops or not all(isinstance(r, Sequence) and r for r in ops):
            raise TypeError("Block: ops must be a non-empty list of non-empty lists of operators")
        rows = [HStack(row, dtype=dtype) for row in ops]
        ncols = [r.shape[1] for r in rows]
        if len(set(ncols)) > 1:
            raise ValueError(f"Block: the rows have different numbers of columns {ncols} (each row's operators "
                             "side by side must span the same model)")
        super().__init__(rows, nproc=nproc, parallel_kind=parallel_kind, dtype=dtype)
        self.name = name
