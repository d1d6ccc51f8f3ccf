r"""MoDL-style data-consistency layer: a damped normal-equation solve, differentiated implicitly."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from torchlops.linearoperator import LinearOperator
from torchlops.nn._common import check_operator, param_dtype, positive_int, split_batch
from torchlops.optimization._implicit import closes_over_tensors
from torchlops.optimization.basic import cg

__all__ = ["DataConsistency"]


class _NormalSolve(nn.Module):
    """``niter`` CG steps on ``(A^H A + lam I) x = b`` without a graph; a Module so that
    ``torch.func.functional_call`` can give it the operator tensors of the forward."""

    def __init__(self, Op: LinearOperator, niter: int, normal: LinearOperator) -> None:
        super().__init__()
        self.Op, self.niter = Op, niter
        self.__dict__["normal"] = normal  # A^H A over this same Op (not a second submodule)

    def forward(self, b: torch.Tensor, lam: torch.Tensor, x0: torch.Tensor | None) -> torch.Tensor:
        with torch.no_grad():
            return cg(Op=self.normal, y=b, x0=x0, niter=self.niter, damp=lam.detach(), tol=0.0).x


def _op_tensors(Op: LinearOperator) -> tuple[list[str], list[torch.Tensor]]:
    """Names and values of the operator's parameters and buffers, one per slot (a module and
    an attribute): an operator held twice in a composite (``C @ C``) counts once, two operators
    holding one tensor (``VStack([Diagonal(d), Diagonal(d)])``) twice, so each slot is swapped
    (and gets its share of the gradient) once."""
    names, tensors = [], []
    for mname, m in Op.named_modules():  # (each module once)
        for kind in (m._parameters, m._buffers):
            for n, t in kind.items():
                if t is not None:
                    names.append(f"{mname}.{n}" if mname else n)
                    tensors.append(t)
    return names, tensors


def _bind(module: nn.Module, prefix: str, names: list[str], tensors, args: tuple) -> torch.Tensor:
    """``module(*args)`` with the operator's tensors swapped for ``tensors``, one name per slot.
    ``tie_weights=False``: a module reachable twice has its tensors under two names; the swap of
    one reaches both uses, where torch 2.13's default (every tied name swapped) would leave a
    transform's wrapper in the second slot afterwards."""
    swap = {f"{prefix}{n}": t for n, t in zip(names, tensors, strict=True)}
    return torch.func.functional_call(module, swap, args, tie_weights=False)


