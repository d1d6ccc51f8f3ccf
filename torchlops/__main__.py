"""Command line entry point: ``python -m torchlops [demo|info|bench]``.

``demo`` (the default) solves a post-stack seismic deconvolution problem (a faulted
layered reflectivity convolved with a Ricker wavelet, plus noise) with CGLS and
Laplacian regularisation and with FISTA, prints iterations, time and SNR of each and
writes a figure when matplotlib is installed. ``info`` reports versions, the devices
torch sees and whether the compiled extension was built. ``bench`` runs
``benchmarks/bench_core.py`` from a source checkout.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import torch

import torchlops

__all__ = ["main", "info", "demo", "bench"]


def _default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _version(module: str) -> str:
    """Version string of an importable module, or why it is missing."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return "not installed"
    except Exception as err:  # a broken optional dependency must not break `info`
        return f"import failed ({type(err).__name__}: {err})"
    return str(getattr(mod, "__version__", "unknown version"))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------- info
def info() -> int:
    """Print versions, build, devices, threads and the extension status."""
    if torch.version.cuda:
        build = f"CUDA {torch.version.cuda}"
    elif getattr(torch.version, "hip", None):
        build = f"ROCm/HIP {torch.version.hip}"
    else:
        build = "CPU only"
    rows = [
        ("torchlops", f"{torchlops.__version__} ({Path(torchlops.__file__).parent})"),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("torch", f"{torch.__version__} ({build})"),
        ("numpy", _version("numpy")),
        ("scipy", _version("scipy")),
        ("pylops", _version("pylops")),
        ("torch threads", f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op"),
        ("extension", "built" if torchlops.ext_available() else "not built"),
        ("extension info", torchlops.ext_info()),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}} : {value}")
    print("devices:")
    print(f"  cpu     : {platform.processor() or platform.machine()}")
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            mem = props.total_memory / 2**30
            print(f"  cuda:{i}  : {props.name} ({mem:.1f} GiB, capability {props.major}.{props.minor})")
    elif torch.version.cuda:
        print("  cuda    : torch was built with CUDA but no GPU is visible")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        print("  mps     : available")
    return 0


