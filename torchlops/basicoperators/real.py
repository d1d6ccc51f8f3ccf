"""Real part (R-linear)."""

from __future__ import annotations

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import complex_dtype, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Real"]


class Real(LinearOperator):
    r"""Real part of a complex model (an R-linear operator, ``clinear=False``).

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model (and data) shape.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Complex dtype of the model (default ``complex128`` as in PyLops).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y = \Re(x), \qquad x = \Re(y) + 0i,

    the adjoint with respect to the real inner product :math:`\Re(\mathbf{u}^H\mathbf{v})`.
    The forward returns a real tensor.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.Real(2) @ torch.tensor([1 + 2j, 3 - 1j])
    tensor([1., 3.], dtype=torch.float64)
    """

    _complex_by_definition = True

    def __init__(self, dims: InputDimsLike, dtype: DTypeLike = "complex128", name: str = "R") -> None:
        dims = to_dims(dims)
        super().__init__(dims=dims, dimsd=dims, dtype=complex_dtype(to_torch_dtype(dtype)), clinear=False, name=name)

    # y = Re(x)
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return x.real.clone() if x.is_complex() else x.clone()

    # x = Re(y) + 0i
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return torch.complex(y.real, torch.zeros_like(y.real)) if y.is_complex() else torch.complex(y, torch.zeros_like(y))
