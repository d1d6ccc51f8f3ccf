"""PyLops 2.8 parity of the basic operators and of the operator algebra.

Every case builds the torchlops operator and the PyLops operator with the same
constructor arguments (torch tensors where PyLops takes numpy arrays) and compares
forward, adjoint, batched application and ``todense`` on the same random vectors.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse
import torch

import torchlops as tl

pl = pytest.importorskip("pylops")

SEED = 20240607
RNG = np.random.default_rng(SEED)
GEN = torch.Generator().manual_seed(SEED)
RTOL = 1e-12


# ---------------------------------------------------------------------------- helpers
def rand(shape, cplx: bool = False) -> np.ndarray:
    """Random float64 (or complex128) numpy array."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    a = RNG.standard_normal(shape)
    if cplx:
        a = a + 1j * RNG.standard_normal(shape)
    return a


def t(a: np.ndarray) -> torch.Tensor:
    """numpy -> torch (a copy, so PyLops and torch never share memory)."""
    return torch.from_numpy(np.array(a, copy=True))


def npy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().resolve_conj().numpy()
    return np.asarray(x)


def assert_rel(actual, expected, rtol: float = RTOL, what: str = "") -> None:
    """``||a - b|| <= rtol * ||b||`` on the flattened arrays (sizes must match)."""
    a = npy(actual).ravel()
    b = npy(expected).ravel()
    assert a.size == b.size, f"{what}: size {a.size} != expected {b.size}"
    err = np.linalg.norm(a - b)
    ref = np.linalg.norm(b)
    assert err <= rtol * ref, f"{what}: ||a-b|| = {err:.3e} > {rtol:.0e} * ||b|| = {rtol * ref:.3e}"


def flat_out(ins: tuple, outs: tuple) -> tuple:
    """Output shape of a flat input: flat, unless the input shape is 1-D (then it is
    also the N-d form and the output has the N-d shape)."""
    return tuple(outs) if len(ins) == 1 else (int(np.prod(outs)),)


def sparse_pair(m: int, n: int, density: float = 0.4, cplx: bool = False):
    """The same sparse matrix as a torch COO tensor and a scipy CSR matrix."""
    S = scipy.sparse.random(m, n, density=density, format="coo", random_state=RNG, dtype=np.float64)
    if cplx:
        S = S + 1j * scipy.sparse.random(m, n, density=density, format="coo", random_state=RNG)
        S = S.tocoo()
    idx = torch.from_numpy(np.vstack([S.row, S.col]).astype(np.int64))
    At = torch.sparse_coo_tensor(idx, torch.from_numpy(S.data.copy()), (m, n), check_invariants=True).coalesce()
    return At, S.tocsr()


# ---------------------------------------------------------------------------- case builders
# each builder returns (torchlops operator, pylops operator)
Builder = Callable[[], tuple]
F64 = "float64"
C128 = "complex128"


def _mm(m: int, n: int, cplx: bool = False, **kw):
    A = rand((m, n), cplx)
    dt = C128 if cplx else F64
    return tl.MatrixMult(t(A), dtype=dt, **kw), pl.MatrixMult(A, dtype=dt, **kw)


def _diag(n, cplx: bool = False, **kw):
    d = rand(n, cplx)
    dt = C128 if cplx else F64
    return tl.Diagonal(t(d), dtype=dt, **kw), pl.Diagonal(d, dtype=dt, **kw)


V_FIELD = np.stack([np.full((4, 5), 0.6), np.full((4, 5), 0.8)]) + 0.1 * np.arange(20).reshape(4, 5) / 20


def _pair(cls_name: str, *args, **kw):
    return getattr(tl, cls_name)(*args, **kw), getattr(pl, cls_name)(*args, **kw)


def _sparse(m, n, otherdims=None):
    At, S = sparse_pair(m, n)
    return tl.MatrixMult(At, otherdims=otherdims, dtype=F64), pl.MatrixMult(S, otherdims=otherdims, dtype=F64)


def _function_rect():
    A = rand((7, 5))
    At = t(A)
    Top = tl.FunctionOperator(lambda x: x @ At.T, lambda y: y @ At, 7, 5, dtype=F64)
    Pop = pl.FunctionOperator(lambda x: A @ x, lambda y: A.T @ y, 7, 5, dtype=F64)
    return Top, Pop


def _function_cumsum():
    def tf(x):
        return torch.cumsum(x, -1)

    def tfc(y):
        return torch.flip(torch.cumsum(torch.flip(y, (-1,)), -1), (-1,))

    Top = tl.FunctionOperator(tf, tfc, 7, dtype=F64)
    Pop = pl.FunctionOperator(np.cumsum, lambda y: np.cumsum(y[::-1])[::-1], 7, dtype=F64)
    return Top, Pop


def _function_vmapped():
    A = rand((3, 5), cplx=True)
    At = t(A)
    Top = tl.FunctionOperator(lambda x: At @ x, lambda y: At.conj().T @ y, 3, 5, vectorized=False, dtype=C128)
    Pop = pl.FunctionOperator(lambda x: A @ x, lambda y: A.conj().T @ y, 3, 5, dtype=C128)
    return Top, Pop


def _memoize_mm():
    Top, Pop = _mm(7, 5)
    return tl.MemoizeOperator(Top, max_neval=3), pl.MemoizeOperator(Pop, max_neval=3)


def _memoize_causal():
    Top, Pop = _pair("CausalIntegration", (3, 5), axis=0, sampling=0.5, kind="trapezoidal", dtype=F64)
    return tl.MemoizeOperator(Top), pl.MemoizeOperator(Pop)


def _stack(kind: str, which: str, cplx: bool = False):
    dt = C128 if cplx else F64
    if which == "mixed":
        parts = [_mm(3, 5, cplx), _diag(5, cplx), _pair("Identity", 7, 5, dtype=dt)]
        if kind == "HStack":
            parts = [_mm(5, 3, cplx), _diag(5, cplx), _pair("Identity", 5, 7, dtype=dt)]
    else:  # all parts share dims (3, 5)
        parts = [
            _pair("Flip", (3, 5), axis=0, dtype=dt),
            _pair("Roll", (3, 5), axis=1, shift=2, dtype=dt),
            _diag(5, cplx, dims=(3, 5), axis=1),
        ]
    tops = [p[0] for p in parts]
    pops = [p[1] for p in parts]
    return getattr(tl, kind)(tops, dtype=dt), getattr(pl, kind)(pops, dtype=dt)


def _blockdiag(which: str):
    if which == "mixed":
        parts = [_mm(3, 5), _diag(4), _pair("Flip", 3, dtype=F64), _pair("Pad", 2, (1, 2), dtype=F64)]
    else:
        parts = [_pair("Flip", (3, 5), axis=0, dtype=F64), _pair("Roll", (3, 5), axis=-1, shift=-2, dtype=F64)]
    return tl.BlockDiag([p[0] for p in parts]), pl.BlockDiag([p[1] for p in parts])


def _block(cplx: bool = False):
    dt = C128 if cplx else F64
    grid = [
        [_mm(3, 5, cplx), _mm(3, 2, cplx), _pair("Identity", 3, 4, dtype=dt)],
        [_mm(5, 5, cplx), _pair("Zero", 5, 2, dtype=dt), _mm(5, 4, cplx)],
    ]
    return (
        tl.Block([[p[0] for p in row] for row in grid], dtype=dt),
        pl.Block([[p[1] for p in row] for row in grid], dtype=dt),
    )


def _kron(which: str):
    if which == "mm":
        (T1, P1), (T2, P2) = _mm(3, 5), _mm(2, 3)
        dt = F64
    elif which == "structural":
        (T1, P1), (T2, P2) = _diag(3), _pair("CausalIntegration", 5, kind="half", removefirst=True, dtype=F64)
        dt = F64
    elif which == "square":
        (T1, P1), (T2, P2) = _mm(3, 3, cplx=True), _diag(5, cplx=True)
        dt = C128
    else:
        (T1, P1), (T2, P2) = _mm(3, 2, cplx=True), _diag(5, cplx=True)
        dt = C128
    return tl.Kronecker(T1, T2, dtype=dt), pl.Kronecker(P1, P2, dtype=dt)


def _regression(n: int, order: int, linear: bool = False):
    taxis = np.sort(RNG.uniform(-1.5, 2.0, n))
    if linear:
        return tl.LinearRegression(t(taxis), dtype=F64), pl.LinearRegression(taxis, dtype=F64)
    return tl.Regression(t(taxis), order, dtype=F64), pl.Regression(taxis, order, dtype=F64)


