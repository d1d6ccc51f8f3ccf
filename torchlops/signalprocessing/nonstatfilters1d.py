"""1-dimensional non-stationary filter estimation (the filters are the model)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops.functional.convolution import (
    interpolation_weights,
    nonstationary_filters,
    nonstationary_filters_adjoint,
)
from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing.nonstatconvolve1d import check_control_points, check_odd
from torchlops.utils.checks import as_int, operator_tensor
from torchlops.utils.typing import DTypeLike, TensorLike

__all__ = ["NonStationaryFilters1D"]


class NonStationaryFilters1D(LinearOperator):
    r"""1D non-stationary filter estimation: convolve a fixed signal with interpolated filters.

    Parameters
    ----------
    inp : :obj:`torch.Tensor`
        Fixed input signal of ``n`` samples (a buffer of the operator).
    hsize : :obj:`int`
        Length of the filters (odd, centred).
    ih : :obj:`tuple`
        Regularly spaced (increasing or decreasing) indices of the filters in the signal.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``inp``).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    The model is the filter bank ``hs`` of shape ``(len(ih), hsize)``, the data has ``n``
    samples. With :math:`\mathbf{L}` the linear interpolation of the filters onto every
    sample (:math:`\hat{h}_i = \sum_k L_{ik} h_k`) and :math:`c = \lfloor h_{size}/2 \rfloor`,

    .. math::
        y[m] = \sum_q \mathrm{inp}[m - q + c]\, \hat{h}_{m - q + c}[q], \qquad
        h_k[q] = \sum_i L_{ik}\, \overline{\mathrm{inp}[i]}\, y[i + q - c],

    the operator of
    :class:`~torchlops.signalprocessing.nonstatconvolve1d.NonStationaryConvolve1D` with the
    roles of filters and signal swapped. One pass over the data per tap in both directions.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.nonstatfilters1d import NonStationaryFilters1D
    >>> F = NonStationaryFilters1D(torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]), hsize=3, ih=(0, 4))
    >>> F @ torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    tensor([0.0000, 0.5000, 1.0000, 0.5000, 0.0000])
    """

    def __init__(
        self,
        inp: TensorLike,
        hsize: int,
        ih: Sequence[int],
        dtype: DTypeLike = None,
        name: str = "C",
    ) -> None:
        t, dt = operator_tensor(inp, "inp", dtype)
        if t.dim() != 1:
            raise ValueError(f"inp must be 1-dimensional, got shape {tuple(t.shape)}")
        hsize = as_int(hsize, "hsize")
        check_odd((hsize,))
        self.ih = check_control_points(ih, t.shape[0])
        super().__init__(dims=(len(self.ih), hsize), dimsd=tuple(t.shape), dtype=dt, name=name)
        self.hsize = hsize
        self.register_operator_tensor("inp", t)

    def _weights(self) -> list[torch.Tensor]:
        return [interpolation_weights(self.dimsd[0], self.ih, self.inp.device)]

    # y[b, m] = sum_q inp[m - q + c] hi[b, m - q + c, q]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return nonstationary_filters(x, self.inp, self._weights())

    # hs[b, k, q] = sum_i W[i, k] conj(inp[i]) y[b, i + q - c]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return nonstationary_filters_adjoint(y, self.inp, self._weights(), (self.hsize,))
