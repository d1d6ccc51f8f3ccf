r"""Unrolled iterative networks: :class:`UnrolledISTA` (:data:`LISTA`) and :class:`UnrolledProximalGradient`."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn

from torchlops.linearoperator import LinearOperator
from torchlops.nn._common import check_operator, operator_norm, param_dtype, positive_int, soft_threshold, split_batch

__all__ = ["UnrolledISTA", "LISTA", "UnrolledProximalGradient"]


def _check_niter(n_iter: int) -> int:
    return positive_int(n_iter, "n_iter")


def _positive(value: float | None, what: str) -> float | None:
    if value is None:
        return None
    v = float(value)
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"{what} must be a positive finite number, got {value!r}")
    return v


def _log_param(value: float, n: int, learn: bool, module: nn.Module, name: str) -> None:
    """Register ``log(value)`` repeated ``n`` times as a Parameter (``learn``) or a buffer, in
    the dtype of the module's operator's hyperparameters (:func:`param_dtype`), on its device."""
    t = torch.full((n,), math.log(value), dtype=param_dtype(module.Op), device=module.Op.device)
    if learn:
        module.register_parameter(name, nn.Parameter(t))
    else:
        module.register_buffer(name, t)


def _default_step(Op: LinearOperator, norm_niter: int) -> float:
    """``0.99 / ||A||^2`` (power iteration), or an error for an operator of norm 0."""
    norm = operator_norm(Op, niter=norm_niter)
    if not norm > 0:
        raise ValueError(f"the operator's norm is {norm} (a zero operator, or a filter that is all zeros): "
                         "no step size follows from it; pass step=")
    return 0.99 / norm**2


def _start(x0: torch.Tensor, dims: tuple[int, ...], batch: tuple[int, ...]) -> torch.Tensor:
    """The starting model ``(nb, *dims)`` from ``x0``: one model, or one per sample of ``y``
    with ``y``'s batch shape (a batch of other dims holding as many samples would pair the
    wrong samples)."""
    xbatch, xb = split_batch(x0, dims, "x0")
    nb = math.prod(batch)
    if xb.shape[0] == 1 and math.prod(xbatch) == 1:
        return xb.expand(nb, *dims)
    if tuple(xbatch) != tuple(batch):
        raise ValueError(f"x0 must hold one model or one per sample of y (batch {tuple(batch)}), got shape "
                         f"{tuple(x0.shape)}")
    return xb


def _descent(Op: LinearOperator, x: torch.Tensor | None, y: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """:math:`\\mathbf{x} - \\alpha\\mathbf{A}^H(\\mathbf{A}\\mathbf{x} - \\mathbf{y})` (one forward
    and one adjoint pass); from a zero start (``x`` None) :math:`\\alpha\\mathbf{A}^H\\mathbf{y}`:
    one adjoint pass, in the dtype the adjoint gives (real for an operator of real models
    with a complex dtype, such as ``FFT(real=True)``)."""
    if x is None:
        return step * Op.rmatvec(y)
    return x - step * Op.rmatvec(Op(x) - y)


class UnrolledISTA(nn.Module):
    r"""Learned ISTA: ``n_iter`` unrolled soft-thresholding iterations with learned steps and thresholds.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Forward operator :math:`\mathbf{A}` (a submodule: its ``nn.Parameter`` s, if any, are
        learnt with the rest; its buffers stay fixed).
    n_iter : :obj:`int`
        Number of unrolled iterations :math:`K`.
    shared : :obj:`bool`, optional
        One step and one threshold for all iterations (``True``) or one per iteration.
    learn_step, learn_threshold : :obj:`bool`, optional
        Learn the step sizes / thresholds (else they are fixed buffers).
    step : :obj:`float`, optional
        Initial step :math:`\alpha`; default :math:`0.99/\|\mathbf{A}\|_2^2` (power iteration).
    threshold : :obj:`float`, optional
        Initial threshold :math:`\tau`; default ``0.1 * step`` (the threshold of
        :math:`\tfrac12\|\mathbf{y}-\mathbf{A}\mathbf{x}\|^2 + 0.1\|\mathbf{x}\|_1`, which is
        :func:`torchlops.ista` with ``eps=0.2``: PyLops' objective has no :math:`\tfrac12`).
    norm_niter : :obj:`int`, optional
        Power iterations used to estimate :math:`\|\mathbf{A}\|_2` when ``step`` is None.

    Notes
    -----
    From :math:`\mathbf{x}_0 = \mathbf{0}` (or ``x0``), iteration :math:`k` is

    .. math::
        \mathbf{x}_{k+1} = \mathcal{S}_{\tau_k}\bigl(\mathbf{x}_k - \alpha_k
        \mathbf{A}^H(\mathbf{A}\mathbf{x}_k - \mathbf{y})\bigr),\qquad
        \mathcal{S}_\tau(v) = \mathrm{sign}(v)\max(|v| - \tau, 0),

    one forward and one adjoint pass of :math:`\mathbf{A}` per iteration. :math:`\alpha_k =
    e^{a_k}` and :math:`\tau_k = e^{t_k}` are parametrised by their logs, so they stay positive.
    With fixed :math:`\alpha_k = 1/L`, :math:`\tau_k = \epsilon/L` it is ISTA for
    :math:`\tfrac12\|\mathbf{A}\mathbf{x}-\mathbf{y}\|^2 + \epsilon\|\mathbf{x}\|_1`; learning
    them per iteration (Gregor & LeCun's LISTA with the operator kept as the weight, as in
    analytic/step-size LISTA) gives a good estimate in far fewer iterations.

    Inputs are ``(*batch, *dimsd)``, outputs ``(*batch, *dims)``; every operation is batched.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.nn import UnrolledISTA
    >>> A = torchlops.MatrixMult(torch.randn(8, 16, generator=torch.Generator().manual_seed(0)))
    >>> net = UnrolledISTA(A, n_iter=5)
    >>> net(torch.randn(4, 8)).shape
    torch.Size([4, 16])
    """

    def __init__(
        self,
        Op: LinearOperator,
        n_iter: int,
        shared: bool = False,
        learn_step: bool = True,
        learn_threshold: bool = True,
        step: float | None = None,
        threshold: float | None = None,
        norm_niter: int = 50,
    ) -> None:
        super().__init__()
        self.Op = check_operator(Op)
        self.n_iter = _check_niter(n_iter)
        self.shared = bool(shared)
        step = _positive(step, "step")
        if step is None:
            step = _default_step(Op, norm_niter)
        threshold = _positive(threshold, "threshold")
        threshold = 0.1 * step if threshold is None else threshold
        n = 1 if self.shared else self.n_iter
        _log_param(step, n, learn_step, self, "log_step")
        _log_param(threshold, n, learn_threshold, self, "log_threshold")

    @property
    def steps(self) -> torch.Tensor:
        """Step sizes :math:`\\alpha_k`, shape ``(n_iter,)``."""
        return self.log_step.exp().expand(self.n_iter)

    @property
    def thresholds(self) -> torch.Tensor:
        """Thresholds :math:`\\tau_k`, shape ``(n_iter,)``."""
        return self.log_threshold.exp().expand(self.n_iter)

    def forward(self, y: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        """Estimate ``x`` ``(*batch, *dims)`` from data ``y`` ``(*batch, *dimsd)``."""
        batch, yb = split_batch(y, self.Op.dimsd, "y")
        steps, thresholds = self.steps, self.thresholds
        x = None if x0 is None else _start(x0, self.Op.dims, batch)
        for k in range(self.n_iter):
            # x_{k+1} = S_{tau_k}(x_k - alpha_k A^H (A x_k - y)), from x_0 = 0 unless given
            x = soft_threshold(_descent(self.Op, x, yb, steps[k]), thresholds[k])
        return x.reshape(*batch, *self.Op.dims)


#: Alias of :class:`UnrolledISTA` (learned ISTA).
LISTA = UnrolledISTA


class UnrolledProximalGradient(nn.Module):
    r"""Unrolled proximal gradient: a gradient step on the data term, then a learned proximal module.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Forward operator :math:`\mathbf{A}` (a submodule).
    n_iter : :obj:`int`
        Number of unrolled iterations :math:`K`.
    prox : :obj:`torch.nn.Module` or :obj:`list` of them
        Proximal / denoising step :math:`\mathcal{P}` mapping ``(B, *dims)`` to ``(B, *dims)``
        (e.g. :class:`torchlops.nn.ConvDenoiser`). One module, or a list of ``n_iter`` modules.
    shared : :obj:`bool`, optional
        With one module: share it over the iterations (``True``) or use ``n_iter`` deep copies
        (independent weights). Ignored for a list.
    step : :obj:`float`, optional
        Initial step :math:`\alpha`; default :math:`0.99/\|\mathbf{A}\|_2^2` (power iteration).
    learn_step : :obj:`bool`, optional
        Learn one step size per iteration (log-parametrised, positive).
    norm_niter : :obj:`int`, optional
        Power iterations for the default step.

    Notes
    -----
    .. math::
        \mathbf{x}_{k+1} = \mathcal{P}_k\bigl(\mathbf{x}_k - \alpha_k
        \mathbf{A}^H(\mathbf{A}\mathbf{x}_k - \mathbf{y})\bigr), \qquad \mathbf{x}_0 = \mathbf{0},

    one forward and one adjoint pass of :math:`\mathbf{A}` per iteration: proximal gradient on
    :math:`\tfrac12\|\mathbf{A}\mathbf{x}-\mathbf{y}\|_2^2 + R(\mathbf{x})` with the proximal
    operator of :math:`R` replaced by a trained network (plug-and-play / unrolled networks).

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.nn import ConvDenoiser, UnrolledProximalGradient
    >>> A = torchlops.Diagonal(torch.rand(32) + 0.5)
    >>> net = UnrolledProximalGradient(A, n_iter=3, prox=ConvDenoiser(ndim=1, hidden=8))
    >>> net(torch.randn(2, 32)).shape
    torch.Size([2, 32])
    """

    def __init__(
        self,
        Op: LinearOperator,
        n_iter: int,
        prox: nn.Module | Sequence[nn.Module],
        shared: bool = True,
        step: float | None = None,
        learn_step: bool = True,
        norm_niter: int = 50,
    ) -> None:
        super().__init__()
        self.Op = check_operator(Op)
        self.n_iter = _check_niter(n_iter)
        if isinstance(prox, nn.ModuleList):  # (a container of per-iteration modules, not one module)
            prox = list(prox)
        if isinstance(prox, nn.Module):
            mods = [prox] if shared else [copy.deepcopy(prox) for _ in range(self.n_iter)]
        elif isinstance(prox, Sequence) and all(isinstance(p, nn.Module) for p in prox):
            if len(prox) != self.n_iter:
                raise ValueError(f"prox must hold n_iter = {self.n_iter} modules, got {len(prox)}")
            mods = list(prox)
        elif isinstance(prox, Sequence) and not isinstance(prox, (str, bytes)):
            bad = next(p for p in prox if not isinstance(p, nn.Module))
            raise TypeError(f"prox must be an nn.Module or a list of them, got a list holding a {type(bad).__name__}")
        else:
            raise TypeError(f"prox must be an nn.Module or a list of them, got {type(prox).__name__}")
        self.prox = nn.ModuleList(mods)
        step = _positive(step, "step")
        if step is None:
            step = _default_step(Op, norm_niter)
        _log_param(step, self.n_iter, learn_step, self, "log_step")

    @property
    def steps(self) -> torch.Tensor:
        """Step sizes :math:`\\alpha_k`, shape ``(n_iter,)``."""
        return self.log_step.exp()

    def forward(self, y: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        """Estimate ``x`` ``(*batch, *dims)`` from data ``y`` ``(*batch, *dimsd)``."""
        batch, yb = split_batch(y, self.Op.dimsd, "y")
        steps = self.steps
        x = None if x0 is None else _start(x0, self.Op.dims, batch)
        for k in range(self.n_iter):
            prox = self.prox[k if len(self.prox) > 1 else 0]
            # x_{k+1} = P_k(x_k - alpha_k A^H (A x_k - y)), from x_0 = 0 unless given
            x = prox(_descent(self.Op, x, yb, steps[k]))
        return x.reshape(*batch, *self.Op.dims)
