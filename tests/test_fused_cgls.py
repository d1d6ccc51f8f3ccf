"""The fused CGLS steps (torchlops::cgls_residual / cgls_direction, csrc/*/cgls_*): the
kernels equal the tensor ops they replace, check their arguments, pass opcheck; CGLS with them
equals CGLS with the tensor ops (models, step counts, cost histories), and falls back where
they do not apply."""

from __future__ import annotations

import pytest
import torch

import torchlops as tl
from tests.fused import fused_vs_plain
from torchlops import _ops
from torchlops.optimization.cls_basic import CGLS

pytestmark = pytest.mark.skipif(not (_ops._CGLS_CPU or _ops._CGLS_CUDA), reason="the fused CGLS kernels are not built")

DEVICES = ["cpu"] + (["cuda"] if _ops._CGLS_CUDA and torch.cuda.is_available() else [])
DEVS = [pytest.param(d, marks=pytest.mark.cuda) if d == "cuda" else d for d in DEVICES]
DTYPES = [torch.float32, torch.float64, torch.complex64, torch.complex128]


def _rtol(dtype: torch.dtype) -> float:
    return 2e-6 if dtype in (torch.float32, torch.complex64) else 1e-13


def _rand(shape, dtype, device, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).to(device)


def _masked_div(num, den, act):
    ok = act & (den != 0)
    return torch.where(ok, num / torch.where(ok, den, 1.0), 0.0)


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("n", [37, 70001], ids=["short", "long-rows"])
def test_cgls_kernels_equal_tensor_ops(device, dtype, n) -> None:
    """cgls_residual: a = kold / qn^2 on active rows with qn != 0 (else 0), s - a q and its
    per-row norm; cgls_direction: x + a c, r + beta c (beta = rn^2 / kold likewise), the new
    kold, a row with act False keeping c exactly when asked; rows longer than one work chunk."""
    B = 4
    real = torch.empty((), dtype=dtype).real.dtype
    s, q, x, c, r = (_rand((B, n), dtype, device, k) for k in range(5))
    kold = torch.tensor([2.0, 3.0, 0.0, 5.0], dtype=real, device=device)
    qn = torch.tensor([1.5, 0.7, 2.0, 0.0], dtype=real, device=device)  # (row 3: qn = 0)
    rn = torch.tensor([0.4, 1.1, 0.9, 0.3], dtype=real, device=device)
    act = torch.tensor([True, False, True, True], device=device)
    out, snorm, a = _ops.cgls_residual(s, q, kold, qn, act)
    a_ref = _masked_div(kold, qn * qn, act)
    assert a.dtype == snorm.dtype == real and a.shape == snorm.shape == (B,)
    torch.testing.assert_close(a, a_ref, rtol=_rtol(dtype), atol=0)
    assert float(a[1]) == 0.0 and float(a[2]) == 0.0 and float(a[3]) == 0.0
    ref = s - a_ref[:, None] * q
    torch.testing.assert_close(out, ref, rtol=_rtol(dtype), atol=_rtol(dtype) * 10)
    torch.testing.assert_close(snorm, torch.linalg.vector_norm(ref, dim=-1), rtol=10 * _rtol(dtype), atol=0)
    k = rn * rn
    beta = _masked_div(k, kold, act)
    assert float(beta[2]) == 0.0  # (kold = 0)
    for keep in (True, False):
        xo, co, ko = _ops.cgls_direction(x, c, r, a, rn, kold, act, keep)
        torch.testing.assert_close(xo, x + a[:, None] * c, rtol=_rtol(dtype), atol=_rtol(dtype) * 10)
        cref = r + beta[:, None] * c
        if keep:
            cref = torch.where(act[:, None], cref, c)
            assert torch.equal(co[1], c[1])  # a frozen row keeps its direction bit for bit
        torch.testing.assert_close(co, cref, rtol=_rtol(dtype), atol=_rtol(dtype) * 10)
        torch.testing.assert_close(ko, torch.where(act, k, kold), rtol=_rtol(dtype), atol=0)
    # the inputs are left as they were (new outputs)
    assert not torch.equal(out, s) and not torch.equal(xo, x)


