"""Solver class API against PyLops: hooks of subclasses, callbacks' arguments, show tables,
damping arguments, empty batches and differentiation at y = 0."""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np
import pytest
import torch

import torchlops as tl
import torchlops.optimization as tlo

pl = pytest.importorskip("pylops")
pcb = pytest.importorskip("pylops.optimization.cls_basic")
pcs = pytest.importorskip("pylops.optimization.cls_sparsity")

RNG = np.random.default_rng(11)
A_NP = RNG.standard_normal((30, 20))
Y_NP = A_NP @ RNG.standard_normal(20)


def _op() -> tl.MatrixMult:
    return tl.MatrixMult(torch.from_numpy(A_NP))


class _Count(tlo.Callbacks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, type]] = []

    def on_step_end(self, solver, x) -> None:
        self.calls.append(("step_end", type(x)))

    def on_run_end(self, solver, x) -> None:
        self.calls.append(("run_end", type(x)))


def test_subclass_calling_super_runs_the_hooks_once_per_step():
    """A subclass overriding step / run / setup and calling its parent's: hooks and the
    per-step callback fire once per call (PyLops wraps each instance's methods once)."""

    class MyCGLS(tlo.CGLS):
        def setup(self, *args, **kwargs):
            return super().setup(*args, **kwargs)

        def step(self, x, show=False):
            return super().step(x, show)

        def run(self, x, niter=None, show=False, itershow=(10, 10, 10)):
            return super().run(x, niter, show, itershow)

    cb = _Count()
    S = MyCGLS(_op(), callbacks=[cb])
    seen = []
    S.callback = lambda x: seen.append(1)
    S.solve(torch.from_numpy(Y_NP), niter=3, tol=0)
    assert [c[0] for c in cb.calls] == ["step_end"] * 3 + ["run_end"]
    assert len(seen) == 3


@pytest.mark.parametrize("cls", ["NormalEquationsInversion", "RegularizedInversion", "PreconditionedInversion"])
def test_run_end_hook_gets_the_model_of_the_inversion_classes(cls):
    """Their run returns a tuple; on_run_end receives its model, as PyLops' hooks do."""
    cb = _Count()
    Op = _op()
    S = getattr(tlo, cls)(Op, callbacks=[cb])
    y = torch.from_numpy(Y_NP)
    if cls == "NormalEquationsInversion":
        S.solve(y, [tl.Identity(20, dtype=torch.float64)], epsRs=[0.1], engine="pylops", niter=5)
    elif cls == "RegularizedInversion":
        S.solve(y, [tl.Identity(20, dtype=torch.float64)], epsRs=[0.1], engine="pylops", niter=5)
    else:
        S.solve(y, tl.Identity(20, dtype=torch.float64), engine="pylops", niter=5)
    assert ("run_end", torch.Tensor) in cb.calls


@pytest.mark.parametrize("name", ["cg", "cgls", "lsqr"])
def test_damp_tensor_of_several_values_is_refused(name):
    """One damping for every sample: a (B,) tensor was broadcast along the model axis (a wrong
    solution when B equals the model size); a one-element tensor of any shape is a number."""
    A = A_NP.T @ A_NP if name == "cg" else A_NP
    Op = tl.MatrixMult(torch.from_numpy(A))
    y = torch.from_numpy(np.stack([A @ RNG.standard_normal(20) for _ in range(20)]))
    f = getattr(tlo, name)
    with pytest.raises(ValueError, match="one-element tensor"):
        f(Op, y, niter=5, damp=torch.full((20,), 0.5, dtype=torch.float64))
    cls = {"cg": tlo.CG, "cgls": tlo.CGLS, "lsqr": tlo.LSQR}[name]
    with pytest.raises(ValueError, match="one-element tensor"):
        cls(Op).setup(y, damp=torch.full((20,), 0.5, dtype=torch.float64))
    kw = dict(atol=0, btol=0) if name == "lsqr" else dict(tol=0)
    ref = f(Op, y, niter=5, damp=0.5, **kw)[0]
    got = f(Op, y, niter=5, damp=torch.full((1, 1), 0.5, dtype=torch.float64), **kw)[0]
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["cg", "cgls", "lsqr"])
def test_unrolled_solve_of_zero_data_stays_in_the_graph(name):
    """y = 0 ends the solve before any step: the (zero) model is still in y's graph, with the
    gradient 0 a zero sample of a batch gets, so a loss on it can be differentiated."""
    A = A_NP.T @ A_NP if name == "cg" else A_NP
    Op = tl.MatrixMult(torch.from_numpy(A))
    y = torch.zeros(A.shape[0], dtype=torch.float64, requires_grad=True)
    x = getattr(tlo, name)(Op, y, niter=10)[0]
    assert x.requires_grad and torch.count_nonzero(x) == 0
    x.sum().backward()
    assert torch.count_nonzero(y.grad) == 0


