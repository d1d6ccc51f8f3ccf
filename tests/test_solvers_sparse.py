"""Sparsity solvers: PyLops 2.8 parity of iterates and costs, sparse recovery, batching,
callbacks, torch.compile, unrolled gradients and error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from torchlops.basicoperators.identity import Identity
from torchlops.basicoperators.matrixmult import MatrixMult
from torchlops.optimization.callback import (
    Callbacks,
    CostNanInfCallback,
    CostToDataCallback,
    CostToInitialCallback,
    MetricsCallback,
)
from torchlops.optimization.cls_sparsity import FISTA, IRLS, ISTA, OMP, SplitBregman
from torchlops.optimization.sparsity import fista, irls, ista, omp, splitbregman

pl = pytest.importorskip("pylops")
plsp = pytest.importorskip("pylops.optimization.sparsity")

RTOL = 1e-8
THRESHKINDS = ["soft", "hard", "half", "soft-percentile", "hard-percentile", "half-percentile"]


def rand(rng: np.random.Generator, shape, cplx: bool = False) -> np.ndarray:
    a = rng.standard_normal(shape)
    return a + 1j * rng.standard_normal(shape) if cplx else a


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True))


def assert_rel(actual, expected, rtol: float = RTOL, what: str = "") -> None:
    a = actual.detach().cpu().resolve_conj().numpy().ravel() if isinstance(actual, torch.Tensor) else np.ravel(actual)
    b = np.ravel(np.asarray(expected))
    assert a.size == b.size, f"{what}: size {a.size} != expected {b.size}"
    err, ref = np.linalg.norm(a - b), np.linalg.norm(b)
    assert err <= rtol * max(ref, 1e-300), f"{what}: ||a-b|| = {err:.3e} > {rtol:.0e} * ||b|| = {rtol * ref:.3e}"


def problem(seed: int = 0, M: int = 20, N: int = 30, cplx: bool = False, x0: bool = False):
    """Random MatrixMult (PyLops and torchlops), data of a sparse model, optional x0."""
    rng = np.random.default_rng(seed)
    A = rand(rng, (M, N), cplx) / np.sqrt(M)
    x = np.zeros(N, dtype=A.dtype)
    x[[2, N // 2, N - 4]] = [1.0, -0.7, 0.5]
    y = A @ x + 0.01 * rand(rng, M, cplx)
    xi = rand(rng, N, cplx) * 0.1 if x0 else None
    return pl.MatrixMult(A, dtype=A.dtype), MatrixMult(t(A)), y, x, xi


def spiky(seed: int = 3, M: int = 40, N: int = 60):
    """Noise-free data of a 3-spike model through a random Gaussian matrix."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, N)) / np.sqrt(M)
    x = np.zeros(N)
    x[[5, 27, 48]] = [1.0, -1.0, 0.8]
    return MatrixMult(t(A)), t(A @ x), t(x)


# ---------------------------------------------------------------------------- ISTA / FISTA parity
@pytest.mark.parametrize("threshkind", THRESHKINDS)
@pytest.mark.parametrize("solver", ["ista", "fista"])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("withx0", [False, True], ids=["zero-x0", "x0"])
def test_ista_fista_parity(threshkind, solver, cplx, withx0):
    Apl, Atl, y, _, x0 = problem(1, cplx=cplx, x0=withx0)
    perc = 30 if threshkind.endswith("percentile") else None
    alpha = 0.9 / np.linalg.norm(Apl.A, 2) ** 2
    kw = dict(niter=15, eps=0.2, alpha=alpha, tol=0.0, threshkind=threshkind, perc=perc)
    xs_pl, xs_tl = [], []
    xp, itp, costp = getattr(plsp, solver)(Apl, y, x0=x0, callback=lambda x: xs_pl.append(x.copy()), **kw)
    res = (ista if solver == "ista" else fista)(
        Atl, t(y), x0=None if x0 is None else t(x0), callback=lambda x: xs_tl.append(x.clone()), **kw
    )
    assert res.iiter == itp == 15
    assert len(xs_tl) == len(xs_pl)
    for i, (a, b) in enumerate(zip(xs_tl, xs_pl, strict=True)):
        assert_rel(a, b, what=f"iterate {i}")
    assert_rel(res.x, xp, what="x")
    assert_rel(res.cost, costp, what="cost")


@pytest.mark.parametrize("decay", [0.4, np.float64(0.4), np.array(0.4), torch.tensor(0.4, dtype=torch.float64)], ids=type)
@pytest.mark.parametrize("solver", ["ista", "fista"])
def test_ista_fista_single_decay(solver, decay):
    """One decay factor for every step, as PyLops takes one (it raised: decay must hold niter values)."""
    Apl, Atl, y, _, _ = problem(2)
    kw = dict(niter=12, eps=0.3, alpha=0.5, tol=0.0)
    xp, _, costp = getattr(plsp, solver)(Apl, y, decay=0.4, **kw)
    x, _, cost = (ista if solver == "ista" else fista)(Atl, t(y), decay=decay, **kw)
    assert_rel(x, xp, what="x")
    assert_rel(cost, costp, what="cost")
    x2 = (ista if solver == "ista" else fista)(Atl, t(y), decay=np.full(12, 0.4), **kw).x
    torch.testing.assert_close(x, x2, rtol=0, atol=0)


@pytest.mark.parametrize("solver", ["ista", "fista"])
def test_ista_fista_parity_sop_decay(solver):
    """Sparsifying transform and a decaying threshold."""
    Apl, Atl, y, _, _ = problem(2)
    rng = np.random.default_rng(5)
    S = np.linalg.qr(rng.standard_normal((30, 30)))[0]
    decay = np.linspace(1.0, 0.2, 12)
    kw = dict(niter=12, eps=0.3, alpha=0.5, tol=0.0, decay=decay)
    xp, _, costp = getattr(plsp, solver)(Apl, y, SOp=pl.MatrixMult(S), **kw)
    x, _, cost = (ista if solver == "ista" else fista)(Atl, t(y), SOp=MatrixMult(t(S)), **kw)
    assert_rel(x, xp, what="x")
    assert_rel(cost, costp, what="cost")


def test_ista_alpha_from_power_iteration():
    """alpha = 1 / max eig(Op^H Op), as PyLops (which uses ARPACK)."""
    Apl, Atl, y, _, _ = problem(4)
    s = ISTA(Atl)
    s.setup(t(y), niter=3, eigsdict={"niter": 500, "rtol": 1e-12})
    maxeig = np.linalg.norm(Apl.A, 2) ** 2
    assert abs(float(s.alpha) - 1.0 / maxeig) <= 1e-6 / maxeig
    xp = plsp.fista(Apl, y, niter=10, tol=0.0)[0]
    x = fista(Atl, t(y), niter=10, tol=0.0, eigsdict={"niter": 500, "rtol": 1e-12}).x
    assert_rel(x, xp, rtol=1e-5, what="x with default alpha")


def test_ista_tol_stops_like_pylops():
    Apl, Atl, y, _, _ = problem(6)
    xp, itp, _ = plsp.ista(Apl, y, niter=500, eps=0.5, alpha=0.5, tol=1e-6)
    s = ISTA(Atl)
    x, it, cost = s.solve(t(y), niter=500, eps=0.5, alpha=0.5, tol=1e-6)
    assert itp < 500 and int(s.iiters) == itp
    assert it == itp and cost.shape[0] == itp  # on the CPU the host checks every step
    assert_rel(x, xp, what="x")


@pytest.mark.parametrize("solver", ["ista", "fista"])
def test_batched_tol_freezes_each_sample_like_pylops(solver):
    """Samples that meet ``tol`` at different steps: each one's model, cost history and step
    count are PyLops' for that sample alone (its cost repeats after it stops)."""
    A, Y = _batch()
    An = A.A.numpy()
    cls = ISTA if solver == "ista" else FISTA
    s = cls(A)
    x, it, cost = s.solve(Y, niter=200, eps=0.1, alpha=0.15, tol=1e-3)  # alpha < 1 / ||A||^2
    counts = []
    for b in range(Y.shape[0]):
        xp, itp, costp = getattr(plsp, solver)(pl.MatrixMult(An), Y[b].numpy(), niter=200, eps=0.1, alpha=0.15, tol=1e-3)
        counts.append(itp)
        assert int(s.iiters[b]) == itp
        assert_rel(x[b], xp, rtol=1e-10, what=f"x, sample {b}")
        assert_rel(cost[:itp, b], costp, rtol=1e-10, what=f"cost, sample {b}")
        assert torch.equal(cost[itp:, b], cost[itp - 1, b].expand(it - itp))
    assert len(set(counts)) > 1 and max(counts) < 200  # the samples do stop, at different steps


