r"""Learned primal-dual reconstruction (Adler & Öktem, 2018) around an operator and its adjoint."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from torchlops.linearoperator import LinearOperator
from torchlops.nn._common import check_operator, param_dtype, positive_int, split_batch
from torchlops.nn.blocks import conv_block

__all__ = ["LearnedPrimalDual"]


def _blocks(given: Sequence[nn.Module] | None, factory: Callable[[int, int, int], nn.Module], n_iter: int,
            cin: int, cout: int, ndim: int, what: str) -> nn.ModuleList:
    if given is None:
        return nn.ModuleList(factory(cin, cout, ndim) for _ in range(n_iter))
    if (isinstance(given, nn.Module) and not isinstance(given, nn.ModuleList)) or not all(
            isinstance(b, nn.Module) for b in given):
        raise TypeError(f"{what} must be a list of nn.Module, got {type(given).__name__}")
    if len(given) != n_iter:
        raise ValueError(f"{what} must hold n_iter = {n_iter} modules, got {len(given)}")
    return nn.ModuleList(given)


class LearnedPrimalDual(nn.Module):
    r"""Learned primal-dual network: CNN updates in model and data space linked by ``Op`` and ``Op.H``.

    Parameters
    ----------
    Op : :obj:`torchlops.LinearOperator`
        Forward operator :math:`\mathbf{A}` with 1-, 2- or 3-dimensional ``dims`` and ``dimsd``
        (the convolutions are picked by ``len(Op.dims)`` / ``len(Op.dimsd)``). Real operators.
    n_iter : :obj:`int`, optional
        Number of unrolled primal-dual iterations.
    primal_blocks, dual_blocks : :obj:`list` of :obj:`torch.nn.Module`, optional
        ``n_iter`` modules each: primal block ``k`` maps ``(B, n_primal + 1, *dims)`` to
        ``(B, n_primal, *dims)``, dual block ``k`` maps ``(B, n_dual + 2, *dimsd)`` to
        ``(B, n_dual, *dimsd)``. Built by ``factory`` when not given.
    factory : :obj:`callable`, optional
        ``factory(in_channels, out_channels, ndim) -> nn.Module``; default
        :func:`torchlops.nn.conv_block` (3 convolutions, 32 channels, PReLU), built in the
        operator's precision (a float64 operator: float64 blocks).
    n_primal, n_dual : :obj:`int`, optional
        Memory channels of the primal and dual variables.

    Notes
    -----
    With :math:`\mathbf{f}_0 = \mathbf{0}` (``n_primal`` channels), :math:`\mathbf{h}_0 = \mathbf{0}`
    (``n_dual`` channels) and :math:`[\cdot]` channel concatenation, iteration :math:`k` is

    .. math::
        \mathbf{h}_{k+1} &= \mathbf{h}_k + \Gamma_k\bigl([\mathbf{h}_k,\,
            \mathbf{A}\mathbf{f}_k^{(1)},\, \mathbf{y}]\bigr), \\
        \mathbf{f}_{k+1} &= \mathbf{f}_k + \Lambda_k\bigl([\mathbf{f}_k,\,
            \mathbf{A}^H\mathbf{h}_{k+1}^{(0)}]\bigr),

    one forward and one adjoint pass of :math:`\mathbf{A}` per iteration (with ``n_primal = 1``,
    :math:`\mathbf{f}_k^{(0)}` takes the place of :math:`\mathbf{f}_k^{(1)}`); the estimate is
    :math:`\mathbf{f}_K^{(0)}`.

    Examples
    --------
    >>> import torch, torchlops
    >>> from torchlops.nn import LearnedPrimalDual
    >>> A = torchlops.FirstDerivative((8, 9), axis=0)
    >>> net = LearnedPrimalDual(A, n_iter=2, factory=lambda i, o, d: torch.nn.Conv2d(i, o, 3, padding=1))
    >>> net(torch.randn(3, 8, 9)).shape
    torch.Size([3, 8, 9])
    """

    def __init__(
        self,
        Op: LinearOperator,
        n_iter: int = 10,
        primal_blocks: Sequence[nn.Module] | None = None,
        dual_blocks: Sequence[nn.Module] | None = None,
        factory: Callable[[int, int, int], nn.Module] | None = None,
        n_primal: int = 5,
        n_dual: int = 5,
    ) -> None:
        super().__init__()
        self.Op = check_operator(Op)
        n_iter = positive_int(n_iter, "n_iter")
        n_primal, n_dual = positive_int(n_primal, "n_primal"), positive_int(n_dual, "n_dual")
        if Op.dtype.is_complex:
            raise TypeError(f"LearnedPrimalDual needs a real operator (real convolutions), got dtype {Op.dtype}")
        for what, d in (("dims", Op.dims), ("dimsd", Op.dimsd)):
            if not 1 <= len(d) <= 3:
                raise ValueError(f"Op.{what} must have 1 to 3 dimensions for the convolutions, got {d}")
        self.n_iter, self.n_primal, self.n_dual = n_iter, int(n_primal), int(n_dual)
        fac = conv_block if factory is None else factory
        self.primal_blocks = _blocks(primal_blocks, fac, n_iter, self.n_primal + 1, self.n_primal, len(Op.dims),
                                     "primal_blocks")
        self.dual_blocks = _blocks(dual_blocks, fac, n_iter, self.n_dual + 2, self.n_dual, len(Op.dimsd),
                                   "dual_blocks")
        self._default_blocks = factory is None and primal_blocks is None and dual_blocks is None
        if factory is None:
            # (the default blocks in the operator's precision and on its device, as the other
            # layers' parameters)
            dt, dev = param_dtype(self.Op), self.Op.device
            for blocks, given in ((self.primal_blocks, primal_blocks), (self.dual_blocks, dual_blocks)):
                if given is None:
                    blocks.to(dtype=dt, device=dev)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """Estimate ``x`` ``(*batch, *dims)`` from data ``y`` ``(*batch, *dimsd)``."""
        batch, yb = split_batch(y, self.Op.dimsd, "y")
        yb = yb.to(torch.promote_types(yb.dtype, self.Op.dtype))  # (the operator's output dtype)
        if self._default_blocks:
            pdt = next(self.dual_blocks.parameters()).dtype
            if yb.dtype != pdt:
                raise TypeError(
                    f"LearnedPrimalDual: y ({y.dtype}) with the operator ({self.Op.dtype}) gives {yb.dtype} data, "
                    f"but the default blocks are {pdt} convolutions: pass y in {pdt}, convert the layer "
                    f"(e.g. .double()), or give blocks that take {yb.dtype} inputs"
                )
        B = yb.shape[0]
        f = yb.new_zeros(B, self.n_primal, *self.Op.dims)
        h = yb.new_zeros(B, self.n_dual, *self.Op.dimsd)
        for k in range(self.n_iter):
            # h_{k+1} = h_k + Gamma_k([h_k, A f_k^(1), y])
            Af = self.Op(f[:, min(1, self.n_primal - 1)])
            h = h + self.dual_blocks[k](torch.cat([h, Af[:, None], yb[:, None]], dim=1))
            # f_{k+1} = f_k + Lambda_k([f_k, A^H h_{k+1}^(0)])
            AHh = self.Op.rmatvec(h[:, 0])
            f = f + self.primal_blocks[k](torch.cat([f, AHh[:, None]], dim=1))
        return f[:, 0].reshape(*batch, *self.Op.dims)
