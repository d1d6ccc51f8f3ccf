"""PyLops and SciPy interoperability: from_pylops, to_pylops, to_scipy, aslinearoperator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchlops as tl
from torchlops.interop import PyLopsOperator, aslinearoperator, from_pylops, to_pylops, to_scipy
from torchlops.optimization.basic import cgls, lsqr
from torchlops.utils.testing import check_dottest

pl = pytest.importorskip("pylops")
from pylops.avo.avo import AVOLinearModelling  # noqa: E402
from pylops.avo.poststack import PoststackLinearModelling  # noqa: E402
from pylops.signalprocessing import ChirpRadon2D, Radon2D, Seislet  # noqa: E402
from pylops.utils.dottest import dottest as pylops_dottest  # noqa: E402

RNG = np.random.default_rng(7)


def _radon() -> object:
    t, h = np.arange(21) * 0.004, np.arange(15) * 10.0
    return Radon2D(t, h, np.linspace(-1e-3, 1e-3, 9), kind="linear", engine="numpy", dtype="float64")


def _chirp() -> object:
    return ChirpRadon2D(np.arange(21) * 0.004, np.arange(15) * 10.0, 1e-3, dtype="float64")


def _seislet() -> object:
    return Seislet(0.3 * RNG.standard_normal((16, 8)), sampling=(1.0, 1.0), level=2, dtype="float64")


def _poststack() -> object:
    return PoststackLinearModelling(RNG.standard_normal(7), nt0=25, spatdims=5)


def _avo() -> object:
    return AVOLinearModelling(np.linspace(0.0, 0.5, 4), vsvp=0.5, nt0=11, linearization="akirich")


PYLOPS_OPS = {"Radon2D": _radon, "ChirpRadon2D": _chirp, "Seislet": _seislet,
              "PoststackLinearModelling": _poststack, "AVOLinearModelling": _avo}


def _rel(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    return float(np.linalg.norm(a.ravel() - b.ravel()) / np.linalg.norm(b.ravel()))


# ---------------------------------------------------------------------------- from_pylops
@pytest.mark.parametrize("name", list(PYLOPS_OPS))
def test_from_pylops_matches_pylops_batched(name: str) -> None:
    P = PYLOPS_OPS[name]()
    Op = from_pylops(P)
    assert Op.dims == tuple(int(d) for d in P.dims) and Op.dimsd == tuple(int(d) for d in P.dimsd)
    assert Op.shape == P.shape and Op.dtype == torch.float64 and Op.clinear
    X = RNG.standard_normal((3, *Op.dims))
    Y = RNG.standard_normal((3, *Op.dimsd))
    y = Op @ torch.from_numpy(X)
    x = Op.H @ torch.from_numpy(Y)
    assert y.shape == (3, *Op.dimsd) and x.shape == (3, *Op.dims)
    for b in range(3):
        assert _rel(y[b], P.matvec(X[b].ravel())) < 1e-12
        assert _rel(x[b], P.rmatvec(Y[b].ravel())) < 1e-12
    # flat inputs, a 2-D batch and float32 (promoted to the operator's float64)
    yf = Op.matvec(torch.from_numpy(X.reshape(1, 3, -1)))
    assert yf.shape == (1, 3, Op.shape[0]) and _rel(yf.reshape(3, -1), y.reshape(3, -1)) < 1e-12
    assert (Op @ torch.from_numpy(X).float()).dtype == torch.float64


@pytest.mark.parametrize("name", list(PYLOPS_OPS))
def test_from_pylops_gradient_is_rmatvec(name: str) -> None:
    P = PYLOPS_OPS[name]()
    Op = from_pylops(P)
    x = torch.from_numpy(RNG.standard_normal((2, *Op.dims))).requires_grad_(True)
    g = RNG.standard_normal((2, *Op.dimsd))
    (Op @ x).backward(torch.from_numpy(g))
    for b in range(2):
        assert _rel(x.grad[b], P.rmatvec(g[b].ravel())) < 1e-12
    check_dottest(Op, dtype=torch.float64)


def test_from_pylops_gradcheck_and_gradgrad() -> None:
    P = PoststackLinearModelling(RNG.standard_normal(5), nt0=9, spatdims=3)
    Op = from_pylops(P)
    x = torch.from_numpy(RNG.standard_normal((2, *Op.dims))).requires_grad_(True)
    assert torch.autograd.gradcheck(Op.matvec, (x,), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradcheck(Op.rmatvec, (x.detach().clone().requires_grad_(True),), eps=1e-6, atol=1e-7)
    assert torch.autograd.gradgradcheck(Op.matvec, (x,), eps=1e-6, atol=1e-7)


def test_from_pylops_complex_and_matvec_fallback() -> None:
    d = RNG.standard_normal(6) + 1j * RNG.standard_normal(6)
    P = pl.Diagonal(d, dtype="complex128")

    class NoMatmat(pl.LinearOperator):  # matmat raises: per-sample matvec is used instead
        def __init__(self) -> None:
            super().__init__(dtype=np.complex128, dims=(6,), dimsd=(6,))

        def _matvec(self, x):
            return d * x

        def _rmatvec(self, y):
            return d.conj() * y

        def _matmat(self, X):
            raise RuntimeError("no matmat")

        _rmatmat = _matmat

    for Pk in (P, NoMatmat()):
        Op = from_pylops(Pk)
        assert Op.dtype == torch.complex128
        x = torch.randn(4, 6, dtype=torch.float64)
        y = Op @ x
        assert y.dtype == torch.complex128
        assert _rel(y, d * x.numpy()) < 1e-14
        assert _rel(Op.H @ y, np.conj(d) * y.numpy()) < 1e-14
        check_dottest(Op, dtype=torch.complex128)
    assert from_pylops(NoMatmat())._use_matmat is True  # only flips on first failure


def test_from_pylops_matmat_fallback_keeps_memory_errors_and_broken_operators() -> None:
    """A MemoryError of one large batch reaches the caller and leaves matmat in use for the next
    batches; matmat is given up only where the columns one at a time work; an operator failing
    both ways raises."""

    class Op(pl.LinearOperator):
        def __init__(self, broken: bool = False) -> None:
            super().__init__(dtype=np.float64, shape=(3, 3))
            self.calls, self.broken = [], broken

        def _matvec(self, x):
            self.calls.append("matvec")
            if self.broken:
                raise ValueError("broken")
            return 2 * x

        _rmatvec = _matvec

        def _matmat(self, X):
            self.calls.append("matmat")
            if X.shape[1] > 100:
                raise MemoryError("batch too large")
            if self.broken:
                raise ValueError("broken")
            return 2 * X

        _rmatmat = _matmat

    op = Op()
    P = from_pylops(op)
    with pytest.raises(MemoryError):
        P(torch.ones(101, 3, dtype=torch.float64))
    op.calls.clear()
    torch.testing.assert_close(P(torch.ones(4, 3, dtype=torch.float64)), torch.full((4, 3), 2.0, dtype=torch.float64))
    assert op.calls == ["matmat"] and P._use_matmat
    B = from_pylops(Op(broken=True))
    with pytest.raises(ValueError, match="broken"):
        B(torch.ones(2, 3, dtype=torch.float64))
    assert B._use_matmat


def test_from_pylops_in_solver_and_network() -> None:
    P = _poststack()
    Op = from_pylops(P)
    xtrue = torch.from_numpy(RNG.standard_normal((2, *Op.dims)))
    res = cgls(Op, Op @ xtrue, niter=300, damp=0.0, tol=0)
    assert _rel(Op @ res.x, Op @ xtrue) < 1e-6
    # a learnable scale in front of the operator receives a gradient
    w = torch.nn.Parameter(torch.tensor(2.0, dtype=torch.float64))
    loss = ((w * (Op @ xtrue)) ** 2).sum()
    loss.backward()
    assert w.grad is not None and abs(float(w.grad) - 4 * float(((Op @ xtrue) ** 2).sum())) < 1e-6 * float(w.grad)


def test_from_pylops_errors() -> None:
    with pytest.raises(TypeError, match="expected a pylops.LinearOperator"):
        from_pylops(np.eye(3))
    with pytest.raises(ValueError, match="backend must be one of"):
        from_pylops(pl.Identity(3), backend="jax")
    assert isinstance(from_pylops(pl.Identity(3)), PyLopsOperator)


@pytest.mark.cuda
def test_from_pylops_cuda_roundtrip() -> None:
    Op = from_pylops(_poststack())  # NumPy-based: the data cross to the host and back
    x = torch.randn(2, *Op.dims, dtype=torch.float64, device="cuda", requires_grad=True)
    y = Op @ x
    assert y.device.type == "cuda"
    y.sum().backward()
    assert x.grad.device.type == "cuda"
    cp = pytest.importorskip("cupy")
    d = cp.asarray(RNG.standard_normal(6))
    Opc = from_pylops(pl.Diagonal(d))
    assert Opc.backend == "cupy"
    xc = torch.randn(3, 6, dtype=torch.float64, device="cuda")
    assert torch.allclose(Opc @ xc, torch.as_tensor(cp.asnumpy(d), device="cuda") * xc)


# ---------------------------------------------------------------------------- to_pylops / to_scipy
def _torch_ops() -> dict[str, tl.LinearOperator]:
    f64 = torch.float64
    return {
        "FirstDerivative": tl.FirstDerivative((7, 5), axis=0, dtype=f64),
        "Laplacian": tl.Laplacian((7, 5), dtype=f64),
        "Convolve1D": tl.Convolve1D((9, 4), torch.randn(5, dtype=f64), offset=2, axis=0),
        "MatrixMult-complex": tl.MatrixMult(torch.randn(6, 4, dtype=torch.complex128)),
        "VStack": tl.VStack([tl.Diagonal(torch.randn(6, dtype=f64)), tl.FirstDerivative(6, dtype=f64)]),
    }


@pytest.mark.parametrize("name", list(_torch_ops()))
def test_to_pylops_dottest_and_values(name: str) -> None:
    Op = _torch_ops()[name]
    P = to_pylops(Op)
    assert P.shape == Op.shape and tuple(P.dims) == Op.dims and tuple(P.dimsd) == Op.dimsd
    cplx = 3 if Op.dtype.is_complex else 0
    assert pylops_dottest(P, *P.shape, complexflag=cplx, rtol=1e-10, raiseerror=True)
    X = RNG.standard_normal((Op.shape[1], 3))
    ref = Op.matmat(torch.from_numpy(X).to(Op.dtype)).numpy()
    assert _rel(P.matmat(X), ref) < 1e-13 and _rel(P @ X[:, 0], ref[:, 0]) < 1e-13
    # PyLops algebra and a PyLops solver on the wrapped operator
    assert _rel((2.0 * P).H @ ref[:, 0], 2 * Op.rmatvec(torch.from_numpy(ref[:, 0])).numpy()) < 1e-13


def test_to_pylops_with_pylops_solver() -> None:
    Op = tl.Convolve1D(40, torch.tensor([1.0, 0.3, 0.1], dtype=torch.float64), offset=0)
    xtrue = RNG.standard_normal(40)
    y = (Op @ torch.from_numpy(xtrue)).numpy()
    xinv = pl.optimization.basic.cgls(to_pylops(Op), y, x0=np.zeros(40), niter=200, tol=0)[0]
    assert _rel(xinv, xtrue) < 1e-8


@pytest.mark.parametrize("name", ["Convolve1D", "MatrixMult-complex", "VStack"])
def test_to_scipy_lsqr(name: str) -> None:
    from scipy.sparse.linalg import lsqr as sp_lsqr

    Op = _torch_ops()[name]
    S = to_scipy(Op)
    assert S.shape == Op.shape
    xtrue = torch.randn(Op.shape[1], dtype=Op.dtype)
    y = Op.matvec(xtrue.reshape(Op.dims)).reshape(-1)
    xs = sp_lsqr(S, y.numpy(), atol=1e-14, btol=1e-14, iter_lim=500)[0]
    xt = lsqr(Op, y, niter=500, atol=1e-14, btol=1e-14).x
    assert _rel(xs, xtrue) < 1e-8
    assert _rel(xs, xt.reshape(-1)) < 1e-8
    X = RNG.standard_normal((Op.shape[1], 2))
    assert _rel(S.matmat(X), Op.matmat(torch.from_numpy(X).to(Op.dtype))) < 1e-13
    assert _rel(S.rmatvec(y.numpy()), Op.rmatvec(y)) < 1e-13


def test_interop_errors_and_aslinearoperator() -> None:
    with pytest.raises(TypeError, match="expected a torchlops.LinearOperator"):
        to_pylops(np.eye(3))
    with pytest.raises(TypeError, match="expected a torchlops.LinearOperator"):
        to_scipy(pl.Identity(3))
    A = RNG.standard_normal((4, 3))
    x = torch.randn(3, dtype=torch.float64)
    for obj in (A, torch.from_numpy(A), pl.MatrixMult(A)):
        assert _rel(aslinearoperator(obj) @ x, A @ x.numpy()) < 1e-14
    import scipy.sparse

    assert _rel(aslinearoperator(scipy.sparse.csr_matrix(A)) @ x, A @ x.numpy()) < 1e-14
    D = tl.Diagonal(torch.ones(3))
    assert aslinearoperator(D) is D
    with pytest.raises(ValueError, match="2-D array"):
        aslinearoperator(np.ones(3))


def test_from_pylops_property_battery() -> None:
    from torchlops.utils.testing import check_batch, check_forms, check_grad_is_adjoint, check_jvp, check_vmap

    Op = from_pylops(_chirp())
    check_grad_is_adjoint(Op)
    check_batch(Op)
    check_forms(Op)
    check_vmap(Op)
    check_jvp(Op)


def test_interop_empty_batch_explicit_and_sparse():
    """from_pylops on an empty batch; a PyLops operator's explicit flag carries over (trace
    and todense exact); a SciPy sparse matrix stays sparse."""
    import scipy.sparse as sps

    P = pl.MatrixMult(np.random.default_rng(0).standard_normal((6, 6)))
    T = from_pylops(P)
    assert (T @ torch.ones(0, 6, dtype=torch.float64)).shape == (0, 6)
    assert T.explicit
    torch.testing.assert_close(T.trace(), torch.tensor(np.trace(P.A), dtype=torch.float64))
    S = aslinearoperator(sps.random(50, 40, density=0.05, random_state=0, format="csr"))
    assert S.A.is_sparse and S.shape == (50, 40)
    Sd = sps.random(50, 40, density=0.05, random_state=1, format="csr")
    x = np.random.default_rng(1).standard_normal(40)
    np.testing.assert_allclose((aslinearoperator(Sd) @ torch.from_numpy(x)).numpy(), Sd @ x, rtol=1e-12)


def test_aslinearoperator_integer_sparse():
    """Integer / bool SciPy sparse matrices become floating operators (as dense integer arrays do)."""
    import scipy.sparse as sps

    M = sps.random(6, 5, density=0.4, random_state=0, format="csr")
    Mi = (M * 10).astype(np.int64)
    T = aslinearoperator(Mi)
    assert T.dtype.is_floating_point and T.A.is_sparse
    x = np.arange(5.0)
    np.testing.assert_allclose((T @ torch.from_numpy(x).to(T.dtype)).numpy(), Mi @ x, rtol=1e-6)
    assert aslinearoperator(Mi.astype(bool)).dtype.is_floating_point


def test_from_pylops_real_result_of_complex_operator_stays_real():
    """pylops.Real (dtype complex) returns real values for complex inputs; so does the wrapper
    (as torchlops.Real), also for an empty batch."""
    P = pl.Real(4, dtype="complex128")
    W = from_pylops(P)
    x = torch.randn(2, 4, dtype=torch.complex128)
    y = W @ x
    assert y.dtype == torch.float64 == tl.Real(4, dtype=torch.complex128)(x).dtype
    np.testing.assert_allclose(y.numpy(), np.stack([P @ v for v in x.numpy()]), rtol=1e-15)
    assert (W @ x[:0]).dtype == torch.float64
    assert (W @ x.real).dtype == torch.float64


_GLOBAL_D = np.array([1 + 1j, 2 - 1j, 0.5j])


def _scale_by_global(v):
    return _GLOBAL_D * v


def _scale_by_global_adj(v):
    return _GLOBAL_D.conj() * v


def test_pylops_operators_declared_real_conversions_per_sample_filters_and_pickling() -> None:
    """A PyLops operator declared float64 but built from complex arrays is complex (complex
    inputs and real inputs' gradients failed); a wrapped float32 operator keeps float32 through
    .double() (it computed float32 under a float64 label) and passes check_operator; to_pylops /
    to_scipy refuse an operator of per-sample filters (its columns mixed filters) and pickle."""
    import pickle

    from torchlops.utils.testing import check_operator

    d = np.array([1 + 1j, 2 - 1j, 0.5j])
    P = pl.Diagonal(d)
    T = tl.from_pylops(P)
    assert T.dtype == torch.complex128 and P.matvec_count == 0
    # (deep products and functions closing over complex arrays too; Shift holds complex phases
    # and answers real: it stays real)
    assert tl.from_pylops(pl.Diagonal(d) * pl.Identity(3) * pl.Identity(3) * pl.Identity(3)).dtype == torch.complex128
    assert tl.from_pylops(pl.FunctionOperator(lambda v: d * v, lambda v: d.conj() * v, 3)).dtype == torch.complex128
    assert tl.from_pylops(pl.signalprocessing.Shift(10, 1.5, dtype="float64")).dtype == torch.float64
    # (complex only in the adjoint; a function reading a global array; the parts' counts)
    RD = tl.from_pylops(pl.Real(3, dtype="float64") * pl.Diagonal(d))
    xr = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    (RD(xr) ** 2).sum().backward()
    torch.testing.assert_close(xr.grad, 2 * torch.from_numpy(d.real**2) * xr.detach())
    G = tl.from_pylops(pl.FunctionOperator(_scale_by_global, _scale_by_global_adj, 3))
    assert G.dtype == torch.complex128
    Dp, Ip = pl.Diagonal(d), pl.Identity(3)
    tl.from_pylops(Dp * Ip)
    assert Dp.matvec_count == Ip.matvec_count == Dp.rmatvec_count == 0
    x = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    np.testing.assert_allclose((T @ x.to(torch.complex128)).detach().numpy(), d * x.detach().numpy())
    (T @ x).abs().pow(2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.abs(d) ** 2 * x.detach().numpy(), rtol=1e-12)
    F = tl.from_pylops(pl.FirstDerivative(10, dtype="float32"))
    assert F.double().dtype == torch.float32
    assert all(check_operator(tl.from_pylops(pl.FirstDerivative(10, dtype="float32"))).values())
    C = tl.signalprocessing.Convolve1D(8, torch.randn(2, 3, dtype=torch.float64), batched_filter=True)
    for wrap in (tl.to_pylops, tl.to_scipy):
        with pytest.raises(ValueError, match="one filter per sample"):
            wrap(C)
    D = tl.FirstDerivative(6, dtype=torch.float64)
    v = np.arange(6.0)
    for wrap in (tl.to_pylops, tl.to_scipy):
        P = pickle.loads(pickle.dumps(wrap(D)))
        np.testing.assert_allclose(P.matvec(v), (D @ torch.from_numpy(v)).numpy())


def test_from_pylops_probe_only_where_something_may_hide_a_complex_answer(monkeypatch) -> None:
    """Plain real operators (FirstDerivative holds bound methods, Convolve1D a library function)
    are not applied while wrapping; a complex SciPy sparse matrix held by a subclass, a part more
    than 16 operators down and an operator reached through a bound method are seen, and the
    bound method's operator gets its counts back; a module held as ``ncp`` is not walked."""
    import scipy.sparse as sps

    from torchlops import interop

    calls = []
    orig = interop._answers_complex
    monkeypatch.setattr(interop, "_answers_complex", lambda *a: calls.append(1) or orig(*a))
    for P in (pl.FirstDerivative(50), pl.signalprocessing.Convolve1D(50, np.ones(3)), pl.Laplacian((20, 20)),
              pl.VStack([pl.FirstDerivative(50), pl.Identity(50)])):
        assert tl.from_pylops(P).dtype == torch.float64
    assert not calls

    class SparseOp(pl.LinearOperator):
        def __init__(self, A):
            self.A = A
            super().__init__(dtype=np.float64, shape=A.shape)

        def _matvec(self, x):
            return self.A @ x

        def _rmatvec(self, y):
            return self.A.conj().T @ y

    d = np.array([1 + 1j, 2 - 1j, 0.5j])
    assert tl.from_pylops(SparseOp(sps.csr_matrix(np.diag(d)))).dtype == torch.complex128
    deep = pl.Diagonal(d)
    for _ in range(17):
        deep = deep * pl.Identity(3)
    assert tl.from_pylops(deep).dtype == torch.complex128
    D = pl.Diagonal(d)
    assert tl.from_pylops(pl.FunctionOperator(D.matvec, D.rmatvec, 3)).dtype == torch.complex128
    assert D.matvec_count == D.rmatvec_count == 0
