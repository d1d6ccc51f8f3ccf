"""Polynomial regression."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from torchlops.functional import regression, regression_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import operator_tensor
from torchlops.utils.typing import DTypeLike, TensorLike

__all__ = ["Regression"]


class Regression(LinearOperator):
    r"""Polynomial of order ``order`` evaluated at ``taxis``.

    Parameters
    ----------
    taxis : :obj:`torch.Tensor`
        1-D tensor of abscissae :math:`t_k`.
    order : :obj:`int`
        Polynomial order (the model has ``order + 1`` coefficients).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_k = \sum_{i=0}^{p} x_i t_k^i, \qquad x_i = \sum_k t_k^i y_k.

    The Vandermonde matrix :math:`V_{ki} = t_k^i` is built from ``taxis`` (on the CPU kept while
    ``taxis`` holds the same values); one GEMM per application.

    Examples
    --------
    >>> import torch, torchlops
    >>> R = torchlops.Regression(torch.tensor([0.0, 1.0, 2.0]), order=2)
    >>> R @ torch.tensor([1.0, 0.0, 1.0])
    tensor([1., 2., 5.])
    """

    def __init__(self, taxis: TensorLike, order: int, dtype: DTypeLike = None, name: str = "R") -> None:
        if not isinstance(taxis, torch.Tensor) and not hasattr(taxis, "__array__"):
            raise TypeError(f"taxis must be a tensor or array, got {type(taxis).__name__}")
        t, dt = operator_tensor(taxis, "taxis", dtype)
        if t.dim() != 1:
            raise ValueError(f"taxis must be 1-D, got shape {tuple(t.shape)}")
        if isinstance(order, bool) or not isinstance(order, numbers.Real) or not math.isfinite(order) \
                or int(order) != order or order < 0:
            raise ValueError(f"order must be a non-negative integer, got {order!r}")
        super().__init__(shape=(t.numel(), int(order) + 1), dtype=dt, name=name)
        self.order = int(order)
        self.register_operator_tensor("taxis", t)

    def _vander(self, t: torch.Tensor) -> torch.Tensor:
        return torch.stack([t**i for i in range(self.order + 1)], dim=1)

    def _taxis_vander(self) -> torch.Tensor:
        """The Vandermonde matrix of ``taxis``, kept while ``taxis`` holds the same values
        (:meth:`~torchlops.LinearOperator._kept`: building it cost three times the product)."""
        return self._kept("vander", self.taxis, lambda: self._vander(self.taxis))

    # y[k] = sum_i x[i] t[k]^i
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return regression(x, self._taxis_vander())

    # x[i] = sum_k conj(t[k]^i) y[k]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return regression_adjoint(y, self._taxis_vander())

    def apply(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the polynomial of coefficients ``x`` (``(*batch, order+1)``) at ``t``."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{self.name}.apply: x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 1 or x.shape[-1] != self.order + 1:
            raise ValueError(f"{self.name}.apply: x must be (*batch, {self.order + 1}), got {tuple(x.shape)}")
        # (t in its own precision and kind, promoted with taxis': complex points keep their
        # imaginary part, float64 ones their digits on a float32 operator; NumPy's defaults for
        # lists and numbers, float64 / complex128, as PyLops)
        tt = t if isinstance(t, torch.Tensor) else torch.from_numpy(np.asarray(t))
        dt = torch.promote_types(tt.dtype, self.taxis.dtype)
        tt = tt.to(device=self.taxis.device, dtype=dt).reshape(-1)
        xb = x.reshape(-1, self.order + 1)
        return regression(xb, self._vander(tt)).reshape(*x.shape[:-1], tt.numel())
