"""Convolution operators: property battery, PyLops 2.8 parity, engines, learning, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import torchlops as tl
from tests.registry import CONVOLVE_CASES as CASES
from torchlops.signalprocessing.convolve1d import Convolve1D
from torchlops.signalprocessing.convolve2d import Convolve2D
from torchlops.signalprocessing.convolvend import ConvolveND
from torchlops.signalprocessing.nonstatconvolve1d import NonStationaryConvolve1D
from torchlops.signalprocessing.nonstatconvolve2d import NonStationaryConvolve2D
from torchlops.signalprocessing.nonstatconvolve3d import NonStationaryConvolve3D
from torchlops.signalprocessing.nonstatfilters1d import NonStationaryFilters1D
from torchlops.signalprocessing.nonstatfilters2d import NonStationaryFilters2D
from torchlops.utils import testing as T
from torchlops.utils.signalprocessing import convmtx, nonstationary_convmtx

pl = pytest.importorskip("pylops")

IDS = [c.name for c in CASES]
RNG = np.random.default_rng(7)
RTOL = 1e-10


def rand(shape, cplx: bool = False) -> np.ndarray:
    a = RNG.standard_normal(shape)
    return a + 1j * RNG.standard_normal(shape) if cplx else a


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, copy=True))


def assert_rel(a, b, rtol: float = RTOL, what: str = "") -> None:
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    a, b = a.ravel(), np.asarray(b).ravel()
    assert a.size == b.size, f"{what}: size {a.size} != {b.size}"
    err, ref = np.linalg.norm(a - b), np.linalg.norm(b)
    assert err <= rtol * ref, f"{what}: relative error {err / ref:.3e} > {rtol:.0e}"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny FFTs: with several intra-op threads on a busy machine each MKL FFT call costs
    milliseconds of thread synchronisation (measured ~11 ms vs 6 us with one thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---------------------------------------------------------------------------- property battery


# ---------------------------------------------------------------------------- PyLops parity
def _c1(dims, nh, offset, axis=-1, method=None, cplx=False):
    h = rand(nh, cplx)
    return Convolve1D(dims, t(h), offset=offset, axis=axis, method=method), \
        pl.signalprocessing.Convolve1D(dims, h, offset=offset, axis=axis, dtype=h.dtype)


def _c2(dims, hs, offset, axes=(-2, -1), method="fft", cplx=False):
    h = rand(hs, cplx)
    return Convolve2D(dims, t(h), offset=offset, axes=axes, method=method), \
        pl.signalprocessing.Convolve2D(dims, h, offset=offset, axes=axes, dtype=h.dtype)


def _cn(dims, hs, offset, axes, method="fft", cplx=False):
    h = rand(hs, cplx)
    return ConvolveND(dims, t(h), offset=offset, axes=axes, method=method), \
        pl.signalprocessing.ConvolveND(dims, h, offset=offset, axes=axes, dtype=h.dtype)


PARITY = {
    "C1-1d-odd-direct": lambda: _c1(11, 5, 1, method="direct"),
    "C1-1d-even-fft": lambda: _c1(12, 4, 3, method="fft"),
    "C1-1d-offset0-auto": lambda: _c1(9, 7, 0),
    "C1-2d-axis0-fft": lambda: _c1((9, 4), 6, 5, axis=0, method="fft"),
    "C1-3d-axis1-direct": lambda: _c1((3, 13, 2), 5, 4, axis=1, method="direct"),
    "C1-3d-axis2-overlapadd": lambda: _c1((3, 4, 15), 9, 2, axis=2, method="overlapadd"),
    "C1-overlapadd-blocks": lambda: _c1((2, 1100), 31, 7, method="overlapadd"),
    "C1-long-odd-direct": lambda: _c1(5, 9, 2, method="direct"),
    "C1-long-even-fft": lambda: _c1(6, 8, 5, method="fft"),
    "C1-complex-direct": lambda: _c1(11, 5, 1, method="direct", cplx=True),
    "C1-complex-2d-fft": lambda: _c1((7, 10), 3, 2, method="fft", cplx=True),
    "C2-fft-offcentre": lambda: _c2((9, 11), (3, 5), (0, 4)),
    "C2-direct-even": lambda: _c2((9, 11), (4, 2), (2, 1), method="direct"),
    "C2-3d-axes02": lambda: _c2((5, 2, 7), (3, 3), (1, 2), axes=(0, 2)),
    "C2-longer-filter": lambda: _c2((4, 5), (7, 6), (3, 2), method="direct"),
    "C2-complex": lambda: _c2((7, 9), (3, 4), (2, 1), cplx=True),
    "C2-overlapadd-blocks": lambda: _c2((600, 530), (15, 6), (7, 1), method="overlapadd"),
    "CN-3d-all-axes": lambda: _cn((5, 4, 3), (3, 2, 3), (1, 0, 2), axes=None),
    "CN-3d-axes02-complex": lambda: _cn((5, 4, 3), (2, 3), (1, 1), axes=(0, 2), method="direct", cplx=True),
    "CN-3d-axes12-longer": lambda: _cn((5, 4, 3), (2, 7), (1, 4), axes=(1, 2)),
}


@pytest.mark.parametrize("key", list(PARITY))
def test_pylops_parity(key) -> None:
    Top, Pop = PARITY[key]()
    assert Top.shape == Pop.shape
    cplx = Top.dtype.is_complex
    x, y = rand(Top.dims, cplx), rand(Top.dimsd, cplx)
    assert_rel(Top @ t(x), Pop @ x.ravel(), what="forward")
    if cplx and isinstance(Top, Convolve1D):
        # PyLops 2.8 correlates with h (not conj(h)): compare with the conjugate transpose of its matrix
        A = Pop.todense()
        assert_rel(Top.H @ t(y), A.conj().T @ y.ravel(), what="adjoint vs conj(A).T")
        assert not pl.utils.dottest(Pop, complexflag=3, raiseerror=False)
        assert T.check_dottest(Top) is None
    else:
        assert_rel(Top.H @ t(y), Pop.H @ y.ravel(), what="adjoint")


NONSTAT = {
    "NS1-1d": lambda: (lambda hs: (NonStationaryConvolve1D(23, t(hs), ih=(2, 8, 14, 20)),
                                   pl.signalprocessing.NonStationaryConvolve1D(23, hs, ih=(2, 8, 14, 20))))(rand((4, 7))),
    "NS1-axis0": lambda: (lambda hs: (NonStationaryConvolve1D((21, 3), t(hs), ih=(3, 10, 17), axis=0),
                                      pl.signalprocessing.NonStationaryConvolve1D((21, 3), hs, ih=(3, 10, 17),
                                                                                  axis=0)))(rand((3, 5))),
    "NS1-long-filter": lambda: (lambda hs: (NonStationaryConvolve1D((2, 5), t(hs), ih=(0, 4)),
                                            pl.signalprocessing.NonStationaryConvolve1D((2, 5), hs, ih=(0, 4))))(
        rand((2, 9))),
    "NS2": lambda: (lambda hs: (NonStationaryConvolve2D((13, 9), t(hs), ihx=(1, 5, 9), ihz=(2, 6)),
                                pl.signalprocessing.NonStationaryConvolve2D((13, 9), hs, ihx=(1, 5, 9), ihz=(2, 6))))(
        rand((3, 2, 5, 3))),
    "NS3": lambda: (lambda hs: (NonStationaryConvolve3D((7, 9, 6), t(hs), ihx=(1, 4), ihy=(0, 3, 6), ihz=(2, 4)),
                                pl.signalprocessing.NonStationaryConvolve3D((7, 9, 6), hs, ihx=(1, 4), ihy=(0, 3, 6),
                                                                            ihz=(2, 4))))(rand((2, 3, 2, 3, 5, 3))),
    "NF1": lambda: (lambda inp: (NonStationaryFilters1D(t(inp), 7, (2, 8, 14, 20)),
                                 pl.signalprocessing.NonStationaryFilters1D(inp, 7, (2, 8, 14, 20))))(rand(23)),
    "NF2": lambda: (lambda inp: (NonStationaryFilters2D(t(inp), (5, 3), (1, 5, 9), (2, 6)),
                                 pl.signalprocessing.NonStationaryFilters2D(inp, (5, 3), (1, 5, 9), (2, 6))))(
        rand((13, 9))),
    # decreasing filter positions (PyLops: filter k at ih[k] either way)
    "NS1-decreasing": lambda: (lambda hs: (NonStationaryConvolve1D(23, t(hs), ih=(20, 13, 6)),
                                           pl.signalprocessing.NonStationaryConvolve1D(23, hs, ih=(20, 13, 6))))(
        rand((3, 5))),
    "NS2-decreasing-x": lambda: (lambda hs: (NonStationaryConvolve2D((13, 9), t(hs), ihx=(11, 6, 1), ihz=(2, 6)),
                                             pl.signalprocessing.NonStationaryConvolve2D((13, 9), hs, ihx=(11, 6, 1),
                                                                                         ihz=(2, 6))))(
        rand((3, 2, 5, 3))),
    "NS3-decreasing-yz": lambda: (lambda hs: (NonStationaryConvolve3D((7, 9, 6), t(hs), ihx=(1, 4), ihy=(6, 3, 0),
                                                                      ihz=(4, 1)),
                                              pl.signalprocessing.NonStationaryConvolve3D((7, 9, 6), hs, ihx=(1, 4),
                                                                                          ihy=(6, 3, 0), ihz=(4, 1))))(
        rand((2, 3, 2, 3, 5, 3))),
    "NF1-decreasing": lambda: (lambda inp: (NonStationaryFilters1D(t(inp), 7, (20, 14, 8, 2)),
                                            pl.signalprocessing.NonStationaryFilters1D(inp, 7, (20, 14, 8, 2))))(
        rand(23)),
    "NF2-decreasing-z": lambda: (lambda inp: (NonStationaryFilters2D(t(inp), (5, 3), (1, 5, 9), (7, 3)),
                                              pl.signalprocessing.NonStationaryFilters2D(inp, (5, 3), (1, 5, 9),
                                                                                         (7, 3))))(rand((13, 9))),
}


def test_axes_order() -> None:
    """Filter dim i runs along axes[i] (PyLops 2.8 reshapes the filter instead, which scrambles it
    for decreasing axes): axes=(1, 0) with h equals axes=(0, 1) with h.T."""
    h = t(rand((2, 3), cplx=True))
    x = t(rand((5, 4, 3), cplx=True))
    A = ConvolveND((5, 4, 3), h, offset=(1, 2), axes=(1, 0))
    B = ConvolveND((5, 4, 3), h.T, offset=(2, 1), axes=(0, 1))
    assert_rel(A @ x, (B @ x).numpy(), 1e-12)
    assert_rel(A.H @ x, (B.H @ x).numpy(), 1e-12)


@pytest.mark.parametrize("dims,hs,offset,axes", [((4, 5), (2, 3), (1, 1), (1, 0)), ((4, 5), (3, 3), (0, 2), (-1, 0)),
                                                  ((4, 3, 5), (3, 2, 3), (1, 0, 2), (2, 1, 0)),
                                                  ((4, 3, 5), (2, 3, 2), (1, 1, 0), (2, 0))])
@pytest.mark.parametrize("batched", [False, True])
def test_full_filter_any_axes_order(dims, hs, offset, axes, batched) -> None:
    """A filter with one dim per model dim is applied as it is (dim i along model axis i) for any
    order of axes, as PyLops (the operator equals PyLops' with the same arguments); per-sample
    filters likewise."""
    h = rand(hs, cplx=True)
    x = rand((2, *dims), cplx=True)
    Top = ConvolveND(dims, t(np.stack([h, 2 * h]) if batched else h), offset=offset, axes=axes, batched_filter=batched)
    Pop = pl.signalprocessing.ConvolveND(dims, h, offset=offset, axes=axes, dtype="complex128")
    assert Top.axes == tuple(range(len(dims)))
    y = Top @ t(x)
    for b in range(2):
        want = (Pop @ x[b].ravel()).reshape(dims) * (b + 1 if batched else 1)
        assert_rel(y[b], want, 1e-12)
        wantH = (Pop.H @ x[b].ravel()).reshape(dims) * (b + 1 if batched else 1)
        assert_rel((Top.H @ t(x))[b], wantH, 1e-12)
    if len(dims) == 2 and not batched:
        C2 = Convolve2D(dims, t(h), offset=offset, axes=axes)
        assert_rel(C2 @ t(x[0]), (Pop @ x[0].ravel()).reshape(dims), 1e-12)


@pytest.mark.parametrize("key", list(NONSTAT))
def test_nonstationary_parity(key) -> None:
    Top, Pop = NONSTAT[key]()
    assert Top.shape == Pop.shape
    x, y = rand(Top.dims), rand(Top.dimsd)
    assert_rel(Top @ t(x), Pop @ x.ravel(), what="forward")
    assert_rel(Top.H @ t(y), np.asarray(Pop.H @ y.ravel()).ravel(), what="adjoint")


def test_convmtx_parity() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for nh, n, off in [(5, 7, 0), (5, 7, 2), (4, 9, 3), (9, 4, 4), (3, 3, 2)]:
            h = rand(nh, cplx=nh == 4)
            np.testing.assert_allclose(convmtx(t(h), n, off).numpy(), pl.utils.signalprocessing.convmtx(h, n, off))
    # (a negative hc reaching back into the leading padding, as PyLops allows)
    for nf, nh, n, hc, pad in [(6, 5, 6, 2, (0, 0)), (6, 5, 6, 2, (3, 3)), (7, 3, 5, 0, (1, 2)), (4, 5, 9, 1, (2, 0)),
                               (2, 3, 3, -1, (2, 0)), (5, 4, 6, -2, (2, 1))]:
        H = rand((nf, nh))
        np.testing.assert_allclose(nonstationary_convmtx(t(H), n, hc, pad).numpy(),
                                   pl.utils.signalprocessing.nonstationary_convmtx(H, n, hc, pad))
    # sparse=True (PyLops: scipy.sparse): the same matrix as a sparse COO tensor, usable by MatrixMult
    h, H = rand(5, cplx=True), rand((6, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs_c = pl.utils.signalprocessing.convmtx(h, 7, 2, sparse=True)
    for ours, theirs in ((convmtx(t(h), 7, 2, sparse=True), theirs_c),
                         (nonstationary_convmtx(t(H), 6, 2, (1, 1), sparse=True),
                          pl.utils.signalprocessing.nonstationary_convmtx(H, 6, 2, (1, 1), sparse=True))):
        assert ours.layout == torch.sparse_coo
        np.testing.assert_allclose(ours.to_dense().numpy(), theirs.toarray())
    x = rand(7, cplx=True)
    np.testing.assert_allclose((tl.MatrixMult(convmtx(t(h), 7, 2, sparse=True)) @ t(x)).numpy(), convmtx(t(h), 7, 2).numpy() @ x)
    with pytest.raises(TypeError, match="sparse must be a bool"):
        convmtx(t(h), 7, sparse="yes")
    # convmtx with offset nh // 2, first n rows, is Convolve1D with that offset
    h = t(rand(5))
    np.testing.assert_allclose(convmtx(h, 8, 2)[:8].numpy(), Convolve1D(8, h, offset=2).todense().numpy(), atol=1e-14)


# ---------------------------------------------------------------------------- engines, filters, learning
@pytest.mark.parametrize("cplx", [False, True])
def test_direct_equals_fft(cplx) -> None:
    for dims, nh, off, axis in [((17, 6), 5, 1, 0), ((4, 19), 8, 7, 1), ((6,), 11, 3, 0)]:
        h = t(rand(nh, cplx))
        x, y = t(rand(dims, cplx)), t(rand(Convolve1D(dims, h, off, axis).dimsd, cplx))
        D, F = (Convolve1D(dims, h, offset=off, axis=axis, method=m) for m in ("direct", "fft"))
        assert_rel(D @ x, (F @ x).numpy(), 1e-12)
        assert_rel(D.H @ y, (F.H @ y).numpy(), 1e-12)
    # the overlap-add engine (blocks along the long axes) == one FFT, and passes the dot test
    h = t(rand((9, 5), cplx))
    F, Oa = (Convolve2D((620, 7), h, offset=(5, 1), method=m) for m in ("fft", "overlapadd"))
    x = t(rand((620, 7), cplx))
    assert_rel(Oa @ x, (F @ x).numpy(), 1e-12)
    assert_rel(Oa.H @ x, (F.H @ x).numpy(), 1e-12)
    T.check_dottest(Oa)
    h2 = t(rand((3, 4, 2), cplx))
    D, F = (ConvolveND((5, 6, 7), h2, offset=(2, 0, 1), axes=None, method=m) for m in ("direct", "fft"))
    x = t(rand((5, 6, 7), cplx))
    assert_rel(D @ x, (F @ x).numpy(), 1e-12)
    assert_rel(D.H @ x, (F.H @ x).numpy(), 1e-12)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_per_sample_filters(method) -> None:
    hs = t(rand((3, 5), cplx=True))
    Cb = Convolve1D((7, 9), hs, offset=2, axis=1, method=method, batched_filter=True)
    x = t(rand((2, 3, 7, 9), cplx=True))
    y, xa = Cb @ x, Cb.H @ x
    for i in range(3):
        Ci = Convolve1D((7, 9), hs[i], offset=2, axis=1, method=method)
        assert_rel(y[:, i], (Ci @ x[:, i]).numpy(), 1e-12)
        assert_rel(xa[:, i], (Ci.H @ x[:, i]).numpy(), 1e-12)
    h2 = t(rand((2, 3, 3)))
    C2 = Convolve2D((6, 5), h2, offset=(1, 2), method=method, batched_filter=True)
    x2 = t(rand((2, 6, 5)))
    for i in range(2):
        assert_rel((C2 @ x2)[i], (Convolve2D((6, 5), h2[i], offset=(1, 2), method=method) @ x2[i]).numpy(), 1e-12)
    with pytest.raises(ValueError, match=r"flattened batch \(2\) must be a multiple of the number of filters \(3\)"):
        Cb @ x[0, :2]


def test_learn_ricker_wavelet() -> None:
    nt, f0 = 31, 0.08
    tt = torch.arange(nt, dtype=torch.float64) - nt // 2
    a = (math.pi * f0 * tt) ** 2
    wav = (1 - 2 * a) * torch.exp(-a)
    x = torch.randn(8, 200, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = Convolve1D(200, wav, offset=nt // 2) @ x
    h = torch.nn.Parameter(torch.zeros(nt, dtype=torch.float64))
    C = Convolve1D(200, h, offset=nt // 2, method="direct")
    assert [n for n, _ in C.named_parameters()] == ["h"]
    opt = torch.optim.Adam([h], lr=0.02)
    for _ in range(300):
        opt.zero_grad()
        loss = (C @ x - y).square().mean()
        loss.backward()
        opt.step()
    # the recovered filter matches the Ricker wavelet to 1e-3 (relative 2-norm)
    assert float((h.detach() - wav).norm() / wav.norm()) < 1e-3


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_filter_gradient(method) -> None:
    """The gradient of <g, C(h) x> with respect to h is the correlation of g with conj(x)."""
    h = torch.nn.Parameter(t(rand(4, cplx=True)))
    C = Convolve1D(9, h, offset=1, method=method)
    x, g = t(rand(9, cplx=True)), t(rand(9, cplx=True))
    (g.conj() * (C @ x)).real.sum().backward()
    # d/dh of Re<g, C x>: C x = M(x) h with M(x)[i, j] = x[i + 1 - j]
    M = torch.stack([torch.stack([x[i + 1 - j] if 0 <= i + 1 - j < 9 else x.new_zeros(()) for j in range(4)])
                     for i in range(9)])
    assert_rel(h.grad, (M.conj().T @ g).numpy(), 1e-12)
    torch.autograd.gradcheck(lambda hh: Convolve1D(9, hh, offset=1, method=method) @ x,
                             (h.detach().clone().requires_grad_(),))


# ---------------------------------------------------------------------------- errors
def test_errors() -> None:
    with pytest.raises(ValueError, match=r"offset must be at most len\(h\) - 1 = 2, got 3"):
        Convolve1D(9, torch.ones(3), offset=3)
    with pytest.raises(ValueError, match=r"offset must be at most dims\[axis\] - 1 = 3 .* got 4"):
        Convolve1D(4, torch.ones(7), offset=4)
    with pytest.raises(ValueError, match=r"method must be one of .* got 'spline'"):
        Convolve1D(9, torch.ones(3), method="spline")
    with pytest.raises(ValueError, match=r"h must have 1 dimension\(s\), got shape \(3, 3\)"):
        Convolve1D(9, torch.ones(3, 3))
    with pytest.raises(TypeError, match="offset must be an int, got True"):
        Convolve1D(9, torch.ones(3), offset=True)
    with pytest.raises(ValueError, match="h must be 2-dimensional, got 1"):
        Convolve2D((4, 5), torch.ones(3))
    with pytest.raises(ValueError, match=r"offset must have one entry per filter dimension \(2\)"):
        Convolve2D((4, 5), torch.ones(3, 3), offset=(1, 1, 1))
    with pytest.raises(ValueError, match="method='direct' convolves along at most 3 axes, got 4"):
        ConvolveND((3, 3, 3, 3), torch.ones(2, 2, 2, 2), axes=None, method="direct")
    with pytest.raises(ValueError, match="filters must have odd lengths"):
        NonStationaryConvolve1D(9, torch.ones(2, 4), ih=(1, 5))
    with pytest.raises(ValueError, match="must be regularly sampled"):
        NonStationaryConvolve1D(9, torch.ones(3, 3), ih=(1, 2, 5))
    with pytest.raises(ValueError, match=r"must increase or decrease, got \(4, 4\)"):
        NonStationaryConvolve1D(9, torch.ones(2, 3), ih=(4, 4))
    with pytest.raises(ValueError, match=r"must lie in \[0, 9\), got \(1, 9\)"):
        NonStationaryConvolve1D(9, torch.ones(2, 3), ih=(1, 9))
    with pytest.raises(ValueError, match=r"hs must hold one filter per index in ih \(3\), got 2"):
        NonStationaryConvolve1D(9, torch.ones(2, 3), ih=(1, 3, 5))
    with pytest.raises(ValueError, match="engine must be 'numpy', 'numba' or 'cuda', got 'fftw'"):
        NonStationaryConvolve2D((5, 5), torch.ones(2, 2, 3, 3), ihx=(0, 2), ihz=(0, 2), engine="fftw")
    with pytest.raises(ValueError, match=r"hs must hold len\(ihx\) x len\(ihz\) = 2 x 3 filters, got 2 x 2"):
        NonStationaryConvolve2D((5, 5), torch.ones(2, 2, 3, 3), ihx=(0, 2), ihz=(0, 2, 4))
    with pytest.raises(ValueError, match="filters must have odd lengths"):
        NonStationaryFilters2D(torch.ones(5, 5), (2, 3), ihx=(0, 2), ihz=(0, 2))
    with pytest.raises(ValueError, match=r"inp must be 1-dimensional, got shape \(2, 2\)"):
        NonStationaryFilters1D(torch.ones(2, 2), 3, ih=(0, 1))
    with pytest.raises(ValueError, match=r"h must be a non-empty 1-D filter, got shape \(2, 2\)"):
        convmtx(torch.ones(2, 2), 3)
    with pytest.raises(ValueError, match="offset must be non-negative, got -1"):
        convmtx(torch.ones(2), 3, offset=-1)
    with pytest.raises(ValueError, match="pad must be two non-negative ints"):
        nonstationary_convmtx(torch.ones(2, 3), 3, pad=(-1, 0))
    with pytest.raises(ValueError, match=r"hc must be at least -pad\[0\] = -1, got -2"):
        nonstationary_convmtx(torch.ones(2, 3), 3, hc=-2, pad=(1, 0))


def test_method_choice() -> None:
    from torchlops.signalprocessing.convolvend import DIRECT_FFT_CROSSOVER as NC

    assert Convolve1D(64, torch.ones(NC), engine="torch").method == "direct"
    assert Convolve1D(64, torch.ones(NC + 1), engine="torch").method == "fft"
    if tl.ext_available():  # the kernels move the crossover (engine "auto" or "ext")
        from torchlops.signalprocessing.convolvend import DIRECT_FFT_CROSSOVER_EXT as NE
        from torchlops.signalprocessing.convolvend import DIRECT_FFT_CROSSOVER_EXT_SMALL as NS
        from torchlops.signalprocessing.convolvend import DIRECT_FFT_SMALL_SIZE as SMALL
        from torchlops.signalprocessing.convolvend import DIRECT_SMALL_WORK_EXT as NW

        big = SMALL + 1  # large models: the large-model crossover
        assert Convolve1D(big, torch.ones(NE[1])).method == "direct"
        assert Convolve1D(big, torch.ones(NE[1] + 1)).method == "fft"
        assert Convolve2D((2, big // 2 + 1), torch.ones(1, NE[2])).method == "direct"
        assert Convolve2D((2, big // 2 + 1), torch.ones(1, NE[2] + 1)).method == "fft"
        mid = NW // NS[1] + 1  # small models, more work than the small-problem rule covers
        assert mid <= SMALL
        assert Convolve1D(mid, torch.ones(NS[1])).method == "direct"
        assert Convolve1D(mid, torch.ones(NS[1] + 1)).method == "fft"
        assert Convolve2D((100, 300), torch.ones(1, NS[2])).method == "direct"
        assert Convolve2D((100, 300), torch.ones(1, NS[2] + 1)).method == "fft"
        assert Convolve1D(64, torch.ones(NE[1] + 1)).method == "direct"  # small work: direct anyway
        assert Convolve1D(big, torch.ones(NE[1] + 1), engine="ext").method == "direct"
        assert ConvolveND((70, 70, 70), torch.ones(5, 5, 5)).method == "direct"  # 3-D: 125 taps
        assert ConvolveND((70, 70, 70), torch.ones(5, 5, 6)).method == "fft"
    assert Convolve1D(64, torch.ones(3), method="overlapadd").method == "overlapadd"
    assert Convolve2D((9, 9), torch.ones(3, 3), method=None).method == "direct"
    # the default is the automatic choice (PyLops' default is "fft"; the results agree)
    assert Convolve2D((9, 9), torch.ones(3, 3)).method == "direct"
    assert ConvolveND((9, 9), torch.ones(3, 3)).method == "direct"
    assert Convolve2D((9, 9), torch.ones(3, 3), method="fft").method == "fft"
    assert ConvolveND((3, 3, 3, 3), torch.ones(2, 2, 2, 2), axes=None, method="auto").method == "fft"


COMPILE = {
    "Convolve1D-direct": lambda: Convolve1D((3, 20), t(rand(5)), offset=2, method="direct"),
    "Convolve2D-fft": pytest.param(lambda: Convolve2D((6, 7), t(rand((3, 2))), offset=(1, 1)), marks=pytest.mark.slow),
    "NonStationaryConvolve1D": pytest.param(lambda: NonStationaryConvolve1D(20, t(rand((3, 5))), ih=(2, 9, 16)),
                                            marks=pytest.mark.slow),
}



# ---------------------------------------------------------------------------- filter gradients
FILTER_GRAD_CASES = [
    ((1,), (5,), (2,), None),
    ((0, 2), (3, 4), (1, 3), None),
    ((2, 0), (4, 3), (3, 1), None),  # axes in any order
    ((1,), (9,), (4,), [12]),  # filter longer than the axis: output longer than the input
    ((0, 1, 2), (2, 3, 2), (1, 0, 1), None),
]


@pytest.mark.parametrize("batched", [False, True], ids=["shared", "per-sample"])
@pytest.mark.parametrize("adjoint", [False, True], ids=["forward", "adjoint"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=str)
@pytest.mark.parametrize("axes,hs,offs,nout", FILTER_GRAD_CASES, ids=str)
def test_filter_vjp_equals_autograd(axes, hs, offs, nout, dtype, adjoint, batched) -> None:
    """The explicit filter gradient (one FFT cross-correlation) equals autograd through the
    direct engine, in both directions, real and complex, shared and per-sample filters."""
    from torchlops.functional.convolution import convolve, convolve_adjoint, convolve_filter_vjp

    gen = torch.Generator().manual_seed(7)
    dims = (5, 7, 8)
    h = torch.randn(*((3,) if batched else ()), *hs, dtype=dtype, generator=gen).requires_grad_()
    nd = [dims[a] for a in axes] if nout is None else nout
    if adjoint:
        data = tuple(nd[axes.index(d)] if d in axes else dims[d] for d in range(3))
        xin = torch.randn(6, *data, dtype=dtype, generator=gen)
        out = convolve_adjoint(xin, h, axes, offs, [dims[a] for a in axes], "direct", batched)
    else:
        xin = torch.randn(6, *dims, dtype=dtype, generator=gen)
        out = convolve(xin, h, axes, offs, nd, "direct", batched)
    g = torch.randn(out.shape, dtype=dtype, generator=gen)
    (ref,) = torch.autograd.grad(out, h, g)
    got = convolve_filter_vjp(h.detach(), xin, g, axes, offs, adjoint, batched)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["direct", "fft"])
def test_learnable_filter_gradcheck_and_compile(method: str) -> None:
    """Through the operator: gradcheck and gradgradcheck with respect to the filter and the
    input, and torch.compile(fullgraph=True) of a loss on a learnable filter."""
    h = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 6, 9, dtype=torch.float64, requires_grad=True)

    def f(xx: torch.Tensor, hh: torch.Tensor) -> torch.Tensor:
        return Convolve2D((6, 9), hh, offset=(1, 2), method=method) @ xx

    assert torch.autograd.gradcheck(f, (x, h))
    assert torch.autograd.gradgradcheck(f, (x, h))
    hp = torch.nn.Parameter(h.detach().clone())
    C = Convolve2D((6, 9), hp, offset=(1, 2), method=method)
    xd = x.detach()
    C(xd).square().sum().backward()
    g_eager = hp.grad.clone()
    hp.grad = None
    torch._dynamo.reset()
    from torchlops.functional import convolution

    convolution._FAST_LEN.clear()  # (a cold FFT-length memo is no side effect in the graph)
    torch.compile(lambda t: C(t).square().sum(), fullgraph=True)(xd).backward()
    torch.testing.assert_close(hp.grad, g_eager)


def test_next_fast_len_smooth_minimal() -> None:
    """FFT lengths: the smallest even 5-smooth length >= n, a multiple of 8 above 1024 (n itself
    for n <= 2)."""
    from torchlops.functional.convolution import next_fast_len

    def smooth(m: int, step: int) -> bool:
        if m % step:
            return False
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        return m == 1

    assert [next_fast_len(n) for n in (0, 1, 2)] == [1, 1, 2]
    for n in range(3, 4100):
        m = next_fast_len(n)
        step = 8 if n > 1024 else 2
        assert m >= n and smooth(m, step), (n, m)
        assert not any(smooth(k, step) for k in range(n, m)), (n, m)
    # not 625 (odd); 10 for 9 (the small axes of N-d filters); not 67500 = 2^2 3^3 5^4 (a third
    # slower than 69120 = 2^9 3^3 5)
    assert next_fast_len(606) == 640 and next_fast_len(625) == 640 and next_fast_len(9) == 10
    assert next_fast_len(66048) == 69120 and next_fast_len(1024) == 1024 and next_fast_len(1025) == 1080


def test_offsets_numpy_ints_and_fractions() -> None:
    """PyLops' examples pass numpy ints (``ricker``'s centre) as offsets; fractional offsets
    are refused rather than truncated."""
    h = torch.randn(7, dtype=torch.float64)
    x = torch.randn(20, dtype=torch.float64)
    torch.testing.assert_close(Convolve1D(20, h, offset=np.int64(3)) @ x, Convolve1D(20, h, offset=3) @ x)
    h2 = torch.randn(3, 3, dtype=torch.float64)
    X = torch.randn(6, 5, dtype=torch.float64)
    torch.testing.assert_close(ConvolveND((6, 5), h2, offset=np.int64(1)) @ X, ConvolveND((6, 5), h2, offset=(1, 1)) @ X)
    torch.testing.assert_close(ConvolveND((6, 5), h2, offset=np.array([1, 2])) @ X,
                               ConvolveND((6, 5), h2, offset=(1, 2)) @ X)
    # fractions are truncated, as PyLops (its gallery passes len(h) / 2); parity on both methods
    pl = pytest.importorskip("pylops")
    rng = np.random.default_rng(3)
    for off in (1.7, 2.5, 0.2, 2.0, np.float64(1.9)):
        hn, xn = rng.standard_normal(5), rng.standard_normal(20)
        for method in ("direct", "fft"):
            P = pl.signalprocessing.Convolve1D(20, hn, offset=off, method=method)
            T = Convolve1D(20, torch.from_numpy(hn), offset=off, method=method)
            np.testing.assert_allclose((T @ torch.from_numpy(xn)).numpy(), P @ xn, rtol=1e-12, atol=1e-13)
            np.testing.assert_allclose((T.H @ torch.from_numpy(xn)).numpy(), P.H @ xn, rtol=1e-12, atol=1e-13)
    for off in ((1.7, 0.2), (2.5, 1.5), (4.9, 2.99)):
        hn, xn = rng.standard_normal((5, 3)), rng.standard_normal((10, 7))
        P = pl.signalprocessing.Convolve2D((10, 7), hn, offset=off)
        T = Convolve2D((10, 7), torch.from_numpy(hn), offset=off)
        np.testing.assert_allclose((T @ torch.from_numpy(xn)).numpy().ravel(), P @ xn.ravel(), rtol=1e-12,
                                   atol=1e-13)
    with pytest.raises(TypeError, match="offset must be an int or a sequence of ints"):
        ConvolveND((6, 5), h2, offset=(float("inf"), 0))
    with pytest.raises(TypeError, match="offset must be an int"):
        Convolve1D(20, h, offset="2")


def test_offsets_as_tensors() -> None:
    h = torch.randn(5, dtype=torch.float64)
    x = torch.randn(12, dtype=torch.float64)
    torch.testing.assert_close(Convolve1D(12, h, offset=torch.tensor(2)) @ x, Convolve1D(12, h, offset=2) @ x)
    torch.testing.assert_close(Convolve1D(12, h, offset=torch.tensor(1.7)) @ x, Convolve1D(12, h, offset=1) @ x)
    h2 = torch.randn(3, 3, dtype=torch.float64)
    X = torch.randn(5, 6, dtype=torch.float64)
    torch.testing.assert_close(ConvolveND((5, 6), h2, offset=(torch.tensor(1.7), 1)) @ X,
                               ConvolveND((5, 6), h2, offset=(1, 1)) @ X)
    with pytest.raises(TypeError, match="offset must be an int"):
        Convolve1D(12, h, offset=torch.tensor([1, 2]))


@pytest.mark.parametrize("engine", ["torch", "ext"])
@pytest.mark.parametrize("which", ["1d", "2d"])
def test_vmap_keeps_per_sample_filters_per_entry(which: str, engine: str) -> None:
    """vmap(Op)(X) == stack(Op(X[i])) with per-sample filters: each entry's own batch picks the
    filters, and an entry whose batch does not fit them raises as its own call does."""
    from torch.func import vmap

    import torchlops as tl

    if engine == "ext" and not tl.ext_available():
        pytest.skip("extension not built")
    gen = torch.Generator().manual_seed(0)
    if which == "1d":
        Op = tl.Convolve1D((4, 5), torch.randn(2, 3, generator=gen, dtype=torch.float64), offset=1, axis=-1,
                           batched_filter=True, engine=engine)
    else:
        Op = tl.Convolve2D((4, 5), torch.randn(2, 3, 2, generator=gen, dtype=torch.float64), offset=(1, 0),
                           batched_filter=True, engine=engine)
    X = torch.randn(3, 2, 4, 5, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(vmap(Op)(X), torch.stack([Op(X[i]) for i in range(3)]))
    torch.testing.assert_close(vmap(Op.H)(X), torch.stack([Op.H(X[i]) for i in range(3)]))
    with pytest.raises(ValueError, match="must be a multiple of the number of filters"):
        Op(X[0, 0])
    # 4 entries of one sample each: folded, they would make a batch of 4 that fits 2 filters
    X4 = torch.randn(4, 4, 5, generator=gen, dtype=torch.float64)
    with pytest.raises(ValueError, match="must be a multiple of the number of filters"):
        vmap(Op)(X4)


@pytest.mark.parametrize("engine", ["torch", "ext"])
@pytest.mark.parametrize("kind,dims,axis", [("1d", (5, 0), 0), ("1d", (0, 5), 1), ("2d", (5, 0), None),
                                            ("2d", (0, 5), None), ("2d", (0, 0), None), ("nd", (3, 0, 4), None)],
                         ids=str)
def test_zero_length_axes(kind: str, dims: tuple, axis: int | None, engine: str) -> None:
    """A model with a zero-length axis gives the empty output of the right shape, both ways."""
    import torchlops as tl

    if engine == "ext" and not tl.ext_available():
        pytest.skip("extension not built")
    F64 = torch.float64
    if kind == "1d":
        Op = tl.Convolve1D(dims, torch.ones(3, dtype=F64), offset=1, axis=axis, engine=engine)
    elif kind == "2d":
        Op = tl.Convolve2D(dims, torch.ones(3, 2, dtype=F64), offset=(1, 0), engine=engine)
    else:
        Op = tl.ConvolveND(dims, torch.ones(2, 2, 3, dtype=F64), offset=(0, 1, 1), axes=(0, 1, 2), engine=engine)
    x = torch.randn(2, *dims, dtype=F64)
    assert (Op @ x).shape == (2, *Op.dimsd) and (Op.H @ torch.randn(2, *Op.dimsd, dtype=F64)).shape == (2, *dims)


@pytest.mark.parametrize("offset", [(1, 0), (1, 5), (1, 7)])
def test_overlapadd_with_a_filter_longer_than_an_unsplit_axis(offset) -> None:
    """Overlap-add splits the long axis into blocks and keeps the short one whole: a filter more
    than twice as long as that short axis keeps its whole full convolution there (samples of it
    were dropped), forward and adjoint, 2-D and N-d."""
    g = torch.Generator().manual_seed(4)
    h = torch.randn(3, 8, dtype=torch.float64, generator=g)
    x = torch.randn(600, 3, dtype=torch.float64, generator=g)
    y = torch.randn(600, 3, dtype=torch.float64, generator=g)
    for cls in (Convolve2D, ConvolveND):
        Oa = cls((600, 3), h, offset=offset, method="overlapadd")
        Ff = cls((600, 3), h, offset=offset, method="fft")
        torch.testing.assert_close(Oa @ x, Ff @ x, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(Oa.H @ y, Ff.H @ y, rtol=1e-12, atol=1e-12)


def test_todense_refuses_per_sample_filters() -> None:
    """An operator applying one filter per sample of the batch is not one matrix: todense (and
    what builds on it) says so instead of mixing the filters column by column."""
    h = torch.randn(3, 4, dtype=torch.float64)
    T = Convolve1D(6, h, offset=1, batched_filter=True)
    for f in (T.todense, T.H.todense, (T.H @ T).todense, T.tosparse):
        with pytest.raises(ValueError, match="one filter per sample of the batch"):
            f()
    # (one filter: one matrix)
    one = Convolve1D(6, h[:1], offset=1, batched_filter=True).todense()
    torch.testing.assert_close(one, Convolve1D(6, h[0], offset=1).todense())


@pytest.mark.parametrize("engine", ["torch", "ext"])
def test_empty_batch_with_per_sample_filters(engine: str) -> None:
    """A batch of 0 samples is a multiple of any number of filters: an empty result (forward,
    adjoint, inside a composite), not the "multiple of the number of filters" error."""
    if engine == "ext" and not tl.ext_available():
        pytest.skip("needs the compiled extension")
    h1, h2 = torch.randn(2, 3, dtype=torch.float64), torch.randn(3, 3, 2, dtype=torch.float64)
    ops = [
        tl.signalprocessing.Convolve1D(8, h1, offset=1, batched_filter=True, engine=engine, method="direct"),
        tl.signalprocessing.Convolve2D((6, 5), h2, offset=(1, 0), batched_filter=True, engine=engine,
                                       method="direct"),
    ]
    ops.append(ops[0].H @ ops[0])
    for Op in ops:
        for A in (Op, Op.H):
            x = torch.randn(0, *A.dims, dtype=torch.float64, requires_grad=True)
            y = A @ x
            assert y.shape == (0, *A.dimsd) and y.dtype == torch.float64
            y.sum().backward()
            assert x.grad.shape == x.shape
    C = tl.signalprocessing.Convolve1D(8, h1, offset=1, batched_filter=True, engine=engine, method="direct")
    with pytest.raises(ValueError, match="multiple of the number of filters"):
        C @ torch.randn(3, 8, dtype=torch.float64)


@pytest.mark.parametrize("engine", ["torch", "auto"])
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_per_trace_filters_as_pylops(engine: str, method: str) -> None:
    """PyLops' Convolve1D with one filter per trace (h with the model's other axes): the same
    forward as PyLops on every axis and filters longer than the traces; the adjoint is the
    forward's (PyLops' fails its dot test unless axis is the last); learnable filters get the
    gradient of the dense construction; the batch of traces with batched_filter=True agrees."""
    pl = pytest.importorskip("pylops")
    rng = np.random.default_rng(5)
    for dims, ax, nh, off in (((4, 20), 1, 7, 3), ((20, 4), 0, 5, 2), ((3, 12, 2), 1, 5, 4), ((3, 6, 2), 1, 9, 4),
                              ((4, 20), -1, 7, 6)):
        hs = list(dims)
        hs[ax] = nh
        h, x = rng.standard_normal(hs), rng.standard_normal(dims)
        P = pl.signalprocessing.Convolve1D(dims, h=h, offset=off, axis=ax, method="fft")
        T = Convolve1D(dims, torch.from_numpy(h), offset=off, axis=ax, method=method, engine=engine)
        np.testing.assert_allclose((T @ torch.from_numpy(x)).numpy().ravel(), P @ x.ravel(), rtol=1e-12, atol=1e-13)
        A = T.todense()
        y = torch.randn(A.shape[0], dtype=torch.float64)
        torch.testing.assert_close((T.H @ y.reshape(T.dimsd)).reshape(-1), A.T @ y, rtol=1e-12, atol=1e-12)
    h = torch.nn.Parameter(torch.from_numpy(rng.standard_normal((4, 7))))
    T = Convolve1D((4, 20), h, offset=3, axis=1, method=method, engine=engine)
    x = torch.randn(2, 4, 20, dtype=torch.float64)
    (T @ x).square().sum().backward()
    g = h.grad.clone()
    h.grad = None
    ref = torch.stack([torch.stack([Convolve1D(20, h[i], offset=3, method="fft") @ x[b, i] for i in range(4)])
                       for b in range(2)])
    ref.square().sum().backward()
    torch.testing.assert_close(g, h.grad, rtol=1e-10, atol=1e-12)
    B = Convolve1D(20, h.detach(), offset=3, batched_filter=True)
    torch.testing.assert_close(T @ x, B @ x, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="one filter per trace must have the model's shape"):
        Convolve1D((4, 20), torch.randn(3, 7, dtype=torch.float64), axis=1)


def test_per_trace_filters_broadcast_and_empty() -> None:
    """A size-1 axis of h applies its filters to every trace there (as PyLops); filters with a
    zero size are an error at construction (the batch of traces would divide by zero)."""
    pl = pytest.importorskip("pylops")
    rng = np.random.default_rng(9)
    h, x = rng.standard_normal((1, 5)), rng.standard_normal((4, 20))
    P = pl.signalprocessing.Convolve1D((4, 20), h=h, offset=2, axis=1, method="fft")
    hp = torch.nn.Parameter(torch.from_numpy(h))
    T = Convolve1D((4, 20), hp, offset=2, axis=1)
    y = T @ torch.from_numpy(x)
    np.testing.assert_allclose(y.detach().numpy().ravel(), P @ x.ravel(), rtol=1e-12, atol=1e-13)
    y.square().sum().backward()
    g = hp.grad.clone()
    hp.grad = None
    (Convolve1D(20, hp[0], offset=2) @ torch.from_numpy(x)).square().sum().backward()
    torch.testing.assert_close(g, hp.grad, rtol=1e-10, atol=1e-12)
    # broadcast along every other axis, on any axis: the one filter it is (adjoint and gradient
    # too), not one copy per trace, nor one kept spectrum per trace
    for dims, hs, ax in (((20, 4), (5, 1), 0), ((3, 20, 2), (1, 5, 1), 1), ((4, 20), (1, 5), -1)):
        h = torch.from_numpy(rng.standard_normal(hs))
        x, y = torch.from_numpy(rng.standard_normal(dims)), torch.from_numpy(rng.standard_normal(dims))
        for method in ("direct", "fft"):
            T = Convolve1D(dims, h, offset=2, axis=ax, method=method)
            P = pl.signalprocessing.Convolve1D(dims, h=h.numpy(), offset=2, axis=ax, method="fft")
            np.testing.assert_allclose((T @ x).numpy().ravel(), P @ x.numpy().ravel(), rtol=1e-12, atol=1e-13)
            A = T.todense()
            torch.testing.assert_close((T.H @ y).reshape(-1), A.T @ y.reshape(-1), rtol=1e-12, atol=1e-12)
    T = Convolve1D((200, 4000), torch.randn(1, 513, dtype=torch.float64), offset=256, axis=1, method="fft")
    T @ torch.randn(200, 4000, dtype=torch.float64)
    # (one line's spectrum costs less than keeping it: nothing kept, where 200 were)
    assert "spectrum" not in T.__dict__.get("_kept_values", {})
    with pytest.raises(ValueError, match="no zero size"):
        Convolve1D((0, 20), torch.zeros(0, 7, dtype=torch.float64), offset=3, axis=1)


def test_positional_arguments_as_pylops():
    """PyLops' positional order (dims, h, offset, axis(es), method, dtype, name): the seventh is the name."""
    h = torch.randn(3, dtype=torch.float64)
    assert tl.signalprocessing.Convolve1D(10, h, 1, -1, None, "float64", "Cn").name == "Cn"
    h2 = torch.randn(3, 3, dtype=torch.float64)
    assert tl.signalprocessing.Convolve2D((6, 7), h2, (1, 1), (0, 1), None, "float64", "C2").name == "C2"
    assert tl.signalprocessing.ConvolveND((6, 7), h2, (1, 1), (0, 1), None, "float64", "CN").name == "CN"