# (id, builder, model kind, data kind): kind "r" float64, "c" complex128
CASES: list[tuple[str, Builder, str, str]] = [
    # Identity
    ("Identity-5", lambda: _pair("Identity", 5, dtype=F64), "r", "r"),
    ("Identity-N7-M5-tall", lambda: _pair("Identity", 7, 5, dtype=F64), "r", "r"),
    ("Identity-N5-M7-wide", lambda: _pair("Identity", 5, 7, dtype=F64), "r", "r"),
    ("Identity-nd-same-3x5", lambda: _pair("Identity", (3, 5), dtype=F64), "r", "r"),
    ("Identity-nd-N5x7-M3x5", lambda: _pair("Identity", (5, 7), (3, 5), dtype=F64), "r", "r"),
    ("Identity-nd-N3x5-M5x7", lambda: _pair("Identity", (3, 5), (5, 7), dtype=F64), "r", "r"),
    ("Identity-complex-7x5", lambda: _pair("Identity", 7, 5, dtype=C128), "c", "c"),
    ("Identity-default-dtype", lambda: (tl.Identity(5, 7), pl.Identity(5, 7)), "r", "r"),
    # Zero
    ("Zero-5", lambda: _pair("Zero", 5, dtype=F64), "r", "r"),
    ("Zero-7x5", lambda: _pair("Zero", 7, 5, dtype=F64), "r", "r"),
    ("Zero-complex-3x5", lambda: _pair("Zero", 3, 5, dtype=C128), "c", "c"),
    # Diagonal
    ("Diagonal-1d-7", lambda: _diag(7), "r", "r"),
    ("Diagonal-fullshape-3x5", lambda: _diag((3, 5)), "r", "r"),
    ("Diagonal-bcast-axis0-3x5", lambda: _diag(3, dims=(3, 5), axis=0), "r", "r"),
    ("Diagonal-bcast-axis1-3x5", lambda: _diag(5, dims=(3, 5), axis=1), "r", "r"),
    ("Diagonal-bcast-axis-2-3x5x2", lambda: _diag(5, dims=(3, 5, 2), axis=-2), "r", "r"),
    ("Diagonal-complex-7", lambda: _diag(7, cplx=True), "c", "c"),
    ("Diagonal-complex-bcast-axis0-3x5", lambda: _diag(3, cplx=True, dims=(3, 5), axis=0), "c", "c"),
    # MatrixMult
    ("MatrixMult-7x5", lambda: _mm(7, 5), "r", "r"),
    ("MatrixMult-5x7", lambda: _mm(5, 7), "r", "r"),
    ("MatrixMult-complex-5x3", lambda: _mm(5, 3, cplx=True), "c", "c"),
    ("MatrixMult-otherdims-3", lambda: _mm(7, 5, otherdims=3), "r", "r"),
    ("MatrixMult-otherdims-2x3", lambda: _mm(3, 5, otherdims=(2, 3)), "r", "r"),
    ("MatrixMult-complex-otherdims-3", lambda: _mm(3, 5, cplx=True, otherdims=(3,)), "c", "c"),
    ("MatrixMult-sparse-7x5", lambda: _sparse(7, 5), "r", "r"),
    ("MatrixMult-sparse-5x7-otherdims-3", lambda: _sparse(5, 7, otherdims=3), "r", "r"),
    # FunctionOperator
    ("FunctionOperator-rect-7x5", _function_rect, "r", "r"),
    ("FunctionOperator-cumsum-7", _function_cumsum, "r", "r"),
    ("FunctionOperator-vmapped-complex-3x5", _function_vmapped, "c", "c"),
    # MemoizeOperator (first applications; the stores are checked separately)
    ("MemoizeOperator-MatrixMult", _memoize_mm, "r", "r"),
    ("MemoizeOperator-CausalIntegration", _memoize_causal, "r", "r"),
    # stacking
    ("VStack-mixed", lambda: _stack("VStack", "mixed"), "r", "r"),
    ("VStack-nd-3x5", lambda: _stack("VStack", "nd"), "r", "r"),
    ("VStack-complex-mixed", lambda: _stack("VStack", "mixed", cplx=True), "c", "c"),
    ("HStack-mixed", lambda: _stack("HStack", "mixed"), "r", "r"),
    ("HStack-nd-3x5", lambda: _stack("HStack", "nd"), "r", "r"),
    ("HStack-complex-nd", lambda: _stack("HStack", "nd", cplx=True), "c", "c"),
    ("Block-2x3", lambda: _block(), "r", "r"),
    ("Block-complex-2x3", lambda: _block(cplx=True), "c", "c"),
    ("BlockDiag-mixed", lambda: _blockdiag("mixed"), "r", "r"),
    ("BlockDiag-nd-3x5", lambda: _blockdiag("nd"), "r", "r"),
    ("Kronecker-MatrixMult", lambda: _kron("mm"), "r", "r"),
    ("Kronecker-Diagonal-CausalIntegration", lambda: _kron("structural"), "r", "r"),
    ("Kronecker-complex", lambda: _kron("complex"), "c", "c"),
    # R-linear
    ("Real-5", lambda: _pair("Real", 5), "c", "r"),
    ("Real-3x5", lambda: _pair("Real", (3, 5), dtype=C128), "c", "r"),
    ("Imag-5", lambda: _pair("Imag", 5), "c", "r"),
    ("Imag-3x5", lambda: _pair("Imag", (3, 5), dtype=C128), "c", "r"),
    ("Conj-5", lambda: _pair("Conj", 5), "c", "c"),
    ("Conj-3x5", lambda: _pair("Conj", (3, 5), dtype=C128), "c", "c"),
    # axis manipulation
    ("Transpose-3x5", lambda: _pair("Transpose", (3, 5), (1, 0), dtype=F64), "r", "r"),
    ("Transpose-3x5x2-201", lambda: _pair("Transpose", (3, 5, 2), (2, 0, 1), dtype=F64), "r", "r"),
    ("Transpose-3x5x2-negative", lambda: _pair("Transpose", (3, 5, 2), (-2, -1, 0), dtype=F64), "r", "r"),
    ("Flip-7", lambda: _pair("Flip", 7, dtype=F64), "r", "r"),
    ("Flip-3x5-axis0", lambda: _pair("Flip", (3, 5), axis=0, dtype=F64), "r", "r"),
    ("Flip-3x5x2-axis1", lambda: _pair("Flip", (3, 5, 2), axis=1, dtype=F64), "r", "r"),
    ("Roll-7-shift3", lambda: _pair("Roll", 7, shift=3, dtype=F64), "r", "r"),
    ("Roll-3x5-axis0-shift-1", lambda: _pair("Roll", (3, 5), axis=0, shift=-1, dtype=F64), "r", "r"),
    ("Roll-3x5-axis1-shift7", lambda: _pair("Roll", (3, 5), axis=1, shift=7, dtype=F64), "r", "r"),
    ("Pad-5", lambda: _pair("Pad", 5, (2, 3), dtype=F64), "r", "r"),
    ("Pad-3x5", lambda: _pair("Pad", (3, 5), ((1, 0), (2, 3)), dtype=F64), "r", "r"),
    ("Pad-complex-3x5", lambda: _pair("Pad", (3, 5), ((0, 2), (1, 1)), dtype=C128), "c", "c"),
    ("Sum-3x5-axis0", lambda: _pair("Sum", (3, 5), axis=0, dtype=F64), "r", "r"),
    ("Sum-3x5x2-axis1", lambda: _pair("Sum", (3, 5, 2), axis=1, dtype=F64), "r", "r"),
    ("Sum-3x5x2-axis-1", lambda: _pair("Sum", (3, 5, 2), axis=-1, dtype=F64), "r", "r"),
    ("Sum-1d-5", lambda: _pair("Sum", 5, dtype=F64), "r", "r"),
    ("Sum-4x1-axis1", lambda: _pair("Sum", (4, 1), axis=1, dtype=F64), "r", "r"),
    ("Symmetrize-5", lambda: _pair("Symmetrize", 5, dtype=F64), "r", "r"),
    ("Symmetrize-3x5-axis0", lambda: _pair("Symmetrize", (3, 5), axis=0, dtype=F64), "r", "r"),
    ("Symmetrize-3x5x2-axis1", lambda: _pair("Symmetrize", (3, 5, 2), axis=1, dtype=F64), "r", "r"),
    # Restriction
    ("Restriction-7-repeated", lambda: _pair("Restriction", 7, [0, 2, 2, 5], dtype=F64), "r", "r"),
    ("Restriction-5x7-axis0", lambda: _pair("Restriction", (5, 7), [1, 3, 4], axis=0, dtype=F64), "r", "r"),
    (
        "Restriction-5x7-axis-1-repeated",
        lambda: _pair("Restriction", (5, 7), [6, 0, 3, 3], axis=-1, dtype=F64),
        "r",
        "r",
    ),
    ("Restriction-7-negative", lambda: _pair("Restriction", 7, [-1, 0, 3], dtype=F64), "r", "r"),
    (
        "Restriction-complex-3x5-axis0",
        lambda: _pair("Restriction", (3, 5), np.array([2, 0]), axis=0, dtype=C128),
        "c",
        "c",
    ),
    # Regression
    ("Regression-7-order2", lambda: _regression(7, 2), "r", "r"),
    ("Regression-5-order3", lambda: _regression(5, 3), "r", "r"),
    ("LinearRegression-7", lambda: _regression(7, 1, linear=True), "r", "r"),
    ("LinearRegression-5", lambda: _regression(5, 1, linear=True), "r", "r"),
    # CausalIntegration defaults and a 1-D case
    ("CausalIntegration-1d-7", lambda: _pair("CausalIntegration", 7, dtype=F64), "r", "r"),
    (
        "CausalIntegration-default-dtype",
        lambda: (tl.CausalIntegration(5, sampling=1.3), pl.CausalIntegration(5, sampling=1.3)),
        "r",
        "r",
    ),
    # derivative and smoothing family (exhaustive parity in tests/test_derivatives.py)
    ("FirstDerivative-axis0", lambda: _pair("FirstDerivative", (5, 7), axis=0, sampling=0.5, dtype=F64), "r", "r"),
    (
        "FirstDerivative-order5-edge",
        lambda: _pair("FirstDerivative", (4, 9), axis=-1, order=5, edge=True, dtype=F64),
        "r",
        "r",
    ),
    ("SecondDerivative-axis0", lambda: _pair("SecondDerivative", (6, 5), axis=0, edge=True, dtype=F64), "r", "r"),
    ("SecondDerivative-forward", lambda: _pair("SecondDerivative", 9, kind="forward", dtype=F64), "r", "r"),
    ("Laplacian-2d", lambda: _pair("Laplacian", (5, 7), weights=(1, 2), sampling=(0.5, 2.0), dtype=F64), "r", "r"),
    ("Laplacian-3d-axes", lambda: _pair("Laplacian", (3, 4, 5), axes=(0, 2), edge=True, dtype=F64), "r", "r"),
    ("Gradient-2d", lambda: _pair("Gradient", (5, 6), sampling=(1.0, 0.5), dtype=F64), "r", "r"),
    ("Gradient-3d-forward", lambda: _pair("Gradient", (3, 4, 5), kind="forward", edge=True, dtype=F64), "r", "r"),
    (
        "FirstDirectionalDerivative-const",
        lambda: (
            tl.FirstDirectionalDerivative((5, 6), torch.tensor([0.6, 0.8], dtype=torch.float64), dtype=F64),
            pl.FirstDirectionalDerivative((5, 6), np.array([0.6, 0.8]), dtype=F64),
        ),
        "r",
        "r",
    ),
    (
        "FirstDirectionalDerivative-field",
        lambda: (
            tl.FirstDirectionalDerivative((4, 5), t(V_FIELD), edge=True, dtype=F64),
            pl.FirstDirectionalDerivative((4, 5), V_FIELD, edge=True, dtype=F64),
        ),
        "r",
        "r",
    ),
    (
        "SecondDirectionalDerivative-const",
        lambda: (
            tl.SecondDirectionalDerivative((5, 6), torch.tensor([0.6, 0.8], dtype=torch.float64), dtype=F64),
            pl.SecondDirectionalDerivative((5, 6), np.array([0.6, 0.8]), dtype=F64),
        ),
        "r",
        "r",
    ),
    (
        "SecondDirectionalDerivative-field",
        lambda: (
            tl.SecondDirectionalDerivative((4, 5), t(V_FIELD), dtype=F64),
            pl.SecondDirectionalDerivative((4, 5), V_FIELD, dtype=F64),
        ),
        "r",
        "r",
    ),
    ("Smoothing1D-odd", lambda: _pair("Smoothing1D", 5, (7, 4), axis=0, dtype=F64), "r", "r"),
    ("Smoothing1D-even", lambda: _pair("Smoothing1D", 4, 9, dtype=F64), "r", "r"),
    ("Smoothing2D", lambda: _pair("Smoothing2D", (3, 5), (7, 9), dtype=F64), "r", "r"),
    ("Smoothing2D-even-axes", lambda: _pair("Smoothing2D", (4, 3), (3, 6, 8), axes=(0, 2), dtype=F64), "r", "r"),
    ("SmoothingND-3d", lambda: _pair("SmoothingND", (3, 3, 5), (5, 6, 7), dtype=F64), "r", "r"),
    ("SmoothingND-2d", lambda: _pair("SmoothingND", (3, 4), (6, 7), dtype=F64), "r", "r"),
]

for _kind in ("full", "half", "trapezoidal"):
    for _rf in (False, True):
        for _axis in (0, -1):
            CASES.append(
                (
                    f"CausalIntegration-{_kind}-removefirst{_rf}-axis{_axis}",
                    lambda k=_kind, r=_rf, a=_axis: _pair(
                        "CausalIntegration", (5, 3), axis=a, sampling=0.7, kind=k, removefirst=r, dtype=F64
                    ),
                    "r",
                    "r",
                )
            )

PARAMS = [pytest.param(b, xk, yk, id=i) for i, b, xk, yk in CASES]


# every operator exported by torchlops.basicoperators has at least two cases
def test_every_basic_operator_has_cases():
    import torchlops.basicoperators as bo

    for name in bo.__all__:
        n = sum(1 for i, *_ in CASES if i.split("-")[0] == name)
        assert n >= 2, f"{name} has {n} parity case(s)"


# ---------------------------------------------------------------------------- parity
@pytest.mark.parametrize(("build", "xk", "yk"), PARAMS)
def test_shape(build, xk, yk):
    Top, Pop = build()
    assert Top.shape == tuple(Pop.shape)
    assert int(np.prod(Top.dims)) == int(np.prod(Pop.dims))
    assert int(np.prod(Top.dimsd)) == int(np.prod(Pop.dimsd))


@pytest.mark.parametrize(("build", "xk", "yk"), PARAMS)
def test_forward(build, xk, yk):
    Top, Pop = build()
    x = rand(Top.shape[1], xk == "c")
    tx = t(x)
    y = Top.matvec(tx)
    assert torch.equal(tx, t(x)), "the input was modified"
    assert tuple(y.shape) == flat_out(Top.dims, Top.dimsd)
    assert_rel(y, Pop.matvec(x), what="forward (flat)")
    # the N-d form gives the same values with the data shape
    yn = Top @ t(x).reshape(Top.dims)
    assert tuple(yn.shape) == Top.dimsd
    assert_rel(yn, Pop.matvec(x), what="forward (N-d)")


@pytest.mark.parametrize(("build", "xk", "yk"), PARAMS)
def test_adjoint(build, xk, yk):
    Top, Pop = build()
    y = rand(Top.shape[0], yk == "c")
    ty = t(y)
    x = Top.rmatvec(ty)
    assert torch.equal(ty, t(y)), "the input was modified"
    assert tuple(x.shape) == flat_out(Top.dimsd, Top.dims)
    assert_rel(x, Pop.rmatvec(y), what="adjoint (flat)")
    xn = Top.H @ t(y).reshape(Top.dimsd)
    assert tuple(xn.shape) == Top.dims
    assert_rel(xn, Pop.rmatvec(y), what="adjoint (N-d)")


@pytest.mark.parametrize(("build", "xk", "yk"), PARAMS)
def test_batched(build, xk, yk):
    Top, Pop = build()
    X = rand((2, 3, *Top.dims), xk == "c")
    Y = Top.matvec(t(X))
    assert tuple(Y.shape) == (2, 3, *Top.dimsd)
    ref = np.stack([Pop.matvec(xi.ravel()).ravel() for xi in X.reshape(6, -1)]).reshape(2, 3, -1)
    assert_rel(Y.reshape(2, 3, -1), ref, what="batched forward")
    D = rand((2, 3, *Top.dimsd), yk == "c")
    Xa = Top.rmatvec(t(D))
    assert tuple(Xa.shape) == (2, 3, *Top.dims)
    ref = np.stack([Pop.rmatvec(di.ravel()).ravel() for di in D.reshape(6, -1)]).reshape(2, 3, -1)
    assert_rel(Xa.reshape(2, 3, -1), ref, what="batched adjoint")
    # flat batched form
    Yf = Top.matvec(t(X.reshape(2, 3, -1)))
    assert tuple(Yf.shape) == (2, 3, *flat_out(Top.dims, Top.dimsd))
    assert_rel(Yf.reshape(2, 3, -1), Y.reshape(2, 3, -1), what="flat batched forward")


def pylops_dense(Pop) -> np.ndarray:
    """PyLops' ``todense``; for ``Diagonal`` the generic one (PyLops 2.8's own
    ``Diagonal.todense`` tiles an N-d ``diag`` into a matrix of the wrong size)."""
    if isinstance(Pop, pl.Diagonal):
        return pl.LinearOperator.todense(Pop)
    return Pop.todense()


# the dense matrix of an R-linear operator (Real, Imag, Conj) is not defined
TODENSE_PARAMS = [p for p in PARAMS if p.id.split("-")[0] not in ("Real", "Imag", "Conj")]


@pytest.mark.parametrize(("build", "xk", "yk"), TODENSE_PARAMS)
def test_todense(build, xk, yk):
    Top, Pop = build()
    D = Top.todense()
    assert tuple(D.shape) == Top.shape
    assert D.dtype == Top.dtype
    # an operator built without dtype is a float32 operator and densifies in float32
    rtol = RTOL if Top.dtype in (torch.float64, torch.complex128) else 1e-6
    assert_rel(D, pylops_dense(Pop), rtol=rtol, what="todense")


@pytest.mark.parametrize(
    "what", ["todense", "trace-explicit", "trace-hutchinson", "eigs", "eigs-symmetric", "cond", "div"]
)
def test_flat_model_nd_data(what):
    """An operator with a 1-D model and an N-d data shape (here an HStack of one N-d
    operator: dims (15,), dimsd (3, 5)) behaves as its single part. A 1-D input of the
    model's shape is the N-d form and the forward returns the N-d data shape; the dense,
    spectral and solver helpers must not assume a flat output."""
    F = tl.Flip((3, 5), axis=0, dtype=F64)
    H = tl.HStack([F])
    assert H.dims == (15,) and H.dimsd == (3, 5)
    ref = np.fliplr(np.eye(3))
    ref = np.kron(ref, np.eye(5))  # Flip along axis 0 of a (3, 5) model
    if what == "todense":
        assert_rel(H.todense(), ref, what="todense")
    elif what == "trace-explicit":
        assert abs(float(H.trace(method="explicit")) - np.trace(ref)) <= 1e-12
    elif what == "trace-hutchinson":
        tr = H.trace(method="hutchinson", neval=4, generator=torch.Generator().manual_seed(0))
        assert np.isfinite(float(tr))
    elif what == "eigs":
        assert_rel(_mags(H.eigs()), _mags(np.linalg.eigvals(ref)), rtol=1e-8)
    elif what == "eigs-symmetric":
        assert_rel(_mags(H.eigs(symmetric=True)), _mags(np.linalg.eigvalsh(ref)), rtol=1e-8)
    elif what == "cond":
        assert abs(float(H.cond()) - 1.0) <= 1e-10
    else:
        xtrue = rand(15)
        y = H @ t(xtrue)
        assert_rel(H.div(y.reshape(-1), niter=5).reshape(-1), xtrue, rtol=1e-8, what="div")


