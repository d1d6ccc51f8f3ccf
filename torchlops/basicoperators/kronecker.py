"""Kronecker product of two operators."""

from __future__ import annotations

import torch

from torchlops._algebra import run
from torchlops.basicoperators._stacking import cast_output, stack_dtype
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import to_torch_dtype
from torchlops.utils.typing import DTypeLike

__all__ = ["Kronecker"]


class Kronecker(LinearOperator):
    r"""Kronecker product :math:`\mathbf{A} \otimes \mathbf{B}` of two operators.

    Parameters
    ----------
    Op1 : :obj:`torchlops.LinearOperator`
        First operator :math:`\mathbf{A}` (``M1 x N1``).
    Op2 : :obj:`torchlops.LinearOperator`
        Second operator :math:`\mathbf{B}` (``M2 x N2``).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to the promoted dtype of both).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    With the model as an ``(N1, N2)`` matrix :math:`\mathbf{X}` (row-major flattening),

    .. math::
        \mathbf{Y} = \mathbf{A} \mathbf{X} \mathbf{B}^T, \qquad
        \mathbf{X} = \mathbf{A}^H \mathbf{Y} \overline{\mathbf{B}}.

    ``Op2`` is applied to the ``B*N1`` rows at once, ``Op1`` to the ``B*M2`` columns at once.

    Examples
    --------
    >>> import torch, torchlops
    >>> K = torchlops.Kronecker(torchlops.Identity(2), 2 * torchlops.Identity(2))
    >>> K @ torch.ones(4)
    tensor([2., 2., 2., 2.])
    """

    _composite = True

    def __init__(self, Op1: LinearOperator, Op2: LinearOperator, dtype: DTypeLike = None, name: str = "K") -> None:
        if not isinstance(Op1, LinearOperator) or not isinstance(Op2, LinearOperator):
            raise TypeError("Kronecker: Op1 and Op2 must be torchlops LinearOperators")
        # (a given real dtype with a complex part is that part's complex dtype, as the stacks')
        dt = stack_dtype([Op1, Op2], dtype)
        super().__init__(
            shape=(Op1.shape[0] * Op2.shape[0], Op1.shape[1] * Op2.shape[1]), dtype=dt,
            clinear=Op1.clinear and Op2.clinear, name=name,
        )
        self.Op1 = Op1
        self.Op2 = Op2
        self._given_dtype = None if dtype is None else to_torch_dtype(dtype)

    def _dtype_from_parts(self) -> torch.dtype:
        return stack_dtype([self.Op1, self.Op2], self._given_dtype)

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        B = x.shape[0]
        (m1, n1), (m2, n2) = self.Op1.shape, self.Op2.shape
        if not adjoint:
            # (A kron B) = (A kron I)(I kron B): Op2 on each of the B*n1 rows, then Op1 on each
            # of the B*m2 columns
            z = run(self.Op2, x.reshape(B * n1, n2), False).reshape(B, n1, m2)
            z = run(self.Op1, z.transpose(1, 2).reshape(B * m2, n1), False).reshape(B, m2, m1)
            return cast_output(self, z.transpose(1, 2).reshape(B, m1 * m2), x)
        # the adjoint in the reverse order, (I kron B^H)(A^H kron I): Op1^H on the columns first
        # (the order matters where a part is R-linear, such as Conj or FFT(real=True))
        z = run(self.Op1, x.reshape(B, m1, m2).transpose(1, 2).reshape(B * m2, m1), True).reshape(B, m2, n1)
        z = run(self.Op2, z.transpose(1, 2).reshape(B * n1, m2), True).reshape(B, n1, n2)
        return cast_output(self, z.reshape(B, n1 * n2), x)
