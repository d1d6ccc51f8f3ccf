"""Two-dimensional Fast Fourier Transform along a pair of axes."""

from __future__ import annotations

from collections.abc import Sequence

from torchlops.signalprocessing.fftnd import _BaseFFTND, check_fft_engine
from torchlops.utils.checks import to_dims
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["FFT2D"]


class FFT2D(_BaseFFTND):
    r"""Two-dimensional Fast Fourier Transform along ``axes``.

    Parameters
    ----------
    dims : :obj:`tuple`
        Model shape (at least two dimensions).
    axes : :obj:`tuple`, optional
        The two axes along which the FFT is computed.
    nffts : :obj:`int` or :obj:`tuple`, optional
        FFT lengths (one value for both axes, or a pair whose ``None`` entries mean
        ``dims[axis]``): longer zero pads, shorter crops (the adjoint pads back).
    sampling : :obj:`float` or :obj:`tuple`, optional
        Sampling steps (for the frequency axes ``f1``, ``f2``).
    norm : :obj:`str`, optional
        ``"ortho"``, ``"none"`` or ``"1/n"`` (with ``N_F = nffts[0] * nffts[1]``).
    real : :obj:`bool`, optional
        Real model: one-sided transform along ``axes[-1]`` with PyLops' :math:`\sqrt{2}`
        scaling (R-linear operator, real adjoint).
    ifftshift_before, fftshift_after : :obj:`bool` or :obj:`tuple`, optional
        Shifts of the model / spectrum, per axis.
    engine : :obj:`str`, optional
        PyLops' engine name (numpy, scipy or mkl_fft; a misspelt one raises as there); torch.fft
        runs whatever it is.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        ``complex128`` by default (a real dtype makes the operator R-linear).
    name : :obj:`str`, optional
        Name.
    **kwargs_fft
        PyLops' tuning arguments of its FFT engines (``workers``, ``overwrite_x``, ``plan``,
        ``threads``, ``planner_effort``, ``flags``, ``planning_timelimit``): accepted, without
        effect (torch.fft runs on torch's threads); any other keyword raises ``TypeError``.

    Attributes
    ----------
    f1, f2 : :obj:`torch.Tensor`
        Frequency axes of ``axes[0]`` and ``axes[1]`` (float64).

    Notes
    -----
    .. math::
        y_{k_1 k_2} = s \sum_{j_1, j_2} x_{j_1 j_2}
        e^{-2\pi i (j_1 k_1 / n_1 + j_2 k_2 / n_2)}, \qquad
        x_{j_1 j_2} = s' \sum_{k_1, k_2} y_{k_1 k_2}
        e^{+2\pi i (j_1 k_1 / n_1 + j_2 k_2 / n_2)},

    the scalings as in :class:`~torchlops.signalprocessing.fft.FFT` with
    :math:`N_F = n_1 n_2`. One batched 2-D FFT per application.

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.fft2d import FFT2D
    >>> F = FFT2D((3, 5), nffts=(4, 6), real=True)
    >>> F.dimsd, F.f2.tolist()
    ((4, 4), [0.0, 0.16666666666666666, 0.3333333333333333, 0.5])
    >>> x = torch.randn(3, 5, dtype=torch.float64)
    >>> torch.allclose(F.H @ (F @ x), x)
    True
    """

    def __init__(
        self,
        dims: InputDimsLike,
        axes: Sequence[int] = (-2, -1),
        nffts: int | Sequence[int | None] | None = None,
        sampling: float | Sequence[float] = 1.0,
        norm: str = "ortho",
        real: bool = False,
        ifftshift_before: bool | Sequence[bool] = False,
        fftshift_after: bool | Sequence[bool] = False,
        engine: str | None = None,
        dtype: DTypeLike = "complex128",
        name: str = "F",
        **kwargs_fft: object,
    ) -> None:
        check_fft_engine(engine, "FFT2D", kwargs_fft=kwargs_fft)
        nd = len(to_dims(dims))
        if nd < 2:
            raise ValueError(f"FFT2D requires at least two input dimensions, got dims with {nd}")
        naxes = 1 if isinstance(axes, int) else len(axes)
        if naxes != 2:
            raise ValueError(f"FFT2D must be applied along exactly two dimensions, got axes={axes!r}")
        super().__init__(dims, axes, nffts, sampling, norm, real, ifftshift_before, fftshift_after, dtype, name)
        self.f1, self.f2 = self.fs
        self.ifftshift_before = self._pre
        self.fftshift_after = self._post
