"""Natural cubic-spline interpolation along an axis."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchlops.signalprocessing.interp import InterpMatrix, _as_positions, clip_below_last
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["InterpCubicSpline"]


def spline_matrix(n: int, iava: np.ndarray) -> torch.Tensor:
    """``(len(iava), n)`` float64 matrix of natural cubic-spline interpolation at ``iava``:
    ``P_x + P_m B^{-1} D_2`` with ``B`` the tridiagonal spline system (rows ``[1/6, 2/3, 1/6]``,
    identity rows at both ends), ``D_2`` the zero-padded second difference and ``P`` the
    evaluation of the spline pieces at the positions."""
    B = torch.zeros(n, n, dtype=torch.float64)
    D2 = torch.zeros(n, n, dtype=torch.float64)
    B[0, 0] = B[-1, -1] = 1.0
    i = torch.arange(1, n - 1)
    B[i, i] = 2.0 / 3.0
    B[i, i - 1] = B[i, i + 1] = 1.0 / 6.0
    D2[i, i - 1] = D2[i, i + 1] = 1.0
    D2[i, i] = -2.0
    m_of_x = torch.linalg.solve(B, D2)
    base = np.clip(iava.astype(np.int64), 0, n - 2)
    r = torch.from_numpy(iava - base)
    rows = torch.arange(len(iava))
    b = torch.from_numpy(base)
    one_m = 1.0 - r
    Px = torch.zeros(len(iava), n, dtype=torch.float64)
    Pm = torch.zeros(len(iava), n, dtype=torch.float64)
    Px[rows, b] = one_m
    Px[rows, b + 1] = r
    Pm[rows, b] = (one_m**3 - one_m) / 6.0
    Pm[rows, b + 1] = (r**3 - r) / 6.0
    return Px + Pm @ m_of_x


class InterpCubicSpline(InterpMatrix):
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

    The whole map is linear in :math:`\mathbf{x}`, so it is precomputed once as a dense
    ``(len(iava), dims[axis])`` matrix and applied (and transposed for the adjoint) along
    ``axis`` with one matrix product.

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
        super().__init__(dims, spline_matrix(n, pos), axis=ax, dtype=dtype, name=name)
        self.bc_type = "natural"
        self.iava = torch.from_numpy(pos)
