r"""MoDL-style deblurring: a CNN denoiser alternating with a data-consistency CG solve, vs Tikhonov.

Small piecewise-constant images (random rectangles) are blurred by a Gaussian
(:class:`torchlops.signalprocessing.convolve2d.Convolve2D`) and noise is added. The network
starts from the Tikhonov solution of :class:`torchlops.nn.DataConsistency` with a zero prior and
then repeats ``K`` times

.. math::
    \mathbf{z}_k = D_\theta(\mathbf{x}_k), \qquad
    \mathbf{x}_{k+1} = (\mathbf{A}^H\mathbf{A} + \lambda\mathbf{I})^{-1}(\mathbf{A}^H\mathbf{y} + \lambda\mathbf{z}_k),

with one shared residual CNN :math:`D_\theta` (:class:`torchlops.nn.ConvDenoiser`) and a learnt
:math:`\lambda`; the solves are differentiated implicitly (one more CG solve in the backward).
It is compared with Tikhonov regularisation by CGLS, its damping tuned on the test set.
Run ``python examples/04_data_consistency_deblurring.py`` (a few minutes on two CPU cores) or
with ``--quick`` (a check for CI).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from torchlops.nn import ConvDenoiser, DataConsistency
from torchlops.optimization.basic import cgls
from torchlops.signalprocessing.convolve2d import Convolve2D


def make_operator(n: int, sigma: float = 1.5, size: int = 9) -> Convolve2D:
    t = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    h = torch.outer(g, g)
    return Convolve2D((n, n), h / h.sum(), offset=(size // 2, size // 2))


def make_images(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` images of ``size x size``: a background plus 3 to 6 rectangles of random intensity."""
    ii = torch.arange(size)
    x = torch.rand(n, 1, 1, generator=gen).expand(n, size, size) * 0.3
    for _ in range(6):
        r0, c0 = (torch.randint(0, size - 4, (2, n, 1, 1), generator=gen))
        h, w = (torch.randint(4, size // 2, (2, n, 1, 1), generator=gen))
        on = torch.rand(n, 1, 1, generator=gen) < 0.7
        mask = ((ii[:, None] >= r0) & (ii[:, None] < r0 + h) & (ii[None, :] >= c0) & (ii[None, :] < c0 + w)) & on
        x = torch.where(mask, torch.rand(n, 1, 1, generator=gen), x)
    return x.contiguous()


def make_data(Op: Convolve2D, n: int, noise: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    x = make_images(n, Op.dims[0], gen)
    with torch.no_grad():
        y = Op(x)
    return x, y + noise * torch.randn(y.shape, generator=gen)


def psnr(x: torch.Tensor, xhat: torch.Tensor) -> float:
    """Mean over images of 10 log10(1 / mse) (peak value 1), in dB."""
    mse = ((x - xhat) ** 2).mean(dim=(-2, -1)).clamp_min(1e-12)
    return float((-10 * torch.log10(mse)).mean())


class MoDL(nn.Module):
    """``x_0 = DC(0, y)``; then ``K`` times ``x = DC(D(x), y)`` with a shared denoiser and lambda."""

    def __init__(self, Op: Convolve2D, n_iter: int, lam: float, cg_iter: int) -> None:
        super().__init__()
        self.n_iter = n_iter
        self.denoiser = ConvDenoiser(ndim=2, hidden=32, depth=4)
        self.dc = DataConsistency(Op, lam=lam, niter=cg_iter, implicit=True)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        x = self.dc(torch.zeros_like(y), y)
        for _ in range(self.n_iter):
            x = self.dc(self.denoiser(x), y)
        return x


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short training (CI check)")
    p.add_argument("--niter", type=int, default=3, help="unrolled denoiser + data-consistency iterations")
    p.add_argument("--noise", type=float, default=0.02)
    p.add_argument("--figure", default="04_data_consistency_deblurring.png")
    args = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest and steadiest on a busy machine
    t0 = time.time()
    n = 32
    Op = make_operator(n)
    gen = torch.Generator().manual_seed(1)
    xtest, ytest = make_data(Op, 200, args.noise, torch.Generator().manual_seed(2))

    # Tikhonov: min ||y - A x||^2 + damp^2 ||x||^2 by CGLS, damp tuned on the test set
    best = (-np.inf, None, None)
    for damp in np.geomspace(1e-3, 1.0, 16):
        xt = cgls(Op=Op, y=ytest, niter=50, damp=float(damp), tol=0.0).x
        best = max(best, (psnr(xtest, xt), float(damp), xt), key=lambda t: t[0])
    psnr_tik, damp_tik, xtik = best

    steps = 60 if args.quick else 800
    net = MoDL(Op, n_iter=args.niter, lam=damp_tik**2, cg_iter=10)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    for _ in range(steps):
        x, y = make_data(Op, 16, args.noise, gen)
        loss = ((net(y) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    with torch.no_grad():
        xnet = torch.cat([net(yb) for yb in ytest.split(50)])
    psnr_net = psnr(xtest, xnet)
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])

    print(f"deblurring {n}x{n} images, Gaussian blur, noise {args.noise}, 200 test images")
    print(f"  blurred data            : PSNR {psnr(xtest, ytest):6.2f} dB")
    print(f"  Tikhonov (CGLS, damp={damp_tik:.3g}): PSNR {psnr_tik:6.2f} dB")
    print(f"  MoDL ({args.niter} it., {steps} steps, loss {first:.4f} -> {last:.4f}, lambda {float(net.dc.lam.detach()):.3g})"
          f": PSNR {psnr_net:6.2f} dB")
    print(f"  elapsed {time.time() - t0:.1f} s")
    assert last < first, f"the training loss did not decrease ({first:.4f} -> {last:.4f})"
    assert psnr_net > psnr_tik, f"MoDL ({psnr_net:.2f} dB) did not beat Tikhonov ({psnr_tik:.2f} dB)"

    try:
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure")
        return
    fig, axs = plt.subplots(3, 4, figsize=(9, 7))
    for i in range(3):
        for ax, img, title in zip(axs[i], (xtest[i], ytest[i], xtik[i], xnet[i]),
                                  ("true", "blurred", f"Tikhonov {psnr_tik:.1f} dB", f"MoDL {psnr_net:.1f} dB")):
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_axis_off()
            if i == 0:
                ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(args.figure, dpi=100)
    print(f"figure written to {args.figure}")


if __name__ == "__main__":
    main()