@pytest.mark.parametrize("cls", [ISTA, FISTA])
def test_step_sees_in_place_changes_of_its_model(cls):
    """A model changed in place between steps (a projection) is the one the next step uses,
    as a new tensor would be."""
    A, Y = _batch()

    def run(inplace: bool) -> tuple[torch.Tensor, torch.Tensor]:
        s = cls(A)
        x = s.setup(Y, niter=15, eps=0.1, alpha=0.15, tol=0)
        for _ in range(15):
            x = s.step(x)[0]
            x = x.clamp_(min=0) if inplace else x.clamp(min=0)
        s.finalize()
        return x, s.cost

    (xa, ca), (xb, cb) = run(True), run(False)
    assert torch.equal(xa, xb) and torch.equal(ca, cb)
    assert (xa >= 0).all() and (xa > 0).any()


@pytest.mark.parametrize("kind", ["soft", "hard"])
@pytest.mark.parametrize("cls", [ISTA, FISTA])
def test_threshold_changed_between_steps(cls, kind):
    """``thresh`` set between manual steps (continuation) is used, on the one-pass path for a
    float threshold as on the general one for a tensor."""
    A, Y = _batch()
    out = []
    for as_tensor in (False, True):
        s = cls(A)
        x = s.setup(Y, niter=12, eps=0.2, alpha=0.15, tol=0, threshkind=kind)
        for i in range(12):
            th = 0.015 * 0.8**i
            s.thresh = torch.tensor([[th]], dtype=torch.float64) if as_tensor else th
            x = s.step(x)[0]
        out.append(x)
    assert_rel(out[0], out[1], rtol=1e-14, what="float vs tensor threshold")
    s0 = cls(A)
    x0 = s0.setup(Y, niter=12, eps=0.2, alpha=0.15, tol=0, threshkind=kind)
    for _ in range(12):
        x0 = s0.step(x0)[0]
    assert not torch.allclose(out[0], x0)  # the changes did change the result


