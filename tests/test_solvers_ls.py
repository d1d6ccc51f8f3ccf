"""Least-squares solvers: PyLops parity, batching, compile, implicit and unrolled gradients."""

import tracemalloc

import numpy as np
import pytest
import torch

import torchlops as tl
from torchlops.basicoperators import Diagonal, Identity, MatrixMult
from torchlops.optimization.basic import cg, cgls, lsqr
from torchlops.optimization.cls_basic import LSQR
from torchlops.optimization.leastsquares import (
    normal_equations_inversion,
    preconditioned_inversion,
    regularized_inversion,
)

pylops = pytest.importorskip("pylops")  # (the test oracle; a GPU image may lack it)
from pylops.optimization.basic import cg as pcg  # noqa: E402
from pylops.optimization.basic import cgls as pcgls  # noqa: E402
from pylops.optimization.basic import lsqr as plsqr  # noqa: E402

PARS = [(11, 11, 0), (31, 11, 0), (11, 11, 1), (31, 11, 1)]  # (ny, nx, imag)


def _problem(ny, nx, imag, seed=10):
    rng = np.random.default_rng(seed)
    A = rng.normal(0, 10, (ny, nx))
    x0 = rng.normal(size=nx)
    if imag:
        A, x0 = A + 1j * rng.normal(0, 10, (ny, nx)), x0 + 1j * rng.normal(size=nx)
    return A, A @ (np.ones(nx) + 1j * np.ones(nx) if imag else np.ones(nx)), x0


def _close(t, p, tol=1e-8):
    p = np.asarray(p)
    assert np.linalg.norm(t.detach().numpy() - p) <= tol * max(np.linalg.norm(p), 1.0)


@pytest.mark.parametrize("par", PARS)
@pytest.mark.parametrize("withx0", [False, True])
def test_cgls_lsqr_parity(par, withx0):
    A, y, x0 = _problem(*par)
    x0 = x0 if withx0 else None
    Op, T = pylops.MatrixMult(A, dtype=A.dtype), MatrixMult(torch.from_numpy(A))
    tx0 = None if x0 is None else torch.from_numpy(x0)
    damp = 0.0 if withx0 else 1e-1  # PyLops' damp-with-x0 path is buggy: tested separately
    r = pcgls(Op, y, x0=x0, niter=8, damp=damp, tol=0)
    t = cgls(T, torch.from_numpy(y), x0=tx0, niter=8, damp=damp, tol=0)
    _close(t.x, r[0])
    _close(t.cost, r[5])
    assert int(t.istop) == r[1] and t.iiter == r[2]
    _close(t.r2norm, r[4])
    r = plsqr(Op, y, x0=x0, niter=8, damp=damp, atol=0, btol=0)
    t = lsqr(T, torch.from_numpy(y), x0=tx0, niter=8, damp=damp, atol=0, btol=0)
    _close(t.x, r[0])
    _close(t.cost, r[-1])
    assert int(t.istop) == r[1] and t.iiter == r[2]
    for k in range(3, 9):
        _close(t[k], r[k])
    if not par[2]:  # PyLops squares a complex dk; here |dk|^2
        _close(t.var, r[9])


@pytest.mark.parametrize("imag", [0, 1])
def test_cg_parity(imag):
    A, y, x0 = _problem(11, 11, imag)
    AA = A.conj().T @ A + 100 * np.eye(11)
    r = pcg(pylops.MatrixMult(AA, dtype=AA.dtype), y, x0=x0, niter=8, damp=0.5, tol=0)
    t = cg(MatrixMult(torch.from_numpy(AA)), torch.from_numpy(y), x0=torch.from_numpy(x0), niter=8, damp=0.5, tol=0)
    _close(t.x, r[0])
    _close(t.cost, r[2])


def test_cgls_x0_damp_corrected():
    """PyLops 2.8 uses damp (not damp**2) in the first direction with x0: reference = PyLops
    started at x0 on the equivalent augmented problem [A; d I] x = [y; 0] with damp 0."""
    A, y, x0 = _problem(31, 11, 0)
    d = 3.0
    Aug = np.vstack([A, d * np.eye(11)])
    r = pcgls(pylops.MatrixMult(Aug), np.concatenate([y, np.zeros(11)]), x0=x0, niter=6, tol=0)
    t = cgls(MatrixMult(torch.from_numpy(A)), torch.from_numpy(y), x0=torch.from_numpy(x0), niter=6, damp=d, tol=0)
    _close(t.x, r[0])
    bug = pcgls(pylops.MatrixMult(A), y, x0=x0, niter=6, damp=d, tol=0)[0]
    assert np.linalg.norm(bug - r[0]) > 1e-6  # the bug is visible on this problem


@pytest.mark.parametrize("solver", ["cg", "cgls", "lsqr"])
def test_batched_equals_per_sample(solver):
    A, _, _ = _problem(31, 11, 0)
    A = A.T @ A if solver == "cg" else A
    T = MatrixMult(torch.from_numpy(A))
    Y = torch.randn(2, 3, T.shape[0], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f = {"cg": lambda y: cg(T, y, niter=6, tol=0), "cgls": lambda y: cgls(T, y, niter=6, damp=0.3, tol=0),
         "lsqr": lambda y: lsqr(T, y, niter=6, damp=0.3, atol=0, btol=0)}[solver]
    rb = f(Y)
    assert rb.x.shape == (2, 3, 11) and rb.cost.shape == (7, 2, 3)
    for i in range(2):
        for j in range(3):
            rs = f(Y[i, j])
            torch.testing.assert_close(rb.x[i, j], rs.x, rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(rb.cost[:, i, j], rs.cost, rtol=1e-10, atol=1e-10)


def test_converged_sample_stops_changing():
    T = MatrixMult(torch.eye(4, dtype=torch.float64) * torch.arange(1.0, 5.0, dtype=torch.float64))
    Y = torch.stack([torch.zeros(4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)])
    r = cgls(T, Y, niter=30, tol=1e-20)
    assert r.istop.tolist() == [1, 1]
    assert torch.all(r.cost[:, 0] == 0)
    torch.testing.assert_close(r.x[1], Y[1] / torch.arange(1.0, 5.0, dtype=torch.float64))


def test_compile_fixed_niter():
    A, y, _ = _problem(31, 11, 0)
    T, Y = MatrixMult(torch.from_numpy(A)), torch.from_numpy(y).repeat(2, 1)

    def f(y):
        return cgls(T, y, niter=5, damp=0.1, tol=0).x

    torch._dynamo.reset()
    torch.testing.assert_close(torch.compile(f, fullgraph=True)(Y), f(Y))


def _closed_form(A, y, d):
    n = A.shape[1]
    return torch.linalg.solve(A.T @ A + d**2 * torch.eye(n, dtype=A.dtype), (y @ A).T).T


@pytest.mark.parametrize("which", ["cgls", "lsqr"])
def test_implicit_matches_closed_form(which):
    g = torch.Generator().manual_seed(0)
    A0 = torch.randn(9, 5, dtype=torch.float64, generator=g)
    y0 = torch.randn(3, 9, dtype=torch.float64, generator=g)
    w = torch.randn(3, 5, dtype=torch.float64, generator=g)
    Ap = torch.nn.Parameter(A0.clone())
    y = y0.clone().requires_grad_()
    d = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    if which == "cgls":
        x = cgls(MatrixMult(Ap), y, niter=30, damp=d, tol=0, implicit=True).x
    else:
        x = lsqr(MatrixMult(Ap), y, niter=30, damp=d, atol=0, btol=0, implicit=True).x
    (x * w).sum().backward()
    Ac, yc = A0.clone().requires_grad_(), y0.clone().requires_grad_()
    dc = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    (_closed_form(Ac, yc, dc) * w).sum().backward()
    for a, b in ((Ap.grad, Ac.grad), (y.grad, yc.grad), (d.grad, dc.grad)):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("which", ["cg", "cgls", "lsqr", "normal", "regularized"])
def test_implicit_backward_uses_the_forwards_operator(which):
    """A solve inside a torch.func.functional_call: the implicit backward differentiates the
    operator the forward used (the bound parameter gets its gradient, the data the gradient of
    that operator's solve), as the unrolled path does; an operator tensor changed in place
    between forward and backward is refused, as on the unrolled path."""
    D = torch.float64
    d_live, d_call = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=D), torch.tensor([4.0, 0.7, 2.0, 1.5], dtype=D)

    class Solve(torch.nn.Module):
        def __init__(self, implicit):
            super().__init__()
            self.Op, self.implicit = Diagonal(d_live.clone()), implicit

        def forward(self, y):
            kw = {"niter": 12, "implicit": self.implicit}
            if which == "cg":
                return cg(self.Op, y, damp=0.3, tol=0, **kw).x
            if which == "cgls":
                return cgls(self.Op, y, damp=0.3, tol=0, **kw).x
            if which == "lsqr":
                return lsqr(self.Op, y, damp=0.3, atol=0, btol=0, **kw).x
            if which == "normal":
                return normal_equations_inversion(self.Op, y, None, epsI=0.3, tol=0, **kw)[0]
            return regularized_inversion(self.Op, y, [Diagonal(torch.ones(4, dtype=D))], epsRs=[0.3], atol=0,
                                         btol=0, **kw)[0]

    y0 = torch.tensor([0.5, -1.0, 2.0, 1.0], dtype=D)
    grads = []
    for implicit in (False, True):
        y, p = y0.clone().requires_grad_(), torch.nn.Parameter(d_call.clone())
        torch.func.functional_call(Solve(implicit), {"Op.diag": p}, (y,)).sum().backward()
        grads.append((y.grad, p.grad))
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-8, atol=1e-10)
    # (the closed form of the data's gradient where the damping enters as A^H A + 0.09 I)
    if which != "cg":
        torch.testing.assert_close(grads[1][0], d_call / (d_call**2 + 0.09), rtol=1e-8, atol=1e-10)
    for implicit in (False, True):
        m, y = Solve(implicit), y0.clone().requires_grad_()
        m.Op.diag.requires_grad_(implicit)  # (a buffer with and without a gradient of its own)
        out = m(y)
        with torch.no_grad():
            m.Op.diag.mul_(10)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def test_implicit_backward_with_an_operator_reachable_twice():
    """The operator inside C.H @ C is reached twice: the implicit backward rebinds its tensors
    once and restores them (the module keeps its own tensor afterwards), with the unrolled
    gradient."""
    D = torch.float64
    h_live, h_call = torch.tensor([1.0, 2.0, 1.0], dtype=D), torch.tensor([0.5, -1.0, 2.0], dtype=D)

    class Solve(torch.nn.Module):
        def __init__(self, implicit):
            super().__init__()
            C = tl.Convolve1D(8, h_live.clone(), offset=1)
            self.N, self.implicit = C.H @ C, implicit

        def forward(self, y):
            return cg(self.N, y, niter=30, damp=0.5, tol=0, implicit=self.implicit).x

    y0 = torch.linspace(-1.0, 1.0, 8, dtype=D)
    grads = []
    for implicit in (False, True):
        m, y, p = Solve(implicit), y0.clone().requires_grad_(), torch.nn.Parameter(h_call.clone())
        # (one name and tie_weights=False: PyTorch restores a module reachable twice only so)
        torch.func.functional_call(m, {"N.B.h": p}, (y,), tie_weights=False).pow(2).sum().backward()
        grads.append((y.grad, p.grad))
        torch.testing.assert_close(m.N.B.h, h_live)
        assert m.N.A.Op.h is m.N.B.h
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-8, atol=1e-10)


