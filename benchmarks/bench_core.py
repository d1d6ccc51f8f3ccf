"""Core overhead benchmarks: torchlops vs PyLops (NumPy) vs plain torch.

Cases
-----
(a) composite operators applied to a batch of inputs:
    ``VStack([MatrixMult(A), 0.5 * Identity(n)])`` and ``A.H @ A + 0.1 * Identity(n)``,
    torchlops batched ``Op @ X`` with ``X`` of shape ``(batch, n)`` vs
    ``pylops.TorchOperator(POp, batch=True)`` vs PyLops ``POp.matmat`` on an ``(n, batch)``
    NumPy array.
(b) the tiny-operator overhead: ``Diagonal`` of size 1000, ``y = D(x); y.sum().backward()``
    through torchlops vs the same expression in plain torch (``(d * x).sum().backward()``)
    vs ``pylops.TorchOperator`` of a PyLops ``Diagonal``.

Every implementation is checked against the others before it is timed. PyLops always runs
on the CPU with NumPy (its ``TorchOperator`` copies a CUDA input to the host and back).
PyLops is optional: its columns are skipped when it is not installed.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_core.py --device cpu --repeat 200

On a CPU shared with other jobs, pass ``--threads 1``: a multi-threaded torch kernel waits
at its barrier for every thread, so one thread preempted by another process can make a
call many times slower, while small NumPy products run on one thread anyway.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

import torchlops
from torchlops import _autograd

try:
    import pylops
except ImportError:  # optional
    pylops = None

__all__ = ["main"]


@dataclass
class Row:
    case: str
    impl: str
    seconds: float  # per call


# ---------------------------------------------------------------------------- helpers
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timeit(fn: Callable[[], object], device: torch.device, repeat: int, rounds: int, warmup: int) -> float:
    """Best over ``rounds`` of the mean time of ``repeat`` calls, after ``warmup`` calls.

    The best round is the one least disturbed by other work on the machine.
    """
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(rounds):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        _sync(device)
        times.append((time.perf_counter() - t0) / repeat)
    return min(times)


def check_close(actual: object, expected: torch.Tensor, what: str, rtol: float) -> None:
    """Raise ``AssertionError`` unless ``actual`` and ``expected`` agree in the relative 2-norm."""
    a = torch.as_tensor(actual).detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {tuple(a.shape)} != expected {tuple(e.shape)}")
    err = float(torch.linalg.vector_norm(a - e) / torch.linalg.vector_norm(e).clamp_min(1e-300))
    if err > rtol:
        raise AssertionError(f"{what}: relative error {err:.2e} > {rtol:.0e}")


def _torch_operator(POp: object, batch: bool, device: torch.device) -> object:
    return pylops.TorchOperator(POp, batch=batch, device="cpu", devicetorch=str(device))


# ---------------------------------------------------------------------------- case (a)
def bench_composite(
    device: torch.device, dtype: torch.dtype, n: int, nbatch: int, repeat: int, rounds: int, warmup: int
) -> list[Row]:
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(n, n, generator=gen, dtype=torch.float64) / n**0.5
    X = torch.randn(nbatch, n, generator=gen, dtype=torch.float64)
    rtol = 1e-10 if dtype == torch.float64 else 1e-4

    MA = torchlops.MatrixMult(A.to(dtype))
    cases = {
        f"VStack[MatrixMult, 0.5 I] n={n}, batch {nbatch}": torchlops.VStack(
            [MA, 0.5 * torchlops.Identity(n, dtype=dtype)]
        ),
        f"A.H @ A + 0.1 I n={n}, batch {nbatch}": MA.H @ MA + 0.1 * torchlops.Identity(n, dtype=dtype),
    }
    if pylops is not None:
        npdt = A.to(dtype).numpy().dtype
        PA = pylops.MatrixMult(A.to(dtype).numpy(), dtype=npdt)
        pcases = [
            pylops.VStack([PA, 0.5 * pylops.Identity(n, dtype=npdt)]),
            PA.H @ PA + 0.1 * pylops.Identity(n, dtype=npdt),
        ]
    else:
        pcases = [None, None]
    references = [
        torch.cat((X @ A.T, 0.5 * X), dim=1),
        X @ (A.T @ A).T + 0.1 * X,
    ]

    rows: list[Row] = []
    Xd = X.to(device, dtype)
    for (case, Op), POp, ref in zip(cases.items(), pcases, references):
        Op = Op.to(device)
        impls: dict[str, Callable[[], object]] = {"torchlops Op @ X": lambda Op=Op: Op @ Xd}
        if POp is not None:
            Top = _torch_operator(POp, batch=True, device=device)
            Xn = np.ascontiguousarray(X.to(dtype).numpy().T)
            impls["pylops TorchOperator(batch=True)"] = lambda Top=Top: Top(Xd)
            impls["pylops matmat (numpy, n x batch)"] = lambda POp=POp, Xn=Xn: POp.matmat(Xn)

        # correctness first
        with torch.no_grad():
            for name, fn in impls.items():
                out = fn()
                out = torch.from_numpy(np.ascontiguousarray(out.T)) if isinstance(out, np.ndarray) else out
                check_close(out, ref, f"{case} / {name}", rtol)
        # then timing
        with torch.no_grad():
            for name, fn in impls.items():
                rows.append(Row(case, name, timeit(fn, device, repeat, rounds, warmup)))
    return rows


# ---------------------------------------------------------------------------- case (b)
def bench_tiny(device: torch.device, dtype: torch.dtype, n: int, repeat: int, rounds: int, warmup: int) -> list[Row]:
    gen = torch.Generator().manual_seed(1)
    d64 = torch.rand(n, generator=gen, dtype=torch.float64) + 0.5
    x64 = torch.randn(n, generator=gen, dtype=torch.float64)
    d = d64.to(device, dtype)
    x = x64.to(device, dtype).requires_grad_(True)
    D = torchlops.Diagonal(d)
    rtol = 1e-12 if dtype == torch.float64 else 1e-6

    def run_torchlops() -> torch.Tensor:
        y = D(x)
        y.sum().backward()
        return y

    def run_plain() -> torch.Tensor:
        y = d * x
        y.sum().backward()
        return y

    def run_function() -> torch.Tensor:
        # the same application recorded by the Python autograd Function (what runs without
        # the compiled extension, and for learnt operator tensors)
        _autograd.NATIVE_NODE = False
        try:
            return run_torchlops()
        finally:
            _autograd.NATIVE_NODE = native

    native = _autograd.NATIVE_NODE
    impls: dict[str, Callable[[], torch.Tensor]] = {
        "torchlops D(x)": run_torchlops,
        "plain torch d * x": run_plain,
    }
    if native:
        impls["torchlops D(x), Python Function"] = run_function
    if pylops is not None:
        Top = _torch_operator(pylops.Diagonal(d.cpu().numpy()), batch=False, device=device)

        def run_pylops() -> torch.Tensor:
            y = Top(x)
            y.sum().backward()
            return y

        impls["pylops TorchOperator(Diagonal)"] = run_pylops

    case = f"Diagonal n={n}: forward + backward"
    # correctness first: forward values and the gradient (which is d)
    for name, fn in impls.items():
        x.grad = None
        y = fn()
        check_close(y, d64 * x64, f"{case} / {name} (forward)", rtol)
        check_close(x.grad, d64, f"{case} / {name} (gradient)", rtol)
    rows = []
    for name, fn in impls.items():

        def step(fn: Callable[[], torch.Tensor] = fn) -> None:
            x.grad = None
            fn()

        rows.append(Row(case, name, timeit(step, device, repeat, rounds, warmup)))
    return rows


# ---------------------------------------------------------------------------- report
def print_table(rows: Sequence[Row]) -> None:
    wcase = max(len(r.case) for r in rows)
    wimpl = max(len(r.impl) for r in rows)
    header = f"{'case':<{wcase}}  {'implementation':<{wimpl}}  {'us/call':>10}  {'/ torchlops':>11}"
    print(header)
    print("-" * len(header))
    last = None
    base = 1.0
    for r in rows:
        if r.case != last:
            base = next(q.seconds for q in rows if q.case == r.case and q.impl.startswith("torchlops"))
            if last is not None:
                print()
        shown = r.case if r.case != last else ""
        print(f"{shown:<{wcase}}  {r.impl:<{wimpl}}  {r.seconds * 1e6:>10.1f}  {r.seconds / base:>11.2f}")
        last = r.case


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeat", type=int, default=100, help="timed calls per round (default: 100)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds; the best is reported (default: 7)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first (default: 10)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--n", type=int, default=256, help="size of the composite operators (default: 256)")
    parser.add_argument("--batch", type=int, default=64, help="inputs per application in (a) (default: 64)")
    parser.add_argument("--ntiny", type=int, default=1000, help="size of the tiny Diagonal in (b) (default: 1000)")
    args = parser.parse_args(argv)
    for name in ("repeat", "rounds", "n", "batch", "ntiny"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be non-negative, got {args.warmup}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was asked for but torch sees no CUDA device")
    dtype = getattr(torch, args.dtype)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)

    print(
        f"torchlops {torchlops.__version__}, torch {torch.__version__}, "
        f"pylops {pylops.__version__ if pylops is not None else 'not installed (its columns are skipped)'}"
    )
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(
        f"device {device} ({dev_name}), {args.dtype}, {torch.get_num_threads()} torch threads; "
        f"best of {args.rounds} rounds of {args.repeat} calls after {args.warmup} warm-up calls"
    )
    if pylops is not None and device.type != "cpu":
        print("note: PyLops runs on the CPU (NumPy); TorchOperator copies each input to the host and back")
    print()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchOperator warns on every call when the input is not on the CPU
        rows = bench_composite(device, dtype, args.n, args.batch, args.repeat, args.rounds, args.warmup)
        rows += bench_tiny(device, dtype, args.ntiny, args.repeat, args.rounds, args.warmup)
    print("all implementations agree (checked before timing)\n")
    print_table(rows)

    tiny = {r.impl: r.seconds for r in rows if r.case.startswith("Diagonal")}
    ratio = tiny["torchlops D(x)"] / tiny["plain torch d * x"]
    print(f"\ntiny-operator overhead: torchlops / plain torch = {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
