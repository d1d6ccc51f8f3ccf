"""Natural cubic-spline interpolation along an axis."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchlops.functional.interpolation import (
    banded_along_axis,
    banded_along_axis_adjoint,
    matrix_along_axis,
    matrix_along_axis_adjoint,
)
from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing.interp import _as_positions, clip_below_last
from torchlops.utils.checks import normalize_axis, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["InterpCubicSpline", "spline_weights", "DENSE_SPLINE_ENTRIES"]

#: half-width of the band kept of the inverse spline system: its entries fall off as
#: (2 - sqrt(3))**|i - j|, below 1e-18 of the diagonal beyond it (float64 rounding)
_BAND = 32
#: largest len(iava) x dims[axis] for which the spline is applied as a dense matrix (one
#: matrix product); larger ones keep the band (``2 _BAND + 4`` weights per output sample)
DENSE_SPLINE_ENTRIES = 1 << 18


def spline_weights(n: int, iava: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Natural cubic-spline interpolation at ``iava`` as ``(idx, W)``, both ``(len(iava), T)``:
    output ``k`` is ``sum_t W[k, t] x[idx[k, t]]`` (float64 weights, O(len(iava)) to build).

    The spline's second derivatives are :math:`m = 6 K^{-1} D_2 x` on the interior samples,
    :math:`K = \mathrm{tridiag}(1, 4, 1)` of size :math:`L = n - 2` (zero at both ends), whose
    inverse is known in closed form, with :math:`r = 2 - \sqrt{3}`:

    .. math::
        K^{-1}_{ij} = \frac{(-1)^{i+j} r^{|i-j|} (1 - r^{2(\min(i,j)+1)})(1 - r^{2(L-\max(i,j))})}
        {2\sqrt{3}\,(1 - r^{2(L+1)})};

    entries beyond ``_BAND`` of the diagonal are below float64's rounding and left out, so each
    output depends on ``2 _BAND + 4`` neighbouring samples."""
    K = len(iava)
    L = n - 2
    base = np.clip(iava.astype(np.int64), 0, n - 2)
    b = torch.from_numpy(base)
    r = torch.from_numpy(iava - base)
    one_m = 1.0 - r
    W_ = _BAND
    T = 2 * W_ + 4
    Wt = torch.zeros(K, T, dtype=torch.float64)
    # linear part: x_l at window offset W_ + 1, x_{l+1} at W_ + 2 (window starts at l - W_ - 1)
    Wt[:, W_ + 1] = one_m
    Wt[:, W_ + 2] = r
    if L > 0:
        rho = 2.0 - 3.0**0.5
        o = torch.arange(-W_, W_ + 1)
        for e, c in ((0, (one_m**3 - one_m) / 6.0), (1, (r**3 - r) / 6.0)):
            i = (b - 1 + e)[:, None]  # interior index of m_{l+e}
            j = i + o[None, :]
            ok = (i >= 0) & (i < L) & (j >= 0) & (j < L)
            lo, hi = torch.minimum(i, j).clamp(0, max(L - 1, 0)), torch.maximum(i, j).clamp(0, max(L - 1, 0))
            sign = 1.0 - 2.0 * ((i + j).remainder(2)).to(torch.float64)
            kinv = (sign * rho ** o.abs()[None, :].to(torch.float64)
                    * (1 - rho ** (2 * (lo + 1)).to(torch.float64)) * (1 - rho ** (2 * (L - hi)).to(torch.float64))
                    / (2 * 3.0**0.5 * (1 - rho ** (2 * (L + 1)))))
            A = torch.where(ok, 6.0 * c[:, None] * kinv, 0.0)  # weight of d_j in the output
            # d_j = x_j - 2 x_{j+1} + x_{j+2}: x index j + q sits at window offset e + o + q + W_
            for q, dq in ((0, 1.0), (1, -2.0), (2, 1.0)):
                Wt[:, e + q : e + q + 2 * W_ + 1] += dq * A
    idx = (b[:, None] - W_ - 1 + torch.arange(T)[None, :]).clamp(0, n - 1)
    return idx, Wt


def _dense(idx: torch.Tensor, W: torch.Tensor, n: int) -> torch.Tensor:
    """The ``(len(idx), n)`` matrix whose row ``k`` holds ``W[k, t]`` at column ``idx[k, t]``."""
    return W.new_zeros(idx.shape[0], n).scatter_add_(1, idx, W)


