r"""Sparsity-promoting solvers (function API): :func:`ista`, :func:`fista`, :func:`irls`,
:func:`omp`, :func:`splitbregman`.

Each function builds the solver class of :mod:`torchlops.optimization.cls_sparsity`, runs
it on every sample of ``y`` (shape ``(*batch, *dimsd)`` or flat ``(*batch, M)``) at once and
returns PyLops' results, in PyLops' order, as a named tuple. Costs are tensors of shape
``(iterations, *batch)``. Unlike PyLops, no :class:`CostNanInfCallback` is added by default
(it would read the host every step); ``rtol``/``rtol1`` add the cost-ratio callbacks.

The positional order of every function is PyLops 2.8's. ``engine`` picks the inner
least-squares solver of :func:`irls`, :func:`omp` and :func:`splitbregman` as in PyLops: LSQR
with scipy's arguments and stopping rule (``"scipy"``, the default) or
:func:`~torchlops.optimization.basic.cgls` (``"pylops"``), both batched on torch tensors.
``preallocate`` has no effect. ``progress=True`` (keyword-only) shows a progress bar over the (outer) iterations:
tqdm when it is installed, otherwise a log line every 10 %.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.optimization.callback import Callbacks, CostToDataCallback, CostToInitialCallback
from torchlops.optimization.cls_sparsity import FISTA, IRLS, ISTA, OMP, SplitBregman

__all__ = ["ista", "fista", "irls", "omp", "splitbregman", "ISTAResult", "IRLSResult", "OMPResult",
           "SplitBregmanResult"]


class ISTAResult(NamedTuple):
    """Result of :func:`ista` / :func:`fista`: model, iterations run, cost history."""

    x: torch.Tensor
    iiter: int
    cost: torch.Tensor


class IRLSResult(NamedTuple):
    """Result of :func:`irls`: model, outer iterations run."""

    x: torch.Tensor
    nouter: int


class OMPResult(NamedTuple):
    """Result of :func:`omp`: model, outer iterations run, residual-norm history."""

    x: torch.Tensor
    niter_outer: int
    cost: torch.Tensor


class SplitBregmanResult(NamedTuple):
    """Result of :func:`splitbregman`: model, outer iterations run, cost history."""

    x: torch.Tensor
    itn_out: int
    cost: torch.Tensor


def _callbacks(rtol: float, rtol1: float) -> list[Callbacks]:
    cbs: list[Callbacks] = []
    if rtol > 0.0:
        cbs.append(CostToInitialCallback(rtol))
    if rtol1 > 0.0:
        cbs.append(CostToDataCallback(rtol1))
    return cbs


def _make(cls: type, Op: LinearOperator, rtol: float, rtol1: float, callback: Callable | None) -> Any:
    solver = cls(Op, callbacks=_callbacks(rtol, rtol1))
    if callback is not None:
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        solver.callback = callback
    return solver


def ista(
    Op: LinearOperator,
    y: torch.Tensor,
    x0: torch.Tensor | None = None,
    niter: int = 10,
    SOp: LinearOperator | None = None,
    eps: float | torch.Tensor = 0.1,
    alpha: float | torch.Tensor | None = None,
    eigsdict: dict[str, Any] | None = None,
    tol: float = 1e-10,
    rtol: float = 0.0,
    rtol1: float = 0.0,
    threshkind: str = "soft",
    perc: float | None = None,
    decay: Any = None,
    monitorres: bool = False,
    show: bool = False,
    itershow: tuple[int, int, int] = (10, 10, 10),
    callback: Callable | None = None,
    preallocate: bool = False,
    *,
    progress: bool = False,
) -> ISTAResult:
    r"""Iterative shrinkage-thresholding algorithm (ISTA), batched.

    Minimises :math:`\frac{1}{2}\|\mathbf{y} - \mathbf{Op}\,\mathbf{x}\|_2^2 +
    \epsilon\|\mathbf{x}\|_p` (or :math:`\epsilon\|\mathbf{SOp}^H\mathbf{x}\|_p`) for every
    sample of ``y``; see :class:`torchlops.optimization.cls_sparsity.ISTA` for the algorithm.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator to invert.
    y : :obj:`torch.Tensor`
        Data, ``(*batch, *dimsd)`` or ``(*batch, M)``.
    x0 : :obj:`torch.Tensor`, optional
        Initial guess (zero by default), per sample or shared.
    niter : :obj:`int`, optional
        Number of iterations.
    SOp : :obj:`torchlops.LinearOperator`, optional
        Sparsifying transform (thresholding acts on :math:`\mathbf{SOp}^H\mathbf{x}`).
    eps : :obj:`float` or :obj:`torch.Tensor`, optional
        Sparsity weight (a tensor gives one per sample).
    alpha : :obj:`float` or :obj:`torch.Tensor`, optional
        Step size; :math:`1/\lambda_{max}(\mathbf{Op}^H\mathbf{Op})` when None: from Lanczos
        (up to 64 steps: PyLops' value on NumPy for models of up to 64 entries; on larger ones a
        Ritz value, which is below the largest eigenvalue, by a few 1e-4 relative where the top
        of the spectrum is clustered, as for derivative operators: the step is then as much
        longer than PyLops'; pass ``alpha`` for an exact one), or from a power iteration
        (differentiable) when ``eigsdict`` is given or the operator's tensors need a gradient.
    eigsdict : :obj:`dict`, optional
        Arguments of :func:`torchlops.optimization.eigs.power_iteration` for the step size
        (default ``niter=100, rtol=1e-6`` and a fixed seed): a power iteration instead of
        Lanczos.
    tol : :obj:`float`, optional
        A sample stops when its model update norm is at most ``tol``; ``tol=0`` gives a
        fixed ``niter`` loop without host reads.
    rtol, rtol1 : :obj:`float`, optional
        Stop when the cost falls below ``rtol`` times the first cost / ``rtol1`` times the
        data norm (host reads every step; on a batch each sample stops on its own test).
    threshkind : :obj:`str`, optional
        ``"soft"``, ``"hard"``, ``"half"``, ``"soft-percentile"``, ``"hard-percentile"`` or
        ``"half-percentile"``.
    perc : :obj:`float`, optional
        Percentage of entries kept by the percentile variants.
    decay : array-like or float, optional
        Factor of the threshold at each iteration (``niter`` values), or one factor for every
        iteration.
    monitorres : :obj:`bool`, optional
        Raise ``ValueError`` if a residual norm increases.
    show, itershow : optional
        Log the iteration table (sample 0) through ``logging``.
    callback : :obj:`callable`, optional
        ``callback(x)`` after every step.
    preallocate : :obj:`bool`, optional
        Accepted for PyLops compatibility (no effect).
    progress : :obj:`bool`, optional
        Keyword-only. Show a progress bar (tqdm if installed, else a log line every 10 %).

    Returns
    -------
    x, iiter, cost : :class:`ISTAResult`
        Estimate, iterations run, cost history ``(iiter, *batch)``.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.sparsity import ista
    >>> A = torchlops.MatrixMult(torch.eye(3, dtype=torch.float64))
    >>> ista(A, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), niter=5, eps=0.2, alpha=1.0).x
    tensor([0.0000, 0.9000, 0.0000], dtype=torch.float64)
    """
    solver = _make(ISTA, Op, rtol, rtol1, callback)
    return ISTAResult(*solver.solve(y, x0=x0, niter=niter, SOp=SOp, eps=eps, alpha=alpha, eigsdict=eigsdict,
                                    tol=tol, threshkind=threshkind, perc=perc, decay=decay,
                                    monitorres=monitorres, show=show, itershow=itershow,
                                    progress=progress))


def fista(
    Op: LinearOperator,
    y: torch.Tensor,
    x0: torch.Tensor | None = None,
    niter: int = 10,
    SOp: LinearOperator | None = None,
    eps: float | torch.Tensor = 0.1,
    alpha: float | torch.Tensor | None = None,
    eigsdict: dict[str, Any] | None = None,
    tol: float = 1e-10,
    rtol: float = 0.0,
    rtol1: float = 0.0,
    threshkind: str = "soft",
    perc: float | None = None,
    decay: Any = None,
    monitorres: bool = False,
    show: bool = False,
    itershow: tuple[int, int, int] = (10, 10, 10),
    callback: Callable | None = None,
    preallocate: bool = False,
    *,
    progress: bool = False,
) -> ISTAResult:
    r"""Fast iterative shrinkage-thresholding algorithm (FISTA), batched.

    Same arguments and returns as :func:`ista`; see
    :class:`torchlops.optimization.cls_sparsity.FISTA` for the algorithm. With ``tol=0``
    and a given ``alpha`` the solve reads nothing on the host, so it can be compiled with
    ``torch.compile(fullgraph=True)`` and differentiated by unrolling (gradients reach
    ``y``, ``eps``, ``alpha`` and the operator's parameters).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.sparsity import fista
    >>> A = torchlops.MatrixMult(torch.eye(3, dtype=torch.float64))
    >>> fista(A, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), niter=5, eps=0.2, alpha=1.0).x
    tensor([0.0000, 0.9000, 0.0000], dtype=torch.float64)
    """
    solver = _make(FISTA, Op, rtol, rtol1, callback)
    return ISTAResult(*solver.solve(y, x0=x0, niter=niter, SOp=SOp, eps=eps, alpha=alpha, eigsdict=eigsdict,
                                    tol=tol, threshkind=threshkind, perc=perc, decay=decay,
                                    monitorres=monitorres, show=show, itershow=itershow,
                                    progress=progress))


def irls(
    Op: LinearOperator,
    y: torch.Tensor,
    x0: torch.Tensor | None = None,
    nouter: int = 10,
    threshR: bool = False,
    epsR: float = 1e-10,
    epsI: float = 1e-10,
    tolIRLS: float = 1e-10,
    warm: bool = False,
    kind: str = "data",
    engine: str = "scipy",
    show: bool = False,
    itershow: tuple[int, int, int] = (10, 10, 10),
    callback: Callable | None = None,
    preallocate: bool = False,
    *,
    progress: bool = False,
    **kwargs_solver: Any,
) -> IRLSResult:
    r"""Iteratively reweighted least squares, batched.

    ``kind="data"`` minimises :math:`\|\mathbf{y} - \mathbf{Op}\,\mathbf{x}\|_1`,
    ``"model"`` minimises :math:`\|\mathbf{x}\|_1` s.t. :math:`\mathbf{y} = \mathbf{Op}\,\mathbf{x}`,
    ``"datamodel"`` the data problem augmented with :math:`\epsilon_I\mathbf{I}`; see
    :class:`torchlops.optimization.cls_sparsity.IRLS`. ``kwargs_solver`` go to the inner
    solver, as in PyLops: LSQR with scipy's arguments for ``engine="scipy"`` (``iter_lim`` or
    ``niter``, ``atol``, ``btol``), :func:`torchlops.optimization.basic.cgls` for
    ``engine="pylops"`` (``niter``, ``tol``).

    Returns
    -------
    x, nouter : :class:`IRLSResult`
        Estimate and outer iterations run.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.sparsity import irls
    >>> A = torchlops.MatrixMult(torch.ones(3, 1, dtype=torch.float64))
    >>> x, nouter = irls(A, torch.tensor([1.0, 1.0, 10.0], dtype=torch.float64), nouter=20, niter=10)
    >>> round(float(x[0]), 3)
    1.0
    """
    solver = _make(IRLS, Op, 0.0, 0.0, callback)
    return IRLSResult(*solver.solve(y, x0=x0, nouter=nouter, threshR=threshR, epsR=epsR, epsI=epsI,
                                    tolIRLS=tolIRLS, kind=kind, warm=warm, engine=engine, show=show,
                                    itershow=itershow, progress=progress, **kwargs_solver))


def omp(
    Op: LinearOperator,
    y: torch.Tensor,
    niter_outer: int = 10,
    niter_inner: int = 40,
    sigma: float = 1e-4,
    rtol: float = 0.0,
    rtol1: float = 0.0,
    normalizecols: bool = False,
    Opbasis: LinearOperator | None = None,
    optimal_coeff: bool = False,
    engine: str = "scipy",
    show: bool = False,
    itershow: tuple[int, int, int] = (10, 10, 10),
    callback: Callable | None = None,
    preallocate: bool = False,
    *,
    progress: bool = False,
) -> OMPResult:
    r"""Orthogonal matching pursuit (matching pursuit when ``niter_inner=0``), batched.

    Each sample selects its own columns (a ``(B, k)`` index tensor) and all samples are
    refitted at once; see :class:`torchlops.optimization.cls_sparsity.OMP`. ``callback`` is
    called as in PyLops, ``callback(x, cols)`` after every step, with the dense model ``x``
    (PyLops passes the selected coefficients) and the selected column indices.

    Returns
    -------
    x, niter_outer, cost : :class:`OMPResult`
        Estimate, outer iterations run, residual norms ``(niter_outer + 1, *batch)``.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.sparsity import omp
    >>> A = torchlops.MatrixMult(torch.eye(4, dtype=torch.float64))
    >>> omp(A, torch.tensor([0.0, 3.0, 0.0, 1.0], dtype=torch.float64)).x.round(decimals=8)
    tensor([0., 3., 0., 1.], dtype=torch.float64)
    """
    solver = _make(OMP, Op, rtol, rtol1, callback)
    return OMPResult(*solver.solve(y, niter_outer=niter_outer, niter_inner=niter_inner, sigma=sigma,
                                   normalizecols=normalizecols, Opbasis=Opbasis, optimal_coeff=optimal_coeff,
                                   engine=engine, show=show, itershow=itershow, progress=progress))


def splitbregman(
    Op: LinearOperator,
    y: torch.Tensor,
    RegsL1: Sequence[LinearOperator],
    x0: torch.Tensor | None = None,
    niter_outer: int = 3,
    niter_inner: int = 5,
    RegsL2: Sequence[LinearOperator] | None = None,
    dataregsL2: Sequence[torch.Tensor] | None = None,
    mu: float = 1.0,
    epsRL1s: Sequence[float] | None = None,
    epsRL2s: Sequence[float] | None = None,
    tol: float = 1e-10,
    rtol: float = 0.0,
    rtol1: float = 0.0,
    tau: float = 1.0,
    restart: bool = False,
    engine: str = "scipy",
    show: bool = False,
    itershow: tuple[int, int, int] = (10, 10, 10),
    show_inner: bool = False,
    callback: Callable | None = None,
    preallocate: bool = False,
    *,
    progress: bool = False,
    **kwargs_lsqr: Any,
) -> SplitBregmanResult:
    r"""Split Bregman for mixed L2-L1 problems, batched; see
    :class:`torchlops.optimization.cls_sparsity.SplitBregman`. ``kwargs_lsqr`` go to the inner
    least-squares solve as in PyLops: scipy's ``lsqr`` arguments (``iter_lim``/``niter``,
    ``atol``, ``btol``, ``damp``) to the scipy-style LSQR with the default ``engine="scipy"``,
    cgls' (``niter``, ``damp``; its default ``tol=1e-4``: ``tol`` here is the outer tolerance)
    with ``engine="pylops"``.

    Returns
    -------
    x, itn_out, cost : :class:`SplitBregmanResult`
        Estimate, outer iterations run, cost history ``(itn_out, *batch)``.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.sparsity import splitbregman
    >>> I = torchlops.Identity(4, dtype=torch.float64)
    >>> y = torch.tensor([0.0, 2.0, 0.0, 0.0], dtype=torch.float64)
    >>> splitbregman(I, y, [I], epsRL1s=[0.1], niter_outer=20, niter_inner=2, niter=5, tol=0).x.round(decimals=2)
    tensor([0.0000, 1.9900, 0.0000, 0.0000], dtype=torch.float64)
    """
    solver = _make(SplitBregman, Op, rtol, rtol1, callback)
    return SplitBregmanResult(*solver.solve(y, RegsL1, x0=x0, niter_outer=niter_outer, niter_inner=niter_inner,
                                            RegsL2=RegsL2, dataregsL2=dataregsL2, mu=mu, epsRL1s=epsRL1s,
                                            epsRL2s=epsRL2s, tol=tol, tau=tau, restart=restart, engine=engine,
                                            show=show, itershow=itershow, show_inner=show_inner,
                                            progress=progress, **kwargs_lsqr))
