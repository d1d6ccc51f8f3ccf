r"""Wavelets (PyLops ``pylops.utils.wavelets`` names and return values).

Each function takes the positive part of a time axis ``t`` (starting at zero, an odd number
of samples; an even one loses its last sample with a warning), builds the symmetric axis
:math:`[-t_{n-1}, \ldots, -t_1, t_0, \ldots, t_{n-1}]` and returns ``(w, t, wcenter)``: the
wavelet, the symmetric axis and the index of the wavelet's peak. ``t`` may be a NumPy
array (computations in float64) or a tensor (its dtype and device are kept).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["gaussian", "klauder", "ormsby", "ricker"]


def _symmetric_axis(t: torch.Tensor | np.ndarray | Sequence[float]) -> torch.Tensor:
    """The tensor ``[-t[:0:-1], t]`` from ``t`` (cropped to an odd length)."""
    if isinstance(t, torch.Tensor):
        tt = t if (t.is_floating_point() or t.is_complex()) else t.to(torch.float64)
    else:
        tt = torch.as_tensor(np.asarray(t, dtype=np.float64))
    if tt.dim() != 1 or tt.numel() == 0:
        raise ValueError(f"t must be a non-empty 1-D time axis, got shape {tuple(tt.shape)}")
    if tt.numel() % 2 == 0:
        tt = tt[:-1]
        warnings.warn("One sample removed from time axis...", stacklevel=3)
    return torch.cat([-tt[1:].flip(0), tt])


def _finish(w: torch.Tensor, t: torch.Tensor, taper: Callable | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    wcenter = int(torch.argmax(w.abs()))
    if taper is not None:
        tp = taper(len(t))
        tp = tp if isinstance(tp, torch.Tensor) else torch.as_tensor(np.asarray(tp))
        if tuple(tp.shape) != (len(t),):
            raise ValueError(f"taper(n) must return n = {len(t)} weights, got shape {tuple(tp.shape)}")
        w = w * tp.to(dtype=w.dtype, device=w.device)
    return w, t, wcenter


def ricker(
    t: torch.Tensor | np.ndarray, f0: float = 10, taper: Callable | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    r"""Ricker wavelet of central frequency ``f0``.

    Parameters
    ----------
    t : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Time axis (positive part, including zero).
    f0 : :obj:`float`, optional
        Central frequency.
    taper : :obj:`callable`, optional
        Function of the window length returning a taper to apply to the wavelet.

    Returns
    -------
    w : :obj:`torch.Tensor`
        Wavelet.
    t : :obj:`torch.Tensor`
        Symmetric time axis.
    wcenter : :obj:`int`
        Index of the wavelet's peak.

    Notes
    -----
    .. math:: w(t) = \bigl(1 - 2 (\pi f_0 t)^2\bigr)\, e^{-(\pi f_0 t)^2}

    Examples
    --------
    >>> import numpy as np
    >>> from torchlops.utils.wavelets import ricker
    >>> w, t, wc = ricker(np.arange(5) * 0.004, f0=20)
    >>> w.shape, wc
    (torch.Size([9]), 4)
    """
    ts = _symmetric_axis(t)
    a = (torch.pi * f0 * ts) ** 2
    return _finish((1 - 2 * a) * torch.exp(-a), ts, taper)


def gaussian(t: torch.Tensor | np.ndarray, std: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, int]:
    r"""Gaussian wavelet of standard deviation ``std`` (in samples).

    Parameters
    ----------
    t : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Time axis (positive part, including zero).
    std : :obj:`float`, optional
        Standard deviation, in samples.

    Returns
    -------
    w : :obj:`torch.Tensor`
        Wavelet.
    t : :obj:`torch.Tensor`
        Symmetric time axis.
    wcenter : :obj:`int`
        Index of the wavelet's peak.

    Notes
    -----
    With :math:`N` samples, :math:`w_i = e^{-(i - (N-1)/2)^2 / (2\sigma^2)}`.

    Examples
    --------
    >>> import numpy as np
    >>> from torchlops.utils.wavelets import gaussian
    >>> w, t, wc = gaussian(np.arange(3), std=1.0)
    >>> w
    tensor([0.1353, 0.6065, 1.0000, 0.6065, 0.1353], dtype=torch.float64)
    """
    ts = _symmetric_axis(t)
    n = torch.arange(ts.numel(), dtype=ts.dtype, device=ts.device) - (ts.numel() - 1) / 2.0
    w = torch.exp(-(n**2) / (2 * std * std))
    return _finish(w, ts, None)


def klauder(
    t: torch.Tensor | np.ndarray, f: Sequence[float] = (5.0, 20.0), taper: Callable | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    r"""Klauder wavelet: the autocorrelation of a linear sweep from ``f[0]`` to ``f[1]``.

    Parameters
    ----------
    t : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Time axis (positive part, including zero).
    f : :obj:`tuple`, optional
        Frequency sweep ``(f1, f2)``.
    taper : :obj:`callable`, optional
        Function of the window length returning a taper to apply to the wavelet.

    Returns
    -------
    w : :obj:`torch.Tensor`
        Wavelet (peak normalised to one).
    t : :obj:`torch.Tensor`
        Symmetric time axis.
    wcenter : :obj:`int`
        Index of the wavelet's peak.

    Notes
    -----
    The sweep :math:`c(t) = \cos 2\pi\bigl(f_c t + \tfrac{f_2 - f_c}{2 t_1} t^2\bigr)`, with
    :math:`f_c = (f_1 + f_2)/2` and :math:`t_1` the last time, is correlated with itself
    (``"same"`` length, one pass over the lags) and normalised by its maximum.

    Examples
    --------
    >>> import numpy as np
    >>> from torchlops.utils.wavelets import klauder
    >>> w, t, wc = klauder(np.arange(51) * 0.004, f=(5.0, 40.0))
    >>> float(w[wc])
    1.0
    """
    ts = _symmetric_axis(t)
    if ts.numel() < 3 or float(ts[-1]) == 0.0:  # (the sweep is defined over a time span)
        raise ValueError(f"klauder needs a time axis of at least 3 samples spanning a positive time, got {len(t)}")
    f1, f2 = f
    fc = f1 + (f2 - f1) / 2.0
    t1 = ts[-1]
    c = torch.cos(2 * torch.pi * (fc * ts + 0.5 * (f2 - fc) / t1 * ts * ts))
    n = c.numel()
    # w[k] = sum_j c[k - (n - 1) / 2 + j] c[j]
    w = F.conv1d(c[None, None], c[None, None], padding=(n - 1) // 2)[0, 0]
    w = w / w.max()
    return _finish(w, ts, taper)


def ormsby(
    t: torch.Tensor | np.ndarray, f: Sequence[float] = (5.0, 10.0, 45.0, 50.0), taper: Callable | None = None
) -> tuple[torch.Tensor, torch.Tensor, int]:
    r"""Ormsby wavelet: a trapezoidal spectrum with corner frequencies ``f``.

    Parameters
    ----------
    t : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Time axis (positive part, including zero).
    f : :obj:`tuple`, optional
        Corner frequencies ``(f1, f2, f3, f4)``.
    taper : :obj:`callable`, optional
        Function of the window length returning a taper to apply to the wavelet.

    Returns
    -------
    w : :obj:`torch.Tensor`
        Wavelet (peak normalised to one).
    t : :obj:`torch.Tensor`
        Symmetric time axis.
    wcenter : :obj:`int`
        Index of the wavelet's peak.

    Notes
    -----
    With :math:`g(f) = (\pi f)^2 \operatorname{sinc}^2(f t)`,

    .. math::
        w(t) \propto \frac{g(f_4) - g(f_3)}{\pi (f_4 - f_3)} - \frac{g(f_2) - g(f_1)}{\pi (f_2 - f_1)}.

    Examples
    --------
    >>> import numpy as np
    >>> from torchlops.utils.wavelets import ormsby
    >>> w, t, wc = ormsby(np.arange(21) * 0.004)
    >>> wc
    20
    """
    ts = _symmetric_axis(t)
    f1, f2, f3, f4 = f

    def g(fr: float) -> torch.Tensor:
        return torch.sinc(fr * ts) ** 2 * (torch.pi * fr) ** 2

    pf43 = (torch.pi * f4) - (torch.pi * f3)
    pf21 = (torch.pi * f2) - (torch.pi * f1)
    w = g(f4) / pf43 - g(f3) / pf43 - g(f2) / pf21 + g(f1) / pf21
    w = w / w.max()
    return _finish(w, ts, taper)
