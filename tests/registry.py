"""A factory for every operator: the property battery (test_properties.py) runs over all of them.

Each :class:`OperatorCase` builds an operator in a requested real precision (complex
operators use the matching complex dtype). A new operator joins the battery by adding
one or more cases here: odd sizes, non-default axes, several parameter sets.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

import torchlops as tl
from torchlops.signalprocessing.bilinear import Bilinear
from torchlops.signalprocessing.convolve1d import Convolve1D
from torchlops.signalprocessing.convolve2d import Convolve2D
from torchlops.signalprocessing.convolvend import ConvolveND
from torchlops.signalprocessing.dct import DCT
from torchlops.signalprocessing.fft import FFT
from torchlops.signalprocessing.fft2d import FFT2D
from torchlops.signalprocessing.fftnd import FFTND
from torchlops.signalprocessing.fredholm1 import Fredholm1
from torchlops.signalprocessing.interp import Interp
from torchlops.signalprocessing.interpspline import InterpCubicSpline
from torchlops.signalprocessing.nonstatconvolve1d import NonStationaryConvolve1D
from torchlops.signalprocessing.nonstatconvolve2d import NonStationaryConvolve2D
from torchlops.signalprocessing.nonstatconvolve3d import NonStationaryConvolve3D
from torchlops.signalprocessing.nonstatfilters1d import NonStationaryFilters1D
from torchlops.signalprocessing.nonstatfilters2d import NonStationaryFilters2D
from torchlops.signalprocessing.patch2d import Patch2D
from torchlops.signalprocessing.patch3d import Patch3D
from torchlops.signalprocessing.shift import Shift
from torchlops.signalprocessing.sliding1d import Sliding1D
from torchlops.signalprocessing.sliding2d import Sliding2D
from torchlops.signalprocessing.sliding3d import Sliding3D


@dataclass(frozen=True)
class OperatorCase:
    """One parameter set of one operator."""

    name: str
    factory: Callable[[torch.dtype], tl.LinearOperator]
    #: run gradgradcheck (skip for operators whose second derivative is expensive)
    gradgrad: bool = True
    #: include in the torch.compile smoke test run by default (the rest is marked slow)
    compile: bool = False
    #: torch.compile traces it into one graph (torch.sparse.mm does not)
    fullgraph: bool = True

    def build(self, dtype: torch.dtype = torch.float64) -> tl.LinearOperator:
        return self.factory(dtype)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, dtype: torch.dtype, seed: int = 0, cplx: bool = False) -> torch.Tensor:
    g = _gen(seed)
    x = torch.randn(*shape, dtype=dtype, generator=g)
    if cplx:
        x = torch.complex(x, torch.randn(*shape, dtype=dtype, generator=g))
    return x


def _c(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _mm(m: int, n: int, dtype: torch.dtype, seed: int = 0, cplx: bool = False) -> tl.MatrixMult:
    return tl.MatrixMult(_randn(m, n, dtype=dtype, seed=seed, cplx=cplx))


def _from_pylops(kind: str, dt: torch.dtype) -> tl.LinearOperator:
    """A PyLops operator wrapped by :func:`torchlops.from_pylops` (PyLops is a test dependency)."""
    import numpy as np
    import pylops

    npdt = np.float64 if dt == torch.float64 else np.float32
    A = _randn(5, 4, dtype=torch.float64, seed=12).numpy().astype(npdt)
    if kind == "matrix":
        return tl.from_pylops(pylops.MatrixMult(A, dtype=npdt))
    return tl.from_pylops(pylops.FirstDerivative((4, 6), axis=1, dtype=npdt))


def _flat_operator(dt: torch.dtype) -> tl.LinearOperator:
    """The closure-based operator the sparsity solvers build their inner problems from."""
    from torchlops.optimization._sparse_helpers import FlatOperator

    A = _randn(4, 6, dtype=dt, seed=11)
    # (a closure's tensors do not move with Op.to(device): the closures follow their input)
    # (and compute in the promoted dtype, as every operator: a float64 input is not cut)
    def mv(x: torch.Tensor) -> torch.Tensor:
        dt2 = torch.promote_types(x.dtype, A.dtype)
        return x.to(dt2) @ A.T.to(x.device, dt2)

    def rmv(y: torch.Tensor) -> torch.Tensor:
        dt2 = torch.promote_types(y.dtype, A.dtype)
        return y.to(dt2) @ A.conj().to(y.device, dt2)

    return FlatOperator(6, 4, mv, rmv, dt)


BASIC_CASES: list[OperatorCase] = [
    # ---------------------------------------------------------------- basic operators
    OperatorCase("Identity-square", lambda dt: tl.Identity(7, dtype=dt), compile=True),
    OperatorCase("Identity-N>M", lambda dt: tl.Identity(7, 4, dtype=dt)),
    OperatorCase("Identity-N<M-nd", lambda dt: tl.Identity((3, 4), (3, 6), dtype=dt)),
    OperatorCase("Zero-rect", lambda dt: tl.Zero(5, 3, dtype=dt)),
    OperatorCase("Zero-nd", lambda dt: tl.Zero((2, 3), (3, 3), dtype=dt)),
    OperatorCase("Diagonal-full", lambda dt: tl.Diagonal(_randn(3, 5, dtype=dt)), compile=True),
    OperatorCase("Diagonal-axis0", lambda dt: tl.Diagonal(_randn(3, dtype=dt), dims=(3, 5), axis=0)),
    OperatorCase("Diagonal-complex", lambda dt: tl.Diagonal(_randn(5, dtype=dt, cplx=True))),
    OperatorCase("MatrixMult", lambda dt: _mm(5, 7, dt), compile=True),
    OperatorCase("MatrixMult-otherdims", lambda dt: tl.MatrixMult(_randn(5, 3, dtype=dt), otherdims=(2, 3))),
    OperatorCase("MatrixMult-complex", lambda dt: _mm(4, 3, dt, cplx=True)),
    OperatorCase(
        "MatrixMult-sparse",
        lambda dt: tl.MatrixMult(torch.relu(_randn(6, 5, dtype=dt)).to_sparse()),
        fullgraph=False,
    ),
    OperatorCase(
        "MatrixMult-sparse-csr-otherdims",
        lambda dt: tl.MatrixMult(torch.relu(_randn(4, 5, dtype=dt, seed=3)).to_sparse_csr(), otherdims=(2,)),
        fullgraph=False,
    ),
    OperatorCase(
        "FunctionOperator",
        lambda dt: tl.FunctionOperator(lambda x: 2 * x.flip(-1), lambda y: 2 * y.flip(-1), 5, dtype=dt),
    ),
    OperatorCase(
        "FunctionOperator-rect-vmapped",
        lambda dt: tl.FunctionOperator(
            lambda x: torch.stack([x[0] + x[1], x[2]]),
            lambda y: torch.stack([y[0], y[0], y[1]]),
            2, 3, dtype=dt, vectorized=False,
        ),
    ),
    OperatorCase("FlatOperator", lambda dt: _flat_operator(dt)),
    OperatorCase("PyLopsOperator-matrix", lambda dt: _from_pylops("matrix", dt), fullgraph=False),
    OperatorCase("PyLopsOperator-derivative", lambda dt: _from_pylops("derivative", dt), fullgraph=False),
    OperatorCase("MemoizeOperator", lambda dt: tl.MemoizeOperator(_mm(4, 6, dt), max_neval=3)),
    OperatorCase(
        "VStack",
        lambda dt: tl.VStack([tl.Identity(4, dtype=dt), tl.Diagonal(_randn(4, dtype=dt)), _mm(3, 4, dt, seed=1)]),
        compile=True,
    ),
    OperatorCase("VStack-nd", lambda dt: tl.VStack([tl.Flip((3, 2), axis=0, dtype=dt), tl.Sum((3, 2), axis=1, dtype=dt)])),
    OperatorCase("HStack", lambda dt: tl.HStack([tl.Identity(4, dtype=dt), _mm(4, 3, dt, seed=2)])),
    OperatorCase("HStack-complex", lambda dt: tl.HStack([_mm(3, 2, dt, cplx=True), tl.Identity(3, dtype=dt)])),
    OperatorCase("BlockDiag", lambda dt: tl.BlockDiag([tl.Identity(3, dtype=dt), _mm(2, 5, dt, seed=3)])),
    OperatorCase("BlockDiag-same", lambda dt: tl.BlockDiag([tl.Flip(5, dtype=dt), tl.Roll(5, shift=2, dtype=dt)])),
    OperatorCase(
        "Block",
        lambda dt: tl.Block(
            [[tl.Identity(3, dtype=dt), _mm(3, 2, dt, seed=4)], [_mm(4, 3, dt, seed=5), tl.Zero(4, 2, dtype=dt)]]
        ),
    ),
    OperatorCase("Kronecker", lambda dt: tl.Kronecker(_mm(3, 2, dt, seed=6), _mm(4, 5, dt, seed=7))),
    OperatorCase("Kronecker-complex", lambda dt: tl.Kronecker(_mm(2, 3, dt, cplx=True), tl.Flip(3, dtype=dt))),
    # (an R-linear part: the adjoint applies the parts in the reverse order)
    OperatorCase("Kronecker-Rlinear", lambda dt: tl.Kronecker(_mm(2, 3, dt, cplx=True), tl.Conj(4, dtype=_c(dt)))),
    OperatorCase("Kronecker-Rlinear-first", lambda dt: tl.Kronecker(tl.Conj(3, dtype=_c(dt)), _mm(4, 2, dt, cplx=True))),
    OperatorCase("Real", lambda dt: tl.Real((3, 4), dtype=_c(dt))),
    OperatorCase("Imag", lambda dt: tl.Imag(5, dtype=_c(dt))),
    OperatorCase("Conj", lambda dt: tl.Conj((2, 3), dtype=_c(dt))),
    OperatorCase("Transpose-3d", lambda dt: tl.Transpose((2, 3, 5), axes=(2, 0, 1), dtype=dt), compile=True),
    OperatorCase("Transpose-2d", lambda dt: tl.Transpose((3, 4), axes=(1, 0), dtype=dt)),
    OperatorCase("Flip-axis0", lambda dt: tl.Flip((5, 3), axis=0, dtype=dt)),
    OperatorCase("Flip-1d", lambda dt: tl.Flip(7, dtype=dt)),
    OperatorCase("Roll-neg", lambda dt: tl.Roll((3, 7), axis=1, shift=-3, dtype=dt)),
    OperatorCase("Roll-axis0", lambda dt: tl.Roll((5, 2), axis=0, shift=2, dtype=dt)),
    OperatorCase("Pad-1d", lambda dt: tl.Pad(5, (2, 3), dtype=dt), compile=True),
    OperatorCase("Pad-2d", lambda dt: tl.Pad((3, 4), ((1, 0), (2, 3)), dtype=dt)),
    OperatorCase("Sum-axis0", lambda dt: tl.Sum((3, 5), axis=0, dtype=dt)),
    OperatorCase("Sum-3d", lambda dt: tl.Sum((2, 3, 4), axis=1, dtype=dt)),
    OperatorCase("Sum-size1-axis", lambda dt: tl.Sum((4, 1), axis=1, dtype=dt)),
    OperatorCase("Symmetrize-1d", lambda dt: tl.Symmetrize(5, dtype=dt)),
    OperatorCase("Symmetrize-axis0", lambda dt: tl.Symmetrize((4, 3), axis=0, dtype=dt)),
    OperatorCase("Restriction", lambda dt: tl.Restriction(9, [0, 3, 4, 8], dtype=dt), compile=True),
    OperatorCase("Restriction-repeated-axis0", lambda dt: tl.Restriction((5, 3), [4, 1, 1, 0], axis=0, dtype=dt)),
    OperatorCase("Regression", lambda dt: tl.Regression(torch.linspace(-1, 1, 7, dtype=dt), order=3)),
    OperatorCase("LinearRegression", lambda dt: tl.LinearRegression(torch.linspace(0, 2, 5, dtype=dt))),
    # (a complex taxis: PyLops 2.8's adjoint omits the conjugate)
    OperatorCase("Regression-complex-taxis",
                 lambda dt: tl.Regression(torch.linspace(-1, 1, 6, dtype=dt) * (1 + 0.5j), order=2)),
    OperatorCase("CausalIntegration-full", lambda dt: tl.CausalIntegration(7, sampling=0.5, dtype=dt)),
    OperatorCase(
        "CausalIntegration-half-axis0",
        lambda dt: tl.CausalIntegration((5, 3), axis=0, kind="half", dtype=dt),
    ),
    OperatorCase(
        "CausalIntegration-trap-removefirst",
        lambda dt: tl.CausalIntegration((3, 6), axis=1, kind="trapezoidal", removefirst=True, sampling=2.0, dtype=dt),
    ),
    OperatorCase("FirstDerivative-centered", lambda dt: tl.FirstDerivative(7, sampling=0.5, dtype=dt), compile=True),
    OperatorCase("FirstDerivative-forward-axis0", lambda dt: tl.FirstDerivative((5, 3), axis=0, kind="forward", dtype=dt)),
    OperatorCase("FirstDerivative-backward-3d", lambda dt: tl.FirstDerivative((3, 5, 2), axis=1, kind="backward", dtype=dt)),
    OperatorCase("FirstDerivative-centered-edge", lambda dt: tl.FirstDerivative((3, 7), edge=True, dtype=dt)),
    OperatorCase(
        "FirstDerivative-order5-edge-axis0",
        lambda dt: tl.FirstDerivative((7, 3), axis=0, order=5, edge=True, sampling=2.0, dtype=dt),
    ),
    OperatorCase("FirstDerivative-order5-complex", lambda dt: tl.FirstDerivative(9, order=5, dtype=_c(dt))),
    OperatorCase("SecondDerivative-centered", lambda dt: tl.SecondDerivative(7, sampling=0.5, dtype=dt), compile=True),
    OperatorCase("SecondDerivative-forward-axis0", lambda dt: tl.SecondDerivative((5, 3), axis=0, kind="forward", dtype=dt)),
    OperatorCase("SecondDerivative-backward-3d", lambda dt: tl.SecondDerivative((3, 5, 2), axis=1, kind="backward", dtype=dt)),
    OperatorCase("SecondDerivative-edge-complex", lambda dt: tl.SecondDerivative((3, 7), edge=True, dtype=_c(dt))),
    OperatorCase("Laplacian", lambda dt: tl.Laplacian((5, 7), dtype=dt), compile=True),
    OperatorCase(
        "Laplacian-3d-weights-edge",
        lambda dt: tl.Laplacian((3, 5, 4), axes=(0, 2), weights=(0.5, 2.0), sampling=(1.0, 0.5), edge=True, dtype=dt),
    ),
    OperatorCase(
        "Laplacian-forward-3axes",
        lambda dt: tl.Laplacian((4, 3, 5), axes=(2, 0, 1), weights=(1, 2, 3), sampling=(1, 1, 2), kind="forward", dtype=dt),
    ),
    OperatorCase("Gradient", lambda dt: tl.Gradient((5, 7), dtype=dt), compile=True),
    OperatorCase("Gradient-3d-forward-edge", lambda dt: tl.Gradient((3, 5, 4), sampling=(1.0, 0.5, 2.0), kind="forward", dtype=dt)),
    OperatorCase("Gradient-edge-complex", lambda dt: tl.Gradient((4, 5), edge=True, dtype=_c(dt))),
    OperatorCase(
        "FirstDirectionalDerivative-const",
        lambda dt: tl.FirstDirectionalDerivative((5, 7), v=torch.tensor([0.6, 0.8], dtype=dt)),
    ),
    OperatorCase(
        "FirstDirectionalDerivative-field-edge",
        lambda dt: tl.FirstDirectionalDerivative((3, 5), v=_randn(2, 3, 5, dtype=dt), edge=True, sampling=(1.0, 2.0)),
    ),
    OperatorCase(
        "FirstDirectionalDerivative-complex-backward",
        lambda dt: tl.FirstDirectionalDerivative((4, 3), v=_randn(2, dtype=dt, cplx=True), kind="backward"),
    ),
    OperatorCase(
        "SecondDirectionalDerivative-const",
        lambda dt: tl.SecondDirectionalDerivative((5, 7), v=torch.tensor([0.6, 0.8], dtype=dt)),
    ),
    OperatorCase(
        "SecondDirectionalDerivative-field-3d",
        lambda dt: tl.SecondDirectionalDerivative((3, 4, 5), v=_randn(3, 3, 4, 5, dtype=dt), edge=True),
    ),
    OperatorCase("Smoothing1D", lambda dt: tl.Smoothing1D(3, 7, dtype=dt), compile=True),
    OperatorCase("Smoothing1D-even-axis0", lambda dt: tl.Smoothing1D(4, (9, 3), axis=0, dtype=dt)),
    OperatorCase("Smoothing1D-long-complex", lambda dt: tl.Smoothing1D(11, (3, 5), dtype=_c(dt))),
    OperatorCase("Smoothing2D", lambda dt: tl.Smoothing2D((3, 5), (7, 9), dtype=dt), compile=True),
    OperatorCase("Smoothing2D-3d-axes", lambda dt: tl.Smoothing2D((2, 3), (5, 3, 7), axes=(0, 2), dtype=dt)),
    OperatorCase("SmoothingND-3d", lambda dt: tl.SmoothingND((3, 2, 5), (5, 3, 7), axes=(0, 1, 2), dtype=dt)),
    OperatorCase("SmoothingND-default-axes", lambda dt: tl.SmoothingND((3, 3), (3, 5, 7), dtype=dt)),
    # ---------------------------------------------------------------- algebra (torchlops._algebra classes)
    OperatorCase("SumOperator", lambda dt: _mm(4, 4, dt) + tl.Identity(4, dtype=dt)),
    OperatorCase("SumOperator-difference", lambda dt: tl.Flip((2, 3), dtype=dt) - tl.Roll((2, 3), dtype=dt)),
    OperatorCase("ProductOperator", lambda dt: _mm(3, 5, dt) @ tl.Flip(5, dtype=dt), compile=True),
    OperatorCase("ScaledOperator", lambda dt: 2.5 * tl.Roll((3, 4), axis=0, dtype=dt)),
    OperatorCase("ScaledOperator-complex", lambda dt: (1 - 2j) * _mm(3, 4, dt)),
    OperatorCase("ScaledOperator-negated", lambda dt: -tl.Diagonal(_randn(4, dtype=dt))),
    OperatorCase("PowerOperator", lambda dt: _mm(4, 4, dt) ** 3),
    OperatorCase("PowerOperator-nd-dims-differ", lambda dt: tl.Transpose((3, 4), (1, 0), dtype=dt) ** 2),
    OperatorCase("PowerOperator-zero", lambda dt: _mm(4, 4, dt) ** 0),
    OperatorCase("SumOperator-flat-plus-nd", lambda dt: _mm(6, 6, dt) + tl.Flip((2, 3), axis=1, dtype=dt)),
    OperatorCase("AdjointOperator", lambda dt: _mm(3, 5, dt, cplx=True).H),
    OperatorCase("TransposeOperator", lambda dt: _mm(3, 5, dt, cplx=True).T),
    OperatorCase("ConjOperator", lambda dt: _mm(3, 5, dt, cplx=True).conj()),
    OperatorCase("SumOperator-normal", lambda dt: _mm(6, 4, dt).H @ _mm(6, 4, dt) + 0.1 * tl.Identity(4, dtype=dt), compile=True),
    OperatorCase("RealImagOperator-toreal", lambda dt: _mm(3, 4, dt, cplx=True).toreal()),
    OperatorCase("RealImagOperator-toimag", lambda dt: _mm(3, 4, dt, cplx=True).toimag()),
    OperatorCase("RealImagOperator-toimag-Rlinear", lambda dt: tl.FFT(6, nfft=8, real=True, dtype=_c(dt)).toimag()),
    OperatorCase("RealImagOperator-toimag-of-toreal", lambda dt: _mm(3, 4, dt, cplx=True).toreal().toimag()),
    OperatorCase("RealImagOperator-toimag-Conj", lambda dt: (tl.Conj(4, dtype=_c(dt)) @ _mm(4, 3, dt, cplx=True)).toimag()),
    OperatorCase("ColumnOperator", lambda dt: _mm(3, 6, dt).apply_columns([0, 2, 5])),
    OperatorCase("ProductOperator-Rlinear", lambda dt: tl.Conj(3, dtype=_c(dt)) @ tl.Diagonal(_randn(3, dtype=dt, cplx=True))),
]

# ================================================================ convolutions
CONVOLVE_CASES: list[OperatorCase] = [
    # ---------------------------------------------------------------- Convolve1D
    OperatorCase("Convolve1D-1d-odd-direct", lambda dt: Convolve1D(11, _randn(5, dtype=dt), offset=1, method="direct")),
    OperatorCase("Convolve1D-1d-even-fft", lambda dt: Convolve1D(11, _randn(4, dtype=dt), offset=3, method="fft")),
    OperatorCase(
        "Convolve1D-3d-axis0-auto", lambda dt: Convolve1D((7, 3, 4), _randn(5, dtype=dt, seed=1), offset=2, axis=0)
    ),
    OperatorCase(
        "Convolve1D-3d-axis1-complex-direct",
        lambda dt: Convolve1D((3, 9, 2), _randn(3, dtype=dt, cplx=True), axis=1, method="direct"),
    ),
    OperatorCase(
        "Convolve1D-3d-axis1-complex-fft",
        lambda dt: Convolve1D((3, 9, 2), _randn(3, dtype=dt, cplx=True), offset=2, axis=1, method="fft"),
    ),
    OperatorCase("Convolve1D-long-direct", lambda dt: Convolve1D(5, _randn(9, dtype=dt), offset=2, method="direct")),
    OperatorCase(
        "Convolve1D-long-axis0-fft", lambda dt: Convolve1D((5, 3), _randn(8, dtype=dt), offset=4, axis=0, method="fft")
    ),
    OperatorCase(
        "Convolve1D-per-trace-direct",
        lambda dt: Convolve1D((3, 9), _randn(3, 5, dtype=dt, seed=2), offset=1, axis=1, method="direct"),
    ),
    OperatorCase(
        "Convolve1D-per-trace-axis0-long-fft-complex",
        lambda dt: Convolve1D((4, 2, 3), _randn(6, 2, 3, dtype=dt, cplx=True), offset=2, axis=0, method="fft"),
    ),
    # ---------------------------------------------------------------- Convolve2D / ConvolveND
    OperatorCase(
        "Convolve2D-fft-offcentre", lambda dt: Convolve2D((5, 7), _randn(3, 5, dtype=dt), offset=(0, 3), method="fft"),
    ),
    OperatorCase(
        "Convolve2D-direct-even", lambda dt: Convolve2D((7, 9), _randn(4, 2, dtype=dt), offset=(2, 1), method="direct")
    ),
    OperatorCase(
        "Convolve2D-3d-axes02-complex",
        lambda dt: Convolve2D((5, 2, 3), _randn(3, 3, dtype=dt, cplx=True), offset=(1, 2), axes=(0, 2)),
    ),
    OperatorCase(
        "Convolve2D-filter-longer-direct",
        lambda dt: Convolve2D((4, 5), _randn(7, 6, dtype=dt), offset=(3, 2), method="direct"),
    ),
    OperatorCase(
        "ConvolveND-3d-auto", lambda dt: ConvolveND((5, 4, 3), _randn(3, 2, 3, dtype=dt), offset=(1, 0, 2), axes=None,
                                                    method="auto"),
    ),
    OperatorCase(
        "ConvolveND-3d-axes10-fft-complex",
        lambda dt: ConvolveND((3, 4, 2), _randn(2, 3, dtype=dt, cplx=True), offset=(1, 1), axes=(1, 0)),
    ),
    # ---------------------------------------------------------------- non-stationary
    OperatorCase(
        "NonStationaryConvolve1D-1d",
        lambda dt: NonStationaryConvolve1D(13, _randn(3, 5, dtype=dt), ih=(2, 6, 10)),
    ),
    OperatorCase(
        "NonStationaryConvolve1D-axis0-complex",
        lambda dt: NonStationaryConvolve1D((11, 3), _randn(2, 3, dtype=dt, cplx=True), ih=(1, 8), axis=0),
    ),
    OperatorCase(
        "NonStationaryConvolve2D",
        lambda dt: NonStationaryConvolve2D((5, 6), _randn(2, 2, 3, 5, dtype=dt), ihx=(1, 4), ihz=(0, 4)),
    ),
    OperatorCase(
        "NonStationaryConvolve3D",
        lambda dt: NonStationaryConvolve3D((5, 4, 3), _randn(2, 1, 2, 3, 3, 1, dtype=dt), ihx=(0, 3), ihy=(1,),
                                           ihz=(0, 2)),
    ),
    OperatorCase(
        "NonStationaryFilters1D", lambda dt: NonStationaryFilters1D(_randn(13, dtype=dt), hsize=5, ih=(2, 6, 10))
    ),
    OperatorCase(
        "NonStationaryFilters1D-complex",
        lambda dt: NonStationaryFilters1D(_randn(9, dtype=dt, cplx=True), hsize=3, ih=(0, 8)),
    ),
    OperatorCase(
        "NonStationaryFilters2D",
        lambda dt: NonStationaryFilters2D(_randn(5, 6, dtype=dt), hshape=(3, 3), ihx=(1, 4), ihz=(0, 4)),
    ),
]


# ================================================================ Fourier transforms and interpolation
def _quiet(cls, *args, **kwargs):
    """Build an operator whose arguments warn on purpose (nfft < dims, clipped iava)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(*args, **kwargs)


