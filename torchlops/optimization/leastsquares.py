r"""Least-squares inversions (PyLops ``pylops.optimization.leastsquares``), batched.

:func:`normal_equations_inversion` solves the regularised normal equations with :func:`cg`,
:func:`regularized_inversion` the stacked system with :func:`lsqr` (``engine="scipy"``, the
default, as PyLops) or :func:`cgls` (``engine="pylops"``), :func:`preconditioned_inversion`
the preconditioned system likewise. ``y`` may hold a batch of problems ``(*batch, *dimsd)``.
``implicit=True`` (normal equations and regularised inversion) differentiates the exact
solution with one more solve in the backward, giving gradients for ``y``, the dampings
(``epsI``, ``epsRs``, ``epsNRs`` as tensors), ``dataregs`` and every operator's learnable tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from torchlops.basicoperators import VStack
from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import flatten_data
from torchlops.optimization.basic import _implicit, _inputs, cg, cgls, lsqr

__all__ = ["RegularizedOperator", "normal_equations_inversion", "regularized_inversion", "preconditioned_inversion"]

_ENGINES = ("scipy", "pylops", "torch")


def _check_engine(engine: str) -> None:
    if engine not in _ENGINES:
        raise ValueError(f"engine must be one of {_ENGINES}, got {engine!r}")


def _check_regs(Regs: Sequence[Any] | None, dataregs: Sequence[Any] | None, epsRs: Sequence[Any] | None,
                name: str = "Regs") -> None:
    n = 0 if Regs is None else len(Regs)
    for other, oname in ((dataregs, "dataregs"), (epsRs, "epsRs")):
        if other is not None and len(other) != n:
            raise ValueError(f"{name}, dataregs and epsRs must have the same size: {name} has {n}, "
                             f"{oname} has {len(other)}")


def RegularizedOperator(Op: LinearOperator, Regs: Sequence[LinearOperator],
                        epsRs: Sequence[Any] = (1,)) -> LinearOperator:
    r"""Stack :math:`[\mathbf{Op}; \epsilon_1\mathbf{R}_1; \dots]` (``epsRs`` may be tensors, even
    learnable ones).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.leastsquares import RegularizedOperator
    >>> R = RegularizedOperator(torchlops.Identity(3), [torchlops.Identity(3)], [2.0])
    >>> R.shape
    (6, 3)
    """
    if len(Regs) != len(epsRs):
        raise ValueError(f"Regs and epsRs must have the same size, got {len(Regs)} and {len(epsRs)}")
    return VStack([Op] + [eps * Reg for eps, Reg in zip(epsRs, Regs, strict=True)], dtype=Op.dtype)


def _out(Op: LinearOperator, y: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
    return xf.reshape(flatten_data(Op, y)[2])


def _stats(Op: LinearOperator, y: torch.Tensor, stats: Sequence[Any]) -> list[Any]:
    """Per-sample statistics reshaped to the batch shape of ``y`` (``()`` for one problem)."""
    batch = tuple(Op._flat_data(y).shape[:-1])
    return [v.reshape(batch) if isinstance(v, torch.Tensor) else v for v in stats]


def _flatreg(R: LinearOperator, d: Any, B: int) -> torch.Tensor:
    return R._flat_data(d).reshape(-1, R.shape[0]).expand(B, R.shape[0])


def normal_equations_inversion(
    Op: LinearOperator, y: torch.Tensor, Regs: Sequence[LinearOperator] | None, x0: torch.Tensor | None = None,
    Weight: LinearOperator | None = None, dataregs: Sequence[torch.Tensor] | None = None, epsI: Any = 0.0,
    epsRs: Sequence[Any] | None = None, NRegs: Sequence[LinearOperator] | None = None,
    epsNRs: Sequence[Any] | None = None, engine: str = "scipy", show: bool = False, implicit: bool = False,
    **kwargs_solver: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Solve the regularised normal equations with :func:`~torchlops.optimization.basic.cg`.

    Notes
    -----
    .. math::
        \Big(\mathbf{Op}^H\mathbf{W}\mathbf{Op} + \sum_i \epsilon_{R_i}^2 \mathbf{R}_i^H\mathbf{R}_i
        + \sum_i \epsilon_{N_i}^2 \mathbf{N}_i + \epsilon_I^2\mathbf{I}\Big)\mathbf{x}
        = \mathbf{Op}^H\mathbf{W}\mathbf{y} + \sum_i \epsilon_{R_i}^2 \mathbf{R}_i^H \mathbf{y}_{R_i}

    Each CG step applies every operator forward and adjoint once. ``kwargs_solver`` go to
    :func:`cg` (``niter``, ``tol``, ...); ``engine`` is accepted for PyLops compatibility (all
    engines use the torch CG). ``istop`` per sample: 0 when :math:`\|\mathbf{r}\|^2 \le`
    ``tol``, else the number of iterations (scipy's convention); None for ``engine="pylops"``.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.leastsquares import normal_equations_inversion
    >>> Op = torchlops.Diagonal(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> normal_equations_inversion(Op, torch.tensor([1.0, 2.0], dtype=torch.float64), None, epsI=0.0)[0].round(decimals=8)
    tensor([1., 1.], dtype=torch.float64)
    """
    _check_engine(engine)
    _check_regs(Regs, dataregs, epsRs)
    _check_regs(NRegs, None, epsNRs, "NRegs")
    Regs, NRegs = list(Regs or []), list(NRegs or [])
    epsRs = list(epsRs) if epsRs is not None else [1.0] * len(Regs)
    epsNRs = list(epsNRs) if epsNRs is not None else [1.0] * len(NRegs)
    yf = flatten_data(Op, y)[0]
    B = yf.shape[0]
    dregs = [None] * len(Regs) if dataregs is None else list(dataregs)

    def rhs() -> torch.Tensor:
        b = Op._flat(yf if Weight is None else Weight._flat(yf, False), True)
        for eps, R, d in zip(epsRs, Regs, dregs, strict=True):
            if d is not None:
                b = b + eps**2 * R._flat(_flatreg(R, d, B), True)
        return b

    def normal(x: torch.Tensor) -> torch.Tensor:
        ax = Op._flat(x, False)
        out = Op._flat(ax if Weight is None else Weight._flat(ax, False), True) + epsI**2 * x
        for eps, R in zip(epsRs, Regs, strict=True):
            out = out + eps**2 * R._flat(R._flat(x, False), True)
        for eps, NR in zip(epsNRs, NRegs, strict=True):
            out = out + eps**2 * NR._flat(x, False)
        return out

    OpN = Op.H @ Op if Weight is None else Op.H @ Weight @ Op
    for eps, R in zip(epsRs, Regs, strict=True):
        OpN = OpN + (eps**2) * (R.H @ R)
    for eps, NR in zip(epsNRs, NRegs, strict=True):
        OpN = OpN + (eps**2) * NR
    niter, tol = kwargs_solver.get("niter", 10), kwargs_solver.get("tol", 1e-4)
    kw = dict(kwargs_solver)
    kw["damp"] = kw.get("damp", 0.0) + epsI**2
    if not implicit:
        res = cg(OpN, rhs(), x0=x0, show=show, **kw)
        x = res.x
    else:
        held: dict[str, Any] = {}

        def forward() -> tuple[torch.Tensor, Any]:
            with torch.no_grad():
                held["res"] = cg(OpN, rhs(), x0=None if x0 is None else x0.detach(), show=show,
                                 **{k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in kw.items()})
            return held["res"].x.reshape(B, -1), None

        items = [y, epsI, *epsRs, *epsNRs, *(d for d in dregs if d is not None), Op, Weight, *Regs, *NRegs]
        x = _implicit(_inputs(*items), forward, lambda x: rhs() - normal(x), OpN, kw["damp"], niter, tol)[0]
        res = held["res"]
    istop = None
    if engine != "pylops":
        conv = res.cost[-1].reshape(-1) ** 2 <= tol
        istop = torch.where(conv, 0, res.iiter).reshape(res.cost.shape[1:])
    return _out(Op, y, x), istop