def test_vmap_of_a_solver_with_a_tolerance_says_what_to_do():
    """Under vmap a tolerance test cannot read the host: a torchlops error names tol=0 and the
    batched call; with tol=0 vmap gives the batched solve."""
    N = Diagonal(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    B = torch.randn(4, 3, dtype=torch.float64)
    for fn in (cg, cgls, lsqr):
        with pytest.raises(RuntimeError, match="pass tol=0 .* give the solver the whole batch"):
            torch.func.vmap(lambda b: fn(N, b, niter=5).x)(B)  # noqa: B023
    torch.testing.assert_close(torch.func.vmap(lambda b: cg(N, b, niter=5, tol=0).x)(B),
                               cg(N, B, niter=5, tol=0).x)


def test_implicit_gradcheck():
    g = torch.Generator().manual_seed(1)
    A = torch.randn(6, 4, dtype=torch.float64, generator=g)
    y = torch.randn(6, dtype=torch.float64, generator=g, requires_grad=True)
    d = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda y, d: cgls(MatrixMult(A), y, niter=20, damp=d, tol=0, implicit=True).x,
                                    (y, d))
    assert torch.autograd.gradcheck(lambda y: cg(MatrixMult(A.T @ A), y[:4], niter=20, tol=0, implicit=True).x, (y,))


def test_implicit_regularized_and_normal():
    g = torch.Generator().manual_seed(2)
    A0, R = torch.randn(12, 6, dtype=torch.float64, generator=g), torch.randn(6, 6, dtype=torch.float64, generator=g)
    y, dr = torch.randn(12, dtype=torch.float64, generator=g), torch.randn(6, dtype=torch.float64, generator=g)
    for fn in ("ri", "ne"):
        Ap = torch.nn.Parameter(A0.clone())
        eps = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        if fn == "ri":
            x = regularized_inversion(MatrixMult(Ap), y, [MatrixMult(R)], dataregs=[dr], epsRs=[eps], niter=40,
                                      atol=0, btol=0, implicit=True)[0]
        else:
            x = normal_equations_inversion(MatrixMult(Ap), y, [MatrixMult(R)], dataregs=[dr], epsRs=[eps], niter=40,
                                           tol=0, implicit=True)[0]
        x.sum().backward()
        Ac, ec = A0.clone().requires_grad_(), torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        torch.linalg.solve(Ac.T @ Ac + ec**2 * R.T @ R, Ac.T @ y + ec**2 * R.T @ dr).sum().backward()
        torch.testing.assert_close(Ap.grad, Ac.grad, rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(eps.grad, ec.grad, rtol=1e-8, atol=1e-10)


def _graph_bytes(niter, implicit):
    """Bytes of the tensors autograd saves for the backward (the operator's own tensors, which
    the implicit backward keeps a reference to, excluded: they cost nothing more), and the
    Python-side peak."""
    A = torch.randn(400, 300, dtype=torch.float64)
    y = torch.randn(4, 400, dtype=torch.float64, requires_grad=True)
    Op = MatrixMult(torch.nn.Parameter(A))
    own = {t.untyped_storage().data_ptr() for t in [*Op.parameters(), *Op.buffers()]}
    saved = []

    def pack(t):
        if t.untyped_storage().data_ptr() not in own:
            saved.append(t.numel() * t.element_size())
        return t

    tracemalloc.start()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        x = cgls(Op, y, niter=niter, damp=0.1, tol=0, implicit=implicit).x
    x.sum().backward()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return sum(saved), peak


def test_implicit_memory_does_not_grow():
    s20, p20 = _graph_bytes(20, True)
    s200, p200 = _graph_bytes(200, True)
    assert s200 <= 1.5 * s20 and s200 < 4 * 300 * 8 * 4
    assert p200 <= 5 * p20  # Python-side: only the (niter+1, B) cost history grows
    assert _graph_bytes(20, False)[0] > 10 * s20  # unrolled keeps every iterate


def test_unrolled_grad_reaches_parameter():
    A = torch.nn.Parameter(torch.randn(8, 5, dtype=torch.float64))
    cgls(MatrixMult(A), torch.randn(8, dtype=torch.float64), niter=4, tol=0).x.sum().backward()
    assert A.grad is not None and torch.isfinite(A.grad).all() and A.grad.abs().sum() > 0


def test_errors():
    T = MatrixMult(torch.randn(5, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="LinearOperator"):
        cgls(torch.randn(5, 3), torch.randn(5))
    with pytest.raises(ValueError, match="expected data of shape"):
        cgls(T, torch.randn(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="niter"):
        lsqr(T, torch.randn(5, dtype=torch.float64), niter=-1)
    with pytest.raises(ValueError, match="square"):
        cg(T, torch.randn(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="x0 must have shape"):
        cgls(T, torch.randn(5, dtype=torch.float64), x0=torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="same size"):
        regularized_inversion(T, torch.randn(5, dtype=torch.float64), [T], epsRs=[1.0, 2.0])
    with pytest.raises(ValueError, match="engine"):
        regularized_inversion(T, torch.randn(5, dtype=torch.float64), None, engine="numba")
    for fn in (regularized_inversion, normal_equations_inversion, preconditioned_inversion):
        # (PyLops' engines only: "torch" was accepted and ran as "scipy", undocumented)
        with pytest.raises(ValueError, match="engine must be one of"):
            fn(T, torch.randn(5, dtype=torch.float64), None if fn is not preconditioned_inversion else T.H @ T,
               engine="torch")


@pytest.mark.parametrize("engine", ["pylops", "scipy"])
def test_preconditioned_inversion_matches_pylops(engine) -> None:
    rng = np.random.default_rng(3)
    A, P, x = rng.standard_normal((10, 10)), rng.standard_normal((10, 10)), rng.standard_normal(10)
    y = A @ x
    if engine == "pylops":
        kw_pl, kw_tl = dict(niter=15, tol=0), dict(niter=15, tol=0)
    else:  # same stopping rule on both sides: no tolerance, a fixed iteration count
        kw_pl, kw_tl = dict(iter_lim=15, atol=0, btol=0, conlim=0), dict(niter=15, atol=0, btol=0, conlim=0)
    xp = pylops.optimization.leastsquares.preconditioned_inversion(
        pylops.MatrixMult(A), y, pylops.MatrixMult(P), engine=engine, **kw_pl
    )[0]
    xt = preconditioned_inversion(
        MatrixMult(torch.from_numpy(A)), torch.from_numpy(y), MatrixMult(torch.from_numpy(P)), engine=engine, **kw_tl
    )[0]
    assert np.linalg.norm(xt.numpy() - xp) <= 1e-8 * np.linalg.norm(xp)


# ---------------------------------------------------------------- PyLops signatures
def assert_pylops_signature(ours, theirs):
    """PyLops' parameters are a prefix of ours, in order and kind; our extras are keyword-only."""
    import inspect

    P, T = inspect.signature(theirs).parameters, inspect.signature(ours).parameters
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.POSITIONAL_ONLY)
    pnames = [n for n, p in P.items() if p.kind in plain]
    tnames = [n for n, p in T.items() if p.kind in plain]
    assert tnames == pnames, f"{ours.__qualname__}: positional parameters {tnames}, PyLops has {pnames}"
    for n, p in P.items():
        if p.kind in plain and p.default is not inspect.Parameter.empty:
            assert T[n].default is not inspect.Parameter.empty, f"{ours.__qualname__}: {n} needs a default"
    pvar = [n for n, p in P.items() if p.kind == inspect.Parameter.VAR_KEYWORD]
    tvar = [n for n, p in T.items() if p.kind == inspect.Parameter.VAR_KEYWORD]
    assert tvar == pvar, f"{ours.__qualname__}: **{tvar} vs PyLops **{pvar}"
    extra = [n for n, p in T.items() if n not in P and p.kind != inspect.Parameter.VAR_KEYWORD]
    assert all(T[n].kind == inspect.Parameter.KEYWORD_ONLY for n in extra), extra
    assert "progress" in T, f"{ours.__qualname__} has no progress option"


@pytest.mark.parametrize("name", ["cg", "cgls", "lsqr"])
def test_basic_signatures_match_pylops(name):
    import pylops.optimization.basic as pb

    import torchlops.optimization.basic as tb

    assert_pylops_signature(getattr(tb, name), getattr(pb, name))


@pytest.mark.parametrize("name", ["normal_equations_inversion", "regularized_inversion", "preconditioned_inversion"])
def test_leastsquares_signatures_match_pylops(name):
    import pylops.optimization.leastsquares as pl

    import torchlops.optimization.leastsquares as tl

    assert_pylops_signature(getattr(tl, name), getattr(pl, name))


@pytest.mark.parametrize("cls", ["CG", "CGLS", "LSQR", "NormalEquationsInversion", "RegularizedInversion",
                                 "PreconditionedInversion"])
def test_class_solve_signatures_match_pylops(cls):
    import pylops.optimization.cls_basic as pb
    import pylops.optimization.cls_leastsquares as pl

    import torchlops.optimization as t

    theirs = getattr(pb, cls, None) or getattr(pl, cls)
    assert_pylops_signature(getattr(t, cls).solve, theirs.solve)


def test_positional_call_like_pylops():
    A, y, _ = _problem(11, 7, 0)
    seen = {"p": 0, "t": 0}
    xp = pcgls(pylops.MatrixMult(A), y, None, 6, 0.1, 0.0, 0.0, 0.0, False, (10, 10, 10),
               lambda x: seen.__setitem__("p", seen["p"] + 1))[0]
    xt = cgls(MatrixMult(torch.from_numpy(A)), torch.from_numpy(y), None, 6, 0.1, 0.0, 0.0, 0.0, False, (10, 10, 10),
              lambda x: seen.__setitem__("t", seen["t"] + 1)).x
    assert seen == {"p": 6, "t": 6}
    _close(xt, xp, 1e-10)
    xp = plsqr(pylops.MatrixMult(A), y, None, 0.1, 0.0, 0.0, 1e8, 6)[0]
    _close(lsqr(MatrixMult(torch.from_numpy(A)), torch.from_numpy(y), None, 0.1, 0.0, 0.0, 1e8, 6).x, xp, 1e-10)


# ---------------------------------------------------------------- class API of the inversions
def _inv_problem():
    g = torch.Generator().manual_seed(5)
    A, R = torch.randn(3, 12, 6, dtype=torch.float64, generator=g)[0], torch.randn(6, 6, dtype=torch.float64, generator=g)
    Y, dr = torch.randn(3, 12, dtype=torch.float64, generator=g), torch.randn(6, dtype=torch.float64, generator=g)
    return MatrixMult(A), MatrixMult(R), Y, dr


def test_normal_equations_class_matches_function_and_pylops():
    from torchlops.optimization.cls_leastsquares import NormalEquationsInversion

    Op, R, Y, dr = _inv_problem()
    kw = dict(epsI=0.1, epsRs=[0.5], niter=8, tol=0)
    x, istop = normal_equations_inversion(Op, Y, [R], dataregs=[dr], **kw)
    s = NormalEquationsInversion(Op)
    s.setup(Y, [R], dataregs=[dr], epsI=0.1, epsRs=[0.5])
    assert s.Op_normal.shape == (6, 6) and s.y_normal.shape == (3, 6)
    xc, istopc = s.run(None, niter=8, tol=0)
    s.finalize()
    torch.testing.assert_close(xc, x, rtol=0, atol=0)
    torch.testing.assert_close(istopc, istop)
    torch.testing.assert_close(NormalEquationsInversion(Op).solve(Y, [R], None, None, [dr], **kw)[0], x)
    with pytest.raises(TypeError, match="no step"):
        s.step(xc)
    xp = pylops.optimization.leastsquares.NormalEquationsInversion(pylops.MatrixMult(Op.A.numpy())).solve(
        Y[1].numpy(), [pylops.MatrixMult(R.A.numpy())], dataregs=[dr.numpy()], engine="pylops", **kw)[0]
    _close(x[1], xp, 1e-9)


@pytest.mark.parametrize("engine", ["scipy", "pylops"])
def test_regularized_and_preconditioned_classes_match_functions(engine):
    from torchlops.optimization.cls_leastsquares import PreconditionedInversion, RegularizedInversion

    Op, R, Y, dr = _inv_problem()
    kw = dict(niter=7, tol=0) if engine == "pylops" else dict(niter=7, atol=0, btol=0)
    out = regularized_inversion(Op, Y, [R], dataregs=[dr], epsRs=[0.5], engine=engine, **kw)
    s = RegularizedInversion(Op)
    s.setup(Y, [R], dataregs=[dr], epsRs=[0.5])
    assert s.RegOp.shape == (18, 6) and s.datatot.shape == (3, 18)
    outc = s.run(None, engine=engine, **kw)
    assert len(outc) == 5 and s.iiter == 7
    for a, b in zip(outc, out, strict=True):
        torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b), rtol=0, atol=0)
    with pytest.raises(TypeError, match="no step"):
        s.step(outc[0])
    P = MatrixMult(torch.eye(6, dtype=torch.float64) * 2.0)
    outp = preconditioned_inversion(Op, Y, P, engine=engine, **kw)
    outpc = PreconditionedInversion(Op).solve(Y, P, None, engine, **kw)
    torch.testing.assert_close(outpc[0], outp[0], rtol=0, atol=0)
    with pytest.raises(TypeError, match="no step"):
        PreconditionedInversion(Op).step()
    with pytest.raises(TypeError, match="P must be"):
        PreconditionedInversion(Op).setup(Y, torch.eye(6))


# ---------------------------------------------------------------- progress bar
class FakeTqdm:
    """Stands for tqdm.tqdm: records the totals and updates."""

    made: list = []

    def __init__(self, total=None, desc=None):
        self.total, self.desc, self.n, self.closed = total, desc, 0, False
        FakeTqdm.made.append(self)

    def update(self, k=1):
        self.n += k

    def close(self):
        self.closed = True


def fake_tqdm_module():
    import types

    mod = types.ModuleType("tqdm")
    mod.tqdm = FakeTqdm
    FakeTqdm.made = []
    return mod


def _ls_runs():
    Op, R, Y, dr = _inv_problem()
    return {
        "cg": (lambda **k: cg(Op.H @ Op, Y @ Op.A, niter=6, tol=0, **k).x, 6),
        "cgls": (lambda **k: cgls(Op, Y, niter=6, tol=0, **k).x, 6),
        "lsqr": (lambda **k: lsqr(Op, Y, niter=6, atol=0, btol=0, **k).x, 6),
        "nei": (lambda **k: normal_equations_inversion(Op, Y, [R], niter=5, tol=0, **k)[0], 5),
        "ri": (lambda **k: regularized_inversion(Op, Y, [R], niter=5, atol=0, btol=0, **k)[0], 5),
        "pi": (lambda **k: preconditioned_inversion(Op, Y, R, niter=5, atol=0, btol=0, **k)[0], 5),
    }


@pytest.mark.parametrize("name", ["cg", "cgls", "lsqr", "nei", "ri", "pi"])
def test_progress_with_and_without_tqdm(name, monkeypatch, caplog):
    import logging
    import sys

    fn, n = _ls_runs()[name]
    ref = fn()
    monkeypatch.setitem(sys.modules, "tqdm", fake_tqdm_module())
    torch.testing.assert_close(fn(progress=True), ref, rtol=0, atol=0)
    assert [(b.total, b.n, b.closed) for b in FakeTqdm.made] == [(n, n, True)]
    fn()  # progress off: no bar
    assert len(FakeTqdm.made) == 1
    monkeypatch.setitem(sys.modules, "tqdm", None)  # tqdm not importable
    with caplog.at_level(logging.INFO, logger="torchlops.optimization"):
        torch.testing.assert_close(fn(progress=True), ref, rtol=0, atol=0)
    lines = [r.getMessage() for r in caplog.records if "%" in r.getMessage()]
    assert lines and "100%" in lines[-1] and f"({n}/{n} steps)" in lines[-1], lines
    with pytest.raises(TypeError, match="progress must be a bool"):
        fn(progress="yes")


def test_implicit_gradients_when_inputs_share_ancestry() -> None:
    """The damping also enters the right-hand side: the implicit backward must neither walk
    into (and free) the caller's graph nor count the shared path twice."""
    g = torch.Generator().manual_seed(5)
    A = MatrixMult(torch.randn(6, 5, dtype=torch.float64, generator=g))
    N = A.H @ A
    y0 = torch.randn(3, 6, dtype=torch.float64, generator=g, requires_grad=True)
    z0 = torch.randn(3, 5, dtype=torch.float64, generator=g, requires_grad=True)
    r = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)

    def rhs() -> tuple[torch.Tensor, torch.Tensor]:
        lam = torch.nn.functional.softplus(r)
        return A.rmatvec(y0) + lam * z0, lam

    b, lam = rhs()
    x = cg(N, b, niter=60, damp=lam, tol=0.0, implicit=True).x
    loss = (x**2).sum()
    first = torch.autograd.grad(loss, [y0, z0, r], retain_graph=True)
    again = torch.autograd.grad(loss, [y0, z0, r])  # a second backward over the same graph works
    # closed form (A^T A + lam I)^-1 b, differentiated by autograd
    b, lam = rhs()
    xc = torch.linalg.solve(A.A.T @ A.A + lam * torch.eye(5, dtype=torch.float64), b.T).T
    closed = torch.autograd.grad((xc**2).sum(), [y0, z0, r])
    for gi, ga, gc in zip(first, again, closed):
        assert torch.allclose(gi, ga)
        assert torch.allclose(gi, gc, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["cgls", "lsqr", "normal"])