# ---------------------------------------------------------------------------- demo
def _layered_model(nz: int, nx: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Acoustic impedance of dipping layers cut by a normal fault, and its reflectivity
    ``r[i] = (ai[i] - ai[i-1]) / (ai[i] + ai[i-1])`` along depth/time (axis 0)."""
    z = torch.arange(nz, dtype=dtype)[:, None] * (200.0 / nz)  # layout defined on a 200-sample grid
    x = torch.arange(nx, dtype=dtype)[None, :] * (100.0 / nx)
    fault = 55.0 + 0.25 * (z - 100.0)  # lateral position of the (dipping) fault plane
    zz = z - torch.where(x > fault, 14.0, 0.0)  # hanging wall dropped by 14 samples
    ai = torch.full((nz, nx), 2500.0, dtype=dtype)
    layers = [(30, 2800, 0.10), (55, 3300, 0.12), (75, 3000, 0.15), (100, 3800, 0.15),
              (120, 3400, 0.20), (140, 4200, 0.20), (165, 3900, 0.25)]  # (top, impedance, dip)
    for top, value, dip in layers:
        ai = torch.where(zz >= top + dip * x, torch.full_like(ai, value), ai)
    r = torch.zeros_like(ai)
    r[1:] = (ai[1:] - ai[:-1]) / (ai[1:] + ai[:-1])
    return ai, r


def _snr_db(est: torch.Tensor, true: torch.Tensor) -> float:
    """``10 log10(||true||^2 / ||est - true||^2)``."""
    return float(10.0 * torch.log10(true.pow(2).sum() / (est - true).pow(2).sum()))


def _figure(out: str, r: torch.Tensor, d: torch.Tensor, results: list[tuple[str, torch.Tensor, float]],
            dt: float) -> str | None:
    """Write the model/data/estimates figure to ``out``; returns why not when it cannot."""
    try:
        import matplotlib

        if "matplotlib.pyplot" not in sys.modules:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no figure written (pip install matplotlib)"
    nz, nx = r.shape
    extent = (0, nx, nz * dt * 1e3, 0)  # traces, two-way time in ms
    clip = float(r.abs().max())
    trace = int(0.7 * nx)
    panels = [("true reflectivity", r, "seismic", clip), ("data: Ricker * r + noise\n(own grey scale)", d, "gray",
                                                          float(d.abs().max()))]
    panels += [(f"{name}\nSNR {snr:.1f} dB", est, "seismic", clip) for name, est, snr in results]
    fig = plt.figure(figsize=(3.1 * len(panels) + 0.8, 7.5), constrained_layout=True)
    grid = fig.add_gridspec(2, len(panels), height_ratios=(3, 1.3))
    axes = []
    for k, (title, img, cmap, vmax) in enumerate(panels):
        ax = fig.add_subplot(grid[0, k], sharey=axes[0] if axes else None)
        im = ax.imshow(img.numpy(), cmap=cmap, vmin=-vmax, vmax=vmax, extent=extent, aspect="auto",
                       interpolation="none")
        ax.axvline(trace + 0.5, color="0.4", lw=0.8, ls="--")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("trace")
        if k == 0:
            ax.set_ylabel("two-way time [ms]")
            shared = im
        else:
            ax.tick_params(labelleft=False)
        axes.append(ax)
    fig.colorbar(shared, ax=[a for k, a in enumerate(axes) if k != 1], shrink=0.8, pad=0.01,
                 label="reflectivity (shared scale)")
    ax = fig.add_subplot(grid[1, :])
    t = torch.arange(nz).numpy() * dt * 1e3
    ax.plot(t, r[:, trace].numpy(), "k", lw=2, label="true")
    for (name, est, snr), color in zip(results, ("tab:blue", "tab:red")):
        ax.plot(t, est[:, trace].numpy(), color=color, lw=1.2, label=f"{name} ({snr:.1f} dB)")
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("time [ms]")
    ax.set_title(f"trace {trace} (dashed line above)", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    fig.suptitle("torchlops post-stack deconvolution: smooth least squares vs sparse (FISTA)")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return None


def demo(device: str | None = None, niter: int = 100, niter_fista: int = 300, eps_lap: float = 0.1,
         eps_l1: float = 0.02, noise: float = 0.1, nz: int = 200, nx: int = 100,
         out: str | None = "torchlops_demo.png", seed: int = 0) -> int:
    """Post-stack seismic deconvolution of a faulted layered model, solved two ways.

    The data are the reflectivity convolved with a 20 Hz Ricker wavelet along time
    (:class:`torchlops.Convolve1D`, axis 0) plus white noise of ``noise`` times the
    clean data's standard deviation. (a) :func:`torchlops.cgls` on the stacked system
    ``[Op; eps_lap * Laplacian] r = [d; 0]`` (smooth least squares), (b)
    :func:`torchlops.fista` with an L1 weight ``eps_l1`` (sparse reflectivity). The SNR
    of each estimate is measured against the true reflectivity.
    """
    import os

    from torchlops.optimization.basic import cgls
    from torchlops.optimization.sparsity import fista
    from torchlops.utils.wavelets import ricker

    if out and os.path.dirname(out) and not os.path.isdir(os.path.dirname(out)):
        # (checked before the solves, not after)
        raise SystemExit(f"--out {out}: the folder {os.path.dirname(out)} does not exist")

    dev = torch.device(device or _default_device())
    dtype = torch.float64
    dt = 0.004
    gen = torch.Generator().manual_seed(seed)
    _, r = _layered_model(nz, nx, dtype)
    w, _, wc = ricker(torch.arange(21, dtype=dtype) * dt, f0=20.0)
    Op = torchlops.Convolve1D((nz, nx), w.to(dtype), offset=wc, axis=0).to(dev)
    with torch.no_grad():
        dclean = Op @ r.to(dev)
        sigma = noise * dclean.std()
        d = dclean + sigma * torch.randn(nz, nx, generator=gen, dtype=dtype).to(dev)

    print(f"torchlops {torchlops.__version__} demo on {dev}: post-stack deconvolution of a faulted layered model")
    print(f"  model {nz} x {nx} (time x traces), 20 Hz Ricker wavelet, dt = {dt * 1e3:.0f} ms, "
          f"noise = {noise:g} x std(data) (data SNR {_snr_db(d, dclean):.1f} dB)")

    Lap = torchlops.Laplacian((nz, nx), dtype=dtype).to(dev)
    Reg = torchlops.VStack([Op, eps_lap * Lap])
    dreg = torch.cat([d.reshape(-1), torch.zeros(nz * nx, dtype=dtype, device=dev)])
    # FISTA step 1 / ||Op||^2: the largest squared amplitude spectrum of the wavelet
    alpha = float(1.0 / torch.fft.rfft(w.to(dtype), n=8 * nz).abs().max() ** 2)

    rows: list[tuple[str, int, float, float]] = []
    results: list[tuple[str, torch.Tensor, float]] = []
    with torch.no_grad():
        cgls(Reg, dreg, niter=2, tol=0)  # warm-up (allocators, kernels)
        _sync(dev)
        t0 = time.perf_counter()
        res = cgls(Reg, dreg, niter=niter, tol=0)
        _sync(dev)
        t_cgls = time.perf_counter() - t0
        x_cgls = res.x.reshape(nz, nx).cpu()
        t0 = time.perf_counter()
        resf = fista(Op, d, niter=niter_fista, eps=eps_l1, alpha=alpha, tol=0)
        _sync(dev)
        t_fista = time.perf_counter() - t0
        x_fista = resf.x.reshape(nz, nx).cpu()
    for name, x, it, tsolve in ((f"CGLS + Laplacian (eps={eps_lap:g})", x_cgls, res.iiter, t_cgls),
                                (f"FISTA L1 (eps={eps_l1:g})", x_fista, resf.iiter, t_fista)):
        snr = _snr_db(x, r)
        rows.append((name, int(it), tsolve, snr))
        results.append((name, x, snr))

    print()
    print(f"  {'method':<28}  {'iterations':>10}  {'time [s]':>8}  {'SNR [dB]':>8}")
    for name, it, tsolve, snr in rows:
        print(f"  {name:<28}  {it:>10d}  {tsolve:>8.2f}  {snr:>8.2f}")
    nthr = torch.get_num_threads()
    print(f"  (SNR against the true reflectivity; {nthr} torch thread{'s' if nthr != 1 else ''})")
    if rows[1][3] > rows[0][3]:
        print("  smooth least squares cannot restore the frequencies the wavelet removed; the L1 prior can")
    else:
        print("  here the L1 estimate is not the better one (too few iterations, or no noise to suppress?)")
    if out:
        why = _figure(out, r, d.cpu(), results, dt)
        print(f"\n  {why}" if why else f"\n  figure written to {out}")
    return 0


# ---------------------------------------------------------------------------- bench
def _load_bench() -> ModuleType | None:
    """``benchmarks/bench_core.py`` of the source tree this package was imported from."""
    path = Path(torchlops.__file__).resolve().parent.parent / "benchmarks" / "bench_core.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location("torchlops_bench_core", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    return module


def bench(argv: Sequence[str] = ()) -> int:
    """Run ``benchmarks/bench_core.py``'s ``main`` with ``argv``, or say how to get it."""
    module = _load_bench()
    if module is None or not hasattr(module, "main"):
        print(
            "benchmarks/bench_core.py is not next to this installation of torchlops.\n"
            "From a source checkout run:  PYTHONPATH=. python benchmarks/bench_core.py --device cpu --repeat 20"
        )
        return 0
    rc = module.main(list(argv), prog="python -m torchlops bench")
    return int(rc or 0)


# ---------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m torchlops",
        allow_abbrev=False,
        description="torchlops: PyLops-style linear operators in PyTorch.",
        epilog="Options that `bench` does not know here (e.g. --repeat) are passed on to benchmarks/bench_core.py.",
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="demo",
        choices=("demo", "info", "bench"),
        help="demo: post-stack deconvolution with CGLS and FISTA (default); info: versions and devices; bench: core benchmarks",
    )
    parser.add_argument("--device", default=None, help="device for demo/bench (default: cuda if available, else cpu)")
    parser.add_argument("--niter", type=int, default=100, help="demo: CGLS iterations (default: 100)")
    parser.add_argument("--niter-fista", type=int, default=300, help="demo: FISTA iterations (default: 300)")
    parser.add_argument("--eps-lap", type=float, default=0.1, help="demo: Laplacian weight for CGLS (default: 0.1)")
    parser.add_argument("--eps-l1", type=float, default=0.02, help="demo: L1 weight for FISTA (default: 0.02)")
    parser.add_argument("--noise", type=float, default=0.1, help="demo: noise std / data std (default: 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="demo: noise seed (default: 0)")
    parser.add_argument("--out", default="torchlops_demo.png",
                        help="demo: figure path (default: torchlops_demo.png; '' for no figure)")
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help") for a in argv):
        # (the help of bench's own options when the command is bench, not this parser's)
        others = [a for a in argv if a not in ("-h", "--help")]
        try:
            pre, rest = parser.parse_known_args(others)
        except SystemExit:
            pre = None
        if pre is not None and pre.command == "bench":
            dev = ["--device", pre.device] if pre.device is not None else []
            return bench([*dev, *rest, "--help"])
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.device is not None:
        try:
            dev = torch.device(args.device)
        except RuntimeError as err:
            parser.error(f"--device {args.device!r} is not a device torch knows ({err})")
        if dev.type == "cuda" and not torch.cuda.is_available():
            parser.error(f"--device {args.device} was asked for but torch sees no CUDA device")
    if args.command == "info":
        return info()
    if args.command == "bench":
        forwarded = list(rest)
        if args.device is not None:
            forwarded = ["--device", args.device, *forwarded]
        return bench(forwarded)
    for opt in ("niter", "niter_fista"):
        if getattr(args, opt) < 0:
            parser.error(f"--{opt.replace('_', '-')} must be non-negative, got {getattr(args, opt)}")
    for opt in ("eps_lap", "eps_l1", "noise"):
        if getattr(args, opt) < 0:
            parser.error(f"--{opt.replace('_', '-')} must be non-negative, got {getattr(args, opt)}")
    return demo(device=args.device, niter=args.niter, niter_fista=args.niter_fista, eps_lap=args.eps_lap,
                eps_l1=args.eps_l1, noise=args.noise, out=args.out or None, seed=args.seed)

if __name__ == "__main__":
    sys.exit(main())