@pytest.mark.parametrize("device", DEVS)
def test_cgls_kernels_empty_and_nan(device) -> None:
    """No rows, empty rows (a zero norm, the per-row outputs still written), NaN staying NaN
    in the norm of its row only."""
    f = torch.float64
    for B, n in ((0, 5), (2, 0)):
        z = torch.zeros(B, n, dtype=f, device=device)
        one = torch.ones(B, dtype=f, device=device)
        act = torch.ones(B, dtype=torch.bool, device=device)
        out, snorm, a = _ops.cgls_residual(z, z, 2 * one, one, act)
        assert out.shape == (B, n) and snorm.shape == a.shape == (B,)
        assert bool((snorm == 0).all()) and bool((a == 2).all())
        xo, co, ko = _ops.cgls_direction(z, z, z, a, 3 * one, one, act, True)
        assert xo.shape == co.shape == (B, n) and bool((ko == 9).all())
    s = torch.ones(2, 9, dtype=f, device=device)
    s[1, 4] = float("nan")
    one = torch.ones(2, dtype=f, device=device)
    out, snorm, _ = _ops.cgls_residual(s, torch.zeros_like(s), one, one, torch.ones(2, dtype=torch.bool, device=device))
    assert float(snorm[0]) == 3.0 and bool(torch.isnan(snorm[1]))


def test_cgls_kernels_check_their_arguments() -> None:
    s = torch.randn(2, 5, dtype=torch.float64)
    a = torch.ones(2, dtype=torch.float64)
    act = torch.ones(2, dtype=torch.bool)
    with pytest.raises(RuntimeError, match=r"q must have shape \[2, 5\]"):
        _ops.cgls_residual(s, s[:, :4], a, a, act)
    with pytest.raises(RuntimeError, match="q must be Double, got Float"):
        _ops.cgls_residual(s, s.float(), a, a, act)
    with pytest.raises(RuntimeError, match="kold must be Double, got ComplexDouble"):
        _ops.cgls_residual(s, s, a.to(torch.complex128), a, act)
    with pytest.raises(RuntimeError, match=r"qn must hold one value per row \(2\)"):
        _ops.cgls_residual(s, s, a, torch.ones(3, dtype=torch.float64), act)
    with pytest.raises(RuntimeError, match="expected float32, float64, complex64 or complex128 rows"):
        _ops.cgls_residual(s.long(), s.long(), a, a, act)
    with pytest.raises(RuntimeError, match=r"expected \(B, n\) rows"):
        _ops.cgls_residual(s[0], s[0], a, a, act)
    with pytest.raises(RuntimeError, match="act must be a bool tensor of one value per row"):
        _ops.cgls_direction(s, s, s, a, a, a, a, True)
    with pytest.raises(RuntimeError, match="rn must be Double"):
        _ops.cgls_direction(s, s, s, a, a.float(), a, act, False)


@pytest.mark.parametrize("device", DEVS)
def test_cgls_kernels_opcheck(device) -> None:
    for dtype in (torch.float64, torch.complex64):
        real = torch.empty((), dtype=dtype).real.dtype
        s, q = _rand((3, 6), dtype, device, 1), _rand((3, 6), dtype, device, 2)
        a, b = torch.rand(3, dtype=real).to(device), torch.rand(3, dtype=real).to(device)
        act = torch.tensor([True, False, True], device=device)
        torch.library.opcheck(torch.ops.torchlops.cgls_residual.default, (s, q, a, b, act))
        for keep in (True, False):
            torch.library.opcheck(torch.ops.torchlops.cgls_direction.default, (s, q, s, a, b, a, act, keep))


def _fused_vs_torch(monkeypatch, run):
    """``run()`` with the fused kernels (counting their calls), then with the tensor ops."""
    return fused_vs_plain(monkeypatch, run, ("cgls_residual", "cgls_direction"), "cgls_fusable")


