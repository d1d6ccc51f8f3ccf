"""Shared machinery of the sliding-window and patching operators.

The data is cut into regularly spaced, possibly overlapping windows along its first ``k``
axes; the inner operator maps each window's model to the window's data, all windows at once
(one batch of ``B * nwindows`` inputs); the windows are tapered and overlap-added. Both the
gather (adjoint) and the overlap-add (forward) are index gathers computed once at
construction, so the forward and the adjoint are exact transposes and deterministic: on the
CPU the overlap-add is one (sequential) ``index_add``; elsewhere it is a sum of ``K`` gathers,
``K`` being the largest number of windows that overlap at one sample (no atomics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from torchlops._algebra import run
from torchlops.linearoperator import LinearOperator
from torchlops.utils.checks import prod, real_dtype
from torchlops.utils.tapers import TAPERTYPES, taper

__all__ = ["slidingsteps", "whole_int", "WindowedOperator", "window_tapers", "check_tapertype", "as_pair", "overlap_add"]


def slidingsteps(ntr: int, nwin: int, nover: int, name: str = "nwin") -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end indices of windows of ``nwin`` samples overlapping by ``nover`` over ``ntr`` samples
    (whole numbers: a fraction is a ValueError, not truncated; ``name``: what errors call ``nwin``)."""
    ntr, nwin, nover = (whole_int(v, k) for v, k in ((ntr, "ntr"), (nwin, name), (nover, "nover")))
    if nwin < 1:
        raise ValueError(f"{name} must be a positive number of samples, got {name}={nwin}")
    if nwin > ntr:
        raise ValueError(f"{name}={nwin} is bigger than ntr={ntr}: a window cannot be longer than the axis")
    if not 0 <= nover < nwin:
        raise ValueError(f"nover must satisfy 0 <= nover < {name}={nwin}, got nover={nover}")
    starts = torch.arange(0, ntr - nwin + 1, nwin - nover, dtype=torch.int64)
    return starts, starts + nwin


