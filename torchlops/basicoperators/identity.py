"""Identity (square or rectangular)."""

from __future__ import annotations

import torch

from torchlops.functional import crop, pad
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Identity"]


class Identity(LinearOperator):
    r"""Identity operator, square or rectangular.

    Parameters
    ----------
    N : :obj:`int` or :obj:`tuple`
        Number of samples in data (and model, if ``M`` is not given); a tuple gives an
        N-d data shape.
    M : :obj:`int` or :obj:`tuple`, optional
        Number of samples in model (same kind as ``N``).
    inplace : :obj:`bool`, optional
        Accepted for PyLops compatibility; outputs never alias inputs.
    forceflat : :obj:`bool`, optional
        Accepted for PyLops compatibility (the output form follows the input form).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    For ``N = M`` the output is a copy of the input. For ``N > M`` (data larger) the
    model is zero-padded at the end of each axis, the adjoint crops; for ``N < M`` the
    forward crops and the adjoint zero-pads:

    .. math::
        y_i = x_i \ (i < \min(N, M)), \qquad y_i = 0 \ (M \le i < N).

    One read of the input, one write of the output.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.Identity(4, 2) @ torch.tensor([1.0, 2.0])
    tensor([1., 2., 0., 0.])
    """

    def __init__(
        self,
        N: InputDimsLike,
        M: InputDimsLike | None = None,
        inplace: bool = True,
        forceflat: bool | None = None,
        dtype: DTypeLike = None,
        name: str = "I",
    ) -> None:
        M = N if M is None else M
        if isinstance(N, (tuple, list, torch.Size)) != isinstance(M, (tuple, list, torch.Size)):
            raise TypeError(f"N and M must both be ints or both tuples, got {type(N).__name__} and {type(M).__name__}")
        dimsd, dims = to_dims(N, "N"), to_dims(M, "M")
        if len(dims) != len(dimsd):
            raise ValueError(f"N and M must have the same number of dimensions, got {dimsd} and {dims}")
        if dims == dimsd:
            mode = "same"
        elif all(m >= n for n, m in zip(dimsd, dims)):
            mode = "model"
        elif all(n >= m for n, m in zip(dimsd, dims)):
            mode = "data"
        else:
            raise ValueError(f"N={dimsd} and M={dims}: every entry of one must be >= the same entry of the other")
        super().__init__(dims=dims, dimsd=dimsd, dtype=dtype, name=name)
        self.mode = mode
        self.inplace = inplace
        small = dimsd if mode == "model" else dims
        big = dims if mode == "model" else dimsd
        self._widths = [(0, b - s) for s, b in zip(small, big)]

    # y = x | crop(x) | pad(x)
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "same":
            return x.clone()
        if self.mode == "model":
            return crop(x, self._widths, self._dimsd)
        return pad(x, self._widths)

    # x = y | pad(y) | crop(y)
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if self.mode == "same":
            return y.clone()
        if self.mode == "model":
            return pad(y, self._widths)
        return crop(y, self._widths, self._dims)
