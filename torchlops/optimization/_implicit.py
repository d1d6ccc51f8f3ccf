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

__all__ = ["implicit_solve"]


class _ImplicitSolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, spec: dict[str, Any], *inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            x = spec["solve"]()
        ctx.spec = spec
        ctx.save_for_backward(x)
        return x

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        spec = ctx.spec
        x = ctx.saved_tensors[0].detach()  # the output itself: cut it from this graph
        with torch.no_grad():
            lam = spec["adjoint"](g)
        inputs: Sequence[torch.Tensor] = spec["inputs"]
        want = [t for t in inputs if t.requires_grad]
        grads: dict[int, torch.Tensor | None] = {}
        if want:
            with torch.enable_grad():
                res = spec["residual"](x)
                phi = (lam.conj() * res).real.sum() if res.is_complex() else (lam * res).sum()
                out = torch.autograd.grad(phi, want, allow_unused=True)
            grads = {id(t): gr for t, gr in zip(want, out, strict=True)}
        return (None, *(grads.get(id(t)) if t.requires_grad else None for t in inputs))


def implicit_solve(
    solve: Callable[[], torch.Tensor],
    residual: Callable[[torch.Tensor], torch.Tensor],
    adjoint: Callable[[torch.Tensor], torch.Tensor],
    inputs: Sequence[torch.Tensor],
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
    """
    spec = {"solve": solve, "residual": residual, "adjoint": adjoint, "inputs": list(inputs)}
    return _ImplicitSolve.apply(spec, *inputs)
