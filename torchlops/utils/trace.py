"""Trace of an operator: exact, Hutchinson, Hutch++ and NA-Hutch++ estimators."""

from __future__ import annotations

import torch

__all__ = ["operator_trace", "trace_hutchinson", "trace_hutchpp", "trace_nahutchpp"]


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


def trace_nahutchpp(Op, neval: int | None = None, generator: torch.Generator | None = None, c1: float = 1.0 / 6.0,
                    c2: float = 1.0 / 3.0) -> torch.Tensor:
    r"""NA-Hutch++, the non-adaptive Hutch++ (Meyer et al., 2021, Algorithm 2; PyLops'
    ``trace_nahutchpp``): with Rademacher sketches :math:`S, R, G` of ``round(c1 neval)``,
    ``round(c2 neval)`` and the remaining columns, :math:`Z = A R`, :math:`W = A S`,
    :math:`Y = (S^T Z)^+`,

    .. math::
        \operatorname{tr}(Y W^T Z) + \frac{1}{|G|}\left[\operatorname{tr}(G^T A G)
        - \operatorname{tr}(G^T Z Y W^T G)\right],

    ``neval`` operator applications in all (default 102), as three batches. Exact (up to
    rounding) for an operator of rank at most ``min(|S|, |R|)``."""
    k = 102 if neval is None else int(neval)
    k1, k2 = round(k * c1), round(k * c2)
    k3 = k - k1 - k2
    if k1 <= 0 or k2 <= 0 or k3 <= 0:
        raise ValueError(f"na-hutch++ with {neval} samples leaves an empty sketch "
                         f"({k1}, {k2}, {k3} for c1={c1}, c2={c2}); try increasing neval")
    n = Op.shape[1]
    dev = Op.device or "cpu"
    S = _rademacher(n, k1, Op.dtype, dev, generator)  # (rows: S^T)
    R = _rademacher(n, k2, Op.dtype, dev, generator)
    G = _rademacher(n, k3, Op.dtype, dev, generator)
    with torch.no_grad():
        Zt, Wt, AGt = Op._flat(R, False), Op._flat(S, False), Op._flat(G, False)  # (Z^T, W^T, (A G)^T)
        Y = torch.linalg.pinv(S @ Zt.T)  # (S^T Z)^+, (k2, k1)
        t1 = torch.trace(Y @ Wt @ Zt.T)
        t2 = (G * AGt).sum() - torch.trace(G @ Zt.T @ Y @ Wt @ G.T)
    return t1 + t2 / k3


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
    if m == "na-hutch++":
        return trace_nahutchpp(Op, neval, generator)
    raise ValueError(f"method must be 'explicit', 'hutchinson', 'hutch++' or 'na-hutch++', got {method!r}")