# ---------------------------------------------------------------------------- specific behaviour
def test_diagonal_matrix():
    d = rand(5)
    assert_rel(tl.Diagonal(t(d)).matrix(), pl.Diagonal(d).matrix(), what="Diagonal.matrix")
    d3 = rand(3, cplx=True)
    Top = tl.Diagonal(t(d3), dims=(3, 5), axis=0)
    assert_rel(Top.matrix(), np.diag(np.repeat(d3, 5)), what="broadcast Diagonal.matrix")


def test_diagonal_complex_from_tensor_dtype():
    """A complex ``diag`` makes a complex operator without an explicit dtype."""
    d = rand(5, cplx=True)
    Top = tl.Diagonal(t(d))
    assert Top.dtype == torch.complex128
    x = rand(5)
    assert_rel(Top @ t(x), d * x)
    assert_rel(Top.H @ t(x), d.conj() * x)


@pytest.mark.parametrize(
    ("dims", "iava", "axis"),
    [
        pytest.param(7, [0, 2, 5], -1, id="1d"),
        pytest.param((5, 7), [1, 3, 4], 0, id="axis0"),
        pytest.param((3, 5, 2), [4, 0], 1, id="axis1-3d"),
    ],
)
def test_restriction_mask(dims, iava, axis):
    Top, Pop = _pair("Restriction", dims, iava, axis=axis, dtype=F64)
    x = rand(Top.shape[1])
    ref = np.ma.filled(Pop.mask(x), 0.0)
    m = Top.mask(t(x).reshape(Top.dims))
    assert tuple(m.shape) == Top.dims
    assert_rel(m, ref, what="mask (N-d)")
    mf = Top.mask(t(x))
    assert mf.shape == (Top.shape[1],)
    assert_rel(mf, ref, what="mask (flat)")
    X = rand((2, 3, *Top.dims))
    mb = Top.mask(t(X))
    assert tuple(mb.shape) == (2, 3, *Top.dims)
    refb = np.stack([np.ma.filled(Pop.mask(xi), 0.0) for xi in X.reshape(6, -1)])
    assert_rel(mb.reshape(6, -1), refb.reshape(6, -1), what="mask (batched)")


def test_restriction_mask_repeated_indices():
    """torchlops accepts repeated indices in ``mask`` (PyLops raises): each kept sample once."""
    R = tl.Restriction(7, [0, 2, 2, 5], dtype=F64)
    x = rand(7)
    keep = np.zeros(7, bool)
    keep[[0, 2, 5]] = True
    assert_rel(R.mask(t(x)), np.where(keep, x, 0.0))


@pytest.mark.parametrize(
    ("order", "linear"),
    [pytest.param(1, True, id="LinearRegression"), pytest.param(3, False, id="Regression-order3")],
)
def test_regression_apply(order, linear):
    Top, Pop = _regression(7, order, linear=linear)
    x = rand(order + 1)
    tnew = np.linspace(-2.0, 3.0, 5)
    assert_rel(Top.apply(t(tnew), t(x)), Pop.apply(tnew, x), what="apply")
    # batched coefficients
    X = rand((2, 3, order + 1))
    out = Top.apply(t(tnew), t(X))
    assert tuple(out.shape) == (2, 3, 5)
    ref = np.stack([Pop.apply(tnew, xi) for xi in X.reshape(6, -1)]).reshape(2, 3, 5)
    assert_rel(out, ref, what="batched apply")
    # apply at the operator's own abscissae is the forward
    assert_rel(Top.apply(Top.taxis, t(x)), Pop.matvec(x), what="apply at taxis")


def test_matrixmult_inv():
    A = rand((5, 5)) + 5 * np.eye(5)
    assert_rel(tl.MatrixMult(t(A)).inv(), np.linalg.inv(A), rtol=1e-12)


def test_matrixmult_sparse_todense_and_div():
    At, S = sparse_pair(5, 5, density=0.6)
    S = (S + scipy.sparse.eye(5) * 4).tocsr()
    At = (At + 4 * torch.eye(5, dtype=torch.float64).to_sparse()).coalesce()
    Top, Pop = tl.MatrixMult(At), pl.MatrixMult(S)
    assert_rel(Top.todense(), S.toarray())
    y = rand(5)
    assert_rel(Top.div(t(y)), Pop.div(y), rtol=1e-10, what="sparse div")


def test_memoize_separate_stores():
    """Forward and adjoint results are memoised separately (PyLops 2.8 shares one store
    and may return a forward input as an adjoint result)."""
    A = rand((5, 5))
    M = tl.MemoizeOperator(tl.MatrixMult(t(A)), max_neval=2)
    x = t(rand(5))
    y = M @ x
    assert M.neval == 1
    assert_rel(y, A @ npy(x))
    # the adjoint of the forward output is A^T y, not x
    xa = M.H @ y
    assert M.neval == 2
    assert_rel(xa, A.T @ npy(y))
    # repeated applications are served from the stores
    y2 = M @ x.clone()
    xa2 = M.rmatvec(y.clone())
    assert M.neval == 2
    assert torch.equal(y2, y) and torch.equal(xa2, xa)
    # a returned tensor is a copy: modifying it does not alter the store
    y2.zero_()
    assert torch.equal(M @ x, y)
    # max_neval evicts the oldest entry
    for _ in range(2):
        M @ t(rand(5))
    assert M.neval == 4
    assert_rel(M @ x, A @ npy(x))
    assert M.neval == 5
    M.reset()
    assert M.neval == 0


def test_memoize_requires_grad_bypasses_store():
    A = rand((3, 5))
    M = tl.MemoizeOperator(tl.MatrixMult(t(A)))
    x = t(rand(5)).requires_grad_(True)
    y = M @ x
    y.sum().backward()
    assert_rel(x.grad, A.T @ np.ones(3))
    M @ x
    assert M.neval >= 2


def test_memoize_misses_after_a_conversion_of_an_operator_without_tensors():
    """A converted operator without tensors (Flip, FirstDerivative) is applied afresh: its
    stored results were of the old dtype."""
    x = torch.randn(6, dtype=torch.float32)
    for Op in (tl.Flip(6, dtype=torch.float32), tl.FirstDerivative(6, dtype=torch.float32)):
        M = tl.MemoizeOperator(Op)
        M @ x
        for conv, want in ((lambda m: m.double(), torch.float64), (lambda m: m.to(torch.complex128), torch.complex128)):
            conv(M)
            y = M @ x
            assert y.dtype == want and M.dtype == want
            torch.testing.assert_close(y, Op @ x)
        assert M.neval == 3


def test_memoize_forward_ad_bypasses_store():
    """A dual input (torch.autograd.forward_ad) is never served from the store: its tangent
    must come out, also after the same primal was stored."""
    import torch.autograd.forward_ad as fwAD

    A = rand((4, 6))
    x, v = t(rand(6)), t(rand(6))
    M = tl.MemoizeOperator(tl.MatrixMult(t(A)))
    M @ x
    for _ in range(2):
        with fwAD.dual_level():
            out = fwAD.unpack_dual(M.matvec(fwAD.make_dual(x, v)))
        assert out.tangent is not None
        assert_rel(out.tangent, A @ v.numpy())
        assert_rel(out.primal, A @ x.numpy())


# ---------------------------------------------------------------------------- algebra
def _alg_pair(cplx: bool = True):
    """Two square complex MatrixMult, a complex Diagonal and a rectangular MatrixMult."""
    dt = C128 if cplx else F64
    A, B, R = rand((5, 5), cplx), rand((5, 5), cplx), rand((5, 3), cplx)
    d = rand(5, cplx)
    T = {
        "A": tl.MatrixMult(t(A), dtype=dt),
        "B": tl.MatrixMult(t(B), dtype=dt),
        "R": tl.MatrixMult(t(R), dtype=dt),
        "D": tl.Diagonal(t(d), dtype=dt),
        "C": tl.CausalIntegration(5, sampling=0.3, kind="half", dtype=dt),
    }
    P = {
        "A": pl.MatrixMult(A, dtype=dt),
        "B": pl.MatrixMult(B, dtype=dt),
        "R": pl.MatrixMult(R, dtype=dt),
        "D": pl.Diagonal(d, dtype=dt),
        "C": pl.CausalIntegration(5, sampling=0.3, kind="half", dtype=dt),
    }
    return T, P


ALGEBRA = [
    ("A+B", lambda o: o["A"] + o["B"]),
    ("A+D", lambda o: o["A"] + o["D"]),
    ("A-B", lambda o: o["A"] - o["B"]),
    ("2*A", lambda o: 2 * o["A"]),
    ("A*2", lambda o: o["A"] * 2),
    ("(1-2j)*D", lambda o: (1 - 2j) * o["D"]),
    ("A@B", lambda o: o["A"] @ o["B"]),
    ("A@R", lambda o: o["A"] @ o["R"]),
    ("D*R", lambda o: o["D"] * o["R"]),
    ("A**2", lambda o: o["A"] ** 2),
    ("C**3", lambda o: o["C"] ** 3),
    ("D**0", lambda o: o["D"] ** 0),
    ("-A", lambda o: -o["A"]),
    ("A.H", lambda o: o["A"].H),
    ("R.H", lambda o: o["R"].H),
    ("R.T", lambda o: o["R"].T),
    ("C.T", lambda o: o["C"].T),
    ("A.conj()", lambda o: o["A"].conj()),
    ("R.conj()", lambda o: o["R"].conj()),
    ("A.H@A+D", lambda o: o["A"].H @ o["A"] + o["D"]),
    ("(A-2*B).H@R", lambda o: (o["A"] - 2 * o["B"]).H @ o["R"]),
    ("R.H.H", lambda o: o["R"].H.H),
    ("A.toreal()", lambda o: o["A"].toreal()),
    ("R.toreal(forw=False)", lambda o: o["R"].toreal(forw=False)),
    ("R.toreal(adj=False)", lambda o: o["R"].toreal(adj=False)),
    ("A.toimag()", lambda o: o["A"].toimag()),
    ("R.toimag(forw=False)", lambda o: o["R"].toimag(forw=False)),
    ("D.toimag(adj=False)", lambda o: o["D"].toimag(adj=False)),
    ("R.apply_columns", lambda o: o["R"].apply_columns([0, 2])),
    ("A.apply_columns", lambda o: o["A"].apply_columns([4, 1, 2])),
    ("D.apply_columns", lambda o: o["D"].apply_columns([3, 0])),
    ("C.apply_columns", lambda o: o["C"].apply_columns(np.array([1, 2, 4]))),
]
ALG_PARAMS = [pytest.param(f, c, id=f"{i}-{'complex' if c else 'real'}") for i, f in ALGEBRA for c in (True, False)]


@pytest.mark.parametrize(("expr", "cplx"), ALG_PARAMS)
def test_algebra(expr, cplx):
    from torchlops._algebra import RealImagOperator

    T, P = _alg_pair(cplx)
    Top, Pop = expr(T), expr(P)
    assert Top.shape == tuple(Pop.shape)
    x = rand(Top.shape[1], cplx)
    y = rand(Top.shape[0], cplx)
    # (toreal / toimag with forw and adj: real data, whose adjoint takes the real part of complex
    # ones; PyLops applies A^H to the whole complex data)
    pdata = np.real if isinstance(Top, RealImagOperator) and Top.forw and Top.adj else (lambda v: v)
    assert_rel(Top.matvec(t(x)), Pop.matvec(x), what="forward")
    assert_rel(Top.rmatvec(t(y)), Pop.rmatvec(pdata(y)), what="adjoint")
    X = rand((2, 3, Top.shape[1]), cplx)
    ref = np.stack([Pop.matvec(xi) for xi in X.reshape(6, -1)]).reshape(2, 3, -1)
    assert_rel(Top.matvec(t(X)), ref, what="batched forward")
    Y = rand((2, 3, Top.shape[0]), cplx)
    ref = np.stack([Pop.rmatvec(pdata(yi)) for yi in Y.reshape(6, -1)]).reshape(2, 3, -1)
    assert_rel(Top.rmatvec(t(Y)), ref, what="batched adjoint")
    if Top.clinear:
        assert_rel(Top.todense(), Pop.todense(), what="todense")


SHAPES = [
    ("M+I", lambda lib, M: lib.MatrixMult(M(6, 6)) + lib.Identity((2, 3))),
    ("I-M", lambda lib, M: lib.Identity((2, 3)) - lib.MatrixMult(M(6, 6))),
    ("I+I'", lambda lib, M: lib.Identity((3, 4)) + lib.Identity((4, 3))),
    ("F+T.H@T", lambda lib, M: lib.Flip((3, 4), axis=1) + lib.Transpose((3, 4), (1, 0)).H @ lib.Transpose((3, 4), (1, 0))),
    ("T**0", lambda lib, M: lib.Transpose((3, 4), (1, 0)) ** 0),
    ("T**1", lambda lib, M: lib.Transpose((3, 4), (1, 0)) ** 1),
    ("T**3", lambda lib, M: lib.Transpose((3, 4), (1, 0)) ** 3),
    ("(M+I)**2", lambda lib, M: (lib.MatrixMult(M(6, 6)) + lib.Identity((2, 3))) ** 2),
]


@pytest.mark.parametrize("expr", [f for _, f in SHAPES], ids=[i for i, _ in SHAPES])
def test_algebra_nd_shapes(expr):
    """Sums and powers take PyLops' dims / dimsd (a sum: the first operand's unless flat, then the
    second's; a power: the operator's own), so N-d inputs apply as they do there."""
    A = np.arange(36.0).reshape(6, 6) / 10 - 1.0

    def T_mat(m, n):
        return torch.from_numpy(A[:m, :n].copy())

    class _TL:  # torchlops with PyLops' float64 default
        def __getattr__(self, name):
            cls = getattr(tl, name)
            return lambda *a, **k: cls(*a, **k) if name == "MatrixMult" else cls(*a, dtype=torch.float64, **k)

    Top, Pop = expr(_TL(), T_mat), expr(pl, lambda m, n: A[:m, :n])
    assert Top.dims == tuple(Pop.dims) and Top.dimsd == tuple(Pop.dimsd)
    x, y = rand(Top.dims, False), rand(Top.dimsd, False)
    got = Top @ t(x)
    assert tuple(got.shape) == tuple(Top.dimsd)
    assert_rel(got, (Pop @ x).reshape(Pop.dimsd), what="forward")
    assert_rel(Top.H @ t(y), (Pop.H @ y).reshape(Pop.dims), what="adjoint")
    X = rand((2, *Top.dims), False)
    assert_rel(Top @ t(X), np.stack([(Pop @ xi).reshape(Pop.dimsd) for xi in X]), what="batched forward")


