r"""Function API of the basic solvers: :func:`cg`, :func:`cgls`, :func:`lsqr`.

Each wraps its class (:mod:`torchlops.optimization.cls_basic`) and returns a NamedTuple in
PyLops' order. All are batched over the leading dims of ``y`` and differentiable:

- ``implicit=False`` (default): autograd goes through the iterations (unrolled) when ``y``,
  ``x0``, ``damp`` or the operator's tensors require grad;
- ``implicit=True``: the forward runs without a graph and the backward solves one more
  (damped) normal-equation system for the adjoint variable (see
  :mod:`torchlops.optimization._implicit`); memory does not depend on ``niter``. The
  gradient assumes the solve converged (it is the gradient of the exact solution) and a
  nonsingular normal matrix: an undamped operator with a null space (a ``Restriction``, a wide
  matrix, a derivative's constants) makes the adjoint system inconsistent, and its gradient
  meaningless; use ``implicit=False`` or ``damp > 0`` there. On the CPU the backward checks its
  adjoint solve and warns (``RuntimeWarning``) when it left more than ``ADJOINT_WARN`` of the
  gradient's norm unexplained.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import CHECK_EVERY, count_arg, flatten_data, op_tensors
from torchlops.optimization._implicit import alias, implicit_solve, use_implicit
from torchlops.optimization.callback import CostToDataCallback, CostToInitialCallback
from torchlops.optimization.cls_basic import CG, CGLS, LSQR, damp_arg

__all__ = ["cg", "cgls", "lsqr", "CGResult", "CGLSResult", "LSQRResult", "CHECK_EVERY"]


class CGResult(NamedTuple):
    """Result of :func:`cg`: estimate, number of steps, residual-norm history ``(iiter+1, *batch)``."""

    x: torch.Tensor
    iiter: int
    cost: torch.Tensor


class CGLSResult(NamedTuple):
    """Result of :func:`cgls`, in PyLops' order (``istop``, ``r1norm``, ``r2norm`` per sample)."""

    x: torch.Tensor
    istop: torch.Tensor
    iiter: int
    r1norm: torch.Tensor
    r2norm: torch.Tensor
    cost: torch.Tensor


class LSQRResult(NamedTuple):
    """Result of :func:`lsqr`, in PyLops' order (every norm per sample)."""

    x: torch.Tensor
    istop: torch.Tensor
    iiter: int
    r1norm: torch.Tensor
    r2norm: torch.Tensor
    anorm: torch.Tensor
    acond: torch.Tensor
    arnorm: torch.Tensor
    xnorm: torch.Tensor
    var: torch.Tensor | None
    cost: torch.Tensor


def _real_0d(v: Any) -> bool:
    """A NumPy 0-d array of a real number (as PyLops callers pass)."""
    return getattr(v, "ndim", None) == 0 and getattr(getattr(v, "dtype", None), "kind", None) in ("f", "i", "u")


def _check(Op: Any, niter: int, damp: Any = 0.0) -> tuple[int, Any]:
    """Validate the common arguments; returns ``(niter, damp)`` (a NumPy integer as an int, a
    NumPy real as a float)."""
    if not isinstance(Op, LinearOperator):
        raise TypeError(f"Op must be a torchlops LinearOperator, got {type(Op).__name__}")
    niter = count_arg(niter, "niter")  # (NumPy ints as PyLops takes them)
    if isinstance(damp, torch.Tensor):
        if damp.is_complex() or not (damp.is_floating_point() or damp.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"damp must be a real number or a real tensor, got a {damp.dtype} tensor")
    elif isinstance(damp, bool) or not (isinstance(damp, numbers.Real) or _real_0d(damp)):
        raise TypeError(f"damp must be a real number or a real tensor, got {type(damp).__name__}")
    if isinstance(damp, torch.Tensor):
        return niter, damp_arg(damp)
    return niter, (damp if isinstance(damp, int | float) else float(damp))  # (NumPy reals: floats)


def _make(cls: type, Op: LinearOperator, callback: Callable | None, rtol: float = 0.0, rtol1: float = 0.0) -> Any:
    cbs = ([CostToInitialCallback(rtol)] if rtol > 0 else []) + ([CostToDataCallback(rtol1)] if rtol1 > 0 else [])
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a callable taking the model x, got {type(callback).__name__}")
    solver = cls(Op, callbacks=cbs or None)
    if callback is not None:
        solver.callback = callback
    return solver