def _factored_spline(dims, dt):
    """A spline applied in its factored form (the dense matrix is kept only below a size)."""
    from torchlops.signalprocessing import interpspline

    old = interpspline.DENSE_SPLINE_ENTRIES
    interpspline.DENSE_SPLINE_ENTRIES = 0
    try:
        return InterpCubicSpline(dims, [0.0, 3.3, 17.5, 38.9, 21.25, -0.4], axis=0, dtype=dt)
    finally:
        interpspline.DENSE_SPLINE_ENTRIES = old


def _interp(dims, iava, dt, **kw):
    return _quiet(Interp, dims, torch.tensor(iava, dtype=torch.float64), dtype=dt, **kw)[0]


_BIL = [[0.3, 2.5, 2.5, 3.9, 0.0], [0.1, 1.2, 3.3, 0.0, 4.5]]

FOURIER_CASES: list[OperatorCase] = [
    # ---------------------------------------------------------------- FFT
    OperatorCase("FFT-1d-odd", lambda dt: FFT(7, dtype=_c(dt))),
    OperatorCase("FFT-axis0-nfftpad", lambda dt: FFT((5, 4), axis=0, nfft=8, dtype=_c(dt))),
    OperatorCase("FFT-nfftcrop-none", lambda dt: _quiet(FFT, (5, 7), nfft=4, norm="none", dtype=_c(dt))),
    OperatorCase(
        "FFT-real-odd-1/n-shifts",
        lambda dt: _quiet(
            FFT, (6, 3), axis=0, nfft=9, norm="1/n", real=True, ifftshift_before=True, fftshift_after=True, dtype=_c(dt)
        ),
    ),
    OperatorCase("FFT-real-even-pad", lambda dt: FFT((4, 6), nfft=8, real=True, dtype=_c(dt))),
    OperatorCase("FFT-realdtype-fftshift", lambda dt: FFT((5, 4), axis=1, fftshift_after=True, dtype=dt)),
    # ---------------------------------------------------------------- FFT2D / FFTND
    OperatorCase("FFT2D-default-shifts", lambda dt: FFT2D((4, 5), ifftshift_before=True, dtype=_c(dt))),
    OperatorCase(
        "FFT2D-axes02-real-none",
        lambda dt: _quiet(
            FFT2D,
            (5, 4, 3),
            axes=(0, 2),
            nffts=(7, 2),
            real=True,
            norm="none",
            fftshift_after=(True, False),
            dtype=_c(dt),
        ),
    ),
    OperatorCase(
        "FFT2D-axes21-real",
        lambda dt: FFT2D((3, 4, 3), axes=(2, 1), nffts=(4, 6), real=True, ifftshift_before=(False, True), dtype=_c(dt)),
    ),
    OperatorCase(
        "FFTND-3d-real-1/n",
        lambda dt: _quiet(FFTND, (5, 4, 3), nffts=(7, 2, 5), real=True, norm="1/n", dtype=_c(dt)),
    ),
    OperatorCase(
        "FFTND-4d-axes201",
        lambda dt: _quiet(
            FFTND,
            (3, 2, 3, 2),
            axes=(2, 0, 1),
            nffts=(4, 2, 3),
            ifftshift_before=(False, True, True),
            fftshift_after=True,
            dtype=_c(dt),
        ),
    ),
    # ---------------------------------------------------------------- Shift
    OperatorCase("Shift-scalar-axis0", lambda dt: Shift((5, 4), 1.3, axis=0, dtype=_c(dt))),
    OperatorCase(
        "Shift-real-nfft", lambda dt: Shift((7, 4), -0.7, axis=0, nfft=12, real=True, dtype=_c(dt))
    ),
    OperatorCase("Shift-pertrace", lambda dt: Shift((5, 7), _randn(5, dtype=dt), nfft=9, sampling=0.5, dtype=_c(dt))),
    OperatorCase(
        "Shift-3d-real-pertrace",
        lambda dt: Shift((4, 3, 2), _randn(4, 2, dtype=dt), axis=1, real=True, dtype=_c(dt)),
    ),
    OperatorCase("Shift-realdtype-crop", lambda dt: Shift((6, 3), 0.4, axis=0, nfft=4, dtype=dt)),
    # ---------------------------------------------------------------- DCT
    OperatorCase("DCT-type1-2d", lambda dt: DCT((5, 4), type=1, dtype=dt)),
    OperatorCase("DCT-type2-1d", lambda dt: DCT(7, dtype=dt)),
    OperatorCase("DCT-type3-axes02", lambda dt: DCT((5, 4, 3), type=3, axes=(0, 2), dtype=dt)),
    OperatorCase("DCT-no-axes", lambda dt: DCT((3, 4), axes=(), dtype=dt)),
    OperatorCase("DCT-type4-axis0-complex", lambda dt: DCT((6, 5), type=4, axes=0, dtype=_c(dt))),
]

