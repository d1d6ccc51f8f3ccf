"""Orthonormal Discrete Cosine Transform (types 1-4) over any axes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchlops.functional.fourier import dct, dct_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import normalize_axis, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["DCT"]


class DCT(LinearOperator):
    r"""Orthonormal Discrete Cosine Transform of ``type`` 1, 2, 3 or 4 over ``axes``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model (and data) shape.
    type : :obj:`int`, optional
        DCT type (1, 2, 3 or 4).
    axes : :obj:`int` or :obj:`tuple`, optional
        Axes to transform (default: all of them).
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        Operator dtype (``float64`` by default as in PyLops; complex models have their real
        and imaginary parts transformed).
    workers : :obj:`int`, optional
        Threads of :func:`scipy.fft.dctn` where it computes the transform (the CPU; default:
        torch's number of threads).
    name : :obj:`str`, optional
        Name.

    Notes
    -----
    The transforms of :func:`scipy.fft.dctn` with ``norm="ortho"``; along one axis of
    length :math:`N`, e.g. for type 2,

    .. math::
        y_k = \sqrt{\tfrac{2 - \delta_{k0}}{N}} \sum_{n=0}^{N-1} x_n
        \cos\left(\frac{\pi k (2n+1)}{2N}\right),

    types 1 and 4 use :math:`\cos(\pi kn/(N-1))` (end points weighted by
    :math:`1/\sqrt{2}`) and :math:`\cos(\pi (2k+1)(2n+1)/(4N))`, and type 3 is the
    transpose of type 2. All are orthogonal, so the adjoint is the inverse. On the CPU the
    transform is :func:`scipy.fft.dctn`'s (as PyLops'), except under ``torch.compile`` or a
    torch.func transform; elsewhere (GPUs) each axis costs one real FFT of length :math:`N`
    for types 2 and 3 (Makhoul's reordering), one complex FFT of length :math:`N/2` for type 4
    (:math:`2N` for odd :math:`N`) and one real FFT of length :math:`2(N-1)` for type 1.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.dct import DCT
    >>> C = DCT(4)
    >>> (C @ torch.ones(4, dtype=torch.float64)).round(decimals=12) + 0.0
    tensor([2., 0., 0., 0.], dtype=torch.float64)
    >>> torch.allclose(C.H @ (C @ torch.arange(4.0, dtype=torch.float64)), torch.arange(4.0, dtype=torch.float64))
    True
    """

    def __init__(
        self,
        dims: InputDimsLike,
        type: int = 2,
        axes: int | Sequence[int] | None = None,
        dtype: DTypeLike = "float64",
        workers: int | None = None,
        name: str = "C",
    ) -> None:
        dims = to_dims(dims)
        if isinstance(type, bool) or not isinstance(type, (int, np.integer)):
            raise TypeError(f"type must be an int (1, 2, 3 or 4), got {type!r}")
        if not 1 <= type <= 4:
            raise ValueError(f"Wrong `type`, it can only be 1, 2, 3 or 4, got {type}")
        if axes is None:
            axes_t = tuple(range(len(dims)))
        else:
            axes_t = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
            axes_t = tuple(normalize_axis(a, len(dims), "axes") for a in axes_t)
            if len(set(axes_t)) != len(axes_t):
                raise ValueError(f"axes must be unique, got {axes} (axes {axes_t} of dims {dims})")
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer))
                                    or workers == 0):
            raise ValueError(f"workers must be None or a non-zero int (scipy.fft's: negative counts back from "
                             f"the number of CPUs), got {workers!r}")
        if type == 1 and any(dims[a] < 2 for a in axes_t):
            raise ValueError(f"the type 1 DCT needs at least 2 samples along every axis, got dims {dims}")
        super().__init__(dims=dims, dimsd=dims, dtype=to_torch_dtype(dtype, torch.float64), name=name)
        self.type = int(type)
        self.axes = axes_t
        self.workers = None if workers is None else int(workers)

    # y[b, ..., k, ...] = dout[k] sum_j 2 cos(theta(k, j)) din[j] x[b, ..., j, ...]   (each axis)
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return dct(x, self.type, self.axes, self.workers)

    # x[b, ..., j, ...] = din[j] sum_k 2 cos(theta(k, j)) dout[k] y[b, ..., k, ...]   (each axis)
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return dct_adjoint(y, self.type, self.axes, self.workers)