def test_algebra_real_input_to_toreal():
    """With forw=adj=True ``toreal`` maps real models to real data (the real operator)."""
    T, P = _alg_pair(True)
    Top, Pop = T["R"].toreal(), P["R"].toreal()
    x = rand(3)
    y = Top @ t(x)
    assert not y.is_complex()
    assert_rel(y, Pop.matvec(x))
    ya = rand(5)
    xa = Top.H @ t(ya)
    assert not xa.is_complex()
    assert_rel(xa, Pop.rmatvec(ya))


def test_algebra_dtype_promotion():
    T, _ = _alg_pair(False)
    assert (T["A"] + T["B"]).dtype == torch.float64
    assert ((1 + 1j) * T["A"]).dtype == torch.complex128
    Tc, _ = _alg_pair(True)
    assert (T["A"] @ Tc["A"]).dtype == torch.complex128
    assert Tc["A"].toreal().dtype == torch.float64
    # a float32 operator applied to float64 input is not cut to float32
    I32 = tl.Identity(5)
    x = t(rand(5))
    assert (I32 @ x).dtype == torch.float64


# ---------------------------------------------------------------------------- trace
TRACE = [
    ("MatrixMult-complex-5", lambda: _mm(5, 5, cplx=True)),
    ("MatrixMult-7", lambda: _mm(7, 7)),
    ("Diagonal-3x5", lambda: _diag((3, 5))),
    ("Flip-7", lambda: _pair("Flip", 7, dtype=F64)),
    ("CausalIntegration-half", lambda: _pair("CausalIntegration", 5, sampling=0.7, kind="half", dtype=F64)),
    ("Identity-3x5", lambda: _pair("Identity", (3, 5), dtype=F64)),
    ("Kronecker-complex", lambda: _kron("square")),
]


@pytest.mark.parametrize("build", [pytest.param(b, id=i) for i, b in TRACE])
def test_trace_explicit(build):
    Top, Pop = build()
    tr = Top.trace(method="explicit")
    # PyLops 2.8's Diagonal.trace fails (its todense takes no backend): use the generic dense
    ref = np.trace(pylops_dense(Pop)) if isinstance(Pop, pl.Diagonal) else Pop.trace(method="explicit")
    assert abs(complex(tr) - complex(ref)) <= 1e-12 * max(abs(complex(ref)), 1.0)


def test_trace_default_is_explicit_for_matrixmult():
    Top, Pop = _mm(7, 7)
    assert abs(float(Top.trace()) - float(Pop.trace())) <= 1e-12 * abs(float(Pop.trace()))


def test_trace_of_sum_operator():
    T, P = _alg_pair(True)
    Top, Pop = T["A"] + T["D"], P["A"] + P["D"]
    tr = Top.trace(method="explicit")
    assert abs(complex(tr) - complex(Pop.trace(method="explicit"))) <= 1e-12 * abs(complex(tr))


def test_trace_hutchinson_of_diagonal_is_exact():
    """Rademacher probes give the exact trace of a diagonal operator."""
    d = rand(7)
    D = tl.Diagonal(t(d))
    # Hutchinson: z^T D z = trace(D) for every Rademacher z; Hutch++: 3n probes sketch the whole range
    for method, neval in (("hutchinson", 5), ("hutch++", 21)):
        tr = D.trace(method=method, neval=neval, generator=torch.Generator().manual_seed(1))
        assert abs(float(tr) - d.sum()) <= 1e-10 * abs(d).sum(), method


def test_trace_nahutchpp():
    """NA-Hutch++ (PyLops' method="na-hutch++"): exact on an operator of rank below its sketches,
    unbiased on a full-rank one (the mean of 200 estimates within 4 standard errors), and a
    clear error when neval leaves a sketch empty."""
    g = torch.Generator().manual_seed(0)
    U = torch.randn(40, 5, dtype=torch.float64, generator=g)
    L = tl.MatrixMult(U @ U.T)
    assert abs(float(L.trace(method="na-hutch++", neval=60, generator=g)) - float((U * U).sum())) <= 1e-9 * 200
    B = torch.randn(30, 30, dtype=torch.float64, generator=g)
    B = B @ B.T + 30 * torch.eye(30, dtype=torch.float64)
    ests = torch.stack([tl.MatrixMult(B).trace(method="NA-Hutch++", neval=24, generator=g) for _ in range(200)])
    assert abs(float(ests.mean() - B.trace())) <= 4 * float(ests.std()) / 200**0.5
    with pytest.raises(ValueError, match="leaves an empty sketch"):
        L.trace(method="na-hutch++", neval=3)
    with pytest.raises(ValueError, match="'na-hutch\\+\\+', got 'nahutch'"):
        L.trace(method="nahutch")


def test_tosparse():
    """tosparse (PyLops: scipy.sparse): a sparse COO tensor of the operator's matrix."""
    A = rand((5, 4), cplx=True)
    for Op in (tl.MatrixMult(t(A)), tl.FirstDerivative((3, 4), axis=1, dtype=F64),
               tl.MatrixMult(t(A).to_sparse())):
        S = Op.tosparse()
        assert S.layout == torch.sparse_coo and S.shape == Op.shape
        np.testing.assert_allclose(npy(S.to_dense()), npy(Op.todense()))
    D = tl.Diagonal(t(np.array([1.0, 0.0, 2.0])))
    assert D.tosparse().coalesce().values().numel() == 2


# ---------------------------------------------------------------------------- eigs / cond
def _sym(n):
    A = rand((n, n))
    return A + A.T


def _mags(v) -> np.ndarray:
    return np.sort(np.abs(npy(v)))[::-1]


@pytest.mark.parametrize(
    ("kind", "implicit"),
    [
        pytest.param("symmetric", False, id="symmetric-MatrixMult"),
        pytest.param("symmetric", True, id="symmetric-FunctionOperator"),
        pytest.param("nonsymmetric", False, id="nonsymmetric-MatrixMult"),
        pytest.param("nonsymmetric", True, id="nonsymmetric-FunctionOperator"),
        pytest.param("rectangular", False, id="rectangular-MatrixMult-7x5"),
        pytest.param("wide", False, id="rectangular-MatrixMult-5x7"),
    ],
)
def test_eigs_all(kind, implicit):
    if kind == "symmetric":
        A = _sym(7)
        ref = _mags(np.linalg.eigvalsh(A))
    elif kind == "nonsymmetric":
        A = rand((7, 7))
        ref = _mags(np.linalg.eigvals(A))
    elif kind == "rectangular":
        A = rand((7, 5))
        ref = _mags(np.linalg.svd(A, compute_uv=False))
    else:
        A = rand((5, 7))
        ref = _mags(np.linalg.svd(A, compute_uv=False))
    At = t(A)
    Op = (
        tl.FunctionOperator(lambda x: x @ At.T, lambda y: y @ At, *A.shape, dtype=F64)
        if implicit
        else tl.MatrixMult(At)
    )
    # the wide case: A^H A has a double zero eigenvalue that a Krylov method sees once; ask for the 5 nonzero ones
    neigs = 5 if kind == "wide" else None
    vals = Op.eigs(neigs=neigs, symmetric=kind == "symmetric")
    got = npy(vals)
    # PyLops' order, -sort(-vals): decreasing value (complex ones by real part, then imaginary part)
    np.testing.assert_array_equal(got, -np.sort(-got))
    assert_rel(_mags(got), ref, rtol=1e-8, what="eigenvalue magnitudes")
    if kind in ("symmetric", "rectangular"):
        assert not vals.is_complex() or np.allclose(got.imag, 0.0)
    if kind == "nonsymmetric":
        # the eigenvalues themselves (as a set) match numpy's
        ev = np.linalg.eigvals(A)
        for lam in got:
            assert np.min(np.abs(ev - lam)) <= 1e-8 * np.abs(ev).max()


def test_eigs_complex_hermitian():
    A = rand((6, 6), cplx=True)
    A = A + A.conj().T
    ref = np.linalg.eigvalsh(A)
    vals = tl.MatrixMult(t(A)).eigs(symmetric=True)
    assert_rel(np.sort(npy(vals).real), np.sort(ref), rtol=1e-8)
    assert_rel(_mags(vals), _mags(ref), rtol=1e-8)


def test_eigs_neigs_and_which():
    A = _sym(7)
    ref = np.linalg.eigvalsh(A)
    Op = tl.MatrixMult(t(A))
    lm = Op.eigs(neigs=3, symmetric=True)
    want = ref[np.argsort(-np.abs(ref))[:3]]
    assert_rel(npy(lm), -np.sort(-want), rtol=1e-8)  # (the 3 largest in magnitude, in decreasing value)
    sm = Op.eigs(neigs=2, symmetric=True, which="SM")
    want = ref[np.argsort(np.abs(ref))[:2]]
    assert_rel(npy(sm), -np.sort(-want), rtol=1e-8)


def test_eigs_order_is_pylops():
    """The selected eigenvalues come in PyLops' order, -sort(-vals): [3, -5] for diag(3, -5, 1, 2)
    with neigs=2 (the two largest in magnitude), complex ones by real then imaginary part."""
    D = tl.Diagonal(t(np.array([3.0, -5.0, 1.0, 2.0])))
    Pd = pl.Diagonal(np.array([3.0, -5.0, 1.0, 2.0]))
    np.testing.assert_allclose(npy(D.eigs(neigs=2, symmetric=True)), [3.0, -5.0], rtol=1e-12)
    np.testing.assert_allclose(Pd.eigs(neigs=2, symmetric=True), [3.0, -5.0], rtol=1e-12)
    # a rotation by 90 degrees scaled by 2, plus 1 on the diagonal: eigenvalues 1 +- 2i, and 0.5
    A = np.array([[1.0, -2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 0.5]])
    got = npy(tl.MatrixMult(t(A)).eigs())
    np.testing.assert_allclose(got, [1 + 2j, 1 - 2j, 0.5], atol=1e-12)


def test_eigs_vs_pylops_explicit():
    """PyLops' eigs of an explicit operator (scipy ARPACK) agrees on the largest ones."""
    A = _sym(9)
    Pop = pl.MatrixMult(A)
    ref = _mags(Pop.eigs(neigs=3, symmetric=True))
    got = _mags(tl.MatrixMult(t(A)).eigs(neigs=3, symmetric=True))
    assert_rel(got, ref, rtol=1e-8)


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param((7, 7), id="square"),
        pytest.param((7, 5), id="tall"),
        pytest.param((5, 5), id="diagonal"),
        pytest.param((6, 6), id="complex"),
    ],
)
def test_cond_2norm(shape):
    """``cond`` is the 2-norm condition number sigma_max / sigma_min."""
    if shape == (5, 5):
        d = np.array([0.5, -1.0, 2.0, 3.0, -4.0])
        Op, ref = tl.Diagonal(t(d)), 8.0
    elif shape == (6, 6):
        A = rand(shape, cplx=True)
        Op, ref = tl.MatrixMult(t(A)), np.linalg.cond(A)
    else:
        A = rand(shape)
        Op, ref = tl.MatrixMult(t(A)), np.linalg.cond(A)
    c = float(Op.cond())
    assert abs(c - ref) <= 1e-8 * ref


# ---------------------------------------------------------------------------- div
def test_div_explicit_square():
    A = rand((7, 7)) + 4 * np.eye(7)
    Top, Pop = tl.MatrixMult(t(A)), pl.MatrixMult(A)
    y = rand(7)
    assert_rel(Top.div(t(y)), Pop.div(y), rtol=1e-12, what="div")
    assert_rel(Top / t(y), Pop / y, rtol=1e-12, what="/")
    # batched data
    Y = rand((2, 3, 7))
    X = Top.div(t(Y))
    assert tuple(X.shape) == (2, 3, 7)
    ref = np.stack([Pop.div(yi) for yi in Y.reshape(6, 7)]).reshape(2, 3, 7)
    assert_rel(X, ref, rtol=1e-12, what="batched div")


def test_div_explicit_complex_and_tall():
    A = rand((7, 5), cplx=True)
    Top, Pop = tl.MatrixMult(t(A)), pl.MatrixMult(A, dtype=C128)
    y = rand(7, cplx=True)
    assert_rel(Top.div(t(y)), Pop.div(y), rtol=1e-10, what="least-squares div")


@pytest.mark.parametrize(
    "which",
    [pytest.param("Diagonal", id="Diagonal"), pytest.param("CausalIntegration", id="CausalIntegration")],
)
def test_div_implicit(which):
    if which == "Diagonal":
        d = RNG.uniform(1.0, 2.0, 7)
        Op = tl.Diagonal(t(d), dims=(3, 7), axis=1)
    else:
        Op = tl.CausalIntegration((3, 5), axis=-1, sampling=0.5, kind="full", dtype=F64)
    assert not Op.explicit
    xtrue = rand((2, *Op.dims))
    y = Op @ t(xtrue)
    x = Op.div(y, niter=50)
    assert_rel(x.reshape(2, -1), xtrue.reshape(2, -1), rtol=1e-8, what="implicit div")
    x1 = Op / y[0]
    assert_rel(x1.reshape(-1), xtrue[0].ravel(), rtol=1e-8, what="implicit /")


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_sparse_complex_matrixmult_adjoint_is_a_plain_tensor(layout):
    """The sparse adjoint computes conj(A^T conj(y)): the result carries no lazy conj bit
    (so .numpy() and in-place ops work) and equals A^H y."""
    A = torch.tensor([[1 + 1j, 0, 2j], [0, 3 - 1j, 0]], dtype=torch.complex128)
    M = tl.MatrixMult(A.to_sparse() if layout == "coo" else A.to_sparse_csr())
    y = torch.tensor([1.0 + 2j, -1j], dtype=torch.complex128)
    x = M.rmatvec(y)
    assert not x.is_conj() and not x.is_neg()
    np.testing.assert_allclose(x.numpy(), (A.conj().T @ y).numpy(), rtol=1e-15)


