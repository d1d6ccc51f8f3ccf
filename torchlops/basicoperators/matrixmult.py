"""Matrix multiplication operator."""

from __future__ import annotations

import torch

from torchlops.functional import matrixmult, matrixmult_adjoint
from torchlops.functional.basic import matrixmult_vjp
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import check_backend, operator_tensor, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["MatrixMult"]


_COMPRESSED = (torch.sparse_csr, torch.sparse_csc, torch.sparse_bsr, torch.sparse_bsc)


class MatrixMult(LinearOperator):
    r"""Multiplication by a dense or sparse matrix ``A`` of shape ``(M, N)``.

    Parameters
    ----------
    A : :obj:`torch.Tensor`
        Matrix: dense (an :class:`torch.nn.Parameter` is learnt) or a torch sparse tensor
        (applied with :func:`torch.sparse.mm`). Compressed layouts (CSR, CSC, BSR, BSC) that do
        not require grad are held as COO: torch.func transforms and deep copies do not take
        compressed tensors.
    otherdims : :obj:`int` or :obj:`tuple`, optional
        Extra model dimensions: the model is ``(N, *otherdims)`` and ``A`` acts on its first
        axis, giving data ``(M, *otherdims)``.
    forceflat : :obj:`bool`, optional
        Accepted for PyLops compatibility (the output form follows the input form).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``A``; complex ``A`` makes a complex operator).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_{i\ldots} = \sum_j A_{ij} x_{j\ldots}, \qquad
        x_{j\ldots} = \sum_i \overline{A_{ij}} y_{i\ldots}.

    One batched GEMM per application (the batch is folded into the GEMM's columns).
    ``explicit`` is ``True`` without ``otherdims`` (``todense`` returns ``A``).

    Examples
    --------
    >>> import torch, torchlops
    >>> M = torchlops.MatrixMult(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    >>> M @ torch.tensor([1.0, 1.0])
    tensor([ 3.,  7., 11.])
    """

    def __init__(
        self,
        A: TensorLike,
        otherdims: InputDimsLike | None = None,
        forceflat: bool | None = None,
        dtype: DTypeLike = None,
        name: str = "M",
    ) -> None:
        if isinstance(A, torch.Tensor) and A.layout in _COMPRESSED and not A.requires_grad:
            A = A.to_sparse_coo().coalesce()
        # (dense or sparse: the same dtype rules, a complex A making the complex counterpart of dtype)
        mat, dt = operator_tensor(A, "A", dtype)
        if mat.dim() != 2:
            raise ValueError(f"A must be a 2-D matrix, got shape {tuple(mat.shape)}")
        m, n = mat.shape
        if otherdims is None:
            dims, dimsd, explicit = (n,), (m,), True
            self_other: tuple[int, ...] = ()
        else:
            self_other = to_dims(otherdims, "otherdims")
            dims, dimsd, explicit = (n, *self_other), (m, *self_other), False
        super().__init__(dims=dims, dimsd=dimsd, dtype=dt, explicit=explicit, name=name)
        self.otherdims = self_other if otherdims is not None else None
        self.register_operator_tensor("A", mat)

    @property
    def complex(self) -> bool:
        """Whether the operator is complex (PyLops' attribute; follows conversions)."""
        return self.dtype.is_complex

    # y[b, i, ...] = sum_j A[i, j] x[b, j, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return matrixmult(x, self.A)

    # x[b, j, ...] = sum_i conj(A[i, j]) y[b, i, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return matrixmult_adjoint(y, self.A)

    # dL/dA = sum_b g_b x_b^H   (dense A; sparse A takes the generic autograd route)
    def _tensor_vjp(self, adjoint: bool, x: torch.Tensor, tensors: tuple, g: torch.Tensor, needs: tuple) -> object:
        """Gradient of a dense ``A`` for one application (``x`` its input, ``g`` the output gradient)."""
        A = tensors[0]
        if A.is_sparse or A.is_sparse_csr:
            return NotImplemented
        return [matrixmult_vjp(A, x, g, adjoint) if needs[0] else None]

    def inv(self) -> torch.Tensor:
        """Inverse of a square ``A``."""
        A = self.A.to_dense() if (self.A.is_sparse or self.A.is_sparse_csr) else self.A
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"inv needs a square matrix, got shape {tuple(A.shape)}")
        return torch.linalg.inv(A)

    def todense(self, backend: str = "numpy") -> torch.Tensor:
        """Dense matrix (``A`` itself, densified if sparse, when there are no ``otherdims``);
        ``backend`` is accepted as in PyLops."""
        check_backend(backend)
        if self.otherdims is None:
            A = self.A.to_dense() if (self.A.is_sparse or self.A.is_sparse_csr) else self.A
            return A.detach().clone()
        return super().todense()
