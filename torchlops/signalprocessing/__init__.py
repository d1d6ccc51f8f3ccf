"""Signal-processing operators (PyLops ``pylops.signalprocessing`` names)."""

from torchlops.signalprocessing.bilinear import Bilinear
from torchlops.signalprocessing.convolve1d import Convolve1D
from torchlops.signalprocessing.convolve2d import Convolve2D
from torchlops.signalprocessing.convolvend import DIRECT_FFT_CROSSOVER, ConvolveND
from torchlops.signalprocessing.dct import DCT
from torchlops.signalprocessing.fft import FFT
from torchlops.signalprocessing.fft2d import FFT2D
from torchlops.signalprocessing.fftnd import FFTND
from torchlops.signalprocessing.fredholm1 import Fredholm1
from torchlops.signalprocessing.interp import Interp, InterpLinear, InterpMatrix
from torchlops.signalprocessing.interpspline import InterpCubicSpline
from torchlops.signalprocessing.nonstatconvolve1d import NonStationaryConvolve1D
from torchlops.signalprocessing.nonstatconvolve2d import NonStationaryConvolve2D
from torchlops.signalprocessing.nonstatconvolve3d import NonStationaryConvolve3D
from torchlops.signalprocessing.nonstatfilters1d import NonStationaryFilters1D
from torchlops.signalprocessing.nonstatfilters2d import NonStationaryFilters2D
from torchlops.signalprocessing.patch2d import Patch2D, patch2d_design
from torchlops.signalprocessing.patch3d import Patch3D, patch3d_design
from torchlops.signalprocessing.shift import Shift
from torchlops.signalprocessing.sliding1d import Sliding1D, sliding1d_design
from torchlops.signalprocessing.sliding2d import Sliding2D, sliding2d_design
from torchlops.signalprocessing.sliding3d import Sliding3D, sliding3d_design

__all__ = [
    "Bilinear",
    "Convolve1D",
    "Convolve2D",
    "ConvolveND",
    "DCT",
    "DIRECT_FFT_CROSSOVER",
    "FFT",
    "FFT2D",
    "FFTND",
    "Fredholm1",
    "Interp",
    "InterpCubicSpline",
    "InterpLinear",
    "InterpMatrix",
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
    "patch2d_design",
    "patch3d_design",
    "sliding1d_design",
    "sliding2d_design",
    "sliding3d_design",
]
