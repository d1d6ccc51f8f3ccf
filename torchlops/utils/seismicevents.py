r"""Synthetic seismic events (PyLops ``pylops.utils.seismicevents`` names and return values).

Each ``*2d``/``*3d`` function places spikes along one traveltime curve per event, with linear
interpolation between the two nearest time samples, and convolves them with a wavelet.
It returns ``(d, dwav)``: the spikes and the data filtered by the wavelet, both float64 tensors
of shape ``(nx, nt)`` (2-D) or ``(ny, nx, nt)`` (3-D). ``x``, ``y``, ``t`` and ``wav`` may be
NumPy arrays or tensors; event parameters are scalars (one event) or sequences.

Notes
-----
For an event of amplitude :math:`a` at (fractional) sample :math:`\tau = (t_{ev} - t_0)/\Delta t`,
with :math:`i = \operatorname{trunc}(\tau)` and :math:`f = \tau - i`:

.. math::
    d[i] \mathrel{+}= a (1 - f),\qquad d[i + 1] \mathrel{+}= a f,

for :math:`0 \le i < n_t + w_c - 1` (:math:`w_c = \lfloor n_w / 2\rfloor`); then
:math:`d_w[n] = \sum_k w[k]\, d[n - k]` (a causal filter), shifted back by :math:`w_c`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["makeaxis", "linear2d", "parabolic2d", "hyperbolic2d", "linear3d", "parabolic3d", "hyperbolic3d"]

F64 = torch.float64

#: an axis, a wavelet or event parameters: a tensor, an array, a sequence or a scalar
ArrayLike = torch.Tensor | np.ndarray | Sequence[float] | float
Events = tuple[torch.Tensor, torch.Tensor]


def _t(v: ArrayLike) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v.detach().to(device="cpu", dtype=torch.promote_types(v.dtype, F64))
    return torch.as_tensor(np.asarray(v, dtype=np.float64 if not np.iscomplexobj(v) else np.complex128))


def _axis(v: ArrayLike, name: str, nmin: int = 0) -> torch.Tensor:
    """A regular axis as a 1-D float64 tensor: a row or column vector is flattened (as PyLops,
    whose arithmetic broadcasts it), anything else with more than one non-unit size is refused."""
    if v is None:
        raise ValueError(f"{name} must be an axis (a 1-D array), got None")
    a = _t(v)
    if sum(n != 1 for n in a.shape) > 1:
        raise ValueError(f"{name} must be a 1-D axis (a row or column vector), got shape {tuple(a.shape)}")
    a = a.reshape(-1)
    if a.numel() < nmin:
        raise ValueError(f"{name} needs at least {nmin} sample{'s' if nmin > 1 else ''} "
                         f"(its sampling is t[1] - t[0]), got {a.numel()}")
    return a


def _events(nev: int | None, **kw: object) -> list[torch.Tensor]:
    """Event parameters as 1-D float64 tensors of one common length."""
    out = [_t(v).reshape(-1) for v in kw.values()]
    n = out[0].numel() if nev is None else nev
    for name, v in zip(kw, out):
        if v.numel() != n:
            raise ValueError(f"{name} must have one value per event ({n}), got {v.numel()}")
    return out


def makeaxis(par: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    r"""Regular axes from a dictionary of origins, samplings and sizes.

    Parameters
    ----------
    par : :obj:`dict`
        ``ox, dx, nx, ot, dt, nt`` and optionally ``oy, dy, ny``.

    Returns
    -------
    t : :obj:`torch.Tensor`
        Time axis, ``ot + dt * arange(nt)``.
    t2 : :obj:`torch.Tensor`
        Symmetric time axis, ``dt * arange(-nt + 1, nt)``.
    x : :obj:`torch.Tensor`
        x axis.
    y : :obj:`torch.Tensor` or :obj:`None`
        y axis (``None`` when ``par`` has no ``oy``).

    Examples
    --------
    >>> from torchlops.utils.seismicevents import makeaxis
    >>> t, t2, x, y = makeaxis({"ox": 0, "dx": 2, "nx": 3, "ot": 0, "dt": 0.5, "nt": 2})
    >>> t2, x, y
    (tensor([-0.5000,  0.0000,  0.5000], dtype=torch.float64), tensor([0., 2., 4.], dtype=torch.float64), None)
    """
    for key in ("ox", "dx", "nx", "ot", "dt", "nt"):
        if key not in par:
            raise ValueError(f"par must hold ox, dx, nx, ot, dt and nt, missing {key!r}")
    x = par["ox"] + torch.arange(par["nx"], dtype=F64) * par["dx"]
    t = par["ot"] + torch.arange(par["nt"], dtype=F64) * par["dt"]
    t2 = torch.arange(-par["nt"] + 1, par["nt"], dtype=F64) * par["dt"]
    y = par["oy"] + torch.arange(par["ny"], dtype=F64) * par["dy"] if "oy" in par else None
    return t, t2, x, y


def _spikes(tev: torch.Tensor, amp: torch.Tensor, t: torch.Tensor, wav: torch.Tensor) -> Events:
    """Spikes at the traveltimes ``tev`` of shape ``(nevents, *space)``, then the wavelet filter."""
    if wav.dim() != 1 or wav.numel() == 0:
        raise ValueError(f"wav must be a non-empty 1-D wavelet, got shape {tuple(wav.shape)}")
    if amp.is_complex():  # (as PyLops: the spikes are real, the imaginary part is dropped)
        warnings.warn("complex amp: its imaginary part is discarded (the spikes are real; use a complex "
                      "wavelet for complex data)", UserWarning, stacklevel=3)
        amp = amp.real
    dt = t[1] - t[0]
    wc = int(wav.numel() / 2)
    nt = t.numel() + wc
    space = tev.shape[1:]
    tau = (tev - t[0]) / dt
    it = tau.to(torch.int64)  # truncation towards zero
    frac = tau - it
    ok = (it >= 0) & (it < nt - 1)
    a = amp.reshape(-1, *([1] * len(space))).expand_as(tau)
    nsp = int(np.prod(space)) if space else 1
    base = (torch.arange(nsp).reshape(space) * nt).expand_as(tau)
    d = torch.zeros(nsp * nt, dtype=F64)
    # d[..., i] += a (1 - f);  d[..., i + 1] += a f
    d.index_put_((base[ok] + it[ok],), (a * (1 - frac))[ok], accumulate=True)
    d.index_put_((base[ok] + it[ok] + 1,), (a * frac)[ok], accumulate=True)
    d = d.reshape(*space, nt)
    dw = d.to(torch.promote_types(F64, wav.dtype))
    L = wav.numel()
    # dwav[..., n] = sum_k wav[k] d[..., n - k]
    dwav = F.conv1d(F.pad(dw.reshape(-1, 1, nt), (L - 1, 0)), wav.flip(0).reshape(1, 1, L).to(dw.dtype))
    dwav = dwav.reshape(*space, nt)[..., wc:]
    return d[..., : nt - wc], dwav


def _velocity(v: ArrayLike, nx: int) -> torch.Tensor:
    """``v`` as ``(1,)`` (one velocity) or ``(nx,)`` (one per trace, as PyLops broadcasts it
    against ``x``)."""
    vt = _t(v).reshape(-1)
    if vt.numel() not in (1, nx):
        raise ValueError(f"v must be one velocity or one per trace (nx = {nx}), got {vt.numel()} values")
    return vt


def linear2d(
    x: ArrayLike, t: ArrayLike, v: ArrayLike, t0: ArrayLike, theta: ArrayLike, amp: ArrayLike, wav: ArrayLike
) -> Events:
    r"""Linear events :math:`t(x) = t_0 + \sin(\theta)\, x / v`.

    Parameters
    ----------
    x, t : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Space and time axes.
    v : :obj:`float` or :obj:`torch.Tensor`
        Propagation velocity: one, or one per trace (``nx`` values), as PyLops.
    t0, theta, amp : :obj:`float` or :obj:`tuple`
        Intercept times, angles (degrees) and amplitudes of the events.
    wav : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Wavelet.

    Returns
    -------
    d : :obj:`torch.Tensor`
        Spikes, ``(nx, nt)``.
    dwav : :obj:`torch.Tensor`
        Data filtered by the wavelet, ``(nx, nt)``.

    Examples
    --------
    >>> import torch
    >>> from torchlops.utils.seismicevents import linear2d
    >>> d, dw = linear2d(torch.arange(3.0), torch.arange(6.0), 1.0, 1.0, 0.0, 1.0, torch.ones(3))
    >>> d[0]
    tensor([0., 1., 0., 0., 0., 0.], dtype=torch.float64)
    """
    x, t, wav = _axis(x, "x"), _axis(t, "t", 2), _t(wav)
    t0, theta, amp = _events(None, t0=t0, theta=theta, amp=amp)
    px = torch.sin(torch.deg2rad(theta))[:, None] / _velocity(v, x.numel())
    return _spikes(t0[:, None] + px * x, amp, t, wav)


def parabolic2d(
    x: ArrayLike, t: ArrayLike, t0: ArrayLike, px: ArrayLike, pxx: ArrayLike, amp: ArrayLike, wav: ArrayLike
) -> Events:
    r"""Parabolic events :math:`t(x) = t_0 + p_x x + p_{xx} x^2`.

    Parameters
    ----------
    x, t : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Space and time axes.
    t0, px, pxx, amp : :obj:`float` or :obj:`tuple`
        Intercept times, slopes, curvatures and amplitudes of the events.
    wav : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Wavelet.

    Returns
    -------
    d, dwav : :obj:`torch.Tensor`
        Spikes and filtered data, ``(nx, nt)``.

    Examples
    --------
    >>> import torch
    >>> from torchlops.utils.seismicevents import parabolic2d
    >>> d, dw = parabolic2d(torch.arange(3.0), torch.arange(9.0), 1.0, 0.0, 1.0, 1.0, torch.ones(3))
    >>> d.nonzero().tolist()
    [[0, 1], [1, 2], [2, 5]]
    """
    x, t, wav = _axis(x, "x"), _axis(t, "t", 2), _t(wav)
    t0, px, pxx, amp = _events(None, t0=t0, px=px, pxx=pxx, amp=amp)
    return _spikes(t0[:, None] + px[:, None] * x + pxx[:, None] * x**2, amp, t, wav)


def hyperbolic2d(
    x: ArrayLike, t: ArrayLike, t0: ArrayLike, vrms: ArrayLike, amp: ArrayLike, wav: ArrayLike
) -> Events:
    r"""Hyperbolic events :math:`t(x) = \sqrt{t_0^2 + x^2 / v_{rms}^2}`.

    Parameters
    ----------
    x, t : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Space and time axes.
    t0, vrms, amp : :obj:`float` or :obj:`tuple`
        Zero-offset times, root-mean-square velocities and amplitudes of the events.
    wav : :obj:`torch.Tensor` or :obj:`numpy.ndarray`
        Wavelet.

    Returns
    -------
    d, dwav : :obj:`torch.Tensor`
        Spikes and filtered data, ``(nx, nt)``.

    Examples
    --------
    >>> import torch
    >>> from torchlops.utils.seismicevents import hyperbolic2d
    >>> d, dw = hyperbolic2d(torch.tensor([0.0, 4.0]), torch.arange(9.0), 3.0, 1.0, 1.0, torch.ones(3))
    >>> d.nonzero().tolist()
    [[0, 3], [1, 5]]
    """
    x, t, wav = _axis(x, "x"), _axis(t, "t", 2), _t(wav)
    t0, vrms, amp = _events(None, t0=t0, vrms=vrms, amp=amp)
    return _spikes(torch.sqrt(t0[:, None] ** 2 + x**2 / vrms[:, None] ** 2), amp, t, wav)


def linear3d(
    x: ArrayLike, y: ArrayLike, t: ArrayLike, v: ArrayLike, t0: ArrayLike, theta: ArrayLike, phi: ArrayLike,
    amp: ArrayLike, wav: ArrayLike,
) -> Events:
    r"""Linear 3-D events :math:`t = t_0 + p_x x + p_y y` with
    :math:`p_x = \sin\theta\cos\phi / v`, :math:`p_y = \sin\theta\sin\phi / v`.

    Returns ``(d, dwav)`` of shape ``(ny, nx, nt)`` (see :func:`linear2d`).
    """
    x, y, t, wav = _axis(x, "x"), _axis(y, "y"), _axis(t, "t", 2), _t(wav)
    t0, theta, phi, amp = _events(None, t0=t0, theta=theta, phi=phi, amp=amp)
    th, ph, v = torch.deg2rad(theta), torch.deg2rad(phi), _velocity(v, x.numel())
    # (nevents, 1, nx or 1): a velocity per trace varies along x
    px = (torch.sin(th) * torch.cos(ph))[:, None, None] / v
    py = (torch.sin(th) * torch.sin(ph))[:, None, None] / v
    return _spikes(t0[:, None, None] + px * x + py * y[:, None], amp, t, wav)


def parabolic3d(
    x: ArrayLike, y: ArrayLike, t: ArrayLike, t0: ArrayLike, px: ArrayLike, py: ArrayLike, pxx: ArrayLike,
    pyy: ArrayLike, amp: ArrayLike, wav: ArrayLike,
) -> Events:
    r"""Parabolic 3-D events :math:`t = t_0 + p_x x + p_y y + p_{xx} x^2 + p_{yy} y^2`
    (``(ny, nx, nt)``, see :func:`linear2d`)."""
    x, y, t, wav = _axis(x, "x"), _axis(y, "y"), _axis(t, "t", 2), _t(wav)
    t0, px, py, pxx, pyy, amp = _events(None, t0=t0, px=px, py=py, pxx=pxx, pyy=pyy, amp=amp)
    e = (slice(None), None, None)
    tev = t0[e] + px[e] * x + py[e] * y[:, None] + pxx[e] * x**2 + pyy[e] * y[:, None] ** 2
    return _spikes(tev, amp, t, wav)


def hyperbolic3d(
    x: ArrayLike, y: ArrayLike, t: ArrayLike, t0: ArrayLike, vrms_x: ArrayLike, vrms_y: ArrayLike,
    amp: ArrayLike, wav: ArrayLike,
) -> Events:
    r"""Hyperbolic 3-D events :math:`t = \sqrt{t_0^2 + x^2/v_x^2 + y^2/v_y^2}`
    (``(ny, nx, nt)``, see :func:`linear2d`)."""
    x, y, t, wav = _axis(x, "x"), _axis(y, "y"), _axis(t, "t", 2), _t(wav)
    t0, vx, vy, amp = _events(None, t0=t0, vrms_x=vrms_x, vrms_y=vrms_y, amp=amp)
    e = (slice(None), None, None)
    tev = torch.sqrt(t0[e] ** 2 + x**2 / vx[e] ** 2 + y[:, None] ** 2 / vy[e] ** 2)
    return _spikes(tev, amp, t, wav)
