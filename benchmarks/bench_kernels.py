"""Compiled-kernel benchmark: torchlops ``engine="ext"`` vs its torch engine, PyLops and plain torch.

Forward and adjoint, each timed separately, on an ``n x n`` array (2048 x 2048 on the CPU,
8192 x 8192 on CUDA by default), float32 unless ``--dtype float64``:

- ``FirstDerivative`` (centered, axis 0 and axis -1), ``SecondDerivative`` (axis -1),
  ``Laplacian`` 2-D and ``Gradient`` 2-D;
- ``Convolve1D`` with 31 taps along the last axis and ``Convolve2D`` with a 15 x 15 filter
  (``method="direct"``).

Implementations: torchlops ``engine="ext"`` (the compiled kernels ``torch.ops.torchlops.*``),
torchlops ``engine="torch"`` (the pure-torch engine), PyLops (NumPy arrays on the CPU, CuPy
arrays on CUDA when ``cupy`` imports, else skipped), and plain torch: a slicing expression
written into a preallocated output for the stencils, ``torch.nn.functional.conv1d`` /
``conv2d`` for the convolutions.

Every output is first compared with the torch engine's (``|a - b| <= rtol |b| + rtol max|b|``,
``rtol`` 1e-4 in float32, 1e-9 in float64); a mismatch aborts before any timing. Times are the
best over ``--rounds`` rounds of the mean of ``--repeat`` calls (fewer calls per round for an
implementation slower than about half a second per round), after ``--warmup`` calls, with the
device synchronised around each round. On CUDA the copy bandwidth is measured with a
device-to-device ``clone`` of the input (bytes read + written over the time), and each case
gets ``floor_ms`` = (bytes read once + bytes written once) / bandwidth (``Gradient``: one array
read and two written, or the reverse) and the fraction ``floor_ms / measured_ms`` of the ext engine.

A "goals" section closes the run: on the CPU, ext at least 3x PyLops for ``FirstDerivative``,
``SecondDerivative`` and ``Laplacian`` (stated at 2 torch threads); on CUDA (stated for
8192 x 8192 float32), stencils at least 0.85 of the copy-bandwidth floor, ``Convolve1D`` 31 taps
at most 0.30 ms and ``Convolve2D`` 15 x 15 at most 1.0 ms.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_kernels.py                 # CPU, 2 threads
    PYTHONPATH=. python benchmarks/bench_kernels.py --device cuda
    PYTHONPATH=. python benchmarks/bench_kernels.py --quick         # a few seconds, small n
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

import torchlops

try:
    import pylops
except ImportError:  # optional
    pylops = None

try:  # optional, PyLops on the GPU
    import cupy
except ImportError:
    cupy = None

__all__ = ["main"]

IMPLS = ("ext", "torch", "pylops", "plain")
OPERATORS = ("FirstDerivative", "SecondDerivative", "Laplacian", "Gradient", "Convolve1D", "Convolve2D")
STENCILS = ("FirstDerivative", "SecondDerivative", "Laplacian", "Gradient")
NH1, NH2 = 31, 15  # filter lengths
ROUND_S = 0.5  # a round of a slow implementation takes about this long at most


class Mismatch(RuntimeError):
    """An implementation disagrees with the torch engine."""


@dataclass
class Result:
    case: str  # e.g. "FirstDerivative axis 0"
    op: str  # the torchlops class name
    adjoint: bool
    seconds: dict[str, float] = field(default_factory=dict)  # impl -> time per call
    floor: float | None = None  # seconds, CUDA only

    @property
    def label(self) -> str:
        return f"{self.case} {'adj' if self.adjoint else 'fwd'}"


# ---------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        if cupy is not None:
            cupy.cuda.get_current_stream().synchronize()


def timeit(fn: Callable[[], object], device: torch.device, repeat: int, rounds: int, warmup: int) -> float:
    """Best over ``rounds`` of the mean time of up to ``repeat`` calls, after ``warmup`` calls."""
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    first = time.perf_counter() - t0
    if first < 0.1:
        for _ in range(warmup - 1):
            fn()
    calls = max(1, min(repeat, int(ROUND_S / max(first, 1e-9))))
    best = float("inf")
    for _ in range(rounds):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        _sync(device)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


# ---------------------------------------------------------------------------- plain torch
def _s(ndim: int, axis: int, start: int | None, stop: int | None) -> tuple[slice, ...]:
    """Index ``start:stop`` along ``axis`` and everything along the other axes."""
    idx = [slice(None)] * ndim
    idx[axis] = slice(start, stop)
    return tuple(idx)


def _set(dst: torch.Tensor, val: torch.Tensor, acc: bool) -> None:
    if acc:
        dst += val
    else:
        dst.copy_(val)


def first_fwd(x: torch.Tensor, y: torch.Tensor, axis: int) -> None:
    """``y = D x``: centered first derivative, zero first and last rows."""
    s = lambda a, b: _s(x.ndim, axis, a, b)  # noqa: E731
    y[s(1, -1)] = (x[s(2, None)] - x[s(None, -2)]) / 2
    y[s(0, 1)] = 0
    y[s(-1, None)] = 0


def first_adj(x: torch.Tensor, y: torch.Tensor, axis: int, acc: bool = False) -> None:
    """``y (+)= D^T x``: ``y_j = (x_{j-1} - x_{j+1}) / 2`` over the interior rows of ``x``."""
    s = lambda a, b: _s(x.ndim, axis, a, b)  # noqa: E731
    _set(y[s(2, -2)], (x[s(1, -3)] - x[s(3, -1)]) / 2, acc)
    _set(y[s(0, 2)], -x[s(1, 3)] / 2, acc)
    _set(y[s(-2, None)], x[s(-3, -1)] / 2, acc)


def second_fwd(x: torch.Tensor, y: torch.Tensor, axis: int, acc: bool = False) -> None:
    """``y (+)= S x``: centered second derivative, zero first and last rows."""
    s = lambda a, b: _s(x.ndim, axis, a, b)  # noqa: E731
    _set(y[s(1, -1)], x[s(2, None)] - 2 * x[s(1, -1)] + x[s(None, -2)], acc)
    if not acc:
        y[s(0, 1)] = 0
        y[s(-1, None)] = 0


def second_adj(x: torch.Tensor, y: torch.Tensor, axis: int, acc: bool = False) -> None:
    """``y (+)= S^T x``: ``y_j = x_{j-1} - 2 x_j + x_{j+1}`` over the interior rows of ``x``."""
    s = lambda a, b: _s(x.ndim, axis, a, b)  # noqa: E731
    _set(y[s(2, -2)], x[s(1, -3)] - 2 * x[s(2, -2)] + x[s(3, -1)], acc)
    _set(y[s(0, 1)], x[s(1, 2)], acc)
    _set(y[s(1, 2)], x[s(2, 3)] - 2 * x[s(1, 2)], acc)
    _set(y[s(-2, -1)], x[s(-3, -2)] - 2 * x[s(-2, -1)], acc)
    _set(y[s(-1, None)], x[s(-2, -1)], acc)


def _plain(
    op: str, axis: int, adjoint: bool, h: torch.Tensor, out: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """What a user would write in plain torch for one case; stencils write into ``out``."""
    if op == "FirstDerivative":
        f = first_adj if adjoint else first_fwd
        return lambda x: (f(x, out, axis), out)[1]
    if op == "SecondDerivative":
        f = second_adj if adjoint else second_fwd
        return lambda x: (f(x, out, axis), out)[1]
    if op == "Laplacian":
        f = second_adj if adjoint else second_fwd

        def lap(x: torch.Tensor) -> torch.Tensor:
            f(x, out, 0)
            f(x, out, 1, acc=True)
            return out

        return lap
    if op == "Gradient":
        if adjoint:

            def grad_adj(x: torch.Tensor) -> torch.Tensor:
                first_adj(x[0], out, 0)
                first_adj(x[1], out, 1, acc=True)
                return out

            return grad_adj

        def grad(x: torch.Tensor) -> torch.Tensor:
            first_fwd(x, out[0], 0)
            first_fwd(x, out[1], 1)
            return out

        return grad
    # convolution with a centred filter: forward correlates with the flipped filter, the adjoint with h
    if op == "Convolve1D":
        w = (h if adjoint else h.flip(0)).reshape(1, 1, -1)
        return lambda x: F.conv1d(x.unsqueeze(1), w, padding=h.shape[0] // 2).squeeze(1)
    w = (h if adjoint else h.flip((0, 1)))[None, None]
    pad = (h.shape[0] // 2, h.shape[1] // 2)
    return lambda x: F.conv2d(x[None, None], w, padding=pad)[0, 0]


# ---------------------------------------------------------------------------- cases
def _cases() -> list[tuple[str, str, dict]]:
    """(case label, torchlops/PyLops class name, constructor keywords other than dims/h)."""
    return [
        ("FirstDerivative axis 0", "FirstDerivative", dict(axis=0, kind="centered")),
        ("FirstDerivative axis -1", "FirstDerivative", dict(axis=-1, kind="centered")),
        ("SecondDerivative axis -1", "SecondDerivative", dict(axis=-1, kind="centered")),
        ("Laplacian 2-D", "Laplacian", dict(axes=(0, 1))),
        ("Gradient 2-D", "Gradient", dict()),
        (f"Convolve1D {NH1} taps", "Convolve1D", dict(offset=NH1 // 2, axis=-1)),
        (f"Convolve2D {NH2}x{NH2}", "Convolve2D", dict(offset=(NH2 // 2, NH2 // 2), axes=(0, 1))),
    ]


def _has_engine() -> list[str]:
    """The operators whose constructor has no ``engine`` keyword."""
    return [name for name in OPERATORS if "engine" not in inspect.signature(getattr(torchlops, name)).parameters]


def _check(case: str, impl: str, out: object, ref: torch.Tensor, rtol: float) -> None:
    """Abort with a clear message when ``out`` differs from the torch engine's ``ref``."""
    if isinstance(out, np.ndarray):
        got = torch.from_numpy(out)
    elif cupy is not None and isinstance(out, cupy.ndarray):
        got = torch.as_tensor(out, device=ref.device)
    else:
        got = out
    got = got.to(ref.device).reshape(ref.shape)
    err = (got - ref).abs()
    tol = rtol * ref.abs() + rtol * ref.abs().max()
    if not bool((err <= tol).all()):
        worst = float(err.max())
        raise Mismatch(
            f"{case}: {impl} disagrees with torchlops engine='torch': max |difference| {worst:.3e}, "
            f"max |reference| {float(ref.abs().max()):.3e}, rtol {rtol:g}"
        )