@pytest.mark.parametrize("layout", ["dense", "coo", "csr"])
def test_matrixmult_dtype_rules_sparse_as_dense(layout):
    """A sparse A follows the dense rules: a complex A with a real dtype makes that precision's
    complex counterpart, and an integer A the default dtype."""
    def lay(A):
        return A if layout == "dense" else A.to_sparse() if layout == "coo" else A.to_sparse_csr()

    Ac = torch.tensor([[1 + 1j, 0, 2j], [0, 3 - 1j, 0]], dtype=torch.complex128)
    M = tl.MatrixMult(lay(Ac), dtype=torch.float32)
    assert M.dtype == torch.complex64 and M.A.dtype == torch.complex64
    y = M @ torch.ones(3)
    assert y.dtype == torch.complex64
    np.testing.assert_allclose(y.numpy(), (Ac @ torch.ones(3, dtype=torch.complex128)).numpy(), rtol=1e-6)
    Mi = tl.MatrixMult(lay(torch.tensor([[1, 0], [0, 2]])))
    assert Mi.dtype == torch.get_default_dtype() and Mi.A.dtype == Mi.dtype
    np.testing.assert_allclose((Mi @ torch.ones(2)).numpy(), [1.0, 2.0])


def test_composite_conj_output_is_a_plain_tensor():
    A = torch.tensor([[1 + 1j, 2j], [3.0, -1j]], dtype=torch.complex128)
    x = torch.tensor([1.0 + 1j, 2.0], dtype=torch.complex128)
    y = tl.MatrixMult(A).conj() @ x
    assert not y.is_conj() and not y.is_neg()
    np.testing.assert_allclose(y.numpy(), (A.conj() @ x).numpy(), rtol=1e-15)


def test_stacks_take_numpy_blocks():
    """VStack / HStack / BlockDiag / Block take NumPy matrices (and SciPy sparse ones) as blocks,
    as PyLops: each becomes a MatrixMult."""
    import scipy.sparse as sps

    A, B, C = rand((3, 4)), rand((2, 4)), rand((3, 2))
    At = tl.MatrixMult(t(A))
    pairs = [
        (tl.VStack([At, B]), pl.VStack([pl.MatrixMult(A), B])),
        (tl.HStack([A, sps.csr_matrix(C)]), pl.HStack([A, C])),
        (tl.BlockDiag([A, tl.Flip(3, dtype=F64)]), pl.BlockDiag([A, pl.Flip(3)])),
        (tl.Block([[A, C], [B, tl.Zero(2, dtype=F64)]]), pl.Block([[A, C], [B, pl.Zero(2)]])),
    ]
    for Top, Pop in pairs:
        assert Top.shape == Pop.shape
        x, y = rand(Top.shape[1]), rand(Top.shape[0])
        assert_rel(Top @ t(x), Pop @ x, what="forward")
        assert_rel(Top.H @ t(y), Pop.H @ y, what="adjoint")


@pytest.mark.parametrize("kind", ["full", "half", "trapezoidal"])
def test_causal_integration_removefirst_on_one_sample(kind):
    """removefirst on a one-sample axis: an empty data axis, forward and adjoint as PyLops."""
    for dims, axis in ((1, -1), ((1, 3), 0)):
        T = tl.CausalIntegration(dims, axis=axis, removefirst=True, kind=kind, dtype=F64)
        P = pl.CausalIntegration(dims, axis=axis, removefirst=True, kind=kind)
        assert T.shape == P.shape
        x = rand(T.shape[1])
        assert (T @ t(x)).numel() == 0 and (P @ x).size == 0
        got, want = npy(T.H @ torch.zeros(0, dtype=torch.float64)), P.H @ np.zeros(0)
        assert got.shape == want.shape and np.array_equal(got, want)
        # a batch of data samples, and a gradient through it
        y = torch.zeros(2, 0, dtype=torch.float64, requires_grad=True)
        (T.H @ y).sum().backward()
        assert y.grad.shape == (2, 0)


def test_dot_of_a_dims_shaped_matrix():
    """dot of a (*dims, k) array applies the operator to its k columns and returns (*dimsd, k), as
    PyLops; an (N, k) matrix and a (*dims) model as before."""
    D = tl.FirstDerivative((3, 4), axis=1, dtype=F64)
    P = pl.FirstDerivative((3, 4), axis=1)
    X = rand((3, 4, 2))
    y = D.dot(t(X))
    assert tuple(y.shape) == (3, 4, 2)
    np.testing.assert_allclose(npy(y), P.dot(X), rtol=1e-12)
    np.testing.assert_allclose(npy(D.dot(t(X.reshape(12, 2)))), P.dot(X.reshape(12, 2)), rtol=1e-12)
    np.testing.assert_allclose(npy(D.dot(t(X[..., 0]))), P.dot(X[..., 0]), rtol=1e-12)


def test_mul_by_a_one_element_tensor():
    """Op * t with a tensor of one element and one dim is the product with that input (PyLops: an
    array is an input); a 0-dim tensor or a number scales the operator, on either side."""
    M = tl.MatrixMult(torch.tensor([[2.0]], dtype=torch.float64))
    y = M * torch.tensor([3.0], dtype=torch.float64)
    assert isinstance(y, torch.Tensor) and y.tolist() == [6.0]
    np.testing.assert_allclose(pl.MatrixMult(np.array([[2.0]])) * np.array([3.0]), [6.0])
    for S in (M * torch.tensor(3.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64) * M, M * 3.0,
              torch.tensor([3.0], dtype=torch.float64) * M):
        assert isinstance(S, tl.LinearOperator) and (S @ torch.ones(1, dtype=torch.float64)).tolist() == [6.0]


