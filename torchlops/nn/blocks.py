r"""Small convolutional building blocks (1-D, 2-D or 3-D by ``ndim``) for the unrolled networks."""

from __future__ import annotations

import numbers

import torch
from torch import nn

from torchlops.nn._common import positive_int

__all__ = ["conv_block", "ConvDenoiser"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def _int(value: object, name: str) -> int:
    return positive_int(value, name, "an int >= 1")


def _ndim(ndim: object) -> int:
    """``ndim`` as 1, 2 or 3 (ints and NumPy ints; not bools or fractions)."""
    if isinstance(ndim, bool) or not isinstance(ndim, numbers.Integral) or int(ndim) not in _CONV:
        raise ValueError(f"ndim must be 1, 2 or 3 (the number of spatial dims), got {ndim!r}")
    return int(ndim)


def _conv(ndim: int) -> type[nn.Module]:
    return _CONV[_ndim(ndim)]


def conv_block(in_channels: int, out_channels: int, ndim: int, hidden: int = 32, depth: int = 3,
               kernel_size: int = 3, zero_init: bool = False) -> nn.Sequential:
    r"""``depth`` convolutions (``same`` padding) with PReLU between them.

    Maps ``(B, in_channels, *spatial)`` to ``(B, out_channels, *spatial)``; ``ndim`` is the
    number of spatial dims (``Conv1d`` / ``Conv2d`` / ``Conv3d``). With ``zero_init`` the last
    layer starts at zero, so a residual block built from it starts as the identity. This is the
    default factory of :class:`torchlops.nn.LearnedPrimalDual`.

    Examples
    --------
    >>> import torch
    >>> from torchlops.nn import conv_block
    >>> conv_block(3, 2, ndim=2, hidden=8)(torch.randn(4, 3, 10, 12)).shape
    torch.Size([4, 2, 10, 12])
    """
    depth, hidden, kernel_size = _int(depth, "depth"), _int(hidden, "hidden"), _int(kernel_size, "kernel_size")
    in_channels, out_channels = _int(in_channels, "in_channels"), _int(out_channels, "out_channels")
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd (same padding), got {kernel_size}")
    conv = _conv(ndim)
    chans = [in_channels] + [hidden] * (depth - 1) + [out_channels]
    layers: list[nn.Module] = []
    for i in range(depth):
        layers.append(conv(chans[i], chans[i + 1], kernel_size, padding=kernel_size // 2))
        if i < depth - 1:
            layers.append(nn.PReLU(chans[i + 1]))
    if zero_init:
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


class ConvDenoiser(nn.Module):
    r"""Residual CNN denoiser on single-channel signals: :math:`\mathbf{x} + f_\theta(\mathbf{x})`.

    Parameters
    ----------
    ndim : :obj:`int`
        Number of spatial dims of the model (``len(Op.dims)``).
    hidden, depth, kernel_size : :obj:`int`, optional
        Width, number of convolutions and kernel size of :func:`conv_block`.
    dtype : :obj:`torch.dtype`, optional
        dtype of the convolutions (default: torch's default dtype; ``.double()`` and the like
        move it later too). Match the operator's: a float64 operator needs float64 here.

    Notes
    -----
    Input and output are ``(B, *spatial)`` (no channel dim), so it can serve as the proximal
    step of :class:`torchlops.nn.UnrolledProximalGradient` or the denoiser of a MoDL network.
    It starts as the identity (the last convolution is zero). Real inputs only.

    Examples
    --------
    >>> import torch
    >>> from torchlops.nn import ConvDenoiser
    >>> d = ConvDenoiser(ndim=1, hidden=8)
    >>> x = torch.randn(2, 50)
    >>> torch.equal(d(x), x)
    True
    """

    def __init__(self, ndim: int, hidden: int = 32, depth: int = 3, kernel_size: int = 3,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.ndim = _ndim(ndim)
        self.net = conv_block(1, 1, self.ndim, hidden=hidden, depth=depth, kernel_size=kernel_size,
                              zero_init=True)
        if dtype is not None:
            self.net.to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < self.ndim + 1:
            raise ValueError(f"expected input (B, *spatial) with {self.ndim} spatial dims, got {tuple(x.shape)}")
        lead = x.shape[: x.dim() - self.ndim]
        xb = x.reshape(-1, 1, *x.shape[x.dim() - self.ndim:])
        return x + self.net(xb).reshape(*lead, *x.shape[x.dim() - self.ndim:])
