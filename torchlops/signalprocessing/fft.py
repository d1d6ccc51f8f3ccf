"""One-dimensional Fast Fourier Transform along an axis."""

from __future__ import annotations

import numpy as np

from torchlops.signalprocessing.fftnd import _BaseFFTND, check_fft_engine
from torchlops.utils.checks import to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["FFT"]


class FFT(_BaseFFTND):
    r"""One-dimensional Fast Fourier Transform along ``axis``.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model shape.
    axis : :obj:`int`, optional
        Axis along which the FFT is computed.
    nfft : :obj:`int`, optional
        FFT length (default ``dims[axis]``): longer zero pads the model, shorter crops it
        (the adjoint then pads back with zeros, and a warning is raised).
    sampling : :obj:`float`, optional
        Sampling step :math:`\Delta t` (for the frequency axis ``f``).
    norm : :obj:`str`, optional
        ``"ortho"`` (unitary), ``"none"`` (no scaling on forward and adjoint) or ``"1/n"``
        (``1/nfft`` on forward and adjoint).
    real : :obj:`bool`, optional
        Real model: one-sided spectrum of ``nfft // 2 + 1`` bins whose non-DC, non-Nyquist
        bins are scaled by :math:`\sqrt{2}` so that the adjoint is exact. The operator is
        then R-linear (``clinear=False``, dot test in the real inner product) and its
        adjoint returns real tensors.
    ifftshift_before : :obj:`bool`, optional
        ``ifftshift`` the model along ``axis`` before the FFT (zero time in the middle).
    fftshift_after : :obj:`bool`, optional
        ``fftshift`` the spectrum along ``axis`` (zero frequency in the middle).
    engine : :obj:`str`, optional
        PyLops' engine name (numpy, fftw, scipy or mkl_fft; a misspelt one raises as there);
        torch.fft runs whatever it is.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        ``complex128`` by default; a real dtype makes the operator R-linear (the real
        part of the model is transformed) as in PyLops. ``Op.dtype`` is its complex
        counterpart.
    name : :obj:`str`, optional
        Name.
    **kwargs_fft
        PyLops' tuning arguments of its FFT engines (``workers``, ``overwrite_x``, ``plan``,
        ``threads``, ``planner_effort``, ``flags``, ``planning_timelimit``): accepted, without
        effect (torch.fft runs on torch's threads); any other keyword raises ``TypeError``.

    Attributes
    ----------
    f : :obj:`torch.Tensor`
        Frequency axis (float64; ``fftshift``-ed when ``fftshift_after``).

    Notes
    -----
    .. math::
        y_k = s \sum_{j=0}^{n-1} x_j e^{-2\pi i jk/n_{fft}}, \qquad
        x_j = s' \sum_{k=0}^{n_{fft}-1} y_k e^{+2\pi i jk/n_{fft}}, \quad j < n,

    with :math:`s = s' = 1/\sqrt{n_{fft}}` (``"ortho"``), :math:`1` (``"none"``) or
    :math:`1/n_{fft}` (``"1/n"``). With ``real=True`` the bins
    :math:`1 \le k \le (n_{fft}-1)/2` of the forward are multiplied by :math:`\sqrt{2}`
    and divided by it before the real inverse transform of the adjoint. One batched FFT
    per application (one pass over the data in and out).

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.fft import FFT
    >>> F = FFT(4, dtype=torch.complex128)
    >>> F @ torch.ones(4, dtype=torch.complex128)
    tensor([2.+0.j, 0.+0.j, 0.+0.j, 0.+0.j], dtype=torch.complex128)
    >>> Fr = FFT(6, nfft=8, real=True, sampling=0.5)
    >>> Fr.dimsd, Fr.clinear, Fr.f.tolist()
    ((5,), False, [0.0, 0.25, 0.5, 0.75, 1.0])
    """

    def __init__(
        self,
        dims: InputDimsLike,
        axis: int = -1,
        nfft: int | None = None,
        sampling: float = 1.0,
        norm: str = "ortho",
        real: bool = False,
        ifftshift_before: bool = False,
        fftshift_after: bool = False,
        engine: str | None = None,
        dtype: DTypeLike = "complex128",
        name: str = "F",
        **kwargs_fft: object,
    ) -> None:
        check_fft_engine(engine, "FFT", fftw=True, kwargs_fft=kwargs_fft)
        # (a sequence: its first entry, as PyLops)
        if isinstance(axis, (list, tuple, np.ndarray)):
            if len(axis) == 0:
                raise ValueError("FFT: axis must be an int (or a sequence whose first entry is one), got an empty one")
            axis = axis[0]
        if isinstance(nfft, (list, tuple, np.ndarray)):
            if len(nfft) == 0:
                raise ValueError("FFT: nfft must be an int or None (or a sequence whose first entry is one), "
                                 "got an empty one")
            nfft = nfft[0]
        if not isinstance(ifftshift_before, (bool, np.bool_)):
            raise TypeError(f"ifftshift_before must be a bool, got {type(ifftshift_before).__name__}")
        if not isinstance(fftshift_after, (bool, np.bool_)):
            raise TypeError(f"fftshift_after must be a bool, got {type(fftshift_after).__name__}")
        # (the N-d base names its arguments axes / nffts: check these under FFT's names first)
        nd = len(to_dims(dims))
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -nd <= axis < nd:
            raise ValueError(f"axis={axis!r} is out of range for a model of {nd} dimension(s)")
        if nfft is not None and (isinstance(nfft, bool) or not isinstance(nfft, (int, np.integer)) or nfft < 1):
            raise ValueError(f"nfft must be a positive int, got {nfft!r}")
        super().__init__(dims, axis, nfft, sampling, norm, real, ifftshift_before, fftshift_after, dtype, name)
        self.axis = self.axes[0]
        self.nfft = self.nffts[0]
        self.f = self.fs[0]
        self.ifftshift_before = bool(ifftshift_before)
        self.fftshift_after = bool(fftshift_after)
