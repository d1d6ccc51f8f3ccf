"""2-dimensional convolution along two axes."""

from __future__ import annotations

from collections.abc import Sequence

from torchlops.signalprocessing.convolvend import ConvolveND
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["Convolve2D"]


class Convolve2D(ConvolveND):
    r"""2D convolution with a compact filter along two ``axes``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model (and data) shape.
    h : :obj:`torch.Tensor`
        2-dimensional filter (with ``batched_filter``: ``(Bh, nh0, nh1)``). A
        :class:`torch.nn.Parameter` is learnt.
    offset : :obj:`tuple`, optional
        Index of the centre of the filter along its two dimensions (fractions truncated, as PyLops).
    axes : :obj:`tuple`, optional
        The two model axes to convolve along.
    method : :obj:`str`, optional
        ``"fft"``, ``"direct"``, ``"auto"``/``None`` (the default: by filter size) or
        ``"overlapadd"`` (block FFTs); see :class:`ConvolveND`. PyLops defaults to ``"fft"``;
        all methods give the same result, the automatic choice the faster one.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (defaults to that of ``h``).
    name : :obj:`str`, optional
        Name.
    batched_filter : :obj:`bool`, optional
        One filter per sample (see :class:`ConvolveND`).
    engine : :obj:`str`, optional
        ``"auto"`` (the compiled kernels of ``torchlops._C`` when built and applicable,
        else pure torch), ``"torch"``, or ``"ext"`` (the kernels; ``ValueError`` when they
        are not built or cannot compute this operator).

    Notes
    -----
    .. math::
        y[i_0, i_1] = \sum_{j_0, j_1} h[j_0, j_1]\, x[i_0 + o_0 - j_0, i_1 + o_1 - j_1],
        \qquad
        x[m_0, m_1] = \sum_{j_0, j_1} \overline{h[j_0, j_1]}\, y[m_0 - o_0 + j_0, m_1 - o_1 + j_1]

    along ``axes`` (zeros outside); see :class:`ConvolveND` for the engines and costs.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.convolve2d import Convolve2D
    >>> C = Convolve2D((4, 5), torch.ones(3, 3, dtype=torch.float64), offset=(1, 1), method="direct")
    >>> C @ torch.ones(4, 5, dtype=torch.float64)
    tensor([[4., 6., 6., 6., 4.],
            [6., 9., 9., 9., 6.],
            [6., 9., 9., 9., 6.],
            [4., 6., 6., 6., 4.]], dtype=torch.float64)
    """

    def __init__(
        self,
        dims: InputDimsLike,
        h: TensorLike,
        offset: InputDimsLike = (0, 0),
        axes: Sequence[int] = (-2, -1),
        method: str | None = None,
        dtype: DTypeLike = None,
        name: str = "C",
        batched_filter: bool = False,
        engine: str = "auto",
    ) -> None:
        hd = getattr(h, "ndim", None)
        if hd is None:
            import numpy as np

            hd = np.ndim(h)
        if hd - int(bool(batched_filter)) != 2:
            raise ValueError(f"h must be 2-dimensional, got {hd - int(bool(batched_filter))} dimension(s)")
        if axes is None or len(tuple(axes)) != 2:
            raise ValueError(f"axes must hold two axes, got {axes!r}")
        super().__init__(dims, h, offset=offset, axes=axes, method=method, dtype=dtype,
                         batched_filter=batched_filter, name=name, engine=engine)
