"""Fractional shift along an axis by a phase ramp in the Fourier domain."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from torchlops.functional.fourier import fourier_shift, fourier_shift_adjoint
from torchlops.linearoperator import LinearOperator
from torchlops.signalprocessing.fftnd import check_fft_engine
from torchlops.utils.checks import normalize_axis, operator_tensor, real_dtype, real_float, to_dims, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike, TensorLike

__all__ = ["Shift"]


#: the complex dtype of a real one and back (dtype.to_complex / to_real do not trace in torch.compile)
_COMPLEX = {torch.float16: torch.complex32, torch.bfloat16: torch.complex64, torch.float32: torch.complex64,
            torch.float64: torch.complex128}
_REAL = {torch.complex32: torch.float16, torch.complex64: torch.float32, torch.complex128: torch.float64}


class Shift(LinearOperator):
    r"""Fractional shift along ``axis``, applied as a phase ramp in the Fourier domain.

    Parameters
    ----------
    dims : :obj:`int` or :obj:`tuple`
        Model (and data) shape.
    shift : :obj:`float` or :obj:`torch.Tensor`
        Shift in the unit of ``sampling``: a scalar for every trace, or one shift per trace
        (a tensor of shape ``dims`` without ``axis``). A :class:`torch.nn.Parameter` is learnt.
    axis : :obj:`int`, optional
        Axis along which the shift is applied.
    nfft : :obj:`int`, optional
        FFT length (default ``dims[axis]``; a longer one avoids wrap-around).
    sampling : :obj:`float`, optional
        Sampling step :math:`\Delta t`.
    real : :obj:`bool`, optional
        Real model: one-sided spectrum (the operator is then R-linear, ``clinear=False``,
        and returns real tensors).
    engine : :obj:`str`, optional
        PyLops' engine name (numpy, fftw, scipy or mkl_fft; a misspelt one raises as there);
        torch.fft runs whatever it is.
    dtype : :obj:`torch.dtype` or :obj:`str`, optional
        ``complex128`` by default as in PyLops (a real dtype makes an R-linear operator
        acting on the real part of the model).
    name : :obj:`str`, optional
        Name.
    **kwargs_fft
        PyLops' tuning arguments of its FFT engines (``workers``, ``overwrite_x``, ``plan``,
        ``threads``, ``planner_effort``, ``flags``, ``planning_timelimit``): accepted, without
        effect (torch.fft runs on torch's threads); any other keyword raises ``TypeError``.

    Notes
    -----
    :math:`\mathbf{y} = \mathbf{F}^H \mathbf{S} \mathbf{F} \mathbf{x}`, with
    :math:`\mathbf{F}` the (orthonormal) FFT of length :math:`n_{fft}` and
    :math:`\mathbf{S} = \mathrm{diag}(e^{-2\pi i f t_S})`:

    .. math::
        y_j = \frac{1}{n_{fft}} \sum_k e^{2\pi i jk/n_{fft}} e^{-2\pi i f_k t_S}
        \sum_l x_l e^{-2\pi i lk/n_{fft}}, \qquad
        \mathbf{x} = \mathbf{F}^H \mathbf{S}^H \mathbf{F} \mathbf{y}.

    Each direction is one forward and one inverse FFT with a multiplication in between
    (three passes over the data).

    Examples
    --------
    >>> import torch
    >>> from torchlops.signalprocessing.shift import Shift
    >>> S = Shift(8, 2.0, real=True)
    >>> (S @ torch.eye(8, dtype=torch.float64)[1]).round(decimals=12) + 0.0
    tensor([0., 0., 0., 1., 0., 0., 0., 0.], dtype=torch.float64)
    """

    _complex_by_definition = True
    _real_input_kernels = True

    def __init__(
        self,
        dims: InputDimsLike,
        shift: float | TensorLike,
        axis: int = -1,
        nfft: int | None = None,
        sampling: float = 1.0,
        real: bool = False,
        engine: str | None = None,
        dtype: DTypeLike = "complex128",
        name: str = "S",
        **kwargs_fft: object,
    ) -> None:
        check_fft_engine(engine, "Shift", fftw=True, kwargs_fft=kwargs_fft)
        dims = to_dims(dims)
        ax = normalize_axis(axis, len(dims))
        nfft = dims[ax] if nfft is None else nfft
        if isinstance(nfft, bool) or not isinstance(nfft, (int, np.integer)) or nfft < 1:
            raise ValueError(f"nfft must be a positive int, got {nfft!r}")
        if nfft < dims[ax]:  # (as FFT, and PyLops' Shift through its FFT)
            warnings.warn(
                f"nfft={nfft} smaller than dims[axis]={dims[ax]}: the model is cropped before the FFT "
                "and the adjoint pads it back with zeros (rarely intended).",
                stacklevel=2,
            )
        dt = to_torch_dtype(dtype, torch.complex128)
        rdt = real_dtype(dt)
        if isinstance(shift, torch.nn.Parameter):
            s, _ = operator_tensor(shift, "shift")
        elif isinstance(shift, (int, float, np.integer, np.floating)) and not isinstance(shift, bool):
            # held in float64 whatever the operator's precision (the phase is computed from it in
            # float64: a float32 shift of 10000.3 would be 10000.2998, 4e-4 off in the output)
            s = torch.tensor(float(shift), dtype=torch.float64)
        else:
            s, _ = operator_tensor(np.asarray(shift) if isinstance(shift, (list, tuple)) else shift, "shift",
                                   torch.float64)
        if s.is_complex():
            raise TypeError(f"shift must be real, got dtype {s.dtype}")
        other = dims[:ax] + dims[ax + 1 :]
        if s.numel() != 1 and tuple(s.shape) != other:
            raise ValueError(
                f"shift must be a scalar or hold one shift per trace, of shape {other}, got {tuple(s.shape)}"
            )
        self.real = bool(real)
        super().__init__(dims=dims, dimsd=dims, dtype=dt, clinear=dt.is_complex and not self.real, name=name)
        self.axis = ax
        self.nfft = int(nfft)
        self.sampling = real_float(sampling, "sampling")
        self._samp = (self.sampling,)  # (read in _phase: a tuple, constant to torch.compile(dynamic=True))
        freq = torch.fft.rfftfreq if self.real else torch.fft.fftfreq
        f = freq(self.nfft, d=self.sampling, dtype=torch.float64)
        self._fshape = tuple(f.numel() if i == ax else 1 for i in range(len(dims)))
        self._sshape = tuple(1 if i == ax else n for i, n in enumerate(dims)) if s.numel() != 1 else ()
        self.register_operator_tensor("shift", s)
        self.register_operator_tensor("f", f.to(rdt))

    def _phase(self) -> torch.Tensor:
        s = self.shift
        # a Module.to(complex dtype) turns the real buffers complex: their values stay real
        s = s.real if s.is_complex() else s
        s = s.reshape(self._sshape) if self._sshape else s.reshape(())
        # the turns f s in float64 whatever the operator's precision, reduced to their fraction
        # (|f s| reaches |shift| / 2: in float32 a shift of 30000 samples was off by 1e-2 rad),
        # then the phase in the operator's precision; the frequencies are computed anew in float64
        # (the buffer f holds them in the operator's precision; MPS has no float64)
        hp = torch.float32 if s.device.type == "mps" else torch.float64
        freq = torch.fft.rfftfreq if self.real else torch.fft.fftfreq
        f = freq(self.nfft, d=self._samp[0], dtype=hp, device=s.device)
        turns = f.reshape(self._fshape) * s.to(hp)
        frac = turns - torch.round(turns)  # (round has no gradient: d frac / ds = f)
        dt = self.dtype  # (the operator's, which conversions set: not the buffers')
        cdt = dt if dt.is_complex else _COMPLEX[dt]
        # (2 pi as a literal: torch.compile with dynamic=True makes math.pi, a float read from a
        # module, symbolic, which fails to trace inside the operator's backward)
        # (torch.polar has no half kernels: at least float32 there, then the operator's dtype)
        ang = -6.283185307179586 * frac.to(torch.promote_types(_REAL[cdt], torch.float32))
        ph = torch.polar(torch.ones_like(ang), ang)
        return ph if ph.dtype == cdt else ph.to(cdt)

    def _kept_phase(self) -> torch.Tensor:
        """:meth:`_phase`, kept while ``shift`` holds the same values at the operator's precision
        (:meth:`~torchlops.LinearOperator._kept`: it cost as much as the shift's FFTs)."""
        return self._kept("phase", self.shift, self._phase, self.dtype)

    def _apply(self, fn: object, recurse: bool = True) -> Shift:
        # the shift stays in float64 (float32 on MPS) through conversions, as built: a conversion
        # sets the operator's precision (the phase's), and a shift of 10000.3 samples rounded to
        # float32 or complex64 was 3e-4 off, to float16 0.5 off (a learnable shift, a parameter,
        # is converted as the user's tensors are)
        s = self._buffers.get("shift")
        super()._apply(fn, recurse)
        new = self._buffers.get("shift")
        if s is not None and new is not None and new is not s:
            hp = torch.float32 if new.device.type == "mps" else torch.float64
            # (from the values before the conversion; a shift on the meta device has none, and
            # to_empty gives it fresh storage: the converted tensor, at the shift's precision)
            src = new if s.is_meta else s
            self._buffers["shift"] = (src.real if src.is_complex() else src).to(device=new.device, dtype=hp)
        return self

    # y[b, ..., j, ...] = sum_k exp(2 pi i jk / nfft) exp(-2 pi i f[k] s) X[b, ..., k, ...] / nfft
    def _matvec(self, x: torch.Tensor) -> torch.Tensor:
        return fourier_shift(x, self._kept_phase(), self.axis, self.nfft, self.real, self.clinear)

    # x[b, ..., j, ...] = sum_k exp(2 pi i jk / nfft) exp(+2 pi i f[k] s) Y[b, ..., k, ...] / nfft
    def _rmatvec(self, y: torch.Tensor) -> torch.Tensor:
        return fourier_shift_adjoint(y, self._kept_phase(), self.axis, self.nfft, self.real, self.clinear)
