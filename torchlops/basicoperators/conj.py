"""Complex conjugation (R-linear)."""

from __future__ import annotations

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import complex_dtype, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Conj"]


class Conj(LinearOperator):
    r"""Complex conjugate (an R-linear operator, ``clinear=False``; it is its own adjoint).

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model (and data) shape.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Complex dtype (default ``complex128`` as in PyLops).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y = \overline{x}, \qquad x = \overline{y}.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.Conj(1) @ torch.tensor([1 + 2j])
    tensor([1.-2.j], dtype=torch.complex128)
    """

    _complex_by_definition = True

    def __init__(self, dims: InputDimsLike, dtype: DTypeLike = "complex128", name: str = "C") -> None:
        dims = to_dims(dims)
        super().__init__(dims=dims, dimsd=dims, dtype=complex_dtype(to_torch_dtype(dtype)), clinear=False, name=name)

    # y = conj(x)
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return torch.conj_physical(x)

    # x = conj(y)
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return torch.conj_physical(y)