@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex128], ids=str)
@pytest.mark.parametrize("tol", [0.0, 1e-6])
@pytest.mark.parametrize("x0", [False, True], ids=["x0=0", "x0"])
def test_cgls_with_fused_steps_equals_tensor_ops(monkeypatch, device, dtype, tol, x0) -> None:
    """A batch of 4 (one sample with y = 0, which stops at once with tol > 0; the others at
    different steps): models, per-sample step counts, istop, r1norm / r2norm and the cost
    history of the fused steps equal the tensor ops'."""
    g = torch.Generator().manual_seed(3)
    A = torch.randn(31, 11, generator=g, dtype=torch.float64)
    Op = tl.MatrixMult(A.to(dtype)).to(device)
    scale = torch.tensor([[1.0], [1e-3], [0.0], [10.0]])
    Y = (torch.randn(4, 31, generator=g, dtype=torch.float64) * scale).to(dtype).to(device)
    X0 = (0.1 * torch.randn(4, 11, generator=g, dtype=torch.float64) * scale).to(dtype).to(device) if x0 else None

    # (a well-conditioned system and fewer steps than unknowns: past that, or on an
    # ill-conditioned one, CGLS amplifies rounding, and norms summed in double and in the
    # working precision part ways)
    niter = 6

    def run():
        s = CGLS(Op)
        x, istop, iiter, r1, r2, cost = s.solve(Y, x0=X0, niter=niter, tol=tol)
        return x, istop, iiter, r1, r2, cost, s.iiters.clone()

    fused, plain, calls = _fused_vs_torch(monkeypatch, run)
    assert calls["cgls_residual"] == calls["cgls_direction"] == plain[2] > 0
    rtol = 1e-4 if dtype == torch.float32 else 1e-10
    assert fused[2] == plain[2] and torch.equal(fused[6], plain[6]) and torch.equal(fused[1], plain[1])
    if tol > 0 and dtype != torch.float32:
        assert len(set(plain[6].tolist())) > 1  # the samples stopped at different steps
    for a, b in zip((fused[0], fused[3], fused[4], fused[5]), (plain[0], plain[3], plain[4], plain[5])):
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * float(b.abs().max()))


def test_cgls_fused_steps_not_taken_where_they_do_not_apply(monkeypatch) -> None:
    """Damping, a gradient through the iterations (unrolled), and an adjoint answering in
    another dtype take the tensor ops; the results equal the fused-free run."""
    A = torch.randn(12, 7, dtype=torch.float64)
    y = torch.randn(12, dtype=torch.float64)
    _, _, calls = _fused_vs_torch(monkeypatch, lambda: tl.cgls(tl.MatrixMult(A), y, niter=5, damp=0.3, tol=0).x)
    assert calls == {"cgls_residual": 0, "cgls_direction": 0}

    yg = y.clone().requires_grad_()

    def grad():
        x = tl.cgls(tl.MatrixMult(A), yg, niter=5, tol=0).x
        return torch.autograd.grad(x.square().sum(), yg)[0]

    gf, gt, calls = _fused_vs_torch(monkeypatch, grad)
    assert calls == {"cgls_residual": 0, "cgls_direction": 0} and torch.equal(gf, gt) and bool(gf.abs().sum() > 0)
    # an operator declared float32 whose adjoint answers in float64 after its first call (the
    # setup's): the steps start fused and the direction update falls back to the tensor ops
    def make_op():
        n = [0]

        def adj(r):
            n[0] += 1
            return (r.double() @ A) if n[0] > 1 else (r.double() @ A).float()

        return tl.FunctionOperator(lambda x: (x.double() @ A.T).float(), adj, 12, 7, dtype=torch.float32)

    fused, plain, calls = _fused_vs_torch(monkeypatch, lambda: tl.cgls(make_op(), y.float(), niter=4, tol=0).x)
    assert calls["cgls_residual"] == 1 and calls["cgls_direction"] == 0
    torch.testing.assert_close(fused, plain)
    # an adjoint answering below the forward's precision: the first step promotes the vectors
    # to float64 but kold stays float32 (setup's), so the steps keep the tensor ops
    for dt, ydt in ((torch.float32, torch.float64), (torch.complex64, torch.complex128)):
        Ac = A.to(ydt)
        Op = tl.FunctionOperator(lambda x, Ac=Ac: x.to(Ac.dtype) @ Ac.T, lambda r, Ac=Ac, dt=dt: (r.to(Ac.dtype) @ Ac).to(dt),
                                 12, 7, dtype=dt)
        fused, plain, calls = _fused_vs_torch(monkeypatch, lambda Op=Op, ydt=ydt: tl.cgls(Op, y.to(ydt), niter=4, tol=0).x)
        assert calls == {"cgls_residual": 0, "cgls_direction": 0} and fused.dtype == ydt
        torch.testing.assert_close(fused, plain)


