r"""Forward/adjoint pairs of the (stationary and non-stationary) convolution operators.

Every function acts on tensors with ONE leading batch dimension (``(B, *dims)`` models,
``(B, *dimsd)`` data); ``axes`` count the operator's dimensions (tensor axis ``a + 1``).

Stationary convolution along the axes :math:`a_1 \dots a_k` with a filter ``h`` of
shape ``(n_{h,1}, ..., n_{h,k})`` and offsets ``o`` (PyLops conventions) is

.. math::
    y[\mathbf{i}] = \sum_{\mathbf{j}} h[\mathbf{j}]\, x[\mathbf{i} + \mathbf{o} - \mathbf{j}],
    \qquad
    x[\mathbf{m}] = \sum_{\mathbf{j}} \overline{h[\mathbf{j}]}\, y[\mathbf{m} - \mathbf{o} + \mathbf{j}],

with zeros outside the arrays, i.e. the full linear convolution read from sample ``o``.
Three engines compute it: ``direct`` (one multiply-add pass over the zero-padded data
per filter tap; ``torch.nn.functional.conv1d`` was measured 10-40x slower on CPU for a
single channel, see ``benchmarks/bench_convolve.py``) and ``fft`` (zero-padded ``rfftn``/``fftn``, so
the product of spectra is the linear, not circular, convolution) and ``overlapadd``
(FFTs of blocks of about ``4 nh`` samples whose overlapping tails are added); ``auto-fft`` picks
one of the last two per call (:func:`fft_or_overlap_add`).

Filter spectra: the FFT engines take ``keep``, a callable ``keep(h, build, key)`` that returns
``build()`` (the spectrum of the filter ``h`` padded to the transform's size) or the value it
returned before for a filter of the same values and ``key``
(:meth:`torchlops.LinearOperator._kept`): an operator applied again, as in a solver, transforms
only its input and output then, not its filter too (which, padded to the size of the data
along the convolved axes, cost as much as the input's transform for one image).

Per-sample filters: ``h`` of shape ``(Bh, *hshape)`` with ``batched=True`` applies
filter ``b mod Bh`` to sample ``b`` of the flattened batch (whose size must be a multiple
of ``Bh``): the filters' batch matches the trailing batch dims of the input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from torchlops.functional.basic import grad_like, promoted

__all__ = [
    "convolve",
    "convolve_adjoint",
    "nonstationary_convolve",
    "nonstationary_convolve_adjoint",
    "nonstationary_filters",
    "nonstationary_filters_adjoint",
    "interpolation_weights",
    "next_fast_len",
    "fft_or_overlap_add",
    "convolve_filter_grad",
    "convolve_filter_vjp",
]


#: ``keep(h, build, key)``: ``build()``, or its earlier value for a filter ``h`` of the same
#: values and the same ``key`` (see the module's notes)
Keep = Callable[[torch.Tensor, Callable[[], torch.Tensor], Any], torch.Tensor]


#: smallest filter spectrum (samples) kept through ``keep``: a smaller one costs less to build
#: than a lookup (about 5 us)
_KEEP_MIN = 8192

_FAST_LEN: dict[int, int] = {}
#: lengths above this are rounded to 5-smooth multiples of 8 (see :func:`next_fast_len`)
_FAST_LEN_8 = 1024


def next_fast_len(n: int) -> int:
    """Smallest even 5-smooth integer (factors 2, 3, 5 only) not smaller than ``n``, a multiple
    of 8 above :data:`_FAST_LEN_8` (``n`` itself for ``n <= 2``). Memoised: operators ask for
    the same few lengths on every application. Measured (torch 2.13 CPU, 1 thread, real FFT
    forward and back, 16 to 256 signals): odd lengths took 2-3x the time of the next even one
    (625 against 640); above about a thousand samples a multiple of 8 took 0.62-1.07 (median 0.74)
    of the time of the smallest even length where they differ (such as 33750 or
    67500 = 2^2 3^3 5^4 against 34560 and 69120). Below, the larger padding of the rule costs
    more than it saves in 2-D and 3-D, where every axis's padding multiplies the others'
    transforms (8 x 8 x 8, a 3 x 3 x 3 filter: 2.9x the time)."""
    n = max(int(n), 1)
    if n <= 2:
        return n
    hit = _FAST_LEN.get(n)
    if hit is not None:
        return hit
    step = 8 if n > _FAST_LEN_8 else 2
    m = -(-n // step) * step
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            break
        m += step
    if len(_FAST_LEN) < 4096 and not torch.compiler.is_compiling():  # (no side effect in a traced graph)
        _FAST_LEN[n] = m
    return m


def _pad_crop(t: torch.Tensor, pads: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Pad (positive) or crop (negative) the LAST ``len(pads)`` dims: ``pads[i]`` is
    ``(left, right)`` for dim ``-len(pads) + i``."""
    k = len(pads)
    flat: list[int] = []
    for lft, rgt in reversed(pads):
        flat += [max(lft, 0), max(rgt, 0)]
    if any(flat):
        t = F.pad(t, flat)
    for i, (lft, rgt) in enumerate(pads):
        if lft < 0 or rgt < 0:
            d = t.dim() - k + i
            start = -min(lft, 0)
            t = t.narrow(d, start, t.shape[d] - start + min(rgt, 0))
    return t