@pytest.mark.parametrize("method", ["direct", "fft", "overlapadd", None])
def test_models_without_samples_along_another_axis(method):
    """A model with an empty axis besides the convolved ones (or along them): empty results of the
    right shapes for every method, forward and adjoint, and a zero filter gradient (FFT libraries
    refuse empty transforms)."""
    from torchlops.signalprocessing.convolvend import ConvolveND

    h = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    for dims, axis in (((0, 5), 1), ((0, 5, 3), 1), ((5, 0, 3), 0)):
        C = Convolve1D(dims, h, offset=1, axis=axis, method=method)
        for apply, shape in ((C.matvec, C.dims), (C.rmatvec, C.dimsd)):
            y = apply(torch.ones(2, *shape, dtype=torch.float64))
            assert y.shape == (2, *shape)
            h.grad = None
            y.sum().backward()
            assert torch.equal(h.grad, torch.zeros(3, dtype=torch.float64))
    g = torch.nn.Parameter(torch.ones(2, 2, dtype=torch.float64))
    C = ConvolveND((0, 5, 4), g, axes=(1, 2), method=method or "fft")
    y = C.matvec(torch.ones(0, 5, 4, dtype=torch.float64))
    assert y.shape == (0, 5, 4)
    x = torch.ones(3, 0, 5, 4, dtype=torch.float64, requires_grad=True)
    (gg,) = torch.autograd.grad(C(x).sum(), g, create_graph=True)
    assert torch.equal(gg, torch.zeros(2, 2, dtype=torch.float64))
    (gx,) = torch.autograd.grad(gg.sum(), x)  # (the filter gradient is differentiable again)
    assert gx.shape == x.shape


