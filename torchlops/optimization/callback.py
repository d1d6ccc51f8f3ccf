"""Callbacks: hooks called by the solvers around setup, each step and the run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from torchlops.optimization.basesolver import Solver

__all__ = [
    "Callbacks",
    "MetricsCallback",
    "CostToInitialCallback",
    "CostToDataCallback",
    "CostNanInfCallback",
]


class Callbacks:
    """Base class of solver callbacks: override any hook. Setting ``self.stop = True`` in a
    hook makes the solver stop after the current step (checked on the host, no tensor read);
    on a batch, ``self.stop`` may be a bool tensor with one flag per sample: those samples are
    frozen (they stop changing) and the run ends when none is left.

    Examples
    --------
    >>> import torch, torchlops
    >>> class Store(torchlops.optimization.Callbacks):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.xs = []
    ...     def on_step_end(self, solver, x):
    ...         self.xs.append(x.clone())
    """

    def __init__(self) -> None:
        self.stop = False

    def on_setup_begin(self, solver: Solver, x0: torch.Tensor | None) -> None:
        """Before ``setup``; ``x0`` is the starting model given to it (None when not given)."""

    def on_setup_end(self, solver: Solver, x0: torch.Tensor | None) -> None:
        """After ``setup``; ``x0`` as :meth:`on_setup_begin` gets it (as PyLops passes it; the
        model ``setup`` returned is the ``x`` of the first ``on_step_begin``). PyLops passes a
        keyword ``x0`` only (None for a positional one); here both are passed."""

    def on_step_begin(self, solver: Solver, x: torch.Tensor) -> None:
        """Before each ``step``."""

    def on_step_end(self, solver: Solver, x: torch.Tensor) -> None:
        """After each ``step``."""

    def on_run_begin(self, solver: Solver, x: torch.Tensor) -> None:
        """Before ``run``."""

    def on_run_end(self, solver: Solver, x: torch.Tensor) -> None:
        """After ``run``."""


class MetricsCallback(Callbacks):
    """Record, after every step, metrics of the estimate against a known model ``xtrue``:
    per-sample ``mae``, ``mse``, ``snr`` (dB) and ``psnr`` (dB), as tensors (no host read),
    with PyLops' definitions (``psnr`` uses the peak ``max(xtrue)`` over the range from 0,
    ``max |xtrue|`` for complex models).

    Parameters
    ----------
    xtrue : :obj:`torch.Tensor`
        True model: one model (flat or N-d, shared by every sample of a batch), or one per
        sample in the estimate's shape.
    Op : :obj:`torchlops.LinearOperator`, optional
        Applied to the estimate before it is compared with ``xtrue`` (as PyLops); ``xtrue``
        is then in ``Op``'s data space.
    which : :obj:`list`, optional
        Metrics to record (default all four).
    """

    def __init__(self, xtrue: torch.Tensor, Op: object = None, which: tuple[str, ...] = ("mae", "mse", "snr", "psnr")) -> None:
        super().__init__()
        bad = set(which) - {"mae", "mse", "snr", "psnr"}
        if bad:
            raise ValueError(f"which must hold 'mae', 'mse', 'snr' or 'psnr', got {sorted(bad)}")
        self.xtrue = torch.as_tensor(xtrue)
        self.Op = Op
        self.which = tuple(which)
        self.metrics: dict[str, list[torch.Tensor]] = {k: [] for k in self.which}

    def on_step_end(self, solver: Solver, x: torch.Tensor) -> None:
        Op = solver.Op
        if self.Op is not None:
            x = self.Op.matvec(x)
            dims, n = tuple(self.Op.dimsd), self.Op.shape[0]
        else:
            dims, n = tuple(Op.dims), Op.shape[1]
        # the estimate as (*batch, n), whichever form the solver hands back
        batch = x.shape[: x.dim() - len(dims)] if tuple(x.shape[x.dim() - len(dims):]) == dims else x.shape[:-1]
        xf = x.reshape(*batch, n)
        xt = self.xtrue.to(device=x.device)
        if xt.numel() == n:  # one model for every sample
            xt = xt.reshape(n)
        elif xt.numel() == xf.numel():
            xt = xt.reshape(xf.shape)
        else:
            raise ValueError(
                f"MetricsCallback: xtrue has {xt.numel()} values; expected one model of {n} or one per "
                f"sample ({xf.numel()})"
            )
        if x.is_complex() and not xt.is_complex():
            xt = xt.to(x.dtype)
        elif not x.is_complex() and xt.is_complex():
            xf = xf.to(xt.dtype)
        err = (xf - xt).abs()
        mse = (err**2).mean(-1)
        power = (xt.abs() ** 2).mean(-1)
        peak = (xt.abs() if xt.is_complex() else xt).amax(-1) ** 2
        values = {
            "mae": err.mean(-1),
            "mse": mse,
            "snr": 10 * torch.log10(power / mse),
            "psnr": 10 * torch.log10(peak / mse),
        }
        for k in self.which:
            self.metrics[k].append(values[k])


def _data_norm(solver: Solver) -> torch.Tensor:
    """Per-sample 2-norms of the solver's data ``y`` (flat or N-d, batched or not)."""
    return torch.linalg.vector_norm(solver.Op._flat_data(solver.y), dim=-1)


def _flag(test: torch.Tensor) -> bool | torch.Tensor:
    """A stop flag: a bool for one problem, a bool tensor (one flag per sample) for a batch."""
    test = torch.as_tensor(test)
    return bool(test) if test.numel() == 1 else test.reshape(-1)


class CostToInitialCallback(Callbacks):
    """Stop when the cost falls below ``rtol`` times the first recorded cost (reads the cost
    on the host). On a batch, per sample: a sample that meets the test is frozen (it stops
    changing, as one that converged) and the run ends when all have."""

    def __init__(self, rtol: float) -> None:
        super().__init__()
        self.rtol = float(rtol)

    def on_step_end(self, solver: Solver, x: torch.Tensor) -> None:
        cost = solver.cost
        if len(cost):
            self.stop = _flag(torch.as_tensor(cost[-1]) < self.rtol * torch.as_tensor(cost[0]))


class CostToDataCallback(Callbacks):
    """Stop when the cost falls below ``rtol`` times the data norm (reads the cost on the
    host); on a batch, per sample (see :class:`CostToInitialCallback`)."""

    def __init__(self, rtol: float) -> None:
        super().__init__()
        self.rtol = float(rtol)

    def on_step_end(self, solver: Solver, x: torch.Tensor) -> None:
        test = torch.as_tensor(solver.cost[-1]).reshape(-1) < self.rtol * _data_norm(solver).reshape(-1)
        self.stop = _flag(test)


class CostNanInfCallback(Callbacks):
    """Stop when the cost becomes NaN or infinite (reads the cost on the host); on a batch,
    per sample: a sample whose cost does is frozen, the others go on."""

    def on_step_end(self, solver: Solver, x: torch.Tensor) -> None:
        self.stop = _flag(~torch.isfinite(torch.as_tensor(solver.cost[-1])))
