"""Laplacian: weighted sum of second derivatives."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops import _ops
from torchlops.basicoperators.firstderivative import check_kind, check_sampling
from torchlops.functional.derivatives import check_stencil_fits, laplacian, laplacian_adjoint, second_stencil
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Laplacian"]


class Laplacian(LinearOperator):
    r"""Weighted sum of second derivatives along ``axes``.

    Parameters
    ----------
    dims : :obj:`tuple`
        Model shape.
    axes : :obj:`tuple`, optional
        Axes along which the second derivatives are taken.
    weights : :obj:`tuple`, optional
        Weight of each second derivative.
    sampling : :obj:`tuple`, optional
        Sampling step along each axis.
    edge : :obj:`bool`, optional
        Edge rows of the ``centered`` stencil (see :class:`SecondDerivative`).
    kind : :obj:`str`, optional
        ``forward``, ``centered`` or ``backward`` stencil.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (complex weights make a complex operator).
    name : :obj:`str`, optional
        Name.
    engine : :obj:`str`, optional
        ``"auto"`` (the compiled kernels of ``torchlops._C`` when built and applicable,
        else pure torch), ``"torch"``, or ``"ext"`` (the kernels; ``ValueError`` when they
        are not built or cannot compute this operator).

    Notes
    -----
    .. math::
        \mathbf{y} = \sum_d w_d \, \frac{\partial^2 \mathbf{x}}{\partial x_d^2}
        \approx \sum_d \frac{w_d}{\Delta x_d^2}
        \left(x_{\mathbf{i} - \mathbf{e}_d} - 2 x_{\mathbf{i}} + x_{\mathbf{i} + \mathbf{e}_d}\right)

    with the second-derivative stencil and edge rows of :class:`SecondDerivative` along
    each axis. All axes accumulate into one output: one write of :math:`\mathbf{y}` plus,
    per axis, three reads of :math:`\mathbf{x}` and (after the first axis) one
    read-modify-write of :math:`\mathbf{y}` per tap. The adjoint scatters the same taps
    with :math:`\overline{w_d}`.

    Examples
    --------
    >>> import torch, torchlops
    >>> L = torchlops.Laplacian((5, 5), dtype=torch.float64)
    >>> i, j = torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij")
    >>> (L @ (i**2 + j**2).double())[1:-1, 1:-1]
    tensor([[4., 4., 4.],
            [4., 4., 4.],
            [4., 4., 4.]], dtype=torch.float64)
    """

    def __init__(
        self,
        dims: InputDimsLike,
        axes: Sequence[int] = (-2, -1),
        weights: Sequence[complex] = (1, 1),
        sampling: Sequence[float] = (1, 1),
        edge: bool = False,
        kind: str = "centered",
        dtype: DTypeLike = None,
        name: str = "L",
        engine: str = "auto",
    ) -> None:
        check_kind(kind)
        dims = to_dims(dims)
        axes, weights, sampling = tuple(axes), tuple(weights), tuple(sampling)
        if not axes:
            raise ValueError("Laplacian: axes must name at least one axis, got ()")
        if not len(axes) == len(weights) == len(sampling):
            raise ValueError(
                f"axes, weights and sampling must have the same length, got {len(axes)}, "
                f"{len(weights)} and {len(sampling)}"
            )
        ws = []
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float, complex)) and not hasattr(w, "__complex__"):
                raise TypeError(f"weights must hold numbers, got {type(w).__name__}")
            wc = complex(w)
            ws.append(wc if wc.imag != 0 else wc.real)
        if dtype is None and any(isinstance(w, complex) for w in ws):
            dtype = torch.complex128 if torch.get_default_dtype() == torch.float64 else torch.complex64
        super().__init__(dims=dims, dimsd=dims, dtype=dtype, name=name)
        if any(isinstance(w, complex) for w in ws) and not self.dtype.is_complex:
            raise ValueError(f"complex weights need a complex dtype, got {self.dtype}")
        self.axes = tuple(normalize_axis(a, len(dims), "axes") for a in axes)
        self.weights = tuple(ws)
        self.sampling = tuple(check_sampling(s) for s in sampling)
        self.kind = kind
        self.edge = bool(edge)
        st = second_stencil(kind, self.edge)
        self._scales = tuple(w / s**2 for w, s in zip(self.weights, self.sampling))
        check_stencil_fits(st, dims, self.axes, "Laplacian")
        self._spec, self._ext_no = _ops.stencil_engine(st, dims, self.axes)
        if any(isinstance(c, complex) for c in self._scales):
            self._ext_no = "complex weights"
        self.engine = _ops.check_engine(engine, self._ext_no)

    # y[b, i] = sum_d (w_d / s_d^2) sum_k c_k x[b, i + k e_d]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x):
            return _ops.band(x, self.axes, self._scales, self._spec, False)
        return laplacian(x, self.axes, self.weights, self.sampling, self.kind, self.edge)

    # x[b, j] = sum_d (conj(w_d) / s_d^2) sum_k c_k y[b, j - k e_d]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y):
            return _ops.band(y, self.axes, self._scales, self._spec, True)
        return laplacian_adjoint(y, self.axes, self.weights, self.sampling, self.kind, self.edge)

    # (CGLS' A c and ||A c|| from one kernel: LinearOperator._flat_norm)
    def _apply_norm(self, x: torch.Tensor, adjoint: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        return _ops.band_with_norm(self.engine, self._ext_no, x, self.axes, self._scales, self._spec, adjoint)