def run(args: argparse.Namespace) -> tuple[list[Result], list[str], float | None]:
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    npdt = args.dtype
    n = args.n
    rtol = 1e-4 if dtype == torch.float32 else 1e-9
    gen = torch.Generator(device=device).manual_seed(0)
    notes: list[str] = []
    timing = dict(device=device, repeat=args.repeat, rounds=args.rounds, warmup=args.warmup)

    use_pylops = pylops is not None and (device.type == "cpu" or cupy is not None)
    if pylops is None:
        notes.append("PyLops is not installed: its column is empty")
    elif device.type == "cuda" and cupy is None:
        notes.append("cupy does not import: PyLops (CuPy) is skipped on CUDA")
    xp = np if device.type == "cpu" else cupy

    bw = None
    if device.type == "cuda":
        x = torch.randn(n, n, dtype=dtype, device=device, generator=gen)
        tcopy = timeit(lambda: x.clone(), **timing)
        bw = 2 * x.numel() * x.element_size() / tcopy
        del x

    results: list[Result] = []
    h1 = torch.randn(NH1, dtype=dtype, device=device, generator=gen)
    h2 = torch.randn(NH2, NH2, dtype=dtype, device=device, generator=gen)
    for case, name, kw in _cases():
        if args.cases and not any(c.lower() in case.lower() for c in args.cases):
            continue
        conv = name.startswith("Convolve")
        extra = {}
        if conv:
            h = h1 if name == "Convolve1D" else h2
            extra = dict(h=h, method="direct")
        else:
            h = h1
        ops = {}
        for engine in ("ext", "torch"):
            try:
                ops[engine] = getattr(torchlops, name)((n, n), **kw, **extra, dtype=dtype, engine=engine)
            except ValueError as err:
                raise SystemExit(f"{case}: torchlops.{name}(engine={engine!r}) failed: {err}") from err
            if hasattr(ops[engine], "to"):
                ops[engine] = ops[engine].to(device)
        pop = None
        if use_pylops:
            pkw = dict(kw)
            if conv:
                hp = h.cpu().numpy() if xp is np else cupy.asarray(h)
                pkw["h"] = hp
                mod = pylops.signalprocessing
            else:
                mod = pylops
            pop = getattr(mod, name)((n, n), **pkw, dtype=npdt)
        for adjoint in (False, True):
            top = ops["torch"]
            shape_in = top.dimsd if adjoint else top.dims
            shape_out = top.dims if adjoint else top.dimsd
            inp = torch.randn(*shape_in, dtype=dtype, device=device, generator=gen)
            res = Result(case, name, adjoint)
            fns: dict[str, Callable[[], object]] = {}
            for engine in ("ext", "torch"):
                o = ops[engine].H if adjoint else ops[engine]
                fns[engine] = lambda o=o, inp=inp: o @ inp
            if pop is not None:
                pin = inp.cpu().numpy().ravel() if xp is np else cupy.asarray(inp).ravel()
                pf = pop.rmatvec if adjoint else pop.matvec
                fns["pylops"] = lambda pf=pf, pin=pin: pf(pin)
            axis = kw.get("axis", 0)
            out = torch.zeros(*shape_out, dtype=dtype, device=device)
            plain = _plain(name, axis, adjoint, h, out)
            fns["plain"] = lambda plain=plain, inp=inp: plain(inp)

            ref = fns["torch"]().detach().clone()
            for impl, fn in list(fns.items()):
                if impl == "torch":
                    continue
                try:
                    _check(res.label, impl, fn(), ref, rtol)
                except Mismatch as err:
                    # torchlops' kernels and PyLops (an independent reference) must agree: abort; only
                    # the plain-torch expression on a GPU (cuDNN's algorithms) is reported, not timed
                    if impl != "plain" or device.type != "cuda":
                        raise
                    notes.append(f"{impl} not timed: {err}")
                    print(f"note: {impl} not timed: {err}", flush=True)
                    del fns[impl]
            del ref
            for impl, fn in fns.items():
                if args.impls and impl not in args.impls:
                    continue
                res.seconds[impl] = timeit(fn, **timing)
            if bw is not None:
                res.floor = (inp.numel() + out.numel()) * inp.element_size() / bw
            results.append(res)
            # (each row as measured: a run cut short by a time limit still shows it)
            print(f"measured {res.label}: " + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in res.seconds.items())
                  + (f", floor {res.floor * 1e3:.3f} ms" if res.floor is not None else ""), flush=True)
            del fns, out, inp
    return results, notes, bw


