"""Fredholm integral of the first kind: a batch of matrix kernels."""

from __future__ import annotations

import torch

from torchlops.functional.basic import grad_like
from torchlops.functional.interpolation import fredholm1, fredholm1_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import as_int, operator_tensor
from torchlops.utils.typing import DTypeLike, TensorLike

__all__ = ["Fredholm1"]


class Fredholm1(LinearOperator):
    r"""Fredholm integral of the first kind, one kernel matrix per slice.

    Parameters
    ----------
    G : :obj:`torch.Tensor`
        Kernels of shape ``(nsl, nx, ny)`` (a :class:`torch.nn.Parameter` is learnt).
    nz : :obj:`int`, optional
        Number of samples along the last (unchanged) model axis.
    saveGt : :obj:`bool`, optional
        Ignored: the adjoint uses the conjugate-transposed view ``G.mH`` (no copy), which
        also follows a learnt ``G``.
    usematmul : :obj:`bool`, optional
        Ignored: always one batched ``torch.matmul``.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (default: that of ``G``).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    Model :math:`x` of shape ``(nsl, ny, nz)``, data :math:`y` of shape ``(nsl, nx, nz)``:

    .. math::
        y_{s,i,z} = \sum_{j} G_{s,i,j} x_{s,j,z}, \qquad
        x_{s,j,z} = \sum_{i} \overline{G_{s,i,j}} y_{s,i,z}.

    One batched matrix product per direction.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.fredholm1 import Fredholm1
    >>> F = Fredholm1(torch.ones(2, 3, 4, dtype=torch.float64), nz=1)
    >>> F.dims, F.dimsd
    ((2, 4, 1), (2, 3, 1))
    >>> (F @ torch.ones(2, 4, 1, dtype=torch.float64)).flatten()
    tensor([4., 4., 4., 4., 4., 4.], dtype=torch.float64)
    """

    def __init__(
        self,
        G: TensorLike,
        nz: int = 1,
        saveGt: bool = True,
        usematmul: bool = True,
        dtype: DTypeLike = None,
        name: str = "F",
    ) -> None:
        g, dt = operator_tensor(G, "G", dtype)
        if g.dim() != 3:
            raise ValueError(f"G must have shape (nsl, nx, ny), got {tuple(g.shape)}")
        try:
            nzi = as_int(nz, "nz")
        except TypeError:
            nzi = 0
        if nzi < 1:
            raise ValueError(f"nz must be a positive int, got {nz!r}")
        nz = nzi
        nsl, nx, ny = g.shape
        super().__init__(dims=(nsl, ny, nz), dimsd=(nsl, nx, nz), dtype=dt, name=name)
        self.nsl, self.nx, self.ny, self.nz = nsl, nx, ny, nz
        self.saveGt = saveGt
        self.usematmul = usematmul
        self.register_operator_tensor("G", g)

    # y[b, s, i, z] = sum_j G[s, i, j] x[b, s, j, z]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return fredholm1(x, self.G)

    # x[b, s, j, z] = sum_i conj(G[s, i, j]) y[b, s, i, z]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return fredholm1_adjoint(y, self.G)

    # dL/dG[s] = sum_b g[b, s] x[b, s]^H   (adjoint: sum_b x[b, s] g[b, s]^H)
    def _tensor_vjp(self, adjoint: bool, x: torch.Tensor, tensors: tuple, g: torch.Tensor, needs: tuple) -> list:
        """Gradient of the kernels ``G`` for one application (explicit: ``torch.compile`` traces it)."""
        if not needs[0]:
            return [None]
        G = tensors[0]
        a, b = (x, g) if adjoint else (g, x)
        return [grad_like(G, torch.einsum("bsiz,bsjz->sij", a, b.conj()))]