def spline_matrix(n: int, iava: np.ndarray) -> torch.Tensor:
    """The dense ``(len(iava), n)`` float64 matrix of :func:`spline_weights`."""
    return _dense(*spline_weights(n, iava), n)


class InterpCubicSpline(LinearOperator):
    r"""Natural cubic-spline interpolation along ``axis`` at fractional positions ``iava``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape (``dims[axis] >= 2``).
    iava : :obj:`torch.Tensor` or array-like
        Fractional positions; values at or beyond ``dims[axis] - 1`` are moved just below
        it (with a warning) and must then be unique. Negative positions evaluate the first
        piece of the spline (its cubic extended below sample 0), as PyLops.
    bc_type : :obj:`str`, optional
        Boundary condition: only ``"natural"`` (zero second derivative at both ends).
    axis : :obj:`int`, optional
        Axis along which to interpolate.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        ``float64`` by default (float32 and complex dtypes are accepted too; the matrix is
        always built in float64).
    name : :obj:`str`, optional
        Name.

    Attributes
    ----------
    iava : :obj:`torch.Tensor`
        The (clipped) positions, float64.

    Notes
    -----
    The spline's second derivatives :math:`\mathbf{m} = \mathbf{B}^{-1}\mathbf{D}_2\mathbf{x}`
    solve the tridiagonal system of the natural spline; at :math:`t = l + r`
    (:math:`0 \le r < 1`)

    .. math::
        y = (1-r) x_l + r x_{l+1} + \tfrac{(1-r)^3 - (1-r)}{6} m_l + \tfrac{r^3 - r}{6} m_{l+1}.

    The whole map is linear in :math:`\mathbf{x}` and built once in O(``len(iava)``) from the
    closed-form inverse of the spline system (see :func:`spline_weights`): each output depends
    on 68 neighbouring samples. Up to ``DENSE_SPLINE_ENTRIES`` matrix entries it is applied as a
    dense ``(len(iava), dims[axis])`` matrix along ``axis`` (one matrix product), above as the
    band (gathers forward, one scatter-add adjoint), so any length builds in linear time and
    memory.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.interpspline import InterpCubicSpline
    >>> S = InterpCubicSpline(5, [1.0, 2.5])
    >>> S @ torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    tensor([1.0000, 2.5000], dtype=torch.float64)
    """

    def __init__(
        self,
        dims: InputDimsLike,
        iava: TensorLike | Sequence[float],
        bc_type: str = "natural",
        axis: int = -1,
        dtype: DTypeLike = "float64",
        name: str = "S",
    ) -> None:
        dims = to_dims(dims)
        ax = normalize_axis(axis, len(dims))
        n = dims[ax]
        if n < 2:
            raise ValueError(f"A cubic spline requires at least 2 data points to interpolate, got dims[axis]={n}")
        if not isinstance(bc_type, str) or bc_type.lower() != "natural":
            raise ValueError(f"Cubic spline interpolation only supports 'natural' boundaries, got bc_type={bc_type!r}")
        pos = clip_below_last(_as_positions(iava), n, negative=True)
        dt = to_torch_dtype(dtype, torch.float64)
        dimsd = tuple(len(pos) if i == ax else m for i, m in enumerate(dims))
        super().__init__(dims=dims, dimsd=dimsd, dtype=dt, name=name)
        self.axis = ax
        self.bc_type = "natural"
        self.iava = torch.from_numpy(pos)
        idx, W = spline_weights(n, pos)
        W = W.to(dt)
        if len(pos) * n <= DENSE_SPLINE_ENTRIES:
            self.register_operator_tensor("M", _dense(idx, W, n))
            self.idx = self.W = None
        else:
            self.M = None
            self.register_operator_tensor("idx", idx)
            self.register_operator_tensor("W", W)

    # y[b, ..., k, ...] = sum_j M[k, j] x[b, ..., j, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if self.M is not None:
            return matrix_along_axis(x, self.M, self.axis)
        return banded_along_axis(x, self.idx, self.W, self.axis)

    # x[b, ..., j, ...] = sum_k conj(M[k, j]) y[b, ..., k, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if self.M is not None:
            return matrix_along_axis_adjoint(y, self.M, self.axis)
        return banded_along_axis_adjoint(y, self.idx, self.W, self.axis, self.dims[self.axis])