def test_implicit_gradient_through_operator_tensors_computed_from_inputs(solver: str) -> None:
    """An operator tensor computed from another input of the solve (2 * D next to D; an
    operator built from the data) gets its own part of the gradient and passes it on once: the
    implicit backward read it as itself and also walked from it into the caller's graph, so that
    path was counted twice."""
    from torchlops.basicoperators import VStack

    g = torch.Generator().manual_seed(9)
    D0 = torch.randn(6, 4, dtype=torch.float64, generator=g)
    y = torch.randn(12, dtype=torch.float64, generator=g)

    def grad(implicit: bool) -> torch.Tensor:
        D = D0.clone().requires_grad_()
        Op = VStack([MatrixMult(D), MatrixMult(2 * D)])
        if solver == "cgls":
            x = cgls(Op, y, niter=40, damp=0.1, tol=0, implicit=implicit).x
        elif solver == "lsqr":
            x = lsqr(Op, y, niter=40, damp=0.1, atol=0, btol=0, implicit=implicit).x
        else:
            x = normal_equations_inversion(Op, y, [MatrixMult(D)], epsRs=[0.3], NRegs=[MatrixMult(D.T @ D)],
                                           epsNRs=[0.2], implicit=implicit, niter=60, tol=0)[0]
        return torch.autograd.grad((x**2).sum(), D)[0]

    D = D0.clone().requires_grad_()
    G = torch.cat([D, 2 * D])
    if solver == "normal":
        N = G.T @ G + 0.09 * D.T @ D + 0.04 * D.T @ D  # (epsR^2 R^H R + epsNR^2 NR)
    else:
        N = G.T @ G + 0.01 * torch.eye(4, dtype=torch.float64)
    xc = torch.linalg.solve(N, G.T @ y)
    closed = torch.autograd.grad((xc**2).sum(), D)[0]
    torch.testing.assert_close(grad(False), closed, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(grad(True), closed, rtol=1e-8, atol=1e-10)
    # an operator built from the data
    y0 = torch.rand(5, dtype=torch.float64, generator=g) + 0.5
    yy = y0.clone().requires_grad_()
    x = cgls(Diagonal(2 * yy), yy, niter=20, damp=0.3, tol=0, implicit=True).x
    got = torch.autograd.grad(x.sum(), yy)[0]
    yy = y0.clone().requires_grad_()
    want = torch.autograd.grad(((2 * yy) * yy / ((2 * yy) ** 2 + 0.09)).sum(), yy)[0]
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_implicit_regularized_inversion_with_eps_computed_from_inputs() -> None:
    """regularized_inversion's stacked operator holds eps * Reg: with an eps computed from another
    input (eps2 = 2 * eps1, eps = 0.1 ||D|| with Op = MatrixMult(D)) that scale was read live by the
    implicit backward and its path counted twice."""
    dt = torch.float64
    g = torch.Generator().manual_seed(3)
    D0, y0 = torch.randn(8, 4, dtype=dt, generator=g), torch.randn(8, dtype=dt, generator=g)
    R1, R2 = torch.randn(3, 4, dtype=dt, generator=g), torch.randn(5, 4, dtype=dt, generator=g)
    kw = dict(niter=300, atol=0, btol=0)
    for implicit in (False, True):
        e = torch.nn.Parameter(torch.tensor(0.7, dtype=dt))
        x = regularized_inversion(MatrixMult(D0), y0, [MatrixMult(R1), MatrixMult(R2)], epsRs=[e, 2 * e],
                                  implicit=implicit, **kw)[0]
        got = torch.autograd.grad((x**2).sum(), e)[0]
        e = torch.tensor(0.7, dtype=dt, requires_grad=True)
        N = D0.T @ D0 + e**2 * R1.T @ R1 + (2 * e) ** 2 * R2.T @ R2
        want = torch.autograd.grad((torch.linalg.solve(N, D0.T @ y0) ** 2).sum(), e)[0]
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)
        D = torch.nn.Parameter(D0.clone())
        x = regularized_inversion(MatrixMult(D), y0, [Identity(4, dtype=dt)], epsRs=[0.1 * D.norm()],
                                  implicit=implicit, **kw)[0]
        got = torch.autograd.grad((x**2).sum(), D)[0]
        D = D0.clone().requires_grad_()
        xc = torch.linalg.solve(D.T @ D + (0.1 * D.norm()) ** 2 * torch.eye(4, dtype=dt), D.T @ y0)
        want = torch.autograd.grad((xc**2).sum(), D)[0]
        torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-10)


# ---------------------------------------------------------------- PyLops' engine="scipy" defaults
def _defaults_problem(seed=0, n=40, m=60):
    rng = np.random.default_rng(seed)
    B = rng.standard_normal((m, n))
    y = B @ np.ones(n) + 0.1 * rng.standard_normal(m)
    return B, y, MatrixMult(torch.from_numpy(B)), torch.from_numpy(y)


def test_leastsquares_default_calls_match_pylops():
    """With no solver arguments, engine="scipy" runs scipy's lsqr / cg in PyLops: the same
    stopping rules, defaults and stop codes here (x to rounding, istop and itn exactly)."""
    from torchlops.basicoperators import SecondDerivative, Smoothing1D

    # (a well-conditioned system, stopped by the atol test after 13 of at most 80 steps: test2
    # 2.7e-6 before the stop and 6.2e-7 at it. Where LSQR runs near n steps the iterates lose
    # orthogonality and the step at which a test is met follows the rounding of the products:
    # numpy's and torch's matmul moved it by two steps on the 60 x 40 problem below)
    B4, y4, T4, yt4 = _defaults_problem(m=400)
    n = B4.shape[1]
    PL = pylops.optimization.leastsquares
    a = PL.regularized_inversion(pylops.MatrixMult(B4), y4, [pylops.SecondDerivative(n)], epsRs=[0.5])
    b = regularized_inversion(T4, yt4, [SecondDerivative(n, dtype=torch.float64)], epsRs=[0.5])
    assert (int(b[1]), b[2]) == (a[1], a[2]) == (2, 13)  # stopped by the atol test
    _close(b[0], a[0], 1e-7)
    _close(b[3], a[3], 1e-10)
    B, y, T, yt = _defaults_problem()
    for lim in (5, 12):  # the iteration limit: scipy's istop 7
        a = PL.preconditioned_inversion(pylops.MatrixMult(B), y, pylops.Smoothing1D(3, n), iter_lim=lim)
        b = preconditioned_inversion(T, yt, Smoothing1D(3, n, dtype=torch.float64), iter_lim=lim)
        assert int(b[1]) == a[1] == 7 and b[2] == a[2] == lim
        _close(b[0], a[0], 1e-9)
    # (the tolerance-stopped CG solves on the well-conditioned problem too: 9 steps)
    a = PL.normal_equations_inversion(pylops.MatrixMult(B4), y4, [pylops.SecondDerivative(n)], epsRs=[0.5])
    b = normal_equations_inversion(T4, yt4, [SecondDerivative(n, dtype=torch.float64)], epsRs=[0.5])
    assert b[1].shape == () and int(b[1]) == a[1] == 0
    _close(b[0], a[0], 1e-10)  # both stop at ||r|| <= 1e-5 ||b||
    a = PL.normal_equations_inversion(pylops.MatrixMult(B), y, None, epsI=0.1, maxiter=4)
    b = normal_equations_inversion(T, yt, None, epsI=0.1, maxiter=4)
    assert int(b[1]) == a[1] == 4
    _close(b[0], a[0], 1e-10)
    a = PL.normal_equations_inversion(pylops.MatrixMult(B4), y4, None, epsI=0.1, rtol=0, atol=1e-3)
    b = normal_equations_inversion(T4, yt4, None, epsI=0.1, rtol=0, atol=1e-3)
    assert int(b[1]) == a[1] == 0
    _close(b[0], a[0], 1e-10)