def whole_int(value: Any, name: str) -> int:
    """``value`` as an int where it is a whole number (an int, or an integral float / 0-d array)."""
    is_bool = isinstance(value, (bool, np.bool_)) or (isinstance(value, torch.Tensor) and value.dtype == torch.bool)
    try:
        ok = not is_bool and not isinstance(value, (str, bytes)) and float(value).is_integer()
    except (TypeError, ValueError, RuntimeError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an int, got {value!r}")
    return int(value)


def as_pair(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    """A tuple of ``n`` ints from a sequence (or 1-D array / tensor) of ``n`` ints."""
    if isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, int) or not isinstance(value, Sequence) or len(value) != n:
        raise ValueError(f"{name} must be a sequence of {n} ints, got {value!r}")
    try:
        return tuple(whole_int(v, name) for v in value)
    except ValueError:
        raise ValueError(f"{name} must hold ints, got {value!r}") from None


def check_tapertype(tapertype: str | None) -> None:
    if tapertype is not None and tapertype not in TAPERTYPES:
        raise ValueError(f"tapertype must be one of {TAPERTYPES} or None, got {tapertype!r}")


def _window_classes(nwins: Sequence[int], single: str) -> list[torch.Tensor]:
    """For every window (a grid of shape ``nwins``) and windowed axis, whether the window is
    the first (0), a middle one (1) or the last (2) along that axis. A single window along an
    axis is the first (``single="start"``) or the last (``"end"``); ``"pylops3d"`` follows
    PyLops' ``Patch3D(savetaper=False)``, whose taper choice checks the cases of axes 1 and 2
    together (first/first, first/last, last/last, last/first, then one axis at a time), so a
    single window along axis 2 counts as the last where the window is the last along axis 1."""
    grids = torch.meshgrid(*[torch.arange(n) for n in nwins], indexing="ij")
    F = [g == 0 for g in grids]
    L = [g == n - 1 for g, n in zip(grids, nwins, strict=True)]
    one = torch.ones_like(grids[0])

    def cls(f: torch.Tensor, last: torch.Tensor, first_wins: bool) -> torch.Tensor:
        return torch.where(f & (first_wins | ~last), 0 * one, torch.where(last, 2 * one, one))

    if single == "pylops3d" and len(nwins) == 3:
        f1, l1, f2, l2 = F[1], L[1], F[2], L[2]
        # (the pair's first matching case: FF, FL, LL, LF, F*, L*, *F, *L, **)
        c2 = torch.where(f1 & f2, 0 * one, torch.where(f1 & l2, 2 * one, torch.where(l1 & l2, 2 * one, torch.where(
            l1 & f2, 0 * one, torch.where(f1 | l1, one, torch.where(f2, 0 * one, torch.where(l2, 2 * one, one)))))))
        return [cls(F[0], L[0], True), cls(f1, l1, True), c2]
    return [cls(f, last, single != "end") for f, last in zip(F, L, strict=True)]


def window_tapers(
    nwins: Sequence[int],
    nwin: Sequence[int],
    nover: Sequence[int],
    tapertype: str,
    edge: str,
    single: str,
    nrest: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Per-window tapers of shape ``(*nwins, *nwin, *[1] * nrest)``.

    Along each windowed axis the taper is the 1-D ``taper(nwin, nover, tapertype)``; on the
    first (last) window its first (last) ``nover`` samples are replaced by 1 (``edge="one"``)
    or by its middle sample (``edge="mid"``), so that the data edges are not attenuated. A
    single window along an axis counts as the first (``single="start"``) or as the last
    (``single="end"``), or as :func:`_window_classes` says for ``"pylops3d"``. The N-D taper
    is the product of the 1-D ones.
    """
    k = len(nwins)
    classes = _window_classes(nwins, single)
    out = None
    for a in reversed(range(k)):
        t = taper(nwin[a], nover[a], tapertype)
        fill = torch.ones((), dtype=t.dtype) if edge == "one" else t[nwin[a] // 2].clone()
        first, last = t.clone(), t.clone()
        first[: nover[a]] = fill
        last[-nover[a]:] = fill  # nover = 0 fills everything, a no-op on an all-ones taper
        # (*nwins, nwin[a]) placed on axis k + a of (*nwins, *nwin)
        va = torch.stack((first, t, last))[classes[a]]
        shape = [*nwins] + [1] * k
        shape[k + a] = nwin[a]
        va = va.reshape(shape)
        out = va if out is None else va * out
    return out.reshape(*out.shape, *([1] * nrest)).to(real_dtype(dtype))


def _gather_index(dimsd: Sequence[int], starts: Sequence[torch.Tensor], nwin: Sequence[int]) -> torch.Tensor:
    """Gather indices ``(nwinel,)``: window element -> flat data index, layout
    ``(*nwins, *nwin, *rest)``."""
    k = len(starts)
    rest = tuple(dimsd[k:])
    strides = [prod(dimsd[a + 1:]) for a in range(len(dimsd))]
    nwins = [s.numel() for s in starts]
    full = (*nwins, *nwin, *rest)
    idx = torch.zeros(full, dtype=torch.int64)
    for a in range(k):
        shp = [1] * len(full)
        shp[a] = nwins[a]
        idx = idx + (starts[a] * strides[a]).reshape(shp)
        shp = [1] * len(full)
        shp[k + a] = nwin[a]
        idx = idx + (torch.arange(nwin[a]) * strides[a]).reshape(shp)
    for r in range(len(rest)):
        shp = [1] * len(full)
        shp[2 * k + r] = rest[r]
        idx = idx + (torch.arange(rest[r]) * strides[k + r]).reshape(shp)
    return idx.reshape(-1)


def overlap_table(idx: torch.Tensor, ndata: int) -> torch.Tensor:
    """The overlap-add table ``(K, ndata)`` of the gather indices ``idx``: flat data index -> the
    window elements that land there, padded with ``idx.numel()`` (the deterministic overlap-add
    off the CPU; the CPU adds with one ``index_add``)."""
    nel = idx.numel()
    counts = torch.bincount(idx, minlength=ndata)
    K = max(int(counts.max()), 1) if ndata else 1
    order = torch.argsort(idx, stable=True)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(nel, device=idx.device) - first[idx[order]]
    inv = torch.full((ndata, K), nel, dtype=torch.int64, device=idx.device)
    inv[idx[order], rank] = order
    return inv.T.contiguous()


def overlap_add(w: torch.Tensor, gather: torch.Tensor, table: torch.Tensor | None, ndata: int) -> torch.Tensor:
    """``y[b, m] = sum_{e : gather[e] = m} w[b, e]`` for ``w`` of shape ``(B, nwinel)``, ``m <
    ndata``: one ``index_add`` (``table`` None), or the sum of the ``K`` gathers of ``table``
    (``(K, ndata)``, :func:`overlap_table`)."""
    if table is None:
        return torch.zeros(w.shape[0], ndata, dtype=w.dtype, device=w.device).index_add(1, gather, w)
    z = F.pad(w, (0, 1))
    y = z[:, table[0]]
    for k in range(1, table.shape[0]):
        y = y + z[:, table[k]]
    return y


class WindowedOperator(LinearOperator):
    """Base of Sliding1D/2D/3D and Patch2D/3D: inner operator over windows, taper, overlap-add."""

    _composite = True

    def __init__(
        self,
        Op: LinearOperator,
        dims: tuple[int, ...],
        dimsd: tuple[int, ...],
        starts: Sequence[torch.Tensor],
        nwin: Sequence[int],
        taps: torch.Tensor | None,
        simop: bool,
        name: str,
    ) -> None:
        super().__init__(dims=dims, dimsd=dimsd, dtype=Op.dtype, clinear=Op.clinear, name=name)
        self.Op = Op
        self.simOp = simop
        self._nwins = tuple(s.numel() for s in starts)
        self._winshape = (*nwin, *dimsd[len(starts):])
        self.register_buffer("taps", taps)
        self.register_buffer("_gather", _gather_index(dimsd, starts, nwin), persistent=False)
        # (built where it is used, off the CPU: see _apply)
        self.register_buffer("_overlap", None, persistent=False)

    def _apply(self, fn: Any, recurse: bool = True) -> WindowedOperator:
        # the overlap-add table (K x the data size, int64) only off the CPU (on the CPU one
        # index_add does the overlap-add): built where the indices are before they move
        if self._overlap is None and self._gather.device.type != "meta":
            target = fn(torch.zeros((), dtype=torch.int64, device=self._gather.device)).device
            if target.type != "cpu":
                self._overlap = overlap_table(self._gather, prod(self._dimsd))
        super()._apply(fn, recurse)
        if self._gather.device.type == "cpu":
            self._overlap = None
        return self

    def _dtype_from_parts(self) -> torch.dtype:
        # (the inner operator's, promoted with the taper's: both touch the output)
        dt = self.Op.dtype
        return dt if self.taps is None else torch.promote_types(dt, self.taps.dtype)

    def _taper(self, w: torch.Tensor) -> torch.Tensor:
        if self.taps is None:
            return w
        B = w.shape[0]
        return (w.reshape(B, *self._nwins, *self._winshape) * self.taps).reshape(B, -1)

    def _batched(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        self._check_own_device(x)
        B, nw = x.shape[0], prod(self._nwins)
        if not adjoint:
            if self.simOp:
                w = run(self.Op, x, False)
            else:
                w = run(self.Op, x.reshape(B * nw, -1), False)
            w = self._taper(w.reshape(B, -1))
            if self._overlap is None and w.device.type not in ("cpu", "meta"):
                # (moved without Module.to, as by torch.load's map_location: built at first use, from
                # the indices on the host)
                with torch.inference_mode(False):  # (a first call in inference mode: a plain tensor)
                    self._overlap = overlap_table(self._gather.cpu(), prod(self._dimsd)).to(w.device)
            # y[b, m] = sum_{e : gather[e] = m} taps[e] w[b, e]   (overlap-add of the tapered windows)
            y = overlap_add(w, self._gather, self._overlap, prod(self._dimsd))
            return self._promote(y).reshape(B, *self._dimsd)
        # w[b, e] = taps[e] y[b, gather[e]]   (gather the windows, then taper)
        w = self._taper(x.reshape(B, -1)[:, self._gather])
        if self.simOp:
            return run(self.Op, w, True).reshape(B, *self._dims)
        return self._promote(run(self.Op, w.reshape(B * nw, -1), True)).reshape(B, *self._dims)

    def _promote(self, y: torch.Tensor) -> torch.Tensor:
        """``y`` in at least the operator's dtype: PyLops accumulates the windows in an output of
        the operator's dtype (a complex operator whose inner operator answers with real values,
        e.g. ``FFT(real=True).H``, gives complex outputs; all-windows-at-once adjoints excepted,
        as there)."""
        dt = torch.promote_types(self.dtype, y.dtype)
        return y if dt is y.dtype else y.to(dt)
