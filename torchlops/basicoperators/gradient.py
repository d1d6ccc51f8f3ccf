"""Gradient: first derivatives along every axis, stacked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchlops import _ops
from torchlops.basicoperators.firstderivative import check_kind, check_sampling
from torchlops.functional.derivatives import check_stencil_fits, first_stencil, gradient, gradient_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Gradient", "sampling_per_axis"]


def sampling_per_axis(sampling: float | Sequence[float], ndim: int) -> tuple[float, ...]:
    """One sampling step per axis from a number or a sequence of ``ndim`` numbers."""
    if isinstance(sampling, (np.ndarray, torch.Tensor)) and sampling.ndim == 1:
        sampling = sampling.tolist()  # (a 0-d array is one number; each entry checked below)
    if isinstance(sampling, (list, tuple)):
        if len(sampling) != ndim:
            raise ValueError(f"sampling must be a number or {ndim} numbers, got {len(sampling)}")
        return tuple(check_sampling(s) for s in sampling)
    return (check_sampling(sampling),) * ndim


class Gradient(LinearOperator):
    r"""Gradient: the first derivatives along every model axis, stacked on a new first axis.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    sampling : :obj:`float` or :obj:`tuple`, optional
        Sampling step, one for all axes or one per axis.
    edge : :obj:`bool`, optional
        Edge rows of the ``centered`` stencil (see :class:`FirstDerivative`).
    kind : :obj:`str`, optional
        ``forward``, ``centered`` or ``backward`` differences.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.
    engine : :obj:`str`, optional
        ``"auto"`` (the compiled kernels of ``torchlops._C`` when built and applicable,
        else pure torch), ``"torch"``, or ``"ext"`` (the kernels; ``ValueError`` when they
        are not built or cannot compute this operator).

    Notes
    -----
    With :math:`D_d` the :class:`FirstDerivative` (order 3) along axis :math:`d`,
    ``dimsd = (ndim, *dims)`` and

    .. math::
        y_{d, \mathbf{i}} = (D_d \mathbf{x})_{\mathbf{i}}, \qquad
        \mathbf{x} = \sum_d D_d^H \mathbf{y}_d ,

    so the adjoint is minus a divergence. Cost: one write of :math:`\mathbf{y}` and two
    reads of :math:`\mathbf{x}` per axis; the adjoint one write of :math:`\mathbf{x}`,
    each component of :math:`\mathbf{y}` read twice and :math:`\mathbf{x}` updated in
    place once per tap after the first.

    Examples
    --------
    >>> import torch, torchlops
    >>> G = torchlops.Gradient((3, 4), kind="forward")
    >>> G.dimsd
    (2, 3, 4)
    >>> (G @ torch.arange(12.0).reshape(3, 4))[:, 0]
    tensor([[4., 4., 4., 4.],
            [1., 1., 1., 0.]])
    """

    def __init__(
        self,
        dims: InputDimsLike,
        sampling: float | Sequence[float] = 1,
        edge: bool = False,
        kind: str = "centered",
        dtype: DTypeLike = None,
        name: str = "G",
        engine: str = "auto",
    ) -> None:
        check_kind(kind)
        dims = to_dims(dims)
        super().__init__(dims=dims, dimsd=(len(dims), *dims), dtype=dtype, name=name)
        self.sampling = sampling_per_axis(sampling, len(dims))
        self.kind = kind
        self.edge = bool(edge)
        check_stencil_fits(first_stencil(kind, self.edge, 3), dims, range(len(dims)), type(self).__name__)
        self._spec, self._ext_no = _ops.stencil_engine(first_stencil(kind, self.edge, 3), dims, range(len(dims)))
        self._scales = tuple(1.0 / s for s in self.sampling)
        self.engine = _ops.check_engine(engine, self._ext_no)

    # y[b, d, i] = (1/s_d) sum_k c_k x[b, i + k e_d]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x):
            return _ops.band_split(x, range(len(self.dims)), self._scales, self._spec)
        return gradient(x, self.sampling, self.kind, self.edge)

    # x[b, j] = sum_d (1/s_d) sum_k c_k y[b, d, j - k e_d]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y):
            return _ops.band_merge(y, range(len(self.dims)), self._scales, self._spec)
        return gradient_adjoint(y, self.sampling, self.kind, self.edge)