def test_leastsquares_solver_argument_errors():
    B, y, T, yt = _defaults_problem()
    with pytest.raises(TypeError, match="iter_lim and niter"):
        regularized_inversion(T, yt, None, iter_lim=3, niter=3)
    with pytest.raises(TypeError, match="niter and maxiter name the same setting"):
        normal_equations_inversion(T, yt, None, epsI=0.1, maxiter=3, niter=3)
    with pytest.raises(TypeError, match="tol and atol name the same setting"):
        normal_equations_inversion(T, yt, None, epsI=0.1, tol=1e-3, atol=1e-3)
    with pytest.raises(TypeError, match="M .*not supported"):
        normal_equations_inversion(T, yt, None, epsI=0.1, M=T)
    # niter stands for maxiter; PyLops passes tol as scipy's atol (rtol stays 1e-5)
    x, istop = normal_equations_inversion(T, yt, None, epsI=0.1, niter=3, tol=0, M=None)
    assert int(istop) == 3
    B2 = B.T @ B + 0.01 * np.eye(B.shape[1])
    a = pylops.optimization.leastsquares.normal_equations_inversion(pylops.MatrixMult(B), y, None, epsI=0.1, tol=1e-3)
    b = normal_equations_inversion(T, yt, None, epsI=0.1, tol=1e-3)
    assert int(b[1]) == a[1] == 0 and np.linalg.cond(B2) > 1
    _close(b[0], a[0], 1e-6)


@pytest.mark.parametrize("imag", [0, 1])
def test_tolerance_stops_at_pylops_iteration(imag):
    """On the CPU the stop flags are read every step: with a positive tolerance the iteration
    count and cost history are PyLops'."""
    A, y, _ = _problem(31, 11, imag, seed=4)
    Op, T, yt = pylops.MatrixMult(A, dtype=A.dtype), MatrixMult(torch.from_numpy(A)), torch.from_numpy(y)
    r = pcgls(Op, y, niter=200, tol=1e-10)
    t = cgls(T, yt, niter=200, tol=1e-10)
    assert r[2] < 200 and t.iiter == r[2] and int(t.istop) == r[1] and t.cost.shape[0] == len(r[5])
    r = plsqr(Op, y, niter=200, atol=1e-10, btol=1e-10)
    t = lsqr(T, yt, niter=200, atol=1e-10, btol=1e-10)
    assert r[2] < 200 and t.iiter == r[2] and int(t.istop) == r[1]
    N = A.conj().T @ A
    r = pcg(pylops.MatrixMult(N, dtype=A.dtype), A.conj().T @ y, niter=200, tol=1e-10)
    t = cg(MatrixMult(torch.from_numpy(N)), torch.from_numpy(A.conj().T @ y), niter=200, tol=1e-10)
    assert r[1] < 200 and t.iiter == r[1] and t.cost.shape[0] == len(r[2])


def test_power_iteration_pylops_arguments():
    from torchlops.optimization import power_iteration

    N = MatrixMult(torch.diag(torch.tensor([1.0, 3.0, 9.0], dtype=torch.float64)))
    g = torch.Generator().manual_seed(0)
    e1 = power_iteration(N, 200, 1e-12, "float64", generator=g)[0]  # PyLops' positional order, a dtype name
    e2 = power_iteration(N, niter=200, tol=1e-12)[0]  # PyLops' keyword
    e3 = power_iteration(N, niter=200, rtol=1e-12)[0]  # the older keyword
    for e in (e1, e2, e3):
        assert abs(float(e) - 9.0) < 1e-6


def test_lsqr_machine_precision_stop_like_pylops():
    """atol = btol = 0: LSQR stops on its machine-precision tests (istop 4-6) where PyLops does.
    Those tests compare quantities of ~1e-16 with 1 (test2 1.2e-16 and t1 3e-17 at the stop,
    ~1e-7 a step before), so which of them fires, and whether at this step or the next, follows
    the last bits of the products: PyLops itself moves between (4, 11), (5, 11), (4, 12) and
    (5, 12) under 1e-15 perturbations of y. The codes and steps must be among those, one step
    apart at most, and x the same."""
    A, y, _ = _problem(31, 11, 0, seed=4)
    r = plsqr(pylops.MatrixMult(A), y, niter=60, atol=0, btol=0)
    t = lsqr(MatrixMult(torch.from_numpy(A)), torch.from_numpy(y), niter=60, atol=0, btol=0)
    assert r[1] in (4, 5, 6) and r[2] < 60
    assert int(t.istop) in (4, 5, 6) and abs(t.iiter - r[2]) <= 1 and t.cost.shape[0] == t.iiter + 1
    _close(t.x, r[0], 1e-10)


@pytest.mark.parametrize("engine", ["scipy", "pylops"])
def test_implicit_regularized_inversion_with_solver_damping(engine):
    """The solver's own damping (lsqr's / cgls' damp) is part of the problem the implicit
    backward differentiates: (A^T A + eps^2 R^T R + damp^2 I)^-1 A^T y."""
    from torchlops.basicoperators import SecondDerivative

    g = torch.Generator().manual_seed(0)
    A = torch.randn(12, 6, dtype=torch.float64, generator=g)
    y = torch.randn(12, dtype=torch.float64, generator=g, requires_grad=True)
    R = SecondDerivative(6, dtype=torch.float64)
    kw = dict(niter=200, atol=0, btol=0) if engine == "scipy" else dict(niter=200, tol=0)
    x = regularized_inversion(MatrixMult(A), y, [R], epsRs=[0.5], engine=engine, damp=0.3, implicit=True, **kw)[0]
    (gy,) = torch.autograd.grad(x.sum(), y)
    Rd = R.todense()
    M = A.T @ A + 0.25 * Rd.T @ Rd + 0.09 * torch.eye(6, dtype=torch.float64)
    torch.testing.assert_close(gy, A @ torch.linalg.solve(M, torch.ones(6, dtype=torch.float64)), rtol=1e-10, atol=1e-12)
    # damp as a tensor that requires grad gets d/d damp of sum(x) = -2 damp 1^T M^-1 x
    d = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    x = regularized_inversion(MatrixMult(A), y.detach(), [R], epsRs=[0.5], engine=engine, damp=d, implicit=True, **kw)[0]
    (gd,) = torch.autograd.grad(x.sum(), d)
    ref = -2 * 0.3 * torch.linalg.solve(M, torch.ones(6, dtype=torch.float64)) @ x.detach()
    torch.testing.assert_close(gd, ref, rtol=1e-8, atol=1e-12)


def test_scipy_engine_with_x0_uses_the_data_norm():
    """scipy's lsqr measures its tests against ||y|| also when x0 is given (PyLops' own lsqr
    against ||y - Op x0||): same stopping step as scipy."""
    from scipy.sparse.linalg import lsqr as sp_lsqr

    rng = np.random.default_rng(1)
    A = rng.standard_normal((60, 40)) @ np.diag(np.logspace(0, 3, 40))
    xt = rng.standard_normal(40)
    y, x0 = A @ xt, xt + 1e-3 * rng.standard_normal(40)
    r = sp_lsqr(A, y, x0=x0, atol=1e-4, btol=1e-4)
    t = preconditioned_inversion(MatrixMult(torch.from_numpy(A)), torch.from_numpy(y),
                                 MatrixMult(torch.eye(40, dtype=torch.float64)), x0=torch.from_numpy(x0),
                                 atol=1e-4, btol=1e-4)
    assert (int(t[1]), t[2]) == (r[1], r[2])
    _close(t[0], r[0], 1e-8)