def _to_groups(x: torch.Tensor, axes: Sequence[int], nbh: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """``(B, *dims)`` -> ``(K, Bh, R, *n_axes)`` with the convolution axes last."""
    k = len(axes)
    xm = x.movedim([a + 1 for a in axes], list(range(x.dim() - k, x.dim())))
    moved = tuple(xm.shape)
    rest = 1  # (explicit: a zero-length axis leaves nothing to infer -1 from)
    for v in moved[1 : x.dim() - k]:
        rest *= v
    return xm.reshape(x.shape[0] // nbh, nbh, rest, *moved[x.dim() - k :]), moved


def _from_groups(y: torch.Tensor, moved: tuple[int, ...], axes: Sequence[int], nout: Sequence[int]) -> torch.Tensor:
    k = len(axes)
    shp = (*moved[: len(moved) - k], *nout)
    nd = len(shp)
    return y.reshape(shp).movedim(list(range(nd - k, nd)), [a + 1 for a in axes])


def _core(
    x: torch.Tensor,
    h: torch.Tensor,
    axes: Sequence[int],
    shifts: Sequence[int],
    nout: Sequence[int],
    method: str,
    batched: bool,
    keep: Keep | None = None,
) -> torch.Tensor:
    """``out[i] = sum_j h[j] x[i + s - j]`` along ``axes`` (``s`` = ``shifts``), ``nout`` samples
    (``keep``: see :func:`_fftconv`)."""
    k = len(axes)
    x, h = promoted(x, h)
    nbh = h.shape[0] if batched else 1
    hb = h.reshape(nbh, *h.shape[h.dim() - k :])
    hshape = tuple(hb.shape[1:])
    if x.shape[0] % nbh:
        raise ValueError(
            f"per-sample filters: the flattened batch ({x.shape[0]}) must be a multiple of "
            f"the number of filters ({nbh})"
        )
    xg, moved = _to_groups(x, axes, nbh)  # (K, Bh, R, *n)
    nin = tuple(xg.shape[3:])
    if method == "auto-fft":
        method = fft_or_overlap_add(xg.shape[0] * xg.shape[1] * xg.shape[2], nin, hshape, x.device)
    if method == "direct":
        # out[i] = sum_q w[q] xp[i + q], w = flip(h), xp[t] = x[t - (nh - 1 - s)]: one pass per tap
        pads = [(nh - 1 - s, no + s - n) for nh, s, no, n in zip(hshape, shifts, nout, nin)]
        xp = _pad_crop(xg, pads)
        w = hb.flip(list(range(1, k + 1))).reshape(1, nbh, 1, *hshape)
        out = None
        for q in _taps(hshape):
            xq = xp[(..., *(slice(qi, qi + no) for qi, no in zip(q, nout)))]
            wq = w[(..., *q)].reshape(1, nbh, 1, *(1,) * k)
            out = xq * wq if out is None else out.addcmul_(xq, wq)
    elif xg.numel() == 0:
        # (no sample, say an empty axis besides the convolved ones: FFT libraries refuse empty
        # transforms)
        out = xg.new_zeros((*xg.shape[:3], *nout))
    else:
        # full linear convolution (length n + nh - 1 per axis) by zero-padded FFTs, read from s
        nfull = [n + nh - 1 for n, nh in zip(nin, hshape)]
        blocks = [_block(n, nh) if method == "overlapadd" else 0 for n, nh in zip(nin, hshape)]
        if any(blocks):
            # (blocks' filter spectra are short: built each time)
            full = _overlap_add(xg, hb.reshape(1, nbh, 1, *hshape), blocks)
        else:
            full = _fftconv(xg, hb.reshape(1, nbh, 1, *hshape), [next_fast_len(m) for m in nfull], list(range(-k, 0)),
                            keep)
        full = _pad_crop(full, [(0, m - sz) for m, sz in zip(nfull, full.shape[full.dim() - k:])])
        out = _pad_crop(full, [(-s, no + s - m) for s, no, m in zip(shifts, nout, nfull)])
    return _from_groups(out, moved, axes, nout)


def _fftconv(
    x: torch.Tensor, h: torch.Tensor, sizes: Sequence[int], dims: Sequence[int], keep: Keep | None = None
) -> torch.Tensor:
    """Circular convolution of ``x`` and ``h`` (broadcast) over ``dims`` with FFT ``sizes``
    (``h``'s spectrum through ``keep`` where given and not smaller than ``_KEEP_MIN``)."""
    cplx = x.is_complex()
    fwd, inv = (torch.fft.fftn, torch.fft.ifftn) if cplx else (torch.fft.rfftn, torch.fft.irfftn)
    nspec = h.numel()  # (samples of the spectrum: the filter's, each padded to sizes)
    for d, m in zip(dims, sizes):
        nspec = nspec // max(h.shape[d], 1) * m
    if keep is None or nspec < _KEEP_MIN:
        spec = fwd(h, s=sizes, dim=dims)
    else:
        spec = keep(h, lambda: fwd(h, s=sizes, dim=dims), ("spectrum", tuple(sizes), tuple(dims), cplx))
    return inv(fwd(x, s=sizes, dim=dims) * spec, s=sizes, dim=dims)


def fft_or_overlap_add(lines: int, n: Sequence[int], nh: Sequence[int], device: torch.device) -> str:
    """``"overlapadd"`` for a few long signals convolved along one axis on the CPU, ``"fft"``
    otherwise. The CPU FFT library transforms a batch of signals several times faster per signal
    than one signal alone (1 thread, float32: one rfft of 69120 samples 1.26 ms, four 1.34 ms):
    a few long signals cut into blocks become such a batch. Measured (``method`` fft / overlapadd,
    129 to 2049 taps): one signal of 16384 samples or more 1.5-9x faster by blocks, up to four of
    65536 or more 1.2-2.2x, sixteen or more 0.6-1x (slower)."""
    if device.type != "cpu" or len(n) != 1 or not _block(n[0], nh[0]):
        return "fft"
    if (lines == 1 and n[0] >= 16384) or (lines <= 4 and n[0] >= 65536):
        return "overlapadd"
    return "fft"


def _block(n: int, nh: int) -> int:
    """Block length of the overlap-add engine along one axis (0: one block, plain FFT)."""
    m = next_fast_len(max(4 * nh, 256))
    return 0 if n <= 2 * (m - nh + 1) else m - nh + 1


def _overlap_add(x: torch.Tensor, h: torch.Tensor, blocks: Sequence[int]) -> torch.Tensor:
    """Full linear convolution over the last ``k`` dims by overlap-add: blocks of ``blocks[i]``
    samples (0: the whole axis), each convolved by an FFT of ``block + nh - 1`` samples."""
    k = len(blocks)
    lead = x.dim() - k
    hshape = h.shape[h.dim() - k:]
    bl = [b if b else n for b, n in zip(blocks, x.shape[lead:])]
    nb = [-(-n // b) for n, b in zip(x.shape[lead:], bl)]
    x = _pad_crop(x, [(0, c * b - n) for c, b, n in zip(nb, bl, x.shape[lead:])])
    # (..., n_1, ..., n_k) -> (..., nb_1, b_1, ..., nb_k, b_k)
    x = x.reshape(*x.shape[:lead], *[d for c, b in zip(nb, bl) for d in (c, b)])
    hh = h.reshape(*h.shape[: h.dim() - k], *[d for n in hshape for d in (1, n)])
    sizes = [next_fast_len(b + n - 1) for b, n in zip(bl, hshape)]
    dims = [lead + 2 * i + 1 for i in range(k)]
    y = _fftconv(x, hh, sizes, dims)
    for i in range(k):
        # blocks of sizes[i] samples starting every bl[i] samples: add the overlapping tails
        p, b, m = lead + i, bl[i], sizes[i]
        if not blocks[i]:
            # (an axis kept whole is one block: its FFT of m >= n + nh - 1 samples is the full
            # convolution as it is, however much longer than the axis the filter is)
            y = y.reshape(*y.shape[:p], m, *y.shape[p + 2:])
            continue
        c = y.shape[p]
        head = y.narrow(p + 1, 0, b)
        tail = y.narrow(p + 1, b, m - b)
        if m - b < b:
            tail = torch.cat([tail, tail.new_zeros((*tail.shape[: p + 1], b - (m - b), *tail.shape[p + 2:]))], p + 1)
        else:
            tail = tail.narrow(p + 1, 0, b)  # (nh - 1 <= b on a split axis: _block)
        head = head.reshape(*head.shape[:p], c * b, *head.shape[p + 2:])
        tail = tail.reshape(*tail.shape[:p], c * b, *tail.shape[p + 2:])
        z = head.new_zeros((*head.shape[:p], b, *head.shape[p + 1:]))
        y = torch.cat([head, z], p) + torch.cat([z, tail], p)
    return y


# y[b, ..., i, ...] = sum_j h[j] x[b, ..., i + o - j, ...]
def convolve(
    x: torch.Tensor,
    h: torch.Tensor,
    axes: Sequence[int],
    offsets: Sequence[int],
    nout: Sequence[int] | None = None,
    method: str = "fft",
    batched: bool = False,
    keep: Keep | None = None,
) -> torch.Tensor:
    """Convolution of ``x`` with ``h`` along ``axes`` read from ``offsets`` (``nout`` output
    samples per axis, default the input size); ``method`` is ``"direct"``, ``"fft"``,
    ``"overlapadd"`` or ``"auto-fft"`` (one of the last two: :func:`fft_or_overlap_add`);
    ``keep`` keeps the filter's spectrum (see the module's notes)."""
    if nout is None:
        nout = [x.shape[a + 1] for a in axes]
    return _core(x, h, axes, offsets, nout, method, batched, keep)


# x[b, ..., m, ...] = sum_j conj(h[j]) y[b, ..., m - o + j, ...]
def convolve_adjoint(
    y: torch.Tensor,
    h: torch.Tensor,
    axes: Sequence[int],
    offsets: Sequence[int],
    nout: Sequence[int] | None = None,
    method: str = "fft",
    batched: bool = False,
    keep: Keep | None = None,
) -> torch.Tensor:
    """Adjoint of :func:`convolve` (a correlation with ``conj(h)``); ``nout`` is the model size."""
    if nout is None:
        nout = [y.shape[a + 1] for a in axes]
    k = len(axes)
    g = h.conj().flip(list(range(h.dim() - k, h.dim())))
    nh = h.shape[h.dim() - k :]
    return _core(y, g, axes, [n - 1 - o for n, o in zip(nh, offsets)], nout, method, batched, keep)


# grad_h[f, j] = sum_{b = f mod Bh} sum_i g[b, ..., i, ...] conj(x[b, ..., i + o - j, ...])
def convolve_filter_grad(
    x: torch.Tensor,
    g: torch.Tensor,
    hshape: Sequence[int],
    axes: Sequence[int],
    offsets: Sequence[int],
    nbh: int = 1,
) -> torch.Tensor:
    """Gradient of ``<g, convolve(x, h)>`` with respect to the filter (PyTorch's convention:
    ``sum g conj(dy/dh)``), ``(nbh, *hshape)``: one cross-correlation by zero-padded FFTs,
    summed over the samples that share each filter. Differentiable again."""
    k = len(axes)
    dt = torch.promote_types(x.dtype, g.dtype)
    xg, _ = _to_groups(x.to(dt), axes, nbh)  # (K, Bh, R, *nin)
    gg, _ = _to_groups(g.to(dt), axes, nbh)  # (K, Bh, R, *nout)
    nin, nout = xg.shape[3:], gg.shape[3:]
    # xp[t] = x[t - (nh - 1 - o)], so x[i + o - j] = xp[i + q] with q = nh - 1 - j
    xp = _pad_crop(xg, [(nh - 1 - s, no + s - n) for nh, s, no, n in zip(hshape, offsets, nout, nin)])
    if xp.numel() == 0 or gg.numel() == 0:
        # (no sample: zeros without an FFT, which refuses empty transforms; in the graph of x and
        # g, so that the gradient is differentiable again)
        z = xp.sum() + gg.sum()
        return torch.where(torch.zeros((), dtype=torch.bool, device=z.device), z, 0).expand(xp.shape[1], *hshape).clone()
    sizes = [next_fast_len(n) for n in xp.shape[3:]]
    dims = list(range(-k, 0))
    # w[q] = sum_i g[i] conj(xp[i + q]) = conj(IFFT(conj(G) XP))[q]   (no wrap: q + i < L)
    if dt.is_complex:
        spec = (torch.fft.fftn(gg, s=sizes, dim=dims).conj() * torch.fft.fftn(xp, s=sizes, dim=dims)).sum((0, 2))
        w = torch.fft.ifftn(spec, s=sizes, dim=dims).conj()
    else:
        spec = (torch.fft.rfftn(gg, s=sizes, dim=dims).conj() * torch.fft.rfftn(xp, s=sizes, dim=dims)).sum((0, 2))
        w = torch.fft.irfftn(spec, s=sizes, dim=dims)
    w = w[(slice(None), *(slice(0, nh) for nh in hshape))]
    return w.flip(dims)  # h[j] = w[nh - 1 - j]


def convolve_filter_vjp(
    h: torch.Tensor,
    x: torch.Tensor,
    g: torch.Tensor,
    axes: Sequence[int],
    offsets: Sequence[int],
    adjoint: bool,
    batched: bool,
) -> torch.Tensor:
    """Gradient with respect to ``h`` (its shape and dtype) of ``<g, convolve(x, h)>``, or of
    ``<g, convolve_adjoint(x, h)>`` with ``adjoint`` (the correlation with ``conj(flip(h))``)."""
    k = len(axes)
    hshape = tuple(h.shape[h.dim() - k :])
    nbh = h.shape[0] if batched else 1
    hd = list(range(-k, 0))
    if adjoint:
        # convolve_adjoint(y, h) = convolve(y, conj(flip(h)), o' = nh - 1 - o)
        gh = convolve_filter_grad(x, g, hshape, axes, [n - 1 - o for n, o in zip(hshape, offsets)], nbh)
        gh = gh.flip(hd).conj()
    else:
        gh = convolve_filter_grad(x, g, hshape, axes, offsets, nbh)
    return grad_like(h, gh)


# ---------------------------------------------------------------------------- non-stationary
def interpolation_weights(
    n: int, ih: Sequence[int], device: torch.device | None = None, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """``(n, len(ih))`` matrix of the linear interpolation of filters given at the regular
    positions ``ih`` onto every sample ``0..n-1`` (nearest end filter outside ``ih``)."""
    nh = len(ih)
    oh = float(ih[0])
    dh = float(ih[1] - ih[0]) if nh > 1 else 1.0
    t = (torch.arange(n, dtype=torch.float64, device=device) - oh) / dh
    f = torch.floor(t)
    inside = (f >= 0) & (f < nh - 1)
    frac = torch.where(inside, t - f, torch.zeros_like(t))
    i0 = f.clamp(0, nh - 1).long()
    i1 = (i0 + 1).clamp(max=nh - 1)
    W = torch.zeros(n, nh, dtype=torch.float64, device=device)
    W.scatter_add_(1, i0[:, None], (1 - frac)[:, None])
    W.scatter_add_(1, i1[:, None], frac[:, None])
    return W.to(dtype)


def _interp(hs: torch.Tensor, Ws: Sequence[torch.Tensor], lead: int) -> torch.Tensor:
    """Filters ``hs`` of shape ``(*lead, nh_1..nh_k, *hshape)`` on the grid: ``(*lead, n_1..n_k, *hshape)``."""
    out = hs
    for i, W in enumerate(Ws):
        # contract the control-point axis lead + i with W (n_i, nh_i); the new axis goes back in place
        out = torch.tensordot(W.to(out.dtype), out, dims=([1], [lead + i])).movedim(0, lead + i)
    return out


def _taps(hshape: Sequence[int]) -> list[tuple[int, ...]]:
    taps: list[tuple[int, ...]] = [()]
    for n in hshape:
        taps = [t + (q,) for t in taps for q in range(n)]
    return taps


def _spray(p: torch.Tensor, Hi: torch.Tensor, hshape: Sequence[int]) -> torch.Tensor:
    """``y[i] = sum_q P[i - q + c] Hi[i - q + c, q]`` over the last ``k`` dims (``P`` times the
    interpolated filters, shifted by each tap)."""
    k = len(hshape)
    n = p.shape[p.dim() - k :]
    y = torch.zeros(p.shape, dtype=torch.promote_types(p.dtype, Hi.dtype), device=p.device)
    for q in _taps(hshape):
        s = [qi - hi // 2 for qi, hi in zip(q, hshape)]
        if any(abs(si) >= ni for si, ni in zip(s, n)):
            continue
        hq = Hi[(..., *q)]
        y = y + _pad_crop(p * hq, [(si, -si) for si in s])
    return y


def _gather(y: torch.Tensor, Hi: torch.Tensor | None, hshape: Sequence[int]) -> torch.Tensor:
    """``G[i, q] = y[i + q - c]`` (zeros outside), times ``conj(Hi[i, q])`` when given, summed
    over ``q`` when ``Hi`` is given."""
    k = len(hshape)
    n = y.shape[y.dim() - k :]
    outs = []
    acc = None
    for q in _taps(hshape):
        s = [qi - hi // 2 for qi, hi in zip(q, hshape)]
        if any(abs(si) >= ni for si, ni in zip(s, n)):
            g = torch.zeros_like(y)
        else:
            g = _pad_crop(y, [(-si, si) for si in s])
        if Hi is None:
            outs.append(g)
        else:
            term = g * Hi[(..., *q)].conj()
            acc = term if acc is None else acc + term
    if Hi is None:
        return torch.stack(outs, -1).reshape(*y.shape, *hshape)
    return acc


# y[b, i] = sum_q x[b, i - q + c] hi[i - q + c, q],  hi = interpolated filters (along the last k axes)
def nonstationary_convolve(x: torch.Tensor, hs: torch.Tensor, Ws: Sequence[torch.Tensor]) -> torch.Tensor:
    """Non-stationary convolution along the LAST ``k = len(Ws)`` dims of ``x`` (``(B, ..., n_1..n_k)``):
    filters ``hs`` ``(nh_1..nh_k, *hshape)`` at control points, interpolation matrices ``Ws``."""
    k = len(Ws)
    Hi = _interp(hs, Ws, 0)
    return _spray(x, Hi, hs.shape[k:])


# x[b, i] = sum_q conj(hi[i, q]) y[b, i + q - c]
def nonstationary_convolve_adjoint(y: torch.Tensor, hs: torch.Tensor, Ws: Sequence[torch.Tensor]) -> torch.Tensor:
    """Adjoint of :func:`nonstationary_convolve`."""
    k = len(Ws)
    Hi = _interp(hs, Ws, 0)
    return _gather(y, Hi, hs.shape[k:])


# y[b, i] = sum_q inp[i - q + c] hi[b, i - q + c, q],  hi = W hs[b]
def nonstationary_filters(hs: torch.Tensor, inp: torch.Tensor, Ws: Sequence[torch.Tensor]) -> torch.Tensor:
    """Non-stationary convolution of the fixed ``inp`` with the filters ``hs`` ``(B, nh.., *hshape)``
    (the model): the operator of :func:`nonstationary_convolve` with the roles swapped."""
    k = len(Ws)
    Hi = _interp(hs, Ws, 1)
    return _spray(*promoted(inp, Hi), hs.shape[1 + k :])


# hs[b, p, q] = sum_i W[i, p] conj(inp[i]) y[b, i + q - c]
def nonstationary_filters_adjoint(
    y: torch.Tensor, inp: torch.Tensor, Ws: Sequence[torch.Tensor], hshape: Sequence[int]
) -> torch.Tensor:
    """Adjoint of :func:`nonstationary_filters`: gather the data per tap, weight by ``conj(inp)``
    and spread onto the control points with the transposed interpolation."""
    k = len(Ws)
    G = _gather(y, None, hshape) * inp.conj().reshape(*inp.shape, *(1,) * k)
    return _interp(G, [W.T for W in Ws], 1)