def test_irls_model_kind_gradient_of_a_batch_with_a_zero_sample_is_finite():
    M = torch.nn.Parameter(torch.from_numpy(A_NP.copy()))
    Y = torch.from_numpy(np.stack([Y_NP, np.zeros(30), 0.5 * Y_NP])).requires_grad_(True)
    x = tlo.irls(tl.MatrixMult(M), Y, nouter=3, kind="model", engine="pylops", tolIRLS=0,
                 **{"niter": 10, "tol": 0})[0]
    x.square().sum().backward()
    assert torch.isfinite(x).all() and torch.isfinite(Y.grad).all() and torch.isfinite(M.grad).all()
    assert M.grad.abs().sum() > 0


def _rows(text: str) -> list[int]:
    return [int(w[0]) for w in (line.split() for line in text.splitlines()) if w and w[0].isdigit()]


@pytest.mark.parametrize(
    "name, mod, kw, square, nkey, n",
    [
        ("CG", pcb, dict(tol=0), True, "niter", 10),
        ("CGLS", pcb, dict(tol=0), False, "niter", 10),
        ("LSQR", pcb, dict(atol=0, btol=0), False, "niter", 10),
        ("LSQR", pcb, dict(atol=0, btol=0), False, "niter", 60),
        ("ISTA", pcs, dict(alpha=1e-3, tol=0), False, "niter", 10),
        ("FISTA", pcs, dict(alpha=1e-3, tol=0), False, "niter", 10),
        ("IRLS", pcs, dict(tolIRLS=0, kind="model"), False, "nouter", 10),
        ("OMP", pcs, dict(sigma=0), False, "niter_outer", 10),
    ],
)
def test_show_table_rows_as_pylops(name, mod, kw, square, nkey, n, caplog):
    """show=True prints the iterations PyLops prints for the same itershow (numbered as PyLops;
    LSQR: its setup row, every row of a short run)."""
    A = A_NP.T @ A_NP if square else A_NP
    y = A @ RNG.standard_normal(20)
    kw = {**kw, nkey: n}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        getattr(mod, name)(pl.MatrixMult(A)).solve(y.copy(), show=True, itershow=(2, 3, 100), **kw)
    with caplog.at_level(logging.INFO, logger="torchlops.optimization"):
        getattr(tlo, name)(tl.MatrixMult(torch.from_numpy(A))).solve(torch.from_numpy(y), show=True,
                                                                     itershow=(2, 3, 100), **kw)
    ours = _rows("\n".join(r.getMessage() for r in caplog.records))
    assert ours == _rows(out.getvalue())


@pytest.mark.parametrize("name", ["ista", "fista", "irls", "splitbregman", "omp"])
@pytest.mark.parametrize("show", [False, True])
def test_sparse_solvers_take_an_empty_batch(name, show):
    Op = _op()
    y = torch.zeros(0, 30, dtype=torch.float64)
    kw = {
        "ista": dict(niter=3, eps=0.1, threshkind="soft-percentile", perc=50, tol=0),
        "fista": dict(niter=3, eps=0.1, threshkind="hard-percentile", perc=50, tol=0),
        "irls": dict(nouter=2, engine="pylops"),
        "splitbregman": dict(RegsL1=[tl.FirstDerivative(20, dtype=torch.float64)], niter_outer=2, niter_inner=2,
                             engine="pylops", mu=1.0, epsRL1s=[0.1]),
        "omp": dict(niter_outer=2),
    }[name]
    x = getattr(tlo, name)(Op, y, show=show, **kw)[0]
    assert x.shape == (0, 20)