INTERP_CASES: list[OperatorCase] = [
    # ---------------------------------------------------------------- interpolation
    OperatorCase("Interp-InterpLinear-axis0", lambda dt: _interp((7, 4), [0.3, 2.5, 2.7, 6.0, 5.2], dt, axis=0)),
    OperatorCase("Interp-nearest", lambda dt: _interp((5, 9), [0.3, 2.5, 7.7, 3.1], dt, kind="nearest")),
    OperatorCase("Interp-sinc-InterpMatrix-axis1", lambda dt: _interp((5, 9, 3), [0.3, 2.5, 7.7, 3.1], dt, kind="sinc", axis=1)),
    OperatorCase("Interp-InterpLinear-complex", lambda dt: _interp(8, [0.5, 6.5, 1.25], _c(dt))),
    OperatorCase(
        "InterpCubicSpline-axis1",
        lambda dt: _quiet(InterpCubicSpline, (5, 9, 3), [0.3, 2.5, 7.7, 3.1, 9.0], axis=1, dtype=dt),
    ),
    OperatorCase("InterpCubicSpline-n2", lambda dt: InterpCubicSpline((2, 3), [0.3, 0.5], axis=0, dtype=dt)),
    OperatorCase("InterpCubicSpline-factored-axis0", lambda dt: _factored_spline((40, 3), dt)),
    OperatorCase("Bilinear-2d", lambda dt: Bilinear(torch.tensor(_BIL), (5, 6), dtype=dt)),
    OperatorCase("Bilinear-3d", lambda dt: Bilinear(torch.tensor(_BIL), (5, 6, 3), dtype=dt)),
    # ---------------------------------------------------------------- Fredholm1
    OperatorCase("Fredholm1-nz1", lambda dt: Fredholm1(_randn(3, 4, 5, dtype=dt))),
    OperatorCase("Fredholm1-complex-nz2", lambda dt: Fredholm1(_randn(3, 5, 4, dtype=dt, cplx=True), nz=2)),
    # (a size-1 slice count and model width: PyLops 2.8 squeezes them away and fails)
    OperatorCase("Fredholm1-size1", lambda dt: Fredholm1(_randn(1, 4, 1, dtype=dt), nz=3)),
]




