"""3-dimensional non-stationary convolution (filters trilinearly interpolated between control points)."""

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

__all__ = ["NonStationaryConvolve3D"]


class NonStationaryConvolve3D(LinearOperator):
    r"""3D non-stationary convolution: a filter per sample, trilinearly interpolated.

    Parameters
    ----------
    dims : :obj:`tuple`
        Model (and data) shape ``(nx, ny, nz)``.
    hs : :obj:`torch.Tensor`
        Filters ``(len(ihx), len(ihy), len(ihz), nhx, nhy, nhz)`` (odd sizes, centred). A
        :class:`torch.nn.Parameter` is learnt.
    ihx, ihy, ihz : :obj:`tuple`
        Regularly spaced (increasing or decreasing) indices of the filters along the three axes.
    engine : :obj:`str`, optional
        PyLops' engine (``numpy``, ``numba`` or ``cuda``): accepted and ignored.
    num_threads_per_blocks : :obj:`tuple`, optional
        Ignored (PyLops' CUDA launch setting).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``hs``).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    As :class:`~torchlops.signalprocessing.nonstatconvolve2d.NonStationaryConvolve2D` with
    three axes: the filter of sample :math:`\mathbf{i}` interpolates the eight closest
    filters, :math:`y[\mathbf{m}] = \sum_{\mathbf{q}} x[\mathbf{m} - \mathbf{q} + \mathbf{c}]\,
    \hat{h}_{\mathbf{m} - \mathbf{q} + \mathbf{c}}[\mathbf{q}]` and
    :math:`x[\mathbf{i}] = \sum_{\mathbf{q}} \overline{\hat{h}_{\mathbf{i}}[\mathbf{q}]}\,
    y[\mathbf{i} + \mathbf{q} - \mathbf{c}]`; one pass over the data per tap.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.nonstatconvolve3d import NonStationaryConvolve3D
    >>> hs = torch.zeros(2, 1, 2, 3, 1, 3); hs[..., 1, 0, 1] = 3.0
    >>> C = NonStationaryConvolve3D((4, 2, 5), hs, ihx=(0, 2), ihy=(0,), ihz=(1, 3))
    >>> bool(torch.allclose(C @ torch.ones(4, 2, 5), 3 * torch.ones(4, 2, 5)))
    True
    """

    def __init__(
        self,
        dims: InputDimsLike,
        hs: TensorLike,
        ihx: Sequence[int],
        ihy: Sequence[int],
        ihz: Sequence[int],
        engine: str = "numpy",
        num_threads_per_blocks: tuple[int, int, int] = (2, 16, 16),
        dtype: DTypeLike = None,
        name: str = "C",
    ) -> None:
        check_engine(engine)
        dims = to_dims(dims)
        if len(dims) != 3:
            raise ValueError(f"dims must be 3-dimensional, got {dims}")
        t, dt = operator_tensor(hs, "hs", dtype)
        if t.dim() != 6:
            raise ValueError(f"hs must be 6-dimensional (nfx, nfy, nfz, nhx, nhy, nhz), got shape {tuple(t.shape)}")
        check_odd(t.shape[3:])
        self.ihs = tuple(check_control_points(ih, n, nm) for ih, n, nm in zip((ihx, ihy, ihz), dims, ("ihx", "ihy", "ihz")))
        if tuple(len(i) for i in self.ihs) != tuple(t.shape[:3]):
            raise ValueError(
                f"hs must hold len(ihx) x len(ihy) x len(ihz) = {tuple(len(i) for i in self.ihs)} filters, "
                f"got {tuple(t.shape[:3])}"
            )
        super().__init__(dims=dims, dimsd=dims, dtype=dt, name=name)
        self.hshape = tuple(t.shape[3:])
        self.engine = engine
        self.register_operator_tensor("hs", t)

    def _weights(self) -> list[torch.Tensor]:
        return [interpolation_weights(n, ih, self.hs.device) for n, ih in zip(self.dims, self.ihs)]

    # y[b, m] = sum_q x[b, m - q + c] hi[m - q + c, q]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return nonstationary_convolve(x, self.hs, self._weights())

    # x[b, i] = sum_q conj(hi[i, q]) y[b, i + q - c]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return nonstationary_convolve_adjoint(y, self.hs, self._weights())
