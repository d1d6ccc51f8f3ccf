"""Flat gathers along the last axis on the CPU, with the positions kept on the operator.

torch's CPU ``index_select`` along the last dim of a tensor is 5-15x slower than one gather
over its flat storage. Operators that sample their last axis (``Restriction``, linear
``Interp``) build the flat positions ``line * n + index`` (and per-sample weights) once per
batch size and keep them in their ``__dict__`` (not their ``state_dict``, nor a copy or pickle of
the operator) with the tensors they came from. The kept terms are stale when one of these is
another tensor, was changed in place (its version counter), was given other storage (``.data =``)
or, for learnable ones (parameters, tensors that require grad: training code writes them through
``.data``, which bumps no version counter), holds other values than a kept copy. A buffer written
in place through ``.data`` is not seen, as PyTorch's autograd does not see it.
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
) -> Any:
    """``build(lines, n)`` for the contiguous CPU tensor ``x`` of ``lines`` lines of ``n``
    samples, kept in ``owner.__dict__[slot]`` for the next call while ``sources`` (the first one
    sized like the output's last dim) are the same tensors, unchanged (see the module's notes);
    None where a flat gather does not apply (a view, a trace or transform, inference tensors that
    keep no version counter, more than ``limit`` output samples)."""
    if (type(x) is not torch.Tensor or not x.is_contiguous() or torch.compiler.is_compiling()
            or torch.jit.is_tracing() or torch._C._are_functorch_transforms_active()
            or any(t.is_inference() for t in sources)):
        return None
    n = x.shape[-1]
    lines = x.numel() // n if n else 0
    if lines * sources[0].numel() == 0 or lines * sources[0].numel() > limit:
        return None
    key = (lines, n, x.dtype, *((t._version, t.data_ptr()) for t in sources))
    kept = owner.__dict__.get(slot)
    # (the kept entry holds the sources themselves: a later tensor cannot take their ids)
    if (kept is not None and kept[0] == key and all(a is b for a, b in zip(kept[1], sources, strict=True))
            and all(c is None or torch.equal(c, t) for c, t in zip(kept[3], sources))):
        return kept[2]
    terms = build(lines, n)
    copies = tuple(t.detach().clone() if t.requires_grad else None for t in sources)
    owner.__dict__[slot] = (key, tuple(sources), terms, copies)
    return terms


def line_positions(index: torch.Tensor, lines: int, n: int) -> torch.Tensor:
    """The flat positions ``line * n + index[k]`` of every line, line after line."""
    return (torch.arange(lines, device=index.device) * n).unsqueeze(1).add(index).reshape(-1)
