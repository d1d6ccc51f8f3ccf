"""Natural cubic-spline interpolation along an axis."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchlops.functional.interpolation import matrix_along_axis, matrix_along_axis_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing.interp import _as_positions, clip_below_last
from torchlops.utils.checks import normalize_axis, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["InterpCubicSpline", "spline_weights", "spline_factors", "DENSE_SPLINE_ENTRIES"]

#: half-width of the band kept of the inverse spline system: its entries fall off as
#: (2 - sqrt(3))**|i - j|, below 1e-18 of the diagonal beyond it (float64 rounding)
_BAND = 32
#: largest len(iava) x dims[axis] for which the spline is applied as a dense matrix (one
#: matrix product); larger ones take its factored form (:func:`spline_factors`)
DENSE_SPLINE_ENTRIES = 1 << 18


def _kinv(L: int, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Entries ``(i, j)`` (broadcast) of the inverse of ``tridiag(1, 4, 1)`` of size ``L``, float64."""
    rho = 2.0 - 3.0**0.5
    lo, hi = torch.minimum(i, j).to(torch.float64), torch.maximum(i, j).to(torch.float64)
    sign = 1.0 - 2.0 * (i + j).remainder(2).to(torch.float64)
    return (sign * rho ** (i - j).abs().to(torch.float64) * (1 - rho ** (2 * (lo + 1))) * (1 - rho ** (2 * (L - hi)))
            / (2 * 3.0**0.5 * (1 - rho ** (2 * (L + 1)))))


