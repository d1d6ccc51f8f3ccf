"""The functional API on inputs of another dtype than the operator's tensors: the result is in
their common dtype (as the operator classes give it), never the operator tensor cast down to
the input's dtype (which dropped a complex tensor's imaginary part)."""

from __future__ import annotations

import pytest
import torch

import torchlops as tl
from torchlops.functional import basic as fb
from torchlops.functional import convolution as fc
from torchlops.functional import fourier as ff
from torchlops.functional import interpolation as fi

C, R, R32 = torch.complex128, torch.float64, torch.float32


def _rand(*shape, dtype, seed=0):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize(("adt", "xdt"), [(C, R), (R, C), (R, R32)], ids=["complexA", "complexx", "float32x"])
def test_matrix_products_promote(sparse, adt, xdt):
    A, x, y = _rand(4, 3, dtype=adt), _rand(2, 3, dtype=xdt, seed=1), _rand(2, 4, dtype=xdt, seed=2)
    dt = torch.promote_types(adt, xdt)
    As = A.to_sparse() if sparse else A
    out = fb.matrixmult(x, As)
    assert out.dtype == dt
    torch.testing.assert_close(out, x.to(dt) @ A.to(dt).T)
    out = fb.matrixmult_adjoint(y, As)
    assert out.dtype == dt
    torch.testing.assert_close(out, y.to(dt) @ A.to(dt).conj())
    if not sparse:
        torch.testing.assert_close(fb.matrixmult(x, A), tl.MatrixMult(A) @ x)
        torch.testing.assert_close(fb.regression(x, A), x.to(dt) @ A.to(dt).T)
        torch.testing.assert_close(fb.regression_adjoint(y, A), y.to(dt) @ A.to(dt).conj())
        x3 = _rand(2, 5, 3, dtype=xdt, seed=3)
        torch.testing.assert_close(fi.matrix_along_axis(x3, A, 1), (x3.to(dt) @ A.to(dt).T))
        torch.testing.assert_close(fi.matrix_along_axis_adjoint(fi.matrix_along_axis(x3, A, 1), A, 1),
                                   x3.to(dt) @ A.to(dt).T @ A.to(dt).conj())


@pytest.mark.parametrize("method", ["direct", "fft", "overlapadd"])
def test_convolve_with_a_complex_filter_on_real_data(method):
    h = torch.tensor([1 + 1j, 2 - 1j, 0.5j], dtype=C)
    x, y = _rand(2, 9, dtype=R), _rand(2, 9, dtype=R, seed=1)
    Op = tl.Convolve1D(9, h, offset=1, method="direct")
    out = fc.convolve(x, h, (0,), (1,), method=method)
    assert out.dtype == C
    torch.testing.assert_close(out, Op @ x)
    torch.testing.assert_close(fc.convolve_adjoint(y, h, (0,), (1,), method=method), Op.H @ y)


def test_fredholm1_and_nonstationary_filters_promote():
    G, x, y = _rand(2, 4, 3, dtype=C), _rand(1, 2, 3, 2, dtype=R, seed=1), _rand(1, 2, 4, 2, dtype=R, seed=2)
    out = fi.fredholm1(x, G)
    assert out.dtype == C
    torch.testing.assert_close(out, G @ x.to(C))
    torch.testing.assert_close(fi.fredholm1_adjoint(y, G), G.mH @ y.to(C))
    # complex fixed input, real filters (the model)
    inp = _rand(11, dtype=C, seed=3)
    hs = _rand(3, 3, dtype=R, seed=4)
    Op = tl.NonStationaryFilters1D(inp, hsize=3, ih=(2, 5, 8), dtype=C)
    out = fc.nonstationary_filters(hs[None], inp, Op._weights())[0]
    assert out.dtype == C
    torch.testing.assert_close(out, Op @ hs.to(C))


def test_real_fft_adjoint_of_real_data():
    """fftnd_adjoint(real=True) takes real data (the operator does: FFT(real=True).H @ y)."""
    for dims, axes, nffts in (((9,), (0,), (9,)), ((6, 8), (0, 1), (6, 8))):
        F = tl.FFT(9, real=True, dtype=C) if len(dims) == 1 else tl.FFT2D(dims, real=True, dtype=C)
        y = _rand(2, *F.dimsd, dtype=R)
        out = ff.fftnd_adjoint(y, dims, axes, nffts, "ortho", True)
        torch.testing.assert_close(out, ff.fftnd_adjoint(y.to(C), dims, axes, nffts, "ortho", True))
        torch.testing.assert_close(out, F.H @ y)
