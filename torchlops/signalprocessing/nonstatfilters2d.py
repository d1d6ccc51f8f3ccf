"""2-dimensional non-stationary filter estimation (the filters are the model)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops.functional.convolution import (
    interpolation_weights,
    nonstationary_filters,
    nonstationary_filters_adjoint,
)
from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing.nonstatconvolve1d import check_control_points, check_engine, check_odd
from torchlops.utils.checks import operator_tensor, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["NonStationaryFilters2D"]


class NonStationaryFilters2D(LinearOperator):
    r"""2D non-stationary filter estimation: convolve a fixed image with interpolated filters.

    Parameters
    ----------
    inp : :obj:`torch.Tensor`
        Fixed input ``(nx, nz)`` (a buffer of the operator).
    hshape : :obj:`tuple`
        Shape of the filters ``(nhx, nhz)`` (odd, centred).
    ihx, ihz : :obj:`tuple`
        Regularly spaced (increasing or decreasing) indices of the filters along the two axes.
    engine : :obj:`str`, optional
        PyLops' engine (``numpy``, ``numba`` or ``cuda``): accepted and ignored.
    num_threads_per_blocks : :obj:`tuple`, optional
        Ignored (PyLops' CUDA launch setting).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``inp``).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    The model is the filter bank ``(len(ihx), len(ihz), nhx, nhz)``, the data is ``(nx, nz)``.
    With :math:`\mathbf{L}` the bilinear interpolation onto every sample,

    .. math::
        y[\mathbf{m}] = \sum_{\mathbf{q}} \mathrm{inp}[\mathbf{m} - \mathbf{q} + \mathbf{c}]\,
        \hat{h}_{\mathbf{m} - \mathbf{q} + \mathbf{c}}[\mathbf{q}], \qquad
        h_{\mathbf{k}}[\mathbf{q}] = \sum_{\mathbf{i}} L_{\mathbf{i}\mathbf{k}}\,
        \overline{\mathrm{inp}[\mathbf{i}]}\, y[\mathbf{i} + \mathbf{q} - \mathbf{c}];

    one pass over the data per tap in both directions (the adjoint holds the
    ``(nx, nz, nhx, nhz)`` gathered data before the interpolation's transpose).

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.nonstatfilters2d import NonStationaryFilters2D
    >>> F = NonStationaryFilters2D(torch.ones(4, 5), hshape=(3, 3), ihx=(0, 3), ihz=(1, 3))
    >>> hs = torch.zeros(2, 2, 3, 3); hs[..., 1, 1] = 2.0
    >>> bool(torch.allclose(F @ hs, 2 * torch.ones(4, 5)))
    True
    """

    def __init__(
        self,
        inp: TensorLike,
        hshape: InputDimsLike,
        ihx: Sequence[int],
        ihz: Sequence[int],
        engine: str = "numpy",
        num_threads_per_blocks: tuple[int, int] = (32, 32),
        dtype: DTypeLike = None,
        name: str = "C",
    ) -> None:
        check_engine(engine)
        t, dt = operator_tensor(inp, "inp", dtype)
        if t.dim() != 2:
            raise ValueError(f"inp must be 2-dimensional, got shape {tuple(t.shape)}")
        hshape = to_dims(hshape, "hshape")
        if len(hshape) != 2:
            raise ValueError(f"hshape must hold two sizes, got {hshape}")
        check_odd(hshape)
        self.ihx = check_control_points(ihx, t.shape[0], "ihx")
        self.ihz = check_control_points(ihz, t.shape[1], "ihz")
        super().__init__(dims=(len(self.ihx), len(self.ihz), *hshape), dimsd=tuple(t.shape), dtype=dt, name=name)
        self.hshape = hshape
        self.engine = engine
        self.register_operator_tensor("inp", t)

    def _weights(self) -> list[torch.Tensor]:
        dev = self.inp.device
        return [interpolation_weights(n, ih, dev) for n, ih in zip(self.dimsd, (self.ihx, self.ihz))]

    # y[b, m] = sum_q inp[m - q + c] hi[b, m - q + c, q]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return nonstationary_filters(x, self.inp, self._weights())

    # hs[b, k, q] = sum_i L[i, k] conj(inp[i]) y[b, i + q - c]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return nonstationary_filters_adjoint(y, self.inp, self._weights(), self.hshape)
