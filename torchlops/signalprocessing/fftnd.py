"""N-dimensional Fast Fourier Transform (and the machinery shared with FFT and FFT2D)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from torchlops.functional.fourier import fftnd, fftnd_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import complex_dtype, normalize_axis, prod, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["FFTND"]

_VALID_NORMS = ("ortho", "none", "1/n")


def _per_axis(value, naxes: int, name: str, kind: type | tuple[type, ...]) -> tuple:
    """A scalar repeated ``naxes`` times, or a sequence checked for its element type."""
    if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 0:  # (a 0-d array: one value)
        value = value.item()
    if isinstance(value, (Sequence, np.ndarray, torch.Tensor)) and not isinstance(value, str):
        out = tuple(v.item() if isinstance(v, (np.generic, torch.Tensor)) else v for v in value)
    else:
        out = (value,) * naxes
    kinds = kind if isinstance(kind, tuple) else (kind,)
    label = "bool" if bool in kinds else ("int" if int in kinds and float not in kinds else "number")
    for v in out:
        if v is None:
            continue
        if (isinstance(v, (bool, np.bool_)) and bool not in kinds) or not isinstance(v, kinds):
            raise TypeError(f"{name} must hold {label} values, got {value!r}")
    return out


def check_norm(norm: str) -> str:
    """Normalise ``norm`` with PyLops' messages for numpy's names."""
    if not isinstance(norm, str):
        raise TypeError(f"norm must be a string, got {type(norm).__name__}")
    if norm == "backward":
        raise ValueError(
            'To use no scaling on the forward transform, use "none". Note that in this case, '
            "the adjoint transform will *not* have a 1/n scaling."
        )
    if norm == "forward":
        raise ValueError(
            'To use 1/n scaling on the forward transform, use "1/n". Note that in this case, '
            "the adjoint transform will *also* have a 1/n scaling."
        )
    n = norm.lower() if norm.lower() == "1/n" else norm
    if n not in _VALID_NORMS:
        raise ValueError(f"norm={norm!r} is not one of 'ortho', 'none' or '1/n'")
    return n


def _freqs(n: int, d: float, onesided: bool, shift: bool) -> torch.Tensor:
    f = torch.fft.rfftfreq(n, d=d, dtype=torch.float64) if onesided else torch.fft.fftfreq(n, d=d, dtype=torch.float64)
    return torch.fft.fftshift(f) if shift else f


#: PyLops' FFT engines (accepted, torch.fft runs): FFT and Shift take fftw too
FFT_ENGINES = ("numpy", "scipy", "mkl_fft")


#: PyLops' ``**kwargs_fft`` its engines take to tune their FFTs (scipy.fft's ``workers``,
#: ``overwrite_x``, ``plan``; pyFFTW's ``threads``, ``planner_effort``, ``flags``,
#: ``planning_timelimit``): accepted, without effect (torch.fft plans its own transforms, on
#: torch's threads)
FFT_TUNING_KWARGS = ("workers", "overwrite_x", "plan", "threads", "planner_effort", "flags", "planning_timelimit")


def check_fft_engine(engine: str | None, who: str, fftw: bool = False, kwargs_fft: dict | None = None) -> None:
    """PyLops' ``engine`` names (a misspelt one raises there too); torch.fft runs whatever it is.
    ``kwargs_fft``: only the tuning arguments of ``FFT_TUNING_KWARGS`` (anything else would change
    the transform PyLops computes, or is an argument torch.fft does not have)."""
    allowed = ("numpy", "fftw", "scipy", "mkl_fft") if fftw else FFT_ENGINES
    if engine is not None and engine not in allowed:
        raise ValueError(f"{who}: engine must be one of {', '.join(allowed)} (accepted as in PyLops; torch.fft "
                         f"runs), got {engine!r}")
    other = sorted(set(kwargs_fft or ()) - set(FFT_TUNING_KWARGS))
    if other:
        raise TypeError(f"{who}: unexpected keyword argument(s) {', '.join(map(repr, other))} (of PyLops' "
                        f"kwargs_fft only the engines' tuning arguments {', '.join(FFT_TUNING_KWARGS)} are "
                        "accepted, without effect)")


class _BaseFFTND(LinearOperator):
    """FFT over ``axes`` of a ``dims``-shaped model: argument checks, frequency axes, kernels."""

    _complex_by_definition = True
    _real_input_kernels = True

    def __init__(
        self,
        dims: InputDimsLike,
        axes: int | Sequence[int],
        nffts: int | Sequence[int | None] | None,
        sampling: float | Sequence[float],
        norm: str,
        real: bool,
        ifftshift_before: bool | Sequence[bool],
        fftshift_after: bool | Sequence[bool],
        dtype: DTypeLike,
        name: str,
    ) -> None:
        dims = to_dims(dims)
        axes_t = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
        axes_t = tuple(normalize_axis(a, len(dims), "axes") for a in axes_t)
        naxes = len(axes_t)
        if naxes == 0:
            raise ValueError("axes must name at least one axis, got none")
        if len(set(axes_t)) != naxes:
            # (PyLops warns and lets numpy transform the axis twice; torch's FFTs take distinct axes)
            raise ValueError(
                f"axes must be distinct, got {tuple(axes) if not isinstance(axes, (int, np.integer)) else axes} "
                "(to transform an axis twice, chain two operators)"
            )
        nffts_t = _per_axis(nffts, naxes, "nffts", (int, np.integer))
        samp = _per_axis(sampling, naxes, "sampling", (int, float, np.integer, np.floating))
        pre = _per_axis(ifftshift_before, naxes, "ifftshift_before", (bool, np.bool_))
        post = _per_axis(fftshift_after, naxes, "fftshift_after", (bool, np.bool_))
        lens = (len(nffts_t), len(samp), len(pre), len(post))
        if any(n != naxes for n in lens):
            raise ValueError(
                "axes, nffts, sampling, ifftshift_before and fftshift_after must have the same number "
                f"of elements, got {naxes}, {lens[0]}, {lens[1]}, {lens[2]} and {lens[3]}"
            )
        nffts_t = tuple(dims[a] if n is None else int(n) for a, n in zip(axes_t, nffts_t))
        if any(n < 1 for n in nffts_t):
            raise ValueError(f"nffts must be positive, got {nffts_t}")
        short = [a for a, n in zip(axes_t, nffts_t) if n < dims[a]]
        if short:
            warnings.warn(
                f"nfft smaller than dims along axes {short}: the model is cropped before the FFT "
                "and the adjoint pads it back with zeros (rarely intended).",
                stacklevel=3,
            )
        self.norm = check_norm(norm)
        dt = to_torch_dtype(dtype, torch.complex128)
        self.real = bool(real)
        dimsd = list(dims)
        for a, n in zip(axes_t, nffts_t):
            dimsd[a] = n
        if self.real:
            dimsd[axes_t[-1]] = nffts_t[-1] // 2 + 1
        clinear = dt.is_complex and not self.real
        super().__init__(dims=dims, dimsd=tuple(dimsd), dtype=complex_dtype(dt), clinear=clinear, name=name)
        self.ndim = len(dims)
        self.axes = axes_t
        self.nffts = nffts_t
        self.sampling = tuple(float(s) for s in samp)
        self._pre = tuple(bool(p) for p in pre)
        self._post = tuple(bool(p) for p in post)
        nf = len(axes_t)
        self.fs = tuple(
            _freqs(n, d, self.real and i == nf - 1, s)
            for i, (n, d, s) in enumerate(zip(nffts_t, self.sampling, self._post))
        )
        nprod = prod(nffts_t)
        # scaling that turns the adjoint into the inverse (PyLops' ``Op / y``)
        self._scale = {"ortho": 1.0, "none": float(nprod), "1/n": 1.0 / nprod}[self.norm]

    # y[b, ..., k, ...] = s sum_j x[b, ..., j, ...] exp(-2 pi i j k / nfft)   (over every axis)
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return fftnd(x, self.axes, self.nffts, self.norm, self.real, self._pre, self._post, self.clinear)

    # x[b, ..., j, ...] = s sum_k y[b, ..., k, ...] exp(+2 pi i j k / nfft)   (over every axis)
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return fftnd_adjoint(
            y, self.dims, self.axes, self.nffts, self.norm, self.real, self._pre, self._post, self.clinear
        )

    def div(self, y: torch.Tensor, niter: int = 100, densesolver: str = "torch") -> torch.Tensor:
        """``Op / y``: the inverse transform (the adjoint, rescaled for ``norm`` other than
        ``"ortho"``); exact whenever ``nffts >= dims`` along every axis."""
        x = self.rmatvec(y)
        return x if self._scale == 1.0 else x / self._scale


class FFTND(_BaseFFTND):
    r"""N-dimensional Fast Fourier Transform along ``axes``.

    Parameters
    ----------
    dims : :obj:`tuple`
        Model shape.
    axes : :obj:`int` or :obj:`tuple`, optional
        Axes along which the FFT is computed (default: the last three, PyLops'
        ``(-3, -2, -1)``, or all of them for models of fewer dimensions).
    nffts : :obj:`int` or :obj:`tuple`, optional
        FFT lengths per axis (``None`` entries: ``dims[axis]``); longer than the model
        zero pads it, shorter crops it (and the adjoint pads back with zeros).
    sampling : :obj:`float` or :obj:`tuple`, optional
        Sampling step per axis (for the frequency axes ``fs``).
    norm : :obj:`str`, optional
        ``"ortho"`` (unitary), ``"none"`` (no scaling either way) or ``"1/n"`` (``1/N_F``
        on both forward and adjoint), with ``N_F = prod(nffts)``.
    real : :obj:`bool`, optional
        Real model: one-sided transform along the last of ``axes``, the non-DC,
        non-Nyquist bins scaled by :math:`\sqrt{2}` so the adjoint is exact; the operator
        is then R-linear (``clinear=False``) and its adjoint returns real tensors.
    ifftshift_before, fftshift_after : :obj:`bool` or :obj:`tuple`, optional
        ``ifftshift`` the model / ``fftshift`` the spectrum, per axis.
    engine : :obj:`str`, optional
        PyLops' engine name (numpy, scipy or mkl_fft; a misspelt one raises as there); torch.fft
        runs whatever it is.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        ``complex128`` by default; a real dtype makes the operator R-linear (only the
        real part of the model is transformed) as in PyLops. ``Op.dtype`` is complex.
    name : :obj:`str`, optional
        Name.
    **kwargs_fft
        PyLops' tuning arguments of its FFT engines (``workers``, ``overwrite_x``, ``plan``,
        ``threads``, ``planner_effort``, ``flags``, ``planning_timelimit``): accepted, without
        effect (torch.fft runs on torch's threads); any other keyword raises ``TypeError``.

    Attributes
    ----------
    fs : :obj:`tuple` of :obj:`torch.Tensor`
        Frequency axes (float64), ``fftshift``-ed where ``fftshift_after``.

    Notes
    -----
    .. math::
        y_{\mathbf{k}} = s \sum_{\mathbf{j}} x_{\mathbf{j}}
        \prod_{a} e^{-2\pi i j_a k_a / n_a}, \qquad
        x_{\mathbf{j}} = s' \sum_{\mathbf{k}} y_{\mathbf{k}}
        \prod_{a} e^{+2\pi i j_a k_a / n_a},

    with :math:`s = s' = 1/\sqrt{N_F}` (``"ortho"``), :math:`s = s' = 1` (``"none"``) or
    :math:`s = s' = 1/N_F` (``"1/n"``). Each direction is one batched multi-axis FFT
    (one pass over the data in and out, plus the padding/cropping).

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.fftnd import FFTND
    >>> F = FFTND((2, 3, 4), nffts=(2, 4, 4), dtype=torch.complex128)
    >>> F.dimsd
    (2, 4, 4)
    >>> x = torch.randn(2, 3, 4, dtype=torch.complex128)
    >>> torch.allclose(F / (F @ x), x)
    True
    """

    def __init__(
        self,
        dims: InputDimsLike,
        axes: int | Sequence[int] | None = None,
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
        check_fft_engine(engine, "FFTND", kwargs_fft=kwargs_fft)
        ndim = len(to_dims(dims))
        if axes is None:
            axes = tuple(range(max(ndim - 3, 0), ndim))
        super().__init__(dims, axes, nffts, sampling, norm, real, ifftshift_before, fftshift_after, dtype, name)
        self.ifftshift_before = self._pre
        self.fftshift_after = self._post
