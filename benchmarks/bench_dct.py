"""DCT types 1-4 (orthonormal): torchlops vs PyLops (``scipy.fft.dctn``) on the CPU.

The operator (``engine="auto"``) calls ``scipy.fft.dctn`` on the CPU with torch's thread count;
the torch engine (GPUs, ``torch.compile``, ``vmap``) computes, per axis, type 2 and 3 from one
real FFT of ``n`` samples (Makhoul's reordering), type 1 from one real FFT of ``2 (n - 1)``
samples and type 4 from one complex FFT of ``n / 2`` samples (even ``n``; ``2 n`` for odd
lengths): both are timed. Cases: a 2048 x 2048 image
(both axes), 512 traces of 4096 samples (last axis) and one 100000-sample signal, float64.

Every output (forward and adjoint) is first compared with PyLops'; a mismatch aborts before any
timing. Times are the best of ``--rounds`` calls.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_dct.py --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

import torchlops as tl
from torchlops.functional.fourier import dct, dct_adjoint

try:
    import pylops
except ImportError:  # optional
    pylops = None

CASES = (((2048, 2048), None), ((512, 4096), (1,)), ((100000,), None))


def best(f: Callable[[], object], rounds: int) -> float:
    f()
    t = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - t0)
    return t * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, float64; ms, best of {args.rounds}")
    print(f"{'case':>22} {'type':>4} {'torchlops fwd':>14} {'adj':>8} {'torch engine fwd':>17} {'adj':>8} "
          f"{'PyLops fwd':>11} {'adj':>8}")
    for shape, axes in CASES:
        x = np.random.default_rng(0).standard_normal(shape)
        xt = torch.from_numpy(x)
        for typ in (1, 2, 3, 4):
            T = tl.signalprocessing.DCT(shape, type=typ, axes=axes, dtype=torch.float64)
            yt = T(xt)
            xa = T.H(yt)
            row = [best(lambda T=T, xt=xt: T(xt), args.rounds), best(lambda T=T, yt=yt: T.H(yt), args.rounds)]
            # the torch engine on the (1, *dims) batch the operator's kernels take
            xb, yb = xt.unsqueeze(0), yt.unsqueeze(0)
            for a, b, what in ((dct(xb, typ, T.axes, engine="torch"), yb, "torch engine forward"),
                               (dct_adjoint(yb, typ, T.axes, engine="torch"), xb, "torch engine adjoint")):
                err = float((a - b).abs().max() / b.abs().max())
                if err > 1e-12:
                    print(f"MISMATCH {shape} type {typ} {what}: {err:.2e}")
                    return 1
            row += [best(lambda xb=xb, typ=typ, ax=T.axes: dct(xb, typ, ax, engine="torch"), args.rounds),
                    best(lambda yb=yb, typ=typ, ax=T.axes: dct_adjoint(yb, typ, ax, engine="torch"), args.rounds)]
            if pylops is not None:
                P = pylops.signalprocessing.DCT(shape, type=typ, axes=axes)
                yp = P @ x.ravel()
                for a, b, what in ((yt.numpy().ravel(), yp, "forward"), (xa.numpy().ravel(), P.H @ yp, "adjoint")):
                    err = np.abs(a - b).max() / np.abs(b).max()
                    if err > 1e-12:
                        print(f"MISMATCH {shape} type {typ} {what}: {err:.2e}")
                        return 1
                xf = x.ravel()
                row += [best(lambda P=P, xf=xf: P @ xf, args.rounds), best(lambda P=P, yp=yp: P.H @ yp, args.rounds)]
            else:
                row += [float("nan"), float("nan")]
            case = "x".join(map(str, shape)) + ("" if axes is None else f" axes={axes}")
            print(f"{case:>22} {typ:>4} {row[0]:>14.1f} {row[1]:>8.1f} {row[2]:>17.1f} {row[3]:>8.1f} "
                  f"{row[4]:>11.1f} {row[5]:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