def test_algebra_review_cases():
    """apply_columns with a repeated column adds it up; NumPy complex scalars stay complex; a
    0-d float64 scale lifts a float32 operator's output; dot of a square (N, N) matrix is matmat."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(4, 5, dtype=torch.float64, generator=g)
    C = tl.MatrixMult(A).apply_columns([1, 1])
    v = torch.tensor([1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(C @ v, A[:, [1, 1]] @ v)
    torch.testing.assert_close(C.todense(), A[:, [1, 1]])
    assert tl.dottest(C, rtol=1e-10)
    M = tl.MatrixMult(A)
    x = torch.randn(5, dtype=torch.float64, generator=g)
    for S in (np.complex64(1j) * M, M * np.complex64(1j)):
        torch.testing.assert_close(S @ x, 1j * (A @ x).to(torch.complex128))
    F = tl.FirstDerivative(5, dtype=torch.float32)
    xf = torch.randn(5, generator=g)
    for s in (torch.tensor(2.0, dtype=torch.float64), torch.tensor(2 + 1j, dtype=torch.complex128)):
        S = s * F
        assert (S @ xf).dtype == S.dtype == torch.promote_types(torch.float32, s.dtype)
        assert (S.H @ (S @ xf)).dtype == S.dtype
    Q = torch.randn(5, 5, dtype=torch.float64, generator=g)
    B = tl.MatrixMult(torch.randn(5, 5, dtype=torch.float64, generator=g))
    torch.testing.assert_close(B.dot(Q), B.A @ Q)


def test_memoize_with_learnt_and_updated_operator():
    d = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    M = tl.MemoizeOperator(tl.Diagonal(d))
    x = torch.ones(3)
    for _ in range(2):  # a parameter that requires grad: every application keeps its graph
        (g,) = torch.autograd.grad((M @ x).sum(), d)
        torch.testing.assert_close(g, torch.ones(3))
    with torch.no_grad():
        y1 = M @ x
        assert torch.equal(M @ x, y1) and M.neval == 3  # the repeat comes from the store
        d.mul_(10)  # an in-place update: the stored result is not reused
        torch.testing.assert_close(M @ x, torch.tensor([10.0, 20.0, 30.0]))


def test_function_operator_autograd_option_reaches_what_its_functions_close_over():
    """autograd=True: tensors that f closes over (a learnable weight, an operator's parameters)
    get their gradients whether or not the input requires grad, and x's gradient is f's
    derivative; by default backward applies fc, so f may leave torch (NumPy), and a closed-over
    tensor gets none where the input requires grad (documented)."""
    g = torch.Generator().manual_seed(2)
    W = torch.randn(3, 4, dtype=torch.float64, generator=g, requires_grad=True)
    M = tl.MatrixMult(torch.nn.Parameter(torch.randn(3, 4, dtype=torch.float64, generator=g)))
    for F, w in ((tl.FunctionOperator(lambda x: x @ W.T, lambda y: y @ W, 3, 4, autograd=True), W),
                 (tl.FunctionOperator(M, M.H, 3, 4, autograd=True), M.A)):
        grads = []
        for rg in (False, True):
            x = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5)).requires_grad_(rg)
            w.grad = None
            (F @ x).square().sum().backward()
            grads.append(w.grad.clone())
            if rg:
                torch.testing.assert_close(x.grad, 2 * (F.H @ (F @ x)).detach())
        torch.testing.assert_close(grads[0], grads[1])
    x = torch.randn(2, 4, dtype=torch.float64, generator=g, requires_grad=True)
    W.grad = None
    (tl.FunctionOperator(lambda v: v @ W.T, lambda y: y @ W, 3, 4) @ x).sum().backward()
    assert W.grad is None and x.grad is not None
    # f through NumPy (no graph): the default applies fc in backward
    A = torch.randn(3, 4, dtype=torch.float64, generator=g)
    calls = []

    def f(v):
        calls.append(1)
        return torch.from_numpy(v.detach().numpy() @ A.numpy().T)

    Fn = tl.FunctionOperator(f, lambda y: y @ A, 3, 4)
    x = torch.randn(2, 4, dtype=torch.float64, generator=g, requires_grad=True)
    (Fn @ x).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(2, 3, dtype=torch.float64) @ A)
    assert len(calls) == 1


def test_matrixmult_complex_attribute_follows_conversions():
    """PyLops' ``complex`` attribute of MatrixMult says what the operator's dtype is now."""
    M = tl.MatrixMult(torch.randn(3, 3, dtype=torch.float64))
    assert M.complex is False and M.to(torch.complex128).complex is True
    C = tl.MatrixMult(torch.randn(3, 3, dtype=torch.complex128))
    assert C.complex is True
    import warnings

    with warnings.catch_warnings():  # (torch may warn that the imaginary part is dropped)
        warnings.simplefilter("ignore")
        C.to(torch.float64)
    assert C.complex is False


def test_function_operator_checks_what_its_functions_return():
    F = tl.FunctionOperator(lambda x: x[..., :4], lambda y: torch.nn.functional.pad(y, (0, 1)), 3, 5)
    with pytest.raises(ValueError, match=r"f must return \(2, 3\) for an input of \(2, 5\), got \(2, 4\)"):
        F @ torch.randn(2, 5)
    with pytest.raises(ValueError, match=r"fc must return \(2, 5\)"):
        F.H @ torch.randn(2, 3)
    G = tl.FunctionOperator(lambda x: x[..., :3], lambda y: torch.nn.functional.pad(y, (0, 2)), 3, 5)
    assert (G @ torch.randn(2, 5)).shape == (2, 3) and (G.H @ torch.randn(3)).shape == (5,)


def test_eigs_repeated_small_norm_and_wide():
    """Repeated eigenvalues keep their multiplicity (the Krylov process restarts from a new
    direction when its space closes); an operator of tiny norm is no breakdown; a wide
    operator gives the neigs values asked for."""
    D = tl.Diagonal(torch.tensor([6.0, 6.0, 1.0, 2.0, 3.0], dtype=torch.float64))
    for sym in (True, False):
        torch.testing.assert_close(D.eigs(neigs=2, symmetric=sym).real, torch.tensor([6.0, 6.0], dtype=torch.float64))
    D2 = tl.Diagonal(torch.tensor([1.0, 1.0, 5.0, 6.0, 7.0], dtype=torch.float64))
    torch.testing.assert_close(D2.eigs(neigs=2, symmetric=True, which="SM"), torch.tensor([1.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(tl.Zero(4, 4, dtype=torch.float64).eigs(neigs=2).abs(), torch.zeros(2, dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    B = torch.randn(6, 6, dtype=torch.float64, generator=g)
    B = B + B.T
    ref = torch.linalg.eigvalsh(B)
    top = ref[ref.abs().argmax()]
    c_ref = torch.linalg.cond(B)
    for scale in (1.0, 1e-10, 1e-13):
        A = tl.MatrixMult(scale * B)
        torch.testing.assert_close(A.eigs(neigs=1, symmetric=True)[0], scale * top, rtol=1e-8, atol=0)
        torch.testing.assert_close(A.cond(), c_ref, rtol=1e-8, atol=0)
    W = tl.MatrixMult(torch.randn(4, 7, dtype=torch.float64, generator=g))
    sv = torch.linalg.svdvals(W.A)
    for k in (4, 5, 6, 7):
        vals = W.eigs(neigs=k)
        assert vals.numel() == k
        torch.testing.assert_close(vals[:4], sv, rtol=1e-8, atol=1e-10)


def test_apply_columns_masks_and_fractional_indices():
    """A boolean mask selects columns (NumPy indexing); fractional indices are an error rather
    than truncated."""
    A = torch.randn(4, 6, dtype=torch.float64)
    Op = tl.MatrixMult(A)
    mask = torch.tensor([True, False, True, False, False, True])
    torch.testing.assert_close(Op.apply_columns(mask).todense(), A[:, mask])
    torch.testing.assert_close(Op.apply_columns(np.array([1, 3])).todense(), A[:, [1, 3]])
    with pytest.raises(TypeError, match="cols must hold integer indices"):
        Op.apply_columns([0.5])
    with pytest.raises(ValueError, match="boolean cols mask must have 6 entries"):
        Op.apply_columns([True, False])


def test_eigs_and_cond_take_pylops_arguments():
    """eigs(neigs, symmetric, niter, uselobpcg, **kwargs_eig) and cond(uselobpcg) as PyLops calls them."""
    A = np.diag(np.arange(1.0, 7.0))
    T, P = tl.MatrixMult(t(A)), pl.MatrixMult(A)
    assert_rel(npy(T.eigs(2, True, None, False)), P.eigs(2, True, None, False), rtol=1e-10)
    assert_rel(npy(T.eigs(2, True, None, True)), np.sort(P.eigs(2, True, None, True))[::-1], rtol=1e-6)
    assert abs(float(T.cond(False)) - 6.0) < 1e-10 and abs(float(T.cond(uselobpcg=True)) - 6.0) < 1e-10


def test_eigs_which_algebraic_and_lobpcg_largest():
    """'LA' / 'SA' pick by value (an indefinite spectrum: not the same as by magnitude)."""
    vals = torch.tensor([-7.0, -1.0, 0.5, 2.0, 6.0], dtype=torch.float64)
    T = tl.MatrixMult(torch.diag(vals))
    got = lambda **kw: sorted(T.eigs(neigs=2, symmetric=True, **kw).tolist())  # noqa: E731
    assert got(which="LM") == pytest.approx([-7.0, 6.0])
    assert got(which="LA") == pytest.approx([2.0, 6.0])
    assert got(which="SA") == pytest.approx([-7.0, -1.0])
    assert got(which="SM") == pytest.approx([-1.0, 0.5])
    assert got(uselobpcg=True) == pytest.approx([2.0, 6.0])
    assert got(uselobpcg=True, largest=False) == pytest.approx([-7.0, -1.0])
    with pytest.raises(ValueError, match="uselobpcg=True needs a symmetric"):
        tl.MatrixMult(torch.diag(vals.to(torch.complex128))).eigs(neigs=2, uselobpcg=True)


def test_eigs_li_si_of_a_real_operator_rank_by_magnitude_of_imaginary_part_as_pylops():
    """A real operator's eigenvalues come in conjugate pairs: scipy's eigs (ARPACK's real driver,
    PyLops') ranks them for 'LI' / 'SI' by |imag|, so 'LI' returns both of a pair and 'SI' real
    eigenvalues; a complex operator keeps the signed imaginary part."""
    import warnings

    rng = np.random.default_rng(5)
    rng.standard_normal((12, 12))
    B = rng.standard_normal((12, 12))
    T, P = tl.MatrixMult(torch.from_numpy(B)), pl.MatrixMult(B)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_rel(npy(T.eigs(neigs=3, which="LI")), P.eigs(neigs=3, which="LI"), rtol=1e-10)
        si = npy(T.eigs(neigs=3, which="SI"))
        assert np.allclose(si.imag, 0.0, atol=1e-12)  # (ties among the four real ones: any three)
        assert np.all(np.min(np.abs(si[:, None] - np.linalg.eigvals(B)[None]), axis=1) < 1e-10)
        C = B + 1j * rng.standard_normal((12, 12))
        Tc, Pc = tl.MatrixMult(torch.from_numpy(C)), pl.MatrixMult(C)
        for which in ("LI", "SI"):
            assert_rel(npy(Tc.eigs(neigs=3, which=which)), Pc.eigs(neigs=3, which=which), rtol=1e-10)
        # (an R-linear operator of a complex matrix: no conjugate pairs, the signed imaginary part)
        R = tl.Conj(12, dtype=torch.complex128) @ Tc
        ev = np.linalg.eigvals(R.todense().numpy())
        top = ev[np.argsort(-ev.imag)[:3]]
        got = npy(R.eigs(neigs=3, which="LI"))
        assert np.allclose(np.sort_complex(got), np.sort_complex(top), atol=1e-10)


def test_eigs_of_a_large_operator_without_niter(monkeypatch):
    """Above DENSE_LIMIT columns eigs builds a Krylov space of max(2 neigs + 1, 64) vectors, not
    all N (an N x N basis: 3.2 GB here), and finds a well-separated largest eigenvalue."""
    from torchlops.optimization import eigs as E

    sizes, krylov = [], E._krylov

    def spy(apply, n, m, *args):
        sizes.append(m)
        return krylov(apply, n, m, *args)

    monkeypatch.setattr(E, "_krylov", spy)
    n = 20000
    d = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    d[-1] = 3.0
    vals = tl.Diagonal(d).eigs(neigs=1, symmetric=True)
    assert n > E.DENSE_LIMIT and sizes == [E.KRYLOV_DEFAULT] and abs(float(vals[0]) - 3.0) < 1e-10
    # (up to DENSE_LIMIT: the dense matrix's decomposition, no Krylov space)
    assert float(tl.Diagonal(d[-50:]).eigs(neigs=1, symmetric=True)[0]) == pytest.approx(3.0) and len(sizes) == 1
    assert float(tl.Diagonal(d[-50:]).eigs(neigs=1, symmetric=True, niter=50)[0]) == pytest.approx(3.0)
    assert sizes[-1] == 50


def test_pad_takes_conjugate_flagged_inputs() -> None:
    """Pad (and Identity when it pads) applied through .conj() / .T, or to x.conj(), or in the
    backward of a loss through y.conj(): the lazy conjugate bit is resolved (view_as_real
    refused it)."""
    P = tl.Pad((3, 4), ((1, 0), (0, 2)), dtype=torch.complex128)
    x = torch.randn(3, 4, dtype=torch.complex128)
    torch.testing.assert_close(P.conj() @ x, (P @ x.conj().resolve_conj()).conj())
    torch.testing.assert_close(P @ x.conj(), P @ x.conj().resolve_conj())
    torch.testing.assert_close(P.H.T @ x, P @ x)
    torch.testing.assert_close(P.conj().todense(), P.todense().conj())
    Id = tl.Identity(3, 5, dtype=torch.complex128)
    torch.testing.assert_close(Id.T @ x[0, :3], torch.cat([x[0, :3], x.new_zeros(2)]))
    xr = x.clone().requires_grad_()
    w = torch.randn(4, 6, dtype=torch.complex128)
    (P @ xr).conj().mul(w).real.sum().backward()
    # (the same gradient as through the dense matrix)
    xd = x.clone().requires_grad_()
    (P.todense() @ xd.reshape(-1)).conj().mul(w.reshape(-1)).real.sum().backward()
    torch.testing.assert_close(xr.grad, xd.grad)


def test_stacks_with_an_explicit_dtype_give_it() -> None:
    """VStack / HStack / BlockDiag / Block built with dtype= give promote(dtype, input dtype),
    as every operator (PyLops: its dtype), whatever their parts compute in."""
    D = tl.Diagonal(torch.randn(2, 3, dtype=torch.float64))
    F = tl.FirstDerivative((2, 3), axis=1, dtype=torch.float64)
    for V in (tl.VStack([D, F], dtype=torch.float32), tl.HStack([D, F], dtype=torch.float32),
              tl.BlockDiag([D, F], dtype=torch.float32), tl.Block([[D, F], [F, D]], dtype=torch.float32)):
        x32, y32 = torch.ones(V.shape[1], dtype=torch.float32), torch.ones(V.shape[0], dtype=torch.float32)
        assert (V @ x32).dtype == (V.H @ y32).dtype == V.todense().dtype == torch.float32
        assert (V @ x32.double()).dtype == torch.float64
    Vc = tl.VStack([D, F], dtype=torch.complex128)
    assert (Vc @ torch.ones(6, dtype=torch.float64)).dtype == torch.complex128
    assert (tl.VStack([D, F]) @ torch.ones(6, dtype=torch.float32)).dtype == torch.float64  # (no dtype: as before)


def test_dot_of_a_1d_model_with_nd_data_and_div_gradient() -> None:
    """dot of (N, k) columns when dims is 1-D and dimsd N-d returns (*dimsd, k) as PyLops; the
    dense solve of `/` keeps a learnable matrix's graph (as torch.linalg.solve)."""
    S, P = tl.Sum((3, 4), axis=0, dtype=torch.float64), pl.Sum((3, 4), axis=0)
    X = torch.randn(4, 5, dtype=torch.float64)
    np.testing.assert_allclose(S.H.dot(X).numpy(), P.H.dot(X.numpy()), rtol=1e-14)
    assert S.dot(torch.randn(12, 5, dtype=torch.float64)).shape == (4, 5)
    A = torch.nn.Parameter(torch.randn(4, 4, dtype=torch.float64) + 4 * torch.eye(4, dtype=torch.float64))
    y = torch.randn(4, dtype=torch.float64)
    (tl.MatrixMult(A) / y).sum().backward()
    Ac = A.detach().clone().requires_grad_()
    torch.linalg.solve(Ac, y).sum().backward()
    torch.testing.assert_close(A.grad, Ac.grad)


def test_diagonal_along_an_axis_takes_any_shape_with_that_many_elements() -> None:
    d, x = torch.randn(3, 1, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    D, P = tl.Diagonal(d, dims=(3, 4), axis=0), pl.Diagonal(d.numpy(), dims=(3, 4), axis=0)
    np.testing.assert_allclose((D @ x).numpy().ravel(), P @ x.numpy().ravel(), rtol=1e-14)
    torch.testing.assert_close(tl.Diagonal(d.reshape(1, 3), dims=(3, 4), axis=0) @ x, D @ x)


def test_stack_dtype_keeps_complex_parts_and_kronecker_dtype() -> None:
    """A stack with a real dtype= whose part answers complex (an R-linear toreal adjoint) keeps
    the complex result; Kronecker built with dtype= gives it too."""
    A = torch.randn(3, 2, dtype=torch.complex128)
    R = tl.MatrixMult(A).toreal(forw=True, adj=False)
    y = torch.randn(3, dtype=torch.float64)
    torch.testing.assert_close(tl.VStack([R], dtype=torch.float64).H @ y, R.H @ y)
    torch.testing.assert_close(tl.HStack([R.H], dtype=torch.float64) @ y, R.H @ y)
    K = tl.Kronecker(tl.MatrixMult(torch.randn(2, 2, dtype=torch.float64)),
                     tl.MatrixMult(torch.randn(3, 3, dtype=torch.float64)), dtype=torch.float32)
    x = torch.ones(6, dtype=torch.float32)
    assert (K @ x).dtype == (K.H @ x).dtype == K.todense().dtype == torch.float32


# ---------------------------------------------------------------------------- module semantics
def test_composite_dtype_follows_its_converted_parts():
    """A composite's dtype is its parts' now: torch's .double() leaves complex tensors alone,
    so a mixed real / complex composite becomes complex128, and a composite sharing parts
    with the one converted follows them (eigs builds its vectors from the dtype)."""
    D = tl.Diagonal(torch.randn(3, generator=GEN).to(torch.complex64))
    M = tl.MatrixMult(torch.randn(3, 3, generator=GEN, dtype=torch.float32))
    x = torch.randn(3, generator=GEN, dtype=torch.float32)
    for op in (D @ M, D + M, tl.VStack([D, M]), tl.Kronecker(D, M), torch.tensor(1 + 1j) * M.H @ D):
        op = op.double()
        xin = torch.randn(op.shape[1], generator=GEN, dtype=torch.float32)
        assert op.dtype == torch.complex128 == (op @ xin).dtype
    P = (D @ M).double()
    assert P.eigs(neigs=2).dtype == torch.complex128
    A = tl.MatrixMult(torch.randn(3, 3, generator=GEN, dtype=torch.float32))
    B = tl.Diagonal(torch.randn(3, generator=GEN, dtype=torch.float32))
    C1, C2 = A + B, A @ B
    C1.double()
    assert C2.dtype == torch.float64 == (C2 @ x).dtype
    S = ((1 + 2j) * A).to(torch.float64)
    assert S.dtype == torch.complex128 == (S @ x).dtype
    assert tl.VStack([A, B], dtype=torch.float32).double().dtype == torch.float64
    assert (torch.tensor(1j) * A).toreal().double().dtype == torch.float64
    assert tl.Real(3, dtype=torch.complex64).double().dtype == torch.complex64  # (a leaf: torch leaves it)


def test_real_target_dtype_keeps_an_intrinsically_complex_operator_complex():
    """FFT, Shift, Real, ... are complex by definition, not by a tensor torch casts: .to(float32)
    sets their precision (complex64, as built with that), and the result dtype follows the rule."""
    x = torch.randn(8, generator=GEN, dtype=torch.float32)
    for op in (tl.FFT(8), tl.Shift(8, 1.3), tl.Conj(8), tl.FFT(8) @ tl.Real(8)):
        conv = op.to(torch.float32)
        assert conv.dtype == torch.complex64 == torch.promote_types(conv.dtype, x.dtype)
        assert (conv @ x).dtype == torch.complex64
    # a complex tensor is cast to real by torch: the operator is then real
    M = tl.MatrixMult(torch.randn(3, 3, generator=GEN, dtype=torch.complex128))
    assert M.to(torch.float32).dtype == torch.float32 == M.A.dtype
    # an operator given a complex dtype follows the conversion (the design's rule)
    assert tl.Identity(4, dtype=torch.complex128).to(torch.float32).dtype == torch.float32


def test_learnable_scalar_of_any_one_element_shape():
    """A one-element nn.Parameter scales as a 0-d one in products and adjoints."""
    B = tl.MatrixMult(torch.randn(3, 3, generator=GEN, dtype=torch.float64))
    P = torch.nn.Parameter(torch.full((1, 1, 1), 2.0, dtype=torch.float64))
    x = torch.randn(4, 3, generator=GEN, dtype=torch.float64)
    for op, ref in (((P * B).H, 2 * (B.H @ x)), (B @ (P * B), 2 * (B @ (B @ x)))):
        y = op @ x
        assert y.shape == (4, 3)
        torch.testing.assert_close(y, ref, rtol=1e-12, atol=0)
    (B @ (P * B) @ x).sum().backward()
    torch.testing.assert_close(P.grad.reshape(()), (B @ (B @ x)).sum(), rtol=1e-12, atol=0)


def test_memoize_misses_a_new_tensor_reusing_an_old_ones_id():
    """A replaced operator tensor, freed, may hand its id to the next one: the store keeps
    weak references, so the new tensor is never mistaken for the old."""
    from torch.func import functional_call

    M = tl.MemoizeOperator(tl.Diagonal(torch.ones(3, dtype=torch.float64)))
    x = torch.ones(3, dtype=torch.float64)
    for v in range(1, 21):
        out = functional_call(M, {"Op.diag": torch.full((3,), float(v), dtype=torch.float64)}, (x,))
        assert out.tolist() == [float(v)] * 3
    assert M.neval == 20


def _double(x):
    return 2 * x


def test_function_operator_pickles_unvectorized():
    import pickle

    for vec in (True, False):
        F = tl.FunctionOperator(_double, _double, 3, vectorized=vec)
        G = pickle.loads(pickle.dumps(F))
        x = torch.randn(2, 3, generator=GEN, dtype=torch.float64)
        torch.testing.assert_close(G @ x, 2 * x)
        torch.testing.assert_close(G.H @ x, 2 * x)


def test_pylops_gallery_arguments():
    """Arguments PyLops' own gallery passes: Sliding3D with nop of the two windowed axes,
    Block's PyLops positions (nproc second), NonStationaryConvolve1D.hsinterp."""
    nwin, nover, dimsd = (5, 6), (2, 3), (12, 14, 20)
    dims = tuple(int(v) for v in pl.signalprocessing.sliding3d_design(dimsd, nwin, nover, (4, 4, 20), verb=False)[1])
    A = rand((600, 320))
    P = pl.signalprocessing.Sliding3D(pl.MatrixMult(A), dims, dimsd, nwin, nover, (4, 4))
    T = tl.signalprocessing.Sliding3D(tl.MatrixMult(torch.from_numpy(A)), dims, dimsd, nwin, nover, (4, 4))
    x = rand(dims)
    ref = P @ x.ravel()
    np.testing.assert_allclose((T @ torch.from_numpy(x.ravel())).numpy(), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    I2 = tl.Identity(2, dtype=torch.float64)
    B = tl.Block([[I2, 2 * I2]], 2)  # (nproc=2, as PyLops: not forceflat)
    assert B.nproc == 2 and B.shape == (2, 4)
    hs, ih = rand((4, 5)), [2, 7, 12, 17]
    Pn = pl.signalprocessing.NonStationaryConvolve1D(20, hs, ih)
    Tn = tl.signalprocessing.NonStationaryConvolve1D(20, torch.from_numpy(hs), ih)
    np.testing.assert_allclose(Tn.hsinterp.numpy(), Pn.hsinterp, rtol=1e-14)


def test_used_memoize_operator_pickles_and_copies():
    import copy
    import pickle

    M = tl.MemoizeOperator(tl.Diagonal(torch.tensor([2.0, 3.0], dtype=torch.float64)))
    x = torch.ones(2, dtype=torch.float64)
    y = M @ x
    for clone in (pickle.loads(pickle.dumps(M)), copy.deepcopy(M)):
        torch.testing.assert_close(clone @ x, y)
        assert clone.neval == 2  # (the copy's store starts empty)


def test_composite_dtype_follows_shared_parts_everywhere_and_is_kept():
    """A composite whose parts another composite converted: dtype, application, todense and a
    windowed operator's adjoint agree; the dtype is derived once per conversion, not per read."""
    from unittest import mock

    A = tl.MatrixMult(torch.randn(4, 4, dtype=torch.float64))
    S1, S2 = A + A, 2 * A
    S2.float()
    x = torch.randn(4, dtype=torch.float32)
    assert S1.dtype == torch.float32 == (S1 @ x).dtype == S1.todense().dtype
    with mock.patch.object(type(S1), "_dtype_from_parts", side_effect=AssertionError("derived again")):
        for _ in range(3):
            assert S1.dtype == torch.float32
    W = tl.signalprocessing.Sliding1D(tl.MatrixMult(torch.randn(4, 4, dtype=torch.float64)), 8, 8, 4, 0)
    (2 * W.Op).float()
    assert W.dtype == (W.H @ torch.randn(8, dtype=torch.float32)).dtype == (W @ torch.randn(8, dtype=torch.float32)).dtype


def test_composite_dtype_cache_neither_recompiles_nor_survives_a_pickle(monkeypatch):
    """The per-conversion cache is not what torch.compile guards on (converting an unrelated
    operator recompiled, and fullgraph failed after 8), and a pickled composite derives its
    dtype afresh (the count it was cached at is another process's)."""
    import pickle

    import torchlops.linearoperator as lo

    Op = tl.MatrixMult(torch.randn(6, 5)) + 2.0 * tl.MatrixMult(torch.randn(6, 5))
    f = torch.compile(lambda t: Op(t), fullgraph=True, backend="eager")
    x = torch.randn(5)
    other = tl.Identity(3)
    for _ in range(12):
        torch.testing.assert_close(f(x), Op(x))
        other.float()
    A = tl.MatrixMult(torch.randn(3, 3))
    C = A + A
    assert C.dtype == torch.float32
    saved = lo._CONVERSIONS[0]
    blob = pickle.dumps(C)
    A.double()
    monkeypatch.setattr(lo, "_CONVERSIONS", [saved])  # (a new process whose count matches)
    D = pickle.loads(blob)
    D.A.double()
    monkeypatch.setattr(lo, "_CONVERSIONS", [saved])
    assert D.dtype == torch.float64 == (D @ torch.randn(3)).dtype


def test_eigs_cond_trace_in_single_precision_and_of_real_model_operators():
    """float32: a closed Krylov space is judged with float32's precision (its ~1e-8 remainder was
    taken for a direction: Identity(50).eigs() up to 1432, cond inf, ISTA's default step of a
    Restriction from -1506); operators of real models with a complex dtype (FFT(real=True)'s
    normal operator, Real) give real spectra and traces; cond is sigma_max / sigma_min of A
    itself (Lanczos on A^H A lost the digits of a 1e9 one); which='LI'/'SI' of a symmetric
    operator raise, as scipy's eigsh."""
    from torchlops.optimization.eigs import operator_eigs

    I32 = tl.Identity(50, dtype=torch.float32)
    torch.testing.assert_close(I32.eigs().abs(), torch.ones(50))
    assert float(I32.cond()) == pytest.approx(1.0, rel=1e-5)
    D = tl.Diagonal(torch.tensor([3.0] * 10 + [1.0] * 20 + [2.0] * 20))
    for kw in ({}, {"niter": 50}, {"symmetric": True, "niter": 50}):
        torch.testing.assert_close(D.eigs(neigs=4, **kw).real, torch.full((4,), 3.0))
    lam = operator_eigs(tl.Identity(5000, dtype=torch.float32), neigs=3, symmetric=True, niter=40)
    torch.testing.assert_close(lam, torch.ones(3))
    R = tl.Restriction(40, torch.arange(0, 40, 2), dtype=torch.float32)
    assert float(operator_eigs(R.H @ R, neigs=1, symmetric=True, niter=40)[0]) == pytest.approx(1.0, rel=1e-5)

    F = tl.FFT(8, real=True)
    for Op, n in ((F.H @ F, 8), (tl.Real(4), 4)):
        torch.testing.assert_close(Op.eigs(neigs=2), torch.ones(2, dtype=torch.complex128))  # (as PyLops)
        assert float(Op.cond()) == pytest.approx(1.0)
        for method in ("hutch++", "na-hutch++", "hutchinson"):
            t = Op.trace(method=method, generator=torch.Generator().manual_seed(0))
            assert not t.is_complex() and float(t) == pytest.approx(n)
    torch.testing.assert_close(F.eigs(neigs=2), torch.ones(2, dtype=torch.float64))

    g = torch.Generator().manual_seed(2)
    Q1, _ = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=torch.float64))
    Q2, _ = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=torch.float64))
    A = Q1 @ torch.diag(torch.logspace(0, -9, 30, dtype=torch.float64)) @ Q2
    assert float(tl.MatrixMult(A).cond()) == pytest.approx(1e9, rel=1e-4)
    S = tl.MatrixMult(A + A.T)
    for which in ("LI", "SI"):
        with pytest.raises(ValueError, match="imaginary part"):
            S.eigs(neigs=2, symmetric=True, which=which)
    # (a non-symmetric request returns complex values, Hermitian matrix or not, as the Krylov path)
    assert tl.Identity(3).eigs().dtype == torch.complex64 and tl.Identity(3).eigs(symmetric=True).dtype == torch.float32


