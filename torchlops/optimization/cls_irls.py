r"""Batched iteratively reweighted least squares: :class:`IRLS`.

Host synchronisation: each outer iteration runs the inner least-squares solve ``engine``
picks (scipy-style LSQR by default, which reads the host unless ``atol = btol = 0``;
:func:`torchlops.optimization.basic.cgls` with ``engine="pylops"``, which reads it unless
``tol=0``); with ``tolIRLS > 0`` the loop asks the host after every outer iteration whether
every sample has stopped.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from torchlops.optimization._batch import count_arg, safe_div
from torchlops.optimization._progress import progress_bar
from torchlops.optimization._sparse_helpers import Batch, FlatOperator, SparseSolver, check_engine, now
from torchlops.optimization.basesolver import Solver, logger
from torchlops.optimization.cls_leastsquares import _ls

__all__ = ["IRLS"]

IRLSKINDS = ("data", "model", "datamodel")


def _norm(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x, dim=-1)


def _where(act: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(act.reshape(-1, *([1] * (new.dim() - 1))), new, old)


class IRLS(SparseSolver):
    r"""Iteratively reweighted least squares, batched.

    *Data IRLS* (``kind="data"``) minimises :math:`\|\mathbf{y} - \mathbf{Op}\,\mathbf{x}\|_1`
    (robust to outliers), *model IRLS* (``kind="model"``) minimises :math:`\|\mathbf{x}\|_1`
    subject to :math:`\mathbf{y} = \mathbf{Op}\,\mathbf{x}` (sparse model), ``"datamodel"``
    does data IRLS on the system augmented with :math:`\epsilon_I \mathbf{I}`.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator to invert.
    callbacks : :obj:`list`, optional
        :class:`torchlops.optimization.Callbacks` instances.

    Notes
    -----
    Data IRLS: the first iteration solves
    :math:`\min_\mathbf{x} \|\mathbf{y} - \mathbf{Op}\,\mathbf{x}\|_2^2 + \epsilon_I^2\|\mathbf{x}\|_2^2`;
    the following ones solve the same problem weighted by
    :math:`\mathbf{R} = \mathrm{diag}(\mathbf{w})^{1/2}`, with
    :math:`w_j = 1 / (|r_j| + \epsilon_R)` (or :math:`1/\max(|r_j|, \epsilon_R)` when
    ``threshR``) normalised by its maximum, :math:`\mathbf{r}` the previous residual.
    Model IRLS: :math:`\mathbf{x} = \mathbf{W}\mathbf{Op}^H(\mathbf{Op}\mathbf{W}\mathbf{Op}^H
    + \epsilon_I^2\mathbf{I})^{-1}\mathbf{y}` with :math:`\mathbf{W} = \mathrm{diag}(|\mathbf{x}|
    / \max|\mathbf{x}|)` (:math:`\mathbf{W} = \mathbf{I}` first). Each inner solve is, as in
    PyLops, LSQR with scipy's arguments and stopping rule for ``engine="scipy"`` (the default:
    ``iter_lim`` (or ``niter``) 2 x the columns, ``atol = btol = 1e-6``) and
    :func:`torchlops.optimization.basic.cgls` for ``engine="pylops"`` (``niter``, ``tol``),
    both on torch tensors; extra keyword arguments go to it. The weights are per sample, so the
    batched inner solve runs all samples at once.
    A sample stops when :math:`\|\mathbf{x}^{(i+1)} - \mathbf{x}^{(i)}\|_2 <` ``tolIRLS``.
    ``cost`` holds :math:`\|\mathbf{y}\|_2` then :math:`\|\mathbf{r}\|_2` after every outer iteration.
    With ``x0`` and ``nouter=0`` the result is ``x0`` (PyLops 2.8 returns ``2 x0``).

    As in PyLops, ``run(x0)`` keeps a copy of the initial guess in ``x0`` and replaces ``y`` with
    :math:`\mathbf{y} - \mathbf{Op}\,\mathbf{x}_0`, the data the steps fit (their models are
    the increments to ``x0``), both in the batch's layout: ``x0`` of the model's shape
    ``(*batch, *dims)``, ``y`` of the data's ``(*batch, *dimsd)`` (for ``"datamodel"`` the rows
    of the data: ``Op`` is not augmented here). ``memory_usage(kind, show, unit)`` takes PyLops'
    arguments and measures the tensors held (``kind``, which PyLops' estimate reads, is not needed).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_irls import IRLS
    >>> A = torchlops.MatrixMult(torch.tensor([[1.0], [1.0], [1.0]], dtype=torch.float64))
    >>> x, nouter = IRLS(A).solve(torch.tensor([1.0, 1.0, 10.0], dtype=torch.float64), nouter=20, niter=10)
    >>> round(float(x[0]), 3)
    1.0
    """

    def _print_setup(self) -> None:
        self._print_solver(f" ({self.kind}, batch of {self._b.B})")
        logger.info("threshR = %s\tepsR = %s\tepsI = %s", self.threshR, self.epsR, self.epsI)
        logger.info("tolIRLS = %s\tnouter = %s", self.tolIRLS, self.nouter)
        logger.info("%s", "-" * 80)
        logger.info("    Itn           x[0]              r2norm   (sample 0)")

    def _print_step(self, x: torch.Tensor) -> None:
        if x.shape[0] == 0:  # (an empty batch: no sample 0 to show)
            return
        x0 = x[0, 0]
        sx = f"{complex(x0):1.2e}   " if x0.is_complex() else f"{float(x0):11.4e}"
        logger.info("%6d        %s         %10.3e", self.iiter, sx, float(self.rnorm[0]))

    def memory_usage(self, kind: str = "data", show: bool = False, unit: str = "B") -> float:
        """Bytes held by the solver's state tensors, in ``unit`` (PyLops' signature: ``kind``,
        the IRLS kind of PyLops' estimate, is accepted and not needed: the tensors held are
        measured)."""
        return Solver.memory_usage(self, show=show, unit=unit)

    def setup(
        self,
        y: torch.Tensor,
        nouter: int | None = None,
        threshR: bool = False,
        epsR: float = 1e-10,
        epsI: float = 1e-10,
        tolIRLS: float = 1e-10,
        warm: bool = False,
        kind: str = "data",
        preallocate: bool = False,
        show: bool = False,
    ) -> None:
        """Check the arguments and build the (augmented for ``datamodel``) system."""
        if kind not in IRLSKINDS:
            raise ValueError(f"kind must be 'model', 'data' or 'datamodel', got {kind!r}")
        nouter = None if nouter is None else count_arg(nouter, "nouter")
        self._b = b = Batch(self.Op, y)
        self.y = b.data(b.y)
        self.__dict__.pop("x0", None)  # (run's initial guess of a previous solve)
        self.nouter, self.threshR, self.epsR, self.epsI = nouter, threshR, float(epsR), float(epsI)
        self.tolIRLS, self.warm, self.kind = float(tolIRLS), warm, kind
        M, N = b.M, b.N
        if kind == "datamodel":
            e = self.epsI
            self._A = FlatOperator(
                N, M + N,
                lambda x: torch.cat([self.Op._flat(x, False), e * x], dim=1),
                lambda r: self.Op._flat(r[:, :M], True) + e * r[:, M:],
                b.dtype, name="[Op; epsI*I]",
            )
            self.epsI = 0.0  # already in the augmented system
            self._y = torch.cat([b.y, b.y.new_zeros(b.B, N)], dim=1)
        else:
            self._A = self.Op
            self._y = b.y
        rdt = b.y.real.dtype if b.y.is_complex() else b.y.dtype
        self.active = torch.ones(b.B, dtype=torch.bool, device=b.y.device)
        self.iiters = torch.zeros(b.B, dtype=torch.int64, device=b.y.device)
        self.rnorm = torch.full((b.B,), math.inf, dtype=rdt, device=b.y.device)
        self.cost = [_norm(self._y).reshape(b.batch)]
        self.iiter = 0
        self.tstart = now()
        if show:
            self._print_setup()

    # ------------------------------------------------------------------ steps
    def _fw(self, x: torch.Tensor) -> torch.Tensor:
        return self._A._flat(x, False)

    def _ad(self, r: torch.Tensor) -> torch.Tensor:
        return self._A._flat(r, True)

    def _solve(self, engine: str, A: Any, y: torch.Tensor, x0: torch.Tensor | None, kw: dict) -> torch.Tensor:
        """The inner least-squares solve, as PyLops' (``engine="scipy"``: LSQR with scipy's
        names and stopping rule; ``"pylops"``: cgls)."""
        return _ls(engine, A, y, x0, False, False, kw)[0]

    def _step_data(self, x: torch.Tensor, engine: str, **kwargs_solver: Any) -> torch.Tensor:
        x0 = x if self.warm else None
        kw = {"damp": self.epsI, **kwargs_solver}
        if self.iiter == 0:
            return self._solve(engine, self._A, self._y, x0, kw).reshape(x.shape)
        ar = self.r.abs()
        rw = 1.0 / (torch.clamp(ar, min=self.epsR) if self.threshR else ar + self.epsR)
        rw = rw / rw.amax(dim=-1, keepdim=True)
        self.rw = rw.reshape(*self._b.batch, rw.shape[-1])  # (PyLops' attribute: the weights, max 1)
        R = torch.sqrt(rw).to(self._y.dtype)
        n, m = x.shape[1], self._y.shape[1]
        RA = FlatOperator(n, m, lambda v: R * self._fw(v), lambda u: self._ad(R * u), self._b.dtype, name="R*Op")
        return self._solve(engine, RA, R * self._y, x0, kw).reshape(x.shape)

    def _step_model(self, x: torch.Tensor, engine: str, **kwargs_solver: Any) -> torch.Tensor:
        m = self._y.shape[1]
        e2 = self.epsI**2
        if self.iiter == 0:
            rw = None
        else:
            ax = x.abs()
            # (a zero model, as a batch's y = 0 sample keeps, weighs 0, without 0 / 0 in the graph)
            rw = safe_div(ax, ax.amax(dim=-1, keepdim=True))
            self.rw = rw.reshape(*self._b.batch, rw.shape[-1])  # (PyLops' attribute: the weights, max 1)
            rw = rw.to(x.dtype)

        def normal(v: torch.Tensor) -> torch.Tensor:
            u = self._ad(v)
            return self._fw(u if rw is None else rw * u) + e2 * v

        K = FlatOperator(m, m, normal, normal, self._b.dtype, name="Op*R*Op^H+epsI^2*I")
        # (PyLops hands its kwargs_solver, damp included, to the inner solver)
        u = self._ad(self._solve(engine, K, self._y, None, dict(kwargs_solver)).reshape(x.shape[0], m))
        return u if rw is None else rw * u

    def step(self, x: torch.Tensor, engine: str = "scipy", show: bool = False, **kwargs_solver: Any) -> torch.Tensor:
        """One outer iteration (an inner least-squares solve); ``x`` is the model returned by
        ``run``'s previous step (without the initial guess). ``engine`` picks the inner solver
        as in PyLops: ``"scipy"`` LSQR with scipy's arguments (``iter_lim`` or ``niter``,
        ``atol``, ``btol``, ``damp``, ...), ``"pylops"`` cgls (``niter``, ``tol``, ``damp``)."""
        check_engine(engine)
        b = self._b
        xf = b.flat_model(x, "x")  # (checked: a model of the problem's shape, or one for all)
        step = self._step_data if self.kind != "model" else self._step_model
        xn = step(xf, engine, **kwargs_solver)
        act = self.active
        xn = _where(act, xn, xf)
        r = self._y - self._fw(xn)
        self.r = r if self.iiter == 0 else _where(act, r, self.r)
        self.rnorm = _norm(self.r)
        self.iiters = self.iiters + act.to(torch.int64)
        self.active = act & (_norm(xn - xf) >= self.tolIRLS)
        self.cost.append(self.rnorm.reshape(b.batch))
        self.iiter += 1
        if show:
            self._print_step(xn)
        return b.model(xn)

    def run(
        self,
        x: torch.Tensor | None,
        nouter: int = 10,
        engine: str = "scipy",
        show: bool = False,
        itershow: tuple[int, int, int] = (10, 10, 10),
        **kwargs_solver: Any,
    ) -> torch.Tensor:
        """Outer iterations from the initial guess ``x`` (added back at the end; ``setup``'s
        ``nouter`` wins when given, as PyLops). With ``x``, as PyLops: ``x0`` holds a copy of
        it and ``y`` becomes ``y - Op x``, the data the steps' increments are fitted to."""
        check_engine(engine)
        b = self._b
        nouter = count_arg(nouter if self.nouter is None else self.nouter, "nouter")
        x0 = None
        if x is not None:
            x0 = b.flat_model(x)
            self._y = self._y - self._fw(x0)
            self.x0 = b.model(x0.clone())
            self.y = b.data(self._y[:, : b.M])  # (the data rows of the datamodel system)
            x = b.model(x0)
        else:
            x = b.model(self._y.new_zeros(b.B, b.N))
        start = self.iiter
        while self.iiter < nouter:
            k = self.iiter
            showstep = show and (k < itershow[0] or nouter - k < itershow[1] or k % itershow[2] == 0)
            x = self.step(x, engine, showstep, **kwargs_solver)
            if self.should_stop():
                break
            if self.tolIRLS > 0 and not bool(self.active.any()):
                break
        if x0 is not None and self.iiter > start:
            # (with no step x is still x0, which PyLops 2.8 adds once more: 2 x0 for nouter=0)
            x = b.model(x0 + x.reshape(b.B, b.N))
        return x

    def finalize(self, show: bool = False) -> None:
        """Stack the cost history into a ``(nouter + 1, *batch)`` tensor."""
        self.telapsed = now() - self.tstart
        self.nouter = self.iiter
        if isinstance(self.cost, list):
            self.cost = torch.stack(self.cost)
        if show:
            self._print_finalize()

    def solve(
        self,
        y: torch.Tensor,
        x0: torch.Tensor | None = None,
        nouter: int = 10,
        threshR: bool = False,
        epsR: float = 1e-10,
        epsI: float = 1e-10,
        tolIRLS: float = 1e-10,
        kind: str = "data",
        warm: bool = False,
        engine: str = "scipy",
        preallocate: bool = False,
        show: bool = False,
        itershow: tuple[int, int, int] = (10, 10, 10),
        *,
        progress: bool = False,
        **kwargs_solver: Any,
    ) -> tuple[torch.Tensor, int]:
        """``setup``, ``run`` and ``finalize``; returns ``(x, nouter)`` like PyLops
        (``progress=True``: a progress bar over the outer iterations)."""
        check_engine(engine)
        if isinstance(x0, torch.Tensor) and isinstance(y, torch.Tensor) and (x0.is_floating_point() or x0.is_complex()):
            # (the working dtype follows x0 too, as in the other solvers)
            y = y.to(torch.promote_types(y.dtype, x0.dtype))
        with progress_bar(self, progress, nouter):
            self.setup(y, threshR=threshR, epsR=epsR, epsI=epsI, tolIRLS=tolIRLS, warm=warm, kind=kind, show=show)
            if x0 is None:
                x0 = self._y.new_zeros(self._b.B, self._b.N)
            x = self.run(x0, nouter=nouter, engine=engine, show=show, itershow=itershow, **kwargs_solver)
            self.finalize(show)
        return x, self.nouter
