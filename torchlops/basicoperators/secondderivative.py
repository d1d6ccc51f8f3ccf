"""Second derivative by finite differences."""

from __future__ import annotations

import torch

from torchlops import _ops
from torchlops.basicoperators.firstderivative import check_kind, check_sampling
from torchlops.functional.derivatives import (
    check_stencil_fits,
    second_derivative,
    second_derivative_adjoint,
    second_stencil,
)
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["SecondDerivative"]


class SecondDerivative(LinearOperator):
    r"""Second derivative along ``axis`` by a three-point stencil.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    axis : :obj:`int`, optional
        Axis along which the derivative is taken.
    sampling : :obj:`float`, optional
        Sampling step :math:`\Delta x`.
    kind : :obj:`str`, optional
        ``forward``, ``centered`` or ``backward`` stencil.
    edge : :obj:`bool`, optional
        ``centered`` only: fill the two edge rows with the nearest interior stencil.
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
    .. math::
        y_i = \frac{x_{i+k-1} - 2 x_{i+k} + x_{i+k+1}}{\Delta x^2}

    with :math:`k = 1` (``forward``, rows :math:`0 \dots n-3`), :math:`k = 0`
    (``centered``, rows :math:`1 \dots n-2`) or :math:`k = -1` (``backward``, rows
    :math:`2 \dots n-1`); the other rows are zero, except with ``edge=True`` (centered)
    where :math:`y_0 = (x_0 - 2x_1 + x_2)/\Delta x^2` and its mirror at :math:`n-1`.
    The adjoint scatters the same taps.

    Cost: one write of :math:`\mathbf{y}` and three reads of :math:`\mathbf{x}` (one per
    tap); the adjoint the same.

    Examples
    --------
    >>> import torch, torchlops
    >>> D2 = torchlops.SecondDerivative(5)
    >>> D2 @ torch.arange(5.0) ** 2
    tensor([0., 2., 2., 2., 0.])
    """

    #: the sampling step (fixed at construction: build a new operator for another one)
    sampling = property(lambda self: self._samp[0])

    def __init__(
        self,
        dims: InputDimsLike,
        axis: int = -1,
        sampling: float = 1.0,
        kind: str = "centered",
        edge: bool = False,
        dtype: DTypeLike = None,
        name: str = "S",
        engine: str = "auto",
    ) -> None:
        check_kind(kind)
        dims = to_dims(dims)
        super().__init__(dims=dims, dimsd=dims, dtype=dtype, name=name)
        self.axis = normalize_axis(axis, len(dims))
        s = check_sampling(sampling)
        self.kind = kind
        self.edge = bool(edge)
        st = second_stencil(kind, self.edge)
        check_stencil_fits(st, dims, (self.axis,), "SecondDerivative")
        # (the sampling and the kernels' scale of the stencil, held in tuples: constants to
        # torch.compile(dynamic=True), where a float attribute read in a traced backward fails)
        self._samp, self._scales = (s,), (1.0 / s**2,)
        self._spec, self._ext_no = _ops.stencil_engine(st, dims, (self.axis,))
        self.engine = _ops.check_engine(engine, self._ext_no)

    # y[b, ..., i, ...] = (1/s^2) sum_k c_k x[b, ..., i+k, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x):
            return _ops.band(x, (self.axis,), self._scales, self._spec, False)
        return second_derivative(x, self.axis, self._samp[0], self.kind, self.edge)

    # x[b, ..., j, ...] = (1/s^2) sum_k c_k y[b, ..., j-k, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y):
            return _ops.band(y, (self.axis,), self._scales, self._spec, True)
        return second_derivative_adjoint(y, self.axis, self._samp[0], self.kind, self.edge)

    # (CGLS' A c and ||A c|| from one kernel: LinearOperator._flat_norm)
    def _apply_norm(self, x: torch.Tensor, adjoint: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        return _ops.band_with_norm(self.engine, self._ext_no, x, (self.axis,), self._scales, self._spec, adjoint)