def _stacked_data(Op: LinearOperator, y: torch.Tensor, Weight: Any, Regs: list, dataregs: list, epsRs: list):
    yf = flatten_data(Op, y)[0]
    B = yf.shape[0]
    parts = [yf if Weight is None else Weight._flat(yf, False)]
    for eps, R, d in zip(epsRs, Regs, dataregs, strict=True):
        parts.append(yf.new_zeros(B, R.shape[0]) if d is None else eps * _flatreg(R, d, B).to(yf.dtype))
    return yf, torch.cat(parts, dim=-1)


def _ls(engine: str, Op: LinearOperator, d: torch.Tensor, x0: Any, show: bool, implicit: bool, kw: dict) -> tuple:
    if engine == "pylops":
        r = cgls(Op, d, x0=x0, show=show, implicit=implicit, **kw)
    else:
        r = lsqr(Op, d, x0=x0, show=show, implicit=implicit, **kw)
    return r.x, r.istop, r.iiter, r.r1norm, r.r2norm


def regularized_inversion(
    Op: LinearOperator, y: torch.Tensor, Regs: Sequence[LinearOperator] | None, x0: torch.Tensor | None = None,
    Weight: LinearOperator | None = None, dataregs: Sequence[torch.Tensor] | None = None,
    epsRs: Sequence[Any] | None = None, engine: str = "scipy", show: bool = False, implicit: bool = False,
    **kwargs_solver: Any,
) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor, torch.Tensor]:
    r"""Solve the stacked regularised system with :func:`lsqr` (``engine="scipy"``) or :func:`cgls`.

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
    _check_engine(engine)
    _check_regs(Regs, dataregs, epsRs)
    Regs = list(Regs or [])
    epsRs = list(epsRs) if epsRs is not None else [1.0] * len(Regs)
    dregs = [None] * len(Regs) if dataregs is None else list(dataregs)
    WOp = Op if Weight is None else Weight @ Op
    RegOp = RegularizedOperator(WOp, Regs, epsRs) if Regs else WOp
    if not implicit:
        x, *rest = _ls(engine, RegOp, _stacked_data(Op, y, Weight, Regs, dregs, epsRs)[1], x0, show, False,
                       kwargs_solver)
        return (_out(Op, y, x), *_stats(Op, y, rest))
    held: dict[str, Any] = {}
    kw = dict(kwargs_solver)

    def forward() -> tuple[torch.Tensor, Any]:
        with torch.no_grad():
            d = _stacked_data(Op, y, Weight, Regs, dregs, epsRs)[1]
            held["res"] = _ls(engine, RegOp, d, None if x0 is None else x0.detach(), show, False, kw)
        return held["res"][0].reshape(d.shape[0], -1), None

    def residual(x: torch.Tensor) -> torch.Tensor:
        yf, d = _stacked_data(Op, y, Weight, Regs, dregs, epsRs)
        return RegOp._flat(d - RegOp._flat(x, False), True)

    items = [y, *epsRs, *(d for d in dregs if d is not None), Op, Weight, *Regs]
    x = _implicit(_inputs(*items), forward, residual, RegOp.H @ RegOp, 0.0, kw.get("niter", 10), 0.0)[0]
    return (_out(Op, y, x), *_stats(Op, y, held["res"][1:]))


def preconditioned_inversion(
    Op: LinearOperator, y: torch.Tensor, P: LinearOperator, x0: torch.Tensor | None = None, engine: str = "scipy",
    show: bool = False, **kwargs_solver: Any,
) -> tuple[torch.Tensor, torch.Tensor, int, torch.Tensor, torch.Tensor]:
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
    _check_engine(engine)
    if not isinstance(P, LinearOperator):
        raise TypeError(f"P must be a torchlops LinearOperator, got {type(P).__name__}")
    POp = Op @ P
    p, *rest = _ls(engine, POp, flatten_data(Op, y)[0], x0, show, False, kwargs_solver)
    x = P._flat(p.reshape(p.shape[0] if p.dim() > 1 else 1, -1), False)
    return (_out(Op, y, x), *_stats(Op, y, rest))
