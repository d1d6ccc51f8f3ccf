"""PyLops 2.8 attributes of IRLS and SplitBregman that ported code reads in callbacks or after
a manual loop: SplitBregman's ``b``, ``d``, ``nregsL1``, ``nregsL2``, ``costregL1``,
``costregL2``; IRLS's ``y`` and ``x0`` after ``run(x0)``; both ``memory_usage`` signatures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchlops.basicoperators.matrixmult import MatrixMult
from torchlops.optimization.callback import Callbacks
from torchlops.optimization.cls_irls import IRLS
from torchlops.optimization.cls_splitbregman import SplitBregman

pl = pytest.importorskip("pylops")
plcb = pytest.importorskip("pylops.optimization.callback")
plsp = pytest.importorskip("pylops.optimization.cls_sparsity")

BATCHES = [(), (2, 2)]


def rand(rng: np.random.Generator, shape, cplx: bool) -> np.ndarray:
    a = rng.standard_normal(shape)
    return a + 1j * rng.standard_normal(shape) if cplx else a


def t(a) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True))


def close(actual, expected, rtol: float = 1e-8, what: str = "") -> None:
    a = actual.detach().resolve_conj().numpy() if isinstance(actual, torch.Tensor) else np.asarray(actual)
    b = np.asarray(expected)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    err, ref = np.linalg.norm(a - b), np.linalg.norm(b)
    assert err <= rtol * max(ref, 1e-12), f"{what}: ||a-b|| = {err:.3e}, ||b|| = {ref:.3e}"


def snapshot(v):
    """A copy of an attribute's value (a list of arrays / tensors, a scalar)."""
    if isinstance(v, list):
        return [snapshot(e) for e in v]
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    return np.array(v, copy=True)


def recorder(base, names):
    class Rec(base):
        def __init__(self) -> None:
            self.stop = False
            self.seen: list[dict] = []

        def on_step_end(self, solver, x) -> None:
            self.seen.append({k: snapshot(getattr(solver, k)) for k in names})

    return Rec()


# ---------------------------------------------------------------------------- SplitBregman
SB_ATTRS = ("b", "d", "costregL1", "costregL2")


def sb_problem(cplx: bool, batch: tuple, withl2: bool, seed: int = 4):
    rng = np.random.default_rng(seed)
    M, N = 18, 12
    A = rand(rng, (M, N), cplx) / np.sqrt(M)
    ys = rand(rng, (*batch, M), cplx)
    D1 = np.diff(np.eye(N), axis=0)
    D2 = rand(rng, (7, N), False)
    kw = dict(niter_outer=3, niter_inner=2, mu=0.8, epsRL1s=[0.3, 0.1], tol=1e-12, tau=0.9)
    regs = ([D1, D2], [np.eye(N)] if withl2 else None)
    l2 = dict(epsRL2s=[0.05], dataregs=np.full(N, 0.1)) if withl2 else {}
    return A, ys, regs, kw, l2


def run_pylops_sb(A, y, regs, kw, l2):
    cb = recorder(plcb.Callbacks, SB_ATTRS + ("nregsL1", "nregsL2"))
    s = plsp.SplitBregman(pl.MatrixMult(A, dtype=A.dtype), callbacks=[cb])
    extra = {}
    if regs[1] is not None:
        extra = dict(RegsL2=[pl.MatrixMult(R) for R in regs[1]], epsRL2s=l2["epsRL2s"], dataregsL2=[l2["dataregs"]])
    s.solve(y, [pl.MatrixMult(R) for R in regs[0]], engine="pylops", niter=8, **kw, **extra)
    return s, cb.seen


def run_torchlops_sb(A, ys, regs, kw, l2):
    cb = recorder(Callbacks, SB_ATTRS + ("bs", "ds"))
    s = SplitBregman(MatrixMult(t(A)), callbacks=[cb])
    extra = {}
    if regs[1] is not None:
        extra = dict(RegsL2=[MatrixMult(t(R)) for R in regs[1]], epsRL2s=l2["epsRL2s"], dataregsL2=[t(l2["dataregs"])])
    s.solve(t(ys), [MatrixMult(t(R)) for R in regs[0]], engine="pylops", niter=8, **kw, **extra)
    return s, cb.seen


