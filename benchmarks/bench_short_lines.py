"""Stencils on batches of short signals and small images: the CPU kernels vs the torch engine and PyLops.

Networks apply derivatives to many small samples at once (a batch of 16-sample traces, of
8 x 8 patches): there the cost per line and per row near a line's ends, not the arithmetic,
decides the speed. Cases (float32 by default, ``--dtype float64``):

- ``FirstDerivative`` (centered, order 3 and 5) and ``SecondDerivative`` over batches of 1-D
  signals of 5 to 64 samples;
- ``Laplacian`` and ``Gradient`` over batches of 8 x 8 and 16 x 16 images, and a 3-D
  ``Laplacian`` on 64^3;
- ``Smoothing1D`` with 31 taps on 1024-sample traces.

Implementations: torchlops ``engine="ext"`` (the compiled kernels), ``engine="torch"``, and
PyLops on the same ``(batch, *dims)`` array with the operator along the sample axes (not for
``Gradient``, whose PyLops form would also differentiate along the batch axis). Every output
is first compared with the torch engine's (and PyLops'); a mismatch aborts before any timing.
Times are the best over ``--rounds`` rounds of the mean of ``--repeat`` calls, forward and
adjoint each.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_short_lines.py --threads 1
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

import torchlops as tl

try:
    import pylops
except ImportError:  # optional
    pylops = None

__all__ = ["main"]


def _cases(dtype: torch.dtype) -> list[tuple[str, tuple[int, ...], Callable[[str], tl.LinearOperator], object]]:
    """(name, (batch, *dims), make(engine), PyLops operator on (batch, *dims) or None)."""
    np_dtype = str(dtype).removeprefix("torch.")
    out = []

    def pl(name: str, shape: tuple[int, ...], **kw: object) -> object:
        return None if pylops is None else getattr(pylops, name)(dims=shape, dtype=np_dtype, **kw)

    for n, order in ((5, 5), (16, 3), (16, 5), (64, 3)):
        shape = (200_000 // n * 4, n)
        out.append((f"FirstDerivative n={n} order {order}", shape,
                    lambda e, n=n, o=order: tl.FirstDerivative((n,), order=o, kind="centered", dtype=dtype, engine=e),
                    pl("FirstDerivative", shape, axis=-1, order=order, kind="centered")))
    for n in (16, 48):
        shape = (800_000 // n, n)
        out.append((f"SecondDerivative n={n}", shape, lambda e, n=n: tl.SecondDerivative((n,), dtype=dtype, engine=e),
                    pl("SecondDerivative", shape, axis=-1)))
    for n in (8, 16):
        shape = (800_000 // n**2, n, n)
        out.append((f"Laplacian {n}x{n}", shape, lambda e, n=n: tl.Laplacian((n, n), dtype=dtype, engine=e),
                    pl("Laplacian", shape, axes=(1, 2))))
        out.append((f"Gradient {n}x{n}", shape, lambda e, n=n: tl.Gradient((n, n), dtype=dtype, engine=e), None))
    shape = (1, 64, 64, 64)
    out.append(("Laplacian 64^3", shape, lambda e: tl.Laplacian((64, 64, 64), axes=(0, 1, 2), weights=(1, 1, 1), sampling=(1, 1, 1),
                                                      dtype=dtype, engine=e),
                pl("Laplacian", shape, axes=(1, 2, 3), weights=(1, 1, 1), sampling=(1, 1, 1))))
    shape = (256, 1024)
    out.append(("Smoothing1D 31 taps n=1024", shape, lambda e: tl.Smoothing1D(31, (1024,), dtype=dtype, engine=e),
                None if pylops is None else pylops.Smoothing1D(31, dims=shape, axis=-1, dtype=np_dtype)))
    return out


def timeit(fn: Callable[[], object], repeat: int, rounds: int) -> float:
    fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best


def _check(a: torch.Tensor, b: torch.Tensor, rtol: float, what: str) -> None:
    scale = b.abs().max().clamp_min(1.0)
    err = float((a - b).abs().max() / scale)
    if not err <= rtol:
        raise RuntimeError(f"{what}: max relative error {err:.3g} > {rtol:g}")


def run(args: argparse.Namespace) -> list[tuple[str, str, dict[str, float]]]:
    dtype = getattr(torch, args.dtype)
    rtol = 1e-5 if dtype == torch.float32 else 1e-12
    gen = torch.Generator().manual_seed(0)
    rows = []
    for name, shape, make, P in _cases(dtype):
        ops = {"ext": make("ext"), "torch": make("torch")}
        if ops["ext"].engine != "ext":
            raise RuntimeError(f"{name}: the compiled kernels do not take this case")
        x = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype)
        y = torch.randn(shape[:1] + tuple(ops["ext"].dimsd), generator=gen, dtype=torch.float64).to(dtype)
        for adjoint, v in ((False, x), (True, y)):
            calls = {e: (lambda A=(op.H if adjoint else op), v=v: A @ v) for e, op in ops.items()}
            ref = calls["torch"]()
            _check(calls["ext"](), ref, rtol, f"{name}: ext vs torch")
            if P is not None:
                vn = v.numpy()
                calls["pylops"] = lambda P=P, vn=vn, adjoint=adjoint, shape=ref.shape: (
                    P.rmatvec if adjoint else P.matvec)(vn.ravel()).reshape(shape)
                _check(torch.from_numpy(calls["pylops"]()), ref, rtol, f"{name}: PyLops vs torch")
            with torch.no_grad():
                times = {impl: timeit(f, args.repeat, args.rounds) for impl, f in calls.items()}
            rows.append((name, "adj" if adjoint else "fwd", times))
            _print_row(rows[-1])
    return rows


def _print_row(row: tuple[str, str, dict[str, float]]) -> None:
    name, kind, t = row
    ms = {k: f"{v * 1e3:9.3f}" for k, v in t.items()}
    ratio = lambda k: f"{t[k] / t['ext']:8.2f}x" if k in t else f"{'-':>9}"  # noqa: E731
    print(f"{name + ' ' + kind:34s} {ms['ext']} {ms['torch']} {ms.get('pylops', '        -')}"
          f" {ratio('torch')} {ratio('pylops')}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: 2)")
    parser.add_argument("--repeat", type=int, default=10, help="timed calls per round (default: 10)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; the best is reported (default: 5)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not tl.ext_available():
        print(f"the compiled kernels are not built: {tl.ext_info()}", file=sys.stderr)
        return 1
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.dtype}"
          f"{'' if pylops is not None else ', PyLops not installed'}; ms per call; ratios: time / ext time")
    print(f"{'case':34s} {'ext':>9} {'torch':>9} {'pylops':>9} {'torch/ext':>9} {'pylops/ext':>9}")
    run(args)
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
