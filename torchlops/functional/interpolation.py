"""Forward/adjoint pairs of the interpolation operators and of the batched kernel products
(pure torch, one leading batch dim; ``axis`` counts the operator's dimensions)."""

from __future__ import annotations

import math

import torch

from torchlops.functional.basic import promoted

__all__ = [
    "interp_linear",
    "interp_linear_adjoint",
    "matrix_along_axis",
    "matrix_along_axis_adjoint",
    "banded_along_axis",
    "banded_along_axis_adjoint",
    "bilinear",
    "bilinear_adjoint",
    "fredholm1",
    "fredholm1_adjoint",
]


def _along(v: torch.Tensor, dim: int, ndim: int) -> torch.Tensor:
    shape = [1] * ndim
    shape[dim] = v.numel()
    return v.reshape(shape)


# y[b, ..., k, ...] = (1 - w[k]) x[b, ..., l[k], ...] + w[k] x[b, ..., l[k] + 1, ...]
def interp_linear(x: torch.Tensor, left: torch.Tensor, w: torch.Tensor, axis: int) -> torch.Tensor:
    """Linear interpolation at ``left + w`` (``left`` integer, ``0 <= w < 1``) along ``axis``."""
    d = axis + 1
    wb = _along(w, d, x.dim())
    return x.index_select(d, left) * (1 - wb) + x.index_select(d, left + 1) * wb


