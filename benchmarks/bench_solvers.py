"""Solver benchmarks: torchlops vs PyLops (NumPy), CGLS and FISTA.

CGLS: Laplacian-regularised deblurring, ``VStack([MatrixMult(blur), eps * Laplacian(dims=(n, n))])``
on an ``n x n`` image (the blur a dense Gaussian-row matrix acting on the flattened image),
``niter`` CGLS steps with ``tol=0``. Rows: torchlops on one problem, PyLops ``cgls`` on one
problem, torchlops batched (``nbatch`` problems in one call) vs looped over samples, PyLops
looped over the ``nbatch`` problems, and on CUDA a ``torch.compile`` d plain-torch CGLS.

FISTA: sparse-spike deconvolution, a Ricker wavelet applied by ``Convolve1D`` (``--fista-op
conv``) or by its dense Toeplitz ``MatrixMult`` (``--fista-op matrix``) to ``nt``-sample
reflectivities with a few spikes; ``--fista-niter`` (100) FISTA steps, ``eps`` = 0.1, the step
``alpha`` = 1 / ||Op||^2 given to both libraries (no power iteration), ``tol=0``. With
``conv``, a last table solves the ``nbatch`` traces as ONE problem (a section
``(nbatch, nt)``, ``Convolve1D`` along its last axis, one ``eps`` and ``alpha``), as PyLops
deconvolves a section.

CGLS with the blur as a convolution (``--solver cgls-conv``): ``VStack([Convolve2D(15 x 15
Gaussian PSF), 0.1 * Laplacian])`` on an ``n x n`` float64 image (``--conv-n``, 256), as
PyLops' deblurring tutorial sets it up; same rows as the CGLS table.

CGLS on a Laplacian system (``--solver cgls-lap``): ``niter`` steps on an ``n x n`` float32
image (``--lap-n``; the GPU goal is 4096^2, 30 iterations), vs PyLops (+ CuPy on a GPU when
installed) and the same CGLS in plain torch, eager and, with ``--compile``, compiled.

Every result is checked against PyLops (and batched against per-sample) before timing.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_solvers.py --device cpu --threads 1
    PYTHONPATH=. python benchmarks/bench_solvers.py --solver fista --fista-op matrix --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import torchlops
from torchlops.optimization.basic import cgls


def _time(fn, repeat: int) -> float:
    fn()
    if torch.cuda.is_available():  # (the warm-up's queued GPU work is not the first sample's)
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_cgls_conv(a: argparse.Namespace) -> None:
    """CGLS on a Laplacian-regularised deblurring with the blur as a convolution:
    ``VStack([Convolve2D(PSF), eps * Laplacian])`` on an ``n x n`` float64 image."""
    from torchlops.signalprocessing.convolve2d import Convolve2D

    dev, n, niter, B = torch.device(a.device), a.conv_n, a.niter, a.nbatch
    rng = np.random.default_rng(0)
    k = np.arange(15) - 7
    psf = np.exp(-0.5 * (k[:, None] ** 2 + k[None, :] ** 2) / 2.0**2)
    psf /= psf.sum()
    eps = 0.1
    X = rng.normal(size=(B, n, n))
    from scipy.signal import convolve2d

    Yb = np.stack([convolve2d(X[b], psf, mode="same") for b in range(B)]) + 0.01 * rng.normal(size=(B, n, n))
    Y = np.concatenate([Yb.reshape(B, -1), np.zeros((B, n * n))], axis=1)
    Op = torchlops.VStack([Convolve2D((n, n), torch.from_numpy(psf), offset=(7, 7), dtype=torch.float64),
                           eps * torchlops.Laplacian(dims=(n, n), dtype=torch.float64)]).to(dev)
    Yt = torch.from_numpy(Y).to(dev)
    print(f"CGLS, Convolve2D (15x15 Gaussian PSF) + {eps}*Laplacian on {n}x{n} float64, niter={niter}, "
          f"device={dev}, threads={torch.get_num_threads()}")
    x1 = cgls(Op, Yt[0], niter=niter, tol=0).x
    t_tl = _time(lambda: cgls(Op, Yt[0], niter=niter, tol=0), a.repeat)
    rows = [("torchlops, 1 problem", t_tl)]
    t_pl = t_pll = None
    try:
        import pylops
        from pylops.optimization.basic import cgls as pcgls

        POp = pylops.VStack([pylops.signalprocessing.Convolve2D((n, n), psf, offset=(7, 7), dtype="float64"),
                             eps * pylops.Laplacian(dims=(n, n), dtype="float64")])
        xp = pcgls(POp, Y[0], niter=niter, tol=0)[0]
        err = np.abs(xp - x1.cpu().numpy()).max() / np.abs(xp).max()
        assert err < 1e-8, f"torchlops and PyLops disagree: {err:.2e}"
        print(f"  check vs pylops: max rel. diff {err:.1e}")
        t_pl = _time(lambda: pcgls(POp, Y[0], niter=niter, tol=0), a.repeat)
        t_pll = _time(lambda: [pcgls(POp, Y[b], niter=niter, tol=0) for b in range(B)], max(1, a.repeat // 2))
        rows += [("pylops, 1 problem", t_pl), (f"pylops looped ({B})", t_pll)]
    except ImportError:
        pass
    xb = cgls(Op, Yt, niter=niter, tol=0).x
    assert torch.allclose(xb[0], x1, rtol=1e-9, atol=1e-9)
    t_b = _time(lambda: cgls(Op, Yt, niter=niter, tol=0), a.repeat)
    t_l = _time(lambda: [cgls(Op, Yt[b], niter=niter, tol=0) for b in range(B)], max(1, a.repeat // 2))
    rows += [(f"torchlops batched ({B})", t_b), (f"torchlops looped ({B})", t_l)]
    _report(rows, t_tl, t_pl, t_b, t_l, t_pll, B)


def _plain_cgls(A: torch.Tensor, eps: float, lap, lap_adj, y: torch.Tensor, niter: int) -> torch.Tensor:
    """CGLS on [A; eps L] with plain torch ops (y: (B, M + n)), for torch.compile (``lap_adj``:
    the adjoint of ``lap``; the Laplacian with zero edge rows is not symmetric)."""
    M = A.shape[0]

    def fwd(x):
        return torch.cat([x @ A.T, eps * lap(x)], dim=-1)

    def adj(s):
        return s[:, :M] @ A + eps * lap_adj(s[:, M:])

    x = torch.zeros(y.shape[0], A.shape[1], dtype=y.dtype, device=y.device)
    s = y
    c = adj(s)
    q = fwd(c)
    kold = (c * c).sum(-1, keepdim=True)
    for _ in range(niter):
        a = kold / (q * q).sum(-1, keepdim=True)
        x = x + a * c
        s = s - a * q
        r = adj(s)
        k = (r * r).sum(-1, keepdim=True)
        c = r + (k / kold) * c
        q = fwd(c)
        kold = k
    return x


def bench_cgls(a: argparse.Namespace) -> None:
    """The CGLS table."""
    dev, n, N = torch.device(a.device), a.n, a.n * a.n
    rng = np.random.default_rng(0)
    i = np.arange(N)
    blur = np.exp(-0.5 * ((i[:, None] - i[None, :]) / 3.0) ** 2)  # banded Gaussian (dense storage)
    eps = 0.5
    x_true = rng.normal(size=(a.nbatch, N))
    Y = np.concatenate([x_true @ blur.T + 0.01 * rng.normal(size=(a.nbatch, N)), np.zeros((a.nbatch, N))], axis=1)
    Op = torchlops.VStack([torchlops.MatrixMult(torch.from_numpy(blur)),
                           eps * torchlops.Laplacian(dims=(n, n), dtype=torch.float64)]).to(dev)
    Yt = torch.from_numpy(Y).to(dev)
    print(f"CGLS, blur {N}x{N} + {eps}*Laplacian({n},{n}), niter={a.niter}, device={dev}, "
          f"threads={torch.get_num_threads()}")
    rows = []
    x1 = cgls(Op, Yt[0], niter=a.niter, tol=0).x
    t_tl = _time(lambda: cgls(Op, Yt[0], niter=a.niter, tol=0), a.repeat)
    rows.append(("torchlops, 1 problem", t_tl))
    try:
        import pylops
        from pylops.optimization.basic import cgls as pcgls

        POp = pylops.VStack([pylops.MatrixMult(blur), eps * pylops.Laplacian(dims=(n, n), dtype="float64")])
        xp = pcgls(POp, Y[0], niter=a.niter, tol=0)[0]
        err = np.abs(xp - x1.cpu().numpy()).max() / np.abs(xp).max()
        assert err < 1e-8, f"torchlops and PyLops disagree: {err:.2e}"
        t_pl = _time(lambda: pcgls(POp, Y[0], niter=a.niter, tol=0), a.repeat)
        rows.append(("pylops, 1 problem", t_pl))
        t_pll = _time(lambda: [pcgls(POp, Y[b], niter=a.niter, tol=0) for b in range(a.nbatch)],
                      max(1, a.repeat // 2))
        print(f"  check vs pylops: max rel. diff {err:.1e}")
    except ImportError:
        t_pl = t_pll = None
    xb = cgls(Op, Yt, niter=a.niter, tol=0).x
    assert torch.allclose(xb[0], x1, rtol=1e-9, atol=1e-9)
    t_b = _time(lambda: cgls(Op, Yt, niter=a.niter, tol=0), a.repeat)
    t_l = _time(lambda: [cgls(Op, Yt[b], niter=a.niter, tol=0) for b in range(a.nbatch)], max(1, a.repeat // 2))
    rows += [(f"torchlops batched ({a.nbatch})", t_b), (f"torchlops looped ({a.nbatch})", t_l)]
    if dev.type == "cuda" and a.compile:
        A = torch.from_numpy(blur).to(dev)
        L = torchlops.Laplacian(dims=(n, n), dtype=torch.float64).to(dev)
        f = torch.compile(lambda y: _plain_cgls(A, eps, lambda v: L._flat(v, False), lambda v: L._flat(v, True), y,
                                                a.niter))
        assert torch.allclose(f(Yt), xb, rtol=1e-7, atol=1e-7)
        rows.append((f"plain torch compiled ({a.nbatch})", _time(lambda: f(Yt), a.repeat)))
    if t_pll is not None:
        rows.append((f"pylops looped ({a.nbatch})", t_pll))
    _report(rows, t_tl, t_pl, t_b, t_l, t_pll, a.nbatch)


def _lap_fwd(x: torch.Tensor) -> torch.Tensor:
    """Plain-torch 2-D Laplacian (centred, edge=False: zero rows at the edges) of x (..., n, n)."""
    y = torch.zeros_like(x)
    y[..., 1:-1, :] = x[..., 2:, :] - 2 * x[..., 1:-1, :] + x[..., :-2, :]
    y[..., :, 1:-1] += x[..., :, 2:] - 2 * x[..., :, 1:-1] + x[..., :, :-2]
    return y


def _lap_adj(y: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`_lap_fwd` (the transposed stencil of the interior rows)."""
    x = torch.zeros_like(y)
    yi = y[..., 1:-1, :]
    x[..., :-2, :] += yi
    x[..., 1:-1, :] -= 2 * yi
    x[..., 2:, :] += yi
    yj = y[..., :, 1:-1]
    x[..., :, :-2] += yj
    x[..., :, 1:-1] -= 2 * yj
    x[..., :, 2:] += yj
    return x


