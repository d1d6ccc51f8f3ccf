"""Trace of an operator: exact, Hutchinson and Hutch++ estimators."""

from __future__ import annotations

import torch

__all__ = ["operator_trace", "trace_hutchinson", "trace_hutchpp"]


def _rademacher(n: int, k: int, dtype: torch.dtype, device, generator) -> torch.Tensor:
    z = torch.randint(0, 2, (k, n), generator=generator, dtype=torch.int64).to(device)
    return (2 * z - 1).to(dtype)


def trace_hutchinson(Op, neval: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Hutchinson's estimator :math:`\frac{1}{k}\sum_i z_i^H A z_i` with Rademacher ``z_i``
    (``neval`` = k, default 100), all probes applied as one batch."""
    k = 100 if neval is None else int(neval)
    if k < 1:
        raise ValueError(f"neval must be >= 1, got {neval}")
    Z = _rademacher(Op.shape[1], k, Op.dtype, Op.device or "cpu", generator)
    with torch.no_grad():
        AZ = Op._flat(Z, False)
    return (Z.conj() * AZ).sum() / k


def trace_hutchpp(Op, neval: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Hutch++ (Meyer et al., 2021): exact trace on a sketched range plus Hutchinson on the
    rest; ``neval`` operator applications in all (default 102)."""
    k = 102 if neval is None else int(neval)
    if k < 3:
        raise ValueError(f"neval must be >= 3 for hutch++, got {neval}")
    m = max(k // 3, 1)
    n = Op.shape[1]
    dev = Op.device or "cpu"
    S = _rademacher(n, m, Op.dtype, dev, generator)
    G = _rademacher(n, m, Op.dtype, dev, generator)
    with torch.no_grad():
        Q, _ = torch.linalg.qr(Op._flat(S, False).T)  # (n, m)
        Qt = Q.T.contiguous()
        t1 = (Qt.conj() * Op._flat(Qt, False)).sum()
        Gp = G - (G @ Q.conj()) @ Qt
        t2 = (Gp.conj() * Op._flat(Gp, False)).sum() / m
    return t1 + t2


def operator_trace(Op, neval: int | None = None, method: str | None = None, generator=None) -> torch.Tensor:
    """See :meth:`torchlops.LinearOperator.trace`."""
    if Op.shape[0] != Op.shape[1]:
        raise ValueError(f"Operator must be square, got {Op.shape}")
    method = ("explicit" if Op.explicit else "hutch++") if method is None else method
    m = method.lower()
    if m == "explicit":
        return Op.todense().diagonal().sum()
    if m == "hutchinson":
        return trace_hutchinson(Op, neval, generator)
    if m == "hutch++":
        return trace_hutchpp(Op, neval, generator)
    raise ValueError(f"method must be 'explicit', 'hutchinson' or 'hutch++', got {method!r}")
