"""Boxcar smoothing along any number of axes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchlops import _ops
from torchlops.basicoperators.smoothing1d import apply_boxcars, boxcar_engine, check_nsmooth
from torchlops.functional.smoothing import smoothing, smoothing_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["SmoothingND"]


class SmoothingND(LinearOperator):
    r"""Moving average over a box of ``nsmooth`` samples on ``axes``.

    Parameters
    ----------
    nsmooth : :obj:`tuple`
        Boxcar length along each smoothed axis (an even length is increased by one).
    dims : :obj:`tuple`
        Model shape.
    axes : :obj:`tuple`, optional
        Axes to smooth, one per entry of ``nsmooth``; ``None`` (default) takes the last
        ``len(nsmooth)`` axes (``(-2, -1)`` for two lengths, as in PyLops).
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
        y_{\mathbf{i}} = \prod_k \frac{1}{L_k}
        \sum_{|l_0| \le h_0} \cdots \sum_{|l_K| \le h_K} x_{\mathbf{i} + \sum_k l_k \mathbf{e}_{a_k}},

    computed as a 1-D boxcar along each axis in turn; self-adjoint. Cost: per axis one
    write of an output and :math:`L_k` reads (one slice add per tap).

    Examples
    --------
    >>> import torch, torchlops
    >>> S = torchlops.SmoothingND((3, 1, 3), (3, 2, 3), axes=(0, 1, 2))
    >>> x = torch.zeros(3, 2, 3)
    >>> x[1, 0, 1] = 9.0
    >>> (S @ x)[:, 0]
    tensor([[1., 1., 1.],
            [1., 1., 1.],
            [1., 1., 1.]])
    """

    def __init__(
        self,
        nsmooth: int | Sequence[int],
        dims: InputDimsLike,
        axes: Sequence[int] | None = None,
        dtype: DTypeLike = None,
        name: str = "S",
        engine: str = "auto",
    ) -> None:
        dims = to_dims(dims)
        if isinstance(nsmooth, (np.ndarray, torch.Tensor)):  # (an array of lengths, as PyLops takes)
            nsmooth = nsmooth.tolist()
        nsmooth = (nsmooth,) if hasattr(nsmooth, "__index__") else tuple(nsmooth)
        if not nsmooth:
            raise ValueError("SmoothingND: nsmooth must hold at least one length, got ()")
        if axes is None:
            if len(nsmooth) > len(dims):
                raise ValueError(f"nsmooth has {len(nsmooth)} entries but dims only {len(dims)} axes")
            axes = tuple(range(len(dims) - len(nsmooth), len(dims)))
        axes = tuple(axes)
        if len(nsmooth) != len(axes):
            raise ValueError(f"nsmooth and axes must have the same length, got {nsmooth} and {axes}")
        super().__init__(dims=dims, dimsd=dims, dtype=dtype, name=name)
        self.nsmooth = tuple(check_nsmooth(n) for n in nsmooth)
        self.axes = tuple(normalize_axis(a, len(dims), "axes") for a in axes)
        if len(set(self.axes)) != len(self.axes):
            raise ValueError(f"{type(self).__name__}: axes must be distinct, got {axes}")
        if len(self.axes) == len(dims) and sorted(self.axes) == list(range(len(dims))):
            # every axis is smoothed: as in PyLops, nsmooth[k] then goes with model axis k
            self.axes = tuple(range(len(dims)))
        self._specs, self._ext_no = boxcar_engine(self.nsmooth)
        self.engine = _ops.check_engine(engine, self._ext_no)

    # y[b, i] = prod_k (1/L_k) sum_{|l_k| <= h_k} x[b, i + sum_k l_k e_{a_k}]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x):
            return apply_boxcars(x, self._specs, self.axes, False)
        return smoothing(x, self.nsmooth, self.axes)

    # x[b, j] = prod_k (1/L_k) sum_{|l_k| <= h_k} y[b, j - sum_k l_k e_{a_k}]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y):
            return apply_boxcars(y, self._specs, self.axes, True)
        return smoothing_adjoint(y, self.nsmooth, self.axes)