def test_zero_data_takes_no_step():
    """y = 0: cg / cgls stop before the first step (PyLops: 0 iterations, one cost entry); the
    scipy-engine normal equations give scipy's x = 0 even from a non-zero x0."""
    T = MatrixMult(torch.randn(7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    z = torch.zeros(7, dtype=torch.float64)
    for r in (cgls(T, z, niter=5, tol=1e-8), cg(T.H @ T, torch.zeros(4, dtype=torch.float64), niter=5)):
        assert r.iiter == 0 and r.cost.shape[0] == 1 and not r.x.any()
    x, istop = normal_equations_inversion(T, z, None, epsI=0.1, x0=torch.ones(4, dtype=torch.float64))
    assert int(istop) == 0 and not x.any()


def test_implicit_normal_equations_gradient_at_any_data_scale():
    """The backward's solve stops relative to its own right-hand side (not the forward's
    tolerance): gradients are exact for data of any scale."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(8, 5, dtype=torch.float64, generator=g)
    w = torch.randn(5, dtype=torch.float64, generator=g)
    N = A.T @ A + 0.01 * torch.eye(5, dtype=torch.float64)
    for scale in (1.0, 1e6):
        y = (scale * torch.randn(8, dtype=torch.float64, generator=g)).requires_grad_()
        x = normal_equations_inversion(MatrixMult(A), y, None, epsI=0.1, implicit=True)[0]
        (gy,) = torch.autograd.grad((w * x).sum(), y)
        torch.testing.assert_close(gy, A @ torch.linalg.solve(N, w), rtol=1e-6, atol=0)


def test_power_iteration_start_dtype_narrower_than_operator():
    from torchlops.optimization import power_iteration

    N = MatrixMult(torch.diag(torch.tensor([1.0, 3.0, 9.0], dtype=torch.float64)))
    e = power_iteration(N, 300, 1e-12, "float32")[0]  # PyLops' default dtype name on a float64 operator
    assert e.dtype == torch.float64 and abs(float(e) - 9.0) < 1e-6


def test_inversions_and_power_iteration_return_named_tuples():
    """Every function returns a NamedTuple in PyLops' order: positional unpacking as in PyLops,
    fields by name."""
    from torchlops.optimization import power_iteration

    Op = Diagonal(torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64))
    y = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    r = normal_equations_inversion(Op, y, None)
    assert r._fields == ("x", "istop") and r.x is r[0]
    xinv, istop = r
    torch.testing.assert_close(xinv, torch.ones(3, dtype=torch.float64))
    for fn, args in ((regularized_inversion, (None,)), (preconditioned_inversion, (Diagonal(torch.ones(3)),))):
        r = fn(Op, y, *args)
        assert r._fields == ("x", "istop", "itn", "r1norm", "r2norm") and r.x is r[0]
        xinv, istop, itn, r1norm, r2norm = r
        torch.testing.assert_close(xinv, torch.ones(3, dtype=torch.float64))
    r = power_iteration(Op, 50, 0.0)
    assert r._fields == ("maxeig", "b", "iiter") and r.iiter == 50
    maxeig, b, iiter = r
    assert abs(float(maxeig) - 4.0) < 1e-8


def test_power_iteration_zero_operator_and_real_models_of_a_complex_operator():
    """An operator mapping the iterate to zero gives the estimate 0, not NaN (PyLops divides 0
    by 0), with no host read at tol=0; FFT(real=True) with a complex dtype (real models, its
    adjoint answers real vectors) gives PyLops' estimate instead of a dtype error."""
    import pylops as pl

    from torchlops import FFT, Zero
    from torchlops.optimization import power_iteration

    for Op in (Zero(5, dtype=torch.float64), Diagonal(torch.zeros(4, dtype=torch.complex128))):
        e, b, it = power_iteration(Op, 6, 0.0)
        assert float(abs(e)) == 0.0 and it == 6 and torch.isfinite(torch.view_as_real(b.to(torch.complex128))).all()
    F = FFT(9, real=True, dtype=torch.complex128)
    e = power_iteration(F.H @ F, 30, 0.0, generator=torch.Generator().manual_seed(0))[0]
    Fp = pl.signalprocessing.FFT(9, real=True, dtype=np.complex128)
    ep = pl.optimization.eigs.power_iteration(Fp.H @ Fp, 30, 0.0)[0]
    assert abs(float(e.real) - float(np.real(ep))) < 1e-10 and abs(float(e.real) - 1.0) < 1e-10


@pytest.mark.parametrize("which", ["cgls", "cg", "normal-pylops"])
def test_implicit_gradient_of_a_small_loss(which):
    """The backward's CG bound is relative to its right-hand side as the forward's is to its
    own: a loss scaled by 1e-3 (||g||^2 below the forward's absolute tol) gets the scaled
    gradient, not zero."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(30, 10, dtype=torch.float64, generator=g)
    y0 = torch.randn(30, dtype=torch.float64, generator=g)
    w = torch.randn(10, dtype=torch.float64, generator=g)
    S = A.T @ A + torch.eye(10, dtype=torch.float64)
    f = {
        "cgls": lambda yy, imp: cgls(MatrixMult(A), yy, niter=50, implicit=imp).x,
        "cg": lambda yy, imp: cg(MatrixMult(S), yy[:10], niter=50, implicit=imp).x,
        "normal-pylops": lambda yy, imp: normal_equations_inversion(MatrixMult(A), yy, None, epsI=0.1,
                                                                    engine="pylops", niter=50, implicit=imp)[0],
    }[which]
    def grad(scale, imp):
        yy = y0.clone().requires_grad_()
        (scale * (w * f(yy, imp)).sum()).backward()
        return yy.grad

    gi, gu = grad(1.0, True), grad(1.0, False)
    assert float((gi - gu).norm()) <= 5e-3 * float(gu.norm())
    torch.testing.assert_close(grad(1e-3, True), 1e-3 * gi, rtol=1e-6, atol=1e-12 * float(gi.abs().max()))


def test_unrolled_lsqr_with_a_zero_sample_has_finite_gradients():
    """A y = 0 sample is frozen from the start; its zero rotations must not put NaN into the
    gradients of the shared operator or of the other samples (they equal those of the batch
    without it)."""
    g = torch.Generator().manual_seed(0)
    A0 = torch.randn(20, 8, dtype=torch.float64, generator=g)
    Y = torch.randn(2, 20, dtype=torch.float64, generator=g)
    Y[1] = 0
    grads = []
    for rows in (slice(0, 2), slice(0, 1)):
        A = A0.clone().requires_grad_()
        Yr = Y[rows].clone().requires_grad_()
        r = lsqr(MatrixMult(A), Yr, niter=5)
        assert bool((r.x[1:] == 0).all())
        r.x[0].sum().backward()
        grads.append((A.grad, Yr.grad[0]))
    for a, b in zip(*grads):
        assert bool(torch.isfinite(a).all())
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_implicit_lsqr_with_x0_and_damp():
    """LSQR from x0 with damp solves min ||y - A x||^2 + damp^2 ||x - x0||^2 (scipy, PyLops):
    the implicit gradients for y, damp and x0 are the unrolled ones of a converged solve."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(30, 10, dtype=torch.float64, generator=g)
    y0 = torch.randn(30, dtype=torch.float64, generator=g)
    x00 = torch.randn(10, dtype=torch.float64, generator=g)
    w = torch.randn(10, dtype=torch.float64, generator=g)
    grads = []
    for imp in (False, True):
        y, x0 = y0.clone().requires_grad_(), x00.clone().requires_grad_()
        d = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
        x = lsqr(MatrixMult(A), y, x0=x0, damp=d, niter=200, atol=0, btol=0, implicit=imp).x
        ref = torch.linalg.solve(A.T @ A + 0.25 * torch.eye(10, dtype=torch.float64), A.T @ y0 + 0.25 * x00)
        torch.testing.assert_close(x.detach(), ref, rtol=1e-10, atol=1e-12)
        (w * x).sum().backward()
        grads.append((y.grad, d.grad, x0.grad))
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-8, atol=1e-12)


def _stop_at(k):
    """A callback that stops once the solver has made ``k`` steps."""
    from torchlops.optimization.callback import Callbacks

    class StopAt(Callbacks):
        def on_step_end(self, solver, x):
            self.stop = solver.iiter >= k

    return StopAt()


def test_krylov_run_counts_total_steps_and_istop():
    """run(x, niter) goes on to niter steps in all (PyLops): run(3) then run(4) is 4 steps;
    a run shorter than setup's niter reports istop 2 (3 is a callback's stop)."""
    from pylops.optimization.cls_basic import CGLS as PCGLS

    from torchlops.optimization.callback import Callbacks
    from torchlops.optimization.cls_basic import CG, CGLS, LSQR

    g = torch.Generator().manual_seed(0)
    A = torch.randn(20, 8, dtype=torch.float64, generator=g)
    y = torch.randn(20, dtype=torch.float64, generator=g)
    for cls, Op, yy in ((CGLS, MatrixMult(A), y), (LSQR, MatrixMult(A), y), (CG, MatrixMult(A.T @ A), A.T @ y)):
        s = cls(Op)
        x = s.setup(yy, niter=10, **({} if cls is LSQR else {"tol": 0}))
        x = s.run(x, 3)
        x = s.run(x, 4)
        assert s.iiter == 4
    t = CGLS(MatrixMult(A))
    x = t.run(t.setup(y, niter=10, tol=0), 5)
    t.finalize()
    p = PCGLS(pylops.MatrixMult(A.numpy()))
    p.run(p.setup(y.numpy(), niter=10, tol=0), 5)
    p.finalize()
    assert int(t.istop) == p.istop == 2 and t.iiter == p.iiter == 5
    # a callback that stops at the step a run's niter ends on: 2, as PyLops
    t = CGLS(MatrixMult(A), callbacks=[_stop_at(6)])
    t.run(t.setup(y, niter=10, tol=0), 6)
    t.finalize()
    assert int(t.istop) == 2 and t.iiter == 6

    class Stop(Callbacks):
        def on_step_end(self, solver, x):
            self.stop = solver.iiter >= 2

    t = CGLS(MatrixMult(A), callbacks=[Stop()])
    assert int(t.solve(y, niter=10, tol=0)[1]) == 3 and t.iiter == 2


def test_implicit_tolerance_cases():
    """The adjoint's relative bound with a per-sample tensor tol, an empty batch, a y = 0
    sample and a warm start: the gradients of the converged unrolled solve (or shapes)."""
    g = torch.Generator().manual_seed(3)
    A = torch.randn(12, 6, dtype=torch.float64, generator=g)
    S = MatrixMult(A.T @ A + torch.eye(6, dtype=torch.float64))
    Y = torch.randn(2, 6, dtype=torch.float64, generator=g)
    Y[1] = 0
    w = torch.randn(6, dtype=torch.float64, generator=g)
    for tol in (1e-8, torch.tensor([1e-8, 1e-9], dtype=torch.float64)):
        grads = []
        for imp in (False, True):
            y = Y.clone().requires_grad_()
            (1e-4 * (w * cg(S, y, niter=60, tol=tol, implicit=imp).x).sum()).backward()
            grads.append(y.grad)
        torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-6, atol=1e-14)
        # (the y = 0 sample: the unrolled solve took no step, so its gradient is 0; the implicit
        # one is the derivative of the solution S^-1 y)
        torch.testing.assert_close(grads[1][1], 1e-4 * torch.linalg.solve(S.A, w), rtol=1e-8, atol=1e-16)
    y0 = torch.zeros(0, 6, dtype=torch.float64, requires_grad=True)
    cg(S, y0, niter=5, implicit=True).x.sum().backward()
    assert y0.grad.shape == (0, 6)
    # a warm start at the solution: the forward takes no step, the backward still solves
    xs = torch.linalg.solve(S.A, Y[0])
    yw = Y[0].clone().requires_grad_()
    (1e-4 * (w * cg(S, yw, x0=xs, niter=60, tol=1e-8, implicit=True).x).sum()).backward()
    torch.testing.assert_close(yw.grad, 1e-4 * torch.linalg.solve(S.A, w), rtol=1e-8, atol=1e-16)


def test_regularized_inversion_scipy_x0_damp_gradient():
    """engine="scipy" from x0 damps x - x0 (scipy's lsqr); engine="pylops" damps x (cgls): the
    implicit d/d damp is the unrolled one for both."""
    from torchlops.basicoperators import SecondDerivative

    g = torch.Generator().manual_seed(0)
    A = torch.randn(12, 6, dtype=torch.float64, generator=g)
    y = torch.randn(12, dtype=torch.float64, generator=g)
    x0 = torch.randn(6, dtype=torch.float64, generator=g)
    R = SecondDerivative(6, dtype=torch.float64)
    for engine, kw in (("scipy", dict(niter=300, atol=0, btol=0)), ("pylops", dict(niter=300, tol=0))):
        grads = []
        for imp in (False, True):
            d = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
            x = regularized_inversion(MatrixMult(A), y, [R], x0=x0, epsRs=[0.5], engine=engine, damp=d,
                                      implicit=imp, **kw)[0]
            (gd,) = torch.autograd.grad(x.sum(), d)
            grads.append(gd)
        torch.testing.assert_close(grads[1], grads[0], rtol=1e-7, atol=1e-12)


