"""Trace of an operator: exact, Hutchinson, Hutch++ and NA-Hutch++ estimators."""

from __future__ import annotations

import torch

from torchlops.utils.checks import as_int, model_dtype

__all__ = ["operator_trace", "trace_hutchinson", "trace_hutchpp", "trace_nahutchpp", "SAMPLERS"]


SAMPLERS = ("rademacher", "gaussian", "rayleigh")


def _probes(sampler: str, n: int, k: int, dtype: torch.dtype, device, generator) -> torch.Tensor:
    r"""``k`` probe vectors of length ``n`` as rows, with :math:`E[z z^H] = I`: random signs
    (``"rademacher"``), standard normal (``"gaussian"``) or normal scaled to norm
    :math:`\sqrt{n}` (``"rayleigh"``, uniform on that sphere; PyLops scales by
    :math:`n / \|z\|^2` instead)."""
    if sampler == "rademacher":
        z = torch.randint(0, 2, (k, n), generator=generator, dtype=torch.int64)
        return (2 * z - 1).to(dtype=dtype, device=device)
    if sampler in ("gaussian", "rayleigh"):
        z = torch.randn(k, n, generator=generator, dtype=torch.float64)
        if sampler == "rayleigh":
            z = z * (n**0.5 / torch.linalg.vector_norm(z, dim=1, keepdim=True))
        return z.to(dtype=dtype, device=device)
    raise ValueError(f"sampler must be one of {', '.join(map(repr, SAMPLERS))} (or 'unitvector' for hutchinson), "
                     f"got {sampler!r}")


def _neval(neval: int | None, default: int) -> int:
    if neval is None:
        return default
    return as_int(neval, "neval")  # (NumPy ints too, as PyLops)


