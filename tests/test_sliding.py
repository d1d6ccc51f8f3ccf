"""Sliding-window and patching operators: property battery, PyLops parity, batching, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torchlops as tl
from tests.registry import SLIDING_CASES as CASES
from torchlops.signalprocessing._windows import overlap_add, overlap_table
from torchlops.signalprocessing.patch2d import Patch2D, patch2d_design
from torchlops.signalprocessing.patch3d import Patch3D, patch3d_design
from torchlops.signalprocessing.sliding1d import Sliding1D, sliding1d_design
from torchlops.signalprocessing.sliding2d import Sliding2D, sliding2d_design
from torchlops.signalprocessing.sliding3d import Sliding3D, sliding3d_design
from torchlops.utils import testing as T

pl = pytest.importorskip("pylops")
pls = pl.signalprocessing

IDS = [c.name for c in CASES]
RTOL = 1e-10


# ---------------------------------------------------------------------------- property battery


# ---------------------------------------------------------------------------- PyLops parity
def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True))


def _nwins(n: int, nwin: int, nover: int) -> int:
    return len(range(0, n - nwin + 1, nwin - nover))


def _inner(kind: str, nout: tuple[int, ...], nin: tuple[int, ...], rng, nwins: int = 1):
    """The same inner operator in torchlops and PyLops: a matrix, a derivative or an identity."""
    if kind == "matrix":
        A = rng.standard_normal((int(np.prod(nout)), int(np.prod(nin))))
        return tl.MatrixMult(_t(A)), pl.MatrixMult(A)
    if kind == "complex":
        A = rng.standard_normal((int(np.prod(nout)), int(np.prod(nin)))) + 1j * rng.standard_normal(
            (int(np.prod(nout)), int(np.prod(nin))))
        return tl.MatrixMult(_t(A)), pl.MatrixMult(A, dtype="complex128")
    if kind == "derivative":
        assert nout == nin
        return (tl.FirstDerivative(nin, axis=0, dtype=torch.float64),
                pl.FirstDerivative(nin, axis=0, dtype="float64"))
    if kind == "identity":
        return tl.Identity(int(np.prod(nout)), int(np.prod(nin)), dtype=torch.float64), pl.Identity(
            int(np.prod(nout)), int(np.prod(nin)), dtype="float64")
    raise ValueError(kind)


def _sliding1d(dimd, nwin, nover, nop, tapertype, kind, rng):
    nw = _nwins(dimd, nwin, nover)
    Ti, Pi = _inner(kind, (nwin,), (nop,), rng)
    return (Sliding1D(Ti, nw * nop, dimd, nwin, nover, tapertype),
            pls.Sliding1D(Pi, nw * nop, dimd, nwin, nover, tapertype=tapertype))


def _sliding2d(dimsd, nwin, nover, nop, tapertype, kind, rng):
    nw = _nwins(dimsd[0], nwin, nover)
    dims = (nw * nop[0], nop[1])
    Ti, Pi = _inner(kind, (nwin, dimsd[1]), nop, rng)
    return (Sliding2D(Ti, dims, dimsd, nwin, nover, tapertype),
            pls.Sliding2D(Pi, dims, dimsd, nwin, nover, tapertype=tapertype))


def _sliding3d(dimsd, nwin, nover, nop, tapertype, kind, rng, **kw):
    nw = [_nwins(dimsd[a], nwin[a], nover[a]) for a in range(2)]
    dims = (nw[0] * nop[0], nw[1] * nop[1], nop[2])
    Ti, Pi = _inner(kind, (*nwin, dimsd[2]), nop, rng)
    return (Sliding3D(Ti, dims, dimsd, nwin, nover, nop, tapertype, **kw),
            pls.Sliding3D(Pi, dims, dimsd, nwin, nover, nop, tapertype=tapertype, **kw))


def _patch2d(dimsd, nwin, nover, nop, tapertype, kind, rng, **kw):
    dims = tuple(_nwins(dimsd[a], nwin[a], nover[a]) * nop[a] for a in range(2))
    Ti, Pi = _inner(kind, nwin, nop, rng)
    return (Patch2D(Ti, dims, dimsd, nwin, nover, nop, tapertype, **kw),
            pls.Patch2D(Pi, dims, dimsd, nwin, nover, nop, tapertype=tapertype, **kw))


def _patch3d(dimsd, nwin, nover, nop, tapertype, kind, rng, **kw):
    dims = tuple(_nwins(dimsd[a], nwin[a], nover[a]) * nop[a] for a in range(3))
    Ti, Pi = _inner(kind, nwin, nop, rng)
    return (Patch3D(Ti, dims, dimsd, nwin, nover, nop, tapertype, **kw),
            pls.Patch3D(Pi, dims, dimsd, nwin, nover, nop, tapertype=tapertype, **kw))


PARITY = [
    ("Sliding1D-hanning", _sliding1d, (21, 7, 2, 5, "hanning", "matrix")),
    ("Sliding1D-none-nooverlap", _sliding1d, (21, 7, 0, 5, None, "matrix")),
    ("Sliding1D-cosine-identity", _sliding1d, (20, 6, 3, 6, "cosine", "identity")),
    ("Sliding1D-cosinesqrt-complex", _sliding1d, (23, 8, 3, 3, "cosinesqrt", "complex")),
    ("Sliding2D-hanning", _sliding2d, ((21, 5), 7, 2, (4, 3), "hanning", "matrix")),
    ("Sliding2D-none-nooverlap", _sliding2d, ((21, 5), 7, 0, (7, 5), None, "derivative")),
    ("Sliding2D-cosine-derivative", _sliding2d, ((20, 3), 6, 3, (6, 3), "cosine", "derivative")),
    ("Sliding2D-cosinesquare-complex", _sliding2d, ((23, 4), 8, 3, (3, 4), "cosinesquare", "complex")),
    ("Sliding3D-hanning", _sliding3d, ((13, 11, 4), (5, 5), (1, 2), (4, 3, 3), "hanning", "matrix")),
    ("Sliding3D-none-nooverlap", _sliding3d, ((10, 15, 3), (5, 5), (0, 0), (5, 5, 3), None, "derivative")),
    ("Sliding3D-cosine-single-row", _sliding3d, ((7, 12, 2), (7, 5), (2, 2), (3, 2, 2), "cosine", "matrix")),
    ("Patch2D-hanning", _patch2d, ((21, 17), (7, 5), (2, 1), (4, 3), "hanning", "matrix")),
    ("Patch2D-none-nooverlap", _patch2d, ((21, 15), (7, 5), (0, 0), (7, 5), None, "derivative")),
    ("Patch2D-cosine-complex", _patch2d, ((20, 13), (6, 5), (3, 2), (6, 2), "cosine", "complex")),
    ("Patch2D-single-row", _patch2d, ((7, 17), (7, 6), (2, 3), (3, 4), "hanning", "matrix")),
    ("Patch2D-single-column", _patch2d, ((12, 6), (5, 6), (2, 3), (5, 6), "cosinesqrt", "identity")),
    ("Patch3D-hanning", _patch3d, ((9, 7, 11), (5, 4, 5), (1, 1, 2), (3, 3, 4), "hanning", "matrix")),
    ("Patch3D-none-nooverlap", _patch3d, ((12, 9, 10), (4, 3, 5), (0, 0, 0), (4, 3, 5), None, "derivative")),
    ("Patch3D-cosine-single", _patch3d, ((5, 11, 6), (5, 5, 6), (2, 2, 3), (2, 3, 2), "cosine", "complex")),
    ("Patch3D-cosinesquare", _patch3d, ((11, 9, 13), (5, 4, 5), (2, 2, 2), (2, 3, 2), "cosinesquare", "matrix")),
]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(np.ravel(a) - np.ravel(b)) / max(np.linalg.norm(np.ravel(b)), 1e-300))


@pytest.mark.parametrize(("builder", "args"), [p[1:] for p in PARITY], ids=[p[0] for p in PARITY])
def test_pylops_parity(builder, args) -> None:
    rng = np.random.default_rng(7)
    Top, Pop = builder(*args, rng)
    assert Top.shape == Pop.shape
    assert Top.dims == tuple(int(d) for d in Pop.dims) and Top.dimsd == tuple(int(d) for d in Pop.dimsd)
    cplx = Top.dtype.is_complex
    x = rng.standard_normal(Pop.shape[1]) + (1j * rng.standard_normal(Pop.shape[1]) if cplx else 0)
    y = rng.standard_normal(Pop.shape[0]) + (1j * rng.standard_normal(Pop.shape[0]) if cplx else 0)
    assert _rel((Top @ _t(x).reshape(Top.dims)).numpy(), Pop @ x) <= RTOL
    assert _rel((Top.H @ _t(y).reshape(Top.dimsd)).numpy(), Pop.H @ y) <= RTOL
    # flat forms and a batch of two
    X = np.stack([x, 2 * x[::-1]])
    assert _rel(Top.matvec(_t(X)).numpy(), np.stack([Pop @ v for v in X])) <= RTOL


SINGLE = [p for p in PARITY if "single" in p[0] and p[1] is not _sliding1d]


@pytest.mark.parametrize("savetaper", [True, False])
@pytest.mark.parametrize(("builder", "args"), [p[1:] for p in SINGLE], ids=[p[0] for p in SINGLE])
def test_pylops_parity_single_window_axis_savetaper(builder, args, savetaper) -> None:
    """As PyLops, savetaper decides how an axis with one window is tapered (as a last window
    with True, as a first one with False)."""
    rng = np.random.default_rng(11)
    Top, Pop = builder(*args, rng, savetaper=savetaper)
    cplx = Top.dtype.is_complex
    x = rng.standard_normal(Pop.shape[1]) + (1j * rng.standard_normal(Pop.shape[1]) if cplx else 0)
    y = rng.standard_normal(Pop.shape[0]) + (1j * rng.standard_normal(Pop.shape[0]) if cplx else 0)
    assert _rel((Top @ _t(x).reshape(Top.dims)).numpy(), Pop @ x) <= RTOL
    assert _rel((Top.H @ _t(y).reshape(Top.dimsd)).numpy(), Pop.H @ y) <= RTOL


_NW = {1: (5, 5, 2), 2: (8, 5, 2), 3: (11, 5, 2)}  # (data length, nwin, nover) giving 1, 2, 3 windows


@pytest.mark.parametrize("savetaper", [True, False])
@pytest.mark.parametrize("counts", [(1, 3, 1), (3, 1, 1), (2, 3, 1), (1, 1, 3), (3, 2, 1), (1, 2, 2), (3,), (1, 3)])
def test_pylops_parity_single_windows_any_axes(counts, savetaper) -> None:
    """Patch3D (three counts) and Sliding3D (two) with single windows along some axes, tapered:
    PyLops' choice of taper for those axes (with savetaper=False, Patch3D's depends on the
    window's place along the other axes)."""
    rng = np.random.default_rng(5)
    if len(counts) == 1:
        counts = (counts[0], 1)
    dimsd, nwin, nover = (tuple(_NW[c][i] for c in counts) for i in range(3))
    if len(counts) == 3:
        build = _patch3d
        args = (dimsd, nwin, nover, (2, 2, 2), "hanning", "matrix")
    else:
        build = _sliding3d
        args = ((*dimsd, 3), nwin, nover, (2, 2, 3), "cosine", "matrix")
    Top, Pop = build(*args, rng, savetaper=savetaper)
    x, y = rng.standard_normal(Pop.shape[1]), rng.standard_normal(Pop.shape[0])
    assert _rel((Top @ _t(x).reshape(Top.dims)).numpy(), Pop @ x) <= RTOL
    assert _rel((Top.H @ _t(y).reshape(Top.dimsd)).numpy(), Pop.H @ y) <= RTOL