@pytest.mark.parametrize("name", ["CGLS", "LSQR", "ISTA", "OMP"])
def test_tend_is_the_end_of_the_solve(name):
    import time

    kw = dict(eps=0.1, niter=3) if name == "ISTA" else dict(niter_outer=3) if name == "OMP" else dict(niter=3)
    t0 = time.time()
    S = getattr(tlo, name)(_op())
    S.solve(torch.from_numpy(Y_NP), **kw)
    assert t0 <= S.tstart <= S.tend <= time.time()
    assert S.tend - S.tstart == pytest.approx(S.telapsed)


def test_irls_exposes_its_weights_as_pylops():
    """PyLops' gallery reads solver.rw in a callback: the weights of the last reweighting."""
    t = np.arange(30.0)
    y = 1 + 2 * t
    y[1] += 40
    kw = dict(nouter=5, epsR=1e-2, epsI=0, tolIRLS=1e-2)
    P = pcs.IRLS(pl.LinearRegression(t, dtype="float64"))
    P.solve(y, **kw)
    T = tlo.IRLS(tl.LinearRegression(torch.from_numpy(t), dtype="float64"))
    T.solve(torch.from_numpy(y), **kw)
    np.testing.assert_allclose(T.rw.numpy(), P.rw, rtol=1e-6)
    for kind in ("model", "datamodel"):
        T = tlo.IRLS(_op())
        T.solve(torch.from_numpy(np.stack([Y_NP, Y_NP])), nouter=2, kind=kind, engine="pylops")
        assert T.rw.shape[0] == 2 and float(T.rw.amax()) == pytest.approx(1.0)


def test_fista_default_step_is_pylops_one():
    """The default step 1 / lambda_max(Op^H Op) from Lanczos, as PyLops' Krylov eigensolver (a
    100-step power iteration stopped 0.3% short on a Ricker convolution, and FISTA differed
    from PyLops by 1e-3)."""
    from pylops.utils.wavelets import ricker

    nt = 61
    h, _, hc = ricker(np.arange(nt)[:101] * 0.004, f0=20)
    P = pl.signalprocessing.Convolve1D(nt, h=h, offset=hc)
    T = tl.signalprocessing.Convolve1D(nt, h=torch.from_numpy(h), offset=hc)
    y = P @ np.random.default_rng(0).standard_normal(nt)
    for name in ("ista", "fista"):
        a = getattr(pl.optimization.sparsity, name)(P, y, niter=100, eps=0.5)[0]
        b = getattr(tlo, name)(T, torch.from_numpy(y), niter=100, eps=0.5)[0].numpy()
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)


def test_review_rules_apply_everywhere():
    """Counts of the inversions' inner solvers, the model layout of CG/CGLS steps, complex
    models of real problems, regularisers in an nn.ModuleList, copies taken inside a hook."""
    import copy

    Op = _op()
    y = torch.from_numpy(Y_NP)
    R = tl.FirstDerivative(20, dtype=torch.float64)
    for f in (lambda n: tlo.normal_equations_inversion(Op, y, [R], epsRs=[1.0], niter=n),
              lambda n: tlo.regularized_inversion(Op, y, [R], epsRs=[1.0], niter=n),
              lambda n: tlo.preconditioned_inversion(Op, y, tl.Identity(20, dtype=torch.float64), niter=n)):
        with pytest.raises(TypeError, match="must be an int"):
            f(2.5)
        with pytest.raises(ValueError, match=">= 0"):
            f(-1)
    Y = torch.from_numpy(np.stack([Y_NP] * 6)).reshape(2, 3, 30)
    s = tlo.CGLS(Op)
    x = s.setup(Y, niter=3)
    with pytest.raises(ValueError, match="x must be the model"):
        s.step(x.transpose(0, 1))
    with pytest.raises(TypeError, match="x is complex"):
        s.step(x.to(torch.complex128))
    x = s.step(x)
    out = tlo.regularized_inversion(Op, y, torch.nn.ModuleList([R]), epsRs=[0.5], engine="pylops", niter=5)[0]
    ref = tlo.regularized_inversion(Op, y, [R], epsRs=[0.5], engine="pylops", niter=5)[0]
    torch.testing.assert_close(out, ref, rtol=0, atol=0)

    clones, steps = [], []

    class Snap(tlo.Callbacks):
        def on_step_end(self, solver, x):
            steps.append(1)
            if not clones:
                clones.append(copy.deepcopy(solver))

    S = tlo.CGLS(Op, callbacks=[Snap()])
    S.solve(y, niter=2, tol=0)
    assert len(steps) == 2
    clones[0].step(clones[0]._last_x if hasattr(clones[0], "_last_x") else S.x if hasattr(S, "x") else
                   torch.zeros(20, dtype=torch.float64))
    assert len(steps) == 3  # (the copy runs its hooks)