def test_kronecker_given_real_dtype_keeps_a_complex_part_and_empty_explicit_division():
    """Kronecker(C, I, dtype=float64) of a complex C is complex128, as the stacks (PyLops'
    Kronecker defaults to float64; eigs then built real vectors and failed); an explicit
    operator without rows divides into zeros, as PyLops and the iterative route."""
    C = tl.MatrixMult(torch.randn(3, 3, generator=GEN, dtype=torch.complex128))
    K = tl.Kronecker(C, tl.Identity(2, dtype=torch.float64), dtype=torch.float64)
    assert K.dtype == torch.complex128 == K.todense().dtype
    ref = torch.linalg.eigvals(K.todense())
    torch.testing.assert_close(K.eigs(neigs=2).abs(), ref.abs().sort(descending=True).values[:2])
    assert K.double().dtype == torch.complex128
    M = tl.MatrixMult(torch.zeros(0, 5, dtype=torch.float64))
    assert torch.equal(M / torch.zeros(3, 0, dtype=torch.float64), torch.zeros(3, 5, dtype=torch.float64))


def test_eigs_cond_dense_path_limits_and_real_maps(monkeypatch):
    """The dense decomposition holds at most DENSE_LIMIT**2 entries (a tall operator takes the
    Krylov path's memory: Pad of a 400-sample model to 300400 rows took 2 GB); cond of a square
    R-linear operator with complex outputs is that of its real map [Re A; Im A], as its Krylov
    estimate; an operator without rows has cond nan."""
    from torchlops.optimization import eigs as E

    sizes, krylov = [], E._krylov

    def spy(apply, n, m, *args):
        sizes.append(m)
        return krylov(apply, n, m, *args)

    monkeypatch.setattr(E, "_krylov", spy)
    monkeypatch.setattr(E, "DENSE_LIMIT", 8)
    d = torch.linspace(1.0, 2.0, 6, dtype=torch.float64)
    tall = tl.Pad(6, (0, 10), dtype=torch.float64) @ tl.Diagonal(d)  # 16 x 6: 96 > 8**2 entries
    assert float(tall.cond()) == pytest.approx(2.0) and sizes == [6]
    assert float(tl.Diagonal(d).cond()) == pytest.approx(2.0) and sizes == [6]  # (dense: no Krylov)
    monkeypatch.setattr(E, "DENSE_LIMIT", 4096)
    B = torch.randn(4, 4, generator=GEN, dtype=torch.complex128)
    R = tl.MatrixMult(B) @ tl.Real(4)
    s = torch.linalg.svdvals(torch.cat([B.real, B.imag]))
    assert float(R.cond()) == pytest.approx(float(s.max() / s.min()), rel=1e-10)
    assert float(R.cond(niter=4)) == pytest.approx(float(s.max() / s.min()), rel=1e-8)
    assert torch.isnan(tl.Zero(0, 5, dtype=torch.float64).cond())


def test_regression_keeps_its_vandermonde_matrix_while_taxis_is_unchanged():
    """The matrix is built once (it cost three times the product) and afresh after an in-place
    change or a new taxis; the operator still pickles and differentiates in taxis."""
    import pickle

    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    R = tl.LinearRegression(t.clone())
    x = torch.randn(2, generator=GEN, dtype=torch.float64)
    R @ x
    V = R.__dict__["_kept_values"]["vander"][2]
    R @ x
    assert R.__dict__["_kept_values"]["vander"][2] is V
    R.taxis.mul_(2)
    torch.testing.assert_close(R @ x, x[0] + x[1] * 2 * t)
    R.taxis.data.mul_(0.5)  # (no version counter through .data: values are compared)
    torch.testing.assert_close(R @ x, x[0] + x[1] * t)
    tn = t.numpy().copy()
    Rn = tl.LinearRegression(tn)
    Rn @ x
    tn *= 3  # (a NumPy array the operator shares)
    torch.testing.assert_close(Rn @ x, x[0] + x[1] * torch.from_numpy(tn))
    with torch.inference_mode():
        Ri = tl.LinearRegression(t.clone())
        torch.testing.assert_close(Ri @ x, x[0] + x[1] * t)
    torch.testing.assert_close(Ri @ x, x[0] + x[1] * t)
    R.taxis = torch.ones(5, dtype=torch.float64)
    torch.testing.assert_close(R.H @ torch.ones(5, dtype=torch.float64), torch.tensor([5.0, 5.0], dtype=torch.float64))
    torch.testing.assert_close(pickle.loads(pickle.dumps(R)) @ x, R @ x)
    p = torch.nn.Parameter(t.clone())
    (tl.LinearRegression(p) @ x).sum().backward()
    torch.testing.assert_close(p.grad, torch.full((5,), float(x[1]), dtype=torch.float64))


def test_kept_flat_gathers_follow_data_writes_and_are_not_copied_with_the_operator():
    """The positions (and weights) that Restriction and linear Interp keep for flat gathers follow
    the values of iava / weights: new storage through ``.data =``, writes in place through ``.data``
    or through a tensor sharing the storage (no version bump), and a copy (deepcopy, pickle,
    torch.save) that then loads another checkpoint; the copy does not carry them."""
    import copy
    import io
    import pickle

    from torchlops.signalprocessing.interp import Interp

    g = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, 10, generator=g, dtype=torch.float64)

    def lin(op):
        return (1 - op.weights) * x[..., op.left] + op.weights * x[..., op.left + 1]

    R = tl.Restriction((3, 10), [1, 4, 7], axis=-1, dtype=torch.float64)
    R(x)
    R.iava.data = torch.tensor([0, 2, 9])
    assert torch.equal(R(x), x[..., [0, 2, 9]])
    R.iava.data.copy_(torch.tensor([3, 3, 5]))  # (a buffer written in place through .data)
    assert torch.equal(R(x), x[..., [3, 3, 5]])
    idx = torch.tensor([1, 8, 4])
    R.iava.data = idx
    R(x)
    idx[0] = 6  # (the tensor whose storage iava now shares, written in place)
    assert torch.equal(R(x), x[..., [6, 8, 4]])
    Ip = Interp((3, 10), np.array([0.5, 2.25, 7.75]), kind="linear", dtype=torch.float64)[0]
    Ip(x)
    Ip.weights.data = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    torch.testing.assert_close(Ip(x), lin(Ip), rtol=1e-14, atol=1e-14)
    J = Interp((3, 10), np.array([0.5, 2.25, 7.75]), kind="linear", dtype=torch.float64)[0]
    J.weights = torch.nn.Parameter(J.weights.clone())
    with torch.no_grad():
        J(x)
        J.weights.data.mul_(0.5)  # (a manual update of a learnable tensor)
        torch.testing.assert_close(J(x), lin(J), rtol=1e-14, atol=1e-14)
    for Op, new, ref in ((R, {"iava": torch.tensor([0, 2, 9])}, lambda o: x[..., o.iava]),
                         (Ip, {"left": torch.tensor([1, 3, 6]),
                               "weights": torch.tensor([0.9, 0.6, 0.4], dtype=torch.float64)}, lin)):
        Op.load_state_dict(Op.state_dict())
        Op.load_state_dict(Op.state_dict())  # (versions of the tensors the positions came from: 2)
        Op(x)
        buf = io.BytesIO()
        torch.save(Op, buf)
        buf.seek(0)
        for C in (copy.deepcopy(Op), pickle.loads(pickle.dumps(Op)), torch.load(buf, weights_only=False)):
            assert not [k for k in C.__dict__ if k.startswith("_kept")]
            C.load_state_dict(new)
            torch.testing.assert_close(C(x), ref(C), rtol=1e-14, atol=1e-14)


