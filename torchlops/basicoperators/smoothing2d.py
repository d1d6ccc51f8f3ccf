"""Boxcar smoothing along two axes."""

from __future__ import annotations

from collections.abc import Sequence

from torchlops.basicoperators.smoothingnd import SmoothingND
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["Smoothing2D"]


class Smoothing2D(SmoothingND):
    r"""Moving average over a rectangle of ``nsmooth[0] x nsmooth[1]`` samples on ``axes``.

    Parameters
    ----------
    nsmooth : :obj:`tuple`
        Boxcar lengths along the two axes (an even length is increased by one).
    dims : :obj:`tuple`
        Model shape (at least two dimensions).
    axes : :obj:`tuple`, optional
        The two axes to smooth.
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
    When ``axes`` covers every model axis, ``nsmooth[k]`` applies to model axis ``k``
    whatever the order of ``axes`` (PyLops' convention); otherwise to ``axes[k]``.

    With odd lengths :math:`L_k = 2h_k + 1` and zeros outside the model,

    .. math::
        y_{i,j} = \frac{1}{L_0 L_1} \sum_{l=-h_0}^{h_0} \sum_{m=-h_1}^{h_1} x_{i+l, j+m},

    computed as a 1-D boxcar along each axis in turn (the 2-D boxcar is their product);
    self-adjoint. Cost: per axis one write of an output and :math:`L_k` reads (one slice
    add per tap).

    Examples
    --------
    >>> import torch, torchlops
    >>> S = torchlops.Smoothing2D((3, 3), (3, 3))
    >>> x = torch.zeros(3, 3)
    >>> x[1, 1] = 9.0
    >>> S @ x
    tensor([[1., 1., 1.],
            [1., 1., 1.],
            [1., 1., 1.]])
    """

    def __init__(
        self,
        nsmooth: Sequence[int],
        dims: InputDimsLike,
        axes: Sequence[int] = (-2, -1),
        dtype: DTypeLike = None,
        name: str = "S",
        engine: str = "auto",
    ) -> None:
        nsmooth, axes = tuple(nsmooth), tuple(axes)
        if len(nsmooth) != 2 or len(axes) != 2:
            raise ValueError(f"nsmooth and axes must have two entries, got {nsmooth} and {axes}")
        super().__init__(nsmooth, dims, axes=axes, dtype=dtype, name=name, engine=engine)
