"""Flat gathers along the last axis on the CPU, with the positions kept on the operator.

torch's CPU ``index_select`` along the last dim of a tensor is 5-15x slower than one gather
over its flat storage. Operators that sample their last axis (``Restriction``, linear
``Interp``) build the flat positions ``line * n + index`` (and per-sample weights) once per
batch size and keep them in their ``__dict__`` (not their ``state_dict``, nor a copy or pickle of
the operator) with copies of the tensors they came from, whose values tell when the kept terms
are stale: writes through ``.data`` bump no version counter, and storage given through ``.data =``
can be shared with another tensor or reuse freed memory, so neither counters nor addresses tell.
The comparison reads the sources once (O(sources), against O(lines * sources) for the gather).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch


def kept_line_terms(
    owner: torch.nn.Module,
    slot: str,
    x: torch.Tensor,
    sources: Sequence[torch.Tensor],
    limit: int,
    build: Callable[[int, int], Any],
    one_line: Any = None,
) -> Any:
    """``build(lines, n)`` for the contiguous CPU tensor ``x`` of ``lines`` lines of ``n``
    samples, kept in ``owner.__dict__[slot]`` for the next call while ``sources`` (the first one
    sized like the output's last dim; small: one entry per output sample of a line) hold the same
    values (compared with copies); ``one_line``, where given, is returned as it is for an input of
    one line (terms that need no building, nor a comparison: nothing is kept); None where a flat
    gather does not apply (a view, a trace or transform, inference tensors, more than ``limit``
    output samples)."""
    if (type(x) is not torch.Tensor or not x.is_contiguous() or torch.compiler.is_compiling()
            or torch.jit.is_tracing() or torch._C._are_functorch_transforms_active()
            or any(t.is_inference() for t in sources)):
        return None
    n = x.shape[-1]
    lines = x.numel() // n if n else 0
    if lines * sources[0].numel() == 0 or lines * sources[0].numel() > limit:
        return None
    if lines == 1 and one_line is not None:
        return one_line
    key = (lines, n, x.dtype, x.device)
    kept = owner.__dict__.get(slot)
    if kept is not None and kept[0] == key and all(
        a.dtype == b.dtype and a.shape == b.shape and a.device == b.device and torch.equal(a, b)
        for a, b in zip(kept[1], sources, strict=True)
    ):
        return kept[2]
    terms = build(lines, n)
    owner.__dict__[slot] = (key, tuple(t.detach().clone() for t in sources), terms)
    return terms


def line_positions(index: torch.Tensor, lines: int, n: int) -> torch.Tensor:
    """The flat positions ``line * n + index[k]`` of every line, line after line."""
    return (torch.arange(lines, device=index.device) * n).unsqueeze(1).add(index).reshape(-1)
