r"""Batched Krylov solvers on torch tensors: :class:`CG`, :class:`CGLS`, :class:`LSQR`.

Every solver works on ``B`` problems at once: the state is held as ``(B, n)`` tensors and
every scalar of the algorithm (step sizes, norms, Givens rotations, stop codes) is a ``(B,)``
tensor. A sample whose stopping test holds is *frozen*: its state is kept with
``torch.where`` (no host read), so it stops changing while the others go on.

Host synchronisation: on an accelerator, with ``tol=0`` (``atol=btol=0`` for LSQR) the loop runs
exactly ``niter`` steps and never reads a tensor on the host, so it can be captured by
``torch.compile`` or CUDA graphs; with a positive tolerance it asks the host whether every sample
has stopped every :data:`CHECK_EVERY` steps (one synchronisation per :data:`CHECK_EVERY` steps).
On the CPU, where reading a tensor waits for nothing, it asks after every step (so iteration
counts and cost histories are PyLops', except that CG and CGLS also freeze a sample whose residual
(CGLS: of the normal equations) reaches machine precision, its squared norm at most eps^2 times
the first one, even with ``tol=0``, where PyLops goes on
iterating on rounding noise: the models agree, the counts and costs end there; under
``torch.compile`` as on an accelerator).
``show=True`` reads values on the host to print the table (through ``logging``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from torchlops import _ops
from torchlops._autograd import _fwd_ad_active
from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import (
    CHECK_EVERY,
    bdot,
    bnorm2,
    check_every,
    count_arg,
    flatten_data,
    floor_of,
    is_zero,
    masked_div,
    model_rows,
    safe_div,
)
from torchlops.optimization._progress import progress_bar
from torchlops.optimization.basesolver import Solver, logger
from torchlops.optimization.callback import Callbacks

__all__ = ["CG", "CGLS", "LSQR", "CHECK_EVERY"]  # (CHECK_EVERY: from _batch)

_F64_EPS = float(torch.finfo(torch.float64).eps)  # scipy's lsqr guards its tests with it



def damp_arg(damp: Any) -> Any:
    """``damp`` as the solvers use it: a number, or a one-element tensor as a 0-d one (one
    damping for every sample; a tensor of several values is an error, not broadcast along the
    model axis)."""
    if isinstance(damp, torch.Tensor):
        if damp.numel() != 1:
            raise ValueError(f"damp must be a number or a one-element tensor (one damping for every sample of "
                             f"the batch), got a tensor of shape {tuple(damp.shape)}")
        return damp.reshape(())
    return damp


def _where(act: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Per-sample select: ``act`` is ``(B,)``, ``new``/``old`` are ``(B,)`` or ``(B, n)``."""
    return torch.where(act.reshape(-1, *([1] * (new.dim() - 1))), new, old)


def _clock() -> float:
    """Wall clock, 0 while ``torch.compile`` traces (dynamo cannot trace ``time.time``)."""
    return 0.0 if torch.compiler.is_compiling() else time.time()


