"""Forward/adjoint pairs of the Fourier-domain operators (pure torch, one leading batch dim).

``axes`` count the operator's dimensions (0-based, without the batch dimension): the
tensor dimension of operator axis ``a`` is ``a + 1``. The pairs cover the FFT family
(any number of axes, zero padding or cropping to ``nffts``, three normalisations, the
one-sided real transform), the fractional shift and the orthonormal DCTs of types 1-4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "fftnd",
    "fftnd_adjoint",
    "real_fft_weights",
    "fourier_shift",
    "fourier_shift_adjoint",
    "dct",
    "dct_adjoint",
]

# torch.fft "norm" of the forward transform and of the inverse used by the adjoint
_NORMS = {"ortho": ("ortho", "ortho"), "none": ("backward", "forward"), "1/n": ("forward", "backward")}


def real_fft_weights(nfft: int, dtype: torch.dtype, device: torch.device | None) -> tuple[torch.Tensor, ...]:
    """Weights of the one-sided spectrum of length ``nfft // 2 + 1``: ``sqrt(2)`` on the bins
    ``1 .. (nfft - 1) // 2`` (forward), their inverse, and the inverse with zeros on the DC and
    Nyquist bins (the imaginary parts a real inverse transform discards)."""
    nf = nfft // 2 + 1
    w = torch.ones(nf, dtype=dtype, device=device)
    w[1 : 1 + (nfft - 1) // 2] = math.sqrt(2.0)
    winv = 1.0 / w
    wim = winv.clone()
    wim[0] = 0.0
    if nfft % 2 == 0:
        wim[-1] = 0.0
    return w, winv, wim


def _along(v: torch.Tensor, dim: int, ndim: int) -> torch.Tensor:
    """View a vector so that it broadcasts along tensor dimension ``dim`` of an ``ndim``-d tensor."""
    shape = [1] * ndim
    shape[dim] = v.numel()
    return v.reshape(shape)


def _fit(y: torch.Tensor, dims: Sequence[int], axes: Sequence[int]) -> torch.Tensor:
    """Crop (or zero pad at the end) the tensor dims ``axes + 1`` to ``dims[axes]``."""
    for a in axes:
        n, m = dims[a], y.shape[a + 1]
        if m > n:
            y = y.narrow(a + 1, 0, n)
        elif m < n:
            widths = [0, 0] * (y.dim() - a - 2) + [0, n - m]
            y = F.pad(y, widths)
    return y


# y[b, ..., k, ...] = s * sum_j x[b, ..., j, ...] exp(-2 pi i j k / nfft)   (w[k] on the one-sided axis)
def fftnd(
    x: torch.Tensor,
    axes: Sequence[int],
    nffts: Sequence[int],
    norm: str = "ortho",
    real: bool = False,
    ifftshift_before: Sequence[bool] = (),
    fftshift_after: Sequence[bool] = (),
    clinear: bool = True,
) -> torch.Tensor:
    """Forward FFT over ``axes`` with lengths ``nffts`` (zero padding or cropping the model).

    ``real`` takes a one-sided transform along the last of ``axes`` and scales its bins
    ``1 .. (nfft - 1) // 2`` by ``sqrt(2)``; ``clinear=False`` uses only the real part of
    ``x``. ``ifftshift_before`` / ``fftshift_after`` hold one flag per axis.
    """
    dims = [a + 1 for a in axes]
    pre = [d for d, s in zip(dims, ifftshift_before) if s]
    if pre:
        x = torch.fft.ifftshift(x, dim=pre)
    if (not clinear or real) and x.is_complex():
        x = x.real
    fnorm = _NORMS[norm][0]
    if real:
        y = torch.fft.rfftn(x, s=list(nffts), dim=dims, norm=fnorm)
        w = real_fft_weights(nffts[-1], x.dtype, x.device)[0]
        y = y * _along(w, dims[-1], y.dim())
    else:
        y = torch.fft.fftn(x, s=list(nffts), dim=dims, norm=fnorm)
    post = [d for d, s in zip(dims, fftshift_after) if s]
    if post:
        y = torch.fft.fftshift(y, dim=post)
    return y


# x[b, ..., j, ...] = s * sum_k y[b, ..., k, ...] exp(+2 pi i j k / nfft)   (j < dims[axis])
def fftnd_adjoint(
    y: torch.Tensor,
    dims: Sequence[int],
    axes: Sequence[int],
    nffts: Sequence[int],
    norm: str = "ortho",
    real: bool = False,
    ifftshift_before: Sequence[bool] = (),
    fftshift_after: Sequence[bool] = (),
    clinear: bool = True,
) -> torch.Tensor:
    """Adjoint of :func:`fftnd` (``dims`` is the model shape, without the batch dimension).

    The inverse transform with the matching scaling, cropped (or zero padded) back to
    ``dims``; for ``real`` the one-sided bins are divided by ``sqrt(2)`` and the real inverse
    transform closes the pair exactly in the real inner product. R-linear operators
    (``clinear=False``) return the real part.
    """
    tdims = [a + 1 for a in axes]
    post = [d for d, s in zip(tdims, fftshift_after) if s]
    if post:
        y = torch.fft.ifftshift(y, dim=post)
    inorm = _NORMS[norm][1]
    if real:
        if len(tdims) > 1:
            y = torch.fft.ifftn(y, dim=tdims[:-1], norm=inorm)
        _, winv, wim = real_fft_weights(nffts[-1], y.real.dtype, y.device)
        last = tdims[-1]
        if y.is_complex():
            y = torch.complex(y.real * _along(winv, last, y.dim()), y.imag * _along(wim, last, y.dim()))
        else:  # (real data: no imaginary part to weigh)
            y = torch.complex(y * _along(winv, last, y.dim()), torch.zeros_like(y))
        x = torch.fft.irfft(y, n=nffts[-1], dim=last, norm=inorm)
    else:
        x = torch.fft.ifftn(y, dim=tdims, norm=inorm)
    x = _fit(x, dims, axes)
    if not clinear and x.is_complex():
        x = x.real
    pre = [d for d, s in zip(tdims, ifftshift_before) if s]
    if pre:
        x = torch.fft.fftshift(x, dim=pre)
    return x


def _shift_core(x: torch.Tensor, phase: torch.Tensor, axis: int, nfft: int, real: bool) -> torch.Tensor:
    n = x.shape[axis + 1]
    if real:
        z = torch.fft.rfft(x, n=nfft, dim=axis + 1) * phase
        # the real inverse transform discards the imaginary parts of the DC and Nyquist bins
        keep = torch.ones(z.shape[axis + 1], dtype=z.real.dtype, device=z.device)
        keep[0] = 0.0
        if nfft % 2 == 0:
            keep[-1] = 0.0
        z = torch.complex(z.real, z.imag * _along(keep, axis + 1, z.dim()))
        y = torch.fft.irfft(z, n=nfft, dim=axis + 1)
    else:
        y = torch.fft.ifft(torch.fft.fft(x, n=nfft, dim=axis + 1) * phase, dim=axis + 1)
    dims = [1] * (x.dim() - 1)
    dims[axis] = n
    return _fit(y, dims, [axis])


# y[b, ..., j, ...] = sum_k exp(2 pi i k j / nfft) p[..., k, ...] X[b, ..., k, ...] / nfft,  X = FFT_nfft(x)
def fourier_shift(
    x: torch.Tensor, phase: torch.Tensor, axis: int, nfft: int, real: bool = False, clinear: bool = True
) -> torch.Tensor:
    """``F^{-1} diag(phase) F x`` along ``axis``: FFT of length ``nfft`` (one-sided when
    ``real``), multiplication by ``phase`` (broadcast over the data), inverse FFT, back to
    the model length. ``clinear=False`` uses (and returns) real parts."""
    if (not clinear or real) and x.is_complex():
        x = x.real
    if x.dtype in _LOW:
        # (no FFT in half precision on the CPU, only lengths that are powers of two on GPUs:
        # computed in single precision, returned in the input's)
        y = fourier_shift(x.to(_LOW[x.dtype]), phase, axis, nfft, real, clinear)
        return y.to(_LOW_OUT[x.dtype] if y.is_complex() else x.dtype)
    y = _shift_core(x, phase, axis, nfft, real)
    return y.real if (not clinear and y.is_complex()) else y


# x[b, ..., j, ...] = sum_k exp(2 pi i k j / nfft) conj(p[..., k, ...]) Y[b, ..., k, ...] / nfft,  Y = FFT_nfft(y)
def fourier_shift_adjoint(
    y: torch.Tensor, phase: torch.Tensor, axis: int, nfft: int, real: bool = False, clinear: bool = True
) -> torch.Tensor:
    """Adjoint of :func:`fourier_shift`: the same with the conjugate phase."""
    return fourier_shift(y, phase.conj(), axis, nfft, real, clinear)


#: half-precision dtypes, transformed in single precision (the dtype they are computed in)
_LOW = {torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.complex32: torch.complex64}
#: the complex dtype of a half-precision result
_LOW_OUT = {torch.float16: torch.complex32, torch.bfloat16: torch.complex64, torch.complex32: torch.complex32}


# ------------------------------------------------------------------------------------ DCT
def _dct_factors(n: int, type: int, dtype: torch.dtype, device: torch.device | None):
    """``(a, b, din, dout, m)`` of types 1 and 4 (2 and 3: :func:`_dct2_ortho_last`) with
    ``DCT_ortho = diag(dout) C diag(din)`` and ``C[k, j] = 2 Re(a[k] b[j] exp(-2 pi i k j / m))``.
    (pi as a literal: torch.compile with
    dynamic=True makes a float read from a module, math.pi, symbolic, which fails to trace
    inside an operator's backward.)"""
    rdt = dtype
    cdt = torch.complex128 if rdt == torch.float64 else torch.complex64
    k = torch.arange(n, dtype=rdt, device=device)
    ones = torch.ones(n, dtype=rdt, device=device)
    if type == 1:
        din = ones.clone()
        din[0] = din[-1] = 1.0 / math.sqrt(2.0)
        dout = din / math.sqrt(2.0 * (n - 1))
        return None, None, din, dout, 2 * (n - 1)
    a = torch.exp(torch.complex(torch.zeros_like(k), -3.141592653589793 * (k / (2 * n) + 1.0 / (4 * n)))).to(cdt)
    b = torch.exp(torch.complex(torch.zeros_like(k), -3.141592653589793 * k / (2 * n))).to(cdt)
    return a, b, ones, ones / math.sqrt(2.0 * n), 2 * n


def _cos_kernel(x: torch.Tensor, a, b, m: int, dim: int) -> torch.Tensor:
    """``y[k] = 2 Re(a[k] sum_j b[j] x[j] exp(-2 pi i k j / m))`` along ``dim`` (``x`` real)."""
    n = x.shape[dim]
    if b is None and not x.is_complex() and m // 2 + 1 >= n:
        # (a real input: its one-sided spectrum holds the n bins needed, at half the cost)
        z = torch.fft.rfft(x, n=m, dim=dim).narrow(dim, 0, n)
    else:
        z = x if b is None else x * _along(b, dim, x.dim())
        z = torch.fft.fft(z, n=m, dim=dim).narrow(dim, 0, n)
    if a is not None:
        z = z * _along(a, dim, x.dim())
    return 2.0 * z.real


def _dct2_ortho_last(x: torch.Tensor) -> torch.Tensor:
    r"""Orthonormal DCT-II along the last dim from one real FFT of ``n`` samples (Makhoul):
    :math:`v = (x_0, x_2, \dots, x_3, x_1)`, :math:`V = \mathrm{rfft}(v)`,
    :math:`Z_k = d_k e^{-i\pi k/2n} V_k` (:math:`k \le n/2`); :math:`y_k = 2\,\mathrm{Re}\,Z_k`,
    :math:`y_{n-k} = -2\,\mathrm{Im}\,Z_k` with the orthonormal scales
    :math:`d_0 = 1/\sqrt{4n}`, :math:`d_k = 1/\sqrt{2n}` (folded into the rotation)."""
    n = x.shape[-1]
    h, c_ = n // 2, (n + 1) // 2
    v = torch.cat((x[..., 0::2], x[..., 1::2].flip(-1)), dim=-1)
    ang = torch.arange(h + 1, dtype=x.dtype, device=x.device) * (-3.141592653589793 / (2 * n))
    dk = torch.full((h + 1,), 2.0 / math.sqrt(2.0 * n), dtype=x.dtype, device=x.device)
    dk[0] = 2.0 / math.sqrt(4.0 * n)
    z = torch.fft.rfft(v, dim=-1) * torch.polar(dk, ang)
    return torch.cat((z.real, -z.imag[..., 1:c_].flip(-1)), dim=-1)


def _dct2_ortho_adjoint_last(u: torch.Tensor) -> torch.Tensor:
    r"""Transpose of :func:`_dct2_ortho_last` (the orthonormal DCT-III) from one inverse real
    FFT: with :math:`u' = d\,u`, :math:`H_0 = 2u'_0`, :math:`H_k = e^{i\pi k/2n}(u'_k - i u'_{n-k})`
    (:math:`1 \le k \le n/2`), :math:`r = n\,\mathrm{irfft}(H)`, then :math:`x_{2j} = r_j`,
    :math:`x_{2j+1} = r_{n-1-j}`."""
    n = u.shape[-1]
    h = n // 2
    ang = torch.arange(1, h + 1, dtype=u.dtype, device=u.device) * (3.141592653589793 / (2 * n))
    g = n / math.sqrt(2.0 * n)  # (d_k for k >= 1, and irfft's 1/n undone)
    a, b = u[..., 1 : h + 1], u[..., n - h :].flip(-1)  # u_k, u_{n-k}
    hk = torch.complex(a, -b) * torch.polar(torch.full_like(ang, g), ang)
    h0 = (u[..., :1] * (2.0 * n / math.sqrt(4.0 * n))).to(hk.dtype)
    r = torch.fft.irfft(torch.cat((h0, hk), dim=-1), n=n, dim=-1)
    c_ = (n + 1) // 2
    x = torch.empty_like(r)
    x[..., 0::2] = r[..., :c_]
    x[..., 1::2] = r[..., c_:].flip(-1)
    return x


def _dct4_ortho_last(x: torch.Tensor) -> torch.Tensor:
    r"""Orthonormal DCT-IV along the last dim of even length :math:`n = 2m` from one complex FFT
    of :math:`m` samples: :math:`u_j = (x_{2j} + i\,x_{n-1-2j})\,e^{-i\pi j/n}`,
    :math:`T_k = \sqrt{2/n}\,e^{-i\pi(k + 1/4)/n}\,\mathrm{FFT}_m(u)_k`, then
    :math:`y_{2k} = \mathrm{Re}\,T_k`, :math:`y_{n-1-2k} = -\mathrm{Im}\,T_k` (the angle
    :math:`\pi(2j + 1/2)(2k + 1/2)/n` of the cosines split as :math:`4jk + j + k + 1/4`). The
    matrix is symmetric and orthogonal: it is its own adjoint and inverse."""
    n = x.shape[-1]
    m = n // 2
    cdt = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    k = torch.arange(m, dtype=x.dtype, device=x.device)
    w1 = torch.exp(torch.complex(torch.zeros_like(k), k * (-3.141592653589793 / n))).to(cdt)
    w2 = torch.exp(torch.complex(torch.zeros_like(k), (k + 0.25) * (-3.141592653589793 / n))).to(cdt)
    u = torch.complex(x[..., 0::2], x.flip(-1)[..., 0::2])
    t = torch.fft.fft(u * w1, dim=-1) * (w2 * math.sqrt(2.0 / n))
    return torch.stack((t.real, -t.imag.flip(-1)), dim=-1).reshape(x.shape)


def _dct_1axis(x: torch.Tensor, type: int, dim: int, adjoint: bool) -> torch.Tensor:
    if type == 4 and x.shape[dim] % 2 == 0:
        # (its own adjoint; an odd length takes the general path below)
        return _dct4_ortho_last(x.movedim(dim, -1)).movedim(-1, dim)
    if type in (2, 3):
        # (types 2 and 3, each the other's transpose: one real FFT of n samples, not a complex
        # one of 2n)
        xl = x.movedim(dim, -1)
        y = _dct2_ortho_last(xl) if (type == 2) != adjoint else _dct2_ortho_adjoint_last(xl)
        return y.movedim(-1, dim)
    a, b, din, dout, m = _dct_factors(x.shape[dim], type, x.dtype, x.device)
    if adjoint:
        a, b, din, dout = b, a, dout, din
    x = x * _along(din, dim, x.dim())
    return _cos_kernel(x, a, b, m, dim) * _along(dout, dim, x.dim())


_SCIPY_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def _scipy_dct_ok(x: torch.Tensor) -> bool:
    """Whether :func:`scipy.fft.dctn` may transform ``x``: a plain CPU tensor outside
    ``torch.compile`` and torch.func transforms, with no graph or forward-mode tangent to keep
    (the operator's autograd Function calls its kernels with none)."""
    return (type(x) is torch.Tensor and x.device.type == "cpu" and x.dtype in _SCIPY_DTYPES
            and not torch.compiler.is_compiling() and not torch._C._are_functorch_transforms_active()
            and not (x.requires_grad and torch.is_grad_enabled())
            and torch.autograd.forward_ad._current_level < 0
            # (a jit trace, a dispatch or function mode (make_fx, FakeTensorMode, ...) must see
            # the transform's tensor operations, not a constant)
            and not torch.jit.is_tracing() and not torch._C._len_torch_dispatch_stack()
            and not torch._C._is_torch_function_mode_enabled())


def _dct_scipy(x: torch.Tensor, type: int, axes: Sequence[int], adjoint: bool, workers: int | None) -> torch.Tensor:
    """The orthonormal DCT (``adjoint``: its inverse, the transpose) by :func:`scipy.fft.dctn`
    over the model axes ``axes`` of the ``(B, *dims)`` tensor ``x``."""
    import scipy.fft as sf

    a = x.detach().resolve_conj().resolve_neg().numpy()
    f = sf.idctn if adjoint else sf.dctn
    w = torch.get_num_threads() if workers is None else workers
    y = f(a, type=type, axes=[ax + 1 for ax in axes], norm="ortho", workers=w)
    return torch.from_numpy(y).to(x.dtype)


def _dct(x: torch.Tensor, type: int, axes: Sequence[int], adjoint: bool, workers: int | None = None,
         engine: str = "auto") -> torch.Tensor:
    if engine not in ("auto", "torch"):
        raise ValueError(f"engine must be 'auto' or 'torch', got {engine!r}")
    if x.dtype in _LOW:  # (no half-precision FFT on the CPU: computed in single precision)
        return _dct(x.to(_LOW[x.dtype]), type, axes, adjoint, workers, engine).to(x.dtype)
    if engine == "auto" and axes and x.numel() and _scipy_dct_ok(x):
        return _dct_scipy(x, type, axes, adjoint, workers)
    if x.is_complex():
        # a real matrix: transform the real and imaginary parts as one batch
        z = _dct(torch.stack((x.real, x.imag)).flatten(0, 1), type, axes, adjoint, workers, engine)
        z = z.unflatten(0, (2, x.shape[0]))
        return torch.complex(z[0], z[1])
    if not axes or x.numel() == 0:
        # (no axis: the identity; no element: nothing to transform, and FFTs refuse empty axes)
        return x.clone()
    for ax in axes:
        x = _dct_1axis(x, type, ax + 1, adjoint)
    return x


# y[b, ..., k, ...] = dout[k] sum_j 2 cos(theta_type(k, j)) din[j] x[b, ..., j, ...]   (over each axis)
def dct(x: torch.Tensor, type: int, axes: Sequence[int], workers: int | None = None,
        engine: str = "auto") -> torch.Tensor:
    """Orthonormal DCT of ``type`` (1-4) over ``axes`` (scipy's ``dctn(norm="ortho")``).
    ``engine="torch"`` (and ``"auto"`` on other devices, under ``torch.compile`` or a
    torch.func transform, or with a graph to record) computes it per axis with ``torch.fft``:
    one real FFT of length ``n`` (types 2 and 3) or ``2 (n - 1)`` (type 1), or one complex FFT
    of length ``n / 2`` (type 4; ``2 n`` for an odd length). ``"auto"`` on the CPU otherwise
    calls :func:`scipy.fft.dctn` (``workers`` threads; default torch's), 2-3x faster there."""
    return _dct(x, type, axes, False, workers, engine)


# x[b, ..., j, ...] = din[j] sum_k 2 cos(theta_type(k, j)) dout[k] y[b, ..., k, ...]   (over each axis)
def dct_adjoint(y: torch.Tensor, type: int, axes: Sequence[int], workers: int | None = None,
                engine: str = "auto") -> torch.Tensor:
    """Adjoint (and inverse) of :func:`dct`: the transposed cosine matrix over each axis."""
    return _dct(y, type, axes, True, workers, engine)
