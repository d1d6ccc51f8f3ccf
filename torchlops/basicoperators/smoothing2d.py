"""Boxcar smoothing along two axes."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops import _ops
from torchlops.basicoperators.smoothing1d import apply_boxcars, boxcar_engine, check_nsmooth
from torchlops.functional.smoothing import smoothing, smoothing_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Smoothing2D"]


class Smoothing2D(LinearOperator):
    r"""Moving average over a rectangle of ``nsmooth[0] x nsmooth[1]`` samples on ``axes``.

    Parameters
    ----------
    nsmooth : :obj:`tuple`
        Boxcar lengths along the two axes (an even length is increased by one).
    dims : :obj:`tuple`
        Model shape (at least two dimensions).
    axes : :obj:`tuple`, optional
        The two axes to smooth.
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
    When ``axes`` covers every model axis, ``nsmooth[k]`` applies to model axis ``k``
    whatever the order of ``axes`` (PyLops' convention); otherwise to ``axes[k]``.

    With odd lengths :math:`L_k = 2h_k + 1` and zeros outside the model,

    .. math::
        y_{i,j} = \frac{1}{L_0 L_1} \sum_{l=-h_0}^{h_0} \sum_{m=-h_1}^{h_1} x_{i+l, j+m},

    computed as a 1-D boxcar along each axis in turn (the 2-D boxcar is their product);
    self-adjoint. Cost: per axis one write of an output and :math:`L_k` reads (one slice
    add per tap).

    Examples
    --------
    >>> import torch, torchlops
    >>> S = torchlops.Smoothing2D((3, 3), (3, 3))
    >>> x = torch.zeros(3, 3)
    >>> x[1, 1] = 9.0
    >>> S @ x
    tensor([[1., 1., 1.],
            [1., 1., 1.],
            [1., 1., 1.]])
    """

    def __init__(
        self,
        nsmooth: Sequence[int],
        dims: InputDimsLike,
        axes: Sequence[int] = (-2, -1),
        dtype: DTypeLike = None,
        name: str = "S",
        engine: str = "auto",
    ) -> None:
        dims = to_dims(dims)
        nsmooth, axes = tuple(nsmooth), tuple(axes)
        if len(nsmooth) != 2 or len(axes) != 2:
            raise ValueError(f"nsmooth and axes must have two entries, got {nsmooth} and {axes}")
        super().__init__(dims=dims, dimsd=dims, dtype=dtype, name=name)
        self.nsmooth = tuple(check_nsmooth(n) for n in nsmooth)
        self.axes = tuple(normalize_axis(a, len(dims), "axes") for a in axes)
        if len(self.axes) == len(dims) and sorted(self.axes) == list(range(len(dims))):
            # every axis is smoothed: as in PyLops, nsmooth[k] then goes with model axis k
            self.axes = tuple(range(len(dims)))
        self._specs, self._ext_no = boxcar_engine(self.nsmooth)
        self.engine = _ops.check_engine(engine, self._ext_no)

    # y[b, i, j] = 1/(L0 L1) sum_{|l| <= h0, |m| <= h1} x[b, i + l, j + m]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x):
            return apply_boxcars(x, self._specs, self.axes, False)
        return smoothing(x, self.nsmooth, self.axes)

    # x[b, i, j] = 1/(L0 L1) sum_{|l| <= h0, |m| <= h1} y[b, i - l, j - m]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y):
            return apply_boxcars(y, self._specs, self.axes, True)
        return smoothing_adjoint(y, self.nsmooth, self.axes)