class _Batched(Solver):
    """Shared plumbing: flattening, per-sample freezing, the run loop and the table."""

    nbar = 65

    def __init__(self, Op: Any, callbacks: Any = None) -> None:
        if not torch.compiler.is_compiling():
            super().__init__(Op, callbacks)
            return
        # Solver.__init__ reads time.time(), which dynamo cannot trace: same fields without it
        if not isinstance(Op, LinearOperator):
            raise TypeError(f"Op must be a torchlops LinearOperator, got {type(Op).__name__}")
        self.Op = Op
        self.callbacks = [] if callbacks is None else ([callbacks] if isinstance(callbacks, Callbacks) else list(callbacks))
        self.iiter, self.cost, self.tstart, self.telapsed = 0, [], 0.0, 0.0
        self._stopped_all = False

    def finalize(self, show: bool = False) -> None:
        """Record the elapsed time (0 under ``torch.compile``)."""
        self.telapsed = _clock() - self.tstart

    def _prepare(self, y: torch.Tensor, x0: torch.Tensor | None) -> torch.Tensor:
        self.y = y
        s, self.batch, self.xshape, self.dt, x0f = flatten_data(self.Op, y, x0)
        self.B = s.shape[0]
        x = s.new_zeros(self.B, self.Op.shape[1]) if x0f is None else x0f.clone()
        if s.requires_grad and torch.is_grad_enabled() and s.shape[1] and not (x0f is not None and x0f.requires_grad):
            # (the start in y's graph: a y = 0 or an empty batch, which end the solve before any
            # step, still give an x to differentiate, with gradient 0 as a batch's zero sample gets)
            x = torch.where(s.new_zeros((), dtype=torch.bool), s[:, :1], x)
        self.iiter, self._niter_run = 0, None  # (no run of this solve yet: istop counts setup's niter)
        self.iiters = torch.zeros(self.B, dtype=torch.int64, device=s.device)
        self._cbmask = torch.zeros(self.B, dtype=torch.bool, device=s.device)  # (samples a callback stopped)
        self._stopped_all = False
        self.cost = []
        self.tstart = _clock()
        return s, x

    def _A(self, x: torch.Tensor) -> torch.Tensor:
        return self.Op._flat(x, False)

    def _AH(self, y: torch.Tensor) -> torch.Tensor:
        return self.Op._flat(y, True)

    def _flatx(self, x: torch.Tensor) -> torch.Tensor:
        N = self.Op.shape[1]
        # (a model of the shape the solver returns: no layout to check, every step)
        if not isinstance(x, torch.Tensor) or (x.shape != self.xshape and model_rows(
                x.shape, tuple(self.batch), tuple(self.Op.dims), N) != self.B):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{type(self).__name__}: x must be the model setup / step returned, of shape "
                             f"{self.xshape}, got {got}")
        if x.is_complex() and not self.dt.is_complex:
            raise TypeError(f"{type(self).__name__}: x is complex ({x.dtype}) but the problem is real ({self.dt})")
        x = x.reshape(self.B, N)
        return x if x.dtype == self.dt else x.to(self.dt)

    def _freeze(self, act: torch.Tensor, new: dict[str, Any]) -> None:
        """Commit ``new`` state for active samples only; frozen samples keep theirs."""
        # (on the CPU, where reading the flags costs nothing, every sample active commits the new
        # state as it is: a select per state tensor was most of a small problem's step)
        every = (act.device.type == "cpu" and not torch.compiler.is_compiling()
                 and torch._C._functorch.maybe_current_level() is None and bool(act.all()))
        for k, v in new.items():
            old = getattr(self, k)
            setattr(self, k, _where(act, v, old) if isinstance(old, torch.Tensor) and not every else v)
        self.iiters = self.iiters + act.to(torch.int64)
        self.iiter += 1

    def _active(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} does not implement _active")

    def _host_floats(self, *tensors: Any) -> bool:
        """Whether a step's scalar recurrences may run in Python floats: one double precision
        sample on the CPU, nothing to differentiate (none of ``tensors`` requires grad), not
        traced, no forward-mode tangent or torch.func transform. There each tiny tensor
        operation of the recurrences (a selection, a division, a comparison: a few microseconds
        each) costs more than the float arithmetic it holds: most of a small problem's step."""
        if self.B != 1 or self.dt not in (torch.float64, torch.complex128) or torch.compiler.is_compiling():
            return False
        if tensors[0].device.type != "cpu":
            return False
        if torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors):
            return False
        return not _fwd_ad_active()

    def _any_active(self) -> bool:
        """Whether some sample is still active (the run loop's test): from the float path's
        ``||r||^2`` and thresholds while it runs (CG, CGLS; one sample is never frozen by a
        callback, whose flag of one sample ends the run instead), else a host read."""
        k = getattr(self, "_hostk", None)
        if k is not None:
            return all(k > t for t in self._hostthr)
        return bool(self._active().any())

    def _host_check(self) -> bool:
        """Whether the run loop may read the stop flags on the host."""
        return self.tol > 0

    def run(
        self, x: torch.Tensor, niter: int | None = None, show: bool = False, itershow: tuple[int, int, int] = (10, 10, 10)
    ) -> torch.Tensor:
        """Run until ``niter`` steps in all (``self.niter`` when None; a second ``run`` goes on to
        that total, as PyLops counts); see the module notes on syncs."""
        niter = self.niter if niter is None else count_arg(niter, "niter")
        if niter is None:
            raise ValueError("niter must not be None")
        self._niter_run = niter  # (istop 2 means this count was reached)
        start = self.iiter
        every = check_every(x)
        while self.iiter < niter:
            # before each step (so a start that already meets the tests takes none, as PyLops);
            # on the CPU, every == 1: a stop is noticed at once whatever the tolerance
            if (every == 1 or self._host_check()) and (self.iiter - start) % every == 0 \
                    and not self._any_active():
                break
            k = self.iiter
            showstep = show and (self._show_all() or k < itershow[0] or niter - k < itershow[1]
                                 or k % itershow[2] == 0)
            x = self.step(x, showstep)
            if self.should_stop():
                break
        return x

    def _show_all(self) -> bool:
        """Whether ``show=True`` prints this step whatever ``itershow`` says (PyLops' rules)."""
        return False

    def _print_row(self, values: list[torch.Tensor], x: torch.Tensor) -> None:
        if self.B == 0:  # (an empty batch: no sample 0 to show)
            return
        x0 = self._flatx(x)[0, 0]
        sx = f"{complex(x0):.2e}" if x0.is_complex() else f"{float(x0):11.4e}"
        logger.info("%6d  %s  %s", self.iiter, sx, "  ".join(f"{float(v.reshape(-1)[0]):11.4e}" for v in values))

    def _output(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(self.xshape)


class CG(_Batched):
    r"""Conjugate gradient for square Hermitian positive definite systems, batched.

    Solves :math:`(\mathbf{A} + \mathrm{damp}\,\mathbf{I})\mathbf{x} = \mathbf{y}` for every
    sample of ``y`` (PyLops' convention: ``damp`` is added as is, not squared).

    Notes
    -----
    Per sample, with :math:`\mathbf{r}_0 = \mathbf{y} - (\mathbf{A}+d\mathbf{I})\mathbf{x}_0`,
    :math:`\mathbf{c}_0 = \mathbf{r}_0`, each step applies the operator once (one pass over
    the data): :math:`a = \|\mathbf{r}\|^2 / |\mathbf{c}^H (\mathbf{A}+d\mathbf{I})\mathbf{c}|`
    (without the modulus for ``normal_equations_inversion(engine="scipy")``, as scipy's cg),
    :math:`\mathbf{x} \mathrel{+}= a\mathbf{c}`, :math:`\mathbf{r} \mathrel{-}= a(\mathbf{A}+d\mathbf{I})\mathbf{c}`,
    :math:`\mathbf{c} = \mathbf{r} + (\|\mathbf{r}_{new}\|^2/\|\mathbf{r}\|^2)\mathbf{c}`.
    A sample stops (is frozen) when :math:`\|\mathbf{r}\|^2 \le` ``tol`` (a float, or a ``(B,)``
    tensor of per-sample tolerances). ``cost`` holds :math:`\|\mathbf{r}\|` per step, as a ``(niter+1, *batch)`` tensor after
    :meth:`finalize`.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_basic import CG
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    >>> x, iiter, cost = CG(D).solve(torch.ones(2, 3, dtype=torch.float64), niter=3, tol=0)
    >>> x[1]
    tensor([1.0000, 0.5000, 0.2500], dtype=torch.float64)
    """

    nbar = 55
    #: the step's denominator c^H (A + d I) c with its sign (scipy's cg, which normal equations'
    #: engine="scipy" follows: indefinite Hermitian systems converge too), not its modulus (PyLops')
    _signed = False

    def setup(self, y: torch.Tensor, x0: torch.Tensor | None = None, niter: int | None = None,
              damp: float = 0.0, tol: float = 1e-4, preallocate: bool = False, show: bool = False) -> torch.Tensor:
        """Initialise the residual and direction; returns the starting ``x``."""
        if self.Op.shape[0] != self.Op.shape[1]:
            raise ValueError(f"CG needs a square operator, got shape {self.Op.shape}")
        damp = damp_arg(damp)
        niter = None if niter is None else count_arg(niter, "niter")
        self.niter, self.damp = niter, damp
        self.tol = tol if isinstance(tol, torch.Tensor) else float(tol)
        r, x = self._prepare(y, x0)
        if x0 is not None:
            r = r - self._A(x) - damp * x
        self.r, self.c = r, r
        self.kold = bnorm2(r)
        self._floor = floor_of(self.kold)
        self._hostk = None  # (the float path's ||r||^2 while it runs; its thresholds on its first step)
        self.cost.append(self.kold.sqrt().reshape(self.batch))
        if show:
            # (a per-sample tolerance shows its first sample's; an empty batch has none)
            tol0 = self.tol if not isinstance(self.tol, torch.Tensor) else \
                float(self.tol.reshape(-1)[0]) if self.tol.numel() else float("nan")
            self._print_solver(f"\ntol = {tol0:10e}\tniter = {niter}", nbar=self.nbar)
            logger.info("    Itn           x[0]              r2norm")
        return self._output(x)

    def _active(self) -> torch.Tensor:
        # (a residual at machine precision stops too: more steps only add rounding noise, and
        # the ratios of tiny norms would overflow in a differentiated solve)
        return (self.kold > self.tol) & (self.kold > self._floor) & ~self._cbmask

    def _host_check(self) -> bool:
        return isinstance(self.tol, torch.Tensor) or self.tol > 0

    def step(self, x: torch.Tensor, show: bool = False) -> torch.Tensor:
        """One CG step for every active sample."""
        xf = self._flatx(x)
        Opc = self._A(self.c)
        if not is_zero(self.damp):
            Opc = Opc + self.damp * self.c
        if self._host_floats(Opc, xf, self.r, self.c, self.kold, self.damp, self.tol) and self._any_active():
            return self._step_host(xf, Opc, show)
        self._hostk = None
        act = self._active()
        # a frozen sample takes a zero step, so x and r keep their values without a select
        cAc = bdot(self.c, Opc)
        a = masked_div(self.kold, cAc.real if self._signed else cAc.abs(), act).unsqueeze(-1).to(self.dt)
        xf = torch.addcmul(xf, a, self.c)
        r = torch.addcmul(self.r, -a, Opc)
        k = bnorm2(r)
        # (a frozen sample gets c = r: its r no longer changes, so neither does c)
        c = torch.addcmul(r, masked_div(k, self.kold, act).unsqueeze(-1).to(self.dt), self.c)
        if self._host_check():
            c = _where(act, c, self.c)
        self.r, self.c = r, c
        self.kold = torch.where(act, k, self.kold)
        self.iiters = self.iiters + act.to(torch.int64)
        self.iiter += 1
        self.cost.append(self.kold.sqrt().reshape(self.batch))
        x = self._output(xf)
        if show:
            self._print_row([self.cost[-1]], x)
        return x

    def _step_host(self, xf: torch.Tensor, Opc: torch.Tensor, show: bool) -> torch.Tensor:
        """:meth:`step` for one active sample with the step lengths in Python floats (see
        :meth:`_host_floats`): a third of the tensor operations, the same values to rounding."""
        if self._hostk is None:  # (entering the float path: its state and thresholds as floats)
            k_old, self._hostthr = float(self.kold[0]), (float(self.tol), float(self._floor[0]))
        else:
            k_old = self._hostk
        cAc = torch.linalg.vecdot(self.c, Opc)
        den = cAc.real.item() if self._signed else abs(cAc.item())
        a = k_old / den if den != 0 else 0.0
        xf = torch.add(xf, self.c, alpha=a)
        r = torch.add(self.r, Opc, alpha=-a)
        rn = torch.linalg.vector_norm(r).item()
        k = rn * rn  # (a product: a huge norm overflows to inf as the tensor path's square)
        self.r, self.c = r, torch.add(r, self.c, alpha=k / k_old)
        self._hostk = k
        both = torch.tensor([[k], [rn]], dtype=self.kold.dtype)
        self.kold = both[0]
        self.iiters = self.iiters + 1
        self.iiter += 1
        self.cost.append(both[1].reshape(self.batch))
        x = self._output(xf)
        if show:
            self._print_row([self.cost[-1]], x)
        return x

    def finalize(self, show: bool = False) -> None:
        """Stack the cost history to ``(iiter+1, *batch)``."""
        super().finalize()
        self.cost = torch.stack(self.cost).reshape(len(self.cost), *self.batch)
        if show:
            self._print_finalize(nbar=self.nbar)

    def solve(self, y: torch.Tensor, x0: torch.Tensor | None = None, niter: int = 10, damp: float = 0.0,
              tol: float = 1e-4, preallocate: bool = False, show: bool = False,
              itershow: tuple[int, int, int] = (10, 10, 10), *,
              progress: bool = False):
        """``setup`` + ``run`` + ``finalize``; returns ``(x, iiter, cost)`` like PyLops
        (``progress=True``: a progress bar, tqdm if installed, else a log line every 10 %)."""
        with progress_bar(self, progress, niter):
            x = self.setup(y=y, x0=x0, niter=niter, damp=damp, tol=tol, show=show)
            x = self.run(x, niter, show=show, itershow=itershow)
            self.finalize(show)
        return x, self.iiter, self.cost


class CGLS(_Batched):
    r"""Conjugate gradient least squares, batched.

    Solves :math:`\min_\mathbf{x} \|\mathbf{y}-\mathbf{A}\mathbf{x}\|_2^2 + \epsilon^2\|\mathbf{x}\|_2^2`
    (``damp`` = :math:`\epsilon`) for every sample of ``y``.

    Notes
    -----
    Per sample, :math:`\mathbf{s}_0 = \mathbf{y}-\mathbf{A}\mathbf{x}_0`,
    :math:`\mathbf{c}_0 = \mathbf{A}^H\mathbf{s}_0 - \epsilon^2\mathbf{x}_0`,
    :math:`\mathbf{q} = \mathbf{A}\mathbf{c}`; each step makes one adjoint and one forward pass:
    :math:`a = \|\mathbf{r}\|^2/(\|\mathbf{q}\|^2+\epsilon^2\|\mathbf{c}\|^2)`,
    :math:`\mathbf{x} \mathrel{+}= a\mathbf{c}`, :math:`\mathbf{s} \mathrel{-}= a\mathbf{q}`,
    :math:`\mathbf{r} = \mathbf{A}^H\mathbf{s} - \epsilon^2\mathbf{x}`,
    :math:`\mathbf{c} = \mathbf{r} + (\|\mathbf{r}\|^2/\|\mathbf{r}_{old}\|^2)\mathbf{c}`,
    :math:`\mathbf{q} = \mathbf{A}\mathbf{c}`. A sample stops when :math:`\|\mathbf{r}\|^2 \le`
    ``tol``. ``istop``: 1 tolerance reached, 2 ``niter`` reached, 3 stopped by a callback.

    Difference with PyLops 2.8: with a non-zero ``x0`` and ``damp``, PyLops uses
    :math:`\epsilon` instead of :math:`\epsilon^2` in :math:`\mathbf{c}_0` (and in the first
    ``r2norm``); here :math:`\epsilon^2` is used in both, so the first direction is the true
    negative gradient of the damped objective.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_basic import CGLS
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    >>> CGLS(D).solve(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64), niter=3, tol=0)[0].round(decimals=8)
    tensor([1., 1., 1.], dtype=torch.float64)
    """

    def setup(self, y: torch.Tensor, x0: torch.Tensor | None = None, niter: int | None = None,
              damp: float = 0.0, tol: float = 1e-4, preallocate: bool = False, show: bool = False) -> torch.Tensor:
        """Initialise residuals and direction; returns the starting ``x``."""
        niter = None if niter is None else count_arg(niter, "niter")
        self.niter, self.tol = niter, float(tol)
        damp = damp_arg(damp)
        self.damp = damp**2  # PyLops keeps the squared damping in ``self.damp``
        s, x = self._prepare(y, x0)
        if x0 is None:
            c = self._AH(s)
        else:
            s = s - self._A(x)
            c = self._AH(s) - self.damp * x
        self.s, self.c, self.q, self._qnorm = s, c, self._A(c), None
        self.kold = bnorm2(c)
        self._floor = floor_of(self.kold)
        self._thresh = torch.clamp_min(self._floor, self.tol)
        self._hostk = None  # (the float path's ||r||^2 while it runs; its threshold on its first step)
        self.cost1 = []
        self._costs(x)
        if show:
            self._print_solver(f"\ndamp = {float(damp):10e}\ttol = {self.tol:10e}\tniter = {niter}", nbar=self.nbar)
            logger.info("    Itn          x[0]              r1norm         r2norm")
        return self._output(x)

    def run(
        self, x: torch.Tensor, niter: int | None = None, show: bool = False, itershow: tuple[int, int, int] = (10, 10, 10)
    ) -> torch.Tensor:
        """As :meth:`CG.run`; a ``niter`` given here becomes ``self.niter`` (as PyLops' CGLS)."""
        if niter is not None:
            self.niter = count_arg(niter, "niter")
        return super().run(x, niter, show, itershow)

    def _costs(self, xf: torch.Tensor) -> None:
        s2 = bnorm2(self.s)
        self.cost.append(s2.sqrt().reshape(self.batch))
        self.cost1.append(self.cost[-1] if is_zero(self.damp) else (s2 + self.damp * bnorm2(xf)).sqrt().reshape(self.batch))

    def _active(self) -> torch.Tensor:
        # (kold > tol and kold > floor: see CG._active; one comparison with their maximum)
        return (self.kold > self._thresh) & ~self._cbmask

    def step(self, x: torch.Tensor, show: bool = False) -> torch.Tensor:
        """One CGLS step for every active sample."""
        xf = self._flatx(x)
        if self._host_floats(self.q, xf, self.s, self.c, self.kold, self.damp) and self._any_active():
            return self._step_host(xf, show)
        self._hostk = None
        act = self._active()
        damped = not is_zero(self.damp)
        # (kold keeps the dtype of setup's adjoint, which an operator casting in its adjoint can
        # leave below the rows' precision: the kernels take the rows' real dtype only)
        if (not damped and xf.dim() == 2 and self.s.dim() == 2 and _ops.cgls_fusable(xf, self.c, self.s, self.q)
                and self.kold.dtype is xf.real.dtype):
            return self._fused_step(act, xf, show)
        den = bnorm2(self.q) + self.damp * bnorm2(self.c) if damped else bnorm2(self.q)
        # a frozen sample takes a zero step, so x and s keep their values without a select
        a = masked_div(self.kold, den, act).unsqueeze(-1).to(self.dt)
        xf = torch.addcmul(xf, a, self.c)
        s = torch.addcmul(self.s, -a, self.q)
        r = self._AH(s)
        if damped:
            r = r - self.damp * xf
        k = bnorm2(r)
        # (a frozen sample gets c = r: its s and x no longer change, so neither do r and c)
        c = torch.addcmul(r, masked_div(k, self.kold, act).unsqueeze(-1).to(self.dt), self.c)
        if self.tol > 0:
            c = _where(act, c, self.c)
        # (q = A c of a frozen sample's unchanged c is its unchanged q)
        self.s, self.c, self.q, self._qnorm = s, c, self._A(c), None
        self.kold = torch.where(act, k, self.kold)
        self.iiters = self.iiters + act.to(torch.int64)
        self.iiter += 1
        self._costs(xf)
        x = self._output(xf)
        if show:
            self._print_row([self.cost[-1], self.cost1[-1]], x)
        return x

    def _step_host(self, xf: torch.Tensor, show: bool) -> torch.Tensor:
        """:meth:`step` for one active sample with the step lengths in Python floats (see
        :meth:`_host_floats`): half the tensor operations, the same values to rounding."""
        if self._hostk is None:  # (entering the float path: its state and threshold as floats)
            k_old, self._hostthr = float(self.kold[0]), (float(self._thresh[0]),)
        else:
            k_old = self._hostk
        damp = float(self.damp)
        qn = torch.linalg.vector_norm(self.q).item()
        den = qn * qn
        if damp != 0:
            cn = torch.linalg.vector_norm(self.c).item()
            den = den + damp * (cn * cn)
        a = k_old / den if den != 0 else 0.0
        xf = torch.add(xf, self.c, alpha=a)
        s = torch.add(self.s, self.q, alpha=-a)
        r = self._AH(s)
        if damp != 0:
            r = torch.add(r, xf, alpha=-damp)
        rn = torch.linalg.vector_norm(r).item()
        k = rn * rn  # (products: huge norms overflow to inf as the tensor path's squares)
        c = torch.add(r, self.c, alpha=k / k_old)
        self.s, self.c, self.q, self._qnorm, self._hostk = s, c, self._A(c), None, k
        sn = torch.linalg.vector_norm(s).item()
        if damp != 0:
            xn = torch.linalg.vector_norm(xf).item()
            vals = [k, sn, math.sqrt(sn * sn + damp * (xn * xn))]
        else:
            vals = [k, sn, sn]
        # (dtypes as the tensor path's: the costs in the rows' real dtype, ||r||^2 promoted with
        # the previous one: an adjoint answering in a lower precision does not lower them)
        self.kold = torch.tensor([k], dtype=torch.promote_types(self.kold.dtype, r.dtype.to_real()))
        costs = torch.tensor(vals[1:], dtype=s.dtype.to_real()).unsqueeze(-1)
        self.iiters = self.iiters + 1
        self.iiter += 1
        self.cost.append(costs[0].reshape(self.batch))
        self.cost1.append(costs[1].reshape(self.batch))
        x = self._output(xf)
        if show:
            self._print_row([self.cost[-1], self.cost1[-1]], x)
        return x

    def _fused_step(self, act: torch.Tensor, xf: torch.Tensor, show: bool) -> torch.Tensor:
        """:meth:`step` without damping through the fused kernels (``_ops.cgls_residual`` /
        ``cgls_direction``): the step lengths computed inside them, the residual update and its
        norm (the cost) in one pass, the model update deferred to the pass that builds the new
        direction (both read the old one). 14 passes over the vectors per step instead of 16,
        and a dozen kernels instead of about thirty; the same values up to rounding. Where the
        operator's kernels give the norm of their output in the same pass (``_flat_norm``: the
        stencil operators on the CUDA vector path), ``||A c||`` and ``||A^H s||`` take no pass
        of their own: 12."""
        # (||q|| came with q from the previous fused step, else it is computed here)
        qn = self._qnorm[1] if self._qnorm is not None and self._qnorm[0] is self.q else None
        if qn is None:
            qn = torch.linalg.vector_norm(self.q, dim=-1)
        s, snorm, a = _ops.cgls_residual(self.s, self.q, self.kold, qn, act)
        r, rn = self.Op._flat_norm(s, True)
        if r.shape == xf.shape and _ops.cgls_fusable(xf, r):
            # (with tol > 0 a frozen sample keeps its direction, as the select in step)
            xf, c, kold = _ops.cgls_direction(xf, self.c, r, a, rn, self.kold, act, self.tol > 0)
        else:  # (an adjoint answering in another dtype or type than the model's: the tensor ops)
            k = bnorm2(r)
            xf = torch.addcmul(xf, a.unsqueeze(-1).to(self.dt), self.c)
            c = torch.addcmul(r, masked_div(k, self.kold, act).unsqueeze(-1).to(self.dt), self.c)
            if self.tol > 0:
                c = _where(act, c, self.c)
            kold = torch.where(act, k, self.kold)
        q, qn = self.Op._flat_norm(c, False)
        self.s, self.c, self.q, self.kold, self._qnorm = s, c, q, kold, (q, qn)
        self.iiters = self.iiters + act
        self.iiter += 1
        self.cost.append(snorm.reshape(self.batch))
        self.cost1.append(self.cost[-1])
        x = self._output(xf)
        if show:
            self._print_row([self.cost[-1], self.cost1[-1]], x)
        return x

    def finalize(self, show: bool = False) -> None:
        """Per-sample ``istop``, ``r1norm`` (squared normal residual), ``r2norm``; stack ``cost``."""
        super().finalize()
        one, two, three = (torch.full_like(self.iiters, v) for v in (1, 2, 3))
        # as PyLops: 1 tolerance, else 2 when the last run's niter (setup's without a run) was
        # reached, else 3 (a callback's stop, or steps taken by hand short of niter)
        nrun = self._niter_run if getattr(self, "_niter_run", None) is not None else self.niter
        ran_out = self.iiters >= (nrun if nrun is not None else self.iiter)
        conv = (self.kold < self.tol) | (self.kold <= self._floor)  # (tolerance or machine precision)
        self.istop = torch.where(conv, one, torch.where(ran_out, two, three)).reshape(self.batch)
        self.r1norm = self.kold.reshape(self.batch)
        self.r2norm = self.cost1[-1].reshape(self.batch)
        self.cost = torch.stack(self.cost).reshape(len(self.cost), *self.batch)
        if show:
            self._print_finalize(nbar=self.nbar)

    def solve(self, y: torch.Tensor, x0: torch.Tensor | None = None, niter: int = 10, damp: float = 0.0,
              tol: float = 1e-4, preallocate: bool = False, show: bool = False,
              itershow: tuple[int, int, int] = (10, 10, 10), *,
              progress: bool = False):
        """Returns ``(x, istop, iiter, r1norm, r2norm, cost)`` like PyLops (``progress``: as :meth:`CG.solve`)."""
        with progress_bar(self, progress, niter):
            x = self.setup(y=y, x0=x0, niter=niter, damp=damp, tol=tol, show=show)
            x = self.run(x, niter, show=show, itershow=itershow)
            self.finalize(show)
        return x, self.istop, self.iiter, self.r1norm, self.r2norm, self.cost


def _hyp(*vals: torch.Tensor | float) -> torch.Tensor:
    """Euclidean norm of a few per-sample scalars."""
    return torch.sqrt(sum(v * v for v in vals))


def _ssqrt(s: torch.Tensor) -> torch.Tensor:
    """``sqrt(s)`` with a finite gradient at 0 (where the value is 0)."""
    ok = s > 0
    return torch.where(ok, torch.sqrt(torch.where(ok, s, 1.0)), 0.0)


def _shyp(*vals: torch.Tensor | float) -> torch.Tensor:
    """:func:`_hyp` with a finite gradient where all values are 0."""
    return _ssqrt(sum(v * v for v in vals))


def _sdiv(a: torch.Tensor | float, b: torch.Tensor) -> torch.Tensor:
    """``a / b``, 0 where ``b == 0`` (no inf or NaN in the value or the gradient)."""
    ok = b != 0
    return torch.where(ok, a / torch.where(ok, b, 1.0), 0.0)


class LSQR(_Batched):
    r"""LSQR (Paige and Saunders), batched, with the full set of stopping tests.

    Solves :math:`\min_\mathbf{x} \|\mathbf{y}-\mathbf{A}\mathbf{x}\|_2^2 + \epsilon^2\|\mathbf{x}\|_2^2`.

    Notes
    -----
    Golub-Kahan bidiagonalisation (one forward and one adjoint pass per step,
    :math:`\beta\mathbf{u} = \mathbf{A}\mathbf{v} - \alpha\mathbf{u}`,
    :math:`\alpha\mathbf{v} = \mathbf{A}^H\mathbf{u} - \beta\mathbf{v}`) followed by Givens
    rotations that eliminate the damping and the sub-diagonal; every scalar is a ``(B,)``
    tensor. ``istop`` (per sample): 0 x=0 is the solution / still running, 1
    :math:`\|\mathbf{r}\|` small (atol, btol), 2 least-squares solution good enough (atol),
    3 cond(A) > conlim, 4-6 the same at machine precision, 7 iteration limit (as PyLops, the
    code 7 is only set when the step counter reaches ``niter`` inside a step). ``var`` holds
    :math:`\sum_k |\mathbf{d}_k|^2` (``|.|^2`` also for complex models, where PyLops squares).
    A sample with ``istop != 0`` is frozen.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_basic import LSQR
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    >>> LSQR(D).solve(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64), niter=3)[0]
    tensor([1.0000, 1.0000, 1.0000], dtype=torch.float64)
    """

    nbar = 90
    #: scipy's stopping tests instead of PyLops' (``_ScipyLSQR``): test2 relative to
    #: ``anorm * rnorm`` (PyLops: to the first ``arnorm``) and the iteration limit counted as
    #: scipy counts it
    _scipy_tests = False
    msg = (
        "The exact solution is x = 0",
        "Op x - b is small enough, given atol, btol",
        "The least-squares solution is good enough, given atol",
        "The estimate of cond(Opbar) has exceeded conlim",
        "Op x - b is small enough for this machine",
        "The least-squares solution is good enough for this machine",
        "Cond(Opbar) seems to be too large for this machine",
        "The iteration limit has been reached",
    )

    def setup(self, y: torch.Tensor, x0: torch.Tensor | None = None, damp: float = 0.0, atol: float = 1e-8,
              btol: float = 1e-8, conlim: float = 1e8, niter: int = 10, calc_var: bool = True,
              preallocate: bool = False,
              show: bool = False) -> torch.Tensor:
        """Start the bidiagonalisation; returns the starting ``x``."""
        damp = damp_arg(damp)
        niter = None if niter is None else count_arg(niter, "niter")
        self.damp, self.atol, self.btol, self.conlim = damp, float(atol), float(btol), float(conlim)
        self.niter, self.calc_var = niter, calc_var
        u, x = self._prepare(y, x0)
        # scipy measures its tests against ||y||; PyLops against ||y - Op x0||
        ynorm = torch.linalg.vector_norm(u, dim=-1) if self._scipy_tests else None
        if x0 is not None:
            u = u - self._A(x)
        rdt = torch.empty(0, dtype=self.dt).abs().dtype
        z0 = u.new_zeros(self.B, dtype=rdt)
        self.var = u.new_zeros(self.B, self.Op.shape[1], dtype=rdt) if calc_var else None
        self.istop = torch.zeros(self.B, dtype=torch.int64, device=u.device)
        self.ctol = 1.0 / conlim if conlim > 0 else 0.0
        self.dampsq = damp**2
        for k in ("anorm", "acond", "ddnorm", "res2", "xnorm", "xxnorm", "z", "sn2"):
            setattr(self, k, z0)
        self.cs2 = z0 - 1
        self.beta = torch.linalg.vector_norm(u, dim=-1)
        self.u = u / torch.where(self.beta > 0, self.beta, 1).unsqueeze(-1).to(self.dt)
        v = self._AH(self.u)
        self.alfa = torch.where(self.beta > 0, torch.linalg.vector_norm(v, dim=-1), z0)
        self.v = _where(self.beta > 0, v / torch.where(self.alfa > 0, self.alfa, 1).unsqueeze(-1).to(self.dt), x)
        self.w = self.v
        self.arnorm = self.alfa * self.beta
        self.arnorm0, self.rhobar, self.phibar = self.arnorm, self.alfa, self.beta
        self.bnorm = self.rnorm = self.r1norm = self.r2norm = self.beta
        if ynorm is not None:
            self.bnorm = ynorm
        self.test1, self.test2, self.test3 = z0 + 1, safe_div(self.alfa, self.beta), z0
        self._r1abs = self.rnorm
        self.cost.append(self.rnorm.reshape(self.batch))
        if show:
            self._print_solver(f"\ndamp = {float(damp):20.14e}     calc_var = {calc_var:6g}\natol = {atol:8.2e}"
                               f"                 conlim = {conlim:8.2e}\nbtol = {btol:8.2e}                 "
                               f"niter = {niter:8g}", nbar=self.nbar)
            logger.info("   Itn     x[0]      r1norm     r2norm   Compatible   LS     Norm A   Cond A")
            self._print_row([self.r1norm, self.r2norm, self.test1, self.test2], x)
        return self._output(x)

    def _active(self) -> torch.Tensor:
        # arnorm0 == 0: x0 already solves the normal equations (PyLops prints a message); frozen
        return (self.istop == 0) & (self.arnorm0 != 0) & ~self._cbmask

    def _host_check(self) -> bool:
        return self.atol > 0 or self.btol > 0

    def _show_all(self) -> bool:
        # (PyLops: every step of a short run, and those where sample 0 nears or meets a test)
        if self.niter is not None and self.niter <= 40:
            return True
        if self.B == 0:
            return False
        anorm, xnorm, bnorm = (float(v.reshape(-1)[0]) for v in (self.anorm, self.xnorm, self.bnorm))
        rtol = self.btol + (self.atol * anorm * xnorm / bnorm if bnorm > 0 else 0.0)
        return bool(self.istop[0] != 0 or self.test3[0] <= 2 * self.ctol or self.test2[0] <= 10 * self.atol
                    or self.test1[0] <= 10 * rtol)

    def step(self, x: torch.Tensor, show: bool = False) -> torch.Tensor:
        """One bidiagonalisation step, rotations, update and stopping tests for active samples."""
        xf = self._flatx(x)
        av = self._A(self.v)
        hs = self._host_state(xf, av)
        if hs is not None:
            return self._step_host(xf, av, hs, show)
        act = self._active()
        dt, damp = self.dt, self.damp
        u = av - self.alfa.unsqueeze(-1).to(dt) * self.u
        beta = torch.linalg.vector_norm(u, dim=-1)
        pos = beta > 0
        u = _where(pos, u / torch.where(pos, beta, 1).unsqueeze(-1).to(dt), u)
        anorm = torch.where(pos, _hyp(self.anorm, self.alfa, beta, damp), self.anorm)
        v = _where(pos, self._AH(u) - beta.unsqueeze(-1).to(dt) * self.v, self.v)
        alfa = torch.where(pos, torch.linalg.vector_norm(v, dim=-1), self.alfa)
        v = _where(pos & (alfa > 0), v / torch.where(alfa > 0, alfa, 1).unsqueeze(-1).to(dt), v)
        # rotation eliminating the damping, then the sub-diagonal beta (divisions and square
        # roots guarded: a frozen sample's zeros must not give NaN gradients through the
        # shared operator in a differentiated solve; a nonzero denominator gives the same value)
        rhobar1 = _shyp(self.rhobar, damp)
        cs1, sn1 = _sdiv(self.rhobar, rhobar1), _sdiv(damp, rhobar1)
        psi, phibar = sn1 * self.phibar, cs1 * self.phibar
        rho = _shyp(rhobar1, beta)
        cs, sn = _sdiv(rhobar1, rho), _sdiv(beta, rho)
        theta, rhobar = sn * alfa, -cs * alfa
        phi, phibar = cs * phibar, sn * phibar
        tau = sn * phi
        t1, t2 = _sdiv(phi, rho).unsqueeze(-1).to(dt), _sdiv(-theta, rho).unsqueeze(-1).to(dt)
        dk = _sdiv(self.w, rho.unsqueeze(-1).to(dt))
        xn = xf + t1 * self.w
        w = v + t2 * self.w
        dk2 = dk.abs() ** 2
        ddnorm = self.ddnorm + dk2.sum(-1)
        new: dict[str, Any] = {}
        if self.calc_var:
            new["var"] = self.var + dk2
        # plane rotation on the right to estimate ||x||
        delta, gambar = self.sn2 * rho, -self.cs2 * rho
        rhs = phi - delta * self.z
        zbar = _sdiv(rhs, gambar)
        xnorm = _ssqrt(self.xxnorm + zbar**2)
        gamma = _shyp(gambar, theta)
        cs2, sn2, z = _sdiv(gambar, gamma), _sdiv(theta, gamma), _sdiv(rhs, gamma)
        xxnorm = self.xxnorm + z**2
        acond = anorm * _ssqrt(ddnorm)
        res2 = self.res2 + psi**2
        rnorm = _ssqrt(phibar**2 + res2)
        arnorm = alfa * tau.abs()
        r1sq = rnorm**2 - self.dampsq * xxnorm
        r1abs = _ssqrt(r1sq.abs())
        if self._scipy_tests:
            eps = _F64_EPS
            test1, test2, test3 = _sdiv(rnorm, self.bnorm), arnorm / (anorm * rnorm + eps), 1.0 / (acond + eps)
            limit = self.iiter + 1 >= self.niter
        else:
            test1, test2, test3 = _sdiv(rnorm, self.bnorm), _sdiv(arnorm, self.arnorm0), _sdiv(1.0, acond)
            limit = self.iiter >= self.niter
        t1s = test1 / (1.0 + _sdiv(anorm * xnorm, self.bnorm))
        rtol = self.btol + self.atol * _sdiv(anorm * xnorm, self.bnorm)
        istop = torch.zeros_like(self.istop)
        # later tests win, as in Paige and Saunders
        for cond, code in ((limit, 7), (1 + test3 <= 1, 6), (1 + test2 <= 1, 5),
                           (1 + t1s <= 1, 4), (test3 <= self.ctol, 3), (test2 <= self.atol, 2), (test1 <= rtol, 1)):
            istop = torch.where(torch.as_tensor(cond, device=istop.device), torch.full_like(istop, code), istop)
        new.update(u=u, beta=beta, anorm=anorm, v=v, alfa=alfa, rhobar=rhobar, phibar=phibar, w=w, ddnorm=ddnorm,
                   xnorm=xnorm, cs2=cs2, sn2=sn2, z=z, xxnorm=xxnorm, acond=acond, res2=res2, rnorm=rnorm,
                   arnorm=arnorm, r1norm=torch.where(r1sq < 0, -r1abs, r1abs), r2norm=rnorm, test1=test1,
                   test2=test2, test3=test3, istop=istop, _r1abs=r1abs)
        xf = _where(act, xn, xf)
        self._freeze(act, new)
        self.cost.append(self._r1abs.reshape(self.batch))
        x = self._output(xf)
        if show:
            self._print_row([self.r1norm, self.r2norm, self.test1, self.test2, self.anorm, self.acond], x)
        return x

    _SCALARS = ("anorm", "rhobar", "phibar", "sn2", "cs2", "z", "xxnorm", "ddnorm", "res2", "bnorm", "arnorm0")
    #: the state the float path reads, and the names it writes back
    _HOST_IN = ("alfa", *_SCALARS)
    _HOST_OUT = ("beta", "alfa", "anorm", "rhobar", "phibar", "ddnorm", "xnorm", "cs2", "sn2", "z", "xxnorm", "acond",
                 "res2", "rnorm", "arnorm", "r1norm", "r2norm", "test1", "test2", "test3", "_r1abs")

    def _host_state(self, xf: torch.Tensor, av: torch.Tensor) -> list[float] | None:
        """The scalar state as Python floats where this step may run in floats (see
        :meth:`_host_floats`; ``av`` is this step's ``A v``, which requires grad where the
        operator's tensors do) and the one sample is active, else None. After a float step the
        floats it wrote are reused as long as the attributes are the tensors it set, unchanged
        (their version counters)."""
        if not self._host_floats(av, xf, self.u, self.v, self.w, self.damp,
                                 *(getattr(self, k) for k in self._HOST_IN)):
            return None
        memo = self.__dict__.get("_hostmemo")
        if memo is not None and all(getattr(self, k) is t and t._version == ver for k, t, ver in memo[1]):
            return memo[0]
        state = torch.stack([getattr(self, k).reshape(()) for k in self._HOST_IN]).tolist()
        if int(self.istop[0]) != 0 or state[-1] == 0 or bool(self._cbmask[0]):
            return None  # (a frozen sample: the tensor path keeps its state)
        return state

    def _step_host(self, xf: torch.Tensor, av: torch.Tensor, state: list[float], show: bool) -> torch.Tensor:
        """:meth:`step` for one active double-precision sample with every scalar a Python float
        (norms read with ``item``: a dozen tensor operations and the two passes per step instead
        of about sixty); the tensor path's recurrences, equal to rounding (squares as products,
        which overflow to inf as tensors do rather than raise)."""
        sqrt = math.sqrt

        def sdiv(a: float, b: float) -> float:
            return a / b if b != 0 else 0.0

        def ssqrt(s: float) -> float:
            return sqrt(s) if s > 0 else 0.0

        old_alfa, anorm, rhobar, phibar, sn2, cs2, z, xxnorm, ddnorm, res2, bnorm, arnorm0 = state
        damp = float(self.damp)
        dampsq = float(self.dampsq)
        # bidiagonalisation: beta u = A v - alfa u, alfa v = A^H u - beta v
        # (a product then a sum, not torch.add's alpha, which fuses them: the tensor path's rounding)
        u = av - old_alfa * self.u
        beta = torch.linalg.vector_norm(u).item()
        v, alfa = self.v, old_alfa
        if beta > 0:
            u = u / beta
            anorm = sqrt(anorm * anorm + old_alfa * old_alfa + beta * beta + damp * damp)
            v = self._AH(u) - beta * v
            alfa = torch.linalg.vector_norm(v).item()
            if alfa > 0:
                v = v / alfa
        rhobar1 = ssqrt(rhobar * rhobar + damp * damp)
        cs1, sn1 = sdiv(rhobar, rhobar1), sdiv(damp, rhobar1)
        psi, phibar = sn1 * phibar, cs1 * phibar
        rho = ssqrt(rhobar1 * rhobar1 + beta * beta)
        cs, sn = sdiv(rhobar1, rho), sdiv(beta, rho)
        theta, rhobar = sn * alfa, -cs * alfa
        phi, phibar = cs * phibar, sn * phibar
        tau = sn * phi
        t1, t2 = sdiv(phi, rho), sdiv(-theta, rho)
        w_old = self.w
        xn = xf + t1 * w_old
        w = v + t2 * w_old
        if rho != 0:  # |d|^2 with d = w / rho (d = 0 where rho = 0)
            wn = torch.linalg.vector_norm(w_old).item() / rho
            ddnorm = ddnorm + wn * wn
            if self.calc_var:
                wr = torch.view_as_real(w_old) if w_old.is_complex() else w_old
                d2 = torch.square(wr / rho)
                self.var = self.var + (d2.sum(-1) if w_old.is_complex() else d2)
        delta, gambar = sn2 * rho, -cs2 * rho
        rhs = phi - delta * z
        zbar = sdiv(rhs, gambar)
        xnorm = ssqrt(xxnorm + zbar * zbar)
        gamma = ssqrt(gambar * gambar + theta * theta)
        cs2, sn2, z = sdiv(gambar, gamma), sdiv(theta, gamma), sdiv(rhs, gamma)
        xxnorm = xxnorm + z * z
        acond = anorm * ssqrt(ddnorm)
        res2 = res2 + psi * psi
        rnorm = ssqrt(phibar * phibar + res2)
        arnorm = alfa * abs(tau)
        r1sq = rnorm * rnorm - dampsq * xxnorm
        r1abs = ssqrt(abs(r1sq))
        if self._scipy_tests:
            test1, test2, test3 = sdiv(rnorm, bnorm), arnorm / (anorm * rnorm + _F64_EPS), 1.0 / (acond + _F64_EPS)
            limit = self.iiter + 1 >= self.niter
        else:
            test1, test2, test3 = sdiv(rnorm, bnorm), sdiv(arnorm, arnorm0), sdiv(1.0, acond)
            limit = self.iiter >= self.niter
        t1s = test1 / (1.0 + sdiv(anorm * xnorm, bnorm))
        rtol = self.btol + self.atol * sdiv(anorm * xnorm, bnorm)
        istop = 0
        for cond, code in ((limit, 7), (1 + test3 <= 1, 6), (1 + test2 <= 1, 5), (1 + t1s <= 1, 4),
                           (test3 <= self.ctol, 3), (test2 <= self.atol, 2), (test1 <= rtol, 1)):
            if cond:
                istop = code
        vals = (beta, alfa, anorm, rhobar, phibar, ddnorm, xnorm, cs2, sn2, z, xxnorm, acond, res2, rnorm, arnorm,
                -r1abs if r1sq < 0 else r1abs, rnorm, test1, test2, test3, r1abs)
        rows = torch.tensor(vals, dtype=self.beta.dtype).unsqueeze(-1).unbind(0)
        for k, t in zip(self._HOST_OUT, rows):
            setattr(self, k, t)
        self.u, self.v, self.w = u, v, w
        if istop:
            self.istop = torch.full_like(self.istop, istop)
        else:  # (still running: the floats of this step are the next one's state)
            keys = (*self._HOST_IN, "istop", "_cbmask")
            held = [getattr(self, k) for k in keys]
            # (inference tensors keep no version counter: no memo, the floats are read again)
            self._hostmemo = None if any(t.is_inference() for t in held) else (
                (alfa, anorm, rhobar, phibar, sn2, cs2, z, xxnorm, ddnorm, res2, bnorm, arnorm0),
                tuple((k, t, t._version) for k, t in zip(keys, held)))
        self.iiters = self.iiters + 1
        self.iiter += 1
        self.cost.append(self._r1abs.reshape(self.batch))
        x = self._output(xn)
        if show:
            self._print_row([self.r1norm, self.r2norm, self.test1, self.test2, self.anorm, self.acond], x)
        return x

    def finalize(self, show: bool = False) -> None:
        """Reshape the per-sample outputs to the batch shape and stack ``cost``."""
        super().finalize()
        for k in ("istop", "r1norm", "r2norm", "anorm", "acond", "arnorm", "xnorm"):
            setattr(self, k, getattr(self, k).reshape(self.batch))
        if self.var is not None:
            self.var = self.var.reshape(*self.batch, self.Op.shape[1])
        self.cost = torch.stack(self.cost).reshape(len(self.cost), *self.batch)
        if show:
            logger.info("LSQR finished: istop = %s", self.istop.reshape(-1).tolist())
            self._print_finalize(nbar=self.nbar)

    def solve(self, y: torch.Tensor, x0: torch.Tensor | None = None, damp: float = 0.0, atol: float = 1e-8,
              btol: float = 1e-8, conlim: float = 1e8, niter: int = 10, calc_var: bool = True,
              preallocate: bool = False, show: bool = False,
              itershow: tuple[int, int, int] = (10, 10, 10), *, progress: bool = False):
        """Returns ``(x, istop, iiter, r1norm, r2norm, anorm, acond, arnorm, xnorm, var, cost)``
        (``progress``: as :meth:`CG.solve`)."""
        with progress_bar(self, progress, niter):
            x = self.setup(y=y, x0=x0, damp=damp, atol=atol, btol=btol, conlim=conlim, niter=niter,
                           calc_var=calc_var, show=show)
            x = self.run(x, niter, show=show, itershow=itershow)
            self.finalize(show)
        return (x, self.istop, self.iiter, self.r1norm, self.r2norm, self.anorm, self.acond, self.arnorm,
                self.xnorm, self.var, self.cost)


class _ScipyLSQR(LSQR):
    """LSQR with scipy's ``lsqr`` stopping tests (the solver behind PyLops' ``engine="scipy"``
    in the least-squares inversions)."""

    _scipy_tests = True
