"""Linear regression."""

from __future__ import annotations

from torchlops.basicoperators.regression import Regression
from torchlops.utils.typing import DTypeLike, TensorLike

__all__ = ["LinearRegression"]


class LinearRegression(Regression):
    r"""Straight line :math:`y_k = x_0 + x_1 t_k` evaluated at ``taxis`` (a first-order
    :class:`Regression`).

    Parameters
    ----------
    taxis : :obj:`torch.Tensor`
        1-D tensor of abscissae.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype.
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    .. math::
        y_k = x_0 + x_1 t_k, \qquad x_0 = \sum_k y_k, \quad x_1 = \sum_k t_k y_k.

    Examples
    --------
    >>> import torch, torchlops
    >>> torchlops.LinearRegression(torch.tensor([0.0, 1.0])) @ torch.tensor([1.0, 2.0])
    tensor([1., 3.])
    """

    def __init__(self, taxis: TensorLike, dtype: DTypeLike = None, name: str = "L") -> None:
        super().__init__(taxis, order=1, dtype=dtype, name=name)
