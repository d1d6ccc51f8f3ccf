"""Restriction (sampling) operator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchlops._lines import kept_line_terms, line_positions
from torchlops.functional import restriction, restriction_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Restriction"]


class Restriction(LinearOperator):
    r"""Select the samples ``iava`` of the model along ``axis``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    iava : :obj:`list` or :obj:`torch.Tensor`
        Integer indices of the kept samples along ``axis`` (repeats allowed; negative
        indices count from the end).
    axis : :obj:`int`, optional
        Axis along which to sample.
    inplace, forceflat : optional
        Accepted for PyLops compatibility.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_k = x_{i_k}, \qquad x_i = \sum_{k:\, i_k = i} y_k,

    so repeated indices add up in the adjoint. One gather / one scatter-add.

    Examples
    --------
    >>> import torch, torchlops
    >>> R = torchlops.Restriction(4, [0, 2, 2])
    >>> R @ torch.tensor([1.0, 2.0, 3.0, 4.0])
    tensor([1., 3., 3.])
    >>> R.H @ torch.ones(3)
    tensor([1., 0., 2., 0.])
    """

    def __init__(
        self,
        dims: InputDimsLike,
        iava: Sequence[int] | torch.Tensor | np.ndarray,
        axis: int = -1,
        inplace: bool = True,
        forceflat: bool | None = None,
        dtype: DTypeLike = None,
        name: str = "R",
    ) -> None:
        dims = to_dims(dims)
        ax = normalize_axis(axis, len(dims))
        idx = iava if isinstance(iava, torch.Tensor) else torch.as_tensor(np.asarray(iava))
        if idx.numel() == 0 and idx.dtype.is_floating_point:  # (an empty list: no sample taken)
            idx = idx.to(torch.int64)
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise TypeError(f"iava must hold integers, got dtype {idx.dtype}")
        idx = idx.reshape(-1).to(torch.long)
        n = dims[ax]
        if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise ValueError(
                f"iava must lie in [-{n}, {n}) (dims[{axis}] = {n}), got values in "
                f"[{int(idx.min())}, {int(idx.max())}]"
            )
        dimsd = list(dims)
        dimsd[ax] = idx.numel()
        super().__init__(dims=dims, dimsd=dimsd, dtype=dtype, name=name)
        self.axis = ax
        self.inplace = inplace
        self.register_buffer("iava", idx % max(n, 1))
        self.repeated = bool(torch.unique(self.iava).numel() != self.iava.numel())

    # y[k] = x[iava[k]]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if self.axis == x.dim() - 2 and x.device.type == "cpu":
            idx = self._line_index(x)
            if idx is not None:
                # (torch's CPU gather along the last dim is 5-15x slower than one flat gather)
                return x.reshape(-1).index_select(0, idx).reshape(*x.shape[:-1], self.iava.numel())
        return restriction(x, self.iava, self.axis)

    #: the largest flat index kept for sampling the last axis (entries)
    _LINE_INDEX_MAX = 1 << 22

    def _line_index(self, x: torch.Tensor) -> torch.Tensor | None:
        """The flat positions ``line * n + iava[k]`` of every output sample of ``x`` sampled
        along its last dim, kept for the next call (see :func:`torchlops._lines.kept_line_terms`)."""
        iv = self.iava
        return kept_line_terms(self, "_kept_index", x, (iv,), self._LINE_INDEX_MAX,
                               lambda lines, n: line_positions(iv, lines, n), one_line=iv)

    # x[i] = sum_{k: iava[k] = i} y[k]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return restriction_adjoint(y, self.iava, self.axis, self._dims[self.axis])

    def mask(self, x: torch.Tensor) -> torch.Tensor:
        """Model-shaped tensor equal to ``x`` at the sampled positions and zero elsewhere
        (accepts ``(*batch, *dims)`` or flat ``(*batch, N)``)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{self.name}.mask: x must be a torch.Tensor, got {type(x).__name__}")
        k = x.dim() - len(self._dims)
        nd = k >= 0 and tuple(x.shape[k:]) == self._dims
        flat = not nd and x.dim() >= 1 and x.shape[-1] == self.shape[1]
        if not (nd or flat):
            raise ValueError(
                f"{self.name}.mask: expected (*batch, {', '.join(map(str, self._dims))}) or "
                f"(*batch, {self.shape[1]}), got {tuple(x.shape)}"
            )
        xb = x.reshape(-1, *self._dims)
        keep = torch.zeros(self._dims[self.axis], dtype=torch.bool, device=x.device)
        keep[self.iava.to(x.device)] = True
        shape = [1] * (len(self._dims) + 1)
        shape[self.axis + 1] = -1
        y = torch.where(keep.reshape(shape), xb, torch.zeros((), dtype=x.dtype, device=x.device))
        return y.reshape(x.shape) if flat else y.reshape(*x.shape[: x.dim() - len(self._dims)], *self._dims)
