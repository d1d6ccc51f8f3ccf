"""Sum along an axis."""

from __future__ import annotations

import torch

from torchlops.functional import spread, sum_axis
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Sum"]


class Sum(LinearOperator):
    r"""Sum the model along ``axis``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape (a 1-D model ``n`` is treated as ``(n, 1)``, as in PyLops).
    axis : :obj:`int`, optional
        Axis to sum over.
    forceflat : :obj:`bool`, optional
        Accepted for PyLops compatibility.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_{\ldots} = \sum_i x_{\ldots i \ldots}, \qquad x_{\ldots i \ldots} = y_{\ldots}.

    One read of x, one write of y; the adjoint writes ``n`` copies of y.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.Sum((2, 3), axis=1) @ torch.ones(2, 3)
    tensor([3., 3.])
    """

    def __init__(
        self, dims: InputDimsLike, axis: int = -1, forceflat: bool | None = None, dtype: DTypeLike = None, name: str = "S"
    ) -> None:
        dims = to_dims(dims)
        dims = (dims[0], 1) if len(dims) == 1 else dims
        ax = normalize_axis(axis, len(dims))
        super().__init__(dims=dims, dimsd=tuple(d for i, d in enumerate(dims) if i != ax), dtype=dtype, name=name)
        self.axis = ax

    # y = sum_i x[..., i, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return sum_axis(x, self.axis)

    # x[..., i, ...] = y
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return spread(y, self.axis, self._dims[self.axis])
