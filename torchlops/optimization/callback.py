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
    hook makes the solver stop after the current step (checked on the host, no tensor read).

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
        """Before ``setup``."""

    def on_setup_end(self, solver: Solver, x: torch.Tensor) -> None:
        """After ``setup``."""

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
    per-sample ``mae``, ``mse``, ``snr`` (dB) and ``psnr`` (dB), as tensors (no host read).

    Parameters
    ----------
    xtrue : :obj:`torch.Tensor`
        True model, broadcastable to the estimate.
    Op : optional
        Accepted for PyLops compatibility (unused).
    which : :obj:`list`, optional
        Metrics to record (default all four).
    """

    def __init__(self, xtrue: torch.Tensor, Op: object = None, which: tuple[str, ...] = ("mae", "mse", "snr", "psnr")) -> None:
        super().__init__()
        bad = set(which) - {"mae", "mse", "snr", "psnr"}
        if bad:
            raise ValueError(f"which must hold 'mae', 'mse', 'snr' or 'psnr', got {sorted(bad)}")
        self.xtrue = xtrue
        self.which = tuple(which)
        self.metrics: dict[str, list[torch.Tensor]] = {k: [] for k in self.which}

    def on_step_end(self, solver: Solver, x: torch.Tensor) -> None:
        xt = self.xtrue.to(x.dtype) if x.is_complex() or not self.xtrue.is_complex() else self.xtrue
        err = (x - xt).abs()
        dims = tuple(range(x.dim() - len(solver.Op.dims), x.dim()))
        mse = (err**2).mean(dims)
        power = (xt.abs() ** 2).mean(dims)
        peak = xt.abs().amax(dims) ** 2
        values = {
            "mae": err.mean(dims),
            "mse": mse,
            "snr": 10 * torch.log10(power / mse),
            "psnr": 10 * torch.log10(peak / mse),
        }
        for k in self.which:
            self.metrics[k].append(values[k])


class CostToInitialCallback(Callbacks):
    """Stop when the cost falls below ``rtol`` times the initial cost (reads the cost on the host)."""

    def __init__(self, rtol: float) -> None:
        super().__init__()
        self.rtol = float(rtol)

    def on_step_end(self, solver: Solver, x: torch.Tensor) -> None:
        cost = solver.cost
        if len(cost) > 1 and bool((torch.as_tensor(cost[-1]) < self.rtol * torch.as_tensor(cost[0])).all()):
            self.stop = True


class CostToDataCallback(Callbacks):
    """Stop when the cost falls below ``rtol`` times the data norm (reads the cost on the host)."""

    def __init__(self, rtol: float) -> None:
        super().__init__()
        self.rtol = float(rtol)

    def on_step_end(self, solver: Solver, x: torch.Tensor) -> None:
        y = solver.y
        ynorm = torch.linalg.vector_norm(y.reshape(*y.shape[: y.dim() - len(solver.Op.dimsd)], -1), dim=-1)
        if bool((torch.as_tensor(solver.cost[-1]) < self.rtol * ynorm).all()):
            self.stop = True


class CostNanInfCallback(Callbacks):
    """Stop when the cost becomes NaN or infinite (reads the cost on the host)."""

    def on_step_end(self, solver: Solver, x: torch.Tensor) -> None:
        if not bool(torch.isfinite(torch.as_tensor(solver.cost[-1])).all()):
            self.stop = True