@pytest.mark.parametrize("tapertype", ["hanning", None])
def test_pylops_parity_all_windows_inner_operator(tapertype) -> None:
    """An inner operator over the whole model (PyLops' ``simOp``), here a block-diagonal one."""
    rng = np.random.default_rng(3)
    mats = [rng.standard_normal((7, 5)) for _ in range(3)]
    Top = Sliding1D(tl.BlockDiag([tl.MatrixMult(_t(m)) for m in mats]), 15, 21, 7, 2, tapertype)
    Pop = pls.Sliding1D(pl.BlockDiag([pl.MatrixMult(m) for m in mats]), 15, 21, 7, 2, tapertype=tapertype)
    assert Top.simOp and Pop.simOp
    x, y = rng.standard_normal(15), rng.standard_normal(21)
    assert _rel((Top @ _t(x)).numpy(), Pop @ x) <= RTOL
    assert _rel((Top.H @ _t(y)).numpy(), Pop.H @ y) <= RTOL


def test_output_dtype_of_a_real_answering_inner_operator() -> None:
    """A complex operator whose inner operator answers with real values (the adjoint of a
    real FFT) gives complex outputs, as PyLops (which accumulates in the operator's dtype)."""
    rng = np.random.default_rng(11)
    Ft, Fp = tl.signalprocessing.FFT(8, nfft=8, real=True), pls.FFT(8, nfft=8, real=True)
    Top, Pop = Sliding1D(Ft.H, 20, 20, 8, 4), pls.Sliding1D(Fp.H, 20, 20, 8, 4)
    x = rng.standard_normal(Pop.shape[1]) * (1 + 1j)
    y = Top @ _t(x)
    assert Top.dtype == torch.complex128 and y.dtype == torch.complex128 == _t(Pop @ x).dtype
    assert _rel(y.numpy(), Pop @ x) <= RTOL