@pytest.mark.parametrize("device", DEVS)
def test_cgls_laplacian_fused_matches_plain_torch(device) -> None:
    """CGLS on a (small) Laplacian system through the stencil kernels and the fused steps
    equals a plain-torch CGLS written out here, float64."""
    n = 48
    L = tl.Laplacian((n, n), dtype=torch.float64).to(device)
    g = torch.Generator().manual_seed(0)
    xt = torch.randn(n, n, generator=g, dtype=torch.float64).to(device)
    y = L @ xt
    x = tl.cgls(L, y, niter=30, tol=0).x
    # plain CGLS
    xr = torch.zeros_like(xt)
    s = y.clone()
    r = L.H @ s
    c = r.clone()
    k = r.square().sum()
    for _ in range(30):
        q = L @ c
        a = k / q.square().sum()
        xr = xr + a * c
        s = s - a * q
        r = L.H @ s
        k1 = r.square().sum()
        c = r + (k1 / k) * c
        k = k1
    torch.testing.assert_close(x, xr, rtol=1e-9, atol=1e-9 * float(xr.abs().max()))


# ---------------------------------------------------------------------------- A c with its norm
NORM = pytest.mark.skipif(not (_ops._NORM_CPU or _ops._NORM_CUDA), reason="the stencil-and-norm op is not built")


@pytest.fixture
def norm_calls(monkeypatch) -> list[bool]:
    """The calls of _ops.band_with_norm, in order: whether each took the op (not None)."""
    calls: list[bool] = []
    real = _ops.band_with_norm

    def counted(*a):
        out = real(*a)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_ops, "band_with_norm", counted)
    return calls


@NORM
@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_stencil_norm_op(device, dtype) -> None:
    """stencil_norm == (stencil, the norm of each output sample) for both directions, any
    dtype, batches of 0 to 3; opcheck (no autograd: it is called below autograd)."""
    L = tl.Laplacian((6, 8), edge=True, kind="forward")
    spec, axes, scales = list(L._spec), [0, 1], [1.0, 0.5]
    for B in (3, 1, 0):
        x = _rand((B, 6, 8), dtype, device, B)
        for adjoint in (False, True):
            y, n = torch.ops.torchlops.stencil_norm(x, axes, scales, spec, adjoint)
            want = torch.ops.torchlops.stencil(x, axes, scales, spec, None, adjoint)
            assert n.shape == (B,) and n.dtype == want.real.dtype and n.device == x.device
            torch.testing.assert_close(y, want, rtol=_rtol(dtype), atol=_rtol(dtype))
            torch.testing.assert_close(n, torch.linalg.vector_norm(want.reshape(B, 48), dim=-1), rtol=_rtol(dtype),
                                       atol=0)
    torch.library.opcheck(torch.ops.torchlops.stencil_norm.default, (_rand((2, 6, 8), dtype, device, 9), axes, scales,
                                                                     spec, True))
    with pytest.raises(RuntimeError, match="expected a floating or complex tensor"):
        torch.ops.torchlops.stencil_norm(torch.ones(2, 6, 8, dtype=torch.int64, device=device), axes, scales, spec,
                                         False)


