r"""Batched sparsity-promoting solvers: :class:`ISTA`, :class:`FISTA` (here) and
:class:`IRLS`, :class:`OMP`, :class:`SplitBregman` (re-exported from their own modules).

Every solver handles ``B`` problems at once: ``y`` of shape ``(*batch, *dimsd)`` (or flat
``(*batch, M)``) is held as a ``(B, M)`` tensor, the model as ``(B, N)``, and every
per-problem scalar (update norm, cost, threshold of the percentile variants) is a ``(B,)``
tensor. A sample whose stopping test holds is *frozen* (its state is kept with
``torch.where``, no host read): it stops changing while the others go on.

Host synchronisation: with ``tol=0`` ISTA/FISTA run exactly ``niter`` steps without
reading a tensor on the host (``torch.compile(fullgraph=True)`` / CUDA graphs can capture
them; a sample whose update is exactly 0 is frozen, as PyLops stops, but the loop goes on);
with ``tol > 0`` the loop asks the host whether every sample has stopped, after every step on
the CPU and every :data:`CHECK_EVERY` steps on an accelerator. ``monitorres=True`` and ``show=True`` read values every step.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import torch

from torchlops import _ops
from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import CHECK_EVERY, check_every, count_arg
from torchlops.optimization._progress import progress_bar
from torchlops.optimization._sparse_helpers import THRESHKINDS, Batch, SparseSolver, now, threshold, version_of
from torchlops.optimization.basesolver import logger
from torchlops.optimization.cls_irls import IRLS
from torchlops.optimization.cls_omp import OMP
from torchlops.optimization.cls_splitbregman import SplitBregman
from torchlops.optimization.eigs import KRYLOV_DEFAULT, operator_eigs, power_iteration

__all__ = ["ISTA", "FISTA", "IRLS", "OMP", "SplitBregman", "CHECK_EVERY"]



def _norm(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x, dim=-1)


def _norm1(x: torch.Tensor) -> torch.Tensor:
    """``(B, n) -> (B, 1)`` 2-norms of the rows."""
    return torch.linalg.vector_norm(x, dim=-1, keepdim=True)


def _as_real(v: torch.Tensor | float, dtype: torch.dtype) -> torch.Tensor | float:
    """A per-sample tensor parameter in the working real dtype (floats stay floats)."""
    return v.to(dtype) if isinstance(v, torch.Tensor) else v


def _hard_bound(thresh: float, dtype: torch.dtype) -> float | None:
    """``sqrt(2 thresh)`` as :func:`hardthreshold` rounds it in ``dtype`` (for float32 a double
    sqrt of the float32 value, correctly rounded back), None for other dtypes."""
    if dtype == torch.float64:
        return math.sqrt(2.0 * thresh)
    if dtype == torch.float32:
        return math.sqrt(2.0 * struct.unpack("f", struct.pack("f", thresh))[0])
    return None


def _per_row(v: torch.Tensor | float, B: int) -> bool:
    """A float, or a tensor of one value or one per row (``(B, 1)``), as the fused kernels take."""
    return not isinstance(v, torch.Tensor) or v.numel() == 1 or (v.numel() == B and v.dim() <= 2 and v.shape[0] == B)


def _axpy(x: torch.Tensor, a: torch.Tensor | float, g: torch.Tensor) -> torch.Tensor:
    """``x + a g`` in one pass (``a`` a float or a ``(B, 1)`` tensor)."""
    if isinstance(a, torch.Tensor):
        return torch.addcmul(x, a.to(g.dtype), g)
    if torch.compiler.is_compiling():
        # (inductor fuses add(x, mm(...), alpha=a) into an addmm that drops alpha, torch 2.13:
        # the plain expression, which it fuses into one pass anyway)
        return x + a * g
    return torch.add(x, g, alpha=a)


class ISTA(SparseSolver):
    r"""Iterative shrinkage-thresholding algorithm, batched.

    Solves, for every sample of ``y``,

    .. math::
        J = \|\mathbf{y} - \mathbf{Op}\,\mathbf{x}\|_2^2 + \epsilon \|\mathbf{x}\|_p

    (PyLops' objective: the threshold :math:`\epsilon\alpha/2` below minimises it) with
    :math:`p = 1` (soft), :math:`0` (hard) or :math:`1/2` (half thresholding), or with a
    sparsifying transform ``SOp``: :math:`\epsilon \|\mathbf{SOp}^H\mathbf{x}\|_p`.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator to invert.
    callbacks : :obj:`list`, optional
        :class:`torchlops.optimization.Callbacks` instances.

    Notes
    -----
    One step (two passes over the operator: one forward, one adjoint):

    .. math::
        \mathbf{r} = \mathbf{y} - \mathbf{Op}\,\mathbf{x}^{(i)}, \quad
        \mathbf{x}^{(i+1)} = T_{\epsilon\alpha/2 \cdot d_i}\left(\mathbf{x}^{(i)} +
        \alpha\,\mathbf{Op}^H \mathbf{r}\right)

    where :math:`T` is the thresholding (applied to :math:`\mathbf{SOp}^H(\cdot)` and mapped
    back by :math:`\mathbf{SOp}` when ``SOp`` is given), :math:`d_i` the ``decay`` and
    :math:`\alpha` the step (:math:`1/\lambda_{max}(\mathbf{Op}^H\mathbf{Op})` by power
    iteration when not given, as PyLops). The percentile variants keep the ``perc`` percent
    largest entries of each sample (the threshold is the sample's ``100 - perc`` percentile
    of :math:`|\cdot|`, computed with :func:`torch.quantile`). A sample stops when
    :math:`\|\mathbf{x}^{(i+1)} - \mathbf{x}^{(i)}\|_2 \le` ``tol``. The cost of step
    :math:`i` is :math:`\frac{1}{2}\|\mathbf{r}\|_2^2 + \epsilon\|\mathbf{x}^{(i+1)}\|_1` (PyLops' cost, which
    halves the data term that :math:`J` does not).
    ``eps`` and ``alpha`` may be tensors with one value per sample (and may require grad).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_sparsity import ISTA
    >>> A = torchlops.MatrixMult(torch.eye(4, dtype=torch.float64))
    >>> x, iiter, cost = ISTA(A).solve(torch.tensor([0.0, 2.0, 0.0, -1.0], dtype=torch.float64),
    ...                                niter=20, eps=0.1, alpha=1.0, tol=0)
    >>> x
    tensor([ 0.0000,  1.9500,  0.0000, -0.9500], dtype=torch.float64)
    """

    _name = "ISTA"

    def _print_setup(self) -> None:
        self._print_solver(f" ({self.threshkind} thresholding, batch of {self._b.B})")
        logger.info("eps = %s\ttol = %10e\tniter = %s", self.eps, self.tol, self.niter)
        a = self.alpha
        if isinstance(a, torch.Tensor):
            a = a.reshape(-1)[0].item() if a.numel() else math.nan
        if self.perc is None:
            logger.info("alpha = %10e\tthresh = %s", a, self.thresh)
        else:
            logger.info("alpha = %10e\tperc = %.1f", a, self.perc)
        logger.info("%s", "-" * 80)
        logger.info("   Itn          x[0]              r2norm     r12norm     xupdate   (sample 0)")

    def _print_step(self, x: torch.Tensor, costdata: torch.Tensor, costreg: torch.Tensor, xupdate: torch.Tensor) -> None:
        if x.shape[0] == 0:  # (an empty batch: no sample 0 to show)
            return
        x0 = x[0, 0]
        sx = f"  {complex(x0):1.2e}   " if x0.is_complex() else f"     {float(x0):11.4e}        "
        cd, cr, xu = float(costdata[0]), float(costreg[0]), float(xupdate[0])
        logger.info("%6d %s%10.3e   %9.3e  %10.3e", self.iiter, sx, cd, cd + cr, xu)

    def setup(
        self,
        y: torch.Tensor,
        x0: torch.Tensor | None = None,
        niter: int | None = None,
        SOp: LinearOperator | None = None,
        eps: float | torch.Tensor = 0.1,
        alpha: float | torch.Tensor | None = None,
        eigsdict: dict[str, Any] | None = None,
        tol: float = 1e-10,
        threshkind: str = "soft",
        perc: float | None = None,
        decay: Any = None,
        monitorres: bool = False,
        preallocate: bool = False,
        show: bool = False,
    ) -> torch.Tensor:
        """Check the arguments, compute ``alpha`` if needed; returns the starting model."""
        if threshkind not in THRESHKINDS:
            raise ValueError(f"threshkind must be one of {', '.join(THRESHKINDS)}, got {threshkind!r}")
        if threshkind.endswith("percentile"):
            if perc is None:
                raise ValueError(f"threshkind={threshkind!r} needs a percentile perc, got None")
            if not 0 <= float(perc) <= 100:
                raise ValueError(f"perc must lie in [0, 100], got {perc}")
        elif perc is not None:
            # (PyLops would threshold at the value 100 - perc; eps would go unused)
            raise ValueError(
                f"perc is for the percentile threshkinds (hard-, soft-, half-percentile); threshkind="
                f"{threshkind!r} thresholds with eps: leave perc None, got perc={perc!r}"
            )
        if SOp is not None:
            if not isinstance(SOp, LinearOperator):
                raise TypeError(f"SOp must be a torchlops LinearOperator, got {type(SOp).__name__}")
            if SOp.shape[0] != self.Op.shape[1]:
                raise ValueError(
                    f"SOp must have {self.Op.shape[1]} rows (the model size of Op), got shape {SOp.shape}"
                )
        niter = None if niter is None else count_arg(niter, "niter")
        self._b = b = Batch(self.Op, y, x0)
        self.y = b.data(b.y)
        self._yf = b.y
        self.SOp, self.niter, self.tol = SOp, niter, float(tol)
        self.threshkind = threshkind
        self.perc = None if perc is None else float(perc)
        self.monitorres = monitorres
        rdt = b.y.real.dtype if b.y.is_complex() else b.y.dtype
        self.eps = _as_real(b.scalar(eps, "eps"), rdt)
        # (a single number: the same factor at every step, as PyLops takes one)
        self._decay_one = decay is not None and (
            isinstance(decay, (int, float, np.number)) or (isinstance(decay, (torch.Tensor, np.ndarray)) and decay.ndim == 0))
        self.decay = None if decay is None else torch.as_tensor(decay, dtype=rdt, device=b.y.device).reshape(-1)
        if alpha is not None:
            self.alpha = _as_real(b.scalar(alpha, "alpha"), rdt)
        elif eigsdict is None and not (torch.is_grad_enabled() and any(
                t.requires_grad for t in (*self.Op.parameters(), *self.Op.buffers()))):
            # (as PyLops on NumPy: the largest eigenvalue of Op^H Op from a Krylov method, Lanczos
            # here (KRYLOV_DEFAULT steps at most), not a power iteration's estimate, which stops
            # short of it where the top eigenvalues are close; an operator whose tensors need a
            # gradient takes the power iteration below, which carries it into the step)
            maxeig = operator_eigs(self.Op.H @ self.Op, neigs=1, symmetric=True,
                                   niter=min(KRYLOV_DEFAULT, self.Op.shape[1]))[0]
            self.alpha = (1.0 / maxeig.abs()).to(rdt)
        else:
            opts = {"niter": 100, "tol": 1e-6}
            opts.update(eigsdict or {})
            if "generator" not in opts:
                dev = self.Op.device or b.y.device
                opts["generator"] = torch.Generator(device=dev).manual_seed(0)
            maxeig = power_iteration(self.Op.H @ self.Op, **opts)[0]
            self.alpha = (1.0 / maxeig.abs()).to(rdt)
        self.thresh = self.eps * self.alpha * 0.5
        x = b.y.new_zeros(b.B, b.N) if x0 is None else b.flat_model(x0)
        self.z = x
        self._zstate: tuple | None = None  # (FISTA: the z its last step returned, its version, self.z)
        self.t = 1.0
        self.normresold = torch.full((b.B,), math.inf, dtype=rdt, device=b.y.device)
        # per-sample state as (B, 1) columns (they select rows of (B, n) tensors as they are)
        self._act2 = torch.ones(b.B, 1, dtype=torch.bool, device=b.y.device)
        self._xu = torch.full((b.B, 1), math.inf, dtype=rdt, device=b.y.device)
        self._iiters = torch.zeros(b.B, dtype=torch.int64, device=b.y.device)
        self._acts: list[torch.Tensor] = []  # activity of the steps not yet added to _iiters
        self._lastcost: torch.Tensor | None = None
        self.cost = []
        self.iiter = 0
        self.tstart = now()
        if show:
            self._print_setup()
        return self._hand_back(x, None, None)

    # ---------------------------------------------------------------- per-sample views
    @property
    def active(self) -> torch.Tensor:
        """``(B,)`` bool: the samples still iterating."""
        return self._act2.reshape(-1)

    @active.setter
    def active(self, value: torch.Tensor) -> None:
        self._act2 = value.reshape(-1, 1)

    @property
    def xupdate(self) -> torch.Tensor:
        """``(B,)``: each sample's last model-update norm (``inf`` before the first step)."""
        return self._xu.reshape(-1)

    @xupdate.setter
    def xupdate(self, value: torch.Tensor) -> None:
        self._xu = value.reshape(-1, 1)

    @property
    def iiters(self) -> torch.Tensor:
        """``(B,)`` int64: the steps each sample has made before it stopped."""
        if self._acts:  # the activities of the steps since the last read, added at once
            self._iiters = self._iiters + torch.stack(self._acts).sum(0).reshape(-1)
            self._acts = []
        return self._iiters

    @iiters.setter
    def iiters(self, value: torch.Tensor) -> None:
        self._iiters = value
        self._acts = []

    # ------------------------------------------------------------------ one step
    def _shrinkable(self) -> str | None:
        """The kind of the fused kernel ``T(z + alpha g)`` for this step's thresholding ("soft",
        "hard"), or None when the step takes the tensor ops (a transform, percentiles, decay)."""
        if self.SOp is not None or self.perc is not None or self.decay is not None:
            return None
        return self.threshkind if self.threshkind in ("soft", "hard") else None

    def _shrink(self, z: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """``T(z + alpha g)``: one fused pass on the CPU when nothing needs a gradient."""
        kind = self._shrinkable()
        if (kind is not None and g.shape == z.shape and z.dim() == 2 and _per_row(self.alpha, z.shape[0])
                and _per_row(self.thresh, z.shape[0]) and _ops.sparse_fusable(z, g, self.alpha, self.thresh)):
            return _ops.shrink(z, g, self.alpha, self.thresh, kind)
        return self._threshold(_axpy(z, self.alpha, g))

    def _threshold(self, xu: torch.Tensor) -> torch.Tensor:
        t = self.thresh
        if type(t) is float and 0 <= t < math.inf and self.SOp is None and self.decay is None and self.perc is None:
            # torch's softshrink / hardshrink are these thresholdings exactly, in one pass
            if self.threshkind == "soft" and not xu.is_complex():
                return torch.nn.functional.softshrink(xu, t)
            if self.threshkind == "hard":
                bound = _hard_bound(t, xu.dtype)
                if bound is not None:
                    return torch.nn.functional.hardshrink(xu, bound)
        if self.SOp is not None:
            xu = self.SOp._flat(xu, True)
        if self.perc is None:
            t = self.thresh if self.decay is None else self.decay[0 if self._decay_one else self.iiter] * self.thresh
            xt = threshold(xu, self.threshkind, t, None)
        else:
            xt = threshold(xu, self.threshkind, 0.0, self.perc)
        if self.SOp is not None:
            xt = self.SOp._flat(xt, False)
        return xt

    def _monitor(self, res: torch.Tensor) -> None:
        if self.monitorres:
            normres = _norm(res)
            if bool((self.active & (normres > self.normresold)).any()):
                raise ValueError(
                    f"{self._name} stopped at iteration {self.iiter} due to residual increasing, "
                    "consider modifying eps and/or alpha..."
                )
            self.normresold = torch.where(self.active, normres, self.normresold)

    def _commit(self, xn: torch.Tensor, xprev: torch.Tensor, rnorm: torch.Tensor, show: bool) -> torch.Tensor:
        """Per-sample bookkeeping shared by ISTA and FISTA: ``xn`` is the new iterate, ``xprev``
        the previous one, ``rnorm`` ``(B, 1)`` the norm of the residual the cost counts; returns
        the new model (frozen samples keep theirs)."""
        xu = _norm1(xn - xprev)
        l1 = torch.linalg.vector_norm(xn, ord=1, dim=-1, keepdim=True)
        costreg = torch.mul(l1, self.eps)  # eps: a float or (B, 1)
        cost = torch.addcmul(costreg, rnorm, rnorm, value=0.5)
        act = self._act2
        xs = torch.where(act, xn, xprev)
        if self._lastcost is not None:
            cost = torch.where(act, cost, self._lastcost)
        self._lastcost = cost
        self._xu = xu = torch.where(act, xu, self._xu)
        self._acts.append(act)
        self._act2 = act & (xu > self.tol)
        self.cost.append(cost.reshape(self._b.batch))
        self.iiter += 1
        if show:  # (numbered from 1, as PyLops)
            self._print_step(xs, (0.5 * rnorm.square()).reshape(-1), costreg.reshape(-1), xu.reshape(-1))
        return xs

    def _hand_back(self, x: torch.Tensor, r: torch.Tensor | None, rz: torch.Tensor | None) -> torch.Tensor:
        """The model ``(*batch, *dims)`` of the flat ``x``, remembered with the iteration's
        residuals (FISTA: ``y - Op x`` and ``y - Op z``; None: not computed) for the next step."""
        out = self._b.model(x)
        self._state = (out, version_of(out), x, r, rz)
        return out

    def _iterate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """The flat model and the remembered residuals for the model ``x`` given to ``step``:
        those of the last step when ``x`` is the model it returned, unchanged since (its
        version counter); otherwise ``x`` itself and no residuals."""
        st = self._state
        if st[0] is x and (st[1] is None or x._version == st[1]):
            return st[2], st[3], st[4]
        return self._b.flat_model(x, "x"), None, None

    def _update_norms(self) -> torch.Tensor:
        """Each sample's last update norm, of the batch's shape (0-d for one problem)."""
        return self._xu.reshape(self._b.batch)

    def step(self, x: torch.Tensor, show: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        r"""One ISTA step on the model ``x`` (as returned by ``setup``/``step``); returns
        ``(x, xupdate)`` as PyLops: the new model and each sample's update norm
        :math:`\|\mathbf{x}^{(i+1)} - \mathbf{x}^{(i)}\|_2`, a tensor of the batch's shape (0-d for
        one problem; nothing is read on the host)."""
        xold = self._iterate(x)[0]
        res = self._yf - self.Op._flat(xold, False)
        self._monitor(res)
        xn = self._shrink(xold, self.Op._flat(res, True))
        return self._hand_back(self._commit(xn, xold, _norm1(res), show), None, None), self._update_norms()

    # ------------------------------------------------------------------ loop
    def run(
        self, x: torch.Tensor, niter: int | None = None, show: bool = False, itershow: tuple[int, int, int] = (10, 10, 10)
    ) -> torch.Tensor:
        """Run up to ``niter`` steps (``setup``'s ``niter`` when None)."""
        niter = self.niter if niter is None else count_arg(niter, "niter")
        if niter is None:
            raise ValueError("niter must not be None")
        if self.perc is None and self.decay is not None and not self._decay_one and self.decay.numel() < niter:
            raise ValueError(f"decay must hold at least niter={niter} values, got {self.decay.numel()}")
        every = check_every(x)
        while self.iiter < niter:
            k = self.iiter
            showstep = show and (k < itershow[0] or niter - k < itershow[1] or k % itershow[2] == 0)
            x = self._run_step(x, showstep)
            if self.should_stop():
                break
            if self.tol > 0 and self.iiter % every == 0 and not bool(self._act2.any()):
                break
        if self.tol > 0 and not bool(self.active.any()):
            logger.info("Update smaller than tolerance for iteration %d", self.iiter)
        return x

    def _run_step(self, x: torch.Tensor, show: bool) -> torch.Tensor:
        return self.step(x, show)[0]

    def finalize(self, show: bool = False) -> None:
        """Stack the cost history into a ``(iiter, *batch)`` tensor."""
        self.telapsed = now() - self.tstart
        if isinstance(self.cost, list):
            b = self._b
            self.cost = torch.stack(self.cost) if self.cost else self._yf.real.new_zeros(0, *b.batch)
        if show:
            self._print_finalize()

    def solve(
        self,
        y: torch.Tensor,
        x0: torch.Tensor | None = None,
        niter: int | None = None,
        SOp: LinearOperator | None = None,
        eps: float | torch.Tensor = 0.1,
        alpha: float | torch.Tensor | None = None,
        eigsdict: dict[str, Any] | None = None,
        tol: float = 1e-10,
        threshkind: str = "soft",
        perc: float | None = None,
        decay: Any = None,
        monitorres: bool = False,
        preallocate: bool = False,
        show: bool = False,
        itershow: tuple[int, int, int] = (10, 10, 10),
        *,
        progress: bool = False,
    ) -> tuple[torch.Tensor, int, torch.Tensor]:
        """``setup``, ``run`` and ``finalize``; returns ``(x, iiter, cost)`` like PyLops
        (``progress=True``: a progress bar, tqdm if installed, else a log line every 10 %)."""
        with progress_bar(self, progress, niter):
            x = self.setup(y, x0=x0, niter=niter, SOp=SOp, eps=eps, alpha=alpha, eigsdict=eigsdict, tol=tol,
                           threshkind=threshkind, perc=perc, decay=decay, monitorres=monitorres, show=show)
            x = self.run(x, niter, show=show, itershow=itershow)
            self.finalize(show)
        return x, self.iiter, self.cost


class FISTA(ISTA):
    r"""Fast iterative shrinkage-thresholding algorithm, batched.

    Same problem, arguments and returns as :class:`ISTA`, with Nesterov's momentum.

    Notes
    -----
    One step makes two passes over the operator (one forward, one adjoint; PyLops makes three):

    .. math::
        \mathbf{x}^{(i+1)} = T\left(\mathbf{z}^{(i)} + \alpha\,\mathbf{Op}^H(\mathbf{y} -
        \mathbf{Op}\,\mathbf{z}^{(i)})\right), \quad
        t_{i+1} = \frac{1 + \sqrt{1 + 4 t_i^2}}{2}, \quad
        \mathbf{z}^{(i+1)} = \mathbf{x}^{(i+1)} + \frac{t_i - 1}{t_{i+1}}
        (\mathbf{x}^{(i+1)} - \mathbf{x}^{(i)})

    with :math:`t_0 = 1`, :math:`\mathbf{z}^{(0)} = \mathbf{x}^{(0)}`. The cost of step
    :math:`i` is :math:`\frac{1}{2}\|\mathbf{y} - \mathbf{Op}\,\mathbf{x}^{(i+1)}\|_2^2 +
    \epsilon\|\mathbf{x}^{(i+1)}\|_1`. The momentum vector is held in ``self.z`` (flat) and
    returned by ``step`` as PyLops' ``z``. By linearity
    :math:`\mathbf{y} - \mathbf{Op}\,\mathbf{z}^{(i+1)} = \mathbf{r}^{(i+1)} + \frac{t_i - 1}{t_{i+1}}
    (\mathbf{r}^{(i+1)} - \mathbf{r}^{(i)})` with :math:`\mathbf{r}^{(i)} = \mathbf{y} -
    \mathbf{Op}\,\mathbf{x}^{(i)}`, so the forward pass made for the cost gives the next residual
    too (both are recomputed when ``step`` gets another ``x`` than the one it returned, or that
    one changed in place).

    On the CPU, with the compiled extension, a step that needs no gradient runs its vector work
    in two fused kernels (``T(z + alpha g)``, then everything after the forward pass: residual,
    norms, cost, per-sample freeze, momentum) instead of about twenty tensor ops; they give the
    same iteration (see ``docs/kernels.md``). Unrolled differentiation, ``torch.compile``,
    complex data and other devices take the tensor ops.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_sparsity import FISTA
    >>> A = torchlops.MatrixMult(torch.eye(3, dtype=torch.float64))
    >>> FISTA(A).solve(torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64), niter=30, eps=0.1, alpha=1.0)[0]
    tensor([0.0000, 1.9500, 0.0000], dtype=torch.float64)
    """

    _name = "FISTA"
    #: the next step of run takes x as the momentum model (run's first step, as PyLops' run)
    _z_from_x = False

    def _momentum(self, z: torch.Tensor | None) -> tuple[bool, torch.Tensor | None]:
        """``(own, flat)`` for the momentum model ``z`` given to ``step`` (None: the solver's
        own): ``own`` when it is the momentum the last step left, unchanged since (not changed
        in place, ``self.z`` not replaced), so its remembered residual holds; ``flat`` the new
        momentum to take (None: keep ``self.z``). Nothing is changed here."""
        st = self._zstate
        unchanged = st is not None and st[2] is self.z and (st[1] is None or st[0]._version == st[1])
        if z is None:
            return unchanged, None
        if not isinstance(z, torch.Tensor):  # (step(x, True): PyLops' second argument is z)
            raise TypeError(f"FISTA.step(x, z=None, show=False): z must be the momentum model step returned "
                            f"(or None for the solver's own), got {type(z).__name__}")
        if unchanged and st[0] is z:
            return True, None
        return False, self._b.flat_model(z, "z")

    def _hand_back_z(self) -> torch.Tensor:
        out = self._b.model(self.z)
        ver = version_of(out)
        self._zstate = (out, ver, self.z)
        return out

    def run(
        self, x: torch.Tensor, niter: int | None = None, show: bool = False, itershow: tuple[int, int, int] = (10, 10, 10)
    ) -> torch.Tensor:
        """Run up to ``niter`` steps from the model ``x``, with the momentum model starting at
        ``x`` (as PyLops' ``run``: a second ``run`` restarts the momentum; ``t`` goes on)."""
        self._z_from_x = True
        try:
            return super().run(x, niter, show, itershow)
        finally:
            self._z_from_x = False

    def _run_step(self, x: torch.Tensor, show: bool) -> torch.Tensor:
        first, self._z_from_x = self._z_from_x, False
        return self.step(x, x if first else None, show)[0]

    def step(self, x: torch.Tensor, z: torch.Tensor | None = None,
             show: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One FISTA step on the model ``x`` and the momentum model ``z`` (None: the solver's
        own, ``self.z``); returns ``(x, z, xupdate)`` as PyLops (``xupdate``: see
        :meth:`ISTA.step`)."""
        same = z is not None and z is x  # (z = x: its flat copy and residual are x's)
        own_z, zf = self._momentum(None if same else z)
        xold, r, rz = self._iterate(x)
        if same:
            self.z, own_z = xold, False
        elif zf is not None:  # (both x and z checked: a bad call changes nothing)
            self.z = zf
        yf, Op, z = self._yf, self.Op, self.z
        if r is None or not own_z:  # first step, or another x or z than the ones returned
            if r is None:
                r = yf - Op._flat(xold, False)
            rz = r if z is xold else yf - Op._flat(z, False)
        self._monitor(rz)
        g = Op._flat(rz, True)
        act = self._act2
        B = g.shape[0]
        col = (B, 1)
        # the fused CPU kernels take this step when the state is plain tensors of one dtype and
        # shape (B, n) / (B, 1) and nothing needs a gradient (one check for both kernels; the
        # forward pass below is checked on its own)
        fuse = (not show and act.dtype is torch.bool and act.shape == col and self._xu.shape == col
                and (self._lastcost is None or self._lastcost.shape == col) and z.shape == xold.shape == g.shape
                and r.shape == rz.shape == yf.shape and _per_row(self.eps, B) and _per_row(self.alpha, B)
                and _per_row(self.thresh, B)
                and _ops.sparse_fusable(g, xold, z, r, rz, yf, act, self._xu, self._lastcost, self.eps,
                                        self.alpha, self.thresh))
        kind = self._shrinkable() if fuse else None
        if kind is not None:
            xn = _ops.shrink(z, g, self.alpha, self.thresh, kind)
        else:  # (not fusable: checked above, no second check)
            xn = self._threshold(_axpy(z, self.alpha, g))
        told = self.t
        self.t = (1.0 + math.sqrt(1.0 + 4.0 * told**2)) / 2.0
        w = 1.0 + (told - 1.0) / self.t
        oxn = Op._flat(xn, False)
        if (fuse and oxn.dtype is g.dtype and xn.dtype is g.dtype and oxn.shape == r.shape
                and type(oxn) in _ops._PLAIN and oxn.is_cpu and not oxn.requires_grad and not xn.requires_grad):
            # the rest of the step (below) in one pass of the CPU kernel
            x_new, self.z, r, rz, self._xu, self._act2, cost = _ops.fista_update(
                xn, xold, z, r, rz, yf, oxn, act, self._xu, self._lastcost, w, self.tol, self.eps)
            self._acts.append(act)
            self._lastcost = cost
            self.cost.append(cost.reshape(self._b.batch))
            self.iiter += 1
            return self._hand_back(x_new, r, rz), self._hand_back_z(), self._update_norms()
        rn = yf - oxn
        x_new = self._commit(xn, xold, _norm1(rn), show)
        self.z = torch.where(act, torch.lerp(xold, xn, w), z)  # xn + c (xn - xold), one kernel
        # y - Op z by linearity (no third pass); a frozen sample keeps its residuals too
        rz = torch.where(act, torch.lerp(r, rn, w), rz)
        return self._hand_back(x_new, torch.where(act, rn, r), rz), self._hand_back_z(), self._update_norms()
