r"""Least-squares inversions (PyLops ``pylops.optimization.leastsquares``), batched.

:func:`normal_equations_inversion` solves the regularised normal equations with :func:`cg`,
:func:`regularized_inversion` the stacked system with :func:`lsqr` (``engine="scipy"``, the
default, as PyLops) or :func:`cgls` (``engine="pylops"``), :func:`preconditioned_inversion`
the preconditioned system likewise; each returns a NamedTuple in PyLops' order (``x``
first). ``y`` may hold a batch of problems ``(*batch, *dimsd)``.
``implicit=True`` (normal equations and regularised inversion) differentiates the exact
solution with one more solve in the backward, giving gradients for ``y``, the dampings
(``epsI``, ``epsRs``, ``epsNRs`` as tensors), ``dataregs`` and every operator's learnable tensors.
Each function builds its class of :mod:`torchlops.optimization.cls_leastsquares` and calls
``solve``; the positional order is PyLops 2.8's, ``implicit`` and ``progress`` (a progress bar
over the inner solver's iterations) are keyword-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.optimization.cls_leastsquares import (
    NormalEquationsInversion,
    PreconditionedInversion,
    RegularizedInversion,
    RegularizedOperator,
)

__all__ = [
    "RegularizedOperator",
    "normal_equations_inversion",
    "regularized_inversion",
    "preconditioned_inversion",
    "NormalEquationsInversionResult",
    "RegularizedInversionResult",
    "PreconditionedInversionResult",
]


class NormalEquationsInversionResult(NamedTuple):
    """Result of :func:`normal_equations_inversion`, in PyLops' order (``istop`` per sample
    with ``engine="scipy"``, else None)."""

    x: torch.Tensor
    istop: torch.Tensor | None


class RegularizedInversionResult(NamedTuple):
    """Result of :func:`regularized_inversion`, in PyLops' order: ``istop``, ``r1norm`` and
    ``r2norm`` per sample, ``itn`` the steps the solve ran (the batch's largest count)."""

    x: torch.Tensor
    istop: torch.Tensor
    itn: Any
    r1norm: torch.Tensor
    r2norm: torch.Tensor


class PreconditionedInversionResult(NamedTuple):
    """Result of :func:`preconditioned_inversion`, in PyLops' order: ``istop``, ``r1norm`` and
    ``r2norm`` per sample, ``itn`` the steps the solve ran (the batch's largest count)."""

    x: torch.Tensor
    istop: torch.Tensor
    itn: Any
    r1norm: torch.Tensor
    r2norm: torch.Tensor


def normal_equations_inversion(
    Op: LinearOperator, y: torch.Tensor, Regs: Sequence[LinearOperator] | None, x0: torch.Tensor | None = None,
    Weight: LinearOperator | None = None, dataregs: Sequence[torch.Tensor] | None = None, epsI: Any = 0.0,
    epsRs: Sequence[Any] | None = None, NRegs: Sequence[LinearOperator] | None = None,
    epsNRs: Sequence[Any] | None = None, engine: str = "scipy", show: bool = False, *, implicit: bool = False,
    progress: bool = False,
    **kwargs_solver: Any,
) -> NormalEquationsInversionResult:
    r"""Solve the regularised normal equations with :func:`~torchlops.optimization.basic.cg`.

    Notes
    -----
    .. math::
        \Big(\mathbf{Op}^H\mathbf{W}\mathbf{Op} + \sum_i \epsilon_{R_i}^2 \mathbf{R}_i^H\mathbf{R}_i
        + \sum_i \epsilon_{N_i}^2 \mathbf{N}_i + \epsilon_I^2\mathbf{I}\Big)\mathbf{x}
        = \mathbf{Op}^H\mathbf{W}\mathbf{y} + \sum_i \epsilon_{R_i}^2 \mathbf{R}_i^H \mathbf{y}_{R_i}

    Each CG step applies every operator forward and adjoint once. Both engines run the batched
    torch CG: ``engine="scipy"`` (the default, as PyLops) with scipy ``cg``'s arguments and
    stopping rule (``rtol`` 1e-5, ``atol`` 0 (``tol`` is taken as ``atol``, as PyLops does),
    ``maxiter`` 10 x the size; ``niter`` stands for ``maxiter``) and its ``istop`` per sample (0
    when it stopped before ``maxiter``, else ``maxiter``); ``engine="pylops"`` with :func:`cg`'s
    arguments (``niter``, ``tol`` on :math:`\|\mathbf{r}\|^2`), ``istop`` None.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.leastsquares import normal_equations_inversion
    >>> Op = torchlops.Diagonal(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> normal_equations_inversion(Op, torch.tensor([1.0, 2.0], dtype=torch.float64), None, epsI=0.0)[0].round(decimals=8)
    tensor([1., 1.], dtype=torch.float64)
    """

    return NormalEquationsInversionResult(*NormalEquationsInversion(Op).solve(
        y, Regs, x0=x0, Weight=Weight, dataregs=dataregs, epsI=epsI, epsRs=epsRs, NRegs=NRegs, epsNRs=epsNRs,
        engine=engine, show=show, implicit=implicit, progress=progress, **kwargs_solver))


def regularized_inversion(
    Op: LinearOperator, y: torch.Tensor, Regs: Sequence[LinearOperator] | None, x0: torch.Tensor | None = None,
    Weight: LinearOperator | None = None, dataregs: Sequence[torch.Tensor] | None = None,
    epsRs: Sequence[Any] | None = None, engine: str = "scipy", show: bool = False, *, implicit: bool = False,
    progress: bool = False,
    **kwargs_solver: Any,
) -> RegularizedInversionResult:
    r"""Solve the stacked regularised system with LSQR (``engine="scipy"``) or :func:`cgls`.

    ``engine="scipy"`` (the default, as PyLops) follows scipy's ``lsqr``: its arguments
    (``iter_lim``, default twice the number of unknowns; ``niter`` is taken for it; ``atol`` =
    ``btol`` = 1e-6; ``damp``, ``conlim``, ``calc_var``), its stopping tests and stop codes (7 at
    the iteration limit); ``engine="pylops"`` runs :func:`cgls` with its arguments.

    Notes
    -----
    .. math::
        \begin{bmatrix} \mathbf{W}^{1/2}\mathbf{Op} \\ \epsilon_{R_1}\mathbf{R}_1 \\ \vdots
        \end{bmatrix}\mathbf{x} = \begin{bmatrix} \mathbf{W}^{1/2}\mathbf{y} \\
        \epsilon_{R_1}\mathbf{y}_{R_1} \\ \vdots \end{bmatrix}

    (``Weight`` is :math:`\mathbf{W}^{1/2}`). Returns ``(xinv, istop, itn, r1norm, r2norm)``.
    With ``implicit=True`` the backward solves the normal equations of the stacked system once
    more and differentiates the residual with respect to ``y``, ``epsRs``, ``dataregs`` and the
    operators' tensors.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.leastsquares import regularized_inversion
    >>> Op = torchlops.Diagonal(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> regularized_inversion(Op, torch.tensor([1.0, 2.0], dtype=torch.float64), None, niter=2)[0].round(decimals=8)
    tensor([1., 1.], dtype=torch.float64)
    """

    return RegularizedInversionResult(*RegularizedInversion(Op).solve(
        y, Regs, x0=x0, Weight=Weight, dataregs=dataregs, epsRs=epsRs, engine=engine, show=show, implicit=implicit,
        progress=progress, **kwargs_solver))


def preconditioned_inversion(
    Op: LinearOperator, y: torch.Tensor, P: LinearOperator, x0: torch.Tensor | None = None, engine: str = "scipy",
    show: bool = False, *, progress: bool = False, **kwargs_solver: Any,
) -> PreconditionedInversionResult:
    r"""Solve :math:`\min_\mathbf{p}\|\mathbf{y} - \mathbf{Op}\,\mathbf{P}\mathbf{p}\|_2^2` with
    :func:`lsqr` (``engine="scipy"``) or :func:`cgls` and return :math:`\mathbf{x} = \mathbf{P}\mathbf{p}`
    with ``(istop, itn, r1norm, r2norm)``; ``x0`` is the starting ``p`` (as PyLops).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.leastsquares import preconditioned_inversion
    >>> Op = torchlops.Diagonal(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> preconditioned_inversion(Op, torch.tensor([1.0, 2.0], dtype=torch.float64), torchlops.Identity(2))[0].round(decimals=8)
    tensor([1., 1.], dtype=torch.float64)
    """
    if "implicit" in kwargs_solver:
        raise TypeError("preconditioned_inversion has no implicit=... (the unrolled solve is differentiated); "
                        "regularized_inversion and normal_equations_inversion take implicit=True")
    return PreconditionedInversionResult(*PreconditionedInversion(Op).solve(
        y, P, x0=x0, engine=engine, show=show, progress=progress, **kwargs_solver))