@pytest.mark.parametrize("withl2", [False, True], ids=["L1", "L1+L2"])
@pytest.mark.parametrize("batch", BATCHES, ids=["one", "batch"])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
def test_splitbregman_pylops_attributes_each_step(cplx, batch, withl2):
    """``b``, ``d`` (lists of ``(*batch, m_i)`` tensors), ``costregL1`` / ``costregL2`` (lists
    of per-sample costs of the batch's shape, ``costregL2`` 0 without ``RegsL2``) and the
    counts, read in a callback after every step, are PyLops' for every sample."""
    A, ys, regs, kw, l2 = sb_problem(cplx, batch, withl2)
    st, seen_t = run_torchlops_sb(A, ys, regs, kw, l2)
    assert st.nregsL1 == 2
    assert st.nregsL2 == (1 if withl2 else 0)
    assert len(seen_t) == 3
    B = int(np.prod(batch))
    for idx in np.ndindex(*batch):
        sp, seen_p = run_pylops_sb(A, ys[idx], regs, kw, l2)
        assert (sp.nregsL1, sp.nregsL2) == (st.nregsL1, st.nregsL2)
        assert len(seen_p) == len(seen_t)
        for k, (rt, rp) in enumerate(zip(seen_t, seen_p, strict=True)):
            for name in ("b", "d"):
                assert len(rt[name]) == len(rp[name]) == 2
                for i, (vt, vp) in enumerate(zip(rt[name], rp[name], strict=True)):
                    assert vt.shape == (*batch, vp.shape[0])
                    assert vt.dtype == (torch.complex128 if cplx else torch.float64)
                    close(vt[idx], vp, what=f"step {k} {name}[{i}] sample {idx}")
            assert len(rt["costregL1"]) == len(rp["costregL1"]) == 2
            for i, (ct, cp) in enumerate(zip(rt["costregL1"], rp["costregL1"], strict=True)):
                assert ct.shape == batch and not ct.is_complex()
                close(ct[idx], cp, what=f"step {k} costregL1[{i}]")
            if withl2:
                assert len(rt["costregL2"]) == len(rp["costregL2"]) == 1
                assert rt["costregL2"][0].shape == batch
                close(rt["costregL2"][0][idx], rp["costregL2"][0], what=f"step {k} costregL2")
            else:
                assert int(rp["costregL2"]) == 0 and isinstance(rt["costregL2"], np.ndarray) and rt["costregL2"] == 0
            # (bs / ds still hold the same vectors as (B, m) rows)
            for name, rows in (("b", "bs"), ("d", "ds")):
                for vt, vr in zip(rt[name], rt[rows], strict=True):
                    assert vr.shape == (B, vt.shape[-1])
                    torch.testing.assert_close(vr, vt.reshape(B, -1), rtol=0, atol=0)
        # costdata + the per-term costs are the step's total cost, as PyLops' costtot
        total = st.cost[(-1, *idx)]
        parts = sum(float(c[idx]) for c in st.costregL1) + (float(st.costregL2[0][idx]) if withl2 else 0.0)
        assert abs(float(total) - (float(st.costdata.reshape(batch)[idx]) + parts)) <= 1e-12 * float(total)


def test_splitbregman_manual_loop_edits_of_b_and_d_are_used():
    """A manual loop that edits ``d`` / ``b`` between steps (PyLops' code reads them at the
    next step) gets PyLops' iterates; assigning ``bs`` / ``ds`` rows still works."""
    A, y, regs, kw, _ = sb_problem(False, (), False, seed=7)
    kw = {k: v for k, v in kw.items() if k not in ("niter_outer",)}
    sp = plsp.SplitBregman(pl.MatrixMult(A))
    xp = sp.setup(y, [pl.MatrixMult(R) for R in regs[0]], niter_outer=3, **kw)
    st = SplitBregman(MatrixMult(t(A)))
    xt = st.setup(t(y), [MatrixMult(t(R)) for R in regs[0]], niter_outer=3, **kw)
    for k in range(3):
        xp = sp.step(xp, "pylops", niter=8, tol=0.0)
        xt = st.step(xt, "pylops", niter=8, tol=0.0)
        close(xt, xp, what=f"x step {k}")
        sp.d[0] = 0.5 * sp.d[0]
        sp.b[1] *= 0.5
        if k == 0:
            st.d[0] = 0.5 * st.d[0]
            st.b[1] *= 0.5
        else:
            st.ds = [0.5 * st.ds[0], st.ds[1]]
            st.bs[1].mul_(0.5)
    close(st.d[0], sp.d[0], what="d[0]")
    close(st.b[1], sp.b[1], what="b[1]")


