"""Basic operators: structural building blocks (PyLops ``pylops.basicoperators`` names)."""

from torchlops.basicoperators.block import Block
from torchlops.basicoperators.blockdiag import BlockDiag
from torchlops.basicoperators.causalintegration import CausalIntegration
from torchlops.basicoperators.conj import Conj
from torchlops.basicoperators.diagonal import Diagonal
from torchlops.basicoperators.flip import Flip
from torchlops.basicoperators.functionoperator import FunctionOperator
from torchlops.basicoperators.hstack import HStack
from torchlops.basicoperators.identity import Identity
from torchlops.basicoperators.imag import Imag
from torchlops.basicoperators.kronecker import Kronecker
from torchlops.basicoperators.linearregression import LinearRegression
from torchlops.basicoperators.matrixmult import MatrixMult
from torchlops.basicoperators.memoizeoperator import MemoizeOperator
from torchlops.basicoperators.pad import Pad
from torchlops.basicoperators.real import Real
from torchlops.basicoperators.regression import Regression
from torchlops.basicoperators.restriction import Restriction
from torchlops.basicoperators.roll import Roll
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
    "Flip",
    "FunctionOperator",
    "HStack",
    "Identity",
    "Imag",
    "Kronecker",
    "LinearRegression",
    "MatrixMult",
    "MemoizeOperator",
    "Pad",
    "Real",
    "Regression",
    "Restriction",
    "Roll",
    "Sum",
    "Symmetrize",
    "Transpose",
    "VStack",
    "Zero",
]
