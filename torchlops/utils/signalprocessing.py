"""Dense convolution matrices (PyLops ``pylops.utils.signalprocessing`` names) as torch tensors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from torchlops.utils.checks import as_int, as_tensor
from torchlops.utils.typing import TensorLike

__all__ = ["convmtx", "nonstationary_convmtx"]


def _nonneg_int(v: int, name: str) -> int:
    v = as_int(v, name)
    if v < 0:
        raise ValueError(f"{name} must be non-negative, got {v}")
    return v


def convmtx(h: TensorLike, n: int, offset: int = 0, sparse: bool = False) -> torch.Tensor:
    r"""Convolution matrix: ``C @ x`` is the convolution of ``h`` (centred on ``offset``) with ``x``.

    Parameters
    ----------
    h : :obj:`torch.Tensor`
        1-dimensional filter of ``nh`` samples.
    n : :obj:`int`
        Number of columns (length of the signal).
    offset : :obj:`int`, optional
        Index of the centre of the filter: the rows start at row ``offset`` of the full
        convolution matrix.
    sparse : :obj:`bool`, optional
        Return a sparse COO tensor (``True``; PyLops: a ``scipy.sparse`` matrix) instead of a
        dense one (the default). :class:`torchlops.MatrixMult` takes either.

    Returns
    -------
    C : :obj:`torch.Tensor`
        ``(min(nh + n - 1, 2 nh + n - 2 - offset), n)`` matrix with :math:`C_{r m} = h[r + \text{offset} - m]`
        (zero outside ``h``): MATLAB's ``convmtx`` (``mode='full'``) for ``offset=0``, and
        ``mode='same'`` after keeping the first ``n`` rows for ``offset=nh // 2``. As PyLops'
        dense ``convmtx`` (without its FutureWarning); differentiable in ``h``.

    Examples
    --------
    >>> import torch
    >>> from torchlops.utils.signalprocessing import convmtx
    >>> convmtx(torch.tensor([1.0, 2.0]), 3)
    tensor([[1., 0., 0.],
            [2., 1., 0.],
            [0., 2., 1.],
            [0., 0., 2.]])
    """
    h = as_tensor(h, "h")
    if h.dim() != 1 or h.numel() == 0:
        raise ValueError(f"h must be a non-empty 1-D filter, got shape {tuple(h.shape)}")
    n = _nonneg_int(n, "n")
    offset = _nonneg_int(offset, "offset")
    nh = h.shape[0]
    rows = max(min(nh + n - 1, 2 * nh + n - 2 - offset), 0)
    r = torch.arange(rows, device=h.device)[:, None] + offset
    k = r - torch.arange(n, device=h.device)[None, :]
    inside = (k >= 0) & (k < nh)
    # C[r, m] = h[r + offset - m]
    C = torch.where(inside, h[k.clamp(0, max(nh - 1, 0))], torch.zeros((), dtype=h.dtype, device=h.device))
    return _sparse_or_dense(C, sparse)


def _sparse_or_dense(C: torch.Tensor, sparse: bool) -> torch.Tensor:
    if not isinstance(sparse, (bool, np.bool_)):
        raise TypeError(f"sparse must be a bool, got {sparse!r}")
    return C.to_sparse() if sparse else C


def nonstationary_convmtx(H: TensorLike, n: int, hc: int = 0, pad: Sequence[int] = (0, 0),
                          sparse: bool = False) -> torch.Tensor:
    r"""Convolution matrix from a bank of filters (one filter per column).

    Parameters
    ----------
    H : :obj:`torch.Tensor`
        Filters ``(nfilt, nh)``; filter ``i`` is the response of model sample ``i``.
    n : :obj:`int`
        Number of rows (length of the output signal).
    hc : :obj:`int`, optional
        Index of the centre of the first filter (at least ``-pad[0]``).
    pad : :obj:`tuple`, optional
        Zeros added before and after every filter (to avoid wrap-around).
    sparse : :obj:`bool`, optional
        Return a sparse COO tensor (``True``; PyLops: a ``scipy.sparse`` matrix) instead of a
        dense one (the default).

    Returns
    -------
    C : :obj:`torch.Tensor`
        Matrix with :math:`C_{r i} = \tilde{H}[i, (r + p_0 + h_c - i) \bmod L]`, :math:`\tilde{H}`
        the padded filters of length :math:`L = n_h + p_0 + p_1`, for
        ``r < min(n, L - p0 - hc)`` (PyLops' ``nonstationary_convmtx``, rows of the rolled
        filters, wrap-around included). Differentiable in ``H``.

    Examples
    --------
    >>> import torch
    >>> from torchlops.utils.signalprocessing import nonstationary_convmtx
    >>> nonstationary_convmtx(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]), 2, hc=1, pad=(1, 1))
    tensor([[2., 4.],
            [3., 5.]])
    """
    H = as_tensor(H, "H")
    if H.dim() != 2:
        raise ValueError(f"H must be 2-dimensional (filters, taps), got shape {tuple(H.shape)}")
    n = _nonneg_int(n, "n")
    try:
        p0, p1 = (_nonneg_int(int(p), "pad") for p in pad)
    except (TypeError, ValueError) as err:
        raise ValueError(f"pad must be two non-negative ints, got {pad!r}") from err
    # (as PyLops, hc may reach back into the leading padding: the first row is sample p0 + hc)
    hc = as_int(hc, "hc")
    if hc + p0 < 0:
        raise ValueError(f"hc must be at least -pad[0] = {-p0}, got {hc}")
    nf, nh = H.shape
    L = nh + p0 + p1
    Hp = torch.nn.functional.pad(H, (p0, p1))
    rows = max(min(n, L - p0 - hc), 0)
    r = torch.arange(rows, device=H.device)[:, None]
    i = torch.arange(nf, device=H.device)[None, :]
    # C[r, i] = Hp[i, (r + p0 + hc - i) mod L]
    return _sparse_or_dense(Hp[i.expand(rows, nf), (r + p0 + hc - i) % L], sparse)