def _implicit(inputs: list[torch.Tensor], forward: Callable, residual: Callable, normal: LinearOperator, ndamp: Any,
              niter: int, tol: float | Callable, aliases: list[torch.Tensor] | None = None,
              rhs2: Callable[[], torch.Tensor] | None = None,
              modules: Sequence[LinearOperator] = (), signed: bool = False) -> tuple[Any, Any]:
    """Shared implicit path: ``forward() -> (x (B, N), solver)``; adjoint = CG on ``normal``.

    ``tol`` (PyLops': a bound on the squared residual norm) applies to the forward as it is;
    the adjoint solve ``normal lam = g`` asks the same relative accuracy of its own right-hand
    side: ``tol ||g||^2 / ||b||^2`` per sample, with ``rhs2()`` the forward's ``||b||^2``
    (``tol`` as it is when ``rhs2`` is None; every iteration when ``||b|| = 0``). A callable
    ``tol`` gives the adjoint's bound from ``g`` directly. ``signed``: the adjoint CG's steps
    as the forward's (scipy's, for indefinite systems; see :class:`CG`)."""
    held: dict[str, Any] = {}

    def solve() -> torch.Tensor:
        xf, held["solver"] = forward()
        return xf

    def adjoint(g: torch.Tensor) -> torch.Tensor:
        nd = ndamp.detach() if isinstance(ndamp, torch.Tensor) else ndamp
        t = tol
        if g.numel():
            gf = g.reshape(g.shape[0], -1)
            if callable(tol):
                t = tol(gf)  # (a bound relative to g)
            elif rhs2 is not None:
                # (an absolute bound would stop a small loss's solve at once: a zero gradient)
                rdt = gf.real.dtype
                b2 = rhs2().to(rdt).reshape(-1)
                tt = torch.as_tensor(tol, dtype=rdt, device=gf.device).reshape(-1).expand(gf.shape[0])
                t = torch.where(b2 > 0, tt * (gf.abs() ** 2).sum(-1) / torch.where(b2 > 0, b2, 1.0), 0.0)
        cg = CG(normal)
        cg._signed = signed
        lam = cg.solve(g, niter=max(niter, 1), damp=nd, tol=t)[0].reshape(g.shape)
        _check_adjoint(normal, nd, g, lam)
        return lam

    xf = implicit_solve(solve, residual, adjoint, inputs, aliases, modules)
    return xf, held["solver"]


#: an implicit backward warns when its adjoint solve leaves more than this fraction of the
#: gradient's norm unexplained (ten times looser than the accuracy the solve asks for by default)
ADJOINT_WARN = 0.1


def _check_adjoint(normal: LinearOperator, nd: Any, g: torch.Tensor, lam: torch.Tensor) -> None:
    """Warn when the adjoint solve ``(normal + nd I) lam = g`` failed: a residual above
    ``ADJOINT_WARN ||g||``, or values that are not finite. A singular normal matrix (an operator
    with a null space, undamped) makes that system inconsistent wherever ``g`` has a part in the
    null space: CG then diverges or stalls, and the gradient is meaningless. Checked on the CPU
    only (a host read there waits for nothing; elsewhere, and while tracing, no check)."""
    if g.device.type != "cpu" or not g.numel() or torch.compiler.is_compiling():
        return
    B = g.shape[0]
    gf, lf = g.reshape(B, -1), lam.reshape(B, -1)
    res = gf - normal._flat(lf, False)
    if isinstance(nd, torch.Tensor):
        res = res - (nd.reshape(-1, 1) if nd.dim() else nd) * lf
    elif nd != 0:
        res = res - nd * lf
    gn = torch.linalg.vector_norm(gf, dim=-1)
    bad = ~torch.isfinite(lf).all(-1) | (torch.linalg.vector_norm(res, dim=-1) > ADJOINT_WARN * gn)
    if bool(bad.any()):
        warnings.warn(
            "torchlops: the implicit=True backward's adjoint solve (N lam = g, N the forward's normal "
            f"matrix) left more than {ADJOINT_WARN:g} of the gradient's norm unexplained, or gave "
            "values that are not finite: the gradient is not reliable. A singular N (an operator with "
            "a null space, such as a Restriction or a wide matrix, with no damping or regularisation "
            "removing it) has no implicit gradient: use implicit=False (differentiation through the "
            "iterations) or damp > 0. Otherwise the solves stopped early: the adjoint asks for the "
            "forward's relative accuracy, so a tol that is loose for the size of the data, or too few "
            "iterations, gives an inaccurate gradient (lower tol, raise niter).",
            RuntimeWarning,
            stacklevel=2,
        )


