r"""Tapers: unit masks whose edges decay smoothly (PyLops ``pylops.utils.tapers`` names).

Every function returns a float64 :class:`torch.Tensor` (pass ``dtype`` to get another one)
with the same values as its PyLops counterpart; an unknown ``tapertype`` is a ValueError
(PyLops returns ones).

Notes
-----
With :math:`n_t` taper samples at each edge, the 1-D masks are

.. math::
    w^{\text{hanning}}_i = \tfrac12 - \tfrac12 \cos\frac{2\pi i}{2 n_t - 2},\qquad
    w^{\text{cosine}}_i = \Bigl[\tfrac12\bigl(\cos\frac{\pi (i - n_t + 1)}{n_t - 1} + 1\bigr)\Bigr]^p,

for :math:`i = 0, \ldots, n_t - 1`, then ones, then the first part reversed
(:math:`p = 1` for ``cosine``, 2 for ``cosinesquare``, 1/2 for ``cosinesqrt``).
Multi-dimensional tapers are outer products of 1-D ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from torchlops.utils.checks import as_int, to_torch_dtype
from torchlops.utils.typing import DTypeLike, InputDimsLike

__all__ = ["hanningtaper", "cosinetaper", "taper", "taper2d", "taper3d", "tapernd"]

TAPERTYPES = ("hanning", "cosine", "cosinesquare", "cosinesqrt")


def _check(nmask: int, ntap: int) -> tuple[int, int]:
    nmask, ntap = as_int(nmask, "nmask"), as_int(ntap, "ntap")  # (a fraction is an error, not truncated)
    if nmask < 0 or ntap < 0:
        raise ValueError(f"nmask and ntap must be non-negative, got nmask={nmask}, ntap={ntap}")
    if 2 * ntap > nmask:
        raise ValueError(f"ntap={ntap} must be smaller or equal than {nmask // 2} (nmask={nmask})")
    return nmask, ntap


def _assemble(start: torch.Tensor, nmask: int) -> torch.Tensor:
    """``[start, ones, reversed(start)]`` of total length ``nmask``."""
    ones = torch.ones(nmask - 2 * start.numel(), dtype=start.dtype)
    return torch.cat([start, ones, start.flip(0)])


def _cast(w: torch.Tensor, dtype: DTypeLike) -> torch.Tensor:
    return w if dtype is None else w.to(to_torch_dtype(dtype))


def hanningtaper(nmask: int, ntap: int, dtype: DTypeLike = None) -> torch.Tensor:
    r"""1-D Hanning taper: a unit mask of ``nmask`` samples with ``ntap`` tapered samples at each edge.

    Parameters
    ----------
    nmask : :obj:`int`
        Number of samples of the mask.
    ntap : :obj:`int`
        Number of tapered samples at each edge (at most ``nmask // 2``).
    dtype : :obj:`torch.dtype`, optional
        Output dtype (float64 by default).

    Returns
    -------
    taper : :obj:`torch.Tensor`
        The ``(nmask,)`` taper.

    Examples
    --------
    >>> from torchlops.utils.tapers import hanningtaper
    >>> hanningtaper(6, 2)
    tensor([0., 1., 1., 1., 1., 0.], dtype=torch.float64)
    """
    nmask, ntap = _check(nmask, ntap)
    m = 2 * ntap - 1
    if m > 1:
        # w[i] = 1/2 + 1/2 cos(pi (2 i - m + 1) / (m - 1)), the symmetric Hann window of m samples
        n = torch.arange(1 - m, m, 2, dtype=torch.float64)
        win = 0.5 + 0.5 * torch.cos(torch.pi * n / (m - 1))
    else:
        win = torch.ones(max(m, 0), dtype=torch.float64)
    return _cast(_assemble(win[:ntap], nmask), dtype)


def cosinetaper(
    nmask: int, ntap: int, square: bool = False, exponent: float | None = None, dtype: DTypeLike = None
) -> torch.Tensor:
    r"""1-D cosine (or cosine-square) taper.

    Parameters
    ----------
    nmask : :obj:`int`
        Number of samples of the mask.
    ntap : :obj:`int`
        Number of tapered samples at each edge (at most ``nmask // 2``; 1 means no taper).
    square : :obj:`bool`, optional
        Cosine-square (``True``) or cosine (``False``) taper.
    exponent : :obj:`float`, optional
        Exponent of the cosine taper; takes precedence over ``square``.
    dtype : :obj:`torch.dtype`, optional
        Output dtype (float64 by default).

    Returns
    -------
    taper : :obj:`torch.Tensor`
        The ``(nmask,)`` taper.

    Examples
    --------
    >>> from torchlops.utils.tapers import cosinetaper
    >>> cosinetaper(7, 3).tolist()
    [0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0]
    """
    nmask, ntap = _check(nmask, 0 if as_int(ntap, "ntap") == 1 else ntap)  # 1: no taper (so any nmask)
    if exponent is None:
        exponent = 2 if square else 1
    if ntap > 0:
        half = ntap - 1
        i = torch.arange(ntap, dtype=torch.float64)
        start = (0.5 * (torch.cos((i - half) * torch.pi / half) + 1.0)) ** exponent
    else:
        start = torch.zeros(0, dtype=torch.float64)
    return _cast(_assemble(start, nmask), dtype)


def taper(nmask: int, ntap: int, tapertype: str | None, dtype: DTypeLike = None) -> torch.Tensor:
    r"""1-D taper of the chosen type.

    Parameters
    ----------
    nmask : :obj:`int`
        Number of samples of the mask.
    ntap : :obj:`int`
        Number of tapered samples at each edge.
    tapertype : :obj:`str` or :obj:`None`
        ``"hanning"``, ``"cosine"``, ``"cosinesquare"``, ``"cosinesqrt"`` or ``None`` (ones).
    dtype : :obj:`torch.dtype`, optional
        Output dtype (float64 by default).

    Returns
    -------
    taper : :obj:`torch.Tensor`
        The ``(nmask,)`` taper.

    Examples
    --------
    >>> from torchlops.utils.tapers import taper
    >>> taper(5, 2, None)
    tensor([1., 1., 1., 1., 1.], dtype=torch.float64)
    """
    if tapertype is None:
        return _cast(torch.ones(_check(nmask, 0)[0], dtype=torch.float64), dtype)
    if tapertype == "hanning":
        return hanningtaper(nmask, ntap, dtype)
    if tapertype == "cosine":
        return cosinetaper(nmask, ntap, False, dtype=dtype)
    if tapertype == "cosinesquare":
        return cosinetaper(nmask, ntap, True, dtype=dtype)
    if tapertype == "cosinesqrt":
        return cosinetaper(nmask, ntap, False, 0.5, dtype=dtype)
    raise ValueError(f"tapertype must be one of {TAPERTYPES} or None, got {tapertype!r}")


def taper2d(
    nt: int, nmask: int, ntap: int | Sequence[int], tapertype: str | None = "hanning", dtype: DTypeLike = None
) -> torch.Tensor:
    r"""2-D taper of shape ``(nmask, nt)``, tapered along the first (and, when ``ntap`` is a pair, the
    second) dimension.

    Parameters
    ----------
    nt : :obj:`int`
        Number of samples along the second dimension.
    nmask : :obj:`int`
        Number of samples along the first dimension.
    ntap : :obj:`int` or :obj:`tuple`
        Tapered samples along the first dimension, or along both.
    tapertype : :obj:`str` or :obj:`None`, optional
        Taper type (see :func:`taper`).
    dtype : :obj:`torch.dtype`, optional
        Output dtype (float64 by default).

    Returns
    -------
    taper : :obj:`torch.Tensor`
        The ``(nmask, nt)`` taper.

    Examples
    --------
    >>> from torchlops.utils.tapers import taper2d
    >>> taper2d(3, 4, 1).shape
    torch.Size([4, 3])
    """
    if isinstance(ntap, (list, tuple)):
        if len(ntap) < 2:  # (more: the first two, as PyLops)
            raise ValueError(f"taper2d: a sequence ntap must hold two sizes (both dimensions), got {ntap!r}")
        # w[i, j] = w0[i] w1[j]
        out = torch.outer(taper(nmask, ntap[0], tapertype), taper(nt, ntap[1], tapertype))
    else:
        t = taper(nmask, ntap, tapertype)
        out = t[:, None].expand(t.shape[0], _check(nt, 0)[0]).clone()
    return _cast(out, dtype)


def taper3d(
    nt: int, nmask: Sequence[int], ntap: Sequence[int], tapertype: str | None = "hanning", dtype: DTypeLike = None
) -> torch.Tensor:
    r"""3-D taper of shape ``(nmask[0], nmask[1], nt)``, tapered along the first two dimensions.

    Parameters
    ----------
    nt : :obj:`int`
        Number of samples along the third dimension.
    nmask : :obj:`tuple`
        Number of samples along the first two dimensions.
    ntap : :obj:`tuple`
        Tapered samples along the first two dimensions.
    tapertype : :obj:`str` or :obj:`None`, optional
        Taper type (see :func:`taper`).
    dtype : :obj:`torch.dtype`, optional
        Output dtype (float64 by default).

    Returns
    -------
    taper : :obj:`torch.Tensor`
        The ``(nmask[0], nmask[1], nt)`` taper.

    Examples
    --------
    >>> from torchlops.utils.tapers import taper3d
    >>> taper3d(5, (4, 6), (1, 2)).shape
    torch.Size([4, 6, 5])
    """
    for name, v in (("nmask", nmask), ("ntap", ntap)):
        if getattr(v, "__len__", None) is None or len(v) < 2:  # (more: the first two, as PyLops)
            raise ValueError(f"taper3d: {name} must hold two sizes (the first two dimensions), got {v!r}")
    tyx = torch.outer(taper(nmask[0], ntap[0], tapertype), taper(nmask[1], ntap[1], tapertype))
    return _cast(tyx[:, :, None].expand(tyx.shape[0], tyx.shape[1], _check(nt, 0)[0]).clone(), dtype)


def tapernd(
    nmask: InputDimsLike, ntap: InputDimsLike, tapertype: str | None = "hanning", dtype: DTypeLike = None
) -> torch.Tensor:
    r"""N-D taper of shape ``nmask``, tapered along every dimension.

    Parameters
    ----------
    nmask : :obj:`tuple`
        Number of samples along every dimension.
    ntap : :obj:`tuple`
        Tapered samples along every dimension (same length as ``nmask``).
    tapertype : :obj:`str` or :obj:`None`, optional
        Taper type (see :func:`taper`).
    dtype : :obj:`torch.dtype`, optional
        Output dtype (float64 by default).

    Returns
    -------
    taper : :obj:`torch.Tensor`
        The taper, of shape ``nmask``.

    Examples
    --------
    >>> from torchlops.utils.tapers import tapernd
    >>> tapernd((4, 5, 6), (1, 2, 2)).shape
    torch.Size([4, 5, 6])
    """
    nmask = (nmask,) if isinstance(nmask, int) else tuple(nmask)
    ntap = (ntap,) if isinstance(ntap, int) else tuple(ntap)
    if len(nmask) != len(ntap):
        raise ValueError(f"nmask and ntap must have the same length, got {len(nmask)} and {len(ntap)}")
    if not nmask:
        raise ValueError("tapernd needs at least one dimension, got nmask=()")
    tprs = [taper(nm, nt, tapertype) for nm, nt in zip(nmask, ntap)]
    # w[i0, i1, ...] = w0[i0] (w1[i1] (w2[i2] ...))
    out = tprs[-1]
    for t in reversed(tprs[:-1]):
        out = t.reshape(-1, *([1] * out.dim())) * out
    return _cast(out, dtype)
