"""Basic operators: structural building blocks (PyLops ``pylops.basicoperators`` names)."""

from torchlops.basicoperators.block import Block
from torchlops.basicoperators.blockdiag import BlockDiag
from torchlops.basicoperators.causalintegration import CausalIntegration
from torchlops.basicoperators.conj import Conj
from torchlops.basicoperators.diagonal import Diagonal
from torchlops.basicoperators.directionalderivative import FirstDirectionalDerivative, SecondDirectionalDerivative
from torchlops.basicoperators.firstderivative import FirstDerivative
from torchlops.basicoperators.flip import Flip
from torchlops.basicoperators.functionoperator import FunctionOperator
from torchlops.basicoperators.gradient import Gradient
from torchlops.basicoperators.hstack import HStack
from torchlops.basicoperators.identity import Identity
from torchlops.basicoperators.imag import Imag
from torchlops.basicoperators.kronecker import Kronecker
from torchlops.basicoperators.laplacian import Laplacian
from torchlops.basicoperators.linearregression import LinearRegression
from torchlops.basicoperators.matrixmult import MatrixMult
from torchlops.basicoperators.memoizeoperator import MemoizeOperator
from torchlops.basicoperators.pad import Pad
from torchlops.basicoperators.real import Real
from torchlops.basicoperators.regression import Regression
from torchlops.basicoperators.restriction import Restriction
from torchlops.basicoperators.roll import Roll
from torchlops.basicoperators.secondderivative import SecondDerivative
from torchlops.basicoperators.smoothing1d import Smoothing1D
from torchlops.basicoperators.smoothing2d import Smoothing2D
from torchlops.basicoperators.smoothingnd import SmoothingND
from torchlops.basicoperators.sum import Sum
from torchlops.basicoperators.symmetrize import Symmetrize
from torchlops.basicoperators.transpose import Transpose
from torchlops.basicoperators.vstack import VStack
from torchlops.basicoperators.zero import Zero

__all__ = [
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
]
