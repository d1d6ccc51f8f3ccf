"""Axis permutation."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Transpose"]


class Transpose(LinearOperator):
    r"""Permute the axes of an N-d model.

    Parameters
    ----------
    dims : :obj:`tuple`
        Model shape.
    axes : :obj:`tuple`
        Permutation: data axis ``i`` is model axis ``axes[i]``.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_{i_{a_0} \ldots i_{a_{n-1}}} = x_{i_0 \ldots i_{n-1}},

    the adjoint applies the inverse permutation. One read, one (contiguous) write.

    Examples
    --------
    >>> import torch, torchlops
    >>> T = torchlops.Transpose((2, 3), axes=(1, 0))
    >>> (T @ torch.arange(6.0).reshape(2, 3)).shape
    torch.Size([3, 2])
    """

    def __init__(self, dims: InputDimsLike, axes: Sequence[int], dtype: DTypeLike = None, name: str = "T") -> None:
        dims = to_dims(dims)
        ax = [normalize_axis(a, len(dims), "axes") for a in axes]
        if sorted(ax) != list(range(len(dims))):
            raise ValueError(f"axes must be a permutation of {tuple(range(len(dims)))}, got {tuple(axes)}")
        super().__init__(dims=dims, dimsd=tuple(dims[a] for a in ax), dtype=dtype, name=name)
        self.axes = ax
        self._fwd = (0, *[a + 1 for a in ax])
        inv = [0] * len(ax)
        for i, a in enumerate(ax):
            inv[a] = i
        self._adj = (0, *[a + 1 for a in inv])

    # y = permute(x, axes)
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(self._fwd).clone(memory_format=torch.contiguous_format)

    # x = permute(y, argsort(axes))
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return y.permute(self._adj).clone(memory_format=torch.contiguous_format)
