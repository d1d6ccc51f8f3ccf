"""Quickstart: an operator, a solver, and the same problem in PyLops side by side.

A spiky signal is blurred by a Ricker wavelet (``Convolve1D``) and recovered with
damped CGLS, first with torchlops (a batch of signals solved at once, on the GPU when
there is one), then with PyLops on the first signal. The two libraries share
operator names, constructor arguments and solver arguments, so the PyLops half is
the torchlops half with ``np`` arrays.

Run from the repository root::

    PYTHONPATH=. python examples/01_quickstart.py [--quick] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

import torchlops as tl
from torchlops.optimization.basic import cgls
from torchlops.utils.wavelets import ricker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problem, fewer iterations")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    n, nbatch, niter, damp = (128, 4, 100, 0.1) if args.quick else (1000, 32, 300, 0.1)
    dev = torch.device(args.device)
    dtype = torch.float64

    # --- the operator: a Ricker wavelet convolved along the (only) axis
    w, _, wc = ricker(np.arange(25) * 0.004, f0=15.0)
    Op = tl.Convolve1D(n, h=w.to(dtype), offset=wc).to(dev)
    print(f"operator: {Op}  shape {Op.shape}")

    # --- a batch of sparse spike trains and their blurred, noisy data
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(nbatch, n, dtype=dtype)
    idx = torch.randint(0, n, (nbatch, n // 20), generator=gen)
    x.scatter_(1, idx, torch.randn(nbatch, n // 20, generator=gen, dtype=dtype))
    x = x.to(dev)
    y = Op @ x  # (nbatch, n): the forward applied to every signal at once
    y = y + 1e-3 * torch.randn(y.shape, generator=gen, dtype=dtype).to(dev)

    # --- the solver: one call solves all nbatch problems
    t0 = time.perf_counter()
    res = cgls(Op, y, niter=niter, damp=damp, tol=0)
    elapsed = time.perf_counter() - t0
    fit = torch.linalg.vector_norm(Op @ res.x - y, dim=-1) / torch.linalg.vector_norm(y, dim=-1)
    print(f"torchlops cgls on {nbatch} signals of {n} samples ({dev}): {elapsed * 1e3:.1f} ms, "
          f"relative data misfit {float(fit.max()):.2e}")

    # --- the same problem in PyLops (first signal)
    try:
        import pylops
        from pylops.optimization.basic import cgls as pylops_cgls
    except ImportError:
        print("pylops is not installed: skipping the PyLops half (pip install pylops)")
        return 0
    POp = pylops.signalprocessing.Convolve1D(n, h=w.numpy(), offset=wc, dtype="float64")
    x0, y0 = x[0].cpu().numpy(), y[0].cpu().numpy()
    diff_fwd = np.abs(POp @ x0 - (Op @ x[0]).cpu().numpy()).max()
    t0 = time.perf_counter()
    xp = pylops_cgls(POp, y0, x0=np.zeros(n), niter=niter, damp=damp, tol=0)[0]
    elapsed_p = time.perf_counter() - t0
    diff_sol = np.abs(xp - res.x[0].cpu().numpy()).max() / np.abs(xp).max()
    print(f"pylops {pylops.__version__} cgls on 1 signal: {elapsed_p * 1e3:.1f} ms")
    print(f"max |forward torchlops - forward pylops|      = {diff_fwd:.2e}")
    print(f"max |x torchlops - x pylops| / max |x pylops| = {diff_sol:.2e}")
    if diff_fwd > 1e-10 or diff_sol > 1e-6:
        print("MISMATCH between torchlops and pylops")
        return 1
    print("torchlops and pylops agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