def _aliased(*items: Any) -> tuple[list[torch.Tensor], list[torch.Tensor], dict[int, Any], list[LinearOperator]]:
    """Inputs of an implicit solve with their aliases: data-like tensors get a detached leaf
    (see :func:`~torchlops.optimization._implicit.alias`), operator tensors stand for themselves
    (the backward reads them through leaves of its own). Returns ``(inputs, aliases, {id(item): alias}, the operators)``."""
    ins: list[torch.Tensor] = []
    als: list[torch.Tensor] = []
    table: dict[int, Any] = {}
    mods: list[LinearOperator] = []
    seen: set[int] = set()
    for it in items:
        if isinstance(it, LinearOperator):
            mods.append(it)
            for t in op_tensors(it):
                if id(t) not in seen:
                    seen.add(id(t))
                    ins.append(t)
                    als.append(t)
        elif isinstance(it, torch.Tensor):
            a = table.setdefault(id(it), alias(it))
            if id(it) not in seen:
                seen.add(id(it))
                ins.append(it)
                als.append(a)
    return ins, als, table, mods


def _inputs(*items: Any) -> list[torch.Tensor]:
    """Tensors the solution depends on: tensors as they are, operators' grad-requiring tensors."""
    out: list[torch.Tensor] = []
    for it in items:
        if isinstance(it, LinearOperator):
            out += op_tensors(it)
        elif isinstance(it, torch.Tensor):
            out.append(it)
    seen: set[int] = set()
    return [t for t in out if not (id(t) in seen or seen.add(id(t)))]


def _with_x(solver: Any, xf: torch.Tensor) -> torch.Tensor:
    return xf.reshape(solver.xshape)


def cg(
    Op: LinearOperator,
    y: torch.Tensor,
    x0: torch.Tensor | None = None,
    niter: int = 10,
    damp: float = 0.0,
    tol: float = 1e-4,
    rtol: float = 0.0,
    rtol1: float = 0.0,
    show: bool = False,
    itershow: tuple[int, int, int] = (10, 10, 10),
    callback: Callable | None = None,
    preallocate: bool = False,
    *,
    implicit: bool = False,
    progress: bool = False,
) -> CGResult:
    r"""Conjugate gradient for :math:`(\mathbf{A} + \mathrm{damp}\,\mathbf{I})\mathbf{x} = \mathbf{y}`
    (``A`` square Hermitian positive definite), batched over the leading dims of ``y``.

    See :class:`~torchlops.optimization.cls_basic.CG` for the algorithm, the stopping rule
    (``tol`` on :math:`\|\mathbf{r}\|^2`, checked on the host every ``CHECK_EVERY`` steps on an
    accelerator, where ``tol=0`` runs ``niter`` steps with no host read; every step on the CPU)
    and the ``cost`` history. ``rtol`` /
    ``rtol1`` stop when the cost falls below ``rtol`` times the first cost / the data norm
    (host reads every step; on a batch each sample stops on its own test). ``implicit=True``: the backward solves
    :math:`(\mathbf{A}+\mathrm{damp}\,\mathbf{I})\boldsymbol{\lambda} = \mathbf{g}` once more.
    The positional order is PyLops'; ``preallocate`` has no effect; ``implicit`` and
    ``progress`` (a progress bar) are keyword-only.

    Examples
    --------
    >>> import torch, torchlops
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    >>> torchlops.optimization.basic.cg(D, torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64), niter=3, tol=0).x.round(decimals=8)
    tensor([1., 1., 1.], dtype=torch.float64)
    """
    niter, damp = _check(Op, niter, damp)
    solver = _make(CG, Op, callback, rtol, rtol1)
    if not use_implicit(implicit, Op):
        return CGResult(*solver.solve(y, x0=x0, niter=niter, damp=damp, tol=tol, show=show, itershow=itershow,
                                      progress=progress))

    def forward() -> tuple[torch.Tensor, Any]:
        solver.solve(y.detach(), x0=None if x0 is None else x0.detach(), niter=niter,
                     damp=damp.detach() if isinstance(damp, torch.Tensor) else damp, tol=tol, show=show,
                     itershow=itershow, progress=progress)
        return solver._last_x, solver

    _keep_last(solver)
    ins, als, table, mods = _aliased(y, damp, Op)
    yf_a = flatten_data(Op, table.get(id(y), y))[0]
    damp_a = table.get(id(damp), damp)

    def residual(x: torch.Tensor) -> torch.Tensor:
        return yf_a - Op._flat(x, False) - damp_a * x

    def rhs2() -> torch.Tensor:
        yd = flatten_data(Op, y.detach())[0]
        return (yd.abs() ** 2).sum(-1)

    xf, solver = _implicit(ins, forward, residual, Op, damp, niter, tol, als, rhs2, mods)
    return CGResult(_with_x(solver, xf), solver.iiter, solver.cost)