def test_pylops_parity_single_window_1d() -> None:
    """One window: PyLops' default Sliding1D only runs forward (its adjoint stacks two tapers)
    and its ``savetaper=False`` forward indexes a scalar; each direction is compared with the
    PyLops variant that runs it correctly (the first window's taper)."""
    rng = np.random.default_rng(5)
    A = rng.standard_normal((7, 4))
    Top = Sliding1D(tl.MatrixMult(_t(A)), 4, 7, 7, 2, "hanning")
    x, y = rng.standard_normal(4), rng.standard_normal(7)
    fwd = pls.Sliding1D(pl.MatrixMult(A), 4, 7, 7, 2, tapertype="hanning")
    adj = pls.Sliding1D(pl.MatrixMult(A), 4, 7, 7, 2, tapertype="hanning", savetaper=False)
    assert _rel((Top @ _t(x)).numpy(), fwd @ x) <= RTOL
    assert _rel((Top.H @ _t(y)).numpy(), adj.H @ y) <= RTOL


def test_designs_match_pylops() -> None:
    def same(a, b) -> None:
        if isinstance(b, tuple):
            assert isinstance(a, tuple) and len(a) == len(b)
            for u, v in zip(a, b):
                same(u, v)
        elif isinstance(b, np.ndarray):
            assert torch.equal(a, _t(b).to(torch.int64))
        else:
            assert a == b

    same(sliding1d_design(21, 7, 2, 5), pls.sliding1d_design(21, 7, 2, 5))
    same(sliding2d_design((21, 5), 7, 2, (4, 3)), pls.sliding2d_design((21, 5), 7, 2, (4, 3)))
    same(sliding3d_design((13, 11, 4), (5, 5), (1, 2), (4, 3, 3)),
         pls.sliding3d_design((13, 11, 4), (5, 5), (1, 2), (4, 3, 3)))
    same(patch2d_design((21, 17), (7, 5), (2, 1), (4, 3)), pls.patch2d_design((21, 17), (7, 5), (2, 1), (4, 3)))
    same(patch3d_design((9, 7, 11), (5, 4, 5), (1, 1, 2), (3, 3, 4)),
         pls.patch3d_design((9, 7, 11), (5, 4, 5), (1, 1, 2), (3, 3, 4)))


