r"""Least-squares inversions as solver classes (PyLops ``cls_leastsquares``), batched.

:class:`NormalEquationsInversion` solves the regularised normal equations with the batched
:class:`~torchlops.optimization.cls_basic.CG`; :class:`RegularizedInversion` the stacked system
and :class:`PreconditionedInversion` the preconditioned system with
:func:`~torchlops.optimization.basic.lsqr` (``engine="scipy"``, the default, as PyLops) or
:func:`~torchlops.optimization.basic.cgls` (``engine="pylops"``). ``y`` may hold a batch of
problems ``(*batch, *dimsd)``. The three wrap a complete inner solve, so they have no
``step`` (it raises ``TypeError``, as PyLops raises ``NotImplementedError``): use ``run`` or
``solve``. ``implicit=True`` (keyword-only, normal equations and regularised inversion)
differentiates the exact solution with one more solve in the backward.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from torchlops.basicoperators import Identity, VStack
from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import count_arg, flatten_data, is_zero
from torchlops.optimization._implicit import use_implicit
from torchlops.optimization.basesolver import Solver
from torchlops.optimization.basic import _aliased, _implicit, _make, cgls
from torchlops.optimization.cls_basic import CG, _ScipyLSQR

__all__ = ["RegularizedOperator", "NormalEquationsInversion", "RegularizedInversion", "PreconditionedInversion"]

_ENGINES = ("scipy", "pylops")


def _check_engine(engine: str) -> None:
    if engine not in _ENGINES:
        raise ValueError(f"engine must be one of {_ENGINES}, got {engine!r}")


def _check_regs(Regs: Sequence[Any] | None, dataregs: Sequence[Any] | None, epsRs: Sequence[Any] | None,
                name: str = "Regs", epsname: str = "epsRs") -> tuple[Sequence[Any] | None, Sequence[Any] | None]:
    """Check the regularisation terms; returns ``(dataregs, epsRs)``, both None without ``Regs``
    (weights and data given for no regularisation are ignored, as PyLops)."""
    if Regs is None:
        return None, None
    if isinstance(Regs, LinearOperator | str) or not isinstance(Regs, Sequence | nn.ModuleList):
        raise TypeError(f"{name} must be a list of torchlops operators (one operator: [R]), "
                        f"got {type(Regs).__name__}")
    for R in Regs:
        if not isinstance(R, LinearOperator):
            raise TypeError(f"{name} must hold torchlops operators, got a {type(R).__name__}")
    n = len(Regs)
    for other, oname in ((dataregs, "dataregs"), (epsRs, epsname)):
        if other is not None and len(other) != n:
            what = f"{name}, dataregs and {epsname}" if dataregs is not None else f"{name} and {epsname}"
            raise ValueError(f"{what} must have the same size: {name} has {n}, {oname} has {len(other)}")
    return dataregs, epsRs


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
    return R._flat_data(d, "the data of a regularisation (dataregs)").reshape(-1, R.shape[0]).expand(B, R.shape[0])


def _detach(v: Any) -> Any:
    return v.detach() if isinstance(v, torch.Tensor) else v


def _scipy_lsqr_kwargs(Op: LinearOperator, kw: dict) -> dict:
    """The arguments of the LSQR that stands for scipy's ``lsqr`` (PyLops' ``engine="scipy"``):
    scipy's names and defaults (``iter_lim`` = 2 x the number of columns, ``atol`` = ``btol`` =
    1e-6, no variance); ``niter`` is accepted for ``iter_lim``."""
    kw = dict(kw)
    if "tol" in kw:
        raise TypeError("engine='scipy' (scipy's lsqr) takes iter_lim (or niter), atol and btol, not tol: "
                        "tol is cgls' argument (engine='pylops')")
    if "iter_lim" in kw and "niter" in kw:
        raise TypeError("iter_lim and niter both give the iteration limit: pass one of them")
    lim = kw.pop("iter_lim", kw.pop("niter", None))
    kw["niter"] = 2 * Op.shape[1] if lim is None else count_arg(lim, "niter (iter_lim)")
    kw.setdefault("atol", 1e-6)
    kw.setdefault("btol", 1e-6)
    kw.setdefault("calc_var", False)
    return kw


def _ls(engine: str, Op: LinearOperator, d: torch.Tensor, x0: Any, show: bool, progress: bool, kw: dict) -> tuple:
    if engine == "pylops":
        r = cgls(Op, d, x0=x0, show=show, progress=progress, **kw)
        return r.x, r.istop, r.iiter, r.r1norm, r.r2norm
    kw = _scipy_lsqr_kwargs(Op, kw)
    solver = _make(_ScipyLSQR, Op, kw.pop("callback", None))
    x, istop, itn, r1norm, r2norm = solver.solve(d, x0=x0, show=show, progress=progress, **kw)[:5]
    return x, istop, itn, r1norm, r2norm


def _scipy_cg_kwargs(kw: dict, b: torch.Tensor) -> tuple[dict, float]:
    r"""The CG arguments that stand for scipy's ``cg`` (PyLops' ``engine="scipy"``), and ``rtol``.

    scipy stops when :math:`\|\mathbf{r}\| < \max(\mathrm{rtol}\,\|\mathbf{b}\|, \mathrm{atol})`
    (``rtol`` 1e-5, ``atol`` 0) or after ``maxiter`` (10 x the size) steps; PyLops passes its
    ``tol`` as ``atol``. Here that bound becomes a per-sample tolerance on
    :math:`\|\mathbf{r}\|^2` for the batched CG; ``niter`` is accepted for ``maxiter``."""
    kw = dict(kw)
    if kw.pop("M", None) is not None:
        raise TypeError("M (a preconditioner of scipy's cg) is not supported: use preconditioned_inversion")
    for ours, theirs in (("tol", "atol"), ("niter", "maxiter")):
        if ours in kw and theirs in kw:
            raise TypeError(f"{ours} and {theirs} name the same setting here: pass one of them")
    rtol = float(kw.pop("rtol", 1e-5))
    atol = kw.pop("atol", kw.pop("tol", 0.0))
    maxiter = kw.pop("maxiter", kw.pop("niter", None))
    bnorm = torch.linalg.vector_norm(b.detach(), dim=-1)
    kw["tol"] = torch.clamp(rtol * bnorm, min=float(atol)) ** 2
    kw["niter"] = 10 * b.shape[-1] if maxiter is None else count_arg(maxiter, "niter")
    return kw, rtol



def _swapping(solver: Any, table: dict[int, Any], names: Sequence[str], fn: Callable) -> Callable:
    """``fn`` evaluated with the solver's data-like attributes replaced by their implicit aliases."""

    def sub(v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            return type(v)(sub(u) for u in v)
        return table.get(id(v), v) if isinstance(v, torch.Tensor) else v

    def residual(x: torch.Tensor) -> torch.Tensor:
        old = {k: getattr(solver, k) for k in names}
        for k, v in old.items():
            setattr(solver, k, sub(v))
        try:
            return fn(x)
        finally:
            for k, v in old.items():
                setattr(solver, k, v)

    return residual

class _NoStep(Solver):
    """Shared parts: no ``step``; ``finalize`` records the time."""

    def step(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} wraps a complete inner solve and has no step: use run or solve")

    def _begin(self, y: torch.Tensor) -> None:
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
        self.y, self.iiter = y, 0
        self.yf, self.batch = flatten_data(self.Op, y)[:2]
        self.B = self.yf.shape[0]

    def _batched(self, d: torch.Tensor) -> torch.Tensor:
        """``(B, n)`` as ``(*batch, n)``: the inner solve sees the batch of ``y`` (its callbacks
        get one model per problem, ``(n,)`` for one ``y``, and its cost ``(niter + 1, *batch)``)."""
        return d.reshape(*self.batch, d.shape[-1])


class _RegsMemory:
    """PyLops' ``memory_usage(nopRegs, show, unit)`` signature of the regularised solvers."""

    def memory_usage(self, nopRegs: Any = None, show: bool = False, unit: str = "B") -> float:
        """Bytes held by the solver's state tensors, in ``unit`` (``nopRegs``, PyLops' count of
        the regularisers' data elements for its estimate, is accepted and not needed: the
        tensors held are measured)."""
        return Solver.memory_usage(self, show=show, unit=unit)


class NormalEquationsInversion(_RegsMemory, _NoStep):
    r"""Regularised inversion through the normal equations, solved with the batched CG.

    Notes
    -----
    .. math::
        \Big(\mathbf{Op}^H\mathbf{W}\mathbf{Op} + \sum_i \epsilon_{R_i}^2 \mathbf{R}_i^H\mathbf{R}_i
        + \sum_i \epsilon_{N_i}^2 \mathbf{N}_i + \epsilon_I^2\mathbf{I}\Big)\mathbf{x}
        = \mathbf{Op}^H\mathbf{W}\mathbf{y} + \sum_i \epsilon_{R_i}^2 \mathbf{R}_i^H \mathbf{y}_{R_i}

    ``epsRs`` / ``epsNRs`` default to 1 for every ``Regs`` / ``NRegs`` term (PyLops 2.8 drops the
    ``NRegs`` when ``epsNRs`` is None).

    ``setup`` builds ``Op_normal`` and ``y_normal`` (one adjoint pass of every operator); each
    CG step applies every operator forward and adjoint once. Both engines run the batched torch
    CG: ``engine="scipy"`` (PyLops' default) with scipy ``cg``'s arguments and stopping rule
    (``rtol`` 1e-5, ``atol`` 0 (PyLops passes ``tol`` as ``atol``), ``maxiter`` 10 x the size,
    ``niter`` taken for ``maxiter``) and its ``istop`` per sample: 0 when it stopped before
    ``maxiter``, else ``maxiter``; ``engine="pylops"`` with :func:`cg`'s (``niter``, ``tol`` on
    :math:`\|\mathbf{r}\|^2`) and ``istop`` None.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_leastsquares import NormalEquationsInversion
    >>> Op = torchlops.Diagonal(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> y = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> NormalEquationsInversion(Op).solve(y, None)[0].round(decimals=8)
    tensor([1., 1.], dtype=torch.float64)
    """

    def setup(self, y: torch.Tensor, Regs: Sequence[LinearOperator] | None, Weight: LinearOperator | None = None,
              dataregs: Sequence[torch.Tensor] | None = None, epsI: Any = 0.0, epsRs: Sequence[Any] | None = None,
              NRegs: Sequence[LinearOperator] | None = None, epsNRs: Sequence[Any] | None = None,
              show: bool = False) -> None:
        """Build the normal operator ``Op_normal`` and right-hand side ``y_normal``."""
        dataregs, epsRs = _check_regs(Regs, dataregs, epsRs)
        epsNRs = _check_regs(NRegs, None, epsNRs, "NRegs", "epsNRs")[1]
        self._begin(y)
        self.Regs, self.NRegs = list(Regs or []), list(NRegs or [])
        self.epsRs = list(epsRs) if epsRs is not None else [1.0] * len(self.Regs)
        self.epsNRs = list(epsNRs) if epsNRs is not None else [1.0] * len(self.NRegs)
        self.dataregs = [None] * len(self.Regs) if dataregs is None else list(dataregs)
        self.Weight, self.epsI = Weight, epsI
        Op = self.Op
        OpN = Op.H @ Op if Weight is None else Op.H @ Weight @ Op
        for eps, R in zip(self.epsRs, self.Regs, strict=True):
            OpN = OpN + (eps**2) * (R.H @ R)
        for eps, NR in zip(self.epsNRs, self.NRegs, strict=True):
            OpN = OpN + (eps**2) * NR
        self._OpN = OpN  # (epsI^2 I is CG's damping, not a term of this operator)
        self.y_normal = self._rhs()
        if show:
            self._print_solver(f" (epsI = {float(epsI):.2e}, {len(self.Regs)} Regs, {len(self.NRegs)} NRegs)")

    @property
    def Op_normal(self) -> LinearOperator:
        r"""The normal operator :math:`\mathbf{Op}^H\mathbf{W}\mathbf{Op} + \sum \epsilon_R^2
        \mathbf{R}^H\mathbf{R} + \sum \epsilon_{NR}^2 \mathbf{NR} + \epsilon_I^2\mathbf{I}` as PyLops'
        (the solve adds :math:`\epsilon_I^2` as CG's damping instead of a pass of its own)."""
        OpN = self._OpN
        eI = self.epsI
        if isinstance(eI, torch.Tensor) or eI != 0:
            OpN = OpN + (eI**2) * Identity(OpN.shape[1], dtype=OpN.dtype)
        return OpN

    @property
    def OpH(self) -> LinearOperator:
        """``Op.H`` (PyLops' attribute)."""
        return self.Op.H

    def _rhs(self) -> torch.Tensor:
        Op, yf = self.Op, flatten_data(self.Op, self.y)[0]  # from the live y (implicit backward)
        b = Op._flat(yf if self.Weight is None else self.Weight._flat(yf, False), True)
        for eps, R, d in zip(self.epsRs, self.Regs, self.dataregs, strict=True):
            if d is not None:
                b = b + eps**2 * R._flat(_flatreg(R, d, self.B), True)
        return b

    def _normal(self, x: torch.Tensor) -> torch.Tensor:
        Op = self.Op
        ax = Op._flat(x, False)
        out = Op._flat(ax if self.Weight is None else self.Weight._flat(ax, False), True) + self.epsI**2 * x
        for eps, R in zip(self.epsRs, self.Regs, strict=True):
            out = out + eps**2 * R._flat(R._flat(x, False), True)
        for eps, NR in zip(self.epsNRs, self.NRegs, strict=True):
            out = out + eps**2 * NR._flat(x, False)
        return out

    def run(self, x: torch.Tensor | None, engine: str = "scipy", show: bool = False, *, implicit: bool = False,
            progress: bool = False, **kwargs_solver: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Solve with CG from ``x`` (zero when None); returns ``(xinv, istop)``."""
        _check_engine(engine)
        if engine == "pylops":
            kw, adj_tol = dict(kwargs_solver), kwargs_solver.get("tol", 1e-4)
        else:
            kw, rtol = _scipy_cg_kwargs(kwargs_solver, self.y_normal)

            # the backward's solve: scipy's relative bound on its own right-hand side
            def adj_tol(g: torch.Tensor) -> torch.Tensor:
                return (rtol * torch.linalg.vector_norm(g, dim=-1)) ** 2

        niter = kw.get("niter", 10)
        kw["damp"] = kw.get("damp", 0.0) + self.epsI**2
        solver = _make(CG, self._OpN, kw.pop("callback", None), kw.pop("rtol", 0.0), kw.pop("rtol1", 0.0))
        solver._signed = engine != "pylops"  # (scipy's cg: p^H A p with its sign)
        if not use_implicit(implicit, self._OpN):
            xf = solver.solve(self._batched(self.y_normal), x0=x, show=show, progress=progress, **kw)[0]
        else:

            def forward() -> tuple[torch.Tensor, Any]:
                with torch.no_grad():
                    xs = solver.solve(self._batched(self.y_normal.detach()), x0=_detach(x), show=show,
                                      progress=progress,
                                      **{k: _detach(v) for k, v in kw.items()})[0]
                return xs.reshape(self.B, self.Op.shape[1]), None

            # (cg's own damp, added to epsI^2 on the diagonal: a tensor gets its gradient too)
            damp = kwargs_solver.get("damp", 0.0)
            items = [self.y, self.epsI, *self.epsRs, *self.epsNRs, *(d for d in self.dataregs if d is not None),
                     *((damp,) if isinstance(damp, torch.Tensor) else ()),
                     self.Op, self.Weight, *self.Regs, *self.NRegs]
            ins, als, table, mods = _aliased(*items)
            damp_a = table.get(id(damp), damp)

            def normal_residual(v: torch.Tensor) -> torch.Tensor:
                r = self._rhs() - self._normal(v)
                return r if is_zero(damp) else r - damp_a * v

            residual = _swapping(self, table, ("y", "epsI", "epsRs", "epsNRs", "dataregs"), normal_residual)
            def rhs2() -> torch.Tensor:
                return (self.y_normal.detach().reshape(self.B, self.Op.shape[1]).abs() ** 2).sum(-1)

            xf = _implicit(ins, forward, residual, self._OpN, kw["damp"], niter, adj_tol, als,
                           None if callable(adj_tol) else rhs2, mods, signed=solver._signed)[0]
        self.iiter, self.cost = solver.iiter, solver.cost
        istop = None
        if engine != "pylops":  # scipy's info: 0 when it stopped before maxiter, else maxiter
            istop = torch.where(solver.iiters < niter, 0, niter)
            zero = torch.linalg.vector_norm(self.y_normal.detach(), dim=-1) == 0
            if x is not None:  # scipy's cg returns b itself (zeros) when b = 0, whatever x0
                xf = torch.where(zero.unsqueeze(-1), 0.0, xf.reshape(self.B, self.Op.shape[1]))
                istop = torch.where(zero, 0, istop)
            istop = _stats(self.Op, self.y, [istop])[0]
        return _out(self.Op, self.y, xf), istop

    def solve(self, y: torch.Tensor, Regs: Sequence[LinearOperator] | None, x0: torch.Tensor | None = None,
              Weight: LinearOperator | None = None, dataregs: Sequence[torch.Tensor] | None = None,
              epsI: Any = 0.0, epsRs: Sequence[Any] | None = None, NRegs: Sequence[LinearOperator] | None = None,
              epsNRs: Sequence[Any] | None = None, engine: str = "scipy", show: bool = False, *,
              implicit: bool = False, progress: bool = False,
              **kwargs_solver: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``setup`` + ``run`` + ``finalize``; returns ``(xinv, istop)`` like PyLops."""
        self.setup(y, Regs, Weight=Weight, dataregs=dataregs, epsI=epsI, epsRs=epsRs, NRegs=NRegs, epsNRs=epsNRs,
                   show=show)
        out = self.run(x0, engine=engine, show=show, implicit=implicit, progress=progress, **kwargs_solver)
        self.finalize(show)
        return out


class RegularizedInversion(_RegsMemory, _NoStep):
    r"""Regularised inversion of the stacked system, solved with LSQR (``engine="scipy"``) or CGLS.

    Notes
    -----
    .. math::
        \begin{bmatrix} \mathbf{W}^{1/2}\mathbf{Op} \\ \epsilon_{R_1}\mathbf{R}_1 \\ \vdots
        \end{bmatrix}\mathbf{x} = \begin{bmatrix} \mathbf{W}^{1/2}\mathbf{y} \\
        \epsilon_{R_1}\mathbf{y}_{R_1} \\ \vdots \end{bmatrix}

    (``Weight`` is :math:`\mathbf{W}^{1/2}`); ``setup`` builds ``RegOp`` and ``datatot``.
    ``run`` returns ``(xinv, istop, itn, r1norm, r2norm)``.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_leastsquares import RegularizedInversion
    >>> Op = torchlops.Diagonal(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> y = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> RegularizedInversion(Op).solve(y, None, niter=2)[0].round(decimals=8)
    tensor([1., 1.], dtype=torch.float64)
    """

    def setup(self, y: torch.Tensor, Regs: Sequence[LinearOperator] | None, Weight: LinearOperator | None = None,
              dataregs: Sequence[torch.Tensor] | None = None, epsRs: Sequence[Any] | None = None,
              show: bool = False) -> None:
        """Build the stacked operator ``RegOp`` and data ``datatot``."""
        dataregs, epsRs = _check_regs(Regs, dataregs, epsRs)
        self._begin(y)
        self.Regs = list(Regs or [])
        self.epsRs = list(epsRs) if epsRs is not None else [1.0] * len(self.Regs)
        self.dataregs = [None] * len(self.Regs) if dataregs is None else list(dataregs)
        self.Weight = Weight
        WOp = self.Op if Weight is None else Weight @ self.Op
        self.RegOp = RegularizedOperator(WOp, self.Regs, self.epsRs) if self.Regs else WOp
        self.datatot = self._stacked()
        if show:
            self._print_solver(f" ({len(self.Regs)} Regs)")

    def _stacked(self) -> torch.Tensor:
        yf, B = flatten_data(self.Op, self.y)[0], self.B  # from the live y (implicit backward)
        parts = [yf if self.Weight is None else self.Weight._flat(yf, False)]
        for eps, R, d in zip(self.epsRs, self.Regs, self.dataregs, strict=True):
            parts.append(yf.new_zeros(B, R.shape[0]) if d is None else eps * _flatreg(R, d, B))
        # (torch.cat promotes: complex dataregs of a real problem make the stacked data complex,
        # as in normal_equations_inversion, where a cast to y's dtype dropped their imaginary part)
        return torch.cat(parts, dim=-1)

    def run(self, x: torch.Tensor | None, engine: str = "scipy", show: bool = False, *, implicit: bool = False,
            progress: bool = False, **kwargs_solver: Any) -> tuple:
        """Solve from ``x`` (zero when None); returns ``(xinv, istop, itn, r1norm, r2norm)``."""
        _check_engine(engine)
        if not use_implicit(implicit, self.RegOp):
            xf, *rest = _ls(engine, self.RegOp, self._batched(self.datatot), x, show, progress, kwargs_solver)
        else:
            held: dict[str, Any] = {}

            def forward() -> tuple[torch.Tensor, Any]:
                with torch.no_grad():
                    d = self._batched(self.datatot.detach())
                    held["res"] = _ls(engine, self.RegOp, d, _detach(x), show, progress, kwargs_solver)
                return held["res"][0].reshape(self.B, self.Op.shape[1]), None

            # the solve's own damping (lsqr's / cgls' damp) enters the normal equations as damp^2;
            # scipy's lsqr from x0 damps x - x0 (cgls damps x: x0 is only where it starts)
            damp = kwargs_solver.get("damp", 0.0)
            shifted = engine != "pylops" and isinstance(x, torch.Tensor) and not is_zero(damp)
            items = [self.y, *self.epsRs, *(d for d in self.dataregs if d is not None),
                     *((damp,) if isinstance(damp, torch.Tensor) else ()), *((x,) if shifted else ()),
                     self.Op, self.Weight, *self.Regs, self.RegOp]
            ins, als, table, mods = _aliased(*items)
            d2 = damp * damp
            if isinstance(d2, torch.Tensor):
                d2 = d2.detach()
            damp_a = table.get(id(damp), damp)  # (its alias: damp gets its gradient too)
            x0_a = table.get(id(x), x) if shifted else None

            def normal_residual(v: torch.Tensor) -> torch.Tensor:
                r = self.RegOp._flat(self._stacked() - self.RegOp._flat(v, False), True)
                if is_zero(d2):
                    return r
                if x0_a is None:
                    return r - damp_a * damp_a * v
                return r - damp_a * damp_a * (v - x0_a.reshape(-1, v.shape[-1]).to(v.dtype))

            residual = _swapping(self, table, ("y", "epsRs", "dataregs"), normal_residual)
            niter = (_scipy_lsqr_kwargs(self.RegOp, kwargs_solver)["niter"] if engine != "pylops"
                     else kwargs_solver.get("niter", 10))
            xf = _implicit(ins, forward, residual, self.RegOp.H @ self.RegOp, d2, niter, 0.0, als, modules=mods)[0]
            rest = list(held["res"][1:])
        self.iiter = rest[1]
        return (_out(self.Op, self.y, xf), *_stats(self.Op, self.y, rest))

    def solve(self, y: torch.Tensor, Regs: Sequence[LinearOperator] | None, x0: torch.Tensor | None = None,
              Weight: LinearOperator | None = None, dataregs: Sequence[torch.Tensor] | None = None,
              epsRs: Sequence[Any] | None = None, engine: str = "scipy", show: bool = False, *,
              implicit: bool = False, progress: bool = False, **kwargs_solver: Any) -> tuple:
        """``setup`` + ``run`` + ``finalize``; returns ``(xinv, istop, itn, r1norm, r2norm)``."""
        self.setup(y, Regs, Weight=Weight, dataregs=dataregs, epsRs=epsRs, show=show)
        out = self.run(x0, engine=engine, show=show, implicit=implicit, progress=progress, **kwargs_solver)
        self.finalize(show)
        return out


class PreconditionedInversion(_NoStep):
    r"""Preconditioned inversion :math:`\min_\mathbf{p}\|\mathbf{y} - \mathbf{Op}\,\mathbf{P}\mathbf{p}\|_2^2`,
    :math:`\mathbf{x} = \mathbf{P}\mathbf{p}`, solved with LSQR (``engine="scipy"``) or CGLS.

    ``run``'s ``x`` is the starting ``p`` (as PyLops); ``run`` returns
    ``(xinv, istop, itn, r1norm, r2norm)``. Each iteration applies ``Op`` and ``P`` forward and
    adjoint once, and ``P`` once more at the end.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_leastsquares import PreconditionedInversion
    >>> Op = torchlops.Diagonal(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> y = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> PreconditionedInversion(Op).solve(y, torchlops.Identity(2))[0].round(decimals=8)
    tensor([1., 1.], dtype=torch.float64)
    """

    def setup(self, y: torch.Tensor, P: LinearOperator, show: bool = False) -> None:
        """Build ``POp = Op @ P``."""
        if not isinstance(P, LinearOperator):
            raise TypeError(f"P must be a torchlops LinearOperator, got {type(P).__name__}")
        self._begin(y)
        self.P, self.POp = P, self.Op @ P
        if show:
            self._print_solver(" (P = " + type(P).__name__ + ")")

    def run(self, x: torch.Tensor | None, engine: str = "scipy", show: bool = False, *, progress: bool = False,
            **kwargs_solver: Any) -> tuple:
        """Solve for ``p`` from ``x`` (zero when None); returns ``(P p, istop, itn, r1norm, r2norm)``."""
        _check_engine(engine)
        p, *rest = _ls(engine, self.POp, self._batched(self.yf), x, show, progress, kwargs_solver)
        self.iiter = rest[1]
        # (explicit sizes, not -1: an empty batch has nothing to infer them from)
        xf = self.P._flat(p.reshape(self.B, self.P.shape[1]), False)
        return (_out(self.Op, self.y, xf), *_stats(self.Op, self.y, rest))

    def solve(self, y: torch.Tensor, P: LinearOperator, x0: torch.Tensor | None = None, engine: str = "scipy",
              show: bool = False, *, progress: bool = False, **kwargs_solver: Any) -> tuple:
        """``setup`` + ``run`` + ``finalize``; returns ``(xinv, istop, itn, r1norm, r2norm)``."""
        self.setup(y, P, show=show)
        out = self.run(x0, engine=engine, show=show, progress=progress, **kwargs_solver)
        self.finalize(show)
        return out
