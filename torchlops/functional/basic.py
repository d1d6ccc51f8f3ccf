"""Forward/adjoint pairs of the structural operators (pure torch, one leading batch dim)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "diagonal",
    "diagonal_adjoint",
    "diagonal_vjp",
    "matrixmult",
    "matrixmult_adjoint",
    "matrixmult_vjp",
    "grad_like",
    "pad",
    "crop",
    "flip",
    "roll",
    "sum_axis",
    "spread",
    "symmetrize",
    "symmetrize_adjoint",
    "restriction",
    "restriction_adjoint",
    "causal_integration",
    "causal_integration_adjoint",
    "regression",
    "regression_adjoint",
]


def promoted(*ts: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors in their common dtype (``torch.promote_types``): an operator tensor of
    another dtype than the input neither loses its imaginary part nor its precision."""
    dt = ts[0].dtype
    for t in ts[1:]:
        dt = torch.promote_types(dt, t.dtype)
    return tuple(t if t.dtype == dt else t.to(dt) for t in ts)


# y[b, i] = d[i] x[b, i]   (d broadcast over the model dims)
def diagonal(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """``y = d * x``; one read of x, one write of y."""
    return x * d


# x[b, i] = conj(d[i]) y[b, i]
def diagonal_adjoint(y: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """``x = conj(d) * y``."""
    return y * d.conj()


# y[b, i, ...] = sum_j A[i, j] x[b, j, ...]
def matrixmult(x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """``y = A x`` for ``x`` of shape ``(B, N)`` or ``(B, N, *other)``; ``A`` dense or sparse."""
    B = x.shape[0]
    if A.is_sparse or A.is_sparse_csr:
        x, A = promoted(x, A)
        xm = x.reshape(B, A.shape[1], -1).transpose(0, 1).reshape(A.shape[1], -1)
        y = torch.sparse.mm(A, xm)
        return y.reshape(A.shape[0], B, -1).transpose(0, 1).reshape(B, A.shape[0], *x.shape[2:])
    x, A = promoted(x, A)
    if x.dim() == 2:
        return x @ A.transpose(0, 1)
    return (A @ x.reshape(B, A.shape[1], -1)).reshape(B, A.shape[0], *x.shape[2:])


# x[b, j, ...] = sum_i conj(A[i, j]) y[b, i, ...]
def matrixmult_adjoint(y: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """``x = A^H y`` (computed as ``conj(A^T conj(y))`` for sparse ``A``)."""
    B = y.shape[0]
    if A.is_sparse or A.is_sparse_csr:
        y, A = promoted(y, A)
        if A.is_sparse_csr:  # (a learnable compressed A: the transposed CSC has no backward, COO has)
            A = A.to_sparse_coo()
        ym = y.reshape(B, A.shape[0], -1).transpose(0, 1).reshape(A.shape[0], -1)
        x = torch.sparse.mm(A.transpose(0, 1), ym.conj()).conj()
        return x.reshape(A.shape[1], B, -1).transpose(0, 1).reshape(B, A.shape[1], *y.shape[2:])
    y, A = promoted(y, A)
    if y.dim() == 2:
        return y @ A.conj()
    return (A.conj().transpose(0, 1) @ y.reshape(B, A.shape[0], -1)).reshape(B, A.shape[1], *y.shape[2:])


# grad_d = sum over samples (and broadcast axes) of g conj(x)   (adjoint: conj(g) x)
def diagonal_vjp(d: torch.Tensor, x: torch.Tensor, g: torch.Tensor, bshape: Sequence[int], adjoint: bool) -> torch.Tensor:
    """Gradient with respect to ``d`` (its shape and dtype) of ``<g, d x>`` (``adjoint``:
    ``<g, conj(d) x>``); ``bshape`` is the shape ``d`` is broadcast with over the model dims."""
    p = g.conj() * x if adjoint else g * x.conj()
    return grad_like(d, p.sum_to_size(tuple(bshape)))


# grad_A[i, j] = sum_b g[b, i] conj(x[b, j])   (adjoint: sum_b x[b, i] conj(g[b, j]))
def matrixmult_vjp(A: torch.Tensor, x: torch.Tensor, g: torch.Tensor, adjoint: bool) -> torch.Tensor:
    """Gradient with respect to a dense ``A`` of ``<g, A x>`` (``adjoint``: ``<g, A^H x>``)."""
    B = x.shape[0]
    xm, gm = x.reshape(B, x.shape[1], -1), g.reshape(B, g.shape[1], -1)
    gA = torch.einsum("bik,bjk->ij", xm, gm.conj()) if adjoint else torch.einsum("bik,bjk->ij", gm, xm.conj())
    return grad_like(A, gA)


def grad_like(t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """A gradient ``g`` for the tensor ``t``: its shape and dtype (the real part for a real
    ``t``, PyTorch's convention when a real tensor enters a complex computation)."""
    if not t.is_complex() and g.is_complex():
        g = g.real
    return g.reshape(t.shape).to(t.dtype)


# y[b, i + before] = x[b, i]; zero elsewhere
def pad(x: torch.Tensor, widths: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Zero-pad the model dims by ``widths[k] = (before, after)``."""
    flat: list[int] = []
    for before, after in reversed(list(widths)):
        flat.extend((before, after))
    if x.is_complex():
        # (view_as_real needs the conjugate and negative bits resolved: inputs of .conj() / .T,
        # and the gradients of a loss through y.conj(), carry them)
        xr = torch.view_as_real(x.resolve_conj().resolve_neg())
        return torch.view_as_complex(F.pad(xr, [0, 0, *flat]))
    return F.pad(x, flat)


# x[b, i] = y[b, i + before]
def crop(y: torch.Tensor, widths: Sequence[tuple[int, int]], dims: Sequence[int]) -> torch.Tensor:
    """Adjoint of :func:`pad`: keep ``dims`` samples after ``before`` on each axis (a copy)."""
    idx = (slice(None),) + tuple(slice(b, b + n) for (b, _), n in zip(widths, dims))
    return y[idx].clone(memory_format=torch.contiguous_format)


# y[b, ..., i, ...] = x[b, ..., n-1-i, ...]   (self-adjoint)
def flip(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Reverse ``axis``; its own adjoint."""
    return torch.flip(x, (axis + 1,))


# y[b, ..., (i+shift) mod n, ...] = x[b, ..., i, ...]; adjoint: shift -> -shift
def roll(x: torch.Tensor, shift: int, axis: int) -> torch.Tensor:
    """Circular shift by ``shift`` along ``axis`` (the adjoint is ``roll(y, -shift, axis)``)."""
    return torch.roll(x, shift, axis + 1)


# y[b, ...] = sum_i x[b, ..., i, ...]
def sum_axis(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Sum along ``axis``."""
    return x.sum(axis + 1)


# x[b, ..., i, ...] = y[b, ...]   for every i < n
def spread(y: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    """Adjoint of :func:`sum_axis`: copy ``y`` ``n`` times along a new ``axis``."""
    y = y.unsqueeze(axis + 1)
    shape = list(y.shape)
    shape[axis + 1] = n
    # (n == 1: expand is a view of y, which .contiguous() would return as it is)
    return y.expand(shape).clone(memory_format=torch.contiguous_format)


# y[k] = x[n-1-k] for k < n-1;  y[n-1+j] = x[j]
def symmetrize(x: torch.Tensor, axis: int) -> torch.Tensor:
    """Mirror ``x`` about its first sample along ``axis``: ``n`` -> ``2n-1`` samples."""
    a = axis + 1
    return torch.cat((torch.flip(x.narrow(a, 1, x.shape[a] - 1), (a,)), x), a)


# x[j] = y[n-1+j] + (j >= 1) y[n-1-j]
def symmetrize_adjoint(y: torch.Tensor, axis: int) -> torch.Tensor:
    """Adjoint of :func:`symmetrize`: fold the mirrored half back onto the model."""
    a = axis + 1
    n = (y.shape[a] + 1) // 2
    x = y.narrow(a, n - 1, n).clone()
    x.narrow(a, 1, n - 1).add_(torch.flip(y.narrow(a, 0, n - 1), (a,)))
    return x


# y[b, ..., k, ...] = x[b, ..., iava[k], ...]
def restriction(x: torch.Tensor, iava: torch.Tensor, axis: int) -> torch.Tensor:
    """Take the samples ``iava`` along ``axis``."""
    return x.index_select(axis + 1, iava)


# x[b, ..., i, ...] = sum_{k: iava[k] = i} y[b, ..., k, ...]
def restriction_adjoint(y: torch.Tensor, iava: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    """Put ``y`` back at ``iava`` along ``axis`` (repeated indices add up), zeros elsewhere."""
    shape = list(y.shape)
    shape[axis + 1] = n
    return y.new_zeros(shape).index_add_(axis + 1, iava, y)


def _kinds(kind: str) -> tuple[bool, bool]:
    return kind in ("half", "trapezoidal"), kind == "trapezoidal"


# y[k] = s (sum_{j<=k} x[j] - h x[k]/2 - t (k>=1) x[0]/2)   (h: half/trapezoidal, t: trapezoidal)
def causal_integration(x: torch.Tensor, axis: int, sampling: float, kind: str, removefirst: bool) -> torch.Tensor:
    """Causal integration along ``axis`` (kinds ``full``, ``half``, ``trapezoidal``)."""
    a = axis + 1
    half, trap = _kinds(kind)
    y = torch.cumsum(x, a)
    if half:
        y = y - x / 2
    if trap and y.shape[a] > 0:  # (an empty axis: nothing to correct)
        tail = y.narrow(a, 1, y.shape[a] - 1) - x.narrow(a, 0, 1) / 2
        y = torch.cat((y.narrow(a, 0, 1), tail), a)
    if removefirst:
        y = y.narrow(a, 1, y.shape[a] - 1)
    return sampling * y


# x[j] = s (sum_{k>=j} y[k] - h y[j]/2);  trapezoidal: x[0] = s sum_k y[k] / 2
def causal_integration_adjoint(
    y: torch.Tensor, axis: int, sampling: float, kind: str, removefirst: bool
) -> torch.Tensor:
    """Adjoint of :func:`causal_integration` (a reversed cumulative sum)."""
    a = axis + 1
    half, trap = _kinds(kind)
    if removefirst:
        # (a zero first sample; from the shape, as the data axis may be empty)
        y = torch.cat((y.new_zeros((*y.shape[:a], 1, *y.shape[a + 1 :])), y), a)
    x = torch.flip(torch.cumsum(torch.flip(y, (a,)), a), (a,))
    if half:
        x = x - y / 2
    if trap and x.shape[a] > 0:
        x = torch.cat((y.sum(a, keepdim=True) / 2, x.narrow(a, 1, x.shape[a] - 1)), a)
    return sampling * x


# y[b, k] = sum_i x[b, i] t[k]^i
def regression(x: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Polynomial evaluation with the Vandermonde matrix ``V[k, i] = t[k]^i``."""
    x, V = promoted(x, V)
    return x @ V.transpose(0, 1)


# x[b, i] = sum_k conj(t[k]^i) y[b, k]
def regression_adjoint(y: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`regression`."""
    y, V = promoted(y, V)
    return y @ V.conj()