# ---------------------------------------------------------------------------- batching, autograd
@pytest.mark.parametrize("case", [c for c in CASES if not c.build().simOp], ids=lambda c: c.name)
def test_inner_operator_runs_once_over_all_windows(case, monkeypatch) -> None:
    Op = case.build(torch.float64)
    calls: list[tuple[int, ...]] = []
    inner = Op.Op
    orig = type(inner)._batched

    def counting(self, x, adjoint):
        calls.append(tuple(x.shape))
        return orig(self, x, adjoint)

    monkeypatch.setattr(type(inner), "_batched", counting)
    x = T.random_input(Op, batch=(2, 3))
    y = Op @ x
    Op.H @ y
    nw = int(np.prod(Op._nwins))
    assert [c[0] for c in calls] == [6 * nw, 6 * nw]
    ref = torch.stack([Op @ xi for xi in x.reshape(6, *Op.dims)]).reshape(y.shape)
    T.assert_close(y, ref, 1e-13, "batched vs per-sample")


def test_learnable_inner_operator_receives_gradients() -> None:
    A = torch.nn.Parameter(torch.randn(20, 6, dtype=torch.float64))
    P = Patch2D(tl.MatrixMult(A), (4, 6), (7, 9), (4, 5), (1, 2), (2, 3))
    assert [n for n, _ in P.named_parameters()] == ["Op.A"]
    x = torch.randn(P.dims, dtype=torch.float64)
    (P @ x).square().sum().backward()
    # d/dA sum((P x)^2) = sum over windows of (taps * gather(2 P x)) outer x_window
    y = (P @ x).detach()
    g = (P.taps * (2 * y).reshape(-1)[P._gather].reshape(2, 2, 4, 5)).reshape(4, 20)
    expected = g.T @ x.reshape(4, 6)
    T.assert_close(A.grad, expected, 1e-12, "gradient of the inner matrix")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_overlap_add_gather_path_matches_index_add(case) -> None:
    """The gather-only overlap-add (used off the CPU) equals the CPU index_add, and is the
    transpose of the window gather."""
    Op = case.build(torch.float64)
    assert Op._overlap is None  # (on the CPU the table is not built)
    w = torch.randn(3, Op._gather.numel(), dtype=torch.float64)
    ndata = Op.shape[0]
    a = overlap_add(w, Op._gather, None, ndata)
    b = overlap_add(w, Op._gather, overlap_table(Op._gather, ndata), ndata)
    T.assert_close(b, a, 1e-14, "gather path vs index_add")
    v = torch.randn(3, a.shape[1], dtype=torch.float64)
    lhs, rhs = (a * v).sum(), (w * v[:, Op._gather]).sum()
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)