@NORM
def test_flat_norm_of_operators(monkeypatch, norm_calls) -> None:
    """_flat_norm: the stencil operators take the op where band_with_norm allows it (ext
    engine, rows needing no promotion, nothing needing a graph, the op built,
    TORCHLOPS_FUSED_NORMS not 0); other operators, and those cases, give the output and then
    its norm; both the same values."""
    f64 = torch.float64
    x = torch.randn(3, 40, dtype=f64)
    ops = [tl.FirstDerivative((5, 8), axis=1, edge=True, dtype=f64), tl.SecondDerivative((5, 8), axis=0, sampling=0.3),
           tl.Laplacian((5, 8), weights=(1.0, 2.0), dtype=f64), tl.MatrixMult(torch.randn(40, 40, dtype=f64)),
           tl.Laplacian((5, 8), engine="torch", dtype=f64)]
    for k, Op in enumerate(ops):
        for adjoint in (False, True):
            norm_calls.clear()
            y, n = Op._flat_norm(x, adjoint)  # (SecondDerivative is float32: float64 rows need no cast)
            assert norm_calls == ([True] if k < 3 else [] if k == 3 else [False])
            want = Op._flat(x, adjoint)
            torch.testing.assert_close(y, want, rtol=1e-14, atol=1e-14)
            torch.testing.assert_close(n, torch.linalg.vector_norm(want, dim=-1), rtol=1e-14, atol=0)
    L = ops[2]
    norm_calls.clear()
    y, n = L._flat_norm(x.float(), False)  # (float32 rows, a float64 operator: promoted, no op)
    assert norm_calls == [] and y.dtype == n.dtype == f64
    assert L._apply_norm(x.reshape(3, 5, 8).requires_grad_(), False) is None
    with torch.no_grad():
        assert L._apply_norm(x.reshape(3, 5, 8).requires_grad_(), False) is not None
    monkeypatch.setattr(_ops, "FUSED_NORMS", False)
    assert L._apply_norm(x.reshape(3, 5, 8), False) is None


@NORM
@pytest.mark.parametrize("device", DEVS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex128], ids=str)
def test_cgls_with_stencil_norms_equals_without(monkeypatch, norm_calls, device, dtype) -> None:
    """A fused CGLS step on a stencil operator takes A^H s and A c with their norms from one op
    call each; the solve equals the one with the norms computed apart."""
    L = tl.Laplacian((20, 12), weights=(1.0, 0.5), edge=True, dtype=dtype).to(device)
    y = (L @ _rand((3, 20, 12), dtype, device, 4)).contiguous()
    fused = tl.cgls(L, y, niter=7, tol=0)
    assert norm_calls == [True] * 14
    monkeypatch.setattr(_ops, "FUSED_NORMS", False)
    plain = tl.cgls(L, y, niter=7, tol=0)
    assert norm_calls == [True] * 14 + [False] * 14
    rtol = 1e-4 if dtype == torch.float32 else 1e-10
    for a, b in ((fused.x, plain.x), (fused.cost, plain.cost), (fused.r1norm, plain.r1norm)):
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * float(b.abs().max()))


@NORM
def test_cgls_mixing_fused_and_tensor_steps(monkeypatch) -> None:
    """Steps alternating between the fused kernels and the tensor ops (the cached ||A c|| is used
    only for the q it came with) equal a solve with the tensor ops alone."""
    L = tl.Laplacian((16, 12), edge=True, dtype=torch.float64)
    y = L @ _rand((2, 16, 12), torch.float64, "cpu", 5)
    real = _ops.cgls_fusable
    pattern = iter([True, False, True, True, False, True, False, False, True] * 2)
    taken = []

    def alternating(*t):
        ok = real(*t) and next(pattern)
        taken.append(ok)
        return ok

    def solve():
        s = CGLS(L)
        x = s.setup(y, niter=9, tol=0)
        for _ in range(9):
            x = s.step(x)
        s.finalize()
        return x, torch.stack(s.cost) if isinstance(s.cost, list) else s.cost

    monkeypatch.setattr(_ops, "cgls_fusable", alternating)
    mixed = solve()
    assert True in taken and False in taken
    monkeypatch.setattr(_ops, "cgls_fusable", lambda *t: False)
    plain = solve()
    for a, b in zip(mixed, plain):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10 * float(b.abs().max()))
