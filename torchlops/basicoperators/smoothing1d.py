"""Boxcar smoothing along one axis."""

from __future__ import annotations

import torch

from torchlops.functional.smoothing import boxcar_length, smoothing, smoothing_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Smoothing1D", "check_nsmooth"]


def check_nsmooth(nsmooth: int) -> int:
    """Validate one boxcar length and make it odd (PyLops convention)."""
    if isinstance(nsmooth, bool) or not isinstance(nsmooth, int) and not hasattr(nsmooth, "__index__"):
        raise TypeError(f"nsmooth must hold ints, got {type(nsmooth).__name__}")
    if int(nsmooth) < 1:
        raise ValueError(f"nsmooth must be positive, got {nsmooth}")
    return boxcar_length(int(nsmooth))


class Smoothing1D(LinearOperator):
    r"""Moving average (boxcar) of ``nsmooth`` samples along ``axis``.

    Parameters
    ----------
    nsmooth : :obj:`int`
        Boxcar length (an even length is increased by one).
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    axis : :obj:`int`, optional
        Axis to smooth.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    With :math:`L = 2h + 1` the odd length and zeros outside the model,

    .. math::
        y_i = \frac{1}{L} \sum_{l=-h}^{h} x_{i+l}.

    The filter is real and symmetric, so the operator is self-adjoint. Cost: one write
    of :math:`\mathbf{y}` and :math:`L` reads of :math:`\mathbf{x}` (one slice add per
    tap); the adjoint the same.

    Examples
    --------
    >>> import torch, torchlops
    >>> S = torchlops.Smoothing1D(3, 5)
    >>> S @ torch.tensor([0.0, 0.0, 3.0, 0.0, 0.0])
    tensor([0., 1., 1., 1., 0.])
    """

    def __init__(
        self, nsmooth: int, dims: InputDimsLike, axis: int = -1, dtype: DTypeLike = None, name: str = "S"
    ) -> None:
        dims = to_dims(dims)
        super().__init__(dims=dims, dimsd=dims, dtype=dtype, name=name)
        self.nsmooth = check_nsmooth(nsmooth)
        self.axis = normalize_axis(axis, len(dims))

    # y[b, ..., i, ...] = (1/L) sum_{|l| <= h} x[b, ..., i + l, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return smoothing(x, (self.nsmooth,), (self.axis,))

    # x[b, ..., j, ...] = (1/L) sum_{|l| <= h} y[b, ..., j - l, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return smoothing_adjoint(y, (self.nsmooth,), (self.axis,))
