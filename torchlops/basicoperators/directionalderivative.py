"""First and second directional derivatives."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from torchlops import _ops
from torchlops.basicoperators.firstderivative import check_kind
from torchlops.basicoperators.gradient import sampling_per_axis
from torchlops.functional.basic import grad_like
from torchlops.functional.derivatives import (
    check_stencil_fits,
    first_directional_derivative,
    first_directional_derivative_adjoint,
    first_stencil,
    gradient,
    second_directional_derivative,
    second_directional_derivative_adjoint,
)
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import operator_tensor, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["FirstDirectionalDerivative", "SecondDirectionalDerivative"]


def _direction(v: TensorLike, dims: tuple[int, ...], dtype: DTypeLike) -> tuple[torch.Tensor, torch.dtype]:
    t, dt = operator_tensor(v, "v", dtype)
    nd = len(dims)
    # (as PyLops: a 1-D v is one direction, any other holds nd x prod(dims) values, one direction
    # per point in the layout (nd, *dims), e.g. (nd, prod(dims)))
    if not (tuple(t.shape) == (nd,) or (t.dim() > 1 and t.numel() == nd * math.prod(dims))):
        raise ValueError(
            f"v must have shape ({nd},) (one direction) or {(nd, *dims)} (one per point, or any shape of "
            f"two or more dimensions holding {nd * math.prod(dims)} values in that order), got {tuple(t.shape)}"
        )
    return t, dt


class _Directional(LinearOperator):
    def __init__(
        self,
        dims: InputDimsLike,
        v: TensorLike,
        sampling: float | Sequence[float],
        edge: bool,
        kind: str,
        dtype: DTypeLike,
        name: str,
        engine: str,
    ) -> None:
        check_kind(kind)
        dims = to_dims(dims)
        vt, dt = _direction(v, dims, dtype)
        super().__init__(dims=dims, dimsd=dims, dtype=dt, name=name)
        self.sampling = sampling_per_axis(sampling, len(dims))
        self.kind = kind
        self.edge = bool(edge)
        self._vshape = (len(dims),) + (1,) * len(dims) if vt.dim() == 1 else (len(dims), *dims)
        check_stencil_fits(first_stencil(kind, self.edge, 3), dims, range(len(dims)), type(self).__name__)
        self._spec, self._ext_no = _ops.stencil_engine(first_stencil(kind, self.edge, 3), dims, range(len(dims)))
        self._scales = tuple(1.0 / s for s in self.sampling)
        self.engine = _ops.check_engine(engine, self._ext_no)
        self.register_operator_tensor("v", vt)


    def _weights(self, x: torch.Tensor) -> torch.Tensor:
        """``v`` as one field per axis, ``(ndim, *dims)``, in ``x``'s dtype (for the kernels)."""
        return self.v.reshape(self._vshape).to(x.dtype).expand(len(self.dims), *self.dims)

    # D_v x = sum_d v_d (1/s_d) S_d x   (one fused kernel pass)
    def _dv(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        return _ops.band(x, range(len(self.dims)), self._scales, self._spec, adjoint, self._weights(x))


class FirstDirectionalDerivative(_Directional):
    r"""First directional derivative: the gradient projected on a direction ``v``.

    Parameters
    ----------
    dims : :obj:`tuple`
        Model shape.
    v : :obj:`torch.Tensor`
        One direction, shape ``(ndim,)``, or one per point, shape ``(ndim, *dims)``
        (a :class:`torch.nn.Parameter` is learnt).
    sampling : :obj:`float` or :obj:`tuple`, optional
        Sampling step, one for all axes or one per axis.
    edge : :obj:`bool`, optional
        Edge rows of the ``centered`` stencil (see :class:`FirstDerivative`).
    kind : :obj:`str`, optional
        ``forward``, ``centered`` or ``backward`` differences.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``v``).
    name : :obj:`str`, optional
        Name.
    engine : :obj:`str`, optional
        ``"auto"`` (the compiled kernels of ``torchlops._C`` when built and applicable,
        else pure torch), ``"torch"``, or ``"ext"`` (the kernels; ``ValueError`` when they
        are not built or cannot compute this operator).

    Notes
    -----
    With :math:`D_d` the first derivative along axis :math:`d` (:class:`Gradient`):

    .. math::
        y_{\mathbf{i}} = \sum_d v_{d,\mathbf{i}} (D_d \mathbf{x})_{\mathbf{i}}, \qquad
        \mathbf{x} = \sum_d D_d^H \left(\overline{\mathbf{v}_d} \odot \mathbf{y}\right).

    Cost: the gradient (one write of ``ndim`` components, two reads of :math:`\mathbf{x}`
    per axis), then one read of it and of :math:`\mathbf{v}` and one write of
    :math:`\mathbf{y}`; the adjoint the same passes in reverse.

    Examples
    --------
    >>> import torch, torchlops
    >>> D = torchlops.FirstDirectionalDerivative((4, 5), v=torch.tensor([0.0, 1.0]), kind="forward")
    >>> D @ torch.arange(20.0).reshape(4, 5)
    tensor([[1., 1., 1., 1., 0.],
            [1., 1., 1., 1., 0.],
            [1., 1., 1., 1., 0.],
            [1., 1., 1., 1., 0.]])
    """

    def __init__(
        self,
        dims: InputDimsLike,
        v: TensorLike,
        sampling: float | Sequence[float] = 1,
        edge: bool = False,
        kind: str = "centered",
        dtype: DTypeLike = None,
        name: str = "F",
        engine: str = "auto",
    ) -> None:
        super().__init__(dims, v, sampling, edge, kind, dtype, name, engine)

    # y[b, i] = sum_d v[d, i] (D_d x)[b, i]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x, self.v):
            return self._dv(x, False)
        v = self.v.reshape(self._vshape).to(x.dtype)
        return first_directional_derivative(x, v, self.sampling, self.kind, self.edge)

    # x[b, j] = sum_d D_d^H (conj(v[d]) y)[b, j]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y, self.v):
            return self._dv(y, True)
        v = self.v.reshape(self._vshape).to(y.dtype)
        return first_directional_derivative_adjoint(y, v, self.sampling, self.kind, self.edge)


    # dL/dv[d] = sum g conj(D_d x)   (adjoint: sum x conj(D_d g)); summed where v broadcasts
    def _tensor_vjp(self, adjoint: bool, x: torch.Tensor, tensors: tuple, g: torch.Tensor, needs: tuple) -> list:
        """Gradient of the direction ``v`` for one application (``x`` its input, ``g`` the
        output gradient); explicit, so ``torch.compile`` traces it."""
        if not needs[0]:
            return [None]
        v = tensors[0]
        a, b = (x, g) if adjoint else (g, x)
        p = a.unsqueeze(1) * gradient(b, self.sampling, self.kind, self.edge).conj()  # (B, ndim, *dims)
        return [grad_like(v, p.sum_to_size(self._vshape))]


class SecondDirectionalDerivative(_Directional):
    r"""Second directional derivative :math:`-D_\mathbf{v}^H D_\mathbf{v}` (PyLops' definition).

    Parameters
    ----------
    dims : :obj:`tuple`
        Model shape.
    v : :obj:`torch.Tensor`
        One direction, shape ``(ndim,)``, or one per point, shape ``(ndim, *dims)``.
    sampling : :obj:`float` or :obj:`tuple`, optional
        Sampling step, one for all axes or one per axis.
    edge : :obj:`bool`, optional
        Edge rows of the ``centered`` stencil.
    kind : :obj:`str`, optional
        ``forward``, ``centered`` or ``backward`` differences of the first derivative.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``v``).
    name : :obj:`str`, optional
        Name.
    engine : :obj:`str`, optional
        ``"auto"`` (the compiled kernels of ``torchlops._C`` when built and applicable,
        else pure torch), ``"torch"``, or ``"ext"`` (the kernels; ``ValueError`` when they
        are not built or cannot compute this operator).

    Notes
    -----
    With :math:`D_\mathbf{v}` the :class:`FirstDirectionalDerivative`,

    .. math::
        \mathbf{y} = -D_\mathbf{v}^H D_\mathbf{v} \mathbf{x},

    a self-adjoint operator (forward and adjoint are the same formula). Cost: one
    first directional derivative and one of its adjoints.

    Examples
    --------
    >>> import torch, torchlops
    >>> D2 = torchlops.SecondDirectionalDerivative((3, 5), v=torch.tensor([0.0, 1.0]), dtype=torch.float64)
    >>> x = torch.arange(15.0, dtype=torch.float64).reshape(3, 5) ** 2
    >>> torch.allclose(D2 @ x, D2.H @ x)
    True
    """

    def __init__(
        self,
        dims: InputDimsLike,
        v: TensorLike,
        sampling: float | Sequence[float] = 1,
        edge: bool = False,
        kind: str = "centered",
        dtype: DTypeLike = None,
        name: str = "S",
        engine: str = "auto",
    ) -> None:
        super().__init__(dims, v, sampling, edge, kind, dtype, name, engine)

    # y[b, i] = -(D_v^H D_v x)[b, i]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, x, self.v):
            return torch.neg(self._dv(self._dv(x, False), True))
        v = self.v.reshape(self._vshape).to(x.dtype)
        return second_directional_derivative(x, v, self.sampling, self.kind, self.edge)

    # x[b, j] = -(D_v^H D_v y)[b, j]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        if _ops.use_ext(self.engine, self._ext_no, y, self.v):
            return torch.neg(self._dv(self._dv(y, False), True))
        v = self.v.reshape(self._vshape).to(y.dtype)
        return second_directional_derivative_adjoint(y, v, self.sampling, self.kind, self.edge)

    # L = Re<g, -D_v^H D_v x> = -Re<D_v g, D_v x>:
    # dL/dv[d] = -(D_v g) conj(D_d x) - (D_v x) conj(D_d g)   (the same for the adjoint)
    def _tensor_vjp(self, adjoint: bool, x: torch.Tensor, tensors: tuple, g: torch.Tensor, needs: tuple) -> list:
        """Gradient of the direction ``v`` for one application; explicit, so ``torch.compile``
        traces it."""
        if not needs[0]:
            return [None]
        v = tensors[0]
        dt = torch.promote_types(x.dtype, g.dtype)
        vv = v.reshape(self._vshape).to(dt)
        gx = gradient(x.to(dt), self.sampling, self.kind, self.edge)  # (B, ndim, *dims)
        gg = gradient(g.to(dt), self.sampling, self.kind, self.edge)
        u = (vv * gx).sum(1, keepdim=True)  # D_v x
        w = (vv * gg).sum(1, keepdim=True)  # D_v g
        p = -(w * gx.conj() + u * gg.conj())
        return [grad_like(v, p.sum_to_size(self._vshape))]
