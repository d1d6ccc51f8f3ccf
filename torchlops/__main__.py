"""Command line entry point: ``python -m torchlops [demo|info|bench]``.

``demo`` (the default) solves a batch of small deconvolution problems with
:func:`torchlops.cgls` and, when PyLops is installed, compares one of them with
PyLops' CGLS. ``info`` reports versions, the devices torch sees and whether the
compiled extension was built. ``bench`` runs ``benchmarks/bench_core.py`` from a
source checkout.
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
def _blur_matrix(n: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    """Dense ``(n, n)`` Gaussian blur whose rows sum to one (edges renormalised)."""
    i = torch.arange(n, dtype=dtype)
    G = torch.exp(-0.5 * ((i[:, None] - i[None, :]) / sigma) ** 2)
    return G / G.sum(1, keepdim=True)


def _true_models(nbatch: int, n: int, generator: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """Blocky models with a few spikes on top, one per row."""
    x = torch.zeros(nbatch, n, dtype=dtype)
    for b in range(nbatch):
        edges = torch.randint(10, n - 10, (4,), generator=generator).sort().values.tolist()
        levels = torch.randn(5, generator=generator, dtype=dtype)
        for k, (lo, hi) in enumerate(zip([0, *edges], [*edges, n])):
            x[b, lo:hi] = levels[k]
        spikes = torch.randint(0, n, (6,), generator=generator)
        x[b, spikes] += 2.0 * torch.randn(6, generator=generator, dtype=dtype)
    return x


def demo(device: str | None = None, n: int = 200, nbatch: int = 8, niter: int = 150, damp: float = 0.1) -> int:
    """Deblur ``nbatch`` signals at once with :func:`torchlops.cgls` and compare with PyLops.

    Both libraries run the same CGLS recursion, so in float64 they agree to round-off
    once the iterations have converged. Mid-run the two paths may drift apart by far
    more than round-off (CG amplifies the different summation orders of the two matrix
    products); the defaults converge well within ``niter``.
    """
    dev = torch.device(device or _default_device())
    dtype = torch.float64
    gen = torch.Generator().manual_seed(0)

    # blur (MatrixMult) followed by a gain that grows with the sample index (Diagonal)
    G = _blur_matrix(n, sigma=2.0, dtype=dtype)
    gain = torch.linspace(1.0, 2.0, n, dtype=dtype)
    Op = (torchlops.Diagonal(gain) @ torchlops.MatrixMult(G)).to(dev)

    xtrue = _true_models(nbatch, n, gen, dtype)
    with torch.no_grad():
        yclean = Op @ xtrue.to(dev)
    noise = 0.01 * torch.randn(nbatch, n, generator=gen, dtype=dtype).to(dev)
    y = yclean + noise * yclean.abs().amax(-1, keepdim=True)

    print(f"torchlops {torchlops.__version__} demo on {dev}: {nbatch} deblurring problems of size {n}")
    print(f"  Op = Diagonal(gain) @ MatrixMult(Gaussian blur), shape {Op.shape}, {dtype}")
    print(f"  cgls(Op, y, niter={niter}, damp={damp}, tol=0) on y of shape {tuple(y.shape)}")

    with torch.no_grad():
        torchlops.cgls(Op, y, niter=2, damp=damp, tol=0)  # warm-up (allocators, kernels)
        _sync(dev)
        t0 = time.perf_counter()
        res = torchlops.cgls(Op, y, niter=niter, damp=damp, tol=0)
        _sync(dev)
        elapsed = time.perf_counter() - t0
        resid = torch.linalg.vector_norm(y - Op @ res.x, dim=-1).cpu()
    x = res.x.cpu()
    relerr = torch.linalg.vector_norm(x - xtrue, dim=-1) / torch.linalg.vector_norm(xtrue, dim=-1)

    print()
    print(f"  {'problem':>7}  {'iterations':>10}  {'rel. error':>10}  {'||y - Op x||':>12}")
    for b in range(nbatch):
        print(f"  {b:>7}  {res.iiter:>10}  {float(relerr[b]):>10.4f}  {float(resid[b]):>12.4e}")
    print(f"  wall time for the {nbatch} solves at once: {elapsed * 1e3:.1f} ms ({torch.get_num_threads()} torch threads)")

    try:
        import numpy as np
        import pylops
        from pylops.optimization.basic import cgls as pylops_cgls
    except ImportError:
        print("\n  pylops is not installed: skipping the comparison with pylops.optimization.basic.cgls")
        return 0
    POp = pylops.Diagonal(gain.numpy()) @ pylops.MatrixMult(G.numpy())
    ynp = y.cpu().numpy()
    t0 = time.perf_counter()
    xp = [pylops_cgls(POp, ynp[b], x0=None, niter=niter, damp=damp, tol=0)[0] for b in range(nbatch)]
    elapsed_p = time.perf_counter() - t0
    diff = float((torch.from_numpy(np.stack(xp)) - x).abs().max())
    print()
    print(f"  pylops {pylops.__version__} cgls, one problem after the other: {elapsed_p * 1e3:.1f} ms for all {nbatch}")
    print(f"  max |x_torchlops - x_pylops| over all problems = {diff:.3e}  (max |x| = {float(x.abs().max()):.3f})")
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
    rc = module.main(list(argv))
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
        help="demo: batched CGLS deblurring (default); info: versions and devices; bench: core benchmarks",
    )
    parser.add_argument("--device", default=None, help="device for demo/bench (default: cuda if available, else cpu)")
    parser.add_argument("--niter", type=int, default=150, help="demo: CGLS iterations (default: 150)")
    parser.add_argument("--damp", type=float, default=0.1, help="demo: CGLS damping (default: 0.1)")
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
    if args.niter < 0:
        parser.error(f"--niter must be non-negative, got {args.niter}")
    return demo(device=args.device, niter=args.niter, damp=args.damp)


if __name__ == "__main__":
    sys.exit(main())
