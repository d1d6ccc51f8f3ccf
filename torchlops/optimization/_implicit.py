r"""Implicit differentiation of linear least-squares solves.

Every solve here returns the :math:`\mathbf{x}` with :math:`\mathbf{N}(\theta)\mathbf{x} =
\mathbf{b}(\theta)` (normal equations, :math:`\mathbf{N}` Hermitian positive definite).
For a loss :math:`L(\mathbf{x})` with gradient :math:`\mathbf{g}`, the adjoint variable is
:math:`\boldsymbol{\lambda} = \mathbf{N}^{-1}\mathbf{g}` (one more solve) and, for every
input :math:`\theta` (data, dampings, the operator's learnable tensors),

.. math::
    \frac{\partial L}{\partial \theta} = \frac{\partial}{\partial \theta}
    \mathrm{Re}\,\langle \boldsymbol{\lambda}, \mathbf{b}(\theta) - \mathbf{N}(\theta)\mathbf{x} \rangle

with :math:`\boldsymbol{\lambda}` and :math:`\mathbf{x}` held fixed. The right-hand side is
evaluated with the operators' own application and differentiated by ordinary autograd, so
``nn.Parameter`` s inside the operators receive ``.grad``. Nothing of the forward iterations
is stored: memory does not grow with ``niter``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["implicit_solve", "alias", "use_implicit", "closes_over_tensors"]


def use_implicit(implicit: bool, *ops: torch.nn.Module) -> bool:
    """``implicit``, except inside a ``torch.func`` transform (``vmap``, ``grad``, ``jacrev``,
    ``jvp``, ...): the implicit backward reads the operators' live tensors and builds a graph of
    its own, which those transforms cannot carry, so there the solve differentiates through its
    iterations (as ``implicit=False``); so too under ``torch.autograd.forward_ad``, for which
    the implicit solve has no rule, and for operators ``ops`` holding a
    ``FunctionOperator(autograd=True)``, whose functions may close over learnable tensors that
    are none of its parameters or buffers (the implicit gradient would leave them out)."""
    return (bool(implicit) and torch._C._functorch.maybe_current_level() is None
            and torch.autograd.forward_ad._current_level < 0
            and not closes_over_tensors(*ops))


def closes_over_tensors(*ops: torch.nn.Module) -> bool:
    """Whether some module of ``ops`` is a ``FunctionOperator(autograd=True)``: autograd runs
    through its functions, which may hold learnable tensors that are none of its parameters or
    buffers (an implicit backward, which differentiates the registered tensors, misses them)."""
    return any(getattr(m, "_autograd_through_kernels", False) for op in ops for m in op.modules())


class _FirstOrderOnly(torch.autograd.Function):
    """``value`` (a gradient of an implicit solve), tied to what it depends on: differentiating
    it again raises instead of silently leaving out the solve's dependence (PyTorch's
    ``once_differentiable`` only raises when its error node is reached, which
    ``autograd.grad(..., inputs)`` / ``backward(inputs=...)`` may skip)."""

    @staticmethod
    def forward(ctx: Any, value: torch.Tensor, *deps: torch.Tensor) -> torch.Tensor:
        return value.clone()

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        raise RuntimeError(
            "torchlops: the gradient of an implicit=True solve cannot be differentiated again "
            "(second derivatives, gradient penalties); use implicit=False (differentiation "
            "through the iterations) for those"
        )


def _state(mods: Sequence[torch.nn.Module]) -> list[tuple[torch.nn.Module, str, str, torch.Tensor]]:
    """Every parameter and buffer of the modules as ``(module, "_parameters" or "_buffers", name,
    tensor)``, once per module and name (a module reachable twice, as ``C`` in ``C.H @ C``,
    counts once)."""
    out, seen = [], set()
    for root in mods:
        for m in root.modules():
            if id(m) in seen:
                continue
            seen.add(id(m))
            for kind in ("_parameters", "_buffers"):
                out.extend((m, kind, n, t) for n, t in getattr(m, kind).items() if t is not None)
    return out


def _bound_call(state: Sequence[tuple[torch.nn.Module, str, str]], tensors: Sequence[torch.Tensor],
                fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with each ``(module, kind, name)`` of ``state`` holding the matching tensor of
    ``tensors`` (the forward's), restored afterwards: the same as a plain call unless something
    rebound them since (a ``functional_call`` that has ended, an assignment). Each (module,
    name) is swapped once, so a module reachable twice is restored right (PyTorch's
    ``functional_call`` is not, there)."""
    swapped = []
    try:
        for (m, kind, n), t in zip(state, tensors, strict=True):
            d = getattr(m, kind)
            if d.get(n) is not t:
                swapped.append((d, n, d.get(n)))
                d[n] = t
        return fn(*args)
    finally:
        for d, n, old in reversed(swapped):
            d[n] = old


