r"""Batched split Bregman: :class:`SplitBregman`.

Host synchronisation: each inner iteration runs the least-squares solve ``engine`` picks
(scipy-style LSQR by default, which reads the host unless ``atol = btol = 0``;
:func:`torchlops.optimization.basic.cgls` with ``engine="pylops"``, which reads it unless
``tol=0``); with ``tol > 0`` the loop asks the host after every outer iteration whether
every sample has stopped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import count_arg
from torchlops.optimization._progress import progress_bar
from torchlops.optimization._sparse_helpers import (
    Batch,
    FlatOperator,
    SparseSolver,
    check_engine,
    now,
    softthreshold,
)
from torchlops.optimization.basesolver import Solver, logger
from torchlops.optimization.cls_leastsquares import _ls

__all__ = ["SplitBregman"]


def _norm(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x, dim=-1)


def _where(act: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(act.reshape(-1, *([1] * (new.dim() - 1))), new, old)


def _ops(regs: Any, name: str, n: int) -> list[LinearOperator]:
    if regs is None:
        return []
    if isinstance(regs, LinearOperator) or not isinstance(regs, Sequence):
        raise TypeError(f"{name} must be a list of torchlops LinearOperators, got {type(regs).__name__}")
    for i, R in enumerate(regs):
        if not isinstance(R, LinearOperator):
            raise TypeError(f"{name}[{i}] must be a torchlops LinearOperator, got {type(R).__name__}")
        if R.shape[1] != n:
            raise ValueError(f"{name}[{i}] must have {n} columns (the model size), got shape {R.shape}")
    return list(regs)


def _floats(v: Any, name: str, k: int) -> list[float]:
    if k == 0:  # (no regularisation: values given are ignored, as PyLops)
        return []
    if v is None or len(v) != k:
        got = "None" if v is None else f"{len(v)} values"
        raise ValueError(f"{name} must hold one value per regularisation ({k}), got {got}")
    return [float(e) for e in v]


class SplitBregman(SparseSolver):
    r"""Split Bregman for mixed L2-L1 problems, batched.

    Solves, for every sample of ``y``,

    .. math::
        \min_\mathbf{x} \frac{\mu}{2}\|\mathbf{y} - \mathbf{Op}\,\mathbf{x}\|_2^2 +
        \frac{1}{2}\sum_i \epsilon_{\mathbf{R}_{L2},i}\|\mathbf{y}_{\mathbf{R}_{L2},i} -
        \mathbf{R}_{L2,i}\mathbf{x}\|_2^2 + \sum_i \epsilon_{\mathbf{R}_{L1},i}
        \|\mathbf{R}_{L1,i}\mathbf{x}\|_1

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator to invert.
    callbacks : :obj:`list`, optional
        :class:`torchlops.optimization.Callbacks` instances.

    Notes
    -----
    Each outer iteration runs ``niter_inner`` times: a least-squares solve of
    :math:`[\mathbf{Op};\, \tilde\epsilon_j \mathbf{R}_j]\,\mathbf{x} = [\mathbf{y};\,
    \tilde\epsilon_j \mathbf{d}_j]` (the L2 terms with their data, then the L1 terms with
    :math:`\mathbf{d}_i - \mathbf{b}_i`, :math:`\tilde\epsilon_j = \sqrt{\epsilon_j/2}/\sqrt{\mu/2}`),
    warm-started from the current ``x`` (from ``x0`` when ``restart``), followed by the
    shrinkage :math:`\mathbf{d}_i = \mathrm{soft}(\mathbf{R}_{L1,i}\mathbf{x} + \mathbf{b}_i,
    \epsilon_{\mathbf{R}_{L1},i})`; then the Bregman update
    :math:`\mathbf{b}_i \mathrel{+}= \tau(\mathbf{R}_{L1,i}\mathbf{x} - \mathbf{d}_i)`.
    The least squares use, as in PyLops, LSQR with scipy's arguments and stopping rule for
    ``engine="scipy"`` (the default: ``iter_lim`` (or ``niter``) 2 x the columns,
    ``atol = btol = 1e-6``, ``damp``) and :func:`torchlops.optimization.basic.cgls` for
    ``engine="pylops"`` (``niter``, ``damp``, ``tol`` 1e-4 unless given); extra keyword
    arguments go to it. The cost is
    :math:`\frac{\mu}{2}\|\mathbf{y}-\mathbf{Op}\mathbf{x}\|_2^2 + \sum_i
    \epsilon_{L2,i}\|\mathbf{y}_{L2,i} - \mathbf{R}_{L2,i}\mathbf{x}\|_2^2 + \sum_i
    \|\mathbf{R}_{L1,i}\mathbf{x}\|_1` (PyLops' definition). A sample stops when
    :math:`\|\mathbf{x}^{(i+1)} - \mathbf{x}^{(i)}\|_2 \le` ``tol``; ``tol=0`` runs all
    ``niter_outer`` iterations (PyLops 2.8 runs none then: its first test compares with
    ``xold = x + 1.1 tol``).

    PyLops' attributes, in the batch's layout: ``b`` and ``d`` (the Bregman and shrunk vectors,
    lists of ``nregsL1`` tensors of shape ``(*batch, m_i)``, 1-D for one problem; ``bs`` /
    ``ds`` show them as ``(B, m_i)`` rows), ``nregsL1``, ``nregsL2`` (0 when ``RegsL2`` is
    None), and after every step ``costregL1`` (:math:`\|\mathbf{R}_{L1,i}\mathbf{x}\|_1`
    per term) and ``costregL2`` (:math:`\epsilon_{L2,i}\|\mathbf{y}_{L2,i} -
    \mathbf{R}_{L2,i}\mathbf{x}\|_2^2` per term; 0 when ``RegsL2`` is None), lists of
    per-sample costs of the batch's shape (0-d for one problem). ``memory_usage(nopRegsL1,
    nopRegsL2, show, unit)`` takes PyLops' arguments and measures the tensors held (the sizes,
    which PyLops' estimate reads, are not needed).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_splitbregman import SplitBregman
    >>> I = torchlops.Identity(5, dtype=torch.float64)
    >>> y = torch.tensor([0.0, 0.0, 3.0, 0.0, 0.0], dtype=torch.float64)
    >>> x, it, cost = SplitBregman(I).solve(y, [I], epsRL1s=[0.1], niter_outer=20, niter_inner=2, niter=5, tol=0)
    >>> x.round(decimals=2)
    tensor([0.0000, 0.0000, 2.9900, 0.0000, 0.0000], dtype=torch.float64)
    """

    def _print_setup(self) -> None:
        self._print_solver(f" (batch of {self._b.B})", nbar=65)
        logger.info("niter_outer = %3d     niter_inner = %3d   tol = %2.2e", self.niter_outer, self.niter_inner, self.tol)
        logger.info("mu = %2.2e         epsL1 = %s\t  epsL2 = %s", self.mu, self.epsRL1s, self.epsRL2s)
        logger.info("%s", "-" * 65)
        logger.info("    Itn       x[0]           r2norm           r12norm   (sample 0)")

    def _print_step(self, x: torch.Tensor) -> None:
        if x.shape[0] == 0:  # (an empty batch: no sample 0 to show)
            return
        x0 = x[0, 0]
        sx = f"{complex(x0):1.2e}   " if x0.is_complex() else f"{float(x0):11.4e}      "
        logger.info("%6d    %s%10.3e        %9.3e", self.iiter, sx, float(self.costdata[0]), float(self.costtot[0]))

    def memory_usage(
        self, nopRegsL1: Any = None, nopRegsL2: Any = None, show: bool = False, unit: str = "B"
    ) -> float:
        """Bytes held by the solver's state tensors, in ``unit`` (PyLops' signature:
        ``nopRegsL1`` / ``nopRegsL2``, the regularisers' data sizes of PyLops' estimate, are
        accepted and not needed: the tensors held are measured)."""
        return Solver.memory_usage(self, show=show, unit=unit)

    @property
    def bs(self) -> list[torch.Tensor]:
        """The Bregman vectors ``b`` as ``(B, m_i)`` rows (views)."""
        return [self._rows(t) for t in self.b]

    @bs.setter
    def bs(self, value: Sequence[torch.Tensor]) -> None:
        self.b = [self._unrows(t) for t in value]

    @property
    def ds(self) -> list[torch.Tensor]:
        """The shrunk vectors ``d`` as ``(B, m_i)`` rows (views)."""
        return [self._rows(t) for t in self.d]

    @ds.setter
    def ds(self, value: Sequence[torch.Tensor]) -> None:
        self.d = [self._unrows(t) for t in value]

    def _rows(self, t: torch.Tensor) -> torch.Tensor:
        """A ``b`` / ``d`` entry (``(*batch, m)``, or ``(m,)`` shared by every sample) as ``(B, m)``."""
        B, m = self._b.B, t.shape[-1]
        return t.reshape(B, m) if t.numel() == B * m else t.reshape(1, m).expand(B, m)

    def _unrows(self, t: torch.Tensor) -> torch.Tensor:
        """``(B, m)`` -> ``(*batch, m)``."""
        return t.reshape(*self._b.batch, t.shape[-1])

    def setup(
        self,
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
        tau: float = 1.0,
        restart: bool = False,
        preallocate: bool = False,
        show: bool = False,
    ) -> torch.Tensor:
        """Check the arguments and initialise ``b``, ``d``; returns the starting model."""
        self._b = b = Batch(self.Op, y, x0)
        self.y = b.data(b.y)
        self.RegsL1 = _ops(RegsL1, "RegsL1", b.N)
        self.RegsL2 = _ops(RegsL2, "RegsL2", b.N)
        self.epsRL1s = _floats(epsRL1s, "epsRL1s", len(self.RegsL1))
        self.epsRL2s = _floats(epsRL2s, "epsRL2s", len(self.RegsL2))
        if float(mu) <= 0:
            raise ValueError(f"mu must be positive, got {mu}")
        self.niter_outer = count_arg(niter_outer, "niter_outer")
        self.niter_inner = count_arg(niter_inner, "niter_inner")
        self.mu, self.tol, self.tau, self.restart = float(mu), float(tol), float(tau), restart
        self.nregsL1, self.nregsL2 = len(self.RegsL1), 0 if RegsL2 is None else len(self.RegsL2)
        self._noL2 = RegsL2 is None  # (PyLops' costregL2 is 0 then)
        self.b = [b.y.new_zeros(*b.batch, R.shape[0]) for R in self.RegsL1]
        self.d = [b.y.new_zeros(*b.batch, R.shape[0]) for R in self.RegsL1]
        if dataregsL2 is None:
            self.dataregsL2 = [b.y.new_zeros(b.B, R.shape[0]) for R in self.RegsL2]
        else:
            if len(dataregsL2) != len(self.RegsL2):
                raise ValueError(f"dataregsL2 must hold one tensor per RegsL2 ({len(self.RegsL2)}), got {len(dataregsL2)}")
            self.dataregsL2 = []
            for i, (R, d) in enumerate(zip(self.RegsL2, dataregsL2, strict=True)):
                m = R.shape[0]
                if not isinstance(d, torch.Tensor) or d.numel() not in (m, b.B * m):
                    raise ValueError(f"dataregsL2[{i}] must be a tensor with {m} or {b.B}x{m} entries, got "
                                     f"{tuple(d.shape) if isinstance(d, torch.Tensor) else type(d).__name__}")
                self.dataregsL2.append(d.reshape(-1, m).to(b.dtype).expand(b.B, m))
        self.Regs = self.RegsL2 + self.RegsL1
        self.epsRs = [math.sqrt(e / 2) / math.sqrt(self.mu / 2) for e in self.epsRL2s + self.epsRL1s]
        self.x0 = None if x0 is None else b.flat_model(x0)
        x = b.y.new_zeros(b.B, b.N) if x0 is None else self.x0.clone()
        self._stack = self._stacked_operator()
        self.active = torch.ones(b.B, dtype=torch.bool, device=b.y.device)
        self.iiters = torch.zeros(b.B, dtype=torch.int64, device=b.y.device)
        self.cost = []
        self.iiter = 0
        self.tstart = now()
        if show:
            self._print_setup()
        return b.model(x)

    def _stacked_operator(self) -> LinearOperator:
        """``[Op; eps_j R_j]`` acting on flat ``(B, N)`` models."""
        b = self._b
        sizes = [b.M] + [R.shape[0] for R in self.Regs]

        def fw(x: torch.Tensor) -> torch.Tensor:
            out = [self.Op._flat(x, False)] + [e * R._flat(x, False) for e, R in zip(self.epsRs, self.Regs, strict=True)]
            return torch.cat(out, dim=1)

        def ad(r: torch.Tensor) -> torch.Tensor:
            parts = torch.split(r, sizes, dim=1)
            out = self.Op._flat(parts[0], True)
            for e, R, p in zip(self.epsRs, self.Regs, parts[1:], strict=True):
                out = out + e * R._flat(p, True)
            return out

        return FlatOperator(b.N, sum(sizes), fw, ad, b.dtype, name="[Op; epsR*Regs]")

    def step(
        self, x: torch.Tensor, engine: str = "scipy", show: bool = False, show_inner: bool = False, **kwargs_solver: Any
    ) -> torch.Tensor:
        """One outer iteration: ``niter_inner`` least-squares + shrinkage steps, then the
        Bregman update. ``engine`` picks the least-squares solver as in PyLops (``"scipy"``:
        LSQR with scipy's arguments, ``"pylops"``: cgls); ``show_inner`` prints its iterations."""
        check_engine(engine)
        b = self._b
        act = self.active
        xold = b.flat_model(x, "x")  # (checked: a model of the problem's shape, or one for all)
        xf = xold
        ds0, bs0 = self.ds, self.bs
        ds, bs = list(ds0), list(bs0)
        for _ in range(self.niter_inner):
            dataregs = self.dataregsL2 + [d - bb for d, bb in zip(ds, bs, strict=True)]
            data = torch.cat([b.y] + [e * d for e, d in zip(self.epsRs, dataregs, strict=True)], dim=1)
            start = self.x0 if self.restart else xf
            xf = _ls(engine, self._stack, data, start, show_inner, False, kwargs_solver)[0].reshape(b.B, b.N)
            ds = [softthreshold(R._flat(xf, False) + bb, e) for R, bb, e in zip(self.RegsL1, bs, self.epsRL1s, strict=True)]
        bs = [bb + self.tau * (R._flat(xf, False) - d) for R, bb, d in zip(self.RegsL1, bs, ds, strict=True)]
        xf = _where(act, xf, xold)
        self.ds = [_where(act, n, o) for n, o in zip(ds, ds0, strict=True)]
        self.bs = [_where(act, n, o) for n, o in zip(bs, bs0, strict=True)]
        self.costdata = self.mu / 2.0 * _norm(b.y - self.Op._flat(xf, False)) ** 2
        cost = self.costdata
        costL2 = [e * _norm(d - R._flat(xf, False)) ** 2
                  for e, R, d in zip(self.epsRL2s, self.RegsL2, self.dataregsL2, strict=True)]
        costL1 = [R._flat(xf, False).abs().sum(-1) for R in self.RegsL1]
        for c in costL2 + costL1:
            cost = cost + c
        self.costtot = cost
        # (PyLops' per-term costs, one per sample)
        self.costregL2 = 0 if self._noL2 else [c.reshape(b.batch) for c in costL2]
        self.costregL1 = [c.reshape(b.batch) for c in costL1]
        self.iiters = self.iiters + act.to(torch.int64)
        self.active = act & (_norm(xf - xold) > self.tol)
        self.cost.append(cost.reshape(b.batch))
        self.iiter += 1
        if show:
            self._print_step(xf)
        return b.model(xf)

    def run(
        self,
        x: torch.Tensor,
        engine: str = "scipy",
        show: bool = False,
        itershow: tuple[int, int, int] = (10, 10, 10),
        show_inner: bool = False,
        **kwargs_lsqr: Any,
    ) -> torch.Tensor:
        """Outer iterations until ``niter_outer`` or every sample's update is at most ``tol``."""
        check_engine(engine)
        n = self.niter_outer
        while self.iiter < n:
            k = self.iiter
            showstep = show and (k < itershow[0] or n - k < itershow[1] or k % itershow[2] == 0)
            x = self.step(x, engine, showstep, show_inner, **kwargs_lsqr)
            if self.should_stop():
                break
            if self.tol > 0 and not bool(self.active.any()):
                break
        return x

    def finalize(self, show: bool = False) -> None:
        """Stack the cost history into a ``(iiter, *batch)`` tensor."""
        self.telapsed = now() - self.tstart
        if isinstance(self.cost, list):
            self.cost = torch.stack(self.cost) if self.cost else self._b.y.real.new_zeros(0, *self._b.batch)
        if show:
            self._print_finalize(nbar=65)

    def solve(
        self,
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
        tau: float = 1.0,
        restart: bool = False,
        engine: str = "scipy",
        preallocate: bool = False,
        show: bool = False,
        itershow: tuple[int, int, int] = (10, 10, 10),
        show_inner: bool = False,
        *,
        progress: bool = False,
        **kwargs_lsqr: Any,
    ) -> tuple[torch.Tensor, int, torch.Tensor]:
        """``setup``, ``run`` and ``finalize``; returns ``(x, iiter, cost)`` like PyLops
        (``progress=True``: a progress bar over the outer iterations)."""
        check_engine(engine)
        with progress_bar(self, progress, niter_outer):
            x = self.setup(y, RegsL1, x0=x0, niter_outer=niter_outer, niter_inner=niter_inner, RegsL2=RegsL2,
                           dataregsL2=dataregsL2, mu=mu, epsRL1s=epsRL1s, epsRL2s=epsRL2s, tol=tol, tau=tau,
                           restart=restart, show=show)
            x = self.run(x, engine, show, itershow, show_inner, **kwargs_lsqr)
            self.finalize(show)
        return x, self.iiter, self.cost