def test_ista_default_step_carries_the_operators_gradient():
    """A learnable operator: the default step comes from a (differentiable) power iteration,
    so the gradient matches the one with the step computed in the graph."""
    from torchlops.optimization.eigs import power_iteration

    A = torch.nn.Parameter(torch.from_numpy(A_NP.copy()))
    y = torch.from_numpy(Y_NP)
    x = tlo.ista(tl.MatrixMult(A), y, niter=20, eps=0.1, tol=0)[0]
    g1, = torch.autograd.grad(x.square().sum(), A)
    Op = tl.MatrixMult(A)
    lam = power_iteration(Op.H @ Op, niter=100, tol=1e-6, generator=torch.Generator().manual_seed(0))[0]
    x2 = tlo.ista(Op, y, niter=20, eps=0.1, alpha=1.0 / lam.abs(), tol=0)[0]
    g2, = torch.autograd.grad(x2.square().sum(), A)
    torch.testing.assert_close(g1, g2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["CG", "CGLS", "LSQR", "ISTA", "FISTA", "IRLS", "OMP", "SplitBregman"])
def test_per_step_callback_runs_in_run_only_as_pylops(name):
    """PyLops calls the per-step ``callback(x)`` from ``run``: a step called by hand makes no
    call (a manual loop that calls it itself, as PyLops' run does, counted each step twice)."""
    A = A_NP.T @ A_NP + np.eye(20) if name == "CG" else A_NP
    y = A @ RNG.standard_normal(20)
    Op = tl.MatrixMult(torch.from_numpy(A))
    kw = {"CG": dict(niter=4, tol=0), "CGLS": dict(niter=4, tol=0), "LSQR": dict(niter=4),
          "ISTA": dict(niter=4, eps=0.1, alpha=1e-3, tol=0), "FISTA": dict(niter=4, eps=0.1, alpha=1e-3, tol=0),
          "IRLS": dict(nouter=4), "OMP": dict(niter_outer=4, sigma=0.0),
          "SplitBregman": dict(RegsL1=[tl.Identity(20, dtype=torch.float64)], niter_outer=4, epsRL1s=[0.1])}[name]
    P = getattr(pcb, name, None) or getattr(pcs, name)
    counts = []
    for cls, yy, op in ((P, y, pl.MatrixMult(A)), (getattr(tlo, name), torch.from_numpy(y), Op)):
        s = cls(op)
        seen = []
        s.callback = lambda x, *rest, seen=seen: seen.append(1)
        if name == "SplitBregman":
            regs = [pl.Identity(20)] if cls is P else kw["RegsL1"]
            x = s.setup(yy, regs, epsRL1s=[0.1], niter_outer=4)
        elif name in ("IRLS", "OMP"):
            s.setup(yy, **{k: v for k, v in kw.items() if k != "nouter"})
            x = [] if name == "OMP" else (np.zeros(20) if cls is P else torch.zeros(20, dtype=torch.float64))
        else:
            x = s.setup(yy, **kw)
        out = s.step(x, []) if name == "OMP" else s.step(x, x.copy() if cls is P else None) if name == "FISTA" \
            else s.step(x)
        manual = len(seen)
        x = out[0] if isinstance(out, tuple) else out
        if name == "OMP":
            s.run(x, out[1])
        elif name == "IRLS":
            s.run(x, 2)
        else:
            s.run(x)
        counts.append((manual, len(seen) - manual > 0))
    assert counts[0] == counts[1] == (0, True)


