"""Causal integration."""

from __future__ import annotations

import torch

from torchlops.functional import causal_integration, causal_integration_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, real_float, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["CausalIntegration"]

_KINDS = ("full", "half", "trapezoidal")


class CausalIntegration(LinearOperator):
    r"""Causal integration (cumulative sum) along ``axis``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    axis : :obj:`int`, optional
        Axis of integration.
    sampling : :obj:`float`, optional
        Sampling step :math:`\Delta t`.
    kind : :obj:`str`, optional
        ``full`` (rectangles including the current sample), ``half`` (half the current
        sample) or ``trapezoidal`` (half the first and the current sample).
    removefirst : :obj:`bool`, optional
        Drop the first output sample (``dimsd[axis] = dims[axis] - 1``).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_k = \Delta t \Big(\sum_{j \le k} x_j - \tfrac{h}{2} x_k - \tfrac{\tau}{2} [k \ge 1] x_0\Big),

    with :math:`h = 1` for ``half``/``trapezoidal`` and :math:`\tau = 1` for
    ``trapezoidal``. The adjoint is a reversed cumulative sum,
    :math:`x_j = \Delta t (\sum_{k \ge j} y_k - \tfrac{h}{2} y_j)` (and
    :math:`x_0 = \Delta t \sum_k y_k / 2` for ``trapezoidal``). One cumulative sum per
    application.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.CausalIntegration(4) @ torch.ones(4)
    tensor([1., 2., 3., 4.])
    """

    #: the sampling step (fixed at construction: build a new operator for another one)
    sampling = property(lambda self: self._samp[0])

    def __init__(
        self,
        dims: InputDimsLike,
        axis: int = -1,
        sampling: float = 1.0,
        kind: str = "full",
        removefirst: bool = False,
        dtype: DTypeLike = None,
        name: str = "C",
    ) -> None:
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        dims = to_dims(dims)
        ax = normalize_axis(axis, len(dims))
        if removefirst and dims[ax] < 1:
            raise ValueError("removefirst needs at least one sample along axis")
        dimsd = list(dims)
        if removefirst:
            dimsd[ax] -= 1
        super().__init__(dims=dims, dimsd=dimsd, dtype=dtype, name=name)
        self.axis = ax
        # (held in a tuple: a constant to torch.compile(dynamic=True), where a float attribute read
        # in a traced backward fails)
        self._samp = (real_float(sampling, "sampling"),)
        self.kind = kind
        self.removefirst = bool(removefirst)

    # y[k] = s (sum_{j<=k} x[j] - h x[k]/2 - t (k>=1) x[0]/2)
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return causal_integration(x, self.axis, self._samp[0], self.kind, self.removefirst)

    # x[j] = s (sum_{k>=j} y[k] - h y[j]/2)
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return causal_integration_adjoint(y, self.axis, self._samp[0], self.kind, self.removefirst)
