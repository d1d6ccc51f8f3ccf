"""Boxcar smoothing along one axis."""

from __future__ import annotations

import torch

from torchlops import _ops
from torchlops.functional.smoothing import boxcar_length, boxcar_stencil, smoothing, smoothing_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Smoothing1D", "check_nsmooth"]


def check_nsmooth(nsmooth: int) -> int:
    """Validate one boxcar length and make it odd (PyLops convention)."""
    if isinstance(nsmooth, bool) or not isinstance(nsmooth, int) and not hasattr(nsmooth, "__index__"):
        raise TypeError(f"nsmooth must hold ints, got {type(nsmooth).__name__}")
    if int(nsmooth) < 0:  # (0, even, becomes 1 as in PyLops: no smoothing)
        raise ValueError(f"nsmooth must be >= 0, got {nsmooth}")
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
    engine : :obj:`str`, optional
        ``"auto"`` (the compiled kernels of ``torchlops._C`` when built and applicable,
        else pure torch), ``"torch"``, or ``"ext"`` (the kernels; ``ValueError`` when they
        are not built or cannot compute this operator).

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
        self,
        nsmooth: int,
        dims: InputDimsLike,
        axis: int = -1,
        dtype: DTypeLike = None,
        name: str = "S",
        engine: str = "auto",
    ) -> None:
        dims = to_dims(dims)
        super().__init__(dims=dims, dimsd=dims, dtype=dtype, name=name)
        self.nsmooth = check_nsmooth(nsmooth)
        self.axis = normalize_axis(axis, len(dims))
        self._specs, self._ext_no = boxcar_engine((self.nsmooth,))
        self.engine = _ops.check_engine(engine, self._ext_no)

    # y[b, ..., i, ...] = (1/L) sum_{|l| <= h} x[b, ..., i + l, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x):
            return apply_boxcars(x, self._specs, (self.axis,), False)
        return smoothing(x, (self.nsmooth,), (self.axis,))

    # x[b, ..., j, ...] = (1/L) sum_{|l| <= h} y[b, ..., j - l, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y):
            return apply_boxcars(y, self._specs, (self.axis,), True)
        return smoothing_adjoint(y, (self.nsmooth,), (self.axis,))


def boxcar_engine(lengths: tuple[int, ...]) -> tuple[tuple[tuple[float, ...], ...], str | None]:
    """Packed boxcars for the kernels and why they cannot apply them (``None``: they can)."""
    why = None
    if max(lengths) > _ops.MAX_TAPS:
        why = f"boxcars of more than {_ops.MAX_TAPS} samples"
    return tuple(_ops.stencil_spec(boxcar_stencil(n)) for n in lengths), why


# one kernel pass per axis (in reverse order for the adjoint; each boxcar is symmetric)
def apply_boxcars(
    x: torch.Tensor, specs: tuple[tuple[float, ...], ...], axes: tuple[int, ...], adjoint: bool
) -> torch.Tensor:
    """The product of the boxcars along ``axes`` (or its adjoint) through the kernels."""
    pairs = list(zip(specs, axes))
    for spec, ax in reversed(pairs) if adjoint else pairs:
        x = _ops.band(x, (ax,), (1.0,), spec, adjoint)
    return x
