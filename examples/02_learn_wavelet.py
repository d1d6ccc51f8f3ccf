"""Learn a seismic wavelet by gradient descent through ``Convolve1D``.

The filter of a :class:`torchlops.Convolve1D` is an :class:`torch.nn.Parameter`, so
the operator is a layer: from pairs of (reflectivity, data) traces generated with a
true Ricker wavelet, the wavelet is recovered by minimising the data misfit
``||Convolve1D(h) r - d||^2`` with a torch optimiser. Gradients with respect to ``h``
come from the operator's autograd Function (a cross-correlation of the residual with
the reflectivity); nothing is written by hand.

Run from the repository root::

    PYTHONPATH=. python examples/02_learn_wavelet.py [--quick] [--out wavelet.png]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from torch import nn

import torchlops as tl
from torchlops.utils.wavelets import ricker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer training pairs and steps")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="learned_wavelet.png", help="figure path ('' for none)")
    args = parser.parse_args(argv)
    nt, npairs, nsteps = (200, 8, 300) if args.quick else (500, 64, 400)
    dev = torch.device(args.device)
    dtype = torch.float64
    gen = torch.Generator().manual_seed(0)

    # true wavelet (25 Hz Ricker, 41 samples at 4 ms) and training pairs
    wtrue, _, wc = ricker(np.arange(21) * 0.004, f0=25.0)
    wtrue = wtrue.to(dtype)
    refl = torch.randn(npairs, nt, generator=gen, dtype=dtype)
    refl = refl * (torch.rand(npairs, nt, generator=gen, dtype=dtype) < 0.15)  # sparse reflectivity
    refl, wtrue = refl.to(dev), wtrue.to(dev)
    with torch.no_grad():
        data = tl.Convolve1D(nt, h=wtrue, offset=wc) @ refl

    # the layer: a Convolve1D whose filter is learnt (starts from zero)
    h = nn.Parameter(torch.zeros_like(wtrue))
    Op = tl.Convolve1D(nt, h=h, offset=wc)
    opt = torch.optim.Adam([h], lr=0.02)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, nsteps)
    t0 = time.perf_counter()
    for step in range(nsteps):
        opt.zero_grad()
        loss = (Op @ refl - data).pow(2).mean()
        loss.backward()
        opt.step()
        sched.step()
        if step % max(1, nsteps // 5) == 0 or step == nsteps - 1:
            print(f"step {step:4d}  loss {loss.item():.3e}")
    elapsed = time.perf_counter() - t0
    relerr = float(torch.linalg.vector_norm(h.detach() - wtrue) / torch.linalg.vector_norm(wtrue))
    print(f"{nsteps} Adam steps on {npairs} traces of {nt} samples ({dev}): {elapsed:.2f} s")
    print(f"relative error of the learned wavelet: {relerr:.2e}")

    if args.out:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no figure written")
        else:
            t = (torch.arange(len(wtrue)) - wc).numpy() * 4.0
            fig, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
            ax.plot(t, wtrue.cpu().numpy(), "k", lw=3, label="true Ricker (25 Hz)")
            ax.plot(t, h.detach().cpu().numpy(), "r--", lw=1.5, label=f"learned (rel. error {relerr:.1e})")
            ax.set_xlabel("time [ms]")
            ax.set_title("wavelet learnt through torchlops.Convolve1D")
            ax.legend()
            fig.savefig(args.out, dpi=110)
            plt.close(fig)
            print(f"figure written to {args.out}")

    if not relerr < 1e-2:
        raise AssertionError(f"the learned wavelet does not match the true one (relative error {relerr:.2e})")
    print("learned wavelet matches the true one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
