"""Bilinear interpolation over the first two axes of a model."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchlops.functional.interpolation import bilinear, bilinear_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing.interp import ensure_unique
from torchlops.utils.checks import real_dtype, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["Bilinear"]


class Bilinear(LinearOperator):
    r"""Bilinear interpolation at fractional positions over the first two model axes.

    Parameters
    ----------
    iava : :obj:`torch.Tensor` or array-like
        Positions of shape ``(2, K)``: row 0 along ``dims[0]``, row 1 along ``dims[1]``
        (unique pairs, each within ``[0, dims[i] - 1)``).
    dims : :obj:`tuple`
        Model shape (at least two dimensions); the data shape is ``(K, *dims[2:])``.
    forceflat : :obj:`bool`, optional
        Ignored (kept for PyLops compatibility).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (``float64`` by default as in PyLops).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    With :math:`t_k = \lfloor \text{iava}_{0k} \rfloor`, :math:`l_k = \lfloor
    \text{iava}_{1k} \rfloor` and the fractional parts :math:`w^{tb}_k`, :math:`w^{lr}_k`,

    .. math::
        y_k = (1-w^{tb}_k)(1-w^{lr}_k) x_{t_k, l_k} + (1-w^{tb}_k) w^{lr}_k x_{t_k, l_k+1}
        + w^{tb}_k (1-w^{lr}_k) x_{t_k+1, l_k} + w^{tb}_k w^{lr}_k x_{t_k+1, l_k+1};

    the adjoint spreads each :math:`y_k` onto the same four corners with the same weights.
    One gather of four corners forward, one scatter-add adjoint.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.bilinear import Bilinear
    >>> B = Bilinear(torch.tensor([[0.5, 1.0], [0.5, 0.25]]), (3, 3))
    >>> B @ torch.arange(9.0, dtype=torch.float64).reshape(3, 3)
    tensor([2.0000, 3.2500], dtype=torch.float64)
    """

    def __init__(
        self,
        iava: TensorLike | Sequence[Sequence[float]],
        dims: InputDimsLike,
        forceflat: bool | None = None,
        dtype: DTypeLike = "float64",
        name: str = "B",
    ) -> None:
        dims = to_dims(dims)
        if len(dims) < 2:
            raise ValueError(f"Bilinear needs a model of at least two dimensions, got dims={dims}")
        a = iava.detach().cpu().numpy() if isinstance(iava, torch.Tensor) else np.asarray(iava)
        if a.ndim != 2 or a.shape[0] != 2 or a.shape[1] == 0:
            raise ValueError(f"iava must have shape (2, K) with K > 0, got {a.shape}")
        if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
            raise TypeError(f"iava must hold real numbers, got dtype {a.dtype}")
        a = a.astype(np.float64)
        ensure_unique(a, axis=1)
        idx = np.floor(a).astype(np.int64)
        for i in range(2):
            if idx[i].min() < 0 or idx[i].max() + 1 > dims[i] - 1:
                raise ValueError(
                    f"iava[{i}] must lie in [0, {dims[i] - 1}) (dims[{i}] = {dims[i]}), "
                    f"got [{a[i].min()}, {a[i].max()}]"
                )
        dt = to_torch_dtype(dtype, torch.float64)
        super().__init__(dims=dims, dimsd=(a.shape[1], *dims[2:]), dtype=dt, name=name)
        self.register_operator_tensor("iava_tl", torch.from_numpy(idx))
        self.register_operator_tensor("weights", torch.from_numpy(a - idx).to(real_dtype(dt)))

    # y[b, k, ...] = sum_{c in corners(k)} W[c] x[b, t_c, l_c, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return bilinear(x, self.iava_tl, self.weights)

    # x[b, t, l, ...] = sum_{(k, c): corner c of k is (t, l)} W[c] y[b, k, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return bilinear_adjoint(y, self.iava_tl, self.weights, self.dims[0], self.dims[1])
