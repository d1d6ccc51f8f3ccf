"""Forward/adjoint pairs of the finite-difference operators (pure torch, one leading batch dim).

Every stencil is a band along one axis: interior rows ``i`` in ``[lo, n - hi)`` hold
``y[i] = sum_k c_k x[i + k]`` (the other rows are zero), plus a few explicit edge rows.
The forward is a gather (each output slice written once, one strided slice of ``x`` read
per tap) and the adjoint the matching scatter over the same taps. Nothing is built as a
matrix and no adjoint comes from autograd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = [
    "first_derivative",
    "first_derivative_adjoint",
    "second_derivative",
    "second_derivative_adjoint",
    "laplacian",
    "laplacian_adjoint",
    "gradient",
    "gradient_adjoint",
    "first_directional_derivative",
    "first_directional_derivative_adjoint",
    "second_directional_derivative",
    "second_directional_derivative_adjoint",
]

# (taps {offset: coefficient}, lo, hi, edge rows [(row, {column: coefficient})]) of a unit-step stencil
Stencil = tuple[dict[int, float], int, int, list[tuple[int, dict[int, float]]]]


# ---------------------------------------------------------------------------- stencils
def first_stencil(kind: str, edge: bool, order: int) -> Stencil:
    """Taps of the unit-step first derivative (PyLops conventions; rows may be negative)."""
    if kind == "forward":  # y[i] = x[i+1] - x[i], i < n-1
        return {0: -1.0, 1: 1.0}, 0, 1, []
    if kind == "backward":  # y[i] = x[i] - x[i-1], i >= 1
        return {-1: -1.0, 0: 1.0}, 1, 0, []
    if order == 3:  # y[i] = (x[i+1] - x[i-1]) / 2, 1 <= i < n-1
        edges = [(0, {0: -1.0, 1: 1.0}), (-1, {-2: -1.0, -1: 1.0})] if edge else []
        return {-1: -0.5, 1: 0.5}, 1, 1, edges
    # y[i] = x[i-2]/12 - 2 x[i-1]/3 + 2 x[i+1]/3 - x[i+2]/12, 2 <= i < n-2
    edges = (
        [
            (0, {0: -1.0, 1: 1.0}),
            (1, {0: -0.5, 2: 0.5}),
            (-2, {-3: -0.5, -1: 0.5}),
            (-1, {-2: -1.0, -1: 1.0}),
        ]
        if edge
        else []
    )
    return {-2: 1.0 / 12.0, -1: -2.0 / 3.0, 1: 2.0 / 3.0, 2: -1.0 / 12.0}, 2, 2, edges


def second_stencil(kind: str, edge: bool) -> Stencil:
    """Taps of the unit-step second derivative (PyLops conventions)."""
    if kind == "forward":  # y[i] = x[i] - 2 x[i+1] + x[i+2], i < n-2
        return {0: 1.0, 1: -2.0, 2: 1.0}, 0, 2, []
    if kind == "backward":  # y[i] = x[i-2] - 2 x[i-1] + x[i], i >= 2
        return {-2: 1.0, -1: -2.0, 0: 1.0}, 2, 0, []
    edges = [(0, {0: 1.0, 1: -2.0, 2: 1.0}), (-1, {-3: 1.0, -2: -2.0, -1: 1.0})] if edge else []
    return {-1: 1.0, 0: -2.0, 1: 1.0}, 1, 1, edges


# ---------------------------------------------------------------------------- band helpers
def stencil_misfit(st: Stencil, n: int) -> str | None:
    """Why the edge rows of ``st`` do not fit an axis of ``n`` samples (a row or column
    outside it, where PyLops fails with an IndexError), or None."""
    if n == 0:
        return None
    for row, cols in st[3]:
        for v in (row, *cols):
            if not -n <= v < n:
                return f"its edge rows reach sample {v if v >= 0 else n + v} of an axis of {n} samples"
    return None


def check_stencil_fits(st: Stencil, dims: Sequence[int], axes: Sequence[int], name: str) -> None:
    """ValueError (at construction) when the edge rows of ``st`` do not fit one of ``axes``."""
    for a in axes:
        why = stencil_misfit(st, dims[a])
        if why is not None:
            raise ValueError(f"{name}: edge=True does not fit axis {a} of dims {tuple(dims)}: {why}")


def _edge_rows(edges: list, n: int) -> list:
    """The edge rows on an axis of ``n`` samples, rows counted from 0; where two land on the
    same row (e.g. order-5 centered stencils on 3 samples) the later one is the row, as the
    forward writes it, so that the adjoint adds it once (PyLops' adjoint adds both)."""
    if n == 0:
        return []
    rows = {}
    for row, cols in edges:
        rows[row % n] = cols
    return list(rows.items())


def _fast(src: torch.Tensor) -> bool:
    """``out=`` kernels are usable: nothing records ``src`` (autograd, forward-mode AD or a
    torch.func transform)."""
    if (torch.compiler.is_compiling() or (src.requires_grad and torch.is_grad_enabled())
            or torch.autograd.forward_ad._current_level >= 0):
        return False
    return torch._C._functorch.maybe_current_level() is None


def _put(dst: torch.Tensor, src: torch.Tensor, c: float, acc: bool) -> None:
    """``dst (+)= c * src`` in place (``dst`` a slice of a fresh output tensor), the product
    rounded on its own: ``add_(alpha=c)`` is a fused multiply-add on the CPU, the same only
    where ``c * src`` is exact (``c`` a power of two)."""
    if acc:
        if math.frexp(abs(c))[0] == 0.5:
            dst.add_(src, alpha=c)
        else:
            dst.add_(src * c)
    elif _fast(src):
        torch.mul(src, c, out=dst)
    else:
        dst.copy_(src)
        if c != 1:
            dst.mul_(c)


def _taps(x: torch.Tensor, dst: torch.Tensor, a: int, lo: int, m: int, taps: dict[int, float]) -> float:
    """``dst = (S x) / f`` over the interior rows ``[lo, lo + m)`` with the bare coefficients
    (each product rounded on its own, then summed in tap order); returns ``f``."""
    (k0, c0), *rest = taps.items()
    if len(rest) == 1 and rest[0][1] == -c0 and _fast(x):
        # two opposite taps: one subtraction (c * (x1 - x0): c is a power of two here)
        torch.sub(x.narrow(a, lo + rest[0][0], m), x.narrow(a, lo + k0, m), out=dst)
        return rest[0][1]
    first = True
    for k, c in taps.items():
        _put(dst, x.narrow(a, lo + k, m), c, not first)
        first = False
    return 1.0


def _add_scaled(dst: torch.Tensor, t: torch.Tensor, c: complex) -> None:
    """``dst += c * t`` for a whole term ``t`` (one pass; a fused multiply-add here only rounds
    once: the taps' cancellation happened inside ``t``)."""
    dst.add_(t, alpha=c)


def _band(x: torch.Tensor, out: torch.Tensor, a: int, st: Stencil, scale: complex, acc: bool) -> None:
    """Forward of a band along tensor axis ``a``: ``out (+)= scale * S x``.

    The taps are summed with their bare coefficients and the sum is scaled once, as PyLops
    does (``(x[1:] - x[:-1]) / sampling``): folding ``scale`` into each coefficient rounds
    every product at ``|x| * scale``, an error that the cancellation of the taps keeps on data
    with a large offset. Accumulating (``acc``), ``S x`` goes through a temporary: ``out`` is
    not an addend of the taps."""
    taps, lo, hi, edges = st
    n = x.shape[a]
    m = n - lo - hi
    if not acc:
        out.narrow(a, 0, min(lo, n)).zero_()
        out.narrow(a, max(n - hi, 0), min(hi, n)).zero_()
    if m > 0:
        dst = out.narrow(a, lo, m)
        if acc:
            t = _new(dst)
            _add_scaled(dst, t, scale * _taps(x, t, a, lo, m, taps))
        else:
            f = scale * _taps(x, dst, a, lo, m, taps)
            if f != 1:
                dst.mul_(f)
    for row, cols in _edge_rows(edges, n):
        val = None
        for col, c in cols.items():
            term = x.narrow(a, col % n, 1) * c
            val = term if val is None else val + term
        if scale != 1:
            val = val * scale
        dst = out.narrow(a, row, 1)
        if acc:
            dst.add_(val)
        else:
            dst.copy_(val)


def _band_adjoint(y: torch.Tensor, out: torch.Tensor, a: int, st: Stencil, scale: complex, acc: bool) -> None:
    """Adjoint of :func:`_band`: ``out (+)= conj(scale) * S^T y`` (a scatter over the taps,
    with the bare coefficients, then the scale once; accumulating, through a temporary)."""
    sc = scale.conjugate()
    if acc:
        t = _new(out)
        _band_adjoint(y, t, a, st, 1.0, False)
        _add_scaled(out, t, sc)
        return
    taps, lo, hi, edges = st
    n = y.shape[a]
    m = n - lo - hi
    if m <= 0:
        out.zero_()
    if m > 0:
        src = y.narrow(a, lo, m)
        first = True
        for k, c in taps.items():
            if first:
                # the first tap covers [lo+k, lo+k+m): write it and zero the rest of the line
                out.narrow(a, 0, lo + k).zero_()
                out.narrow(a, lo + k + m, n - lo - k - m).zero_()
            _put(out.narrow(a, lo + k, m), src, c, not first)
            first = False
    for row, cols in _edge_rows(edges, n):
        yr = y.narrow(a, row, 1)
        for col, c in cols.items():
            out.narrow(a, col % n, 1).add_(yr, alpha=c)
    if sc != 1:
        out.mul_(sc)


def _new(x: torch.Tensor, shape: Sequence[int] | None = None) -> torch.Tensor:
    return x.new_empty(tuple(x.shape) if shape is None else tuple(shape))


# ---------------------------------------------------------------------------- first derivative
# y[b, ..., i, ...] = (1/s) sum_k c_k x[b, ..., i+k, ...]   (lo <= i < n-hi; edge rows as PyLops)
def first_derivative(
    x: torch.Tensor, axis: int, sampling: float = 1.0, kind: str = "centered", edge: bool = False, order: int = 3
) -> torch.Tensor:
    """First derivative along ``axis`` (``forward``/``centered``/``backward``, order 3 or 5)."""
    y = _new(x)
    _band(x, y, axis + 1, first_stencil(kind, edge, order), 1.0 / sampling, False)
    return y


# x[b, ..., j, ...] = (1/s) sum_k c_k y[b, ..., j-k, ...] [lo <= j-k < n-hi]   (+ edge rows)
def first_derivative_adjoint(
    y: torch.Tensor, axis: int, sampling: float = 1.0, kind: str = "centered", edge: bool = False, order: int = 3
) -> torch.Tensor:
    """Adjoint of :func:`first_derivative` (a scatter of the same taps)."""
    x = _new(y)
    _band_adjoint(y, x, axis + 1, first_stencil(kind, edge, order), 1.0 / sampling, False)
    return x


# ---------------------------------------------------------------------------- second derivative
# y[b, ..., i, ...] = (1/s^2) sum_k c_k x[b, ..., i+k, ...]   (c = 1, -2, 1; lo <= i < n-hi)
def second_derivative(
    x: torch.Tensor, axis: int, sampling: float = 1.0, kind: str = "centered", edge: bool = False
) -> torch.Tensor:
    """Second derivative along ``axis`` (``forward``/``centered``/``backward``)."""
    y = _new(x)
    _band(x, y, axis + 1, second_stencil(kind, edge), 1.0 / sampling**2, False)
    return y


# x[b, ..., j, ...] = (1/s^2) sum_k c_k y[b, ..., j-k, ...] [lo <= j-k < n-hi]   (+ edge rows)
def second_derivative_adjoint(
    y: torch.Tensor, axis: int, sampling: float = 1.0, kind: str = "centered", edge: bool = False
) -> torch.Tensor:
    """Adjoint of :func:`second_derivative`."""
    x = _new(y)
    _band_adjoint(y, x, axis + 1, second_stencil(kind, edge), 1.0 / sampling**2, False)
    return x


# ---------------------------------------------------------------------------- laplacian
# y[b, i] = sum_d (w_d / s_d^2) sum_k c_k x[b, i + k e_d]
def laplacian(
    x: torch.Tensor,
    axes: Sequence[int],
    weights: Sequence[complex],
    sampling: Sequence[float],
    kind: str = "centered",
    edge: bool = False,
) -> torch.Tensor:
    """Weighted sum of second derivatives along ``axes``, accumulated in one output."""
    y = _new(x)
    st = second_stencil(kind, edge)
    for d, (ax, w, s) in enumerate(zip(axes, weights, sampling)):
        _band(x, y, ax + 1, st, w / s**2, d > 0)
    return y


# x[b, j] = sum_d (conj(w_d) / s_d^2) sum_k c_k y[b, j - k e_d] [row j - k e_d is a stencil row]
def laplacian_adjoint(
    y: torch.Tensor,
    axes: Sequence[int],
    weights: Sequence[complex],
    sampling: Sequence[float],
    kind: str = "centered",
    edge: bool = False,
) -> torch.Tensor:
    """Adjoint of :func:`laplacian`."""
    x = _new(y)
    st = second_stencil(kind, edge)
    for d, (ax, w, s) in enumerate(zip(axes, weights, sampling)):
        _band_adjoint(y, x, ax + 1, st, w / s**2, d > 0)
    return x


# ---------------------------------------------------------------------------- gradient
# y[b, d, i] = (1/s_d) sum_k c_k x[b, i + k e_d]
def gradient(x: torch.Tensor, sampling: Sequence[float], kind: str = "centered", edge: bool = False) -> torch.Tensor:
    """Stack of the first derivatives along every model axis: ``(B, *dims) -> (B, ndim, *dims)``."""
    nd = x.dim() - 1
    y = _new(x, (x.shape[0], nd, *x.shape[1:]))
    st = first_stencil(kind, edge, 3)
    for d in range(nd):
        _band(x, y.select(1, d), d + 1, st, 1.0 / sampling[d], False)
    return y


# x[b, j] = sum_d (1/s_d) sum_k c_k y[b, d, j - k e_d] [row j - k e_d is a stencil row]
def gradient_adjoint(
    y: torch.Tensor, sampling: Sequence[float], kind: str = "centered", edge: bool = False
) -> torch.Tensor:
    """Adjoint of :func:`gradient` (minus a divergence): ``(B, ndim, *dims) -> (B, *dims)``."""
    nd = y.shape[1]
    x = _new(y, (y.shape[0], *y.shape[2:]))
    st = first_stencil(kind, edge, 3)
    for d in range(nd):
        _band_adjoint(y.select(1, d), x, d + 1, st, 1.0 / sampling[d], d > 0)
    return x


# ---------------------------------------------------------------------------- directional
# y[b, i] = sum_d v[d, i] (G x)[b, d, i]
def first_directional_derivative(
    x: torch.Tensor, v: torch.Tensor, sampling: Sequence[float], kind: str = "centered", edge: bool = False
) -> torch.Tensor:
    """``y = sum_d v_d * D_d x``; ``v`` of shape ``(ndim, 1, ..., 1)`` or ``(ndim, *dims)``."""
    g = gradient(x, sampling, kind, edge)
    return (g * v).sum(1)


# x[b, j] = sum_d (G^H)[d] (conj(v[d]) y)[b, j]
def first_directional_derivative_adjoint(
    y: torch.Tensor, v: torch.Tensor, sampling: Sequence[float], kind: str = "centered", edge: bool = False
) -> torch.Tensor:
    """Adjoint of :func:`first_directional_derivative`: ``G^H (conj(v) y)``."""
    return gradient_adjoint(y.unsqueeze(1) * v.conj(), sampling, kind, edge)


# y[b, i] = -(D_v^H D_v x)[b, i]
def second_directional_derivative(
    x: torch.Tensor, v: torch.Tensor, sampling: Sequence[float], kind: str = "centered", edge: bool = False
) -> torch.Tensor:
    """``y = -D_v^H D_v x`` with ``D_v`` the first directional derivative."""
    d = first_directional_derivative(x, v, sampling, kind, edge)
    return torch.neg(first_directional_derivative_adjoint(d, v, sampling, kind, edge))


# x[b, j] = -(D_v^H D_v y)[b, j]   (self-adjoint)
def second_directional_derivative_adjoint(
    y: torch.Tensor, v: torch.Tensor, sampling: Sequence[float], kind: str = "centered", edge: bool = False
) -> torch.Tensor:
    """Adjoint of :func:`second_directional_derivative` (the operator is self-adjoint)."""
    d = first_directional_derivative(y, v, sampling, kind, edge)
    return torch.neg(first_directional_derivative_adjoint(d, v, sampling, kind, edge))