# ---------------------------------------------------------------------------- report
def _ms(t: float | None, w: int = 9) -> str:
    return f"{t * 1e3:{w}.3f}" if t is not None else f"{'-':>{w}}"


def _ratio(num: float | None, den: float | None, w: int = 8) -> str:
    return f"{num / den:{w}.2f}x" if num is not None and den else f"{'-':>{w + 1}}"


def print_table(results: Sequence[Result], cuda: bool) -> None:
    """Times in ms; ``ext vs X`` is X's time over ext's (above 1: ext is faster)."""
    wl = max(len(r.label) for r in results)
    pname = "pylops" if not cuda else "pylops(cp)"
    hdr = (
        f"{'case':<{wl}}  {'ext':>9}  {'torch':>9}  {pname:>10}  {'plain':>9}  "
        f"{'vs pylops':>9}  {'vs torch':>9}  {'vs plain':>9}"
    )
    if cuda:
        hdr += f"  {'floor':>7}  {'frac':>5}"
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        t = r.seconds
        te = t.get("ext")
        line = (
            f"{r.label:<{wl}}  {_ms(te)}  {_ms(t.get('torch'))}  {_ms(t.get('pylops'), 10)}  {_ms(t.get('plain'))}  "
            f"{_ratio(t.get('pylops'), te)}  {_ratio(t.get('torch'), te)}  {_ratio(t.get('plain'), te)}"
        )
        if cuda and r.floor is not None:
            line += f"  {_ms(r.floor, 7)}  {r.floor / te:5.2f}"
        print(line)