def test_state_dict_and_to_float32() -> None:
    S = Sliding2D(tl.FirstDerivative((5, 3), axis=0, dtype=torch.float64), (15, 3), (11, 3), 5, 2)
    assert set(S.state_dict()) == {"taps"}
    S32 = S.to(torch.float32)
    assert S32.dtype == torch.float32 and S32.taps.dtype == torch.float32 and S32._gather.dtype == torch.int64
    assert (S32 @ torch.ones(S.dims)).dtype == torch.float32


# ---------------------------------------------------------------------------- errors
def test_bad_window_designs() -> None:
    M = tl.MatrixMult(torch.ones(7, 5))
    with pytest.raises(ValueError, match=r"nwin=25 is bigger than ntr=21"):
        Sliding1D(M, 15, 21, 25, 2)
    with pytest.raises(ValueError, match=r"nover must satisfy 0 <= nover < nwin=7, got nover=7"):
        Sliding1D(M, 15, 21, 7, 7)
    with pytest.raises(ValueError, match=r"nover must satisfy 0 <= nover < nwin=7, got nover=-1"):
        sliding1d_design(21, 7, -1, 5)
    with pytest.raises(ValueError, match=r"Model shape \(dim=\(20,\)\) is not consistent .* Run sliding1d_design"):
        Sliding1D(M, 20, 21, 7, 2)
    with pytest.raises(ValueError, match=r"Op must produce 6 data samples \(nwin=6\), got Op.shape=\(7, 5\)"):
        Sliding1D(M, 20, 21, 6, 2)
    with pytest.raises(ValueError, match=r"tapertype must be one of .* got 'hann'"):
        Sliding1D(M, 15, 21, 7, 2, tapertype="hann")
    with pytest.raises(ValueError, match=r"Model shape \(dims=\(16, 3\)\) .* Run sliding2d_design"):
        Sliding2D(tl.Identity(21), (16, 3), (21, 3), 7, 2)
    with pytest.raises(ValueError, match=r"Op must produce 21 data samples"):
        Sliding2D(tl.MatrixMult(torch.ones(20, 15)), (15, 3), (21, 3), 7, 2)
    with pytest.raises(ValueError, match=r"Model shape \(dims=\(8, 9\)\) .* \(nwins=\(2, 4\), nop=\(4, 4\)\)"):
        Patch2D(tl.Identity(16), (8, 9), (7, 10), (4, 4), (1, 2), (4, 4))
    with pytest.raises(ValueError, match=r"Op must have shape \(16, 16\) \(nwin=\(4, 4\), nop=\(4, 4\)\), got \(15, 16\)"):
        Patch2D(tl.MatrixMult(torch.ones(15, 16)), (8, 16), (7, 10), (4, 4), (1, 2), (4, 4))
    with pytest.raises(ValueError, match=r"nwin must be a sequence of 2 ints, got 4"):
        Patch2D(tl.Identity(16), (8, 16), (7, 10), 4, (1, 2), (4, 4))
    with pytest.raises(ValueError, match=r"nop must be a sequence of 3 ints"):
        Patch3D(tl.Identity(27), (6, 6, 6), (5, 5, 5), (3, 3, 3), (1, 1, 1), (3, 3))
    with pytest.raises(ValueError, match=r"dims and dimsd must be 3-D shapes"):
        Sliding3D(tl.Identity(50), (10, 10), (9, 9, 2), (5, 5), (1, 1), (5, 5, 2))
    with pytest.raises(ValueError, match=r"ntap=3 must be smaller or equal than 2"):
        Sliding1D(tl.Identity(5), 25, 13, 5, 3)  # a Hanning taper of 3 samples does not fit a window of 5
    # a fractional overlap or window is an error (it was truncated without a taper to check it)
    with pytest.raises(ValueError, match=r"nover must be an int, got 1.5"):
        Sliding1D(tl.Identity(4), 12, 10, 4, 1.5, tapertype=None)
    with pytest.raises(ValueError, match=r"nover must be an int, got 1.5"):
        Sliding2D(tl.Identity(8), (12, 2), (10, 2), 4, 1.5, tapertype=None)
    with pytest.raises(ValueError, match=r"nwin must be an int, got 4.5"):
        sliding1d_design(10, 4.5, 1, 4)
    with pytest.raises(ValueError, match=r"nop must be an int, got 4.5"):  # (the model windows: nop)
        sliding1d_design(10, 4, 1, 4.5)
    for bad in (True, np.True_, torch.tensor(True), "4"):
        with pytest.raises(ValueError, match=r"nwin must be an int"):
            sliding1d_design(10, bad, 1, 4)
    # whole numbers given as floats stay accepted
    assert Sliding1D(tl.Identity(4), 12, 10, 4.0, 1.0, tapertype=None).shape == (10, 12)


