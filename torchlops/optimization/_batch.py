"""Per-sample reductions for batched solvers."""

from __future__ import annotations

import torch


def bdot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample ``a^H b`` over the trailing flat dimension: ``(B, n), (B, n) -> (B,)``."""
    return (a.conj() * b).sum(-1)


def bnorm2(a: torch.Tensor) -> torch.Tensor:
    """Per-sample squared 2-norm (real): ``(B, n) -> (B,)``."""
    return (a.real**2 + a.imag**2).sum(-1) if a.is_complex() else (a * a).sum(-1)


def safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` with 0 where ``den == 0`` (no host synchronisation)."""
    zero = den == 0
    return torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den))