def print_goals(results: Sequence[Result], args: argparse.Namespace) -> None:
    print("\ngoals")
    caveat = []
    if args.device == "cpu":
        if args.threads != 2:
            caveat.append(f"stated at 2 torch threads, run with {args.threads}")
        if args.n != 2048:
            caveat.append(f"stated at n=2048, run with n={args.n}")
        if caveat:
            print(f"  (note: {'; '.join(caveat)})")
        for r in results:
            if r.op not in ("FirstDerivative", "SecondDerivative", "Laplacian"):
                continue
            tp, te = r.seconds.get("pylops"), r.seconds["ext"]
            if tp is None:
                print(f"  {r.label:<32} ext >= 3x PyLops: no PyLops time")
                continue
            s = tp / te
            print(f"  {r.label:<32} ext >= 3x PyLops: {'met' if s >= 3 else 'NOT met'} ({s:.2f}x)")
        return
    if args.n != 8192:
        caveat.append(f"stated at n=8192, run with n={args.n}")
    if args.dtype != "float32":
        caveat.append(f"stated in float32, run in {args.dtype}")
    if caveat:
        print(f"  (note: {'; '.join(caveat)})")
    for r in results:
        te = r.seconds["ext"]
        if r.op in STENCILS:
            frac = r.floor / te
            print(f"  {r.label:<32} >= 0.85 of the copy floor: {'met' if frac >= 0.85 else 'NOT met'} ({frac:.3f})")
        else:
            lim = 0.30e-3 if r.op == "Convolve1D" else 1.0e-3
            print(f"  {r.label:<32} <= {lim * 1e3:.2f} ms: {'met' if te <= lim else 'NOT met'} ({te * 1e3:.3f} ms)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--n", type=int, default=None, help="model is n x n (default: 2048 on cpu, 8192 on cuda)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads on the CPU (default: 2)")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls per round (default: 20)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; the best is reported (default: 5)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (default: 3)")
    parser.add_argument("--quick", action="store_true", help="small n (256) and few calls: a smoke run")
    parser.add_argument("--cases", type=lambda v: [c for c in v.split(",") if c], default=[],
                        help="comma-separated parts of case names to run (default: all), e.g. 'Convolve2D'")
    parser.add_argument("--impls", type=lambda v: [c for c in v.split(",") if c], default=[],
                        help="comma-separated implementations to time among ext, torch, pylops, plain (default: "
                             "all; every one is still checked against the torch engine)")
    args = parser.parse_args(argv)
    bad = sorted(set(args.impls) - {"ext", "torch", "pylops", "plain"})
    if bad:
        parser.error(f"--impls: unknown implementation(s) {', '.join(bad)}")
    if args.impls and "ext" not in args.impls:  # (the goals and ratios are about the ext engine)
        args.impls.append("ext")
    if args.cases and not any(c.lower() in label.lower() for label, _, _ in _cases() for c in args.cases):
        parser.error(f"--cases: no case matches {args.cases}")
    if args.quick:
        args.n = args.n or 256
        args.repeat, args.rounds, args.warmup = 3, 2, 1
    if args.n is None:
        args.n = 2048 if args.device == "cpu" else 8192
    if args.n < 8:
        parser.error(f"--n must be at least 8, got {args.n}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device")
    missing = _has_engine()
    if missing:
        print(f"error: torchlops.{', '.join(missing)} take no `engine` keyword in this version", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    if args.device == "cuda":  # (full float32 in the cuDNN / cuBLAS references)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(
        f"torch {torch.__version__}, pylops {getattr(pylops, '__version__', 'not installed')}, "
        f"cupy {getattr(cupy, '__version__', 'not installed')}, device {dev}, {args.dtype} {args.n}x{args.n}, "
        f"torch threads {torch.get_num_threads()} (PyLops/NumPy element-wise work is single-threaded)"
    )
    print(torchlops.ext_info())
    try:
        results, notes, bw = run(args)
    except Mismatch as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if notes:
        print("the other implementations agree with torchlops engine='torch' (checked before timing)")
    else:
        print("all implementations agree with torchlops engine='torch' (checked before timing)")
    if bw is not None:
        print(f"copy bandwidth (clone, bytes read + written): {bw / 1e9:.0f} GB/s")
    for note in notes:
        print(f"note: {note}")
    print(f"\ntimes in ms (best of {args.rounds} rounds); 'vs X' = X's time / ext's time")
    print_table(results, args.device == "cuda")
    print_goals(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