def test_setup_end_hook_gets_x0_as_pylops():
    """on_setup_begin and on_setup_end get setup's x0 (None when not given), as PyLops."""
    from pylops.optimization.callback import Callbacks as PCallbacks

    logs = []
    for base, cls, op, y, x0 in ((PCallbacks, pcb.CGLS, pl.MatrixMult(A_NP), Y_NP, np.ones(20)),
                                 (tlo.Callbacks, tlo.CGLS, _op(), torch.from_numpy(Y_NP),
                                  torch.ones(20, dtype=torch.float64))):
        log = []

        class Keep(base):
            def __init__(self, log=log):
                self.log = log

            def on_setup_begin(self, solver, x):
                self.log.append(("begin", None if x is None else float(x.sum())))

            def on_setup_end(self, solver, x):
                self.log.append(("end", None if x is None else float(x.sum())))

        cls(op, callbacks=[Keep()]).solve(y, niter=2)
        cls(op, callbacks=[Keep()]).solve(y, x0=x0, niter=2)
        logs.append(log)
    assert logs[0] == logs[1] == [("begin", None), ("end", None), ("begin", 20.0), ("end", 20.0)]


@pytest.mark.parametrize("name", ["CG", "CGLS", "LSQR"])
def test_cost_entries_have_the_batch_shape_while_running(name):
    """The cost of each step is a tensor of the batch's shape while the solver runs (0-d for one
    problem: f"{solver.cost[-1]:.3e}" formats as with PyLops' floats); the stacked history
    after finalize is unchanged; CostToDataCallback works on a batch of 2-D shape."""
    A = A_NP.T @ A_NP if name == "CG" else A_NP
    y = torch.from_numpy(A @ RNG.standard_normal(20))
    cls = getattr(tlo, name)
    s = cls(tl.MatrixMult(torch.from_numpy(A)))
    x = s.setup(y, niter=3, **({} if name == "LSQR" else {"tol": 0}))
    x = s.step(x)
    assert all(c.shape == () for c in s.cost)
    assert f"{s.cost[-1]:.3e}" == f"{float(s.cost[-1]):.3e}"
    if name == "CGLS":
        assert s.cost1[-1].shape == ()
    Y = y.expand(2, 3, -1)
    b = cls(tl.MatrixMult(torch.from_numpy(A)), callbacks=[tlo.CostToDataCallback(1e-30)])
    b.solve(Y, niter=3)
    assert b.cost.shape == (b.iiter + 1, 2, 3) and all(c.shape == (2, 3) for c in b.cost)


