"""Zero padding."""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch

from torchlops.functional import crop, pad
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Pad"]


class Pad(LinearOperator):
    r"""Zero-pad the model before and after each axis.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    pad : :obj:`tuple`
        ``(before, after)`` for a 1-D model, or one ``(before, after)`` per axis.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_{i + b} = x_i, \quad y = 0 \text{ elsewhere}; \qquad x_i = y_{i + b}.

    One read of x and one write of y (the adjoint crops: one read of the kept part).

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.Pad(2, (1, 2)) @ torch.tensor([1.0, 2.0])
    tensor([0., 1., 2., 0., 0.])
    """

    def __init__(self, dims: InputDimsLike, pad: Sequence, dtype: DTypeLike = None, name: str = "P") -> None:
        dims = to_dims(dims)
        widths = [pad] if len(dims) == 1 and len(pad) == 2 and not isinstance(pad[0], Sequence) else list(pad)
        try:
            widths = [(b, a) for b, a in widths]
        except (TypeError, ValueError):
            raise ValueError(f"pad must be (before, after) or one (before, after) per axis, got {pad!r}") from None
        try:  # (integers only, as numpy's pad: a fraction is not cut)
            widths = [(operator.index(b), operator.index(a)) for b, a in widths]
        except TypeError:
            raise TypeError(f"pad widths must be integers, got {pad!r}") from None
        if len(widths) != len(dims):
            raise ValueError(f"pad needs one (before, after) pair per axis ({len(dims)}), got {len(widths)}")
        if any(b < 0 or a < 0 for b, a in widths):
            raise ValueError(f"Padding must be positive or zero, got {widths}")
        super().__init__(dims=dims, dimsd=tuple(n + b + a for n, (b, a) in zip(dims, widths)), dtype=dtype, name=name)
        self.pad = widths

    # y[i + before] = x[i]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return pad(x, self.pad)

    # x[i] = y[i + before]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return crop(y, self.pad, self._dims)
