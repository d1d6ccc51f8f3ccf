"""Optional progress bar of the solvers (``progress=True``).

Uses :mod:`tqdm` when it can be imported; otherwise logs one line through the
``torchlops.optimization`` logger every 10 % of the iterations. tqdm is never required.
The bar only counts steps on the host: it reads no tensor, so it adds no synchronisation.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from torchlops.optimization.callback import Callbacks

if TYPE_CHECKING:  # pragma: no cover
    from torchlops.optimization.basesolver import Solver

__all__ = ["ProgressCallback", "progress_bar"]

logger = logging.getLogger("torchlops.optimization")


def _tqdm() -> Any:
    """The ``tqdm`` class, or None when tqdm is not importable."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm


class ProgressCallback(Callbacks):
    """Count the solver's steps in a tqdm bar (or a log line every 10 % without tqdm).

    Parameters
    ----------
    total : :obj:`int`
        Expected number of steps (the bar ends early when the solver stops early).
    desc : :obj:`str`, optional
        Label of the bar.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.optimization.cls_basic import CGLS
    >>> from torchlops.optimization._progress import ProgressCallback
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0], dtype=torch.float64))
    >>> cb = ProgressCallback(3, "CGLS")
    >>> _ = CGLS(D, callbacks=cb).solve(torch.ones(2, dtype=torch.float64), niter=3, tol=0)
    >>> cb.count
    3
    """

    def __init__(self, total: int, desc: str = "") -> None:
        super().__init__()
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise ValueError(f"total must be a non-negative int, got {total!r}")
        self.total, self.desc, self.count = total, desc, 0
        self._bar: Any = None
        self._next = 1  # next tenth to log (fallback)

    def on_run_begin(self, solver: Solver, x: Any) -> None:
        tqdm = _tqdm()
        if tqdm is not None and self._bar is None:
            self._bar = tqdm(total=self.total, desc=self.desc or type(solver).__name__)

    def on_step_end(self, solver: Solver, x: Any) -> None:
        self.count += 1
        if self._bar is not None:
            self._bar.update(1)
            return
        while self.total and self._next <= 10 and self.count * 10 >= self._next * self.total:
            logger.info("%s: %3d%% (%d/%d steps)", self.desc or type(solver).__name__, 10 * self._next,
                        self.count, self.total)
            self._next += 1

    def on_run_end(self, solver: Solver, x: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the tqdm bar (if any)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


@contextlib.contextmanager
def progress_bar(solver: Solver, enabled: bool, total: int | None) -> Iterator[ProgressCallback | None]:
    """Attach a :class:`ProgressCallback` to ``solver`` for the duration of a ``solve``."""
    if not isinstance(enabled, bool):
        raise TypeError(f"progress must be a bool, got {type(enabled).__name__}")
    if not enabled:
        yield None
        return
    cb = ProgressCallback(int(total or 0), type(solver).__name__)
    solver.callbacks.append(cb)
    try:
        yield cb
    finally:
        solver.callbacks.remove(cb)
        cb.close()
