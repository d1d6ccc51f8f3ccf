"""Forward/adjoint pairs of the boxcar smoothers (pure torch, one leading batch dim).

A boxcar of odd length ``L = 2h + 1`` along one axis, with zeros outside the model:
``y[i] = (1/L) sum_{|l| <= h} x[i + l]``. It is written as a loop over the taps, each tap
one slice add into the output (no convolution routine, no matrix). Several axes apply the
1-D boxcar along each of them in turn (the N-d boxcar is the product of 1-D ones).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops.functional.convolution import convolve
from torchlops.functional.derivatives import _fast

__all__ = ["boxcar_length", "boxcar_stencil", "smoothing", "smoothing_adjoint"]


def boxcar_length(nsmooth: int) -> int:
    """PyLops convention: an even length is made odd by adding one."""
    n = int(nsmooth)
    return n + 1 if n % 2 == 0 else n


def boxcar_stencil(length: int) -> tuple[dict[int, float], int, int, list]:
    """The boxcar of odd ``length`` as a band (taps ``-h..h`` of ``1/L``, every row, taps
    outside the axis dropped): the description the compiled kernels take."""
    h = length // 2
    return {lag: 1.0 / length for lag in range(-h, h + 1)}, 0, 0, []


#: boxcars longer than this are applied by FFT convolution (the loop costs a pass per tap)
LONG_BOXCAR = 64
#: the dtypes the FFT path takes (half precision keeps the loop: no CPU FFT for it)
_FFT_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


def _boxcar(x: torch.Tensor, a: int, length: int) -> torch.Tensor:
    """One boxcar of odd ``length`` along tensor axis ``a`` into a new tensor."""
    n = x.shape[a]
    c = 1.0 / length
    if length > LONG_BOXCAR and n > 1 and x.numel() and x.dtype in _FFT_DTYPES:
        # (a boxcar of 101 samples on 1024 x 1024: 17-19 ms by the loop, 6-10 ms by FFTs)
        h = torch.full((length,), c, dtype=x.real.dtype, device=x.device)
        # (one FFT, or overlap-add blocks for a few long lines: convolution.fft_or_overlap_add)
        return convolve(x, h, [a - 1], [length // 2], method="auto-fft")
    y = x.new_empty(x.shape)
    # centre tap covers every row
    if _fast(x):
        torch.mul(x, c, out=y)
    else:
        y.copy_(x)
        y.mul_(c)
    for lag in range(1, min(length // 2, n - 1) + 1):
        m = n - lag
        # rows i < n - lag receive x[i + lag]; rows i >= lag receive x[i - lag]
        y.narrow(a, 0, m).add_(x.narrow(a, lag, m), alpha=c)
        y.narrow(a, lag, m).add_(x.narrow(a, 0, m), alpha=c)
    return y


# y[b, ..., i, ...] = (1/L_d) sum_{|l| <= h_d} x[b, ..., i + l, ...]   for every axis d in turn
def smoothing(x: torch.Tensor, lengths: Sequence[int], axes: Sequence[int]) -> torch.Tensor:
    """Zero-padded boxcar of odd ``lengths[k]`` along model ``axes[k]``."""
    for length, ax in zip(lengths, axes):
        x = _boxcar(x, ax + 1, length)
    return x


# x[b, ..., j, ...] = (1/L_d) sum_{|l| <= h_d} y[b, ..., j - l, ...]   (symmetric taps: same formula)
def smoothing_adjoint(y: torch.Tensor, lengths: Sequence[int], axes: Sequence[int]) -> torch.Tensor:
    """Adjoint of :func:`smoothing`: the boxcar is real and symmetric, so the same sums,
    applied along the axes in reverse order."""
    for length, ax in zip(reversed(list(lengths)), reversed(list(axes))):
        y = _boxcar(y, ax + 1, length)
    return y
