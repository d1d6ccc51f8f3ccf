"""CGLS benchmark: Laplacian-regularised deblurring, torchlops vs PyLops (NumPy) vs plain torch.

Problem: ``VStack([MatrixMult(blur), eps * Laplacian(dims=(n, n))])`` on an ``n x n`` image
(the blur a dense Gaussian-row matrix acting on the flattened image), ``niter`` CGLS steps with
``tol=0``. Columns: torchlops on one problem, PyLops ``cgls`` on one problem (ratio), torchlops
batched (``nbatch`` problems in one call) vs looped over samples, and on CUDA a
``torch.compile`` d plain-torch CGLS. Results are checked against each other before timing.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_solvers.py --device cpu --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import torchlops
from torchlops.optimization.basic import cgls


def _time(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def _plain_cgls(A: torch.Tensor, eps: float, lap, y: torch.Tensor, niter: int) -> torch.Tensor:
    """CGLS on [A; eps L] with plain torch ops (y: (B, M + n)), for torch.compile."""
    M = A.shape[0]

    def fwd(x):
        return torch.cat([x @ A.T, eps * lap(x)], dim=-1)

    def adj(s):
        return s[:, :M] @ A + eps * lap(s[:, M:])

    x = torch.zeros(y.shape[0], A.shape[1], dtype=y.dtype, device=y.device)
    s = y
    c = adj(s)
    q = fwd(c)
    kold = (c * c).sum(-1, keepdim=True)
    for _ in range(niter):
        a = kold / (q * q).sum(-1, keepdim=True)
        x = x + a * c
        s = s - a * q
        r = adj(s)
        k = (r * r).sum(-1, keepdim=True)
        c = r + (k / kold) * c
        q = fwd(c)
        kold = k
    return x


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--niter", type=int, default=30)
    p.add_argument("--nbatch", type=int, default=16)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev, n, N = torch.device(a.device), a.n, a.n * a.n
    rng = np.random.default_rng(0)
    i = np.arange(N)
    blur = np.exp(-0.5 * ((i[:, None] - i[None, :]) / 3.0) ** 2)  # banded Gaussian (dense storage)
    eps = 0.5
    x_true = rng.normal(size=(a.nbatch, N))
    Y = np.concatenate([x_true @ blur.T + 0.01 * rng.normal(size=(a.nbatch, N)), np.zeros((a.nbatch, N))], axis=1)
    Op = torchlops.VStack([torchlops.MatrixMult(torch.from_numpy(blur)),
                           eps * torchlops.Laplacian(dims=(n, n), dtype=torch.float64)]).to(dev)
    Yt = torch.from_numpy(Y).to(dev)
    print(f"CGLS, blur {N}x{N} + {eps}*Laplacian({n},{n}), niter={a.niter}, device={dev}, "
          f"threads={torch.get_num_threads()}")
    rows = []
    x1 = cgls(Op, Yt[0], niter=a.niter, tol=0).x
    t_tl = _time(lambda: cgls(Op, Yt[0], niter=a.niter, tol=0), a.repeat)
    rows.append(("torchlops, 1 problem", t_tl))
    try:
        import pylops
        from pylops.optimization.basic import cgls as pcgls

        POp = pylops.VStack([pylops.MatrixMult(blur), eps * pylops.Laplacian(dims=(n, n), dtype="float64")])
        xp = pcgls(POp, Y[0], niter=a.niter, tol=0)[0]
        err = np.abs(xp - x1.cpu().numpy()).max() / np.abs(xp).max()
        assert err < 1e-8, f"torchlops and PyLops disagree: {err:.2e}"
        t_pl = _time(lambda: pcgls(POp, Y[0], niter=a.niter, tol=0), a.repeat)
        rows.append(("pylops, 1 problem", t_pl))
        print(f"  check vs pylops: max rel. diff {err:.1e}")
    except ImportError:
        t_pl = None
    xb = cgls(Op, Yt, niter=a.niter, tol=0).x
    assert torch.allclose(xb[0], x1, rtol=1e-9, atol=1e-9)
    t_b = _time(lambda: cgls(Op, Yt, niter=a.niter, tol=0), a.repeat)
    t_l = _time(lambda: [cgls(Op, Yt[b], niter=a.niter, tol=0) for b in range(a.nbatch)], max(1, a.repeat // 2))
    rows += [(f"torchlops batched ({a.nbatch})", t_b), (f"torchlops looped ({a.nbatch})", t_l)]
    if dev.type == "cuda":
        A = torch.from_numpy(blur).to(dev)
        L = torchlops.Laplacian(dims=(n, n), dtype=torch.float64).to(dev)
        f = torch.compile(lambda y: _plain_cgls(A, eps, lambda v: L._flat(v, False), y, a.niter))
        assert torch.allclose(f(Yt), xb, rtol=1e-7, atol=1e-7)
        rows.append((f"plain torch compiled ({a.nbatch})", _time(lambda: f(Yt), a.repeat)))
    for name, t in rows:
        print(f"  {name:32s} {t * 1e3:9.2f} ms")
    if t_pl is not None:
        print(f"  pylops / torchlops (1 problem): {t_pl / t_tl:.2f}x")
    print(f"  looped / batched: {t_l / t_b:.2f}x")


if __name__ == "__main__":
    main()
