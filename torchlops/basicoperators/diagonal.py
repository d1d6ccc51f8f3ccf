"""Diagonal operator."""

from __future__ import annotations

import torch

from torchlops.functional import diagonal, diagonal_adjoint
from torchlops.functional.basic import diagonal_vjp
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, operator_tensor, to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["Diagonal"]


class Diagonal(LinearOperator):
    r"""Element-wise multiplication by a diagonal ``diag``.

    Parameters
    ----------
    diag : :obj:`torch.Tensor`
        Diagonal. With ``dims`` given it holds ``dims[axis]`` values (of any shape, as PyLops),
        broadcast along ``axis``, or has the shape ``dims``; otherwise it has the model's shape.
        An :class:`torch.nn.Parameter` is learnt.
    dims : :obj:`int` or :obj:`tuple`, optional
        Model shape (defaults to ``diag.shape``).
    axis : :obj:`int`, optional
        Axis along which ``diag`` is applied when ``dims`` is given.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``diag``; complex ``diag`` makes a complex operator).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_i = d_i x_i, \qquad x_i = \overline{d_i} y_i.

    One read of x, one read of d, one write of y.

    Examples
    --------
    >>> import torch, torchlops
    >>> D = torchlops.Diagonal(torch.tensor([1.0, 2.0]), dims=(2, 3), axis=0)
    >>> D @ torch.ones(2, 3)
    tensor([[1., 1., 1.],
            [2., 2., 2.]])
    """

    _any_batch = True

    def __init__(
        self,
        diag: TensorLike,
        dims: InputDimsLike | None = None,
        axis: int = -1,
        dtype: DTypeLike = None,
        name: str = "D",
    ) -> None:
        d, dt = operator_tensor(diag, "diag", dtype)
        if dims is None:
            dims_t = tuple(d.shape)
            bshape = dims_t
        else:
            dims_t = to_dims(dims)
            ax = normalize_axis(axis, len(dims_t))
            if d.dim() == len(dims_t) and tuple(d.shape) == dims_t:
                bshape = dims_t
            elif d.numel() == dims_t[ax]:  # (any shape with dims[axis] elements, as PyLops)
                bshape = tuple(n if i == ax else 1 for i, n in enumerate(dims_t))
            else:
                raise ValueError(
                    f"diag must have {dims_t[ax]} elements (dims[{axis}]) or shape {dims_t}, "
                    f"got shape {tuple(d.shape)}"
                )
        super().__init__(dims=dims_t, dimsd=dims_t, dtype=dt, name=name)
        self.axis = axis
        self._bshape = bshape
        self._reshape_diag = bshape != tuple(d.shape)
        self.register_operator_tensor("diag", d)

    def _d(self) -> torch.Tensor:
        # the buffer (or parameter) without nn.Module.__getattr__: this runs on every application
        d = self._buffers.get("diag")
        if d is None:
            d = self.diag
        return d.reshape(self._bshape) if self._reshape_diag else d

    # y[b, i] = d[i] x[b, i]
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return diagonal(x, self._d())

    # x[b, i] = conj(d[i]) y[b, i]
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return diagonal_adjoint(y, self._d())

    # dL/dd = sum g conj(x)   (an explicit gradient: torch.compile traces it in one graph)
    def _tensor_vjp(self, adjoint: bool, x: torch.Tensor, tensors: tuple, g: torch.Tensor, needs: tuple) -> list:
        """Gradient of the diagonal for one application (``x`` its input, ``g`` the output gradient)."""
        return [diagonal_vjp(tensors[0], x, g, self._bshape, adjoint) if needs[0] else None]

    def matrix(self) -> torch.Tensor:
        """Dense diagonal matrix."""
        return torch.diag(self._d().expand(self._dims).reshape(-1).detach())