def _plain_cgls_lap(y: torch.Tensor, niter: int) -> torch.Tensor:
    """CGLS on the 2-D Laplacian with plain torch ops (y: (n, n)), as one writes it by hand."""
    x = torch.zeros_like(y)
    s = y
    c = _lap_adj(s)
    q = _lap_fwd(c)
    kold = (c * c).sum()
    for _ in range(niter):
        a = kold / (q * q).sum()
        x = x + a * c
        s = s - a * q
        r = _lap_adj(s)
        k = (r * r).sum()
        c = r + (k / kold) * c
        q = _lap_fwd(c)
        kold = k
    return x


def bench_cgls_laplacian(a: argparse.Namespace) -> None:
    """CGLS on an n x n Laplacian system, float32: torchlops vs PyLops (+ CuPy on a GPU when
    installed) vs plain torch (eager, and compiled with ``--compile``)."""
    dev, n, niter = torch.device(a.device), a.lap_n or (4096 if a.device.startswith("cuda") else 2048), a.niter
    gen = torch.Generator().manual_seed(0)
    L = torchlops.Laplacian(dims=(n, n), dtype=torch.float32).to(dev)
    x_true = torch.randn(n, n, generator=gen).to(dev)
    with torch.no_grad():
        y = L(x_true)
        # the plain-torch stencil is the same operator
        torch.testing.assert_close(_lap_fwd(x_true), y, rtol=1e-5, atol=1e-4)
        v = torch.randn(n, n, generator=gen).to(dev)
        torch.testing.assert_close(_lap_adj(v), L.rmatvec(v), rtol=1e-5, atol=1e-4)
    print(f"CGLS, Laplacian {n}x{n} float32, niter={niter}, tol=0, device={dev}, threads={torch.get_num_threads()}, "
          f"engine={L.engine}")
    with torch.no_grad():
        x1 = cgls(L, y, niter=niter, tol=0).x
        xp = _plain_cgls_lap(y, niter)
        err = float((x1 - xp).norm() / xp.norm())
        assert err < 1e-3, f"torchlops and plain torch disagree: {err:.2e}"
        print(f"  check vs plain torch: rel. diff {err:.1e}")
        rows = [("torchlops", _time(lambda: cgls(L, y, niter=niter, tol=0), a.repeat)),
                ("plain torch (eager)", _time(lambda: _plain_cgls_lap(y, niter), a.repeat))]
        if dev.type == "cuda":
            # tol=0 reads nothing on the host, so the whole solve can be captured in a CUDA graph
            # and replayed (no per-kernel launch cost)
            try:
                ys = y.clone()
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    for _ in range(2):  # (warm-up outside the capture)
                        cgls(L, ys, niter=niter, tol=0)
                torch.cuda.current_stream().wait_stream(side)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    xg = cgls(L, ys, niter=niter, tol=0).x
                graph.replay()
                torch.cuda.synchronize()
                gerr = float((xg - x1).norm() / x1.norm())
                assert gerr < 1e-4, f"CUDA-graph replay disagrees with the eager solve: {gerr:.2e}"
                print(f"  check CUDA-graph replay vs eager: rel. diff {gerr:.1e}")
                rows.append(("torchlops (CUDA graph replay)", _time(graph.replay, a.repeat)))
            except Exception as err:  # (reported, not fatal: the other rows still come)
                print(f"  (no CUDA-graph row: {type(err).__name__}: {str(err).splitlines()[0][:200]})")
        if a.compile:
            f = torch.compile(lambda v: _plain_cgls_lap(v, niter))
            t0 = time.perf_counter()
            f(y)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            print(f"  torch.compile of the plain-torch CGLS: first call {time.perf_counter() - t0:.1f} s")
            rows.append(("plain torch (torch.compile)", _time(lambda: f(y), a.repeat)))
    try:
        import pylops
        from pylops.optimization.basic import cgls as pcgls

        if dev.type == "cuda":
            import cupy as xp_mod  # PyLops + CuPy
        else:
            xp_mod = np
        yp = xp_mod.asarray(y.cpu().numpy())
        PL = pylops.Laplacian(dims=(n, n), dtype="float32")
        xpl = pcgls(PL, yp.ravel(), niter=niter, tol=0)[0]
        xpl = (xpl.get() if hasattr(xpl, "get") else xpl).ravel()
        err = np.linalg.norm(xpl - x1.cpu().numpy().ravel()) / np.linalg.norm(xpl)
        assert err < 1e-3, f"torchlops and PyLops disagree: {err:.2e}"
        print(f"  check vs pylops: rel. diff {err:.1e}")

        def run_pl():
            pcgls(PL, yp.ravel(), niter=niter, tol=0)
            if dev.type == "cuda":
                xp_mod.cuda.Device().synchronize()

        rows.append((f"pylops{' + cupy' if dev.type == 'cuda' else ''}", _time(run_pl, max(1, a.repeat // 2))))
    except ImportError as err:
        print(f"  (no PyLops row: {err})")
    t_tl = rows[0][1]
    for name, t in rows:
        print(f"  {name:32s} {t * 1e3:9.2f} ms   {t / t_tl:6.2f}x torchlops")
    if a.profile:
        _profile_solve(lambda: cgls(L, y, niter=niter, tol=0), dev)


def _profile_solve(fn, dev: torch.device, rows: int = 15) -> None:
    """Where one solve's time goes: torch.profiler's kernels (on a GPU) or ops (on the CPU),
    by total time, with their call counts."""
    from torch.profiler import ProfilerActivity, profile

    cuda = dev.type == "cuda"
    with torch.no_grad():
        fn()  # (warm)
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=acts) as prof:
            fn()
            if cuda:
                torch.cuda.synchronize()
    key = "device_time_total" if cuda else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, key, 0) > 0]
    events.sort(key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in events) or 1.0
    # (on a GPU: kernels only, the rows whose device time is their own; on the CPU: ops' self time)
    if cuda:
        events = [e for e in events if getattr(e, "device_type", None) == torch.autograd.DeviceType.CUDA] or events
        total = sum(getattr(e, key) for e in events) or 1.0
    print(f"  profile of one torchlops solve ({'kernels, device time' if cuda else 'ops, self CPU time'}, "
          f"total {total / 1e3:.2f} ms):")
    for e in events[:rows]:
        t = getattr(e, key)
        print(f"    {t / 1e3:8.3f} ms {100 * t / total:5.1f}%  x{e.count:<5d} {e.key[:90]}")


def _report(rows, t_tl, t_pl, t_b, t_l, t_pll, nbatch) -> None:
    for name, t in rows:
        print(f"  {name:32s} {t * 1e3:9.2f} ms")
    if t_pl is not None:
        print(f"  pylops / torchlops (1 problem): {t_pl / t_tl:.2f}x")
        print(f"  pylops looped / torchlops batched ({nbatch} problems): {t_pll / t_b:.2f}x")
    print(f"  torchlops looped / batched: {t_l / t_b:.2f}x")


def _ricker(nt: int, f0: float = 20.0, dt: float = 0.004) -> np.ndarray:
    t = (np.arange(nt) - nt // 2) * dt
    a = (np.pi * f0 * t) ** 2
    return (1 - 2 * a) * np.exp(-a)


def bench_fista(a: argparse.Namespace) -> None:
    """The FISTA table: sparse-spike deconvolution."""
    from torchlops.optimization.sparsity import fista

    dev, nt, niter, B = torch.device(a.device), a.nt, a.fista_niter, a.nbatch
    rng = np.random.default_rng(1)
    h = _ricker(41)
    R = np.zeros((B, nt))
    for b in range(B):
        R[b, rng.choice(nt, 8, replace=False)] = rng.uniform(-1, 1, 8)
    C = np.stack([np.convolve(np.eye(nt)[i], h, mode="same") for i in range(nt)], axis=1)  # Toeplitz (nt, nt)
    Y = R @ C.T + 0.01 * rng.normal(size=(B, nt))
    alpha, eps = 1.0 / np.linalg.norm(C, 2) ** 2, 0.1
    if a.fista_op == "conv":
        from torchlops.signalprocessing.convolve1d import Convolve1D

        Op = Convolve1D(nt, torch.from_numpy(h), offset=len(h) // 2, dtype=torch.float64).to(dev)
    else:
        Op = torchlops.MatrixMult(torch.from_numpy(C)).to(dev)
    Yt = torch.from_numpy(Y).to(dev)
    print(f"FISTA, spike deconvolution ({a.fista_op}: nt={nt}, Ricker 41 taps), niter={niter}, eps={eps}, "
          f"device={dev}, threads={torch.get_num_threads()}")

    def run1(y):
        return fista(Op, y, niter=niter, eps=eps, alpha=alpha, tol=0)

    x1 = run1(Yt[0]).x
    t_tl = _time(lambda: run1(Yt[0]), a.repeat)
    rows = [("torchlops, 1 problem", t_tl)]
    t_pl = t_pll = None
    try:
        import pylops
        from pylops.optimization.sparsity import fista as pfista

        if a.fista_op == "conv":
            POp = pylops.signalprocessing.Convolve1D(nt, h, offset=len(h) // 2, dtype="float64")
        else:
            POp = pylops.MatrixMult(C)
        xp = pfista(POp, Y[0], niter=niter, eps=eps, alpha=alpha, tol=0)[0]
        err = np.abs(xp - x1.cpu().numpy()).max() / np.abs(xp).max()
        assert err < 1e-8, f"torchlops and PyLops disagree: {err:.2e}"
        t_pl = _time(lambda: pfista(POp, Y[0], niter=niter, eps=eps, alpha=alpha, tol=0), a.repeat)
        t_pll = _time(lambda: [pfista(POp, Y[b], niter=niter, eps=eps, alpha=alpha, tol=0) for b in range(B)],
                      max(1, a.repeat // 2))
        rows += [("pylops, 1 problem", t_pl), (f"pylops looped ({B})", t_pll)]
        print(f"  check vs pylops: max rel. diff {err:.1e}")
    except ImportError:
        pass
    xb = run1(Yt).x
    assert torch.allclose(xb[0], x1, rtol=1e-9, atol=1e-12)
    t_b = _time(lambda: run1(Yt), a.repeat)
    t_l = _time(lambda: [run1(Yt[b]) for b in range(B)], max(1, a.repeat // 2))
    rows += [(f"torchlops batched ({B})", t_b), (f"torchlops looped ({B})", t_l)]
    _report(rows, t_tl, t_pl, t_b, t_l, t_pll, B)
    if a.fista_op == "conv":
        _fista_section(a, h, Y, alpha, eps)


def _fista_section(a: argparse.Namespace, h: np.ndarray, Y: np.ndarray, alpha: float, eps: float) -> None:
    """One problem made of the whole section: ``Convolve1D((nbatch, nt), axis=-1)``, one
    ``eps`` and ``alpha`` for all traces (how a section is deconvolved in PyLops)."""
    from torchlops.optimization.sparsity import fista
    from torchlops.signalprocessing.convolve1d import Convolve1D

    dev, niter = torch.device(a.device), a.fista_niter
    dims = Y.shape
    Op = Convolve1D(dims, torch.from_numpy(h), offset=len(h) // 2, axis=-1, dtype=torch.float64).to(dev)
    Yt = torch.from_numpy(Y).to(dev)

    def run():
        return fista(Op, Yt, niter=niter, eps=eps, alpha=alpha, tol=0)

    x = run().x
    assert x.shape == dims
    t_tl = _time(run, a.repeat)
    print(f"  one problem of {dims[0]} x {dims[1]} (the section, Convolve1D along the last axis):")
    rows = [("torchlops", t_tl)]
    try:
        import pylops
        from pylops.optimization.sparsity import fista as pfista

        POp = pylops.signalprocessing.Convolve1D(dims, h, offset=len(h) // 2, axis=-1, dtype="float64")
        xp = pfista(POp, Y.ravel(), niter=niter, eps=eps, alpha=alpha, tol=0)[0]
        err = np.abs(xp - x.cpu().numpy().ravel()).max() / np.abs(xp).max()
        assert err < 1e-8, f"torchlops and PyLops disagree: {err:.2e}"
        print(f"    check vs pylops: max rel. diff {err:.1e}")
        t_pl = _time(lambda: pfista(POp, Y.ravel(), niter=niter, eps=eps, alpha=alpha, tol=0), a.repeat)
        rows.append(("pylops", t_pl))
    except ImportError:
        t_pl = None
    for name, t in rows:
        print(f"    {name:30s} {t * 1e3:9.2f} ms")
    if t_pl is not None:
        print(f"    pylops / torchlops (one section problem): {t_pl / t_tl:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--solver", choices=("cgls", "cgls-conv", "cgls-lap", "fista", "all"), default="all")
    p.add_argument("--n", type=int, default=48)
    p.add_argument("--conv-n", type=int, default=256, help="cgls-conv: image side")
    p.add_argument("--niter", type=int, default=30)
    p.add_argument("--nt", type=int, default=512)
    p.add_argument("--fista-niter", type=int, default=100)
    p.add_argument("--fista-op", choices=("conv", "matrix"), default="conv")
    p.add_argument("--nbatch", type=int, default=16)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--lap-n", type=int, default=0, help="cgls-lap: image side (default 4096 on cuda, 2048 on cpu)")
    p.add_argument("--compile", action="store_true", help="cgls-lap: also time torch.compile of plain-torch CGLS")
    p.add_argument("--profile", action="store_true",
                   help="cgls-lap: also print where one torchlops solve spends its time (torch.profiler)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.solver in ("cgls", "all"):
        bench_cgls(a)
    if a.solver in ("cgls-conv", "all"):
        bench_cgls_conv(a)
    if a.solver in ("cgls-lap", "all"):
        bench_cgls_laplacian(a)
    if a.solver in ("fista", "all"):
        bench_fista(a)


if __name__ == "__main__":
    main()