# ================================================================ sliding windows and patches
def _blockdiag(n: int, m: int, k: int, dt: torch.dtype) -> tl.BlockDiag:
    return tl.BlockDiag([_mm(m, k, dt, seed=i) for i in range(n)])


# Sliding1D/2D/3D and Patch2D/3D share the WindowedOperator base (torchlops.signalprocessing._windows)
SLIDING_CASES: list[OperatorCase] = [
    # 3 windows of 5 samples overlapping by 2 over 11 samples
    OperatorCase("Sliding1D-hanning", lambda dt: Sliding1D(_mm(5, 3, dt), 9, 11, 5, 2), compile=True),
    OperatorCase(
        "Sliding1D-none-nooverlap-complex",
        lambda dt: Sliding1D(_mm(3, 3, dt, cplx=True), 9, 10, 3, 0, tapertype=None),
    ),
    OperatorCase("Sliding1D-cosine-simop", lambda dt: Sliding1D(_blockdiag(3, 5, 3, dt), 9, 11, 5, 2, "cosine")),
    OperatorCase("Sliding1D-single-window", lambda dt: Sliding1D(_mm(7, 3, dt), 3, 7, 7, 2)),
    OperatorCase(
        "Sliding2D-hanning-derivative",
        lambda dt: Sliding2D(tl.FirstDerivative((5, 3), axis=0, dtype=dt), (15, 3), (11, 3), 5, 2),
    ),
    OperatorCase(
        "Sliding2D-cosinesquare-matrix",
        lambda dt: Sliding2D(_mm(15, 4, dt, seed=3), (6, 2), (11, 3), 5, 2, tapertype="cosinesquare"),
    ),
    OperatorCase(
        "Sliding2D-none-complex",
        lambda dt: Sliding2D(_mm(9, 4, dt, cplx=True), (6, 2), (7, 3), 3, 1, tapertype=None),
    ),
    OperatorCase(
        "Sliding3D-hanning",
        lambda dt: Sliding3D(_mm(18, 4, dt), (4, 2, 2), (5, 5, 2), (3, 3), (1, 1), (2, 1, 2)),
    ),
    OperatorCase(
        "Sliding3D-cosine-single-row",
        lambda dt: Sliding3D(_mm(15, 4, dt), (2, 6, 1), (5, 7, 1), (5, 3), (2, 1), (2, 2, 1), "cosine"),
    ),
    OperatorCase(
        "Patch2D-hanning",
        lambda dt: Patch2D(_mm(20, 4, dt), (4, 4), (7, 9), (4, 5), (1, 2), (2, 2)),
    ),
    OperatorCase(
        "Patch2D-none-complex-single-row",
        lambda dt: Patch2D(_mm(15, 4, dt, cplx=True), (2, 6), (5, 7), (5, 3), (0, 1), (2, 2), tapertype=None),
    ),
    OperatorCase(
        "Patch2D-cosinesqrt-derivative",
        lambda dt: Patch2D(tl.SecondDerivative((3, 3), axis=1, dtype=dt), (6, 6), (5, 5), (3, 3), (1, 1), (3, 3),
                           tapertype="cosinesqrt"),
    ),
    OperatorCase(
        "Patch3D-hanning",
        lambda dt: Patch3D(_mm(27, 2, dt), (2, 4, 1), (5, 5, 4), (3, 3, 3), (1, 1, 1), (1, 2, 1)),
    ),
    OperatorCase(
        "Patch3D-cosine-complex",
        lambda dt: Patch3D(tl.Diagonal(_randn(3, 2, 3, dtype=dt, cplx=True)), (3, 8, 6), (3, 5, 5),
                           (3, 2, 3), (1, 1, 1), (3, 2, 3), tapertype="cosine"),
    ),
]