def _pieces(n: int, iava: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """The sample ``l`` below each position (the first piece below 0, the last above n - 2) and
    the weights ``(4, len(iava))`` of x_l, x_{l+1}, m_l, m_{l+1} in the output, float64."""
    base = np.clip(iava.astype(np.int64), 0, n - 2)
    r = torch.from_numpy(iava - base)
    one_m = 1.0 - r
    return base, torch.stack([one_m, r, (one_m**3 - one_m) / 6.0, (r**3 - r) / 6.0])


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
    base, coef = _pieces(n, iava)
    b = torch.from_numpy(base)
    W_ = _BAND
    T = 2 * W_ + 4
    Wt = torch.zeros(K, T, dtype=torch.float64)
    # linear part: x_l at window offset W_ + 1, x_{l+1} at W_ + 2 (window starts at l - W_ - 1)
    Wt[:, W_ + 1] = coef[0]
    Wt[:, W_ + 2] = coef[1]
    if L > 0:
        o = torch.arange(-W_, W_ + 1)
        for e, c in ((0, coef[2]), (1, coef[3])):
            i = (b - 1 + e)[:, None]  # interior index of m_{l+e}
            j = i + o[None, :]
            ok = (i >= 0) & (i < L) & (j >= 0) & (j < L)
            kinv = _kinv(L, i.clamp(0, L - 1), j.clamp(0, L - 1))  # (outside the interior: masked)
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


# ---------------------------------------------------------------------------- factored form
# Above DENSE_SPLINE_ENTRIES the spline is applied in its factored form, y = P x + Q m with
# m = 6 K^{-1} D_2 x: the second differences, the inverse of the spline system, then four
# samples per output (two of x, two of m). The inverse is applied as its Toeplitz part (the
# infinite line's, g(k) = (-1)^k r^|k| / (2 sqrt 3), kept within _BAND of the diagonal) by blocks
# of _BLOCK rows, two (_BLOCK, _BLOCK) matrix products per block, plus the difference from the
# exact inverse in the _END rows at either end (further in, below float64's rounding). Interiors
# of at most _DENSE_INVERSE samples take the exact inverse as one matrix.
_BLOCK = 2 * _BAND
_END = 48
_DENSE_INVERSE = 256


def _toeplitz(k: torch.Tensor) -> torch.Tensor:
    """The infinite line's inverse ``g(k)``, zero beyond ``_BAND``, float64."""
    rho = 2.0 - 3.0**0.5
    g = (1.0 - 2.0 * k.remainder(2).to(torch.float64)) * rho ** k.abs().to(torch.float64) / (2 * 3.0**0.5)
    return torch.where(k.abs() <= _BAND, g, 0.0)


def spline_factors(n: int, iava: np.ndarray) -> dict[str, torch.Tensor]:
    """The factored form's tensors, float64 (int64 ``left``): ``left`` (the sample below each
    position), ``coef`` (4, len(iava)) (weights of x_l, x_{l+1}, m_l, m_{l+1}), and the interior's
    inverse: ``inv`` (L, L) for L = n - 2 <= _DENSE_INVERSE, else ``blocks`` (2, _BLOCK, _BLOCK)
    (a block of rows from two consecutive blocks of the padded right-hand side) and ``ends``
    (_END, _END + _BAND) (the exact inverse minus its Toeplitz part on the first rows; the last
    rows' is its flip)."""
    base, coef = _pieces(n, iava)
    out = {"left": torch.from_numpy(base), "coef": coef}
    L = n - 2
    if L <= 0:
        return out
    if L <= _DENSE_INVERSE:
        a = torch.arange(L)
        out["inv"] = _kinv(L, a[:, None], a[None, :])
        return out
    a = torch.arange(_BLOCK)
    c = torch.arange(2 * _BLOCK)
    G = _toeplitz(a[:, None] - c[None, :] + _BAND)  # row a of a block, column c of its padded input
    out["blocks"] = torch.stack([G[:, :_BLOCK], G[:, _BLOCK:]])
    i, j = torch.arange(_END)[:, None], torch.arange(_END + _BAND)[None, :]
    out["ends"] = torch.where((i - j).abs() <= _BAND, _kinv(L, i, j) - _toeplitz(i - j), 0.0)
    return out


def _inverse(z: torch.Tensor, f: dict[str, torch.Tensor], adjoint: bool) -> torch.Tensor:
    """``K^{-1} z`` (or its transpose) over the first axis of ``z`` (L, R)."""
    if "inv" in f:
        A = f["inv"]
        return (A.mT if adjoint else A) @ z
    L, R = z.shape
    B0, B1 = f["blocks"][0], f["blocks"][1]
    E, nb = f["ends"], -(-L // _BLOCK)
    Er = E.flip(0, 1)
    # (with few columns the blocks are the rows of one matrix product, else one product per block)
    rows = R < 32
    if not adjoint:
        zb = torch.nn.functional.pad(z, (0, 0, _BAND, (nb + 1) * _BLOCK - L - _BAND)).reshape(nb + 1, _BLOCK, R)
        if rows:
            # (as 2-D products: a batch of nb (R x 64) @ (64 x 64) products is nb calls)
            zt = zb.transpose(1, 2)
            m = (zt[:-1].reshape(-1, _BLOCK) @ B0.mT + zt[1:].reshape(-1, _BLOCK) @ B1.mT)
            m = m.reshape(nb, R, _BLOCK).transpose(1, 2)
        else:
            m = B0 @ zb[:-1] + B1 @ zb[1:]
        m = m.reshape(nb * _BLOCK, R)[:L]
        m[:_END] += E @ z[: _END + _BAND]
        m[L - _END :] += Er @ z[L - _END - _BAND :]
        return m
    mb = torch.nn.functional.pad(z, (0, 0, 0, nb * _BLOCK - L)).reshape(nb, _BLOCK, R)
    if rows:
        mt = mb.transpose(1, 2).reshape(-1, _BLOCK)
        zt = z.new_zeros(nb + 1, R, _BLOCK)
        zt[:-1] += (mt @ B0).reshape(nb, R, _BLOCK)
        zt[1:] += (mt @ B1).reshape(nb, R, _BLOCK)
        zb = zt.transpose(1, 2)
    else:
        zb = z.new_zeros(nb + 1, _BLOCK, R)
        zb[:-1] += B0.mT @ mb
        zb[1:] += B1.mT @ mb
    out = zb.reshape((nb + 1) * _BLOCK, R)[_BAND : _BAND + L].clone()
    out[: _END + _BAND] += E.mT @ z[:_END]
    out[L - _END - _BAND :] += Er.mT @ z[L - _END :]
    return out


def spline_apply(x: torch.Tensor, f: dict[str, torch.Tensor], axis: int) -> torch.Tensor:
    """The spline of :func:`spline_factors` along model ``axis`` of ``x`` (B, *dims) (worked on
    with that axis first: gathers and scatter-adds of whole rows)."""
    d = axis + 1
    X = x.movedim(d, 0)
    rest, n = X.shape[1:], X.shape[0]
    X = X.reshape(n, -1)
    c = f["coef"][:, :, None]
    left = f["left"]
    y = X.index_select(0, left) * c[0] + X.index_select(0, left + 1) * c[1]
    if n > 2:
        z = 6.0 * (X[:-2] - 2.0 * X[1:-1] + X[2:])
        m = torch.nn.functional.pad(_inverse(z, f, False), (0, 0, 1, 1))
        y += m.index_select(0, left) * c[2]
        y += m.index_select(0, left + 1) * c[3]
    return y.reshape(-1, *rest).movedim(0, d)


def spline_apply_adjoint(y: torch.Tensor, f: dict[str, torch.Tensor], axis: int, n: int) -> torch.Tensor:
    """Adjoint of :func:`spline_apply` (real weights: their transpose)."""
    d = axis + 1
    Y = y.movedim(d, 0)
    rest = Y.shape[1:]
    Y = Y.reshape(Y.shape[0], -1)
    c = f["coef"][:, :, None]
    left = f["left"]
    x = Y.new_zeros(n, Y.shape[1]).index_add_(0, left, Y * c[0]).index_add_(0, left + 1, Y * c[1])
    if n > 2:
        m = Y.new_zeros(n, Y.shape[1]).index_add_(0, left, Y * c[2]).index_add_(0, left + 1, Y * c[3])
        z = 6.0 * _inverse(m[1:-1], f, True)
        x[:-2] += z
        x[1:-1] -= 2.0 * z
        x[2:] += z
    return x.reshape(n, *rest).movedim(0, d)


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
    closed-form inverse of the spline system (see :func:`spline_weights`). Up to
    ``DENSE_SPLINE_ENTRIES`` matrix entries it is applied as a dense ``(len(iava), dims[axis])``
    matrix along ``axis`` (one matrix product), above in its factored form
    (:func:`spline_factors`): the second differences, the inverse of the spline system by blocks
    (two small matrix products per 64 samples), then four samples per output, so any length
    builds and applies in linear time and memory.

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
        self._factors: tuple[str, ...] = ()
        if len(pos) * n <= DENSE_SPLINE_ENTRIES:
            self.register_operator_tensor("M", _dense(*spline_weights(n, pos), n).to(dt))
        else:
            self.M = None
            f = spline_factors(n, pos)
            for k, v in f.items():
                self.register_operator_tensor(f"_f_{k}", v if k == "left" else v.to(dt))
            self._factors = tuple(f)

    def _f(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        out = {}
        for k in self._factors:
            v = getattr(self, f"_f_{k}")
            out[k] = v if k == "left" or v.dtype == dtype else v.to(dtype)
        return out

    # y[b, ..., k, ...] = sum_j M[k, j] x[b, ..., j, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if self.M is not None:
            return matrix_along_axis(x, self.M, self.axis)
        x = x.to(torch.promote_types(x.dtype, self._f_coef.dtype))
        return spline_apply(x, self._f(x.dtype), self.axis)

    # x[b, ..., j, ...] = sum_k conj(M[k, j]) y[b, ..., k, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if self.M is not None:
            return matrix_along_axis_adjoint(y, self.M, self.axis)
        y = y.to(torch.promote_types(y.dtype, self._f_coef.dtype))
        return spline_apply_adjoint(y, self._f(y.dtype), self.axis, self.dims[self.axis])