def test_device_mismatch_is_reported() -> None:
    S = Sliding1D(tl.MatrixMult(torch.ones(7, 5)), 15, 21, 7, 2)
    x = torch.ones(15, device="meta")
    with pytest.raises(ValueError, match=r"operator is on cpu but the input is on meta"):
        S @ x


COMPILE_CASES = [pytest.param(c, id=c.name, marks=() if c.compile else pytest.mark.slow) for c in CASES]



def test_window_sizes_as_arrays():
    """nwin / nover / nop as numpy arrays or tensors (PyLops' design functions take them)."""

    def plain(v):
        if isinstance(v, torch.Tensor):
            return v.tolist()
        if isinstance(v, (tuple, list)):
            return [plain(e) for e in v]
        return v

    ref = plain(patch2d_design((60, 40), (16, 12), (4, 3), (24, 9), verb=False))
    for conv in (np.array, torch.tensor):
        assert plain(patch2d_design((60, 40), conv([16, 12]), conv([4, 3]), conv([24, 9]), verb=False)) == ref
    with pytest.raises(ValueError, match="nwin must hold ints"):
        patch2d_design((60, 40), np.array([16.5, 12]), (4, 3), (24, 9), verb=False)


def test_overlap_table_only_off_the_cpu() -> None:
    """On the CPU the overlap-add is one index_add: the (K x data size) table is not built (it
    was most of the construction time and memory); moving to another device builds it from the
    indices first (a meta copy holds one, of the table's shape)."""
    import copy

    S = Sliding2D(tl.Identity(5 * 3, dtype=torch.float64), (15, 3), (11, 3), 5, 2)
    assert S._overlap is None and S.double()._overlap is None
    M = copy.deepcopy(S).to("meta")
    ref = overlap_table(S._gather, S.shape[0])
    assert M._overlap.device.type == "meta" and M._overlap.shape == ref.shape
    assert S._overlap is None


def test_operator_loaded_onto_another_device_moves_again() -> None:
    """torch.load with map_location moves the indices without Module.to: the table is then built
    at first use off the CPU (there is no data on meta to build it from), and a later .to() of
    the loaded operator works (it tried to count meta indices and raised)."""
    import io

    S = Sliding2D(tl.Identity(5 * 3, dtype=torch.float64), (15, 3), (11, 3), 5, 2)
    buf = io.BytesIO()
    torch.save(S, buf)
    buf.seek(0)
    L = torch.load(buf, map_location="meta", weights_only=False)
    assert L._gather.device.type == "meta" and L._overlap is None
    L.to("meta")
    y = L(torch.zeros(S.shape[1], dtype=torch.float64, device="meta"))
    assert y.device.type == "meta" and y.shape == (S.shape[0],)
