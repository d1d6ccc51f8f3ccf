"""Stencil benchmarks: derivatives, Laplacian, gradient and smoothing, torchlops vs PyLops.

Forward and adjoint of ``FirstDerivative``, ``SecondDerivative``, ``Laplacian``,
``Gradient`` and ``Smoothing2D`` on an ``n x n`` array (2048 x 2048 float32 by default):

- torchlops (``Op @ x`` and ``Op.H @ y``) on ``--device``;
- PyLops with NumPy on the CPU (the reference, ratio = PyLops time / torchlops time);
- on CUDA also a plain-torch expression of the same stencil (slices and one subtraction)
  and the fraction of the copy-bandwidth floor: ``2 * bytes(x) / copy bandwidth`` over the
  measured time, where the bandwidth is that of ``y.copy_(x)`` on the same array. CuPy-backed
  PyLops is timed when ``cupy`` is installed.

Every implementation is checked against PyLops (``allclose``) before it is timed. Times are
the best of ``--rounds`` rounds of ``--repeat`` calls after ``--warmup`` calls.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_stencils.py --threads 1
    PYTHONPATH=. python benchmarks/bench_stencils.py --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

import torchlops

try:
    import pylops
except ImportError:  # optional
    pylops = None

try:  # optional, GPU PyLops
    import cupy
except ImportError:
    cupy = None

__all__ = ["main"]


@dataclass
class Row:
    case: str
    impl: str
    seconds: float
    floor: float | None = None  # fraction of the copy-bandwidth floor (GPU)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], object], device: torch.device, repeat: int, rounds: int, warmup: int) -> float:
    """Best over ``rounds`` of the mean time of ``repeat`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    best = float("inf")
    for _ in range(rounds):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _plain(name: str, adjoint: bool) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A plain-torch expression of the same stencil (GPU comparison)."""
    if name == "FirstDerivative" and not adjoint:

        def fd(x: torch.Tensor) -> torch.Tensor:
            y = torch.zeros_like(x)
            y[:, 1:-1] = 0.5 * (x[:, 2:] - x[:, :-2])
            return y

        return fd
    if name in ("SecondDerivative", "Laplacian") and not adjoint:

        def sd(x: torch.Tensor) -> torch.Tensor:
            y = torch.zeros_like(x)
            y[:, 1:-1] = x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]
            if name == "Laplacian":
                y[1:-1, :] += x[2:, :] - 2 * x[1:-1, :] + x[:-2, :]
            return y

        return sd
    return None


def operators(n: int, dtype: torch.dtype) -> list[tuple[str, object, object]]:
    """(name, torchlops operator, PyLops operator or None) on an ``n x n`` model."""
    npdt = str(dtype).replace("torch.", "")
    cases = [
        ("FirstDerivative", dict(dims=(n, n), axis=-1)),
        ("SecondDerivative", dict(dims=(n, n), axis=-1)),
        ("Laplacian", dict(dims=(n, n))),
        ("Gradient", dict(dims=(n, n))),
        ("Smoothing2D", dict(nsmooth=(5, 5), dims=(n, n))),
    ]
    out = []
    for name, kw in cases:
        Top = getattr(torchlops, name)(**kw, dtype=dtype)
        Pop = getattr(pylops, name)(**kw, dtype=npdt) if pylops is not None else None
        out.append((name, Top, Pop))
    return out


def run(args: argparse.Namespace) -> list[Row]:
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    n = args.n
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, n, dtype=dtype, generator=gen)
    rows: list[Row] = []
    nbytes = x.numel() * x.element_size()
    bw = None
    if device.type == "cuda":
        xs, ys = x.to(device), torch.empty_like(x, device=device)
        tcopy = timeit(lambda: ys.copy_(xs), device, args.repeat, args.rounds, args.warmup)
        bw = 2 * nbytes / tcopy
        print(f"copy bandwidth on {device}: {bw / 1e9:.0f} GB/s")
    for name, Top, Pop in operators(n, dtype):
        Top = Top.to(device)
        for adjoint in (False, True):
            case = f"{name}{'.H' if adjoint else ''}"
            inp = torch.randn(*(Top.dimsd if adjoint else Top.dims), dtype=dtype, generator=gen)
            tin = inp.to(device)
            top = Top.H if adjoint else Top

            def t_fn(top=top, tin=tin) -> torch.Tensor:
                return top @ tin

            yt = t_fn()
            if Pop is not None:
                pin = _np(inp).ravel()
                pfun = Pop.rmatvec if adjoint else Pop.matvec

                def p_fn(pfun=pfun, pin=pin) -> np.ndarray:
                    return pfun(pin)

                yp = p_fn()
                ok = np.allclose(_np(yt).ravel(), yp, rtol=1e-4, atol=1e-4 * np.abs(yp).max())
                if not ok:
                    raise AssertionError(f"{case}: torchlops and PyLops disagree")
                tp = timeit(p_fn, torch.device("cpu"), max(1, args.repeat // 4), args.rounds, 2)
                rows.append(Row(case, "pylops (numpy)", tp))
                if cupy is not None and device.type == "cuda":
                    cin = cupy.asarray(pin)

                    def c_fn(pfun=pfun, cin=cin) -> object:
                        return pfun(cin)

                    tc = timeit(c_fn, device, args.repeat, args.rounds, args.warmup)
                    rows.append(Row(case, "pylops (cupy)", tc))
            tt = timeit(t_fn, device, args.repeat, args.rounds, args.warmup)
            mult = Top.dimsd[0] if (name == "Gradient") else 1
            floor = None if bw is None else (mult * nbytes + nbytes) / bw / tt
            rows.append(Row(case, "torchlops", tt, floor))
            plain = _plain(name, adjoint) if device.type == "cuda" else None
            if plain is not None:
                torch.testing.assert_close(plain(tin), yt, rtol=1e-4, atol=1e-4)
                tpl = timeit(lambda plain=plain, tin=tin: plain(tin), device, args.repeat, args.rounds, args.warmup)
                rows.append(Row(case, "plain torch", tpl, None if bw is None else 2 * nbytes / bw / tpl))
    return rows


def print_table(rows: Sequence[Row]) -> None:
    """One block per case; ``speedup`` is PyLops (NumPy) time over this implementation's time."""
    wcase = max(len(r.case) for r in rows)
    wimpl = max(len(r.impl) for r in rows)
    hdr = f"{'case':<{wcase}}  {'impl':<{wimpl}}  {'ms/call':>9}  {'vs pylops':>9}  {'floor':>6}"
    print(hdr)
    print("-" * len(hdr))
    last = None
    for r in rows:
        base = next((q.seconds for q in rows if q.case == r.case and q.impl == "pylops (numpy)"), None)
        if last is not None and r.case != last:
            print()
        ratio = f"{base / r.seconds:9.2f}" if base else f"{'-':>9}"
        floor = f"{r.floor:6.2f}" if r.floor is not None else f"{'-':>6}"
        print(
            f"{(r.case if r.case != last else ''):<{wcase}}  {r.impl:<{wimpl}}  {r.seconds * 1e3:9.3f}  {ratio}  {floor}"
        )
        last = r.case


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, default=2048, help="model is n x n (default: 2048)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per round (default: 20)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; the best is reported (default: 5)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default: 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, pylops {getattr(pylops, '__version__', 'not installed')}, "
        f"device {args.device}, {args.dtype} {args.n}x{args.n}, torch threads {torch.get_num_threads()}"
    )
    rows = run(args)
    print("all implementations agree with PyLops (checked before timing)\n")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