def test_cgls_istop_when_a_callback_stops_on_the_last_step():
    """PyLops tests niter first: a callback's stop at the last step is istop 2."""
    from torchlops.optimization.callback import Callbacks
    from torchlops.optimization.cls_basic import CGLS

    class StopAt(Callbacks):
        def __init__(self, k):
            super().__init__()
            self.k = k

        def on_step_end(self, solver, x):
            self.stop = solver.iiter >= self.k

    A = torch.randn(20, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.randn(20, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    assert int(CGLS(MatrixMult(A), callbacks=[StopAt(5)]).solve(y, niter=5, tol=0)[1]) == 2
    assert int(CGLS(MatrixMult(A), callbacks=[StopAt(3)]).solve(y, niter=5, tol=0)[1]) == 3


def test_preconditioned_inversion_implicit_is_a_clear_error():
    A = MatrixMult(torch.eye(3, dtype=torch.float64))
    with pytest.raises(TypeError, match="preconditioned_inversion has no implicit"):
        preconditioned_inversion(A, torch.ones(3, dtype=torch.float64), A, implicit=True)


def test_implicit_solves_refuse_second_derivatives() -> None:
    """A gradient of an implicit=True solve built with create_graph is right to first order,
    and differentiating it again raises (through autograd.grad with inputs and
    backward(inputs=...) too, where a silent partial value came out before); implicit=False
    gives the closed-form second derivative."""
    D = torch.float64
    d = torch.rand(5, dtype=D, generator=torch.Generator().manual_seed(0)) + 0.5
    b = torch.randn(5, dtype=D, generator=torch.Generator().manual_seed(1)).requires_grad_()
    lam = torch.tensor(0.5, dtype=D, requires_grad=True)
    gb_ref = torch.autograd.grad(((b / (d + lam)) ** 2).sum(), b, create_graph=True)[0]
    second_ref = torch.autograd.grad(gb_ref.sum(), lam)[0]
    x = cg(Diagonal(d), b, niter=50, damp=lam, tol=0, implicit=True).x
    (gb,) = torch.autograd.grad((x ** 2).sum(), b, create_graph=True)
    torch.testing.assert_close(gb, gb_ref.detach(), rtol=1e-10, atol=1e-12)
    with pytest.raises(RuntimeError, match="cannot be differentiated again"):
        torch.autograd.grad(gb.sum(), lam)
    x = cg(Diagonal(d), b, niter=50, damp=lam, tol=0, implicit=True).x
    (gb,) = torch.autograd.grad((x ** 2).sum(), b, create_graph=True)
    with pytest.raises(RuntimeError, match="cannot be differentiated again"):
        gb.square().sum().backward(inputs=[lam])
    x = cg(Diagonal(d), b, niter=50, damp=lam, tol=0, implicit=False).x
    (gb,) = torch.autograd.grad((x ** 2).sum(), b, create_graph=True)
    torch.testing.assert_close(torch.autograd.grad(gb.sum(), lam)[0], second_ref, rtol=1e-10, atol=1e-12)


def test_least_squares_inversions_on_an_empty_batch() -> None:
    """regularized / normal-equations / preconditioned inversion of an empty batch (plain,
    implicit, with x0) return the empty model batch (their result reshapes had nothing to infer
    a -1 from)."""
    from torchlops.basicoperators import FirstDerivative

    D = torch.float64
    A, R = MatrixMult(torch.randn(10, 14, dtype=D)), FirstDerivative(14, dtype=D)
    y = torch.zeros(0, 10, dtype=D)
    x0 = torch.zeros(0, 14, dtype=D)
    runs = [
        lambda: regularized_inversion(A, y, [R], epsRs=[0.5], niter=5)[0],
        lambda: regularized_inversion(A, y.clone().requires_grad_(), [R], epsRs=[0.5], niter=5, implicit=True)[0],
        lambda: normal_equations_inversion(A, y.clone().requires_grad_(), [R], epsRs=[0.5], niter=5, implicit=True)[0],
        lambda: normal_equations_inversion(A, y, [R], epsRs=[0.5], niter=5, x0=x0)[0],
        lambda: preconditioned_inversion(A, y, R, niter=5)[0],
    ]
    for run in runs:
        assert run().shape == (0, 14)


@pytest.mark.parametrize("name", ["normal_equations_inversion", "regularized_inversion", "preconditioned_inversion"])
@pytest.mark.parametrize("engine", ["scipy", "pylops"])
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)], ids=str)
def test_inversion_callbacks_see_one_model_per_problem(name, engine, batch):
    """The inner solve's callback gets (*batch, N) models, as PyLops' (N,) for one y."""
    import torchlops
    from torchlops.basicoperators import Identity

    A = torch.from_numpy(np.random.default_rng(0).normal(size=(31, 11)))
    y = (A @ torch.ones(11, dtype=torch.float64)).expand(*batch, 31).contiguous()
    shapes = []
    second = Identity(11, dtype=torch.float64) if name == "preconditioned_inversion" else None
    getattr(torchlops, name)(MatrixMult(A), y, second, engine=engine, niter=2,
                             callback=lambda x: shapes.append(tuple(x.shape)))
    assert shapes == [(*batch, 11)] * 2
    if name == "normal_equations_inversion" and engine == "scipy":
        from pylops.optimization.leastsquares import normal_equations_inversion as pnei

        pshapes = []
        pnei(pylops.MatrixMult(A.numpy()), y.reshape(-1, 31)[0].numpy(), None, maxiter=2,
             callback=lambda x: pshapes.append(np.shape(x)))
        assert pshapes == [(11,)] * 2


def test_normal_equations_cost_has_the_batch_shape():
    from torchlops.optimization.cls_leastsquares import NormalEquationsInversion

    A = torch.from_numpy(np.random.default_rng(0).normal(size=(31, 11)))
    s = NormalEquationsInversion(MatrixMult(A))
    s.solve(A @ torch.ones(11, dtype=torch.float64), None, engine="pylops", niter=2)
    assert tuple(s.cost.shape) == (3,)
    s.solve((A @ torch.ones(11, dtype=torch.float64)).expand(4, 31), None, engine="pylops", niter=2)
    assert tuple(s.cost.shape) == (3, 4)


def _hook_log(base, log, name):
    class C(base):
        def __init__(self):
            self.stop = False

        def on_setup_end(self, solver, x):
            log.append(f"{name}.setup_end")

        def on_step_begin(self, solver, x):
            log.append(f"{name}.step_begin")

        def on_step_end(self, solver, x):
            log.append(f"{name}.step_end")

        def on_run_end(self, solver, x):
            log.append(f"{name}.run_end")

    return C()


def test_callback_end_hooks_run_in_reverse_order_as_pylops():
    from pylops.optimization.callback import Callbacks as PCallbacks
    from pylops.optimization.cls_basic import CGLS as PCGLS

    from torchlops.optimization.callback import Callbacks
    from torchlops.optimization.cls_basic import CGLS

    A = np.random.default_rng(0).normal(size=(31, 11))
    lp, lt = [], []
    PCGLS(pylops.MatrixMult(A), callbacks=[_hook_log(PCallbacks, lp, "a"), _hook_log(PCallbacks, lp, "b")]).solve(
        np.ones(31), niter=2)
    CGLS(MatrixMult(torch.from_numpy(A)), callbacks=[_hook_log(Callbacks, lt, "a"), _hook_log(Callbacks, lt, "b")]
         ).solve(torch.ones(31, dtype=torch.float64), niter=2)
    assert lt == lp
    assert lt[:2] == ["b.setup_end", "a.setup_end"] and lt[2:4] == ["a.step_begin", "b.step_begin"]


