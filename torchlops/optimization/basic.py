"""Basic least-squares solvers."""

from __future__ import annotations

from typing import NamedTuple

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import bnorm2, safe_div

__all__ = ["cgls", "CGLSResult"]

#: iterations between two convergence checks on the host when ``tol > 0``
CHECK_EVERY = 10


class CGLSResult(NamedTuple):
    """Result of :func:`cgls`, in PyLops' order."""

    x: torch.Tensor
    istop: torch.Tensor
    iiter: int
    r1norm: torch.Tensor
    r2norm: torch.Tensor
    cost: torch.Tensor


def cgls(
    Op: LinearOperator,
    y: torch.Tensor,
    x0: torch.Tensor | None = None,
    niter: int = 10,
    damp: float = 0.0,
    tol: float = 1e-4,
    show: bool = False,
    callback: object = None,
) -> CGLSResult:
    r"""Conjugate gradient for least squares, batched over the leading dims of ``y``.

    Solves :math:`\min_x \|\mathbf{y} - \mathbf{A}\mathbf{x}\|_2^2 + \epsilon^2 \|\mathbf{x}\|_2^2`
    (``damp`` = :math:`\epsilon`) for every sample of ``y`` of shape ``(*batch, *dimsd)``
    (or flat ``(*batch, M)``) at once, with per-sample step sizes.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator.
    y : :obj:`torch.Tensor`
        Data.
    x0 : :obj:`torch.Tensor`, optional
        Initial guess (zero by default), same batch as ``y``.
    niter : :obj:`int`, optional
        Number of iterations.
    damp : :obj:`float`, optional
        Damping :math:`\epsilon`.
    tol : :obj:`float`, optional
        Stop a sample when its squared normal-equation residual falls below ``tol``;
        checked on the host every :data:`CHECK_EVERY` iterations. ``tol=0`` never reads
        a value on the host (fixed ``niter``), so the loop can be compiled or captured.
    show, callback : optional
        ``show`` logs the final residual; ``callback(x)`` is called after every iteration.

    Returns
    -------
    x, istop, iiter, r1norm, r2norm, cost : :class:`CGLSResult`
        Estimate (model shape), per-sample stop code (1: tol reached, 2: niter), number of
        iterations, squared normal residual, damped residual norm, residual-norm history
        (``(niter+1, *batch)``).

    Examples
    --------
    >>> import torch, torchlops
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    >>> torchlops.cgls(D, torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64), niter=3, tol=0).x
    tensor([1., 1., 1.], dtype=torch.float64)
    """
    if not isinstance(Op, LinearOperator):
        raise TypeError(f"Op must be a torchlops LinearOperator, got {type(Op).__name__}")
    yf = Op._flat_data(y)
    batch = yf.shape[:-1]
    M, N = Op.shape
    dt = torch.promote_types(Op.dtype, yf.dtype)
    s = yf.reshape(-1, M).to(dt)
    B = s.shape[0]
    eps2 = float(damp) ** 2
    if x0 is None:
        x = s.new_zeros(B, N)
        r = Op._flat(s, True)
    else:
        x = x0.reshape(B, N).to(dt)
        s = s - Op._flat(x, False)
        r = Op._flat(s, True) - eps2 * x
    c = r
    q = Op._flat(c, False)
    kold = bnorm2(r)
    cost = [bnorm2(s).sqrt()]
    active = torch.ones(B, dtype=torch.bool, device=s.device)
    it = 0
    for it in range(1, niter + 1):
        a = safe_div(kold, bnorm2(q) + eps2 * bnorm2(c))
        if tol > 0:
            a = torch.where(active, a, torch.zeros_like(a))
        a_ = a.unsqueeze(-1).to(dt)
        x = x + a_ * c
        s = s - a_ * q
        r = Op._flat(s, True) - eps2 * x
        k = bnorm2(r)
        b = safe_div(k, kold).unsqueeze(-1).to(dt)
        c = r + b * c
        q = Op._flat(c, False)
        kold = torch.where(active, k, kold) if tol > 0 else k
        cost.append(bnorm2(s).sqrt())
        if callback is not None:
            callback(x.reshape(*batch, *Op.dims))
        if tol > 0:
            active = active & (kold > tol)
            if it % CHECK_EVERY == 0 and not bool(active.any()):
                break
    if tol > 0:
        active = active & (kold > tol)
    istop = torch.where(active, torch.full_like(kold, 2), torch.ones_like(kold)).to(torch.int64) if tol > 0 else torch.full_like(kold, 2, dtype=torch.int64)
    r2 = (cost[-1] ** 2 + eps2 * bnorm2(x)).sqrt()
    if show:
        import logging

        logging.getLogger("torchlops").info("CGLS: %d iterations, r1norm %s", it, kold.tolist())
    costs = torch.stack(cost).reshape(len(cost), *batch)
    # N-d data gives an N-d model, flat data a flat model (a 1-D dimsd is both: N-d)
    k = y.dim() - len(Op.dimsd)
    nd = k >= 0 and tuple(y.shape[k:]) == Op.dimsd
    xs = x.reshape(*batch, *Op.dims) if nd else x.reshape(*batch, N)
    return CGLSResult(xs, istop.reshape(batch), it, kold.reshape(batch), r2.reshape(batch), costs)
