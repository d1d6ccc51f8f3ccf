"""Zero operator."""

from __future__ import annotations

import torch

from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Zero"]


class Zero(LinearOperator):
    r"""Zero operator: :math:`\mathbf{y} = \mathbf{0}` (forward and adjoint).

    Parameters
    ----------
    N : :obj:`int` or :obj:`tuple`
        Data size (or shape).
    M : :obj:`int` or :obj:`tuple`, optional
        Model size (or shape); defaults to ``N``.
    forceflat : :obj:`bool`, optional
        Accepted for PyLops compatibility.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    One write of the output; the input is not read.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.Zero(2, 3) @ torch.ones(3)
    tensor([0., 0.])
    """

    def __init__(
        self,
        N: InputDimsLike,
        M: InputDimsLike | None = None,
        forceflat: bool | None = None,
        dtype: DTypeLike = None,
        name: str = "Z",
    ) -> None:
        M = N if M is None else M
        if isinstance(N, (tuple, list, torch.Size)) != isinstance(M, (tuple, list, torch.Size)):
            raise TypeError(f"N and M must both be ints or both tuples, got {type(N).__name__} and {type(M).__name__}")
        super().__init__(dims=to_dims(M, "M"), dimsd=to_dims(N, "N"), dtype=dtype, name=name)

    # y = 0
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros((x.shape[0], *self._dimsd))

    # x = 0
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return y.new_zeros((y.shape[0], *self._dims))