def test_setup_begin_gets_the_x0_argument():
    """on_setup_begin's x0 is setup's x0 argument, never the least-squares classes' Regs or P."""
    from torchlops.basicoperators import FirstDerivative, Identity
    from torchlops.optimization.callback import Callbacks
    from torchlops.optimization.cls_basic import CGLS
    from torchlops.optimization.cls_leastsquares import (
        NormalEquationsInversion,
        PreconditionedInversion,
        RegularizedInversion,
    )

    seen = []

    class CB(Callbacks):
        def on_setup_begin(self, solver, x0):
            seen.append(x0)

    Op = MatrixMult(torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    y = torch.ones(6, dtype=torch.float64)
    D = FirstDerivative(4, dtype=torch.float64)
    NormalEquationsInversion(Op, callbacks=[CB()]).solve(y, [D])
    RegularizedInversion(Op, callbacks=[CB()]).solve(y, [D])
    PreconditionedInversion(Op, callbacks=[CB()]).solve(y, Identity(4, dtype=torch.float64))
    assert seen == [None, None, None]
    x0 = torch.full((4,), 0.5, dtype=torch.float64)
    CGLS(Op, callbacks=[CB()]).solve(y, x0, niter=1)  # (positional)
    CGLS(Op, callbacks=[CB()]).solve(y, x0=x0, niter=1)
    assert seen[3] is x0 and seen[4] is x0


def test_cgls_istop_of_steps_taken_by_hand():
    """Steps short of setup's niter without a run: istop 3, as PyLops (and 2 once niter is reached)."""
    from pylops.optimization.cls_basic import CGLS as PCGLS

    from torchlops.optimization.cls_basic import CGLS

    A = np.random.default_rng(0).normal(size=(31, 11))
    for nsteps in (3, 10):
        p, t = PCGLS(pylops.MatrixMult(A)), CGLS(MatrixMult(torch.from_numpy(A)))
        xp, xt = p.setup(np.ones(31), niter=10, tol=0), t.setup(torch.ones(31, dtype=torch.float64), niter=10, tol=0)
        for _ in range(nsteps):
            xp, xt = p.step(xp), t.step(xt)
        p.finalize()
        t.finalize()
        assert int(t.istop) == p.istop == (3 if nsteps == 3 else 2)
    # a new setup forgets the previous solve's run(niter)
    t = CGLS(MatrixMult(torch.from_numpy(A)))
    t.run(t.setup(torch.ones(31, dtype=torch.float64), niter=10, tol=0), 2)
    x = t.setup(torch.ones(31, dtype=torch.float64), niter=10, tol=0)
    for _ in range(2):
        x = t.step(x)
    t.finalize()
    assert int(t.istop) == 3


def test_normal_equations_show_on_an_empty_batch():
    Op = MatrixMult(torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    x, istop = normal_equations_inversion(Op, torch.zeros(0, 6, dtype=torch.float64), None, show=True)
    assert x.shape == (0, 4) and istop.shape == (0,)


def test_nregs_without_epsnrs_weigh_one():
    """NRegs without epsNRs count with weight 1 (as Regs without epsRs; PyLops drops them)."""
    rng = np.random.default_rng(0)
    A, L = torch.from_numpy(rng.normal(size=(31, 11))), torch.diag(torch.arange(1.0, 12.0, dtype=torch.float64))
    y = A @ torch.ones(11, dtype=torch.float64)
    x1 = normal_equations_inversion(MatrixMult(A), y, None, NRegs=[MatrixMult(L)])[0]
    x2 = normal_equations_inversion(MatrixMult(A), y, None, NRegs=[MatrixMult(L)], epsNRs=[1.0])[0]
    x0 = normal_equations_inversion(MatrixMult(A), y, None)[0]
    torch.testing.assert_close(x1, x2)
    assert (x1 - x0).abs().max() > 0.1


@pytest.mark.parametrize("which", ["cg", "cgls", "lsqr", "nei", "ri"])
def test_implicit_solves_under_torch_func_transforms(which) -> None:
    """Inside vmap / grad / jacrev an implicit=True solve differentiates through its iterations
    (its own backward cannot be carried there: it raised); values and gradients equal
    implicit=False's."""
    g = torch.Generator().manual_seed(4)
    A = torch.randn(8, 5, generator=g, dtype=torch.float64)
    Op = tl.MatrixMult(A.T @ A + torch.eye(5, dtype=torch.float64)) if which == "cg" else tl.MatrixMult(A)
    R = tl.FirstDerivative(5, dtype=torch.float64)
    y0 = torch.randn(3, Op.shape[0], generator=g, dtype=torch.float64)

    def solve(y, implicit):
        kw = {"implicit": implicit}
        if which == "cg":
            return tl.cg(Op, y, niter=20, tol=0, **kw).x
        if which == "cgls":
            return tl.cgls(Op, y, niter=20, tol=0, **kw).x
        if which == "lsqr":
            return tl.lsqr(Op, y, niter=20, atol=0, btol=0, **kw).x
        if which == "nei":
            return tl.normal_equations_inversion(Op, y, [R], epsRs=[0.5], engine="pylops", niter=20, tol=0, **kw).x
        return tl.regularized_inversion(Op, y, [R], epsRs=[0.5], engine="pylops", niter=20, tol=0, **kw).x

    def loss(y, implicit):
        return (solve(y, implicit) ** 2).sum()

    for implicit in (True, False):
        vm = torch.func.vmap(lambda y, imp=implicit: solve(y, imp))(y0)
        torch.testing.assert_close(vm, solve(y0, False), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(torch.func.grad(lambda y: loss(y, True))(y0[0]),
                               torch.func.grad(lambda y: loss(y, False))(y0[0]), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(torch.func.jacrev(lambda y: solve(y, True))(y0[0]),
                               torch.func.jacrev(lambda y: solve(y, False))(y0[0]), rtol=1e-10, atol=1e-10)


def test_implicit_normal_equations_with_a_damp_tensor_gets_its_gradient() -> None:
    """cg's damp passed through normal_equations_inversion (a tensor) enters the implicit
    residual: its gradient equals the dense solve's (it was None)."""
    g = torch.Generator().manual_seed(6)
    A0 = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y0 = torch.randn(8, generator=g, dtype=torch.float64)
    w = torch.randn(5, generator=g, dtype=torch.float64)
    dr = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    xr = torch.linalg.solve(A0.T @ A0 + (0.2**2 + dr) * torch.eye(5, dtype=torch.float64), A0.T @ y0)
    (w * xr).sum().backward()
    d = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    x = tl.normal_equations_inversion(tl.MatrixMult(A0), y0, None, epsI=0.2, engine="pylops", niter=50, tol=0,
                                      damp=d, implicit=True).x
    (w * x).sum().backward()
    torch.testing.assert_close(d.grad, dr.grad, rtol=1e-9, atol=1e-12)


def _same_results(fast: tuple, slow: tuple, rtol: float, atol: float) -> None:
    """Two solves' outputs equal: tensors to the tolerances, everything else exactly."""
    for a, b in zip(fast, slow, strict=True):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
        else:
            assert a == b


@pytest.mark.parametrize("scipy_tests, cplx, calc_var", [(False, False, True), (True, False, True),
                                                          (False, True, True), (False, False, False)])
def test_lsqr_single_sample_host_scalars_equal_the_tensor_path(monkeypatch, scipy_tests, cplx, calc_var) -> None:
    """One double-precision sample on the CPU runs LSQR's step with every scalar a Python float
    (norms read with item: about 4x fewer tensor operations on small problems); every output
    equals the tensor path's (the model bitwise, through the steps after convergence where
    rounding differences grow), and a graph (a y that requires grad) keeps the tensor path."""
    from torchlops.optimization import cls_basic as C

    g = torch.Generator().manual_seed(12)
    dt = torch.complex128 if cplx else torch.float64
    A = MatrixMult(torch.randn(40, 25, generator=g, dtype=dt))
    y = torch.randn(40, generator=g, dtype=dt)
    cls = C._ScipyLSQR if scipy_tests else C.LSQR
    taken = []
    orig = C.LSQR._step_host

    def spy(self, *args):
        taken.append(1)
        return orig(self, *args)

    monkeypatch.setattr(C.LSQR, "_step_host", spy)

    def run():
        return cls(A).solve(y, x0=torch.full((25,), 0.1, dtype=dt), damp=0.3, atol=1e-10, btol=1e-10,
                            niter=30, calc_var=calc_var)

    fast = run()
    assert len(taken) == fast[2] > 20  # (every step)
    monkeypatch.setattr(C.LSQR, "_host_state", lambda self, *a: None)
    slow = run()
    # (math.sqrt rounds correctly where torch.sqrt may be an ulp off: equal to rounding)
    _same_results(fast, slow, rtol=1e-13, atol=1e-15)
    monkeypatch.undo()
    taken.clear()
    monkeypatch.setattr(C.LSQR, "_step_host", spy)
    yg = y.clone().requires_grad_()
    lsqr(A, yg, niter=5).x.abs().sum().backward()
    assert not taken and yg.grad is not None


def test_lsqr_float_path_reads_state_changed_between_steps() -> None:
    """The float path keeps its scalars from one step to the next only while the solver's
    attributes are the tensors it set: a state set by hand between steps is the one used (as
    the tensor path uses it), and a frozen sample goes on as frozen."""
    g = torch.Generator().manual_seed(5)
    A = MatrixMult(torch.randn(30, 12, generator=g, dtype=torch.float64))
    y = torch.randn(30, generator=g, dtype=torch.float64)
    out = []
    for inplace in (False, True):
        out = []
        for batch in (False, True):
            s = LSQR(A)
            x = s.setup(torch.stack([y, y]) if batch else y, niter=20, atol=0, btol=0)
            for i in range(8):
                if i == 4 and inplace:
                    s.phibar.mul_(0.5)
                    s.anorm.add_(1.0)
                elif i == 4:
                    s.phibar = s.phibar * 0.5
                    s.anorm = s.anorm + 1.0
                x = s.step(x)
            out.append((x[0] if batch else x, s.phibar[0] if batch else s.phibar, s.anorm.reshape(-1)[0]))
        for a, b in zip(*out, strict=True):
            torch.testing.assert_close(a.reshape(-1), b.reshape(-1), rtol=1e-13, atol=1e-15)
    for inplace in (False, True):
        s = LSQR(A)
        x = s.setup(y, niter=20, atol=0, btol=0)
        x = s.step(x)
        x = s.step(x)
        if inplace:
            s.istop[0] = 3  # (frozen by hand)
        else:
            s.istop = torch.full_like(s.istop, 3)
        x2 = s.step(x)
        assert torch.equal(x2, x) and int(s.istop) == 3 and int(s.iiters) == 2


def test_lsqr_float_path_keeps_the_operators_graph() -> None:
    """A state built without a graph and an operator whose tensor requires grad: the steps take
    the tensor path (norms read as floats would cut the graph through them)."""
    from torchlops.optimization import cls_basic as C

    g = torch.Generator().manual_seed(9)
    M0 = torch.randn(12, 6, generator=g, dtype=torch.float64)
    y = torch.randn(12, generator=g, dtype=torch.float64)
    grads = []
    for host in (True, False):
        M = M0.clone().requires_grad_()
        s = C.LSQR(MatrixMult(M))
        if not host:
            s._host_state = lambda *a: None
        with torch.no_grad():
            x = s.setup(y, niter=6, atol=0, btol=0)
        for _ in range(4):
            x = s.step(x)
        (gM,) = torch.autograd.grad(x.sum(), M)
        grads.append(gM)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-14)


def test_lsqr_single_sample_forward_mode_and_huge_values() -> None:
    """Forward-mode tangents go through the tensor path (the float path dropped them: 0.55 off);
    squares of huge values overflow to inf as tensors do (the float path raised OverflowError)."""
    import torch.autograd.forward_ad as fwAD

    g = torch.Generator().manual_seed(21)
    A = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = torch.randn(8, generator=g, dtype=torch.float64)
    t = torch.randn(8, generator=g, dtype=torch.float64)
    with fwAD.dual_level():
        x = lsqr(MatrixMult(A), fwAD.make_dual(y, t), niter=20, atol=0, btol=0).x
        tangent = fwAD.unpack_dual(x).tangent
    torch.testing.assert_close(tangent, torch.linalg.pinv(A) @ t, rtol=1e-10, atol=1e-12)
    s = 1e-157
    r1 = lsqr(MatrixMult(A * s), y, niter=20)
    r2 = lsqr(MatrixMult(A * s), torch.stack([y, y]), niter=20)
    assert int(r1.istop) == int(r2.istop[0])
    torch.testing.assert_close(r1.x * s, r2.x[0] * s, rtol=1e-10, atol=0)


@pytest.mark.parametrize("solver", ["CG", "CGLS"])
@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize("damp", [0.0, 0.3])
@pytest.mark.parametrize("stop", [False, True])
def test_cg_cgls_single_sample_host_floats_equal_the_tensor_path(monkeypatch, solver, cplx, damp, stop) -> None:
    """One double-precision sample on the CPU takes CG's and CGLS' step lengths as Python
    floats (half the tensor operations of a small problem's step); every output equals the
    tensor path's, the same step meets the tolerance, and gradients keep the tensor path."""
    from torchlops.optimization import cls_basic as C

    g = torch.Generator().manual_seed(31)
    dt = torch.complex128 if cplx else torch.float64
    M = torch.randn(12, 12, generator=g, dtype=dt)
    A = MatrixMult(M @ M.mH + 12 * torch.eye(12, dtype=dt)) if solver == "CG" else MatrixMult(M[:, :9])
    cls = getattr(C, solver)
    y = torch.randn(12, generator=g, dtype=dt)
    x0 = torch.full((A.shape[1],), 0.1, dtype=dt)
    taken = []
    orig = cls._step_host

    def spy(self, *args):
        taken.append(1)
        return orig(self, *args)

    monkeypatch.setattr(cls, "_step_host", spy)

    # (8 steps: short of machine precision, where more steps would only compare rounding noise;
    # a tolerance met a step or more before the last)
    tol = (1e-4 if solver == "CG" else 1e-1) if stop else 0.0

    def run(**kw):
        return cls(A).solve(y, x0=x0, niter=8, damp=damp, tol=tol, **kw)

    fast = run()
    iiter = fast[-2 if solver == "CG" else 2]
    assert len(taken) == iiter > 3 and (iiter < 8) == stop
    monkeypatch.setattr(cls, "_host_floats", lambda self, *a: False)
    slow = run()
    # (to rounding: the fused kernels of the tensor path sum in another order, and Krylov
    # steps near the last of n amplify the difference: 2e-15 after 5 of 9 steps, 2e-12 after 8)
    _same_results(fast, slow, rtol=1e-10, atol=1e-13)
    monkeypatch.undo()
    taken.clear()
    monkeypatch.setattr(cls, "_step_host", spy)
    # a graph through y, or through the operator's own tensor: the tensor path, and gradients
    yg = y.clone().requires_grad_()
    fn = cg if solver == "CG" else cgls
    fn(A, yg, niter=5, damp=damp).x.abs().sum().backward()
    W = torch.nn.Parameter(A.A.detach().clone())
    Ap = MatrixMult(W)
    fn(Ap, y, niter=5, damp=damp).x.abs().sum().backward()
    assert not taken and yg.grad is not None and W.grad is not None and W.grad.abs().sum() > 0
    # (a batch of two: the tensor path, with the same result for each sample)
    both = fn(A, torch.stack([y, y]), x0=x0, niter=8, damp=damp, tol=tol).x
    torch.testing.assert_close(both[1], fast[0], rtol=1e-10, atol=1e-13)
    assert not taken


def test_cg_cgls_single_sample_huge_values_overflow_as_tensors() -> None:
    """The float path squares norms by a product: a huge residual gives inf as the tensor
    path does (``**`` raised OverflowError)."""
    A = MatrixMult(torch.eye(3, dtype=torch.float64) * 1e-160)
    y = torch.tensor([1e160, 0.0, 1.0], dtype=torch.float64)
    for fn in (cg, cgls):
        one = fn(A, y, niter=3, tol=0)
        two = fn(A, torch.stack([y, y]), niter=3, tol=0)
        torch.testing.assert_close(one.x, two.x[0], equal_nan=True)


def test_solver_functions_take_numpy_integer_counts_as_the_class_api() -> None:
    """``niter`` as a NumPy integer (as PyLops takes it) in the function API; a fraction is a
    TypeError there as in the classes (it was a ValueError in one, refused NumPy ints too)."""
    g = torch.Generator().manual_seed(3)
    T = MatrixMult(torch.randn(6, 4, generator=g, dtype=torch.float64))
    y = torch.randn(6, generator=g, dtype=torch.float64)
    S = MatrixMult(T.A.T @ T.A)
    for fn, op, data in ((cgls, T, y), (lsqr, T, y), (cg, S, T.A.T @ y)):
        a = fn(op, data, niter=np.int64(3)).x
        b = fn(op, data, niter=3).x
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        with pytest.raises(TypeError, match="niter must be an int"):
            fn(op, data, niter=2.0)
    a = regularized_inversion(T, y, None, engine="pylops", niter=np.int64(3)).x
    torch.testing.assert_close(a, cgls(T, y, niter=3).x, rtol=0, atol=0)


def test_regularized_inversion_keeps_complex_dataregs_of_a_real_problem() -> None:
    """Complex data of a regulariser make the stacked system complex (as in
    normal_equations_inversion); a cast to the real y's dtype dropped the imaginary part
    (0.11 off the closed form)."""
    g = torch.Generator().manual_seed(1)
    A = torch.randn(8, 5, generator=g, dtype=torch.float64)
    y = torch.randn(8, generator=g, dtype=torch.float64)
    R = torch.randn(4, 5, generator=g, dtype=torch.complex128)
    d = torch.randn(4, generator=g, dtype=torch.complex128)
    Ac = A.to(R.dtype)
    xc = torch.linalg.solve(Ac.T @ Ac + 0.25 * R.mH @ R, Ac.T @ y.to(R.dtype) + 0.25 * R.mH @ d)
    for kw in ({}, {"engine": "pylops", "niter": 60, "tol": 0}):
        x = regularized_inversion(MatrixMult(A), y, [MatrixMult(R)], epsRs=[0.5], dataregs=[d], **kw).x
        assert x.dtype == torch.complex128
        torch.testing.assert_close(x, xc, rtol=1e-7, atol=1e-8)
    xn = normal_equations_inversion(MatrixMult(A), y, [MatrixMult(R)], epsRs=[0.5], dataregs=[d]).x
    torch.testing.assert_close(xn, xc, rtol=1e-7, atol=1e-8)


def test_regularised_solvers_memory_usage_takes_pylops_nopregs() -> None:
    """``memory_usage(nopRegs, show, unit)`` as PyLops' NormalEquationsInversion and
    RegularizedInversion (the count is not needed: the tensors held are measured)."""
    from torchlops.optimization.cls_leastsquares import NormalEquationsInversion, RegularizedInversion

    T = MatrixMult(torch.randn(6, 4, dtype=torch.float64))
    y = torch.randn(6, dtype=torch.float64)
    for cls in (NormalEquationsInversion, RegularizedInversion):
        s = cls(T)
        s.setup(y, [T.H @ T]) if cls is RegularizedInversion else s.setup(y, [T.H @ T], epsRs=[0.5])
        kb = s.memory_usage((4,), False, "KB")
        assert kb == s.memory_usage(unit="KB") == s.memory_usage(nopRegs=(4,), unit="B") / 1024 > 0


def test_cgls_istop_after_a_run_of_no_steps_counts_that_run() -> None:
    """``run(x, 0)`` reached its count: ``istop`` 2, as PyLops (it read 0 as no run and
    compared with setup's niter: 3)."""
    from torchlops.optimization.cls_basic import CGLS

    T = MatrixMult(torch.randn(6, 4, dtype=torch.float64))
    s = CGLS(T)
    x = s.setup(torch.randn(6, dtype=torch.float64), niter=10, tol=0)
    x = s.run(x, 0)
    s.finalize()
    assert int(s.istop) == 2 and s.iiter == 0


def test_implicit_backward_warns_when_the_normal_matrix_is_singular() -> None:
    """An undamped operator with a null space (wide matrix, Restriction, FirstDerivative's
    constants) makes the implicit backward's adjoint system inconsistent: CG diverged (1e16,
    NaN) or stalled (0) silently. The backward now says so; a full-rank or damped problem's
    backward stays silent and equals the closed form."""
    import warnings

    torch.manual_seed(0)
    f64 = torch.float64
    sing = [MatrixMult(torch.randn(4, 8, dtype=f64)), tl.Restriction(10, torch.tensor([0, 2, 3, 5, 7, 9]), dtype=f64),
            tl.FirstDerivative(16, dtype=f64)]
    for Op in sing:
        for solver, kw in ((cgls, {"tol": 0}), (lsqr, {"atol": 0, "btol": 0})):
            y = torch.randn(Op.shape[0], dtype=f64, requires_grad=True)
            x = solver(Op, y, niter=50, implicit=True, **kw).x
            with pytest.warns(RuntimeWarning, match="adjoint solve"):
                torch.autograd.grad(x.sum(), y)
    A = torch.randn(8, 4, dtype=f64)
    for damp, Op in ((0.0, MatrixMult(A)), (0.5, sing[0])):
        M = Op.todense()
        y = torch.randn(M.shape[0], dtype=f64, requires_grad=True)
        w = torch.randn(M.shape[1], dtype=f64)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            (g,) = torch.autograd.grad((w * cgls(Op, y, niter=60, damp=damp, tol=0, implicit=True).x).sum(), y)
        gc = M @ torch.linalg.solve(M.T @ M + damp**2 * torch.eye(M.shape[1], dtype=f64), w)
        torch.testing.assert_close(g, gc, rtol=1e-8, atol=1e-10)


def test_cg_cgls_float_path_entered_after_setup_and_in_the_rows_dtypes() -> None:
    """The float path can start at any step (a setup while y required grad, a run under
    no_grad: its thresholds were read before they existed), and CGLS' costs keep the rows'
    dtype where the adjoint answers in a lower precision (they were float32, as that adjoint)."""
    from torchlops.linearoperator import LinearOperator
    from torchlops.optimization.cls_basic import CG, CGLS

    g = torch.Generator().manual_seed(0)
    M = torch.randn(8, 8, generator=g, dtype=torch.float64)
    for cls, A in ((CG, M @ M.T + 8 * torch.eye(8, dtype=torch.float64)), (CGLS, M)):
        y = torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
        s = cls(MatrixMult(A))
        x = s.setup(y, niter=5, tol=1e-10)
        with torch.no_grad():
            x = s.run(x)
        ref = cls(MatrixMult(A)).solve(torch.stack([y.detach()] * 2), niter=5, tol=1e-10)[0]
        assert s.iiter == 5
        torch.testing.assert_close(x, ref[0], rtol=1e-12, atol=1e-14)

    class CastAdj(LinearOperator):
        def __init__(self, M):
            super().__init__(dims=(M.shape[1],), dimsd=(M.shape[0],), dtype=torch.float64)
            self.M = M

        def _matvec(self, x):
            return x @ self.M.T.to(x.dtype)

        def _rmatvec(self, y):
            return (y @ self.M.to(y.dtype)).to(torch.float32)

    Op = CastAdj(torch.randn(12, 8, generator=g, dtype=torch.float64))
    y = torch.randn(12, generator=g, dtype=torch.float64)
    for damp in (0.0, 0.3):
        one = cgls(Op, y, niter=6, damp=damp, tol=0)
        two = cgls(Op, torch.stack([y, y]), niter=6, damp=damp, tol=0)
        # (r1norm = ||A^H r||^2 in the adjoint's float32 when undamped, on both paths)
        assert one.r1norm.dtype == two.r1norm.dtype == (torch.float32 if damp == 0 else torch.float64)
        torch.testing.assert_close(one.r1norm, two.r1norm[0], rtol=1e-5, atol=0)
        for a, b in ((one.r2norm, two.r2norm[0]), (one.cost, two.cost[:, 0])):
            assert a.dtype == b.dtype == torch.float64
            torch.testing.assert_close(a, b, rtol=1e-6, atol=0)  # (the float32 adjoint: rounding)


def test_normal_equations_scipy_engine_solves_indefinite_systems_as_scipy_cg():
    """engine="scipy" (the default) runs CG with scipy's step length, p^H A p with its sign: a
    symmetric indefinite normal system (an indefinite NRegs term, a Weight with negative entries)
    converges as in PyLops (scipy), where the modulus (PyLops' own cg, engine="pylops") does not."""
    import pylops.optimization.leastsquares as pls

    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 30))
    y = A @ rng.standard_normal(30)
    P, T = pylops.MatrixMult(A), MatrixMult(torch.from_numpy(A))
    d = -np.linspace(0, 60, 30)
    exact = np.linalg.solve(A.T @ A + np.diag(d), A.T @ y)
    for it in (5, 100):
        xp, info = pls.normal_equations_inversion(P, y, None, NRegs=[pylops.Diagonal(d)], epsNRs=[1.0],
                                                  maxiter=it, rtol=1e-10)
        xt, istop = normal_equations_inversion(T, torch.from_numpy(y), None, NRegs=[Diagonal(torch.from_numpy(d))],
                                               epsNRs=[1.0], maxiter=it, rtol=1e-10)
        assert np.abs(xt.numpy() - xp).max() <= 1e-8 * np.abs(xp).max() and int(istop) == info
    assert np.abs(xt.numpy() - exact).max() < 1e-8
    # (implicit differentiation: the adjoint solve steps as the forward, the unrolled gradient)
    grads = []
    for implicit in (False, True):
        yt = torch.from_numpy(y).requires_grad_()
        xi, _ = normal_equations_inversion(T, yt, None, NRegs=[Diagonal(torch.from_numpy(d))], epsNRs=[1.0],
                                           maxiter=100, rtol=1e-12, implicit=implicit)
        grads.append(torch.autograd.grad(xi.square().sum(), yt)[0])
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-6, atol=1e-8 * float(grads[0].abs().max()))
    w = np.linspace(-1, 2, 40)
    xp, _ = pls.normal_equations_inversion(P, y, None, Weight=pylops.Diagonal(w), maxiter=100, rtol=1e-10)
    xt, _ = normal_equations_inversion(T, torch.from_numpy(y), None, Weight=Diagonal(torch.from_numpy(w)),
                                       maxiter=100, rtol=1e-10)
    assert np.abs(xt.numpy() - xp).max() <= 1e-7 * np.abs(xp).max()
    with pytest.raises(ValueError, match="NRegs and epsNRs must have the same size"):
        normal_equations_inversion(T, torch.from_numpy(y), None, NRegs=[Diagonal(torch.from_numpy(d))],
                                   epsNRs=[1.0, 2.0])