def trace_hutchinson(Op, neval: int | None = None, batch_size: int | None = None, sampler: str = "rademacher",
                     backend: str | None = None, *, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Hutchinson's estimator :math:`\frac{1}{k}\sum_i z_i^H A z_i` (``neval`` = k probes,
    default 100, where PyLops takes 10% of the columns), applied ``batch_size`` probes at a
    time (default 100, at most ``neval``). ``sampler``: ``"rademacher"`` (default),
    ``"gaussian"``, ``"rayleigh"`` (see :func:`_probes`) or ``"unitvector"``: ``neval``
    distinct unit vectors :math:`e_i` (all of them when ``neval`` reaches the size: the exact
    trace), scaled by size / ``neval``. ``backend`` is accepted as in PyLops (the arrays are
    torch tensors on the operator's device)."""
    n = Op.shape[1]
    k = _neval(neval, 100)
    if k < 1:
        raise ValueError(f"neval must be >= 1, got {neval}")
    bs = min(k, 100 if batch_size is None else int(batch_size))
    if bs < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = Op.device or "cpu"
    if sampler == "unitvector":
        k = min(k, n)
        cols = torch.randperm(n, generator=generator)[:k]
    dt = model_dtype(Op)  # (real probes for an R-linear operator, as its dense columns)
    total = torch.zeros((), dtype=dt, device=dev)
    with torch.no_grad():
        for start in range(0, k, bs):
            m = min(bs, k - start)
            if sampler == "unitvector":
                Z = torch.zeros(m, n, dtype=dt)
                Z[torch.arange(m), cols[start:start + m]] = 1
                Z = Z.to(dev)
            else:
                Z = _probes(sampler, n, m, dt, dev, generator)
            total = total + (Z.conj() * Op._flat(Z, False)).sum()
    return total * (n / k) if sampler == "unitvector" else total / k


def trace_hutchpp(Op, neval: int | None = None, sampler: str = "rademacher", backend: str | None = None, *,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Hutch++ (Meyer et al., 2021): exact trace on a sketched range plus Hutchinson on the
    rest; ``neval`` operator applications in all (default 102, where PyLops takes 10% of the
    columns); ``sampler`` as :func:`trace_hutchinson` (not ``"unitvector"``)."""
    k = _neval(neval, 102)
    if k < 3:
        raise ValueError(f"neval must be >= 3 for hutch++, got {neval}")
    m = max(k // 3, 1)
    n = Op.shape[1]
    dev = Op.device or "cpu"
    S = _probes(sampler, n, m, model_dtype(Op), dev, generator)
    G = _probes(sampler, n, m, model_dtype(Op), dev, generator)
    with torch.no_grad():
        Q, _ = torch.linalg.qr(Op._flat(S, False).T)  # (n, m)
        Qt = Q.T.contiguous()
        t1 = (Qt.conj() * Op._flat(Qt, False)).sum()
        Gp = G - (G @ Q.conj()) @ Qt
        t2 = (Gp.conj() * Op._flat(Gp, False)).sum() / m
    return t1 + t2


def trace_nahutchpp(Op, neval: int | None = None, sampler: str = "rademacher", c1: float = 1.0 / 6.0,
                    c2: float = 1.0 / 3.0, backend: str | None = None, *,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    r"""NA-Hutch++, the non-adaptive Hutch++ (Meyer et al., 2021, Algorithm 2; PyLops'
    ``trace_nahutchpp``, same arguments): with sketches (``sampler``, as
    :func:`trace_hutchinson`) :math:`S, R, G` of ``round(c1 neval)``, ``round(c2 neval)`` and
    the remaining columns, :math:`Z = A R`, :math:`W = A S`,
    :math:`Y = (S^T Z)^+`,

    .. math::
        \operatorname{tr}(Y W^T Z) + \frac{1}{|G|}\left[\operatorname{tr}(G^T A G)
        - \operatorname{tr}(G^T Z Y W^T G)\right],

    ``neval`` operator applications in all (default 102, where PyLops takes 10% of the
    columns), as three batches. Exact (up to
    rounding) for a real symmetric operator of rank at most ``min(|S|, |R|)`` (the sketch
    :math:`W^T = (A S)^T` stands for :math:`S^T A`, as in PyLops and the paper, which treats
    symmetric matrices)."""
    k = _neval(neval, 102)
    k1, k2 = round(k * c1), round(k * c2)
    k3 = k - k1 - k2
    if k1 <= 0 or k2 <= 0 or k3 <= 0:
        raise ValueError(f"na-hutch++ with {neval} samples leaves an empty sketch "
                         f"({k1}, {k2}, {k3} for c1={c1}, c2={c2}); try increasing neval")
    n = Op.shape[1]
    dev = Op.device or "cpu"
    dt = model_dtype(Op)
    S = _probes(sampler, n, k1, dt, dev, generator)  # (rows: S^T)
    R = _probes(sampler, n, k2, dt, dev, generator)
    G = _probes(sampler, n, k3, dt, dev, generator)
    with torch.no_grad():
        Zt, Wt, AGt = Op._flat(R, False), Op._flat(S, False), Op._flat(G, False)  # (Z^T, W^T, (A G)^T)
        Y = torch.linalg.pinv(S @ Zt.T)  # (S^T Z)^+, (k2, k1)
        t1 = torch.trace(Y @ Wt @ Zt.T)
        t2 = (G.conj() * AGt).sum() - torch.trace(G.conj() @ Zt.T @ Y @ Wt @ G.T)
    return t1 + t2 / k3


def operator_trace(Op, neval: int | None = None, method: str | None = None, backend: str | None = None,
                   generator=None, **kwargs_trace) -> torch.Tensor:
    """See :meth:`torchlops.LinearOperator.trace`."""
    if backend is not None and not isinstance(backend, str):  # (generator was the third argument once)
        raise TypeError(f"backend must be a string (as PyLops': numpy or cupy; ignored), got {type(backend).__name__}"
                        "; pass generator= by keyword")
    if Op.shape[0] != Op.shape[1]:
        raise ValueError(f"Operator must be square, got {Op.shape}")
    method = ("explicit" if Op.explicit else "hutch++") if method is None else method
    m = method.lower()
    if m == "explicit":
        if kwargs_trace:
            raise TypeError(f"method='explicit' takes no estimator arguments, got {sorted(kwargs_trace)}")
        return Op.todense().diagonal().sum()
    if m == "hutchinson":
        return trace_hutchinson(Op, neval, generator=generator, **kwargs_trace)
    if m == "hutch++":
        return trace_hutchpp(Op, neval, generator=generator, **kwargs_trace)
    if m == "na-hutch++":
        return trace_nahutchpp(Op, neval, generator=generator, **kwargs_trace)
    raise ValueError(f"method must be 'explicit', 'hutchinson', 'hutch++' or 'na-hutch++', got {method!r}")
