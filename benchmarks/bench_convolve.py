"""Convolution benchmark: correctness first, then the direct/FFT crossover and torchlops vs PyLops.

Run ``python benchmarks/bench_convolve.py [--device cpu|cuda] [--threads 1] [--n 2048]``.

1. correctness: ``Convolve1D``/``Convolve2D`` (direct and FFT) against PyLops in float64;
2. crossover: the direct (``conv1d``) and FFT engines on an ``n x n`` float32 array along the
   last axis for filter lengths 3..129 (the measured crossover is the constant
   ``DIRECT_FFT_CROSSOVER`` in ``torchlops/signalprocessing/convolvend.py``), and the compiled
   direct kernels vs FFT for 1-D and 2-D filters (``DIRECT_FFT_CROSSOVER_EXT``; with
   ``--n 256`` / ``--n 512``, ``DIRECT_FFT_CROSSOVER_EXT_SMALL``);
3. ``Convolve1D`` (31 taps) and ``Convolve2D`` (15 x 15) on ``n x n`` float32, forward and
   adjoint, vs PyLops (NumPy/SciPy) on the CPU; on cuda vs ``torch.nn.functional.conv*`` and
   PyLops + CuPy (when ``cupy`` imports);
4. few long signals with long filters (automatic method vs ``method="fft"`` vs PyLops).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

import torchlops
from torchlops.functional.convolution import convolve
from torchlops.signalprocessing.convolve1d import Convolve1D
from torchlops.signalprocessing.convolve2d import Convolve2D


def timeit(fn, device: torch.device, repeat: int = 3) -> float:
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def _pylops():
    try:
        import pylops
    except ImportError:  # (optional: a GPU image may lack it)
        return None
    return pylops


def correctness() -> None:
    pylops = _pylops()
    if pylops is None:
        print("correctness vs PyLops: skipped (pylops is not installed)")
        return
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 41))
    for method in ("direct", "fft"):
        h = rng.standard_normal(9)
        T = Convolve1D((37, 41), torch.from_numpy(h), offset=3, method=method)
        P = pylops.signalprocessing.Convolve1D((37, 41), h, offset=3)
        h2 = rng.standard_normal((5, 7))
        T2 = Convolve2D((37, 41), torch.from_numpy(h2), offset=(1, 4), method=method)
        P2 = pylops.signalprocessing.Convolve2D((37, 41), h2, offset=(1, 4))
        for name, Op, Pop in (("Convolve1D", T, P), ("Convolve2D", T2, P2)):
            for adj in (False, True):
                got = (Op.rmatvec if adj else Op.matvec)(torch.from_numpy(x)).numpy()
                err = np.abs(got - ((Pop.H if adj else Pop) @ x.ravel()).reshape(37, 41)).max()
                assert err < 1e-10, f"{name} {method} {'adjoint' if adj else 'forward'}: {err}"
    print("correctness vs PyLops: ok")


def crossover(n: int, device: torch.device, repeat: int) -> None:
    x = torch.randn(1, n, n, device=device)
    print(f"\ndirect vs FFT engines, {n}x{n} float32 along the last axis ({device}), ms")
    print(f"{'nh':>5} {'direct':>9} {'fft':>9} {'overlapadd':>11} {'fastest':>11}")
    first_fft = None
    for nh in (3, 5, 7, 9, 11, 13, 15, 19, 23, 31, 47, 63, 95, 129):
        h = torch.randn(nh, device=device)
        ts = {
            m: timeit(lambda m=m, h=h, nh=nh: convolve(x, h, (1,), (nh // 2,), None, m), device, repeat)
            for m in ("direct", "fft", "overlapadd")
        }
        best = min(ts, key=ts.get)
        if ts["fft"] < ts["direct"] and first_fft is None:
            first_fft = nh
        print(f"{nh:>5} {1e3 * ts['direct']:>9.1f} {1e3 * ts['fft']:>9.1f} {1e3 * ts['overlapadd']:>11.1f} {best:>11}")
    print(f"FFT faster than direct from nh = {first_fft}")


def crossover_ext(n: int, device: torch.device, repeat: int) -> None:
    """The compiled direct kernels vs the FFT engine, 1-D (last axis) and 2-D square filters
    (the constants ``DIRECT_FFT_CROSSOVER_EXT`` in ``torchlops/signalprocessing/convolvend.py``)."""
    x = torch.randn(n, n, device=device)
    print(f"\ndirect (compiled kernels) vs FFT, {n}x{n} float32 ({device}), forward ms")
    for naxes, sizes in ((1, (15, 31, 63, 95, 127, 159, 191)), (2, (5, 9, 13, 15, 17, 19, 21, 23))):
        first_fft = None
        for k in sizes:
            hs = (k,) * naxes
            h = torch.randn(*hs, device=device)
            off = tuple(k // 2 for _ in hs)
            if naxes == 1:
                D = Convolve1D((n, n), h, offset=off[0], method="direct", engine="ext").to(device)
                Fo = Convolve1D((n, n), h, offset=off[0], method="fft").to(device)
            else:
                D = Convolve2D((n, n), h, offset=off, method="direct", engine="ext").to(device)
                Fo = Convolve2D((n, n), h, offset=off, method="fft").to(device)
            with torch.no_grad():
                torch.testing.assert_close(D @ x, Fo @ x, rtol=1e-3, atol=1e-3 * k**naxes)
                td = timeit(lambda D=D: D @ x, device, repeat)
                tf = timeit(lambda Fo=Fo: Fo @ x, device, repeat)
            if tf < td and first_fft is None:
                first_fft = k
            print(f"  {naxes}-D {'x'.join(map(str, hs)):>7} taps ({k**naxes:>4})  direct-ext {1e3 * td:8.2f}  fft {1e3 * tf:8.2f}")
        print(f"  {naxes}-D: FFT faster than the kernels from {first_fft} per axis")


def _cupy():
    """CuPy when it imports (PyLops' GPU backend), else None."""
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def _check_variant(label: str, method: str, Op: torch.nn.Module, x: torch.Tensor, h1: torch.Tensor,
                   h2: torch.Tensor) -> None:
    """Before timing a variant on its device: its forward equals torch's convolution of the
    flipped filter (TF32 off) and its adjoint passes the dot test, both to float32 accuracy."""
    n = x.shape[-1]
    with torch.no_grad():
        y = Op.matvec(x)
        if isinstance(Op, Convolve1D):
            ref = F.conv1d(x.reshape(n, 1, n), h1.flip(0).reshape(1, 1, -1), padding=15).reshape(n, n)
        else:
            ref = F.conv2d(x.reshape(1, 1, n, n), h2.flip((0, 1)).reshape(1, 1, 15, 15), padding=7).reshape(n, n)
        err = float((y - ref).abs().max())
        assert err <= 1e-4 * float(ref.abs().max()), f"{label} {method} forward: max |difference| {err:.3e}"
        v = torch.randn_like(y)
        a, b = float((y.double() * v.double()).sum()), float((x.double() * Op.rmatvec(v).double()).sum())
        assert abs(a - b) <= 1e-4 * (abs(a) + abs(b)), f"{label} {method} adjoint: dot test {a:.6e} vs {b:.6e}"


def versus(n: int, device: torch.device, repeat: int) -> None:
    pylops = _pylops()
    x = torch.randn(n, n, device=device)
    h1 = torch.randn(31, device=device)
    h2 = torch.randn(15, 15, device=device)
    xn = x.cpu().numpy()
    rows = []
    # (label, constructor keywords): the pure-torch FFT engines, the compiled direct kernels
    # (when built) and the automatic choice (method=None, engine="auto")
    variants = [("fft", {"method": "fft"}), ("overlapadd", {"method": "overlapadd"})]
    if torchlops.ext_available():
        variants.append(("direct-ext", {"method": "direct", "engine": "ext"}))
    variants.append(("auto", {"method": None}))
    cases = [
        ("Convolve1D 31 taps", m, Convolve1D((n, n), h1, offset=15, **kw).to(device)) for m, kw in variants
    ] + [("Convolve2D 15x15", m, Convolve2D((n, n), h2, offset=(7, 7), **kw).to(device)) for m, kw in variants]
    for label, method, Op in cases:
        _check_variant(label, method, Op, x, h1, h2)
        tf = timeit(lambda Op=Op: Op.matvec(x), device, repeat)
        ta = timeit(lambda Op=Op: Op.rmatvec(x), device, repeat)
        if device.type == "cpu" and pylops is None:
            ref = "PyLops not installed"
        elif device.type == "cpu":
            if isinstance(Op, Convolve1D):
                P = pylops.signalprocessing.Convolve1D((n, n), h1.numpy(), offset=15, dtype="float32")
            else:
                P = pylops.signalprocessing.Convolve2D((n, n), h2.numpy(), offset=(7, 7), dtype="float32")
            tp = timeit(lambda P=P: P @ xn.ravel(), device, repeat)
            tpa = timeit(lambda P=P: P.H @ xn.ravel(), device, repeat)
            ref = f"PyLops {1e3 * tp:8.3f} / {1e3 * tpa:8.3f} ms  speed-up {tp / tf:5.2f}x / {tpa / ta:5.2f}x"
        else:
            if isinstance(Op, Convolve1D):
                w = h1.flip(0).reshape(1, 1, -1)
                tc = timeit(lambda w=w: F.conv1d(x.reshape(n, 1, n), w, padding=15), device, repeat)
            else:
                w = h2.flip((0, 1)).reshape(1, 1, 15, 15)
                tc = timeit(lambda w=w: F.conv2d(x.reshape(1, 1, n, n), w, padding=7), device, repeat)
            ref = f"torch conv {1e3 * tc:8.3f} ms  ratio {tc / tf:6.2f}x"
            cp = _cupy() if pylops is not None else None
            if cp is not None:  # PyLops on the GPU: CuPy arrays (sharing the torch tensors' memory)
                if isinstance(Op, Convolve1D):
                    P = pylops.signalprocessing.Convolve1D((n, n), cp.asarray(h1), offset=15, dtype="float32")
                else:
                    P = pylops.signalprocessing.Convolve2D((n, n), cp.asarray(h2), offset=(7, 7), dtype="float32")
                xc = cp.asarray(x).ravel()
                tp = timeit(lambda P=P, xc=xc: P @ xc, device, repeat)
                ref += f"  PyLops+CuPy {1e3 * tp:7.3f} ms  ratio {tp / tf:6.2f}x"
        if method == "auto":
            method = f"auto:{Op.method}"
        if not rows:
            print(f"\n{n}x{n} float32 on {device} (fwd / adj; ratios: their forward time / ours)")
        rows.append(f"{label:<20} {method:>11}  fwd {1e3 * tf:8.3f} / adj {1e3 * ta:8.3f} ms   {ref}")
        print(rows[-1], flush=True)  # (as measured: a run cut short still shows its rows)


def long_signals(device: torch.device, repeat: int) -> None:
    """Few long signals with long filters: the automatic method (overlap-add on the CPU for a few
    long signals, ``fft_or_overlap_add``) against ``method="fft"`` and PyLops' ``method="fft"``."""
    pylops = _pylops()
    print(f"\nlong signals, float32 ({device}), forward ms: automatic / method='fft' / PyLops method='fft'")
    rng = np.random.default_rng(1)
    for shape, nh in (((1 << 20,), 1001), ((65536,), 513), ((16, 65536), 513)):
        xn = rng.standard_normal(shape).astype(np.float32)
        hn = rng.standard_normal(nh).astype(np.float32)
        x, h = torch.from_numpy(xn).to(device), torch.from_numpy(hn).to(device)
        auto = Convolve1D(shape, h, offset=nh // 2).to(device)
        fft = Convolve1D(shape, h, offset=nh // 2, method="fft").to(device)
        ya, yf = auto @ x, fft @ x
        err = float((ya - yf).abs().max() / yf.abs().max())
        assert err < 1e-4, f"automatic vs fft: {err:.2e}"
        ta = timeit(lambda A=auto, v=x: A @ v, device, repeat)
        tf = timeit(lambda A=fft, v=x: A @ v, device, repeat)
        ref = ""
        if pylops is not None and device.type == "cpu":
            # (PyLops 2.8 takes overlapadd for N-d models only, where it raises in scipy)
            P = pylops.signalprocessing.Convolve1D(shape, hn, offset=nh // 2, method="fft", dtype="float32")
            xf = xn.ravel()
            yp = P @ xf
            assert np.abs(yp - yf.cpu().numpy().ravel()).max() / np.abs(yp).max() < 1e-4
            ref = f" / {1e3 * timeit(lambda P=P, v=xf: P @ v, device, repeat):8.2f}"
        print(f"{str(shape):<14} {nh:>5} taps  {1e3 * ta:8.2f} / {1e3 * tf:8.2f}{ref}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-crossover", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    if dev.type == "cuda":  # (full float32 in the cuDNN / cuBLAS references)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    correctness()
    if not args.skip_crossover:
        crossover(args.n, dev, args.repeat)
        if torchlops.ext_available():
            crossover_ext(args.n, dev, args.repeat)
    versus(args.n, dev, args.repeat)
    long_signals(dev, args.repeat)


if __name__ == "__main__":
    main()