def test_implicit_solves_under_forward_mode_ad_run_through_their_iterations():
    """Under torch.autograd.forward_ad (no rule for the implicit solve) an implicit=True solve
    and DataConsistency(implicit=True) carry tangents through their iterations, as
    implicit=False (they raised that the Function must implement jvp)."""
    import torch.autograd.forward_ad as fwad

    from torchlops.nn import DataConsistency
    from torchlops.optimization.basic import cgls, lsqr

    dt = torch.float64
    g = torch.Generator().manual_seed(0)
    A = tl.MatrixMult(torch.randn(8, 5, dtype=dt, generator=g))
    y, yt = torch.randn(8, dtype=dt, generator=g), torch.randn(8, dtype=dt, generator=g)
    z = torch.randn(5, dtype=dt, generator=g)
    for solve in (lambda v, imp: cgls(A, v, niter=10, damp=0.1, implicit=imp).x,
                  lambda v, imp: lsqr(A, v, niter=10, damp=0.1, implicit=imp).x,
                  lambda v, imp: DataConsistency(A, lam=0.5, implicit=imp).double()(z, v)):
        tangents = []
        for imp in (True, False):
            with fwad.dual_level():
                tangents.append(fwad.unpack_dual(solve(fwad.make_dual(y, yt), imp)).tangent)
        assert tangents[0] is not None
        torch.testing.assert_close(tangents[0], tangents[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["cg", "cgls", "lsqr", "regularized", "normal"])
def test_implicit_solves_of_function_operators_with_autograd_learn_their_closures(name):
    """A FunctionOperator(autograd=True) whose functions close over a learnable tensor: an
    implicit=True solve gives that tensor the gradient of the closed form (it differentiates
    through the iterations: the implicit backward cannot see such tensors; cg's gradient was
    15 off, the others raised 'does not require grad')."""
    D = torch.float64
    y = torch.randn(6, dtype=D, generator=torch.Generator().manual_seed(0))
    w0 = torch.rand(6, dtype=D, generator=torch.Generator().manual_seed(1)) + 0.5
    wr = w0.clone().requires_grad_()
    (wr * y / (wr**2 + 0.25)).pow(2).sum().backward()  # x = (A^H A + 0.25)^-1 A^H y, A = diag(w)
    w = torch.nn.Parameter(w0.clone())
    F = tl.FunctionOperator(lambda x: w * x, lambda v: w * v, 6, autograd=True, dtype=D)
    if name == "cg":
        x = cg(F.H @ F, F.H @ y, niter=30, damp=0.25, tol=0, implicit=True).x
    elif name == "cgls":
        x = cgls(F, y, niter=30, damp=0.5, tol=0, implicit=True).x
    elif name == "lsqr":
        x = lsqr(F, y, niter=30, damp=0.5, implicit=True).x
    elif name == "regularized":
        x = regularized_inversion(F, y, [Identity(6, dtype=D)], epsRs=[0.5], implicit=True, niter=30)[0]
    else:
        x = normal_equations_inversion(F, y, None, epsI=0.5, implicit=True, niter=30, engine="pylops", tol=0)[0]
    x.pow(2).sum().backward()
    torch.testing.assert_close(w.grad, wr.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["regularized", "normal"])
def test_regularisation_weights_without_regularisers_are_ignored(solver):
    """epsRs or dataregs given with Regs=None (regularisation switched off) are ignored, as
    PyLops (a ValueError before); with Regs given their sizes are still checked."""
    import pylops.optimization.leastsquares as pls

    rng = np.random.default_rng(0)
    A, y = rng.standard_normal((15, 10)), rng.standard_normal(15)
    f = {"regularized": (regularized_inversion, pls.regularized_inversion),
         "normal": (normal_equations_inversion, pls.normal_equations_inversion)}[solver]
    for extra in ({"epsRs": [0.5]}, {"dataregs": [np.zeros(10)]}):
        xp = f[1](pylops.MatrixMult(A), y, None, **extra)[0]
        ex = {k: [torch.from_numpy(v) if isinstance(v, np.ndarray) else v for v in vs] for k, vs in extra.items()}
        xt = f[0](MatrixMult(torch.from_numpy(A)), torch.from_numpy(y), None, **ex)[0]
        np.testing.assert_allclose(xt.numpy(), xp, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="must have the same size"):
        f[0](MatrixMult(torch.from_numpy(A)), torch.from_numpy(y), [Identity(10, dtype=torch.float64)],
             epsRs=[1.0, 2.0])
