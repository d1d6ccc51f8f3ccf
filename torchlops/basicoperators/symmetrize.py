"""Symmetrisation about the first sample."""

from __future__ import annotations

import torch

from torchlops.functional import symmetrize, symmetrize_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Symmetrize"]


class Symmetrize(LinearOperator):
    r"""Mirror the model about its first sample along ``axis`` (``n`` -> ``2n-1`` samples).

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    axis : :obj:`int`, optional
        Axis to symmetrise.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_{n-1+j} = y_{n-1-j} = x_j, \qquad
        x_j = y_{n-1+j} + [j \ge 1]\, y_{n-1-j}.

    One read of x, one write of y.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.Symmetrize(3) @ torch.tensor([1.0, 2.0, 3.0])
    tensor([3., 2., 1., 2., 3.])
    """

    def __init__(self, dims: InputDimsLike, axis: int = -1, dtype: DTypeLike = None, name: str = "S") -> None:
        dims = to_dims(dims)
        ax = normalize_axis(axis, len(dims))
        if dims[ax] < 1:
            raise ValueError(f"Symmetrize needs at least one sample along axis {axis}, got dims {dims}")
        dimsd = list(dims)
        dimsd[ax] = 2 * dims[ax] - 1
        super().__init__(dims=dims, dimsd=dimsd, dtype=dtype, name=name)
        self.axis = ax
        self.nsym = dims[ax]

    # y[n-1+j] = y[n-1-j] = x[j]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return symmetrize(x, self.axis)

    # x[j] = y[n-1+j] + (j >= 1) y[n-1-j]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return symmetrize_adjoint(y, self.axis)
