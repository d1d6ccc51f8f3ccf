"""2-dimensional non-stationary convolution (filters bilinearly interpolated between control points)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops.functional.convolution import (
    interpolation_weights,
    nonstationary_convolve,
    nonstationary_convolve_adjoint,
)
from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing.nonstatconvolve1d import check_control_points, check_engine, check_odd
from torchlops.utils.checks import operator_tensor, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["NonStationaryConvolve2D"]


class NonStationaryConvolve2D(LinearOperator):
    r"""2D non-stationary convolution: a filter per sample, bilinearly interpolated.

    Parameters
    ----------
    dims : :obj:`tuple`
        Model (and data) shape ``(nx, nz)``.
    hs : :obj:`torch.Tensor`
        Filters ``(len(ihx), len(ihz), nhx, nhz)`` (odd sizes, centred). A
        :class:`torch.nn.Parameter` is learnt.
    ihx, ihz : :obj:`tuple`
        Regularly spaced (increasing or decreasing) indices of the filters along the two axes.
    engine : :obj:`str`, optional
        PyLops' engine (``numpy``, ``numba`` or ``cuda``): accepted and ignored (the torch
        implementation runs on the device of the operator).
    num_threads_per_blocks : :obj:`tuple`, optional
        Ignored (PyLops' CUDA launch setting).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``hs``).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    The filter of sample :math:`\mathbf{i}` is the bilinear interpolation
    :math:`\hat{h}_{\mathbf{i}}` of the four closest filters (the nearest edge filters outside
    the control grid), and

    .. math::
        y[\mathbf{m}] = \sum_{\mathbf{q}} x[\mathbf{m} - \mathbf{q} + \mathbf{c}]\,
        \hat{h}_{\mathbf{m} - \mathbf{q} + \mathbf{c}}[\mathbf{q}], \qquad
        x[\mathbf{i}] = \sum_{\mathbf{q}} \overline{\hat{h}_{\mathbf{i}}[\mathbf{q}]}\,
        y[\mathbf{i} + \mathbf{q} - \mathbf{c}],

    with :math:`\mathbf{c}` the filter centre. The interpolated filters
    (``nx * nz * nhx * nhz`` values) are built once per application, then one pass over the
    data per tap in both directions.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.nonstatconvolve2d import NonStationaryConvolve2D
    >>> hs = torch.zeros(2, 2, 3, 3); hs[..., 1, 1] = 2.0
    >>> C = NonStationaryConvolve2D((4, 5), hs, ihx=(0, 3), ihz=(1, 3))
    >>> bool(torch.allclose(C @ torch.ones(4, 5), 2 * torch.ones(4, 5)))
    True
    """

    def __init__(
        self,
        dims: InputDimsLike,
        hs: TensorLike,
        ihx: Sequence[int],
        ihz: Sequence[int],
        engine: str = "numpy",
        num_threads_per_blocks: tuple[int, int] = (32, 32),
        dtype: DTypeLike = None,
        name: str = "C",
    ) -> None:
        check_engine(engine)
        dims = to_dims(dims)
        if len(dims) != 2:
            raise ValueError(f"dims must be 2-dimensional, got {dims}")
        t, dt = operator_tensor(hs, "hs", dtype)
        if t.dim() != 4:
            raise ValueError(f"hs must be 4-dimensional (nfx, nfz, nhx, nhz), got shape {tuple(t.shape)}")
        check_odd(t.shape[2:])
        self.ihx = check_control_points(ihx, dims[0], "ihx")
        self.ihz = check_control_points(ihz, dims[1], "ihz")
        if (len(self.ihx), len(self.ihz)) != tuple(t.shape[:2]):
            raise ValueError(
                f"hs must hold len(ihx) x len(ihz) = {len(self.ihx)} x {len(self.ihz)} filters, "
                f"got {t.shape[0]} x {t.shape[1]}"
            )
        super().__init__(dims=dims, dimsd=dims, dtype=dt, name=name)
        self.hshape = tuple(t.shape[2:])
        self.engine = engine
        self.register_operator_tensor("hs", t)

    def _weights(self) -> list[torch.Tensor]:
        dev = self.hs.device
        return [interpolation_weights(n, ih, dev) for n, ih in zip(self.dims, (self.ihx, self.ihz))]

    # y[b, m] = sum_q x[b, m - q + c] hi[m - q + c, q]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return nonstationary_convolve(x, self.hs, self._weights())

    # x[b, i] = sum_q conj(hi[i, q]) y[b, i + q - c]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return nonstationary_convolve_adjoint(y, self.hs, self._weights())
