"""1-dimensional non-stationary convolution (filters interpolated between control points)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops.functional.convolution import (
    _interp,
    interpolation_weights,
    nonstationary_convolve,
    nonstationary_convolve_adjoint,
)
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, operator_tensor, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["NonStationaryConvolve1D", "check_control_points", "check_engine"]


def check_control_points(ih: Sequence[int], n: int, name: str = "ih") -> tuple[int, ...]:
    """Filter positions: regularly sampled ints in ``[0, n)``, increasing or decreasing (as PyLops,
    filter ``k`` sits at ``ih[k]`` either way)."""
    try:
        vals = list(ih)
        pts = tuple(int(i) for i in vals)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {ih!r}") from None
    if any(float(v) != p for v, p in zip(vals, pts)):
        raise ValueError(f"the indices {name} of the filters must be integers, got {tuple(vals)}")
    if len(pts) == 0:
        raise ValueError(f"{name} must hold at least one filter position, got {pts}")
    if len({b - a for a, b in zip(pts[:-1], pts[1:])}) > 1:
        raise ValueError(f"the indices {name} of the filters must be regularly sampled, got {pts}")
    if len(pts) > 1 and pts[1] == pts[0]:
        raise ValueError(f"the indices {name} of the filters must increase or decrease, got {pts}")
    if min(pts) < 0 or max(pts) >= n:
        raise ValueError(f"the indices {name} of the filters must lie in [0, {n}), got {pts}")
    return pts


def check_engine(engine: str) -> None:
    """PyLops' engines are accepted (and ignored: the torch implementation runs on any device)."""
    if engine not in ("numpy", "numba", "cuda"):
        raise ValueError(f"engine must be 'numpy', 'numba' or 'cuda', got {engine!r}")


def check_odd(hshape: Sequence[int]) -> None:
    if any(int(n) % 2 == 0 or int(n) < 1 for n in hshape):
        raise ValueError(f"the filters must have odd lengths, got filter shape {tuple(hshape)}")


class NonStationaryConvolve1D(LinearOperator):
    r"""1D non-stationary convolution: a filter per sample, interpolated between control points.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model (and data) shape.
    hs : :obj:`torch.Tensor`
        Filters ``(len(ih), nh)`` (``nh`` odd, centred) at the control points ``ih``. A
        :class:`torch.nn.Parameter` is learnt.
    ih : :obj:`tuple`
        Regularly spaced (increasing or decreasing) indices of the filters along ``axis``.
    axis : :obj:`int`, optional
        Axis along which to convolve.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``hs``).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    The filter of model sample :math:`i` is the linear interpolation
    :math:`\hat{h}_i = (1 - w_i) h_{k} + w_i h_{k+1}` of the two closest filters
    (the first/last filter before/after the control points), and each sample sprays it:

    .. math::
        y[m] = \sum_{q} x[m - q + c]\, \hat{h}_{m - q + c}[q], \qquad
        x[i] = \sum_{q} \overline{\hat{h}_i[q]}\, y[i + q - c], \quad c = \lfloor n_h / 2 \rfloor .

    The interpolated filters are built once per application (one ``(n, nh)`` gather); then
    one pass over the data per tap, in both directions. The adjoint uses the conjugate filters
    (PyLops 2.8 does not, so its complex adjoint differs).

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.nonstatconvolve1d import NonStationaryConvolve1D
    >>> hs = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    >>> C = NonStationaryConvolve1D(5, hs, ih=(0, 4))
    >>> C @ torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0])
    tensor([0.0000, 0.5000, 1.0000, 0.5000, 0.0000])
    """

    def __init__(
        self,
        dims: InputDimsLike,
        hs: TensorLike,
        ih: Sequence[int],
        axis: int = -1,
        dtype: DTypeLike = None,
        name: str = "C",
    ) -> None:
        dims = to_dims(dims)
        ax = normalize_axis(axis, len(dims))
        t, dt = operator_tensor(hs, "hs", dtype)
        if t.dim() != 2:
            raise ValueError(f"hs must be 2-dimensional (filters, taps), got shape {tuple(t.shape)}")
        check_odd(t.shape[1:])
        self.ih = check_control_points(ih, dims[ax])
        if len(self.ih) != t.shape[0]:
            raise ValueError(f"hs must hold one filter per index in ih ({len(self.ih)}), got {t.shape[0]}")
        super().__init__(dims=dims, dimsd=dims, dtype=dt, name=name)
        self.axis = ax
        self.hsize = int(t.shape[1])
        self.register_operator_tensor("hs", t)

    def _weights(self) -> list[torch.Tensor]:
        return [interpolation_weights(self.dims[self.axis], self.ih, self.hs.device)]

    @property
    def hsinterp(self) -> torch.Tensor:
        """The filter applied at every sample along ``axis``, ``(dims[axis], hsize)``: ``hs``
        interpolated linearly between the control points (PyLops' attribute)."""
        return _interp(self.hs, self._weights(), 0)

    # y[b, ..., m, ...] = sum_q x[b, ..., m - q + c, ...] hi[m - q + c, q]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        y = nonstationary_convolve(x.movedim(self.axis + 1, -1), self.hs, self._weights())
        return y.movedim(-1, self.axis + 1)

    # x[b, ..., i, ...] = sum_q conj(hi[i, q]) y[b, ..., i + q - c, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        x = nonstationary_convolve_adjoint(y.movedim(self.axis + 1, -1), self.hs, self._weights())
        return x.movedim(-1, self.axis + 1)