@pytest.mark.parametrize("cls", [ISTA, FISTA])
def test_frozen_sample_state_stays_put(cls):
    """A sample that stops keeps its whole state (FISTA's momentum too): with a step size that
    would make it diverge, its gradients stay finite."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(10, 10, generator=g, dtype=torch.float64) + 5 * torch.eye(10, dtype=torch.float64)
    L = float(torch.linalg.matrix_norm(A, 2) ** 2)
    xt = torch.randn(2, 10, generator=g, dtype=torch.float64)
    x0 = torch.stack([xt[0] + 1e-15 * torch.randn(10, generator=g, dtype=torch.float64), torch.zeros(10, dtype=torch.float64)])
    Ap = A.clone().requires_grad_(True)
    alpha = torch.tensor([30.0 / L, 0.5 / L], dtype=torch.float64)  # sample 0 would diverge
    s = cls(MatrixMult(Ap))
    x = s.setup(xt @ A.T, x0=x0, niter=300, eps=0.0, alpha=alpha, tol=1e-12)
    x = s.step(x)[0]
    assert s.active.tolist() == [False, True]
    z1 = s.z[0].detach().clone()
    for _ in range(299):
        x = s.step(x)[0]
    assert s.iiters.tolist() == [1, 300]
    assert torch.equal(s.z[0], z1)
    (gA,) = torch.autograd.grad(x.square().sum(), Ap)
    assert torch.isfinite(gA).all()


def test_solver_state_pickles_and_settable_views():
    import pickle

    A, Y = _batch()
    s = FISTA(A)
    x = s.setup(Y, niter=6, eps=0.1, alpha=0.15, tol=0)
    x = s.step(x)[0]
    s2 = pickle.loads(pickle.dumps(s))  # a checkpoint in the middle of a solve
    x2 = s2.step(s2._state[0])[0]
    x = s.step(x)[0]
    assert torch.equal(x, x2)
    s.active = torch.tensor([True, False, True])
    s.iiters = torch.zeros(3, dtype=torch.int64)
    s.xupdate = torch.ones(3, dtype=torch.float64)
    x = s.step(x)[0]
    assert s.iiters.tolist() == [1, 0, 1] and s.xupdate[1] == 1.0
    assert s.active.shape == (3,) and not s.active[1]


def test_tensor_eps_alpha_of_another_precision():
    """float64 eps / alpha tensors on float32 data run in float32."""
    A, Y = _batch(B=2)
    A32, Y32 = MatrixMult(A.A.float()), Y.float()
    for solver in (ista, fista):
        r = solver(A32, Y32, niter=5, eps=torch.tensor([0.1, 0.2], dtype=torch.float64),
                   alpha=torch.tensor(0.15, dtype=torch.float64), tol=0)
        ref = solver(A, Y, niter=5, eps=torch.tensor([0.1, 0.2], dtype=torch.float64), alpha=0.15, tol=0)
        assert r.x.dtype == torch.float32 and r.cost.dtype == torch.float32
        assert_rel(r.x, ref.x.numpy(), rtol=1e-5, what=solver.__name__)


def test_monitorres_raises():
    Apl, Atl, y, _, _ = problem(7)
    with pytest.raises(ValueError, match="residual increasing"):
        ista(Atl, t(y), niter=20, eps=0.1, alpha=10.0, monitorres=True)


# ---------------------------------------------------------------------------- IRLS / OMP / SplitBregman parity
@pytest.mark.parametrize("kind", ["data", "model", "datamodel"])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("withx0", [False, True], ids=["zero-x0", "x0"])
@pytest.mark.parametrize("threshR", [False, True])
def test_irls_parity(kind, cplx, withx0, threshR):
    M, N = (20, 12) if kind != "model" else (12, 20)
    Apl, Atl, y, _, x0 = problem(8, M=M, N=N, cplx=cplx, x0=withx0)
    if kind != "model":
        y = y.copy()
        y[3] += 5.0  # an outlier
    kw = dict(nouter=6, threshR=threshR, epsR=1e-2, epsI=1e-3, tolIRLS=0.0, kind=kind)
    xs_pl, xs_tl = [], []
    xp, np_ = plsp.irls(Apl, y, x0=x0, engine="pylops", niter=25, tol=0.0,
                        callback=lambda x: xs_pl.append(x.copy()), **kw)
    x, nouter = irls(Atl, t(y), x0=None if x0 is None else t(x0), engine="pylops", niter=25, tol=0.0,
                     callback=lambda x: xs_tl.append(x.clone()), **kw)
    assert nouter == np_ == 6
    for i, (a, b) in enumerate(zip(xs_tl, xs_pl, strict=True)):
        assert_rel(a, b, rtol=1e-7, what=f"iterate {i}")
    assert_rel(x, xp, rtol=1e-7, what="x")


@pytest.mark.parametrize("kind", ["data", "model", "datamodel"])
@pytest.mark.parametrize("withx0", [False, True], ids=["zero-x0", "x0"])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
def test_irls_default_engine_parity(kind, withx0, cplx):
    """PyLops' default engine ("scipy": its inner solves are scipy's lsqr, iter_lim = 2 x the
    columns, atol = btol = 1e-6) against the same here (LSQR with scipy's rules on torch).
    The inner LSQRs run about as many steps as columns (13-23 here), where the step their
    tolerance is met follows the rounding of the products (one step apart from scipy's in 3 of
    these 12 cases); each agrees to ~1e-8 and the reweighting amplifies that over outer
    iterations, hence the tolerance (the worst case is 6e-6 off a PyLops result computed from a
    y perturbed by 1e-15)."""
    M, N = (12, 20) if kind == "model" else (30, 20)
    Apl, Atl, y, _, x0 = problem(5, M=M, N=N, cplx=cplx, x0=withx0)
    if kind != "model":
        y = y.copy()
        y[4] += 5.0  # an outlier
    kw = dict(nouter=3, epsR=1e-2, epsI=1e-3, tolIRLS=0.0, kind=kind)
    xp = plsp.irls(Apl, y, x0=x0, **kw)[0]
    x = irls(Atl, t(y), x0=None if x0 is None else t(x0), **kw).x
    assert np.linalg.norm(xp) > 0.1  # (PyLops' engine="pylops" returns zeros for datamodel here)
    assert_rel(x, xp, rtol=2e-5, what=f"irls {kind}")
    # scipy's keyword names reach the inner solver (iter_lim, atol, btol)
    xp = plsp.irls(Apl, y, x0=x0, iter_lim=7, atol=1e-9, btol=1e-9, **kw)[0]
    x = irls(Atl, t(y), x0=None if x0 is None else t(x0), iter_lim=7, atol=1e-9, btol=1e-9, **kw).x
    assert_rel(x, xp, rtol=1e-8, what=f"irls {kind} iter_lim=7")


def test_splitbregman_default_engine_parity():
    Apl, Atl, y, _, _ = problem(6, M=25, N=20)
    D = np.diff(np.eye(20), axis=0)
    kw = dict(niter_outer=5, niter_inner=3, mu=0.8, epsRL1s=[0.3])
    xp = plsp.splitbregman(Apl, y, [pl.MatrixMult(D)], **kw)[0]
    x = splitbregman(Atl, t(y), [MatrixMult(t(D))], **kw).x
    assert_rel(x, xp, rtol=1e-9, what="splitbregman")
    xp = plsp.splitbregman(Apl, y, [pl.MatrixMult(D)], iter_lim=4, damp=0.1, **kw)[0]
    x = splitbregman(Atl, t(y), [MatrixMult(t(D))], iter_lim=4, damp=0.1, **kw).x
    assert_rel(x, xp, rtol=1e-9, what="splitbregman iter_lim=4 damp=0.1")


def test_irls_cost_and_warm_parity():
    Apl, Atl, y, _, _ = problem(9, M=20, N=12)
    y[1] -= 4.0
    s = pl.optimization.cls_sparsity.IRLS(Apl)
    xp, _ = s.solve(y, nouter=5, warm=True, epsR=1e-2, engine="pylops", niter=25, tol=0.0)
    st = IRLS(Atl)
    x, _ = st.solve(t(y), nouter=5, warm=True, epsR=1e-2, engine="pylops", niter=25, tol=0.0)
    assert_rel(x, xp, rtol=1e-7, what="x")
    assert_rel(st.cost, np.array(s.cost), rtol=1e-7, what="cost")


def test_irls_class_run_positional_like_pylops():
    """``run(x, nouter, engine, show)`` and ``step(x, engine, show)`` take PyLops' positions."""
    Apl, Atl, y, _, _ = problem(9, M=20, N=12)
    s = pl.optimization.cls_sparsity.IRLS(Apl)
    s.setup(y, nouter=4, epsR=1e-2)
    xp = s.run(np.zeros(12), 4, "pylops", False, niter=25, tol=0.0)
    st = IRLS(Atl)
    st.setup(t(y), nouter=4, epsR=1e-2)
    x = st.run(torch.zeros(12, dtype=torch.float64), 4, "pylops", False, niter=25, tol=0.0)
    assert_rel(x, xp, rtol=1e-7, what="x")
    with pytest.raises(ValueError, match="engine"):
        st.step(x, "numpy")


def test_splitbregman_class_run_positional_engine():
    Atl = MatrixMult(torch.eye(6, dtype=torch.float64))
    y = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    D = Identity(6, dtype=torch.float64)
    ref = SplitBregman(Atl).solve(y, [D], niter_outer=3, niter_inner=2, mu=1.0, epsRL1s=[0.1], niter=5)[0]
    sb = SplitBregman(Atl)
    x = sb.setup(y, [D], niter_outer=3, niter_inner=2, mu=1.0, epsRL1s=[0.1])
    x = sb.run(x, "scipy", False, (10, 10, 10), False, niter=5)
    torch.testing.assert_close(x, ref)
    with pytest.raises(ValueError, match="engine"):
        sb.run(x, "numpy")


@pytest.mark.parametrize("niter_inner", [0, 30], ids=["MP", "OMP"])
@pytest.mark.parametrize("normalizecols", [False, True])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
def test_omp_parity(niter_inner, normalizecols, cplx):
    Apl, Atl, y, _, _ = problem(10, M=25, N=40, cplx=cplx)
    kw = dict(niter_outer=6, niter_inner=niter_inner, sigma=1e-6, normalizecols=normalizecols)
    xp, itp, costp = plsp.omp(Apl, y, engine="pylops", **kw)
    x, it, cost = omp(Atl, t(y), engine="pylops", **kw)
    assert it == itp
    assert_rel(x, xp, what="x")
    assert_rel(cost, costp, what="cost")


def test_omp_sigma_stop_parity():
    """Noise-free spiky data: PyLops and torchlops stop at the same outer iteration."""
    A, y, _ = spiky()
    Apl = pl.MatrixMult(A.A.numpy())
    xp, itp, costp = plsp.omp(Apl, y.numpy(), niter_outer=20, niter_inner=60, sigma=0.05, engine="pylops")
    x, it, cost = omp(A, y, niter_outer=20, niter_inner=60, sigma=0.05, engine="pylops")
    assert it == itp < 20
    assert_rel(x, xp, what="x")
    assert_rel(cost, costp, what="cost")


def test_mp_optimal_coeff_parity():
    Apl, Atl, y, _, _ = problem(11, M=25, N=40)
    kw = dict(niter_outer=8, niter_inner=0, sigma=1e-6, optimal_coeff=True)
    xp, _, costp = plsp.omp(Apl, y, **kw)
    x, _, cost = omp(Atl, t(y), **kw)
    assert_rel(x, xp, what="x")
    assert_rel(cost, costp, what="cost")


@pytest.mark.parametrize("withl2", [False, True], ids=["L1", "L1+L2"])
@pytest.mark.parametrize("restart", [False, True])
@pytest.mark.parametrize("withx0", [False, True], ids=["zero-x0", "x0"])
@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
def test_splitbregman_parity(withl2, restart, withx0, cplx):
    Apl, Atl, y, _, x0 = problem(12, M=25, N=20, x0=withx0, cplx=cplx)
    D = np.diff(np.eye(20), axis=0)
    kw = dict(niter_outer=4, niter_inner=3, mu=0.8, epsRL1s=[0.3], tol=1e-12, tau=0.9, restart=restart, niter=8)
    pl_l2 = dict(RegsL2=[pl.Identity(20)], epsRL2s=[0.05], dataregsL2=[np.full(20, 0.1)]) if withl2 else {}
    tl_l2 = dict(RegsL2=[Identity(20, dtype=torch.float64)], epsRL2s=[0.05],
                 dataregsL2=[torch.full((20,), 0.1, dtype=torch.float64)]) if withl2 else {}
    xs_pl, xs_tl = [], []
    xp, itp, costp = plsp.splitbregman(Apl, y, [pl.MatrixMult(D)], x0=x0, engine="pylops",
                                       callback=lambda x: xs_pl.append(x.copy()), **kw, **pl_l2)
    x, it, cost = splitbregman(Atl, t(y), [MatrixMult(t(D))], x0=None if x0 is None else t(x0), engine="pylops",
                               callback=lambda x: xs_tl.append(x.clone()), **kw, **tl_l2)
    assert it == itp == 4
    for i, (a, b) in enumerate(zip(xs_tl, xs_pl, strict=True)):
        assert_rel(a, b, what=f"iterate {i}")
    assert_rel(x, xp, what="x")
    assert_rel(cost, costp, what="cost")


def test_splitbregman_l2_weights_without_l2_terms_are_ignored():
    """epsRL2s given with RegsL2=None: ignored, as PyLops (a zip of unequal lists raised)."""
    Apl, Atl, y, _, _ = problem(12, M=25, N=20)
    D = np.diff(np.eye(20), axis=0)
    kw = dict(niter_outer=3, niter_inner=2, mu=0.8, epsRL1s=[0.3], tol=1e-12, niter=8, epsRL2s=[0.05])
    xp = plsp.splitbregman(Apl, y, [pl.MatrixMult(D)], engine="pylops", **kw)[0]
    x = splitbregman(Atl, t(y), [MatrixMult(t(D))], engine="pylops", **kw)[0]
    assert_rel(x, xp, what="x")


# ---------------------------------------------------------------------------- sparse recovery
@pytest.mark.parametrize("name", ["ista", "fista", "omp", "irls-model", "splitbregman"])
def test_recover_three_spikes(name):
    A, y, xtrue = spiky()
    if name == "ista":
        x = ista(A, y, niter=3000, eps=1e-3, tol=0.0).x
    elif name == "fista":
        x = fista(A, y, niter=500, eps=1e-3, tol=0.0).x
    elif name == "omp":
        x = omp(A, y, niter_outer=10, niter_inner=60, sigma=1e-8).x
    elif name == "irls-model":
        x = irls(A, y, nouter=30, kind="model", epsI=1e-6, tolIRLS=0.0, engine="pylops", niter=80, tol=0.0).x
    else:
        eye = Identity(60, dtype=torch.float64)
        x = splitbregman(A, y, [eye], epsRL1s=[0.1], mu=1.0, niter_outer=50, niter_inner=3, niter=30).x
    assert set(torch.topk(x.abs(), 3).indices.tolist()) == {5, 27, 48}
    assert torch.linalg.vector_norm(x - xtrue) <= 0.05 * torch.linalg.vector_norm(xtrue)


# ---------------------------------------------------------------------------- batching
def _batch(seed: int = 13, B: int = 3, M: int = 20, N: int = 30):
    rng = np.random.default_rng(seed)
    A = rand(rng, (M, N)) / np.sqrt(M)
    X = np.zeros((B, N))
    for b in range(B):
        X[b, rng.choice(N, 3, replace=False)] = rng.standard_normal(3)
    return MatrixMult(t(A)), t(X @ A.T + 0.01 * rand(rng, (B, M)))


@pytest.mark.parametrize("name", ["ista", "fista", "fista-perc", "irls", "irls-model", "omp", "mp", "splitbregman"])
def test_batched_equals_per_sample(name):
    A, Y = _batch()
    eye = Identity(30, dtype=torch.float64)
    run = {
        "ista": lambda y: ista(A, y, niter=20, eps=0.1, alpha=0.5, tol=1e-4),
        "fista": lambda y: fista(A, y, niter=60, eps=0.1, alpha=0.15, tol=1e-3),
        "fista-perc": lambda y: fista(A, y, niter=20, alpha=0.5, threshkind="hard-percentile", perc=20, tol=0),
        "irls": lambda y: irls(A, y, nouter=5, epsR=1e-2, engine="pylops", niter=10, tol=0.0, tolIRLS=1e-3),
        "irls-model": lambda y: irls(A, y, nouter=4, kind="model", epsI=1.0, engine="pylops", niter=10, tol=0.0),
        "omp": lambda y: omp(A, y, niter_outer=5, niter_inner=20, sigma=0.05),
        "mp": lambda y: omp(A, y, niter_outer=7, niter_inner=0, sigma=0.1),
        "splitbregman": lambda y: splitbregman(A, y, [eye], epsRL1s=[0.1], niter_outer=4, niter_inner=2, niter=5),
    }[name]
    xb = run(Y).x
    assert xb.shape == Y.shape[:1] + (30,)
    for b in range(Y.shape[0]):
        assert_rel(xb[b], run(Y[b]).x, rtol=1e-9, what=f"sample {b}")


def test_batched_shapes_and_per_sample_eps():
    A, Y = _batch(B=4)
    Y2 = Y.reshape(2, 2, 20)
    eps = torch.tensor([0.05, 0.1, 0.2, 0.4], dtype=torch.float64)
    x, it, cost = fista(A, Y2, niter=8, eps=eps.reshape(2, 2), alpha=0.5, tol=0)
    assert x.shape == (2, 2, 30) and cost.shape == (8, 2, 2) and it == 8
    for b in range(4):
        xs = fista(A, Y[b], niter=8, eps=float(eps[b]), alpha=0.5, tol=0).x
        assert_rel(x.reshape(4, 30)[b], xs, rtol=1e-12, what=f"sample {b}")


def test_float32_and_show_logs(caplog):
    A, Y = _batch(B=2)
    A32 = MatrixMult(A.A.float())
    with caplog.at_level("INFO", logger="torchlops.optimization"):
        x, it, cost = fista(A32, Y.float(), niter=5, alpha=0.5, tol=0, show=True)
    assert x.dtype == torch.float32 and cost.dtype == torch.float32
    assert_rel(x, fista(A, Y, niter=5, alpha=0.5, tol=0).x, rtol=1e-5, what="float32")
    text = caplog.text
    assert "FISTA" in text and "r2norm" in text and "Iterations = 5" in text


# ---------------------------------------------------------------------------- callbacks
def test_metrics_callback_error_decreases():
    A, y, xtrue = spiky()
    cb = MetricsCallback(xtrue)
    FISTA(A, callbacks=[cb]).solve(y, niter=200, eps=1e-3, tol=0)
    mse = torch.stack(cb.metrics["mse"])
    assert len(mse) == 200
    assert mse[-1] < 1e-2 * mse[0]
    checkpoints = mse[[0, 25, 50, 100, 199]]
    assert bool((checkpoints[1:] < checkpoints[:-1]).all())


class _StopAt(Callbacks):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.calls = 0

    def on_step_end(self, solver, x) -> None:
        self.calls += 1
        if self.calls >= self.n:
            self.stop = True


@pytest.mark.parametrize("cls", [ISTA, FISTA, IRLS, OMP, SplitBregman])
def test_stop_flag_ends_run(cls):
    A, y, _ = spiky()
    cb = _StopAt(3)
    s = cls(A, callbacks=[cb])
    if cls is SplitBregman:
        s.solve(y, [Identity(60, dtype=torch.float64)], epsRL1s=[0.1], niter_outer=10, tol=0)
    elif cls is OMP:
        s.solve(y, niter_outer=10, sigma=0.0)
    elif cls is IRLS:
        s.solve(y, nouter=10, tolIRLS=0.0)
    else:
        s.solve(y, niter=10, alpha=0.5, tol=0)
    assert s.iiter == 3 and cb.calls == 3


def test_costnaninf_callback_stops():
    A, y, _ = spiky()
    s = ISTA(A, callbacks=[CostNanInfCallback()])
    x, it, cost = s.solve(y * float("nan"), niter=10, alpha=0.5, tol=0)
    assert it == 1 and cost.shape == (1,)


# ---------------------------------------------------------------------------- compile / autograd
def _fista_unrolled(A: MatrixMult, y: torch.Tensor) -> torch.Tensor:
    return fista(A, y, niter=6, eps=0.05, alpha=0.5, tol=0.0).x


def _ista_percentile(A: MatrixMult, y: torch.Tensor) -> torch.Tensor:
    return ista(A, y, niter=6, alpha=0.5, tol=0.0, threshkind="half-percentile", perc=30).x


@pytest.mark.parametrize("fn", [_fista_unrolled, _ista_percentile], ids=["fista", "ista-half-percentile"])
def test_compiles_fullgraph(fn):
    """The whole solve is captured in one graph (no host sync, no graph break); the eager
    backend keeps the test fast (inductor: the next test)."""
    A, Y = _batch(B=2)
    eager = fn(A, Y)
    compiled = torch.compile(fn, fullgraph=True, backend="eager")(A, Y)
    assert_rel(compiled, eager, rtol=1e-12, what="compiled")


@pytest.mark.slow
@pytest.mark.parametrize("solver", [ista, fista])
def test_inductor_keeps_the_step_length(solver):
    """Inductor (the default backend) gives the eager numbers: the gradient step x + alpha g,
    with g from a matrix product, is not fused into an addmm that drops alpha."""
    A, Y = _batch(B=2)

    def fn(A, Y):
        return solver(A, Y, niter=2, eps=0.05, alpha=0.01, tol=0.0).x

    eager = fn(A, Y)
    torch._dynamo.reset()
    assert_rel(torch.compile(fn, fullgraph=True)(A, Y), eager, rtol=1e-12, what="inductor")


def test_unrolled_gradient_reaches_y():
    A, Y = _batch(B=2)
    Y = Y.clone().requires_grad_(True)
    eps = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    x = fista(A, Y, niter=6, eps=eps, alpha=0.5, tol=0.0).x
    (x**2).sum().backward()
    assert Y.grad is not None and torch.isfinite(Y.grad).all() and Y.grad.abs().sum() > 0
    assert eps.grad is not None and eps.grad != 0
    gy = Y.grad.clone()

    def f(yy):
        return (fista(A, yy, niter=6, eps=0.05, alpha=0.5, tol=0.0).x ** 2).sum()

    d = torch.randn_like(Y)
    h = 1e-6
    fd = (f(Y.detach() + h * d) - f(Y.detach() - h * d)) / (2 * h)
    assert abs(float(fd) - float((gy * d).sum())) <= 1e-5 * max(1.0, abs(float(fd)))


# ---------------------------------------------------------------------------- errors
def test_errors():
    A, y, _ = spiky()
    with pytest.raises(ValueError, match="threshkind must be one of"):
        ista(A, y, threshkind="medium")
    with pytest.raises(ValueError, match="needs a percentile perc"):
        fista(A, y, threshkind="soft-percentile")
    with pytest.raises(ValueError, match=r"perc must lie in \[0, 100\]"):
        fista(A, y, threshkind="hard-percentile", perc=120)
    for solver in (ista, fista):  # (perc with an eps threshold: no thresholding at all ran)
        for kind in ("soft", "hard", "half"):
            with pytest.raises(ValueError, match=f"threshkind='{kind}' thresholds with eps: leave perc None"):
                solver(A, y, threshkind=kind, perc=50, eps=0.1, alpha=0.5, niter=3)
    with pytest.raises(ValueError, match="decay must hold at least niter=10"):
        ista(A, y, niter=10, alpha=0.5, decay=np.ones(3))
    with pytest.raises(ValueError, match="SOp must have 60 rows"):
        ista(A, y, SOp=Identity(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="x0 must have shape"):
        ista(A, y, x0=torch.zeros(7, dtype=torch.float64), alpha=0.5)
    with pytest.raises(ValueError, match="expected data of shape"):
        fista(A, torch.zeros(7, dtype=torch.float64), alpha=0.5)
    with pytest.raises(TypeError, match="Op must be a torchlops LinearOperator"):
        ISTA(np.eye(3))
    with pytest.raises(ValueError, match="kind must be 'model', 'data' or 'datamodel'"):
        irls(A, y, kind="both")
    with pytest.raises(ValueError, match="niter_outer must be >= 0"):
        omp(A, y, niter_outer=-1)
    with pytest.raises(ValueError, match="epsRL1s must hold one value per regularisation"):
        splitbregman(A, y, [Identity(60, dtype=torch.float64)])
    with pytest.raises(TypeError, match="RegsL1 must be a list"):
        splitbregman(A, y, Identity(60, dtype=torch.float64), epsRL1s=[0.1])
    with pytest.raises(ValueError, match=r"RegsL1\[0\] must have 60 columns"):
        splitbregman(A, y, [Identity(5, dtype=torch.float64)], epsRL1s=[0.1])
    with pytest.raises(ValueError, match="eps must be a scalar or hold one value per sample"):
        fista(A, y, alpha=0.5, eps=torch.ones(3))


# ---------------------------------------------------------------- PyLops signatures, engine, progress
@pytest.mark.parametrize("name", ["ista", "fista", "irls", "omp", "splitbregman"])
def test_function_signatures_match_pylops(name):
    import torchlops.optimization.sparsity as ts
    from tests.test_solvers_ls import assert_pylops_signature

    assert_pylops_signature(getattr(ts, name), getattr(plsp, name))


@pytest.mark.parametrize("cls", [ISTA, FISTA, IRLS, OMP, SplitBregman])
def test_class_solve_signatures_match_pylops(cls):
    import pylops.optimization.cls_sparsity as pcls

    from tests.test_solvers_ls import assert_pylops_signature

    assert_pylops_signature(cls.solve, getattr(pcls, cls.__name__).solve)


def test_positional_call_like_pylops():
    rng = np.random.default_rng(4)
    A, y = rng.standard_normal((20, 30)), rng.standard_normal(20)
    seen = {"p": 0, "t": 0}
    args = (None, 7, None, 0.1, 0.05, None, 0.0, 0.0, 0.0, "soft", None, None, False, False, (10, 10, 10))
    xp = plsp.fista(pl.MatrixMult(A), y, *args, lambda x: seen.__setitem__("p", seen["p"] + 1))[0]
    xt = fista(MatrixMult(t(A)), t(y), *args, lambda x: seen.__setitem__("t", seen["t"] + 1)).x
    assert seen == {"p": 7, "t": 7}
    assert_rel(xt, xp, what="fista positional")


def test_engine_is_validated():
    A, Y = _batch()
    eye = Identity(30, dtype=torch.float64)
    # (scipy's lsqr takes no tol: neither does the default engine, as in PyLops)
    with pytest.raises(TypeError, match="not tol: tol is cgls' argument"):
        irls(A, Y, nouter=2, niter=5, tol=0.0)
    with pytest.raises(ValueError, match="engine must be one of"):
        irls(A, Y, engine="numba")
    with pytest.raises(ValueError, match="engine must be one of"):
        omp(A, Y, engine="cupy")
    with pytest.raises(ValueError, match="engine must be one of"):
        splitbregman(A, Y, [eye], epsRL1s=[0.1], engine="torch-ish")


def _sparse_runs():
    A, Y = _batch()
    eye = Identity(30, dtype=torch.float64)
    return {
        "ista": (lambda **k: ista(A, Y, niter=8, eps=0.1, alpha=0.5, tol=0, **k).x, 8),
        "fista": (lambda **k: fista(A, Y, niter=8, eps=0.1, alpha=0.5, tol=0, **k).x, 8),
        "irls": (lambda **k: irls(A, Y, nouter=4, tolIRLS=0.0, engine="pylops", niter=5, tol=0.0, **k).x, 4),
        "omp": (lambda **k: omp(A, Y, niter_outer=3, niter_inner=10, sigma=0.0, **k).x, 3),
        "splitbregman": (lambda **k: splitbregman(A, Y, [eye], epsRL1s=[0.1], niter_outer=3, niter_inner=2, tol=0.0,
                                                  engine="pylops", niter=4, **k).x, 3),
    }


@pytest.mark.parametrize("name", ["ista", "fista", "irls", "omp", "splitbregman"])
def test_progress_with_and_without_tqdm(name, monkeypatch, caplog):
    import logging
    import sys

    from tests.test_solvers_ls import FakeTqdm, fake_tqdm_module

    fn, n = _sparse_runs()[name]
    ref = fn()
    monkeypatch.setitem(sys.modules, "tqdm", fake_tqdm_module())
    torch.testing.assert_close(fn(progress=True), ref, rtol=0, atol=0)
    assert [(b.total, b.n, b.closed) for b in FakeTqdm.made] == [(n, n, True)]
    monkeypatch.setitem(sys.modules, "tqdm", None)  # tqdm not importable
    with caplog.at_level(logging.INFO, logger="torchlops.optimization"):
        torch.testing.assert_close(fn(progress=True), ref, rtol=0, atol=0)
    lines = [r.getMessage() for r in caplog.records if "steps)" in r.getMessage()]
    assert lines and "100%" in lines[-1] and f"({n}/{n} steps)" in lines[-1], lines
    tenths = [int(m.split("%")[0].split()[-1]) for m in lines]
    assert tenths == sorted(set(tenths)) and tenths[-1] == 100


def test_fista_reused_forward_pass_matches_fresh_passes():
    """FISTA reuses Op x for the next residual; a step given a copy recomputes both passes."""
    A, Y = _batch()
    ref = fista(A, Y, niter=9, eps=0.1, alpha=0.5, tol=0)
    s = FISTA(A)
    x = s.setup(Y, niter=9, eps=0.1, alpha=0.5, tol=0)
    for _ in range(9):
        x = s.step(x.clone())[0]  # never the returned object: no cache
    s.finalize()
    assert_rel(x, ref.x, rtol=1e-12, what="x")
    assert_rel(s.cost, ref.cost, rtol=1e-12, what="cost")
    calls = {"n": 0}
    fw = A._flat

    def counting(v, adjoint):
        calls["n"] += not adjoint
        return fw(v, adjoint)

    A._flat = counting
    fista(A, Y, niter=9, eps=0.1, alpha=0.5, tol=0)
    assert calls["n"] == 10  # one forward pass per step, plus the first residual


# ---------------------------------------------------------------------------- callbacks as PyLops'
def test_metrics_callback_pylops_definitions_and_op():
    """mae / mse / snr / psnr equal PyLops' (psnr's peak is the signed max of xtrue), and
    ``Op`` is applied to the estimate first."""
    from pylops.optimization.callback import MetricsCallback as PMC
    from pylops.optimization.cls_sparsity import IRLS as PIRLS

    rng = np.random.default_rng(0)
    A = rng.standard_normal((8, 6))
    x = np.array([-3.0, 0, 1, 0, 0.5, 0])
    y = A @ x
    from torchlops.basicoperators.diagonal import Diagonal

    for Pop, Top in ((None, None), (pl.Diagonal(np.arange(1.0, 7)), Diagonal(t(np.arange(1.0, 7))))):
        pc, tc = PMC(x, Op=Pop), MetricsCallback(t(x), Op=Top)
        PIRLS(pl.MatrixMult(A), callbacks=[pc]).solve(y, nouter=2, engine="pylops", niter=3, tol=0)
        IRLS(MatrixMult(t(A)), callbacks=[tc]).solve(t(y), nouter=2, engine="pylops", niter=3, tol=0)
        for k in ("mae", "mse", "snr", "psnr"):
            assert_rel(torch.stack(tc.metrics[k]), pc.metrics[k], rtol=1e-10, what=k)


def test_metrics_callback_shapes():
    """Flat or N-d data, one shared xtrue or one per sample: per-sample metrics."""
    from torchlops.basicoperators.smoothing2d import Smoothing2D

    dims = (4, 5)
    Op = Smoothing2D((3, 3), dims, dtype=torch.float64)
    xt = torch.randn(3, *dims, dtype=torch.float64)
    Y = torch.stack([Op @ v for v in xt])
    ref = []
    for b in range(3):
        cb = MetricsCallback(xt[b])
        IRLS(Op, callbacks=[cb]).solve(Y[b], nouter=2, engine="pylops", niter=5, tol=0)
        ref.append(cb.metrics["mse"][-1])
    cases = [(Y, xt), (Y.reshape(3, -1), xt.reshape(3, -1)), (Y.reshape(3, -1), xt)]
    for y, xtrue in cases:
        cb = MetricsCallback(xtrue)
        IRLS(Op, callbacks=[cb]).solve(y, nouter=2, engine="pylops", niter=5, tol=0)
        torch.testing.assert_close(cb.metrics["mse"][-1], torch.stack(ref))
    cb = MetricsCallback(xt[0])  # one model shared by a batch, flat data of an N-d operator
    IRLS(Op, callbacks=[cb]).solve(Y[0].reshape(-1).expand(2, -1), nouter=2, engine="pylops", niter=5, tol=0)
    torch.testing.assert_close(cb.metrics["mse"][-1], ref[0].expand(2))
    with pytest.raises(ValueError, match="xtrue has 7 values"):
        IRLS(Op, callbacks=[MetricsCallback(torch.zeros(7))]).solve(Y[0], nouter=1, engine="pylops", niter=2,
                                                                   tol=0)


def test_pylops_style_callbacks():
    """A Callbacks subclass that does not call ``__init__`` (PyLops' own example) runs;
    omp's per-step ``callback(x, cols)`` gets the selected columns, as in PyLops."""

    class Store(Callbacks):
        def __init__(self):
            self.iters = []

        def on_step_end(self, solver, x):
            self.iters.append(solver.iiter)

    A, y, _ = spiky()
    for cls, kw in ((OMP, dict(niter_outer=3, sigma=0.0)), (IRLS, dict(nouter=2, iter_lim=3))):
        cb = Store()
        cls(A, callbacks=[cb]).solve(y, **kw)
        assert cb.iters == list(range(1, len(cb.iters) + 1)) and len(cb.iters) >= 2
    seen_t, seen_p = [], []
    omp(A, y, niter_outer=3, sigma=0.0, callback=lambda x, cols: seen_t.append(cols.tolist()))
    plsp.omp(pl.MatrixMult(A.A.numpy()), y.numpy(), niter_outer=3, sigma=0.0,
             callback=lambda x, cols: seen_p.append(list(cols)))
    assert seen_t == seen_p and len(seen_t) == 3


def test_irls_model_with_damp_and_cost_to_initial_first_step():
    """IRLS kind="model" hands ``damp`` to its inner solver (PyLops); rtol > 1 stops
    SplitBregman after its first step as in PyLops (the test is made from the first cost on)."""
    rng = np.random.default_rng(2)
    A = rng.standard_normal((3, 8))
    y = A @ np.r_[0.0, 1.5, 0, 0, 2.5, 0, 0, 0]
    xp = plsp.irls(pl.MatrixMult(A), y, nouter=4, kind="model", engine="pylops", damp=0.1, niter=10)[0]
    xt = irls(MatrixMult(t(A)), t(y), nouter=4, kind="model", engine="pylops", damp=0.1, niter=10)[0]
    assert_rel(xt, xp, rtol=1e-9, what="irls model damp")
    B = np.eye(8) * 2 + 0.1
    yb = B @ np.arange(8.0)
    p = plsp.splitbregman(pl.MatrixMult(B), yb, [pl.Identity(8)], epsRL1s=[0.1], niter_outer=6, rtol=1.5,
                          engine="pylops", niter=5)
    q = splitbregman(MatrixMult(t(B)), t(yb), [Identity(8, dtype=torch.float64)], epsRL1s=[0.1], niter_outer=6,
                     rtol=1.5, niter=5)
    assert p[1] == q[1] == 1


@pytest.mark.parametrize("kind", ["data", "model", "datamodel"])
def test_irls_no_outer_step_returns_x0(kind):
    """nouter=0 returns the initial guess (PyLops 2.8 adds it twice: 2 x0)."""
    A, y, _ = spiky()
    x0 = torch.full((60,), 0.1, dtype=torch.float64)
    x, n = irls(A, y, x0=x0, nouter=0, kind=kind)[:2]
    assert n == 0 and torch.equal(x, x0)
    xp = plsp.irls(pl.MatrixMult(A.A.numpy()), y.numpy(), x0=x0.numpy().copy(), nouter=0, kind=kind,
                   engine="pylops")[0]
    np.testing.assert_allclose(xp, 2 * x0.numpy())  # (the PyLops difference this documents)


def test_batched_rtol_and_nan_callbacks_act_per_sample():
    """On a batch, rtol / rtol1 freeze each sample when it meets its test (its model, cost
    and step count are those of its own solve) and a NaN cost freezes that sample only."""
    rng = np.random.default_rng(13)
    A = rng.standard_normal((15, 20))
    A /= np.linalg.norm(A, axis=0)
    X = np.zeros((2, 20))
    X[0, [1, 2]] = [3, 0.1]
    X[1, [3, 7, 9, 12]] = [1, 1, -1, 1]
    Y = t(X @ A.T)
    Op = MatrixMult(t(A))
    for kw in (dict(rtol=0.2), dict(rtol1=0.2)):
        s = OMP(Op, callbacks=[CostToInitialCallback(0.2)] if "rtol" in kw else [CostToDataCallback(0.2)])
        xb = s.solve(Y, niter_outer=10, niter_inner=0, sigma=0.0)[0]
        for b in range(2):
            r = omp(Op, Y[b], niter_outer=10, niter_inner=0, sigma=0.0, **kw)
            assert_rel(xb[b], r.x, rtol=1e-12, what=f"omp {kw} sample {b}")
            assert int(s.iiters[b]) == r.niter_outer
        assert len({int(v) for v in s.iiters}) == 2  # (they stop at different steps)
    # CGLS with rtol: per-sample step counts and models equal the single solves
    B = MatrixMult(t(rng.standard_normal((30, 10))))
    Yc = t(rng.standard_normal((3, 30)))
    from torchlops.optimization.basic import cgls

    rb = cgls(B, Yc, niter=50, tol=0, rtol=0.9)
    for b in range(3):
        r1 = cgls(B, Yc[b], niter=50, tol=0, rtol=0.9)
        assert_rel(rb.x[b], r1.x, rtol=1e-12, what=f"cgls sample {b}")
    # a NaN cost freezes its sample only
    Yn = Y.clone()
    Yn[1, 0] = float("nan")
    s = ISTA(Op, callbacks=[CostNanInfCallback()])
    x = s.solve(Yn, niter=20, eps=0.1, alpha=0.1, tol=0)[0]
    assert int(s.iiters[1]) == 1 and int(s.iiters[0]) == 20
    assert_rel(x[0], ista(Op, Y[0], niter=20, eps=0.1, alpha=0.1, tol=0)[0], rtol=1e-12, what="ista sample 0")


def test_per_sample_stop_flags_size_and_run_length():
    """A per-sample flag tensor of another size than the batch is a ValueError; a batch with
    per-sample callbacks runs as long as the same batch without them when no callback stops
    every sample (samples that stop by their own test do not end a fixed-niter run)."""
    A, y, _ = spiky()
    Y = torch.stack([y, 2 * y, -y])

    class Bad(Callbacks):
        def on_step_end(self, solver, x):
            self.stop = torch.tensor([True, False])

    with pytest.raises(ValueError, match=r"one flag per sample \(3\), got 2"):
        FISTA(A, callbacks=[Bad()]).solve(Y, niter=4, eps=0.1, alpha=0.1, tol=0)
    B = MatrixMult(t(np.random.default_rng(0).standard_normal((8, 8))))
    Yb = t(np.random.default_rng(1).standard_normal((3, 8)))
    n_plain = SplitBregman(B).solve(Yb, [Identity(8, dtype=torch.float64)], niter_outer=10, niter_inner=2,
                                    epsRL1s=[0.05], tol=0)[1]
    n_cb = SplitBregman(B, callbacks=[CostToInitialCallback(1e-12)]).solve(
        Yb, [Identity(8, dtype=torch.float64)], niter_outer=10, niter_inner=2, epsRL1s=[0.05], tol=0)[1]
    assert n_plain == n_cb == 10


def test_sparse_solvers_start_dtype_as_the_least_squares_ones():
    """An integer x0 raises as in cgls; a complex or higher-precision x0 sets the working dtype
    (it was cast to the data's: a complex start lost its imaginary part)."""
    Op = Identity(3, dtype=torch.float32)
    y = torch.ones(3)
    xi = torch.zeros(3, dtype=torch.int64)
    xc = torch.full((3,), 1j, dtype=torch.complex128)
    x64 = torch.full((3,), 0.5, dtype=torch.float64)
    runs = {
        "ista": lambda x0, n: ista(Op, y, x0=x0, niter=n, eps=0.1).x,
        "fista": lambda x0, n: fista(Op, y, x0=x0, niter=n, eps=0.1).x,
        "irls": lambda x0, n: irls(Op, y, x0=x0, nouter=n).x,
        "splitbregman": lambda x0, n: splitbregman(Op, y, [Op], epsRL1s=[1.0], x0=x0, niter_outer=max(n, 1)).x,
    }
    for name, run in runs.items():
        with pytest.raises(TypeError, match="x0 must be a floating or complex tensor"):
            run(xi, 1)
        assert run(x64, 1).dtype == torch.float64, name
        assert run(xc, 1).dtype == torch.complex128, name
    torch.testing.assert_close(runs["ista"](xc, 0), xc)
    S = ISTA(Op)
    S.setup(y, niter=2, eps=0.1)
    with pytest.raises(TypeError, match="problem is real"):
        S.step(xc)


def test_vmap_of_fista_without_a_step_says_what_to_do():
    """Under vmap the default step's estimate (a random start vector) raises torchlops' message,
    which names the step size (it was torch's randomness error); with alpha and tol=0 vmap
    gives the batched solve."""
    g = torch.Generator().manual_seed(8)
    Op = MatrixMult(torch.randn(8, 5, generator=g, dtype=torch.float64))
    Y = torch.randn(3, 8, generator=g, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="a default step size"):
        torch.func.vmap(lambda y: fista(Op, y, niter=10, eps=0.1, tol=0).x)(Y)
    torch.testing.assert_close(torch.func.vmap(lambda y: fista(Op, y, niter=10, eps=0.1, alpha=0.02, tol=0).x)(Y),
                               fista(Op, Y, niter=10, eps=0.1, alpha=0.02, tol=0).x)


@pytest.mark.parametrize("engine", ["scipy", "pylops"])
def test_omp_refits_with_the_engine_pylops_names(engine):
    """omp's default engine refits with scipy's lsqr (iter_lim=niter_inner, its own stopping
    rule), as PyLops; cgls (tol=1e-4) with engine="pylops" (the scipy engine used cgls too:
    3e-3 off PyLops on noisy data, where cgls' tolerance stops it earlier)."""
    import pylops
    from pylops.optimization.sparsity import omp as pomp

    for seed in range(3):
        g = np.random.default_rng(seed)
        h = g.standard_normal(5)
        x = np.zeros(24)
        x[g.choice(24, 3, replace=False)] = g.standard_normal(3)
        P = pylops.signalprocessing.Convolve1D(24, h, offset=2, dtype="float64")
        y = P @ x + 0.01 * g.standard_normal(24)
        ref = pomp(P, y, niter_outer=5, niter_inner=10, sigma=1e-4, engine=engine)[0]
        from torchlops.signalprocessing import Convolve1D

        C = Convolve1D(24, torch.from_numpy(h), offset=2)
        got = omp(C, torch.from_numpy(y), niter_outer=5, niter_inner=10, sigma=1e-4, engine=engine).x
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-9, atol=1e-12)


def test_omp_refits_an_explicit_matrix_on_its_selected_columns(monkeypatch):
    """An explicit MatrixMult re-fits on the gathered columns (each inner step O(M k), not an
    application of the whole operator: 2000 x 1000, 90 -> 28 ms), equal to the general path."""
    g = torch.Generator().manual_seed(30)
    A = MatrixMult(torch.randn(3, 60, 40, generator=g, dtype=torch.float64)[0])
    y = torch.randn(3, 60, generator=g, dtype=torch.float64)
    calls = []
    orig = MatrixMult._matvec
    monkeypatch.setattr(MatrixMult, "_matvec", lambda self, x: calls.append(1) or orig(self, x))
    for engine in ("scipy", "pylops"):
        calls.clear()
        fast = omp(A, y, niter_outer=6, niter_inner=15, sigma=1e-8, engine=engine)
        assert not calls  # (the forward of the whole operator is never applied)
        with monkeypatch.context() as m:
            m.setattr(MatrixMult, "_explicit_matrix", lambda self: None)
            slow = omp(A, y, niter_outer=6, niter_inner=15, sigma=1e-8, engine=engine)
        torch.testing.assert_close(fast.x, slow.x, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(fast.cost, slow.cost, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- class API as PyLops calls it
@pytest.mark.parametrize("name", ["CG", "CGLS", "LSQR", "ISTA", "FISTA", "IRLS", "OMP", "SplitBregman"])
@pytest.mark.parametrize("method", ["setup", "step", "run", "finalize"])
def test_class_method_signatures_match_pylops(name, method):
    """PyLops' positional parameters of setup / step / run / finalize are ours, in order (so a
    positional call ported from PyLops means the same); our extras are keyword-only."""
    import inspect

    import pylops.optimization.cls_basic as pcb
    import pylops.optimization.cls_sparsity as pcs

    import torchlops.optimization as tlo

    theirs = getattr(getattr(pcb, name, None) or getattr(pcs, name), method)
    P = inspect.signature(theirs).parameters
    T = inspect.signature(getattr(getattr(tlo, name), method)).parameters
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY)
    assert [n for n, p in T.items() if p.kind in plain] == [n for n, p in P.items() if p.kind in plain]
    var = inspect.Parameter.VAR_KEYWORD
    assert [n for n, p in T.items() if p.kind == var] == [n for n, p in P.items() if p.kind == var]
    assert all(p.kind == inspect.Parameter.KEYWORD_ONLY for n, p in T.items() if n not in P and p.kind != var)


@pytest.mark.parametrize("cplx", [False, True], ids=["real", "complex"])
def test_ista_fista_manual_steps_as_pylops(cplx):
    """PyLops' manual loops: ``x, xupdate = ista.step(x)`` and ``x, z, xupdate = fista.step(x, z)``
    (a momentum restart ``z = x`` half-way) give PyLops' models, momenta and update norms."""
    Apl, Atl, y, _, x0 = problem(2, cplx=cplx, x0=True)
    kw = dict(niter=8, eps=0.1, alpha=0.3, tol=0)
    P, T = plsp.ISTA(Apl), ISTA(Atl)
    xp, xt = P.setup(y.copy(), x0=x0.copy(), **kw), T.setup(t(y), x0=t(x0), **kw)
    for _ in range(8):
        xp, up = P.step(xp)
        xt, ut = T.step(xt)
        assert ut.shape == () and float(ut) == pytest.approx(up, rel=1e-10)
        assert_rel(xt, xp, rtol=1e-10, what="ista x")
    P, T = plsp.FISTA(Apl), FISTA(Atl)
    xp, xt = P.setup(y.copy(), x0=x0.copy(), **kw), T.setup(t(y), x0=t(x0), **kw)
    zp, zt = xp.copy(), xt.clone()
    for i in range(8):
        if i == 4:  # (restart the momentum)
            zp, zt = xp.copy(), xt.clone()
        xp, zp, up = P.step(xp, zp)
        xt, zt, ut = T.step(xt, zt)
        assert float(ut) == pytest.approx(up, rel=1e-10)
        assert_rel(xt, xp, rtol=1e-10, what=f"fista x, step {i}")
        assert_rel(zt, zp, rtol=1e-10, what=f"fista z, step {i}")
    P.finalize()
    T.finalize()
    assert_rel(T.cost, P.cost, rtol=1e-10, what="fista cost")


def test_fista_step_z_and_batched_updates():
    """step(x) == step(x, z) with the z it returned; the momentum changed in place is the one
    used; xupdate holds one norm per sample; a bool as z (show in the old position) is refused."""
    A, Y = _batch()
    a, b = FISTA(A), FISTA(A)
    xa, xb = a.setup(Y, niter=6, eps=0.1, alpha=0.15, tol=0), b.setup(Y, niter=6, eps=0.1, alpha=0.15, tol=0)
    zb = None
    for _ in range(3):
        xa, za, ua = a.step(xa)
        xb, zb, ub = b.step(xb, zb)
        assert torch.equal(xa, xb) and torch.equal(za, zb) and torch.equal(ua, ub)
    assert ua.shape == (3,)
    for k in range(3):
        s = FISTA(A)
        x = s.setup(Y[k], niter=6, eps=0.1, alpha=0.15, tol=0)
        for _ in range(3):
            x, _, u = s.step(x)
        assert float(u) == pytest.approx(float(ua[k]), rel=1e-12)
    c = FISTA(A)
    xc = c.setup(Y, niter=6, eps=0.1, alpha=0.15, tol=0)
    for _ in range(3):
        xc, zc, _ = c.step(xc)
    zref = zc.clone()
    za.mul_(0.5)  # in place: the next step reads it, given back or not (None)
    zc.mul_(0.5)
    xa, za, _ = a.step(xa, za)
    xc, zc, _ = c.step(xc)
    xb, zb, _ = b.step(xb, zref * 0.5)
    assert torch.equal(xa, xb) and torch.equal(xc, xb) and torch.equal(zc, zb)
    with pytest.raises(TypeError, match="z must be the momentum model"):
        a.step(xa, True)
    # a call refused for its x changes nothing (not the momentum either)
    with pytest.raises(ValueError):
        a.step(xa[:, :5], torch.zeros_like(za))
    xa, za, _ = a.step(xa)
    xb, zb, _ = b.step(xb, zb)
    assert torch.equal(xa, xb) and torch.equal(za, zb)
    assert a.iiter == 5


def test_omp_manual_steps_as_pylops():
    """PyLops' manual OMP / MP loop ``x, cols = omp.step(x, cols)`` from ``x = cols = []`` and
    ``omp.finalize(x, cols)``: the same columns and final model; ``kwargs_solver`` reach the
    re-fit (``damp``)."""
    A, y, _ = spiky()
    Apl = pl.MatrixMult(A.A.numpy())
    for niter_inner, kw in ((0, {}), (30, {}), (30, dict(damp=0.3))):
        P, T = plsp.OMP(Apl), OMP(A)
        P.setup(y.numpy(), niter_outer=4, niter_inner=niter_inner, sigma=0.0)
        T.setup(y, niter_outer=4, niter_inner=niter_inner, sigma=0.0)
        xp, cp, xt, ct = [], [], [], []
        for _ in range(4):
            xp, cp = P.step(xp, cp, "scipy", False, **kw)
            xt, ct = T.step(xt, ct, "scipy", False, **kw)
            assert ct.tolist() == list(cp)
        assert_rel(T.finalize(xt, ct), P.finalize(xp, cp), rtol=1e-10, what=f"omp inner={niter_inner} {kw}")
        assert_rel(T.cost, P.cost, rtol=1e-10, what="omp cost")
    # a start for scipy's lsqr (x0 in kwargs_solver, one value per selected column) as PyLops
    P, T = plsp.OMP(Apl), OMP(A)
    P.setup(y.numpy(), niter_outer=3, niter_inner=2, sigma=0.0)
    T.setup(y, niter_outer=3, niter_inner=2, sigma=0.0)
    xp, cp, xt, ct = [], [], [], []
    for k in range(3):
        xp, cp = P.step(xp, cp, "scipy", False, x0=np.full(k + 1, 0.3))
        xt, ct = T.step(xt, ct, "scipy", False, x0=torch.full((k + 1,), 0.3, dtype=torch.float64))
    assert_rel(T.finalize(xt, ct), P.finalize(xp, cp), rtol=1e-10, what="omp x0")
    # PyLops' own coefficient list, given back as a list, means the same model
    T = OMP(A)
    T.setup(y, niter_outer=4, niter_inner=0, sigma=0.0)
    x, cols = T.step([], [])
    x2, cols2 = T.step([float(v) for v in x[cols]], cols.tolist())
    R = OMP(A)
    R.setup(y, niter_outer=4, niter_inner=0, sigma=0.0)
    x3, cols3 = R.step(*R.step([], None))
    assert torch.equal(x2, x3) and torch.equal(cols2, cols3)


def test_omp_run_returns_cols_and_batched_cols():
    """run returns (x, cols) as PyLops; a batch's cols are (B, k) with -1 where a step picked no
    new column; wrong cols or x are refused before anything changes."""
    A, y, _ = spiky()
    Y = torch.stack([y, 2 * y.roll(3), torch.zeros_like(y)])
    S = OMP(A)
    x = S.setup(Y, niter_outer=5, niter_inner=0, sigma=1e-3)
    x, cols = S.run(x)
    assert cols.shape == (3, S.cols.shape[1]) and (cols[2] == -1).all()
    for k in range(2):
        one = OMP(A)
        one.setup(Y[k], niter_outer=5, niter_inner=0, sigma=1e-3)
        xk, ck = one.run([], [])
        assert ck.tolist() == [c for c in cols[k].tolist() if c >= 0]
        torch.testing.assert_close(x[k], xk, rtol=0, atol=0)
    assert torch.equal(S.finalize(x, cols), x)
    one = OMP(A)
    one.setup(y, niter_outer=5, niter_inner=0, sigma=0.0)
    x, cols = one.step([], [])
    before = (one.iiter, one.res.clone(), one.cols.clone())
    with pytest.raises(ValueError, match="cols must be the ones the last step returned"):
        one.step(x, [int(cols[0]) + 1])
    with pytest.raises(ValueError, match="coefficients of the selected columns"):
        one.step([1.0, 2.0], cols)
    with pytest.raises(TypeError, match="iter_lim is niter_inner"):
        one.step(x, cols, "scipy", False, iter_lim=3)
    with pytest.raises(TypeError, match="x is the model step returned"):
        one.finalize(True)
    cols[0] += 1  # (the returned cols edited in place are not the selection any more)
    with pytest.raises(ValueError, match="cols must be the ones the last step returned"):
        one.step(x, cols)
    assert one.iiter == before[0] and torch.equal(one.res, before[1]) and torch.equal(one.cols, before[2])


def test_splitbregman_and_irls_step_check_the_model_shape():
    """SplitBregman.step and IRLS.step refuse a model of the wrong shape with a clear error (a
    transposed model of the right size was taken silently), as ISTA.step does."""
    import torchlops as tl
    from torchlops.optimization.cls_irls import IRLS
    from torchlops.optimization.cls_splitbregman import SplitBregman

    g = torch.Generator().manual_seed(2)
    A = tl.MatrixMult(torch.randn(40, 30, generator=g, dtype=torch.float64))
    D = tl.FirstDerivative(30, dtype=torch.float64)
    y = torch.randn(2, 40, generator=g, dtype=torch.float64)
    sb = SplitBregman(A)
    sb.setup(y, [D], epsRL1s=[0.3])
    ir = IRLS(A)
    ir.setup(y)
    for s in (sb, ir):
        for bad in (torch.zeros(30, 2, dtype=torch.float64), torch.zeros(29, dtype=torch.float64)):
            with pytest.raises(ValueError, match=r"x must have shape \(\*batch, 30\)"):
                s.step(bad)
