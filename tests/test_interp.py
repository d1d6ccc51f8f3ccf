"""Interpolation operators (Interp, InterpCubicSpline, Bilinear) and Fredholm1: the property
battery over tests/registry_fourier.py, PyLops 2.8 parity and error messages."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from tests.registry import INTERP_CASES as CASES
from torchlops.basicoperators.restriction import Restriction
from torchlops.signalprocessing.bilinear import Bilinear
from torchlops.signalprocessing.fredholm1 import Fredholm1
from torchlops.signalprocessing.interp import Interp, InterpLinear, InterpMatrix
from torchlops.signalprocessing.interpspline import InterpCubicSpline
from torchlops.utils import testing as T

pl = pytest.importorskip("pylops")

IDS = [c.name for c in CASES]
RNG = np.random.default_rng(20240612)
RTOL = 1e-10


# ---------------------------------------------------------------------------- property battery


# ---------------------------------------------------------------------------- PyLops parity
def _rand(n: int, cplx: bool) -> np.ndarray:
    a = RNG.standard_normal(n)
    return a + 1j * RNG.standard_normal(n) if cplx else a


def assert_rel(a, b, what: str) -> None:
    a = a.detach().numpy().ravel() if isinstance(a, torch.Tensor) else np.ravel(a)
    b = np.ravel(b)
    assert a.shape == b.shape, f"{what}: {a.shape} vs {b.shape}"
    err = np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)
    assert err <= RTOL, f"{what}: relative error {err:.3e}"


IAVA = np.array([0.3, 2.5, 7.7, 3.1, 5.0])
IAVA_EDGE = np.array([0.0, 1.4, 4.2, 6.0, 7.3])
BIL = np.array([[0.3, 2.5, 2.5, 3.9, 0.0], [0.1, 1.2, 3.3, 0.0, 4.5]])
GR = RNG.standard_normal((3, 4, 5))
GC = RNG.standard_normal((2, 5, 3)) + 1j * RNG.standard_normal((2, 5, 3))


def _interp(dims, iava, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P, pi = pl.signalprocessing.Interp(dims, iava, **kw)
        Top, ti = Interp(dims, torch.from_numpy(iava), **kw)
    assert_rel(ti, pi, "returned iava")
    return Top, P


PARITY = [
    ("Interp-linear-axis0", lambda: _interp((9, 4), IAVA, axis=0), False),
    ("Interp-linear-edge-clip", lambda: _interp((3, 8), IAVA_EDGE, kind="linear"), False),
    ("Interp-linear-complex", lambda: _interp((9,), IAVA, dtype="complex128"), True),
    ("Interp-nearest-axis1", lambda: _interp((3, 9, 2), IAVA, axis=1, kind="nearest"), False),
    ("Interp-sinc", lambda: _interp((9, 3), IAVA, axis=0, kind="sinc"), False),
    ("Interp-sinc-tol-axis2", lambda: _interp((2, 3, 9), IAVA, axis=2, kind="sinc", tol=0.05), False),
    ("Interp-cubic_spline", lambda: _interp((4, 9), IAVA, kind="cubic_spline"), False),
    ("Interp-cubic_spline-edge", lambda: _interp((8, 2), IAVA_EDGE, axis=0, kind="cubic_spline"), False),
    (
        "Bilinear-2d",
        lambda: (Bilinear(torch.from_numpy(BIL), (5, 6)), pl.signalprocessing.Bilinear(BIL, (5, 6))),
        False,
    ),
    ("Bilinear-3d", lambda: (Bilinear(BIL, (5, 6, 3)), pl.signalprocessing.Bilinear(BIL, (5, 6, 3))), False),
    ("Fredholm1-nz1", lambda: (Fredholm1(torch.from_numpy(GR)), pl.signalprocessing.Fredholm1(GR)), False),
    (
        "Fredholm1-complex-nz3",
        lambda: (
            Fredholm1(torch.from_numpy(GC), nz=3),
            pl.signalprocessing.Fredholm1(GC, nz=3, saveGt=False, dtype="complex128"),
        ),
        True,
    ),
]


@pytest.mark.parametrize("build, cplx", [(b, c) for _, b, c in PARITY], ids=[p[0] for p in PARITY])
def test_pylops_parity(build, cplx: bool) -> None:
    Top, P = build()
    assert Top.shape == P.shape and Top.dims == tuple(P.dims) and Top.dimsd == tuple(P.dimsd)
    x, y = _rand(P.shape[1], cplx), _rand(P.shape[0], cplx)
    assert_rel(Top @ torch.from_numpy(x).reshape(Top.dims), P @ x, "forward")
    assert_rel(Top.H @ torch.from_numpy(y).reshape(Top.dimsd), P.H @ y, "adjoint")
    X = np.stack([_rand(P.shape[1], cplx) for _ in range(3)])
    assert_rel(Top @ torch.from_numpy(X), np.stack([np.ravel(P @ xi) for xi in X]), "batched forward (flat)")
    assert_rel(Top.todense(), P.todense(), "todense")


def test_interp_returns_pylops_types() -> None:
    op, iava = Interp((4, 6), [0.4, 2.6], kind="nearest")
    assert isinstance(op, Restriction) and iava.tolist() == [0, 3]
    assert isinstance(Interp(6, [0.4, 2.6])[0], InterpLinear)
    assert isinstance(Interp(6, [0.4, 2.6], kind="SINC")[0], InterpMatrix)
    op, iava = Interp(6, [0.4, 2.6], kind="cubic_spline")
    assert isinstance(op, InterpCubicSpline) and iava.dtype == torch.float64


def test_spline_reproduces_cubics_inside() -> None:
    # a natural spline interpolates linear functions exactly
    S = InterpCubicSpline(9, torch.linspace(0.1, 7.9, 11, dtype=torch.float64))
    x = 2.0 * torch.arange(9, dtype=torch.float64) - 1.0
    T.assert_close(S @ x, 2.0 * S.iava - 1.0, 1e-12, "linear function through the spline")


def test_spline_negative_positions_extrapolate_as_pylops() -> None:
    """Negative positions evaluate the first piece below sample 0 (PyLops clamps the piece
    index): exact on linear data, equal to PyLops' operator on any data; the linear kind
    still refuses them (PyLops 2.8 wraps them around)."""
    iava = np.array([-2.5, -0.3, 0.0, 1.7, 4.2])
    S = InterpCubicSpline(7, torch.from_numpy(iava))
    x = 2.0 * torch.arange(7, dtype=torch.float64) + 1.0
    T.assert_close(S @ x, 2.0 * torch.from_numpy(iava) + 1.0, 1e-12, "a line extended by the spline")
    P = pl.signalprocessing.InterpCubicSpline(7, iava)
    X = np.random.default_rng(3).standard_normal((2, 7))
    assert_rel(S @ torch.from_numpy(X), np.stack([P @ xi for xi in X]), "forward with negative positions")
    Y = np.random.default_rng(4).standard_normal((2, 5))
    assert_rel(S.H @ torch.from_numpy(Y), np.stack([P.H @ yi for yi in Y]), "adjoint with negative positions")
    with pytest.raises(ValueError, match=r"iava must lie in \[0, 6\]"):
        Interp(7, iava, kind="linear")


def test_fredholm1_learnable_kernel() -> None:
    G = torch.nn.Parameter(torch.randn(2, 3, 4, dtype=torch.float64))
    F = Fredholm1(G, nz=2)
    x = torch.randn(5, 2, 4, 2, dtype=torch.float64)
    (F @ x).square().sum().backward()
    expected = 2 * ((G.detach() @ x) @ x.transpose(-1, -2)).sum(0)
    T.assert_close(G.grad, expected, 1e-12, "gradient of the kernels")


# ---------------------------------------------------------------------------- errors
def test_errors() -> None:
    with pytest.raises(
        ValueError, match=r"kind must be one of \('nearest', 'linear', 'sinc', 'cubic_spline'\), got 'cubic'"
    ):
        Interp(5, [0.5], kind="cubic")
    with pytest.raises(ValueError, match="Found repeated/non-unique values in iava"):
        Interp(5, [0.6, 1.4], kind="nearest")
    with pytest.raises(ValueError, match="Found repeated/non-unique values in iava"):
        Interp(5, [1.0, 1.0], kind="sinc")
    with pytest.raises(ValueError, match=r"iava must lie in \[0, 4\], got a minimum of -0.5"):
        Interp(5, [-0.5, 1.0])
    with pytest.raises(ValueError, match=r"iava must be a non-empty 1-D array of positions, got shape \(1, 2\)"):
        Interp(5, [[0.5, 1.0]])
    with pytest.warns(UserWarning, match="beyond the penultimate sample index 4"):
        Interp(5, [1.0, 4.5])
    with pytest.raises(ValueError, match="A cubic spline requires at least 2 data points"):
        InterpCubicSpline((1, 3), [0.0], axis=0)
    with pytest.raises(ValueError, match="only supports 'natural' boundaries, got bc_type='clamped'"):
        InterpCubicSpline(5, [0.5], bc_type="clamped")
    with pytest.raises(ValueError, match=r"iava must have shape \(2, K\) with K > 0, got \(3, 2\)"):
        Bilinear(np.zeros((3, 2)), (4, 4))
    with pytest.raises(ValueError, match=r"iava\[1\] must lie in \[0, 3\) \(dims\[1\] = 4\), got \[0.5, 3.2\]"):
        Bilinear([[0.5, 1.0], [0.5, 3.2]], (4, 4))
    with pytest.raises(ValueError, match="Bilinear needs a model of at least two dimensions"):
        Bilinear([[0.5], [0.5]], 4)
    with pytest.raises(ValueError, match=r"G must have shape \(nsl, nx, ny\), got \(3, 4\)"):
        Fredholm1(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="nz must be a positive int, got 0"):
        Fredholm1(torch.zeros(2, 3, 4), nz=0)


def test_interp_degenerate_positions():
    """Linear interpolation on a 1-sample axis returns that sample (as PyLops); NaN or infinite
    positions are refused for every kind (they built operators that failed on every use)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Op, iava = Interp(1, [0.0], kind="linear", dtype=torch.float64)
        P, piava = pl.signalprocessing.Interp(1, np.array([0.0]), kind="linear")
    x = torch.tensor([3.0], dtype=torch.float64)
    np.testing.assert_array_equal((Op @ x).numpy(), P @ x.numpy())
    np.testing.assert_array_equal(iava.numpy(), piava)
    T.check_dottest(Op)
    Op2, _ = Interp((1, 4), [0.0], axis=0, kind="linear", dtype=torch.float64)
    X = torch.arange(4.0, dtype=torch.float64).reshape(1, 4)
    torch.testing.assert_close(Op2 @ X, X)
    for kind in ("nearest", "linear", "sinc", "cubic_spline"):
        for bad in (float("nan"), float("inf")):
            with pytest.raises(ValueError, match="iava must hold finite positions"):
                Interp(10, [bad, 2.0], kind=kind)


