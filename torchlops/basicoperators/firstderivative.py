"""First derivative by finite differences."""

from __future__ import annotations

import torch

from torchlops import _ops
from torchlops.functional.derivatives import (
    check_stencil_fits,
    first_derivative,
    first_derivative_adjoint,
    first_stencil,
)
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, real_float, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["FirstDerivative"]

KINDS = ("forward", "centered", "backward")


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def check_sampling(sampling: float, name: str = "sampling") -> float:
    s = real_float(sampling, name)
    if s == 0.0:
        raise ValueError(f"{name} must be non-zero, got {sampling}")
    return s


class FirstDerivative(LinearOperator):
    r"""First derivative along ``axis`` by finite differences.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    axis : :obj:`int`, optional
        Axis along which the derivative is taken.
    sampling : :obj:`float`, optional
        Sampling step :math:`\Delta x`.
    kind : :obj:`str`, optional
        ``forward``, ``centered`` or ``backward`` differences.
    edge : :obj:`bool`, optional
        ``centered`` only: use one-sided (and, for order 5, order-3) stencils on the
        edge samples instead of zeros.
    order : :obj:`int`, optional
        ``centered`` only: 3 or 5 point stencil (ignored by the other kinds).
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
    Along ``axis`` (the other axes are untouched), with zeros where a stencil would
    leave the model:

    .. math::
        y_i^{\rm forward} = \frac{x_{i+1} - x_i}{\Delta x}, \qquad
        y_i^{\rm backward} = \frac{x_i - x_{i-1}}{\Delta x}, \qquad
        y_i^{\rm centered,3} = \frac{x_{i+1} - x_{i-1}}{2\Delta x},

    .. math::
        y_i^{\rm centered,5} = \frac{x_{i-2} - 8 x_{i-1} + 8 x_{i+1} - x_{i+2}}{12\Delta x}.

    The forward stencil fills rows :math:`0 \dots n-2`, the backward one rows
    :math:`1 \dots n-1`, the centered ones all rows at least 1 (order 3) or 2 (order 5)
    samples from the edges; with ``edge=True`` the centered operator fills the edge rows
    with :math:`(x_1 - x_0)/\Delta x`, :math:`(x_2 - x_0)/2\Delta x` (order 5) and their
    mirrors. The adjoint is the transposed stencil, a scatter of the same taps.

    Cost: one write of :math:`\mathbf{y}` and one read of :math:`\mathbf{x}` per tap
    (2 taps for order 3 and the one-sided kinds, 4 for order 5); the adjoint the same.

    Examples
    --------
    >>> import torch, torchlops
    >>> D = torchlops.FirstDerivative(5, dtype=torch.float64)
    >>> D @ torch.arange(5.0, dtype=torch.float64) ** 2
    tensor([0., 2., 4., 6., 0.], dtype=torch.float64)
    >>> torchlops.FirstDerivative(5, kind="forward") @ torch.arange(5.0)
    tensor([1., 1., 1., 1., 0.])
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
        order: int = 3,
        dtype: DTypeLike = None,
        name: str = "F",
        engine: str = "auto",
    ) -> None:
        check_kind(kind)
        if kind == "centered" and order not in (3, 5):  # (the one-sided kinds ignore it, as in PyLops)
            raise ValueError(f"order must be 3 or 5, got {order!r}")
        dims = to_dims(dims)
        super().__init__(dims=dims, dimsd=dims, dtype=dtype, name=name)
        self.axis = normalize_axis(axis, len(dims))
        s = check_sampling(sampling)
        self.kind = kind
        self.edge = bool(edge)
        self.order = int(order) if kind == "centered" else order
        st = first_stencil(kind, self.edge, self.order)
        check_stencil_fits(st, dims, (self.axis,), "FirstDerivative")
        # (the sampling and the kernels' scale of the stencil, held in tuples: constants to
        # torch.compile(dynamic=True), where a float attribute read in a traced backward fails)
        self._samp, self._scales = (s,), (1.0 / s,)
        self._spec, self._ext_no = _ops.stencil_engine(st, dims, (self.axis,))
        self.engine = _ops.check_engine(engine, self._ext_no)

    # y[b, ..., i, ...] = (1/s) sum_k c_k x[b, ..., i+k, ...]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x):
            return _ops.band(x, (self.axis,), self._scales, self._spec, False)
        return first_derivative(x, self.axis, self._samp[0], self.kind, self.edge, self.order)

    # x[b, ..., j, ...] = (1/s) sum_k c_k y[b, ..., j-k, ...]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y):
            return _ops.band(y, (self.axis,), self._scales, self._spec, True)
        return first_derivative_adjoint(y, self.axis, self._samp[0], self.kind, self.edge, self.order)

    # (CGLS' A c and ||A c|| from one kernel: LinearOperator._flat_norm)
    def _apply_norm(self, x: torch.Tensor, adjoint: bool) -> tuple[torch.Tensor, torch.Tensor] | None:
        return _ops.band_with_norm(self.engine, self._ext_no, x, (self.axis,), self._scales, self._spec, adjoint)
