"""Interpolation along an axis at fractional positions (nearest, linear, sinc, cubic spline)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from torchlops._lines import kept_line_terms, line_positions
from torchlops.basicoperators.restriction import Restriction
from torchlops.functional.interpolation import (
    interp_linear,
    interp_linear_adjoint,
    matrix_along_axis,
    matrix_along_axis_adjoint,
)
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, real_dtype, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["Interp", "InterpLinear", "InterpMatrix"]

_KINDS = ("nearest", "linear", "sinc", "cubic_spline")


def _as_positions(iava: TensorLike | Sequence[float], name: str = "iava") -> np.ndarray:
    """Fractional positions as a 1-D float64 numpy array (host-side, at construction)."""
    a = iava.detach().cpu().numpy() if isinstance(iava, torch.Tensor) else np.asarray(iava)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of positions, got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must hold finite positions, got {a[~np.isfinite(a)][0]}")
    return a


def ensure_unique(iava: np.ndarray, axis: int | None = None) -> None:
    """ValueError when ``iava`` holds repeated positions."""
    _, count = np.unique(iava, axis=axis, return_counts=True)
    if np.any(count > 1):
        raise ValueError("Found repeated/non-unique values in iava.")


def clip_below_last(iava: np.ndarray, n: int, negative: bool = False) -> np.ndarray:
    """Positions at or beyond the last sample ``n - 1`` are moved just below it (with a
    warning, as in PyLops); negative positions are an error unless ``negative``."""
    if not negative and np.any(iava < 0):
        raise ValueError(f"iava must lie in [0, {n - 1}], got a minimum of {iava.min()}")
    last = n - 1
    outside = iava >= last
    if np.any(outside):
        warnings.warn(
            f"At least one value in iava is beyond the penultimate sample index {last}. "
            "Out-of-bound-values are forced below penultimate sample.",
            stacklevel=3,
        )
        iava = iava.copy()
        iava[outside] = np.nextafter(last, -np.inf)
    ensure_unique(iava)
    return iava


class InterpLinear(LinearOperator):
    r"""Linear interpolation along ``axis`` at fractional positions ``iava``
    (built by :func:`Interp` with ``kind="linear"``, which also clips ``iava``).

    Notes
    -----
    .. math::
        y_k = (1 - w_k) x_{l_k} + w_k x_{l_k + 1}, \qquad
        x_i = \sum_{k: l_k = i} (1 - w_k) y_k + \sum_{k: l_k + 1 = i} w_k y_k,

    with :math:`l_k = \lfloor \text{iava}_k \rfloor` and :math:`w_k = \text{iava}_k - l_k`.
    Two gathers forward; one scatter-add adjoint.
    """

    def __init__(
        self, dims: InputDimsLike, iava: np.ndarray, axis: int = -1, dtype: DTypeLike = "float64", name: str = "I"
    ) -> None:
        dims = to_dims(dims)
        ax = normalize_axis(axis, len(dims))
        dt = to_torch_dtype(dtype, torch.float64)
        left = np.floor(iava).astype(np.int64)
        dimsd = tuple(len(iava) if i == ax else n for i, n in enumerate(dims))
        super().__init__(dims=dims, dimsd=dimsd, dtype=dt, name=name)
        self.axis = ax
        self.iava = torch.from_numpy(iava.copy())
        self.register_operator_tensor("left", torch.from_numpy(left))
        self.register_operator_tensor("weights", torch.from_numpy(iava - left).to(real_dtype(dt)))

    # y[b, ..., k, ...] = (1 - w[k]) x[b, ..., l[k], ...] + w[k] x[b, ..., l[k] + 1, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if self.axis == x.dim() - 2 and x.device.type == "cpu":
            terms = self._line_terms(x)
            if terms is not None:
                # (torch's CPU gathers along the last dim are 5-10x slower than flat ones; the
                # same products and sum as interp_linear)
                i0, i1, w0, w1 = terms
                xf = x.reshape(-1)
                y = xf.index_select(0, i0) * w0 + xf.index_select(0, i1) * w1
                return y.reshape(*x.shape[:-1], self.left.numel())
        return interp_linear(x, self.left, self.weights, self.axis)

    #: the most output samples whose flat positions and weights are kept (32 bytes each)
    _LINE_TERMS_MAX = 1 << 21

    def _line_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
        """Flat positions of both neighbours and the tiled weights ``1 - w``, ``w`` of every
        output sample of ``x`` interpolated along its last dim, kept for the next call (see
        :func:`torchlops._lines.kept_line_terms`; None too where a graph or tangent must see
        the weights)."""
        left, w = self.left, self.weights
        if (torch.autograd.forward_ad._current_level >= 0 or "parametrizations" in self._modules
                or (torch.is_grad_enabled() and (x.requires_grad or w.requires_grad))):
            return None

        def build(lines: int, n: int) -> tuple[torch.Tensor, ...]:
            i0 = line_positions(left, lines, n)
            return i0, i0 + 1, (1 - w).repeat(lines), w.repeat(lines)

        return kept_line_terms(self, "_kept_terms", x, (left, w), self._LINE_TERMS_MAX, build)

    # x[b, ..., i, ...] = sum_{l[k] = i} (1 - w[k]) y[b, ..., k, ...] + sum_{l[k] + 1 = i} w[k] y[b, ..., k, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return interp_linear_adjoint(y, self.left, self.weights, self.axis, self.dims[self.axis])


class InterpMatrix(LinearOperator):
    r"""A dense ``(len(iava), dims[axis])`` interpolation matrix applied along ``axis``
    (sinc interpolation).

    Notes
    -----
    .. math::
        y_k = \sum_j M_{kj} x_j, \qquad x_j = \sum_k \overline{M_{kj}} y_k.
    """

    def __init__(
        self, dims: InputDimsLike, M: torch.Tensor, axis: int = -1, dtype: DTypeLike = "float64", name: str = "I"
    ) -> None:
        dims = to_dims(dims)
        ax = normalize_axis(axis, len(dims))
        if M.dim() != 2 or M.shape[1] != dims[ax]:
            raise ValueError(f"M must be a matrix with dims[axis] = {dims[ax]} columns, got shape {tuple(M.shape)}")
        dt = to_torch_dtype(dtype, torch.float64)
        dimsd = tuple(M.shape[0] if i == ax else n for i, n in enumerate(dims))
        super().__init__(dims=dims, dimsd=dimsd, dtype=dt, name=name)
        self.axis = ax
        self.register_operator_tensor("M", M.to(dt))

    # y[b, ..., k, ...] = sum_j M[k, j] x[b, ..., j, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return matrix_along_axis(x, self.M, self.axis)

    # x[b, ..., j, ...] = sum_k conj(M[k, j]) y[b, ..., k, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return matrix_along_axis_adjoint(y, self.M, self.axis)


def Interp(
    dims: InputDimsLike,
    iava: TensorLike | Sequence[float],
    axis: int = -1,
    kind: str = "linear",
    tol: float | None = None,
    dtype: DTypeLike = "float64",
    name: str = "I",
) -> tuple[LinearOperator, torch.Tensor]:
    r"""Interpolation operator along ``axis`` at the fractional positions ``iava``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    iava : :obj:`torch.Tensor` or array-like
        Fractional sample positions (unique).
    axis : :obj:`int`, optional
        Axis along which to interpolate.
    kind : :obj:`str`, optional
        ``"nearest"`` (a :class:`~torchlops.Restriction` at ``round(iava)``), ``"linear"``,
        ``"sinc"`` (dense sinc matrix) or ``"cubic_spline"``
        (:class:`~torchlops.signalprocessing.interpspline.InterpCubicSpline`).
    tol : :obj:`float`, optional
        Sinc only: entries of the sinc matrix below ``tol`` in magnitude are set to zero.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (``float64`` by default as in PyLops).
    name : :obj:`str`, optional
        Name.

    Returns
    -------
    op : :obj:`torchlops.LinearOperator`
        Interpolation operator.
    iava : :obj:`torch.Tensor`
        The positions used: rounded (int64) for ``"nearest"``; for ``"linear"`` and
        ``"cubic_spline"`` positions at or beyond ``dims[axis] - 1`` are moved just below it.

    Notes
    -----
    Linear: :math:`y_k = (1 - w_k) x_{\lfloor l_k \rfloor} + w_k x_{\lfloor l_k \rfloor + 1}`
    with :math:`w_k = l_k - \lfloor l_k \rfloor`; sinc:
    :math:`y_k = \sum_j \mathrm{sinc}(l_k - j) x_j`. The adjoints scatter back
    (linear, nearest) or apply the transposed matrix (sinc, cubic spline).

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.interp import Interp
    >>> Op, iava = Interp(5, [0.5, 2.25], kind="linear")
    >>> Op @ torch.arange(5.0, dtype=torch.float64)
    tensor([0.5000, 2.2500], dtype=torch.float64)
    """
    if not isinstance(kind, str) or kind.lower() not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    kind = kind.lower()
    dims = to_dims(dims)
    ax = normalize_axis(axis, len(dims))
    pos = _as_positions(iava)
    n = dims[ax]
    if n == 0:
        raise ValueError(f"Interp: axis {ax} of dims {dims} has no samples to interpolate")
    if kind == "nearest":
        idx = np.round(pos).astype(np.int64)
        ensure_unique(idx)
        if idx.min() < 0 or idx.max() >= n:
            raise ValueError(f"rounded iava must lie in [0, {n - 1}], got [{idx.min()}, {idx.max()}]")
        op = Restriction(dims, torch.from_numpy(idx), axis=ax, dtype=to_torch_dtype(dtype, torch.float64), name=name)
        return op, torch.from_numpy(idx)
    if kind == "linear":
        pos = clip_below_last(pos, n)
        if n == 1:  # (the one position lies at the only sample: its value)
            idx = torch.zeros(1, dtype=torch.int64)
            return Restriction(dims, idx, axis=ax, dtype=to_torch_dtype(dtype, torch.float64), name=name), torch.from_numpy(pos)
        return InterpLinear(dims, pos, axis=ax, dtype=dtype, name=name), torch.from_numpy(pos)
    if kind == "sinc":
        ensure_unique(pos)
        S = np.sinc(pos[:, None] - np.arange(n)[None, :])
        if tol is not None:
            S[np.abs(S) < tol] = 0.0
        return InterpMatrix(dims, torch.from_numpy(S), axis=ax, dtype=dtype, name=name), torch.from_numpy(pos)
    from torchlops.signalprocessing.interpspline import InterpCubicSpline

    op = InterpCubicSpline(dims, pos, axis=ax, dtype=dtype, name=name)
    return op, op.iava