def _keep_last(solver: Any) -> None:
    """Record the flat final estimate of ``solver`` in ``solver._last_x`` after ``run``."""
    run = solver.run

    def wrapped(x: torch.Tensor, *a: Any, **k: Any) -> torch.Tensor:
        out = run(x, *a, **k)
        solver._last_x = solver._flatx(out)
        return out

    solver.run = wrapped


def _ls_implicit(solver: Any, Op: LinearOperator, y: torch.Tensor, x0: Any, damp: Any, niter: int, tol: float,
                 call: Callable, shift: bool = False) -> tuple[torch.Tensor, Any]:
    """Implicit path of the damped least-squares solvers (cgls, lsqr). ``shift``: the damping
    acts on ``x - x0`` (LSQR with a start, as scipy: min ||y - A x||^2 + damp^2 ||x - x0||^2),
    so ``x0`` gets a gradient too; else on ``x`` (CGLS: x0 is only where it starts)."""
    _keep_last(solver)

    def forward() -> tuple[torch.Tensor, Any]:
        call(y.detach(), None if x0 is None else x0.detach(), damp.detach() if isinstance(damp, torch.Tensor) else damp)
        return solver._last_x, solver

    shifted = shift and isinstance(x0, torch.Tensor)
    ins, als, table, mods = _aliased(y, damp, *((x0,) if shifted else ()), Op)
    yf_a = flatten_data(Op, table.get(id(y), y))[0]
    damp_a = table.get(id(damp), damp)
    x0_a = table.get(id(x0), x0) if shifted else None

    def residual(x: torch.Tensor) -> torch.Tensor:
        if x0_a is None:
            return Op._flat(yf_a - Op._flat(x, False), True) - damp_a**2 * x
        x0f = x0_a.reshape(-1, x.shape[-1]).to(x.dtype)  # (one start for all, or one per sample)
        return Op._flat(yf_a - Op._flat(x, False), True) - damp_a**2 * (x - x0f)

    def rhs2() -> torch.Tensor:  # ||A^H y||^2, the normal equations' right-hand side
        b = Op._flat(flatten_data(Op, y.detach())[0], True)
        return (b.abs() ** 2).sum(-1)

    return _implicit(ins, forward, residual, Op.H @ Op, damp**2, niter, tol, als, rhs2, mods)


def cgls(
    Op: LinearOperator,
    y: torch.Tensor,
    x0: torch.Tensor | None = None,
    niter: int = 10,
    damp: float = 0.0,
    tol: float = 1e-4,
    rtol: float = 0.0,
    rtol1: float = 0.0,
    show: bool = False,
    itershow: tuple[int, int, int] = (10, 10, 10),
    callback: Callable | None = None,
    preallocate: bool = False,
    *,
    implicit: bool = False,
    progress: bool = False,
) -> CGLSResult:
    r"""Conjugate gradient least squares, batched over the leading dims of ``y``.

    Solves :math:`\min_x \|\mathbf{y} - \mathbf{A}\mathbf{x}\|_2^2 + \epsilon^2 \|\mathbf{x}\|_2^2`
    (``damp`` = :math:`\epsilon`) for every sample of ``y`` of shape ``(*batch, *dimsd)``
    (or flat ``(*batch, M)``) at once, with per-sample step sizes; N-d data give an N-d model.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator.
    y : :obj:`torch.Tensor`
        Data.
    x0 : :obj:`torch.Tensor`, optional
        Initial guess (zero by default): one model or one per sample.
    niter : :obj:`int`, optional
        Number of iterations.
    damp : :obj:`float` or one-element :obj:`torch.Tensor`, optional
        Damping :math:`\epsilon`.
    tol : :obj:`float`, optional
        A sample stops when its squared normal-equation residual falls below ``tol``;
        checked on the host every ``CHECK_EVERY`` (10) iterations on an accelerator, where
        ``tol=0`` never reads a value on the host (fixed ``niter``), so the loop can be
        compiled or captured; every iteration on the CPU.
    show, callback : optional
        ``show`` logs a PyLops-style table; ``callback(x)`` is called after every iteration.
    itershow, rtol, rtol1 : optional
        Rows shown (first, last, every); relative stopping rules (as PyLops).
    preallocate : :obj:`bool`, optional
        Accepted for PyLops compatibility (no effect: torch allocates per step and caches).
    implicit : :obj:`bool`, optional
        Keyword-only. Differentiate implicitly (one more solve in the backward) instead of
        unrolling.
    progress : :obj:`bool`, optional
        Keyword-only. Show a progress bar (tqdm when installed, otherwise a log line every
        10 % of the iterations); reads no tensor.

    Returns
    -------
    x, istop, iiter, r1norm, r2norm, cost : :class:`CGLSResult`
        Estimate, per-sample stop code (1: tol reached, 2: niter, 3: callback), number of
        iterations, squared normal residual, damped residual norm, residual-norm history
        (``(iiter+1, *batch)``).

    Notes
    -----
    See :class:`~torchlops.optimization.cls_basic.CGLS`; unlike PyLops 2.8, a non-zero ``x0``
    with ``damp`` uses :math:`\epsilon^2` (not :math:`\epsilon`) in the first direction.

    Examples
    --------
    >>> import torch, torchlops
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    >>> torchlops.cgls(D, torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64), niter=3, tol=0).x.round(decimals=8)
    tensor([1., 1., 1.], dtype=torch.float64)
    """
    niter, damp = _check(Op, niter, damp)
    solver = _make(CGLS, Op, callback, rtol, rtol1)

    def call(yy: torch.Tensor, xx: Any, dd: Any) -> tuple:
        return solver.solve(yy, x0=xx, niter=niter, damp=dd, tol=tol, show=show, itershow=itershow,
                            progress=progress)

    if not use_implicit(implicit, Op):
        return CGLSResult(*call(y, x0, damp))
    xf, solver = _ls_implicit(solver, Op, y, x0, damp, niter, tol, call)
    return CGLSResult(_with_x(solver, xf), solver.istop, solver.iiter, solver.r1norm, solver.r2norm, solver.cost)