def test_every_axis_is_the_1d_operator_along_it() -> None:
    """Each kind along every axis of N-d data, negative axes included, is the 1-D operator
    applied to every line along that axis (PyLops 2.8's sinc transposes only for axis > 0,
    so its default axis=-1 on N-d data is wrong)."""
    g = torch.Generator().manual_seed(3)
    iava = [0.4, 2.25, 3.0, 3.8]
    for dt in (torch.float64, torch.complex128):
        # (one sample of 5 x 6 x 7: along axis 0 the matrix kinds apply from the left in place)
        X = torch.randn(5, 6, 7, dtype=dt, generator=g)
        for kind in ("nearest", "linear", "sinc", "cubic_spline"):
            for axis in (0, 1, 2, -1, -2, -3):
                Op, _ = Interp(X.shape, iava, axis=axis, kind=kind, dtype=torch.float64)
                One, _ = Interp(X.shape[axis], iava, kind=kind, dtype=torch.float64)
                M = One.todense()
                lines = X.movedim(axis, -1)
                want = (lines.reshape(-1, lines.shape[-1]) @ M.T.to(dt)).reshape(*lines.shape[:-1], len(iava))
                torch.testing.assert_close(Op @ X, want.movedim(-1, axis), rtol=1e-12, atol=1e-12)
                Y = torch.randn(Op.dimsd, dtype=dt, generator=g)
                back = Y.movedim(axis, -1)
                want = (back.reshape(-1, back.shape[-1]) @ M.to(dt)).reshape(*back.shape[:-1], X.shape[axis])
                torch.testing.assert_close(Op.H @ Y, want.movedim(-1, axis), rtol=1e-12, atol=1e-12)


