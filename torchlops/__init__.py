"""torchlops: PyLops-style linear operators for inverse problems, native in PyTorch.

Operators are :class:`torch.nn.Module` s whose forward and adjoint are linked in one
autograd Function, batched over leading dims and usable on any device.
"""

from __future__ import annotations

__version__ = "0.1.0"

from torchlops import functional, nn, optimization, signalprocessing, utils
from torchlops.basicoperators import (
    Block,
    BlockDiag,
    CausalIntegration,
    Conj,
    Diagonal,
    FirstDerivative,
    FirstDirectionalDerivative,
    Flip,
    FunctionOperator,
    Gradient,
    HStack,
    Identity,
    Imag,
    Kronecker,
    Laplacian,
    LinearRegression,
    MatrixMult,
    MemoizeOperator,
    Pad,
    Real,
    Regression,
    Restriction,
    Roll,
    SecondDerivative,
    SecondDirectionalDerivative,
    Smoothing1D,
    Smoothing2D,
    SmoothingND,
    Sum,
    Symmetrize,
    Transpose,
    VStack,
    Zero,
)
from torchlops.interop import aslinearoperator, from_pylops, to_pylops, to_scipy
from torchlops.linearoperator import LinearOperator
from torchlops.optimization import (
    cg,
    cgls,
    fista,
    irls,
    ista,
    lsqr,
    normal_equations_inversion,
    omp,
    power_iteration,
    preconditioned_inversion,
    regularized_inversion,
    splitbregman,
)
from torchlops.signalprocessing import (
    DCT,
    FFT,
    FFT2D,
    FFTND,
    Bilinear,
    Convolve1D,
    Convolve2D,
    ConvolveND,
    Fredholm1,
    Interp,
    InterpCubicSpline,
    NonStationaryConvolve1D,
    NonStationaryConvolve2D,
    NonStationaryConvolve3D,
    NonStationaryFilters1D,
    NonStationaryFilters2D,
    Patch2D,
    Patch3D,
    Shift,
    Sliding1D,
    Sliding2D,
    Sliding3D,
)
from torchlops.utils.dottest import dottest

_EXT_ERROR: str | None = None
try:  # the compiled kernels are optional
    import importlib as _importlib

    _C = _importlib.import_module("torchlops._C")
except ImportError as _err:  # pragma: no cover - depends on the build
    _C = None
    _EXT_ERROR = (
        f"torchlops._C is not available ({_err}); every operator uses its pure-torch engine"
    )


def ext_available() -> bool:
    """Whether the compiled extension ``torchlops._C`` was built and imported."""
    return _C is not None


def ext_info() -> str:
    """One line on the compiled extension: what it was built with, or how to build it."""
    if _C is None:
        return _EXT_ERROR or "torchlops._C is not available"
    return "torchlops._C is available"


__all__ = [
    "__version__",
    "LinearOperator",
    "aslinearoperator",
    "from_pylops",
    "to_pylops",
    "to_scipy",
    "ext_available",
    "ext_info",
    "functional",
    "nn",
    "optimization",
    "signalprocessing",
    "utils",
    "dottest",
    "cg",
    "cgls",
    "lsqr",
    "normal_equations_inversion",
    "regularized_inversion",
    "preconditioned_inversion",
    "ista",
    "fista",
    "irls",
    "omp",
    "splitbregman",
    "power_iteration",
    "Block",
    "BlockDiag",
    "CausalIntegration",
    "Conj",
    "Diagonal",
    "FirstDerivative",
    "FirstDirectionalDerivative",
    "Flip",
    "FunctionOperator",
    "Gradient",
    "HStack",
    "Identity",
    "Imag",
    "Kronecker",
    "Laplacian",
    "LinearRegression",
    "MatrixMult",
    "MemoizeOperator",
    "Pad",
    "Real",
    "Regression",
    "Restriction",
    "Roll",
    "SecondDerivative",
    "SecondDirectionalDerivative",
    "Smoothing1D",
    "Smoothing2D",
    "SmoothingND",
    "Sum",
    "Symmetrize",
    "Transpose",
    "VStack",
    "Zero",
    "Bilinear",
    "Convolve1D",
    "Convolve2D",
    "ConvolveND",
    "DCT",
    "FFT",
    "FFT2D",
    "FFTND",
    "Fredholm1",
    "Interp",
    "InterpCubicSpline",
    "NonStationaryConvolve1D",
    "NonStationaryConvolve2D",
    "NonStationaryConvolve3D",
    "NonStationaryFilters1D",
    "NonStationaryFilters2D",
    "Patch2D",
    "Patch3D",
    "Shift",
    "Sliding1D",
    "Sliding2D",
    "Sliding3D",
]
