"""Solvers on torch tensors (PyLops ``pylops.optimization`` names)."""

from torchlops.optimization._progress import ProgressCallback
from torchlops.optimization.basesolver import Solver
from torchlops.optimization.basic import CGLSResult, CGResult, LSQRResult, cg, cgls, lsqr
from torchlops.optimization.callback import (
    Callbacks,
    CostNanInfCallback,
    CostToDataCallback,
    CostToInitialCallback,
    MetricsCallback,
)
from torchlops.optimization.cls_basic import CG, CGLS, LSQR
from torchlops.optimization.cls_leastsquares import (
    NormalEquationsInversion,
    PreconditionedInversion,
    RegularizedInversion,
)
from torchlops.optimization.cls_sparsity import FISTA, IRLS, ISTA, OMP, SplitBregman
from torchlops.optimization.eigs import PowerIterationResult, power_iteration
from torchlops.optimization.leastsquares import (
    NormalEquationsInversionResult,
    PreconditionedInversionResult,
    RegularizedInversionResult,
    RegularizedOperator,
    normal_equations_inversion,
    preconditioned_inversion,
    regularized_inversion,
)
from torchlops.optimization.sparsity import (
    IRLSResult,
    ISTAResult,
    OMPResult,
    SplitBregmanResult,
    fista,
    irls,
    ista,
    omp,
    splitbregman,
)

__all__ = [
    "Solver",
    "Callbacks",
    "MetricsCallback",
    "CostToInitialCallback",
    "CostToDataCallback",
    "CostNanInfCallback",
    "ProgressCallback",
    "CG",
    "CGLS",
    "LSQR",
    "ISTA",
    "FISTA",
    "IRLS",
    "OMP",
    "SplitBregman",
    "NormalEquationsInversion",
    "RegularizedInversion",
    "PreconditionedInversion",
    "cg",
    "cgls",
    "lsqr",
    "CGResult",
    "CGLSResult",
    "LSQRResult",
    "RegularizedOperator",
    "normal_equations_inversion",
    "regularized_inversion",
    "preconditioned_inversion",
    "ista",
    "fista",
    "irls",
    "omp",
    "splitbregman",
    "ISTAResult",
    "IRLSResult",
    "OMPResult",
    "SplitBregmanResult",
    "power_iteration",
    "PowerIterationResult",
    "NormalEquationsInversionResult",
    "RegularizedInversionResult",
    "PreconditionedInversionResult",
]