def test_automatic_fft_runs_few_long_signals_by_overlap_add(monkeypatch):
    """Where the automatic choice takes FFTs, a few long signals on the CPU run by overlap-add
    (the CPU FFT transforms batches of signals faster per signal than one), with the FFT's
    results; many signals, other devices, several axes and an explicit method="fft" keep plain
    FFTs."""
    from torchlops.functional import convolution as conv

    assert conv.fft_or_overlap_add(1, [16384], [129], torch.device("cpu")) == "overlapadd"
    assert conv.fft_or_overlap_add(4, [65536], [513], torch.device("cpu")) == "overlapadd"
    assert conv.fft_or_overlap_add(16, [65536], [513], torch.device("cpu")) == "fft"
    assert conv.fft_or_overlap_add(1, [4096], [129], torch.device("cpu")) == "fft"
    assert conv.fft_or_overlap_add(1, [16384], [129], torch.device("meta")) == "fft"
    assert conv.fft_or_overlap_add(1, [16384, 16384], [9, 9], torch.device("cpu")) == "fft"
    calls = []
    real = conv._overlap_add
    monkeypatch.setattr(conv, "_overlap_add", lambda *a: (calls.append(1), real(*a))[1])
    g = torch.Generator().manual_seed(9)
    h = torch.randn(513, generator=g, dtype=torch.float64)
    x = torch.randn(2, 20000, generator=g, dtype=torch.float64)
    auto = Convolve1D(20000, h, offset=200)
    fft = Convolve1D(20000, h, offset=200, method="fft")
    assert auto.method == fft.method == "fft"
    for a, f in ((auto.matvec, fft.matvec), (auto.rmatvec, fft.rmatvec)):
        calls.clear()
        y = a(x[:1])
        assert calls, "one long signal: overlap-add"
        torch.testing.assert_close(y, f(x[:1]), rtol=1e-10, atol=1e-10 * float(y.abs().max()))
        calls.clear()
        f(x[:1])
        assert not calls, "method='fft' as asked"
    calls.clear()
    Convolve1D((16, 20000), h, offset=200) @ torch.randn(16, 20000, dtype=torch.float64)
    assert not calls, "sixteen signals: plain FFTs"
    del auto.__dict__["_auto_method"]  # (an operator saved before the choice could switch)
    torch.testing.assert_close(auto(x[:1]), fft(x[:1]), rtol=1e-12, atol=1e-12 * float(fft(x[:1]).abs().max()))