def test_restriction_last_axis_flat_gather_matches_index_select():
    """Sampling the last axis of a contiguous CPU input takes one flat gather with a kept index:
    equal to index_select for every batch size, repeated and negative indices, complex data, a
    non-contiguous input (the generic path), and an iava changed in place or moved (the kept
    index is rebuilt)."""
    from torchlops.basicoperators.restriction import Restriction

    g = torch.Generator().manual_seed(3)
    for dims, iava in (((6, 9), [8, 0, 3, 3, -1]), ((17,), [16, 2, 2, 5])):
        R = Restriction(dims, iava, axis=-1, dtype=torch.complex128)
        iv = torch.tensor(iava) % dims[-1]
        for batch in ((), (1,), (4,), (2, 3)):
            x = torch.randn(*batch, *dims, generator=g, dtype=torch.complex128)
            assert torch.equal(R(x), x.index_select(-1, iv))
        xt = torch.randn(*dims[::-1], generator=g, dtype=torch.complex128).transpose(0, -1) if len(dims) == 2 \
            else torch.randn(2 * dims[0], generator=g, dtype=torch.complex128)[::2]
        assert not xt.is_contiguous()
        assert torch.equal(R(xt), xt.index_select(-1, iv))
        assert R.__dict__.get("_kept_index") is not None
        R.iava[0] = 1  # (in place: the kept index is stale)
        x = torch.randn(3, *dims, generator=g, dtype=torch.complex128)
        assert torch.equal(R(x), x.index_select(-1, R.iava))
        R.iava = R.iava.flip(0).clone()
        assert torch.equal(R(x), x.index_select(-1, R.iava))
    with torch.inference_mode():  # (inference tensors keep no version counter: nothing kept)
        R = Restriction(8, [5, 1, 2], dtype=torch.float64)
        x = torch.arange(8.0, dtype=torch.float64)
        R(x)
        R.iava[0] = 0
        assert R(x).tolist() == [0.0, 1.0, 2.0]
    traced = torch.jit.trace(Restriction((2, 8), [5, 1], dtype=torch.float64),
                             (torch.randn(3, 2, 8, dtype=torch.float64),), check_trace=False)
    xb = torch.randn(3, 2, 8, dtype=torch.float64)
    assert torch.equal(traced(xb), xb[..., [5, 1]])


def test_pylops_api_dot_scalar_and_dims_shaped_todense_backend_rmatvec_x_and_integer_div():
    """PyLops' forms: ``Op.dot(2.0)`` is the scaled operator; ``dot`` of one model of shape ``dims``
    returns ``dimsd`` also where dims is ``(N, 1)``; ``todense(backend=...)``; ``rmatvec(x=...)``;
    integer data of ``Op / y`` raise on the explicit (dense) path as on the iterative one."""
    A = np.arange(12.0).reshape(4, 3)
    T, P = tl.MatrixMult(t(A)), pl.MatrixMult(A)
    x = np.array([1.0, -2.0, 0.5])
    S = T.dot(2.0)
    assert isinstance(S, tl.LinearOperator)
    assert_rel(npy(S @ t(x)), P.dot(2.0) @ x, rtol=1e-14)
    assert_rel(npy(T.dot(torch.tensor(-1.5)) @ t(x)), -1.5 * (P @ x), rtol=1e-14)
    Tt, Pt = tl.Transpose((5, 1), axes=(1, 0), dtype=torch.float64), pl.Transpose((5, 1), axes=(1, 0))
    xm = np.arange(5.0).reshape(5, 1)
    assert tuple(Tt.dot(t(xm)).shape) == Pt.dot(xm).shape == (1, 5)
    assert_rel(npy(Tt.dot(t(xm))), Pt.dot(xm), rtol=1e-14)
    for Op in (T, tl.Identity(3, dtype=torch.float64) * 2.0):
        assert torch.equal(Op.todense(backend="numpy"), Op.todense())
    with pytest.raises(TypeError, match="backend must be a string"):
        T.todense(backend=1)
    y = np.array([1.0, 0.0, -1.0, 2.0])
    assert_rel(npy(T.rmatvec(x=t(y))), P.rmatvec(x=y), rtol=1e-14)
    Sq = tl.MatrixMult(torch.tensor([[2.0, 1.0], [0.0, 1.0]], dtype=torch.float64))
    for Op in (Sq, tl.Diagonal(torch.tensor([2.0, 1.0], dtype=torch.float64))):
        with pytest.raises(TypeError, match="floating or complex"):
            Op / torch.tensor([1, 2])


def test_review_edges_of_toimag_dot_and_subclassed_attributes():
    """toimag of an R-linear operator: bfloat16 data to the adjoint; dot of a 0-d model of an
    operator with dims (); integer dataregs name themselves; a subclass defining ``name`` as a
    property keeps it."""
    F = tl.FFT(6, nfft=8, real=True, dtype=torch.complex64).toimag()
    y = torch.randn(5, generator=torch.Generator().manual_seed(1)).bfloat16()
    torch.testing.assert_close(F.rmatvec(y), F.rmatvec(y.float()))
    two = torch.tensor(2.0, dtype=torch.float64)
    for Z in (tl.Identity((), dtype=torch.float64), tl.Zero((), dtype=torch.float64)):
        assert torch.equal(Z.dot(two), Z.todense().reshape(()) * two) and torch.equal(Z @ two, Z.H @ two)
    D = tl.FirstDerivative(4, dtype=torch.float64)
    with pytest.raises(TypeError, match="dataregs"):
        tl.regularized_inversion(tl.Identity(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64), [D],
                                 dataregs=[torch.arange(4)], epsRs=[0.5])

    class Named(tl.Identity):
        @property
        def name(self):
            return f"<{self._label}>"

        @name.setter
        def name(self, value):
            self.__dict__["_label"] = f"{value}{self.shape}"  # (reads what the base set before)

    assert Named(3, name="q").name == "<q(3, 3)>"


def test_toreal_and_toimag_inside_complex_composites_keep_their_adjoint():
    """toreal / toimag (forw and adj) have real data: inside FFT @ A.toreal() their adjoint gets
    the complex data of FFT^H, whose real part it takes (the adjoint of the embedding of real data
    among complex ones); PyLops applies A^H to the whole complex data and fails the dot test."""
    from torchlops.utils import dottest

    M = tl.MatrixMult(torch.randn(5, 4, dtype=torch.complex128, generator=torch.Generator().manual_seed(6)))
    for Op in (tl.FFT(5) @ M.toreal(), tl.FFT(5) @ M.toimag(), tl.FFT(5) @ (2j * M).toreal()):
        assert dottest(Op, raiseerror=False)
        x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
        g = torch.randn(3, 5, dtype=torch.complex128)
        (gx,) = torch.autograd.grad((g.conj() * Op(x)).real.sum(), x)
        torch.testing.assert_close(gx, Op.rmatvec(g), rtol=1e-12, atol=1e-12)


def test_stack_attributes_and_parallel_kind_as_pylops():
    """VStack / HStack / BlockDiag / Block expose PyLops' nops, mops (ints) and nnops / mmops
    (cumulative sizes after a zero), and refuse a parallel_kind PyLops refuses."""
    rng = np.random.default_rng(8)
    A, B, C = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((3, 2))
    for name, parts in (("VStack", (A, B)), ("HStack", (A, C)), ("BlockDiag", (A, B))):
        T = getattr(tl, name)([tl.MatrixMult(t(M)) for M in parts])
        P = getattr(pl, name)([pl.MatrixMult(M) for M in parts])
        for attr in ("nops", "mops", "nnops", "mmops"):
            if hasattr(P, attr):
                assert np.array_equal(np.asarray(getattr(T, attr)), np.asarray(getattr(P, attr))), (name, attr)
        assert_rel(npy(T.todense()), P.todense(), rtol=1e-14)
        y, z = T @ torch.ones(T.shape[1], dtype=torch.float64), T.H @ torch.ones(T.shape[0], dtype=torch.float64)
        for k in ("_rows", "_cols"):  # (a stack saved before these were kept)
            T.__dict__.pop(k, None)
        assert torch.equal(T @ torch.ones(T.shape[1], dtype=torch.float64), y)
        assert torch.equal(T.H @ torch.ones(T.shape[0], dtype=torch.float64), z)
        with pytest.raises(ValueError, match="parallel_kind must be 'multiproc' or 'multithread'"):
            getattr(tl, name)([tl.MatrixMult(t(M)) for M in parts], parallel_kind="bogus")
        getattr(tl, name)([tl.MatrixMult(t(M)) for M in parts], parallel_kind="multithread")
    with pytest.raises(ValueError, match="parallel_kind"):
        tl.Block([[tl.MatrixMult(t(A))]], parallel_kind="threads")


def test_trapezoidal_causal_integration_of_an_empty_axis_and_regression_apply_points():
    """CausalIntegration of every kind along an empty axis gives empty results; Regression.apply
    evaluates complex points (and float64 points of a float32 operator) as np.polyval does."""
    for kind in ("full", "half", "trapezoidal"):
        C = tl.CausalIntegration((3, 0), axis=1, kind=kind, dtype=torch.float64)
        assert C.matvec(torch.ones(3, 0, dtype=torch.float64)).shape == (3, 0)
        assert C.rmatvec(torch.ones(3, 0, dtype=torch.float64)).shape == (3, 0)
    R = tl.Regression(torch.linspace(0, 1, 5, dtype=torch.float64), order=2)
    pts, x = [0.5 + 1j, 2 - 1j], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    assert_rel(npy(R.apply(pts, x)), np.polyval([3.0, 2.0, 1.0], np.array(pts)), rtol=1e-14)
    R32 = tl.Regression(torch.linspace(0, 1, 5), order=1, dtype=torch.float32)
    got = R32.apply(torch.tensor([2.0**24 + 1], dtype=torch.float64), torch.tensor([0.0, 1.0]))
    assert got.dtype == torch.float64 and got.item() == 2.0**24 + 1


def test_explicit_div_gives_nd_models_and_composites_follow_the_operator_device():
    """Op / y of an explicit operator with N-d dims: N-d data gives N-d models (and flat data flat
    ones), as the CGLS path (it always returned flat models); apply_columns and a tensor scalar
    of an operator on another device hold their tensors there ('meta' standing in for a GPU:
    the composites stayed on the CPU and refused every input)."""
    A = torch.from_numpy(np.random.default_rng(0).standard_normal((4, 4)) + 4 * np.eye(4))

    class Expl(tl.LinearOperator):
        def __init__(self):
            super().__init__(dims=(2, 2), dimsd=(2, 2), explicit=True, dtype=torch.float64)
            self.register_buffer("M", A.clone())

        def _matvec(self, x):
            return (x.reshape(x.shape[0], 4) @ self.M.T).reshape(x.shape)

        def _rmatvec(self, y):
            return (y.reshape(y.shape[0], 4) @ self.M).reshape(y.shape)

    E = Expl()
    y = torch.randn(3, 2, 2, dtype=torch.float64)
    want = torch.linalg.solve(A, y.reshape(3, 4).T).T
    for got, shape in ((E / y[0], (2, 2)), (E.div(y), (3, 2, 2)), (E / y[0].reshape(4), (4,)),
                       (E.div(y.reshape(3, 4)), (3, 4))):
        assert tuple(got.shape) == shape
        torch.testing.assert_close(got.reshape(-1, 4), want[: got.numel() // 4])
    Op = tl.MatrixMult(torch.randn(3, 4, dtype=torch.float64)).to("meta")
    C = Op.apply_columns([0, 2])
    assert C.cols.device.type == "meta"
    assert Op.apply_columns([True, False, True, True]).shape == (3, 3)  # (a mask, read on the host)
    assert Op.apply_columns(torch.tensor([0, 2], device="meta")).shape == (3, 2)  # (meta indices: no bounds)
    with pytest.raises(ValueError, match=r"cols must lie in \[-4, 4\)"):
        Op.apply_columns([0, 7])
    assert (C @ torch.ones(2, device="meta", dtype=torch.float64)).shape == (3,)
    assert (C.H @ torch.ones(3, device="meta", dtype=torch.float64)).shape == (2,)
    S = Op * torch.tensor(2.0, dtype=torch.float64)
    assert (S @ torch.ones(4, device="meta", dtype=torch.float64)).device.type == "meta"


def test_learnable_csr_matrix_gets_its_gradient_through_the_adjoint():
    """A CSR Parameter: the adjoint's gradient is the forward's rule on the stored entries, in
    the matrix's layout (backward raised: torch has no backward of a transposed CSR product),
    so a least-squares solve over it trains."""
    D = torch.tensor([[1.0, 0, 2], [0, 3, 0]], dtype=torch.float64)
    A = torch.nn.Parameter(D.to_sparse_csr())
    M = tl.MatrixMult(A)
    y = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    (M.H @ y).pow(2).sum().backward()
    Ad = D.clone().requires_grad_()
    (y @ Ad).pow(2).sum().backward()
    assert A.grad.layout == torch.sparse_csr
    torch.testing.assert_close(A.grad.to_dense(), Ad.grad * (D != 0))
    A.grad = None
    x = tl.cgls(M, torch.tensor([1.0, 2.0], dtype=torch.float64), niter=3, tol=0).x
    x.sum().backward()
    assert A.grad is not None and torch.isfinite(A.grad.to_dense()).all()