#: explicit engines of the kernel-backed operators: "auto" (the cases above) takes the compiled
#: kernels when they are built, so the pure-torch engine is pinned here, and "ext" too
#: (only when built: tests/test_ext.py fails in CI if it is not).
ENGINE_CASES: list[OperatorCase] = [
    OperatorCase(
        f"{name}-{engine}", factory, compile=engine == "ext" and name == "Laplacian"
    )
    for engine in (("torch", "ext") if tl.ext_available() else ("torch",))
    for name, factory in [
        ("FirstDerivative", lambda dt, e=engine: tl.FirstDerivative((4, 9), axis=0, order=5, edge=True, dtype=dt, engine=e)),
        ("SecondDerivative", lambda dt, e=engine: tl.SecondDerivative((5, 6), kind="backward", edge=True, dtype=dt, engine=e)),
        ("Laplacian", lambda dt, e=engine: tl.Laplacian((4, 3, 5), axes=(0, 2), weights=(1, 3), edge=True, dtype=dt, engine=e)),
        ("Gradient", lambda dt, e=engine: tl.Gradient((4, 5), sampling=(1.0, 2.0), edge=True, dtype=_c(dt), engine=e)),
        ("FirstDirectionalDerivative",
         lambda dt, e=engine: tl.FirstDirectionalDerivative((3, 5), v=_randn(2, 3, 5, dtype=dt), edge=True, engine=e)),
        ("SecondDirectionalDerivative",
         lambda dt, e=engine: tl.SecondDirectionalDerivative((4, 5), v=torch.tensor([0.6, 0.8], dtype=dt), engine=e)),
        ("SmoothingND", lambda dt, e=engine: tl.SmoothingND((3, 5), (4, 7), dtype=dt, engine=e)),
        ("Convolve1D-long-filter",
         lambda dt, e=engine: Convolve1D((3, 5), _randn(7, dtype=dt), offset=2, method="direct", engine=e)),
        ("Convolve2D-complex",
         lambda dt, e=engine: Convolve2D((5, 6), _randn(3, 2, dtype=dt, cplx=True), offset=(1, 1), method="direct", engine=e)),
        ("ConvolveND-3axes",
         lambda dt, e=engine: ConvolveND((4, 5, 3), _randn(3, 2, 2, dtype=dt), offset=(1, 1, 0), axes=None,
                                         method="direct", engine=e)),
    ]
]

CASES: list[OperatorCase] = (
    BASIC_CASES + CONVOLVE_CASES + FOURIER_CASES + INTERP_CASES + SLIDING_CASES + ENGINE_CASES
)

_BY_NAME = {c.name: c for c in CASES}
if len(_BY_NAME) != len(CASES):  # pragma: no cover - guards the registry itself
    raise RuntimeError("duplicate case names in tests/registry.py")


def find_case(name: str) -> OperatorCase:
    """The case called ``name``."""
    return _BY_NAME[name]