def test_normal_equations_op_normal_and_cgls_run_niter_as_pylops():
    """NormalEquationsInversion.Op_normal includes epsI^2 I (PyLops' operator; the solve still
    adds it as CG's damping) and OpH is Op.H; CGLS.run(x, niter) sets niter as PyLops'."""
    from pylops.optimization.cls_leastsquares import NormalEquationsInversion as PN

    from torchlops.optimization.cls_leastsquares import NormalEquationsInversion as TN

    P, T = PN(pl.MatrixMult(A_NP)), TN(_op())
    P.setup(Y_NP, [pl.FirstDerivative(20)], epsI=0.3, epsRs=[0.5])
    T.setup(torch.from_numpy(Y_NP), [tl.FirstDerivative(20, dtype=torch.float64)], epsI=0.3, epsRs=[0.5])
    np.testing.assert_allclose(T.Op_normal.todense().numpy(), P.Op_normal.todense(), rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(T.OpH.todense().numpy(), P.OpH.todense(), rtol=0, atol=0)
    xp = P.run(None, engine="pylops", niter=8, tol=0)[0]
    np.testing.assert_allclose(T.run(None, engine="pylops", niter=8, tol=0)[0].numpy(), xp, rtol=1e-10)
    for cls in (pcb.CGLS, tlo.CGLS):
        s = cls(pl.MatrixMult(A_NP) if cls is pcb.CGLS else _op())
        yy = Y_NP if cls is pcb.CGLS else torch.from_numpy(Y_NP)
        x = s.setup(yy, tol=0)
        s.run(x, 4)
        assert s.niter == 4 and s.iiter == 4


def test_memory_usage_counts_listed_state_once():
    """memory_usage measures the tensors held in lists too (SplitBregman's b and d, the regs'
    data) and a memory block once however many views of it the solver keeps."""
    n = 4000
    Op = tl.Identity(n, dtype=torch.float64)
    s = tlo.SplitBregman(Op)
    y = torch.randn(3, n, dtype=torch.float64)
    s.setup(y, [tl.Identity(n, dtype=torch.float64)], niter_outer=1, epsRL1s=[0.1])
    held = 2 * 3 * n * 8  # b and d: one (3, n) float64 tensor each
    assert s.memory_usage() >= held + y.numel() * 8
    base = tlo.CGLS(Op)
    x = base.setup(y, niter=1)
    m0 = base.memory_usage()
    base.extra_views = [base.s[0], base.s[1:], (base.s.reshape(-1),)]  # views of a held tensor
    assert base.memory_usage() == m0
    base.extra = [torch.zeros(n, dtype=torch.float64)]
    assert base.memory_usage() == m0 + n * 8
    assert x.shape == (3, n)


def test_solvers_run_under_inference_mode():
    """Every solver, and the manual FISTA / OMP / LSQR loops, under torch.inference_mode (whose
    tensors keep no version counter for the solvers' in-place checks)."""
    A = _op()
    y = torch.from_numpy(Y_NP)
    with torch.inference_mode():
        runs = {
            "omp": lambda: tlo.omp(A, y, niter_outer=3).x,
            "lsqr": lambda: tlo.lsqr(A, y, niter=5).x,
            "fista": lambda: tlo.fista(A, y, niter=5, eps=0.1).x,
            "ista": lambda: tlo.ista(A, y, niter=5, eps=0.1).x,
            "irls": lambda: tlo.irls(A, y, nouter=2).x,
            "cgls": lambda: tlo.cgls(A, y, niter=4).x,
            "splitbregman": lambda: tlo.splitbregman(A, y, [tl.Identity(20, dtype=torch.float64)], epsRL1s=[0.1],
                                                     niter_outer=2).x,
        }
        out = {k: f() for k, f in runs.items()}
        s = tlo.FISTA(A)
        x = s.setup(y, niter=3, eps=0.1)
        for _ in range(3):
            x, z, _ = s.step(x, None)
        o = tlo.OMP(A)
        o.setup(y, niter_outer=3)
        xo, c = o.step([], [])
        xo, c = o.step(xo, c)
        xl = tlo.LSQR(A).solve(y, niter=5)[0]
    ref = {k: f() for k, f in runs.items()}
    for k in runs:
        torch.testing.assert_close(out[k], ref[k], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x, tlo.fista(A, y, niter=3, eps=0.1).x, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(xl, ref["lsqr"], rtol=1e-12, atol=1e-12)
    assert c.numel() == 2 and xo.shape == (20,)


@pytest.mark.parametrize("grad", [False, True])
def test_fista_run_starts_the_momentum_at_its_x(grad):
    """FISTA.run(x) starts the momentum model at x, as PyLops' run (z = x.copy()): after setup,
    run from another start, and a second run after a first (the momentum restarts, t goes on)
    give PyLops' iterates (the solver's own z was taken: 0.95 and 0.65 off). Two samples at
    once equal the per-sample PyLops runs; ``grad``: the tensor path (no fused kernels)."""
    rng = np.random.default_rng(3)
    A = rng.standard_normal((15, 20)) / 4
    Y, XS = rng.standard_normal((2, 15)), rng.standard_normal((2, 20))
    kw = dict(niter=10, eps=0.2, alpha=0.5, tol=0)
    ref_start, ref_chunks = [], []
    for y, xs in zip(Y, XS):
        sp = pcs.FISTA(pl.MatrixMult(A))
        sp.setup(y, **kw)
        ref_start.append(sp.run(xs.copy()))
        sp = pcs.FISTA(pl.MatrixMult(A))
        x = sp.setup(y, **kw)
        x = sp.run(x, 5)
        ref_chunks.append(sp.run(x, 10))
    At = torch.from_numpy(A).requires_grad_(grad)
    for b in ([0], [1], [0, 1]):
        yb, xb = torch.from_numpy(Y[b]).squeeze(0), torch.from_numpy(XS[b]).squeeze(0)
        st = tlo.FISTA(tl.MatrixMult(At))
        st.setup(yb, **kw)
        got = st.run(xb)
        np.testing.assert_allclose(got.detach().reshape(len(b), -1).numpy(), np.stack([ref_start[i] for i in b]),
                                   rtol=1e-10, atol=1e-12)
        st = tlo.FISTA(tl.MatrixMult(At))
        x = st.setup(yb, **kw)
        x = st.run(x, 5)
        got = st.run(x, 10)
        np.testing.assert_allclose(got.detach().reshape(len(b), -1).numpy(), np.stack([ref_chunks[i] for i in b]),
                                   rtol=1e-10, atol=1e-12)
