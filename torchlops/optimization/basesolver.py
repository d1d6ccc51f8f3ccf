"""Solver template: ``setup`` / ``step`` / ``run`` / ``finalize`` / ``solve`` with callbacks."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.optimization._batch import count_arg
from torchlops.optimization.callback import Callbacks

__all__ = ["Solver", "logger"]

#: the logger the solvers' ``show=True`` tables go to (add a handler or use logging.basicConfig)
logger = logging.getLogger("torchlops.optimization")


def _model(out: Any) -> Any:
    """The model a setup / step / run returned (the first entry where it returns a tuple), the
    ``x`` the ``on_*_end`` hooks receive."""
    return out[0] if isinstance(out, tuple) else out


def _with_hooks(name: str, method: Callable) -> Callable:
    """Wrap ``setup``/``step``/``run`` so the callbacks' hooks run around them: the ``on_*_begin``
    hooks in the callbacks' order, the ``on_*_end`` hooks in reverse order (as PyLops: the first
    callback wraps the others)."""
    sig = inspect.signature(method) if name == "setup" else None

    def setup_x0(self: Solver, args: tuple, kwargs: dict) -> Any:
        # the x0 argument of this solver's setup, where it has one (the least-squares
        # classes' second argument is Regs or P)
        try:
            return sig.bind_partial(self, *args, **kwargs).arguments.get("x0")
        except TypeError:  # (setup itself reports the bad call)
            return kwargs.get("x0")

    def call(self: Solver, args: tuple, kwargs: dict) -> Any:
        try:
            return method(self, *args, **kwargs)
        except AttributeError as err:  # (the state setup creates is missing)
            if name != "setup" and not self.__dict__.get("_set_up", False):
                raise RuntimeError(f"{type(self).__name__}.{name}: call setup(y, ...) first (or solve)") from err
            raise
        except RuntimeError as err:
            # (a host read under vmap; or a random start vector, as the default step size's estimate draws)
            if "data-dependent control flow" not in str(err) and "randomness error mode" not in str(err):
                raise
            raise RuntimeError(
                f"torchlops: {type(self).__name__} reads a value on the host (a tolerance > 0, a "
                "callback's stop, a default step size, or the operator itself), which torch.func.vmap "
                "cannot do: pass tol=0 "
                "(and the step size) to run a fixed niter, or give the solver the whole batch: it "
                "solves every sample of the leading dims of y at once"
            ) from err

    @functools.wraps(method)
    def wrapper(self: Solver, *args: Any, **kwargs: Any) -> Any:
        active = self.__dict__.setdefault("_hooks_active", set())
        if name in active:  # a subclass's method calling its parent's: the outer call runs the hooks
            return method(self, *args, **kwargs)
        # a setup that fails (a bad argument) leaves the solver as it was
        saved = dict(self.__dict__) if name == "setup" and not torch.compiler.is_compiling() else None
        active.add(name)
        try:
            out = hooked(self, args, kwargs)
        except BaseException:
            if saved is not None:
                self.__dict__.clear()
                self.__dict__.update(saved)
            raise
        finally:
            active.discard(name)
        if name == "setup":
            self._set_up = True
        return out

    def hooked(self: Solver, args: tuple, kwargs: dict) -> Any:
        if not self.callbacks:  # the common case: only the per-step hook
            out = call(self, args, kwargs)
            if name == "step" and "run" in self._hooks_active:
                self._step_callback(_model(out))
            return out
        if name == "setup":
            self._cbmask, self._stopped_all = None, False  # (a new solve: no sample stopped yet)
            x0 = setup_x0(self, args, kwargs)
            for cb in self.callbacks:
                cb.on_setup_begin(self, x0)
            out = call(self, args, kwargs)
            for cb in reversed(self.callbacks):  # (x0 again, as PyLops: not the model setup returns)
                cb.on_setup_end(self, x0)
            return out
        x = kwargs.get("x", args[0] if args else None)
        for cb in self.callbacks:
            getattr(cb, f"on_{name}_begin")(self, x)
        out = call(self, args, kwargs)
        for cb in reversed(self.callbacks):
            getattr(cb, f"on_{name}_end")(self, _model(out))
        if name == "step" and "run" in self._hooks_active:
            # (the per-step hook of a run, as PyLops' run calls it: a step called by hand makes
            # no call of its own)
            self._step_callback(_model(out))
        return out

    wrapper._hooked = True  # type: ignore[attr-defined]
    return wrapper


class Solver:
    """Base class of the iterative solvers.

    A subclass implements ``setup(y, x0, ...) -> x``, ``step(x, show=False) -> x``,
    ``run(x, niter, show=False) -> x`` and ``finalize(show=False)``; ``solve`` chains them
    (the sparse solvers' ``step`` / ``run`` return tuples as PyLops', the model first).
    The callbacks' hooks (:class:`Callbacks`) run around ``setup``, every ``step`` and
    ``run``; a callback that sets ``stop = True`` ends ``run`` after the current step.
    ``callback(x)`` is a per-step hook subclasses or users may override.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Operator to invert.
    callbacks : :obj:`Callbacks` or :obj:`list`, optional
        Callbacks.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("setup", "step", "run"):
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "_hooked", False):
                setattr(cls, name, _with_hooks(name, method))

    def __init__(self, Op: LinearOperator, callbacks: Callbacks | Sequence[Callbacks] | None = None) -> None:
        if not isinstance(Op, LinearOperator):
            raise TypeError(f"Op must be a torchlops LinearOperator, got {type(Op).__name__}")
        self.Op = Op
        if callbacks is None:
            self.callbacks: list[Callbacks] = []
        elif isinstance(callbacks, Callbacks):
            self.callbacks = [callbacks]
        else:
            self.callbacks = list(callbacks)
            if not all(isinstance(cb, Callbacks) for cb in self.callbacks):
                raise TypeError("callbacks must be Callbacks instances")
        self.iiter = 0
        self.cost: list[torch.Tensor] = []
        self._stopped_all = False  # (should_stop's last answer)
        # no clock read while torch.compile traces (it would break the graph)
        self.tstart = 0.0 if torch.compiler.is_compiling() else time.time()
        self.telapsed = 0.0

    def __getstate__(self) -> dict:
        # (a copy taken inside a hook is not inside it: it runs its own hooks)
        state = self.__dict__.copy()
        state.pop("_hooks_active", None)
        return state

    # ------------------------------------------------------------------ template
    def setup(self, *args: Any, **kwargs: Any) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} does not implement setup")

    def step(self, x: torch.Tensor, show: bool = False) -> torch.Tensor:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} does not implement step")

    def run(self, x: torch.Tensor, niter: int | None = None, show: bool = False) -> torch.Tensor:
        """Run ``niter`` steps (stopping early when a callback asks)."""
        for _ in range(count_arg(niter, "niter") if niter is not None else 0):
            x = self.step(x, show)
            if self.should_stop():
                break
        return x

    @property
    def tend(self) -> float:
        """When the solve ended (``tstart + telapsed``, set by ``finalize``; PyLops' attribute)."""
        return self.tstart + self.telapsed

    def finalize(self, show: bool = False) -> None:
        """Record the elapsed time."""
        if not torch.compiler.is_compiling():
            self.telapsed = time.time() - self.tstart

    def solve(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} does not implement solve")

    def callback(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        """Per-step hook (does nothing by default)."""

    def _step_callback(self, x: torch.Tensor) -> None:
        """Call the per-step hook ``callback`` with what it takes (PyLops' arguments)."""
        self.callback(x)

    def should_stop(self) -> bool:
        """Whether the run should end after this step because of the callbacks.

        A callback's ``stop`` is ``True``/``False`` (a host-side flag: no tensor is read; a
        callback without a ``stop`` attribute never stops the run, as in PyLops, whose own
        examples subclass ``Callbacks`` without calling its ``__init__``), or a bool tensor with
        one flag per sample of a batch: those samples are frozen as if they had converged (they
        stop changing) and the run ends when no sample is left (a host read).
        """
        stop = False
        for cb in self.callbacks:
            flag = getattr(cb, "stop", False)
            if isinstance(flag, torch.Tensor) and flag.numel() > 1:
                if self._freeze_samples(flag.reshape(-1).to(torch.bool)):
                    # the run ends when the callbacks have stopped every sample (a sample that
                    # stopped by its own test does not end a fixed-niter run, as without them)
                    stop = stop or bool(self._cbmask.all())
                    continue
                flag = bool(flag.all())  # (a solver without per-sample state: when all are done)
            elif isinstance(flag, torch.Tensor):
                flag = bool(flag)
            stop = stop or bool(flag)
        self._stopped_all = stop
        return stop

    def _freeze_samples(self, mask: torch.Tensor) -> bool:
        """Freeze the samples flagged in ``mask`` ``(B,)`` and add them to ``_cbmask`` (the
        samples the callbacks stopped); False when this solver has no per-sample state;
        ValueError for a mask of another size than the batch. The Krylov solvers read
        ``_cbmask`` in their activity test; the others hold an ``active`` mask."""
        cbm = getattr(self, "_cbmask", None)
        act = getattr(self, "active", None)
        state = act if isinstance(act, torch.Tensor) else cbm
        if not isinstance(state, torch.Tensor):
            return False
        if state.numel() != mask.numel():
            raise ValueError(
                f"a callback's per-sample stop flags must hold one flag per sample ({state.numel()}), "
                f"got {mask.numel()}"
            )
        mask = mask.to(state.device)
        self._cbmask = mask if cbm is None or cbm.shape != mask.shape else cbm | mask
        if isinstance(act, torch.Tensor):
            self.active = act & ~mask.reshape(act.shape)
        return True

    def memory_usage(self, show: bool = False, unit: str = "B") -> float:
        """Bytes held by the solver's state tensors, in ``unit``: its attributes that are tensors
        or lists / tuples / dicts of them (SplitBregman's ``b`` and ``d``, the cost history),
        each memory block counted once (views of one tensor share it)."""
        units = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
        if unit not in units:
            raise ValueError(f"unit must be one of {sorted(units)}, got {unit!r}")
        seen: dict[tuple, int] = {}

        def visit(v: Any, depth: int) -> None:
            if isinstance(v, torch.Tensor):
                if v.layout is torch.strided and not v.is_meta:
                    st = v.untyped_storage()
                    seen[(v.device, st.data_ptr())] = max(seen.get((v.device, st.data_ptr()), 0), st.nbytes())
                else:
                    seen[("other", id(v))] = v.numel() * v.element_size()
            elif depth and isinstance(v, (list, tuple)):
                for u in v:
                    visit(u, depth - 1)
            elif depth and isinstance(v, dict):
                for u in v.values():
                    visit(u, depth - 1)

        for v in vars(self).values():
            visit(v, 3)
        value = sum(seen.values()) / units[unit]
        if show:
            logger.info("%s: %.3f %s of solver state", type(self).__name__, value, unit)
        return value

    # ------------------------------------------------------------------ printing (through logging)
    def _print_solver(self, text: str = "", nbar: int = 80) -> None:
        logger.info("%s", "-" * nbar)
        logger.info("%s%s", type(self).__name__, text)
        logger.info("%s", "-" * nbar)

    def _print_finalize(self, nbar: int = 80) -> None:
        logger.info("Iterations = %d        Total time (s) = %.2f", self.iiter, self.telapsed)
        logger.info("%s", "-" * nbar)


Solver.run = _with_hooks("run", Solver.run)  # type: ignore[method-assign]