def test_fft_engines_keep_the_filter_spectrum_while_the_filter_is_unchanged():
    """Applied again on the CPU, an FFT convolution transforms its input and output only: the
    filter's spectrum (one per direction) is kept while the filter holds the same values, and is
    built afresh after writes in place, through ``.data``, a new tensor, a dtype conversion or
    for a recorded filter; copies of the operator do not carry it. Results equal a fresh
    operator's every time."""
    import copy
    import pickle

    g = torch.Generator().manual_seed(3)

    def spectra(Op):
        kept = Op.__dict__.get("_kept_values", {})
        return {k: v[2] for k, v in kept.items() if k.startswith("spectrum")}

    def fresh(Op, h):
        if isinstance(Op, Convolve1D):
            return Convolve1D(Op.dims, h.detach().clone(), offset=Op.offset, axis=Op.axis, method=Op.method)
        return Convolve2D(Op.dims, h.detach().clone(), offset=Op.offset, axes=Op.axes, method=Op.method)

    for cplx in (False, True):
        dt = torch.complex128 if cplx else torch.float64
        x2 = torch.randn(3, 128, 130, generator=g, dtype=dt)
        x1 = torch.randn(3, 40000, generator=g, dtype=dt)
        cases = [
            (Convolve2D((128, 130), torch.randn(21, 19, generator=g, dtype=dt), offset=(4, 11), method="fft"), x2, True),
            (Convolve1D(40000, torch.randn(301, generator=g, dtype=dt), offset=100, method="fft"), x1, True),
            # (overlap-add: blocks' spectra of 626 samples cost less than a lookup, nothing is kept)
            (Convolve1D(40000, torch.randn(301, generator=g, dtype=dt), offset=100), x1[:1], False),
            (Convolve1D((128, 130), torch.randn(128, 25, generator=g, dtype=dt), offset=3, axis=1, method="fft"), x2,
             True),
        ]
        for Op, x, keeps in cases:
            for step in range(3):
                y, z = Op @ x, Op.H @ x
                ref = fresh(Op, Op.h)
                torch.testing.assert_close(y, ref @ x, rtol=1e-12, atol=1e-12 * float(y.abs().max()))
                torch.testing.assert_close(z, ref.H @ x, rtol=1e-12, atol=1e-12 * float(z.abs().max()))
                kept = spectra(Op)
                assert set(kept) == ({"spectrum", "spectrum_adjoint"} if keeps else set()), Op
                Op @ x, Op.H @ x
                assert all(spectra(Op)[k] is v for k, v in kept.items()), "built again for the same filter"
                # writes the next round must see
                if step == 0:
                    Op.h.mul_(-0.5)
                elif step == 1:
                    Op.h.data[..., 0] += 1  # (no version counter)
            Op.h = torch.randn(Op.h.shape, generator=g, dtype=dt)
            torch.testing.assert_close(Op @ x, fresh(Op, Op.h) @ x, rtol=1e-12, atol=1e-9)
            for C in (copy.deepcopy(Op), pickle.loads(pickle.dumps(Op))):
                assert not [k for k in C.__dict__ if k.startswith("_kept")]
                torch.testing.assert_close(C @ x, Op @ x, rtol=1e-12, atol=1e-9)
            if not cplx:
                O32 = copy.deepcopy(Op).float()
                torch.testing.assert_close(O32 @ x.float(), (Op @ x).float(), rtol=1e-4, atol=1e-4)
    # a learnable filter: gradients through a kept spectrum's operator are the recorded ones
    h = torch.nn.Parameter(torch.randn(21, 19, generator=g, dtype=torch.float64))
    C = Convolve2D((128, 130), h, offset=(4, 11), method="fft")
    x = torch.randn(128, 130, generator=g, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        C @ x  # (kept while nothing is recorded)
    assert spectra(C)
    loss = (C @ x).square().sum() + (C.H @ x).pow(3).sum()
    gh, gx = torch.autograd.grad(loss, (h, x))
    hr = h.detach().clone().requires_grad_()
    R = Convolve2D((128, 130), hr, offset=(4, 11), method="fft")
    xr = x.detach().clone().requires_grad_()
    ghr, gxr = torch.autograd.grad((R @ xr).square().sum() + (R.H @ xr).pow(3).sum(), (hr, xr))
    torch.testing.assert_close(gh, ghr, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gx, gxr, rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        h.add_(1.0)
        torch.testing.assert_close(C @ x, R.__class__((128, 130), h.clone(), offset=(4, 11), method="fft") @ x)
    # the engine called with a recorded filter (grad mode on): its spectrum is recorded, not kept
    from functools import partial

    from torchlops.functional.convolution import convolve

    xs = x.detach()[None]
    y = convolve(xs, h, (0, 1), (4, 11), method="fft", keep=partial(C._kept, "spectrum"))
    assert y.requires_grad
    (gk,) = torch.autograd.grad(y.square().sum(), h)
    h2 = h.detach().clone().requires_grad_()
    (gr,) = torch.autograd.grad(convolve(xs, h2, (0, 1), (4, 11), method="fft").square().sum(), h2)
    torch.testing.assert_close(gk, gr, rtol=1e-12, atol=1e-12)
    # traces and fake tensors neither keep nor read kept values
    import warnings

    from torch._subclasses.fake_tensor import FakeTensorMode

    hd = torch.randn(21, 19, generator=g, dtype=torch.float64)
    xd = torch.randn(128 * 130, generator=g, dtype=torch.float64)
    D = Convolve2D((128, 130), hd.clone(), offset=(10, 9), method="fft")
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        assert (D @ mode.from_tensor(xd)).shape == (128 * 130,)
    assert not spectra(D)
    with torch.device("cpu"):  # (a default device is no trace: kept)
        D @ xd
    assert spectra(D)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(D, (xd,))
    with torch.no_grad():
        D.h.mul_(3)
    torch.testing.assert_close(traced(xd), fresh(D, D.h) @ xd, rtol=1e-12, atol=1e-10)
