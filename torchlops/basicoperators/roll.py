"""Circular shift along an axis."""

from __future__ import annotations

import torch

from torchlops.functional import roll
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import as_int, normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Roll"]


class Roll(LinearOperator):
    r"""Circularly shift the model by ``shift`` samples along ``axis``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    axis : :obj:`int`, optional
        Axis to roll.
    shift : :obj:`int`, optional
        Number of samples (negative rolls backwards).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_{(i + s) \bmod n} = x_i, \qquad x_i = y_{(i + s) \bmod n}.

    One read, one write.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.Roll(3, shift=1) @ torch.tensor([1.0, 2.0, 3.0])
    tensor([3., 1., 2.])
    """

    def __init__(self, dims: InputDimsLike, axis: int = -1, shift: int = 1, dtype: DTypeLike = None, name: str = "R") -> None:
        dims = to_dims(dims)
        super().__init__(dims=dims, dimsd=dims, dtype=dtype, name=name)
        self.axis = normalize_axis(axis, len(dims))
        self.shift = as_int(shift, "shift")

    # y[(i+s) mod n] = x[i]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return roll(x, self.shift, self.axis)

    # x[i] = y[(i+s) mod n]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return roll(y, -self.shift, self.axis)
