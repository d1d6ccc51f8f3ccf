"""Flip along an axis."""

from __future__ import annotations

import torch

from torchlops.functional import flip
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Flip"]


class Flip(LinearOperator):
    r"""Reverse the model along ``axis`` (self-adjoint).

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    axis : :obj:`int`, optional
        Axis to flip.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_i = x_{n-1-i}, \qquad x_i = y_{n-1-i}.

    One read, one write.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.Flip(3) @ torch.tensor([1.0, 2.0, 3.0])
    tensor([3., 2., 1.])
    """

    def __init__(self, dims: InputDimsLike, axis: int = -1, dtype: DTypeLike = None, name: str = "F") -> None:
        dims = to_dims(dims)
        super().__init__(dims=dims, dimsd=dims, dtype=dtype, name=name)
        self.axis = normalize_axis(axis, len(dims))

    # y[i] = x[n-1-i]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return flip(x, self.axis)

    # x[i] = y[n-1-i]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return flip(y, self.axis)