# x[b, ..., i, ...] = sum_{k: l[k] = i} (1 - w[k]) y[b, ..., k, ...] + sum_{k: l[k] + 1 = i} w[k] y[b, ..., k, ...]
def interp_linear_adjoint(y: torch.Tensor, left: torch.Tensor, w: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    """Adjoint of :func:`interp_linear`: weighted values added back at both neighbours."""
    d = axis + 1
    wb = _along(w, d, y.dim())
    shape = list(y.shape)
    shape[d] = n
    vals = torch.cat((y * (1 - wb), y * wb), dim=d)
    return y.new_zeros(shape).index_add_(d, torch.cat((left, left + 1)), vals)


#: fewest samples after the axis for which a matrix applies from the left, ``M @ x`` over the
#: axis in place, rather than to the axis moved last (a copy in, a copy out)
_LEFT_MIN_POST = 16


def _matrix_along(x: torch.Tensor, M: torch.Tensor, d: int) -> torch.Tensor:
    """``sum_j M[k, j] x[..., j, ...]`` along tensor dim ``d``: one product ``M @ x`` on ``x``
    seen as ``(n, after)`` where nothing but one sample precedes the axis and enough samples
    follow it (no copy of a contiguous ``x``; 400 x 300 float64, 200 rows along axis 0, 1
    thread: 1.5 -> 1.15 ms; 400 x 20 x 30: 4.8 -> 2.3 ms), else on the axis moved last (where
    the leading samples fold into one product too: a batch of left products was slower)."""
    shp = x.shape
    post = math.prod(shp[d + 1:])  # (1 for the last axis)
    if post < _LEFT_MIN_POST or math.prod(shp[:d]) != 1:
        return (x.movedim(d, -1) @ M.transpose(0, 1)).movedim(-1, d)
    y = M @ x.reshape(shp[d], post)
    return y.reshape(*shp[:d], M.shape[0], *shp[d + 1:])


# y[b, ..., k, ...] = sum_j M[k, j] x[b, ..., j, ...]
def matrix_along_axis(x: torch.Tensor, M: torch.Tensor, axis: int) -> torch.Tensor:
    """Apply the dense ``(m, n)`` matrix ``M`` along ``axis``."""
    x, M = promoted(x, M)
    return _matrix_along(x, M, axis + 1)


# x[b, ..., j, ...] = sum_k conj(M[k, j]) y[b, ..., k, ...]
def matrix_along_axis_adjoint(y: torch.Tensor, M: torch.Tensor, axis: int) -> torch.Tensor:
    """Adjoint of :func:`matrix_along_axis`."""
    y, M = promoted(y, M)
    return _matrix_along(y, M.conj().transpose(0, 1), axis + 1)


#: largest gathered temporary (entries) of banded_along_axis before it goes column by column
_GATHER_ENTRIES = 1 << 24


# y[b, ..., k, ...] = sum_t W[k, t] x[b, ..., I[k, t], ...]
def banded_along_axis(x: torch.Tensor, idx: torch.Tensor, W: torch.Tensor, axis: int) -> torch.Tensor:
    """Apply the ``(m, n)`` matrix whose row ``k`` holds ``W[k, t]`` at column ``idx[k, t]`` along
    ``axis`` (a few entries per row: one gather and multiply-add per column of ``W``)."""
    d = axis + 1
    x, W = promoted(x, W)
    m, T = W.shape
    if T == 0 or x.numel() // max(x.shape[d], 1) * m * T <= _GATHER_ENTRIES:
        # one gather of every (row, column) pair, weighted and summed over the columns
        g = x.index_select(d, idx.reshape(-1)).unflatten(d, (m, T))
        return (g * W.reshape(*([1] * d), m, T, *([1] * (x.dim() - d - 1)))).sum(d + 1)
    y = None  # (a large temporary otherwise: one gather per column)
    for t in range(T):
        term = x.index_select(d, idx[:, t]) * _along(W[:, t], d, x.dim())
        y = term if y is None else y.add_(term)
    return y


# x[b, ..., j, ...] = sum_{k, t: I[k, t] = j} conj(W[k, t]) y[b, ..., k, ...]
def banded_along_axis_adjoint(y: torch.Tensor, idx: torch.Tensor, W: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    """Adjoint of :func:`banded_along_axis` (one scatter-add of all the weighted rows)."""
    d = axis + 1
    y, W = promoted(y, W)
    shape = list(y.shape)
    shape[d] = n
    out = y.new_zeros(shape)
    if W.shape[1] == 0:
        return out
    m, T = W.shape
    if y.numel() // max(y.shape[d], 1) * m * T <= _GATHER_ENTRIES:
        # (m, T) columns as one index of m * T entries along the axis
        vals = y.unsqueeze(d + 1) * W.conj().reshape(*([1] * d), *W.shape, *([1] * (y.dim() - d - 1)))
        return out.index_add_(d, idx.reshape(-1), vals.flatten(d, d + 1))
    # (a large temporary otherwise, T times the data: one scatter-add per column, as the forward)
    for t in range(T):
        out.index_add_(d, idx[:, t], y * _along(W[:, t].conj(), d, y.dim()))
    return out


def _corners(idx: torch.Tensor, w: torch.Tensor, n1: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices (into the first two dims) and weights of the four corners of each point."""
    t, left = idx[0], idx[1]
    wt, wl = w[0], w[1]
    flat = torch.cat((t * n1 + left, t * n1 + left + 1, (t + 1) * n1 + left, (t + 1) * n1 + left + 1))
    ww = torch.cat(((1 - wt) * (1 - wl), (1 - wt) * wl, wt * (1 - wl), wt * wl))
    return flat, ww


# y[b, k, ...] = sum_{c in corners(k)} W[c] x[b, t_c, l_c, ...]
def bilinear(x: torch.Tensor, idx: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Bilinear interpolation over the first two model dims at ``idx + w`` (``idx`` of shape
    ``(2, K)`` holding the top-left corners, ``w`` the fractional parts)."""
    B, n0, n1 = x.shape[:3]
    K = idx.shape[1]
    flat, ww = _corners(idx, w, n1)
    g = x.reshape(B, n0 * n1, *x.shape[3:]).index_select(1, flat)
    g = g * _along(ww, 1, g.dim())
    return g.reshape(B, 4, K, *x.shape[3:]).sum(1)


# x[b, t, l, ...] = sum_{k, c: corner c of k is (t, l)} W[c] y[b, k, ...]
def bilinear_adjoint(y: torch.Tensor, idx: torch.Tensor, w: torch.Tensor, n0: int, n1: int) -> torch.Tensor:
    """Adjoint of :func:`bilinear`: each value spread onto its four corners."""
    B = y.shape[0]
    flat, ww = _corners(idx, w, n1)
    vals = y.repeat(1, 4, *([1] * (y.dim() - 2))) * _along(ww, 1, y.dim())
    out = y.new_zeros((B, n0 * n1, *y.shape[2:])).index_add_(1, flat, vals)
    return out.reshape(B, n0, n1, *y.shape[2:])


def _slices_product(G: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``G[s] @ x[b, s]`` for every sample: the batch folded into the columns (one product per
    slice, ``G`` not broadcast over the batch), and few columns taken as rows (``x^T G^T``: CPU
    matrix products of a handful of columns are several times slower than of as many rows)."""
    B, nsl, n, nz = x.shape
    X = x.permute(1, 2, 0, 3).reshape(nsl, n, B * nz)
    Y = (X.mT @ G.mT).mT if B * nz <= 32 else G @ X
    return Y.reshape(nsl, G.shape[1], B, nz).permute(2, 0, 1, 3)


# y[b, s, i, z] = sum_j G[s, i, j] x[b, s, j, z]
def fredholm1(x: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Batched products of the kernels ``G`` ``(nsl, nx, ny)`` with ``x`` ``(B, nsl, ny, nz)``."""
    x, G = promoted(x, G)
    return _slices_product(G, x)


# x[b, s, j, z] = sum_i conj(G[s, i, j]) y[b, s, i, z]
def fredholm1_adjoint(y: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`fredholm1`: products with the conjugate-transposed kernels."""
    y, G = promoted(y, G)
    return _slices_product(G.mH, y)