def _spline_matrix_solve(n: int, iava: np.ndarray) -> torch.Tensor:
    """The same matrix from a dense solve of the spline system, ``P_x + P_m B^{-1} D_2`` (``B``
    the tridiagonal system with identity rows at both ends, ``D_2`` the zero-padded second
    difference, ``P`` the evaluation of the spline pieces): O(n^3), the reference of the closed form."""
    B = torch.zeros(n, n, dtype=torch.float64)
    D2 = torch.zeros(n, n, dtype=torch.float64)
    B[0, 0] = B[-1, -1] = 1.0
    i = torch.arange(1, n - 1)
    B[i, i] = 2.0 / 3.0
    B[i, i - 1] = B[i, i + 1] = 1.0 / 6.0
    D2[i, i - 1] = D2[i, i + 1] = 1.0
    D2[i, i] = -2.0
    m_of_x = torch.linalg.solve(B, D2)
    base = np.clip(iava.astype(np.int64), 0, n - 2)
    r = torch.from_numpy(iava - base)
    rows = torch.arange(len(iava))
    b = torch.from_numpy(base)
    one_m = 1.0 - r
    Px = torch.zeros(len(iava), n, dtype=torch.float64)
    Pm = torch.zeros(len(iava), n, dtype=torch.float64)
    Px[rows, b] = one_m
    Px[rows, b + 1] = r
    Pm[rows, b] = (one_m**3 - one_m) / 6.0
    Pm[rows, b + 1] = (r**3 - r) / 6.0
    return Px + Pm @ m_of_x