class _ImplicitDC(torch.autograd.Function):
    """``x = (A^H A + lam I)^{-1} b``; backward: one more solve, gradients for ``b``, ``lam`` and
    the operator's tensors that require grad. All the operator's tensors are trailing inputs:
    the backward solves with those of the forward (not the module's at backward time, which a
    ``functional_call`` around the forward no longer binds), and autograd refuses them changed
    in place since. ``cfg`` is ``(Op, niter, A^H A)`` as the forward found them."""

    generate_vmap_rule = True  # (forward and backward are torch code that vmap maps)

    @staticmethod
    def forward(cfg: tuple[LinearOperator, int, LinearOperator], names: list[str], b: torch.Tensor,
                lam: torch.Tensor, x0: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
        # the operator with the tensors given here (under vmap they are this level's, not the
        # live module's)
        return _bind(_NormalSolve(*cfg), "Op.", names, tensors, (b, lam, x0.detach()))

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        cfg, names, _, lam, _, *tensors = inputs
        ctx.cfg, ctx.names, ctx.ntens = cfg, names, len(tensors)
        ctx.save_for_backward(output, lam, *tensors)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        x, lam, *tensors = ctx.saved_tensors
        # the operator with the tensors it had in the forward (also under torch.func.functional_call)
        Op = ctx.cfg[0]
        # (A^H A + lam I) mu = g
        if torch.is_grad_enabled():
            # a graph of the backward is asked for (create_graph, torch.func.grad): the solve is
            # this same Function (A^H A + lam I is self-adjoint), differentiable again through
            # its own implicit backward, in g, lam and the operator's tensors
            mu = _ImplicitDC.apply(ctx.cfg, ctx.names, g, lam, torch.zeros_like(g), *tensors)
        else:
            mu = _bind(_NormalSolve(*ctx.cfg), "Op.", ctx.names, tensors, (g, lam, None))
        glam = None
        if ctx.needs_input_grad[3]:
            # d/dlam of <mu, b - (A^H A + lam I) x> = -Re <mu, x>
            glam = -(mu.conj() * x).real.sum() if x.is_complex() else -(mu * x).sum()
            glam = glam.to(lam.dtype)
        gts: list[torch.Tensor | None] = [None] * ctx.ntens
        want = [i for i in range(ctx.ntens) if ctx.needs_input_grad[5 + i]]
        if want:
            # (held fixed in phi; with a graph asked for, the outer level still sees them)
            xd, mud = (x, mu) if torch.is_grad_enabled() else (x.detach(), mu.detach())

            def phi(*ts: torch.Tensor) -> torch.Tensor:
                # -Re <A mu, A x> with mu and x held fixed, as a function of the operator's tensors
                p = list(tensors)
                for i, t in zip(want, ts, strict=True):
                    p[i] = t
                Ax = _bind(Op, "", ctx.names, p, (xd,))
                Amu = _bind(Op, "", ctx.names, p, (mud,))
                return -(Amu.conj() * Ax).real.sum() if Ax.is_complex() else -(Amu * Ax).sum()

            # (torch.func.grad: also inside vmap's generated backward, where the saved tensors
            # do not require grad at this level)
            out = torch.func.grad(phi, argnums=tuple(range(len(want))))(*[tensors[i] for i in want])
            for i, gi in zip(want, out, strict=True):
                gts[i] = gi
        return (None, None, mu if ctx.needs_input_grad[2] else None, glam, None, *gts)


class DataConsistency(nn.Module):
    r"""Data consistency :math:`\mathbf{x} = (\mathbf{A}^H\mathbf{A} + \lambda\mathbf{I})^{-1}
    (\mathbf{A}^H\mathbf{y} + \lambda\mathbf{z})` solved by conjugate gradients.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Forward operator :math:`\mathbf{A}` (a submodule: its ``nn.Parameter`` s are learnt too).
    lam : :obj:`float`, optional
        Initial weight :math:`\lambda > 0` of the prior :math:`\mathbf{z}`.
    learn_lam : :obj:`bool`, optional
        Learn :math:`\lambda` (parametrised as :math:`\lambda = \mathrm{softplus}(\rho)`, so it
        stays positive), else it is a fixed buffer.
    niter : :obj:`int`, optional
        CG iterations (fixed: no host synchronisation, so the layer runs on any device
        without stalls).
    implicit : :obj:`bool`, optional
        Differentiate implicitly (one more CG solve of ``niter`` iterations in the backward,
        memory independent of ``niter``) instead of through the CG iterations; differentiable
        again (a backward asked to build a graph solves through the layer once more). Both paths run
        under ``torch.func`` transforms (``vmap``, ``grad``, ``functional_call``);
        ``torch.compile(fullgraph=True)`` needs ``implicit=False``. The CG iterations are not
        differentiable where a sample's starting residual is exactly zero (``z`` already solves
        the system, e.g. ``y = 0`` and ``z = 0``: the step length is 0/0): there
        ``implicit=False`` gives the gradient of ``x = z``, ``implicit=True`` that of the
        solution.

    Notes
    -----
    The layer returns the minimiser of
    :math:`\|\mathbf{A}\mathbf{x}-\mathbf{y}\|_2^2 + \lambda\|\mathbf{x}-\mathbf{z}\|_2^2`
    (Aggarwal et al., MoDL, 2019), with :math:`\mathbf{z}` typically the output of a denoiser.
    CG starts from :math:`\mathbf{z}`; each iteration is one forward and one adjoint pass of
    :math:`\mathbf{A}`. With :math:`\mathbf{N} = \mathbf{A}^H\mathbf{A} + \lambda\mathbf{I}` and a
    loss gradient :math:`\mathbf{g}`, the implicit backward solves
    :math:`\mathbf{N}\boldsymbol{\mu} = \mathbf{g}` and gives

    .. math::
        \frac{\partial L}{\partial \mathbf{z}} = \lambda\boldsymbol{\mu}, \quad
        \frac{\partial L}{\partial \mathbf{y}} = \mathbf{A}\boldsymbol{\mu}, \quad
        \frac{\partial L}{\partial \lambda} = \mathrm{Re}\,\langle\boldsymbol{\mu},
        \mathbf{z} - \mathbf{x}\rangle,

    (and the operator's parameters through :math:`\mathbf{A}`), exact for a converged solve
    (see :mod:`torchlops.optimization._implicit`).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.nn import DataConsistency
    >>> dc = DataConsistency(torchlops.Identity(4), lam=1.0)
    >>> dc(torch.zeros(2, 4), torch.ones(2, 4)).detach()
    tensor([[0.5000, 0.5000, 0.5000, 0.5000],
            [0.5000, 0.5000, 0.5000, 0.5000]])
    """

    def __init__(self, Op: LinearOperator, lam: float = 1.0, learn_lam: bool = True, niter: int = 10,
                 implicit: bool = True) -> None:
        super().__init__()
        self.Op = check_operator(Op)
        lam = float(lam)
        if not (lam > 0 and math.isfinite(lam)):
            raise ValueError(f"lam must be a positive finite number, got {lam!r}")
        self.niter = positive_int(niter, "niter")
        self.implicit = bool(implicit)
        # inverse softplus: rho = log(exp(lam) - 1), computed stably for large lam
        rho = torch.tensor(lam + math.log(-math.expm1(-lam)), dtype=param_dtype(self.Op), device=self.Op.device)
        if learn_lam:
            self.rho = nn.Parameter(rho)
        else:
            self.register_buffer("rho", rho)
        self._normal()

    @property
    def lam(self) -> torch.Tensor:
        r""":math:`\lambda = \mathrm{softplus}(\rho)` (0-d tensor)."""
        return F.softplus(self.rho)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return ``x`` ``(*batch, *dims)`` from the prior ``z`` ``(*batch, *dims)`` and data ``y``."""
        batch, yb = split_batch(y, self.Op.dimsd, "y")
        zbatch, zb = split_batch(z, self.Op.dims, "z")
        if zbatch != batch:
            raise ValueError(f"z and y must hold the same batch, got {tuple(zbatch)} and {tuple(batch)}")
        lam = self.lam.to(torch.promote_types(self.rho.dtype, zb.real.dtype))
        # b = A^H y + lam z
        b = self.Op.rmatvec(yb) + lam * zb
        if self.implicit and torch.autograd.forward_ad._current_level < 0 and not closes_over_tensors(self.Op):
            # (under forward-mode AD, which the implicit Function has no rule for, or with a
            # FunctionOperator(autograd=True), whose functions' learnable tensors it cannot see:
            # through the iterations, as implicit=False)
            names, tensors = _op_tensors(self.Op)
            # (in the dtype the solve works in: a real b of a complex operator of real models gets
            # its complex gradient's real part through this cast)
            bw = b.to(torch.promote_types(b.dtype, self.Op.dtype))
            x = _ImplicitDC.apply((self.Op, self.niter, self._normal()), names, bw, lam, zb, *tensors)
        else:
            x = cg(Op=self._normal(), y=b, x0=zb, niter=self.niter, damp=lam, tol=0.0).x
        if x.is_complex() and not b.is_complex():
            # (an operator of real models with a complex dtype, e.g. FFT(real=True): CG worked in
            # the operator's dtype on real vectors; the imaginary part is zero)
            x = x.real
        return x.reshape(*batch, *self.Op.dims)

    def _apply(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        # (.to / .double / .cuda: A^H A is rebuilt here, eagerly, so that a compiled call does
        # not have to build it while tracing)
        out = super()._apply(*args, **kwargs)
        self._normal()
        return out

    def _normal(self) -> LinearOperator:
        """``A^H A``, built once per operator outside the module tree (no second copy of the
        operator's tensors in ``state_dict``; ``torch.compile`` cannot build it while tracing)."""
        cache = self.__dict__.get("_normal_cache")
        key = (self.Op, self.Op.dtype)  # (a layer moved to another dtype gets its A^H A anew)
        if cache is None or cache[0] is not key[0] or cache[1] != key[1]:
            cache = (*key, self.Op.H @ self.Op)
            self.__dict__["_normal_cache"] = cache
        return cache[2]