class _ImplicitSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, spec: dict[str, Any], *inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = spec["solve"]()
        ctx.spec = spec
        # the operators' tensors as the forward saw them: the backward evaluates the residual
        # and the adjoint solve with these (a functional_call around the forward has ended by
        # then), and autograd's version check refuses them changed in place since
        entries = _state(spec["modules"])
        ctx.state = [entry[:3] for entry in entries]
        # the first state entry holding each tensor (one tensor may sit in several modules), and
        # the entry holding each input, if any: the backward reads them through leaves of its own
        first: dict[int, int] = {}
        ctx.same = [first.setdefault(id(entry[3]), k) for k, entry in enumerate(entries)]
        ctx.slot = [first.get(id(t)) for t in spec["inputs"]]
        ctx.save_for_backward(x, *(entry[3] for entry in entries))
        return x

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        graph = torch.is_grad_enabled()  # (a graph of this backward is asked for)
        with torch.no_grad():
            grads = _ImplicitSolve._grads(ctx, g)
        if graph:
            deps = [t for t in (g, *ctx.spec["inputs"]) if t.requires_grad]
            if deps:
                grads = tuple(v if v is None else _FirstOrderOnly.apply(v, *deps) for v in grads)
        return grads

    @staticmethod
    def _grads(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        spec = ctx.spec
        saved = ctx.saved_tensors
        x = saved[0].detach()  # the output itself: cut it from this graph
        state, tensors = ctx.state, saved[1:]
        with torch.no_grad():
            lam = _bound_call(state, tensors, spec["adjoint"], g)
        inputs: Sequence[torch.Tensor] = spec["inputs"]
        aliases: Sequence[torch.Tensor] = spec["aliases"]
        # The residual reads leaves: the aliases of the data-like inputs and a detached leaf per
        # operator tensor that requires grad, so the gradient never walks into the caller's graph:
        # an input computed from another one (an operator's 2 * D next to D, Diagonal(2 * y) with
        # data y) gets its own part here and passes it on through the outer engine, once, and the
        # caller's graph stays intact. An input may also be read as itself (a scale inside an
        # operator built beforehand, held outside its parameters and buffers): all parts are summed.
        leaves: dict[int, torch.Tensor] = {}
        bound = []
        for k, t in enumerate(tensors):
            if t.requires_grad:
                j = ctx.same[k]
                if j not in leaves:
                    leaves[j] = t.detach().requires_grad_()
                bound.append(leaves[j])
            else:
                bound.append(t)
        want = [i for i, t in enumerate(inputs) if t.requires_grad]
        parts: dict[int, list[torch.Tensor]] = {}
        for i in want:
            ps = [inputs[i]]
            if aliases[i] is not inputs[i]:
                ps.append(aliases[i])
            if ctx.slot[i] is not None and ctx.slot[i] in leaves:
                ps.append(leaves[ctx.slot[i]])
            parts[i] = ps
        grads: dict[int, torch.Tensor | None] = {}
        if want:
            with torch.enable_grad():
                res = _bound_call(state, bound, spec["residual"], x)
                phi = (lam.conj() * res).real.sum() if res.is_complex() else (lam * res).sum()
                targets = [p for i in want for p in parts[i]]
                out = iter(torch.autograd.grad(phi, targets, allow_unused=True, retain_graph=True))
            for i in want:
                gr = None
                for _ in parts[i]:
                    v = next(out)
                    gr = v if gr is None else (gr if v is None else gr + v)
                grads[i] = gr
        return (None, *(grads.get(i) for i in range(len(inputs))))


def alias(t: Any) -> Any:
    """A detached leaf standing for a data-like input inside an implicit residual (tensors that
    do not require grad, and non-tensors, are returned as they are)."""
    if isinstance(t, torch.Tensor) and t.requires_grad:
        return t.detach().requires_grad_()
    return t


def implicit_solve(
    solve: Callable[[], torch.Tensor],
    residual: Callable[[torch.Tensor], torch.Tensor],
    adjoint: Callable[[torch.Tensor], torch.Tensor],
    inputs: Sequence[torch.Tensor],
    aliases: Sequence[torch.Tensor] | None = None,
    modules: Sequence[torch.nn.Module] = (),
) -> torch.Tensor:
    """Run ``solve()`` (no graph) and attach the implicit backward.

    Parameters
    ----------
    solve : callable
        ``() -> x`` of shape ``(B, N)``, run under ``no_grad``.
    residual : callable
        ``x -> b - N x`` of shape ``(B, N)`` computed from the live ``inputs``.
    adjoint : callable
        ``g -> N^{-1} g`` (the adjoint solve), run under ``no_grad``.
    inputs : sequence of tensors
        Every tensor the result depends on (those that require grad get a gradient).
    aliases : sequence of tensors, optional
        What ``residual`` reads in place of each input (same order): :func:`alias` leaves for
        data-like inputs, the tensors themselves for the operators' parameters. Defaults to
        ``inputs``.
    modules : sequence of modules, optional
        The operators ``residual`` and ``adjoint`` apply: the backward runs them with the
        parameters and buffers these had in the forward (also where the forward ran inside a
        ``torch.func.functional_call``), and raises if one was changed in place since.
    """
    inputs = list(inputs)
    spec = {
        "solve": solve,
        "residual": residual,
        "adjoint": adjoint,
        "inputs": inputs,
        "aliases": list(inputs) if aliases is None else list(aliases),
        "modules": list(modules),
    }
    return _ImplicitSolve.apply(spec, *inputs)
