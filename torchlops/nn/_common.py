"""Helpers shared by the layers: batch handling, soft thresholding, operator norm, physics loss."""

from __future__ import annotations

import math
import operator

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.optimization.eigs import normalised_iterate, power_iteration

__all__ = ["physics_loss", "operator_norm", "soft_threshold", "check_operator", "split_batch", "positive_int", "param_dtype"]


def check_operator(Op: object) -> LinearOperator:
    """Return ``Op`` if it is a :class:`~torchlops.LinearOperator`, raise ``TypeError`` otherwise."""
    if not isinstance(Op, LinearOperator):
        raise TypeError(f"Op must be a torchlops LinearOperator, got {type(Op).__name__}")
    return Op


def param_dtype(Op: LinearOperator) -> torch.dtype:
    """dtype of a layer's scalar hyperparameters (steps, thresholds, weights): the operator's
    real dtype when it is a floating one (a float64 operator keeps 0.02 as 0.02, not its float32
    rounding, which a later .double() would keep), else the default dtype."""
    dt = Op.dtype
    if dt.is_complex:
        return torch.empty((), dtype=dt).real.dtype
    return dt if dt.is_floating_point else torch.get_default_dtype()


def positive_int(value: object, name: str, what: str = "a positive int") -> int:
    """``value`` as a Python int >= 1: ints and NumPy ints are, bools and fractions are not
    (ValueError: ``name must be <what>``)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        v = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if v < 1:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return v


def split_batch(t: torch.Tensor, shape: tuple[int, ...], what: str) -> tuple[torch.Size, torch.Tensor]:
    """Reshape ``(*batch, *shape)`` to ``(B, *shape)``; return ``(batch, reshaped)``."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(t).__name__}")
    if not (t.is_floating_point() or t.is_complex()):
        raise TypeError(f"{what} must be a floating or complex tensor, got dtype {t.dtype}")
    k = t.dim() - len(shape)
    if k < 0 or tuple(t.shape[k:]) != tuple(shape):
        raise ValueError(f"{what}: expected shape (*batch, {', '.join(map(str, shape))}), got {tuple(t.shape)}")
    batch = t.shape[:k]
    return batch, t.reshape(-1, *shape)


def soft_threshold(x: torch.Tensor, thresh: torch.Tensor | float) -> torch.Tensor:
    r"""Soft thresholding :math:`\mathrm{sign}(x)\max(|x| - \tau, 0)` (complex: the modulus shrinks).

    Examples
    --------
    >>> import torch
    >>> from torchlops.nn import soft_threshold
    >>> soft_threshold(torch.tensor([-2.0, 0.5, 3.0]), 1.0)
    tensor([-1.,  0.,  2.])
    """
    if x.is_complex():
        mag = x.abs()
        return x * (torch.clamp(mag - thresh, min=0) / torch.clamp(mag, min=torch.finfo(mag.dtype).tiny))
    return torch.sign(x) * torch.clamp(x.abs() - thresh, min=0)


def physics_loss(Op: LinearOperator, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Data misfit :math:`\frac{1}{B}\sum_b \|\mathbf{A}\mathbf{x}_b - \mathbf{y}_b\|_2^2`.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator :math:`\mathbf{A}`.
    x : :obj:`torch.Tensor`
        Models ``(*batch, *dims)`` (``Op.dims`` trailing).
    y : :obj:`torch.Tensor`
        Data ``(*batch, *dimsd)``.

    Returns
    -------
    loss : :obj:`torch.Tensor`
        0-d tensor: squared residual norm per sample (summed over ``dimsd``), averaged
        over the batch (one forward pass of ``Op``). Differentiable in ``x``, ``y`` and the
        operator's learnable tensors.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.nn import physics_loss
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0]))
    >>> physics_loss(D, torch.ones(3, 2), torch.zeros(3, 2))
    tensor(5.)
    """
    Op = check_operator(Op)
    xbatch, xb = split_batch(x, Op.dims, "x")
    ybatch, yb = split_batch(y, Op.dimsd, "y")
    if tuple(xbatch) != tuple(ybatch) and not (xb.shape[0] == yb.shape[0] == 1):  # (one sample: any form)
        raise ValueError(f"x and y must hold the same batch, got {tuple(x.shape)} and {tuple(y.shape)}")
    r = Op(xb) - yb
    r2 = (r.real**2 + r.imag**2) if r.is_complex() else r**2
    # (flatten, not reshape(B, -1): an empty batch gives the mean of no samples, NaN as torch.mean)
    return r2.flatten(1).sum(dim=1).mean()


def operator_norm(Op: LinearOperator, niter: int = 50, seed: int = 0) -> float:
    r"""Largest singular value :math:`\|\mathbf{A}\|_2` by power iteration on :math:`\mathbf{A}^H\mathbf{A}`.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator.
    niter : :obj:`int`, optional
        Power iterations (each is one forward and one adjoint pass); runs all of them.
    seed : :obj:`int`, optional
        Seed of the random start vector (the estimate is reproducible).

    Returns
    -------
    norm : :obj:`float`
        Estimate of :math:`\sigma_{\max}` (from below): a gradient step
        :math:`1/\sigma_{\max}^2` on :math:`\tfrac12\|\mathbf{A}\mathbf{x}-\mathbf{y}\|^2` is stable
        for a converged estimate; leave a margin for a few iterations.

    Notes
    -----
    Power iteration on :math:`\mathbf{A}^H\mathbf{A}` converges to its largest eigenvalue
    :math:`\sigma_{\max}^2`; the square root is returned. No graph is built. An operator with
    one filter per sample (``batched_filter=True``) is one matrix per filter: the largest of
    their norms is returned (one power iteration per filter, as one batch), so a step set
    from it suits every sample.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.nn import operator_norm
    >>> round(operator_norm(torchlops.Diagonal(torch.tensor([1.0, -3.0, 2.0]))), 4)
    3.0
    """
    Op = check_operator(Op)
    niter = positive_int(niter, "niter")
    if Op.device is not None and Op.device.type == "meta":
        raise ValueError("operator_norm needs the operator's values: it has none on the meta device (a layer "
                         "built there needs step= given, or building where the operator holds its values)")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    k = Op._batch_period()
    with torch.no_grad():
        if k == 1:
            eig = power_iteration(Op.H @ Op, niter=niter, rtol=0.0, generator=gen)[0]
            return math.sqrt(max(float(eig.real), 0.0))
        # one matrix per filter: sample b of a batch of k takes filter b % (number of filters)
        N = Op.H @ Op
        dt = torch.promote_types(Op.dtype, torch.float32)
        b = torch.randn(k, Op.shape[1], dtype=dt, generator=gen).to(Op.device or "cpu")
        b = b / torch.linalg.vector_norm(b, dim=1, keepdim=True)
        eig = torch.zeros(k, dtype=torch.float64)
        for _ in range(niter):
            bk = N._flat(b, False)
            eig = (b.conj() * bk).sum(1).real.double()
            b = normalised_iterate(b, bk, torch.linalg.vector_norm(bk, dim=1, keepdim=True))
    return math.sqrt(max(float(eig.max()), 0.0))