def lsqr(
    Op: LinearOperator,
    y: torch.Tensor,
    x0: torch.Tensor | None = None,
    damp: float = 0.0,
    atol: float = 1e-8,
    btol: float = 1e-8,
    conlim: float = 1e8,
    niter: int = 10,
    calc_var: bool = True,
    show: bool = False,
    itershow: tuple[int, int, int] = (10, 10, 10),
    callback: Callable | None = None,
    preallocate: bool = False,
    *,
    implicit: bool = False,
    progress: bool = False,
) -> LSQRResult:
    r"""LSQR (Paige and Saunders), batched over the leading dims of ``y``.

    Solves :math:`\min_x \|\mathbf{y} - \mathbf{A}\mathbf{x}\|_2^2 + \epsilon^2 \|\mathbf{x}\|_2^2`
    with the full set of stopping tests (``atol``, ``btol``, ``conlim``) per sample; see
    :class:`~torchlops.optimization.cls_basic.LSQR`. On an accelerator, with ``atol=btol=0`` the
    loop never reads the host, otherwise it checks whether every sample stopped every
    ``CHECK_EVERY`` steps; on the CPU it checks after every step. ``iiter`` is the number of loop
    steps (per-sample counts: ``LSQR.iiters``).
    ``implicit=True`` solves :math:`(\mathbf{A}^H\mathbf{A}+\epsilon^2\mathbf{I})\boldsymbol\lambda
    = \mathbf{g}` once more in the backward. The positional order is PyLops'; ``preallocate``
    has no effect; ``implicit`` and ``progress`` (a progress bar) are keyword-only.

    Returns
    -------
    x, istop, iiter, r1norm, r2norm, anorm, acond, arnorm, xnorm, var, cost : :class:`LSQRResult`

    Examples
    --------
    >>> import torch, torchlops
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    >>> torchlops.optimization.basic.lsqr(D, torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64), niter=3).istop
    tensor(1)
    """
    niter, damp = _check(Op, niter, damp)
    solver = _make(LSQR, Op, callback)

    def call(yy: torch.Tensor, xx: Any, dd: Any) -> tuple:
        return solver.solve(yy, x0=xx, damp=dd, atol=atol, btol=btol, conlim=conlim, niter=niter,
                            calc_var=calc_var, show=show, itershow=itershow, progress=progress)

    if not use_implicit(implicit, Op):
        return LSQRResult(*call(y, x0, damp))
    xf, solver = _ls_implicit(solver, Op, y, x0, damp, niter, 0.0, call, shift=True)
    s = solver
    return LSQRResult(_with_x(s, xf), s.istop, s.iiter, s.r1norm, s.r2norm, s.anorm, s.acond, s.arnorm, s.xnorm,
                      s.var, s.cost)