# ---------------------------------------------------------------------------- IRLS y / x0
@pytest.mark.parametrize("kind", ["data", "model", "datamodel"])
@pytest.mark.parametrize("batch", BATCHES, ids=["one", "batch"])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
def test_irls_run_x0_sets_y_and_x0_like_pylops(cplx, batch, kind):
    """After ``run(x0)`` ``y`` is ``y - Op x0`` (the data the increments are fitted to; the
    data rows of PyLops' augmented y for datamodel) and ``x0`` a copy of the initial guess,
    in the batch's layout, during the run (a callback's residual ``y - Op x``) and after it;
    the result is unchanged."""
    rng = np.random.default_rng(11)
    M, N = (10, 14) if kind == "model" else (16, 9)
    A = rand(rng, (M, N), cplx) / np.sqrt(M)
    ys = rand(rng, (*batch, M), cplx)
    x0s = rand(rng, (*batch, N), cplx)
    kw = dict(nouter=3, epsR=1e-2, epsI=1e-3, tolIRLS=0.0, kind=kind)

    class ResT(Callbacks):
        def __init__(self) -> None:
            self.stop, self.res = False, []

        def on_step_end(self, solver, x) -> None:
            xr = x.reshape(*batch, N)
            self.res.append(torch.linalg.vector_norm(solver.y - xr @ At.mT, dim=-1))

    At = t(A)
    cbt = ResT()
    st = IRLS(MatrixMult(At), callbacks=[cbt])
    x0t = t(x0s)
    xt, _ = st.solve(t(ys), x0t, engine="pylops", niter=30, tol=0.0, **kw)
    assert st.y.shape == (*batch, M) and st.x0.shape == (*batch, N)
    x0t.zero_()  # (a copy: changing the caller's tensor leaves it)
    for idx in np.ndindex(*batch):
        class ResP(plcb.Callbacks):
            def __init__(self) -> None:
                self.stop, self.res = False, []

            def on_step_end(self, solver, x) -> None:
                self.res.append(np.linalg.norm((solver.y - solver.Op @ x)[:M]))

        cbp = ResP()
        sp = plsp.IRLS(pl.MatrixMult(A, dtype=A.dtype), callbacks=[cbp])
        xp, _ = sp.solve(ys[idx], x0s[idx], engine="pylops", niter=30, tol=0.0, **kw)
        close(xt[idx], xp, rtol=1e-7, what=f"x {idx}")
        close(st.y[idx], sp.y[:M], rtol=1e-10, what=f"y {idx}")
        close(st.x0[idx], sp.x0, rtol=0, what=f"x0 {idx}")
        close(torch.stack([r[idx] for r in cbt.res]), np.array(cbp.res), rtol=1e-7, what=f"callback residuals {idx}")


def test_irls_y_kept_without_x0_and_x0_dropped_by_a_new_setup():
    """``run(None)`` keeps ``y`` and sets no ``x0`` (PyLops too); a later setup drops the
    ``x0`` of a previous run."""
    rng = np.random.default_rng(2)
    A, y = rng.standard_normal((12, 7)), rng.standard_normal(12)
    st = IRLS(MatrixMult(t(A)))
    st.setup(t(y), nouter=2)
    st.run(None, engine="pylops", niter=10)
    sp = plsp.IRLS(pl.MatrixMult(A))
    sp.setup(y, nouter=2)
    sp.run(np.zeros(7), engine="pylops", niter=10)
    assert not hasattr(st, "x0")
    close(st.y, y, rtol=0)
    st.setup(t(y), nouter=2)
    st.run(t(np.ones(7)), engine="pylops", niter=10)
    close(st.y, y - A @ np.ones(7), rtol=1e-12)
    close(st.x0, np.ones(7), rtol=0)
    st.setup(t(y), nouter=2)
    assert not hasattr(st, "x0")


# ---------------------------------------------------------------------------- memory_usage
def test_irls_and_splitbregman_memory_usage_take_pylops_arguments():
    """``IRLS.memory_usage(kind, show, unit)`` and ``SplitBregman.memory_usage(nopRegsL1,
    nopRegsL2, show, unit)`` as PyLops (before setup too, as its docs call them); the tensors
    held are measured, in ``unit``."""
    rng = np.random.default_rng(0)
    A, y = rng.standard_normal((12, 7)), rng.standard_normal(12)
    D = np.diff(np.eye(7), axis=0)
    Ap = pl.MatrixMult(A)
    assert plsp.IRLS(Ap).memory_usage("data", False, "KB") > 0
    assert plsp.SplitBregman(Ap).memory_usage((6,), None, False, "KB") > 0
    si = IRLS(MatrixMult(t(A)))
    assert si.memory_usage("data", False, "KB") == 0.0
    si.setup(t(y), kind="datamodel")
    kb = si.memory_usage("datamodel", False, "KB")
    assert kb == si.memory_usage(kind="model", unit="KB") == si.memory_usage(unit="B") / 1024 > 0
    ss = SplitBregman(MatrixMult(t(A)))
    assert ss.memory_usage((6,), None, False, "KB") == 0.0
    ss.setup(t(y), [MatrixMult(t(D))], epsRL1s=[0.1])
    kb = ss.memory_usage((6,), None, False, "KB")
    assert kb == ss.memory_usage(nopRegsL1=(6,), nopRegsL2=(7,), unit="KB") == ss.memory_usage() / 1024 > 0
    with pytest.raises(ValueError, match="unit"):
        ss.memory_usage(None, None, False, "TB")