def test_cubic_spline_builds_in_linear_time_and_its_band_equals_the_dense_solve(monkeypatch) -> None:
    """The spline's weights come from the closed-form inverse of its system (a dense solve of an
    n x n system before: 5 s at n = 4000, 320 GB asked at n = 200000): equal to the dense solve
    to rounding, applied densely or as the band, and to PyLops at a length the dense matrix
    could not hold."""
    import warnings

    from torchlops.signalprocessing import interpspline as S

    g = np.random.default_rng(5)
    for n in (2, 3, 5, 37, 90):
        iava = np.sort(g.uniform(-0.5, n - 1.01, 12))
        A, B = S.spline_matrix(n, iava), _spline_matrix_solve(n, iava)
        torch.testing.assert_close(A, B, rtol=0, atol=1e-14 * float(B.abs().max()))
    iava = np.sort(g.uniform(0, 88, 30))
    dense = InterpCubicSpline((4, 90, 3), iava, axis=1)
    monkeypatch.setattr(S, "DENSE_SPLINE_ENTRIES", 0)
    band = InterpCubicSpline((4, 90, 3), iava, axis=1)
    assert dense.M is not None and band.M is None
    x = torch.randn(2, 4, 90, 3, dtype=torch.float64)
    y = torch.randn(2, 4, 30, 3, dtype=torch.float64)
    torch.testing.assert_close(band @ x, dense @ x, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(band.H @ y, dense.H @ y, rtol=1e-13, atol=1e-13)
    monkeypatch.setattr(S, "DENSE_SPLINE_ENTRIES", 1 << 18)
    n = 200_000
    iava = np.sort(g.uniform(0, n - 1.5, 5000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P = pl.signalprocessing.InterpCubicSpline(n, iava)
    Sp = InterpCubicSpline(n, iava)
    xn = g.standard_normal(n)
    np.testing.assert_allclose((Sp @ torch.from_numpy(xn)).numpy(), P @ xn, rtol=1e-10, atol=1e-12)
    yn = g.standard_normal(5000)
    np.testing.assert_allclose((Sp.H @ torch.from_numpy(yn)).numpy(), P.H @ yn, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 40, 258, 259, 322, 1000])
def test_cubic_spline_factored_form_equals_the_matrix(n: int, monkeypatch) -> None:
    """Above DENSE_SPLINE_ENTRIES the spline goes through its factored form (second differences,
    the system's inverse: exact up to 256 interior samples, by blocks with exact ends above, four
    samples per output); the same map as the dense matrix, forward and adjoint, along a middle
    axis, for real and complex data, and adjoint to itself."""
    from torchlops.signalprocessing import interpspline as S

    g = np.random.default_rng(n)
    iava = np.concatenate([[-0.3, 0.0, n - 1.0 - 1e-9], g.uniform(0, n - 1.01, 40)])
    A = S.spline_matrix(n, iava)
    monkeypatch.setattr(S, "DENSE_SPLINE_ENTRIES", 0)
    for dt, nb in ((torch.float64, 1), (torch.float64, 8), (torch.complex128, 2)):  # (1, 6, 48 columns)
        F = InterpCubicSpline((3, n, 2), iava, axis=1, dtype=dt)
        assert F.M is None
        x = torch.randn(nb, 3, n, 2, dtype=dt)
        y = torch.randn(nb, 3, len(iava), 2, dtype=dt)
        want = torch.einsum("kj,bajc->bakc", A.to(dt), x)
        torch.testing.assert_close(F @ x, want, rtol=1e-13, atol=1e-13 * float(want.abs().max()))
        want = torch.einsum("kj,bakc->bajc", A.to(dt), y)
        torch.testing.assert_close(F.H @ y, want, rtol=1e-13, atol=1e-13 * float(want.abs().max()))
        lhs, rhs = torch.vdot((F @ x).reshape(-1), y.reshape(-1)), torch.vdot(x.reshape(-1), (F.H @ y).reshape(-1))
        torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=0)
    F32 = InterpCubicSpline(n, iava, dtype=torch.float32)
    x = torch.randn(n, dtype=torch.float64)
    torch.testing.assert_close((F32 @ x.float()).double(), A @ x, rtol=1e-5, atol=1e-5 * float(x.abs().max()))


def test_banded_apply_column_by_column_equals_one_gather(monkeypatch) -> None:
    """Above _GATHER_ENTRIES the banded forward and adjoint go one column of the band at a time
    (the adjoint built a temporary of the band's width times the data at once: 1.6 GB for a
    (2000, 1000) InterpCubicSpline with 3000 points); the same values as the one-shot path."""
    from torchlops.functional import interpolation as I

    g = torch.Generator().manual_seed(7)
    for cplx in (False, True):
        dt = torch.complex128 if cplx else torch.float64
        idx = torch.randint(0, 9, (6, 4), generator=g)
        W = torch.randn(6, 4, generator=g, dtype=dt)
        x = torch.randn(3, 5, 9, 2, generator=g, dtype=dt)
        y = torch.randn(3, 5, 6, 2, generator=g, dtype=dt)
        one = I.banded_along_axis(x, idx, W, 1), I.banded_along_axis_adjoint(y, idx, W, 1, 9)
        monkeypatch.setattr(I, "_GATHER_ENTRIES", 0)
        cols = I.banded_along_axis(x, idx, W, 1), I.banded_along_axis_adjoint(y, idx, W, 1, 9)
        monkeypatch.undo()
        for a, b in zip(one, cols, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)
        # (and they are adjoint to each other)
        lhs = torch.vdot(cols[0].reshape(-1), y.reshape(-1))
        rhs = torch.vdot(x.reshape(-1), cols[1].reshape(-1))
        torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_interp_linear_last_axis_flat_gathers_equal_the_generic_path():
    """Linear interpolation along the last axis of a contiguous CPU input takes flat gathers
    with kept positions and weights: bitwise the generic path's for every batch, complex data,
    a non-contiguous input, weights changed in place, and with a graph to record (weights that
    require grad: the generic path, the same gradient)."""
    from torchlops.functional.interpolation import interp_linear
    from torchlops.signalprocessing.interp import Interp

    g = torch.Generator().manual_seed(2)
    for dims in ((7, 50), (50,)):
        iava = np.sort(np.random.default_rng(0).uniform(0, dims[-1] - 1, 31))
        T = Interp(dims, torch.from_numpy(iava), axis=-1, kind="linear", dtype=torch.complex128)[0]
        ax = len(dims) - 1
        for batch in ((), (1,), (3,), (2, 2)):
            x = torch.randn(*batch, *dims, generator=g, dtype=torch.complex128)
            ref = interp_linear(x.reshape(-1, *dims), T.left, T.weights, ax).reshape(*batch, *T.dimsd)
            assert torch.equal(T(x), ref)
        xt = torch.randn(2 * dims[-1], *dims[:-1], generator=g, dtype=torch.complex128).movedim(0, -1)[..., ::2]
        assert not xt.is_contiguous()
        assert torch.equal(T(xt), interp_linear(xt.unsqueeze(0), T.left, T.weights, ax)[0])
        assert T.__dict__.get("_kept_terms") is not None
        with torch.no_grad():
            T.weights.mul_(0.5)
        x = torch.randn(*dims, generator=g, dtype=torch.complex128)
        assert torch.equal(T(x), interp_linear(x.unsqueeze(0), T.left, T.weights, ax)[0])
    w = T.weights.detach().clone().requires_grad_()
    T.weights = w
    (gw,) = torch.autograd.grad(T(x).abs().square().sum(), w)
    w2 = w.detach().clone().requires_grad_()
    (gr,) = torch.autograd.grad(interp_linear(x.unsqueeze(0), T.left, w2, ax).abs().square().sum(), w2)
    torch.testing.assert_close(gw, gr, rtol=1e-12, atol=1e-12)
